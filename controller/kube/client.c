/*
 * client.c — the transport under every API request. See client.h.
 *
 * Each request gets a fresh curl easy handle (cheap) configured from the
 * client; the expensive parts — TCP and TLS connections, DNS and TLS
 * sessions — live in a curl share guarded by one mutex per kind of data, so
 * concurrent requests reuse connections without serialising on one handle.
 *
 * The bearer token is the only mutable client state: a token file is re-read
 * under `token_lock` and each request takes a private copy of the token, which
 * is wiped when the request ends.
 *
 * A request deadline is thread state, not client state: three thread-local
 * variables read by kube_transport_begin() (the timeouts) and
 * kube_request_do() (whether a Retry-After wait may be taken). Watches never
 * look at it.
 */
#include "kube/client.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kube/client_internal.h"
#include "kube/status.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/str.h"

#define MAX_URL_BYTES 16384
#define MAX_AUTH_HEADER_BYTES 16384
#define WATCH_TIMEOUT_MARGIN_SECONDS 30
/* Connections kept open for reuse (watch streams included). */
#define KUBE_MAX_CONNECTIONS 64
#define DEADLINE_WHAT_MAX 64

struct kube_client {
	kube_config *cfg;
	kube_client_opts opts;
	char *user_agent;
	char *base_url;		       /* server URL, host replaced by tls-server-name */
	struct curl_slist *connect_to; /* maps tls-server-name back to the host */
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t token_lock;
	char *token;	      /* secret; current bearer token */
	time_t token_read_at; /* monotonic seconds of the last file read */
	kube_write_gate_fn write_gate; /* NULL: every write may go */
	void *write_gate_payload;
};

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static int global_users;

