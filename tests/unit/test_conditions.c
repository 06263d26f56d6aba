/*
 * test_conditions.c — metav1.Condition handling (ctrl/conditions.h) with a
 * fake clock: when lastTransitionTime moves and when it must not,
 * observedGeneration, reason and type validation, message truncation at a
 * UTF-8 boundary, malformed objects, removal and stable order.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ctrl/conditions.h"
#include "util/error.h"

/* 2026-11-23T09:20:00Z */
#define T0 (INT64_C(1795425600) * SS_NS_PER_SEC)

static ss_fake_clock fc;

static int setup(void **state)
{
	(void)state;
	ss_fake_clock_init(&fc, T0);
	return 0;
}

static json_t *object(const char *status_json)
{
	char text[1024];
	json_t *obj;

	snprintf(text, sizeof(text),
		 "{\"metadata\":{\"name\":\"x\",\"namespace\":\"ns\",\"generation\":2}"
		 "%s%s}",
		 status_json ? ",\"status\":" : "", status_json ? status_json : "");
	obj = json_loads(text, 0, NULL);
	assert_non_null(obj);
	return obj;
}

static const char *field(const json_t *obj, const char *type, const char *key)
{
	return json_string_value(json_object_get(ctrl_condition_find(obj, type), key));
}

static json_int_t observed(const json_t *obj, const char *type)
{
	return json_integer_value(
		json_object_get(ctrl_condition_find(obj, type), "observedGeneration"));
}

static bool set(json_t *obj, const char *type, ctrl_condition_status status,
		const char *reason, const char *message)
{
	ctrl_condition c = { type, status, reason, message, -1 };
	bool changed = true;

	assert_int_equal(ctrl_condition_set(&changed, obj, &c, &fc.clock), 0);
	return changed;
}

static void test_new_condition_is_complete(void **state)
{
	json_t *obj = object(NULL), *entry;

	(void)state;
	assert_true(set(obj, "Ready", CTRL_CONDITION_FALSE, "Waiting", "not yet"));
	assert_int_equal(json_array_size(json_object_get(json_object_get(obj, "status"),
							 "conditions")),
			 1);
	entry = (json_t *)ctrl_condition_find(obj, "Ready");
	assert_string_equal(json_string_value(json_object_get(entry, "type")), "Ready");
	assert_string_equal(ctrl_condition_get_status(obj, "Ready"), "False");
	assert_string_equal(ctrl_condition_get_reason(obj, "Ready"), "Waiting");
	assert_string_equal(ctrl_condition_get_message(obj, "Ready"), "not yet");
	assert_string_equal(field(obj, "Ready", "lastTransitionTime"),
			    "2026-11-23T09:20:00Z");
	assert_int_equal(observed(obj, "Ready"), 2);
	assert_true(ctrl_condition_is_false(obj, "Ready"));
	assert_false(ctrl_condition_is_true(obj, "Ready"));
	/* The same again is no change at all. */
	ss_fake_clock_advance(&fc, 60 * SS_NS_PER_SEC);
	assert_false(set(obj, "Ready", CTRL_CONDITION_FALSE, "Waiting", "not yet"));
	assert_string_equal(field(obj, "Ready", "lastTransitionTime"),
			    "2026-11-23T09:20:00Z");
	json_decref(obj);
}

static void test_transition_time_moves_only_with_status(void **state)
{
	json_t *obj = object(NULL);

	(void)state;
	set(obj, "Ready", CTRL_CONDITION_FALSE, "Waiting", "one");
	ss_fake_clock_advance(&fc, 10 * SS_NS_PER_SEC);
	/* A new reason and message: changed, but the time stays. */
	assert_true(set(obj, "Ready", CTRL_CONDITION_FALSE, "StillWaiting", "two"));
	assert_string_equal(ctrl_condition_get_reason(obj, "Ready"), "StillWaiting");
	assert_string_equal(ctrl_condition_get_message(obj, "Ready"), "two");
	assert_string_equal(field(obj, "Ready", "lastTransitionTime"),
			    "2026-11-23T09:20:00Z");
	/* The status flips: the time moves. */
	ss_fake_clock_advance(&fc, 5 * SS_NS_PER_SEC);
	assert_true(set(obj, "Ready", CTRL_CONDITION_TRUE, "StillWaiting", "two"));
	assert_string_equal(field(obj, "Ready", "lastTransitionTime"),
			    "2026-11-23T09:20:15Z");
	assert_true(ctrl_condition_is_true(obj, "Ready"));
	/* Unknown is a status too, neither true nor false. */
	ss_fake_clock_advance(&fc, 5 * SS_NS_PER_SEC);
	assert_true(set(obj, "Ready", CTRL_CONDITION_UNKNOWN, "Lost", ""));
	assert_string_equal(field(obj, "Ready", "lastTransitionTime"),
			    "2026-11-23T09:20:20Z");
	assert_false(ctrl_condition_is_true(obj, "Ready"));
	assert_false(ctrl_condition_is_false(obj, "Ready"));
	assert_string_equal(ctrl_condition_get_status(obj, "Ready"), "Unknown");
	json_decref(obj);
}

