/*
 * test_restore_check.c — the checks a Restore makes before it touches
 * anything (app/restore/restore_check.h): each source VolumeSnapshot (missing,
 * being deleted, not the Backup's, failed, not ready, no restoreSize, no
 * content), the default StorageClass, the driver against the class's
 * provisioner, whether a position is exact, and which pinned fields a spec
 * edit changed. Objects are JSON as the API server serves them.
 */
#include <stdbool.h>
#include <string.h>

#include "testutil.h"

#include "app/api/api.h"
#include "app/api/names.h"
#include "app/api/volumesnapshot.h"
#include "app/restore/restore_check.h"
#include "ctrl/object.h"
#include "util/error.h"

static const char *BACKUP = "{\"metadata\":{\"name\":\"nightly\",\"namespace\":\"db\","
			    "\"uid\":\"b-uid\"},\"status\":{\"lock\":{\"stage\":"
			    "\"BLOCK_COMMIT\"}}}";

/* A ready snapshot of Backup "nightly" (uid b-uid). */
static json_t *ready_vs(void)
{
	return tu_json("{\"metadata\":{\"name\":\"nightly-data\",\"namespace\":\"db\","
		       "\"labels\":{\"snapstage.io/backup\":\"nightly\"},"
		       "\"ownerReferences\":[{\"kind\":\"Backup\",\"name\":\"nightly\","
		       "\"uid\":\"b-uid\"}]},"
		       "\"status\":{\"boundVolumeSnapshotContentName\":\"snapcontent-1\","
		       "\"creationTime\":\"2026-12-01T03:00:00Z\",\"readyToUse\":true,"
		       "\"restoreSize\":\"1Gi\"}}");
}

/* Runs the snapshot check on `vs` and expects `reason` (NULL: passes) with
 * a message holding `fragment`. */
static void expect_snapshot(json_t *vs, const json_t *backup, const char *reason,
			    const char *fragment)
{
	app_restore_snapshot_info info = { 0, NULL };
	const char *got = NULL;
	int rc = app_restore_check_snapshot(&info, &got, "nightly-data", vs, backup);

	if (reason == NULL) {
		assert_int_equal(rc, 0);
		assert_true(info.restore_size_bytes == INT64_C(1073741824));
		assert_string_equal(info.content_name, "snapcontent-1");
		return;
	}
	assert_int_equal(rc, SS_EINVALID);
	assert_non_null(got);
	assert_string_equal(got, reason);
	tu_assert_error(SS_EINVALID, fragment);
}

static void test_snapshot_ok(void **state)
{
	json_t *b = tu_json(BACKUP), *vs = ready_vs();

	(void)state;
	expect_snapshot(vs, b, NULL, NULL);
	expect_snapshot(vs, NULL, NULL, NULL); /* a volumeSnapshotName source */
	json_decref(vs);
	json_decref(b);
}

static void test_snapshot_missing(void **state)
{
	json_t *b = tu_json(BACKUP), *vs = ready_vs();

	(void)state;
	expect_snapshot(NULL, b, "SnapshotMissing", "nightly-data does not exist");
	tu_json_set(vs, "metadata.deletionTimestamp", json_string("2026-12-02T00:00:00Z"));
	expect_snapshot(vs, b, "SnapshotMissing", "being deleted");
	json_decref(vs);
	json_decref(b);
}

static void test_snapshot_not_owned(void **state)
{
	json_t *b = tu_json(BACKUP), *vs = ready_vs();

	(void)state;
	/* Same name, another object: the Backup's own snapshot is gone. */
	tu_json_set(vs, "metadata.ownerReferences",
		    tu_json("[{\"kind\":\"Backup\",\"name\":\"nightly\","
			    "\"uid\":\"other-uid\"}]"));
	expect_snapshot(vs, b, "SnapshotNotOwned", "no ownerReference with its uid");
	json_object_del(json_object_get(vs, "metadata"), "ownerReferences");
	expect_snapshot(vs, b, "SnapshotNotOwned", "Backup nightly's");
	json_decref(vs);
	/* The owner is right but the label names another Backup. */
	vs = ready_vs();
	json_object_set_new(json_object_get(json_object_get(vs, "metadata"), "labels"),
			    "snapstage.io/backup", json_string("weekly"));
	expect_snapshot(vs, b, "SnapshotNotOwned", "labelled for Backup weekly");
	json_decref(vs);
	/* ... or the full-name annotation does. */
	vs = ready_vs();
	tu_json_set(vs, "metadata.annotations",
		    tu_json("{\"" APP_ANNOTATION_BACKUP_NAME "\":\"weekly\"}"));
	expect_snapshot(vs, b, "SnapshotNotOwned", "annotated for Backup weekly");
	json_decref(vs);
	json_decref(b);
}

