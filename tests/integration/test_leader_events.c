/*
 * test_leader_events.c — leader election (ctrl/leader.h) and the event
 * recorder (ctrl/events.h) against a real kube-apiserver and etcd.
 *
 * Leader election runs three candidates, each with its own client and
 * identity and short durations (lease 3 s, renew deadline 2 s, retry 0.5 s):
 * exactly one leads at any moment; after the leader "crashes" (its threads
 * stop without releasing) another takes over after about one lease
 * duration, never before; after a clean release the next takes over within
 * about one retry period; a leader that sees a foreign holder steps down at
 * once. The Lease's fields are checked after each step.
 *
 * Events: an Event about a ConfigMap appears through events.k8s.io/v1, a
 * repeat aggregates into series.count 2 on the same object, a long note is
 * cut to 1 KiB, the core/v1 path aggregates into count 2, and `kubectl
 * describe` shows the reason under "Events:".
 *
 * Every wait is bounded and says what it was waiting for.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_env.h"
#include "testutil.h"

#include "ctrl/events.h"
#include "ctrl/leader.h"
#include "kube/rest.h"
#include "util/buf.h"
#include "util/error.h"

#define MS SS_NS_PER_MS
#define SEC SS_NS_PER_SEC
#define LEASE_NS (3 * SEC)
#define RENEW_NS (2 * SEC)
#define RETRY_NS (500 * MS)

static const kube_resource leases = { "coordination.k8s.io", "v1", "leases", true };
static const kube_resource configmaps = { "", "v1", "configmaps", true };
static const kube_resource events_v1 = { "events.k8s.io", "v1", "events", true };
static const kube_resource events_core = { "", "v1", "events", true };

static it_cluster cluster;
static kube_client *admin;
static char ns[64];

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static int group_setup(void **state)
{
	(void)state;
	it_cluster_load(&cluster);
	admin = it_client_from_kubeconfig(cluster.kubeconfig);
	it_namespace_create(admin, "ss-le", ns, sizeof(ns));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	it_namespace_delete(admin, ns);
	kube_client_free(admin);
	return 0;
}

/* ---- leader election ---- */

typedef struct {
	const char *id;
	atomic_int started;
	atomic_int stopped;
	atomic_int new_leader;
	kube_client *client;
	ctrl_leader *le;
} candidate;

static void on_started(void *payload)
{
	atomic_fetch_add(&((candidate *)payload)->started, 1);
}

static void on_stopped(void *payload)
{
	atomic_fetch_add(&((candidate *)payload)->stopped, 1);
}

static void on_new_leader(const char *identity, void *payload)
{
	(void)identity;
	atomic_fetch_add(&((candidate *)payload)->new_leader, 1);
}

static void candidate_start(candidate *c, const char *id, const char *lease,
			    ctrl_metrics *metrics)
{
	ctrl_leader_opts opts = CTRL_LEADER_OPTS_INIT;

	memset(c, 0, sizeof(*c));
	c->id = id;
	/* Each candidate has its own connections, as separate processes would. */
	c->client = it_client_from_kubeconfig(cluster.kubeconfig);
	opts.client = c->client;
	opts.lease_namespace = ns;
	opts.lease_name = lease;
	opts.identity = id;
	opts.lease_duration_ns = LEASE_NS;
	opts.renew_deadline_ns = RENEW_NS;
	opts.retry_period_ns = RETRY_NS;
	opts.callbacks.on_started_leading = on_started;
	opts.callbacks.on_stopped_leading = on_stopped;
	opts.callbacks.on_new_leader = on_new_leader;
	opts.callbacks.payload = c;
	opts.metrics = metrics;
	IT_CHECK(ctrl_leader_new(&c->le, &opts));
	IT_CHECK(ctrl_leader_start(c->le));
}

static void candidate_free(candidate *c)
{
	ctrl_leader_free(c->le);
	kube_client_free(c->client);
	c->le = NULL;
	c->client = NULL;
}

/* Waits until `c` leads; returns how long that took, or fails the test. */
static int64_t wait_leading(candidate *c, int64_t limit_ns, const char *what)
{
	int64_t start = now_ns();

	while (!ctrl_leader_is_leader(c->le)) {
		if (now_ns() - start > limit_ns) {
			print_error("%s: %s did not become leader within %lld ms\n", what,
				    c->id, (long long)(limit_ns / MS));
			fail();
		}
		it_sleep_ms(10);
	}
	return now_ns() - start;
}

