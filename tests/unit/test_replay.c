/*
 * test_replay.c — the pure parts of app/db/replay.h: a SHOW SLAVE STATUS
 * row (as MariaDB 10.11 printed it for a replay on connection
 * snapstage_replay) classified into running, reached or failed with the
 * cause the controller's reason comes from, and server ids found in a
 * @@gtid_binlog_state. The server side is tests/integration/test_replay.c.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "app/db/replay.h"
#include "util/error.h"

/* A replay running: both threads on, no errors (10.11's row). */
static app_replay_row running_row(void)
{
	return (app_replay_row){ .io_running = "Yes",
				 .sql_running = "Yes",
				 .last_io_errno = "0",
				 .last_io_error = "",
				 .last_sql_errno = "0",
				 .last_sql_error = "",
				 .relay_log_space = "1849",
				 .seconds_behind_master = "3",
				 .ddl_groups = "0",
				 .non_transactional_groups = "0",
				 .transactional_groups = "4",
				 .gtid_slave_pos = "0-1-8" };
}

static app_gtid_pos pos(const char *text)
{
	app_gtid_pos p;

	assert_int_equal(app_gtid_pos_parse(&p, text), 0);
	return p;
}

static void test_running(void **state)
{
	app_replay_row r = running_row();
	app_gtid_pos t = pos("0-1-10");
	app_replay_progress p;

	(void)state;
	assert_int_equal(app_replay_classify(&p, &r, &t), 0);
	assert_int_equal(p.state, APP_REPLAY_RUNNING);
	assert_int_equal(p.cause, APP_REPLAY_CAUSE_NONE);
	assert_true(p.io_connected);
	assert_int_equal(p.relay_bytes, 1849);
	assert_int_equal(p.groups, 4);
	assert_int_equal(p.seconds_behind, 3);
	assert_true(app_gtid_pos_equal(&p.reached, &(app_gtid_pos){ 0 }) == false);
	assert_int_equal(p.reached.g[0].seq, 8);
	/* the IO thread done (UNTIL: the source stops sending at the target)
	 * while the SQL thread catches up: still running */
	r.io_running = "No";
	r.seconds_behind_master = NULL;
	assert_int_equal(app_replay_classify(&p, &r, &t), 0);
	assert_int_equal(p.state, APP_REPLAY_RUNNING);
	assert_false(p.io_connected);
	assert_int_equal(p.seconds_behind, -1);
}

static void test_reached(void **state)
{
	app_replay_row r = running_row();
	app_gtid_pos t = pos("0-1-10,1-2-3");
	app_replay_progress p;

	(void)state;
	r.io_running = "No";
	r.sql_running = "No";
	r.gtid_slave_pos = "0-1-10,1-2-3";
	assert_int_equal(app_replay_classify(&p, &r, &t), 0);
	assert_int_equal(p.state, APP_REPLAY_REACHED);
	/* one domain short: stopped before the target, not reached */
	r.gtid_slave_pos = "0-1-10,1-2-2";
	assert_int_equal(app_replay_classify(&p, &r, &t), 0);
	assert_int_equal(p.state, APP_REPLAY_FAILED);
	assert_int_equal(p.cause, APP_REPLAY_CAUSE_STOPPED);
	assert_non_null(strstr(p.why, "resumes"));
	/* the SQL thread still on at the target: it stops by itself */
	r.sql_running = "Yes";
	r.gtid_slave_pos = "0-1-10,1-2-3";
	assert_int_equal(app_replay_classify(&p, &r, &t), 0);
	assert_int_equal(p.state, APP_REPLAY_RUNNING);
}

