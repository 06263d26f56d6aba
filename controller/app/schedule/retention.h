/*
 * retention.h — which of a BackupSchedule's Backups retention keeps and
 * which it prunes, as one pure function over plain data. The schedule
 * controller lists the Backups, describes each one here (state, pin, in use
 * by a Restore, its time in UTC and as a local civil time in the schedule's
 * time zone, which util/tz computes), calls app_retention_decide() and then
 * deletes the PRUNE ones, or with dryRun only reports them. Nothing here
 * reads a clock, knows a time zone or talks to the API server, so every
 * rule is tested from a table (tests/unit/test_retention.c); the one
 * function over JSON, app_retention_state_of(), reads a Backup's
 * conditions.
 *
 * The rules (spec.retention in docs/api.md; restic's `forget` where that is
 * silent):
 *
 *  - Only COMPLETED Backups count toward keepLast and the bucket rules.
 *    FAILED and RUNNING ones never do. app_retention_state_of() classifies
 *    a Backup: COMPLETED is condition Complete True and Restorable not
 *    False; FAILED is Failed True, and also Complete True with Restorable
 *    False (a VolumeSnapshot of it was deleted, replaced or failed since it
 *    completed; backup_plan.h). Such a Backup cannot be restored from, so it
 *    must not take a keepLast place or a bucket, nor be the newest
 *    COMPLETED one that is never pruned, where it would displace a Backup
 *    that can be restored; keepFailed keeps it for inspection like any
 *    failed Backup, and beyond keepFailed it is pruned (also when its
 *    snapshot might become ready again).
 *  - keepLast N keeps the N newest COMPLETED Backups.
 *  - keepHourly/Daily/Weekly/Monthly/Yearly N: walking the COMPLETED
 *    Backups newest first, a Backup whose bucket (its local hour, day, ISO
 *    week, month or year) differs from the previous Backup's is the newest
 *    of a new bucket and is kept, until N buckets were kept. So a rule keeps
 *    the newest Backup of each of the N most recent buckets that have one:
 *    buckets without a Backup (gaps) are skipped, not counted. Each rule
 *    walks on its own (as restic, unlike borg: a Backup kept by keepLast
 *    still counts for keepDaily). The buckets are the caller's local civil
 *    fields, so a Backup at 23:30 UTC that is 00:30 the next day in the
 *    schedule's zone is in the next day's bucket; during a DST fall-back
 *    the repeated local hour is one bucket.
 *  - maxAge (docs/api.md: "pruned even if a keep rule would keep them"):
 *    a Backup whose time is more than maxAge before `now` is pruned, even
 *    when a rule above or keepFailed keeps it. It caps the rules; it never
 *    overrides the protections below. When maxAge is the only rule (every
 *    keep count 0, as a spec may say) it also keeps: a COMPLETED Backup not
 *    older than maxAge is kept ("within maxAge"), as restic's --keep-within
 *    — otherwise "maxAge: 90d" alone would prune everything but the newest.
 *  - keepFailed N keeps the N newest FAILED Backups (subject to maxAge);
 *    older failed ones are pruned.
 *  - Never pruned, whatever the rules and maxAge say: a Backup in use by a
 *    Restore, a pinned one (label snapstage.io/pin=true), a RUNNING one, one
 *    being verified (a restore verification in progress or just asked for:
 *    its scratch claims restore from its snapshots), the newest COMPLETED
 *    one (even when everything is older than maxAge or every count is 0),
 *    and with requireVerified the newest COMPLETED one whose verification
 *    passed (a Backup known to restore; one that is no longer Restorable
 *    is FAILED and proves nothing). These protections do not change how
 *    the rules count: a pinned COMPLETED Backup still takes a keepLast
 *    place.
 *  - retention disabled (no spec.retention): nothing is pruned.
 *  - dryRun changes no decision; the summary carries it so the caller
 *    deletes nothing and reports the PRUNE ones in status.retention.
 *
 * A kept Backup gets the first reason that applies, in this order: in use
 * by a Restore, pinned, running, being verified, newest successful backup,
 * newest verified, keepLast,
 * keepHourly, keepDaily, keepWeekly, keepMonthly, keepYearly, within maxAge,
 * keepFailed (the protections first: they explain why maxAge spared it). A
 * pruned one says "older than maxAge" when it is, else "not selected by any
 * rule" (COMPLETED) or "beyond keepFailed" (FAILED).
 *
 * Order: "newer" means a later time; equal times are ordered by name, the
 * greater name being the newer (a scheduled Backup's name ends in its UTC
 * time). Names must be unique. The result therefore does not depend on the
 * order of the input. The bucket walk assumes the civil fields never go
 * backwards as time goes forwards, which holds for one time zone.
 *
 * Ownership: the input is borrowed for the call only; decisions are written
 * into the caller's array and own their reason text (inline). The call
 * allocates one temporary array of pointers and frees it before returning.
 * Thread-safety: reentrant; errors go to the calling thread's ss_error.
 */
#ifndef SNAPSTAGE_APP_RETENTION_H
#define SNAPSTAGE_APP_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "app/api/api.h"

/* The most Backups one call decides about; more is SS_ETOOLARGE. A schedule
 * running every minute with keepLast 1440 stays far below it. */
#define APP_RETENTION_MAX_BACKUPS 4096
/* Room for the longest reason, "keepHourly 2025-03-04T10" and the like. */
#define APP_RETENTION_REASON_MAX 48

