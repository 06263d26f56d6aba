/*
 * test_cut_proof.c — whether a snapshot's reported cut lies provably outside
 * the lock window (app/backup/cut_proof.h): the content's nanoseconds win
 * over the VolumeSnapshot's RFC 3339 time, whose resolution follows its
 * fractional digits, and a time is refuted only when its whole resolution
 * interval lies outside the window.
 */
#include <stdbool.h>
#include <stdint.h>

#include "testutil.h"

#include "app/backup/cut_proof.h"
#include "util/clock.h"
#include "util/error.h"

#define S INT64_C(1000000000)
/* 2026-12-01T03:00:00Z */
#define T0 (INT64_C(1796094000) * S)

static void test_read_content_first(void **state)
{
	json_t *content = tu_json("{\"metadata\":{\"name\":\"c\"},\"status\":{"
				  "\"creationTime\":1796094000123456789}}");
	json_t *vs = tu_json("{\"metadata\":{\"name\":\"v\"},\"status\":{"
			     "\"creationTime\":\"2026-12-01T03:00:00Z\"}}");
	app_cut_proof_time c;

	(void)state;
	assert_int_equal(app_cut_proof_time_read(&c, content, vs), 0);
	assert_true(c.cut_ns == T0 + 123456789);
	assert_true(c.resolution_ns == 1);
	assert_string_equal(c.source, "VolumeSnapshotContent");
	/* No content time: the VolumeSnapshot's, at its resolution. */
	assert_int_equal(app_cut_proof_time_read(&c, NULL, vs), 0);
	assert_true(c.cut_ns == T0);
	assert_true(c.resolution_ns == S);
	assert_string_equal(c.source, "VolumeSnapshot");
	json_decref(vs);
	vs = tu_json("{\"status\":{\"creationTime\":\"2026-12-01T03:00:00.250Z\"}}");
	assert_int_equal(app_cut_proof_time_read(&c, NULL, vs), 0);
	assert_true(c.cut_ns == T0 + 250000000);
	assert_true(c.resolution_ns == 1000000);
	json_decref(vs);
	vs = tu_json("{\"status\":{\"creationTime\":\"2026-12-01T03:00:00.123456789Z\"}}");
	assert_int_equal(app_cut_proof_time_read(&c, NULL, vs), 0);
	assert_true(c.resolution_ns == 1);
	json_decref(vs);
	json_decref(content);
}

static void test_read_errors(void **state)
{
	json_t *bad = tu_json("{\"metadata\":{\"name\":\"c\"},\"status\":{"
			      "\"creationTime\":\"soon\"}}");
	json_t *none = tu_json("{\"metadata\":{\"name\":\"v\"},\"status\":{}}");
	json_t *old = tu_json("{\"metadata\":{\"name\":\"v\"},\"status\":{"
			      "\"creationTime\":\"1969-12-31T23:59:59Z\"}}");
	app_cut_proof_time c;

	(void)state;
	assert_int_equal(app_cut_proof_time_read(&c, bad, none), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "VolumeSnapshotContent c");
	assert_int_equal(app_cut_proof_time_read(&c, NULL, none), SS_ENOTFOUND);
	assert_int_equal(app_cut_proof_time_read(&c, NULL, NULL), SS_ENOTFOUND);
	assert_int_equal(app_cut_proof_time_read(&c, NULL, old), SS_EINVALID);
	json_decref(bad);
	json_decref(none);
	json_decref(old);
}

static void test_outside(void **state)
{
	/* The lock held from T0+0.2 s to T0+0.5 s. */
	int64_t acq = T0 + S / 5, rel = T0 + S / 2;
	app_cut_proof_time ns = { T0 + S / 5, 1, "c" }, sec = { T0, S, "v" };

	(void)state;
	assert_false(app_cut_proof_outside(&ns, acq, rel)); /* at the acquisition */
	ns.cut_ns = rel;
	assert_false(app_cut_proof_outside(&ns, acq, rel)); /* at the release */
	ns.cut_ns = rel + 1;
	assert_true(app_cut_proof_outside(&ns, acq, rel)); /* 1 ns late */
	ns.cut_ns = acq - 1;
	assert_true(app_cut_proof_outside(&ns, acq, rel)); /* 1 ns early */
	/* Whole seconds: T0 stands for [T0, T0+1s), which meets the window. */
	assert_false(app_cut_proof_outside(&sec, acq, rel));
	sec.cut_ns = T0 - S; /* [T0-1s, T0): before it */
	assert_true(app_cut_proof_outside(&sec, acq, rel));
	sec.cut_ns = T0 + S; /* after it */
	assert_true(app_cut_proof_outside(&sec, acq, rel));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_content_first),
		cmocka_unit_test(test_read_errors),
		cmocka_unit_test(test_outside),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