/* Polls both for `ns` and fails if both ever lead at once. */
static void assert_one_leader(candidate *a, candidate *b, int64_t duration_ns,
			      candidate *expected)
{
	int64_t start = now_ns();
	long polls = 0;

	while (now_ns() - start < duration_ns) {
		bool la = ctrl_leader_is_leader(a->le), lb = ctrl_leader_is_leader(b->le);

		if (la && lb) {
			print_error("%s and %s both lead after %lld ms\n", a->id, b->id,
				    (long long)((now_ns() - start) / MS));
			fail();
		}
		if (expected && !ctrl_leader_is_leader(expected->le)) {
			print_error("%s stopped leading while renewing normally\n",
				    expected->id);
			fail();
		}
		polls++;
		it_sleep_ms(5);
	}
	print_message("one leader throughout %ld polls over %lld ms\n", polls,
		      (long long)(duration_ns / MS));
}

static json_t *get_lease(const char *name)
{
	json_t *lease = NULL;

	IT_CHECK(kube_get(&lease, admin, &leases, ns, name));
	return lease;
}

static void assert_lease(const char *name, const char *holder, int64_t duration_s,
			 int64_t transitions)
{
	json_t *lease = get_lease(name);
	ctrl_lease_record rec;

	IT_CHECK(ctrl_lease_from_json(&rec, lease));
	print_message("lease %s: holder='%s' duration=%lld transitions=%lld\n", name,
		      rec.holder, (long long)rec.lease_duration_s,
		      (long long)rec.transitions);
	assert_string_equal(rec.holder, holder);
	assert_int_equal(rec.lease_duration_s, duration_s);
	assert_int_equal(rec.transitions, transitions);
	assert_true(rec.acquire_time_ns > 0);
	assert_true(rec.renew_time_ns >= rec.acquire_time_ns);
	/* MicroTime on the wire. */
	assert_non_null(strchr(json_string_value(json_object_get(
				       json_object_get(lease, "spec"), "renewTime")),
			       '.'));
	json_decref(lease);
}

static void test_leader_handover(void **state)
{
	candidate a, b, c;
	ctrl_metrics *m = NULL;
	int64_t took;

	(void)state;
	IT_CHECK(ctrl_metrics_new(&m));
	candidate_start(&a, "it-a", "snapstage-it", m);
	took = wait_leading(&a, 5 * SEC, "first candidate");
	print_message("it-a leads after %lld ms (lease created)\n",
		      (long long)(took / MS));
	assert_true(ctrl_metrics_value(m, "snapstage_leader", CTRL_LV("snapstage-it")) ==
		    1.0);
	candidate_start(&b, "it-b", "snapstage-it", NULL);
	/* Longer than a lease duration: a renewing leader is never displaced. */
	assert_one_leader(&a, &b, LEASE_NS + SEC, &a);
	assert_lease("snapstage-it", "it-a", 3, 0);
	assert_int_equal(atomic_load(&a.started), 1);
	assert_int_equal(atomic_load(&b.started), 0);
	assert_true(atomic_load(&b.new_leader) >= 1);

	/* A crash: a's threads stop and nothing is written. */
	ctrl_leader_stop(a.le, false);
	assert_false(ctrl_leader_is_leader(a.le));
	assert_int_equal(atomic_load(&a.stopped), 1);
	assert_true(ctrl_metrics_value(m, "snapstage_leader", CTRL_LV("snapstage-it")) ==
		    0.0);
	took = wait_leading(&b, LEASE_NS + RETRY_NS + 2 * SEC, "takeover after a crash");
	print_message("HANDOVER after crash: %lld ms (lease %lld ms, retry %lld ms)\n",
		      (long long)(took / MS), (long long)(LEASE_NS / MS),
		      (long long)(RETRY_NS / MS));
	/* b last saw a's record change at most one retry period before the
	 * crash; taking over much earlier would mean it judged expiry wrongly. */
	assert_true(took >= LEASE_NS - RETRY_NS - 200 * MS);
	assert_lease("snapstage-it", "it-b", 3, 1);
	assert_int_equal(atomic_load(&b.started), 1);
	candidate_free(&a);
	ctrl_metrics_free(m);

	/* A clean shutdown hands over within about one retry period. */
	candidate_start(&c, "it-c", "snapstage-it", NULL);
	assert_one_leader(&b, &c, SEC, &b);
	ctrl_leader_stop(b.le, true);
	took = wait_leading(&c, RETRY_NS + 1500 * MS, "takeover after a release");
	print_message("HANDOVER after release: %lld ms (retry %lld ms)\n",
		      (long long)(took / MS), (long long)(RETRY_NS / MS));
	assert_int_equal(atomic_load(&b.stopped), 1);
	assert_lease("snapstage-it", "it-c", 3, 2);
	candidate_free(&b);

	/* The last one releases: the Lease is left free for anyone. */
	ctrl_leader_stop(c.le, true);
	assert_lease("snapstage-it", "", 1, 2);
	assert_int_equal(atomic_load(&c.started), 1);
	assert_int_equal(atomic_load(&c.stopped), 1);
	candidate_free(&c);
}

