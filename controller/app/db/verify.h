/*
 * verify.h — the SQL checks of a restore verification, run on a scratch
 * server started from a Backup's restored claims (never on a live one):
 * CHECK TABLE over every base table, and the user's read-only checks.
 * The position check needs no code here: app_db_probe() reads the three
 * GTID positions and the verify controller compares them (pure).
 *
 * Invariants:
 *   - Nothing here writes: user checks run inside START TRANSACTION READ
 *     ONLY on a session SET TRANSACTION READ ONLY, one statement (no
 *     multi-statements), bounded by SET STATEMENT max_statement_time, and
 *     are rolled back.
 *   - Every bound is honoured: at most max_tables tables, nothing started
 *     after the deadline (what was not checked is counted, never called
 *     OK).
 *   - Messages never name the account or quote a server text that may
 *     (db.h app_db_error_words); a user check's own SQL is the user's and
 *     may be quoted.
 *
 * Ownership: results are written into caller-owned structs; nothing is
 * allocated that outlives a call. Thread-safety: one app_db per thread, as
 * db.h; errors go to the calling thread's ss_error.
 */
#ifndef SNAPSTAGE_APP_DB_VERIFY_H
#define SNAPSTAGE_APP_DB_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/api/api.h"
#include "app/db/db.h"

#define APP_DB_VERIFY_CORRUPT_MAX 1024

/* What CHECK TABLE found over the scratch server's base tables. */
typedef struct {
	size_t n_tables;  /* base tables found (all schemas but
			     information_schema, performance_schema, sys) */
	size_t n_checked; /* CHECK TABLE ran and said OK or corrupt */
	size_t n_skipped; /* not checked: past max_tables or the deadline, or
			     an engine other than InnoDB, Aria, MyISAM */
	size_t n_corrupt;
	/* "`db`.`t1` (Msg_text), `db`.`t2` (...)" for the first corrupt
	 * tables, cut to fit with ", ..." */
	char corrupt[APP_DB_VERIFY_CORRUPT_MAX];
	/* The server went away during CHECK TABLE (a crash on a bad page):
	 * the table being checked counts as corrupt, the rest as skipped. */
	bool server_lost;
} app_db_table_checks;

/* CHECK TABLE on each base table (InnoDB, Aria, MyISAM), in schema then
 * table name order (binary), at most `max_tables` (>= 1), none started
 * after `deadline_mono_ns` (util/clock.h ss_clock_mono time; 0: none). A
 * table is corrupt when any result row has Msg_type "error" (any case),
 * when no row has Msg_type "status", or when the last "status" row's
 * Msg_text is neither "OK" nor "Table is already up to date"; also when
 * CHECK TABLE itself fails with a server error (its number is named). 0
 * with *out filled (corrupt tables are a result, not an error), or < 0
 * with a message when the connection or the table list cannot be had
 * (SS_ETIMEOUT: not by the deadline, or APP_DB_VERIFY_GRACE_SECONDS after
 * it when it has passed);
 * *out is written in both cases. Afterwards n_tables == n_checked +
 * n_skipped and n_corrupt <= n_checked.
 *
 * The checks run on a connection of their own (db is only the target),
 * with SESSION max_statement_time = 0: measured on 10.11, a CHECK TABLE
 * cut by max_statement_time (or a server-wide default of it) still
 * answers "status OK" (InnoDB, 300k rows, EXTENDED: 1.8 s whole, 0.04 s
 * cut), so the server must never cut one; the client bounds it instead.
 * With a deadline, each CHECK TABLE is abandoned at the deadline plus
 * APP_DB_VERIFY_GRACE_SECONDS (db.c's watchdog; without one, after a day):
 * that table then counts as skipped, as does every table after it, and
 * the call returns 0 (the server may go on checking it: a scratch server
 * is thrown away). The list covers TABLE_TYPE 'BASE TABLE' and 'SYSTEM
 * VERSIONED' (a base table with history); a table whose ENGINE the
 * server cannot tell (NULL: its definition would not open) is checked
 * too, and its rows say what is wrong. A lost
 * connection (any client error: 2006, 2013, or 2026 for a TLS connection
 * the server closed; measured: KILL CONNECTION under TLS) before that
 * bound is server_lost:
 * that table corrupt, the rest skipped, 0. */
#define APP_DB_VERIFY_GRACE_SECONDS 10
int app_db_check_tables(app_db_table_checks *out, app_db *db, int max_tables,
			int64_t deadline_mono_ns);

#define APP_DB_CHECK_MESSAGE_MAX 512

