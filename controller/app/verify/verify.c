/*
 * verify.c — see verify.h. The steps' numbers are verify.h's.
 *
 * Every step returns ctrl/run.h's convention: < 0 an error (retried with
 * backoff), 0 go on, CTRL_RUN_STOP with the run's result set. A phase is
 * written before the step that acts on it returns, and each step is
 * idempotent, so a killed controller resumes at the recorded phase.
 */
#include "app/verify/verify.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api/api.h"
#include "app/api/index.h"
#include "app/api/names.h"
#include "app/api/owner.h"
#include "app/db/credentials.h"
#include "app/db/db.h"
#include "app/db/verify.h"
#include "app/scratch/scratch.h"
#include "app/verify/verify_plan.h"
#include "ctrl/conditions.h"
#include "ctrl/object.h"
#include "ctrl/run.h"
#include "kube/rest.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

#define VERIFY_MAX_ACTIVE 64
#define VERIFY_DEFAULT_POLL_NS (2 * SS_NS_PER_SEC)
#define VERIFY_BUSY_WAIT_NS (10 * SS_NS_PER_SEC)

static const kube_resource pods_res = { "", "v1", "pods", true };
static const kube_resource claims_res = { "", "v1", "persistentvolumeclaims", true };
static const kube_resource statefulsets_res = { "apps", "v1", "statefulsets", true };

struct app_verify_ctrl {
	app_verify_ctrl_opts o;
	ctrl_run_opts run_opts;
	ctrl_counter *total;
	ctrl_histogram *duration;
	/* Backups whose verification took its database (step 3), so two
	 * cannot start before the cache shows the first one's phase. */
	pthread_mutex_t mu;
	struct {
		char key[CTRL_KEY_MAX];	   /* the Backup; "" free */
		char target[CTRL_KEY_MAX]; /* its database */
	} active[VERIFY_MAX_ACTIVE];
};

/* One reconcile of one Backup. */
typedef struct {
	ctrl_run run;
	app_verify_ctrl *vc;
	app_verification_status v;
	app_backup_status bst;
	app_backup_spec spec;
	bool spec_ok;
	app_verification_spec opts; /* the schedule's, or defaults */
	const char *schedule;	    /* the Backup's schedule label, or "" */
	app_scratch_for sf;
	app_scratch_volume vols[APP_MAX_VOLUMES];
	size_t n_vols;
	char pod_name[APP_NAME_BUF];
	char claim_names[APP_MAX_VOLUMES][APP_NAME_BUF];
	const char *source_claims[APP_MAX_VOLUMES]; /* each volume's backed-up claim */
	/* room for a ServerStart message with the server's last lines */
	char check_msgs[APP_VERIFY_MAX_CHECKS][1024];
	char verdict[CTRL_RUN_MESSAGE_MAX];
} verify_run;

/* ---- the controller ---------------------------------------------------- */

static int verify_encode(json_t *obj, void *payload)
{
	verify_run *r = payload;

	return app_verification_status_encode(obj, &r->v);
}

static void verify_metrics_new(app_verify_ctrl *vc, ctrl_metrics *m)
{
	static const double buckets[] = { 10, 30, 60, 120, 300, 600, 1200, 3600, 7200 };

	vc->total = ctrl_metrics_counter(m, "snapstage_verifications_total",
					 "Restore verifications finished, by verdict.",
					 CTRL_LV("namespace", "schedule", "result"));
	vc->duration = ctrl_metrics_histogram(
		m, "snapstage_verification_duration_seconds",
		"How long a restore verification took, restore to clean-up.",
		CTRL_LV("namespace", "schedule"), buckets, sizeof(buckets) / sizeof(buckets[0]));
	/* snapstage_backup_last_verified_timestamp_seconds is the schedule
	 * controller's: one writer, from the schedule's Backups' status */
}

