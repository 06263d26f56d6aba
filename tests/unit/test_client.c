/*
 * test_client.c — the client's transport (kube/client.h, kube/rest.h,
 * kube/watch.h) against a scripted local HTTP server: retries on 429/5xx
 * with Retry-After, token-file rotation after a 401, connection reuse,
 * response bounds, a thread's request deadline (slow answers cut, waits
 * refused, nothing sent after it, watches and other threads unaffected),
 * and watch streams cut at awkward places. What the real API server does is
 * covered by the integration tests.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_server.h"
#include "testutil.h"

#include "kube/client.h"
#include "kube/discovery.h"
#include "kube/rest.h"
#include "kube/watch.h"
#include "util/clock.h"
#include "util/error.h"

static const kube_resource configmaps = { "", "v1", "configmaps", true };

typedef struct {
	fake_server server;
	kube_client *client;
	char dir[512];
} fixture;

static kube_client *client_for(fixture *f, const char *user_yaml,
			       const kube_client_opts *opts)
{
	char yaml[2048];
	kube_config *cfg = NULL;
	kube_client *c = NULL;

	snprintf(yaml, sizeof(yaml),
		 "current-context: t\n"
		 "clusters: [{name: c, cluster: {server: '%s'}}]\n"
		 "users: [{name: u, user: %s}]\n"
		 "contexts: [{name: t, context: {cluster: c, user: u, namespace: ns}}]\n",
		 fake_server_url(&f->server), user_yaml);
	assert_int_equal(
		kube_config_from_string(&cfg, yaml, strlen(yaml), "test", f->dir, NULL),
		0);
	assert_int_equal(kube_client_new(&c, cfg, opts), 0);
	kube_config_free(cfg);
	return c;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s", tu_mkdtemp());
	fake_server_start(&f->server);
	f->client = client_for(f, "{token: secret-token-123}", NULL);
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

static const char cm_json[] =
	"{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\"}}";

static void test_get_sends_token_and_path(void **state)
{
	fixture *f = *state;
	fake_response ok = { .status = 200, .body = cm_json };
	json_t *obj = NULL;

	fake_server_add(&f->server, &ok);
	assert_int_equal(kube_get(&obj, f->client, &configmaps, "ns", "a"), 0);
	assert_string_equal(json_string_value(json_object_get(obj, "kind")), "ConfigMap");
	json_decref(obj);
	assert_non_null(strstr(f->server.requests[0],
			       "GET /api/v1/namespaces/ns/configmaps/a HTTP/1.1"));
	assert_non_null(
		strstr(f->server.requests[0], "Authorization: Bearer secret-token-123"));
	assert_non_null(strstr(f->server.requests[0], "Accept: application/json"));
}

static void test_keep_alive_reuses_connection(void **state)
{
	fixture *f = *state;
	fake_response ok = { .status = 200, .body = cm_json };
	int i;

	for (i = 0; i < 3; i++)
		fake_server_add(&f->server, &ok);
	for (i = 0; i < 3; i++)
		assert_int_equal(kube_get(NULL, f->client, &configmaps, "ns", "a"), 0);
	assert_int_equal(f->server.nrequests, 3);
	assert_int_equal(f->server.nconns, 1);
}

/* kube_list_all follows continue tokens: every page's items in order, the
 * first page's resourceVersion, and no resourceVersion sent with a token
 * (the token pins the version; the server refuses both). */
static void test_list_all_follows_pages(void **state)
{
	fixture *f = *state;
	fake_response p1 = { .status = 200,
			     .body = "{\"metadata\":{\"resourceVersion\":\"7\","
				     "\"continue\":\"tok1\"},"
				     "\"items\":[{\"n\":1},{\"n\":2}]}" };
	fake_response p2 = { .status = 200,
			     .body = "{\"metadata\":{\"resourceVersion\":\"9\"},"
				     "\"items\":[{\"n\":3}]}" };
	kube_list_opts opts = { 0 };
	json_t *items = NULL;
	char *rv = NULL;

	opts.limit = 2;
	opts.resource_version = "5";
	fake_server_add(&f->server, &p1);
	fake_server_add(&f->server, &p2);
	assert_int_equal(kube_list_all(&items, &rv, f->client, &configmaps, "ns", &opts),
			 0);
	assert_int_equal(json_array_size(items), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 2), "n")),
			 3);
	assert_string_equal(rv, "7");
	assert_int_equal(f->server.nrequests, 2);
	assert_non_null(strstr(f->server.requests[0], "resourceVersion=5"));
	assert_non_null(strstr(f->server.requests[1], "continue=tok1"));
	assert_null(strstr(f->server.requests[1], "resourceVersion="));
	json_decref(items);
	free(rv);
}

