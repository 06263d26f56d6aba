/*
 * controller.c — workers that take keys from a workqueue and reconcile
 * them. See controller.h.
 *
 * A worker's whole life is: get a key, reconcile it, record the result,
 * requeue as the result says, done(key); until get() reports shutdown.
 * done() comes last, so that a drain (which waits for done) also covers
 * the metrics and the log line, and joining right after a successful drain
 * never waits on a reconcile.
 *
 * A lane is a controller of its own (its queue, workers and metrics)
 * that points back at its main controller (`owner`); the main one keeps
 * the set of keys the lane owns (`owned`, under `lane_mu`). Both pools
 * look at that set as they take a key (route()): the main pool passes an
 * owned key on to the lane's queue, the lane passes a key it no longer
 * owns (an add that raced with the hand-back) to the main queue, and
 * neither reconciles it then. The set changes only in apply_result(), after
 * the owning side's reconcile of that key has returned, so the two pools
 * never reconcile one key at once: while a side reconciles a key, the
 * other side's route() sends it back. An add of a key while a lane worker
 * reconciles it is only noted (`again`): it goes to the main queue at once
 * when the lane hands the key back, or to the lane's at once when it keeps
 * the key after an error. Queued in the lane meanwhile, it would wait
 * behind every key queued there, for nothing.
 *
 * Invariants: `threads_live` is the number of threads created and not yet
 * joined; the queue outlives every worker. The collector's last-reported
 * totals live under `collect_mu`, because renders may run at once.
 *
 * Thread-safety: workers share only the queues (locked), the owned set
 * (under the main controller's `lane_mu`, taken before any queue lock),
 * the metrics registry (thread-safe) and read-only fields; lifecycle calls
 * come from one thread.
 */
#include "ctrl/controller.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl/object.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

/* A key the lane owns; `busy`: a lane worker reconciles it now; `again`:
 * added to the main queue since that reconcile began. */
typedef struct {
	char *key;
	bool busy;
	bool again;
} owned_key;

struct ctrl_controller {
	char *name;
	ctrl_reconcile_fn reconcile;
	void *payload;
	const ss_clock *clock;
	ctrl_workqueue *queue;

	ctrl_metrics *metrics;
	ctrl_counter *reconciles;
	ctrl_counter *errors;
	ctrl_histogram *duration;
	ctrl_gauge *depth;
	ctrl_counter *adds;
	ctrl_counter *retries;
	bool collecting;
	pthread_mutex_t collect_mu;
	uint64_t reported_adds, reported_retries;

	int workers;
	pthread_t *threads;
	int threads_live;
	bool started;

	/* The main controller: its lane (or NULL) and the keys it owns. */
	ctrl_controller *lane;
	pthread_mutex_t lane_mu;
	owned_key *owned;
	size_t n_owned, cap_owned;
	/* A lane: its main controller. */
	ctrl_controller *owner;
};

static const char *result_name(ctrl_result_kind kind)
{
	switch (kind) {
	case CTRL_RESULT_DONE: return "success";
	case CTRL_RESULT_REQUEUE_AFTER: return "requeue";
	case CTRL_RESULT_HANDOFF: return "handoff";
	case CTRL_RESULT_ERROR: break;
	}
	return "error";
}

/* ---- the lane's ownership (the main controller's lane_mu held) ---------- */

static owned_key *owned_find(const ctrl_controller *m, const char *key)
{
	size_t i;

	for (i = 0; i < m->n_owned; i++)
		if (strcmp(m->owned[i].key, key) == 0)
			return &m->owned[i];
	return NULL;
}

static int owned_add(ctrl_controller *m, const char *key)
{
	owned_key *grown;
	size_t cap;

	if (owned_find(m, key))
		return 0;
	if (m->n_owned == m->cap_owned) {
		cap = m->cap_owned ? 2 * m->cap_owned : 16;
		grown = realloc(m->owned, cap * sizeof(*grown));
		if (!grown)
			return ss_error_set(SS_ENOMEM, "controller %s: out of memory",
					    m->name);
		m->owned = grown;
		m->cap_owned = cap;
	}
	m->owned[m->n_owned].key = ss_strdup(key);
	m->owned[m->n_owned].busy = false;
	m->owned[m->n_owned].again = false;
	if (!m->owned[m->n_owned].key)
		return ss_error_set(SS_ENOMEM, "controller %s: out of memory", m->name);
	m->n_owned++;
	return 0;
}

