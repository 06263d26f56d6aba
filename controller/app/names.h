/*
 * names.h — the deterministic names snapstage gives the objects it creates,
 * so that every create is idempotent: a retry, a restart or a new leader
 * computes the same name, finds the object already there and carries on,
 * instead of making a second one.
 *
 * - A scheduled Backup:      <schedule>-<YYYYMMDDhhmm> (UTC, the scheduled time;
 *                             at most 63, as it is also a label value)
 * - A Backup's snapshot:     <backup>-<volume>
 * - A restored claim:        <restore>-<volume>
 *
 * Kubernetes names are DNS subdomains (at most 253 characters, but each
 * dot-separated part at most 63) and label values at most 63, so the names
 * made here are at most 63 characters: valid as both. When the natural name
 * is longer it is cut and a short stable hash of the whole natural name is
 * appended ("-" + 8 hex digits), so two long names that share a prefix
 * still differ.
 *
 * Pure functions. Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_APP_NAMES_H
#define SNAPSTAGE_APP_NAMES_H

#include <stddef.h>
#include <stdint.h>

#define APP_NAME_MAX 253
#define APP_NAME_BUF (APP_NAME_MAX + 1)
#define APP_LABEL_VALUE_MAX 63

/* Joins `a` and `b` with '-' into `out` (APP_NAME_BUF bytes), shortened to
 * `max_len` (at most APP_NAME_MAX; 63 for names that are also label values)
 * as described above. 0, or SS_EINVALID when a part is empty. */
int app_name_join(char *out, size_t max_len, const char *a, const char *b);

/* The Backup a schedule makes for the run due at `scheduled_ns` (wall-clock
 * nanoseconds; the minute is what counts). At most 63 characters, because
 * a Backup's name is also the value of the snapstage.io/backup label on its
 * VolumeSnapshots. */
int app_name_scheduled_backup(char *out, const char *schedule, int64_t scheduled_ns);

/* The VolumeSnapshot of `volume` in `backup` (at most 63 characters). */
int app_name_backup_snapshot(char *out, const char *backup, const char *volume);

#endif
