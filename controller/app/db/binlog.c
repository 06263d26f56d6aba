/*
 * binlog.c — see binlog.h.
 *
 * Layout: the pure parts (an event's role in event groups, the fold that
 * keeps per domain the last group at or before the target, coverage);
 * then the I/O: statements on a connection of its own, a binlog dump on it
 * (Connector/C's mariadb_rpl), the extent and the time resolution.
 *
 * How a dump is set up, as measured against MariaDB 10.11 with
 * Connector/C 3.3.20 (which sets none of it itself):
 *   - SET @master_binlog_checksum = @@global.binlog_checksum: without it a
 *     source with CRC32 checksums refuses the dump (error 1236 "Slave can
 *     not handle replication events with the checksum ...");
 *   - SET @mariadb_slave_capability = 4 (GTID-aware): without it the source
 *     rewrites GTID events into "BEGIN" queries and drops Gtid_list ones;
 *   - SET @slave_connect_state = '<start>': the source finds the file to
 *     start in from the files' Gtid_list events and skips the groups the
 *     start already has (sending an artificial Gtid_list in their place);
 *     the file name and position of the dump command are then ignored. A
 *     start it no longer holds is error 1236 ("... purged"), one not in
 *     its history ("... which is not in the master's binlog") too; a
 *     domain the start has but the binlog never had is accepted. With the
 *     empty state the source starts at its oldest file, whatever was
 *     purged before it: so coverage is checked here first;
 *   - the dump's server id must be unique among the source's replicas: a
 *     second dump with the same id makes the source end the first one. It
 *     is random in 0x7f000000..0x7fffffff, never the source's own;
 *   - MARIADB_RPL_BINLOG_DUMP_NON_BLOCK: at the end of the log the source
 *     sends EOF (mariadb_rpl_fetch() returns NULL, mysql_errno() 0) and
 *     ends the connection's dump; the connection is not reused.
 *
 * Invariants: every exchange runs under db.c's watchdog (the deadline, or
 * APP_BINLOG_EXTENT_TIMEOUT_S); nothing is written to the source (user
 * variables of the session only); no event is skipped silently (a stray
 * one is an error). Thread-safety: as db.h, one app_db per thread.
 */
#include "app/db/binlog.h"
#include "app/db/db_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include <errmsg.h>
#include <mariadb_rpl.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "util/clock.h"
#include "util/error.h"
#include "util/str.h"

#define SQL_MAX (APP_GTID_TEXT_MAX + 64)
#define DUMP_ID_BASE UINT32_C(0x7f000000)

/* ---- pure: event groups ------------------------------------------------- */

static bool is_meta(int type)
{
	switch (type) {
	case FORMAT_DESCRIPTION_EVENT:
	case ROTATE_EVENT:
	case STOP_EVENT:
	case GTID_LIST_EVENT:
	case BINLOG_CHECKPOINT_EVENT:
	case HEARTBEAT_LOG_EVENT:
	case START_ENCRYPTION_EVENT:
	case PREVIOUS_GTIDS_LOG_EVENT:
	case IGNORABLE_LOG_EVENT: return true;
	default: return false;
	}
}

/* Whether a query's text is exactly COMMIT or ROLLBACK (any case, white
 * space around): "ROLLBACK TO sp" stays inside its transaction. */
static bool ends_transaction(const char *q, size_t n)
{
	while (n > 0 && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) {
		q++;
		n--;
	}
	while (n > 0 && (q[n - 1] == ' ' || q[n - 1] == '\t' || q[n - 1] == '\n' ||
			 q[n - 1] == '\r' || q[n - 1] == ';'))
		n--;
	return (n == 6 && strncasecmp(q, "COMMIT", 6) == 0) ||
	       (n == 8 && strncasecmp(q, "ROLLBACK", 8) == 0);
}

app_binlog_role app_binlog_role_of(bool in_group, bool standalone, const app_binlog_event *ev)
{
	bool query = ev->type == QUERY_EVENT || ev->type == QUERY_COMPRESSED_EVENT;

	if (is_meta(ev->type))
		return APP_BINLOG_META;
	if (ev->type == GTID_EVENT)
		return in_group ? APP_BINLOG_STRAY : APP_BINLOG_GROUP_START;
	if (!in_group)
		return APP_BINLOG_STRAY;
	if (ev->type == XID_EVENT || ev->type == XA_PREPARE_LOG_EVENT)
		return APP_BINLOG_GROUP_END;
	if (query && (standalone || (ev->query && ends_transaction(ev->query, ev->query_len))))
		return APP_BINLOG_GROUP_END;
	return APP_BINLOG_GROUP_BODY;
}

