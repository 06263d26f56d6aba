/*
 * restore_plan.h — the decisions of the Restore controller, as pure
 * functions over plain data and the JSON objects the informers cache: which
 * Backup a schedule and a point in time mean, whether a Backup can be
 * restored from yet, what the PersistentVolumeClaims of a NewClaims restore
 * look like, and what an existing claim says. Nothing here does I/O, reads
 * a clock (the caller passes "now") or allocates except where a function
 * returns JSON; the reconciler does the talking and calls these to decide.
 *
 * Invariants:
 *   - Only a Backup app_restore_backup_state() calls APP_SOURCE_OK is ever
 *     picked for a schedule, so a point-in-time restore never lands on a
 *     failed, unfinished, half-uploaded or disappearing Backup.
 *   - Results never depend on the order the cache listed objects in: ties
 *     are broken by name.
 *   - The claims planned for one Restore are a function of the Restore and
 *     its source only (deterministic names, no owner reference), so a retry
 *     after a crash plans the same claims and app_restore_claim_is_ours()
 *     recognises the ones it already made.
 *
 * Failure reasons are the Restore's `Failed` condition reasons (docs/api.md):
 *   InvalidSpec     a claim in spec.target.newClaims.claims names a volume
 *                   the source does not have, or repeats a volume or name
 *   SourceNotReady  a claim's size cannot be known yet (no restoreSize and
 *                   no size in the spec), or the source's volume list is
 *                   unusable (a volume without a name or VolumeSnapshot,
 *                   a name twice)
 *
 * Ownership: results borrow strings from the JSON objects they were
 * computed from (keep those alive). Functions returning json_t ** give a
 * new reference the caller json_decref()s. Thread-safety: reentrant; errors
 * go to the calling thread's ss_error.
 */
#ifndef SNAPSTAGE_APP_RESTORE_PLAN_H
#define SNAPSTAGE_APP_RESTORE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "app/api/api.h"
#include "app/api/gtid.h"

/* On every claim a Restore makes: the Restore's name (left out when the
 * name is longer than a label value may be, 63) and its metadata.uid. */
#define APP_LABEL_RESTORE "snapstage.io/restore"
#define APP_ANNOTATION_RESTORE_UID "snapstage.io/restore-uid"

/* Which Backup a `scheduleName` (+ optional pointInTime) source means.
 * `backups`: a JSON array of Backup objects, all in the Restore's
 * namespace (the caller filters; any order). Candidates: label
 * APP_LABEL_SCHEDULE equal to `schedule` and app_restore_backup_state()
 * APP_SOURCE_OK (no deletionTimestamp, not Failed, Complete True, at least
 * one snapshot and every status.snapshots[] readyToUse). A candidate's data
 * time is status.lock.acquiredTime (the moment commits were blocked), else
 * status.startTime, else metadata.creationTimestamp; one with none of them
 * is no candidate. The point is point_ns when `has_point` (any instant,
 * the epoch included: a point before every Backup finds none), else now_ns;
 * the caller passes spec.has_point_in_time, never "point_ns != 0".
 *
 * Picks the newest data time <= the point; ties: the greater name. On
 * success *out_name (borrowed from `backups`) and *out_data_time_ns (may be
 * NULL) are written. None: SS_ENOTFOUND with a message naming the schedule,
 * the instant (RFC 3339) and how many candidates the schedule has, and when
 * all are later, which is the oldest and its data time; outputs untouched.
 * A NULL schedule or out_name: SS_EINVALID.
 *
 * `schedule_uid` (may be NULL: the schedule is not there to ask) narrows
 * the candidates to the Backups app_restore_is_from_schedule() says that
 * schedule made. */
int app_restore_pick_backup(const char **out_name, int64_t *out_data_time_ns,
			    const json_t *backups, const char *schedule,
			    const char *schedule_uid, bool has_point, int64_t point_ns,
			    int64_t now_ns);

/* Whether `backup` counts as a run of the schedule named `schedule` with
 * uid `schedule_uid` for a Restore's scheduleName: it carries the label
 * snapstage.io/schedule=<schedule>, and, when the uid is known, it is not
 * another schedule's: its snapstage.io/schedule-uid label and its
 * BackupSchedule ownerReference, where it has them, name this uid (a
 * schedule deleted and made again under the same name is another
 * schedule). A Backup with neither (made before the uid label existed)
 * still counts, unlike for retention: a Restore is asked for by a user and
 * names the Backup it picked in its status, while pruning is silent.
 * (api/owner.h app_owner_run_origin is the rule: anything but FOREIGN.) */
bool app_restore_is_from_schedule(const json_t *backup, const char *schedule,
				  const char *schedule_uid);

/* The instant a Backup's data is from (app_restore_pick_backup's data
 * time: lock.acquiredTime, else startTime, else creationTimestamp); 0
 * unknown. */
int64_t app_restore_backup_data_time(const json_t *backup);

/* The base of a point-in-time restore to GTID position `target` (issue
 * 19): among the candidates of app_restore_pick_backup() (the schedule's,
 * APP_SOURCE_OK), those whose recorded position (app_backup_status_gtid)
 * parses and is not past the target in any domain the target names
 * (app_gtid_pos_within); the newest by data time, ties by the greater
 * name. None: SS_ENOTFOUND with a message (reason NoBaseBeforeTarget). A
 * time target's base is app_restore_pick_backup() with the target as the
 * point (a Backup's data time is when its lock was taken, so its data
 * holds nothing committed after it). */
