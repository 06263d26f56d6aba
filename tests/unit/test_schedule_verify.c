/*
 * test_schedule_verify.c — the schedule's side of restore verification
 * (app/schedule/schedule_plan.h, issue 18), pure: the verification cron's
 * due time (first due, no repeat for a due time acted on, a long outage
 * acts once on the newest, its own zone, suspended, a spec change, "once"),
 * which Backup is verified (the newest Complete one; Failed, not
 * Restorable, being deleted and running ones skipped; ties by name), what
 * counts as a verification in progress, everyNthBackup's numbering and
 * requests, and the report (last verification, last verified, failing).
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

/* ---- the verification cron ---------------------------------------------- */

typedef struct {
	const char *what;
	const char *cron;
	const char *zone;
	const char *created;
	const char *last; /* lastRequestTime */
	const char *next; /* nextVerificationTime as last written */
	const char *now;
	bool suspend, spec_changed;
	/* expected */
	bool due;
	const char *due_at;
	const char *cursor;
	const char *next_at;
} due_case;

static const due_case due_cases[] = {
	{ "new schedule: nothing due before the first due time", "0 3 * * *", "UTC",
	  "2025-06-01T10:00:00Z", NULL, NULL, "2025-06-01T12:00:00Z", false, false, false,
	  NULL, NULL, "2025-06-02T03:00:00Z" },
	{ "first due time", "0 3 * * *", "UTC", "2025-06-01T10:00:00Z", NULL, NULL,
	  "2025-06-02T03:00:01Z", false, false, true, "2025-06-02T03:00:00Z",
	  "2025-06-02T03:00:00Z", "2025-06-03T03:00:00Z" },
	{ "the same due time again: nothing (no repeat)", "0 3 * * *", "UTC",
	  "2025-06-01T10:00:00Z", "2025-06-02T03:00:00Z", "2025-06-03T03:00:00Z",
	  "2025-06-02T09:00:00Z", false, false, false, NULL, "2025-06-02T03:00:00Z",
	  "2025-06-03T03:00:00Z" },
	{ "down for 10 days: once, for the newest due time", "0 3 * * *", "UTC",
	  "2025-06-01T10:00:00Z", "2025-06-02T03:00:00Z", "2025-06-03T03:00:00Z",
	  "2025-06-12T08:00:00Z", false, false, true, "2025-06-12T03:00:00Z",
	  "2025-06-12T03:00:00Z", "2025-06-13T03:00:00Z" },
	{ "its own zone: 03:00 in Europe/Berlin (CEST) is 01:00 UTC", "0 3 * * *",
	  "Europe/Berlin", "2025-06-01T10:00:00Z", "2025-06-02T01:00:00Z", NULL,
	  "2025-06-03T01:00:05Z", false, false, true, "2025-06-03T01:00:00Z",
	  "2025-06-03T01:00:00Z", "2025-06-04T01:00:00Z" },
	{ "...and not yet at 02:59 UTC on a UTC reading", "0 3 * * *", "Europe/Berlin",
	  "2025-06-01T10:00:00Z", "2025-06-03T01:00:00Z", NULL, "2025-06-03T02:59:00Z",
	  false, false, false, NULL, "2025-06-03T01:00:00Z", "2025-06-04T01:00:00Z" },
	{ "suspended: nothing and no next time", "0 3 * * *", "UTC",
	  "2025-06-01T10:00:00Z", "2025-06-02T03:00:00Z", NULL, "2025-06-05T04:00:00Z",
	  true, false, false, NULL, "2025-06-02T03:00:00Z", NULL },
	{ "spec changed: the new cron's due times are passed over", "0 5 * * *", "UTC",
	  "2025-06-01T10:00:00Z", "2025-06-02T03:00:00Z", "2025-06-03T03:00:00Z",
	  "2025-06-02T06:00:00Z", false, true, false, NULL, "2025-06-02T05:00:00Z",
	  "2025-06-03T05:00:00Z" },
	{ "spec changed: the old spec's awaited due time, come meanwhile, acts",
	  "0 5 * * *", "UTC", "2025-06-01T10:00:00Z", "2025-06-02T03:00:00Z",
	  "2025-06-03T03:00:00Z", "2025-06-03T06:00:00Z", false, true, true,
	  "2025-06-03T03:00:00Z", "2025-06-03T05:00:00Z", "2025-06-04T05:00:00Z" },
	{ "\"once\" never falls due for verification", "once", "UTC",
	  "2025-06-01T10:00:00Z", NULL, NULL, "2025-06-05T04:00:00Z", false, false, false,
	  NULL, NULL, NULL },
};

