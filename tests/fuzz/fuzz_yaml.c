/*
 * fuzz_yaml.c — libFuzzer target for util/yaml.h, the YAML reader of
 * kubeconfigs.
 *
 * The input is YAML text. Beyond "no crash" (ASan and UBSan abort on any
 * fault) it checks what must always hold:
 *   - a failure is SS_EINVALID or SS_ETOOLARGE with a message naming the
 *     origin (never "out of memory" from a small input);
 *   - bounded output: the keys and strings produced hold at most the
 *     input's length + SS_YAML_MAX_EXTRA_BYTES bytes, there are at most
 *     SS_YAML_MAX_VALUES values, nested at most SS_YAML_MAX_DEPTH
 *     containers deep, and no key is a merge key left unmerged unless the
 *     input quoted it;
 *   - round trip: what converted, written out as JSON (which is YAML),
 *     converts again to the same value (a float compared by its value:
 *     JSON's shortest form of a double may need no '.', which YAML reads
 *     as text).
 *
 * Thread-safety: none needed; libFuzzer calls in one thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/error.h"
#include "util/yaml.h"

#define CHECK(cond)                                                             \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "fuzz_yaml: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                     \
			abort();                                                \
		}                                                               \
	} while (0)

typedef struct {
	size_t bytes, values;
	int depth;
} tally;

static void measure(const json_t *v, tally *t, int depth)
{
	const char *k;
	json_t *child;
	size_t i;

	t->values++;
	if (json_is_string(v))
		t->bytes += json_string_length(v);
	if (!json_is_object(v) && !json_is_array(v))
		return;
	if (depth + 1 > t->depth)
		t->depth = depth + 1;
	json_object_foreach ((json_t *)v, k, child) {
		t->bytes += strlen(k);
		measure(child, t, depth + 1);
	}
	json_array_foreach (v, i, child)
		measure(child, t, depth + 1);
}

/* json_equal, except that a float written without '.' may come back as
 * the text of the same value. */
static int same(const json_t *a, const json_t *b)
{
	const char *k;
	json_t *child;
	size_t i;

	if (json_is_real(a) && json_is_string(b))
		return strtod(json_string_value(b), NULL) == json_real_value(a);
	if (json_is_object(a) && json_is_object(b)) {
		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach ((json_t *)a, k, child)
			if (!same(child, json_object_get(b, k)))
				return 0;
		return 1;
	}
	if (json_is_array(a) && json_is_array(b)) {
		if (json_array_size(a) != json_array_size(b))
			return 0;
		json_array_foreach (a, i, child)
			if (!same(child, json_array_get(b, i)))
				return 0;
		return 1;
	}
	return json_equal(a, b);
}

static int has(const uint8_t *data, size_t size, const char *what)
{
	size_t n = strlen(what), i;

	for (i = 0; i + n <= size; i++)
		if (!memcmp(data + i, what, n))
			return 1;
	return 0;
}

/* "<<" or '<<', or an escape that could spell it */
static int quoted_merge_key(const uint8_t *data, size_t size)
{
	return has(data, size, "\"<<\"") || has(data, size, "'<<'") ||
	       has(data, size, "\\");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *v = NULL, *again = NULL;
	tally t = { 0 };
	char *text;
	int rc = ss_yaml_to_json(&v, (const char *)data, size, "fuzz");

	if (rc != 0) {
		const ss_error *e = ss_error_last();

		CHECK(rc == SS_EINVALID || rc == SS_ETOOLARGE);
		CHECK(e->code == rc);
		CHECK(strncmp(e->message, "fuzz", 4) == 0);
		CHECK(v == NULL);
		return 0;
	}
	CHECK(v != NULL);
	measure(v, &t, 0);
	CHECK(t.bytes <= size + SS_YAML_MAX_EXTRA_BYTES);
	CHECK(t.values <= SS_YAML_MAX_VALUES);
	CHECK(t.depth <= SS_YAML_MAX_DEPTH);
	if (json_is_object(v) && json_object_get(v, "<<"))
		CHECK(quoted_merge_key(data, size));

	text = json_dumps(v, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
	CHECK(text != NULL);
	rc = ss_yaml_to_json(&again, text, strlen(text), "again");
	if (rc != 0)
		fprintf(stderr, "fuzz_yaml: %s\nfrom: %.300s\n", ss_error_last()->message,
			text);
	CHECK(rc == 0);
	CHECK(same(v, again));
	free(text);
	json_decref(again);
	json_decref(v);
	return 0;
}
