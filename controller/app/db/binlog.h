/*
 * binlog.h — what a replay source's binary log says, for point-in-time
 * restore: which history it still holds (the GTID state at the start of
 * its oldest binlog file: everything after that is replayable), how far it
 * reaches now, and which GTID position a wall-clock target means — per
 * domain, the last event group committed at or before the target time —
 * read with MariaDB Connector/C's replication API (mariadb_rpl.h), from
 * the events' own timestamps. No external tool, nothing written to the
 * source (a binlog dump connection only reads).
 *
 * Invariants:
 *   - Strict: a time past what the binlog reaches, or a start position the
 *     binlog no longer holds (purged), is an error with its own code, never
 *     a best effort.
 *   - Every read is bounded (the connection's timeouts, a byte/event
 *     budget, a deadline); a dump that stalls is cut.
 *   - Event groups, not events: a position is only ever a committed group's
 *     GTID (a GTID event followed by its transaction up to the XID/COMMIT,
 *     or a DDL's single query).
 *
 * Ownership: results go into caller-owned structs. Thread-safety: one
 * app_db per thread (db.h); errors go to the calling thread's ss_error.
 */
#ifndef SNAPSTAGE_APP_DB_BINLOG_H
#define SNAPSTAGE_APP_DB_BINLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/db/db.h"
#include "app/db/gtid.h"

/* What the source holds now. */
typedef struct {
	app_gtid_pos oldest;  /* the Gtid_list at the start of its oldest binlog
				 file: every GTID after it is still there */
	app_gtid_pos current; /* @@gtid_binlog_pos */
	char oldest_file[APP_DB_NAME_MAX];
	int64_t oldest_time_ns; /* the first event's timestamp of that file (0: unknown) */
	uint64_t total_bytes;	/* SHOW BINARY LOGS' sizes added up */
	size_t n_files;
	int64_t expire_seconds; /* binlog_expire_logs_seconds (0: never) */
} app_binlog_extent;

/* Reads the extent: SHOW BINARY LOGS, the oldest file's Gtid_list and
 * first event, @@gtid_binlog_pos, @@binlog_expire_logs_seconds. Needs the
 * account's BINLOG MONITOR and REPLICATION SLAVE. SS_EUNSUPPORTED when
 * binary logging is off. */
int app_binlog_extent_read(app_binlog_extent *out, app_db *db);

/* Whether a replay from `base` can find every event after it: the source
 * still holds them (in each domain of `oldest`, base's seq >= oldest's, or
 * the domain is new since). false with `why` (cap bytes) naming the domain
 * and both positions: reason BinlogsPurged. Pure. */
bool app_binlog_covers(const app_binlog_extent *e, const app_gtid_pos *base, char *why,
		       size_t cap);

/* A time target resolved. */
typedef struct {
	app_gtid_pos pos;	  /* per domain, the last group committed at or
				     before the time (domains with none keep the
				     start position's entry) */
	int64_t last_event_ns;	  /* the newest group's timestamp taken */
	uint64_t groups_scanned;  /* event groups read */
	uint64_t bytes_scanned;	  /* binlog bytes read */
	bool past_end;		  /* the target time is after the newest event:
				     pos is the current end */
} app_binlog_resolved;

/* Resolves wall-clock `target_ns` (an event's timestamp is whole seconds:
 * "at or before" compares seconds, a group committed in the target's second
 * is included) to a position, reading the binlog from `start` (the base's
 * position; SS_ENOTFOUND with reason BinlogsPurged when the source no
 * longer holds it) onwards, over a dump connection of its own to the same
 * server as `db`, until an event newer than the target or the end of the
 * log, bounded by `deadline_mono_ns` (SS_ETIMEOUT). A target in the future
 * (after the source's clock now) is SS_EINVALID (reason TargetNotReached),
 * so is one after the newest event when `strict` (the log does not reach
 * it yet). */
int app_binlog_resolve_time(app_binlog_resolved *out, app_db *db,
			    const app_gtid_pos *start, int64_t target_ns, bool strict,
			    int64_t deadline_mono_ns);

#endif
