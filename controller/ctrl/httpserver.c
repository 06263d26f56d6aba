/*
 * httpserver.c — probes and metrics over HTTP on libwebsockets. See
 * httpserver.h.
 *
 * One lws context per server, with one explicitly created vhost (so a bind
 * failure is reported by lws_create_vhost() instead of being logged and
 * ignored) and one service thread that loops in lws_service() until
 * stop() raises `stopping` and wakes it with lws_cancel_service(). The
 * context is destroyed only after that thread has been joined, so every
 * lws call for a context happens on one thread at a time.
 *
 * A request is answered whole in LWS_CALLBACK_HTTP: the body is built into
 * the connection's ss_buf, the headers are written at once and the body
 * follows in chunks as the socket becomes writeable. A connection's buffer
 * is freed when lws drops the connection (or reused by its next request).
 * Requests whose method we refuse may carry a body we do not read, so
 * their connection is closed after the answer rather than kept alive.
 *
 * ctrl_health keeps its checks in a list under one mutex, held while a
 * probe runs them, which is what makes remove_check() a barrier.
 */
#include "ctrl/httpserver.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

#define MAX_CHECKS 64
#define MAX_CHECK_NAME 63
#define MAX_METRICS_BYTES ((size_t)16 << 20)
#define MAX_REPORT_BYTES ((size_t)64 << 10)
#define WRITE_CHUNK 16384
#define HEADER_ROOM 1024
/* lws keeps a few descriptors of its own (listen socket, cancel pipe). */
#define LWS_INTERNAL_FDS 8
#define IDLE_TIMEOUT_SECONDS 5
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define TEXT_CONTENT_TYPE "text/plain; charset=utf-8"

/* --- health checks ------------------------------------------------------ */

typedef struct {
	bool readyz; /* else healthz */
	char name[MAX_CHECK_NAME + 1];
	ctrl_check_fn fn;
	void *payload;
} check;

struct ctrl_health {
	pthread_mutex_t lock;
	check checks[MAX_CHECKS]; /* in registration order */
	size_t nchecks;
};

static int parse_endpoint(bool *readyz, const char *endpoint)
{
	if (ss_streq(endpoint, "readyz") || ss_streq(endpoint, "healthz")) {
		*readyz = ss_streq(endpoint, "readyz");
		return 0;
	}
	return ss_error_set(SS_EINVALID,
			    "health endpoint '%s' is neither healthz nor readyz",
			    endpoint ? endpoint : "");
}

static bool valid_check_name(const char *name)
{
	size_t i;

	if (!name || !*name || strlen(name) > MAX_CHECK_NAME)
		return false;
	for (i = 0; name[i]; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '/' ||
		      c == '-'))
			return false;
	}
	return true;
}

int ctrl_health_new(ctrl_health **out)
{
	ctrl_health *h = calloc(1, sizeof(*h));

	if (!h)
		return ss_error_set(SS_ENOMEM, "out of memory");
	pthread_mutex_init(&h->lock, NULL);
	*out = h;
	return 0;
}

