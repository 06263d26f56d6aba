/*
 * test_verify_plan.c — the verify controller's pure decisions
 * (app/verify/verify_plan.h): what a Backup needs (a new token, one in
 * progress, the clean-up of a deleted one), whether it can be verified,
 * whether its database is busy (another verification, an in-place
 * Restore), GTID lists compared as sets, the position check, and the
 * verdict from the checks' records.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "app/api/api.h"
#include "app/verify/verify_plan.h"

/* A Completed, restorable Backup "b1" of StatefulSet mariadb in ns db,
 * with `meta` added to metadata and `ver` as status.verification ("" for
 * none). */
static json_t *backup(const char *name, const char *meta, const char *ver)
{
	char text[4096];

	snprintf(
		text, sizeof(text),
		"{\"metadata\":{\"name\":\"%s\",\"namespace\":\"db\",\"uid\":\"u-%s\"%s},"
		"\"spec\":{\"target\":{\"statefulSetName\":\"mariadb\"}},"
		"\"status\":{\"phase\":\"Completed\",\"conditions\":[{\"type\":"
		"\"Complete\",\"status\":\"True\"},{\"type\":\"Restorable\",\"status\":"
		"\"True\"}],\"snapshots\":[{\"volume\":\"data\",\"volumeSnapshotName\":"
		"\"%s-data-1\",\"readyToUse\":true}]%s%s}}",
		name, name, meta, name, ver[0] ? ",\"verification\":" : "", ver);
	return tu_json(text);
}

static app_verify_plan_need need(const json_t *b)
{
	app_verification_status v;

	app_verification_status_decode(&v, b);
	return app_verify_plan_todo(b, &v);
}

#define ANN(t) ",\"annotations\":{\"snapstage.io/verify-now\":\"" t "\"}"
#define FIN ",\"finalizers\":[\"snapstage.io/verification\"]"
#define DEL ",\"deletionTimestamp\":\"2026-12-07T00:00:00Z\""

static void test_todo(void **state)
{
	json_t *b;

	(void)state;
	b = backup("b1", "", "");
	assert_int_equal(need(b), APP_VERIFY_PLAN_NOTHING);
	json_decref(b);
	b = backup("b1", ANN("t1"), "");
	assert_int_equal(need(b), APP_VERIFY_PLAN_START);
	json_decref(b);
	/* the token handled: nothing; a new one: start */
	b = backup("b1", ANN("t1"), "{\"token\":\"t1\",\"phase\":\"Done\"}");
	assert_int_equal(need(b), APP_VERIFY_PLAN_NOTHING);
	json_decref(b);
	b = backup("b1", ANN("t2"), "{\"token\":\"t1\",\"phase\":\"Done\"}");
	assert_int_equal(need(b), APP_VERIFY_PLAN_START);
	json_decref(b);
	/* in progress goes on whatever the annotation says now */
	b = backup("b1", "", "{\"token\":\"t1\",\"phase\":\"Starting\"}");
	assert_int_equal(need(b), APP_VERIFY_PLAN_CONTINUE);
	json_decref(b);
	/* an empty token is none */
	b = backup("b1", ANN(""), "");
	assert_int_equal(need(b), APP_VERIFY_PLAN_NOTHING);
	json_decref(b);
	/* deleted: the clean-up only with our finalizer */
	b = backup("b1", ANN("t1") FIN DEL, "{\"token\":\"t1\",\"phase\":\"Checking\"}");
	assert_int_equal(need(b), APP_VERIFY_PLAN_DELETED);
	json_decref(b);
	b = backup("b1", ANN("t9") DEL, "");
	assert_int_equal(need(b), APP_VERIFY_PLAN_NOTHING);
	json_decref(b);
	/* Done but the finalizer left (a crash before its removal) */
	b = backup("b1", ANN("t1") FIN, "{\"token\":\"t1\",\"phase\":\"Done\"}");
	assert_int_equal(need(b), APP_VERIFY_PLAN_CONTINUE);
	json_decref(b);
}

