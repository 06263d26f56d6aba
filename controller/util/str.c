/*
 * str.c — string helpers. See str.h.
 */
#include "util/str.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util/error.h"

char *ss_strdup(const char *s)
{
	return s ? ss_strndup(s, strlen(s)) : NULL;
}

char *ss_strndup(const char *s, size_t n)
{
	char *out;

	if (!s)
		return NULL;
	out = malloc(n + 1);
	if (!out) {
		ss_error_set(SS_ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return out;
}

size_t ss_strlcpy(char *dst, const char *src, size_t cap)
{
	size_t len = strlen(src);
	size_t n = len < cap ? len : cap - 1;

	memcpy(dst, src, n);
	dst[n] = '\0';
	return len;
}

bool ss_streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

bool ss_str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool ss_str_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int ss_parse_int64(int64_t *out, const char *s, int64_t min, int64_t max,
		   const char *what)
{
	char *end = NULL;
	long long v;

	if (!s || *s == '\0' || (*s != '-' && (*s < '0' || *s > '9')))
		return ss_error_set(SS_EINVALID, "%s: '%s' is not a number", what,
				    s ? s : "");
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE || *end != '\0')
		return ss_error_set(SS_EINVALID, "%s: '%s' is not a number", what, s);
	if (v < min || v > max)
		return ss_error_set(SS_EINVALID, "%s: %lld is out of range [%lld, %lld]",
				    what, v, (long long)min, (long long)max);
	*out = v;
	return 0;
}

void ss_free_str(char **p)
{
	free(*p);
	*p = NULL;
}

bool ss_list_append(char *buf, size_t cap, size_t *len, const char *item)
{
	const char *sep = *len > 0 ? ", " : "";
	int n = snprintf(buf + *len, cap - *len, "%s%s", sep, item);

	if (n < 0 || (size_t)n >= cap - *len) {
		buf[*len] = '\0';
		snprintf(buf + *len, cap - *len, "%s...", sep);
		return false;
	}
	*len += (size_t)n;
	return true;
}

/* The length of the well-formed UTF-8 sequence at s, or 0. The second
 * byte's range rules out overlong forms, surrogates and code points past
 * U+10FFFF; a NUL ends a sequence early (it is below 0x80). */
static size_t utf8_sequence(const unsigned char *s)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

size_t ss_utf8_scrub(char *s)
{
	size_t i = 0, n, replaced = 0;

	if (!s)
		return 0;
	while (s[i] != '\0') {
		n = utf8_sequence((const unsigned char *)s + i);
		if (n == 0) {
			s[i++] = '?';
			replaced++;
		} else {
			i += n;
		}
	}
	return replaced;
}

void ss_wipe(void *p, size_t len)
{
	if (p)
		OPENSSL_cleanse(p, len);
}

void ss_free_secret(void *p, size_t len)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}