static int count_until_second(json_t *item, void *payload)
{
	int *seen = payload;

	(void)item;
	return ++*seen == 2 ? SS_ECANCELLED : 0;
}

/* With each_item the items are handed over one by one, not collected, and
 * a negative answer stops the listing with that code; a list without a
 * resourceVersion is refused (a watch could not start from it). */
static void test_list_all_each_item_and_refusals(void **state)
{
	fixture *f = *state;
	fake_response page = { .status = 200,
			       .body = "{\"metadata\":{\"resourceVersion\":\"7\"},"
				       "\"items\":[{\"n\":1},{\"n\":2},{\"n\":3}]}" };
	fake_response no_rv = { .status = 200, .body = "{\"items\":[]}" };
	kube_list_opts opts = { 0 };
	json_t *items = NULL;
	char *rv = NULL;
	int seen = 0;

	opts.each_item = count_until_second;
	opts.each_item_payload = &seen;
	fake_server_add(&f->server, &page);
	assert_int_equal(kube_list_all(&items, &rv, f->client, &configmaps, "ns", &opts),
			 SS_ECANCELLED);
	assert_int_equal(seen, 2);
	assert_null(items);
	assert_null(rv);
	fake_server_add(&f->server, &no_rv);
	assert_int_equal(kube_list_all(&items, &rv, f->client, &configmaps, "ns", NULL),
			 SS_EINVALID);
	assert_non_null(strstr(ss_error_last()->message, "has no resourceVersion"));
	assert_null(items);
	assert_null(rv);
}

static void test_429_retried_after_delay(void **state)
{
	fixture *f = *state;
	fake_response throttled = { .status = 429,
				    .headers = "Retry-After: 0\r\n",
				    .body = "{\"kind\":\"Status\",\"reason\":"
					    "\"TooManyRequests\",\"code\":429}" };
	fake_response ok = { .status = 201, .body = cm_json };
	json_t *obj = json_loads(cm_json, 0, NULL);

	fake_server_add(&f->server, &throttled);
	fake_server_add(&f->server, &throttled);
	fake_server_add(&f->server, &ok);
	assert_int_equal(kube_create(NULL, f->client, &configmaps, NULL, obj), 0);
	assert_int_equal(f->server.nrequests, 3);
	/* The body is sent again on every attempt. */
	assert_non_null(strstr(f->server.requests[2], "\"name\":\"a\""));
	json_decref(obj);
}

static void test_429_gives_up_after_max_retries(void **state)
{
	fixture *f = *state;
	fake_response throttled = {
		.status = 429,
		.headers = "Retry-After: 0\r\n",
		.body = "{\"kind\":\"Status\",\"message\":\"slow "
			"down\",\"reason\":\"TooManyRequests\",\"code\":429}"
	};
	int i;

	for (i = 0; i < 4; i++)
		fake_server_add(&f->server, &throttled);
	assert_int_equal(kube_get(NULL, f->client, &configmaps, "ns", "a"),
			 SS_ETOOMANYREQUESTS);
	tu_assert_error(SS_ETOOMANYREQUESTS, "slow down");
	assert_int_equal(ss_error_last()->retry_after_seconds, 0);
	assert_int_equal(f->server.nrequests, 4); /* 1 + 3 retries */
}

static void test_5xx_retried_only_with_retry_after(void **state)
{
	fixture *f = *state;
	fake_response busy = { .status = 503,
			       .headers = "Retry-After: 0\r\n",
			       .body = "" };
	fake_response broken = { .status = 500,
				 .body = "{\"kind\":\"Status\",\"message\":\"boom\","
					 "\"reason\":\"InternalError\",\"code\":500}" };
	fake_response ok = { .status = 200, .body = cm_json };

	fake_server_add(&f->server, &busy);
	fake_server_add(&f->server, &ok);
	fake_server_add(&f->server, &broken);
	assert_int_equal(kube_get(NULL, f->client, &configmaps, "ns", "a"), 0);
	assert_int_equal(kube_get(NULL, f->client, &configmaps, "ns", "a"), SS_ESERVER);
	tu_assert_error(
		SS_ESERVER,
		"GET /api/v1/namespaces/ns/configmaps/a: 500 InternalError: boom");
	assert_int_equal(f->server.nrequests, 3);
}