static void test_source_ok(void **state)
{
	const char *why = NULL;
	json_t *b;

	(void)state;
	b = backup("b1", "", "");
	assert_true(app_verify_plan_source_ok(b, &why));
	tu_json_set(b, "status.snapshots[0].readyToUse", json_false());
	assert_false(app_verify_plan_source_ok(b, &why));
	assert_string_equal(why, "a snapshot is not readyToUse yet");
	json_decref(b);
	b = backup("b1", "", "");
	tu_json_set(b, "status.phase", json_string("Failed"));
	assert_false(app_verify_plan_source_ok(b, &why));
	assert_string_equal(why, "it is not Complete");
	json_decref(b);
	b = backup("b1", "", "");
	tu_json_set(b, "status.conditions[1].status", json_string("False"));
	assert_false(app_verify_plan_source_ok(b, &why));
	assert_non_null(strstr(why, "Restorable False"));
	json_decref(b);
	b = backup("b1", "", "");
	tu_json_set(b, "status.snapshots", json_array());
	assert_false(app_verify_plan_source_ok(b, &why));
	json_decref(b);
	b = backup("b1", DEL, "");
	assert_false(app_verify_plan_source_ok(b, &why));
	json_decref(b);
}

static void test_busy(void **state)
{
	json_t *me = backup("b1", "", ""), *all = json_array(), *restores = json_array();
	const char *who = NULL;

	(void)state;
	json_array_append_new(all, backup("b1", "", "{\"phase\":\"Checking\"}"));
	json_array_append_new(all, backup("b0", "", "{\"phase\":\"Done\"}"));
	json_array_append_new(all, backup("b2", "", "{\"phase\":\"Pending\"}"));
	assert_null(
		app_verify_plan_busy(me, all, restores, &who)); /* self, Done, Pending */
	json_array_append_new(all, backup("b4", "", "{\"phase\":\"Restoring\"}"));
	json_array_append_new(all, backup("b3", "", "{\"phase\":\"CleaningUp\"}"));
	assert_non_null(app_verify_plan_busy(me, all, restores, &who));
	assert_string_equal(who, "b3"); /* the smallest name, whatever the order */
	/* another database (StatefulSet, namespace) is no blocker */
	json_array_clear(all);
	json_array_append_new(all, backup("b5", "", "{\"phase\":\"Checking\"}"));
	tu_json_set(json_array_get(all, 0), "spec.target.statefulSetName",
		    json_string("other"));
	json_array_append_new(all, backup("b6", "", "{\"phase\":\"Checking\"}"));
	tu_json_set(json_array_get(all, 1), "metadata.namespace",
		    json_string("elsewhere"));
	assert_null(app_verify_plan_busy(me, all, restores, &who));
	/* an in-place Restore of the same StatefulSet, not finished */
	json_array_append_new(
		restores,
		tu_json("{\"metadata\":{\"name\":\"r1\",\"namespace\":\"db\"},"
			"\"spec\":{\"target\":{\"mode\":\"InPlace\",\"inPlace\":"
			"{\"statefulSetName\":\"mariadb\"}}},\"status\":{"
			"\"phase\":\"Restoring\"}}"));
	assert_non_null(app_verify_plan_busy(me, all, restores, &who));
	assert_string_equal(who, "r1");
	tu_json_set(json_array_get(restores, 0), "status.phase",
		    json_string("Completed"));
	assert_null(app_verify_plan_busy(me, all, restores, &who));
	assert_null(app_verify_plan_busy(me, all, NULL, &who));
	json_decref(me);
	json_decref(all);
	json_decref(restores);
}