typedef enum {
	APP_RETENTION_COMPLETED, /* Complete True, Restorable not False */
	APP_RETENTION_FAILED,	 /* Failed True, or Complete with Restorable False */
	APP_RETENTION_RUNNING	 /* anything not finished */
} app_retention_state;

/* The state of `backup` (a Backup object) for the rules, from its
 * conditions as above. NULL or malformed reads as RUNNING (never pruned). */
app_retention_state app_retention_state_of(const json_t *backup);

/* Whether `backup` (a Backup object) is one that the schedule named
 * `schedule` with uid `uid` created: it carries the label
 * snapstage.io/schedule=<schedule>, and the schedule's uid either in an
 * ownerReference (backupDeletionPolicy Delete) or in the label
 * snapstage.io/schedule-uid (every Backup a schedule creates has it). The
 * label alone is not enough: anyone may put it on any Backup, and a
 * schedule deleted and made again under the same name is another schedule.
 * Only such Backups are the schedule's: counted as its runs and pruned by
 * its retention. Backups made by snapstage before the uid label existed
 * have none and are left alone (label them to put them back under
 * retention). NULL or "" for either name: false. */
bool app_retention_is_own(const json_t *backup, const char *schedule, const char *uid);

/* A local civil time in the schedule's time zone. month 1-12, day 1-31,
 * hour 0-23; iso_year/iso_week the ISO 8601 week (Monday first; week 1-53;
 * 2024-12-30 is 2025-W01). year and iso_year 1-9999. */
typedef struct {
	int year, month, day, hour;
	int iso_year, iso_week;
} app_civil_time;

/* One Backup of the schedule, as the caller read it. */
typedef struct {
	const char *name; /* borrowed; unique among the input */
	app_retention_state state;
	bool pinned;	      /* label snapstage.io/pin=true */
	bool in_use;	      /* a Restore in progress uses it */
	bool verified;	      /* its last restore verification passed */
	bool being_verified;  /* a verification runs or was just asked for */
	int64_t time_ns;      /* completion time (creation time while running),
				 UTC ns since the epoch, >= 0 */
	app_civil_time local; /* time_ns in the schedule's time zone */
} app_retention_backup;

typedef enum { APP_RETENTION_KEEP, APP_RETENTION_PRUNE } app_retention_verdict;

/* Why, as a value (the reason text adds the bucket). */
typedef enum {
	APP_RETENTION_WHY_DISABLED,    /* keep: no spec.retention */
	APP_RETENTION_WHY_IN_USE,      /* keep: "in use by a Restore" */
	APP_RETENTION_WHY_PINNED,      /* keep: "pinned" */
	APP_RETENTION_WHY_RUNNING,     /* keep: "running" */
	APP_RETENTION_WHY_VERIFYING,   /* keep: "being verified" */
	APP_RETENTION_WHY_NEWEST,      /* keep: "newest successful backup" */
	APP_RETENTION_WHY_VERIFIED,    /* keep: "newest verified" (requireVerified) */
	APP_RETENTION_WHY_LAST,	       /* keep: "keepLast" */
	APP_RETENTION_WHY_HOURLY,      /* keep: "keepHourly 2025-03-04T10" */
	APP_RETENTION_WHY_DAILY,       /* keep: "keepDaily 2025-03-04" */
	APP_RETENTION_WHY_WEEKLY,      /* keep: "keepWeekly 2025-W10" */
	APP_RETENTION_WHY_MONTHLY,     /* keep: "keepMonthly 2025-03" */
	APP_RETENTION_WHY_YEARLY,      /* keep: "keepYearly 2025" */
	APP_RETENTION_WHY_WITHIN,      /* keep: "within maxAge" (maxAge alone) */
	APP_RETENTION_WHY_FAILED,      /* keep: "keepFailed" */
	APP_RETENTION_WHY_MAX_AGE,     /* prune: "older than maxAge" */
	APP_RETENTION_WHY_UNSELECTED,  /* prune: "not selected by any rule" */
	APP_RETENTION_WHY_EXTRA_FAILED /* prune: "beyond keepFailed" */
} app_retention_why;

typedef struct {
	app_retention_verdict verdict;
	app_retention_why why;
	char reason[APP_RETENTION_REASON_MAX]; /* for status, Events and logs */
} app_retention_decision;

typedef struct {
	size_t n_keep;
	size_t n_prune;
	bool dry_run; /* rules->dry_run: report the PRUNE ones, delete none */
} app_retention_summary;

/* Decides for each of the `n` Backups; out[i] is the decision for
 * backups[i] (`out` has room for n). `rules` is the decoded spec.retention
 * (its `enabled` false: keep all); `now_ns` is UTC ns for maxAge. `summary`
 * may be NULL. Returns 0; SS_ETOOLARGE when n > APP_RETENTION_MAX_BACKUPS;
 * SS_EINVALID for bad input (NULL pointer or name, duplicate name, unknown
 * state, negative count or maxAge, time < 0, civil fields out of range),
 * with a message naming the Backup or field; SS_ENOMEM. On failure `out`
 * and `summary` are untouched. */
int app_retention_decide(app_retention_decision *out, app_retention_summary *summary,
			 const app_retention_backup *backups, size_t n,
			 const app_retention *rules, int64_t now_ns);

/* "keep" or "prune". */
const char *app_retention_verdict_name(app_retention_verdict v);

#endif
