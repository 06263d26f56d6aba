/*
 * test_restore_plan.c — the Restore controller's pure decisions
 * (app/restore/restore_plan.h): which Backup a schedule and a point in time
 * mean, whether a Backup can be restored from, what the claims of a NewClaims
 * restore look like, and what an existing claim says. Backups, Restores and
 * claims are JSON as the API server serves them; Restore specs come from
 * app_restore_spec_decode(), as in the controller. Results are compared whole
 * (json_equal against the expected object), so an extra or missing field
 * fails.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "app/api/api.h"
#include "app/api/names.h"
#include "app/restore/restore_plan.h"
#include "kube/quantity.h"
#include "util/clock.h"
#include "util/error.h"

#define GI INT64_C(1073741824)

/* ---- building test objects ---------------------------------------------- */

/* Sets metadata.<map>.<key> (set_path would split a key at its dots). */
static void set_meta(json_t *obj, const char *map, const char *key, const char *value)
{
	json_t *meta = json_object_get(obj, "metadata");

	if (json_object_get(meta, map) == NULL)
		json_object_set_new(meta, map, json_object());
	json_object_set_new(json_object_get(meta, map), key, json_string(value));
}

/* "2026-11-23T02:00:00Z" as nanoseconds. */
static int64_t T(const char *text)
{
	int64_t ns = 0;

	if (ss_time_parse(&ns, text) != 0)
		fail_msg("bad test time %s", text);
	return ns;
}

/* Fails with both texts unless `actual` equals the JSON `expected`. */
static void assert_json_is(const json_t *actual, const char *expected)
{
	json_t *want = tu_json(expected);
	char *a, *w;

	if (!json_equal((json_t *)actual, want)) {
		a = json_dumps(actual, JSON_SORT_KEYS | JSON_COMPACT);
		w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
		print_error("got:  %s\nwant: %s\n", a != NULL ? a : "(null)", w);
		free(a);
		free(w);
		json_decref(want);
		fail();
	}
	json_decref(want);
}

/* What a Backup's conditions and snapshots say. */
typedef enum {
	B_OK,		/* Complete True, both snapshots ready */
	B_FAILED,	/* Failed True */
	B_INCOMPLETE,	/* no condition yet */
	B_NOT_READY,	/* Complete True, the second snapshot not ready */
	B_DELETING,	/* as B_OK, with a deletionTimestamp */
	B_NO_SNAPSHOTS, /* Complete True, status.snapshots empty */
} bstate;

/* A Backup `name` of `schedule` (NULL: no label) in state `st`, whose
 * status.lock.acquiredTime, status.startTime and metadata.creationTimestamp
 * are the given times (NULL: absent). */
static json_t *backup(const char *name, const char *schedule, bstate st, const char *lock,
		      const char *start, const char *created)
{
	json_t *b = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:{s:[], s:[]}}",
			      "apiVersion", "snapstage.io/v1alpha1", "kind", "Backup",
			      "metadata", "name", name, "namespace", "db", "uid", "uid-b",
			      "status", "conditions", "snapshots");
	char vs[128];

	assert_non_null(b);
	if (schedule != NULL)
		set_meta(b, "labels", APP_LABEL_SCHEDULE, schedule);
	if (created != NULL)
		tu_json_set(b, "metadata.creationTimestamp", json_string(created));
	if (lock != NULL)
		tu_json_set(b, "status.lock.acquiredTime", json_string(lock));
	if (start != NULL)
		tu_json_set(b, "status.startTime", json_string(start));
	if (st == B_FAILED)
		tu_json_set(b, "status.conditions[0]",
			    json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "Failed",
				      "status", "True", "reason", "LockTimeout",
				      "message", "x", "lastTransitionTime",
				      "2026-11-23T00:00:00Z"));
	else if (st != B_INCOMPLETE)
		tu_json_set(b, "status.conditions[0]",
			    json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "Complete",
				      "status", "True", "reason", "SnapshotsReady",
				      "message", "", "lastTransitionTime",
				      "2026-11-23T00:00:00Z"));
	if (st != B_NO_SNAPSHOTS) {
		snprintf(vs, sizeof(vs), "%s-data", name);
		tu_json_set(b, "status.snapshots[0]",
			    json_pack("{s:s, s:s, s:b, s:s}", "volume", "data",
				      "volumeSnapshotName", vs, "readyToUse", 1,
				      "restoreSize", "10Gi"));
		snprintf(vs, sizeof(vs), "%s-binlog", name);
		tu_json_set(b, "status.snapshots[1]",
			    json_pack("{s:s, s:s, s:b, s:s}", "volume", "binlog",
				      "volumeSnapshotName", vs, "readyToUse",
				      st != B_NOT_READY && st != B_INCOMPLETE,
				      "restoreSize", "1Gi"));
	}
	if (st == B_DELETING)
		tu_json_set(b, "metadata.deletionTimestamp",
			    json_string("2026-11-23T12:00:00Z"));
	return b;
}

#define DAY0 "2026-11-23T"

