/*
 * api_status.c — the status blocks of the snapstage kinds, between JSON
 * and C. See api.h.
 *
 * Encoding replaces every field a status struct describes (an unset value
 * removes the field, so status is rebuilt from the world rather than
 * accumulated) and leaves `conditions`, which ctrl/conditions.h owns.
 * Decoding is lenient where the controller wrote the data itself: a field
 * of the wrong type reads as unset rather than failing, since status is
 * ours to rewrite, not the user's to get right.
 */
#include "app/api/api.h"

#include <string.h>

#include "kube/quantity.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/str.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const backup_phase_names[] = { "Pending",   "Queued",    "Locked",
						  "Uploading", "Completed", "Failed" };
static const char *const restore_phase_names[] = { "Pending", "Restoring", "Completed",
						   "Failed" };
static const char *const step_names[] = {
	"",	       "ScalingDown", "ReplacingClaims", "ScalingUp", "ConfiguringReplication",
	"ReleasingOldVolumes", "Done",	      "RollingBack",	 "RolledBack"
};
static const char *const restore_mode_names[] = { "NewClaims", "InPlace" };

const char *app_backup_phase_name(app_backup_phase phase)
{
	return (size_t)phase < N(backup_phase_names) ? backup_phase_names[phase] : "?";
}

/* ---- writing ---------------------------------------------------------- */

/* obj.status, created if missing; NULL (with SS_ENOMEM) on failure. */
static json_t *status_of(json_t *obj)
{
	json_t *st = json_object_get(obj, "status");

	if (json_is_object(st))
		return st;
	st = json_object();
	if (st == NULL || json_object_set_new(obj, "status", st) != 0) {
		ss_error_set(SS_ENOMEM, "out of memory");
		return NULL;
	}
	return st;
}

/* Each put_* sets `key`, or removes it when the value is unset. A failed
 * allocation makes *rc SS_ENOMEM; later calls then do nothing. */
static void put(int *rc, json_t *o, const char *key, json_t *v)
{
	if (*rc != 0) {
		json_decref(v);
		return;
	}
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		*rc = ss_error_set(SS_ENOMEM, "out of memory");
}

/* A string that is not UTF-8 (a server's text or a check's value cut
 * mid-character, or binary) is written with its stray bytes as '?': JSON
 * cannot hold it as it is, and failing the whole status over one message
 * would leave a verification unable to record its verdict. */
static void put_string(int *rc, json_t *o, const char *key, const char *v)
{
	json_t *s;
	char *copy;

	if (v == NULL) {
		json_object_del(o, key);
		return;
	}
	s = json_string(v);
	if (s == NULL && *rc == 0 && (copy = ss_strdup(v)) != NULL) {
		ss_utf8_scrub(copy);
		s = json_string(copy);
		free(copy);
	}
	put(rc, o, key, s);
}

static void put_int(int *rc, json_t *o, const char *key, int64_t v, int64_t unset)
{
	if (v == unset)
		json_object_del(o, key);
	else
		put(rc, o, key, json_integer((json_int_t)v));
}

static void put_time(int *rc, json_t *o, const char *key, int64_t ns)
{
	char text[SS_TIME_RFC3339_MAX];

	if (ns == 0)
		json_object_del(o, key);
	else
		put(rc, o, key, json_string(ss_time_format(text, sizeof(text), ns)));
}

/* With microseconds: lock and cut times are milliseconds apart. */
static void put_time_micro(int *rc, json_t *o, const char *key, int64_t ns)
{
	char text[SS_TIME_RFC3339_MAX];

	if (ns == 0)
		json_object_del(o, key);
	else
		put(rc, o, key, json_string(ss_time_format_micro(text, sizeof(text), ns)));
}

static void put_size(int *rc, json_t *o, const char *key, int64_t bytes)
{
	char text[KUBE_QUANTITY_MAX];

	if (bytes < 0)
		json_object_del(o, key);
	else
		put(rc, o, key,
		    json_string(kube_quantity_format(text, sizeof(text), bytes)));
}

/* A sub-object that is rebuilt: returns a new empty object put under
 * `key`, or NULL after a failure. */
static json_t *put_object(int *rc, json_t *o, const char *key)
{
	json_t *sub = json_object();

	put(rc, o, key, sub);
	return *rc == 0 ? sub : NULL;
}

static json_t *put_array(int *rc, json_t *o, const char *key)
{
	json_t *arr = json_array();

	put(rc, o, key, arr);
	return *rc == 0 ? arr : NULL;
}

static void append(int *rc, json_t *arr, json_t *v)
{
	if (*rc != 0) {
		json_decref(v);
		return;
	}
	if (v == NULL || json_array_append_new(arr, v) != 0)
		*rc = ss_error_set(SS_ENOMEM, "out of memory");
}

