/*
 * test_schedule_plan.c — app/schedule_plan: the BackupSchedule decisions
 * as a table (new schedule, due, missed with and without
 * startingDeadlineSeconds, skipped while busy, suspended, spec changed,
 * once, never due, a DST gap in Europe/Berlin, the missed-count bound),
 * the run-now token rule and names (the whole token; names that no
 * longer collide), what a due time that cannot run does and the cause its
 * miss is counted with (issue 15), NeverRuns, the retry bound, server
 * messages cleaned, and what a Restore holds for retention.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "app/sched/cron.h"
#include "app/schedule/schedule_plan.h"
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
	app_schedule_plan_action action;
	const char *scheduled; /* NULL: not checked (NOTHING) */
	const char *cursor;    /* NULL: 0 */
	int64_t missed;
	const char *next; /* NULL: 0 */
} plan_case;

static const plan_case cases[] = {
	{ "new: no due time since creation", "* * * * *", "UTC", "2025-06-01T10:00:30Z",
	  NULL, "2025-06-01T10:00:40Z", -1, false, false, false,
	  APP_SCHEDULE_PLAN_NOTHING, NULL, NULL, 0, "2025-06-01T10:01:00Z" },
	{ "new: first due time", "* * * * *", "UTC", "2025-06-01T10:00:30Z", NULL,
	  "2025-06-01T10:01:00.010Z", -1, false, false, false, APP_SCHEDULE_PLAN_RUN,
	  "2025-06-01T10:01:00Z", "2025-06-01T10:01:00Z", 0, "2025-06-01T10:02:00Z" },
	{ "down 4 minutes: run the latest, 3 missed", "* * * * *", "UTC",
	  "2025-06-01T09:00:00Z", "2025-06-01T10:01:00Z", "2025-06-01T10:05:10Z", -1,
	  false, false, false, APP_SCHEDULE_PLAN_RUN, "2025-06-01T10:05:00Z",
	  "2025-06-01T10:05:00Z", 3, "2025-06-01T10:06:00Z" },
	{ "past startingDeadlineSeconds: missed too", "* * * * *", "UTC",
	  "2025-06-01T09:00:00Z", "2025-06-01T10:01:00Z", "2025-06-01T10:05:10Z", 5,
	  false, false, false, APP_SCHEDULE_PLAN_MISS, "2025-06-01T10:05:00Z",
	  "2025-06-01T10:05:00Z", 3, "2025-06-01T10:06:00Z" },
	{ "within startingDeadlineSeconds: runs", "* * * * *", "UTC",
	  "2025-06-01T09:00:00Z", "2025-06-01T10:01:00Z", "2025-06-01T10:05:10Z", 60,
	  false, false, false, APP_SCHEDULE_PLAN_RUN, "2025-06-01T10:05:00Z",
	  "2025-06-01T10:05:00Z", 3, "2025-06-01T10:06:00Z" },
	{ "busy: skipped, cursor moves", "0 * * * *", "UTC", "2025-06-01T09:00:00Z",
	  "2025-06-01T10:00:00Z", "2025-06-01T11:00:01Z", -1, false, false, true,
	  APP_SCHEDULE_PLAN_SKIP, "2025-06-01T11:00:00Z", "2025-06-01T11:00:00Z", 0,
	  "2025-06-01T12:00:00Z" },
	{ "already handled", "0 * * * *", "UTC", "2025-06-01T09:00:00Z",
	  "2025-06-01T11:00:00Z", "2025-06-01T11:30:00Z", -1, false, false, false,
	  APP_SCHEDULE_PLAN_NOTHING, NULL, "2025-06-01T11:00:00Z", 0,
	  "2025-06-01T12:00:00Z" },
	{ "suspended: nothing, no next", "* * * * *", "UTC", "2025-06-01T09:00:00Z",
	  "2025-06-01T10:01:00Z", "2025-06-01T10:05:10Z", -1, true, false, false,
	  APP_SCHEDULE_PLAN_NOTHING, NULL, "2025-06-01T10:01:00Z", 0, NULL },
	{ "spec changed: passed over, not counted", "* * * * *", "UTC",
	  "2025-06-01T09:00:00Z", "2025-06-01T10:01:00Z", "2025-06-01T10:05:10Z", -1,
	  false, true, false, APP_SCHEDULE_PLAN_NOTHING, NULL, "2025-06-01T10:05:00Z", 0,
	  "2025-06-01T10:06:00Z" },
	{ "once: runs at creation", "once", "UTC", "2025-06-01T09:00:00Z", NULL,
	  "2025-06-01T09:00:01Z", -1, false, false, false, APP_SCHEDULE_PLAN_RUN,
	  "2025-06-01T09:00:00Z", "2025-06-01T09:00:00Z", 0, NULL },
	{ "once: never again", "once", "UTC", "2025-06-01T09:00:00Z",
	  "2025-06-01T09:00:00Z", "2026-06-01T09:00:01Z", -1, false, false, false,
	  APP_SCHEDULE_PLAN_NOTHING, NULL, "2025-06-01T09:00:00Z", 0, NULL },
	{ "once suspended: waits", "once", "UTC", "2025-06-01T09:00:00Z", NULL,
	  "2025-06-01T09:00:01Z", -1, true, false, false, APP_SCHEDULE_PLAN_NOTHING, NULL,
	  NULL, 0, NULL },
	{ "never due", "0 0 30 2 *", "UTC", "2025-06-01T09:00:00Z", NULL,
	  "2025-06-01T09:00:01Z", -1, false, false, false, APP_SCHEDULE_PLAN_NOTHING,
	  NULL, NULL, 0, NULL },
	{ "Berlin spring gap: 02:30 runs at 03:00 CEST", "30 2 * * *", "Europe/Berlin",
	  "2025-03-01T00:00:00Z", "2025-03-29T01:30:00Z", "2025-03-30T01:00:05Z", -1,
	  false, false, false, APP_SCHEDULE_PLAN_RUN, "2025-03-30T01:00:00Z",
	  "2025-03-30T01:00:00Z", 0, "2025-03-31T00:30:00Z" },
	{ "Berlin autumn fold: 02:30 once", "30 2 * * *", "Europe/Berlin",
	  "2025-10-01T00:00:00Z", "2025-10-26T00:30:00Z", "2025-10-26T01:30:05Z", -1,
	  false, false, false, APP_SCHEDULE_PLAN_NOTHING, NULL, "2025-10-26T00:30:00Z", 0,
	  "2025-10-27T01:30:00Z" },
};

