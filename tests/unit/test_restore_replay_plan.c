/*
 * test_restore_replay_plan.c — the pure decisions of a point-in-time
 * restore (app/restore/restore_replay_plan.h): the base check for a named
 * Backup, the base bound a schedule's Backups are compared with, the GTID
 * target assembled against the source's binlog position (inclusive and
 * not, other domains, triples not in the history), a time target's
 * completeness, the primary among probed members, and what one look at a
 * replay's progress leads to.
 */
#include <string.h>

#include "testutil.h"

#include "app/api/names.h"
#include "app/restore/restore_replay_plan.h"
#include "util/clock.h"
#include "util/error.h"

#define SEC SS_NS_PER_SEC

static app_gtid_pos P(const char *text)
{
	app_gtid_pos p;

	assert_int_equal(app_gtid_pos_parse(&p, text), 0);
	return p;
}

static void assert_pos(const app_gtid_pos *p, const char *want)
{
	char got[APP_GTID_TEXT_MAX];

	assert_int_equal(app_gtid_pos_format(got, sizeof(got), p), 0);
	assert_string_equal(got, want);
}

static app_replay_spec gtid_spec(const char *gtid, bool inclusive)
{
	app_replay_spec rp;

	memset(&rp, 0, sizeof(rp));
	rp.enabled = true;
	rp.gtid = gtid;
	rp.inclusive = inclusive;
	return rp;
}

static void test_check_base(void **state)
{
	app_replay_spec rp = gtid_spec("0-1-10", false);
	app_gtid_pos base = P("0-1-9");
	const char *reason = NULL;
	char why[256];

	(void)state;
	/* just before 0-1-10 is 9: a base at 9 is fine, at 10 is past it */
	assert_int_equal(app_restore_replay_check_base(&rp, &base, 0, &reason, why,
						       sizeof(why)),
			 0);
	base = P("0-1-10");
	assert_int_equal(app_restore_replay_check_base(&rp, &base, 0, &reason, why,
						       sizeof(why)),
			 SS_EINVALID);
	assert_string_equal(reason, "NoBaseBeforeTarget");
	rp.inclusive = true;
	assert_int_equal(app_restore_replay_check_base(&rp, &base, 0, &reason, why,
						       sizeof(why)),
			 0);
	/* a domain the target does not name is not compared */
	base = P("0-1-3,1-2-99");
	assert_int_equal(app_restore_replay_check_base(&rp, &base, 0, &reason, why,
						       sizeof(why)),
			 0);
	/* time: data time at the target is fine, a second later is not,
	 * unknown is refused */
	memset(&rp, 0, sizeof(rp));
	rp.has_time = true;
	rp.time_ns = 1000 * SEC;
	assert_int_equal(app_restore_replay_check_base(&rp, &base, 1000 * SEC, &reason,
						       why, sizeof(why)),
			 0);
	assert_int_equal(app_restore_replay_check_base(&rp, &base, 1001 * SEC, &reason,
						       why, sizeof(why)),
			 SS_EINVALID);
	assert_string_equal(reason, "NoBaseBeforeTarget");
	assert_non_null(strstr(why, "after the target time"));
	assert_int_equal(app_restore_replay_check_base(&rp, &base, 0, &reason, why,
						       sizeof(why)),
			 SS_EINVALID);
}

static void test_check_time(void **state)
{
	app_replay_spec rp = gtid_spec("0-1-10", true);
	const int64_t now = INT64_C(1795425600) * SS_NS_PER_SEC; /* 09:20:00Z */
	const char *reason = NULL;
	char why[256];

	(void)state;
	/* a GTID target: not this check's */
	assert_int_equal(
		app_restore_replay_check_time(&rp, now, &reason, why, sizeof(why)), 0);
	rp.has_time = true;
	rp.time_ns = now; /* now itself is not the future */
	assert_int_equal(
		app_restore_replay_check_time(&rp, now, &reason, why, sizeof(why)), 0);
	rp.time_ns = now - SS_NS_PER_SEC;
	assert_int_equal(
		app_restore_replay_check_time(&rp, now, &reason, why, sizeof(why)), 0);
	rp.time_ns = now + SS_NS_PER_SEC;
	assert_int_equal(
		app_restore_replay_check_time(&rp, now, &reason, why, sizeof(why)),
		SS_EINVALID);
	assert_string_equal(reason, "TargetNotReached");
	assert_string_equal(why, "the target time 2026-11-23T09:20:01Z is in the future "
				 "(the controller's clock says 2026-11-23T09:20:00Z): no "
				 "binlog holds it yet");
}

