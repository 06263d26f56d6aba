/*
 * tz.c — TZif zones, POSIX TZ rules and civil-date arithmetic. See tz.h.
 *
 * A zone is a sorted table of transitions (instant → index of a local time
 * type) plus an optional POSIX rule for instants after the last one. Every
 * query reduces to period_of(): the stretch of constant offset containing
 * an instant, from a binary search of the table or from the rule's
 * transitions in the years around it. Local → UTC walks the periods of the
 * few days around a local time: offsets are below 26 hours, so only those
 * periods can show it.
 *
 * Parsing trusts nothing in the file: every count is checked against the
 * bytes left before anything is read, types and abbreviation indexes are
 * range-checked, transitions must ascend, and the footer must end with its
 * newline. A truncated or corrupted file is SS_EINVALID, never a crash.
 *
 * Invariant: period_of(t) returns start <= t < end, so walking periods by
 * their ends always advances, and the instants handled internally stay
 * within a few days of [SS_TZ_INSTANT_MIN, SS_TZ_INSTANT_MAX], far from
 * int64_t's limits.
 */
#define _XOPEN_SOURCE 700 /* realpath() */
#include "util/tz.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/str.h"

#define SECS_PER_DAY 86400
/* RFC 8536: a UT offset should lie in [-89999, 93599] (-24:59:59 to
 * +25:59:59). Local times more than this far from an instant cannot show. */
#define OFFSET_MIN (-89999)
#define OFFSET_MAX 93599
/* Every instant that can show a given local time lies within this of it. */
#define WINDOW_S (2 * SECS_PER_DAY)
/* Longer abbreviations are refused (tzdata's longest has 6 characters). */
#define ABBR_MAX 15
/* Longer footers are refused (tzdata's longest is about 40 characters). */
#define FOOTER_MAX 256

/* A local time type of a TZif file. */
typedef struct {
	int32_t offset; /* seconds east of UTC */
	bool is_dst;
	uint32_t abbr; /* index into ss_tz.abbrs */
} tz_type;

/* One date of a POSIX rule: Jn, n or Mm.w.d, then a local time of day. */
typedef struct {
	char kind;    /* 'J' (1-365, no 29 February), 'N' (0-365), 'M' */
	int n;	      /* J and N: the day; M: the month */
	int week;     /* M: 1-5, 5 the last */
	int wday;     /* M: 0-6, Sunday 0 */
	int32_t time; /* seconds after local midnight, -167 h to 167 h */
} rule_date;

/* A POSIX TZ string. */
typedef struct {
	char std_abbr[ABBR_MAX + 1];
	char dst_abbr[ABBR_MAX + 1];
	int32_t std_offset; /* seconds east of UTC */
	int32_t dst_offset;
	bool has_dst;
	rule_date start; /* DST begins, at this standard local time */
	rule_date end;	 /* DST ends, at this daylight local time */
} posix_rule;

struct ss_tz {
	char *name;
	size_t ntrans;
	int64_t *trans;	     /* ascending */
	uint8_t *trans_type; /* index into types, one per transition */
	size_t ntypes;	     /* >= 1; types[0] is in effect before trans[0] */
	tz_type *types;
	char *abbrs; /* NUL-separated, NUL-terminated */
	size_t nabbrs;
	bool has_rule; /* rule applies from the last transition on */
	posix_rule rule;
};

/* ---- calendar ---------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

bool ss_is_leap_year(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int ss_days_in_month(int year, int month)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (month < 1 || month > 12)
		return 0;
	if (month == 2 && ss_is_leap_year(year))
		return 29;
	return days[month - 1];
}

/* Howard Hinnant's days_from_civil: years counted from March so that the
 * leap day is the last of its year, in 400-year eras of 146097 days. */
int64_t ss_days_from_civil(int year, int month, int day)
{
	int64_t y = (int64_t)year - (month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* The inverse (civil_from_days). `days` must be within a few million
 * years of the epoch so that the year fits an int. */
static void civil_from_days(int64_t days, int *year, int *month, int *day)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);

	*day = (int)(doy - (153 * mp + 2) / 5 + 1);
	*month = m;
	*year = (int)(yoe + era * 400 + (m <= 2));
}

int ss_weekday(int64_t days)
{
	/* 1970-01-01 was a Thursday (4). */
	return (int)(days + 4 - floor_div(days + 4, 7) * 7);
}

