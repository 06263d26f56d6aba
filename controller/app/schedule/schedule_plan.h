/*
 * schedule_plan.h — the BackupSchedule controller's decisions, pure: which
 * due time (if any) to run now, how many runs were missed or skipped, when
 * to look again, and whether a run-now token asks for a Backup. No clock,
 * no I/O: the reconciler (schedule.c) reads the world and passes plain data.
 *
 * The rules (docs/api.md, issues 7 and 15):
 *   - the cursor is status.lastScheduleTime: the newest due time handled
 *     (run, skipped or missed). A new schedule starts from its creation
 *     time: a due time before the schedule existed is not a missed run;
 *   - the latest due time at or before now (app_cron_prev) newer than the
 *     cursor runs, once, unless it is older than startingDeadlineSeconds
 *     (then it is missed); the due times between the cursor and it are
 *     missed, counted (up to APP_SCHEDULE_PLAN_MISSED_COUNT_MAX) and never run;
 *   - no due time is passed over silently: each missed one is counted with
 *     its cause (miss_cause): why no run could start (`blocked`: the
 *     target, Secret or snapshot API missing), else the reason Ready was
 *     False for when last written (`was_not_ready`: BackupRejected,
 *     BackupCreateFailed, ...), else APP_SCHEDULE_PLAN_CAUSE_LATE (the controller
 *     did not handle it in time: down, not the leader, or behind);
 *   - blocked: a due time within startingDeadlineSeconds (or any, when
 *     unset) waits (WAIT): the cursor stays before it, so it runs as soon as
 *     the blocker goes, and wake_ns says when to look again at the latest
 *     (its deadline, or the next due time, which makes it a missed one);
 *     one past the deadline is missed, with the blocker as its cause;
 *   - a due time while a Backup of the schedule is still running is
 *     skipped, never started late;
 *   - a spec change (metadata.generation differs from the observed one)
 *     never starts a run by itself: the due times of the new spec up to now
 *     are passed over without counting them (they were not due under the
 *     spec in force then). The old spec's due time that was waited for
 *     (status.nextScheduleTime as last written) is not passed over when it
 *     has come meanwhile: it runs (within startingDeadlineSeconds, not
 *     blocked, not busy) or is missed or skipped like any due time. Due
 *     times of the old spec after that one are not known (only the next one
 *     is recorded): a reconcile delayed by more than one period of the old
 *     schedule across a spec edit cannot count them;
 *   - suspended: nothing runs and there is no next time; due times while
 *     suspended are neither run nor counted (a deliberate pause, not a
 *     failure; Ready says Suspended), and resuming is a spec change;
 *   - "once": one run, when the cursor is unset; the scheduled time is the
 *     schedule's creation time;
 *   - run-now: a non-empty token of at most APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX
 *     bytes that differs from status.lastRunNowToken, compared whole, byte
 *     for byte. Its Backup is named from a 40-bit hash of the token and
 *     carries the token in the annotation snapstage.io/run-now, so a name
 *     taken by another token (a collision) is told from a retry of the same
 *     one, and the next name of the token's sequence is tried.
 *
 * Thread-safety: reentrant. Nothing is allocated.
 */
#ifndef SNAPSTAGE_APP_SCHEDULE_PLAN_H
#define SNAPSTAGE_APP_SCHEDULE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "app/sched/cron.h"
#include "util/tz.h"

/* Missed runs counted in one decision at most (a minutely schedule that
 * was down for a year would otherwise walk half a million due times). */
#define APP_SCHEDULE_PLAN_MISSED_COUNT_MAX 10000

typedef struct {
	int64_t now_ns;
	int64_t creation_ns;		   /* metadata.creationTimestamp */
	int64_t last_schedule_ns;	   /* status.lastScheduleTime; 0: never */
	/* status.nextScheduleTime as last written: the due time the schedule
	 * waited for under the spec then in force; 0: none. */
	int64_t next_schedule_ns;
	int64_t starting_deadline_seconds; /* -1: unset */
	bool suspend;
	bool spec_changed; /* generation != status.observedGeneration (and seen before) */
	bool busy;	   /* a Backup of this schedule is not finished */
	/* Why no run can start now (a Ready reason: TargetNotFound, ...);
	 * NULL: one can. Borrowed into the output's miss_cause. */
	const char *blocked;
	/* The reason of the Ready condition as last written when it was False
	 * (Suspended, TargetNotFound, BackupRejected, ...); NULL when it was
	 * True or never written. */
	const char *was_not_ready;
} app_schedule_plan_in;

