/*
 * restore.h — the Restore controller: makes volumes out of a Backup (or one
 * VolumeSnapshot) again.
 *
 * One reconcile of a Restore, in numbered steps (restore.c):
 *   1. read the Restore from the API (the cache only says it exists); a
 *      finished one (Completed or Failed) is left alone;
 *   2. the spec it acts on: at the start the spec is decoded (InvalidSpec,
 *      NotAcknowledged fail it; InPlace without --enable-in-place-restore
 *      fails with InPlaceRestoreDisabled) and copied to
 *      status.acceptedSpec with status.mode; from then on only that copy
 *      counts, and an edit of spec is reported once per generation with a
 *      Warning Event SpecChangeIgnored;
 *   3. resolve the source once and record it (status.sourceBackup, so the
 *      choice of a scheduleName + pointInTime never changes and retention
 *      keeps that Backup): SourceNotFound fails; a source not yet Complete
 *      with every snapshot readyToUse is waited for (SourceNotReady after
 *      timeoutSeconds, or at once when the Backup failed);
 *   4. check, before anything is created (restore_check.h): every
 *      VolumeSnapshot the source lists exists (SnapshotMissing), is the
 *      Backup's (SnapshotNotOwned), is readyToUse with a restoreSize
 *      (SnapshotNotReady); the target StorageClass exists
 *      (StorageClassNotFound) and provisions with the snapshots' driver
 *      (StorageClassMismatch); the claims plan is valid (InvalidSpec); no
 *      claim of the same name exists unless this Restore made it
 *      (ClaimExists);
 *   5. record phase Restoring with the claims, then create them (each from
 *      its VolumeSnapshot as dataSource; AlreadyExists of our own claim is
 *      done, of another's is ClaimExists);
 *   6. wait until every claim is Bound (requeue; the snapshots are checked
 *      again meanwhile, so one deleted fails at once; Timeout after
 *      timeoutSeconds from the start; a Lost claim fails), then Completed.
 *      A failure after step 5 deletes the claims this Restore made that
 *      never bound; a Bound one is kept (it may hold the only copy).
 *
 * InPlace (restore_inplace.c), after steps 1-3, as status.inPlace.step,
 * each written before it is taken so a restarted controller resumes it:
 *   checks  nothing changed yet: the StatefulSet exists
 *           (StatefulSetNotFound) and carries the annotation
 *           snapstage.io/in-place-restore=allowed (InPlaceRestoreNotAllowed),
 *           1..16 members, primaryOrdinal one of them, each backed-up volume
 *           one of its volumeClaimTemplates (InvalidSpec); step 4's snapshot
 *           checks and each template's StorageClass; the connection and
 *           replication Secrets can be read (SecretNotFound,
 *           SecretKeyMissing) and hold values MariaDB accepts
 *           (SecretValueInvalid); the GTID position is there when replicas
 *           need it (SourceNotReady), well formed (InvalidPosition) and exact
 *           — cut at BLOCK_COMMIT — unless acceptInexactPosition
 *           (PositionNotExact). Then pinned in status: the StatefulSet's name
 *           and uid, originalReplicas, primaryOrdinal, the GTID position;
 *   ScalingDown         scale to 0 through the scale subresource, wait until
 *                       its Pods are gone, record every claim to replace
 *                       with its old volume and that volume's reclaim policy
 *                       (status.inPlace.volumes);
 *   ReplacingClaims     the snapshots checked again; for each slot: the old
 *                       volume set to Retain, then the old claim deleted
 *                       (uid precondition), then the claim created from the
 *                       snapshot; on until every restored claim is Bound;
 *   ScalingUp           every restored claim still there, scale back to
 *                       originalReplicas, wait until every Pod is Ready;
 *   ConfiguringReplication  per member, recorded in
 *                       status.inPlace.configuredMembers once set up: the
 *                       primary forgets inherited replication and gets its
 *                       binlog GTID state at the Backup's position, then
 *                       (after the record) takes writes; every other member
 *                       is pointed at it from that position, then (after the
 *                       record) started. Nothing is inferred from read_only
 *                       or Master_Host;
 *   ReleasingOldVolumes the old volumes get their reclaim policy back (a
 *                       Delete policy lets the cluster remove them);
 *   Done.
 * A failure in ScalingDown or ReplacingClaims (Timeout, a snapshot or the
 * Backup gone, a claim Lost or taken) rolls back: RollingBack deletes this
 * Restore's claims, pre-binds each old volume to a claim of the slot's name
 * again, waits until Bound, gives the volumes their policy back and scales
 * to originalReplicas; then Failed with the reason and step RolledBack. A
 * rollback that cannot finish (an old volume gone or bound elsewhere, a
 * foreign claim in a slot) stays scaled to 0 with condition RollbackBlocked
 * saying what to fix, and is tried again. A failure later (ScalingUp,
 * ConfiguringReplication) is Failed at once: the StatefulSet runs on the
 * restored data and the old volumes stay Retained, named in the message. A
 * StatefulSet of the pinned name with another uid (or none) ends the
 * Restore with TargetChanged and nothing more touched.
 *
 * Point-in-time (spec.replay; restore_replay.c has the steps, recorded in
 * status.replay.step). The base is picked by the target (a scheduleName)
 * or checked against it (a backupName): NoBaseBeforeTarget;
 * status.sourceBackup is that base. Steps 4-6 make the claims from its
 * snapshots; a scratch Pod (purpose "pitr") runs on them, replays the
 * source's binlog to the resolved target and is deleted. NewClaims: the
 * claims are then the result. InPlace: the in-place checks run before
 * anything is made; the claims are scratch ones of the Restore's own;
 * Snapshotting, SafetyBackup (a Backup of the current primary, not owned,
 * SafetyBackupFailed leaves the target untouched), then the in-place
 * steps above from the replayed snapshots, the position being the target;
 * the scratch claims and snapshots are deleted at the end and on any
 * failure (after a rollback). Any failure once claims exist deletes the
 * scratch Pod and the claims, Bound or not.
 *
 * Ownership: the controller borrows everything in its options, which must
 * outlive it. Thread-safety: app_restore_reconcile() runs on the
 * controller's workers (never twice at once for one key).
 */
