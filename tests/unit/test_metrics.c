/*
 * test_metrics.c — the Prometheus registry (ctrl/metrics.h): registration
 * and clash rules, name validation, counter/gauge/histogram values, the
 * exact text it renders (escaping, number formats, ordering), collectors,
 * exact totals under concurrent updates, and — as a check independent of
 * our own expectations — that tests/tools/promcheck.py accepts the output.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ctrl/metrics.h"
#include "util/buf.h"
#include "util/error.h"

#ifndef SNAPSTAGE_SOURCE_DIR
#error "SNAPSTAGE_SOURCE_DIR must name the source tree (for promcheck.py)"
#endif

static int setup(void **state)
{
	ctrl_metrics *m = NULL;

	assert_int_equal(ctrl_metrics_new(&m), 0);
	*state = m;
	return 0;
}

static int teardown(void **state)
{
	ctrl_metrics_free(*state);
	return 0;
}

static char *render(ctrl_metrics *m)
{
	ss_buf out = SS_BUF_INIT(1 << 20);

	assert_int_equal(ctrl_metrics_render(m, &out), 0);
	return ss_buf_detach(&out);
}

static void test_registration_is_idempotent(void **state)
{
	ctrl_metrics *m = *state;
	ctrl_counter *a = ctrl_metrics_counter(m, "x_total", "X.", CTRL_LV("k"));
	ctrl_counter *b = ctrl_metrics_counter(m, "x_total", "Other help.", CTRL_LV("k"));
	ctrl_histogram *h1 = ctrl_metrics_histogram(m, "h", "H.", CTRL_LV_NONE, NULL, 0);
	ctrl_histogram *h2 = ctrl_metrics_histogram(m, "h", "H.", CTRL_LV_NONE, NULL, 0);

	assert_non_null(a);
	assert_ptr_equal(a, b);
	assert_non_null(h1);
	assert_ptr_equal(h1, h2);
}

static void test_registration_clashes(void **state)
{
	ctrl_metrics *m = *state;
	static const double buckets[] = { 1, 2 };

	assert_non_null(ctrl_metrics_counter(m, "x_total", "X.", CTRL_LV("k")));
	assert_null(ctrl_metrics_counter(m, "x_total", "X.", CTRL_LV("other")));
	tu_assert_error(SS_EEXISTS, "x_total is already registered as a counter");
	assert_null(ctrl_metrics_counter(m, "x_total", "X.", CTRL_LV("k", "j")));
	tu_assert_error(SS_EEXISTS, "x_total");
	assert_null(ctrl_metrics_gauge(m, "x_total", "X.", CTRL_LV("k")));
	tu_assert_error(SS_EEXISTS, "x_total");

	assert_non_null(ctrl_metrics_histogram(m, "lat", "L.", CTRL_LV_NONE, NULL, 0));
	assert_null(ctrl_metrics_histogram(m, "lat", "L.", CTRL_LV_NONE, buckets, 2));
	tu_assert_error(SS_EEXISTS, "lat");
	/* Its samples' names are taken too. */
	assert_null(ctrl_metrics_counter(m, "lat_count", "C.", CTRL_LV_NONE));
	tu_assert_error(SS_EEXISTS, "clashes with histogram lat");
	assert_null(ctrl_metrics_gauge(m, "lat_bucket", "C.", CTRL_LV_NONE));
	assert_non_null(ctrl_metrics_gauge(m, "lat_buckets", "C.", CTRL_LV_NONE));
	assert_non_null(ctrl_metrics_gauge(m, "q_sum", "Q.", CTRL_LV_NONE));
	assert_null(ctrl_metrics_histogram(m, "q", "Q.", CTRL_LV_NONE, NULL, 0));
	tu_assert_error(SS_EEXISTS, "histogram q clashes with metric q_sum");
}

