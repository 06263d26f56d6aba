/*
 * test_manager.c — the controller runtime as a whole, in real processes
 * (ss_testctrl) against the real API server:
 *   - /healthz answers at once; /readyz stays 500 until the informer's cache
 *     has synced (here: until RBAC lets the process list ConfigMaps), then
 *     200; /metrics passes an independent Prometheus format checker;
 *   - two processes with --leader-elect: exactly one reconciles; SIGKILL of
 *     the leader hands over within about the lease duration; SIGTERM hands
 *     over at once because the lease is released; a clean exit is status 0.
 *
 * Each process logs to a file in a temporary directory; the ports it bound
 * (127.0.0.1:0) are read back from its "serving" log line.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster_env.h"
#include "testutil.h"

#include "ctrl/object.h"
#include "kube/rest.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/file.h"
#include "util/str.h"

#define MARK "it.snapstage.io/reconciled-by"

static const kube_resource configmaps = { "", "v1", "configmaps", true };
static const kube_resource leases = { "coordination.k8s.io", "v1", "leases", true };
static const kube_resource roles = { "rbac.authorization.k8s.io", "v1", "roles", true };
static const kube_resource rolebindings = { "rbac.authorization.k8s.io", "v1",
					    "rolebindings", true };

/* Every process a test started, so teardown can end those a failed test
 * left behind. */
static pid_t started[8];
static int n_started;

static it_cluster cluster;
static kube_client *admin;
static char ns[64];
static const char *tmpdir;

typedef struct {
	pid_t pid;
	char identity[32];
	char log[IT_VALUE_MAX + 64];
	int metrics_port;
	int probe_port;
} proc;

static int64_t now_ms(void)
{
	return ss_clock_mono(ss_clock_system()) / SS_NS_PER_MS;
}

/* Starts ss_testctrl with the given extra flags (NULL-terminated). */
static void proc_start(proc *p, const char *identity, const char *kubeconfig,
		       const char *const *extra)
{
	char ns_flag[96], kc_flag[IT_VALUE_MAX + 16];
	const char *argv[24];
	int argc = 0, i;

	memset(p, 0, sizeof(*p));
	snprintf(p->identity, sizeof(p->identity), "%s", identity);
	snprintf(p->log, sizeof(p->log), "%s/%s.log", tmpdir, identity);
	snprintf(ns_flag, sizeof(ns_flag), "--namespace=%s", ns);
	snprintf(kc_flag, sizeof(kc_flag), "--kubeconfig=%s", kubeconfig);
	argv[argc++] = SS_TESTCTRL;
	argv[argc++] = ns_flag;
	argv[argc++] = kc_flag;
	argv[argc++] = "--metrics-bind-address=127.0.0.1:0";
	argv[argc++] = "--health-probe-bind-address=127.0.0.1:0";
	for (i = 0; extra && extra[i]; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid > 0 && n_started < 8)
		started[n_started++] = p->pid;
	if (p->pid == 0) {
		FILE *f = freopen(p->log, "w", stderr);

		if (!f)
			_exit(127);
		setenv("SS_TESTCTRL_IDENTITY", identity, 1);
		execv(SS_TESTCTRL, (char *const *)argv);
		_exit(127);
	}
}

/* Waits for the "serving" line and reads the bound ports from it. */
static void proc_wait_serving(proc *p)
{
	int i;

	for (i = 0; i < 200; i++) {
		ss_buf b = SS_BUF_INIT(1 << 20);
		const char *line;

		if (ss_file_read(&b, p->log, 1 << 20) == 0 &&
		    (line = strstr(ss_buf_cstr(&b), "msg=serving ")) != NULL &&
		    sscanf(line, "msg=serving metrics_port=%d probe_port=%d",
			   &p->metrics_port, &p->probe_port) == 2) {
			ss_buf_free(&b);
			return;
		}
		ss_buf_free(&b);
		it_sleep_ms(50);
	}
	print_error("%s never logged its ports (see %s)\n", p->identity, p->log);
	fail();
}