/* A Backup name over 63 characters: its snapshots' label holds the
 * shortened value app_name_backup_label() gives it (the old check wanted
 * the whole name there and refused the Backup's own snapshot), and a
 * shortened value of another name is still refused. Snapshots made before
 * long names had a label have none, and pass. */
static void test_snapshot_long_backup_name(void **state)
{
	char name[81], label[APP_LABEL_VALUE_BUF], other[APP_LABEL_VALUE_BUF];
	json_t *b = tu_json(BACKUP), *vs = ready_vs();
	json_t *labels = json_object_get(json_object_get(vs, "metadata"), "labels");

	(void)state;
	memset(name, 'n', 80);
	name[80] = '\0';
	tu_json_set(b, "metadata.name", json_string(name));
	assert_int_equal(app_name_backup_label(label, name), 0);
	json_object_set_new(labels, APP_LABEL_BACKUP, json_string(label));
	tu_json_set(vs, "metadata.annotations",
		    json_pack("{s:s}", APP_ANNOTATION_BACKUP_NAME, name));
	expect_snapshot(vs, b, NULL, NULL);

	name[79] = 'm';
	assert_int_equal(app_name_backup_label(other, name), 0);
	json_object_set_new(labels, APP_LABEL_BACKUP, json_string(other));
	name[79] = 'n';
	expect_snapshot(vs, b, "SnapshotNotOwned", "is labelled for Backup nnnn");

	json_object_del(labels, APP_LABEL_BACKUP);
	json_object_del(json_object_get(vs, "metadata"), "annotations");
	expect_snapshot(vs, b, NULL, NULL);
	json_decref(vs);
	json_decref(b);
}

static void test_snapshot_not_ready(void **state)
{
	/* One change to a ready snapshot's status each: NULL deletes the key. */
	static const struct {
		const char *key, *value, *fragment;
	} cases[] = {
		{ "readyToUse", "false", "not readyToUse" },
		{ "error", "{\"message\":\"disk on fire\"}", "failed: disk on fire" },
		{ "restoreSize", NULL, "no restoreSize" },
		{ "restoreSize", "\"0\"", "no restoreSize" },
		{ "boundVolumeSnapshotContentName", NULL, "names no VolumeSnapshotContent" },
		{ "readyToUse", "\"yes\"", "readyToUse is not a boolean" },
	};
	json_t *b = tu_json(BACKUP);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *vs = ready_vs(), *status = json_object_get(vs, "status");

		if (cases[i].value == NULL)
			json_object_del(status, cases[i].key);
		else
			json_object_set_new(status, cases[i].key, tu_json(cases[i].value));
		expect_snapshot(vs, b, "SnapshotNotReady", cases[i].fragment);
		json_decref(vs);
	}
	json_decref(b);
}

static void test_default_class(void **state)
{
	json_t *classes = tu_json(
		"[{\"metadata\":{\"name\":\"slow\"}},"
		"{\"metadata\":{\"name\":\"zfast\",\"annotations\":{"
		"\"storageclass.kubernetes.io/is-default-class\":\"true\"}}},"
		"{\"metadata\":{\"name\":\"beta\",\"annotations\":{"
		"\"storageclass.beta.kubernetes.io/is-default-class\":\"true\"}}},"
		"{\"metadata\":{\"name\":\"off\",\"annotations\":{"
		"\"storageclass.kubernetes.io/is-default-class\":\"false\"}}}]");
	json_t *none = tu_json("[{\"metadata\":{\"name\":\"slow\"}}]");

	(void)state;
	assert_string_equal(ctrl_meta(app_restore_default_class(classes), "name"), "beta");
	assert_null(app_restore_default_class(none));
	assert_null(app_restore_default_class(NULL));
	json_decref(classes);
	json_decref(none);
}

