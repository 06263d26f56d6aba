/*
 * test_writes_api.c — ctrl/writes.h and ctrl/conditions.h against a real
 * kube-apiserver: a /status write whose first attempt meets a 409 is
 * retried and keeps both changes; /status leaves spec and metadata alone;
 * finalizers hold a deleted object until they are removed; a conflict that
 * never resolves gives up; a missing object is SS_ENOTFOUND.
 *
 * (Named *_api so its target does not clash with tests/unit/test_writes.)
 * The conflicts are made deterministic by the callback itself: on the
 * attempts chosen, it changes the object through a second request before
 * returning, so the PUT that follows carries a stale resourceVersion.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cluster_env.h"
#include "testutil.h"

#include "ctrl/conditions.h"
#include "ctrl/writes.h"
#include "kube/discovery.h"
#include "kube/rest.h"
#include "util/clock.h"
#include "util/error.h"

static const kube_resource crds = { "apiextensions.k8s.io", "v1",
				    "customresourcedefinitions", false };
static const kube_resource gadgets = { "writes.it.snapstage.io", "v1", "gadgets", true };

#define FINALIZER "writes.it.snapstage.io/cleanup"

static it_cluster cluster;
static kube_client *admin;
static char ns[64];

static const char crd_json[] =
	"{\"apiVersion\":\"apiextensions.k8s.io/"
	"v1\",\"kind\":\"CustomResourceDefinition\","
	"\"metadata\":{\"name\":\"gadgets.writes.it.snapstage.io\"},"
	"\"spec\":{\"group\":\"writes.it.snapstage.io\",\"scope\":\"Namespaced\","
	"\"names\":{\"plural\":\"gadgets\",\"singular\":\"gadget\",\"kind\":\"Gadget\"},"
	"\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
	"\"subresources\":{\"status\":{}},"
	"\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{"
	"\"spec\":{\"type\":\"object\",\"properties\":{"
	"\"size\":{\"type\":\"integer\"}}},"
	"\"status\":{\"type\":\"object\",\"properties\":{"
	"\"phase\":{\"type\":\"string\"},"
	"\"note\":{\"type\":\"string\"},"
	"\"conditions\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
	"\"required\":[\"type\",\"status\",\"lastTransitionTime\",\"reason\",\"message\"]"
	","
	"\"properties\":{"
	"\"type\":{\"type\":\"string\",\"maxLength\":316},"
	"\"status\":{\"type\":\"string\",\"enum\":[\"True\",\"False\",\"Unknown\"]},"
	"\"observedGeneration\":{\"type\":\"integer\",\"format\":\"int64\",\"minimum\":0}"
	","
	"\"lastTransitionTime\":{\"type\":\"string\",\"format\":\"date-time\"},"
	"\"reason\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":1024,"
	"\"pattern\":\"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$\"},"
	"\"message\":{\"type\":\"string\",\"maxLength\":32768}}}}}}}}}}]}}";

static json_t *gadget(const char *name)
{
	return json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:i}}", "apiVersion",
			 "writes.it.snapstage.io/v1", "kind", "Gadget", "metadata",
			 "name", name, "labels", "it", "writes", "spec", "size", 1);
}

static int group_setup(void **state)
{
	json_t *crd = json_loads(crd_json, 0, NULL), *probe = gadget("probe");
	int rc, i;

	(void)state;
	it_cluster_load(&cluster);
	admin = it_client_from_kubeconfig(cluster.kubeconfig);
	it_namespace_create(admin, "ss-wr", ns, sizeof(ns));
	assert_non_null(crd);
	rc = kube_create(NULL, admin, &crds, NULL, crd);
	assert_true(rc == 0 || rc == SS_EEXISTS);
	/* Served in discovery first, then writable a moment later. */
	for (i = 0, rc = -1; i < 100 && rc != 0; i++) {
		rc = kube_discover_resource(NULL, admin, "writes.it.snapstage.io", "v1",
					    "gadgets");
		if (rc == 0)
			rc = kube_create(NULL, admin, &gadgets, ns, probe);
		if (rc != 0)
			it_sleep_ms(100);
	}
	IT_CHECK(rc);
	json_decref(probe);
	json_decref(crd);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	it_namespace_delete(admin, ns);
	kube_client_free(admin);
	return 0;
}

static json_t *create(const char *name)
{
	json_t *obj = gadget(name), *created = NULL;

	IT_CHECK(kube_create(&created, admin, &gadgets, ns, obj));
	json_decref(obj);
	return created;
}

static const char *status_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(json_object_get(obj, "status"), key));
}

static json_int_t spec_size(const json_t *obj)
{
	return json_integer_value(json_object_get(json_object_get(obj, "spec"), "size"));
}