static void test_due(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(due_cases) / sizeof(due_cases[0]); i++) {
		const due_case *dc = &due_cases[i];
		app_schedule_plan_verify_in in;
		app_schedule_plan_verify_out out;
		app_cron c;
		ss_tz *tz = NULL;

		assert_int_equal(app_cron_parse(&c, dc->cron, "ns/name/verify"), 0);
		assert_int_equal(ss_tz_load(&tz, dc->zone), 0);
		memset(&in, 0, sizeof(in));
		in.now_ns = at(dc->now);
		in.creation_ns = at(dc->created);
		in.last_request_ns = at(dc->last);
		in.next_ns = at(dc->next);
		in.suspend = dc->suspend;
		in.spec_changed = dc->spec_changed;
		memset(&out, 0xab, sizeof(out));
		assert_int_equal(app_schedule_plan_verify_due(&out, &c, tz, &in), 0);
		if (out.due != dc->due || (dc->due && out.due_ns != at(dc->due_at)) ||
		    out.last_request_ns != at(dc->cursor) ||
		    out.next_ns != at(dc->next_at))
			fail_msg("%s: due %d at %lld cursor %lld next %lld", dc->what,
				 (int)out.due, (long long)out.due_ns,
				 (long long)out.last_request_ns, (long long)out.next_ns);
		ss_tz_free(tz);
	}
}

/* Acting on the due time and coming back later: one request per due
 * time, however often the schedule is looked at in between. */
static void test_due_sequence(void **state)
{
	app_schedule_plan_verify_in in = { 0 };
	app_schedule_plan_verify_out out;
	app_cron c;
	ss_tz *tz = NULL;
	int requests = 0;
	int64_t t;

	(void)state;
	assert_int_equal(app_cron_parse(&c, "30 * * * *", "x"), 0);
	assert_int_equal(ss_tz_load(&tz, "UTC"), 0);
	in.creation_ns = at("2025-06-01T00:00:00Z");
	/* every 7 minutes for 5 hours: 00:30 ... 04:30 are due */
	for (t = at("2025-06-01T00:01:00Z"); t < at("2025-06-01T05:00:00Z");
	     t += 7 * 60 * SS_NS_PER_SEC) {
		in.now_ns = t;
		assert_int_equal(app_schedule_plan_verify_due(&out, &c, tz, &in), 0);
		requests += out.due;
		in.last_request_ns = out.last_request_ns;
		in.next_ns = out.next_ns;
	}
	assert_int_equal(requests, 5);
	assert_true(in.last_request_ns == at("2025-06-01T04:30:00Z"));
	assert_int_equal(app_schedule_plan_verify_due(NULL, &c, tz, &in), SS_EINVALID);
	assert_int_equal(app_schedule_plan_verify_due(&out, &c, NULL, &in), SS_EINVALID);
	ss_tz_free(tz);
}

/* ---- which Backup ------------------------------------------------------ */

#define VB(n, created, ...)                                                             \
	{                                                                               \
		.name = n, .creation_ns = INT64_C(created) * SS_NS_PER_SEC, __VA_ARGS__ \
	}

static void test_pick(void **state)
{
	const app_schedule_plan_vbackup bs[] = {
		VB("b1", 100, .complete = true),
		VB("b2", 200, .complete = true),
		VB("b3", 300, .complete = true, .unrestorable = true),
		VB("b4", 400, .complete = false), /* Failed or running */
		VB("b5", 500, .complete = true, .deleting = true),
		VB("b0", 200, .complete = true), /* same time as b2: the lesser name */
	};
	app_schedule_plan_vbackup one[2];

	(void)state;
	assert_int_equal(app_schedule_plan_verify_pick(bs, 6), 1);
	assert_int_equal(app_schedule_plan_verify_pick(bs, 1), 0);
	/* nothing verifiable */
	assert_int_equal(app_schedule_plan_verify_pick(bs + 2, 3), -1);
	assert_int_equal(app_schedule_plan_verify_pick(bs, 0), -1);
	/* equal times: the greater name */
	one[0] = bs[5];
	one[1] = bs[1];
	assert_int_equal(app_schedule_plan_verify_pick(one, 2), 1);
	one[1].name = "a";
	assert_int_equal(app_schedule_plan_verify_pick(one, 2), 0);
	assert_false(app_schedule_plan_verifiable(&bs[2]));
	assert_false(app_schedule_plan_verifiable(&bs[3]));
	assert_false(app_schedule_plan_verifiable(&bs[4]));
	assert_true(app_schedule_plan_verifiable(&bs[0]));
}

