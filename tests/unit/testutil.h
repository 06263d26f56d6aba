/*
 * testutil.h — small helpers shared by the unit tests: temporary
 * directories and files, and asserting on the last error's message.
 */
#ifndef SNAPSTAGE_TESTS_TESTUTIL_H
#define SNAPSTAGE_TESTS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* A fresh directory under $TMPDIR (or /tmp); removed by tu_rmtree(). The
 * returned path is static storage valid until the next call. */
const char *tu_mkdtemp(void);
void tu_rmtree(const char *dir);

/* Writes `text` to dir/name and returns the full path (static storage, valid
 * until the next call). */
const char *tu_write(const char *dir, const char *name, const char *text);

/* Fails the test unless the last error has `code` and its message contains
 * `fragment`. */
#define tu_assert_error(code, fragment) \
	tu_assert_error_at((code), (fragment), __FILE__, __LINE__)
void tu_assert_error_at(int code, const char *fragment, const char *file, int line);

#endif