/* Two schedules' Backups, each marked with its data time. */
static json_t *world(void)
{
	json_t *w = json_array();

	/* nightly: data times 01:00, 02:00 (usable), then unusable ones. */
	json_array_append_new(w, backup("nightly-a", "nightly", B_OK, DAY0 "01:00:00Z",
					DAY0 "00:59:00Z", DAY0 "00:58:00Z"));
	json_array_append_new(w, backup("nightly-b", "nightly", B_OK, DAY0 "02:00:00Z",
					DAY0 "01:59:00Z", DAY0 "01:58:00Z"));
	json_array_append_new(w, backup("nightly-c", "nightly", B_FAILED,
					DAY0 "03:00:00Z", NULL, DAY0 "02:58:00Z"));
	json_array_append_new(w, backup("nightly-d", "nightly", B_INCOMPLETE,
					DAY0 "03:30:00Z", NULL, DAY0 "03:28:00Z"));
	json_array_append_new(w, backup("nightly-e", "nightly", B_NOT_READY,
					DAY0 "04:00:00Z", NULL, DAY0 "03:58:00Z"));
	json_array_append_new(w, backup("nightly-f", "nightly", B_DELETING,
					DAY0 "05:00:00Z", NULL, DAY0 "04:58:00Z"));
	/* The lock time wins over the start and creation times... */
	json_array_append_new(w, backup("nightly-g", "nightly", B_OK, DAY0 "06:00:00Z",
					DAY0 "05:55:00Z", DAY0 "05:50:00Z"));
	/* ... the start time over the creation time ... */
	json_array_append_new(w, backup("nightly-h", "nightly", B_OK, NULL,
					DAY0 "07:00:00Z", DAY0 "06:59:00Z"));
	/* ... and the creation time is the last resort. */
	json_array_append_new(
		w, backup("nightly-i", "nightly", B_OK, NULL, NULL, DAY0 "08:00:00Z"));
	/* Equal data times: the greater name. */
	json_array_append_new(w, backup("nightly-tie-y", "nightly", B_OK,
					DAY0 "09:00:00Z", NULL, DAY0 "08:58:00Z"));
	json_array_append_new(w, backup("nightly-tie-x", "nightly", B_OK,
					DAY0 "09:00:00Z", NULL, DAY0 "08:59:00Z"));
	json_array_append_new(w, backup("nightly-zz", "nightly", B_NO_SNAPSHOTS,
					DAY0 "09:30:00Z", NULL, DAY0 "09:29:00Z"));
	/* No time at all: never a candidate. */
	json_array_append_new(
		w, backup("nightly-untimed", "nightly", B_OK, NULL, NULL, NULL));
	/* Not labelled with the schedule, though named like it. */
	json_array_append_new(w, backup("nightly-unlabelled", NULL, B_OK,
					DAY0 "10:00:00Z", NULL, DAY0 "09:58:00Z"));
	/* hourly: interleaved with nightly's. */
	json_array_append_new(w, backup("hourly-1", "hourly", B_OK, DAY0 "01:30:00Z",
					NULL, DAY0 "01:29:00Z"));
	json_array_append_new(w, backup("hourly-2", "hourly", B_OK, DAY0 "02:30:00Z",
					NULL, DAY0 "02:29:00Z"));
	json_array_append_new(w, backup("hourly-3", "hourly", B_OK, DAY0 "12:00:00Z",
					NULL, DAY0 "11:59:00Z"));
	/* monthly: one usable Backup, one failed. */
	json_array_append_new(w, backup("monthly-1", "monthly", B_OK, DAY0 "10:00:00Z",
					NULL, DAY0 "09:59:00Z"));
	json_array_append_new(w, backup("monthly-0", "monthly", B_FAILED,
					DAY0 "08:00:00Z", NULL, DAY0 "07:59:00Z"));
	return w;
}

/* ---- picking a Backup ----------------------------------------------------- */

static void test_pick_backup(void **state)
{
	static const struct {
		const char *schedule;
		const char *point; /* NULL: none given, i.e. now */
		const char *now;
		const char *want;
		const char *want_time;
	} cases[] = {
		/* between two of nightly's, with hourly's in between too */
		{ "nightly", DAY0 "02:30:00Z", DAY0 "23:00:00Z", "nightly-b",
		  DAY0 "02:00:00Z" },
		/* exactly at a data time: that Backup */
		{ "nightly", DAY0 "02:00:00Z", DAY0 "23:00:00Z", "nightly-b",
		  DAY0 "02:00:00Z" },
		{ "nightly", DAY0 "01:59:59Z", DAY0 "23:00:00Z", "nightly-a",
		  DAY0 "01:00:00Z" },
		{ "nightly", DAY0 "01:00:00Z", DAY0 "23:00:00Z", "nightly-a",
		  DAY0 "01:00:00Z" },
		/* failed (03:00), incomplete (03:30), not ready (04:00) and
		 * being deleted (05:00) are skipped */
		{ "nightly", DAY0 "03:15:00Z", DAY0 "23:00:00Z", "nightly-b",
		  DAY0 "02:00:00Z" },
		{ "nightly", DAY0 "03:45:00Z", DAY0 "23:00:00Z", "nightly-b",
		  DAY0 "02:00:00Z" },
		{ "nightly", DAY0 "04:30:00Z", DAY0 "23:00:00Z", "nightly-b",
		  DAY0 "02:00:00Z" },
		{ "nightly", DAY0 "05:30:00Z", DAY0 "23:00:00Z", "nightly-b",
		  DAY0 "02:00:00Z" },
		/* the lock's time, not the start (05:55) or creation (05:50) */
		{ "nightly", DAY0 "05:56:00Z", DAY0 "23:00:00Z", "nightly-b",
		  DAY0 "02:00:00Z" },
		{ "nightly", DAY0 "06:00:00Z", DAY0 "23:00:00Z", "nightly-g",
		  DAY0 "06:00:00Z" },
		/* no lock: the start (07:00), not the creation (06:59) */
		{ "nightly", DAY0 "06:59:30Z", DAY0 "23:00:00Z", "nightly-g",
		  DAY0 "06:00:00Z" },
		{ "nightly", DAY0 "07:00:00Z", DAY0 "23:00:00Z", "nightly-h",
		  DAY0 "07:00:00Z" },
		/* neither: the creation */
		{ "nightly", DAY0 "08:30:00Z", DAY0 "23:00:00Z", "nightly-i",
		  DAY0 "08:00:00Z" },
		/* a tie at 09:00: the greater name */
		{ "nightly", DAY0 "09:00:00Z", DAY0 "23:00:00Z", "nightly-tie-y",
		  DAY0 "09:00:00Z" },
		/* no point is now; no snapshots (09:30) and no label (10:00) skipped */
		{ "nightly", NULL, DAY0 "08:30:00Z", "nightly-i", DAY0 "08:00:00Z" },
		{ "nightly", NULL, DAY0 "23:00:00Z", "nightly-tie-y", DAY0 "09:00:00Z" },
		/* the other schedule, between nightly's */
		{ "hourly", DAY0 "02:45:00Z", DAY0 "23:00:00Z", "hourly-2",
		  DAY0 "02:30:00Z" },
		{ "hourly", DAY0 "01:45:00Z", DAY0 "23:00:00Z", "hourly-1",
		  DAY0 "01:30:00Z" },
		{ "hourly", NULL, DAY0 "23:00:00Z", "hourly-3", DAY0 "12:00:00Z" },
		{ "hourly", NULL, DAY0 "11:00:00Z", "hourly-2", DAY0 "02:30:00Z" },
		/* later than every Backup */
		{ "monthly", "2027-01-01T00:00:00Z", DAY0 "23:00:00Z", "monthly-1",
		  DAY0 "10:00:00Z" },
	};
	json_t *w = world(), *rev = json_array();
	size_t i, j, pass;

	(void)state;
	/* The same answers whatever order the cache lists the Backups in. */
	for (j = json_array_size(w); j > 0; j--)
		json_array_append(rev, json_array_get(w, j - 1));
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			const char *name = "unset";
			int64_t t = -5;
			int rc = app_restore_pick_backup(
				&name, &t, pass == 0 ? w : rev, cases[i].schedule, NULL,
				cases[i].point != NULL,
				cases[i].point != NULL ? T(cases[i].point) : 0,
				T(cases[i].now));

			if (rc != 0)
				fail_msg("case %zu pass %zu: %s", i, pass,
					 ss_error_last()->message);
			if (strcmp(name, cases[i].want) != 0)
				fail_msg("case %zu pass %zu: picked %s, want %s", i, pass,
					 name, cases[i].want);
			assert_int_equal(t, T(cases[i].want_time));
		}
	}
	json_decref(rev);
	json_decref(w);
}

