/*
 * test_retention.c — the retention decision (app/schedule/retention.h),
 * from a table.
 *
 * Each case is a rule set, a "now" and a list of Backups written as UTC
 * times ("2025-03-04T10:00") with the decision and reason expected for each.
 * The local civil fields are computed here from the UTC time and a fixed
 * offset ("+01:00"; default UTC) with proleptic-Gregorian day arithmetic,
 * standing in for util/tz; a row may give its own offset, to show a DST
 * change. Every case runs in several input orders (as written, reversed and
 * shuffled with a fixed seed) and must decide the same each time.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "app/api/owner.h"
#include "app/schedule/retention.h"
#include "util/clock.h"
#include "util/error.h"

#define HOUR INT64_C(3600)
#define DAY (24 * HOUR)

/* ---- civil time, standing in for util/tz ------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * algorithm), and back. */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t yy = (int64_t)y - (m <= 2);
	int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
	int64_t yoe = yy - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* "+01:00" / "-05:00" / NULL (UTC) as seconds east of UTC. */
static int64_t offset_seconds(const char *tz)
{
	int sign;

	if (tz == NULL)
		return 0;
	if (strlen(tz) != 6 || (tz[0] != '+' && tz[0] != '-') || tz[3] != ':')
		fail_msg("bad test offset %s", tz);
	sign = tz[0] == '-' ? -1 : 1;
	return sign * (((tz[1] - '0') * 10 + (tz[2] - '0')) * HOUR +
		       ((tz[4] - '0') * 10 + (tz[5] - '0')) * 60);
}

/* The local civil time of `utc_ns` at a fixed offset, with its ISO week:
 * the week belongs to the year of its Thursday. */
static app_civil_time civil_at(int64_t utc_ns, const char *tz)
{
	app_civil_time c;
	int64_t local = utc_ns / SS_NS_PER_SEC + offset_seconds(tz);
	/* The test's times are after 1970, so plain division floors. */
	int64_t days = local / DAY;
	/* 1970-01-01 was a Thursday; Monday is 1. */
	int64_t weekday = (days + 3) % 7 + 1;
	int64_t thursday = days - weekday + 4;
	int tm, td;

	civil_from_days(days, &c.year, &c.month, &c.day);
	c.hour = (int)(local % DAY / HOUR);
	civil_from_days(thursday, &c.iso_year, &tm, &td);
	c.iso_week = (int)((thursday - days_from_civil(c.iso_year, 1, 1)) / 7 + 1);
	return c;
}

/* "2025-03-04T10:00" (UTC) as ns since the epoch. */
static int64_t utc_ns(const char *when)
{
	char text[64];
	int64_t ns;

	snprintf(text, sizeof(text), "%s:00Z", when);
	if (ss_time_parse(&ns, text) != 0)
		fail_msg("bad test time %s: %s", when, ss_error_last()->message);
	return ns;
}

/* ---- the table --------------------------------------------------------- */

/* The table is laid out by hand, one Backup a line. */
/* clang-format off */
#define DONE APP_RETENTION_COMPLETED
#define FAILED APP_RETENTION_FAILED
#define RUNNING APP_RETENTION_RUNNING
#define KEEP APP_RETENTION_KEEP
#define PRUNE APP_RETENTION_PRUNE
#define RULES(...) { .enabled = true, __VA_ARGS__ }
/* A row: name, UTC time, state, expected verdict and reason; BX adds
 * .pin, .use, .ver (verified), .vfy (being verified) or .tz. */
#define B(n, w, s, v, r) { .name = n, .when = w, .state = s, .expect = v, .reason = r }
#define BX(n, w, s, v, r, ...) \
	{ .name = n, .when = w, .state = s, .expect = v, .reason = r, __VA_ARGS__ }
#define MAX_ROWS 16

typedef struct {
	const char *name;
	const char *when; /* UTC */
	app_retention_state state;
	app_retention_verdict expect;
	const char *reason; /* expected reason text */
	bool pin, use;
	bool ver, vfy;	/* verification passed; being verified */
	const char *tz; /* this row's offset; NULL: the case's */
} row;

typedef struct {
	const char *title;
	app_retention rules;
	const char *now; /* NULL: 2026-01-01T00:00 */
	const char *tz;	 /* NULL: UTC */
	row rows[MAX_ROWS];
} rcase;

