/*
 * restore_replay.c — a point-in-time restore (issue 19):
 * the base Backup restored into the Restore's own claims, a scratch
 * server started on them, the target resolved to an exact GTID position
 * on the replay source's binlog, the source's binlog replayed onto the
 * scratch server up to it (MariaDB's own replication, db/replay.h), the
 * end state checked exact and the server shut down; the claims are then
 * the result (in place: snapshotted, a safety Backup taken, then the
 * in-place machinery). Steps, each recorded in status.replay.step before it is
 * acted on (restore_replay_plan.h has the decisions):
 *   (none)         accept: the base pinned (status.sourceBackup, picked
 *                  by the target for a scheduleName, checked against it
 *                  for a backupName: NoBaseBeforeTarget), its position
 *                  (replay.basePosition), the replay source pod
 *                  (replay.sourcePod: spec.replay.source.podName, else the
 *                  one member of the base Backup's target that probes as
 *                  primary with the Backup's own connection — the account
 *                  made to probe these servers);
 *   RestoringBase  the NewClaims claims from the base's snapshots, as
 *                  restore.c makes them; wait until Bound;
 *   Starting       the scratch Pod (app/scratch, purpose "pitr", owned by
 *                  the Restore) on those claims; wait Ready, bounded by
 *                  replay.timeoutSeconds (ScratchNotReady);
 *   Resolving      on the source, with the replication account (it needs
 *                  REPLICATION SLAVE and BINLOG MONITOR): the binlog's
 *                  extent and coverage of the base (BinlogsPurged); a time
 *                  resolved strictly (TargetNotReached), a GTID checked
 *                  against the source's position; the target recorded in
 *                  replay.targetPosition before replaying;
 *   Replaying      START SLAVE UNTIL on the scratch, polled each poll
 *                  interval: progress in replay.reachedPosition and
 *                  relayLogBytes; failures -> BinlogsPurged,
 *                  ReplaySourceLost (replay.timeoutSeconds in the step
 *                  without the source), ReplayMismatch, ReplayFailed,
 *                  Timeout;
 *   Finishing      replication stopped and forgotten, the GTID state
 *                  checked exactly the target (else ReplayMismatch);
 *   Done           the scratch Pod deleted (uid precondition) and waited
 *                  for: its server shuts down cleanly, flushing InnoDB;
 *                  then Completed (NewClaims). In place (the in-place
 *                  checks ran at accept, before anything was made; the
 *                  claims are scratch ones, <restore>-scratch-<volume>):
 *   Snapshotting   a VolumeSnapshot of each (<restore>-replayed-<volume>,
 *                  owned), readyToUse within replay.timeoutSeconds
 *                  (ReplaySnapshotFailed);
 *   SafetyBackup   a Backup of the target's current primary
 *                  (<restore>-safety, the base's spec with role Primary,
 *                  not owned: it outlives the Restore), Complete within
 *                  replay.timeoutSeconds (SafetyBackupFailed: the target
 *                  untouched);
 *   InPlace        restore_inplace.c's steps from the replayed snapshots,
 *                  the position being the target; at ReleasingOldVolumes
 *                  and on any failure the scratch claims and snapshots go.
 *                  (These three: restore_replay_inplace.c.)
 * Invariants: nothing of the live database is written (the source is only
 * read: a probe, the binlog, a replica's dump); the scratch server gets
 * no statement that writes before the replay ends; a failure once claims
 * exist deletes the scratch Pod and this Restore's claims, Bound or not —
 * they hold a partly replayed copy, never a result.
 *
 * Thread-safety: one run per worker (restore_run.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api/names.h"
#include "app/api/target.h"
#include "app/db/binlog.h"
#include "app/db/credentials.h"
#include "app/db/db.h"
#include "app/db/replay.h"
#include "app/restore/restore_plan.h"
#include "app/restore/restore_replay_plan.h"
#include "app/restore/restore_run.h"
#include "app/scratch/scratch.h"
#include "ctrl/object.h"
#include "kube/rest.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

#define APP_SCRATCH_PITR "pitr"
/* The longest one resolve of a time target reads the binlog in a
 * reconcile (a longer one is retried; the step's timeout still bounds). */
#define REPLAY_RESOLVE_MAX_S 600

static const kube_resource pods_res = { "", "v1", "pods", true };

/* ---- small helpers -------------------------------------------------------- */

const char *app_restore_replay_keep(app_restore_run *r, const char *text)
{
	return json_string_value(ctrl_run_hold(&r->run, json_string(text)));
}