/* The base of a point-in-time restore to a GTID position: the newest
 * Backup whose recorded position does not pass the target in any domain. */
static json_t *with_pos(json_t *b, const char *role, const char *slave,
			const char *binlog, const char *current)
{
	tu_json_set(b, "status.sourceRole", json_string(role));
	if (slave)
		tu_json_set(b, "status.position.gtidSlavePos", json_string(slave));
	if (binlog)
		tu_json_set(b, "status.position.gtidBinlogPos", json_string(binlog));
	if (current)
		tu_json_set(b, "status.position.gtidCurrentPos", json_string(current));
	return b;
}

static void test_pick_base_gtid(void **state)
{
	json_t *all = json_array();
	app_gtid_pos target;
	const char *name = NULL;

	(void)state;
	json_array_append_new(all, with_pos(backup("b1", "nightly", B_OK,
						   "2026-11-20T01:00:00Z", NULL, NULL),
					    "Replica", "0-1-100", "0-1-100,1-3-5", NULL));
	json_array_append_new(all, with_pos(backup("b2", "nightly", B_OK,
						   "2026-11-21T01:00:00Z", NULL, NULL),
					    "Replica", "0-1-200", NULL, NULL));
	json_array_append_new(all, with_pos(backup("b3", "nightly", B_OK,
						   "2026-11-22T01:00:00Z", NULL, NULL),
					    "Primary", NULL, "0-1-300", NULL));
	/* newer but failed, and another schedule's: never a base */
	json_array_append_new(all, with_pos(backup("b4", "nightly", B_FAILED,
						   "2026-11-23T01:00:00Z", NULL, NULL),
					    "Replica", "0-1-250", NULL, NULL));
	json_array_append_new(all, with_pos(backup("x1", "weekly", B_OK,
						   "2026-11-22T12:00:00Z", NULL, NULL),
					    "Replica", "0-1-210", NULL, NULL));
	assert_int_equal(app_gtid_pos_parse(&target, "0-1-250"), 0);
	assert_int_equal(app_restore_pick_base_gtid(&name, all, "nightly", NULL, &target),
			 0);
	assert_string_equal(name, "b2"); /* b3 (a primary's, binlog 300) is past it */
	assert_int_equal(app_gtid_pos_parse(&target, "0-1-200"), 0);
	assert_int_equal(app_restore_pick_base_gtid(&name, all, "nightly", NULL, &target),
			 0);
	assert_string_equal(name, "b2"); /* exactly at the target is a base */
	assert_int_equal(app_gtid_pos_parse(&target, "0-1-300"), 0);
	assert_int_equal(app_restore_pick_base_gtid(&name, all, "nightly", NULL, &target),
			 0);
	assert_string_equal(name, "b3");
	/* gtidCurrentPos wins over the role's own position */
	with_pos(json_array_get(all, 2), "Primary", NULL, "0-1-300", "0-1-150");
	assert_int_equal(app_gtid_pos_parse(&target, "0-1-160"), 0);
	assert_int_equal(app_restore_pick_base_gtid(&name, all, "nightly", NULL, &target),
			 0);
	assert_string_equal(name, "b3");
	/* A base with events of a domain the target does not name (another
	 * writer's) is still a base: the replay takes that domain to the
	 * source's end. Wrongly refused (b1 picked) when the pick asked that
	 * every domain of the base be in the target. */
	json_array_append_new(all, with_pos(backup("b5", "nightly", B_OK,
						   "2026-11-20T12:00:00Z", NULL, NULL),
					    "Replica", "0-1-120,1-3-7", NULL, NULL));
	assert_int_equal(app_gtid_pos_parse(&target, "0-1-140"), 0); /* b3: 150 */
	assert_int_equal(app_restore_pick_base_gtid(&name, all, "nightly", NULL, &target),
			 0);
	assert_string_equal(name, "b5");
	/* before every base */
	assert_int_equal(app_gtid_pos_parse(&target, "0-1-50"), 0);
	assert_int_equal(app_restore_pick_base_gtid(&name, all, "nightly", NULL, &target),
			 SS_ENOTFOUND);
	assert_non_null(strstr(ss_error_last()->message, "at or before 0-1-50"));
	json_decref(all);
}

static void test_pick_backup_none(void **state)
{
	static const struct {
		const char *schedule;
		bool has_point; /* false: now */
		int64_t point_ns;
		const char *message;
	} cases[] = {
		/* before all of hourly's */
		{ "hourly", true, INT64_C(1795395600) * SS_NS_PER_SEC, /* 01:00:00Z */
		  "BackupSchedule hourly has no complete Backup with data from "
		  "2026-11-23T01:00:00Z or before: all 3 of its complete Backups are "
		  "later, the oldest hourly-1 from 2026-11-23T01:30:00Z" },
		/* one usable Backup, later than the point */
		{ "monthly", true, INT64_C(1795424400) * SS_NS_PER_SEC, /* 09:00:00Z */
		  "BackupSchedule monthly has no complete Backup with data from "
		  "2026-11-23T09:00:00Z or before: its only one, monthly-1, is from "
		  "2026-11-23T10:00:00Z" },
		/* no Backup at all; no point reports now */
		{ "weekly", false, 0,
		  "BackupSchedule weekly has no complete Backup with every snapshot "
		  "ready to use, so none holds data from 2026-11-23T23:00:00Z or "
		  "before" },
		/* nightly-a at 01:00 is the oldest usable: one second before */
		{ "nightly", true, INT64_C(1795395599) * SS_NS_PER_SEC,
		  "BackupSchedule nightly has no complete Backup with data from "
		  "2026-11-23T00:59:59Z or before: all 7 of its complete Backups are "
		  "later, the oldest nightly-a from 2026-11-23T01:00:00Z" },
		/* a point at the epoch is a point, not "now": nothing that old
		 * (it used to pick the newest, nightly-tie-y) */
		{ "nightly", true, 0,
		  "BackupSchedule nightly has no complete Backup with data from "
		  "1970-01-01T00:00:00Z or before: all 7 of its complete Backups are "
		  "later, the oldest nightly-a from 2026-11-23T01:00:00Z" },
		/* and before it, too */
		{ "hourly", true, -SS_NS_PER_SEC,
		  "BackupSchedule hourly has no complete Backup with data from "
		  "1969-12-31T23:59:59Z or before: all 3 of its complete Backups are "
		  "later, the oldest hourly-1 from 2026-11-23T01:30:00Z" },
	};
	json_t *w = world();
	size_t i;

	(void)state;
	assert_int_equal(T(DAY0 "01:00:00Z"), INT64_C(1795395600) * SS_NS_PER_SEC);
	assert_int_equal(T(DAY0 "09:00:00Z"), INT64_C(1795424400) * SS_NS_PER_SEC);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *name = "unset";
		int64_t t = -5;
		int rc = app_restore_pick_backup(&name, &t, w, cases[i].schedule, NULL,
						 cases[i].has_point, cases[i].point_ns,
						 T(DAY0 "23:00:00Z"));

		assert_int_equal(rc, SS_ENOTFOUND);
		if (strcmp(ss_error_last()->message, cases[i].message) != 0)
			fail_msg("case %zu:\n got: %s\nwant: %s", i,
				 ss_error_last()->message, cases[i].message);
		assert_string_equal(name, "unset");
		assert_int_equal(t, -5);
	}

	/* No Backups at all, and a NULL list, read the same. */
	{
		const char *name = "unset";
		json_t *none = json_array();

		assert_int_equal(app_restore_pick_backup(&name, NULL, none, "nightly",
							 NULL, false, 0, T(DAY0 "23:00:00Z")),
				 SS_ENOTFOUND);
		tu_assert_error(SS_ENOTFOUND, "BackupSchedule nightly has no complete");
		assert_int_equal(app_restore_pick_backup(&name, NULL, NULL, "nightly",
							 NULL, false, 0, T(DAY0 "23:00:00Z")),
				 SS_ENOTFOUND);
		assert_string_equal(name, "unset");
		assert_int_equal(
			app_restore_pick_backup(&name, NULL, w, NULL, NULL, false, 0, 1),
			SS_EINVALID);
		json_decref(none);
	}
	json_decref(w);
}

