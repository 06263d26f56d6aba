/*
 * test_config.c — kubeconfig and in-cluster configuration (kube/config.h):
 * good configurations give the right fields; every malformed one is refused
 * with the code and a message that names the problem.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

#include "kube/config.h"
#include "util/error.h"

/* base64 of "CA-PEM" and of "not base64!" is not valid. */
#define CA_B64 "Q0EtUEVN"

static const char good_kubeconfig[] =
	"apiVersion: v1\n"
	"kind: Config\n"
	"current-context: dev\n"
	"clusters:\n"
	"- name: c1\n"
	"  cluster:\n"
	"    server: https://127.0.0.1:6443/\n"
	"    certificate-authority-data: " CA_B64 "\n"
	"    tls-server-name: kubernetes\n"
	"- name: c2\n"
	"  cluster:\n"
	"    server: https://10.1.2.3:443\n"
	"    insecure-skip-tls-verify: true\n"
	"users:\n"
	"- name: u1\n"
	"  user:\n"
	"    token: \"abc123\"\n"
	"- name: u2\n"
	"  user:\n"
	"    tokenFile: tokens/u2\n"
	"contexts:\n"
	"- name: dev\n"
	"  context: {cluster: c1, user: u1, namespace: team-a}\n"
	"- name: ops\n"
	"  context: {cluster: c2, user: u2}\n";

static void test_current_context(void **state)
{
	kube_config *cfg = NULL;

	(void)state;
	assert_int_equal(kube_config_from_string(&cfg, good_kubeconfig,
						 strlen(good_kubeconfig), "t",
						 "/etc/kube", NULL),
			 0);
	assert_string_equal(cfg->server, "https://127.0.0.1:6443");
	assert_string_equal(cfg->namespace, "team-a");
	assert_string_equal(cfg->context, "dev");
	assert_string_equal(cfg->token, "abc123");
	assert_null(cfg->token_file);
	assert_string_equal(cfg->tls_server_name, "kubernetes");
	assert_int_equal(cfg->ca_pem_len, 6);
	assert_memory_equal(cfg->ca_pem, "CA-PEM", 6);
	assert_false(cfg->insecure_skip_tls_verify);
	kube_config_free(cfg);
}

static void test_explicit_context(void **state)
{
	kube_config *cfg = NULL;

	(void)state;
	assert_int_equal(kube_config_from_string(&cfg, good_kubeconfig,
						 strlen(good_kubeconfig), "t",
						 "/etc/kube", "ops"),
			 0);
	assert_string_equal(cfg->server, "https://10.1.2.3:443");
	assert_string_equal(cfg->namespace, "default");
	assert_true(cfg->insecure_skip_tls_verify);
	assert_null(cfg->token);
	/* Relative to the kubeconfig's directory. */
	assert_string_equal(cfg->token_file, "/etc/kube/tokens/u2");
	assert_null(cfg->ca_pem);
	kube_config_free(cfg);
}

static void test_files_relative_to_kubeconfig(void **state)
{
	const char *dir = tu_mkdtemp();
	char path[600];
	kube_config *cfg = NULL;
	const char *paths[1];

	(void)state;
	tu_write(dir, "ca.crt", "CA FILE");
	tu_write(dir, "client.crt", "CERT FILE");
	tu_write(dir, "client.key", "KEY FILE");
	snprintf(path, sizeof(path), "%s",
		 tu_write(dir, "config",
			  "current-context: x\n"
			  "clusters: [{name: c, cluster: {server: 'https://h:1', "
			  "certificate-authority: ca.crt}}]\n"
			  "users: [{name: u, user: {client-certificate: client.crt, "
			  "client-key: client.key}}]\n"
			  "contexts: [{name: x, context: {cluster: c, user: u}}]\n"));
	paths[0] = path;
	assert_int_equal(kube_config_from_files(&cfg, paths, 1, false, NULL), 0);
	assert_memory_equal(cfg->ca_pem, "CA FILE", 7);
	assert_memory_equal(cfg->client_cert_pem, "CERT FILE", 9);
	assert_memory_equal(cfg->client_key_pem, "KEY FILE", 8);
	assert_int_equal(cfg->client_key_pem_len, 8);
	kube_config_free(cfg);
	tu_rmtree(dir);
}

