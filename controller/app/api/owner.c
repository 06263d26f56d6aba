/*
 * owner.c — see owner.h. Moved here from backup_plan.c (the controller
 * ownerReference, the uid check) and retention.c (a Backup's run origin)
 * when app/ was split into folders, so that the Backup, BackupSchedule and
 * Restore controllers share these rules without including each other.
 */
#include "app/api/owner.h"

#include <string.h>

#include "app/api/api.h"
#include "util/str.h"

static const char *str_at(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static const json_t *at2(const json_t *obj, const char *a, const char *b)
{
	return json_object_get(json_object_get(obj, a), b);
}

static bool empty(const char *s)
{
	return s == NULL || *s == '\0';
}

const json_t *app_owner_controller(const json_t *obj)
{
	const json_t *refs = at2(obj, "metadata", "ownerReferences");
	const json_t *ref;
	size_t i;

	json_array_foreach((json_t *)refs, i, ref)
	{
		if (json_is_true(json_object_get(ref, "controller")))
			return ref;
	}
	return NULL;
}

bool app_owner_has_uid(const json_t *obj, const char *uid)
{
	const json_t *ref;
	size_t i;

	if (empty(uid))
		return false;
	json_array_foreach(at2(obj, "metadata", "ownerReferences"), i, ref)
	{
		if (ss_streq(str_at(ref, "uid"), uid))
			return true;
	}
	return false;
}

/* Whether `obj` has a BackupSchedule ownerReference whose uid is not `uid`. */
static bool other_schedule_owner(const json_t *obj, const char *uid)
{
	const json_t *refs = json_object_get(json_object_get(obj, "metadata"),
					     "ownerReferences");
	const json_t *ref;
	size_t i;

	json_array_foreach((json_t *)refs, i, ref)
	{
		const char *kind = json_string_value(json_object_get(ref, "kind"));
		const char *ref_uid = json_string_value(json_object_get(ref, "uid"));

		if (kind != NULL && strcmp(kind, "BackupSchedule") == 0 &&
		    (ref_uid == NULL || strcmp(ref_uid, uid) != 0))
			return true;
	}
	return false;
}

app_owner_origin app_owner_run_origin(const json_t *backup, const char *schedule,
				      const char *uid)
{
	const json_t *labels =
		json_object_get(json_object_get(backup, "metadata"), "labels");
	const char *label = json_string_value(json_object_get(labels, APP_LABEL_SCHEDULE));
	const char *label_uid =
		json_string_value(json_object_get(labels, APP_LABEL_SCHEDULE_UID));
	bool owned;

	if (schedule == NULL || *schedule == '\0' || label == NULL ||
	    strcmp(label, schedule) != 0)
		return APP_OWNER_FOREIGN;
	if (uid == NULL || *uid == '\0')
		return APP_OWNER_LEGACY;
	owned = app_owner_has_uid(backup, uid);
	if ((label_uid != NULL && strcmp(label_uid, uid) != 0) ||
	    (!owned && other_schedule_owner(backup, uid)))
		return APP_OWNER_FOREIGN;
	if (owned || label_uid != NULL)
		return APP_OWNER_OWN;
	return APP_OWNER_LEGACY;
}
