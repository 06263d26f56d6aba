/*
 * names.h — the deterministic names snapstage gives the objects it creates,
 * so that every create is idempotent: a retry, a restart or a new leader
 * computes the same name, finds the object already there and carries on,
 * instead of making a second one. This is the one place such names (and the
 * label value that points back at a Backup) are made.
 *
 * - A scheduled Backup:      <schedule>-<YYYYMMDDhhmm> (UTC, the scheduled time;
 *                             at most 63)
 * - A Backup's snapshot:     <backup>-<volume>-<hash>            (attempt 1)
 *                            <backup>-<volume>-r<attempt>-<hash> (a retry)
 * - A restored claim:        <restore>-<volume>
 * - The snapstage.io/backup  <backup> when it has at most 63 characters, else
 *   label value:             <first 52 characters>_<hash>
 *
 * Kubernetes names are DNS subdomains (at most 253 characters, but each
 * dot-separated part at most 63) and label values at most 63, so the names
 * made here are at most 63 characters: valid as both. When the natural name
 * is longer it is cut and a short stable hash of the whole natural name is
 * appended ("-" + 8 hex digits), so two long names that share a prefix
 * still differ.
 *
 * A snapshot's name always ends in a hash of the tuple (backup, volume,
 * attempt) — 10 hex digits of 64-bit FNV-1a over the three parts, each
 * ended by a NUL byte, so ("a-b", "c") and ("a", "b-c") hash apart although
 * both read "a-b-c", and a retry of Backup "x" never meets attempt 1 of a
 * Backup named "x-r2". Names in DNS syntax have no separator that cannot
 * occur inside a part, so the readable part alone could never be
 * unambiguous; the hash is what is. The readable part is cut to fit 63.
 *
 * A label value over the 63 a label allows gets '_' before its hash: '_'
 * never occurs in an object name, so a shortened label value can never be
 * the name of another Backup.
 *
 * Pure functions. Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_APP_NAMES_H
#define SNAPSTAGE_APP_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define APP_NAME_MAX 253
#define APP_NAME_BUF (APP_NAME_MAX + 1)
#define APP_LABEL_VALUE_MAX 63
#define APP_LABEL_VALUE_BUF (APP_LABEL_VALUE_MAX + 1)
#define APP_NAME_HASH_LEN 10 /* hex digits of a snapshot name's or label's hash */

/* Joins `a` and `b` with '-' into `out` (APP_NAME_BUF bytes), shortened to
 * `max_len` (at most APP_NAME_MAX; 63 for names that are also label values)
 * as described above. 0, or SS_EINVALID when a part is empty. */
int app_name_join(char *out, size_t max_len, const char *a, const char *b);

/* The Backup a schedule makes for the run due at `scheduled_ns` (wall-clock
 * nanoseconds; the minute is what counts). At most 63 characters. */
int app_name_scheduled_backup(char *out, const char *schedule, int64_t scheduled_ns);

/* The VolumeSnapshot of `volume` in lock session `attempt` (1-based) of
 * Backup `backup`, into `out` (APP_NAME_BUF bytes): at most 63 characters,
 * different for every different (backup, volume, attempt). 0, or
 * SS_EINVALID when a part is empty or attempt < 1. */
int app_name_backup_snapshot(char *out, const char *backup, const char *volume,
			     int attempt);

/* The value of the snapstage.io/backup label on the VolumeSnapshots of
 * Backup `backup`, into `out` (APP_LABEL_VALUE_BUF bytes): the name itself
 * when it is at most 63 characters, else its first 52 characters (without
 * a trailing '-' or '.') + '_' + a hash of the whole name. 0, or
 * SS_EINVALID when the name is empty. */
int app_name_backup_label(char *out, const char *backup);

/* The suffix of a schedule's run-now Backup for run-now token `token`
 * (NULL: "") and try `attempt`: "now-" and 10 hex digits of a 64-bit hash
 * of the two, into `out` (APP_NAME_RUN_NOW_SUFFIX_BUF bytes). */
#define APP_NAME_RUN_NOW_SUFFIX_BUF 16
void app_name_run_now_suffix(char *out, const char *token, int attempt);

/* Whether `label` (a snapstage.io/backup label value; NULL: false) is the
 * one app_name_backup_label() gives Backup `backup`. */
bool app_name_backup_label_matches(const char *label, const char *backup);

#endif
