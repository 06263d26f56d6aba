/*
 * test_binlog.c — the pure parts of app/db/binlog.h: what an event is to
 * event groups (start, body, end, outside, stray), the fold that keeps per
 * domain the last group committed at or before the target second over a
 * synthetic event stream (inclusive second, a transaction's time is its
 * commit's, the prefix rule, stray events refused), the target second's
 * floor, and the coverage check of a base against the oldest binlog.
 */
#include <stdio.h>
#include <string.h>

#include <mysql.h>
#include <mariadb_rpl.h>

#include "testutil.h"

#include "app/db/binlog.h"
#include "util/error.h"

/* ---- building events ---------------------------------------------------- */

static app_binlog_event gtid(uint32_t t, uint32_t d, uint32_t s, uint64_t n, uint8_t fl)
{
	app_binlog_event e = { .type = GTID_EVENT, .timestamp = t, .server_id = s,
			       .gtid_domain = d, .gtid_seq = n, .gtid_flags = fl };
	return e;
}

static app_binlog_event ev(int type, uint32_t t)
{
	app_binlog_event e = { .type = type, .timestamp = t, .server_id = 1 };
	return e;
}

static app_binlog_event query(uint32_t t, const char *q)
{
	app_binlog_event e = { .type = QUERY_EVENT, .timestamp = t, .server_id = 1,
			       .query = q, .query_len = strlen(q) };
	return e;
}

static app_gtid_pos pos(const char *text)
{
	app_gtid_pos p;

	assert_int_equal(app_gtid_pos_parse(&p, text), 0);
	return p;
}

static void assert_pos(const app_gtid_pos *p, const char *want)
{
	char got[APP_GTID_TEXT_MAX];

	assert_int_equal(app_gtid_pos_format(got, sizeof(got), p), 0);
	assert_string_equal(got, want);
}

/* ---- roles ----------------------------------------------------------------- */

static void test_roles(void **state)
{
	app_binlog_event e;

	(void)state;
	e = gtid(1, 0, 1, 5, FL_TRANSACTIONAL);
	assert_int_equal(app_binlog_role_of(false, false, &e), APP_BINLOG_GROUP_START);
	assert_int_equal(app_binlog_role_of(true, false, &e), APP_BINLOG_STRAY);
	e = ev(XID_EVENT, 1);
	assert_int_equal(app_binlog_role_of(true, false, &e), APP_BINLOG_GROUP_END);
	assert_int_equal(app_binlog_role_of(false, false, &e), APP_BINLOG_STRAY);
	e = ev(XA_PREPARE_LOG_EVENT, 1);
	assert_int_equal(app_binlog_role_of(true, false, &e), APP_BINLOG_GROUP_END);
	e = ev(WRITE_ROWS_EVENT_V1, 1);
	assert_int_equal(app_binlog_role_of(true, false, &e), APP_BINLOG_GROUP_BODY);
	assert_int_equal(app_binlog_role_of(false, false, &e), APP_BINLOG_STRAY);
	e = ev(TABLE_MAP_EVENT, 1);
	assert_int_equal(app_binlog_role_of(true, true, &e), APP_BINLOG_GROUP_BODY);
	e = ev(INTVAR_EVENT, 1);
	assert_int_equal(app_binlog_role_of(true, true, &e), APP_BINLOG_GROUP_BODY);
	/* Queries: the end of a transaction, or any one of a standalone group. */
	e = query(1, "COMMIT");
	assert_int_equal(app_binlog_role_of(true, false, &e), APP_BINLOG_GROUP_END);
	e = query(1, " commit;\n");
	assert_int_equal(app_binlog_role_of(true, false, &e), APP_BINLOG_GROUP_END);
	e = query(1, "ROLLBACK");
	assert_int_equal(app_binlog_role_of(true, false, &e), APP_BINLOG_GROUP_END);
	e = query(1, "ROLLBACK TO sp1");
	assert_int_equal(app_binlog_role_of(true, false, &e), APP_BINLOG_GROUP_BODY);
	e = query(1, "COMMITTED");
	assert_int_equal(app_binlog_role_of(true, false, &e), APP_BINLOG_GROUP_BODY);
	e = query(1, "INSERT INTO t VALUES (1)");
	assert_int_equal(app_binlog_role_of(true, false, &e), APP_BINLOG_GROUP_BODY);
	e = query(1, "DROP TABLE t");
	assert_int_equal(app_binlog_role_of(true, true, &e), APP_BINLOG_GROUP_END);
	assert_int_equal(app_binlog_role_of(false, false, &e), APP_BINLOG_STRAY);
	/* Outside groups, in or out. */
	e = ev(FORMAT_DESCRIPTION_EVENT, 1);
	assert_int_equal(app_binlog_role_of(false, false, &e), APP_BINLOG_META);
	e = ev(GTID_LIST_EVENT, 1);
	assert_int_equal(app_binlog_role_of(true, false, &e), APP_BINLOG_META);
	e = ev(ROTATE_EVENT, 0);
	assert_int_equal(app_binlog_role_of(false, false, &e), APP_BINLOG_META);
	e = ev(BINLOG_CHECKPOINT_EVENT, 1);
	assert_int_equal(app_binlog_role_of(false, false, &e), APP_BINLOG_META);
	e = ev(HEARTBEAT_LOG_EVENT, 0);
	assert_int_equal(app_binlog_role_of(false, false, &e), APP_BINLOG_META);
}

