/*
 * mariadb_fixture.h — what the `mariadb` CTest fixture (hack/mariadb-local.sh
 * up, through SNAPSTAGE_MARIADB_DIR/env) gives a test program: the
 * primary's and the replica's addresses, root's, the backup account's and
 * the weak account's passwords (read from the files the env names), a root connection
 * over TCP, and the small SQL helpers the tests write their own rows with (a failing
 * statement fails the cmocka test).
 *
 * Ownership: the struct is the caller's; connections are closed by the
 * caller (mysql_close). Thread-safety: value()'s buffer is static: one
 * test thread.
 */
#ifndef SNAPSTAGE_TESTS_MARIADB_FIXTURE_H
#define SNAPSTAGE_TESTS_MARIADB_FIXTURE_H

#include <stdbool.h>

#include <mysql.h>

#define MARIADB_FIXTURE_VALUE_MAX 600

typedef struct {
	char host[MARIADB_FIXTURE_VALUE_MAX]; /* the primary */
	int port;
	char root_password[MARIADB_FIXTURE_VALUE_MAX];
	char weak_user[MARIADB_FIXTURE_VALUE_MAX];
	char weak_password[MARIADB_FIXTURE_VALUE_MAX];
	char backup_user[MARIADB_FIXTURE_VALUE_MAX]; /* RELOAD, BINLOG MONITOR, ... */
	char backup_password[MARIADB_FIXTURE_VALUE_MAX];
	char replica_host[MARIADB_FIXTURE_VALUE_MAX]; /* the GTID replica */
	int replica_port;
} mariadb_fixture;

/* Reads SNAPSTAGE_MARIADB_DIR/env and the password files it names. 0, or
 * -1 with the reason printed (not run through ctest, servers down). */
int mariadb_fixture_load(mariadb_fixture *out);

/* root on the primary over TCP (30 s connect and read timeouts);
 * `local_only`: SET SESSION sql_log_bin = 0, so the test's rows stay on
 * the primary. NULL with the reason printed. */
MYSQL *mariadb_fixture_root(const mariadb_fixture *fx, bool local_only);

/* Runs a statement, failing the test when it fails. */
void mariadb_fixture_sql(MYSQL *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The first column of the first row ("" for NULL or no row); the buffer
 * is reused by the next call. */
const char *mariadb_fixture_value(MYSQL *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* PURGE BINARY LOGS TO `file`, repeated (every 100 ms, at most 10 s)
 * until `file` is the oldest of SHOW BINARY LOGS; fails the test
 * otherwise. MariaDB skips, with a warning only, a file a replica's dump
 * thread still reads, which it may for a moment after FLUSH BINARY LOGS. */
void mariadb_fixture_purge_to(MYSQL *m, const char *file);

#endif
