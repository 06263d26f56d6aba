/*
 * fake_server.c — see fake_server.h. Deliberately simple: blocking sockets
 * with short poll timeouts so every thread notices `stop` promptly.
 */
#define _XOPEN_SOURCE 700
#include "fake_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>

#include <cmocka.h>

#include "kube/client.h"
#include "kube/config.h"

typedef struct {
	fake_server *s;
	int fd;
} conn_arg;

static bool send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads one request (head and Content-Length body) into buf; false on EOF
 * or stop. */
static bool read_request(fake_server *s, int fd, char *buf, size_t cap)
{
	size_t len = 0;
	char *head_end = NULL;
	long body = 0;

	while (!atomic_load(&s->stop)) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = '\0';
		if (!head_end) {
			head_end = strstr(buf, "\r\n\r\n");
			if (head_end) {
				const char *cl = strstr(buf, "Content-Length: ");

				body = cl ? strtol(cl + 16, NULL, 10) : 0;
			}
		}
		if (head_end && (long)(len - (size_t)(head_end + 4 - buf)) >= body)
			return true;
		if (len == cap - 1)
			return true;
	}
	return false;
}

static void wait_for_close(fake_server *s, int fd)
{
	char sink[256];

	while (!atomic_load(&s->stop)) {
		struct pollfd p = { fd, POLLIN, 0 };

		if (poll(&p, 1, 50) > 0 && recv(fd, sink, sizeof(sink), 0) <= 0)
			return;
	}
}

/* Sleeps `ms` in short steps, returning early when the server stops. */
static void delay(fake_server *s, int ms)
{
	struct timespec step = { 0, 5000000 };
	int waited;

	for (waited = 0; waited < ms && !atomic_load(&s->stop); waited += 5)
		nanosleep(&step, NULL);
}

/* Sends `r`; false when the connection must end afterwards. */
static bool respond(fake_server *s, int fd, const fake_response *r, const char *request)
{
	char head[1024];
	int status = r->status;
	const char *body = r->body ? r->body : "";
	size_t i;

	if (r->delay_ms > 0)
		delay(s, r->delay_ms);
	if (r->require_auth) {
		char want[256];

		snprintf(want, sizeof(want), "Authorization: Bearer %s\r\n", r->auth);
		if (!strstr(request, want)) {
			status = 401;
			body = "{\"kind\":\"Status\",\"reason\":\"Unauthorized\","
			       "\"code\":401}";
		}
	}
	if (!r->chunks[0] || status != r->status) {
		snprintf(head, sizeof(head),
			 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%s"
			 "Content-Length: %zu\r\n\r\n",
			 status, r->headers ? r->headers : "", strlen(body));
		return send_all(fd, head, strlen(head)) &&
		       send_all(fd, body, strlen(body));
	}
	snprintf(head, sizeof(head),
		 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%s"
		 "Transfer-Encoding: chunked\r\n\r\n",
		 status, r->headers ? r->headers : "");
	if (!send_all(fd, head, strlen(head)))
		return false;
	for (i = 0; i < FAKE_MAX_CHUNKS && r->chunks[i]; i++) {
		char size[32];

		snprintf(size, sizeof(size), "%zx\r\n", strlen(r->chunks[i]));
		if (!send_all(fd, size, strlen(size)) ||
		    !send_all(fd, r->chunks[i], strlen(r->chunks[i])) ||
		    !send_all(fd, "\r\n", 2))
			return false;
		/* Let the client see separate chunks. */
		nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
	}
	if (r->hold_open) {
		wait_for_close(s, fd);
		return false;
	}
	if (r->truncate)
		return false;
	return send_all(fd, "0\r\n\r\n", 5);
}

