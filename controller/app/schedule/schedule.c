/*
 * schedule.c — the BackupSchedule reconciler; see schedule.h for the steps
 * and schedule_plan.h for the rules. A reconcile is a ctrl/run.h run, its
 * steps (schedule_steps) in that header's result convention.
 *
 * Invariants:
 *   - every Backup this controller creates has a name computed from the
 *     schedule and what it stands for (the due time, the run-now token,
 *     "once"), so a retry, a restart or a stale read finds it already
 *     there (AlreadyExists) instead of making a second one;
 *   - status.lastScheduleTime is the cursor of due times handled; it is
 *     read from the API's copy of the schedule, never from the cache;
 *   - a status write happens once per reconcile, and not at all when
 *     nothing changed, so the schedule's own update event settles;
 *   - only the schedule's own Backups (label and uid, retention.h
 *     app_retention_is_own) are counted as its runs or pruned;
 *   - no due time goes without a trace: it runs, or is skipped or missed
 *     with an Event that names the cause (schedule_plan.h); a change of
 *     Ready to False is an Event too; a create the API server refuses as
 *     invalid ends in Ready False BackupRejected, never a retry loop, and
 *     other failures are retried at most APP_SCHEDULE_PLAN_RETRY_CAP_SECONDS
 *     apart (less with a short startingDeadlineSeconds).
 *
 * Thread-safety: `mu` guards the zone cache only; reconciles do their I/O
 * without it. A cached zone is never freed before the controller.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api/api.h"
#include "app/api/index.h"
#include "app/api/names.h"
#include "app/api/target.h"
#include "app/db/binlog_reach.h"
#include "app/db/credentials.h"
#include "app/db/db.h"
#include "app/schedule/pitr_window.h"
#include "app/schedule/retention.h"
#include "app/schedule/schedule.h"
#include "app/schedule/schedule_plan.h"
#include "ctrl/conditions.h"
#include "ctrl/object.h"
#include "ctrl/run.h"
#include "ctrl/writes.h"
#include "kube/rest.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

#define ZONES_MAX 64
#define MSG_MAX 2048

typedef struct {
	char name[APP_TIME_ZONE_MAX + 1];
	ss_tz *tz;
} zone_entry;

struct app_schedule_ctrl {
	app_schedule_ctrl_opts o;
	pthread_mutex_t mu;
	zone_entry zones[ZONES_MAX];
	size_t n_zones;
	ctrl_counter *m_runs;
	ctrl_counter *m_pruned;
	ctrl_gauge *m_verified;
	ctrl_gauge *m_pitr;
	ctrl_run_opts run_opts; /* every reconcile's run (ctrl/run.h) */
};

static int schedule_encode_status(json_t *obj, void *payload);

/* ---- setup -------------------------------------------------------------- */

int app_schedule_ctrl_new(app_schedule_ctrl **out, const app_schedule_ctrl_opts *opts)
{
	static const char *const runs_labels[] = { "namespace", "result", NULL };
	static const char *const ns_labels[] = { "namespace", NULL };
	static const char *const schedule_labels[] = { "namespace", "schedule", NULL };
	app_schedule_ctrl *sc;

	if (!opts || !opts->client || !opts->schedules || !opts->backups)
		return ss_error_set(
			SS_EINVALID,
			"schedule controller: client and caches are required");
	sc = calloc(1, sizeof(*sc));
	if (sc == NULL)
		return ss_error_set(SS_ENOMEM, "schedule controller: out of memory");
	sc->o = *opts;
	if (sc->o.clock == NULL)
		sc->o.clock = ss_clock_system();
	pthread_mutex_init(&sc->mu, NULL);
	sc->run_opts.client = sc->o.client;
	sc->run_opts.resource = &app_backupschedules;
	sc->run_opts.events = sc->o.events;
	sc->run_opts.clock = sc->o.clock;
	sc->run_opts.encode = schedule_encode_status;
	if (opts->metrics) {
		sc->m_runs = ctrl_metrics_counter(
			opts->metrics, "snapstage_schedule_runs_total",
			"Due times and run-now requests of BackupSchedules, by result "
			"(scheduled, run_now, skipped, missed).",
			runs_labels);
		sc->m_pruned = ctrl_metrics_counter(
			opts->metrics, "snapstage_schedule_pruned_total",
			"Backups deleted by retention.", ns_labels);
		sc->m_verified = ctrl_metrics_gauge(
			opts->metrics, "snapstage_backup_last_verified_timestamp_seconds",
			"When the restore verification of the newest verified Backup of "
			"a schedule finished (Unix time).",
			schedule_labels);
		sc->m_pitr = ctrl_metrics_gauge(
			opts->metrics, "snapstage_pitr_window_seconds",
			"How far back a point-in-time Restore can reach from a "
			"schedule's Backups and its primary's binlog, as of the last "
			"check (recoverableTo - recoverableFrom; 0: no window).",
			schedule_labels);
		if (!sc->m_runs || !sc->m_pruned || !sc->m_verified || !sc->m_pitr) {
			app_schedule_ctrl_free(sc);
			return ss_error_last()->code < 0 ? ss_error_last()->code
							 : SS_EEXISTS;
		}
	}
	*out = sc;
	return 0;
}

void app_schedule_ctrl_free(app_schedule_ctrl *sc)
{
	size_t i;

	if (sc == NULL)
		return;
	for (i = 0; i < sc->n_zones; i++)
		ss_tz_free(sc->zones[i].tz);
	pthread_mutex_destroy(&sc->mu);
	free(sc);
}

void app_schedule_ctrl_set_queue(app_schedule_ctrl *sc, ctrl_workqueue *queue)
{
	sc->o.queue = queue;
}

/* ---- handlers ------------------------------------------------------------ */

static void schedule_enqueue(app_schedule_ctrl *sc, const char *ns, const char *schedule);

void app_schedule_on_backup(void *payload, const json_t *obj)
{
	app_schedule_ctrl *sc = payload;

	schedule_enqueue(sc, ctrl_meta(obj, "namespace"),
			 ctrl_label(obj, APP_LABEL_SCHEDULE));
}

void app_schedule_on_backup_update(void *payload, const json_t *old, const json_t *now)
{
	(void)old;
	app_schedule_on_backup(payload, now);
}

static void schedule_enqueue(app_schedule_ctrl *sc, const char *ns, const char *schedule)
{
	char key[CTRL_KEY_MAX];

	if (sc->o.queue && schedule && ns &&
	    ctrl_key_join(key, sizeof(key), ns, schedule) == 0)
		ctrl_workqueue_add(sc->o.queue, key);
}

void app_schedule_on_restore(void *payload, const json_t *obj)
{
	app_schedule_ctrl *sc = payload;
	const json_t *src = json_object_get(json_object_get(obj, "spec"), "source");
	const char *ns = ctrl_meta(obj, "namespace");
	const char *schedule = json_string_value(json_object_get(src, "scheduleName"));
	const char *backup = json_string_value(json_object_get(src, "backupName"));
	const char *status_backup = json_string_value(
		json_object_get(json_object_get(obj, "status"), "sourceBackup"));
	const char *names[2] = { backup, status_backup };
	size_t i;

	schedule_enqueue(sc, ns, schedule);
	for (i = 0; i < 2; i++) {
		char key[CTRL_KEY_MAX];
		json_t *b = NULL;

		if (names[i] == NULL || ns == NULL ||
		    ctrl_key_join(key, sizeof(key), ns, names[i]) < 0 ||
		    ctrl_store_get(&b, sc->o.backups, key) < 0 || b == NULL)
			continue;
		schedule_enqueue(sc, ns, ctrl_label(b, APP_LABEL_SCHEDULE));
		json_decref(b);
	}
}

void app_schedule_on_restore_update(void *payload, const json_t *old, const json_t *now)
{
	(void)old;
	app_schedule_on_restore(payload, now);
}

/* ---- zones --------------------------------------------------------------- */

/* The zone `name`, loaded once and kept: borrowed until the controller is
 * freed. When the table is full, a private copy (*owned set: free it). */
static int schedule_zone_get(const ss_tz **out, ss_tz **owned, app_schedule_ctrl *sc,
			     const char *name)
{
	ss_tz *tz = NULL;
	size_t i;
	int rc;

	*owned = NULL;
	pthread_mutex_lock(&sc->mu);
	for (i = 0; i < sc->n_zones; i++) {
		if (strcmp(sc->zones[i].name, name) == 0) {
			*out = sc->zones[i].tz;
			pthread_mutex_unlock(&sc->mu);
			return 0;
		}
	}
	pthread_mutex_unlock(&sc->mu);
	rc = ss_tz_load(&tz, name);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&sc->mu);
	for (i = 0; i < sc->n_zones; i++)
		if (strcmp(sc->zones[i].name, name) == 0)
			break;
	if (i < sc->n_zones) { /* another worker was first */
		*out = sc->zones[i].tz;
		pthread_mutex_unlock(&sc->mu);
		ss_tz_free(tz);
		return 0;
	}
	if (sc->n_zones < ZONES_MAX && strlen(name) < sizeof(sc->zones[0].name)) {
		ss_strlcpy(sc->zones[sc->n_zones].name, name, sizeof(sc->zones[0].name));
		sc->zones[sc->n_zones].tz = tz;
		sc->n_zones++;
		*out = tz;
	} else {
		*owned = tz;
		*out = tz;
	}
	pthread_mutex_unlock(&sc->mu);
	return 0;
}