void ctrl_health_free(ctrl_health *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static check *find_check(ctrl_health *h, bool readyz, const char *name)
{
	size_t i;

	for (i = 0; i < h->nchecks; i++)
		if (h->checks[i].readyz == readyz && !strcmp(h->checks[i].name, name))
			return &h->checks[i];
	return NULL;
}

int ctrl_health_add_check(ctrl_health *h, const char *endpoint, const char *name,
			  ctrl_check_fn fn, void *payload)
{
	bool readyz = false;
	int error = parse_endpoint(&readyz, endpoint);

	if (error < 0)
		return error;
	if (!valid_check_name(name))
		return ss_error_set(SS_EINVALID,
				    "health check name '%s' must be 1-%d of "
				    "[A-Za-z0-9._/-]",
				    name ? name : "", MAX_CHECK_NAME);
	if (!fn)
		return ss_error_set(SS_EINVALID, "health check %s has no function", name);
	pthread_mutex_lock(&h->lock);
	if (find_check(h, readyz, name)) {
		error = ss_error_set(SS_EEXISTS, "%s already has a check named %s",
				     endpoint, name);
	} else if (h->nchecks == MAX_CHECKS) {
		error = ss_error_set(SS_ETOOLARGE, "more than %d health checks",
				     MAX_CHECKS);
	} else {
		check *c = &h->checks[h->nchecks++];

		c->readyz = readyz;
		ss_strlcpy(c->name, name, sizeof(c->name));
		c->fn = fn;
		c->payload = payload;
	}
	pthread_mutex_unlock(&h->lock);
	return error;
}

void ctrl_health_remove_check(ctrl_health *h, const char *endpoint, const char *name)
{
	bool readyz = false;
	check *c;

	if (!h || !name || parse_endpoint(&readyz, endpoint) < 0)
		return;
	pthread_mutex_lock(&h->lock);
	c = find_check(h, readyz, name);
	if (c) {
		size_t at = (size_t)(c - h->checks);

		memmove(c, c + 1, (h->nchecks - at - 1) * sizeof(*c));
		h->nchecks--;
	}
	pthread_mutex_unlock(&h->lock);
}

/* Appends `why` on one line: a reason with newlines would forge lines of
 * the report. */
static int put_reason(ss_buf *out, const ss_buf *why)
{
	const char *s = ss_buf_cstr(why);
	int error = 0;

	if (!*s)
		return ss_buf_puts(out, "unhealthy");
	for (; *s && error == 0; s++)
		error = ss_buf_putc(out, (*s == '\n' || *s == '\r') ? ' ' : *s);
	return error;
}

int ctrl_health_run(ctrl_health *h, const char *endpoint, ss_buf *report, bool *healthy)
{
	ss_buf lines = SS_BUF_INIT(MAX_REPORT_BYTES);
	ss_buf why = SS_BUF_INIT(CTRL_HEALTH_MAX_REASON);
	bool readyz = false, ok = true;
	size_t i;
	int error = parse_endpoint(&readyz, endpoint);

	if (error < 0)
		return error;
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->nchecks && error == 0; i++) {
		const check *c = &h->checks[i];

		if (c->readyz != readyz)
			continue;
		ss_buf_clear(&why);
		if (c->fn(c->payload, &why) == 0) {
			error = ss_buf_printf(&lines, "[+]%s ok\n", c->name);
			continue;
		}
		ok = false;
		error = ss_buf_printf(&lines, "[-]%s failed: ", c->name);
		if (error == 0)
			error = put_reason(&lines, &why);
		if (error == 0)
			error = ss_buf_putc(&lines, '\n');
	}
	pthread_mutex_unlock(&h->lock);
	if (error == 0 && ok)
		error = ss_buf_puts(report, "ok");
	else if (error == 0)
		error = ss_buf_printf(report, "%s%s check failed\n", ss_buf_cstr(&lines),
				      endpoint);
	if (error == 0)
		*healthy = ok;
	ss_buf_free(&lines);
	ss_buf_free(&why);
	return error;
}

/* --- bind addresses ----------------------------------------------------- */

int ctrl_bind_address_parse(ctrl_bind_address *out, const char *text)
{
	ctrl_bind_address a = { 0 };
	const char *colon, *host_start, *host_end;
	unsigned char probe[16];
	int64_t port;
	size_t n;

	if (!text || !*text)
		return ss_error_set(SS_EINVALID, "bind address is empty");
	if (!strcmp(text, "0")) {
		a.disabled = true;
		*out = a;
		return 0;
	}
	colon = strrchr(text, ':');
	if (!colon)
		goto bad;
	host_start = text;
	host_end = colon;
	if (*text == '[') {
		/* IPv6 is bracketed, so the port's colon is the one after ']'. */
		if (colon == text || colon[-1] != ']')
			goto bad;
		host_start = text + 1;
		host_end = colon - 1;
	}
	n = (size_t)(host_end - host_start);
	if (n >= sizeof(a.host))
		goto bad;
	memcpy(a.host, host_start, n);
	a.host[n] = '\0';
	if (*text == '[' ? inet_pton(AF_INET6, a.host, probe) != 1
			 : n > 0 && inet_pton(AF_INET, a.host, probe) != 1)
		goto bad;
	if (ss_parse_int64(&port, colon + 1, 0, 65535, "port") < 0)
		goto bad;
	a.port = (int)port;
	*out = a;
	return 0;
bad:
	return ss_error_set(SS_EINVALID,
			    "bind address '%s' is not \":PORT\", \"IPv4:PORT\", "
			    "\"[IPv6]:PORT\" or \"0\"",
			    text);
}

/* --- the server ---------------------------------------------------------- */

struct ctrl_httpserver {
	struct lws_context *context;
	struct lws_vhost *vhost;
	pthread_t thread;
	bool thread_started;
	atomic_bool stopping;
	ctrl_metrics *metrics;
	ctrl_health *health;
	char iface[64];
	int port;
};

/* Per connection; lws allocates it zeroed and frees it. */
typedef struct {
	ss_buf body;
	size_t sent;
	unsigned int status;
	const char *type;
	bool head;
	bool awaiting_body; /* answer once the request body has been read */
	bool close_after;   /* the request may carry a body we did not read */
} session;

static const char *status_text(unsigned int status)
{
	switch (status) {
	case 200: return "ok";
	case 404: return "not found\n";
	case 405: return "method not allowed: use GET or HEAD\n";
	case 414: return "request path too long\n";
	default: return "internal error\n";
	}
}

