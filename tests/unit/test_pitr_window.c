/*
 * test_pitr_window.c — a schedule's point-in-time window
 * (app/schedule/pitr_window.h): which Backup recoverableFrom is from, the
 * PointInTimeCoverage verdicts, when a check is due, and a base that went
 * (retention) moving recoverableFrom with a trace.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "app/schedule/pitr_window.h"
#include "util/clock.h"

#define S SS_NS_PER_SEC
#define T0 (INT64_C(1800000000) * S)

static app_pitr_backup bk(const char *name, int64_t data_s, const char *pos)
{
	app_pitr_backup b;

	memset(&b, 0, sizeof(b));
	b.name = name;
	b.data_ns = T0 + data_s * S;
	b.completion_ns = b.data_ns + 2 * S;
	b.usable = true;
	b.has_pos = pos != NULL && app_gtid_pos_parse(&b.pos, pos) == 0;
	return b;
}

static app_pitr_check ok_check(const char *oldest, int64_t at_s, int64_t expire_s)
{
	app_pitr_check c;

	memset(&c, 0, sizeof(c));
	c.result = APP_PITR_CHECK_OK;
	c.checked_ns = T0 + at_s * S;
	c.oldest_file = "bin.000007";
	c.expire_seconds = expire_s;
	assert_int_equal(app_gtid_pos_parse(&c.oldest, oldest), 0);
	return c;
}

static void test_covered_from_oldest(void **state)
{
	app_pitr_backup bs[3] = { bk("b2", 200, "0-1-20"), bk("b1", 100, "0-1-10"),
				  bk("b3", 300, "0-1-30") };
	app_pitr_check c = ok_check("", 400, 0);
	app_pitr_window w;

	(void)state;
	app_pitr_window_decide(&w, bs, 3, &c, NULL, c.checked_ns);
	assert_int_equal(w.status, APP_PITR_TRUE);
	assert_string_equal(w.reason, APP_PITR_REASON_COVERED);
	assert_int_equal(w.base, 1);
	assert_true(w.from_ns == T0 + 100 * S);
	assert_true(w.to_ns == T0 + 400 * S);
	assert_true(app_pitr_window_seconds(w.from_ns, w.to_ns) == 300.0);
	assert_non_null(strstr(w.message, "b1"));
}

static void test_partly_purged(void **state)
{
	/* the oldest file starts after 0-1-15: b1 (at 10) lost its events */
	app_pitr_backup bs[3] = { bk("b1", 100, "0-1-10"), bk("b2", 200, "0-1-20"),
				  bk("b3", 300, "0-1-30") };
	app_pitr_check c = ok_check("0-1-15", 400, 0);
	app_pitr_window w;

	(void)state;
	app_pitr_window_decide(&w, bs, 3, &c, NULL, c.checked_ns);
	assert_int_equal(w.status, APP_PITR_TRUE);
	assert_int_equal(w.base, 1);
	assert_true(w.from_ns == T0 + 200 * S);
	/* exactly at the newest base's position: still covered */
	c = ok_check("0-1-30", 400, 0);
	app_pitr_window_decide(&w, bs, 3, &c, NULL, c.checked_ns);
	assert_int_equal(w.status, APP_PITR_TRUE);
	assert_int_equal(w.base, 2);
}

static void test_purged_after_newest(void **state)
{
	app_pitr_backup bs[2] = { bk("b1", 100, "0-1-10"), bk("b2", 200, "0-1-20") };
	app_pitr_check c = ok_check("0-1-21", 400, 0);
	app_pitr_window w;

	(void)state;
	app_pitr_window_decide(&w, bs, 2, &c, NULL, c.checked_ns);
	assert_int_equal(w.status, APP_PITR_FALSE);
	assert_string_equal(w.reason, APP_PITR_REASON_PURGED);
	assert_int_equal(w.base, -1);
	assert_true(w.from_ns == 0 && w.to_ns == 0);
	assert_non_null(strstr(w.message, "newest Backup b2"));
	assert_non_null(strstr(w.message, "bin.000007"));
	/* a new domain the base never had, purged in part: not covered */
	bs[1] = bk("b2", 200, "0-1-20");
	c = ok_check("0-1-5,1-2-3", 400, 0);
	app_pitr_window_decide(&w, bs, 2, &c, NULL, c.checked_ns);
	assert_string_equal(w.reason, APP_PITR_REASON_PURGED);
}

