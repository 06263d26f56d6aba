/*
 * replay.c — see replay.h: a scratch server replays the source's binary
 * log up to a GTID position with MariaDB's own replication.
 *
 * Layout: the pure classifier of a SHOW SLAVE STATUS row; statements on a
 * connection of its own (db_internal.h), each bounded by the watchdog; what
 * is read from the source; start, poll, finish.
 *
 * Facts measured on MariaDB 10.11 (Debian 12), gtid_strict_mode=1,
 * log_slave_updates, binlog_format=ROW:
 *   - START SLAVE UNTIL master_gtid_pos stops both threads once the
 *     position is applied; Until_Condition reads "Gtid", the position
 *     itself is not shown anywhere.
 *   - SET GLOBAL gtid_slave_pos below the server's own @@gtid_binlog_pos
 *     is accepted without a warning; the SQL thread then stops on the first
 *     event with error 1950 ("... out-of-order sequence number ... gtid
 *     strict mode is enabled"), nothing applied. Without strict mode the
 *     events would be applied a second time.
 *   - Events carrying the replica's own server_id are skipped by the IO
 *     thread without an error, and gtid_slave_pos moves past them: a
 *     replay that ends "exactly" at the target has lost them. The source's
 *     own id fails loudly instead (IO error 1593).
 *   - A domain the UNTIL position does not name is skipped: its events are
 *     not applied and gtid_slave_pos does not list it.
 *   - CHANGE MASTER 'b' to the host:port of an existing connection 'a'
 *     fails with 1934: inherited connections are reset first.
 *   - IO errors: 2003 (refused; IO "Connecting", retried every
 *     MASTER_CONNECT_RETRY s up to master_retry_count), 1236 "Could not
 *     find GTID state requested by slave in any binlog files" (purged),
 *     1045 (account refused). Their texts name the account ('repl@host').
 * Thread-safety: as db.h; app_replay_classify() is pure.
 */
#define _GNU_SOURCE /* strcasestr() */

#include "app/db/replay.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "app/db/db_internal.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

#define CONN "'" APP_REPLAY_CONNECTION "'"
#define READ_TIMEOUT_S 30
#define CALL_BOUND_NS (90 * SS_NS_PER_SEC) /* one call, whatever happens */
#define SOURCE_TIMEOUT_S 10
#define CONNECT_RETRY_S 5
#define SQL_MAX 512
#define LIT_MAX (2 * APP_GTID_TEXT_MAX + 3)
#define STATE_TEXT_MAX 8192 /* @@gtid_binlog_state */

/* ---- the pure classifier ------------------------------------------------- */

static int num_field(uint64_t *out, const char *v, const char *what)
{
	int64_t n = 0;

	if (!v || !*v) {
		*out = 0;
		return 0;
	}
	if (ss_parse_int64(&n, v, 0, INT64_MAX, what) != 0)
		return SS_EINVALID;
	*out = (uint64_t)n;
	return 0;
}

/* What an IO error means for a replay, never quoting the text (it names
 * the account) except 1236's, which is the source's and names positions. */
static app_replay_cause io_cause(unsigned int err, const char *text)
{
	switch (err) {
	case ER_MASTER_FATAL_ERROR_READING_BINLOG:
		if (text && (strcasestr(text, "purged") ||
			     strstr(text, "Could not find GTID state requested")))
			return APP_REPLAY_CAUSE_BINLOGS_PURGED;
		return APP_REPLAY_CAUSE_DIVERGED;
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED:
	case CR_UNKNOWN_HOST:
	case ER_NET_READ_ERROR:
	case ER_NET_READ_INTERRUPTED:
	case ER_NET_ERROR_ON_WRITE:
	case ER_SERVER_SHUTDOWN:
	case ER_CONNECTION_KILLED: return APP_REPLAY_CAUSE_SOURCE_LOST;
	default: return APP_REPLAY_CAUSE_REFUSED;
	}
}

static void io_why(char *why, size_t cap, unsigned int err, const char *text,
		   app_replay_cause cause, bool retrying)
{
	switch (cause) {
	case APP_REPLAY_CAUSE_BINLOGS_PURGED:
		snprintf(why, cap,
			 "the source no longer holds the binary logs after the base "
			 "(MariaDB error %u: %.300s)",
			 err, text ? text : "");
		return;
	case APP_REPLAY_CAUSE_DIVERGED:
		snprintf(why, cap,
			 "the source's binary log does not hold the base position: "
			 "its history is not the base's (MariaDB error %u: %.300s)",
			 err, text ? text : "");
		return;
	case APP_REPLAY_CAUSE_SOURCE_LOST:
		snprintf(why, cap,
			 "the replay lost its source or cannot reach it (MariaDB "
			 "error %u)%s",
			 err, retrying ? "; the scratch server keeps retrying" : "");
		return;
	default:
		snprintf(why, cap,
			 "the replay's IO thread failed (MariaDB error %u; the "
			 "server's text is not shown, as it names the account): "
			 "check the replication account and the source%s",
			 err, retrying ? "; the scratch server keeps retrying" : "");
	}
}

