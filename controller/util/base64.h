/*
 * base64.h — standard base64 (RFC 4648, with padding), as used by kubeconfig
 * `*-data` fields and Secret values.
 *
 * Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_UTIL_BASE64_H
#define SNAPSTAGE_UTIL_BASE64_H

#include <stddef.h>

/* Decodes `in` (whitespace and newlines are ignored). On success *out is a
 * NUL-terminated allocation the caller frees and *out_len its length.
 * SS_EINVALID names `what` when the text is not base64. */
int ss_base64_decode(unsigned char **out, size_t *out_len, const char *in,
		     const char *what);

/* Encodes `len` bytes; the caller frees the NUL-terminated result. */
int ss_base64_encode(char **out, const unsigned char *in, size_t len);

#endif