int64_t app_binlog_target_second(int64_t target_ns)
{
	int64_t s = target_ns / SS_NS_PER_SEC;

	if (target_ns % SS_NS_PER_SEC < 0)
		s--;
	return s;
}

void app_binlog_fold_init(app_binlog_fold *f, const app_gtid_pos *start, int64_t target_s)
{
	memset(f, 0, sizeof(*f));
	if (start)
		f->pos = *start;
	f->target_s = target_s;
}

static void open_group(app_binlog_fold *f, const app_binlog_event *ev)
{
	f->in_group = true;
	f->standalone = (ev->gtid_flags & (FL_STANDALONE | FL_COMPLETED_XA)) != 0;
	f->cur.domain = ev->gtid_domain;
	f->cur.server = ev->server_id;
	f->cur.seq = ev->gtid_seq;
	f->cur_time = ev->timestamp;
}

/* The open group ends with `ev`: taken if its time is not newer. */
static int close_group(app_binlog_fold *f, const app_binlog_event *ev)
{
	int64_t t = f->cur_time > (int64_t)ev->timestamp ? f->cur_time : ev->timestamp;

	f->in_group = false;
	if (t > f->target_s) {
		f->done = true;
		return 0;
	}
	if (app_gtid_pos_set(&f->pos, &f->cur) != 0)
		return ss_error_set(SS_ETOOLARGE,
				    "binlog: GTID domain %" PRIu32 " is one more than the "
				    "%d domains supported",
				    f->cur.domain, APP_GTID_MAX_DOMAINS);
	f->groups++;
	if (t > f->last_time)
		f->last_time = t;
	return 0;
}

int app_binlog_fold_event(app_binlog_fold *f, const app_binlog_event *ev)
{
	if (f->done)
		return 0;
	switch (app_binlog_role_of(f->in_group, f->standalone, ev)) {
	case APP_BINLOG_META:
		/* Never a time: a file's header carries the clock of the
		 * server that wrote the file, while a replica's (log_slave_updates)
		 * groups carry their origin's, and SET TIMESTAMP any. Measured:
		 * groups with older times follow a newer Format_description. */
		return 0;
	case APP_BINLOG_GROUP_START:
		if ((int64_t)ev->timestamp > f->target_s) {
			f->done = true;
			return 0;
		}
		open_group(f, ev);
		return 0;
	case APP_BINLOG_GROUP_BODY: return 0;
	case APP_BINLOG_GROUP_END: return close_group(f, ev);
	case APP_BINLOG_STRAY: break;
	}
	if (f->in_group)
		return ss_error_set(SS_ERROR,
				    "binlog: event type %d at timestamp %" PRIu32
				    " inside the group of GTID %" PRIu32 "-%" PRIu32
				    "-%" PRIu64 " before its end",
				    ev->type, ev->timestamp, f->cur.domain, f->cur.server,
				    f->cur.seq);
	return ss_error_set(SS_ERROR,
			    "binlog: event type %d at timestamp %" PRIu32
			    " outside any event group (no GTID event before it)",
			    ev->type, ev->timestamp);
}

bool app_binlog_covers(const app_binlog_extent *e, const app_gtid_pos *base, char *why,
		       size_t cap)
{
	size_t i;

	for (i = 0; i < e->oldest.n; i++) {
		const app_gtid *o = &e->oldest.g[i];
		const app_gtid *b = app_gtid_pos_find(base, o->domain);

		if (o->seq == 0 || (b && b->seq >= o->seq))
			continue;
		if (why && cap > 0 && b)
			snprintf(why, cap,
				 "domain %" PRIu32 ": the base is at %" PRIu32 "-%" PRIu32
				 "-%" PRIu64 " but the source's oldest binlog %s starts "
				 "after %" PRIu32 "-%" PRIu32 "-%" PRIu64
				 ": the events between were purged",
				 o->domain, b->domain, b->server, b->seq, e->oldest_file,
				 o->domain, o->server, o->seq);
		else if (why && cap > 0)
			snprintf(why, cap,
				 "domain %" PRIu32 ": the base has no GTID in it but the "
				 "source's oldest binlog %s starts after %" PRIu32 "-%" PRIu32
				 "-%" PRIu64 ": the events before were purged",
				 o->domain, e->oldest_file, o->domain, o->server, o->seq);
		return false;
	}
	if (why && cap > 0)
		why[0] = '\0';
	return true;
}

