/*
 * test_leader.c — the leader-election rules (ctrl/leader.h) as pure
 * functions driven by a fake clock: a free, missing or released lease is
 * taken; another holder's lease is waited out for leaseDurationSeconds from
 * the moment *we* saw it change, whatever its own timestamps say; our own
 * lease is renewed keeping acquireTime; transitions count holder changes.
 * Also the Lease JSON mapping and the option checks. The elector's threads
 * and API calls are covered by tests/integration/test_leader_events.c.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "ctrl/leader.h"
#include "ctrl/metrics.h"
#include "kube/config.h"
#include "util/clock.h"
#include "util/error.h"

#define SEC SS_NS_PER_SEC
/* 2026-11-23T09:20:00Z */
#define T0 (INT64_C(1795425600) * SEC)

static ctrl_lease_record held_by(const char *holder, int64_t duration_s, int64_t renew_ns,
				 int64_t transitions)
{
	ctrl_lease_record r;

	memset(&r, 0, sizeof(r));
	snprintf(r.holder, sizeof(r.holder), "%s", holder);
	r.lease_duration_s = duration_s;
	r.acquire_time_ns = renew_ns;
	r.renew_time_ns = renew_ns;
	r.transitions = transitions;
	return r;
}

static void test_nothing_observed_is_free(void **state)
{
	ctrl_lease_observed seen;

	(void)state;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(ctrl_lease_decide(&seen, "me", SEC), CTRL_LEASE_ACQUIRE);
}

static void test_empty_holder_is_free(void **state)
{
	ss_fake_clock fc;
	ctrl_lease_observed seen;
	ctrl_lease_record rec = held_by("", 15, T0, 4), next;

	(void)state;
	ss_fake_clock_init(&fc, T0);
	memset(&seen, 0, sizeof(seen));
	ctrl_lease_observe(&seen, &rec, ss_clock_mono(&fc.clock));
	/* Free at once, not after leaseDurationSeconds. */
	assert_int_equal(ctrl_lease_decide(&seen, "me", ss_clock_mono(&fc.clock)),
			 CTRL_LEASE_ACQUIRE);
	ctrl_lease_next(&next, &rec, CTRL_LEASE_ACQUIRE, "me", 15,
			ss_clock_real(&fc.clock));
	assert_string_equal(next.holder, "me");
	assert_int_equal(next.transitions, 5);
	assert_int_equal(next.acquire_time_ns, T0);
	assert_int_equal(next.renew_time_ns, T0);
	assert_int_equal(next.lease_duration_s, 15);
}

static void test_held_lease_waits_lease_duration_from_observation(void **state)
{
	ss_fake_clock fc;
	ctrl_lease_observed seen;
	/* The holder's renewTime is an hour old by our wall clock: it must not
	 * matter, its clock may be wrong. */
	ctrl_lease_record rec = held_by("other", 15, T0 - 3600 * SEC, 2);

	(void)state;
	ss_fake_clock_init(&fc, T0);
	memset(&seen, 0, sizeof(seen));
	assert_true(ctrl_lease_observe(&seen, &rec, ss_clock_mono(&fc.clock)));
	assert_int_equal(ctrl_lease_decide(&seen, "me", ss_clock_mono(&fc.clock)),
			 CTRL_LEASE_WAIT);

	ss_fake_clock_advance(&fc, 15 * SEC - 1);
	/* Re-reading the same record does not move the observed time. */
	assert_false(ctrl_lease_observe(&seen, &rec, ss_clock_mono(&fc.clock)));
	assert_int_equal(ctrl_lease_decide(&seen, "me", ss_clock_mono(&fc.clock)),
			 CTRL_LEASE_WAIT);

	ss_fake_clock_advance(&fc, 1);
	assert_int_equal(ctrl_lease_decide(&seen, "me", ss_clock_mono(&fc.clock)),
			 CTRL_LEASE_ACQUIRE);
}

static void test_renewal_by_holder_restarts_the_wait(void **state)
{
	ss_fake_clock fc;
	ctrl_lease_observed seen;
	ctrl_lease_record rec = held_by("other", 15, T0, 0);

	(void)state;
	ss_fake_clock_init(&fc, T0);
	memset(&seen, 0, sizeof(seen));
	ctrl_lease_observe(&seen, &rec, ss_clock_mono(&fc.clock));
	ss_fake_clock_advance(&fc, 10 * SEC);
	/* The holder renewed, with a renewTime *behind* ours (skewed clock):
	 * any change counts. */
	rec.renew_time_ns = T0 - 100 * SEC;
	assert_true(ctrl_lease_observe(&seen, &rec, ss_clock_mono(&fc.clock)));
	ss_fake_clock_advance(&fc, 14 * SEC);
	assert_int_equal(ctrl_lease_decide(&seen, "me", ss_clock_mono(&fc.clock)),
			 CTRL_LEASE_WAIT);
	ss_fake_clock_advance(&fc, 1 * SEC);
	assert_int_equal(ctrl_lease_decide(&seen, "me", ss_clock_mono(&fc.clock)),
			 CTRL_LEASE_ACQUIRE);
}

