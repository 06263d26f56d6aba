/*
 * test_cron_next.c — app_cron_next/app_cron_prev: tables of schedules
 * (plain, stepped, named, macros, H, day-of-month/day-of-week rules,
 * 29 February, impossible dates) with their next runs; the DST rule in
 * Europe/Berlin, America/New_York and Australia/Lord_Howe across the
 * spring and autumn transitions of 2025; prev mirroring next; and both
 * against a brute-force walk, minute by minute, around every transition.
 *
 * Expected times are written in local time with the offset then in force
 * ("2025-03-30T03:00:00+02:00"), so a table reads like a wall clock.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "app/sched/cron.h"
#include "app/sched/cron_next.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/tz.h"

#define MAX_RUNS 8

static int64_t at(const char *rfc3339)
{
	int64_t ns = 0;

	if (ss_time_parse(&ns, rfc3339) != 0)
		fail_msg("bad time in test: %s", rfc3339);
	return ns;
}

static const char *fmt(int64_t ns)
{
	static char buf[4][SS_TIME_RFC3339_MAX];
	static int which;

	which = (which + 1) % 4;
	return ss_time_format(buf[which], sizeof(buf[which]), ns);
}

static app_cron parse(const char *text, const char *seed)
{
	app_cron c;

	if (app_cron_parse(&c, text, seed) != 0)
		fail_msg("\"%s\": %s", text, ss_error_last()->message);
	return c;
}

static ss_tz *load(const char *name)
{
	ss_tz *tz = NULL;

	if (ss_tz_load(&tz, name) != 0)
		fail_msg("%s: %s", name, ss_error_last()->message);
	return tz;
}

typedef struct {
	const char *zone;
	const char *expr;
	const char *after;
	const char *runs[MAX_RUNS + 1]; /* NULL-terminated */
} next_case;