/* ---- I/O: statements ------------------------------------------------------ */

static int64_t mono_ns(void)
{
	return ss_clock_mono(ss_clock_system());
}

/* The failure of the last call on x's handle, in db.c's words; `what`
 * names the step. A watchdog cut reads as a timeout. */
static int fail(app_db_internal_conn *x, const char *what, bool cut)
{
	MYSQL *m = app_db_internal_mysql(x);

	if (cut)
		return ss_error_set(SS_ETIMEOUT, "%s: %s: no answer before the deadline; "
						 "the connection was closed (MariaDB error %u)",
				    app_db_internal_where(x), what,
				    m ? mysql_errno(m) : CR_SERVER_GONE_ERROR);
	return app_db_internal_fail(x, what);
}

static int run(app_db_internal_conn *x, const char *sql)
{
	MYSQL *m = app_db_internal_mysql(x);

	if (m && mysql_real_query(m, sql, strlen(sql)) == 0) {
		mysql_free_result(mysql_store_result(m));
		if (mysql_errno(m) == 0)
			return 0;
	}
	return fail(x, sql, false);
}

/* One row of `sql` into *res / *row (freed by the caller). */
static int one_row(MYSQL_RES **res, MYSQL_ROW *row, app_db_internal_conn *x,
		   const char *sql, unsigned int n_fields)
{
	MYSQL *m = app_db_internal_mysql(x);

	if (!m || mysql_real_query(m, sql, strlen(sql)) != 0 ||
	    !(*res = mysql_store_result(m)))
		return fail(x, sql, false);
	if (mysql_num_fields(*res) < n_fields || !(*row = mysql_fetch_row(*res)))
		return ss_error_set(SS_ERROR, "%s: %s: no row", app_db_internal_where(x),
				    sql);
	return 0;
}

static int num(int64_t *out, const char *v, app_db_internal_conn *x, const char *what)
{
	if (!v || ss_parse_int64(out, v, INT64_MIN, INT64_MAX, what) != 0)
		return ss_error_set(SS_ERROR, "%s: %s is not a number",
				    app_db_internal_where(x), what);
	return 0;
}

/* ---- I/O: a dump ---------------------------------------------------------- */

static uint32_t dump_server_id(int64_t source_id)
{
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)mono_ns() ^ ((uint32_t)getpid() << 8);
	r = DUMP_ID_BASE | (r & UINT32_C(0x00ffffff));
	if ((int64_t)r == source_id)
		r ^= 1;
	return r;
}

/* Starts a non-blocking GTID-aware dump on x: from `state` (a GTID
 * position's text) when not NULL, else from `file` at position 4. */
static int dump_open(MARIADB_RPL **out, app_db_internal_conn *x, const char *state,
		     const char *file, int64_t source_id)
{
	char sql[SQL_MAX];
	MARIADB_RPL *r;
	int error;

	if ((error = run(x, "SET @master_binlog_checksum = @@global.binlog_checksum")) ||
	    (error = run(x, "SET @mariadb_slave_capability = 4")))
		return error;
	if (state) {
		snprintf(sql, sizeof(sql), "SET @slave_connect_state = '%s'", state);
		if ((error = run(x, sql)))
			return error;
	}
	r = mariadb_rpl_init(app_db_internal_mysql(x));
	if (!r)
		return fail(x, "mariadb_rpl_init", false);
	if (mariadb_rpl_optionsv(r, MARIADB_RPL_SERVER_ID,
				 (unsigned int)dump_server_id(source_id)) ||
	    mariadb_rpl_optionsv(r, MARIADB_RPL_FLAGS,
				 (unsigned int)MARIADB_RPL_BINLOG_DUMP_NON_BLOCK) ||
	    mariadb_rpl_optionsv(r, MARIADB_RPL_FILENAME, file ? file : "",
				 file ? strlen(file) : (size_t)0) ||
	    mariadb_rpl_optionsv(r, MARIADB_RPL_START, (unsigned long)4)) {
		mariadb_rpl_close(r);
		return ss_error_set(SS_ERROR, "%s: cannot set the binlog dump's options",
				    app_db_internal_where(x));
	}
	if (mariadb_rpl_open(r) != 0) {
		error = fail(x, "binlog dump", false);
		mariadb_rpl_close(r);
		return error;
	}
	*out = r;
	return 0;
}