static const rcase cases[] = {
	{ "keepLast keeps the N newest completed; failed and running do not count",
	  RULES(.keep_last = 3, .keep_failed = 1),
	  NULL, NULL,
	  { B("r", "2025-03-07T10:00", RUNNING, KEEP, "running"),
	    B("f", "2025-03-06T10:00", FAILED, KEEP, "keepFailed"),
	    B("e", "2025-03-05T10:00", DONE, KEEP, "newest successful backup"),
	    B("d", "2025-03-04T10:00", DONE, KEEP, "keepLast"),
	    B("c", "2025-03-03T10:00", DONE, KEEP, "keepLast"),
	    B("b", "2025-03-02T10:00", DONE, PRUNE, "not selected by any rule"),
	    B("a", "2025-03-01T10:00", DONE, PRUNE, "not selected by any rule") } },

	{ "keepHourly: the newest of each of the last N hours that have one",
	  RULES(.keep_hourly = 3),
	  NULL, NULL,
	  { B("h1310", "2025-03-04T13:10", DONE, KEEP, "newest successful backup"),
	    /* no Backup at 12: the gap is skipped, not counted */
	    B("h1150", "2025-03-04T11:50", DONE, KEEP, "keepHourly 2025-03-04T11"),
	    B("h1105", "2025-03-04T11:05", DONE, PRUNE, "not selected by any rule"),
	    B("h1040", "2025-03-04T10:40", DONE, KEEP, "keepHourly 2025-03-04T10"),
	    B("h1020", "2025-03-04T10:20", DONE, PRUNE, "not selected by any rule"),
	    B("h1000", "2025-03-04T10:00", DONE, PRUNE, "not selected by any rule"),
	    B("h0900", "2025-03-04T09:00", DONE, PRUNE, "not selected by any rule") } },

	{ "keepDaily with missing days keeps the last N days that have a Backup",
	  RULES(.keep_daily = 3),
	  NULL, NULL,
	  { B("d07b", "2025-03-07T23:59", DONE, KEEP, "newest successful backup"),
	    B("d07a", "2025-03-07T12:00", DONE, PRUNE, "not selected by any rule"),
	    B("d04", "2025-03-04T03:00", DONE, KEEP, "keepDaily 2025-03-04"),
	    B("d02b", "2025-03-02T18:00", DONE, KEEP, "keepDaily 2025-03-02"),
	    B("d02a", "2025-03-02T09:00", DONE, PRUNE, "not selected by any rule"),
	    B("d01", "2025-03-01T10:00", DONE, PRUNE, "not selected by any rule") } },

	{ "keepWeekly buckets are ISO weeks, Monday first",
	  RULES(.keep_weekly = 2),
	  NULL, NULL,
	  { B("sun16", "2025-03-16T10:00", DONE, KEEP, "newest successful backup"),
	    B("mon10", "2025-03-10T10:00", DONE, PRUNE, "not selected by any rule"),
	    B("sun09", "2025-03-09T22:00", DONE, KEEP, "keepWeekly 2025-W10"),
	    B("mon03", "2025-03-03T01:00", DONE, PRUNE, "not selected by any rule"),
	    B("fri28", "2025-02-28T10:00", DONE, PRUNE, "not selected by any rule") } },

	{ "keepMonthly",
	  RULES(.keep_monthly = 2),
	  NULL, NULL,
	  { B("m0331", "2025-03-31T23:00", DONE, KEEP, "newest successful backup"),
	    B("m0301", "2025-03-01T00:00", DONE, PRUNE, "not selected by any rule"),
	    B("m0227", "2025-02-27T10:00", DONE, KEEP, "keepMonthly 2025-02"),
	    B("m0201", "2025-02-01T00:30", DONE, PRUNE, "not selected by any rule"),
	    B("m0131", "2025-01-31T12:00", DONE, PRUNE, "not selected by any rule") } },

	{ "keepYearly",
	  RULES(.keep_yearly = 2),
	  NULL, NULL,
	  { B("y2025", "2025-02-01T00:00", DONE, KEEP, "newest successful backup"),
	    B("y2024b", "2024-07-01T00:00", DONE, KEEP, "keepYearly 2024"),
	    B("y2024a", "2024-01-01T00:00", DONE, PRUNE, "not selected by any rule"),
	    B("y2023b", "2023-12-31T23:00", DONE, PRUNE, "not selected by any rule"),
	    B("y2023a", "2023-06-01T00:00", DONE, PRUNE, "not selected by any rule") } },

	{ "combined rules: kept once, named by the first rule; rules count independently",
	  RULES(.keep_last = 2, .keep_daily = 3, .keep_weekly = 2, .keep_monthly = 2,
		.keep_yearly = 1),
	  NULL, NULL,
	  { B("c0310", "2025-03-10T03:00", DONE, KEEP, "newest successful backup"),
	    /* kept by keepLast, keepDaily and keepWeekly: keepLast is named */
	    B("c0309", "2025-03-09T03:00", DONE, KEEP, "keepLast"),
	    B("c0308", "2025-03-08T03:00", DONE, KEEP, "keepDaily 2025-03-08"),
	    B("c0307", "2025-03-07T03:00", DONE, PRUNE, "not selected by any rule"),
	    B("c0301", "2025-03-01T03:00", DONE, PRUNE, "not selected by any rule"),
	    B("c0220", "2025-02-20T03:00", DONE, KEEP, "keepMonthly 2025-02"),
	    B("c0210", "2025-02-10T03:00", DONE, PRUNE, "not selected by any rule"),
	    B("c0115", "2025-01-15T03:00", DONE, PRUNE, "not selected by any rule"),
	    B("c1231", "2024-12-31T03:00", DONE, PRUNE, "not selected by any rule") } },

	{ "everything is older than maxAge: the newest successful backup survives",
	  RULES(.keep_daily = 7, .max_age_seconds = 7 * DAY, .keep_failed = 3),
	  "2025-06-01T00:00", NULL,
	  { B("f0306", "2025-03-06T03:00", FAILED, PRUNE, "older than maxAge"),
	    B("o0305", "2025-03-05T03:00", DONE, KEEP, "newest successful backup"),
	    B("o0304", "2025-03-04T03:00", DONE, PRUNE, "older than maxAge"),
	    B("o0303", "2025-03-03T03:00", DONE, PRUNE, "older than maxAge") } },

	{ "every count 0 and no maxAge: only the newest successful backup is kept",
	  RULES(.keep_failed = 0),
	  NULL, NULL,
	  { B("z3", "2025-03-03T03:00", DONE, KEEP, "newest successful backup"),
	    B("z2", "2025-03-02T03:00", DONE, PRUNE, "not selected by any rule"),
	    B("z1", "2025-03-01T03:00", FAILED, PRUNE, "beyond keepFailed") } },

	{ "pinned, in use and running are never pruned, not even past maxAge",
	  RULES(.keep_last = 1, .max_age_seconds = DAY, .keep_failed = 0),
	  "2025-06-01T00:00", NULL,
	  { B("run-new", "2025-06-01T00:00", RUNNING, KEEP, "running"),
	    B("newest", "2025-05-31T12:00", DONE, KEEP, "newest successful backup"),
	    B("old", "2025-05-01T00:00", DONE, PRUNE, "older than maxAge"),
	    B("run-stuck", "2025-01-03T00:00", RUNNING, KEEP, "running"),
	    BX("used", "2025-01-02T00:00", DONE, KEEP, "in use by a Restore",
	       .use = true),
	    BX("both", "2025-01-02T06:00", DONE, KEEP, "in use by a Restore",
	       .use = true, .pin = true),
	    BX("pinned", "2025-01-01T00:00", DONE, KEEP, "pinned", .pin = true),
	    BX("pin-failed", "2024-12-01T00:00", FAILED, KEEP, "pinned", .pin = true),
	    BX("used-failed", "2024-11-01T00:00", FAILED, KEEP, "in use by a Restore",
	       .use = true) } },

	{ "a pinned Backup still takes its keepLast place",
	  RULES(.keep_last = 2),
	  NULL, NULL,
	  { B("n3", "2025-03-03T03:00", DONE, KEEP, "newest successful backup"),
	    BX("n2", "2025-03-02T03:00", DONE, KEEP, "pinned", .pin = true),
	    B("n1", "2025-03-01T03:00", DONE, PRUNE, "not selected by any rule") } },

	{ "failed Backups are kept up to keepFailed, newest first",
	  RULES(.keep_last = 1, .keep_failed = 2),
	  NULL, NULL,
	  { B("f4", "2025-03-04T03:00", FAILED, KEEP, "keepFailed"),
	    B("f3", "2025-03-03T03:00", FAILED, KEEP, "keepFailed"),
	    B("ok", "2025-03-02T23:00", DONE, KEEP, "newest successful backup"),
	    B("f2", "2025-03-02T03:00", FAILED, PRUNE, "beyond keepFailed"),
	    B("f1", "2025-03-01T03:00", FAILED, PRUNE, "beyond keepFailed") } },

	{ "no completed Backup: nothing is 'newest successful'",
	  RULES(.keep_last = 1, .keep_failed = 1),
	  NULL, NULL,
	  { B("r1", "2025-03-03T03:00", RUNNING, KEEP, "running"),
	    B("f2", "2025-03-02T03:00", FAILED, KEEP, "keepFailed"),
	    B("f1", "2025-03-01T03:00", FAILED, PRUNE, "beyond keepFailed") } },

	{ "maxAge caps the keep rules (exactly maxAge old is not older)",
	  RULES(.keep_daily = 10, .max_age_seconds = 3 * DAY),
	  "2025-03-10T12:00", NULL,
	  { B("a10", "2025-03-10T03:00", DONE, KEEP, "newest successful backup"),
	    B("a09", "2025-03-09T03:00", DONE, KEEP, "keepDaily 2025-03-09"),
	    B("a08", "2025-03-08T03:00", DONE, KEEP, "keepDaily 2025-03-08"),
	    B("a07b", "2025-03-07T12:00", DONE, KEEP, "keepDaily 2025-03-07"),
	    B("a07a", "2025-03-07T11:59", DONE, PRUNE, "older than maxAge"),
	    B("a06", "2025-03-06T03:00", DONE, PRUNE, "older than maxAge") } },

	{ "maxAge alone keeps what is younger and prunes the rest",
	  RULES(.max_age_seconds = 2 * DAY, .keep_failed = 3),
	  "2025-03-10T00:00", NULL,
	  { B("w0912", "2025-03-09T12:00", DONE, KEEP, "newest successful backup"),
	    B("w0812", "2025-03-08T12:00", DONE, KEEP, "within maxAge"),
	    B("w0800", "2025-03-08T00:00", DONE, KEEP, "within maxAge"),
	    B("wf", "2025-03-07T12:00", FAILED, PRUNE, "older than maxAge"),
	    B("w0723", "2025-03-07T23:00", DONE, PRUNE, "older than maxAge"),
	    B("w0712", "2025-03-07T12:01", DONE, PRUNE, "older than maxAge") } },

	{ "ISO week across the year boundary: 2024-12-30 is 2025-W01",
	  RULES(.keep_weekly = 2),
	  NULL, NULL,
	  { B("jan02", "2025-01-02T10:00", DONE, KEEP, "newest successful backup"),
	    B("dec30", "2024-12-30T10:00", DONE, PRUNE, "not selected by any rule"),
	    B("dec29", "2024-12-29T10:00", DONE, KEEP, "keepWeekly 2024-W52") } },

	{ "...while keepYearly uses the calendar year",
	  RULES(.keep_yearly = 2),
	  NULL, NULL,
	  { B("jan02", "2025-01-02T10:00", DONE, KEEP, "newest successful backup"),
	    B("dec30", "2024-12-30T10:00", DONE, KEEP, "keepYearly 2024"),
	    B("dec29", "2024-12-29T10:00", DONE, PRUNE, "not selected by any rule") } },

	{ "a 53-week year: 2021-01-03 is 2020-W53",
	  RULES(.keep_weekly = 2),
	  NULL, NULL,
	  { B("jan04", "2021-01-04T10:00", DONE, KEEP, "newest successful backup"),
	    B("jan03", "2021-01-03T10:00", DONE, KEEP, "keepWeekly 2020-W53"),
	    B("dec28", "2020-12-28T10:00", DONE, PRUNE, "not selected by any rule") } },

	{ "daily buckets in UTC",
	  RULES(.keep_daily = 2),
	  NULL, NULL,
	  { B("t2330", "2025-03-04T23:30", DONE, KEEP, "newest successful backup"),
	    B("t2000", "2025-03-04T20:00", DONE, PRUNE, "not selected by any rule"),
	    B("t0303", "2025-03-03T12:00", DONE, KEEP, "keepDaily 2025-03-03") } },

	{ "...the same Backups at +01:00: 23:30 UTC is the next local day",
	  RULES(.keep_daily = 2),
	  NULL, "+01:00",
	  { B("t2330", "2025-03-04T23:30", DONE, KEEP, "newest successful backup"),
	    B("t2000", "2025-03-04T20:00", DONE, KEEP, "keepDaily 2025-03-04"),
	    B("t0303", "2025-03-03T12:00", DONE, PRUNE, "not selected by any rule") } },

	{ "at -05:00, 03:00 UTC is still the previous local day",
	  RULES(.keep_daily = 2),
	  NULL, "-05:00",
	  { B("u0503", "2025-03-05T03:00", DONE, KEEP, "newest successful backup"),
	    B("u0415", "2025-03-04T15:00", DONE, PRUNE, "not selected by any rule"),
	    B("u0312", "2025-03-03T12:00", DONE, KEEP, "keepDaily 2025-03-03") } },

	{ "at +01:00, Sunday 23:30 UTC is Monday: the next ISO week",
	  RULES(.keep_weekly = 2),
	  NULL, "+01:00",
	  { B("sun2330", "2025-03-16T23:30", DONE, KEEP, "newest successful backup"),
	    B("sun1000", "2025-03-16T10:00", DONE, KEEP, "keepWeekly 2025-W11"),
	    B("mon1000", "2025-03-10T10:00", DONE, PRUNE, "not selected by any rule") } },

	{ "DST fall-back (Europe/Berlin 2025-10-26): the repeated 02 hour is one bucket",
	  RULES(.keep_hourly = 2),
	  NULL, NULL,
	  { BX("cet0230", "2025-10-26T01:30", DONE, KEEP, "newest successful backup",
	       .tz = "+01:00"),
	    BX("cest0230", "2025-10-26T00:30", DONE, PRUNE, "not selected by any rule",
	       .tz = "+02:00"),
	    BX("cest0130", "2025-10-25T23:30", DONE, KEEP, "keepHourly 2025-10-26T01",
	       .tz = "+02:00"),
	    BX("cest0030", "2025-10-25T22:30", DONE, PRUNE, "not selected by any rule",
	       .tz = "+02:00") } },

	{ "equal times: the greater name is the newer",
	  RULES(.keep_last = 2),
	  NULL, NULL,
	  { B("nightly-a", "2025-03-04T03:00", DONE, PRUNE, "not selected by any rule"),
	    B("nightly-c", "2025-03-04T03:00", DONE, KEEP, "newest successful backup"),
	    B("nightly-b", "2025-03-04T03:00", DONE, KEEP, "keepLast") } },

	{ "retention disabled: nothing is pruned",
	  { .enabled = false, .keep_last = 1, .max_age_seconds = DAY },
	  "2025-06-01T00:00", NULL,
	  { B("x3", "2025-03-03T03:00", DONE, KEEP, "retention disabled"),
	    B("x2", "2025-03-02T03:00", DONE, KEEP, "retention disabled"),
	    B("x1", "2025-03-01T03:00", FAILED, KEEP, "retention disabled") } },

	{ "requireVerified: the newest verified Backup is never pruned",
	  RULES(.keep_last = 1, .keep_failed = 0, .require_verified = true),
	  NULL, NULL,
	  { B("v5", "2025-03-05T03:00", DONE, KEEP, "newest successful backup"),
	    B("v4", "2025-03-04T03:00", DONE, PRUNE, "not selected by any rule"),
	    BX("v3", "2025-03-03T03:00", DONE, KEEP, "newest verified", .ver = true),
	    BX("v2", "2025-03-02T03:00", DONE, PRUNE, "not selected by any rule",
	       .ver = true),
	    B("v1", "2025-03-01T03:00", DONE, PRUNE, "not selected by any rule") } },

	{ "...not without requireVerified",
	  RULES(.keep_last = 1, .keep_failed = 0),
	  NULL, NULL,
	  { B("v5", "2025-03-05T03:00", DONE, KEEP, "newest successful backup"),
	    BX("v3", "2025-03-03T03:00", DONE, PRUNE, "not selected by any rule",
	       .ver = true) } },

	{ "requireVerified: a verified Backup no longer restorable proves nothing",
	  RULES(.keep_last = 1, .keep_failed = 0, .require_verified = true),
	  NULL, NULL,
	  { B("w5", "2025-03-05T03:00", DONE, KEEP, "newest successful backup"),
	    BX("w4", "2025-03-04T03:00", FAILED, PRUNE, "beyond keepFailed",
	       .ver = true),
	    BX("w3", "2025-03-03T03:00", DONE, KEEP, "newest verified", .ver = true),
	    B("w1", "2025-03-01T03:00", DONE, PRUNE, "not selected by any rule") } },

	{ "requireVerified: the newest is also the newest verified: named newest",
	  RULES(.keep_last = 1, .keep_failed = 0, .require_verified = true),
	  NULL, NULL,
	  { BX("x5", "2025-03-05T03:00", DONE, KEEP, "newest successful backup",
	       .ver = true),
	    BX("x4", "2025-03-04T03:00", DONE, PRUNE, "not selected by any rule",
	       .ver = true) } },

	{ "requireVerified protects even past maxAge",
	  RULES(.keep_last = 1, .max_age_seconds = DAY, .require_verified = true),
	  "2025-06-01T00:00", NULL,
	  { B("y5", "2025-05-31T12:00", DONE, KEEP, "newest successful backup"),
	    BX("y3", "2025-03-03T03:00", DONE, KEEP, "newest verified", .ver = true),
	    B("y1", "2025-03-01T03:00", DONE, PRUNE, "older than maxAge") } },

	{ "a Backup being verified is kept, with or without requireVerified",
	  RULES(.keep_last = 1, .max_age_seconds = DAY, .keep_failed = 0),
	  "2025-06-01T00:00", NULL,
	  { B("z5", "2025-05-31T12:00", DONE, KEEP, "newest successful backup"),
	    BX("z4", "2025-03-04T03:00", DONE, KEEP, "being verified", .vfy = true),
	    BX("z3", "2025-03-03T03:00", FAILED, KEEP, "being verified", .vfy = true),
	    B("z1", "2025-03-01T03:00", DONE, PRUNE, "older than maxAge") } },

	{ "dryRun decides the same",
	  RULES(.keep_last = 1, .dry_run = true),
	  NULL, NULL,
	  { B("y2", "2025-03-02T03:00", DONE, KEEP, "newest successful backup"),
	    B("y1", "2025-03-01T03:00", DONE, PRUNE, "not selected by any rule") } },
};

