/*
 * verify.c — see verify.h: CHECK TABLE over a scratch server's base
 * tables, and the user's read-only checks.
 *
 * Layout: pure helpers (quoting, the CHECK TABLE rows, the corrupt list,
 * numbers, a user check's expectation and error words); then the two
 * calls, each on a connection of its own (db_internal.h) so that its read
 * bound fits the work, not the connect timeout.
 *
 * Invariants: a table is OK only when CHECK TABLE ran to its end and said
 * so; anything else is corrupt or skipped, never OK. A CHECK TABLE is
 * never cut by the server (max_statement_time cuts it short and it still
 * says OK), only abandoned by the client at the deadline, and then counted
 * skipped. No message quotes a server text that may name the account.
 * Thread-safety: as db.h, one app_db per thread; the helpers are pure and
 * reentrant.
 */
#define _GNU_SOURCE /* strcasestr() */

#include "app/db/verify.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
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
#include "util/str.h"

#define NO_DEADLINE_READ_S 86400
#define VALUE_KEEP 4096	 /* bytes of a user check's first value kept */
#define VALUE_SHOWN 64	 /* bytes of it shown in a message */
#define WHY_SHOWN 200	 /* bytes of a Msg_text in the corrupt list */
#define ELLIPSIS ", ..." /* ends a corrupt list that was cut */

/* ---- pure helpers ------------------------------------------------------- */

/* Appends `name` in backticks, each backtick doubled, at out[*n]. */
static bool quote_ident(char *out, size_t cap, size_t *n, const char *name)
{
	const char *p;

	if (*n + 1 >= cap)
		return false;
	out[(*n)++] = '`';
	for (p = name; *p; p++) {
		if (*n + (*p == '`' ? 2 : 1) >= cap)
			return false;
		if (*p == '`')
			out[(*n)++] = '`';
		out[(*n)++] = *p;
	}
	if (*n + 1 >= cap)
		return false;
	out[(*n)++] = '`';
	out[*n] = '\0';
	return true;
}

int app_db_verify_quote_table(char *out, size_t cap, const char *schema,
			      const char *table)
{
	size_t n = 0;

	if (cap > 0)
		out[0] = '\0';
	if (!quote_ident(out, cap, &n, schema) || n + 1 >= cap) {
		if (cap > 0)
			out[0] = '\0';
		return ss_error_set(SS_ETOOLARGE, "a table name is too long to quote");
	}
	out[n++] = '.';
	out[n] = '\0';
	if (!quote_ident(out, cap, &n, table)) {
		out[0] = '\0';
		return ss_error_set(SS_ETOOLARGE, "a table name is too long to quote");
	}
	return 0;
}

void app_db_verify_rows_init(app_db_check_rows *r)
{
	memset(r, 0, sizeof(*r));
}

/* A Msg_text that may name the account: privilege errors do ("... denied
 * to user 'u'@'h' ..."). */
static bool names_account(const char *text)
{
	return strcasestr(text, "denied") || strstr(text, "'@'");
}

void app_db_verify_rows_add(app_db_check_rows *r, const char *msg_type,
			    const char *msg_text)
{
	const char *text = msg_text ? msg_text : "";

	if (names_account(text))
		text = "a privilege error (the server's text is not shown, as it may "
		       "name the account)";
	if (msg_type && strcasecmp(msg_type, "error") == 0) {
		if (!r->error)
			ss_strlcpy(r->first_error, text, sizeof(r->first_error));
		r->error = true;
	} else if (msg_type && strcasecmp(msg_type, "status") == 0) {
		r->has_status = true;
		ss_strlcpy(r->last_status, text, sizeof(r->last_status));
	}
}

