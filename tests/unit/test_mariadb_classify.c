/*
 * test_mariadb_classify.c — the pure decisions of app/mariadb, no server
 * needed: app_db_classify(), "what is this server" (primary, healthy or
 * unhealthy replica, or unknown) with the reason a user reads in a status
 * condition, from a table of statuses as app_db_probe() would fill them;
 * app_db_error_words_of(), which MariaDB error texts may be quoted (never
 * one that names the account: statuses, Events and logs are read by
 * people who may not read the credentials Secret), also in a replica's IO
 * thread errors; the lock session's server-side idle bound and the name
 * of its marker.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "app/db/db.h"
#include "util/error.h"

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
	  "IO thread not running: error 2003 (its text is not shown" },
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

/* ---- errors ------------------------------------------------------------------ */

static const struct {
	unsigned int errno_; /* a MariaDB or Connector/C error number */
	int code;
	bool quote;
	const char *meaning; /* a fragment; "" for none */
} words[] = {
	/* texts that name the account or quote the statement: withheld */
	{ 1045, SS_EUNAUTHORIZED, false, "check the user name and password" },
	{ 1698, SS_EUNAUTHORIZED, false, "does not log in with a password" },
	{ 1044, SS_EFORBIDDEN, false, "lacks a privilege" },
	{ 1142, SS_EFORBIDDEN, false, "lacks a privilege" },
	{ 1143, SS_EFORBIDDEN, false, "lacks a privilege" },
	{ 1370, SS_EFORBIDDEN, false, "lacks a privilege" },
	{ 1203, SS_ETOOMANYREQUESTS, false, "max_user_connections" },
	{ 1226, SS_ETOOMANYREQUESTS, false, "max_queries_per_hour" },
	{ 1064, SS_ERROR, false, "refused" }, /* "... near '<statement>'" */
	{ 1146, SS_ERROR, false, "refused" }, /* anything not known to be safe */
	{ 9999, SS_ERROR, false, "refused" },
	/* fixed texts: quoted */
	{ 1227, SS_EFORBIDDEN, true, "" },
	{ 1095, SS_EFORBIDDEN, true, "CONNECTION ADMIN" },
	{ 1130, SS_EUNAUTHORIZED, true, "host part" },
	{ 4151, SS_EUNAUTHORIZED, true, "check the account" },
	{ 1129, SS_EFORBIDDEN, true, "FLUSH HOSTS" },
	{ 1040, SS_ETOOMANYREQUESTS, true, "max_connections" },
	{ 1205, SS_ETIMEOUT, true, "lock_wait_timeout" },
	{ 1094, SS_ENOTFOUND, true, "" },
	{ 1927, SS_ETRANSPORT, true, "" },
	{ 1236, SS_ERROR, true, "" },
	{ 1950, SS_ERROR, true, "" },
	{ 4146, SS_ERROR, true, "" },
	/* Connector/C's own texts name the server only */
	{ 2002, SS_ETRANSPORT, true, "" },
	{ 2003, SS_ETRANSPORT, true, "" },
	{ 2013, SS_ETRANSPORT, true, "" },
	{ 2026, SS_ETRANSPORT, true, "" },
	{ 2059, SS_ERROR, true, "" },
	{ 5013, SS_ETRANSPORT, true, "" }, /* CR_ERR_NET_READ */
	{ 5010, SS_EUNSUPPORTED, true, "VerifyIdentity" }, /* CR_PLUGIN_NOT_ALLOWED */
};

static void test_error_words(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		app_db_error_words w;

		memset(&w, 0x5a, sizeof(w));
		app_db_error_words_of(&w, words[i].errno_);
		if (w.code != words[i].code || w.quote != words[i].quote ||
		    !w.meaning || !strstr(w.meaning, words[i].meaning)) {
			print_error("error %u: got %s quote %d \"%s\"; want %s quote %d "
				    "\"...%s...\"\n",
				    words[i].errno_, ss_error_code_name(w.code), w.quote,
				    w.meaning ? w.meaning : "(null)",
				    ss_error_code_name(words[i].code), words[i].quote,
				    words[i].meaning);
			fail();
		}
		/* A withheld text is replaced by words of our own. */
		if (!w.quote)
			assert_true(strlen(w.meaning) > 0);
	}
}

/* A replica's IO thread names its replication account when it connects;
 * that account may come from a Secret, so those texts stay out of the
 * reason, which keeps the error number. */
