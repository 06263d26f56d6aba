/*
 * base64.h — standard base64 (RFC 4648, with padding), as used by kubeconfig
 * `*-data` fields and Secret values.
 *
 * Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_UTIL_BASE64_H
#define SNAPSTAGE_UTIL_BASE64_H

#include <limits.h>
#include <stddef.h>

/* The longest text decoded and the most bytes encoded: OpenSSL's block
 * coder counts in int. (A Secret holds at most 1 MiB.) */
#define SS_BASE64_TEXT_MAX (INT_MAX / 4 * 3)
#define SS_BASE64_DATA_MAX (INT_MAX / 4 * 3)

/* Decodes `in` (whitespace and newlines are ignored). On success *out is a
 * NUL-terminated allocation the caller frees and *out_len its length.
 * SS_EINVALID names `what` when the text is not base64, SS_ETOOLARGE when
 * it is longer than SS_BASE64_TEXT_MAX; the message never quotes the text
 * (it may be a secret). Padding bits need not be zero ("QR==" is "A"), as
 * with Go's decoder, which wrote what Kubernetes stores. */
int ss_base64_decode(unsigned char **out, size_t *out_len, const char *in,
		     const char *what);

/* Encodes `len` bytes (at most SS_BASE64_DATA_MAX, else SS_ETOOLARGE);
 * the caller frees the NUL-terminated result. */
int ss_base64_encode(char **out, const unsigned char *in, size_t len);

#endif
