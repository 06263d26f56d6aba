/*
 * linesplit.h — splitting a byte stream into '\n'-terminated lines.
 *
 * A Kubernetes watch is a chunked stream of JSON objects, one per line, and
 * chunks do not respect line boundaries. Lines wholly inside a chunk are
 * handed out in place, without copying; only a line that straddles chunks is
 * assembled in a buffer. A line longer than the bound fails with
 * SS_ETOOLARGE instead of growing memory without limit.
 *
 * Lines are delivered without their '\n' (and without a trailing '\r');
 * empty lines are skipped.
 *
 * Ownership: the splitter owns its partial-line buffer; free it with
 * ss_linesplit_free(). Thread-safety: one splitter per stream and thread.
 */
#ifndef SNAPSTAGE_UTIL_LINESPLIT_H
#define SNAPSTAGE_UTIL_LINESPLIT_H

#include <stddef.h>

#include "util/buf.h"

/* Called per line; `line` is borrowed for the call and is not terminated.
 * A non-zero return stops feeding and is returned by ss_linesplit_feed(). */
typedef int (*ss_line_cb)(const char *line, size_t len, void *payload);

typedef struct {
	ss_buf partial; /* the start of a line whose end has not arrived */
	size_t max_line;
} ss_linesplit;

void ss_linesplit_init(ss_linesplit *s, size_t max_line);

/* Feeds a chunk. Returns 0, the callback's non-zero value, or SS_ETOOLARGE. */
int ss_linesplit_feed(ss_linesplit *s, const char *data, size_t len, ss_line_cb cb,
		      void *payload);

/* Bytes of an unfinished line held back (a stream that ends with pending
 * bytes was cut off mid-line). */
size_t ss_linesplit_pending(const ss_linesplit *s);

void ss_linesplit_free(ss_linesplit *s);

#endif