bool app_db_verify_rows_corrupt(const app_db_check_rows *r, const char **why)
{
	if (r->error) {
		*why = r->first_error[0] ? r->first_error : "an error row";
		return true;
	}
	if (!r->has_status) {
		*why = "CHECK TABLE gave no status";
		return true;
	}
	if (strcmp(r->last_status, "OK") != 0 &&
	    strcmp(r->last_status, "Table is already up to date") != 0) {
		*why = r->last_status[0] ? r->last_status : "an empty status";
		return true;
	}
	*why = "OK";
	return false;
}

void app_db_verify_note_corrupt(char *list, size_t cap, const char *table,
				const char *why)
{
	size_t n = strnlen(list, cap), need;
	char entry[2 * APP_DB_NAME_MAX + WHY_SHOWN + 16];
	const char *sep = n > 0 ? ", " : "";

	if (cap <= sizeof(ELLIPSIS) || n >= cap)
		return;
	/* a list that ends with the ellipsis is closed (entries end with ')') */
	if (n >= 3 && strcmp(list + n - 3, "...") == 0)
		return;
	snprintf(entry, sizeof(entry), "%s (%.*s%s)", table, WHY_SHOWN, why,
		 strlen(why) > WHY_SHOWN ? "..." : "");
	need = strlen(sep) + strlen(entry);
	/* keep room for the ellipsis after this entry */
	if (n + need + sizeof(ELLIPSIS) <= cap) {
		snprintf(list + n, cap - n, "%s%s", sep, entry);
		return;
	}
	snprintf(list + n, cap - n, "%s", n > 0 ? ELLIPSIS : &ELLIPSIS[2]);
}

size_t app_db_verify_sql_len(const char *sql)
{
	size_t n = strlen(sql);

	while (n > 0 && (sql[n - 1] == ';' || isspace((unsigned char)sql[n - 1])))
		n--;
	return n;
}

int app_db_verify_parse_number(double *out, const char *s, size_t len)
{
	char buf[128], *end = NULL;
	size_t i = 0, j = len;
	double v;

	while (i < j && isspace((unsigned char)s[i]))
		i++;
	while (j > i && isspace((unsigned char)s[j - 1]))
		j--;
	if (i == j || j - i >= sizeof(buf))
		return SS_EINVALID;
	/* strtod() also takes hex, "inf" and "nan": only decimal here */
	for (size_t k = i; k < j; k++)
		if (!isdigit((unsigned char)s[k]) && !strchr("+-.eE", s[k]))
			return SS_EINVALID;
	memcpy(buf, s + i, j - i);
	buf[j - i] = '\0';
	v = strtod(buf, &end);
	if (end == buf || *end != '\0' || !isfinite(v))
		return SS_EINVALID;
	*out = v;
	return 0;
}

/* A bound of the spec as people write it: whole numbers without a point. */
static void format_number(char *out, size_t cap, double v)
{
	if (v == floor(v) && fabs(v) < 1e15)
		snprintf(out, cap, "%.0f", v);
	else
		snprintf(out, cap, "%.17g", v);
}

/* "'value'" cut to VALUE_SHOWN bytes, or NULL. */
static void format_value(char *out, size_t cap, const app_db_check_result *r)
{
	size_t n = r->value_kept < VALUE_SHOWN ? r->value_kept : VALUE_SHOWN;

	if (r->is_null) {
		snprintf(out, cap, "NULL");
		return;
	}
	snprintf(out, cap, "'%.*s%s'", (int)n, r->value, r->value_len > n ? "..." : "");
}

/* The number test of c on r's value, into msg on failure. */
static bool number_ok(char *msg, size_t cap, const app_verify_check *c,
		      const app_db_check_result *r, const char *shown)
{
	char bound[64];
	double v;

	if (!c->has_at_least && !c->has_at_most)
		return true;
	if (r->is_null || r->value_kept < r->value_len ||
	    app_db_verify_parse_number(&v, r->value, r->value_kept) != 0) {
		snprintf(msg, cap, "first value %s is not a number", shown);
		return false;
	}
	if (c->has_at_least && v < c->at_least) {
		format_number(bound, sizeof(bound), c->at_least);
		snprintf(msg, cap, "first value %s is below the minimum %s", shown,
			 bound);
		return false;
	}
	if (c->has_at_most && v > c->at_most) {
		format_number(bound, sizeof(bound), c->at_most);
		snprintf(msg, cap, "first value %s is above the maximum %s", shown,
			 bound);
		return false;
	}
	return true;
}

