/*
 * replay.h — replaying a source's binary log onto a scratch server up to
 * an exact GTID position, with MariaDB's own replication (no hand-written
 * event applier): the scratch server (restored from a base Backup, started
 * with --skip-slave-start, never written to before this) is pointed at the
 * source from the base's position and started UNTIL the target; progress
 * is read while it runs; once the SQL thread stops at the target,
 * replication is stopped and forgotten and the server's GTID state is
 * checked to be exactly the target.
 *
 * The replay runs on a replication connection of its own name,
 * APP_REPLAY_CONNECTION ("snapstage_replay"), never the default one: its
 * existence is the record that snapstage set the replay up (a snapshot of a
 * replica brings a default connection of its own, often to the very
 * source), so a restarted controller tells "set up, resume" from "fresh,
 * set up from the base" without writing anything to the server.
 *
 * Invariants (each measured on MariaDB 10.11, see replay.c):
 *   - Nothing but replication writes to the scratch server before the
 *     final check: none of the statements here is binary-logged (STOP/
 *     START/RESET SLAVE, CHANGE MASTER, SET GLOBAL gtid_slave_pos and
 *     server_id leave @@gtid_binlog_pos as it was), and none creates users,
 *     grants or tables. No RESET MASTER: a scratch whose binary log is past
 *     the base holds data past it, which RESET MASTER would hide.
 *   - No event is skipped silently. MariaDB skips some without an error:
 *     events written under the replica's own server_id (any server of the
 *     history, not only the source), and every event of a domain the UNTIL
 *     position does not name. So app_replay_start() refuses a target that
 *     leaves out a domain the source has events in after the base, and
 *     gives the scratch a server_id no event of the source's binary log
 *     carries (SET GLOBAL server_id; not persisted, nothing logged).
 *   - The end state is exact or an error: @@gtid_slave_pos (and, with
 *     log_slave_updates, @@gtid_binlog_pos) equals the target in every
 *     domain the target names; anything else is SS_ECONFLICT with both
 *     positions in the message (reason ReplayMismatch).
 *   - Every wait is bounded; credentials are never in a message (the
 *     replica's IO errors quote the account: never shown; CHANGE MASTER's
 *     errors may quote the statement: only the number is shown).
 *
 * Privileges: on the scratch, REPLICATION SLAVE ADMIN and REPLICA MONITOR
 * (and SUPER or equivalent for SET GLOBAL server_id); on the source, the
 * replication account needs REPLICATION SLAVE and must be able to log in
 * from the controller too: app_replay_start() reads the source's
 * @@server_id, @@gtid_binlog_pos and @@gtid_binlog_state with it.
 *
 * Ownership: caller-owned structs. Thread-safety: one app_db per thread;
 * app_replay_classify() is pure and reentrant.
 */
#ifndef SNAPSTAGE_APP_DB_REPLAY_H
#define SNAPSTAGE_APP_DB_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/db/db.h"
#include "app/api/gtid.h"

/* The replication connection a replay runs on. */
#define APP_REPLAY_CONNECTION "snapstage_replay"

/* Where to replay from: the source's address and the replication account
 * (REPLICATION SLAVE on the source). TLS as app_db_target says for
 * snapstage's own connection to the source (ca_pem); the scratch server's
 * replication uses tls_mode as app_db_replication_source says, with
 * ca_path: MariaDB reads MASTER_SSL_CA from a file on the scratch's host,
 * so a PEM in memory cannot be handed to it. */
typedef struct {
	const char *host;
	int port;
	const char *user;
	const char *password; /* never logged, never in a message */
	app_tls_mode tls_mode;
	const char *ca_pem;  /* for snapstage's connection (VerifyCA up) */
	const char *ca_path; /* a CA file on the scratch's host; NULL: the
				scratch's own ssl_ca / ssl_capath */
} app_replay_source;

/* Starts the replay on `scratch`, or resumes it:
 *   - checks: target not before base (app_gtid_pos_not_after, else
 *     SS_EINVALID); the source's domains with events after the base are
 *     all named by the target (else SS_EINVALID); the scratch's server_id
 *     is not in the source's @@gtid_binlog_state, else it is changed to one
 *     that is not (see invariants);
 *   - fresh (no APP_REPLAY_CONNECTION): the scratch's @@gtid_binlog_pos and
 *     @@gtid_slave_pos must not be past the base in any domain (else
 *     SS_ECONFLICT: its data is past the base; replaying would apply events
 *     twice, or with gtid_strict_mode fail with error 1950); then STOP ALL
 *     SLAVES, RESET SLAVE ... ALL of every connection it inherited, SET
 *     GLOBAL gtid_slave_pos = base, CHANGE MASTER 'snapstage_replay' TO the
 *     source with MASTER_USE_GTID = slave_pos, START SLAVE
 *     'snapstage_replay' UNTIL master_gtid_pos = target;
 *   - set up before: running toward the same source: left alone; stopped
 *     (a restarted scratch forgets its UNTIL), or the source moved: CHANGE
 *     MASTER again and START ... UNTIL from where it is (gtid_slave_pos is
 *     kept: it is the progress); at the target already: nothing.
 * MariaDB does not show an UNTIL position back, so "the same target" is
 * the caller's record (the resolved target in status, fixed before). */
