/*
 * yaml.h — YAML text to a jansson JSON value, via libyaml.
 *
 * Only the first document is read. Scalars follow the YAML 1.2 core schema
 * for plain (unquoted) text: true/false, null/~/empty, integers and floats
 * become JSON values of those types; everything quoted stays a string. Tags
 * are ignored (libyaml's loader does not say whether a tag was explicit), so
 * write "true" in quotes, not !!str true. Mapping keys are always strings.
 *
 * Bounds: nesting deeper than 64 levels, or more than 100,000 values after
 * aliases are expanded, fail with SS_ETOOLARGE — an alias bomb cannot make
 * the converter use unbounded memory.
 *
 * Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_UTIL_YAML_H
#define SNAPSTAGE_UTIL_YAML_H

#include <stddef.h>

#include <jansson.h>

/* On success *out is a new reference (json_decref it); an empty input gives
 * JSON null. Syntax errors are SS_EINVALID with `origin` (e.g. a file name),
 * line and column in the message. */
int ss_yaml_to_json(json_t **out, const char *text, size_t len, const char *origin);

#endif