/* ---- one reconcile --------------------------------------------------------- */

/* What a status write does with the Degraded condition. */
typedef enum {
	DEGRADED_KEEP, /* as it is (the verification step did not run) */
	DEGRADED_REMOVE,
	DEGRADED_FALSE,
	DEGRADED_TRUE
} schedule_degraded;

/* One reconcile of one schedule: the run (ctrl/run.h: key, the API's copy
 * of the schedule, the message and Ready) and what the steps find. */
typedef struct {
	ctrl_run run;
	app_schedule_ctrl *sc;
	json_t *backups;     /* the schedule's Backups from the cache (owned) */
	json_t *would_prune; /* owned, or NULL */
	app_schedule_spec spec;
	app_schedule_status st; /* strings borrow from run.obj, backups or below */
	char last_success[APP_NAME_BUF];
	char token[APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX + 1];
	const ss_tz *tz; /* the spec's zone, borrowed or owned_tz */
	ss_tz *owned_tz;
	/* Why no run can start now (step 2, with run.message); NULL: one can. */
	const char *blocked;
	bool busy;	   /* one of the schedule's Backups is still running */
	bool spec_changed; /* metadata.generation moved since the last status */
	int64_t wake_ns;   /* when the plan wants to look again (0: no time) */
	/* Ready as the API's copy had it before this reconcile (copies: the
	 * object is replaced by the status write). */
	bool was_false;
	char was_reason[CTRL_EVENT_REASON_MAX + 1];
	char was_message[MSG_MAX];
	/* A create of this reconcile that failed (BackupRejected,
	 * BackupCreateFailed) with its message; NULL: none. */
	const char *failure;
	char failure_message[MSG_MAX];
	bool created; /* a Backup was created in this reconcile */
	/* Restore verification (step 6): the own Backups as it sees them,
	 * one per entry of `backups` (owned); the newest completion status
	 * had before this reconcile (everyNthBackup asks only for newer);
	 * the next verification due time; a request that failed (look again
	 * soon); Degraded to write and whether it was True. */
	app_schedule_plan_vbackup *vb;
	int64_t prev_success_ns;
	int64_t vwake_ns;
	bool vretry;
	schedule_degraded degraded;
	bool was_degraded;
	char degraded_message[MSG_MAX];
	/* Point-in-time coverage (step 7b): the condition to write (KEEP:
	 * as it is), its verdict, the Backups pruned in step 7 (owned), the
	 * strings of status.pointInTime (run-owned: the status write replaces
	 * the object they were read from), when to check next. */
	schedule_degraded pit_cond;
	app_pitr_status pit_status;
	const char *pit_reason;
	char pit_message[APP_PITR_MESSAGE_MAX];
	json_t *pruned;
	char pit_base[APP_NAME_BUF], pit_primary[APP_NAME_BUF];
	char pit_removed[APP_NAME_BUF];
	char pit_start[APP_GTID_TEXT_MAX];
	int64_t pit_wake_ns;
} schedule_run;

static void schedule_count_run(schedule_run *r, const char *result)
{
	const char *lv[] = { r->run.ns, result, NULL };

	ctrl_counter_inc(r->sc->m_runs, lv);
}

/* PointInTimeCoverage as step 7b decided (DEGRADED_* reused: keep,
 * remove, or set with r->pit_status). */
static int schedule_encode_pitr(json_t *obj, const schedule_run *r)
{
	static const ctrl_condition_status st[] = { CTRL_CONDITION_TRUE,
						    CTRL_CONDITION_FALSE,
						    CTRL_CONDITION_UNKNOWN };
	ctrl_condition c = { APP_PITR_CONDITION, st[r->pit_status], r->pit_reason,
			     r->pit_message, -1 };

	if (r->pit_cond == DEGRADED_KEEP)
		return 0;
	if (r->pit_cond == DEGRADED_REMOVE || r->pit_reason == NULL)
		return ctrl_condition_remove(NULL, obj, APP_PITR_CONDITION);
	return ctrl_condition_set(NULL, obj, &c, r->sc->o.clock);
}

/* The run's status encoder (Ready is the run's condition). */
static int schedule_encode_status(json_t *obj, void *payload)
{
	schedule_run *r = payload;
	ctrl_condition c = { APP_SCHEDULE_CONDITION_DEGRADED, CTRL_CONDITION_FALSE,
			     APP_SCHEDULE_REASON_VERIFIED, r->degraded_message, -1 };
	int rc = app_schedule_status_encode(obj, &r->st);

	if (rc == 0)
		rc = schedule_encode_pitr(obj, r);
	/* Degraded is the schedule's second condition (the run sets Ready) */
	if (rc != 0 || r->degraded == DEGRADED_KEEP)
		return rc;
	if (r->degraded == DEGRADED_REMOVE)
		rc = ctrl_condition_remove(NULL, obj, APP_SCHEDULE_CONDITION_DEGRADED);
	else {
		if (r->degraded == DEGRADED_TRUE) {
			c.status = CTRL_CONDITION_TRUE;
			c.reason = APP_SCHEDULE_REASON_VERIFICATION_FAILED;
		}
		rc = ctrl_condition_set(NULL, obj, &c, r->sc->o.clock);
	}
	return rc;
}

/* Ready, set with the next status write (its message: run.message). */
static void schedule_ready(schedule_run *r, ctrl_condition_status status,
			   const char *reason)
{
	ctrl_run_condition(&r->run, "Ready", status, reason);
}

/* Ready as it was before this reconcile, copied from the API's copy. */
static void schedule_read_was(schedule_run *r)
{
	const char *reason = ctrl_condition_get_reason(r->run.obj, "Ready");
	const char *message = ctrl_condition_get_message(r->run.obj, "Ready");

	r->was_false = ctrl_condition_is_false(r->run.obj, "Ready") && reason != NULL;
	ss_strlcpy(r->was_reason, r->was_false ? reason : "", sizeof(r->was_reason));
	ss_strlcpy(r->was_message, message ? message : "", sizeof(r->was_message));
}

/* An Event when Ready turns False or its reason or message changes: once
 * per change (repeats of the same one are aggregated by ctrl/events.h). */
static void schedule_announce(schedule_run *r)
{
	const char *reason = r->run.cond_reason;

	if (r->run.cond_status != CTRL_CONDITION_FALSE || reason == NULL)
		return;
	if (r->was_false && strcmp(r->was_reason, reason) == 0 &&
	    strcmp(r->was_message, r->run.message) == 0)
		return;
	ctrl_run_event(&r->run,
		       strcmp(reason, "Suspended") == 0 ? CTRL_EVENT_NORMAL
							: CTRL_EVENT_WARNING,
		       reason, "%s", r->run.message);
}

/* Step 8: status and Ready, once (an Event first when Ready turns False:
 * it is the one sign left should the write be refused). A status the
 * API server refuses as invalid (a schedule made before the CRD refused
 * its name) is not retried: it would be refused again. */
static int schedule_write_status(schedule_run *r)
{
	json_t *gen =
		json_object_get(json_object_get(r->run.obj, "metadata"), "generation");
	int rc;

	schedule_announce(r);
	r->st.observed_generation = json_is_integer(gen) ? json_integer_value(gen) : 0;
	rc = ctrl_run_write_status(&r->run);
	if (rc < 0 && rc != SS_ENOTFOUND) {
		ss_log(SS_LOG_WARN, "writing schedule status failed",
		       SS_LS("schedule", r->run.key), SS_LERR());
		return rc == SS_EINVALID ? 0 : rc;
	}
	return 0;
}

/* A failed reconcile: the workqueue's backoff, but never longer than
 * app_schedule_plan_retry_cap_ns() (the earlier of two waits wins, workqueue.h),
 * so a due time is tried again well within startingDeadlineSeconds. */
static ctrl_result schedule_retry(schedule_run *r)
{
	if (r->sc->o.queue != NULL)
		ctrl_workqueue_add_after(r->sc->o.queue, r->run.key,
					 app_schedule_plan_retry_cap_ns(
						 r->spec.starting_deadline_seconds));
	return ctrl_result_error();
}

static bool schedule_is_finished(const json_t *b)
{
	return ctrl_condition_is_true(b, "Complete") ||
	       ctrl_condition_is_true(b, "Failed");
}

/* Step 2, the world: whether a run could start now. When it cannot,
 * r->blocked says why and run.message how; an unknown answer (an API
 * error, logged; out of memory) lets it start, and the Backup reports. */
