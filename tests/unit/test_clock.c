/*
 * test_clock.c — the fake clock, and Kubernetes timestamps both ways.
 */
#include <string.h>

#include "testutil.h"

#include "util/clock.h"
#include "util/error.h"

static void test_fake_clock_moves_only_when_told(void **state)
{
	ss_fake_clock fc;
	int64_t m0, r0;

	(void)state;
	ss_fake_clock_init(&fc, 1700000000 * SS_NS_PER_SEC);
	m0 = ss_clock_mono(&fc.clock);
	r0 = ss_clock_real(&fc.clock);
	assert_int_equal(ss_clock_mono(&fc.clock), m0);
	ss_fake_clock_advance(&fc, 1500 * SS_NS_PER_MS);
	assert_int_equal(ss_clock_mono(&fc.clock) - m0, 1500 * SS_NS_PER_MS);
	assert_int_equal(ss_clock_real(&fc.clock) - r0, 1500 * SS_NS_PER_MS);
	assert_true(ss_clock_mono(ss_clock_system()) > 0);
}

static void test_format(void **state)
{
	char buf[SS_TIME_RFC3339_MAX];
	int64_t t = 1795425600 * SS_NS_PER_SEC + 123456789; /* 2026-11-23T09:20:00 */

	(void)state;
	assert_string_equal(ss_time_format(buf, sizeof(buf), t), "2026-11-23T09:20:00Z");
	assert_string_equal(ss_time_format_micro(buf, sizeof(buf), t),
			    "2026-11-23T09:20:00.123456Z");
	assert_string_equal(ss_time_format(buf, sizeof(buf), 0), "1970-01-01T00:00:00Z");
}

static void test_parse(void **state)
{
	int64_t t = 0;

	(void)state;
	assert_int_equal(ss_time_parse(&t, "2026-11-23T09:20:00Z"), 0);
	assert_int_equal(t, 1795425600 * SS_NS_PER_SEC);
	assert_int_equal(ss_time_parse(&t, "2026-11-23T09:20:00.5Z"), 0);
	assert_int_equal(t, 1795425600 * SS_NS_PER_SEC + 500 * SS_NS_PER_MS);
	assert_int_equal(ss_time_parse(&t, "2026-11-23T10:20:00+01:00"), 0);
	assert_int_equal(t, 1795425600 * SS_NS_PER_SEC);
	assert_int_equal(ss_time_parse(&t, "2024-02-29T00:00:00Z"), 0); /* leap day */
	assert_int_equal(t, 1709164800 * SS_NS_PER_SEC);
	assert_int_equal(ss_time_parse(&t, "2026-11-23 09:20:00Z"), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "'2026-11-23 09:20:00Z' is not an RFC 3339 time");
	assert_int_equal(ss_time_parse(&t, "2026-13-01T00:00:00Z"), SS_EINVALID);
	assert_int_equal(ss_time_parse(&t, "2026-11-23T09:20:00"), SS_EINVALID);
	assert_int_equal(ss_time_parse(&t, "2026-11-23T09:20:00Zjunk"), SS_EINVALID);
	assert_int_equal(ss_time_parse(&t, NULL), SS_EINVALID);
}

/* Well-formed times outside int64 nanoseconds are refused, never wrapped
 * (2999 used to read as 1829, 2262-06 as 1677); the last and first
 * nanosecond it holds are accepted. */