static void replay_for(app_scratch_for *f, app_restore_run *r)
{
	f->owner = r->run.obj;
	f->purpose = APP_SCRATCH_PITR;
}

int app_restore_replay_enter(app_restore_run *r, app_replay_step step, const char *fmt,
			     ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctrl_run_vmessage(&r->run, fmt, ap);
	va_end(ap);
	r->st.replay.step = step;
	r->st.replay.step_start_ns = r->run.now;
	return app_restore_write(r);
}

bool app_restore_replay_timed_out(const app_restore_run *r)
{
	return r->run.now - r->st.replay.step_start_ns >
	       (int64_t)r->spec.replay.timeout_seconds * SS_NS_PER_SEC;
}

/* Whether this look writes the replay's progress: once per the interval
 * app_restore_replay_wait() looks again after. */
static bool replay_progress_due(const app_restore_run *r)
{
	return app_restore_replay_progress_due(
		r->run.now, r->st.replay.progress_ns,
		app_restore_poll_after(r->run.now - r->st.replay.step_start_ns,
				       r->rc->o.poll_ns));
}

/* Soon in the step's first seconds: a small server starts, replays and
 * shuts down in about a second. */
int app_restore_replay_wait(app_restore_run *r)
{
	int rc = app_restore_write(r);

	if (rc < 0)
		return rc;
	return ctrl_run_stop(&r->run, ctrl_result_requeue_after(app_restore_poll_after(
					      r->run.now - r->st.replay.step_start_ns,
					      r->rc->o.poll_ns)));
}

static int replay_parse(app_gtid_pos *out, const char *text, const char *what)
{
	if (text == NULL || app_gtid_pos_parse(out, text) < 0)
		return ss_error_set(SS_EINVALID, "status.replay.%s does not parse", what);
	return 0;
}

/* Pod `name`'s IP and MariaDB port (the container port named "mysql",
 * else `port` when > 0, else 3306). SS_ENOTFOUND when it has no IP. */
static int replay_pod_address(app_restore_run *r, const char *name, char *ip, size_t cap,
			      int *port, int conn_port)
{
	json_t *pod = NULL;
	const json_t *c, *p;
	const char *addr;
	size_t i, j;
	int rc;

	rc = kube_get(&pod, r->rc->o.client, &pods_res, r->run.ns, name);
	if (rc < 0)
		return rc;
	addr = json_string_value(
		json_object_get(json_object_get(pod, "status"), "podIP"));
	snprintf(ip, cap, "%s", addr ? addr : "");
	*port = conn_port > 0 ? conn_port : APP_DEFAULT_MYSQL_PORT;
	json_array_foreach(json_object_get(json_object_get(pod, "spec"), "containers"), i,
			   c)
	{
		json_array_foreach(json_object_get(c, "ports"), j, p)
		{
			if (conn_port <= 0 &&
			    ss_streq(json_string_value(json_object_get(p, "name")),
				     "mysql") &&
			    json_is_integer(json_object_get(p, "containerPort")))
				*port = (int)json_integer_value(
					json_object_get(p, "containerPort"));
		}
	}
	json_decref(pod);
	return ip[0] ? 0 : ss_error_set(SS_ENOTFOUND, "Pod %s has no IP", name);
}

/* The replication account's credentials (spec.replay), with the TLS and
 * timeout settings of spec.replay.connection. */
static int replay_repl_credentials(app_credentials *c, app_connection *conn,
				   app_restore_run *r, const char **reason)
{
	*conn = r->spec.replay.connection;
	conn->credentials = r->spec.replay.replication_credentials;
	return app_credentials_read(c, r->rc->o.client, r->run.ns, conn, reason);
}

/* Connects to the replay source with the replication account. */
static int replay_connect_source(app_db **db, app_restore_run *r, const char **reason)
{
	app_credentials cred = { 0 };
	app_connection conn;
	app_db_target t;
	char ip[64];
	int port, rc;

	*reason = NULL;
	rc = replay_pod_address(r, r->st.replay.source_pod, ip, sizeof(ip), &port,
				r->spec.replay.connection.port);
	if (rc == 0)
		rc = replay_repl_credentials(&cred, &conn, r, reason);
	if (rc < 0)
		return rc;
	app_credentials_db_target(&t, &conn, &cred, ip, port);
	rc = app_db_connect(db, &t);
	app_credentials_free(&cred);
	return rc;
}

/* Connects to the scratch server with spec.replay.connection. It answers
 * to the live servers' certificate under another address: VerifyIdentity
 * is checked as VerifyCA (as restore verification does). */
