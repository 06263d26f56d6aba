/*
 * test_deadline_proxy.c — a thread's request deadline (kube_deadline_set in
 * kube/client.h) against the real kube-apiserver behind hack/faultproxy.py,
 * over real TLS: whatever the API does — answers slowly, throttles with a
 * long Retry-After, fails, drops the connection — every call made under the
 * deadline returns by it (within DEADLINE_SLACK_MS), including a status
 * write (ctrl_write_status) and a loop of creates that runs the budget out,
 * the way the Backup controller's lock session spends its
 * lock.timeoutSeconds. Without a deadline the same slow answer is awaited.
 *
 * The proxy runs for the whole group (started and stopped here; its log is
 * kept in the temporary directory until the end); each test sets its rules
 * through the control port and clears them afterwards. Every measured
 * figure is printed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cluster_env.h"
#include "testutil.h"

#include "ctrl/writes.h"
#include "kube/rest.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/file.h"

/* How late a bounded call may return: the proxy, TLS and a loaded machine.
 * The lock's own bound is + 100 ms (issue 14); the client must leave room. */
#define DEADLINE_SLACK_MS 50
#define BUDGET "the lock budget"

static const kube_resource configmaps = { "", "v1", "configmaps", true };
static const kube_resource namespaces = { "", "v1", "namespaces", false };

static it_cluster cluster;
static kube_client *direct;  /* straight to the API server */
static kube_client *proxied; /* through the proxy */
static char ns[64];
static char tmpdir[512];
static pid_t proxy_pid;
static int control_port;

static int64_t now_ms(void)
{
	return ss_clock_mono(ss_clock_system()) / SS_NS_PER_MS;
}

/* Sets this thread's deadline `ms` from now; returns the start time. */
static int64_t deadline_in(long ms)
{
	int64_t start = ss_clock_mono(ss_clock_system());

	kube_deadline_set(start + ms * SS_NS_PER_MS, BUDGET);
	return start / SS_NS_PER_MS;
}

static size_t discard(char *data, size_t size, size_t n, void *userp)
{
	(void)data;
	(void)userp;
	return size * n;
}

/* Replaces the proxy's rules with `json` ({"rules": [...]}). */
static void set_rules(const char *json)
{
	char url[64];
	CURL *curl = curl_easy_init();
	long status = 0;

	assert_non_null(curl);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/faults", control_port);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	if (status != 200) {
		print_error("the proxy refused rules %s (HTTP %ld)\n", json, status);
		fail();
	}
}

static void start_proxy(void)
{
	char ports[600], log[600], kubeconfig[600];
	int i;

	snprintf(ports, sizeof(ports), "%s/ports", tmpdir);
	snprintf(log, sizeof(log), "%s/proxy.log", tmpdir);
	snprintf(kubeconfig, sizeof(kubeconfig), "%s/kubeconfig", tmpdir);
	proxy_pid = fork();
	assert_true(proxy_pid >= 0);
	if (proxy_pid == 0) {
		execl(FAULTPROXY, FAULTPROXY, "--cluster-dir", cluster.dir,
		      "--write-kubeconfig", kubeconfig, "--ports-file", ports, "--log",
		      log, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200 && control_port == 0; i++) {
		ss_buf b = SS_BUF_INIT(4096);
		const char *line;

		if (ss_file_read(&b, ports, 4096) == 0 &&
		    (line = strstr(ss_buf_cstr(&b), "FAULTPROXY_CONTROL_PORT=")) != NULL)
			sscanf(line, "FAULTPROXY_CONTROL_PORT=%d", &control_port);
		ss_buf_free(&b);
		if (control_port == 0)
			it_sleep_ms(50);
	}
	if (control_port == 0) {
		print_error("hack/faultproxy.py did not start (see %s)\n", log);
		fail();
	}
	proxied = it_client_from_kubeconfig(kubeconfig);
}

static int group_setup(void **state)
{
	(void)state;
	it_cluster_load(&cluster);
	snprintf(tmpdir, sizeof(tmpdir), "%s", tu_mkdtemp());
	direct = it_client_from_kubeconfig(cluster.kubeconfig);
	it_namespace_create(direct, "ss-deadline", ns, sizeof(ns));
	start_proxy();
	return 0;
}

static int group_teardown(void **state)
{
	int status;

	(void)state;
	kube_client_free(proxied);
	if (proxy_pid > 0) {
		kill(proxy_pid, SIGTERM);
		waitpid(proxy_pid, &status, 0);
	}
	it_namespace_delete(direct, ns);
	kube_client_free(direct);
	tu_rmtree(tmpdir);
	return 0;
}

static int clear(void **state)
{
	(void)state;
	kube_deadline_clear();
	set_rules("{\"rules\":[]}");
	return 0;
}

static json_t *configmap(const char *name)
{
	return json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
			 "metadata", "name", name);
}

/* Asserts `took` is within the deadline `ms` plus the slack. */
static void assert_by_deadline(const char *what, int64_t took, long ms)
{
	print_message("%s: %lld ms under a %ld ms deadline\n", what, (long long)took, ms);
	assert_true(took <= ms + DEADLINE_SLACK_MS);
}