/* Forgets `key`; whether it was added again meanwhile. */
static bool owned_remove(ctrl_controller *m, const char *key)
{
	owned_key *k = owned_find(m, key);
	bool again;

	if (!k)
		return false;
	again = k->again;
	free(k->key);
	*k = m->owned[--m->n_owned];
	return again;
}

/* Whether `key` belongs to the other pool: then it is queued there instead
 * of being reconciled by `c`. See the top of this file. */
static bool route(ctrl_controller *c, const char *key)
{
	ctrl_controller *m = c->owner ? c->owner : c;
	owned_key *k;
	bool away;

	if (!m->lane)
		return false;
	pthread_mutex_lock(&m->lane_mu);
	k = owned_find(m, key);
	away = c == m ? k != NULL : k == NULL;
	if (c != m && k) { /* the lane's reconcile starts now */
		k->busy = true;
		k->again = false;
	} else if (k && k->busy) {
		k->again = true; /* for when the lane's reconcile ends */
	} else if (away) {
		ctrl_workqueue_add(c == m ? m->lane->queue : m->queue, key);
	}
	pthread_mutex_unlock(&m->lane_mu);
	return away;
}

/* A main reconcile handed `key` off: the lane owns it from now on. */
static int lane_take(ctrl_controller *m, const char *key)
{
	int error;

	pthread_mutex_lock(&m->lane_mu);
	error = owned_add(m, key);
	if (error == 0)
		error = ctrl_workqueue_add(m->lane->queue, key);
	pthread_mutex_unlock(&m->lane_mu);
	return error;
}

/* A lane reconcile of `key` returned done or requeue: the key is the main
 * controller's again, queued there after `after_ns` (< 0: not queued), and
 * at once if it was added while the lane reconciled it. */
static int lane_give_back(ctrl_controller *lane, const char *key, int64_t after_ns)
{
	ctrl_controller *m = lane->owner;
	int error = 0;

	pthread_mutex_lock(&m->lane_mu);
	if (owned_remove(m, key))
		error = ctrl_workqueue_add(m->queue, key);
	if (error == 0 && after_ns >= 0)
		error = ctrl_workqueue_add_after(m->queue, key, after_ns);
	pthread_mutex_unlock(&m->lane_mu);
	return error;
}

/* A lane reconcile of `key` failed: the lane keeps it, and has it again at
 * once if it was added meanwhile (as a key added while a worker holds it
 * is queued again: the backoff is for retries, not for news). */
static void lane_keep(ctrl_controller *lane, const char *key)
{
	ctrl_controller *m = lane->owner;
	owned_key *k;

	pthread_mutex_lock(&m->lane_mu);
	k = owned_find(m, key);
	if (k) {
		k->busy = false;
		if (k->again)
			ctrl_workqueue_add(lane->queue, key);
	}
	pthread_mutex_unlock(&m->lane_mu);
}

/* Requeues by result. Returns the result kind actually applied: anything
 * unknown is treated as an error, so a key is never silently dropped. */
static ctrl_result_kind apply_result(ctrl_controller *c, const char *key, ctrl_result r)
{
	int error = 0;

	if (r.kind == CTRL_RESULT_HANDOFF && !c->lane) {
		ss_error_set(SS_EINVALID, "controller %s: a handoff, but %s", c->name,
			     c->owner ? "this is the lane" : "there is no lane");
		r.kind = CTRL_RESULT_ERROR;
	}
	switch (r.kind) {
	case CTRL_RESULT_DONE:
		ctrl_workqueue_forget(c->queue, key);
		if (c->owner)
			error = lane_give_back(c, key, -1);
		break;
	case CTRL_RESULT_REQUEUE_AFTER:
		ctrl_workqueue_forget(c->queue, key);
		if (c->owner)
			error = lane_give_back(c, key, r.after_ns > 0 ? r.after_ns : 0);
		else
			error = ctrl_workqueue_add_after(c->queue, key, r.after_ns);
		break;
	case CTRL_RESULT_HANDOFF:
		ctrl_workqueue_forget(c->queue, key);
		error = lane_take(c, key);
		if (error < 0) /* still this pool's: try again later */
			ctrl_workqueue_add_rate_limited(c->queue, key);
		break;
	case CTRL_RESULT_ERROR:
	default:
		if (ss_error_last()->code == SS_OK)
			ss_error_set(SS_ERROR, "reconcile failed without saying why");
		ss_log(SS_LOG_ERROR, "reconcile failed", SS_LS("controller", c->name),
		       SS_LS("key", key),
		       SS_LI("failures", ctrl_workqueue_num_requeues(c->queue, key)),
		       SS_LERR());
		error = ctrl_workqueue_add_rate_limited(c->queue, key);
		if (c->owner)
			lane_keep(c, key);
		r.kind = CTRL_RESULT_ERROR;
		break;
	}
	if (error < 0)
		ss_log(SS_LOG_ERROR, "requeue failed", SS_LS("controller", c->name),
		       SS_LS("key", key), SS_LERR());
	return r.kind;
}