int kube_global_init(void)
{
	int error = 0;

	pthread_mutex_lock(&global_lock);
	if (global_users == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		error = ss_error_set(SS_ERROR, "libcurl failed to initialise");
	if (error == 0)
		global_users++;
	pthread_mutex_unlock(&global_lock);
	return error;
}

void kube_global_cleanup(void)
{
	pthread_mutex_lock(&global_lock);
	if (global_users > 0 && --global_users == 0)
		curl_global_cleanup();
	pthread_mutex_unlock(&global_lock);
}

/* This thread's request deadline (kube_deadline_set). */
static _Thread_local bool deadline_set;
static _Thread_local int64_t deadline_at; /* CLOCK_MONOTONIC ns */
static _Thread_local char deadline_what[DEADLINE_WHAT_MAX];

void kube_deadline_set(int64_t mono_deadline_ns, const char *what)
{
	deadline_at = mono_deadline_ns;
	ss_strlcpy(deadline_what, what ? what : "the request deadline",
		   sizeof(deadline_what));
	deadline_set = true;
}

void kube_deadline_clear(void)
{
	deadline_set = false;
}

int64_t kube_deadline_remaining_ns(void)
{
	if (!deadline_set)
		return INT64_MAX;
	return deadline_at - ss_clock_mono(ss_clock_system());
}

/* Whole milliseconds, rounded up so that a bound never ends early. */
static long long ms_up(int64_t ns)
{
	return ns <= 0 ? 0 : (long long)((ns + SS_NS_PER_MS - 1) / SS_NS_PER_MS);
}

int kube_deadline_check_wait(int64_t wait_ns, const char *doing)
{
	int64_t left = kube_deadline_remaining_ns();

	if (!deadline_set || wait_ns < left)
		return 0;
	return ss_error_set(
		SS_ETIMEOUT, "%s%s%s ran out (a wait of %lld ms, %lld ms left)",
		doing ? doing : "", doing ? ": " : "", deadline_what, ms_up(wait_ns),
		left > 0 ? (long long)(left / SS_NS_PER_MS) : 0);
}

/* The shorter of a client timeout (0: none) and the time left. */
static long bounded_ms(long client_ms, long long left_ms)
{
	return client_ms > 0 && client_ms <= left_ms ? client_ms : (long)left_ms;
}

/* The transfer and connect timeouts of a plain request: the client's, cut
 * to this thread's deadline; SS_ETIMEOUT, before any I/O, when it passed. */
static int request_timeouts(kube_transport *t, const kube_client *c,
			    const kube_request *req, long *total_ms, long *connect_ms)
{
	int64_t left = kube_deadline_remaining_ns();
	ss_buf what = SS_BUF_INIT(MAX_URL_BYTES + 16);

	*total_ms = c->opts.timeout_ms;
	*connect_ms = c->opts.connect_timeout_ms;
	if (!deadline_set)
		return 0;
	if (left > 0) {
		*total_ms = bounded_ms(*total_ms, ms_up(left));
		*connect_ms = bounded_ms(*connect_ms, ms_up(left));
		return 0;
	}
	kube_transport_describe(&what, t, req);
	ss_error_set(SS_ETIMEOUT, "%s: %s ran out %lld ms ago; not sent",
		     ss_buf_cstr(&what), deadline_what,
		     (long long)(-left / SS_NS_PER_MS));
	ss_buf_free(&what);
	return SS_ETIMEOUT;
}

static time_t monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void share_lock(CURL *easy, curl_lock_data data, curl_lock_access access,
		       void *userptr)
{
	kube_client *c = userptr;

	(void)easy;
	(void)access;
	pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *easy, curl_lock_data data, void *userptr)
{
	kube_client *c = userptr;

	(void)easy;
	pthread_mutex_unlock(&c->share_locks[data]);
}

/*
 * With tls-server-name the certificate is checked against that name while
 * the connection goes to the configured host: the URL carries the name and
 * CONNECT_TO sends its connections to the real host and port.
 */
static int setup_server_name(kube_client *c)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *url = NULL;
	ss_buf map = SS_BUF_INIT(1024);
	int error = 0;

	if (!u)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, c->cfg->server, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		error = ss_error_set(SS_EINVALID, "server URL '%s' cannot be parsed",
				     c->cfg->server);
		goto done;
	}
	if (!c->cfg->tls_server_name) {
		c->base_url = ss_strdup(c->cfg->server);
		error = c->base_url ? 0 : SS_ENOMEM;
		goto done;
	}
	if (curl_url_set(u, CURLUPART_HOST, c->cfg->tls_server_name, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
		error = ss_error_set(SS_EINVALID,
				     "tls-server-name '%s' is not a host name",
				     c->cfg->tls_server_name);
		goto done;
	}
	c->base_url = ss_strdup(url);
	error = ss_buf_printf(&map, "%s:%s:%s:%s", c->cfg->tls_server_name, port, host,
			      port);
	if (error == 0 && c->base_url) {
		c->connect_to = curl_slist_append(NULL, ss_buf_cstr(&map));
		if (!c->connect_to)
			error = ss_error_set(SS_ENOMEM, "out of memory");
	} else if (error == 0) {
		error = SS_ENOMEM;
	}
	/* curl_url_get keeps a trailing '/', which would double in paths. */
	if (error == 0) {
		size_t n = strlen(c->base_url);

		while (n > 0 && c->base_url[n - 1] == '/')
			c->base_url[--n] = '\0';
	}
done:
	curl_free(host);
	curl_free(port);
	curl_free(url);
	curl_url_cleanup(u);
	ss_buf_free(&map);
	return error;
}

int kube_client_new(kube_client **out, const kube_config *cfg,
		    const kube_client_opts *opts)
{
	static const kube_client_opts defaults = KUBE_CLIENT_OPTS_INIT;
	kube_client *c = calloc(1, sizeof(*c));
	int i, error;

	if (!c)
		return ss_error_set(SS_ENOMEM, "out of memory");
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	pthread_mutex_init(&c->token_lock, NULL);
	c->opts = opts ? *opts : defaults;
	c->cfg = kube_config_dup(cfg);
	c->user_agent = ss_strdup(c->opts.user_agent ? c->opts.user_agent : "snapstage");
	if (!c->cfg || !c->user_agent) {
		error = SS_ENOMEM;
		goto fail;
	}
	c->opts.user_agent = c->user_agent;
	if (c->cfg->token) {
		c->token = ss_strdup(c->cfg->token);
		if (!c->token) {
			error = SS_ENOMEM;
			goto fail;
		}
	}
	error = setup_server_name(c);
	if (error < 0)
		goto fail;
	c->share = curl_share_init();
	if (!c->share) {
		error = ss_error_set(SS_ENOMEM, "out of memory");
		goto fail;
	}
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	*out = c;
	return 0;
fail:
	kube_client_free(c);
	return error;
}