static void test_retention_short(void **state)
{
	app_pitr_backup bs[1] = { bk("b1", 100, "0-1-10") };
	app_pitr_check c = ok_check("0-1-3", 100 + 61, 60);
	app_pitr_window w;

	(void)state;
	app_pitr_window_decide(&w, bs, 1, &c, NULL, c.checked_ns);
	assert_int_equal(w.status, APP_PITR_FALSE);
	assert_string_equal(w.reason, APP_PITR_REASON_RETENTION_SHORT);
	assert_true(w.from_ns == T0 + 100 * S); /* still restorable now */
	assert_non_null(strstr(w.message, "60 s"));
	c = ok_check("0-1-3", 100 + 60, 60);
	app_pitr_window_decide(&w, bs, 1, &c, NULL, c.checked_ns);
	assert_int_equal(w.status, APP_PITR_TRUE);
}

static void test_no_backup_and_binlog_off(void **state)
{
	app_pitr_backup bs[3] = { bk("b1", 100, "0-1-10"), bk("b2", 200, NULL),
				  bk("b3", 300, "0-1-30") };
	app_pitr_check c = ok_check("", 400, 0);
	app_pitr_window w;

	(void)state;
	bs[0].usable = false; /* Restorable False */
	bs[2].usable = false; /* being deleted */
	app_pitr_window_decide(&w, bs, 3, &c, NULL, c.checked_ns);
	assert_int_equal(w.status, APP_PITR_FALSE);
	assert_string_equal(w.reason, APP_PITR_REASON_NO_BACKUP);
	c.result = APP_PITR_CHECK_BINLOG_OFF;
	c.primary = "mariadb-0";
	app_pitr_window_decide(&w, bs, 3, &c, NULL, c.checked_ns);
	assert_string_equal(w.reason, APP_PITR_REASON_DISABLED);
	assert_non_null(strstr(w.message, "mariadb-0"));
}

static void test_unknown_keeps_window(void **state)
{
	app_pitr_backup bs[1] = { bk("b1", 100, "0-1-10") };
	app_pitr_prev prev;

	memset(&prev, 0, sizeof(prev));
	prev.base = "b1";
	prev.from_ns = T0 + 100 * S;
	prev.to_ns = T0 + 300 * S;
	prev.was_true = true;
	app_pitr_check c;
	app_pitr_window w;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.result = APP_PITR_CHECK_FAILED;
	c.unknown_reason = APP_PITR_REASON_PRIVILEGE;
	c.detail = "SHOW BINARY LOGS: MariaDB error 1227: needs BINLOG MONITOR";
	app_pitr_window_decide(&w, bs, 1, &c, &prev, T0 + 700 * S);
	assert_int_equal(w.status, APP_PITR_UNKNOWN);
	assert_string_equal(w.reason, APP_PITR_REASON_PRIVILEGE);
	assert_non_null(strstr(w.message, "BINLOG MONITOR"));
	assert_true(w.from_ns == prev.from_ns && w.to_ns == prev.to_ns);
	assert_false(w.window_changed);
}

/* Retention prunes the base: recoverableFrom moves to the next base, and
 * the decision names the one that went. */
static void test_pruned_base_moves_from(void **state)
{
	app_pitr_backup bs[2] = { bk("b2", 200, "0-1-20"), bk("b3", 300, "0-1-30") };
	app_pitr_prev prev;

	memset(&prev, 0, sizeof(prev));
	prev.base = "b1";
	prev.from_ns = T0 + 100 * S;
	prev.to_ns = T0 + 400 * S;
	prev.has_oldest = true;
	app_pitr_window w;

	(void)state;
	assert_int_equal(app_gtid_pos_parse(&prev.oldest, "0-1-5"), 0);
	app_pitr_window_decide(&w, bs, 2, NULL, &prev, T0 + 410 * S);
	assert_non_null(w.base_lost);
	assert_string_equal(w.base_lost, "b1");
	assert_int_equal(w.base, 0);
	assert_true(w.from_ns == T0 + 200 * S);
	assert_true(w.to_ns == prev.to_ns);
	assert_true(w.window_changed);
	/* the base still there: nothing moves */
	prev.base = "b2";
	prev.from_ns = T0 + 200 * S;
	app_pitr_window_decide(&w, bs, 2, NULL, &prev, T0 + 410 * S);
	assert_null(w.base_lost);
	assert_false(w.window_changed);
	/* every base gone: no window, still said */
	prev.base = "b1";
	prev.from_ns = T0 + 100 * S;
	app_pitr_window_decide(&w, bs, 0, NULL, &prev, T0 + 410 * S);
	assert_string_equal(w.base_lost, "b1");
	assert_true(w.from_ns == 0 && w.to_ns == 0);
	/* found by a check too */
	{
		app_pitr_check c = ok_check("0-1-5", 500, 0);

		app_pitr_window_decide(&w, bs, 2, &c, &prev, c.checked_ns);
		assert_string_equal(w.base_lost, "b1");
		assert_true(w.from_ns == T0 + 200 * S);
	}
}

