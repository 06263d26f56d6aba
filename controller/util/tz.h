/*
 * tz.h — IANA time zones as values, without libc's global time zone state.
 *
 * localtime_r() and mktime() read the process-wide TZ (through tzset()),
 * so a process cannot work in Europe/Berlin and America/New_York at once
 * without racing on setenv("TZ"). Every BackupSchedule names its own zone
 * and the controller serves them all from one process, so here a zone is a
 * value: loaded once from the system's tz database ($TZDIR, else
 * /usr/share/zoneinfo) and then queried by any number of threads.
 *
 * A zone file is TZif (RFC 8536), version 2 or later; its 64-bit data is
 * used and its version 1 data ignored. Instants after the file's last
 * transition follow the POSIX TZ string in the file's footer (e.g.
 * "CET-1CEST,M3.5.0,M10.5.0/3"), so "slim" files (transitions only until
 * the rule takes over) and "fat" ones (transitions until 2037) give the
 * same answers, also after 2037. Zones that count leap seconds
 * ("right/...") are refused: snapstage's clocks are POSIX time.
 *
 * Civil time is the proleptic Gregorian calendar, computed with integer
 * days-from-civil arithmetic (no libc time functions). Instants are int64_t
 * seconds since the Unix epoch; every function taking one accepts
 * [SS_TZ_INSTANT_MIN, SS_TZ_INSTANT_MAX] (years 1 to 9999) and refuses
 * others with SS_EINVALID, so no arithmetic here can overflow.
 *
 * Local to UTC: a local time may occur once, twice (the clocks fell back:
 * a fold) or never (they sprang forward: a gap). ss_tz_resolve() reports
 * which, and does not guess.
 *
 * Ownership: ss_tz_load(), ss_tz_parse() and ss_tz_posix() allocate the
 * zone; the caller frees it with ss_tz_free(). Strings a query returns are
 * borrowed from the zone and live as long as it.
 * Thread-safety: a zone is immutable once loaded, so any number of threads
 * may query it at once. Loading calls getenv("TZDIR"): do not change the
 * environment while another thread loads a zone.
 */
#ifndef SNAPSTAGE_UTIL_TZ_H
#define SNAPSTAGE_UTIL_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Zone files larger than this are refused (the largest in tzdata 2025 is
 * under 4 KiB; this only stops a runaway read). */
#define SS_TZ_FILE_MAX (256 * 1024)
/* Longer zone names are refused before any file is looked at. */
#define SS_TZ_NAME_MAX 255

#define SS_TZ_INSTANT_MIN INT64_C(-62135596800) /* 0001-01-01T00:00:00Z */
#define SS_TZ_INSTANT_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

typedef struct ss_tz ss_tz;

/* A date and time of day on the wall clock. The first six fields say which
 * second; the rest are derived, filled by ss_tz_local() and
 * ss_civil_from_seconds() and ignored on input. */
typedef struct {
	int year;   /* 0-10000 (a local time may lie just outside 1-9999) */
	int month;  /* 1-12 */
	int day;    /* 1-31 */
	int hour;   /* 0-23 */
	int minute; /* 0-59 */
	int second; /* 0-59: no leap seconds */

	int wday;	      /* day of week 0-6, Sunday 0 */
	int yday;	      /* day of year 0-365, 1 January 0 */
	int iso_year;	      /* ISO 8601 week-numbering year (differs near 1 January) */
	int iso_week;	      /* ISO 8601 week 1-53 */
	int32_t utc_offset_s; /* ss_tz_local() only: seconds east of UTC */
	bool is_dst;	      /* ss_tz_local() only: daylight saving time */
} ss_civil;

/* A stretch of time with one UTC offset: [start_s, end_s). Neighbouring
 * periods may have the same offset (only the abbreviation or the DST flag
 * changed). */
typedef struct {
	int64_t start_s;      /* INT64_MIN: since before any data */
	int64_t end_s;	      /* INT64_MAX: for ever */
	int32_t utc_offset_s; /* seconds east of UTC */
	bool is_dst;
	const char *abbr; /* "CEST", "+1030"; borrowed from the zone */
} ss_tz_period;

/* Where a local time falls. */
typedef struct {
	/* How many instants show this local time: 1; 2 in a fold; 0 in a gap.
	 * (A zone could in theory repeat a time thrice; count stops at 2.) */
	int count;
	/* Those instants, earliest first; utc_s[1] only when count is 2 (the
	 * latest occurrence). */
	int64_t utc_s[2];
	/* The first instant at which the wall clock shows this local time or
	 * a later one: utc_s[0], or in a gap the instant the clocks jump over
	 * it (the end of the gap). */
	int64_t first_utc_s;
} ss_tz_resolution;

