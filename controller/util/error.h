/*
 * error.h — how every snapstage function reports failure.
 *
 * In the style of libgit2: a function returns an int, 0 on success and a
 * negative ss_error_code on failure. The human-readable message is recorded
 * once, where the failure is detected, with ss_error_set(); callers propagate
 * the code and leave the message alone, so the text that reaches a log line
 * or a status condition says what actually went wrong.
 *
 * Expected failures a caller can act on (not found, conflict, gone, …) have
 * their own codes; everything else is SS_ERROR. Errors that came from an HTTP
 * exchange also carry the HTTP status, the Kubernetes Status reason and any
 * Retry-After the server asked for.
 *
 * Thread-safety: the last error is thread-local; nothing here is shared.
 * Messages are truncated to SS_ERROR_MESSAGE_MAX bytes.
 */
#ifndef SNAPSTAGE_UTIL_ERROR_H
#define SNAPSTAGE_UTIL_ERROR_H

#include <stdarg.h>

#define SS_ERROR_MESSAGE_MAX 1024
#define SS_ERROR_REASON_MAX 64

typedef enum {
	SS_OK = 0,
	SS_ERROR = -1,		   /* no more specific code applies */
	SS_ENOMEM = -2,		   /* an allocation failed */
	SS_EINVALID = -3,	   /* malformed input; the server said Invalid */
	SS_ENOTFOUND = -4,	   /* the object, file or key does not exist */
	SS_EEXISTS = -5,	   /* create of something that already exists */
	SS_ECONFLICT = -6,	   /* stale resourceVersion or failed precondition */
	SS_EGONE = -7,		   /* resourceVersion or continue token too old: relist */
	SS_EUNAUTHORIZED = -8,	   /* the server does not know who we are */
	SS_EFORBIDDEN = -9,	   /* the server knows us and says no (RBAC) */
	SS_ETOOMANYREQUESTS = -10, /* throttled: wait Retry-After and try again */
	SS_ETIMEOUT = -11,	   /* a server- or client-side timeout */
	SS_ETRANSPORT = -12,	   /* connection, TLS or protocol failure */
	SS_ESERVER = -13,	   /* a 5xx that is not a timeout */
	SS_ETOOLARGE = -14,	   /* a hard size bound was hit */
	SS_EUNSUPPORTED = -15,	   /* valid input we deliberately do not handle */
	SS_ECANCELLED = -16,	   /* stopped on request */
} ss_error_code;

typedef struct {
	int code;	     /* an ss_error_code; SS_OK when no error is recorded */
	const char *message; /* never NULL; "" when no error is recorded */
	const char
		*reason;  /* Kubernetes Status reason, e.g. "AlreadyExists"; "" if none */
	long http_status; /* HTTP status of the failed exchange; 0 if none */
	int retry_after_seconds; /* the server's Retry-After; -1 if none */
} ss_error;

/* Records `code` and a printf-style message as this thread's last error and
 * returns `code`, so a failure reads `return ss_error_set(SS_EINVALID, ...)`. */
int ss_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ss_error_vset(int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Like ss_error_set() for a failure that came from an HTTP exchange. `reason`
 * may be NULL; `retry_after_seconds` is -1 when the server gave none. */
int ss_error_set_http(int code, long http_status, const char *reason,
		      int retry_after_seconds, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* This thread's last error. Never NULL; borrowed, valid until the next
 * ss_error_set*() or ss_error_clear() on this thread. */
const ss_error *ss_error_last(void);

void ss_error_clear(void);

/* A stable name for a code ("not found", "conflict", …) for logs and tests. */
const char *ss_error_code_name(int code);

#endif
