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
 * Invariants:
 *   - Nothing but replication writes to the scratch server before the
 *     final check: every statement here runs with sql_log_bin=0 where it
 *     could log, and none creates users, grants or tables (each would
 *     consume a GTID and could shadow a real event).
 *   - The end state is exact or an error: @@gtid_slave_pos (and, with
 *     log_slave_updates, @@gtid_binlog_pos) equals the target in every
 *     domain the target names; anything else is SS_ECONFLICT with both
 *     positions in the message (reason ReplayMismatch).
 *   - Every wait is bounded; credentials are never in a message.
 *
 * Ownership: caller-owned structs. Thread-safety: one app_db per thread.
 */
#ifndef SNAPSTAGE_APP_DB_REPLAY_H
#define SNAPSTAGE_APP_DB_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/db/db.h"
#include "app/db/gtid.h"

/* Where to replay from: the source's address and the replication account
 * (REPLICATION SLAVE on the source). TLS as app_db_target says. */
typedef struct {
	const char *host;
	int port;
	const char *user;
	const char *password; /* never logged, never in a message */
	app_tls_mode tls_mode;
	const char *ca_pem;
} app_replay_source;

/* Starts the replay on `scratch`: STOP SLAVE, RESET SLAVE ALL, SET GLOBAL
 * gtid_slave_pos = base, CHANGE MASTER TO the source with
 * MASTER_USE_GTID=slave_pos, START SLAVE UNTIL master_gtid_pos = target.
 * Idempotent: a replay already running toward the same target is left
 * alone (a restarted controller calls this again). SS_EINVALID when target
 * is not after base (app_gtid_pos_not_after), with a message. */
int app_replay_start(app_db *scratch, const app_replay_source *src,
		     const app_gtid_pos *base, const app_gtid_pos *target);

typedef enum {
	APP_REPLAY_RUNNING, /* threads running, target not reached */
	APP_REPLAY_REACHED, /* the SQL thread stopped at the target */
	APP_REPLAY_FAILED,  /* an IO or SQL error (why says which) */
} app_replay_state;

typedef struct {
	app_replay_state state;
	app_gtid_pos reached;	       /* @@gtid_slave_pos now */
	uint64_t relay_bytes;	       /* relay log read so far (progress) */
	int64_t seconds_behind;	       /* -1 unknown */
	char why[APP_DB_MESSAGE_MAX];  /* FAILED: the error, in snapstage's
					  words (IO errors: source lost?) */
	bool io_connected;	       /* the IO thread is connected to the source */
} app_replay_progress;

/* Reads the replay's state (SHOW SLAVE STATUS, @@gtid_slave_pos). */
int app_replay_poll(app_replay_progress *out, app_db *scratch, const app_gtid_pos *target);

/* Ends a replay that REACHED its target: STOP SLAVE, RESET SLAVE ALL,
 * then checks the GTID state is exactly `target` (see invariants).
 * 0, SS_ECONFLICT (mismatch), or < 0. */
int app_replay_finish(app_db *scratch, const app_gtid_pos *target, char *msg, size_t cap);

#endif
