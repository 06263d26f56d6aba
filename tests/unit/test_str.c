/*
 * test_str.c — util/str.h's bounded helpers: ss_strlcpy's length contract
 * and ss_list_append, which builds ", "-separated lists for messages and
 * must never overrun its buffer nor leave half an item behind.
 */
#include <string.h>

#include "testutil.h"

#include "util/str.h"

static void test_strlcpy_reports_the_source_length(void **state)
{
	char buf[4];

	(void)state;
	assert_int_equal(ss_strlcpy(buf, "abc", sizeof(buf)), 3);
	assert_string_equal(buf, "abc");
	assert_int_equal(ss_strlcpy(buf, "abcdef", sizeof(buf)), 6);
	assert_string_equal(buf, "abc");
}

static void test_list_append_joins_with_commas(void **state)
{
	char buf[32];
	size_t len = 0;

	(void)state;
	buf[0] = '\0';
	assert_true(ss_list_append(buf, sizeof(buf), &len, "data"));
	assert_string_equal(buf, "data");
	assert_true(ss_list_append(buf, sizeof(buf), &len, "binlog"));
	assert_string_equal(buf, "data, binlog");
	assert_int_equal(len, strlen("data, binlog"));
}

static void test_list_append_ends_in_dots_when_full(void **state)
{
	char buf[16];
	size_t len = 0;

	(void)state;
	buf[0] = '\0';
	assert_true(ss_list_append(buf, sizeof(buf), &len, "data"));
	/* "data, binlog-old" needs 17 bytes: the item is left out whole. */
	assert_false(ss_list_append(buf, sizeof(buf), &len, "binlog-old"));
	assert_string_equal(buf, "data, ...");
	assert_int_equal(len, strlen("data"));

	/* The first item alone too long: just the dots. */
	len = 0;
	buf[0] = '\0';
	assert_false(ss_list_append(buf, sizeof(buf), &len, "a-very-long-volume-name"));
	assert_string_equal(buf, "...");

	/* Exactly filling the buffer (15 characters and the terminator) fits. */
	len = 0;
	assert_true(ss_list_append(buf, sizeof(buf), &len, "fifteen-chars-x"));
	assert_string_equal(buf, "fifteen-chars-x");
	assert_false(ss_list_append(buf, sizeof(buf), &len, "y"));
	assert_true(strlen(buf) < sizeof(buf));
}

static void test_utf8_scrub(void **state)
{
	/* "Müller" cut after the first byte of "ü", as a 64-byte cut leaves it */
	char cut[] = "M\xc3";
	char good[] = "Gr\xc3\xb6\xc3\x9f"
		      "e \xe2\x82\xac \xf0\x9f\x98\x80";
	/* binary: a lone continuation byte, an overlong '/', a surrogate, a
	 * code point past U+10FFFF, a byte no sequence starts with */
	char bad[] = "a\x80"
		     "b\xc0\xaf"
		     "c\xed\xa0\x80"
		     "d\xf4\x90\x80\x80"
		     "e\xff";

	(void)state;
	assert_int_equal(ss_utf8_scrub(cut), 1);
	assert_string_equal(cut, "M?");
	assert_int_equal(ss_utf8_scrub(good), 0);
	assert_string_equal(good, "Gr\xc3\xb6\xc3\x9f"
				  "e \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_int_equal(ss_utf8_scrub(bad), 11);
	assert_string_equal(bad, "a?b??c???d????e?");
	assert_int_equal(ss_utf8_scrub(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strlcpy_reports_the_source_length),
		cmocka_unit_test(test_list_append_joins_with_commas),
		cmocka_unit_test(test_list_append_ends_in_dots_when_full),
		cmocka_unit_test(test_utf8_scrub),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
