/*
 * pitr_window.c — see pitr_window.h. Pure: no clock, no I/O.
 */
#include "app/schedule/pitr_window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/db/binlog.h"
#include "util/clock.h"
#include "util/str.h"

const char *app_pitr_status_name(app_pitr_status s)
{
	return s == APP_PITR_TRUE ? "True" : s == APP_PITR_FALSE ? "False" : "Unknown";
}

double app_pitr_window_seconds(int64_t from_ns, int64_t to_ns)
{
	if (from_ns <= 0 || to_ns <= from_ns)
		return 0;
	return (double)(to_ns - from_ns) / 1e9;
}

int64_t app_pitr_next_check_ns(int64_t last_check_ns, int interval_s)
{
	if (interval_s <= 0)
		interval_s = APP_PITR_CHECK_INTERVAL_SECONDS;
	return last_check_ns + (int64_t)interval_s * SS_NS_PER_SEC;
}

static bool base_ok(const app_pitr_backup *b)
{
	return b->usable && b->has_pos && b->name != NULL;
}

bool app_pitr_check_due(const app_pitr_backup *bs, size_t n, int64_t last_check_ns,
			int64_t now_ns, int interval_s)
{
	size_t i;

	if (last_check_ns <= 0 ||
	    now_ns >= app_pitr_next_check_ns(last_check_ns, interval_s))
		return true;
	for (i = 0; i < n; i++)
		if (base_ok(&bs[i]) && bs[i].completion_ns > last_check_ns)
			return true;
	return false;
}

/* Whether a is later than b: data time, then the greater name. */
static bool later(const app_pitr_backup *a, const app_pitr_backup *b)
{
	if (a->data_ns != b->data_ns)
		return a->data_ns > b->data_ns;
	return strcmp(a->name, b->name) > 0;
}

/* Whether the binlog starting after `oldest` holds everything after b
 * (binlog.h's rule); why (may be NULL) says what is missing. */
static bool covered(const app_pitr_backup *b, const app_gtid_pos *oldest,
		    const char *file, char *why, size_t cap)
{
	app_binlog_extent *e = calloc(1, sizeof(*e));
	bool ok;

	if (e == NULL) /* cannot tell: never claim coverage */
		return false;
	e->oldest = *oldest;
	ss_strlcpy(e->oldest_file, file ? file : "(the oldest)", sizeof(e->oldest_file));
	ok = app_binlog_covers(e, &b->pos, why, cap);
	free(e);
	return ok;
}

/* The newest base (-1: none). */
static long newest_base(const app_pitr_backup *bs, size_t n)
{
	long best = -1;
	size_t i;

	for (i = 0; i < n; i++)
		if (base_ok(&bs[i]) && (best < 0 || later(&bs[i], &bs[best])))
			best = (long)i;
	return best;
}

/* The oldest base covered by `oldest` whose data time is after
 * `after_ns` (0: any) (-1: none). */
static long oldest_covered(const app_pitr_backup *bs, size_t n,
			   const app_gtid_pos *oldest, int64_t after_ns)
{
	long best = -1;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!base_ok(&bs[i]) || bs[i].data_ns <= after_ns ||
		    (oldest && !covered(&bs[i], oldest, NULL, NULL, 0)))
			continue;
		if (best < 0 || later(&bs[best], &bs[i]))
			best = (long)i;
	}
	return best;
}