static void test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const plan_case *pc = &cases[i];
		app_schedule_plan_in in;
		app_schedule_plan_out out;
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
		assert_int_equal(app_schedule_plan(&out, &c, tz, &in), 0);
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
	app_schedule_plan_in in;
	app_schedule_plan_out out;
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
	assert_int_equal(app_schedule_plan(&out, &c, tz, &in), 0);
	assert_int_equal(out.action, APP_SCHEDULE_PLAN_RUN);
	assert_int_equal(out.missed, APP_SCHEDULE_PLAN_MISSED_COUNT_MAX);
	assert_true(out.scheduled_ns == at("2025-01-01T00:00:00Z"));
	assert_int_equal(app_schedule_plan(NULL, &c, tz, &in), SS_EINVALID);
	assert_int_equal(app_schedule_plan(&out, &c, NULL, &in), SS_EINVALID);
	ss_tz_free(tz);
}

static void test_run_now(void **state)
{
	char a[APP_SCHEDULE_PLAN_RUN_NOW_SUFFIX_BUF];
	char a2[APP_SCHEDULE_PLAN_RUN_NOW_SUFFIX_BUF];
	char b[APP_SCHEDULE_PLAN_RUN_NOW_SUFFIX_BUF];
	char a_2[APP_SCHEDULE_PLAN_RUN_NOW_SUFFIX_BUF];
	char longest[APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX + 2];

	(void)state;
	assert_false(app_schedule_plan_run_now_wanted(NULL, NULL));
	assert_false(app_schedule_plan_run_now_wanted("", NULL));
	assert_false(app_schedule_plan_run_now_wanted("", "A"));
	assert_true(app_schedule_plan_run_now_wanted("A", NULL));
	assert_false(app_schedule_plan_run_now_wanted("A", "A"));
	assert_true(app_schedule_plan_run_now_wanted("B", "A"));
	/* the whole token, however long (up to the bound), byte for byte */
	memset(longest, 'x', APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX);
	longest[APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX] = '\0';
	assert_true(app_schedule_plan_run_now_wanted(longest, NULL));
	assert_false(app_schedule_plan_run_now_wanted(longest, longest));
	longest[APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX - 1] = 'y';
	{
		char prev[APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX + 1];

		memset(prev, 'x', APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX);
		prev[APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX] = '\0';
		assert_true(app_schedule_plan_run_now_wanted(longest, prev));
	}
	/* longer than the bound: asks for nothing (refused, never recorded) */
	longest[APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX] = 'z';
	longest[APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX + 1] = '\0';
	assert_false(app_schedule_plan_run_now_wanted(longest, NULL));

	app_schedule_plan_run_now_suffix(a, "A", 1);
	app_schedule_plan_run_now_suffix(a2, "A", 1);
	app_schedule_plan_run_now_suffix(b, "B", 1);
	app_schedule_plan_run_now_suffix(a_2, "A", 2);
	assert_string_equal(a, a2);
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, a_2); /* the next name of the sequence */
	assert_int_equal(strlen(a), 14);
	assert_memory_equal(a, "now-", 4);
}

