/*
 * names.c — see names.h.
 */
#include "app/api/names.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/error.h"

#define HASH_LEN 8 /* hex digits of app_name_join()'s hash */

/* FNV-1a, 32 bits: stable across builds and machines. */
static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* FNV-1a, 64 bits, over `s` and then one NUL byte: fed part after part,
 * the NUL ends each one, so no two different tuples of strings feed the
 * same bytes. */
static uint64_t fnv1a64_part(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211u;
	}
	return h * 1099511628211u; /* ^= 0, then the multiply */
}

#define FNV64_OFFSET 14695981039104346037u

/* The 10 hex digits of a 64-bit FNV-1a hash into `out` (11 bytes): its
 * bits mixed first (MurmurHash3's 64-bit finalizer, a bijection), as
 * FNV-1a alone moves the top bits little for a change in the last bytes,
 * then the top 40 bits. */
static void hash_text(char *out, uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53u;
	h ^= h >> 33;
	snprintf(out, APP_NAME_HASH_LEN + 1, "%010llx",
		 (unsigned long long)(h >> (64 - 4 * APP_NAME_HASH_LEN)));
}

/* How much of `text` to keep when at most `max` of it fits: never ending
 * in '-' or '.', which may not end a name nor sit before its hash. */
static size_t keep_len(const char *text, size_t max)
{
	size_t keep = strlen(text);

	if (keep > max)
		keep = max;
	while (keep > 0 && (text[keep - 1] == '-' || text[keep - 1] == '.'))
		keep--;
	return keep;
}

int app_name_join(char *out, size_t max_len, const char *a, const char *b)
{
	char full[2 * APP_NAME_BUF + 2];
	size_t n, keep;

	if (a == NULL || b == NULL || *a == '\0' || *b == '\0')
		return ss_error_set(SS_EINVALID, "cannot make a name from an empty part");
	if (max_len > APP_NAME_MAX)
		max_len = APP_NAME_MAX;
	if (max_len < HASH_LEN + 2)
		return ss_error_set(SS_EINVALID,
				    "a name of at most %zu characters is too short",
				    max_len);
	n = (size_t)snprintf(full, sizeof(full), "%s-%s", a, b);
	if (n < sizeof(full) && n <= max_len) {
		memcpy(out, full, n + 1);
		return 0;
	}
	/* prefix, '-', hash; the prefix must not end in '-' or '.' */
	keep = keep_len(full, max_len - HASH_LEN - 1);
	snprintf(out, APP_NAME_BUF, "%.*s-%08x", (int)keep, full, (unsigned)fnv1a(full));
	return 0;
}

int app_name_scheduled_backup(char *out, const char *schedule, int64_t scheduled_ns)
{
	time_t secs = (time_t)(scheduled_ns / SS_NS_PER_SEC);
	struct tm tm;
	char stamp[16];

	if (gmtime_r(&secs, &tm) == NULL)
		return ss_error_set(SS_EINVALID, "scheduled time out of range");
	strftime(stamp, sizeof(stamp), "%Y%m%d%H%M", &tm);
	return app_name_join(out, APP_LABEL_VALUE_MAX, schedule, stamp);
}

int app_name_backup_snapshot(char *out, const char *backup, const char *volume,
			     int attempt)
{
	char readable[2 * APP_NAME_BUF + 16], number[16], hash[APP_NAME_HASH_LEN + 1];
	uint64_t h = FNV64_OFFSET;

	if (backup == NULL || volume == NULL || *backup == '\0' || *volume == '\0')
		return ss_error_set(SS_EINVALID, "cannot make a name from an empty part");
	if (attempt < 1)
		return ss_error_set(SS_EINVALID, "attempt %d of a Backup: counted from 1",
				    attempt);
	snprintf(number, sizeof(number), "%d", attempt);
	h = fnv1a64_part(h, backup);
	h = fnv1a64_part(h, volume);
	h = fnv1a64_part(h, number);
	hash_text(hash, h);
	if (attempt == 1)
		snprintf(readable, sizeof(readable), "%s-%s", backup, volume);
	else
		snprintf(readable, sizeof(readable), "%s-%s-r%d", backup, volume, attempt);
	snprintf(out, APP_NAME_BUF, "%.*s-%s",
		 (int)keep_len(readable, APP_LABEL_VALUE_MAX - APP_NAME_HASH_LEN - 1),
		 readable, hash);
	return 0;
}

int app_name_backup_label(char *out, const char *backup)
{
	char hash[APP_NAME_HASH_LEN + 1];
	size_t n;

	if (backup == NULL || *backup == '\0')
		return ss_error_set(SS_EINVALID, "a Backup without a name has no label");
	n = strlen(backup);
	if (n <= APP_LABEL_VALUE_MAX) {
		memcpy(out, backup, n + 1);
		return 0;
	}
	hash_text(hash, fnv1a64_part(FNV64_OFFSET, backup));
	snprintf(out, APP_LABEL_VALUE_BUF, "%.*s_%s",
		 (int)keep_len(backup, APP_LABEL_VALUE_MAX - APP_NAME_HASH_LEN - 1),
		 backup, hash);
	return 0;
}

bool app_name_backup_label_matches(const char *label, const char *backup)
{
	char want[APP_LABEL_VALUE_BUF];

	if (label == NULL || backup == NULL || *backup == '\0')
		return false;
	app_name_backup_label(want, backup);
	return strcmp(label, want) == 0;
}

void app_name_run_now_suffix(char *out, const char *token, int attempt)
{
	char n[16], hash[APP_NAME_HASH_LEN + 1];

	snprintf(n, sizeof(n), "%d", attempt);
	hash_text(hash, fnv1a64_part(fnv1a64_part(FNV64_OFFSET, token ? token : ""), n));
	snprintf(out, APP_NAME_RUN_NOW_SUFFIX_BUF, "now-%s", hash);
}
