/*
 * dec.c — see dec.h.
 */
#include "app/api/dec.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/clock.h"
#include "util/error.h"

#define QUOTE_MAX 64 /* user text quoted in a message is cut to this */

void app_dec_init(app_dec *d, const char *root)
{
	d->len = 0;
	d->path[0] = '\0';
	d->reason = "InvalidSpec";
	app_dec_push(d, root);
}

static size_t append(app_dec *d, const char *text)
{
	size_t mark = d->len;
	size_t n = strlen(text);

	if (d->len + n + 4 >= sizeof(d->path)) {
		/* Cut, visibly; pop() still restores the mark. */
		if (d->len + 4 < sizeof(d->path)) {
			memcpy(d->path + d->len, "...", 4);
			d->len += 3;
		}
		return mark;
	}
	memcpy(d->path + d->len, text, n + 1);
	d->len += n;
	return mark;
}

size_t app_dec_push(app_dec *d, const char *field)
{
	size_t mark = d->len;

	if (d->len > 0)
		append(d, ".");
	append(d, field);
	return mark;
}

size_t app_dec_push_index(app_dec *d, size_t index)
{
	char text[32];

	snprintf(text, sizeof(text), "[%zu]", index);
	return append(d, text);
}

void app_dec_pop(app_dec *d, size_t mark)
{
	if (mark <= d->len) {
		d->len = mark;
		d->path[mark] = '\0';
	}
}

static int vfail(app_dec *d, const char *reason, const char *fmt, va_list ap)
{
	char detail[SS_ERROR_MESSAGE_MAX];

	if (reason != NULL)
		d->reason = reason;
	vsnprintf(detail, sizeof(detail), fmt, ap);
	return ss_error_set(SS_EINVALID, "%s: %s", d->path, detail);
}

int app_dec_fail(app_dec *d, const char *reason, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(d, reason, fmt, ap);
	va_end(ap);
	return rc;
}

int app_dec_fail_at(app_dec *d, const char *key, const char *reason, const char *fmt, ...)
{
	size_t mark = app_dec_push(d, key);
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(d, reason, fmt, ap);
	va_end(ap);
	app_dec_pop(d, mark);
	return rc;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "a list";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* The value of `key`, NULL when absent or null. */
static const json_t *lookup(const json_t *obj, const char *key)
{
	const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_null(v) ? NULL : v;
}

int app_dec_object(const json_t **out, app_dec *d, const json_t *obj, const char *key,
		   bool required)
{
	const json_t *v = lookup(obj, key);

	*out = NULL;
	if (v == NULL)
		return required ? app_dec_fail_at(d, key, NULL, "required") : 0;
	if (!json_is_object(v))
		return app_dec_fail_at(d, key, NULL, "must be an object, not %s",
				       type_name(v));
	*out = v;
	return 0;
}

int app_dec_array(const json_t **out, app_dec *d, const json_t *obj, const char *key,
		  size_t max_items)
{
	const json_t *v = lookup(obj, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_array(v))
		return app_dec_fail_at(d, key, NULL, "must be a list, not %s",
				       type_name(v));
	if (json_array_size(v) > max_items)
		return app_dec_fail_at(d, key, NULL, "at most %zu items, got %zu",
				       max_items, json_array_size(v));
	*out = v;
	return 0;
}

int app_dec_string(const char **out, app_dec *d, const json_t *obj, const char *key,
		   const char *def, size_t max_len, bool required)
{
	const json_t *v = lookup(obj, key);
	size_t n;

	if (v == NULL) {
		if (required)
			return app_dec_fail_at(d, key, NULL, "required");
		*out = def;
		return 0;
	}
	if (!json_is_string(v))
		return app_dec_fail_at(d, key, NULL, "must be a string, not %s",
				       type_name(v));
	n = json_string_length(v);
	if (n == 0)
		return app_dec_fail_at(d, key, NULL, "must not be empty");
	if (n > max_len)
		return app_dec_fail_at(d, key, NULL, "at most %zu characters, got %zu",
				       max_len, n);
	if (strlen(json_string_value(v)) != n)
		return app_dec_fail_at(d, key, NULL, "must not contain NUL characters");
	*out = json_string_value(v);
	return 0;
}

int app_dec_int(int64_t *out, app_dec *d, const json_t *obj, const char *key, int64_t def,
		int64_t min, int64_t max, bool required)
{
	const json_t *v = lookup(obj, key);
	json_int_t n;

	if (v == NULL) {
		if (required)
			return app_dec_fail_at(d, key, NULL, "required");
		*out = def;
		return 0;
	}
	if (!json_is_integer(v))
		return app_dec_fail_at(d, key, NULL, "must be an integer, not %s",
				       type_name(v));
	n = json_integer_value(v);
	if (n < min || n > max) {
		if (max == INT64_MAX)
			return app_dec_fail_at(d, key, NULL,
					       "must be at least %lld, got %lld",
					       (long long)min, (long long)n);
		return app_dec_fail_at(d, key, NULL,
				       "must be between %lld and %lld, got %lld",
				       (long long)min, (long long)max, (long long)n);
	}
	*out = (int64_t)n;
	return 0;
}

int app_dec_bool(bool *out, app_dec *d, const json_t *obj, const char *key, bool def)
{
	const json_t *v = lookup(obj, key);

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v))
		return app_dec_fail_at(d, key, NULL, "must be true or false, not %s",
				       type_name(v));
	*out = json_is_true(v);
	return 0;
}

