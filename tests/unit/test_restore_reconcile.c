/*
 * test_restore_reconcile.c — the Restore reconciler (app/restore/restore.h)
 * against the scripted API server of test_run.c: for one reconcile, the
 * requests in order, the status written (message, phase, conditions,
 * observedGeneration, the in-place record) and the result. The paths: a
 * Restore not cached or finished (left alone), InPlace while disabled, a
 * source Backup not complete yet (waited for), NewClaims up to claims
 * created and waited for, an in-place target that does not opt in, an
 * in-place failure in ReplacingClaims that starts the rollback, and a
 * rollback blocked by an old volume gone.
 *
 * The JSON below is written with ' for " (q() turns it back).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_server.h"
#include "testutil.h"

#include "app/api/api.h"
#include "app/api/index.h"
#include "app/restore/restore.h"
#include "ctrl/metrics.h"
#include "ctrl/object.h"
#include "ctrl/store.h"
#include "kube/config.h"
#include "util/clock.h"
#include "util/error.h"

#define SEC SS_NS_PER_SEC
/* 2026-11-23T09:20:00Z */
#define T0 (INT64_C(1795425600) * SEC)
#define T0_TEXT "2026-11-23T09:20:00Z"
#define MAX_BODIES 32

#define RESTORE_META                                                         \
	"'apiVersion':'snapstage.io/v1alpha1','kind':'Restore','metadata':{" \
	"'name':'r1','namespace':'ns','uid':'r-uid','resourceVersion':'7',"  \
	"'generation':3}"
#define NEW_CLAIMS_SPEC                                               \
	"{'source':{'backupName':'b1'},'target':{'mode':'NewClaims'," \
	"'newClaims':{'storageClassName':'fast'}},'timeoutSeconds':300}"
#define REPLAY_SPEC                                                           \
	"{'source':{'scheduleName':'nightly'},'target':{'mode':'NewClaims'}," \
	"'replay':{'gtid':'0-1-4711','inclusive':false,"                      \
	"'replicationCredentialsSecretRef':{'name':'repl'},'connection':{"    \
	"'credentialsSecretRef':{'name':'mariadb-backup'}}},'timeoutSeconds':300}"
#define REPLAY_FUTURE_SPEC                                                    \
	"{'source':{'scheduleName':'nightly'},'target':{'mode':'NewClaims'}," \
	"'replay':{'time':'2026-11-23T09:21:00Z',"                            \
	"'replicationCredentialsSecretRef':{'name':'repl'},'connection':{"    \
	"'credentialsSecretRef':{'name':'mariadb-backup'}}},'timeoutSeconds':300}"
#define REPLAY_IN_PLACE_SPEC                                                   \
	"{'source':{'backupName':'b1'},'target':{'mode':'InPlace','inPlace':{" \
	"'statefulSetName':'db','acknowledgeDataLoss':true,'connection':{"     \
	"'credentialsSecretRef':{'name':'mariadb-backup'}}}},'replay':{"       \
	"'gtid':'0-1-4711','replicationCredentialsSecretRef':{'name':'repl'}," \
	"'connection':{'credentialsSecretRef':{'name':'mariadb-backup'}}},"    \
	"'timeoutSeconds':300}"
#define REPLAY_B1_SPEC(gtid)                                               \
	"{'source':{'backupName':'b1'},'target':{'mode':'NewClaims',"      \
	"'newClaims':{'storageClassName':'fast'}},'replay':{'gtid':'" gtid \
	"','inclusive':false,'source':{'podName':'db-0'},"                 \
	"'replicationCredentialsSecretRef':{'name':'repl'},'connection':{" \
	"'credentialsSecretRef':{'name':'mariadb-backup'}}},'timeoutSeconds':300}"
#define IN_PLACE_SPEC                                                          \
	"{'source':{'backupName':'b1'},'target':{'mode':'InPlace','inPlace':{" \
	"'statefulSetName':'db','acknowledgeDataLoss':true,'connection':{"     \
	"'credentialsSecretRef':{'name':'mariadb-backup'}}}},'timeoutSeconds':300}"