/* ---- the fold ------------------------------------------------------------- */

/* A history after start 0-1-5 (times in seconds):
 *   100  0-1-6  an insert (GTID, table map, rows, XID)
 *   101  0-1-7  a DDL (standalone)
 *   101  1-1-1  an insert in domain 1
 *   105  0-1-8  a transaction whose rows are at 103 and 104, committed at 105
 *   110  0-2-9  a MyISAM insert ending with COMMIT, after a failover (server 2)
 *   108  0-2-10 a group written after 110's but with an older time
 */
static size_t history(app_binlog_event *out)
{
	size_t n = 0;

	out[n++] = ev(ROTATE_EVENT, 0);
	out[n - 1].flags = LOG_EVENT_ARTIFICIAL_F;
	out[n++] = ev(FORMAT_DESCRIPTION_EVENT, 90);
	out[n++] = ev(GTID_LIST_EVENT, 0);
	out[n - 1].flags = LOG_EVENT_ARTIFICIAL_F;
	out[n++] = gtid(100, 0, 1, 6, FL_TRANSACTIONAL);
	out[n++] = ev(TABLE_MAP_EVENT, 100);
	out[n++] = ev(WRITE_ROWS_EVENT_V1, 100);
	out[n++] = ev(XID_EVENT, 100);
	out[n++] = gtid(101, 0, 1, 7, FL_STANDALONE | FL_DDL);
	out[n++] = query(101, "CREATE TABLE t (i INT)");
	out[n++] = gtid(101, 1, 1, 1, FL_TRANSACTIONAL);
	out[n++] = ev(TABLE_MAP_EVENT, 101);
	out[n++] = ev(WRITE_ROWS_EVENT_V1, 101);
	out[n++] = ev(XID_EVENT, 101);
	out[n++] = gtid(105, 0, 1, 8, FL_TRANSACTIONAL);
	out[n++] = ev(TABLE_MAP_EVENT, 103);
	out[n++] = ev(WRITE_ROWS_EVENT_V1, 103);
	out[n++] = ev(TABLE_MAP_EVENT, 104);
	out[n++] = ev(UPDATE_ROWS_EVENT_V1, 104);
	out[n++] = ev(XID_EVENT, 105);
	out[n++] = gtid(110, 0, 2, 9, 0);
	out[n - 1].server_id = 2;
	out[n++] = ev(TABLE_MAP_EVENT, 110);
	out[n++] = ev(WRITE_ROWS_EVENT_V1, 110);
	out[n++] = query(110, "COMMIT");
	out[n++] = gtid(108, 0, 2, 10, FL_STANDALONE);
	out[n++] = query(108, "DROP TABLE t");
	return n;
}

