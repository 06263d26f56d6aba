/*
 * test_binlog_reach.c — app/db/binlog_reach.c against real MariaDB servers
 * (the primary and the GTID replica of hack/mariadb-local.sh, CTest
 * fixture `mariadb`; see test_mariadb.c for how the servers are found).
 *
 * What is checked, each time against what the server itself says (as
 * root, plain libmariadb): the reach read as the backup account (log_bin,
 * @@gtid_binlog_pos, SHOW BINARY LOGS' files and sizes, the oldest file's
 * BINLOG_GTID_POS, the expiry and the server's clock); an expiry set
 * through binlog_expire_logs_seconds and through expire_logs_days (one
 * setting); after FLUSH BINARY LOGS + PURGE BINARY LOGS TO the newest, the
 * newest file's start reported as the oldest; the replica (log_bin on,
 * log_slave_updates); the weak account (BINLOG MONITOR alone is enough);
 * an account without BINLOG MONITOR (SS_EFORBIDDEN, which the schedule
 * reports as PrivilegeMissing, naming the privilege and neither the
 * account nor its password); and a server that stops answering, through a
 * small proxy of the test's own: mid-read (the whole read's bound,
 * APP_BINLOG_REACH_TIMEOUT_S), before its greeting, and gone (refused).
 *
 * The servers are left as found: the expiry is set back, the test's
 * account is made with sql_log_bin = 0 and dropped. The purge cannot be
 * undone, but only removes files older than the current one (the replica
 * is caught up and reads the newest file; other tests write their own
 * history after their start), and the test runs last in the fixture.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

#include "mariadb_fixture.h"
#include "testutil.h"

#include "app/db/binlog_reach.h"
#include "util/error.h"

#define CHECK(expr)                                                                      \
	do {                                                                             \
		int rc_ = (expr);                                                        \
		if (rc_ != 0) {                                                          \
			print_error("%s:%d: %s -> %d (%s)\n", __FILE__, __LINE__, #expr, \
				    rc_, ss_error_last()->message);                      \
			fail();                                                          \
		}                                                                        \
	} while (0)

#define NOMON_USER "snapstage_reach_nomon"
#define NOMON_PASSWORD "Rq7-nomon-pw-e1c9"

static mariadb_fixture sv;
#define sql(...) mariadb_fixture_sql(__VA_ARGS__)
#define value(...) mariadb_fixture_value(__VA_ARGS__)

static MYSQL *root;    /* plain libmariadb on the primary, for what the server says */
static int proxy_port; /* the test's proxy (below), 0 before it starts */
static char expire_before[64];

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static app_db *connect_as(const char *host, int port, const char *user,
			  const char *password, int timeout_s)
{
	app_db_target tg = { 0 };
	app_db *db = NULL;

	tg.host = host;
	tg.port = port;
	tg.user = user;
	tg.password = password;
	/* plain TCP through the test's proxy, which reads the statements */
	tg.tls_mode = port == proxy_port ? APP_TLS_DISABLED : APP_TLS_PREFERRED;
	tg.connect_timeout_seconds = timeout_s;
	CHECK(app_db_connect(&db, &tg));
	return db;
}

static app_binlog_reach read_ok(app_db *db)
{
	app_binlog_reach e;

	memset(&e, 0, sizeof(e));
	CHECK(app_binlog_reach_read(&e, db));
	return e;
}

/* Equal as positions: the server lists domains in its own order
 * (BINLOG_GTID_POS gave "1-1-1,0-1-78"), app_gtid_pos_format sorts them. */
static void assert_pos(const app_gtid_pos *got, const char *want)
{
	char a[APP_GTID_TEXT_MAX];
	app_gtid_pos w;

	CHECK(app_gtid_pos_format(a, sizeof(a), got));
	CHECK(app_gtid_pos_parse(&w, want));
	if (!app_gtid_pos_equal(got, &w)) {
		print_error("read '%s', the server says '%s'\n", a, want);
		fail();
	}
}