static int replay_connect_scratch(app_db **db, app_restore_run *r, const char **reason)
{
	app_connection conn = r->spec.replay.connection;
	app_credentials cred = { 0 };
	app_db_target t;
	char ip[64];
	int port, rc;

	*reason = NULL;
	if (conn.tls_mode == APP_TLS_VERIFY_IDENTITY)
		conn.tls_mode = APP_TLS_VERIFY_CA;
	rc = replay_pod_address(r, r->st.replay.scratch_pod, ip, sizeof(ip), &port,
				conn.port);
	if (rc == 0)
		rc = app_credentials_read(&cred, r->rc->o.client, r->run.ns, &conn,
					  reason);
	if (rc < 0)
		return rc;
	app_credentials_db_target(&t, &conn, &cred, ip, port);
	rc = app_db_connect(db, &t);
	app_credentials_free(&cred);
	return rc;
}

/* A connection error: a Secret problem fails the Restore with its reason;
 * anything else is retried (< 0). */
static int replay_connect_failed(app_restore_run *r, const char *reason, const char *what)
{
	char msg[CTRL_RUN_MESSAGE_MAX];

	if (reason == NULL)
		return -1;
	ss_strlcpy(msg, ss_error_last()->message, sizeof(msg));
	return app_restore_fail(r, reason, "%s: %s", what, msg);
}

/* ---- accept: the base and the source ---------------------------------------- */

/* Probes each Ready member of the base Backup's target with the Backup's
 * connection; the one primary is the source, into *out (held). */