static void forget_pid(pid_t pid)
{
	int i;

	for (i = 0; i < n_started; i++)
		if (started[i] == pid)
			started[i] = 0;
}

/* Sends `sig` and waits for the exit status (-1 if it did not exit in
 * `timeout_ms`, then it is killed). */
static int proc_stop(proc *p, int sig, long timeout_ms)
{
	int status = 0;
	long waited;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	for (waited = 0; waited < timeout_ms; waited += 20) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			forget_pid(p->pid);
			p->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status)
						 : 128 + WTERMSIG(status);
		}
		it_sleep_ms(20);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
	forget_pid(p->pid);
	p->pid = 0;
	return -1;
}

static size_t collect(char *data, size_t size, size_t n, void *userdata)
{
	return ss_buf_put(userdata, data, size * n) == 0 ? size * n : 0;
}

/* GET http://127.0.0.1:port/path: the status, and the body into `body`. */
static long http_get(int port, const char *path, ss_buf *body)
{
	CURL *curl = curl_easy_init();
	char url[128];
	long status = 0;

	ss_buf_clear(body);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	return status;
}

/* A series' value in exposition text, or 0 when the series is absent. */
static double metric_value(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return 0;
}

static void create_cm(const char *name)
{
	json_t *cm = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
			       "ConfigMap", "metadata", "name", name, "data", "a", "1");

	IT_CHECK(kube_create(NULL, admin, &configmaps, ns, cm));
	json_decref(cm);
}

/* Waits until configmap `name` is marked and returns who marked it (static
 * storage); fails after `timeout_ms`. */
static const char *wait_marked(const char *name, long timeout_ms)
{
	static char by[64];
	int64_t until = now_ms() + timeout_ms;

	while (now_ms() < until) {
		json_t *cm = NULL;

		if (kube_get(&cm, admin, &configmaps, ns, name) == 0 &&
		    ctrl_annotation(cm, MARK)) {
			snprintf(by, sizeof(by), "%s", ctrl_annotation(cm, MARK));
			json_decref(cm);
			return by;
		}
		json_decref(cm);
		it_sleep_ms(50);
	}
	print_error("configmap %s was not reconciled within %ld ms\n", name, timeout_ms);
	fail();
	return NULL;
}

static const char *lease_holder(void)
{
	static char holder[128];
	json_t *lease = NULL;

	IT_CHECK(kube_get(&lease, admin, &leases, ns, "snapstage-leader"));
	ss_strlcpy(holder, "", sizeof(holder));
	if (json_string_value(
		    json_object_get(json_object_get(lease, "spec"), "holderIdentity")))
		ss_strlcpy(holder,
			   json_string_value(json_object_get(
				   json_object_get(lease, "spec"), "holderIdentity")),
			   sizeof(holder));
	json_decref(lease);
	return holder;
}

static int group_setup(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	it_cluster_load(&cluster);
	admin = it_client_from_kubeconfig(cluster.kubeconfig);
	it_namespace_create(admin, "ss-mgr", ns, sizeof(ns));
	tmpdir = ss_strdup(tu_mkdtemp());
	return 0;
}

/* Ends whatever a failed test left running, so the next starts clean. */
static int kill_leftovers(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < n_started; i++) {
		if (started[i] > 0 && kill(started[i], SIGKILL) == 0)
			waitpid(started[i], NULL, 0);
		started[i] = 0;
	}
	n_started = 0;
	return 0;
}

static int group_teardown(void **state)
{
	kill_leftovers(state);
	if (!admin) /* the setup failed before anything was made */
		return 0;
	it_namespace_delete(admin, ns);
	kube_client_free(admin);
	tu_rmtree(tmpdir);
	free((char *)tmpdir);
	curl_global_cleanup();
	return 0;
}

