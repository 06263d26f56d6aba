/*
 * schedule_plan.c — the BackupSchedule decisions; see schedule_plan.h.
 */
#include <stdio.h>
#include <string.h>

#include "app/cron_next.h"
#include "app/schedule_plan.h"
#include "util/clock.h"
#include "util/error.h"

int app_sched_plan(app_sched_plan_out *out, const app_cron *c, const ss_tz *tz,
		   const app_sched_plan_in *in)
{
	app_sched_plan_out o;
	int64_t cursor, prev = 0, t;

	if (out == NULL || c == NULL || tz == NULL || in == NULL)
		return ss_error_set(SS_EINVALID, "schedule plan: NULL input");
	memset(&o, 0, sizeof(o));
	o.action = APP_SCHED_NOTHING;
	o.last_schedule_ns = in->last_schedule_ns;
	if (c->kind == APP_CRON_ONCE) {
		if (!in->suspend && in->last_schedule_ns == 0) {
			o.action = APP_SCHED_RUN;
			o.scheduled_ns =
				in->creation_ns > 0 ? in->creation_ns : in->now_ns;
			o.last_schedule_ns = o.scheduled_ns;
		}
		*out = o;
		return 0;
	}
	if (in->suspend) {
		*out = o;
		return 0;
	}
	if (app_cron_next(&t, c, tz, in->now_ns) == 0)
		o.next_ns = t;
	cursor = in->last_schedule_ns > in->creation_ns ? in->last_schedule_ns
							: in->creation_ns;
	if (app_cron_prev(&prev, c, tz, in->now_ns) < 0 || prev <= cursor) {
		*out = o;
		return 0;
	}
	if (in->spec_changed) {
		/* Pass over what is due up to now; no run, nothing counted. */
		o.last_schedule_ns = prev;
		*out = o;
		return 0;
	}
	/* The due times after the cursor and before prev are missed. */
	t = cursor;
	while (o.missed < APP_SCHED_MISSED_COUNT_MAX &&
	       app_cron_next(&t, c, tz, t) == 0 && t < prev)
		o.missed++;
	o.scheduled_ns = prev;
	o.last_schedule_ns = prev;
	if (in->starting_deadline_seconds >= 0 &&
	    in->now_ns - prev > in->starting_deadline_seconds * SS_NS_PER_SEC)
		o.action = APP_SCHED_MISS;
	else if (in->busy)
		o.action = APP_SCHED_SKIP;
	else
		o.action = APP_SCHED_RUN;
	*out = o;
	return 0;
}

bool app_sched_run_now_wanted(const char *token, const char *last)
{
	if (token == NULL || token[0] == '\0')
		return false;
	return last == NULL || strcmp(token, last) != 0;
}

void app_sched_run_now_suffix(char *out, const char *token)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	const unsigned char *p;

	for (p = (const unsigned char *)(token ? token : ""); *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	snprintf(out, 13, "now-%08x", (unsigned)h);
}

static const char *str_at(const json_t *obj, const char *a, const char *b)
{
	return json_string_value(json_object_get(json_object_get(obj, a), b));
}

app_sched_hold app_sched_restore_hold(const json_t *restore, const char *schedule,
				      const char **backup)
{
	const json_t *src = json_object_get(json_object_get(restore, "spec"), "source");
	const char *phase = str_at(restore, "status", "phase");
	const char *name;

	*backup = NULL;
	if (phase && (strcmp(phase, "Completed") == 0 || strcmp(phase, "Failed") == 0))
		return APP_SCHED_HOLD_NONE;
	name = str_at(restore, "status", "sourceBackup");
	if (name == NULL || name[0] == '\0')
		name = json_string_value(json_object_get(src, "backupName"));
	if (name && name[0]) {
		*backup = name;
		return APP_SCHED_HOLD_BACKUP;
	}
	name = json_string_value(json_object_get(src, "scheduleName"));
	if (name && schedule && strcmp(name, schedule) == 0)
		return APP_SCHED_HOLD_ALL;
	return APP_SCHED_HOLD_NONE;
}