static const next_case cases[] = {
	/* plain */
	{ "UTC",
	  "0 0 * * *",
	  "2025-01-01T00:00:00Z",
	  { "2025-01-02T00:00:00Z", "2025-01-03T00:00:00Z" } },
	{ "UTC",
	  "30 2 15 6 *",
	  "2025-01-01T00:00:00Z",
	  { "2025-06-15T02:30:00Z", "2026-06-15T02:30:00Z" } },
	{ "UTC",
	  "* * * * *",
	  "2025-01-01T00:00:30Z",
	  { "2025-01-01T00:01:00Z", "2025-01-01T00:02:00Z" } },
	{ "UTC",
	  "59 23 31 12 *",
	  "2025-06-01T00:00:00Z",
	  { "2025-12-31T23:59:00Z", "2026-12-31T23:59:00Z" } },
	{ "UTC",
	  "0,30 9,17 1,15 * *",
	  "2025-01-01T09:15:00Z",
	  { "2025-01-01T09:30:00Z", "2025-01-01T17:00:00Z", "2025-01-01T17:30:00Z",
	    "2025-01-15T09:00:00Z" } },
	/* stepped */
	{ "UTC",
	  "*/15 */6 * * *",
	  "2025-01-01T05:50:00Z",
	  { "2025-01-01T06:00:00Z", "2025-01-01T06:15:00Z", "2025-01-01T06:30:00Z",
	    "2025-01-01T06:45:00Z", "2025-01-01T12:00:00Z" } },
	{ "UTC",
	  "10-30/10 8-18/5 * * *",
	  "2025-01-01T00:00:00Z",
	  { "2025-01-01T08:10:00Z", "2025-01-01T08:20:00Z", "2025-01-01T08:30:00Z",
	    "2025-01-01T13:10:00Z" } },
	{ "UTC",
	  "5/20 * * * *",
	  "2025-01-01T00:00:00Z",
	  { "2025-01-01T00:05:00Z", "2025-01-01T00:25:00Z", "2025-01-01T00:45:00Z",
	    "2025-01-01T01:05:00Z" } },
	{ "UTC",
	  "0 0 1 */4 *",
	  "2025-01-01T00:00:00Z",
	  { "2025-05-01T00:00:00Z", "2025-09-01T00:00:00Z", "2026-01-01T00:00:00Z" } },
	/* named */
	{ "UTC",
	  "0 9 * * MON-FRI",
	  "2025-01-03T10:00:00Z", /* a Friday */
	  { "2025-01-06T09:00:00Z", "2025-01-07T09:00:00Z" } },
	{ "UTC",
	  "0 0 1 JAN-MAR,dec *",
	  "2025-03-15T00:00:00Z",
	  { "2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z",
	    "2026-03-01T00:00:00Z", "2026-12-01T00:00:00Z" } },
	{ "UTC",
	  "0 12 * jul sun,Sat",
	  "2025-07-01T00:00:00Z",
	  { "2025-07-05T12:00:00Z", "2025-07-06T12:00:00Z", "2025-07-12T12:00:00Z" } },
	/* macros */
	{ "UTC",
	  "@hourly",
	  "2025-01-01T00:30:00Z",
	  { "2025-01-01T01:00:00Z", "2025-01-01T02:00:00Z" } },
	{ "UTC",
	  "@daily",
	  "2025-02-28T12:00:00Z",
	  { "2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z" } },
	{ "UTC",
	  "@weekly",
	  "2025-01-01T00:00:00Z",
	  { "2025-01-05T00:00:00Z", "2025-01-12T00:00:00Z" } },
	{ "UTC",
	  "@monthly",
	  "2025-01-31T00:00:01Z",
	  { "2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z" } },
	{ "UTC",
	  "@yearly",
	  "2025-01-01T00:00:00Z",
	  { "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z" } },
	{ "Europe/Berlin",
	  "@midnight",
	  "2025-03-29T12:00:00+01:00",
	  { "2025-03-30T00:00:00+01:00", "2025-03-31T00:00:00+02:00" } },
	/* day of month and day of week: either, unless one is starred */
	{ "UTC",
	  "0 0 13 * 5",
	  "2025-06-01T00:00:00Z",
	  { "2025-06-06T00:00:00Z", "2025-06-13T00:00:00Z", "2025-06-20T00:00:00Z",
	    "2025-06-27T00:00:00Z", "2025-07-04T00:00:00Z", "2025-07-11T00:00:00Z",
	    "2025-07-13T00:00:00Z", "2025-07-18T00:00:00Z" } },
	{ "UTC",
	  "0 0 */2 * 3",
	  "2025-01-01T00:00:00Z",
	  { "2025-01-15T00:00:00Z", "2025-01-29T00:00:00Z", "2025-02-05T00:00:00Z",
	    "2025-02-19T00:00:00Z" } },
	{ "UTC",
	  "0 0 1 * MON",
	  "2025-01-01T00:00:00Z",
	  { "2025-01-06T00:00:00Z", "2025-01-13T00:00:00Z", "2025-01-20T00:00:00Z",
	    "2025-01-27T00:00:00Z", "2025-02-01T00:00:00Z", "2025-02-03T00:00:00Z" } },
	{ "UTC",
	  "0 0 ? * 7",
	  "2025-01-01T00:00:00Z",
	  { "2025-01-05T00:00:00Z", "2025-01-12T00:00:00Z" } },
	/* 29 February, and 30 February that only a Monday can rescue */
	{ "UTC",
	  "0 0 29 2 *",
	  "2025-01-01T00:00:00Z",
	  { "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z" } },
	{ "UTC",
	  "0 0 29 2 *",
	  "2097-03-01T00:00:00Z", /* 2100 is not leap */
	  { "2104-02-29T00:00:00Z" } },
	/* about the rarest schedule that runs at all: 29 February on a Sunday
	 * or Friday (a day field starting with '*' makes both day fields
	 * count), 36 years apart across 2200; found, not "never" */
	{ "UTC",
	  "0 0 29 2 */5",
	  "2184-03-01T00:00:00Z",
	  { "2188-02-29T00:00:00Z", "2224-02-29T00:00:00Z", "2228-02-29T00:00:00Z" } },
	{ "UTC",
	  "0 0 29 2 1",
	  "2027-01-01T00:00:00Z",
	  { "2027-02-01T00:00:00Z", "2027-02-08T00:00:00Z", "2027-02-15T00:00:00Z",
	    "2027-02-22T00:00:00Z", "2028-02-07T00:00:00Z", "2028-02-14T00:00:00Z" } },
	{ "UTC",
	  "0 0 30 2 MON",
	  "2025-01-01T00:00:00Z",
	  { "2025-02-03T00:00:00Z", "2025-02-10T00:00:00Z", "2025-02-17T00:00:00Z" } },
	/* a zone's own midnight */
	{ "America/New_York",
	  "0 0 1 1 *",
	  "2025-06-01T00:00:00Z",
	  { "2026-01-01T00:00:00-05:00", "2027-01-01T00:00:00-05:00" } },

	/* Berlin, spring 2025-03-30: 02:00-02:59 does not happen; a skipped
	 * minute runs when the clocks jump, 03:00 CEST. */
	{ "Europe/Berlin",
	  "30 2 * * *",
	  "2025-03-29T12:00:00+01:00",
	  { "2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00" } },
	{ "Europe/Berlin",
	  "0 2 * * *",
	  "2025-03-29T12:00:00+01:00",
	  { "2025-03-30T03:00:00+02:00", "2025-03-31T02:00:00+02:00" } },
	{ "Europe/Berlin",
	  "0 3 * * *",
	  "2025-03-29T12:00:00+01:00",
	  { "2025-03-30T03:00:00+02:00", "2025-03-31T03:00:00+02:00" } },
	{ "Europe/Berlin",
	  "*/15 * * * *",
	  "2025-03-30T01:30:00+01:00",
	  { "2025-03-30T01:45:00+01:00", "2025-03-30T03:00:00+02:00",
	    "2025-03-30T03:15:00+02:00" } },
	{ "Europe/Berlin",
	  "30 * * * *",
	  "2025-03-30T01:00:00+01:00",
	  { "2025-03-30T01:30:00+01:00", "2025-03-30T03:00:00+02:00",
	    "2025-03-30T03:30:00+02:00" } },
	/* Berlin, autumn 2025-10-26: 02:00-02:59 happens twice; it runs the
	 * first time only. */
	{ "Europe/Berlin",
	  "30 2 * * *",
	  "2025-10-25T12:00:00+02:00",
	  { "2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00" } },
	{ "Europe/Berlin",
	  "*/15 * * * *",
	  "2025-10-26T02:30:00+02:00",
	  { "2025-10-26T02:45:00+02:00", "2025-10-26T03:00:00+01:00",
	    "2025-10-26T03:15:00+01:00" } },
	{ "Europe/Berlin",
	  "0 * * * *",
	  "2025-10-26T00:30:00+02:00",
	  { "2025-10-26T01:00:00+02:00", "2025-10-26T02:00:00+02:00",
	    "2025-10-26T03:00:00+01:00", "2025-10-26T04:00:00+01:00" } },
	/* asked from inside the repeated hour: 02:30 already ran */
	{ "Europe/Berlin",
	  "30 2 * * *",
	  "2025-10-26T02:10:00+01:00",
	  { "2025-10-27T02:30:00+01:00" } },

	/* New York, 2025-03-09: 02:00-02:59 skipped; 2025-11-02: 01:00-01:59
	 * repeated. */
	{ "America/New_York",
	  "30 2 * * *",
	  "2025-03-08T12:00:00-05:00",
	  { "2025-03-09T03:00:00-04:00", "2025-03-10T02:30:00-04:00" } },
	{ "America/New_York",
	  "30 1 * * *",
	  "2025-11-01T12:00:00-04:00",
	  { "2025-11-02T01:30:00-04:00", "2025-11-03T01:30:00-05:00" } },
	{ "America/New_York",
	  "*/30 * * * *",
	  "2025-11-02T01:00:00-04:00",
	  { "2025-11-02T01:30:00-04:00", "2025-11-02T02:00:00-05:00",
	    "2025-11-02T02:30:00-05:00" } },

	/* Lord Howe, half-hour DST. 2025-10-05: 02:00-02:29 skipped (the
	 * clocks jump to 02:30); 2025-04-06: 01:30-01:59 repeated. */
	{ "Australia/Lord_Howe",
	  "0 2 * * *",
	  "2025-10-04T12:00:00+10:30",
	  { "2025-10-05T02:30:00+11:00", "2025-10-06T02:00:00+11:00" } },
	{ "Australia/Lord_Howe",
	  "15 2 * * *",
	  "2025-10-04T12:00:00+10:30",
	  { "2025-10-05T02:30:00+11:00", "2025-10-06T02:15:00+11:00" } },
	{ "Australia/Lord_Howe",
	  "*/15 * * * *",
	  "2025-10-05T01:30:00+10:30",
	  { "2025-10-05T01:45:00+10:30", "2025-10-05T02:30:00+11:00",
	    "2025-10-05T02:45:00+11:00" } },
	{ "Australia/Lord_Howe",
	  "0 2 * * *",
	  "2025-04-05T12:00:00+11:00",
	  { "2025-04-06T02:00:00+10:30", "2025-04-07T02:00:00+10:30" } },
	{ "Australia/Lord_Howe",
	  "45 1 * * *",
	  "2025-04-05T12:00:00+11:00",
	  { "2025-04-06T01:45:00+11:00", "2025-04-07T01:45:00+10:30" } },
	{ "Australia/Lord_Howe",
	  "*/15 * * * *",
	  "2025-04-06T01:30:00+11:00",
	  { "2025-04-06T01:45:00+11:00", "2025-04-06T02:00:00+10:30",
	    "2025-04-06T02:15:00+10:30" } },
};