static void test_leader_steps_down_for_foreign_holder(void **state)
{
	candidate a;
	json_t *lease;
	int64_t start;

	(void)state;
	candidate_start(&a, "it-solo", "snapstage-steal", NULL);
	wait_leading(&a, 5 * SEC, "sole candidate");
	/* Someone (an operator, a misconfigured twin) overwrites the holder. */
	lease = get_lease("snapstage-steal");
	json_object_set_new(json_object_get(lease, "spec"), "holderIdentity",
			    json_string("intruder"));
	IT_CHECK(kube_update(NULL, admin, &leases, lease));
	json_decref(lease);
	start = now_ns();
	while (atomic_load(&a.stopped) == 0) {
		if (now_ns() - start > RETRY_NS + 2 * SEC) {
			print_error("leader did not step down for a foreign holder\n");
			fail();
		}
		it_sleep_ms(10);
	}
	print_message("stepped down %lld ms after a foreign holder appeared\n",
		      (long long)((now_ns() - start) / MS));
	assert_false(ctrl_leader_is_leader(a.le));
	/* It does not release what it no longer holds. */
	ctrl_leader_stop(a.le, true);
	lease = get_lease("snapstage-steal");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(lease, "spec"), "holderIdentity")),
			    "intruder");
	json_decref(lease);
	candidate_free(&a);
}

/* ---- events ---- */

static json_t *make_configmap(const char *name)
{
	json_t *cm = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
			       "ConfigMap", "metadata", "name", name, "data", "a", "1");
	json_t *created = NULL;

	IT_CHECK(kube_create(&created, admin, &configmaps, ns, cm));
	json_decref(cm);
	/* The API server omits apiVersion/kind in some answers; the recorder
	 * needs them. */
	json_object_set_new(created, "apiVersion", json_string("v1"));
	json_object_set_new(created, "kind", json_string("ConfigMap"));
	return created;
}

static json_t *list_events(const kube_resource *res, const char *selector)
{
	kube_list_opts opts = { .field_selector = selector };
	json_t *list = NULL, *items;

	IT_CHECK(kube_list(&list, admin, res, ns, &opts));
	items = json_incref(json_object_get(list, "items"));
	json_decref(list);
	return items;
}

static ctrl_events *recorder(ctrl_events_api api)
{
	ctrl_events_opts opts = CTRL_EVENTS_OPTS_INIT;
	ctrl_events *ev = NULL;

	opts.client = admin;
	opts.instance = "it-instance";
	opts.api = api;
	IT_CHECK(ctrl_events_new(&ev, &opts));
	return ev;
}

static const char *jstr(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(o, a);

	return json_string_value(b ? json_object_get(v, b) : v);
}

static void kubectl_describe(ss_buf *out, const char *kind, const char *name)
{
	char cmd[2048], line[1024];
	FILE *p;
	int status;

	snprintf(cmd, sizeof(cmd),
		 "KUBECONFIG='%s' /usr/bin/kubectl describe %s %s --namespace '%s' 2>&1",
		 cluster.kubeconfig, kind, name, ns);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		assert_int_equal(ss_buf_puts(out, line), 0);
	status = pclose(p);
	if (status != 0) {
		print_error("kubectl describe failed (%d):\n%s\n", status,
			    ss_buf_cstr(out));
		fail();
	}
}

