/*
 * retention.c — the retention decision (see retention.h for the rules).
 *
 * One pass over the Backups sorted newest first: each keep rule is a
 * counter (and, for the bucket rules, the last bucket it kept), exactly as
 * restic's `forget` walks its snapshots; the protections and maxAge are
 * applied to each Backup after the rules have counted it, so that they can
 * never change what a rule keeps for the others. Everything is validated
 * before anything is written, so a failure leaves the caller's output as
 * it was.
 *
 * Thread-safety: reentrant; no state outside the call.
 */
#include "app/schedule/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api/owner.h"
#include "ctrl/conditions.h"
#include "util/clock.h"
#include "util/error.h"

/* The bucket rules, in the order their reasons are listed. */
enum { B_HOURLY, B_DAILY, B_WEEKLY, B_MONTHLY, B_YEARLY, B_COUNT };

static const char *const bucket_rule_names[B_COUNT] = {
	"keepHourly", "keepDaily", "keepWeekly", "keepMonthly", "keepYearly",
};

static const app_retention_why bucket_whys[B_COUNT] = {
	APP_RETENTION_WHY_HOURLY,  APP_RETENTION_WHY_DAILY,  APP_RETENTION_WHY_WEEKLY,
	APP_RETENTION_WHY_MONTHLY, APP_RETENTION_WHY_YEARLY,
};

const char *app_retention_verdict_name(app_retention_verdict v)
{
	return v == APP_RETENTION_KEEP ? "keep" : "prune";
}

app_retention_state app_retention_state_of(const json_t *backup)
{
	if (ctrl_condition_is_true(backup, "Complete"))
		return ctrl_condition_is_false(backup, APP_CONDITION_RESTORABLE)
			       ? APP_RETENTION_FAILED
			       : APP_RETENTION_COMPLETED;
	if (ctrl_condition_is_true(backup, "Failed"))
		return APP_RETENTION_FAILED;
	return APP_RETENTION_RUNNING;
}

bool app_retention_is_own(const json_t *backup, const char *schedule, const char *uid)
{
	return app_owner_run_origin(backup, schedule, uid) == APP_OWNER_OWN;
}

/* The fixed text of the reasons that name no bucket. */
static const char *retention_why_text(app_retention_why why)
{
	switch (why) {
	case APP_RETENTION_WHY_DISABLED: return "retention disabled";
	case APP_RETENTION_WHY_IN_USE: return "in use by a Restore";
	case APP_RETENTION_WHY_PINNED: return "pinned";
	case APP_RETENTION_WHY_RUNNING: return "running";
	case APP_RETENTION_WHY_VERIFYING: return "being verified";
	case APP_RETENTION_WHY_NEWEST: return "newest successful backup";
	case APP_RETENTION_WHY_VERIFIED: return "newest verified";
	case APP_RETENTION_WHY_LAST: return "keepLast";
	case APP_RETENTION_WHY_WITHIN: return "within maxAge";
	case APP_RETENTION_WHY_FAILED: return "keepFailed";
	case APP_RETENTION_WHY_MAX_AGE: return "older than maxAge";
	case APP_RETENTION_WHY_UNSELECTED: return "not selected by any rule";
	case APP_RETENTION_WHY_EXTRA_FAILED: return "beyond keepFailed";
	case APP_RETENTION_WHY_HOURLY:
	case APP_RETENTION_WHY_DAILY:
	case APP_RETENTION_WHY_WEEKLY:
	case APP_RETENTION_WHY_MONTHLY:
	case APP_RETENTION_WHY_YEARLY: break;
	}
	return "";
}

/* ---- validation ------------------------------------------------------- */

static int retention_check_count(const char *field, int value)
{
	if (value < 0)
		return ss_error_set(SS_EINVALID, "retention.%s: must be >= 0, got %d",
				    field, value);
	return 0;
}

static int retention_check_rules(const app_retention *r)
{
	int rc = retention_check_count("keepLast", r->keep_last);

	if (rc == 0)
		rc = retention_check_count("keepHourly", r->keep_hourly);
	if (rc == 0)
		rc = retention_check_count("keepDaily", r->keep_daily);
	if (rc == 0)
		rc = retention_check_count("keepWeekly", r->keep_weekly);
	if (rc == 0)
		rc = retention_check_count("keepMonthly", r->keep_monthly);
	if (rc == 0)
		rc = retention_check_count("keepYearly", r->keep_yearly);
	if (rc == 0)
		rc = retention_check_count("keepFailed", r->keep_failed);
	if (rc == 0 && r->max_age_seconds < 0)
		rc = ss_error_set(SS_EINVALID,
				  "retention.maxAge: must be >= 0, got %lld s",
				  (long long)r->max_age_seconds);
	return rc;
}