/* Walks a case: each run is the next after the one before; prev at a run
 * is that run, and just before it the run before. */
static void check_case(const next_case *nc)
{
	app_cron c = parse(nc->expr, "ns/name");
	ss_tz *tz = load(nc->zone);
	int64_t t = at(nc->after), prev_run = INT64_MIN;
	size_t i;

	for (i = 0; nc->runs[i]; i++) {
		int64_t want = at(nc->runs[i]), got = 0;

		if (app_cron_next(&got, &c, tz, t) != 0)
			fail_msg("%s \"%s\" after %s: %s", nc->zone, nc->expr, fmt(t),
				 ss_error_last()->message);
		if (got != want)
			fail_msg("%s \"%s\" after %s: got %s, want %s", nc->zone,
				 nc->expr, fmt(t), fmt(got), fmt(want));
		/* strictly after: one nanosecond earlier still finds it */
		assert_int_equal(app_cron_next(&got, &c, tz, want - 1), 0);
		assert_true(got == want);
		assert_int_equal(app_cron_prev(&got, &c, tz, want), 0);
		if (got != want)
			fail_msg("%s \"%s\" prev at %s: got %s", nc->zone, nc->expr,
				 fmt(want), fmt(got));
		if (prev_run != INT64_MIN) {
			assert_int_equal(app_cron_prev(&got, &c, tz, want - 1), 0);
			if (got != prev_run)
				fail_msg("%s \"%s\" prev before %s: got %s, want %s",
					 nc->zone, nc->expr, fmt(want), fmt(got),
					 fmt(prev_run));
		}
		prev_run = want;
		t = want;
	}
	ss_tz_free(tz);
}

