/*
 * test_controller.c — the controller loop (ctrl/controller.h): what each
 * reconcile result does to the queue, the metrics and the log; stopping
 * with a deadline; many workers never sharing a key; and the lane: a key
 * handed off blocks none of the main workers, its adds reach the lane
 * while the lane owns it, and the two pools never reconcile one key at
 * once.
 *
 * Workers are real threads, so the tests wait for them, polling with short
 * real sleeps and a bound; requeue delays run on a fake clock.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#include "ctrl/controller.h"
#include "ctrl/metrics.h"
#include "util/error.h"
#include "util/log.h"

#define MS SS_NS_PER_MS
#define SEC SS_NS_PER_SEC

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Waits (at most 5 s of real time) until `*calls` reaches `n` and the
 * workers have finished with every key they took. */
static void wait_quiet(ctrl_controller *c, atomic_int *calls, int n)
{
	ctrl_workqueue_stats st;
	int i;

	for (i = 0; i < 5000; i++) {
		ctrl_workqueue_get_stats(&st, ctrl_controller_queue(c));
		if (atomic_load(calls) >= n && st.processing == 0 && st.depth == 0)
			return;
		sleep_ms(1);
	}
	fail_msg("workers did not finish %d reconciles (saw %d)", n, atomic_load(calls));
}

static double value(ctrl_metrics *m, const char *name, const char *const *labels)
{
	ss_buf out = SS_BUF_INIT(1 << 20);

	/* Rendering runs the collectors that update the workqueue series. */
	assert_int_equal(ctrl_metrics_render(m, &out), 0);
	ss_buf_free(&out);
	return ctrl_metrics_value(m, name, labels);
}

/* The three result kinds, scripted by key. */
typedef struct {
	atomic_int calls;
	atomic_int bad_calls;
	atomic_int again_calls;
} results;

static ctrl_result reconcile_results(void *payload, const char *key)
{
	results *r = payload;
	ctrl_result res = ctrl_result_done();

	if (strcmp(key, "ns/bad") == 0) {
		/* Fails once, then succeeds. */
		if (atomic_fetch_add(&r->bad_calls, 1) == 0) {
			ss_error_set(SS_ECONFLICT, "backup ns/bad was modified");
			res = ctrl_result_error();
		}
	} else if (strcmp(key, "ns/again") == 0) {
		if (atomic_fetch_add(&r->again_calls, 1) == 0)
			res = ctrl_result_requeue_after(30 * SEC);
	}
	atomic_fetch_add(&r->calls, 1);
	return res;
}

static char *read_all(FILE *f)
{
	long len;
	char *text;

	fflush(f);
	len = ftell(f);
	assert_true(len >= 0);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	rewind(f);
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	return text;
}

