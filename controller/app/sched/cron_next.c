/*
 * cron_next.c — due times of a schedule. See cron_next.h for the rule.
 *
 * Why the rule is easy to compute: let due(M) be the first instant at
 * which the wall clock shows M or later. due() never decreases as M
 * grows, and due(M) > a exactly when M is later than every reading the
 * clock showed up to a (its high-water mark, which is above the current
 * reading for a while after the clocks fall back). So the next run after a
 * is due(M) for the first matching minute M above the high-water mark at
 * a, and the latest run at or before b is due(M) for the last matching M
 * at or below the mark at b. Finding M is a walk over the civil calendar
 * alone, with no time zone in it; the zone is consulted twice, for the
 * mark and for due(M) (util/tz.h's first_utc_s).
 *
 * The walks skip whole months, days and hours with bit tricks and are
 * bounded by APP_CRON_SEARCH_YEARS, so one call costs at most about
 * 15,000 day steps (the fuzzer relies on this).
 */
#include "app/sched/cron_next.h"

#include <assert.h>
#include <stdbool.h>

#include "util/clock.h"
#include "util/error.h"

#define MONTH_BITS 0x1ffeu		  /* 1-12 */
#define HOUR_BITS 0xffffffu		  /* 0-23 */
#define MINUTE_BITS 0x0fffffffffffffffULL /* 0-59 */
#define SEARCH_DAYS (APP_CRON_SEARCH_YEARS * 366)
/* Offsets are below 26 hours, so readings older than this are below the
 * current one and cannot be the high-water mark. */
#define MARK_WINDOW_S (2 * 86400)

/* A local minute being searched for. */
typedef struct {
	int y, mo, d, h, mi;
} cron_minute;

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* The lowest set bit at or above `from`, or -1. */
static int next_bit(uint64_t bits, int from)
{
	if (from < 0)
		from = 0;
	if (from > 63)
		return -1;
	bits &= ~0ULL << from;
	return bits ? __builtin_ctzll(bits) : -1;
}

/* The highest set bit at or below `from`, or -1. */
static int prev_bit(uint64_t bits, int from)
{
	if (from < 0)
		return -1;
	if (from < 63)
		bits &= (1ULL << (from + 1)) - 1;
	return bits ? 63 - __builtin_clzll(bits) : -1;
}

/* The schedule's bits, cut to the fields' ranges (a hand-made app_cron
 * with stray bits must not make the walks misbehave). */
typedef struct {
	const app_cron *c;
	uint64_t minutes;
	uint32_t hours;
	uint32_t months;
} fields;

static int fields_init(fields *f, const app_cron *c)
{
	if (c->kind == APP_CRON_ONCE)
		return ss_error_set(SS_ENOTFOUND,
				    "a \"once\" schedule has no recurring run times");
	f->c = c;
	f->minutes = c->minutes & MINUTE_BITS;
	f->hours = c->hours & HOUR_BITS;
	f->months = c->months & MONTH_BITS;
	if (c->kind != APP_CRON_EXPR || f->minutes == 0 || f->hours == 0 ||
	    f->months == 0 || (c->mdays & 0xfffffffeu) == 0 || (c->wdays & 0x7f) == 0)
		return ss_error_set(SS_ENOTFOUND, "the schedule matches no time at all");
	return 0;
}

static void start_of_month(cron_minute *t, int y, int mo)
{
	*t = (cron_minute){ y, mo, 1, 0, 0 };
}

static void start_of_next_day(cron_minute *t)
{
	t->d++;
	t->h = 0;
	t->mi = 0;
}

/* Moves *t forward to the first matching minute at or after it, no later
 * than day `limit` (days since the epoch). */
static bool walk_forward(const fields *f, cron_minute *t, int64_t limit)
{
	for (;;) {
		int64_t day;
		int v;

		v = next_bit(f->months, t->mo);
		if (v < 0) {
			start_of_month(t, t->y + 1, 1);
			if (ss_days_from_civil(t->y, 1, 1) > limit)
				return false;
			continue;
		}
		if (v != t->mo)
			start_of_month(t, t->y, v);
		if (t->d > ss_days_in_month(t->y, t->mo)) {
			if (t->mo == 12)
				start_of_month(t, t->y + 1, 1);
			else
				start_of_month(t, t->y, t->mo + 1);
			continue;
		}
		day = ss_days_from_civil(t->y, t->mo, t->d);
		if (day > limit)
			return false;
		if (!app_cron_day_matches(f->c, t->d, ss_weekday(day))) {
			start_of_next_day(t);
			continue;
		}
		v = next_bit(f->hours, t->h);
		if (v < 0) {
			start_of_next_day(t);
			continue;
		}
		if (v != t->h) {
			t->h = v;
			t->mi = 0;
		}
		v = next_bit(f->minutes, t->mi);
		if (v < 0) {
			/* Past this hour's last minute; the next matching hour (if
			 * any today) has one at its start or later. */
			t->mi = 0;
			if (++t->h > 23)
				start_of_next_day(t);
			continue;
		}
		t->mi = v;
		return true;
	}
}

static void end_of_month(cron_minute *t, int y, int mo)
{
	*t = (cron_minute){ y, mo, ss_days_in_month(y, mo), 23, 59 };
}

static void end_of_previous_day(cron_minute *t)
{
	t->d--;
	t->h = 23;
	t->mi = 59;
}

/* Moves *t back to the last matching minute at or before it, no earlier
 * than day `limit`. */