static void to_event(app_binlog_event *out, const MARIADB_RPL_EVENT *ev)
{
	memset(out, 0, sizeof(*out));
	out->type = (int)ev->event_type;
	out->timestamp = ev->timestamp;
	out->server_id = ev->server_id;
	out->flags = ev->flags;
	if (ev->event_type == GTID_EVENT) {
		out->gtid_domain = ev->event.gtid.domain_id;
		out->gtid_seq = ev->event.gtid.sequence_nr;
		out->gtid_flags = ev->event.gtid.flags;
	} else if (ev->event_type == QUERY_EVENT) {
		out->query = ev->event.query.statement.str;
		out->query_len = ev->event.query.statement.length;
	}
}

/* The next event into *ev (reused), or *ev NULL at the end of the log. A
 * failure of the dump: 1236 with "purged" in its text is SS_ENOTFOUND. */
static int dump_next(MARIADB_RPL_EVENT **ev, MARIADB_RPL *r, app_db_internal_conn *x)
{
	MYSQL *m = app_db_internal_mysql(x);
	MARIADB_RPL_EVENT *next = mariadb_rpl_fetch(r, *ev);
	bool cut;

	/* On NULL the library has freed the event it was given. */
	*ev = next;
	if (next || (mysql_errno(m) == 0 && mariadb_rpl_errno(r) == 0))
		return 0;
	if (mysql_errno(m) == 0)
		return ss_error_set(SS_ERROR, "%s: reading the binlog dump: %s",
				    app_db_internal_where(x), mariadb_rpl_error(r));
	cut = app_db_internal_unbound(x);
	if (!cut && mysql_errno(m) == ER_MASTER_FATAL_ERROR_READING_BINLOG &&
	    strstr(mysql_error(m), "purged"))
		return ss_error_set(SS_ENOTFOUND,
				    "%s: the source no longer holds the binlog after the "
				    "start position (MariaDB error 1236: %s)",
				    app_db_internal_where(x), mysql_error(m));
	return fail(x, "reading the binlog dump", cut);
}

/* ---- the extent ------------------------------------------------------------ */

/* @@log_bin, @@server_id, the GTID end, the retention, the clock. */
static int read_variables(app_binlog_extent *e, int64_t *server_id, int64_t *now_s,
			  app_db_internal_conn *x)
{
	static const char sql[] = "SELECT @@log_bin, @@server_id, @@gtid_binlog_pos, "
				  "@@binlog_expire_logs_seconds, UNIX_TIMESTAMP()";
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int64_t log_bin;
	int error;

	if ((error = one_row(&res, &row, x, sql, 5)) ||
	    (error = num(&log_bin, row[0], x, "@@log_bin")) ||
	    (error = num(server_id, row[1], x, "@@server_id")) ||
	    (error = num(&e->expire_seconds, row[3], x, "@@binlog_expire_logs_seconds")) ||
	    (error = num(now_s, row[4], x, "UNIX_TIMESTAMP()")))
		goto cleanup;
	if (log_bin == 0) {
		error = ss_error_set(SS_EUNSUPPORTED,
				     "%s: binary logging is off (log_bin): the server "
				     "cannot be a replay source",
				     app_db_internal_where(x));
		goto cleanup;
	}
	error = app_gtid_pos_parse(&e->current, row[2]);

cleanup:
	mysql_free_result(res);
	return error;
}

/* SHOW BINARY LOGS: the oldest file, the count and the sizes. */
static int read_files(app_binlog_extent *e, app_db_internal_conn *x)
{
	static const char sql[] = "SHOW BINARY LOGS";
	MYSQL *m = app_db_internal_mysql(x);
	MYSQL_RES *res;
	MYSQL_ROW row;
	int64_t size;
	int error = 0;

	if (!m || mysql_real_query(m, sql, strlen(sql)) != 0 ||
	    !(res = mysql_store_result(m)))
		return fail(x, sql, false);
	while ((row = mysql_fetch_row(res))) {
		if (mysql_num_fields(res) < 2 || !row[0] ||
		    (error = num(&size, row[1], x, "File_size")))
			break;
		if (e->n_files == 0 &&
		    ss_strlcpy(e->oldest_file, row[0], sizeof(e->oldest_file)) >=
			    sizeof(e->oldest_file)) {
			error = ss_error_set(SS_ETOOLARGE, "%s: a binlog file name is too "
							   "long",
					     app_db_internal_where(x));
			break;
		}
		e->n_files++;
		e->total_bytes += (uint64_t)(size > 0 ? size : 0);
	}
	mysql_free_result(res);
	if (!error && e->n_files == 0)
		error = ss_error_set(SS_ERROR, "%s: SHOW BINARY LOGS lists no file",
				     app_db_internal_where(x));
	return error;
}

