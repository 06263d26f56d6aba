/*
 * error.c — the thread-local last error. See error.h.
 *
 * Fixed-size thread-local storage rather than heap strings: recording an
 * error must never itself fail, least of all when memory runs out.
 */
#include "util/error.h"

#include <stdio.h>
#include <string.h>

typedef struct {
	int code;
	long http_status;
	int retry_after_seconds;
	char message[SS_ERROR_MESSAGE_MAX];
	char reason[SS_ERROR_REASON_MAX];
} error_slot;

static _Thread_local error_slot last;
static _Thread_local ss_error view;

static void set_text(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= cap)
		n = cap - 1;
	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

int ss_error_vset(int code, const char *fmt, va_list ap)
{
	char text[SS_ERROR_MESSAGE_MAX];

	/* Format first: callers may wrap the previous message, which lives in
	 * the buffer being replaced. A cut message is still useful. */
	vsnprintf(text, sizeof(text), fmt, ap);
	memcpy(last.message, text, sizeof(text));
	last.code = code;
	last.http_status = 0;
	last.retry_after_seconds = -1;
	last.reason[0] = '\0';
	return code;
}

int ss_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ss_error_vset(code, fmt, ap);
	va_end(ap);
	return code;
}

int ss_error_set_http(int code, long http_status, const char *reason,
		      int retry_after_seconds, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ss_error_vset(code, fmt, ap);
	va_end(ap);
	last.http_status = http_status;
	last.retry_after_seconds = retry_after_seconds;
	set_text(last.reason, sizeof(last.reason), reason);
	return code;
}

const ss_error *ss_error_last(void)
{
	view.code = last.code;
	view.message = last.message;
	view.reason = last.reason;
	view.http_status = last.http_status;
	view.retry_after_seconds = last.code == SS_OK ? -1 : last.retry_after_seconds;
	return &view;
}

void ss_error_clear(void)
{
	last.code = SS_OK;
	last.http_status = 0;
	last.retry_after_seconds = -1;
	last.message[0] = '\0';
	last.reason[0] = '\0';
}

const char *ss_error_code_name(int code)
{
	switch (code) {
	case SS_OK: return "ok";
	case SS_ERROR: return "error";
	case SS_ENOMEM: return "out of memory";
	case SS_EINVALID: return "invalid";
	case SS_ENOTFOUND: return "not found";
	case SS_EEXISTS: return "already exists";
	case SS_ECONFLICT: return "conflict";
	case SS_EGONE: return "gone";
	case SS_EUNAUTHORIZED: return "unauthorized";
	case SS_EFORBIDDEN: return "forbidden";
	case SS_ETOOMANYREQUESTS: return "too many requests";
	case SS_ETIMEOUT: return "timeout";
	case SS_ETRANSPORT: return "transport error";
	case SS_ESERVER: return "server error";
	case SS_ETOOLARGE: return "too large";
	case SS_EUNSUPPORTED: return "unsupported";
	case SS_ECANCELLED: return "cancelled";
	default: return "unknown error";
	}
}
