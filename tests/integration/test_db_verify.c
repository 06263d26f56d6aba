/*
 * test_db_verify.c — app/db/verify.c against a real MariaDB server (the
 * primary of hack/mariadb-local.sh, CTest fixture `mariadb`; see
 * test_mariadb.c for how the servers are found).
 *
 * What is checked: CHECK TABLE over every base table (InnoDB, Aria and
 * MyISAM OK, other engines skipped, a name with a backtick), a MyISAM
 * table damaged on disk reported corrupt by name, the max_tables bound, a
 * deadline already past (nothing checked), a CHECK TABLE still waiting at
 * the deadline abandoned and counted skipped, and the server going away
 * during CHECK TABLE (its connection killed). User checks: rows, 0 rows,
 * equals, atLeast/atMost, a non-number, statement errors (syntax, no
 * table, two statements) after which the next check still runs, writes
 * refused with the tables unchanged afterwards (InnoDB, MyISAM, DDL), a
 * slow statement cut by its timeout, and an account without privileges
 * whose name no message carries.
 *
 * The test's own tables are made with sql_log_bin = 0, so the replica
 * never sees them (nor the damaged file), and dropped at the end.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

#include "mariadb_fixture.h"
#include "testutil.h"

#include "app/db/verify.h"
#include "util/clock.h"
#include "util/error.h"

#define VALUE_MAX 600
#define SQL_MAX 1024
#define DB "snapstage_verify"
#define BAD_DB "snapstage_verify_bad"
#define FIRST_DB "0snapstage_verify_first" /* sorts first (binary) */

#define CHECK(expr)                                                                      \
	do {                                                                             \
		int rc_ = (expr);                                                        \
		if (rc_ != 0) {                                                          \
			print_error("%s:%d: %s -> %d (%s)\n", __FILE__, __LINE__, #expr, \
				    rc_, ss_error_last()->message);                      \
			fail();                                                          \
		}                                                                        \
	} while (0)

/* ---- the server ---------------------------------------------------------------- */

static mariadb_fixture sv;
#define sql(...) mariadb_fixture_sql(__VA_ARGS__)
#define value(...) mariadb_fixture_value(__VA_ARGS__)

static MYSQL *root; /* plain libmariadb, for the test's own SQL */
static app_db *db;  /* root through app/db */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* What the server lists, counted the test's own way. */
#define BASE_TABLES                                                           \
	"FROM information_schema.TABLES WHERE TABLE_TYPE IN ('BASE TABLE', "  \
	"'SYSTEM VERSIONED') AND TABLE_SCHEMA NOT IN ('information_schema', " \
	"'performance_schema', 'sys')"
#define CHECKABLE " AND ENGINE IN ('InnoDB', 'Aria', 'MyISAM')"

static long long count_tables(const char *extra)
{
	return strtoll(value(root, "SELECT COUNT(*) " BASE_TABLES "%s", extra), NULL, 10);
}

static void print_checks(const char *what, const app_db_table_checks *t)
{
	print_message("    %s: %zu tables, %zu checked, %zu skipped, %zu corrupt%s%s%s\n",
		      what, t->n_tables, t->n_checked, t->n_skipped, t->n_corrupt,
		      t->server_lost ? ", server lost" : "", *t->corrupt ? ": " : "",
		      t->corrupt);
}

/* ---- CHECK TABLE ---------------------------------------------------------------- */

static void test_tables_all_ok(void **state)
{
	app_db_table_checks t;
	long long all, checkable;
	int64_t t0;

	(void)state;
	t0 = now_ms();
	CHECK(app_db_check_tables(&t, db, 100000, 0));
	print_checks("all tables", &t);
	print_message("    CHECK TABLE on all: %lld ms\n", (long long)(now_ms() - t0));
	all = count_tables("");
	checkable = count_tables(CHECKABLE);
	assert_true(checkable >= 8);  /* ours and mysql.* */
	assert_true(all > checkable); /* the MEMORY table, mysql's CSV logs */
	assert_int_equal(t.n_tables, all);
	assert_int_equal(t.n_checked, checkable);
	assert_int_equal(t.n_skipped, all - checkable);
	assert_int_equal(t.n_corrupt, 0);
	assert_string_equal(t.corrupt, "");
	assert_false(t.server_lost);
}

/* A MyISAM table damaged on disk while closed (FLUSH TABLES): garbage in
 * the middle of its data file. */
