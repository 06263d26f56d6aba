/*
 * backup.c — the Backup reconciler; see backup.h for the steps. A reconcile
 * is a ctrl/run.h run (backup_run), its steps in that header's result
 * convention: < 0 an error, 0 go on, CTRL_RUN_STOP with the run's result.
 *
 * Invariants:
 *   - a lock session lives inside one reconcile call: this process never
 *     returns from a reconcile while it holds a lock, so a Backup whose
 *     status says Locked when a reconcile starts was interrupted;
 *   - status Locked (with the session's CONNECTION_ID()) is written before
 *     the first VolumeSnapshot is created, so after a crash the status
 *     names everything there is to clean up;
 *   - a snapshot counts as consistent only when this session saw its cut
 *     (creationTime or readyToUse) while it still held the lock;
 *   - at most one lock session per server (namespace/pod) at once, across
 *     all Backups (`turns`, turns.h; only the leader runs
 *     reconciles);
 *   - a Backup waiting for a server is not looked at until a server it
 *     waits for ends its session (it is queued then, FIFO) or
 *     queued_retry_ns passed: no probe, no API request meanwhile.
 *
 * Thread-safety: `mu` guards the snapshot generation and the last-success
 * table; `turns` has its own lock; the reconcile holds no lock while it
 * does I/O.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api/api.h"
#include "app/api/index.h"
#include "app/api/names.h"
#include "app/api/owner.h"
#include "app/api/target.h"
#include "app/api/volumesnapshot.h"
#include "app/backup/backup.h"
#include "app/backup/backup_plan.h"
#include "app/backup/turns.h"
#include "app/backup/cut_proof.h"
#include "app/db/credentials.h"
#include "app/db/db.h"
#include "ctrl/conditions.h"
#include "ctrl/object.h"
#include "ctrl/run.h"
#include "ctrl/writes.h"
#include "kube/discovery.h"
#include "kube/rest.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

#define TARGETS_MAX 256
#define MSG_MAX 2048
#define DEFAULT_CLASS_ANNOTATION "snapshot.storage.kubernetes.io/is-default-class"

typedef struct {
	char ns[64];
	char target[254];
	int64_t last_success_real_ns;
} backup_target;

struct app_backup_ctrl {
	app_backup_ctrl_opts o;
	pthread_mutex_t mu;
	pthread_cond_t snap_cond; /* CLOCK_MONOTONIC */
	uint64_t snap_gen;	  /* bumped on every VolumeSnapshot event */
	/* Whose turn each server is, who waits, last uses, recent probes. A
	 * busy server's verdict is the one its holder chose it with: while
	 * the holder has its SQL threads stopped a probe would call it
	 * unhealthy, and the Backups waiting for it would wrongly go
	 * elsewhere or fail. */
	app_turns *turns;
	backup_target targets[TARGETS_MAX];
	size_t n_targets;
	ctrl_counter *m_total;
	ctrl_histogram *m_duration;
	ctrl_histogram *m_hold;
	ctrl_gauge *m_last_success;
	ctrl_gauge *m_since_success;
	ctrl_run_opts run_opts; /* every reconcile's run (ctrl/run.h) */
};

static int backup_encode_status(json_t *obj, void *payload);

/* ---- setup -------------------------------------------------------------- */

static void backup_collect(ctrl_metrics *m, void *payload)
{
	app_backup_ctrl *bc = payload;
	int64_t now = ss_clock_real(bc->o.clock);
	size_t i;

	(void)m;
	pthread_mutex_lock(&bc->mu);
	for (i = 0; i < bc->n_targets; i++) {
		const char *lv[] = { bc->targets[i].ns, bc->targets[i].target, NULL };

		ctrl_gauge_set(bc->m_since_success, lv,
			       (double)(now - bc->targets[i].last_success_real_ns) / 1e9);
	}
	pthread_mutex_unlock(&bc->mu);
}

/* The controller's metric families on registry `m`, and its collector.
 * Whether every one was made (else ss_error says why, or a name clashed). */
static bool backup_metrics_new(app_backup_ctrl *bc, ctrl_metrics *m)
{
	static const char *const total_labels[] = { "namespace", "result", "reason",
						    NULL };
	static const char *const ns_labels[] = { "namespace", NULL };
	static const char *const target_labels[] = { "namespace", "target", NULL };
	static const double duration_buckets[] = { 1,	2,   5,	  10,	30,  60,
						   120, 300, 600, 1800, 3600 };
	static const double hold_buckets[] = { .005, .01, .025, .05, .1, .25,
					       .5,   1,	  2.5,	5,   10, 30 };

	bc->m_total = ctrl_metrics_counter(m, "snapstage_backups_total",
					   "Backups finished, by result and reason.",
					   total_labels);
	bc->m_duration = ctrl_metrics_histogram(
		m, "snapstage_backup_duration_seconds",
		"From the start of a Backup to Complete or Failed.", ns_labels,
		duration_buckets, sizeof(duration_buckets) / sizeof(double));
	bc->m_hold = ctrl_metrics_histogram(m, "snapstage_backup_lock_hold_seconds",
					    "How long a BACKUP STAGE lock was held.",
					    ns_labels, hold_buckets,
					    sizeof(hold_buckets) / sizeof(double));
	bc->m_last_success = ctrl_metrics_gauge(
		m, "snapstage_backup_last_success_timestamp_seconds",
		"When the last Backup of a target completed (Unix time).", target_labels);
	bc->m_since_success = ctrl_metrics_gauge(
		m, "snapstage_backup_seconds_since_last_success",
		"Seconds since the last Backup of a target completed.", target_labels);
	return bc->m_total && bc->m_duration && bc->m_hold && bc->m_last_success &&
	       bc->m_since_success &&
	       ctrl_metrics_add_collector(m, backup_collect, bc) >= 0;
}

int app_backup_ctrl_new(app_backup_ctrl **out, const app_backup_ctrl_opts *opts)
{
	app_backup_ctrl *bc;
	pthread_condattr_t attr;

	if (!opts || !opts->client || !opts->backups || !opts->pods || !opts->snapshots)
		return ss_error_set(SS_EINVALID,
				    "backup controller: client and caches are required");
	bc = calloc(1, sizeof(*bc));
	if (bc == NULL)
		return ss_error_set(SS_ENOMEM, "backup controller: out of memory");
	bc->o = *opts;
	if (bc->o.clock == NULL)
		bc->o.clock = ss_clock_system();
	if (bc->o.queued_retry_ns <= 0)
		bc->o.queued_retry_ns = 30 * SS_NS_PER_SEC;
	if (bc->o.uploading_resync_ns <= 0)
		bc->o.uploading_resync_ns = 30 * SS_NS_PER_SEC;
	bc->run_opts.client = bc->o.client;
	bc->run_opts.resource = &app_backups;
	bc->run_opts.events = bc->o.events;
	bc->run_opts.clock = bc->o.clock;
	bc->run_opts.encode = backup_encode_status;
	if (app_turns_new(&bc->turns, NULL) < 0) {
		free(bc);
		return SS_ENOMEM;
	}
	pthread_mutex_init(&bc->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&bc->snap_cond, &attr);
	pthread_condattr_destroy(&attr);
	if (opts->metrics && !backup_metrics_new(bc, opts->metrics)) {
		app_backup_ctrl_free(bc);
		return ss_error_last()->code < 0 ? ss_error_last()->code : SS_EEXISTS;
	}
	*out = bc;
	return 0;
}

void app_backup_ctrl_free(app_backup_ctrl *bc)
{
	if (bc == NULL)
		return;
	if (bc->o.metrics)
		ctrl_metrics_remove_collector(bc->o.metrics, backup_collect, bc);
	pthread_cond_destroy(&bc->snap_cond);
	pthread_mutex_destroy(&bc->mu);
	app_turns_free(bc->turns);
	free(bc);
}

void app_backup_ctrl_set_queue(app_backup_ctrl *bc, ctrl_workqueue *queue)
{
	bc->o.queue = queue;
}

/* ---- handlers ------------------------------------------------------------ */

/* Queues the Backup `name` of namespace `ns`, if both are known. */
static void backup_enqueue(app_backup_ctrl *bc, const char *ns, const char *name)
{
	char key[CTRL_KEY_MAX];

	if (bc->o.queue && ns && name && ctrl_key_join(key, sizeof(key), ns, name) == 0)
		ctrl_workqueue_add(bc->o.queue, key);
}

void app_backup_on_snapshot(void *payload, const json_t *obj)
{
	app_backup_ctrl *bc = payload;
	const char *ns = ctrl_meta(obj, "namespace");
	const json_t *owner = ctrl_owner_controller(obj);

	pthread_mutex_lock(&bc->mu);
	bc->snap_gen++;
	pthread_cond_broadcast(&bc->snap_cond);
	pthread_mutex_unlock(&bc->mu);
	backup_enqueue(bc, ns, ctrl_label(obj, APP_LABEL_BACKUP));
	/* The label is left out when the Backup's name is too long for one. */
	if (ss_streq(json_string_value(json_object_get(owner, "kind")), "Backup") &&
	    ss_streq(json_string_value(json_object_get(owner, "apiVersion")),
		     APP_API_VERSION))
		backup_enqueue(bc, ns, json_string_value(json_object_get(owner, "name")));
}

void app_backup_on_snapshot_update(void *payload, const json_t *old, const json_t *now)
{
	(void)old;
	app_backup_on_snapshot(payload, now);
}

/* ---- the per-server turn ----------------------------------------------- */

/* Ends the turn on `server` (session_ran: a lock session ran on it, which
 * makes it the most recently used) and queues the Backup that has waited
 * longest for it. */
static void backup_give_back(app_backup_ctrl *bc, const char *server, bool session_ran)
{
	char woken[CTRL_KEY_MAX];

	if (app_turns_give_back(bc->turns, server, session_ran,
				ss_clock_mono(bc->o.clock), woken, sizeof(woken)) &&
	    bc->o.queue) {
		ss_log(SS_LOG_DEBUG, "server free: waking the next Backup",
		       SS_LS("server", server), SS_LS("backup", woken));
		ctrl_workqueue_add(bc->o.queue, woken);
	}
}

/* The SQL threads of `pod` (namespace ns), stopped by an interrupted lock
 * session that no turn records, run again (or the pod is gone): wakes the
 * Backup that has waited longest for it (backup_wait_held), unless a turn
 * holds it now — that turn's end wakes the next one. */
static void backup_wake_held(app_backup_ctrl *bc, const char *ns, const char *pod)
{
	char server[CTRL_KEY_MAX], woken[CTRL_KEY_MAX];

	if (pod == NULL || ctrl_key_join(server, sizeof(server), ns, pod) < 0)
		return;
	if (app_turns_wake(bc->turns, server, woken, sizeof(woken)) && bc->o.queue) {
		ss_log(SS_LOG_DEBUG, "replica resumed: waking the next Backup",
		       SS_LS("server", server), SS_LS("backup", woken));
		ctrl_workqueue_add(bc->o.queue, woken);
	}
}

/* ---- one reconcile's state ------------------------------------------------ */

/* One reconcile of one Backup: the run (ctrl/run.h: the key, the latest
 * copy of the Backup in run.obj, the message in run.message, the
 * condition to set) and what the steps find. */
typedef struct {
	ctrl_run run;
	app_backup_ctrl *bc;
	app_backup_spec spec; /* borrows from a copy the run holds (step 2) */
	json_t *pods;	      /* the namespace's Pods from the cache (owned) */
	/* The status being built; strings point into the buffers below or
	 * into copies of the Backup or `pods`, which live until the reconcile
	 * returns (backup_own_status() copies them before a copy may go). */
	app_backup_status st;
	char source_pod[254];
	char snap_names[APP_MAX_VOLUMES][APP_NAME_BUF];
	char snap_errors[APP_MAX_VOLUMES][512];
	char volumes[APP_MAX_VOLUMES][254];
	char claims[APP_MAX_VOLUMES][254];
	char gtid_binlog[APP_DB_GTID_MAX];
	char gtid_slave[APP_DB_GTID_MAX];
	char gtid_current[APP_DB_GTID_MAX];
	char binlog_file[APP_DB_NAME_MAX];
	char primary_binlog_file[APP_DB_NAME_MAX];
	/* Step 1 of a Complete Backup: the Restorable condition to write, and
	 * whether the write turned it False. */
	const app_backup_plan_restorability *restorable;
	bool turned_unrestorable;
	/* The server this reconcile took a turn on ("" none): a Backup woken
	 * for a server it did not take passes the wake on (turns.h). */
	char taken[CTRL_KEY_MAX];
	/* The lock session's wait for the cut: which snapshots the cache has
	 * shown (one gone after that was deleted), and the longest time the
	 * wait went without looking (it looks every 250 ms at most: much
	 * longer means this process did not run). */
	bool snap_seen[APP_MAX_VOLUMES];
	/* Which of them our create made (it returned success, or found one
	 * of ours): with snap_seen, the snapshots known to have existed. */
	bool snap_made[APP_MAX_VOLUMES];
	int64_t stall_ns;
	/* Step 2's verdict when the spec does not decode (bad_spec[0] != 0):
	 * the reason and message; the steps before it ran on spec.target. */
	const char *bad_reason;
	char bad_spec[CTRL_RUN_MESSAGE_MAX];
	bool target_ok; /* spec.target decoded even so */
} backup_run;

/* Copies *field into buf and points it there; "" becomes NULL (unknown),
 * as the API server refuses an empty string in these fields. */
static void backup_own(const char **field, char *buf, size_t cap)
{
	if (*field && **field == '\0')
		*field = NULL;
	if (*field && *field != buf) {
		ss_strlcpy(buf, *field, cap);
		*field = buf;
	}
}

/* The static spelling of a name the API knows, or NULL. */
static const char *backup_static_name(const char *v, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		if (strcmp(v, names[i]) == 0)
			return names[i];
	return NULL;
}

/* Copies the status strings `st` borrows (from the object, or from a lock
 * session) into the run's buffers, so the status survives replacing
 * run.obj or freeing the session. */
