/*
 * restore_plan.c — see restore_plan.h.
 *
 * Layout: a Backup's state as a restore source; which Backup a schedule
 * and a point in time mean; the claims of a NewClaims restore; reading an
 * existing claim.
 *
 * Everything the reconciler later shows a user (why no Backup qualifies,
 * which claim is wrong) is written here, so the texts name the schedule,
 * the instant, the field and what the source has instead.
 */
#include "app/restore/restore_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app/api/dec.h"
#include "app/api/names.h"
#include "app/api/owner.h"
#include "app/api/volumesnapshot.h"
#include "ctrl/conditions.h"
#include "ctrl/object.h"
#include "kube/quantity.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/str.h"

#define CLAIMS_PATH "spec.target.newClaims.claims"
#define VOLUME_LIST_MAX 160 /* the source's volume names in an InvalidSpec message */

static bool restore_plan_empty(const char *s)
{
	return s == NULL || *s == '\0';
}

/* ---- a Backup as a restore source ---------------------------------------- */

app_source_state app_restore_backup_state(const json_t *backup, const char **why)
{
	const json_t *snaps, *s;
	const char *phrase = "complete with every snapshot ready to use";
	app_source_state state = APP_SOURCE_OK;
	size_t i;

	/* Deletion first: a Backup on its way out loses its VolumeSnapshots
	 * (owner references) whatever its conditions still say. */
	if (backup == NULL) {
		state = APP_SOURCE_FAILED;
		phrase = "the Backup does not exist";
	} else if (ctrl_meta(backup, "deletionTimestamp") != NULL) {
		state = APP_SOURCE_FAILED;
		phrase = "the Backup is being deleted";
	} else if (ctrl_condition_is_true(backup, "Failed")) {
		state = APP_SOURCE_FAILED;
		phrase = "the Backup failed";
	} else if (!ctrl_condition_is_true(backup, "Complete")) {
		state = APP_SOURCE_WAIT;
		phrase = "the Backup is not complete yet";
	} else if (ctrl_condition_is_false(backup, APP_CONDITION_RESTORABLE)) {
		/* A snapshot was deleted or failed after the Backup completed. */
		state = APP_SOURCE_FAILED;
		phrase = "its VolumeSnapshots are no longer restorable (condition "
			 "Restorable False)";
	} else {
		/* The raw array rather than app_backup_status_decode(), which
		 * skips entries without a volume: every entry must be ready. */
		snaps = json_object_get(json_object_get(backup, "status"), "snapshots");
		if (json_array_size(snaps) == 0) {
			/* Complete is final: no snapshot will ever appear. */
			state = APP_SOURCE_FAILED;
			phrase = "the Backup lists no snapshots";
		}
		json_array_foreach((json_t *)snaps, i, s)
		{
			if (!json_is_true(json_object_get(s, "readyToUse"))) {
				state = APP_SOURCE_WAIT;
				phrase = "a snapshot of the Backup is not ready to use "
					 "yet";
				break;
			}
		}
	}
	if (why != NULL)
		*why = phrase;
	return state;
}

/* ---- which Backup a schedule and a point in time mean -------------------- */

/* The instant a Backup's data is from: when BLOCK_COMMIT was reached (the
 * last commit in the snapshots), else when it started, else when it was
 * created (both a little earlier than the data, so a point between them
 * and the cut may pick a Backup whose data is up to seconds later; only
 * Backups that never recorded a lock fall back to them). 0: unknown. */
static int64_t restore_plan_data_time(const json_t *backup)
{
	app_backup_status st;
	int64_t t = 0;

	app_backup_status_init(&st);
	if (app_backup_status_decode(&st, backup) != 0)
		return 0;
	if (st.lock.acquired_ns > 0)
		return st.lock.acquired_ns;
	if (st.start_ns > 0)
		return st.start_ns;
	if (ctrl_meta(backup, "creationTimestamp") == NULL ||
	    ss_time_parse(&t, ctrl_meta(backup, "creationTimestamp")) != 0)
		return 0;
	return t > 0 ? t : 0;
}

int64_t app_restore_backup_data_time(const json_t *backup)
{
	return backup == NULL ? 0 : restore_plan_data_time(backup);
}