static long find_named(const app_pitr_backup *bs, size_t n, const char *name)
{
	size_t i;

	for (i = 0; name && i < n; i++)
		if (base_ok(&bs[i]) && strcmp(bs[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* No new check: the window as prev had it, its base moved on when it went. */
static void judge_prev(app_pitr_window *out, const app_pitr_backup *bs, size_t n,
		       const app_pitr_prev *prev)
{
	out->from_ns = prev->from_ns;
	out->to_ns = prev->to_ns;
	out->base = find_named(bs, n, prev->base);
	if (prev->base == NULL || prev->from_ns <= 0 || out->base >= 0)
		return;
	out->base_lost = prev->base;
	out->base = oldest_covered(bs, n, prev->has_oldest ? &prev->oldest : NULL,
				   prev->from_ns);
	/* A base newer than the last check's time was never found covered, and
	 * would make recoverableFrom later than recoverableTo: no window until
	 * the next check says. Compared in whole seconds: status times have
	 * whole seconds, a Backup's data time may have a fraction. */
	if (out->base >= 0 &&
	    bs[out->base].data_ns / SS_NS_PER_SEC > prev->to_ns / SS_NS_PER_SEC)
		out->base = -1;
	out->from_ns = out->base >= 0 ? bs[out->base].data_ns : 0;
	out->to_ns = out->base >= 0 ? prev->to_ns : 0;
}

/* A check that found the binlog (OK): the window and the verdict. */
static void judge_check(app_pitr_window *out, const app_pitr_backup *bs, size_t n,
			const app_pitr_check *in)
{
	char why[APP_PITR_MESSAGE_MAX / 2], t[SS_TIME_RFC3339_MAX];
	long newest = newest_base(bs, n);
	const app_pitr_backup *nb = newest >= 0 ? &bs[newest] : NULL;

	out->status = APP_PITR_FALSE;
	if (nb == NULL) {
		out->reason = APP_PITR_REASON_NO_BACKUP;
		snprintf(
			out->message, sizeof(out->message),
			"no Complete, restorable Backup of this schedule with a recorded "
			"GTID position: nothing to replay from");
		return;
	}
	if (!covered(nb, &in->oldest, in->oldest_file, why, sizeof(why))) {
		out->reason = APP_PITR_REASON_PURGED;
		snprintf(out->message, sizeof(out->message),
			 "the events right after the newest Backup %s are gone from the "
			 "primary's binlog (%s): no point in time after a Backup can be "
			 "restored until the next Backup",
			 nb->name, why);
		return;
	}
	out->base = oldest_covered(bs, n, &in->oldest, 0);
	out->from_ns = bs[out->base].data_ns;
	out->to_ns = in->checked_ns;
	ss_time_format(t, sizeof(t), out->from_ns);
	if (in->expire_seconds > 0 &&
	    in->checked_ns - nb->data_ns > in->expire_seconds * SS_NS_PER_SEC) {
		out->reason = APP_PITR_REASON_RETENTION_SHORT;
		snprintf(out->message, sizeof(out->message),
			 "the primary purges binlogs after %lld s "
			 "(binlog_expire_logs_seconds), less than the %lld s since the "
			 "newest Backup %s: the events after it are about to be purged "
			 "(restorable now from %s)",
			 (long long)in->expire_seconds,
			 (long long)((in->checked_ns - nb->data_ns) / SS_NS_PER_SEC),
			 nb->name, t);
		return;
	}
	out->status = APP_PITR_TRUE;
	out->reason = APP_PITR_REASON_COVERED;
	snprintf(out->message, sizeof(out->message),
		 "any instant from %s (Backup %s) to this check can be restored: the "
		 "primary's binlog holds every event since",
		 t, bs[out->base].name);
}

void app_pitr_window_decide(app_pitr_window *out, const app_pitr_backup *bs, size_t n,
			    const app_pitr_check *in, const app_pitr_prev *prev,
			    int64_t now_ns)
{
	static const app_pitr_prev none = { 0 };
	long prev_base;

	(void)now_ns;
	if (prev == NULL)
		prev = &none;
	memset(out, 0, sizeof(*out));
	out->base = -1;
	out->status = APP_PITR_UNKNOWN;
	if (in == NULL || in->result == APP_PITR_CHECK_NONE ||
	    in->result == APP_PITR_CHECK_FAILED) {
		judge_prev(out, bs, n, prev);
		if (in && in->result == APP_PITR_CHECK_FAILED) {
			out->reason = in->unknown_reason ? in->unknown_reason
							 : APP_PITR_REASON_CHECK_FAILED;
			snprintf(out->message, sizeof(out->message), "%s",
				 in->detail ? in->detail : "the check failed");
		}
	} else if (in->result == APP_PITR_CHECK_BINLOG_OFF) {
		out->status = APP_PITR_FALSE;
		out->reason = APP_PITR_REASON_DISABLED;
		snprintf(out->message, sizeof(out->message),
			 "binary logging is off on the primary%s%s (log_bin): only the "
			 "Backups themselves can be restored",
			 in->primary ? " " : "", in->primary ? in->primary : "");
	} else {
		judge_check(out, bs, n, in);
		prev_base = find_named(bs, n, prev->base);
		if (prev->base && prev_base < 0 && prev->from_ns > 0 &&
		    out->from_ns != prev->from_ns)
			out->base_lost = prev->base;
	}
	out->window_changed = out->from_ns != prev->from_ns ||
			      out->to_ns != prev->to_ns ||
			      (out->base >= 0) != (prev->base != NULL) ||
			      (out->base >= 0 && prev->base &&
			       strcmp(bs[out->base].name, prev->base) != 0);
}