static void grant_unprivileged(void)
{
	json_t *role = json_pack("{s:s, s:s, s:{s:s}, s:[{s:[s], s:[s], s:[s,s,s,s]}]}",
				 "apiVersion", "rbac.authorization.k8s.io/v1", "kind",
				 "Role", "metadata", "name", "testctrl", "rules",
				 "apiGroups", "", "resources", "configmaps", "verbs",
				 "get", "list", "watch", "patch");
	json_t *binding = json_pack(
		"{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s}]}",
		"apiVersion", "rbac.authorization.k8s.io/v1", "kind", "RoleBinding",
		"metadata", "name", "testctrl", "roleRef", "apiGroup",
		"rbac.authorization.k8s.io", "kind", "Role", "name", "testctrl",
		"subjects", "kind", "User", "name", "snapstage-unprivileged", "apiGroup",
		"rbac.authorization.k8s.io");

	IT_CHECK(kube_create(NULL, admin, &roles, ns, role));
	IT_CHECK(kube_create(NULL, admin, &rolebindings, ns, binding));
	json_decref(role);
	json_decref(binding);
}

static void check_metrics_format(const char *text)
{
	char path[IT_VALUE_MAX + 64], cmd[2 * IT_VALUE_MAX + 256];

	snprintf(path, sizeof(path), "%s/metrics.txt", tmpdir);
	tu_write(tmpdir, "metrics.txt", text);
	snprintf(cmd, sizeof(cmd), "python3 %s %s", PROMCHECK, path);
	assert_int_equal(system(cmd), 0);
}

static void test_readyz_waits_for_cache_sync(void **state)
{
	ss_buf body = SS_BUF_INIT(1 << 20);
	proc p;
	int i;
	long code = 0;

	(void)state;
	proc_start(&p, "solo", cluster.kubeconfig_unprivileged, NULL);
	proc_wait_serving(&p);

	/* Alive at once, but not ready: RBAC refuses the list. */
	assert_int_equal(http_get(p.probe_port, "/healthz", &body), 200);
	assert_string_equal(ss_buf_cstr(&body), "ok");
	assert_int_equal(http_get(p.probe_port, "/readyz", &body), 500);
	assert_non_null(strstr(ss_buf_cstr(&body), "[-]informers-synced failed"));
	/* Not ready may come before the first list was even tried (a slow
	 * start, as under the sanitizers): grant only once a refusal was
	 * counted, or the list may never be refused at all. */
	for (i = 0; i < 200; i++) {
		assert_int_equal(http_get(p.metrics_port, "/metrics", &body), 200);
		if (metric_value(
			    ss_buf_cstr(&body),
			    "snapstage_api_requests_total{verb=\"LIST\",code=\"403\"}") >=
		    1)
			break;
		it_sleep_ms(100);
	}
	assert_true(i < 200);

	grant_unprivileged();
	for (i = 0; i < 200 && code != 200; i++) {
		code = http_get(p.probe_port, "/readyz", &body);
		if (code != 200)
			it_sleep_ms(100);
	}
	assert_int_equal(code, 200);
	create_cm("solo-1");
	assert_string_equal(wait_marked("solo-1", 10000), "solo");

	/* The mark is written inside the reconcile, the counter after it
	 * returns: a scrape can fall between the two (seen once under ASan),
	 * so look again for a while before judging. */
	for (i = 0; i < 50; i++) {
		assert_int_equal(http_get(p.metrics_port, "/metrics", &body), 200);
		if (metric_value(ss_buf_cstr(&body),
				 "snapstage_reconcile_total{controller=\"configmaps\","
				 "result=\"success\"}") >= 1)
			break;
		it_sleep_ms(100);
	}
	check_metrics_format(ss_buf_cstr(&body));
	/* The refused lists stay counted, and the reconcile is. */
	assert_true(metric_value(
			    ss_buf_cstr(&body),
			    "snapstage_api_requests_total{verb=\"LIST\",code=\"403\"}") >=
		    1);
	assert_true(metric_value(ss_buf_cstr(&body),
				 "snapstage_reconcile_total{controller=\"configmaps\","
				 "result=\"success\"}") >= 1);

	assert_int_equal(proc_stop(&p, SIGTERM, 10000), 0);
	ss_buf_free(&body);
}

