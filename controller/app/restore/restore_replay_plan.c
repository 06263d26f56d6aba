/*
 * restore_replay_plan.c — see restore_replay_plan.h. Pure: no I/O, no
 * clock; only the object builders allocate (the JSON they return).
 */
#include "app/restore/restore_replay_plan.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app/api/names.h"
#include "app/api/owner.h"
#include "app/api/volumesnapshot.h"
#include "app/restore/restore_plan.h"
#include "app/scratch/scratch.h"
#include "ctrl/object.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/str.h"

#define REASON_NO_BASE "NoBaseBeforeTarget"
#define REASON_NOT_REACHED "TargetNotReached"

static uint64_t plan_seq(const app_gtid_pos *p, uint32_t domain)
{
	const app_gtid *g = app_gtid_pos_find(p, domain);

	return g == NULL ? 0 : g->seq;
}

/* Fails with `reason` and the message in why (and ss_error). */
static int plan_fail(const char **reason, const char *r, char *why, size_t cap,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int plan_fail(const char **reason, const char *r, char *why, size_t cap,
		     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	if (reason != NULL)
		*reason = r;
	return ss_error_set(SS_EINVALID, "%s", why);
}

static int plan_parse_gtid(app_gtid_pos *out, const app_replay_spec *rp,
			   const char **reason, char *why, size_t cap)
{
	if (rp->gtid == NULL || app_gtid_pos_parse(out, rp->gtid) < 0 || out->n == 0)
		return plan_fail(reason, "InvalidSpec", why, cap,
				 "spec.replay.gtid is not a GTID position");
	if (!rp->inclusive && out->n != 1)
		return plan_fail(reason, "InvalidSpec", why, cap,
				 "spec.replay.inclusive false needs exactly one GTID, "
				 "not %zu",
				 out->n);
	if (!rp->inclusive && out->g[0].seq == 0)
		return plan_fail(reason, "InvalidSpec", why, cap,
				 "spec.replay.gtid %s names no event (sequence numbers "
				 "start at 1)",
				 rp->gtid);
	return 0;
}

int app_restore_replay_base_bound(app_gtid_pos *out, const app_replay_spec *rp,
				  const char **reason, char *why, size_t cap)
{
	app_gtid_pos p;
	int rc = plan_parse_gtid(&p, rp, reason, why, cap);

	if (rc < 0)
		return rc;
	if (!rp->inclusive)
		p.g[0].seq--;
	*out = p;
	return 0;
}

int app_restore_replay_check_time(const app_replay_spec *rp, int64_t now_ns,
				  const char **reason, char *why, size_t cap)
{
	char a[64], b[64];

	if (!rp->has_time || rp->time_ns <= now_ns)
		return 0;
	return plan_fail(reason, REASON_NOT_REACHED, why, cap,
			 "the target time %s is in the future (the controller's "
			 "clock says %s): no binlog holds it yet",
			 ss_time_format(a, sizeof(a), rp->time_ns),
			 ss_time_format(b, sizeof(b), now_ns));
}

int app_restore_replay_check_base(const app_replay_spec *rp, const app_gtid_pos *base,
				  int64_t data_time_ns, const char **reason, char *why,
				  size_t cap)
{
	char a[64], b[64];
	app_gtid_pos bound;
	size_t i;
	int rc;

	if (rp->has_time) {
		if (data_time_ns > 0 && data_time_ns <= rp->time_ns)
			return 0;
		if (data_time_ns <= 0)
			return plan_fail(reason, REASON_NO_BASE, why, cap,
					 "the base Backup's data time is unknown");
		return plan_fail(reason, REASON_NO_BASE, why, cap,
				 "the base Backup's data is from %s, after the target "
				 "time %s",
				 ss_time_format(a, sizeof(a), data_time_ns),
				 ss_time_format(b, sizeof(b), rp->time_ns));
	}
	rc = app_restore_replay_base_bound(&bound, rp, reason, why, cap);
	if (rc < 0)
		return rc;
	for (i = 0; i < bound.n; i++) {
		uint64_t have = plan_seq(base, bound.g[i].domain);

		if (have > bound.g[i].seq)
			return plan_fail(reason, REASON_NO_BASE, why, cap,
					 "the base Backup is at seq %" PRIu64
					 " in domain %" PRIu32 ", past the target %s%s",
					 have, bound.g[i].domain, rp->gtid,
					 rp->inclusive ? "" : " (inclusive false)");
	}
	return 0;
}

/* The GTID of the target `t` against the source's last of its domain:
 * there, and with the server id the source logged it with when it is the
 * last. */
static int plan_check_in_history(const app_gtid *t, const app_gtid_pos *current,
				 const char **reason, char *why, size_t cap)
{
	const app_gtid *c = app_gtid_pos_find(current, t->domain);

	if (c == NULL || c->seq < t->seq)
		return plan_fail(reason, REASON_NOT_REACHED, why, cap,
				 "GTID %" PRIu32 "-%" PRIu32 "-%" PRIu64
				 " is not in the replay source's binlog: it reaches "
				 "seq %" PRIu64 " in domain %" PRIu32,
				 t->domain, t->server, t->seq, c ? c->seq : 0, t->domain);
	if (c->seq == t->seq && c->server != t->server)
		return plan_fail(reason, REASON_NOT_REACHED, why, cap,
				 "GTID %" PRIu32 "-%" PRIu32 "-%" PRIu64
				 " is not in the replay source's history: it logged "
				 "%" PRIu32 "-%" PRIu32 "-%" PRIu64,
				 t->domain, t->server, t->seq, c->domain, c->server, c->seq);
	return 0;
}

int app_restore_replay_gtid_target(app_gtid_pos *out, const app_replay_spec *rp,
				   const app_gtid_pos *base, const app_gtid_pos *current,
				   const char **reason, char *why, size_t cap)
{
	app_gtid_pos user, pos = *current;
	size_t i;
	int rc;

	rc = plan_parse_gtid(&user, rp, reason, why, cap);
	for (i = 0; rc == 0 && i < user.n; i++)
		rc = plan_check_in_history(&user.g[i], current, reason, why, cap);
	if (rc < 0)
		return rc;
	if (!rp->inclusive) {
		if (app_gtid_pos_before(&pos, current, &user.g[0]) < 0)
			return plan_fail(reason, REASON_NOT_REACHED, why, cap, "%s",
					 ss_error_last()->message);
	} else {
		for (i = 0; i < user.n; i++)
			if (app_gtid_pos_set(&pos, &user.g[i]) < 0)
				return plan_fail(reason, "InvalidSpec", why, cap,
						 "too many GTID domains");
	}
	rc = app_restore_replay_target_complete(&pos, base, current, reason, why, cap);
	if (rc == 0)
		*out = pos;
	return rc;
}

int app_restore_replay_target_complete(const app_gtid_pos *target, const app_gtid_pos *base,
				       const app_gtid_pos *current, const char **reason,
				       char *why, size_t cap)
{
	size_t i;

	for (i = 0; i < current->n; i++) {
		const app_gtid *c = &current->g[i];

		if (c->seq > plan_seq(base, c->domain) &&
		    app_gtid_pos_find(target, c->domain) == NULL)
			return plan_fail(reason, "TargetAmbiguous", why, cap,
					 "the replay source has events after the base in "
					 "domain %" PRIu32
					 " and the target names none of them: "
					 "give a GTID target naming domain %" PRIu32,
					 c->domain, c->domain);
	}
	for (i = 0; i < base->n; i++) {
		const app_gtid *t = app_gtid_pos_find(target, base->g[i].domain);

		if (base->g[i].seq > 0 && (t == NULL || t->seq < base->g[i].seq))
			return plan_fail(reason, REASON_NO_BASE, why, cap,
					 "the target is before the base in domain %" PRIu32
					 " (base seq %" PRIu64 ", target seq %" PRIu64 ")",
					 base->g[i].domain, base->g[i].seq,
					 t == NULL ? 0 : t->seq);
	}
	return 0;
}

int app_restore_replay_pick_primary(size_t *idx, const app_db_kind *kinds, size_t n,
				    char *why, size_t cap)
{
	size_t i, found = n, count = 0;

	for (i = 0; i < n; i++) {
		if (kinds[i] != APP_DB_PRIMARY)
			continue;
		if (count++ == 0)
			found = i;
	}
	if (count == 1) {
		*idx = found;
		return 0;
	}
	snprintf(why, cap,
		 "%s of %zu member(s) probed is a primary (writable, replicating from "
		 "no one): name the replay source in spec.replay.source.podName",
		 count == 0 ? "none" : "more than one", n);
	return ss_error_set(SS_ENOTFOUND, "%s", why);
}

/* Whether `reached` is past `target` in a domain the target names. */
static bool plan_past(const app_gtid_pos *reached, const app_gtid_pos *target)
{
	size_t i;

	for (i = 0; i < target->n; i++)
		if (plan_seq(reached, target->g[i].domain) > target->g[i].seq)
			return true;
	return false;
}

app_replay_action app_restore_replay_decide(const app_replay_progress *p,
					    const app_gtid_pos *target, bool timed_out,
					    const char **reason)
{
	*reason = NULL;
	if (p == NULL)
		return APP_REPLAY_DO_START;
	if (p->state == APP_REPLAY_REACHED)
		return APP_REPLAY_DO_FINISH;
	if (p->state == APP_REPLAY_FAILED) {
		switch (p->cause) {
		case APP_REPLAY_CAUSE_STOPPED: return APP_REPLAY_DO_START;
		case APP_REPLAY_CAUSE_SOURCE_LOST:
			/* MariaDB gave up retrying: start again (the source may
			 * be back, or at a new address) until the step's time
			 * is up */
			if (!timed_out)
				return APP_REPLAY_DO_START;
			*reason = "ReplaySourceLost";
			break;
		case APP_REPLAY_CAUSE_BINLOGS_PURGED: *reason = "BinlogsPurged"; break;
		default: *reason = "ReplayFailed"; break;
		}
		return APP_REPLAY_DO_FAIL;
	}
	if (plan_past(&p->reached, target)) {
		*reason = "ReplayMismatch";
		return APP_REPLAY_DO_FAIL;
	}
	/* An IO thread stopped without an error is not a lost source: with
	 * UNTIL master_gtid_pos it stops once it has fetched everything up to
	 * the target, long before the SQL thread has applied it (measured:
	 * 60,000 transactions fetched in under 0.5 s, applied in 3 s). */
	if (timed_out) {
		*reason = p->cause == APP_REPLAY_CAUSE_SOURCE_LOST ? "ReplaySourceLost"
								   : "Timeout";
		return APP_REPLAY_DO_FAIL;
	}
	/* Without the source MariaDB keeps retrying the address it was given;
	 * a source Pod made again may have another: start again, which
	 * re-points a moved source and leaves a running one alone. */
	return p->cause == APP_REPLAY_CAUSE_SOURCE_LOST ? APP_REPLAY_DO_START
							: APP_REPLAY_DO_WAIT;
}

bool app_restore_replay_progress_due(int64_t now_ns, int64_t last_ns, int64_t interval_ns)
{
	return last_ns == 0 || now_ns < last_ns || now_ns - last_ns >= interval_ns;
}

bool app_restore_replay_past_source(app_replay_step step)
{
	return step >= APP_REPLAY_STEP_STARTING;
}

const char *app_restore_replay_message(const char *msg, const char *reason)
{
	size_t n = reason ? strlen(reason) : 0;

	if (n > 0 && strncmp(msg, reason, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
		return msg + n + 2;
	return msg;
}

/* ---- InPlace ------------------------------------------------------------- */

#define SCRATCH_PURPOSE "pitr"

int app_restore_replay_name(char *out, app_replay_obj what, const char *restore,
			    const char *volume)
{
	char tail[APP_NAME_BUF];
	const char *prefix = what == APP_REPLAY_OBJ_SNAPSHOT ? "replayed-" : "scratch-";

	if (what == APP_REPLAY_OBJ_SAFETY_BACKUP)
		return app_name_join(out, APP_LABEL_VALUE_MAX, restore, "safety");
	if (volume == NULL || volume[0] == '\0' ||
	    (size_t)snprintf(tail, sizeof(tail), "%s%s", prefix, volume) >= sizeof(tail))
		return ss_error_set(SS_EINVALID, "a volume name is required (at most %d)",
				    APP_NAME_MAX - 9);
	return app_name_join(out, APP_LABEL_VALUE_MAX, restore, tail);
}

/* An ownerReference (controller) to Restore `restore`, or NULL. */
static json_t *plan_restore_owner(const json_t *restore)
{
	const char *name = ctrl_meta(restore, "name"), *uid = ctrl_meta(restore, "uid");

	if (name == NULL || uid == NULL || uid[0] == '\0') {
		ss_error_set(SS_EINVALID, "the Restore has no name or uid");
		return NULL;
	}
	/* No blockOwnerDeletion: that would need update on restores/finalizers
	 * (OwnerReferencesPermissionEnforcement), and nothing waits on them. */
	return json_pack("{s:s,s:s,s:s,s:s,s:b}", "apiVersion", APP_API_VERSION, "kind",
			 "Restore", "name", name, "uid", uid, "controller", 1);
}

/* Sets metadata.<key>.<k> = v on obj (creating the map). */
static int plan_meta_put(json_t *obj, const char *key, const char *k, const char *v)
{
	json_t *meta = json_object_get(obj, "metadata"), *map;

	if (meta == NULL || v == NULL)
		return ss_error_set(SS_EINVALID, "no metadata");
	map = json_object_get(meta, key);
	if (!json_is_object(map)) {
		map = json_object();
		if (map == NULL || json_object_set_new(meta, key, map) != 0)
			return ss_error_set(SS_ENOMEM, "out of memory");
	}
	if (json_object_set_new(map, k, json_string(v)) != 0)
		return ss_error_set(SS_ENOMEM, "out of memory");
	return 0;
}

int app_restore_replay_own_claims(json_t *planned, const json_t *restore)
{
	json_t *pvc;
	size_t i;

	json_array_foreach(planned, i, pvc)
	{
		json_t *owner = plan_restore_owner(restore);

		if (owner == NULL)
			return SS_EINVALID;
		if (json_object_set_new(json_object_get(pvc, "metadata"),
					"ownerReferences", json_pack("[o]", owner)) != 0)
			return ss_error_set(SS_ENOMEM, "out of memory");
		if (plan_meta_put(pvc, "labels", APP_LABEL_SCRATCH, SCRATCH_PURPOSE) < 0)
			return -1;
	}
	return 0;
}

int app_restore_replay_snapshot(json_t **out, const json_t *restore, const char *name,
				const char *claim, const char *volume,
				const char *class_name)
{
	json_t *owner = plan_restore_owner(restore), *vs;

	if (owner == NULL)
		return SS_EINVALID;
	vs = json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s,s:s},s:[o]},s:{s:{s:s}}}",
		       "apiVersion", "snapshot.storage.k8s.io/v1", "kind",
		       "VolumeSnapshot", "metadata", "name", name, "namespace",
		       ctrl_meta(restore, "namespace"), "labels", APP_LABEL_SCRATCH,
		       SCRATCH_PURPOSE, APP_LABEL_VOLUME, volume, "ownerReferences",
		       owner, "spec", "source", "persistentVolumeClaimName", claim);
	if (vs == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory (or a part missing)");
	if (class_name != NULL &&
	    json_object_set_new(json_object_get(vs, "spec"), "volumeSnapshotClassName",
				json_string(class_name)) != 0) {
		json_decref(vs);
		return ss_error_set(SS_ENOMEM, "out of memory");
	}
	*out = vs;
	return 0;
}

