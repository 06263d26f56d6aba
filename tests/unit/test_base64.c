/*
 * test_base64.c — util/base64: RFC 4648's vectors both ways, what the
 * decoder accepts and refuses, and the size bound of the int-counting
 * OpenSSL coder.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "util/base64.h"
#include "util/error.h"

/* RFC 4648 section 10, both ways. */
static void test_vectors(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const coded[] = { "",	 "Zg==",     "Zm8=",	"Zm9v",
					     "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	unsigned char *dec = NULL;
	char *enc = NULL;
	size_t i, len = 0;

	(void)state;
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		assert_int_equal(ss_base64_encode(&enc, (const unsigned char *)plain[i],
						  strlen(plain[i])),
				 0);
		assert_string_equal(enc, coded[i]);
		free(enc);
		assert_int_equal(ss_base64_decode(&dec, &len, coded[i], "v"), 0);
		assert_int_equal(len, strlen(plain[i]));
		assert_memory_equal(dec, plain[i], len);
		assert_int_equal(dec[len], '\0');
		free(dec);
	}
}

static void test_decode_accepts_and_refuses(void **state)
{
	static const char *const bad[] = { "Zg=", "Zg===", "Z===", "Zg=a", "Z",
					   "Zm9v!", "====", "Zm9vYg==Zg==", "Zm-_" };
	unsigned char *dec = NULL;
	size_t i, len = 0;

	(void)state;
	assert_int_equal(ss_base64_decode(&dec, &len, " Zm9v\r\nYmFy\t", "v"), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(dec, "foobar", 6);
	free(dec);
	/* nonzero padding bits, as Go's decoder allows */
	assert_int_equal(ss_base64_decode(&dec, &len, "QR==", "v"), 0);
	assert_int_equal(len, 1);
	assert_int_equal(dec[0], 'A');
	free(dec);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dec = NULL;
		if (ss_base64_decode(&dec, &len, bad[i], "the value") != SS_EINVALID)
			fail_msg("\"%s\" decoded", bad[i]);
		assert_null(dec);
		/* the message names the field, never the (maybe secret) text */
		assert_null(strstr(ss_error_last()->message, bad[i]));
		tu_assert_error(SS_EINVALID, "the value is not valid base64");
	}
}

/* OpenSSL's EVP_EncodeBlock takes an int count: 2^31 bytes wrapped to a
 * negative one. Refused before anything is read or allocated (the buffer
 * passed here is 1 byte). */
static void test_encode_bound(void **state)
{
	unsigned char one = 'x';
	char *enc = NULL;

	(void)state;
	assert_int_equal(ss_base64_encode(&enc, &one, (size_t)INT_MAX + 1), SS_ETOOLARGE);
	assert_null(enc);
	tu_assert_error(SS_ETOOLARGE, "cannot base64-encode more than");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_decode_accepts_and_refuses),
		cmocka_unit_test(test_encode_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
