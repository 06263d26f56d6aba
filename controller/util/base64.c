/*
 * base64.c — base64 on top of OpenSSL's EVP block coder. See base64.h.
 *
 * EVP_DecodeBlock does not understand padding or whitespace, so the input is
 * first stripped of whitespace, checked for length and alphabet, and the
 * padding bytes subtracted from the decoded length.
 *
 * What it decodes may be a secret (a Secret's value): the cleaned copy of
 * the input, and a decoded buffer not handed out, are wiped before they are
 * freed.
 */
#include "util/base64.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "util/error.h"
#include "util/str.h"

static int is_b64(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int ss_base64_decode(unsigned char **out, size_t *out_len, const char *in,
		     const char *what)
{
	size_t n = strlen(in), clean_len = 0, pad = 0, dec_cap = 0, i;
	char *clean;
	unsigned char *dec = NULL;
	int dec_len;
	int error = SS_EINVALID;

	/* EVP_DecodeBlock counts in int */
	if (n > SS_BASE64_TEXT_MAX)
		return ss_error_set(SS_ETOOLARGE, "%s is longer than %d bytes of base64",
				    what, SS_BASE64_TEXT_MAX);
	clean = malloc(n + 1);
	if (!clean)
		return ss_error_set(SS_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
		} else if (!is_b64(c) || pad > 0) {
			ss_error_set(SS_EINVALID, "%s is not valid base64", what);
			goto done;
		}
		clean[clean_len++] = (char)c;
	}
	clean[clean_len] = '\0';
	if (clean_len % 4 != 0 || pad > 2) {
		ss_error_set(SS_EINVALID,
			     "%s is not valid base64 (bad length or padding)", what);
		goto done;
	}
	dec_cap = clean_len / 4 * 3 + 1;
	dec = malloc(dec_cap);
	if (!dec) {
		error = ss_error_set(SS_ENOMEM, "out of memory");
		goto done;
	}
	dec_len = EVP_DecodeBlock(dec, (const unsigned char *)clean, (int)clean_len);
	if (dec_len < 0) {
		ss_error_set(SS_EINVALID, "%s is not valid base64", what);
		goto done;
	}
	dec_len -= (int)pad;
	dec[dec_len] = '\0';
	*out = dec;
	*out_len = (size_t)dec_len;
	dec = NULL;
	error = 0;
done:
	ss_free_secret(clean, n + 1);
	ss_free_secret(dec, dec_cap);
	return error;
}

int ss_base64_encode(char **out, const unsigned char *in, size_t len)
{
	size_t cap = 4 * ((len + 2) / 3) + 1;
	char *enc;

	/* EVP_EncodeBlock counts in int: more would wrap to a negative count */
	if (len > SS_BASE64_DATA_MAX)
		return ss_error_set(SS_ETOOLARGE, "cannot base64-encode more than %d bytes",
				    SS_BASE64_DATA_MAX);
	enc = malloc(cap);
	if (!enc)
		return ss_error_set(SS_ENOMEM, "out of memory");
	EVP_EncodeBlock((unsigned char *)enc, in, (int)len);
	*out = enc;
	return 0;
}