static void backup_own_status(backup_run *r)
{
	static const char *const roles[] = { "Primary", "Replica" };
	static const char *const stages[] = { "FLUSH", "BLOCK_DDL", "BLOCK_COMMIT" };
	app_db_position *p = &r->st.position;
	size_t i;

	r->st.source_role = backup_static_name(r->st.source_role, roles, 2);
	r->st.lock.stage = backup_static_name(r->st.lock.stage, stages, 3);
	backup_own(&p->gtid_binlog_pos, r->gtid_binlog, sizeof(r->gtid_binlog));
	backup_own(&p->gtid_slave_pos, r->gtid_slave, sizeof(r->gtid_slave));
	backup_own(&p->gtid_current_pos, r->gtid_current, sizeof(r->gtid_current));
	backup_own(&p->binlog_file, r->binlog_file, sizeof(r->binlog_file));
	backup_own(&p->primary_binlog_file, r->primary_binlog_file,
		   sizeof(r->primary_binlog_file));

	if (r->st.message && r->st.message != r->run.message) {
		ss_strlcpy(r->run.message, r->st.message, sizeof(r->run.message));
		r->st.message = r->run.message;
	}
	if (r->st.source_pod && r->st.source_pod != r->source_pod) {
		ss_strlcpy(r->source_pod, r->st.source_pod, sizeof(r->source_pod));
		r->st.source_pod = r->source_pod;
	}
	for (i = 0; i < r->st.n_snapshots; i++) {
		app_snapshot_status *s = &r->st.snapshots[i];

		if (s->volume && s->volume != r->volumes[i]) {
			ss_strlcpy(r->volumes[i], s->volume, sizeof(r->volumes[i]));
			s->volume = r->volumes[i];
		}
		if (s->claim && s->claim != r->claims[i]) {
			ss_strlcpy(r->claims[i], s->claim, sizeof(r->claims[i]));
			s->claim = r->claims[i];
		}
		if (s->volume_snapshot_name &&
		    s->volume_snapshot_name != r->snap_names[i]) {
			ss_strlcpy(r->snap_names[i], s->volume_snapshot_name,
				   sizeof(r->snap_names[i]));
			s->volume_snapshot_name = r->snap_names[i];
		}
		if (s->error && s->error != r->snap_errors[i]) {
			ss_strlcpy(r->snap_errors[i], s->error,
				   sizeof(r->snap_errors[i]));
			s->error = r->snap_errors[i];
		}
	}
}

/* The run's status encoder: r->st, observedGeneration the generation of
 * the copy being written (the condition is the run's). */
static int backup_encode_status(json_t *obj, void *payload)
{
	backup_run *r = payload;
	json_t *gen = json_object_get(json_object_get(obj, "metadata"), "generation");

	r->st.observed_generation = json_is_integer(gen) ? json_integer_value(gen) : 0;
	return app_backup_status_encode(obj, &r->st);
}

/* Writes r->st and the pending condition to the Backup's /status
 * (ctrl_run_write_status: the written copy becomes run.obj), the status's
 * strings owned first. 0 or < 0. */
static int backup_write_status(backup_run *r)
{
	backup_own_status(r);
	return ctrl_run_write_status(&r->run);
}

static const char *backup_target_label(const backup_run *r)
{
	return r->spec.target.statefulset_name ? r->spec.target.statefulset_name
					       : "podSelector";
}

/* A Backup completed: the last-success gauge of its target, and the time
 * the seconds-since gauge counts from (backup_collect). */
static void backup_note_success(backup_run *r)
{
	app_backup_ctrl *bc = r->bc;
	const char *tlv[] = { r->run.ns, backup_target_label(r), NULL };
	size_t i;

	ctrl_gauge_set(bc->m_last_success, tlv, (double)r->st.completion_ns / 1e9);
	pthread_mutex_lock(&bc->mu);
	for (i = 0; i < bc->n_targets; i++)
		if (strcmp(bc->targets[i].ns, r->run.ns) == 0 &&
		    strcmp(bc->targets[i].target, backup_target_label(r)) == 0)
			break;
	if (i == bc->n_targets && i < TARGETS_MAX) {
		ss_strlcpy(bc->targets[i].ns, r->run.ns, sizeof(bc->targets[i].ns));
		ss_strlcpy(bc->targets[i].target, backup_target_label(r),
			   sizeof(bc->targets[i].target));
		bc->n_targets++;
	}
	if (i < TARGETS_MAX)
		bc->targets[i].last_success_real_ns = r->st.completion_ns;
	pthread_mutex_unlock(&bc->mu);
}

/* A finished Backup's metrics: counted by `result` and `reason`, its
 * duration, and for a completed one its target's last success. */
static void backup_observe_finish(backup_run *r, const char *result, const char *reason)
{
	const char *lv[] = { r->run.ns, result, reason, NULL };
	const char *nslv[] = { r->run.ns, NULL };

	ctrl_run_observe_finish(r->bc->m_total, lv, r->bc->m_duration, nslv,
				r->st.start_ns, r->st.completion_ns);
	if (strcmp(result, "completed") == 0)
		backup_note_success(r);
}

/* A step's "stop here" (ctrl/run.h): done, or look again in `after_ns`. */
static int backup_done(backup_run *r)
{
	return ctrl_run_stop(&r->run, ctrl_result_done());
}

static int backup_requeue(backup_run *r, int64_t after_ns)
{
	return ctrl_run_stop(&r->run, ctrl_result_requeue_after(after_ns));
}

/* Ends the Backup: Failed with `reason` and the message (also the status
 * message), an Event and the metrics. CTRL_RUN_STOP (done), or the status
 * write's error. */
static int backup_fail(backup_run *r, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int backup_fail(backup_run *r, const char *reason, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	ctrl_run_vmessage(&r->run, fmt, ap);
	va_end(ap);
	r->st.has_phase = true;
	r->st.phase = APP_BACKUP_FAILED;
	r->st.completion_ns = ss_clock_real(r->bc->o.clock);
	if (r->st.start_ns == 0)
		r->st.start_ns = r->st.completion_ns;
	ctrl_run_condition(&r->run, "Failed", CTRL_CONDITION_TRUE, reason);
	ss_log(SS_LOG_WARN, "backup failed", SS_LS("backup", r->run.key),
	       SS_LS("reason", reason), SS_LS("message", r->run.message));
	rc = backup_write_status(r);
	if (rc < 0)
		return rc;
	ctrl_run_event(&r->run, CTRL_EVENT_WARNING, "Failed", "%s: %s", reason,
		       r->run.message);
	backup_observe_finish(r, "failed", reason);
	return backup_done(r);
}

/* ---- reading the world ---------------------------------------------------- */

/* Which Failed reason a connection or lock error gets. */
static const char *backup_db_reason(int rc)
{
	switch (rc) {
	case SS_EUNAUTHORIZED: return "AuthenticationFailed";
	case SS_EFORBIDDEN: return "PrivilegeMissing";
	default: return "DatabaseUnreachable";
	}
}

/* Step 5: the snapshot API is served and the class exists. */
static int backup_check_snapshot_api(backup_run *r, const char **reason)
{
	json_t *obj = NULL, *items = NULL;
	size_t i;
	int rc;

	rc = kube_discover_resource(NULL, r->bc->o.client, "snapshot.storage.k8s.io",
				    "v1", "volumesnapshots");
	if (rc == SS_ENOTFOUND) {
		*reason = "SnapshotAPIMissing";
		return ss_error_set(
			SS_ENOTFOUND,
			"the cluster does not serve snapshot.storage.k8s.io/v1 "
			"volumesnapshots: install the external-snapshotter CRDs "
			"and controller");
	}
	if (rc < 0)
		return rc;
	if (r->spec.snapshot.class_name) {
		rc = kube_get(&obj, r->bc->o.client, &app_volumesnapshotclasses, NULL,
			      r->spec.snapshot.class_name);
		json_decref(obj);
		if (rc == SS_ENOTFOUND) {
			*reason = "SnapshotClassNotFound";
			return ss_error_set(SS_ENOTFOUND,
					    "spec.snapshot.volumeSnapshotClassName: "
					    "VolumeSnapshotClass %s does not exist",
					    r->spec.snapshot.class_name);
		}
		return rc;
	}
	rc = kube_list_all(&items, NULL, r->bc->o.client, &app_volumesnapshotclasses,
			   NULL, NULL);
	if (rc < 0)
		return rc;
	for (i = 0; i < json_array_size(items); i++) {
		const char *v = ctrl_annotation(json_array_get(items, i),
						DEFAULT_CLASS_ANNOTATION);

		if (v && strcmp(v, "true") == 0)
			break;
	}
	rc = i < json_array_size(items) ? 0 : -1;
	json_decref(items);
	if (rc < 0) {
		*reason = "SnapshotClassNotFound";
		return ss_error_set(
			SS_ENOTFOUND,
			"no spec.snapshot.volumeSnapshotClassName and no default "
			"VolumeSnapshotClass (annotation %s: \"true\")",
			DEFAULT_CLASS_ANNOTATION);
	}
	return 0;
}

/* ---- the lock session ------------------------------------------------------ */

/* What a read of a VolumeSnapshot found: rc and vs from kube_get() or
 * ctrl_store_get(), which both answer SS_ENOTFOUND for one that is not
 * there (never 0 with NULL). */
static app_backup_plan_vs_presence backup_presence_of(int rc, const json_t *vs)
{
	if (rc == SS_ENOTFOUND)
		return APP_BACKUP_PLAN_VS_ABSENT;
	if (rc < 0 || vs == NULL)
		return APP_BACKUP_PLAN_VS_UNKNOWN;
	return ctrl_meta(vs, "deletionTimestamp") != NULL ? APP_BACKUP_PLAN_VS_DELETING
							  : APP_BACKUP_PLAN_VS_PRESENT;
}

/* The VolumeSnapshot `name` of the Backup's namespace as the informer's
 * cache holds it: *out (a new reference; NULL unless PRESENT or DELETING)
 * and what was found. Every read of a snapshot from the cache goes
 * through here, so "not in the cache" (SS_ENOTFOUND) is ABSENT everywhere
 * and any other failure UNKNOWN (no answer, never "gone"). */
static app_backup_plan_vs_presence backup_cached_snapshot(json_t **out, backup_run *r,
							  const char *name)
{
	char key[CTRL_KEY_MAX];
	json_t *vs = NULL;
	int rc;

	*out = NULL;
	if (ctrl_key_join(key, sizeof(key), r->run.ns, name) < 0)
		return APP_BACKUP_PLAN_VS_UNKNOWN;
	rc = ctrl_store_get(&vs, r->bc->o.snapshots, key);
	if (rc == 0)
		*out = vs;
	return backup_presence_of(rc, vs);
}

/* Reads the snapshots of the session from the cache into r->st.snapshots;
 * *all_cut when every one has been cut, *failed_at the index of one with an
 * error (or -1), *lost_at the index of one deleted (being deleted, or gone
 * from the cache after it was there; or -1). */
static void backup_snapshots_look(backup_run *r, bool *all_cut, int *failed_at,
				  int *lost_at)
{
	size_t i;

	*all_cut = true;
	*failed_at = -1;
	*lost_at = -1;
	for (i = 0; i < r->st.n_snapshots; i++) {
		app_snapshot_status *s = &r->st.snapshots[i];
		json_t *vs = NULL;
		app_vs_state vst;
		app_backup_plan_vs_presence found =
			backup_cached_snapshot(&vs, r, s->volume_snapshot_name);

		if (vs == NULL) {
			/* gone after it was seen is lost; a failed read is not */
			if (found == APP_BACKUP_PLAN_VS_ABSENT && r->snap_seen[i] &&
			    *lost_at < 0)
				*lost_at = (int)i;
			*all_cut = false;
			continue;
		}
		r->snap_seen[i] = true;
		if (found == APP_BACKUP_PLAN_VS_DELETING && *lost_at < 0)
			*lost_at = (int)i;
		if (app_vs_state_read(&vst, vs) == 0) {
			if (vst.error && *failed_at < 0) {
				ss_strlcpy(r->snap_errors[i], vst.error,
					   sizeof(r->snap_errors[i]));
				s->error = r->snap_errors[i];
				*failed_at = (int)i;
			}
			if (app_backup_plan_vs_is_cut(&vst)) {
				if (s->creation_time_ns == 0)
					s->creation_time_ns = vst.creation_time_ns;
			} else {
				*all_cut = false;
			}
			s->ready_to_use = vst.ready_to_use;
			s->restore_size_bytes = vst.restore_size_bytes;
		} else {
			*all_cut = false;
		}
		json_decref(vs);
	}
}

/* Deletes VolumeSnapshot `name` only if it is this Backup's: it is read,
 * must carry an ownerReference with the Backup's uid, and is deleted with
 * its own uid as the precondition, so neither another object of that name
 * nor one that replaced it after the read is ever deleted. Failures are
 * logged; the caller goes on either way. Returns what the read found of
 * this Backup's snapshot of that name: PRESENT (so deleted by us now),
 * DELETING (someone else is deleting it), ABSENT (not found, or the object
 * of that name is not ours) or UNKNOWN (the read failed). */
static app_backup_plan_vs_presence backup_delete_snapshot(backup_run *r, const char *name)
{
	kube_delete_opts d = KUBE_DELETE_OPTS_INIT;
	json_t *vs = NULL;
	app_backup_plan_vs_presence found;
	int rc;

	rc = kube_get(&vs, r->bc->o.client, &app_volumesnapshots, r->run.ns, name);
	found = backup_presence_of(rc, vs);
	if (rc == 0 && (!app_owner_has_uid(vs, ctrl_meta(r->run.obj, "uid")) ||
			ctrl_meta(vs, "uid") == NULL)) {
		ss_log(SS_LOG_WARN,
		       "not deleting a VolumeSnapshot that is not this Backup's",
		       SS_LS("backup", r->run.key), SS_LS("snapshot", name));
		json_decref(vs);
		return APP_BACKUP_PLAN_VS_ABSENT; /* ours, of that name, is gone */
	}
	if (rc == 0) {
		d.precondition_uid = ctrl_meta(vs, "uid");
		rc = kube_delete(NULL, r->bc->o.client, &app_volumesnapshots, r->run.ns,
				 name, &d);
		if (rc == SS_ENOTFOUND)
			found = APP_BACKUP_PLAN_VS_ABSENT; /* gone between the read and
							      ours */
	}
	json_decref(vs);
	if (rc < 0 && rc != SS_ENOTFOUND)
		ss_log(SS_LOG_WARN, "deleting a VolumeSnapshot failed",
		       SS_LS("backup", r->run.key), SS_LS("snapshot", name), SS_LERR());
	return found;
}

/* The name of the snapshot of `volume` in attempt `attempt` (1-based),
 * different for every Backup, volume and attempt (names.h), so a retry
 * never meets the untrusted snapshots of an interrupted one. Used only to
 * name a new session's snapshots: every later step reads the names from
 * status.snapshots, so snapshots named by an older rule are still found. */
static int backup_snapshot_name(char *out, const backup_run *r, const char *volume,
				int attempt)
{
	return app_name_backup_snapshot(out, r->run.name, volume, attempt);
}

/* Creates the VolumeSnapshot of volume i. An existing one is ours when the
 * Backup owns it (a retried create after a lost response). */
static int backup_create_snapshot(backup_run *r, const app_target_candidate *cand,
				  size_t i, const app_db_position *pos)
{
	app_backup_plan_snapshot_in in = {
		.backup = r->run.obj,
		.spec = &r->spec,
		.volume = cand->volumes[i].volume,
		.claim = cand->volumes[i].claim,
		.pod = cand->pod,
		.source_role = r->st.source_role,
		.position = pos,
		.name = r->st.snapshots[i].volume_snapshot_name
	};
	json_t *vs = NULL, *created = NULL;
	int rc;

	rc = app_backup_plan_snapshot_object(&vs, &in);
	if (rc < 0)
		return rc;
	rc = kube_create(&created, r->bc->o.client, &app_volumesnapshots, r->run.ns, vs);
	json_decref(vs);
	json_decref(created);
	if (rc == SS_EEXISTS) {
		json_t *cur = NULL;

		rc = kube_get(&cur, r->bc->o.client, &app_volumesnapshots, r->run.ns,
			      r->st.snapshots[i].volume_snapshot_name);
		if (rc < 0)
			return rc;
		rc = app_owner_has_uid(cur, ctrl_meta(r->run.obj, "uid")) ? 0
									  : SS_EEXISTS;
		json_decref(cur);
		if (rc < 0)
			return ss_error_set(
				SS_EEXISTS,
				"VolumeSnapshot %s/%s exists and is not this Backup's",
				r->run.ns, r->st.snapshots[i].volume_snapshot_name);
	}
	return rc;
}

/* Whether the Backup is being deleted (or gone), by the informer's cache:
 * a lock session looks at it while it waits for the cut. */
static bool backup_being_deleted(backup_run *r)
{
	json_t *c = NULL;
	bool d;
	int rc;

	rc = ctrl_store_get(&c, r->bc->o.backups, r->run.key);
	if (rc < 0)
		return rc == SS_ENOTFOUND; /* gone; another error: no answer */
	d = ctrl_meta(c, "deletionTimestamp") != NULL;
	json_decref(c);
	return d;
}

/* Waits until every snapshot is cut, one fails or is deleted, the Backup
 * is being deleted, or the monotonic deadline passes. Woken by
 * app_backup_on_snapshot(); re-reads the caches on every wake and at least
 * every 250 ms (r->stall_ns: the longest it went without). Returns 0 (all
 * cut), SS_ERROR (one failed: *failed_at), SS_ENOTFOUND (one was deleted:
 * *failed_at), SS_ECANCELLED (the Backup is being deleted) or SS_ETIMEOUT. */
static int backup_wait_for_cut(backup_run *r, int64_t deadline_mono, int *failed_at)
{
	app_backup_ctrl *bc = r->bc;
	int64_t last = ss_clock_mono(bc->o.clock), now;
	bool all_cut;
	uint64_t gen;
	int lost_at;

	for (;;) {
		pthread_mutex_lock(&bc->mu);
		gen = bc->snap_gen;
		pthread_mutex_unlock(&bc->mu);
		now = ss_clock_mono(bc->o.clock);
		if (now - last > r->stall_ns)
			r->stall_ns = now - last;
		last = now;
		backup_snapshots_look(r, &all_cut, failed_at, &lost_at);
		if (backup_being_deleted(r))
			return SS_ECANCELLED;
		if (*failed_at >= 0)
			return SS_ERROR;
		if (lost_at >= 0) {
			*failed_at = lost_at;
			return SS_ENOTFOUND;
		}
		if (all_cut)
			return 0;
		int64_t left = deadline_mono - ss_clock_mono(bc->o.clock);
		if (left <= 0)
			return SS_ETIMEOUT;
		if (left > 250 * SS_NS_PER_MS)
			left = 250 * SS_NS_PER_MS;
		struct timespec ts = ss_mono_deadline(left);
		pthread_mutex_lock(&bc->mu);
		while (bc->snap_gen == gen)
			if (pthread_cond_timedwait(&bc->snap_cond, &bc->mu, &ts) != 0)
				break;
		pthread_mutex_unlock(&bc->mu);
	}
}

/* Ends the stages, recording the release. The session no longer holds the
 * lock either way (db.h), but a failed END means the server may have
 * released it at an unknown moment before (the connection died during the
 * wait): the caller must not trust the cut. Returns app_db_lock_end()'s
 * result. */
static int backup_lock_end(backup_run *r, app_db_lock_session *session)
{
	int64_t held = -1;
	const app_db_lock_info *li;
	int rc = app_db_lock_end(session, &held);

	if (rc < 0)
		ss_log(SS_LOG_WARN, "BACKUP STAGE END failed; the connection was closed",
		       SS_LS("backup", r->run.key), SS_LERR());
	li = app_db_lock_get_info(session);
	r->st.lock.released_ns = li->released_real_ns ? li->released_real_ns
						      : ss_clock_real(r->bc->o.clock);
	r->st.lock.held_ms = held >= 0
				     ? held
				     : (r->st.lock.released_ns - r->st.lock.acquired_ns) /
					       SS_NS_PER_MS;
	{
		const char *lv[] = { r->run.ns, NULL };

		ctrl_histogram_observe(r->bc->m_hold, lv,
				       (double)r->st.lock.held_ms / 1e3);
	}
	return rc;
}

/* Starts the replica's SQL threads again if this Backup stopped them. On
 * failure the flag stays set (the status says so) and a later reconcile
 * tries again. */
static void backup_resume_replication(backup_run *r, app_db *db, const char *pod)
{
	if (!r->st.lock.replication_paused)
		return;
	if (app_db_replication_resume(db) == 0) {
		r->st.lock.replication_paused = false;
		return;
	}
	ss_log(SS_LOG_ERROR, "could not restart the replica's SQL threads",
	       SS_LS("backup", r->run.key), SS_LS("pod", pod), SS_LERR());
	ctrl_run_event(&r->run, CTRL_EVENT_WARNING, "ReplicationNotResumed",
		       "could not START ALL SLAVES SQL_THREAD on %s: %s; retrying", pod,
		       ss_error_last()->message);
}

/* ---- the finalizer ---------------------------------------------------------- */

/* Whether `obj` carries APP_BACKUP_FINALIZER: while it does, a lock session
 * or stopped SQL threads may exist, and the Backup cannot vanish before the
 * controller has ended them. */
static bool backup_has_finalizer(const json_t *obj)
{
	const json_t *f;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "finalizers"),
			   i, f)
	{
		if (ss_streq(json_string_value(f), APP_BACKUP_FINALIZER))
			return true;
	}
	return false;
}