static void test_result_kinds(void **state)
{
	ctrl_controller_opts opts = CTRL_CONTROLLER_OPTS_INIT;
	results r = { 0, 0, 0 };
	ss_fake_clock fc;
	ctrl_controller *c = NULL;
	ctrl_metrics *m = NULL;
	ctrl_workqueue *q;
	FILE *log = tmpfile();
	char *text;

	(void)state;
	assert_non_null(log);
	ss_log_configure(SS_LOG_DEBUG, SS_LOG_TEXT, log);
	ss_fake_clock_init(&fc, 0);
	assert_int_equal(ctrl_metrics_new(&m), 0);
	opts.name = "backup";
	opts.workers = 2;
	opts.reconcile = reconcile_results;
	opts.payload = &r;
	opts.metrics = m;
	opts.clock = &fc.clock;
	assert_int_equal(ctrl_controller_new(&c, &opts), 0);
	q = ctrl_controller_queue(c);
	assert_int_equal(ctrl_controller_start(c), 0);

	assert_int_equal(ctrl_workqueue_add(q, "ns/ok"), 0);
	assert_int_equal(ctrl_workqueue_add(q, "ns/again"), 0);
	assert_int_equal(ctrl_workqueue_add(q, "ns/bad"), 0);
	wait_quiet(c, &r.calls, 3);

	assert_int_equal(
		value(m, "snapstage_reconcile_total", CTRL_LV("backup", "success")), 1);
	assert_int_equal(
		value(m, "snapstage_reconcile_total", CTRL_LV("backup", "requeue")), 1);
	assert_int_equal(
		value(m, "snapstage_reconcile_total", CTRL_LV("backup", "error")), 1);
	assert_int_equal(value(m, "snapstage_reconcile_errors_total", CTRL_LV("backup")),
			 1);
	assert_int_equal(
		value(m, "snapstage_reconcile_duration_seconds", CTRL_LV("backup")), 3);
	/* Error: backoff counted, key waiting 5 ms. Requeue-after: no backoff,
	 * waiting 30 s. Done: forgotten. */
	assert_int_equal(ctrl_workqueue_num_requeues(q, "ns/bad"), 1);
	assert_int_equal(ctrl_workqueue_num_requeues(q, "ns/again"), 0);
	assert_int_equal(ctrl_workqueue_num_requeues(q, "ns/ok"), 0);
	assert_int_equal(value(m, "snapstage_workqueue_retries_total", CTRL_LV("backup")),
			 1);
	assert_int_equal(value(m, "snapstage_workqueue_adds_total", CTRL_LV("backup")),
			 3);

	ss_fake_clock_advance(&fc, 5 * MS);
	ctrl_workqueue_wake(q);
	wait_quiet(c, &r.calls, 4);
	assert_int_equal(atomic_load(&r.bad_calls), 2);
	assert_int_equal(ctrl_workqueue_num_requeues(q, "ns/bad"), 0);
	assert_int_equal(atomic_load(&r.again_calls), 1);

	ss_fake_clock_advance(&fc, 30 * SEC - 5 * MS);
	ctrl_workqueue_wake(q);
	wait_quiet(c, &r.calls, 5);
	assert_int_equal(atomic_load(&r.again_calls), 2);

	assert_int_equal(
		value(m, "snapstage_reconcile_total", CTRL_LV("backup", "success")), 3);
	assert_int_equal(
		value(m, "snapstage_reconcile_total", CTRL_LV("backup", "error")), 1);
	assert_int_equal(value(m, "snapstage_workqueue_adds_total", CTRL_LV("backup")),
			 5);
	assert_int_equal(value(m, "snapstage_workqueue_retries_total", CTRL_LV("backup")),
			 1);
	assert_int_equal(value(m, "snapstage_workqueue_depth", CTRL_LV("backup")), 0);

	assert_int_equal(ctrl_controller_stop(c, ss_clock_mono(&fc.clock) + SEC), 0);
	ctrl_controller_free(c);
	ss_log_configure(SS_LOG_INFO, SS_LOG_TEXT, NULL);

	text = read_all(log);
	print_message("%s", text);
	assert_non_null(strstr(text, "msg=\"reconcile failed\" controller=backup "
				     "key=ns/bad failures=0"));
	assert_non_null(strstr(text, "code=conflict"));
	assert_non_null(strstr(text, "backup ns/bad was modified"));
	assert_non_null(strstr(text, "msg=reconciled controller=backup key=ns/ok "
				     "result=success"));
	free(text);
	fclose(log);
	ctrl_metrics_free(m);
}

static void test_queue_series_appear_at_start(void **state)
{
	ctrl_controller_opts opts = CTRL_CONTROLLER_OPTS_INIT;
	results r = { 0, 0, 0 };
	ctrl_controller *c = NULL, *clash = NULL;
	ctrl_metrics *m = NULL;
	ctrl_gauge *g;

	(void)state;
	assert_int_equal(ctrl_metrics_new(&m), 0);
	opts.name = "restore";
	opts.reconcile = reconcile_results;
	opts.payload = &r;
	opts.metrics = m;
	assert_int_equal(ctrl_controller_new(&c, &opts), 0);
	assert_int_equal(value(m, "snapstage_workqueue_depth", CTRL_LV("restore")), 0);
	assert_int_equal(ctrl_workqueue_add(ctrl_controller_queue(c), "ns/x"), 0);
	assert_int_equal(value(m, "snapstage_workqueue_depth", CTRL_LV("restore")), 1);
	ctrl_controller_free(c);
	/* The collector left with the controller. */
	assert_int_equal(value(m, "snapstage_workqueue_depth", CTRL_LV("restore")), 1);

	/* A family registered under one of our names with other labels is a
	 * clash the controller reports. */
	ctrl_metrics_free(m);
	assert_int_equal(ctrl_metrics_new(&m), 0);
	opts.metrics = m;
	g = ctrl_metrics_gauge(m, "snapstage_workqueue_depth", "x", CTRL_LV("queue"));
	assert_non_null(g);
	assert_true(ctrl_controller_new(&clash, &opts) < 0);
	assert_null(clash);
	ctrl_metrics_free(m);
}

/* A reconcile that holds "ns/slow" until the test lets it go. */
typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool entered;
	bool release;
	atomic_int calls;
	atomic_int others;
} blocker;