typedef enum {
	APP_SCHEDULE_PLAN_NOTHING, /* no due time to act on */
	APP_SCHEDULE_PLAN_RUN,	   /* create the Backup for scheduled_ns */
	APP_SCHEDULE_PLAN_SKIP,	   /* due, but the previous run is still going */
	APP_SCHEDULE_PLAN_MISS,	   /* due, but past startingDeadlineSeconds (or
				      blocked across a spec change) */
	APP_SCHEDULE_PLAN_WAIT	   /* due, within the deadline, but blocked: not
				      yet */
} app_schedule_plan_action;

/* The cause of misses when the controller was simply not there in time. */
#define APP_SCHEDULE_PLAN_CAUSE_LATE "NotHandledInTime"
/* Ready reasons of the schedule controller's own (besides the decoder's
 * and the target's, preflight in schedule.c). */
#define APP_SCHEDULE_PLAN_REASON_NEVER_RUNS "NeverRuns"
#define APP_SCHEDULE_PLAN_REASON_REJECTED "BackupRejected" /* 400/422: a spec issue */
#define APP_SCHEDULE_PLAN_REASON_CREATE_FAILED "BackupCreateFailed" /* other errors */

typedef struct {
	app_schedule_plan_action action;
	int64_t scheduled_ns; /* the due time acted on (not NOTHING) */
	/* The cursor to record: scheduled_ns, or the input's when NOTHING;
	 * before scheduled_ns when WAIT. */
	int64_t last_schedule_ns;
	int64_t missed;		/* older due times passed over, to add to
				   missedRuns (MISS adds one more) */
	const char *miss_cause; /* when missed > 0 or MISS: a reason code
				   (static, or the input's blocked or
				   was_not_ready); else NULL */
	/* status.nextScheduleTime: the due time waited for (scheduled_ns when
	 * WAIT), else the next due time after now; 0: none (suspended, once) */
	int64_t next_ns;
	/* When to look again at the latest; 0: no time of its own (once done,
	 * never due; the caller's recheck of a blocked schedule still runs) */
	int64_t wake_ns;
} app_schedule_plan_out;

/* Decides for `c` in zone `tz`. 0, or SS_EINVALID (NULL input). A schedule
 * that never falls due within APP_CRON_SEARCH_YEARS gives NOTHING and
 * next_ns 0. *out is written only on success. */
int app_schedule_plan(app_schedule_plan_out *out, const app_cron *c, const ss_tz *tz,
		      const app_schedule_plan_in *in);

/* Whether `c` never falls due (within APP_CRON_SEARCH_YEARS after now_ns,
 * which for a cron expression means never: "0 0 30 2 *"). "once" does. */
bool app_schedule_plan_never_runs(const app_cron *c, const ss_tz *tz, int64_t now_ns);

/* A reason code a miss was counted with, as words for an Event ("the
 * target was missing (TargetNotFound)" is the caller's: this gives "the
 * schedule was not ready" for any Ready reason it does not know). Static. */
const char *app_schedule_plan_cause_text(const char *cause);

/* Whether a failed create (was_not_ready BackupRejected or
 * BackupCreateFailed) still stands: until a Backup is created or the spec
 * changes, Ready stays False with that reason, so a reconcile with nothing
 * due does not paint it True. */
bool app_schedule_plan_failure_stands(const char *was_not_ready, bool spec_changed);

/* The longest wait between retries of a schedule whose reconcile failed:
 * a quarter of startingDeadlineSeconds, at least 1 s and at most
 * APP_SCHEDULE_PLAN_RETRY_CAP_SECONDS (also when unset), so a due time is retried
 * several times before its deadline instead of after the workqueue's
 * 1000 s backoff. */
#define APP_SCHEDULE_PLAN_RETRY_CAP_SECONDS 60
int64_t app_schedule_plan_retry_cap_ns(int64_t starting_deadline_seconds);

/* A message from elsewhere (the API server's) fit for a condition and an
 * Event: control characters become spaces, and it is cut to fit `cap`
 * bytes on a UTF-8 character boundary, "..." marking a cut. Returns out. */
#define APP_SCHEDULE_PLAN_MESSAGE_MAX 512
char *app_schedule_plan_clean_message(char *out, size_t cap, const char *msg);