/* A merge patch of the Backup's finalizers with ours added (on) or
 * removed, guarded by the resourceVersion `obj` was read at. */
static json_t *backup_finalizer_patch(const json_t *obj, bool on)
{
	const json_t *f;
	json_t *list = json_array(), *patch;
	size_t i;

	if (list == NULL)
		return NULL;
	json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "finalizers"),
			   i, f)
	{
		if (!ss_streq(json_string_value(f), APP_BACKUP_FINALIZER))
			json_array_append(list, (json_t *)f);
	}
	if (on)
		json_array_append_new(list, json_string(APP_BACKUP_FINALIZER));
	patch = json_pack("{s:{s:O,s:s}}", "metadata", "finalizers", list,
			  "resourceVersion",
			  ctrl_meta(obj, "resourceVersion") ? ctrl_meta(obj, "resourceVersion")
							    : "");
	json_decref(list);
	return patch;
}

/* Adds (on) or removes our finalizer; a conflict is retried on a fresh
 * copy. run.obj becomes the patched object. 0 or < 0 (a Backup already
 * gone has nothing to remove: 0). */
static int backup_set_finalizer(backup_run *r, bool on)
{
	kube_patch_opts po = { 0 };
	int rc = 0, tries;

	backup_own_status(r); /* r->run.obj is replaced below */
	for (tries = 0; tries < 3; tries++) {
		json_t *patch, *out = NULL;

		if (backup_has_finalizer(r->run.obj) == on)
			return 0;
		patch = backup_finalizer_patch(r->run.obj, on);
		if (patch == NULL)
			return ss_error_set(SS_ENOMEM, "out of memory");
		rc = kube_patch(&out, r->bc->o.client, &app_backups, r->run.ns,
				r->run.name, KUBE_PATCH_MERGE, patch, &po);
		json_decref(patch);
		if (rc == SS_ENOTFOUND && !on)
			return 0;
		if (rc != SS_ECONFLICT) {
			if (rc == 0 && ctrl_run_replace(&r->run, out) < 0)
				return ss_error_set(SS_ENOMEM, "out of memory");
			return rc;
		}
		if ((rc = kube_get(&out, r->bc->o.client, &app_backups, r->run.ns,
				   r->run.name)) < 0)
			return rc == SS_ENOTFOUND && !on ? 0 : rc;
		if (ctrl_run_replace(&r->run, out) < 0)
			return ss_error_set(SS_ENOMEM, "out of memory");
	}
	return rc;
}

static void backup_delete_snapshots(backup_run *r)
{
	size_t i;

	for (i = 0; i < r->st.n_snapshots; i++)
		if (r->st.snapshots[i].volume_snapshot_name)
			backup_delete_snapshot(r,
					       r->st.snapshots[i].volume_snapshot_name);
}

/* An attempt whose cut cannot be trusted (`why`): its snapshots deleted,
 * then the next attempt (status Pending, a Warning Event `reason`) no
 * earlier than status.nextAttemptTime (app_backup_plan_next_attempt_ns) or, after
 * APP_BACKUP_MAX_ATTEMPTS, Failed with `reason`. */
static int backup_retry_attempt(backup_run *r, const char *reason, const char *why)
{
	char w[SS_ERROR_MESSAGE_MAX];
	int64_t now = ss_clock_real(r->bc->o.clock), next, wait;
	int rc;

	ss_strlcpy(w, why, sizeof(w));
	backup_own_status(r);
	backup_delete_snapshots(r);
	ss_log(SS_LOG_WARN, "lock session not trusted", SS_LS("backup", r->run.key),
	       SS_LS("reason", reason), SS_LI("attempt", r->st.attempts),
	       SS_LS("why", w));
	if (r->st.attempts >= APP_BACKUP_MAX_ATTEMPTS)
		return backup_fail(
			r, reason,
			"lock session %d of %d on %s: %s; its snapshots were deleted, as "
			"no one saw them cut under the lock",
			r->st.attempts, APP_BACKUP_MAX_ATTEMPTS,
			r->st.source_pod ? r->st.source_pod : "?", w);
	next = app_backup_plan_next_attempt_ns(r->st.attempts, now);
	wait = app_backup_plan_attempt_wait_ns(next, now);
	ctrl_run_event(&r->run, CTRL_EVENT_WARNING, reason,
		       "lock session %d on %s: %s; its snapshots were deleted; retrying "
		       "in %lld s",
		       r->st.attempts, r->st.source_pod ? r->st.source_pod : "?", w,
		       (long long)((wait + SS_NS_PER_SEC - 1) / SS_NS_PER_SEC));
	ctrl_run_message(&r->run,
			 "lock session %d: %s; its snapshots were deleted; retrying",
			 r->st.attempts, w);
	r->st.phase = APP_BACKUP_PENDING;
	r->st.next_attempt_ns = next;
	r->st.n_snapshots = 0;
	memset(&r->st.position, 0, sizeof(r->st.position));
	r->st.position.binlog_position = -1;
	r->st.position.primary_binlog_position = -1;
	memset(&r->st.lock, 0, sizeof(r->st.lock));
	r->st.lock.connection_id = -1;
	r->st.lock.held_ms = -1;
	rc = backup_write_status(r);
	if (rc < 0)
		return rc;
	return backup_requeue(r, wait);
}

/* A snapshot was cut outside the lock window (run.message says which):
 * the snapshots deleted, Failed CutOutsideLock. CTRL_RUN_STOP or < 0. */
static int backup_cut_outside(backup_run *r)
{
	char why[CTRL_RUN_MESSAGE_MAX];

	ss_strlcpy(why, r->run.message, sizeof(why));
	backup_delete_snapshots(r);
	return backup_fail(r, "CutOutsideLock", "%s; its snapshots were deleted", why);
}

/* A snapshot was deleted or failed after its cut (run.message says which):
 * the Backup's other snapshots deleted, Failed SnapshotLost. CTRL_RUN_STOP
 * or < 0. */
static int backup_snapshot_lost_fail(backup_run *r)
{
	char why[CTRL_RUN_MESSAGE_MAX];

	ss_strlcpy(why, r->run.message, sizeof(why));
	backup_delete_snapshots(r);
	return backup_fail(r, "SnapshotLost",
			   "%s; the Backup's other snapshots were deleted", why);
}