static void test_observed_generation_always_updated(void **state)
{
	json_t *obj = object(NULL);
	ctrl_condition given = { "Ready", CTRL_CONDITION_TRUE, "Done", "", 7 };
	bool changed = false;

	(void)state;
	set(obj, "Ready", CTRL_CONDITION_TRUE, "Done", "");
	assert_int_equal(observed(obj, "Ready"), 2);
	/* A spec edit bumps the generation; an otherwise equal set records it
	 * without moving the transition time. */
	json_object_set_new(json_object_get(obj, "metadata"), "generation",
			    json_integer(3));
	ss_fake_clock_advance(&fc, SS_NS_PER_SEC);
	assert_true(set(obj, "Ready", CTRL_CONDITION_TRUE, "Done", ""));
	assert_int_equal(observed(obj, "Ready"), 3);
	assert_string_equal(field(obj, "Ready", "lastTransitionTime"),
			    "2026-11-23T09:20:00Z");
	/* An explicit generation wins over metadata's. */
	assert_int_equal(ctrl_condition_set(&changed, obj, &given, &fc.clock), 0);
	assert_true(changed);
	assert_int_equal(observed(obj, "Ready"), 7);
	json_decref(obj);
}

static void test_missing_transition_time_is_repaired(void **state)
{
	json_t *obj =
		object("{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
		       "\"reason\":\"Done\",\"message\":\"\","
		       "\"lastTransitionTime\":\"garbage\",\"observedGeneration\":2}]}");

	(void)state;
	assert_true(set(obj, "Ready", CTRL_CONDITION_TRUE, "Done", ""));
	assert_string_equal(field(obj, "Ready", "lastTransitionTime"),
			    "2026-11-23T09:20:00Z");
	json_decref(obj);
}

static void test_reason_and_type_validation(void **state)
{
	static const char *const good_reasons[] = { "Ready",   "a",    "A_b",
						    "Foo:Bar", "A,b_", "X1" };
	static const char *const bad_reasons[] = { "",	   "1abc", "Foo-Bar", "Foo ",
						   "Foo:", "Foo,", "_x",      "Fö" };
	static const char *const good_types[] = { "Ready", "snapstage.io/Locked", "a.b",
						  "a-b_c", "x" };
	static const char *const bad_types[] = { "",	  "/x",	       "Bad/",
						 "-x",	  "x-",	       "UPPER.io/x",
						 "a/b/c", "a..b.io/x", "has space" };
	char *long_text = malloc(1026);
	json_t *obj = object(NULL), *before;
	ctrl_condition c = { "Ready", CTRL_CONDITION_TRUE, "Bad-Reason", "", -1 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good_reasons) / sizeof(good_reasons[0]); i++)
		assert_int_equal(ctrl_condition_validate_reason(good_reasons[i]), 0);
	for (i = 0; i < sizeof(bad_reasons) / sizeof(bad_reasons[0]); i++) {
		print_message("reason '%s'\n", bad_reasons[i]);
		assert_int_equal(ctrl_condition_validate_reason(bad_reasons[i]),
				 SS_EINVALID);
	}
	assert_int_equal(ctrl_condition_validate_reason(NULL), SS_EINVALID);
	for (i = 0; i < sizeof(good_types) / sizeof(good_types[0]); i++)
		assert_int_equal(ctrl_condition_validate_type(good_types[i]), 0);
	for (i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
		print_message("type '%s'\n", bad_types[i]);
		assert_int_equal(ctrl_condition_validate_type(bad_types[i]), SS_EINVALID);
	}

	/* 1024 bytes is the longest reason. */
	assert_non_null(long_text);
	memset(long_text, 'R', 1025);
	long_text[1024] = '\0';
	assert_int_equal(ctrl_condition_validate_reason(long_text), 0);
	long_text[1024] = 'R';
	long_text[1025] = '\0';
	assert_int_equal(ctrl_condition_validate_reason(long_text), SS_EINVALID);

	/* A refused set leaves the object exactly as it was. */
	set(obj, "Ready", CTRL_CONDITION_FALSE, "Waiting", "m");
	before = json_deep_copy(obj);
	assert_int_equal(ctrl_condition_set(NULL, obj, &c, &fc.clock), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "condition reason 'Bad-Reason' is not CamelCase");
	c.reason = NULL;
	assert_int_equal(ctrl_condition_set(NULL, obj, &c, &fc.clock), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "needs a reason");
	c.reason = "Fine";
	c.type = "bad type";
	assert_int_equal(ctrl_condition_set(NULL, obj, &c, &fc.clock), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "condition type 'bad type'");
	c.type = "Ready";
	c.status = (ctrl_condition_status)9;
	assert_int_equal(ctrl_condition_set(NULL, obj, &c, &fc.clock), SS_EINVALID);
	assert_true(json_equal(before, obj));
	json_decref(before);
	json_decref(obj);
	free(long_text);
}

