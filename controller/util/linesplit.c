/*
 * linesplit.c — see linesplit.h.
 */
#include "util/linesplit.h"

#include <string.h>

#include "util/error.h"

void ss_linesplit_init(ss_linesplit *s, size_t max_line)
{
	ss_buf_init(&s->partial, max_line);
	s->max_line = max_line;
}

static int emit(const char *line, size_t len, ss_line_cb cb, void *payload)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	return len > 0 ? cb(line, len, payload) : 0;
}

static int too_long(ss_linesplit *s)
{
	ss_buf_free(&s->partial);
	return ss_error_set(SS_ETOOLARGE, "a line of the stream is longer than %zu bytes",
			    s->max_line);
}

int ss_linesplit_feed(ss_linesplit *s, const char *data, size_t len, ss_line_cb cb,
		      void *payload)
{
	const char *end = data + len;
	int rc;

	while (data < end) {
		const char *nl = memchr(data, '\n', (size_t)(end - data));
		size_t n = nl ? (size_t)(nl - data) : (size_t)(end - data);

		if (s->partial.len + n > s->max_line)
			return too_long(s);
		if (!nl) {
			/* Hold the unfinished line until the next chunk. */
			return ss_buf_put(&s->partial, data, n);
		}
		if (s->partial.len == 0) {
			rc = emit(data, n, cb, payload);
		} else {
			rc = ss_buf_put(&s->partial, data, n);
			if (rc == 0)
				rc = emit(s->partial.ptr, s->partial.len, cb, payload);
			ss_buf_clear(&s->partial);
		}
		if (rc != 0)
			return rc;
		data = nl + 1;
	}
	return 0;
}

size_t ss_linesplit_pending(const ss_linesplit *s)
{
	return s->partial.len;
}

void ss_linesplit_free(ss_linesplit *s)
{
	ss_buf_free(&s->partial);
}