/* Loads the IANA zone `name` ("Europe/Berlin") into *out. "UTC" always
 * exists, even without a tz database. Names are [A-Za-z0-9_+-] segments
 * separated by single '/', none starting with '-' or '+' (so no "..", no
 * absolute path, nothing outside the tz directory).
 *
 * Only zones of the IANA database are loaded, never what the host says:
 * refused are the names a tz directory holds that are no zone of the
 * database — "localtime" (the host's setting), "posixrules" (the host's
 * default DST rule), "Factory" (a zone meaning "not set"), anything under
 * "posix/" or "right/" (copies of the database for other clocks) — and any
 * file that, its symbolic links resolved, lies outside the tz directory
 * (resolved too). So a name means the same zone on every host with the
 * same tz database. Area/Location names, Etc/..., UTC and the database's
 * backward links (US/Eastern, Japan, CET) load.
 *
 * 0; SS_EINVALID for a bad or host-dependent name, or a file that is not
 * valid TZif;
 * SS_ENOTFOUND for a zone that does not exist; SS_EUNSUPPORTED for TZif
 * version 1 or leap seconds; SS_ETOOLARGE past SS_TZ_FILE_MAX; SS_ENOMEM.
 * The message names the zone and the file. *out is written only on
 * success; free it with ss_tz_free(). */
int ss_tz_load(ss_tz **out, const char *name);

/* The zone in `len` bytes of TZif `data` (what ss_tz_load() reads from
 * the zone's file), named `name`; nothing else is looked at, so the bytes
 * may come from anywhere. Bounded: at most SS_TZ_FILE_MAX bytes
 * (SS_ETOOLARGE beyond), every count checked against the bytes before
 * anything is allocated, so memory is a small multiple of `len`. 0;
 * SS_EINVALID for bytes that are not valid TZif; SS_EUNSUPPORTED for
 * version 1 or leap seconds; SS_ENOMEM. The message names `name` and "its
 * TZif data". *out is written only on success; free it with ss_tz_free(). */
int ss_tz_parse(ss_tz **out, const char *name, const void *data, size_t len);

/* A zone from a POSIX TZ string alone, in the language of a TZif footer
 * (RFC 8536 section 3.3): "CET-1CEST,M3.5.0,M10.5.0/3",
 * "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", "UTC0". Its name is the string.
 * For tests and tools; schedules use ss_tz_load(). 0, SS_EINVALID or
 * SS_ENOMEM; free *out with ss_tz_free(). */
int ss_tz_posix(ss_tz **out, const char *posix);

/* NULL is ignored. */
void ss_tz_free(ss_tz *tz);

/* The name it was loaded by. Borrowed. */
const char *ss_tz_name(const ss_tz *tz);

/* The UTC offset (seconds east) in effect at `utc_s`. 0 or SS_EINVALID. */
int ss_tz_offset(const ss_tz *tz, int64_t utc_s, int32_t *out_offset_s);

/* The period of constant offset that contains `utc_s`. 0 or SS_EINVALID. */
int ss_tz_period_at(const ss_tz *tz, int64_t utc_s, ss_tz_period *out);

/* The wall-clock time in the zone at `utc_s`, with every derived field.
 * 0 or SS_EINVALID. */
int ss_tz_local(const ss_tz *tz, int64_t utc_s, ss_civil *out);

/* The instants at which the wall clock shows `local` (its first six
 * fields, which must form a real date and time: SS_EINVALID otherwise). */
int ss_tz_resolve(const ss_tz *tz, const ss_civil *local, ss_tz_resolution *out);

/* Calendar arithmetic, pure and independent of any zone. */

bool ss_is_leap_year(int year);
/* 28-31; 0 for a month outside 1-12. */
int ss_days_in_month(int year, int month);
/* Days from 1970-01-01 to year-month-day (negative before); month 1-12 and
 * day 1-31 are not checked, so 31 February is 3 March. */
int64_t ss_days_from_civil(int year, int month, int day);
/* Day of week 0-6, Sunday 0, of a day counted as above. */
int ss_weekday(int64_t days);

/* A wall-clock second counted like an instant ("local seconds": the UTC
 * instant that would show the same digits) into its civil fields, derived
 * ones included (offset 0, no DST). Accepts the instant range widened by
 * two days on each side; SS_EINVALID beyond. */
int ss_civil_from_seconds(ss_civil *out, int64_t local_s);
/* The reverse: checks the first six fields (year 0-10000, a real date,
 * hour 0-23, minute and second 0-59) and counts them. 0 or SS_EINVALID. */
int ss_civil_to_seconds(int64_t *out, const ss_civil *c);

#endif