/* SQL thread errors quote rows' values and statements: told in words. */
static const char *sql_words(unsigned int err)
{
	switch (err) {
	case ER_DUP_ENTRY:
	case ER_DUP_ENTRY_WITH_KEY_NAME:
		return "a row the replay inserts is already there: the scratch "
		       "server's data is past the base, or the base is not the "
		       "source's history";
	case ER_KEY_NOT_FOUND:
		return "a row the replay changes is not there: the base is not the "
		       "source's history";
	case ER_NO_SUCH_TABLE:
	case ER_BAD_DB_ERROR:
		return "a table or database the events change does not exist on "
		       "the scratch server: the base is not the source's history";
	case ER_GTID_STRICT_OUT_OF_ORDER:
		return "the scratch server's binary log is past the base "
		       "(gtid_strict_mode): its data holds events after the base";
	default: return "the SQL thread stopped on an error (its text is not shown)";
	}
}

static bool is(const char *v, const char *want)
{
	return v && strcasecmp(v, want) == 0;
}

static int read_numbers(app_replay_progress *p, const app_replay_row *r,
			uint64_t *io_err, uint64_t *sql_err)
{
	uint64_t a = 0, b = 0, c = 0;
	int64_t behind = -1;

	if (num_field(io_err, r->last_io_errno, "Last_IO_Errno") ||
	    num_field(sql_err, r->last_sql_errno, "Last_SQL_Errno") ||
	    num_field(&p->relay_bytes, r->relay_log_space, "Relay_Log_Space") ||
	    num_field(&a, r->ddl_groups, "Slave_DDL_Groups") ||
	    num_field(&b, r->non_transactional_groups, "Slave_Non_Transactional_Groups") ||
	    num_field(&c, r->transactional_groups, "Slave_Transactional_Groups"))
		return SS_EINVALID;
	if (r->seconds_behind_master &&
	    ss_parse_int64(&behind, r->seconds_behind_master, 0, INT64_MAX,
			   "Seconds_Behind_Master") != 0)
		return SS_EINVALID;
	if (*io_err > 0xffffffffu || *sql_err > 0xffffffffu)
		return ss_error_set(SS_EINVALID, "an error number out of range");
	p->groups = a + b + c;
	p->seconds_behind = behind;
	return 0;
}

int app_replay_classify(app_replay_progress *out, const app_replay_row *r,
			const app_gtid_pos *target)
{
	app_replay_progress p;
	uint64_t io_err = 0, sql_err = 0;
	bool sql_on = is(r->sql_running, "Yes"), io_on = is(r->io_running, "Yes");

	memset(&p, 0, sizeof(p));
	if (app_gtid_pos_parse(&p.reached, r->gtid_slave_pos) != 0 ||
	    read_numbers(&p, r, &io_err, &sql_err) != 0)
		return SS_EINVALID;
	p.io_connected = io_on;
	if (sql_err != 0) {
		p.state = APP_REPLAY_FAILED;
		p.cause = APP_REPLAY_CAUSE_SQL_ERROR;
		snprintf(p.why, sizeof(p.why), "%s (MariaDB error %u)",
			 sql_words((unsigned int)sql_err), (unsigned int)sql_err);
	} else if (!sql_on && app_gtid_pos_reached(&p.reached, target)) {
		p.state = APP_REPLAY_REACHED;
	} else if (io_err != 0) {
		/* "Connecting" (or "Yes" between retries): MariaDB retries */
		bool retrying = !is(r->io_running, "No") && sql_on;

		p.cause = io_cause((unsigned int)io_err, r->last_io_error);
		p.state = retrying ? APP_REPLAY_RUNNING : APP_REPLAY_FAILED;
		io_why(p.why, sizeof(p.why), (unsigned int)io_err, r->last_io_error,
		       p.cause, retrying);
		/* 1236's text is quoted, cut at 300 bytes: maybe mid-character,
		 * and a status, Event or log line takes only UTF-8 */
		ss_utf8_scrub(p.why);
	} else if (!sql_on) {
		/* stopped with no error and short of the target. (The IO thread
		 * alone stopped is normal: with UNTIL master_gtid_pos the source
		 * stops sending at the target while the SQL thread catches up.) */
		p.state = APP_REPLAY_FAILED;
		p.cause = APP_REPLAY_CAUSE_STOPPED;
		snprintf(p.why, sizeof(p.why),
			 "replication stopped short of the target with no error "
			 "(the scratch server restarted, or someone stopped it): "
			 "starting the replay again resumes it");
	} else {
		p.state = APP_REPLAY_RUNNING;
	}
	*out = p;
	return 0;
}

