/*
 * yaml.c — libyaml document tree to jansson. See yaml.h.
 */
#include "util/yaml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "util/error.h"

#define MAX_DEPTH 64
#define MAX_VALUES 100000

typedef struct {
	yaml_document_t *doc;
	const char *origin;
	size_t values;
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

		if (*end == '\0')
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

static int convert_mapping(json_t *obj, convert_ctx *ctx, yaml_node_t *node, int depth)
{
	yaml_node_pair_t *pair;

	for (pair = node->data.mapping.pairs.start; pair < node->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *key = yaml_document_get_node(ctx->doc, pair->key);
		yaml_node_t *val = yaml_document_get_node(ctx->doc, pair->value);
		json_t *child = NULL;
		int error;

		if (!key || key->type != YAML_SCALAR_NODE)
			return ss_error_set(
				SS_EINVALID, "%s: line %zu: mapping keys must be scalars",
				ctx->origin, key ? key->start_mark.line + 1 : 0);
		error = convert(&child, ctx, val, depth + 1);
		if (error < 0)
			return error;
		if (json_object_set_new(obj, (const char *)key->data.scalar.value,
					child) < 0)
			return ss_error_set(SS_ENOMEM, "out of memory");
	}
	return 0;
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
	if (depth > MAX_DEPTH)
		return ss_error_set(SS_ETOOLARGE,
				    "%s: line %zu: nesting deeper than %d levels",
				    ctx->origin, node->start_mark.line + 1, MAX_DEPTH);
	if (++ctx->values > MAX_VALUES)
		return ss_error_set(SS_ETOOLARGE,
				    "%s: more than %d values (alias expansion?)",
				    ctx->origin, MAX_VALUES);
	switch (node->type) {
	case YAML_SCALAR_NODE: v = scalar(node); break;
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

int ss_yaml_to_json(json_t **out, const char *text, size_t len, const char *origin)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	convert_ctx ctx = { &doc, origin, 0 };
	yaml_node_t *root;
	json_t *result = NULL;
	int error;

	if (!yaml_parser_initialize(&parser))
		return ss_error_set(SS_ENOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		error = ss_error_set(
			SS_EINVALID, "%s: line %zu column %zu: %s%s%s", origin,
			parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			parser.problem ? parser.problem : "invalid YAML",
			parser.context ? " " : "", parser.context ? parser.context : "");
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