static void test_message_truncated_at_utf8_boundary(void **state)
{
	size_t n = 1 + 2 * 20000, i, len;
	char *msg = malloc(n + 8);
	json_t *obj = object(NULL);
	const char *got;

	(void)state;
	assert_non_null(msg);
	/* "a" then two-byte "é"s: byte 32768 would be the middle of one. */
	msg[0] = 'a';
	for (i = 0; i < 20000; i++)
		memcpy(msg + 1 + 2 * i, "\xC3\xA9", 2);
	msg[n] = '\0';
	set(obj, "Ready", CTRL_CONDITION_TRUE, "Long", msg);
	got = ctrl_condition_get_message(obj, "Ready");
	len = strlen(got);
	assert_int_equal(len, CTRL_CONDITION_MESSAGE_MAX - 1);
	assert_memory_equal(got, msg, len);

	/* A four-byte character straddling the limit is dropped whole. */
	memset(msg, 'b', CTRL_CONDITION_MESSAGE_MAX - 2);
	memcpy(msg + CTRL_CONDITION_MESSAGE_MAX - 2, "\xF0\x9F\x93\xB8", 4);
	msg[CTRL_CONDITION_MESSAGE_MAX + 2] = '\0';
	set(obj, "Ready", CTRL_CONDITION_TRUE, "Long", msg);
	assert_int_equal(strlen(ctrl_condition_get_message(obj, "Ready")),
			 CTRL_CONDITION_MESSAGE_MAX - 2);

	/* Exactly the limit in ASCII is kept; one more byte is cut. */
	memset(msg, 'c', CTRL_CONDITION_MESSAGE_MAX + 1);
	msg[CTRL_CONDITION_MESSAGE_MAX] = '\0';
	set(obj, "Ready", CTRL_CONDITION_TRUE, "Long", msg);
	assert_int_equal(strlen(ctrl_condition_get_message(obj, "Ready")),
			 CTRL_CONDITION_MESSAGE_MAX);
	msg[CTRL_CONDITION_MESSAGE_MAX] = 'c';
	msg[CTRL_CONDITION_MESSAGE_MAX + 1] = '\0';
	set(obj, "Ready", CTRL_CONDITION_TRUE, "Long", msg);
	assert_int_equal(strlen(ctrl_condition_get_message(obj, "Ready")),
			 CTRL_CONDITION_MESSAGE_MAX);

	/* An error text cut mid-character, and a surrogate, become U+FFFD. */
	set(obj, "Ready", CTRL_CONDITION_FALSE, "Failed", "lock failed: caf\xC3");
	assert_string_equal(ctrl_condition_get_message(obj, "Ready"),
			    "lock failed: caf\xEF\xBF\xBD");
	set(obj, "Ready", CTRL_CONDITION_FALSE, "Failed", "x\xED\xA0\x80y");
	assert_string_equal(ctrl_condition_get_message(obj, "Ready"),
			    "x\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDy");
	/* A NULL message is the empty one. */
	set(obj, "Ready", CTRL_CONDITION_FALSE, "Failed", NULL);
	assert_string_equal(ctrl_condition_get_message(obj, "Ready"), "");
	free(msg);
	json_decref(obj);
}

