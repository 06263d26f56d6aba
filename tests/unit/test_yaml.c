/*
 * test_yaml.c — util/yaml.h: YAML to JSON with the bounds and the merge-key
 * and duplicate-key rules kubeconfigs need. Each case here was found by
 * fuzzing (issue 16): an alias of one large scalar copied per use, merge
 * keys kept as a literal "<<" key, duplicate keys silently last-wins, and
 * later documents dropped without a word.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "util/buf.h"
#include "util/error.h"
#include "util/yaml.h"

static json_t *load_ok(const char *text)
{
	json_t *v = NULL;

	assert_int_equal(ss_yaml_to_json(&v, text, strlen(text), "t"), 0);
	assert_non_null(v);
	return v;
}

static void load_fails(const char *text, size_t len, int code, const char *fragment)
{
	json_t *v = NULL;

	assert_int_equal(ss_yaml_to_json(&v, text, len, "t"), code);
	assert_null(v);
	tu_assert_error(code, fragment);
}

static void assert_json(const json_t *got, const char *want_text)
{
	json_t *want = tu_json(want_text);
	char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);

	print_message("got %s\n", g);
	assert_true(json_equal(got, want));
	free(g);
	json_decref(want);
}

static void test_scalars(void **state)
{
	json_t *v;

	(void)state;
	v = load_ok("a: 1\nb: true\nc: ~\nd: '1'\ne: 1.5\nf: x y\n");
	assert_json(v, "{\"a\":1,\"b\":true,\"c\":null,\"d\":\"1\",\"e\":1.5,"
		       "\"f\":\"x y\"}");
	json_decref(v);
	/* infinite as a float: JSON cannot say it, so it stays text (it was
	 * reported as "out of memory"; found by fuzzing) */
	v = load_ok("a: 1.0e999\nb: -.5e-999\n");
	assert_json(v, "{\"a\":\"1.0e999\",\"b\":-0.0}");
	json_decref(v);
}

/* A 300 KB scalar used 20 times would be 6 MB of text from 300 KB of
 * input; within the value count, so only a bound on bytes stops it (the
 * issue's kubeconfig grew past 2 GB this way). */
static void test_alias_bytes_bounded(void **state)
{
	size_t big = 300 * 1024, i;
	ss_buf b = SS_BUF_INIT(4u << 20);
	json_t *v;

	(void)state;
	assert_int_equal(ss_buf_puts(&b, "big: &x \""), 0);
	for (i = 0; i < big; i++)
		assert_int_equal(ss_buf_putc(&b, 'a'), 0);
	assert_int_equal(ss_buf_puts(&b, "\"\nuses: [*x"), 0);
	for (i = 1; i < 20; i++)
		assert_int_equal(ss_buf_puts(&b, ", *x"), 0);
	assert_int_equal(ss_buf_puts(&b, "]\n"), 0);
	load_fails(b.ptr, b.len, SS_ETOOLARGE, "bytes of text after aliases");
	/* A few uses stay well inside the bound. */
	b.len = strstr(b.ptr, "uses:") - b.ptr;
	assert_int_equal(ss_buf_puts(&b, "uses: [*x, *x]\n"), 0);
	v = NULL;
	assert_int_equal(ss_yaml_to_json(&v, b.ptr, b.len, "t"), 0);
	assert_int_equal(json_string_length(json_array_get(json_object_get(v, "uses"), 1)),
			 big);
	json_decref(v);
	ss_buf_free(&b);
}

/* The classic billion laughs is stopped by the value count. */
static void test_alias_values_bounded(void **state)
{
	(void)state;
	load_fails("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
		   strlen("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
			  "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
			  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
			  "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
			  "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"),
		   SS_ETOOLARGE, "more than 100000 values");
}

/* `<<: *x` merges as kubectl does; before, "<<" was kept as a key and the
 * CA it carried was silently lost. */
