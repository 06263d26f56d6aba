/*
 * dec.h — reading typed fields out of a custom resource's JSON, with
 * errors that name the field's full path.
 *
 * Every rejection reads "spec.target.connection.port: must be between 1
 * and 65535, got 70000" so it can go straight into a status condition's
 * message. An app_dec carries the current path; push a field or index
 * before descending and pop it after. The first error stops decoding:
 * ss_error holds the message, and `reason` the condition reason the caller
 * should report (InvalidSpec unless a check chose a more specific one).
 *
 * Strings handed out are borrowed from the JSON they were read from and
 * live as long as it does. Pure functions, no I/O. Thread-safety: an
 * app_dec belongs to one thread.
 */
#ifndef SNAPSTAGE_APP_DEC_H
#define SNAPSTAGE_APP_DEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define APP_PATH_MAX 192

typedef struct {
	char path[APP_PATH_MAX];
	size_t len;
	const char *reason; /* static string: the condition reason on failure */
} app_dec;

/* Starts at `root` (e.g. "spec"); reason InvalidSpec. */
void app_dec_init(app_dec *d, const char *root);

/* Appends ".field" or "[i]"; returns a mark for app_dec_pop(). A path too
 * long for the buffer is cut with "..." rather than failing. */
size_t app_dec_push(app_dec *d, const char *field);
size_t app_dec_push_index(app_dec *d, size_t index);
void app_dec_pop(app_dec *d, size_t mark);

/* Records "<path>: <message>" as SS_EINVALID with the given reason (NULL
 * keeps the current one) and returns SS_EINVALID. */
int app_dec_fail(app_dec *d, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same for the field `key` under the current path. */
int app_dec_fail_at(app_dec *d, const char *key, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Each reader looks up `key` in `obj` (which must be an object or NULL).
 * Absent (or JSON null) means the default, or an error when `required`.
 * A present value of the wrong type, or out of its bounds, is an error. */
int app_dec_object(const json_t **out, app_dec *d, const json_t *obj, const char *key,
		   bool required);
int app_dec_array(const json_t **out, app_dec *d, const json_t *obj, const char *key,
		  size_t max_items);
/* Strings: absent gives `def` (may be NULL); present must be 1..max_len
 * bytes. */
int app_dec_string(const char **out, app_dec *d, const json_t *obj, const char *key,
		   const char *def, size_t max_len, bool required);
int app_dec_int(int64_t *out, app_dec *d, const json_t *obj, const char *key, int64_t def,
		int64_t min, int64_t max, bool required);
int app_dec_bool(bool *out, app_dec *d, const json_t *obj, const char *key, bool def);
/* An enum: the value must be one of `names` (n of them); *out is its index,
 * or `def` when absent (def < 0 makes the field required). */
int app_dec_enum(int *out, app_dec *d, const json_t *obj, const char *key,
		 const char *const *names, size_t n, int def);
/* The times app_dec_time() accepts: from APP_TIME_MIN_TEXT up to, not
 * including, APP_TIME_END_TEXT — whole years well inside what int64
 * nanoseconds since the epoch hold (1677-09-21 to 2262-04-11). */
#define APP_TIME_MIN_NS (INT64_C(-9214560000) * 1000000000) /* 1678-01-01 */
#define APP_TIME_END_NS (INT64_C(9214646400) * 1000000000)  /* 2262-01-01 */
#define APP_TIME_MIN_TEXT "1678-01-01T00:00:00Z"
#define APP_TIME_END_TEXT "2262-01-01T00:00:00Z"

/* An RFC 3339 time, as nanoseconds since the epoch. *given says whether it
 * was there (1970-01-01T00:00:00Z is a time like any other); absent gives
 * *out 0 and *given false. A time outside [APP_TIME_MIN_TEXT,
 * APP_TIME_END_TEXT) is an error that names that range; nothing wraps. */
int app_dec_time(int64_t *out, bool *given, app_dec *d, const json_t *obj,
		 const char *key);
/* A map of strings (labels or annotations); absent gives NULL. With
 * `labels`, keys and values must be valid Kubernetes label syntax. */
int app_dec_string_map(const json_t **out, app_dec *d, const json_t *obj, const char *key,
		       bool labels);

/* The most an object's annotations may hold, keys plus values, in bytes:
 * the API server refuses more (TotalAnnotationSizeLimitB). */
#define APP_ANNOTATIONS_MAX_BYTES (256 * 1024)

/* A map of annotations; absent gives NULL. Values must be strings, keys
 * valid annotation keys (app_dec_is_annotation_key), and the keys plus values
 * at most `max_bytes` bytes in all. */
int app_dec_annotations(const json_t **out, app_dec *d, const json_t *obj,
			const char *key, size_t max_bytes);

/* Name syntax, for checks the readers above do not make. */
bool app_dec_is_dns_label(const char *s); /* RFC 1123 label, <= 63 */
/* RFC 1123 subdomain of at most 253, as the API server checks object
 * names and label key prefixes: it does not limit each dot-separated part
 * to 63, so neither does this (a Backup may have a 70-character name). */
bool app_dec_is_dns_subdomain(const char *s);
bool app_dec_is_secret_key(const char *s); /* [-._a-zA-Z0-9]+, <= 253 */
/* A qualified label key ("prefix/name" or "name": prefix a DNS subdomain,
 * name at most 63 of [A-Za-z0-9_.-], alphanumeric at both ends) / label
 * value (such a name, or empty). */
bool app_dec_is_label_key(const char *s);
bool app_dec_is_label_value(const char *s);
/* An annotation key: what the API server accepts, a label key once
 * lowercased (so the prefix may have capitals). */
bool app_dec_is_annotation_key(const char *s);

#endif
