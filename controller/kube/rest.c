/*
 * rest.c — API verbs over kube_request_do(). See rest.h.
 */
#include "kube/rest.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/str.h"

#define MAX_QUERY_BYTES 8192
#define DEFAULT_PAGE_SIZE 500

static const char *meta_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static int list_query(ss_buf *q, const kube_list_opts *opts)
{
	int error = 0;

	if (!opts)
		return 0;
	error = kube_url_query_add(q, "labelSelector", opts->label_selector);
	if (error == 0)
		error = kube_url_query_add(q, "fieldSelector", opts->field_selector);
	if (error == 0 && opts->limit > 0)
		error = kube_url_query_add_long(q, "limit", opts->limit);
	if (error == 0)
		error = kube_url_query_add(q, "continue", opts->continue_token);
	if (error == 0)
		error = kube_url_query_add(q, "resourceVersion", opts->resource_version);
	if (error == 0)
		error = kube_url_query_add(q, "resourceVersionMatch",
					   opts->resource_version_match);
	return error;
}

int kube_get(json_t **out, kube_client *c, const kube_resource *res, const char *ns,
	     const char *name)
{
	kube_request req = { .method = "GET", .resource = res, .ns = ns, .name = name };

	if (!name || !*name)
		return ss_error_set(SS_EINVALID, "get %s: a name is required",
				    res->resource);
	return kube_request_do(out, c, &req);
}

int kube_get_sensitive(json_t **out, kube_client *c, const kube_resource *res,
		       const char *ns, const char *name)
{
	kube_request req = { .method = "GET", .resource = res, .ns = ns, .name = name,
			     .sensitive = true };

	if (!name || !*name)
		return ss_error_set(SS_EINVALID, "get %s: a name is required",
				    res->resource);
	return kube_request_do(out, c, &req);
}

void kube_json_wipe(json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_string(v)) {
		/* jansson's own copy: a malloc'd buffer, not const storage. */
		ss_wipe((char *)json_string_value(v), json_string_length(v));
	} else if (json_is_object(v)) {
		json_object_foreach(v, key, item)
			kube_json_wipe(item);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
			kube_json_wipe(item);
	}
}

int kube_list(json_t **out, kube_client *c, const kube_resource *res, const char *ns,
	      const kube_list_opts *opts)
{
	ss_buf q = SS_BUF_INIT(MAX_QUERY_BYTES);
	kube_request req = { .method = "GET", .resource = res, .ns = ns };
	int error = list_query(&q, opts);

	if (error == 0) {
		req.query = ss_buf_cstr(&q);
		error = kube_request_do(out, c, &req);
	}
	ss_buf_free(&q);
	return error;
}

/* A page's items: to opts->each_item one by one (a negative answer stops
 * the list), or else appended to `items`. */
static int take_items(json_t *items, const json_t *page, const kube_list_opts *opts)
{
	json_t *page_items = json_object_get(page, "items");
	json_t *item;
	size_t i;

	if (!opts->each_item) {
		if (json_array_extend(items, page_items) < 0 && json_is_array(page_items))
			return ss_error_set(SS_ENOMEM, "out of memory");
		return 0;
	}
	json_array_foreach(page_items, i, item)
	{
		int stop = opts->each_item(item, opts->each_item_payload);

		if (stop < 0)
			return stop;
	}
	return 0;
}

int kube_list_all(json_t **out_items, char **out_resource_version, kube_client *c,
		  const kube_resource *res, const char *ns, const kube_list_opts *opts)
{
	kube_list_opts page_opts = { 0 };
	json_t *items = json_array();
	json_t *page = NULL;
	char *rv = NULL, *cont = NULL;
	int error = 0;

	if (!items)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (opts)
		page_opts = *opts;
	if (page_opts.limit <= 0)
		page_opts.limit = DEFAULT_PAGE_SIZE;
	for (;;) {
		const char *next;

		page_opts.continue_token = cont;
		if (cont) {
			/* The token pins the list's version; sending one too is an error.
			 */
			page_opts.resource_version = NULL;
			page_opts.resource_version_match = NULL;
		}
		error = kube_list(&page, c, res, ns, &page_opts);
		if (error < 0)
			goto done;
		error = take_items(items, page, &page_opts);
		if (error < 0)
			goto done;
		if (!rv) {
			rv = ss_strdup(meta_str(page, "resourceVersion"));
			if (!rv) {
				error = ss_error_set(SS_EINVALID,
						     "list of %s has no resourceVersion",
						     res->resource);
				goto done;
			}
		}
		next = meta_str(page, "continue");
		free(cont);
		cont = (next && *next) ? ss_strdup(next) : NULL;
		json_decref(page);
		page = NULL;
		if (!cont)
			break;
	}
	if (out_items) {
		*out_items = items;
		items = NULL;
	}
	if (out_resource_version) {
		*out_resource_version = rv;
		rv = NULL;
	}
done:
	json_decref(page);
	json_decref(items);
	free(rv);
	free(cont);
	return error;
}

static int create(json_t **out, kube_client *c, const kube_resource *res, const char *ns,
		  const json_t *obj, bool dry_run)
{
	kube_request req = { .method = "POST", .resource = res, .body = obj };

	req.ns = (ns && *ns) ? ns : meta_str(obj, "namespace");
	if (res->namespaced && (!req.ns || !*req.ns))
		return ss_error_set(SS_EINVALID,
				    "create %s: no namespace given or in metadata",
				    res->resource);
	req.query = dry_run ? "dryRun=All" : NULL;
	return kube_request_do(out, c, &req);
}