static ctrl_result reconcile_blocking(void *payload, const char *key)
{
	blocker *b = payload;

	pthread_mutex_lock(&b->mu);
	b->entered = true;
	pthread_cond_broadcast(&b->cond);
	while (strcmp(key, "ns/slow") == 0 && !b->release)
		pthread_cond_wait(&b->cond, &b->mu);
	pthread_mutex_unlock(&b->mu);
	if (strcmp(key, "ns/short") == 0)
		sleep_ms(5);
	else if (strcmp(key, "ns/slow") != 0)
		atomic_fetch_add(&b->others, 1);
	atomic_fetch_add(&b->calls, 1);
	return ctrl_result_done();
}

static void wait_entered(blocker *b)
{
	pthread_mutex_lock(&b->mu);
	while (!b->entered)
		pthread_cond_wait(&b->cond, &b->mu);
	pthread_mutex_unlock(&b->mu);
}

static void test_stop_deadline(void **state)
{
	ctrl_controller_opts opts = CTRL_CONTROLLER_OPTS_INIT;
	blocker b = {
		PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, 0, 0
	};
	ss_fake_clock fc;
	ctrl_controller *c = NULL;
	ctrl_workqueue *q;
	int64_t now;

	(void)state;
	ss_fake_clock_init(&fc, 0);
	now = ss_clock_mono(&fc.clock);
	opts.name = "backup";
	opts.reconcile = reconcile_blocking;
	opts.payload = &b;
	opts.clock = &fc.clock;
	assert_int_equal(ctrl_controller_new(&c, &opts), 0);
	q = ctrl_controller_queue(c);
	assert_int_equal(ctrl_controller_start(c), 0);
	assert_int_equal(ctrl_controller_start(c), SS_EINVALID);

	assert_int_equal(ctrl_workqueue_add(q, "ns/slow"), 0);
	wait_entered(&b);
	/* Queued behind the slow one on the single worker: must never start. */
	assert_int_equal(ctrl_workqueue_add(q, "ns/next"), 0);

	/* The fake clock stands still; 20 ms of real time end the wait. */
	assert_int_equal(ctrl_controller_stop(c, now + 20 * MS), SS_ETIMEOUT);
	tu_assert_error(SS_ETIMEOUT, "still being processed");

	pthread_mutex_lock(&b.mu);
	b.release = true;
	pthread_cond_broadcast(&b.cond);
	pthread_mutex_unlock(&b.mu);
	assert_int_equal(ctrl_controller_stop(c, now + 10 * SEC), 0);
	assert_int_equal(atomic_load(&b.calls), 1);
	assert_int_equal(atomic_load(&b.others), 0);
	ctrl_controller_free(c);
}

static void test_stop_waits_for_finishing_reconcile(void **state)
{
	ctrl_controller_opts opts = CTRL_CONTROLLER_OPTS_INIT;
	blocker b = {
		PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, 0, 0
	};
	ctrl_controller *c = NULL;

	(void)state;
	opts.name = "backup";
	opts.reconcile = reconcile_blocking;
	opts.payload = &b;
	assert_int_equal(ctrl_controller_new(&c, &opts), 0);
	assert_int_equal(ctrl_controller_start(c), 0);
	assert_int_equal(ctrl_workqueue_add(ctrl_controller_queue(c), "ns/short"), 0);
	wait_entered(&b);
	/* Takes 5 ms, well inside the deadline (system clock). */
	assert_int_equal(
		ctrl_controller_stop(c, ss_clock_mono(ss_clock_system()) + 5 * SEC), 0);
	assert_int_equal(atomic_load(&b.calls), 1);
	ctrl_controller_free(c);
}

static void test_options_and_lifecycle(void **state)
{
	ctrl_controller_opts opts = CTRL_CONTROLLER_OPTS_INIT;
	results r = { 0, 0, 0 };
	ctrl_controller *c = NULL;

	(void)state;
	assert_int_equal(ctrl_controller_new(&c, &opts), SS_EINVALID);
	opts.name = "backup";
	assert_int_equal(ctrl_controller_new(&c, &opts), SS_EINVALID);
	opts.reconcile = reconcile_results;
	opts.payload = &r;
	opts.workers = CTRL_CONTROLLER_MAX_WORKERS + 1;
	assert_int_equal(ctrl_controller_new(&c, &opts), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "workers");
	assert_null(c);

	/* Never started: stop and free at once. */
	opts.workers = 3;
	assert_int_equal(ctrl_controller_new(&c, &opts), 0);
	assert_int_equal(ctrl_controller_stop(c, 0), 0);
	ctrl_controller_free(c);

	/* Started and freed without stop: free stops and joins. */
	assert_int_equal(ctrl_controller_new(&c, &opts), 0);
	assert_int_equal(ctrl_controller_start(c), 0);
	assert_int_equal(ctrl_workqueue_add(ctrl_controller_queue(c), "ns/ok"), 0);
	wait_quiet(c, &r.calls, 1);
	ctrl_controller_free(c);
}

