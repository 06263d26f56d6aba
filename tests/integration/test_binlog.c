/*
 * test_binlog.c — app/db/binlog.c against a real MariaDB server (the
 * primary of hack/mariadb-local.sh, CTest fixture `mariadb`: binlog on,
 * GTID, a replica of it; see test_mariadb.c for how the servers are found).
 *
 * What is checked: event groups written with known timestamps (SET
 * TIMESTAMP; all a fixed time in the past, in increasing order) — a DDL,
 * a single insert, a multi-statement transaction whose statements carry
 * earlier times than its COMMIT, a group in a second domain
 * (gtid_domain_id = 1) — resolved to positions: before all, between,
 * exactly at a group's second (inclusive), after all (strict refused,
 * non-strict the end), from a later base position, a target in the
 * future, a deadline already past; the extent (current position, files,
 * the oldest file's Gtid_list covering the base). The groups are
 * replicated (sql_log_bin stays 1): the replica keeps following.
 *
 * Not here: a purged file (FLUSH + PURGE BINARY LOGS would take history
 * from the shared fixture); the pure coverage check is in
 * tests/unit/test_binlog.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>

#include "mariadb_fixture.h"
#include "testutil.h"

#include "app/db/binlog.h"
#include "util/clock.h"
#include "util/error.h"

#define VALUE_MAX 600
#define SQL_MAX 1024
#define DB "snapstage_binlog"

#define CHECK(expr)                                                                      \
	do {                                                                             \
		int rc_ = (expr);                                                        \
		if (rc_ != 0) {                                                          \
			print_error("%s:%d: %s -> %d (%s)\n", __FILE__, __LINE__, #expr, \
				    rc_, ss_error_last()->message);                      \
			fail();                                                          \
		}                                                                        \
	} while (0)

static mariadb_fixture sv;
#define sql(...) mariadb_fixture_sql(__VA_ARGS__)
#define value(...) mariadb_fixture_value(__VA_ARGS__)

static MYSQL *root;
static app_db *db;

/* ---- the history ------------------------------------------------------------ */

static struct {
	int64_t t0;	     /* the first group's second */
	app_gtid_pos base;   /* @@gtid_binlog_pos before the groups */
	app_gtid_pos after[6]; /* @@gtid_binlog_pos after each group */
} h;

static app_gtid_pos binlog_pos(void)
{
	app_gtid_pos p;

	CHECK(app_gtid_pos_parse(&p, value(root, "SELECT @@gtid_binlog_pos")));
	return p;
}

static void assert_same(const app_gtid_pos *got, const app_gtid_pos *want)
{
	char a[APP_GTID_TEXT_MAX], b[APP_GTID_TEXT_MAX];

	CHECK(app_gtid_pos_format(a, sizeof(a), got));
	CHECK(app_gtid_pos_format(b, sizeof(b), want));
	assert_string_equal(a, b);
}

/* Groups at t0 .. t0+6 (see the file's comment). */
static void write_history(void)
{
	int64_t t = strtoll(value(root, "SELECT UNIX_TIMESTAMP()"), NULL, 10) - 1000;

	h.t0 = t;
	sql(root, "SET gtid_domain_id = 0");
	sql(root, "DROP DATABASE IF EXISTS " DB);
	h.base = binlog_pos();
	sql(root, "SET TIMESTAMP = %" PRId64, t);
	sql(root, "CREATE DATABASE " DB);
	h.after[0] = binlog_pos();
	sql(root, "SET TIMESTAMP = %" PRId64, t + 1);
	sql(root, "CREATE TABLE " DB ".t (id INT PRIMARY KEY) ENGINE=InnoDB");
	sql(root, "INSERT INTO " DB ".t VALUES (1)");
	h.after[1] = binlog_pos();
	sql(root, "SET TIMESTAMP = %" PRId64, t + 2);
	sql(root, "BEGIN");
	sql(root, "INSERT INTO " DB ".t VALUES (2)");
	sql(root, "SET TIMESTAMP = %" PRId64, t + 3);
	sql(root, "INSERT INTO " DB ".t VALUES (3)");
	sql(root, "SET TIMESTAMP = %" PRId64, t + 4);
	sql(root, "COMMIT");
	h.after[2] = binlog_pos();
	sql(root, "SET TIMESTAMP = %" PRId64, t + 5);
	sql(root, "SET gtid_domain_id = 1");
	sql(root, "INSERT INTO " DB ".t VALUES (4)");
	sql(root, "SET gtid_domain_id = 0");
	h.after[3] = binlog_pos();
	sql(root, "SET TIMESTAMP = %" PRId64, t + 6);
	sql(root, "INSERT INTO " DB ".t VALUES (5)");
	h.after[4] = binlog_pos();
	sql(root, "SET TIMESTAMP = DEFAULT");
}

static int64_t deadline(void)
{
	return ss_clock_mono(ss_clock_system()) + 20 * SS_NS_PER_SEC;
}

static app_binlog_resolved resolve_ok(const app_gtid_pos *start, int64_t second, bool strict)
{
	app_binlog_resolved r;

	memset(&r, 0, sizeof(r));
	CHECK(app_binlog_resolve_time(&r, db, start, second * SS_NS_PER_SEC + 500000000,
				      strict, deadline()));
	print_message("    target t0%+" PRId64 ": %" PRIu64 " groups, %" PRIu64
		      " bytes, past_end %d\n",
		      second - h.t0, r.groups_scanned, r.bytes_scanned, r.past_end);
	return r;
}

