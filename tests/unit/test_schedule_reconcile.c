/*
 * test_schedule_reconcile.c — one BackupSchedule reconcile
 * (app/schedule/schedule.h) against the scripted API server of
 * fake_server.h, for restore verification (issue 18): the verification
 * cron's due time asks the newest Complete, restorable Backup of the
 * schedule for a verification with a merge patch of its annotations only
 * (with its resourceVersion, never its spec), records the due time, and
 * reports the last verified Backup (status, metric) and Degraded; the same
 * due time does not ask twice; with nothing to verify the due time is
 * recorded all the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_server.h"
#include "testutil.h"

#include "app/api/api.h"
#include "app/api/index.h"
#include "app/schedule/schedule.h"
#include "ctrl/metrics.h"
#include "ctrl/store.h"
#include "kube/config.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/str.h"

#define SEC SS_NS_PER_SEC
/* 2026-11-23T09:20:00Z: five minutes after the verification due time */
#define T0 (INT64_C(1795425600) * SEC)
#define KEY "db/nightly"
#define SCHED_PATH "/apis/snapstage.io/v1alpha1/namespaces/db/backupschedules/nightly"
#define BACKUPS_PATH "/apis/snapstage.io/v1alpha1/namespaces/db/backups/"

typedef struct {
	fake_server server;
	kube_client *client;
	ss_fake_clock clock;
	ctrl_store *schedules, *backups;
	ctrl_metrics *metrics;
	app_schedule_ctrl *sc;
	char dir[512];
	char *bodies[FAKE_MAX_SCRIPT];
	int n_bodies;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	app_schedule_ctrl_opts o = { 0 };

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s", tu_mkdtemp());
	fake_server_start(&f->server);
	f->client = fake_server_client(&f->server, f->dir, "t", NULL);
	ss_fake_clock_init(&f->clock, T0);
	assert_int_equal(ctrl_store_new(&f->schedules), 0);
	assert_int_equal(ctrl_store_new(&f->backups), 0);
	assert_int_equal(ctrl_store_add_index(f->backups, APP_INDEX_SCHEDULE,
					      ctrl_index_by_label,
					      (void *)APP_LABEL_SCHEDULE),
			 0);
	assert_int_equal(ctrl_metrics_new(&f->metrics), 0);
	o.client = f->client;
	o.schedules = f->schedules;
	o.backups = f->backups;
	o.metrics = f->metrics;
	o.clock = &f->clock.clock;
	assert_int_equal(app_schedule_ctrl_new(&f->sc, &o), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	int i;

	app_schedule_ctrl_free(f->sc);
	ctrl_metrics_free(f->metrics);
	ctrl_store_free(f->schedules);
	ctrl_store_free(f->backups);
	kube_client_free(f->client);
	fake_server_stop(&f->server);
	for (i = 0; i < f->n_bodies; i++)
		free(f->bodies[i]);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* The schedule db/nightly (uid s-1), made at 08:00, Backups yearly (none
 * due), verification at 09:15 UTC, requireVerified; `status` JSON. */
static json_t *schedule(const char *status)
{
	char text[4096];

	snprintf(
		text, sizeof(text),
		"{\"apiVersion\":\"snapstage.io/v1alpha1\",\"kind\":\"BackupSchedule\","
		"\"metadata\":{\"name\":\"nightly\",\"namespace\":\"db\",\"uid\":\"s-1\","
		"\"resourceVersion\":\"7\",\"generation\":1,\"creationTimestamp\":"
		"\"2026-11-23T08:00:00Z\"},\"spec\":{\"schedule\":\"0 0 1 1 *\","
		"\"target\":{\"statefulSetName\":\"mariadb\",\"connection\":{"
		"\"credentialsSecretRef\":{\"name\":\"creds\"}}},\"retention\":{"
		"\"keepLast\":5,\"requireVerified\":true},\"verification\":{"
		"\"schedule\":\"15 9 * * *\"}},\"status\":%s}",
		status);
	return tu_json(text);
}

/* Backup `name` of the schedule at resourceVersion `rv`, made at
 * `created`, with `conditions` and `verification` (JSON, or "null"). */
static json_t *backup(const char *name, const char *rv, const char *created,
		      const char *conditions, const char *verification)
{
	char text[4096];

	snprintf(text, sizeof(text),
		 "{\"apiVersion\":\"snapstage.io/v1alpha1\",\"kind\":\"Backup\","
		 "\"metadata\":{\"name\":\"%s\",\"namespace\":\"db\",\"uid\":\"u-%s\","
		 "\"resourceVersion\":\"%s\",\"creationTimestamp\":\"%s\",\"labels\":{"
		 "\"snapstage.io/schedule\":\"nightly\",\"snapstage.io/schedule-uid\":"
		 "\"s-1\"}},\"spec\":{\"target\":{\"statefulSetName\":\"mariadb\"}},"
		 "\"status\":{\"conditions\":%s,\"verification\":%s}}",
		 name, name, rv, created, conditions, verification);
	return tu_json(text);
}

#define COMPLETE "[{\"type\":\"Complete\",\"status\":\"True\",\"reason\":\"X\"}]"
#define FAILED "[{\"type\":\"Failed\",\"status\":\"True\",\"reason\":\"X\"}]"
#define UNRESTORABLE                                                     \
	"[{\"type\":\"Complete\",\"status\":\"True\",\"reason\":\"X\"}," \
	"{\"type\":\"Restorable\",\"status\":\"False\",\"reason\":\"SnapshotMissing\"}]"
#define PASSED                                                                           \
	"{\"token\":\"t1\",\"phase\":\"Done\",\"result\":\"Passed\",\"completionTime\":" \
	"\"2026-11-23T08:30:00Z\"}"

static void respond(fixture *f, int status, json_t *obj)
{
	fake_response r = { .status = status };

	f->bodies[f->n_bodies] = json_dumps(obj, JSON_COMPACT);
	assert_non_null(f->bodies[f->n_bodies]);
	r.body = f->bodies[f->n_bodies++];
	json_decref(obj);
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

/* The body of request i (after the blank line). */
static json_t *request_body(fixture *f, int i)
{
	const char *body;

	assert_true(i < f->server.nrequests);
	body = strstr(f->server.requests[i], "\r\n\r\n");
	assert_non_null(body);
	return tu_json(body + 4);
}

/* The schedule's Backups: b1 verified (Passed), b2 the newest Complete
 * one, b3 Failed, b4 Complete but no longer restorable, b5 being deleted. */
static void cache_backups(fixture *f)
{
	json_t *b5;

	cache(f->backups,
	      backup("nightly-b1", "11", "2026-11-23T08:00:00Z", COMPLETE, PASSED));
	cache(f->backups,
	      backup("nightly-b2", "22", "2026-11-23T09:00:00Z", COMPLETE, "null"));
	cache(f->backups,
	      backup("nightly-b3", "33", "2026-11-23T09:10:00Z", FAILED, "null"));
	cache(f->backups,
	      backup("nightly-b4", "44", "2026-11-23T09:12:00Z", UNRESTORABLE, "null"));
	b5 = backup("nightly-b5", "55", "2026-11-23T09:13:00Z", COMPLETE, "null");
	json_object_set_new(json_object_get(b5, "metadata"), "deletionTimestamp",
			    json_string("2026-11-23T09:14:00Z"));
	cache(f->backups, b5);
}

static void respond_secret(fixture *f)
{
	respond(f, 200,
		tu_json("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{"
			"\"name\":\"creds\",\"namespace\":\"db\"},\"data\":{"
			"\"username\":\"dQ==\",\"password\":\"cA==\"}}"));
}

static void test_due_verification_patches_annotation(void **state)
{
	fixture *f = *state;
	const char *lv[] = { "db", "nightly", NULL };
	json_t *patch;
	ctrl_result res;

	cache(f->schedules, schedule("{}"));
	cache_backups(f);
	respond(f, 200, schedule("{}")); /* GET */
	respond_secret(f);		 /* preflight */
	respond(f, 200,
		backup("nightly-b2", "23", "2026-11-23T09:00:00Z", COMPLETE,
		       "null"));	 /* PATCH */
	respond(f, 200, schedule("{}")); /* PUT status */
	res = app_schedule_reconcile(f->sc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_REQUEUE_AFTER);
	assert_int_equal(f->server.nrequests, 4);
	assert_request(f, 0, "GET", SCHED_PATH);
	assert_request(f, 2, "PATCH", BACKUPS_PATH "nightly-b2 ");
	assert_sent(f, 2, "application/merge-patch+json");
	/* annotations only, guarded by the resourceVersion it was read at */
	patch = request_body(f, 2);
	assert_int_equal(json_object_size(patch), 1);
	assert_null(json_object_get(patch, "spec"));
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(patch, "metadata"),
						  "resourceVersion")),
		"22");
	assert_int_equal(json_object_size(json_object_get(patch, "metadata")), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(patch, "metadata"),
						    "annotations"),
				    APP_ANNOTATION_VERIFY_NOW)),
			    "2026-11-23T09:15:00Z");
	json_decref(patch);
	/* status: the due time recorded, the next one, the verified Backup,
	 * Degraded False */
	assert_request(f, 3, "PUT", SCHED_PATH "/status");
	assert_sent(f, 3, "\"lastVerificationRequestTime\":\"2026-11-23T09:15:00Z\"");
	assert_sent(f, 3, "\"nextVerificationTime\":\"2026-11-24T09:15:00Z\"");
	assert_sent(f, 3, "\"lastVerifiedBackup\":\"nightly-b1\"");
	assert_sent(f, 3, "\"lastVerificationResult\":\"Passed\"");
	assert_sent(f, 3, "\"type\":\"Degraded\",\"status\":\"False\"");
	assert_true(ctrl_metrics_value(f->metrics,
				       "snapstage_backup_last_verified_timestamp_seconds",
				       lv) == 1795422600.0);
}