/* The longest run-now token (snapstage.io/run-now annotation value)
 * honoured; a longer one is refused with an Event and never recorded. */
#define APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX 256
/* How many names of a token's sequence are tried before giving up (each
 * taken by a Backup of another token: never by chance). */
#define APP_SCHEDULE_PLAN_RUN_NOW_ATTEMPTS 4
/* = names.h APP_NAME_RUN_NOW_SUFFIX_BUF */
#define APP_SCHEDULE_PLAN_RUN_NOW_SUFFIX_BUF 16

/* Whether the run-now annotation value `token` (NULL: absent) asks for a
 * Backup, given status.lastRunNowToken `last` (NULL: none): the whole
 * token compared, byte for byte. A token longer than
 * APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX asks for nothing. */
bool app_schedule_plan_run_now_wanted(const char *token, const char *last);

/* The suffix of the run-now Backup for `token`, try `attempt` (1 ..
 * APP_SCHEDULE_PLAN_RUN_NOW_ATTEMPTS): "now-" and 10 hex digits of a 64-bit hash of
 * the token and the attempt, into out (APP_SCHEDULE_PLAN_RUN_NOW_SUFFIX_BUF); the
 * hash is names.h's (app_name_run_now_suffix), like every generated name. */
void app_schedule_plan_run_now_suffix(char *out, const char *token, int attempt);

/* What a Restore asks of a schedule's Backups, for retention. */
typedef enum {
	APP_SCHEDULE_PLAN_HOLD_NONE,   /* finished, or about another schedule's Backups */
	APP_SCHEDULE_PLAN_HOLD_BACKUP, /* still needs the Backup named in *backup */
	APP_SCHEDULE_PLAN_HOLD_ALL     /* restores from the schedule and has not yet
				  chosen a Backup: any of them may be it */
} app_schedule_plan_hold;

/* What `restore` (a Restore object, in the schedule's namespace) holds of
 * the Backups of schedule `schedule`. A Restore holds until status.phase is
 * Completed or Failed: the Backup in status.sourceBackup, else the one in
 * spec.source.backupName (HOLD_BACKUP with *backup set, borrowed from
 * `restore`; the caller checks whether it is one of the schedule's), else,
 * when spec.source.scheduleName is `schedule`, all of them (HOLD_ALL). A
 * Restore from a VolumeSnapshot, or one that names nothing, holds nothing. */
app_schedule_plan_hold app_schedule_plan_restore_hold(const json_t *restore,
						      const char *schedule,
						      const char **backup);

/* ---- restore verification (issue 18) ----------------------------------
 *
 * The schedule asks for verifications; the verify controller runs them
 * (it acts on a Backup whose snapstage.io/verify-now annotation differs
 * from its status.verification.token). The rules:
 *   - spec.verification.schedule is a cron of its own, in its own zone;
 *     its cursor is status.lastVerificationRequestTime, and a new
 *     schedule starts from its creation time. The newest due time at or
 *     before now that is newer than the cursor is acted on, once: the
 *     older ones (a controller that was down) are passed over, never
 *     acted on one by one. Suspended: nothing is due and there is no next
 *     time (the due times while suspended pass: the next one after
 *     resuming acts). "once" as a verification cron never falls due;
 *   - a spec change passes over the new cron's due times up to now, as
 *     for Backups, except the due time the old spec waited for
 *     (status.nextVerificationTime), come meanwhile;
 *   - acting on a due time picks the newest (creation time, then name) of
 *     the schedule's own Backups that is Complete, not Restorable False,
 *     and not being deleted; none: the due time is recorded all the same
 *     (NothingToVerify, once per due time). One whose verification is
 *     still running or requested is not asked again (the request in
 *     flight serves the due time);
 *   - everyNthBackup N: each own Backup gets, once it is Complete, its
 *     ordinal among the schedule's Complete Backups (oldest first by
 *     creation, one more than the greatest ordinal any own Backup already
 *     carries, kept in the annotation APP_SCHEDULE_ANNOTATION_ORDINAL so
 *     that pruning never changes it); a multiple of N that became Complete
 *     after the newest completion the schedule had recorded is asked to
 *     verify, token "nth-<name>". Backups numbered when N was first set
 *     are numbered without asking (no burst of old verifications);
 *   - the report: the newest finished verification (by its completion
 *     time), the newest Backup (by creation) whose verification passed,
 *     and Degraded (requireVerified) while the newest finished one failed
 *     and no Backup newer than the failed one has passed. */