static ctrl_result reconcile_requeue_now(void *payload, const char *key)
{
	atomic_int *calls = payload;

	(void)key;
	if (atomic_fetch_add(calls, 1) == 0)
		return ctrl_result_requeue_after(0);
	return ctrl_result_done();
}

static void test_requeue_without_delay(void **state)
{
	ctrl_controller_opts opts = CTRL_CONTROLLER_OPTS_INIT;
	atomic_int calls = 0;
	ss_fake_clock fc;
	ctrl_controller *c = NULL;

	(void)state;
	ss_fake_clock_init(&fc, 0);
	opts.name = "backup";
	opts.reconcile = reconcile_requeue_now;
	opts.payload = &calls;
	opts.clock = &fc.clock;
	assert_int_equal(ctrl_controller_new(&c, &opts), 0);
	assert_int_equal(ctrl_controller_start(c), 0);
	assert_int_equal(ctrl_workqueue_add(ctrl_controller_queue(c), "ns/a"), 0);
	/* No clock advance needed: a zero delay is "now". */
	wait_quiet(c, &calls, 2);
	assert_int_equal(ctrl_controller_stop(c, ss_clock_mono(&fc.clock) + SEC), 0);
	ctrl_controller_free(c);
}

/* Stress: four workers, eight keys, a flag per key set while reconciling.
 * Reconcile sometimes re-adds its own key, as a watch event arriving
 * mid-reconcile would. */
#define STRESS_KEYS 8
#define STRESS_WORKERS 4
#define STRESS_ADDS 5000

typedef struct {
	ctrl_workqueue *q;
	atomic_bool in_flight[STRESS_KEYS];
	atomic_int overlaps;
	atomic_int calls;
} stress;

static ctrl_result reconcile_stress(void *payload, const char *key)
{
	stress *s = payload;
	int i = key[strlen(key) - 1] - '0';

	if (atomic_exchange(&s->in_flight[i], true))
		atomic_fetch_add(&s->overlaps, 1);
	sched_yield();
	if (atomic_fetch_add(&s->calls, 1) % 4 == 0)
		ctrl_workqueue_add(s->q, key);
	atomic_store(&s->in_flight[i], false);
	return ctrl_result_done();
}

static void test_workers_never_share_a_key(void **state)
{
	ctrl_controller_opts opts = CTRL_CONTROLLER_OPTS_INIT;
	stress *s = calloc(1, sizeof(*s));
	ctrl_controller *c = NULL;
	unsigned int rnd = 7;
	char key[32];
	int i;

	(void)state;
	assert_non_null(s);
	opts.name = "stress";
	opts.workers = STRESS_WORKERS;
	opts.reconcile = reconcile_stress;
	opts.payload = s;
	assert_int_equal(ctrl_controller_new(&c, &opts), 0);
	s->q = ctrl_controller_queue(c);
	assert_int_equal(ctrl_controller_start(c), 0);
	for (i = 0; i < STRESS_ADDS; i++) {
		rnd = rnd * 1103515245u + 12345u;
		snprintf(key, sizeof(key), "ns/key-%u", (rnd >> 16) % STRESS_KEYS);
		assert_int_equal(ctrl_workqueue_add(s->q, key), 0);
		if (i % 32 == 0)
			sched_yield();
	}
	wait_quiet(c, &s->calls, STRESS_KEYS);
	assert_int_equal(
		ctrl_controller_stop(c, ss_clock_mono(ss_clock_system()) + 5 * SEC), 0);
	print_message("%d reconciles\n", atomic_load(&s->calls));
	assert_int_equal(atomic_load(&s->overlaps), 0);
	ctrl_controller_free(c);
	free(s);
}

/* ctrl_controller_key_handlers(): add, update and delete each queue the
 * object's own key (a controller not started, so the queue holds them). */
