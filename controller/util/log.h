/*
 * log.h — structured logging: one line per event, a fixed message plus
 * typed key=value fields, as text (logfmt) or JSON.
 *
 *   ss_log(SS_LOG_INFO, "reconciled", SS_LS("key", key), SS_LI("ms", ms));
 *
 * Text:  ts=2026-11-23T09:20:00.123456Z level=info msg=reconciled key=ns/a ms=12
 * JSON:  {"ts":"…","level":"info","msg":"reconciled","key":"ns/a","ms":12}
 *
 * Invariants: a line is written with one write under a lock, so lines from
 * many threads never interleave. A field whose key names a secret (token,
 * password, secret, authorization, key data) is printed as "[redacted]" — a
 * second line of defence; callers must not pass secrets at all. Messages are
 * fixed strings so lines can be grepped; variable parts go into fields.
 *
 * Thread-safety: ss_log() may be called from any thread. ss_log_configure()
 * is meant for start-up, before other threads log.
 */
#ifndef SNAPSTAGE_UTIL_LOG_H
#define SNAPSTAGE_UTIL_LOG_H

#include <stdbool.h>
#include <stdio.h>

#include "util/error.h"

typedef enum {
	SS_LOG_DEBUG = 0,
	SS_LOG_INFO = 1,
	SS_LOG_WARN = 2,
	SS_LOG_ERROR = 3,
} ss_log_level;

typedef enum {
	SS_LOG_TEXT = 0,
	SS_LOG_JSON = 1,
} ss_log_format;

typedef enum {
	SS_LF_END = 0,
	SS_LF_STR,
	SS_LF_INT,
	SS_LF_DOUBLE,
	SS_LF_BOOL,
} ss_log_field_type;

typedef struct {
	ss_log_field_type type;
	const char *key;
	const char *s;
	long long i;
	double d;
} ss_log_field;

#define SS_LS(k, v) ((ss_log_field){ SS_LF_STR, (k), (v), 0, 0 })
#define SS_LI(k, v) ((ss_log_field){ SS_LF_INT, (k), NULL, (long long)(v), 0 })
#define SS_LD(k, v) ((ss_log_field){ SS_LF_DOUBLE, (k), NULL, 0, (double)(v) })
#define SS_LB(k, v) ((ss_log_field){ SS_LF_BOOL, (k), NULL, (v) ? 1 : 0, 0 })
/* The thread's last error (util/error.h): fields "error" and "code". */
#define SS_LERR()                                 \
	SS_LS("error", ss_error_last()->message), \
		SS_LS("code", ss_error_code_name(ss_error_last()->code))
#define SS_LOG_END ((ss_log_field){ SS_LF_END, NULL, NULL, 0, 0 })

/* Lines below `min` are dropped; `out` NULL means stderr. Defaults: info,
 * text, stderr. */
void ss_log_configure(ss_log_level min, ss_log_format format, FILE *out);

/* "debug|info|warn|error" and "text|json": 0, or SS_EINVALID. */
int ss_log_parse_level(ss_log_level *out, const char *text);
int ss_log_parse_format(ss_log_format *out, const char *text);

bool ss_log_enabled(ss_log_level level);

/* Fields end with SS_LOG_END; use the ss_log() macro, which adds it. */
void ss_log_fields(ss_log_level level, const char *msg, ...);
#define ss_log(level, ...) ss_log_fields((level), __VA_ARGS__, SS_LOG_END)

#endif