static void damage_myisam(const char *schema, const char *table)
{
	char path[VALUE_MAX * 2];
	char junk[2000];
	FILE *f;

	sql(root, "FLUSH TABLES %s.%s", schema, table);
	snprintf(path, sizeof(path), "%s%s/%s.MYD", value(root, "SELECT @@datadir"),
		 schema, table);
	f = fopen(path, "r+b");
	if (!f) {
		print_error("open %s: %s\n", path, strerror(errno));
		fail();
	}
	memset(junk, 0xff, sizeof(junk));
	assert_int_equal(fseek(f, 30000, SEEK_SET), 0);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	assert_int_equal(fclose(f), 0);
}

static void test_corrupt_myisam(void **state)
{
	app_db_table_checks t;

	(void)state;
	sql(root, "CREATE DATABASE " BAD_DB);
	sql(root, "CREATE TABLE " BAD_DB ".good (id INT PRIMARY KEY) ENGINE=MyISAM");
	sql(root, "CREATE TABLE " BAD_DB ".hurt (id INT PRIMARY KEY, v VARCHAR(200)) "
		  "ENGINE=MyISAM");
	sql(root, "INSERT INTO " BAD_DB ".hurt SELECT seq, REPEAT('x', 100) FROM "
		  "seq_1_to_1000");
	sql(root, "INSERT INTO " BAD_DB ".good VALUES (1)");
	CHECK(app_db_check_tables(&t, db, 100000, 0));
	assert_int_equal(t.n_corrupt, 0); /* before the damage: OK */
	damage_myisam(BAD_DB, "hurt");
	CHECK(app_db_check_tables(&t, db, 100000, 0));
	print_checks("after the damage", &t);
	assert_int_equal(t.n_corrupt, 1);
	assert_int_equal(t.n_checked, count_tables(CHECKABLE));
	assert_false(t.server_lost);
	assert_non_null(strstr(t.corrupt, "`" BAD_DB "`.`hurt` ("));
	assert_null(strstr(t.corrupt, "`good`"));
	/* a second run sees the table marked crashed: still corrupt */
	CHECK(app_db_check_tables(&t, db, 100000, 0));
	print_checks("again", &t);
	assert_int_equal(t.n_corrupt, 1);
	assert_non_null(strstr(t.corrupt, "`" BAD_DB "`.`hurt` ("));
}

static void test_max_tables(void **state)
{
	app_db_table_checks t;
	long long all = count_tables("");

	(void)state;
	CHECK(app_db_check_tables(&t, db, 3, 0));
	print_checks("max_tables 3", &t);
	assert_int_equal(t.n_tables, all);
	assert_int_equal(t.n_checked, 3);
	assert_int_equal(t.n_skipped, all - 3);
	assert_int_equal(app_db_check_tables(&t, db, 0, 0), SS_EINVALID);
}

static void test_deadline_past(void **state)
{
	app_db_table_checks t;
	int64_t past = ss_clock_mono(ss_clock_system()) - SS_NS_PER_SEC;

	(void)state;
	CHECK(app_db_check_tables(&t, db, 100000, past));
	print_checks("deadline past", &t);
	assert_int_equal(t.n_tables, count_tables(""));
	assert_int_equal(t.n_checked, 0);
	assert_int_equal(t.n_corrupt, 0);
	assert_int_equal(t.n_skipped, t.n_tables);
}

/* app_db_check_tables() on a thread of its own, so that the test can act
 * while a CHECK TABLE waits. */
typedef struct {
	app_db_table_checks t;
	int64_t deadline;
	int rc;
	int64_t ms;
} checks_run;

static void *checks_main(void *arg)
{
	checks_run *r = arg;
	int64_t t0 = now_ms();

	r->rc = app_db_check_tables(&r->t, db, 100000, r->deadline);
	r->ms = now_ms() - t0;
	return NULL;
}

/* The id of the connection whose CHECK TABLE of `table` waits, once it
 * waits (polled for up to 30 s); 0 if none did. */
static long long waiting_check(const char *table)
{
	char query[SQL_MAX];
	long long id = 0;
	int i;

	snprintf(query, sizeof(query),
		 "SELECT COALESCE(MAX(ID), 0) FROM information_schema.PROCESSLIST "
		 "WHERE INFO LIKE 'CHECK TABLE %%%s%%' AND STATE LIKE '%%lock%%'",
		 table);
	for (i = 0; i < 3000 && id == 0; i++) {
		id = strtoll(value(root, "%s", query), NULL, 10);
		if (id == 0)
			sleep_ms(10);
	}
	return id;
}

/* A session holding LOCK TABLES ... WRITE; closed after each test, also
 * when it fails, so no later test waits for its lock. */
static MYSQL *locker;

