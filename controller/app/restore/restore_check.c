/*
 * restore_check.c — see restore_check.h.
 *
 * The messages are what a user reads in a Failed Restore at the worst
 * moment, so each names the object, what is wrong with it and what that
 * means; none quotes a Secret (nothing here sees one).
 */
#include "app/restore/restore_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app/api/names.h"
#include "app/api/owner.h"
#include "app/api/volumesnapshot.h"
#include "ctrl/object.h"
#include "util/error.h"
#include "util/str.h"

static int restore_check_fail(const char **reason, const char *why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int restore_check_fail(const char **reason, const char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ss_error_vset(SS_EINVALID, fmt, ap);
	va_end(ap);
	if (reason != NULL)
		*reason = why;
	return SS_EINVALID;
}

static int restore_check_owner(const char **reason, const char *name, const json_t *vs,
			       const json_t *backup)
{
	const char *bname = ctrl_meta(backup, "name");
	const char *label = ctrl_label(vs, APP_LABEL_BACKUP);
	const char *full = ctrl_annotation(vs, APP_ANNOTATION_BACKUP_NAME);

	if (!app_owner_has_uid(vs, ctrl_meta(backup, "uid")))
		return restore_check_fail(
			reason, "SnapshotNotOwned",
			"VolumeSnapshot %s is not Backup %s's (no ownerReference "
			"with its uid): another object has that name now, so "
			"the Backup's own snapshot is gone",
			name, bname ? bname : "?");
	if (label != NULL && !app_name_backup_label_matches(label, bname))
		return restore_check_fail(
			reason, "SnapshotNotOwned",
			"VolumeSnapshot %s is labelled for Backup %s, not %s", name,
			label, bname ? bname : "?");
	if (full != NULL && !ss_streq(full, bname))
		return restore_check_fail(
			reason, "SnapshotNotOwned",
			"VolumeSnapshot %s is annotated for Backup %s, not %s", name,
			full, bname ? bname : "?");
	return 0;
}

int app_restore_check_snapshot(app_restore_snapshot_info *out, const char **reason,
			       const char *name, const json_t *vs, const json_t *backup)
{
	app_vs_state st;
	const char *content;

	if (vs == NULL)
		return restore_check_fail(
			reason, "SnapshotMissing",
			"VolumeSnapshot %s does not exist (deleted after the "
			"Backup completed?)",
			name);
	if (ctrl_meta(vs, "deletionTimestamp") != NULL)
		return restore_check_fail(reason, "SnapshotMissing",
					  "VolumeSnapshot %s is being deleted", name);
	if (backup != NULL && restore_check_owner(reason, name, vs, backup) < 0)
		return SS_EINVALID;
	if (app_vs_state_read(&st, vs) < 0)
		return restore_check_fail(reason, "SnapshotNotReady", "%s",
					  ss_error_last()->message);
	if (st.error != NULL)
		return restore_check_fail(reason, "SnapshotNotReady",
					  "VolumeSnapshot %s failed: %s", name, st.error);
	if (!st.ready_to_use)
		return restore_check_fail(reason, "SnapshotNotReady",
					  "VolumeSnapshot %s is not readyToUse", name);
	if (st.restore_size_bytes <= 0)
		return restore_check_fail(
			reason, "SnapshotNotReady",
			"VolumeSnapshot %s has no restoreSize, so no claim size "
			"can be known to fit it",
			name);
	content = json_string_value(json_object_get(json_object_get(vs, "status"),
						    "boundVolumeSnapshotContentName"));
	if (content == NULL || *content == '\0')
		return restore_check_fail(
			reason, "SnapshotNotReady",
			"VolumeSnapshot %s names no VolumeSnapshotContent", name);
	if (out != NULL) {
		out->restore_size_bytes = st.restore_size_bytes;
		out->content_name = content;
	}
	return 0;
}

static bool restore_check_is_default(const json_t *sc)
{
	return ss_streq(
		       ctrl_annotation(sc, "storageclass.kubernetes.io/is-default-class"),
		       "true") ||
	       ss_streq(ctrl_annotation(sc, "storageclass.beta.kubernetes.io/"
					    "is-default-class"),
			"true");
}

const json_t *app_restore_default_class(const json_t *classes)
{
	const json_t *sc, *best = NULL;
	size_t i;

	json_array_foreach(classes, i, sc)
	{
		const char *name = ctrl_meta(sc, "name");

		if (name == NULL || !restore_check_is_default(sc))
			continue;
		if (best == NULL || strcmp(name, ctrl_meta(best, "name")) < 0)
			best = sc;
	}
	return best;
}

int app_restore_check_driver(const char **reason, const char *snapshot,
			     const json_t *content, const json_t *sc,
			     const char *class_name, const char *where)
{
	const char *driver, *provisioner;

	if (sc == NULL && class_name != NULL)
		return restore_check_fail(reason, "StorageClassNotFound",
					  "%s: StorageClass %s does not exist", where,
					  class_name);
	if (sc == NULL)
		return restore_check_fail(
			reason, "StorageClassNotFound",
			"%s names no StorageClass and the cluster has no default "
			"one, so no claim could be provisioned",
			where);
	if (content == NULL)
		return restore_check_fail(
			reason, "SnapshotNotReady",
			"the VolumeSnapshotContent of VolumeSnapshot %s does not "
			"exist",
			snapshot);
	driver = json_string_value(
		json_object_get(json_object_get(content, "spec"), "driver"));
	provisioner = json_string_value(json_object_get(sc, "provisioner"));
	if (driver == NULL || provisioner == NULL || strcmp(driver, provisioner) != 0)
		return restore_check_fail(
			reason, "StorageClassMismatch",
			"VolumeSnapshot %s was cut by driver %s, but %s uses "
			"StorageClass %s of provisioner %s: a claim from it would "
			"never bind",
			snapshot, driver ? driver : "(none)", where,
			ctrl_meta(sc, "name") ? ctrl_meta(sc, "name") : "?",
			provisioner ? provisioner : "(none)");
	return 0;
}

bool app_restore_position_exact(const json_t *backup, const json_t *vs)
{
	const char *stage = NULL;

	if (backup != NULL)
		stage = json_string_value(json_object_get(
			json_object_get(json_object_get(backup, "status"), "lock"),
			"stage"));
	else if (vs != NULL)
		stage = ctrl_annotation(vs, APP_ANNOTATION_LOCK_STAGE);
	return ss_streq(stage, "BLOCK_COMMIT");
}

/* Counts one changed field and lists it in buf while it fits. */
static void restore_check_changed(size_t *n, char *buf, size_t cap, size_t *len,
				  const char *field)
{
	(*n)++;
	ss_list_append(buf, cap, len, field);
}

size_t app_restore_pinned_changes(char *buf, size_t cap, const app_restore_spec *spec,
				  const app_restore_status *st)
{
	const char *mode = spec->mode == APP_MODE_IN_PLACE ? "InPlace" : "NewClaims";
	size_t n = 0, len = 0;

	if (cap > 0)
		buf[0] = '\0';
	if (st->mode != NULL && strcmp(st->mode, mode) != 0)
		restore_check_changed(&n, buf, cap, &len, "target.mode");
	if (spec->mode == APP_MODE_IN_PLACE && st->statefulset_name != NULL &&
	    !ss_streq(st->statefulset_name, spec->statefulset_name))
		restore_check_changed(&n, buf, cap, &len,
				      "target.inPlace.statefulSetName");
	if (spec->mode == APP_MODE_IN_PLACE && st->primary_ordinal >= 0 &&
	    st->primary_ordinal != spec->primary_ordinal)
		restore_check_changed(&n, buf, cap, &len,
				      "target.inPlace.primaryOrdinal");
	if (spec->source_kind == APP_SOURCE_BACKUP && st->source_backup != NULL &&
	    !ss_streq(st->source_backup, spec->source_name))
		restore_check_changed(&n, buf, cap, &len, "source.backupName");
	return n;
}
