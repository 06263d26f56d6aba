/*
 * test_events.c — the event recorder (ctrl/events.h): the regarding
 * reference, validation, UTF-8-safe truncation of notes, dedup keys and the
 * aggregation window, the Event objects and patches for events.k8s.io/v1 and
 * core/v1 — all pure — then the sender against a scripted local server
 * (create, then a series patch for a repeat) and the bounded queue dropping
 * and counting when the sender cannot keep up. The real API server is in
 * tests/integration/test_leader_events.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_server.h"
#include "testutil.h"

#include "ctrl/events.h"
#include "kube/config.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/str.h"

#define SEC SS_NS_PER_SEC
/* 2026-11-23T09:20:00Z */
#define T0 (INT64_C(1795425600) * SEC)

static json_t *configmap(void)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "apiVersion", "v1", "kind",
			 "ConfigMap", "metadata", "name", "cm", "namespace", "ns1", "uid",
			 "0b6f2d2e-1111-2222-3333-444455556666", "resourceVersion", "17");
}

static void make_event(ctrl_event *e, const char *reason, const char *note)
{
	ctrl_event_ref ref;
	json_t *cm = configmap();

	assert_int_equal(ctrl_event_ref_from_object(&ref, cm), 0);
	assert_int_equal(
		ctrl_event_init(e, &ref, CTRL_EVENT_NORMAL, reason, NULL, note, T0), 0);
	json_decref(cm);
}

static void test_ref_from_object(void **state)
{
	ctrl_event_ref ref;
	json_t *cm = configmap(), *node;

	(void)state;
	assert_int_equal(ctrl_event_ref_from_object(&ref, cm), 0);
	assert_string_equal(ref.api_version, "v1");
	assert_string_equal(ref.kind, "ConfigMap");
	assert_string_equal(ref.name, "cm");
	assert_string_equal(ref.ns, "ns1");
	assert_string_equal(ref.uid, "0b6f2d2e-1111-2222-3333-444455556666");
	assert_string_equal(ref.resource_version, "17");

	json_object_del(cm, "kind");
	assert_int_equal(ctrl_event_ref_from_object(&ref, cm), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "kind");
	json_decref(cm);

	node = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Node",
			 "metadata", "name", "n1");
	assert_int_equal(ctrl_event_ref_from_object(&ref, node), 0);
	assert_string_equal(ref.ns, "");
	assert_string_equal(ref.uid, "");
	json_decref(node);
}

static void test_truncate_utf8(void **state)
{
	char out[CTRL_EVENT_NOTE_MAX + 1], big[3002];
	size_t n, i;

	(void)state;
	assert_int_equal(ctrl_event_truncate_utf8(out, sizeof(out), "hello", 10), 5);
	assert_string_equal(out, "hello");
	assert_int_equal(ctrl_event_truncate_utf8(out, sizeof(out), "hello", 5), 5);
	assert_int_equal(ctrl_event_truncate_utf8(out, sizeof(out), "hello", 4), 4);
	assert_string_equal(out, "hell");
	/* "é" is two bytes: a cut after its first byte backs off. */
	assert_int_equal(ctrl_event_truncate_utf8(out, sizeof(out), "ab\xc3\xa9", 3), 2);
	assert_string_equal(out, "ab");
	/* A 4-byte character (U+1F600) fits whole or not at all. */
	assert_int_equal(
		ctrl_event_truncate_utf8(out, sizeof(out), "x\xf0\x9f\x98\x80y", 4), 1);
	assert_int_equal(
		ctrl_event_truncate_utf8(out, sizeof(out), "x\xf0\x9f\x98\x80y", 5), 5);
	assert_string_equal(out, "x\xf0\x9f\x98\x80");
	/* Invalid bytes, a surrogate, an overlong and a cut sequence become '?'. */
	ctrl_event_truncate_utf8(out, sizeof(out),
				 "a\xff"
				 "b\xed\xa0\x80"
				 "c\xc0\xaf"
				 "d\xe2\x82",
				 100);
	assert_string_equal(out, "a?b???c??d??");

	/* 1500 two-byte characters after one ASCII byte: 1 + 511 * 2 = 1023. */
	big[0] = 'a';
	for (i = 0; i < 1500; i++) {
		big[1 + 2 * i] = (char)0xc3;
		big[2 + 2 * i] = (char)0xbc;
	}
	big[3001] = '\0';
	n = ctrl_event_truncate_utf8(out, sizeof(out), big, CTRL_EVENT_NOTE_MAX);
	assert_int_equal(n, 1023);
	assert_int_equal(strlen(out), 1023);
	/* The limit never exceeds the buffer. */
	assert_int_equal(ctrl_event_truncate_utf8(out, 4, "abcdef", 100), 3);
}