/* An in-place restore under way: step `step`, one slot (claim data-db-0,
 * old volume pv-old), the StatefulSet db pinned with uid sts-uid. */
#define IN_PLACE_STATUS(step, extra)                                              \
	"{'phase':'Restoring','mode':'InPlace','sourceBackup':'b1',"              \
	"'startTime':'2026-11-23T09:00:00Z','observedGeneration':3,"              \
	"'message':'before','acceptedSpec':" IN_PLACE_SPEC ",'inPlace':{"         \
	"'statefulSetName':'db','statefulSetUID':'sts-uid','originalReplicas':1," \
	"'primaryOrdinal':0,'step':'" step "','gtidPosition':'0-1-5',"            \
	"'volumes':[{'claim':'data-db-0','volume':'data','ordinal':0,"            \
	"'oldClaimUID':'old-uid','oldVolumeName':'pv-old',"                       \
	"'oldReclaimPolicy':'Delete'}]" extra "}}"

#define BACKUP_B1                                                               \
	"{'apiVersion':'snapstage.io/v1alpha1','kind':'Backup','metadata':{"    \
	"'name':'b1','namespace':'ns','uid':'b-uid'},'status':{'conditions':[{" \
	"'type':'Complete','status':'True','reason':'Completed','message':'',"  \
	"'lastTransitionTime':'2026-11-23T08:00:00Z'}],'snapshots':[{"          \
	"'volume':'data','claim':'data-db-0','volumeSnapshotName':'b1-data',"   \
	"'readyToUse':true,'restoreSize':'1Gi'}],'position':{"                  \
	"'gtidCurrentPos':'0-1-5'},'lock':{'stage':'BLOCK_COMMIT'}}}"
#define VS_B1_DATA                                                            \
	"{'apiVersion':'snapshot.storage.k8s.io/v1','kind':'VolumeSnapshot'," \
	"'metadata':{'name':'b1-data','namespace':'ns','uid':'vs-uid',"       \
	"'ownerReferences':[{'apiVersion':'snapstage.io/v1alpha1','kind':"    \
	"'Backup','name':'b1','uid':'b-uid','controller':true}]},'status':{"  \
	"'boundVolumeSnapshotContentName':'snapcontent-1','readyToUse':true," \
	"'restoreSize':'1Gi'}}"
#define STS_DB(annotations)                                                     \
	"{'apiVersion':'apps/v1','kind':'StatefulSet','metadata':{'name':'db'," \
	"'namespace':'ns','uid':'sts-uid','annotations':" annotations "},"      \
	"'spec':{'replicas':1,'volumeClaimTemplates':[{'metadata':{"            \
	"'name':'data'},'spec':{'storageClassName':'fast','accessModes':["      \
	"'ReadWriteOnce'],'resources':{'requests':{'storage':'1Gi'}}}}]}}"
#define NOT_FOUND                                                  \
	"{'kind':'Status','status':'Failure','reason':'NotFound'," \
	"'code':404}"

typedef struct {
	fake_server server;
	kube_client *client;
	ss_fake_clock clock;
	ctrl_store *restores, *backups;
	ctrl_metrics *metrics;
	app_restore_ctrl *rc;
	app_restore_ctrl_opts opts;
	char *bodies[MAX_BODIES];
	size_t n_bodies;
	json_t *puts[MAX_BODIES]; /* the status PUTs' bodies, parsed */
	size_t n_puts;
	char dir[512];
} fixture;