/* The reach read equals what `m`'s server says right after it. */
static void assert_as_server(const app_binlog_reach *e, MYSQL *m)
{
	char oldest[APP_DB_NAME_MAX];
	uint64_t total = 0;
	size_t n = 0;
	MYSQL_RES *res;
	MYSQL_ROW row;

	assert_true(e->log_bin);
	assert_string_equal(value(m, "SELECT @@log_bin"), "1");
	assert_pos(&e->current, value(m, "SELECT @@gtid_binlog_pos"));
	assert_int_equal(
		e->expire_seconds,
		strtoll(value(m, "SELECT @@binlog_expire_logs_seconds"), NULL, 10));
	assert_true(e->now_s > 0);
	assert_true(llabs(e->now_s -
			  strtoll(value(m, "SELECT UNIX_TIMESTAMP()"), NULL, 10)) <= 2);
	assert_int_equal(mysql_query(m, "SHOW BINARY LOGS"), 0);
	assert_non_null(res = mysql_store_result(m));
	while ((row = mysql_fetch_row(res))) {
		if (n++ == 0)
			snprintf(oldest, sizeof(oldest), "%s", row[0]);
		total += strtoull(row[1], NULL, 10);
	}
	mysql_free_result(res);
	assert_int_equal(e->n_files, n);
	assert_int_equal(e->total_bytes, total);
	assert_string_equal(e->oldest_file, oldest);
	assert_pos(&e->oldest, value(m, "SELECT BINLOG_GTID_POS('%s', 4)", oldest));
	{
		char a[APP_GTID_TEXT_MAX], b[APP_GTID_TEXT_MAX];

		CHECK(app_gtid_pos_format(a, sizeof(a), &e->oldest));
		CHECK(app_gtid_pos_format(b, sizeof(b), &e->current));
		print_message("    %zu files (%" PRIu64 " bytes), oldest %s starts at "
			      "'%s', current '%s', expiry %" PRId64 " s\n",
			      e->n_files, e->total_bytes, e->oldest_file, a, b,
			      e->expire_seconds);
	}
}

/* ---- reading --------------------------------------------------------------- */

static void test_reach_primary(void **state)
{
	app_db *db = connect_as(sv.host, sv.port, sv.backup_user, sv.backup_password, 5);
	app_binlog_reach e;

	(void)state;
	sql(root, "SET GLOBAL binlog_expire_logs_seconds = 12345");
	e = read_ok(db);
	assert_int_equal(e.expire_seconds, 12345);
	assert_as_server(&e, root);
	/* expire_logs_days is the same setting, in days */
	sql(root, "SET GLOBAL expire_logs_days = 2");
	e = read_ok(db);
	assert_int_equal(e.expire_seconds, 2 * 86400);
	sql(root, "SET GLOBAL binlog_expire_logs_seconds = %s", expire_before);
	e = read_ok(db);
	assert_as_server(&e, root);
	app_db_close(db);
}

/* New groups move `current`, not the oldest file's start. */
static void test_reach_moves(void **state)
{
	app_db *db = connect_as(sv.host, sv.port, sv.backup_user, sv.backup_password, 5);
	app_binlog_reach a, b;

	(void)state;
	a = read_ok(db);
	sql(root, "CREATE DATABASE IF NOT EXISTS snapstage_reach");
	sql(root, "DROP DATABASE snapstage_reach");
	b = read_ok(db);
	assert_as_server(&b, root);
	assert_false(app_gtid_pos_reached(&a.current, &b.current));
	assert_true(app_gtid_pos_reached(&b.current, &a.current));
	assert_string_equal(a.oldest_file, b.oldest_file);
	assert_true(app_gtid_pos_equal(&a.oldest, &b.oldest));
	app_db_close(db);
}

/* After FLUSH + PURGE TO the newest, the newest file is the oldest, and
 * it starts where the log stood at the flush. */