/* Drops an object that ended up empty, so unset blocks leave no {}. */
static void drop_if_empty(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if ((json_is_object(v) && json_object_size(v) == 0) ||
	    (json_is_array(v) && json_array_size(v) == 0))
		json_object_del(o, key);
}

/* ---- reading ---------------------------------------------------------- */

static const char *get_string(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int64_t get_int(const json_t *o, const char *key, int64_t unset)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : unset;
}

/* A count or an ordinal: 0 to INT32_MAX, else `unset`. A cast would read
 * originalReplicas 4294967299 as 3 and scale a StatefulSet back to that. */
static int get_count(const json_t *o, const char *key, int unset)
{
	int64_t v = get_int(o, key, -1);

	return v >= 0 && v <= INT32_MAX ? (int)v : unset;
}

static int64_t get_time(const json_t *o, const char *key)
{
	const char *text = get_string(o, key);
	int64_t ns = 0;

	if (text == NULL || ss_time_parse(&ns, text) != 0)
		return 0;
	return ns;
}

static int64_t get_size(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	int64_t bytes;

	if (v == NULL || kube_quantity_from_json(&bytes, v) != 0)
		return -1;
	return bytes;
}

static int get_enum(const json_t *o, const char *key, const char *const *names, size_t n,
		    int unset)
{
	const char *text = get_string(o, key);
	size_t i;

	for (i = 0; text != NULL && i < n; i++) {
		if (strcmp(text, names[i]) == 0)
			return (int)i;
	}
	return unset;
}

static const json_t *status_in(const json_t *obj)
{
	const json_t *st = json_object_get(obj, "status");

	return json_is_object(st) ? st : NULL;
}

/* ---- Backup ----------------------------------------------------------- */

void app_backup_status_init(app_backup_status *st)
{
	memset(st, 0, sizeof(*st));
	st->total_restore_size_bytes = -1;
	st->position.binlog_position = -1;
	st->position.primary_binlog_position = -1;
	st->lock.connection_id = -1;
	st->lock.held_ms = -1;
}

int app_backup_status_decode(app_backup_status *out, const json_t *obj)
{
	const json_t *st = status_in(obj), *snaps, *pos, *lock;
	app_backup_status b;
	size_t i;
	int phase;

	app_backup_status_init(&b);
	if (st == NULL)
		goto done;
	b.observed_generation = get_int(st, "observedGeneration", 0);
	phase = get_enum(st, "phase", backup_phase_names, N(backup_phase_names), -1);
	b.has_phase = phase >= 0;
	b.phase = phase >= 0 ? (app_backup_phase)phase : APP_BACKUP_PENDING;
	b.message = get_string(st, "message");
	b.source_pod = get_string(st, "sourcePod");
	b.source_role = get_string(st, "sourceRole");
	snaps = json_object_get(st, "snapshots");
	for (i = 0; i < json_array_size(snaps) && b.n_snapshots < APP_MAX_VOLUMES; i++) {
		const json_t *s = json_array_get(snaps, i);
		app_snapshot_status *ss = &b.snapshots[b.n_snapshots];

		if (get_string(s, "volume") == NULL)
			continue;
		ss->volume = get_string(s, "volume");
		ss->claim = get_string(s, "claim");
		ss->volume_snapshot_name = get_string(s, "volumeSnapshotName");
		ss->creation_time_ns = get_time(s, "creationTime");
		ss->ready_to_use = json_is_true(json_object_get(s, "readyToUse"));
		ss->restore_size_bytes = get_size(s, "restoreSize");
		ss->error = get_string(s, "error");
		b.n_snapshots++;
	}
	b.total_restore_size_bytes = get_size(st, "totalRestoreSize");
	pos = json_object_get(st, "position");
	b.position.gtid_binlog_pos = get_string(pos, "gtidBinlogPos");
	b.position.gtid_slave_pos = get_string(pos, "gtidSlavePos");
	b.position.gtid_current_pos = get_string(pos, "gtidCurrentPos");
	b.position.binlog_file = get_string(pos, "binlogFile");
	b.position.binlog_position = get_int(pos, "binlogPosition", -1);
	b.position.primary_binlog_file = get_string(pos, "primaryBinlogFile");
	b.position.primary_binlog_position = get_int(pos, "primaryBinlogPosition", -1);
	lock = json_object_get(st, "lock");
	b.lock.stage = get_string(lock, "stage");
	b.lock.connection_id = get_int(lock, "connectionId", -1);
	b.lock.acquired_ns = get_time(lock, "acquiredTime");
	b.lock.released_ns = get_time(lock, "releasedTime");
	b.lock.held_ms = get_int(lock, "heldMilliseconds", -1);
	b.lock.replication_paused = json_is_true(json_object_get(lock, "replicationPaused"));
	b.start_ns = get_time(st, "startTime");
	b.completion_ns = get_time(st, "completionTime");
	b.attempts = get_count(st, "attempts", 0);
	b.next_attempt_ns = get_time(st, "nextAttemptTime");
done:
	*out = b;
	return 0;
}