static void test_same_due_time_asks_once(void **state)
{
	fixture *f = *state;
	const char *st = "{\"lastVerificationRequestTime\":"
			 "\"2026-11-23T09:15:00Z\",\"nextVerificationTime\":"
			 "\"2026-11-24T09:15:00Z\"}";
	ctrl_result res;

	cache(f->schedules, schedule(st));
	cache_backups(f);
	respond(f, 200, schedule(st));
	respond_secret(f);
	respond(f, 200, schedule(st));
	res = app_schedule_reconcile(f->sc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_REQUEUE_AFTER);
	/* no PATCH: GET, Secret, status */
	assert_int_equal(f->server.nrequests, 3);
	assert_request(f, 2, "PUT", SCHED_PATH "/status");
	assert_not_sent(f, 2, BACKUPS_PATH);
	/* looked at again at the next verification due time (the Backups'
	 * cron is yearly) */
	assert_true(res.after_ns > 23 * 3600 * SEC && res.after_ns < 24 * 3600 * SEC);
}

static void test_nothing_to_verify(void **state)
{
	fixture *f = *state;
	ctrl_result res;

	cache(f->schedules, schedule("{}"));
	cache(f->backups,
	      backup("nightly-b3", "33", "2026-11-23T09:10:00Z", FAILED, "null"));
	respond(f, 200, schedule("{}"));
	respond_secret(f);
	respond(f, 200, schedule("{}"));
	res = app_schedule_reconcile(f->sc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_REQUEUE_AFTER);
	assert_int_equal(f->server.nrequests, 3);
	assert_request(f, 2, "PUT", SCHED_PATH "/status");
	assert_sent(f, 2, "\"lastVerificationRequestTime\":\"2026-11-23T09:15:00Z\"");
	assert_not_sent(f, 2, "lastVerifiedBackup");
}

