/*
 * test_writes.c — ctrl/writes.h without a cluster: the pure finalizer and
 * owner-reference helpers, and the conflict-retry loop against a scripted
 * server (which request carried which resourceVersion, when it gives up,
 * how errors name the object, a conflict backoff that would pass the
 * thread's request deadline). The real API server's side is in
 * tests/integration/test_writes.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_server.h"
#include "testutil.h"

#include "ctrl/writes.h"
#include "kube/rest.h"
#include "util/clock.h"
#include "util/error.h"

static json_t *load(const char *text)
{
	json_t *obj = json_loads(text, 0, NULL);

	assert_non_null(obj);
	return obj;
}

static const json_t *finalizers(const json_t *obj)
{
	return json_object_get(json_object_get(obj, "metadata"), "finalizers");
}

static void test_finalizer_add_remove(void **state)
{
	json_t *obj = load("{\"metadata\":{\"name\":\"x\",\"namespace\":\"ns\"}}");
	bool changed = false;

	(void)state;
	assert_false(ctrl_finalizer_has(obj, "snapstage.io/lock"));
	assert_int_equal(ctrl_finalizer_add(&changed, obj, "snapstage.io/lock"), 0);
	assert_true(changed);
	assert_true(ctrl_finalizer_has(obj, "snapstage.io/lock"));
	/* Twice is once. */
	assert_int_equal(ctrl_finalizer_add(&changed, obj, "snapstage.io/lock"), 0);
	assert_false(changed);
	assert_int_equal(json_array_size(finalizers(obj)), 1);
	assert_int_equal(ctrl_finalizer_add(&changed, obj, "other.io/x"), 0);
	assert_true(changed);
	assert_string_equal(json_string_value(json_array_get(finalizers(obj), 1)),
			    "other.io/x");

	/* Removing an absent one changes nothing. */
	assert_int_equal(ctrl_finalizer_remove(&changed, obj, "absent.io/x"), 0);
	assert_false(changed);
	assert_int_equal(ctrl_finalizer_remove(&changed, obj, "snapstage.io/lock"), 0);
	assert_true(changed);
	assert_false(ctrl_finalizer_has(obj, "snapstage.io/lock"));
	assert_true(ctrl_finalizer_has(obj, "other.io/x"));
	/* The last one out takes the list with it. */
	assert_int_equal(ctrl_finalizer_remove(NULL, obj, "other.io/x"), 0);
	assert_null(finalizers(obj));
	assert_int_equal(ctrl_finalizer_remove(&changed, obj, "other.io/x"), 0);
	assert_false(changed);

	assert_int_equal(ctrl_finalizer_add(NULL, obj, ""), SS_EINVALID);
	assert_int_equal(ctrl_finalizer_add(NULL, obj, NULL), SS_EINVALID);
	assert_false(ctrl_finalizer_has(obj, NULL));
	json_decref(obj);
}

static void test_finalizer_on_deleted_and_malformed(void **state)
{
	json_t *obj = load("{\"metadata\":{\"name\":\"x\",\"namespace\":\"ns\","
			   "\"deletionTimestamp\":\"2026-11-23T09:20:00Z\","
			   "\"finalizers\":[\"a.io/x\"]}}");
	bool changed = true;

	(void)state;
	/* Present already: fine even while deleting. New: refused. */
	assert_int_equal(ctrl_finalizer_add(&changed, obj, "a.io/x"), 0);
	assert_false(changed);
	assert_int_equal(ctrl_finalizer_add(&changed, obj, "b.io/x"), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "add finalizer b.io/x on ns/x: the object is being "
				     "deleted");
	assert_int_equal(ctrl_finalizer_remove(&changed, obj, "a.io/x"), 0);
	assert_true(changed);
	json_decref(obj);

	obj = load("{\"metadata\":{\"name\":\"x\",\"finalizers\":\"a.io/x\"}}");
	assert_false(ctrl_finalizer_has(obj, "a.io/x"));
	assert_int_equal(ctrl_finalizer_add(NULL, obj, "a.io/x"), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "metadata.finalizers is not a list of strings");
	assert_int_equal(ctrl_finalizer_remove(NULL, obj, "a.io/x"), SS_EINVALID);
	json_decref(obj);

	obj = load("{\"metadata\":{\"name\":\"x\",\"finalizers\":[\"a.io/x\",3]}}");
	assert_true(ctrl_finalizer_has(obj, "a.io/x"));
	assert_int_equal(ctrl_finalizer_remove(NULL, obj, "a.io/x"), SS_EINVALID);
	json_decref(obj);

	obj = load("{\"kind\":\"X\"}");
	assert_int_equal(ctrl_finalizer_add(NULL, obj, "a.io/x"), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "has no metadata");
	/* JSON null finalizers count as none. */
	json_object_set_new(obj, "metadata",
			    load("{\"name\":\"y\",\"finalizers\":null}"));
	assert_int_equal(ctrl_finalizer_add(&changed, obj, "a.io/x"), 0);
	assert_true(changed);
	assert_true(ctrl_finalizer_has(obj, "a.io/x"));
	json_decref(obj);
}