/* Tokens whose 32-bit FNV-1a hashes are equal, which made one Backup name
 * for two run-now requests (issue 15, point 4): their names now differ. */
static void test_run_now_names_do_not_collide(void **state)
{
	static const char *const pairs[][2] = {
		{ "costarring", "liquid" },
		{ "declinate", "macallums" },
		{ "altarage", "zinke" },
		{ "altarages", "zinkes" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char x[APP_SCHEDULE_PLAN_RUN_NOW_SUFFIX_BUF];
		char y[APP_SCHEDULE_PLAN_RUN_NOW_SUFFIX_BUF];

		app_schedule_plan_run_now_suffix(x, pairs[i][0], 1);
		app_schedule_plan_run_now_suffix(y, pairs[i][1], 1);
		if (strcmp(x, y) == 0)
			fail_msg("%s and %s both name %s", pairs[i][0], pairs[i][1], x);
	}
}

/* What the plan does when a due time cannot run at once, and the cause a
 * miss is counted with (issue 15, point 3). */
typedef struct {
	const char *what;
	const char *cron;
	const char *last;
	const char *next_before; /* status.nextScheduleTime; NULL: 0 */
	const char *now;
	int64_t deadline;
	bool spec_changed, busy;
	const char *blocked, *was_not_ready;
	/* expected */
	app_schedule_plan_action action;
	const char *scheduled; /* NULL: not checked */
	const char *cursor;
	int64_t missed;
	const char *cause; /* NULL: none */
	const char *next;
	const char *wake;
} cause_case;

static const cause_case cause_cases[] = {
	{ "blocked within the deadline: waits, cursor stays", "0 * * * *",
	  "2025-06-01T10:00:00Z", NULL, "2025-06-01T11:00:05Z", 60, false, false,
	  "TargetNotFound", NULL, APP_SCHEDULE_PLAN_WAIT, "2025-06-01T11:00:00Z",
	  "2025-06-01T10:00:00Z", 0, NULL, "2025-06-01T11:00:00Z",
	  "2025-06-01T11:01:00.010Z" },
	{ "blocked past the deadline: missed for the blocker", "0 * * * *",
	  "2025-06-01T10:00:00Z", NULL, "2025-06-01T11:01:05Z", 60, false, false,
	  "TargetNotFound", NULL, APP_SCHEDULE_PLAN_MISS, "2025-06-01T11:00:00Z",
	  "2025-06-01T11:00:00Z", 0, "TargetNotFound", "2025-06-01T12:00:00Z",
	  "2025-06-01T12:00:00Z" },
	{ "blocked, no deadline: the older one missed for the blocker, the "
	  "latest waits",
	  "0 * * * *", "2025-06-01T10:00:00Z", NULL, "2025-06-01T12:00:05Z", -1, false,
	  false, "SecretNotFound", NULL, APP_SCHEDULE_PLAN_WAIT, "2025-06-01T12:00:00Z",
	  "2025-06-01T11:00:00Z", 1, "SecretNotFound", "2025-06-01T12:00:00Z",
	  "2025-06-01T13:00:00Z" },
	{ "the blocker gone within the deadline: runs late", "0 * * * *",
	  "2025-06-01T10:00:00Z", "2025-06-01T11:00:00Z", "2025-06-01T11:00:40Z", 60,
	  false, false, NULL, "TargetNotFound", APP_SCHEDULE_PLAN_RUN,
	  "2025-06-01T11:00:00Z", "2025-06-01T11:00:00Z", 0, NULL, "2025-06-01T12:00:00Z",
	  "2025-06-01T12:00:00Z" },
	{ "the blocker gone past the deadline: missed for it, not 'controller "
	  "down'",
	  "0 * * * *", "2025-06-01T10:00:00Z", "2025-06-01T11:00:00Z",
	  "2025-06-01T11:05:00Z", 60, false, false, NULL, "TargetNotFound",
	  APP_SCHEDULE_PLAN_MISS, "2025-06-01T11:00:00Z", "2025-06-01T11:00:00Z", 0,
	  "TargetNotFound", "2025-06-01T12:00:00Z", "2025-06-01T12:00:00Z" },
	{ "a create that failed, retried within the deadline: runs", "0 * * * *",
	  "2025-06-01T10:00:00Z", "2025-06-01T11:00:00Z", "2025-06-01T11:00:30Z", 60,
	  false, false, NULL, "BackupCreateFailed", APP_SCHEDULE_PLAN_RUN,
	  "2025-06-01T11:00:00Z", "2025-06-01T11:00:00Z", 0, NULL, "2025-06-01T12:00:00Z",
	  "2025-06-01T12:00:00Z" },
	{ "a create that kept failing past the deadline: missed for it", "0 * * * *",
	  "2025-06-01T10:00:00Z", "2025-06-01T11:00:00Z", "2025-06-01T11:02:00Z", 60,
	  false, false, NULL, "BackupCreateFailed", APP_SCHEDULE_PLAN_MISS,
	  "2025-06-01T11:00:00Z", "2025-06-01T11:00:00Z", 0, "BackupCreateFailed",
	  "2025-06-01T12:00:00Z", "2025-06-01T12:00:00Z" },
	{ "nobody there in time: NotHandledInTime", "0 * * * *", "2025-06-01T09:00:00Z",
	  NULL, "2025-06-01T11:02:00Z", 60, false, false, NULL, NULL,
	  APP_SCHEDULE_PLAN_MISS, "2025-06-01T11:00:00Z", "2025-06-01T11:00:00Z", 1,
	  APP_SCHEDULE_PLAN_CAUSE_LATE, "2025-06-01T12:00:00Z", "2025-06-01T12:00:00Z" },
	{ "spec changed after the old due time came: it runs", "30 * * * *",
	  "2025-06-01T10:00:00Z", "2025-06-01T11:00:00Z", "2025-06-01T11:00:20Z", 60,
	  true, false, NULL, NULL, APP_SCHEDULE_PLAN_RUN, "2025-06-01T11:00:00Z",
	  "2025-06-01T11:00:00Z", 0, NULL, "2025-06-01T11:30:00Z",
	  "2025-06-01T11:30:00Z" },
	{ "spec changed, the old due time past its deadline: missed, counted",
	  "0 * * * *", "2025-06-01T10:00:00Z", "2025-06-01T11:00:00Z",
	  "2025-06-01T11:03:00Z", 60, true, false, NULL, NULL, APP_SCHEDULE_PLAN_MISS,
	  "2025-06-01T11:00:00Z", "2025-06-01T11:00:00Z", 0, APP_SCHEDULE_PLAN_CAUSE_LATE,
	  "2025-06-01T12:00:00Z", "2025-06-01T12:00:00Z" },
	{ "spec changed, the old due time come, blocked: missed for the blocker",
	  "0 * * * *", "2025-06-01T10:00:00Z", "2025-06-01T11:00:00Z",
	  "2025-06-01T11:00:20Z", 60, true, false, "TargetNotFound", NULL,
	  APP_SCHEDULE_PLAN_MISS, "2025-06-01T11:00:00Z", "2025-06-01T11:00:00Z", 0,
	  "TargetNotFound", "2025-06-01T12:00:00Z", "2025-06-01T12:00:00Z" },
	{ "spec changed, the old due time come, busy: skipped", "0 * * * *",
	  "2025-06-01T10:00:00Z", "2025-06-01T11:00:00Z", "2025-06-01T11:00:20Z", -1,
	  true, true, NULL, NULL, APP_SCHEDULE_PLAN_SKIP, "2025-06-01T11:00:00Z",
	  "2025-06-01T11:00:00Z", 0, NULL, "2025-06-01T12:00:00Z",
	  "2025-06-01T12:00:00Z" },
	{ "spec changed before the old due time: the new one's passed over", "30 * * * *",
	  "2025-06-01T10:00:00Z", "2025-06-01T11:00:00Z", "2025-06-01T10:45:00Z", -1,
	  true, false, NULL, NULL, APP_SCHEDULE_PLAN_NOTHING, NULL,
	  "2025-06-01T10:30:00Z", 0, NULL, "2025-06-01T11:30:00Z",
	  "2025-06-01T11:30:00Z" },
	{ "once, blocked: waits", "once", NULL, NULL, "2025-06-01T09:00:05Z", -1, false,
	  false, "TargetNotFound", NULL, APP_SCHEDULE_PLAN_WAIT, "2025-06-01T09:00:00Z",
	  NULL, 0, NULL, NULL, NULL },
};

static void test_causes(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cause_cases) / sizeof(cause_cases[0]); i++) {
		const cause_case *cc = &cause_cases[i];
		app_schedule_plan_in in;
		app_schedule_plan_out out;
		app_cron c;
		ss_tz *tz = NULL;
		bool cause_ok;

		assert_int_equal(app_cron_parse(&c, cc->cron, "ns/name"), 0);
		assert_int_equal(ss_tz_load(&tz, "UTC"), 0);
		memset(&in, 0, sizeof(in));
		in.now_ns = at(cc->now);
		in.creation_ns = at("2025-06-01T09:00:00Z");
		in.last_schedule_ns = at(cc->last);
		in.next_schedule_ns = at(cc->next_before);
		in.starting_deadline_seconds = cc->deadline;
		in.spec_changed = cc->spec_changed;
		in.busy = cc->busy;
		in.blocked = cc->blocked;
		in.was_not_ready = cc->was_not_ready;
		assert_int_equal(app_schedule_plan(&out, &c, tz, &in), 0);
		cause_ok = cc->cause ? out.miss_cause && !strcmp(out.miss_cause, cc->cause)
				     : out.miss_cause == NULL;
		if (out.action != cc->action || out.missed != cc->missed || !cause_ok ||
		    out.last_schedule_ns != at(cc->cursor) || out.next_ns != at(cc->next) ||
		    out.wake_ns != at(cc->wake) ||
		    (cc->scheduled && out.scheduled_ns != at(cc->scheduled)))
			fail_msg("%s: action %d missed %lld cause %s cursor %lld next %lld "
				 "wake %lld scheduled %lld",
				 cc->what, (int)out.action, (long long)out.missed,
				 out.miss_cause ? out.miss_cause : "(none)",
				 (long long)out.last_schedule_ns, (long long)out.next_ns,
				 (long long)out.wake_ns, (long long)out.scheduled_ns);
		ss_tz_free(tz);
	}
}