static void test_source_unreachable(void **state)
{
	app_replay_row r = running_row();
	app_gtid_pos t = pos("0-1-10");
	app_replay_progress p;

	(void)state;
	r.io_running = "Connecting";
	r.last_io_errno = "2003";
	r.last_io_error = "error connecting to master 'repl@127.0.0.30:3999' - "
			  "retry-time: 1  maximum-retries: 100000  message: Can't "
			  "connect to server on '127.0.0.30' (111 \"Connection refused\")";
	assert_int_equal(app_replay_classify(&p, &r, &t), 0);
	assert_int_equal(p.state, APP_REPLAY_RUNNING);
	assert_int_equal(p.cause, APP_REPLAY_CAUSE_SOURCE_LOST);
	assert_false(p.io_connected);
	assert_non_null(strstr(p.why, "2003"));
	assert_null(strstr(p.why, "repl@"));
	/* MariaDB gave up (master_retry_count): failed */
	r.io_running = "No";
	assert_int_equal(app_replay_classify(&p, &r, &t), 0);
	assert_int_equal(p.state, APP_REPLAY_FAILED);
	assert_int_equal(p.cause, APP_REPLAY_CAUSE_SOURCE_LOST);
}

static void test_binlogs_purged(void **state)
{
	app_replay_row r = running_row();
	app_gtid_pos t = pos("0-1-19");
	app_replay_progress p;

	(void)state;
	r.io_running = "No";
	r.last_io_errno = "1236";
	r.last_io_error = "Got fatal error 1236 from master when reading data from "
			  "binary log: 'Could not find GTID state requested by slave "
			  "in any binlog files. Probably the slave state is too old and "
			  "required binlog files have been purged.'";
	r.gtid_slave_pos = "0-1-10";
	assert_int_equal(app_replay_classify(&p, &r, &t), 0);
	assert_int_equal(p.state, APP_REPLAY_FAILED);
	assert_int_equal(p.cause, APP_REPLAY_CAUSE_BINLOGS_PURGED);
	assert_non_null(strstr(p.why, "no longer holds"));
	/* another 1236: the base is not in the source's history */
	r.last_io_error = "Got fatal error 1236 from master when reading data from "
			  "binary log: 'The binlog on the master is missing the GTID "
			  "0-1-10 requested by the slave (even though a subsequent "
			  "sequence number does exist), and GTID strict mode is enabled'";
	assert_int_equal(app_replay_classify(&p, &r, &t), 0);
	assert_int_equal(p.cause, APP_REPLAY_CAUSE_DIVERGED);
}

/* Found by fuzz_replay (corpus/replay/purged-text-not-utf8): 1236's text is
 * quoted cut at 300 bytes, so a character across the cut (or bytes that
 * are not UTF-8) reached the why, which a status or Event cannot hold. */
static void test_io_text_cut_mid_character(void **state)
{
	app_replay_row r = running_row();
	app_gtid_pos t = pos("0-1-19");
	app_replay_progress p;
	char text[400];

	(void)state;
	memset(text, 'a', 299);
	memcpy(text + 299, "\xc3\xa9 purged", sizeof("\xc3\xa9 purged"));
	r.io_running = "No";
	r.last_io_errno = "1236";
	r.last_io_error = text;
	assert_int_equal(app_replay_classify(&p, &r, &t), 0);
	assert_int_equal(p.cause, APP_REPLAY_CAUSE_BINLOGS_PURGED);
	assert_null(strchr(p.why, '\xc3'));
	assert_non_null(strstr(p.why, "aaa?)"));
	text[10] = '\xff';
	assert_int_equal(app_replay_classify(&p, &r, &t), 0);
	assert_null(strchr(p.why, '\xff'));
}

static void test_io_refused(void **state)
{
	app_replay_row r = running_row();
	app_gtid_pos t = pos("0-1-19");
	app_replay_progress p;

	(void)state;
	r.io_running = "Connecting";
	r.last_io_errno = "1045";
	r.last_io_error = "error connecting to master 'repl@127.0.0.30:3306' - "
			  "message: Access denied for user 'repl'@'127.0.0.31'";
	assert_int_equal(app_replay_classify(&p, &r, &t), 0);
	assert_int_equal(p.state, APP_REPLAY_RUNNING);
	assert_int_equal(p.cause, APP_REPLAY_CAUSE_REFUSED);
	assert_null(strstr(p.why, "repl@"));
	assert_null(strstr(p.why, "'repl'"));
	assert_null(strstr(p.why, "127.0.0.31"));
}