void kube_client_free(kube_client *c)
{
	int i;

	if (!c)
		return;
	if (c->share)
		curl_share_cleanup(c->share);
	curl_slist_free_all(c->connect_to);
	free(c->base_url);
	free(c->user_agent);
	if (c->token)
		ss_free_secret(c->token, strlen(c->token));
	kube_config_free(c->cfg);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->token_lock);
	free(c);
}

const char *kube_client_namespace(const kube_client *c)
{
	return c->cfg->namespace ? c->cfg->namespace : "default";
}

const char *kube_client_server(const kube_client *c)
{
	return c->cfg->server;
}

bool kube_client_has_token_file(const kube_client *c)
{
	return c->cfg->token_file != NULL;
}

/* Appends "Authorization: Bearer <token>" to `hdr`, re-reading a token file
 * when it is due (or `force`). Keeps the old token if a re-read fails. */
static int auth_header(ss_buf *hdr, kube_client *c, bool force)
{
	int error = 0;

	pthread_mutex_lock(&c->token_lock);
	if (c->cfg->token_file &&
	    (force || !c->token ||
	     monotonic_seconds() - c->token_read_at >= c->opts.token_refresh_seconds)) {
		char *fresh = NULL;

		error = kube_config_read_token_file(&fresh, c->cfg->token_file);
		if (error == 0) {
			if (c->token)
				ss_free_secret(c->token, strlen(c->token));
			c->token = fresh;
			c->token_read_at = monotonic_seconds();
		} else if (c->token) {
			error = 0; /* a rotating file may be briefly absent */
			ss_error_clear();
		}
	}
	if (error == 0 && c->token)
		error = ss_buf_printf(hdr, "Authorization: Bearer %s", c->token);
	pthread_mutex_unlock(&c->token_lock);
	return error;
}

void kube_client_reload_token(kube_client *c)
{
	ss_buf discard = SS_BUF_INIT(MAX_AUTH_HEADER_BYTES);

	auth_header(&discard, c, true);
	ss_free_secret(discard.ptr, discard.cap);
}

static size_t header_cb(char *data, size_t size, size_t n, void *userp)
{
	kube_transport *t = userp;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		size_t start = sizeof(name) - 1, end = len;

		while (start < end && (data[start] == ' ' || data[start] == '\t'))
			start++;
		while (end > start && (data[end - 1] == '\r' || data[end - 1] == '\n' ||
				       data[end - 1] == ' '))
			end--;
		if (end - start < sizeof(t->retry_after)) {
			memcpy(t->retry_after, data + start, end - start);
			t->retry_after[end - start] = '\0';
		}
	}
	return len;
}

static int build_url(kube_transport *t, kube_client *c, const kube_request *req)
{
	int error = ss_buf_puts(&t->url, c->base_url);

	if (error == 0 && req->resource)
		error = kube_url_path(&t->url, req->resource, req->ns, req->name,
				      req->subresource);
	else if (error == 0)
		error = ss_buf_puts(&t->url, req->path ? req->path : "/");
	if (error == 0 && req->query && *req->query)
		error = ss_buf_printf(&t->url, "?%s", req->query);
	return error;
}

static int add_header(kube_transport *t, const char *line)
{
	struct curl_slist *l = curl_slist_append(t->headers, line);

	if (!l)
		return ss_error_set(SS_ENOMEM, "out of memory");
	t->headers = l;
	return 0;
}