static void test_base_bound(void **state)
{
	app_replay_spec rp = gtid_spec("0-1-10", false);
	const char *reason = NULL;
	app_gtid_pos out;
	char why[256];

	(void)state;
	assert_int_equal(app_restore_replay_base_bound(&out, &rp, &reason, why, sizeof(why)),
			 0);
	assert_pos(&out, "0-1-9");
	rp.inclusive = true;
	rp.gtid = "1-2-5,0-1-10";
	assert_int_equal(app_restore_replay_base_bound(&out, &rp, &reason, why, sizeof(why)),
			 0);
	assert_pos(&out, "0-1-10,1-2-5");
	rp.inclusive = false;
	assert_int_equal(app_restore_replay_base_bound(&out, &rp, &reason, why, sizeof(why)),
			 SS_EINVALID);
	assert_string_equal(reason, "InvalidSpec");
	rp.gtid = "0-1-0";
	assert_int_equal(app_restore_replay_base_bound(&out, &rp, &reason, why, sizeof(why)),
			 SS_EINVALID);
}

static void test_gtid_target(void **state)
{
	app_gtid_pos base = P("0-1-5"), current = P("0-2-20,1-3-7"), out;
	app_replay_spec rp = gtid_spec("0-1-12", false);
	const char *reason = NULL;
	char why[256];

	(void)state;
	/* just before 0-1-12: the other domain replays to the source's end */
	assert_int_equal(app_restore_replay_gtid_target(&out, &rp, &base, &current, &reason,
							why, sizeof(why)),
			 0);
	assert_pos(&out, "0-1-11,1-3-7");
	/* inclusive: the GTID itself */
	rp.inclusive = true;
	assert_int_equal(app_restore_replay_gtid_target(&out, &rp, &base, &current, &reason,
							why, sizeof(why)),
			 0);
	assert_pos(&out, "0-1-12,1-3-7");
	/* past the source's end */
	rp.gtid = "0-1-21";
	assert_int_equal(app_restore_replay_gtid_target(&out, &rp, &base, &current, &reason,
							why, sizeof(why)),
			 SS_EINVALID);
	assert_string_equal(reason, "TargetNotReached");
	/* the source's last GTID under another server id: not in the history */
	rp.gtid = "0-1-20";
	assert_int_equal(app_restore_replay_gtid_target(&out, &rp, &base, &current, &reason,
							why, sizeof(why)),
			 SS_EINVALID);
	assert_string_equal(reason, "TargetNotReached");
	assert_non_null(strstr(why, "0-2-20"));
	/* a domain the source lacks */
	rp.gtid = "5-1-1";
	assert_int_equal(app_restore_replay_gtid_target(&out, &rp, &base, &current, &reason,
							why, sizeof(why)),
			 SS_EINVALID);
	assert_string_equal(reason, "TargetNotReached");
	/* before the base */
	rp.gtid = "0-1-5";
	rp.inclusive = false;
	assert_int_equal(app_restore_replay_gtid_target(&out, &rp, &base, &current, &reason,
							why, sizeof(why)),
			 SS_EINVALID);
	assert_string_equal(reason, "NoBaseBeforeTarget");
}