bool app_db_verify_evaluate(char *msg, size_t cap, const app_verify_check *c,
			    const app_db_check_result *r)
{
	const char *rows = r->n_rows == 1 ? "row" : "rows";
	bool has_test = c->equals || c->has_at_least || c->has_at_most;
	char shown[VALUE_SHOWN + 16];

	if (r->n_rows < (uint64_t)(c->min_rows > 0 ? c->min_rows : 0)) {
		snprintf(msg, cap, "%" PRIu64 " %s, at least %d expected", r->n_rows,
			 rows, c->min_rows);
		return false;
	}
	if (!r->has_value) {
		if (has_test)
			snprintf(msg, cap, "%" PRIu64 " %s: no first value to test",
				 r->n_rows, rows);
		else
			snprintf(msg, cap, "%" PRIu64 " %s", r->n_rows, rows);
		return !has_test;
	}
	format_value(shown, sizeof(shown), r);
	if (c->equals && (r->is_null || r->value_len != strlen(c->equals) ||
			  r->value_kept < r->value_len ||
			  memcmp(r->value, c->equals, r->value_len) != 0)) {
		snprintf(msg, cap, "first value %s is not '%.*s%s'", shown, VALUE_SHOWN,
			 c->equals, strlen(c->equals) > VALUE_SHOWN ? "..." : "");
		return false;
	}
	if (!number_ok(msg, cap, c, r, shown))
		return false;
	snprintf(msg, cap, "%" PRIu64 " %s; first value %s", r->n_rows, rows, shown);
	return true;
}

/* snapstage's words for the statement errors a user check meets most;
 * NULL for the rest. `quote`: the server's text may be shown (it quotes
 * the user's own SQL or a name in it, never the account). */
static const char *check_words(unsigned int err, bool *quote)
{
	*quote = true;
	switch (err) {
	case ER_PARSE_ERROR: return "a syntax error";
	case ER_NO_SUCH_TABLE: return "a table it names does not exist";
	case ER_BAD_DB_ERROR: return "a database it names does not exist";
	case ER_BAD_FIELD_ERROR: return "a column it names does not exist";
	default: break;
	}
	*quote = false;
	switch (err) {
	case ER_NO_DB_ERROR: return "no database selected: name tables as database.table";
	case ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION:
		return "it writes, and checks run read-only";
	case ER_QUERY_INTERRUPTED: return "it was interrupted";
	default: return NULL;
	}
}

void app_db_verify_error_message(char *msg, size_t cap, unsigned int err,
				 const char *text, int timeout_s)
{
	app_db_error_words w;
	const char *words;
	bool quote = false;

	if (err == ER_STATEMENT_TIMEOUT) {
		snprintf(msg, cap,
			 "MariaDB error %u: it ran longer than its timeout of %d s "
			 "(max_statement_time)",
			 err, timeout_s);
		return;
	}
	words = check_words(err, &quote);
	if (!words) {
		app_db_error_words_of(&w, err);
		words = w.meaning && *w.meaning ? w.meaning : "the server refused it";
		quote = w.quote;
	}
	if (quote && text && *text)
		snprintf(msg, cap, "MariaDB error %u: %s: %s", err, words, text);
	else
		snprintf(msg, cap, "MariaDB error %u: %s", err, words);
}

/* ---- on a connection ---------------------------------------------------- */

static int64_t mono_ns(void)
{
	return ss_clock_mono(ss_clock_system());
}

/* The connection itself failed: lost, gone, not answering, or cut by TLS
 * (a connection killed under TLS reads as 2026, "unexpected eof"). Any
 * client error during a statement is one: the library could not finish
 * the exchange. */
