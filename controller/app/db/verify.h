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
 * table name order, at most `max_tables` (>= 1), none started after
 * `deadline_mono_ns` (util/clock.h ss_clock_mono time; 0: none). A table
 * is corrupt when any result row has Msg_type "error", or the last
 * "status" row's Msg_text is neither "OK" nor "Table is already up to
 * date". 0 with *out filled (corrupt tables are a result, not an error),
 * or < 0 with a message when the table list cannot be read; *out is
 * written in both cases. */
int app_db_check_tables(app_db_table_checks *out, app_db *db, int max_tables,
			int64_t deadline_mono_ns);

#define APP_DB_CHECK_MESSAGE_MAX 512

/* Runs user check `c` read-only, bounded by `timeout_seconds` (1..3600).
 * 0 when it ran: *passed says whether it met its expectation and `msg`
 * (cap bytes) what it returned ("3 rows; first value 42" or why it
 * failed: "0 rows, at least 1 expected", "first value 'x' is not 'y'").
 * When the statement fails (a syntax error, a missing table, a write
 * refused, the time bound) also 0, *passed false and `msg` saying so
 * (error number and snapstage's words). < 0 only when the connection
 * itself fails. */
int app_db_run_check(bool *passed, char *msg, size_t cap, app_db *db,
		     const app_verify_check *c, int timeout_seconds);

#endif
