/*
 * inplace_plan.h — the decisions of an in-place restore about one claim of
 * a StatefulSet member ("slot": <volume>-<statefulset>-<ordinal>), as pure
 * functions over the objects the reconciler read: what is under the slot's
 * name now, whether the old PersistentVolume can still be given back, and
 * the claim that gives it back.
 *
 * Why the old volumes are kept (issue: "the old data survives until the
 * new data is proven"): before a claim is deleted its PersistentVolume is
 * set to reclaim policy Retain and recorded (app_inplace_volume in the
 * Restore's status), so deleting the claim releases the volume but keeps
 * its data. On success the old policy is put back (and a Delete policy then
 * lets the cluster remove the volume); on a failure before every new claim
 * is Bound, the restore deletes its own claims and pre-binds each old
 * volume (claimRef without uid) to a new claim of the slot's name with
 * spec.volumeName, which the PV controller binds — the StatefulSet gets
 * exactly its old data back. Renaming or detaching was not chosen: a
 * claim's name is what ties it to the StatefulSet, and Retain is the one
 * mechanism every provisioner honours.
 *
 * Invariants: a claim is "ours" only by app_restore_claim_is_ours() (label
 * and uid of this Restore); "reattached" only by the annotation
 * APP_ANNOTATION_REATTACHED carrying this Restore's uid; the old claim only
 * by its recorded uid. Anything else under a slot's name is foreign and
 * never deleted.
 *
 * Ownership: results borrow from the JSON passed in; functions returning
 * json_t ** give a new reference. Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_APP_INPLACE_PLAN_H
#define SNAPSTAGE_APP_INPLACE_PLAN_H

#include <stdbool.h>

#include <jansson.h>

#include "app/api/api.h"

/* On a claim an in-place rollback made to give an old volume back: the
 * Restore's metadata.uid. */
#define APP_ANNOTATION_REATTACHED "snapstage.io/reattached-by-restore"

/* What stands under a slot's claim name. */
typedef enum {
	APP_SLOT_GONE,	      /* no claim */
	APP_SLOT_DELETING,    /* a claim being deleted */
	APP_SLOT_OLD,	      /* the recorded old claim (its uid) */
	APP_SLOT_OURS,	      /* restored by this Restore */
	APP_SLOT_REATTACHED,  /* the old volume given back by this Restore */
	APP_SLOT_FOREIGN      /* someone else's: never touched */
} app_slot_kind;

/* Classifies `pvc` (NULL: not found) for the recorded slot `v` of
 * `restore`. */
app_slot_kind app_inplace_slot_kind(const json_t *pvc, const app_inplace_volume *v,
				    const json_t *restore);

/* What an old PersistentVolume allows. */
typedef enum {
	APP_OLDPV_GONE,	    /* NULL, or being deleted */
	APP_OLDPV_RELEASED, /* claimRef still names the old claim's uid */
	APP_OLDPV_FREE,	    /* no claimRef, or one naming the slot without
			       a uid (pre-bound by us, not yet bound) */
	APP_OLDPV_BOUND_SLOT, /* bound to a claim of the slot's name with
				 another uid (a reattached claim) */
	APP_OLDPV_TAKEN	    /* bound or pre-bound to another claim */
} app_oldpv_kind;

app_oldpv_kind app_inplace_oldpv_kind(const json_t *pv, const app_inplace_volume *v,
				      const char *ns);

/* spec.persistentVolumeReclaimPolicy of `pv` ("Delete" when unset, the
 * API's default for dynamically provisioned volumes). */
const char *app_inplace_reclaim_policy(const json_t *pv);

/* A merge patch for a PersistentVolume: reclaim policy `policy`. */
json_t *app_inplace_policy_patch(const char *policy);

/* A merge patch that pre-binds an old volume to the slot's claim name in
 * `ns`: claimRef {namespace, name} without uid and resourceVersion, so the
 * PV controller binds it to the claim app_inplace_reattach_claim() makes. */
json_t *app_inplace_prebind_patch(const app_inplace_volume *v, const char *ns);

/* The claim that gives old volume `pv` back to slot `v`: name v->claim in
 * `ns`, labels of the StatefulSet's template `tmpl` (may be NULL),
 * annotation APP_ANNOTATION_REATTACHED = the restore's uid, spec.volumeName
 * = the PV, and storageClassName, accessModes, volumeMode and the storage
 * request from the PV (its capacity), so the binder accepts the pair.
 * 0 or SS_EINVALID (a PV without capacity or name) / SS_ENOMEM. */
int app_inplace_reattach_claim(json_t **out, const app_inplace_volume *v, const json_t *pv,
			       const json_t *tmpl, const json_t *restore, const char *ns);

/* Whether ordinal `o` is in st->configured. */
bool app_inplace_is_configured(const app_restore_status *st, int o);

/* What step ConfiguringReplication is about to do, in words, into buf:
 * the primary (ordinal `primary` of StatefulSet `sts`) with `replicas`
 * members in all, the GTID position its binary log starts at (NULL or ""
 * when the source recorded none) and, with replicas, the host they
 * replicate from (NULL: the primary's Pod IP) and the TLS mode their
 * replication uses. A one-member set has no replicas and is never said to
 * have any. */
void app_inplace_configuring_message(char *buf, size_t cap, const char *sts, int primary,
				     int replicas, const char *gtid, const char *host,
				     app_tls_mode tls);

/* The primary's DNS name that the replicas replicate from, into buf:
 * <sts>-<primary>.<service>.<ns>.svc, the name the StatefulSet's governing
 * headless Service (spec.serviceName) gives the Pod. It stays the same when
 * the Pod comes back with another IP, and with the cluster's resolver
 * search path it resolves in any cluster domain. 0, or SS_EINVALID (no
 * service: the Pods have no DNS names) or SS_ETOOLARGE (over DNS's 253
 * characters, or cap), each with a message. */
int app_inplace_replication_host(char *buf, size_t cap, const char *sts, int primary,
				 const char *service, const char *ns);

/* Whether Service `svc` (NULL: it does not exist) gives StatefulSet `sts`'s
 * Pods the DNS names app_inplace_replication_host() makes: cluster DNS
 * publishes <pod>.<service> records only for a headless Service
 * (clusterIP None) whose selector takes the Pods (every pair of it in the
 * Pod template's labels). false with *why, a phrase naming what is wrong
 * (static or borrowing nothing; fits "...: <why>"). */
bool app_inplace_service_names_pods(const json_t *svc, const json_t *sts, const char **why);

#endif