const char *app_backup_status_gtid(const app_backup_status *st)
{
	const char *g = st->position.gtid_current_pos;

	if (g != NULL && g[0] != '\0')
		return g;
	return st->source_role && strcmp(st->source_role, "Primary") == 0
		       ? st->position.gtid_binlog_pos
		       : st->position.gtid_slave_pos;
}

int app_backup_status_encode(json_t *obj, const app_backup_status *b)
{
	json_t *st = status_of(obj), *arr, *pos, *lock;
	int rc = 0;
	size_t i;

	if (st == NULL)
		return SS_ENOMEM;
	put_int(&rc, st, "observedGeneration", b->observed_generation, 0);
	put_string(&rc, st, "phase",
		   b->has_phase ? app_backup_phase_name(b->phase) : NULL);
	put_string(&rc, st, "message", b->message);
	put_string(&rc, st, "sourcePod", b->source_pod);
	put_string(&rc, st, "sourceRole", b->source_role);
	arr = put_array(&rc, st, "snapshots");
	for (i = 0; arr != NULL && i < b->n_snapshots; i++) {
		const app_snapshot_status *ss = &b->snapshots[i];
		json_t *s = json_object();

		append(&rc, arr, s);
		if (rc != 0)
			break;
		put_string(&rc, s, "volume", ss->volume);
		put_string(&rc, s, "claim", ss->claim);
		put_string(&rc, s, "volumeSnapshotName", ss->volume_snapshot_name);
		put_time_micro(&rc, s, "creationTime", ss->creation_time_ns);
		put(&rc, s, "readyToUse", json_boolean(ss->ready_to_use));
		put_size(&rc, s, "restoreSize", ss->restore_size_bytes);
		put_string(&rc, s, "error", ss->error);
	}
	drop_if_empty(st, "snapshots");
	put_size(&rc, st, "totalRestoreSize", b->total_restore_size_bytes);
	pos = put_object(&rc, st, "position");
	if (pos != NULL) {
		put_string(&rc, pos, "gtidBinlogPos", b->position.gtid_binlog_pos);
		put_string(&rc, pos, "gtidSlavePos", b->position.gtid_slave_pos);
		put_string(&rc, pos, "gtidCurrentPos", b->position.gtid_current_pos);
		put_string(&rc, pos, "binlogFile", b->position.binlog_file);
		put_int(&rc, pos, "binlogPosition", b->position.binlog_position, -1);
		put_string(&rc, pos, "primaryBinlogFile",
			   b->position.primary_binlog_file);
		put_int(&rc, pos, "primaryBinlogPosition",
			b->position.primary_binlog_position, -1);
	}
	drop_if_empty(st, "position");
	lock = put_object(&rc, st, "lock");
	if (lock != NULL) {
		put_string(&rc, lock, "stage", b->lock.stage);
		put_int(&rc, lock, "connectionId", b->lock.connection_id, -1);
		put_time_micro(&rc, lock, "acquiredTime", b->lock.acquired_ns);
		put_time_micro(&rc, lock, "releasedTime", b->lock.released_ns);
		put_int(&rc, lock, "heldMilliseconds", b->lock.held_ms, -1);
		if (b->lock.replication_paused)
			put(&rc, lock, "replicationPaused", json_true());
		else
			json_object_del(lock, "replicationPaused");
	}
	drop_if_empty(st, "lock");
	put_time(&rc, st, "startTime", b->start_ns);
	put_time(&rc, st, "completionTime", b->completion_ns);
	put_int(&rc, st, "attempts", b->attempts, 0);
	put_time(&rc, st, "nextAttemptTime", b->next_attempt_ns);
	return rc;
}

/* ---- BackupSchedule --------------------------------------------------- */

static void schedule_pit_decode(app_schedule_status *s, const json_t *pit)
{
	const json_t *removed = json_object_get(pit, "lastRemovedBase");

	s->pit_set = json_is_object(pit);
	s->pit_from_ns = get_time(pit, "recoverableFrom");
	s->pit_to_ns = get_time(pit, "recoverableTo");
	s->pit_base = get_string(pit, "baseBackup");
	s->pit_primary = get_string(pit, "primary");
	s->pit_check_ns = get_time(pit, "checkTime");
	s->pit_binlog_start = get_string(pit, "binlogStart");
	s->pit_expire_seconds = get_int(pit, "binlogExpireSeconds", -1);
	s->pit_removed_base = get_string(removed, "name");
	s->pit_removed_ns = get_time(removed, "time");
}