/* A schedule's uid narrows scheduleName to that schedule's Backups: one of
 * a schedule deleted and made again under the same name (another uid in its
 * label or BackupSchedule ownerReference) is never picked, however new;
 * one made before the uid label existed still is. */
static void test_pick_backup_schedule_uid(void **state)
{
	static const struct {
		const char *label_uid; /* NULL: no snapstage.io/schedule-uid */
		const char *owner_uid; /* NULL: no BackupSchedule owner */
		bool counts;
	} cases[] = {
		{ "u-now", NULL, true },   { NULL, "u-now", true },
		{ "u-now", "u-now", true }, { NULL, NULL, true },
		{ "u-old", NULL, false },  { NULL, "u-old", false },
		{ "u-now", "u-old", false }, { "u-old", "u-now", false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *w = world();
		json_t *newest = backup("nightly-zzz-newest", "nightly", B_OK,
					DAY0 "22:00:00Z", NULL, DAY0 "21:59:00Z");
		json_t *meta = json_object_get(newest, "metadata");
		const char *name = "unset";

		if (cases[i].label_uid != NULL)
			json_object_set_new(json_object_get(meta, "labels"),
					    "snapstage.io/schedule-uid",
					    json_string(cases[i].label_uid));
		if (cases[i].owner_uid != NULL)
			json_object_set_new(meta, "ownerReferences",
					    json_pack("[{s:s, s:s, s:s}]", "kind",
						      "BackupSchedule", "name", "nightly",
						      "uid", cases[i].owner_uid));
		json_array_append_new(w, newest);
		assert_int_equal(app_restore_is_from_schedule(newest, "nightly", "u-now"),
				 cases[i].counts);
		assert_true(app_restore_is_from_schedule(newest, "nightly", NULL));
		assert_false(app_restore_is_from_schedule(newest, "hourly", "u-now"));
		assert_int_equal(app_restore_pick_backup(&name, NULL, w, "nightly", "u-now",
							 false, 0, T(DAY0 "23:00:00Z")),
				 0);
		if (strcmp(name, cases[i].counts ? "nightly-zzz-newest" : "nightly-tie-y") != 0)
			fail_msg("case %zu: picked %s", i, name);
		json_decref(w);
	}
}

/* ---- a Backup's state as a source ------------------------------------------ */

static void test_backup_state(void **state)
{
	static const struct {
		bstate st;
		const char *tweak; /* a path set to `value`, or NULL */
		const char *value; /* JSON; NULL: delete the path */
		app_source_state want;
		const char *why;
	} cases[] = {
		{ B_OK, NULL, NULL, APP_SOURCE_OK,
		  "complete with every snapshot ready to use" },
		{ B_FAILED, NULL, NULL, APP_SOURCE_FAILED, "the Backup failed" },
		/* Failed wins over Complete */
		{ B_OK, "status.conditions[1]",
		  "{\"type\":\"Failed\",\"status\":\"True\",\"reason\":\"X\"}",
		  APP_SOURCE_FAILED, "the Backup failed" },
		/* being deleted wins over everything */
		{ B_DELETING, NULL, NULL, APP_SOURCE_FAILED,
		  "the Backup is being deleted" },
		{ B_FAILED, "metadata.deletionTimestamp", "\"2026-11-23T12:00:00Z\"",
		  APP_SOURCE_FAILED, "the Backup is being deleted" },
		{ B_INCOMPLETE, "metadata.deletionTimestamp", "\"2026-11-23T12:00:00Z\"",
		  APP_SOURCE_FAILED, "the Backup is being deleted" },
		/* a JSON null deletionTimestamp is none */
		{ B_OK, "metadata.deletionTimestamp", "null", APP_SOURCE_OK,
		  "complete with every snapshot ready to use" },
		{ B_INCOMPLETE, NULL, NULL, APP_SOURCE_WAIT,
		  "the Backup is not complete yet" },
		{ B_OK, "status.conditions[0].status", "\"False\"", APP_SOURCE_WAIT,
		  "the Backup is not complete yet" },
		{ B_OK, "status.conditions[0].status", "\"Unknown\"", APP_SOURCE_WAIT,
		  "the Backup is not complete yet" },
		/* Failed False is not failed */
		{ B_INCOMPLETE, "status.conditions[0]",
		  "{\"type\":\"Failed\",\"status\":\"False\",\"reason\":\"X\"}",
		  APP_SOURCE_WAIT, "the Backup is not complete yet" },
		{ B_NOT_READY, NULL, NULL, APP_SOURCE_WAIT,
		  "a snapshot of the Backup is not ready to use yet" },
		{ B_OK, "status.snapshots[0].readyToUse", NULL, APP_SOURCE_WAIT,
		  "a snapshot of the Backup is not ready to use yet" },
		{ B_OK, "status.snapshots[1].readyToUse", "\"true\"", APP_SOURCE_WAIT,
		  "a snapshot of the Backup is not ready to use yet" },
		/* an entry without a volume still counts */
		{ B_OK, "status.snapshots[2]", "{\"readyToUse\":false}", APP_SOURCE_WAIT,
		  "a snapshot of the Backup is not ready to use yet" },
		/* a VolumeSnapshot was deleted or failed since it completed */
		{ B_OK, "status.conditions[1]",
		  "{\"type\":\"Restorable\",\"status\":\"False\","
		  "\"reason\":\"SnapshotMissing\"}",
		  APP_SOURCE_FAILED,
		  "its VolumeSnapshots are no longer restorable (condition "
		  "Restorable False)" },
		{ B_OK, "status.conditions[1]",
		  "{\"type\":\"Restorable\",\"status\":\"True\","
		  "\"reason\":\"SnapshotsReady\"}",
		  APP_SOURCE_OK, "complete with every snapshot ready to use" },
		{ B_NO_SNAPSHOTS, NULL, NULL, APP_SOURCE_FAILED,
		  "the Backup lists no snapshots" },
		{ B_OK, "status.snapshots", "null", APP_SOURCE_FAILED,
		  "the Backup lists no snapshots" },
	};
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *b = backup("b", "nightly", cases[i].st, DAY0 "01:00:00Z", NULL,
				   DAY0 "00:59:00Z");
		app_source_state got;

		if (cases[i].tweak != NULL)
			tu_json_set(b, cases[i].tweak,
				    cases[i].value != NULL ? tu_json(cases[i].value)
							   : NULL);
		why = NULL;
		got = app_restore_backup_state(b, &why);
		if (got != cases[i].want)
			fail_msg("case %zu: state %d, want %d (%s)", i, (int)got,
				 (int)cases[i].want, why != NULL ? why : "NULL");
		assert_non_null(why);
		assert_string_equal(why, cases[i].why);
		/* why may be NULL */
		assert_int_equal(app_restore_backup_state(b, NULL), cases[i].want);
		json_decref(b);
	}
	assert_int_equal(app_restore_backup_state(NULL, &why), APP_SOURCE_FAILED);
	assert_string_equal(why, "the Backup does not exist");
}