static const char owner_json[] =
	"{\"apiVersion\":\"snapstage.io/v1alpha1\",\"kind\":\"Backup\","
	"\"metadata\":{\"name\":\"nightly\",\"namespace\":\"db\",\"uid\":\"u-1\"}}";

static void test_owner_set_controller(void **state)
{
	json_t *owner = load(owner_json);
	json_t *child = load("{\"metadata\":{\"name\":\"snap\",\"namespace\":\"db\"}}");
	json_t *expected =
		load("{\"apiVersion\":\"snapstage.io/v1alpha1\",\"kind\":\"Backup\","
		     "\"name\":\"nightly\",\"uid\":\"u-1\",\"controller\":true,"
		     "\"blockOwnerDeletion\":true}");
	bool changed = false;

	(void)state;
	assert_null(ctrl_owner_controller(child));
	assert_int_equal(ctrl_owner_set_controller(&changed, child, owner), 0);
	assert_true(changed);
	assert_true(json_equal(ctrl_owner_controller(child), expected));
	assert_int_equal(ctrl_owner_set_controller(&changed, child, owner), 0);
	assert_false(changed);
	assert_int_equal(json_array_size(json_object_get(
				 json_object_get(child, "metadata"), "ownerReferences")),
			 1);
	json_decref(child);

	/* Other owners stay; a plain reference to the same uid is promoted in
	 * place rather than duplicated. */
	child = load("{\"metadata\":{\"name\":\"snap\",\"ownerReferences\":["
		     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"c\","
		     "\"uid\":\"u-9\"},"
		     "{\"apiVersion\":\"snapstage.io/v1alpha1\",\"kind\":\"Backup\","
		     "\"name\":\"nightly\",\"uid\":\"u-1\"}]}}");
	assert_int_equal(ctrl_owner_set_controller(&changed, child, owner), 0);
	assert_true(changed);
	assert_int_equal(json_array_size(json_object_get(
				 json_object_get(child, "metadata"), "ownerReferences")),
			 2);
	assert_true(json_equal(ctrl_owner_controller(child), expected));
	assert_ptr_equal(
		ctrl_owner_controller(child),
		json_array_get(json_object_get(json_object_get(child, "metadata"),
					       "ownerReferences"),
			       1));
	json_decref(child);
	json_decref(expected);
	json_decref(owner);
}

static void test_owner_refusals(void **state)
{
	json_t *owner = load(owner_json), *before;
	json_t *child = load("{\"metadata\":{\"name\":\"snap\",\"namespace\":\"db\","
			     "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":"
			     "\"StatefulSet\",\"name\":\"maria\",\"uid\":\"u-2\","
			     "\"controller\":true}]}}");
	json_t *no_uid = load("{\"apiVersion\":\"v1\",\"kind\":\"Backup\","
			      "\"metadata\":{\"name\":\"n\"}}");
	json_t *elsewhere =
		load("{\"metadata\":{\"name\":\"snap\",\"namespace\":\"web\"}}");
	json_t *malformed =
		load("{\"metadata\":{\"name\":\"snap\",\"ownerReferences\":7}}");

	(void)state;
	before = json_deep_copy(child);
	assert_string_equal(
		json_string_value(json_object_get(ctrl_owner_controller(child), "name")),
		"maria");
	assert_int_equal(ctrl_owner_set_controller(NULL, child, owner), SS_ECONFLICT);
	tu_assert_error(SS_ECONFLICT, "set controller of db/snap: it is already "
				      "controlled by StatefulSet maria (uid u-2)");
	assert_true(json_equal(before, child));
	assert_int_equal(ctrl_owner_set_controller(NULL, child, no_uid), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "the owner needs apiVersion, kind");
	assert_int_equal(ctrl_owner_set_controller(NULL, elsewhere, owner), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "cannot cross namespaces");
	assert_int_equal(ctrl_owner_set_controller(NULL, malformed, owner), SS_EINVALID);
	assert_null(ctrl_owner_controller(malformed));
	assert_null(ctrl_owner_controller(NULL));
	json_decref(before);
	json_decref(child);
	json_decref(no_uid);
	json_decref(elsewhere);
	json_decref(malformed);
	json_decref(owner);
}