static void test_reach_after_purge(void **state)
{
	app_db *db = connect_as(sv.host, sv.port, sv.backup_user, sv.backup_password, 5);
	char at_flush[APP_GTID_TEXT_MAX], newest[APP_DB_NAME_MAX];
	app_binlog_reach before, e;

	(void)state;
	sql(root, "CREATE DATABASE IF NOT EXISTS snapstage_reach"); /* a group */
	sql(root, "DROP DATABASE snapstage_reach");
	before = read_ok(db);
	sql(root, "FLUSH BINARY LOGS");
	snprintf(at_flush, sizeof(at_flush), "%s",
		 value(root, "SELECT @@gtid_binlog_pos"));
	assert_int_equal(mysql_query(root, "SHOW MASTER STATUS"), 0);
	{
		MYSQL_RES *res = mysql_store_result(root);
		MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;

		assert_non_null(row);
		snprintf(newest, sizeof(newest), "%s", row[0]);
		mysql_free_result(res);
	}
	mariadb_fixture_purge_to(root, newest); /* a replica may hold the old one */
	e = read_ok(db);
	assert_as_server(&e, root);
	assert_int_equal(e.n_files, 1);
	assert_string_equal(e.oldest_file, newest);
	assert_string_not_equal(e.oldest_file, before.oldest_file);
	assert_pos(&e.oldest, at_flush);
	assert_pos(&e.current, at_flush);
	/* a group after the purge: current moves, the start stays */
	sql(root, "CREATE DATABASE IF NOT EXISTS snapstage_reach");
	sql(root, "DROP DATABASE snapstage_reach");
	e = read_ok(db);
	assert_pos(&e.oldest, at_flush);
	assert_false(app_gtid_pos_reached(&e.oldest, &e.current));
	app_db_close(db);
}

static void test_reach_replica(void **state)
{
	app_db *db = connect_as(sv.replica_host, sv.replica_port, sv.backup_user,
				sv.backup_password, 5);
	MYSQL *m = mysql_init(NULL);
	unsigned int t = 30, tcp = MYSQL_PROTOCOL_TCP;
	app_binlog_reach e;

	(void)state;
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &t);
	mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &t);
	mysql_options(m, MYSQL_OPT_PROTOCOL, &tcp);
	assert_non_null(mysql_real_connect(m, sv.replica_host, "root", sv.root_password,
					   NULL, (unsigned int)sv.replica_port, NULL, 0));
	/* caught up first, so both reads see one position */
	assert_string_equal(value(m, "SELECT MASTER_GTID_WAIT('%s', 20)",
				  value(root, "SELECT @@gtid_binlog_pos")),
			    "0");
	e = read_ok(db);
	assert_as_server(&e, m);
	mysql_close(m);
	app_db_close(db);
}

/* ---- privileges --------------------------------------------------------------- */

static void test_reach_weak(void **state)
{
	app_db *db = connect_as(sv.host, sv.port, sv.weak_user, sv.weak_password, 5);
	app_binlog_reach e;

	(void)state;
	e = read_ok(db); /* BINLOG MONITOR (and REPLICA MONITOR) only */
	assert_as_server(&e, root);
	app_db_close(db);
}

static void test_reach_no_binlog_monitor(void **state)
{
	app_db *db = connect_as(sv.host, sv.port, NOMON_USER, NOMON_PASSWORD, 5);
	app_binlog_reach e;
	const char *msg;
	int rc;

	(void)state;
	memset(&e, 0x5a, sizeof(e));
	rc = app_binlog_reach_read(&e, db);
	msg = ss_error_last()->message;
	print_message("    without BINLOG MONITOR: %d: %s\n", rc, msg);
	assert_int_equal(rc, SS_EFORBIDDEN);
	assert_non_null(strstr(msg, "BINLOG MONITOR"));
	assert_non_null(strstr(msg, "1227"));
	assert_null(strstr(msg, NOMON_USER));
	assert_null(strstr(msg, NOMON_PASSWORD));
	assert_int_equal(e.n_files, 0x5a5a5a5a5a5a5a5aULL); /* untouched */
	app_db_close(db);
}

/* ---- a server that stops answering: a proxy of the test's own ---------------- */

enum { PROXY_FORWARD, PROXY_STALL, PROXY_SILENT };

static struct {
	int listen_fd;
	int port;
	atomic_int mode; /* for connections accepted from now on */
	pthread_t thread;
} px = { .listen_fd = -1 };

typedef struct {
	int client, upstream, mode;
} proxy_conn;

/* Whether buf[0..n) holds `text` (a statement is sent in one piece). */
static bool has_text(const char *buf, size_t n, const char *text)
{
	size_t k = strlen(text), i;

	for (i = 0; i + k <= n; i++)
		if (!memcmp(buf + i, text, k))
			return true;
	return false;
}

