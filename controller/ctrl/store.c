/*
 * store.c — the informer cache. See store.h.
 *
 * Maps are jansson objects (a well-tested hash table): `texts` from key to
 * the object's compact JSON, `versions` from key to its resourceVersion (so
 * a relist compares versions without parsing), and per index, from value to
 * a set of keys (an object whose members are the keys, valued true). One
 * rwlock guards all of it: reads are many and short, writes come from one
 * reflector thread.
 *
 * Invariant: for every stored object and every index, the object's key is in
 * exactly the index sets of the values the index function gives for that
 * object — put() and delete() remove the old object's entries (parsing the
 * old text) before adding the new one's.
 */
#include "ctrl/store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl/object.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

#define MAX_INDEXES 8

typedef struct {
	char *name;
	ctrl_index_fn fn;
	void *payload;
	json_t *sets; /* value -> {key: true, ...} */
} store_index;

struct ctrl_store {
	pthread_rwlock_t lock;
	json_t *texts;	  /* key -> compact JSON text of the object */
	json_t *versions; /* key -> metadata.resourceVersion */
	store_index indexes[MAX_INDEXES];
	size_t n_indexes;
};

int ctrl_store_new(ctrl_store **out)
{
	ctrl_store *s = calloc(1, sizeof(*s));

	if (!s)
		return ss_error_set(SS_ENOMEM, "out of memory creating a cache");
	s->texts = json_object();
	s->versions = json_object();
	if (!s->texts || !s->versions || pthread_rwlock_init(&s->lock, NULL) != 0) {
		json_decref(s->texts);
		json_decref(s->versions);
		free(s);
		return ss_error_set(SS_ENOMEM, "out of memory creating a cache");
	}
	*out = s;
	return 0;
}

void ctrl_store_free(ctrl_store *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n_indexes; i++) {
		free(s->indexes[i].name);
		json_decref(s->indexes[i].sets);
	}
	json_decref(s->texts);
	json_decref(s->versions);
	pthread_rwlock_destroy(&s->lock);
	free(s);
}

int ctrl_store_add_index(ctrl_store *s, const char *name, ctrl_index_fn fn, void *payload)
{
	store_index *ix;

	if (s->n_indexes == MAX_INDEXES)
		return ss_error_set(SS_EINVALID, "a cache has at most %d indexes",
				    MAX_INDEXES);
	ix = &s->indexes[s->n_indexes];
	ix->name = ss_strdup(name);
	ix->sets = json_object();
	if (!ix->name || !ix->sets) {
		free(ix->name);
		json_decref(ix->sets);
		return ss_error_set(SS_ENOMEM, "out of memory adding index '%s'", name);
	}
	ix->fn = fn;
	ix->payload = payload;
	s->n_indexes++;
	return 0;
}

int ctrl_index_by_label(const json_t *obj, json_t *values, void *payload)
{
	const char *v = ctrl_label(obj, payload);

	return v ? json_array_append_new(values, json_string(v)) : 0;
}

int ctrl_index_by_owner(const json_t *obj, json_t *values, void *payload)
{
	const json_t *refs =
		json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
	const json_t *ref;
	size_t i;

	(void)payload;
	json_array_foreach(refs, i, ref)
	{
		const char *uid = json_string_value(json_object_get(ref, "uid"));

		if (uid && json_array_append_new(values, json_string(uid)) < 0)
			return SS_ENOMEM;
	}
	return 0;
}

int ctrl_index_by_namespace(const json_t *obj, json_t *values, void *payload)
{
	const char *ns = ctrl_meta(obj, "namespace");

	(void)payload;
	return ns ? json_array_append_new(values, json_string(ns)) : 0;
}

/* Adds (add=1) or removes the key's entries for obj in every index. */
static void index_update(ctrl_store *s, const char *key, const json_t *obj, int add)
{
	json_t *values = json_array();
	size_t i, j;

	for (i = 0; values && i < s->n_indexes; i++) {
		store_index *ix = &s->indexes[i];
		json_t *v;

		json_array_clear(values);
		if (ix->fn(obj, values, ix->payload) < 0) {
			ss_log(SS_LOG_WARN, "index function failed",
			       SS_LS("index", ix->name), SS_LS("key", key));
			continue;
		}
		json_array_foreach(values, j, v)
		{
			const char *value = json_string_value(v);
			json_t *set;

			if (!value)
				continue;
			set = json_object_get(ix->sets, value);
			if (add) {
				if (!set) {
					set = json_object();
					json_object_set_new(ix->sets, value, set);
				}
				json_object_set_new(set, key, json_true());
			} else if (set) {
				json_object_del(set, key);
				if (json_object_size(set) == 0)
					json_object_del(ix->sets, value);
			}
		}
	}
	json_decref(values);
}

/* Under a lock: the object cached under key, parsed; NULL if absent. */
static json_t *parse_locked(ctrl_store *s, const char *key)
{
	json_t *text = json_object_get(s->texts, key);
	json_t *obj;

	if (!text)
		return NULL;
	obj = json_loadb(json_string_value(text), json_string_length(text), 0, NULL);
	if (!obj)
		ss_error_set(SS_ENOMEM, "out of memory reading %s from the cache", key);
	return obj;
}

/* Under the write lock: removes key and its index entries; returns the
 * removed object (parsed), or NULL. */
static json_t *delete_locked(ctrl_store *s, const char *key)
{
	json_t *old = parse_locked(s, key);

	if (old)
		index_update(s, key, old, 0);
	json_object_del(s->texts, key);
	json_object_del(s->versions, key);
	return old;
}