/* ---- statements on a connection of its own ------------------------------ */

/* A failure of the last call on x as an error: the number and db.c's words;
 * the server's text only where db.c calls it safe and `show_text`. `what`
 * names the statement (never one that carries a password). */
static int stmt_error(app_db_internal_conn *x, const char *what, bool show_text)
{
	MYSQL *m = app_db_internal_mysql(x);
	unsigned int err = m ? mysql_errno(m) : CR_SERVER_GONE_ERROR;
	app_db_error_words w;

	app_db_error_words_of(&w, err);
	if (w.quote && show_text && m)
		return ss_error_set(w.code, "%s: %s: MariaDB error %u: %s%s%s",
				    app_db_internal_where(x), what, err, mysql_error(m),
				    *w.meaning ? ": " : "", w.meaning);
	return ss_error_set(w.code,
			    "%s: %s: MariaDB error %u: %s (its text is not shown, as it "
			    "may quote the statement or name the account)",
			    app_db_internal_where(x), what, err,
			    *w.meaning ? w.meaning : "the server refused it");
}

/* Runs `sql` (result discarded). *err_out (may be NULL) gets the number. */
static int exec_as(app_db_internal_conn *x, const char *sql, const char *what,
		   unsigned int *err_out)
{
	MYSQL *m = app_db_internal_mysql(x);

	if (err_out)
		*err_out = 0;
	if (m && mysql_real_query(m, sql, strlen(sql)) == 0) {
		mysql_free_result(mysql_store_result(m));
		if (mysql_errno(m) == 0)
			return 0;
	}
	if (err_out)
		*err_out = m ? mysql_errno(m) : CR_SERVER_GONE_ERROR;
	return stmt_error(x, what, what == sql);
}

static int exec(app_db_internal_conn *x, const char *sql)
{
	return exec_as(x, sql, sql, NULL);
}

/* A statement with one row wanted: *res (freed by the caller) and *row
 * (NULL when there is none). */
static int query_row(MYSQL_RES **res, MYSQL_ROW *row, app_db_internal_conn *x,
		     const char *sql, unsigned int *err_out)
{
	MYSQL *m = app_db_internal_mysql(x);

	if (err_out)
		*err_out = 0;
	*res = NULL;
	*row = NULL;
	if (m && mysql_real_query(m, sql, strlen(sql)) == 0 &&
	    (*res = mysql_store_result(m)) != NULL) {
		*row = mysql_fetch_row(*res);
		return 0;
	}
	if (err_out)
		*err_out = m ? mysql_errno(m) : CR_SERVER_GONE_ERROR;
	return stmt_error(x, sql, true);
}

static const char *col(MYSQL_RES *res, MYSQL_ROW row, const char *name)
{
	unsigned int n = mysql_num_fields(res), i;
	MYSQL_FIELD *f = mysql_fetch_fields(res);

	for (i = 0; row && i < n; i++)
		if (strcmp(f[i].name, name) == 0)
			return row[i];
	return NULL;
}

/* A GTID position read from the server. */
static int pos_of(app_gtid_pos *out, const char *text, const char *what,
		  const app_db_internal_conn *x)
{
	if (app_gtid_pos_parse(out, text) != 0)
		return ss_error_set(SS_ERROR, "%s: %s is not a GTID position",
				    app_db_internal_where(x), what);
	return 0;
}

/* `pos` as an SQL literal ('0-1-5,1-2-9'): only digits, '-' and ','. */
static int pos_literal(char *out, size_t cap, const app_gtid_pos *pos)
{
	char text[APP_GTID_TEXT_MAX];
	int rc;

	if ((rc = app_gtid_pos_format(text, sizeof(text), pos)) < 0)
		return rc;
	if ((size_t)snprintf(out, cap, "'%s'", text) >= cap)
		return ss_error_set(SS_ETOOLARGE, "a GTID position is too long");
	return 0;
}

/* Opens a bounded connection to scratch's server. */
static int open_bounded(app_db_internal_conn **x, app_db *scratch)
{
	int rc = app_db_internal_open(x, scratch, READ_TIMEOUT_S);

	if (rc == 0)
		app_db_internal_bound(*x, CALL_BOUND_NS);
	return rc;
}

/* ---- what the source holds ---------------------------------------------- */

typedef struct {
	uint32_t server_id;	      /* the source's @@server_id */
	app_gtid_pos binlog_pos;      /* its @@gtid_binlog_pos */
	char state[STATE_TEXT_MAX];   /* its @@gtid_binlog_state: every
					 domain-server pair of its binary log */
} source_facts;

