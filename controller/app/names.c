/*
 * names.c — see names.h.
 */
#include "app/names.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/error.h"

#define HASH_LEN 8 /* hex digits */

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
	keep = max_len - HASH_LEN - 1;
	while (keep > 0 && (full[keep - 1] == '-' || full[keep - 1] == '.'))
		keep--;
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

int app_name_backup_snapshot(char *out, const char *backup, const char *volume)
{
	return app_name_join(out, APP_LABEL_VALUE_MAX, backup, volume);
}