static MYSQL *lock_table(const char *table)
{
	locker = mariadb_fixture_root(&sv, true);
	assert_non_null(locker);
	sql(locker, "LOCK TABLES %s WRITE", table);
	return locker;
}

static int unlock(void **state)
{
	(void)state;
	if (locker)
		mysql_close(locker);
	locker = NULL;
	return 0;
}

/* The first table's CHECK TABLE waits for the lock another session holds
 * (FIRST_DB sorts before every other schema, so the wait starts at once,
 * however slow the run); the deadline passes: that table and every one
 * after it count as skipped, none as OK or corrupt. */
static void test_deadline_while_waiting(void **state)
{
	checks_run r = { .rc = -1 };
	pthread_t th;

	(void)state;
	lock_table("`" FIRST_DB "`.t");
	r.deadline = ss_clock_mono(ss_clock_system()) + 3 * SS_NS_PER_SEC;
	assert_int_equal(pthread_create(&th, NULL, checks_main, &r), 0);
	assert_true(waiting_check(FIRST_DB) > 0);
	pthread_join(th, NULL);
	print_checks("deadline while waiting", &r.t);
	print_message("    abandoned after %lld ms (deadline 3 s + grace %d s)\n",
		      (long long)r.ms, APP_DB_VERIFY_GRACE_SECONDS);
	assert_int_equal(r.rc, 0);
	assert_false(r.t.server_lost);
	assert_int_equal(r.t.n_corrupt, 0);
	assert_int_equal(r.t.n_checked, 0);
	assert_int_equal(r.t.n_skipped, r.t.n_tables);
	assert_int_equal(r.t.n_tables, count_tables(""));
}

/* The connection dies during CHECK TABLE (as when a bad page crashes the
 * server): that table is corrupt, the rest skipped, and it says so. */
static void test_server_lost(void **state)
{
	checks_run r = { .rc = -1 };
	long long id;
	pthread_t th;

	(void)state;
	lock_table(DB ".ta");
	assert_int_equal(pthread_create(&th, NULL, checks_main, &r), 0);
	id = waiting_check(DB "`.`ta");
	assert_true(id > 0);
	sql(root, "KILL CONNECTION %lld", id);
	pthread_join(th, NULL);
	print_checks("connection killed", &r.t);
	assert_int_equal(r.rc, 0);
	assert_true(r.t.server_lost);
	assert_int_equal(r.t.n_corrupt, 1);
	assert_non_null(strstr(r.t.corrupt, "`" DB "`.`ta` (the server went away"));
	assert_int_equal(r.t.n_checked + r.t.n_skipped, r.t.n_tables);
	assert_true(r.t.n_skipped > 0);
}

/* ---- user checks ---------------------------------------------------------------- */

/* Runs `c` with `timeout` s; returns *passed, fails the test on < 0. */
static bool run_check(char *msg, const app_verify_check *c, int timeout)
{
	bool passed = true;

	CHECK(app_db_run_check(&passed, msg, APP_DB_CHECK_MESSAGE_MAX, db, c, timeout));
	print_message("    %-14s %-4s %s\n", c->name, passed ? "pass" : "FAIL", msg);
	return passed;
}

static app_verify_check check(const char *name, const char *sql_text)
{
	app_verify_check c = { .name = name, .sql = sql_text, .min_rows = 1 };

	return c;
}

static void test_checks_rows_and_values(void **state)
{
	char msg[APP_DB_CHECK_MESSAGE_MAX];
	app_verify_check c;

	(void)state;
	c = check("rows", "SELECT id FROM " DB ".ti ORDER BY id");
	assert_true(run_check(msg, &c, 30));
	assert_string_equal(msg, "3 rows; first value '1'");
	c = check("none", "SELECT id FROM " DB ".ti WHERE id > 100");
	assert_false(run_check(msg, &c, 30));
	assert_string_equal(msg, "0 rows, at least 1 expected");
	c.min_rows = 0;
	assert_true(run_check(msg, &c, 30));
	c = check("equals", "SELECT v FROM " DB ".ti WHERE id = 2");
	c.equals = "b";
	assert_true(run_check(msg, &c, 30));
	c.equals = "B";
	assert_false(run_check(msg, &c, 30));
	assert_string_equal(msg, "first value 'b' is not 'B'");
	c = check("count", "SELECT COUNT(*) FROM " DB ".tm");
	c.has_at_least = true;
	c.at_least = 1000;
	c.has_at_most = true;
	c.at_most = 1000;
	assert_true(run_check(msg, &c, 30));
	c.at_least = 1001;
	c.at_most = 2000;
	assert_false(run_check(msg, &c, 30));
	assert_string_equal(msg, "first value '1000' is below the minimum 1001");
	c.at_least = 0;
	c.at_most = 999.5;
	assert_false(run_check(msg, &c, 30));
	assert_string_equal(msg, "first value '1000' is above the maximum 999.5");
	c = check("not-a-number", "SELECT v FROM " DB ".ti WHERE id = 1");
	c.has_at_least = true;
	c.at_least = 0;
	assert_false(run_check(msg, &c, 30));
	assert_string_equal(msg, "first value 'a' is not a number");
	/* SHOW under SET STATEMENT, and a trailing semicolon */
	c = check("show", "SHOW TABLES FROM " DB ";");
	assert_true(run_check(msg, &c, 30));
	assert_non_null(strstr(msg, "rows; first value '"));
	c = check("gtid", "SELECT @@gtid_current_pos");
	assert_true(run_check(msg, &c, 30));
}