static void test_name_validation(void **state)
{
	ctrl_metrics *m = *state;
	static const double down[] = { 2, 1 };
	static const double same[] = { 1, 1 };
	const double nan_bucket[] = { 1, NAN };

	assert_null(ctrl_metrics_counter(m, "1abc", "", CTRL_LV_NONE));
	tu_assert_error(SS_EINVALID, "metric name '1abc' is not valid");
	assert_null(ctrl_metrics_counter(m, "a-b", "", CTRL_LV_NONE));
	assert_null(ctrl_metrics_counter(m, "", "", CTRL_LV_NONE));
	assert_null(ctrl_metrics_counter(m, NULL, "", CTRL_LV_NONE));
	assert_non_null(ctrl_metrics_counter(m, "ns:sub_1:total", "", CTRL_LV_NONE));
	assert_non_null(ctrl_metrics_counter(m, "_x", "", CTRL_LV("_y", "Z9")));

	assert_null(ctrl_metrics_counter(m, "l1", "", CTRL_LV("a:b")));
	tu_assert_error(SS_EINVALID, "label name 'a:b' is not valid");
	assert_null(ctrl_metrics_counter(m, "l2", "", CTRL_LV("9a")));
	assert_null(ctrl_metrics_counter(m, "l3", "", CTRL_LV("__name")));
	tu_assert_error(SS_EINVALID, "reserved");
	assert_null(ctrl_metrics_counter(m, "l4", "", CTRL_LV("a", "a")));
	tu_assert_error(SS_EINVALID, "label 'a' given twice");
	assert_null(ctrl_metrics_counter(m, "l5", "", CTRL_LV("a", "b", "c", "d", "e")));
	tu_assert_error(SS_EINVALID, "more than 4 labels");
	assert_non_null(ctrl_metrics_counter(m, "l6", "", CTRL_LV("a", "b", "c", "d")));
	assert_non_null(ctrl_metrics_counter(m, "l7", "", CTRL_LV("le")));
	assert_null(ctrl_metrics_histogram(m, "l8", "", CTRL_LV("le"), NULL, 0));
	tu_assert_error(SS_EINVALID, "'le' is reserved");

	assert_null(ctrl_metrics_histogram(m, "b1", "", CTRL_LV_NONE, down, 2));
	tu_assert_error(SS_EINVALID, "strictly increasing");
	assert_null(ctrl_metrics_histogram(m, "b2", "", CTRL_LV_NONE, same, 2));
	assert_null(ctrl_metrics_histogram(m, "b3", "", CTRL_LV_NONE, nan_bucket, 2));
	tu_assert_error(SS_EINVALID, "finite");
	assert_null(ctrl_metrics_histogram(m, "b4", "", CTRL_LV_NONE, down, 0));
	/* Nothing half-registered is left behind. */
	assert_true(ctrl_metrics_value(m, "l1", CTRL_LV("x")) == -1);
	assert_true(ctrl_metrics_value(m, "b1", CTRL_LV_NONE) == -1);
}

static void test_values(void **state)
{
	ctrl_metrics *m = *state;
	ctrl_counter *c = ctrl_metrics_counter(m, "c_total", "C.", CTRL_LV("a", "b"));
	ctrl_gauge *g = ctrl_metrics_gauge(m, "g", "G.", CTRL_LV_NONE);
	ctrl_histogram *h = ctrl_metrics_histogram(m, "h", "H.", CTRL_LV("a"), NULL, 0);

	assert_true(ctrl_metrics_value(m, "c_total", CTRL_LV("x", "y")) == 0);
	ctrl_counter_inc(c, CTRL_LV("x", "y"));
	ctrl_counter_add(c, CTRL_LV("x", "y"), 2.5);
	ctrl_counter_add(c, CTRL_LV("x", "y"), -1); /* counters never go down */
	ctrl_counter_add(c, CTRL_LV("x", "y"), NAN);
	ctrl_counter_inc(c, CTRL_LV("x"));	     /* wrong arity: ignored */
	ctrl_counter_inc(c, CTRL_LV("x", "y", "z")); /* likewise */
	ctrl_counter_inc(c, NULL);
	assert_true(ctrl_metrics_value(m, "c_total", CTRL_LV("x", "y")) == 3.5);
	assert_true(ctrl_metrics_value(m, "c_total", CTRL_LV("x", "z")) == 0);
	assert_true(ctrl_metrics_value(m, "c_total", CTRL_LV("x")) == -1);
	assert_true(ctrl_metrics_value(m, "nope", CTRL_LV_NONE) == -1);

	ctrl_gauge_set(g, CTRL_LV_NONE, 5);
	ctrl_gauge_add(g, NULL, -7);
	assert_true(ctrl_metrics_value(m, "g", CTRL_LV_NONE) == -2);

	ctrl_histogram_observe(h, CTRL_LV("q"), 0.2);
	ctrl_histogram_observe(h, CTRL_LV("q"), 20);
	ctrl_histogram_observe(h, CTRL_LV("q"), NAN); /* ignored */
	assert_true(ctrl_metrics_value(m, "h", CTRL_LV("q")) == 2);

	/* NULL families are accepted everywhere, for optional metrics. */
	ctrl_counter_inc(NULL, CTRL_LV_NONE);
	ctrl_gauge_set(NULL, CTRL_LV_NONE, 1);
	ctrl_histogram_observe(NULL, CTRL_LV_NONE, 1);
}

