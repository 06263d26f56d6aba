/*
 * test_httpserver.c — the probe and metrics server (ctrl/httpserver.h) on
 * 127.0.0.1 with an ephemeral port, spoken to with libcurl: check reports
 * and their status codes, the metrics content type, 404/405/414, bind
 * address parsing and errors, a disabled server, and stop() with clients
 * still connected.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "testutil.h"

#include "ctrl/httpserver.h"
#include "ctrl/metrics.h"
#include "util/buf.h"
#include "util/error.h"

typedef struct {
	long status;
	char type[128];
	char allow[64];
	ss_buf body;
} response;

static size_t body_cb(char *data, size_t size, size_t n, void *userp)
{
	response *r = userp;

	return ss_buf_put(&r->body, data, size * n) == 0 ? size * n : 0;
}

static size_t header_cb(char *data, size_t size, size_t n, void *userp)
{
	response *r = userp;
	size_t len = size * n;

	if (len > 6 && !strncasecmp(data, "allow:", 6))
		snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(len - 9), data + 7);
	return len;
}

/* Performs one request; 0 or the curl error. `method` NULL means GET. */
static int request(response *r, int port, const char *method, const char *path)
{
	CURL *easy = curl_easy_init();
	char url[16384];
	char *type = NULL;
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	ss_buf_init(&r->body, 1 << 20);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	if (method && !strcmp(method, "HEAD"))
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	else if (method && !strcmp(method, "POST"))
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "some=body");
	else if (method)
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(easy);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &type);
	if (type)
		snprintf(r->type, sizeof(r->type), "%s", type);
	curl_easy_cleanup(easy);
	return (int)rc;
}

static void response_free(response *r)
{
	ss_buf_free(&r->body);
}

typedef struct {
	atomic_int failing; /* 1: the check fails */
	atomic_int calls;
} check_state;

static int informers_synced(void *payload, ss_buf *why)
{
	check_state *cs = payload;

	atomic_fetch_add(&cs->calls, 1);
	if (!atomic_load(&cs->failing))
		return 0;
	ss_buf_puts(why, "2 of 3 informers not synced\n(configmaps)");
	return -1;
}

static int always_ok(void *payload, ss_buf *why)
{
	(void)payload;
	(void)why;
	return 0;
}

static int silent_failure(void *payload, ss_buf *why)
{
	(void)payload;
	(void)why;
	return 1;
}

typedef struct {
	ctrl_metrics *metrics;
	ctrl_health *health;
	ctrl_httpserver *server;
	int port;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	ctrl_httpserver_opts opts = { "127.0.0.1:0", NULL, NULL };

	assert_non_null(f);
	assert_int_equal(ctrl_metrics_new(&f->metrics), 0);
	assert_int_equal(ctrl_health_new(&f->health), 0);
	opts.metrics = f->metrics;
	opts.health = f->health;
	assert_int_equal(ctrl_httpserver_start(&f->server, &opts), 0);
	assert_non_null(f->server);
	f->port = ctrl_httpserver_port(f->server);
	assert_true(f->port > 0 && f->port <= 65535);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	ctrl_httpserver_stop(f->server);
	ctrl_health_free(f->health);
	ctrl_metrics_free(f->metrics);
	free(f);
	return 0;
}