static bool path_is(const char *path, size_t len, const char *want)
{
	return len == strlen(want) && !memcmp(path, want, len);
}

/* Fills `sess->body` for the request and returns the HTTP status and
 * content type. */
static unsigned int route(ctrl_httpserver *s, session *sess, int method, const char *path,
			  size_t len, const char **type)
{
	const char *endpoint = NULL;
	bool healthy = false;

	*type = TEXT_CONTENT_TYPE;
	if (method != LWSHUMETH_GET && method != LWSHUMETH_HEAD)
		return 405;
	if (len > CTRL_HTTP_MAX_PATH)
		return 414;
	if (s->metrics && path_is(path, len, "/metrics")) {
		if (ctrl_metrics_render(s->metrics, &sess->body) < 0) {
			ss_log(SS_LOG_ERROR, "cannot render metrics", SS_LERR());
			return 500;
		}
		*type = METRICS_CONTENT_TYPE;
		return 200;
	}
	if (path_is(path, len, "/healthz"))
		endpoint = "healthz";
	else if (path_is(path, len, "/readyz"))
		endpoint = "readyz";
	if (!s->health || !endpoint)
		return 404;
	if (ctrl_health_run(s->health, endpoint, &sess->body, &healthy) < 0) {
		ss_log(SS_LOG_ERROR, "cannot run health checks", SS_LERR());
		ss_buf_clear(&sess->body);
		return 500;
	}
	if (!healthy)
		ss_log(SS_LOG_INFO, "probe failed", SS_LS("endpoint", endpoint),
		       SS_LS("report", ss_buf_cstr(&sess->body)));
	return healthy ? 200 : 500;
}

/* Writes the status line and headers, then has the body follow. */
static int send_headers(struct lws *wsi, session *sess)
{
	unsigned char headers[LWS_PRE + HEADER_ROOM];
	unsigned char *start = &headers[LWS_PRE], *p = start;
	unsigned char *end = &headers[sizeof(headers) - 1];

	if (lws_add_http_common_headers(wsi, sess->status, sess->type, sess->body.len, &p,
					end))
		return -1;
	if (sess->status == 405 &&
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
					(const unsigned char *)"GET, HEAD", 9, &p, end))
		return -1;
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)"no-store", 8, &p, end))
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (sess->head) {
		ss_buf_free(&sess->body);
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
	lws_callback_on_writable(wsi);
	return 0;
}

static int answer(struct lws *wsi, ctrl_httpserver *s, session *sess, const char *in,
		  size_t len)
{
	char *uri = NULL;
	int uri_len = 0;
	int method = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
	bool refused = method != LWSHUMETH_GET && method != LWSHUMETH_HEAD;

	ss_buf_free(&sess->body);
	ss_buf_init(&sess->body, MAX_METRICS_BYTES);
	sess->sent = 0;
	sess->head = method == LWSHUMETH_HEAD;
	sess->status = route(s, sess, method, in ? in : "", in ? len : 0, &sess->type);
	/* A failed probe keeps its report; other errors get a fixed text. */
	if (sess->status != 200 && !(sess->status == 500 && sess->body.len > 0)) {
		ss_buf_clear(&sess->body);
		if (ss_buf_puts(&sess->body, status_text(sess->status)) < 0)
			return -1;
	}
	/* lws holds back writes while a request body is arriving: with a
	 * Content-Length we answer once it has been read (and dropped);
	 * without one there may be a chunked body, so we close after. */
	sess->awaiting_body =
		refused && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
	sess->close_after = refused && !sess->awaiting_body;
	if (sess->awaiting_body)
		return 0;
	return send_headers(wsi, sess);
}