/* Reads each snapshot's cut time (its content's nanoseconds, else the
 * VolumeSnapshot's) and compares it with the lock window (cut_proof.h).
 * 0 when none lies outside; CTRL_RUN_STOP when one does (the Backup Failed
 * CutOutsideLock, its snapshots deleted: backup_cut_outside) or when one
 * is gone from the cache since its cut (SnapshotLost); < 0 on an API
 * error. The cut times found go into the status. */
static int backup_prove_cuts(backup_run *r)
{
	size_t i;
	int rc;

	for (i = 0; i < r->st.n_snapshots; i++) {
		app_snapshot_status *s = &r->st.snapshots[i];
		char t1[SS_TIME_RFC3339_MAX], t2[SS_TIME_RFC3339_MAX],
			t3[SS_TIME_RFC3339_MAX];
		json_t *vs = NULL, *content = NULL;
		const char *cname;
		app_cut_proof_time c;

		switch (backup_cached_snapshot(&vs, r, s->volume_snapshot_name)) {
		case APP_BACKUP_PLAN_VS_UNKNOWN:
			return SS_ERROR; /* ss_error_last() says why */
		case APP_BACKUP_PLAN_VS_ABSENT:
			/* Seen cut, deleted since: no cut time to prove, and
			 * never Complete. */
			ctrl_run_message(&r->run,
					 "VolumeSnapshot %s/%s was deleted after its cut",
					 r->run.ns, s->volume_snapshot_name);
			return backup_snapshot_lost_fail(r);
		default:
			break;
		}
		cname = json_string_value(json_object_get(json_object_get(vs, "status"),
							  "boundVolumeSnapshotContentName"));
		rc = cname ? kube_get(&content, r->bc->o.client, &app_volumesnapshotcontents,
				      NULL, cname)
			   : SS_ENOTFOUND;
		if (rc < 0 && rc != SS_ENOTFOUND && rc != SS_EFORBIDDEN) {
			json_decref(vs);
			return rc;
		}
		rc = app_cut_proof_time_read(&c, content, vs);
		json_decref(vs);
		json_decref(content);
		if (rc == SS_ENOTFOUND)
			continue; /* readyToUse without a time: seen cut under the lock */
		if (rc < 0)
			return rc;
		s->creation_time_ns = c.cut_ns;
		if (!app_cut_proof_outside(&c, r->st.lock.acquired_ns,
					   r->st.lock.released_ns))
			continue;
		ctrl_run_message(
			&r->run,
			"VolumeSnapshot %s was cut at %s (its %s, resolution %lld ns), "
			"outside the lock held from %s to %s",
			s->volume_snapshot_name,
			ss_time_format_micro(t1, sizeof(t1), c.cut_ns), c.source,
			(long long)c.resolution_ns,
			ss_time_format_micro(t2, sizeof(t2), r->st.lock.acquired_ns),
			ss_time_format_micro(t3, sizeof(t3), r->st.lock.released_ns));
		return backup_cut_outside(r);
	}
	return 0;
}

/* The Backup was deleted while its session held the lock: the stages are
 * ended (by the caller), its snapshots deleted and the finalizer removed,
 * so it goes at once. */
static int backup_deleted_while_locked(backup_run *r, const char *pod)
{
	int rc;

	backup_delete_snapshots(r);
	ss_log(SS_LOG_INFO, "backup deleted while locked; lock ended",
	       SS_LS("backup", r->run.key), SS_LS("pod", pod),
	       SS_LI("held_ms", r->st.lock.held_ms));
	ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "DeletedWhileLocked",
		       "the Backup was deleted while BACKUP STAGE was held on %s: the "
		       "stages were ended after %lld ms and its snapshots deleted",
		       pod, (long long)r->st.lock.held_ms);
	if (!r->st.lock.replication_paused && (rc = backup_set_finalizer(r, false)) < 0)
		return rc;
	return backup_done(r);
}

/* One lock session (step 8) on the chosen server: what its steps share.
 * The session (the lock) is owned from backup_session_lock() until
 * backup_session_release() or an abort ends it; none returns with it
 * held. */
typedef struct {
	backup_run *r;
	app_db *db; /* the connection that locks (borrowed) */
	const app_target_candidate *cand;
	int attempt;		   /* this session's number, 1-based */
	bool write_failed;	   /* status Locked could not be written: an API
				      error, not the database's */
	app_db_lock_session *session; /* owned; NULL once ended */
	int64_t deadline;	   /* monotonic: acquired + lock.timeoutSeconds */
	/* Monotonic: asking for the snapshots, seeing the last cut. */
	int64_t t_create, t_seen;
	/* How the wait for the cut ended: 0 (every snapshot cut), SS_ETIMEOUT,
	 * SS_ENOTFOUND (one deleted), SS_ECANCELLED (the Backup is being
	 * deleted) or SS_ERROR (snapshot failed_at failed). */
	int cut;
	int failed_at;
	int end_rc; /* BACKUP STAGE END's result */
	/* The API's error that ended the creates, or END's: words for the
	 * lock-timeout message and LockLost. */
	char end_why[SS_ERROR_MESSAGE_MAX];
} backup_session;

/* Runs once the lock session's connection exists and before BACKUP STAGE
 * START: writes status Locked with the session's CONNECTION_ID() and the
 * names of the snapshots it will make. So a crash from here on leaves a
 * status that names everything to clean up, and the write costs the lock
 * nothing. */
static int backup_record_session(void *payload, int64_t connection_id)
{
	backup_session *b = payload;
	backup_run *r = b->r;
	size_t i;
	int rc;

	r->st.lock.stage = app_lock_stage_name(r->spec.lock.stage);
	r->st.lock.connection_id = connection_id;
	memset(r->snap_seen, 0, sizeof(r->snap_seen));
	memset(r->snap_made, 0, sizeof(r->snap_made));
	r->stall_ns = 0;
	r->st.lock.acquired_ns = 0;
	r->st.lock.released_ns = 0;
	r->st.lock.held_ms = -1;
	r->st.has_phase = true;
	r->st.phase = APP_BACKUP_LOCKED;
	r->st.n_snapshots = b->cand->n_volumes;
	for (i = 0; i < b->cand->n_volumes; i++) {
		app_snapshot_status *s = &r->st.snapshots[i];

		memset(s, 0, sizeof(*s));
		s->restore_size_bytes = -1;
		s->volume = b->cand->volumes[i].volume;
		s->claim = b->cand->volumes[i].claim;
		if ((rc = backup_snapshot_name(r->snap_names[i], r, s->volume,
					       b->attempt)) < 0)
			return rc;
		s->volume_snapshot_name = r->snap_names[i];
	}
	ctrl_run_message(
		&r->run,
		"taking BACKUP STAGE %s on %s (connection %lld) to cut %zu snapshot(s)",
		r->st.lock.stage, b->cand->pod, (long long)connection_id,
		b->cand->n_volumes);
	rc = backup_write_status(r);
	b->write_failed = rc < 0;
	return rc;
}

/* What the informer's cache shows of snapshot i of the session. */
static app_backup_plan_vs_presence backup_cached_presence(backup_run *r, size_t i)
{
	json_t *vs = NULL;
	app_backup_plan_vs_presence found =
		backup_cached_snapshot(&vs, r, r->st.snapshots[i].volume_snapshot_name);

	json_decref(vs);
	return found;
}

/* Step 8, the cut was not seen before lock.timeoutSeconds, or a snapshot
 * was deleted while locked: the snapshots not cut are deleted (all of them
 * when one was lost), and the Failed reason and words say what is known
 * of the cause (app_backup_plan_lock_timeout): the snapshots someone deleted, the
 * API server's error (`api_why`), a stall of this process, or else the
 * storage. */
static int backup_session_timed_out(backup_run *r, const char *api_why)
{
	app_backup_plan_timeout_in in = { r->run.ns,
					  r->st.n_snapshots,
					  0,
					  NULL,
					  api_why,
					  r->stall_ns / SS_NS_PER_MS,
					  r->spec.lock.timeout_seconds,
					  r->st.lock.held_ms };
	char gone[MSG_MAX] = "", msg[MSG_MAX];
	const char *reason;
	size_t i, uncut = 0, n_gone = 0, used = 0;
	bool full = false;

	for (i = 0; i < r->st.n_snapshots; i++) {
		const char *name = r->st.snapshots[i].volume_snapshot_name;
		bool cut = r->st.snapshots[i].creation_time_ns != 0;
		app_backup_plan_session_vs vs = { r->snap_made[i], r->snap_seen[i],
						  APP_BACKUP_PLAN_VS_UNKNOWN };

		uncut += cut ? 0 : 1;
		/* An uncut one is deleted (which tells whether someone had); a
		 * cut one is kept (the Failed Backup's clean-up takes it) unless
		 * the cache shows it deleted. Gone counts as lost only if it
		 * was known to exist (app_backup_plan_session_vs_lost). */
		vs.now = cut ? backup_cached_presence(r, i)
			     : backup_delete_snapshot(r, name);
		if (!app_backup_plan_session_vs_lost(&vs))
			continue;
		n_gone++;
		if (!full) /* once it ends in "...", nothing more is added */
			full = !ss_list_append(gone, sizeof(gone), &used, name);
	}
	in.uncut = uncut;
	in.deleted = gone;
	reason = app_backup_plan_lock_timeout(msg, sizeof(msg), &in);
	if (n_gone > 0)
		backup_delete_snapshots(r);
	return backup_fail(r, reason, "%s", msg);
}

/* Ends the stages and frees the session (backup_lock_end: the release
 * recorded). END's result. */
static int backup_session_close(backup_session *s)
{
	int rc = backup_lock_end(s->r, s->session);

	app_db_lock_free(s->session);
	s->session = NULL;
	return rc;
}

/* A lock session that an API error (the calling thread's ss_error) ended
 * while creating snapshot `failed_at`: the stages ended and the SQL
 * threads started at once, then the attempt retried or failed with the
 * API server's answer as its cause (app_backup_plan_session_error_decide), never
 * as an interruption. Should that status write fail, the status stays
 * Locked and the next reconcile retries it as Interrupted. CTRL_RUN_STOP
 * or < 0. */
static int backup_session_aborted(backup_session *s, size_t failed_at)
{
	app_backup_plan_session_error d =
		app_backup_plan_session_error_decide(ss_error_last()->code);
	backup_run *r = s->r;
	char why[SS_ERROR_MESSAGE_MAX];
	char cause[SS_ERROR_MESSAGE_MAX + 256];

	ss_strlcpy(why, ss_error_last()->message, sizeof(why));
	backup_session_close(s);
	backup_resume_replication(r, s->db, s->cand->pod);
	ss_log(SS_LOG_WARN, "lock session aborted", SS_LS("backup", r->run.key),
	       SS_LS("error", why));
	snprintf(cause, sizeof(cause),
		 "creating VolumeSnapshot %s failed (%s), so BACKUP STAGE END was sent at once",
		 failed_at < r->st.n_snapshots
			 ? r->st.snapshots[failed_at].volume_snapshot_name
			 : "?",
		 why);
	if (d.retry)
		return backup_retry_attempt(r, d.reason, cause);
	backup_own_status(r);
	backup_delete_snapshots(r);
	return backup_fail(r, d.reason,
			   "%s; its snapshots were deleted; not retried, as the API "
			   "server would refuse the same object again",
			   cause);
}

/* Step 8, the lock: BACKUP STAGE up to the spec's stage, the session's
 * wait_timeout just above lock.timeoutSeconds; status Locked is written
 * before BACKUP STAGE START (backup_record_session). 0 with s->session
 * held; else nothing is held and the Backup Failed (CTRL_RUN_STOP), or the
 * status write's error (< 0: retried, nothing was locked). */
static int backup_session_lock(backup_session *s)
{
	backup_run *r = s->r;
	app_db_lock_opts o = { .stage = r->spec.lock.stage,
			       .acquire_timeout_seconds =
				       r->spec.lock.acquire_timeout_seconds,
			       .hold_timeout_seconds = r->spec.lock.timeout_seconds,
			       .marker = ctrl_meta(r->run.obj, "uid"),
			       .before = backup_record_session,
			       .payload = s };
	char why[SS_ERROR_MESSAGE_MAX];
	const char *reason;
	int rc;

	r->st.attempts = s->attempt;
	r->st.next_attempt_ns = 0;
	rc = app_db_lock_begin_ex(&s->session, s->db, &o);
	if (rc >= 0)
		return 0;
	reason = rc == SS_ETIMEOUT ? "LockAcquireTimeout" : backup_db_reason(rc);
	ss_strlcpy(why, ss_error_last()->message, sizeof(why));
	backup_resume_replication(r, s->db, s->cand->pod);
	if (s->write_failed) /* an API error before anything was locked */
		return ss_error_set(rc, "%s", why); /* try again */
	r->st.n_snapshots = 0; /* none was made */
	return backup_fail(r, reason, "locking %s: %s", s->cand->pod, why);
}

/* Step 8, under the lock: the replication position, then the status
 * message and the Locked Event (nothing is written: the status says
 * Locked already). 0; or, the position unread, the stages ended and the
 * Backup Failed (CTRL_RUN_STOP) or < 0. */
static int backup_session_position(backup_session *s)
{
	backup_run *r = s->r;
	const app_db_lock_info *li = app_db_lock_get_info(s->session);
	app_db_position pos;

	s->deadline = li->acquired_mono_ns + r->spec.lock.timeout_seconds * SS_NS_PER_SEC;
	if (app_db_lock_read_position(&pos, s->session) < 0) {
		char why[SS_ERROR_MESSAGE_MAX];
		int code = ss_error_last()->code;

		ss_strlcpy(why, ss_error_last()->message, sizeof(why));
		backup_session_close(s);
		backup_resume_replication(r, s->db, s->cand->pod);
		return backup_fail(r, backup_db_reason(code),
				   "reading the replication position on %s: %s",
				   s->cand->pod, why);
	}
	r->st.position = pos;
	backup_own_status(r); /* the session's strings die with it */
	r->st.lock.acquired_ns = li->acquired_real_ns;
	ctrl_run_message(
		&r->run,
		"BACKUP STAGE %s held on %s (connection %lld); cutting %zu snapshot(s)",
		r->st.lock.stage, s->cand->pod, (long long)li->connection_id,
		s->cand->n_volumes);
	ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "Locked",
		       "BACKUP STAGE %s on %s (connection %lld) in %lld ms",
		       r->st.lock.stage, s->cand->pod, (long long)li->connection_id,
		       (long long)li->acquire_ms);
	return 0;
}