/* `text` with every ' turned into ", kept until the test ends. */
static const char *q(fixture *f, const char *text)
{
	char *s = strdup(text), *p;

	assert_non_null(s);
	assert_true(f->n_bodies < MAX_BODIES);
	for (p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	f->bodies[f->n_bodies++] = s;
	return s;
}

static void answer(fixture *f, int status, const char *text)
{
	fake_response r = { .status = status, .body = q(f, text) };

	fake_server_add(&f->server, &r);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s", tu_mkdtemp());
	fake_server_start(&f->server);
	f->client = fake_server_client(&f->server, f->dir, "t", NULL);
	ss_fake_clock_init(&f->clock, T0);
	f->opts.enable_replay = true; /* test_replay_disabled turns it off */
	assert_int_equal(ctrl_store_new(&f->restores), 0);
	assert_int_equal(ctrl_store_new(&f->backups), 0);
	assert_int_equal(ctrl_store_add_index(f->backups, APP_INDEX_SCHEDULE,
					      ctrl_index_by_label,
					      (void *)APP_LABEL_SCHEDULE),
			 0);
	assert_int_equal(ctrl_metrics_new(&f->metrics), 0);
	f->opts.client = f->client;
	f->opts.restores = f->restores;
	f->opts.backups = f->backups;
	f->opts.metrics = f->metrics;
	f->opts.clock = &f->clock.clock;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	size_t i;

	app_restore_ctrl_free(f->rc);
	ctrl_metrics_free(f->metrics);
	ctrl_store_free(f->restores);
	ctrl_store_free(f->backups);
	kube_client_free(f->client);
	fake_server_stop(&f->server);
	for (i = 0; i < f->n_bodies; i++)
		free(f->bodies[i]);
	for (i = 0; i < f->n_puts; i++)
		json_decref(f->puts[i]);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* The Restore r1 with `spec` and `status` (NULL: none), in the cache;
 * returns its JSON text for the API's answers. */
static const char *restore_r1(fixture *f, const char *spec, const char *status)
{
	char text[8192];
	const char *body;
	json_t *obj;

	snprintf(text, sizeof(text), "{" RESTORE_META ",'spec':%s%s%s}", spec,
		 status ? ",'status':" : "", status ? status : "");
	body = q(f, text);
	obj = tu_json(body);
	assert_int_equal(ctrl_store_put(f->restores, obj, NULL), 0);
	json_decref(obj);
	return body;
}

static ctrl_result reconcile(fixture *f, bool enable_in_place)
{
	f->opts.enable_in_place = enable_in_place;
	assert_int_equal(app_restore_ctrl_new(&f->rc, &f->opts), 0);
	return app_restore_reconcile(f->rc, "ns/r1");
}

/* Request `i` starts with `line` ("GET /api/v1/..."). */
static void assert_request(fixture *f, int i, const char *line)
{
	assert_true(i < f->server.nrequests);
	if (strncmp(f->server.requests[i], line, strlen(line)) != 0)
		fail_msg("request %d: %.120s, not %s", i, f->server.requests[i], line);
}

/* Request `i`, a status PUT of Restore r1: its status (borrowed). */
static const json_t *put_status(fixture *f, int i)
{
	const char *body;
	json_t *obj;

	assert_request(f, i,
		       "PUT /apis/snapstage.io/v1alpha1/namespaces/ns/restores/r1/"
		       "status HTTP");
	body = strstr(f->server.requests[i], "\r\n\r\n");
	assert_non_null(body);
	obj = tu_json(body + 4);
	assert_true(f->n_puts < MAX_BODIES);
	f->puts[f->n_puts++] = obj;
	return json_object_get(obj, "status");
}

static const char *str_at(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static void assert_str(const json_t *obj, const char *key, const char *want)
{
	const char *got = str_at(obj, key);

	if (got == NULL || strcmp(got, want) != 0)
		fail_msg("%s: \"%s\", not \"%s\"", key, got ? got : "(none)", want);
}

/* The only condition in `st`: `type` True with `reason` and the status
 * message as its message. */
static void assert_condition(const json_t *st, const char *type, const char *reason)
{
	const json_t *conds = json_object_get(st, "conditions");
	const json_t *c = json_array_get(conds, 0);

	assert_int_equal(json_array_size(conds), 1);
	assert_str(c, "type", type);
	assert_str(c, "status", "True");
	assert_str(c, "reason", reason);
	assert_str(c, "message", str_at(st, "message"));
	assert_str(c, "lastTransitionTime", T0_TEXT);
}

static void assert_finished(fixture *f, const char *mode, const char *result,
			    const char *reason)
{
	const char *lv[] = { "ns", mode, result, reason, NULL };
	const char *dlv[] = { "ns", mode, NULL };

	assert_true(ctrl_metrics_value(f->metrics, "snapstage_restores_total", lv) ==
		    1.0);
	assert_true(ctrl_metrics_value(f->metrics, "snapstage_restore_duration_seconds",
				       dlv) == 1.0);
}

/* --- the tests ------------------------------------------------------------- */

/* Not in the cache: nothing asked. Finished: read, nothing written. */
static void test_left_alone(void **state)
{
	fixture *f = *state;
	ctrl_result res;

	res = reconcile(f, true);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 0);
	answer(f, 200,
	       restore_r1(f, NEW_CLAIMS_SPEC, "{'phase':'Completed','message':'done'}"));
	res = app_restore_reconcile(f->rc, "ns/r1");
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 1);
	assert_request(f, 0,
		       "GET /apis/snapstage.io/v1alpha1/namespaces/ns/restores/r1 HTTP");
}

static void test_in_place_disabled(void **state)
{
	fixture *f = *state;
	const json_t *st;
	ctrl_result res;

	answer(f, 200, restore_r1(f, IN_PLACE_SPEC, NULL));
	answer(f, 200, restore_r1(f, IN_PLACE_SPEC, NULL));
	res = reconcile(f, false);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 2);
	st = put_status(f, 1);
	assert_str(st, "phase", "Failed");
	assert_str(st, "mode", "InPlace");
	assert_str(st, "message",
		   "the controller runs without --enable-in-place-restore; "
		   "nothing was changed");
	assert_condition(st, "Failed", "InPlaceRestoreDisabled");
	assert_int_equal(json_integer_value(json_object_get(st, "observedGeneration")),
			 3);
	assert_str(st, "startTime", T0_TEXT);
	assert_str(st, "completionTime", T0_TEXT);
	assert_str(json_object_get(json_object_get(st, "acceptedSpec"), "target"), "mode",
		   "InPlace");
	assert_finished(f, "InPlace", "failed", "InPlaceRestoreDisabled");
}

