/*
 * schedule_plan.c — the BackupSchedule decisions; see schedule_plan.h.
 */
#include <stdio.h>
#include <string.h>

#include "app/api/names.h"
#include "app/sched/cron_next.h"
#include "app/schedule/schedule_plan.h"
#include "util/clock.h"
#include "util/error.h"

/* Why the due times being passed over now were not run: the blocker of
 * now, else what Ready said when last written, else lateness. */
static const char *cause_of(const app_schedule_plan_in *in)
{
	if (in->blocked != NULL)
		return in->blocked;
	if (in->was_not_ready != NULL)
		return in->was_not_ready;
	return APP_SCHEDULE_PLAN_CAUSE_LATE;
}

static bool past_deadline(const app_schedule_plan_in *in, int64_t due)
{
	return in->starting_deadline_seconds >= 0 &&
	       in->now_ns - due > in->starting_deadline_seconds * SS_NS_PER_SEC;
}

/* What to do about due time `due`; `may_wait`: a blocked one within its
 * deadline waits (else it is missed). */
static void act_on(app_schedule_plan_out *o, const app_schedule_plan_in *in, int64_t due,
		   bool may_wait)
{
	o->scheduled_ns = due;
	if (past_deadline(in, due) || (in->blocked != NULL && !may_wait))
		o->action = APP_SCHEDULE_PLAN_MISS;
	else if (in->blocked != NULL)
		o->action = APP_SCHEDULE_PLAN_WAIT;
	else if (in->busy)
		o->action = APP_SCHEDULE_PLAN_SKIP;
	else
		o->action = APP_SCHEDULE_PLAN_RUN;
	if (o->action == APP_SCHEDULE_PLAN_MISS)
		o->miss_cause = cause_of(in);
}

/* A spec change: the new spec's due times up to `prev` are passed over;
 * the old spec's awaited due time, come meanwhile, is acted on. */
static void spec_changed(app_schedule_plan_out *o, const app_schedule_plan_in *in,
			 int64_t cursor, int64_t prev)
{
	int64_t old = in->next_schedule_ns;

	o->last_schedule_ns = prev > cursor ? prev : cursor;
	if (old <= cursor || old > in->now_ns)
		return;
	/* No waiting here: the cursor moves past the new spec's due times, so
	 * a waiting old one would be lost; missed now, with its cause. */
	act_on(o, in, old, false);
	if (old > o->last_schedule_ns)
		o->last_schedule_ns = old;
}

/* The due times after `cursor` and before `prev` are missed: counted. */
static int64_t count_between(const app_cron *c, const ss_tz *tz, int64_t cursor,
			     int64_t prev)
{
	int64_t n = 0, t = cursor;

	while (n < APP_SCHEDULE_PLAN_MISSED_COUNT_MAX &&
	       app_cron_next(&t, c, tz, t) == 0 && t < prev)
		n++;
	return n;
}

/* WAIT: the cursor stays before `prev` (at the newest due time before it,
 * just counted as missed); look again at its deadline or the next due
 * time, whichever comes first. */
static void wait_for_due(app_schedule_plan_out *o, const app_schedule_plan_in *in,
			 const app_cron *c, const ss_tz *tz, int64_t cursor, int64_t prev)
{
	int64_t before = 0, expiry;

	o->last_schedule_ns = cursor;
	if (o->missed > 0 && app_cron_prev(&before, c, tz, prev - 1) == 0 &&
	    before > cursor)
		o->last_schedule_ns = before;
	o->next_ns = prev;
	if (in->starting_deadline_seconds >= 0) {
		expiry = prev + in->starting_deadline_seconds * SS_NS_PER_SEC +
			 10 * SS_NS_PER_MS;
		if (o->wake_ns == 0 || expiry < o->wake_ns)
			o->wake_ns = expiry;
	}
}