static void test_next_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i]);
}

/* The only set bit of a one-value field. */
static int only_bit(uint64_t bits)
{
	int i;

	for (i = 0; i < 64; i++)
		if (bits == (1ULL << i))
			return i;
	fail_msg("not one bit: %llx", (unsigned long long)bits);
	return -1;
}

/* H picks stable times from the seed; next follows whatever it picked. */
static void test_h_with_seed(void **state)
{
	static const char *const seeds[] = { "default/nightly", "prod/db-backup", "a/b" };
	ss_tz *tz = load("UTC");
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		app_cron daily = parse("H H * * *", seeds[i]);
		app_cron quarter = parse("H/15 * * * *", seeds[i]);
		int m = only_bit(daily.minutes), h = only_bit(daily.hours), off;
		int64_t day = at("2025-05-01T00:00:00Z"), got, t;

		assert_int_equal(app_cron_next(&got, &daily, tz, day - 1), 0);
		assert_true(got == day + (h * 3600LL + m * 60LL) * SS_NS_PER_SEC);
		assert_int_equal(app_cron_next(&t, &daily, tz, got), 0);
		assert_true(t - got == 86400 * SS_NS_PER_SEC);
		/* every 15 minutes from a stable offset below 15 */
		assert_int_equal(app_cron_next(&got, &quarter, tz, day - 1), 0);
		off = (int)((got - day) / (60 * SS_NS_PER_SEC));
		assert_true(off >= 0 && off < 15);
		for (m = 0; m < 8; m++) {
			assert_int_equal(app_cron_next(&t, &quarter, tz, got), 0);
			assert_true(t - got == 15 * 60 * SS_NS_PER_SEC);
			got = t;
		}
	}
	ss_tz_free(tz);
}

