/*
 * backup.h — the Backup controller: turns a Backup into a set of
 * VolumeSnapshots of one MariaDB server's volumes, cut while that server
 * held a BACKUP STAGE lock, with the replication position that matches.
 *
 * One reconcile of a Backup, in numbered steps (backup.c):
 *   0. a Backup being deleted that still carries APP_BACKUP_FINALIZER: KILL
 *      the recorded lock session (only if it still is ours: db.h's
 *      marker), start the replica's SQL threads, then remove the finalizer;
 *   1. read the Backup; a finished one (Complete or Failed) is left alone
 *      but for a Complete one's Restorable condition and a Failed one's
 *      VolumeSnapshots (it keeps none: a create the API server finished
 *      late is deleted when it shows up); the finalizer goes once no lock
 *      session or stopped SQL threads can exist, also while it is being
 *      deleted (a finished one holds no lock);
 *   2. decode the spec (InvalidSpec: everything the snapshots will carry is
 *      checked here, before any lock);
 *   3. Uploading: wait outside the lock for readyToUse, at most
 *      spec.snapshot.readyTimeoutSeconds after the release (ReadyTimeout); a
 *      snapshot deleted or failed meanwhile is SnapshotLost; then Complete;
 *   4. Locked at the start of a reconcile means a lock session of an
 *      earlier process (this process never returns while it holds one):
 *      kill the session if it is somehow still there, delete its
 *      snapshots (never trusted: no one saw them cut under the lock) and
 *      retry, at most APP_BACKUP_MAX_ATTEMPTS sessions in all, each
 *      retry no earlier than status.nextAttemptTime (2 s, then 4 s after
 *      the session before: app_backup_plan_next_attempt_ns) — a Pending Backup
 *      before that time is looked at again then, and nothing else;
 *   5. check the cluster: the snapshot API and the class;
 *   6. resolve the target's pods and claims, read the credentials, probe
 *      every ready pod — a server in a session as its holder chose it, one
 *      probed in the last 3 s as it was then (turns.h) — and choose
 *      the server (backup_plan.h: the healthiest replica, of equally
 *      healthy ones the one used longest ago);
 *   7. take the server's turn: one lock session per server in this
 *      process (the leader); a Backup whose server is busy is Queued (one
 *      Event) and waits, without probing, until a server it would take
 *      ends its session: those wake the Backups waiting for them in the
 *      order they started waiting. A replica whose SQL threads another
 *      Backup's status says its session stopped (after a restart no turn
 *      records that session) is waited for the same way, and woken when
 *      that Backup's reconcile starts them again. A server chosen from
 *      memory is probed again on the connection that locks it; a Failed
 *      reason or a fallback to the primary is decided on fresh probes only;
 *   8. the finalizer, then the lock session: BACKUP STAGE up to the spec's
 *      stage (the session's wait_timeout just above lock.timeoutSeconds),
 *      the position, status Locked (with CONNECTION_ID()), one
 *      VolumeSnapshot per volume — every API request bounded by what is
 *      left of lock.timeoutSeconds (kube_deadline_set) — wait for every cut
 *      (woken by the VolumeSnapshot informer, bounded by
 *      lock.timeoutSeconds; a deletion of the Backup ends it at once), then
 *      BACKUP STAGE END. A failed END is LockLost (the attempt's snapshots
 *      deleted and retried); an API error creating a snapshot ends the
 *      stages at once and is SnapshotCreateFailed, carrying the API
 *      server's answer (retried the same way, unless the object itself
 *      was called invalid); each cut time the storage reports must lie
 *      inside [acquired, released] (cut_proof.h; else CutOutsideLock; one
 *      gone from the cache since its cut is SnapshotLost);
 *      then status Uploading.
 * Every failure that reaches a user ends in the Failed condition with a
 * distinct reason (docs/api.md) and never leaves a lock held.
 *
 * Two pools of workers (ctrl/controller.h, the lane): a lock session holds
 * its worker for as long as the storage takes to cut, so steps 5-8 run on
 * workers of their own. app_backup_reconcile() does steps 0-4 and hands a
 * Backup that may start a session (by the cache: Pending or Queued, not
 * finished, not being deleted) to the lane, whose
 * app_backup_reconcile_session() does every step from the API's latest
 * copy. So at most lane_workers databases are locked at once, and Backups
 * beyond that wait in the lane's queue (FIFO, taking no worker), while the
 * other steps — Uploading to Complete, deletions, Restorable, interrupted
 * sessions — never wait behind lock sessions.
 *
 * Ownership: the controller borrows everything in its options (client,
 * stores, events, metrics, clock), which must outlive it. Thread-safety:
 * app_backup_reconcile() runs on the controller's workers and
 * app_backup_reconcile_session() on its lane's (never twice at once for
 * one key, not even one in each); app_backup_on_snapshot() on the
 * VolumeSnapshot informer's thread; all may run at the same time.
 */
