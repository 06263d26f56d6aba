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
 * Invariants: `threads_live` is the number of threads created and not yet
 * joined; the queue outlives every worker. The collector's last-reported
 * totals live under `collect_mu`, because renders may run at once.
 *
 * Thread-safety: workers share only the queue (locked), the metrics
 * registry (thread-safe) and read-only fields; lifecycle calls come from
 * one thread.
 */
#include "ctrl/controller.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "ctrl/object.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

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
};

static const char *result_name(ctrl_result_kind kind)
{
	switch (kind) {
	case CTRL_RESULT_DONE: return "success";
	case CTRL_RESULT_REQUEUE_AFTER: return "requeue";
	case CTRL_RESULT_ERROR: break;
	}
	return "error";
}

/* Requeues by result. Returns the result kind actually applied: anything
 * unknown is treated as an error, so a key is never silently dropped. */
static ctrl_result_kind apply_result(ctrl_controller *c, const char *key, ctrl_result r)
{
	int error = 0;

	switch (r.kind) {
	case CTRL_RESULT_DONE:
		ctrl_workqueue_forget(c->queue, key);
		return CTRL_RESULT_DONE;
	case CTRL_RESULT_REQUEUE_AFTER:
		ctrl_workqueue_forget(c->queue, key);
		error = ctrl_workqueue_add_after(c->queue, key, r.after_ns);
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

int ctrl_controller_new(ctrl_controller **out, const ctrl_controller_opts *opts)
{
	ctrl_workqueue_opts qopts = CTRL_WORKQUEUE_OPTS_INIT;
	ctrl_controller *c = NULL;
	bool mutex_inited = false;
	int error;

	if (!opts || !opts->name || !*opts->name || !opts->reconcile) {
		error = ss_error_set(SS_EINVALID, "controller: a name and a reconcile "
						  "function are required");
		goto done;
	}
	if (opts->workers < 0 || opts->workers > CTRL_CONTROLLER_MAX_WORKERS) {
		error = ss_error_set(
			SS_EINVALID, "controller %s: %d workers is not in 1..%d",
			opts->name, opts->workers, CTRL_CONTROLLER_MAX_WORKERS);
		goto done;
	}
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

	if (opts->queue)
		qopts = *opts->queue;
	qopts.clock = c->clock;
	error = ctrl_workqueue_new(&c->queue, &qopts);
	if (error < 0)
		goto done;

	if (c->metrics) {
		error = register_metrics(c);
		if (error < 0)
			goto done;
		error = ctrl_metrics_add_collector(c->metrics, collect, c);
		if (error < 0)
			goto done;
		c->collecting = true;
	}

	*out = c;
	return 0;

done:
	if (c) {
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

int ctrl_controller_start(ctrl_controller *c)
{
	int i, rc;

	if (c->started)
		return ss_error_set(SS_EINVALID, "controller %s: already started",
				    c->name);
	c->started = true;
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

int ctrl_controller_stop(ctrl_controller *c, int64_t deadline_ns)
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

void ctrl_controller_free(ctrl_controller *c)
{
	if (!c)
		return;
	if (ctrl_controller_stop(c, ss_clock_mono(c->clock)) < 0) {
		ss_log(SS_LOG_WARN, "controller left allocated for running reconciles",
		       SS_LS("controller", c->name));
		return;
	}
	if (c->collecting)
		ctrl_metrics_remove_collector(c->metrics, collect, c);
	ctrl_workqueue_free(c->queue);
	pthread_mutex_destroy(&c->collect_mu);
	free(c->threads);
	free(c->name);
	free(c);
}