int app_dec_enum(int *out, app_dec *d, const json_t *obj, const char *key,
		 const char *const *names, size_t n, int def)
{
	const json_t *v = lookup(obj, key);
	char allowed[256];
	size_t i, used = 0;

	if (v == NULL) {
		if (def < 0)
			return app_dec_fail_at(d, key, NULL, "required");
		*out = def;
		return 0;
	}
	if (json_is_string(v)) {
		for (i = 0; i < n; i++) {
			if (strcmp(json_string_value(v), names[i]) == 0) {
				*out = (int)i;
				return 0;
			}
		}
	}
	allowed[0] = '\0';
	for (i = 0; i < n && used < sizeof(allowed); i++)
		used += (size_t)snprintf(allowed + used, sizeof(allowed) - used, "%s%s",
					 i > 0 ? ", " : "", names[i]);
	if (!json_is_string(v))
		return app_dec_fail_at(d, key, NULL, "must be one of %s, not %s", allowed,
				       type_name(v));
	return app_dec_fail_at(d, key, NULL, "must be one of %s, got \"%.*s\"", allowed,
			       QUOTE_MAX, json_string_value(v));
}

int app_dec_time(int64_t *out, bool *given, app_dec *d, const json_t *obj,
		 const char *key)
{
	const char *text = NULL;
	int64_t t = 0;
	int rc;

	rc = app_dec_string(&text, d, obj, key, NULL, 64, false);
	if (rc != 0)
		return rc;
	if (text != NULL) {
		rc = ss_time_parse(&t, text);
		if (rc == SS_EUNSUPPORTED ||
		    (rc == 0 && (t < APP_TIME_MIN_NS || t >= APP_TIME_END_NS)))
			return app_dec_fail_at(d, key, NULL,
					       "must be at or after " APP_TIME_MIN_TEXT
					       " and before " APP_TIME_END_TEXT
					       ", got \"%.*s\"",
					       QUOTE_MAX, text);
		if (rc != 0)
			return app_dec_fail_at(d, key, NULL,
					       "must be an RFC 3339 time like "
					       "2026-11-23T03:00:00Z, got \"%.*s\"",
					       QUOTE_MAX, text);
	}
	*out = t;
	*given = text != NULL;
	return 0;
}

int app_dec_string_map(const json_t **out, app_dec *d, const json_t *obj, const char *key,
		       bool labels)
{
	const json_t *map, *value;
	const char *k;
	int rc;

	rc = app_dec_object(&map, d, obj, key, false);
	if (rc != 0 || map == NULL) {
		*out = NULL;
		return rc;
	}
	json_object_foreach((json_t *)map, k, value)
	{
		if (!json_is_string(value))
			return app_dec_fail_at(d, key, NULL,
					       "value of \"%.*s\" must be a string",
					       QUOTE_MAX, k);
		if (labels && !app_dec_is_label_key(k))
			return app_dec_fail_at(d, key, NULL,
					       "\"%.*s\" is not a valid label key",
					       QUOTE_MAX, k);
		if (labels && !app_dec_is_label_value(json_string_value(value)))
			return app_dec_fail_at(
				d, key, NULL,
				"value of \"%.*s\" is not a valid label value (at most "
				"63 of [A-Za-z0-9_.-], alphanumeric at both ends)",
				QUOTE_MAX, k);
	}
	*out = map;
	return 0;
}