/* spec.replay without --enable-point-in-time-restore: Failed
 * PointInTimeRestoreDisabled before any request but the Restore's own (no
 * Backup, claim or Pod is read or made). */
static void test_replay_disabled(void **state)
{
	fixture *f = *state;
	const json_t *st;
	ctrl_result res;

	f->opts.enable_replay = false;
	answer(f, 200, restore_r1(f, REPLAY_SPEC, NULL));
	answer(f, 200, restore_r1(f, REPLAY_SPEC, NULL));
	res = reconcile(f, true);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 2);
	st = put_status(f, 1);
	assert_str(st, "phase", "Failed");
	assert_str(st, "message",
		   "the controller runs without --enable-point-in-time-restore; "
		   "nothing was changed");
	assert_condition(st, "Failed", "PointInTimeRestoreDisabled");
	assert_finished(f, "NewClaims", "failed", "PointInTimeRestoreDisabled");
}

/* A time target in the future: TargetNotReached at once, before any
 * Backup, claim or Pod is read or made (the old flow made the claims and
 * started a scratch server before finding out). */
static void test_replay_future(void **state)
{
	fixture *f = *state;
	const json_t *st;
	ctrl_result res;

	answer(f, 200, restore_r1(f, REPLAY_FUTURE_SPEC, NULL));
	answer(f, 200, restore_r1(f, REPLAY_FUTURE_SPEC, NULL));
	res = reconcile(f, true);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 2);
	st = put_status(f, 1);
	assert_str(st, "phase", "Failed");
	assert_condition(st, "Failed", "TargetNotReached");
	assert_non_null(strstr(str_at(st, "message"), "is in the future"));
	assert_non_null(strstr(str_at(st, "message"), "nothing was changed"));
}

/* A point-in-time restore in place runs the in-place checks before it
 * makes anything: without --enable-in-place-restore it fails as a plain
 * in-place Restore does; with it, a StatefulSet without the opt-in
 * annotation fails InPlaceRestoreNotAllowed after three GETs, nothing
 * created (no scratch claim, no replay step). */