int app_verify_ctrl_new(app_verify_ctrl **out, const app_verify_ctrl_opts *o)
{
	app_verify_ctrl *vc;

	if (o == NULL || o->client == NULL || o->backups == NULL)
		return ss_error_set(SS_EINVALID, "verify controller: client and backups required");
	vc = calloc(1, sizeof(*vc));
	if (vc == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	vc->o = *o;
	if (vc->o.clock == NULL)
		vc->o.clock = ss_clock_system();
	if (vc->o.poll_ns <= 0)
		vc->o.poll_ns = VERIFY_DEFAULT_POLL_NS;
	vc->run_opts.client = o->client;
	vc->run_opts.resource = &app_backups;
	vc->run_opts.events = o->events;
	vc->run_opts.clock = vc->o.clock;
	vc->run_opts.encode = verify_encode;
	if (o->metrics != NULL)
		verify_metrics_new(vc, o->metrics);
	pthread_mutex_init(&vc->mu, NULL);
	*out = vc;
	return 0;
}

void app_verify_ctrl_free(app_verify_ctrl *vc)
{
	if (vc == NULL)
		return;
	pthread_mutex_destroy(&vc->mu);
	free(vc);
}

/* The registry: `key` takes database `target` (verify_target_id), unless
 * another Backup holds it (false, *who its key copied into who, cap
 * bytes) or the registry is full (false, who ""). Taking it again is
 * fine. */
static bool registry_take(app_verify_ctrl *vc, const char *key, const char *target,
			  char *who, size_t cap)
{
	size_t i, free_slot = VERIFY_MAX_ACTIVE;
	bool ok = true;

	who[0] = '\0';
	pthread_mutex_lock(&vc->mu);
	for (i = 0; i < VERIFY_MAX_ACTIVE; i++) {
		if (vc->active[i].key[0] == '\0') {
			if (free_slot == VERIFY_MAX_ACTIVE)
				free_slot = i;
		} else if (ss_streq(vc->active[i].target, target) &&
			   !ss_streq(vc->active[i].key, key)) {
			snprintf(who, cap, "%s", vc->active[i].key);
			ok = false;
			goto done;
		} else if (ss_streq(vc->active[i].key, key)) {
			goto done;
		}
	}
	ok = free_slot < VERIFY_MAX_ACTIVE;
	if (ok) {
		snprintf(vc->active[free_slot].key, CTRL_KEY_MAX, "%s", key);
		snprintf(vc->active[free_slot].target, CTRL_KEY_MAX, "%s", target);
	}
done:
	pthread_mutex_unlock(&vc->mu);
	return ok;
}

static void registry_drop(app_verify_ctrl *vc, const char *key)
{
	size_t i;

	pthread_mutex_lock(&vc->mu);
	for (i = 0; i < VERIFY_MAX_ACTIVE; i++)
		if (ss_streq(vc->active[i].key, key))
			vc->active[i].key[0] = '\0';
	pthread_mutex_unlock(&vc->mu);
}

/* ---- small helpers ----------------------------------------------------- */

static int64_t verify_now(const verify_run *r)
{
	return ss_clock_real(r->vc->o.clock);
}

static int verify_done(verify_run *r)
{
	return ctrl_run_stop(&r->run, ctrl_result_done());
}

static int verify_poll(verify_run *r, int64_t after_ns)
{
	return ctrl_run_stop(&r->run, ctrl_result_requeue_after(after_ns));
}

/* A waiting step looks again soon in the first seconds of its phase
 * (claims bind and a small server starts in about a second: a 2 s poll was
 * most of a small verification's time), then every poll_ns. */
static int verify_wait(verify_run *r)
{
	int64_t in_phase = ss_clock_real(r->vc->o.clock) - r->v.phase_start_ns;

	return verify_poll(r, in_phase < 10 * SS_NS_PER_SEC ? r->vc->o.poll_ns / 4
							 : r->vc->o.poll_ns);
}

/* The database a Backup targets, for the registry: "<ns>/sts/<name>" or
 * "<ns>/sel/<selector JSON>" (cut to fit: a long selector shares a prefix
 * rarely enough, and a false match only makes one wait). */
static void verify_target_id(char *out, size_t cap, const verify_run *r)
{
	const json_t *t = json_object_get(json_object_get(r->run.obj, "spec"), "target");
	const char *sts = json_string_value(json_object_get(t, "statefulSetName"));
	char *sel;

	if (sts != NULL) {
		snprintf(out, cap, "%.64s/sts/%.240s", r->run.ns, sts);
		return;
	}
	sel = json_dumps(json_object_get(t, "podSelector"), JSON_COMPACT | JSON_SORT_KEYS);
	snprintf(out, cap, "%.64s/sel/%.240s", r->run.ns, sel ? sel : "?");
	free(sel);
}

/* Moves to `phase`: the time of the phase recorded, then the status. */
static int verify_enter(verify_run *r, app_verify_phase phase)
{
	r->v.has_phase = true;
	r->v.phase = phase;
	r->v.phase_start_ns = verify_now(r);
	return ctrl_run_write_status(&r->run);
}

/* Milliseconds since `since_ns` (0: unknown, -1). */
static int64_t verify_ms_since(const verify_run *r, int64_t since_ns)
{
	int64_t d = verify_now(r) - since_ns;

	return since_ns == 0 ? -1 : (d < 0 ? 0 : d / SS_NS_PER_MS);
}

/* Appends a check's record; `msg` is copied into the run's buffers. */
static void verify_record(verify_run *r, const char *type, const char *name,
			  app_verify_check_result res, int64_t ms, const char *msg)
{
	app_verify_check_status *c;
	size_t i = r->v.n_checks;

	if (i >= APP_VERIFY_MAX_CHECKS)
		return;
	ss_strlcpy(r->check_msgs[i], msg ? msg : "", sizeof(r->check_msgs[i]));
	c = &r->v.checks[i];
	c->type = type;
	c->name = name;
	c->result = app_verify_check_result_name(res);
	c->duration_ms = ms;
	c->message = r->check_msgs[i];
	r->v.n_checks++;
}

/* Keeps the strings the status borrows from a copy of the Backup that a
 * status write may replace: ctrl_run holds replaced copies, so nothing to
 * do but keep the record's strings in the run's own buffers. */

static json_t *verify_finalizer_patch(const json_t *obj, bool on)
{
	const json_t *f;
	json_t *list = json_array(), *patch;
	size_t i;

	if (list == NULL)
		return NULL;
	json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "finalizers"),
			   i, f)
	{
		if (!ss_streq(json_string_value(f), APP_VERIFY_FINALIZER))
			json_array_append(list, (json_t *)f);
	}
	if (on)
		json_array_append_new(list, json_string(APP_VERIFY_FINALIZER));
	patch = json_pack("{s:{s:O,s:s}}", "metadata", "finalizers", list, "resourceVersion",
			  ctrl_meta(obj, "resourceVersion") ? ctrl_meta(obj, "resourceVersion")
							    : "");
	json_decref(list);
	return patch;
}

