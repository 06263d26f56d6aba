/*
 * clock.c — the system and fake clocks, and RFC 3339 timestamps. See clock.h.
 *
 * Formatting uses gmtime_r and parsing converts with a days-from-civil
 * calculation instead of timegm(), which is not POSIX.
 */
#include "util/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/error.h"

static int64_t read_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * SS_NS_PER_SEC + ts.tv_nsec;
}

static int64_t system_mono(const ss_clock *self)
{
	(void)self;
	return read_clock(CLOCK_MONOTONIC);
}

static int64_t system_real(const ss_clock *self)
{
	(void)self;
	return read_clock(CLOCK_REALTIME);
}

struct timespec ss_mono_deadline(int64_t ns)
{
	int64_t until = read_clock(CLOCK_MONOTONIC) + (ns > 0 ? ns : 0);
	struct timespec ts;

	ts.tv_sec = (time_t)(until / SS_NS_PER_SEC);
	ts.tv_nsec = (long)(until % SS_NS_PER_SEC);
	return ts;
}

static const ss_clock system_clock = { system_mono, system_real };

const ss_clock *ss_clock_system(void)
{
	return &system_clock;
}

static int64_t fake_mono(const ss_clock *self)
{
	return atomic_load(&((const ss_fake_clock *)(const void *)self)->mono);
}

static int64_t fake_real(const ss_clock *self)
{
	return atomic_load(&((const ss_fake_clock *)(const void *)self)->real);
}

void ss_fake_clock_init(ss_fake_clock *fc, int64_t real_ns)
{
	fc->clock.mono_ns = fake_mono;
	fc->clock.real_ns = fake_real;
	atomic_store(&fc->mono, SS_NS_PER_SEC);
	atomic_store(&fc->real, real_ns);
}

void ss_fake_clock_advance(ss_fake_clock *fc, int64_t ns)
{
	atomic_fetch_add(&fc->mono, ns);
	atomic_fetch_add(&fc->real, ns);
}

static char *format(char *buf, size_t cap, int64_t real_ns, int micro)
{
	time_t secs = (time_t)(real_ns / SS_NS_PER_SEC);
	long frac = (long)(real_ns % SS_NS_PER_SEC);
	struct tm tm;

	if (frac < 0) {
		secs--;
		frac += SS_NS_PER_SEC;
	}
	if (!gmtime_r(&secs, &tm)) {
		snprintf(buf, cap, "1970-01-01T00:00:00Z");
		return buf;
	}
	if (micro)
		snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, frac / 1000);
	else
		snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return buf;
}

char *ss_time_format(char *buf, size_t cap, int64_t real_ns)
{
	return format(buf, cap, real_ns, 0);
}

char *ss_time_format_micro(char *buf, size_t cap, int64_t real_ns)
{
	return format(buf, cap, real_ns, 1);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The whole seconds of INT64_MAX and INT64_MIN nanoseconds (rounded down),
 * and the least fraction the latter's second can take. */
#define MAX_SEC (INT64_MAX / SS_NS_PER_SEC)
#define MIN_SEC (INT64_MIN / SS_NS_PER_SEC - 1)
#define MIN_SEC_FRAC (SS_NS_PER_SEC + INT64_MIN % SS_NS_PER_SEC)

static int digits(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Whether the fields name a real date and time of day: a day the month
 * has (no 31 February, 29 February only in leap years), hour 0-23, minute
 * 0-59, second 0-60 (RFC 3339 allows a leap second; it counts as the next
 * minute's first, as POSIX time has no leap seconds). */
static int fields_ok(int year, int mon, int day, int hour, int min, int sec)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);

	if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] ||
	    (mon == 2 && day == 29 && !leap))
		return 0;
	return hour <= 23 && min <= 59 && sec <= 60;
}

int ss_time_parse(int64_t *out, const char *text)
{
	int year, mon, day, hour, min, sec, oh = 0, om = 0;
	int64_t frac_ns = 0, scale = SS_NS_PER_SEC / 10, offset = 0, secs;
	const char *p;

	if (!text || strlen(text) < 20 || digits(text, 4, &year) || text[4] != '-' ||
	    digits(text + 5, 2, &mon) || text[7] != '-' || digits(text + 8, 2, &day) ||
	    (text[10] != 'T' && text[10] != 't') || digits(text + 11, 2, &hour) ||
	    text[13] != ':' || digits(text + 14, 2, &min) || text[16] != ':' ||
	    digits(text + 17, 2, &sec))
		goto bad;
	if (!fields_ok(year, mon, day, hour, min, sec))
		goto bad;
	p = text + 19;
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9') /* "." needs a digit after it */
			goto bad;
		for (p++; *p >= '0' && *p <= '9'; p++) {
			frac_ns += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		/* RFC 3339's offset is a time-hour and a time-minute. */
		if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) ||
		    oh > 23 || om > 59)
			goto bad;
		offset = ((int64_t)oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		goto bad;
	}
	if (*p != '\0')
		goto bad;
	/* Four-digit years keep the seconds far inside int64; nanoseconds
	 * are not, so check before multiplying (frac_ns is 0..999999999). */
	secs = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec -
	       offset;
	if (secs > MAX_SEC || (secs == MAX_SEC && frac_ns > INT64_MAX % SS_NS_PER_SEC) ||
	    secs < MIN_SEC || (secs == MIN_SEC && frac_ns < MIN_SEC_FRAC))
		return ss_error_set(SS_EUNSUPPORTED,
				    "'%.64s' is outside the times nanoseconds since "
				    "1970 in 64 bits can hold (1677-09-21 to 2262-04-11)",
				    text);
	/* Below the epoch the earliest second only fits with its fraction:
	 * step from the next second down, so no product leaves int64. */
	if (secs < 0 && frac_ns > 0)
		*out = (secs + 1) * SS_NS_PER_SEC - (SS_NS_PER_SEC - frac_ns);
	else
		*out = secs * SS_NS_PER_SEC + frac_ns;
	return 0;
bad:
	return ss_error_set(SS_EINVALID, "'%.64s' is not an RFC 3339 time",
			    text ? text : "");
}