static void test_key_handlers(void **state)
{
	ctrl_controller_opts opts = CTRL_CONTROLLER_OPTS_INIT;
	ctrl_controller *c = NULL;
	ctrl_handlers h;
	json_t *a = json_pack("{s:{s:s, s:s}}", "metadata", "namespace", "ns", "name", "a");
	json_t *b = json_pack("{s:{s:s, s:s}}", "metadata", "namespace", "ns", "name", "b");
	json_t *nameless = json_pack("{s:{}}", "metadata");
	char *key = NULL;

	(void)state;
	opts.name = "keys";
	opts.reconcile = reconcile_results;
	assert_int_equal(ctrl_controller_new(&c, &opts), 0);
	h = ctrl_controller_key_handlers(c);
	assert_ptr_equal(h.payload, c);
	h.on_add(h.payload, a);
	h.on_add(h.payload, nameless); /* no key: nothing queued */
	assert_int_equal(ctrl_workqueue_try_get(&key, ctrl_controller_queue(c)), 0);
	assert_string_equal(key, "ns/a");
	ctrl_workqueue_done(ctrl_controller_queue(c), key);
	free(key);
	h.on_update(h.payload, a, b);
	assert_int_equal(ctrl_workqueue_try_get(&key, ctrl_controller_queue(c)), 0);
	assert_string_equal(key, "ns/b");
	ctrl_workqueue_done(ctrl_controller_queue(c), key);
	free(key);
	h.on_delete(h.payload, a);
	assert_int_equal(ctrl_workqueue_try_get(&key, ctrl_controller_queue(c)), 0);
	assert_string_equal(key, "ns/a");
	ctrl_workqueue_done(ctrl_controller_queue(c), key);
	free(key);
	key = NULL;
	assert_true(ctrl_workqueue_try_get(&key, ctrl_controller_queue(c)) != 0);
	assert_null(key);
	ctrl_controller_free(c);
	json_decref(a);
	json_decref(b);
	json_decref(nameless);
}

/* ---- the lane ------------------------------------------------------------ */

/* Main: "ns/slow" is handed off the first time, everything else is done.
 * Lane: "ns/slow" blocks until released, then is done. */
typedef struct {
	blocker b;
	atomic_int main_slow;
	atomic_int main_other;
	atomic_int lane_slow;
} laned;

static ctrl_result main_reconcile(void *payload, const char *key)
{
	laned *l = payload;

	if (strcmp(key, "ns/slow") == 0)
		return atomic_fetch_add(&l->main_slow, 1) == 0 ? ctrl_result_handoff()
							       : ctrl_result_done();
	atomic_fetch_add(&l->main_other, 1);
	return ctrl_result_done();
}

static ctrl_result lane_reconcile(void *payload, const char *key)
{
	laned *l = payload;

	atomic_fetch_add(&l->lane_slow, 1);
	return reconcile_blocking(&l->b, key);
}

static void wait_count(atomic_int *n, int want)
{
	int i;

	for (i = 0; i < 5000 && atomic_load(n) < want; i++)
		sleep_ms(1);
	assert_int_equal(atomic_load(n), want);
}

/* Waits (at most 5 s) until no worker holds a key of `q` (and, with
 * `empty`, none is ready either): a reconcile counted by a wait_count()
 * has also had its result applied. */
static void wait_idle_of(ctrl_workqueue *q, bool empty)
{
	ctrl_workqueue_stats st;
	int i;

	for (i = 0; i < 5000; i++) {
		ctrl_workqueue_get_stats(&st, q);
		if (st.processing == 0 && (!empty || st.depth == 0))
			return;
		sleep_ms(1);
	}
	fail_msg("the queue is still busy after 5 s");
}

static void wait_idle(ctrl_workqueue *q)
{
	wait_idle_of(q, false);
}

static void release(blocker *b)
{
	pthread_mutex_lock(&b->mu);
	b->release = true;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->mu);
}