int app_schedule_status_decode(app_schedule_status *out, const json_t *obj)
{
	const json_t *st = status_in(obj), *last, *active, *ret, *ver;
	app_schedule_status s;
	size_t i;

	memset(&s, 0, sizeof(s));
	if (st == NULL)
		goto done;
	s.observed_generation = get_int(st, "observedGeneration", 0);
	s.last_schedule_ns = get_time(st, "lastScheduleTime");
	s.next_schedule_ns = get_time(st, "nextScheduleTime");
	last = json_object_get(st, "lastSuccessfulBackup");
	s.last_successful_backup = get_string(last, "name");
	s.last_successful_ns = get_time(last, "completionTime");
	active = json_object_get(st, "active");
	for (i = 0; i < json_array_size(active) && s.n_active < APP_MAX_CLAIMS; i++) {
		const char *name = get_string(json_array_get(active, i), "name");

		if (name != NULL)
			s.active[s.n_active++] = name;
	}
	s.missed_runs = get_int(st, "missedRuns", 0);
	s.skipped_runs = get_int(st, "skippedRuns", 0);
	s.last_run_now_token = get_string(st, "lastRunNowToken");
	ret = json_object_get(st, "retention");
	s.last_prune_ns = get_time(ret, "lastPruneTime");
	s.pruned_total = get_int(ret, "prunedTotal", 0);
	s.would_prune = json_is_array(json_object_get(ret, "wouldPrune"))
				? json_object_get(ret, "wouldPrune")
				: NULL;
	ver = st; /* the names, top-level like lastScheduleTime */
	s.last_verification_backup = get_string(ver, "lastVerificationBackup");
	s.last_verification_ns = get_time(ver, "lastVerificationTime");
	s.last_verification_result = get_string(ver, "lastVerificationResult");
	s.last_verified_backup = get_string(ver, "lastVerifiedBackup");
	s.last_verified_ns = get_time(ver, "lastVerifiedTime");
	s.last_verification_request_ns = get_time(ver, "lastVerificationRequestTime");
	s.next_verification_ns = get_time(ver, "nextVerificationTime");
	schedule_pit_decode(&s, json_object_get(st, "pointInTime"));
done:
	*out = s;
	return 0;
}

static void schedule_verification_encode(int *rc, json_t *st,
					 const app_schedule_status *s)
{
	put_string(rc, st, "lastVerificationBackup", s->last_verification_backup);
	put_time(rc, st, "lastVerificationTime", s->last_verification_ns);
	put_string(rc, st, "lastVerificationResult", s->last_verification_result);
	put_string(rc, st, "lastVerifiedBackup", s->last_verified_backup);
	put_time(rc, st, "lastVerifiedTime", s->last_verified_ns);
	put_time(rc, st, "lastVerificationRequestTime", s->last_verification_request_ns);
	put_time(rc, st, "nextVerificationTime", s->next_verification_ns);
}

static void schedule_pit_encode(int *rc, json_t *st, const app_schedule_status *s)
{
	json_t *pit, *removed;

	if (!s->pit_set) {
		json_object_del(st, "pointInTime");
		return;
	}
	pit = put_object(rc, st, "pointInTime");
	if (pit == NULL)
		return;
	put_time(rc, pit, "recoverableFrom", s->pit_from_ns);
	put_time(rc, pit, "recoverableTo", s->pit_to_ns);
	put_string(rc, pit, "baseBackup", s->pit_base);
	put_string(rc, pit, "primary", s->pit_primary);
	put_time(rc, pit, "checkTime", s->pit_check_ns);
	put_string(rc, pit, "binlogStart", s->pit_binlog_start);
	put_int(rc, pit, "binlogExpireSeconds", s->pit_expire_seconds, -1);
	removed = put_object(rc, pit, "lastRemovedBase");
	if (removed != NULL) {
		put_string(rc, removed, "name", s->pit_removed_base);
		put_time(rc, removed, "time", s->pit_removed_ns);
	}
	drop_if_empty(pit, "lastRemovedBase");
}