static int read_source_row(source_facts *f, app_db_internal_conn *sx)
{
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int64_t id = 0;
	int rc;

	rc = query_row(&res, &row, sx,
		       "SELECT @@server_id, @@gtid_binlog_pos, @@gtid_binlog_state", NULL);
	if (rc == 0 && !row)
		rc = ss_error_set(SS_ERROR, "%s: no row for the source's positions",
				  app_db_internal_where(sx));
	if (rc == 0 && (ss_parse_int64(&id, row[0], 0, UINT32_MAX, "@@server_id") != 0 ||
			(rc = pos_of(&f->binlog_pos, row[1], "@@gtid_binlog_pos", sx)) != 0))
		rc = rc ? rc : SS_ERROR;
	if (rc == 0 && ss_strlcpy(f->state, row[2] ? row[2] : "", sizeof(f->state)) >=
			       sizeof(f->state))
		rc = ss_error_set(SS_ETOOLARGE, "%s: @@gtid_binlog_state is too long",
				  app_db_internal_where(sx));
	f->server_id = (uint32_t)id;
	mysql_free_result(res);
	return rc;
}

/* Reads the source's ids and positions with the replication account. */
static int read_source(source_facts *f, const app_replay_source *src)
{
	app_db_target t = { .host = src->host,
			    .port = src->port,
			    .user = src->user,
			    .password = src->password,
			    .tls_mode = src->tls_mode,
			    .ca_pem = src->ca_pem,
			    .connect_timeout_seconds = SOURCE_TIMEOUT_S };
	app_db_internal_conn *sx = NULL;
	app_db *db = NULL;
	int rc;

	if ((rc = app_db_connect(&db, &t)) < 0)
		return rc;
	if ((rc = app_db_internal_open(&sx, db, SOURCE_TIMEOUT_S)) == 0) {
		app_db_internal_bound(sx, (int64_t)SOURCE_TIMEOUT_S * SS_NS_PER_SEC);
		rc = read_source_row(f, sx);
	}
	app_db_internal_close(sx);
	app_db_close(db);
	return rc;
}

bool app_replay_state_has_server(const char *state, uint32_t server_id)
{
	char one[64];
	const char *p = state ? state : "";

	while (*p) {
		size_t n = strcspn(p, ",");
		size_t i = 0, j = n;
		app_gtid g;

		/* the white space app_gtid_pos_parse() takes: an entry missed
		 * here would let the scratch keep a server_id of the history */
		while (i < j && strchr(" \t\r\n", p[i]))
			i++;
		while (j > i && strchr(" \t\r\n", p[j - 1]))
			j--;
		if (j - i > 0 && j - i < sizeof(one)) {
			memcpy(one, p + i, j - i);
			one[j - i] = '\0';
			if (app_gtid_parse(&g, one) == 0 && g.server == server_id)
				return true;
		}
		p += n + (p[n] == ',');
	}
	return false;
}

/* A server id no event of the source carries: the highest free one. */
static uint32_t free_server_id(const source_facts *f)
{
	uint32_t id = UINT32_MAX;

	while (id > 1 && (id == f->server_id || app_replay_state_has_server(f->state, id)))
		id--;
	return id;
}

/* Every domain with events after the base must be in the target: MariaDB
 * skips the events of a domain an UNTIL position does not name. */
static int check_domains(const source_facts *f, const app_gtid_pos *base,
			 const app_gtid_pos *target)
{
	size_t i;

	for (i = 0; i < f->binlog_pos.n; i++) {
		const app_gtid *g = &f->binlog_pos.g[i];
		const app_gtid *b = app_gtid_pos_find(base, g->domain);

		if (g->seq > (b ? b->seq : 0) && !app_gtid_pos_find(target, g->domain))
			return ss_error_set(
				SS_EINVALID,
				"the target names no position in GTID domain %" PRIu32
				", which the source has events in after the base "
				"(up to %" PRIu32 "-%" PRIu32 "-%" PRIu64 "): MariaDB "
				"would skip them; name every domain in the target",
				g->domain, g->domain, g->server, g->seq);
	}
	return 0;
}

/* ---- the scratch server ---------------------------------------------------- */

#define MAX_CONNECTIONS 16

typedef struct {
	uint32_t server_id;
	bool log_bin, log_slave_updates;
	app_gtid_pos binlog_pos, slave_pos;
	size_t n_conns; /* inherited connections, ours excepted */
	char conns[MAX_CONNECTIONS][APP_DB_NAME_MAX];
	bool ours, ours_running;
	char ours_host[APP_DB_NAME_MAX];
	int64_t ours_port;
} scratch_state;