static void reconcile_one(ctrl_controller *c, const char *key)
{
	int64_t start = ss_clock_mono(c->clock);
	ctrl_result_kind kind;
	double seconds;
	ctrl_result r;

	/* A stale error from an earlier key must not be blamed on this one. */
	ss_error_clear();
	r = c->reconcile(c->payload, key);
	seconds = (double)(ss_clock_mono(c->clock) - start) / (double)SS_NS_PER_SEC;
	kind = apply_result(c, key, r);

	ctrl_counter_inc(c->reconciles, CTRL_LV(c->name, result_name(kind)));
	if (kind == CTRL_RESULT_ERROR)
		ctrl_counter_inc(c->errors, CTRL_LV(c->name));
	ctrl_histogram_observe(c->duration, CTRL_LV(c->name), seconds);
	ss_log(SS_LOG_DEBUG, "reconciled", SS_LS("controller", c->name),
	       SS_LS("key", key), SS_LS("result", result_name(kind)),
	       SS_LD("seconds", seconds));
}

static void *worker_main(void *arg)
{
	ctrl_controller *c = arg;
	char *key;

	while (ctrl_workqueue_get(&key, c->queue) == 0) {
		if (!route(c, key))
			reconcile_one(c, key);
		ctrl_workqueue_done(c->queue, key);
		free(key);
	}
	return NULL;
}

/* Brings the workqueue series up to date at scrape time. The queue keeps
 * totals, the registry wants increments: add what is new since last time. */
static void collect(ctrl_metrics *m, void *payload)
{
	ctrl_controller *c = payload;
	ctrl_workqueue_stats st;

	(void)m;
	ctrl_workqueue_get_stats(&st, c->queue);
	pthread_mutex_lock(&c->collect_mu);
	ctrl_gauge_set(c->depth, CTRL_LV(c->name), (double)st.depth);
	ctrl_counter_add(c->adds, CTRL_LV(c->name),
			 (double)(st.adds_total - c->reported_adds));
	ctrl_counter_add(c->retries, CTRL_LV(c->name),
			 (double)(st.retries_total - c->reported_retries));
	c->reported_adds = st.adds_total;
	c->reported_retries = st.retries_total;
	pthread_mutex_unlock(&c->collect_mu);
}

/* The registry sets the last error when it refuses a family. */
static int metrics_error(void)
{
	int code = ss_error_last()->code;

	return code < 0 ? code : SS_ERROR;
}

static int register_metrics(ctrl_controller *c)
{
	ctrl_metrics *m = c->metrics;

	c->reconciles = ctrl_metrics_counter(m, "snapstage_reconcile_total",
					     "Reconciles by controller and result.",
					     CTRL_LV("controller", "result"));
	if (!c->reconciles)
		return metrics_error();
	c->errors = ctrl_metrics_counter(m, "snapstage_reconcile_errors_total",
					 "Reconciles that returned an error.",
					 CTRL_LV("controller"));
	if (!c->errors)
		return metrics_error();
	c->duration = ctrl_metrics_histogram(m, "snapstage_reconcile_duration_seconds",
					     "Time spent in reconcile.",
					     CTRL_LV("controller"), NULL, 0);
	if (!c->duration)
		return metrics_error();
	c->depth = ctrl_metrics_gauge(m, "snapstage_workqueue_depth",
				      "Keys waiting in the workqueue to be processed.",
				      CTRL_LV("name"));
	if (!c->depth)
		return metrics_error();
	c->adds = ctrl_metrics_counter(m, "snapstage_workqueue_adds_total",
				       "Keys added to the workqueue.", CTRL_LV("name"));
	if (!c->adds)
		return metrics_error();
	c->retries = ctrl_metrics_counter(m, "snapstage_workqueue_retries_total",
					  "Rate-limited requeues of the workqueue.",
					  CTRL_LV("name"));
	if (!c->retries)
		return metrics_error();
	return 0;
}

