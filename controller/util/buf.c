/*
 * buf.c — bounded growable buffer. See buf.h.
 *
 * Growth doubles the allocation (amortised O(1) appends) but never beyond
 * max + 1 bytes, the +1 being the terminator.
 */
#include "util/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/str.h"

void ss_buf_init(ss_buf *buf, size_t max_bytes)
{
	buf->ptr = NULL;
	buf->len = 0;
	buf->cap = 0;
	buf->max = max_bytes;
	buf->secret = false;
}

void ss_buf_init_secret(ss_buf *buf, size_t max_bytes)
{
	ss_buf_init(buf, max_bytes);
	buf->secret = true;
}

/* A bigger block for buf's bytes: realloc, or for a secret a new block and
 * the old one wiped and freed (realloc may leave the old bytes behind). */
static char *move_to(ss_buf *buf, size_t cap)
{
	char *ptr;

	if (!buf->secret)
		return realloc(buf->ptr, cap);
	ptr = malloc(cap);
	if (ptr && buf->ptr) {
		memcpy(ptr, buf->ptr, buf->len + 1);
		ss_free_secret(buf->ptr, buf->cap);
	}
	return ptr;
}

static int grow(ss_buf *buf, size_t extra)
{
	size_t need, cap;
	char *ptr;

	if (extra > buf->max || buf->len > buf->max - extra) {
		size_t max = buf->max;

		ss_buf_free(buf);
		return ss_error_set(SS_ETOOLARGE,
				    "buffer would exceed its limit of %zu bytes", max);
	}
	need = buf->len + extra + 1;
	if (need <= buf->cap)
		return 0;
	cap = buf->cap ? buf->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > buf->max + 1)
		cap = buf->max + 1;
	ptr = move_to(buf, cap);
	if (!ptr) {
		ss_buf_free(buf);
		return ss_error_set(SS_ENOMEM, "out of memory growing a buffer");
	}
	buf->ptr = ptr;
	buf->cap = cap;
	return 0;
}

int ss_buf_put(ss_buf *buf, const void *data, size_t len)
{
	int error = grow(buf, len);

	if (error < 0)
		return error;
	if (len > 0)
		memcpy(buf->ptr + buf->len, data, len);
	buf->len += len;
	buf->ptr[buf->len] = '\0';
	return 0;
}

int ss_buf_puts(ss_buf *buf, const char *str)
{
	return ss_buf_put(buf, str, strlen(str));
}

int ss_buf_putc(ss_buf *buf, char c)
{
	return ss_buf_put(buf, &c, 1);
}

int ss_buf_vprintf(ss_buf *buf, const char *fmt, va_list ap)
{
	va_list copy;
	int n;
	int error;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return ss_error_set(SS_EINVALID, "bad format string");
	error = grow(buf, (size_t)n);
	if (error < 0)
		return error;
	vsnprintf(buf->ptr + buf->len, (size_t)n + 1, fmt, ap);
	buf->len += (size_t)n;
	return 0;
}

int ss_buf_printf(ss_buf *buf, const char *fmt, ...)
{
	va_list ap;
	int error;

	va_start(ap, fmt);
	error = ss_buf_vprintf(buf, fmt, ap);
	va_end(ap);
	return error;
}

const char *ss_buf_cstr(const ss_buf *buf)
{
	return buf->ptr ? buf->ptr : "";
}

void ss_buf_clear(ss_buf *buf)
{
	if (buf->secret && buf->ptr)
		ss_wipe(buf->ptr, buf->len);
	buf->len = 0;
	if (buf->ptr)
		buf->ptr[0] = '\0';
}

void ss_buf_consume(ss_buf *buf, size_t n)
{
	if (n >= buf->len) {
		ss_buf_clear(buf);
		return;
	}
	memmove(buf->ptr, buf->ptr + n, buf->len - n);
	if (buf->secret)
		ss_wipe(buf->ptr + buf->len - n, n); /* the moved bytes' old place */
	buf->len -= n;
	buf->ptr[buf->len] = '\0';
}

void ss_buf_free(ss_buf *buf)
{
	if (buf->secret && buf->ptr)
		ss_wipe(buf->ptr, buf->cap);
	free(buf->ptr);
	buf->ptr = NULL;
	buf->len = 0;
	buf->cap = 0;
}

char *ss_buf_detach(ss_buf *buf)
{
	char *out = buf->ptr;

	if (!out) {
		out = calloc(1, 1);
		if (!out)
			ss_error_set(SS_ENOMEM, "out of memory");
		return out;
	}
	buf->ptr = NULL;
	buf->len = 0;
	buf->cap = 0;
	return out;
}