static void test_replay_in_place_checks_first(void **state)
{
	fixture *f = *state;
	ctrl_result res;

	answer(f, 200, restore_r1(f, REPLAY_IN_PLACE_SPEC, NULL));
	answer(f, 200, restore_r1(f, REPLAY_IN_PLACE_SPEC, NULL));
	res = reconcile(f, false);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 2);
	assert_condition(put_status(f, 1), "Failed", "InPlaceRestoreDisabled");
}

/* A Restore of `spec` (in place, with --enable-in-place-restore) on
 * StatefulSet db without the opt-in annotation: the Restore, Backup b1 and
 * the StatefulSet read, then status written Failed InPlaceRestoreNotAllowed
 * (returned), nothing else. */
static const json_t *run_in_place_not_allowed(fixture *f, const char *spec)
{
	const json_t *st;
	ctrl_result res;

	answer(f, 200, restore_r1(f, spec, NULL));
	answer(f, 200, BACKUP_B1);
	answer(f, 200, STS_DB("{}"));
	answer(f, 200, restore_r1(f, spec, NULL));
	res = reconcile(f, true);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 4);
	assert_request(f, 2, "GET /apis/apps/v1/namespaces/ns/statefulsets/db HTTP");
	st = put_status(f, 3);
	assert_str(st, "phase", "Failed");
	assert_condition(st, "Failed", "InPlaceRestoreNotAllowed");
	return st;
}

static void test_replay_in_place_not_allowed(void **state)
{
	fixture *f = *state;
	const json_t *st = run_in_place_not_allowed(f, REPLAY_IN_PLACE_SPEC);

	assert_non_null(strstr(str_at(st, "message"), "StatefulSet db was not touched"));
	assert_null(json_object_get(st, "replay"));
	assert_null(json_object_get(st, "claims"));
}

/* A schedule without a Backup before the GTID target: NoBaseBeforeTarget,
 * nothing made. */
static void test_replay_no_base(void **state)
{
	fixture *f = *state;
	const json_t *st;
	ctrl_result res;

	answer(f, 200, restore_r1(f, REPLAY_SPEC, NULL));
	answer(f, 200, restore_r1(f, REPLAY_SPEC, NULL));
	res = reconcile(f, false);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 2);
	st = put_status(f, 1);
	assert_str(st, "phase", "Failed");
	assert_condition(st, "Failed", "NoBaseBeforeTarget");
	assert_non_null(strstr(str_at(st, "message"), "nothing was changed"));
}

/* A named base Backup at 0-1-5 and a target just before 0-1-5: the base
 * is not before the target. */
static void test_replay_base_past_target(void **state)
{
	fixture *f = *state;
	const char *r1 = restore_r1(f, REPLAY_B1_SPEC("0-1-5"), NULL);
	const json_t *st;
	ctrl_result res;

	answer(f, 200, r1);
	answer(f, 200, BACKUP_B1);
	answer(f, 200, r1);
	res = reconcile(f, false);
	assert_int_equal(res.kind, CTRL_RESULT_DONE);
	assert_int_equal(f->server.nrequests, 3);
	st = put_status(f, 2);
	assert_condition(st, "Failed", "NoBaseBeforeTarget");
	assert_null(json_object_get(st, "replay"));
}

/* The first steps: the base pinned with its position and the named source
 * (status.replay, step RestoringBase) before anything is made; then the
 * Restore's claims from the base's snapshots, as NewClaims makes them. */