/* --- the retry loop against a scripted server ------------------------------- */

static const kube_resource gadgets = { "x.io", "v1", "gadgets", true };

typedef struct {
	fake_server server;
	kube_client *client;
	char dir[512];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s", tu_mkdtemp());
	fake_server_start(&f->server);
	f->client = fake_server_client(&f->server, f->dir, "t", NULL);
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

#define GADGET(rv)                                                                      \
	"{\"apiVersion\":\"x.io/v1\",\"kind\":\"Gadget\",\"metadata\":{\"name\":\"g\"," \
	"\"namespace\":\"ns\",\"resourceVersion\":\"" rv "\"},\"status\":{}}"

static const char conflict_body[] =
	"{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Operation cannot be "
	"fulfilled on gadgets.x.io \\\"g\\\": the object has been modified\","
	"\"reason\":\"Conflict\",\"code\":409}";

typedef struct {
	int calls;
	int result;
} mutation;

/* Sets status.phase, and tries to make the write unconditional. */
static int set_phase(json_t *obj, void *payload)
{
	mutation *m = payload;

	m->calls++;
	if (m->result < 0)
		return ss_error_set(m->result, "the backup spec names no database");
	if (m->result != 0)
		return m->result;
	json_object_set_new(json_object_get(obj, "status"), "phase",
			    json_string("Ready"));
	json_object_del(json_object_get(obj, "metadata"), "resourceVersion");
	return 0;
}

static void test_retry_rereads_after_conflict(void **state)
{
	fixture *f = *state;
	fake_response v1 = { .status = 200, .body = GADGET("1") };
	fake_response v2 = { .status = 200, .body = GADGET("2") };
	fake_response conflict = { .status = 409, .body = conflict_body };
	fake_response written = { .status = 200, .body = GADGET("3") };
	ctrl_write_opts opts = CTRL_WRITE_OPTS_INIT;
	mutation m = { 0, 0 };
	json_t *out = NULL;

	fake_server_add(&f->server, &v1);
	fake_server_add(&f->server, &conflict);
	fake_server_add(&f->server, &v2);
	fake_server_add(&f->server, &written);
	opts.backoff_ms = 1;
	assert_int_equal(ctrl_write_status(&out, f->client, &gadgets, "ns", "g",
					   set_phase, &m, &opts),
			 0);
	assert_int_equal(m.calls, 2);
	assert_int_equal(f->server.nrequests, 4);
	assert_non_null(strstr(f->server.requests[0],
			       "GET /apis/x.io/v1/namespaces/ns/gadgets/g HTTP"));
	assert_non_null(strstr(f->server.requests[1],
			       "PUT /apis/x.io/v1/namespaces/ns/gadgets/g/status HTTP"));
	/* Each PUT carries the version just read, whatever the callback did. */
	assert_non_null(strstr(f->server.requests[1], "\"resourceVersion\":\"1\""));
	assert_non_null(strstr(f->server.requests[1], "\"phase\":\"Ready\""));
	assert_non_null(strstr(f->server.requests[3], "\"resourceVersion\":\"2\""));
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(out, "metadata"), "resourceVersion")),
			    "3");
	json_decref(out);
}

static void test_retry_gives_up(void **state)
{
	fixture *f = *state;
	fake_response v1 = { .status = 200, .body = GADGET("1") };
	fake_response conflict = { .status = 409, .body = conflict_body };
	ctrl_write_opts opts = { .max_attempts = 2, .backoff_ms = 1 };
	mutation m = { 0, 0 };
	json_t *out = NULL;

	fake_server_add(&f->server, &v1);
	fake_server_add(&f->server, &conflict);
	fake_server_add(&f->server, &v1);
	fake_server_add(&f->server, &conflict);
	assert_int_equal(ctrl_write_object(&out, f->client, &gadgets, "ns", "g",
					   set_phase, &m, &opts),
			 SS_ECONFLICT);
	tu_assert_error(SS_ECONFLICT, "update gadgets/ns/g: gave up after 2 attempts: ");
	tu_assert_error(SS_ECONFLICT, "the object has been modified");
	assert_int_equal(ss_error_last()->http_status, 409);
	assert_string_equal(ss_error_last()->reason, "Conflict");
	assert_int_equal(m.calls, 2);
	assert_int_equal(f->server.nrequests, 4);
	assert_null(out);
}

