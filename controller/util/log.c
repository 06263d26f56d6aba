/*
 * log.c — structured log lines. See log.h.
 *
 * A line is built in a bounded buffer and written with one fwrite under a
 * mutex. Text values are quoted (logfmt style) when they hold a space, a
 * quote, '=' or a control character; JSON is built with jansson so escaping
 * is right by construction.
 */
#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/str.h"

#define LINE_MAX_BYTES 16384

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ss_log_level min_level = SS_LOG_INFO;
static ss_log_format line_format = SS_LOG_TEXT;
static FILE *sink;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void ss_log_configure(ss_log_level min, ss_log_format format, FILE *out)
{
	pthread_mutex_lock(&lock);
	min_level = min;
	line_format = format;
	sink = out;
	pthread_mutex_unlock(&lock);
}

int ss_log_parse_level(ss_log_level *out, const char *text)
{
	int i;

	for (i = 0; i < 4; i++) {
		if (ss_streq(text, level_names[i])) {
			*out = (ss_log_level)i;
			return 0;
		}
	}
	return ss_error_set(SS_EINVALID,
			    "log level '%s' is not one of debug, info, warn, error",
			    text ? text : "");
}

int ss_log_parse_format(ss_log_format *out, const char *text)
{
	if (ss_streq(text, "text")) {
		*out = SS_LOG_TEXT;
		return 0;
	}
	if (ss_streq(text, "json")) {
		*out = SS_LOG_JSON;
		return 0;
	}
	return ss_error_set(SS_EINVALID, "log format '%s' is not one of text, json",
			    text ? text : "");
}

bool ss_log_enabled(ss_log_level level)
{
	return level >= min_level;
}

/* Keys whose values must never reach a log, whatever a caller passes. */
static bool is_secret_key(const char *key)
{
	static const char *const words[] = { "token",	  "password",	   "passwd",
					     "secret",	  "authorization", "private",
					     "credential" };
	char lower[64];
	size_t i, n = strlen(key);

	if (n >= sizeof(lower))
		n = sizeof(lower) - 1;
	for (i = 0; i < n; i++)
		lower[i] =
			(char)((key[i] >= 'A' && key[i] <= 'Z') ? key[i] + 32 : key[i]);
	lower[n] = '\0';
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(lower, words[i]))
			return true;
	return false;
}

static bool needs_quotes(const char *s)
{
	if (!*s)
		return true;
	for (; *s; s++)
		if (*s == ' ' || *s == '"' || *s == '=' || (unsigned char)*s < 0x20)
			return true;
	return false;
}

static void put_text_value(ss_buf *b, const char *s)
{
	if (!needs_quotes(s)) {
		ss_buf_puts(b, s);
		return;
	}
	ss_buf_putc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\') {
			ss_buf_putc(b, '\\');
			ss_buf_putc(b, *s);
		} else if (*s == '\n') {
			ss_buf_puts(b, "\\n");
		} else if ((unsigned char)*s < 0x20) {
			ss_buf_printf(b, "\\x%02x", (unsigned char)*s);
		} else {
			ss_buf_putc(b, *s);
		}
	}
	ss_buf_putc(b, '"');
}

static void text_field(ss_buf *b, const ss_log_field *f)
{
	ss_buf_printf(b, " %s=", f->key);
	if (f->type != SS_LF_STR && is_secret_key(f->key)) {
		ss_buf_puts(b, "[redacted]");
		return;
	}
	switch (f->type) {
	case SS_LF_STR:
		put_text_value(b, is_secret_key(f->key) ? "[redacted]"
				  : f->s		? f->s
							: "");
		break;
	case SS_LF_INT: ss_buf_printf(b, "%lld", f->i); break;
	case SS_LF_DOUBLE: ss_buf_printf(b, "%g", f->d); break;
	case SS_LF_BOOL: ss_buf_puts(b, f->i ? "true" : "false"); break;
	case SS_LF_END: break;
	}
}

static json_t *json_value(const ss_log_field *f)
{
	if (is_secret_key(f->key))
		return json_string("[redacted]");
	switch (f->type) {
	case SS_LF_STR: return json_string(f->s ? f->s : "");
	case SS_LF_INT: return json_integer(f->i);
	case SS_LF_DOUBLE: return json_real(f->d);
	case SS_LF_BOOL: return json_boolean(f->i);
	case SS_LF_END: break;
	}
	return json_null();
}

void ss_log_fields(ss_log_level level, const char *msg, ...)
{
	char ts[SS_TIME_RFC3339_MAX];
	ss_buf line = SS_BUF_INIT(LINE_MAX_BYTES);
	json_t *obj = NULL;
	ss_log_field f;
	va_list ap;
	FILE *out;

	if (!ss_log_enabled(level))
		return;
	ss_time_format_micro(ts, sizeof(ts), ss_clock_real(ss_clock_system()));
	if (line_format == SS_LOG_JSON)
		obj = json_pack("{s:s, s:s, s:s}", "ts", ts, "level", level_names[level],
				"msg", msg);
	else
		ss_buf_printf(&line, "ts=%s level=%s msg=", ts, level_names[level]);
	if (!obj)
		put_text_value(&line, msg);
	va_start(ap, msg);
	for (f = va_arg(ap, ss_log_field); f.type != SS_LF_END;
	     f = va_arg(ap, ss_log_field)) {
		if (obj)
			json_object_set_new(obj, f.key, json_value(&f));
		else
			text_field(&line, &f);
	}
	va_end(ap);
	if (obj) {
		char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);

		ss_buf_puts(&line, s ? s : "{}");
		free(s);
		json_decref(obj);
	}
	if (line.len == 0) /* cut by the bound: say so rather than drop it */
		ss_buf_printf(&line, "ts=%s level=%s msg=\"log line too long\"", ts,
			      level_names[level]);
	ss_buf_putc(&line, '\n');
	pthread_mutex_lock(&lock);
	out = sink ? sink : stderr;
	fwrite(ss_buf_cstr(&line), 1, line.len, out);
	fflush(out);
	pthread_mutex_unlock(&lock);
	ss_buf_free(&line);
}