/* clang-format on */

#define N_CASES (sizeof(cases) / sizeof(cases[0]))
#define N_ORDERS 6

static size_t count_rows(const rcase *c)
{
	size_t n = 0;

	while (n < MAX_ROWS && c->rows[n].name != NULL)
		n++;
	return n;
}

/* Order `k` of n rows: 0 as written, 1 reversed, the rest shuffled
 * (Fisher-Yates with a fixed LCG, so a failure reproduces). */
static void make_order(size_t *perm, size_t n, int k)
{
	uint32_t seed = 2654435761u * (uint32_t)(k + 1);

	for (size_t i = 0; i < n; i++)
		perm[i] = k == 1 ? n - 1 - i : i;
	if (k < 2)
		return;
	for (size_t i = n; i > 1; i--) {
		size_t j, t;

		seed = seed * 1664525u + 1013904223u;
		j = (seed >> 8) % i;
		t = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = t;
	}
}

static void fill_backup(app_retention_backup *b, const rcase *c, const row *r)
{
	memset(b, 0, sizeof(*b));
	b->name = r->name;
	b->state = r->state;
	b->pinned = r->pin;
	b->in_use = r->use;
	b->verified = r->ver;
	b->being_verified = r->vfy;
	b->time_ns = utc_ns(r->when);
	b->local = civil_at(b->time_ns, r->tz != NULL ? r->tz : c->tz);
}