static bool verify_has_finalizer(const json_t *obj)
{
	const json_t *f;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "finalizers"),
			   i, f)
	{
		if (ss_streq(json_string_value(f), APP_VERIFY_FINALIZER))
			return true;
	}
	return false;
}

/* Adds or removes our finalizer (merge patch at the copy's
 * resourceVersion; a conflict is retried on a fresh copy). */
static int verify_set_finalizer(verify_run *r, bool on)
{
	kube_patch_opts po = { 0 };
	int rc = 0, tries;

	for (tries = 0; tries < 3; tries++) {
		json_t *patch, *out = NULL;

		if (verify_has_finalizer(r->run.obj) == on)
			return 0;
		patch = verify_finalizer_patch(r->run.obj, on);
		if (patch == NULL)
			return ss_error_set(SS_ENOMEM, "out of memory");
		rc = kube_patch(&out, r->vc->o.client, &app_backups, r->run.ns, r->run.name,
				KUBE_PATCH_MERGE, patch, &po);
		json_decref(patch);
		if (rc == SS_ENOTFOUND && !on)
			return 0;
		if (rc == SS_ECONFLICT)
			rc = kube_get(&out, r->vc->o.client, &app_backups, r->run.ns,
				      r->run.name);
		if (rc < 0)
			return rc;
		if (ctrl_run_replace(&r->run, out) < 0)
			return ss_error_set(SS_ENOMEM, "out of memory");
	}
	return rc;
}

/* ---- step 2's loading ------------------------------------------------------ */

static void verify_default_opts(app_verification_spec *o)
{
	memset(o, 0, sizeof(*o));
	o->start_timeout_seconds = APP_DEFAULT_VERIFY_START_TIMEOUT_SECONDS;
	o->check_timeout_seconds = APP_DEFAULT_VERIFY_CHECK_TIMEOUT_SECONDS;
	o->max_tables = APP_DEFAULT_VERIFY_MAX_TABLES;
}

/* The options: the Backup's own schedule's spec.verification when the
 * schedule is in the cache, decodes and made this Backup; else defaults
 * (a hand-made Backup, or a schedule without verification: the built-in
 * checks only). */
static void verify_load_opts(verify_run *r)
{
	const json_t *labels = json_object_get(json_object_get(r->run.obj, "metadata"), "labels");
	json_t *sched = NULL;
	app_schedule_spec ss;
	char key[CTRL_KEY_MAX];

	verify_default_opts(&r->opts);
	r->schedule = json_string_value(json_object_get(labels, APP_LABEL_SCHEDULE));
	if (r->schedule == NULL) {
		r->schedule = "";
		return;
	}
	if (r->vc->o.schedules == NULL)
		return;
	snprintf(key, sizeof(key), "%.64s/%.250s", r->run.ns, r->schedule);
	if (ctrl_store_get(&sched, r->vc->o.schedules, key) < 0 || sched == NULL)
		return;
	if (ctrl_run_hold(&r->run, sched) == NULL)
		return;
	if (app_owner_run_origin(r->run.obj, r->schedule, ctrl_meta(sched, "uid")) !=
		    APP_OWNER_FOREIGN &&
	    app_schedule_spec_decode(&ss, sched, NULL) == 0 && ss.verification.enabled)
		r->opts = ss.verification;
}

/* The Backup's volumes (status.snapshots) and the scratch names. */
static int verify_load_volumes(verify_run *r)
{
	size_t i;

	r->sf.owner = r->run.obj;
	r->sf.purpose = APP_SCRATCH_VERIFY;
	if (app_scratch_pod_name(r->pod_name, sizeof(r->pod_name), &r->sf) < 0)
		return -1;
	r->n_vols = app_verify_plan_volumes(r->vols, r->source_claims, &r->bst);
	for (i = 0; i < r->n_vols; i++)
		if (app_scratch_claim_name(r->claim_names[i], APP_NAME_BUF, &r->sf,
					   r->vols[i].volume) < 0)
			return -1;
	return 0;
}

/* Reads what every step needs from the Backup in run.obj. The spec is
 * decoded but not required: the clean-up needs only the names. */