int ss_civil_from_seconds(ss_civil *out, int64_t local_s)
{
	int64_t days, secs, thursday;
	int iso_weekday, m, d;
	ss_civil c;

	if (local_s < SS_TZ_INSTANT_MIN - WINDOW_S ||
	    local_s > SS_TZ_INSTANT_MAX + WINDOW_S)
		return ss_error_set(SS_EINVALID,
				    "time %lld is outside the years 1 to 9999",
				    (long long)local_s);
	memset(&c, 0, sizeof(c));
	days = floor_div(local_s, SECS_PER_DAY);
	secs = local_s - days * SECS_PER_DAY;
	civil_from_days(days, &c.year, &c.month, &c.day);
	c.hour = (int)(secs / 3600);
	c.minute = (int)(secs / 60 % 60);
	c.second = (int)(secs % 60);
	c.wday = ss_weekday(days);
	c.yday = (int)(days - ss_days_from_civil(c.year, 1, 1));
	/* ISO 8601: weeks start on Monday and belong to the year that holds
	 * their Thursday. */
	iso_weekday = c.wday == 0 ? 7 : c.wday;
	thursday = days + 4 - iso_weekday;
	civil_from_days(thursday, &c.iso_year, &m, &d);
	c.iso_week = (int)((thursday - ss_days_from_civil(c.iso_year, 1, 1)) / 7 + 1);
	*out = c;
	return 0;
}

int ss_civil_to_seconds(int64_t *out, const ss_civil *c)
{
	if (c->year < 0 || c->year > 10000 || c->month < 1 || c->month > 12 ||
	    c->day < 1 || c->day > ss_days_in_month(c->year, c->month) || c->hour < 0 ||
	    c->hour > 23 || c->minute < 0 || c->minute > 59 || c->second < 0 ||
	    c->second > 59)
		return ss_error_set(SS_EINVALID,
				    "%04d-%02d-%02d %02d:%02d:%02d is not a valid date "
				    "and time",
				    c->year, c->month, c->day, c->hour, c->minute,
				    c->second);
	*out = ss_days_from_civil(c->year, c->month, c->day) * SECS_PER_DAY +
	       c->hour * 3600 + c->minute * 60 + c->second;
	return 0;
}

/* ---- POSIX TZ strings ------------------------------------------------- */

/* A cursor over a string that is not NUL-terminated. */
typedef struct {
	const char *p;
	size_t n, pos;
} text_cursor;

static int peek(const text_cursor *t)
{
	return t->pos < t->n ? (unsigned char)t->p[t->pos] : -1;
}

static bool is_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* An abbreviation: three or more letters, or <...> of letters, digits, '+'
 * and '-' (RFC 8536 allows the quoted form for "+1030"-like names). */
static bool parse_abbr(text_cursor *t, char *out)
{
	size_t len = 0;
	bool quoted = peek(t) == '<';

	if (quoted)
		t->pos++;
	for (;;) {
		int c = peek(t);

		if (!(is_alpha(c) || (quoted && (is_digit(c) || c == '+' || c == '-'))))
			break;
		if (len == ABBR_MAX)
			return false;
		out[len++] = (char)c;
		t->pos++;
	}
	out[len] = '\0';
	if (quoted) {
		if (peek(t) != '>')
			return false;
		t->pos++;
	}
	return len >= 3;
}

/* [+-]h[h[h]][:mm[:ss]] with hours at most `max_hours`, into seconds. */
static bool parse_hms(text_cursor *t, int max_hours, int32_t *out)
{
	int sign = 1, h = 0, m = 0, s = 0, digits = 0;

	if (peek(t) == '+' || peek(t) == '-') {
		sign = peek(t) == '-' ? -1 : 1;
		t->pos++;
	}
	while (is_digit(peek(t)) && digits < 3) {
		h = h * 10 + (peek(t) - '0');
		t->pos++;
		digits++;
	}
	if (digits == 0 || is_digit(peek(t)) || h > max_hours)
		return false;
	if (peek(t) == ':') {
		t->pos++;
		if (!is_digit(peek(t)))
			return false;
		for (digits = 0; is_digit(peek(t)) && digits < 2; digits++, t->pos++)
			m = m * 10 + (peek(t) - '0');
		if (is_digit(peek(t)) || m > 59)
			return false;
		if (peek(t) == ':') {
			t->pos++;
			if (!is_digit(peek(t)))
				return false;
			for (digits = 0; is_digit(peek(t)) && digits < 2;
			     digits++, t->pos++)
				s = s * 10 + (peek(t) - '0');
			if (is_digit(peek(t)) || s > 59)
				return false;
		}
	}
	*out = sign * (h * 3600 + m * 60 + s);
	return true;
}