static void test_merge_keys(void **state)
{
	json_t *v;

	(void)state;
	v = load_ok("base: &b {ca: CA, server: s1}\n"
		    "c1: {<<: *b, server: s2}\n"
		    "c2: {server: s3, <<: *b}\n");
	assert_json(json_object_get(v, "c1"), "{\"ca\":\"CA\",\"server\":\"s2\"}");
	/* the mapping's own key wins wherever << stands */
	assert_json(json_object_get(v, "c2"), "{\"ca\":\"CA\",\"server\":\"s3\"}");
	json_decref(v);
	/* a list: earlier mappings win over later ones */
	v = load_ok("x: &x {a: 1, b: 1}\ny: &y {b: 2, c: 2}\nz: {<<: [*x, *y], c: 3}\n");
	assert_json(json_object_get(v, "z"), "{\"a\":1,\"b\":1,\"c\":3}");
	json_decref(v);
	/* quoted, it is an ordinary key */
	v = load_ok("'<<': {a: 1}\n");
	assert_json(v, "{\"<<\":{\"a\":1}}");
	json_decref(v);
	load_fails("x: {<<: 1}\n", 11, SS_EINVALID, "a merge key (<<) takes a mapping");
	load_fails("x: {<<: [{a: 1}, 2]}\n", 21, SS_EINVALID,
		   "a merge key (<<) takes a mapping");
	load_fails("x: &x {a: 1}\ny: {<<: *x, <<: *x}\n", 33, SS_EINVALID,
		   "duplicate key '<<'");
}

/* Which of two values was meant cannot be known: refused, not last-wins. */
static void test_duplicate_keys(void **state)
{
	(void)state;
	load_fails("a: 1\nb: 2\na: 3\n", 15, SS_EINVALID, "t: line 3: duplicate key 'a'");
	load_fails("users:\n- user: {token: a, \"token\": b}\n", 38, SS_EINVALID,
		   "duplicate key 'token'");
	load_fails("\"a\\0b\": 1\n", 10, SS_EINVALID, "a key holds a NUL byte");
}

static void test_documents(void **state)
{
	json_t *v;

	(void)state;
	load_fails("a: 1\n---\nb: 2\n", 14, SS_EINVALID,
		   "t: line 3: a second YAML document; only one is read");
	v = load_ok("---\na: 1\n---\n");
	assert_json(v, "{\"a\":1}");
	json_decref(v);
	v = load_ok("");
	assert_true(json_is_null(v));
	json_decref(v);
}

static void test_depth_bounded(void **state)
{
	size_t n = 1u << 20;
	char *deep = malloc(n);
	json_t *v;

	(void)state;
	assert_non_null(deep);
	memset(deep, '[', n);
	load_fails(deep, n, SS_ETOOLARGE, "t: line 1: nesting deeper than 64 levels");
	free(deep);
	/* a cycle through an alias is bounded the same way */
	load_fails("a: &a [*a]\n", 11, SS_ETOOLARGE, "nesting deeper than 64 levels");
	v = load_ok("[[[[[[[[[[1]]]]]]]]]]");
	json_decref(v);
}

/* What converts must convert again once written out as JSON (found by
 * fuzzing): the bound counts container levels the same way before and
 * after aliases are expanded, 64 in all. */
static void test_depth_same_after_aliases(void **state)
{
	char text[512];
	size_t n = 0;
	int i;
	json_t *v;

	(void)state;
	/* the root mapping and 63 lists: 64 levels */
	n += (size_t)snprintf(text + n, sizeof(text) - n, "a: &x ");
	for (i = 0; i < 63; i++)
		text[n++] = '[';
	for (i = 0; i < 63; i++)
		text[n++] = ']';
	text[n] = '\0';
	v = load_ok(text);
	json_decref(v);
	/* one more list around the alias: 65 levels */
	snprintf(text + n, sizeof(text) - n, "\nb: [*x]\n");
	load_fails(text, strlen(text), SS_ETOOLARGE, "nesting deeper than 64 levels");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_alias_bytes_bounded),
		cmocka_unit_test(test_alias_values_bounded),
		cmocka_unit_test(test_merge_keys),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_documents),
		cmocka_unit_test(test_depth_bounded),
		cmocka_unit_test(test_depth_same_after_aliases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