int ctrl_store_put(ctrl_store *s, const json_t *obj, json_t **old_out)
{
	char key[CTRL_KEY_MAX];
	const char *rv = ctrl_meta(obj, "resourceVersion");
	char *text;
	json_t *old, *text_value;
	int error = 0;

	if (ctrl_key_of(key, sizeof(key), obj) < 0)
		return SS_EINVALID;
	text = json_dumps(obj, JSON_COMPACT);
	text_value = text ? json_string_nocheck(text) : NULL;
	free(text);
	if (!text_value)
		return ss_error_set(SS_ENOMEM, "out of memory caching %s", key);
	pthread_rwlock_wrlock(&s->lock);
	old = delete_locked(s, key);
	if (json_object_set_new(s->texts, key, text_value) < 0 ||
	    json_object_set_new(s->versions, key, json_string(rv ? rv : "")) < 0) {
		json_object_del(s->texts, key);
		error = ss_error_set(SS_ENOMEM, "out of memory caching %s", key);
	} else {
		index_update(s, key, obj, 1);
	}
	pthread_rwlock_unlock(&s->lock);
	if (error == 0 && old_out)
		*old_out = old;
	else
		json_decref(old);
	return error;
}

int ctrl_store_delete(ctrl_store *s, const char *key, json_t **old_out)
{
	json_t *old;

	pthread_rwlock_wrlock(&s->lock);
	old = delete_locked(s, key);
	pthread_rwlock_unlock(&s->lock);
	if (old_out)
		*old_out = old;
	else
		json_decref(old);
	return 0;
}

bool ctrl_store_has_version(ctrl_store *s, const char *key, const char *rv)
{
	bool same;

	pthread_rwlock_rdlock(&s->lock);
	same = rv && ss_streq(json_string_value(json_object_get(s->versions, key)), rv);
	pthread_rwlock_unlock(&s->lock);
	return same;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A sorted array of the object's member names; borrowed from `map`. */
static const char **sorted_keys(const json_t *map, size_t *n_out)
{
	size_t n = json_object_size(map), i = 0;
	const char **keys = malloc((n ? n : 1) * sizeof(*keys));
	const char *key;
	json_t *v;

	if (!keys)
		return NULL;
	json_object_foreach((json_t *)map, key, v)
	{
		(void)v;
		keys[i++] = key;
	}
	qsort(keys, n, sizeof(*keys), cmp_str);
	*n_out = n;
	return keys;
}

int ctrl_store_keys_not_in(json_t **out, ctrl_store *s, const json_t *keep)
{
	json_t *arr = json_array();
	const char **keys = NULL;
	size_t n = 0, i;
	int error = 0;

	pthread_rwlock_rdlock(&s->lock);
	keys = arr ? sorted_keys(s->texts, &n) : NULL;
	for (i = 0; keys && i < n; i++)
		if (!json_object_get(keep, keys[i]) &&
		    json_array_append_new(arr, json_string(keys[i])) < 0)
			break;
	if (!keys || i < n)
		error = ss_error_set(SS_ENOMEM, "out of memory comparing a relist");
	pthread_rwlock_unlock(&s->lock);
	free(keys);
	if (error < 0) {
		json_decref(arr);
		return error;
	}
	*out = arr;
	return 0;
}

int ctrl_store_get(json_t **out, ctrl_store *s, const char *key)
{
	json_t *obj;
	bool present;

	pthread_rwlock_rdlock(&s->lock);
	present = json_object_get(s->texts, key) != NULL;
	obj = parse_locked(s, key);
	pthread_rwlock_unlock(&s->lock);
	if (!present)
		return ss_error_set(SS_ENOTFOUND, "%s is not in the cache", key);
	if (!obj)
		return SS_ENOMEM;
	*out = obj;
	return 0;
}

/* Under a read lock: the objects named by the members of `set`, sorted. */
static int collect(json_t **out, ctrl_store *s, const json_t *set)
{
	json_t *arr = json_array();
	const char **keys;
	size_t n = 0, i;
	int error = 0;

	keys = set ? sorted_keys(set, &n) : NULL;
	if (!arr || (set && !keys)) {
		json_decref(arr);
		free(keys);
		return ss_error_set(SS_ENOMEM, "out of memory reading the cache");
	}
	for (i = 0; i < n && error == 0; i++) {
		json_t *obj;

		if (!json_object_get(s->texts, keys[i]))
			continue;
		obj = parse_locked(s, keys[i]);
		if (!obj || json_array_append_new(arr, obj) < 0)
			error = ss_error_set(SS_ENOMEM,
					     "out of memory reading the cache");
	}
	free(keys);
	if (error < 0) {
		json_decref(arr);
		return error;
	}
	*out = arr;
	return 0;
}

int ctrl_store_list(json_t **out, ctrl_store *s)
{
	int error;

	pthread_rwlock_rdlock(&s->lock);
	error = collect(out, s, s->texts);
	pthread_rwlock_unlock(&s->lock);
	return error;
}

int ctrl_store_by_index(json_t **out, ctrl_store *s, const char *name, const char *value)
{
	int error = SS_EINVALID;
	size_t i;

	pthread_rwlock_rdlock(&s->lock);
	for (i = 0; i < s->n_indexes; i++) {
		if (ss_streq(s->indexes[i].name, name)) {
			error = collect(out, s,
					json_object_get(s->indexes[i].sets, value));
			break;
		}
	}
	pthread_rwlock_unlock(&s->lock);
	if (i == s->n_indexes)
		return ss_error_set(SS_EINVALID, "the cache has no index '%s'", name);
	return error;
}

size_t ctrl_store_len(ctrl_store *s)
{
	size_t n;

	pthread_rwlock_rdlock(&s->lock);
	n = json_object_size(s->texts);
	pthread_rwlock_unlock(&s->lock);
	return n;
}
