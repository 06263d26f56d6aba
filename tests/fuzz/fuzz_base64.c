/*
 * fuzz_base64.c — libFuzzer target for util/base64.h.
 *
 * The input is decoded as text (NUL bytes end it early) and, as bytes,
 * encoded. Beyond "no crash, no undefined behaviour" (ASan and UBSan abort
 * on any fault) it checks what must always hold:
 *   - a refusal is SS_EINVALID, hands out nothing, and its message is one
 *     of the two fixed ones naming the field: never the text, which may be
 *     a secret;
 *   - decoded bytes are NUL-terminated, at most 3/4 of the text, and
 *     encode to the text without its whitespace, except maybe its last
 *     character before the padding (nonzero padding bits are accepted);
 *   - encode then decode gives the bytes back, also with a newline every
 *     76 characters (as `base64` writes); the encoding is exactly
 *     4 * ceil(n / 3) characters of the alphabet and '='.
 *
 * Thread-safety: none needed; libFuzzer calls in one thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/base64.h"
#include "util/error.h"

/* abort() with a reason: libFuzzer saves the input as a crash. */
#define CHECK(cond)                                                               \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "fuzz_base64: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                       \
			abort();                                                  \
		}                                                                 \
	} while (0)

static int is_space(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static void check_decode(const char *text, size_t n)
{
	unsigned char *dec = NULL;
	char *enc = NULL, *clean = malloc(n + 1);
	size_t len = 0, clean_len = 0, i, last;
	int rc = ss_base64_decode(&dec, &len, text, "the field");

	CHECK(clean != NULL);
	for (i = 0; i < n; i++)
		if (!is_space(text[i]))
			clean[clean_len++] = text[i];
	clean[clean_len] = '\0';
	if (rc != 0) {
		const char *m = ss_error_last()->message;

		CHECK(rc == SS_EINVALID && dec == NULL);
		CHECK(strcmp(m, "the field is not valid base64") == 0 ||
		      strcmp(m, "the field is not valid base64 (bad length or padding)") == 0);
		free(clean);
		return;
	}
	CHECK(dec != NULL && dec[len] == '\0');
	CHECK(clean_len % 4 == 0 && len == clean_len / 4 * 3 - (clean_len > 0 && clean[clean_len - 1] == '=') -
					       (clean_len > 1 && clean[clean_len - 2] == '='));
	CHECK(ss_base64_encode(&enc, dec, len) == 0);
	CHECK(strlen(enc) == clean_len);
	/* all equal but the last data character, whose padding bits may differ */
	last = clean_len > 0 ? clean_len - 1 : 0;
	while (last > 0 && clean[last] == '=')
		last--;
	for (i = 0; i < clean_len; i++)
		if (i != last)
			CHECK(enc[i] == clean[i]);
	free(enc);
	free(dec);
	free(clean);
}

static void check_encode(const uint8_t *data, size_t size)
{
	unsigned char *dec = NULL;
	char *enc = NULL, *wrapped;
	size_t len = 0, n, i, w = 0;

	CHECK(ss_base64_encode(&enc, data, size) == 0);
	n = strlen(enc);
	CHECK(n == 4 * ((size + 2) / 3));
	for (i = 0; i < n; i++)
		CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
			     enc[i]) != NULL);
	CHECK(ss_base64_decode(&dec, &len, enc, "the field") == 0);
	CHECK(len == size && (size == 0 || memcmp(dec, data, size) == 0));
	free(dec);
	wrapped = malloc(n + n / 76 + 1);
	CHECK(wrapped != NULL);
	for (i = 0; i < n; i++) {
		wrapped[w++] = enc[i];
		if (i % 76 == 75)
			wrapped[w++] = '\n';
	}
	wrapped[w] = '\0';
	CHECK(ss_base64_decode(&dec, &len, wrapped, "the field") == 0);
	CHECK(len == size && (size == 0 || memcmp(dec, data, size) == 0));
	free(dec);
	free(wrapped);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	size_t n;

	CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	n = strlen(text);
	check_decode(text, n);
	free(text);
	check_encode(data, size);
	return 0;
}
