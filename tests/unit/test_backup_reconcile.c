/*
 * test_backup_reconcile.c — the Backup controller's reconcile
 * (app/backup/backup.h) on the paths that need no database, against the
 * scripted API server of test_run.c: the hand-off to the lane and the
 * pause between attempts (no request at all), step 1 for finished Backups
 * (Restorable; a Failed one's late VolumeSnapshot deleted), step 2
 * (InvalidSpec; with a lock session recorded, ended by spec.target first), step 0 (a deletion lets the Backup go, a finished one
 * too), step 3 (Uploading to Complete, still waiting, SnapshotLost, also
 * for a snapshot gone from the cache), step 4 (an interrupted
 * session retried) and the first failures of steps 5-6 on the lane's
 * workers (SnapshotAPIMissing, TargetNotFound) — each request's method and
 * path, the status written (phase, message, condition reason and message,
 * observedGeneration) and the metrics, and the finalizer dropped once no
 * lock session can exist. With TEST_BACKUP_RECONCILE_DUMP set, every
 * request is appended to that file (to compare two builds).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_server.h"
#include "testutil.h"

#include "app/api/api.h"
#include "app/api/index.h"
#include "app/backup/backup.h"
#include "ctrl/metrics.h"
#include "ctrl/store.h"
#include "kube/config.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/str.h"

#define SEC SS_NS_PER_SEC
/* 2026-11-23T09:20:00Z */
#define T0 (INT64_C(1795425600) * SEC)

#define KEY "db/adhoc"
#define FINALIZER ",\"finalizers\":[\"snapstage.io/lock-session\"]"
#define DELETING ",\"deletionTimestamp\":\"2026-11-23T09:19:00Z\""
#define SPEC_OK                                                          \
	"{\"target\":{\"statefulSetName\":\"mariadb\",\"volumes\":[\"data\"]," \
	"\"connection\":{\"credentialsSecretRef\":{\"name\":\"creds\"}}},"     \
	"\"snapshot\":{\"volumeSnapshotClassName\":\"csi\"}}"
/* One snapshot, as the lock session left it. */
#define SNAPS                                                               \
	"\"snapshots\":[{\"volume\":\"data\",\"claim\":\"data-mariadb-1\","  \
	"\"volumeSnapshotName\":\"adhoc-data-1\",\"readyToUse\":false,"      \
	"\"creationTime\":\"2026-11-23T09:19:50.050000Z\"}]"
#define LOCK_DONE                                                            \
	"\"lock\":{\"stage\":\"BLOCK_COMMIT\",\"connectionId\":42,"           \
	"\"acquiredTime\":\"2026-11-23T09:19:50Z\",\"releasedTime\":"         \
	"\"2026-11-23T09:19:50.120000Z\",\"heldMilliseconds\":120}"
#define UPLOADING                                                            \
	"{\"phase\":\"Uploading\",\"sourcePod\":\"mariadb-1\",\"sourceRole\":" \
	"\"Replica\",\"startTime\":\"2026-11-23T09:19:45Z\",\"attempts\":1," SNAPS \
	"," LOCK_DONE "}"

static const char *const not_found =
	"{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"NotFound\","
	"\"code\":404}";