/* requireVerified: the newest finished verification (b2's) failed and no
 * newer Backup passed: Degraded True, with an Event-worthy reason; b1
 * stays the last verified one. */
static void test_degraded(void **state)
{
	fixture *f = *state;
	const char *st = "{\"lastVerificationRequestTime\":"
			 "\"2026-11-23T09:15:00Z\"}";
	ctrl_result res;

	cache(f->schedules, schedule(st));
	cache(f->backups,
	      backup("nightly-b1", "11", "2026-11-23T08:00:00Z", COMPLETE, PASSED));
	cache(f->backups,
	      backup("nightly-b2", "22", "2026-11-23T09:00:00Z", COMPLETE,
		     "{\"token\":\"t2\",\"phase\":\"Done\",\"result\":\"Failed\","
		     "\"reason\":\"TableCorrupt\",\"completionTime\":"
		     "\"2026-11-23T09:05:00Z\"}"));
	respond(f, 200, schedule(st));
	respond_secret(f);
	respond(f, 200, schedule(st));
	res = app_schedule_reconcile(f->sc, KEY);
	assert_int_equal(res.kind, CTRL_RESULT_REQUEUE_AFTER);
	assert_int_equal(f->server.nrequests, 3);
	assert_sent(f, 2, "\"lastVerificationBackup\":\"nightly-b2\"");
	assert_sent(f, 2, "\"lastVerificationResult\":\"Failed\"");
	assert_sent(f, 2, "\"lastVerifiedBackup\":\"nightly-b1\"");
	assert_sent(f, 2, "\"type\":\"Degraded\",\"status\":\"True\"");
	assert_sent(f, 2, "\"reason\":\"VerificationFailed\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_due_verification_patches_annotation,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_due_time_asks_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nothing_to_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_degraded, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
