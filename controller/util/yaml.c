/*
 * yaml.c — libyaml document tree to jansson. See yaml.h.
 *
 * Two passes over the text: the event stream first, to bound the nesting
 * and count the documents before libyaml builds a tree (its loader keeps a
 * node per level, so 4 MB of '[' would be ~4 million nodes), then the
 * document tree, converted with aliases expanded and merge keys merged
 * while every value and every byte of key or scalar text produced is
 * counted against the bounds of yaml.h.
 */
#include "util/yaml.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "util/error.h"

#define MAX_DEPTH SS_YAML_MAX_DEPTH
#define MAX_VALUES SS_YAML_MAX_VALUES

typedef struct {
	yaml_document_t *doc;
	const char *origin;
	size_t values;
	size_t bytes;	  /* key and scalar text produced so far */
	size_t max_bytes; /* the input's length + SS_YAML_MAX_EXTRA_BYTES */
} convert_ctx;

static int is_int_text(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static json_t *plain_scalar(const char *s)
{
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_false();
	if (!strcmp(s, "") || !strcmp(s, "~") || !strcmp(s, "null") ||
	    !strcmp(s, "Null") || !strcmp(s, "NULL"))
		return json_null();
	if (is_int_text(s)) {
		char *end = NULL;
		long long v;

		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno == 0 && *end == '\0')
			return json_integer(v);
	} else if (strspn(s, "+-0123456789.eE") == strlen(s) && strchr(s, '.') &&
		   strpbrk(s, "0123456789")) {
		char *end = NULL;
		double d = strtod(s, &end);

		/* 1.0e999 is infinite, which JSON has no way to say: text */
		if (*end == '\0' && isfinite(d))
			return json_real(d);
	}
	return json_string(s);
}

static json_t *scalar(const yaml_node_t *node)
{
	const char *text = (const char *)node->data.scalar.value;

	/* The loader tags every untagged scalar !!str, so only the style tells
	 * quoted text from a plain `true` or `42`. */
	if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_stringn(text, node->data.scalar.length);
	return plain_scalar(text);
}

static int convert(json_t **out, convert_ctx *ctx, yaml_node_t *node, int depth);

static int count_bytes(convert_ctx *ctx, size_t n)
{
	if (n > ctx->max_bytes - ctx->bytes)
		return ss_error_set(SS_ETOOLARGE,
				    "%s: more than %zu bytes of text after aliases are "
				    "expanded",
				    ctx->origin, ctx->max_bytes);
	ctx->bytes += n;
	return 0;
}

/* A plain `<<`: a YAML 1.1 merge key. Quoted, it is an ordinary key. */
static int is_merge_key(const yaml_node_t *key)
{
	return key->type == YAML_SCALAR_NODE &&
	       key->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       key->data.scalar.length == 2 &&
	       !memcmp(key->data.scalar.value, "<<", 2);
}

static int set_key(json_t *obj, convert_ctx *ctx, const yaml_node_t *key,
		   yaml_node_t *val, int depth)
{
	const char *name = (const char *)key->data.scalar.value;
	json_t *child = NULL;
	int error;

	if (strlen(name) != key->data.scalar.length)
		return ss_error_set(SS_EINVALID, "%s: line %zu: a key holds a NUL byte",
				    ctx->origin, key->start_mark.line + 1);
	if (json_object_get(obj, name))
		return ss_error_set(SS_EINVALID, "%s: line %zu: duplicate key '%.64s'",
				    ctx->origin, key->start_mark.line + 1, name);
	error = count_bytes(ctx, key->data.scalar.length);
	if (error == 0)
		error = convert(&child, ctx, val, depth + 1);
	if (error < 0)
		return error;
	if (json_object_set_new(obj, name, child) < 0)
		return ss_error_set(SS_ENOMEM, "out of memory");
	return 0;
}

/* Adds the keys of mapping `src` that `obj` lacks (see yaml.h). */
static int merge_one(json_t *obj, convert_ctx *ctx, yaml_node_t *src, int depth)
{
	json_t *from = NULL, *v;
	const char *k;
	int error;

	if (!src || src->type != YAML_MAPPING_NODE)
		return ss_error_set(SS_EINVALID,
				    "%s: line %zu: a merge key (<<) takes a mapping or a "
				    "list of mappings",
				    ctx->origin, src ? src->start_mark.line + 1 : 0);
	error = convert(&from, ctx, src, depth + 1);
	if (error < 0)
		return error;
	json_object_foreach (from, k, v) {
		if (!json_object_get(obj, k) && json_object_set(obj, k, v) < 0) {
			json_decref(from);
			return ss_error_set(SS_ENOMEM, "out of memory");
		}
	}
	json_decref(from);
	return 0;
}

static int merge(json_t *obj, convert_ctx *ctx, yaml_node_t *val, int depth)
{
	yaml_node_item_t *item;
	int error = 0;

	if (!val || val->type != YAML_SEQUENCE_NODE)
		return merge_one(obj, ctx, val, depth);
	for (item = val->data.sequence.items.start;
	     item < val->data.sequence.items.top && error == 0; item++)
		error = merge_one(obj, ctx, yaml_document_get_node(ctx->doc, *item),
				  depth);
	return error;
}

/* The keys written in the mapping first, then the merges, which only add
 * what is missing: the mapping's own keys win wherever `<<` stands. */
