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
 *   - Tokens and keys are never logged and are wiped when freed.
 *
 * Call kube_global_init() once before creating clients (it sets up libcurl)
 * and kube_global_cleanup() at exit.
 *
 * Ownership: kube_client_new() copies the config; the caller keeps its own.
 * Every `json_t **out` receives a new reference the caller must json_decref();
 * outputs are written only on success. Thread-safety: a kube_client may be
 * used from many threads at once; kube_client_free() must not race with use.
 */
#ifndef SNAPSTAGE_KUBE_CLIENT_H
#define SNAPSTAGE_KUBE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

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
} kube_request;

/* Performs `req`. On success *out (if out is not NULL) is the decoded JSON
 * response, or JSON null for an empty body. */
int kube_request_do(json_t **out, kube_client *client, const kube_request *req);

#endif