static void run_case(void **state)
{
	const rcase *c = *state;
	size_t n = count_rows(c);
	int64_t now = utc_ns(c->now != NULL ? c->now : "2026-01-01T00:00");

	assert_true(n > 0);
	for (int k = 0; k < N_ORDERS; k++) {
		app_retention_backup in[MAX_ROWS];
		app_retention_decision out[MAX_ROWS];
		app_retention_summary sum;
		size_t perm[MAX_ROWS], want_keep = 0;
		int rc;

		make_order(perm, n, k);
		for (size_t i = 0; i < n; i++)
			fill_backup(&in[i], c, &c->rows[perm[i]]);
		memset(&sum, 0xAB, sizeof(sum));
		rc = app_retention_decide(out, &sum, in, n, &c->rules, now);
		if (rc != 0)
			fail_msg("%s: %s", c->title, ss_error_last()->message);
		for (size_t i = 0; i < n; i++) {
			const row *r = &c->rows[perm[i]];
			const char *got = app_retention_verdict_name(out[i].verdict);
			const char *want = app_retention_verdict_name(r->expect);

			if (out[i].verdict != r->expect ||
			    strcmp(out[i].reason, r->reason) != 0)
				fail_msg("%s (order %d): %s: got %s (%s), want %s (%s)",
					 c->title, k, r->name, got, out[i].reason, want,
					 r->reason);
			if (r->expect == KEEP)
				want_keep++;
		}
		assert_int_equal(sum.n_keep, want_keep);
		assert_int_equal(sum.n_prune, n - want_keep);
		assert_int_equal(sum.dry_run, c->rules.dry_run);
	}
}