static void test_probes(void **state)
{
	fixture *f = *state;
	check_state cs = { 1, 0 };
	response r;

	/* No checks yet: healthy. */
	assert_int_equal(request(&r, f->port, NULL, "/healthz"), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(ss_buf_cstr(&r.body), "ok");
	assert_string_equal(r.type, "text/plain; charset=utf-8");
	response_free(&r);

	/* Checks registered after start count at once. */
	assert_int_equal(
		ctrl_health_add_check(f->health, "healthz", "ping", always_ok, NULL), 0);
	assert_int_equal(
		ctrl_health_add_check(f->health, "readyz", "leader", always_ok, NULL), 0);
	assert_int_equal(ctrl_health_add_check(f->health, "readyz", "informers-synced",
					       informers_synced, &cs),
			 0);
	assert_int_equal(request(&r, f->port, NULL, "/readyz"), 0);
	assert_int_equal(r.status, 500);
	assert_string_equal(ss_buf_cstr(&r.body),
			    "[+]leader ok\n"
			    "[-]informers-synced failed: 2 of 3 informers not synced "
			    "(configmaps)\n"
			    "readyz check failed\n");
	response_free(&r);
	/* healthz does not run readyz's checks. */
	assert_int_equal(request(&r, f->port, NULL, "/healthz"), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(ss_buf_cstr(&r.body), "ok");
	response_free(&r);

	atomic_store(&cs.failing, 0);
	assert_int_equal(request(&r, f->port, NULL, "/readyz"), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(ss_buf_cstr(&r.body), "ok");
	response_free(&r);
	assert_int_equal(atomic_load(&cs.calls), 2);

	/* A removed check no longer runs. */
	atomic_store(&cs.failing, 1);
	ctrl_health_remove_check(f->health, "readyz", "informers-synced");
	assert_int_equal(request(&r, f->port, "HEAD", "/readyz"), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 0);
	response_free(&r);
	assert_int_equal(atomic_load(&cs.calls), 2);

	assert_int_equal(ctrl_health_add_check(f->health, "healthz", "quiet",
					       silent_failure, NULL),
			 0);
	assert_int_equal(request(&r, f->port, NULL, "/healthz"), 0);
	assert_int_equal(r.status, 500);
	assert_string_equal(ss_buf_cstr(&r.body), "[+]ping ok\n"
						  "[-]quiet failed: unhealthy\n"
						  "healthz check failed\n");
	response_free(&r);
}

static void test_check_registration_rules(void **state)
{
	fixture *f = *state;

	assert_int_equal(ctrl_health_add_check(f->health, "livez", "x", always_ok, NULL),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID, "'livez' is neither healthz nor readyz");
	assert_int_equal(
		ctrl_health_add_check(f->health, "readyz", "bad name", always_ok, NULL),
		SS_EINVALID);
	assert_int_equal(ctrl_health_add_check(f->health, "readyz", "", always_ok, NULL),
			 SS_EINVALID);
	assert_int_equal(ctrl_health_add_check(f->health, "readyz", "x", always_ok, NULL),
			 0);
	assert_int_equal(ctrl_health_add_check(f->health, "readyz", "x", always_ok, NULL),
			 SS_EEXISTS);
	assert_int_equal(
		ctrl_health_add_check(f->health, "healthz", "x", always_ok, NULL), 0);
	ctrl_health_remove_check(f->health, "readyz", "absent");
}

static void test_metrics(void **state)
{
	fixture *f = *state;
	ctrl_counter *c = ctrl_metrics_counter(f->metrics, "snapstage_reconcile_total",
					       "Reconciles.", CTRL_LV("controller"));
	ss_buf expected = SS_BUF_INIT(1 << 20);
	response r;

	ctrl_counter_inc(c, CTRL_LV("backup"));
	assert_int_equal(ctrl_metrics_render(f->metrics, &expected), 0);
	assert_int_equal(request(&r, f->port, NULL, "/metrics"), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.type, "text/plain; version=0.0.4; charset=utf-8");
	assert_string_equal(ss_buf_cstr(&r.body), ss_buf_cstr(&expected));
	response_free(&r);
	ss_buf_free(&expected);
}

/* A body larger than one write chunk arrives whole. */
static void test_large_metrics(void **state)
{
	fixture *f = *state;
	ctrl_gauge *g = ctrl_metrics_gauge(f->metrics, "big", "Big.", CTRL_LV("i"));
	ss_buf expected = SS_BUF_INIT(1 << 20);
	char label[16];
	response r;
	int i;

	for (i = 0; i < 3000; i++) {
		snprintf(label, sizeof(label), "%05d", i);
		ctrl_gauge_set(g, CTRL_LV(label), i);
	}
	assert_int_equal(ctrl_metrics_render(f->metrics, &expected), 0);
	assert_true(expected.len > 40000);
	assert_int_equal(request(&r, f->port, NULL, "/metrics"), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, expected.len);
	assert_string_equal(ss_buf_cstr(&r.body), ss_buf_cstr(&expected));
	response_free(&r);
	ss_buf_free(&expected);
}

static void test_errors(void **state)
{
	fixture *f = *state;
	char path[1200];
	char huge[12000];
	response r;

	assert_int_equal(request(&r, f->port, NULL, "/nope"), 0);
	assert_int_equal(r.status, 404);
	response_free(&r);
	assert_int_equal(request(&r, f->port, NULL, "/metricsx"), 0);
	assert_int_equal(r.status, 404);
	response_free(&r);
	assert_int_equal(request(&r, f->port, "POST", "/metrics"), 0);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "GET, HEAD");
	response_free(&r);
	assert_int_equal(request(&r, f->port, "DELETE", "/healthz"), 0);
	assert_int_equal(r.status, 405);
	response_free(&r);
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(request(&r, f->port, NULL, path), 0);
	assert_int_equal(r.status, 414);
	response_free(&r);
	/* Past lws's own header limit the request is refused one way or
	 * another, and nothing else is disturbed. */
	memset(huge, 'a', sizeof(huge) - 1);
	huge[0] = '/';
	huge[sizeof(huge) - 1] = '\0';
	if (request(&r, f->port, NULL, huge) == 0)
		assert_true(r.status >= 400);
	response_free(&r);
	/* Still serving after all that. */
	assert_int_equal(request(&r, f->port, NULL, "/healthz"), 0);
	assert_int_equal(r.status, 200);
	response_free(&r);
}

static void test_partial_servers(void **state)
{
	ctrl_metrics *m = NULL;
	ctrl_health *h = NULL;
	ctrl_httpserver *metrics_only = NULL, *probes_only = NULL;
	ctrl_httpserver_opts mo = { "127.0.0.1:0", NULL, NULL };
	ctrl_httpserver_opts po = { "127.0.0.1:0", NULL, NULL };
	response r;

	(void)state;
	assert_int_equal(ctrl_metrics_new(&m), 0);
	assert_int_equal(ctrl_health_new(&h), 0);
	mo.metrics = m;
	po.health = h;
	assert_int_equal(ctrl_httpserver_start(&metrics_only, &mo), 0);
	assert_int_equal(ctrl_httpserver_start(&probes_only, &po), 0);
	assert_int_not_equal(ctrl_httpserver_port(metrics_only),
			     ctrl_httpserver_port(probes_only));
	assert_int_equal(
		request(&r, ctrl_httpserver_port(metrics_only), NULL, "/healthz"), 0);
	assert_int_equal(r.status, 404);
	response_free(&r);
	assert_int_equal(request(&r, ctrl_httpserver_port(probes_only), NULL, "/metrics"),
			 0);
	assert_int_equal(r.status, 404);
	response_free(&r);
	assert_int_equal(request(&r, ctrl_httpserver_port(probes_only), NULL, "/readyz"),
			 0);
	assert_int_equal(r.status, 200);
	response_free(&r);
	ctrl_httpserver_stop(metrics_only);
	ctrl_httpserver_stop(probes_only);
	ctrl_health_free(h);
	ctrl_metrics_free(m);
}

static void test_bind_addresses(void **state)
{
	ctrl_bind_address a;
	ctrl_httpserver *s = (ctrl_httpserver *)&a;
	ctrl_httpserver_opts opts = { "0", NULL, NULL };
	static const char *const bad[] = { "",		"8080",		 "localhost:8080",
					   "127.0.0.1", "1.2.3.4:99999", "[::1:80",
					   "::1:80",	"[::1]",	 ":-1",
					   ":80x",	"[zz]:80",	 "1.2.3:80" };
	size_t i;

	(void)state;
	assert_int_equal(ctrl_bind_address_parse(&a, ":8080"), 0);
	assert_false(a.disabled);
	assert_string_equal(a.host, "");
	assert_int_equal(a.port, 8080);
	assert_int_equal(ctrl_bind_address_parse(&a, "127.0.0.1:8081"), 0);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 8081);
	assert_int_equal(ctrl_bind_address_parse(&a, "[::1]:8080"), 0);
	assert_string_equal(a.host, "::1");
	assert_int_equal(ctrl_bind_address_parse(&a, "0"), 0);
	assert_true(a.disabled);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ctrl_bind_address_parse(&a, bad[i]), SS_EINVALID);

	/* "0": success, and no server. */
	assert_int_equal(ctrl_httpserver_start(&s, &opts), 0);
	assert_null(s);
	assert_int_equal(ctrl_httpserver_port(s), -1);
	ctrl_httpserver_stop(s);

	s = (ctrl_httpserver *)&a;
	opts.bind_address = "localhost:8080";
	assert_int_equal(ctrl_httpserver_start(&s, &opts), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "bind address 'localhost:8080' is not");
	assert_ptr_equal(s, (ctrl_httpserver *)&a); /* untouched on failure */
}