static int read_scratch_vars(scratch_state *s, app_db_internal_conn *x)
{
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int64_t id = 0;
	int rc;

	rc = query_row(&res, &row, x,
		       "SELECT @@server_id, @@log_bin, @@log_slave_updates, "
		       "@@gtid_binlog_pos, @@gtid_slave_pos",
		       NULL);
	if (rc == 0 && !row)
		rc = ss_error_set(SS_ERROR, "%s: no row for the GTID positions",
				  app_db_internal_where(x));
	if (rc == 0 && ss_parse_int64(&id, row[0], 0, UINT32_MAX, "@@server_id") != 0)
		rc = SS_ERROR;
	if (rc == 0 && (rc = pos_of(&s->binlog_pos, row[3], "@@gtid_binlog_pos", x)) == 0)
		rc = pos_of(&s->slave_pos, row[4], "@@gtid_slave_pos", x);
	if (rc == 0) {
		s->server_id = (uint32_t)id;
		s->log_bin = row[1] && strcmp(row[1], "1") == 0;
		s->log_slave_updates = row[2] && strcmp(row[2], "1") == 0;
	}
	mysql_free_result(res);
	return rc;
}

static int note_connection(scratch_state *s, MYSQL_RES *res, MYSQL_ROW row,
			   app_db_internal_conn *x)
{
	const char *name = col(res, row, "Connection_name");
	const char *port = col(res, row, "Master_Port");

	if (name && strcmp(name, APP_REPLAY_CONNECTION) == 0) {
		s->ours = true;
		s->ours_running = is(col(res, row, "Slave_SQL_Running"), "Yes") ||
				  !is(col(res, row, "Slave_IO_Running"), "No");
		ss_strlcpy(s->ours_host, col(res, row, "Master_Host") ? col(res, row, "Master_Host") : "",
			   sizeof(s->ours_host));
		if (!port || ss_parse_int64(&s->ours_port, port, 0, 65535, "Master_Port"))
			s->ours_port = -1;
		return 0;
	}
	if (s->n_conns == MAX_CONNECTIONS)
		return ss_error_set(SS_EUNSUPPORTED,
				    "%s: more than %d replication connections",
				    app_db_internal_where(x), MAX_CONNECTIONS);
	ss_strlcpy(s->conns[s->n_conns++], name ? name : "", APP_DB_NAME_MAX);
	return 0;
}

static int read_scratch(scratch_state *s, app_db_internal_conn *x)
{
	static const char sql[] = "SHOW ALL SLAVES STATUS";
	MYSQL *m = app_db_internal_mysql(x);
	MYSQL_RES *res;
	MYSQL_ROW row;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = read_scratch_vars(s, x)) < 0)
		return rc;
	if (!m || mysql_real_query(m, sql, strlen(sql)) != 0 ||
	    !(res = mysql_store_result(m)))
		return stmt_error(x, sql, true);
	rc = 0;
	while (rc == 0 && (row = mysql_fetch_row(res)))
		rc = note_connection(s, res, row, x);
	mysql_free_result(res);
	return rc;
}

/* Gives the scratch a server_id no event of the source carries. */
static int fix_server_id(app_db_internal_conn *x, const scratch_state *s,
			 const source_facts *f)
{
	char sql[64];
	uint32_t id;

	if (s->server_id != f->server_id && !app_replay_state_has_server(f->state, s->server_id))
		return 0;
	id = free_server_id(f);
	ss_log(SS_LOG_INFO, "replay: the scratch server's server_id is one the source's "
			    "binary log holds events of; changing it so none is skipped",
	       SS_LS("server", app_db_internal_where(x)), SS_LI("server_id", s->server_id),
	       SS_LI("new_server_id", id));
	snprintf(sql, sizeof(sql), "SET GLOBAL server_id = %" PRIu32, id);
	return exec(x, sql);
}

/* ---- setting the replay up ---------------------------------------------- */

#define TEXT_LIT_MAX 255

static int text_literal(char *dst, size_t cap, app_db_internal_conn *x, const char *v,
			const char *what)
{
	size_t len = strlen(v ? v : "");

	if (len > TEXT_LIT_MAX || cap < 2 * len + 3)
		return ss_error_set(SS_ETOOLARGE, "%s: %s is longer than %d bytes",
				    app_db_internal_where(x), what, TEXT_LIT_MAX);
	dst[0] = '\'';
	len = mysql_real_escape_string(app_db_internal_mysql(x), dst + 1, v ? v : "",
				       (unsigned long)len);
	dst[len + 1] = '\'';
	dst[len + 2] = '\0';
	return 0;
}

/* The TLS options as app_db_replication_source says (db.h); every option
 * written, so nothing of an inherited set-up carries over. */