#ifndef SNAPSTAGE_APP_RESTORE_H
#define SNAPSTAGE_APP_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "app/api/index.h"
#include "ctrl/controller.h"
#include "ctrl/events.h"
#include "ctrl/metrics.h"
#include "ctrl/store.h"
#include "kube/client.h"
#include "util/clock.h"

typedef struct {
	kube_client *client;   /* required */
	ctrl_store *restores;  /* required: the Restore informer's cache */
	ctrl_store *backups;   /* required: Backups, indexed by APP_INDEX_SCHEDULE */
	ctrl_store *pods;      /* required for InPlace: Pods by APP_INDEX_NAMESPACE */
	/* optional: BackupSchedules, so a scheduleName source counts only that
	 * schedule's Backups (app_restore_is_from_schedule) */
	ctrl_store *schedules;
	ctrl_events *events;   /* optional */
	ctrl_metrics *metrics; /* optional */
	const ss_clock *clock; /* NULL: the system clock */
	bool enable_in_place;  /* --enable-in-place-restore */
	bool enable_replay;    /* --enable-point-in-time-restore */
	/* How often a Restore waiting for its source or its claims looks
	 * again; 0: 2 s. */
	int64_t poll_ns;
} app_restore_ctrl_opts;

typedef struct app_restore_ctrl app_restore_ctrl;

/* 0, SS_EINVALID (a required option missing), SS_EEXISTS (a metric name
 * clash) or SS_ENOMEM. */
int app_restore_ctrl_new(app_restore_ctrl **out, const app_restore_ctrl_opts *opts);
void app_restore_ctrl_free(app_restore_ctrl *rc);

/* The ctrl_reconcile_fn; payload is the app_restore_ctrl. */
ctrl_result app_restore_reconcile(void *payload, const char *key);

#endif