static void schedule_preflight(schedule_run *r)
{
	app_target_candidates *cands = NULL;
	app_credentials cred;
	json_t *pods = NULL;
	const char *reason = NULL;

	if (r->sc->o.snapshot_api_missing) {
		r->blocked = "SnapshotAPIMissing";
		ss_strlcpy(r->run.message,
			   "the cluster serves no snapshot.storage.k8s.io/v1 "
			   "VolumeSnapshots: "
			   "install the external-snapshotter CRDs and a CSI driver that "
			   "snapshots, then restart snapstage",
			   sizeof(r->run.message));
		return;
	}
	if (r->sc->o.pods) {
		cands = calloc(1, sizeof(*cands));
		if (cands == NULL ||
		    ctrl_store_by_index(&pods, r->sc->o.pods, APP_INDEX_NAMESPACE,
					r->run.ns) < 0)
			goto cleanup; /* out of memory: let the Backup try */
		if (app_target_resolve(cands, &r->spec.target, pods, &reason) < 0 &&
		    reason != NULL) {
			ss_strlcpy(r->run.message, ss_error_last()->message,
				   sizeof(r->run.message));
			r->blocked = reason;
			goto cleanup;
		}
		reason = NULL;
	}
	if (app_credentials_read(&cred, r->sc->o.client, r->run.ns,
				 &r->spec.target.connection, &reason) < 0) {
		if (reason != NULL) {
			ss_strlcpy(r->run.message, ss_error_last()->message,
				   sizeof(r->run.message));
			r->blocked = reason;
			goto cleanup;
		}
		ss_log(SS_LOG_WARN, "could not read the credentials Secret",
		       SS_LS("schedule", r->run.key), SS_LERR());
	}
	app_credentials_free(&cred);
cleanup:
	json_decref(pods);
	free(cands);
}

/* Step 3, first half: the schedule's own Backups in this namespace (its
 * label and its uid) from the cache, into r->backups. 0 or < 0. */
static int schedule_vb_load(schedule_run *r);

static int schedule_own_backups(schedule_run *r)
{
	json_t *all = NULL, *mine;
	size_t i;

	if (ctrl_store_by_index(&all, r->sc->o.backups, APP_INDEX_SCHEDULE, r->run.name) <
	    0)
		return -1;
	mine = json_array();
	if (mine == NULL) {
		json_decref(all);
		return ss_error_set(SS_ENOMEM, "out of memory");
	}
	for (i = 0; i < json_array_size(all); i++) {
		json_t *b = json_array_get(all, i);
		const char *ns = ctrl_meta(b, "namespace");

		/* The label alone is not the schedule's: anyone may set it. */
		if (ns && strcmp(ns, r->run.ns) == 0 &&
		    app_retention_is_own(b, r->run.name, ctrl_meta(r->run.obj, "uid")))
			json_array_append(mine, b);
	}
	json_decref(all);
	r->backups = mine;
	return 0;
}

/* Step 3: the schedule's own Backups; active and newest completed into
 * r->st, r->busy when one is still running. 0 or < 0. */
static int schedule_observe(schedule_run *r)
{
	size_t i;
	int64_t best = 0;

	r->busy = false;
	if (schedule_own_backups(r) < 0)
		return -1;
	r->st.n_active = 0;
	for (i = 0; i < json_array_size(r->backups); i++) {
		json_t *b = json_array_get(r->backups, i);
		const char *bname = ctrl_meta(b, "name");
		app_backup_status bst;

		if (bname == NULL)
			continue;
		if (!schedule_is_finished(b)) {
			r->busy = true;
			if (r->st.n_active < APP_MAX_CLAIMS)
				r->st.active[r->st.n_active++] = bname;
			continue;
		}
		if (!ctrl_condition_is_true(b, "Complete"))
			continue;
		app_backup_status_init(&bst);
		app_backup_status_decode(&bst, b);
		if (bst.completion_ns >= best) {
			best = bst.completion_ns;
			ss_strlcpy(r->last_success, bname, sizeof(r->last_success));
		}
	}
	if (r->last_success[0]) {
		r->st.last_successful_backup = r->last_success;
		r->st.last_successful_ns = best;
	}
	return schedule_vb_load(r);
}

/* A new Backup `bname` for the time `when` (for run-now `token`, else
 * NULL): the schedule's target, snapshot and lock, its copyable labels and
 * annotations, labelled with the schedule's name and uid. NULL when out of
 * memory. */
static json_t *schedule_backup_new(const schedule_run *r, const char *bname,
				   const char *when, const char *token)
{
	const json_t *spec = json_object_get(r->run.obj, "spec");
	const json_t *snap = json_object_get(spec, "snapshot");
	json_t *b = json_object(), *meta = json_object(), *labels = json_object();
	json_t *annotations = json_object(), *bspec = json_object();

	if (!b || !meta || !labels || !annotations || !bspec ||
	    app_copy_copyable(labels, json_object_get(snap, "labels"), false) != 0 ||
	    app_copy_copyable(annotations, json_object_get(snap, "annotations"), false) !=
		    0) {
		json_decref(b);
		json_decref(meta);
		json_decref(labels);
		json_decref(annotations);
		json_decref(bspec);
		return NULL;
	}
	json_object_set_new(labels, APP_LABEL_SCHEDULE, json_string(r->run.name));
	app_label_set_own(labels, APP_LABEL_SCHEDULE_UID, ctrl_meta(r->run.obj, "uid"));
	json_object_set_new(annotations, APP_ANNOTATION_SCHEDULED_TIME,
			    json_string(when));
	if (token != NULL)
		json_object_set_new(annotations, APP_ANNOTATION_RUN_NOW,
				    json_string(token));
	json_object_set_new(b, "apiVersion", json_string(APP_API_VERSION));
	json_object_set_new(b, "kind", json_string("Backup"));
	json_object_set_new(meta, "name", json_string(bname));
	json_object_set_new(meta, "namespace", json_string(r->run.ns));
	json_object_set_new(meta, "labels", labels);
	json_object_set_new(meta, "annotations", annotations);
	json_object_set_new(b, "metadata", meta);
	if (json_object_get(spec, "target"))
		json_object_set_new(bspec, "target",
				    json_deep_copy(json_object_get(spec, "target")));
	if (snap)
		json_object_set_new(bspec, "snapshot", json_deep_copy(snap));
	if (json_object_get(spec, "lock"))
		json_object_set_new(bspec, "lock",
				    json_deep_copy(json_object_get(spec, "lock")));
	json_object_set_new(b, "spec", bspec);
	return b;
}

/* Step 5: creates Backup `bname` for the time `scheduled_ns` (for run-now
 * `token`, else NULL), owned by the schedule with backupDeletionPolicy
 * Delete. 0 when made, SS_EEXISTS when it was already there, or the API's
 * error. */