static void test_target_complete(void **state)
{
	app_gtid_pos base = P("0-1-5"), current = P("0-1-9,1-3-7");
	app_gtid_pos t = P("0-1-8");
	const char *reason = NULL;
	char why[256];

	(void)state;
	/* domain 1 has events after the base the time target names none of */
	assert_int_equal(app_restore_replay_target_complete(&t, &base, &current, &reason,
							    why, sizeof(why)),
			 SS_EINVALID);
	assert_string_equal(reason, "TargetAmbiguous");
	t = P("0-1-8,1-3-2");
	assert_int_equal(app_restore_replay_target_complete(&t, &base, &current, &reason,
							    why, sizeof(why)),
			 0);
	/* a domain without events after the base needs no entry */
	current = P("0-1-9,1-3-7");
	base = P("0-1-5,1-3-7");
	t = P("0-1-8,1-3-7");
	assert_int_equal(app_restore_replay_target_complete(&t, &base, &current, &reason,
							    why, sizeof(why)),
			 0);
	t = P("0-1-4,1-3-7");
	assert_int_equal(app_restore_replay_target_complete(&t, &base, &current, &reason,
							    why, sizeof(why)),
			 SS_EINVALID);
	assert_string_equal(reason, "NoBaseBeforeTarget");
}

static void test_pick_primary(void **state)
{
	app_db_kind kinds[3] = { APP_DB_HEALTHY_REPLICA, APP_DB_PRIMARY, APP_DB_UNKNOWN };
	size_t idx = 99;
	char why[256];

	(void)state;
	assert_int_equal(app_restore_replay_pick_primary(&idx, kinds, 3, why, sizeof(why)),
			 0);
	assert_int_equal(idx, 1);
	kinds[2] = APP_DB_PRIMARY;
	assert_int_equal(app_restore_replay_pick_primary(&idx, kinds, 3, why, sizeof(why)),
			 SS_ENOTFOUND);
	assert_non_null(strstr(why, "more than one"));
	kinds[1] = kinds[2] = APP_DB_UNHEALTHY_REPLICA;
	assert_int_equal(app_restore_replay_pick_primary(&idx, kinds, 3, why, sizeof(why)),
			 SS_ENOTFOUND);
	assert_non_null(strstr(why, "none"));
}