/* "0 0 30 2 *" never falls due: NeverRuns (issue 15, point 2). */
static void test_never_runs(void **state)
{
	static const struct {
		const char *cron;
		bool never;
	} rows[] = {
		{ "0 0 30 2 *", true },	 { "0 0 31 4 *", true },
		{ "0 0 31 2,4,6,9,11 *", true },
		{ "0 0 29 2 *", false }, /* leap days */
		{ "0 0 30 2 1", false }, /* either day field: Mondays in February */
		{ "* * * * *", false },	 { "once", false },
	};
	ss_tz *tz = NULL;
	size_t i;

	(void)state;
	assert_int_equal(ss_tz_load(&tz, "Europe/Berlin"), 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		app_cron c;

		assert_int_equal(app_cron_parse(&c, rows[i].cron, "x"), 0);
		if (app_schedule_plan_never_runs(&c, tz, at("2025-06-01T00:00:00Z")) !=
		    rows[i].never)
			fail_msg("%s: never_runs should be %d", rows[i].cron, rows[i].never);
	}
	assert_false(app_schedule_plan_never_runs(NULL, tz, 0));
	ss_tz_free(tz);
}

static void test_reasons_and_bounds(void **state)
{
	(void)state;
	assert_non_null(
		strstr(app_schedule_plan_cause_text("TargetNotFound"), "not ready"));
	assert_non_null(strstr(app_schedule_plan_cause_text(APP_SCHEDULE_PLAN_CAUSE_LATE),
			       "in time"));
	assert_non_null(
		strstr(app_schedule_plan_cause_text(APP_SCHEDULE_PLAN_REASON_REJECTED),
		       "refused"));
	assert_non_null(app_schedule_plan_cause_text(NULL));
	/* a failed create stands until a spec change (or a Backup is made) */
	assert_true(app_schedule_plan_failure_stands(APP_SCHEDULE_PLAN_REASON_REJECTED,
						     false));
	assert_true(app_schedule_plan_failure_stands(
		APP_SCHEDULE_PLAN_REASON_CREATE_FAILED, false));
	assert_false(app_schedule_plan_failure_stands(APP_SCHEDULE_PLAN_REASON_REJECTED,
						      true));
	assert_false(app_schedule_plan_failure_stands("TargetNotFound", false));
	assert_false(app_schedule_plan_failure_stands(NULL, false));
	/* retries well within startingDeadlineSeconds, and never 1000 s apart */
	assert_true(app_schedule_plan_retry_cap_ns(-1) == 60 * SS_NS_PER_SEC);
	assert_true(app_schedule_plan_retry_cap_ns(3600) == 60 * SS_NS_PER_SEC);
	assert_true(app_schedule_plan_retry_cap_ns(200) == 50 * SS_NS_PER_SEC);
	assert_true(app_schedule_plan_retry_cap_ns(10) == 2500 * SS_NS_PER_MS);
	assert_true(app_schedule_plan_retry_cap_ns(0) == SS_NS_PER_SEC);
}

