/*
 * object.c — keys and metadata accessors. See object.h.
 */
#include "ctrl/object.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"

const char *ctrl_meta(const json_t *obj, const char *field)
{
	return json_string_value(
		json_object_get(json_object_get(obj, "metadata"), field));
}

static const char *meta_map(const json_t *obj, const char *map, const char *name)
{
	return json_string_value(json_object_get(
		json_object_get(json_object_get(obj, "metadata"), map), name));
}

const char *ctrl_label(const json_t *obj, const char *name)
{
	return meta_map(obj, "labels", name);
}

const char *ctrl_annotation(const json_t *obj, const char *name)
{
	return meta_map(obj, "annotations", name);
}

int ctrl_key_join(char *buf, size_t cap, const char *ns, const char *name)
{
	int n;

	if (!name || !*name)
		return ss_error_set(SS_EINVALID, "an object key needs a name");
	if (ns && *ns)
		n = snprintf(buf, cap, "%s/%s", ns, name);
	else
		n = snprintf(buf, cap, "%s", name);
	if (n < 0 || (size_t)n >= cap)
		return ss_error_set(SS_EINVALID, "object key for '%s' is too long", name);
	return 0;
}

int ctrl_key_of(char *buf, size_t cap, const json_t *obj)
{
	return ctrl_key_join(buf, cap, ctrl_meta(obj, "namespace"),
			     ctrl_meta(obj, "name"));
}

int ctrl_key_split(const char *key, char *ns, size_t ns_cap, char *name, size_t name_cap)
{
	const char *slash = strchr(key, '/');
	size_t ns_len = slash ? (size_t)(slash - key) : 0;
	const char *n = slash ? slash + 1 : key;

	if (!*n || strchr(n, '/') || ns_len >= ns_cap || strlen(n) >= name_cap ||
	    (slash && ns_len == 0))
		return ss_error_set(SS_EINVALID, "'%s' is not a namespace/name key", key);
	memcpy(ns, key, ns_len);
	ns[ns_len] = '\0';
	memcpy(name, n, strlen(n) + 1);
	return 0;
}
