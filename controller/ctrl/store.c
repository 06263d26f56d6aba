/*
 * store.c — the informer cache. See store.h.
 *
 * The map from key to object is a jansson object (a well-tested hash
 * table); each index is a jansson object from value to a set of keys (an
 * object whose members are the keys, valued true). One rwlock guards all of
 * it: reads are many and short, writes come from one reflector thread.
 *
 * Invariant: for every stored object and every index, the object's key is in
 * exactly the index sets of the values the index function gives for that
 * object — put() and delete() remove the old object's entries before adding
 * the new one's.
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
	json_t *objects; /* key -> object */
	store_index indexes[MAX_INDEXES];
	size_t n_indexes;
};

int ctrl_store_new(ctrl_store **out)
{
	ctrl_store *s = calloc(1, sizeof(*s));

	if (!s)
		return ss_error_set(SS_ENOMEM, "out of memory creating a cache");
	s->objects = json_object();
	if (!s->objects || pthread_rwlock_init(&s->lock, NULL) != 0) {
		json_decref(s->objects);
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
	json_decref(s->objects);
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

/* Under the write lock: store obj (stealing it) under key. */
static int put_locked(ctrl_store *s, const char *key, json_t *obj, json_t **old_out)
{
	json_t *old = json_object_get(s->objects, key);

	if (old) {
		json_incref(old);
		index_update(s, key, old, 0);
	}
	if (json_object_set_new(s->objects, key, obj) < 0) {
		if (old) /* put the old entries back: the old object stays */
			index_update(s, key, old, 1);
		json_decref(old);
		return ss_error_set(SS_ENOMEM, "out of memory caching %s", key);
	}
	index_update(s, key, obj, 1);
	if (old_out)
		*old_out = old;
	else
		json_decref(old);
	return 0;
}

int ctrl_store_put(ctrl_store *s, json_t *obj, json_t **old_out)
{
	char key[CTRL_KEY_MAX];
	int error;

	if (ctrl_key_of(key, sizeof(key), obj) < 0) {
		json_decref(obj);
		return SS_EINVALID;
	}
	pthread_rwlock_wrlock(&s->lock);
	error = put_locked(s, key, obj, old_out);
	pthread_rwlock_unlock(&s->lock);
	return error;
}

static json_t *delete_locked(ctrl_store *s, const char *key)
{
	json_t *old = json_object_get(s->objects, key);

	if (!old)
		return NULL;
	json_incref(old);
	index_update(s, key, old, 0);
	json_object_del(s->objects, key);
	return old;
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

static int push_change(ctrl_change **arr, size_t *n, size_t *cap, ctrl_change_kind kind,
		       json_t *old, json_t *now)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		ctrl_change *grown = realloc(*arr, ncap * sizeof(**arr));

		if (!grown) {
			json_decref(old);
			json_decref(now);
			return ss_error_set(SS_ENOMEM,
					    "out of memory comparing a relist");
		}
		*arr = grown;
		*cap = ncap;
	}
	(*arr)[*n].kind = kind;
	(*arr)[*n].old = old;
	(*arr)[*n].now = now;
	(*n)++;
	return 0;
}

int ctrl_store_replace(ctrl_store *s, const json_t *items, ctrl_change **changes_out,
		       size_t *n_out)
{
	ctrl_change *changes = NULL;
	size_t n = 0, cap = 0, i;
	json_t *seen = json_object(), *item, *old;
	const char *key;
	void *tmp;
	int error = 0;

	if (!seen)
		return ss_error_set(SS_ENOMEM, "out of memory comparing a relist");
	pthread_rwlock_wrlock(&s->lock);
	json_array_foreach(items, i, item)
	{
		char k[CTRL_KEY_MAX];
		json_t *prev = NULL;

		if (ctrl_key_of(k, sizeof(k), item) < 0)
			continue;
		json_object_set_new(seen, k, json_true());
		old = json_object_get(s->objects, k);
		if (old && ss_streq(ctrl_meta(old, "resourceVersion"),
				    ctrl_meta(item, "resourceVersion")))
			continue; /* unchanged while we were away */
		json_incref(item);
		error = put_locked(s, k, item, &prev);
		if (error < 0)
			goto done;
		error = push_change(&changes, &n, &cap,
				    prev ? CTRL_CHANGE_UPDATE : CTRL_CHANGE_ADD, prev,
				    json_incref(item));
		if (error < 0)
			goto done;
	}
	/* What the list no longer has was deleted while we were not watching. */
	json_object_foreach_safe(s->objects, tmp, key, old)
	{
		if (json_object_get(seen, key))
			continue;
		old = delete_locked(s, key);
		error = push_change(&changes, &n, &cap, CTRL_CHANGE_DELETE, old, NULL);
		if (error < 0)
			goto done;
	}
done:
	pthread_rwlock_unlock(&s->lock);
	json_decref(seen);
	if (error < 0) {
		ctrl_changes_free(changes, n);
		return error;
	}
	*changes_out = changes;
	*n_out = n;
	return 0;
}

void ctrl_changes_free(ctrl_change *changes, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		json_decref(changes[i].old);
		json_decref(changes[i].now);
	}
	free(changes);
}

int ctrl_store_get(json_t **out, ctrl_store *s, const char *key)
{
	json_t *obj;

	pthread_rwlock_rdlock(&s->lock);
	obj = json_incref(json_object_get(s->objects, key));
	pthread_rwlock_unlock(&s->lock);
	if (!obj)
		return ss_error_set(SS_ENOTFOUND, "%s is not in the cache", key);
	*out = obj;
	return 0;
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

/* Under a read lock: the objects named by the members of `set`, sorted. */
static int collect(json_t **out, ctrl_store *s, const json_t *set)
{
	json_t *arr = json_array();
	const char **keys;
	size_t n = 0, i;

	keys = set ? sorted_keys(set, &n) : NULL;
	if (!arr || (set && !keys)) {
		json_decref(arr);
		free(keys);
		return ss_error_set(SS_ENOMEM, "out of memory reading the cache");
	}
	for (i = 0; i < n; i++) {
		json_t *obj = json_object_get(s->objects, keys[i]);

		if (obj)
			json_array_append(arr, obj);
	}
	free(keys);
	*out = arr;
	return 0;
}

int ctrl_store_list(json_t **out, ctrl_store *s)
{
	int error;

	pthread_rwlock_rdlock(&s->lock);
	error = collect(out, s, s->objects);
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
	n = json_object_size(s->objects);
	pthread_rwlock_unlock(&s->lock);
	return n;
}
