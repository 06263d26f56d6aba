/*
 * test_tz.c — util/tz: calendar arithmetic, the system's zones at known
 * instants around their 2024-2026 transitions (expectations taken from
 * zdump when the test was written), the POSIX footer against the
 * transition table, local → UTC through gaps and folds, and every way a
 * name or a zone file can be wrong (files are written to a temporary
 * $TZDIR).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "util/error.h"
#include "util/tz.h"

#define DAY 86400

static ss_tz *load(const char *name)
{
	ss_tz *tz = NULL;

	if (ss_tz_load(&tz, name) != 0)
		fail_msg("%s: %s", name, ss_error_last()->message);
	return tz;
}

static ss_tz *posix(const char *text)
{
	ss_tz *tz = NULL;

	if (ss_tz_posix(&tz, text) != 0)
		fail_msg("%s: %s", text, ss_error_last()->message);
	return tz;
}

static void format_civil(char *buf, size_t cap, const ss_civil *c)
{
	snprintf(buf, cap, "%04d-%02d-%02d %02d:%02d:%02d", c->year, c->month, c->day,
		 c->hour, c->minute, c->second);
}

/* ---- calendar ---------------------------------------------------------- */

static void test_calendar_known_days(void **state)
{
	(void)state;
	assert_int_equal(ss_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(ss_days_from_civil(2000, 3, 1), 11017);
	assert_true(ss_days_from_civil(1, 1, 1) == -719162);
	assert_int_equal(ss_days_from_civil(9999, 12, 31), 2932896);
	assert_true(ss_days_from_civil(1969, 12, 31) == -1);
	assert_int_equal(ss_weekday(0), 4);  /* Thursday */
	assert_int_equal(ss_weekday(-1), 3); /* Wednesday */
	assert_int_equal(ss_weekday(ss_days_from_civil(2025, 3, 30)), 0);
	assert_true(ss_is_leap_year(2024) && ss_is_leap_year(2000));
	assert_false(ss_is_leap_year(1900) || ss_is_leap_year(2100) ||
		     ss_is_leap_year(2025));
	assert_int_equal(ss_days_in_month(2024, 2), 29);
	assert_int_equal(ss_days_in_month(2100, 2), 28);
	assert_int_equal(ss_days_in_month(2025, 4), 30);
	assert_int_equal(ss_days_in_month(2025, 12), 31);
	assert_int_equal(ss_days_in_month(2025, 13), 0);
	assert_int_equal(ss_days_in_month(2025, 0), 0);
}

/* ISO weeks and days of year near New Year (from `date +%G-W%V %j %w`). */
static void test_calendar_iso_weeks(void **state)
{
	static const struct {
		int y, m, d;
		int iso_year, iso_week, yday, wday;
	} cases[] = {
		{ 2024, 12, 30, 2025, 1, 364, 1 }, { 2024, 12, 31, 2025, 1, 365, 2 },
		{ 2021, 1, 3, 2020, 53, 2, 0 },	   { 2026, 1, 1, 2026, 1, 0, 4 },
		{ 2027, 1, 1, 2026, 53, 0, 5 },	   { 2025, 3, 30, 2025, 13, 88, 0 },
		{ 2008, 12, 29, 2009, 1, 363, 1 }, { 2010, 1, 3, 2009, 53, 2, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ss_civil c;

		assert_int_equal(ss_civil_from_seconds(
					 &c, ss_days_from_civil(cases[i].y, cases[i].m,
								cases[i].d) *
							     DAY +
						     3600),
				 0);
		if (c.year != cases[i].y || c.month != cases[i].m ||
		    c.day != cases[i].d || c.hour != 1 ||
		    c.iso_year != cases[i].iso_year || c.iso_week != cases[i].iso_week ||
		    c.yday != cases[i].yday || c.wday != cases[i].wday)
			fail_msg("%04d-%02d-%02d: got %04d-%02d-%02d iso %d-W%d yday %d "
				 "wday %d",
				 cases[i].y, cases[i].m, cases[i].d, c.year, c.month,
				 c.day, c.iso_year, c.iso_week, c.yday, c.wday);
	}
}

/* Every day of 1900-2200, and every 13th day of years 1-9999, round-trips
 * and moves the weekday by one. */
static void test_calendar_round_trip(void **state)
{
	int64_t first = ss_days_from_civil(1, 1, 1),
		last = ss_days_from_civil(9999, 12, 31);
	int64_t dense_lo = ss_days_from_civil(1900, 1, 1);
	int64_t dense_hi = ss_days_from_civil(2200, 12, 31);
	int64_t day, prev_day = first - 2;
	int prev_wday = -1;

	(void)state;
	for (day = first; day <= last;
	     day += (day >= dense_lo && day <= dense_hi) ? 1 : 13) {
		ss_civil c;
		int64_t back;

		assert_int_equal(ss_civil_from_seconds(&c, day * DAY + 45296), 0);
		assert_int_equal(ss_civil_to_seconds(&back, &c), 0);
		if (back != day * DAY + 45296 || c.hour != 12 || c.minute != 34 ||
		    c.second != 56)
			fail_msg("day %lld did not round-trip", (long long)day);
		if (day == prev_day + 1)
			assert_int_equal(c.wday, (prev_wday + 1) % 7);
		prev_wday = c.wday;
		prev_day = day;
	}
}

static void test_calendar_rejects(void **state)
{
	static const ss_civil bad[] = {
		{ .year = 2025, .month = 2, .day = 29 },
		{ .year = 2025, .month = 2, .day = 30 },
		{ .year = 2025, .month = 13, .day = 1 },
		{ .year = 2025, .month = 0, .day = 1 },
		{ .year = 2025, .month = 4, .day = 31 },
		{ .year = 2025, .month = 1, .day = 0 },
		{ .year = 2025, .month = 1, .day = 1, .hour = 24 },
		{ .year = 2025, .month = 1, .day = 1, .minute = 60 },
		{ .year = 2025, .month = 1, .day = 1, .second = 60 },
		{ .year = 2025, .month = 1, .day = 1, .hour = -1 },
		{ .year = 10001, .month = 1, .day = 1 },
		{ .year = -1, .month = 1, .day = 1 },
	};
	ss_civil c;
	int64_t s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ss_civil_to_seconds(&s, &bad[i]), SS_EINVALID);
		tu_assert_error(SS_EINVALID, "is not a valid date and time");
	}
	c = (ss_civil){ .year = 2024,
			.month = 2,
			.day = 29,
			.hour = 23,
			.minute = 59,
			.second = 59 };
	assert_int_equal(ss_civil_to_seconds(&s, &c), 0);
	assert_int_equal(s, 1709251199);
	assert_int_equal(ss_civil_from_seconds(&c, SS_TZ_INSTANT_MAX + 3 * DAY),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID, "outside the years 1 to 9999");
}