static int check_opts(const ctrl_controller_opts *opts)
{
	if (!opts || !opts->name || !*opts->name || !opts->reconcile)
		return ss_error_set(SS_EINVALID, "controller: a name and a reconcile "
						 "function are required");
	if (opts->workers < 0 || opts->workers > CTRL_CONTROLLER_MAX_WORKERS)
		return ss_error_set(
			SS_EINVALID, "controller %s: %d workers is not in 1..%d",
			opts->name, opts->workers, CTRL_CONTROLLER_MAX_WORKERS);
	if (opts->lane_workers < 0 || opts->lane_workers > CTRL_CONTROLLER_MAX_WORKERS)
		return ss_error_set(
			SS_EINVALID, "controller %s: %d lane workers is not in 0..%d",
			opts->name, opts->lane_workers, CTRL_CONTROLLER_MAX_WORKERS);
	if (opts->lane_workers > 0 &&
	    (!opts->lane_name || !*opts->lane_name || !opts->lane_reconcile))
		return ss_error_set(SS_EINVALID,
				    "controller %s: a lane needs a name and "
				    "a reconcile function",
				    opts->name);
	return 0;
}

/* The lane of `c`: a controller of its own with the lane's name, workers
 * and reconcile, and everything else as c's. */
static int new_lane(ctrl_controller *c, const ctrl_controller_opts *opts)
{
	ctrl_controller_opts lo = *opts;
	int error;

	lo.name = opts->lane_name;
	lo.workers = opts->lane_workers;
	lo.reconcile = opts->lane_reconcile;
	lo.clock = c->clock;
	lo.lane_workers = 0;
	lo.lane_name = NULL;
	lo.lane_reconcile = NULL;
	if (pthread_mutex_init(&c->lane_mu, NULL) != 0)
		return ss_error_set(SS_ERROR, "controller %s: cannot create a mutex",
				    c->name);
	error = ctrl_controller_new(&c->lane, &lo);
	if (error < 0) {
		pthread_mutex_destroy(&c->lane_mu);
		return error;
	}
	c->lane->owner = c;
	return 0;
}

static void free_lane(ctrl_controller *c)
{
	size_t i;

	if (!c->lane)
		return;
	ctrl_controller_free(c->lane);
	pthread_mutex_destroy(&c->lane_mu);
	for (i = 0; i < c->n_owned; i++)
		free(c->owned[i].key);
	free(c->owned);
}

/* The work queue (on the controller's clock) and the lane's, if any. */
static int new_queues(ctrl_controller *c, const ctrl_controller_opts *opts)
{
	ctrl_workqueue_opts qopts = CTRL_WORKQUEUE_OPTS_INIT;
	int error;

	if (opts->queue)
		qopts = *opts->queue;
	qopts.clock = c->clock;
	error = ctrl_workqueue_new(&c->queue, &qopts);
	if (error < 0)
		return error;
	if (opts->lane_workers > 0)
		return new_lane(c, opts);
	return 0;
}

/* With a registry: the controller's metric families and its collector. */
static int add_metrics(ctrl_controller *c)
{
	int error;

	if (!c->metrics)
		return 0;
	error = register_metrics(c);
	if (error < 0)
		return error;
	error = ctrl_metrics_add_collector(c->metrics, collect, c);
	if (error < 0)
		return error;
	c->collecting = true;
	return 0;
}

int ctrl_controller_new(ctrl_controller **out, const ctrl_controller_opts *opts)
{
	ctrl_controller *c = NULL;
	bool mutex_inited = false;
	int error;

	error = check_opts(opts);
	if (error < 0)
		goto done;
	c = calloc(1, sizeof(*c));
	if (!c) {
		error = ss_error_set(SS_ENOMEM, "controller %s: out of memory",
				     opts->name);
		goto done;
	}
	c->name = ss_strdup(opts->name);
	if (!c->name) {
		error = SS_ENOMEM;
		goto done;
	}
	c->reconcile = opts->reconcile;
	c->payload = opts->payload;
	c->clock = opts->clock ? opts->clock : ss_clock_system();
	c->metrics = opts->metrics;
	c->workers = opts->workers ? opts->workers : 1;
	c->threads = calloc((size_t)c->workers, sizeof(*c->threads));
	if (!c->threads) {
		error = ss_error_set(SS_ENOMEM, "controller %s: out of memory",
				     opts->name);
		goto done;
	}
	if (pthread_mutex_init(&c->collect_mu, NULL) != 0) {
		error = ss_error_set(SS_ERROR, "controller %s: cannot create a mutex",
				     opts->name);
		goto done;
	}
	mutex_inited = true;
	error = new_queues(c, opts);
	if (error < 0)
		goto done;
	error = add_metrics(c);
	if (error < 0)
		goto done;
	*out = c;
	return 0;

done:
	if (c) {
		free_lane(c);
		ctrl_workqueue_free(c->queue);
		if (mutex_inited)
			pthread_mutex_destroy(&c->collect_mu);
		free(c->threads);
		free(c->name);
		free(c);
	}
	return error;
}