static void schedule_status_fill(int *rcp, json_t *st, const app_schedule_status *s)
{
	json_t *last, *arr, *ret;
	int rc = *rcp;
	size_t i;

	put_int(&rc, st, "observedGeneration", s->observed_generation, 0);
	put_time(&rc, st, "lastScheduleTime", s->last_schedule_ns);
	put_time(&rc, st, "nextScheduleTime", s->next_schedule_ns);
	last = put_object(&rc, st, "lastSuccessfulBackup");
	if (last != NULL) {
		put_string(&rc, last, "name", s->last_successful_backup);
		put_time(&rc, last, "completionTime", s->last_successful_ns);
	}
	drop_if_empty(st, "lastSuccessfulBackup");
	arr = put_array(&rc, st, "active");
	for (i = 0; arr != NULL && i < s->n_active; i++) {
		json_t *a = json_object();

		append(&rc, arr, a);
		put_string(&rc, a, "name", s->active[i]);
	}
	drop_if_empty(st, "active");
	put_int(&rc, st, "missedRuns", s->missed_runs, 0);
	put_int(&rc, st, "skippedRuns", s->skipped_runs, 0);
	put_string(&rc, st, "lastRunNowToken", s->last_run_now_token);
	ret = put_object(&rc, st, "retention");
	if (ret != NULL) {
		put_time(&rc, ret, "lastPruneTime", s->last_prune_ns);
		put_int(&rc, ret, "prunedTotal", s->pruned_total, 0);
		if (s->would_prune != NULL)
			put(&rc, ret, "wouldPrune", json_deep_copy(s->would_prune));
	}
	drop_if_empty(st, "retention");
	schedule_verification_encode(&rc, st, s);
	schedule_pit_encode(&rc, st, s);
	*rcp = rc;
}

/* Filled into a copy of the current status, put in place at the end: `s`
 * may borrow its strings from the status it replaces (decoded from this
 * very object), and a put that replaces an array or object frees them
 * while later puts still read them (ASan: the active list and
 * pointInTime re-encoded from their own decode). */
