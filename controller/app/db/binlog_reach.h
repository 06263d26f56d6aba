/*
 * binlog_reach.h — how far back a server's binary log reaches, read with
 * plain statements a Backup account may run (no binlog dump): for a
 * BackupSchedule's status.pointInTime (schedule/pitr_window.h decides what
 * it means). The dump that binlog.h's app_binlog_extent_read() uses needs
 * REPLICATION SLAVE, which the Backup account does not have; this needs
 * only BINLOG MONITOR (as the Backup's own position read does).
 *
 * Measured on MariaDB 10.11.19:
 *   - SHOW BINARY LOGS needs BINLOG MONITOR (or SUPER): without it error
 *     1227 "Access denied; you need (at least one of) the SUPER, BINLOG
 *     MONITOR privilege(s)" (quoted: it names no account);
 *   - BINLOG_GTID_POS('<file>', 4) is the Gtid_list at the start of that
 *     file (the GTID of the last group before it, per domain), as the
 *     file's Gtid_list event says ("0-1-5"), "" for a log's very first
 *     file, NULL for a file the server does not have; it needs no
 *     privilege at all;
 *   - binlog_expire_logs_seconds and expire_logs_days are one setting
 *     (setting either sets the other), so the seconds are read;
 *   - PURGE BINARY LOGS needs BINLOG ADMIN (1227 otherwise): never run.
 *
 * Invariants: read-only (SELECT and SHOW only); every exchange on a
 * connection of its own, bounded in all by APP_BINLOG_REACH_TIMEOUT_S (db.c's
 * watchdog). Thread-safety: as db.h, one app_db per thread.
 */
#ifndef SNAPSTAGE_APP_DB_BINLOG_REACH_H
#define SNAPSTAGE_APP_DB_BINLOG_REACH_H

#include <stdbool.h>
#include <stdint.h>

#include "app/api/gtid.h"
#include "app/db/db.h"

/* The whole read's bound (a few statements). */
#define APP_BINLOG_REACH_TIMEOUT_S 10

typedef struct {
	bool log_bin;	      /* @@log_bin; the rest is unset when false */
	app_gtid_pos oldest;  /* BINLOG_GTID_POS(oldest file, 4): every group
				 after it is still in the log */
	app_gtid_pos current; /* @@gtid_binlog_pos */
	char oldest_file[APP_DB_NAME_MAX];
	size_t n_files;
	uint64_t total_bytes;
	int64_t expire_seconds; /* binlog_expire_logs_seconds; 0: never */
	int64_t now_s;		/* the server's UNIX_TIMESTAMP() */
} app_binlog_reach;

/* Reads the reach of db's server into *out (written only on success).
 * log_bin false is a success (nothing else read). Errors as db.h:
 * SS_EFORBIDDEN names the privilege (BINLOG MONITOR), SS_ETIMEOUT,
 * SS_ETRANSPORT, SS_ERROR (an answer not understood). */
int app_binlog_reach_read(app_binlog_reach *out, app_db *db);

#endif