typedef struct {
	fake_server server;
	kube_client *client;
	ss_fake_clock clock;
	ctrl_store *backups, *pods, *snapshots;
	ctrl_metrics *metrics;
	app_backup_ctrl *bc;
	char dir[512];
	char *bodies[FAKE_MAX_SCRIPT]; /* the responses' bodies (owned) */
	int n_bodies;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	app_backup_ctrl_opts o = { 0 };

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s", tu_mkdtemp());
	fake_server_start(&f->server);
	f->client = fake_server_client(&f->server, f->dir, "t", NULL);
	ss_fake_clock_init(&f->clock, T0);
	assert_int_equal(ctrl_store_new(&f->backups), 0);
	assert_int_equal(ctrl_store_new(&f->pods), 0);
	assert_int_equal(ctrl_store_add_index(f->pods, APP_INDEX_NAMESPACE,
					      ctrl_index_by_namespace, NULL),
			 0);
	assert_int_equal(ctrl_store_new(&f->snapshots), 0);
	assert_int_equal(ctrl_metrics_new(&f->metrics), 0);
	o.client = f->client;
	o.backups = f->backups;
	o.pods = f->pods;
	o.snapshots = f->snapshots;
	o.metrics = f->metrics;
	o.clock = &f->clock.clock;
	assert_int_equal(app_backup_ctrl_new(&f->bc, &o), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	const char *dump = getenv("TEST_BACKUP_RECONCILE_DUMP");
	int i;

	/* Every request, to compare what two builds send. */
	if (dump != NULL) {
		FILE *out = fopen(dump, "a");

		assert_non_null(out);
		for (i = 0; i < f->server.nrequests; i++)
			fprintf(out, "%s\n----\n", f->server.requests[i]);
		fclose(out);
	}

	app_backup_ctrl_free(f->bc);
	ctrl_metrics_free(f->metrics);
	ctrl_store_free(f->backups);
	ctrl_store_free(f->pods);
	ctrl_store_free(f->snapshots);
	kube_client_free(f->client);
	fake_server_stop(&f->server);
	for (i = 0; i < f->n_bodies; i++)
		free(f->bodies[i]);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* The Backup "db/adhoc" (uid u-1, generation 3) at resourceVersion `rv`,
 * with `meta` added to its metadata and `status` (JSON text). */
static json_t *backup(const char *rv, const char *meta, const char *spec,
		      const char *status)
{
	char text[8192];

	snprintf(text, sizeof(text),
		 "{\"apiVersion\":\"snapstage.io/v1alpha1\",\"kind\":\"Backup\","
		 "\"metadata\":{\"name\":\"adhoc\",\"namespace\":\"db\",\"uid\":\"u-1\","
		 "\"resourceVersion\":\"%s\",\"generation\":3%s},\"spec\":%s,"
		 "\"status\":%s}",
		 rv, meta, spec, status);
	return tu_json(text);
}

/* The VolumeSnapshot adhoc-data-1 of the Backup, with `status`. */
static json_t *snapshot(const char *status)
{
	char text[4096];

	snprintf(text, sizeof(text),
		 "{\"apiVersion\":\"snapshot.storage.k8s.io/v1\",\"kind\":"
		 "\"VolumeSnapshot\",\"metadata\":{\"name\":\"adhoc-data-1\","
		 "\"namespace\":\"db\",\"uid\":\"vs-1\",\"ownerReferences\":[{"
		 "\"apiVersion\":\"snapstage.io/v1alpha1\",\"kind\":\"Backup\","
		 "\"name\":\"adhoc\",\"uid\":\"u-1\",\"controller\":true}]},"
		 "\"status\":%s}",
		 status);
	return tu_json(text);
}

/* The Pod mariadb-1 of StatefulSet mariadb, Running and Ready at
 * 127.0.0.1 with the claim data-mariadb-1 as its volume "data". */
static json_t *pod(void)
{
	return tu_json("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"
		       "\"name\":\"mariadb-1\",\"namespace\":\"db\",\"uid\":\"p-1\","
		       "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":"
		       "\"StatefulSet\",\"name\":\"mariadb\",\"uid\":\"s-1\","
		       "\"controller\":true}]},\"spec\":{\"volumes\":[{\"name\":"
		       "\"data\",\"persistentVolumeClaim\":{\"claimName\":"
		       "\"data-mariadb-1\"}}]},\"status\":{\"phase\":\"Running\","
		       "\"podIP\":\"127.0.0.1\",\"conditions\":[{\"type\":\"Ready\","
		       "\"status\":\"True\"}]}}");
}

/* Scripts a response: `obj` (stolen) as its body, or a 404 for NULL. */
static void respond(fixture *f, int status, json_t *obj)
{
	fake_response r = { .status = status, .body = not_found };

	if (obj != NULL) {
		f->bodies[f->n_bodies] = json_dumps(obj, JSON_COMPACT);
		assert_non_null(f->bodies[f->n_bodies]);
		r.body = f->bodies[f->n_bodies++];
		json_decref(obj);
	}
	fake_server_add(&f->server, &r);
}

static void cache(ctrl_store *s, json_t *obj)
{
	assert_int_equal(ctrl_store_put(s, obj, NULL), 0);
	json_decref(obj);
}

/* Request i: its line starts with `method path`; its text has or lacks a
 * fragment (fake_server.h). */
static void assert_request(fixture *f, int i, const char *method, const char *path)
{
	fake_server_assert_request(&f->server, i, method, path);
}

static void assert_sent(fixture *f, int i, const char *fragment)
{
	fake_server_assert_sent(&f->server, i, fragment);
}

static void assert_not_sent(fixture *f, int i, const char *fragment)
{
	fake_server_assert_not_sent(&f->server, i, fragment);
}

static double finished(fixture *f, const char *result, const char *reason)
{
	const char *lv[] = { "db", result, reason, NULL };

	return ctrl_metrics_value(f->metrics, "snapstage_backups_total", lv);
}

#define BACKUP_PATH "/apis/snapstage.io/v1alpha1/namespaces/db/backups/adhoc"
#define VS_PATH "/apis/snapshot.storage.k8s.io/v1/namespaces/db/volumesnapshots/adhoc-data-1"

/* ---- the workers' reconcile: no request ------------------------------------ */

static void test_handoff_and_pause(void **state)
{
	fixture *f = *state;
	ctrl_result res;

	/* A Backup that may start a lock session goes to the lane. */
	cache(f->backups, backup("1", "", SPEC_OK, "{}"));
	res = app_backup_reconcile(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_HANDOFF);
	/* Pending after an untrusted attempt: looked at again when the pause
	 * is over, on either pool. */
	cache(f->backups,
	      backup("2", "", SPEC_OK,
		     "{\"phase\":\"Pending\",\"attempts\":1,\"nextAttemptTime\":"
		     "\"2026-11-23T09:20:03Z\"}"));
	res = app_backup_reconcile(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_REQUEUE_AFTER);
	assert_int_equal(res.after_ns, 3 * SEC);
	/* Gone from the cache: nothing to do. */
	assert_int_equal(ctrl_store_delete(f->backups, KEY, NULL), 0);
	res = app_backup_reconcile(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	res = app_backup_reconcile_session(f->bc, "not/a/key");
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 0);
}

/* ---- step 1: finished Backups ------------------------------------------------ */

static void test_restorable(void **state)
{
	fixture *f = *state;
	ctrl_result res;

	/* Complete, its snapshot gone: Restorable False, written from the
	 * cache's copy (no GET first). */
	cache(f->backups,
	      backup("5", "", SPEC_OK,
		     "{\"phase\":\"Completed\"," SNAPS ",\"conditions\":[{\"type\":"
		     "\"Complete\",\"status\":\"True\",\"reason\":\"SnapshotsReady\","
		     "\"message\":\"\",\"lastTransitionTime\":\"2026-11-23T09:00:00Z\"}]}"));
	respond(f, 200, backup("6", "", SPEC_OK, "{\"phase\":\"Completed\"}"));
	res = app_backup_reconcile(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 1);
	assert_request(f, 0, "PUT", BACKUP_PATH "/status HTTP");
	assert_sent(f, 0, "\"resourceVersion\":\"5\"");
	assert_sent(f, 0, "\"type\":\"Restorable\",\"status\":\"False\"");
	assert_sent(f, 0, "\"reason\":\"SnapshotMissing\"");
	assert_sent(f, 0, "\"message\":\"VolumeSnapshot adhoc-data-1 was deleted\"");
}

static void test_failed_keeps_no_snapshot(void **state)
{
	fixture *f = *state;
	ctrl_result res;

	/* A create the API server finished late: the snapshot is deleted,
	 * owner-checked, with its uid as the precondition. */
	cache(f->backups,
	      backup("5", "", SPEC_OK,
		     "{\"phase\":\"Failed\"," SNAPS ",\"conditions\":[{\"type\":"
		     "\"Failed\",\"status\":\"True\",\"reason\":\"LockTimeout\","
		     "\"message\":\"x\",\"lastTransitionTime\":\"2026-11-23T09:00:00Z\"}]}"));
	cache(f->snapshots, snapshot("{}"));
	respond(f, 200, snapshot("{}"));
	respond(f, 200, snapshot("{}"));
	res = app_backup_reconcile(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 2);
	assert_request(f, 0, "GET", VS_PATH " HTTP");
	assert_request(f, 1, "DELETE", VS_PATH " HTTP");
	assert_sent(f, 1, "\"uid\":\"vs-1\"");
}

static void test_finished_drops_finalizer(void **state)
{
	fixture *f = *state;
	const char *failed =
		"{\"phase\":\"Failed\",\"conditions\":[{\"type\":\"Failed\",\"status\":"
		"\"True\",\"reason\":\"LockTimeout\",\"message\":\"x\","
		"\"lastTransitionTime\":\"2026-11-23T09:00:00Z\"}]}";
	ctrl_result res;

	cache(f->backups, backup("5", FINALIZER, SPEC_OK, failed));
	respond(f, 200, backup("5", FINALIZER, SPEC_OK, failed));
	respond(f, 200, backup("6", "", SPEC_OK, failed));
	res = app_backup_reconcile(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 2);
	assert_request(f, 0, "GET", BACKUP_PATH " HTTP");
	assert_request(f, 1, "PATCH", BACKUP_PATH " HTTP");
	assert_sent(f, 1, "\"finalizers\":[]");
	assert_sent(f, 1, "\"resourceVersion\":\"5\"");
}

/* ---- step 2 and step 0 --------------------------------------------------------- */

static void test_invalid_spec(void **state)
{
	fixture *f = *state;
	ctrl_result res;

	cache(f->backups, backup("1", "", "{\"target\":{}}", "{}"));
	respond(f, 200, backup("1", "", "{\"target\":{}}", "{}"));
	respond(f, 200, backup("2", "", "{\"target\":{}}", "{\"phase\":\"Failed\"}"));
	res = app_backup_reconcile_session(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 2);
	assert_request(f, 0, "GET", BACKUP_PATH " HTTP");
	assert_request(f, 1, "PUT", BACKUP_PATH "/status HTTP");
	/* status.observedGeneration: the generation of the copy written */
	assert_sent(f, 1, "\"status\":{\"observedGeneration\":3,\"phase\":\"Failed\"");
	assert_sent(f, 1, "\"startTime\":\"2026-11-23T09:20:00Z\"");
	assert_sent(f, 1, "\"completionTime\":\"2026-11-23T09:20:00Z\"");
	assert_sent(f, 1, "\"type\":\"Failed\",\"status\":\"True\"");
	assert_sent(f, 1, "\"reason\":\"InvalidSpec\"");
	assert_sent(f, 1, "\"message\":\"spec.target: give exactly one of statefulSetName "
			  "and podSelector\"");
	assert_int_equal(finished(f, "failed", "InvalidSpec"), 1);
}

/* A spec that no longer decodes (edited since, or a stricter controller)
 * must not strand what the status records: the lock session is still
 * ended, by spec.target alone. Before, step 2 marked such a Backup Failed
 * InvalidSpec and dropped the finalizer, never reaching its server. */
#define SPEC_BAD_SNAPSHOT                                                      \
	"{\"target\":{\"statefulSetName\":\"mariadb\",\"volumes\":[\"data\"]," \
	"\"connection\":{\"credentialsSecretRef\":{\"name\":\"creds\"}}},"     \
	"\"snapshot\":{\"readyTimeoutSeconds\":0}}"
#define LOCKED_42                                                            \
	"{\"phase\":\"Locked\",\"sourcePod\":\"mariadb-1\",\"sourceRole\":"  \
	"\"Replica\",\"startTime\":\"2026-11-23T09:19:45Z\",\"attempts\":1," \
	"\"lock\":{\"stage\":\"BLOCK_COMMIT\",\"connectionId\":42}}"
#define SECRET_PATH "/api/v1/namespaces/db/secrets/creds"

static void test_invalid_spec_deleted_while_locked(void **state)
{
	fixture *f = *state;
	ctrl_result res;

	cache(f->pods, pod());
	cache(f->backups, backup("7", FINALIZER DELETING, SPEC_BAD_SNAPSHOT, LOCKED_42));
	respond(f, 200, backup("7", FINALIZER DELETING, SPEC_BAD_SNAPSHOT, LOCKED_42));
	respond(f, 404, NULL); /* the credentials: the server is not reached */
	res = app_backup_reconcile(f->bc, KEY);
	/* Tried again later, the finalizer (and the record) kept. */
	assert_int_equal(res.kind, CTRL_RESULT_ERROR);
	assert_int_equal(f->server.nrequests, 2);
	assert_request(f, 0, "GET", BACKUP_PATH " HTTP");
	assert_request(f, 1, "GET", SECRET_PATH " HTTP");
}

static void test_invalid_spec_while_locked(void **state)
{
	fixture *f = *state;
	ctrl_result res;

	cache(f->pods, pod());
	cache(f->backups, backup("7", FINALIZER, SPEC_BAD_SNAPSHOT, LOCKED_42));
	respond(f, 200, backup("7", FINALIZER, SPEC_BAD_SNAPSHOT, LOCKED_42));
	respond(f, 404, NULL);
	respond(f, 200,
		backup("8", FINALIZER, SPEC_BAD_SNAPSHOT, "{\"phase\":\"Failed\"}"));
	respond(f, 200, backup("9", "", SPEC_BAD_SNAPSHOT, "{\"phase\":\"Failed\"}"));
	res = app_backup_reconcile_session(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 4);
	assert_request(f, 1, "GET", SECRET_PATH " HTTP"); /* the KILL's way in */
	assert_request(f, 2, "PUT", BACKUP_PATH "/status HTTP");
	assert_sent(f, 2, "\"reason\":\"InvalidSpec\"");
	assert_sent(f, 2, "spec.snapshot.readyTimeoutSeconds: ");
	assert_sent(f, 2, "(its lock session: its connection 42 could not be checked: ");
	assert_request(f, 3, "PATCH", BACKUP_PATH " HTTP");
	assert_int_equal(finished(f, "failed", "InvalidSpec"), 1);
}

/* Without a valid spec.target nothing reaches the server: the message says
 * the session is left to the server's wait_timeout. */
static void test_invalid_target_while_locked(void **state)
{
	fixture *f = *state;
	ctrl_result res;

	cache(f->pods, pod());
	cache(f->backups, backup("7", FINALIZER, "{\"target\":{}}", LOCKED_42));
	respond(f, 200, backup("7", FINALIZER, "{\"target\":{}}", LOCKED_42));
	respond(f, 200,
		backup("8", FINALIZER, "{\"target\":{}}", "{\"phase\":\"Failed\"}"));
	respond(f, 200, backup("9", "", "{\"target\":{}}", "{\"phase\":\"Failed\"}"));
	res = app_backup_reconcile_session(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 3);
	assert_request(f, 1, "PUT", BACKUP_PATH "/status HTTP");
	assert_sent(f, 1, "\"reason\":\"InvalidSpec\"");
	assert_sent(f, 1,
		    "(its lock session: connection 42 not reached without a "
		    "valid spec.target; the server's wait_timeout ends it)");
	assert_request(f, 2, "PATCH", BACKUP_PATH " HTTP");
}

static void test_deleted_lets_go(void **state)
{
	fixture *f = *state;
	ctrl_result res;

	/* Deleted with the finalizer but nothing left running (Pending): the
	 * finalizer goes at once. */
	cache(f->backups, backup("4", FINALIZER DELETING, SPEC_OK, "{\"phase\":\"Pending\"}"));
	respond(f, 200, backup("4", FINALIZER DELETING, SPEC_OK, "{\"phase\":\"Pending\"}"));
	respond(f, 200, backup("5", DELETING, SPEC_OK, "{\"phase\":\"Pending\"}"));
	res = app_backup_reconcile(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 2);
	assert_request(f, 0, "GET", BACKUP_PATH " HTTP");
	assert_request(f, 1, "PATCH", BACKUP_PATH " HTTP");
	assert_sent(f, 1, "\"finalizers\":[]");
	/* Deleted without it: nothing to do once read. */
	cache(f->backups, backup("5", DELETING, SPEC_OK, "{\"phase\":\"Pending\"}"));
	respond(f, 200, backup("5", DELETING, SPEC_OK, "{\"phase\":\"Pending\"}"));
	res = app_backup_reconcile(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 3);
}

static void test_finished_deleted_lets_go(void **state)
{
	fixture *f = *state;
	const char *const finished_status[] = {
		"{\"phase\":\"Failed\",\"conditions\":[{\"type\":\"Failed\",\"status\":"
		"\"True\",\"reason\":\"LockTimeout\",\"message\":\"x\","
		"\"lastTransitionTime\":\"2026-11-23T09:00:00Z\"}]}",
		"{\"phase\":\"Completed\"," SNAPS ",\"conditions\":[{\"type\":"
		"\"Complete\",\"status\":\"True\",\"reason\":\"SnapshotsReady\","
		"\"message\":\"\",\"lastTransitionTime\":\"2026-11-23T09:00:00Z\"}]}",
	};
	ctrl_result res;
	int i;

	/* Finished (it holds no lock) and deleted while it still carries the
	 * finalizer (a crash between finishing and removing it): the
	 * finalizer goes, or `kubectl delete` would wait forever. */
	for (i = 0; i < 2; i++) {
		const char *st = finished_status[i];

		cache(f->backups, backup("5", FINALIZER DELETING, SPEC_OK, st));
		respond(f, 200, backup("5", FINALIZER DELETING, SPEC_OK, st));
		respond(f, 200, backup("6", DELETING, SPEC_OK, st));
		res = app_backup_reconcile(f->bc, KEY);
		assert_int_equal(f->server.nrequests, 2 * (i + 1));
		assert_int_equal(res.kind, CTRL_RESULT_DONE);
		assert_request(f, 2 * i, "GET", BACKUP_PATH " HTTP");
		assert_request(f, 2 * i + 1, "PATCH", BACKUP_PATH " HTTP");
		assert_sent(f, 2 * i + 1, "\"finalizers\":[]");
		assert_sent(f, 2 * i + 1, "\"resourceVersion\":\"5\"");
	}
}

/* ---- step 3: Uploading ----------------------------------------------------------- */

static void test_uploading_completes(void **state)
{
	fixture *f = *state;
	const char *tlv[] = { "db", "mariadb", NULL };
	ctrl_result res;

	cache(f->backups, backup("7", "", SPEC_OK, UPLOADING));
	cache(f->snapshots,
	      snapshot("{\"readyToUse\":true,\"restoreSize\":\"1Gi\",\"creationTime\":"
		       "\"2026-11-23T09:19:50Z\"}"));
	respond(f, 200, backup("7", "", SPEC_OK, UPLOADING));
	respond(f, 200, backup("8", "", SPEC_OK, "{\"phase\":\"Completed\"}"));
	res = app_backup_reconcile(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 2);
	assert_request(f, 0, "GET", BACKUP_PATH " HTTP");
	assert_request(f, 1, "PUT", BACKUP_PATH "/status HTTP");
	assert_sent(f, 1, "\"phase\":\"Completed\"");
	assert_sent(f, 1, "\"message\":\"1 snapshot(s) ready; lock held 120 ms\"");
	assert_sent(f, 1, "\"type\":\"Complete\",\"status\":\"True\"");
	assert_sent(f, 1, "\"reason\":\"SnapshotsReady\"");
	assert_sent(f, 1, "\"readyToUse\":true");
	assert_sent(f, 1, "\"totalRestoreSize\":\"1Gi\"");
	assert_sent(f, 1, "\"completionTime\":\"2026-11-23T09:20:00Z\"");
	assert_sent(f, 1, "},\"observedGeneration\":3,\"message\"");
	assert_int_equal(finished(f, "completed", "SnapshotsReady"), 1);
	assert_true(ctrl_metrics_value(f->metrics,
				       "snapstage_backup_last_success_timestamp_seconds",
				       tlv) == (double)T0 / SEC);
}

static void test_uploading_waits(void **state)
{
	fixture *f = *state;
	ctrl_result res;

	/* Not ready yet: nothing written, looked at again within the resync. */
	cache(f->backups, backup("7", "", SPEC_OK, UPLOADING));
	cache(f->snapshots, snapshot("{\"readyToUse\":false,\"creationTime\":"
				     "\"2026-11-23T09:19:50Z\"}"));
	respond(f, 200, backup("7", "", SPEC_OK, UPLOADING));
	res = app_backup_reconcile(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_REQUEUE_AFTER);
	assert_int_equal(res.after_ns, 30 * SEC);
	assert_int_equal(f->server.nrequests, 1);
}

static void test_uploading_lost(void **state)
{
	fixture *f = *state;
	ctrl_result res;
	json_t *vs;

	/* The snapshot is being deleted after its cut: SnapshotLost. */
	cache(f->backups, backup("7", "", SPEC_OK, UPLOADING));
	vs = snapshot("{\"readyToUse\":true}");
	tu_json_set(vs, "metadata.deletionTimestamp", json_string("2026-11-23T09:19:59Z"));
	cache(f->snapshots, vs);
	respond(f, 200, backup("7", "", SPEC_OK, UPLOADING));
	respond(f, 404, NULL);
	respond(f, 200, backup("8", "", SPEC_OK, "{\"phase\":\"Failed\"}"));
	res = app_backup_reconcile(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 3);
	assert_request(f, 1, "GET", VS_PATH " HTTP");
	assert_request(f, 2, "PUT", BACKUP_PATH "/status HTTP");
	assert_sent(f, 2, "\"reason\":\"SnapshotLost\"");
	assert_sent(f, 2, "\"message\":\"VolumeSnapshot db/adhoc-data-1 was deleted after "
			  "its cut; the Backup's other snapshots were deleted\"");
	assert_int_equal(finished(f, "failed", "SnapshotLost"), 1);
}

static void test_uploading_gone_is_lost(void **state)
{
	fixture *f = *state;
	ctrl_result res;

	/* The snapshot is gone from the cache after its cut (deleted, and the
	 * deletion done): SnapshotLost at once, not ReadyTimeout an hour
	 * later. The cache answers SS_ENOTFOUND for it (ctrl/store.h). */
	cache(f->backups, backup("7", "", SPEC_OK, UPLOADING));
	respond(f, 200, backup("7", "", SPEC_OK, UPLOADING));
	respond(f, 404, NULL);
	respond(f, 200, backup("8", "", SPEC_OK, "{\"phase\":\"Failed\"}"));
	res = app_backup_reconcile(f->bc, KEY);
	assert_int_equal(f->server.nrequests, 3);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_request(f, 1, "GET", VS_PATH " HTTP");
	assert_request(f, 2, "PUT", BACKUP_PATH "/status HTTP");
	assert_sent(f, 2, "\"phase\":\"Failed\"");
	assert_sent(f, 2, "\"reason\":\"SnapshotLost\"");
	assert_sent(f, 2, "\"message\":\"VolumeSnapshot db/adhoc-data-1 was deleted after "
			  "its cut; the Backup's other snapshots were deleted\"");
	assert_int_equal(finished(f, "failed", "SnapshotLost"), 1);
}

/* ---- step 4: an interrupted session ------------------------------------------- */

static void test_interrupted_retried(void **state)
{
	fixture *f = *state;
	const char *locked =
		"{\"phase\":\"Locked\",\"sourcePod\":\"mariadb-1\",\"sourceRole\":"
		"\"Replica\",\"startTime\":\"2026-11-23T09:19:45Z\",\"attempts\":1," SNAPS
		",\"lock\":{\"stage\":\"BLOCK_COMMIT\",\"connectionId\":-1}}";
	ctrl_result res;

	cache(f->backups, backup("7", FINALIZER, SPEC_OK, locked));
	respond(f, 200, backup("7", FINALIZER, SPEC_OK, locked));
	respond(f, 404, NULL);
	respond(f, 200, backup("8", FINALIZER, SPEC_OK, "{\"phase\":\"Pending\"}"));
	respond(f, 200, backup("9", "", SPEC_OK, "{\"phase\":\"Pending\"}"));
	res = app_backup_reconcile(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_REQUEUE_AFTER);
	assert_int_equal(res.after_ns, 2 * SEC);
	assert_int_equal(f->server.nrequests, 4);
	assert_request(f, 1, "GET", VS_PATH " HTTP");
	assert_request(f, 2, "PUT", BACKUP_PATH "/status HTTP");
	assert_sent(f, 2, "\"phase\":\"Pending\"");
	assert_sent(f, 2, "\"nextAttemptTime\":\"2026-11-23T09:20:02Z\"");
	assert_sent(f, 2, "\"message\":\"lock session 1: interrupted (no connection "
			  "recorded); its snapshots were deleted; retrying\"");
	assert_not_sent(f, 2, "\"snapshots\"");
	assert_not_sent(f, 2, "\"conditions\":[{");
	/* Nothing can be locked now: the finalizer goes. */
	assert_request(f, 3, "PATCH", BACKUP_PATH " HTTP");
	assert_sent(f, 3, "\"resourceVersion\":\"8\"");
}

/* ---- steps 5-6 on the lane ------------------------------------------------------ */

static void test_snapshot_api_missing(void **state)
{
	fixture *f = *state;
	ctrl_result res;

	cache(f->backups, backup("1", "", SPEC_OK, "{}"));
	respond(f, 200, backup("1", "", SPEC_OK, "{}"));
	respond(f, 404, NULL);
	respond(f, 200, backup("2", "", SPEC_OK, "{\"phase\":\"Failed\"}"));
	res = app_backup_reconcile_session(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 3);
	assert_request(f, 1, "GET", "/apis/snapshot.storage.k8s.io/v1 HTTP");
	assert_sent(f, 2, "\"reason\":\"SnapshotAPIMissing\"");
	assert_sent(f, 2, "\"startTime\":\"2026-11-23T09:20:00Z\"");
	assert_int_equal(finished(f, "failed", "SnapshotAPIMissing"), 1);
}

static void test_target_not_found(void **state)
{
	fixture *f = *state;
	ctrl_result res;

	cache(f->backups, backup("1", "", SPEC_OK, "{}"));
	respond(f, 200, backup("1", "", SPEC_OK, "{}"));
	respond(f, 200,
		tu_json("{\"kind\":\"APIResourceList\",\"resources\":[{\"name\":"
			"\"volumesnapshots\",\"kind\":\"VolumeSnapshot\","
			"\"namespaced\":true}]}"));
	respond(f, 200, tu_json("{\"kind\":\"VolumeSnapshotClass\",\"metadata\":{"
				"\"name\":\"csi\"}}"));
	respond(f, 200, backup("2", "", SPEC_OK, "{\"phase\":\"Failed\"}"));
	res = app_backup_reconcile_session(f->bc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 4);
	assert_request(f, 2, "GET",
		       "/apis/snapshot.storage.k8s.io/v1/volumesnapshotclasses/csi HTTP");
	assert_request(f, 3, "PUT", BACKUP_PATH "/status HTTP");
	assert_sent(f, 3, "\"reason\":\"TargetNotFound\"");
	assert_sent(f, 3, "\"phase\":\"Failed\"");
	assert_int_equal(finished(f, "failed", "TargetNotFound"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handoff_and_pause, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restorable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_keeps_no_snapshot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_finished_drops_finalizer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_invalid_spec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_spec_deleted_while_locked,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_spec_while_locked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_invalid_target_while_locked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deleted_lets_go, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finished_deleted_lets_go, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_uploading_completes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_uploading_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uploading_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uploading_gone_is_lost, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_retried, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_api_missing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_target_not_found, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