static int replay_find_primary(const char **out, app_restore_run *r, char *why,
			       size_t cap)
{
	app_target_candidates *m = calloc(1, sizeof(*m));
	app_db_kind kinds[APP_TARGET_MAX_CANDIDATES];
	app_credentials cred = { 0 };
	app_backup_spec bs;
	json_t *pods = NULL;
	const char *reason = NULL;
	size_t i, idx = 0;
	int rc = -1;

	if (m == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (r->rc->o.pods == NULL || app_backup_spec_decode(&bs, r->backup, NULL) < 0) {
		snprintf(why, cap, "the base Backup's target cannot be read");
		rc = ss_error_set(SS_ENOTFOUND, "%s", why);
		goto cleanup;
	}
	if (ctrl_store_by_index(&pods, r->rc->o.pods, APP_INDEX_NAMESPACE, r->run.ns) <
		    0 ||
	    app_restore_hold(r, pods) < 0)
		goto cleanup;
	if (app_target_resolve(m, &bs.target, pods, &reason) < 0) {
		snprintf(why, cap, "%s", ss_error_last()->message);
		rc = SS_ENOTFOUND;
		goto cleanup;
	}
	rc = app_credentials_read(&cred, r->rc->o.client, r->run.ns,
				  &bs.target.connection, &reason);
	if (rc < 0)
		goto cleanup;
	for (i = 0; i < m->n; i++) {
		app_db_status *st = calloc(1, sizeof(*st));
		app_db_verdict v;
		app_db_target t;
		app_db *db = NULL;

		kinds[i] = APP_DB_UNKNOWN;
		app_credentials_db_target(&t, &bs.target.connection, &cred, m->c[i].ip,
					  m->c[i].port);
		if (st != NULL && m->c[i].ready && app_db_connect(&db, &t) == 0 &&
		    app_db_probe(st, db) == 0)
			kinds[i] = app_db_classify(&v, st,
						   bs.target.max_replication_lag_seconds);
		app_db_close(db);
		free(st);
	}
	rc = app_restore_replay_pick_primary(&idx, kinds, m->n, why, cap);
	if (rc == 0 && (*out = app_restore_replay_keep(r, m->c[idx].pod)) == NULL)
		rc = ss_error_set(SS_ENOMEM, "out of memory");
cleanup:
	app_credentials_free(&cred);
	free(m);
	return rc;
}

/* The replay source: pinned once. 0, CTRL_RUN_STOP or < 0. */
static int replay_pin_source(app_restore_run *r)
{
	char why[512];
	int rc;

	if (r->spec.replay.source_pod != NULL) {
		r->st.replay.source_pod = r->spec.replay.source_pod;
		return 0;
	}
	rc = replay_find_primary(&r->st.replay.source_pod, r, why, sizeof(why));
	if (rc == SS_ENOTFOUND)
		return app_restore_fail(r, "ReplaySourceNotFound", "%s", why);
	return rc;
}

/* Accept: in place, every check of the in-place machinery first (nothing
 * is made before they pass); the base checked against the target and
 * pinned with its position and the source; then RestoringBase. 0,
 * CTRL_RUN_STOP or < 0. */
static int replay_accept(app_restore_run *r, app_restore_volumes *vols)
{
	const char *reason = NULL;
	app_gtid_pos base;
	char why[512];
	int rc;

	if (r->spec.mode == APP_MODE_IN_PLACE) {
		rc = vols ? app_restore_in_place_precheck(r, vols) : -1;
		if (rc != 0)
			return rc;
	}
	if (r->gtid == NULL || app_gtid_pos_parse(&base, r->gtid) < 0)
		return app_restore_fail(
			r, "SourceNotReady",
			"Backup %s records no usable GTID position, which "
			"a replay starts from",
			r->st.source_backup);
	if (app_restore_replay_check_base(&r->spec.replay, &base,
					  app_restore_backup_data_time(r->backup),
					  &reason, why, sizeof(why)) < 0)
		return app_restore_fail(r, reason, "Backup %s: %s", r->st.source_backup,
					why);
	rc = replay_pin_source(r);
	if (rc != 0)
		return rc;
	r->st.replay.base_position = r->gtid;
	r->st.replay.target_time_ns =
		r->spec.replay.has_time ? r->spec.replay.time_ns : 0;
	return app_restore_replay_enter(
		r, APP_REPLAY_STEP_RESTORING_BASE,
		"restoring the base Backup %s (at %s) to replay Pod %s's binlog "
		"onto",
		r->st.source_backup, r->gtid, r->st.replay.source_pod);
}

/* ---- Starting ------------------------------------------------------------------ */

/* The StatefulSet the base Backup was taken of: its target's name, else
 * the controller of the Pod it was cut on; NULL when neither. */
static const char *replay_statefulset(app_restore_run *r, const json_t *backup)
{
	app_backup_status bst;
	app_backup_spec bs;
	json_t *pod = NULL;
	const json_t *ref;
	const char *name = NULL;
	size_t i;

	if (app_backup_spec_decode(&bs, backup, NULL) == 0 && bs.target.statefulset_name)
		return bs.target.statefulset_name;
	app_backup_status_init(&bst);
	app_backup_status_decode(&bst, backup);
	if (bst.source_pod == NULL ||
	    kube_get(&pod, r->rc->o.client, &pods_res, r->run.ns, bst.source_pod) < 0)
		return NULL;
	json_array_foreach(
		json_object_get(json_object_get(pod, "metadata"), "ownerReferences"), i,
		ref)
	{
		if (ss_streq(json_string_value(json_object_get(ref, "kind")),
			     "StatefulSet"))
			name = app_restore_replay_keep(
				r, json_string_value(json_object_get(ref, "name")));
	}
	json_decref(pod);
	return name;
}

/* Creates the scratch Pod on the Restore's claims. 0, CTRL_RUN_STOP, < 0. */
static int replay_make_pod(app_restore_run *r, const app_scratch_for *f)
{
	app_scratch_volume vols[APP_MAX_CLAIMS];
	json_t *backup = NULL, *set = NULL, *plan = NULL;
	const char *sts;
	size_t i;
	int rc;

	rc = kube_get(&backup, r->rc->o.client, &app_backups, r->run.ns,
		      r->st.source_backup);
	if (rc == 0)
		rc = app_restore_hold(r, backup);
	if (rc < 0)
		return rc == SS_ENOTFOUND ? app_restore_fail(r, "SourceNotFound",
							     "Backup %s is gone",
							     r->st.source_backup)
					  : rc;
	sts = replay_statefulset(r, backup);
	if (sts == NULL ||
	    (rc = kube_get(&set, r->rc->o.client, &app_restore_statefulsets, r->run.ns,
			   sts)) == SS_ENOTFOUND)
		return app_restore_fail(
			r, "StatefulSetNotFound",
			"no StatefulSet %s to take the scratch server's Pod "
			"template from",
			sts ? sts : "(the Backup names none)");
	if (rc < 0)
		return rc;
	memset(vols, 0, sizeof(vols));
	for (i = 0; i < r->st.n_claims; i++) {
		vols[i].volume = r->st.claims[i].volume;
		vols[i].snapshot = r->st.claims[i].volume_snapshot_name;
		vols[i].restore_size_bytes = -1;
		vols[i].claim_name = r->st.claims[i].name;
	}
	rc = app_scratch_pod_plan(&plan, f, set, vols, r->st.n_claims, NULL);
	json_decref(set);
	if (rc < 0)
		return app_restore_fail(r, "InvalidSpec", "the scratch Pod: %s",
					ss_error_last()->message);
	rc = kube_create(NULL, r->rc->o.client, &pods_res, r->run.ns, plan);
	json_decref(plan);
	if (rc == 0)
		ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "ScratchStarted",
			       "started scratch Pod %s on the restored claims",
			       r->st.replay.scratch_pod);
	return rc == SS_EEXISTS ? 0 : rc;
}