/* ---- the claims of a NewClaims restore ------------------------------------ */

/* A Restore named `name` (uid uid-r1, namespace db) of Backup nightly-a
 * with spec.target.newClaims `new_claims` (JSON; NULL: absent), decoded
 * into *spec. Keep the object alive as long as *spec is used. */
static json_t *restore_new(app_restore_spec *spec, const char *name,
			   const char *new_claims)
{
	json_t *r = json_pack("{s:s, s:s, s:{s:s, s:s, s:s},"
			      " s:{s:{s:s}, s:{s:s}}}",
			      "apiVersion", "snapstage.io/v1alpha1", "kind", "Restore",
			      "metadata", "name", name, "namespace", "db", "uid",
			      "uid-r1", "spec", "source", "backupName", "nightly-a",
			      "target", "mode", "NewClaims");
	const char *reason = NULL;

	assert_non_null(r);
	if (new_claims != NULL)
		tu_json_set(r, "spec.target.newClaims", tu_json(new_claims));
	if (app_restore_spec_decode(spec, r, &reason) != 0)
		fail_msg("test Restore does not decode (%s): %s", reason,
			 ss_error_last()->message);
	return r;
}

/* Points spec's newClaims labels and annotations (JSON objects; NULL:
 * unchanged) at maps kept in `r`, bypassing the decoder: it refuses keys in
 * snapstage's prefix (test_api.c), and this is how the plan treats them
 * should one get past it anyway. */
static void forge_claim_metadata(app_restore_spec *spec, json_t *r, const char *labels,
				 const char *annotations)
{
	if (labels != NULL) {
		tu_json_set(r, "forged.labels", tu_json(labels));
		spec->claim_labels = json_object_get(json_object_get(r, "forged"), "labels");
	}
	if (annotations != NULL) {
		tu_json_set(r, "forged.annotations", tu_json(annotations));
		spec->claim_annotations =
			json_object_get(json_object_get(r, "forged"), "annotations");
	}
}

/* nightly-a's volumes: data (10Gi), binlog (1Gi), tmp (size unknown). */
static const app_restore_volume source3[] = {
	{ "data", "nightly-a-data", 10 * GI },
	{ "binlog", "nightly-a-binlog", GI },
	{ "tmp", "nightly-a-tmp", -1 },
};

/* Plans and expects success; returns the array (caller frees). */
static json_t *plan_ok(const json_t *r, const app_restore_spec *spec,
		       const app_restore_volume *vols, size_t n)
{
	app_restore_claims_in in = { r, spec, vols, n };
	const char *reason = "unset";
	json_t *out = NULL;

	if (app_restore_claims_plan(&out, &reason, &in) != 0)
		fail_msg("plan failed (%s): %s", reason, ss_error_last()->message);
	assert_string_equal(reason, "unset"); /* untouched on success */
	assert_true(json_is_array(out));
	return out;
}

/* Plans and expects failure with `code`, `reason` and exactly `message`. */
static void plan_fails(const json_t *r, const app_restore_spec *spec,
		       const app_restore_volume *vols, size_t n, int code,
		       const char *reason, const char *message)
{
	app_restore_claims_in in = { r, spec, vols, n };
	const char *got_reason = "unset";
	json_t *sentinel = json_object(), *out = sentinel;

	assert_int_equal(app_restore_claims_plan(&out, &got_reason, &in), code);
	assert_ptr_equal(out, sentinel); /* untouched on failure */
	assert_non_null(got_reason);
	assert_string_equal(got_reason, reason);
	if (strcmp(ss_error_last()->message, message) != 0)
		fail_msg("\n got: %s\nwant: %s", ss_error_last()->message, message);
	/* reason may be NULL */
	assert_int_equal(app_restore_claims_plan(&out, NULL, &in), code);
	assert_ptr_equal(out, sentinel);
	json_decref(sentinel);
}

static void test_claims_default_names(void **state)
{
	app_restore_spec spec;
	json_t *r = restore_new(&spec, "restore-1", NULL);
	json_t *out = plan_ok(r, &spec, source3, 2);

	(void)state;
	assert_int_equal(json_array_size(out), 2);
	/* Whole objects: no storageClassName (none given), no ownerReferences,
	 * the exact dataSource, the default access mode. */
	assert_json_is(json_array_get(out, 0),
		       "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\","
		       "\"metadata\":{\"name\":\"restore-1-data\",\"namespace\":\"db\","
		       "\"labels\":{\"snapstage.io/restore\":\"restore-1\","
		       "\"snapstage.io/volume\":\"data\"},"
		       "\"annotations\":{\"snapstage.io/restore-uid\":\"uid-r1\"}},"
		       "\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],"
		       "\"resources\":{\"requests\":{\"storage\":\"10Gi\"}},"
		       "\"dataSource\":{\"apiGroup\":\"snapshot.storage.k8s.io\","
		       "\"kind\":\"VolumeSnapshot\",\"name\":\"nightly-a-data\"}}}");
	assert_json_is(json_array_get(out, 1),
		       "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\","
		       "\"metadata\":{\"name\":\"restore-1-binlog\",\"namespace\":\"db\","
		       "\"labels\":{\"snapstage.io/restore\":\"restore-1\","
		       "\"snapstage.io/volume\":\"binlog\"},"
		       "\"annotations\":{\"snapstage.io/restore-uid\":\"uid-r1\"}},"
		       "\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],"
		       "\"resources\":{\"requests\":{\"storage\":\"1Gi\"}},"
		       "\"dataSource\":{\"apiGroup\":\"snapshot.storage.k8s.io\","
		       "\"kind\":\"VolumeSnapshot\",\"name\":\"nightly-a-binlog\"}}}");
	json_decref(out);
	json_decref(r);
}