/* Step 8, the cut: one VolumeSnapshot per volume, then the wait for every
 * cut (backup_wait_for_cut) into s->cut. Every API request from here to
 * END gets what is left of the lock budget (kube_deadline_set), retries
 * and their waits included: a slow or throttling API server ends the lock
 * at the bound, never later. 0 to end the stages now; an API error
 * creating a snapshot ends the session here (backup_session_aborted:
 * CTRL_RUN_STOP or < 0). */
static int backup_session_cut(backup_session *s)
{
	backup_run *r = s->r;
	size_t i;
	int rc = 0;

	kube_deadline_set(s->deadline, "the lock budget (lock.timeoutSeconds)");
	s->t_create = ss_clock_mono(r->bc->o.clock);
	for (i = 0; i < s->cand->n_volumes; i++) {
		rc = backup_create_snapshot(r, s->cand, i, &r->st.position);
		r->snap_made[i] = rc == 0;
		if (rc < 0)
			break;
	}
	if (rc < 0 && rc != SS_ETIMEOUT) {
		kube_deadline_clear();
		return backup_session_aborted(s, i);
	}
	if (rc < 0)
		ss_strlcpy(s->end_why, ss_error_last()->message, sizeof(s->end_why));
	else
		rc = backup_wait_for_cut(r, s->deadline, &s->failed_at);
	kube_deadline_clear();
	s->cut = rc;
	return 0;
}

/* Step 8, the release, the moment the cut is seen (or the wait gave up):
 * BACKUP STAGE END, the replica's SQL threads started, the "lock
 * released" log line and the Released Event. */
static void backup_session_release(backup_session *s)
{
	backup_run *r = s->r;
	int64_t cut_ms;
	int cut = s->cut;

	s->t_seen = ss_clock_mono(r->bc->o.clock);
	s->end_rc = backup_lock_end(r, s->session);
	if (s->end_rc < 0 && cut == 0)
		ss_strlcpy(s->end_why, ss_error_last()->message, sizeof(s->end_why));
	app_db_lock_free(s->session);
	s->session = NULL;
	/* A server that did not answer END in time is frozen or gone: asking it
	 * to start the SQL threads would only delay the outcome. The record
	 * (replicationPaused, the finalizer) stays, and a later reconcile
	 * starts them once it answers. */
	if (s->end_rc == SS_ETIMEOUT)
		ss_log(SS_LOG_WARN,
		       "not starting the SQL threads of a server that did not "
		       "answer END; retried later",
		       SS_LS("backup", r->run.key), SS_LS("pod", s->cand->pod));
	else
		backup_resume_replication(r, s->db, s->cand->pod);
	/* The storage's part of the hold: from asking for the snapshots to
	 * seeing the last cut. The rest is ours (status write, END). */
	cut_ms = (s->t_seen - s->t_create) / SS_NS_PER_MS;
	ss_log(SS_LOG_INFO, "lock released", SS_LS("backup", r->run.key),
	       SS_LS("pod", s->cand->pod), SS_LI("held_ms", r->st.lock.held_ms),
	       SS_LI("cut_ms", cut_ms), SS_LI("overhead_ms", r->st.lock.held_ms - cut_ms),
	       SS_LS("outcome", cut == 0		       ? "cut"
				: cut == SS_ETIMEOUT   ? "timeout"
				: cut == SS_ECANCELLED ? "deleted"
						       : "failed"));
	ctrl_run_event(
		&r->run, CTRL_EVENT_NORMAL, "Released",
		"BACKUP STAGE END on %s after %lld ms, of which %lld ms from asking for "
		"the snapshots to seeing the last cut (%s)",
		s->cand->pod, (long long)r->st.lock.held_ms, (long long)cut_ms,
		cut == 0	       ? "every snapshot cut"
		: cut == SS_ETIMEOUT   ? "lock timeout"
		: cut == SS_ECANCELLED ? "the Backup is being deleted"
		: cut == SS_ENOTFOUND  ? "a snapshot was deleted"
				       : "snapshot failed");
}

/* Step 8, after END: what the session makes of the Backup. Deleted while
 * locked; the cut not seen in time or a snapshot lost (LockTimeout,
 * SnapshotLost); a snapshot failed (SnapshotFailed). Every cut was seen
 * before END: END itself must have worked (else LockLost, retried) and
 * each cut time the storage reports must fit the window (else
 * CutOutsideLock); then Uploading. CTRL_RUN_STOP or < 0 (a status that
 * still says Locked: retried as interrupted). */
static int backup_session_outcome(backup_session *s)
{
	backup_run *r = s->r;
	char why[SS_ERROR_MESSAGE_MAX + 256];
	int rc;

	if (s->cut == SS_ECANCELLED)
		return backup_deleted_while_locked(r, s->cand->pod);
	if (s->cut == SS_ETIMEOUT || s->cut == SS_ENOTFOUND)
		return backup_session_timed_out(r, s->end_why);
	if (s->cut < 0)
		return backup_fail(r, "SnapshotFailed", "VolumeSnapshot %s/%s: %s",
				   r->run.ns,
				   r->st.snapshots[s->failed_at].volume_snapshot_name,
				   r->st.snapshots[s->failed_at].error);
	if (s->end_rc < 0) {
		snprintf(why, sizeof(why),
			 "BACKUP STAGE END failed (%s): the lock connection died while "
			 "the snapshots were cut, so the server released the lock at an "
			 "unknown moment",
			 s->end_why);
		return backup_retry_attempt(r, "LockLost", why);
	}
	rc = backup_prove_cuts(r);
	if (rc != 0)
		return rc;
	r->st.phase = APP_BACKUP_UPLOADING;
	ctrl_run_message(&r->run,
			 "lock held %lld ms on %s; waiting for the storage to finish",
			 (long long)r->st.lock.held_ms, s->cand->pod);
	rc = backup_write_status(r);
	if (rc < 0)
		return rc;
	ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "Cut",
		       "%zu snapshot(s) of %s cut under BACKUP STAGE %s",
		       r->st.n_snapshots, s->cand->pod, r->st.lock.stage);
	return backup_requeue(r, r->bc->o.uploading_resync_ns);
}

/* Step 8: the lock session on server `cand` over connection `db`, in the
 * order that keeps its bound: lock (status Locked written before START),
 * position, the cut under the lock budget, END as soon as the cut is seen,
 * then the outcome. CTRL_RUN_STOP or < 0; the lock is never held on
 * return. */
static int backup_lock_session(backup_run *r, app_db *db,
			       const app_target_candidate *cand)
{
	backup_session s = { .r = r,
			     .db = db,
			     .cand = cand,
			     .attempt = r->st.attempts + 1,
			     .failed_at = -1 };
	int rc;

	rc = backup_session_lock(&s);
	if (rc == 0)
		rc = backup_session_position(&s);
	if (rc == 0)
		rc = backup_session_cut(&s);
	if (rc != 0)
		return rc;
	backup_session_release(&s);
	return backup_session_outcome(&s);
}

/* ---- steps --------------------------------------------------------------- */

/* Step 3, a snapshot's state after the cut: whether it was deleted or
 * failed since (run.message says which). */
static bool backup_snapshot_lost(backup_run *r, size_t i)
{
	app_snapshot_status *s = &r->st.snapshots[i];
	json_t *vs = NULL;
	app_vs_state vst;
	bool lost = false;
	app_backup_plan_vs_presence found =
		backup_cached_snapshot(&vs, r, s->volume_snapshot_name);

	if (found == APP_BACKUP_PLAN_VS_UNKNOWN)
		return false; /* cannot tell: looked at again */
	if (found != APP_BACKUP_PLAN_VS_PRESENT) { /* gone from the cache, or going */
		ctrl_run_message(&r->run,
				 "VolumeSnapshot %s/%s was deleted after its cut",
				 r->run.ns, s->volume_snapshot_name);
		lost = true;
	} else if (app_vs_state_read(&vst, vs) == 0) {
		if (vst.error != NULL) {
			ctrl_run_message(
				&r->run,
				"VolumeSnapshot %s/%s failed after its cut: %.400s",
				r->run.ns, s->volume_snapshot_name, vst.error);
			lost = true;
		}
		s->ready_to_use = vst.ready_to_use;
		s->restore_size_bytes = vst.restore_size_bytes;
	}
	json_decref(vs);
	return lost;
}

/* Step 3, each snapshot as the cache shows it: its readyToUse and size
 * into the status; *all_ready, and *total the sum of the sizes (-1 when
 * one is unknown). 0; CTRL_RUN_STOP when one was deleted or failed since
 * the cut (SnapshotLost, the other snapshots deleted); < 0. */
static int backup_uploading_look(backup_run *r, bool *all_ready, int64_t *total)
{
	size_t i;

	*all_ready = true;
	*total = 0;
	for (i = 0; i < r->st.n_snapshots; i++) {
		const app_snapshot_status *s = &r->st.snapshots[i];

		if (backup_snapshot_lost(r, i))
			return backup_snapshot_lost_fail(r);
		if (!s->ready_to_use)
			*all_ready = false;
		if (s->restore_size_bytes < 0 || *total < 0)
			*total = -1;
		else
			*total += s->restore_size_bytes;
	}
	return 0;
}

/* Step 3's end, every snapshot readyToUse: Complete (SnapshotsReady), the
 * Completed Event, the metrics. CTRL_RUN_STOP or < 0. */
static int backup_complete(backup_run *r, int64_t total)
{
	int rc;

	r->st.total_restore_size_bytes = total;
	r->st.phase = APP_BACKUP_COMPLETED;
	r->st.completion_ns = ss_clock_real(r->bc->o.clock);
	ctrl_run_message(&r->run, "%zu snapshot(s) ready; lock held %lld ms%s",
			 r->st.n_snapshots, (long long)r->st.lock.held_ms,
			 r->spec.target.role == APP_ROLE_PREFER_REPLICA &&
					 r->st.source_role &&
					 strcmp(r->st.source_role, "Primary") == 0
				 ? " on the primary: no replica qualified (see the "
				   "FellBackToPrimary Event)"
				 : "");
	ctrl_run_condition(&r->run, "Complete", CTRL_CONDITION_TRUE, "SnapshotsReady");
	rc = backup_write_status(r);
	if (rc < 0)
		return rc;
	ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "Completed", "%s", r->run.message);
	backup_observe_finish(r, "completed", "SnapshotsReady");
	return backup_done(r);
}

/* Step 3: outside the lock, wait for readyToUse on every snapshot, at most
 * spec.snapshot.readyTimeoutSeconds after the release: a snapshot deleted
 * or failed meanwhile is SnapshotLost, one never ready ReadyTimeout (the
 * snapshots are deleted either way), so no schedule waits behind it. */
static int backup_uploading(backup_run *r)
{
	int64_t now = ss_clock_real(r->bc->o.clock);
	int64_t limit = (int64_t)r->spec.snapshot.ready_timeout_seconds * SS_NS_PER_SEC;
	int64_t since = r->st.lock.released_ns ? r->st.lock.released_ns : r->st.start_ns;
	int64_t total, left;
	bool all_ready;
	int rc;

	backup_own_status(r);
	rc = backup_uploading_look(r, &all_ready, &total);
	if (rc != 0)
		return rc;
	if (all_ready)
		return backup_complete(r, total);
	if (since > 0 && now - since > limit) {
		backup_delete_snapshots(r);
		return backup_fail(
			r, "ReadyTimeout",
			"the storage did not make every snapshot readyToUse within "
			"spec.snapshot.readyTimeoutSeconds (%d s) after the cut; the "
			"snapshots were deleted",
			r->spec.snapshot.ready_timeout_seconds);
	}
	/* Nothing to write: the snapshot events bring us back, the timer at
	 * the bound at the latest. */
	left = since > 0 ? limit - (now - since) + SS_NS_PER_SEC : limit;
	return backup_requeue(r, left < r->bc->o.uploading_resync_ns
					 ? left
					 : r->bc->o.uploading_resync_ns);
}

/* The VolumeSnapshots `backup` lists that the cache holds, as an array (a
 * deleted one is simply not in it). 0, or the cache's error. */