static bool retention_in_range(int v, int lo, int hi)
{
	return v >= lo && v <= hi;
}

/* The range checks keep the bucket keys and the reason text bounded; they
 * do not check that the day exists in its month (the caller's converter
 * does), because a wrong but in-range day still sorts and buckets
 * consistently. */
static int retention_check_backup(const app_retention_backup *b, size_t i)
{
	const app_civil_time *c = &b->local;

	if (b->name == NULL || b->name[0] == '\0')
		return ss_error_set(SS_EINVALID, "retention: Backup %zu has no name", i);
	switch (b->state) {
	case APP_RETENTION_COMPLETED:
	case APP_RETENTION_FAILED:
	case APP_RETENTION_RUNNING: break;
	default:
		return ss_error_set(SS_EINVALID, "retention: Backup %s: unknown state %d",
				    b->name, (int)b->state);
	}
	if (b->time_ns < 0)
		return ss_error_set(SS_EINVALID, "retention: Backup %s: time before 1970",
				    b->name);
	if (!retention_in_range(c->year, 1, 9999) ||
	    !retention_in_range(c->month, 1, 12) || !retention_in_range(c->day, 1, 31) ||
	    !retention_in_range(c->hour, 0, 23) ||
	    !retention_in_range(c->iso_year, 1, 9999) ||
	    !retention_in_range(c->iso_year - c->year, -1, 1) ||
	    !retention_in_range(c->iso_week, 1, 53))
		return ss_error_set(SS_EINVALID,
				    "retention: Backup %s: local time %d-%d-%d hour %d "
				    "(ISO %d-W%d) is out of range",
				    b->name, c->year, c->month, c->day, c->hour,
				    c->iso_year, c->iso_week);
	return 0;
}

/* ---- order ------------------------------------------------------------ */

static int retention_cmp_name(const void *pa, const void *pb)
{
	const app_retention_backup *a = *(const app_retention_backup *const *)pa;
	const app_retention_backup *b = *(const app_retention_backup *const *)pb;

	return strcmp(a->name, b->name);
}

/* Newest first; equal times: the greater name first. Names are unique, so
 * this is a total order and qsort's instability cannot show. */
static int retention_cmp_newest_first(const void *pa, const void *pb)
{
	const app_retention_backup *a = *(const app_retention_backup *const *)pa;
	const app_retention_backup *b = *(const app_retention_backup *const *)pb;

	if (a->time_ns != b->time_ns)
		return a->time_ns > b->time_ns ? -1 : 1;
	return -strcmp(a->name, b->name);
}

/* ---- the rules -------------------------------------------------------- */

static int64_t retention_bucket_key(int rule, const app_civil_time *c)
{
	int64_t day = ((int64_t)c->year * 100 + c->month) * 100 + c->day;

	switch (rule) {
	case B_HOURLY: return day * 100 + c->hour;
	case B_DAILY: return day;
	case B_WEEKLY: return (int64_t)c->iso_year * 100 + c->iso_week;
	case B_MONTHLY: return (int64_t)c->year * 100 + c->month;
	default: return c->year;
	}
}

static void retention_bucket_reason(char *out, size_t cap, int rule,
				    const app_civil_time *c)
{
	const char *rn = bucket_rule_names[rule];

	switch (rule) {
	case B_HOURLY:
		snprintf(out, cap, "%s %04d-%02d-%02dT%02d", rn, c->year, c->month,
			 c->day, c->hour);
		break;
	case B_DAILY:
		snprintf(out, cap, "%s %04d-%02d-%02d", rn, c->year, c->month, c->day);
		break;
	case B_WEEKLY:
		snprintf(out, cap, "%s %04d-W%02d", rn, c->iso_year, c->iso_week);
		break;
	case B_MONTHLY: snprintf(out, cap, "%s %04d-%02d", rn, c->year, c->month); break;
	default: snprintf(out, cap, "%s %04d", rn, c->year); break;
	}
}

