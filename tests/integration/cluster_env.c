/*
 * cluster_env.c — see cluster_env.h.
 */
#include "cluster_env.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#include "kube/rest.h"
#include "util/error.h"

static void copy_value(char *dst, size_t cap, const char *value)
{
	size_t n = strlen(value);

	while (n > 0 && (value[n - 1] == '\n' || value[n - 1] == '\r'))
		n--;
	if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0]) {
		value++;
		n -= 2;
	}
	assert_true(n < cap);
	memcpy(dst, value, n);
	dst[n] = '\0';
}

void it_cluster_load(it_cluster *out)
{
	static const struct {
		const char *name;
		size_t offset;
	} vars[] = {
		{ "KUBECONFIG", offsetof(it_cluster, kubeconfig) },
		{ "SNAPSTAGE_APISERVER_URL", offsetof(it_cluster, apiserver_url) },
		{ "SNAPSTAGE_ETCD_URL", offsetof(it_cluster, etcd_url) },
		{ "SNAPSTAGE_CA_FILE", offsetof(it_cluster, ca_file) },
		{ "SNAPSTAGE_ADMIN_TOKEN_FILE", offsetof(it_cluster, admin_token_file) },
		{ "SNAPSTAGE_ADMIN_CERT_FILE", offsetof(it_cluster, admin_cert_file) },
		{ "SNAPSTAGE_ADMIN_KEY_FILE", offsetof(it_cluster, admin_key_file) },
	};
	const char *dir = getenv("SNAPSTAGE_CLUSTER_DIR");
	char path[IT_VALUE_MAX + 16], line[1024];
	FILE *f;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!dir || !*dir) {
		print_error("SNAPSTAGE_CLUSTER_DIR is not set: run through ctest or "
			    "hack/test.sh\n");
		fail();
	}
	snprintf(out->dir, sizeof(out->dir), "%s", dir);
	snprintf(path, sizeof(path), "%s/env", dir);
	f = fopen(path, "r");
	if (!f) {
		print_error(
			"cannot read %s: is the test cluster up (hack/cluster.sh up)?\n",
			path);
		fail();
	}
	while (fgets(line, sizeof(line), f)) {
		const char *p = line;

		if (!strncmp(p, "export ", 7))
			p += 7;
		for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
			size_t n = strlen(vars[i].name);

			if (!strncmp(p, vars[i].name, n) && p[n] == '=')
				copy_value((char *)out + vars[i].offset, IT_VALUE_MAX,
					   p + n + 1);
		}
	}
	fclose(f);
	snprintf(out->kubeconfig_unprivileged, sizeof(out->kubeconfig_unprivileged),
		 "%s/kubeconfig-unprivileged", dir);
	assert_true(out->kubeconfig[0] && out->apiserver_url[0] && out->etcd_url[0]);
}

kube_client *it_client_from_kubeconfig(const char *path)
{
	kube_config *cfg = NULL;
	kube_client *c = NULL;

	if (kube_config_from_files(&cfg, &path, 1, false, NULL) < 0 ||
	    kube_client_new(&c, cfg, NULL) < 0) {
		print_error("client from %s: %s\n", path, ss_error_last()->message);
		fail();
	}
	kube_config_free(cfg);
	return c;
}

static const kube_resource namespaces = { "", "v1", "namespaces", false };

void it_namespace_create(kube_client *c, const char *prefix, char *out, size_t cap)
{
	json_t *ns;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(out, cap, "%s-%lx", prefix,
		 (unsigned long)((ts.tv_nsec ^ (ts.tv_sec << 20)) & 0xffffff));
	ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
		       "metadata", "name", out);
	if (kube_create(NULL, c, &namespaces, NULL, ns) < 0) {
		print_error("create namespace %s: %s\n", out, ss_error_last()->message);
		fail();
	}
	json_decref(ns);
}

void it_namespace_delete(kube_client *c, const char *name)
{
	/* No namespace controller runs here: the namespace stays Terminating,
	 * which is harmless, and the cluster is thrown away after the run. */
	kube_delete(NULL, c, &namespaces, NULL, name, NULL);
}

void it_etcd_compact(const it_cluster *cl)
{
	char yaml[1024];
	kube_config *cfg = NULL;
	kube_client *etcd = NULL;
	kube_request range = { .method = "POST", .path = "/v3/kv/range" };
	kube_request compact = { .method = "POST", .path = "/v3/kv/compaction" };
	json_t *range_body = json_pack("{s:s}", "key", "Lw=="); /* "/" */
	json_t *answer = NULL, *compact_body;
	const char *rev;

	/* etcd's JSON gateway is plain HTTP on loopback; the kube client's
	 * transport speaks it as well as it speaks to the API server. */
	snprintf(yaml, sizeof(yaml),
		 "current-context: e\nclusters: [{name: e, cluster: {server: '%s'}}]\n"
		 "contexts: [{name: e, context: {cluster: e}}]\n",
		 cl->etcd_url);
	assert_int_equal(
		kube_config_from_string(&cfg, yaml, strlen(yaml), "etcd", "/", NULL), 0);
	assert_int_equal(kube_client_new(&etcd, cfg, NULL), 0);
	range.body = range_body;
	assert_int_equal(kube_request_do(&answer, etcd, &range), 0);
	rev = json_string_value(
		json_object_get(json_object_get(answer, "header"), "revision"));
	assert_non_null(rev);
	compact_body = json_pack("{s:s, s:b}", "revision", rev, "physical", 1);
	compact.body = compact_body;
	if (kube_request_do(NULL, etcd, &compact) < 0) {
		print_error("etcd compaction: %s\n", ss_error_last()->message);
		fail();
	}
	print_message("etcd compacted at revision %s\n", rev);
	json_decref(compact_body);
	json_decref(range_body);
	json_decref(answer);
	kube_client_free(etcd);
	kube_config_free(cfg);
}

void it_apiserver_restart(const it_cluster *cl)
{
	const char *script = getenv("SNAPSTAGE_CLUSTER_SH");
	int status = 0;
	pid_t pid;

	if (!script || !*script) {
		print_error("SNAPSTAGE_CLUSTER_SH is not set: run through ctest\n");
		fail();
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(script, script, "--dir", cl->dir, "restart-apiserver",
		      (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_error("%s restart-apiserver failed (status %d)\n", script, status);
		fail();
	}
}

void it_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}