static void test_init_validates(void **state)
{
	ctrl_event_ref ref;
	ctrl_event e;
	char reason[200], note[2000];
	json_t *cm = configmap();

	(void)state;
	assert_int_equal(ctrl_event_ref_from_object(&ref, cm), 0);
	assert_int_equal(
		ctrl_event_init(&e, &ref, CTRL_EVENT_WARNING, NULL, NULL, "x", T0),
		SS_EINVALID);
	tu_assert_error(SS_EINVALID, "reason");
	memset(reason, 'R', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	assert_int_equal(
		ctrl_event_init(&e, &ref, CTRL_EVENT_WARNING, reason, NULL, "x", T0),
		SS_EINVALID);
	assert_int_equal(
		ctrl_event_init(&e, &ref, (ctrl_event_type)7, "R", NULL, "x", T0),
		SS_EINVALID);

	memset(note, 'n', sizeof(note) - 1);
	note[sizeof(note) - 1] = '\0';
	assert_int_equal(ctrl_event_init(&e, &ref, CTRL_EVENT_WARNING, "BackupFailed",
					 NULL, note, T0),
			 0);
	assert_string_equal(e.action, "BackupFailed"); /* defaults to the reason */
	assert_int_equal(strlen(e.note), CTRL_EVENT_NOTE_MAX);
	assert_int_equal(e.time_ns, T0);
	json_decref(cm);
}

static void test_key_and_name(void **state)
{
	ctrl_event a, b;
	ss_buf ka = SS_BUF_INIT(4096), kb = SS_BUF_INIT(4096);
	char name[CTRL_EVENT_NAME_MAX + 1];
	size_t i;

	(void)state;
	make_event(&a, "Started", "backup started");
	make_event(&b, "Started", "backup started");
	b.time_ns = T0 + 5 * SEC; /* time is not part of the key */
	assert_int_equal(ctrl_event_key(&ka, &a), 0);
	assert_int_equal(ctrl_event_key(&kb, &b), 0);
	assert_string_equal(ss_buf_cstr(&ka), ss_buf_cstr(&kb));
	assert_string_equal(ss_buf_cstr(&ka),
			    "0b6f2d2e-1111-2222-3333-444455556666|Normal|Started|Started|"
			    "backup started");

	ss_buf_clear(&kb);
	make_event(&b, "Started", "another note");
	assert_int_equal(ctrl_event_key(&kb, &b), 0);
	assert_string_not_equal(ss_buf_cstr(&ka), ss_buf_cstr(&kb));
	ss_buf_clear(&kb);
	b = a;
	b.type = CTRL_EVENT_WARNING;
	assert_int_equal(ctrl_event_key(&kb, &b), 0);
	assert_string_not_equal(ss_buf_cstr(&ka), ss_buf_cstr(&kb));
	/* Without a uid the kind, namespace and name identify the object. */
	ss_buf_clear(&kb);
	b = a;
	b.regarding.uid[0] = '\0';
	assert_int_equal(ctrl_event_key(&kb, &b), 0);
	assert_string_equal(ss_buf_cstr(&kb),
			    "ConfigMap/ns1/cm|Normal|Started|Started|backup started");
	ss_buf_free(&ka);
	ss_buf_free(&kb);

	ctrl_event_name(name, sizeof(name), &a, 0x1234abcd);
	assert_string_equal(name, "cm.000000001234abcd");
	assert_string_equal(ctrl_event_namespace(&a), "ns1");
	for (i = 0; i < 253; i++)
		b.regarding.name[i] = 'x';
	b.regarding.name[253] = '\0';
	ctrl_event_name(name, sizeof(name), &b, T0);
	assert_int_equal(strlen(name), CTRL_EVENT_NAME_MAX);
	assert_string_equal(name + 253 - 17, ".18eaa21214a48000");
	b.regarding.ns[0] = '\0';
	assert_string_equal(ctrl_event_namespace(&b), "default");
}

static void test_aggregation_window(void **state)
{
	const int64_t w = 600 * SEC;

	(void)state;
	assert_int_equal(ctrl_event_aggregate(0, T0, w), CTRL_EVENT_CREATE);
	assert_int_equal(ctrl_event_aggregate(T0, T0 + SEC, w), CTRL_EVENT_UPDATE);
	assert_int_equal(ctrl_event_aggregate(T0, T0 + w, w), CTRL_EVENT_UPDATE);
	assert_int_equal(ctrl_event_aggregate(T0, T0 + w + 1, w), CTRL_EVENT_CREATE);
	/* A wall clock stepped back still counts as a repeat. */
	assert_int_equal(ctrl_event_aggregate(T0, T0 - SEC, w), CTRL_EVENT_UPDATE);
}

static const char *str(const json_t *o, const char *path1, const char *path2)
{
	const json_t *v = json_object_get(o, path1);

	if (path2)
		v = json_object_get(v, path2);
	return json_string_value(v);
}

static void test_event_objects(void **state)
{
	ctrl_event e;
	ctrl_event_source src = { "snapstage.io/snapstage", "pod-a", "snapstage" };
	json_t *o, *p;

	(void)state;
	make_event(&e, "SnapshotTaken", "took 2 snapshots");
	e.time_ns = T0 + 250 * SS_NS_PER_MS;

	o = ctrl_event_object(&e, CTRL_EVENTS_API_EVENTS_V1, "cm.abc", &src);
	assert_non_null(o);
	assert_string_equal(str(o, "apiVersion", NULL), "events.k8s.io/v1");
	assert_string_equal(str(o, "metadata", "name"), "cm.abc");
	assert_string_equal(str(o, "metadata", "namespace"), "ns1");
	assert_string_equal(str(o, "eventTime", NULL), "2026-11-23T09:20:00.250000Z");
	assert_string_equal(str(o, "reportingController", NULL),
			    "snapstage.io/snapstage");
	assert_string_equal(str(o, "reportingInstance", NULL), "pod-a");
	assert_string_equal(str(o, "reason", NULL), "SnapshotTaken");
	assert_string_equal(str(o, "action", NULL), "SnapshotTaken");
	assert_string_equal(str(o, "note", NULL), "took 2 snapshots");
	assert_string_equal(str(o, "type", NULL), "Normal");
	assert_string_equal(str(o, "regarding", "kind"), "ConfigMap");
	assert_string_equal(str(o, "regarding", "uid"),
			    "0b6f2d2e-1111-2222-3333-444455556666");
	assert_string_equal(str(o, "regarding", "resourceVersion"), "17");
	assert_null(json_object_get(o, "series"));
	json_decref(o);

	e.type = CTRL_EVENT_WARNING;
	o = ctrl_event_object(&e, CTRL_EVENTS_API_CORE_V1, "cm.abc", &src);
	assert_non_null(o);
	assert_string_equal(str(o, "apiVersion", NULL), "v1");
	assert_string_equal(str(o, "involvedObject", "name"), "cm");
	assert_string_equal(str(o, "involvedObject", "namespace"), "ns1");
	assert_string_equal(str(o, "message", NULL), "took 2 snapshots");
	assert_string_equal(str(o, "source", "component"), "snapstage");
	assert_string_equal(str(o, "firstTimestamp", NULL), "2026-11-23T09:20:00Z");
	assert_string_equal(str(o, "lastTimestamp", NULL), "2026-11-23T09:20:00Z");
	assert_int_equal(json_integer_value(json_object_get(o, "count")), 1);
	assert_string_equal(str(o, "type", NULL), "Warning");
	json_decref(o);

	p = ctrl_event_update_patch(CTRL_EVENTS_API_EVENTS_V1, 3, T0 + SEC);
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(p, "series"), "count")),
			 3);
	assert_string_equal(str(p, "series", "lastObservedTime"),
			    "2026-11-23T09:20:01.000000Z");
	json_decref(p);
	p = ctrl_event_update_patch(CTRL_EVENTS_API_CORE_V1, 2, T0 + SEC);
	assert_int_equal(json_integer_value(json_object_get(p, "count")), 2);
	assert_string_equal(str(p, "lastTimestamp", NULL), "2026-11-23T09:20:01Z");
	json_decref(p);
}