static int schedule_create_backup(schedule_run *r, const char *bname,
				  int64_t scheduled_ns, const char *token)
{
	char when[SS_TIME_RFC3339_MAX];
	json_t *b, *created = NULL;
	int rc = 0;

	ss_time_format(when, sizeof(when), scheduled_ns);
	b = schedule_backup_new(r, bname, when, token);
	if (b == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (r->spec.backup_deletion_policy == APP_DELETION_DELETE)
		rc = ctrl_owner_set_controller(NULL, b, r->run.obj);
	if (rc == 0)
		rc = kube_create(&created, r->sc->o.client, &app_backups, r->run.ns, b);
	json_decref(b);
	json_decref(created);
	if (rc == 0)
		ss_log(SS_LOG_INFO, "backup created", SS_LS("schedule", r->run.key),
		       SS_LS("backup", bname), SS_LS("scheduledTime", when));
	return rc;
}

/* A create the API server refused as invalid (400, 422) or too large is
 * refused again on every retry: a matter of the spec (or of the CRD the
 * cluster runs), not of time. */
static bool schedule_refused_for_good(int rc)
{
	return rc == SS_EINVALID || rc == SS_ETOOLARGE;
}

/* Records the failed create of `bname` (its error is the last one):
 * BackupRejected when refused for good, else BackupCreateFailed. */
static void schedule_create_failed(schedule_run *r, const char *bname, int rc)
{
	char clean[APP_SCHEDULE_PLAN_MESSAGE_MAX];
	bool rejected = schedule_refused_for_good(rc);

	app_schedule_plan_clean_message(clean, sizeof(clean), ss_error_last()->message);
	r->failure = rejected ? APP_SCHEDULE_PLAN_REASON_REJECTED
			      : APP_SCHEDULE_PLAN_REASON_CREATE_FAILED;
	snprintf(r->failure_message, sizeof(r->failure_message),
		 rejected ? "the API server refused Backup %s (it will refuse it "
			    "again: fix the schedule's spec or the Backup CRD): %s"
			  : "creating Backup %s failed (retried): %s",
		 bname, clean);
	ss_log(SS_LOG_WARN, "creating a scheduled Backup failed",
	       SS_LS("schedule", r->run.key), SS_LS("backup", bname),
	       SS_LS("reason", r->failure), SS_LERR());
}

/* Whether metadata.generation moved since the status was last written:
 * the spec changed (the API's copy, read in step 1). */
static bool schedule_spec_changed(const schedule_run *r)
{
	json_t *gen =
		json_object_get(json_object_get(r->run.obj, "metadata"), "generation");

	return r->st.observed_generation > 0 && json_is_integer(gen) &&
	       json_integer_value(gen) != r->st.observed_generation;
}

/* Step 4's input: the cursor and the spec, as the plan reads them. */
static void schedule_fill_plan_in(app_schedule_plan_in *in, const schedule_run *r)
{
	const char *created = ctrl_meta(r->run.obj, "creationTimestamp");

	memset(in, 0, sizeof(*in));
	in->now_ns = r->run.now;
	if (created == NULL || ss_time_parse(&in->creation_ns, created) < 0)
		in->creation_ns = 0;
	in->last_schedule_ns = r->st.last_schedule_ns;
	in->next_schedule_ns = r->st.next_schedule_ns;
	in->starting_deadline_seconds = r->spec.starting_deadline_seconds;
	in->suspend = r->spec.suspend;
	in->spec_changed = r->spec_changed;
	in->busy = r->busy;
	in->blocked = r->blocked;
	in->was_not_ready = r->was_false ? r->was_reason : NULL;
}

/* Counts and reports what `out` passed over, and moves the cursor. */
static void schedule_account(schedule_run *r, const app_schedule_plan_out *out)
{
	int64_t n = out->missed + (out->action == APP_SCHEDULE_PLAN_MISS ? 1 : 0);
	char when[SS_TIME_RFC3339_MAX];

	r->st.next_schedule_ns = out->next_ns;
	r->st.last_schedule_ns = out->last_schedule_ns;
	ss_time_format(when, sizeof(when), out->scheduled_ns);
	if (n > 0) {
		r->st.missed_runs += n;
		schedule_count_run(r, "missed");
		ctrl_run_event(
			&r->run, CTRL_EVENT_WARNING, "Missed",
			"%lld run(s) missed%s%s: %s (%s)", (long long)n,
			out->action == APP_SCHEDULE_PLAN_MISS ? ", the latest due at "
							      : "",
			out->action == APP_SCHEDULE_PLAN_MISS ? when : "",
			app_schedule_plan_cause_text(out->miss_cause), out->miss_cause);
	}
	if (out->action == APP_SCHEDULE_PLAN_SKIP) {
		r->st.skipped_runs++;
		schedule_count_run(r, "skipped");
		ctrl_run_event(&r->run, CTRL_EVENT_WARNING, "Skipped",
			       "run due at %s skipped: %s is still running", when,
			       r->st.n_active ? r->st.active[0] : "a Backup");
	}
}

/* Step 5 for a due time the plan says to run: the Backup, or the failure.
 * A failure that may pass (BackupCreateFailed) makes the due time wait
 * (the plan again, blocked by it); a refusal for good misses it. */
static int schedule_create_due(schedule_run *r, app_schedule_plan_in *in,
			       app_schedule_plan_out *out)
{
	char bname[APP_NAME_BUF], when[SS_TIME_RFC3339_MAX];
	int rc;

	if (r->spec.cron.kind == APP_CRON_ONCE)
		rc = app_name_join(bname, APP_LABEL_VALUE_MAX, r->run.name, "once");
	else
		rc = app_name_scheduled_backup(bname, r->run.name, out->scheduled_ns);
	if (rc == 0)
		rc = schedule_create_backup(r, bname, out->scheduled_ns, NULL);
	if (rc == 0 || rc == SS_EEXISTS) {
		r->created = rc == 0 || r->created;
		if (rc == 0) {
			schedule_count_run(r, "scheduled");
			ctrl_run_event(
				&r->run, CTRL_EVENT_NORMAL, "Scheduled",
				"created Backup %s for %s", bname,
				ss_time_format(when, sizeof(when), out->scheduled_ns));
		}
		return 0;
	}
	schedule_create_failed(r, bname, rc);
	if (schedule_refused_for_good(rc)) {
		out->action = APP_SCHEDULE_PLAN_MISS;
		out->miss_cause = APP_SCHEDULE_PLAN_REASON_REJECTED;
		return 0;
	}
	in->blocked = APP_SCHEDULE_PLAN_REASON_CREATE_FAILED;
	app_schedule_plan(out, &r->spec.cron, r->tz, in); /* fails only for NULL */
	return rc;
}

/* Steps 4-5 for the due times, whether or not a run can start now
 * (r->blocked); r->wake_ns: when to look again at the latest (0: no time
 * of its own). 0, or an error to retry (the state to keep is in r->st). */
static int schedule_run_due(schedule_run *r)
{
	app_schedule_plan_in in;
	app_schedule_plan_out out;
	int rc = 0;

	schedule_fill_plan_in(&in, r);
	if (app_schedule_plan(&out, &r->spec.cron, r->tz, &in) < 0)
		return -1;
	if (out.action == APP_SCHEDULE_PLAN_RUN)
		rc = schedule_create_due(r, &in, &out);
	r->wake_ns = out.wake_ns;
	schedule_account(r, &out);
	return rc;
}

/* Whether Backup `bname`, which exists, is the one of run-now `token`
 * (its snapstage.io/run-now annotation, compared whole). An error reads
 * as "yes": the token is then recorded as done rather than run twice. */
static bool schedule_made_for_token(schedule_run *r, const char *bname, const char *token)
{
	json_t *b = NULL;
	bool same = true;

	if (kube_get(&b, r->sc->o.client, &app_backups, r->run.ns, bname) == 0)
		same = ss_streq(ctrl_annotation(b, APP_ANNOTATION_RUN_NOW), token);
	json_decref(b);
	return same;
}

/* Step 4-5 for the run-now annotation: the token's Backup, under the
 * first name of the token's sequence not taken by another token. 0, or
 * an error to retry (the token stays unrecorded). */
static int schedule_run_now(schedule_run *r)
{
	const char *token = ctrl_annotation(r->run.obj, APP_ANNOTATION_RUN_NOW);
	char suffix[APP_SCHEDULE_PLAN_RUN_NOW_SUFFIX_BUF], bname[APP_NAME_BUF];
	int attempt, rc = SS_EEXISTS;

	if (r->spec.suspend || token == NULL || token[0] == '\0')
		return 0;
	if (strlen(token) > APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX) {
		ctrl_run_event(&r->run, CTRL_EVENT_WARNING, "RunNowRefused",
			       "the %s annotation holds %zu bytes, more than the %d "
			       "honoured: no Backup",
			       APP_ANNOTATION_RUN_NOW, strlen(token),
			       APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX);
		return 0;
	}
	if (!app_schedule_plan_run_now_wanted(token, r->st.last_run_now_token))
		return 0;
	for (attempt = 1;
	     attempt <= APP_SCHEDULE_PLAN_RUN_NOW_ATTEMPTS && rc == SS_EEXISTS;
	     attempt++) {
		app_schedule_plan_run_now_suffix(suffix, token, attempt);
		rc = app_name_join(bname, APP_LABEL_VALUE_MAX, r->run.name, suffix);
		if (rc == 0)
			rc = schedule_create_backup(r, bname, r->run.now, token);
		if (rc == SS_EEXISTS && schedule_made_for_token(r, bname, token))
			break;
	}
	if (rc == 0) {
		r->created = true;
		schedule_count_run(r, "run_now");
		ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "Scheduled",
			       "created Backup %s for run-now %s", bname, token);
	} else if (rc == SS_EEXISTS && attempt > APP_SCHEDULE_PLAN_RUN_NOW_ATTEMPTS) {
		ss_error_set(SS_EINVALID, "the names of this token are taken by Backups "
					  "of other tokens");
		schedule_create_failed(r, bname, SS_EINVALID);
	} else if (rc != SS_EEXISTS) {
		schedule_create_failed(r, bname, rc);
		if (!schedule_refused_for_good(rc))
			return rc; /* the token stays unrecorded: retried */
	}
	ss_strlcpy(r->token, token, sizeof(r->token));
	r->st.last_run_now_token = r->token;
	return 0;
}

/* ---- restore verification (step 6) ----------------------------------------- */

/* Backup `b` as verification sees it (strings borrowed from b). */
static void schedule_vb_fill(app_schedule_plan_vbackup *v, const json_t *b)
{
	const char *created = ctrl_meta(b, "creationTimestamp");
	const char *ord = ctrl_annotation(b, APP_SCHEDULE_ANNOTATION_ORDINAL);
	const json_t *fins =
		json_object_get(json_object_get(b, "metadata"), "finalizers");
	app_backup_status bst;
	app_verification_status vs;
	size_t i;

	memset(v, 0, sizeof(*v));
	v->name = ctrl_meta(b, "name");
	if (created == NULL || ss_time_parse(&v->creation_ns, created) < 0)
		v->creation_ns = 0;
	app_backup_status_init(&bst);
	if (app_backup_status_decode(&bst, b) == 0)
		v->completion_ns = bst.completion_ns;
	v->complete = ctrl_condition_is_true(b, "Complete");
	v->unrestorable = ctrl_condition_is_false(b, APP_CONDITION_RESTORABLE);
	v->deleting = ctrl_meta(b, "deletionTimestamp") != NULL;
	v->verify_now = ctrl_annotation(b, APP_ANNOTATION_VERIFY_NOW);
	if (ord == NULL || ss_parse_int64(&v->ordinal, ord, 1, INT64_MAX, "ordinal") < 0)
		v->ordinal = 0;
	if (app_verification_status_decode(&vs, b) == 0) {
		v->token = vs.token;
		v->done = vs.has_phase && vs.phase == APP_VERIFY_DONE;
		v->active = vs.has_phase && vs.phase != APP_VERIFY_DONE;
		v->result = vs.result;
		v->verified_ns = vs.completion_ns;
	}
	/* scratch objects may still exist: as good as running */
	for (i = 0; i < json_array_size(fins); i++)
		if (ss_streq(json_string_value(json_array_get(fins, i)),
			     APP_VERIFY_FINALIZER))
			v->active = true;
}