static void test_lane_keeps_main_workers_free(void **state)
{
	ctrl_controller_opts opts = CTRL_CONTROLLER_OPTS_INIT;
	laned l;
	ctrl_controller *c = NULL;
	ctrl_metrics *m = NULL;
	ctrl_workqueue *q;

	(void)state;
	memset(&l, 0, sizeof(l));
	pthread_mutex_init(&l.b.mu, NULL);
	pthread_cond_init(&l.b.cond, NULL);
	assert_int_equal(ctrl_metrics_new(&m), 0);
	opts.name = "backup";
	opts.workers = 1;
	opts.reconcile = main_reconcile;
	opts.payload = &l;
	opts.metrics = m;
	opts.lane_workers = 1;
	opts.lane_name = "backup-session";
	opts.lane_reconcile = lane_reconcile;
	assert_int_equal(ctrl_controller_new(&c, &opts), 0);
	q = ctrl_controller_queue(c);
	assert_non_null(ctrl_controller_lane_queue(c));
	assert_int_equal(ctrl_controller_start(c), 0);

	/* The slow key goes to the lane and blocks there... */
	assert_int_equal(ctrl_workqueue_add(q, "ns/slow"), 0);
	wait_entered(&l.b);
	assert_int_equal(atomic_load(&l.main_slow), 1);
	/* ...while the single main worker serves the others. */
	assert_int_equal(ctrl_workqueue_add(q, "ns/a"), 0);
	assert_int_equal(ctrl_workqueue_add(q, "ns/b"), 0);
	wait_count(&l.main_other, 2);
	/* An add of the slow key while the lane owns it reaches the lane, not
	 * the main reconcile. */
	assert_int_equal(ctrl_workqueue_add(q, "ns/slow"), 0);
	sleep_ms(20);
	assert_int_equal(atomic_load(&l.main_slow), 1);
	assert_int_equal(atomic_load(&l.lane_slow), 1);

	/* Done in the lane: the key is the main pool's again, and the add
	 * made meanwhile is reconciled there. */
	release(&l.b);
	wait_count(&l.main_slow, 2);
	assert_int_equal(
		ctrl_controller_stop(c, ss_clock_mono(ss_clock_system()) + 5 * SEC), 0);
	assert_int_equal(atomic_load(&l.lane_slow), 1);
	assert_int_equal(
		value(m, "snapstage_reconcile_total", CTRL_LV("backup", "handoff")), 1);
	assert_int_equal(
		value(m, "snapstage_reconcile_total", CTRL_LV("backup", "success")), 3);
	assert_int_equal(value(m, "snapstage_reconcile_total",
			       CTRL_LV("backup-session", "success")),
			 1);
	ctrl_controller_free(c);
	ctrl_metrics_free(m);
	pthread_cond_destroy(&l.b.cond);
	pthread_mutex_destroy(&l.b.mu);
}

/* An add of a key the lane is reconciling reaches the main pool as soon as
 * the lane hands the key back, not behind the keys waiting in the lane's
 * queue. Lane: "ns/slow" and "ns/x" each block until their gate opens. */
typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool slow_open, x_open, x_entered, slow_entered;
	atomic_int main_slow;
} gates;

static ctrl_result gates_main(void *payload, const char *key)
{
	gates *g = payload;

	if (strcmp(key, "ns/slow") == 0 && atomic_fetch_add(&g->main_slow, 1) > 0)
		return ctrl_result_done();
	return ctrl_result_handoff();
}

