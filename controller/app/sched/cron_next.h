/*
 * cron_next.h — when a parsed schedule (app/sched/cron.h) is due, in its time
 * zone: the next run after an instant, and the latest run at or before one
 * (for missed-run detection). Pure: no clock, no I/O.
 *
 * A schedule matches local wall-clock minutes in the zone (seconds 0).
 * Daylight saving time makes some wall-clock minutes happen twice and some
 * never, so "when is local minute M due" needs a rule. Ours is one line:
 *
 *   A matching minute M is due at the first instant at which the wall
 *   clock shows M or a later time.
 *
 * Which means:
 *   - a minute that happens once runs then;
 *   - a minute that happens twice (the clocks fall back: Berlin's 02:00-
 *     02:59 on the last Sunday of October) runs once, at its first
 *     occurrence, and not again when the hour repeats. "*\/15 * * * *" runs
 *     at 02:00, 02:15, 02:30, 02:45 summer time and next at 03:00 winter
 *     time: once per wall-clock minute, never twice;
 *   - a minute that never happens (the clocks spring forward: Berlin's
 *     02:00-02:59 on the last Sunday of March) runs at the moment the
 *     clocks jump over it, 03:00 summer time. "30 2 * * *" is not skipped
 *     that day, as in cronie and Vixie cron for jobs at fixed times.
 *     Several skipped minutes run together, once: "*\/15 * * * *" runs once
 *     at 03:00 for 02:00-03:00, not five times. Unlike Vixie cron this
 *     holds for every schedule, so "30 * * * *" runs at 01:30, at 03:00
 *     (for the skipped 02:30) and at 03:30: a backup may come early
 *     once a year, none is lost.
 * The rule needs no table of offsets, works for any zone (Lord Howe's
 * 30-minute shift, zones that moved by a day), and keeps due times in the
 * order of the minutes they stand for, so next and prev mirror each other:
 * app_cron_prev(app_cron_next(t)) == app_cron_next(t).
 *
 * Instants are int64_t nanoseconds since the Unix epoch (UTC), as
 * util/clock.h; results are whole seconds (transitions in tz data are).
 *
 * The search walks the calendar, skipping months, days and hours that
 * cannot match, and gives up after APP_CRON_SEARCH_YEARS: "0 0 30 2 *"
 * never happens. Errors: SS_ENOTFOUND with a message when there is no run
 * within that bound or within the nanosecond clock's years (1677-2262),
 * and for a "once" schedule, which has no recurring times: the caller runs
 * it once, itself, and never asks for a next one.
 *
 * Ownership: nothing is allocated. Thread-safety: reentrant; a zone may be
 * shared (util/tz.h).
 */
#ifndef SNAPSTAGE_APP_CRON_NEXT_H
#define SNAPSTAGE_APP_CRON_NEXT_H

#include <stdint.h>

#include "app/sched/cron.h"
#include "util/tz.h"

/* At least the longest a schedule that can match at all waits between two
 * runs. With a day-of-week field starting with a star both day fields must
 * match, so 29 February with a day of week of "every fifth day from
 * Sunday" (Sundays and Fridays) runs in 2188, then 2224; and no date falls
 * on one weekday more than 40 years apart in the Gregorian calendar. So a
 * search this long that finds nothing means the schedule never runs, and
 * next and prev mirror each other however rare the schedule. Cost: the
 * walks skip whole months and days that cannot match; at most 40 x 366 day
 * steps. */
#define APP_CRON_SEARCH_YEARS 40

/* The first due instant strictly after `after_utc_ns` into *out_utc_ns:
 * 0, or SS_ENOTFOUND (see above). *out is written only on success. */
int app_cron_next(int64_t *out_utc_ns, const app_cron *c, const ss_tz *tz,
		  int64_t after_utc_ns);

/* The latest due instant at or before `at_or_before_utc_ns`: 0, or
 * SS_ENOTFOUND when there is none within APP_CRON_SEARCH_YEARS before it.
 * *out is written only on success. */
int app_cron_prev(int64_t *out_utc_ns, const app_cron *c, const ss_tz *tz,
		  int64_t at_or_before_utc_ns);

#endif