static void *serve_conn(void *p)
{
	conn_arg *arg = p;
	fake_server *s = arg->s;
	char *req = malloc(FAKE_REQ_MAX);

	while (req && read_request(s, arg->fd, req, FAKE_REQ_MAX)) {
		fake_response r = { .status = 500,
				    .body = "{\"kind\":\"Status\",\"code\":500}" };

		pthread_mutex_lock(&s->lock);
		if (s->nrequests < FAKE_MAX_SCRIPT)
			memcpy(s->requests[s->nrequests++], req, FAKE_REQ_MAX);
		if (s->next < s->nscript)
			r = s->script[s->next++];
		pthread_mutex_unlock(&s->lock);
		if (!respond(s, arg->fd, &r, req))
			break;
	}
	free(req);
	close(arg->fd);
	free(arg);
	return NULL;
}

static void *accept_loop(void *p)
{
	fake_server *s = p;

	while (!atomic_load(&s->stop)) {
		struct pollfd pfd = { s->listen_fd, POLLIN, 0 };
		conn_arg *arg;
		int fd;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		fd = accept(s->listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		arg = malloc(sizeof(*arg));
		if (!arg || s->nconns == FAKE_MAX_CONNS) {
			free(arg);
			close(fd);
			continue;
		}
		arg->s = s;
		arg->fd = fd;
		pthread_mutex_lock(&s->lock);
		pthread_create(&s->conns[s->nconns++], NULL, serve_conn, arg);
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

void fake_server_start(fake_server *s)
{
	struct sockaddr_in addr = { 0 };
	socklen_t len = sizeof(addr);

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s->listen_fd < 0 ||
	    bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(s->listen_fd, 16) != 0 ||
	    getsockname(s->listen_fd, (struct sockaddr *)&addr, &len) != 0)
		abort();
	s->port = ntohs(addr.sin_port);
	pthread_create(&s->acceptor, NULL, accept_loop, s);
}

void fake_server_add(fake_server *s, const fake_response *r)
{
	pthread_mutex_lock(&s->lock);
	if (s->nscript < FAKE_MAX_SCRIPT)
		s->script[s->nscript++] = *r;
	pthread_mutex_unlock(&s->lock);
}

void fake_server_stop(fake_server *s)
{
	int i;

	atomic_store(&s->stop, true);
	pthread_join(s->acceptor, NULL);
	for (i = 0; i < s->nconns; i++)
		pthread_join(s->conns[i], NULL);
	close(s->listen_fd);
	pthread_mutex_destroy(&s->lock);
}

const char *fake_server_url(const fake_server *s)
{
	static char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", s->port);
	return url;
}

struct kube_client *fake_server_client(const fake_server *s, const char *dir,
				       const char *token, const char *ns)
{
	kube_config *cfg = NULL;
	kube_client *client = NULL;
	char yaml[1024];

	snprintf(yaml, sizeof(yaml),
		 "current-context: t\n"
		 "clusters: [{name: c, cluster: {server: '%s'}}]\n"
		 "users: [{name: u, user: {token: %s}}]\n"
		 "contexts: [{name: t, context: {cluster: c, user: u%s%s}}]\n",
		 fake_server_url(s), token, ns ? ", namespace: " : "", ns ? ns : "");
	assert_int_equal(kube_config_from_string(&cfg, yaml, strlen(yaml), "test", dir, NULL),
			 0);
	assert_int_equal(kube_client_new(&client, cfg, NULL), 0);
	kube_config_free(cfg);
	return client;
}

void fake_server_assert_request(const fake_server *s, int i, const char *method,
				const char *path)
{
	char line[512];

	assert_true(i < s->nrequests);
	snprintf(line, sizeof(line), "%s %s", method, path);
	if (strncmp(s->requests[i], line, strlen(line)) != 0)
		fail_msg("request %d is \"%.120s\", not %s", i, s->requests[i], line);
}

void fake_server_assert_sent(const fake_server *s, int i, const char *fragment)
{
	assert_true(i < s->nrequests);
	if (strstr(s->requests[i], fragment) == NULL)
		fail_msg("request %d lacks %s:\n%s", i, fragment, s->requests[i]);
}

void fake_server_assert_not_sent(const fake_server *s, int i, const char *fragment)
{
	assert_true(i < s->nrequests);
	if (strstr(s->requests[i], fragment) != NULL)
		fail_msg("request %d has %s:\n%s", i, fragment, s->requests[i]);
}