static void test_malformed_input(void **state)
{
	static const char *const bad_status[] = { "\"x\"", "[]", "{\"conditions\":{}}",
						  "{\"conditions\":\"Ready\"}" };
	ctrl_condition c = { "Ready", CTRL_CONDITION_TRUE, "Done", "", -1 };
	json_t *obj, *before;
	bool removed = true;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_status) / sizeof(bad_status[0]); i++) {
		obj = object(bad_status[i]);
		before = json_deep_copy(obj);
		assert_null(ctrl_condition_find(obj, "Ready"));
		assert_false(ctrl_condition_is_true(obj, "Ready"));
		assert_false(ctrl_condition_is_false(obj, "Ready"));
		assert_null(ctrl_condition_get_status(obj, "Ready"));
		assert_int_equal(ctrl_condition_set(NULL, obj, &c, &fc.clock),
				 SS_EINVALID);
		tu_assert_error(SS_EINVALID, "set condition on ns/x: status");
		assert_int_equal(ctrl_condition_remove(NULL, obj, "Ready"), SS_EINVALID);
		assert_true(json_equal(before, obj));
		json_decref(before);
		json_decref(obj);
	}

	/* Entries that are not objects or have no type are skipped, kept. */
	obj = object("{\"conditions\":[1,\"Ready\",{\"status\":\"True\"},"
		     "{\"type\":7},{\"type\":\"Ready\",\"status\":\"True\"}]}");
	assert_true(ctrl_condition_is_true(obj, "Ready"));
	assert_true(set(obj, "Ready", CTRL_CONDITION_FALSE, "Broke", ""));
	assert_int_equal(json_array_size(json_object_get(json_object_get(obj, "status"),
							 "conditions")),
			 5);
	assert_ptr_equal(ctrl_condition_find(obj, "Ready"),
			 json_array_get(json_object_get(json_object_get(obj, "status"),
							"conditions"),
					4));
	assert_int_equal(ctrl_condition_remove(&removed, obj, "Ready"), 0);
	assert_true(removed);
	assert_int_equal(json_array_size(json_object_get(json_object_get(obj, "status"),
							 "conditions")),
			 4);
	json_decref(obj);

	/* null status and conditions count as absent. */
	obj = object("null");
	assert_true(set(obj, "Ready", CTRL_CONDITION_TRUE, "Done", ""));
	json_decref(obj);
	obj = object("{\"conditions\":null,\"phase\":\"Running\"}");
	assert_true(set(obj, "Ready", CTRL_CONDITION_TRUE, "Done", ""));
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(obj, "status"), "phase")),
			    "Running");
	json_decref(obj);

	/* Not objects at all. */
	assert_null(ctrl_condition_find(NULL, "Ready"));
	obj = json_string("x");
	assert_null(ctrl_condition_find(obj, "Ready"));
	assert_int_equal(ctrl_condition_set(NULL, obj, &c, &fc.clock), SS_EINVALID);
	json_decref(obj);
	/* Without metadata.generation, observedGeneration is left out. */
	obj = json_object();
	assert_int_equal(ctrl_condition_set(NULL, obj, &c, &fc.clock), 0);
	assert_null(
		json_object_get(ctrl_condition_find(obj, "Ready"), "observedGeneration"));
	json_decref(obj);
}

static const char *type_at(const json_t *obj, size_t i)
{
	return json_string_value(json_object_get(
		json_array_get(
			json_object_get(json_object_get(obj, "status"), "conditions"), i),
		"type"));
}

static void test_order_stable_and_removal(void **state)
{
	json_t *obj = object(NULL);
	bool removed = true;

	(void)state;
	set(obj, "A", CTRL_CONDITION_TRUE, "R", "");
	set(obj, "B", CTRL_CONDITION_TRUE, "R", "");
	set(obj, "C", CTRL_CONDITION_TRUE, "R", "");
	assert_true(set(obj, "B", CTRL_CONDITION_FALSE, "R", ""));
	assert_true(set(obj, "A", CTRL_CONDITION_TRUE, "R2", ""));
	assert_string_equal(type_at(obj, 0), "A");
	assert_string_equal(type_at(obj, 1), "B");
	assert_string_equal(type_at(obj, 2), "C");
	set(obj, "D", CTRL_CONDITION_TRUE, "R", "");
	assert_string_equal(type_at(obj, 3), "D");

	assert_int_equal(ctrl_condition_remove(&removed, obj, "Nope"), 0);
	assert_false(removed);
	assert_int_equal(ctrl_condition_remove(&removed, obj, "B"), 0);
	assert_true(removed);
	assert_null(ctrl_condition_find(obj, "B"));
	assert_string_equal(type_at(obj, 0), "A");
	assert_string_equal(type_at(obj, 1), "C");
	assert_string_equal(type_at(obj, 2), "D");
	assert_int_equal(ctrl_condition_remove(NULL, obj, NULL), SS_EINVALID);
	json_decref(obj);

	/* Removing from an object without status is a no-op. */
	obj = object(NULL);
	assert_int_equal(ctrl_condition_remove(&removed, obj, "A"), 0);
	assert_false(removed);
	assert_null(json_object_get(obj, "status"));
	json_decref(obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_new_condition_is_complete, setup),
		cmocka_unit_test_setup(test_transition_time_moves_only_with_status,
				       setup),
		cmocka_unit_test_setup(test_observed_generation_always_updated, setup),
		cmocka_unit_test_setup(test_missing_transition_time_is_repaired, setup),
		cmocka_unit_test_setup(test_reason_and_type_validation, setup),
		cmocka_unit_test_setup(test_message_truncated_at_utf8_boundary, setup),
		cmocka_unit_test_setup(test_malformed_input, setup),
		cmocka_unit_test_setup(test_order_stable_and_removal, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