/* ---- zones at known instants ------------------------------------------ */

typedef struct {
	const char *zone;
	int64_t utc;
	int32_t offset;
	const char *local;
	const char *abbr;
	bool dst;
} known_case;

/* zdump -v -c 2024,2027 for the three zones: each transition and the
 * second before it. */
static const known_case known[] = {
	{ "Europe/Berlin", 1711846799, 3600, "2024-03-31 01:59:59", "CET", 0 },
	{ "Europe/Berlin", 1711846800, 7200, "2024-03-31 03:00:00", "CEST", 1 },
	{ "Europe/Berlin", 1729990799, 7200, "2024-10-27 02:59:59", "CEST", 1 },
	{ "Europe/Berlin", 1729990800, 3600, "2024-10-27 02:00:00", "CET", 0 },
	{ "Europe/Berlin", 1743296399, 3600, "2025-03-30 01:59:59", "CET", 0 },
	{ "Europe/Berlin", 1743296400, 7200, "2025-03-30 03:00:00", "CEST", 1 },
	{ "Europe/Berlin", 1761440399, 7200, "2025-10-26 02:59:59", "CEST", 1 },
	{ "Europe/Berlin", 1761440400, 3600, "2025-10-26 02:00:00", "CET", 0 },
	{ "Europe/Berlin", 1774745999, 3600, "2026-03-29 01:59:59", "CET", 0 },
	{ "Europe/Berlin", 1774746000, 7200, "2026-03-29 03:00:00", "CEST", 1 },
	{ "Europe/Berlin", 1792889999, 7200, "2026-10-25 02:59:59", "CEST", 1 },
	{ "Europe/Berlin", 1792890000, 3600, "2026-10-25 02:00:00", "CET", 0 },
	{ "America/New_York", 1710053999, -18000, "2024-03-10 01:59:59", "EST", 0 },
	{ "America/New_York", 1710054000, -14400, "2024-03-10 03:00:00", "EDT", 1 },
	{ "America/New_York", 1730613599, -14400, "2024-11-03 01:59:59", "EDT", 1 },
	{ "America/New_York", 1730613600, -18000, "2024-11-03 01:00:00", "EST", 0 },
	{ "America/New_York", 1741503599, -18000, "2025-03-09 01:59:59", "EST", 0 },
	{ "America/New_York", 1741503600, -14400, "2025-03-09 03:00:00", "EDT", 1 },
	{ "America/New_York", 1762063199, -14400, "2025-11-02 01:59:59", "EDT", 1 },
	{ "America/New_York", 1762063200, -18000, "2025-11-02 01:00:00", "EST", 0 },
	{ "America/New_York", 1772953199, -18000, "2026-03-08 01:59:59", "EST", 0 },
	{ "America/New_York", 1772953200, -14400, "2026-03-08 03:00:00", "EDT", 1 },
	{ "America/New_York", 1793512799, -14400, "2026-11-01 01:59:59", "EDT", 1 },
	{ "America/New_York", 1793512800, -18000, "2026-11-01 01:00:00", "EST", 0 },
	{ "Australia/Lord_Howe", 1712415599, 39600, "2024-04-07 01:59:59", "+11", 1 },
	{ "Australia/Lord_Howe", 1712415600, 37800, "2024-04-07 01:30:00", "+1030", 0 },
	{ "Australia/Lord_Howe", 1728142199, 37800, "2024-10-06 01:59:59", "+1030", 0 },
	{ "Australia/Lord_Howe", 1728142200, 39600, "2024-10-06 02:30:00", "+11", 1 },
	{ "Australia/Lord_Howe", 1743865199, 39600, "2025-04-06 01:59:59", "+11", 1 },
	{ "Australia/Lord_Howe", 1743865200, 37800, "2025-04-06 01:30:00", "+1030", 0 },
	{ "Australia/Lord_Howe", 1759591799, 37800, "2025-10-05 01:59:59", "+1030", 0 },
	{ "Australia/Lord_Howe", 1759591800, 39600, "2025-10-05 02:30:00", "+11", 1 },
	{ "Australia/Lord_Howe", 1775314799, 39600, "2026-04-05 01:59:59", "+11", 1 },
	{ "Australia/Lord_Howe", 1775314800, 37800, "2026-04-05 01:30:00", "+1030", 0 },
	{ "Australia/Lord_Howe", 1791041399, 37800, "2026-10-04 01:59:59", "+1030", 0 },
	{ "Australia/Lord_Howe", 1791041400, 39600, "2026-10-04 02:30:00", "+11", 1 },
	/* Before the first transition: local mean time (type 0). */
	{ "Europe/Berlin", -2422054409, 3208, "1893-03-31 23:59:59", "LMT", 0 },
	{ "Europe/Berlin", -2422054408, 3600, "1893-04-01 00:06:32", "CET", 0 },
	/* After 2037, where fat files end and the footer's rule takes over. */
	{ "Europe/Berlin", 2216249999, 3600, "2040-03-25 01:59:59", "CET", 0 },
	{ "Europe/Berlin", 2216250000, 7200, "2040-03-25 03:00:00", "CEST", 1 },
	{ "Europe/Berlin", 2234998800, 3600, "2040-10-28 02:00:00", "CET", 0 },
	{ "Australia/Lord_Howe", 2233150199, 37800, "2040-10-07 01:59:59", "+1030", 0 },
	{ "Australia/Lord_Howe", 2233150200, 39600, "2040-10-07 02:30:00", "+11", 1 },
	{ "America/New_York", 0, -18000, "1969-12-31 19:00:00", "EST", 0 },
	{ "Europe/Berlin", 4102444800, 3600, "2100-01-01 01:00:00", "CET", 0 },
};