static bool walk_backward(const fields *f, cron_minute *t, int64_t limit)
{
	for (;;) {
		int64_t day;
		int v;

		v = prev_bit(f->months, t->mo);
		if (v < 1) {
			end_of_month(t, t->y - 1, 12);
			if (ss_days_from_civil(t->y, 12, 31) < limit)
				return false;
			continue;
		}
		if (v != t->mo)
			end_of_month(t, t->y, v);
		if (t->d < 1) {
			if (t->mo == 1)
				end_of_month(t, t->y - 1, 12);
			else
				end_of_month(t, t->y, t->mo - 1);
			continue;
		}
		day = ss_days_from_civil(t->y, t->mo, t->d);
		if (day < limit)
			return false;
		if (!app_cron_day_matches(f->c, t->d, ss_weekday(day))) {
			end_of_previous_day(t);
			continue;
		}
		v = prev_bit(f->hours, t->h);
		if (v < 0) {
			end_of_previous_day(t);
			continue;
		}
		if (v != t->h) {
			t->h = v;
			t->mi = 59;
		}
		v = prev_bit(f->minutes, t->mi);
		if (v < 0) {
			t->mi = 59;
			if (--t->h < 0)
				end_of_previous_day(t);
			continue;
		}
		t->mi = v;
		return true;
	}
}

/* The highest wall-clock reading (local seconds) at any instant up to and
 * including `utc_s`. */
static int high_water_mark(int64_t *out, const ss_tz *tz, int64_t utc_s)
{
	ss_tz_period p;
	int64_t mark = INT64_MIN;

	if (ss_tz_period_at(tz, utc_s - MARK_WINDOW_S, &p) < 0)
		return SS_EINVALID;
	for (;;) {
		/* The latest reading in this period, up to utc_s. */
		int64_t last = p.end_s - 1 < utc_s ? p.end_s - 1 : utc_s;

		if (last + p.utc_offset_s > mark)
			mark = last + p.utc_offset_s;
		if (p.end_s > utc_s)
			break;
		if (ss_tz_period_at(tz, p.end_s, &p) < 0)
			return SS_EINVALID;
	}
	*out = mark;
	return 0;
}

static int to_civil(cron_minute *out, int64_t local_s)
{
	ss_civil c;

	if (ss_civil_from_seconds(&c, local_s) < 0)
		return SS_EINVALID;
	*out = (cron_minute){ c.year, c.month, c.day, c.hour, c.minute };
	return 0;
}

/* due(M): the first instant the wall clock shows M or later, in ns. */
static int due_ns(int64_t *out, const ss_tz *tz, const cron_minute *m)
{
	ss_civil c = {
		.year = m->y, .month = m->mo, .day = m->d, .hour = m->h, .minute = m->mi
	};
	ss_tz_resolution r;
	int error = ss_tz_resolve(tz, &c, &r);

	if (error < 0)
		return error;
	if (r.first_utc_s > INT64_MAX / SS_NS_PER_SEC ||
	    r.first_utc_s < INT64_MIN / SS_NS_PER_SEC)
		return ss_error_set(SS_ENOTFOUND,
				    "the schedule's run at %04d-%02d-%02d %02d:%02d is "
				    "outside the years the clock can count (1677-2262)",
				    m->y, m->mo, m->d, m->h, m->mi);
	*out = r.first_utc_s * SS_NS_PER_SEC;
	return 0;
}

/* SS_ENOTFOUND for a walk that found nothing from `from` on. */
static int no_run(const ss_tz *tz, const cron_minute *from, const char *direction)
{
	return ss_error_set(SS_ENOTFOUND,
			    "the schedule has no run in the %d years %s %04d-%02d-%02d "
			    "%02d:%02d (%s)",
			    APP_CRON_SEARCH_YEARS, direction, from->y, from->mo, from->d,
			    from->h, from->mi, ss_tz_name(tz));
}

int app_cron_next(int64_t *out_utc_ns, const app_cron *c, const ss_tz *tz,
		  int64_t after_utc_ns)
{
	int64_t after_s, mark, due = 0;
	cron_minute from, m;
	fields f = { 0 };
	int error;

	assert(out_utc_ns && c && tz);
	error = fields_init(&f, c);
	if (error < 0)
		return error;
	/* A whole second is after `after` exactly when it is after the second
	 * `after` falls in. */
	after_s = floor_div(after_utc_ns, SS_NS_PER_SEC);
	error = high_water_mark(&mark, tz, after_s);
	if (error < 0)
		return error;
	error = to_civil(&from, (floor_div(mark, 60) + 1) * 60);
	if (error < 0)
		return error;
	m = from;
	if (!walk_forward(&f, &m, ss_days_from_civil(m.y, m.mo, m.d) + SEARCH_DAYS))
		return no_run(tz, &from, "from");
	error = due_ns(&due, tz, &m);
	if (error < 0)
		return error;
	assert(due > after_utc_ns);
	*out_utc_ns = due;
	return 0;
}

int app_cron_prev(int64_t *out_utc_ns, const app_cron *c, const ss_tz *tz,
		  int64_t at_or_before_utc_ns)
{
	int64_t at_s, mark, due = 0;
	cron_minute from, m;
	fields f = { 0 };
	int error;

	assert(out_utc_ns && c && tz);
	error = fields_init(&f, c);
	if (error < 0)
		return error;
	at_s = floor_div(at_or_before_utc_ns, SS_NS_PER_SEC);
	error = high_water_mark(&mark, tz, at_s);
	if (error < 0)
		return error;
	error = to_civil(&from, floor_div(mark, 60) * 60);
	if (error < 0)
		return error;
	m = from;
	if (!walk_backward(&f, &m, ss_days_from_civil(m.y, m.mo, m.d) - SEARCH_DAYS))
		return no_run(tz, &from, "up to");
	error = due_ns(&due, tz, &m);
	if (error < 0)
		return error;
	assert(due <= at_or_before_utc_ns);
	*out_utc_ns = due;
	return 0;
}
