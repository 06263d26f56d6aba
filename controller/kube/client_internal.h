/*
 * client_internal.h — what client.c shares with watch.c, and nobody else.
 *
 * A watch is an ordinary request whose body streams, so it is set up by the
 * same code (URL, TLS, auth, connection share) and only reads differently.
 */
#ifndef SNAPSTAGE_KUBE_CLIENT_INTERNAL_H
#define SNAPSTAGE_KUBE_CLIENT_INTERNAL_H

#include <curl/curl.h>

#include "kube/client.h"
#include "util/buf.h"

/* Per-request state the transport owns: free with kube_transport_end(). */
typedef struct {
	CURL *easy;
	struct curl_slist *headers;
	ss_buf auth_header; /* secret: wiped in kube_transport_end() */
	ss_buf url;
	char errbuf[CURL_ERROR_SIZE];
	char retry_after[32]; /* the Retry-After header, if any */
} kube_transport;

/* Prepares `t` for `req` without performing it. `streaming` requests have
 * no overall timeout (they end by the server's timeoutSeconds) and ignore
 * the thread's deadline; other requests are bounded by it, and fail with
 * SS_ETIMEOUT here, before any I/O, when it has passed (see client.h). When
 * `force_token_reload` is set the token file is re-read first. */
int kube_transport_begin(kube_transport *t, kube_client *client, const kube_request *req,
			 bool streaming, bool force_token_reload);
void kube_transport_end(kube_transport *t);

/* Whether the client's credentials come from a token file (401 → re-read). */
bool kube_client_has_token_file(const kube_client *client);

/* Re-reads the token file now, keeping the old token if that fails. A
 * no-op without a token file. */
void kube_client_reload_token(kube_client *client);

/* "GET /api/v1/…" for messages; borrowed from `t`. */
int kube_transport_describe(ss_buf *out, const kube_transport *t,
			    const kube_request *req);

/* Reports a finished exchange to the client's on_request observer, if any:
 * verb from `req` ("WATCH" when `streaming`), status and time from `easy`. */
void kube_client_observe(const kube_client *client, const kube_request *req,
			 bool streaming, CURL *easy);

/* Maps a failed curl_easy_perform() to an ss_error_code, recording it. */
int kube_transport_error(const kube_transport *t, CURLcode rc, const kube_request *req);

#endif