static void check_known(const ss_tz *tz, const known_case *k)
{
	char text[32];
	ss_tz_period p;
	ss_civil c;
	int32_t off;

	assert_int_equal(ss_tz_offset(tz, k->utc, &off), 0);
	assert_int_equal(ss_tz_local(tz, k->utc, &c), 0);
	assert_int_equal(ss_tz_period_at(tz, k->utc, &p), 0);
	format_civil(text, sizeof(text), &c);
	if (off != k->offset || strcmp(text, k->local) != 0 ||
	    c.utc_offset_s != k->offset || c.is_dst != k->dst ||
	    strcmp(p.abbr, k->abbr) != 0 || p.is_dst != k->dst ||
	    p.utc_offset_s != k->offset || p.start_s > k->utc || p.end_s <= k->utc)
		fail_msg("%s @%lld: got offset %d local %s abbr %s dst %d period "
			 "[%lld, %lld)",
			 k->zone, (long long)k->utc, (int)off, text, p.abbr,
			 (int)c.is_dst, (long long)p.start_s, (long long)p.end_s);
}

static void test_known_instants(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		ss_tz *tz = load(known[i].zone);

		check_known(tz, &known[i]);
		ss_tz_free(tz);
	}
}

/* The same answers from the footer's rule alone (ss_tz_posix), for the
 * instants after the rule took over. */
static void test_known_instants_from_rules(void **state)
{
	static const struct {
		const char *zone, *rule;
	} rules[] = {
		{ "Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3" },
		{ "America/New_York", "EST5EDT,M3.2.0,M11.1.0" },
		{ "Australia/Lord_Howe", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0" },
	};
	size_t i, j;

	(void)state;
	for (j = 0; j < sizeof(rules) / sizeof(rules[0]); j++) {
		ss_tz *tz = posix(rules[j].rule);

		assert_string_equal(ss_tz_name(tz), rules[j].rule);
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strcmp(known[i].zone, rules[j].zone) == 0 &&
			    known[i].utc > 1700000000)
				check_known(tz, &known[i]);
		ss_tz_free(tz);
	}
}

/* A fat file's table and its own footer agree from the year the current
 * rule began through 2037 (compared every 3 hours and around every
 * transition). */
static void test_footer_agrees_with_table(void **state)
{
	static const struct {
		const char *zone, *rule;
		int since;
	} zones[] = {
		{ "Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3", 1996 },
		{ "America/New_York", "EST5EDT,M3.2.0,M11.1.0", 2007 },
		{ "Australia/Lord_Howe", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 2008 },
		/* Thursday 26:00 is Friday 02:00. */
		{ "Asia/Jerusalem", "IST-2IDT,M3.4.4/26,M10.5.0", 2013 },
		/* Negative rule times. */
		{ "America/Nuuk", "<-02>2<-01>,M3.5.0/-1,M10.5.0/0", 2024 },
		{ "America/Santiago", "<-04>4<-03>,M9.1.6/24,M4.1.6/24", 2023 },
		/* "Negative DST": winter is the daylight-saving side. */
		{ "Europe/Dublin", "IST-1GMT0,M10.5.0,M3.5.0/1", 1996 },
		{ "Pacific/Chatham", "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
		  2008 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		ss_tz *table = load(zones[i].zone), *rule = posix(zones[i].rule);
		int64_t t = ss_days_from_civil(zones[i].since, 1, 1) * DAY;
		int64_t end = ss_days_from_civil(2038, 1, 1) * DAY;
		int checked = 0;

		while (t < end) {
			ss_tz_period a, b;
			int k;

			assert_int_equal(ss_tz_period_at(table, t, &a), 0);
			/* the instant itself, the second before and after the
			 * period's end */
			for (k = 0; k < 3; k++) {
				int64_t at = k == 0 ? t : a.end_s + k - 2;

				if (at >= end)
					continue;
				assert_int_equal(ss_tz_period_at(table, at, &a), 0);
				assert_int_equal(ss_tz_period_at(rule, at, &b), 0);
				if (a.utc_offset_s != b.utc_offset_s ||
				    a.is_dst != b.is_dst || strcmp(a.abbr, b.abbr) != 0)
					fail_msg(
						"%s @%lld: table %d %s %d, rule %d %s %d",
						zones[i].zone, (long long)at,
						(int)a.utc_offset_s, a.abbr, a.is_dst,
						(int)b.utc_offset_s, b.abbr, b.is_dst);
				checked++;
				assert_int_equal(ss_tz_period_at(table, t, &a), 0);
			}
			t += 3 * 3600;
		}
		assert_true(checked > 1000);
		ss_tz_free(table);
		ss_tz_free(rule);
	}
}

/* ---- local → UTC -------------------------------------------------------- */

typedef struct {
	const char *zone;
	int y, mo, d, h, mi;
	int count;
	int64_t utc0, utc1, first;
} resolve_case;

static const resolve_case resolves[] = {
	/* Berlin: 02:00-02:59 skipped on 2025-03-30, repeated on 2025-10-26. */
	{ "Europe/Berlin", 2025, 3, 30, 1, 59, 1, 1743296340, 0, 1743296340 },
	{ "Europe/Berlin", 2025, 3, 30, 2, 0, 0, 0, 0, 1743296400 },
	{ "Europe/Berlin", 2025, 3, 30, 2, 30, 0, 0, 0, 1743296400 },
	{ "Europe/Berlin", 2025, 3, 30, 2, 59, 0, 0, 0, 1743296400 },
	{ "Europe/Berlin", 2025, 3, 30, 3, 0, 1, 1743296400, 0, 1743296400 },
	{ "Europe/Berlin", 2025, 10, 26, 1, 59, 1, 1761436740, 0, 1761436740 },
	{ "Europe/Berlin", 2025, 10, 26, 2, 0, 2, 1761436800, 1761440400, 1761436800 },
	{ "Europe/Berlin", 2025, 10, 26, 2, 30, 2, 1761438600, 1761442200, 1761438600 },
	{ "Europe/Berlin", 2025, 10, 26, 3, 0, 1, 1761444000, 0, 1761444000 },
	{ "Europe/Berlin", 2025, 7, 1, 12, 0, 1, 1751364000, 0, 1751364000 },
	/* New York: 02:00-02:59 skipped on 2025-03-09; 01:00-01:59 repeated on
	 * 2025-11-02. */
	{ "America/New_York", 2025, 3, 9, 2, 30, 0, 0, 0, 1741503600 },
	{ "America/New_York", 2025, 11, 2, 1, 30, 2, 1762061400, 1762065000, 1762061400 },
	{ "America/New_York", 2025, 11, 2, 2, 0, 1, 1762066800, 0, 1762066800 },
	/* Lord Howe: 02:00-02:29 skipped on 2025-10-05; 01:30-01:59 repeated on
	 * 2025-04-06 (half an hour either way). */
	{ "Australia/Lord_Howe", 2025, 10, 5, 1, 59, 1, 1759591740, 0, 1759591740 },
	{ "Australia/Lord_Howe", 2025, 10, 5, 2, 0, 0, 0, 0, 1759591800 },
	{ "Australia/Lord_Howe", 2025, 10, 5, 2, 29, 0, 0, 0, 1759591800 },
	{ "Australia/Lord_Howe", 2025, 10, 5, 2, 30, 1, 1759591800, 0, 1759591800 },
	{ "Australia/Lord_Howe", 2025, 4, 6, 1, 29, 1, 1743863340, 0, 1743863340 },
	{ "Australia/Lord_Howe", 2025, 4, 6, 1, 30, 2, 1743863400, 1743865200,
	  1743863400 },
	{ "Australia/Lord_Howe", 2025, 4, 6, 1, 45, 2, 1743864300, 1743866100,
	  1743864300 },
	{ "Australia/Lord_Howe", 2025, 4, 6, 2, 0, 1, 1743867000, 0, 1743867000 },
	{ "UTC", 2025, 3, 30, 2, 30, 1, 1743301800, 0, 1743301800 },
};

static void test_resolve(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(resolves) / sizeof(resolves[0]); i++) {
		const resolve_case *rc = &resolves[i];
		ss_civil c = { .year = rc->y,
			       .month = rc->mo,
			       .day = rc->d,
			       .hour = rc->h,
			       .minute = rc->mi };
		ss_tz *tz = load(rc->zone);
		ss_tz_resolution r;

		assert_int_equal(ss_tz_resolve(tz, &c, &r), 0);
		if (r.count != rc->count || r.first_utc_s != rc->first ||
		    (r.count > 0 && r.utc_s[0] != rc->utc0) ||
		    (r.count > 1 && r.utc_s[1] != rc->utc1))
			fail_msg(
				"%s %04d-%02d-%02d %02d:%02d: count %d [%lld %lld] first "
				"%lld",
				rc->zone, rc->y, rc->mo, rc->d, rc->h, rc->mi, r.count,
				(long long)r.utc_s[0], (long long)r.utc_s[1],
				(long long)r.first_utc_s);
		ss_tz_free(tz);
	}
}