/* A Restore name too long for a label value: the claim name is cut to 63
 * with a hash, the restore label is left out (a user label of that key
 * too, so it cannot pose as another Restore's), and the claim is still
 * ours. */
static void test_claims_long_restore_name(void **state)
{
	char long_name[101], want[APP_NAME_BUF];
	app_restore_spec spec;
	json_t *r, *out, *pvc;

	(void)state;
	memset(long_name, 'r', 100);
	long_name[100] = '\0';
	r = restore_new(&spec, long_name, "{}");
	forge_claim_metadata(&spec, r, "{\"snapstage.io/restore\":\"someone-else\"}",
			     NULL);
	out = plan_ok(r, &spec, source3, 1);
	pvc = json_array_get(out, 0);
	assert_int_equal(app_name_join(want, APP_LABEL_VALUE_MAX, long_name, "data"), 0);
	assert_int_equal(strlen(want), 63);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(pvc, "metadata"), "name")),
			    want);
	assert_json_is(json_object_get(json_object_get(pvc, "metadata"), "labels"),
		       "{\"snapstage.io/volume\":\"data\"}");
	assert_true(app_restore_claim_is_ours(pvc, r));
	json_decref(out);
	json_decref(r);
}

static void test_claims_spec_names_order_and_modes(void **state)
{
	app_restore_spec spec;
	json_t *r =
		restore_new(&spec, "restore-1",
			    "{\"claims\":[{\"volume\":\"binlog\",\"name\":\"logs-copy\","
			    "\"size\":\"20Gi\"},"
			    "{\"volume\":\"data\",\"name\":\"data-copy\"}],"
			    "\"storageClassName\":\"fast\","
			    "\"accessModes\":[\"ReadWriteOncePod\",\"ReadOnlyMany\"]}");
	json_t *out = plan_ok(r, &spec, source3, 3);

	(void)state;
	/* Exactly the listed volumes (tmp is left alone), in spec order. */
	assert_int_equal(json_array_size(out), 2);
	assert_json_is(
		json_array_get(out, 0),
		"{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\","
		"\"metadata\":{\"name\":\"logs-copy\",\"namespace\":\"db\","
		"\"labels\":{\"snapstage.io/restore\":\"restore-1\","
		"\"snapstage.io/volume\":\"binlog\"},"
		"\"annotations\":{\"snapstage.io/restore-uid\":\"uid-r1\"}},"
		"\"spec\":{\"accessModes\":[\"ReadWriteOncePod\",\"ReadOnlyMany\"],"
		"\"storageClassName\":\"fast\","
		"\"resources\":{\"requests\":{\"storage\":\"20Gi\"}},"
		"\"dataSource\":{\"apiGroup\":\"snapshot.storage.k8s.io\","
		"\"kind\":\"VolumeSnapshot\",\"name\":\"nightly-a-binlog\"}}}");
	assert_json_is(
		json_array_get(out, 1),
		"{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\","
		"\"metadata\":{\"name\":\"data-copy\",\"namespace\":\"db\","
		"\"labels\":{\"snapstage.io/restore\":\"restore-1\","
		"\"snapstage.io/volume\":\"data\"},"
		"\"annotations\":{\"snapstage.io/restore-uid\":\"uid-r1\"}},"
		"\"spec\":{\"accessModes\":[\"ReadWriteOncePod\",\"ReadOnlyMany\"],"
		"\"storageClassName\":\"fast\","
		"\"resources\":{\"requests\":{\"storage\":\"10Gi\"}},"
		"\"dataSource\":{\"apiGroup\":\"snapshot.storage.k8s.io\","
		"\"kind\":\"VolumeSnapshot\",\"name\":\"nightly-a-data\"}}}");
	json_decref(out);
	json_decref(r);
}

/* A spec claim's own class (an in-place point-in-time restore's scratch
 * claims, each in its template's) wins over spec.storageClassName; a
 * claim without one takes the spec's. (All once took the first volume's.) */
static void test_claims_own_class(void **state)
{
	app_restore_spec spec;
	json_t *r = restore_new(&spec, "restore-1",
				"{\"claims\":[{\"volume\":\"data\",\"name\":\"d\"},"
				"{\"volume\":\"binlog\",\"name\":\"b\"},"
				"{\"volume\":\"tmp\",\"name\":\"t\",\"size\":\"1Gi\"}],"
				"\"storageClassName\":\"fast\"}");
	json_t *out;

	(void)state;
	assert_null(spec.claims[0].storage_class); /* the API has no such field */
	spec.claims[0].storage_class = "ssd";
	spec.claims[1].storage_class = "hdd";
	out = plan_ok(r, &spec, source3, 3);
	assert_int_equal(json_array_size(out), 3);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(out, 0), "spec"),
				    "storageClassName")),
			    "ssd");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(out, 1), "spec"),
				    "storageClassName")),
			    "hdd");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(out, 2), "spec"),
				    "storageClassName")),
			    "fast");
	json_decref(out);
	spec.storage_class = NULL; /* no spec class: only the claims' own */
	out = plan_ok(r, &spec, source3, 3);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(out, 1), "spec"),
				    "storageClassName")),
			    "hdd");
	assert_null(json_object_get(json_object_get(json_array_get(out, 2), "spec"),
				    "storageClassName"));
	json_decref(out);
	json_decref(r);
}

