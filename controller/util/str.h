/*
 * str.h — small string helpers used in place of the banned libc functions.
 *
 * Every function that allocates records SS_ENOMEM on failure. Parsers are
 * strict: the whole input must be a number, with no sign or space surprises,
 * which is what atoi() and friends cannot promise.
 *
 * Thread-safety: all functions are reentrant.
 */
#ifndef SNAPSTAGE_UTIL_STR_H
#define SNAPSTAGE_UTIL_STR_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* strdup() that records SS_ENOMEM; NULL in gives NULL out without error.
 * The caller frees the result. */
char *ss_strdup(const char *s);
char *ss_strndup(const char *s, size_t n);

/* Copies at most cap-1 bytes and always terminates (cap > 0). Returns the
 * length of `src`, so `>= cap` means it was cut. */
size_t ss_strlcpy(char *dst, const char *src, size_t cap);

bool ss_streq(const char *a, const char *b); /* NULL-safe */
bool ss_str_has_prefix(const char *s, const char *prefix);
bool ss_str_has_suffix(const char *s, const char *suffix);

/* Parses a whole base-10 integer in [min, max]: 0, or SS_EINVALID with a
 * message naming `what`. */
int ss_parse_int64(int64_t *out, const char *s, int64_t min, int64_t max,
		   const char *what);

/* Frees *p and sets it to NULL. Secrets use ss_free_secret() instead. */
void ss_free_str(char **p);

/* Overwrites len bytes at p (a secret on the stack) in a way the compiler
 * keeps. NULL is a no-op. */
void ss_wipe(void *p, size_t len);

/* Overwrites then frees a secret (token, private key) so it does not linger
 * in freed memory; `len` is the allocation's content length. */
void ss_free_secret(void *p, size_t len);

/* Appends `item` to the ", "-separated list in `buf` (`cap` > 0 bytes,
 * `*len` of them in use, always terminated), for messages such as
 * "data, binlog". When it does not fit, the list ends in "..." instead and
 * false is returned: the caller adds no more. */
bool ss_list_append(char *buf, size_t cap, size_t *len, const char *item);

/* Replaces, in place, each byte of `s` that is not part of a well-formed
 * UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF; a sequence cut short counts as not well-formed) with '?', and
 * returns how many were replaced. JSON takes only UTF-8 (jansson's
 * json_string() refuses anything else), so a server's text or value that
 * is binary, or was cut mid-character to fit a buffer, is made so before
 * it goes into a status. NULL is a no-op. */
size_t ss_utf8_scrub(char *s);

#endif