static void test_backoff_stops_at_deadline(void **state)
{
	fixture *f = *state;
	fake_response v1 = { .status = 200, .body = GADGET("1") };
	fake_response conflict = { .status = 409, .body = conflict_body };
	ctrl_write_opts opts = { .max_attempts = 5, .backoff_ms = 600 };
	mutation m = { 0, 0 };
	int64_t start = ss_clock_mono(ss_clock_system());
	int64_t took_ms;

	fake_server_add(&f->server, &v1);
	fake_server_add(&f->server, &conflict);
	fake_server_add(&f->server, &v1);
	/* A 300-600 ms backoff does not fit in 250 ms: no second attempt. */
	kube_deadline_set(start + 250 * SS_NS_PER_MS, "the lock budget");
	assert_int_equal(ctrl_write_status(NULL, f->client, &gadgets, "ns", "g",
					   set_phase, &m, &opts),
			 SS_ETIMEOUT);
	kube_deadline_clear();
	took_ms = (ss_clock_mono(ss_clock_system()) - start) / SS_NS_PER_MS;
	assert_true(took_ms < 250);
	tu_assert_error(SS_ETIMEOUT, "update status of gadgets/ns/g: retrying a "
				     "conflict: the lock budget ran out (a wait of ");
	assert_int_equal(m.calls, 1);
	assert_int_equal(f->server.nrequests, 2);
}

static void test_no_change_no_write_and_errors(void **state)
{
	fixture *f = *state;
	fake_response v1 = { .status = 200, .body = GADGET("1") };
	fake_response missing = {
		.status = 404,
		.body = "{\"kind\":\"Status\",\"status\":\"Failure\","
			"\"message\":\"gadgets.x.io \\\"g\\\" not found\","
			"\"reason\":\"NotFound\",\"code\":404}"
	};
	mutation skip = { 0, CTRL_MUTATE_SKIP }, fail = { 0, SS_EINVALID };
	mutation odd = { 0, 42 };
	json_t *out = NULL, *start = load(GADGET("7"));
	ctrl_write_opts from_cache = CTRL_WRITE_OPTS_INIT;

	fake_server_add(&f->server, &v1);
	assert_int_equal(ctrl_write_status(&out, f->client, &gadgets, "ns", "g",
					   set_phase, &skip, NULL),
			 0);
	assert_int_equal(f->server.nrequests, 1); /* the GET only */
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(out, "metadata"), "resourceVersion")),
			    "1");
	json_decref(out);

	fake_server_add(&f->server, &missing);
	assert_int_equal(ctrl_write_status(NULL, f->client, &gadgets, "ns", "g",
					   set_phase, &skip, NULL),
			 SS_ENOTFOUND);
	tu_assert_error(SS_ENOTFOUND, "update status of gadgets/ns/g: ");
	assert_int_equal(ss_error_last()->http_status, 404);

	fake_server_add(&f->server, &v1);
	assert_int_equal(ctrl_write_status(NULL, f->client, &gadgets, "ns", "g",
					   set_phase, &fail, NULL),
			 SS_EINVALID);
	tu_assert_error(
		SS_EINVALID,
		"update status of gadgets/ns/g: the backup spec names no database");

	fake_server_add(&f->server, &v1);
	assert_int_equal(ctrl_write_status(NULL, f->client, &gadgets, "ns", "g",
					   set_phase, &odd, NULL),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID, "callback returned 42");
	assert_int_equal(f->server.nrequests, 4);

	/* Starting from a cached copy saves the first GET. */
	from_cache.start = start;
	skip.result = 0;
	assert_int_equal(ctrl_write_status(NULL, f->client, &gadgets, "ns", "other",
					   set_phase, &skip, &from_cache),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID, "the start object is ns/g");
	fake_server_add(&f->server, &v1);
	assert_int_equal(ctrl_write_status(&out, f->client, &gadgets, "ns", "g",
					   set_phase, &skip, &from_cache),
			 0);
	assert_int_equal(f->server.nrequests, 5);
	assert_non_null(strstr(f->server.requests[4], "PUT "));
	assert_non_null(strstr(f->server.requests[4], "\"resourceVersion\":\"7\""));
	json_decref(out);
	json_decref(start);

	assert_int_equal(ctrl_write_status(NULL, f->client, &gadgets, NULL, "g",
					   set_phase, &skip, NULL),
			 SS_EINVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finalizer_add_remove),
		cmocka_unit_test(test_finalizer_on_deleted_and_malformed),
		cmocka_unit_test(test_owner_set_controller),
		cmocka_unit_test(test_owner_refusals),
		cmocka_unit_test_setup_teardown(test_retry_rereads_after_conflict, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_retry_gives_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backoff_stops_at_deadline, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_change_no_write_and_errors, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
