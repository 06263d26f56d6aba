/*
 * watch.c — streaming watches. See watch.h.
 *
 * The transfer is an ordinary request set up by the shared transport; the
 * body is fed through a line splitter, each line parsed as one event. Any
 * reason to stop (callback, ERROR event, oversized line, cancel) aborts the
 * transfer from inside curl's callbacks and is remembered in `stop`, so the
 * result reflects why the stream ended, not curl's generic "aborted".
 */
#include "kube/watch.h"

#include <string.h>

#include "kube/client_internal.h"
#include "util/error.h"
#include "util/linesplit.h"

#define MAX_QUERY_BYTES 8192
#define MAX_ERROR_BODY_BYTES 65536
#define CLIENT_TIMEOUT_MARGIN_SECONDS 30

typedef struct {
	CURL *easy;
	const kube_request *req;
	kube_watch_cb cb;
	void *payload;
	ss_linesplit split;
	long http;	   /* 0 until the response status is known */
	ss_buf error_body; /* the body of a non-2xx answer, truncated */
	int stop;	   /* why the transfer was aborted; 0 if it was not */
	atomic_bool *cancel;
} watch_state;

const char *kube_watch_type_name(kube_watch_type type)
{
	switch (type) {
	case KUBE_WATCH_ADDED: return "ADDED";
	case KUBE_WATCH_MODIFIED: return "MODIFIED";
	case KUBE_WATCH_DELETED: return "DELETED";
	case KUBE_WATCH_BOOKMARK: return "BOOKMARK";
	case KUBE_WATCH_ERROR: return "ERROR";
	}
	return "UNKNOWN";
}

void kube_watch_event_clear(kube_watch_event *ev)
{
	json_decref(ev->object);
	ev->object = NULL;
	ev->resource_version = NULL;
}

int kube_watch_event_parse(kube_watch_event *out, const char *line, size_t len)
{
	static const struct {
		const char *name;
		kube_watch_type type;
	} types[] = {
		{ "ADDED", KUBE_WATCH_ADDED },	   { "MODIFIED", KUBE_WATCH_MODIFIED },
		{ "DELETED", KUBE_WATCH_DELETED }, { "BOOKMARK", KUBE_WATCH_BOOKMARK },
		{ "ERROR", KUBE_WATCH_ERROR },
	};
	json_error_t jerr;
	json_t *root = json_loadb(line, len, 0, &jerr);
	const char *type;
	json_t *object;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!root)
		return ss_error_set(SS_EINVALID, "watch event is not JSON: %s",
				    jerr.text);
	type = json_string_value(json_object_get(root, "type"));
	object = json_object_get(root, "object");
	if (!type || !json_is_object(object)) {
		json_decref(root);
		return ss_error_set(SS_EINVALID,
				    "watch event needs a type and an object");
	}
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(type, types[i].name))
			break;
	if (i == sizeof(types) / sizeof(types[0])) {
		ss_error_set(SS_EINVALID, "unknown watch event type '%s'", type);
		json_decref(root);
		return SS_EINVALID;
	}
	out->type = types[i].type;
	out->object = json_incref(object);
	json_decref(root);
	out->resource_version = json_string_value(json_object_get(
		json_object_get(out->object, "metadata"), "resourceVersion"));
	if (out->type == KUBE_WATCH_ERROR)
		kube_status_from_json(&out->status, 0, out->object);
	return 0;
}

static int on_line(const char *line, size_t len, void *payload)
{
	watch_state *st = payload;
	kube_watch_event ev;
	int rc = kube_watch_event_parse(&ev, line, len);

	if (rc < 0)
		return rc;
	if (ev.type == KUBE_WATCH_ERROR) {
		rc = ev.status.code != SS_OK ? ev.status.code : SS_ERROR;
		ev.status.code = rc;
		kube_status_record(&ev.status, "watch");
	} else {
		rc = st->cb(&ev, st->payload);
	}
	kube_watch_event_clear(&ev);
	return rc;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userp)
{
	watch_state *st = userp;
	size_t len = size * n;
	int rc;

	if (st->http == 0)
		curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &st->http);
	if (st->http < 200 || st->http >= 300) {
		size_t room = MAX_ERROR_BODY_BYTES - st->error_body.len;

		ss_buf_put(&st->error_body, data, len < room ? len : room);
		return len;
	}
	rc = ss_linesplit_feed(&st->split, data, len, on_line, st);
	if (rc != 0) {
		st->stop = rc;
		return 0; /* aborts the transfer */
	}
	return len;
}

