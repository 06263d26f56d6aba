/*
 * test_run.c — ctrl/run.h, the reconcile skeleton: the result convention,
 * the message, holding objects, a finished object's metrics (no I/O), then
 * reading the object, the status write (encoder, condition set and
 * removed, nothing written when nothing changed, the previous copy held)
 * and an Event, against the scripted server test_writes.c and
 * test_events.c use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_server.h"
#include "testutil.h"

#include "ctrl/metrics.h"
#include "ctrl/run.h"
#include "ctrl/store.h"
#include "kube/config.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/str.h"

#define SEC SS_NS_PER_SEC
/* 2026-11-23T09:20:00Z */
#define T0 (INT64_C(1795425600) * SEC)

static const kube_resource gadgets = { "x.io", "v1", "gadgets", true };

#define GADGET(rv, status)                                               \
	"{\"apiVersion\":\"x.io/v1\",\"kind\":\"Gadget\",\"metadata\":{" \
	"\"name\":\"g\",\"namespace\":\"ns\",\"uid\":\"u-1\","           \
	"\"resourceVersion\":\"" rv "\"},\"status\":" status "}"

typedef struct {
	fake_server server;
	kube_client *client;
	ss_fake_clock clock;
	ctrl_run_opts opts;
	char dir[512];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s", tu_mkdtemp());
	fake_server_start(&f->server);
	f->client = fake_server_client(&f->server, f->dir, "t", NULL);
	ss_fake_clock_init(&f->clock, T0);
	f->opts.client = f->client;
	f->opts.resource = &gadgets;
	f->opts.clock = &f->clock.clock;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	kube_client_free(f->client);
	fake_server_stop(&f->server);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* --- without I/O ------------------------------------------------------------ */

static void test_init_and_result(void **state)
{
	fixture *f = *state;
	ctrl_run_opts none = CTRL_RUN_OPTS_INIT;
	ctrl_run run;
	ctrl_result res;

	assert_int_equal(ctrl_run_init(&run, &f->opts, "ns/g", NULL), 0);
	assert_string_equal(run.ns, "ns");
	assert_string_equal(run.name, "g");
	assert_string_equal(run.key, "ns/g");
	assert_int_equal(run.now, T0);
	assert_null(run.obj);
	/* 0: the steps went through; the result is done. */
	res = ctrl_run_result(&run, 0);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	/* A stop records its result... */
	assert_int_equal(ctrl_run_stop(&run, ctrl_result_requeue_after(5 * SEC)),
			 CTRL_RUN_STOP);
	res = ctrl_run_result(&run, CTRL_RUN_STOP);
	assert_int_equal(res.kind, CTRL_RESULT_REQUEUE_AFTER);
	assert_int_equal(res.after_ns, 5 * SEC);
	/* ...and an error wins over it. */
	res = ctrl_run_result(&run, SS_ECONFLICT);
	assert_int_equal(res.kind, CTRL_RESULT_ERROR);
	ctrl_run_finish(&run);

	/* Cluster scope; a key that names nothing; options missing. */
	assert_int_equal(ctrl_run_init(&run, &f->opts, "g", NULL), 0);
	assert_string_equal(run.ns, "");
	assert_int_equal(ctrl_run_init(&run, &f->opts, "ns/g/x", NULL), SS_EINVALID);
	assert_int_equal(ctrl_run_init(&run, &f->opts, "/g", NULL), SS_EINVALID);
	assert_int_equal(ctrl_run_init(&run, &none, "ns/g", NULL), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "client, resource and key are required");
	/* finish after a failed init is safe */
	ctrl_run_finish(&run);
}

static void test_message(void **state)
{
	fixture *f = *state;
	const char *status_message = NULL;
	char long_text[CTRL_RUN_MESSAGE_MAX + 100];
	ctrl_run run;

	assert_int_equal(ctrl_run_init(&run, &f->opts, "ns/g", NULL), 0);
	ctrl_run_message(&run, "%d of %s", 3, "volumes");
	assert_string_equal(run.message, "3 of volumes");
	/* Without a status field nothing else changes... */
	assert_null(status_message);
	/* ...with one, it points at the message. */
	run.status_message = &status_message;
	ctrl_run_message(&run, "waiting for %s", "claims");
	assert_ptr_equal(status_message, run.message);
	assert_string_equal(status_message, "waiting for claims");
	/* Cut to the buffer. */
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	ctrl_run_message(&run, "%s", long_text);
	assert_int_equal(strlen(run.message), CTRL_RUN_MESSAGE_MAX - 1);
	ctrl_run_finish(&run);
}

static void test_hold(void **state)
{
	fixture *f = *state;
	json_t *s, *o;
	ctrl_run run;

	assert_int_equal(ctrl_run_init(&run, &f->opts, "ns/g", NULL), 0);
	assert_null(ctrl_run_hold(&run, NULL));
	s = ctrl_run_hold(&run, json_string("lives as long as the run"));
	assert_non_null(s);
	o = ctrl_run_hold(&run, json_pack("{s:s}", "a", "b"));
	assert_non_null(o);
	assert_int_equal(json_array_size(run.held), 2);
	/* Held, not copied: the same objects, one reference each. */
	assert_ptr_equal(json_array_get(run.held, 0), s);
	assert_int_equal(o->refcount, 1);
	assert_string_equal(json_string_value(s), "lives as long as the run");
	ctrl_run_finish(&run); /* valgrind: nothing leaks */
	assert_null(run.held);
}

/* No bound on what a run holds. The Restore controller's own keep (before
 * it used ctrl_run) called abort() past 48 objects, which a resumed
 * in-place restore of 22 or more claims (about 5 + 2 per claim) reached on
 * every reconcile, taking the whole controller down (found while moving
 * restore/ onto this skeleton). 3 members x 8 volumes = 24 claims: ~53. */
static void test_hold_many(void **state)
{
	fixture *f = *state;
	ctrl_run run;
	json_t *o = NULL;
	int i;

	assert_int_equal(ctrl_run_init(&run, &f->opts, "ns/g", NULL), 0);
	for (i = 0; i < 5 + 2 * 64; i++) {
		o = ctrl_run_hold(&run, json_integer(i));
		assert_non_null(o);
	}
	assert_int_equal(json_array_size(run.held), 5 + 2 * 64);
	assert_int_equal(json_integer_value(o), 5 + 2 * 64 - 1);
	ctrl_run_finish(&run);
	assert_null(run.held);
}

/* ctrl_run_replace: the run's object becomes the new one, and the old one
 * stays alive (something may still point into it, e.g. a status string)
 * until the run ends: held, not released. */
static void test_replace(void **state)
{
	fixture *f = *state;
	json_t *first = json_pack("{s:{s:s}}", "metadata", "name", "first");
	json_t *second = json_pack("{s:{s:s}}", "metadata", "name", "second");
	const char *name;
	ctrl_run run;

	assert_int_equal(ctrl_run_init(&run, &f->opts, "ns/g", NULL), 0);
	assert_int_equal(ctrl_run_replace(&run, first), 0);
	assert_ptr_equal(run.obj, first);
	assert_null(run.held); /* nothing was replaced */
	name = json_string_value(json_object_get(json_object_get(first, "metadata"), "name"));
	assert_int_equal(ctrl_run_replace(&run, second), 0);
	assert_ptr_equal(run.obj, second);
	assert_int_equal(json_array_size(run.held), 1);
	assert_ptr_equal(json_array_get(run.held, 0), first);
	assert_int_equal(first->refcount, 1);
	assert_string_equal(name, "first"); /* ASan/valgrind: still alive */
	ctrl_run_finish(&run);
	assert_null(run.obj);
	assert_null(run.held);
}

static void test_observe_finish(void **state)
{
	ctrl_metrics *m = NULL;
	ctrl_counter *total;
	ctrl_histogram *duration;
	const char *lv[] = { "ns", "failed", "LockTimeout", NULL };
	const char *dlv[] = { "ns", NULL };

	(void)state;
	assert_int_equal(ctrl_metrics_new(&m), 0);
	total = ctrl_metrics_counter(m, "t_total", "help",
				     CTRL_LV("namespace", "result", "reason"));
	duration = ctrl_metrics_histogram(m, "t_seconds", "help", CTRL_LV("namespace"),
					  NULL, 0);
	assert_non_null(total);
	assert_non_null(duration);
	ctrl_run_observe_finish(total, lv, duration, dlv, T0, T0 + 3 * SEC);
	assert_true(ctrl_metrics_value(m, "t_total", lv) == 1.0);
	assert_true(ctrl_metrics_value(m, "t_seconds", dlv) == 1.0);
	/* No start, or an end before it: counted, no duration. */
	ctrl_run_observe_finish(total, lv, duration, dlv, 0, T0);
	ctrl_run_observe_finish(total, lv, duration, dlv, T0, T0 - 1);
	assert_true(ctrl_metrics_value(m, "t_total", lv) == 3.0);
	assert_true(ctrl_metrics_value(m, "t_seconds", dlv) == 1.0);
	/* Without metrics: nothing, no crash. */
	ctrl_run_observe_finish(NULL, lv, NULL, dlv, T0, T0 + SEC);
	ctrl_metrics_free(m);
}

/* --- against the scripted server ------------------------------------------- */

static void test_read(void **state)
{
	fixture *f = *state;
	fake_response ok = { .status = 200, .body = GADGET("1", "{}") };
	fake_response deleting = {
		.status = 200,
		.body = "{\"apiVersion\":\"x.io/v1\",\"kind\":\"Gadget\",\"metadata\":{"
			"\"name\":\"g\",\"namespace\":\"ns\",\"resourceVersion\":\"2\","
			"\"deletionTimestamp\":\"2026-11-23T09:20:00Z\"}}"
	};
	fake_response missing = {
		.status = 404,
		.body = "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":"
			"\"NotFound\",\"code\":404}"
	};
	fake_response forbidden = {
		.status = 403,
		.body = "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":"
			"\"Forbidden\",\"code\":403}"
	};
	ctrl_store *cache = NULL;
	json_t *cached = tu_json(GADGET("1", "{}"));
	ctrl_run run;

	assert_int_equal(ctrl_store_new(&cache), 0);
	/* Not in the cache: stop, without asking the API. */
	assert_int_equal(ctrl_run_init(&run, &f->opts, "ns/g", NULL), 0);
	assert_int_equal(ctrl_run_read(&run, cache, false), CTRL_RUN_STOP);
	assert_int_equal(run.result.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 0);
	ctrl_run_finish(&run);

	/* In the cache: the API's copy is the one read. */
	assert_int_equal(ctrl_store_put(cache, cached, NULL), 0);
	fake_server_add(&f->server, &ok);
	assert_int_equal(ctrl_run_init(&run, &f->opts, "ns/g", NULL), 0);
	assert_int_equal(ctrl_run_read(&run, cache, false), 0);
	assert_non_null(strstr(f->server.requests[0],
			       "GET /apis/x.io/v1/namespaces/ns/gadgets/g HTTP"));
	assert_string_equal(ctrl_meta(run.obj, "resourceVersion"), "1");
	ctrl_run_finish(&run);

	/* Being deleted: stop, unless asked to keep it. */
	fake_server_add(&f->server, &deleting);
	fake_server_add(&f->server, &deleting);
	assert_int_equal(ctrl_run_init(&run, &f->opts, "ns/g", NULL), 0);
	assert_int_equal(ctrl_run_read(&run, NULL, false), CTRL_RUN_STOP);
	assert_int_equal(run.result.kind, CTRL_RESULT_DONE);
	ctrl_run_finish(&run);
	assert_int_equal(ctrl_run_init(&run, &f->opts, "ns/g", NULL), 0);
	assert_int_equal(ctrl_run_read(&run, NULL, true), 0);
	assert_non_null(ctrl_meta(run.obj, "deletionTimestamp"));
	ctrl_run_finish(&run);

	/* Gone: stop. Refused: the API's error. */
	fake_server_add(&f->server, &missing);
	fake_server_add(&f->server, &forbidden);
	assert_int_equal(ctrl_run_init(&run, &f->opts, "ns/g", NULL), 0);
	assert_int_equal(ctrl_run_read(&run, NULL, false), CTRL_RUN_STOP);
	assert_null(run.obj);
	assert_int_equal(ctrl_run_read(&run, NULL, false), SS_EFORBIDDEN);
	assert_int_equal(ctrl_run_result(&run, SS_EFORBIDDEN).kind, CTRL_RESULT_ERROR);
	ctrl_run_finish(&run);
	assert_int_equal(f->server.nrequests, 5);
	json_decref(cached);
	ctrl_store_free(cache);
}

typedef struct {
	int calls;
	const char *phase;
} gadget_status;

static int encode_gadget(json_t *obj, void *payload)
{
	gadget_status *st = payload;

	st->calls++;
	json_object_set_new(json_object_get(obj, "status"), "phase",
			    json_string(st->phase));
	return 0;
}

static void test_write_status(void **state)
{
	fixture *f = *state;
	fake_response written = {
		.status = 200,
		.body = GADGET("2", "{\"phase\":\"Running\",\"conditions\":[]}")
	};
	gadget_status st = { 0, "Running" };
	const char *borrowed;
	json_t *first;
	ctrl_run run;

	f->opts.encode = encode_gadget;
	assert_int_equal(ctrl_run_init(&run, &f->opts, "ns/g", &st), 0);
	run.obj = tu_json(GADGET("1", "{\"conditions\":[{\"type\":\"Blocked\","
				      "\"status\":\"True\",\"reason\":\"Old\","
				      "\"message\":\"\",\"lastTransitionTime\":"
				      "\"2026-11-23T09:00:00Z\"}]}"));
	first = run.obj;
	borrowed = ctrl_meta(first, "name");
	ctrl_run_message(&run, "%s", "next run at noon");
	ctrl_run_condition(&run, "Ready", CTRL_CONDITION_TRUE, "Scheduled");
	ctrl_run_condition_remove(&run, "Blocked");
	fake_server_add(&f->server, &written);
	assert_int_equal(ctrl_run_write_status(&run), 0);
	assert_int_equal(st.calls, 1);
	/* One PUT from the copy the run had (no GET first), with the kind's
	 * fields, the condition and its message, the removed one gone. */
	assert_int_equal(f->server.nrequests, 1);
	assert_non_null(strstr(f->server.requests[0],
			       "PUT /apis/x.io/v1/namespaces/ns/gadgets/g/status HTTP"));
	assert_non_null(strstr(f->server.requests[0], "\"resourceVersion\":\"1\""));
	assert_non_null(strstr(f->server.requests[0], "\"phase\":\"Running\""));
	assert_non_null(strstr(f->server.requests[0], "\"type\":\"Ready\""));
	assert_non_null(strstr(f->server.requests[0], "\"reason\":\"Scheduled\""));
	assert_non_null(
		strstr(f->server.requests[0], "\"message\":\"next run at noon\""));
	assert_non_null(strstr(f->server.requests[0],
			       "\"lastTransitionTime\":\"2026-11-23T09:20:00Z\""));
	assert_null(strstr(f->server.requests[0], "Blocked"));
	/* The written object is the run's; the one before is held, so what
	 * borrowed from it stays valid. */
	assert_string_equal(ctrl_meta(run.obj, "resourceVersion"), "2");
	assert_ptr_equal(json_array_get(run.held, 0), first);
	assert_string_equal(borrowed, "g");
	ctrl_run_finish(&run);
}

static void test_write_status_unchanged_and_gone(void **state)
{
	fixture *f = *state;
	fake_response missing = {
		.status = 404,
		.body = "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":"
			"\"NotFound\",\"code\":404}"
	};
	gadget_status st = { 0, "Running" };
	json_t *obj;
	ctrl_run run;

	f->opts.encode = encode_gadget;
	assert_int_equal(ctrl_run_init(&run, &f->opts, "ns/g", &st), 0);
	run.obj = tu_json(GADGET("1", "{\"phase\":\"Running\"}"));
	/* Nothing changes: no request at all. */
	assert_int_equal(ctrl_run_write_status(&run), 0);
	assert_int_equal(st.calls, 1);
	assert_int_equal(f->server.nrequests, 0);
	/* A change to an object gone: SS_ENOTFOUND, the run's object as it
	 * was. */
	st.phase = "Done";
	obj = run.obj;
	fake_server_add(&f->server, &missing);
	assert_int_equal(ctrl_run_write_status(&run), SS_ENOTFOUND);
	assert_int_equal(f->server.nrequests, 1);
	assert_ptr_equal(run.obj, obj);
	ctrl_run_finish(&run);
}

static void test_event(void **state)
{
	fixture *f = *state;
	fake_response created = { .status = 201, .body = "{}" };
	ctrl_events_opts eo = CTRL_EVENTS_OPTS_INIT;
	ctrl_events *ev = NULL;
	ctrl_run run;

	/* Without a recorder, or before the object is read: nothing. */
	assert_int_equal(ctrl_run_init(&run, &f->opts, "ns/g", NULL), 0);
	ctrl_run_event(&run, CTRL_EVENT_NORMAL, "Scheduled", "x");
	run.obj = tu_json(GADGET("1", "{}"));
	ctrl_run_event(&run, CTRL_EVENT_NORMAL, "Scheduled", "x");
	ctrl_run_finish(&run);

	eo.client = f->client;
	eo.instance = "pod-a";
	eo.api = CTRL_EVENTS_API_EVENTS_V1;
	assert_int_equal(ctrl_events_new(&ev, &eo), 0);
	f->opts.events = ev;
	assert_int_equal(ctrl_run_init(&run, &f->opts, "ns/g", NULL), 0);
	ctrl_run_event(&run, CTRL_EVENT_WARNING, "Scheduled", "no object yet");
	run.obj = tu_json(GADGET("1", "{}"));
	fake_server_add(&f->server, &created);
	ctrl_run_event(&run, CTRL_EVENT_WARNING, "Missed", "%d run(s) missed: %s", 2,
		       "the target was not found");
	assert_int_equal(ctrl_events_flush(ev, 10 * SEC), 0);
	ctrl_events_free(ev);
	ctrl_run_finish(&run);
	assert_int_equal(f->server.nrequests, 1);
	assert_true(ss_str_has_prefix(f->server.requests[0], "POST "));
	assert_non_null(strstr(f->server.requests[0], "\"reason\":\"Missed\""));
	assert_non_null(strstr(f->server.requests[0], "\"type\":\"Warning\""));
	assert_non_null(strstr(f->server.requests[0],
			       "\"note\":\"2 run(s) missed: the target was not found\""));
	assert_non_null(strstr(f->server.requests[0], "\"uid\":\"u-1\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_and_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
		cmocka_unit_test(test_observe_finish),
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_status_unchanged_and_gone,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_event, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