static void test_token_file_rotation_after_401(void **state)
{
	fixture *f = *state;
	char user[700];
	fake_response first = {
		.status = 200, .body = cm_json, .require_auth = true, .auth = "old"
	};
	fake_response second = {
		.status = 200, .body = cm_json, .require_auth = true, .auth = "new"
	};
	kube_client *c;

	snprintf(user, sizeof(user), "{tokenFile: %s}",
		 tu_write(f->dir, "token", "old\n"));
	c = client_for(f, user, NULL);
	fake_server_add(&f->server, &first);
	assert_int_equal(kube_get(NULL, c, &configmaps, "ns", "a"), 0);
	/* The token rotates; the client still holds "old", gets a 401, re-reads
	 * the file and retries once with "new". */
	tu_write(f->dir, "token", "new\n");
	fake_server_add(&f->server, &second);
	fake_server_add(&f->server, &second);
	assert_int_equal(kube_get(NULL, c, &configmaps, "ns", "a"), 0);
	assert_int_equal(f->server.nrequests, 3);
	assert_non_null(strstr(f->server.requests[1], "Bearer old"));
	assert_non_null(strstr(f->server.requests[2], "Bearer new"));
	kube_client_free(c);
}

static void test_static_token_401_not_retried(void **state)
{
	fixture *f = *state;
	fake_response denied = {
		.status = 200, .body = cm_json, .require_auth = true, .auth = "other"
	};

	fake_server_add(&f->server, &denied);
	assert_int_equal(kube_get(NULL, f->client, &configmaps, "ns", "a"),
			 SS_EUNAUTHORIZED);
	assert_int_equal(f->server.nrequests, 1);
	/* The token never appears in what we report. */
	assert_null(strstr(ss_error_last()->message, "secret-token-123"));
}

static void test_response_bound_and_bad_json(void **state)
{
	fixture *f = *state;
	kube_client_opts opts = KUBE_CLIENT_OPTS_INIT;
	fake_response big = { .status = 200, .body = cm_json };
	fake_response junk = { .status = 200, .body = "{not json" };
	kube_client *c;
	json_t *obj = NULL;

	opts.max_response_bytes = 16;
	c = client_for(f, "{token: t}", &opts);
	fake_server_add(&f->server, &big);
	assert_int_equal(kube_get(&obj, c, &configmaps, "ns", "a"), SS_ETOOLARGE);
	kube_client_free(c);
	fake_server_add(&f->server, &junk);
	assert_int_equal(kube_get(&obj, f->client, &configmaps, "ns", "a"), SS_ERROR);
	tu_assert_error(SS_ERROR, "invalid JSON");
	assert_null(obj);
}

static void test_connection_refused(void **state)
{
	fixture *f = *state;
	kube_config *cfg = NULL;
	kube_client *c = NULL;
	/* Port 1 on loopback: nothing listens there. */
	static const char yaml[] =
		"current-context: t\n"
		"clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
		"contexts: [{name: t, context: {cluster: c}}]\n";

	(void)f;
	assert_int_equal(
		kube_config_from_string(&cfg, yaml, strlen(yaml), "t", "/", NULL), 0);
	assert_int_equal(kube_client_new(&c, cfg, NULL), 0);
	assert_int_equal(kube_get(NULL, c, &configmaps, "ns", "a"), SS_ETRANSPORT);
	tu_assert_error(SS_ETRANSPORT, "GET /api/v1/namespaces/ns/configmaps/a");
	kube_client_free(c);
	kube_config_free(cfg);
}

/* --- watch ------------------------------------------------------------- */

typedef struct {
	char seen[1024];
	int events;
	atomic_bool *cancel_on_first;
} watch_log;

static int log_event(const kube_watch_event *ev, void *payload)
{
	watch_log *log = payload;
	size_t n = strlen(log->seen);

	snprintf(log->seen + n, sizeof(log->seen) - n, "%s%s:%s", n ? " " : "",
		 kube_watch_type_name(ev->type),
		 ev->resource_version ? ev->resource_version : "-");
	log->events++;
	if (log->cancel_on_first)
		atomic_store(log->cancel_on_first, true);
	return 0;
}

#define EV(type, rv)                                                                 \
	"{\"type\":\"" type "\",\"object\":{\"metadata\":{\"resourceVersion\":\"" rv \
	"\"}}}\n"

/* --- request deadlines ------------------------------------------------- */

#define LOCK_BUDGET "the lock budget"
/* How late a bounded call may return: curl's timer and a loaded machine. */
#define DEADLINE_SLACK_MS 50

static int64_t now_ns(void)
{
	return ss_clock_mono(ss_clock_system());
}

static int64_t ms_since(int64_t start)
{
	return (now_ns() - start) / SS_NS_PER_MS;
}

static int clear_deadline(void **state)
{
	kube_deadline_clear();
	return teardown(state);
}

