/*
 * volumesnapshot.c — see volumesnapshot.h.
 */
#include "app/api/volumesnapshot.h"

#include "ctrl/object.h"
#include "kube/quantity.h"
#include "util/clock.h"
#include "util/error.h"

const kube_resource app_volumesnapshots = { "snapshot.storage.k8s.io", "v1",
					    "volumesnapshots", true };
const kube_resource app_volumesnapshotclasses = { "snapshot.storage.k8s.io", "v1",
						  "volumesnapshotclasses", false };
const kube_resource app_volumesnapshotcontents = { "snapshot.storage.k8s.io", "v1",
						   "volumesnapshotcontents", false };

static const char *str_at(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

int app_vs_state_read(app_vs_state *out, const json_t *vs)
{
	app_vs_state st = { false, 0, false, -1, NULL };
	const json_t *status = json_object_get(vs, "status");
	const json_t *v, *err;
	const char *name = ctrl_meta(vs, "name");
	int rc;

	if (name == NULL)
		name = "?";
	if (status == NULL || json_is_null(status))
		goto done;
	if (!json_is_object(status))
		return ss_error_set(SS_EINVALID,
				    "VolumeSnapshot %s: status is not an object", name);
	v = json_object_get(status, "boundVolumeSnapshotContentName");
	st.bound = json_is_string(v) && json_string_length(v) > 0;

	v = json_object_get(status, "creationTime");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v))
			return ss_error_set(
				SS_EINVALID,
				"VolumeSnapshot %s: status.creationTime is not "
				"a string",
				name);
		rc = ss_time_parse(&st.creation_time_ns, json_string_value(v));
		if (rc != 0)
			return ss_error_set(rc,
					    "VolumeSnapshot %s: status.creationTime: %s",
					    name, ss_error_last()->message);
		/* 0 means "not cut": a time at or before the epoch is no cut. */
		if (st.creation_time_ns <= 0)
			return ss_error_set(
				SS_EINVALID,
				"VolumeSnapshot %s: status.creationTime %s is "
				"not after 1970",
				name, json_string_value(v));
	}

	v = json_object_get(status, "readyToUse");
	if (v != NULL && !json_is_null(v) && !json_is_boolean(v))
		return ss_error_set(
			SS_EINVALID,
			"VolumeSnapshot %s: status.readyToUse is not a boolean", name);
	st.ready_to_use = json_is_true(v);

	v = json_object_get(status, "restoreSize");
	if (v != NULL && !json_is_null(v)) {
		rc = kube_quantity_from_json(&st.restore_size_bytes, v);
		if (rc != 0)
			return ss_error_set(rc,
					    "VolumeSnapshot %s: status.restoreSize: %s",
					    name, ss_error_last()->message);
	}

	/* An error without a message is still an error. */
	err = json_object_get(status, "error");
	if (err != NULL && !json_is_null(err)) {
		st.error = str_at(err, "message");
		if (st.error == NULL || *st.error == '\0')
			st.error = "the storage reported an error without a message";
	}
done:
	*out = st;
	return 0;
}