static int progress_cb(void *userp, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	watch_state *st = userp;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (st->cancel && atomic_load(st->cancel)) {
		st->stop = SS_ECANCELLED;
		return 1;
	}
	return 0;
}

static int watch_query(ss_buf *q, const kube_watch_opts *opts)
{
	int error = kube_url_query_add(q, "watch", "1");

	if (error == 0)
		error = kube_url_query_add(q, "resourceVersion", opts->resource_version);
	if (error == 0 && opts->allow_bookmarks)
		error = kube_url_query_add(q, "allowWatchBookmarks", "true");
	if (error == 0 && opts->timeout_seconds > 0)
		error = kube_url_query_add_long(q, "timeoutSeconds",
						opts->timeout_seconds);
	if (error == 0)
		error = kube_url_query_add(q, "labelSelector", opts->label_selector);
	if (error == 0)
		error = kube_url_query_add(q, "fieldSelector", opts->field_selector);
	return error;
}

static int finish(watch_state *st, kube_transport *t, CURLcode rc)
{
	kube_status status;
	ss_buf what = SS_BUF_INIT(16384);
	int error;

	if (st->stop == SS_ECANCELLED)
		return ss_error_set(SS_ECANCELLED, "watch cancelled");
	if (st->stop != 0)
		return st->stop;
	if (st->http == 0)
		curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &st->http);
	if (rc != CURLE_OK)
		return kube_transport_error(t, rc, st->req);
	if (st->http < 200 || st->http >= 300) {
		kube_status_decode(&status, st->http, st->error_body.ptr,
				   st->error_body.len, t->retry_after);
		kube_transport_describe(&what, t, st->req);
		error = kube_status_record(&status, ss_buf_cstr(&what));
		ss_buf_free(&what);
		return error;
	}
	if (ss_linesplit_pending(&st->split) > 0)
		return ss_error_set(SS_ETRANSPORT,
				    "watch stream ended in the middle of an event");
	return 0;
}

int kube_watch(kube_client *c, const kube_resource *res, const char *ns,
	       const kube_watch_opts *opts, kube_watch_cb cb, void *payload)
{
	static const kube_watch_opts defaults = { 0 };
	ss_buf q = SS_BUF_INIT(MAX_QUERY_BYTES);
	kube_request req = { .method = "GET", .resource = res, .ns = ns };
	kube_transport t = { 0 };
	watch_state st = { 0 };
	CURLcode rc;
	int error;

	if (!opts)
		opts = &defaults;
	ss_linesplit_init(&st.split, opts->max_event_bytes
					     ? opts->max_event_bytes
					     : KUBE_WATCH_DEFAULT_MAX_EVENT);
	ss_buf_init(&st.error_body, MAX_ERROR_BODY_BYTES);
	st.req = &req;
	st.cb = cb;
	st.payload = payload;
	st.cancel = opts->cancel;
	error = watch_query(&q, opts);
	if (error < 0)
		goto done;
	req.query = ss_buf_cstr(&q);
	error = kube_transport_begin(&t, c, &req, true, false);
	if (error < 0)
		goto done;
	st.easy = t.easy;
	curl_easy_setopt(t.easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(t.easy, CURLOPT_WRITEDATA, &st);
	curl_easy_setopt(t.easy, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(t.easy, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(t.easy, CURLOPT_XFERINFODATA, &st);
	if (opts->timeout_seconds > 0)
		/* A backstop should the server never end the stream. */
		curl_easy_setopt(t.easy, CURLOPT_TIMEOUT,
				 opts->timeout_seconds + CLIENT_TIMEOUT_MARGIN_SECONDS);
	rc = curl_easy_perform(t.easy);
	kube_client_observe(c, &req, true, t.easy);
	error = finish(&st, &t, rc);
	if (error == SS_EUNAUTHORIZED)
		/* The caller's next attempt must use a rotated token. */
		kube_client_reload_token(c);
done:
	kube_transport_end(&t);
	ss_linesplit_free(&st.split);
	ss_buf_free(&st.error_body);
	ss_buf_free(&q);
	return error;
}