static void test_render_exact(void **state)
{
	ctrl_metrics *m = *state;
	static const double buckets[] = { 0.5, 1 };
	ctrl_counter *b =
		ctrl_metrics_counter(m, "b_total", "B \\ help\nline", CTRL_LV("x"));
	ctrl_gauge *a = ctrl_metrics_gauge(m, "a_gauge", "A gauge.", CTRL_LV_NONE);
	ctrl_histogram *c =
		ctrl_metrics_histogram(m, "c_seconds", "C.", CTRL_LV_NONE, buckets, 2);
	ctrl_gauge *e = ctrl_metrics_gauge(m, "e", "", CTRL_LV("k", "j"));
	char *text;

	ctrl_counter_inc(b, CTRL_LV("v\"1"));
	ctrl_counter_add(b, CTRL_LV("a\\b\n"), 2.5);
	ctrl_gauge_set(a, CTRL_LV_NONE, 3);
	ctrl_histogram_observe(c, CTRL_LV_NONE, 0.25);
	ctrl_histogram_observe(c, CTRL_LV_NONE, 1);
	ctrl_histogram_observe(c, CTRL_LV_NONE, 7);
	ctrl_gauge_set(e, CTRL_LV("2", "z"), 0.1);
	ctrl_gauge_set(e, CTRL_LV("10", "z"), 1e20);
	ctrl_gauge_set(e, CTRL_LV("1", "b"), -INFINITY);
	ctrl_gauge_set(e, CTRL_LV("1", "a"), NAN);
	ctrl_gauge_set(e, CTRL_LV("3", ""), 1.0 / 3);
	ctrl_gauge_set(e, CTRL_LV("4", ""), -0.0);
	ctrl_gauge_set(e, CTRL_LV("5", ""), 123456789012);
	ctrl_gauge_set(e, CTRL_LV("6", ""), 2.5e-7);
	text = render(m);
	assert_string_equal(text, "# HELP a_gauge A gauge.\n"
				  "# TYPE a_gauge gauge\n"
				  "a_gauge 3\n"
				  "# HELP b_total B \\\\ help\\nline\n"
				  "# TYPE b_total counter\n"
				  "b_total{x=\"a\\\\b\\n\"} 2.5\n"
				  "b_total{x=\"v\\\"1\"} 1\n"
				  "# HELP c_seconds C.\n"
				  "# TYPE c_seconds histogram\n"
				  "c_seconds_bucket{le=\"0.5\"} 1\n"
				  "c_seconds_bucket{le=\"1\"} 2\n"
				  "c_seconds_bucket{le=\"+Inf\"} 3\n"
				  "c_seconds_sum 8.25\n"
				  "c_seconds_count 3\n"
				  "# TYPE e gauge\n"
				  "e{k=\"1\",j=\"a\"} NaN\n"
				  "e{k=\"1\",j=\"b\"} -Inf\n"
				  "e{k=\"10\",j=\"z\"} 1e+20\n"
				  "e{k=\"2\",j=\"z\"} 0.1\n"
				  "e{k=\"3\",j=\"\"} 0.3333333333333333\n"
				  "e{k=\"4\",j=\"\"} 0\n"
				  "e{k=\"5\",j=\"\"} 123456789012\n"
				  "e{k=\"6\",j=\"\"} 2.5e-07\n");
	free(text);
}