static void test_future_renew_time_does_not_extend(void **state)
{
	ss_fake_clock fc;
	ctrl_lease_observed seen;
	/* A holder whose clock runs a day ahead. */
	ctrl_lease_record rec = held_by("other", 5, T0 + 86400 * SEC, 0);

	(void)state;
	ss_fake_clock_init(&fc, T0);
	memset(&seen, 0, sizeof(seen));
	ctrl_lease_observe(&seen, &rec, ss_clock_mono(&fc.clock));
	ss_fake_clock_advance(&fc, 5 * SEC);
	assert_int_equal(ctrl_lease_decide(&seen, "me", ss_clock_mono(&fc.clock)),
			 CTRL_LEASE_ACQUIRE);
}

static void test_expired_takeover_counts_a_transition(void **state)
{
	ss_fake_clock fc;
	ctrl_lease_observed seen;
	ctrl_lease_record rec = held_by("other", 15, T0 - 20 * SEC, 7), next;

	(void)state;
	ss_fake_clock_init(&fc, T0);
	memset(&seen, 0, sizeof(seen));
	ctrl_lease_observe(&seen, &rec, ss_clock_mono(&fc.clock));
	ss_fake_clock_advance(&fc, 16 * SEC);
	assert_int_equal(ctrl_lease_decide(&seen, "me", ss_clock_mono(&fc.clock)),
			 CTRL_LEASE_ACQUIRE);
	ctrl_lease_next(&next, &rec, CTRL_LEASE_ACQUIRE, "me", 10,
			ss_clock_real(&fc.clock));
	assert_string_equal(next.holder, "me");
	assert_int_equal(next.transitions, 8);
	assert_int_equal(next.lease_duration_s, 10);
	assert_int_equal(next.acquire_time_ns, T0 + 16 * SEC);
	assert_int_equal(next.renew_time_ns, T0 + 16 * SEC);
}

static void test_own_lease_is_renewed(void **state)
{
	ss_fake_clock fc;
	ctrl_lease_observed seen;
	ctrl_lease_record rec = held_by("me", 15, T0, 3), next;

	(void)state;
	ss_fake_clock_init(&fc, T0);
	memset(&seen, 0, sizeof(seen));
	ctrl_lease_observe(&seen, &rec, ss_clock_mono(&fc.clock));
	ss_fake_clock_advance(&fc, 2 * SEC);
	assert_int_equal(ctrl_lease_decide(&seen, "me", ss_clock_mono(&fc.clock)),
			 CTRL_LEASE_RENEW);
	/* Even long after expiry it is still ours to renew if nobody took it. */
	ss_fake_clock_advance(&fc, 60 * SEC);
	assert_int_equal(ctrl_lease_decide(&seen, "me", ss_clock_mono(&fc.clock)),
			 CTRL_LEASE_RENEW);
	ctrl_lease_next(&next, &rec, CTRL_LEASE_RENEW, "me", 15,
			ss_clock_real(&fc.clock));
	assert_int_equal(next.acquire_time_ns, T0);
	assert_int_equal(next.renew_time_ns, T0 + 62 * SEC);
	assert_int_equal(next.transitions, 3);
	/* A holder whose name only starts like ours is someone else. */
	assert_int_equal(ctrl_lease_decide(&seen, "m", ss_clock_mono(&fc.clock)),
			 CTRL_LEASE_ACQUIRE);
}

static void test_zero_duration_counts_as_expired(void **state)
{
	ctrl_lease_observed seen;
	ctrl_lease_record rec = held_by("other", 0, T0, 0);

	(void)state;
	memset(&seen, 0, sizeof(seen));
	ctrl_lease_observe(&seen, &rec, SEC);
	assert_int_equal(ctrl_lease_decide(&seen, "me", SEC), CTRL_LEASE_ACQUIRE);
}