static void test_events_v1_record_aggregate_describe(void **state)
{
	ctrl_events *ev = recorder(CTRL_EVENTS_API_AUTO);
	json_t *cm = make_configmap("ev-cm"), *items, *e, *series;
	ss_buf out = SS_BUF_INIT(1 << 20);
	char note[3000];
	const char *events_at;
	size_t i;

	(void)state;
	IT_CHECK(ctrl_events_record(ev, cm, CTRL_EVENT_NORMAL, "SnapshotTaken", "Backup",
				    "took %d snapshot(s)", 1));
	IT_CHECK(ctrl_events_flush(ev, 15 * SEC));
	items = list_events(&events_v1, "regarding.name=ev-cm");
	assert_int_equal(json_array_size(items), 1);
	e = json_array_get(items, 0);
	assert_string_equal(jstr(e, "reason", NULL), "SnapshotTaken");
	assert_string_equal(jstr(e, "action", NULL), "Backup");
	assert_string_equal(jstr(e, "note", NULL), "took 1 snapshot(s)");
	assert_string_equal(jstr(e, "type", NULL), "Normal");
	assert_string_equal(jstr(e, "reportingController", NULL),
			    "snapstage.io/snapstage");
	assert_string_equal(jstr(e, "reportingInstance", NULL), "it-instance");
	assert_string_equal(jstr(e, "regarding", "kind"), "ConfigMap");
	assert_string_equal(jstr(e, "regarding", "uid"), jstr(cm, "metadata", "uid"));
	assert_non_null(strstr(jstr(e, "metadata", "name"), "ev-cm."));
	json_decref(items);

	/* The same again: one object, series.count 2. */
	IT_CHECK(ctrl_events_record(ev, cm, CTRL_EVENT_NORMAL, "SnapshotTaken", "Backup",
				    "took %d snapshot(s)", 1));
	IT_CHECK(ctrl_events_flush(ev, 15 * SEC));
	items = list_events(&events_v1, "regarding.name=ev-cm");
	assert_int_equal(json_array_size(items), 1);
	series = json_object_get(json_array_get(items, 0), "series");
	assert_non_null(series);
	assert_int_equal(json_integer_value(json_object_get(series, "count")), 2);
	assert_non_null(jstr(series, "lastObservedTime", NULL));
	json_decref(items);

	/* A warning with a note far over the limit, in two-byte characters. */
	for (i = 0; i + 2 < sizeof(note); i += 2) {
		note[i] = (char)0xc3;
		note[i + 1] = (char)0xa9;
	}
	note[i] = '\0';
	IT_CHECK(ctrl_events_record(ev, cm, CTRL_EVENT_WARNING, "BackupFailed", "Backup",
				    "%s", note));
	IT_CHECK(ctrl_events_flush(ev, 15 * SEC));
	items = list_events(&events_v1, "regarding.name=ev-cm");
	assert_int_equal(json_array_size(items), 2);
	for (i = 0; i < 2; i++) {
		e = json_array_get(items, i);
		if (strcmp(jstr(e, "reason", NULL), "BackupFailed") == 0) {
			assert_int_equal(strlen(jstr(e, "note", NULL)), 1024);
			assert_string_equal(jstr(e, "type", NULL), "Warning");
		}
	}
	json_decref(items);
	assert_int_equal(ctrl_events_dropped(ev), 0);

	kubectl_describe(&out, "configmap", "ev-cm");
	events_at = strstr(ss_buf_cstr(&out), "Events:");
	if (!events_at || !strstr(events_at, "SnapshotTaken") ||
	    !strstr(events_at, "BackupFailed")) {
		print_error("kubectl describe does not list the events:\n%s\n",
			    ss_buf_cstr(&out));
		fail();
	}
	print_message("kubectl describe:\n%s", events_at);
	ss_buf_free(&out);
	ctrl_events_free(ev);
	json_decref(cm);
}

static void test_events_core_v1_aggregate(void **state)
{
	ctrl_events *ev = recorder(CTRL_EVENTS_API_CORE_V1);
	json_t *cm = make_configmap("ev-core"), *items, *e;
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		IT_CHECK(ctrl_events_record(ev, cm, CTRL_EVENT_WARNING, "LockTimeout",
					    NULL, "lock not granted within %ds", 30));
	IT_CHECK(ctrl_events_flush(ev, 15 * SEC));
	items = list_events(&events_core, "involvedObject.name=ev-core");
	assert_int_equal(json_array_size(items), 1);
	e = json_array_get(items, 0);
	assert_string_equal(jstr(e, "reason", NULL), "LockTimeout");
	assert_string_equal(jstr(e, "message", NULL), "lock not granted within 30s");
	assert_string_equal(jstr(e, "source", "component"), "snapstage");
	assert_string_equal(jstr(e, "involvedObject", "uid"),
			    jstr(cm, "metadata", "uid"));
	assert_int_equal(json_integer_value(json_object_get(e, "count")), 3);
	assert_non_null(jstr(e, "lastTimestamp", NULL));
	json_decref(items);
	ctrl_events_free(ev);
	json_decref(cm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leader_handover),
		cmocka_unit_test(test_leader_steps_down_for_foreign_holder),
		cmocka_unit_test(test_events_v1_record_aggregate_describe),
		cmocka_unit_test(test_events_core_v1_aggregate),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
