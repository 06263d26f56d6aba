/*
 * url.c — API paths and query strings. See url.h.
 */
#include "kube/url.h"

#include <stdio.h>
#include <string.h>

#include "util/error.h"

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

int kube_url_escape(ss_buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char enc[3] = { '%', hex[c >> 4], hex[c & 15] };
		int error = unreserved(c) ? ss_buf_putc(out, (char)c)
					  : ss_buf_put(out, enc, 3);

		if (error < 0)
			return error;
	}
	return 0;
}

static int segment(ss_buf *out, const char *s)
{
	int error = ss_buf_putc(out, '/');

	return error < 0 ? error : kube_url_escape(out, s);
}

static bool empty(const char *s)
{
	return !s || !*s;
}

int kube_url_path(ss_buf *out, const kube_resource *res, const char *ns, const char *name,
		  const char *subresource)
{
	int error;

	if (empty(res->version) || empty(res->resource))
		return ss_error_set(SS_EINVALID,
				    "a resource needs a version and a plural name");
	if (res->namespaced && empty(ns) && !empty(name))
		return ss_error_set(SS_EINVALID,
				    "%s is namespaced: a namespace is required",
				    res->resource);
	if (!res->namespaced && !empty(ns))
		return ss_error_set(SS_EINVALID,
				    "%s is cluster-scoped: no namespace allowed",
				    res->resource);
	if (!empty(subresource) && empty(name))
		return ss_error_set(SS_EINVALID, "subresource %s needs an object name",
				    subresource);
	if (empty(res->group)) {
		error = ss_buf_puts(out, "/api");
	} else {
		error = ss_buf_puts(out, "/apis");
		if (error == 0)
			error = segment(out, res->group);
	}
	if (error == 0)
		error = segment(out, res->version);
	if (error == 0 && !empty(ns)) {
		error = segment(out, "namespaces");
		if (error == 0)
			error = segment(out, ns);
	}
	if (error == 0)
		error = segment(out, res->resource);
	if (error == 0 && !empty(name))
		error = segment(out, name);
	if (error == 0 && !empty(subresource))
		error = segment(out, subresource);
	return error;
}

int kube_url_query_add(ss_buf *query, const char *key, const char *value)
{
	int error = 0;

	if (empty(value))
		return 0;
	if (query->len > 0)
		error = ss_buf_putc(query, '&');
	if (error == 0)
		error = kube_url_escape(query, key);
	if (error == 0)
		error = ss_buf_putc(query, '=');
	if (error == 0)
		error = kube_url_escape(query, value);
	return error;
}

int kube_url_query_add_long(ss_buf *query, const char *key, long value)
{
	char num[32];
	int n = snprintf(num, sizeof(num), "%ld", value);

	if (n < 0 || (size_t)n >= sizeof(num))
		return ss_error_set(SS_ERROR, "cannot format %s", key);
	return kube_url_query_add(query, key, num);
}