int app_schedule_status_encode(json_t *obj, const app_schedule_status *s)
{
	json_t *old = status_of(obj), *st;
	int rc = 0;

	if (old == NULL)
		return SS_ENOMEM;
	st = json_deep_copy(old);
	if (st == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	schedule_status_fill(&rc, st, s);
	if (rc == 0 && json_object_set_new(obj, "status", st) != 0)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (rc != 0)
		json_decref(st);
	return rc;
}

/* ---- Backup.status.verification ---------------------------------------- */

static const char *const verify_phase_names[] = { "Pending",  "Restoring",
						  "Starting", "Checking",
						  "CleaningUp", "Done" };

const char *app_verify_phase_name(app_verify_phase phase)
{
	return (size_t)phase < N(verify_phase_names) ? verify_phase_names[phase]
						      : "Unknown";
}

void app_verification_status_init(app_verification_status *v)
{
	memset(v, 0, sizeof(*v));
	v->restore_ms = v->start_ms = v->check_ms = v->cleanup_ms = -1;
}

static void verification_checks_decode(app_verification_status *v, const json_t *arr)
{
	size_t i;

	for (i = 0; i < json_array_size(arr) && v->n_checks < APP_VERIFY_MAX_CHECKS;
	     i++) {
		const json_t *c = json_array_get(arr, i);
		app_verify_check_status *cs = &v->checks[v->n_checks];

		cs->type = get_string(c, "type");
		if (cs->type == NULL)
			continue;
		cs->name = get_string(c, "name");
		cs->result = get_string(c, "result");
		cs->duration_ms = get_int(c, "durationMilliseconds", -1);
		cs->message = get_string(c, "message");
		v->n_checks++;
	}
}

int app_verification_status_decode(app_verification_status *out, const json_t *obj)
{
	const json_t *ver = json_object_get(status_in(obj), "verification"), *claims;
	app_verification_status v;
	int phase;
	size_t i;

	app_verification_status_init(&v);
	if (json_is_object(ver)) {
		v.token = get_string(ver, "token");
		phase = get_enum(ver, "phase", verify_phase_names,
				 N(verify_phase_names), -1);
		v.has_phase = phase >= 0;
		v.phase = v.has_phase ? (app_verify_phase)phase : APP_VERIFY_PENDING;
		v.result = get_string(ver, "result");
		v.reason = get_string(ver, "reason");
		v.message = get_string(ver, "message");
		v.pod = get_string(ver, "scratchPod");
		claims = json_object_get(ver, "scratchClaims");
		for (i = 0; i < json_array_size(claims) && v.n_claims < APP_MAX_VOLUMES; i++)
			if (json_string_value(json_array_get(claims, i)) != NULL)
				v.claims[v.n_claims++] =
					json_string_value(json_array_get(claims, i));
		v.start_ns = get_time(ver, "startTime");
		v.phase_start_ns = get_time(ver, "phaseStartTime");
		v.completion_ns = get_time(ver, "completionTime");
		v.restore_ms = get_int(ver, "restoreMilliseconds", -1);
		v.start_ms = get_int(ver, "startMilliseconds", -1);
		v.check_ms = get_int(ver, "checkMilliseconds", -1);
		v.cleanup_ms = get_int(ver, "cleanupMilliseconds", -1);
		verification_checks_decode(&v, json_object_get(ver, "checks"));
	}
	*out = v;
	return 0;
}

static void verification_checks_encode(int *rc, json_t *ver,
				       const app_verification_status *v)
{
	json_t *arr = put_array(rc, ver, "checks");
	size_t i;

	for (i = 0; arr != NULL && i < v->n_checks; i++) {
		const app_verify_check_status *cs = &v->checks[i];
		json_t *c = json_object();

		append(rc, arr, c);
		if (*rc != 0)
			return;
		put_string(rc, c, "type", cs->type);
		put_string(rc, c, "name", cs->name);
		put_string(rc, c, "result", cs->result);
		put_int(rc, c, "durationMilliseconds", cs->duration_ms, -1);
		put_string(rc, c, "message", cs->message);
	}
	drop_if_empty(ver, "checks");
}

int app_verification_status_encode(json_t *obj, const app_verification_status *v)
{
	json_t *st = status_of(obj), *ver, *arr;
	int rc = 0;
	size_t i;

	if (st == NULL)
		return SS_ENOMEM;
	ver = put_object(&rc, st, "verification");
	if (ver == NULL)
		return rc;
	put_string(&rc, ver, "token", v->token);
	put_string(&rc, ver, "phase",
		   v->has_phase ? app_verify_phase_name(v->phase) : NULL);
	put_string(&rc, ver, "result", v->result);
	put_string(&rc, ver, "reason", v->reason);
	put_string(&rc, ver, "message", v->message);
	put_string(&rc, ver, "scratchPod", v->pod);
	arr = put_array(&rc, ver, "scratchClaims");
	for (i = 0; arr != NULL && i < v->n_claims; i++)
		append(&rc, arr, json_string(v->claims[i]));
	drop_if_empty(ver, "scratchClaims");
	put_time_micro(&rc, ver, "startTime", v->start_ns);
	put_time_micro(&rc, ver, "phaseStartTime", v->phase_start_ns);
	put_time_micro(&rc, ver, "completionTime", v->completion_ns);
	put_int(&rc, ver, "restoreMilliseconds", v->restore_ms, -1);
	put_int(&rc, ver, "startMilliseconds", v->start_ms, -1);
	put_int(&rc, ver, "checkMilliseconds", v->check_ms, -1);
	put_int(&rc, ver, "cleanupMilliseconds", v->cleanup_ms, -1);
	verification_checks_encode(&rc, ver, v);
	drop_if_empty(st, "verification");
	return rc;
}

/* ---- Restore ---------------------------------------------------------- */

static const char *const replay_step_names[] = {
	"",	     "RestoringBase", "Starting",     "Resolving",    "Replaying",
	"Finishing", "Done",	      "Snapshotting", "SafetyBackup", "InPlace"
};

static void decode_replay(app_restore_replay_status *rp, const json_t *o)
{
	const json_t *snaps;
	size_t i;
	int step = get_enum(o, "step", replay_step_names, N(replay_step_names), 0);

	rp->step = (app_replay_step)step;
	rp->step_start_ns = get_time(o, "stepStartTime");
	rp->base_position = get_string(o, "basePosition");
	rp->target_position = get_string(o, "targetPosition");
	rp->target_time_ns = get_time(o, "targetTime");
	rp->source_pod = get_string(o, "sourcePod");
	rp->reached = get_string(o, "reachedPosition");
	rp->relay_bytes = get_int(o, "relayLogBytes", -1);
	rp->progress_ns = get_time(o, "progressTime");
	rp->scratch_pod = get_string(o, "scratchPod");
	snaps = json_object_get(o, "snapshots");
	for (i = 0; i < json_array_size(snaps) && rp->n_snapshots < APP_MAX_CLAIMS; i++)
		if (json_string_value(json_array_get(snaps, i)) != NULL)
			rp->snapshots[rp->n_snapshots++] =
				json_string_value(json_array_get(snaps, i));
	rp->safety_backup = get_string(o, "safetyBackup");
}

static void encode_replay(int *rc, json_t *st, const app_restore_replay_status *rp)
{
	json_t *o = put_object(rc, st, "replay"), *arr;
	size_t i;

	if (o != NULL) {
		put_string(rc, o, "step",
			   rp->step != APP_REPLAY_STEP_NONE ? replay_step_names[rp->step]
							    : NULL);
		put_time_micro(rc, o, "stepStartTime", rp->step_start_ns);
		put_string(rc, o, "basePosition", rp->base_position);
		put_string(rc, o, "targetPosition", rp->target_position);
		put_time(rc, o, "targetTime", rp->target_time_ns);
		put_string(rc, o, "sourcePod", rp->source_pod);
		put_string(rc, o, "reachedPosition", rp->reached);
		put_int(rc, o, "relayLogBytes", rp->relay_bytes, -1);
		put_time_micro(rc, o, "progressTime", rp->progress_ns);
		put_string(rc, o, "scratchPod", rp->scratch_pod);
		arr = put_array(rc, o, "snapshots");
		for (i = 0; arr != NULL && i < rp->n_snapshots; i++)
			append(rc, arr, json_string(rp->snapshots[i]));
		drop_if_empty(o, "snapshots");
		put_string(rc, o, "safetyBackup", rp->safety_backup);
	}
	drop_if_empty(st, "replay");
}

void app_restore_status_init(app_restore_status *st)
{
	memset(st, 0, sizeof(*st));
	st->original_replicas = -1;
	st->primary_ordinal = -1;
	st->replay.relay_bytes = -1;
}

/* status.inPlace's pinned target, replaced volumes and configured members
 * (entries without a claim name, or past the bounds, are skipped). */
static void decode_in_place(app_restore_status *r, const json_t *ip)
{
	const json_t *vols = json_object_get(ip, "volumes"), *members;
	size_t i;

	r->statefulset_name = get_string(ip, "statefulSetName");
	r->statefulset_uid = get_string(ip, "statefulSetUID");
	r->original_replicas = get_count(ip, "originalReplicas", -1);
	r->primary_ordinal = get_count(ip, "primaryOrdinal", -1);
	r->replication_host = get_string(ip, "replicationHost");
	for (i = 0; i < json_array_size(vols) && r->n_volumes < APP_MAX_INPLACE_CLAIMS;
	     i++) {
		const json_t *v = json_array_get(vols, i);
		app_inplace_volume *iv = &r->volumes[r->n_volumes];

		if (get_string(v, "claim") == NULL)
			continue;
		iv->claim = get_string(v, "claim");
		iv->volume = get_string(v, "volume");
		iv->ordinal = get_count(v, "ordinal", 0);
		iv->old_claim_uid = get_string(v, "oldClaimUID");
		iv->old_volume_name = get_string(v, "oldVolumeName");
		iv->old_reclaim_policy = get_string(v, "oldReclaimPolicy");
		r->n_volumes++;
	}
	members = json_object_get(ip, "configuredMembers");
	for (i = 0; i < json_array_size(members) && r->n_configured < APP_MAX_MEMBERS;
	     i++) {
		const json_t *m = json_array_get(members, i);

		if (json_is_integer(m) && json_integer_value(m) >= 0 &&
		    json_integer_value(m) <= INT32_MAX)
			r->configured[r->n_configured++] = (int)json_integer_value(m);
	}
	r->gtid_position = get_string(ip, "gtidPosition");
	r->failure_reason = get_string(ip, "failureReason");
	r->failure_message = get_string(ip, "failureMessage");
}

static void encode_in_place(int *rc, json_t *ip, const app_restore_status *r)
{
	json_t *arr;
	size_t i;

	put_string(rc, ip, "statefulSetName", r->statefulset_name);
	put_string(rc, ip, "statefulSetUID", r->statefulset_uid);
	put_int(rc, ip, "originalReplicas", r->original_replicas, -1);
	put_int(rc, ip, "primaryOrdinal", r->primary_ordinal, -1);
	put_string(rc, ip, "replicationHost", r->replication_host);
	put_string(rc, ip, "step", r->step != APP_STEP_NONE ? step_names[r->step] : NULL);
	arr = put_array(rc, ip, "volumes");
	for (i = 0; arr != NULL && *rc == 0 && i < r->n_volumes; i++) {
		const app_inplace_volume *iv = &r->volumes[i];
		json_t *v = json_object();

		append(rc, arr, v);
		if (*rc != 0)
			break;
		put_string(rc, v, "claim", iv->claim);
		put_string(rc, v, "volume", iv->volume);
		put(rc, v, "ordinal", json_integer(iv->ordinal));
		put_string(rc, v, "oldClaimUID", iv->old_claim_uid);
		put_string(rc, v, "oldVolumeName", iv->old_volume_name);
		put_string(rc, v, "oldReclaimPolicy", iv->old_reclaim_policy);
	}
	drop_if_empty(ip, "volumes");
	arr = put_array(rc, ip, "configuredMembers");
	for (i = 0; arr != NULL && i < r->n_configured; i++)
		append(rc, arr, json_integer(r->configured[i]));
	drop_if_empty(ip, "configuredMembers");
	put_string(rc, ip, "gtidPosition", r->gtid_position);
	put_string(rc, ip, "failureReason", r->failure_reason);
	put_string(rc, ip, "failureMessage", r->failure_message);
}

int app_restore_status_decode(app_restore_status *out, const json_t *obj)
{
	const json_t *st = status_in(obj), *snaps, *claims, *ip;
	app_restore_status r;
	size_t i;
	int phase, step, mode;

	app_restore_status_init(&r);
	if (st == NULL)
		goto done;
	r.observed_generation = get_int(st, "observedGeneration", 0);
	phase = get_enum(st, "phase", restore_phase_names, N(restore_phase_names), -1);
	r.has_phase = phase >= 0;
	r.phase = phase >= 0 ? (app_restore_phase)phase : APP_RESTORE_PENDING;
	r.message = get_string(st, "message");
	r.source_backup = get_string(st, "sourceBackup");
	snaps = json_object_get(st, "sourceVolumeSnapshots");
	for (i = 0; i < json_array_size(snaps) && r.n_source_snapshots < APP_MAX_VOLUMES;
	     i++) {
		const char *name = json_string_value(json_array_get(snaps, i));

		if (name != NULL)
			r.source_snapshots[r.n_source_snapshots++] = name;
	}
	claims = json_object_get(st, "claims");
	for (i = 0; i < json_array_size(claims) && r.n_claims < APP_MAX_CLAIMS; i++) {
		const json_t *c = json_array_get(claims, i);
		app_claim_status *cs = &r.claims[r.n_claims];

		if (get_string(c, "name") == NULL)
			continue;
		cs->name = get_string(c, "name");
		cs->volume = get_string(c, "volume");
		cs->volume_snapshot_name = get_string(c, "volumeSnapshotName");
		cs->bound = json_is_true(json_object_get(c, "bound"));
		r.n_claims++;
	}
	mode = get_enum(st, "mode", restore_mode_names, N(restore_mode_names), -1);
	r.mode = mode >= 0 ? restore_mode_names[mode] : NULL;
	r.accepted_spec = json_object_get(st, "acceptedSpec");
	if (!json_is_object(r.accepted_spec))
		r.accepted_spec = NULL;
	ip = json_object_get(st, "inPlace");
	decode_in_place(&r, ip);
	step = get_enum(ip, "step", step_names, N(step_names), APP_STEP_NONE);
	r.step = (app_restore_step)step;
	r.start_ns = get_time(st, "startTime");
	r.completion_ns = get_time(st, "completionTime");
	decode_replay(&r.replay, json_object_get(st, "replay"));
done:
	*out = r;
	return 0;
}

int app_restore_status_encode(json_t *obj, const app_restore_status *r)
{
	json_t *st = status_of(obj), *arr, *ip;
	int rc = 0;
	size_t i;

	if (st == NULL)
		return SS_ENOMEM;
	put_int(&rc, st, "observedGeneration", r->observed_generation, 0);
	put_string(&rc, st, "phase", r->has_phase ? restore_phase_names[r->phase] : NULL);
	put_string(&rc, st, "message", r->message);
	put_string(&rc, st, "sourceBackup", r->source_backup);
	arr = put_array(&rc, st, "sourceVolumeSnapshots");
	for (i = 0; arr != NULL && i < r->n_source_snapshots; i++)
		append(&rc, arr, json_string(r->source_snapshots[i]));
	drop_if_empty(st, "sourceVolumeSnapshots");
	arr = put_array(&rc, st, "claims");
	for (i = 0; arr != NULL && i < r->n_claims; i++) {
		json_t *c = json_object();

		append(&rc, arr, c);
		if (rc != 0)
			break;
		put_string(&rc, c, "name", r->claims[i].name);
		put_string(&rc, c, "volume", r->claims[i].volume);
		put_string(&rc, c, "volumeSnapshotName",
			   r->claims[i].volume_snapshot_name);
		put(&rc, c, "bound", json_boolean(r->claims[i].bound));
	}
	drop_if_empty(st, "claims");
	put_string(&rc, st, "mode", r->mode);
	if (r->accepted_spec != NULL)
		put(&rc, st, "acceptedSpec", json_deep_copy(r->accepted_spec));
	else
		json_object_del(st, "acceptedSpec");
	ip = put_object(&rc, st, "inPlace");
	if (ip != NULL)
		encode_in_place(&rc, ip, r);
	drop_if_empty(st, "inPlace");
	encode_replay(&rc, st, &r->replay);
	put_time(&rc, st, "startTime", r->start_ns);
	put_time(&rc, st, "completionTime", r->completion_ns);
	return rc;
}
