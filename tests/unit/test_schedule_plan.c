/*
 * test_schedule_plan.c — app/schedule_plan: the BackupSchedule decisions
 * as a table (new schedule, due, missed with and without
 * startingDeadlineSeconds, skipped while busy, suspended, spec changed,
 * once, never due, a DST gap in Europe/Berlin, the missed-count bound),
 * the run-now token rule and names, and what a Restore holds for
 * retention.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "app/cron.h"
#include "app/schedule_plan.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/tz.h"

static int64_t at(const char *rfc3339)
{
	int64_t ns = 0;

	if (rfc3339 == NULL)
		return 0;
	if (ss_time_parse(&ns, rfc3339) != 0)
		fail_msg("bad time in test: %s", rfc3339);
	return ns;
}

typedef struct {
	const char *what;
	const char *cron;
	const char *zone;
	const char *created;
	const char *last;
	const char *now;
	int64_t deadline; /* -1: unset */
	bool suspend, spec_changed, busy;
	/* expected */
	app_sched_action action;
	const char *scheduled; /* NULL: not checked (NOTHING) */
	const char *cursor;    /* NULL: 0 */
	int64_t missed;
	const char *next; /* NULL: 0 */
} plan_case;

static const plan_case cases[] = {
	{ "new: no due time since creation", "* * * * *", "UTC", "2025-06-01T10:00:30Z",
	  NULL, "2025-06-01T10:00:40Z", -1, false, false, false, APP_SCHED_NOTHING, NULL,
	  NULL, 0, "2025-06-01T10:01:00Z" },
	{ "new: first due time", "* * * * *", "UTC", "2025-06-01T10:00:30Z", NULL,
	  "2025-06-01T10:01:00.010Z", -1, false, false, false, APP_SCHED_RUN,
	  "2025-06-01T10:01:00Z", "2025-06-01T10:01:00Z", 0, "2025-06-01T10:02:00Z" },
	{ "down 4 minutes: run the latest, 3 missed", "* * * * *", "UTC",
	  "2025-06-01T09:00:00Z", "2025-06-01T10:01:00Z", "2025-06-01T10:05:10Z", -1,
	  false, false, false, APP_SCHED_RUN, "2025-06-01T10:05:00Z",
	  "2025-06-01T10:05:00Z", 3, "2025-06-01T10:06:00Z" },
	{ "past startingDeadlineSeconds: missed too", "* * * * *", "UTC",
	  "2025-06-01T09:00:00Z", "2025-06-01T10:01:00Z", "2025-06-01T10:05:10Z", 5,
	  false, false, false, APP_SCHED_MISS, "2025-06-01T10:05:00Z",
	  "2025-06-01T10:05:00Z", 3, "2025-06-01T10:06:00Z" },
	{ "within startingDeadlineSeconds: runs", "* * * * *", "UTC",
	  "2025-06-01T09:00:00Z", "2025-06-01T10:01:00Z", "2025-06-01T10:05:10Z", 60,
	  false, false, false, APP_SCHED_RUN, "2025-06-01T10:05:00Z",
	  "2025-06-01T10:05:00Z", 3, "2025-06-01T10:06:00Z" },
	{ "busy: skipped, cursor moves", "0 * * * *", "UTC", "2025-06-01T09:00:00Z",
	  "2025-06-01T10:00:00Z", "2025-06-01T11:00:01Z", -1, false, false, true,
	  APP_SCHED_SKIP, "2025-06-01T11:00:00Z", "2025-06-01T11:00:00Z", 0,
	  "2025-06-01T12:00:00Z" },
	{ "already handled", "0 * * * *", "UTC", "2025-06-01T09:00:00Z",
	  "2025-06-01T11:00:00Z", "2025-06-01T11:30:00Z", -1, false, false, false,
	  APP_SCHED_NOTHING, NULL, "2025-06-01T11:00:00Z", 0, "2025-06-01T12:00:00Z" },
	{ "suspended: nothing, no next", "* * * * *", "UTC", "2025-06-01T09:00:00Z",
	  "2025-06-01T10:01:00Z", "2025-06-01T10:05:10Z", -1, true, false, false,
	  APP_SCHED_NOTHING, NULL, "2025-06-01T10:01:00Z", 0, NULL },
	{ "spec changed: passed over, not counted", "* * * * *", "UTC",
	  "2025-06-01T09:00:00Z", "2025-06-01T10:01:00Z", "2025-06-01T10:05:10Z", -1,
	  false, true, false, APP_SCHED_NOTHING, NULL, "2025-06-01T10:05:00Z", 0,
	  "2025-06-01T10:06:00Z" },
	{ "once: runs at creation", "once", "UTC", "2025-06-01T09:00:00Z", NULL,
	  "2025-06-01T09:00:01Z", -1, false, false, false, APP_SCHED_RUN,
	  "2025-06-01T09:00:00Z", "2025-06-01T09:00:00Z", 0, NULL },
	{ "once: never again", "once", "UTC", "2025-06-01T09:00:00Z",
	  "2025-06-01T09:00:00Z", "2026-06-01T09:00:01Z", -1, false, false, false,
	  APP_SCHED_NOTHING, NULL, "2025-06-01T09:00:00Z", 0, NULL },
	{ "once suspended: waits", "once", "UTC", "2025-06-01T09:00:00Z", NULL,
	  "2025-06-01T09:00:01Z", -1, true, false, false, APP_SCHED_NOTHING, NULL, NULL,
	  0, NULL },
	{ "never due", "0 0 30 2 *", "UTC", "2025-06-01T09:00:00Z", NULL,
	  "2025-06-01T09:00:01Z", -1, false, false, false, APP_SCHED_NOTHING, NULL, NULL,
	  0, NULL },
	{ "Berlin spring gap: 02:30 runs at 03:00 CEST", "30 2 * * *", "Europe/Berlin",
	  "2025-03-01T00:00:00Z", "2025-03-29T01:30:00Z", "2025-03-30T01:00:05Z", -1,
	  false, false, false, APP_SCHED_RUN, "2025-03-30T01:00:00Z",
	  "2025-03-30T01:00:00Z", 0, "2025-03-31T00:30:00Z" },
	{ "Berlin autumn fold: 02:30 once", "30 2 * * *", "Europe/Berlin",
	  "2025-10-01T00:00:00Z", "2025-10-26T00:30:00Z", "2025-10-26T01:30:05Z", -1,
	  false, false, false, APP_SCHED_NOTHING, NULL, "2025-10-26T00:30:00Z", 0,
	  "2025-10-27T01:30:00Z" },
};