/* Every minute of the days around each transition of 2025: resolving the
 * local time of u finds u, the first occurrence is never later than u,
 * and the minutes no instant shows are exactly the gap's. */
static void test_resolve_round_trip(void **state)
{
	static const char *const zones[] = { "Europe/Berlin", "America/New_York",
					     "Australia/Lord_Howe" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		ss_tz *tz = load(zones[i]);
		int64_t u = ss_days_from_civil(2025, 1, 1) * DAY;
		int64_t end = ss_days_from_civil(2026, 1, 1) * DAY;

		while (u < end) {
			ss_tz_period p;
			int64_t v;

			assert_int_equal(ss_tz_period_at(tz, u, &p), 0);
			/* A day either side of each transition, minute by minute. */
			for (v = p.end_s - DAY; v < p.end_s + DAY && p.end_s < end;
			     v += 60) {
				ss_tz_resolution r;
				ss_civil c;

				assert_int_equal(ss_tz_local(tz, v, &c), 0);
				assert_int_equal(ss_tz_resolve(tz, &c, &r), 0);
				assert_true(r.count >= 1);
				assert_true(r.utc_s[0] == v ||
					    (r.count == 2 && r.utc_s[1] == v));
				assert_true(r.first_utc_s <= v);
			}
			u = p.end_s;
		}
		ss_tz_free(tz);
	}
}

static void test_instant_range(void **state)
{
	ss_tz *tz = load("Europe/Berlin");
	ss_tz_period p;
	ss_civil c;
	int32_t off;

	(void)state;
	assert_int_equal(ss_tz_offset(tz, SS_TZ_INSTANT_MAX + 1, &off), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "outside the years 1 to 9999");
	assert_int_equal(ss_tz_local(tz, SS_TZ_INSTANT_MIN - 1, &c), SS_EINVALID);
	assert_int_equal(ss_tz_period_at(tz, INT64_MAX, &p), SS_EINVALID);
	assert_int_equal(ss_tz_local(tz, SS_TZ_INSTANT_MAX, &c), 0);
	assert_int_equal(c.year, 10000); /* 9999-12-31T23:59:59Z is New Year in Berlin */
	assert_int_equal(ss_tz_local(tz, SS_TZ_INSTANT_MIN, &c), 0);
	assert_int_equal(c.year, 1);
	c = (ss_civil){ .year = 2025, .month = 2, .day = 29 };
	{
		ss_tz_resolution r;

		assert_int_equal(ss_tz_resolve(tz, &c, &r), SS_EINVALID);
		tu_assert_error(SS_EINVALID, "2025-02-29 00:00:00 is not a valid date");
	}
	ss_tz_free(tz);
}

/* ---- POSIX TZ strings ------------------------------------------------- */

static int32_t offset_at(const ss_tz *tz, int64_t t)
{
	int32_t off = 0;

	assert_int_equal(ss_tz_offset(tz, t, &off), 0);
	return off;
}