int app_replay_start(app_db *scratch, const app_replay_source *src,
		     const app_gtid_pos *base, const app_gtid_pos *target);

typedef enum {
	APP_REPLAY_RUNNING, /* threads running, target not reached */
	APP_REPLAY_REACHED, /* the SQL thread stopped at the target */
	APP_REPLAY_FAILED,  /* an IO or SQL error (why says which) */
} app_replay_state;

/* Why a replay is FAILED (or, for SOURCE_LOST, RUNNING without a source):
 * for the caller's reason. */
typedef enum {
	APP_REPLAY_CAUSE_NONE,
	APP_REPLAY_CAUSE_SOURCE_LOST,	 /* IO: cannot reach / lost the source
					    (2003, 2013, ...); RUNNING while
					    MariaDB retries, FAILED once it
					    gave up */
	APP_REPLAY_CAUSE_BINLOGS_PURGED, /* IO 1236: the source no longer has
					    the binary logs after the base */
	APP_REPLAY_CAUSE_DIVERGED,	 /* IO 1236 otherwise: the base is not
					    in the source's history */
	APP_REPLAY_CAUSE_REFUSED,	 /* IO: the source refused the
					    account (1045, ...) or another IO
					    error */
	APP_REPLAY_CAUSE_SQL_ERROR,	 /* the SQL thread stopped on an error */
	APP_REPLAY_CAUSE_STOPPED,	 /* stopped before the target with no
					    error: start again to resume */
} app_replay_cause;

typedef struct {
	app_replay_state state;
	app_replay_cause cause;
	app_gtid_pos reached;	      /* @@gtid_slave_pos now */
	uint64_t relay_bytes;	      /* Relay_Log_Space: the relay logs now
					 (they are purged as applied: not a
					 running total) */
	uint64_t groups;	      /* event groups applied since START SLAVE
					 (Slave_DDL_Groups +
					 Slave_Non_Transactional_Groups +
					 Slave_Transactional_Groups) */
	int64_t seconds_behind;	      /* -1 unknown */
	char why[APP_DB_MESSAGE_MAX]; /* FAILED (or RUNNING without the
					 source): in snapstage's words, never
					 the server's IO error text (it names
					 the account) */
	bool io_connected;	      /* the IO thread is connected to the source */
} app_replay_progress;

/* One SHOW SLAVE STATUS row as the server printed it (NULL: SQL NULL or a
 * column it lacks), and @@gtid_slave_pos. Borrowed strings. */
typedef struct {
	const char *io_running;	 /* Slave_IO_Running: Yes, No, Connecting */
	const char *sql_running; /* Slave_SQL_Running: Yes, No */
	const char *last_io_errno, *last_io_error;
	const char *last_sql_errno, *last_sql_error;
	const char *relay_log_space, *seconds_behind_master;
	const char *ddl_groups, *non_transactional_groups, *transactional_groups;
	const char *gtid_slave_pos;
} app_replay_row;

/* Classifies `row` against `target` into *out. Pure. SS_EINVALID (out
 * untouched) when a field the decision needs does not parse. REACHED: SQL
 * thread stopped, no SQL error, gtid_slave_pos reached the target (an IO
 * error after that does not matter); FAILED: a SQL error, an IO error with
 * the IO thread stopped (1236 told purged / diverged), or stopped short of
 * the target; RUNNING otherwise (io_connected false while the IO thread
 * retries the source: cause SOURCE_LOST, why says so). */
int app_replay_classify(app_replay_progress *out, const app_replay_row *row,
			const app_gtid_pos *target);

/* Whether @@gtid_binlog_state text `state` ("0-1-9,0-2-4,1-2-3": one
 * entry per domain and server) has an entry of `server_id`. Pure. */
bool app_replay_state_has_server(const char *state, uint32_t server_id);

/* Reads the replay's state (SHOW SLAVE 'snapstage_replay' STATUS,
 * @@gtid_slave_pos). SS_ENOTFOUND when no replay is set up. */
int app_replay_poll(app_replay_progress *out, app_db *scratch, const app_gtid_pos *target);

/* Ends a replay that REACHED its target: checks it did (else SS_EINVALID,
 * nothing changed), STOP SLAVE 'snapstage_replay', RESET SLAVE
 * 'snapstage_replay' ALL, then checks the GTID state is exactly `target`
 * (see invariants). Idempotent: with the connection gone already, only the
 * check runs. 0, SS_ECONFLICT (mismatch; the positions in msg), or < 0. */
int app_replay_finish(app_db *scratch, const app_gtid_pos *target, char *msg, size_t cap);

#endif