static void plan_once(app_schedule_plan_out *o, const app_schedule_plan_in *in)
{
	if (in->suspend || in->last_schedule_ns != 0)
		return;
	o->scheduled_ns = in->creation_ns > 0 ? in->creation_ns : in->now_ns;
	if (in->blocked != NULL) {
		o->action = APP_SCHEDULE_PLAN_WAIT;
		return;
	}
	o->action = APP_SCHEDULE_PLAN_RUN;
	o->last_schedule_ns = o->scheduled_ns;
}

int app_schedule_plan(app_schedule_plan_out *out, const app_cron *c, const ss_tz *tz,
		      const app_schedule_plan_in *in)
{
	app_schedule_plan_out o;
	int64_t cursor, prev = 0, t;

	if (out == NULL || c == NULL || tz == NULL || in == NULL)
		return ss_error_set(SS_EINVALID, "schedule plan: NULL input");
	memset(&o, 0, sizeof(o));
	o.action = APP_SCHEDULE_PLAN_NOTHING;
	o.last_schedule_ns = in->last_schedule_ns;
	if (c->kind == APP_CRON_ONCE || in->suspend) {
		if (c->kind == APP_CRON_ONCE)
			plan_once(&o, in);
		*out = o;
		return 0;
	}
	if (app_cron_next(&t, c, tz, in->now_ns) == 0)
		o.next_ns = o.wake_ns = t;
	cursor = in->last_schedule_ns > in->creation_ns ? in->last_schedule_ns
							: in->creation_ns;
	if (app_cron_prev(&prev, c, tz, in->now_ns) < 0)
		prev = 0;
	if (in->spec_changed) {
		spec_changed(&o, in, cursor, prev);
	} else if (prev > cursor) {
		o.missed = count_between(c, tz, cursor, prev);
		if (o.missed > 0)
			o.miss_cause = cause_of(in);
		act_on(&o, in, prev, true);
		o.last_schedule_ns = prev;
		if (o.action == APP_SCHEDULE_PLAN_WAIT)
			wait_for_due(&o, in, c, tz, cursor, prev);
	}
	*out = o;
	return 0;
}

bool app_schedule_plan_never_runs(const app_cron *c, const ss_tz *tz, int64_t now_ns)
{
	int64_t t;

	return c != NULL && tz != NULL && c->kind == APP_CRON_EXPR &&
	       app_cron_next(&t, c, tz, now_ns) < 0;
}

const char *app_schedule_plan_cause_text(const char *cause)
{
	static const struct {
		const char *cause, *text;
	} known[] = {
		{ APP_SCHEDULE_PLAN_CAUSE_LATE,
		  "the controller did not handle it in time (it was "
		  "down, not the leader, or behind)" },
		{ APP_SCHEDULE_PLAN_REASON_REJECTED,
		  "the API server refused the Backup" },
		{ APP_SCHEDULE_PLAN_REASON_CREATE_FAILED, "creating the Backup failed" },
		{ "Suspended", "the schedule was suspended" },
	};
	size_t i;

	for (i = 0; cause != NULL && i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(cause, known[i].cause) == 0)
			return known[i].text;
	return "the schedule was not ready";
}

bool app_schedule_plan_failure_stands(const char *was_not_ready, bool spec_changed)
{
	return !spec_changed && was_not_ready != NULL &&
	       (strcmp(was_not_ready, APP_SCHEDULE_PLAN_REASON_REJECTED) == 0 ||
		strcmp(was_not_ready, APP_SCHEDULE_PLAN_REASON_CREATE_FAILED) == 0);
}

int64_t app_schedule_plan_retry_cap_ns(int64_t starting_deadline_seconds)
{
	int64_t cap = APP_SCHEDULE_PLAN_RETRY_CAP_SECONDS * SS_NS_PER_SEC;

	if (starting_deadline_seconds >= 0 &&
	    starting_deadline_seconds < 4 * APP_SCHEDULE_PLAN_RETRY_CAP_SECONDS)
		cap = starting_deadline_seconds * SS_NS_PER_SEC / 4;
	return cap < SS_NS_PER_SEC ? SS_NS_PER_SEC : cap;
}

