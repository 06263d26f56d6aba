/*
 * testutil.h — small helpers shared by the unit tests: temporary
 * directories and files, asserting on the last error's message, and
 * building JSON test objects. A failed helper fails the running test.
 */
#ifndef SNAPSTAGE_TESTS_TESTUTIL_H
#define SNAPSTAGE_TESTS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

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

/* Parses test JSON (any value); fails the test on bad JSON. The caller
 * owns the result. */
json_t *tu_json(const char *text);

/* Sets (value NULL: deletes) the field at a dotted path such as
 * "status.snapshots[1].readyToUse", creating objects and array elements on
 * the way. Steals `value`. A key with a dot in it needs jansson directly. */
void tu_json_set(json_t *root, const char *path, json_t *value);

#endif