static int verify_load(verify_run *r)
{
	if (ctrl_run_hold(&r->run, json_incref(r->run.obj)) == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	app_backup_status_decode(&r->bst, r->run.obj);
	app_verification_status_decode(&r->v, r->run.obj);
	r->spec_ok = app_backup_spec_decode(&r->spec, r->run.obj, NULL) == 0;
	verify_load_opts(r);
	return verify_load_volumes(r);
}

/* ---- the steps ---------------------------------------------------------- */

static int verify_cleanup(verify_run *r);

/* The verdict Failed with `reason` (a failure that is no check's, e.g.
 * SourceNotReady), then the clean-up. */
static int verify_fail(verify_run *r, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int verify_fail(verify_run *r, const char *reason, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(r->verdict, sizeof(r->verdict), fmt, ap);
	va_end(ap);
	r->v.result = "Failed";
	r->v.reason = reason;
	r->v.message = r->verdict;
	rc = verify_enter(r, APP_VERIFY_CLEANING_UP);
	return rc < 0 ? rc : verify_cleanup(r);
}

/* Whether the start bound (claims and server) has passed. */
static bool verify_start_expired(const verify_run *r)
{
	return verify_now(r) - r->v.start_ns >
	       (int64_t)r->opts.start_timeout_seconds * SS_NS_PER_SEC;
}

/* Step 2: a new token. */
static int verify_start(verify_run *r)
{
	const char *token = app_verify_plan_token(r->run.obj), *why = NULL;
	int rc;

	app_verification_status_init(&r->v);
	r->v.token = token;
	r->v.start_ns = verify_now(r);
	ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "VerificationStarted",
		       "restore verification requested (%.256s)", token);
	if (!app_verify_plan_source_ok(r->run.obj, &why))
		return verify_fail(r, "SourceNotReady", "the Backup cannot be verified: %s",
				   why);
	if (!r->spec_ok)
		return verify_fail(r, "InvalidSpec", "the Backup's spec does not decode");
	rc = verify_enter(r, APP_VERIFY_PENDING);
	return rc;
}

/* Step 3: wait for the database, then take it. */
static int verify_pending(verify_run *r)
{
	char target[CTRL_KEY_MAX], who[CTRL_KEY_MAX];
	const char *why = NULL, *blocker = NULL;
	json_t *backups = NULL, *restores = NULL;
	int rc;

	verify_target_id(target, sizeof(target), r);
	/* any namespace's: the plan compares namespaces */
	if (ctrl_store_by_index(&backups, r->vc->o.backups, APP_INDEX_NAMESPACE,
				r->run.ns) < 0)
		ctrl_store_list(&backups, r->vc->o.backups);
	if (r->vc->o.restores &&
	    ctrl_store_by_index(&restores, r->vc->o.restores, APP_INDEX_NAMESPACE,
				r->run.ns) < 0)
		ctrl_store_list(&restores, r->vc->o.restores);
	why = app_verify_plan_busy(r->run.obj, backups, restores, &blocker);
	if (why != NULL)
		snprintf(who, sizeof(who), "%s", blocker);
	json_decref(backups);
	json_decref(restores);
	if (why == NULL && !registry_take(r->vc, r->run.key, target, who, sizeof(who)))
		why = "another Backup of the same database is being verified";
	if (why != NULL) {
		snprintf(r->verdict, sizeof(r->verdict), "waiting: %s (%s)", why, who);
		r->v.message = r->verdict;
		rc = ctrl_run_write_status(&r->run);
		return rc < 0 ? rc : verify_poll(r, VERIFY_BUSY_WAIT_NS);
	}
	r->v.message = NULL;
	rc = verify_set_finalizer(r, true);
	return rc < 0 ? rc : verify_enter(r, APP_VERIFY_RESTORING);
}

/* One scratch claim: made when missing (from the plan, with the claim it
 * was cut from for its class), else checked to be ours. *bound says
 * whether it is Bound; *why what else it is. */
static int verify_claim(verify_run *r, size_t i, bool *bound, const char **why)
{
	json_t *pvc = NULL, *plan = NULL, *src = NULL;
	const char *phase;
	int rc;

	*bound = false;
	rc = kube_get(&pvc, r->vc->o.client, &claims_res, r->run.ns, r->claim_names[i]);
	if (rc == SS_ENOTFOUND) {
		/* r->vols skips snapshots without a name: its own claim list */
		if (r->source_claims[i] != NULL &&
		    kube_get(&src, r->vc->o.client, &claims_res, r->run.ns,
			     r->source_claims[i]) == 0)
			r->vols[i].source_claim = src;
		rc = app_scratch_claims_plan(&plan, &r->sf, &r->vols[i], 1,
					     r->opts.storage_class);
		r->vols[i].source_claim = NULL;
		json_decref(src);
		if (rc == 0)
			rc = kube_create(&pvc, r->vc->o.client, &claims_res, r->run.ns,
					 json_array_get(plan, 0));
		json_decref(plan);
		if (rc == SS_EEXISTS)
			rc = kube_get(&pvc, r->vc->o.client, &claims_res, r->run.ns,
				      r->claim_names[i]);
	}
	if (rc < 0)
		return rc;
	if (!app_scratch_is_ours(pvc, &r->sf)) {
		json_decref(pvc);
		return ss_error_set(SS_EEXISTS, "a claim %s exists that this verification "
						"did not make", r->claim_names[i]);
	}
	phase = json_string_value(json_object_get(json_object_get(pvc, "status"), "phase"));
	*bound = ss_streq(phase, "Bound");
	*why = ss_streq(phase, "Lost") ? "Lost" : "not Bound yet";
	json_decref(pvc);
	return 0;
}

/* Step 4: the scratch claims, until every one is Bound. */
static int verify_restoring(verify_run *r)
{
	const char *why = NULL, *waiting = NULL;
	bool bound;
	size_t i;
	int rc;

	for (i = 0; i < r->n_vols; i++) {
		r->v.claims[i] = r->claim_names[i];
		rc = verify_claim(r, i, &bound, &why);
		if (rc == SS_EEXISTS)
			return verify_fail(r, "ScratchNameTaken", "%s", ss_error_last()->message);
		if (rc < 0)
			return rc;
		if (!bound && waiting == NULL)
			waiting = r->claim_names[i];
	}
	r->v.n_claims = r->n_vols;
	if (waiting == NULL) {
		r->v.restore_ms = verify_ms_since(r, r->v.phase_start_ns);
		return verify_enter(r, APP_VERIFY_STARTING); /* 0: on to step 5 */
	}
	if (verify_start_expired(r)) {
		snprintf(r->verdict, sizeof(r->verdict),
			 "scratch claim %.253s was not Bound within %d s (%s)", waiting,
			 r->opts.start_timeout_seconds, why);
		verify_record(r, "ServerStart", NULL, APP_VERIFY_CHECK_FAILED,
			      verify_ms_since(r, r->v.start_ns), r->verdict);
		app_verify_plan_verdict(&r->v, r->verdict, sizeof(r->verdict));
		rc = verify_enter(r, APP_VERIFY_CLEANING_UP);
		return rc < 0 ? rc : verify_cleanup(r);
	}
	return verify_wait(r);
}

/* The StatefulSet whose template the scratch Pod copies: the target's, or
 * (a podSelector target) the one that owns the pod the Backup was cut on.
 * NULL when there is none. */
static const char *verify_statefulset(verify_run *r)
{
	json_t *pod = NULL;
	const json_t *ref;
	const char *name = NULL;
	size_t i;

	if (r->spec.target.statefulset_name != NULL)
		return r->spec.target.statefulset_name;
	if (r->bst.source_pod == NULL ||
	    kube_get(&pod, r->vc->o.client, &pods_res, r->run.ns, r->bst.source_pod) < 0)
		return NULL;
	json_array_foreach(json_object_get(json_object_get(pod, "metadata"), "ownerReferences"),
			   i, ref)
	{
		if (ss_streq(json_string_value(json_object_get(ref, "kind")), "StatefulSet"))
			name = json_string_value(json_object_get(ref, "name"));
	}
	if (name != NULL)
		name = json_string_value(ctrl_run_hold(&r->run, json_string(name)));
	json_decref(pod);
	return name;
}

/* Makes the scratch Pod from the StatefulSet's template. */
static int verify_make_pod(verify_run *r, json_t **out)
{
	const char *sts = verify_statefulset(r);
	json_t *set = NULL, *plan = NULL;
	int rc;

	if (sts == NULL)
		return ss_error_set(SS_ENOTFOUND, "no StatefulSet to take the pod template "
						  "from (the target names none, and the pod "
						  "the Backup was cut on has no StatefulSet owner)");
	rc = kube_get(&set, r->vc->o.client, &statefulsets_res, r->run.ns, sts);
	if (rc == SS_ENOTFOUND)
		return ss_error_set(SS_ENOTFOUND, "StatefulSet %s/%s is gone", r->run.ns, sts);
	if (rc == 0)
		rc = app_scratch_pod_plan(&plan, &r->sf, set, r->vols, r->n_vols,
					  r->opts.resources);
	json_decref(set);
	if (rc == 0)
		rc = kube_create(out, r->vc->o.client, &pods_res, r->run.ns, plan);
	json_decref(plan);
	if (rc == SS_EEXISTS)
		rc = kube_get(out, r->vc->o.client, &pods_res, r->run.ns, r->pod_name);
	return rc;
}

/* Step 5's end: Ready (-> Checking), or not Ready in time. */
static int verify_started(verify_run *r, bool ready, const char *why)
{
	int rc;

	if (ready) {
		r->v.start_ms = verify_ms_since(r, r->v.phase_start_ns);
		snprintf(r->verdict, sizeof(r->verdict), "Ready in %.1f s",
			 (double)r->v.start_ms / 1000.0);
		verify_record(r, "ServerStart", NULL, APP_VERIFY_CHECK_PASSED, r->v.start_ms,
			      r->verdict);
		rc = verify_enter(r, APP_VERIFY_CHECKING);
		return rc < 0 ? rc : 0;
	}
	snprintf(r->verdict, sizeof(r->verdict),
		 "the scratch server was not Ready within %d s: %.800s",
		 r->opts.start_timeout_seconds, why);
	verify_record(r, "ServerStart", NULL, APP_VERIFY_CHECK_FAILED,
		      verify_ms_since(r, r->v.phase_start_ns), r->verdict);
	app_verify_plan_verdict(&r->v, r->verdict, sizeof(r->verdict));
	rc = verify_enter(r, APP_VERIFY_CLEANING_UP);
	return rc < 0 ? rc : verify_cleanup(r);
}

/* Step 5: the scratch Pod, until Ready. 0 to go on to the checks. */
static int verify_starting(verify_run *r)
{
	/* app_scratch_pod_state keeps the end of the server's last lines (its
	 * errors) within this, and the check's message holds it whole */
	char why[800] = "";
	json_t *pod = NULL;
	app_scratch_state st;
	int rc;

	r->v.pod = r->pod_name;
	rc = kube_get(&pod, r->vc->o.client, &pods_res, r->run.ns, r->pod_name);
	if (rc == SS_ENOTFOUND)
		rc = verify_make_pod(r, &pod);
	if (rc == SS_ENOTFOUND)
		return verify_fail(r, "TargetNotFound", "%s", ss_error_last()->message);
	if (rc < 0)
		return rc;
	if (!app_scratch_is_ours(pod, &r->sf)) {
		json_decref(pod);
		return verify_fail(r, "ScratchNameTaken",
				   "a Pod %s exists that this verification did not make",
				   r->pod_name);
	}
	st = app_scratch_pod_state(pod, why, sizeof(why));
	json_decref(pod);
	if (st == APP_SCRATCH_READY)
		return verify_started(r, true, NULL);
	if (st == APP_SCRATCH_GONE)
		snprintf(why, sizeof(why), "the scratch Pod went away");
	if (st == APP_SCRATCH_GONE || verify_start_expired(r))
		return verify_started(r, false, why);
	return verify_wait(r);
}

/* The scratch server's address: the Pod's IP and the main container's
 * port named "mysql", else the connection's port, else 3306. */
static int verify_address(verify_run *r, char *ip, size_t cap, int *port)
{
	json_t *pod = NULL;
	const json_t *c, *p;
	const char *addr;
	size_t i, j;
	int rc;

	rc = kube_get(&pod, r->vc->o.client, &pods_res, r->run.ns, r->pod_name);
	if (rc < 0)
		return rc;
	addr = json_string_value(json_object_get(json_object_get(pod, "status"), "podIP"));
	snprintf(ip, cap, "%s", addr ? addr : "");
	*port = r->spec.target.connection.port > 0 ? r->spec.target.connection.port
						   : APP_DEFAULT_MYSQL_PORT;
	json_array_foreach(json_object_get(json_object_get(pod, "spec"), "containers"), i, c)
	{
		json_array_foreach(json_object_get(c, "ports"), j, p)
		{
			if (ss_streq(json_string_value(json_object_get(p, "name")), "mysql") &&
			    json_is_integer(json_object_get(p, "containerPort")))
				*port = (int)json_integer_value(
					json_object_get(p, "containerPort"));
		}
	}
	json_decref(pod);
	return ip[0] ? 0 : ss_error_set(SS_ENOTFOUND, "the scratch Pod has no IP");
}

/* Connects to the scratch server with the Backup's credentials. The
 * scratch server answers to the live servers' certificate under another
 * address: VerifyIdentity is checked as VerifyCA. */
static int verify_connect(verify_run *r, app_db **db)
{
	app_connection conn = r->spec.target.connection;
	app_credentials cred = { 0 };
	const char *reason = NULL;
	app_db_target t;
	char ip[64];
	int port, rc;

	rc = verify_address(r, ip, sizeof(ip), &port);
	if (rc < 0)
		return rc;
	if (conn.tls_mode == APP_TLS_VERIFY_IDENTITY)
		conn.tls_mode = APP_TLS_VERIFY_CA;
	rc = app_credentials_read(&cred, r->vc->o.client, r->run.ns, &conn, &reason);
	if (rc < 0)
		return rc;
	app_credentials_db_target(&t, &conn, &cred, ip, port);
	rc = app_db_connect(db, &t);
	app_credentials_free(&cred);
	return rc;
}

static void verify_tables(verify_run *r, app_db *db, int64_t deadline)
{
	int64_t t0 = ss_clock_mono(r->vc->o.clock);
	app_db_table_checks tc;
	char msg[APP_DB_CHECK_MESSAGE_MAX];
	app_verify_check_result res;
	int rc;

	rc = app_db_check_tables(&tc, db, r->opts.max_tables, deadline);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "could not list the tables: %.400s",
			 ss_error_last()->message);
		res = APP_VERIFY_CHECK_FAILED;
	} else if (tc.n_tables == 0) {
		/* information_schema lists only what the account may see */
		snprintf(msg, sizeof(msg), "no table was listed: the connection's account "
					   "sees none (it needs SELECT on the tables), so "
					   "nothing was checked");
		res = APP_VERIFY_CHECK_FAILED;
	} else if (tc.n_checked == 0) {
		snprintf(msg, sizeof(msg), "none of %zu tables was checked (bounds)",
			 tc.n_tables);
		res = APP_VERIFY_CHECK_FAILED;
	} else if (tc.n_corrupt > 0) {
		snprintf(msg, sizeof(msg), "%zu of %zu tables corrupt: %.400s", tc.n_corrupt,
			 tc.n_tables, tc.corrupt);
		res = APP_VERIFY_CHECK_FAILED;
	} else {
		snprintf(msg, sizeof(msg), "%zu tables OK, %zu not checked (bounds, engines)",
			 tc.n_checked, tc.n_skipped);
		res = APP_VERIFY_CHECK_PASSED;
	}
	verify_record(r, "CheckTable", NULL, res,
		      (ss_clock_mono(r->vc->o.clock) - t0) / SS_NS_PER_MS, msg);
}