/* The base goes while the check fails (the primary unreachable) and the
 * only Backup left is newer than the last check: it was never found
 * covered, and moving recoverableFrom to it would put it after
 * recoverableTo. No window until a check says, still naming the base. */
static void test_pruned_base_next_after_check(void **state)
{
	app_pitr_backup bs[1] = { bk("b3", 300, "0-1-30") };
	app_pitr_prev prev;
	app_pitr_check c;
	app_pitr_window w;

	(void)state;
	memset(&prev, 0, sizeof(prev));
	prev.base = "b1";
	prev.from_ns = T0 + 100 * S;
	prev.to_ns = T0 + 250 * S;
	prev.has_oldest = true;
	assert_int_equal(app_gtid_pos_parse(&prev.oldest, "0-1-5"), 0);
	memset(&c, 0, sizeof(c));
	c.result = APP_PITR_CHECK_FAILED;
	c.unknown_reason = APP_PITR_REASON_UNREACHABLE;
	c.detail = "no answer";
	app_pitr_window_decide(&w, bs, 1, &c, &prev, T0 + 410 * S);
	assert_string_equal(w.base_lost, "b1");
	assert_int_equal(w.base, -1);
	assert_true(w.from_ns == 0 && w.to_ns == 0);
	assert_int_equal(w.status, APP_PITR_UNKNOWN);
	/* in the check's second (status times are whole seconds, data times
	 * may have a fraction; found by e2e.test_pitr_window) it moves there */
	bs[0] = bk("b3", 250, "0-1-30");
	bs[0].data_ns += S / 3;
	app_pitr_window_decide(&w, bs, 1, NULL, &prev, T0 + 410 * S);
	assert_int_equal(w.base, 0);
	/* a Backup exactly at the check's time is covered: it moves there */
	bs[0] = bk("b3", 250, "0-1-30");
	app_pitr_window_decide(&w, bs, 1, NULL, &prev, T0 + 410 * S);
	assert_int_equal(w.base, 0);
	assert_true(w.from_ns == T0 + 250 * S && w.to_ns == prev.to_ns);
}

static void test_check_due(void **state)
{
	app_pitr_backup bs[1] = { bk("b1", 100, "0-1-10") };
	int64_t last = T0 + 50 * S;

	(void)state;
	assert_true(app_pitr_check_due(bs, 1, 0, T0, 300));
	assert_false(app_pitr_check_due(bs, 0, last, last + 299 * S, 300));
	assert_true(app_pitr_check_due(bs, 0, last, last + 300 * S, 300));
	/* b1 completed (at 102) after the check at 50 */
	assert_true(app_pitr_check_due(bs, 1, last, last + 60 * S, 300));
	last = T0 + 200 * S;
	assert_false(app_pitr_check_due(bs, 1, last, last + 60 * S, 300));
	assert_true(app_pitr_next_check_ns(last, 0) == last + 300 * S);
	assert_true(app_pitr_window_seconds(0, last) == 0);
	assert_true(app_pitr_check_due(bs, 0, last, last + 10 * S, 10));
	assert_false(app_pitr_check_due(bs, 0, last, last + 9 * S, 10));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_covered_from_oldest),
		cmocka_unit_test(test_partly_purged),
		cmocka_unit_test(test_purged_after_newest),
		cmocka_unit_test(test_retention_short),
		cmocka_unit_test(test_no_backup_and_binlog_off),
		cmocka_unit_test(test_unknown_keeps_window),
		cmocka_unit_test(test_pruned_base_moves_from),
		cmocka_unit_test(test_pruned_base_next_after_check),
		cmocka_unit_test(test_check_due),
	};

	return cmocka_run_group_tests_name("pitr_window", tests, NULL, NULL);
}