static void test_render_histogram_labels_and_defaults(void **state)
{
	ctrl_metrics *m = *state;
	ctrl_histogram *h = ctrl_metrics_histogram(m, "d", "D.", CTRL_LV("op"), NULL, 0);
	char *text;

	ctrl_histogram_observe(h, CTRL_LV("r"), 0.005); /* bounds are inclusive */
	ctrl_histogram_observe(h, CTRL_LV("r"), 3);
	text = render(m);
	assert_string_equal(text, "# HELP d D.\n"
				  "# TYPE d histogram\n"
				  "d_bucket{op=\"r\",le=\"0.005\"} 1\n"
				  "d_bucket{op=\"r\",le=\"0.01\"} 1\n"
				  "d_bucket{op=\"r\",le=\"0.025\"} 1\n"
				  "d_bucket{op=\"r\",le=\"0.05\"} 1\n"
				  "d_bucket{op=\"r\",le=\"0.1\"} 1\n"
				  "d_bucket{op=\"r\",le=\"0.25\"} 1\n"
				  "d_bucket{op=\"r\",le=\"0.5\"} 1\n"
				  "d_bucket{op=\"r\",le=\"1\"} 1\n"
				  "d_bucket{op=\"r\",le=\"2.5\"} 1\n"
				  "d_bucket{op=\"r\",le=\"5\"} 2\n"
				  "d_bucket{op=\"r\",le=\"10\"} 2\n"
				  "d_bucket{op=\"r\",le=\"+Inf\"} 2\n"
				  "d_sum{op=\"r\"} 3.005\n"
				  "d_count{op=\"r\"} 2\n");
	free(text);
}

static void test_render_bounded(void **state)
{
	ctrl_metrics *m = *state;
	ss_buf small = SS_BUF_INIT(16);

	ctrl_metrics_gauge(m, "a_rather_long_gauge_name", "Help.", CTRL_LV_NONE);
	assert_int_equal(ctrl_metrics_render(m, &small), SS_ETOOLARGE);
	ss_buf_free(&small);
}

typedef struct {
	ctrl_gauge *g;
	int calls;
} collect_state;

static void collect(ctrl_metrics *m, void *payload)
{
	collect_state *cs = payload;

	(void)m;
	cs->calls++;
	ctrl_gauge_set(cs->g, CTRL_LV("q"), cs->calls * 10);
}

static void test_collectors(void **state)
{
	ctrl_metrics *m = *state;
	collect_state cs = { ctrl_metrics_gauge(m, "depth", "D.", CTRL_LV("name")), 0 };
	char *text;

	assert_int_equal(ctrl_metrics_add_collector(m, collect, &cs), 0);
	text = render(m);
	assert_non_null(strstr(text, "depth{name=\"q\"} 10\n"));
	free(text);
	text = render(m);
	assert_non_null(strstr(text, "depth{name=\"q\"} 20\n"));
	free(text);
	ctrl_metrics_remove_collector(m, collect, &cs);
	ctrl_metrics_remove_collector(m, collect, &cs); /* absent: no-op */
	text = render(m);
	assert_int_equal(cs.calls, 2);
	free(text);
}

#define STORM_THREADS 6
#define STORM_ROUNDS 20000

typedef struct {
	ctrl_metrics *m;
	ctrl_counter *c;
	ctrl_gauge *g;
	ctrl_histogram *h;
	int id;
} storm_arg;

static void *storm(void *p)
{
	storm_arg *a = p;
	char label[16];
	int i;

	snprintf(label, sizeof(label), "t%d", a->id % 3);
	for (i = 0; i < STORM_ROUNDS; i++) {
		ctrl_counter_inc(a->c, CTRL_LV(label));
		ctrl_counter_add(a->c, CTRL_LV("all"), 0.5);
		ctrl_gauge_add(a->g, CTRL_LV_NONE, 1);
		ctrl_histogram_observe(a->h, CTRL_LV(label), (double)(i % 4));
	}
	return NULL;
}

static void *renderer(void *p)
{
	storm_arg *a = p;
	int i;

	for (i = 0; i < 50; i++)
		free(render(a->m));
	return NULL;
}

static void test_thread_storm(void **state)
{
	ctrl_metrics *m = *state;
	storm_arg args[STORM_THREADS + 1];
	pthread_t threads[STORM_THREADS + 1];
	int i;

	for (i = 0; i <= STORM_THREADS; i++) {
		args[i].m = m;
		args[i].c = ctrl_metrics_counter(m, "s_total", "S.", CTRL_LV("t"));
		args[i].g = ctrl_metrics_gauge(m, "s_gauge", "S.", CTRL_LV_NONE);
		args[i].h = ctrl_metrics_histogram(m, "s_seconds", "S.", CTRL_LV("t"),
						   NULL, 0);
		args[i].id = i;
		assert_int_equal(pthread_create(&threads[i], NULL,
						i < STORM_THREADS ? storm : renderer,
						&args[i]),
				 0);
	}
	for (i = 0; i <= STORM_THREADS; i++)
		pthread_join(threads[i], NULL);
	for (i = 0; i < 3; i++) {
		char label[16];

		snprintf(label, sizeof(label), "t%d", i);
		assert_true(ctrl_metrics_value(m, "s_total", CTRL_LV(label)) ==
			    2.0 * STORM_ROUNDS);
		assert_true(ctrl_metrics_value(m, "s_seconds", CTRL_LV(label)) ==
			    2.0 * STORM_ROUNDS);
	}
	assert_true(ctrl_metrics_value(m, "s_total", CTRL_LV("all")) ==
		    0.5 * STORM_THREADS * STORM_ROUNDS);
	assert_true(ctrl_metrics_value(m, "s_gauge", CTRL_LV_NONE) ==
		    (double)STORM_THREADS * STORM_ROUNDS);
}