static int convert_mapping(json_t *obj, convert_ctx *ctx, yaml_node_t *node, int depth)
{
	yaml_node_pair_t *pair, *merge_pair = NULL;
	int error;

	for (pair = node->data.mapping.pairs.start; pair < node->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *key = yaml_document_get_node(ctx->doc, pair->key);

		if (!key || key->type != YAML_SCALAR_NODE)
			return ss_error_set(
				SS_EINVALID, "%s: line %zu: mapping keys must be scalars",
				ctx->origin, key ? key->start_mark.line + 1 : 0);
		if (is_merge_key(key)) {
			if (merge_pair)
				return ss_error_set(SS_EINVALID,
						    "%s: line %zu: duplicate key '<<'",
						    ctx->origin, key->start_mark.line + 1);
			merge_pair = pair;
			continue;
		}
		error = set_key(obj, ctx, key,
				yaml_document_get_node(ctx->doc, pair->value), depth);
		if (error < 0)
			return error;
	}
	if (!merge_pair)
		return 0;
	return merge(obj, ctx, yaml_document_get_node(ctx->doc, merge_pair->value), depth);
}

static int convert_sequence(json_t *arr, convert_ctx *ctx, yaml_node_t *node, int depth)
{
	yaml_node_item_t *item;

	for (item = node->data.sequence.items.start; item < node->data.sequence.items.top;
	     item++) {
		json_t *child = NULL;
		int error = convert(&child, ctx, yaml_document_get_node(ctx->doc, *item),
				    depth + 1);

		if (error < 0)
			return error;
		if (json_array_append_new(arr, child) < 0)
			return ss_error_set(SS_ENOMEM, "out of memory");
	}
	return 0;
}

static int convert(json_t **out, convert_ctx *ctx, yaml_node_t *node, int depth)
{
	json_t *v = NULL;
	int error = 0;

	if (!node)
		return ss_error_set(SS_EINVALID, "%s: dangling YAML node", ctx->origin);
	/* Containers at depths 0 to MAX_DEPTH - 1: MAX_DEPTH levels, as on
	 * the event stream, so what is produced always converts again. */
	if (node->type != YAML_SCALAR_NODE && depth >= MAX_DEPTH)
		return ss_error_set(SS_ETOOLARGE,
				    "%s: line %zu: nesting deeper than %d levels",
				    ctx->origin, node->start_mark.line + 1, MAX_DEPTH);
	if (++ctx->values > MAX_VALUES)
		return ss_error_set(SS_ETOOLARGE,
				    "%s: more than %d values (alias expansion?)",
				    ctx->origin, MAX_VALUES);
	switch (node->type) {
	case YAML_SCALAR_NODE:
		error = count_bytes(ctx, node->data.scalar.length);
		if (error < 0)
			return error;
		v = scalar(node);
		break;
	case YAML_MAPPING_NODE:
		v = json_object();
		if (v)
			error = convert_mapping(v, ctx, node, depth);
		break;
	case YAML_SEQUENCE_NODE:
		v = json_array();
		if (v)
			error = convert_sequence(v, ctx, node, depth);
		break;
	default: return ss_error_set(SS_EINVALID, "%s: empty YAML node", ctx->origin);
	}
	if (!v)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (error < 0) {
		json_decref(v);
		return error;
	}
	*out = v;
	return 0;
}

static int syntax_error(const yaml_parser_t *parser, const char *origin)
{
	return ss_error_set(SS_EINVALID, "%s: line %zu column %zu: %s%s%s", origin,
			    parser->problem_mark.line + 1, parser->problem_mark.column + 1,
			    parser->problem ? parser->problem : "invalid YAML",
			    parser->context ? " " : "",
			    parser->context ? parser->context : "");
}

/* An empty document: what a trailing "---" gives. */
static int is_empty_scalar(const yaml_event_t *ev)
{
	return ev->type == YAML_SCALAR_EVENT && ev->data.scalar.length == 0 &&
	       ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.anchor;
}

/* The first pass: syntax, nesting depth and the number of documents, on
 * events that are freed one by one, so memory stays bounded. */
static int check_events(const char *text, size_t len, const char *origin)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0, docs = 0, after_second_start = 0, error = 0;
	bool done = false;

	if (!yaml_parser_initialize(&parser))
		return ss_error_set(SS_ENOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && error == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			error = syntax_error(&parser, origin);
			break;
		}
		if (after_second_start && !is_empty_scalar(&ev))
			error = ss_error_set(SS_EINVALID,
					     "%s: line %zu: a second YAML document; "
					     "only one is read",
					     origin, ev.start_mark.line + 1);
		after_second_start = 0;
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT: after_second_start = ++docs > 1; break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > MAX_DEPTH && error == 0)
				error = ss_error_set(
					SS_ETOOLARGE,
					"%s: line %zu: nesting deeper than %d levels",
					origin, ev.start_mark.line + 1, MAX_DEPTH);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT: depth--; break;
		case YAML_STREAM_END_EVENT: done = true; break;
		default: break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return error;
}

int ss_yaml_to_json(json_t **out, const char *text, size_t len, const char *origin)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	convert_ctx ctx = { &doc, origin, 0, 0, len + SS_YAML_MAX_EXTRA_BYTES };
	yaml_node_t *root;
	json_t *result = NULL;
	int error = check_events(text, len, origin);

	if (error < 0)
		return error;
	if (!yaml_parser_initialize(&parser))
		return ss_error_set(SS_ENOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		error = syntax_error(&parser, origin);
		yaml_parser_delete(&parser);
		return error;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		result = json_null();
		error = 0;
	} else {
		error = convert(&result, &ctx, root, 0);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (error == 0)
		*out = result;
	return error;
}
