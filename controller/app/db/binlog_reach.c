/*
 * binlog_reach.c — see binlog_reach.h.
 *
 * Three exchanges on a connection of its own, all under one watchdog
 * bound: the variables, SHOW BINARY LOGS, BINLOG_GTID_POS of the oldest
 * file. Invariants: read-only; no message carries the account (db.c's
 * error words). Thread-safety: as db.h.
 */
#include "app/db/binlog_reach.h"
#include "app/db/db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errmsg.h>
#include <mysql.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/str.h"

/* The failure of the last call on x, in db.c's words. */
static int reach_fail(app_db_internal_conn *x, const char *what)
{
	if (app_db_internal_unbound(x))
		return ss_error_set(SS_ETIMEOUT,
				    "%s: %s: no answer within %d s; the connection "
				    "was closed",
				    app_db_internal_where(x), what,
				    APP_BINLOG_REACH_TIMEOUT_S);
	return app_db_internal_fail(x, what);
}

/* Runs `sql` into *res (the caller frees it). */
static int reach_query(MYSQL_RES **res, app_db_internal_conn *x, const char *sql)
{
	MYSQL *m = app_db_internal_mysql(x);

	if (!m || mysql_real_query(m, sql, strlen(sql)) != 0 ||
	    !(*res = mysql_store_result(m)))
		return reach_fail(x, sql);
	return 0;
}

static int reach_num(int64_t *out, const char *v, app_db_internal_conn *x,
		     const char *what)
{
	if (!v || ss_parse_int64(out, v, INT64_MIN, INT64_MAX, what) != 0)
		return ss_error_set(SS_ERROR, "%s: %s is not a number",
				    app_db_internal_where(x), what);
	return 0;
}

/* @@log_bin, @@gtid_binlog_pos, the expiry, the clock. */
static int reach_variables(app_binlog_reach *e, app_db_internal_conn *x)
{
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int64_t log_bin = 0;
	int error;

	error = reach_query(&res, x,
			    "SELECT @@log_bin, @@gtid_binlog_pos, "
			    "@@binlog_expire_logs_seconds, UNIX_TIMESTAMP()");
	if (error)
		return error;
	row = mysql_num_fields(res) >= 4 ? mysql_fetch_row(res) : NULL;
	if (!row) {
		error = ss_error_set(SS_ERROR, "%s: the binlog variables: no row",
				     app_db_internal_where(x));
		goto cleanup;
	}
	if ((error = reach_num(&log_bin, row[0], x, "@@log_bin")) ||
	    (error = reach_num(&e->expire_seconds, row[2], x,
			       "@@binlog_expire_logs_seconds")) ||
	    (error = reach_num(&e->now_s, row[3], x, "UNIX_TIMESTAMP()")))
		goto cleanup;
	e->log_bin = log_bin != 0;
	if (e->log_bin)
		error = app_gtid_pos_parse(&e->current, row[1]);
cleanup:
	mysql_free_result(res);
	return error;
}

/* SHOW BINARY LOGS: the oldest file, the count, the sizes. */
static int reach_files(app_binlog_reach *e, app_db_internal_conn *x)
{
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int64_t size;
	int error;

	if ((error = reach_query(&res, x, "SHOW BINARY LOGS")))
		return error;
	while (!error && mysql_num_fields(res) >= 2 && (row = mysql_fetch_row(res))) {
		if (!row[0] || (error = reach_num(&size, row[1], x, "File_size")))
			break;
		if (e->n_files == 0 &&
		    ss_strlcpy(e->oldest_file, row[0], sizeof(e->oldest_file)) >=
			    sizeof(e->oldest_file))
			error = ss_error_set(SS_ETOOLARGE,
					     "%s: a binlog file name is too long",
					     app_db_internal_where(x));
		e->n_files++;
		e->total_bytes += (uint64_t)(size > 0 ? size : 0);
	}
	mysql_free_result(res);
	if (!error && e->n_files == 0)
		error = ss_error_set(SS_ERROR, "%s: SHOW BINARY LOGS lists no file",
				     app_db_internal_where(x));
	return error;
}

/* BINLOG_GTID_POS(oldest, 4): NULL when the file went meanwhile (a purge
 * between the two statements): SS_ENOTFOUND, read again later. */
static int reach_oldest(app_binlog_reach *e, app_db_internal_conn *x)
{
	char sql[APP_DB_NAME_MAX * 2 + 64], esc[APP_DB_NAME_MAX * 2 + 1];
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int error;

	mysql_real_escape_string(app_db_internal_mysql(x), esc, e->oldest_file,
				 (unsigned long)strlen(e->oldest_file));
	snprintf(sql, sizeof(sql), "SELECT BINLOG_GTID_POS('%s', 4)", esc);
	if ((error = reach_query(&res, x, sql)))
		return error;
	row = mysql_num_fields(res) >= 1 ? mysql_fetch_row(res) : NULL;
	if (!row || !row[0])
		error = ss_error_set(SS_ENOTFOUND,
				     "%s: binlog %s was gone before its start position "
				     "could be read (purged meanwhile)",
				     app_db_internal_where(x), e->oldest_file);
	else
		error = app_gtid_pos_parse(&e->oldest, row[0]);
	mysql_free_result(res);
	return error;
}

int app_binlog_reach_read(app_binlog_reach *out, app_db *db)
{
	app_binlog_reach *e = calloc(1, sizeof(*e));
	app_db_internal_conn *x = NULL;
	int error;

	if (!e)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if ((error = app_db_internal_open(&x, db, APP_BINLOG_REACH_TIMEOUT_S)))
		goto cleanup;
	app_db_internal_bound(x, (int64_t)APP_BINLOG_REACH_TIMEOUT_S * SS_NS_PER_SEC);
	if ((error = reach_variables(e, x)))
		goto cleanup;
	if (e->log_bin && ((error = reach_files(e, x)) || (error = reach_oldest(e, x))))
		goto cleanup;
	if (app_db_internal_unbound(x)) {
		error = ss_error_set(SS_ETIMEOUT,
				     "%s: reading the binlog's reach: no answer "
				     "within %d s",
				     app_db_internal_where(x),
				     APP_BINLOG_REACH_TIMEOUT_S);
		goto cleanup;
	}
	*out = *e;
cleanup:
	app_db_internal_close(x);
	free(e);
	return error;
}