static void test_observe_api(void **state)
{
	ctrl_metrics *m = *state;
	char *text;

	ctrl_metrics_observe_api(m, "GET", 200, 0.02);
	ctrl_metrics_observe_api(m, "GET", 200, 0.2);
	ctrl_metrics_observe_api(m, "LIST", 0, 1.5);
	ctrl_metrics_observe_api(NULL, "GET", 200, 1);
	assert_true(ctrl_metrics_value(m, "snapstage_api_requests_total",
				       CTRL_LV("GET", "200")) == 2);
	assert_true(ctrl_metrics_value(m, "snapstage_api_requests_total",
				       CTRL_LV("LIST", "<error>")) == 1);
	assert_true(ctrl_metrics_value(m, "snapstage_api_request_duration_seconds",
				       CTRL_LV("GET")) == 2);
	text = render(m);
	assert_non_null(strstr(text, "snapstage_api_request_duration_seconds_bucket{verb="
				     "\"GET\",le=\"0.025\"} 1\n"));
	assert_non_null(strstr(text, "snapstage_api_request_duration_seconds_bucket{verb="
				     "\"GET\",le=\"0.25\"} 2\n"));
	free(text);
}

/* The output of a registry using every feature passes an independent checker. */
static void test_promcheck_accepts_output(void **state)
{
	ctrl_metrics *m = *state;
	ctrl_counter *c = ctrl_metrics_counter(m, "snapstage_reconcile_total",
					       "Reconciles by controller and result.",
					       CTRL_LV("controller", "result"));
	ctrl_histogram *h = ctrl_metrics_histogram(
		m, "snapstage_reconcile_duration_seconds", "Reconcile \\ latency\n.",
		CTRL_LV("controller"), NULL, 0);
	ctrl_gauge *g = ctrl_metrics_gauge(m, "odd", "Odd values.", CTRL_LV("v"));
	const char *dir = tu_mkdtemp();
	const char *path;
	char cmd[2048];
	char *text;
	int rc;

	ctrl_counter_inc(c, CTRL_LV("backup", "success"));
	ctrl_counter_inc(c, CTRL_LV("backup", "error \"quoted\"\n\\"));
	ctrl_histogram_observe(h, CTRL_LV("backup"), 0.3);
	ctrl_histogram_observe(h, CTRL_LV("restore"), 100);
	ctrl_gauge_set(g, CTRL_LV("nan"), NAN);
	ctrl_gauge_set(g, CTRL_LV("inf"), INFINITY);
	ctrl_gauge_set(g, CTRL_LV("small"), 1e-300);
	ctrl_gauge_set(g, CTRL_LV("big"), -1.7976931348623157e308);
	ctrl_metrics_observe_api(m, "WATCH", 200, 300);
	ctrl_metrics_counter(m, "unused_total", "Never incremented.", CTRL_LV("x"));
	text = render(m);
	path = tu_write(dir, "metrics.txt", text);
	snprintf(cmd, sizeof(cmd), "python3 '%s/tests/tools/promcheck.py' '%s'",
		 SNAPSTAGE_SOURCE_DIR, path);
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "promcheck rejected:\n%s", text);
	assert_int_equal(rc, 0);
	/* And the checker is not a rubber stamp. */
	path = tu_write(dir, "bad.txt", "# TYPE x counter\nx{a=\"b} 1\n");
	snprintf(cmd, sizeof(cmd),
		 "python3 '%s/tests/tools/promcheck.py' '%s' 2>/dev/null",
		 SNAPSTAGE_SOURCE_DIR, path);
	assert_int_not_equal(system(cmd), 0);
	free(text);
	tu_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registration_is_idempotent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_registration_clashes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_name_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_histogram_labels_and_defaults,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread_storm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_observe_api, setup, teardown),
		cmocka_unit_test_setup_teardown(test_promcheck_accepts_output, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