static bool parse_uint(text_cursor *t, int max, int *out)
{
	int v = 0, digits = 0;

	while (is_digit(peek(t))) {
		if (++digits > 3)
			return false;
		v = v * 10 + (peek(t) - '0');
		t->pos++;
	}
	if (digits == 0 || v > max)
		return false;
	*out = v;
	return true;
}

/* Jn, n or Mm.w.d, then an optional /time (02:00 when absent). */
static bool parse_rule_date(text_cursor *t, rule_date *out)
{
	rule_date d = { 0 };

	if (peek(t) == 'J') {
		t->pos++;
		d.kind = 'J';
		if (!parse_uint(t, 365, &d.n) || d.n < 1)
			return false;
	} else if (peek(t) == 'M') {
		t->pos++;
		d.kind = 'M';
		if (!parse_uint(t, 12, &d.n) || d.n < 1 || peek(t) != '.')
			return false;
		t->pos++;
		if (!parse_uint(t, 5, &d.week) || d.week < 1 || peek(t) != '.')
			return false;
		t->pos++;
		if (!parse_uint(t, 6, &d.wday))
			return false;
	} else {
		d.kind = 'N';
		if (!parse_uint(t, 365, &d.n))
			return false;
	}
	d.time = 2 * 3600;
	if (peek(t) == '/') {
		t->pos++;
		/* RFC 8536 extends POSIX: -167 to 167 hours. */
		if (!parse_hms(t, 167, &d.time))
			return false;
	}
	*out = d;
	return true;
}

/* std offset [dst [offset] [,start[/time],end[/time]]]. Offsets are written
 * west-positive (CET-1 is UTC+1) and stored east-positive. */
static int parse_posix(posix_rule *out, const char *s, size_t n)
{
	text_cursor t = { s, n, 0 };
	posix_rule r;
	int32_t off;

	memset(&r, 0, sizeof(r));
	if (!parse_abbr(&t, r.std_abbr) || !parse_hms(&t, 24, &off))
		goto bad;
	r.std_offset = -off;
	if (t.pos == t.n) {
		*out = r;
		return 0;
	}
	if (!parse_abbr(&t, r.dst_abbr))
		goto bad;
	r.has_dst = true;
	r.dst_offset = r.std_offset + 3600;
	if (peek(&t) != ',' && t.pos < t.n) {
		if (!parse_hms(&t, 24, &off))
			goto bad;
		r.dst_offset = -off;
	}
	if (peek(&t) != ',')
		return ss_error_set(SS_EINVALID,
				    "TZ string \"%.*s\" has daylight saving time but no "
				    "rule for it",
				    (int)n, s);
	t.pos++;
	if (!parse_rule_date(&t, &r.start) || peek(&t) != ',')
		goto bad;
	t.pos++;
	if (!parse_rule_date(&t, &r.end) || t.pos != t.n)
		goto bad;
	*out = r;
	return 0;
bad:
	return ss_error_set(SS_EINVALID, "\"%.*s\" is not a valid POSIX TZ string",
			    (int)(n > 64 ? 64 : n), s);
}

/* The instant a rule date happens in `year`, its local time read with
 * `offset`. */
static int64_t rule_date_instant(const rule_date *d, int year, int32_t offset)
{
	int64_t days;

	if (d->kind == 'J') {
		/* 1-365 never counts 29 February: J60 is always 1 March. */
		days = ss_days_from_civil(year, 1, 1) + d->n - 1;
		if (ss_is_leap_year(year) && d->n >= 60)
			days++;
	} else if (d->kind == 'N') {
		days = ss_days_from_civil(year, 1, 1) + d->n;
	} else {
		int64_t first = ss_days_from_civil(year, d->n, 1);
		int dim = ss_days_in_month(year, d->n);
		int day = (d->wday - ss_weekday(first) + 7) % 7 + 7 * (d->week - 1);

		/* Week 5 is "the last"; weeks 1-4 always fit. */
		while (day >= dim)
			day -= 7;
		days = first + day;
	}
	return days * SECS_PER_DAY + d->time - offset;
}