static void test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const plan_case *pc = &cases[i];
		app_sched_plan_in in;
		app_sched_plan_out out;
		app_cron c;
		ss_tz *tz = NULL;

		assert_int_equal(app_cron_parse(&c, pc->cron, "ns/name"), 0);
		assert_int_equal(ss_tz_load(&tz, pc->zone), 0);
		memset(&in, 0, sizeof(in));
		in.now_ns = at(pc->now);
		in.creation_ns = at(pc->created);
		in.last_schedule_ns = at(pc->last);
		in.starting_deadline_seconds = pc->deadline;
		in.suspend = pc->suspend;
		in.spec_changed = pc->spec_changed;
		in.busy = pc->busy;
		assert_int_equal(app_sched_plan(&out, &c, tz, &in), 0);
		if (out.action != pc->action || out.missed != pc->missed ||
		    out.last_schedule_ns != at(pc->cursor) ||
		    out.next_ns != at(pc->next) ||
		    (pc->scheduled && out.scheduled_ns != at(pc->scheduled)))
			fail_msg("%s: action %d missed %lld cursor %lld next %lld "
				 "scheduled %lld",
				 pc->what, (int)out.action, (long long)out.missed,
				 (long long)out.last_schedule_ns, (long long)out.next_ns,
				 (long long)out.scheduled_ns);
		ss_tz_free(tz);
	}
}

static void test_missed_bound(void **state)
{
	app_sched_plan_in in;
	app_sched_plan_out out;
	app_cron c;
	ss_tz *tz = NULL;

	(void)state;
	assert_int_equal(app_cron_parse(&c, "* * * * *", "x"), 0);
	assert_int_equal(ss_tz_load(&tz, "UTC"), 0);
	memset(&in, 0, sizeof(in));
	in.creation_ns = at("2024-01-01T00:00:00Z");
	in.last_schedule_ns = at("2024-01-01T00:00:00Z");
	in.now_ns = at("2025-01-01T00:00:30Z");
	in.starting_deadline_seconds = -1;
	assert_int_equal(app_sched_plan(&out, &c, tz, &in), 0);
	assert_int_equal(out.action, APP_SCHED_RUN);
	assert_int_equal(out.missed, APP_SCHED_MISSED_COUNT_MAX);
	assert_true(out.scheduled_ns == at("2025-01-01T00:00:00Z"));
	assert_int_equal(app_sched_plan(NULL, &c, tz, &in), SS_EINVALID);
	assert_int_equal(app_sched_plan(&out, &c, NULL, &in), SS_EINVALID);
	ss_tz_free(tz);
}