static int tls_clause(char *dst, size_t cap, app_db *scratch, app_db_internal_conn *x,
		      const app_replay_source *src)
{
	char path[TEXT_LIT_MAX + 1] = "", lit[2 * TEXT_LIT_MAX + 3];
	bool verify = src->tls_mode >= APP_TLS_VERIFY_CA, is_dir = false;
	int rc;

	if (src->tls_mode < APP_TLS_REQUIRED) {
		snprintf(dst, cap, ", MASTER_SSL = 0, MASTER_SSL_CA = '', MASTER_SSL_CAPATH "
				   "= '', MASTER_SSL_VERIFY_SERVER_CERT = 0");
		return 0;
	}
	if (verify && src->ca_path)
		ss_strlcpy(path, src->ca_path, sizeof(path));
	else if (verify && (rc = app_db_server_ca(path, sizeof(path), &is_dir, scratch)) < 0)
		return rc;
	if (verify && !path[0])
		return ss_error_set(SS_EINVALID,
				    "%s: tls.mode %s: no CA path given and the scratch "
				    "server has no ssl_ca or ssl_capath to verify the "
				    "source's certificate with",
				    app_db_internal_where(x), app_tls_mode_name(src->tls_mode));
	if ((rc = text_literal(lit, sizeof(lit), x, path, "the CA path")) < 0)
		return rc;
	snprintf(dst, cap,
		 ", MASTER_SSL = 1, MASTER_SSL_CA = %s, MASTER_SSL_CAPATH = %s, "
		 "MASTER_SSL_VERIFY_SERVER_CERT = %d",
		 is_dir ? "''" : lit, is_dir ? lit : "''",
		 src->tls_mode == APP_TLS_VERIFY_IDENTITY);
	return 0;
}

/* CHANGE MASTER 'snapstage_replay' TO the source; the statement (with the
 * password) is wiped, and never in a message. */
static int change_master(app_db *scratch, app_db_internal_conn *x,
			 const app_replay_source *src)
{
	char h[2 * TEXT_LIT_MAX + 3], u[sizeof(h)], p[sizeof(h)], tls[3 * sizeof(h)];
	char sql[SQL_MAX + 3 * sizeof(h) + sizeof(tls)];
	int rc;

	if ((rc = text_literal(h, sizeof(h), x, src->host, "the source's host")) < 0 ||
	    (rc = text_literal(u, sizeof(u), x, src->user, "the replication user")) < 0 ||
	    (rc = tls_clause(tls, sizeof(tls), scratch, x, src)) < 0 ||
	    (rc = text_literal(p, sizeof(p), x, src->password,
			       "the replication password")) < 0)
		goto done;
	snprintf(sql, sizeof(sql),
		 "CHANGE MASTER " CONN " TO MASTER_HOST = %s, MASTER_PORT = %d, "
		 "MASTER_USER = %s, MASTER_PASSWORD = %s, MASTER_USE_GTID = slave_pos, "
		 "MASTER_CONNECT_RETRY = %d%s",
		 h, src->port, u, p, CONNECT_RETRY_S, tls);
	rc = exec_as(x, sql, "CHANGE MASTER " CONN " TO (the replay source)", NULL);
done:
	ss_wipe(p, sizeof(p));
	ss_wipe(sql, sizeof(sql));
	return rc;
}

static int start_until(app_db_internal_conn *x, const app_gtid_pos *target)
{
	char lit[LIT_MAX], sql[SQL_MAX + LIT_MAX];
	int rc;

	if ((rc = pos_literal(lit, sizeof(lit), target)) < 0)
		return rc;
	snprintf(sql, sizeof(sql), "START SLAVE " CONN " UNTIL master_gtid_pos = %s", lit);
	return exec(x, sql);
}

/* A scratch server whose data is past the base must not replay from it. */
static int check_at_base(const scratch_state *s, const app_gtid_pos *base,
			 app_db_internal_conn *x)
{
	char b[APP_GTID_TEXT_MAX], have[APP_GTID_TEXT_MAX];
	const app_gtid_pos *pos = NULL;
	const char *what = "", *why = NULL;

	if (s->log_bin && !app_gtid_pos_not_after(&s->binlog_pos, base, &why)) {
		pos = &s->binlog_pos;
		what = "@@gtid_binlog_pos";
	} else if (!app_gtid_pos_not_after(&s->slave_pos, base, &why)) {
		pos = &s->slave_pos;
		what = "@@gtid_slave_pos";
	}
	if (!pos)
		return 0;
	(void)app_gtid_pos_format(b, sizeof(b), base);
	(void)app_gtid_pos_format(have, sizeof(have), pos);
	return ss_error_set(SS_ECONFLICT,
			    "%s: the scratch server's %s %.1000s is past the base "
			    "%.1000s (%s): its data holds events after the base, "
			    "which a replay would apply twice",
			    app_db_internal_where(x), what, have, b, why ? why : "");
}