static void test_deadline_cuts_slow_answer(void **state)
{
	fixture *f = *state;
	fake_response slow = { .status = 200, .body = cm_json, .delay_ms = 3000 };
	int64_t start = now_ns();
	int64_t took;

	fake_server_add(&f->server, &slow);
	kube_deadline_set(start + 200 * SS_NS_PER_MS, LOCK_BUDGET);
	assert_int_equal(kube_get(NULL, f->client, &configmaps, "ns", "a"), SS_ETIMEOUT);
	took = ms_since(start);
	print_message("slow answer cut after %lld ms (deadline 200 ms)\n",
		      (long long)took);
	assert_true(took >= 195 && took <= 200 + DEADLINE_SLACK_MS);
	tu_assert_error(SS_ETIMEOUT, "GET /api/v1/namespaces/ns/configmaps/a: "
				     "the lock budget ran out: ");
	assert_int_equal(f->server.nrequests, 1);
}

static void test_deadline_refuses_long_retry_after(void **state)
{
	fixture *f = *state;
	fake_response throttled = { .status = 429,
				    .headers = "Retry-After: 5\r\n",
				    .body = "{\"kind\":\"Status\",\"message\":\"slow "
					    "down\",\"reason\":\"TooManyRequests\","
					    "\"code\":429}" };
	json_t *obj = json_loads(cm_json, 0, NULL);
	int64_t start = now_ns();
	int64_t took;

	fake_server_add(&f->server, &throttled);
	kube_deadline_set(start + 300 * SS_NS_PER_MS, LOCK_BUDGET);
	assert_int_equal(kube_create(NULL, f->client, &configmaps, NULL, obj),
			 SS_ETIMEOUT);
	took = ms_since(start);
	print_message("429 Retry-After 5 given up after %lld ms (deadline 300 ms)\n",
		      (long long)took);
	assert_true(took <= 300 + DEADLINE_SLACK_MS);
	tu_assert_error(SS_ETIMEOUT, "POST /api/v1/namespaces/ns/configmaps: 429 "
				     "TooManyRequests: slow down; not retried: the lock "
				     "budget ran out (Retry-After 5 s, ");
	/* What the server said is kept for the caller. */
	assert_int_equal(ss_error_last()->http_status, 429);
	assert_string_equal(ss_error_last()->reason, "TooManyRequests");
	assert_int_equal(ss_error_last()->retry_after_seconds, 5);
	assert_int_equal(f->server.nrequests, 1);
	json_decref(obj);
}

static void test_deadline_allows_retry_that_fits(void **state)
{
	fixture *f = *state;
	fake_response busy = { .status = 503,
			       .headers = "Retry-After: 0\r\n",
			       .body = "" };
	fake_response ok = { .status = 200, .body = cm_json };

	fake_server_add(&f->server, &busy);
	fake_server_add(&f->server, &ok);
	kube_deadline_set(now_ns() + 5 * SS_NS_PER_SEC, LOCK_BUDGET);
	assert_true(kube_deadline_remaining_ns() > 4 * SS_NS_PER_SEC);
	assert_int_equal(kube_get(NULL, f->client, &configmaps, "ns", "a"), 0);
	assert_int_equal(f->server.nrequests, 2);
}

static void test_deadline_passed_sends_nothing(void **state)
{
	fixture *f = *state;
	fake_response ok = { .status = 200, .body = cm_json };
	int64_t start = now_ns();

	fake_server_add(&f->server, &ok);
	kube_deadline_set(start - 1, NULL);
	assert_true(kube_deadline_remaining_ns() < 0);
	assert_int_equal(kube_get(NULL, f->client, &configmaps, "ns", "a"), SS_ETIMEOUT);
	tu_assert_error(SS_ETIMEOUT, "GET /api/v1/namespaces/ns/configmaps/a: the "
				     "request deadline ran out ");
	tu_assert_error(SS_ETIMEOUT, "; not sent");
	assert_true(ms_since(start) < 20);
	assert_int_equal(f->server.nrequests, 0);
	/* A wait is refused too, and names what was being done. */
	assert_int_equal(kube_deadline_check_wait(0, "retrying a conflict"), SS_ETIMEOUT);
	tu_assert_error(SS_ETIMEOUT, "retrying a conflict: the request deadline ran out");
	kube_deadline_clear();
	assert_int_equal(kube_deadline_check_wait(INT64_MAX, NULL), 0);
	assert_int_equal(kube_get(NULL, f->client, &configmaps, "ns", "a"), 0);
}

/* The write gate (a stale leader's fence): its first "no" is asked after a
 * 429 answer, so a retry is gated as well as a first attempt. */
typedef struct {
	int asked;
	int allow; /* how many answers are "go" before the refusals */
} gate_state;

static const char *test_gate(void *payload)
{
	gate_state *g = payload;

	return g->asked++ < g->allow ? NULL : "not the leader (test)";
}