#ifndef SNAPSTAGE_APP_BACKUP_H
#define SNAPSTAGE_APP_BACKUP_H

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

#define APP_BACKUP_MAX_ATTEMPTS 3

/* On a Backup while a lock session of it may hold a lock or its replica's
 * SQL threads may be stopped: it cannot vanish before the controller has
 * ended both (a deletion while Locked ends the lock at once). */
#define APP_BACKUP_FINALIZER "snapstage.io/lock-session"

typedef struct {
	kube_client *client;	   /* required */
	ctrl_store *backups;	   /* required: the Backup informer's cache */
	ctrl_store *pods;	   /* required: Pods, indexed by APP_INDEX_NAMESPACE */
	ctrl_store *snapshots;	   /* required: VolumeSnapshots */
	/* The snapshot API is not served and `snapshots` is an empty stand-in:
	 * Restorable is not judged from it. */
	bool snapshot_api_missing;
	ctrl_workqueue *queue;	   /* the controller's queue; may be set
				      later with app_backup_ctrl_set_queue() */
	ctrl_events *events;	   /* optional */
	ctrl_metrics *metrics;	   /* optional */
	const ss_clock *clock;	   /* NULL: the system clock */
	/* How long a Backup waiting for a busy server waits at most before it
	 * looks again (the safety net: it is woken when a server it waits for
	 * ends its session), and how often an Uploading Backup is looked at
	 * without an event; 0: 30 s and 30 s. */
	int64_t queued_retry_ns;
	int64_t uploading_resync_ns;
} app_backup_ctrl_opts;

typedef struct app_backup_ctrl app_backup_ctrl;

/* 0, SS_EINVALID (a required option missing), SS_EEXISTS (a metric name
 * clash) or SS_ENOMEM. */
int app_backup_ctrl_new(app_backup_ctrl **out, const app_backup_ctrl_opts *opts);
void app_backup_ctrl_free(app_backup_ctrl *bc);

/* The queue handlers add keys to, once the controller that owns it exists
 * (it needs this object as its payload first). Before the informers start. */
void app_backup_ctrl_set_queue(app_backup_ctrl *bc, ctrl_workqueue *queue);

/* The ctrl_reconcile_fn of the controller (steps 0-4, then
 * ctrl_result_handoff()) and the lane_reconcile of its lane (every step);
 * payload is the app_backup_ctrl. */
ctrl_result app_backup_reconcile(void *payload, const char *key);
ctrl_result app_backup_reconcile_session(void *payload, const char *key);

/* VolumeSnapshot informer handlers: wake a lock session waiting for a cut
 * and enqueue the Backup named by the snapstage.io/backup label and the one
 * named by the controller ownerReference (kind Backup, apiVersion
 * snapstage.io/v1alpha1; the label is left out of a name longer than 63
 * characters). Called for adds, updates and deletes. Pass the
 * app_backup_ctrl as the handlers' payload. (Backups themselves are queued
 * by ctrl_controller_key_handlers().) */
void app_backup_on_snapshot(void *payload, const json_t *obj);
void app_backup_on_snapshot_update(void *payload, const json_t *old, const json_t *now);

#endif
