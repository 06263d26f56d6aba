/*
 * run.c — one reconcile of one object (run.h): reading it, the status
 * written once through ctrl/writes.h, Events through ctrl/events.h, a
 * finished object's metrics.
 *
 * Invariants: an object the run has read is never released before the run
 * ends (a kind's status and spec borrow strings from it); the run never
 * logs and never sets a result other than the one a step asked for.
 *
 * Thread-safety: a run belongs to one thread; nothing here is shared.
 */
#include <stdio.h>
#include <string.h>

#include "ctrl/run.h"
#include "ctrl/writes.h"
#include "kube/rest.h"
#include "util/error.h"

int ctrl_run_init(ctrl_run *run, const ctrl_run_opts *opts, const char *key,
		  void *payload)
{
	memset(run, 0, sizeof(*run));
	run->result = ctrl_result_done();
	if (opts == NULL || opts->client == NULL || opts->resource == NULL || key == NULL)
		return ss_error_set(SS_EINVALID, "run: client, resource and key are "
						 "required");
	run->o = *opts;
	if (run->o.clock == NULL)
		run->o.clock = ss_clock_system();
	run->payload = payload;
	run->key = key;
	run->now = ss_clock_real(run->o.clock);
	return ctrl_key_split(key, run->ns, sizeof(run->ns), run->name,
			      sizeof(run->name));
}

void ctrl_run_finish(ctrl_run *run)
{
	json_decref(run->obj);
	json_decref(run->held);
	run->obj = NULL;
	run->held = NULL;
}

static const char *run_ns(const ctrl_run *run)
{
	return run->ns[0] ? run->ns : NULL;
}

int ctrl_run_replace(ctrl_run *run, json_t *obj)
{
	if (run->obj != NULL && ctrl_run_hold(run, json_incref(run->obj)) == NULL) {
		json_decref(obj);
		return SS_ENOMEM;
	}
	json_decref(run->obj);
	run->obj = obj;
	return 0;
}

int ctrl_run_read(ctrl_run *run, ctrl_store *cache, bool keep_deleting)
{
	json_t *cached = NULL, *obj = NULL;
	int rc;

	if (cache != NULL) {
		if (ctrl_store_get(&cached, cache, run->key) < 0 || cached == NULL)
			return ctrl_run_stop(run, ctrl_result_done());
		json_decref(cached);
	}
	rc = kube_get(&obj, run->o.client, run->o.resource, run_ns(run), run->name);
	if (rc == SS_ENOTFOUND)
		return ctrl_run_stop(run, ctrl_result_done());
	if (rc < 0)
		return rc;
	if (ctrl_run_replace(run, obj) < 0)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (!keep_deleting && ctrl_meta(obj, "deletionTimestamp") != NULL)
		return ctrl_run_stop(run, ctrl_result_done());
	return 0;
}

int ctrl_run_stop(ctrl_run *run, ctrl_result res)
{
	run->result = res;
	return CTRL_RUN_STOP;
}

ctrl_result ctrl_run_result(const ctrl_run *run, int rc)
{
	return rc < 0 ? ctrl_result_error() : run->result;
}

json_t *ctrl_run_hold(ctrl_run *run, json_t *obj)
{
	if (obj == NULL)
		return NULL;
	if (run->held == NULL)
		run->held = json_array();
	if (run->held == NULL) {
		json_decref(obj);
		return NULL;
	}
	if (json_array_append_new(run->held, obj) != 0)
		return NULL; /* jansson released obj */
	return obj;
}

void ctrl_run_vmessage(ctrl_run *run, const char *fmt, va_list ap)
{
	vsnprintf(run->message, sizeof(run->message), fmt, ap);
	if (run->status_message != NULL)
		*run->status_message = run->message;
}

void ctrl_run_message(ctrl_run *run, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctrl_run_vmessage(run, fmt, ap);
	va_end(ap);
}

void ctrl_run_condition(ctrl_run *run, const char *type, ctrl_condition_status status,
			const char *reason)
{
	run->cond_type = type;
	run->cond_status = status;
	run->cond_reason = reason;
}

void ctrl_run_condition_remove(ctrl_run *run, const char *type)
{
	run->cond_remove = type;
}

/* The ctrl_mutate_fn of a status write: the kind's fields, then the
 * conditions. ctrl_write_status writes nothing when status is unchanged. */
static int run_mutate_status(json_t *obj, void *payload)
{
	ctrl_run *run = payload;
	int rc = 0;

	if (run->o.encode != NULL)
		rc = run->o.encode(obj, run->payload);
	if (rc == 0 && run->cond_type != NULL) {
		ctrl_condition c = { run->cond_type, run->cond_status, run->cond_reason,
				     run->message, -1 };

		rc = ctrl_condition_set(NULL, obj, &c, run->o.clock);
	}
	if (rc == 0 && run->cond_remove != NULL)
		rc = ctrl_condition_remove(NULL, obj, run->cond_remove);
	return rc;
}

int ctrl_run_write_status(ctrl_run *run)
{
	ctrl_write_opts wo = CTRL_WRITE_OPTS_INIT;
	json_t *out = NULL;
	int rc;

	wo.start = run->obj;
	rc = ctrl_write_status(&out, run->o.client, run->o.resource, run_ns(run),
			       run->name, run_mutate_status, run, &wo);
	if (rc < 0)
		return rc;
	/* Written. Without the memory to hold the previous copy, that stays
	 * the run's object: a stale start only costs a conflict and a re-read. */
	if (out != NULL)
		ctrl_run_replace(run, out);
	return 0;
}

void ctrl_run_event(ctrl_run *run, ctrl_event_type type, const char *reason,
		    const char *fmt, ...)
{
	char note[1024];
	va_list ap;

	if (run->o.events == NULL || run->obj == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(note, sizeof(note), fmt, ap);
	va_end(ap);
	ctrl_events_record(run->o.events, run->obj, type, reason, NULL, "%s", note);
}

void ctrl_run_observe_finish(ctrl_counter *total, const char *const *lv,
			     ctrl_histogram *duration, const char *const *duration_lv,
			     int64_t start_ns, int64_t end_ns)
{
	ctrl_counter_inc(total, lv);
	if (start_ns > 0 && end_ns >= start_ns)
		ctrl_histogram_observe(duration, duration_lv,
				       (double)(end_ns - start_ns) / 1e9);
}
