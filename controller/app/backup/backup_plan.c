/*
 * backup_plan.c — see backup_plan.h.
 *
 * Layout: choosing the server to lock; a lock session that did not see its
 * cut; the VolumeSnapshot to create; whether a Complete Backup's
 * VolumeSnapshots can still be restored from; attempts. (Reading the pods
 * of a target is api/target.c, a VolumeSnapshot's status
 * api/volumesnapshot.c.)
 *
 * Everything the reconciler later shows a user (a Failed message, a
 * fallback Warning) is written here, so the texts name the pod, the volume
 * and what to change. Results never depend on the order the cache listed
 * the pods in (app_target_resolve sorts the candidates), so the same world
 * always gives the same choice.
 */
#include "app/backup/backup_plan.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api/dec.h"
#include "app/api/names.h"
#include "app/api/owner.h"
#include "ctrl/object.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/str.h"

static const char *backup_plan_str_at(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static const json_t *backup_plan_at2(const json_t *obj, const char *a, const char *b)
{
	return json_object_get(json_object_get(obj, a), b);
}

/* ---- choosing the server to lock ------------------------------------------ */

/* A message that fills up ends in "..." and takes nothing more. */
typedef struct {
	char *buf;
	size_t cap;
	size_t len;
	bool full;
} msg;

static void backup_plan_msg_add(msg *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void backup_plan_msg_add(msg *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (m->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < m->cap - m->len) {
		m->len += (size_t)n;
		return;
	}
	m->full = true;
	m->len = m->cap - 1;
	memcpy(m->buf + m->cap - 4, "...", 4);
}

static const char *backup_plan_kind_phrase(app_db_kind kind)
{
	switch (kind) {
	case APP_DB_PRIMARY: return "primary";
	case APP_DB_HEALTHY_REPLICA: return "healthy replica";
	case APP_DB_UNHEALTHY_REPLICA: return "unhealthy replica";
	default: return "neither primary nor replica";
	}
}

/* "; <pod>: what it was" for each candidate but `skip`. */
static void backup_plan_describe_candidates(msg *m, const app_target_candidates *cands,
					    const app_backup_plan_probe *probes, int skip)
{
	const char *sep = "";
	size_t i;

	for (i = 0; i < cands->n; i++) {
		const app_target_candidate *c = &cands->c[i];
		const app_backup_plan_probe *p = &probes[i];

		if ((int)i == skip)
			continue;
		if (!c->ready)
			backup_plan_msg_add(m, "%s%s: not ready (%s)", sep, c->pod,
					    c->not_ready_why);
		else if (p->rc != 0)
			backup_plan_msg_add(m, "%s%s: %s", sep, c->pod,
					    p->error[0] != '\0'
						    ? p->error
						    : ss_error_code_name(p->rc));
		else if (p->verdict.reason[0] != '\0')
			backup_plan_msg_add(m, "%s%s: %s: %s", sep, c->pod,
					    backup_plan_kind_phrase(p->verdict.kind),
					    p->verdict.reason);
		else
			backup_plan_msg_add(m, "%s%s: %s", sep, c->pod,
					    backup_plan_kind_phrase(p->verdict.kind));
		sep = "; ";
	}
}

/* A replica's health rank: its lag, small lags counting as none. */
static int64_t backup_plan_rank_lag(const app_backup_plan_probe *p)
{
	if (p->verdict.lag_seconds < 0)
		return INT64_MAX;
	return p->verdict.lag_seconds <= APP_BACKUP_PLAN_LAG_SAME_SECONDS
		       ? 0
		       : p->verdict.lag_seconds;
}

/* Whether candidate a is a better replica than b (b < 0: none yet): health
 * first, then the one used longest ago, then the order of the pods. */
static bool backup_plan_better_replica(const app_target_candidates *cands,
				       const app_backup_plan_probe *probes, size_t a,
				       int b)
{
	const app_target_candidate *x = &cands->c[a], *y;

	if (b < 0)
		return true;
	y = &cands->c[b];
	if (backup_plan_rank_lag(&probes[a]) != backup_plan_rank_lag(&probes[b]))
		return backup_plan_rank_lag(&probes[a]) <
		       backup_plan_rank_lag(&probes[b]);
	if (probes[a].last_used != probes[b].last_used)
		return probes[a].last_used < probes[b].last_used;
	return app_target_order(x->ordinal, x->pod, y->ordinal, y->pod) < 0;
}

bool app_backup_plan_equally_good(const app_target_candidates *cands,
				  const app_backup_plan_probe *probes, int chosen,
				  int other)
{
	const app_backup_plan_probe *a, *b;

	if (chosen < 0 || other < 0 || (size_t)chosen >= cands->n ||
	    (size_t)other >= cands->n || chosen == other || !cands->c[other].ready)
		return false;
	a = &probes[chosen];
	b = &probes[other];
	/* Only replicas: of two primaries the lowest ordinal is always the
	 * one taken, free or not. */
	return a->rc == 0 && b->rc == 0 && a->verdict.kind == APP_DB_HEALTHY_REPLICA &&
	       b->verdict.kind == APP_DB_HEALTHY_REPLICA &&
	       backup_plan_rank_lag(a) == backup_plan_rank_lag(b);
}

bool app_backup_plan_held(const app_target_candidate *c, const app_backup_plan_probe *p)
{
	return c->ready && p->rc == 0 && p->verdict.kind == APP_DB_UNHEALTHY_REPLICA &&
	       p->paused_by != NULL;
}

/* Whether Backup b's status says its lock session stopped pod's SQL
 * threads: Locked counts too, as a status written before the pause was
 * recorded may be all a dead process left. */
static bool backup_plan_claims_pause(const json_t *b, const char *pod)
{
	const json_t *st = json_object_get(b, "status");
	const char *src = backup_plan_str_at(st, "sourcePod");
	const char *phase = backup_plan_str_at(st, "phase");

	if (src == NULL || strcmp(src, pod) != 0)
		return false;
	return json_is_true(backup_plan_at2(st, "lock", "replicationPaused")) ||
	       (phase && strcmp(phase, app_backup_phase_name(APP_BACKUP_LOCKED)) == 0);
}

const char *app_backup_plan_pause_claim(const json_t *backups, const char *ns,
					const char *self, const char *pod)
{
	const json_t *b;
	size_t i;

	if (!json_is_array(backups) || ns == NULL || pod == NULL)
		return NULL;
	json_array_foreach(backups, i, b) {
		const char *bns = ctrl_meta(b, "namespace");
		const char *name = ctrl_meta(b, "name");

		if (bns == NULL || name == NULL || strcmp(bns, ns) != 0 ||
		    (self && strcmp(name, self) == 0))
			continue;
		if (backup_plan_claims_pause(b, pod))
			return name;
	}
	return NULL;
}

/* The reason when every ready candidate's probe failed: the credentials
 * when each server that answered refused them, a privilege when any server
 * named one, else the connection. */
static const char *backup_plan_failure_reason(size_t unauthorized, size_t forbidden,
					      size_t unreachable, size_t failed)
{
	if (forbidden > 0)
		return "PrivilegeMissing";
	if (unauthorized > 0 && unauthorized + unreachable == failed)
		return "AuthenticationFailed";
	return "DatabaseUnreachable";
}

/* What the ready candidates are: how many, how many probes failed and
 * how (the Failed reason when every one did), the best healthy replica
 * and the primary (-1: none). */
typedef struct {
	size_t ready, failed, unauthorized, forbidden, unreachable;
	int replica, primary;
	int held; /* the first replica held by another Backup (app_backup_plan_held) */
} backup_plan_tally;

static void backup_plan_count(backup_plan_tally *t, const app_target_candidates *cands,
			      const app_backup_plan_probe *probes)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	t->replica = t->primary = t->held = -1;
	for (i = 0; i < cands->n; i++) {
		const app_target_candidate *c = &cands->c[i];
		const app_backup_plan_probe *p = &probes[i];

		if (!c->ready)
			continue;
		t->ready++;
		if (p->rc != 0) {
			t->failed++;
			if (p->rc == SS_EUNAUTHORIZED)
				t->unauthorized++;
			else if (p->rc == SS_EFORBIDDEN)
				t->forbidden++;
			else if (p->rc == SS_ETRANSPORT || p->rc == SS_ETIMEOUT)
				t->unreachable++;
			continue;
		}
		if (p->verdict.kind == APP_DB_HEALTHY_REPLICA &&
		    backup_plan_better_replica(cands, probes, i, t->replica))
			t->replica = (int)i;
		if (app_backup_plan_held(c, p) &&
		    (t->held < 0 ||
		     app_target_order(c->ordinal, c->pod, cands->c[t->held].ordinal,
				      cands->c[t->held].pod) < 0))
			t->held = (int)i;
		/* Two primaries is a split brain; lock the lowest ordinal,
		 * the one a StatefulSet's usual setup makes the primary. */
		if (p->verdict.kind == APP_DB_PRIMARY &&
		    (t->primary < 0 ||
		     app_target_order(c->ordinal, c->pod, cands->c[t->primary].ordinal,
				      cands->c[t->primary].pod) < 0))
			t->primary = (int)i;
	}
}

/* The server `role` takes, if one qualifies (the replica, else the
 * primary; a PreferReplica fallback with its note in m): whether one did. */
static bool backup_plan_pick(app_backup_plan_choice *out, msg *m,
			     const backup_plan_tally *t,
			     const app_target_candidates *cands,
			     const app_backup_plan_probe *probes, app_role role)
{
	if (role != APP_ROLE_PRIMARY && t->replica >= 0) {
		out->chosen = t->replica;
		out->role = "Replica";
		return true;
	}
	/* A held replica is busy, and a replica in a session is waited for
	 * rather than the primary locked. */
	if (role == APP_ROLE_REPLICA || t->primary < 0 ||
	    (role == APP_ROLE_PREFER_REPLICA && t->held >= 0))
		return false;
	out->chosen = t->primary;
	out->role = "Primary";
	if (role == APP_ROLE_PREFER_REPLICA) {
		out->fell_back = true;
		backup_plan_msg_add(m,
				    "no replica qualified, so the primary %s is locked",
				    cands->c[t->primary].pod);
		if (cands->n == 1)
			backup_plan_msg_add(m, ": the target has no other pod");
		else
			backup_plan_msg_add(m, ": ");
		backup_plan_describe_candidates(m, cands, probes, t->primary);
	}
	return true;
}

/* No server qualifies: the Failed reason (that of the probes when every
 * ready one failed) and the words for it in m, naming each candidate. */
static void backup_plan_none(app_backup_plan_choice *out, msg *m,
			     const backup_plan_tally *t,
			     const app_target_candidates *cands,
			     const app_backup_plan_probe *probes, app_role role)
{
	const char *head;

	if (t->ready > 0 && t->failed == t->ready) {
		out->reason = backup_plan_failure_reason(t->unauthorized, t->forbidden,
							 t->unreachable, t->failed);
		if (t->forbidden > 0)
			head = "the account lacks a privilege snapstage needs";
		else if (strcmp(out->reason, "AuthenticationFailed") == 0)
			head = "no server accepted the credentials";
		else
			head = "no server could be probed";
	} else if (role == APP_ROLE_REPLICA) {
		out->reason = "NoHealthyReplica";
		head = "no healthy replica within maxReplicationLagSeconds (role "
		       "Replica)";
	} else if (role == APP_ROLE_PRIMARY) {
		out->reason = "NoPrimary";
		head = "no ready writable primary (role Primary)";
	} else {
		out->reason = "NoPrimary";
		head = "no replica qualified and there is no ready writable primary to "
		       "fall back to";
	}
	if (cands->n == 0) {
		backup_plan_msg_add(m, "%s: the target has no pods", head);
		return;
	}
	backup_plan_msg_add(m, "%s: ", head);
	backup_plan_describe_candidates(m, cands, probes, -1);
}

/* No replica is free, but one is held by another Backup's stopped SQL
 * threads: wait for it (its holder starts them again), naming it, its
 * holder and what the others are. */
static void backup_plan_wait(app_backup_plan_choice *out, msg *m,
			     const backup_plan_tally *t,
			     const app_target_candidates *cands,
			     const app_backup_plan_probe *probes)
{
	out->waits_for = t->held;
	backup_plan_msg_add(m,
			    "no replica is free: Backup %s stopped the SQL threads of %s "
			    "for its lock session; waiting for them to be started",
			    probes[t->held].paused_by, cands->c[t->held].pod);
	if (cands->n > 1)
		backup_plan_msg_add(m, " (others: ");
	backup_plan_describe_candidates(m, cands, probes, t->held);
	if (cands->n > 1)
		backup_plan_msg_add(m, ")");
}

int app_backup_plan_choose(app_backup_plan_choice *out,
			   const app_target_candidates *cands,
			   const app_backup_plan_probe *probes, app_role role)
{
	msg m = { out->message, sizeof(out->message), 0, false };
	backup_plan_tally t;

	out->chosen = -1;
	out->waits_for = -1;
	out->role = NULL;
	out->fell_back = false;
	out->reason = NULL;
	out->message[0] = '\0';
	backup_plan_count(&t, cands, probes);
	if (backup_plan_pick(out, &m, &t, cands, probes, role))
		return out->chosen;
	if (role != APP_ROLE_PRIMARY && t.held >= 0)
		backup_plan_wait(out, &m, &t, cands, probes);
	else
		backup_plan_none(out, &m, &t, cands, probes, role);
	return out->chosen;
}

/* ---- words for what went wrong --------------------------------------------- */

const char *app_backup_plan_paused_why(const app_backup_status *st)
{
	if (st->has_phase && st->phase == APP_BACKUP_LOCKED)
		return "they were stopped for a lock session that was interrupted";
	if (st->lock.acquired_ns > 0)
		return "the lock session that stopped them ended without starting "
		       "them (the server did not answer in time, or refused)";
	return "they were stopped for a lock session that ended before it took "
	       "the lock, and were not started then";
}

static bool backup_plan_given(const char *s)
{
	return s != NULL && s[0] != '\0';
}

const char *app_backup_plan_lock_timeout(char *out, size_t cap,
					 const app_backup_plan_timeout_in *in)
{
	const char *ns = in->ns ? in->ns : "?";

	if (backup_plan_given(in->deleted)) {
		snprintf(out, cap,
			 "VolumeSnapshot(s) %s of %s were deleted while the lock was held; "
			 "the stages were ended after %lld ms and the Backup's other "
			 "snapshots deleted",
			 in->deleted, ns, (long long)in->held_ms);
		return "SnapshotLost";
	}
	if (backup_plan_given(in->api_error))
		snprintf(out, cap,
			 "the API server did not answer in time (%s), so %zu of %zu "
			 "snapshot(s) were not seen cut within lock.timeoutSeconds (%d s); "
			 "the stages were ended after %lld ms and the uncut snapshots "
			 "deleted",
			 in->api_error, in->uncut, in->n_snapshots, in->timeout_seconds,
			 (long long)in->held_ms);
	else if (in->stall_ms >= APP_BACKUP_PLAN_STALL_MS)
		snprintf(out, cap,
			 "the controller did not run for %lld ms while it held the lock "
			 "(stopped, or starved of CPU), so %zu of %zu snapshot(s) were not "
			 "seen cut within lock.timeoutSeconds (%d s); the stages were ended "
			 "after %lld ms and the uncut snapshots deleted",
			 (long long)in->stall_ms, in->uncut, in->n_snapshots,
			 in->timeout_seconds, (long long)in->held_ms);
	else
		snprintf(out, cap,
			 "the storage did not cut %zu of %zu snapshot(s) within "
			 "lock.timeoutSeconds (%d s); the stages were ended after %lld ms "
			 "and the uncut snapshots deleted",
			 in->uncut, in->n_snapshots, in->timeout_seconds,
			 (long long)in->held_ms);
	return "LockTimeout";
}

bool app_backup_plan_session_vs_lost(const app_backup_plan_session_vs *s)
{
	switch (s->now) {
	case APP_BACKUP_PLAN_VS_DELETING:
		return true; /* it exists, so it was made, and someone deletes it */
	case APP_BACKUP_PLAN_VS_ABSENT:
		/* Not found proves a loss only of what was known to exist: a
		 * create still in flight (or never delivered) is absent too. */
		return s->created || s->seen;
	case APP_BACKUP_PLAN_VS_PRESENT:
	case APP_BACKUP_PLAN_VS_UNKNOWN:
	default: return false;
	}
}

bool app_backup_plan_vs_is_cut(const app_vs_state *st)
{
	return st->creation_time_ns != 0 || st->ready_to_use;
}

/* ---- the VolumeSnapshot to create ----------------------------------------- */

/* Sets `key` to a copy of `value`. 0 or SS_ENOMEM. */
static int backup_plan_put_str(json_t *obj, const char *key, const char *value)
{
	if (json_object_set_new(obj, key, json_string(value)) != 0)
		return ss_error_set(SS_ENOMEM, "out of memory");
	return 0;
}

/* The same for annotations: unknown values leave the key out, so that a
 * user annotation can never pose as the position read under the lock. */
static int backup_plan_own_annotation(json_t *annotations, const char *key,
				      const char *value)
{
	json_object_del(annotations, key);
	if (value == NULL || *value == '\0')
		return 0;
	return backup_plan_put_str(annotations, key, value);
}

static int backup_plan_own_annotation_int(json_t *annotations, const char *key,
					  int64_t value)
{
	char text[24];

	json_object_del(annotations, key);
	if (value < 0)
		return 0;
	snprintf(text, sizeof(text), "%" PRId64, value);
	return backup_plan_put_str(annotations, key, text);
}

static int backup_plan_labels(json_t *labels, const app_backup_plan_snapshot_in *in,
			      const char *backup_name)
{
	char backup_label[APP_LABEL_VALUE_BUF];
	int rc;

	rc = app_name_backup_label(backup_label, backup_name);
	if (rc == 0)
		rc = app_copy_copyable(labels, in->spec->snapshot.labels, true);
	if (rc == 0)
		rc = app_label_set_own(labels, APP_LABEL_BACKUP, backup_label);
	if (rc == 0)
		rc = app_label_set_own(labels, APP_LABEL_SCHEDULE,
				       ctrl_label(in->backup, APP_LABEL_SCHEDULE));
	if (rc == 0)
		rc = app_label_set_own(labels, APP_LABEL_POD, in->pod);
	if (rc == 0)
		rc = app_label_set_own(labels, APP_LABEL_CLAIM, in->claim);
	if (rc == 0)
		rc = app_label_set_own(labels, APP_LABEL_VOLUME, in->volume);
	return rc;
}

static int backup_plan_annotations(json_t *ann, const app_backup_plan_snapshot_in *in,
				   const char *backup_name)
{
	static const app_db_position unknown = { NULL, NULL, NULL, NULL, -1, NULL, -1 };
	const app_db_position *pos = in->position != NULL ? in->position : &unknown;
	const char *key;
	const json_t *v;
	int rc = 0;

	json_object_foreach((json_t *)in->spec->snapshot.annotations, key, v)
	{
		if (!json_is_string(v) || app_key_is_reserved(key))
			continue;
		rc = backup_plan_put_str(ann, key, json_string_value(v));
		if (rc != 0)
			return rc;
	}
	rc = backup_plan_own_annotation(ann, APP_ANNOTATION_GTID_BINLOG_POS,
					pos->gtid_binlog_pos);
	if (rc == 0)
		rc = backup_plan_own_annotation(ann, APP_ANNOTATION_GTID_SLAVE_POS,
						pos->gtid_slave_pos);
	if (rc == 0)
		rc = backup_plan_own_annotation(ann, APP_ANNOTATION_GTID_CURRENT_POS,
						pos->gtid_current_pos);
	if (rc == 0)
		rc = backup_plan_own_annotation(ann, APP_ANNOTATION_BINLOG_FILE,
						pos->binlog_file);
	if (rc == 0)
		rc = backup_plan_own_annotation_int(ann, APP_ANNOTATION_BINLOG_POSITION,
						    pos->binlog_position);
	if (rc == 0)
		rc = backup_plan_own_annotation(ann, APP_ANNOTATION_PRIMARY_BINLOG_FILE,
						pos->primary_binlog_file);
	if (rc == 0)
		rc = backup_plan_own_annotation_int(
			ann, APP_ANNOTATION_PRIMARY_BINLOG_POSITION,
			pos->primary_binlog_position);
	if (rc == 0)
		rc = backup_plan_own_annotation(ann, APP_ANNOTATION_SOURCE_ROLE,
						in->source_role);
	if (rc == 0)
		rc = backup_plan_own_annotation(
			ann, APP_ANNOTATION_LOCK_STAGE,
			app_lock_stage_name(in->spec->lock.stage));
	if (rc == 0)
		rc = backup_plan_own_annotation(ann, APP_ANNOTATION_BACKUP_NAME,
						backup_name);
	return rc;
}

static bool backup_plan_empty(const char *s)
{
	return s == NULL || *s == '\0';
}

/* The name in->name gives, or attempt 1's (APP_NAME_BUF bytes). */
static int backup_plan_snapshot_name(char *out, const app_backup_plan_snapshot_in *in,
				     const char *ns, const char *backup)
{
	if (in->name == NULL)
		return app_name_backup_snapshot(out, backup, in->volume, 1);
	if (!app_dec_is_dns_subdomain(in->name))
		return ss_error_set(SS_EINVALID,
				    "VolumeSnapshot of Backup %s/%s: \"%.64s\" is not a "
				    "valid name",
				    ns, backup, in->name);
	ss_strlcpy(out, in->name, APP_NAME_BUF);
	return 0;
}

int app_backup_plan_snapshot_object(json_t **out, const app_backup_plan_snapshot_in *in)
{
	const char *name = ctrl_meta(in->backup, "name");
	const char *ns = ctrl_meta(in->backup, "namespace");
	const char *uid = ctrl_meta(in->backup, "uid");
	char vs_name[APP_NAME_BUF];
	json_t *vs = NULL, *meta, *labels, *ann, *spec;
	int rc;

	if (backup_plan_empty(name) || backup_plan_empty(ns) || backup_plan_empty(uid))
		return ss_error_set(SS_EINVALID,
				    "a VolumeSnapshot needs its Backup's name, namespace "
				    "and uid (Backup %s/%s has uid %s)",
				    ns != NULL ? ns : "?", name != NULL ? name : "?",
				    uid != NULL ? uid : "none");
	if (in->spec == NULL || backup_plan_empty(in->volume) ||
	    backup_plan_empty(in->claim) || backup_plan_empty(in->pod))
		return ss_error_set(SS_EINVALID,
				    "VolumeSnapshot of Backup %s/%s: spec, volume, claim "
				    "and pod are required",
				    ns, name);
	rc = backup_plan_snapshot_name(vs_name, in, ns, name);
	if (rc != 0)
		return rc;

	vs = json_pack("{s:s, s:s, s:{s:s, s:s, s:{}, s:{}, s:[{s:s, s:s, s:s, s:s, "
		       "s:b, s:b}]}, s:{s:{s:s}}}",
		       "apiVersion", "snapshot.storage.k8s.io/v1", "kind",
		       "VolumeSnapshot", "metadata", "name", vs_name, "namespace", ns,
		       "labels", "annotations", "ownerReferences", "apiVersion",
		       APP_API_VERSION, "kind", "Backup", "name", name, "uid", uid,
		       "controller", 1, "blockOwnerDeletion", 1, "spec", "source",
		       "persistentVolumeClaimName", in->claim);
	if (vs == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	meta = json_object_get(vs, "metadata");
	labels = json_object_get(meta, "labels");
	ann = json_object_get(meta, "annotations");
	spec = json_object_get(vs, "spec");

	rc = backup_plan_labels(labels, in, name);
	if (rc == 0)
		rc = backup_plan_annotations(ann, in, name);
	if (rc == 0 && in->spec->snapshot.class_name != NULL)
		rc = backup_plan_put_str(spec, "volumeSnapshotClassName",
					 in->spec->snapshot.class_name);
	if (rc != 0)
		goto done;
	if (json_object_size(labels) == 0)
		json_object_del(meta, "labels");
	if (json_object_size(ann) == 0)
		json_object_del(meta, "annotations");
	*out = vs;
	vs = NULL;
done:
	json_decref(vs);
	return rc;
}

/* ---- whether a Complete Backup can be restored ------------------------------ */

/* The VolumeSnapshot `name` of namespace `ns` among `snapshots`, or NULL. */
static const json_t *backup_plan_find_snapshot(const json_t *snapshots, const char *ns,
					       const char *name)
{
	const json_t *vs;
	size_t i;

	json_array_foreach((json_t *)snapshots, i, vs)
	{
		if (ss_streq(ctrl_meta(vs, "name"), name) &&
		    ss_streq(ctrl_meta(vs, "namespace"), ns))
			return vs;
	}
	return NULL;
}

/* "owned by Backup x (uid u)" for the controller (else first) owner of
 * `obj`, or "with no owner". */
static void backup_plan_describe_owner(char *buf, size_t cap, const json_t *obj)
{
	const json_t *ref = app_owner_controller(obj);
	const char *kind, *name, *uid;

	if (ref == NULL)
		ref = json_array_get(backup_plan_at2(obj, "metadata", "ownerReferences"),
				     0);
	if (ref == NULL) {
		snprintf(buf, cap, "with no owner");
		return;
	}
	kind = backup_plan_str_at(ref, "kind");
	name = backup_plan_str_at(ref, "name");
	uid = backup_plan_str_at(ref, "uid");
	snprintf(buf, cap, "owned by %s %s (uid %s)", kind ? kind : "?",
		 name ? name : "?", uid ? uid : "?");
}

static const char *backup_plan_sep(const msg *m)
{
	return m->len > 0 ? "; " : "";
}

/* Adds what is wrong with status.snapshots[i] (`entry`), if anything, to
 * `missing` (gone, or not this Backup's) or `failed` (error, not ready). */
static void backup_plan_judge_snapshot(msg *missing, msg *failed, const json_t *entry,
				       size_t i, const json_t *snapshots, const char *ns,
				       const char *uid)
{
	const char *name = backup_plan_str_at(entry, "volumeSnapshotName");
	const json_t *vs;
	app_vs_state st;
	char owner[APP_NAME_BUF * 2 + 64];

	if (backup_plan_empty(name)) {
		backup_plan_msg_add(missing,
				    "%sstatus.snapshots[%zu] names no VolumeSnapshot",
				    backup_plan_sep(missing), i);
		return;
	}
	vs = backup_plan_find_snapshot(snapshots, ns, name);
	if (vs == NULL) {
		backup_plan_msg_add(missing, "%sVolumeSnapshot %s was deleted",
				    backup_plan_sep(missing), name);
	} else if (!app_owner_has_uid(vs, uid)) {
		backup_plan_describe_owner(owner, sizeof(owner), vs);
		backup_plan_msg_add(
			missing,
			"%sVolumeSnapshot %s is not this Backup's: another object of "
			"that name, %s",
			backup_plan_sep(missing), name, owner);
	} else if (app_vs_state_read(&st, vs) != 0) {
		backup_plan_msg_add(failed, "%s%s", backup_plan_sep(failed),
				    ss_error_last()->message);
	} else if (st.error != NULL) {
		backup_plan_msg_add(failed, "%sVolumeSnapshot %s failed: %s",
				    backup_plan_sep(failed), name, st.error);
	} else if (!st.ready_to_use) {
		backup_plan_msg_add(failed, "%sVolumeSnapshot %s is no longer readyToUse",
				    backup_plan_sep(failed), name);
	}
}

int app_backup_plan_restorable(app_backup_plan_restorability *out, const json_t *backup,
			       const json_t *snapshots)
{
	const char *name = ctrl_meta(backup, "name");
	const char *ns = ctrl_meta(backup, "namespace");
	const char *uid = ctrl_meta(backup, "uid");
	const json_t *listed = backup_plan_at2(backup, "status", "snapshots");
	char missing_buf[APP_BACKUP_PLAN_MESSAGE_MAX],
		failed_buf[APP_BACKUP_PLAN_MESSAGE_MAX];
	msg missing = { missing_buf, sizeof(missing_buf), 0, false };
	msg failed = { failed_buf, sizeof(failed_buf), 0, false };
	msg m = { out->message, sizeof(out->message), 0, false };
	const json_t *entry;
	size_t i;

	if (backup_plan_empty(name) || backup_plan_empty(ns) || backup_plan_empty(uid))
		return ss_error_set(SS_EINVALID,
				    "judging whether a Backup is restorable needs its "
				    "name, namespace and uid");
	missing_buf[0] = failed_buf[0] = out->message[0] = '\0';
	if (json_array_size(listed) == 0)
		backup_plan_msg_add(&missing, "the Backup lists no VolumeSnapshots");
	json_array_foreach((json_t *)listed, i, entry) backup_plan_judge_snapshot(
		&missing, &failed, entry, i, snapshots, ns, uid);

	out->restorable = missing.len == 0 && failed.len == 0;
	if (out->restorable) {
		out->reason = APP_REASON_SNAPSHOTS_READY;
		backup_plan_msg_add(&m,
				    "%zu VolumeSnapshot(s) exist and are ready to use",
				    json_array_size(listed));
		return 0;
	}
	out->reason = missing.len > 0 ? APP_REASON_SNAPSHOT_MISSING
				      : APP_REASON_SNAPSHOT_FAILED;
	backup_plan_msg_add(&m, "%s%s%s", missing_buf,
			    missing.len > 0 && failed.len > 0 ? "; " : "", failed_buf);
	return 0;
}

/* ---- attempts ------------------------------------------------------------ */

int64_t app_backup_plan_retry_backoff_ns(int failed)
{
	int64_t d = APP_BACKUP_PLAN_RETRY_BASE_NS;
	int i;

	if (failed <= 0)
		return 0;
	for (i = 1; i < failed && d < APP_BACKUP_PLAN_RETRY_MAX_NS; i++)
		d *= 2;
	return d < APP_BACKUP_PLAN_RETRY_MAX_NS ? d : APP_BACKUP_PLAN_RETRY_MAX_NS;
}

int64_t app_backup_plan_next_attempt_ns(int failed, int64_t now_ns)
{
	int64_t t = now_ns + app_backup_plan_retry_backoff_ns(failed);
	int64_t r = t % SS_NS_PER_SEC;

	if (r != 0)
		t += r > 0 ? SS_NS_PER_SEC - r : -r;
	return t;
}

int64_t app_backup_plan_attempt_wait_ns(int64_t next_attempt_ns, int64_t now_ns)
{
	int64_t left;

	if (next_attempt_ns <= 0 || next_attempt_ns <= now_ns)
		return 0;
	left = next_attempt_ns - now_ns;
	return left < APP_BACKUP_PLAN_RETRY_MAX_NS ? left : APP_BACKUP_PLAN_RETRY_MAX_NS;
}

app_backup_plan_session_error app_backup_plan_session_error_decide(int code)
{
	app_backup_plan_session_error d = { "SnapshotCreateFailed", true };

	if (code == SS_EINVALID || code == SS_EUNSUPPORTED)
		d.retry = false;
	return d;
}