static void test_checks_statement_errors(void **state)
{
	char msg[APP_DB_CHECK_MESSAGE_MAX];
	app_verify_check c, ok = check("after", "SELECT 1");

	(void)state;
	c = check("syntax", "SELEC 1");
	assert_false(run_check(msg, &c, 30));
	assert_non_null(strstr(msg, "MariaDB error 1064: a syntax error"));
	assert_true(run_check(msg, &ok, 30));
	assert_string_equal(msg, "1 row; first value '1'");
	c = check("no-table", "SELECT * FROM " DB ".nope");
	assert_false(run_check(msg, &c, 30));
	assert_non_null(strstr(msg, "MariaDB error 1146"));
	assert_non_null(strstr(msg, "nope"));
	assert_true(run_check(msg, &ok, 30));
	/* multi-statements are off on the connection */
	c = check("two", "SELECT 1; SELECT 2");
	assert_false(run_check(msg, &c, 30));
	assert_non_null(strstr(msg, "MariaDB error 1064"));
	assert_true(run_check(msg, &ok, 30));
	c = check("empty", " ; ");
	assert_false(run_check(msg, &c, 30));
	assert_string_equal(msg, "the SQL is empty");
}

static void test_checks_refuse_writes(void **state)
{
	static const char *const writes[] = {
		"INSERT INTO " DB ".ti VALUES (100, 'new')",
		"UPDATE " DB ".ti SET v = 'changed'",
		"UPDATE " DB ".tm SET v = 'changed'",
		"DELETE FROM " DB ".ta",
		"CREATE TABLE " DB ".made (a INT)",
		"DROP TABLE " DB ".tm",
		"CREATE TEMPORARY TABLE " DB ".made_tmp (a INT)",
		"SELECT * FROM " DB ".ti FOR UPDATE",
	};
	char msg[APP_DB_CHECK_MESSAGE_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		app_verify_check c = check("write", writes[i]);

		c.min_rows = 0;
		assert_false(run_check(msg, &c, 30));
		assert_string_equal(msg, "MariaDB error 1792: it writes, and checks run "
					 "read-only");
	}
	/* nothing changed */
	assert_string_equal(value(root, "SELECT COUNT(*) FROM " DB ".ti"), "3");
	assert_string_equal(value(root, "SELECT COUNT(*) FROM " DB ".ti WHERE v = "
					"'changed'"),
			    "0");
	assert_string_equal(value(root, "SELECT COUNT(*) FROM " DB ".tm WHERE v = "
					"'changed'"),
			    "0");
	assert_string_equal(value(root, "SELECT COUNT(*) FROM " DB ".ta"), "2");
	assert_string_equal(value(root, "SELECT COUNT(*) FROM information_schema.TABLES "
					"WHERE TABLE_SCHEMA = '" DB "' AND TABLE_NAME IN "
					"('made', 'tm')"),
			    "1");
}

static void test_check_timeout(void **state)
{
	char msg[APP_DB_CHECK_MESSAGE_MAX];
	app_verify_check c = check("slow", "SELECT SLEEP(5)");
	int64_t t0 = now_ms();

	(void)state;
	assert_false(run_check(msg, &c, 1));
	print_message("    SELECT SLEEP(5) with timeout 1 s: %lld ms\n",
		      (long long)(now_ms() - t0));
	assert_string_equal(msg,
			    "MariaDB error 1969: it ran longer than its timeout of 1 "
			    "s (max_statement_time)");
	c = check("after", "SELECT 2");
	assert_true(run_check(msg, &c, 1));
}

