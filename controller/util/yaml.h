/*
 * yaml.h — YAML text to a jansson JSON value, via libyaml.
 *
 * One document: a second one with content is SS_EINVALID (a file of two
 * concatenated kubeconfigs would otherwise lose the second silently); an
 * empty one after it (a trailing "---") is fine. Scalars follow the YAML
 * 1.2 core schema for plain (unquoted) text: true/false, null/~/empty, integers and floats
 * become JSON values of those types; everything quoted stays a string. Tags
 * are ignored (libyaml's loader does not say whether a tag was explicit), so
 * write "true" in quotes, not !!str true. Mapping keys are always strings;
 * a key given twice in one mapping is SS_EINVALID, never a silent
 * last-wins (which of two CAs or tokens was meant cannot be known), and so
 * is a key holding a NUL byte.
 *
 * Merge keys: a plain `<<` key whose value is a mapping (usually an alias,
 * `<<: *defaults`) or a list of mappings merges those mappings' keys into
 * its own as YAML 1.1 and kubectl do: keys written in the mapping itself
 * win, then earlier mappings of the list over later ones. A quoted "<<" is
 * an ordinary key.
 *
 * Bounds, so that no input can make the converter use unbounded memory:
 * nesting deeper than SS_YAML_MAX_DEPTH levels (checked on the event
 * stream, before libyaml builds its tree), more than SS_YAML_MAX_VALUES
 * values after aliases and merges are expanded, or more than
 * SS_YAML_MAX_EXTRA_BYTES bytes of keys and scalar text beyond the input's
 * own length (an alias copies its anchor's text per use: a 300 KB scalar
 * used 10,000 times would be 3 GB) fail with SS_ETOOLARGE.
 *
 * Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_UTIL_YAML_H
#define SNAPSTAGE_UTIL_YAML_H

#include <stddef.h>

#include <jansson.h>

#define SS_YAML_MAX_DEPTH 64
#define SS_YAML_MAX_VALUES 100000
#define SS_YAML_MAX_EXTRA_BYTES ((size_t)4 << 20)

/* On success *out is a new reference (json_decref it); an empty input gives
 * JSON null. Syntax errors are SS_EINVALID with `origin` (e.g. a file name),
 * line and column in the message. */
int ss_yaml_to_json(json_t **out, const char *text, size_t len, const char *origin);

#endif