static int backup_listed_snapshots(json_t **out, backup_run *r, const json_t *backup)
{
	const json_t *listed =
		json_object_get(json_object_get(backup, "status"), "snapshots");
	const json_t *entry;
	json_t *arr = json_array();
	size_t i;
	int rc = 0;

	if (arr == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	json_array_foreach((json_t *)listed, i, entry)
	{
		const char *name =
			json_string_value(json_object_get(entry, "volumeSnapshotName"));
		char key[CTRL_KEY_MAX];
		json_t *vs = NULL;

		if (name == NULL || ctrl_key_join(key, sizeof(key), r->run.ns, name) < 0)
			continue; /* no such object can exist */
		rc = ctrl_store_get(&vs, r->bc->o.snapshots, key);
		if (rc == SS_ENOTFOUND)
			rc = 0; /* deleted */
		else if (rc == 0 && json_array_append_new(arr, vs) != 0)
			rc = ss_error_set(SS_ENOMEM, "out of memory");
		if (rc < 0)
			goto cleanup;
	}
	*out = arr;
	arr = NULL;
cleanup:
	json_decref(arr);
	return rc;
}

static int backup_mutate_restorable(json_t *obj, void *payload)
{
	backup_run *r = payload;
	const app_backup_plan_restorability *rs = r->restorable;
	ctrl_condition c = { APP_CONDITION_RESTORABLE,
			     rs->restorable ? CTRL_CONDITION_TRUE : CTRL_CONDITION_FALSE,
			     rs->reason, rs->message, -1 };
	bool was_false = ctrl_condition_is_false(obj, APP_CONDITION_RESTORABLE);
	bool changed = false;
	int rc;

	r->turned_unrestorable = false;
	if (!ctrl_condition_is_true(obj, "Complete"))
		return CTRL_MUTATE_SKIP;
	rc = ctrl_condition_set(&changed, obj, &c, r->bc->o.clock);
	if (rc < 0)
		return rc;
	r->turned_unrestorable = changed && !was_false && !rs->restorable;
	return changed ? 0 : CTRL_MUTATE_SKIP;
}

/* Step 1 for a Complete Backup: the Restorable condition, from the
 * VolumeSnapshots in the cache (backup_plan.h), written when it changes. */
static int backup_restorable(backup_run *r, const json_t *cached)
{
	ctrl_write_opts wo = CTRL_WRITE_OPTS_INIT;
	app_backup_plan_restorability rs;
	json_t *snaps = NULL;
	int rc;

	/* Without the snapshot API the cache is empty, not the world; a
	 * Backup being deleted loses its snapshots by design. */
	if (r->bc->o.snapshot_api_missing || ctrl_meta(cached, "deletionTimestamp"))
		return backup_done(r);
	rc = backup_listed_snapshots(&snaps, r, cached);
	if (rc < 0)
		return rc;
	rc = app_backup_plan_restorable(&rs, cached, snaps);
	json_decref(snaps);
	if (rc < 0)
		return backup_done(r); /* no uid: not from the API server */
	r->restorable = &rs;
	wo.start = cached;
	rc = ctrl_write_status(&r->run.obj, r->bc->o.client, &app_backups, r->run.ns,
			       r->run.name, backup_mutate_restorable, r, &wo);
	if (rc == SS_ENOTFOUND)
		return backup_done(r);
	if (rc < 0)
		return rc;
	if (r->turned_unrestorable) {
		ss_log(SS_LOG_WARN, "backup not restorable", SS_LS("backup", r->run.key),
		       SS_LS("reason", rs.reason), SS_LS("message", rs.message));
		ctrl_run_event(&r->run, CTRL_EVENT_WARNING, "NotRestorable", "%s: %s",
			       rs.reason, rs.message);
	}
	return backup_done(r);
}

/* Step 1 for a Failed Backup: it keeps no VolumeSnapshots. A create the
 * API server finished after the lock session had given up on it (a slow
 * server under the lock budget) makes one appear later; its event brings
 * the Backup here, and it goes (owner-checked, uid precondition). */
static int backup_failed_snapshots(backup_run *r, const json_t *cached)
{
	json_t *snaps = NULL, *vs;
	size_t i;

	if (r->bc->o.snapshot_api_missing ||
	    backup_listed_snapshots(&snaps, r, cached) < 0)
		return backup_done(r);
	r->run.obj = json_incref(
		(json_t *)cached); /* backup_delete_snapshot() reads its uid */
	json_array_foreach(snaps, i, vs)
	{
		const char *name = ctrl_meta(vs, "name");

		if (name == NULL || ctrl_meta(vs, "deletionTimestamp") != NULL)
			continue;
		ss_log(SS_LOG_INFO, "deleting a failed Backup's VolumeSnapshot",
		       SS_LS("backup", r->run.key), SS_LS("snapshot", name));
		backup_delete_snapshot(r, name);
	}
	json_decref(snaps);
	return backup_done(r);
}

static const app_target_candidate *backup_find_pod(const app_target_candidates *cands,
						   const char *pod)
{
	size_t i;

	for (i = 0; pod && i < cands->n; i++)
		if (strcmp(cands->c[i].pod, pod) == 0)
			return &cands->c[i];
	return NULL;
}

/* Connects to the server of the pod the status names (status.sourcePod),
 * with the Backup's credentials: for cleaning up after an earlier session.
 * When that pod no longer exists or has no IP, *pod_gone is set and
 * SS_ENOTFOUND returned. */
static int backup_connect_source(app_db **out, bool *pod_gone, backup_run *r)
{
	app_target_candidates *cands = calloc(1, sizeof(*cands));
	const app_target_candidate *cand = NULL;
	const char *reason = NULL;
	app_credentials cred = { 0 };
	app_db_target t;
	int rc;

	*out = NULL;
	*pod_gone = false;
	if (cands == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (r->st.source_pod &&
	    app_target_resolve(cands, &r->spec.target, r->pods, &reason) == 0)
		cand = backup_find_pod(cands, r->st.source_pod);
	if (cand == NULL || cand->ip == NULL) {
		free(cands);
		*pod_gone = true;
		return ss_error_set(SS_ENOTFOUND, "pod %s/%s is gone", r->run.ns,
				    r->st.source_pod ? r->st.source_pod : "?");
	}
	rc = app_credentials_read(&cred, r->bc->o.client, r->run.ns,
				  &r->spec.target.connection, &reason);
	if (rc == 0) {
		app_credentials_db_target(&t, &r->spec.target.connection, &cred, cand->ip,
					  cand->port);
		rc = app_db_connect(out, &t);
		app_credentials_free(&cred);
	}
	free(cands);
	return rc;
}

/* KILLs the lock session of an earlier process the status records, if it
 * is still there and still ours (the session's marker); `killed` (cap
 * bytes) says what became of it. */
static void backup_kill_recorded(backup_run *r, char *killed, size_t cap)
{
	app_db *db = NULL;
	bool gone;
	int rc;

	snprintf(killed, cap, "no connection recorded");
	backup_own_status(r);
	if (r->st.lock.connection_id >= 0) {
		rc = backup_connect_source(&db, &gone, r);
		if (rc == 0)
			rc = app_db_kill_connection(db, r->st.lock.connection_id,
						    ctrl_meta(r->run.obj, "uid"));
		if (rc == 0)
			snprintf(killed, cap,
				 "its connection %lld was still open and was killed",
				 (long long)r->st.lock.connection_id);
		else if (rc == SS_ENOTFOUND && db)
			snprintf(killed, cap,
				 "its connection %lld had already ended (or now belongs "
				 "to another session, left alone)",
				 (long long)r->st.lock.connection_id);
		else
			snprintf(killed, cap,
				 "its connection %lld could not be checked: %.300s",
				 (long long)r->st.lock.connection_id,
				 ss_error_last()->message);
		app_db_close(db);
	}
}

/* Step 4: a lock session of an earlier process: its connection KILLed,
 * then the attempt retried or failed as Interrupted
 * (backup_retry_attempt). */
static int backup_interrupted(backup_run *r)
{
	char killed[512], why[640];

	backup_kill_recorded(r, killed, sizeof(killed));
	snprintf(why, sizeof(why), "interrupted (%s)", killed);
	return backup_retry_attempt(r, "Interrupted", why);
}

/* A Backup whose status says it stopped a replica's SQL threads, seen at
 * the start of a reconcile (the process died, or START failed): start them
 * again before anything else. 0 when nothing is left paused. */
static int backup_recover_paused(backup_run *r)
{
	app_db *db = NULL;
	bool gone;
	int rc;

	backup_own_status(r);
	rc = backup_connect_source(&db, &gone, r);
	if (gone) {
		/* The pod is gone (a new one starts replication afresh). */
		r->st.lock.replication_paused = false;
		backup_wake_held(r->bc, r->run.ns, r->st.source_pod);
		return backup_write_status(r);
	}
	if (rc == 0)
		rc = app_db_replication_resume(db);
	app_db_close(db);
	if (rc < 0)
		return rc;
	r->st.lock.replication_paused = false;
	backup_wake_held(r->bc, r->run.ns, r->st.source_pod);
	ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "ReplicationResumed",
		       "started the SQL threads of %s again: %s", r->st.source_pod,
		       app_backup_plan_paused_why(&r->st));
	return backup_write_status(r);
}

/* Step 0: a Backup being deleted that still carries our finalizer (it was
 * deleted while Locked or with its replica's SQL threads stopped, and the
 * process that ran the session died): end what the session left — KILL
 * its connection, start the SQL threads — then let the Backup go. A server
 * that cannot be reached keeps the finalizer (and so the record) and is
 * tried again; a pod that is gone took both with it. */
static int backup_deleting(backup_run *r)
{
	bool locked = r->st.has_phase && r->st.phase == APP_BACKUP_LOCKED;
	bool gone = false;
	app_db *db = NULL;
	int rc = 0;

	backup_own_status(r);
	if ((locked || r->st.lock.replication_paused) && r->st.source_pod) {
		rc = backup_connect_source(&db, &gone, r);
		if (rc == 0 && locked && r->st.lock.connection_id >= 0) {
			rc = app_db_kill_connection(db, r->st.lock.connection_id,
						    ctrl_meta(r->run.obj, "uid"));
			rc = rc == SS_ENOTFOUND ? 0 : rc;
		}
		if (rc == 0 && r->st.lock.replication_paused)
			rc = app_db_replication_resume(db);
		app_db_close(db);
		if (rc < 0 && !gone) {
			ss_log(SS_LOG_WARN,
			       "cleaning up a deleted backup failed; retrying",
			       SS_LS("backup", r->run.key), SS_LERR());
			return rc;
		}
		ctrl_run_event(
			&r->run, CTRL_EVENT_NORMAL, "CleanedUp",
			"the Backup was deleted %s; %s", locked ? "while Locked" : "",
			gone ? "its pod is gone"
			     : "its lock session was ended and its replica's SQL threads "
			       "started");
		backup_wake_held(r->bc, r->run.ns, r->st.source_pod);
	}
	rc = backup_set_finalizer(r, false);
	return rc < 0 ? rc : backup_done(r);
}

static const char *backup_or_empty(const char *s)
{
	return s ? s : "";
}

/* The identity a remembered probe of `c` is kept under (turns.h):
 * everything but the server's own state that can change its verdict —
 * the pod (uid, address), the connection spec (Secret and key names, TLS,
 * timeout) and the lag bound. Names only, never a Secret's value. */
static void backup_probe_identity(char *out, size_t cap, const backup_run *r,
				  const app_target_candidate *c)
{
	const app_connection *k = &r->spec.target.connection;

	snprintf(out, cap, "%s|%s:%d|%s|%s|%s|%d|%s|%s|%d|%d", backup_or_empty(c->uid),
		 backup_or_empty(c->ip), c->port, backup_or_empty(k->credentials.name),
		 backup_or_empty(k->credentials.username_key),
		 backup_or_empty(k->credentials.password_key), (int)k->tls_mode,
		 backup_or_empty(k->ca_secret_name), backup_or_empty(k->ca_secret_key),
		 k->connect_timeout_seconds, r->spec.target.max_replication_lag_seconds);
}

/* Connects to candidate c and probes it: 0 with the verdict and the open
 * connection (*db), or the error (in p->rc and p->error). */
static int backup_probe_one(backup_run *r, const app_target_candidate *c,
			    const app_credentials *cred, app_backup_plan_probe *p,
			    app_db **db)
{
	app_db_target t;
	app_db_status dst;
	int rc;

	app_credentials_db_target(&t, &r->spec.target.connection, cred, c->ip, c->port);
	rc = app_db_connect(db, &t);
	if (rc == 0)
		rc = app_db_probe(&dst, *db);
	p->rc = rc;
	if (rc < 0) {
		ss_strlcpy(p->error, ss_error_last()->message, sizeof(p->error));
		return rc;
	}
	app_db_classify(&p->verdict, &dst, r->spec.target.max_replication_lag_seconds);
	return 0;
}

/* Step 6: what each ready candidate is. A server in a lock session of ours
 * is as its holder chose it; one probed within the probe TTL with the same
 * identity is as it was then (no connection; remembered[i] set); any other
 * is probed now and its connection kept in dbs[i] (the chosen one's
 * becomes the lock connection). Each gets its last use, to spread the
 * sessions. */
static void backup_probe_candidates(backup_run *r, const app_target_candidates *cands,
				    const app_credentials *cred,
				    app_backup_plan_probe *probes, app_db **dbs,
				    bool *remembered)
{
	app_turns *turns = r->bc->turns;
	char server[CTRL_KEY_MAX], id[APP_TURNS_IDENTITY_MAX];
	size_t i;

	for (i = 0; i < cands->n; i++) {
		const app_target_candidate *c = &cands->c[i];
		bool keyed;

		if (!c->ready)
			continue;
		keyed = ctrl_key_join(server, sizeof(server), r->run.ns, c->pod) == 0;
		backup_probe_identity(id, sizeof(id), r, c);
		if (keyed) {
			probes[i].last_used = app_turns_last_used(turns, server);
			if (app_turns_busy(turns, server, &probes[i].verdict))
				continue;
			remembered[i] = app_turns_probe_get(turns, server, id,
							    ss_clock_mono(r->bc->o.clock),
							    &probes[i].verdict);
			if (remembered[i])
				continue;
		}
		if (backup_probe_one(r, c, cred, &probes[i], &dbs[i]) == 0 && keyed)
			app_turns_probe_put(turns, server, id, &probes[i].verdict,
					    ss_clock_mono(r->bc->o.clock));
	}
}

/* Step 6: a Failed reason or a fallback to the primary is never decided on
 * remembered probes (a replica stopped a second ago may run again now):
 * the candidates whose verdicts came from memory are probed afresh, here,
 * so the choice made next is on fresh probes only. Whether there were
 * any. */
static bool backup_reprobe_remembered(backup_run *r, const app_target_candidates *cands,
				      const app_credentials *cred,
				      app_backup_plan_probe *probes, app_db **dbs,
				      bool *remembered)
{
	char server[CTRL_KEY_MAX], id[APP_TURNS_IDENTITY_MAX];
	bool any = false;
	size_t i;

	for (i = 0; i < cands->n; i++) {
		if (!remembered[i])
			continue;
		remembered[i] = false;
		any = true;
		if (ctrl_key_join(server, sizeof(server), r->run.ns, cands->c[i].pod) < 0)
			continue;
		app_turns_probe_drop(r->bc->turns, server);
		memset(&probes[i].verdict, 0, sizeof(probes[i].verdict));
		if (backup_probe_one(r, &cands->c[i], cred, &probes[i], &dbs[i]) < 0)
			continue;
		backup_probe_identity(id, sizeof(id), r, &cands->c[i]);
		app_turns_probe_put(r->bc->turns, server, id, &probes[i].verdict,
				    ss_clock_mono(r->bc->o.clock));
	}
	return any;
}

/* Step 7, the chosen server's verdict came from memory (another session
 * held it, or it was probed moments ago): connect and probe it now, on the
 * connection that will lock it. True when it still is what it was chosen
 * as; false when it changed or could not be probed: its remembered probe
 * is dropped, so the next choice probes it (and names a failure). */
static bool backup_connect_chosen(backup_run *r, const app_target_candidate *cand,
				  const char *server, const app_credentials *cred,
				  const app_backup_plan_probe *was, app_db **db)
{
	app_backup_plan_probe now = { 0 };
	char id[APP_TURNS_IDENTITY_MAX];
	int rc = backup_probe_one(r, cand, cred, &now, db);

	if (rc == 0 && now.verdict.kind == was->verdict.kind) {
		backup_probe_identity(id, sizeof(id), r, cand);
		app_turns_probe_put(r->bc->turns, server, id, &now.verdict,
				    ss_clock_mono(r->bc->o.clock));
		return true;
	}
	ss_log(SS_LOG_INFO, "the chosen server is not what it was: choosing again",
	       SS_LS("backup", r->run.key), SS_LS("pod", cand->pod),
	       SS_LS("was", app_db_kind_name(was->verdict.kind)),
	       SS_LS("now", rc == 0 ? app_db_kind_name(now.verdict.kind) : now.error));
	app_turns_probe_drop(r->bc->turns, server);
	app_db_close(*db);
	*db = NULL;
	return false;
}

/* Step 7: status Queued while the chosen server is in another Backup's
 * session. The Event is recorded once, when the Backup starts waiting;
 * the status message names the current holder. It is woken when a server
 * it waits for ends its session (backup_give_back), queued_retry_ns at the
 * latest (registered false: the wait list is full, look again in 1 s). */
static int backup_queued(backup_run *r, const app_target_candidate *cand,
			 const char *other, size_t n_also, bool registered)
{
	bool was = r->st.has_phase && r->st.phase == APP_BACKUP_QUEUED;
	char msg[MSG_MAX];
	int rc;

	snprintf(msg, sizeof(msg),
		 "waiting for Backup %s, which holds a lock session on %s%s", other,
		 cand->pod,
		 n_also > 0 ? " (the replicas as healthy are in sessions too; the "
			      "first free one is taken)"
			    : "");
	if (!(was && r->st.message && strcmp(r->st.message, msg) == 0)) {
		r->st.has_phase = true;
		r->st.phase = APP_BACKUP_QUEUED;
		ctrl_run_message(&r->run, "%s", msg);
		rc = backup_write_status(r);
		if (rc < 0)
			return rc;
		if (!was)
			ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "Queued", "%s", msg);
	}
	return backup_requeue(r, registered ? r->bc->o.queued_retry_ns : SS_NS_PER_SEC);
}