/* What the walk carries from one Backup to the next. */
typedef struct {
	bool seen_completed;
	bool keep_verified; /* requireVerified: keep the newest verified */
	bool seen_verified;
	int last_left;
	int bucket_left[B_COUNT];
	bool bucket_has_last[B_COUNT];
	int64_t bucket_last[B_COUNT];
	int failed_left;
	bool max_age_only;  /* maxAge is the only rule: it also keeps */
	int64_t max_age_ns; /* 0: no limit */
} retention_walk;

static void retention_walk_init(retention_walk *w, const app_retention *r)
{
	memset(w, 0, sizeof(*w));
	w->last_left = r->keep_last;
	w->bucket_left[B_HOURLY] = r->keep_hourly;
	w->bucket_left[B_DAILY] = r->keep_daily;
	w->bucket_left[B_WEEKLY] = r->keep_weekly;
	w->bucket_left[B_MONTHLY] = r->keep_monthly;
	w->bucket_left[B_YEARLY] = r->keep_yearly;
	w->failed_left = r->keep_failed;
	w->keep_verified = r->require_verified;
	/* An age beyond what int64 ns can hold is no limit in practice
	 * (about 292 years). */
	if (r->max_age_seconds > 0 && r->max_age_seconds <= INT64_MAX / SS_NS_PER_SEC)
		w->max_age_ns = r->max_age_seconds * SS_NS_PER_SEC;
	w->max_age_only = r->max_age_seconds > 0 && r->keep_last == 0 &&
			  r->keep_hourly == 0 && r->keep_daily == 0 &&
			  r->keep_weekly == 0 && r->keep_monthly == 0 &&
			  r->keep_yearly == 0;
}

static void retention_set(app_retention_decision *d, app_retention_verdict v,
			  app_retention_why why)
{
	d->verdict = v;
	d->why = why;
	snprintf(d->reason, sizeof(d->reason), "%s", retention_why_text(why));
}

/* The counting half of deciding for `b`, the next Backup newest first:
 * every rule counts it, whatever protects or prunes it in the end, so one
 * Backup's pin or age never shifts what the rules keep for the others.
 * Returns the first rule that keeps it (*bucket: its bucket rule, or -1);
 * *newest: the newest completed Backup. */
static app_retention_why retention_count(retention_walk *w, bool *newest, int *bucket,
					 const app_retention_backup *b, bool older)
{
	app_retention_why rule_why = APP_RETENTION_WHY_UNSELECTED;

	*newest = false;
	*bucket = -1;
	if (b->state == APP_RETENTION_FAILED) {
		if (w->failed_left > 0) {
			w->failed_left--;
			return APP_RETENTION_WHY_FAILED;
		}
		return APP_RETENTION_WHY_EXTRA_FAILED;
	}
	if (b->state != APP_RETENTION_COMPLETED)
		return rule_why;
	*newest = !w->seen_completed;
	w->seen_completed = true;
	if (w->last_left > 0) {
		w->last_left--;
		rule_why = APP_RETENTION_WHY_LAST;
	}
	for (int r = 0; r < B_COUNT; r++) {
		int64_t key = retention_bucket_key(r, &b->local);

		if (w->bucket_left[r] == 0)
			continue;
		if (w->bucket_has_last[r] && w->bucket_last[r] == key)
			continue; /* an older Backup of a kept bucket */
		w->bucket_left[r]--;
		w->bucket_has_last[r] = true;
		w->bucket_last[r] = key;
		if (rule_why == APP_RETENTION_WHY_UNSELECTED) {
			rule_why = bucket_whys[r];
			*bucket = r;
		}
	}
	if (rule_why == APP_RETENTION_WHY_UNSELECTED && w->max_age_only && !older)
		rule_why = APP_RETENTION_WHY_WITHIN;
	return rule_why;
}

/* Decides for `b`, the next Backup newest first: the rules count it
 * (retention_count), then the protections and maxAge have their say. */
