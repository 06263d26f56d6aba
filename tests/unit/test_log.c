/*
 * test_log.c — structured log lines: logfmt quoting, JSON escaping, levels,
 * and values under secret-looking keys never printed.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "testutil.h"

#include "util/error.h"
#include "util/log.h"

static char line[4096];

/* Runs one ss_log() into a temporary file and keeps what it wrote. */
#define CAPTURE(format, level, ...)                               \
	do {                                                      \
		FILE *f_ = tmpfile();                             \
		size_t n_;                                        \
		assert_non_null(f_);                              \
		ss_log_configure(SS_LOG_INFO, (format), f_);      \
		ss_log((level), __VA_ARGS__);                     \
		rewind(f_);                                       \
		n_ = fread(line, 1, sizeof(line) - 1, f_);        \
		line[n_] = '\0';                                  \
		fclose(f_);                                       \
		ss_log_configure(SS_LOG_INFO, SS_LOG_TEXT, NULL); \
	} while (0)

/* The line without its timestamp (which changes), from " level=". */
static const char *after_ts(void)
{
	const char *p = strstr(line, " level=");

	assert_non_null(p);
	return p + 1;
}

static void test_text_fields_and_quoting(void **state)
{
	(void)state;
	CAPTURE(SS_LOG_TEXT, SS_LOG_INFO, "reconciled", SS_LS("key", "ns/a"),
		SS_LI("ms", 12), SS_LB("ok", 1),
		SS_LS("why", "lock wait \"timeout\" = 3s"), SS_LD("lag", 0.5));
	assert_true(strncmp(line, "ts=", 3) == 0);
	assert_string_equal(after_ts(),
			    "level=info msg=reconciled key=ns/a ms=12 ok=true "
			    "why=\"lock wait \\\"timeout\\\" = 3s\" lag=0.5\n");
	CAPTURE(SS_LOG_TEXT, SS_LOG_WARN, "two words", SS_LS("empty", ""),
		SS_LS("nl", "a\nb"));
	assert_string_equal(after_ts(),
			    "level=warn msg=\"two words\" empty=\"\" nl=\"a\\nb\"\n");
}

static void test_json_lines(void **state)
{
	json_t *obj;

	(void)state;
	CAPTURE(SS_LOG_JSON, SS_LOG_ERROR, "failed", SS_LS("key", "ns/\"a\""),
		SS_LI("n", -3), SS_LB("retry", 0));
	obj = json_loads(line, 0, NULL);
	assert_non_null(obj);
	assert_string_equal(json_string_value(json_object_get(obj, "level")), "error");
	assert_string_equal(json_string_value(json_object_get(obj, "msg")), "failed");
	assert_string_equal(json_string_value(json_object_get(obj, "key")), "ns/\"a\"");
	assert_int_equal(json_integer_value(json_object_get(obj, "n")), -3);
	assert_true(json_is_false(json_object_get(obj, "retry")));
	assert_non_null(json_string_value(json_object_get(obj, "ts")));
	json_decref(obj);
}

static void test_levels_filter(void **state)
{
	(void)state;
	CAPTURE(SS_LOG_TEXT, SS_LOG_DEBUG, "hidden");
	assert_string_equal(line, "");
	assert_false(ss_log_enabled(SS_LOG_DEBUG));
	assert_true(ss_log_enabled(SS_LOG_WARN));
}

static void test_secrets_are_redacted(void **state)
{
	(void)state;
	CAPTURE(SS_LOG_TEXT, SS_LOG_INFO, "auth", SS_LS("token", "s3cr3t"),
		SS_LS("rootPassword", "hunter2"), SS_LS("Authorization", "Bearer x"),
		SS_LI("secret_len", 6));
	assert_null(strstr(line, "s3cr3t"));
	assert_null(strstr(line, "hunter2"));
	assert_null(strstr(line, "Bearer"));
	assert_non_null(strstr(line, "token=[redacted]"));
	assert_non_null(strstr(line, "secret_len=[redacted]"));
	CAPTURE(SS_LOG_JSON, SS_LOG_INFO, "auth", SS_LS("password", "hunter2"));
	assert_null(strstr(line, "hunter2"));
}

static void test_error_fields(void **state)
{
	(void)state;
	ss_error_set(SS_ECONFLICT, "the object has been modified");
	CAPTURE(SS_LOG_TEXT, SS_LOG_WARN, "retrying", SS_LERR());
	assert_string_equal(after_ts(),
			    "level=warn msg=retrying error=\"the object has been "
			    "modified\" code=conflict\n");
}

static void test_parse_level_and_format(void **state)
{
	ss_log_level level;
	ss_log_format format;

	(void)state;
	assert_int_equal(ss_log_parse_level(&level, "warn"), 0);
	assert_int_equal(level, SS_LOG_WARN);
	assert_int_equal(ss_log_parse_level(&level, "verbose"), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "log level 'verbose' is not one of");
	assert_int_equal(ss_log_parse_format(&format, "json"), 0);
	assert_int_equal(format, SS_LOG_JSON);
	assert_int_equal(ss_log_parse_format(&format, "yaml"), SS_EINVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_fields_and_quoting),
		cmocka_unit_test(test_json_lines),
		cmocka_unit_test(test_levels_filter),
		cmocka_unit_test(test_secrets_are_redacted),
		cmocka_unit_test(test_error_fields),
		cmocka_unit_test(test_parse_level_and_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
