/*
 * buf.h — a growable byte buffer with a hard upper bound.
 *
 * As in curl's dynbuf: every buffer is created with the largest size it may
 * ever reach, so no input from the network or a file can make it grow without
 * limit. Appending past the bound frees the buffer and fails with
 * SS_ETOOLARGE; a buffer whose append failed is empty and may be reused.
 *
 * The contents are always NUL-terminated (the terminator does not count in
 * `len`), so text can be used as a C string directly.
 *
 * A buffer made with ss_buf_init_secret() may hold a secret (an API response
 * with a Secret in it): no copy of its bytes is ever left in freed memory —
 * growing moves them to a new block and wipes the old one, and clear,
 * consume and free wipe what they drop.
 *
 * Ownership: the buffer owns `ptr`; free it with ss_buf_free() or take it with
 * ss_buf_detach(). Thread-safety: none; a buffer belongs to one thread.
 */
#ifndef SNAPSTAGE_UTIL_BUF_H
#define SNAPSTAGE_UTIL_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
	char *ptr;  /* NULL until something is appended */
	size_t len; /* bytes of content, excluding the terminator */
	size_t cap; /* bytes allocated */
	size_t max; /* the largest `len` allowed */
	bool secret; /* wipe every byte it lets go of (ss_buf_init_secret) */
} ss_buf;

#define SS_BUF_INIT(max_bytes)                 \
	{                                      \
		NULL, 0, 0, (max_bytes), false \
	}

void ss_buf_init(ss_buf *buf, size_t max_bytes);
/* The same, for a secret: see above. ss_buf_detach() hands the bytes over
 * unwiped (the caller then wipes them). */
void ss_buf_init_secret(ss_buf *buf, size_t max_bytes);

/* Append; 0, or SS_ETOOLARGE / SS_ENOMEM (the buffer is then freed). */
int ss_buf_put(ss_buf *buf, const void *data, size_t len);
int ss_buf_puts(ss_buf *buf, const char *str);
int ss_buf_putc(ss_buf *buf, char c);
int ss_buf_printf(ss_buf *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int ss_buf_vprintf(ss_buf *buf, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* The contents as a C string; "" for an empty buffer. Borrowed. */
const char *ss_buf_cstr(const ss_buf *buf);

/* Forget the contents but keep the allocation for reuse. */
void ss_buf_clear(ss_buf *buf);

/* Drop the first `n` bytes (all if n >= len). */
void ss_buf_consume(ss_buf *buf, size_t n);

/* Release the memory; the buffer is empty afterwards and keeps its bound. */
void ss_buf_free(ss_buf *buf);

/* Hand the contents to the caller (free() them) and empty the buffer. Returns
 * an allocated "" for an empty buffer; NULL only when that allocation fails. */
char *ss_buf_detach(ss_buf *buf);

#endif