static void test_gtid_equal(void **state)
{
	(void)state;
	assert_true(app_verify_plan_gtid_equal("0-1-5", "0-1-5"));
	assert_true(app_verify_plan_gtid_equal("0-1-5,1-2-9", "1-2-9, 0-1-5"));
	assert_true(app_verify_plan_gtid_equal(NULL, ""));
	assert_false(app_verify_plan_gtid_equal("0-1-5", "0-1-6"));
	assert_false(app_verify_plan_gtid_equal("0-1-5", "0-1-5,1-2-9"));
	assert_false(app_verify_plan_gtid_equal("0-1-5", ""));
	assert_false(app_verify_plan_gtid_equal("0-1-15", "0-1-5"));
}

static void test_position(void **state)
{
	app_db_position rec = { 0 };
	char msg[512];

	(void)state;
	assert_int_equal(
		app_verify_plan_position(msg, sizeof(msg), &rec, "0-1-5", "0-1-5"),
		APP_VERIFY_CHECK_SKIPPED);
	rec.gtid_slave_pos = "0-1-100";
	rec.gtid_binlog_pos = "0-1-100";
	assert_int_equal(
		app_verify_plan_position(msg, sizeof(msg), &rec, "0-1-100", "0-1-100"),
		APP_VERIFY_CHECK_PASSED);
	assert_int_equal(
		app_verify_plan_position(msg, sizeof(msg), &rec, "0-1-100", "0-1-99"),
		APP_VERIFY_CHECK_FAILED);
	assert_string_equal(msg,
			    "gtid_slave_pos is '0-1-99', the Backup recorded '0-1-100'");
	assert_int_equal(app_verify_plan_position(msg, sizeof(msg), &rec, "", "0-1-100"),
			 APP_VERIFY_CHECK_FAILED);
	assert_non_null(strstr(msg, "gtid_binlog_pos is ''"));
	/* a primary's Backup records only the binlog position */
	rec.gtid_slave_pos = NULL;
	assert_int_equal(app_verify_plan_position(msg, sizeof(msg), &rec, "0-1-100", ""),
			 APP_VERIFY_CHECK_PASSED);
}

static void add(app_verification_status *v, const char *type, const char *name,
		const char *result, const char *msg)
{
	app_verify_check_status *c = &v->checks[v->n_checks++];

	c->type = type;
	c->name = name;
	c->result = result;
	c->duration_ms = 1;
	c->message = msg;
}

static void test_verdict(void **state)
{
	app_verification_status v;
	char msg[512];

	(void)state;
	app_verification_status_init(&v);
	add(&v, "ServerStart", NULL, "Passed", "Ready in 3 s");
	add(&v, "CheckTable", NULL, "Passed", "12 tables OK");
	add(&v, "Position", NULL, "Skipped", "none recorded");
	app_verify_plan_verdict(&v, msg, sizeof(msg));
	assert_string_equal(v.result, "Passed");
	assert_string_equal(v.reason, "Verified");
	app_verification_status_init(&v);
	add(&v, "ServerStart", NULL, "Passed", "Ready");
	add(&v, "CheckTable", NULL, "Passed", "ok");
	add(&v, "Position", NULL, "Failed", "gtid differs");
	add(&v, "User", "orders", "Failed", "0 rows");
	app_verify_plan_verdict(&v, msg, sizeof(msg));
	assert_string_equal(v.result, "Failed");
	assert_string_equal(v.reason, "PositionMismatch"); /* the first failure */
	assert_string_equal(v.message, "gtid differs (and 1 more failed checks)");
	app_verification_status_init(&v);
	add(&v, "User", "orders", "Failed", "0 rows, at least 1 expected");
	app_verify_plan_verdict(&v, msg, sizeof(msg));
	assert_string_equal(v.reason, "CheckFailed");
	assert_string_equal(v.message,
			    "check orders failed: 0 rows, at least 1 expected");
	app_verification_status_init(&v);
	add(&v, "ServerStart", NULL, "Failed", "not Ready within 900 s");
	app_verify_plan_verdict(&v, msg, sizeof(msg));
	assert_string_equal(v.reason, "ServerDidNotStart");
	/* a verdict set before any check stays */
	app_verification_status_init(&v);
	v.result = "Failed";
	v.reason = "SourceNotReady";
	app_verify_plan_verdict(&v, msg, sizeof(msg));
	assert_string_equal(v.reason, "SourceNotReady");
}