/* ---- the rest ----------------------------------------------------------- */

/* The helper itself, against dates whose ISO weeks are known. */
static void test_civil_helper(void **state)
{
	app_civil_time t;

	(void)state;
	t = civil_at(utc_ns("2024-12-30T10:00"), NULL);
	assert_int_equal(t.year, 2024);
	assert_int_equal(t.iso_year, 2025);
	assert_int_equal(t.iso_week, 1);
	t = civil_at(utc_ns("2024-12-29T10:00"), NULL);
	assert_int_equal(t.iso_year, 2024);
	assert_int_equal(t.iso_week, 52);
	t = civil_at(utc_ns("2021-01-03T10:00"), NULL);
	assert_int_equal(t.iso_year, 2020);
	assert_int_equal(t.iso_week, 53);
	t = civil_at(utc_ns("2025-03-04T23:30"), "+01:00");
	assert_int_equal(t.month, 3);
	assert_int_equal(t.day, 5);
	assert_int_equal(t.hour, 0);
	t = civil_at(utc_ns("2024-02-29T03:00"), "-05:00");
	assert_int_equal(t.month, 2);
	assert_int_equal(t.day, 28);
	assert_int_equal(t.hour, 22);
}

static void test_empty_input(void **state)
{
	app_retention rules = RULES(.keep_last = 1, .dry_run = true);
	app_retention_summary sum;

	(void)state;
	memset(&sum, 0xAB, sizeof(sum));
	assert_int_equal(app_retention_decide(NULL, &sum, NULL, 0, &rules, 0), 0);
	assert_int_equal(sum.n_keep, 0);
	assert_int_equal(sum.n_prune, 0);
	assert_true(sum.dry_run);
}

static app_retention_backup many[APP_RETENTION_MAX_BACKUPS + 1];
static app_retention_decision many_out[APP_RETENTION_MAX_BACKUPS + 1];
static char many_names[APP_RETENTION_MAX_BACKUPS + 1][16];

