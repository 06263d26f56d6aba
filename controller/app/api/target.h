/*
 * target.h — which pods and claims a spec.target means: the pods a
 * StatefulSet or a selector takes in a namespace, each with its address,
 * port, readiness and the claims of the volumes to snapshot or restore.
 * One rule for every controller that resolves a target: the Backup
 * controller (the servers it may lock), the BackupSchedule controller (a
 * run could start) and an in-place Restore (the members it rewires).
 *
 * Failure reasons (static strings; the Backup's Failed reasons in
 * docs/api.md): TargetNotFound, TooManyPods, TooManyVolumes,
 * VolumeNotFound, VolumeNotPVC, InvalidSpec.
 *
 * Pure: no I/O, no clock. Ownership: results borrow strings from the JSON
 * objects they were computed from (keep those alive) unless a field is an
 * inline array. Thread-safety: reentrant; errors go to the calling
 * thread's ss_error.
 */
#ifndef SNAPSTAGE_APP_TARGET_H
#define SNAPSTAGE_APP_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "app/api/api.h"

#define APP_TARGET_MAX_CANDIDATES 32

/* One volume of a candidate pod: the pod volume's name and its claim. */
typedef struct {
	const char *volume;
	const char *claim; /* persistentVolumeClaim.claimName, or for a generic
			      ephemeral volume the claim Kubernetes names
			      "<pod>-<volume>" (inline in claim_buf, so a
			      copy of the struct still points at the
			      original's buffer) */
	char claim_buf[254];
} app_target_volume;

/* A pod the target selects. */
typedef struct {
	const char *pod;	 /* metadata.name */
	const char *uid;	 /* metadata.uid */
	const char *ip;		 /* status.podIP; NULL when it has none */
	int port;		 /* spec port, else container port "mysql", else 3306 */
	int ordinal;		 /* StatefulSet pod: the trailing "-N"; else -1 */
	bool ready;		 /* Running, condition Ready True, has an IP, not
				    being deleted */
	char not_ready_why[256]; /* when !ready: one phrase, e.g. "not Ready" */
	app_target_volume volumes[APP_MAX_VOLUMES];
	size_t n_volumes;
} app_target_candidate;

typedef struct {
	app_target_candidate c[APP_TARGET_MAX_CANDIDATES];
	size_t n; /* sorted by ordinal (pods without one last), then name */
} app_target_candidates;

/* Resolves `target` against `pods` (a JSON array of Pod objects in the
 * Backup's namespace, any order; other namespaces' pods must not be passed).
 * A StatefulSet target takes the pods whose controller ownerReference is
 * that StatefulSet; a selector target the pods whose labels match. Pods
 * being deleted are skipped. Every selected pod is a candidate, ready or
 * not. Volumes: the named ones, in the order named; with none named,
 * every volume backed by a claim, ordered by volume name (a StatefulSet's
 * pods list their claim templates in no fixed order).
 *
 * Pods are checked in candidate order, so the error does not depend on the
 * order of `pods`. On failure returns SS_ENOTFOUND or SS_EINVALID, sets
 * *out_reason (may be NULL; a static string: TargetNotFound,
 * VolumeNotFound, VolumeNotPVC) and an error message naming the pod and
 * volume; *out is left untouched. More than APP_TARGET_MAX_CANDIDATES pods:
 * SS_ETOOLARGE, reason TooManyPods; more than APP_MAX_VOLUMES claims in a
 * pod with none named: SS_ETOOLARGE, reason TooManyVolumes. A target with
 * neither or both of statefulset_name and has_selector: SS_EINVALID,
 * reason InvalidSpec. On success *out_reason is NULL. */
int app_target_resolve(app_target_candidates *out, const app_target *target,
		       const json_t *pods, const char **out_reason);

/* The order of candidates: ordinal first (pods without one last), then
 * name; <0, 0 or >0 as strcmp. Also the last tie-break when a server is
 * chosen among equals (backup/backup_plan.h app_backup_plan_choose). */
int app_target_order(int ord_a, const char *name_a, int ord_b, const char *name_b);

#endif