/* KUBECONFIG=a:missing:b — first definition of each name wins, missing
 * files are skipped, current-context comes from the first file that sets it. */
static void test_merge_kubeconfig_env(void **state)
{
	const char *dir = tu_mkdtemp();
	char a[600], b[600], list[1900];
	kube_config_sources src = { 0 };
	kube_config *cfg = NULL;

	(void)state;
	snprintf(a, sizeof(a), "%s",
		 tu_write(dir, "a",
			  "clusters: [{name: shared, cluster: {server: "
			  "'https://first:1'}}]\n"
			  "users: [{name: u, user: {token: from-a}}]\n"));
	snprintf(b, sizeof(b), "%s",
		 tu_write(dir, "b",
			  "current-context: ctx\n"
			  "clusters: [{name: shared, cluster: {server: "
			  "'https://second:2'}}]\n"
			  "users: [{name: u, user: {token: from-b}}]\n"
			  "contexts: [{name: ctx, context: {cluster: shared, user: u, "
			  "namespace: ns-b}}]\n"));
	snprintf(list, sizeof(list), "%s:%s/missing:%s", a, dir, b);
	src.kubeconfig_env = list;
	src.service_host = "10.0.0.1"; /* KUBECONFIG wins over in-cluster */
	assert_int_equal(kube_config_load(&cfg, &src), 0);
	assert_string_equal(cfg->server, "https://first:1");
	assert_string_equal(cfg->token, "from-a");
	assert_string_equal(cfg->namespace, "ns-b");
	kube_config_free(cfg);

	/* --kubeconfig beats KUBECONFIG. */
	src.kubeconfig = b;
	assert_int_equal(kube_config_load(&cfg, &src), 0);
	assert_string_equal(cfg->server, "https://second:2");
	kube_config_free(cfg);
	tu_rmtree(dir);
}