/* Runs user check `c` read-only, bounded by `timeout_seconds` (1..3600).
 * 0 when it ran: *passed says whether it met its expectation and `msg`
 * (cap bytes) what it returned ("3 rows; first value '42'" or why it
 * failed: "0 rows, at least 1 expected", "first value 'x' is not 'y'").
 * When the statement fails (a syntax error, a missing table, a write
 * refused, the time bound) also 0, *passed false and `msg` saying so
 * (error number and snapstage's words). < 0 only when the connection
 * itself fails (SS_ETIMEOUT when the server did not answer within
 * timeout_seconds + APP_DB_VERIFY_GRACE_SECONDS), or for a bad argument
 * (SS_EINVALID).
 *
 * How: on a connection of its own (db is only the target; whatever a
 * check does to its session goes with it), SET SESSION TRANSACTION READ
 * ONLY, START TRANSACTION READ ONLY, then "SET STATEMENT
 * max_statement_time=<timeout> FOR <sql>", then ROLLBACK. Trailing
 * semicolons and white space are dropped from `sql`; anything else is
 * sent as it is: the connection does not allow multi-statements, so
 * "SELECT 1; SELECT 2" fails with error 1064 on the server (no client-side
 * parsing that could disagree with the server's). Rows are streamed and
 * counted, not stored: only the first column of the first row is kept.
 * Measured on 10.11: SET STATEMENT takes SELECT, WITH, UNION, VALUES,
 * SHOW, EXPLAIN, DESCRIBE, CHECKSUM TABLE, HELP and CALL alike; INSERT,
 * UPDATE, DELETE, TRUNCATE, CREATE/ALTER/DROP (TABLE, DATABASE, TEMPORARY
 * TABLE), OPTIMIZE, REPAIR, GRANT and SELECT ... FOR UPDATE are refused
 * with error 1792; ANALYZE TABLE, FLUSH, SET GLOBAL and SELECT ... INTO
 * OUTFILE are not (harmless on a scratch server, which is thrown away). */
int app_db_run_check(bool *passed, char *msg, size_t cap, app_db *db,
		     const app_verify_check *c, int timeout_seconds);

/* ---- pure helpers (exposed for tests) ----------------------------------- */

#define APP_DB_VERIFY_TEXT_MAX 256

/* "`schema`.`table`" into out, every backtick in a name doubled.
 * SS_ETOOLARGE (out "") when it does not fit in cap. */
int app_db_verify_quote_table(char *out, size_t cap, const char *schema,
			      const char *table);

/* The result rows of one CHECK TABLE, folded as they come. */
typedef struct {
	bool error;				  /* a row with Msg_type "error" */
	bool has_status;			  /* a row with Msg_type "status" */
	char first_error[APP_DB_VERIFY_TEXT_MAX]; /* its Msg_text, cut */
	char last_status[APP_DB_VERIFY_TEXT_MAX]; /* the last one's Msg_text */
} app_db_check_rows;

void app_db_verify_rows_init(app_db_check_rows *r);

/* Folds one row (either may be NULL). A Msg_text that may name an account
 * (it says "denied" or holds "'@'") is replaced by snapstage's words. */
void app_db_verify_rows_add(app_db_check_rows *r, const char *msg_type,
			    const char *msg_text);

/* Whether the rows say corrupt (the rule of app_db_check_tables()); *why
 * (borrowed from r, or static) says why, or "OK". */
bool app_db_verify_rows_corrupt(const app_db_check_rows *r, const char **why);

/* Appends "`db`.`t` (why)" to the list in `list` (cap bytes, "" to start),
 * ", " between entries; an entry that does not fit ends the list with
 * ", ..." (room for it is kept) and later ones are dropped. */
void app_db_verify_note_corrupt(char *list, size_t cap, const char *table,
				const char *why);

/* The length of `sql` without trailing white space and semicolons. */
size_t app_db_verify_sql_len(const char *sql);

/* A number as MariaDB prints one: optional white space, a decimal number
 * (sign, digits, point, exponent) and optional white space, finite; the
 * whole of `len` bytes. 0 or SS_EINVALID. */
int app_db_verify_parse_number(double *out, const char *s, size_t len);

/* What a user check returned. */
typedef struct {
	uint64_t n_rows;
	bool has_value;	   /* n_rows > 0 and the result has a column */
	bool is_null;	   /* that value is SQL NULL */
	const char *value; /* its first value_kept bytes (not NUL-terminated
			      necessarily) */
	size_t value_kept;
	size_t value_len; /* its full length in bytes */
} app_db_check_result;

/* Whether `r` meets c's expectation (min_rows; equals as text, byte for
 * byte; at_least/at_most on the value as a number), with msg (cap bytes)
 * saying what it returned or why it failed. Pure. */
bool app_db_verify_evaluate(char *msg, size_t cap, const app_verify_check *c,
			    const app_db_check_result *r);

/* msg (cap bytes) for a user check's statement that failed with server or
 * client error `err`: the number and snapstage's words; the server's
 * `text` only where it cannot name the account (1054, 1064, 1146 quote
 * the user's own SQL or names in it). `timeout_s` is the check's bound. */
void app_db_verify_error_message(char *msg, size_t cap, unsigned int err,
				 const char *text, int timeout_s);

#endif