static void test_too_many(void **state)
{
	app_retention rules = RULES(.keep_last = 10);
	app_retention_summary sum;
	int64_t t0 = utc_ns("2025-01-01T00:00");

	(void)state;
	for (size_t i = 0; i < APP_RETENTION_MAX_BACKUPS + 1; i++) {
		snprintf(many_names[i], sizeof(many_names[i]), "b%05zu", i);
		many[i].name = many_names[i];
		many[i].state = DONE;
		many[i].time_ns = t0 + (int64_t)i * 60 * SS_NS_PER_SEC;
		many[i].local = civil_at(many[i].time_ns, NULL);
	}
	memset(many_out, 0xAB, sizeof(many_out));
	assert_int_equal(app_retention_decide(many_out, &sum, many,
					      APP_RETENTION_MAX_BACKUPS + 1, &rules, t0),
			 SS_ETOOLARGE);
	tu_assert_error(SS_ETOOLARGE, "4097 Backups");
	assert_int_equal(((unsigned char *)many_out)[0], 0xAB);

	/* The bound itself is fine: the 10 newest are kept. */
	assert_int_equal(app_retention_decide(many_out, &sum, many,
					      APP_RETENTION_MAX_BACKUPS, &rules, t0),
			 0);
	assert_int_equal(sum.n_keep, 10);
	assert_int_equal(sum.n_prune, APP_RETENTION_MAX_BACKUPS - 10);
	assert_int_equal(many_out[APP_RETENTION_MAX_BACKUPS - 1].verdict, KEEP);
	assert_int_equal(many_out[APP_RETENTION_MAX_BACKUPS - 11].verdict, PRUNE);
}

/* One bad input: decide must fail with SS_EINVALID and a message containing
 * `fragment`, and leave the output alone. */
static void expect_invalid(const app_retention_backup *in, size_t n,
			   const app_retention *rules, int64_t now, const char *fragment)
{
	app_retention_decision out[4];
	app_retention_summary sum;
	unsigned char zero[sizeof(out)];

	memset(out, 0xAB, sizeof(out));
	memset(zero, 0xAB, sizeof(zero));
	memset(&sum, 0xAB, sizeof(sum));
	assert_int_equal(app_retention_decide(out, &sum, in, n, rules, now), SS_EINVALID);
	tu_assert_error(SS_EINVALID, fragment);
	assert_memory_equal(out, zero, sizeof(out));
}

static void test_invalid_input(void **state)
{
	app_retention ok = RULES(.keep_last = 1);
	app_retention bad;
	app_retention_backup in[2];
	int64_t now = utc_ns("2025-03-05T00:00");
	app_retention_decision out[2];

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		memset(&in[i], 0, sizeof(in[i]));
		in[i].name = i == 0 ? "a" : "b";
		in[i].state = DONE;
		in[i].time_ns = utc_ns(i == 0 ? "2025-03-03T00:00" : "2025-03-04T00:00");
		in[i].local = civil_at(in[i].time_ns, NULL);
	}
	/* The base input is valid. */
	assert_int_equal(app_retention_decide(out, NULL, in, 2, &ok, now), 0);

	in[1].name = NULL;
	expect_invalid(in, 2, &ok, now, "Backup 1 has no name");
	in[1].name = "";
	expect_invalid(in, 2, &ok, now, "Backup 1 has no name");
	in[1].name = "a";
	expect_invalid(in, 2, &ok, now, "Backup a is listed twice");
	in[1].name = "b";

	in[1].state = (app_retention_state)7;
	expect_invalid(in, 2, &ok, now, "b: unknown state 7");
	in[1].state = DONE;
	in[1].time_ns = -1;
	expect_invalid(in, 2, &ok, now, "b: time before 1970");
	in[1].time_ns = now;
	in[1].local.month = 13;
	expect_invalid(in, 2, &ok, now, "b: local time");
	in[1].local.month = 3;
	in[1].local.hour = 24;
	expect_invalid(in, 2, &ok, now, "b: local time");
	in[1].local.hour = 0;
	in[1].local.iso_week = 0;
	expect_invalid(in, 2, &ok, now, "b: local time");
	in[1].local.iso_week = 10;
	in[1].local.iso_year = 2027;
	expect_invalid(in, 2, &ok, now, "b: local time");
	in[1].local.iso_year = 2025;

	bad = ok;
	bad.keep_last = -1;
	expect_invalid(in, 2, &bad, now, "retention.keepLast: must be >= 0, got -1");
	bad = ok;
	bad.keep_hourly = -2;
	expect_invalid(in, 2, &bad, now, "retention.keepHourly");
	bad = ok;
	bad.keep_daily = -1;
	expect_invalid(in, 2, &bad, now, "retention.keepDaily");
	bad = ok;
	bad.keep_weekly = -1;
	expect_invalid(in, 2, &bad, now, "retention.keepWeekly");
	bad = ok;
	bad.keep_monthly = -1;
	expect_invalid(in, 2, &bad, now, "retention.keepMonthly");
	bad = ok;
	bad.keep_yearly = -1;
	expect_invalid(in, 2, &bad, now, "retention.keepYearly");
	bad = ok;
	bad.keep_failed = -1;
	expect_invalid(in, 2, &bad, now, "retention.keepFailed");
	bad = ok;
	bad.max_age_seconds = -1;
	expect_invalid(in, 2, &bad, now, "retention.maxAge");
	/* Checked even when retention is disabled: the input is wrong. */
	bad.enabled = false;
	expect_invalid(in, 2, &bad, now, "retention.maxAge");

	expect_invalid(in, 2, NULL, now, "NULL argument");
	expect_invalid(NULL, 2, &ok, now, "NULL argument");
	expect_invalid(in, 2, &ok, -1, "now is before 1970");
	assert_int_equal(app_retention_decide(NULL, NULL, in, 2, &ok, now), SS_EINVALID);
}