/* status.verification survives an encode/decode round trip. */
static void test_status_round_trip(void **state)
{
	app_verification_status v, back;
	json_t *obj = tu_json("{\"status\":{\"phase\":\"Completed\"}}");

	(void)state;
	app_verification_status_init(&v);
	v.token = "2026-12-07T04:10:00Z";
	v.has_phase = true;
	v.phase = APP_VERIFY_CLEANING_UP;
	v.result = "Failed";
	v.reason = "TableCorrupt";
	v.message = "1 of 3 tables corrupt";
	v.pod = "b1-verify";
	v.claims[0] = "b1-verify-data";
	v.n_claims = 1;
	v.start_ns = INT64_C(1796616600) * 1000000000;
	v.restore_ms = 1200;
	add(&v, "CheckTable", NULL, "Failed", "`shop`.`t` (Corrupt)");
	add(&v, "User", "orders", "Passed", "1 row");
	assert_int_equal(app_verification_status_encode(obj, &v), 0);
	assert_int_equal(app_verification_status_decode(&back, obj), 0);
	assert_string_equal(back.token, v.token);
	assert_int_equal(back.phase, APP_VERIFY_CLEANING_UP);
	assert_string_equal(back.reason, "TableCorrupt");
	assert_string_equal(back.claims[0], "b1-verify-data");
	assert_int_equal(back.start_ns, v.start_ns);
	assert_int_equal(back.restore_ms, 1200);
	assert_int_equal(back.start_ms, -1);
	assert_int_equal(back.n_checks, 2);
	assert_string_equal(back.checks[1].name, "orders");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(obj, "status"), "phase")),
			    "Completed"); /* the Backup's own status untouched */
	json_decref(obj);
}

/* The volumes restored: entries without a VolumeSnapshot name are skipped,
 * and each volume keeps its own backed-up claim. The reconcile used to
 * take the claim by the status index, so one skipped entry gave every later
 * volume its neighbour's claim (and storage class). */
static void test_volumes(void **state)
{
	app_scratch_volume vols[APP_MAX_VOLUMES];
	const char *claims[APP_MAX_VOLUMES];
	app_backup_status st;

	(void)state;
	app_backup_status_init(&st);
	st.snapshots[0] = (app_snapshot_status){ "data", "data-mariadb-1", "b1-data-1", 1, true,
						 1024, NULL };
	st.snapshots[1] = (app_snapshot_status){ "logs", "logs-mariadb-1", NULL, 0, false, -1,
						 "failed" };
	st.snapshots[2] = (app_snapshot_status){ "binlog", "binlog-mariadb-1", "b1-binlog-1", 1,
						 true, 2048, NULL };
	st.n_snapshots = 3;
	assert_int_equal(app_verify_plan_volumes(vols, claims, &st), 2);
	assert_string_equal(vols[0].volume, "data");
	assert_string_equal(claims[0], "data-mariadb-1");
	assert_string_equal(vols[1].volume, "binlog");
	assert_string_equal(vols[1].snapshot, "b1-binlog-1");
	assert_int_equal(vols[1].restore_size_bytes, 2048);
	assert_string_equal(claims[1], "binlog-mariadb-1"); /* not logs-mariadb-1 */
	assert_null(vols[1].source_claim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_todo),
		cmocka_unit_test(test_source_ok),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_gtid_equal),
		cmocka_unit_test(test_position),
		cmocka_unit_test(test_verdict),
		cmocka_unit_test(test_status_round_trip),
		cmocka_unit_test(test_volumes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