static kube_client *client_at(const char *url)
{
	char yaml[512];
	kube_config *cfg = NULL;
	kube_client *c = NULL;

	snprintf(yaml, sizeof(yaml),
		 "current-context: t\n"
		 "clusters: [{name: c, cluster: {server: '%s'}}]\n"
		 "contexts: [{name: t, context: {cluster: c}}]\n",
		 url);
	assert_int_equal(
		kube_config_from_string(&cfg, yaml, strlen(yaml), "t", "/", NULL), 0);
	assert_int_equal(kube_client_new(&c, cfg, NULL), 0);
	kube_config_free(cfg);
	return c;
}

static void test_sender_creates_then_aggregates(void **state)
{
	fake_server s;
	fake_response created = { .status = 201, .body = "{}" };
	fake_response patched = { .status = 200, .body = "{}" };
	ctrl_events_opts opts = CTRL_EVENTS_OPTS_INIT;
	ctrl_events *ev = NULL;
	kube_client *c;
	json_t *cm = configmap();

	(void)state;
	memset(&s, 0, sizeof(s));
	fake_server_start(&s);
	fake_server_add(&s, &created);
	fake_server_add(&s, &patched);
	fake_server_add(&s, &created);
	c = client_at(fake_server_url(&s));
	opts.client = c;
	opts.instance = "pod-a";
	opts.api = CTRL_EVENTS_API_EVENTS_V1;
	assert_int_equal(ctrl_events_new(&ev, &opts), 0);

	assert_int_equal(ctrl_events_record(ev, cm, CTRL_EVENT_NORMAL, "Started",
					    "Backup", "backup %d started", 1),
			 0);
	assert_int_equal(ctrl_events_record(ev, cm, CTRL_EVENT_NORMAL, "Started",
					    "Backup", "backup %d started", 1),
			 0);
	assert_int_equal(ctrl_events_record(ev, cm, CTRL_EVENT_NORMAL, "Started",
					    "Backup", "backup %d started", 2),
			 0);
	assert_int_equal(ctrl_events_flush(ev, 10 * SEC), 0);
	assert_int_equal(ctrl_events_dropped(ev), 0);
	ctrl_events_free(ev);
	fake_server_stop(&s);

	assert_int_equal(s.nrequests, 3);
	assert_true(ss_str_has_prefix(s.requests[0], "POST "));
	assert_non_null(
		strstr(s.requests[0], "/apis/events.k8s.io/v1/namespaces/ns1/events"));
	assert_non_null(strstr(s.requests[0], "\"reportingController\":"
					      "\"snapstage.io/snapstage\""));
	assert_non_null(strstr(s.requests[0], "\"note\":\"backup 1 started\""));
	assert_non_null(strstr(s.requests[0], "\"name\":\"cm."));
	assert_true(ss_str_has_prefix(s.requests[1], "PATCH "));
	assert_non_null(strstr(s.requests[1], "/namespaces/ns1/events/cm."));
	assert_non_null(strstr(s.requests[1], "merge-patch+json"));
	assert_non_null(strstr(s.requests[1], "\"count\":2"));
	/* A different note is a different event. */
	assert_true(ss_str_has_prefix(s.requests[2], "POST "));
	assert_non_null(strstr(s.requests[2], "\"note\":\"backup 2 started\""));
	json_decref(cm);
	kube_client_free(c);
}

