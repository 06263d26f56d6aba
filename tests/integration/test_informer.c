/*
 * test_informer.c — a controller over ConfigMaps (informer → workqueue →
 * reconcile) against the real API server must end up seeing exactly the
 * API's final state:
 *   - after creates, updates and deletes while it watches;
 *   - after etcd is compacted and the API server restarted, with more
 *     changes (deletes among them) made while its watch is down: it must
 *     relist (a 410, counted in snapstage_watch_restarts_total{reason=gone})
 *     and lose no delete.
 *
 * The reconciler keeps a "model" — what the controller believes — from the
 * informer's cache; the test compares it with a fresh list from the API.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cluster_env.h"
#include "testutil.h"

#include "ctrl/controller.h"
#include "ctrl/informer.h"
#include "ctrl/object.h"
#include "kube/rest.h"
#include "util/error.h"

static const kube_resource configmaps = { "", "v1", "configmaps", true };

static it_cluster cluster;
static kube_client *admin;
static char ns[64], noise_ns[64];

/* What the controller believes: name -> data.a, and every key it has seen
 * deleted. Guarded by `lock` (reconciles run on two workers). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *model, *deleted;
static ctrl_informer *informer;

static ctrl_result reconcile(void *payload, const char *key)
{
	char kns[CTRL_KEY_MAX], name[CTRL_KEY_MAX];
	json_t *obj = NULL;

	(void)payload;
	if (ctrl_key_split(key, kns, sizeof(kns), name, sizeof(name)) < 0)
		return ctrl_result_error();
	pthread_mutex_lock(&lock);
	if (ctrl_store_get(&obj, ctrl_informer_store(informer), key) == 0) {
		json_object_set(model, name,
				json_object_get(json_object_get(obj, "data"), "a"));
		json_object_del(deleted, name);
	} else {
		json_object_del(model, name);
		json_object_set_new(deleted, name, json_true());
	}
	pthread_mutex_unlock(&lock);
	json_decref(obj);
	return ctrl_result_done();
}

static void put_cm(const char *in_ns, const char *name, const char *value)
{
	json_t *cm = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
			       "ConfigMap", "metadata", "name", name, "data", "a", value);
	json_t *patch = json_pack("{s:{s:s}}", "data", "a", value);
	int rc = kube_create(NULL, admin, &configmaps, in_ns, cm);

	if (rc == SS_EEXISTS)
		rc = kube_patch(NULL, admin, &configmaps, in_ns, name, KUBE_PATCH_MERGE,
				patch, NULL);
	IT_CHECK(rc);
	json_decref(cm);
	json_decref(patch);
}

static void delete_cm(const char *name)
{
	IT_CHECK(kube_delete(NULL, admin, &configmaps, ns, name, NULL));
}

/* The API's truth as name -> data.a. */
static json_t *truth(void)
{
	json_t *items = NULL, *item, *map = json_object();
	size_t i;

	IT_CHECK(kube_list_all(&items, NULL, admin, &configmaps, ns, NULL));
	json_array_foreach(items, i, item)
	{
		json_object_set(map, ctrl_meta(item, "name"),
				json_object_get(json_object_get(item, "data"), "a"));
	}
	json_decref(items);
	return map;
}

/* Waits until the model equals the truth; fails after `seconds`. */
static void wait_converged(int seconds)
{
	json_t *want = truth();
	int i;
	bool same = false;

	for (i = 0; i < seconds * 10 && !same; i++) {
		pthread_mutex_lock(&lock);
		same = json_equal(model, want);
		pthread_mutex_unlock(&lock);
		if (!same)
			it_sleep_ms(100);
	}
	if (!same) {
		char *a, *b;

		pthread_mutex_lock(&lock);
		a = json_dumps(model, JSON_SORT_KEYS | JSON_COMPACT);
		pthread_mutex_unlock(&lock);
		b = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
		print_error("not converged after %d s:\n model %s\n truth %s\n", seconds,
			    a, b);
		free(a);
		free(b);
		json_decref(want);
		fail();
	}
	json_decref(want);
}

static bool seen_deleted(const char *name)
{
	bool yes;

	pthread_mutex_lock(&lock);
	yes = json_object_get(deleted, name) != NULL;
	pthread_mutex_unlock(&lock);
	return yes;
}