int kube_create(json_t **out, kube_client *c, const kube_resource *res, const char *ns,
		const json_t *obj)
{
	return create(out, c, res, ns, obj, false);
}

int kube_create_dry_run(json_t **out, kube_client *c, const kube_resource *res,
			const char *ns, const json_t *obj)
{
	return create(out, c, res, ns, obj, true);
}

static int put(json_t **out, kube_client *c, const kube_resource *res, const json_t *obj,
	       const char *subresource)
{
	kube_request req = {
		.method = "PUT", .resource = res, .body = obj, .subresource = subresource
	};

	req.name = meta_str(obj, "name");
	req.ns = res->namespaced ? meta_str(obj, "namespace") : NULL;
	if (!req.name || !*req.name)
		return ss_error_set(SS_EINVALID, "update %s: object has no metadata.name",
				    res->resource);
	if (res->namespaced && (!req.ns || !*req.ns))
		return ss_error_set(SS_EINVALID,
				    "update %s/%s: object has no metadata.namespace",
				    res->resource, req.name);
	return kube_request_do(out, c, &req);
}

int kube_update(json_t **out, kube_client *c, const kube_resource *res, const json_t *obj)
{
	return put(out, c, res, obj, NULL);
}

int kube_update_status(json_t **out, kube_client *c, const kube_resource *res,
		       const json_t *obj)
{
	return put(out, c, res, obj, "status");
}

int kube_patch(json_t **out, kube_client *c, const kube_resource *res, const char *ns,
	       const char *name, kube_patch_type type, const json_t *patch,
	       const kube_patch_opts *opts)
{
	static const char *const content_types[] = {
		[KUBE_PATCH_MERGE] = "application/merge-patch+json",
		[KUBE_PATCH_JSON] = "application/json-patch+json",
		[KUBE_PATCH_APPLY] = "application/apply-patch+yaml",
	};
	kube_patch_opts none = { 0 };
	ss_buf q = SS_BUF_INIT(MAX_QUERY_BYTES);
	kube_request req = {
		.method = "PATCH", .resource = res, .ns = ns, .name = name, .body = patch
	};
	int error = 0;

	if (!opts)
		opts = &none;
	if ((unsigned)type > KUBE_PATCH_APPLY)
		return ss_error_set(SS_EINVALID, "unknown patch type %d", (int)type);
	if (type == KUBE_PATCH_APPLY && (!opts->field_manager || !*opts->field_manager))
		return ss_error_set(SS_EINVALID,
				    "server-side apply needs a field manager");
	req.content_type = content_types[type];
	req.subresource = opts->subresource;
	error = kube_url_query_add(&q, "fieldManager", opts->field_manager);
	if (error == 0 && type == KUBE_PATCH_APPLY && opts->force)
		error = kube_url_query_add(&q, "force", "true");
	if (error == 0 && opts->dry_run)
		error = kube_url_query_add(&q, "dryRun", "All");
	if (error == 0) {
		req.query = ss_buf_cstr(&q);
		error = kube_request_do(out, c, &req);
	}
	ss_buf_free(&q);
	return error;
}

static json_t *delete_options(const kube_delete_opts *opts)
{
	static const char *const policies[] = {
		[KUBE_PROPAGATION_BACKGROUND] = "Background",
		[KUBE_PROPAGATION_FOREGROUND] = "Foreground",
		[KUBE_PROPAGATION_ORPHAN] = "Orphan",
	};
	json_t *body =
		json_pack("{s:s, s:s}", "apiVersion", "v1", "kind", "DeleteOptions");
	json_t *pre = json_object();
	int bad = !body || !pre;

	if (!bad && opts->propagation != KUBE_PROPAGATION_DEFAULT &&
	    (unsigned)opts->propagation <= KUBE_PROPAGATION_ORPHAN)
		bad |= json_object_set_new(body, "propagationPolicy",
					   json_string(policies[opts->propagation]));
	if (!bad && opts->grace_period_seconds >= 0)
		bad |= json_object_set_new(body, "gracePeriodSeconds",
					   json_integer(opts->grace_period_seconds));
	if (!bad && opts->precondition_uid)
		bad |= json_object_set_new(pre, "uid",
					   json_string(opts->precondition_uid));
	if (!bad && opts->precondition_resource_version)
		bad |= json_object_set_new(
			pre, "resourceVersion",
			json_string(opts->precondition_resource_version));
	if (!bad && json_object_size(pre) > 0)
		bad |= json_object_set(body, "preconditions", pre);
	json_decref(pre);
	if (bad) {
		json_decref(body);
		ss_error_set(SS_ENOMEM, "out of memory");
		return NULL;
	}
	return body;
}

int kube_delete(json_t **out, kube_client *c, const kube_resource *res, const char *ns,
		const char *name, const kube_delete_opts *opts)
{
	static const kube_delete_opts defaults = KUBE_DELETE_OPTS_INIT;
	kube_request req = {
		.method = "DELETE", .resource = res, .ns = ns, .name = name
	};
	json_t *body;
	int error;

	if (!name || !*name)
		return ss_error_set(SS_EINVALID, "delete %s: a name is required",
				    res->resource);
	body = delete_options(opts ? opts : &defaults);
	if (!body)
		return SS_ENOMEM;
	req.body = body;
	error = kube_request_do(out, c, &req);
	json_decref(body);
	return error;
}