static void gtid_list_of(app_gtid_pos *out, const MARIADB_RPL_EVENT *ev, int *error)
{
	uint32_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < ev->event.gtid_list.gtid_cnt && !*error; i++) {
		app_gtid g = { .domain = ev->event.gtid_list.gtid[i].domain_id,
			       .server = ev->event.gtid_list.gtid[i].server_id,
			       .seq = ev->event.gtid_list.gtid[i].sequence_nr };

		*error = app_gtid_pos_set(out, &g);
	}
}

/* The oldest file's header: its Format_description's time and its
 * Gtid_list (the first real one; the dump starts with an artificial
 * Rotate). */
static int read_oldest(app_binlog_extent *e, app_db_internal_conn *x, int64_t server_id)
{
	MARIADB_RPL *r = NULL;
	MARIADB_RPL_EVENT *ev = NULL;
	int error, n;

	if ((error = dump_open(&r, x, NULL, e->oldest_file, server_id)))
		return error;
	for (n = 0; n < 8; n++) {
		if ((error = dump_next(&ev, r, x)))
			goto cleanup;
		if (!ev)
			break;
		if (ev->event_type == FORMAT_DESCRIPTION_EVENT)
			e->oldest_time_ns = (int64_t)ev->timestamp * SS_NS_PER_SEC;
		if (ev->event_type == GTID_LIST_EVENT &&
		    !(ev->flags & LOG_EVENT_ARTIFICIAL_F)) {
			gtid_list_of(&e->oldest, ev, &error);
			goto cleanup;
		}
	}
	error = ss_error_set(SS_ERROR, "%s: binlog %s has no Gtid_list event at its start",
			     app_db_internal_where(x), e->oldest_file);

cleanup:
	mariadb_free_rpl_event(ev);
	mariadb_rpl_close(r);
	return error;
}

/* The extent, and the source's server id and clock, within bound_ns. */
static int extent_read(app_binlog_extent *out, int64_t *server_id, int64_t *now_s,
		       app_db *db, int64_t bound_ns)
{
	app_binlog_extent *e = calloc(1, sizeof(*e));
	app_db_internal_conn *x = NULL;
	int read_s = (int)(bound_ns / SS_NS_PER_SEC) + 1;
	int error;

	if (!e)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if ((error = app_db_internal_open(&x, db, read_s > 86400 ? 86400 : read_s)))
		goto cleanup;
	app_db_internal_bound(x, bound_ns);
	if ((error = read_variables(e, server_id, now_s, x)) ||
	    (error = read_files(e, x)) || (error = read_oldest(e, x, *server_id)))
		goto cleanup;
	if (app_db_internal_unbound(x)) {
		error = fail(x, "reading the binlog extent", true);
		goto cleanup;
	}
	*out = *e;

cleanup:
	app_db_internal_close(x);
	free(e);
	return error;
}

int app_binlog_extent_read(app_binlog_extent *out, app_db *db)
{
	int64_t server_id, now_s;

	return extent_read(out, &server_id, &now_s, db,
			   (int64_t)APP_BINLOG_EXTENT_TIMEOUT_S * SS_NS_PER_SEC);
}

/* ---- time -> position ------------------------------------------------------ */

/* Reads the dump from `start` into the fold until the target is passed
 * or the log ends; *past_end when it ended first. */