static void test_release_and_successor(void **state)
{
	ss_fake_clock fc;
	ctrl_lease_observed seen;
	ctrl_lease_record mine = held_by("me", 15, T0, 3), released, next;

	(void)state;
	ss_fake_clock_init(&fc, T0);
	ss_fake_clock_advance(&fc, 5 * SEC);
	ctrl_lease_released(&released, &mine, ss_clock_real(&fc.clock));
	assert_string_equal(released.holder, "");
	assert_int_equal(released.lease_duration_s, 1);
	assert_int_equal(released.transitions, 3);
	assert_int_equal(released.renew_time_ns, T0 + 5 * SEC);
	assert_int_equal(released.acquire_time_ns, T0 + 5 * SEC);

	/* A successor that just saw the release takes it without waiting. */
	memset(&seen, 0, sizeof(seen));
	ctrl_lease_observe(&seen, &released, ss_clock_mono(&fc.clock));
	assert_int_equal(ctrl_lease_decide(&seen, "you", ss_clock_mono(&fc.clock)),
			 CTRL_LEASE_ACQUIRE);
	ctrl_lease_next(&next, &released, CTRL_LEASE_ACQUIRE, "you", 15,
			ss_clock_real(&fc.clock));
	assert_int_equal(next.transitions, 4);
}

static void test_transitions_over_a_sequence(void **state)
{
	ctrl_lease_record r, next;
	ctrl_lease_observed seen;
	const char *who[] = { "a", "a", "b", "b", "a" };
	const int64_t expect[] = { 1, 1, 2, 2, 3 };
	size_t i;

	(void)state;
	memset(&r, 0, sizeof(r));
	memset(&seen, 0, sizeof(seen));
	for (i = 0; i < 5; i++) {
		ctrl_lease_action a;

		ctrl_lease_observe(&seen, &r, (int64_t)i * 100 * SEC);
		a = ctrl_lease_decide(&seen, who[i], (int64_t)i * 100 * SEC + 50 * SEC);
		assert_int_not_equal(a, CTRL_LEASE_WAIT);
		ctrl_lease_next(&next, &r, a, who[i], 15, T0 + (int64_t)i * SEC);
		assert_int_equal(next.transitions, expect[i]);
		r = next;
	}
}

static void test_json_round_trip(void **state)
{
	ctrl_lease_record rec = held_by("host_0123456789abcdef", 15, T0 + 123456000, 9);
	ctrl_lease_record back;
	json_t *spec, *lease;

	(void)state;
	spec = ctrl_lease_spec_json(&rec);
	assert_non_null(spec);
	assert_string_equal(json_string_value(json_object_get(spec, "renewTime")),
			    "2026-11-23T09:20:00.123456Z");
	assert_int_equal(json_integer_value(json_object_get(spec, "leaseTransitions")),
			 9);
	lease = json_pack("{s:o}", "spec", spec);
	assert_int_equal(ctrl_lease_from_json(&back, lease), 0);
	assert_true(ctrl_lease_record_equal(&rec, &back));
	json_decref(lease);

	/* Released: the holder is written as "" (not omitted). */
	memset(&rec, 0, sizeof(rec));
	rec.lease_duration_s = 1;
	spec = ctrl_lease_spec_json(&rec);
	assert_string_equal(json_string_value(json_object_get(spec, "holderIdentity")),
			    "");
	assert_null(json_object_get(spec, "renewTime"));
	json_decref(spec);
}

static void test_json_from_server(void **state)
{
	/* As kube-apiserver 1.20 returns a Lease written by client-go. */
	const char *text =
		"{\"kind\":\"Lease\",\"apiVersion\":\"coordination.k8s.io/v1\","
		"\"metadata\":{\"name\":\"l\",\"namespace\":\"n\",\"resourceVersion\":"
		"\"42\"},\"spec\":{\"holderIdentity\":\"node-1_ab\","
		"\"leaseDurationSeconds\":15,\"acquireTime\":\"2026-11-23T09:20:00."
		"000000Z\","
		"\"renewTime\":\"2026-11-23T09:20:04.500000Z\",\"leaseTransitions\":2}}";
	json_t *lease = json_loads(text, 0, NULL);
	ctrl_lease_record rec;

	(void)state;
	assert_non_null(lease);
	assert_int_equal(ctrl_lease_from_json(&rec, lease), 0);
	assert_string_equal(rec.holder, "node-1_ab");
	assert_int_equal(rec.lease_duration_s, 15);
	assert_int_equal(rec.acquire_time_ns, T0);
	assert_int_equal(rec.renew_time_ns, T0 + 4500 * SS_NS_PER_MS);
	assert_int_equal(rec.transitions, 2);
	json_decref(lease);

	/* A Lease without a spec is free. */
	lease = json_pack("{s:{s:s}}", "metadata", "name", "l");
	assert_int_equal(ctrl_lease_from_json(&rec, lease), 0);
	assert_string_equal(rec.holder, "");
	json_decref(lease);

	lease = json_pack("{s:{s:s}}", "spec", "renewTime", "yesterday");
	assert_int_equal(ctrl_lease_from_json(&rec, lease), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "yesterday");
	json_decref(lease);
}