static void test_address_in_use(void **state)
{
	fixture *f = *state;
	char addr[64];
	ctrl_httpserver_opts opts = { addr, NULL, NULL };
	ctrl_httpserver *s = NULL;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", f->port);
	assert_int_equal(ctrl_httpserver_start(&s, &opts), SS_ETRANSPORT);
	tu_assert_error(SS_ETRANSPORT, addr);
	assert_null(s);
}

static void test_ipv6_loopback(void **state)
{
	ctrl_httpserver_opts opts = { "[::1]:0", NULL, NULL };
	ctrl_httpserver *s = NULL;
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 sa = { 0 };

	(void)state;
	/* Skip where the kernel has no IPv6 loopback. */
	sa.sin6_family = AF_INET6;
	sa.sin6_addr = in6addr_loopback;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (fd >= 0)
			close(fd);
		skip();
	}
	close(fd);
	assert_int_equal(ctrl_httpserver_start(&s, &opts), 0);
	assert_true(ctrl_httpserver_port(s) > 0);
	ctrl_httpserver_stop(s);
}

/* A client mid-request and an idle keep-alive client do not hold up stop(). */
static void test_stop_with_clients_connected(void **state)
{
	fixture *f = *state;
	struct sockaddr_in sa = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	static const char partial[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
	char buf[64];
	ssize_t n;

	assert_true(fd >= 0);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)f->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, partial, sizeof(partial) - 1, 0),
			 (ssize_t)sizeof(partial) - 1);
	ctrl_httpserver_stop(f->server);
	f->server = NULL;
	/* The server closed our connection. */
	n = recv(fd, buf, sizeof(buf), 0);
	assert_true(n <= 0);
	close(fd);
}