/* A loopback port nobody listens on: connections are refused at once. */
static int closed_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void test_full_queue_drops_and_counts(void **state)
{
	ctrl_events_opts opts = CTRL_EVENTS_OPTS_INIT;
	ctrl_events *ev = NULL;
	kube_client *c;
	json_t *cm = configmap();
	char url[64];
	int i, rc, drops = 0;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", closed_port());
	c = client_at(url);
	opts.client = c;
	opts.api = CTRL_EVENTS_API_CORE_V1;
	opts.queue_size = 2;
	assert_int_equal(ctrl_events_new(&ev, &opts), 0);
	/* The sender is busy retrying the first event for most of a second;
	 * the queue holds two more, the rest are dropped. */
	for (i = 0; i < 10; i++) {
		rc = ctrl_events_record(ev, cm, CTRL_EVENT_WARNING, "Failed", NULL, "n%d",
					i);
		assert_true(rc == 0 || rc == SS_ETOOLARGE);
		if (rc == SS_ETOOLARGE)
			drops++;
	}
	assert_true(drops >= 7);
	assert_int_equal(ctrl_events_dropped(ev), (uint64_t)drops);
	tu_assert_error(SS_ETOOLARGE, "queue full");
	/* Invalid input is refused at once, not queued. */
	assert_int_equal(ctrl_events_record(ev, cm, CTRL_EVENT_WARNING, "", NULL, "x"),
			 SS_EINVALID);
	/* Nothing can be sent: flush gives up at its deadline. */
	assert_int_equal(ctrl_events_flush(ev, 50 * SS_NS_PER_MS), SS_ETIMEOUT);
	/* free() does not wait for the retries. */
	ctrl_events_free(ev);
	json_decref(cm);
	kube_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_from_object),
		cmocka_unit_test(test_truncate_utf8),
		cmocka_unit_test(test_init_validates),
		cmocka_unit_test(test_key_and_name),
		cmocka_unit_test(test_aggregation_window),
		cmocka_unit_test(test_event_objects),
		cmocka_unit_test(test_sender_creates_then_aggregates),
		cmocka_unit_test(test_full_queue_drops_and_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