static int setup_fresh(app_db *scratch, app_db_internal_conn *x, const scratch_state *s,
		       const app_replay_source *src, const app_gtid_pos *base,
		       const app_gtid_pos *target)
{
	char lit[LIT_MAX], sql[SQL_MAX + LIT_MAX], name[2 * APP_DB_NAME_MAX + 3];
	size_t i;
	int rc;

	if ((rc = check_at_base(s, base, x)) < 0 || (rc = exec(x, "STOP ALL SLAVES")) < 0)
		return rc;
	/* an inherited connection to the same host:port would make CHANGE
	 * MASTER fail (1934); none may start again either */
	for (i = 0; i < s->n_conns; i++) {
		if ((rc = text_literal(name, sizeof(name), x, s->conns[i],
				       "a connection name")) < 0)
			return rc;
		snprintf(sql, sizeof(sql), "RESET SLAVE %s ALL", name);
		if ((rc = exec(x, sql)) < 0)
			return rc;
	}
	if ((rc = pos_literal(lit, sizeof(lit), base)) < 0)
		return rc;
	snprintf(sql, sizeof(sql), "SET GLOBAL gtid_slave_pos = %s", lit);
	if ((rc = exec(x, sql)) < 0 || (rc = change_master(scratch, x, src)) < 0)
		return rc;
	return start_until(x, target);
}

/* A replay set up before: left alone while it runs toward this source;
 * otherwise pointed at the source again and started from where it is. */
static int resume(app_db *scratch, app_db_internal_conn *x, const scratch_state *s,
		  const app_replay_source *src, const app_gtid_pos *target)
{
	bool same = strcmp(s->ours_host, src->host) == 0 && s->ours_port == src->port;
	int rc;

	if (s->ours_running && same)
		return 0;
	if (!s->ours_running && app_gtid_pos_reached(&s->slave_pos, target))
		return 0;
	if ((rc = exec(x, "STOP SLAVE " CONN)) < 0 ||
	    (rc = change_master(scratch, x, src)) < 0)
		return rc;
	return start_until(x, target);
}