/* Starting: the scratch Pod until Ready. 0 (Ready), CTRL_RUN_STOP or < 0. */
static int replay_starting(app_restore_run *r)
{
	char name[APP_NAME_BUF], why[800] = "";
	app_scratch_for f;
	app_scratch_state st;
	json_t *pod = NULL;
	int rc;

	replay_for(&f, r);
	if (app_scratch_pod_name(name, sizeof(name), &f) < 0)
		return -1;
	r->st.replay.scratch_pod = app_restore_replay_keep(r, name);
	rc = kube_get(&pod, r->rc->o.client, &pods_res, r->run.ns, name);
	if (rc == SS_ENOTFOUND) {
		rc = replay_make_pod(r, &f);
		return rc != 0 ? rc : app_restore_replay_wait(r);
	}
	if (rc < 0)
		return rc;
	if (!app_scratch_is_ours(pod, &f)) {
		json_decref(pod);
		return app_restore_fail(r, "ScratchNameTaken",
					"a Pod %s exists that this Restore did not make",
					name);
	}
	st = app_scratch_pod_state(pod, why, sizeof(why));
	json_decref(pod);
	if (st == APP_SCRATCH_READY)
		return 0;
	if (st == APP_SCRATCH_GONE || app_restore_replay_timed_out(r))
		return app_restore_fail(
			r, "ScratchNotReady",
			"the scratch server %s was not Ready within %d s: %s", name,
			r->spec.replay.timeout_seconds,
			st == APP_SCRATCH_GONE ? "its Pod went away" : why);
	ctrl_run_message(&r->run, "waiting for the scratch server %s: %s", name,
			 why[0] ? why : "not Ready yet");
	return app_restore_replay_wait(r);
}

/* ---- Resolving ------------------------------------------------------------------ */

/* The target for the source's binlog `e`, into *out. 0 or CTRL_RUN_STOP
 * (failed), or < 0 (retried). */
static int replay_target(app_gtid_pos *out, app_restore_run *r, app_db *db,
			 const app_binlog_extent *e, const app_gtid_pos *base)
{
	const char *reason = NULL;
	app_binlog_resolved res;
	int64_t limit = r->spec.replay.timeout_seconds < REPLAY_RESOLVE_MAX_S
				? r->spec.replay.timeout_seconds
				: REPLAY_RESOLVE_MAX_S;
	char why[512];
	int rc;

	if (!r->spec.replay.has_time) {
		if (app_restore_replay_gtid_target(out, &r->spec.replay, base,
						   &e->current, &reason, why,
						   sizeof(why)) < 0)
			return app_restore_fail(r, reason, "%s", why);
		return 0;
	}
	rc = app_binlog_resolve_time(&res, db, base, r->spec.replay.time_ns, true,
				     ss_clock_mono(r->rc->o.clock) +
					     limit * SS_NS_PER_SEC);
	if (rc == SS_EINVALID || rc == SS_ENOTFOUND) {
		reason = rc == SS_EINVALID ? "TargetNotReached" : "BinlogsPurged";
		ss_strlcpy(why,
			   app_restore_replay_message(ss_error_last()->message, reason),
			   sizeof(why));
		return app_restore_fail(r, reason, "%s", why);
	}
	if (rc < 0)
		return rc;
	if (app_restore_replay_target_complete(&res.pos, base, &e->current, &reason, why,
					       sizeof(why)) < 0)
		return app_restore_fail(r, reason, "%s", why);
	*out = res.pos;
	return 0;
}

