/*
 * test_linesplit.c — the watch stream's line splitter (util/linesplit.h):
 * lines split across chunks at every possible boundary, CRLF, blank lines,
 * the hard bound, and stopping from the callback.
 */
#include <string.h>

#include "testutil.h"

#include "util/buf.h"
#include "util/error.h"
#include "util/linesplit.h"

typedef struct {
	ss_buf joined; /* lines joined with '|' */
	int lines;
	int stop_after; /* return 42 after this many lines; 0: never */
} collector;

static int collect(const char *line, size_t len, void *payload)
{
	collector *c = payload;

	if (c->joined.len)
		assert_int_equal(ss_buf_putc(&c->joined, '|'), 0);
	assert_int_equal(ss_buf_put(&c->joined, line, len), 0);
	c->lines++;
	return (c->stop_after && c->lines == c->stop_after) ? 42 : 0;
}

static const char stream[] = "{\"type\":\"ADDED\",\"object\":{\"a\":1}}\n"
			     "{\"type\":\"MODIFIED\",\"object\":{\"a\":2}}\r\n"
			     "\n"
			     "{\"type\":\"BOOKMARK\",\"object\":{}}\n";
static const char expected[] = "{\"type\":\"ADDED\",\"object\":{\"a\":1}}|"
			       "{\"type\":\"MODIFIED\",\"object\":{\"a\":2}}|"
			       "{\"type\":\"BOOKMARK\",\"object\":{}}";

static void test_every_split_point(void **state)
{
	size_t len = strlen(stream), cut1, cut2;

	(void)state;
	for (cut1 = 0; cut1 <= len; cut1++) {
		for (cut2 = cut1; cut2 <= len; cut2++) {
			ss_linesplit s;
			collector c = { SS_BUF_INIT(4096), 0, 0 };

			ss_linesplit_init(&s, 1024);
			assert_int_equal(ss_linesplit_feed(&s, stream, cut1, collect, &c),
					 0);
			assert_int_equal(ss_linesplit_feed(&s, stream + cut1, cut2 - cut1,
							   collect, &c),
					 0);
			assert_int_equal(ss_linesplit_feed(&s, stream + cut2, len - cut2,
							   collect, &c),
					 0);
			assert_string_equal(ss_buf_cstr(&c.joined), expected);
			assert_int_equal(c.lines, 3);
			assert_int_equal(ss_linesplit_pending(&s), 0);
			ss_linesplit_free(&s);
			ss_buf_free(&c.joined);
		}
	}
}

static void test_byte_at_a_time(void **state)
{
	ss_linesplit s;
	collector c = { SS_BUF_INIT(4096), 0, 0 };
	size_t i;

	(void)state;
	ss_linesplit_init(&s, 1024);
	for (i = 0; i < strlen(stream); i++)
		assert_int_equal(ss_linesplit_feed(&s, stream + i, 1, collect, &c), 0);
	assert_string_equal(ss_buf_cstr(&c.joined), expected);
	ss_linesplit_free(&s);
	ss_buf_free(&c.joined);
}

static void test_partial_line_is_pending(void **state)
{
	ss_linesplit s;
	collector c = { SS_BUF_INIT(4096), 0, 0 };

	(void)state;
	ss_linesplit_init(&s, 1024);
	assert_int_equal(ss_linesplit_feed(&s, "abc\ndef", 7, collect, &c), 0);
	assert_int_equal(c.lines, 1);
	assert_int_equal(ss_linesplit_pending(&s), 3);
	assert_int_equal(ss_linesplit_feed(&s, "g\n", 2, collect, &c), 0);
	assert_string_equal(ss_buf_cstr(&c.joined), "abc|defg");
	assert_int_equal(ss_linesplit_pending(&s), 0);
	ss_linesplit_free(&s);
	ss_buf_free(&c.joined);
}

static void test_oversized_line(void **state)
{
	char big[100];
	ss_linesplit s;
	collector c = { SS_BUF_INIT(4096), 0, 0 };

	(void)state;
	memset(big, 'x', sizeof(big));
	/* Exactly at the bound is fine. */
	ss_linesplit_init(&s, 10);
	assert_int_equal(ss_linesplit_feed(&s, "0123456789\n", 11, collect, &c), 0);
	/* Over the bound within one chunk. */
	assert_int_equal(ss_linesplit_feed(&s, big, 11, collect, &c), SS_ETOOLARGE);
	tu_assert_error(SS_ETOOLARGE, "longer than 10 bytes");
	ss_linesplit_free(&s);

	/* Over the bound only once assembled across chunks. */
	ss_linesplit_init(&s, 10);
	assert_int_equal(ss_linesplit_feed(&s, big, 6, collect, &c), 0);
	assert_int_equal(ss_linesplit_feed(&s, big, 6, collect, &c), SS_ETOOLARGE);
	assert_int_equal(ss_linesplit_pending(&s), 0); /* memory released */
	ss_linesplit_free(&s);
	assert_int_equal(c.lines, 1);
	ss_buf_free(&c.joined);
}

static void test_callback_stops(void **state)
{
	ss_linesplit s;
	collector c = { SS_BUF_INIT(4096), 0, 2 };

	(void)state;
	ss_linesplit_init(&s, 1024);
	assert_int_equal(ss_linesplit_feed(&s, "a\nb\nc\n", 6, collect, &c), 42);
	assert_int_equal(c.lines, 2);
	ss_linesplit_free(&s);
	ss_buf_free(&c.joined);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_split_point),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_partial_line_is_pending),
		cmocka_unit_test(test_oversized_line),
		cmocka_unit_test(test_callback_stops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