static void test_sql_errors(void **state)
{
	static const struct {
		const char *errno_text, *text, *words;
	} cases[] = {
		{ "1062",
		  "Could not execute Write_rows_v1 event on table t.a; Duplicate entry "
		  "'secret-value' for key 'PRIMARY', Error_code: 1062",
		  "already there" },
		{ "1146", "Error executing row event: 'Table 't.gone' doesn't exist'",
		  "does not exist" },
		{ "1950",
		  "An attempt was made to binlog GTID 0-1-7 which would create an "
		  "out-of-order sequence number with existing GTID 0-1-10, and gtid "
		  "strict mode is enabled",
		  "past the base" },
	};
	app_gtid_pos t = pos("0-1-19");
	app_replay_progress p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		app_replay_row r = running_row();

		r.sql_running = "No";
		r.last_sql_errno = cases[i].errno_text;
		r.last_sql_error = cases[i].text;
		assert_int_equal(app_replay_classify(&p, &r, &t), 0);
		assert_int_equal(p.state, APP_REPLAY_FAILED);
		assert_int_equal(p.cause, APP_REPLAY_CAUSE_SQL_ERROR);
		assert_non_null(strstr(p.why, cases[i].words));
		assert_non_null(strstr(p.why, cases[i].errno_text));
		assert_null(strstr(p.why, "secret-value"));
	}
}

static void test_bad_fields(void **state)
{
	app_replay_row r = running_row();
	app_gtid_pos t = pos("0-1-19");
	app_replay_progress p;

	(void)state;
	memset(&p, 0x5a, sizeof(p));
	r.gtid_slave_pos = "0-1-x";
	assert_int_equal(app_replay_classify(&p, &r, &t), SS_EINVALID);
	assert_int_equal(p.reached.n, 0x5a5a5a5a5a5a5a5aULL);
	r = running_row();
	r.last_sql_errno = "-1";
	assert_int_equal(app_replay_classify(&p, &r, &t), SS_EINVALID);
	r = running_row();
	r.last_io_errno = "99999999999";
	assert_int_equal(app_replay_classify(&p, &r, &t), SS_EINVALID);
	/* NULL numbers (a column the server lacks) read as 0 */
	r = running_row();
	r.ddl_groups = NULL;
	r.relay_log_space = NULL;
	assert_int_equal(app_replay_classify(&p, &r, &t), 0);
	assert_int_equal(p.relay_bytes, 0);
}

static void test_state_has_server(void **state)
{
	(void)state;
	assert_true(app_replay_state_has_server("0-2-17,0-1-19", 2));
	assert_true(app_replay_state_has_server("0-2-17, 0-1-19", 1));
	assert_false(app_replay_state_has_server("0-2-17,0-1-19", 3));
	assert_false(app_replay_state_has_server("0-12-17", 1));
	assert_false(app_replay_state_has_server("", 1));
	assert_false(app_replay_state_has_server(NULL, 1));
	assert_true(app_replay_state_has_server("1-4294967295-1", 4294967295u));
	/* a broken entry is skipped, the others still read */
	assert_true(app_replay_state_has_server("x,0-7-1", 7));
	/* white space as app_gtid_pos_parse takes it (fuzz_replay:
	 * corpus/replay/state-tab-after-entry) */
	assert_true(app_replay_state_has_server("0-1-19 \t", 1));
	assert_true(app_replay_state_has_server("0-2-17,\r\n0-3-19", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_running),
		cmocka_unit_test(test_reached),
		cmocka_unit_test(test_source_unreachable),
		cmocka_unit_test(test_binlogs_purged),
		cmocka_unit_test(test_io_text_cut_mid_character),
		cmocka_unit_test(test_io_refused),
		cmocka_unit_test(test_sql_errors),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_state_has_server),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