/* Whether (t_a, a) is later than (t_b, b): time first, then the greater
 * name, so equal data times pick the same Backup on every replica. */
static bool restore_plan_later(int64_t t_a, const char *a, int64_t t_b, const char *b)
{
	if (t_a != t_b)
		return t_a > t_b;
	return strcmp(a, b) > 0;
}

bool app_restore_is_from_schedule(const json_t *backup, const char *schedule,
				  const char *schedule_uid)
{
	return app_owner_run_origin(backup, schedule, schedule_uid) != APP_OWNER_FOREIGN;
}

/* A pick in progress (app_restore_pick_backup): the newest candidate at or
 * before the point, the oldest of all, and how many there are. */
typedef struct {
	const char *best, *oldest;
	int64_t best_t, oldest_t;
	size_t complete;
} restore_plan_pick;

/* Backup `b` into the pick when it is a candidate: the schedule's,
 * restorable, with a data time. */
static void restore_plan_pick_add(restore_plan_pick *p, const json_t *b,
				  const char *schedule, const char *schedule_uid,
				  int64_t point)
{
	const char *name = ctrl_meta(b, "name");
	int64_t t;

	if (name == NULL || !app_restore_is_from_schedule(b, schedule, schedule_uid))
		return;
	if (app_restore_backup_state(b, NULL) != APP_SOURCE_OK)
		return;
	t = restore_plan_data_time(b);
	if (t == 0)
		return;
	p->complete++;
	/* The oldest, with the same tie rule reversed, for the message
	 * when every candidate is later than the point. */
	if (p->oldest == NULL || restore_plan_later(p->oldest_t, p->oldest, t, name)) {
		p->oldest = name;
		p->oldest_t = t;
	}
	if (t <= point &&
	    (p->best == NULL || restore_plan_later(t, name, p->best_t, p->best))) {
		p->best = name;
		p->best_t = t;
	}
}

/* No candidate at or before `point`: SS_ENOTFOUND, the message saying how
 * many the schedule has and, when all are later, the oldest. */
static int restore_plan_pick_none(const restore_plan_pick *p, const char *schedule,
				  int64_t point)
{
	char when[SS_TIME_RFC3339_MAX], oldest_when[SS_TIME_RFC3339_MAX];

	ss_time_format(when, sizeof(when), point);
	if (p->complete == 0)
		return ss_error_set(SS_ENOTFOUND,
				    "BackupSchedule %s has no complete Backup "
				    "with every snapshot ready to use, so none "
				    "holds data from %s or before",
				    schedule, when);
	ss_time_format(oldest_when, sizeof(oldest_when), p->oldest_t);
	if (p->complete == 1)
		return ss_error_set(SS_ENOTFOUND,
				    "BackupSchedule %s has no complete Backup "
				    "with data from %s or before: its only one, "
				    "%s, is from %s",
				    schedule, when, p->oldest, oldest_when);
	return ss_error_set(SS_ENOTFOUND,
			    "BackupSchedule %s has no complete Backup with data "
			    "from %s or before: all %zu of its complete Backups "
			    "are later, the oldest %s from %s",
			    schedule, when, p->complete, p->oldest, oldest_when);
}

int app_restore_pick_backup(const char **out_name, int64_t *out_data_time_ns,
			    const json_t *backups, const char *schedule,
			    const char *schedule_uid, bool has_point, int64_t point_ns,
			    int64_t now_ns)
{
	restore_plan_pick p = { NULL, NULL, 0, 0, 0 };
	int64_t point = has_point ? point_ns : now_ns;
	const json_t *b;
	size_t i;

	if (out_name == NULL || restore_plan_empty(schedule))
		return ss_error_set(
			SS_EINVALID,
			"picking a Backup needs a schedule name and an output");
	json_array_foreach((json_t *)backups, i, b)
	{
		restore_plan_pick_add(&p, b, schedule, schedule_uid, point);
	}
	if (p.best == NULL)
		return restore_plan_pick_none(&p, schedule, point);
	*out_name = p.best;
	if (out_data_time_ns != NULL)
		*out_data_time_ns = p.best_t;
	return 0;
}