static void test_decide(void **state)
{
	app_gtid_pos target = P("0-1-10");
	app_replay_progress p;
	const char *reason = NULL;

	(void)state;
	assert_int_equal(app_restore_replay_decide(NULL, &target, true, &reason),
			 APP_REPLAY_DO_START);
	memset(&p, 0, sizeof(p));
	p.state = APP_REPLAY_RUNNING;
	p.io_connected = true;
	p.reached = P("0-1-7");
	assert_int_equal(app_restore_replay_decide(&p, &target, false, &reason),
			 APP_REPLAY_DO_WAIT);
	assert_int_equal(app_restore_replay_decide(&p, &target, true, &reason),
			 APP_REPLAY_DO_FAIL);
	assert_string_equal(reason, "Timeout");
	/* The IO thread stopped without an error: with UNTIL master_gtid_pos
	 * it stops once it has fetched up to the target while the SQL thread
	 * applies on. Not a lost source: wait, and a timeout is Timeout (the
	 * old rule took it as ReplaySourceLost, and a START each look made
	 * every look write status). */
	p.io_connected = false;
	assert_int_equal(app_restore_replay_decide(&p, &target, false, &reason),
			 APP_REPLAY_DO_WAIT);
	assert_int_equal(app_restore_replay_decide(&p, &target, true, &reason),
			 APP_REPLAY_DO_FAIL);
	assert_string_equal(reason, "Timeout");
	/* The IO thread retrying a lost source: start again, which re-points
	 * a source Pod made again at another address (MariaDB would retry
	 * the old one until ReplaySourceLost). */
	p.cause = APP_REPLAY_CAUSE_SOURCE_LOST;
	assert_int_equal(app_restore_replay_decide(&p, &target, false, &reason),
			 APP_REPLAY_DO_START);
	assert_int_equal(app_restore_replay_decide(&p, &target, true, &reason),
			 APP_REPLAY_DO_FAIL);
	assert_string_equal(reason, "ReplaySourceLost");
	p.cause = APP_REPLAY_CAUSE_NONE;
	/* past the target while running: the UNTIL never matched */
	p.reached = P("0-2-11");
	assert_int_equal(app_restore_replay_decide(&p, &target, false, &reason),
			 APP_REPLAY_DO_FAIL);
	assert_string_equal(reason, "ReplayMismatch");
	p.state = APP_REPLAY_REACHED;
	assert_int_equal(app_restore_replay_decide(&p, &target, false, &reason),
			 APP_REPLAY_DO_FINISH);
	p.state = APP_REPLAY_FAILED;
	p.cause = APP_REPLAY_CAUSE_STOPPED;
	assert_int_equal(app_restore_replay_decide(&p, &target, false, &reason),
			 APP_REPLAY_DO_START);
	p.cause = APP_REPLAY_CAUSE_BINLOGS_PURGED;
	assert_int_equal(app_restore_replay_decide(&p, &target, false, &reason),
			 APP_REPLAY_DO_FAIL);
	assert_string_equal(reason, "BinlogsPurged");
	p.cause = APP_REPLAY_CAUSE_SQL_ERROR;
	assert_int_equal(app_restore_replay_decide(&p, &target, false, &reason),
			 APP_REPLAY_DO_FAIL);
	assert_string_equal(reason, "ReplayFailed");
	/* MariaDB gave up reaching the source: again until the time is up */
	p.cause = APP_REPLAY_CAUSE_SOURCE_LOST;
	assert_int_equal(app_restore_replay_decide(&p, &target, false, &reason),
			 APP_REPLAY_DO_START);
	assert_int_equal(app_restore_replay_decide(&p, &target, true, &reason),
			 APP_REPLAY_DO_FAIL);
	assert_string_equal(reason, "ReplaySourceLost");
	assert_false(app_restore_replay_past_source(APP_REPLAY_STEP_RESTORING_BASE));
	assert_true(app_restore_replay_past_source(APP_REPLAY_STEP_STARTING));
	assert_true(app_restore_replay_past_source(APP_REPLAY_STEP_DONE));
}

static void test_progress_due(void **state)
{
	const int64_t s = SS_NS_PER_SEC, now = 1000 * SS_NS_PER_SEC;

	(void)state;
	assert_true(app_restore_replay_progress_due(now, 0, 2 * s)); /* none yet */
	assert_false(app_restore_replay_progress_due(now, now, 2 * s));
	assert_false(app_restore_replay_progress_due(now, now - 2 * s + 1, 2 * s));
	assert_true(app_restore_replay_progress_due(now, now - 2 * s, 2 * s));
	assert_true(
		app_restore_replay_progress_due(now, now + s, 2 * s)); /* clock back */
}

/* The db layer's "Reason: text" loses the reason the condition carries;
 * anything else is kept whole. */
static void test_message(void **state)
{
	(void)state;
	assert_string_equal(
		app_restore_replay_message("TargetNotReached: the target second "
					   "2026-01-01T00:00:00Z has not ended",
					   "TargetNotReached"),
		"the target second 2026-01-01T00:00:00Z has not ended");
	assert_string_equal(
		app_restore_replay_message("BinlogsPurged: gone", "BinlogsPurged"),
		"gone");
	assert_string_equal(
		app_restore_replay_message("BinlogsPurged: gone", "TargetNotReached"),
		"BinlogsPurged: gone");
	assert_string_equal(
		app_restore_replay_message("TargetNotReachedX: a", "TargetNotReached"),
		"TargetNotReachedX: a");
	assert_string_equal(
		app_restore_replay_message("TargetNotReached:", "TargetNotReached"),
		"TargetNotReached:");
	assert_string_equal(app_restore_replay_message("text", NULL), "text");
	assert_string_equal(app_restore_replay_message("", "X"), "");
}

/* ---- InPlace: names, the Restore's own objects, the safety Backup ------ */

#define RESTORE_JSON \
	"{\"metadata\":{\"name\":\"undo\",\"namespace\":\"ns\",\"uid\":\"r-uid\"}}"