static void verify_position(verify_run *r, app_db *db)
{
	int64_t t0 = ss_clock_mono(r->vc->o.clock);
	app_db_status *st = calloc(1, sizeof(*st));
	char msg[APP_DB_CHECK_MESSAGE_MAX];
	app_verify_check_result res = APP_VERIFY_CHECK_FAILED;

	if (st == NULL || app_db_probe(st, db) < 0)
		snprintf(msg, sizeof(msg), "could not read the position: %.400s",
			 ss_error_last()->message);
	else
		res = app_verify_plan_position(msg, sizeof(msg), &r->bst.position,
					       st->gtid_binlog_pos, st->gtid_slave_pos);
	free(st);
	verify_record(r, "Position", NULL, res,
		      (ss_clock_mono(r->vc->o.clock) - t0) / SS_NS_PER_MS, msg);
}

static void verify_user_checks(verify_run *r, app_db *db, int64_t deadline)
{
	char msg[APP_DB_CHECK_MESSAGE_MAX];
	size_t i;

	for (i = 0; i < r->opts.n_checks; i++) {
		int64_t t0 = ss_clock_mono(r->vc->o.clock);
		int64_t left = (deadline - t0) / SS_NS_PER_SEC;
		bool passed = false;

		if (left < 1) {
			verify_record(r, "User", r->opts.checks[i].name, APP_VERIFY_CHECK_FAILED,
				      0, "not run: checkTimeoutSeconds was used up");
			continue;
		}
		if (app_db_run_check(&passed, msg, sizeof(msg), db, &r->opts.checks[i],
				     left > 3600 ? 3600 : (int)left) < 0)
			snprintf(msg, sizeof(msg), "the connection failed: %.400s",
				 ss_error_last()->message);
		verify_record(r, "User", r->opts.checks[i].name,
			      passed ? APP_VERIFY_CHECK_PASSED : APP_VERIFY_CHECK_FAILED,
			      (ss_clock_mono(r->vc->o.clock) - t0) / SS_NS_PER_MS, msg);
	}
}