/* The period containing `t` under the rule alone. */
static void rule_period(const ss_tz *tz, int64_t t, ss_tz_period *out)
{
	const posix_rule *r = &tz->rule;
	struct {
		int64_t at;
		bool dst;
	} tr[10], tmp;
	int year, month, day, n = 0, i, j, cur = -1;

	if (!r->has_dst) {
		*out = (ss_tz_period){ INT64_MIN, INT64_MAX, r->std_offset, false,
				       r->std_abbr };
		return;
	}
	civil_from_days(floor_div(t + r->std_offset, SECS_PER_DAY), &year, &month, &day);
	/* The years around t. A rule date of year Y lies within about a week
	 * of year Y (times up to 167 h; the southern hemisphere's DST spans
	 * New Year) and moves by about a year from one year to the next, so
	 * the last one at or before t is of year - 2 at the earliest, the
	 * first after t of year + 2 at the latest. (year - 2 matters when
	 * year - 1's date falls early in `year`, after t: "EST0EDT,0/1,
	 * J364/52" ends DST on 1 January at 03:00 UTC, after that year's
	 * start at 01:00, so at 00:00 the end of two years back is the last;
	 * listed from year - 1, 00:00 read as DST: a fuzz_tzif finding.)
	 * Each year's end of DST is listed before its start, so when the end
	 * of one year meets the start of the next (DST all year,
	 * "EST5EDT,0/0,J365/25"), DST wins. */
	for (i = year - 2; i <= year + 2; i++) {
		tr[n].at = rule_date_instant(&r->end, i, r->dst_offset);
		tr[n++].dst = false;
		tr[n].at = rule_date_instant(&r->start, i, r->std_offset);
		tr[n++].dst = true;
	}
	for (i = 1; i < n; i++) { /* a stable insertion sort */
		tmp = tr[i];
		for (j = i; j > 0 && tr[j - 1].at > tmp.at; j--)
			tr[j] = tr[j - 1];
		tr[j] = tmp;
	}
	for (i = 0; i < n; i++)
		if (tr[i].at <= t)
			cur = i;
	out->is_dst = cur >= 0 ? tr[cur].dst : !tr[0].dst;
	out->start_s = cur >= 0 ? tr[cur].at : INT64_MIN;
	out->end_s = INT64_MAX;
	for (i = cur + 1; i < n; i++) {
		if (tr[i].at > t) {
			out->end_s =
				tr[i].at; /* at worst a boundary that changes nothing */
			if (tr[i].dst != out->is_dst)
				break;
		}
	}
	out->utc_offset_s = out->is_dst ? r->dst_offset : r->std_offset;
	out->abbr = out->is_dst ? r->dst_abbr : r->std_abbr;
}

/* ---- periods ---------------------------------------------------------- */

static ss_tz_period type_period(const ss_tz *tz, size_t type, int64_t start, int64_t end)
{
	const tz_type *ty = &tz->types[type];

	return (ss_tz_period){ start, end, ty->offset, ty->is_dst, tz->abbrs + ty->abbr };
}

