/*
 * discovery.c — see discovery.h. Reads /api/v1 or /apis/GROUP/VERSION, the
 * APIResourceList of one group/version, which is small and cheap.
 */
#include "kube/discovery.h"

#include <string.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/str.h"

int kube_discover_resource(kube_resource_info *out, kube_client *c, const char *group,
			   const char *version, const char *resource)
{
	ss_buf path = SS_BUF_INIT(1024);
	kube_request req = { .method = "GET" };
	json_t *list = NULL, *resources;
	const char *gv = (group && *group) ? group : "core";
	size_t i;
	int error;

	if (group && *group)
		error = ss_buf_printf(&path, "/apis/%s/%s", group, version);
	else
		error = ss_buf_printf(&path, "/api/%s", version);
	if (error < 0)
		return error;
	req.path = ss_buf_cstr(&path);
	error = kube_request_do(&list, c, &req);
	if (error == SS_ENOTFOUND) {
		error = ss_error_set(
			SS_ENOTFOUND,
			"the API server does not serve %s/%s (is its CRD installed?)", gv,
			version);
		goto done;
	}
	if (error < 0)
		goto done;
	resources = json_object_get(list, "resources");
	for (i = 0; i < json_array_size(resources); i++) {
		const json_t *r = json_array_get(resources, i);

		if (!ss_streq(json_string_value(json_object_get(r, "name")), resource))
			continue;
		if (out) {
			const char *kind = json_string_value(json_object_get(r, "kind"));

			ss_strlcpy(out->kind, kind ? kind : "", sizeof(out->kind));
			out->namespaced = json_is_true(json_object_get(r, "namespaced"));
		}
		goto done;
	}
	error = ss_error_set(
		SS_ENOTFOUND,
		"the API server serves %s/%s but not %s (is its CRD installed?)", gv,
		version, resource);
done:
	json_decref(list);
	ss_buf_free(&path);
	return error;
}

/* Whether the API server says it is ready (GET /readyz answers 2xx). A
 * kube-apiserver that has just started answers discovery of CRD groups with
 * 404 until its CRD informers have synced, while /readyz still fails: only
 * a ready server's 404 means "not served" (found by the soak). */
static bool server_ready(kube_client *c)
{
	kube_request req = { .method = "GET", .path = "/readyz" };

	return kube_request_do(NULL, c, &req) == 0;
}

int kube_discover_served(bool *served, kube_client *c, const char *group,
			 const char *version, const char *resource,
			 kube_discover_wait_fn wait, void *payload)
{
	int64_t backoff_ns = SS_NS_PER_SEC;
	char missing[SS_ERROR_MESSAGE_MAX];
	int error;

	for (;;) {
		error = kube_discover_resource(NULL, c, group, version, resource);
		if (error == SS_ENOTFOUND) {
			ss_strlcpy(missing, ss_error_last()->message, sizeof(missing));
			if (!server_ready(c))
				error = ss_error_set(SS_ESERVER,
						     "%s; but the API server is not ready "
						     "yet (GET /readyz: %s)",
						     missing, ss_error_last()->message);
		}
		if (error == 0 || error == SS_ENOTFOUND) {
			*served = error == 0;
			return 0;
		}
		if (!wait(payload, backoff_ns))
			return error;
		backoff_ns = backoff_ns * 2 > 10 * SS_NS_PER_SEC ? 10 * SS_NS_PER_SEC
								 : backoff_ns * 2;
	}
}
