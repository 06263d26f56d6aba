/*
 * schedule_plan.h — the BackupSchedule controller's decisions, pure: which
 * due time (if any) to run now, how many runs were missed or skipped, when
 * to look again, and whether a run-now token asks for a Backup. No clock,
 * no I/O: the reconciler (schedule.c) reads the world and passes plain data.
 *
 * The rules (docs/api.md, issue 7):
 *   - the cursor is status.lastScheduleTime: the newest due time handled
 *     (run, skipped or missed). A new schedule starts from its creation
 *     time: a due time before the schedule existed is not a missed run;
 *   - the latest due time at or before now (app_cron_prev) newer than the
 *     cursor runs, once, unless it is older than startingDeadlineSeconds
 *     (then it is missed); the due times between the cursor and it are
 *     missed, counted (up to APP_SCHED_MISSED_COUNT_MAX) and never run;
 *   - a due time while a Backup of the schedule is still running is
 *     skipped, never started late;
 *   - a spec change (metadata.generation differs from the observed one)
 *     never starts a run by itself: due times up to now are passed over
 *     without counting them;
 *   - suspended: nothing runs and there is no next time;
 *   - "once": one run, when the cursor is unset; the scheduled time is the
 *     schedule's creation time;
 *   - run-now: a non-empty token that differs from status.lastRunNowToken.
 *
 * Thread-safety: reentrant. Nothing is allocated.
 */
#ifndef SNAPSTAGE_APP_SCHEDULE_PLAN_H
#define SNAPSTAGE_APP_SCHEDULE_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "app/cron.h"
#include "util/tz.h"

/* Missed runs counted in one decision at most (a minutely schedule that
 * was down for a year would otherwise walk half a million due times). */
#define APP_SCHED_MISSED_COUNT_MAX 10000

typedef struct {
	int64_t now_ns;
	int64_t creation_ns;		   /* metadata.creationTimestamp */
	int64_t last_schedule_ns;	   /* status.lastScheduleTime; 0: never */
	int64_t starting_deadline_seconds; /* -1: unset */
	bool suspend;
	bool spec_changed; /* generation != status.observedGeneration (and seen before) */
	bool busy;	   /* a Backup of this schedule is not finished */
} app_sched_plan_in;

typedef enum {
	APP_SCHED_NOTHING, /* no due time to act on */
	APP_SCHED_RUN,	   /* create the Backup for scheduled_ns */
	APP_SCHED_SKIP,	   /* due, but the previous run is still going */
	APP_SCHED_MISS	   /* due, but past startingDeadlineSeconds */
} app_sched_action;

typedef struct {
	app_sched_action action;
	int64_t scheduled_ns; /* the due time acted on (not NOTHING) */
	/* The cursor to record: scheduled_ns, or the input's when NOTHING. */
	int64_t last_schedule_ns;
	int64_t missed;	 /* older due times passed over, to add to missedRuns */
	int64_t next_ns; /* the next due time after now; 0: none (suspended, once) */
} app_sched_plan_out;

/* Decides for `c` in zone `tz`. 0, or SS_EINVALID (NULL input). A schedule
 * that never falls due within APP_CRON_SEARCH_YEARS gives NOTHING and
 * next_ns 0. *out is written only on success. */
int app_sched_plan(app_sched_plan_out *out, const app_cron *c, const ss_tz *tz,
		   const app_sched_plan_in *in);

/* Whether the run-now annotation value `token` (NULL: absent) asks for a
 * Backup, given status.lastRunNowToken `last` (NULL: none). */
bool app_sched_run_now_wanted(const char *token, const char *last);

/* The suffix of the run-now Backup for `token`: "now-" and 8 hex digits of
 * a stable hash of the token, into out (at least 13 bytes). */
void app_sched_run_now_suffix(char *out, const char *token);

/* What a Restore asks of a schedule's Backups, for retention. */
typedef enum {
	APP_SCHED_HOLD_NONE,   /* finished, or about another schedule's Backups */
	APP_SCHED_HOLD_BACKUP, /* still needs the Backup named in *backup */
	APP_SCHED_HOLD_ALL     /* restores from the schedule and has not yet
				  chosen a Backup: any of them may be it */
} app_sched_hold;

/* What `restore` (a Restore object, in the schedule's namespace) holds of
 * the Backups of schedule `schedule`. A Restore holds until status.phase is
 * Completed or Failed: the Backup in status.sourceBackup, else the one in
 * spec.source.backupName (HOLD_BACKUP with *backup set, borrowed from
 * `restore`; the caller checks whether it is one of the schedule's), else,
 * when spec.source.scheduleName is `schedule`, all of them (HOLD_ALL). A
 * Restore from a VolumeSnapshot, or one that names nothing, holds nothing. */
app_sched_hold app_sched_restore_hold(const json_t *restore, const char *schedule,
				      const char **backup);

#endif