static int group_setup(void **state)
{
	(void)state;
	it_cluster_load(&cluster);
	admin = it_client_from_kubeconfig(cluster.kubeconfig);
	it_namespace_create(admin, "ss-inf", ns, sizeof(ns));
	it_namespace_create(admin, "ss-noise", noise_ns, sizeof(noise_ns));
	model = json_object();
	deleted = json_object();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (!admin)
		return 0;
	it_namespace_delete(admin, ns);
	it_namespace_delete(admin, noise_ns);
	kube_client_free(admin);
	json_decref(model);
	json_decref(deleted);
	return 0;
}

static void test_converges_through_restart_and_compaction(void **state)
{
	ctrl_metrics *metrics = NULL;
	ctrl_controller *controller = NULL;
	ctrl_controller_opts copts = CTRL_CONTROLLER_OPTS_INIT;
	ctrl_informer_opts iopts = { 0 };
	ctrl_handlers handlers;
	char name[32];
	int i;

	(void)state;
	for (i = 0; i < 6; i++) { /* there before the informer starts */
		snprintf(name, sizeof(name), "early-%d", i);
		put_cm(ns, name, "0");
	}
	IT_CHECK(ctrl_metrics_new(&metrics));
	copts.name = "configmaps";
	copts.workers = 2;
	copts.reconcile = reconcile;
	copts.metrics = metrics;
	IT_CHECK(ctrl_controller_new(&controller, &copts));
	iopts.client = admin;
	iopts.resource = &configmaps;
	iopts.ns = ns;
	iopts.kind = "ConfigMap";
	iopts.page_size = 4; /* several pages even for a small test */
	iopts.metrics = metrics;
	iopts.backoff_max_ns = SS_NS_PER_SEC;
	IT_CHECK(ctrl_informer_new(&informer, &iopts));
	handlers = ctrl_controller_key_handlers(controller);
	IT_CHECK(ctrl_informer_add_handlers(informer, &handlers));
	IT_CHECK(ctrl_informer_start(informer));
	IT_CHECK(ctrl_informer_wait_synced(informer, 30 * SS_NS_PER_SEC));
	IT_CHECK(ctrl_controller_start(controller));
	wait_converged(20);

	/* Changes while it watches. */
	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "live-%d", i);
		put_cm(ns, name, "1");
	}
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "live-%d", i);
		put_cm(ns, name, "2");
	}
	delete_cm("early-0");
	delete_cm("live-11");
	wait_converged(20);
	assert_true(seen_deleted("early-0"));
	assert_true(seen_deleted("live-11"));

	/* History moves on elsewhere, etcd forgets it, the API server restarts:
	 * the informer's version is now older than anything served. */
	put_cm(noise_ns, "noise", "x");
	it_etcd_compact(&cluster);
	it_apiserver_restart(&cluster);
	/* Changes the informer has not seen: it is reconnecting. */
	delete_cm("early-1");
	delete_cm("early-2");
	delete_cm("live-10");
	put_cm(ns, "live-0", "3");
	put_cm(ns, "after-restart", "4");
	wait_converged(30);
	assert_true(seen_deleted("early-1"));
	assert_true(seen_deleted("early-2"));
	assert_true(seen_deleted("live-10"));
	assert_true(ctrl_metrics_value(metrics, "snapstage_watch_restarts_total",
				       CTRL_LV("configmaps", "gone")) >= 1);
	print_message("watch restarts: gone=%.0f error=%.0f\n",
		      ctrl_metrics_value(metrics, "snapstage_watch_restarts_total",
					 CTRL_LV("configmaps", "gone")),
		      ctrl_metrics_value(metrics, "snapstage_watch_restarts_total",
					 CTRL_LV("configmaps", "error")));

	/* And it keeps watching after the relist. */
	delete_cm("early-3");
	put_cm(ns, "last", "5");
	wait_converged(20);
	assert_true(seen_deleted("early-3"));

	assert_int_equal(
		ctrl_controller_stop(controller, ss_clock_mono(ss_clock_system()) +
							 5 * SS_NS_PER_SEC),
		0);
	ctrl_informer_free(informer);
	informer = NULL;
	ctrl_controller_free(controller);
	ctrl_metrics_free(metrics);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_converges_through_restart_and_compaction),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