static void test_driver(void **state)
{
	json_t *content = tu_json("{\"spec\":{\"driver\":\"csi.a\"}}");
	json_t *sc_a = tu_json("{\"metadata\":{\"name\":\"fast\"},\"provisioner\":\"csi.a\"}");
	json_t *sc_b = tu_json("{\"metadata\":{\"name\":\"nfs\"},\"provisioner\":\"csi.b\"}");
	const char *reason = NULL;

	(void)state;
	assert_int_equal(app_restore_check_driver(&reason, "s1", content, sc_a, "fast", "w"),
			 0);
	assert_int_equal(app_restore_check_driver(&reason, "s1", content, sc_a, NULL, "w"),
			 0);
	assert_int_equal(app_restore_check_driver(&reason, "s1", content, sc_b, "nfs",
						  "spec.target.newClaims"),
			 SS_EINVALID);
	assert_string_equal(reason, "StorageClassMismatch");
	tu_assert_error(SS_EINVALID, "cut by driver csi.a, but spec.target.newClaims uses "
				     "StorageClass nfs of provisioner csi.b");
	assert_int_equal(app_restore_check_driver(&reason, "s1", content, NULL, "gone", "w"),
			 SS_EINVALID);
	assert_string_equal(reason, "StorageClassNotFound");
	tu_assert_error(SS_EINVALID, "StorageClass gone does not exist");
	assert_int_equal(app_restore_check_driver(&reason, "s1", content, NULL, NULL, "w"),
			 SS_EINVALID);
	assert_string_equal(reason, "StorageClassNotFound");
	tu_assert_error(SS_EINVALID, "no default");
	assert_int_equal(app_restore_check_driver(&reason, "s1", NULL, sc_a, "fast", "w"),
			 SS_EINVALID);
	assert_string_equal(reason, "SnapshotNotReady");
	json_decref(content);
	json_decref(sc_a);
	json_decref(sc_b);
}

static void test_position_exact(void **state)
{
	json_t *b = tu_json(BACKUP), *vs = ready_vs();

	(void)state;
	assert_true(app_restore_position_exact(b, NULL));
	tu_json_set(b, "status.lock.stage", json_string("FLUSH"));
	assert_false(app_restore_position_exact(b, NULL));
	tu_json_set(b, "status.lock.stage", json_string("BLOCK_DDL"));
	assert_false(app_restore_position_exact(b, NULL));
	json_object_del(json_object_get(b, "status"), "lock");
	assert_false(app_restore_position_exact(b, NULL)); /* unknown: not exact */
	assert_false(app_restore_position_exact(NULL, vs)); /* no annotation */
	json_object_set_new(json_object_get(vs, "metadata"), "annotations",
			    tu_json("{\"" APP_ANNOTATION_LOCK_STAGE "\":\"BLOCK_COMMIT\"}"));
	assert_true(app_restore_position_exact(NULL, vs));
	assert_false(app_restore_position_exact(NULL, NULL));
	json_decref(vs);
	json_decref(b);
}

static void test_pinned_changes(void **state)
{
	app_restore_spec spec;
	app_restore_status st;
	char buf[128];

	(void)state;
	memset(&spec, 0, sizeof(spec));
	app_restore_status_init(&st);
	spec.mode = APP_MODE_IN_PLACE;
	spec.statefulset_name = "db";
	spec.primary_ordinal = 1;
	spec.source_kind = APP_SOURCE_BACKUP;
	spec.source_name = "b2";
	/* Nothing pinned yet: nothing changed. */
	assert_int_equal(app_restore_pinned_changes(buf, sizeof(buf), &spec, &st), 0);
	assert_string_equal(buf, "");
	st.mode = "InPlace";
	st.statefulset_name = "db";
	st.primary_ordinal = 1;
	st.source_backup = "b2";
	assert_int_equal(app_restore_pinned_changes(buf, sizeof(buf), &spec, &st), 0);
	spec.primary_ordinal = 0;
	spec.source_name = "b1";
	assert_int_equal(app_restore_pinned_changes(buf, sizeof(buf), &spec, &st), 2);
	assert_string_equal(buf, "target.inPlace.primaryOrdinal, source.backupName");
	spec.mode = APP_MODE_NEW_CLAIMS;
	assert_int_equal(app_restore_pinned_changes(buf, sizeof(buf), &spec, &st), 2);
	assert_string_equal(buf, "target.mode, source.backupName");
	/* A small buffer still counts them all. */
	assert_int_equal(app_restore_pinned_changes(buf, 8, &spec, &st), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot_ok),
		cmocka_unit_test(test_snapshot_missing),
		cmocka_unit_test(test_snapshot_not_owned),
		cmocka_unit_test(test_snapshot_long_backup_name),
		cmocka_unit_test(test_snapshot_not_ready),
		cmocka_unit_test(test_default_class),
		cmocka_unit_test(test_driver),
		cmocka_unit_test(test_position_exact),
		cmocka_unit_test(test_pinned_changes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