int app_dec_annotations(const json_t **out, app_dec *d, const json_t *obj,
			const char *key, size_t max_bytes)
{
	const json_t *map, *value;
	const char *k;
	size_t total = 0;
	int rc;

	*out = NULL;
	rc = app_dec_object(&map, d, obj, key, false);
	if (rc != 0 || map == NULL)
		return rc;
	json_object_foreach((json_t *)map, k, value)
	{
		if (!json_is_string(value))
			return app_dec_fail_at(d, key, NULL,
					       "value of \"%.*s\" must be a string",
					       QUOTE_MAX, k);
		if (!app_dec_is_annotation_key(k))
			return app_dec_fail_at(
				d, key, NULL,
				"\"%.*s\" is not a valid annotation key (an optional "
				"DNS subdomain prefix and '/', then at most 63 of "
				"[A-Za-z0-9_.-], alphanumeric at both ends)",
				QUOTE_MAX, k);
		total += strlen(k) + json_string_length(value);
	}
	if (total > max_bytes)
		return app_dec_fail_at(d, key, NULL,
				       "%zu bytes of keys and values, more than the %zu "
				       "allowed",
				       total, max_bytes);
	*out = map;
	return 0;
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? of n characters (any n > 0). */
static bool dns_part_n(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (i = 0; i < n; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	}
	return true;
}

static bool dns_label_n(const char *s, size_t n)
{
	return n <= 63 && dns_part_n(s, n);
}

bool app_dec_is_dns_label(const char *s)
{
	return s != NULL && dns_label_n(s, strlen(s));
}

bool app_dec_is_dns_subdomain(const char *s)
{
	const char *dot;
	size_t n;

	if (s == NULL)
		return false;
	n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	/* The API server's rule (IsDNS1123Subdomain): at most 253 in all;
	 * the dot-separated parts are not limited to 63 each. */
	for (;;) {
		dot = strchr(s, '.');
		if (dot == NULL)
			return dns_part_n(s, strlen(s));
		if (!dns_part_n(s, (size_t)(dot - s)))
			return false;
		s = dot + 1;
	}
}

bool app_dec_is_secret_key(const char *s)
{
	size_t i, n;

	if (s == NULL)
		return false;
	n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' &&
		    s[i] != '_')
			return false;
	}
	return true;
}

/* [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? of at most 63, or empty if allowed. */
static bool qualified_name_n(const char *s, size_t n, bool allow_empty)
{
	size_t i;

	if (n == 0)
		return allow_empty;
	if (n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' &&
		    s[i] != '.')
			return false;
	}
	return true;
}

bool app_dec_is_label_key(const char *s)
{
	const char *slash;
	char prefix[254];
	size_t n;

	if (s == NULL)
		return false;
	slash = strchr(s, '/');
	if (slash == NULL)
		return qualified_name_n(s, strlen(s), false);
	n = (size_t)(slash - s);
	if (n == 0 || n >= sizeof(prefix))
		return false;
	memcpy(prefix, s, n);
	prefix[n] = '\0';
	return app_dec_is_dns_subdomain(prefix) &&
	       qualified_name_n(slash + 1, strlen(slash + 1), false);
}

bool app_dec_is_annotation_key(const char *s)
{
	char lower[254 + 64]; /* prefix, '/', name */
	size_t i, n;

	if (s == NULL)
		return false;
	n = strlen(s);
	if (n >= sizeof(lower))
		return false;
	for (i = 0; i <= n; i++)
		lower[i] = (char)tolower((unsigned char)s[i]);
	return app_dec_is_label_key(lower);
}

bool app_dec_is_label_value(const char *s)
{
	return s != NULL && qualified_name_n(s, strlen(s), true);
}