static void test_posix_rules(void **state)
{
	ss_tz *tz;
	int64_t t;

	(void)state;
	tz = posix("UTC0");
	assert_int_equal(offset_at(tz, 1751364000), 0);
	ss_tz_free(tz);
	tz = posix("<-03>3");
	assert_int_equal(offset_at(tz, 1751364000), -3 * 3600);
	ss_tz_free(tz);
	tz = posix("<+0545>-5:45");
	assert_int_equal(offset_at(tz, 1751364000), 5 * 3600 + 45 * 60);
	ss_tz_free(tz);
	/* DST all year (RFC 8536's example): it ends as it starts again. */
	tz = posix("EST5EDT,0/0,J365/25");
	for (t = ss_days_from_civil(2023, 12, 25) * DAY;
	     t < ss_days_from_civil(2026, 1, 5) * DAY; t += 3600)
		assert_int_equal(offset_at(tz, t), -4 * 3600);
	ss_tz_free(tz);
	/* Jn never counts 29 February, n does: J60 is 1 March, 59 is 29
	 * February in a leap year. DST 1 hour ahead by default, from 02:00. */
	tz = posix("AAA0BBB,J60,J300");
	assert_int_equal(offset_at(tz, ss_days_from_civil(2024, 3, 1) * DAY + 7199), 0);
	assert_int_equal(offset_at(tz, ss_days_from_civil(2024, 3, 1) * DAY + 7200),
			 3600);
	ss_tz_free(tz);
	tz = posix("AAA0BBB,59,300");
	assert_int_equal(offset_at(tz, ss_days_from_civil(2024, 2, 29) * DAY + 7200),
			 3600);
	assert_int_equal(offset_at(tz, ss_days_from_civil(2025, 3, 1) * DAY + 7199), 0);
	assert_int_equal(offset_at(tz, ss_days_from_civil(2025, 3, 1) * DAY + 7200),
			 3600);
	ss_tz_free(tz);
	/* M.5 is the last week: the last Sunday of February 2026 is the 22nd,
	 * of 2015 the 22nd too, with 28 days; of 2032 (leap) the 29th. */
	tz = posix("AAA0BBB-2,M2.5.0/0,M11.1.0");
	assert_int_equal(offset_at(tz, ss_days_from_civil(2026, 2, 22) * DAY - 1), 0);
	assert_int_equal(offset_at(tz, ss_days_from_civil(2026, 2, 22) * DAY), 7200);
	assert_int_equal(offset_at(tz, ss_days_from_civil(2032, 2, 29) * DAY - 1), 0);
	assert_int_equal(offset_at(tz, ss_days_from_civil(2032, 2, 29) * DAY), 7200);
	ss_tz_free(tz);
}

static void test_posix_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"CET",
		"C-1",
		"CET-25",
		"CET-1:60",
		"CET-1CEST",
		"CET-1CEST,M3.5.0",
		"CET-1CEST,M13.1.0,M10.5.0",
		"CET-1CEST,M0.1.0,M10.5.0",
		"CET-1CEST,M3.6.0,M10.5.0",
		"CET-1CEST,M3.0.0,M10.5.0",
		"CET-1CEST,M3.5.7,M10.5.0",
		"CET-1CEST,M3.5.0,M10.5.0/168",
		"CET-1CEST,M3.5.0,M10.5.0x",
		"CET-1CEST,J0,J365",
		"CET-1CEST,J1,J366",
		"CET-1CEST,366,1",
		"<+1030-10:30",
		"<+1>-1",
		"CET-1 ",
		"CET-1CEST,M3.5.0,M10.5.0/",
		"CET-1CEST,M3.5.0,M10.5.0/3:",
		"CET-0001",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ-1",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ss_tz *tz = NULL;

		if (ss_tz_posix(&tz, bad[i]) != SS_EINVALID)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_null(tz);
		assert_true(ss_error_last()->message[0] != '\0');
	}
	{
		ss_tz *tz = NULL;

		assert_int_equal(ss_tz_posix(&tz, "CET-1CEST"), SS_EINVALID);
		tu_assert_error(SS_EINVALID, "daylight saving time but no rule");
	}
}

/* ---- names and files -------------------------------------------------- */

static char tzdir[512];

static void set_tzdir(void)
{
	snprintf(tzdir, sizeof(tzdir), "%s", tu_mkdtemp());
	assert_int_equal(setenv("TZDIR", tzdir, 1), 0);
}

static void unset_tzdir(void)
{
	unsetenv("TZDIR");
	tu_rmtree(tzdir);
}

static void write_bytes(const char *name, const void *data, size_t len)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tzdir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static unsigned char *read_system_zone(const char *name, size_t *len)
{
	static unsigned char data[16384];
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	*len = fread(data, 1, sizeof(data), f);
	assert_true(*len > 0 && *len < sizeof(data));
	fclose(f);
	return data;
}

static void test_utc_needs_no_file(void **state)
{
	ss_tz *tz;
	ss_civil c;

	(void)state;
	set_tzdir(); /* empty: no zone files at all */
	tz = load("UTC");
	assert_string_equal(ss_tz_name(tz), "UTC");
	assert_int_equal(offset_at(tz, 1761440400), 0);
	assert_int_equal(ss_tz_local(tz, 0, &c), 0);
	assert_int_equal(c.year, 1970);
	assert_int_equal(c.wday, 4);
	assert_int_equal(c.iso_week, 1);
	ss_tz_free(tz);
	tz = NULL;
	assert_int_equal(ss_tz_load(&tz, "Europe/Berlin"), SS_ENOTFOUND);
	tu_assert_error(SS_ENOTFOUND, "unknown time zone \"Europe/Berlin\"");
	assert_null(tz);
	unset_tzdir();
}