/* The period containing t: start <= t < end. */
static void period_of(const ss_tz *tz, int64_t t, ss_tz_period *out)
{
	size_t lo, hi, last;

	if (tz->ntrans == 0) {
		/* RFC 8536: with no transitions the rule, if any, is the zone. */
		if (tz->has_rule)
			rule_period(tz, t, out);
		else
			*out = type_period(tz, 0, INT64_MIN, INT64_MAX);
		return;
	}
	if (t < tz->trans[0]) {
		*out = type_period(tz, 0, INT64_MIN, tz->trans[0]);
		return;
	}
	/* The last transition at or before t. */
	lo = 0;
	hi = tz->ntrans;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (tz->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	last = tz->ntrans - 1;
	if (lo < last) {
		*out = type_period(tz, tz->trans_type[lo], tz->trans[lo],
				   tz->trans[lo + 1]);
		return;
	}
	if (!tz->has_rule) {
		*out = type_period(tz, tz->trans_type[lo], tz->trans[lo], INT64_MAX);
		return;
	}
	rule_period(tz, t, out);
	if (out->start_s < tz->trans[last])
		out->start_s = tz->trans[last];
}

static int check_instant(int64_t utc_s)
{
	if (utc_s < SS_TZ_INSTANT_MIN || utc_s > SS_TZ_INSTANT_MAX)
		return ss_error_set(SS_EINVALID,
				    "instant %lld is outside the years 1 to 9999",
				    (long long)utc_s);
	return 0;
}

int ss_tz_period_at(const ss_tz *tz, int64_t utc_s, ss_tz_period *out)
{
	if (check_instant(utc_s) < 0)
		return SS_EINVALID;
	period_of(tz, utc_s, out);
	return 0;
}

int ss_tz_offset(const ss_tz *tz, int64_t utc_s, int32_t *out_offset_s)
{
	ss_tz_period p;

	if (check_instant(utc_s) < 0)
		return SS_EINVALID;
	period_of(tz, utc_s, &p);
	*out_offset_s = p.utc_offset_s;
	return 0;
}

int ss_tz_local(const ss_tz *tz, int64_t utc_s, ss_civil *out)
{
	ss_tz_period p;
	ss_civil c;

	if (check_instant(utc_s) < 0)
		return SS_EINVALID;
	period_of(tz, utc_s, &p);
	if (ss_civil_from_seconds(&c, utc_s + p.utc_offset_s) < 0)
		return SS_EINVALID;
	c.utc_offset_s = p.utc_offset_s;
	c.is_dst = p.is_dst;
	*out = c;
	return 0;
}

int ss_tz_resolve(const ss_tz *tz, const ss_civil *local, ss_tz_resolution *out)
{
	ss_tz_resolution r = { 0 };
	bool have_first = false;
	ss_tz_period p;
	int64_t l;

	if (ss_civil_to_seconds(&l, local) < 0)
		return SS_EINVALID;
	/* Walk every period that overlaps [l - WINDOW, l + WINDOW]: an instant
	 * u shows l when l - u is the offset of u's period. */
	period_of(tz, l - WINDOW_S, &p);
	for (;;) {
		int64_t u = l - p.utc_offset_s;

		if (u >= p.start_s && u < p.end_s) {
			if (r.count < 2)
				r.utc_s[r.count++] = u;
			else
				r.utc_s[1] = u;
			if (!have_first)
				r.first_utc_s = u;
			have_first = true;
		} else if (u < p.start_s && !have_first) {
			/* Every reading in this period is later than l, and none
			 * before it reached l: the clocks jumped over l here. */
			r.first_utc_s = p.start_s;
			have_first = true;
		}
		if (p.end_s > l + WINDOW_S)
			break;
		period_of(tz, p.end_s, &p);
	}
	/* The first period of the window shows times before l and the last
	 * one times after it, so one of them was the first to reach l. */
	assert(have_first);
	*out = r;
	return 0;
}

/* ---- loading ---------------------------------------------------------- */

const char *ss_tz_name(const ss_tz *tz)
{
	return tz->name;
}

void ss_tz_free(ss_tz *tz)
{
	if (!tz)
		return;
	free(tz->name);
	free(tz->trans);
	free(tz->trans_type);
	free(tz->types);
	free(tz->abbrs);
	free(tz);
}

/* A zone with `ntypes` types and room for `ntrans` transitions and
 * `nabbrs` bytes of abbreviations, or NULL with SS_ENOMEM recorded. */
static ss_tz *tz_alloc(const char *name, size_t ntrans, size_t ntypes, size_t nabbrs)
{
	ss_tz *tz = calloc(1, sizeof(*tz));

	if (!tz)
		goto nomem;
	tz->name = ss_strdup(name);
	tz->trans = calloc(ntrans ? ntrans : 1, sizeof(*tz->trans));
	tz->trans_type = calloc(ntrans ? ntrans : 1, 1);
	tz->types = calloc(ntypes, sizeof(*tz->types));
	tz->abbrs = calloc(nabbrs, 1);
	if (!tz->name || !tz->trans || !tz->trans_type || !tz->types || !tz->abbrs)
		goto nomem;
	tz->ntrans = ntrans;
	tz->ntypes = ntypes;
	tz->nabbrs = nabbrs;
	return tz;
nomem:
	ss_tz_free(tz);
	ss_error_set(SS_ENOMEM, "out of memory loading time zone %s", name);
	return NULL;
}

/* UTC needs no file: a single type, no transitions, no rule. */
static int utc_zone(ss_tz **out)
{
	ss_tz *tz = tz_alloc("UTC", 0, 1, 4);

	if (!tz)
		return SS_ENOMEM;
	memcpy(tz->abbrs, "UTC", 4);
	tz->types[0] = (tz_type){ 0, false, 0 };
	*out = tz;
	return 0;
}

int ss_tz_posix(ss_tz **out, const char *posix)
{
	posix_rule r;
	ss_tz *tz;
	size_t n;

	assert(out && posix);
	n = strnlen(posix, FOOTER_MAX + 1);
	if (n > FOOTER_MAX)
		return ss_error_set(SS_EINVALID, "TZ string is longer than %d bytes",
				    FOOTER_MAX);
	if (parse_posix(&r, posix, n) < 0)
		return SS_EINVALID;
	tz = tz_alloc(posix, 0, 1, sizeof(r.std_abbr));
	if (!tz)
		return SS_ENOMEM;
	memcpy(tz->abbrs, r.std_abbr, sizeof(r.std_abbr));
	tz->types[0] = (tz_type){ r.std_offset, false, 0 };
	tz->has_rule = true;
	tz->rule = r;
	*out = tz;
	return 0;
}

/* A cursor over the file's bytes; every read is checked. */
typedef struct {
	const unsigned char *p;
	size_t n, pos;
} byte_cursor;

static bool has(const byte_cursor *b, uint64_t count)
{
	return count <= b->n - b->pos;
}

static uint32_t be32(byte_cursor *b)
{
	const unsigned char *p = b->p + b->pos;

	b->pos += 4;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(byte_cursor *b)
{
	uint64_t hi = be32(b);
	uint64_t lo = be32(b);

	/* Two's complement by way of unsigned: no implementation-defined cast
	 * of a value above INT64_MAX. */
	uint64_t v = hi << 32 | lo;

	return v <= INT64_MAX ? (int64_t)v : -(int64_t)(~v) - 1;
}

typedef struct {
	char version; /* '\0', '2', '3', '4', ... */
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_header;

/* Reads one 44-byte header; `what` is set to the reason on failure. */
static bool read_header(byte_cursor *b, tzif_header *h, const char **what)
{
	if (!has(b, 4) || memcmp(b->p + b->pos, "TZif", 4) != 0) {
		*what = "no TZif magic";
		return false;
	}
	if (!has(b, 44)) {
		*what = "truncated header";
		return false;
	}
	h->version = (char)b->p[b->pos + 4];
	b->pos += 20;
	h->isutcnt = be32(b);
	h->isstdcnt = be32(b);
	h->leapcnt = be32(b);
	h->timecnt = be32(b);
	h->typecnt = be32(b);
	h->charcnt = be32(b);
	return true;
}

/* What a TZif file is read with: its bytes, and names for the messages. */
typedef struct {
	byte_cursor b;
	const char *name; /* the zone's */
	const char *path; /* the file's (or "its TZif data") */
} tzif_reader;

/* Records why the file is not valid TZif: SS_EINVALID. */
static int tzif_bad(const tzif_reader *r, const char *what)
{
	return ss_error_set(SS_EINVALID, "time zone %s: %s is not a valid TZif file (%s)",
			    r->name, r->path, what);
}

/* Step 1: the version 1 header and data, skipped (only the 64-bit data of
 * version 2 and later is read). */
static int skip_v1(tzif_reader *r)
{
	const char *what = NULL;
	tzif_header h1;
	uint64_t block;

	if (!read_header(&r->b, &h1, &what))
		return tzif_bad(r, what);
	if (h1.version == '\0')
		return ss_error_set(SS_EUNSUPPORTED,
				    "time zone %s: %s is TZif version 1 (no 64-bit data)",
				    r->name, r->path);
	if (h1.version < '2' || h1.version > '9')
		return tzif_bad(r, "unknown version");
	/* Counts are 32-bit, so 64-bit sums cannot overflow. */
	block = (uint64_t)h1.timecnt * 5 + (uint64_t)h1.typecnt * 6 + h1.charcnt +
		(uint64_t)h1.leapcnt * 8 + h1.isstdcnt + h1.isutcnt;
	if (!has(&r->b, block))
		return tzif_bad(r, "truncated version 1 data");
	r->b.pos += (size_t)block;
	return 0;
}

/* Step 2: the second header, its counts consistent and their data all
 * there before anything is read. */
static int read_v2_header(tzif_reader *r, tzif_header *h)
{
	const char *what = NULL;
	uint64_t block;

	if (!read_header(&r->b, h, &what))
		return tzif_bad(r, what);
	if (h->leapcnt != 0)
		return ss_error_set(SS_EUNSUPPORTED,
				    "time zone %s: %s counts leap seconds (use a zone "
				    "without the right/ prefix)",
				    r->name, r->path);
	if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0 ||
	    (h->isstdcnt != 0 && h->isstdcnt != h->typecnt) ||
	    (h->isutcnt != 0 && h->isutcnt != h->typecnt))
		return tzif_bad(r, "inconsistent counts in the header");
	block = (uint64_t)h->timecnt * 9 + (uint64_t)h->typecnt * 6 + h->charcnt +
		h->isstdcnt + h->isutcnt;
	if (!has(&r->b, block))
		return tzif_bad(r, "truncated data");
	return 0;
}

/* Step 4: the transitions, ascending, each with a known type. */
static int read_transitions(tzif_reader *r, ss_tz *tz)
{
	byte_cursor *b = &r->b;
	size_t i;

	for (i = 0; i < tz->ntrans; i++) {
		tz->trans[i] = be64(b);
		if (i > 0 && tz->trans[i] <= tz->trans[i - 1])
			return tzif_bad(r, "transitions out of order");
	}
	for (i = 0; i < tz->ntrans; i++) {
		tz->trans_type[i] = b->p[b->pos++];
		if (tz->trans_type[i] >= tz->ntypes)
			return tzif_bad(r, "a transition has an unknown type");
	}
	return 0;
}

/* Step 5: the local time types and their abbreviations; the standard/wall
 * and UT/local indicators after them only matter to zic. */
static int read_types(tzif_reader *r, ss_tz *tz, const tzif_header *h)
{
	byte_cursor *b = &r->b;
	size_t i;

	for (i = 0; i < tz->ntypes; i++) {
		uint32_t raw = be32(b);
		int32_t offset = raw <= INT32_MAX ? (int32_t)raw : -(int32_t)~raw - 1;
		unsigned char dst = b->p[b->pos++];
		unsigned char abbr = b->p[b->pos++];

		if (offset < OFFSET_MIN || offset > OFFSET_MAX || dst > 1 ||
		    abbr >= h->charcnt)
			return tzif_bad(r, "a bad local time type");
		tz->types[i] = (tz_type){ offset, dst == 1, abbr };
	}
	memcpy(tz->abbrs, b->p + b->pos, tz->nabbrs);
	b->pos += tz->nabbrs;
	if (tz->abbrs[tz->nabbrs - 1] != '\0')
		return tzif_bad(r, "unterminated abbreviations");
	b->pos += h->isstdcnt + h->isutcnt;
	return 0;
}

/* Step 6: the footer: "\n" TZ-string "\n", the string possibly empty (no
 * rule after the last transition). */
static int read_footer(tzif_reader *r, ss_tz *tz)
{
	byte_cursor *b = &r->b;
	size_t start, n;
	const char *nl;

	if (!has(b, 2) || b->p[b->pos] != '\n')
		return tzif_bad(r, "missing footer");
	start = b->pos + 1;
	nl = memchr(b->p + start, '\n', b->n - start);
	if (!nl)
		return tzif_bad(r, "unterminated footer");
	n = (size_t)((const unsigned char *)nl - b->p) - start;
	if (n > FOOTER_MAX)
		return tzif_bad(r, "footer too long");
	if (n == 0)
		return 0;
	if (parse_posix(&tz->rule, (const char *)b->p + start, n) < 0) {
		char reason[SS_ERROR_MESSAGE_MAX];

		/* Copied: the message cannot be both argument and target. */
		ss_strlcpy(reason, ss_error_last()->message, sizeof(reason));
		return ss_error_set(SS_EINVALID, "time zone %s: %s has a bad footer: %s",
				    r->name, r->path, reason);
	}
	tz->has_rule = true;
	return 0;
}

/* Parses a TZif file's bytes into a zone; `path` is for messages. Steps:
 * skip the version 1 part, read the second header, make the zone, then
 * read its transitions, types and footer. */
static int parse_tzif(ss_tz **out, const char *name, const char *path,
		      const unsigned char *data, size_t len)
{
	tzif_reader r = { { data, len, 0 }, name, path };
	tzif_header h;
	ss_tz *tz = NULL;
	int error;

	error = skip_v1(&r);
	if (error < 0)
		goto cleanup;
	error = read_v2_header(&r, &h);
	if (error < 0)
		goto cleanup;
	/* Step 3: the zone, sized by the header. */
	tz = tz_alloc(name, h.timecnt, h.typecnt, h.charcnt);
	if (!tz) {
		error = SS_ENOMEM;
		goto cleanup;
	}
	error = read_transitions(&r, tz);
	if (error < 0)
		goto cleanup;
	error = read_types(&r, tz, &h);
	if (error < 0)
		goto cleanup;
	error = read_footer(&r, tz);
	if (error < 0)
		goto cleanup;
	*out = tz;
	tz = NULL;
cleanup:
	ss_tz_free(tz);
	return error;
}

int ss_tz_parse(ss_tz **out, const char *name, const void *data, size_t len)
{
	assert(out && name && (data || len == 0));
	if (len > SS_TZ_FILE_MAX)
		return ss_error_set(SS_ETOOLARGE,
				    "time zone %.64s: TZif data of %zu bytes is over the "
				    "limit of %d",
				    name, len, SS_TZ_FILE_MAX);
	return parse_tzif(out, name, "its TZif data", (const unsigned char *)data, len);
}

static bool name_char_ok(char c)
{
	return is_alpha((unsigned char)c) || is_digit((unsigned char)c) || c == '_' ||
	       c == '+' || c == '-';
}

/* Segments of [A-Za-z0-9_+-], not starting with '+' or '-', joined by
 * single slashes: nothing that could leave the tz directory. */
static bool name_ok(const char *name)
{
	bool segment_start = true;
	const char *p;

	if (strnlen(name, SS_TZ_NAME_MAX + 1) > SS_TZ_NAME_MAX)
		return false;
	for (p = name; *p != '\0'; p++) {
		if (*p == '/') {
			if (segment_start)
				return false;
			segment_start = true;
			continue;
		}
		if (!name_char_ok(*p) || (segment_start && (*p == '-' || *p == '+')))
			return false;
		segment_start = false;
	}
	return !segment_start;
}

/* The entries of a tz directory that are not zones of the IANA database
 * but depend on the host or say nothing (see tz.h). */
static bool host_dependent(const char *name)
{
	static const char *const exact[] = { "localtime", "posixrules", "Factory" };
	static const char *const trees[] = { "posix/", "right/" };
	size_t i;

	for (i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (strcmp(name, exact[i]) == 0)
			return true;
	for (i = 0; i < sizeof(trees) / sizeof(trees[0]); i++)
		if (ss_str_has_prefix(name, trees[i]))
			return true;
	return false;
}

/* Whether `path`, with every symbolic link resolved, lies inside `dir`
 * (resolved too): a link out of the tz directory (localtime ->
 * /etc/localtime) makes the zone whatever the host says. */
static bool inside_dir(const char *dir, const char *path)
{
	char *rdir = realpath(dir, NULL), *rpath = realpath(path, NULL);
	size_t n;
	bool inside = false;

	if (rdir != NULL && rpath != NULL) {
		n = strlen(rdir);
		inside = strncmp(rpath, rdir, n) == 0 &&
			 (rpath[n] == '/' || (n == 1 && rdir[0] == '/'));
	}
	free(rdir);
	free(rpath);
	return inside;
}

/* The checks before a zone file is read: the name (name_ok,
 * host_dependent), then the file: a regular file inside `dir`. */
static int check_zone_file(const char *dir, const char *name, const char *path)
{
	struct stat st;

	/* A directory ("Europe") is not a zone; fopen() would open it. */
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return ss_error_set(SS_ENOTFOUND, "unknown time zone \"%s\" (no file %s)",
				    name, path);
	if (!inside_dir(dir, path))
		return ss_error_set(SS_EINVALID,
				    "time zone \"%.64s\": %s leads out of the time zone "
				    "directory %s, so it is the host's setting, not an "
				    "IANA zone",
				    name, path, dir);
	return 0;
}

int ss_tz_load(ss_tz **out, const char *name)
{
	ss_buf path = SS_BUF_INIT(4096);
	ss_buf data = SS_BUF_INIT(SS_TZ_FILE_MAX);
	const char *dir;
	int error;

	assert(out);
	if (!name || *name == '\0')
		return ss_error_set(SS_EINVALID, "time zone name is empty");
	if (!name_ok(name))
		return ss_error_set(SS_EINVALID,
				    "\"%.64s\" is not an IANA time zone name like "
				    "Europe/Berlin",
				    name);
	if (host_dependent(name))
		return ss_error_set(SS_EINVALID,
				    "\"%.64s\" is not an IANA time zone name like "
				    "Europe/Berlin: localtime, posixrules, Factory and the "
				    "posix/ and right/ trees depend on the host or name no "
				    "zone",
				    name);
	if (strcmp(name, "UTC") == 0)
		return utc_zone(out);
	dir = getenv("TZDIR");
	if (!dir || *dir == '\0')
		dir = "/usr/share/zoneinfo";
	error = ss_buf_printf(&path, "%s/%s", dir, name);
	if (error < 0)
		goto done;
	error = check_zone_file(dir, name, ss_buf_cstr(&path));
	if (error < 0)
		goto done;
	error = ss_file_read(&data, ss_buf_cstr(&path), SS_TZ_FILE_MAX);
	if (error < 0)
		goto done;
	/* ss_file_read() refused more than SS_TZ_FILE_MAX bytes already */
	error = parse_tzif(out, name, ss_buf_cstr(&path), (const unsigned char *)data.ptr,
			   data.len);
done:
	ss_buf_free(&path);
	ss_buf_free(&data);
	return error;
}
