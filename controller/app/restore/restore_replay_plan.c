/*
 * restore_replay_plan.c — see restore_replay_plan.h. Pure: no I/O, no
 * clock, no allocation.
 */
#include "app/restore/restore_replay_plan.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/clock.h"
#include "util/error.h"

#define REASON_NO_BASE "NoBaseBeforeTarget"
#define REASON_NOT_REACHED "TargetNotReached"

static uint64_t plan_seq(const app_gtid_pos *p, uint32_t domain)
{
	const app_gtid *g = app_gtid_pos_find(p, domain);

	return g == NULL ? 0 : g->seq;
}

/* Fails with `reason` and the message in why (and ss_error). */
static int plan_fail(const char **reason, const char *r, char *why, size_t cap,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int plan_fail(const char **reason, const char *r, char *why, size_t cap,
		     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	if (reason != NULL)
		*reason = r;
	return ss_error_set(SS_EINVALID, "%s", why);
}

static int plan_parse_gtid(app_gtid_pos *out, const app_replay_spec *rp,
			   const char **reason, char *why, size_t cap)
{
	if (rp->gtid == NULL || app_gtid_pos_parse(out, rp->gtid) < 0 || out->n == 0)
		return plan_fail(reason, "InvalidSpec", why, cap,
				 "spec.replay.gtid is not a GTID position");
	if (!rp->inclusive && out->n != 1)
		return plan_fail(reason, "InvalidSpec", why, cap,
				 "spec.replay.inclusive false needs exactly one GTID, "
				 "not %zu",
				 out->n);
	if (!rp->inclusive && out->g[0].seq == 0)
		return plan_fail(reason, "InvalidSpec", why, cap,
				 "spec.replay.gtid %s names no event (sequence numbers "
				 "start at 1)",
				 rp->gtid);
	return 0;
}

int app_restore_replay_base_bound(app_gtid_pos *out, const app_replay_spec *rp,
				  const char **reason, char *why, size_t cap)
{
	app_gtid_pos p;
	int rc = plan_parse_gtid(&p, rp, reason, why, cap);

	if (rc < 0)
		return rc;
	if (!rp->inclusive)
		p.g[0].seq--;
	*out = p;
	return 0;
}

int app_restore_replay_check_base(const app_replay_spec *rp, const app_gtid_pos *base,
				  int64_t data_time_ns, const char **reason, char *why,
				  size_t cap)
{
	char a[64], b[64];
	app_gtid_pos bound;
	size_t i;
	int rc;

	if (rp->has_time) {
		if (data_time_ns > 0 && data_time_ns <= rp->time_ns)
			return 0;
		if (data_time_ns <= 0)
			return plan_fail(reason, REASON_NO_BASE, why, cap,
					 "the base Backup's data time is unknown");
		return plan_fail(reason, REASON_NO_BASE, why, cap,
				 "the base Backup's data is from %s, after the target "
				 "time %s",
				 ss_time_format(a, sizeof(a), data_time_ns),
				 ss_time_format(b, sizeof(b), rp->time_ns));
	}
	rc = app_restore_replay_base_bound(&bound, rp, reason, why, cap);
	if (rc < 0)
		return rc;
	for (i = 0; i < bound.n; i++) {
		uint64_t have = plan_seq(base, bound.g[i].domain);

		if (have > bound.g[i].seq)
			return plan_fail(reason, REASON_NO_BASE, why, cap,
					 "the base Backup is at seq %" PRIu64
					 " in domain %" PRIu32 ", past the target %s%s",
					 have, bound.g[i].domain, rp->gtid,
					 rp->inclusive ? "" : " (inclusive false)");
	}
	return 0;
}

/* The GTID of the target `t` against the source's last of its domain:
 * there, and with the server id the source logged it with when it is the
 * last. */
static int plan_check_in_history(const app_gtid *t, const app_gtid_pos *current,
				 const char **reason, char *why, size_t cap)
{
	const app_gtid *c = app_gtid_pos_find(current, t->domain);

	if (c == NULL || c->seq < t->seq)
		return plan_fail(reason, REASON_NOT_REACHED, why, cap,
				 "GTID %" PRIu32 "-%" PRIu32 "-%" PRIu64
				 " is not in the replay source's binlog: it reaches "
				 "seq %" PRIu64 " in domain %" PRIu32,
				 t->domain, t->server, t->seq, c ? c->seq : 0, t->domain);
	if (c->seq == t->seq && c->server != t->server)
		return plan_fail(reason, REASON_NOT_REACHED, why, cap,
				 "GTID %" PRIu32 "-%" PRIu32 "-%" PRIu64
				 " is not in the replay source's history: it logged "
				 "%" PRIu32 "-%" PRIu32 "-%" PRIu64,
				 t->domain, t->server, t->seq, c->domain, c->server, c->seq);
	return 0;
}

int app_restore_replay_gtid_target(app_gtid_pos *out, const app_replay_spec *rp,
				   const app_gtid_pos *base, const app_gtid_pos *current,
				   const char **reason, char *why, size_t cap)
{
	app_gtid_pos user, pos = *current;
	size_t i;
	int rc;

	rc = plan_parse_gtid(&user, rp, reason, why, cap);
	for (i = 0; rc == 0 && i < user.n; i++)
		rc = plan_check_in_history(&user.g[i], current, reason, why, cap);
	if (rc < 0)
		return rc;
	if (!rp->inclusive) {
		if (app_gtid_pos_before(&pos, current, &user.g[0]) < 0)
			return plan_fail(reason, REASON_NOT_REACHED, why, cap, "%s",
					 ss_error_last()->message);
	} else {
		for (i = 0; i < user.n; i++)
			if (app_gtid_pos_set(&pos, &user.g[i]) < 0)
				return plan_fail(reason, "InvalidSpec", why, cap,
						 "too many GTID domains");
	}
	rc = app_restore_replay_target_complete(&pos, base, current, reason, why, cap);
	if (rc == 0)
		*out = pos;
	return rc;
}

int app_restore_replay_target_complete(const app_gtid_pos *target, const app_gtid_pos *base,
				       const app_gtid_pos *current, const char **reason,
				       char *why, size_t cap)
{
	size_t i;

	for (i = 0; i < current->n; i++) {
		const app_gtid *c = &current->g[i];

		if (c->seq > plan_seq(base, c->domain) &&
		    app_gtid_pos_find(target, c->domain) == NULL)
			return plan_fail(reason, "TargetAmbiguous", why, cap,
					 "the replay source has events after the base in "
					 "domain %" PRIu32
					 " and the target names none of them: "
					 "give a GTID target naming domain %" PRIu32,
					 c->domain, c->domain);
	}
	for (i = 0; i < base->n; i++) {
		const app_gtid *t = app_gtid_pos_find(target, base->g[i].domain);

		if (base->g[i].seq > 0 && (t == NULL || t->seq < base->g[i].seq))
			return plan_fail(reason, REASON_NO_BASE, why, cap,
					 "the target is before the base in domain %" PRIu32
					 " (base seq %" PRIu64 ", target seq %" PRIu64 ")",
					 base->g[i].domain, base->g[i].seq,
					 t == NULL ? 0 : t->seq);
	}
	return 0;
}

int app_restore_replay_pick_primary(size_t *idx, const app_db_kind *kinds, size_t n,
				    char *why, size_t cap)
{
	size_t i, found = n, count = 0;

	for (i = 0; i < n; i++) {
		if (kinds[i] != APP_DB_PRIMARY)
			continue;
		if (count++ == 0)
			found = i;
	}
	if (count == 1) {
		*idx = found;
		return 0;
	}
	snprintf(why, cap,
		 "%s of %zu member(s) probed is a primary (writable, replicating from "
		 "no one): name the replay source in spec.replay.source.podName",
		 count == 0 ? "none" : "more than one", n);
	return ss_error_set(SS_ENOTFOUND, "%s", why);
}

/* Whether `reached` is past `target` in a domain the target names. */
static bool plan_past(const app_gtid_pos *reached, const app_gtid_pos *target)
{
	size_t i;

	for (i = 0; i < target->n; i++)
		if (plan_seq(reached, target->g[i].domain) > target->g[i].seq)
			return true;
	return false;
}

app_replay_action app_restore_replay_decide(const app_replay_progress *p,
					    const app_gtid_pos *target, bool timed_out,
					    const char **reason)
{
	*reason = NULL;
	if (p == NULL)
		return APP_REPLAY_DO_START;
	if (p->state == APP_REPLAY_REACHED)
		return APP_REPLAY_DO_FINISH;
	if (p->state == APP_REPLAY_FAILED) {
		switch (p->cause) {
		case APP_REPLAY_CAUSE_STOPPED: return APP_REPLAY_DO_START;
		case APP_REPLAY_CAUSE_BINLOGS_PURGED: *reason = "BinlogsPurged"; break;
		case APP_REPLAY_CAUSE_SOURCE_LOST: *reason = "ReplaySourceLost"; break;
		default: *reason = "ReplayFailed"; break;
		}
		return APP_REPLAY_DO_FAIL;
	}
	if (plan_past(&p->reached, target)) {
		*reason = "ReplayMismatch";
		return APP_REPLAY_DO_FAIL;
	}
	if (timed_out) {
		*reason = p->io_connected ? "Timeout" : "ReplaySourceLost";
		return APP_REPLAY_DO_FAIL;
	}
	return APP_REPLAY_DO_WAIT;
}

bool app_restore_replay_past_source(app_replay_step step)
{
	return step >= APP_REPLAY_STEP_STARTING;
}

const char *app_restore_replay_message(const char *msg, const char *reason)
{
	size_t n = reason ? strlen(reason) : 0;

	if (n > 0 && strncmp(msg, reason, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
		return msg + n + 2;
	return msg;
}
