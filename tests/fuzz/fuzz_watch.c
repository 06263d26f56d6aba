/*
 * fuzz_watch.c — libFuzzer target for a watch stream: util/linesplit.h's
 * splitter feeding kube/watch.h's event parser, as kube_watch() does, with
 * the stream cut into chunks at arbitrary places.
 *
 * An input is a line bound selector (byte 0: 0 gives 1 MiB, else 4 times
 * its value), eight chunk sizes (bytes 1-8, 0 to 96, used in turn; a 0
 * feeds an empty chunk) and the stream after them. The stream is fed once
 * whole and once in those chunks; each line is parsed as kube_watch's
 * callback does (a parse failure or an ERROR event stops the feed).
 * Beyond "no crash" (ASan, UBSan) it checks:
 *   - the property: the events decoded (type, object, resourceVersion,
 *     ERROR code), the feed's result and the bytes left pending are the
 *     same whatever the chunking;
 *   - every line handed out is non-empty, at most the bound and holds no
 *     '\n' (one '\r' before it is the CRLF's: "a\r\r\n" is "a\r");
 *   - a parsed event's resourceVersion is its object's; an ERROR event's
 *     code is never SS_OK; a parse failure is SS_EINVALID with a message.
 *
 * Thread-safety: none needed; libFuzzer calls in one thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kube/watch.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/linesplit.h"

#define CHECK(cond)                                                               \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "fuzz_watch: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                       \
			abort();                                                  \
		}                                                                 \
	} while (0)

/* What one feed decoded, written as text to compare. */
typedef struct {
	ss_buf log;
	size_t max_line;
} feed_state;

static int on_line(const char *line, size_t len, void *payload)
{
	feed_state *fs = payload;
	kube_watch_event ev;
	const json_t *rv;
	char *obj;
	int rc;

	CHECK(len > 0 && len <= fs->max_line);
	CHECK(memchr(line, '\n', len) == NULL);
	rc = kube_watch_event_parse(&ev, line, len);
	if (rc < 0) {
		CHECK(rc == SS_EINVALID);
		CHECK(ss_error_last()->message[0] != '\0');
		CHECK(ev.object == NULL);
		CHECK(ss_buf_printf(&fs->log, "invalid %.200s\n", ss_error_last()->message) ==
		      0);
		return rc;
	}
	CHECK(json_is_object(ev.object));
	rv = json_object_get(json_object_get(ev.object, "metadata"), "resourceVersion");
	CHECK(ev.resource_version == json_string_value(rv));
	obj = json_dumps(ev.object, JSON_SORT_KEYS | JSON_COMPACT);
	CHECK(obj != NULL);
	CHECK(ss_buf_printf(&fs->log, "%s %s %s\n", kube_watch_type_name(ev.type),
			    ev.resource_version ? ev.resource_version : "-", obj) == 0);
	free(obj);
	rc = 0;
	if (ev.type == KUBE_WATCH_ERROR) {
		CHECK(ev.status.code != SS_OK);
		CHECK(ss_buf_printf(&fs->log, "error %d\n", ev.status.code) == 0);
		rc = ev.status.code;
	}
	kube_watch_event_clear(&ev);
	return rc;
}

/* Feeds `stream` in chunks of `sizes` (NULL: whole); logs the result. */
static void feed(feed_state *fs, const char *stream, size_t len, const uint8_t *sizes)
{
	ss_linesplit s;
	size_t off = 0, i = 0, zeros = 0;
	int rc = 0;

	ss_linesplit_init(&s, fs->max_line);
	ss_buf_init(&fs->log, (size_t)64 << 20);
	if (!sizes) {
		rc = ss_linesplit_feed(&s, stream, len, on_line, fs);
	} else {
		while (rc == 0 && off < len) {
			size_t n = sizes[i++ % 8] % 97;

			/* eight sizes of 0 would never end */
			if (n == 0 && ++zeros > 8)
				n = 1;
			else if (n > 0)
				zeros = 0;
			if (n > len - off)
				n = len - off;
			rc = ss_linesplit_feed(&s, stream + off, n, on_line, fs);
			off += n;
		}
	}
	CHECK(ss_buf_printf(&fs->log, "rc %d pending %zu\n", rc,
			    rc == 0 ? ss_linesplit_pending(&s) : 0) == 0);
	CHECK(ss_linesplit_pending(&s) <= fs->max_line);
	ss_linesplit_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	feed_state whole = { 0 }, chunked = { 0 };

	if (size < 9)
		return 0;
	whole.max_line = chunked.max_line = data[0] ? (size_t)data[0] * 4 : (size_t)1 << 20;
	feed(&whole, (const char *)data + 9, size - 9, NULL);
	feed(&chunked, (const char *)data + 9, size - 9, data + 1);
	if (whole.log.len != chunked.log.len || memcmp(whole.log.ptr, chunked.log.ptr,
						       whole.log.len))
		fprintf(stderr, "whole:\n%.*s\nchunked:\n%.*s\n", (int)whole.log.len,
			whole.log.ptr, (int)chunked.log.len, chunked.log.ptr);
	CHECK(whole.log.len == chunked.log.len);
	CHECK(!memcmp(whole.log.ptr, chunked.log.ptr, whole.log.len));
	ss_buf_free(&whole.log);
	ss_buf_free(&chunked.log);
	return 0;
}