static void test_names(void **state)
{
	char a[APP_NAME_BUF], b[APP_NAME_BUF];
	char long_name[100];

	(void)state;
	assert_int_equal(
		app_restore_replay_name(a, APP_REPLAY_OBJ_SCRATCH_CLAIM, "undo", "data"),
		0);
	assert_string_equal(a, "undo-scratch-data");
	assert_int_equal(
		app_restore_replay_name(a, APP_REPLAY_OBJ_SNAPSHOT, "undo", "data"), 0);
	assert_string_equal(a, "undo-replayed-data");
	assert_int_equal(
		app_restore_replay_name(a, APP_REPLAY_OBJ_SAFETY_BACKUP, "undo", NULL),
		0);
	assert_string_equal(a, "undo-safety");
	/* long names: at most 63, the same each time, distinct per volume */
	memset(long_name, 'r', 80);
	long_name[80] = '\0';
	assert_int_equal(
		app_restore_replay_name(a, APP_REPLAY_OBJ_SNAPSHOT, long_name, "data"),
		0);
	assert_true(strlen(a) <= 63);
	assert_int_equal(
		app_restore_replay_name(b, APP_REPLAY_OBJ_SNAPSHOT, long_name, "data"),
		0);
	assert_string_equal(a, b);
	assert_int_equal(
		app_restore_replay_name(b, APP_REPLAY_OBJ_SNAPSHOT, long_name, "binlog"),
		0);
	assert_string_not_equal(a, b);
	assert_int_equal(
		app_restore_replay_name(a, APP_REPLAY_OBJ_SCRATCH_CLAIM, "undo", ""),
		SS_EINVALID);
}

static void test_safety_backup(void **state)
{
	json_t *restore = tu_json(RESTORE_JSON), *b = NULL;
	json_t *base = tu_json(
		"{\"metadata\":{\"name\":\"nightly-1\",\"labels\":{"
		"\"snapstage.io/schedule\":\"nightly\"}},\"spec\":{\"target\":{"
		"\"statefulSetName\":\"mariadb\",\"role\":\"Replica\",\"connection\":{"
		"\"credentialsSecretRef\":{\"name\":\"mariadb-backup\"}}},"
		"\"snapshot\":{\"volumeSnapshotClassName\":\"sim\"}}}");
	const json_t *meta;
	const char *why = NULL;

	(void)state;
	assert_int_equal(
		app_restore_replay_safety_backup(&b, restore, base, "undo-safety"), 0);
	meta = json_object_get(b, "metadata");
	assert_string_equal(json_string_value(json_object_get(meta, "name")),
			    "undo-safety");
	assert_string_equal(json_string_value(json_object_get(meta, "namespace")), "ns");
	/* never owned: it outlives the Restore; not the schedule's either */
	assert_null(json_object_get(meta, "ownerReferences"));
	assert_null(json_object_get(json_object_get(meta, "labels"),
				    "snapstage.io/schedule"));
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(meta, "labels"),
						  APP_LABEL_SAFETY_FOR)),
		"undo");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(meta, "annotations"),
						  "snapstage.io/restore-uid")),
		"r-uid");
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(b, "spec"), "target"), "role")),
		"Primary");
	/* the base's own spec is not changed */
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(base, "spec"), "target"),
			"role")),
		"Replica");
	/* a new one: WAIT; ours and Complete: READY; another's: FOREIGN */
	assert_int_equal(app_restore_replay_safety_state(NULL, restore, &why),
			 APP_REPLAY_OBJ_WAIT);
	assert_int_equal(app_restore_replay_safety_state(b, restore, &why),
			 APP_REPLAY_OBJ_WAIT);
	tu_json_set(
		b, "status",
		tu_json("{\"conditions\":[{\"type\":\"Failed\",\"status\":\"True\"}]}"));
	assert_int_equal(app_restore_replay_safety_state(b, restore, &why),
			 APP_REPLAY_OBJ_FAILED);
	tu_json_set(
		b, "status",
		tu_json("{\"conditions\":[{\"type\":\"Complete\",\"status\":\"True\"}],"
			"\"snapshots\":[{\"volume\":\"data\",\"readyToUse\":true}]}"));
	assert_int_equal(app_restore_replay_safety_state(b, restore, &why),
			 APP_REPLAY_OBJ_READY);
	json_object_set_new(
		json_object_get(json_object_get(b, "metadata"), "annotations"),
		"snapstage.io/restore-uid", json_string("other-uid"));
	assert_int_equal(app_restore_replay_safety_state(b, restore, &why),
			 APP_REPLAY_OBJ_FOREIGN);
	json_decref(b);
	json_object_del(base, "spec");
	assert_int_equal(
		app_restore_replay_safety_backup(&b, restore, base, "undo-safety"),
		SS_EINVALID);
	json_decref(base);
	json_decref(restore);
}