static double reconciles_of(const proc *p)
{
	ss_buf body = SS_BUF_INIT(1 << 20);
	double v;

	assert_int_equal(http_get(p->metrics_port, "/metrics", &body), 200);
	v = metric_value(ss_buf_cstr(&body),
			 "snapstage_reconcile_total{controller=\"configmaps\","
			 "result=\"success\"}");
	ss_buf_free(&body);
	return v;
}

static void test_leader_election_hands_over(void **state)
{
	static const char *const elect[] = { "--leader-elect",
					     "--leader-election-namespace",
					     NULL, /* ns */
					     "--leader-elect-lease-duration=4s",
					     "--leader-elect-renew-deadline=3s",
					     "--leader-elect-retry-period=500ms",
					     NULL };
	const char *flags[8];
	proc a, b, c, *leader, *standby;
	char name[32];
	int64_t t0;
	long handover_ms;
	int i;

	(void)state;
	memcpy(flags, elect, sizeof(elect));
	flags[2] = ns;
	proc_start(&a, "alpha", cluster.kubeconfig, flags);
	proc_start(&b, "bravo", cluster.kubeconfig, flags);
	proc_wait_serving(&a);
	proc_wait_serving(&b);

	/* Exactly one of them reconciles, and it is the Lease's holder. */
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "cm-%d", i);
		create_cm(name);
	}
	snprintf(name, sizeof(name), "%s", wait_marked("cm-0", 20000));
	for (i = 1; i < 5; i++) {
		char other[32];

		snprintf(other, sizeof(other), "cm-%d", i);
		assert_string_equal(wait_marked(other, 10000), name);
	}
	assert_string_equal(lease_holder(), name);
	leader = !strcmp(name, "alpha") ? &a : &b;
	standby = leader == &a ? &b : &a;
	assert_true(reconciles_of(leader) >= 5);
	assert_true(reconciles_of(standby) == 0);

	/* A crashed leader is replaced once its lease runs out. */
	assert_int_equal(proc_stop(leader, SIGKILL, 5000), 128 + SIGKILL);
	t0 = now_ms();
	create_cm("after-kill");
	assert_string_equal(wait_marked("after-kill", 15000), standby->identity);
	handover_ms = (long)(now_ms() - t0);
	print_message("handover after SIGKILL: %ld ms (lease 4 s)\n", handover_ms);
	assert_true(handover_ms <= 4000 + 3000);

	/* A leader stopped with SIGTERM releases the lease: no waiting. */
	proc_start(&c, "charlie", cluster.kubeconfig, flags);
	proc_wait_serving(&c);
	for (i = 0; i < 100; i++) {
		ss_buf body = SS_BUF_INIT(1 << 16);
		long code = http_get(c.probe_port, "/readyz", &body);

		ss_buf_free(&body);
		if (code == 200)
			break;
		it_sleep_ms(100);
	}
	assert_int_equal(proc_stop(standby, SIGTERM, 10000), 0);
	t0 = now_ms();
	create_cm("after-term");
	assert_string_equal(wait_marked("after-term", 15000), "charlie");
	handover_ms = (long)(now_ms() - t0);
	print_message("handover after SIGTERM: %ld ms (lease 4 s)\n", handover_ms);
	assert_true(handover_ms < 3000);

	assert_int_equal(proc_stop(&c, SIGTERM, 10000), 0);
	assert_string_equal(lease_holder(), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_readyz_waits_for_cache_sync,
					  kill_leftovers),
		cmocka_unit_test_teardown(test_leader_election_hands_over,
					  kill_leftovers),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
