/*
 * test_watch_event.c — parsing watch stream lines into events
 * (kube/watch.h): every event type, a BOOKMARK, an in-stream 410 ERROR as the
 * API server sends it, and malformed lines.
 */
#include <string.h>

#include "testutil.h"

#include "kube/watch.h"
#include "util/error.h"

static int parse(kube_watch_event *ev, const char *line)
{
	return kube_watch_event_parse(ev, line, strlen(line));
}

static void test_added_modified_deleted(void **state)
{
	static const char *const lines[] = {
		"{\"type\":\"ADDED\",\"object\":{\"kind\":\"ConfigMap\",\"metadata\":{"
		"\"name\":\"a\",\"resourceVersion\":\"101\"}}}",
		"{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"ConfigMap\",\"metadata\":{"
		"\"name\":\"a\",\"resourceVersion\":\"102\"}}}",
		"{\"type\":\"DELETED\",\"object\":{\"kind\":\"ConfigMap\",\"metadata\":{"
		"\"name\":\"a\",\"resourceVersion\":\"103\"}}}",
	};
	static const kube_watch_type types[] = { KUBE_WATCH_ADDED, KUBE_WATCH_MODIFIED,
						 KUBE_WATCH_DELETED };
	static const char *const rvs[] = { "101", "102", "103" };
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		kube_watch_event ev;

		assert_int_equal(parse(&ev, lines[i]), 0);
		assert_int_equal(ev.type, types[i]);
		assert_string_equal(ev.resource_version, rvs[i]);
		assert_string_equal(
			json_string_value(json_object_get(
				json_object_get(ev.object, "metadata"), "name")),
			"a");
		kube_watch_event_clear(&ev);
		assert_null(ev.object);
	}
}

static void test_bookmark(void **state)
{
	kube_watch_event ev;

	(void)state;
	assert_int_equal(
		parse(&ev,
		      "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"ConfigMap\","
		      "\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"12746\","
		      "\"creationTimestamp\":null}}}"),
		0);
	assert_int_equal(ev.type, KUBE_WATCH_BOOKMARK);
	assert_string_equal(ev.resource_version, "12746");
	assert_string_equal(kube_watch_type_name(ev.type), "BOOKMARK");
	kube_watch_event_clear(&ev);
}

/* As kube-apiserver 1.20's watch cache sends it for a too-old version. */
static void test_in_stream_410(void **state)
{
	kube_watch_event ev;

	(void)state;
	assert_int_equal(
		parse(&ev, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
			   "\"apiVersion\":\"v1\","
			   "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old "
			   "resource "
			   "version: 1 (2317)\",\"reason\":\"Expired\",\"code\":410}}"),
		0);
	assert_int_equal(ev.type, KUBE_WATCH_ERROR);
	assert_int_equal(ev.status.code, SS_EGONE);
	assert_int_equal(ev.status.http_status, 410);
	assert_string_equal(ev.status.message, "too old resource version: 1 (2317)");
	kube_watch_event_clear(&ev);

	/* A 410 without a reason is still "gone". */
	assert_int_equal(parse(&ev, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
				    "\"code\":410}}"),
			 0);
	assert_int_equal(ev.status.code, SS_EGONE);
	kube_watch_event_clear(&ev);
}

static void test_malformed(void **state)
{
	kube_watch_event ev;

	(void)state;
	assert_int_equal(parse(&ev, "{\"type\":\"ADDED\",\"object\":"), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "not JSON");
	assert_int_equal(parse(&ev, "{\"type\":\"ADDED\"}"), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "needs a type and an object");
	assert_int_equal(parse(&ev, "{\"object\":{}}"), SS_EINVALID);
	assert_int_equal(parse(&ev, "{\"type\":\"RENAMED\",\"object\":{}}"), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "unknown watch event type 'RENAMED'");
	assert_int_equal(parse(&ev, "[1,2]"), SS_EINVALID);
	assert_null(ev.object);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_added_modified_deleted),
		cmocka_unit_test(test_bookmark),
		cmocka_unit_test(test_in_stream_410),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