static void test_write_gate_refuses_writes_not_reads(void **state)
{
	fixture *f = *state;
	fake_response ok = { .status = 200, .body = cm_json };
	fake_response throttled = { .status = 429,
				    .headers = "Retry-After: 0\r\n",
				    .body = "{\"kind\":\"Status\",\"code\":429}" };
	json_t *obj = json_loads(cm_json, 0, NULL);
	gate_state g = { 0, 0 };

	kube_client_set_write_gate(f->client, test_gate, &g);
	/* A read is never asked about. */
	fake_server_add(&f->server, &ok);
	assert_int_equal(kube_get(NULL, f->client, &configmaps, "ns", "a"), 0);
	assert_int_equal(g.asked, 0);
	/* A write refused at once: nothing sent, the reason kept. */
	assert_int_equal(kube_create(NULL, f->client, &configmaps, NULL, obj), SS_ECANCELLED);
	tu_assert_error(SS_ECANCELLED, "POST /api/v1/namespaces/ns/configmaps");
	tu_assert_error(SS_ECANCELLED, "not sent: not the leader (test)");
	assert_int_equal(f->server.nrequests, 1);
	/* Allowed once, answered 429: the retry is asked again and refused. */
	g.asked = 0;
	g.allow = 1;
	fake_server_add(&f->server, &throttled);
	assert_int_equal(kube_update(NULL, f->client, &configmaps, obj), SS_ECANCELLED);
	assert_int_equal(g.asked, 2);
	assert_int_equal(f->server.nrequests, 2);
	/* Removed: writes go again. */
	kube_client_set_write_gate(f->client, NULL, NULL);
	fake_server_add(&f->server, &ok);
	assert_int_equal(kube_delete(NULL, f->client, &configmaps, "ns", "a", NULL), 0);
	assert_int_equal(f->server.nrequests, 3);
	json_decref(obj);
}

/* kube_discover_served: a failure that is not "not served" (here a 503
 * without Retry-After, as an API server that is starting answers) is asked
 * again after the wait, 1 s then 2 s; a 404 is "not served" at once. */
typedef struct {
	int calls;
	int64_t waits[4];
	int give_up_after; /* wait returns false on this call (1-based); 0: never */
} discover_waits;

static bool record_wait(void *payload, int64_t wait_ns)
{
	discover_waits *w = payload;

	if (w->calls < 4)
		w->waits[w->calls] = wait_ns;
	w->calls++;
	return w->give_up_after == 0 || w->calls < w->give_up_after;
}

static void test_discover_served_asks_until_answered(void **state)
{
	fixture *f = *state;
	fake_response starting = { .status = 503, .body = "{\"kind\":\"Status\",\"code\":503}" };
	fake_response list = {
		.status = 200,
		.body = "{\"kind\":\"APIResourceList\",\"resources\":[{\"name\":"
			"\"volumesnapshots\",\"kind\":\"VolumeSnapshot\",\"namespaced\":true}]}"
	};
	fake_response missing = { .status = 404, .body = "{\"kind\":\"Status\",\"code\":404}" };
	fake_response ready = { .status = 200, .body = "ok" };
	fake_response not_ready = { .status = 500, .body = "[-]poststarthook/crd-informer-synced failed" };
	discover_waits w = { 0 };
	bool served = false;

	fake_server_add(&f->server, &starting);
	fake_server_add(&f->server, &starting);
	fake_server_add(&f->server, &list);
	assert_int_equal(kube_discover_served(&served, f->client, "snapshot.storage.k8s.io",
					      "v1", "volumesnapshots", record_wait, &w),
			 0);
	assert_true(served);
	assert_int_equal(w.calls, 2);
	assert_true(w.waits[0] == SS_NS_PER_SEC && w.waits[1] == 2 * SS_NS_PER_SEC);
	/* A 404 while /readyz fails (CRDs not synced after a restart) is asked
	 * again; a 404 from a ready server is "not served", with no wait. */
	w.calls = 0;
	fake_server_add(&f->server, &missing);
	fake_server_add(&f->server, &not_ready);
	fake_server_add(&f->server, &list);
	assert_int_equal(kube_discover_served(&served, f->client, "snapshot.storage.k8s.io",
					      "v1", "volumesnapshots", record_wait, &w),
			 0);
	assert_true(served);
	assert_int_equal(w.calls, 1);
	assert_non_null(strstr(f->server.requests[4], "GET /readyz "));
	w.calls = 0;
	fake_server_add(&f->server, &missing);
	fake_server_add(&f->server, &ready);
	assert_int_equal(kube_discover_served(&served, f->client, "snapstage.io", "v1alpha1",
					      "restores", record_wait, &w),
			 0);
	assert_false(served);
	assert_int_equal(w.calls, 0);
	/* The wait gives up: the failure is returned, `served` untouched. */
	w.calls = 0;
	w.give_up_after = 2;
	served = true;
	fake_server_add(&f->server, &starting);
	fake_server_add(&f->server, &starting);
	assert_int_equal(kube_discover_served(&served, f->client, "snapstage.io", "v1alpha1",
					      "restores", record_wait, &w),
			 SS_ESERVER);
	assert_true(served);
	assert_int_equal(w.calls, 2);
	assert_int_equal(f->server.nrequests, 10);
}

