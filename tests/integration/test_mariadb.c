/*
 * test_mariadb.c — app/db/db.c against two real MariaDB servers, no
 * Kubernetes: a primary (with TLS) and a GTID replica of it, started by
 * hack/mariadb-local.sh (CTest fixture `mariadb`; their addresses, users and
 * password files are read from $SNAPSTAGE_MARIADB_DIR/env).
 *
 * What is checked: connecting and every way it fails (wrong password,
 * nothing listening, a server that never answers, each TLS mode against a
 * server with and without TLS); the probe and classifier on the real pair,
 * also with a replication thread stopped; and the lock session: the
 * position under BLOCK_COMMIT, replication paused on the replica while the
 * primary keeps committing, a second session timing out, a missing RELOAD
 * privilege, a stage failing half-way, KILL of a leftover session (and of
 * nothing else: only the session holding the Backup's marker), a
 * controller process dying while it holds the lock, a controller frozen
 * while it holds the lock (the server ends the session after its
 * wait_timeout) and a frozen server (SIGSTOP: the position, END and KILL
 * give up within their own bounds). Every failure path must leave nothing
 * held: another session then takes BACKUP STAGE at once. No error message
 * may carry the account's user name or password, whatever fails.
 * Last, the roles a Restore gives restored servers (app_db_restore_as_*),
 * played on the replica: primary at a GTID position, then a replica of the
 * real primary again.
 * Timings and hold times are printed.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

#include "testutil.h"

#include "app/db/db.h"
#include "util/error.h"

#define VALUE_MAX 600
#define SQL_MAX 512

/* Fails the test when `expr` (an int error return) is not 0. */
#define CHECK(expr)                                                                      \
	do {                                                                             \
		int rc_ = (expr);                                                        \
		if (rc_ != 0) {                                                          \
			print_error("%s:%d: %s -> %d (%s)\n", __FILE__, __LINE__, #expr, \
				    rc_, ss_error_last()->message);                      \
			fail();                                                          \
		}                                                                        \
	} while (0)

/* ---- the servers ----------------------------------------------------------- */

typedef struct {
	char primary_host[VALUE_MAX];
	char primary_alias[VALUE_MAX];
	int primary_port;
	char replica_host[VALUE_MAX];
	int replica_port;
	char root_password[VALUE_MAX];
	char backup_user[VALUE_MAX];
	char backup_password[VALUE_MAX];
	char weak_user[VALUE_MAX];
	char weak_password[VALUE_MAX];
	char repl_user[VALUE_MAX];
	char repl_password[VALUE_MAX];
	char *ca_pem;
	char *other_ca_pem;
	char ca_file[VALUE_MAX]; /* the CA files' paths, for MASTER_SSL_CA */
	char other_ca_file[VALUE_MAX];
	pid_t primary_pid; /* the mariadbd processes, for SIGSTOP */
	pid_t replica_pid;
} servers;

static servers sv;
static MYSQL *root_primary, *root_replica; /* plain libmariadb, for the test's own SQL */

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

/* The whole file (a password or a PEM bundle), trailing newline removed. */
static char *slurp(const char *path, bool strip)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f) {
		print_error("cannot read %s: %s\n", path, strerror(errno));
		return NULL;
	}
	buf = calloc(1, 65536);
	n = buf ? fread(buf, 1, 65535, f) : 0;
	fclose(f);
	while (strip && n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return buf;
}

static pid_t server_pid(const char *dir, const char *name);

