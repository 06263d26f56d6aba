/*
 * fake_server.h — a scripted HTTP/1.1 server on 127.0.0.1 for unit tests of
 * transport behaviour the real API server cannot be made to show on demand
 * (429 with Retry-After, rotated tokens, a stream cut mid-event).
 *
 * Responses are served in script order across all connections; each request
 * seen is recorded. A connection is kept alive unless a response says
 * close. A response may be delayed (a slow server). One thread per
 * connection; fake_server_stop() joins them all.
 */
#ifndef SNAPSTAGE_TESTS_FAKE_SERVER_H
#define SNAPSTAGE_TESTS_FAKE_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define FAKE_MAX_SCRIPT 16
#define FAKE_MAX_CONNS 16
#define FAKE_MAX_CHUNKS 8
#define FAKE_REQ_MAX 8192

typedef struct {
	int status;
	const char *headers;		     /* extra header lines, each ending "\r\n" */
	const char *body;		     /* sent with Content-Length unless chunks */
	const char *chunks[FAKE_MAX_CHUNKS]; /* chunked body, in pieces */
	bool truncate;	   /* end the connection without the final chunk */
	bool hold_open;	   /* after the chunks, wait for the client to leave */
	bool require_auth; /* 401 unless Authorization matches `auth` */
	const char *auth;
	int delay_ms; /* wait this long (or until stop) before answering */
} fake_response;

typedef struct {
	int listen_fd;
	int port;
	pthread_t acceptor;
	pthread_t conns[FAKE_MAX_CONNS];
	int nconns;
	pthread_mutex_t lock;
	fake_response script[FAKE_MAX_SCRIPT];
	int nscript;
	int next;
	char requests[FAKE_MAX_SCRIPT][FAKE_REQ_MAX];
	int nrequests;
	atomic_bool stop;
} fake_server;

void fake_server_start(fake_server *s);
/* Appends a response to the script (before or while requests arrive). */
void fake_server_add(fake_server *s, const fake_response *r);
void fake_server_stop(fake_server *s);
/* "http://127.0.0.1:PORT" (static storage). */
const char *fake_server_url(const fake_server *s);

/* A kube_client of the fake server, as a test's fixture needs it: read
 * from a kubeconfig naming the server, bearer token `token` and, unless
 * NULL, default namespace `ns` (files relative to `dir`). Fails the test
 * (cmocka) if it cannot be made; the caller frees it. */
struct kube_client;
struct kube_client *fake_server_client(const fake_server *s, const char *dir,
				       const char *token, const char *ns);

/* Assertions on what the server received (cmocka: fail the test): request
 * i's request line starts with "METHOD PATH"; its text contains, or does
 * not contain, `fragment`. */
void fake_server_assert_request(const fake_server *s, int i, const char *method,
				const char *path);
void fake_server_assert_sent(const fake_server *s, int i, const char *fragment);
void fake_server_assert_not_sent(const fake_server *s, int i, const char *fragment);

#endif