static int scan(app_binlog_fold *f, app_binlog_resolved *res, app_db_internal_conn *x,
		const app_gtid_pos *start, int64_t server_id, int64_t deadline)
{
	char state[APP_GTID_TEXT_MAX];
	MARIADB_RPL *r = NULL;
	MARIADB_RPL_EVENT *ev = NULL;
	app_binlog_event e;
	int error;

	if ((error = app_gtid_pos_format(state, sizeof(state), start)) ||
	    (error = dump_open(&r, x, state, NULL, server_id)))
		return error;
	for (;;) {
		if ((error = dump_next(&ev, r, x)))
			break;
		if (!ev) {
			res->past_end = true;
			break;
		}
		res->bytes_scanned += ev->event_length;
		to_event(&e, ev);
		if ((error = app_binlog_fold_event(f, &e)) || f->done)
			break;
		if (res->bytes_scanned > APP_BINLOG_SCAN_MAX_BYTES) {
			error = ss_error_set(SS_ETOOLARGE,
					     "%s: the target was not found within %" PRIu64
					     " bytes of binlog",
					     app_db_internal_where(x),
					     (uint64_t)APP_BINLOG_SCAN_MAX_BYTES);
			break;
		}
		if (mono_ns() >= deadline) {
			error = ss_error_set(SS_ETIMEOUT, "%s: the binlog scan did not "
							  "reach the target before the deadline",
					     app_db_internal_where(x));
			break;
		}
	}
	mariadb_free_rpl_event(ev);
	mariadb_rpl_close(r);
	return error;
}

/* The checks before a scan: the target's second has ended on the
 * source's clock, and the source still holds everything after start. */
static int check_start(const app_binlog_extent *e, const app_gtid_pos *start,
		       int64_t target_s, int64_t now_s)
{
	char why[APP_DB_MESSAGE_MAX], target[SS_TIME_RFC3339_MAX],
		now[SS_TIME_RFC3339_MAX];

	/* Times as RFC 3339, as spec.replay.time is written: a message
	 * people read (the seconds since the epoch are in no field). */
	if (target_s >= now_s)
		return ss_error_set(
			SS_EINVALID,
			"TargetNotReached: the target second %s has not ended on "
			"the source's clock (there it is %s)",
			ss_time_format(target, sizeof(target), target_s * SS_NS_PER_SEC),
			ss_time_format(now, sizeof(now), now_s * SS_NS_PER_SEC));
	if (!app_binlog_covers(e, start, why, sizeof(why)))
		return ss_error_set(SS_ENOTFOUND, "BinlogsPurged: %s", why);
	return 0;
}

static int resolve(app_binlog_resolved *res, app_db *db, const app_gtid_pos *start,
		   int64_t target_s, int64_t deadline)
{
	app_binlog_extent e;
	app_binlog_fold *f = malloc(sizeof(*f));
	app_db_internal_conn *x = NULL;
	int64_t left = deadline - mono_ns(), server_id, now_s;
	int error, read_s;

	if (!f)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if ((error = extent_read(&e, &server_id, &now_s, db, left)) ||
	    (error = check_start(&e, start, target_s, now_s)))
		goto cleanup;
	left = deadline - mono_ns();
	read_s = (int)(left / SS_NS_PER_SEC) + 1;
	if (left <= 0 || (error = app_db_internal_open(&x, db, read_s > 86400 ? 86400
										  : read_s))) {
		error = error ? error : ss_error_set(SS_ETIMEOUT, "binlog: deadline passed");
		goto cleanup;
	}
	app_db_internal_bound(x, left);
	app_binlog_fold_init(f, start, target_s);
	error = scan(f, res, x, start, server_id, deadline);
	if (app_db_internal_unbound(x) && !error)
		error = fail(x, "reading the binlog dump", true);
	res->pos = f->pos;
	res->groups_scanned = f->groups;
	res->last_event_ns = f->last_time * SS_NS_PER_SEC;

cleanup:
	app_db_internal_close(x);
	free(f);
	return error;
}

int app_binlog_resolve_time(app_binlog_resolved *out, app_db *db,
			    const app_gtid_pos *start, int64_t target_ns, bool strict,
			    int64_t deadline_mono_ns)
{
	app_binlog_resolved *res = calloc(1, sizeof(*res));
	int64_t target_s = app_binlog_target_second(target_ns);
	int error;

	if (!res)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (mono_ns() >= deadline_mono_ns) {
		error = ss_error_set(SS_ETIMEOUT, "binlog: the deadline has passed");
		goto cleanup;
	}
	if ((error = resolve(res, db, start, target_s, deadline_mono_ns)))
		goto cleanup;
	if (res->past_end && strict) {
		char target[SS_TIME_RFC3339_MAX];

		error = ss_error_set(
			SS_EINVALID,
			"TargetNotReached: the source's binlog ends before "
			"the target second %s (no event after it yet), and "
			"the restore is strict",
			ss_time_format(target, sizeof(target), target_s * SS_NS_PER_SEC));
		goto cleanup;
	}
	*out = *res;

cleanup:
	free(res);
	return error;
}