/* Resolving: coverage, the target, recorded; then Replaying. */
static int replay_resolving(app_restore_run *r)
{
	app_binlog_extent *e = calloc(1, sizeof(*e));
	app_gtid_pos base, target;
	char text[APP_GTID_TEXT_MAX], why[512];
	const char *reason = NULL;
	app_db *db = NULL;
	int rc;

	if (e == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	rc = replay_parse(&base, r->st.replay.base_position, "basePosition");
	if (rc == 0 && (rc = replay_connect_source(&db, r, &reason)) < 0)
		rc = replay_connect_failed(r, reason, "the replay source");
	if (rc == 0)
		rc = app_binlog_extent_read(e, db);
	if (rc == SS_EUNSUPPORTED)
		rc = app_restore_fail(r, "ReplayFailed", "the replay source %s: %s",
				      r->st.replay.source_pod, ss_error_last()->message);
	else if (rc == 0 && !app_binlog_covers(e, &base, why, sizeof(why)))
		rc = app_restore_fail(r, "BinlogsPurged", "the replay source %s: %s",
				      r->st.replay.source_pod, why);
	if (rc == 0)
		rc = replay_target(&target, r, db, e, &base);
	app_db_close(db);
	free(e);
	if (rc != 0)
		return rc;
	if (app_gtid_pos_format(text, sizeof(text), &target) < 0 ||
	    (r->st.replay.target_position = app_restore_replay_keep(r, text)) == NULL)
		return -1;
	return app_restore_replay_enter(
		r, APP_REPLAY_STEP_REPLAYING, "replaying Pod %s's binlog from %s to %s",
		r->st.replay.source_pod, r->st.replay.base_position, text);
}

/* ---- Replaying ------------------------------------------------------------------ */

/* (Re)starts the replay on `db` toward the recorded target. */
static int replay_start(app_restore_run *r, app_db *db, const app_gtid_pos *base,
			const app_gtid_pos *target)
{
	app_credentials cred = { 0 };
	app_connection conn;
	app_replay_source src;
	const char *reason = NULL;
	char ip[64];
	int port, rc;

	rc = replay_pod_address(r, r->st.replay.source_pod, ip, sizeof(ip), &port,
				r->spec.replay.connection.port);
	if (rc == 0 && (rc = replay_repl_credentials(&cred, &conn, r, &reason)) < 0)
		return replay_connect_failed(r, reason, "the replication credentials");
	if (rc < 0)
		return rc;
	memset(&src, 0, sizeof(src));
	src.host = ip;
	src.port = port;
	src.user = cred.user;
	src.password = cred.password;
	src.tls_mode = conn.tls_mode;
	src.ca_pem = cred.ca;
	rc = app_replay_start(db, &src, base, target);
	app_credentials_free(&cred);
	if (rc == SS_EINVALID || rc == SS_ECONFLICT)
		return app_restore_fail(r, "ReplayFailed", "the replay was refused: %s",
					ss_error_last()->message);
	if (rc == 0)
		ss_log(SS_LOG_INFO, "replay started", SS_LS("restore", r->run.key),
		       SS_LS("source", r->st.replay.source_pod),
		       SS_LS("target", r->st.replay.target_position));
	return rc;
}

/* Progress into status and the message. */
static void replay_progress(app_restore_run *r, const app_replay_progress *p)
{
	char text[APP_GTID_TEXT_MAX] = "";

	if (app_gtid_pos_format(text, sizeof(text), &p->reached) == 0)
		r->st.replay.reached = app_restore_replay_keep(r, text);
	r->st.replay.relay_bytes = (int64_t)p->relay_bytes;
	r->st.replay.progress_ns = r->run.now;
	ctrl_run_message(&r->run,
			 "replaying to %s: at %s, %" PRIu64 " group(s) applied%s%s",
			 r->st.replay.target_position, text, p->groups,
			 p->cause == APP_REPLAY_CAUSE_SOURCE_LOST
				 ? "; the source is not reachable: "
			 : p->io_connected ? ""
					   : "; everything up to the target fetched",
			 p->cause == APP_REPLAY_CAUSE_SOURCE_LOST ? p->why : "");
}

/* An error of step Replaying that is retried (`rc` < 0, with the last
 * error set): once replay.timeoutSeconds have passed in the step it fails
 * the Restore instead, so a scratch server or a source that stays out of
 * reach ends it (ScratchNotReady, ReplaySourceLost) rather than retrying
 * for ever. */
static int replay_retry_bounded(app_restore_run *r, int rc, bool scratch)
{
	char msg[CTRL_RUN_MESSAGE_MAX];

	if (rc >= 0 || !app_restore_replay_timed_out(r))
		return rc;
	ss_strlcpy(msg, ss_error_last()->message, sizeof(msg));
	if (scratch)
		return app_restore_fail(r, "ScratchNotReady",
					"the scratch server %s could not be reached for "
					"%d s mid-replay: %s",
					r->st.replay.scratch_pod,
					r->spec.replay.timeout_seconds, msg);
	return app_restore_fail(r, "ReplaySourceLost",
				"the replay could not be started again from %s for "
				"%d s: %s",
				r->st.replay.source_pod, r->spec.replay.timeout_seconds,
				msg);
}

/* Replaying: one look, then wait, (re)start, finish or fail. */
static int replay_replaying(app_restore_run *r)
{
	app_replay_progress *p = calloc(1, sizeof(*p));
	app_gtid_pos base, target;
	const char *reason = NULL;
	app_replay_action act;
	app_db *db = NULL;
	int rc;

	if (p == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	rc = replay_parse(&base, r->st.replay.base_position, "basePosition");
	if (rc == 0)
		rc = replay_parse(&target, r->st.replay.target_position,
				  "targetPosition");
	if (rc == 0 && (rc = replay_connect_scratch(&db, r, &reason)) < 0)
		rc = replay_retry_bounded(
			r, replay_connect_failed(r, reason, "the scratch server"), true);
	if (rc == 0 && (rc = app_replay_poll(p, db, &target)) != SS_ENOTFOUND)
		rc = replay_retry_bounded(r, rc, true); /* ENOTFOUND: not set up */
	if (rc == 0 || rc == SS_ENOTFOUND) {
		act = app_restore_replay_decide(rc == 0 ? p : NULL, &target,
						app_restore_replay_timed_out(r), &reason);
		if (rc == 0 && (act != APP_REPLAY_DO_WAIT || replay_progress_due(r)))
			replay_progress(r, p);
		rc = 0;
		if (act == APP_REPLAY_DO_START)
			rc = replay_retry_bounded(r, replay_start(r, db, &base, &target),
						  false);
		else if (act == APP_REPLAY_DO_FAIL)
			rc = app_restore_fail(r, reason, "the replay to %s stopped: %s",
					      r->st.replay.target_position,
					      p->why[0] ? p->why
							: "past the target, or "
							  "replay.timeoutSeconds passed");
		else if (act == APP_REPLAY_DO_FINISH)
			rc = app_restore_replay_enter(
				r, APP_REPLAY_STEP_FINISHING,
				"the replay reached %s; checking it",
				r->st.replay.target_position);
		if (rc == 0 && act != APP_REPLAY_DO_FINISH)
			rc = app_restore_replay_wait(r);
	}
	app_db_close(db);
	free(p);
	return rc;
}

/* ---- Finishing and Done ------------------------------------------------------ */

static int replay_finishing(app_restore_run *r)
{
	char msg[APP_DB_MESSAGE_MAX] = "";
	app_gtid_pos target;
	const char *reason = NULL;
	app_db *db = NULL;
	int rc;

	rc = replay_parse(&target, r->st.replay.target_position, "targetPosition");
	if (rc == 0 && (rc = replay_connect_scratch(&db, r, &reason)) < 0)
		rc = replay_connect_failed(r, reason, "the scratch server");
	if (rc == 0)
		rc = app_replay_finish(db, &target, msg, sizeof(msg));
	app_db_close(db);
	if (rc == SS_ECONFLICT)
		return app_restore_fail(r, "ReplayMismatch", "%s", msg);
	if (rc != 0)
		return rc;
	r->st.replay.reached = r->st.replay.target_position;
	return app_restore_replay_enter(
		r, APP_REPLAY_STEP_DONE,
		"replayed exactly to %s; shutting the scratch server down",
		r->st.replay.target_position);
}

/* Deletes the scratch Pod if it is ours (uid precondition); *gone when it
 * no longer exists (or is not ours: never touched). */
static int replay_delete_pod(app_restore_run *r, bool *gone)
{
	kube_delete_opts d = KUBE_DELETE_OPTS_INIT;
	app_scratch_for f;
	json_t *pod = NULL;
	int rc;

	*gone = true;
	replay_for(&f, r);
	if (r->st.replay.scratch_pod == NULL)
		return 0;
	rc = kube_get(&pod, r->rc->o.client, &pods_res, r->run.ns,
		      r->st.replay.scratch_pod);
	if (rc == SS_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	if (app_scratch_is_ours(pod, &f)) {
		*gone = false;
		if (ctrl_meta(pod, "deletionTimestamp") == NULL) {
			d.precondition_uid = ctrl_meta(pod, "uid");
			rc = kube_delete(NULL, r->rc->o.client, &pods_res, r->run.ns,
					 r->st.replay.scratch_pod, &d);
			if (rc == SS_ENOTFOUND || rc == SS_ECONFLICT)
				rc = 0;
		}
	}
	json_decref(pod);
	return rc;
}

static int replay_done(app_restore_run *r)
{
	bool gone = false;
	int rc = replay_delete_pod(r, &gone);

	if (rc < 0)
		return rc;
	if (!gone) {
		ctrl_run_message(&r->run,
				 "replayed exactly to %s; waiting for the scratch "
				 "server %s to shut down",
				 r->st.replay.target_position, r->st.replay.scratch_pod);
		return app_restore_replay_wait(r);
	}
	if (r->spec.mode == APP_MODE_IN_PLACE)
		return app_restore_replay_inplace_enter(r);
	ctrl_run_message(&r->run,
			 "%zu claim(s) restored from %s and replayed from Pod %s to %s",
			 r->st.n_claims, r->st.source_backup, r->st.replay.source_pod,
			 r->st.replay.target_position);
	return app_restore_complete(r);
}

/* ---- the flow ---------------------------------------------------------------- */

int app_restore_replay_cleanup(app_restore_run *r)
{
	size_t i, n = 0, ns = 0;
	bool gone;
	int rc = replay_delete_pod(r, &gone);

	if (rc == 0)
		rc = app_restore_replay_inplace_delete_snapshots(r, &ns);
	for (i = 0; rc == 0 && i < r->st.n_claims; i++) {
		json_t *pvc = NULL;

		rc = kube_get(&pvc, r->rc->o.client, &app_restore_claims_res, r->run.ns,
			      r->st.claims[i].name);
		if (rc == SS_ENOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc == 0 && app_restore_claim_is_ours(pvc, r->run.obj)) {
			rc = app_restore_delete_claim(r, pvc);
			n += rc == 0;
		}
		json_decref(pvc);
	}
	if (rc == 0 && (n > 0 || r->st.replay.scratch_pod != NULL)) {
		size_t len = strlen(r->run.message);

		snprintf(r->run.message + len, sizeof(r->run.message) - len,
			 "; deleted the scratch Pod and %zu claim(s) holding the %s", n,
			 r->st.replay.step >= APP_REPLAY_STEP_DONE ? "replayed copy"
			 : r->st.replay.step >= APP_REPLAY_STEP_REPLAYING
				 ? "partly replayed copy"
				 : "base copy, not replayed");
	}
	if (rc == 0 && ns > 0) {
		size_t len = strlen(r->run.message);

		snprintf(r->run.message + len, sizeof(r->run.message) - len,
			 " and %zu replayed VolumeSnapshot(s)", ns);
	}
	return rc;
}

int app_restore_replay(app_restore_run *r, app_restore_volumes *vols)
{
	int rc = 0;

	if (r->st.replay.step == APP_REPLAY_STEP_NONE)
		rc = replay_accept(r, vols);
	if (rc == 0 && r->st.replay.step == APP_REPLAY_STEP_RESTORING_BASE) {
		rc = vols ? app_restore_replay_inplace_claims(r, vols) : -1;
		if (rc == 0)
			rc = app_restore_new_claims_bound(r, vols);
		if (rc == 0)
			rc = app_restore_replay_enter(
				r, APP_REPLAY_STEP_STARTING,
				"%zu claim(s) Bound; starting a scratch server on "
				"them",
				r->st.n_claims);
	}
	if (rc == 0 && r->st.replay.step == APP_REPLAY_STEP_STARTING) {
		rc = replay_starting(r);
		if (rc == 0)
			rc = app_restore_replay_enter(
				r, APP_REPLAY_STEP_RESOLVING,
				"resolving the target on Pod %s's binlog",
				r->st.replay.source_pod);
	}
	if (rc == 0 && r->st.replay.step == APP_REPLAY_STEP_RESOLVING)
		rc = replay_resolving(r);
	if (rc == 0 && r->st.replay.step == APP_REPLAY_STEP_REPLAYING)
		rc = replay_replaying(r);
	if (rc == 0 && r->st.replay.step == APP_REPLAY_STEP_FINISHING)
		rc = replay_finishing(r);
	if (rc == 0 && r->st.replay.step == APP_REPLAY_STEP_DONE)
		rc = replay_done(r);
	if (rc == 0 && r->st.replay.step == APP_REPLAY_STEP_SNAPSHOTTING)
		rc = app_restore_replay_inplace_snapshotting(r);
	if (rc == 0 && r->st.replay.step == APP_REPLAY_STEP_SAFETY_BACKUP)
		rc = app_restore_replay_inplace_safety(r);
	if (rc == 0 && r->st.replay.step == APP_REPLAY_STEP_IN_PLACE)
		rc = app_restore_replay_inplace_run(r);
	return rc;
}