static void test_run_now(void **state)
{
	char a[16], a2[16], b[16];

	(void)state;
	assert_false(app_sched_run_now_wanted(NULL, NULL));
	assert_false(app_sched_run_now_wanted("", NULL));
	assert_false(app_sched_run_now_wanted("", "A"));
	assert_true(app_sched_run_now_wanted("A", NULL));
	assert_false(app_sched_run_now_wanted("A", "A"));
	assert_true(app_sched_run_now_wanted("B", "A"));
	app_sched_run_now_suffix(a, "A");
	app_sched_run_now_suffix(a2, "A");
	app_sched_run_now_suffix(b, "B");
	assert_string_equal(a, a2);
	assert_string_not_equal(a, b);
	assert_int_equal(strlen(a), 12);
	assert_memory_equal(a, "now-", 4);
}

/* Restores as JSON: which of a schedule's Backups each one holds. */
static void test_restore_hold(void **state)
{
	static const struct {
		const char *json;
		app_sched_hold want;
		const char *backup;
	} holds[] = {
		{ "{\"spec\":{\"source\":{\"backupName\":\"b1\"}}}",
		  APP_SCHED_HOLD_BACKUP, "b1" },
		{ "{\"spec\":{\"source\":{\"backupName\":\"b1\"}},"
		  "\"status\":{\"phase\":\"Restoring\"}}",
		  APP_SCHED_HOLD_BACKUP, "b1" },
		{ "{\"spec\":{\"source\":{\"backupName\":\"b1\"}},"
		  "\"status\":{\"phase\":\"Completed\"}}",
		  APP_SCHED_HOLD_NONE, NULL },
		{ "{\"spec\":{\"source\":{\"backupName\":\"b1\"}},"
		  "\"status\":{\"phase\":\"Failed\"}}",
		  APP_SCHED_HOLD_NONE, NULL },
		/* from the schedule, not yet resolved: all of its Backups */
		{ "{\"spec\":{\"source\":{\"scheduleName\":\"nightly\"}}}",
		  APP_SCHED_HOLD_ALL, NULL },
		/* resolved: the one it chose */
		{ "{\"spec\":{\"source\":{\"scheduleName\":\"nightly\"}},"
		  "\"status\":{\"phase\":\"Pending\",\"sourceBackup\":\"nightly-1\"}}",
		  APP_SCHED_HOLD_BACKUP, "nightly-1" },
		/* another schedule's */
		{ "{\"spec\":{\"source\":{\"scheduleName\":\"hourly\"}}}",
		  APP_SCHED_HOLD_NONE, NULL },
		{ "{\"spec\":{\"source\":{\"volumeSnapshotName\":\"vs\"}}}",
		  APP_SCHED_HOLD_NONE, NULL },
		/* malformed: names nothing, or the wrong types */
		{ "{}", APP_SCHED_HOLD_NONE, NULL },
		{ "{\"spec\":{\"source\":{\"backupName\":7}},\"status\":[]}",
		  APP_SCHED_HOLD_NONE, NULL },
		{ "{\"spec\":{\"source\":{\"backupName\":\"\"}}}", APP_SCHED_HOLD_NONE,
		  NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(holds) / sizeof(holds[0]); i++) {
		json_t *r = json_loads(holds[i].json, 0, NULL);
		const char *b = "unset";

		assert_non_null(r);
		if (app_sched_restore_hold(r, "nightly", &b) != holds[i].want)
			fail_msg("case %zu (%s): wrong hold", i, holds[i].json);
		if (holds[i].backup)
			assert_string_equal(b, holds[i].backup);
		else
			assert_null(b);
		json_decref(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_missed_bound),
		cmocka_unit_test(test_run_now),
		cmocka_unit_test(test_restore_hold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
