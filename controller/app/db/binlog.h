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
#include "app/api/gtid.h"

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

/* How long app_binlog_extent_read() may take in all (it has no deadline
 * of its own): a few statements and the first three events of one file. */
#define APP_BINLOG_EXTENT_TIMEOUT_S 30

/* The most binlog bytes one app_binlog_resolve_time() reads before it
 * gives up (SS_ETOOLARGE): a bound besides the deadline, so a scan never
 * runs on for ever over a source writing faster than it reads. */
#define APP_BINLOG_SCAN_MAX_BYTES (UINT64_C(64) << 30)

/* Reads the extent: @@log_bin, SHOW BINARY LOGS, the oldest file's
 * Gtid_list and first event (its Format_description, whose timestamp is
 * the file's creation), @@gtid_binlog_pos, @@binlog_expire_logs_seconds,
 * on a connection of its own, all within APP_BINLOG_EXTENT_TIMEOUT_S
 * (SS_ETIMEOUT). Needs the account's BINLOG MONITOR and REPLICATION SLAVE.
 * SS_EUNSUPPORTED when binary logging is off. *out is written only on
 * success. */
int app_binlog_extent_read(app_binlog_extent *out, app_db *db);

/* Whether a replay from `base` can find every event after it: the source
 * still holds them. For each domain of e->oldest with a positive seq, base
 * must have that domain with seq >= oldest's (a domain base lacks counts
 * as seq 0: its events up to oldest's were purged and base never had
 * them). A domain only base has is new since the oldest file (its whole
 * history is still there): covered. Server ids are not compared (the seq
 * orders a domain's history across failovers). false with `why` (cap
 * bytes; may be NULL) naming the domain and both positions: reason
 * BinlogsPurged. Pure. */
bool app_binlog_covers(const app_binlog_extent *e, const app_gtid_pos *base, char *why,
		       size_t cap);

/* A time target resolved. */
typedef struct {
	app_gtid_pos pos;	  /* per domain, the last group committed at or
				     before the time (domains with none keep the
				     start position's entry) */
	int64_t last_event_ns;	  /* the newest group's timestamp taken */
	uint64_t groups_scanned;  /* event groups taken (at or before the
				     target) */
	uint64_t bytes_scanned;	  /* binlog bytes read */
	bool past_end;		  /* the target time is after the newest event:
				     pos is the current end */
} app_binlog_resolved;

/* Resolves wall-clock `target_ns` to a position, reading the binlog from
 * `start` (the base's position; SS_ENOTFOUND with reason BinlogsPurged
 * when the source no longer holds it: checked against the oldest file's
 * Gtid_list first, and the server's error 1236 "... purged" during the
 * dump) onwards, over a dump connection of its own to the same server as
 * `db` (the server skips what `start` already has), until a group newer
 * than the target or the end of the log, bounded by `deadline_mono_ns`
 * (SS_ETIMEOUT) and APP_BINLOG_SCAN_MAX_BYTES (SS_ETOOLARGE).
 *
 * The target second is inclusive: an event's timestamp is whole seconds,
 * so the target is cut to its second (floor) and a group committed in that
 * second is included ("14:03:12" takes everything committed up to
 * 14:03:12.999; to stop before an accident at 14:03:12 name 14:03:11, or
 * the GTID with inclusive: false). A group's time is its GTID event's
 * timestamp (the COMMIT statement's time; the row events of a transaction
 * carry their own statements' earlier times) or its last event's, the
 * later of the two. The result is a prefix of the binlog: the scan stops
 * at the first group newer than the target, so a group written after it
 * is not taken even if its own time is not newer (commit times are not
 * strictly ordered in the binlog; a replay can only stop at a prefix).
 *
 * A target whose second has not ended on the source's clock (UNIX_TIMESTAMP()
 * <= the target second) is SS_EINVALID (reason TargetNotReached): groups
 * of that second may still come. When the scan reaches the end of the log
 * without a newer group, past_end is set and pos is the log's end; with
 * `strict` that is SS_EINVALID (TargetNotReached: nothing in the log shows
 * it reached the target yet). Stray data events outside a group are
 * SS_ERROR, never skipped. *out is written only on success. */
int app_binlog_resolve_time(app_binlog_resolved *out, app_db *db,
			    const app_gtid_pos *start, int64_t target_ns, bool strict,
			    int64_t deadline_mono_ns);

/* ---- the pure parts, for tests and the fuzz target ---------------------- */

/* One event as the scan sees it: the fields of Connector/C's
 * MARIADB_RPL_EVENT it reads. `query` is not terminated; borrowed. */
typedef struct {
	int type;	    /* enum mariadb_rpl_event */
	uint32_t timestamp; /* header: seconds since the epoch */
	uint32_t server_id; /* header */
	uint16_t flags;	    /* header (LOG_EVENT_ARTIFICIAL_F...) */
	uint32_t gtid_domain; /* GTID_EVENT */
	uint64_t gtid_seq;
	uint8_t gtid_flags; /* FL_STANDALONE, FL_COMPLETED_XA... */
	const char *query;  /* QUERY_EVENT: the statement */
	size_t query_len;
} app_binlog_event;

/* What an event is to event groups. */
typedef enum {
	APP_BINLOG_META,	/* outside groups: format description, rotate,
				   Gtid_list, checkpoint, heartbeat, ... */
	APP_BINLOG_GROUP_START, /* a GTID event */
	APP_BINLOG_GROUP_BODY,	/* inside a group, not its end */
	APP_BINLOG_GROUP_END,	/* the XID, the COMMIT/ROLLBACK query, a
				   standalone group's query, XA PREPARE */
	APP_BINLOG_STRAY,	/* a data event outside any group, or a GTID
				   event inside one: the stream is not what
				   a GTID binlog is */
} app_binlog_role;

/* The role of `ev` given whether a group is open and whether it is
 * standalone (its GTID event had FL_STANDALONE or FL_COMPLETED_XA: its
 * first query ends it). Pure. */
app_binlog_role app_binlog_role_of(bool in_group, bool standalone, const app_binlog_event *ev);

/* The scan's state: per domain, the last group at or before the target. */
typedef struct {
	app_gtid_pos pos;     /* starts as the start position */
	int64_t target_s;     /* the target second (inclusive) */
	bool in_group, standalone;
	app_gtid cur;	      /* the open group's GTID */
	int64_t cur_time;     /* its time so far (seconds) */
	uint64_t groups;      /* groups taken */
	int64_t last_time;    /* the newest time of a group taken; 0: none */
	bool done;	      /* a group newer than the target was seen:
				 stop reading (file headers never count) */
} app_binlog_fold;

void app_binlog_fold_init(app_binlog_fold *f, const app_gtid_pos *start, int64_t target_s);

/* Feeds one event: 0 to go on (f->done says the target is passed and the
 * rest need not be read), SS_ERROR with a message for a stray event, or
 * SS_ETOOLARGE when a domain more than APP_GTID_MAX_DOMAINS appears. Once
 * done, further events are ignored. Pure. */
int app_binlog_fold_event(app_binlog_fold *f, const app_binlog_event *ev);

/* The target second of `target_ns` (floor, also before the epoch). */
int64_t app_binlog_target_second(int64_t target_ns);

#endif