/* An account without privileges: the check fails, and no message names it. */
static void test_check_forbidden(void **state)
{
	app_db_target tg = {
		.host = sv.host,
		.port = sv.port,
		.user = sv.weak_user,
		.password = sv.weak_password,
		.tls_mode = APP_TLS_PREFERRED,
		.connect_timeout_seconds = 5,
	};
	char msg[APP_DB_CHECK_MESSAGE_MAX];
	app_verify_check c = check("forbidden", "SELECT * FROM " DB ".ti");
	app_db_table_checks t;
	app_db *weak = NULL;
	bool passed = true;

	(void)state;
	CHECK(app_db_connect(&weak, &tg));
	CHECK(app_db_run_check(&passed, msg, sizeof(msg), weak, &c, 30));
	print_message("    as %s: %s\n", "the weak account", msg);
	assert_false(passed);
	assert_non_null(strstr(msg, "MariaDB error 1142"));
	assert_null(strstr(msg, sv.weak_user));
	/* tables it may not see are not listed: nothing to check */
	CHECK(app_db_check_tables(&t, weak, 100000, 0));
	print_checks("as the weak account", &t);
	assert_int_equal(t.n_tables, 0);
	app_db_close(weak);
}

/* ---- main ------------------------------------------------------------------------ */

static int setup(void **state)
{
	app_db_target tg = { 0 };

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (mariadb_fixture_load(&sv) != 0 || !(root = mariadb_fixture_root(&sv, true)))
		return -1;
	tg.host = sv.host;
	tg.port = sv.port;
	tg.user = "root";
	tg.password = sv.root_password;
	tg.tls_mode = APP_TLS_PREFERRED;
	tg.connect_timeout_seconds = 5;
	if (app_db_connect(&db, &tg) != 0) {
		print_error("connect: %s\n", ss_error_last()->message);
		return -1;
	}
	static const char *const setup_sql[] = {
		"DROP DATABASE IF EXISTS " DB,
		"DROP DATABASE IF EXISTS " BAD_DB,
		"DROP DATABASE IF EXISTS `" FIRST_DB "`",
		"CREATE DATABASE `" FIRST_DB "`",
		"CREATE TABLE `" FIRST_DB "`.t (id INT PRIMARY KEY) ENGINE=InnoDB",
		"CREATE DATABASE " DB,
		"CREATE TABLE " DB
		".ti (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB",
		"CREATE TABLE " DB ".ta (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=Aria",
		"CREATE TABLE " DB ".tm (id INT PRIMARY KEY, v VARCHAR(200)) "
		"ENGINE=MyISAM",
		"CREATE TABLE " DB ".`odd``name` (id INT PRIMARY KEY) ENGINE=InnoDB",
		"CREATE TABLE " DB ".tmem (id INT PRIMARY KEY) ENGINE=MEMORY",
		"CREATE TABLE " DB ".tz (id INT PRIMARY KEY) ENGINE=InnoDB",
		"INSERT INTO " DB ".ti VALUES (1, 'a'), (2, 'b'), (3, 'c')",
		"INSERT INTO " DB ".ta VALUES (1, 'a'), (2, 'b')",
		"INSERT INTO " DB ".tm SELECT seq, REPEAT('x', 100) FROM "
		"seq_1_to_1000",
	};
	for (size_t i = 0; i < sizeof(setup_sql) / sizeof(setup_sql[0]); i++)
		if (mysql_query(root, "USE mysql") != 0 ||
		    mysql_query(root, setup_sql[i]) != 0) {
			print_error("%s: %s\n", setup_sql[i], mysql_error(root));
			return -1;
		}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (root) {
		if (mysql_query(root, "DROP DATABASE IF EXISTS " DB) != 0 ||
		    mysql_query(root, "DROP DATABASE IF EXISTS " BAD_DB) != 0 ||
		    mysql_query(root, "DROP DATABASE IF EXISTS `" FIRST_DB "`") != 0)
			print_error("drop: %s\n", mysql_error(root));
		mysql_close(root);
	}
	app_db_close(db);
	mysql_library_end();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_all_ok),
		cmocka_unit_test(test_max_tables),
		cmocka_unit_test(test_deadline_past),
		cmocka_unit_test_teardown(test_deadline_while_waiting, unlock),
		cmocka_unit_test_teardown(test_server_lost, unlock),
		cmocka_unit_test(test_checks_rows_and_values),
		cmocka_unit_test(test_checks_statement_errors),
		cmocka_unit_test(test_checks_refuse_writes),
		cmocka_unit_test(test_check_timeout),
		cmocka_unit_test(test_check_forbidden),
		/* last: it leaves a table marked crashed (dropped in teardown) */
		cmocka_unit_test(test_corrupt_myisam),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