int app_replay_start(app_db *scratch, const app_replay_source *src,
		     const app_gtid_pos *base, const app_gtid_pos *target)
{
	char b[APP_GTID_TEXT_MAX], t[APP_GTID_TEXT_MAX];
	app_db_internal_conn *x = NULL;
	source_facts *f = NULL;
	scratch_state *s = NULL;
	const char *why = NULL;
	int rc;

	if (!app_gtid_pos_not_after(base, target, &why)) {
		(void)app_gtid_pos_format(b, sizeof(b), base);
		(void)app_gtid_pos_format(t, sizeof(t), target);
		return ss_error_set(SS_EINVALID,
				    "the replay target %.1000s is not after the base "
				    "%.1000s: %s",
				    t, b, why ? why : "");
	}
	f = calloc(1, sizeof(*f));
	s = calloc(1, sizeof(*s));
	if (!f || !s) {
		rc = ss_error_set(SS_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((rc = read_source(f, src)) < 0 || (rc = check_domains(f, base, target)) < 0 ||
	    (rc = open_bounded(&x, scratch)) < 0 || (rc = read_scratch(s, x)) < 0 ||
	    (rc = fix_server_id(x, s, f)) < 0)
		goto cleanup;
	rc = s->ours ? resume(scratch, x, s, src, target)
		     : setup_fresh(scratch, x, s, src, base, target);
cleanup:
	app_db_internal_close(x);
	free(f);
	free(s);
	return rc;
}

/* ---- progress and the end ----------------------------------------------- */

static int read_slave_pos(app_gtid_pos *out, char *text, size_t cap,
			  app_db_internal_conn *x)
{
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int rc = query_row(&res, &row, x, "SELECT @@gtid_slave_pos", NULL);

	if (rc == 0 && !row)
		rc = ss_error_set(SS_ERROR, "%s: no @@gtid_slave_pos", app_db_internal_where(x));
	if (rc == 0)
		ss_strlcpy(text, row[0] ? row[0] : "", cap);
	if (rc == 0 && out)
		rc = pos_of(out, text, "@@gtid_slave_pos", x);
	mysql_free_result(res);
	return rc;
}

static int poll_on(app_replay_progress *out, app_db_internal_conn *x,
		   const app_gtid_pos *target)
{
	static const char sql[] = "SHOW SLAVE " CONN " STATUS";
	char slave_pos[APP_DB_GTID_MAX];
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	unsigned int err = 0;
	app_replay_row r;
	int rc;

	/* the status first, the position after: the SQL thread commits its
	 * last group before it stops, so a stop seen here is in the position
	 * read next. (The other order read a stop between the two as one
	 * short of the target: FAILED; test_replay's test_poll_at_the_stop.) */
	if ((rc = query_row(&res, &row, x, sql, &err)) < 0)
		return err == WARN_NO_MASTER_INFO
			       ? ss_error_set(SS_ENOTFOUND, "%s: no replay is set up",
					      app_db_internal_where(x))
			       : rc;
	if ((rc = read_slave_pos(NULL, slave_pos, sizeof(slave_pos), x)) < 0) {
		mysql_free_result(res);
		return rc;
	}
	r = (app_replay_row){
		.io_running = col(res, row, "Slave_IO_Running"),
		.sql_running = col(res, row, "Slave_SQL_Running"),
		.last_io_errno = col(res, row, "Last_IO_Errno"),
		.last_io_error = col(res, row, "Last_IO_Error"),
		.last_sql_errno = col(res, row, "Last_SQL_Errno"),
		.last_sql_error = col(res, row, "Last_SQL_Error"),
		.relay_log_space = col(res, row, "Relay_Log_Space"),
		.seconds_behind_master = col(res, row, "Seconds_Behind_Master"),
		.ddl_groups = col(res, row, "Slave_DDL_Groups"),
		.non_transactional_groups = col(res, row, "Slave_Non_Transactional_Groups"),
		.transactional_groups = col(res, row, "Slave_Transactional_Groups"),
		.gtid_slave_pos = slave_pos,
	};
	if (!row)
		rc = ss_error_set(SS_ENOTFOUND, "%s: no replay is set up",
				  app_db_internal_where(x));
	else if (app_replay_classify(out, &r, target) != 0)
		rc = ss_error_set(SS_ERROR, "%s: %s: a value does not parse",
				  app_db_internal_where(x), sql);
	mysql_free_result(res);
	return rc;
}

int app_replay_poll(app_replay_progress *out, app_db *scratch, const app_gtid_pos *target)
{
	app_db_internal_conn *x = NULL;
	int rc;

	if ((rc = open_bounded(&x, scratch)) == 0)
		rc = poll_on(out, x, target);
	app_db_internal_close(x);
	return rc;
}

/* Whether `pos` holds exactly target's GTID in each of target's domains (a
 * "D-S-0" entry: D absent or at 0); the first domain that does not, else
 * -1. */
static int64_t first_mismatch(const app_gtid_pos *pos, const app_gtid_pos *target)
{
	size_t i;

	for (i = 0; i < target->n; i++) {
		const app_gtid *t = &target->g[i], *p = app_gtid_pos_find(pos, t->domain);

		if (t->seq == 0 ? (p && p->seq != 0)
				: (!p || p->seq != t->seq || p->server != t->server))
			return t->domain;
	}
	return -1;
}

/* The final check: gtid_slave_pos, and the binary log with
 * log_slave_updates, exactly the target. */
static int check_exact(char *msg, size_t cap, const scratch_state *s,
		       const app_gtid_pos *target, app_db_internal_conn *x)
{
	char t[APP_GTID_TEXT_MAX], sp[APP_GTID_TEXT_MAX], bp[APP_GTID_TEXT_MAX];
	int64_t d_slave = first_mismatch(&s->slave_pos, target), d_bin = -1;

	if (s->log_bin && s->log_slave_updates)
		d_bin = first_mismatch(&s->binlog_pos, target);
	if (d_slave < 0 && d_bin < 0) {
		if (cap)
			msg[0] = '\0';
		return 0;
	}
	(void)app_gtid_pos_format(t, sizeof(t), target);
	(void)app_gtid_pos_format(sp, sizeof(sp), &s->slave_pos);
	(void)app_gtid_pos_format(bp, sizeof(bp), &s->binlog_pos);
	snprintf(msg, cap,
		 "the replay ended at gtid_slave_pos %.900s (gtid_binlog_pos %.900s), "
		 "not exactly the target %.900s (GTID domain %" PRId64 ")",
		 sp, bp, t, d_slave >= 0 ? d_slave : d_bin);
	return ss_error_set(SS_ECONFLICT, "%s: %s", app_db_internal_where(x), msg);
}

int app_replay_finish(app_db *scratch, const app_gtid_pos *target, char *msg, size_t cap)
{
	app_db_internal_conn *x = NULL;
	app_replay_progress p;
	scratch_state *s = calloc(1, sizeof(*s));
	int rc;

	if (cap)
		msg[0] = '\0';
	if (!s)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if ((rc = open_bounded(&x, scratch)) < 0)
		goto cleanup;
	rc = poll_on(&p, x, target);
	if (rc == 0 && p.state != APP_REPLAY_REACHED) {
		snprintf(msg, cap, "the replay has not reached its target (%s)",
			 p.state == APP_REPLAY_RUNNING ? "running" : p.why);
		rc = ss_error_set(SS_EINVALID, "%s: %s", app_db_internal_where(x), msg);
		goto cleanup;
	}
	if (rc == 0 && ((rc = exec(x, "STOP SLAVE " CONN)) < 0 ||
			(rc = exec(x, "RESET SLAVE " CONN " ALL")) < 0))
		goto cleanup;
	if (rc < 0 && rc != SS_ENOTFOUND) /* SS_ENOTFOUND: reset already */
		goto cleanup;
	if ((rc = read_scratch(s, x)) == 0)
		rc = check_exact(msg, cap, s, target, x);
	if (rc < 0 && cap && !msg[0])
		ss_strlcpy(msg, ss_error_last()->message, cap);
cleanup:
	app_db_internal_close(x);
	free(s);
	return rc;
}