static void test_slow_create_cut_at_deadline(void **state)
{
	json_t *cm = configmap("slow");
	int64_t start, took;

	(void)state;
	set_rules("{\"rules\":[{\"method\":\"POST\",\"path_regex\":\"/configmaps$\","
		  "\"delay_ms\":3000}]}");
	start = deadline_in(300);
	assert_int_equal(kube_create(NULL, proxied, &configmaps, ns, cm), SS_ETIMEOUT);
	took = now_ms() - start;
	assert_by_deadline("create delayed 3 s", took, 300);
	assert_true(took >= 295);
	tu_assert_error(SS_ETIMEOUT, "the lock budget ran out");
	json_decref(cm);
}

static void test_throttled_not_retried_past_deadline(void **state)
{
	int64_t start, took;

	(void)state;
	set_rules("{\"rules\":[{\"method\":\"GET\",\"path_regex\":\"/configmaps/x$\","
		  "\"status\":429,\"retry_after\":5}]}");
	start = deadline_in(300);
	assert_int_equal(kube_get(NULL, proxied, &configmaps, ns, "x"), SS_ETIMEOUT);
	took = now_ms() - start;
	assert_by_deadline("429 with Retry-After 5", took, 300);
	tu_assert_error(SS_ETIMEOUT, "not retried: the lock budget ran out");
	assert_int_equal(ss_error_last()->http_status, 429);
}

static void test_failures_end_at_once(void **state)
{
	int64_t start;

	(void)state;
	set_rules("{\"rules\":[{\"method\":\"GET\",\"path_regex\":\"/configmaps/boom$\","
		  "\"status\":500},{\"path_regex\":\"/configmaps/gone$\","
		  "\"drop\":\"request\"}]}");
	start = deadline_in(2000);
	assert_int_equal(kube_get(NULL, proxied, &configmaps, ns, "boom"), SS_ESERVER);
	assert_int_equal(kube_get(NULL, proxied, &configmaps, ns, "gone"), SS_ETRANSPORT);
	print_message("a 500 and a dropped connection: %lld ms in all\n",
		      (long long)(now_ms() - start));
	assert_true(now_ms() - start < 1000);
}

static int set_phase(json_t *obj, void *payload)
{
	(void)payload;
	/* Status must change for a write: a condition only we set. */
	return json_object_set_new(json_object_get(obj, "status"), "conditions",
				   json_pack("[{s:s, s:s, s:s, s:s}]", "type",
					     "SnapstageTest", "status", "True", "reason",
					     "Test", "message", "deadline"));
}

static void test_status_write_cut_at_deadline(void **state)
{
	char rules[256];
	int64_t start, took;

	(void)state;
	snprintf(rules, sizeof(rules),
		 "{\"rules\":[{\"method\":\"PUT\",\"path_regex\":\"/namespaces/%s/"
		 "status$\",\"delay_ms\":3000}]}",
		 ns);
	set_rules(rules);
	start = deadline_in(400);
	assert_int_equal(ctrl_write_status(NULL, proxied, &namespaces, NULL, ns,
					   set_phase, NULL, NULL),
			 SS_ETIMEOUT);
	took = now_ms() - start;
	assert_by_deadline("status write delayed 3 s", took, 400);
	tu_assert_error(SS_ETIMEOUT, "update status of namespaces/");
	tu_assert_error(SS_ETIMEOUT, "the lock budget ran out");
}

/* A lock session's worth of API calls: creates (250 ms each) until the
 * budget is spent. The last one is cut; the loop ends by the deadline. */
static void test_loop_spends_budget_and_stops(void **state)
{
	int64_t start, took;
	int made = 0, error = 0;

	(void)state;
	set_rules("{\"rules\":[{\"method\":\"POST\",\"path_regex\":\"/configmaps$\","
		  "\"delay_ms\":250}]}");
	start = deadline_in(1000);
	while (error == 0 && made < 20) {
		char name[32];
		json_t *cm;

		snprintf(name, sizeof(name), "loop-%d", made);
		cm = configmap(name);
		error = kube_create(NULL, proxied, &configmaps, ns, cm);
		json_decref(cm);
		if (error == 0)
			made++;
	}
	took = now_ms() - start;
	print_message("%d creates of 250+ ms each made before the budget ran out\n",
		      made);
	assert_by_deadline("a loop of slow creates", took, 1000);
	assert_int_equal(error, SS_ETIMEOUT);
	assert_true(made >= 2 && made <= 4);
}

static void test_without_deadline_the_answer_is_awaited(void **state)
{
	json_t *cm = configmap("patient");
	int64_t start, took;

	(void)state;
	set_rules("{\"rules\":[{\"method\":\"POST\",\"path_regex\":\"/configmaps$\","
		  "\"delay_ms\":700}]}");
	start = now_ms();
	IT_CHECK(kube_create(NULL, proxied, &configmaps, ns, cm));
	took = now_ms() - start;
	print_message("no deadline: a create delayed 700 ms took %lld ms\n",
		      (long long)took);
	assert_true(took >= 700);
	json_decref(cm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_slow_create_cut_at_deadline, clear),
		cmocka_unit_test_teardown(test_throttled_not_retried_past_deadline,
					  clear),
		cmocka_unit_test_teardown(test_failures_end_at_once, clear),
		cmocka_unit_test_teardown(test_status_write_cut_at_deadline, clear),
		cmocka_unit_test_teardown(test_loop_spends_budget_and_stops, clear),
		cmocka_unit_test_teardown(test_without_deadline_the_answer_is_awaited,
					  clear),
	};
	int rc;

	kube_global_init();
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	kube_global_cleanup();
	return rc;
}