static void test_prev(void **state)
{
	static const struct {
		const char *zone, *expr, *at, *want;
	} cases_prev[] = {
		{ "UTC", "0 0 * * *", "2025-01-02T00:00:00Z", "2025-01-02T00:00:00Z" },
		{ "UTC", "0 0 * * *", "2025-01-01T23:59:59.999999999Z",
		  "2025-01-01T00:00:00Z" },
		{ "UTC", "0 0 29 2 *", "2025-01-01T00:00:00Z", "2024-02-29T00:00:00Z" },
		{ "UTC", "0 0 29 2 */5", "2224-02-28T00:00:00Z", "2188-02-29T00:00:00Z" },
		{ "UTC", "0 9 * * MON-FRI", "2025-01-05T12:00:00Z", /* Sunday */
		  "2025-01-03T09:00:00Z" },
		/* the repeated hour: the run was the first 02:30 */
		{ "Europe/Berlin", "30 2 * * *", "2025-10-26T02:40:00+01:00",
		  "2025-10-26T02:30:00+02:00" },
		{ "Europe/Berlin", "*/15 * * * *", "2025-10-26T02:50:00+01:00",
		  "2025-10-26T02:45:00+02:00" },
		/* the gap: the run was at the jump */
		{ "Europe/Berlin", "30 2 * * *", "2025-03-30T03:05:00+02:00",
		  "2025-03-30T03:00:00+02:00" },
		{ "Australia/Lord_Howe", "0 2 * * *", "2025-10-05T02:40:00+11:00",
		  "2025-10-05T02:30:00+11:00" },
		{ "Australia/Lord_Howe", "45 1 * * *", "2025-04-06T01:50:00+10:30",
		  "2025-04-06T01:45:00+11:00" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases_prev) / sizeof(cases_prev[0]); i++) {
		app_cron c = parse(cases_prev[i].expr, "ns/name");
		ss_tz *tz = load(cases_prev[i].zone);
		int64_t got = 0;

		assert_int_equal(app_cron_prev(&got, &c, tz, at(cases_prev[i].at)), 0);
		if (got != at(cases_prev[i].want))
			fail_msg("%s \"%s\" prev at %s: got %s, want %s",
				 cases_prev[i].zone, cases_prev[i].expr, cases_prev[i].at,
				 fmt(got), cases_prev[i].want);
		ss_tz_free(tz);
	}
}