/* Holds the client's socket open and silent until it closes it. */
static void proxy_hold(int fd)
{
	char buf[4096];
	struct pollfd p = { fd, POLLIN, 0 };

	while (poll(&p, 1, 60000) > 0 && read(fd, buf, sizeof(buf)) > 0)
		;
}

/* One connection: bytes both ways; in STALL mode, once the client sends
 * SHOW BINARY LOGS nothing more goes either way (the statement is not
 * passed on). */
static void *proxy_conn_main(void *arg)
{
	proxy_conn *c = arg;
	struct pollfd p[2] = { { c->client, POLLIN, 0 }, { c->upstream, POLLIN, 0 } };
	char buf[16384];
	ssize_t n;

	for (;;) {
		if (poll(p, 2, 60000) <= 0)
			break;
		if (p[0].revents) {
			if ((n = read(c->client, buf, sizeof(buf))) <= 0)
				break;
			if (c->mode == PROXY_STALL &&
			    has_text(buf, (size_t)n, "SHOW BINARY LOGS")) {
				proxy_hold(c->client);
				break;
			}
			if (write(c->upstream, buf, (size_t)n) != n)
				break;
		}
		if (p[1].revents) {
			if ((n = read(c->upstream, buf, sizeof(buf))) <= 0 ||
			    write(c->client, buf, (size_t)n) != n)
				break;
		}
	}
	close(c->client);
	close(c->upstream);
	free(c);
	return NULL;
}

static void *proxy_hold_main(void *arg)
{
	proxy_conn *c = arg;

	proxy_hold(c->client);
	close(c->client);
	free(c);
	return NULL;
}