/* Copies n bytes of msg, control characters as spaces, and a NUL. */
static void copy_clean(char *out, const char *msg, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)msg[i];

		out[i] = ch < 0x20 || ch == 0x7f ? ' ' : msg[i];
	}
	out[n] = '\0';
}

char *app_schedule_plan_clean_message(char *out, size_t cap, const char *msg)
{
	size_t n, len;

	if (cap == 0)
		return out;
	msg = msg ? msg : "";
	len = strlen(msg);
	if (len < cap) {
		copy_clean(out, msg, len);
		return out;
	}
	if (cap < 4) {
		out[0] = '\0';
		return out;
	}
	/* Cut before a character that would not fit whole: back over its
	 * continuation bytes (10xxxxxx) to its first byte. */
	n = cap - 4;
	while (n > 0 && ((unsigned char)msg[n] & 0xc0) == 0x80)
		n--;
	copy_clean(out, msg, n);
	memcpy(out + n, "...", 4);
	return out;
}

bool app_schedule_plan_run_now_wanted(const char *token, const char *last)
{
	if (token == NULL || token[0] == '\0' ||
	    strnlen(token, APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX + 1) >
		    APP_SCHEDULE_PLAN_RUN_NOW_TOKEN_MAX)
		return false;
	return last == NULL || strcmp(token, last) != 0;
}

void app_schedule_plan_run_now_suffix(char *out, const char *token, int attempt)
{
	app_name_run_now_suffix(out, token, attempt);
}

static const char *str_at(const json_t *obj, const char *a, const char *b)
{
	return json_string_value(json_object_get(json_object_get(obj, a), b));
}

app_schedule_plan_hold app_schedule_plan_restore_hold(const json_t *restore,
						      const char *schedule,
						      const char **backup)
{
	const json_t *src = json_object_get(json_object_get(restore, "spec"), "source");
	const char *phase = str_at(restore, "status", "phase");
	const char *name;

	*backup = NULL;
	if (phase && (strcmp(phase, "Completed") == 0 || strcmp(phase, "Failed") == 0))
		return APP_SCHEDULE_PLAN_HOLD_NONE;
	name = str_at(restore, "status", "sourceBackup");
	if (name == NULL || name[0] == '\0')
		name = json_string_value(json_object_get(src, "backupName"));
	if (name && name[0]) {
		*backup = name;
		return APP_SCHEDULE_PLAN_HOLD_BACKUP;
	}
	name = json_string_value(json_object_get(src, "scheduleName"));
	if (name && schedule && strcmp(name, schedule) == 0)
		return APP_SCHEDULE_PLAN_HOLD_ALL;
	return APP_SCHEDULE_PLAN_HOLD_NONE;
}

/* ---- restore verification ------------------------------------------------ */

int app_schedule_plan_verify_due(app_schedule_plan_verify_out *out, const app_cron *c,
				 const ss_tz *tz, const app_schedule_plan_verify_in *in)
{
	app_schedule_plan_verify_out o;
	int64_t cursor, prev = 0, t;

	if (out == NULL || c == NULL || tz == NULL || in == NULL)
		return ss_error_set(SS_EINVALID, "verification plan: NULL input");
	memset(&o, 0, sizeof(o));
	o.last_request_ns = in->last_request_ns;
	if (c->kind == APP_CRON_ONCE || in->suspend) {
		*out = o;
		return 0;
	}
	if (app_cron_next(&t, c, tz, in->now_ns) == 0)
		o.next_ns = t;
	cursor = in->last_request_ns > in->creation_ns ? in->last_request_ns
						       : in->creation_ns;
	if (app_cron_prev(&prev, c, tz, in->now_ns) < 0 || prev <= cursor) {
		*out = o;
		return 0;
	}
	/* Only the newest due time acts: a verification checks the newest
	 * Backup, so older due times would check the same one again. */
	o.due = true;
	o.due_ns = prev;
	if (in->spec_changed) {
		/* the new cron's due times were not due under the spec then in
		 * force; the old spec's awaited one was, if it came meanwhile */
		o.due = in->next_ns > cursor && in->next_ns <= in->now_ns;
		o.due_ns = o.due ? in->next_ns : 0;
	}
	o.last_request_ns = prev > o.due_ns ? prev : o.due_ns;
	*out = o;
	return 0;
}

