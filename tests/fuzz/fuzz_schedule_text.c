/*
 * fuzz_schedule_text.c — libFuzzer target for the text from outside that the
 * BackupSchedule controller handles beyond its spec (issue 15): the API
 * server's message when it refuses a Backup (app_schedule_plan_clean_message, which
 * puts it into a condition and an Event), the snapstage.io/run-now
 * annotation (app_schedule_plan_run_now_wanted, app_schedule_plan_run_now_suffix) and a
 * time zone name (ss_tz_load's rules, against the system tz database).
 *
 * The first byte picks the buffer size for the message (1..256); the rest
 * is the text, cut at its first NUL. Beyond "no crash" (ASan and UBSan
 * abort on any fault) it checks what must always hold:
 *   - a cleaned message is shorter than its buffer, has no control byte,
 *     is the input itself (control bytes as spaces) when it fits, else a
 *     prefix of it that ends before a UTF-8 continuation byte, then "...";
 *   - a token is wanted exactly when it is 1..APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX
 *     bytes and differs from the last; never against itself;
 *   - a suffix is "now-" and 10 lower-case hex digits, the same for the same
 *     token and attempt;
 *   - a zone that loads is never localtime, posixrules, Factory, nor under
 *     posix/ or right/; a failure is one of the documented codes.
 *
 * Thread-safety: none needed; libFuzzer calls in one thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/schedule/schedule_plan.h"
#include "util/error.h"
#include "util/tz.h"

#define CHECK(cond)                                                                \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "fuzz_schedule_text: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                        \
			abort();                                                   \
		}                                                                  \
	} while (0)

#define TEXT_MAX 4096

static void check_clean(const char *text, size_t cap)
{
	char out[257];
	size_t i, len = strlen(text), n;

	CHECK(app_schedule_plan_clean_message(out, cap, text) == out);
	n = strlen(out);
	CHECK(n < cap);
	for (i = 0; i < n; i++)
		CHECK((unsigned char)out[i] >= 0x20 && (unsigned char)out[i] != 0x7f);
	if (len < cap) {
		CHECK(n == len);
		for (i = 0; i < n; i++)
			CHECK(out[i] == text[i] || out[i] == ' ');
		return;
	}
	if (cap < 4) {
		CHECK(n == 0);
		return;
	}
	CHECK(n >= 3 && strcmp(out + n - 3, "...") == 0);
	CHECK(n == 3 || ((unsigned char)text[n - 3] & 0xc0) != 0x80);
}

static void check_token(const char *text)
{
	size_t len = strlen(text);
	char a[APP_SCHEDULE_PLAN_RUN_NOW_SUFFIX_BUF];
	char b[APP_SCHEDULE_PLAN_RUN_NOW_SUFFIX_BUF];
	int i;

	CHECK(app_schedule_plan_run_now_wanted(text, NULL) ==
	      (len > 0 && len <= APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX));
	CHECK(!app_schedule_plan_run_now_wanted(text, text));
	app_schedule_plan_run_now_suffix(a, text, 1);
	app_schedule_plan_run_now_suffix(b, text, 1);
	CHECK(strcmp(a, b) == 0);
	CHECK(strlen(a) == 14 && memcmp(a, "now-", 4) == 0);
	for (i = 4; i < 14; i++)
		CHECK((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
}

static void check_zone(const char *text)
{
	ss_tz *tz = NULL;
	int rc = ss_tz_load(&tz, text);

	if (rc == 0) {
		CHECK(tz != NULL);
		CHECK(strcmp(text, "localtime") != 0 && strcmp(text, "posixrules") != 0 &&
		      strcmp(text, "Factory") != 0 && strncmp(text, "posix/", 6) != 0 &&
		      strncmp(text, "right/", 6) != 0);
		ss_tz_free(tz);
		return;
	}
	CHECK(tz == NULL);
	CHECK(rc == SS_EINVALID || rc == SS_ENOTFOUND || rc == SS_EUNSUPPORTED ||
	      rc == SS_ETOOLARGE || rc == SS_ENOMEM);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[TEXT_MAX + 1];
	size_t cap, n;

	if (size == 0)
		return 0;
	cap = (size_t)data[0] + 1;
	n = size - 1 < TEXT_MAX ? size - 1 : TEXT_MAX;
	memcpy(text, data + 1, n);
	text[n] = '\0';
	check_clean(text, cap);
	check_token(text);
	check_zone(text);
	return 0;
}