/* Folds the history for `target`: the position, the groups taken, the
 * newest time taken and whether it stopped before the end. */
static void fold_history(int64_t target, const char *want, uint64_t groups,
			 int64_t last, bool done)
{
	app_binlog_event e[64];
	app_binlog_fold f;
	app_gtid_pos start = pos("0-1-5");
	size_t i, n = history(e);

	app_binlog_fold_init(&f, &start, target);
	for (i = 0; i < n; i++)
		assert_int_equal(app_binlog_fold_event(&f, &e[i]), 0);
	assert_pos(&f.pos, want);
	assert_int_equal(f.groups, groups);
	assert_int_equal(f.last_time, last);
	assert_int_equal(f.done, done);
}

static void test_fold_targets(void **state)
{
	(void)state;
	/* Before everything: the start, stopped at the first group. */
	fold_history(99, "0-1-5", 0, 0, true);
	/* Exactly at a group's second: included. */
	fold_history(100, "0-1-6", 1, 100, true);
	/* Two groups of one second, in two domains. */
	fold_history(101, "0-1-7,1-1-1", 3, 101, true);
	/* The transaction's rows are older than 104 but it committed at 105. */
	fold_history(104, "0-1-7,1-1-1", 3, 101, true);
	fold_history(105, "0-1-8,1-1-1", 4, 105, true);
	/* Prefix rule: 0-2-10 (108) comes after 0-2-9 (110) and is not taken. */
	fold_history(109, "0-1-8,1-1-1", 4, 105, true);
	/* The server id follows the GTID event (a failover). */
	fold_history(110, "0-2-10,1-1-1", 6, 110, false);
	/* After everything: the end, not done. */
	fold_history(1000, "0-2-10,1-1-1", 6, 110, false);
}

static void test_fold_meta_and_commit_time(void **state)
{
	app_binlog_fold f;
	app_binlog_event e;
	app_gtid_pos start = pos("");

	(void)state;
	/* A file's header newer than the target is no time: the groups after
	 * it may carry older ones (another server's clock, SET TIMESTAMP). */
	app_binlog_fold_init(&f, &start, 50);
	e = ev(FORMAT_DESCRIPTION_EVENT, 51);
	assert_int_equal(app_binlog_fold_event(&f, &e), 0);
	assert_false(f.done);
	e = ev(GTID_LIST_EVENT, 99);
	e.flags = LOG_EVENT_ARTIFICIAL_F;
	assert_int_equal(app_binlog_fold_event(&f, &e), 0);
	assert_false(f.done);
	/* A group whose end is newer than its GTID event: not taken. */
	e = gtid(50, 3, 7, 1, FL_TRANSACTIONAL);
	assert_int_equal(app_binlog_fold_event(&f, &e), 0);
	e = ev(XID_EVENT, 51);
	assert_int_equal(app_binlog_fold_event(&f, &e), 0);
	assert_true(f.done);
	assert_int_equal(f.pos.n, 0);
	/* Once done, nothing more counts, not even a stray. */
	e = ev(WRITE_ROWS_EVENT_V1, 1);
	assert_int_equal(app_binlog_fold_event(&f, &e), 0);
	assert_int_equal(f.groups, 0);
}

static void test_fold_stray(void **state)
{
	app_binlog_fold f;
	app_binlog_event e;
	app_gtid_pos start = pos("0-1-5");

	(void)state;
	app_binlog_fold_init(&f, &start, 100);
	e = ev(WRITE_ROWS_EVENT_V1, 10);
	assert_int_equal(app_binlog_fold_event(&f, &e), SS_ERROR);
	assert_non_null(strstr(ss_error_last()->message, "outside any event group"));
	app_binlog_fold_init(&f, &start, 100);
	e = gtid(10, 0, 1, 6, 0);
	assert_int_equal(app_binlog_fold_event(&f, &e), 0);
	e = gtid(11, 0, 1, 7, 0);
	assert_int_equal(app_binlog_fold_event(&f, &e), SS_ERROR);
	assert_non_null(strstr(ss_error_last()->message, "0-1-6 before its end"));
	/* Nothing of the open group was taken. */
	assert_pos(&f.pos, "0-1-5");
}