/* Step 3's second half: r->vb, one entry per own Backup. 0 or SS_ENOMEM. */
static int schedule_vb_load(schedule_run *r)
{
	size_t i, n = json_array_size(r->backups);

	r->vb = calloc(n ? n : 1, sizeof(*r->vb));
	if (r->vb == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		schedule_vb_fill(&r->vb[i], json_array_get(r->backups, i));
	return 0;
}

/* A merge patch of own Backup `i`'s annotations only, with the
 * resourceVersion it was read at (a Backup changed since is a conflict,
 * retried on the next look): verify-now `token` and/or the ordinal (0:
 * none). Its spec is never part of it. 0 or the API's error. */
static int schedule_vb_patch(schedule_run *r, size_t i, const char *token,
			     int64_t ordinal)
{
	const json_t *b = json_array_get(r->backups, i);
	const char *rv = ctrl_meta(b, "resourceVersion");
	json_t *patch, *ann = json_object();
	char num[24];
	int rc;

	snprintf(num, sizeof(num), "%lld", (long long)ordinal);
	patch = json_pack("{s:{s:s?,s:o}}", "metadata", "resourceVersion", rv,
			  "annotations", ann);
	if (patch == NULL || ann == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (token != NULL)
		json_object_set_new(ann, APP_ANNOTATION_VERIFY_NOW, json_string(token));
	if (ordinal > 0)
		json_object_set_new(ann, APP_SCHEDULE_ANNOTATION_ORDINAL,
				    json_string(num));
	rc = kube_patch(NULL, r->sc->o.client, &app_backups, r->run.ns, r->vb[i].name,
			KUBE_PATCH_MERGE, patch, NULL);
	json_decref(patch);
	if (rc < 0) {
		ss_log(SS_LOG_WARN, "annotating a Backup for verification failed",
		       SS_LS("schedule", r->run.key), SS_LS("backup", r->vb[i].name),
		       SS_LERR());
		r->vretry = true;
		return rc;
	}
	if (ordinal > 0)
		r->vb[i].ordinal = ordinal;
	if (token != NULL) /* being verified from now on, for retention */
		r->vb[i].verify_now =
			json_string_value(ctrl_run_hold(&r->run, json_string(token)));
	return 0;
}

/* Asks for the verification of own Backup `i` with `token` (`why`: for
 * the Event), unless one is running or asked for already. 0 or < 0. */
static int schedule_verify_request(schedule_run *r, size_t i, const char *token,
				   int64_t ordinal, const char *why)
{
	const char *name = r->vb[i].name;

	if (app_schedule_plan_verify_pending(&r->vb[i])) {
		ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "VerificationInProgress",
			       "Backup %s is being verified already (%s)", name, why);
		return ordinal > 0 ? schedule_vb_patch(r, i, NULL, ordinal) : 0;
	}
	if (schedule_vb_patch(r, i, token, ordinal) < 0)
		return -1;
	ss_log(SS_LOG_INFO, "verification requested", SS_LS("schedule", r->run.key),
	       SS_LS("backup", name), SS_LS("verifyNow", token));
	ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "VerificationRequested",
		       "asked for the restore verification of Backup %s (%s)", name, why);
	return 0;
}

/* The verification cron: the newest due time not acted on picks the
 * newest verifiable Backup; with none, the due time is recorded with a
 * Warning. While blocked (r->blocked) a due time waits. */
static void schedule_verify_cron(schedule_run *r, const ss_tz *tz)
{
	app_schedule_plan_verify_in in = { 0 };
	app_schedule_plan_verify_out out;
	char when[SS_TIME_RFC3339_MAX], why[64 + SS_TIME_RFC3339_MAX];
	const char *created = ctrl_meta(r->run.obj, "creationTimestamp");
	long k;

	in.now_ns = r->run.now;
	if (created == NULL || ss_time_parse(&in.creation_ns, created) < 0)
		in.creation_ns = 0;
	in.last_request_ns = r->st.last_verification_request_ns;
	in.next_ns = r->st.next_verification_ns;
	in.suspend = r->spec.suspend;
	in.spec_changed = r->spec_changed;
	if (app_schedule_plan_verify_due(&out, &r->spec.verification.cron, tz, &in) < 0)
		return;
	r->st.next_verification_ns = r->vwake_ns = out.next_ns;
	if (out.due && r->blocked != NULL)
		return; /* waits, as a run does, until what blocks goes */
	if (out.due) {
		ss_time_format(when, sizeof(when), out.due_ns);
		snprintf(why, sizeof(why), "verification due at %s", when);
		k = app_schedule_plan_verify_pick(r->vb, json_array_size(r->backups));
		if (k < 0)
			ctrl_run_event(&r->run, CTRL_EVENT_WARNING, "NothingToVerify",
				       "no Complete, restorable Backup of this schedule "
				       "for the %s",
				       why);
		else if (schedule_verify_request(r, (size_t)k, when, 0, why) < 0)
			return; /* the due time stays: tried again soon */
	}
	r->st.last_verification_request_ns = out.last_request_ns;
}

/* everyNthBackup: numbers the newly Complete Backups and asks for the
 * verification of each Nth. A failed patch is tried again soon. */
static int schedule_verify_nth(schedule_run *r)
{
	size_t i, n = json_array_size(r->backups);
	int64_t *ord = calloc(n ? n : 1, sizeof(*ord));
	bool *ask = calloc(n ? n : 1, sizeof(*ask));
	char token[APP_SCHEDULE_PLAN_VERIFY_TOKEN_BUF], why[64];

	if (ord == NULL || ask == NULL) {
		free(ord);
		free(ask);
		return ss_error_set(SS_ENOMEM, "out of memory");
	}
	app_schedule_plan_verify_nth(ord, ask, r->vb, n,
				     r->spec.verification.every_nth_backup,
				     r->prev_success_ns);
	for (i = 0; i < n; i++) {
		if (ord[i] == 0)
			continue;
		snprintf(why, sizeof(why), "Complete Backup number %lld of the schedule",
			 (long long)ord[i]);
		app_schedule_plan_nth_token(token, sizeof(token), r->vb[i].name);
		if (!ask[i])
			schedule_vb_patch(r, i, NULL, ord[i]);
		else
			schedule_verify_request(r, i, token, ord[i], why);
		if (r->vretry)
			break; /* numbers must not skip: the rest next time */
	}
	free(ord);
	free(ask);
	return 0;
}

/* The report: status.verification's last and last verified, the metric,
 * and Degraded with requireVerified (an Event when it turns True). */
static void schedule_verify_report(schedule_run *r)
{
	app_schedule_plan_verify_report rep;
	const char *lv[] = { r->run.ns, r->run.name, NULL };
	const app_schedule_plan_vbackup *last = NULL;

	app_schedule_plan_verify_report_of(&rep, r->vb, json_array_size(r->backups));
	r->st.last_verification_backup = NULL;
	r->st.last_verification_ns = 0;
	r->st.last_verification_result = NULL;
	r->st.last_verified_backup = NULL;
	r->st.last_verified_ns = 0;
	if (rep.last >= 0) {
		last = &r->vb[rep.last];
		r->st.last_verification_backup = last->name;
		r->st.last_verification_ns = last->verified_ns;
		r->st.last_verification_result = last->result;
	}
	if (rep.verified >= 0) {
		r->st.last_verified_backup = r->vb[rep.verified].name;
		r->st.last_verified_ns = r->vb[rep.verified].verified_ns;
		ctrl_gauge_set(r->sc->m_verified, lv,
			       (double)r->vb[rep.verified].verified_ns / 1e9);
	}
	if (!r->spec.retention.require_verified) {
		r->degraded = DEGRADED_REMOVE;
		return;
	}
	r->degraded = rep.failing ? DEGRADED_TRUE : DEGRADED_FALSE;
	if (!rep.failing) {
		snprintf(r->degraded_message, sizeof(r->degraded_message), "%s%s",
			 rep.verified >= 0 ? "newest verified Backup: "
					   : "no verification has failed",
			 rep.verified >= 0 ? r->vb[rep.verified].name : "");
		return;
	}
	snprintf(r->degraded_message, sizeof(r->degraded_message),
		 "the restore verification of Backup %s failed and no newer Backup "
		 "has passed one since",
		 last->name);
	if (!r->was_degraded)
		ctrl_run_event(&r->run, CTRL_EVENT_WARNING,
			       APP_SCHEDULE_REASON_VERIFICATION_FAILED, "%s",
			       r->degraded_message);
}

/* Step 6: restore verification — the report from the own Backups, and,
 * with spec.verification and not suspended, the requests (the cron's due
 * time; everyNthBackup). A request that fails is tried again soon
 * (r->vretry); it never fails the reconcile. */