/* A maxAge too long for int64 nanoseconds is no limit, not an overflow. */
static void test_huge_max_age(void **state)
{
	app_retention rules = RULES(.max_age_seconds = INT64_MAX);
	app_retention_backup in[2];
	app_retention_decision out[2];

	(void)state;
	memset(in, 0, sizeof(in));
	in[0].name = "old";
	in[0].state = DONE;
	in[0].time_ns = 0;
	in[0].local = civil_at(0, NULL);
	in[1].name = "new";
	in[1].state = DONE;
	in[1].time_ns = INT64_MAX / 2;
	in[1].local = civil_at(utc_ns("2025-01-01T00:00"), NULL);
	assert_int_equal(app_retention_decide(out, NULL, in, 2, &rules, INT64_MAX), 0);
	assert_int_equal(out[0].verdict, KEEP);
	assert_string_equal(out[0].reason, "within maxAge");
	assert_string_equal(out[1].reason, "newest successful backup");
}

/* A Backup with the given conditions (JSON text of the array). */
static json_t *backup_with(const char *conditions)
{
	json_t *b = tu_json("{\"metadata\":{\"name\":\"b\"},\"status\":{}}");

	tu_json_set(b, "status.conditions", tu_json(conditions));
	return b;
}

#define COMPLETE_TRUE "{\"type\":\"Complete\",\"status\":\"True\",\"reason\":\"R\"}"
#define FAILED_TRUE "{\"type\":\"Failed\",\"status\":\"True\",\"reason\":\"R\"}"
#define RESTORABLE(st) "{\"type\":\"Restorable\",\"status\":\"" st "\",\"reason\":\"R\"}"

/* app_retention_state_of(): a Complete Backup whose snapshots are gone
 * (Restorable False) is FAILED, so keepLast 1 keeps the older restorable
 * Backup instead of the newest one, and only keepFailed governs it. */
static void test_not_restorable_is_failed(void **state)
{
	static const struct {
		const char *conditions;
		app_retention_state want;
	} states[] = {
		{ "[" COMPLETE_TRUE "]", DONE },
		{ "[" COMPLETE_TRUE "," RESTORABLE("True") "]", DONE },
		{ "[" COMPLETE_TRUE "," RESTORABLE("Unknown") "]", DONE },
		{ "[" COMPLETE_TRUE "," RESTORABLE("False") "]", FAILED },
		{ "[" FAILED_TRUE "]", FAILED },
		{ "[]", RUNNING },
		{ "[" RESTORABLE("False") "]", RUNNING },
	};
	app_retention rules = RULES(.keep_last = 1, .keep_failed = 0);
	app_retention_backup in[2];
	app_retention_decision out[2];
	json_t *older, *newer;

	(void)state;
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		json_t *b = backup_with(states[i].conditions);

		if (app_retention_state_of(b) != states[i].want)
			fail_msg("%s: state %d, want %d", states[i].conditions,
				 (int)app_retention_state_of(b), (int)states[i].want);
		json_decref(b);
	}
	assert_int_equal(app_retention_state_of(NULL), RUNNING);

	older = backup_with("[" COMPLETE_TRUE "," RESTORABLE("True") "]");
	newer = backup_with("[" COMPLETE_TRUE "," RESTORABLE("False") "]");
	memset(in, 0, sizeof(in));
	in[0].name = "older";
	in[0].state = app_retention_state_of(older);
	in[0].time_ns = utc_ns("2025-03-04T10:00");
	in[0].local = civil_at(in[0].time_ns, NULL);
	in[1].name = "newer";
	in[1].state = app_retention_state_of(newer);
	in[1].time_ns = utc_ns("2025-03-05T10:00");
	in[1].local = civil_at(in[1].time_ns, NULL);
	assert_int_equal(app_retention_decide(out, NULL, in, 2, &rules, in[1].time_ns),
			 0);
	assert_int_equal(out[0].verdict, KEEP);
	assert_string_equal(out[0].reason, "newest successful backup");
	assert_int_equal(out[1].verdict, PRUNE);
	assert_string_equal(out[1].reason, "beyond keepFailed");

	rules.keep_failed = 1;
	assert_int_equal(app_retention_decide(out, NULL, in, 2, &rules, in[1].time_ns),
			 0);
	assert_string_equal(out[0].reason, "newest successful backup");
	assert_string_equal(out[1].reason, "keepFailed");
	json_decref(older);
	json_decref(newer);
}

/* app_retention_is_own(): the schedule label alone never makes a Backup
 * the schedule's (issue 15): its uid must be there too, in the uid label or
 * an ownerReference; a schedule made again under the same name has another
 * uid. */