static void test_bad_names(void **state)
{
	static const char *const bad[] = {
		"../etc/passwd",
		"/etc/passwd",
		"Europe/../UTC",
		"..",
		"Europe//Berlin",
		"Europe/Berlin/",
		"/",
		"-UTC",
		"Etc/+1",
		"Europe/Ber lin",
		"Europe/Berlin\n",
		"Europe\\Berlin",
		"Europe/Berlin.",
		"Europe/Berlin;x",
		"UTC%s",
		"./UTC",
	};
	char long_name[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ss_tz *tz = NULL;

		if (ss_tz_load(&tz, bad[i]) != SS_EINVALID)
			fail_msg("\"%s\" was accepted", bad[i]);
		tu_assert_error(SS_EINVALID, "is not an IANA time zone name");
		assert_null(tz);
	}
	memset(long_name, 'A', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	{
		ss_tz *tz = NULL;

		assert_int_equal(ss_tz_load(&tz, long_name), SS_EINVALID);
		assert_int_equal(ss_tz_load(&tz, ""), SS_EINVALID);
		tu_assert_error(SS_EINVALID, "time zone name is empty");
		assert_int_equal(ss_tz_load(&tz, NULL), SS_EINVALID);
		/* Allowed characters, no such zone; a directory is not a zone. */
		assert_int_equal(ss_tz_load(&tz, "Nowhere/Some_City-2"), SS_ENOTFOUND);
		tu_assert_error(SS_ENOTFOUND,
				"unknown time zone \"Nowhere/Some_City-2\"");
		assert_int_equal(ss_tz_load(&tz, "Europe"), SS_ENOTFOUND);
		assert_null(tz);
		/* Names with + and - inside are fine. */
		tz = load("Etc/GMT+5");
		assert_int_equal(offset_at(tz, 0), -5 * 3600);
		ss_tz_free(tz);
	}
}

/* Names that exist in a tz directory but are the host's setting or no zone
 * of the database are refused, whatever the host has there (issue 15). */
static void test_host_dependent_names(void **state)
{
	static const char *const host[] = { "localtime", "posixrules", "Factory",
					     "posix/Europe/Berlin", "right/UTC" };
	char target[1024], link[1024];
	size_t len, i;
	const unsigned char *berlin = read_system_zone("Europe/Berlin", &len);
	ss_tz *tz = NULL;

	(void)state;
	set_tzdir();
	/* Every one of them a valid zone file here, so only the rule refuses. */
	write_bytes("localtime", berlin, len);
	write_bytes("posixrules", berlin, len);
	write_bytes("Factory", berlin, len);
	write_bytes("Berlin", berlin, len);
	for (i = 0; i < sizeof(host) / sizeof(host[0]); i++) {
		if (ss_tz_load(&tz, host[i]) != SS_EINVALID)
			fail_msg("\"%s\" was accepted", host[i]);
		tu_assert_error(SS_EINVALID, "is not an IANA time zone name");
		assert_null(tz);
	}
	/* A link inside the directory is a zone (US/Eastern ->
	 * ../America/New_York); one that leads out of it is the host's. */
	snprintf(link, sizeof(link), "%s/Inside", tzdir);
	assert_int_equal(symlink("Berlin", link), 0);
	tz = load("Inside");
	ss_tz_free(tz);
	tz = NULL;
	snprintf(target, sizeof(target), "%s.outside", tzdir);
	{
		FILE *f = fopen(target, "wb");

		assert_non_null(f);
		assert_int_equal(fwrite(berlin, 1, len, f), len);
		assert_int_equal(fclose(f), 0);
	}
	snprintf(link, sizeof(link), "%s/Outside", tzdir);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(ss_tz_load(&tz, "Outside"), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "leads out of the time zone directory");
	assert_null(tz);
	unlink(target);
	unset_tzdir();
}

/* Every proper prefix of a real zone file is refused, with a message. */
static void test_truncated_files(void **state)
{
	size_t len, cut;
	const unsigned char *data = read_system_zone("Europe/Berlin", &len);

	(void)state;
	set_tzdir();
	for (cut = 0; cut < len; cut++) {
		ss_tz *tz = NULL;
		int rc;

		write_bytes("Cut", data, cut);
		rc = ss_tz_load(&tz, "Cut");
		if (rc != SS_EINVALID)
			fail_msg("cut at %zu of %zu: %d", cut, len, rc);
		assert_null(tz);
		assert_non_null(strstr(ss_error_last()->message, "time zone Cut"));
	}
	write_bytes("Whole", data, len);
	ss_tz_free(load("Whole"));
	unset_tzdir();
}

/* A TZif version 2 file from parts: an empty version 1 block, then the
 * 64-bit data and the footer. */
typedef struct {
	unsigned char b[8192];
	size_t n;
} tzif_bytes;

static void put(tzif_bytes *t, const void *p, size_t n)
{
	assert_true(t->n + n <= sizeof(t->b));
	if (n == 0) /* p may be NULL then, which memcpy() does not allow */
		return;
	memcpy(t->b + t->n, p, n);
	t->n += n;
}

static void put32(tzif_bytes *t, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };

	put(t, b, 4);
}

static void put64(tzif_bytes *t, int64_t v)
{
	put32(t, (uint32_t)((uint64_t)v >> 32));
	put32(t, (uint32_t)v);
}

static void put_header(tzif_bytes *t, char version, uint32_t leap, uint32_t ntrans,
		       uint32_t ntypes, uint32_t nchars)
{
	static const unsigned char unused[15];

	put(t, "TZif", 4);
	put(t, &version, 1);
	put(t, unused, sizeof(unused));
	put32(t, 0); /* isutcnt */
	put32(t, 0); /* isstdcnt */
	put32(t, leap);
	put32(t, ntrans);
	put32(t, ntypes);
	put32(t, nchars);
}

typedef struct {
	int32_t offset;
	unsigned char dst, abbr;
} type_spec;

static void build(tzif_bytes *t, char version, const int64_t *trans,
		  const unsigned char *idx, uint32_t ntrans, const type_spec *types,
		  uint32_t ntypes, const char *abbrs, uint32_t nchars, uint32_t leap,
		  const char *footer)
{
	uint32_t i;

	t->n = 0;
	put_header(t, version, 0, 0, 0, 0);
	put_header(t, version, leap, ntrans, ntypes, nchars);
	for (i = 0; i < ntrans; i++)
		put64(t, trans[i]);
	put(t, idx, ntrans);
	for (i = 0; i < ntypes; i++) {
		put32(t, (uint32_t)types[i].offset);
		put(t, &types[i].dst, 1);
		put(t, &types[i].abbr, 1);
	}
	put(t, abbrs, nchars);
	for (i = 0; i < leap; i++) {
		put64(t, 78796800);
		put32(t, 1);
	}
	if (footer) {
		put(t, "\n", 1);
		put(t, footer, strlen(footer));
		put(t, "\n", 1);
	}
}

/* A "slim" file: two transitions, then the rule. It agrees with the
 * system's fat Europe/Berlin from 2024 on. */