static void schedule_verify(schedule_run *r)
{
	const ss_tz *tz = NULL;
	ss_tz *owned = NULL;

	r->was_degraded =
		ctrl_condition_is_true(r->run.obj, APP_SCHEDULE_CONDITION_DEGRADED);
	r->st.next_verification_ns = 0;
	if (r->spec.verification.enabled && !r->spec.suspend) {
		if (r->blocked == NULL)
			schedule_verify_nth(r);
		if (schedule_zone_get(&tz, &owned, r->sc,
				      r->spec.verification.time_zone) == 0)
			schedule_verify_cron(r, tz);
		else
			ss_log(SS_LOG_WARN, "verification time zone failed to load",
			       SS_LS("schedule", r->run.key), SS_LERR());
		ss_tz_free(owned);
	}
	schedule_verify_report(r);
}

/* Whether any Restore in `restores` (an array, or NULL) holds Backup
 * `backup` of schedule `schedule`. */
static bool schedule_held(const json_t *restores, const char *schedule,
			  const char *backup)
{
	const json_t *rs;
	size_t i;

	json_array_foreach((json_t *)restores, i, rs)
	{
		const char *name = NULL;

		switch (app_schedule_plan_restore_hold(rs, schedule, &name)) {
		case APP_SCHEDULE_PLAN_HOLD_ALL: return true;
		case APP_SCHEDULE_PLAN_HOLD_BACKUP:
			if (strcmp(name, backup) == 0)
				return true;
			break;
		case APP_SCHEDULE_PLAN_HOLD_NONE: break;
		}
	}
	return false;
}

/* Deletes Backup `name` that retention judged (`why`), as it was read:
 * with its uid `uid` as the precondition, so a Backup created under that
 * name since (by anyone) is never deleted in its place. */
static void schedule_prune_backup(schedule_run *r, const char *name, const char *uid,
				  const char *why)
{
	kube_delete_opts d = KUBE_DELETE_OPTS_INIT;
	const char *lv[] = { r->run.ns, NULL };
	int rc;

	if (uid == NULL) /* a cached object always has one; never delete blind */
		return;
	d.propagation = KUBE_PROPAGATION_BACKGROUND;
	d.precondition_uid = uid;
	rc = kube_delete(NULL, r->sc->o.client, &app_backups, r->run.ns, name, &d);
	if (rc == SS_ENOTFOUND)
		return;
	if (rc < 0) {
		ss_log(SS_LOG_WARN, "pruning a Backup failed",
		       SS_LS("schedule", r->run.key), SS_LS("backup", name), SS_LERR());
		return;
	}
	r->st.pruned_total++;
	r->st.last_prune_ns = r->run.now;
	if (r->pruned == NULL)
		r->pruned = json_array();
	if (r->pruned != NULL)
		json_array_append_new(r->pruned, json_string(name));
	ctrl_counter_inc(r->sc->m_pruned, lv);
	ss_log(SS_LOG_INFO, "backup pruned", SS_LS("schedule", r->run.key),
	       SS_LS("backup", name), SS_LS("why", why));
	ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "Pruned", "deleted Backup %s (%s)",
		       name, why);
}

/* Step 7's arrays: retention's input, its verdicts, and each Backup's uid
 * (for the delete's precondition), `n` filled of `cap`. */
typedef struct {
	app_retention_backup *in;
	app_retention_decision *dec;
	const char **uids;
	size_t n, cap;
} schedule_prune_set;

/* Step 7's input for Backup `b` (not being deleted), appended to `set`:
 * its state, pin, use by a Restore, and its time (completion, else
 * creation) in the schedule's zone. */
static void schedule_prune_add(schedule_prune_set *set, const schedule_run *r,
			       const json_t *b, const app_schedule_plan_vbackup *vb,
			       const json_t *restores)
{
	app_retention_backup *in = &set->in[set->n];
	const char *created = ctrl_meta(b, "creationTimestamp");
	const char *pin = ctrl_label(b, APP_LABEL_PIN);
	app_backup_status bst;
	ss_civil civ;
	int64_t t = 0;

	app_backup_status_init(&bst);
	app_backup_status_decode(&bst, b);
	in->name = ctrl_meta(b, "name");
	set->uids[set->n] = ctrl_meta(b, "uid");
	in->state = app_retention_state_of(b);
	in->pinned = pin && strcmp(pin, "true") == 0;
	in->in_use = schedule_held(restores, r->run.name, in->name);
	in->verified = vb->done && ss_streq(vb->result, "Passed");
	in->being_verified = app_schedule_plan_verify_pending(vb);
	if (in->state != APP_RETENTION_RUNNING && bst.completion_ns > 0)
		t = bst.completion_ns;
	else if (created)
		ss_time_parse(&t, created);
	if (t < 0)
		t = 0;
	in->time_ns = t;
	if (ss_tz_local(r->tz, t / SS_NS_PER_SEC, &civ) == 0) {
		in->local.year = civ.year;
		in->local.month = civ.month;
		in->local.day = civ.day;
		in->local.hour = civ.hour;
		in->local.iso_year = civ.iso_year;
		in->local.iso_week = civ.iso_week;
	}
	set->n++;
}

/* Step 7's outcome: with dryRun only status.retention.wouldPrune, else
 * the PRUNE verdicts deleted. */
static void schedule_prune_apply(schedule_run *r, const schedule_prune_set *set)
{
	size_t i;

	if (r->spec.retention.dry_run) {
		r->would_prune = json_array();
		for (i = 0; r->would_prune && i < set->n; i++)
			if (set->dec[i].verdict == APP_RETENTION_PRUNE)
				json_array_append_new(r->would_prune,
						      json_string(set->in[i].name));
		r->st.would_prune = r->would_prune;
		return;
	}
	r->st.would_prune = NULL;
	for (i = 0; i < set->n; i++)
		if (set->dec[i].verdict == APP_RETENTION_PRUNE)
			schedule_prune_backup(r, set->in[i].name, set->uids[i],
					      set->dec[i].reason);
}

