/*
 * scratch.h — a scratch MariaDB server made from a Backup: claims restored
 * from the Backup's VolumeSnapshots, and a Pod built from the target
 * StatefulSet's pod template that runs on them. Used by restore
 * verification, and meant for point-in-time restore too. Pure functions
 * over the JSON objects the informers cache: the caller creates, watches
 * and deletes.
 *
 * Invariants:
 *   - A scratch object is never mistaken for a live one: it carries none
 *     of the template's labels (so no Service or StatefulSet selects it)
 *     and none of its annotations, only snapstage's labels
 *     (APP_LABEL_SCRATCH=<purpose>, APP_LABEL_BACKUP=<backup name> when it
 *     is a label value) and an ownerReference to its owner (controller,
 *     blockOwnerDeletion) so the garbage collector removes it with the
 *     owner. app_scratch_is_ours() checks that ownerReference's uid before
 *     anything is deleted or adopted.
 *   - The Pod never mounts a live claim: every persistentVolumeClaim
 *     volume of the template, and every volumeClaimTemplate, maps to the
 *     scratch claim of the same volume name (or the claim the caller
 *     names for it: app_scratch_volume.claim_name, a claim the caller
 *     restored), or to an emptyDir when the Backup has no such volume.
 *   - The server starts standalone: --skip-slave-start is added to the
 *     main container's args (the first container with a port named
 *     "mysql", else the one named "mariadb" or "mysql", else the first).
 *   - Names are deterministic: "<owner>-<purpose>" for the Pod and
 *     "<owner>-<purpose>-<volume>" for claims (api/names.h app_name_join:
 *     at most 63 characters, with a stable hash when cut), so a retry after
 *     a crash finds what it made.
 *
 * Ownership: functions returning json_t ** give a new reference the caller
 * json_decref()s; borrowed strings live as long as the objects passed in.
 * Thread-safety: reentrant; errors go to the calling thread's ss_error.
 */
#ifndef SNAPSTAGE_APP_SCRATCH_H
#define SNAPSTAGE_APP_SCRATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "app/api/api.h"
#include "app/api/names.h"

/* On every scratch object: what it is for ("verify", "pitr"). */
#define APP_LABEL_SCRATCH "snapstage.io/scratch"

/* Who a scratch server is for: the owner object (apiVersion, kind,
 * metadata.name, namespace, uid are read) and the purpose. */
typedef struct {
	const json_t *owner;
	const char *purpose; /* a DNS label, e.g. "verify" */
} app_scratch_for;

/* One volume to restore: the backed-up pod volume name, its VolumeSnapshot,
 * the snapshot's restoreSize (-1 unknown) and the claim it was cut from
 * (NULL when gone from the cache), whose storageClassName and accessModes
 * the scratch claim takes. */
typedef struct {
	const char *volume;
	const char *snapshot;
	int64_t restore_size_bytes;
	const json_t *source_claim;
	/* NULL: the scratch claim (app_scratch_claim_name). Otherwise the Pod
	 * mounts this claim for the volume: a point-in-time restore runs its
	 * scratch server on the Restore's own claims, which become the result
	 * (app_scratch_claims_plan ignores it). */
	const char *claim_name;
} app_scratch_volume;

/* The Pod's and a claim's names into out (APP_NAME_BUF bytes). */
int app_scratch_pod_name(char *out, size_t cap, const app_scratch_for *f);
int app_scratch_claim_name(char *out, size_t cap, const app_scratch_for *f,
			   const char *volume);

/* A new JSON array of PersistentVolumeClaims, one per volume, in order:
 * name app_scratch_claim_name, the owner's namespace, labels as above plus
 * snapstage.io/volume=<volume>, dataSource the VolumeSnapshot, requests
 * storage = restoreSize (kube_quantity_format), accessModes and
 * storageClassName from the source claim (ReadWriteOnce and the default
 * class without one), unless `storage_class` (may be NULL) overrides.
 * SS_EINVALID with a message for a volume without a known size (restoreSize
 * unknown and no source claim request), no volumes, or an owner without
 * name/namespace/uid. */
int app_scratch_claims_plan(json_t **out, const app_scratch_for *f,
			    const app_scratch_volume *volumes, size_t n,
			    const char *storage_class);

/* A new Pod from `statefulset`'s spec.template: the template's spec with
 * its volumes remapped (above; a generic ephemeral volume counts as a
 * claim too), nodeName, hostname and subdomain removed,
 * podAntiAffinity removed (it is written against the live Pods' labels
 * and could leave a scratch Pod nowhere to run), readinessGates removed
 * (another controller sets them, never for this Pod), liveness and startup
 * probes removed and the readiness probe of every container replaced by a
 * TCP probe on the main container's mysql port (a probe that checks
 * replication would never pass; the main container gets one even without
 * one, so Ready means the server listens; init containers lose all
 * probes), terminationMessagePolicy
 * FallbackToLogsOnError on the main container (so the server's last lines
 * show in its status when it cannot start), the main container's resources
 * replaced by `resources` when not NULL, and --skip-slave-start appended to
 * its args unless there (also as --skip_slave_start). SS_EINVALID with a
 * message when the StatefulSet has no template or containers, or is in
 * another namespace than the owner. */
int app_scratch_pod_plan(json_t **out, const app_scratch_for *f,
			 const json_t *statefulset, const app_scratch_volume *volumes,
			 size_t n, const json_t *resources);

/* Whether `obj` (a Pod or claim) is a scratch object of `f`: its
 * APP_LABEL_SCRATCH is f->purpose and an ownerReference carries the
 * owner's uid. */
bool app_scratch_is_ours(const json_t *obj, const app_scratch_for *f);

/* How a scratch Pod is doing. */
typedef enum {
	APP_SCRATCH_STARTING, /* not scheduled, not started, or not Ready yet */
	APP_SCRATCH_READY,    /* Ready True with a podIP */
	APP_SCRATCH_FAILING,  /* the main container exited or is in
				 CrashLoopBackOff / a config error; keeps
				 trying, so the caller decides when to give
				 up (its start timeout) */
	APP_SCRATCH_GONE,     /* being deleted, or phase Failed/Succeeded */
} app_scratch_state;

/* The state of `pod`, and in `why` (cap bytes, may be NULL) one line for a
 * status message: the waiting reason and message, the last termination's
 * exit code, reason and message (the server's last lines with
 * FallbackToLogsOnError), or the PodScheduled condition's message. */
app_scratch_state app_scratch_pod_state(const json_t *pod, char *why, size_t cap);

#endif