static void test_replay_restoring_base(void **state)
{
	fixture *f = *state;
	const char *r1 = restore_r1(f, REPLAY_B1_SPEC("0-1-9"), NULL);
	const json_t *st, *rp;
	ctrl_result res;

	answer(f, 200, r1);
	answer(f, 200, BACKUP_B1);
	answer(f, 200, r1);
	answer(f, 200, VS_B1_DATA);
	answer(f, 200,
	       "{'apiVersion':'storage.k8s.io/v1','kind':'StorageClass','metadata':{"
	       "'name':'fast'},'provisioner':'csi.x'}");
	answer(f, 200,
	       "{'apiVersion':'snapshot.storage.k8s.io/v1','kind':"
	       "'VolumeSnapshotContent','metadata':{'name':'snapcontent-1'},'spec':{"
	       "'driver':'csi.x'}}");
	answer(f, 404, NOT_FOUND);
	answer(f, 200, r1);
	answer(f, 201, "{}");
	res = reconcile(f, false);
	assert_int_equal(f->server.nrequests >= 9, 1);
	(void)res;
	st = put_status(f, 2);
	rp = json_object_get(st, "replay");
	assert_str(rp, "step", "RestoringBase");
	assert_str(rp, "basePosition", "0-1-5");
	assert_str(rp, "sourcePod", "db-0");
	assert_str(rp, "stepStartTime", "2026-11-23T09:20:00.000000Z");
	assert_str(st, "sourceBackup", "b1");
	assert_null(json_object_get(st, "conditions"));
	assert_request(f, 3,
		       "GET /apis/snapshot.storage.k8s.io/v1/namespaces/ns/"
		       "volumesnapshots/b1-data HTTP");
	st = put_status(f, 7);
	assert_str(st, "phase", "Restoring");
	assert_str(json_object_get(st, "replay"), "step", "RestoringBase");
	assert_request(f, 8, "POST /api/v1/namespaces/ns/persistentvolumeclaims HTTP");
	assert_non_null(strstr(f->server.requests[8], "\"name\":\"r1-data\""));
}

static void test_waits_for_backup(void **state)
{
	fixture *f = *state;
	const json_t *st;
	ctrl_result res;

	answer(f, 200, restore_r1(f, NEW_CLAIMS_SPEC, NULL));
	answer(f, 200,
	       "{'apiVersion':'snapstage.io/v1alpha1','kind':'Backup','metadata':{"
	       "'name':'b1','namespace':'ns','uid':'b-uid'},'status':{}}");
	answer(f, 200, restore_r1(f, NEW_CLAIMS_SPEC, NULL));
	res = reconcile(f, true);
	assert_int_equal(res.kind, CTRL_RESULT_REQUEUE_AFTER);
	/* a quarter of the 2 s poll in a Restore's first 10 s (app_restore_poll_after) */
	assert_int_equal(res.after_ns, 2 * SEC / 4);
	assert_int_equal(f->server.nrequests, 3);
	assert_request(f, 1,
		       "GET /apis/snapstage.io/v1alpha1/namespaces/ns/backups/b1 HTTP");
	st = put_status(f, 2);
	assert_str(st, "phase", "Pending");
	assert_str(st, "mode", "NewClaims");
	assert_str(st, "sourceBackup", "b1");
	assert_str(st, "message",
		   "waiting for Backup b1: the Backup is not complete yet");
	assert_null(json_object_get(st, "conditions"));
	assert_int_equal(json_integer_value(json_object_get(st, "observedGeneration")),
			 3);
	assert_str(st, "startTime", T0_TEXT);
	assert_null(json_object_get(st, "completionTime"));
}