static void test_resolve_targets(void **state)
{
	app_binlog_resolved r;

	(void)state;
	r = resolve_ok(&h.base, h.t0 - 1, true);
	assert_same(&r.pos, &h.base);
	assert_false(r.past_end);
	assert_int_equal(r.groups_scanned, 0);
	/* Exactly at a group's second (a DDL): included. */
	r = resolve_ok(&h.base, h.t0, true);
	assert_same(&r.pos, &h.after[0]);
	assert_int_equal(r.last_event_ns, h.t0 * SS_NS_PER_SEC);
	r = resolve_ok(&h.base, h.t0 + 1, true);
	assert_same(&r.pos, &h.after[1]);
	assert_int_equal(r.groups_scanned, 3);
	/* The transaction's statements are at t0+2 and t0+3; it committed at
	 * t0+4. */
	r = resolve_ok(&h.base, h.t0 + 3, true);
	assert_same(&r.pos, &h.after[1]);
	r = resolve_ok(&h.base, h.t0 + 4, true);
	assert_same(&r.pos, &h.after[2]);
	/* The second domain. */
	r = resolve_ok(&h.base, h.t0 + 5, true);
	assert_same(&r.pos, &h.after[3]);
	assert_int_equal(r.pos.n, h.base.n + (app_gtid_pos_find(&h.base, 1) ? 0 : 1));
}

static void test_resolve_past_end(void **state)
{
	app_binlog_resolved r;
	int rc;

	(void)state;
	/* Nothing after t0+6 yet: strict refuses, non-strict is the end. */
	rc = app_binlog_resolve_time(&r, db, &h.base, (h.t0 + 10) * SS_NS_PER_SEC, true,
				     deadline());
	assert_int_equal(rc, SS_EINVALID);
	assert_non_null(strstr(ss_error_last()->message, "TargetNotReached"));
	r = resolve_ok(&h.base, h.t0 + 10, false);
	assert_true(r.past_end);
	assert_same(&r.pos, &h.after[4]);
	/* The future on the source's clock. */
	rc = app_binlog_resolve_time(&r, db, &h.base, (h.t0 + 2000) * SS_NS_PER_SEC, false,
				     deadline());
	assert_int_equal(rc, SS_EINVALID);
	assert_non_null(strstr(ss_error_last()->message, "TargetNotReached"));
}

static void test_resolve_from_base(void **state)
{
	app_binlog_resolved r;
	int rc;

	(void)state;
	/* From the position after the insert: the server skips what it has. */
	r = resolve_ok(&h.after[1], h.t0 + 4, true);
	assert_same(&r.pos, &h.after[2]);
	assert_int_equal(r.groups_scanned, 1);
	r = resolve_ok(&h.after[1], h.t0, true);
	assert_same(&r.pos, &h.after[1]);
	/* A start the server's history does not have. */
	{
		app_gtid_pos ahead = h.after[4];
		app_gtid g = *app_gtid_pos_find(&ahead, 0);

		g.seq += 1000;
		CHECK(app_gtid_pos_set(&ahead, &g));
		rc = app_binlog_resolve_time(&r, db, &ahead, (h.t0 + 4) * SS_NS_PER_SEC,
					     false, deadline());
		assert_int_not_equal(rc, 0);
		print_message("    ahead: %s\n", ss_error_last()->message);
	}
	/* A deadline already past. */
	rc = app_binlog_resolve_time(&r, db, &h.base, h.t0 * SS_NS_PER_SEC, false,
				     ss_clock_mono(ss_clock_system()) - 1);
	assert_int_equal(rc, SS_ETIMEOUT);
}

static void test_extent(void **state)
{
	app_binlog_extent e;
	app_gtid_pos cur = binlog_pos();
	char why[APP_DB_MESSAGE_MAX];

	(void)state;
	CHECK(app_binlog_extent_read(&e, db));
	assert_same(&e.current, &cur);
	assert_true(e.n_files >= 1);
	assert_true(e.total_bytes > 0);
	assert_true(e.oldest_file[0] != '\0');
	assert_true(e.oldest_time_ns > 0);
	assert_true(e.oldest_time_ns <= h.t0 * SS_NS_PER_SEC + 2000 * SS_NS_PER_SEC);
	assert_true(app_binlog_covers(&e, &h.base, why, sizeof(why)));
	assert_true(app_binlog_covers(&e, &e.oldest, why, sizeof(why)));
	print_message("    extent: oldest %s, %zu files, %" PRIu64 " bytes, expire %" PRId64
		      " s\n",
		      e.oldest_file, e.n_files, e.total_bytes, e.expire_seconds);
}

static int setup(void **state)
{
	app_db_target tg = { 0 };

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (mariadb_fixture_load(&sv) != 0 || !(root = mariadb_fixture_root(&sv, false)))
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
	write_history();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (root)
		(void)mysql_query(root, "DROP DATABASE IF EXISTS " DB);
	app_db_close(db);
	mysql_close(root);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_targets),
		cmocka_unit_test(test_resolve_past_end),
		cmocka_unit_test(test_resolve_from_base),
		cmocka_unit_test(test_extent),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