/* Step 6: every check, then the verdict and the clean-up. Checks recorded
 * by a run that was killed are dropped and run again. */
static int verify_checking(verify_run *r)
{
	int64_t deadline;
	app_db *db = NULL;
	int rc;

	while (r->v.n_checks > 0 && !ss_streq(r->v.checks[r->v.n_checks - 1].type,
					       "ServerStart"))
		r->v.n_checks--;
	rc = verify_connect(r, &db);
	if (rc < 0)
		return verify_fail(r, "ConnectFailed",
				   "could not connect to the scratch server: %.1500s",
				   ss_error_last()->message);
	deadline = ss_clock_mono(r->vc->o.clock) +
		   (int64_t)r->opts.check_timeout_seconds * SS_NS_PER_SEC;
	verify_tables(r, db, deadline);
	verify_position(r, db);
	verify_user_checks(r, db, deadline);
	app_db_close(db);
	r->v.check_ms = verify_ms_since(r, r->v.phase_start_ns);
	app_verify_plan_verdict(&r->v, r->verdict, sizeof(r->verdict));
	rc = verify_enter(r, APP_VERIFY_CLEANING_UP);
	return rc < 0 ? rc : verify_cleanup(r);
}

/* Deletes one scratch object if it is ours (uid precondition); *left
 * counts the ones still there. */
