/*
 * test_store.c — the informer cache without I/O: keys, indexes kept in step
 * with updates and deletes, and the differences a relist reports (adds,
 * changed resourceVersions, and the deletes a watch missed).
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
	assert_int_equal(ctrl_store_put(s, cm("ns", "a", "1", "web", NULL), &old), 0);
	assert_null(old);
	assert_int_equal(ctrl_store_put(s, cm("ns", "a", "2", "web", NULL), &old), 0);
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
	assert_int_equal(ctrl_store_put(s, json_pack("{s:{}}", "metadata"), NULL),
			 SS_EINVALID);
	ctrl_store_free(s);
}

static void test_indexes_follow_updates(void **state)
{
	ctrl_store *s = new_store();
	json_t *arr = NULL;

	(void)state;
	ctrl_store_put(s, cm("ns", "b", "1", "web", "u1"), NULL);
	ctrl_store_put(s, cm("ns", "a", "1", "web", "u2"), NULL);
	ctrl_store_put(s, cm("other", "c", "1", "db", "u1"), NULL);
	assert_string_equal(by(s, "app", "web"), "a b");
	assert_string_equal(by(s, "owner", "u1"), "b c");

	/* b moves from web to db and loses its owner. */
	ctrl_store_put(s, cm("ns", "b", "2", "db", NULL), NULL);
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

static int count(const ctrl_change *c, size_t n, ctrl_change_kind kind, const char *name)
{
	int hits = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		const json_t *o = c[i].now ? c[i].now : c[i].old;

		if (c[i].kind == kind && !strcmp(ctrl_meta(o, "name"), name))
			hits++;
	}
	return hits;
}

static void test_replace_reports_missed_changes(void **state)
{
	ctrl_store *s = new_store();
	json_t *items = json_array();
	ctrl_change *changes = NULL;
	size_t n = 0;

	(void)state;
	ctrl_store_put(s, cm("ns", "kept", "1", "web", NULL), NULL);
	ctrl_store_put(s, cm("ns", "changed", "1", "web", NULL), NULL);
	ctrl_store_put(s, cm("ns", "gone", "1", "web", NULL), NULL);

	json_array_append_new(items, cm("ns", "kept", "1", "web", NULL));
	json_array_append_new(items, cm("ns", "changed", "7", "db", NULL));
	json_array_append_new(items, cm("ns", "new", "8", "web", NULL));
	json_array_append_new(items, json_pack("{s:{}}", "metadata")); /* skipped */
	assert_int_equal(ctrl_store_replace(s, items, &changes, &n), 0);

	assert_int_equal(n, 3);
	assert_int_equal(count(changes, n, CTRL_CHANGE_UPDATE, "changed"), 1);
	assert_int_equal(count(changes, n, CTRL_CHANGE_ADD, "new"), 1);
	assert_int_equal(count(changes, n, CTRL_CHANGE_DELETE, "gone"), 1);
	assert_int_equal(count(changes, n, CTRL_CHANGE_UPDATE, "kept"), 0);
	ctrl_changes_free(changes, n);

	assert_int_equal(ctrl_store_len(s), 3);
	assert_string_equal(by(s, "app", "web"), "kept new");
	assert_string_equal(by(s, "app", "db"), "changed");

	/* Replacing with nothing deletes everything. */
	json_array_clear(items);
	assert_int_equal(ctrl_store_replace(s, items, &changes, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(count(changes, n, CTRL_CHANGE_DELETE, "kept"), 1);
	ctrl_changes_free(changes, n);
	assert_int_equal(ctrl_store_len(s), 0);
	assert_string_equal(by(s, "app", "web"), "");
	json_decref(items);
	ctrl_store_free(s);
}

static void test_cached_objects_outlive_updates(void **state)
{
	ctrl_store *s = new_store();
	json_t *held = NULL;

	(void)state;
	ctrl_store_put(s, cm("ns", "a", "1", NULL, NULL), NULL);
	assert_int_equal(ctrl_store_get(&held, s, "ns/a"), 0);
	/* A reader's reference stays valid and unchanged after the store moves on. */
	ctrl_store_put(s, cm("ns", "a", "2", NULL, NULL), NULL);
	ctrl_store_delete(s, "ns/a", NULL);
	assert_string_equal(ctrl_meta(held, "resourceVersion"), "1");
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
		cmocka_unit_test(test_replace_reports_missed_changes),
		cmocka_unit_test(test_cached_objects_outlive_updates),
		cmocka_unit_test(test_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
