/*
 * schedule.h — the BackupSchedule controller: turns a schedule into Backups
 * at its due times (one per due time, under a deterministic name), one per
 * run-now token, one ever for "once", and prunes the schedule's Backups by
 * its retention rules.
 *
 * One reconcile of a BackupSchedule, in numbered steps (schedule.c; a
 * blocked schedule stops after step 6 with its status written):
 *   1. read the schedule (the cache says whether it exists; the API's copy
 *      is the one acted on, so the cursor in status is never stale), and
 *      Ready as it was (the cause of misses, a failure that stands);
 *   2. decode the spec: InvalidSchedule / InvalidTimeZone / InvalidSpec
 *      (a name over 63 characters too) make Ready False and stop; load the
 *      zone (cached per name); NeverRuns for a cron that never falls due;
 *      then what a run needs from the world: the snapshot API served
 *      (SnapshotAPIMissing), the target's pods (TargetNotFound,
 *      TooManyPods, VolumeNotFound, ... as a Backup would judge them) and
 *      the credentials Secret (SecretNotFound, SecretKeyMissing). Any of
 *      these blocks: Ready False, nothing starts, a due time waits within
 *      startingDeadlineSeconds or is missed with that cause, and the
 *      schedule is looked at again in APP_SCHEDULE_RECHECK_SECONDS or at
 *      its next due time or deadline, whichever is first;
 *   3. observe the schedule's own Backups (label and uid) in the Backup
 *      cache (index APP_INDEX_SCHEDULE): active ones, the newest completed,
 *      and each one's verification state (app_schedule_plan_vbackup);
 *   4. decide (schedule_plan.h): run, wait, skip (one still running),
 *      missed (with its cause), or nothing; run-now token;
 *   5. create the Backups decided on; AlreadyExists counts as done; a
 *      create refused as invalid is BackupRejected (the due time missed,
 *      no retry), another failure BackupCreateFailed (the due time waits,
 *      retried at most app_schedule_plan_retry_cap_ns() apart);
 *   6. restore verification (schedule_plan.h has the rules), also while
 *      blocked (the report) but then asking for nothing (a due time
 *      waits): with spec.verification and not suspended, the verification
 *      cron's newest due time newer than status.lastVerificationRequestTime
 *      asks the newest Complete, restorable, not deleted own Backup for a
 *      verification — a merge patch of its metadata.annotations only
 *      (snapstage.io/verify-now = the due time, RFC 3339) with its
 *      resourceVersion, never its spec — Event VerificationRequested; one
 *      already being verified is not asked again (VerificationInProgress);
 *      with none, NothingToVerify (Warning); the due time is recorded
 *      either way, once, so a long outage asks once. everyNthBackup numbers
 *      each newly Complete own Backup (annotation
 *      snapstage.io/complete-ordinal) and asks each Nth ("nth-<name>"). A
 *      patch that fails leaves the due time unrecorded and is retried
 *      within app_schedule_plan_retry_cap_ns(). Then the report from the
 *      own Backups' status.verification: the schedule's status.last*Verif*,
 *      snapstage_backup_last_verified_timestamp_seconds{namespace,schedule},
 *      and with retention.requireVerified the condition Degraded (True,
 *      VerificationFailed, with a Warning Event when it turns True; else
 *      False, Verified; removed without requireVerified);
 *   7. retention: app_retention_decide over the own Backups, delete the
 *      PRUNE ones (dryRun: only status.retention.wouldPrune); a Backup that
 *      an unfinished Restore holds (app_schedule_plan_restore_hold) is in
 *      use; one being verified (or just asked to be) is kept, and with
 *      requireVerified the newest verified one;
 *   8. write status once (Ready True, or False: Suspended, or a failed
 *      create that stands; Degraded as step 6 found it); every change of
 *      Ready to False is an Event;
 *   9. sleep until the next due time of either cron
 *      (ctrl_result_requeue_after), sooner after a failed verification
 *      request.
 * Backup events enqueue their schedule (the snapstage.io/schedule label:
 * a verification's progress and verdict too),
 * and Restore events the schedule whose Backups they hold, so status and
 * retention follow without polling. Pods and Secrets are not watched for
 * this: a schedule that is not ready looks again on a timer.
 *
 * Ownership: the controller borrows everything in its options, which must
 * outlive it. Thread-safety: app_schedule_reconcile() runs on the
 * controller's workers (never twice at once for one key); handlers run on
 * the informers' threads; the zone cache has its own mutex.
 */
#ifndef SNAPSTAGE_APP_SCHEDULE_H
#define SNAPSTAGE_APP_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "app/api/index.h"
#include "ctrl/controller.h"
#include "ctrl/events.h"
#include "ctrl/metrics.h"
#include "ctrl/store.h"
#include "ctrl/workqueue.h"
#include "kube/client.h"
#include "util/clock.h"

/* How often a schedule that cannot run (target, Secret or snapshot API
 * missing) is looked at again at the latest (also at each due time). */
#define APP_SCHEDULE_RECHECK_SECONDS 30

typedef struct {
	kube_client *client;	   /* required */
	ctrl_store *schedules;	   /* required: the BackupSchedule informer's cache */
	ctrl_store *backups;	   /* required: Backups, indexed by APP_INDEX_SCHEDULE */
	ctrl_store *pods;	   /* optional: Pods by APP_INDEX_NAMESPACE; NULL: the
				      target is not checked */
	ctrl_store *restores;	   /* optional: Restores by APP_INDEX_NAMESPACE; NULL:
				      no Backup counts as in use */
	bool snapshot_api_missing; /* the cluster serves no VolumeSnapshot API */
	ctrl_workqueue *queue;	   /* set later with app_schedule_ctrl_set_queue() */
	ctrl_events *events;	   /* optional */
	ctrl_metrics *metrics;	   /* optional */
	const ss_clock *clock;	   /* NULL: the system clock */
} app_schedule_ctrl_opts;

typedef struct app_schedule_ctrl app_schedule_ctrl;

/* 0, SS_EINVALID (a required option missing), SS_EEXISTS (a metric name
 * clash) or SS_ENOMEM. */
int app_schedule_ctrl_new(app_schedule_ctrl **out, const app_schedule_ctrl_opts *opts);
void app_schedule_ctrl_free(app_schedule_ctrl *sc);
void app_schedule_ctrl_set_queue(app_schedule_ctrl *sc, ctrl_workqueue *queue);

/* The ctrl_reconcile_fn; payload is the app_schedule_ctrl. */
ctrl_result app_schedule_reconcile(void *payload, const char *key);

/* Backup informer handlers (payload: the app_schedule_ctrl): enqueue the
 * schedule named by the Backup's snapstage.io/schedule label. (Schedules
 * themselves are queued by ctrl_controller_key_handlers().) */
void app_schedule_on_backup(void *payload, const json_t *obj);
void app_schedule_on_backup_update(void *payload, const json_t *old, const json_t *now);

/* Restore informer handlers (payload: the app_schedule_ctrl): enqueue the
 * schedule whose Backups the Restore names (spec.source.scheduleName, or
 * the schedule label of its Backup in the Backup cache), so retention
 * held for it resumes when it finishes or goes. */
void app_schedule_on_restore(void *payload, const json_t *obj);
void app_schedule_on_restore_update(void *payload, const json_t *old, const json_t *now);

#endif
