/*
 * url.h — building API server paths and query strings.
 *
 * A kube_resource names any group/version/resource, core ("" group, served
 * under /api) or named (under /apis), namespaced or cluster-scoped. Paths are
 * built segment by segment with every segment percent-escaped, so a name can
 * never smuggle a '/', '?' or '#' into the request.
 *
 * Pure functions, no I/O. Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_KUBE_URL_H
#define SNAPSTAGE_KUBE_URL_H

#include <stdbool.h>

#include "util/buf.h"

typedef struct {
	const char *group;    /* "" or NULL for the core group */
	const char *version;  /* "v1", "v1alpha1", … */
	const char *resource; /* the plural: "configmaps" */
	bool namespaced;
} kube_resource;

/* Appends the path of a collection (name NULL) or one object, optionally a
 * subresource ("status", "token", …):
 *   /api/v1/namespaces/NS/configmaps/NAME/status
 *   /apis/GROUP/VERSION/RESOURCE (cluster-scoped, or all namespaces: ns NULL)
 * SS_EINVALID when a namespaced object (name set) has no namespace, a
 * cluster-scoped resource is given one, or a required part is empty. */
int kube_url_path(ss_buf *out, const kube_resource *res, const char *ns, const char *name,
		  const char *subresource);

/* Appends `key=value` to a query string, with '&' when it is not empty and
 * both parts escaped. A NULL or "" value appends nothing. */
int kube_url_query_add(ss_buf *query, const char *key, const char *value);
int kube_url_query_add_long(ss_buf *query, const char *key, long value);

/* Appends `s` percent-escaped: everything but RFC 3986 unreserved bytes. */
int kube_url_escape(ss_buf *out, const char *s);

#endif