static void test_snapshots_and_claims(void **state)
{
	json_t *restore = tu_json(RESTORE_JSON), *vs = NULL;
	json_t *claims = tu_json("[{\"metadata\":{\"name\":\"undo-scratch-data\"}}]");
	const json_t *ref;
	const char *why = NULL;

	(void)state;
	assert_int_equal(app_restore_replay_snapshot(&vs, restore, "undo-replayed-data",
						     "undo-scratch-data", "data", "sim"),
			 0);
	ref = json_array_get(
		json_object_get(json_object_get(vs, "metadata"), "ownerReferences"), 0);
	assert_string_equal(json_string_value(json_object_get(ref, "uid")), "r-uid");
	assert_true(json_is_true(json_object_get(ref, "controller")));
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(vs, "spec"), "source"),
			"persistentVolumeClaimName")),
		"undo-scratch-data");
	assert_string_equal(json_string_value(json_object_get(json_object_get(vs, "spec"),
							      "volumeSnapshotClassName")),
			    "sim");
	assert_int_equal(app_restore_replay_snapshot_state(NULL, restore, &why),
			 APP_REPLAY_OBJ_WAIT);
	assert_int_equal(app_restore_replay_snapshot_state(vs, restore, &why),
			 APP_REPLAY_OBJ_WAIT);
	tu_json_set(vs, "status",
		    tu_json("{\"readyToUse\":true,\"restoreSize\":\"1Gi\","
			    "\"boundVolumeSnapshotContentName\":\"c\"}"));
	assert_int_equal(app_restore_replay_snapshot_state(vs, restore, &why),
			 APP_REPLAY_OBJ_READY);
	tu_json_set(vs, "status",
		    tu_json("{\"readyToUse\":false,\"error\":{\"message\":\"boom\"}}"));
	assert_int_equal(app_restore_replay_snapshot_state(vs, restore, &why),
			 APP_REPLAY_OBJ_FAILED);
	assert_string_equal(why, "boom");
	json_object_del(json_object_get(vs, "metadata"), "ownerReferences");
	assert_int_equal(app_restore_replay_snapshot_state(vs, restore, &why),
			 APP_REPLAY_OBJ_FOREIGN);
	json_decref(vs);
	/* the scratch claims: owned by the Restore, labelled scratch=pitr */
	assert_int_equal(app_restore_replay_own_claims(claims, restore), 0);
	ref = json_array_get(
		json_object_get(json_object_get(json_array_get(claims, 0), "metadata"),
				"ownerReferences"),
		0);
	assert_string_equal(json_string_value(json_object_get(ref, "kind")), "Restore");
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(
				json_object_get(json_array_get(claims, 0), "metadata"),
				"labels"),
			"snapstage.io/scratch")),
		"pitr");
	json_decref(claims);
	json_decref(restore);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_base),
		cmocka_unit_test(test_check_time),
		cmocka_unit_test(test_base_bound),
		cmocka_unit_test(test_gtid_target),
		cmocka_unit_test(test_target_complete),
		cmocka_unit_test(test_pick_primary),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_progress_due),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_safety_backup),
		cmocka_unit_test(test_snapshots_and_claims),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