app_replay_obj_state app_restore_replay_snapshot_state(const json_t *vs,
						       const json_t *restore,
						       const char **why)
{
	app_vs_state st;

	*why = "not created yet";
	if (vs == NULL)
		return APP_REPLAY_OBJ_WAIT;
	*why = "a VolumeSnapshot of that name exists that this Restore did not make";
	if (!app_owner_has_uid(vs, ctrl_meta(restore, "uid")))
		return APP_REPLAY_OBJ_FOREIGN;
	*why = "it is being deleted";
	if (ctrl_meta(vs, "deletionTimestamp") != NULL)
		return APP_REPLAY_OBJ_FAILED;
	*why = "its status cannot be read";
	if (app_vs_state_read(&st, vs) < 0)
		return APP_REPLAY_OBJ_FAILED;
	if (st.error != NULL) {
		*why = st.error;
		return APP_REPLAY_OBJ_FAILED;
	}
	*why = "not readyToUse yet";
	return st.ready_to_use && st.restore_size_bytes > 0 ? APP_REPLAY_OBJ_READY
							    : APP_REPLAY_OBJ_WAIT;
}

int app_restore_replay_safety_backup(json_t **out, const json_t *restore,
				     const json_t *base, const char *name)
{
	const char *rname = ctrl_meta(restore, "name"), *uid = ctrl_meta(restore, "uid");
	json_t *spec = json_deep_copy(json_object_get(base, "spec")), *b = NULL;
	json_t *target = json_object_get(spec, "target");

	if (!json_is_object(target) || rname == NULL || uid == NULL) {
		json_decref(spec);
		return ss_error_set(SS_EINVALID, "the base Backup has no spec.target, or "
						 "the Restore no name or uid");
	}
	if (json_object_set_new(target, "role", json_string("Primary")) != 0)
		goto nomem;
	b = json_pack("{s:s,s:s,s:{s:s,s:s,s:{},s:{s:s}},s:o}", "apiVersion",
		      APP_API_VERSION, "kind", "Backup", "metadata", "name", name,
		      "namespace", ctrl_meta(restore, "namespace"), "labels",
		      "annotations", APP_ANNOTATION_RESTORE_UID, uid, "spec", spec);
	spec = NULL; /* stolen by "o", even on failure */
	if (b == NULL)
		goto nomem;
	if (strlen(rname) <= APP_LABEL_VALUE_MAX &&
	    plan_meta_put(b, "labels", APP_LABEL_SAFETY_FOR, rname) < 0)
		goto nomem;
	*out = b;
	return 0;
nomem:
	json_decref(spec);
	json_decref(b);
	return ss_error_set(SS_ENOMEM, "out of memory");
}

app_replay_obj_state
app_restore_replay_safety_state(const json_t *b, const json_t *restore, const char **why)
{
	*why = "not created yet";
	if (b == NULL)
		return APP_REPLAY_OBJ_WAIT;
	*why = "a Backup of that name exists that this Restore did not make";
	if (!ss_streq(ctrl_annotation(b, APP_ANNOTATION_RESTORE_UID),
		      ctrl_meta(restore, "uid")))
		return APP_REPLAY_OBJ_FOREIGN;
	switch (app_restore_backup_state(b, why)) {
	case APP_SOURCE_OK: return APP_REPLAY_OBJ_READY;
	case APP_SOURCE_FAILED: return APP_REPLAY_OBJ_FAILED;
	case APP_SOURCE_WAIT: break;
	}
	return APP_REPLAY_OBJ_WAIT;
}