static void test_io_error_names_no_account(void **state)
{
	static app_db_status st;
	const struct {
		int errno_;
		const char *text;
		bool quoted;
	} io[] = {
		{ 2003,
		  "error reconnecting to master 'mkRepl5d1c@10.0.0.5:3306' - retry-time: 5 "
		  " maximum-retries: 100000  message: Can't connect to server",
		  false },
		{ 1045,
		  "error connecting to master 'mkRepl5d1c@10.0.0.5:3306' - retry-time: 5 "
		  " message: Access denied for user 'mkRepl5d1c'@'10.0.0.6'",
		  false },
		/* a safe number, but this text still names the account */
		{ 1040,
		  "error connecting to master 'mkRepl5d1c@10.0.0.5:3306' - message: Too "
		  "many connections",
		  false },
		{ 1236,
		  "Got fatal error 1236 from master when reading data from binary log: "
		  "'mkPurged: could not find GTID state'",
		  true },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(io) / sizeof(io[0]); i++) {
		const tcase c = { "io", true, 1, { { "", "Connecting", "Yes", io[i].errno_,
						     io[i].text, 0, "", -1 } },
				  300, APP_DB_UNHEALTHY_REPLICA, -1, "" };
		char number[32];
		app_db_verdict v;

		fill(&st, &c);
		assert_int_equal(app_db_classify(&v, &st, 300), APP_DB_UNHEALTHY_REPLICA);
		print_message("IO error %d: %s\n", io[i].errno_, v.reason);
		snprintf(number, sizeof(number), "error %d", io[i].errno_);
		assert_non_null(strstr(v.reason, number));
		assert_null(strstr(v.reason, "mkRepl5d1c"));
		assert_int_equal(strstr(v.reason, "mkPurged") != NULL, io[i].quoted);
	}
}

/* ---- the lock session's pure parts ---------------------------------------------- */

static void test_lock_idle_timeout(void **state)
{
	(void)state;
	assert_int_equal(APP_DB_LOCK_IDLE_MARGIN_SECONDS, 5);
	assert_int_equal(app_db_lock_idle_timeout(1), 6);
	assert_int_equal(app_db_lock_idle_timeout(30), 35);
	assert_int_equal(app_db_lock_idle_timeout(3600), 3605);
}

/* `call` must fail with `code` and a message containing `fragment`. */
#define FAILS(call, code, fragment)                       \
	do {                                              \
		assert_int_equal((call), (code));         \
		tu_assert_error((code), (fragment));      \
	} while (0)

static void test_marker_name(void **state)
{
	char out[APP_DB_MARKER_NAME_MAX], small[12], longest[APP_DB_MARKER_MAX + 2];

	(void)state;
	assert_int_equal(app_db_lock_marker_name(out, sizeof(out),
						 "0c6a3f1e-1111-2222-3333-444455556666"),
			 0);
	assert_string_equal(out, "snapstage:0c6a3f1e-1111-2222-3333-444455556666");
	assert_int_equal(app_db_lock_marker_name(out, sizeof(out), "A.b_c-9"), 0);
	memset(longest, 'u', sizeof(longest));
	longest[APP_DB_MARKER_MAX] = '\0';
	assert_int_equal(app_db_lock_marker_name(out, sizeof(out), longest), 0);
	assert_true(strlen(out) <= 64);
	longest[APP_DB_MARKER_MAX] = 'u';
	longest[APP_DB_MARKER_MAX + 1] = '\0';
	FAILS(app_db_lock_marker_name(out, sizeof(out), longest), SS_EINVALID,
		     "1 to 54 characters");
	FAILS(app_db_lock_marker_name(out, sizeof(out), ""), SS_EINVALID, "got 0");
	FAILS(app_db_lock_marker_name(out, sizeof(out), NULL), SS_EINVALID, "got 0");
	/* nothing that could leave the SQL string literal */
	FAILS(app_db_lock_marker_name(out, sizeof(out), "a'b"), SS_EINVALID,
		     "character 2");
	FAILS(app_db_lock_marker_name(out, sizeof(out), "a\\b"), SS_EINVALID,
		     "character 2");
	FAILS(app_db_lock_marker_name(out, sizeof(out), "a b"), SS_EINVALID,
		     "character 2");
	FAILS(app_db_lock_marker_name(small, sizeof(small), "uid"), SS_ETOOLARGE,
		     "no room");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_long_texts),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_error_words),
		cmocka_unit_test(test_io_error_names_no_account),
		cmocka_unit_test(test_lock_idle_timeout),
		cmocka_unit_test(test_marker_name),
	};

	print_message("%zu classifier cases\n", N_CASES);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