/* Backup `b` into a GTID pick: the schedule's, restorable, with a recorded
 * position that parses and does not pass `target`; newest by data time,
 * then name. *seen counts the candidates with a position. */
static void restore_plan_base_add(restore_plan_pick *p, const json_t *b,
				  const char *schedule, const char *schedule_uid,
				  const app_gtid_pos *target)
{
	const char *name = ctrl_meta(b, "name");
	app_backup_status st;
	app_gtid_pos pos;
	int64_t t;

	if (name == NULL || !app_restore_is_from_schedule(b, schedule, schedule_uid) ||
	    app_restore_backup_state(b, NULL) != APP_SOURCE_OK)
		return;
	app_backup_status_init(&st);
	if (app_backup_status_decode(&st, b) != 0 ||
	    app_gtid_pos_parse(&pos, app_backup_status_gtid(&st)) != 0 || pos.n == 0)
		return;
	t = restore_plan_data_time(b);
	p->complete++;
	if (app_gtid_pos_within(&pos, target) &&
	    (p->best == NULL || restore_plan_later(t, name, p->best_t, p->best))) {
		p->best = name;
		p->best_t = t;
	}
}

int app_restore_pick_base_gtid(const char **out_name, const json_t *backups,
			       const char *schedule, const char *schedule_uid,
			       const app_gtid_pos *target)
{
	restore_plan_pick p = { NULL, NULL, 0, 0, 0 };
	char text[APP_GTID_TEXT_MAX];
	const json_t *b;
	size_t i;

	if (out_name == NULL || target == NULL || restore_plan_empty(schedule))
		return ss_error_set(
			SS_EINVALID,
			"picking a base needs a schedule, a target and an output");
	json_array_foreach((json_t *)backups, i, b)
	{
		restore_plan_base_add(&p, b, schedule, schedule_uid, target);
	}
	if (p.best != NULL) {
		*out_name = p.best;
		return 0;
	}
	if (app_gtid_pos_format(text, sizeof(text), target) != 0)
		snprintf(text, sizeof(text), "(too long to show)");
	return ss_error_set(
		SS_ENOTFOUND,
		"BackupSchedule %s has no complete Backup whose recorded GTID "
		"position is at or before %.1000s (%zu with a position, all "
		"past it in some domain)",
		schedule, text, p.complete);
}

/* ---- the claims of a NewClaims restore ----------------------------------- */

/* Sets `key` to a copy of `value`. 0 or SS_ENOMEM. */
static int restore_plan_put_str(json_t *obj, const char *key, const char *value)
{
	if (json_object_set_new(obj, key, json_string(value)) != 0)
		return ss_error_set(SS_ENOMEM, "out of memory");
	return 0;
}