static void test_duration_checks(void **state)
{
	(void)state;
	assert_int_equal(ctrl_leader_check_durations(15 * SEC, 10 * SEC, 2 * SEC), 0);
	assert_int_equal(ctrl_leader_check_durations(3 * SEC, 2 * SEC, SEC / 2), 0);
	assert_int_equal(ctrl_leader_check_durations(10 * SEC, 10 * SEC, 2 * SEC),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID, "greater than the renew deadline");
	assert_int_equal(ctrl_leader_check_durations(15 * SEC, 12 * SEC, 10 * SEC),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID, "1.2");
	assert_int_equal(ctrl_leader_check_durations(SEC / 2, SEC / 4, SEC / 10),
			 SS_EINVALID);
	assert_int_equal(ctrl_leader_check_durations(15 * SEC, 10 * SEC, 0), SS_EINVALID);
}

static kube_client *offline_client(void)
{
	const char *yaml =
		"current-context: t\n"
		"clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
		"contexts: [{name: t, context: {cluster: c}}]\n";
	kube_config *cfg = NULL;
	kube_client *c = NULL;

	assert_int_equal(
		kube_config_from_string(&cfg, yaml, strlen(yaml), "t", "/", NULL), 0);
	assert_int_equal(kube_client_new(&c, cfg, NULL), 0);
	kube_config_free(cfg);
	return c;
}

static void test_new_validates_and_defaults(void **state)
{
	ctrl_leader_opts opts = CTRL_LEADER_OPTS_INIT;
	ctrl_leader *le = NULL;
	ctrl_metrics *m = NULL;
	ss_buf text = SS_BUF_INIT(1 << 16);
	kube_client *c = offline_client();
	const char *id, *us;
	size_t i;

	(void)state;
	assert_int_equal(ctrl_leader_new(&le, &opts), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "client");
	opts.client = c;
	assert_int_equal(ctrl_leader_new(&le, &opts), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "lease namespace");
	opts.lease_namespace = "ns";
	opts.lease_name = "snapstage";
	opts.renew_deadline_ns = opts.lease_duration_ns;
	assert_int_equal(ctrl_leader_new(&le, &opts), SS_EINVALID);
	assert_null(le);
	opts.renew_deadline_ns = 10 * SEC;

	assert_int_equal(ctrl_leader_new(&le, &opts), 0);
	/* hostname + "_" + 16 hex digits. */
	id = ctrl_leader_identity(le);
	us = strrchr(id, '_');
	assert_non_null(us);
	assert_true(us > id);
	assert_int_equal(strlen(us + 1), 16);
	for (i = 1; i <= 16; i++)
		assert_non_null(strchr("0123456789abcdef", us[i]));
	assert_false(ctrl_leader_is_leader(le));
	/* Stop before start, and free, are harmless. */
	ctrl_leader_stop(le, true);
	ctrl_leader_free(le);

	/* With a registry the gauge exists, at 0, from the start. */
	assert_int_equal(ctrl_metrics_new(&m), 0);
	opts.identity = "pod-a";
	opts.metrics = m;
	assert_int_equal(ctrl_leader_new(&le, &opts), 0);
	assert_string_equal(ctrl_leader_identity(le), "pod-a");
	assert_true(ctrl_metrics_value(m, "snapstage_leader", CTRL_LV("snapstage")) ==
		    0.0);
	assert_int_equal(ctrl_metrics_render(m, &text), 0);
	assert_non_null(
		strstr(ss_buf_cstr(&text), "snapstage_leader{lease=\"snapstage\"} 0"));
	ss_buf_free(&text);
	ctrl_leader_free(le);
	ctrl_metrics_free(m);
	kube_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_observed_is_free),
		cmocka_unit_test(test_empty_holder_is_free),
		cmocka_unit_test(test_held_lease_waits_lease_duration_from_observation),
		cmocka_unit_test(test_renewal_by_holder_restarts_the_wait),
		cmocka_unit_test(test_future_renew_time_does_not_extend),
		cmocka_unit_test(test_expired_takeover_counts_a_transition),
		cmocka_unit_test(test_own_lease_is_renewed),
		cmocka_unit_test(test_zero_duration_counts_as_expired),
		cmocka_unit_test(test_release_and_successor),
		cmocka_unit_test(test_transitions_over_a_sequence),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_from_server),
		cmocka_unit_test(test_duration_checks),
		cmocka_unit_test(test_new_validates_and_defaults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
