/*
 * file.h — reading whole small files with a bound.
 *
 * Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_UTIL_FILE_H
#define SNAPSTAGE_UTIL_FILE_H

#include <stddef.h>

#include "util/buf.h"

/* Reads the file at `path` into `out` (appending), failing with SS_ETOOLARGE
 * if it holds more than `max_bytes`, SS_ENOTFOUND if it does not exist and
 * SS_ERROR for other I/O failures. The message names the path. */
int ss_file_read(ss_buf *out, const char *path, size_t max_bytes);

/* The directory part of `path` ("." when it has none). Caller frees. */
char *ss_path_dirname(const char *path);

/* `rel` resolved against directory `dir` unless already absolute or empty.
 * Caller frees. */
char *ss_path_join(const char *dir, const char *rel);

#endif