static void test_slim_file(void **state)
{
	static const int64_t trans[] = { 1711846800, 1729990800 };
	static const unsigned char idx[] = { 1, 0 };
	static const type_spec types[] = { { 3600, 0, 0 }, { 7200, 1, 4 } };
	static tzif_bytes t;
	ss_tz *fat = load("Europe/Berlin"), *slim;
	char dir[600];
	int64_t u;

	(void)state;
	set_tzdir();
	snprintf(dir, sizeof(dir), "%s/Test", tzdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	build(&t, '3', trans, idx, 2, types, 2, "CET\0CEST", 9, 0,
	      "CET-1CEST,M3.5.0,M10.5.0/3");
	write_bytes("Test/Slim", t.b, t.n);
	slim = load("Test/Slim");
	for (u = 1711846800; u < ss_days_from_civil(2045, 1, 1) * DAY; u += 1800)
		assert_int_equal(offset_at(slim, u), offset_at(fat, u));
	/* before the first transition: type 0 */
	assert_int_equal(offset_at(slim, 0), 3600);
	ss_tz_free(slim);
	ss_tz_free(fat);

	/* no transitions at all: the footer is the zone (RFC 8536) */
	build(&t, '2', NULL, NULL, 0, types, 1, "CET\0", 4, 0,
	      "CET-1CEST,M3.5.0,M10.5.0/3");
	write_bytes("Test/RuleOnly", t.b, t.n);
	slim = load("Test/RuleOnly");
	assert_int_equal(offset_at(slim, 1743296399), 3600);
	assert_int_equal(offset_at(slim, 1743296400), 7200);
	ss_tz_free(slim);

	/* an empty footer: the last type stays */
	build(&t, '2', trans, idx, 2, types, 2, "CET\0CEST", 9, 0, "");
	write_bytes("Test/NoRule", t.b, t.n);
	slim = load("Test/NoRule");
	assert_int_equal(offset_at(slim, 1774746000), 3600);
	ss_tz_free(slim);
	unset_tzdir();
}

static void expect_bad_file(const char *what, const void *data, size_t len, int code,
			    const char *fragment)
{
	ss_tz *tz = NULL;
	int rc;

	write_bytes("Bad", data, len);
	rc = ss_tz_load(&tz, "Bad");
	if (rc != code)
		fail_msg("%s: got %d (%s), want %d", what, rc, ss_error_last()->message,
			 code);
	tu_assert_error(code, fragment);
	assert_null(tz);
}

static void test_bad_files(void **state)
{
	static const int64_t trans[] = { 1711846800, 1729990800 };
	static const int64_t backwards[] = { 1729990800, 1711846800 };
	static const unsigned char idx[] = { 1, 0 };
	static const unsigned char bad_idx[] = { 2, 0 };
	static const type_spec types[] = { { 3600, 0, 0 }, { 7200, 1, 4 } };
	static const type_spec huge[] = { { 3600, 0, 0 }, { 93600, 1, 4 } };
	static const type_spec bad_abbr[] = { { 3600, 0, 0 }, { 7200, 1, 9 } };
	static const type_spec bad_dst[] = { { 3600, 0, 0 }, { 7200, 2, 4 } };
	static const char garbage[] = "this is not a zone file, just some text\n";
	static unsigned char big[SS_TZ_FILE_MAX + 1];
	static tzif_bytes t;
	size_t i;

	(void)state;
	set_tzdir();
	expect_bad_file("text", garbage, sizeof(garbage) - 1, SS_EINVALID,
			"no TZif magic");
	for (i = 0; i < sizeof(t.b); i++) /* a fixed pseudo-random pattern */
		t.b[i] = (unsigned char)((i * 2654435761u) >> 13);
	expect_bad_file("noise", t.b, 3000, SS_EINVALID, "not a valid TZif file");
	memcpy(t.b, "TZif2", 5);
	expect_bad_file("noise after magic", t.b, 3000, SS_EINVALID, "not a valid TZif");
	expect_bad_file("big", big, sizeof(big), SS_ETOOLARGE, "larger than");

	build(&t, '\0', trans, idx, 2, types, 2, "CET\0CEST", 9, 0, NULL);
	expect_bad_file("version 1", t.b, t.n, SS_EUNSUPPORTED, "TZif version 1");
	build(&t, '2', trans, idx, 2, types, 2, "CET\0CEST", 9, 1, "CET-1");
	expect_bad_file("leap seconds", t.b, t.n, SS_EUNSUPPORTED, "leap seconds");
	build(&t, 'x', trans, idx, 2, types, 2, "CET\0CEST", 9, 0, "CET-1");
	expect_bad_file("version x", t.b, t.n, SS_EINVALID, "unknown version");
	build(&t, '2', backwards, idx, 2, types, 2, "CET\0CEST", 9, 0, "CET-1");
	expect_bad_file("backwards", t.b, t.n, SS_EINVALID, "transitions out of order");
	build(&t, '2', trans, bad_idx, 2, types, 2, "CET\0CEST", 9, 0, "CET-1");
	expect_bad_file("type index", t.b, t.n, SS_EINVALID, "unknown type");
	build(&t, '2', trans, idx, 2, huge, 2, "CET\0CEST", 9, 0, "CET-1");
	expect_bad_file("offset", t.b, t.n, SS_EINVALID, "bad local time type");
	build(&t, '2', trans, idx, 2, bad_abbr, 2, "CET\0CEST", 9, 0, "CET-1");
	expect_bad_file("abbreviation index", t.b, t.n, SS_EINVALID,
			"bad local time type");
	build(&t, '2', trans, idx, 2, bad_dst, 2, "CET\0CEST", 9, 0, "CET-1");
	expect_bad_file("isdst", t.b, t.n, SS_EINVALID, "bad local time type");
	build(&t, '2', trans, idx, 2, types, 2, "CET\0CESTX", 9, 0, "CET-1");
	expect_bad_file("abbreviations", t.b, t.n, SS_EINVALID, "unterminated abbrev");
	build(&t, '2', trans, idx, 2, types, 0, "", 0, 0, "CET-1");
	expect_bad_file("no types", t.b, t.n, SS_EINVALID, "inconsistent counts");
	build(&t, '2', trans, idx, 2, types, 2, "CET\0CEST", 9, 0, NULL);
	expect_bad_file("no footer", t.b, t.n, SS_EINVALID, "missing footer");
	build(&t, '2', trans, idx, 2, types, 2, "CET\0CEST", 9, 0, "CET-1CEST");
	expect_bad_file("footer", t.b, t.n, SS_EINVALID, "has a bad footer");
	build(&t, '2', trans, idx, 2, types, 2, "CET\0CEST", 9, 0, "CET-1CEST,M3.5.0,X");
	expect_bad_file("footer rule", t.b, t.n, SS_EINVALID, "not a valid POSIX TZ");
	unset_tzdir();
}

/* ss_tz_parse(): the loader's parser on bytes from anywhere (issue 16's
 * fuzz target feeds it). The same zone as from the file, bounded in size,
 * and the message names the zone and no path. */
static void test_parse_from_bytes(void **state)
{
	static unsigned char big[SS_TZ_FILE_MAX + 1];
	size_t len, cut;
	const unsigned char *data = read_system_zone("America/New_York", &len);
	ss_tz *file = load("America/New_York"), *bytes = NULL;
	int64_t u;

	(void)state;
	assert_int_equal(ss_tz_parse(&bytes, "NY", data, len), 0);
	assert_string_equal(ss_tz_name(bytes), "NY");
	for (u = ss_days_from_civil(1900, 1, 1) * DAY; u < ss_days_from_civil(2100, 1, 1) * DAY;
	     u += 7 * 3600 + 13)
		assert_int_equal(offset_at(bytes, u), offset_at(file, u));
	ss_tz_free(bytes);
	ss_tz_free(file);
	for (cut = 0; cut < len; cut += 7) {
		bytes = NULL;
		assert_int_equal(ss_tz_parse(&bytes, "NY", data, cut), SS_EINVALID);
		assert_null(bytes);
		tu_assert_error(SS_EINVALID, "time zone NY: its TZif data is not a valid");
	}
	assert_int_equal(ss_tz_parse(&bytes, "NY", NULL, 0), SS_EINVALID);
	memcpy(big, data, len);
	assert_int_equal(ss_tz_parse(&bytes, "Big", big, sizeof(big)), SS_ETOOLARGE);
	tu_assert_error(SS_ETOOLARGE, "time zone Big: TZif data of 262145 bytes");
	assert_null(bytes);
}

/* A fuzz_tzif input (corpus gap-then-fold): at -8 s the clocks jump from
 * 1969-12-31 19:59:52 (-4 h) to 1970-01-01 00:59:52 (the rule's DST,
 * +1 h), and at 0 fall back to 00:00 (+0). 00:30 is jumped over first and
 * shown later, once: first_utc_s is the jump, before utc_s[0]. */
static void test_resolve_gap_then_fold(void **state)
{
	static const int64_t trans[] = { -8 };
	static const unsigned char idx[] = { 0 };
	static const type_spec types[] = { { -14400, 1, 0 } };
	static tzif_bytes t;
	ss_civil local = { 1970, 1, 1, 0, 30, 0, 0, 0, 0, 0, 0, false };
	ss_tz_resolution r;
	ss_tz *tz = NULL;

	(void)state;
	build(&t, '4', trans, idx, 1, types, 1, "EDT", 4, 0, "xST0EDT,010,J365/25");
	assert_int_equal(ss_tz_parse(&tz, "GapThenFold", t.b, t.n), 0);
	assert_int_equal(offset_at(tz, -9), -14400);
	assert_int_equal(offset_at(tz, -8), 3600);
	assert_int_equal(offset_at(tz, 0), 0);
	assert_int_equal(ss_tz_resolve(tz, &local, &r), 0);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.utc_s[0], 1800);
	assert_int_equal(r.first_utc_s, -8);
	ss_tz_free(tz);
}