static const char *meta(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

/* The callback's state: interfere (change the object behind our back) on
 * every attempt up to `interfere_until`. */
typedef struct {
	const char *name;
	int attempts;
	int interfere_until;
	ss_fake_clock clock;
} race;

static void interfere(const race *r)
{
	json_t *patch = json_pack("{s:{s:s}}", "status", "note", "from-elsewhere");
	kube_patch_opts status = { .subresource = "status" };
	char value[32];

	/* Each interference must change something, or no new version. */
	snprintf(value, sizeof(value), "from-elsewhere-%d", r->attempts);
	json_object_set_new(json_object_get(patch, "status"), "note", json_string(value));
	IT_CHECK(kube_patch(NULL, admin, &gadgets, ns, r->name, KUBE_PATCH_MERGE, patch,
			    &status));
	json_decref(patch);
}

static int mark_ready(json_t *obj, void *payload)
{
	race *r = payload;
	ctrl_condition ready = { "Ready", CTRL_CONDITION_TRUE, "Prepared",
				 "all parts in place", -1 };
	json_t *status = json_object_get(obj, "status");

	r->attempts++;
	if (r->attempts <= r->interfere_until)
		interfere(r);
	if (!json_is_object(status)) {
		status = json_object();
		json_object_set_new(obj, "status", status);
	}
	json_object_set_new(status, "phase", json_string("Ready"));
	/* Ignored by /status: it must not reach the spec. */
	json_object_set_new(json_object_get(obj, "spec"), "size", json_integer(99));
	return ctrl_condition_set(NULL, obj, &ready, &r->clock.clock);
}

static void test_status_conflict_is_retried(void **state)
{
	json_t *created = create("retried"), *out = NULL, *got = NULL;
	race r = { .name = "retried", .interfere_until = 1 };

	(void)state;
	ss_fake_clock_init(&r.clock, INT64_C(1795425600) * SS_NS_PER_SEC);
	IT_CHECK(ctrl_write_status(&out, admin, &gadgets, ns, "retried", mark_ready, &r,
				   NULL));
	assert_int_equal(r.attempts, 2);
	/* Both the other writer's change and ours are there. */
	IT_CHECK(kube_get(&got, admin, &gadgets, ns, "retried"));
	assert_string_equal(status_str(got, "note"), "from-elsewhere-1");
	assert_string_equal(status_str(got, "phase"), "Ready");
	assert_true(ctrl_condition_is_true(got, "Ready"));
	assert_string_equal(ctrl_condition_get_reason(got, "Ready"), "Prepared");
	assert_string_equal(
		json_string_value(json_object_get(ctrl_condition_find(got, "Ready"),
						  "lastTransitionTime")),
		"2026-11-23T09:20:00Z");
	assert_int_equal(
		json_integer_value(json_object_get(ctrl_condition_find(got, "Ready"),
						   "observedGeneration")),
		1);
	/* /status changed neither spec nor generation. */
	assert_int_equal(spec_size(got), 1);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(got, "metadata"), "generation")),
			 1);
	assert_string_equal(meta(out, "resourceVersion"), meta(got, "resourceVersion"));

	/* Setting the same again is no write at all. */
	r.interfere_until = 0;
	json_decref(out);
	IT_CHECK(ctrl_write_status(&out, admin, &gadgets, ns, "retried", mark_ready, &r,
				   NULL));
	assert_int_equal(r.attempts, 3);
	assert_string_equal(meta(out, "resourceVersion"), meta(got, "resourceVersion"));
	json_decref(out);
	json_decref(got);
	json_decref(created);
}

static int grow(json_t *obj, void *payload)
{
	int *calls = payload;

	(*calls)++;
	json_object_set_new(json_object_get(obj, "spec"), "size", json_integer(5));
	json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Ignored"));
	return 0;
}

static void test_object_write_leaves_status(void **state)
{
	json_t *created = create("spec"), *out = NULL;
	kube_patch_opts status = { .subresource = "status" };
	json_t *patch = json_pack("{s:{s:s}}", "status", "phase", "Kept");
	int calls = 0;

	(void)state;
	IT_CHECK(kube_patch(NULL, admin, &gadgets, ns, "spec", KUBE_PATCH_MERGE, patch,
			    &status));
	IT_CHECK(
		ctrl_write_object(&out, admin, &gadgets, ns, "spec", grow, &calls, NULL));
	assert_int_equal(calls, 1);
	assert_int_equal(spec_size(out), 5);
	assert_string_equal(status_str(out, "phase"), "Kept");
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(out, "metadata"), "generation")),
			 2);
	json_decref(out);
	json_decref(patch);
	json_decref(created);
}