static bool connection_error(unsigned int err)
{
	return (err >= CR_MIN_ERROR && err <= CR_MAX_ERROR) ||
	       (err >= CER_MIN_ERROR && err <= CER_MAX_ERROR);
}

/* Whether a connection error on x, on a call that began at t0, is the
 * client's read bound running out rather than the server going away. */
static bool read_bound_passed(app_db_internal_conn *x, int64_t t0)
{
	int64_t ms = (mono_ns() - t0) / SS_NS_PER_MS;

	return ms >= (int64_t)app_db_internal_read_timeout(x) * 1000 - 100;
}

/* A statement of snapstage's own (no result wanted); a failure is an
 * error with the number and db.c's words for it, never the server text
 * unless that is safe. */
static int run_own(app_db_internal_conn *x, const char *sql)
{
	MYSQL *m = app_db_internal_mysql(x);

	if (m && mysql_real_query(m, sql, strlen(sql)) == 0) {
		mysql_free_result(mysql_store_result(m));
		if (mysql_errno(m) == 0)
			return 0;
	}
	return app_db_internal_fail(x, sql);
}

/* ---- CHECK TABLE ---------------------------------------------------------- */

/* "`schema`.`table`": names are at most 64 characters of up to 4 bytes,
 * each byte perhaps a doubled backtick. */
#define QNAME_MAX (2 * (2 * 4 * 64 + 2) + 2)

static const char list_sql[] =
	"SELECT TABLE_SCHEMA, TABLE_NAME, ENGINE FROM information_schema.TABLES "
	"WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') AND TABLE_SCHEMA "
	"NOT IN ('information_schema', 'performance_schema', 'sys') "
	"ORDER BY BINARY TABLE_SCHEMA, BINARY TABLE_NAME";

typedef enum {
	ONE_OK,
	ONE_CORRUPT,
	ONE_LOST,      /* the server went away */
	ONE_ABANDONED, /* the client gave up at the deadline */
} one_outcome;

/* Engines CHECK TABLE is run on. NULL (the server could not open the
 * table's definition) is checked too: its rows will say what is wrong. */
static bool checkable_engine(const char *engine)
{
	return !engine || strcasecmp(engine, "InnoDB") == 0 ||
	       strcasecmp(engine, "Aria") == 0 || strcasecmp(engine, "MyISAM") == 0;
}

