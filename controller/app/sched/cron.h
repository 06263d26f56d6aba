/*
 * cron.h — a BackupSchedule's spec.schedule, parsed into bitsets.
 *
 * The text is one of:
 *
 *   - a standard 5-field cron expression, "minute hour day-of-month month
 *     day-of-week", fields separated by spaces or tabs. Each field is a
 *     comma list of: `*`, a number, a range `a-b`, or a step: `a-b/n`,
 *     `a/n` (a through the field's maximum, as in Kubernetes) or `*`
 *     followed by `/n` (the whole field, every n). `?` is taken as `*`, as
 *     Kubernetes does.
 *     Months JAN-DEC and days SUN-SAT may be named, in any case, also in
 *     ranges (MON-FRI). Day of week is 0-7, 7 being Sunday again, but
 *     `*`, `a/n` and `H` there end at 6 (Saturday), as in Kubernetes,
 *     whose day of week is 0-6: "1/2" is Monday, Wednesday and Friday.
 *     7 is Sunday only as a value or as the end of a range ("1-7/2" is
 *     Monday, Wednesday, Friday and Sunday). This is not cronie's (nor
 *     Vixie cron's) reading, where `*` in day of week is 0-7, so that
 *     "*\/7" there means Sunday; here it is refused (below).
 *     A step must be at least 1 and less than the width of its range, so
 *     that `a-b/n`, `a/n` and `*\/n` reach a second value (every 60
 *     minutes is refused: write 0; in day of week "*\/7", "6/2" and
 *     "7/2" are refused too).
 *
 *   - with `H` (as in Jenkins) in any field: one value chosen from `seed`,
 *     stably and without rand(). `H` alone ranges over the whole field,
 *     except day of month, where it ranges over 1-28 so that it exists in
 *     every month; `H(a-b)` ranges over a-b; `H/n` and `H(a-b)/n` are "a
 *     stable offset below n, then every n" (H/15 in minutes might give
 *     7,22,37,52). Their step passes the same check, but counts from the
 *     offset, not from the range's start: it reaches a second value
 *     always when n is at most half the range's width, else only for the
 *     offsets that leave room. "H/4" in day of week is 0,4 or 1,5 or 2,6,
 *     or only 3 (Wednesday) for a seed whose offset is 3; "H(0-10)/8" is
 *     a single minute for offsets 3-7. The value is a function of the
 *     seed, the field and the H's place in the field only: the same seed
 *     always gives the same times, across restarts and versions, and
 *     different seeds spread.
 *
 *   - a macro, with Kubernetes' (robfig/cron's) meaning, not Jenkins': no
 *     H, so "@daily" is midnight for every schedule that says so:
 *       @yearly, @annually   0 0 1 1 *
 *       @monthly             0 0 1 * *
 *       @weekly              0 0 * * 0
 *       @daily, @midnight    0 0 * * *
 *       @hourly              0 * * * *
 *     Write "H H * * *" to spread daily backups instead.
 *
 *   - "once": one backup, as soon as possible (kind APP_CRON_ONCE).
 *
 * Macros, "once", month and day names and `H` are case-insensitive. Not
 * accepted: @every, @reboot, seconds (6 fields), CRON_TZ= / TZ= prefixes
 * (the time zone is spec.timeZone), L, W, #, and anything else.
 *
 * Day of month and day of week combine as in Vixie cron: if either field
 * starts with `*` (or `?`), a day must match both (so the starred one does
 * not restrict); otherwise a day matches when either matches. Note that
 * robfig/cron v3 (Kubernetes CronJob) instead counts a starred step (`*`
 * then `/2`) as restricted: with that day of month and day of week 3 this
 * runs on odd-day Wednesdays, a CronJob on odd days and every Wednesday.
 *
 * Errors: every failure is SS_EINVALID with a message short enough for a
 * status condition, naming what is wrong and where, e.g.
 * `field 2 (hour): 24 is out of range 0-23`. At most 32 characters of any
 * one piece of the input are quoted back, and the input must be printable
 * ASCII, so a message is always valid UTF-8 and never long.
 *
 * Ownership: nothing is allocated; an app_cron is a plain value.
 * Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_APP_CRON_H
#define SNAPSTAGE_APP_CRON_H

#include <stdbool.h>
#include <stdint.h>

/* Longer schedules are refused before anything else is looked at. */
#define APP_CRON_TEXT_MAX 256

typedef enum {
	APP_CRON_EXPR, /* recurring: the bitsets below say when */
	APP_CRON_ONCE, /* "once": the bitsets are all zero */
} app_cron_kind;

typedef struct {
	app_cron_kind kind;
	uint64_t minutes; /* bit i: minute i, 0-59 */
	uint32_t hours;	  /* bit i: hour i, 0-23 */
	uint32_t mdays;	  /* bit i: day of month i, 1-31 (bit 0 unused) */
	uint16_t months;  /* bit i: month i, 1-12 (bit 0 unused) */
	uint8_t wdays;	  /* bit i: day of week i, 0-6, Sunday 0 (7 folded into 0) */
	bool mday_star;	  /* the day-of-month field starts with * or ? */
	bool wday_star;	  /* the day-of-week field starts with * or ? */
} app_cron;

/* Parses `text` into *out: 0, or SS_EINVALID with the reason in the last
 * error; *out is written only on success. `seed` picks the values of H
 * (pass the schedule's "namespace/name"); NULL is taken as "". */
int app_cron_parse(app_cron *out, const char *text, const char *seed);

/* Whether a day matches the day-of-month and day-of-week fields under the
 * rule above. mday 1-31, wday 0-6 (Sunday 0, as struct tm). False for
 * anything out of range and for APP_CRON_ONCE. Pure. */
bool app_cron_day_matches(const app_cron *c, int mday, int wday);

/* Whether the minute with these broken-down local fields matches: minute
 * 0-59, hour 0-23, mday 1-31, month 1-12, wday 0-6. False for anything
 * out of range and for APP_CRON_ONCE. Pure. */
bool app_cron_matches(const app_cron *c, int minute, int hour, int mday, int month,
		      int wday);

#endif