static void test_never(void **state)
{
	static const char *const never[] = {
		"0 0 30 2 *",
		"0 0 31 2 *",
		"0 0 31 4,6,9,11 *",
		"0 0 30 2 ?",
	};
	ss_tz *tz = load("Europe/Berlin");
	int64_t out = 42;
	app_cron c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		c = parse(never[i], "ns/name");
		assert_int_equal(app_cron_next(&out, &c, tz, at("2025-01-01T00:00:00Z")),
				 SS_ENOTFOUND);
		tu_assert_error(SS_ENOTFOUND,
				"no run in the 40 years from 2025-01-01 01:01");
		tu_assert_error(SS_ENOTFOUND, "(Europe/Berlin)");
		assert_int_equal(app_cron_prev(&out, &c, tz, at("2025-01-01T00:00:00Z")),
				 SS_ENOTFOUND);
		tu_assert_error(SS_ENOTFOUND,
				"no run in the 40 years up to 2025-01-01 01:00");
		assert_true(out == 42);
	}
	c = parse("once", "ns/name");
	assert_int_equal(app_cron_next(&out, &c, tz, 0), SS_ENOTFOUND);
	tu_assert_error(SS_ENOTFOUND, "\"once\" schedule has no recurring run times");
	assert_int_equal(app_cron_prev(&out, &c, tz, 0), SS_ENOTFOUND);
	/* a hand-made value with no bits at all */
	memset(&c, 0, sizeof(c));
	assert_int_equal(app_cron_next(&out, &c, tz, 0), SS_ENOTFOUND);
	tu_assert_error(SS_ENOTFOUND, "matches no time");
	assert_true(out == 42);
	ss_tz_free(tz);
}

/* The ends of the nanosecond clock (1677-09-21 to 2262-04-11). */
static void test_clock_range(void **state)
{
	ss_tz *tz = load("Europe/Berlin");
	app_cron yearly = parse("@yearly", NULL), minutely = parse("* * * * *", NULL);
	int64_t out = 0;

	(void)state;
	assert_int_equal(app_cron_next(&out, &yearly, tz, INT64_MAX), SS_ENOTFOUND);
	tu_assert_error(SS_ENOTFOUND, "outside the years the clock can count");
	assert_int_equal(app_cron_next(&out, &yearly, tz, at("2262-01-01T00:00:00Z")),
			 SS_ENOTFOUND);
	assert_int_equal(app_cron_next(&out, &minutely, tz, at("2262-04-11T20:00:00Z")),
			 0);
	assert_true(out == at("2262-04-11T20:01:00Z"));
	assert_int_equal(app_cron_prev(&out, &yearly, tz, INT64_MIN), SS_ENOTFOUND);
	assert_int_equal(app_cron_next(&out, &yearly, tz, INT64_MIN), 0);
	assert_true(out > INT64_MIN);
	assert_int_equal(app_cron_prev(&out, &minutely, tz, INT64_MAX), 0);
	assert_true(out <= INT64_MAX && out > INT64_MAX - 61 * SS_NS_PER_SEC);
	ss_tz_free(tz);
}

/* ---- against brute force --------------------------------------------- */

#define MAX_DUE 8192

/* Every due instant in [from, to), found by walking the instants minute by
 * minute and keeping the highest wall-clock minute seen: a matching minute
 * above the old mark and at most the current reading is due now. All the
 * zones here change offset on whole minutes. */
static size_t brute_force(int64_t *due, const app_cron *c, const ss_tz *tz, int64_t from,
			  int64_t to)
{
	int64_t u, mark = INT64_MIN;
	size_t n = 0;

	for (u = from - 3 * 86400; u < to; u += 60) {
		ss_civil now;
		int64_t reading, m;
		bool hit = false;

		assert_int_equal(ss_tz_local(tz, u, &now), 0);
		reading = u + now.utc_offset_s;
		for (m = mark == INT64_MIN ? reading : mark + 60; m <= reading; m += 60) {
			ss_civil lc;

			assert_int_equal(ss_civil_from_seconds(&lc, m), 0);
			if (app_cron_matches(c, lc.minute, lc.hour, lc.day, lc.month,
					     lc.wday))
				hit = true;
		}
		if (reading > mark)
			mark = reading;
		if (hit && u >= from) {
			assert_true(n < MAX_DUE);
			due[n++] = u;
		}
	}
	return n;
}

