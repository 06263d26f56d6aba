/*
 * status.h — turning an API server's answer into an ss_error_code.
 *
 * The API server explains every failure with a metav1.Status body: `code`
 * (the HTTP status), `reason` (AlreadyExists, Conflict, Expired, …) and a
 * `message`. kube_status_decode() maps that to the distinct codes of
 * util/error.h a caller can act on, keeping the server's message; when the
 * body is not a Status (a proxy's HTML, an empty 503) the HTTP status alone
 * decides.
 *
 * Pure functions, no I/O. Thread-safety: reentrant, except that
 * kube_status_record() writes this thread's last error.
 */
#ifndef SNAPSTAGE_KUBE_STATUS_H
#define SNAPSTAGE_KUBE_STATUS_H

#include <stddef.h>

#include <jansson.h>

#define KUBE_STATUS_MESSAGE_MAX 512

typedef struct {
	int code;	  /* ss_error_code; SS_OK for 2xx */
	long http_status; /* the response's; the body's `code` (300-599) only
			     where there is none (a watch ERROR event) */
	char reason[64];  /* metav1.StatusReason, "" if none */
	char message[KUBE_STATUS_MESSAGE_MAX];
	int retry_after_seconds; /* Retry-After header or details.retryAfterSeconds,
				    at most 3600; -1 if none */
} kube_status;

/* The code for an HTTP status and Status reason (either may be 0/NULL). */
int kube_status_code_for(long http_status, const char *reason);

/* Decodes a response: `body` may be NULL or not JSON. `retry_after` is the
 * raw Retry-After header value or NULL. Never fails. */
void kube_status_decode(kube_status *out, long http_status, const char *body,
			size_t body_len, const char *retry_after);

/* The same for a Status object already parsed (e.g. a watch ERROR event,
 * with http_status 0: then the body's code decides, and a Status that
 * claims success, or no code at all, is still SS_ERROR, never SS_OK). */
void kube_status_from_json(kube_status *out, long http_status, const json_t *status);

/* Records `st` as this thread's last error, prefixed with `what` (e.g.
 * "GET /api/v1/…"); returns st->code. */
int kube_status_record(const kube_status *st, const char *what);

#endif