static void test_new_claims_created(void **state)
{
	fixture *f = *state;
	const char *r1 = restore_r1(f, NEW_CLAIMS_SPEC, NULL);
	const json_t *st, *claim;
	ctrl_result res;

	answer(f, 200, r1);
	answer(f, 200, BACKUP_B1);
	answer(f, 200, VS_B1_DATA);
	answer(f, 200,
	       "{'apiVersion':'storage.k8s.io/v1','kind':'StorageClass','metadata':{"
	       "'name':'fast'},'provisioner':'csi.x'}");
	answer(f, 200,
	       "{'apiVersion':'snapshot.storage.k8s.io/v1','kind':"
	       "'VolumeSnapshotContent','metadata':{'name':'snapcontent-1'},'spec':{"
	       "'driver':'csi.x'}}");
	answer(f, 404, NOT_FOUND);
	answer(f, 200, r1);
	answer(f, 201, "{}");
	answer(f, 200,
	       "{'apiVersion':'v1','kind':'PersistentVolumeClaim','metadata':{"
	       "'name':'r1-data','namespace':'ns','uid':'c-uid','labels':{"
	       "'snapstage.io/restore':'r1'},'annotations':{"
	       "'snapstage.io/restore-uid':'r-uid'}},'status':{'phase':'Pending'}}");
	answer(f, 200, VS_B1_DATA);
	answer(f, 200, r1);
	res = reconcile(f, false);
	assert_int_equal(res.kind, CTRL_RESULT_REQUEUE_AFTER);
	assert_int_equal(res.after_ns, 2 * SEC / 4); /* as above */
	assert_int_equal(f->server.nrequests, 11);
	assert_request(f, 2,
		       "GET /apis/snapshot.storage.k8s.io/v1/namespaces/ns/"
		       "volumesnapshots/b1-data HTTP");
	assert_request(f, 3, "GET /apis/storage.k8s.io/v1/storageclasses/fast HTTP");
	assert_request(f, 4,
		       "GET /apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/"
		       "snapcontent-1 HTTP");
	assert_request(f, 5,
		       "GET /api/v1/namespaces/ns/persistentvolumeclaims/r1-data HTTP");
	/* The claims in status, phase Restoring, before the create. */
	st = put_status(f, 6);
	assert_str(st, "phase", "Restoring");
	assert_str(st, "message", "creating 1 claim(s) from b1");
	claim = json_array_get(json_object_get(st, "claims"), 0);
	assert_str(claim, "name", "r1-data");
	assert_str(claim, "volume", "data");
	assert_str(claim, "volumeSnapshotName", "b1-data");
	assert_str(st, "sourceBackup", "b1");
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(st, "sourceVolumeSnapshots"), 0)),
			    "b1-data");
	assert_request(f, 7, "POST /api/v1/namespaces/ns/persistentvolumeclaims HTTP");
	assert_non_null(strstr(f->server.requests[7], "\"name\":\"r1-data\""));
	assert_request(f, 8,
		       "GET /api/v1/namespaces/ns/persistentvolumeclaims/r1-data HTTP");
	assert_request(f, 9,
		       "GET /apis/snapshot.storage.k8s.io/v1/namespaces/ns/"
		       "volumesnapshots/b1-data HTTP");
	st = put_status(f, 10);
	assert_str(st, "phase", "Restoring");
	assert_str(st, "message", "waiting for 1 of 1 claims to be Bound (r1-data, ...)");
	assert_null(json_object_get(st, "conditions"));
}

static void test_in_place_not_allowed(void **state)
{
	fixture *f = *state;
	const json_t *st = run_in_place_not_allowed(f, IN_PLACE_SPEC);

	assert_str(
		st, "message",
		"StatefulSet db does not allow in-place restores: whoever may edit it "
		"must annotate it snapstage.io/in-place-restore=allowed first; nothing "
		"was changed");
	assert_null(json_object_get(st, "inPlace"));
	assert_finished(f, "InPlace", "failed", "InPlaceRestoreNotAllowed");
}

/* ReplacingClaims finds the snapshot gone: the failure is recorded with
 * step RollingBack before anything is undone, then this Restore's claim is
 * deleted and the rollback waits for the slot. */
