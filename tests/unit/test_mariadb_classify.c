/*
 * test_mariadb_classify.c — app_db_classify(), the pure decision "what is
 * this server": primary, healthy or unhealthy replica, or unknown, with the
 * reason a user reads in a status condition. A table of statuses as
 * app_db_probe() would fill them, no server needed.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "app/mariadb.h"

/* One replication connection, in the shape of a SHOW ALL SLAVES STATUS row. */
typedef struct {
	const char *name;
	const char *io;
	const char *sql;
	int io_errno;
	const char *io_error;
	int sql_errno;
	const char *sql_error;
	int64_t behind; /* -1: NULL */
} src;

typedef struct {
	const char *what;
	bool read_only;
	size_t n;
	src sources[3];
	int max_lag;
	app_db_kind kind;
	int64_t lag;
	const char *reason; /* a fragment of the reason */
} tcase;

#define OK_SRC(behind)                                   \
	{                                                \
		"", "Yes", "Yes", 0, "", 0, "", (behind) \
	}

static const tcase cases[] = {
	/* no replication */
	{ "writable, no replication",
	  false,
	  0,
	  { { 0 } },
	  300,
	  APP_DB_PRIMARY,
	  -1,
	  "writable and replicates from no one" },
	{ "read-only, no replication",
	  true,
	  0,
	  { { 0 } },
	  300,
	  APP_DB_UNKNOWN,
	  -1,
	  "read_only is set but the server replicates from no one" },
	/* healthy */
	{ "in sync",
	  true,
	  1,
	  { OK_SRC(0) },
	  300,
	  APP_DB_HEALTHY_REPLICA,
	  0,
	  "replication from 10.0.0.5:3306: lag 0 s" },
	{ "writable replica is still a replica",
	  false,
	  1,
	  { OK_SRC(3) },
	  300,
	  APP_DB_HEALTHY_REPLICA,
	  3,
	  "lag 3 s" },
	{ "lag at the bound",
	  true,
	  1,
	  { OK_SRC(300) },
	  300,
	  APP_DB_HEALTHY_REPLICA,
	  300,
	  "lag 300 s" },
	{ "max lag 0, in sync",
	  true,
	  1,
	  { OK_SRC(0) },
	  0,
	  APP_DB_HEALTHY_REPLICA,
	  0,
	  "lag 0 s" },
	{ "named connection",
	  true,
	  1,
	  { { "east", "Yes", "Yes", 0, "", 0, "", 1 } },
	  300,
	  APP_DB_HEALTHY_REPLICA,
	  1,
	  "replication 'east' from 10.0.0.5:3306: lag 1 s" },
	{ "two sources, largest lag",
	  true,
	  2,
	  { { "a", "Yes", "Yes", 0, "", 0, "", 4 },
	    { "b", "Yes", "Yes", 0, "", 0, "", 9 } },
	  300,
	  APP_DB_HEALTHY_REPLICA,
	  9,
	  "2 replication connections, largest lag 9 s" },
	/* lag */
	{ "lag over the bound",
	  true,
	  1,
	  { OK_SRC(412) },
	  300,
	  APP_DB_UNHEALTHY_REPLICA,
	  412,
	  "lag 412 s > maxReplicationLagSeconds 300" },
	{ "max lag 0, 1 s behind",
	  true,
	  1,
	  { OK_SRC(1) },
	  0,
	  APP_DB_UNHEALTHY_REPLICA,
	  1,
	  "lag 1 s > maxReplicationLagSeconds 0" },
	{ "lag unknown with both threads running",
	  true,
	  1,
	  { OK_SRC(-1) },
	  300,
	  APP_DB_UNHEALTHY_REPLICA,
	  -1,
	  "lag unknown (Seconds_Behind_Master is NULL)" },
	/* threads */
	{ "IO thread stopped",
	  true,
	  1,
	  { { "", "No", "Yes", 0, "", 0, "", -1 } },
	  300,
	  APP_DB_UNHEALTHY_REPLICA,
	  -1,
	  "IO thread not running (Slave_IO_Running=No)" },
	{ "IO thread connecting",
	  true,
	  1,
	  { { "", "Connecting", "Yes", 0, "", 0, "", -1 } },
	  300,
	  APP_DB_UNHEALTHY_REPLICA,
	  -1,
	  "IO thread not running (Slave_IO_Running=Connecting)" },
	{ "IO error while reconnecting",
	  true,
	  1,
	  { { "", "Connecting", "Yes", 2003, "error reconnecting to master", 0, "",
	      -1 } },
	  300,
	  APP_DB_UNHEALTHY_REPLICA,
	  -1,
	  "IO thread not running: error 2003: error reconnecting to master" },
	{ "IO error although running",
	  true,
	  1,
	  { { "", "Yes", "Yes", 1236, "binlog purged", 0, "", 0 } },
	  300,
	  APP_DB_UNHEALTHY_REPLICA,
	  0,
	  "IO thread running: error 1236: binlog purged" },
	{ "SQL thread stopped by hand",
	  true,
	  1,
	  { { "", "Yes", "No", 0, "", 0, "", -1 } },
	  300,
	  APP_DB_UNHEALTHY_REPLICA,
	  -1,
	  "SQL thread not running (Slave_SQL_Running=No)" },
	{ "SQL error stops the thread",
	  true,
	  1,
	  { { "", "Yes", "No", 0, "", 1062, "Duplicate entry '1' for key 'PRIMARY'",
	      -1 } },
	  300,
	  APP_DB_UNHEALTHY_REPLICA,
	  -1,
	  "SQL thread stopped: error 1062: Duplicate entry '1' for key 'PRIMARY'" },
	{ "SQL error wins over IO error",
	  true,
	  1,
	  { { "", "No", "No", 2003, "cannot connect", 1146, "Table doesn't exist", -1 } },
	  300,
	  APP_DB_UNHEALTHY_REPLICA,
	  -1,
	  "SQL thread stopped: error 1146" },
	{ "SQL error although running",
	  true,
	  1,
	  { { "", "Yes", "Yes", 0, "", 1205, "Lock wait timeout", 0 } },
	  300,
	  APP_DB_UNHEALTHY_REPLICA,
	  0,
	  "SQL thread running: error 1205: Lock wait" },
	/* one bad source spoils a multi-source replica, and is named */
	{ "second of two sources stopped",
	  true,
	  2,
	  { { "a", "Yes", "Yes", 0, "", 0, "", 0 },
	    { "b", "No", "No", 0, "", 0, "", -1 } },
	  300,
	  APP_DB_UNHEALTHY_REPLICA,
	  -1,
	  "replication 'b' from 10.0.0.5:3306: SQL thread not running" },
	{ "first of two sources lagging",
	  true,
	  2,
	  { { "a", "Yes", "Yes", 0, "", 0, "", 900 },
	    { "b", "Yes", "Yes", 0, "", 0, "", 0 } },
	  60,
	  APP_DB_UNHEALTHY_REPLICA,
	  900,
	  "replication 'a' from 10.0.0.5:3306: lag 900 s > maxReplicationLagSeconds 60" },
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static void fill(app_db_status *st, const tcase *c)
{
	size_t i;

	memset(st, 0, sizeof(*st));
	snprintf(st->version, sizeof(st->version), "10.11.19-MariaDB");
	st->server_id = 2;
	st->read_only = c->read_only;
	st->binlog_position = -1;
	st->n_sources = c->n;
	for (i = 0; i < c->n; i++) {
		app_db_source *s = &st->sources[i];
		const src *in = &c->sources[i];

		snprintf(s->connection_name, sizeof(s->connection_name), "%s", in->name);
		snprintf(s->master_host, sizeof(s->master_host), "10.0.0.5");
		s->master_port = 3306;
		snprintf(s->io_running, sizeof(s->io_running), "%s", in->io);
		snprintf(s->sql_running, sizeof(s->sql_running), "%s", in->sql);
		s->last_io_errno = in->io_errno;
		snprintf(s->last_io_error, sizeof(s->last_io_error), "%s", in->io_error);
		s->last_sql_errno = in->sql_errno;
		snprintf(s->last_sql_error, sizeof(s->last_sql_error), "%s",
			 in->sql_error);
		s->seconds_behind_master = in->behind;
	}
}

static void test_table(void **state)
{
	static app_db_status st; /* 15 KiB: off the stack */
	size_t i;

	(void)state;
	for (i = 0; i < N_CASES; i++) {
		const tcase *c = &cases[i];
		app_db_verdict v;
		app_db_kind kind;

		fill(&st, c);
		memset(&v, 0x5a, sizeof(v)); /* every field must be written */
		kind = app_db_classify(&v, &st, c->max_lag);
		print_message("%-40s %-16s %s\n", c->what, app_db_kind_name(kind),
			      v.reason);
		if (kind != c->kind || v.kind != c->kind || v.lag_seconds != c->lag ||
		    !strstr(v.reason, c->reason)) {
			print_error("case '%s': got %s lag %lld \"%s\"; want %s lag %lld "
				    "\"...%s...\"\n",
				    c->what, app_db_kind_name(kind),
				    (long long)v.lag_seconds, v.reason,
				    app_db_kind_name(c->kind), (long long)c->lag,
				    c->reason);
			fail();
		}
	}
}

/* Reasons stay bounded and terminated however long the server's texts. */
static void test_long_texts(void **state)
{
	static app_db_status st;
	app_db_verdict v;
	const tcase sql_error = { "long texts",
				  true,
				  1,
				  { { "", "Yes", "No", 0, "", 1062, "dup", -1 } },
				  300,
				  APP_DB_UNHEALTHY_REPLICA,
				  -1,
				  "" };

	(void)state;
	fill(&st, &sql_error);
	memset(st.sources[0].connection_name, 'n', APP_DB_NAME_MAX - 1);
	memset(st.sources[0].master_host, 'h', APP_DB_NAME_MAX - 1);
	memset(st.sources[0].last_sql_error, 'e', APP_DB_MESSAGE_MAX - 1);
	assert_int_equal(app_db_classify(&v, &st, 300), APP_DB_UNHEALTHY_REPLICA);
	assert_true(strlen(v.reason) < sizeof(v.reason));
	assert_non_null(strstr(v.reason, "replication 'nnnn"));
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(app_db_kind_name(APP_DB_UNKNOWN), "Unknown");
	assert_string_equal(app_db_kind_name(APP_DB_PRIMARY), "Primary");
	assert_string_equal(app_db_kind_name(APP_DB_HEALTHY_REPLICA), "HealthyReplica");
	assert_string_equal(app_db_kind_name(APP_DB_UNHEALTHY_REPLICA),
			    "UnhealthyReplica");
	assert_string_equal(app_db_kind_name((app_db_kind)42), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_long_texts),
		cmocka_unit_test(test_names),
	};

	print_message("%zu classifier cases\n", N_CASES);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