static void retention_walk_one(retention_walk *w, app_retention_decision *d,
			       const app_retention_backup *b, int64_t now_ns)
{
	/* time_ns and now_ns are both >= 0, so the difference cannot
	 * overflow; a Backup "in the future" (clock skew) is not old. */
	bool older = w->max_age_ns > 0 && now_ns - b->time_ns > w->max_age_ns;
	bool newest, verified = false;
	int rule_bucket;
	app_retention_why rule_why = retention_count(w, &newest, &rule_bucket, b, older);

	if (w->keep_verified && !w->seen_verified && b->verified &&
	    b->state == APP_RETENTION_COMPLETED) {
		verified = true;
		w->seen_verified = true;
	}
	if (b->in_use)
		retention_set(d, APP_RETENTION_KEEP, APP_RETENTION_WHY_IN_USE);
	else if (b->pinned)
		retention_set(d, APP_RETENTION_KEEP, APP_RETENTION_WHY_PINNED);
	else if (b->state == APP_RETENTION_RUNNING)
		retention_set(d, APP_RETENTION_KEEP, APP_RETENTION_WHY_RUNNING);
	else if (b->being_verified)
		retention_set(d, APP_RETENTION_KEEP, APP_RETENTION_WHY_VERIFYING);
	else if (newest)
		retention_set(d, APP_RETENTION_KEEP, APP_RETENTION_WHY_NEWEST);
	else if (verified)
		retention_set(d, APP_RETENTION_KEEP, APP_RETENTION_WHY_VERIFIED);
	else if (older)
		retention_set(d, APP_RETENTION_PRUNE, APP_RETENTION_WHY_MAX_AGE);
	else if (rule_why == APP_RETENTION_WHY_UNSELECTED ||
		 rule_why == APP_RETENTION_WHY_EXTRA_FAILED)
		retention_set(d, APP_RETENTION_PRUNE, rule_why);
	else if (rule_bucket >= 0) {
		d->verdict = APP_RETENTION_KEEP;
		d->why = rule_why;
		retention_bucket_reason(d->reason, sizeof(d->reason), rule_bucket,
					&b->local);
	} else
		retention_set(d, APP_RETENTION_KEEP, rule_why);
}

/* Everything app_retention_decide checks before it writes anything. */
static int retention_check_args(const app_retention_decision *out,
				const app_retention_backup *backups, size_t n,
				const app_retention *rules, int64_t now_ns)
{
	int rc;

	if (rules == NULL || (n > 0 && (out == NULL || backups == NULL)))
		return ss_error_set(SS_EINVALID, "retention: NULL argument");
	if (n > APP_RETENTION_MAX_BACKUPS)
		return ss_error_set(
			SS_ETOOLARGE,
			"retention: %zu Backups, at most %d are decided at once", n,
			APP_RETENTION_MAX_BACKUPS);
	if (now_ns < 0)
		return ss_error_set(SS_EINVALID, "retention: now is before 1970");
	rc = retention_check_rules(rules);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = retention_check_backup(&backups[i], i);
	return rc;
}

/* The `n` (> 0) Backups newest first, into *out (free it), or SS_EINVALID
 * for a name listed twice, or SS_ENOMEM. */
static int retention_order(const app_retention_backup ***out,
			   const app_retention_backup *backups, size_t n)
{
	const app_retention_backup **order = malloc(n * sizeof(*order));
	int rc;

	if (order == NULL)
		return ss_error_set(SS_ENOMEM, "retention: out of memory");
	for (size_t i = 0; i < n; i++)
		order[i] = &backups[i];
	/* Unique names make the order total; a duplicate would make the
	 * result depend on the input order. */
	qsort(order, n, sizeof(*order), retention_cmp_name);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
			rc = ss_error_set(SS_EINVALID,
					  "retention: Backup %s is listed twice",
					  order[i]->name);
			free(order);
			return rc;
		}
	}
	qsort(order, n, sizeof(*order), retention_cmp_newest_first);
	*out = order;
	return 0;
}

int app_retention_decide(app_retention_decision *out, app_retention_summary *summary,
			 const app_retention_backup *backups, size_t n,
			 const app_retention *rules, int64_t now_ns)
{
	const app_retention_backup **order = NULL;
	app_retention_summary sum = { 0 };
	retention_walk w;
	int rc;

	rc = retention_check_args(out, backups, n, rules, now_ns);
	if (rc == 0 && n > 0)
		rc = retention_order(&order, backups, n);
	if (rc != 0)
		return rc;
	sum.dry_run = rules->dry_run;
	retention_walk_init(&w, rules);
	for (size_t k = 0; k < n; k++) {
		size_t i = (size_t)(order[k] - backups);
		app_retention_decision *d = &out[i];

		if (rules->enabled)
			retention_walk_one(&w, d, order[k], now_ns);
		else
			retention_set(d, APP_RETENTION_KEEP, APP_RETENTION_WHY_DISABLED);
		if (d->verdict == APP_RETENTION_KEEP)
			sum.n_keep++;
		else
			sum.n_prune++;
	}
	free(order);
	if (summary != NULL)
		*summary = sum;
	return 0;
}
