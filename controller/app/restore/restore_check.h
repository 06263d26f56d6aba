/*
 * restore_check.h — the checks a Restore makes before it touches anything,
 * as pure functions over the JSON objects the reconciler read: does each
 * source VolumeSnapshot exist, belong to the Backup, and hold a volume that
 * can be restored now; will the target StorageClass's provisioner accept
 * it; is the recorded replication position exact; which pinned fields a
 * later spec edit tried to change.
 *
 * Every failure is SS_EINVALID with a message that names the object and
 * what to do, and *reason, the Restore's Failed condition reason
 * (docs/api.md):
 *   SnapshotMissing       a listed VolumeSnapshot is gone or being deleted
 *   SnapshotNotOwned      an object of that name exists but is not the
 *                         Backup's (no ownerReference with its uid, or
 *                         another snapstage.io/backup label)
 *   SnapshotNotReady      not readyToUse, failed, unreadable status, or no
 *                         restoreSize; or its content is missing
 *   StorageClassNotFound  no StorageClass of that name, or none named and
 *                         no default class
 *   StorageClassMismatch  the snapshot's driver is not the class's
 *                         provisioner, so a claim from it would never bind
 * Nothing here does I/O, reads a clock or allocates.
 *
 * Ownership: results borrow from the JSON objects passed in. Thread-safety:
 * reentrant; errors go to the calling thread's ss_error.
 */
#ifndef SNAPSTAGE_APP_RESTORE_CHECK_H
#define SNAPSTAGE_APP_RESTORE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "app/api/api.h"

/* What a usable source VolumeSnapshot says. */
typedef struct {
	int64_t restore_size_bytes;  /* > 0 */
	const char *content_name;    /* status.boundVolumeSnapshotContentName */
} app_restore_snapshot_info;

/* Checks the VolumeSnapshot `name` for a restore. `vs` is what a GET
 * returned (NULL: not found). `backup` is the Backup that lists it, or NULL
 * for a volumeSnapshotName source (no ownership to check). 0 with *out
 * (may be NULL), or SS_EINVALID with *reason (SnapshotMissing,
 * SnapshotNotOwned or SnapshotNotReady). */
int app_restore_check_snapshot(app_restore_snapshot_info *out, const char **reason,
			       const char *name, const json_t *vs, const json_t *backup);

/* The default StorageClass in `classes` (an array of StorageClass objects):
 * annotation storageclass.kubernetes.io/is-default-class (or its beta
 * form) "true"; several: the first by name, as the API server's admission
 * refuses a claim then anyway. NULL when none. */
const json_t *app_restore_default_class(const json_t *classes);

/* Whether a claim of StorageClass `sc` (NULL: `class_name` was not found,
 * or no class was named and there is no default — class_name NULL) can be
 * provisioned from the VolumeSnapshotContent `content` (NULL: missing) of
 * VolumeSnapshot `snapshot`: content.spec.driver equals sc.provisioner.
 * 0, or SS_EINVALID with *reason StorageClassNotFound,
 * StorageClassMismatch or SnapshotNotReady (no content). `where` names
 * whose class it is in the message ("spec.target.newClaims", "the
 * volumeClaimTemplate data of StatefulSet db"). */
int app_restore_check_driver(const char **reason, const char *snapshot,
			     const json_t *content, const json_t *sc,
			     const char *class_name, const char *where);

/* Whether the replication position a source recorded is exact, i.e. it was
 * read while commits were blocked: a Backup (`backup`, status.lock.stage)
 * or a VolumeSnapshot (`vs`, annotation snapstage.io/lock-stage) taken at
 * BLOCK_COMMIT. A stage that is missing or anything else is not exact. Pass
 * one of the two. */
bool app_restore_position_exact(const json_t *backup, const json_t *vs);

/* The pinned fields of an in-place restore (status.mode and status.inPlace:
 * statefulSetName, primaryOrdinal) that `spec` now gives differently, as
 * "mode, statefulSetName" into buf (empty when none). Fields not pinned
 * yet (NULL / -1) never count. Returns how many differ. */
size_t app_restore_pinned_changes(char *buf, size_t cap, const app_restore_spec *spec,
				  const app_restore_status *st);

#endif