static int load_env(void)
{
	const char *dir = getenv("SNAPSTAGE_MARIADB_DIR");
	char path[VALUE_MAX + 8], line[1024];
	char pwfile[4][VALUE_MAX] = { { 0 } }, cafile[2][VALUE_MAX] = { { 0 } };
	char *pw;
	FILE *f;

	if (!dir || !*dir) {
		print_error(
			"SNAPSTAGE_MARIADB_DIR is not set: run through ctest (fixture "
			"mariadb) or hack/mariadb-local.sh --dir DIR up\n");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/env", dir);
	f = fopen(path, "r");
	if (!f) {
		print_error("cannot read %s: are the servers up?\n", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *eq, *v;

		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(p, "export ", 7))
			p += 7;
		eq = strchr(p, '=');
		if (!eq)
			continue;
		*eq = '\0';
		v = eq + 1;
#define VAR(name, dst)        \
	if (!strcmp(p, name)) \
		snprintf(dst, sizeof(dst), "%s", v);
		VAR("SNAPSTAGE_MARIADB_PRIMARY_HOST", sv.primary_host)
		VAR("SNAPSTAGE_MARIADB_PRIMARY_ALIAS_HOST", sv.primary_alias)
		VAR("SNAPSTAGE_MARIADB_REPLICA_HOST", sv.replica_host)
		VAR("SNAPSTAGE_MARIADB_BACKUP_USER", sv.backup_user)
		VAR("SNAPSTAGE_MARIADB_WEAK_USER", sv.weak_user)
		VAR("SNAPSTAGE_MARIADB_REPL_USER", sv.repl_user)
		VAR("SNAPSTAGE_MARIADB_ROOT_PASSWORD_FILE", pwfile[0])
		VAR("SNAPSTAGE_MARIADB_BACKUP_PASSWORD_FILE", pwfile[1])
		VAR("SNAPSTAGE_MARIADB_WEAK_PASSWORD_FILE", pwfile[2])
		VAR("SNAPSTAGE_MARIADB_REPL_PASSWORD_FILE", pwfile[3])
		VAR("SNAPSTAGE_MARIADB_PRIMARY_CA_FILE", cafile[0])
		VAR("SNAPSTAGE_MARIADB_OTHER_CA_FILE", cafile[1])
#undef VAR
		if (!strcmp(p, "SNAPSTAGE_MARIADB_PRIMARY_PORT"))
			sv.primary_port = (int)strtol(v, NULL, 10);
		if (!strcmp(p, "SNAPSTAGE_MARIADB_REPLICA_PORT"))
			sv.replica_port = (int)strtol(v, NULL, 10);
	}
	fclose(f);
	if (!sv.primary_port || !sv.replica_port || !*sv.primary_alias || !*pwfile[2] ||
	    !*pwfile[3] || !*sv.repl_user || !*cafile[1]) {
		print_error("%s lacks a variable this test needs\n", path);
		return -1;
	}
	if (!(pw = slurp(pwfile[0], true)))
		return -1;
	snprintf(sv.root_password, sizeof(sv.root_password), "%s", pw);
	free(pw);
	if (!(pw = slurp(pwfile[1], true)))
		return -1;
	snprintf(sv.backup_password, sizeof(sv.backup_password), "%s", pw);
	free(pw);
	if (!(pw = slurp(pwfile[2], true)))
		return -1;
	snprintf(sv.weak_password, sizeof(sv.weak_password), "%s", pw);
	free(pw);
	if (!(pw = slurp(pwfile[3], true)))
		return -1;
	snprintf(sv.repl_password, sizeof(sv.repl_password), "%s", pw);
	free(pw);
	sv.ca_pem = slurp(cafile[0], false);
	sv.other_ca_pem = slurp(cafile[1], false);
	snprintf(sv.ca_file, sizeof(sv.ca_file), "%s", cafile[0]);
	snprintf(sv.other_ca_file, sizeof(sv.other_ca_file), "%s", cafile[1]);
	sv.primary_pid = server_pid(dir, "primary");
	sv.replica_pid = server_pid(dir, "replica");
	return sv.ca_pem && sv.other_ca_pem && sv.primary_pid > 0 && sv.replica_pid > 0
		       ? 0
		       : -1;
}

/* ---- freezing a server --------------------------------------------------------- */

/* The pid of server `name` from hack/mariadb-local.sh's pid file, if that
 * process is still the mariadbd of `dir` (not a recycled pid); else -1. */
static pid_t server_pid(const char *dir, const char *name)
{
	char path[VALUE_MAX + 64], *text, *cmd;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/pids/%s.pid", dir, name);
	if (!(text = slurp(path, true)))
		return -1;
	pid = (pid_t)strtol(text, NULL, 10);
	free(text);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (pid <= 0 || !(cmd = slurp(path, false)))
		return -1;
	/* NUL-separated: the first argument is the program */
	if (!strstr(cmd, "mariadbd")) {
		print_error("pid %d of %s is not a mariadbd\n", (int)pid, name);
		pid = -1;
	}
	free(cmd);
	return pid;
}

/* True once every thread of `pid` is stopped ('T' in /proc/PID/task/TID/stat). */
static bool all_stopped(pid_t pid)
{
	char path[64], stat[512];
	struct dirent *e;
	bool all = true;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return false;
	while (all && (e = readdir(d))) {
		FILE *f;
		char *paren;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/stat", (int)pid, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue; /* the thread has just ended */
		if (!fgets(stat, sizeof(stat), f))
			stat[0] = '\0';
		fclose(f);
		paren = strrchr(stat, ')'); /* "tid (comm) S ..." */
		all = paren && paren[1] == ' ' && paren[2] == 'T';
	}
	closedir(d);
	return all;
}

/* SIGSTOP a server: it accepts nothing and answers nothing, as on a frozen
 * or lost node. The signal stops the threads asynchronously, so this waits
 * until every one has stopped: a thread still running could answer one
 * more statement. Every test's cleanup sends SIGCONT to both. */
static void freeze(pid_t pid)
{
	int i;

	assert_int_equal(kill(pid, SIGSTOP), 0);
	for (i = 0; i < 200 && !all_stopped(pid); i++)
		sleep_ms(5);
	assert_true(all_stopped(pid));
}

static void thaw(pid_t pid)
{
	(void)kill(pid, SIGCONT);
}

/* ---- the test's own SQL (as root, plain libmariadb) ------------------------- */

static MYSQL *root_connect(const char *host, int port)
{
	MYSQL *m = mysql_init(NULL);
	unsigned int t = 10, tcp = MYSQL_PROTOCOL_TCP;

	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &t);
	mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &t);
	mysql_options(m, MYSQL_OPT_PROTOCOL, &tcp);
	if (!mysql_real_connect(m, host, "root", sv.root_password, NULL,
				(unsigned int)port, NULL, 0)) {
		print_error("root connect to %s:%d: %s\n", host, port, mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	return m;
}

static void sql(MYSQL *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sql(MYSQL *m, const char *fmt, ...)
{
	char text[SQL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (mysql_query(m, text) != 0) {
		print_error("%s: %s\n", text, mysql_error(m));
		fail();
	}
	mysql_free_result(mysql_store_result(m));
}

/* The first column of the first row ("" for NULL or no row). Static storage,
 * valid until the next call. */
static const char *value(MYSQL *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static const char *value(MYSQL *m, const char *fmt, ...)
{
	static char out[4096];
	char text[SQL_MAX];
	MYSQL_RES *res;
	MYSQL_ROW row;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (mysql_query(m, text) != 0 || !(res = mysql_store_result(m))) {
		print_error("%s: %s\n", text, mysql_error(m));
		fail();
		return "";
	}
	row = mysql_fetch_row(res);
	snprintf(out, sizeof(out), "%s", row && row[0] ? row[0] : "");
	mysql_free_result(res);
	return out;
}

static long count_rows(MYSQL *m)
{
	return strtol(value(m, "SELECT COUNT(*) FROM snapstage_test.ledger"), NULL, 10);
}

/* Waits until the replica has applied everything the primary has binlogged;
 * returns the milliseconds it took. */
static int64_t wait_replica_caught_up(int seconds)
{
	char pos[4096];
	int64_t t0 = now_ms();

	snprintf(pos, sizeof(pos), "%s", value(root_primary, "SELECT @@gtid_binlog_pos"));
	assert_string_equal(
		value(root_replica, "SELECT MASTER_GTID_WAIT('%s', %d)", pos, seconds),
		"0");
	return now_ms() - t0;
}

/* ---- what a test opens ------------------------------------------------------ */

/* Every app_db and lock session a test opens is tracked, so that a failed
 * assertion (cmocka leaves the test function at once) cannot leave a lock
 * held on the servers for the tests after it: the per-test teardown frees
 * what is left. */
#define TRACK_MAX 8
static app_db *open_dbs[TRACK_MAX];
static app_db_lock_session *open_sessions[TRACK_MAX];

static int db_connect(app_db **out, const app_db_target *t)
{
	int rc = app_db_connect(out, t);
	size_t i;

	for (i = 0; rc == 0 && i < TRACK_MAX; i++)
		if (!open_dbs[i]) {
			open_dbs[i] = *out;
			return 0;
		}
	return rc;
}

static void db_close(app_db *db)
{
	size_t i;

	for (i = 0; i < TRACK_MAX; i++)
		if (open_dbs[i] == db)
			open_dbs[i] = NULL;
	app_db_close(db);
}

static int lock_begin(app_db_lock_session **out, app_db *db, app_lock_stage stage,
		      int acquire_timeout_seconds)
{
	int rc = app_db_lock_begin(out, db, stage, acquire_timeout_seconds);
	size_t i;

	for (i = 0; rc == 0 && i < TRACK_MAX; i++)
		if (!open_sessions[i]) {
			open_sessions[i] = *out;
			return 0;
		}
	return rc;
}

static int lock_begin_ex(app_db_lock_session **out, app_db *db, const app_db_lock_opts *o)
{
	int rc = app_db_lock_begin_ex(out, db, o);
	size_t i;

	for (i = 0; rc == 0 && i < TRACK_MAX; i++)
		if (!open_sessions[i]) {
			open_sessions[i] = *out;
			return 0;
		}
	return rc;
}

static void lock_free(app_db_lock_session *s)
{
	size_t i;

	for (i = 0; i < TRACK_MAX; i++)
		if (open_sessions[i] == s)
			open_sessions[i] = NULL;
	app_db_lock_free(s);
}

/* After each test, passed or not: free what it left open and put the
 * servers back (replication running, group commit waits off). */
static int cleanup(void **state)
{
	size_t i;

	(void)state;
	thaw(sv.primary_pid);
	thaw(sv.replica_pid);
	for (i = 0; i < TRACK_MAX; i++) {
		if (open_sessions[i])
			app_db_lock_free(open_sessions[i]);
		open_sessions[i] = NULL;
	}
	for (i = 0; i < TRACK_MAX; i++) {
		if (open_dbs[i])
			app_db_close(open_dbs[i]);
		open_dbs[i] = NULL;
	}
	if (mysql_query(root_primary, "SET GLOBAL binlog_commit_wait_count = 0, "
				      "binlog_commit_wait_usec = 100000") == 0)
		mysql_free_result(mysql_store_result(root_primary));
	if (mysql_query(root_replica, "START SLAVE") == 0)
		mysql_free_result(mysql_store_result(root_replica));
	return 0;
}

/* ---- connecting --------------------------------------------------------------- */

static app_db_target target(const char *host, int port, const char *user,
			    const char *password, app_tls_mode mode, const char *ca)
{
	app_db_target t = {
		.host = host,
		.port = port,
		.user = user,
		.password = password,
		.tls_mode = mode,
		.ca_pem = ca,
		.connect_timeout_seconds = 5,
	};

	return t;
}

static app_db *connect_backup(const char *host, int port)
{
	app_db_target t = target(host, port, sv.backup_user, sv.backup_password,
				 APP_TLS_PREFERRED, NULL);
	app_db *db = NULL;

	CHECK(db_connect(&db, &t));
	return db;
}

static app_db *connect_replica(void)
{
	return connect_backup(sv.replica_host, sv.replica_port);
}

/* Connecting with `t` must fail with `code` and a message containing
 * `fragment`; returns how long it took (ms). */
static int64_t expect_connect_error(const app_db_target *t, int code,
				    const char *fragment)
{
	app_db *db = NULL;
	int64_t t0 = now_ms();
	int rc = app_db_connect(&db, t);
	int64_t ms = now_ms() - t0;

	if (rc == 0)
		app_db_close(db);
	if (rc != code || !strstr(ss_error_last()->message, fragment)) {
		print_error("connect to %s:%d as %s (%s): got %d (%s); want %d with "
			    "\"%s\"\n",
			    t->host, t->port, t->user, app_tls_mode_name(t->tls_mode), rc,
			    rc ? ss_error_last()->message : "connected", code, fragment);
		fail();
	}
	assert_null(db);
	return ms;
}

static void test_connect(void **state)
{
	app_db_target t;
	app_db *db = NULL;

	(void)state;
	/* The replica has no TLS; Preferred goes on in plain TCP. */
	db = connect_replica();
	assert_true(app_db_connection_id(db) > 0);
	assert_null(app_db_tls_cipher(db));
	db_close(db);

	/* The primary offers TLS: Preferred takes it, Disabled must not. */
	db = connect_backup(sv.primary_host, sv.primary_port);
	assert_non_null(app_db_tls_cipher(db));
	print_message("primary, Preferred: TLS %s\n", app_db_tls_cipher(db));
	db_close(db);
	t = target(sv.primary_host, sv.primary_port, sv.backup_user, sv.backup_password,
		   APP_TLS_DISABLED, NULL);
	CHECK(db_connect(&db, &t));
	assert_null(app_db_tls_cipher(db));
	db_close(db);
	app_db_close(NULL);

	/* Bad arguments are refused before any network. */
	t = target("", 3306, "u", "p", APP_TLS_DISABLED, NULL);
	expect_connect_error(&t, SS_EINVALID, "no host");
	t = target(sv.replica_host, 0, "u", "p", APP_TLS_DISABLED, NULL);
	expect_connect_error(&t, SS_EINVALID, "port 0");
	t = target(sv.replica_host, sv.replica_port, "u", "p", APP_TLS_DISABLED, NULL);
	t.connect_timeout_seconds = 0;
	expect_connect_error(&t, SS_EINVALID, "connect timeout 0 s");
}

static void test_tls_modes(void **state)
{
	app_db_target t;
	app_db *db = NULL;
	int i;
	const struct {
		const char *host;
		app_tls_mode mode;
		const char *ca;
	} good[] = {
		{ sv.primary_host, APP_TLS_REQUIRED, NULL },
		{ sv.primary_host, APP_TLS_VERIFY_CA, sv.ca_pem },
		/* VerifyCA does not check the name: the alias is not in the cert */
		{ sv.primary_alias, APP_TLS_VERIFY_CA, sv.ca_pem },
		{ sv.primary_host, APP_TLS_VERIFY_IDENTITY, sv.ca_pem },
	};

	(void)state;
	for (i = 0; i < (int)(sizeof(good) / sizeof(good[0])); i++) {
		t = target(good[i].host, sv.primary_port, sv.backup_user,
			   sv.backup_password, good[i].mode, good[i].ca);
		CHECK(db_connect(&db, &t));
		assert_non_null(app_db_tls_cipher(db));
		print_message("%s via %s: TLS %s\n", app_tls_mode_name(good[i].mode),
			      good[i].host, app_db_tls_cipher(db));
		db_close(db);
		db = NULL;
	}

	/* A CA that did not sign the server's certificate. */
	t = target(sv.primary_host, sv.primary_port, sv.backup_user, sv.backup_password,
		   APP_TLS_VERIFY_CA, sv.other_ca_pem);
	expect_connect_error(&t, SS_ETRANSPORT, "certificate");
	t.tls_mode = APP_TLS_VERIFY_IDENTITY;
	expect_connect_error(&t, SS_ETRANSPORT, "certificate");
	/* The right CA, but the certificate does not name 127.0.0.22. */
	t = target(sv.primary_alias, sv.primary_port, sv.backup_user, sv.backup_password,
		   APP_TLS_VERIFY_IDENTITY, sv.ca_pem);
	expect_connect_error(&t, SS_ETRANSPORT, "Validation of SSL server certificate");
	/* The replica has no TLS: every mode from Required up refuses it. */
	t = target(sv.replica_host, sv.replica_port, sv.backup_user, sv.backup_password,
		   APP_TLS_REQUIRED, NULL);
	expect_connect_error(&t, SS_ETRANSPORT,
			     "TLS is required (tls.mode Required) but the server does "
			     "not offer it");
	t.tls_mode = APP_TLS_VERIFY_CA;
	t.ca_pem = sv.ca_pem;
	expect_connect_error(&t, SS_ETRANSPORT, "TLS is required (tls.mode VerifyCA)");
	t.tls_mode = APP_TLS_VERIFY_IDENTITY;
	expect_connect_error(&t, SS_ETRANSPORT, "SSL is required");
	/* Verification without a CA is a spec error, not a network one. */
	t.ca_pem = NULL;
	expect_connect_error(&t, SS_EINVALID, "needs a CA bundle");
}

static void test_wrong_password(void **state)
{
	static const char wrong[] = "not-the-password-7f3a";
	app_db_target t = target(sv.replica_host, sv.replica_port, sv.backup_user, wrong,
				 APP_TLS_PREFERRED, NULL);
	int64_t ms;

	(void)state;
	ms = expect_connect_error(&t, SS_EUNAUTHORIZED, "MariaDB error 1045");
	assert_non_null(strstr(ss_error_last()->message,
			       "check the user name and password in the credentials "
			       "Secret"));
	assert_null(strstr(ss_error_last()->message, wrong));
	assert_null(strstr(ss_error_last()->message, "'backup'"));
	print_message("wrong password: %s (%lld ms)\n", ss_error_last()->message,
		      (long long)ms);
	t.user = "nobody";
	expect_connect_error(&t, SS_EUNAUTHORIZED, "MariaDB error 1045");
	assert_null(strstr(ss_error_last()->message, "nobody"));
}

/* A TCP port on 127.0.0.1 that nothing listens on. */
static int unused_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void test_unreachable(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	app_db_target t;
	char where[64];
	int64_t ms;
	int fd;

	(void)state;
	/* Refused: at once, naming host:port. */
	t = target("127.0.0.1", unused_port(), sv.backup_user, sv.backup_password,
		   APP_TLS_PREFERRED, NULL);
	snprintf(where, sizeof(where), "127.0.0.1:%d", t.port);
	ms = expect_connect_error(&t, SS_ETRANSPORT, where);
	print_message("nothing listening: %s (%lld ms)\n", ss_error_last()->message,
		      (long long)ms);
	assert_true(ms < 1000);

	/* Accepted by the kernel but never answered (a hung server): the
	 * connect timeout, then SS_ETIMEOUT. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	t.port = ntohs(a.sin_port);
	t.connect_timeout_seconds = 1;
	snprintf(where, sizeof(where), "127.0.0.1:%d", t.port);
	ms = expect_connect_error(&t, SS_ETIMEOUT, where);
	close(fd);
	print_message("server never answers: %s (%lld ms)\n", ss_error_last()->message,
		      (long long)ms);
	assert_true(ms >= 900 && ms < 3500);
}

/* ---- probe -------------------------------------------------------------------- */

static app_db_kind probe(app_db *db, app_db_verdict *v, app_db_status *st)
{
	CHECK(app_db_probe(st, db));
	return app_db_classify(v, st, 300);
}

/* Probes until the replica is classified `want` (replication threads
 * change state asynchronously); fails after 10 s. */
static void probe_until(app_db *db, app_db_kind want, const char *fragment)
{
	static app_db_status st;
	app_db_verdict v;
	int64_t t0 = now_ms();

	for (;;) {
		if (probe(db, &v, &st) == want && strstr(v.reason, fragment)) {
			print_message("replica: %s: %s\n", app_db_kind_name(v.kind),
				      v.reason);
			return;
		}
		if (now_ms() - t0 > 10000) {
			print_error("replica still %s (%s); want %s with \"%s\"\n",
				    app_db_kind_name(v.kind), v.reason,
				    app_db_kind_name(want), fragment);
			fail();
		}
		sleep_ms(50);
	}
}

static void test_probe(void **state)
{
	static app_db_status st;
	app_db_verdict v;
	app_db_target t;
	app_db *db;

	(void)state;
	db = connect_backup(sv.primary_host, sv.primary_port);
	assert_int_equal(probe(db, &v, &st), APP_DB_PRIMARY);
	print_message("primary: server_id %lld, %s, read_only %d, binlog %s:%lld, "
		      "gtid_binlog_pos %s: %s\n",
		      (long long)st.server_id, st.version, st.read_only, st.binlog_file,
		      (long long)st.binlog_position, st.gtid_binlog_pos, v.reason);
	assert_int_equal(st.server_id, 1);
	assert_false(st.read_only);
	assert_int_equal(st.n_sources, 0);
	assert_non_null(strstr(st.version, "MariaDB"));
	assert_true(st.binlog_file[0] && st.binlog_position > 0);
	db_close(db);

	db = connect_replica();
	assert_int_equal(probe(db, &v, &st), APP_DB_HEALTHY_REPLICA);
	print_message("replica: server_id %lld, read_only %d, gtid_slave_pos %s, "
		      "source %s:%d IO %s SQL %s lag %lld: %s\n",
		      (long long)st.server_id, st.read_only, st.gtid_slave_pos,
		      st.sources[0].master_host, st.sources[0].master_port,
		      st.sources[0].io_running, st.sources[0].sql_running,
		      (long long)st.sources[0].seconds_behind_master, v.reason);
	assert_int_equal(st.server_id, 2);
	assert_true(st.read_only);
	assert_int_equal(st.n_sources, 1);
	assert_string_equal(st.sources[0].master_host, sv.primary_host);
	assert_int_equal(st.sources[0].master_port, sv.primary_port);
	assert_int_equal(v.lag_seconds, st.sources[0].seconds_behind_master);

	/* A stopped SQL thread, then a stopped IO thread. */
	sql(root_replica, "STOP SLAVE SQL_THREAD");
	probe_until(db, APP_DB_UNHEALTHY_REPLICA, "SQL thread not running");
	sql(root_replica, "START SLAVE SQL_THREAD");
	probe_until(db, APP_DB_HEALTHY_REPLICA, "lag");
	sql(root_replica, "STOP SLAVE IO_THREAD");
	probe_until(db, APP_DB_UNHEALTHY_REPLICA, "IO thread not running");
	sql(root_replica, "START SLAVE IO_THREAD");
	probe_until(db, APP_DB_HEALTHY_REPLICA, "lag");
	db_close(db);

	/* The weak account may probe (it has both monitors). */
	t = target(sv.replica_host, sv.replica_port, sv.weak_user, sv.weak_password,
		   APP_TLS_PREFERRED, NULL);
	CHECK(db_connect(&db, &t));
	assert_int_equal(probe(db, &v, &st), APP_DB_HEALTHY_REPLICA);
	db_close(db);
}

/* ---- the lock session ------------------------------------------------------- */

/* Another session takes BACKUP STAGE START at once: nothing is held. */
static void assert_nothing_held(const char *host, int port, const char *after)
{
	app_db *db = connect_backup(host, port);
	app_db_lock_session *s = NULL;
	int64_t t0 = now_ms(), ms;

	CHECK(lock_begin(&s, db, APP_STAGE_BLOCK_COMMIT, 1));
	ms = now_ms() - t0;
	print_message("after %s: another session locks in %lld ms\n", after,
		      (long long)ms);
	assert_true(ms < 900);
	CHECK(app_db_lock_end(s, NULL));
	lock_free(s);
	db_close(db);
}

static void test_lock_position(void **state)
{
	char primary_pos[4096];
	app_db *db = connect_replica();
	app_db_lock_session *s = NULL;
	const app_db_lock_info *info;
	app_db_position pos;
	int64_t held = -1;

	(void)state;
	sql(root_primary, "INSERT INTO snapstage_test.ledger (v) VALUES (1)");
	wait_replica_caught_up(10);
	snprintf(primary_pos, sizeof(primary_pos), "%s",
		 value(root_primary, "SELECT @@gtid_binlog_pos"));

	CHECK(lock_begin(&s, db, APP_STAGE_BLOCK_COMMIT, 5));
	info = app_db_lock_get_info(s);
	assert_true(info->held);
	assert_int_equal(info->stage, APP_STAGE_BLOCK_COMMIT);
	assert_true(info->connection_id > 0);
	assert_true(info->connection_id != app_db_connection_id(db));
	assert_true(info->acquired_mono_ns > 0 && info->acquired_real_ns > 0);
	assert_int_equal(info->held_ms, -1);
	CHECK(app_db_lock_read_position(&pos, s));
	print_message("replica position under BLOCK_COMMIT: gtid_slave_pos %s, "
		      "gtid_binlog_pos %s, gtid_current_pos %s, own binlog %s:%lld, "
		      "primary's %s:%lld\n",
		      pos.gtid_slave_pos, pos.gtid_binlog_pos, pos.gtid_current_pos,
		      pos.binlog_file, (long long)pos.binlog_position,
		      pos.primary_binlog_file, (long long)pos.primary_binlog_position);
	assert_true(pos.gtid_slave_pos[0] != '\0');
	assert_string_equal(pos.gtid_slave_pos, primary_pos);
	assert_string_equal(pos.gtid_current_pos, primary_pos);
	assert_true(pos.binlog_file[0] && pos.binlog_position > 0);
	assert_true(pos.primary_binlog_file[0] && pos.primary_binlog_position > 0);
	/* Reading again replaces the strings; still the same position. */
	CHECK(app_db_lock_read_position(&pos, s));
	assert_string_equal(pos.gtid_slave_pos, primary_pos);
	CHECK(app_db_lock_end(s, &held));
	print_message("lock: acquired in %lld ms, held %lld ms (connection %lld)\n",
		      (long long)info->acquire_ms, (long long)held,
		      (long long)info->connection_id);
	assert_false(info->held);
	assert_int_equal(info->held_ms, held);
	assert_true(held >= 0 && held < 2000);
	assert_true(info->released_mono_ns >= info->acquired_mono_ns);
	/* Not held any more: reading and ending again are errors, free is fine. */
	assert_int_equal(app_db_lock_read_position(&pos, s), SS_EINVALID);
	assert_int_equal(app_db_lock_end(s, NULL), SS_EINVALID);
	lock_free(s);

	/* The primary's own position; no replication there. */
	db_close(db);
	db = connect_backup(sv.primary_host, sv.primary_port);
	CHECK(lock_begin(&s, db, APP_STAGE_FLUSH, 5));
	CHECK(app_db_lock_read_position(&pos, s));
	assert_string_equal(pos.gtid_binlog_pos, primary_pos);
	assert_string_equal(pos.primary_binlog_file, "");
	assert_int_equal(pos.primary_binlog_position, -1);
	CHECK(app_db_lock_end(s, &held));
	print_message("primary, FLUSH only: held %lld ms\n", (long long)held);
	lock_free(s);
	db_close(db);
	app_db_lock_free(NULL);
}

/* BLOCK_COMMIT on the replica pauses replication commits; the primary
 * commits as fast as ever; after END the replica catches up. */
static void test_block_commit_pauses_replica(void **state)
{
	enum { WRITES = 40 };
	app_db *db = connect_replica();
	app_db_lock_session *s = NULL;
	char slave_pos[4096];
	int64_t worst = 0, total = 0, held = -1, catch_up;
	long before, on_replica;
	int i;

	(void)state;
	wait_replica_caught_up(10);
	before = count_rows(root_replica);
	CHECK(lock_begin(&s, db, APP_STAGE_BLOCK_COMMIT, 5));
	snprintf(slave_pos, sizeof(slave_pos), "%s",
		 value(root_replica, "SELECT @@gtid_slave_pos"));
	for (i = 0; i < WRITES; i++) {
		int64_t t0 = now_ms(), ms;

		sql(root_primary, "INSERT INTO snapstage_test.ledger (v) VALUES (%d)", i);
		ms = now_ms() - t0;
		total += ms;
		if (ms > worst)
			worst = ms;
		sleep_ms(20);
	}
	sleep_ms(300); /* time enough for the replica to apply, were it able */
	on_replica = count_rows(root_replica);
	print_message(
		"while the replica holds BLOCK_COMMIT: %d commits on the "
		"primary, worst %lld ms, mean %.1f ms; replica rows %ld -> %ld, "
		"SQL thread: %s\n",
		WRITES, (long long)worst, (double)total / WRITES, before, on_replica,
		value(root_replica, "SELECT STATE FROM information_schema.PROCESSLIST "
				    "WHERE COMMAND = 'Slave_SQL' LIMIT 1"));
	assert_true(worst < 500);
	assert_int_equal(on_replica, before);
	assert_string_equal(value(root_replica, "SELECT @@gtid_slave_pos"), slave_pos);
	assert_int_equal(count_rows(root_primary), before + WRITES);

	CHECK(app_db_lock_end(s, &held));
	catch_up = wait_replica_caught_up(10);
	print_message("held %lld ms; after END the replica caught up in %lld ms\n",
		      (long long)held, (long long)catch_up);
	assert_int_equal(count_rows(root_replica), before + WRITES);
	assert_true(held >= WRITES * 20);
	lock_free(s);
	db_close(db);
}

static void test_second_session_times_out(void **state)
{
	app_db *db = connect_replica(), *db2 = connect_replica();
	app_db_lock_session *s = NULL, *s2 = NULL;
	int64_t t0, ms;
	int rc;

	(void)state;
	CHECK(lock_begin(&s, db, APP_STAGE_BLOCK_COMMIT, 5));
	t0 = now_ms();
	rc = lock_begin(&s2, db2, APP_STAGE_BLOCK_COMMIT, 2);
	ms = now_ms() - t0;
	print_message("second session while one holds the stages: %d after %lld ms: "
		      "%s\n",
		      rc, (long long)ms, ss_error_last()->message);
	tu_assert_error(SS_ETIMEOUT, "BACKUP STAGE START: not granted within "
				     "lock_wait_timeout");
	assert_null(s2);
	assert_true(ms >= 1900 && ms < 3500);
	/* The first session is unaffected. */
	assert_true(app_db_lock_get_info(s)->held);
	CHECK(app_db_lock_end(s, NULL));
	lock_free(s);
	db_close(db);
	db_close(db2);
	assert_nothing_held(sv.replica_host, sv.replica_port, "a timed-out START");
}

static void test_weak_user_forbidden(void **state)
{
	app_db_target t = target(sv.replica_host, sv.replica_port, sv.weak_user,
				 sv.weak_password, APP_TLS_PREFERRED, NULL);
	app_db_lock_session *s = NULL;
	app_db *db = NULL;
	int rc;

	(void)state;
	CHECK(db_connect(&db, &t));
	rc = lock_begin(&s, db, APP_STAGE_BLOCK_COMMIT, 2);
	print_message("weak user: %d: %s\n", rc, ss_error_last()->message);
	tu_assert_error(SS_EFORBIDDEN, "RELOAD");
	tu_assert_error(SS_EFORBIDDEN, "the account needs the RELOAD privilege");
	assert_null(strstr(ss_error_last()->message, "'weak'"));
	assert_null(s);
	db_close(db);
	assert_nothing_held(sv.replica_host, sv.replica_port, "a refused START");
}

/* Pausing a replica's SQL threads: writes on the primary are fetched but
 * not applied until resume; @@gtid_slave_pos stands still meanwhile. */
static void test_replication_pause(void **state)
{
	app_db *db = connect_replica();
	app_db_target t = target(sv.replica_host, sv.replica_port, sv.weak_user,
				 sv.weak_password, APP_TLS_PREFERRED, NULL);
	app_db *weak = NULL;
	app_db_status st;
	char slave_pos[4096];
	long before;
	int64_t catch_up;

	(void)state;
	wait_replica_caught_up(10);
	before = count_rows(root_replica);
	CHECK(app_db_replication_pause(db));
	CHECK(app_db_probe(&st, db));
	assert_int_equal(st.n_sources, 1);
	assert_string_equal(st.sources[0].sql_running, "No");
	assert_string_equal(st.sources[0].io_running, "Yes");
	snprintf(slave_pos, sizeof(slave_pos), "%s",
		 value(root_replica, "SELECT @@gtid_slave_pos"));
	sql(root_primary, "INSERT INTO snapstage_test.ledger (v) VALUES (7)");
	sleep_ms(300);
	assert_int_equal(count_rows(root_replica), before);
	assert_string_equal(value(root_replica, "SELECT @@gtid_slave_pos"), slave_pos);
	CHECK(app_db_replication_resume(db));
	CHECK(app_db_replication_resume(db)); /* idempotent */
	catch_up = wait_replica_caught_up(10);
	assert_int_equal(count_rows(root_replica), before + 1);
	print_message("paused replica held at %s; caught up %lld ms after resume\n",
		      slave_pos, (long long)catch_up);

	/* Without REPLICATION SLAVE ADMIN: refused, and named. */
	CHECK(db_connect(&weak, &t));
	assert_int_equal(app_db_replication_pause(weak), SS_EFORBIDDEN);
	tu_assert_error(SS_EFORBIDDEN, "REPLICATION SLAVE ADMIN");
	CHECK(app_db_probe(&st, db));
	assert_string_equal(st.sources[0].sql_running, "Yes");
	db_close(weak);
	db_close(db);
}

/* A stage that times out half-way (START, FLUSH and BLOCK_DDL granted,
 * BLOCK_COMMIT not): the session ends what it took. A commit kept in
 * binlog group commit for 3 s holds off BLOCK_COMMIT. */
static void test_stage_fails_half_way(void **state)
{
	app_db *db = connect_backup(sv.primary_host, sv.primary_port);
	MYSQL *writer = root_connect(sv.primary_host, sv.primary_port);
	static const char insert[] = "INSERT INTO snapstage_test.ledger (v) VALUES (-1)";
	app_db_lock_session *s = NULL;
	int64_t t0, ms;
	int rc;

	(void)state;
	assert_non_null(writer);
	sql(root_primary, "SET GLOBAL binlog_commit_wait_count = 10, "
			  "binlog_commit_wait_usec = 3000000");
	assert_int_equal(mysql_send_query(writer, insert, strlen(insert)), 0);
	sleep_ms(300);
	t0 = now_ms();
	rc = lock_begin(&s, db, APP_STAGE_BLOCK_COMMIT, 1);
	ms = now_ms() - t0;
	print_message("BLOCK_COMMIT behind a committing transaction: %d after %lld "
		      "ms: %s\n",
		      rc, (long long)ms, ss_error_last()->message);
	tu_assert_error(SS_ETIMEOUT, "BACKUP STAGE BLOCK_COMMIT");
	assert_null(s);
	sql(root_primary, "SET GLOBAL binlog_commit_wait_count = 0, "
			  "binlog_commit_wait_usec = 100000");
	assert_int_equal(mysql_read_query_result(writer), 0);
	mysql_close(writer);
	assert_nothing_held(sv.primary_host, sv.primary_port, "a half-way failure");
	db_close(db);
}

/* A Backup's uid, as the controller marks its lock sessions with. */
#define MARKER "3f0c1a2b-5d6e-4f70-8a9b-0c1d2e3f4a5b"

static void test_kill_connection(void **state)
{
	app_db *db = connect_replica(), *other = connect_replica();
	app_db_lock_session *s = NULL, *s2 = NULL;
	const app_db_lock_opts o = { .stage = APP_STAGE_BLOCK_COMMIT,
				     .acquire_timeout_seconds = 5,
				     .hold_timeout_seconds = 30,
				     .marker = MARKER };
	int64_t id, t0, ms;

	(void)state;
	CHECK(lock_begin_ex(&s, db, &o));
	id = app_db_lock_get_info(s)->connection_id;
	assert_string_equal(value(root_replica, "SELECT IS_USED_LOCK('snapstage:%s')",
				  MARKER),
			    value(root_replica, "SELECT %lld", (long long)id));

	/* As a restarted controller would: a new connection kills the old one. */
	t0 = now_ms();
	CHECK(app_db_kill_connection(other, id, MARKER));
	ms = now_ms() - t0;
	print_message("KILL CONNECTION %lld of a session holding BLOCK_COMMIT: gone in "
		      "%lld ms\n",
		      (long long)id, (long long)ms);
	assert_nothing_held(sv.replica_host, sv.replica_port, "KILL");
	assert_int_equal(app_db_kill_connection(other, id, MARKER), SS_ENOTFOUND);
	assert_int_equal(
		app_db_kill_connection(other, app_db_connection_id(other), MARKER),
		SS_EINVALID);

	/* The killed session learns at END; it holds nothing either way. */
	assert_int_not_equal(app_db_lock_end(s, NULL), 0);
	print_message("END on the killed session: %s\n", ss_error_last()->message);
	assert_false(app_db_lock_get_info(s)->held);
	lock_free(s);

	/* Freeing a session that still holds the lock ends it. */
	CHECK(lock_begin(&s2, other, APP_STAGE_BLOCK_COMMIT, 5));
	lock_free(s2);
	assert_nothing_held(sv.replica_host, sv.replica_port, "free while held");
	db_close(db);
	db_close(other);
}

/* A controller that dies holding the lock (SIGKILL: no END, the kernel
 * closes its socket) leaves nothing behind on the server. */
static void test_process_dies_while_locked(void **state)
{
	int ready[2];
	int64_t id = -1, t0, ms;
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		app_db *db = NULL;
		app_db_lock_session *s = NULL;
		app_db_target t = target(sv.replica_host, sv.replica_port, sv.backup_user,
					 sv.backup_password, APP_TLS_PREFERRED, NULL);

		close(ready[0]);
		if (app_db_connect(&db, &t) == 0 &&
		    app_db_lock_begin(&s, db, APP_STAGE_BLOCK_COMMIT, 5) == 0) {
			int64_t cid = app_db_lock_get_info(s)->connection_id;

			if (write(ready[1], &cid, sizeof(cid)) != sizeof(cid))
				_exit(2);
			pause();
		}
		_exit(1);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &id, sizeof(id)), (ssize_t)sizeof(id));
	close(ready[0]);
	assert_true(id > 0);
	/* Its session is there, holding the lock. */
	assert_string_not_equal(value(root_replica,
				      "SELECT COUNT(*) FROM "
				      "information_schema.PROCESSLIST "
				      "WHERE ID = %lld",
				      (long long)id),
				"0");
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	t0 = now_ms();
	assert_nothing_held(sv.replica_host, sv.replica_port, "SIGKILL of the holder");
	ms = now_ms() - t0;
	print_message("the server dropped connection %lld within %lld ms of its "
		      "process dying\n",
		      (long long)id, (long long)ms);
}

/* ---- bounds: a frozen controller, a frozen server ------------------------------ */

/* A controller frozen while it holds BLOCK_COMMIT (SIGSTOP: its socket
 * stays open and it sends nothing more, as on a stalled node): the server
 * itself ends the session once it has been idle
 * app_db_lock_idle_timeout(hold) seconds, and the commit it held back goes
 * through at that moment, though no one ever comes to KILL it. On the
 * primary, where commits are what the lock holds back. */
static void test_frozen_controller(void **state)
{
	static const char insert[] = "INSERT INTO snapstage_test.ledger (v) VALUES (-5)";
	const int hold = 1, idle = app_db_lock_idle_timeout(hold);
	MYSQL *writer = root_connect(sv.primary_host, sv.primary_port);
	int ready[2], status, committed;
	int64_t id = -1, t0, ms;
	pid_t pid;

	(void)state;
	assert_non_null(writer);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const app_db_lock_opts o = { .stage = APP_STAGE_BLOCK_COMMIT,
					     .acquire_timeout_seconds = 5,
					     .hold_timeout_seconds = hold,
					     .marker = MARKER };
		app_db_target t = target(sv.primary_host, sv.primary_port, sv.backup_user,
					 sv.backup_password, APP_TLS_PREFERRED, NULL);
		app_db *db = NULL;
		app_db_lock_session *s = NULL;

		close(ready[0]);
		if (app_db_connect(&db, &t) == 0 && app_db_lock_begin_ex(&s, db, &o) == 0) {
			int64_t cid = app_db_lock_get_info(s)->connection_id;

			if (write(ready[1], &cid, sizeof(cid)) != sizeof(cid))
				_exit(2);
			for (;;)
				pause();
		}
		_exit(1);
	}
	close(ready[1]);
	if (read(ready[0], &id, sizeof(id)) == (ssize_t)sizeof(id))
		kill(pid, SIGSTOP);
	close(ready[0]);
	t0 = now_ms();
	/* A commit waits for the frozen lock... */
	assert_int_equal(mysql_send_query(writer, insert, strlen(insert)), 0);
	committed = mysql_read_query_result(writer);
	ms = now_ms() - t0;
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	mysql_close(writer);
	print_message("controller frozen holding BLOCK_COMMIT (hold bound %d s, "
		      "wait_timeout %d s): connection %lld ended by the server, the "
		      "held-back commit went through after %lld ms\n",
		      hold, idle, (long long)id, (long long)ms);
	assert_true(id > 0);
	assert_int_equal(committed, 0);
	/* ...until the server's wait_timeout, not before and not much later. */
	assert_true(ms >= (idle - 1) * 1000 && ms <= (idle + 2) * 1000);
	assert_string_equal(value(root_primary,
				  "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
				  "WHERE ID = %lld",
				  (long long)id),
			    "0");
	assert_nothing_held(sv.primary_host, sv.primary_port, "a frozen controller");
}

/* END on a server that stopped answering gives up after
 * APP_DB_END_TIMEOUT_MS, whatever the connection's read timeout (here
 * 5 + 5 s), and closes the connection, so the server ends the stages as
 * soon as it runs again. */
static void frozen_end(const char *host, int port, pid_t server, const char *what)
{
	app_db *db = connect_backup(host, port);
	app_db_lock_session *s = NULL;
	int64_t t0, ms;
	int rc;

	CHECK(lock_begin(&s, db, APP_STAGE_BLOCK_COMMIT, 5));
	freeze(server);
	t0 = now_ms();
	rc = app_db_lock_end(s, NULL);
	ms = now_ms() - t0;
	thaw(server);
	print_message("%s frozen: END returned %d after %lld ms: %s\n", what, rc,
		      (long long)ms, ss_error_last()->message);
	tu_assert_error(SS_ETIMEOUT, "BACKUP STAGE END: no answer within 1500 ms");
	assert_true(ms >= APP_DB_END_TIMEOUT_MS - 100 &&
		    ms <= APP_DB_END_TIMEOUT_MS + 300);
	assert_false(app_db_lock_get_info(s)->held);
	lock_free(s);
	assert_nothing_held(host, port, "END on a frozen server");
	db_close(db);
}

static void test_frozen_server(void **state)
{
	const app_db_lock_opts o = { .stage = APP_STAGE_BLOCK_COMMIT,
				     .acquire_timeout_seconds = 5,
				     .hold_timeout_seconds = 2,
				     .marker = MARKER };
	app_db *db, *other;
	app_db_lock_session *s = NULL;
	app_db_position pos;
	int64_t id, t0, ms;
	int rc;

	(void)state;
	frozen_end(sv.replica_host, sv.replica_port, sv.replica_pid, "replica (TCP)");
	frozen_end(sv.primary_host, sv.primary_port, sv.primary_pid, "primary (TLS)");

	/* KILL of a leftover session on a frozen server: the same bound. */
	db = connect_replica();
	other = connect_replica();
	CHECK(lock_begin_ex(&s, db, &o));
	id = app_db_lock_get_info(s)->connection_id;
	freeze(sv.replica_pid);
	t0 = now_ms();
	rc = app_db_kill_connection(other, id, MARKER);
	ms = now_ms() - t0;
	thaw(sv.replica_pid);
	print_message("replica frozen: KILL returned %d after %lld ms: %s\n", rc,
		      (long long)ms, ss_error_last()->message);
	tu_assert_error(SS_ETIMEOUT, "no answer within 2000 ms");
	assert_true(ms <= APP_DB_KILL_TIMEOUT_MS + 300);
	db_close(other);
	other = connect_replica(); /* the cut connection is gone */
	CHECK(app_db_kill_connection(other, id, MARKER));
	lock_free(s);
	assert_nothing_held(sv.replica_host, sv.replica_port, "KILL after a freeze");

	/* The position is read within the hold bound (2 s) or not at all. */
	s = NULL;
	CHECK(lock_begin_ex(&s, db, &o));
	freeze(sv.replica_pid);
	t0 = now_ms();
	rc = app_db_lock_read_position(&pos, s);
	ms = now_ms() - t0;
	thaw(sv.replica_pid);
	print_message("replica frozen: the position read returned %d after %lld ms: "
		      "%s\n",
		      rc, (long long)ms, ss_error_last()->message);
	tu_assert_error(SS_ETIMEOUT, "no answer within");
	assert_true(ms <= 2000 + 300);
	t0 = now_ms();
	assert_int_not_equal(app_db_lock_end(s, NULL), 0); /* the connection is cut */
	assert_true(now_ms() - t0 < 500);
	lock_free(s);
	assert_nothing_held(sv.replica_host, sv.replica_port, "a cut position read");
	db_close(other);
	db_close(db);
}

/* ---- KILL only the marked session -------------------------------------------- */

/* True while connection `id` is in the replica's process list. */
static bool replica_has(int64_t id)
{
	return strcmp(value(root_replica,
			    "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
			    "WHERE ID = %lld",
			    (long long)id),
		      "0") != 0;
}

/* A connection id from a status may name someone else's session (ids start
 * again at 1 after a server restart): app_db_kill_connection() kills only
 * the session holding the Backup's marker, even with credentials that
 * could kill anything. */
static void test_kill_only_marked_session(void **state)
{
	app_db_target tr = target(sv.replica_host, sv.replica_port, "root",
				  sv.root_password, APP_TLS_PREFERRED, NULL);
	app_db_lock_opts o = { .stage = APP_STAGE_BLOCK_COMMIT,
			       .acquire_timeout_seconds = 5,
			       .hold_timeout_seconds = 30,
			       .marker = "another-backup-uid" };
	app_db *db = connect_replica(), *plain = connect_replica(), *rootdb = NULL;
	MYSQL *bystander = root_connect(sv.replica_host, sv.replica_port);
	app_db_lock_session *theirs = NULL, *ours = NULL, *twin = NULL;
	int64_t id;

	(void)state;
	assert_non_null(bystander);
	CHECK(db_connect(&rootdb, &tr));

	/* A plain session of the same account. */
	id = app_db_connection_id(plain);
	assert_int_equal(app_db_kill_connection(db, id, MARKER), SS_ENOTFOUND);
	print_message("same account, not a lock session: %s\n", ss_error_last()->message);
	assert_non_null(strstr(ss_error_last()->message, "not killed"));
	assert_true(replica_has(id));

	/* Another user's session, with credentials that may kill it. */
	id = (int64_t)mysql_thread_id(bystander);
	assert_int_equal(app_db_kill_connection(rootdb, id, MARKER), SS_ENOTFOUND);
	print_message("another user's session: %s\n", ss_error_last()->message);
	assert_true(replica_has(id));
	assert_int_equal(mysql_ping(bystander), 0);

	/* Another Backup's lock session. */
	CHECK(lock_begin_ex(&theirs, plain, &o));
	id = app_db_lock_get_info(theirs)->connection_id;
	assert_int_equal(app_db_kill_connection(rootdb, id, MARKER), SS_ENOTFOUND);
	assert_true(replica_has(id));
	CHECK(app_db_lock_end(theirs, NULL)); /* untouched: it still ends cleanly */
	lock_free(theirs);

	/* Ours: killed. A second session of the same marker waits for the
	 * first to end, then gives up (SS_ETIMEOUT), holding nothing. */
	o.marker = MARKER;
	o.acquire_timeout_seconds = 1;
	CHECK(lock_begin_ex(&ours, db, &o));
	id = app_db_lock_get_info(ours)->connection_id;
	assert_int_equal(lock_begin_ex(&twin, plain, &o), SS_ETIMEOUT);
	print_message("a second session of one marker: %s\n", ss_error_last()->message);
	assert_null(twin);
	CHECK(app_db_kill_connection(rootdb, id, MARKER));
	assert_false(replica_has(id));
	assert_nothing_held(sv.replica_host, sv.replica_port, "KILL of the marked session");
	lock_free(ours);

	/* Bad markers are refused before anything is sent. */
	assert_int_equal(app_db_kill_connection(db, 12345, NULL), SS_EINVALID);
	assert_int_equal(app_db_kill_connection(db, 12345, "a'b"), SS_EINVALID);
	mysql_close(bystander);
	db_close(rootdb);
	db_close(plain);
	db_close(db);
}

/* ---- no credentials in messages ------------------------------------------------ */

/* A message must carry neither marker, and must give the error number. */
static void assert_no_credentials(const char *path, int rc, int code, const char *number,
				  const char *user, const char *password)
{
	const char *msg = ss_error_last()->message;

	print_message("%-24s %d: %s\n", path, rc, msg);
	if (rc != code || !strstr(msg, number) || strstr(msg, user) ||
	    strstr(msg, password)) {
		print_error("%s: got %d \"%s\"; want %d with \"%s\" and neither '%s' nor "
			    "'%s'\n",
			    path, rc, msg, code, number, user, password);
		fail();
	}
}

/* Every failure on a connection whose user name and password are marker
 * strings, as if a tenant had pointed usernameKey at the Secret's
 * password: wrong password, unknown user, an account authenticated by
 * unix_socket, the account's connection and query limits, a missing
 * privilege for the lock, for pausing replication and for the roles of a
 * restore, and a KILL of another user's session. */
static void test_no_credentials_in_messages(void **state)
{
	char user[40], user2[40], user3[40], pw[40], marker_name[80];
	app_db_target t;
	app_db *db = NULL, *db3 = NULL;
	app_db_lock_session *s = NULL;
	static app_db_status st;
	MYSQL *holder = root_connect(sv.replica_host, sv.replica_port);
	unsigned int r = (unsigned int)getpid() * 2654435761u ^ (unsigned int)now_ms();
	int rc, i;

	(void)state;
	assert_non_null(holder);
	snprintf(user, sizeof(user), "mkUser%08x", r);
	snprintf(user2, sizeof(user2), "mkNobody%08x", r);
	snprintf(user3, sizeof(user3), "mkSock%08x", r);
	snprintf(pw, sizeof(pw), "mkPass%08x", r);
	sql(root_primary, "CREATE USER '%s'@'%%' IDENTIFIED BY '%s' WITH "
			  "MAX_USER_CONNECTIONS 1",
	    user, pw);
	sql(root_primary, "GRANT BINLOG MONITOR, REPLICA MONITOR ON *.* TO '%s'@'%%'", user);
	wait_replica_caught_up(10); /* on the replica, where pausing needs a privilege */

	t = target(sv.replica_host, sv.replica_port, user, "mkWrong", APP_TLS_PREFERRED,
		   NULL);
	rc = app_db_connect(&db, &t);
	assert_no_credentials("wrong password", rc, SS_EUNAUTHORIZED, "MariaDB error 1045",
			      user, "mkWrong");
	t.user = user2;
	t.password = pw;
	rc = app_db_connect(&db, &t);
	assert_no_credentials("unknown user", rc, SS_EUNAUTHORIZED, "MariaDB error 1045",
			      user2, pw);
	/* Created only now: an unknown user is refused with the plugin of
	 * some existing account, picked at random (so that accounts cannot
	 * be told from their absence), which would then be 1698 at times. */
	sql(root_primary, "CREATE USER '%s'@'%%' IDENTIFIED VIA unix_socket", user3);
	wait_replica_caught_up(10);
	t.user = user3;
	rc = app_db_connect(&db, &t);
	assert_no_credentials("unix_socket account", rc, SS_EUNAUTHORIZED,
			      "MariaDB error 1698", user3, pw);
	sql(root_primary, "DROP USER '%s'@'%%'", user3);

	t.user = user;
	CHECK(db_connect(&db, &t));
	rc = lock_begin(&s, db, APP_STAGE_BLOCK_COMMIT, 1); /* a second connection */
	assert_no_credentials("max_user_connections", rc, SS_ETOOMANYREQUESTS,
			      "MariaDB error 1226", user, pw);
	sql(root_primary, "ALTER USER '%s'@'%%' WITH MAX_USER_CONNECTIONS 0", user);
	wait_replica_caught_up(10);
	rc = lock_begin(&s, db, APP_STAGE_BLOCK_COMMIT, 1);
	assert_no_credentials("no RELOAD", rc, SS_EFORBIDDEN, "MariaDB error 1227", user,
			      pw);
	assert_non_null(strstr(ss_error_last()->message, "needs the RELOAD privilege"));
	rc = app_db_replication_pause(db);
	assert_no_credentials("no REPLICATION SLAVE ADMIN", rc, SS_EFORBIDDEN,
			      "MariaDB error 1227", user, pw);
	rc = app_db_set_read_only(db, true);
	assert_no_credentials("no READ_ONLY ADMIN", rc, SS_EFORBIDDEN,
			      "MariaDB error 1227", user, pw);
	rc = app_db_restore_as_primary(db, "");
	assert_no_credentials("restore as primary", rc, SS_EFORBIDDEN,
			      "MariaDB error 1227", user, pw);

	/* KILL of a session of another user that holds the marker. */
	CHECK(app_db_lock_marker_name(marker_name, sizeof(marker_name), MARKER));
	assert_string_equal(value(holder, "SELECT GET_LOCK('%s', 0)", marker_name), "1");
	rc = app_db_kill_connection(db, (int64_t)mysql_thread_id(holder), MARKER);
	assert_no_credentials("KILL denied", rc, SS_EFORBIDDEN, "MariaDB error 1095",
			      user, pw);
	assert_int_equal(mysql_ping(holder), 0);

	/* The account's query limit. */
	sql(root_primary, "ALTER USER '%s'@'%%' WITH MAX_QUERIES_PER_HOUR 4", user);
	wait_replica_caught_up(10);
	t.user = user;
	rc = db_connect(&db3, &t); /* the count may already be over */
	for (i = 0; i < 10 && rc == 0; i++)
		rc = app_db_probe(&st, db3);
	assert_no_credentials("max_queries_per_hour", rc, SS_ETOOMANYREQUESTS,
			      "MariaDB error 1226", user, pw);

	db_close(db3);
	db_close(db);
	mysql_close(holder);
	sql(root_primary, "DROP USER '%s'@'%%'", user);
}

/* ---- after an in-place restore ---------------------------------------------- */

/* "Yes Yes" when the replica's IO and SQL threads run, "" with no source. */
static const char *replication_threads(MYSQL *m)
{
	static char out[64];
	MYSQL_RES *res;
	MYSQL_ROW row;
	MYSQL_FIELD *f;
	unsigned int i, n;
	const char *io = NULL, *sqlt = NULL;

	out[0] = '\0';
	if (mysql_query(m, "SHOW SLAVE STATUS") != 0 || !(res = mysql_store_result(m))) {
		print_error("SHOW SLAVE STATUS: %s\n", mysql_error(m));
		fail();
		return out;
	}
	row = mysql_fetch_row(res);
	n = mysql_num_fields(res);
	f = mysql_fetch_fields(res);
	for (i = 0; row && i < n; i++) {
		if (!strcmp(f[i].name, "Slave_IO_Running"))
			io = row[i];
		if (!strcmp(f[i].name, "Slave_SQL_Running"))
			sqlt = row[i];
	}
	if (row)
		snprintf(out, sizeof(out), "%s %s", io ? io : "?", sqlt ? sqlt : "?");
	mysql_free_result(res);
	return out;
}

/* The roles a Restore gives restored servers, played on the replica: made
 * ready to be a primary at a GTID position (no source, binlog state set)
 * without opening it for writes — the caller records the member first and
 * then calls app_db_set_read_only() — then a replica of the real primary
 * again from that position, configured but not started until
 * app_db_replication_start(), catching up with what the primary wrote
 * meanwhile. Nothing is guessed from the server's state any more: a second
 * call runs again (the Restore's record keeps it from happening). An
 * account without the privileges changes nothing and is told which one is
 * missing; a failed CHANGE MASTER never shows the password. */
static void test_restore_roles(void **state)
{
	app_db_target t = target(sv.replica_host, sv.replica_port, "root",
				 sv.root_password, APP_TLS_PREFERRED, NULL);
	app_db_target tw = target(sv.replica_host, sv.replica_port, sv.weak_user,
				  sv.weak_password, APP_TLS_PREFERRED, NULL);
	app_db_replication_source src = { sv.primary_host, sv.primary_port, sv.repl_user,
					  sv.repl_password, APP_TLS_DISABLED, NULL };
	const char secret[] = "pw-in-no-message-7f3a";
	app_db_replication_source bad = { sv.primary_alias, -1, sv.repl_user, secret,
					  APP_TLS_DISABLED, NULL };
	app_db *db = NULL, *weak = NULL;
	char pos[4096];
	long rows;

	(void)state;
	wait_replica_caught_up(10);
	snprintf(pos, sizeof(pos), "%s", value(root_replica, "SELECT @@gtid_binlog_pos"));
	assert_string_not_equal(pos, "");
	CHECK(db_connect(&db, &t));
	CHECK(db_connect(&weak, &tw));
	sql(root_replica, "SET GLOBAL read_only = 1"); /* as a restored replica starts */

	/* Without the privileges: refused and named, the replica untouched. */
	assert_int_equal(app_db_restore_as_primary(weak, pos), SS_EFORBIDDEN);
	tu_assert_error(SS_EFORBIDDEN, "REPLICATION SLAVE ADMIN");
	assert_string_equal(replication_threads(root_replica), "Yes Yes");

	/* The primary of a restored set: still read-only until opened. */
	CHECK(app_db_restore_as_primary(db, pos));
	assert_string_equal(replication_threads(root_replica), "");
	assert_string_equal(value(root_replica, "SELECT @@GLOBAL.read_only"), "1");
	assert_string_equal(value(root_replica, "SELECT @@GLOBAL.gtid_binlog_state"),
			    pos);
	assert_string_equal(value(root_replica, "SELECT @@GLOBAL.gtid_slave_pos"), "");
	CHECK(app_db_set_read_only(db, false));
	assert_string_equal(value(root_replica, "SELECT @@GLOBAL.read_only"), "0");
	CHECK(app_db_set_read_only(db, false)); /* repeatable */

	/* A CHANGE MASTER the server refuses (a port it cannot parse): the
	 * error names the statement, never the password. */
	assert_true(app_db_restore_as_replica(db, &bad, pos) < 0);
	assert_non_null(
		strstr(ss_error_last()->message, "CHANGE MASTER TO (the new primary)"));
	assert_null(strstr(ss_error_last()->message, secret));
	assert_null(strstr(ss_error_last()->message, "pw-in"));

	/* A replica of the primary again, from where its data stands:
	 * configured and read-only, but not started until asked. */
	rows = count_rows(root_primary);
	sql(root_primary, "INSERT INTO snapstage_test.ledger (v) VALUES (8), (9)");
	CHECK(app_db_restore_as_replica(db, &src, pos));
	assert_string_equal(value(root_replica, "SELECT @@GLOBAL.read_only"), "1");
	assert_string_equal(replication_threads(root_replica), "No No");
	CHECK(app_db_replication_start(db));
	wait_replica_caught_up(10);
	assert_int_equal(count_rows(root_replica), rows + 2);
	assert_string_equal(replication_threads(root_replica), "Yes Yes");
	CHECK(app_db_replication_start(db)); /* running: stays running */
	assert_string_equal(replication_threads(root_replica), "Yes Yes");
	print_message("restored as primary at %s, then a replica of %s again\n", pos,
		      sv.primary_host);

	sql(root_replica, "SET GLOBAL read_only = 0"); /* as the fixture made it */
	db_close(weak);
	db_close(db);
}

/* Column `name` of SHOW SLAVE STATUS on the replica (static storage). */
static const char *slave_status(const char *name)
{
	static char out[1024];
	MYSQL_RES *res;
	MYSQL_ROW row;
	MYSQL_FIELD *f;
	unsigned int i, n;

	out[0] = '\0';
	if (mysql_query(root_replica, "SHOW SLAVE STATUS") != 0 ||
	    !(res = mysql_store_result(root_replica))) {
		print_error("SHOW SLAVE STATUS: %s\n", mysql_error(root_replica));
		fail();
		return out;
	}
	row = mysql_fetch_row(res);
	n = mysql_num_fields(res);
	f = mysql_fetch_fields(res);
	for (i = 0; row && i < n; i++)
		if (!strcmp(f[i].name, name))
			snprintf(out, sizeof(out), "%s", row[i] ? row[i] : "");
	mysql_free_result(res);
	return out;
}

/* The primary's count of TLS handshakes it accepted. */
static long ssl_accepts(void)
{
	return strtol(value(root_primary, "SELECT VARIABLE_VALUE FROM "
					  "information_schema.GLOBAL_STATUS WHERE "
					  "VARIABLE_NAME = 'SSL_ACCEPTS'"),
		      NULL, 10);
}

/* Re-points the replica at `src` from where it stands and starts it; true
 * once its IO thread runs and it has caught up, false when the IO thread
 * reports an error instead (its text in *why, static) within 15 s. */
static bool replicate_via(app_db *db, const app_db_replication_source *src,
			  const char **why)
{
	char pos[4096];
	int i;

	snprintf(pos, sizeof(pos), "%s", value(root_replica, "SELECT @@gtid_current_pos"));
	CHECK(app_db_restore_as_replica(db, src, pos));
	CHECK(app_db_replication_start(db));
	for (i = 0; i < 150; i++) {
		if (!strcmp(slave_status("Slave_IO_Running"), "Yes")) {
			wait_replica_caught_up(10);
			return true;
		}
		if (strcmp(slave_status("Last_IO_Errno"), "0") != 0) {
			*why = slave_status("Last_IO_Error");
			return false;
		}
		sleep_ms(100);
	}
	*why = "neither running nor failed after 15 s";
	return false;
}

/* Replication wired by a Restore uses the Restore's TLS mode (issue 15,
 * point 8): Required encrypts (MASTER_SSL=1; the primary counts the TLS
 * handshake), VerifyCA checks the chain against a CA file on the replica's
 * host (a CA that did not sign the primary's certificate stops the IO
 * thread), VerifyIdentity also the name (the primary's alias, not in its
 * certificate, stops it). Preferred and Disabled say MASTER_SSL=0, also
 * after a TLS set-up. A verifying mode with no CA path on a server without
 * ssl_ca fails before anything changes. The server's own CA is read from
 * @@ssl_ca (the primary has one). */
static void test_restore_replica_tls(void **state)
{
	app_db_target t = target(sv.replica_host, sv.replica_port, "root",
				 sv.root_password, APP_TLS_PREFERRED, NULL);
	app_db_target tp = target(sv.primary_host, sv.primary_port, "root",
				  sv.root_password, APP_TLS_REQUIRED, NULL);
	app_db_replication_source src = { sv.primary_host, sv.primary_port,
					  sv.repl_user,	       sv.repl_password,
					  APP_TLS_REQUIRED,    NULL };
	app_db *db = NULL, *primary = NULL;
	const char *why = "";
	char path[512];
	bool is_dir = true;
	long before;

	(void)state;
	wait_replica_caught_up(10);
	CHECK(db_connect(&db, &t));
	CHECK(db_connect(&primary, &tp));

	/* The CA a server is configured with. */
	CHECK(app_db_server_ca(path, sizeof(path), &is_dir, primary));
	assert_string_equal(path, sv.ca_file);
	assert_false(is_dir);
	CHECK(app_db_server_ca(path, sizeof(path), &is_dir, db));
	assert_string_equal(path, ""); /* the replica has no TLS */

	/* Required: encrypted, nothing verified. */
	before = ssl_accepts();
	assert_true(replicate_via(db, &src, &why));
	assert_string_equal(slave_status("Master_SSL_Allowed"), "Yes");
	assert_string_equal(slave_status("Master_SSL_CA_File"), "");
	assert_string_equal(slave_status("Master_SSL_Verify_Server_Cert"), "No");
	assert_true(ssl_accepts() > before);
	sql(root_primary, "INSERT INTO snapstage_test.ledger (v) VALUES (21)");
	wait_replica_caught_up(10);

	/* VerifyCA with a CA that did not sign the primary's certificate. */
	src.tls_mode = APP_TLS_VERIFY_CA;
	src.ca_path = sv.other_ca_file;
	assert_false(replicate_via(db, &src, &why));
	print_message("VerifyCA, unrelated CA: %s\n", why);
	assert_non_null(strstr(why, "SSL"));
	/* ... and with the one that did. */
	src.ca_path = sv.ca_file;
	assert_true(replicate_via(db, &src, &why));
	assert_string_equal(slave_status("Master_SSL_Allowed"), "Yes");
	assert_string_equal(slave_status("Master_SSL_CA_File"), sv.ca_file);
	assert_string_equal(slave_status("Master_SSL_Verify_Server_Cert"), "No");

	/* VerifyIdentity: the alias is not in the certificate, the address is. */
	src.tls_mode = APP_TLS_VERIFY_IDENTITY;
	src.host = sv.primary_alias;
	assert_false(replicate_via(db, &src, &why));
	print_message("VerifyIdentity via %s: %s\n", sv.primary_alias, why);
	src.host = sv.primary_host;
	assert_true(replicate_via(db, &src, &why));
	assert_string_equal(slave_status("Master_SSL_Verify_Server_Cert"), "Yes");
	assert_string_equal(slave_status("Master_SSL_CA_File"), sv.ca_file);

	/* No CA path and a server without ssl_ca: refused, nothing changed. */
	src.ca_path = NULL;
	assert_int_equal(app_db_restore_as_replica(db, &src, "0-1-1"), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "the server has no ssl_ca or ssl_capath");
	assert_string_equal(replication_threads(root_replica), "Yes Yes");
	assert_string_equal(slave_status("Master_SSL_Verify_Server_Cert"), "Yes");

	/* Preferred (as Disabled): MASTER_SSL=0, none of the above kept. */
	src.tls_mode = APP_TLS_PREFERRED;
	src.ca_path = sv.ca_file;
	assert_true(replicate_via(db, &src, &why));
	assert_string_equal(slave_status("Master_SSL_Allowed"), "No");
	assert_string_equal(slave_status("Master_SSL_CA_File"), "");
	assert_string_equal(slave_status("Master_SSL_Verify_Server_Cert"), "No");
	sql(root_replica, "SET GLOBAL read_only = 0"); /* as the fixture made it */
	db_close(primary);
	db_close(db);
}

/* ---- main ---------------------------------------------------------------------- */

static int setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (load_env() != 0)
		return -1;
	root_primary = root_connect(sv.primary_host, sv.primary_port);
	root_replica = root_connect(sv.replica_host, sv.replica_port);
	if (!root_primary || !root_replica)
		return -1;
	if (mysql_query(root_primary, "CREATE TABLE IF NOT EXISTS snapstage_test.ledger "
				      "(id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT) "
				      "ENGINE=InnoDB") != 0) {
		print_error("create table: %s\n", mysql_error(root_primary));
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (root_primary)
		mysql_close(root_primary);
	if (root_replica)
		mysql_close(root_replica);
	free(sv.ca_pem);
	free(sv.other_ca_pem);
	mysql_library_end();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_connect, cleanup),
		cmocka_unit_test_teardown(test_tls_modes, cleanup),
		cmocka_unit_test_teardown(test_wrong_password, cleanup),
		cmocka_unit_test_teardown(test_unreachable, cleanup),
		cmocka_unit_test_teardown(test_probe, cleanup),
		cmocka_unit_test_teardown(test_lock_position, cleanup),
		cmocka_unit_test_teardown(test_block_commit_pauses_replica, cleanup),
		cmocka_unit_test_teardown(test_second_session_times_out, cleanup),
		cmocka_unit_test_teardown(test_weak_user_forbidden, cleanup),
		cmocka_unit_test_teardown(test_replication_pause, cleanup),
		cmocka_unit_test_teardown(test_stage_fails_half_way, cleanup),
		cmocka_unit_test_teardown(test_kill_connection, cleanup),
		cmocka_unit_test_teardown(test_process_dies_while_locked, cleanup),
		cmocka_unit_test_teardown(test_frozen_controller, cleanup),
		cmocka_unit_test_teardown(test_frozen_server, cleanup),
		cmocka_unit_test_teardown(test_kill_only_marked_session, cleanup),
		cmocka_unit_test_teardown(test_no_credentials_in_messages, cleanup),
		/* last: it changes the replica's replication set-up (and restores it) */
		cmocka_unit_test_teardown(test_restore_roles, cleanup),
		cmocka_unit_test_teardown(test_restore_replica_tls, cleanup),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