static void set_tls(CURL *easy, const kube_config *cfg)
{
	if (cfg->insecure_skip_tls_verify) {
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (cfg->ca_pem) {
		struct curl_blob ca = { cfg->ca_pem, cfg->ca_pem_len, CURL_BLOB_COPY };

		curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &ca);
	}
	if (cfg->client_cert_pem) {
		struct curl_blob cert = { cfg->client_cert_pem, cfg->client_cert_pem_len,
					  CURL_BLOB_COPY };
		struct curl_blob key = { cfg->client_key_pem, cfg->client_key_pem_len,
					 CURL_BLOB_COPY };

		curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &cert);
		curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &key);
		curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
	}
}

int kube_transport_begin(kube_transport *t, kube_client *c, const kube_request *req,
			 bool streaming, bool force_token_reload)
{
	const char *method = req->method ? req->method : "GET";
	long timeout_ms = 0, connect_ms = c->opts.connect_timeout_ms;
	int error;

	memset(t, 0, sizeof(*t));
	ss_buf_init(&t->url, MAX_URL_BYTES);
	ss_buf_init(&t->auth_header, MAX_AUTH_HEADER_BYTES);
	error = build_url(t, c, req);
	if (error == 0 && !streaming)
		error = request_timeouts(t, c, req, &timeout_ms, &connect_ms);
	if (error < 0)
		return error;
	t->easy = curl_easy_init();
	if (!t->easy)
		return ss_error_set(SS_ENOMEM, "cannot create a curl handle");
	error = auth_header(&t->auth_header, c, force_token_reload);
	if (error == 0 && t->auth_header.len > 0)
		error = add_header(t, ss_buf_cstr(&t->auth_header));
	if (error == 0)
		error = add_header(t, "Accept: application/json");
	if (error == 0 && req->body) {
		char line[160];

		snprintf(line, sizeof(line), "Content-Type: %s",
			 req->content_type ? req->content_type : "application/json");
		error = add_header(t, line);
	}
	if (error < 0)
		return error;

	curl_easy_setopt(t->easy, CURLOPT_URL, ss_buf_cstr(&t->url));
	curl_easy_setopt(t->easy, CURLOPT_SHARE, c->share);
	/* The shared cache keeps at most MAXCONNECTS connections, counting the
	 * long-lived watch streams (default 5): with a few informers that left
	 * no room, and every request paid a new TCP + TLS handshake (measured:
	 * 4,395 connections for 7,011 requests syncing 1,000 schedules). */
	curl_easy_setopt(t->easy, CURLOPT_MAXCONNECTS, (long)KUBE_MAX_CONNECTIONS);
	curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(t->easy, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(t->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(t->easy, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(t->easy, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t);
	if (c->connect_to)
		curl_easy_setopt(t->easy, CURLOPT_CONNECT_TO, c->connect_to);
	if (!streaming)
		curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	set_tls(t->easy, c->cfg);

	if (!strcmp(method, "GET"))
		curl_easy_setopt(t->easy, CURLOPT_HTTPGET, 1L);
	else if (!strcmp(method, "POST"))
		curl_easy_setopt(t->easy, CURLOPT_POST, 1L);
	else
		curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST, method);
	return 0;
}

void kube_transport_end(kube_transport *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	ss_free_secret(t->auth_header.ptr, t->auth_header.cap);
	ss_buf_free(&t->url);
	t->easy = NULL;
	t->headers = NULL;
	t->auth_header.ptr = NULL;
}

int kube_transport_describe(ss_buf *out, const kube_transport *t, const kube_request *req)
{
	const char *url = ss_buf_cstr(&t->url);
	const char *path = strstr(url, "://");

	path = path ? strchr(path + 3, '/') : NULL;
	return ss_buf_printf(out, "%s %s", req->method ? req->method : "GET",
			     path ? path : url);
}

int kube_transport_error(const kube_transport *t, CURLcode rc, const kube_request *req)
{
	ss_buf what = SS_BUF_INIT(MAX_URL_BYTES + 16);
	int code = rc == CURLE_OPERATION_TIMEDOUT ? SS_ETIMEOUT : SS_ETRANSPORT;

	kube_transport_describe(&what, t, req);
	/* Cut by the deadline rather than by the client's own timeout? */
	if (code == SS_ETIMEOUT && kube_deadline_remaining_ns() < SS_NS_PER_MS)
		ss_error_set(code, "%s: %s ran out: %s", ss_buf_cstr(&what),
			     deadline_what,
			     t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
	else
		ss_error_set(code, "%s: %s", ss_buf_cstr(&what),
			     t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
	ss_buf_free(&what);
	return code;
}

void kube_client_observe(const kube_client *c, const kube_request *req, bool streaming,
			 CURL *easy)
{
	const char *verb = req->method ? req->method : "GET";
	curl_off_t micros = 0;
	long http = 0;

	if (!c->opts.on_request)
		return;
	if (streaming)
		verb = "WATCH";
	else if (!strcmp(verb, "GET") && req->resource && !req->name)
		verb = "LIST";
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http);
	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &micros);
	c->opts.on_request(c->opts.on_request_payload, verb, http, (double)micros / 1e6);
}

/* --- plain (non-streaming) requests ------------------------------------ */

typedef struct {
	ss_buf body;
	bool too_large;
} response_sink;

static size_t body_cb(char *data, size_t size, size_t n, void *userp)
{
	response_sink *sink = userp;

	if (ss_buf_put(&sink->body, data, size * n) < 0) {
		sink->too_large = true;
		return 0; /* aborts the transfer */
	}
	return size * n;
}

static void sleep_seconds(int seconds)
{
	struct timespec ts = { seconds, 0 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static bool should_retry_later(const kube_status *st)
{
	return st->retry_after_seconds >= 0 &&
	       (st->http_status == 429 ||
		(st->http_status >= 500 && st->http_status <= 599));
}

/* Waits out the server's Retry-After (capped) before another attempt,
 * unless the wait would reach this thread's deadline: then the answer is
 * not retried and is recorded as SS_ETIMEOUT, keeping what the server said. */
static int wait_retry_after(const kube_client *c, const kube_status *st,
			    const kube_transport *t, const kube_request *req)
{
	int wait = st->retry_after_seconds;
	int64_t left = kube_deadline_remaining_ns();
	ss_buf what = SS_BUF_INIT(MAX_URL_BYTES + 16);
	kube_status refused = *st;

	if (wait > c->opts.max_retry_after_seconds)
		wait = c->opts.max_retry_after_seconds;
	if (!deadline_set || (int64_t)wait * SS_NS_PER_SEC < left) {
		sleep_seconds(wait);
		return 0;
	}
	refused.code = SS_ETIMEOUT;
	snprintf(refused.message, sizeof(refused.message),
		 "%.300s; not retried: %s ran out (Retry-After %d s, %lld ms left)",
		 st->message[0] ? st->message : ss_error_code_name(st->code),
		 deadline_what, wait, left > 0 ? (long long)(left / SS_NS_PER_MS) : 0);
	kube_transport_describe(&what, t, req);
	kube_status_record(&refused, ss_buf_cstr(&what));
	ss_buf_free(&what);
	return SS_ETIMEOUT;
}

void kube_client_set_write_gate(kube_client *c, kube_write_gate_fn gate, void *payload)
{
	c->write_gate = gate;
	c->write_gate_payload = payload;
}

/* The gate's word on `req` (a write): 0, or SS_ECANCELLED with its reason. */
static int gate_write(kube_client *c, const kube_transport *t, const kube_request *req)
{
	ss_buf what = SS_BUF_INIT(MAX_URL_BYTES + 16);
	const char *why;
	int error;

	if (!c->write_gate || strcmp(req->method, "GET") == 0)
		return 0;
	why = c->write_gate(c->write_gate_payload);
	if (!why)
		return 0;
	kube_transport_describe(&what, t, req);
	error = ss_error_set(SS_ECANCELLED, "%s not sent: %s", ss_buf_cstr(&what), why);
	ss_buf_free(&what);
	return error;
}

/* One plain request across its attempts: what each attempt sends, where
 * its answer goes, and the two retry budgets. */
typedef struct {
	kube_client *c;
	const kube_request *req;
	const char *payload; /* the body, serialised; NULL: none */
	response_sink sink;
	kube_transport t;    /* the current attempt's */
	bool token_reloaded; /* once, after a 401 */
	int retries;	     /* Retry-After waits taken */
} plain_request;

/* One attempt: begin the transport, ask the write gate, perform, observe.
 * 0 with *http the answer's status, or <0 recorded. The transport is left
 * for the caller to end. */
static int attempt(plain_request *p, long *http)
{
	CURLcode rc;
	int error;

	*http = 0;
	ss_buf_clear(&p->sink.body);
	p->sink.too_large = false;
	error = kube_transport_begin(&p->t, p->c, p->req, false, p->token_reloaded);
	if (error < 0)
		return error;
	error = gate_write(p->c, &p->t, p->req);
	if (error < 0)
		return error;
	curl_easy_setopt(p->t.easy, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(p->t.easy, CURLOPT_WRITEDATA, &p->sink);
	if (p->payload) {
		curl_easy_setopt(p->t.easy, CURLOPT_POSTFIELDS, p->payload);
		curl_easy_setopt(p->t.easy, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)strlen(p->payload));
	}
	rc = curl_easy_perform(p->t.easy);
	kube_client_observe(p->c, p->req, false, p->t.easy);
	if (rc != CURLE_OK)
		return p->sink.too_large ? ss_error_set(SS_ETOOLARGE,
							"response larger than %zu bytes",
							p->c->opts.max_response_bytes)
					 : kube_transport_error(&p->t, rc, p->req);
	curl_easy_getinfo(p->t.easy, CURLINFO_RESPONSE_CODE, http);
	return 0;
}

/* After a non-2xx answer: 0 to try again (the token re-read once after a
 * 401, or the server's Retry-After waited out), or <0 with the server's
 * refusal recorded. */
static int after_refusal(plain_request *p, long http)
{
	ss_buf what = SS_BUF_INIT(MAX_URL_BYTES + 16);
	kube_status st;
	int error;

	kube_status_decode(&st, http, p->sink.body.ptr, p->sink.body.len,
			   p->t.retry_after);
	if (st.code == SS_EUNAUTHORIZED && !p->token_reloaded &&
	    kube_client_has_token_file(p->c)) {
		p->token_reloaded = true; /* the token may have rotated */
		return 0;
	}
	if (should_retry_later(&st) && p->retries < p->c->opts.max_retries) {
		p->retries++;
		return wait_retry_after(p->c, &st, &p->t, p->req);
	}
	kube_transport_describe(&what, &p->t, p->req);
	error = kube_status_record(&st, ss_buf_cstr(&what));
	ss_buf_free(&what);
	return error;
}

/* A 2xx answer's body as JSON into *out; an empty body is JSON null. */
static int decode_body(json_t **out, const response_sink *sink)
{
	json_error_t jerr;
	json_t *doc = sink->body.len ? json_loadb(sink->body.ptr, sink->body.len, 0, &jerr)
				     : json_null();

	if (!doc)
		return ss_error_set(SS_ERROR, "the server answered with invalid JSON: %s",
				    jerr.text);
	*out = doc;
	return 0;
}

int kube_request_do(json_t **out, kube_client *c, const kube_request *req)
{
	plain_request p = { .c = c, .req = req };
	char *payload = NULL;
	long http;
	int error;

	if (req->body) {
		payload = json_dumps(req->body, JSON_COMPACT);
		if (!payload)
			return ss_error_set(SS_EINVALID,
					    "request body is not serialisable JSON");
	}
	p.payload = payload;
	if (req->sensitive)
		ss_buf_init_secret(&p.sink.body, c->opts.max_response_bytes);
	else
		ss_buf_init(&p.sink.body, c->opts.max_response_bytes);
	for (;;) {
		error = attempt(&p, &http);
		if (error < 0)
			goto cleanup;
		if (http >= 200 && http < 300)
			break;
		error = after_refusal(&p, http);
		if (error < 0)
			goto cleanup;
		kube_transport_end(&p.t);
	}
	error = out ? decode_body(out, &p.sink) : 0;
cleanup:
	kube_transport_end(&p.t);
	ss_buf_free(&p.sink.body);
	free(payload);
	return error;
}