int app_restore_pick_base_gtid(const char **out_name, const json_t *backups,
			       const char *schedule, const char *schedule_uid,
			       const app_gtid_pos *target);

/* Whether a Backup can be restored from now. */
typedef enum { APP_SOURCE_OK, APP_SOURCE_WAIT, APP_SOURCE_FAILED } app_source_state;

/* APP_SOURCE_FAILED: being deleted, Failed True, Complete True with
 * condition Restorable False (a VolumeSnapshot was deleted or failed since;
 * backup_plan.h), or Complete True without any snapshot listed (a finished
 * Backup never gains one); NULL backup.
 * APP_SOURCE_WAIT: neither Complete nor Failed yet, or Complete with a
 * snapshot not readyToUse yet. APP_SOURCE_OK otherwise. *why (may be NULL)
 * is a short static phrase for the status message, never NULL. */
app_source_state app_restore_backup_state(const json_t *backup, const char **why);

/* One volume of the source. */
typedef struct {
	const char *volume;	    /* the backed-up pod volume name */
	const char *snapshot;	    /* its VolumeSnapshot's name */
	int64_t restore_size_bytes; /* -1: unknown */
} app_restore_volume;

typedef struct {
	const json_t *restore;	      /* the Restore: metadata.name, namespace, uid */
	const app_restore_spec *spec; /* decoded with app_restore_spec_decode() */
	const app_restore_volume *volumes; /* the source's volumes */
	size_t n_volumes;
} app_restore_claims_in;

/* A new JSON array of PersistentVolumeClaim objects (v1): one per source
 * volume in source order, unless spec->n_claims > 0: then exactly the
 * volumes the spec lists, in spec order. Each claim:
 *   metadata.name        the spec claim's name, else "<restore>-<volume>"
 *                        (app_name_join, at most 63 with a stable hash)
 *   metadata.namespace   the Restore's
 *   metadata.labels      the copyable (app_label_is_copyable) claim_labels,
 *                        APP_LABEL_RESTORE=<restore name>,
 *                        APP_LABEL_VOLUME=<volume>; snapstage's keys replace
 *                        a user label of that key, and a value that is no
 *                        label value is left out (never shortened)
 *   metadata.annotations the copyable claim_annotations and
 *                        APP_ANNOTATION_RESTORE_UID=<uid>
 *   spec.accessModes     spec->access_modes (none: ReadWriteOnce)
 *   spec.storageClassName the spec claim's storage_class, else
 *                        spec->storage_class; absent when neither is set
 *   spec.resources.requests.storage
 *                        max(the spec claim's size, restoreSize) as
 *                        kube_quantity_format() writes it ("10Gi", else
 *                        plain bytes; parses back to the same bytes)
 *   spec.dataSource      {apiGroup: snapshot.storage.k8s.io,
 *                         kind: VolumeSnapshot, name: <snapshot>}
 * No owner reference: restored claims outlive the Restore.
 *
 * Errors, SS_EINVALID with a message naming the field, e.g.
 * "spec.target.newClaims.claims[1].volume: ...":
 *   reason InvalidSpec: a spec claim names a volume the source does not
 *     have (the message lists the ones it has), repeats an earlier claim's
 *     volume or name; the Restore lacks a name, namespace or uid;
 *   reason SourceNotReady: a claim's size is unknown (restoreSize unknown
 *     or 0 and no size in the spec); a source volume without a name or
 *     VolumeSnapshot, or two with the same name.
 * Out of memory: SS_ENOMEM, *reason NULL. A spec size below restoreSize is
 * raised to it, not an error. *out is written only on success, *reason
 * (may be NULL; a static string) only on failure. */
int app_restore_claims_plan(json_t **out, const char **reason,
			    const app_restore_claims_in *in);

/* Whether `pvc` was made by `restore`: its APP_ANNOTATION_RESTORE_UID is
 * the Restore's metadata.uid, and its APP_LABEL_RESTORE is the Restore's
 * name (absent when the name is too long to be a label value, as
 * app_restore_claims_plan() leaves it out). A create that finds such a
 * claim after a crash is no ClaimExists. */
bool app_restore_claim_is_ours(const json_t *pvc, const json_t *restore);

/* A claim's status.phase: Bound, Lost, or anything else (Pending, absent,
 * unknown) pending. */
typedef enum { APP_CLAIM_PENDING, APP_CLAIM_BOUND, APP_CLAIM_LOST } app_claim_state;
app_claim_state app_restore_claim_state(const json_t *pvc);

/* How long a waiting Restore waits before it looks again, `waited_ns`
 * after it began waiting for this (its step, else the Restore): a quarter
 * of `poll_ns` in the first APP_RESTORE_QUICK_POLL_S seconds (or when
 * waited_ns is negative: a clock step), then poll_ns. Claims bind, a
 * small scratch server starts and shuts down in about a second each, and
 * nothing else wakes the Restore for them: a whole poll was most of a
 * demo-sized point-in-time restore (tests/bench/bench_pitr.sh). */
#define APP_RESTORE_QUICK_POLL_S 10
int64_t app_restore_poll_after(int64_t waited_ns, int64_t poll_ns);

#endif