static void test_home_fallback_and_nothing(void **state)
{
	const char *dir = tu_mkdtemp();
	char sub[600];
	kube_config_sources src = { 0 };
	kube_config *cfg = NULL;

	(void)state;
	src.home = dir;
	assert_int_equal(kube_config_load(&cfg, &src), SS_ENOTFOUND);
	tu_assert_error(SS_ENOTFOUND, ".kube/config");
	snprintf(sub, sizeof(sub), "%s/.kube", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	tu_write(sub, "config",
		 "current-context: h\n"
		 "clusters: [{name: c, cluster: {server: 'http://home:8080'}}]\n"
		 "contexts: [{name: h, context: {cluster: c}}]\n");
	assert_int_equal(kube_config_load(&cfg, &src), 0);
	assert_string_equal(cfg->server, "http://home:8080");
	assert_null(cfg->token);
	kube_config_free(cfg);
	tu_rmtree(dir);
}

static void test_in_cluster(void **state)
{
	const char *dir = tu_mkdtemp();
	kube_config_sources src = { 0 };
	kube_config *cfg = NULL;

	(void)state;
	tu_write(dir, "token", "  sa-token\n");
	tu_write(dir, "ca.crt", "CLUSTER CA");
	tu_write(dir, "namespace", "snapstage-system\n");
	src.service_host = "fd00::1";
	src.service_port = "443";
	src.service_account_dir = dir;
	assert_int_equal(kube_config_load(&cfg, &src), 0);
	assert_string_equal(cfg->server, "https://[fd00::1]:443");
	assert_string_equal(cfg->namespace, "snapstage-system");
	assert_memory_equal(cfg->ca_pem, "CLUSTER CA", 10);
	assert_non_null(cfg->token_file);
	assert_null(cfg->token); /* read by the client, which re-reads it */
	kube_config_free(cfg);

	src.service_port = "http";
	assert_int_equal(kube_config_load(&cfg, &src), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "KUBERNETES_SERVICE_PORT");

	src.service_port = "443";
	tu_write(dir, "token", " \n");
	assert_int_equal(kube_config_load(&cfg, &src), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "is empty");
	tu_rmtree(dir);

	assert_true(kube_config_load(&cfg, &src) < 0);
	tu_assert_error(SS_ENOTFOUND, "token");
}

static void test_token_file_trimmed(void **state)
{
	const char *dir = tu_mkdtemp();
	char *tok = NULL;

	(void)state;
	assert_int_equal(
		kube_config_read_token_file(&tok, tu_write(dir, "t", "\tabc.def \r\n")),
		0);
	assert_string_equal(tok, "abc.def");
	free(tok);
	tu_rmtree(dir);
}

static void test_missing_explicit_file(void **state)
{
	kube_config_sources src = { 0 };
	kube_config *cfg = NULL;

	(void)state;
	src.kubeconfig = "/nonexistent/snapstage/kubeconfig";
	assert_int_equal(kube_config_load(&cfg, &src), SS_ENOTFOUND);
	tu_assert_error(SS_ENOTFOUND, "/nonexistent/snapstage/kubeconfig");
}

static void test_dup(void **state)
{
	kube_config *cfg = NULL, *copy;

	(void)state;
	assert_int_equal(kube_config_from_string(&cfg, good_kubeconfig,
						 strlen(good_kubeconfig), "t", "/", NULL),
			 0);
	copy = kube_config_dup(cfg);
	assert_non_null(copy);
	assert_string_equal(copy->server, cfg->server);
	assert_string_equal(copy->token, cfg->token);
	assert_memory_equal(copy->ca_pem, cfg->ca_pem, cfg->ca_pem_len);
	assert_ptr_not_equal(copy->ca_pem, cfg->ca_pem);
	kube_config_free(cfg);
	kube_config_free(copy);
}

/* --- malformed kubeconfigs ------------------------------------------------ */

#define CLUSTER "clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
#define CONTEXT \
	"contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"

static const struct {
	const char *name;
	const char *yaml;
	const char *context;
	int code;
	const char *fragment;
} malformed[] = {
	{ "not yaml", "clusters: [\n", NULL, SS_EINVALID, "line 2" },
	{ "tab indentation", "clusters:\n\t- name: c\n", NULL, SS_EINVALID,
	  "kubeconfig bad" },
	{ "top level list", "- a\n- b\n", NULL, SS_EINVALID,
	  "expected a mapping at the top level" },
	{ "clusters not a list", "clusters: {name: c}\n", NULL, SS_EINVALID,
	  "clusters must be a list" },
	{ "nameless cluster", "clusters: [{cluster: {server: 'https://h'}}]\n", NULL,
	  SS_EINVALID, "clusters[0] has no name" },
	{ "cluster without body", "clusters: [{name: c}]\n", NULL, SS_EINVALID,
	  "cluster c has no 'cluster' mapping" },
	{ "current-context not string", "current-context: [a]\n", NULL, SS_EINVALID,
	  "current-context must be a string" },
	{ "no context at all", CLUSTER, NULL, SS_EINVALID, "no context selected" },
	{ "unknown context", CLUSTER CONTEXT, "prod", SS_ENOTFOUND,
	  "context 'prod' not found in kubeconfig (contexts: x)" },
	{ "context without cluster", "contexts: [{name: x, context: {user: u}}]\n", "x",
	  SS_EINVALID, "context x: no cluster given" },
	{ "undefined cluster", "contexts: [{name: x, context: {cluster: nope}}]\n", "x",
	  SS_ENOTFOUND, "cluster 'nope' is not defined" },
	{ "undefined user", CLUSTER CONTEXT, NULL, SS_ENOTFOUND,
	  "user 'u' is not defined" },
	{ "no server", "clusters: [{name: c, cluster: {}}]\n" CONTEXT, NULL, SS_EINVALID,
	  "cluster c: no server given" },
	{ "bad server scheme",
	  "clusters: [{name: c, cluster: {server: 'ftp://h'}}]\n" CONTEXT, NULL,
	  SS_EINVALID, "is not an http(s) URL" },
	/* found by fuzzing (issue 16): no host at all */
	{ "server without host",
	  "clusters: [{name: c, cluster: {server: 'https:///'}}]\n" CONTEXT, NULL,
	  SS_EINVALID, "cluster c: server 'https:///' has no valid host[:port]" },
	{ "server port 0", "clusters: [{name: c, cluster: {server: 'https://h:0'}}]\n" CONTEXT,
	  NULL, SS_EINVALID, "has no valid host[:port]" },
	{ "server port too big",
	  "clusters: [{name: c, cluster: {server: 'https://h:65536/'}}]\n" CONTEXT, NULL,
	  SS_EINVALID, "has no valid host[:port]" },
	{ "server with user",
	  "clusters: [{name: c, cluster: {server: 'https://u:p@h'}}]\n" CONTEXT, NULL,
	  SS_EINVALID, "has no valid host[:port]" },
	{ "server empty IPv6",
	  "clusters: [{name: c, cluster: {server: 'https://[]:1'}}]\n" CONTEXT, NULL,
	  SS_EINVALID, "has no valid host[:port]" },
	{ "server with query",
	  "clusters: [{name: c, cluster: {server: 'https://h/p?x=1'}}]\n" CONTEXT, NULL,
	  SS_EINVALID, "query or fragment" },
	{ "server with space",
	  "clusters: [{name: c, cluster: {server: 'https://h/a b'}}]\n" CONTEXT, NULL,
	  SS_EINVALID, "query or fragment" },
	/* found by fuzzing: a duplicate key was silently last-wins */
	{ "duplicate key",
	  "clusters: [{name: c, cluster: {server: 'https://h', server: 'https://g'}}]\n" CONTEXT,
	  NULL, SS_EINVALID, "kubeconfig bad: line 1: duplicate key 'server'" },
	{ "second document", CLUSTER CONTEXT "---\n" CLUSTER, NULL, SS_EINVALID,
	  "a second YAML document" },
	{ "bad CA base64",
	  "clusters: [{name: c, cluster: {server: 'https://h', "
	  "certificate-authority-data: 'not base64!'}}]\n" CONTEXT,
	  NULL, SS_EINVALID,
	  "cluster c: certificate-authority-data is not valid base64" },
	{ "missing CA file",
	  "clusters: [{name: c, cluster: {server: 'https://h', certificate-authority: "
	  "/nonexistent/ca.crt}}]\n" CONTEXT,
	  NULL, SS_ENOTFOUND, "certificate-authority: cannot open /nonexistent/ca.crt" },
	{ "insecure with CA",
	  "clusters: [{name: c, cluster: {server: 'https://h', "
	  "certificate-authority-data: " CA_B64
	  ", insecure-skip-tls-verify: true}}]\n" CONTEXT,
	  NULL, SS_EINVALID, "cannot be used together" },
	{ "insecure not bool",
	  "clusters: [{name: c, cluster: {server: 'https://h', insecure-skip-tls-verify: "
	  "'yes'}}]\n" CONTEXT,
	  NULL, SS_EINVALID, "must be true or false" },
	{ "cert without key",
	  CLUSTER CONTEXT "users: [{name: u, user: {client-certificate-data: " CA_B64
			  "}}]\n",
	  NULL, SS_EINVALID, "user u: a client certificate needs both" },
	{ "bad key base64",
	  CLUSTER CONTEXT "users: [{name: u, user: {client-certificate-data: " CA_B64
			  ", client-key-data: '@@@@'}}]\n",
	  NULL, SS_EINVALID, "client-key-data is not valid base64" },
	{ "exec plugin",
	  CLUSTER CONTEXT "users: [{name: u, user: {exec: {command: aws, apiVersion: "
			  "client.authentication.k8s.io/v1}}}]\n",
	  NULL, SS_EUNSUPPORTED,
	  "exec credential plugins (command 'aws') are not supported" },
	{ "auth provider",
	  CLUSTER CONTEXT "users: [{name: u, user: {auth-provider: {name: gcp}}}]\n",
	  NULL, SS_EUNSUPPORTED, "auth-provider plugins are not supported" },
	{ "basic auth",
	  CLUSTER CONTEXT "users: [{name: u, user: {username: a, password: b}}]\n", NULL,
	  SS_EUNSUPPORTED, "basic authentication" },
};

/* Servers that are fine: a proxy's path prefix, IPv6, plain http. */
static void test_server_forms(void **state)
{
	static const char *const ok[] = {
		"https://h.example.com:6443/k8s/clusters/c-1",
		"https://[::1]:6443",
		"http://127.0.0.1:8080/",
		"https://kubernetes.default.svc",
	};
	char yaml[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		kube_config *cfg = NULL;

		snprintf(yaml, sizeof(yaml),
			 "clusters: [{name: c, cluster: {server: '%s'}}]\n"
			 "contexts: [{name: x, context: {cluster: c}}]\n"
			 "current-context: x\n",
			 ok[i]);
		print_message("server %s\n", ok[i]);
		assert_int_equal(
			kube_config_from_string(&cfg, yaml, strlen(yaml), "t", "/", NULL), 0);
		kube_config_free(cfg);
	}
}

/* `<<: *x` merges as kubectl does; before, the merged CA and token were
 * silently lost under a literal "<<" key (found by fuzzing, issue 16). */
static void test_merge_keys(void **state)
{
	static const char yaml[] =
		"defaults: &d {server: 'https://h:6443', certificate-authority-data: " CA_B64
		"}\n"
		"auth: &a {token: t0k}\n"
		"clusters: [{name: c, cluster: {<<: *d, tls-server-name: k}}]\n"
		"users: [{name: u, user: {<<: *a}}]\n"
		"contexts: [{name: x, context: {cluster: c, user: u}}]\n"
		"current-context: x\n";
	kube_config *cfg = NULL;

	(void)state;
	assert_int_equal(kube_config_from_string(&cfg, yaml, strlen(yaml), "t", "/", NULL),
			 0);
	assert_string_equal(cfg->server, "https://h:6443");
	assert_int_equal(cfg->ca_pem_len, 6);
	assert_memory_equal(cfg->ca_pem, "CA-PEM", 6);
	assert_string_equal(cfg->tls_server_name, "k");
	assert_string_equal(cfg->token, "t0k");
	kube_config_free(cfg);
}

/* Credentials of zero bytes (found by fuzzing, issue 16): base64 data of
 * only whitespace was kept as a CA of 0 bytes, which TLS refuses without
 * saying why; it is as absent as "". An empty file is refused by name. */
static void test_empty_credentials(void **state)
{
	const char *dir = tu_mkdtemp();
	char yaml[1024];
	kube_config *cfg = NULL;

	(void)state;
	snprintf(yaml, sizeof(yaml),
		 "clusters: [{name: c, cluster: {server: 'https://h', "
		 "certificate-authority-data: '  \n'}}]\n" CONTEXT
		 "users: [{name: u, user: {token: t}}]\n");
	assert_int_equal(kube_config_from_string(&cfg, yaml, strlen(yaml), "t", dir, NULL),
			 0);
	assert_null(cfg->ca_pem);
	assert_int_equal(cfg->ca_pem_len, 0);
	kube_config_free(cfg);
	cfg = NULL;
	tu_write(dir, "ca.crt", "");
	snprintf(yaml, sizeof(yaml),
		 "clusters: [{name: c, cluster: {server: 'https://h', "
		 "certificate-authority: ca.crt}}]\n" CONTEXT
		 "users: [{name: u, user: {token: t}}]\n");
	assert_int_equal(kube_config_from_string(&cfg, yaml, strlen(yaml), "t", dir, NULL),
			 SS_EINVALID);
	assert_null(cfg);
	tu_assert_error(SS_EINVALID, "cluster c: certificate-authority: ");
	tu_assert_error(SS_EINVALID, "ca.crt is empty");
	tu_rmtree(dir);
}

static void test_malformed(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		kube_config *cfg = NULL;
		int rc = kube_config_from_string(&cfg, malformed[i].yaml,
						 strlen(malformed[i].yaml), "bad", "/",
						 malformed[i].context);

		print_message("case: %s -> %s\n", malformed[i].name,
			      ss_error_last()->message);
		assert_int_equal(rc, malformed[i].code);
		assert_null(cfg);
		tu_assert_error(malformed[i].code, malformed[i].fragment);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_current_context),
		cmocka_unit_test(test_explicit_context),
		cmocka_unit_test(test_files_relative_to_kubeconfig),
		cmocka_unit_test(test_merge_kubeconfig_env),
		cmocka_unit_test(test_home_fallback_and_nothing),
		cmocka_unit_test(test_in_cluster),
		cmocka_unit_test(test_token_file_trimmed),
		cmocka_unit_test(test_missing_explicit_file),
		cmocka_unit_test(test_dup),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_server_forms),
		cmocka_unit_test(test_merge_keys),
		cmocka_unit_test(test_empty_credentials),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
