/*
 * rest.h — the Kubernetes API verbs, for any group/version/resource.
 *
 * Thin wrappers over kube_request_do() that build the path and query string
 * the API server expects. Failures carry the codes of util/error.h: a caller
 * writes `if (error == SS_ENOTFOUND)` or `if (error == SS_ECONFLICT)`.
 *
 * Ownership: every `json_t **out` receives a new reference (json_decref it),
 * written only on success; `out` may be NULL when the answer is not needed.
 * Objects passed in are borrowed. Thread-safety: as kube_client.
 */
#ifndef SNAPSTAGE_KUBE_REST_H
#define SNAPSTAGE_KUBE_REST_H

#include <stdbool.h>

#include <jansson.h>

#include "kube/client.h"

typedef struct {
	const char *label_selector;
	const char *field_selector;
	long limit;			    /* page size; 0: no paging */
	const char *continue_token;	    /* from a previous page */
	const char *resource_version;	    /* "0": any cached version is fine */
	const char *resource_version_match; /* "NotOlderThan" or "Exact" */
	/* kube_list_all only: called with each item as its page arrives (the
	 * item is borrowed for the call, which may modify it); items are then not
	 * collected, so a large collection never sits in memory whole. A negative return
	 * stops the listing with that code. */
	int (*each_item)(json_t *item, void *payload);
	void *each_item_payload;
} kube_list_opts;

typedef enum {
	KUBE_PATCH_MERGE, /* application/merge-patch+json (RFC 7386) */
	KUBE_PATCH_JSON,  /* application/json-patch+json (RFC 6902) */
	KUBE_PATCH_APPLY, /* server-side apply; needs a field manager */
} kube_patch_type;

typedef struct {
	const char *field_manager; /* required for KUBE_PATCH_APPLY */
	bool force;		   /* apply: take ownership of conflicting fields */
	const char *subresource;   /* e.g. "status"; NULL for the object */
	bool dry_run;		   /* dryRun=All: validate, persist nothing */
} kube_patch_opts;

typedef enum {
	KUBE_PROPAGATION_DEFAULT = 0, /* the resource's own default */
	KUBE_PROPAGATION_BACKGROUND,
	KUBE_PROPAGATION_FOREGROUND,
	KUBE_PROPAGATION_ORPHAN,
} kube_propagation;

typedef struct {
	kube_propagation propagation;
	const char *precondition_uid;		   /* delete only this incarnation */
	const char *precondition_resource_version; /* … only at this version */
	long grace_period_seconds;		   /* -1: the default */
} kube_delete_opts;

#define KUBE_DELETE_OPTS_INIT                            \
	{                                                \
		KUBE_PROPAGATION_DEFAULT, NULL, NULL, -1 \
	}

int kube_get(json_t **out, kube_client *c, const kube_resource *res, const char *ns,
	     const char *name);

/* kube_get() of an object that holds a secret (a Secret): the response's
 * bytes are wiped from our buffers once decoded. Wipe *out's strings with
 * kube_json_wipe() before freeing it. (Copies inside libcurl, OpenSSL and
 * jansson's parser are theirs: freed, not wiped.) */
int kube_get_sensitive(json_t **out, kube_client *c, const kube_resource *res,
		       const char *ns, const char *name);

/* Overwrites every string value in v (objects and arrays, recursively) with
 * zero bytes, in place: for a decoded Secret about to be freed. Keys are
 * left as they are (a Secret's keys are names, not values). */
void kube_json_wipe(json_t *v);

/* One page (or the whole collection when opts->limit is 0). `ns` NULL lists
 * all namespaces. The page's metadata.continue, if any, names the next. */
int kube_list(json_t **out, kube_client *c, const kube_resource *res, const char *ns,
	      const kube_list_opts *opts);

/* Every page, following continue tokens (page size opts->limit, default 500).
 * *out_items is a JSON array of all items (empty when opts->each_item
 * consumed them; out_items may then be NULL); *out_resource_version (caller
 * frees) is the list's resourceVersion, from which a watch can start. An
 * expired continue token fails with SS_EGONE: list again. */
int kube_list_all(json_t **out_items, char **out_resource_version, kube_client *c,
		  const kube_resource *res, const char *ns, const kube_list_opts *opts);

/* `ns` may be NULL for namespaced resources to use the object's
 * metadata.namespace. `dry_run` validates without persisting. */
int kube_create(json_t **out, kube_client *c, const kube_resource *res, const char *ns,
		const json_t *obj);
int kube_create_dry_run(json_t **out, kube_client *c, const kube_resource *res,
			const char *ns, const json_t *obj);

/* PUT of the whole object, name and namespace from its metadata. A
 * metadata.resourceVersion makes it conditional: stale → SS_ECONFLICT. */
int kube_update(json_t **out, kube_client *c, const kube_resource *res,
		const json_t *obj);
/* The same through the /status subresource: only status changes. */
int kube_update_status(json_t **out, kube_client *c, const kube_resource *res,
		       const json_t *obj);

int kube_patch(json_t **out, kube_client *c, const kube_resource *res, const char *ns,
	       const char *name, kube_patch_type type, const json_t *patch,
	       const kube_patch_opts *opts);

/* `opts` may be NULL. *out (may be NULL) is the server's answer: the object
 * as it is being deleted, or a Status. */
int kube_delete(json_t **out, kube_client *c, const kube_resource *res, const char *ns,
		const char *name, const kube_delete_opts *opts);

#endif
