/*
 * cut_proof.c — see cut_proof.h.
 */
#include "app/backup/cut_proof.h"

#include <string.h>

#include "ctrl/object.h"
#include "util/clock.h"
#include "util/error.h"

/* The resolution an RFC 3339 time is written in: 1 s without a fraction,
 * 10^(9-n) ns with n fractional digits (at most 9 count). */
static int64_t cut_proof_rfc3339_resolution(const char *text)
{
	const char *dot = strchr(text, '.');
	int64_t res = SS_NS_PER_SEC;
	int digits = 0;

	if (dot == NULL)
		return res;
	for (dot++; *dot >= '0' && *dot <= '9' && digits < 9; dot++, digits++)
		res /= 10;
	return res;
}

static int cut_proof_from_content(app_cut_proof_time *out, const json_t *content)
{
	const json_t *t = json_object_get(json_object_get(content, "status"),
					  "creationTime");

	if (t == NULL || json_is_null(t))
		return SS_ENOTFOUND;
	if (!json_is_integer(t) || json_integer_value(t) <= 0)
		return ss_error_set(SS_EINVALID,
				    "VolumeSnapshotContent %s: status.creationTime is "
				    "not a positive integer of nanoseconds",
				    ctrl_meta(content, "name") ? ctrl_meta(content, "name")
							       : "?");
	out->cut_ns = (int64_t)json_integer_value(t);
	out->resolution_ns = 1;
	out->source = "VolumeSnapshotContent";
	return 0;
}

int app_cut_proof_time_read(app_cut_proof_time *out, const json_t *content,
			    const json_t *vs)
{
	const char *name = ctrl_meta(vs, "name") ? ctrl_meta(vs, "name") : "?";
	const json_t *t;
	app_cut_proof_time c;
	int rc;

	rc = cut_proof_from_content(&c, content);
	if (rc == 0) {
		*out = c;
		return 0;
	}
	if (rc != SS_ENOTFOUND)
		return rc;
	t = json_object_get(json_object_get(vs, "status"), "creationTime");
	if (!json_is_string(t))
		return ss_error_set(SS_ENOTFOUND,
				    "VolumeSnapshot %s reports no creationTime", name);
	if (ss_time_parse(&c.cut_ns, json_string_value(t)) != 0 || c.cut_ns <= 0)
		return ss_error_set(SS_EINVALID,
				    "VolumeSnapshot %s: status.creationTime \"%.64s\" is "
				    "not a time after 1970",
				    name, json_string_value(t));
	c.resolution_ns = cut_proof_rfc3339_resolution(json_string_value(t));
	c.source = "VolumeSnapshot";
	*out = c;
	return 0;
}

bool app_cut_proof_outside(const app_cut_proof_time *c, int64_t acquired_ns,
			   int64_t released_ns)
{
	/* [cut, cut + resolution) against [acquired, released]; the sums stay
	 * far from overflow for any time before 2262. */
	return c->cut_ns + c->resolution_ns <= acquired_ns || c->cut_ns > released_ns;
}