/* Step 7: the turn on the chosen server, or a place among those waiting for
 * it and for every other server it would take as gladly (see
 * app_backup_plan_equally_good). Fills *n_also. */
static app_turns_outcome backup_take_turn(backup_run *r,
					  const app_target_candidates *cands,
					  const app_backup_plan_probe *probes, int chosen,
					  const char *server, char *other, size_t cap,
					  size_t *n_also)
{
	char keys[APP_TURNS_MAX_WAIT_SERVERS][CTRL_KEY_MAX];
	const char *also[APP_TURNS_MAX_WAIT_SERVERS];
	const json_t *gen =
		json_object_get(json_object_get(r->run.obj, "metadata"), "generation");
	app_turns_want w = { r->run.key,
			     &probes[chosen].verdict,
			     also,
			     0,
			     json_is_integer(gen) ? json_integer_value(gen) : 0,
			     ss_clock_mono(r->bc->o.clock) };
	size_t j;

	for (j = 0; j < cands->n && w.n_also < APP_TURNS_MAX_WAIT_SERVERS; j++) {
		if (!app_backup_plan_equally_good(cands, probes, chosen, (int)j) ||
		    ctrl_key_join(keys[w.n_also], sizeof(keys[0]), r->run.ns,
				  cands->c[j].pod) < 0)
			continue;
		also[w.n_also] = keys[w.n_also];
		w.n_also++;
	}
	*n_also = w.n_also;
	return app_turns_take(r->bc->turns, server, &w, other, cap);
}

/* Step 8 on the server whose turn this Backup has (`server`, connection
 * `db`): the finalizer, the replica's SQL threads stopped, the lock
 * session; then the turn ends, waking the next Backup waiting for it. */
static int backup_on_server(backup_run *r, const app_target_candidate *cand,
			    const app_backup_plan_choice *choice, const char *server,
			    app_db *db)
{
	int rc, wrc;

	ss_strlcpy(r->source_pod, cand->pod, sizeof(r->source_pod));
	r->st.source_pod = r->source_pod;
	r->st.source_role = choice->role;
	/* The finalizer first: from here on a lock or stopped SQL threads may
	 * exist, and the Backup must not vanish before they are ended. */
	rc = backup_set_finalizer(r, true);
	if (rc < 0) {
		backup_give_back(r->bc, server, false);
		return rc;
	}
	if (choice->fell_back)
		ctrl_run_event(&r->run, CTRL_EVENT_WARNING, "FellBackToPrimary", "%s",
			       choice->message);
	/* On a replica, stop the SQL threads between event groups first
	 * (db.h: app_db_replication_pause), recorded before it happens so
	 * that a restarted controller knows to start them again. */
	if (strcmp(choice->role, "Replica") == 0) {
		r->st.lock.replication_paused = true;
		ctrl_run_message(&r->run, "pausing replication on %s for the cut",
				 cand->pod);
		rc = backup_write_status(r);
		if (rc < 0) {
			backup_give_back(r->bc, server, false);
			return rc;
		}
		if (app_db_replication_pause(db) < 0) {
			char why[SS_ERROR_MESSAGE_MAX];
			int code = ss_error_last()->code;

			ss_strlcpy(why, ss_error_last()->message, sizeof(why));
			/* STOP may have half-worked: START is harmless either way. */
			backup_resume_replication(r, db, cand->pod);
			rc = backup_fail(r, backup_db_reason(code),
					 "pausing replication on %s: %s", cand->pod, why);
			backup_give_back(r->bc, server, true);
			return rc;
		}
	}
	rc = backup_lock_session(r, db, cand);
	if (choice->fell_back && rc >= 0 && r->st.phase == APP_BACKUP_UPLOADING) {
		/* Keep the fallback note where people look. */
		ctrl_run_message(&r->run, "%s; lock held %lld ms", choice->message,
				 (long long)r->st.lock.held_ms);
		wrc = backup_write_status(r);
		if (wrc < 0)
			rc = wrc;
	}
	backup_give_back(r->bc, server, true);
	return rc;
}

/* Step 7 and 8 for the choice made: the turn on the chosen server, or
 * Queued; the server probed again when its verdict came from memory
 * (*db NULL: backup_connect_chosen); then the session. */
static int backup_turn(backup_run *r, const app_target_candidates *cands,
		       const app_backup_plan_probe *probes,
		       const app_backup_plan_choice *choice, const app_credentials *cred,
		       app_db **db)
{
	const app_target_candidate *cand = &cands->c[choice->chosen];
	char server[CTRL_KEY_MAX], other[CTRL_KEY_MAX] = "";
	app_turns_outcome turn;
	size_t n_also = 0;

	if (ctrl_key_join(server, sizeof(server), r->run.ns, cand->pod) < 0)
		return -1;
	turn = backup_take_turn(r, cands, probes, choice->chosen, server, other,
				sizeof(other), &n_also);
	if (turn == APP_TURNS_RETRY)
		return backup_requeue(r, 0);
	if (turn != APP_TURNS_TAKEN)
		return backup_queued(r, cand, other[0] ? other : "(too many at once)",
				     n_also, turn == APP_TURNS_QUEUED);
	ss_strlcpy(r->taken, server, sizeof(r->taken));
	if (*db == NULL &&
	    !backup_connect_chosen(r, cand, server, cred, &probes[choice->chosen], db)) {
		backup_give_back(r->bc, server, false);
		return backup_requeue(r, 0);
	}
	return backup_on_server(r, cand, choice, server, *db);
}

/* Steps 6-8's findings: the target's candidates, each one's probe and
 * open connection (the chosen one's becomes the lock connection), the
 * credentials and the choice. Owned by backup_session_steps(). */
typedef struct {
	app_target_candidates *cands;
	app_backup_plan_probe *probes; /* APP_TARGET_MAX_CANDIDATES */
	app_credentials cred;
	app_db *dbs[APP_TARGET_MAX_CANDIDATES];
	bool remembered[APP_TARGET_MAX_CANDIDATES];
	app_backup_plan_choice choice;
	/* The Backup cache's objects, read when a replica probed unhealthy:
	 * the probes' paused_by point into them (owned; NULL: not read). */
	json_t *backups;
} backup_servers;

/* Step 6: which unhealthy replicas another Backup's status says its lock
 * session stopped (probes[i].paused_by, app_backup_plan_pause_claim) — after a
 * restart the only record of the sessions of the process before, which
 * stopped their SQL threads. The cache is read only when a probe saw an
 * unhealthy replica. 0 or < 0. */
static int backup_mark_paused(backup_run *r, backup_servers *sv)
{
	const char *self = ctrl_meta(r->run.obj, "name");
	size_t i;

	for (i = 0; i < sv->cands->n; i++) {
		app_backup_plan_probe *p = &sv->probes[i];

		p->paused_by = NULL;
		if (!sv->cands->c[i].ready || p->rc != 0 ||
		    p->verdict.kind != APP_DB_UNHEALTHY_REPLICA)
			continue;
		if (sv->backups == NULL &&
		    ctrl_store_list(&sv->backups, r->bc->o.backups) < 0) {
			sv->backups = NULL;
			return -1;
		}
		p->paused_by = app_backup_plan_pause_claim(sv->backups, r->run.ns, self,
							   sv->cands->c[i].pod);
	}
	return 0;
}

/* Step 7 when the replica to take is held by another Backup's stopped SQL
 * threads (app_backup_plan_held), which no turn records: Queued as for a server
 * in a session, waiting for it and every other held replica; woken when
 * one's threads are started again (backup_wake_held), queued_retry_ns at
 * the latest. */
static int backup_wait_held(backup_run *r, const backup_servers *sv)
{
	int held = sv->choice.waits_for;
	const app_target_candidate *cand = &sv->cands->c[held];
	char keys[APP_TURNS_MAX_WAIT_SERVERS][CTRL_KEY_MAX];
	char server[CTRL_KEY_MAX], other[CTRL_KEY_MAX];
	const char *also[APP_TURNS_MAX_WAIT_SERVERS];
	const json_t *gen =
		json_object_get(json_object_get(r->run.obj, "metadata"), "generation");
	app_turns_want w = { r->run.key,
			     &sv->probes[held].verdict,
			     also,
			     0,
			     json_is_integer(gen) ? json_integer_value(gen) : 0,
			     ss_clock_mono(r->bc->o.clock) };
	size_t j;

	if (ctrl_key_join(server, sizeof(server), r->run.ns, cand->pod) < 0 ||
	    ctrl_key_join(other, sizeof(other), r->run.ns, sv->probes[held].paused_by) < 0)
		return -1;
	for (j = 0; j < sv->cands->n && w.n_also < APP_TURNS_MAX_WAIT_SERVERS; j++) {
		if ((int)j == held ||
		    !app_backup_plan_held(&sv->cands->c[j], &sv->probes[j]) ||
		    ctrl_key_join(keys[w.n_also], sizeof(keys[0]), r->run.ns,
				  sv->cands->c[j].pod) < 0)
			continue;
		also[w.n_also] = keys[w.n_also];
		w.n_also++;
	}
	ss_log(SS_LOG_INFO, "waiting for a replica another Backup paused",
	       SS_LS("backup", r->run.key), SS_LS("why", sv->choice.message));
	return backup_queued(r, cand, other, w.n_also,
			     app_turns_wait(r->bc->turns, server, &w) == APP_TURNS_QUEUED);
}

/* The start of the Backup's first try: its start time and the Started
 * Event. */
static void backup_started(backup_run *r)
{
	if (r->st.start_ns != 0)
		return;
	r->st.start_ns = ss_clock_real(r->bc->o.clock);
	ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "Started", "backing up %s %s",
		       r->spec.target.statefulset_name ? "StatefulSet"
						       : "the pods of a selector",
		       backup_or_empty(r->spec.target.statefulset_name));
}

/* Step 5: the snapshot API and the class, or the Backup Failed with the
 * reason (CTRL_RUN_STOP); an API error < 0. 0 to go on. */
static int backup_check_cluster(backup_run *r)
{
	const char *reason = NULL;
	int rc = backup_check_snapshot_api(r, &reason);

	if (rc >= 0)
		return 0;
	if (reason)
		return backup_fail(r, reason, "%s", ss_error_last()->message);
	return rc;
}

/* Step 6: the target's pods and claims, the credentials, what each ready
 * pod is (backup_probe_candidates) and the choice — made again on fresh
 * probes before a Failed reason or a fallback to the primary is decided
 * (backup_reprobe_remembered). 0 with sv->choice.chosen >= 0, or with
 * sv->choice.waits_for >= 0 (a replica another Backup's session stopped:
 * wait for it, backup_wait_held); else the Backup Failed (CTRL_RUN_STOP)
 * or < 0. */