/* Step 7: retention over the Backups seen in step 3. 0 or < 0. */
static int schedule_prune(schedule_run *r)
{
	schedule_prune_set set = { NULL, NULL, NULL, 0, json_array_size(r->backups) };
	json_t *restores = NULL;
	app_retention_summary sum;
	size_t i;
	int rc = -1;

	if (!r->spec.retention.enabled || set.cap == 0)
		return 0;
	/* Without the Restores, nothing could be known to be unused. */
	if (r->sc->o.restores && ctrl_store_by_index(&restores, r->sc->o.restores,
						     APP_INDEX_NAMESPACE, r->run.ns) < 0)
		return -1;
	set.in = calloc(set.cap, sizeof(*set.in));
	set.dec = calloc(set.cap, sizeof(*set.dec));
	set.uids = calloc(set.cap, sizeof(*set.uids));
	if (set.in == NULL || set.dec == NULL || set.uids == NULL) {
		rc = ss_error_set(SS_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < set.cap; i++) {
		json_t *b = json_array_get(r->backups, i);

		if (ctrl_meta(b, "name") != NULL && !ctrl_meta(b, "deletionTimestamp"))
			schedule_prune_add(&set, r, b, &r->vb[i], restores);
	}
	rc = app_retention_decide(set.dec, &sum, set.in, set.n, &r->spec.retention,
				  r->run.now);
	if (rc == 0)
		schedule_prune_apply(r, &set);
cleanup:
	json_decref(restores);
	free(set.in);
	free(set.dec);
	free(set.uids);
	return rc;
}

/* ---- 7b: point-in-time coverage ------------------------------------------ */

/* Backup `b` as pitr_window.h sees it; `pruned` (may be NULL) lists the
 * Backups step 7 deleted (still in the cache). */
static void schedule_pitr_backup(app_pitr_backup *out, const json_t *b,
				 const json_t *pruned)
{
	app_backup_status bst;
	const char *g, *name = ctrl_meta(b, "name");
	const json_t *p;
	size_t i;

	memset(out, 0, sizeof(*out));
	app_backup_status_init(&bst);
	app_backup_status_decode(&bst, b);
	out->name = name;
	out->completion_ns = bst.completion_ns;
	out->data_ns = bst.lock.acquired_ns > 0 ? bst.lock.acquired_ns : bst.start_ns;
	out->usable = name && ctrl_condition_is_true(b, "Complete") &&
		      !ctrl_condition_is_false(b, APP_CONDITION_RESTORABLE) &&
		      !ctrl_meta(b, "deletionTimestamp") && out->data_ns > 0;
	json_array_foreach((json_t *)pruned, i, p)
	{
		if (name && ss_streq(json_string_value(p), name))
			out->usable = false;
	}
	g = app_backup_status_gtid(&bst); /* as a Restore starts from it */
	out->has_pos = g != NULL && app_gtid_pos_parse(&out->pos, g) == 0;
}

/* The Unknown reason of a failed connect or read. */
static const char *schedule_pitr_unknown(int rc)
{
	if (rc == SS_EFORBIDDEN)
		return APP_PITR_REASON_PRIVILEGE;
	if (rc == SS_ETIMEOUT || rc == SS_ETRANSPORT)
		return APP_PITR_REASON_UNREACHABLE;
	return APP_PITR_REASON_CHECK_FAILED;
}

/* The one Ready candidate that classifies as the primary into *db
 * (connected); SS_ENOTFOUND with `why` when none or several. Each
 * connect bounded by the connection's timeout, at most 5 s. */
static int schedule_pitr_primary(app_db **out, size_t *idx, const schedule_run *r,
				 const app_target_candidates *m,
				 const app_credentials *cred, char *why, size_t cap)
{
	size_t i, n = 0;
	int last = 0;

	for (i = 0; i < m->n; i++) {
		app_db_status *st = calloc(1, sizeof(*st));
		app_db_verdict v;
		app_db_target t;
		app_db *db = NULL;
		int rc = -1;

		app_credentials_db_target(&t, &r->spec.target.connection, cred,
					  m->c[i].ip, m->c[i].port);
		if (t.connect_timeout_seconds > 5)
			t.connect_timeout_seconds = 5;
		if (st && m->c[i].ready && (rc = app_db_connect(&db, &t)) == 0 &&
		    (rc = app_db_probe(st, db)) == 0 &&
		    app_db_classify(&v, st, 0) == APP_DB_PRIMARY && n++ == 0) {
			*out = db;
			*idx = i;
			db = NULL;
		}
		/* why the last Ready one could not be asked */
		if (rc < 0 && m->c[i].ready) {
			last = rc;
			snprintf(why, cap, "%s", ss_error_last()->message);
		}
		app_db_close(db);
		free(st);
	}
	if (n == 1)
		return 0;
	if (n > 1) {
		app_db_close(*out);
		*out = NULL;
		snprintf(why, cap,
			 "%zu members of the target are writable and replicate "
			 "from no one: which is the primary is not clear",
			 n);
	} else if (last == 0)
		snprintf(why, cap,
			 "no Ready member of the target is the primary "
			 "(writable, replicating from no one)");
	return last < 0 ? last : SS_ENOTFOUND;
}

/* Reads the primary's binlog reach into *c (result OK, BINLOG_OFF or
 * FAILED with the reason; never a secret in the detail: db.h). */
static void schedule_pitr_read(app_pitr_check *c, schedule_run *r, char *why, size_t cap)
{
	app_target_candidates *m = calloc(1, sizeof(*m));
	app_binlog_reach *e = calloc(1, sizeof(*e));
	app_credentials cred = { 0 };
	json_t *pods = NULL;
	const char *reason = NULL;
	app_db *db = NULL;
	size_t idx = 0;
	int rc;

	c->result = APP_PITR_CHECK_FAILED;
	c->checked_ns = r->run.now;
	c->unknown_reason = APP_PITR_REASON_CHECK_FAILED;
	c->detail = why;
	snprintf(why, cap, "out of memory");
	if (!m || !e || !r->sc->o.pods ||
	    ctrl_store_by_index(&pods, r->sc->o.pods, APP_INDEX_NAMESPACE, r->run.ns) < 0)
		goto cleanup;
	if (app_target_resolve(m, &r->spec.target, pods, &reason) < 0 ||
	    app_credentials_read(&cred, r->sc->o.client, r->run.ns,
				 &r->spec.target.connection, &reason) < 0) {
		snprintf(why, cap, "%s", ss_error_last()->message);
		goto cleanup;
	}
	rc = schedule_pitr_primary(&db, &idx, r, m, &cred, why, cap);
	if (rc < 0) {
		c->unknown_reason = rc == SS_ENOTFOUND ? APP_PITR_REASON_NO_PRIMARY
						       : schedule_pitr_unknown(rc);
		goto cleanup;
	}
	ss_strlcpy(r->pit_primary, m->c[idx].pod, sizeof(r->pit_primary));
	c->primary = r->pit_primary;
	rc = app_binlog_reach_read(e, db);
	if (rc < 0) {
		c->unknown_reason = schedule_pitr_unknown(rc);
		snprintf(why, cap, "primary %s: %s", m->c[idx].pod,
			 ss_error_last()->message);
		goto cleanup;
	}
	c->result = e->log_bin ? APP_PITR_CHECK_OK : APP_PITR_CHECK_BINLOG_OFF;
	c->oldest = e->oldest;
	c->expire_seconds = e->expire_seconds;
	ss_strlcpy(why, e->oldest_file, cap); /* the detail is unused when OK */
	c->oldest_file = why;
cleanup:
	app_db_close(db);
	app_credentials_free(&cred);
	json_decref(pods);
	free(m);
	free(e);
}

/* What status.pointInTime had, as the decision's `prev`. */
static void schedule_pitr_prev(app_pitr_prev *p, const schedule_run *r)
{
	memset(p, 0, sizeof(*p));
	p->base = r->st.pit_base;
	p->from_ns = r->st.pit_from_ns;
	p->to_ns = r->st.pit_to_ns;
	p->has_oldest = r->st.pit_binlog_start &&
			app_gtid_pos_parse(&p->oldest, r->st.pit_binlog_start) == 0;
	p->expire_seconds = r->st.pit_expire_seconds;
	p->was_true = ctrl_condition_is_true(r->run.obj, APP_PITR_CONDITION);
}

/* The decision into status (run-owned copies), the condition, the metric
 * and the Events: a base gone, and a verdict that turns from True. */
static void schedule_pitr_apply(schedule_run *r, const app_pitr_window *w,
				const app_pitr_backup *bs, const app_pitr_check *c,
				const app_pitr_prev *prev)
{
	const char *lv[] = { r->run.ns, r->run.name, NULL };
	char t[SS_TIME_RFC3339_MAX];

	ss_strlcpy(r->pit_base, w->base >= 0 ? bs[w->base].name : "",
		   sizeof(r->pit_base));
	r->st.pit_set = true;
	r->st.pit_base = w->base >= 0 ? r->pit_base : NULL;
	r->st.pit_from_ns = w->from_ns;
	r->st.pit_to_ns = w->to_ns;
	if (c->result != APP_PITR_CHECK_NONE) {
		r->st.pit_check_ns = r->run.now;
		r->st.pit_primary = c->primary;
	}
	if (c->result == APP_PITR_CHECK_OK) {
		app_gtid_pos_format(r->pit_start, sizeof(r->pit_start), &c->oldest);
		r->st.pit_expire_seconds = c->expire_seconds;
	} else if (r->st.pit_binlog_start)
		ss_strlcpy(r->pit_start, r->st.pit_binlog_start, sizeof(r->pit_start));
	/* absent when empty: the log's first file is still there (a status
	 * write with binlogStart "" was refused as null by the API server) */
	r->st.pit_binlog_start = r->pit_start[0] ? r->pit_start : NULL;
	if (r->st.pit_primary && r->st.pit_primary != r->pit_primary) {
		ss_strlcpy(r->pit_primary, r->st.pit_primary, sizeof(r->pit_primary));
		r->st.pit_primary = r->pit_primary;
	}
	if (r->st.pit_removed_base) {
		ss_strlcpy(r->pit_removed, r->st.pit_removed_base,
			   sizeof(r->pit_removed));
		r->st.pit_removed_base = r->pit_removed;
	}
	if (w->base_lost) {
		ss_strlcpy(r->pit_removed, w->base_lost, sizeof(r->pit_removed));
		r->st.pit_removed_base = r->pit_removed;
		r->st.pit_removed_ns = r->run.now;
		ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "RecoverableFromMoved",
			       "Backup %s, the oldest base of point-in-time restore, is "
			       "gone: recoverableFrom is now %s",
			       w->base_lost,
			       w->from_ns ? ss_time_format(t, sizeof(t), w->from_ns)
					  : "unset (no base left)");
	}
	ctrl_gauge_set(r->sc->m_pitr, lv, app_pitr_window_seconds(w->from_ns, w->to_ns));
	if (w->reason == NULL)
		return; /* no check: the condition stays */
	r->pit_cond = DEGRADED_TRUE;
	r->pit_status = w->status;
	r->pit_reason = w->reason;
	ss_strlcpy(r->pit_message, w->message, sizeof(r->pit_message));
	if (prev->was_true && w->status != APP_PITR_TRUE)
		ctrl_run_event(&r->run, CTRL_EVENT_WARNING, w->reason, "%s", w->message);
}

/* Step 7b: with spec.pointInTime, how far back a point-in-time Restore
 * can reach (pitr_window.h). The primary is asked only when a check is
 * due (every APP_PITR_CHECK_INTERVAL_SECONDS, and after a Backup
 * completes), bounded (connects of at most 5 s, the read
 * APP_BINLOG_REACH_TIMEOUT_S); between checks a base that went still moves
 * the window. Never fails the reconcile. */
static void schedule_pitr(schedule_run *r)
{
	size_t i, n = json_array_size(r->backups);
	app_pitr_backup *bs = calloc(n ? n : 1, sizeof(*bs));
	app_pitr_window *w = calloc(1, sizeof(*w));
	app_pitr_check *c = calloc(1, sizeof(*c));
	app_pitr_prev *prev = calloc(1, sizeof(*prev));
	char *why = malloc(MSG_MAX);
	const char *lv[] = { r->run.ns, r->run.name, NULL };

	if (!r->spec.point_in_time) {
		if (r->st.pit_set) /* turned off: the series says no window */
			ctrl_gauge_set(r->sc->m_pitr, lv, 0);
		r->st.pit_set = false;
		r->pit_cond = DEGRADED_REMOVE;
		goto cleanup;
	}
	if (!bs || !w || !c || !prev || !why)
		goto cleanup;
	for (i = 0; i < n; i++)
		schedule_pitr_backup(&bs[i], json_array_get(r->backups, i), r->pruned);
	schedule_pitr_prev(prev, r);
	if (app_pitr_check_due(bs, n, r->st.pit_check_ns, r->run.now,
			       r->spec.point_in_time_interval_s))
		schedule_pitr_read(c, r, why, MSG_MAX);
	app_pitr_window_decide(w, bs, n, c, prev, r->run.now);
	schedule_pitr_apply(r, w, bs, c, prev);
	r->pit_wake_ns = app_pitr_next_check_ns(r->st.pit_check_ns,
						r->spec.point_in_time_interval_s);
cleanup:
	free(bs);
	free(w);
	free(c);
	free(prev);
	free(why);
}