static void test_pending(void **state)
{
	const app_schedule_plan_vbackup none = VB("a", 1, .complete = true);
	const app_schedule_plan_vbackup asked = VB("a", 1, .verify_now = "t2");
	const app_schedule_plan_vbackup handled =
		VB("a", 1, .verify_now = "t2", .token = "t2", .done = true);
	const app_schedule_plan_vbackup running =
		VB("a", 1, .verify_now = "t2", .token = "t2", .active = true);
	const app_schedule_plan_vbackup newer =
		VB("a", 1, .verify_now = "t3", .token = "t2", .done = true);
	const app_schedule_plan_vbackup empty = VB("a", 1, .verify_now = "");

	(void)state;
	assert_false(app_schedule_plan_verify_pending(&none));
	assert_true(app_schedule_plan_verify_pending(&asked));
	assert_false(app_schedule_plan_verify_pending(&handled));
	assert_true(app_schedule_plan_verify_pending(&running));
	assert_true(app_schedule_plan_verify_pending(&newer));
	assert_false(app_schedule_plan_verify_pending(&empty));
}

/* ---- everyNthBackup ------------------------------------------------------ */

static void test_nth(void **state)
{
	/* creation order b1 < b2 < ... ; b3 failed (not Complete) */
	app_schedule_plan_vbackup bs[] = {
		VB("b5", 500, .complete = true, .completion_ns = 510),
		VB("b1", 100, .complete = true, .completion_ns = 110),
		VB("b2", 200, .complete = true, .completion_ns = 210),
		VB("b3", 300, .complete = false),
		VB("b4", 400, .complete = true, .completion_ns = 410),
	};
	int64_t ord[6];
	bool ask[6];
	char token[APP_SCHEDULE_PLAN_VERIFY_TOKEN_BUF];

	(void)state;
	/* off */
	app_schedule_plan_verify_nth(ord, ask, bs, 5, 0, 0);
	for (int i = 0; i < 5; i++)
		assert_true(ord[i] == 0 && !ask[i]);
	/* numbering starts now: by creation, Complete ones only; asked only
	 * for what completed after the schedule last looked (405) */
	app_schedule_plan_verify_nth(ord, ask, bs, 5, 2, 405);
	assert_true(ord[1] == 1 && ord[2] == 2 && ord[3] == 0 && ord[4] == 3 &&
		    ord[0] == 4);
	assert_false(ask[1]);
	assert_false(ask[2]); /* a multiple, but from before: no burst */
	assert_false(ask[4]);
	assert_true(ask[0]); /* 4, completed after 405 */
	/* numbered: only the new one gets a number, one more than the top */
	for (int i = 0; i < 5; i++)
		bs[i].ordinal = ord[i];
	bs[3].complete = true; /* completed late (a retried Backup) */
	bs[3].completion_ns = 600;
	app_schedule_plan_verify_nth(ord, ask, bs, 5, 5, 520);
	assert_true(ord[0] == 0 && ord[1] == 0 && ord[2] == 0 && ord[4] == 0);
	assert_true(ord[3] == 5 && ask[3]);
	/* once numbered, never again: no second request */
	bs[3].ordinal = 5;
	app_schedule_plan_verify_nth(ord, ask, bs, 5, 5, 0);
	for (int i = 0; i < 5; i++)
		assert_true(ord[i] == 0 && !ask[i]);
	/* pruned Backups do not shift the count: the next is 6, not 3 */
	bs[1].name = bs[2].name = NULL; /* as if gone */
	bs[1].ordinal = bs[2].ordinal = 0;
	bs[1].complete = bs[2].complete = false;
	{
		app_schedule_plan_vbackup more[6];

		memcpy(more, bs, sizeof(bs));
		more[5] = (app_schedule_plan_vbackup)VB("b6", 600, .complete = true,
							.completion_ns = 700);
		app_schedule_plan_verify_nth(ord, ask, more, 6, 3, 610);
		assert_true(ord[5] == 6 && ask[5]);
		/* a Complete Backup that is no longer restorable is numbered
		 * but not asked for */
		more[5].unrestorable = true;
		app_schedule_plan_verify_nth(ord, ask, more, 6, 3, 610);
		assert_true(ord[5] == 6 && !ask[5]);
	}
	assert_string_equal(app_schedule_plan_nth_token(token, sizeof(token), "db-1"),
			    "nth-db-1");
}