static void test_claims_size(void **state)
{
	static const struct {
		const char *spec_size; /* JSON; NULL: not given */
		int64_t restore_size;
		const char *want; /* NULL: SourceNotReady */
		int64_t want_bytes;
	} cases[] = {
		{ NULL, 10 * GI, "10Gi", 10 * GI },	       /* the restoreSize */
		{ "\"5Gi\"", 10 * GI, "10Gi", 10 * GI },       /* raised to it */
		{ "\"20Gi\"", 10 * GI, "20Gi", 20 * GI },      /* larger kept */
		{ "\"10Gi\"", 10 * GI, "10Gi", 10 * GI },      /* equal */
		{ "\"20Gi\"", -1, "20Gi", 20 * GI },	       /* unknown: the spec's */
		{ "\"20Gi\"", 0, "20Gi", 20 * GI },	       /* 0 is unknown too */
		{ "21474836480", -1, "20Gi", 20 * GI },	       /* an integer size */
		{ NULL, GI + 1, "1073741825", GI + 1 },	       /* not a whole Ki */
		{ "\"1500M\"", GI, "1500000000", 1500000000 }, /* decimal */
		{ "\"1536Mi\"", GI, "1536Mi", 1536 * INT64_C(1048576) },
		{ NULL, -1, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		app_restore_volume vol = { "data", "nightly-a-data",
					   cases[i].restore_size };
		char nc[256];
		app_restore_spec spec;
		json_t *r, *out;
		const char *storage;
		int64_t bytes = -1;

		snprintf(nc, sizeof(nc),
			 "{\"claims\":[{\"volume\":\"data\",\"name\":\"copy\"%s%s}]}",
			 cases[i].spec_size != NULL ? ",\"size\":" : "",
			 cases[i].spec_size != NULL ? cases[i].spec_size : "");
		r = restore_new(&spec, "restore-1", nc);
		if (cases[i].want == NULL) {
			plan_fails(r, &spec, &vol, 1, SS_EINVALID, "SourceNotReady",
				   "volume \"data\": the size of VolumeSnapshot "
				   "nightly-a-data is not known yet (no restoreSize) and "
				   "spec.target.newClaims.claims[0].size is not set");
			json_decref(r);
			continue;
		}
		out = plan_ok(r, &spec, &vol, 1);
		storage = json_string_value(json_object_get(
			json_object_get(
				json_object_get(
					json_object_get(json_array_get(out, 0), "spec"),
					"resources"),
				"requests"),
			"storage"));
		assert_non_null(storage);
		if (strcmp(storage, cases[i].want) != 0)
			fail_msg("case %zu: storage %s, want %s", i, storage,
				 cases[i].want);
		/* What is written parses back to exactly the bytes meant. */
		assert_int_equal(kube_quantity_parse(&bytes, storage), 0);
		assert_int_equal(bytes, cases[i].want_bytes);
		json_decref(out);
		json_decref(r);
	}
}

/* With no claims listed, an unknown size asks for one in the spec. */
static void test_claims_default_size_unknown(void **state)
{
	app_restore_spec spec;
	json_t *r = restore_new(&spec, "restore-1", NULL);

	(void)state;
	plan_fails(
		r, &spec, source3, 3, SS_EINVALID, "SourceNotReady",
		"volume \"tmp\": the size of VolumeSnapshot nightly-a-tmp is not known "
		"yet (no restoreSize); give it in spec.target.newClaims.claims[].size");
	json_decref(r);
}

static void test_claims_spec_errors(void **state)
{
	app_restore_spec spec;
	json_t *r = restore_new(&spec, "restore-1",
				"{\"claims\":[{\"volume\":\"data\",\"name\":\"a\"},"
				"{\"volume\":\"logs\",\"name\":\"b\"}]}");
	json_t *ok;

	(void)state;
	/* A volume the source does not have: the message lists what it has. */
	plan_fails(r, &spec, source3, 3, SS_EINVALID, "InvalidSpec",
		   "spec.target.newClaims.claims[1].volume: the source has no volume "
		   "\"logs\" (its volumes: data, binlog, tmp)");
	plan_fails(r, &spec, source3, 0, SS_EINVALID, "InvalidSpec",
		   "spec.target.newClaims.claims[0].volume: the source has no volume "
		   "\"data\" (its volumes: none)");
	json_decref(r);

	/* Duplicates (the decoder refuses them too; a spec built without it
	 * must not get through here either). */
	r = restore_new(&spec, "restore-1",
			"{\"claims\":[{\"volume\":\"data\",\"name\":\"a\"},"
			"{\"volume\":\"binlog\",\"name\":\"b\"}]}");
	ok = plan_ok(r, &spec, source3, 3);
	assert_int_equal(json_array_size(ok), 2);
	json_decref(ok);
	spec.claims[1].name = "a";
	plan_fails(r, &spec, source3, 3, SS_EINVALID, "InvalidSpec",
		   "spec.target.newClaims.claims[1].name: \"a\" is listed twice");
	spec.claims[1].name = "b";
	spec.claims[1].volume = "data";
	plan_fails(r, &spec, source3, 3, SS_EINVALID, "InvalidSpec",
		   "spec.target.newClaims.claims[1].volume: \"data\" is listed twice");
	json_decref(r);

	/* The decoder reports the same paths. */
	{
		const char *reason = NULL;
		json_t *dup = json_pack(
			"{s:{s:s, s:s, s:s}, s:{s:{s:s}, s:{s:s, s:{s:[{s:s, s:s},"
			" {s:s, s:s}]}}}}",
			"metadata", "name", "restore-1", "namespace", "db", "uid",
			"uid-r1", "spec", "source", "backupName", "nightly-a", "target",
			"mode", "NewClaims", "newClaims", "claims", "volume", "data",
			"name", "a", "volume", "binlog", "name", "a");

		assert_int_equal(app_restore_spec_decode(&spec, dup, &reason),
				 SS_EINVALID);
		tu_assert_error(
			SS_EINVALID,
			"spec.target.newClaims.claims[1].name: \"a\" is listed twice");
		json_decref(dup);
	}
}

static void test_claims_source_errors(void **state)
{
	static const app_restore_volume twice[] = {
		{ "data", "nightly-a-data", GI },
		{ "data", "nightly-a-data2", GI },
	};
	static const app_restore_volume no_snapshot[] = {
		{ "data", "nightly-a-data", GI },
		{ "binlog", NULL, GI },
	};
	static const app_restore_volume no_name[] = {
		{ "", "nightly-a-data", GI },
	};
	app_restore_spec spec;
	json_t *r = restore_new(&spec, "restore-1", NULL);

	(void)state;
	plan_fails(r, &spec, twice, 2, SS_EINVALID, "SourceNotReady",
		   "the source lists volume \"data\" twice");
	plan_fails(r, &spec, no_snapshot, 2, SS_EINVALID, "SourceNotReady",
		   "the source's volume 1 (\"binlog\") has no VolumeSnapshot");
	plan_fails(r, &spec, no_name, 1, SS_EINVALID, "SourceNotReady",
		   "the source's volume 0 (\"\") has no name");

	/* The Restore's own identity is needed for the ownership marks. */
	tu_json_set(r, "metadata.uid", NULL);
	plan_fails(r, &spec, source3, 2, SS_EINVALID, "InvalidSpec",
		   "planning claims needs the Restore's name, namespace, uid and spec "
		   "(Restore db/restore-1 has uid none)");
	json_decref(r);
}

static void test_claims_labels_and_annotations(void **state)
{
	app_restore_spec spec;
	json_t *r = restore_new(&spec, "restore-1", "{}");
	json_t *out, *meta;

	(void)state;
	forge_claim_metadata(
		&spec, r,
		"{\"team\":\"db\",\"argocd.argoproj.io/instance\":\"prod\","
		"\"app.kubernetes.io/instance\":\"mariadb\","
		"\"app.kubernetes.io/managed-by\":\"Helm\","
		"\"kustomize.toolkit.fluxcd.io/name\":\"apps\","
		"\"app.kubernetes.io/name\":\"mariadb\","
		"\"snapstage.io/restore\":\"someone-else\","
		"\"snapstage.io/volume\":\"other\",\"snapstage.io/other\":\"x\"}",
		"{\"note\":\"restored for QA\","
		"\"argocd.argoproj.io/tracking-id\":\"prod:/PersistentVolumeClaim:db/x\","
		"\"snapstage.io/restore-uid\":\"uid-forged\","
		"\"snapstage.io/reattached-by-restore\":\"uid-forged\"}");
	out = plan_ok(r, &spec, source3, 1);
	meta = json_object_get(json_array_get(out, 0), "metadata");
	/* GitOps tracking keys dropped; snapstage's own keys always its own,
	 * and no other key in its prefix is copied. */
	assert_json_is(json_object_get(meta, "labels"),
		       "{\"team\":\"db\",\"app.kubernetes.io/name\":\"mariadb\","
		       "\"snapstage.io/restore\":\"restore-1\","
		       "\"snapstage.io/volume\":\"data\"}");
	assert_json_is(json_object_get(meta, "annotations"),
		       "{\"note\":\"restored for QA\","
		       "\"snapstage.io/restore-uid\":\"uid-r1\"}");
	json_decref(out);
	json_decref(r);
}

/* ---- reading existing claims ------------------------------------------------ */

static void test_claim_is_ours(void **state)
{
	static const struct {
		const char *label;	/* APP_LABEL_RESTORE; NULL: absent */
		const char *annotation; /* APP_ANNOTATION_RESTORE_UID; NULL: absent */
		bool want;
	} cases[] = {
		{ "restore-1", "uid-r1", true },
		{ "restore-2", "uid-r1", false },  /* another Restore's name */
		{ "restore-1", "uid-old", false }, /* same name, an earlier Restore */
		{ "restore-1", NULL, false },
		{ NULL, "uid-r1", false },
		{ NULL, NULL, false },
		{ "restore-1", "", false },
	};
	app_restore_spec spec;
	json_t *r = restore_new(&spec, "restore-1", NULL);
	json_t *planned = plan_ok(r, &spec, source3, 1);
	json_t *anon =
		tu_json("{\"metadata\":{\"name\":\"restore-1\",\"namespace\":\"db\"}}");
	size_t i;

	(void)state;
	/* What the plan makes is ours. */
	assert_true(app_restore_claim_is_ours(json_array_get(planned, 0), r));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *pvc = tu_json(
			"{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\","
			"\"metadata\":{\"name\":\"restore-1-data\","
			"\"namespace\":\"db\"}}");

		if (cases[i].label != NULL)
			set_meta(pvc, "labels", APP_LABEL_RESTORE, cases[i].label);
		if (cases[i].annotation != NULL)
			set_meta(pvc, "annotations", APP_ANNOTATION_RESTORE_UID,
				 cases[i].annotation);
		if (app_restore_claim_is_ours(pvc, r) != cases[i].want)
			fail_msg("case %zu: want %d", i, (int)cases[i].want);
		/* A Restore without a uid owns nothing. */
		assert_false(app_restore_claim_is_ours(pvc, anon));
		json_decref(pvc);
	}
	assert_false(app_restore_claim_is_ours(NULL, r));
	json_decref(anon);
	json_decref(planned);
	json_decref(r);
}