/* next and prev at instants across [from, to) (odd seconds) and at every
 * run, against the brute-force list. */
static void check_window(const char *zone, const ss_tz *tz, const char *expr,
			 int64_t from, int64_t to, int64_t *due)
{
	app_cron c = parse(expr, "ns/name");
	size_t n = brute_force(due, &c, tz, from, to), k = 0;
	int64_t t;

	assert_true(n > 0);
	for (t = from; t < due[n - 1]; t += 397) {
		int64_t got, q = t * SS_NS_PER_SEC;

		while (due[k] <= t)
			k++;
		assert_int_equal(app_cron_next(&got, &c, tz, q), 0);
		if (got != due[k] * SS_NS_PER_SEC)
			fail_msg("%s \"%s\" next after %s: got %s, want %s", zone, expr,
				 fmt(q), fmt(got), fmt(due[k] * SS_NS_PER_SEC));
		if (k == 0)
			continue;
		assert_int_equal(app_cron_prev(&got, &c, tz, q), 0);
		if (got != due[k - 1] * SS_NS_PER_SEC)
			fail_msg("%s \"%s\" prev at %s: got %s, want %s", zone, expr,
				 fmt(q), fmt(got), fmt(due[k - 1] * SS_NS_PER_SEC));
	}
	for (k = 0; k + 1 < n; k++) {
		int64_t got;

		assert_int_equal(app_cron_next(&got, &c, tz, due[k] * SS_NS_PER_SEC), 0);
		assert_true(got == due[k + 1] * SS_NS_PER_SEC);
		assert_int_equal(app_cron_prev(&got, &c, tz, due[k] * SS_NS_PER_SEC), 0);
		assert_true(got == due[k] * SS_NS_PER_SEC);
	}
}

static void test_against_brute_force(void **state)
{
	static const char *const zones[] = { "UTC", "Europe/Berlin", "America/New_York",
					     "Australia/Lord_Howe" };
	static const char *const exprs[] = {
		"*/15 * * * *", "30 2 * * *",	"0 2 * * *",	    "45 1 * * *",
		"30 * * * *",	"0 0 * * *",	"H H * * *",	    "15,45 1-3 * * 0",
		"0 */2 * * *",	"29 2,3 * * *", "0-59/7 1-2 * * *",
	};
	static int64_t due[MAX_DUE];
	size_t z, e;

	(void)state;
	for (z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		ss_tz *tz = load(zones[z]);
		int64_t u = at("2025-01-01T00:00:00Z") / SS_NS_PER_SEC;
		int64_t year_end = at("2026-01-01T00:00:00Z") / SS_NS_PER_SEC;
		int64_t centers[8];
		size_t nc = 0, w;

		/* two days either side of every transition of 2025 (mid-year
		 * for UTC) */
		for (;;) {
			ss_tz_period p;

			assert_int_equal(ss_tz_period_at(tz, u, &p), 0);
			if (p.end_s >= year_end || nc == 8)
				break;
			centers[nc++] = p.end_s;
			u = p.end_s;
		}
		if (nc == 0)
			centers[nc++] = at("2025-07-01T00:00:00Z") / SS_NS_PER_SEC;
		for (w = 0; w < nc; w++) {
			for (e = 0; e < sizeof(exprs) / sizeof(exprs[0]); e++)
				check_window(zones[z], tz, exprs[e],
					     centers[w] - 2 * 86400,
					     centers[w] + 2 * 86400, due);
		}
		ss_tz_free(tz);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_table),
		cmocka_unit_test(test_h_with_seed),
		cmocka_unit_test(test_prev),
		cmocka_unit_test(test_never),
		cmocka_unit_test(test_clock_range),
		cmocka_unit_test(test_against_brute_force),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