/* A fuzz_tzif finding: the rule's DST ends on 1 January at 03:00 UTC
 * (J364 + 52 h), after that year's start at 01:00, so DST is only 01:00
 * to 03:00 UTC each New Year's Day. At 00:00 the last change was the end
 * of DST two years back (a New Year before); the rule's window began one
 * year back and read 00:00 as DST, so the wall clock showed 01:00 at
 * 00:00 UTC and resolving 01:00 found no instant. */
static void test_rule_date_two_years_back(void **state)
{
	ss_tz *tz = posix("EST0EDT,0/1,J364/52");
	ss_civil one = { 1970, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, false };
	ss_tz_resolution r;
	int y;

	(void)state;
	for (y = 1969; y <= 2031; y++) {
		int64_t jan1 = ss_days_from_civil(y, 1, 1) * DAY;

		assert_int_equal(offset_at(tz, jan1 - 1), 0);
		assert_int_equal(offset_at(tz, jan1), 0);
		assert_int_equal(offset_at(tz, jan1 + 3599), 0);
		assert_int_equal(offset_at(tz, jan1 + 3600), 3600);
		assert_int_equal(offset_at(tz, jan1 + 10799), 3600);
		assert_int_equal(offset_at(tz, jan1 + 10800), 0);
		assert_int_equal(offset_at(tz, jan1 + 180 * DAY), 0);
	}
	/* 01:00 to 02:00 is skipped (at 01:00 UTC the clocks jump to 02:00),
	 * 03:00 to 04:00 shown twice (at 03:00 UTC they fall back) */
	assert_int_equal(ss_tz_resolve(tz, &one, &r), 0);
	assert_int_equal(r.count, 0);
	assert_int_equal(r.first_utc_s, 3600);
	one.hour = 3;
	one.minute = 30;
	assert_int_equal(ss_tz_resolve(tz, &one, &r), 0);
	assert_int_equal(r.count, 2);
	assert_int_equal(r.utc_s[0], 9000);
	assert_int_equal(r.utc_s[1], 12600);
	ss_tz_free(tz);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_calendar_known_days),
		cmocka_unit_test(test_calendar_iso_weeks),
		cmocka_unit_test(test_calendar_round_trip),
		cmocka_unit_test(test_calendar_rejects),
		cmocka_unit_test(test_known_instants),
		cmocka_unit_test(test_known_instants_from_rules),
		cmocka_unit_test(test_footer_agrees_with_table),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_resolve_round_trip),
		cmocka_unit_test(test_instant_range),
		cmocka_unit_test(test_posix_rules),
		cmocka_unit_test(test_posix_rejects),
		cmocka_unit_test(test_utc_needs_no_file),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_host_dependent_names),
		cmocka_unit_test(test_truncated_files),
		cmocka_unit_test(test_slim_file),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_parse_from_bytes),
		cmocka_unit_test(test_resolve_gap_then_fold),
		cmocka_unit_test(test_rule_date_two_years_back),
	};

	unsetenv("TZDIR");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