static void test_only_own_backups(void **state)
{
	static const char *const uid = "6f1c2a9e-0000-4000-8000-000000000001";
	static const struct {
		const char *metadata;
		bool own;
	} rows[] = {
		/* made by the schedule: label + uid label */
		{ "{\"labels\":{\"snapstage.io/schedule\":\"nightly\","
		  "\"snapstage.io/schedule-uid\":\"6f1c2a9e-0000-4000-8000-000000000001\"}}",
		  true },
		/* made by the schedule with backupDeletionPolicy Delete: owner */
		{ "{\"labels\":{\"snapstage.io/schedule\":\"nightly\"},"
		  "\"ownerReferences\":[{\"apiVersion\":\"snapstage.io/v1alpha1\","
		  "\"kind\":\"BackupSchedule\",\"name\":\"nightly\","
		  "\"uid\":\"6f1c2a9e-0000-4000-8000-000000000001\"}]}",
		  true },
		/* merely the label: made by hand, by a copy, or by an older
		 * snapstage */
		{ "{\"labels\":{\"snapstage.io/schedule\":\"nightly\"}}", false },
		/* a former schedule of the same name */
		{ "{\"labels\":{\"snapstage.io/schedule\":\"nightly\","
		  "\"snapstage.io/schedule-uid\":\"0b7e0000-0000-4000-8000-000000000002\"}}",
		  false },
		{ "{\"labels\":{\"snapstage.io/schedule\":\"nightly\"},"
		  "\"ownerReferences\":[{\"kind\":\"BackupSchedule\",\"name\":\"nightly\","
		  "\"uid\":\"0b7e0000-0000-4000-8000-000000000002\"}]}",
		  false },
		/* the uid, but another schedule's label */
		{ "{\"labels\":{\"snapstage.io/schedule\":\"hourly\","
		  "\"snapstage.io/schedule-uid\":\"6f1c2a9e-0000-4000-8000-000000000001\"}}",
		  false },
		/* the uid without the label */
		{ "{\"labels\":{\"snapstage.io/schedule-uid\":"
		  "\"6f1c2a9e-0000-4000-8000-000000000001\"}}",
		  false },
		{ "{}", false },
		{ "{\"labels\":[]}", false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *b = json_pack("{s:o}", "metadata",
				      json_loads(rows[i].metadata, 0, NULL));

		assert_non_null(b);
		if (app_retention_is_own(b, "nightly", uid) != rows[i].own)
			fail_msg("row %zu (%s): want %s", i, rows[i].metadata,
				 rows[i].own ? "own" : "foreign");
		assert_false(app_retention_is_own(b, "nightly", ""));
		assert_false(app_retention_is_own(b, NULL, uid));
		json_decref(b);
	}
	assert_false(app_retention_is_own(NULL, "nightly", uid));
}

/* app_owner_run_origin(): the one rule retention (OWN) and a Restore's
 * scheduleName (not FOREIGN) share. A Backup whose uid label and owner
 * disagree is FOREIGN: when in doubt, never pruned. */
static void test_run_origin(void **state)
{
	static const char *const uid = "u-now";
	static const struct {
		const char *metadata;
		app_owner_origin want;
	} rows[] = {
		{ "{\"labels\":{\"snapstage.io/schedule\":\"nightly\","
		  "\"snapstage.io/schedule-uid\":\"u-now\"}}",
		  APP_OWNER_OWN },
		{ "{\"labels\":{\"snapstage.io/schedule\":\"nightly\"},"
		  "\"ownerReferences\":[{\"kind\":\"BackupSchedule\",\"uid\":\"u-now\"}]"
		  "}",
		  APP_OWNER_OWN },
		{ "{\"labels\":{\"snapstage.io/schedule\":\"nightly\"}}",
		  APP_OWNER_LEGACY },
		/* an owner of another kind says nothing about the schedule */
		{ "{\"labels\":{\"snapstage.io/schedule\":\"nightly\"},"
		  "\"ownerReferences\":[{\"kind\":\"ConfigMap\",\"uid\":\"u-x\"}]}",
		  APP_OWNER_LEGACY },
		{ "{\"labels\":{\"snapstage.io/schedule\":\"nightly\","
		  "\"snapstage.io/schedule-uid\":\"u-old\"}}",
		  APP_OWNER_FOREIGN },
		{ "{\"labels\":{\"snapstage.io/schedule\":\"nightly\"},"
		  "\"ownerReferences\":[{\"kind\":\"BackupSchedule\",\"uid\":\"u-old\"}]"
		  "}",
		  APP_OWNER_FOREIGN },
		/* the uid label and the owner disagree */
		{ "{\"labels\":{\"snapstage.io/schedule\":\"nightly\","
		  "\"snapstage.io/schedule-uid\":\"u-now\"},"
		  "\"ownerReferences\":[{\"kind\":\"BackupSchedule\",\"uid\":\"u-old\"}]"
		  "}",
		  APP_OWNER_FOREIGN },
		{ "{\"labels\":{\"snapstage.io/schedule\":\"nightly\","
		  "\"snapstage.io/schedule-uid\":\"u-old\"},"
		  "\"ownerReferences\":[{\"kind\":\"BackupSchedule\",\"uid\":\"u-now\"}]"
		  "}",
		  APP_OWNER_FOREIGN },
		{ "{\"labels\":{\"snapstage.io/schedule\":\"hourly\","
		  "\"snapstage.io/schedule-uid\":\"u-now\"}}",
		  APP_OWNER_FOREIGN },
		{ "{}", APP_OWNER_FOREIGN },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *b = json_pack("{s:o}", "metadata",
				      json_loads(rows[i].metadata, 0, NULL));
		app_owner_origin got = app_owner_run_origin(b, "nightly", uid);

		if (got != rows[i].want)
			fail_msg("row %zu (%s): got %d, want %d", i, rows[i].metadata,
				 (int)got, (int)rows[i].want);
		assert_int_equal(app_retention_is_own(b, "nightly", uid),
				 rows[i].want == APP_OWNER_OWN);
		/* no uid to compare: the label alone decides, never OWN */
		assert_int_equal(
			app_owner_run_origin(b, "nightly", NULL),
			rows[i].want == APP_OWNER_FOREIGN &&
					strstr(rows[i].metadata, "\"nightly\"") == NULL
				? APP_OWNER_FOREIGN
				: APP_OWNER_LEGACY);
		json_decref(b);
	}
}

int main(void)
{
	static struct CMUnitTest tests[N_CASES + 8];
	size_t n = 0;

	for (size_t i = 0; i < N_CASES; i++) {
		tests[n].name = cases[i].title;
		tests[n].test_func = run_case;
		tests[n].initial_state = (void *)&cases[i];
		n++;
	}
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_civil_helper);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_empty_input);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_too_many);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_invalid_input);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_huge_max_age);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_not_restorable_is_failed);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_only_own_backups);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_run_origin);
	return _cmocka_run_group_tests("retention", tests, n, NULL, NULL);
}
