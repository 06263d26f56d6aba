/*
 * pitr_window.h — what a BackupSchedule's Backups and its primary's binary
 * log let a point-in-time Restore reach (status.pointInTime, the condition
 * PointInTimeCoverage, the metric snapstage_pitr_window_seconds), pure:
 * the reconciler (schedule.c) reads the world and passes plain data.
 *
 * The rules (docs/api.md "Point-in-time coverage"):
 *   - a base is one of the schedule's own Backups that is Complete, not
 *     Restorable False, not being deleted, with a recorded GTID position;
 *   - a base is covered when the primary's binlog still holds every group
 *     after its position (binlog.h app_binlog_covers against the start of
 *     the oldest binlog file). recoverableFrom is the data time of the
 *     oldest covered base (its position orders it: a newer base is at or
 *     after an older one), recoverableTo the time of the check that found
 *     it; any instant between is a replayable target;
 *   - True (Covered) when the newest base is covered and, with a binlog
 *     expiry, the time since the newest base is within it; False
 *     BinlogRetentionShort when it is not (the events right after the
 *     newest base are in files old enough to be purged: the window is
 *     still reported, it is about to go); False BinlogsPurged when the
 *     newest base is not covered (no window); False BinlogDisabled
 *     (log_bin off); False NoBackup (no base); Unknown when the check
 *     could not be made (PrimaryNotFound, PrimaryUnreachable,
 *     PrivilegeMissing, CheckFailed), keeping the window the last check
 *     found (recoverableTo says when that was);
 *   - between checks, a base that went (retention, a delete) moves
 *     recoverableFrom to the oldest remaining base after it, judged by the
 *     binlog start the last check read (the log only loses files, so a
 *     later base covered then is still judged covered until the next
 *     check); app_pitr_window_decide() says which base went and what
 *     recoverableFrom became, for status and an Event;
 *   - the check is due checkIntervalSeconds (default 300) after the last one,
 *     or as soon as a base completed after the last check.
 *
 * Thread-safety: reentrant. Nothing is allocated; strings are borrowed
 * from the inputs.
 */
#ifndef SNAPSTAGE_APP_SCHEDULE_PITR_WINDOW_H
#define SNAPSTAGE_APP_SCHEDULE_PITR_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/api/gtid.h"

#define APP_PITR_CHECK_INTERVAL_SECONDS 300
#define APP_PITR_CONDITION "PointInTimeCoverage"
#define APP_PITR_REASON_COVERED "Covered"
#define APP_PITR_REASON_PURGED "BinlogsPurged"
#define APP_PITR_REASON_RETENTION_SHORT "BinlogRetentionShort"
#define APP_PITR_REASON_DISABLED "BinlogDisabled"
#define APP_PITR_REASON_NO_BACKUP "NoBackup"
#define APP_PITR_REASON_NO_PRIMARY "PrimaryNotFound"
#define APP_PITR_REASON_UNREACHABLE "PrimaryUnreachable"
#define APP_PITR_REASON_PRIVILEGE "PrivilegeMissing"
#define APP_PITR_REASON_CHECK_FAILED "CheckFailed"
#define APP_PITR_MESSAGE_MAX 768

/* One of the schedule's own Backups. */
typedef struct {
	const char *name;
	int64_t data_ns;       /* when its data is from (lock acquired, ...) */
	int64_t completion_ns; /* status.completionTime; 0: none */
	bool usable;	       /* Complete, not Restorable False, not deleting */
	bool has_pos;	       /* pos parsed from its recorded position */
	app_gtid_pos pos;
} app_pitr_backup;

typedef enum {
	APP_PITR_CHECK_NONE, /* no check this time: judge by `prev` */
	APP_PITR_CHECK_OK,   /* the fields below are the primary's */
	APP_PITR_CHECK_BINLOG_OFF,
	APP_PITR_CHECK_FAILED /* unknown_reason and detail say why */
} app_pitr_check_result;

typedef struct {
	app_pitr_check_result result;
	const char *unknown_reason; /* FAILED: an APP_PITR_REASON_* of Unknown */
	const char *detail;	    /* FAILED: the error's message */
	const char *primary;	    /* the Pod checked; may be NULL */
	int64_t checked_ns;
	app_gtid_pos oldest; /* OK: the oldest binlog file's start */
	const char *oldest_file;
	int64_t expire_seconds; /* OK: 0 never */
} app_pitr_check;

/* status.pointInTime as last written (and the condition's status). */
typedef struct {
	const char *base;	/* the Backup recoverableFrom is from; NULL */
	int64_t from_ns, to_ns; /* 0: unset */
	bool has_oldest;	/* binlogStart was written */
	app_gtid_pos oldest;
	int64_t expire_seconds;
	bool was_true; /* the condition was True */
} app_pitr_prev;

typedef enum { APP_PITR_TRUE, APP_PITR_FALSE, APP_PITR_UNKNOWN } app_pitr_status;

typedef struct {
	app_pitr_status status;
	const char *reason;
	char message[APP_PITR_MESSAGE_MAX];
	long base;		/* index of the base of the window; -1: none */
	int64_t from_ns, to_ns; /* 0: no window */
	/* A base that went since the last status moved recoverableFrom:
	 * its name (borrowed from prev) and the new recoverableFrom; NULL. */
	const char *base_lost;
	bool window_changed; /* from, to or the base differ from prev */
} app_pitr_window;

/* The decision. `in` NULL or result NONE: no new check (the window
 * re-judged from prev, only for bases gone); then status/reason keep what
 * prev had is the caller's part (out->reason NULL). Never fails. */
void app_pitr_window_decide(app_pitr_window *out, const app_pitr_backup *bs, size_t n,
			    const app_pitr_check *in, const app_pitr_prev *prev,
			    int64_t now_ns);

/* Whether a check is due: none yet, `interval_s` (spec.pointInTime.
 * checkIntervalSeconds, default APP_PITR_CHECK_INTERVAL_SECONDS) since
 * `last_check_ns`, or a usable base completed after it. */
bool app_pitr_check_due(const app_pitr_backup *bs, size_t n, int64_t last_check_ns,
			int64_t now_ns, int interval_s);

/* When the next check falls due (absolute), for the requeue. */
int64_t app_pitr_next_check_ns(int64_t last_check_ns, int interval_s);

/* The metric's value: to - from in seconds, 0 without a window. */
double app_pitr_window_seconds(int64_t from_ns, int64_t to_ns);

/* "True" / "False" / "Unknown". */
const char *app_pitr_status_name(app_pitr_status s);

#endif