ctrl_workqueue *ctrl_controller_queue(ctrl_controller *c)
{
	return c->queue;
}

ctrl_workqueue *ctrl_controller_lane_queue(ctrl_controller *c)
{
	return c->lane ? c->lane->queue : NULL;
}

static void queue_key(void *payload, const json_t *obj)
{
	ctrl_controller *c = payload;
	char key[CTRL_KEY_MAX];

	if (ctrl_key_of(key, sizeof(key), obj) == 0)
		ctrl_workqueue_add(c->queue, key);
}

static void queue_key_update(void *payload, const json_t *old, const json_t *now)
{
	(void)old;
	queue_key(payload, now);
}

ctrl_handlers ctrl_controller_key_handlers(ctrl_controller *c)
{
	return (ctrl_handlers){ queue_key, queue_key_update, queue_key, c };
}

static void join_all(ctrl_controller *c)
{
	while (c->threads_live > 0) {
		c->threads_live--;
		pthread_join(c->threads[c->threads_live], NULL);
	}
}

static int start_workers(ctrl_controller *c)
{
	int i, rc;

	for (i = 0; i < c->workers; i++) {
		rc = pthread_create(&c->threads[i], NULL, worker_main, c);
		if (rc != 0) {
			/* The workers already running leave get() once the
			 * queue is shut down; any reconcile they began ends
			 * first. */
			ctrl_workqueue_shutdown(c->queue);
			join_all(c);
			return ss_error_set(SS_ERROR,
					    "controller %s: cannot start worker %d of %d",
					    c->name, i + 1, c->workers);
		}
		c->threads_live++;
	}
	ss_log(SS_LOG_INFO, "controller started", SS_LS("controller", c->name),
	       SS_LI("workers", c->workers));
	return 0;
}

int ctrl_controller_start(ctrl_controller *c)
{
	int error;

	if (c->started)
		return ss_error_set(SS_EINVALID, "controller %s: already started",
				    c->name);
	c->started = true;
	error = start_workers(c);
	if (error == 0 && c->lane) {
		c->lane->started = true;
		error = start_workers(c->lane);
		if (error < 0) {
			ctrl_workqueue_shutdown(c->queue);
			join_all(c);
		}
	}
	return error;
}

static int stop_workers(ctrl_controller *c, int64_t deadline_ns)
{
	int error;

	ctrl_workqueue_shutdown(c->queue);
	if (c->threads_live == 0)
		return 0;
	error = ctrl_workqueue_drain(c->queue, deadline_ns);
	if (error < 0) {
		ss_log(SS_LOG_WARN, "reconciles still running at the stop deadline",
		       SS_LS("controller", c->name), SS_LERR());
		return error;
	}
	/* Drained: every worker is on its way out of get(). */
	join_all(c);
	ss_log(SS_LOG_INFO, "controller stopped", SS_LS("controller", c->name));
	return 0;
}

int ctrl_controller_stop(ctrl_controller *c, int64_t deadline_ns)
{
	int error, lane_error = 0;

	/* Both queues first, so that neither pool starts anything new. */
	if (c->lane)
		ctrl_workqueue_shutdown(c->lane->queue);
	error = stop_workers(c, deadline_ns);
	if (c->lane)
		lane_error = stop_workers(c->lane, deadline_ns);
	return error < 0 ? error : lane_error;
}

void ctrl_controller_free(ctrl_controller *c)
{
	if (!c)
		return;
	if (ctrl_controller_stop(c, ss_clock_mono(c->clock)) < 0) {
		ss_log(SS_LOG_WARN, "controller left allocated for running reconciles",
		       SS_LS("controller", c->name));
		return;
	}
	free_lane(c);
	if (c->collecting)
		ctrl_metrics_remove_collector(c->metrics, collect, c);
	ctrl_workqueue_free(c->queue);
	pthread_mutex_destroy(&c->collect_mu);
	free(c->threads);
	free(c->name);
	free(c);
}