static int restore_plan_fail(const char **reason, const char *why, int code,
			     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Records the error and the reason to report with it (*reason is the
 * caller's local, copied out only on failure). */
static int restore_plan_fail(const char **reason, const char *why, int code,
			     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ss_error_vset(code, fmt, ap);
	va_end(ap);
	*reason = why;
	return code;
}

/* "a, b, c" of the source's volume names, cut to fit. */
static void restore_plan_volume_names(char *buf, size_t cap,
				      const app_restore_claims_in *in)
{
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < in->n_volumes; i++)
		if (!ss_list_append(buf, cap, &len, in->volumes[i].volume))
			return;
	if (len == 0)
		snprintf(buf, cap, "none");
}

static const app_restore_volume *restore_plan_find_volume(const app_restore_claims_in *in,
							  const char *volume)
{
	size_t i;

	for (i = 0; i < in->n_volumes; i++) {
		if (ss_streq(in->volumes[i].volume, volume))
			return &in->volumes[i];
	}
	return NULL;
}

/* The source's volumes must be usable before any claim is planned: each
 * with a name and a VolumeSnapshot, no name twice (a lookup by volume would
 * otherwise be ambiguous). */
static int restore_plan_check_source(const app_restore_claims_in *in, const char **reason)
{
	size_t i, j;

	for (i = 0; i < in->n_volumes; i++) {
		const app_restore_volume *v = &in->volumes[i];

		if (restore_plan_empty(v->volume) || restore_plan_empty(v->snapshot))
			return restore_plan_fail(
				reason, "SourceNotReady", SS_EINVALID,
				"the source's volume %zu (\"%s\") has no %s", i,
				v->volume != NULL ? v->volume : "",
				restore_plan_empty(v->volume) ? "name"
							      : "VolumeSnapshot");
		for (j = 0; j < i; j++) {
			if (strcmp(in->volumes[j].volume, v->volume) == 0)
				return restore_plan_fail(
					reason, "SourceNotReady", SS_EINVALID,
					"the source lists volume \"%s\" twice",
					v->volume);
		}
	}
	return 0;
}

/* The spec's claims against the source: every volume exists, no volume and
 * no name twice. The decoder checks the duplicates too; this repeats it
 * because a spec can be built without it, and two claims of one name
 * would make the second create find the first. */
static int restore_plan_check_spec_claims(const app_restore_claims_in *in,
					  const char **reason)
{
	const app_restore_spec *spec = in->spec;
	char have[VOLUME_LIST_MAX];
	size_t i, j;

	for (i = 0; i < spec->n_claims; i++) {
		const app_claim_spec *c = &spec->claims[i];

		if (restore_plan_empty(c->volume) || restore_plan_empty(c->name))
			return restore_plan_fail(reason, "InvalidSpec", SS_EINVALID,
						 CLAIMS_PATH "[%zu].%s: required", i,
						 restore_plan_empty(c->volume) ? "volume"
									       : "name");
		if (restore_plan_find_volume(in, c->volume) == NULL) {
			restore_plan_volume_names(have, sizeof(have), in);
			return restore_plan_fail(reason, "InvalidSpec", SS_EINVALID,
						 CLAIMS_PATH
						 "[%zu].volume: the source has no "
						 "volume \"%s\" (its volumes: %s)",
						 i, c->volume, have);
		}
		for (j = 0; j < i; j++) {
			if (strcmp(spec->claims[j].volume, c->volume) == 0)
				return restore_plan_fail(
					reason, "InvalidSpec", SS_EINVALID,
					CLAIMS_PATH "[%zu].volume: \"%s\" is "
						    "listed twice",
					i, c->volume);
			if (strcmp(spec->claims[j].name, c->name) == 0)
				return restore_plan_fail(
					reason, "InvalidSpec", SS_EINVALID,
					CLAIMS_PATH "[%zu].name: \"%s\" is "
						    "listed twice",
					i, c->name);
		}
	}
	return 0;
}

/* The size of the claim restoring `v` into *bytes: at least `spec_size`
 * (0: none given) and never smaller than restoreSize — a provisioner
 * refuses (or a driver truncates) a volume smaller than the snapshot. 0 is
 * no size either: the API server rejects a claim asking for 0 bytes.
 * `index`: the spec claim's, for the message (-1: no spec claim). */
static int restore_plan_claim_bytes(int64_t *bytes, const char **reason,
				    const app_restore_volume *v, int64_t spec_size,
				    int64_t index)
{
	*bytes = spec_size > v->restore_size_bytes ? spec_size : v->restore_size_bytes;
	if (*bytes > 0)
		return 0;
	if (index >= 0)
		return restore_plan_fail(
			reason, "SourceNotReady", SS_EINVALID,
			"volume \"%s\": the size of VolumeSnapshot %s is "
			"not known yet (no restoreSize) and " CLAIMS_PATH
			"[%lld].size is not set",
			v->volume, v->snapshot, (long long)index);
	return restore_plan_fail(
		reason, "SourceNotReady", SS_EINVALID,
		"volume \"%s\": the size of VolumeSnapshot %s is not known "
		"yet (no restoreSize); give it in " CLAIMS_PATH "[].size",
		v->volume, v->snapshot);
}

/* The claim `name` restoring `v` with `size` (a quantity), its labels and
 * annotations still empty; NULL when out of memory. */
static json_t *restore_plan_claim_new(const app_restore_claims_in *in, const char *name,
				      const app_restore_volume *v, const char *size)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:{}, s:{}},"
			 " s:{s:[], s:{s:{s:s}}, s:{s:s, s:s, s:s}}}",
			 "apiVersion", "v1", "kind", "PersistentVolumeClaim", "metadata",
			 "name", name, "namespace", ctrl_meta(in->restore, "namespace"),
			 "labels", "annotations", "spec", "accessModes", "resources",
			 "requests", "storage", size, "dataSource", "apiGroup",
			 "snapshot.storage.k8s.io", "kind", "VolumeSnapshot", "name",
			 v->snapshot);
}