static int column_of(MYSQL_RES *res, const char *name)
{
	unsigned int i, n = mysql_num_fields(res);
	MYSQL_FIELD *f = mysql_fetch_fields(res);

	for (i = 0; i < n; i++)
		if (strcasecmp(f[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Folds CHECK TABLE's result rows; why (cap) on corrupt. */
static one_outcome read_rows(MYSQL_RES *res, char *why, size_t cap)
{
	int type_col = column_of(res, "Msg_type"), text_col = column_of(res, "Msg_text");
	app_db_check_rows rows;
	const char *w;
	MYSQL_ROW row;

	if (type_col < 0 || text_col < 0) {
		snprintf(why, cap, "CHECK TABLE's result has no Msg_type or Msg_text");
		return ONE_CORRUPT;
	}
	app_db_verify_rows_init(&rows);
	while ((row = mysql_fetch_row(res)))
		app_db_verify_rows_add(&rows, row[type_col], row[text_col]);
	if (!app_db_verify_rows_corrupt(&rows, &w))
		return ONE_OK;
	ss_strlcpy(why, w, cap);
	return ONE_CORRUPT;
}

/* CHECK TABLE `name` (quoted), abandoned at `bound_ns` from now (<= 0:
 * only the read timeout). */
static one_outcome check_one(app_db_internal_conn *x, const char *name, int64_t bound_ns,
			     char *why, size_t cap)
{
	MYSQL *m = app_db_internal_mysql(x);
	char sql[QNAME_MAX + 16], words[APP_DB_VERIFY_TEXT_MAX];
	MYSQL_RES *res = NULL;
	one_outcome outcome;
	unsigned int err;
	bool cut = false;

	snprintf(sql, sizeof(sql), "CHECK TABLE %s", name);
	if (!m) {
		snprintf(why, cap, "the connection was closed before CHECK TABLE");
		return ONE_LOST;
	}
	if (bound_ns > 0)
		app_db_internal_bound(x, bound_ns);
	if (mysql_real_query(m, sql, strlen(sql)) == 0)
		res = mysql_store_result(m);
	err = res ? 0 : mysql_errno(m);
	cut = app_db_internal_unbound(x);
	if (res) {
		outcome = read_rows(res, why, cap);
		mysql_free_result(res);
		return outcome;
	}
	if (cut)
		return ONE_ABANDONED;
	if (connection_error(err)) {
		snprintf(why, cap,
			 "the server went away during CHECK TABLE (MariaDB error %u)",
			 err);
		return ONE_LOST;
	}
	if (err == 0) {
		snprintf(why, cap, "CHECK TABLE returned no result");
		return ONE_CORRUPT;
	}
	app_db_verify_error_message(words, sizeof(words), err, mysql_error(m), 0);
	snprintf(why, cap, "CHECK TABLE failed: %s", words);
	return ONE_CORRUPT;
}

/* One listed table (schema, name, engine): skipped, or checked and its
 * outcome counted; *stop once nothing more may run. */
static void check_listed(app_db_table_checks *out, app_db_internal_conn *x, MYSQL_ROW row,
			 int max_tables, int64_t deadline, bool *stop)
{
	char name[QNAME_MAX], why[APP_DB_VERIFY_TEXT_MAX + 64];
	int64_t now = mono_ns();

	if (*stop || !checkable_engine(row[2]) || out->n_checked >= (size_t)max_tables ||
	    (deadline != 0 && now >= deadline) || !row[0] || !row[1] ||
	    app_db_verify_quote_table(name, sizeof(name), row[0], row[1]) != 0) {
		out->n_skipped++;
		return;
	}
	switch (check_one(x, name,
			  deadline ? deadline - now +
					     (int64_t)APP_DB_VERIFY_GRACE_SECONDS *
						     SS_NS_PER_SEC
				   : 0,
			  why, sizeof(why))) {
	case ONE_OK: out->n_checked++; return;
	case ONE_ABANDONED:
		*stop = true;
		out->n_skipped++;
		return;
	case ONE_LOST:
		*stop = true;
		out->server_lost = true;
		break;
	case ONE_CORRUPT: break;
	}
	out->n_checked++;
	out->n_corrupt++;
	app_db_verify_note_corrupt(out->corrupt, sizeof(out->corrupt), name, why);
}

/* The base tables, in order (stored: a few short columns per table). */
static int list_tables(MYSQL_RES **out, app_db_internal_conn *x)
{
	MYSQL *m = app_db_internal_mysql(x);
	app_db_error_words w;
	unsigned int err;

	if (mysql_real_query(m, list_sql, strlen(list_sql)) == 0 &&
	    (*out = mysql_store_result(m)) != NULL)
		return 0;
	err = mysql_errno(m);
	app_db_error_words_of(&w, err);
	return ss_error_set(w.code,
			    "%s: listing the tables (information_schema.TABLES): "
			    "MariaDB error %u: %s",
			    app_db_internal_where(x), err,
			    w.quote ? mysql_error(m) : w.meaning);
}

int app_db_check_tables(app_db_table_checks *out, app_db *db, int max_tables,
			int64_t deadline_mono_ns)
{
	app_db_internal_conn *x = NULL;
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	bool stop = false;
	int error;

	memset(out, 0, sizeof(*out));
	if (max_tables < 1)
		return ss_error_set(SS_EINVALID, "maxTables %d is not at least 1",
				    max_tables);
	/* The deadline is kept by a watchdog per table; reads themselves may
	 * wait long: one CHECK TABLE of a large table is one long read. */
	if ((error = app_db_internal_open(&x, db, NO_DEADLINE_READ_S)))
		goto cleanup;
	/* the list is read even past the deadline (n_tables), within grace */
	if (deadline_mono_ns != 0) {
		int64_t left = deadline_mono_ns - mono_ns();

		app_db_internal_bound(x, (left > 0 ? left : 0) +
						 (int64_t)APP_DB_VERIFY_GRACE_SECONDS *
							 SS_NS_PER_SEC);
	}
	/* never cut by the server: a cut CHECK TABLE says OK */
	if (!(error = run_own(x, "SET SESSION max_statement_time = 0")))
		error = list_tables(&res, x);
	if (app_db_internal_unbound(x))
		error = ss_error_set(SS_ETIMEOUT,
				     "%s: the table list was not read by the deadline",
				     app_db_internal_where(x));
	if (error)
		goto cleanup;
	out->n_tables = (size_t)mysql_num_rows(res);
	while ((row = mysql_fetch_row(res)))
		check_listed(out, x, row, max_tables, deadline_mono_ns, &stop);

cleanup:
	mysql_free_result(res);
	app_db_internal_close(x);
	return error;
}

/* ---- user checks ------------------------------------------------------------ */

#define BOUND_PREFIX_MAX 64 /* "SET STATEMENT max_statement_time=3600 FOR " */

/* What a user check returned, the first value copied from its row. */
typedef struct {
	app_db_check_result r;
	bool counted; /* a result set with columns was read */
	char kept[VALUE_KEEP];
} check_output;

/* Streams one result set: the rows of the first one with columns are
 * counted and its first value kept; later ones (a CALL's) are drained. */
static void read_result(check_output *o, MYSQL_RES *res)
{
	bool count = !o->counted && mysql_num_fields(res) > 0;
	MYSQL_ROW row;

	while ((row = mysql_fetch_row(res))) {
		if (!count)
			continue;
		if (o->r.n_rows == 0) {
			unsigned long *len = mysql_fetch_lengths(res);

			o->r.has_value = true;
			o->r.is_null = row[0] == NULL;
			o->r.value_len = row[0] && len ? len[0] : 0;
			o->r.value_kept =
				o->r.value_len < VALUE_KEEP ? o->r.value_len : VALUE_KEEP;
			if (o->r.value_kept)
				memcpy(o->kept, row[0], o->r.value_kept);
		}
		o->r.n_rows++;
	}
	if (count)
		o->counted = true;
}

/* Sends `sql` (len bytes) and reads every result it gives. 0, or the
 * error number the server or the library reported. */
static unsigned int run_statement(check_output *o, MYSQL *m, const char *sql, size_t len)
{
	unsigned int err;
	MYSQL_RES *res;
	int status;

	if (mysql_real_query(m, sql, (unsigned long)len) != 0)
		return mysql_errno(m);
	do {
		if (mysql_field_count(m) > 0) {
			res = mysql_use_result(m);
			if (!res)
				return mysql_errno(m);
			read_result(o, res);
			/* an error while rows streamed: max_statement_time, a
			 * lost connection */
			err = mysql_errno(m);
			mysql_free_result(res);
			if (err)
				return err;
		}
		status = mysql_next_result(m);
	} while (status == 0);
	return status > 0 ? mysql_errno(m) : 0;
}

/* The connection failed during the check: < 0, and msg says so too. */
static int check_lost(char *msg, size_t cap, app_db_internal_conn *x, unsigned int err,
		      int64_t t0)
{
	MYSQL *m = app_db_internal_mysql(x);
	int bound = app_db_internal_read_timeout(x);

	if (read_bound_passed(x, t0)) {
		snprintf(msg, cap, "no answer within %d s", bound);
		return ss_error_set(SS_ETIMEOUT,
				    "%s: a user check got no answer within %d s "
				    "(MariaDB error %u)",
				    app_db_internal_where(x), bound, err);
	}
	snprintf(msg, cap, "the connection was lost (MariaDB error %u)", err);
	/* Connector/C's own texts name the server, never the account. */
	return ss_error_set(SS_ETRANSPORT,
			    "%s: the connection was lost during a user check "
			    "(MariaDB error %u: %s)",
			    app_db_internal_where(x), err, m ? mysql_error(m) : "closed");
}

/* Runs the bounded statement inside the read-only transaction on x. */
static int run_bounded_check(bool *passed, char *msg, size_t cap, app_db_internal_conn *x,
			     const app_verify_check *c, size_t len, int timeout_seconds)
{
	char sql[APP_VERIFY_CHECK_SQL_MAX + BOUND_PREFIX_MAX];
	MYSQL *m = app_db_internal_mysql(x);
	check_output *o;
	unsigned int err;
	int64_t t0;
	int n, error = 0;

	n = snprintf(sql, sizeof(sql), "SET STATEMENT max_statement_time=%d FOR %.*s",
		     timeout_seconds, (int)len, c->sql);
	o = calloc(1, sizeof(*o));
	if (!o)
		return ss_error_set(SS_ENOMEM, "out of memory");
	o->r.value = o->kept;
	t0 = mono_ns();
	/* the server's bound, and the client's for a server that stops
	 * answering or trickles rows */
	app_db_internal_bound(x, (int64_t)app_db_internal_read_timeout(x) * SS_NS_PER_SEC);
	err = run_statement(o, m, sql, (size_t)n);
	if (app_db_internal_unbound(x))
		error = ss_error_set(SS_ETIMEOUT,
				     "%s: a user check got no answer within %d s "
				     "(MariaDB error %u)",
				     app_db_internal_where(x),
				     app_db_internal_read_timeout(x), err);
	else if (err && connection_error(err))
		error = check_lost(msg, cap, x, err, t0);
	else if (err)
		app_db_verify_error_message(msg, cap, err, mysql_error(m),
					    timeout_seconds);
	else
		*passed = app_db_verify_evaluate(msg, cap, c, &o->r);
	free(o);
	return error;
}

int app_db_run_check(bool *passed, char *msg, size_t cap, app_db *db,
		     const app_verify_check *c, int timeout_seconds)
{
	app_db_internal_conn *x = NULL;
	size_t len;
	int error;

	*passed = false;
	if (cap > 0)
		msg[0] = '\0';
	if (!c || !c->sql || timeout_seconds < 1 || timeout_seconds > 3600)
		return ss_error_set(SS_EINVALID,
				    "a user check needs SQL and a timeout in 1..3600 s");
	len = app_db_verify_sql_len(c->sql);
	if (len == 0 || len > APP_VERIFY_CHECK_SQL_MAX) {
		snprintf(msg, cap,
			 len ? "the SQL is longer than %d bytes" : "the SQL is empty",
			 APP_VERIFY_CHECK_SQL_MAX);
		return 0;
	}
	if ((error = app_db_internal_open(
		     &x, db, timeout_seconds + APP_DB_VERIFY_GRACE_SECONDS)) ||
	    (error = run_own(x, "SET SESSION TRANSACTION READ ONLY")) ||
	    (error = run_own(x, "START TRANSACTION READ ONLY")) ||
	    (error = run_bounded_check(passed, msg, cap, x, c, len, timeout_seconds)))
		goto cleanup;
	/* Closing the connection rolls back too; a failed ROLLBACK changes
	 * nothing of the check's result. */
	if (run_own(x, "ROLLBACK") != 0)
		ss_error_clear();

cleanup:
	if (error && cap > 0 && msg[0] == '\0')
		snprintf(msg, cap, "the check could not run: %s",
			 ss_error_last()->message);
	app_db_internal_close(x);
	return error;
}