/* Ready False for `reason` (a spec that cannot run: no plan, no next
 * time; a spec change brings the next look). CTRL_RUN_STOP, or < 0. */
static int schedule_not_ready(schedule_run *r, const char *reason, const char *message)
{
	int rc;

	schedule_ready(r, CTRL_CONDITION_FALSE, reason);
	if (message != r->run.message)
		ss_strlcpy(r->run.message, message, sizeof(r->run.message));
	r->st.next_schedule_ns = 0;
	rc = schedule_write_status(r);
	if (rc < 0)
		return rc;
	return ctrl_run_stop(&r->run, ctrl_result_done());
}

/* Stops the run to look again at `wake_ns` (absolute; 0: none), and within
 * `within_ns` (0: no bound): a little past a due time, so that it is at or
 * before "now" then. CTRL_RUN_STOP. */
static int schedule_look_again(schedule_run *r, int64_t wake_ns, int64_t within_ns)
{
	int64_t wait = -1;

	if (wake_ns > 0)
		wait = wake_ns - ss_clock_real(r->sc->o.clock) + 10 * SS_NS_PER_MS;
	if (within_ns > 0 && (wait < 0 || wait > within_ns))
		wait = within_ns;
	if (wait < 0)
		return ctrl_run_stop(&r->run, ctrl_result_done());
	return ctrl_run_stop(&r->run, ctrl_result_requeue_after(
					      wait > SS_NS_PER_MS ? wait : SS_NS_PER_MS));
}

/* When to look again at the latest: the next due time of the Backups'
 * cron or of the verification cron, whichever is first (0: neither). */
static int64_t schedule_wake(const schedule_run *r)
{
	int64_t w = r->wake_ns;

	if (w == 0 || (r->vwake_ns > 0 && r->vwake_ns < w))
		w = r->vwake_ns;
	if (w == 0 || (r->pit_wake_ns > 0 && r->pit_wake_ns < w))
		w = r->pit_wake_ns;
	return w;
}

/* A verification request that failed is tried again within the retry
 * bound of a failed create; 0: none failed. */
static int64_t schedule_vretry_ns(const schedule_run *r)
{
	return r->vretry
		       ? app_schedule_plan_retry_cap_ns(r->spec.starting_deadline_seconds)
		       : 0;
}

/* Step 8's Ready: a create that failed now or before (until a Backup is
 * created or the spec changes), else Suspended, else True. */
static void schedule_decide_ready(schedule_run *r, int64_t next_ns)
{
	char when[SS_TIME_RFC3339_MAX];
	char *msg = r->run.message;
	size_t cap = sizeof(r->run.message);

	if (r->failure != NULL) {
		schedule_ready(r, CTRL_CONDITION_FALSE, r->failure);
		ss_strlcpy(msg, r->failure_message, cap);
	} else if (!r->created &&
		   app_schedule_plan_failure_stands(r->was_false ? r->was_reason : NULL,
						    r->spec_changed)) {
		schedule_ready(r, CTRL_CONDITION_FALSE, r->was_reason);
		ss_strlcpy(msg, r->was_message, cap);
	} else if (r->spec.suspend) {
		schedule_ready(r, CTRL_CONDITION_FALSE, "Suspended");
		ss_strlcpy(msg, "spec.suspend is true: no new runs start", cap);
	} else {
		schedule_ready(r, CTRL_CONDITION_TRUE, "Scheduled");
		if (next_ns > 0)
			snprintf(msg, cap, "next run at %s",
				 ss_time_format(when, sizeof(when), next_ns));
		else
			ss_strlcpy(msg, "no further runs", cap);
	}
}

/* Steps 1-2: the schedule from the API, its spec and zone; a spec that
 * cannot run is reported here (Ready False, CTRL_RUN_STOP). 0 to go on. */
static int schedule_load(schedule_run *r)
{
	const char *reason = NULL;
	int rc;

	rc = ctrl_run_read(&r->run, r->sc->o.schedules, false);
	if (rc != 0)
		return rc;
	app_schedule_status_decode(&r->st, r->run.obj);
	r->prev_success_ns = r->st.last_successful_ns;
	schedule_read_was(r);
	r->spec_changed = schedule_spec_changed(r);
	if (app_schedule_spec_decode(&r->spec, r->run.obj, &reason) < 0)
		return schedule_not_ready(r, reason ? reason : "InvalidSpec",
					  ss_error_last()->message);
	if (schedule_zone_get(&r->tz, &r->owned_tz, r->sc, r->spec.time_zone) < 0)
		return schedule_not_ready(r, "InvalidTimeZone", ss_error_last()->message);
	if (app_schedule_plan_never_runs(&r->spec.cron, r->tz, r->run.now)) {
		snprintf(r->run.message, sizeof(r->run.message),
			 "spec.schedule \"%.64s\" never falls due (no such day, e.g. 30 "
			 "February): no Backup would ever be made",
			 r->spec.schedule);
		return schedule_not_ready(r, APP_SCHEDULE_PLAN_REASON_NEVER_RUNS,
					  r->run.message);
	}
	return 0;
}

/* A schedule that cannot start a run now (r->blocked, run.message): its
 * due times wait or are missed (schedule_run_due), Ready is False, and it
 * is looked at again in APP_SCHEDULE_RECHECK_SECONDS or at its next due
 * time or deadline, whichever comes first. CTRL_RUN_STOP, or < 0. */
static int schedule_blocked(schedule_run *r)
{
	int rc;

	schedule_ready(r, CTRL_CONDITION_FALSE, r->blocked);
	rc = schedule_write_status(r);
	if (rc < 0)
		return rc;
	return schedule_look_again(r, schedule_wake(r),
				   APP_SCHEDULE_RECHECK_SECONDS * SS_NS_PER_SEC);
}

/* A create failed (`rc`) in a way that may pass (BackupCreateFailed):
 * Ready says so, the due time waits (r->st), and the reconcile is retried:
 * returns rc. */
static int schedule_create_retry(schedule_run *r, int rc)
{
	schedule_decide_ready(r, r->st.next_schedule_ns);
	schedule_write_status(r);
	return rc;
}

/* Steps 1-9 (schedule.h), in the convention of ctrl/run.h: each step
 * returns < 0 (retried), 0 (go on) or CTRL_RUN_STOP (the run's result). */
static int schedule_steps(schedule_run *r)
{
	int rc;

	/* 1-2 */
	rc = schedule_load(r);
	if (rc != 0)
		return rc;
	/* r->blocked and run.message say why no run can start now: the
	 * plan makes the due times wait or counts them missed */
	if (!r->spec.suspend)
		schedule_preflight(r);
	/* 3 */
	rc = schedule_observe(r);
	if (rc < 0)
		return rc;
	/* 4-5 */
	rc = schedule_run_due(r);
	if (rc < 0)
		return schedule_create_retry(r, rc);
	/* 6, before a blocked schedule stops: the report stays true */
	schedule_verify(r);
	if (r->blocked != NULL)
		return schedule_blocked(r);
	rc = schedule_run_now(r);
	if (rc < 0)
		return schedule_create_retry(r, rc);
	/* 7 */
	if (schedule_prune(r) < 0)
		ss_log(SS_LOG_WARN, "retention failed", SS_LS("schedule", r->run.key),
		       SS_LERR());
	/* 7b, after the Backups due were made: a slow primary delays no run */
	schedule_pitr(r);
	/* 8 */
	schedule_decide_ready(r, r->st.next_schedule_ns);
	rc = schedule_write_status(r);
	if (rc < 0)
		return rc;
	/* 9 */
	return schedule_look_again(r, schedule_wake(r), schedule_vretry_ns(r));
}

ctrl_result app_schedule_reconcile(void *payload, const char *key)
{
	app_schedule_ctrl *sc = payload;
	schedule_run *r = calloc(1, sizeof(*r));
	ctrl_result res;
	int rc;

	if (r == NULL) {
		ss_error_set(SS_ENOMEM, "out of memory");
		return ctrl_result_error();
	}
	r->sc = sc;
	r->spec.starting_deadline_seconds = -1;
	rc = ctrl_run_init(&r->run, &sc->run_opts, key, r);
	if (rc == 0)
		rc = schedule_steps(r);
	else
		rc = ctrl_run_stop(&r->run, ctrl_result_done()); /* no such key */
	res = rc < 0 ? schedule_retry(r) : ctrl_run_result(&r->run, rc);
	ss_tz_free(r->owned_tz);
	json_decref(r->would_prune);
	json_decref(r->pruned);
	json_decref(r->backups);
	free(r->vb);
	ctrl_run_finish(&r->run);
	free(r);
	return res;
}