static int write_more(struct lws *wsi, session *sess)
{
	unsigned char chunk[LWS_PRE + WRITE_CHUNK];
	size_t left = sess->body.len - sess->sent;
	size_t n = left < WRITE_CHUNK ? left : WRITE_CHUNK;
	bool last = n == left;

	if (!sess->body.ptr)
		return 0; /* a spurious writeable after the answer */
	memcpy(&chunk[LWS_PRE], sess->body.ptr + sess->sent, n);
	if (lws_write(wsi, &chunk[LWS_PRE], n,
		      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
		return -1;
	sess->sent += n;
	if (!last) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	ss_buf_free(&sess->body);
	if (sess->close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			 void *in, size_t len)
{
	session *sess = user;
	ctrl_httpserver *s = lws_context_user(lws_get_context(wsi));

	switch (reason) {
	case LWS_CALLBACK_HTTP: return answer(wsi, s, sess, in, len);
	case LWS_CALLBACK_HTTP_WRITEABLE: return sess ? write_more(wsi, sess) : 0;
	case LWS_CALLBACK_HTTP_BODY:
		/* Only refused methods carry a body; it is dropped. */
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!sess || !sess->awaiting_body)
			return 0;
		sess->awaiting_body = false;
		return send_headers(wsi, sess);
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (sess)
			ss_buf_free(&sess->body);
		break;
	default: break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	{ "http", http_callback, sizeof(session), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void lws_log_to_ss(int level, const char *line)
{
	char text[512];
	size_t n = ss_strlcpy(text, line, sizeof(text));

	if (n >= sizeof(text))
		n = sizeof(text) - 1;
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		text[--n] = '\0';
	ss_log(level == LLL_ERR ? SS_LOG_ERROR : SS_LOG_WARN, "libwebsockets",
	       SS_LS("detail", text));
}

static pthread_once_t lws_log_once = PTHREAD_ONCE_INIT;

/* lws's log level is process-wide and read by every service thread
 * unlocked, so it is set once, before the first server's thread starts:
 * errors only, in our log format. */
static void quiet_lws(void)
{
	lws_set_log_level(LLL_ERR, lws_log_to_ss);
}

static void *service_main(void *arg)
{
	ctrl_httpserver *s = arg;

	while (!atomic_load(&s->stopping))
		if (lws_service(s->context, 0) < 0)
			break;
	return NULL;
}

static void server_free(ctrl_httpserver *s)
{
	if (s->context)
		lws_context_destroy(s->context);
	free(s);
}

/* The libwebsockets context: no listener of its own (the vhost has it),
 * at most CTRL_HTTP_MAX_CONNECTIONS connections. `bind_address` is for
 * the message. */
static int create_context(ctrl_httpserver *s, const char *bind_address)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.gid = -1;
	info.uid = -1;
	info.user = s;
	info.fd_limit_per_thread = CTRL_HTTP_MAX_CONNECTIONS + LWS_INTERNAL_FDS;
	info.timeout_secs = IDLE_TIMEOUT_SECONDS;
	s->context = lws_create_context(&info);
	if (!s->context)
		return ss_error_set(SS_ERROR, "cannot create the HTTP server for %s",
				    bind_address);
	return 0;
}

/* The vhost listening on s->iface (all when empty) and `port` (0: any
 * free one); s->port is the port it got. */
static int listen_on(ctrl_httpserver *s, int port, const char *bind_address)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	info.vhost_name = "snapstage";
	info.port = port;
	info.iface = s->iface[0] ? s->iface : NULL;
	info.protocols = protocols;
	info.keepalive_timeout = IDLE_TIMEOUT_SECONDS;
	info.timeout_secs = IDLE_TIMEOUT_SECONDS;
	info.server_string = "snapstage";
	if (s->iface[0] && !strchr(s->iface, ':'))
		/* An IPv4 address cannot be bound on an IPv6 socket. */
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	s->vhost = lws_create_vhost(s->context, &info);
	if (!s->vhost)
		return ss_error_set(SS_ETRANSPORT,
				    "cannot listen on %s (address in use or not "
				    "local?)",
				    bind_address);
	s->port = lws_get_vhost_listen_port(s->vhost);
	return 0;
}

int ctrl_httpserver_start(ctrl_httpserver **out, const ctrl_httpserver_opts *opts)
{
	ctrl_bind_address addr;
	ctrl_httpserver *s = NULL;
	int error;

	error = ctrl_bind_address_parse(&addr,
					opts->bind_address ? opts->bind_address : "0");
	if (error < 0)
		return error;
	if (addr.disabled) {
		*out = NULL;
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return ss_error_set(SS_ENOMEM, "out of memory");
	s->metrics = opts->metrics;
	s->health = opts->health;
	ss_strlcpy(s->iface, addr.host, sizeof(s->iface));

	pthread_once(&lws_log_once, quiet_lws);
	error = create_context(s, opts->bind_address);
	if (error < 0)
		goto fail;
	error = listen_on(s, addr.port, opts->bind_address);
	if (error < 0)
		goto fail;
	if (pthread_create(&s->thread, NULL, service_main, s) != 0) {
		error = ss_error_set(SS_ERROR, "cannot start the HTTP server thread");
		goto fail;
	}
	s->thread_started = true;
	ss_log(SS_LOG_INFO, "serving HTTP", SS_LS("address", opts->bind_address),
	       SS_LI("port", s->port), SS_LB("metrics", s->metrics != NULL),
	       SS_LB("probes", s->health != NULL));
	*out = s;
	return 0;
fail:
	server_free(s);
	return error;
}

int ctrl_httpserver_port(const ctrl_httpserver *s)
{
	return s ? s->port : -1;
}

void ctrl_httpserver_stop(ctrl_httpserver *s)
{
	if (!s)
		return;
	if (s->thread_started) {
		atomic_store(&s->stopping, true);
		lws_cancel_service(s->context);
		pthread_join(s->thread, NULL);
	}
	server_free(s);
}