/* The rest of claim `pvc` restoring `v`: labels, annotations, access
 * modes, class (`class`, else the spec's). 0 or SS_ENOMEM. */
static int restore_plan_claim_fill(json_t *pvc, const app_restore_claims_in *in,
				   const app_restore_volume *v, const char *class)
{
	const app_restore_spec *spec = in->spec;
	const char *cls = class ? class : spec->storage_class;
	json_t *meta = json_object_get(pvc, "metadata");
	json_t *labels = json_object_get(meta, "labels");
	json_t *ann = json_object_get(meta, "annotations");
	json_t *pspec = json_object_get(pvc, "spec");
	json_t *modes = json_object_get(pspec, "accessModes");
	size_t i;
	int rc;

	rc = app_copy_copyable(labels, spec->claim_labels, true);
	if (rc == 0)
		rc = app_label_set_own(labels, APP_LABEL_RESTORE,
				       ctrl_meta(in->restore, "name"));
	if (rc == 0)
		rc = app_label_set_own(labels, APP_LABEL_VOLUME, v->volume);
	if (rc == 0)
		rc = app_copy_copyable(ann, spec->claim_annotations, false);
	if (rc == 0)
		rc = restore_plan_put_str(ann, APP_ANNOTATION_RESTORE_UID,
					  ctrl_meta(in->restore, "uid"));
	/* A spec that skipped decoding has no access modes: the decoder's
	 * default, rather than a claim the API server rejects. */
	for (i = 0; rc == 0 && i < spec->n_access_modes; i++) {
		if (json_array_append_new(modes, json_string(spec->access_modes[i])) != 0)
			rc = ss_error_set(SS_ENOMEM, "out of memory");
	}
	if (rc == 0 && spec->n_access_modes == 0 &&
	    json_array_append_new(modes, json_string("ReadWriteOnce")) != 0)
		rc = ss_error_set(SS_ENOMEM, "out of memory");
	if (rc == 0 && cls != NULL)
		rc = restore_plan_put_str(pspec, "storageClassName", cls);
	if (rc == 0 && json_object_size(labels) == 0)
		json_object_del(meta, "labels");
	return rc;
}

/* One claim: `name` restores `v`, asking for at least c's size (0 or no
 * c: the snapshot's restoreSize), in c's class (none: the spec's).
 * Appends it to `arr`. */
