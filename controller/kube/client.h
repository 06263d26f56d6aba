/*
 * client.h — a thin, general Kubernetes API client on libcurl and jansson.
 *
 * One kube_client talks to one API server with one identity. It keeps
 * connections alive across requests (a libcurl share of connections, DNS and
 * TLS sessions), so many threads can use one client and reuse its
 * connections. Requests and responses are JSON (jansson values).
 *
 * Behaviour worth knowing:
 *   - Errors are decoded from the server's Status into util/error.h codes
 *     (see kube/status.h); the server's message is kept in the last error.
 *   - 429, and 5xx answers that carry Retry-After, are retried after the
 *     server's delay (capped) a bounded number of times, as client-go does.
 *   - With a token file (in-cluster), the token is re-read every
 *     `token_refresh_seconds` and at once after a 401, which is then retried
 *     once: rotated service-account tokens just work.
 *   - A thread may set a deadline (kube_deadline_set) that bounds every
 *     request it makes, retries and their waits included.
 *   - Tokens and keys are never logged and are wiped when freed.
 *
 * Call kube_global_init() once before creating clients (it sets up libcurl)
 * and kube_global_cleanup() at exit.
 *
 * Ownership: kube_client_new() copies the config; the caller keeps its own.
 * Every `json_t **out` receives a new reference the caller must json_decref();
 * outputs are written only on success. Thread-safety: a kube_client may be
 * used from many threads at once; kube_client_free() must not race with use.
 * A request deadline belongs to the thread that set it (thread-local).
 */
#ifndef SNAPSTAGE_KUBE_CLIENT_H
#define SNAPSTAGE_KUBE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kube/config.h"
#include "kube/url.h"

typedef struct kube_client kube_client;

typedef struct {
	long timeout_ms; /* a whole request (not a watch) */
	long connect_timeout_ms;
	int max_retries;	     /* for 429 / 5xx with Retry-After */
	int max_retry_after_seconds; /* longest single wait for Retry-After */
	long token_refresh_seconds;  /* re-read a token file after this long */
	size_t max_response_bytes;   /* larger responses fail with SS_ETOOLARGE */
	const char *user_agent;
	/* Optional: told about every HTTP exchange, retries included, from the
	 * thread that made it, so it must be thread-safe and quick. `verb` is
	 * the method, "LIST" for a GET of a collection or "WATCH" (reported
	 * when the stream ends); `http_status` is the response's status, 0 when
	 * none arrived (connection, TLS or timeout failure); `seconds` is the
	 * exchange's duration. It must not record an error: the exchange's
	 * own error may already be set. NULL in KUBE_CLIENT_OPTS_INIT. The kube
	 * layer knows nothing of metrics: ctrl plugs its recorder in here. */
	void (*on_request)(void *payload, const char *verb, long http_status,
			   double seconds);
	void *on_request_payload;
} kube_client_opts;

/* Positional, so new fields go at the end (and get a NULL/0 here). */
#define KUBE_CLIENT_OPTS_INIT                                                       \
	{                                                                           \
		30000, 10000, 3, 10, 60, (size_t)256 << 20, "snapstage", NULL, NULL \
	}

int kube_global_init(void);
void kube_global_cleanup(void);

/* `opts` may be NULL for the defaults. */
int kube_client_new(kube_client **out, const kube_config *cfg,
		    const kube_client_opts *opts);
void kube_client_free(kube_client *client);

/* A write gate: asked before every attempt of every request that is not a
 * GET (retries included), right before it is sent. A non-NULL answer (a
 * static reason) refuses it: the request fails with SS_ECANCELLED, the
 * message naming the request and the reason, and nothing is sent. `gate`
 * runs on the requesting thread, so it must be thread-safe and quick. ctrl
 * plugs leadership in here, so that a process which is no longer sure it
 * holds the Lease (stopped, starved, cut off) writes nothing. Set it before
 * the client is used from more than one thread; NULL removes it. */
typedef const char *(*kube_write_gate_fn)(void *payload);
void kube_client_set_write_gate(kube_client *client, kube_write_gate_fn gate,
				void *payload);

/* The configured default namespace; borrowed, lives as long as the client. */
const char *kube_client_namespace(const kube_client *client);
const char *kube_client_server(const kube_client *client);

/* One API request. Either `resource` (with ns/name/subresource) or a raw
 * `path` such as "/apis" addresses it. */
typedef struct {
	const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const kube_resource *resource;
	const char *ns;
	const char *name;
	const char *subresource;
	const char *path;	  /* used when resource is NULL */
	const char *query;	  /* already escaped, without '?'; may be NULL */
	const json_t *body;	  /* NULL: no body */
	const char *content_type; /* NULL: application/json */
	/* The response holds a secret (a Secret's data): its bytes are wiped
	 * from every buffer of ours they pass through (util/buf.h). */
	bool sensitive;
} kube_request;

/* Performs `req`. On success *out (if out is not NULL) is the decoded JSON
 * response, or JSON null for an empty body. */
int kube_request_do(json_t **out, kube_client *client, const kube_request *req);

/*
 * Request deadlines: a bound on all API work of one thread, without passing
 * options through every verb. A thread that must be done by a fixed instant
 * (the Backup controller while it holds a database lock) sets a deadline;
 * until it clears it, every request that thread makes through any client —
 * kube_request_do(), so every verb of rest.h and the writes of ctrl/writes.h
 * — obeys it:
 *   - a request begun with no time left fails with SS_ETIMEOUT at once and
 *     sends nothing;
 *   - its transfer timeout and connect timeout are the client's or the time
 *     left (rounded up to a whole millisecond), whichever is shorter; a
 *     transfer cut by the deadline fails with SS_ETIMEOUT;
 *   - a retry whose wait (Retry-After after 429/5xx) would reach the
 *     deadline is not taken: the request fails at once with SS_ETIMEOUT,
 *     keeping the HTTP status, reason and Retry-After of the answer it did
 *     not retry. A retry without a wait (a 401 re-read of a token file) is
 *     taken while time is left, bounded like any request.
 * Messages name the budget: "POST /apis/…: the lock budget ran out: …".
 * Watches (kube_watch) ignore deadlines: they are long-lived by design.
 *
 * `mono_deadline_ns` is CLOCK_MONOTONIC in nanoseconds, as
 * ss_clock_mono(ss_clock_system()) reads it (never an injected clock: it
 * bounds real time). `what` names the budget in messages ("the lock
 * budget"); it is copied (at most 63 bytes); NULL means "the request
 * deadline". Setting replaces an earlier deadline of the thread; clearing
 * restores the client's own timeouts. Thread-local: other threads' requests
 * are not affected, and a thread that sets one must clear it before it
 * does unrelated work (a worker thread returning to its queue).
 */
void kube_deadline_set(int64_t mono_deadline_ns, const char *what);
void kube_deadline_clear(void);

/* Nanoseconds left before this thread's deadline (0 or less: it passed);
 * INT64_MAX when none is set. */
int64_t kube_deadline_remaining_ns(void);

/* For callers that wait between requests (ctrl_write_status's conflict
 * backoff): 0 when no deadline is set or a wait of `wait_ns` from now ends
 * before it; otherwise records SS_ETIMEOUT, "<doing>: <what> ran out (a wait
 * of N ms, M ms left)", and returns it. `doing` may be NULL. */
int kube_deadline_check_wait(int64_t wait_ns, const char *doing);

#endif