static void test_clean_message(void **state)
{
	char out[16], big[APP_SCHEDULE_PLAN_MESSAGE_MAX];
	char text[2000];

	(void)state;
	assert_string_equal(
		app_schedule_plan_clean_message(out, sizeof(out), "a\nb\tc\x7f"),
		"a b c ");
	assert_string_equal(app_schedule_plan_clean_message(out, sizeof(out), NULL), "");
	/* cut on a character boundary: "é" is 2 bytes */
	assert_string_equal(app_schedule_plan_clean_message(out, 8, "abc\xc3\xa9xyz"),
			    "abc...");
	assert_string_equal(app_schedule_plan_clean_message(out, 8, "abcd\xc3\xa9xyz"),
			    "abcd...");
	assert_string_equal(app_schedule_plan_clean_message(out, 7, "abcdefg"), "abc...");
	assert_string_equal(app_schedule_plan_clean_message(out, 8, "abcdefg"),
			    "abcdefg");
	memset(text, 'm', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	app_schedule_plan_clean_message(big, sizeof(big), text);
	assert_int_equal(strlen(big), APP_SCHEDULE_PLAN_MESSAGE_MAX - 1);
	assert_string_equal(big + APP_SCHEDULE_PLAN_MESSAGE_MAX - 4, "...");
}

/* Restores as JSON: which of a schedule's Backups each one holds. */
static void test_restore_hold(void **state)
{
	static const struct {
		const char *json;
		app_schedule_plan_hold want;
		const char *backup;
	} holds[] = {
		{ "{\"spec\":{\"source\":{\"backupName\":\"b1\"}}}",
		  APP_SCHEDULE_PLAN_HOLD_BACKUP, "b1" },
		{ "{\"spec\":{\"source\":{\"backupName\":\"b1\"}},"
		  "\"status\":{\"phase\":\"Restoring\"}}",
		  APP_SCHEDULE_PLAN_HOLD_BACKUP, "b1" },
		{ "{\"spec\":{\"source\":{\"backupName\":\"b1\"}},"
		  "\"status\":{\"phase\":\"Completed\"}}",
		  APP_SCHEDULE_PLAN_HOLD_NONE, NULL },
		{ "{\"spec\":{\"source\":{\"backupName\":\"b1\"}},"
		  "\"status\":{\"phase\":\"Failed\"}}",
		  APP_SCHEDULE_PLAN_HOLD_NONE, NULL },
		/* from the schedule, not yet resolved: all of its Backups */
		{ "{\"spec\":{\"source\":{\"scheduleName\":\"nightly\"}}}",
		  APP_SCHEDULE_PLAN_HOLD_ALL, NULL },
		/* resolved: the one it chose */
		{ "{\"spec\":{\"source\":{\"scheduleName\":\"nightly\"}},"
		  "\"status\":{\"phase\":\"Pending\",\"sourceBackup\":\"nightly-1\"}}",
		  APP_SCHEDULE_PLAN_HOLD_BACKUP, "nightly-1" },
		/* another schedule's */
		{ "{\"spec\":{\"source\":{\"scheduleName\":\"hourly\"}}}",
		  APP_SCHEDULE_PLAN_HOLD_NONE, NULL },
		{ "{\"spec\":{\"source\":{\"volumeSnapshotName\":\"vs\"}}}",
		  APP_SCHEDULE_PLAN_HOLD_NONE, NULL },
		/* malformed: names nothing, or the wrong types */
		{ "{}", APP_SCHEDULE_PLAN_HOLD_NONE, NULL },
		{ "{\"spec\":{\"source\":{\"backupName\":7}},\"status\":[]}",
		  APP_SCHEDULE_PLAN_HOLD_NONE, NULL },
		{ "{\"spec\":{\"source\":{\"backupName\":\"\"}}}",
		  APP_SCHEDULE_PLAN_HOLD_NONE, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(holds) / sizeof(holds[0]); i++) {
		json_t *r = json_loads(holds[i].json, 0, NULL);
		const char *b = "unset";

		assert_non_null(r);
		if (app_schedule_plan_restore_hold(r, "nightly", &b) != holds[i].want)
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
		cmocka_unit_test(test_run_now_names_do_not_collide),
		cmocka_unit_test(test_causes),
		cmocka_unit_test(test_never_runs),
		cmocka_unit_test(test_reasons_and_bounds),
		cmocka_unit_test(test_clean_message),
		cmocka_unit_test(test_restore_hold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