static void test_rollback_starts(void **state)
{
	fixture *f = *state;
	const char *r1 =
		restore_r1(f, IN_PLACE_SPEC, IN_PLACE_STATUS("ReplacingClaims", ""));
	const json_t *st, *ip;
	ctrl_result res;

	answer(f, 200, r1);
	answer(f, 200, BACKUP_B1);
	answer(f, 200, STS_DB("{'snapstage.io/in-place-restore':'allowed'}"));
	answer(f, 404, NOT_FOUND);
	answer(f, 200, r1);
	answer(f, 200, STS_DB("{'snapstage.io/in-place-restore':'allowed'}"));
	answer(f, 200,
	       "{'apiVersion':'v1','kind':'PersistentVolumeClaim','metadata':{"
	       "'name':'data-db-0','namespace':'ns','uid':'new-uid','labels':{"
	       "'snapstage.io/restore':'r1'},'annotations':{"
	       "'snapstage.io/restore-uid':'r-uid'}},'status':{'phase':'Bound'}}");
	answer(f, 200, "{}");
	answer(f, 200, r1);
	res = reconcile(f, true);
	assert_int_equal(res.kind, CTRL_RESULT_REQUEUE_AFTER);
	assert_int_equal(res.after_ns, 2 * SEC);
	assert_int_equal(f->server.nrequests, 9);
	assert_request(f, 3,
		       "GET /apis/snapshot.storage.k8s.io/v1/namespaces/ns/"
		       "volumesnapshots/b1-data HTTP");
	st = put_status(f, 4);
	ip = json_object_get(st, "inPlace");
	assert_str(ip, "step", "RollingBack");
	assert_str(ip, "failureReason", "SnapshotMissing");
	assert_str(ip, "failureMessage",
		   "VolumeSnapshot b1-data does not exist (deleted after the Backup "
		   "completed?)");
	assert_str(st, "message",
		   "rolling back after SnapshotMissing: VolumeSnapshot b1-data does not "
		   "exist (deleted after the Backup completed?)");
	assert_str(st, "phase", "Restoring");
	assert_null(json_object_get(st, "conditions"));
	assert_request(f, 5, "GET /apis/apps/v1/namespaces/ns/statefulsets/db HTTP");
	assert_request(f, 6,
		       "GET /api/v1/namespaces/ns/persistentvolumeclaims/data-db-0 HTTP");
	assert_request(f, 7,
		       "DELETE /api/v1/namespaces/ns/persistentvolumeclaims/data-db-0 "
		       "HTTP");
	assert_non_null(strstr(f->server.requests[7], "new-uid"));
	st = put_status(f, 8);
	assert_str(st, "message",
		   "rolling back after SnapshotMissing: 0 of 1 claims have their old "
		   "volume back");
	assert_str(json_object_get(st, "inPlace"), "step", "RollingBack");
}

/* RollingBack with the old volume gone: RollbackBlocked, tried again in
 * 30 s, nothing scaled. */
static void test_rollback_blocked(void **state)
{
	fixture *f = *state;
	const char *r1 = restore_r1(
		f, IN_PLACE_SPEC,
		IN_PLACE_STATUS("RollingBack",
				",'failureReason':'Timeout','failureMessage':'gave up'"));
	const json_t *st;
	ctrl_result res;

	answer(f, 200, r1);
	answer(f, 200, STS_DB("{'snapstage.io/in-place-restore':'allowed'}"));
	answer(f, 404, NOT_FOUND);
	answer(f, 404, NOT_FOUND);
	answer(f, 200, r1);
	res = reconcile(f, true);
	assert_int_equal(res.kind, CTRL_RESULT_REQUEUE_AFTER);
	assert_int_equal(res.after_ns, 30 * SEC);
	assert_int_equal(f->server.nrequests, 5);
	assert_request(f, 1, "GET /apis/apps/v1/namespaces/ns/statefulsets/db HTTP");
	assert_request(f, 2,
		       "GET /api/v1/namespaces/ns/persistentvolumeclaims/data-db-0 HTTP");
	assert_request(f, 3, "GET /api/v1/persistentvolumes/pv-old HTTP");
	st = put_status(f, 4);
	assert_str(st, "message",
		   "rolling back after Timeout: blocked: the old volume pv-old of claim "
		   "data-db-0 is gone; StatefulSet db stays at 0 replicas (never started "
		   "on empty volumes) and the rollback is tried again every 30 s");
	assert_condition(st, "RollbackBlocked", "OldVolumeUnavailable");
	assert_str(json_object_get(st, "inPlace"), "step", "RollingBack");
	assert_str(st, "startTime", "2026-11-23T09:00:00Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_left_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_place_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_future, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_in_place_checks_first, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_replay_in_place_not_allowed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_replay_no_base, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_base_past_target, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_replay_restoring_base, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_waits_for_backup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_claims_created, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_place_not_allowed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rollback_starts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_blocked, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