bool app_schedule_plan_verifiable(const app_schedule_plan_vbackup *b)
{
	return b->name != NULL && b->complete && !b->unrestorable && !b->deleting;
}

bool app_schedule_plan_verify_pending(const app_schedule_plan_vbackup *b)
{
	if (b->active)
		return true;
	if (b->verify_now == NULL || b->verify_now[0] == '\0')
		return false;
	return b->token == NULL || strcmp(b->verify_now, b->token) != 0;
}

/* Whether a is newer than b: the later creation, then the greater name. */
static bool vb_newer(const app_schedule_plan_vbackup *a,
		     const app_schedule_plan_vbackup *b)
{
	if (a->creation_ns != b->creation_ns)
		return a->creation_ns > b->creation_ns;
	return strcmp(a->name ? a->name : "", b->name ? b->name : "") > 0;
}

long app_schedule_plan_verify_pick(const app_schedule_plan_vbackup *bs, size_t n)
{
	long best = -1;
	size_t i;

	for (i = 0; i < n; i++)
		if (app_schedule_plan_verifiable(&bs[i]) &&
		    (best < 0 || vb_newer(&bs[i], &bs[best])))
			best = (long)i;
	return best;
}

/* The oldest Complete Backup of `bs` without an ordinal that is not
 * marked in `out` yet; -1: none. */
static long nth_next_unnumbered(const int64_t *out, const app_schedule_plan_vbackup *bs,
				size_t n)
{
	long best = -1;
	size_t i;

	for (i = 0; i < n; i++)
		if (bs[i].name != NULL && bs[i].complete && !bs[i].deleting &&
		    bs[i].ordinal <= 0 && out[i] == 0 &&
		    (best < 0 || vb_newer(&bs[best], &bs[i])))
			best = (long)i;
	return best;
}

void app_schedule_plan_verify_nth(int64_t *out, bool *ask,
				  const app_schedule_plan_vbackup *bs, size_t n,
				  int every, int64_t since_ns)
{
	int64_t top = 0;
	bool first;
	long k;
	size_t i;

	for (i = 0; i < n; i++) {
		out[i] = 0;
		ask[i] = false;
		if (bs[i].ordinal > top)
			top = bs[i].ordinal;
	}
	if (every <= 0)
		return;
	/* Nothing numbered yet: the numbering starts now, and only what
	 * completed since the schedule last looked is asked for. */
	first = top == 0;
	while ((k = nth_next_unnumbered(out, bs, n)) >= 0) {
		out[k] = ++top;
		ask[k] = top % every == 0 && (!first || bs[k].completion_ns > since_ns) &&
			 app_schedule_plan_verifiable(&bs[k]);
	}
}

char *app_schedule_plan_nth_token(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "nth-%s", name ? name : "");
	return out;
}

static bool vb_passed(const app_schedule_plan_vbackup *b)
{
	return b->done && b->result != NULL && strcmp(b->result, "Passed") == 0;
}

void app_schedule_plan_verify_report_of(app_schedule_plan_verify_report *out,
					const app_schedule_plan_vbackup *bs, size_t n)
{
	size_t i;

	out->last = out->verified = -1;
	out->failing = false;
	for (i = 0; i < n; i++) {
		const app_schedule_plan_vbackup *b = &bs[i];

		if (b->name == NULL || !b->done || b->result == NULL)
			continue;
		if (out->last < 0 || b->verified_ns > bs[out->last].verified_ns ||
		    (b->verified_ns == bs[out->last].verified_ns &&
		     vb_newer(b, &bs[out->last])))
			out->last = (long)i;
		if (vb_passed(b) &&
		    (out->verified < 0 || vb_newer(b, &bs[out->verified])))
			out->verified = (long)i;
	}
	out->failing =
		out->last >= 0 && !vb_passed(&bs[out->last]) &&
		(out->verified < 0 || !vb_newer(&bs[out->verified], &bs[out->last]));
}
