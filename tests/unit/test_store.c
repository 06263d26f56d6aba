/*
 * test_store.c — the informer cache without I/O: keys, indexes kept in step
 * with updates and deletes, what a relist needs to find the changes and the
 * deletes a watch missed, and reads that hand out private copies.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ctrl/object.h"
#include "ctrl/store.h"
#include "util/error.h"

static json_t *cm(const char *ns, const char *name, const char *rv, const char *app,
		  const char *owner_uid)
{
	json_t *o = json_pack("{s:s, s:{s:s, s:s, s:s, s:{}}}", "kind", "ConfigMap",
			      "metadata", "namespace", ns, "name", name,
			      "resourceVersion", rv, "labels");

	if (app)
		json_object_set_new(
			json_object_get(json_object_get(o, "metadata"), "labels"), "app",
			json_string(app));
	if (owner_uid)
		json_object_set_new(json_object_get(o, "metadata"), "ownerReferences",
				    json_pack("[{s:s}]", "uid", owner_uid));
	return o;
}

static char label_app[] = "app";

/* Puts a new object and releases our reference (the store copies it). */
static int put(ctrl_store *s, json_t *obj, json_t **old)
{
	int rc = ctrl_store_put(s, obj, old);

	json_decref(obj);
	return rc;
}

static ctrl_store *new_store(void)
{
	ctrl_store *s = NULL;

	assert_int_equal(ctrl_store_new(&s), 0);
	assert_int_equal(ctrl_store_add_index(s, "app", ctrl_index_by_label, label_app),
			 0);
	assert_int_equal(ctrl_store_add_index(s, "owner", ctrl_index_by_owner, NULL), 0);
	return s;
}

/* The names of the objects in `arr`, space-separated, into buf. */
static const char *names(json_t *arr)
{
	static char buf[512];
	size_t i, n = 0;
	json_t *o;

	buf[0] = '\0';
	json_array_foreach(arr, i, o)
	{
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "",
				      ctrl_meta(o, "name"));
	}
	json_decref(arr);
	return buf;
}

static const char *by(ctrl_store *s, const char *index, const char *value)
{
	json_t *arr = NULL;

	assert_int_equal(ctrl_store_by_index(&arr, s, index, value), 0);
	return names(arr);
}

static void test_put_get_delete(void **state)
{
	ctrl_store *s = new_store();
	json_t *got = NULL, *old = NULL;

	(void)state;
	assert_int_equal(put(s, cm("ns", "a", "1", "web", NULL), &old), 0);
	assert_null(old);
	assert_int_equal(put(s, cm("ns", "a", "2", "web", NULL), &old), 0);
	assert_string_equal(ctrl_meta(old, "resourceVersion"), "1");
	json_decref(old);
	assert_int_equal(ctrl_store_get(&got, s, "ns/a"), 0);
	assert_string_equal(ctrl_meta(got, "resourceVersion"), "2");
	json_decref(got);
	assert_int_equal(ctrl_store_len(s), 1);

	assert_int_equal(ctrl_store_delete(s, "ns/a", &old), 0);
	assert_string_equal(ctrl_meta(old, "resourceVersion"), "2");
	json_decref(old);
	assert_int_equal(ctrl_store_get(&got, s, "ns/a"), SS_ENOTFOUND);
	/* Deleting what is not there is not an error. */
	assert_int_equal(ctrl_store_delete(s, "ns/a", &old), 0);
	assert_null(old);
	/* An object without a name cannot be keyed. */
	assert_int_equal(put(s, json_pack("{s:{}}", "metadata"), NULL), SS_EINVALID);
	ctrl_store_free(s);
}

static void test_indexes_follow_updates(void **state)
{
	ctrl_store *s = new_store();
	json_t *arr = NULL;

	(void)state;
	put(s, cm("ns", "b", "1", "web", "u1"), NULL);
	put(s, cm("ns", "a", "1", "web", "u2"), NULL);
	put(s, cm("other", "c", "1", "db", "u1"), NULL);
	assert_string_equal(by(s, "app", "web"), "a b");
	assert_string_equal(by(s, "owner", "u1"), "b c");

	/* b moves from web to db and loses its owner. */
	put(s, cm("ns", "b", "2", "db", NULL), NULL);
	assert_string_equal(by(s, "app", "web"), "a");
	assert_string_equal(by(s, "app", "db"), "b c");
	assert_string_equal(by(s, "owner", "u1"), "c");

	ctrl_store_delete(s, "other/c", NULL);
	assert_string_equal(by(s, "app", "db"), "b");
	assert_string_equal(by(s, "owner", "u1"), "");
	assert_string_equal(by(s, "app", "nothing"), "");
	assert_int_equal(ctrl_store_by_index(&arr, s, "nope", "x"), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "no index 'nope'");

	assert_int_equal(ctrl_store_list(&arr, s), 0);
	assert_string_equal(names(arr), "a b");
	ctrl_store_free(s);
}