static void test_no_deadline_keeps_client_timeouts(void **state)
{
	fixture *f = *state;
	kube_client_opts opts = KUBE_CLIENT_OPTS_INIT;
	fake_response slow = { .status = 200, .body = cm_json, .delay_ms = 300 };
	fake_response slower = { .status = 200, .body = cm_json, .delay_ms = 3000 };
	int64_t start;
	kube_client *c;

	assert_true(kube_deadline_remaining_ns() == INT64_MAX);
	/* The client's own timeout still applies, with its own message. */
	opts.timeout_ms = 150;
	c = client_for(f, "{token: t}", &opts);
	fake_server_add(&f->server, &slow);
	assert_int_equal(kube_get(NULL, f->client, &configmaps, "ns", "a"), 0);
	fake_server_add(&f->server, &slower);
	start = now_ns();
	assert_int_equal(kube_get(NULL, c, &configmaps, "ns", "a"), SS_ETIMEOUT);
	assert_true(ms_since(start) <= 150 + DEADLINE_SLACK_MS);
	assert_null(strstr(ss_error_last()->message, "ran out"));
	/* A later deadline leaves the shorter client timeout in charge. */
	fake_server_add(&f->server, &slower);
	kube_deadline_set(now_ns() + 10 * SS_NS_PER_SEC, LOCK_BUDGET);
	assert_int_equal(kube_get(NULL, c, &configmaps, "ns", "a"), SS_ETIMEOUT);
	assert_null(strstr(ss_error_last()->message, "ran out"));
	kube_client_free(c);
}

typedef struct {
	kube_client *client;
	int result;
	int64_t remaining;
} other_thread;

static void *get_on_other_thread(void *p)
{
	other_thread *o = p;

	o->remaining = kube_deadline_remaining_ns();
	o->result = kube_get(NULL, o->client, &configmaps, "ns", "a");
	return NULL;
}