/* ---- the report ---------------------------------------------------------- */

#define DONE(res, at_s) .done = true, .result = res, .verified_ns = INT64_C(at_s)

static void test_report(void **state)
{
	app_schedule_plan_verify_report rep;
	/* b3 (newest) failed last; b2 passed before */
	app_schedule_plan_vbackup bs[] = {
		VB("b1", 100, .complete = true, DONE("Passed", 1000)),
		VB("b2", 200, .complete = true, DONE("Passed", 2000)),
		VB("b3", 300, .complete = true, DONE("Failed", 3000)),
		VB("b4", 400, .complete = true, .active = true), /* in progress */
	};

	(void)state;
	app_schedule_plan_verify_report_of(&rep, bs, 4);
	assert_int_equal(rep.last, 2);
	assert_int_equal(rep.verified, 1);
	assert_true(rep.failing);
	/* an older Backup verified (passed) after the failure: the newest
	 * finished verification passed, so not failing (the rule of the
	 * brief: "the newest finished verification failed") */
	bs[0].verified_ns = 4000;
	app_schedule_plan_verify_report_of(&rep, bs, 4);
	assert_int_equal(rep.last, 0);
	assert_int_equal(rep.verified, 1);
	assert_true(rep.failing == false); /* the newest finished one passed */
	/* a newer Backup passed before the older one failed: not failing */
	bs[0].verified_ns = 1000;
	bs[2] = (app_schedule_plan_vbackup)VB("b3", 300, .complete = true,
					      DONE("Passed", 2500));
	bs[1] = (app_schedule_plan_vbackup)VB("b2", 200, .complete = true,
					      DONE("Failed", 3000));
	app_schedule_plan_verify_report_of(&rep, bs, 4);
	assert_int_equal(rep.last, 1);
	assert_int_equal(rep.verified, 2);
	assert_false(rep.failing);
	/* the older b2 failed last, only b1 (older still) passed: failing;
	 * then the newer b4 passes: no longer failing, it is verified */
	bs[1] = (app_schedule_plan_vbackup)VB("b2", 200, .complete = true,
					      DONE("Failed", 3000));
	bs[2] = (app_schedule_plan_vbackup)VB("b3", 300, .complete = true);
	app_schedule_plan_verify_report_of(&rep, bs, 4);
	assert_int_equal(rep.last, 1);
	assert_int_equal(rep.verified, 0);
	assert_true(rep.failing);
	bs[3] = (app_schedule_plan_vbackup)VB("b4", 400, .complete = true,
					      DONE("Passed", 3500));
	app_schedule_plan_verify_report_of(&rep, bs, 4);
	assert_int_equal(rep.last, 3);
	assert_int_equal(rep.verified, 3);
	assert_false(rep.failing);
	/* only a failure, nothing verified */
	app_schedule_plan_verify_report_of(&rep, bs + 1, 1);
	assert_int_equal(rep.last, 0);
	assert_int_equal(rep.verified, -1);
	assert_true(rep.failing);
	/* nothing finished */
	app_schedule_plan_verify_report_of(&rep, bs + 2, 1);
	assert_int_equal(rep.last, -1);
	assert_int_equal(rep.verified, -1);
	assert_false(rep.failing);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_due),  cmocka_unit_test(test_due_sequence),
		cmocka_unit_test(test_pick), cmocka_unit_test(test_pending),
		cmocka_unit_test(test_nth),  cmocka_unit_test(test_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