static void test_claim_state(void **state)
{
	static const struct {
		const char *pvc;
		app_claim_state want;
	} cases[] = {
		{ "{\"status\":{\"phase\":\"Bound\"}}", APP_CLAIM_BOUND },
		{ "{\"status\":{\"phase\":\"Lost\"}}", APP_CLAIM_LOST },
		{ "{\"status\":{\"phase\":\"Pending\"}}", APP_CLAIM_PENDING },
		{ "{\"status\":{\"phase\":\"bound\"}}", APP_CLAIM_PENDING },
		{ "{\"status\":{\"phase\":\"\"}}", APP_CLAIM_PENDING },
		{ "{\"status\":{\"phase\":7}}", APP_CLAIM_PENDING },
		{ "{\"status\":{}}", APP_CLAIM_PENDING },
		{ "{\"status\":null}", APP_CLAIM_PENDING },
		{ "{}", APP_CLAIM_PENDING },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *pvc = tu_json(cases[i].pvc);

		if (app_restore_claim_state(pvc) != cases[i].want)
			fail_msg("case %zu (%s): %d, want %d", i, cases[i].pvc,
				 (int)app_restore_claim_state(pvc), (int)cases[i].want);
		json_decref(pvc);
	}
	assert_int_equal(app_restore_claim_state(NULL), APP_CLAIM_PENDING);
}

/* Quick looks in the first seconds of a wait (and after a clock step
 * back), the whole poll after. */
static void test_poll_after(void **state)
{
	const int64_t poll = 2 * SS_NS_PER_SEC;

	(void)state;
	assert_int_equal(app_restore_poll_after(0, poll), poll / 4);
	assert_int_equal(app_restore_poll_after(-5 * SS_NS_PER_SEC, poll), poll / 4);
	assert_int_equal(app_restore_poll_after(
				 APP_RESTORE_QUICK_POLL_S * SS_NS_PER_SEC - 1, poll),
			 poll / 4);
	assert_int_equal(
		app_restore_poll_after(APP_RESTORE_QUICK_POLL_S * SS_NS_PER_SEC, poll),
		poll);
	assert_int_equal(app_restore_poll_after(3600 * SS_NS_PER_SEC, poll), poll);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick_backup),
		cmocka_unit_test(test_pick_backup_none),
		cmocka_unit_test(test_pick_base_gtid),
		cmocka_unit_test(test_pick_backup_schedule_uid),
		cmocka_unit_test(test_backup_state),
		cmocka_unit_test(test_claims_default_names),
		cmocka_unit_test(test_claims_long_restore_name),
		cmocka_unit_test(test_claims_spec_names_order_and_modes),
		cmocka_unit_test(test_claims_own_class),
		cmocka_unit_test(test_claims_size),
		cmocka_unit_test(test_claims_default_size_unknown),
		cmocka_unit_test(test_claims_spec_errors),
		cmocka_unit_test(test_claims_source_errors),
		cmocka_unit_test(test_claims_labels_and_annotations),
		cmocka_unit_test(test_claim_is_ours),
		cmocka_unit_test(test_claim_state),
		cmocka_unit_test(test_poll_after),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