static int restore_plan_build_claim(json_t *arr, const char **reason,
				    const app_restore_claims_in *in, const char *name,
				    const app_restore_volume *v, const app_claim_spec *c,
				    int64_t index)
{
	int64_t spec_size = c ? c->size_bytes : 0;
	char size[KUBE_QUANTITY_MAX];
	json_t *pvc = NULL;
	int64_t bytes;
	int rc;

	rc = restore_plan_claim_bytes(&bytes, reason, v, spec_size, index);
	if (rc != 0)
		return rc;
	kube_quantity_format(size, sizeof(size), bytes);
	pvc = restore_plan_claim_new(in, name, v, size);
	if (pvc == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	rc = restore_plan_claim_fill(pvc, in, v, c ? c->storage_class : NULL);
	if (rc != 0)
		goto cleanup;
	if (json_array_append_new(arr, pvc) != 0) {
		pvc = NULL; /* jansson's append_new releases it on failure */
		rc = ss_error_set(SS_ENOMEM, "out of memory");
		goto cleanup;
	}
	pvc = NULL;
cleanup:
	json_decref(pvc);
	return rc;
}

/* The claims into `arr`: the spec's, in spec order, or one per source
 * volume named "<restore>-<volume>". 0 or < 0 with *why. */
static int restore_plan_claims_add(json_t *arr, const char **why,
				   const app_restore_claims_in *in)
{
	const char *restore = ctrl_meta(in->restore, "name");
	char name[APP_NAME_BUF];
	size_t i;
	int rc = 0;

	if (in->spec->n_claims > 0) {
		for (i = 0; rc == 0 && i < in->spec->n_claims; i++) {
			const app_claim_spec *c = &in->spec->claims[i];

			rc = restore_plan_build_claim(
				arr, why, in, c->name,
				restore_plan_find_volume(in, c->volume), c, (int64_t)i);
		}
		return rc;
	}
	for (i = 0; rc == 0 && i < in->n_volumes; i++) {
		const app_restore_volume *v = &in->volumes[i];

		/* Capped at 63 like every name snapstage makes (names.h);
		 * distinct volumes give distinct names even when cut,
		 * thanks to the hash of the whole. Cannot fail: both
		 * parts were checked non-empty. */
		rc = app_name_join(name, APP_LABEL_VALUE_MAX, restore, v->volume);
		if (rc == 0)
			rc = restore_plan_build_claim(arr, why, in, name, v, NULL, -1);
	}
	return rc;
}

int app_restore_claims_plan(json_t **out, const char **reason,
			    const app_restore_claims_in *in)
{
	const char *restore = ctrl_meta(in->restore, "name");
	const char *ns = ctrl_meta(in->restore, "namespace");
	const char *uid = ctrl_meta(in->restore, "uid");
	const char *why = NULL; /* stays NULL for SS_ENOMEM: no condition reason */
	json_t *arr = NULL;
	int rc;

	if (restore_plan_empty(restore) || restore_plan_empty(ns) ||
	    restore_plan_empty(uid) || in->spec == NULL) {
		rc = restore_plan_fail(
			&why, "InvalidSpec", SS_EINVALID,
			"planning claims needs the Restore's name, namespace, "
			"uid and spec (Restore %s/%s has uid %s)",
			ns != NULL ? ns : "?", restore != NULL ? restore : "?",
			uid != NULL ? uid : "none");
		goto cleanup;
	}
	rc = restore_plan_check_source(in, &why);
	if (rc == 0)
		rc = restore_plan_check_spec_claims(in, &why);
	if (rc != 0)
		goto cleanup;
	arr = json_array();
	if (arr == NULL) {
		rc = ss_error_set(SS_ENOMEM, "out of memory");
		goto cleanup;
	}
	rc = restore_plan_claims_add(arr, &why, in);
	if (rc != 0)
		goto cleanup;
	*out = arr;
	arr = NULL;
cleanup:
	if (rc != 0 && reason != NULL)
		*reason = why;
	json_decref(arr);
	return rc;
}

/* ---- reading an existing claim ------------------------------------------- */

bool app_restore_claim_is_ours(const json_t *pvc, const json_t *restore)
{
	const char *name = ctrl_meta(restore, "name");
	const char *uid = ctrl_meta(restore, "uid");
	const char *label = ctrl_label(pvc, APP_LABEL_RESTORE);

	if (restore_plan_empty(name) || restore_plan_empty(uid) ||
	    !ss_streq(ctrl_annotation(pvc, APP_ANNOTATION_RESTORE_UID), uid))
		return false;
	/* The label is written exactly when the name is a label value. */
	if (app_dec_is_label_value(name))
		return ss_streq(label, name);
	return label == NULL;
}

app_claim_state app_restore_claim_state(const json_t *pvc)
{
	const char *phase = json_string_value(
		json_object_get(json_object_get(pvc, "status"), "phase"));

	if (ss_streq(phase, "Bound"))
		return APP_CLAIM_BOUND;
	if (ss_streq(phase, "Lost"))
		return APP_CLAIM_LOST;
	return APP_CLAIM_PENDING;
}

/* ---- waiting --------------------------------------------------------------- */

int64_t app_restore_poll_after(int64_t waited_ns, int64_t poll_ns)
{
	if (waited_ns < (int64_t)APP_RESTORE_QUICK_POLL_S * SS_NS_PER_SEC)
		return poll_ns / 4;
	return poll_ns;
}
