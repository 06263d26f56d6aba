/*
 * status.c — Status decoding. See status.h.
 *
 * The reason wins over the HTTP status where both are present, because some
 * reasons share a status: 409 is both AlreadyExists and Conflict, 410 is
 * Expired and Gone, 504 and 500 may carry Timeout.
 */
#include "kube/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/str.h"

/* The longest wait a server may ask for; more is read as this much. */
#define MAX_RETRY_AFTER_SECONDS 3600

int kube_status_code_for(long http_status, const char *reason)
{
	static const struct {
		const char *reason;
		int code;
	} by_reason[] = {
		{ "NotFound", SS_ENOTFOUND },
		{ "AlreadyExists", SS_EEXISTS },
		{ "Conflict", SS_ECONFLICT },
		{ "Gone", SS_EGONE },
		{ "Expired", SS_EGONE },
		{ "Unauthorized", SS_EUNAUTHORIZED },
		{ "Forbidden", SS_EFORBIDDEN },
		{ "Invalid", SS_EINVALID },
		{ "BadRequest", SS_EINVALID },
		{ "TooManyRequests", SS_ETOOMANYREQUESTS },
		{ "Timeout", SS_ETIMEOUT },
		{ "ServerTimeout", SS_ETIMEOUT },
		{ "MethodNotAllowed", SS_EUNSUPPORTED },
		{ "UnsupportedMediaType", SS_EUNSUPPORTED },
		{ "NotAcceptable", SS_EUNSUPPORTED },
		{ "RequestEntityTooLarge", SS_ETOOLARGE },
		{ "ServiceUnavailable", SS_ESERVER },
		{ "InternalError", SS_ESERVER },
	};
	size_t i;

	if (http_status >= 200 && http_status < 300)
		return SS_OK;
	if (reason && *reason)
		for (i = 0; i < sizeof(by_reason) / sizeof(by_reason[0]); i++)
			if (!strcmp(reason, by_reason[i].reason))
				return by_reason[i].code;
	switch (http_status) {
	case 400: return SS_EINVALID;
	case 401: return SS_EUNAUTHORIZED;
	case 403: return SS_EFORBIDDEN;
	case 404: return SS_ENOTFOUND;
	case 405: return SS_EUNSUPPORTED;
	case 409: return SS_ECONFLICT;
	case 410: return SS_EGONE;
	case 413: return SS_ETOOLARGE;
	case 415: return SS_EUNSUPPORTED;
	case 422: return SS_EINVALID;
	case 429: return SS_ETOOMANYREQUESTS;
	case 504: return SS_ETIMEOUT;
	default: break;
	}
	if (http_status >= 500)
		return SS_ESERVER;
	return SS_ERROR;
}

/* Retry-After is either delta-seconds or an HTTP date; the API server only
 * ever sends seconds, and a date is treated as "soon" (1 s). */
static int parse_retry_after(const char *value)
{
	int64_t secs;

	if (!value || !*value)
		return -1;
	while (*value == ' ')
		value++;
	if (ss_parse_int64(&secs, value, 0, MAX_RETRY_AFTER_SECONDS, "Retry-After") == 0) {
		ss_error_clear();
		return (int)secs;
	}
	ss_error_clear();
	return 1;
}

void kube_status_from_json(kube_status *out, long http_status, const json_t *status)
{
	const char *reason = json_string_value(json_object_get(status, "reason"));
	const char *message = json_string_value(json_object_get(status, "message"));
	json_t *code = json_object_get(status, "code");
	json_t *details = json_object_get(status, "details");
	json_t *retry = json_object_get(details, "retryAfterSeconds");

	memset(out, 0, sizeof(*out));
	out->retry_after_seconds = -1;
	/* The response's status wins: a 404 whose body says `code: 201` is a
	 * 404, never a success. The body's code counts only where there is
	 * no response status (a watch ERROR event), and then only a failure's
	 * (300-599): an in-stream Status is never a success. */
	if (http_status <= 0 && json_is_integer(code) && json_integer_value(code) >= 300 &&
	    json_integer_value(code) <= 599)
		http_status = (long)json_integer_value(code);
	out->http_status = http_status;
	ss_strlcpy(out->reason, reason ? reason : "", sizeof(out->reason));
	ss_strlcpy(out->message, message ? message : "", sizeof(out->message));
	/* As the header's: 0 to MAX_RETRY_AFTER_SECONDS, else none. */
	if (json_is_integer(retry) && json_integer_value(retry) >= 0)
		out->retry_after_seconds =
			json_integer_value(retry) > MAX_RETRY_AFTER_SECONDS
				? MAX_RETRY_AFTER_SECONDS
				: (int)json_integer_value(retry);
	out->code = kube_status_code_for(http_status, out->reason);
}

void kube_status_decode(kube_status *out, long http_status, const char *body,
			size_t body_len, const char *retry_after)
{
	json_t *root = NULL;
	int header_retry = parse_retry_after(retry_after);

	memset(out, 0, sizeof(*out));
	out->http_status = http_status;
	out->retry_after_seconds = -1;
	if (body && body_len > 0)
		root = json_loadb(body, body_len, 0, NULL);
	if (json_is_object(root) &&
	    ss_streq(json_string_value(json_object_get(root, "kind")), "Status")) {
		kube_status_from_json(out, http_status, root);
	} else {
		out->code = kube_status_code_for(http_status, NULL);
		if (http_status >= 300 && body && body_len > 0 && !root) {
			/* Keep the start of a non-JSON body: often the only clue. */
			size_t n = body_len < sizeof(out->message) - 1
					   ? body_len
					   : sizeof(out->message) - 1;
			memcpy(out->message, body, n);
			out->message[n] = '\0';
		}
	}
	if (header_retry >= 0)
		out->retry_after_seconds = header_retry;
	json_decref(root);
}

int kube_status_record(const kube_status *st, const char *what)
{
	const char *msg = st->message[0] ? st->message : ss_error_code_name(st->code);

	return ss_error_set_http(st->code, st->http_status, st->reason,
				 st->retry_after_seconds, "%s: %ld %s%s%s", what,
				 st->http_status, st->reason, st->reason[0] ? ": " : "",
				 msg);
}