static void test_deadline_is_per_thread_and_skips_watches(void **state)
{
	fixture *f = *state;
	fake_response ok = { .status = 200, .body = cm_json };
	fake_response stream = { .status = 200,
				 .chunks = { EV("ADDED", "1"), EV("ADDED", "2") } };
	other_thread o = { f->client, -1, 0 };
	watch_log log = { 0 };
	pthread_t th;

	kube_deadline_set(now_ns() - SS_NS_PER_SEC, LOCK_BUDGET);
	fake_server_add(&f->server, &ok);
	assert_int_equal(pthread_create(&th, NULL, get_on_other_thread, &o), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(o.result, 0);
	assert_true(o.remaining == INT64_MAX);
	/* A watch on the bounded thread streams as ever. */
	fake_server_add(&f->server, &stream);
	assert_int_equal(kube_watch(f->client, &configmaps, "ns", NULL, log_event, &log),
			 0);
	assert_string_equal(log.seen, "ADDED:1 ADDED:2");
	assert_int_equal(f->server.nrequests, 2);
}

/* --- the on_request observer ------------------------------------------ */

typedef struct {
	char seen[512]; /* "VERB:status ..." */
	int calls;
	double seconds;
} request_log;

static void log_request(void *payload, const char *verb, long http_status, double seconds)
{
	request_log *log = payload;
	size_t n = strlen(log->seen);

	snprintf(log->seen + n, sizeof(log->seen) - n, "%s%s:%ld", n ? " " : "", verb,
		 http_status);
	log->calls++;
	log->seconds += seconds;
}

static void test_observer_sees_every_exchange(void **state)
{
	fixture *f = *state;
	kube_client_opts opts = KUBE_CLIENT_OPTS_INIT;
	fake_response throttled = { .status = 429,
				    .headers = "Retry-After: 0\r\n",
				    .body = "{\"kind\":\"Status\",\"code\":429}" };
	fake_response ok = { .status = 200, .body = cm_json };
	fake_response list = { .status = 200,
			       .body = "{\"kind\":\"ConfigMapList\",\"items\":[]}" };
	fake_response missing = { .status = 404,
				  .body = "{\"kind\":\"Status\",\"reason\":"
					  "\"NotFound\",\"code\":404}" };
	fake_response stream = { .status = 200, .chunks = { EV("ADDED", "1") } };
	request_log log = { 0 };
	watch_log events = { 0 };
	json_t *obj = json_loads(cm_json, 0, NULL);
	kube_client *c;

	opts.on_request = log_request;
	opts.on_request_payload = &log;
	c = client_for(f, "{token: t}", &opts);
	fake_server_add(&f->server, &throttled);
	fake_server_add(&f->server, &ok);
	fake_server_add(&f->server, &list);
	fake_server_add(&f->server, &missing);
	fake_server_add(&f->server, &ok);
	fake_server_add(&f->server, &stream);
	assert_int_equal(kube_get(NULL, c, &configmaps, "ns", "a"), 0);
	assert_int_equal(kube_list(NULL, c, &configmaps, "ns", NULL), 0);
	assert_int_equal(kube_delete(NULL, c, &configmaps, "ns", "a", NULL),
			 SS_ENOTFOUND);
	/* The observer leaves the request's own error alone. */
	tu_assert_error(SS_ENOTFOUND, "");
	assert_int_equal(kube_create(NULL, c, &configmaps, NULL, obj), 0);
	assert_int_equal(kube_watch(c, &configmaps, "ns", NULL, log_event, &events), 0);
	assert_string_equal(log.seen,
			    "GET:429 GET:200 LIST:200 DELETE:404 POST:200 WATCH:200");
	assert_true(log.seconds >= 0 && log.seconds < 60);
	kube_client_free(c);
	json_decref(obj);
}

static void test_observer_transport_failure(void **state)
{
	kube_config *cfg = NULL;
	kube_client *c = NULL;
	kube_client_opts opts = KUBE_CLIENT_OPTS_INIT;
	request_log log = { 0 };
	static const char yaml[] =
		"current-context: t\n"
		"clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
		"contexts: [{name: t, context: {cluster: c}}]\n";

	(void)state;
	opts.on_request = log_request;
	opts.on_request_payload = &log;
	assert_int_equal(
		kube_config_from_string(&cfg, yaml, strlen(yaml), "t", "/", NULL), 0);
	assert_int_equal(kube_client_new(&c, cfg, &opts), 0);
	assert_int_equal(kube_get(NULL, c, &configmaps, "ns", "a"), SS_ETRANSPORT);
	assert_string_equal(log.seen, "GET:0");
	kube_client_free(c);
	kube_config_free(cfg);
}

static void test_watch_events_split_across_chunks(void **state)
{
	fixture *f = *state;
	fake_response stream = { .status = 200,
				 .chunks = { EV("ADDED", "1") "{\"type\":\"MODI",
					     "FIED\",\"object\":{\"metadata\":{"
					     "\"resourceVersion\":\"2\"}}}\n{\"ty",
					     "pe\":\"BOOKMARK\",\"object\":{\"metadata\":"
					     "{\"resourceVersion\":\"3\"}}}\n",
					     EV("DELETED", "4") } };
	kube_watch_opts opts = { .resource_version = "0",
				 .allow_bookmarks = true,
				 .timeout_seconds = 30,
				 .label_selector = "app=db" };
	watch_log log = { 0 };

	fake_server_add(&f->server, &stream);
	assert_int_equal(kube_watch(f->client, &configmaps, "ns", &opts, log_event, &log),
			 0);
	assert_string_equal(log.seen, "ADDED:1 MODIFIED:2 BOOKMARK:3 DELETED:4");
	assert_non_null(strstr(
		f->server.requests[0],
		"GET /api/v1/namespaces/ns/configmaps?watch=1&resourceVersion=0"
		"&allowWatchBookmarks=true&timeoutSeconds=30&labelSelector=app%3Ddb "));
}

static void test_watch_in_stream_410(void **state)
{
	fixture *f = *state;
	fake_response stream = {
		.status = 200,
		.chunks = { EV("ADDED", "7"),
			    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
			    "\"message\":\"too old resource version: 1 "
			    "(7)\",\"reason\":\"Expired\",\"code\":410}}\n",
			    EV("ADDED", "8") }
	};
	watch_log log = { 0 };

	fake_server_add(&f->server, &stream);
	assert_int_equal(kube_watch(f->client, &configmaps, "ns", NULL, log_event, &log),
			 SS_EGONE);
	tu_assert_error(SS_EGONE, "too old resource version");
	/* Nothing after the ERROR is delivered. */
	assert_string_equal(log.seen, "ADDED:7");
}

static void test_watch_http_410_and_403(void **state)
{
	fixture *f = *state;
	fake_response gone = { .status = 410,
			       .body = "{\"kind\":\"Status\",\"message\":\"too "
				       "old\",\"reason\":\"Expired\",\"code\":410}" };
	fake_response forbidden = { .status = 403,
				    .body = "{\"kind\":\"Status\",\"message\":\"no\","
					    "\"reason\":\"Forbidden\",\"code\":403}" };
	watch_log log = { 0 };

	fake_server_add(&f->server, &gone);
	fake_server_add(&f->server, &forbidden);
	assert_int_equal(kube_watch(f->client, &configmaps, "ns", NULL, log_event, &log),
			 SS_EGONE);
	assert_int_equal(kube_watch(f->client, &configmaps, NULL, NULL, log_event, &log),
			 SS_EFORBIDDEN);
	tu_assert_error(SS_EFORBIDDEN,
			"GET /api/v1/configmaps?watch=1: 403 Forbidden: no");
	assert_int_equal(log.events, 0);
}

static void test_watch_oversized_event(void **state)
{
	fixture *f = *state;
	fake_response stream = { .status = 200,
				 .chunks = { EV("ADDED", "1"),
					     EV("ADDED", "1234567890123") } };
	kube_watch_opts opts = { .max_event_bytes = 70 };
	watch_log log = { 0 };

	fake_server_add(&f->server, &stream);
	assert_int_equal(kube_watch(f->client, &configmaps, "ns", &opts, log_event, &log),
			 SS_ETOOLARGE);
	assert_string_equal(log.seen, "ADDED:1");
}

static void test_watch_cut_mid_event(void **state)
{
	fixture *f = *state;
	fake_response stream = { .status = 200,
				 .truncate = true,
				 .chunks = { EV("ADDED", "1"), "{\"type\":\"ADD" } };
	watch_log log = { 0 };
	int rc;

	fake_server_add(&f->server, &stream);
	rc = kube_watch(f->client, &configmaps, "ns", NULL, log_event, &log);
	assert_int_equal(rc, SS_ETRANSPORT);
	assert_string_equal(log.seen, "ADDED:1");
}

static void test_watch_cancel(void **state)
{
	fixture *f = *state;
	fake_response stream = { .status = 200,
				 .hold_open = true,
				 .chunks = { EV("ADDED", "1") } };
	atomic_bool cancel = false;
	kube_watch_opts opts = { .cancel = &cancel };
	watch_log log = { .cancel_on_first = &cancel };

	fake_server_add(&f->server, &stream);
	assert_int_equal(kube_watch(f->client, &configmaps, "ns", &opts, log_event, &log),
			 SS_ECANCELLED);
	assert_int_equal(log.events, 1);
}

static int stop_at_second(const kube_watch_event *ev, void *payload)
{
	int *n = payload;

	(void)ev;
	return ++*n == 2 ? 77 : 0;
}

static void test_watch_callback_stops(void **state)
{
	fixture *f = *state;
	fake_response stream = { .status = 200,
				 .hold_open = true,
				 .chunks = { EV("ADDED", "1") EV("ADDED", "2")
						     EV("ADDED", "3") } };
	int n = 0;

	fake_server_add(&f->server, &stream);
	assert_int_equal(
		kube_watch(f->client, &configmaps, "ns", NULL, stop_at_second, &n), 77);
	assert_int_equal(n, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_sends_token_and_path, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_keep_alive_reuses_connection, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_429_retried_after_delay, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_429_gives_up_after_max_retries,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_5xx_retried_only_with_retry_after,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_file_rotation_after_401, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_static_token_401_not_retried, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_response_bound_and_bad_json, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_events_split_across_chunks,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_in_stream_410, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_watch_http_410_and_403, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_watch_oversized_event, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_watch_cut_mid_event, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_watch_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_callback_stops, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_observer_sees_every_exchange, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_observer_transport_failure, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deadline_cuts_slow_answer, setup,
						clear_deadline),
		cmocka_unit_test_setup_teardown(test_deadline_refuses_long_retry_after,
						setup, clear_deadline),
		cmocka_unit_test_setup_teardown(test_deadline_allows_retry_that_fits,
						setup, clear_deadline),
		cmocka_unit_test_setup_teardown(test_list_all_follows_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_all_each_item_and_refusals, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deadline_passed_sends_nothing, setup,
						clear_deadline),
		cmocka_unit_test_setup_teardown(test_write_gate_refuses_writes_not_reads,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_discover_served_asks_until_answered,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_deadline_keeps_client_timeouts,
						setup, clear_deadline),
		cmocka_unit_test_setup_teardown(
			test_deadline_is_per_thread_and_skips_watches, setup,
			clear_deadline),
	};
	int rc;

	kube_global_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	kube_global_cleanup();
	return rc;
}