#define CLIENT_THREADS 4
#define CLIENT_REQUESTS 25

typedef struct {
	int port;
	atomic_int ok;
} load;

static void *client_main(void *p)
{
	load *l = p;
	response r;
	int i;

	for (i = 0; i < CLIENT_REQUESTS; i++) {
		if (request(&r, l->port, NULL, i % 2 ? "/metrics" : "/readyz") == 0 &&
		    r.status == 200)
			atomic_fetch_add(&l->ok, 1);
		response_free(&r);
	}
	return NULL;
}

static void test_concurrent_clients(void **state)
{
	fixture *f = *state;
	pthread_t threads[CLIENT_THREADS];
	load l = { f->port, 0 };
	int i;

	assert_int_equal(
		ctrl_health_add_check(f->health, "readyz", "leader", always_ok, NULL), 0);
	for (i = 0; i < CLIENT_THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, client_main, &l), 0);
	for (i = 0; i < CLIENT_THREADS; i++)
		pthread_join(threads[i], NULL);
	assert_int_equal(atomic_load(&l.ok), CLIENT_THREADS * CLIENT_REQUESTS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_probes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_registration_rules, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test(test_partial_servers),
		cmocka_unit_test(test_bind_addresses),
		cmocka_unit_test_setup_teardown(test_address_in_use, setup, teardown),
		cmocka_unit_test(test_ipv6_loopback),
		cmocka_unit_test_setup_teardown(test_stop_with_clients_connected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_clients, setup, teardown),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