static void test_parse_range(void **state)
{
	int64_t t = 42;

	(void)state;
	assert_int_equal(ss_time_parse(&t, "1970-01-01T00:00:00Z"), 0);
	assert_int_equal(t, 0);
	assert_int_equal(ss_time_parse(&t, "2262-04-11T23:47:16.854775807Z"), 0);
	assert_true(t == INT64_MAX);
	assert_int_equal(ss_time_parse(&t, "2262-04-12T01:47:16.854775807+02:00"), 0);
	assert_true(t == INT64_MAX);
	assert_int_equal(ss_time_parse(&t, "1677-09-21T00:12:43.145224192Z"), 0);
	assert_true(t == INT64_MIN);
	assert_int_equal(ss_time_parse(&t, "1677-09-21T00:12:44Z"), 0);
	assert_true(t == INT64_MIN + 854775808);

	t = 42;
	assert_int_equal(ss_time_parse(&t, "2262-04-11T23:47:16.854775808Z"),
			 SS_EUNSUPPORTED);
	tu_assert_error(SS_EUNSUPPORTED,
			"'2262-04-11T23:47:16.854775808Z' is outside the times "
			"nanoseconds since 1970 in 64 bits can hold (1677-09-21 to "
			"2262-04-11)");
	assert_int_equal(ss_time_parse(&t, "2262-04-11T23:47:17Z"), SS_EUNSUPPORTED);
	assert_int_equal(ss_time_parse(&t, "2262-04-11T23:47:16.9-00:01"),
			 SS_EUNSUPPORTED);
	assert_int_equal(ss_time_parse(&t, "2999-01-01T00:00:00Z"), SS_EUNSUPPORTED);
	assert_int_equal(ss_time_parse(&t, "9999-12-31T23:59:60-23:59"), SS_EUNSUPPORTED);
	assert_int_equal(ss_time_parse(&t, "1677-09-21T00:12:43.145224191Z"),
			 SS_EUNSUPPORTED);
	assert_int_equal(ss_time_parse(&t, "1677-09-21T00:12:43Z"), SS_EUNSUPPORTED);
	assert_int_equal(ss_time_parse(&t, "1600-06-01T00:00:00Z"), SS_EUNSUPPORTED);
	assert_int_equal(ss_time_parse(&t, "0000-01-01T00:00:00+23:59"), SS_EUNSUPPORTED);
	assert_int_equal(t, 42); /* untouched on failure */
}

/* Issue 16: only real dates and offsets are times. 31 February read as
 * 3 March and +99:99 as an offset of four days. */
static void test_parse_rejects_impossible_fields(void **state)
{
	static const char *const bad[] = {
		"2026-02-31T12:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
		"1900-02-29T00:00:00Z", "2026-11-23T09:20:00+99:99",
		"2026-11-23T09:20:00-24:00", "2026-11-23T09:20:00+01:60",
		"2026-11-23T09:20:00.Z", "2026-11-23T09:20:00.+01:00",
		"2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z",
		"2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:61Z",
	};
	int64_t t = 42;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ss_time_parse(&t, bad[i]) != SS_EINVALID)
			fail_msg("%s: accepted as %lld", bad[i], (long long)t);
		assert_int_equal(t, 42);
	}
	tu_assert_error(SS_EINVALID, "'2026-01-01T00:00:61Z' is not an RFC 3339 time");
	/* the edges that are real */
	assert_int_equal(ss_time_parse(&t, "2000-02-29T00:00:00Z"), 0);
	assert_int_equal(t, 951782400 * SS_NS_PER_SEC);
	assert_int_equal(ss_time_parse(&t, "2026-12-31T23:59:59-23:59"), 0);
	assert_int_equal(t, (1798761599 + 23 * 3600 + 59 * 60) * SS_NS_PER_SEC);
	assert_int_equal(ss_time_parse(&t, "2026-06-30T23:59:60Z"), 0); /* leap second */
	assert_int_equal(t, 1782864000 * SS_NS_PER_SEC);
}

static void test_round_trip(void **state)
{
	char buf[SS_TIME_RFC3339_MAX];
	int64_t t = 1795425600 * SS_NS_PER_SEC + 654321000, back = 0;

	(void)state;
	assert_int_equal(ss_time_parse(&back, ss_time_format_micro(buf, sizeof(buf), t)),
			 0);
	assert_int_equal(back, t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fake_clock_moves_only_when_told),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_range),
		cmocka_unit_test(test_parse_rejects_impossible_fields),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