/* The ordinal of a Complete Backup among its schedule's Complete ones
 * (decimal), written by the schedule (everyNthBackup). */
#define APP_SCHEDULE_ANNOTATION_ORDINAL "snapstage.io/complete-ordinal"
/* Condition of the schedule, with requireVerified. */
#define APP_SCHEDULE_CONDITION_DEGRADED "Degraded"
#define APP_SCHEDULE_REASON_VERIFICATION_FAILED "VerificationFailed"
#define APP_SCHEDULE_REASON_VERIFIED "Verified"
/* "nth-" and a Backup name (at most 253). */
#define APP_SCHEDULE_PLAN_VERIFY_TOKEN_BUF (4 + 253 + 1)

typedef struct {
	int64_t now_ns;
	int64_t creation_ns;	 /* the schedule's metadata.creationTimestamp */
	int64_t last_request_ns; /* status.lastVerificationRequestTime; 0 */
	int64_t next_ns;	 /* status.nextVerificationTime */
	bool suspend;
	bool spec_changed;
} app_schedule_plan_verify_in;

typedef struct {
	bool due; /* a due time to act on: due_ns */
	int64_t due_ns;
	int64_t last_request_ns; /* the cursor to record */
	int64_t next_ns;	 /* the next due time after now; 0: none */
} app_schedule_plan_verify_out;

/* The verification cron `c` in zone `tz`. 0 or SS_EINVALID (NULL). */
int app_schedule_plan_verify_due(app_schedule_plan_verify_out *out, const app_cron *c,
				 const ss_tz *tz, const app_schedule_plan_verify_in *in);

/* One of the schedule's own Backups, as verification sees it. Strings are
 * borrowed from the Backup object. */
typedef struct {
	const char *name;
	int64_t creation_ns;
	int64_t completion_ns;	/* status.completionTime; 0: none */
	bool complete;		/* condition Complete True */
	bool unrestorable;	/* condition Restorable False */
	bool deleting;		/* metadata.deletionTimestamp set */
	const char *verify_now; /* the annotation; NULL: absent */
	int64_t ordinal;	/* APP_SCHEDULE_ANNOTATION_ORDINAL; 0: none */
	/* status.verification */
	const char *token;
	bool active;	     /* a phase before Done, or the verification finalizer */
	bool done;	     /* phase Done */
	const char *result;  /* "Passed", "Failed" or NULL */
	int64_t verified_ns; /* its completionTime */
} app_schedule_plan_vbackup;

/* Whether `b` can be verified: Complete, not Restorable False, not being
 * deleted. */
bool app_schedule_plan_verifiable(const app_schedule_plan_vbackup *b);

/* Whether a verification of `b` is running or asked for and not yet taken
 * up (a verify-now value other than status.verification.token). */
bool app_schedule_plan_verify_pending(const app_schedule_plan_vbackup *b);

/* The index of the newest verifiable Backup of `bs` (creation time, then
 * the greater name), or -1. */
long app_schedule_plan_verify_pick(const app_schedule_plan_vbackup *bs, size_t n);

/* everyNthBackup: for each Backup of `bs`, out[i] = the ordinal to write
 * (0: none to write; a Backup that has one, or is not Complete, gets
 * none) and ask[i] whether to ask for its verification. `since_ns`: the
 * newest completion the schedule had recorded (status.lastSuccessfulBackup
 * before this reconcile); only Backups complete after it are asked;
 * `every` <= 0: nothing at all. Thread-safe; nothing allocated. */
void app_schedule_plan_verify_nth(int64_t *out, bool *ask,
				  const app_schedule_plan_vbackup *bs, size_t n,
				  int every, int64_t since_ns);

/* "nth-<name>", cut to fit `cap` (at least 5). Returns out. */
char *app_schedule_plan_nth_token(char *out, size_t cap, const char *name);

typedef struct {
	long last;     /* the newest finished verification; -1: none */
	long verified; /* the newest Backup that passed one; -1: none */
	/* The newest finished verification failed and no newer Backup has
	 * passed one (what Degraded says with requireVerified). */
	bool failing;
} app_schedule_plan_verify_report;

/* The report over `bs`. Thread-safe; nothing allocated. */
void app_schedule_plan_verify_report_of(app_schedule_plan_verify_report *out,
					const app_schedule_plan_vbackup *bs, size_t n);

#endif