static void test_fold_domains_full(void **state)
{
	app_binlog_fold f;
	app_binlog_event e;
	app_gtid_pos start;
	uint32_t d;

	(void)state;
	memset(&start, 0, sizeof(start));
	app_binlog_fold_init(&f, &start, 100);
	for (d = 0; d <= APP_GTID_MAX_DOMAINS; d++) {
		int rc;

		e = gtid(10, d, 1, 1, FL_STANDALONE);
		assert_int_equal(app_binlog_fold_event(&f, &e), 0);
		e = query(10, "CREATE TABLE x (i INT)");
		rc = app_binlog_fold_event(&f, &e);
		assert_int_equal(rc, d < APP_GTID_MAX_DOMAINS ? 0 : SS_ETOOLARGE);
	}
	assert_int_equal(f.pos.n, APP_GTID_MAX_DOMAINS);
}

static void test_target_second(void **state)
{
	(void)state;
	assert_int_equal(app_binlog_target_second(0), 0);
	assert_int_equal(app_binlog_target_second(1999999999), 1);
	assert_int_equal(app_binlog_target_second(INT64_C(1700000000000000000)),
			 INT64_C(1700000000));
	assert_int_equal(app_binlog_target_second(-1), -1);
	assert_int_equal(app_binlog_target_second(-1000000000), -1);
	assert_int_equal(app_binlog_target_second(-1000000001), -2);
}

/* ---- coverage ------------------------------------------------------------- */

static bool covers(const char *oldest, const char *base, char *why, size_t cap)
{
	app_binlog_extent e;
	app_gtid_pos b = pos(base);

	memset(&e, 0, sizeof(e));
	snprintf(e.oldest_file, sizeof(e.oldest_file), "mysql-bin.000007");
	e.oldest = pos(oldest);
	return app_binlog_covers(&e, &b, why, cap);
}

static void test_covers(void **state)
{
	char why[APP_DB_MESSAGE_MAX];

	(void)state;
	assert_true(covers("", "", why, sizeof(why)));
	assert_string_equal(why, "");
	assert_true(covers("", "0-1-3", why, sizeof(why)));
	assert_true(covers("0-1-10,1-1-3", "0-1-10,1-1-3", why, sizeof(why)));
	assert_true(covers("0-1-10,1-1-3", "0-1-12,1-1-5", why, sizeof(why)));
	/* A domain only the base has is new since the oldest file. */
	assert_true(covers("0-1-10", "0-1-10,5-1-2", why, sizeof(why)));
	/* Server ids are not compared: a failover keeps the seq order. */
	assert_true(covers("0-1-10", "0-2-11", why, sizeof(why)));
	/* A domain at seq 0 in the oldest list holds no events before it. */
	assert_true(covers("0-1-10,2-1-0", "0-1-10", why, sizeof(why)));

	assert_false(covers("0-1-10,1-1-3", "0-1-9,1-1-3", why, sizeof(why)));
	assert_non_null(strstr(why, "domain 0"));
	assert_non_null(strstr(why, "0-1-9"));
	assert_non_null(strstr(why, "0-1-10"));
	assert_non_null(strstr(why, "mysql-bin.000007"));
	assert_false(covers("0-1-10,1-1-3", "0-1-10", why, sizeof(why)));
	assert_non_null(strstr(why, "domain 1: the base has no GTID in it"));
	assert_false(covers("0-1-10", "", NULL, 0));
	/* A short buffer stays terminated. */
	assert_false(covers("0-1-10", "0-1-1", why, 8));
	assert_int_equal(strlen(why), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_fold_targets),
		cmocka_unit_test(test_fold_meta_and_commit_time),
		cmocka_unit_test(test_fold_stray),
		cmocka_unit_test(test_fold_domains_full),
		cmocka_unit_test(test_target_second),
		cmocka_unit_test(test_covers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
