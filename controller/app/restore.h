/*
 * restore.h — the Restore controller: makes volumes out of a Backup (or one
 * VolumeSnapshot) again.
 *
 * One reconcile of a Restore, in numbered steps (restore.c):
 *   1. read the Restore from the API (the cache only says it exists); a
 *      finished one (Completed or Failed) is left alone;
 *   2. decode the spec: InvalidSpec / NotAcknowledged fail it; an InPlace
 *      restore without --enable-in-place-restore fails with
 *      InPlaceRestoreDisabled;
 *   3. resolve the source once and record it (status.sourceBackup, so the
 *      choice of a scheduleName + pointInTime never changes and retention
 *      keeps that Backup): SourceNotFound fails; a source not yet Complete
 *      with every snapshot readyToUse is waited for (SourceNotReady after
 *      timeoutSeconds, or at once when the Backup failed);
 *   4. check, before anything is created: the storage class exists
 *      (StorageClassNotFound), the claims plan is valid (InvalidSpec), no
 *      claim of the same name exists unless this Restore made it
 *      (ClaimExists);
 *   5. record phase Restoring with the claims, then create them (each from
 *      its VolumeSnapshot as dataSource; AlreadyExists of our own claim is
 *      done, of another's is ClaimExists);
 *   6. wait until every claim is Bound (requeue; Timeout after
 *      timeoutSeconds from the start; a Lost claim fails), then Completed.
 *
 * InPlace (a StatefulSet), after steps 1-3, as status.inPlace.step, each
 * written before it is taken so a restarted controller resumes it:
 *   checks  nothing changed yet: the StatefulSet exists
 *           (StatefulSetNotFound), each backed-up volume is one of its
 *           volumeClaimTemplates (InvalidSpec), the connection and
 *           replication Secrets can be read (SecretNotFound,
 *           SecretKeyMissing), the Backup recorded a GTID position;
 *   ScalingDown         originalReplicas recorded, scale to 0 through the
 *                       scale subresource, wait until its Pods are gone;
 *   ReplacingClaims     for each ordinal and backed-up volume: delete the
 *                       claim unless this Restore made it (never twice: one
 *                       being deleted is waited for), create it from the
 *                       snapshot with the template's class, modes and size
 *                       (never below restoreSize);
 *   ScalingUp           scale back to originalReplicas, wait until every
 *                       Pod is Ready;
 *   ConfiguringReplication  the primary (primaryOrdinal) forgets inherited
 *                       replication and takes writes with its binlog GTID
 *                       state at the Backup's position; every other member
 *                       replicates from it from that position
 *                       (app_db_restore_as_primary/_replica; both skip what
 *                       was done before a restart);
 *   Done.
 * A wait longer than timeoutSeconds fails with Timeout and scales the
 * StatefulSet back to originalReplicas.
 * Status is written when it changes; the claims are written to status
 * before they are created, so a restart resumes at step 5 and never makes
 * a claim twice (names are deterministic, ownership is checked by label
 * and uid).
 *
 * Ownership: the controller borrows everything in its options, which must
 * outlive it. Thread-safety: app_restore_reconcile() runs on the
 * controller's workers (never twice at once for one key).
 */
#ifndef SNAPSTAGE_APP_RESTORE_H
#define SNAPSTAGE_APP_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

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
	ctrl_events *events;   /* optional */
	ctrl_metrics *metrics; /* optional */
	const ss_clock *clock; /* NULL: the system clock */
	bool enable_in_place;  /* --enable-in-place-restore */
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