static ctrl_result gates_lane(void *payload, const char *key)
{
	gates *g = payload;
	bool slow = strcmp(key, "ns/slow") == 0;

	pthread_mutex_lock(&g->mu);
	*(slow ? &g->slow_entered : &g->x_entered) = true;
	pthread_cond_broadcast(&g->cond);
	while (!(slow ? g->slow_open : g->x_open))
		pthread_cond_wait(&g->cond, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return ctrl_result_done();
}

static void gates_wait(gates *g, bool *flag)
{
	pthread_mutex_lock(&g->mu);
	while (!*flag)
		pthread_cond_wait(&g->cond, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void gates_open(gates *g, bool *gate)
{
	pthread_mutex_lock(&g->mu);
	*gate = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->mu);
}

static void test_lane_hands_back_adds_at_once(void **state)
{
	ctrl_controller_opts opts = CTRL_CONTROLLER_OPTS_INIT;
	ctrl_controller *c = NULL;
	ctrl_workqueue *q;
	gates g;

	(void)state;
	memset(&g, 0, sizeof(g));
	pthread_mutex_init(&g.mu, NULL);
	pthread_cond_init(&g.cond, NULL);
	opts.name = "backup";
	opts.reconcile = gates_main;
	opts.payload = &g;
	opts.lane_workers = 1;
	opts.lane_name = "backup-session";
	opts.lane_reconcile = gates_lane;
	assert_int_equal(ctrl_controller_new(&c, &opts), 0);
	q = ctrl_controller_queue(c);
	assert_int_equal(ctrl_controller_start(c), 0);
	assert_int_equal(ctrl_workqueue_add(q, "ns/slow"), 0);
	gates_wait(&g, &g.slow_entered);
	assert_int_equal(ctrl_workqueue_add(q, "ns/x"), 0);    /* queued in the lane */
	assert_int_equal(ctrl_workqueue_add(q, "ns/slow"), 0); /* while reconciled */
	wait_idle_of(q, true); /* the main pool has passed it on */
	gates_open(&g, &g.slow_open);
	/* The lane is busy with ns/x now; ns/slow's add is the main pool's. */
	gates_wait(&g, &g.x_entered);
	wait_count(&g.main_slow, 2);
	gates_open(&g, &g.x_open);
	assert_int_equal(
		ctrl_controller_stop(c, ss_clock_mono(ss_clock_system()) + 5 * SEC), 0);
	ctrl_controller_free(c);
	pthread_cond_destroy(&g.cond);
	pthread_mutex_destroy(&g.mu);
}

/* Lane results, scripted by call: 1 error, 2 requeue after 30 s; the main
 * reconcile hands every key off. */
typedef struct {
	atomic_int main_calls;
	atomic_int lane_calls;
} scripted;

static ctrl_result main_handoff(void *payload, const char *key)
{
	scripted *s = payload;

	(void)key;
	atomic_fetch_add(&s->main_calls, 1);
	return ctrl_result_handoff();
}

static ctrl_result lane_scripted(void *payload, const char *key)
{
	scripted *s = payload;
	int call = atomic_fetch_add(&s->lane_calls, 1) + 1;

	(void)key;
	if (call == 1) {
		ss_error_set(SS_ECONFLICT, "conflict");
		return ctrl_result_error();
	}
	if (call == 2)
		return ctrl_result_requeue_after(30 * SEC);
	return ctrl_result_handoff(); /* from the lane: an error */
}

static void test_lane_results(void **state)
{
	ctrl_controller_opts opts = CTRL_CONTROLLER_OPTS_INIT;
	scripted s = { 0, 0 };
	ss_fake_clock fc;
	ctrl_controller *c = NULL;
	ctrl_workqueue *q, *lq;

	(void)state;
	ss_fake_clock_init(&fc, 0);
	opts.name = "backup";
	opts.reconcile = main_handoff;
	opts.payload = &s;
	opts.clock = &fc.clock;
	opts.lane_workers = 2;
	opts.lane_name = "backup-session";
	opts.lane_reconcile = lane_scripted;
	assert_int_equal(ctrl_controller_new(&c, &opts), 0);
	q = ctrl_controller_queue(c);
	lq = ctrl_controller_lane_queue(c);
	assert_int_equal(ctrl_controller_start(c), 0);
	assert_int_equal(ctrl_workqueue_add(q, "ns/k"), 0);
	wait_count(&s.lane_calls, 1);
	wait_idle(lq);
	/* The error is retried in the lane, with backoff (5 ms), not by the
	 * main pool. */
	assert_int_equal(ctrl_workqueue_num_requeues(lq, "ns/k"), 1);
	ss_fake_clock_advance(&fc, 5 * MS);
	ctrl_workqueue_wake(lq);
	wait_count(&s.lane_calls, 2);
	wait_idle(lq);
	assert_int_equal(atomic_load(&s.main_calls), 1);
	/* Requeue after 30 s: the main queue has it back then. */
	sleep_ms(20);
	assert_int_equal(atomic_load(&s.main_calls), 1);
	ss_fake_clock_advance(&fc, 30 * SEC);
	ctrl_workqueue_wake(q);
	wait_count(&s.main_calls, 2);
	/* Handed off again; a handoff from the lane is an error, retried in
	 * the lane. */
	wait_count(&s.lane_calls, 3);
	wait_idle(lq);
	assert_int_equal(ctrl_workqueue_num_requeues(lq, "ns/k"), 1);
	assert_int_equal(atomic_load(&s.main_calls), 2);
	assert_int_equal(ctrl_controller_stop(c, ss_clock_mono(&fc.clock) + SEC), 0);
	ctrl_controller_free(c);
}

static void test_lane_options(void **state)
{
	ctrl_controller_opts opts = CTRL_CONTROLLER_OPTS_INIT;
	scripted s = { 0, 0 };
	ss_fake_clock fc;
	ctrl_controller *c = NULL;
	ctrl_workqueue *q;

	(void)state;
	ss_fake_clock_init(&fc, 0);
	opts.name = "backup";
	opts.reconcile = main_handoff;
	opts.payload = &s;
	opts.clock = &fc.clock;
	opts.lane_workers = 1;
	assert_int_equal(ctrl_controller_new(&c, &opts), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "a lane needs a name");
	opts.lane_name = "lane";
	assert_int_equal(ctrl_controller_new(&c, &opts), SS_EINVALID);
	opts.lane_reconcile = reconcile_results;
	opts.lane_workers = CTRL_CONTROLLER_MAX_WORKERS + 1;
	assert_int_equal(ctrl_controller_new(&c, &opts), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "lane workers");
	assert_null(c);
	/* Without a lane, a handoff is an error (retried with backoff). */
	opts.lane_workers = 0;
	assert_int_equal(ctrl_controller_new(&c, &opts), 0);
	assert_null(ctrl_controller_lane_queue(c));
	assert_int_equal(ctrl_controller_start(c), 0);
	assert_int_equal(ctrl_workqueue_add(ctrl_controller_queue(c), "ns/k"), 0);
	wait_count(&s.main_calls, 1);
	q = ctrl_controller_queue(c);
	wait_idle(q);
	assert_int_equal(ctrl_workqueue_num_requeues(q, "ns/k"), 1);
	ctrl_controller_free(c);
}

/* Stress: the main reconcile hands keys off now and then, the lane hands
 * them back (done or requeue at once), and both re-add keys to the main
 * queue as watch events would. One in-flight flag per key across both
 * pools: never set twice. */
static ctrl_result stress_main(void *payload, const char *key)
{
	stress *s = payload;
	int i = key[strlen(key) - 1] - '0';
	int n;

	if (atomic_exchange(&s->in_flight[i], true))
		atomic_fetch_add(&s->overlaps, 1);
	sched_yield();
	n = atomic_fetch_add(&s->calls, 1);
	if (n % 5 == 0)
		ctrl_workqueue_add(s->q, key);
	atomic_store(&s->in_flight[i], false);
	return n % 3 == 0 ? ctrl_result_handoff() : ctrl_result_done();
}

static ctrl_result stress_lane(void *payload, const char *key)
{
	stress *s = payload;
	int i = key[strlen(key) - 1] - '0';
	int n;

	if (atomic_exchange(&s->in_flight[i], true))
		atomic_fetch_add(&s->overlaps, 1);
	sched_yield();
	n = atomic_fetch_add(&s->calls, 1);
	if (n % 4 == 0)
		ctrl_workqueue_add(s->q, key);
	atomic_store(&s->in_flight[i], false);
	return n % 2 == 0 ? ctrl_result_requeue_after(0) : ctrl_result_done();
}

static void test_lane_never_shares_a_key(void **state)
{
	ctrl_controller_opts opts = CTRL_CONTROLLER_OPTS_INIT;
	stress *s = calloc(1, sizeof(*s));
	ctrl_controller *c = NULL;
	ctrl_workqueue_stats st, lst;
	unsigned int rnd = 11;
	char key[32];
	int i;

	(void)state;
	assert_non_null(s);
	opts.name = "stress";
	opts.workers = STRESS_WORKERS;
	opts.reconcile = stress_main;
	opts.payload = s;
	opts.lane_workers = STRESS_WORKERS;
	opts.lane_name = "stress-lane";
	opts.lane_reconcile = stress_lane;
	assert_int_equal(ctrl_controller_new(&c, &opts), 0);
	s->q = ctrl_controller_queue(c);
	assert_int_equal(ctrl_controller_start(c), 0);
	for (i = 0; i < STRESS_ADDS; i++) {
		rnd = rnd * 1103515245u + 12345u;
		snprintf(key, sizeof(key), "ns/key-%u", (rnd >> 16) % STRESS_KEYS);
		assert_int_equal(ctrl_workqueue_add(s->q, key), 0);
		if (i % 32 == 0)
			sched_yield();
	}
	/* Quiet: both queues empty and idle, twice in a row. */
	for (i = 0; i < 5000; i++) {
		ctrl_workqueue_get_stats(&st, s->q);
		ctrl_workqueue_get_stats(&lst, ctrl_controller_lane_queue(c));
		if (st.depth + st.processing + lst.depth + lst.processing == 0)
			break;
		sleep_ms(1);
	}
	assert_int_equal(
		ctrl_controller_stop(c, ss_clock_mono(ss_clock_system()) + 5 * SEC), 0);
	print_message("%d reconciles in both pools\n", atomic_load(&s->calls));
	assert_true(atomic_load(&s->calls) >= STRESS_KEYS);
	assert_int_equal(atomic_load(&s->overlaps), 0);
	ctrl_controller_free(c);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_result_kinds),
		cmocka_unit_test(test_queue_series_appear_at_start),
		cmocka_unit_test(test_stop_deadline),
		cmocka_unit_test(test_stop_waits_for_finishing_reconcile),
		cmocka_unit_test(test_options_and_lifecycle),
		cmocka_unit_test(test_requeue_without_delay),
		cmocka_unit_test(test_workers_never_share_a_key),
		cmocka_unit_test(test_key_handlers),
		cmocka_unit_test(test_lane_keeps_main_workers_free),
		cmocka_unit_test(test_lane_hands_back_adds_at_once),
		cmocka_unit_test(test_lane_results),
		cmocka_unit_test(test_lane_options),
		cmocka_unit_test(test_lane_never_shares_a_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