static int verify_delete(verify_run *r, const kube_resource *res, const char *name,
			 int *left)
{
	kube_delete_opts del = KUBE_DELETE_OPTS_INIT;
	json_t *obj = NULL;
	int rc;

	rc = kube_get(&obj, r->vc->o.client, res, r->run.ns, name);
	if (rc == SS_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	if (!app_scratch_is_ours(obj, &r->sf)) {
		json_decref(obj); /* not ours: never touched */
		return 0;
	}
	(*left)++;
	if (ctrl_meta(obj, "deletionTimestamp") == NULL) {
		del.precondition_uid = ctrl_meta(obj, "uid");
		del.propagation = KUBE_PROPAGATION_BACKGROUND;
		rc = kube_delete(NULL, r->vc->o.client, res, r->run.ns, name, &del);
		if (rc == SS_ENOTFOUND || rc == SS_ECONFLICT)
			rc = 0;
	}
	json_decref(obj);
	return rc;
}

/* Step 7's end: Done, the condition, the Event and the metrics. */
static int verify_finish(verify_run *r)
{
	const char *lv[] = { r->run.ns, r->schedule, r->v.result ? r->v.result : "Failed",
			     NULL };
	bool passed = ss_streq(r->v.result, "Passed");
	double secs;
	int rc;

	r->v.cleanup_ms = verify_ms_since(r, r->v.phase_start_ns);
	r->v.completion_ns = verify_now(r);
	snprintf(r->run.message, sizeof(r->run.message), "%s",
		 r->v.message ? r->v.message : "");
	ctrl_run_condition(&r->run, APP_CONDITION_VERIFIED,
			   passed ? CTRL_CONDITION_TRUE : CTRL_CONDITION_FALSE,
			   r->v.reason ? r->v.reason : (passed ? "Verified" : "Failed"));
	rc = verify_enter(r, APP_VERIFY_DONE);
	if (rc < 0)
		return rc;
	ctrl_run_event(&r->run, passed ? CTRL_EVENT_NORMAL : CTRL_EVENT_WARNING,
		       passed ? "VerificationPassed" : "VerificationFailed", "%s: %.1000s",
		       r->v.reason ? r->v.reason : "", r->v.message ? r->v.message : "");
	secs = (double)(r->v.completion_ns - r->v.start_ns) / (double)SS_NS_PER_SEC;
	if (r->vc->total)
		ctrl_counter_inc(r->vc->total, lv);
	if (r->vc->duration)
		ctrl_histogram_observe(r->vc->duration, CTRL_LV(r->run.ns, r->schedule), secs);
	return 0;
}

/* Step 7: the scratch objects go; once none is left, Done (unless the
 * Backup itself is being deleted) and our finalizer goes. */
static int verify_cleanup(verify_run *r)
{
	bool deleting = ctrl_meta(r->run.obj, "deletionTimestamp") != NULL;
	int left = 0, rc;
	size_t i;

	rc = verify_delete(r, &pods_res, r->pod_name, &left);
	for (i = 0; rc == 0 && i < r->n_vols; i++)
		rc = verify_delete(r, &claims_res, r->claim_names[i], &left);
	if (rc < 0)
		return rc;
	if (left > 0)
		return verify_wait(r);
	if (!deleting && r->v.has_phase && r->v.phase != APP_VERIFY_DONE &&
	    (rc = verify_finish(r)) < 0)
		return rc;
	registry_drop(r->vc, r->run.key);
	rc = verify_set_finalizer(r, false);
	return rc < 0 ? rc : verify_done(r);
}

/* A verification past Pending holds its database in the registry (again,
 * after a restart: the cache then says so too). */
static void verify_hold_database(verify_run *r)
{
	char target[CTRL_KEY_MAX], who[CTRL_KEY_MAX];

	verify_target_id(target, sizeof(target), r);
	(void)registry_take(r->vc, r->run.key, target, who, sizeof(who));
}

/* Steps 3-7 by the recorded phase. */
static int verify_continue(verify_run *r)
{
	int rc = 0;

	if (!r->v.has_phase || r->v.phase == APP_VERIFY_DONE)
		return verify_cleanup(r); /* a finalizer left behind */
	if (r->v.phase == APP_VERIFY_PENDING)
		rc = verify_pending(r);
	if (rc == 0 && r->v.phase != APP_VERIFY_PENDING)
		verify_hold_database(r);
	if (rc == 0 && r->v.phase == APP_VERIFY_RESTORING)
		rc = verify_restoring(r);
	if (rc == 0 && r->v.phase == APP_VERIFY_STARTING)
		rc = verify_starting(r);
	if (rc == 0 && r->v.phase == APP_VERIFY_CHECKING)
		rc = verify_checking(r);
	if (rc == 0 && r->v.phase == APP_VERIFY_CLEANING_UP)
		rc = verify_cleanup(r);
	return rc;
}

/* Steps 1-2 on the Backup in run.obj. */
static int verify_steps(verify_run *r)
{
	int rc = verify_load(r);

	if (rc < 0)
		return rc;
	switch (app_verify_plan_todo(r->run.obj, &r->v)) {
	case APP_VERIFY_PLAN_NOTHING: return verify_done(r);
	case APP_VERIFY_PLAN_DELETED: return verify_cleanup(r);
	case APP_VERIFY_PLAN_START:
		rc = verify_start(r);
		return rc == 0 ? verify_continue(r) : rc;
	default: return verify_continue(r);
	}
}

/* Whether the cache's copy of `key` asks for anything (a miss: no). */
static bool verify_wanted(app_verify_ctrl *vc, const char *key)
{
	app_verification_status v;
	json_t *cached = NULL;
	bool want;

	if (ctrl_store_get(&cached, vc->o.backups, key) < 0 || cached == NULL)
		return false;
	app_verification_status_decode(&v, cached);
	want = app_verify_plan_todo(cached, &v) != APP_VERIFY_PLAN_NOTHING;
	json_decref(cached);
	return want;
}

ctrl_result app_verify_reconcile(void *payload, const char *key)
{
	app_verify_ctrl *vc = payload;
	verify_run *r;
	ctrl_result res;
	int rc;

	if (!verify_wanted(vc, key))
		return ctrl_result_done();
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		ss_error_set(SS_ENOMEM, "out of memory");
		return ctrl_result_error();
	}
	r->vc = vc;
	rc = ctrl_run_init(&r->run, &vc->run_opts, key, r);
	if (rc == 0)
		rc = ctrl_run_read(&r->run, NULL, true);
	if (rc == 0)
		rc = verify_steps(r);
	res = ctrl_run_result(&r->run, rc);
	if (rc < 0)
		ss_log(SS_LOG_WARN, "verification step failed; retrying", SS_LS("backup", key),
		       SS_LERR());
	ctrl_run_finish(&r->run);
	free(r);
	return res;
}