static void *proxy_main(void *arg)
{
	struct sockaddr_in up = { .sin_family = AF_INET };
	pthread_t t;
	int fd;

	(void)arg;
	up.sin_port = htons((uint16_t)sv.port);
	inet_pton(AF_INET, sv.host, &up.sin_addr);
	while ((fd = accept(px.listen_fd, NULL, NULL)) >= 0) {
		proxy_conn *c = calloc(1, sizeof(*c));

		c->client = fd;
		c->mode = atomic_load(&px.mode);
		if (c->mode == PROXY_SILENT) {
			c->upstream = -1;
			/* never a greeting */
			pthread_create(&t, NULL, proxy_hold_main, c);
			pthread_detach(t);
			continue;
		}
		c->upstream = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c->upstream, (struct sockaddr *)&up, sizeof(up)) != 0 ||
		    pthread_create(&t, NULL, proxy_conn_main, c) != 0) {
			close(c->upstream);
			close(fd);
			free(c);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

static int proxy_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	px.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (px.listen_fd < 0 ||
	    bind(px.listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(px.listen_fd, 16) != 0 ||
	    getsockname(px.listen_fd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	px.port = proxy_port = ntohs(a.sin_port);
	atomic_store(&px.mode, PROXY_FORWARD);
	return pthread_create(&px.thread, NULL, proxy_main, NULL) == 0 ? 0 : -1;
}

/* The read through the proxy, connected while it forwards, the reach's own
 * connection in `mode`: the error, its message printed, the time taken. */
static int read_through_proxy(int mode, int64_t *ms)
{
	app_db *db;
	app_binlog_reach e;
	int64_t t0;
	int rc;

	atomic_store(&px.mode, PROXY_FORWARD);
	db = connect_as("127.0.0.1", px.port, sv.backup_user, sv.backup_password, 2);
	atomic_store(&px.mode, mode);
	t0 = now_ms();
	rc = app_binlog_reach_read(&e, db);
	*ms = now_ms() - t0;
	print_message("    %d ms: %d: %s\n", (int)*ms, rc,
		      rc ? ss_error_last()->message : "");
	if (rc) {
		assert_null(strstr(ss_error_last()->message, sv.backup_user));
		assert_null(strstr(ss_error_last()->message, sv.backup_password));
	}
	app_db_close(db);
	atomic_store(&px.mode, PROXY_FORWARD);
	return rc;
}

static void test_reach_through_proxy(void **state)
{
	int64_t ms;

	(void)state;
	assert_int_equal(read_through_proxy(PROXY_FORWARD, &ms), 0); /* the proxy works */
}

/* The server answers the connect, then nothing: the whole read's bound. */
static void test_reach_stalls(void **state)
{
	int64_t ms;

	(void)state;
	assert_int_equal(read_through_proxy(PROXY_STALL, &ms), SS_ETIMEOUT);
	assert_true(ms >= (APP_BINLOG_REACH_TIMEOUT_S - 1) * 1000);
	assert_true(ms < (APP_BINLOG_REACH_TIMEOUT_S + 3) * 1000);
}

/* Accepted, never a greeting: the connect's bound (2 s here) and the first
 * read's. */
static void test_reach_no_greeting(void **state)
{
	int64_t ms;
	int rc;

	(void)state;
	rc = read_through_proxy(PROXY_SILENT, &ms);
	assert_true(rc == SS_ETIMEOUT || rc == SS_ETRANSPORT);
	assert_true(ms < (APP_BINLOG_REACH_TIMEOUT_S + 3) * 1000);
}

/* The address stops listening (connection refused): at once. */
static void test_reach_refused(void **state)
{
	app_db *db;
	app_binlog_reach e;
	int64_t t0, ms;
	int rc;

	(void)state;
	atomic_store(&px.mode, PROXY_FORWARD);
	db = connect_as("127.0.0.1", px.port, sv.backup_user, sv.backup_password, 2);
	shutdown(px.listen_fd, SHUT_RDWR); /* the accept loop ends */
	pthread_join(px.thread, NULL);
	close(px.listen_fd);
	px.listen_fd = -1;
	t0 = now_ms();
	rc = app_binlog_reach_read(&e, db);
	ms = now_ms() - t0;
	print_message("    refused, %d ms: %d: %s\n", (int)ms, rc,
		      ss_error_last()->message);
	assert_int_equal(rc, SS_ETRANSPORT);
	assert_true(ms < 3000);
	app_db_close(db);
}

/* ---- set-up ------------------------------------------------------------------- */

static int setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (mariadb_fixture_load(&sv) != 0 || !(root = mariadb_fixture_root(&sv, false)))
		return -1;
	snprintf(expire_before, sizeof(expire_before), "%s",
		 value(root, "SELECT @@binlog_expire_logs_seconds"));
	/* the account only on the primary; no privilege beyond USAGE but
	 * REPLICA MONITOR */
	sql(root, "SET SESSION sql_log_bin = 0");
	sql(root, "DROP USER IF EXISTS " NOMON_USER "@'%%'");
	sql(root, "CREATE USER " NOMON_USER "@'%%' IDENTIFIED BY '" NOMON_PASSWORD "'");
	sql(root, "GRANT REPLICA MONITOR ON *.* TO " NOMON_USER "@'%%'");
	sql(root, "SET SESSION sql_log_bin = 1");
	return proxy_start();
}

static int teardown(void **state)
{
	(void)state;
	if (root) {
		char set[128];

		snprintf(set, sizeof(set), "SET GLOBAL binlog_expire_logs_seconds = %s",
			 expire_before);
		(void)mysql_query(root, set);
		(void)mysql_query(root, "SET SESSION sql_log_bin = 0");
		(void)mysql_query(root, "DROP USER IF EXISTS " NOMON_USER "@'%'");
	}
	if (px.listen_fd >= 0) {
		shutdown(px.listen_fd, SHUT_RDWR);
		pthread_join(px.thread, NULL);
		close(px.listen_fd);
	}
	mysql_close(root);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reach_primary),
		cmocka_unit_test(test_reach_moves),
		cmocka_unit_test(test_reach_replica),
		cmocka_unit_test(test_reach_weak),
		cmocka_unit_test(test_reach_no_binlog_monitor),
		cmocka_unit_test(test_reach_through_proxy),
		cmocka_unit_test(test_reach_stalls),
		cmocka_unit_test(test_reach_no_greeting),
		cmocka_unit_test(test_reach_refused),
		/* last: takes the older files away */
		cmocka_unit_test(test_reach_after_purge),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
