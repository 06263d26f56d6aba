/*
 * object.h — keys and metadata of Kubernetes objects held as jansson values.
 *
 * A key is "namespace/name" for namespaced objects and "name" for cluster
 * scoped ones, as in client-go; it identifies an object in caches, the
 * workqueue and logs. Keys are bounded by CTRL_KEY_MAX (a namespace is at
 * most 63 bytes and a name at most 253).
 *
 * Ownership: every `const char *` returned points into the object and is
 * borrowed for as long as the caller holds the object. Thread-safety: pure
 * functions; a shared cached object may be read by many threads at once.
 */
#ifndef SNAPSTAGE_CTRL_OBJECT_H
#define SNAPSTAGE_CTRL_OBJECT_H

#include <stddef.h>

#include <jansson.h>

#define CTRL_KEY_MAX 320

/* metadata.<field> as a string, or NULL. */
const char *ctrl_meta(const json_t *obj, const char *field);

/* metadata.labels.<name> (or annotations), or NULL. */
const char *ctrl_label(const json_t *obj, const char *name);
const char *ctrl_annotation(const json_t *obj, const char *name);

/* Writes obj's key into buf (CTRL_KEY_MAX bytes): 0, or SS_EINVALID when
 * the object has no metadata.name. */
int ctrl_key_of(char *buf, size_t cap, const json_t *obj);

/* Joins a namespace (NULL or "" for cluster scope) and a name into a key. */
int ctrl_key_join(char *buf, size_t cap, const char *ns, const char *name);

/* Splits a key into namespace ("" when cluster scoped) and name, each into
 * its own buffer of CTRL_KEY_MAX bytes: 0, or SS_EINVALID. */
int ctrl_key_split(const char *key, char *ns, size_t ns_cap, char *name, size_t name_cap);

#endif