static void test_finalizer_round_trip_and_deletion(void **state)
{
	json_t *created = create("guarded"), *out = NULL, *again = NULL, *got = NULL;
	kube_delete_opts now = KUBE_DELETE_OPTS_INIT;
	int i, rc;

	(void)state;
	IT_CHECK(ctrl_write_add_finalizer(&out, admin, &gadgets, ns, "guarded", FINALIZER,
					  NULL));
	assert_true(ctrl_finalizer_has(out, FINALIZER));
	/* Adding twice is no write. */
	IT_CHECK(ctrl_write_add_finalizer(&again, admin, &gadgets, ns, "guarded",
					  FINALIZER, NULL));
	assert_string_equal(meta(again, "resourceVersion"), meta(out, "resourceVersion"));
	json_decref(again);
	json_decref(out);

	/* Deleting only marks it while the finalizer is there. */
	now.grace_period_seconds = 0;
	IT_CHECK(kube_delete(NULL, admin, &gadgets, ns, "guarded", &now));
	IT_CHECK(kube_get(&got, admin, &gadgets, ns, "guarded"));
	assert_non_null(meta(got, "deletionTimestamp"));
	assert_true(ctrl_finalizer_has(got, FINALIZER));
	json_decref(got);
	/* No new finalizers on an object being deleted. */
	assert_int_equal(ctrl_write_add_finalizer(NULL, admin, &gadgets, ns, "guarded",
						  "writes.it.snapstage.io/other", NULL),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID, "being deleted");
	tu_assert_error(SS_EINVALID, "update gadgets/");

	/* Removing an absent one is a no-op; removing ours lets it go. */
	IT_CHECK(ctrl_write_remove_finalizer(NULL, admin, &gadgets, ns, "guarded",
					     "writes.it.snapstage.io/absent", NULL));
	IT_CHECK(kube_get(&got, admin, &gadgets, ns, "guarded"));
	json_decref(got);
	IT_CHECK(ctrl_write_remove_finalizer(NULL, admin, &gadgets, ns, "guarded",
					     FINALIZER, NULL));
	for (i = 0, rc = 0; i < 50 && rc == 0; i++) {
		rc = kube_get(NULL, admin, &gadgets, ns, "guarded");
		if (rc == 0)
			it_sleep_ms(100);
	}
	assert_int_equal(rc, SS_ENOTFOUND);
	json_decref(created);
}

static void test_endless_conflict_gives_up(void **state)
{
	json_t *created = create("contested");
	race r = { .name = "contested", .interfere_until = 1000 };
	ctrl_write_opts opts = CTRL_WRITE_OPTS_INIT;
	json_t *out = NULL;

	(void)state;
	ss_fake_clock_init(&r.clock, INT64_C(1795425600) * SS_NS_PER_SEC);
	opts.max_attempts = 3;
	assert_int_equal(ctrl_write_status(&out, admin, &gadgets, ns, "contested",
					   mark_ready, &r, &opts),
			 SS_ECONFLICT);
	assert_null(out);
	assert_int_equal(r.attempts, 3);
	tu_assert_error(SS_ECONFLICT, "update status of gadgets/");
	tu_assert_error(SS_ECONFLICT, "/contested: gave up after 3 attempts: ");
	tu_assert_error(SS_ECONFLICT, "the object has been modified");
	assert_int_equal(ss_error_last()->http_status, 409);
	json_decref(created);
}

static int never(json_t *obj, void *payload)
{
	(void)obj;
	(void)payload;
	fail_msg("the callback ran for a missing object");
	return 0;
}

static void test_missing_object(void **state)
{
	char expected[128];

	(void)state;
	assert_int_equal(
		ctrl_write_status(NULL, admin, &gadgets, ns, "nope", never, NULL, NULL),
		SS_ENOTFOUND);
	snprintf(expected, sizeof(expected), "update status of gadgets/%s/nope: ", ns);
	tu_assert_error(SS_ENOTFOUND, expected);
	tu_assert_error(SS_ENOTFOUND, "not found");
	assert_int_equal(ctrl_write_remove_finalizer(NULL, admin, &gadgets, ns, "nope",
						     FINALIZER, NULL),
			 SS_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_conflict_is_retried),
		cmocka_unit_test(test_object_write_leaves_status),
		cmocka_unit_test(test_finalizer_round_trip_and_deletion),
		cmocka_unit_test(test_endless_conflict_gives_up),
		cmocka_unit_test(test_missing_object),
	};
	int rc;

	kube_global_init();
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	kube_global_cleanup();
	return rc;
}