static int backup_choose(backup_run *r, backup_servers *sv)
{
	app_role role = r->spec.target.role;
	const char *reason = NULL;

	sv->cands = calloc(1, sizeof(*sv->cands));
	sv->probes = calloc(APP_TARGET_MAX_CANDIDATES, sizeof(*sv->probes));
	if (sv->cands == NULL || sv->probes == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (app_target_resolve(sv->cands, &r->spec.target, r->pods, &reason) < 0)
		return backup_fail(r, reason ? reason : "TargetNotFound", "%s",
				   ss_error_last()->message);
	if (app_credentials_read(&sv->cred, r->bc->o.client, r->run.ns,
				 &r->spec.target.connection, &reason) < 0) {
		if (reason)
			return backup_fail(r, reason, "%s", ss_error_last()->message);
		return -1;
	}
	backup_probe_candidates(r, sv->cands, &sv->cred, sv->probes, sv->dbs,
				sv->remembered);
	if (backup_mark_paused(r, sv) < 0)
		return -1;
	app_backup_plan_choose(&sv->choice, sv->cands, sv->probes, role);
	if ((sv->choice.chosen < 0 || sv->choice.fell_back) &&
	    backup_reprobe_remembered(r, sv->cands, &sv->cred, sv->probes, sv->dbs,
				      sv->remembered)) {
		if (backup_mark_paused(r, sv) < 0)
			return -1;
		app_backup_plan_choose(&sv->choice, sv->cands, sv->probes, role);
	}
	if (sv->choice.chosen < 0 && sv->choice.waits_for < 0)
		return backup_fail(r, sv->choice.reason, "%s", sv->choice.message);
	return 0;
}

/* Steps 5-8 (the lane's workers): the cluster, the choice of server, its
 * turn and the lock session. */
static int backup_session_steps(backup_run *r)
{
	backup_servers sv;
	size_t i;
	int rc;

	memset(&sv, 0, sizeof(sv));
	backup_own_status(r);
	backup_started(r);
	/* 5 */
	rc = backup_check_cluster(r);
	if (rc != 0)
		return rc;
	/* 6 */
	rc = backup_choose(r, &sv);
	/* 7-8 */
	if (rc == 0 && sv.choice.chosen < 0)
		rc = backup_wait_held(r, &sv);
	else if (rc == 0)
		rc = backup_turn(r, sv.cands, sv.probes, &sv.choice, &sv.cred,
				 &sv.dbs[sv.choice.chosen]);
	for (i = 0; i < APP_TARGET_MAX_CANDIDATES; i++)
		app_db_close(sv.dbs[i]);
	app_credentials_free(&sv.cred);
	json_decref(sv.backups);
	free(sv.cands);
	free(sv.probes);
	return rc;
}

/* Whether obj's status says its lock session stopped a replica's SQL
 * threads and did not start them again. */
static bool backup_paused(const json_t *obj)
{
	return json_is_true(
		json_object_get(json_object_get(json_object_get(obj, "status"), "lock"),
				"replicationPaused"));
}

static bool backup_finished(const json_t *obj)
{
	return ctrl_condition_is_true(obj, "Complete") ||
	       ctrl_condition_is_true(obj, "Failed");
}

/* Whether a reconcile of the cached Backup would go on to steps 5-8, where
 * a lock session may start: there, not finished, not being deleted, and
 * with no phase yet, Pending or Queued. Such a Backup is handed to the
 * lane (backup.h); the cache may lag, but the lane reads the API's latest
 * copy and does whatever that says. */
static bool backup_wants_session(const json_t *cached)
{
	const char *phase = json_string_value(
		json_object_get(json_object_get(cached, "status"), "phase"));

	return cached != NULL && ctrl_meta(cached, "deletionTimestamp") == NULL &&
	       !backup_finished(cached) &&
	       (phase == NULL ||
		strcmp(phase, app_backup_phase_name(APP_BACKUP_PENDING)) == 0 ||
		strcmp(phase, app_backup_phase_name(APP_BACKUP_QUEUED)) == 0);
}

/* How long the cached Backup, Pending after an untrusted attempt, still
 * waits before its next lock session (status.nextAttemptTime): 0 when it
 * may start now. A reconcile it is woken for meanwhile (its own status
 * write, a snapshot event) ends at once and looks again then. */
static int64_t backup_attempt_wait(app_backup_ctrl *bc, const json_t *cached)
{
	app_backup_status st;

	if (app_backup_status_decode(&st, cached) < 0)
		return 0;
	return app_backup_plan_attempt_wait_ns(st.next_attempt_ns,
					       ss_clock_real(bc->o.clock));
}

/* Whether the Backup `key` (`cached`, NULL when gone) waits for a server
 * and nothing woke it: then the reconcile ends at once (*res: look again
 * when its patience runs out) — no probe, no API request. Its own status
 * writes bring it here. A spec edit or a deletion lets it through. */
static bool backup_waits_quietly(app_backup_ctrl *bc, const char *key,
				 const json_t *cached, ctrl_result *res)
{
	const json_t *gen =
		json_object_get(json_object_get(cached, "metadata"), "generation");
	int64_t g = -1, left = 0;

	if (cached != NULL && ctrl_meta(cached, "deletionTimestamp") == NULL)
		g = json_is_integer(gen) ? json_integer_value(gen) : 0;
	if (!app_turns_begin(bc->turns, key, g, ss_clock_mono(bc->o.clock),
			     bc->o.queued_retry_ns, &left))
		return false;
	*res = ctrl_result_requeue_after(left);
	return true;
}

/* The end of a reconcile of `key`, which took a turn on `taken` ("" none):
 * a wake it did not use goes to the next Backup waiting (turns.h). */
static void backup_wake_on(app_backup_ctrl *bc, const char *key, const char *taken)
{
	char woken[CTRL_KEY_MAX];

	if (app_turns_end(bc->turns, key, taken[0] ? taken : NULL, woken,
			  sizeof(woken)) &&
	    bc->o.queue)
		ctrl_workqueue_add(bc->o.queue, woken);
}

/* Whether the reconcile of `key` ends before it starts (*res), by the
 * cache's copy `cached` (NULL: gone): a Backup that may start a lock
 * session goes to the lane (or waits for its next attempt), one waiting
 * for a server that nothing woke stays quiet. Neither ends a turn
 * (backup_wake_on). */
static bool backup_gate(app_backup_ctrl *bc, const char *key, const json_t *cached,
			bool in_lane, ctrl_result *res)
{
	int64_t wait;

	if (!in_lane && backup_wants_session(cached)) {
		wait = backup_attempt_wait(bc, cached);
		*res = wait > 0 ? ctrl_result_requeue_after(wait) : ctrl_result_handoff();
		return true;
	}
	return backup_waits_quietly(bc, key, cached, res);
}

/* Step 1 by the cache's copy: nothing to do when it is gone; a finished
 * Backup without our finalizer is left alone but for a Complete one's
 * Restorable condition and a Failed one's snapshots. 0 to read the API's
 * copy. */
static int backup_look_cached(backup_run *r, const json_t *cached)
{
	if (cached == NULL)
		return backup_done(r);
	if (backup_finished(cached) && !backup_paused(cached) &&
	    !backup_has_finalizer(cached))
		return ctrl_condition_is_true(cached, "Complete")
			       ? backup_restorable(r, cached)
			       : backup_failed_snapshots(r, cached);
	return 0;
}

/* Step 2's InvalidSpec (and the like: `reason`), in its message what
 * became of a session the status still records. */
static int backup_spec_failed(backup_run *r)
{
	char killed[512];

	if (r->st.has_phase && r->st.phase == APP_BACKUP_LOCKED) {
		if (r->target_ok)
			backup_kill_recorded(r, killed, sizeof(killed));
		else
			snprintf(killed, sizeof(killed),
				 "connection %lld not reached without a valid "
				 "spec.target; the server's wait_timeout ends it",
				 (long long)r->st.lock.connection_id);
		return backup_fail(r, r->bad_reason, "%s (its lock session: %s)",
				   r->bad_spec, killed);
	}
	if (r->st.lock.replication_paused && r->st.source_pod)
		return backup_fail(r, r->bad_reason,
				   "%s; the SQL threads of %s this Backup stopped "
				   "stay stopped until spec.target is valid again",
				   r->bad_spec, r->st.source_pod);
	return backup_fail(r, r->bad_reason, "%s", r->bad_spec);
}

/* Step 2 when the spec does not decode (a spec edited since the session,
 * or a stricter controller): Failed, but a Backup whose status records a
 * lock session or stopped SQL threads first has them ended by spec.target
 * alone, all that cleaning up needs — step 0 runs, then
 * backup_spec_failed(). 0 to go on to step 0 so; else the step's end. */
static int backup_spec_unusable(backup_run *r, const char *reason)
{
	bool locked = r->st.has_phase && r->st.phase == APP_BACKUP_LOCKED;

	r->bad_reason = reason ? reason : "InvalidSpec";
	snprintf(r->bad_spec, sizeof(r->bad_spec), "%s", ss_error_last()->message);
	r->target_ok = app_backup_spec_decode_target(&r->spec.target, r->run.obj) == 0;
	if ((locked || r->st.lock.replication_paused) && r->st.source_pod && r->target_ok)
		return 0;
	return backup_spec_failed(r);
}

/* Steps 1-2 from the API's latest copy (a lock session is only ever
 * started from it): gone, or deleted without our finalizer, is done; a
 * finished one is left alone (its finalizer goes at the end); then the
 * spec (InvalidSpec) and the namespace's Pods. 0 to go on. */
static int backup_load(backup_run *r)
{
	const char *reason = NULL;
	int rc;

	rc = ctrl_run_read(&r->run, NULL, true);
	if (rc != 0)
		return rc;
	if (ctrl_meta(r->run.obj, "deletionTimestamp") &&
	    !backup_has_finalizer(r->run.obj))
		return backup_done(r);
	app_backup_status_decode(&r->st, r->run.obj);
	if (backup_finished(r->run.obj) && !backup_paused(r->run.obj))
		return backup_done(r); /* the finalizer goes at the end */
	/* 2: the spec borrows from this copy, which the run keeps */
	if (ctrl_run_hold(&r->run, json_incref(r->run.obj)) == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (app_backup_spec_decode(&r->spec, r->run.obj, &reason) < 0 &&
	    (rc = backup_spec_unusable(r, reason)) != 0)
		return rc;
	rc = ctrl_store_by_index(&r->pods, r->bc->o.pods, APP_INDEX_NAMESPACE, r->run.ns);
	return rc < 0 ? rc : 0;
}

/* Steps 0 and 3-8 of the Backup loaded; 5-8 only on the lane's workers
 * (`in_lane`: elsewhere the cache said otherwise, and lagged), once the
 * pause after an untrusted attempt is over. */
static int backup_steps(backup_run *r, bool in_lane)
{
	int64_t wait;
	int rc;

	/* 0 */
	if (ctrl_meta(r->run.obj, "deletionTimestamp"))
		return backup_deleting(r);
	if (r->st.lock.replication_paused && r->st.source_pod) {
		rc = backup_recover_paused(r);
		if (rc < 0)
			return rc;
	}
	if (backup_finished(r->run.obj))
		return backup_done(r);
	/* 2's end: a spec that does not decode, after step 0 cleaned up */
	if (r->bad_spec[0])
		return backup_spec_failed(r);
	/* 3 */
	if (r->st.has_phase && r->st.phase == APP_BACKUP_UPLOADING)
		return backup_uploading(r);
	/* 4 */
	if (r->st.has_phase && r->st.phase == APP_BACKUP_LOCKED)
		return backup_interrupted(r);
	/* 5-8 */
	wait = app_backup_plan_attempt_wait_ns(r->st.next_attempt_ns,
					       ss_clock_real(r->bc->o.clock));
	if (wait > 0)
		return backup_requeue(r, wait);
	return in_lane ? backup_session_steps(r)
		       : ctrl_run_stop(&r->run, ctrl_result_handoff());
}

/* The end of a reconcile whose steps returned `rc`: the finalizer stays
 * exactly while a lock session or stopped SQL threads may exist, so a
 * reconcile that went well removes it otherwise — from a Backup being
 * deleted too: a finished one stops before step 0, and its finalizer (left
 * by a crash between finishing and removing it) would otherwise stay for
 * ever, and the deletion with it. rc, or the removal's error. */
static int backup_drop_finalizer(backup_run *r, int rc)
{
	int frc;

	if (rc < 0 || r->run.obj == NULL || !backup_has_finalizer(r->run.obj) ||
	    (r->st.has_phase && r->st.phase == APP_BACKUP_LOCKED) ||
	    r->st.lock.replication_paused)
		return rc;
	frc = backup_set_finalizer(r, false);
	return frc < 0 ? frc : rc;
}

/* One reconcile (backup.h); `in_lane`: on the lane's workers, where steps
 * 5-8 run. */
static ctrl_result backup_reconcile(app_backup_ctrl *bc, const char *key, bool in_lane)
{
	backup_run *r = calloc(1, sizeof(*r));
	json_t *cached = NULL;
	ctrl_result res;
	int rc;

	if (r == NULL) {
		ss_error_set(SS_ENOMEM, "out of memory");
		return ctrl_result_error();
	}
	r->bc = bc;
	/* 1: the cache says whether there is anything to do (SS_ENOTFOUND:
	 * gone, cached stays NULL). */
	rc = ctrl_store_get(&cached, bc->o.backups, key);
	if (rc < 0 && rc != SS_ENOTFOUND) {
		free(r);
		return ctrl_result_error();
	}
	if (backup_gate(bc, key, cached, in_lane, &res)) {
		json_decref(cached);
		free(r);
		return res;
	}
	rc = ctrl_run_init(&r->run, &bc->run_opts, key, r);
	r->run.status_message = &r->st.message;
	if (rc == 0)
		rc = backup_look_cached(r, cached);
	else
		rc = backup_done(r); /* a key that names no Backup */
	json_decref(cached);
	if (rc == 0)
		rc = backup_load(r);
	if (rc == 0)
		rc = backup_steps(r, in_lane);
	res = ctrl_run_result(&r->run, backup_drop_finalizer(r, rc));
	backup_wake_on(bc, key, r->taken);
	json_decref(r->pods);
	ctrl_run_finish(&r->run);
	free(r);
	return res;
}

ctrl_result app_backup_reconcile(void *payload, const char *key)
{
	return backup_reconcile(payload, key, false);
}

ctrl_result app_backup_reconcile_session(void *payload, const char *key)
{
	return backup_reconcile(payload, key, true);
}