static void test_what_a_relist_needs(void **state)
{
	ctrl_store *s = new_store();
	json_t *keep = json_pack("{s:b, s:b}", "ns/kept", 1, "ns/new", 1), *gone = NULL;

	(void)state;
	put(s, cm("ns", "kept", "1", "web", NULL), NULL);
	put(s, cm("ns", "gone-b", "1", "web", NULL), NULL);
	put(s, cm("ns", "gone-a", "1", "web", NULL), NULL);
	assert_true(ctrl_store_has_version(s, "ns/kept", "1"));
	assert_false(ctrl_store_has_version(s, "ns/kept", "2"));
	assert_false(ctrl_store_has_version(s, "ns/new", "1"));
	assert_false(ctrl_store_has_version(s, "ns/kept", NULL));

	assert_int_equal(ctrl_store_keys_not_in(&gone, s, keep), 0);
	assert_int_equal(json_array_size(gone), 2);
	assert_string_equal(json_string_value(json_array_get(gone, 0)), "ns/gone-a");
	assert_string_equal(json_string_value(json_array_get(gone, 1)), "ns/gone-b");
	json_decref(gone);
	json_decref(keep);
	ctrl_store_free(s);
}

static void test_reads_are_private_copies(void **state)
{
	ctrl_store *s = new_store();
	json_t *held = NULL, *again = NULL, *obj = cm("ns", "a", "1", "web", NULL);

	(void)state;
	assert_int_equal(ctrl_store_put(s, obj, NULL), 0);
	/* Changing what was put, or what was read, never changes the cache. */
	json_object_set_new(json_object_get(obj, "metadata"), "name", json_string("zzz"));
	json_decref(obj);
	assert_int_equal(ctrl_store_get(&held, s, "ns/a"), 0);
	json_object_set_new(json_object_get(held, "metadata"), "resourceVersion",
			    json_string("999"));
	assert_int_equal(ctrl_store_get(&again, s, "ns/a"), 0);
	assert_string_equal(ctrl_meta(again, "resourceVersion"), "1");
	assert_string_equal(ctrl_label(again, "app"), "web");
	json_decref(again);
	/* A reader's copy outlives the store's later changes. */
	put(s, cm("ns", "a", "2", NULL, NULL), NULL);
	ctrl_store_delete(s, "ns/a", NULL);
	assert_string_equal(ctrl_meta(held, "resourceVersion"), "999");
	json_decref(held);
	ctrl_store_free(s);
}

static void test_keys(void **state)
{
	char key[CTRL_KEY_MAX], ns[CTRL_KEY_MAX], name[CTRL_KEY_MAX];

	(void)state;
	assert_int_equal(ctrl_key_join(key, sizeof(key), "ns", "a"), 0);
	assert_string_equal(key, "ns/a");
	assert_int_equal(ctrl_key_join(key, sizeof(key), NULL, "node-1"), 0);
	assert_string_equal(key, "node-1");
	assert_int_equal(ctrl_key_split("ns/a", ns, sizeof(ns), name, sizeof(name)), 0);
	assert_string_equal(ns, "ns");
	assert_string_equal(name, "a");
	assert_int_equal(ctrl_key_split("node-1", ns, sizeof(ns), name, sizeof(name)), 0);
	assert_string_equal(ns, "");
	assert_string_equal(name, "node-1");
	assert_int_equal(ctrl_key_split("a/b/c", ns, sizeof(ns), name, sizeof(name)),
			 SS_EINVALID);
	assert_int_equal(ctrl_key_split("/b", ns, sizeof(ns), name, sizeof(name)),
			 SS_EINVALID);
	assert_int_equal(ctrl_key_split("ns/", ns, sizeof(ns), name, sizeof(name)),
			 SS_EINVALID);
	assert_int_equal(ctrl_key_join(key, sizeof(key), "ns", ""), SS_EINVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_delete),
		cmocka_unit_test(test_indexes_follow_updates),
		cmocka_unit_test(test_what_a_relist_needs),
		cmocka_unit_test(test_reads_are_private_copies),
		cmocka_unit_test(test_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
