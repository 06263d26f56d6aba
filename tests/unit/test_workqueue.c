/*
 * test_workqueue.c — the rate-limiting work queue (ctrl/workqueue.h):
 * deduplication, delays, backoff, the token bucket, shutdown and drain, and
 * a multi-threaded check that no key is ever held by two workers.
 *
 * Time is a fake clock advanced by the test; real waits only happen where a
 * thread must block, and are a few milliseconds at most.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#include "ctrl/workqueue.h"
#include "util/error.h"

#define MS SS_NS_PER_MS
#define SEC SS_NS_PER_SEC

typedef struct {
	ss_fake_clock fc;
	ctrl_workqueue *q;
} fixture;

static int setup(void **state)
{
	ctrl_workqueue_opts opts = CTRL_WORKQUEUE_OPTS_INIT;
	fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	ss_fake_clock_init(&f->fc, 0);
	opts.clock = &f->fc.clock;
	if (ctrl_workqueue_new(&f->q, &opts) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	ctrl_workqueue_free(f->q);
	free(f);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Takes the next ready key, which must be `want`, and marks it done. */
static void expect_key(ctrl_workqueue *q, const char *want)
{
	char *key = NULL;

	assert_int_equal(ctrl_workqueue_try_get(&key, q), 0);
	assert_string_equal(key, want);
	ctrl_workqueue_done(q, key);
	free(key);
}

static void expect_empty(ctrl_workqueue *q)
{
	char *key = NULL;

	assert_int_equal(ctrl_workqueue_try_get(&key, q), SS_ENOTFOUND);
	assert_null(key);
}

static void test_dedup_while_queued(void **state)
{
	fixture *f = *state;
	ctrl_workqueue_stats st;

	assert_int_equal(ctrl_workqueue_add(f->q, "ns/a"), 0);
	assert_int_equal(ctrl_workqueue_add(f->q, "ns/b"), 0);
	assert_int_equal(ctrl_workqueue_add(f->q, "ns/a"), 0);
	ctrl_workqueue_get_stats(&st, f->q);
	assert_int_equal(st.depth, 2);
	assert_int_equal(st.adds_total, 2);

	expect_key(f->q, "ns/a");
	expect_key(f->q, "ns/b");
	expect_empty(f->q);
}

static void test_dedup_while_processing(void **state)
{
	fixture *f = *state;
	char *key = NULL, *other = NULL;
	ctrl_workqueue_stats st;

	assert_int_equal(ctrl_workqueue_add(f->q, "ns/a"), 0);
	assert_int_equal(ctrl_workqueue_try_get(&key, f->q), 0);
	assert_string_equal(key, "ns/a");

	/* Added while held: not handed out again until done(). */
	assert_int_equal(ctrl_workqueue_add(f->q, "ns/a"), 0);
	assert_int_equal(ctrl_workqueue_add(f->q, "ns/a"), 0);
	assert_int_equal(ctrl_workqueue_try_get(&other, f->q), SS_ENOTFOUND);
	ctrl_workqueue_get_stats(&st, f->q);
	assert_int_equal(st.depth, 0);
	assert_int_equal(st.processing, 1);

	ctrl_workqueue_done(f->q, key);
	free(key);
	ctrl_workqueue_get_stats(&st, f->q);
	assert_int_equal(st.depth, 1);
	assert_int_equal(st.processing, 0);
	expect_key(f->q, "ns/a");
	expect_empty(f->q);

	/* done() without a new add does not bring the key back. */
	assert_int_equal(ctrl_workqueue_add(f->q, "ns/a"), 0);
	expect_key(f->q, "ns/a");
	expect_empty(f->q);
}

/* `key` must become ready exactly `delay` after now. */
static void expect_ready_after(fixture *f, const char *key, int64_t delay)
{
	ss_fake_clock_advance(&f->fc, delay - 1);
	expect_empty(f->q);
	ss_fake_clock_advance(&f->fc, 1);
	expect_key(f->q, key);
}

static void test_backoff_growth_and_forget(void **state)
{
	fixture *f = *state;
	int64_t want = 5 * MS;
	int i;

	for (i = 0; i < 22; i++) {
		assert_int_equal(ctrl_workqueue_add_rate_limited(f->q, "ns/a"), 0);
		assert_int_equal(ctrl_workqueue_num_requeues(f->q, "ns/a"), i + 1);
		print_message("failure %d: %lld ns\n", i + 1, (long long)want);
		expect_ready_after(f, "ns/a", want);
		want = want * 2 > 1000 * SEC ? 1000 * SEC : want * 2;
	}
	/* 5 ms * 2^18 is past the cap: the last ones waited exactly 1000 s. */
	assert_int_equal(want, 1000 * SEC);

	ctrl_workqueue_forget(f->q, "ns/a");
	assert_int_equal(ctrl_workqueue_num_requeues(f->q, "ns/a"), 0);
	assert_int_equal(ctrl_workqueue_add_rate_limited(f->q, "ns/a"), 0);
	expect_ready_after(f, "ns/a", 5 * MS);

	/* Backoff is per key: another key starts at the base. */
	assert_int_equal(ctrl_workqueue_add_rate_limited(f->q, "ns/b"), 0);
	expect_ready_after(f, "ns/b", 5 * MS);
	assert_int_equal(ctrl_workqueue_num_requeues(f->q, "ns/unknown"), 0);
}

static void test_token_bucket_limits_burst(void **state)
{
	fixture *f = *state;
	ctrl_workqueue_stats st;
	char key[32], *got;
	int i, n = 0;

	/* 150 first failures at the same instant: the bucket's 100 tokens
	 * cover the first 100 (the key's own 5 ms applies), then one more
	 * every 100 ms. */
	for (i = 0; i < 150; i++) {
		snprintf(key, sizeof(key), "ns/k%03d", i);
		assert_int_equal(ctrl_workqueue_add_rate_limited(f->q, key), 0);
	}
	ctrl_workqueue_get_stats(&st, f->q);
	assert_int_equal(st.retries_total, 150);
	assert_int_equal(st.waiting, 150);

	ss_fake_clock_advance(&f->fc, 5 * MS);
	while (ctrl_workqueue_try_get(&got, f->q) == 0) {
		snprintf(key, sizeof(key), "ns/k%03d", n++);
		assert_string_equal(got, key);
		ctrl_workqueue_done(f->q, got);
		free(got);
	}
	assert_int_equal(n, 100);

	ss_fake_clock_advance(&f->fc, 95 * MS - 1); /* 100 ms - 1 ns */
	expect_empty(f->q);
	ss_fake_clock_advance(&f->fc, 1);
	expect_key(f->q, "ns/k100");
	ss_fake_clock_advance(&f->fc, 99 * MS);
	expect_empty(f->q);
	ss_fake_clock_advance(&f->fc, 1 * MS);
	expect_key(f->q, "ns/k101");

	/* The rest drain at 10 per second. */
	ss_fake_clock_advance(&f->fc, 4800 * MS);
	for (i = 102; i < 150; i++) {
		snprintf(key, sizeof(key), "ns/k%03d", i);
		expect_key(f->q, key);
	}
	expect_empty(f->q);
}

static void test_bucket_refills(void **state)
{
	fixture *f = *state;
	char key[32];
	int i;

	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "ns/k%03d", i);
		assert_int_equal(ctrl_workqueue_add_rate_limited(f->q, key), 0);
	}
	/* One second later ten tokens are back: ten more need no bucket
	 * delay, the eleventh waits 100 ms. */
	ss_fake_clock_advance(&f->fc, 1 * SEC);
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "ns/k%03d", i);
		expect_key(f->q, key);
	}
	for (i = 0; i < 11; i++) {
		snprintf(key, sizeof(key), "ns/r%03d", i);
		assert_int_equal(ctrl_workqueue_add_rate_limited(f->q, key), 0);
	}
	ss_fake_clock_advance(&f->fc, 5 * MS);
	for (i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "ns/r%03d", i);
		expect_key(f->q, key);
	}
	expect_empty(f->q);
	ss_fake_clock_advance(&f->fc, 95 * MS);
	expect_key(f->q, "ns/r010");
}

static void test_delayed_order_and_earliest_wins(void **state)
{
	fixture *f = *state;
	ctrl_workqueue_stats st;

	assert_int_equal(ctrl_workqueue_add_after(f->q, "ns/c", 30 * MS), 0);
	assert_int_equal(ctrl_workqueue_add_after(f->q, "ns/a", 10 * MS), 0);
	assert_int_equal(ctrl_workqueue_add_after(f->q, "ns/b", 20 * MS), 0);
	ctrl_workqueue_get_stats(&st, f->q);
	assert_int_equal(st.waiting, 3);
	assert_int_equal(st.depth, 0);
	expect_empty(f->q);
	ss_fake_clock_advance(&f->fc, 30 * MS);
	expect_key(f->q, "ns/a");
	expect_key(f->q, "ns/b");
	expect_key(f->q, "ns/c");
	expect_empty(f->q);

	/* A later add_after does not postpone; an earlier one brings forward. */
	assert_int_equal(ctrl_workqueue_add_after(f->q, "ns/x", 50 * MS), 0);
	assert_int_equal(ctrl_workqueue_add_after(f->q, "ns/x", 100 * MS), 0);
	assert_int_equal(ctrl_workqueue_add_after(f->q, "ns/x", 10 * MS), 0);
	assert_int_equal(ctrl_workqueue_add_after(f->q, "ns/y", 20 * MS), 0);
	ctrl_workqueue_get_stats(&st, f->q);
	assert_int_equal(st.waiting, 2);
	expect_ready_after(f, "ns/x", 10 * MS);
	expect_ready_after(f, "ns/y", 10 * MS);
	ss_fake_clock_advance(&f->fc, 200 * MS);
	expect_empty(f->q);

	/* No delay means now. */
	assert_int_equal(ctrl_workqueue_add_after(f->q, "ns/z", 0), 0);
	assert_int_equal(ctrl_workqueue_add_after(f->q, "ns/w", -5), 0);
	expect_key(f->q, "ns/z");
	expect_key(f->q, "ns/w");
}

static void test_key_bounds(void **state)
{
	fixture *f = *state;
	char key[CTRL_KEY_MAX + 1];

	memset(key, 'k', sizeof(key));
	key[CTRL_KEY_MAX] = '\0';
	assert_int_equal(ctrl_workqueue_add(f->q, key), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "longer than");
	assert_int_equal(ctrl_workqueue_add_after(f->q, key, MS), SS_EINVALID);
	assert_int_equal(ctrl_workqueue_add_rate_limited(f->q, key), SS_EINVALID);
	assert_int_equal(ctrl_workqueue_add(f->q, ""), SS_EINVALID);
	assert_int_equal(ctrl_workqueue_add(f->q, NULL), SS_EINVALID);

	key[CTRL_KEY_MAX - 1] = '\0';
	assert_int_equal(ctrl_workqueue_add(f->q, key), 0);
	expect_key(f->q, key);
}

typedef struct {
	ctrl_workqueue *q;
	int rc;
	char *key;
	atomic_bool returned;
} getter;

static void *getter_main(void *arg)
{
	getter *g = arg;

	g->rc = ctrl_workqueue_get(&g->key, g->q);
	atomic_store(&g->returned, true);
	return NULL;
}

static void test_get_blocks_until_ready(void **state)
{
	fixture *f = *state;
	getter g = { f->q, 1, NULL, false };
	pthread_t t;

	/* An add wakes a blocked getter. */
	assert_int_equal(pthread_create(&t, NULL, getter_main, &g), 0);
	sleep_ms(5);
	assert_false(atomic_load(&g.returned));
	assert_int_equal(ctrl_workqueue_add(f->q, "ns/a"), 0);
	pthread_join(t, NULL);
	assert_int_equal(g.rc, 0);
	assert_string_equal(g.key, "ns/a");
	ctrl_workqueue_done(f->q, g.key);
	free(g.key);

	/* A getter waiting for a delayed key sees a fake clock's advance once
	 * woken, long before the real minute passes. */
	g.key = NULL;
	atomic_store(&g.returned, false);
	assert_int_equal(ctrl_workqueue_add_after(f->q, "ns/b", 60 * SEC), 0);
	assert_int_equal(pthread_create(&t, NULL, getter_main, &g), 0);
	sleep_ms(5);
	assert_false(atomic_load(&g.returned));
	ss_fake_clock_advance(&f->fc, 60 * SEC);
	ctrl_workqueue_wake(f->q);
	pthread_join(t, NULL);
	assert_int_equal(g.rc, 0);
	assert_string_equal(g.key, "ns/b");
	ctrl_workqueue_done(f->q, g.key);
	free(g.key);
}

static void test_shutdown_wakes_getters(void **state)
{
	fixture *f = *state;
	getter g[3];
	pthread_t t[3];
	char *key = NULL;
	int i;

	/* One getter has a far-away delayed key to sleep towards. */
	assert_int_equal(ctrl_workqueue_add_after(f->q, "ns/later", 3600 * SEC), 0);
	for (i = 0; i < 3; i++) {
		g[i] = (getter){ f->q, 1, NULL, false };
		assert_int_equal(pthread_create(&t[i], NULL, getter_main, &g[i]), 0);
	}
	sleep_ms(5);
	ctrl_workqueue_shutdown(f->q);
	for (i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(g[i].rc, SS_ECANCELLED);
		assert_null(g[i].key);
	}
	assert_true(ctrl_workqueue_is_shut_down(f->q));

	/* Nothing new starts after shutdown, queued keys included; adds are
	 * ignored without error. */
	assert_int_equal(ctrl_workqueue_add(f->q, "ns/a"), 0);
	assert_int_equal(ctrl_workqueue_add_rate_limited(f->q, "ns/a"), 0);
	assert_int_equal(ctrl_workqueue_try_get(&key, f->q), SS_ECANCELLED);
	assert_int_equal(ctrl_workqueue_get(&key, f->q), SS_ECANCELLED);
	assert_null(key);
	ctrl_workqueue_shutdown(f->q);
}

static void test_shutdown_keeps_queued_keys_out(void **state)
{
	fixture *f = *state;
	char *key = NULL, *other = NULL;

	assert_int_equal(ctrl_workqueue_add(f->q, "ns/a"), 0);
	assert_int_equal(ctrl_workqueue_add(f->q, "ns/b"), 0);
	assert_int_equal(ctrl_workqueue_try_get(&key, f->q), 0);
	ctrl_workqueue_shutdown(f->q);
	/* The key in flight may finish; ns/b never starts. */
	assert_int_equal(ctrl_workqueue_try_get(&other, f->q), SS_ECANCELLED);
	assert_int_equal(ctrl_workqueue_drain(f->q, ss_clock_mono(&f->fc.clock)),
			 SS_ETIMEOUT);
	ctrl_workqueue_done(f->q, key);
	free(key);
	assert_int_equal(ctrl_workqueue_drain(f->q, ss_clock_mono(&f->fc.clock)), 0);
}

typedef struct {
	ctrl_workqueue *q;
	char *key;
	long after_ms;
} finisher;

static void *finisher_main(void *arg)
{
	finisher *fin = arg;

	sleep_ms(fin->after_ms);
	ctrl_workqueue_done(fin->q, fin->key);
	return NULL;
}

static void test_drain_with_deadline(void **state)
{
	fixture *f = *state;
	int64_t now = ss_clock_mono(&f->fc.clock);
	finisher fin = { f->q, NULL, 5 };
	pthread_t t;

	/* Nothing in flight: at once. */
	assert_int_equal(ctrl_workqueue_drain(f->q, now), 0);

	assert_int_equal(ctrl_workqueue_add(f->q, "ns/a"), 0);
	assert_int_equal(ctrl_workqueue_try_get(&fin.key, f->q), 0);
	ctrl_workqueue_shutdown(f->q);

	/* Held past the deadline: the fake clock never moves, so the real
	 * 20 ms are what end the wait. */
	assert_int_equal(ctrl_workqueue_drain(f->q, now + 20 * MS), SS_ETIMEOUT);
	tu_assert_error(SS_ETIMEOUT, "1 key(s) still being processed");

	/* Finished before the deadline. */
	assert_int_equal(pthread_create(&t, NULL, finisher_main, &fin), 0);
	assert_int_equal(ctrl_workqueue_drain(f->q, now + 10 * SEC), 0);
	pthread_join(t, NULL);
	free(fin.key);
}

typedef struct {
	fixture *f;
	pthread_t t;
} advancer;

static void *advancer_main(void *arg)
{
	advancer *a = arg;

	sleep_ms(5);
	ss_fake_clock_advance(&a->f->fc, 30 * SEC);
	ctrl_workqueue_wake(a->f->q);
	return NULL;
}

static void test_drain_deadline_on_fake_clock(void **state)
{
	fixture *f = *state;
	advancer a = { f, 0 };
	char *key = NULL;

	assert_int_equal(ctrl_workqueue_add(f->q, "ns/a"), 0);
	assert_int_equal(ctrl_workqueue_try_get(&key, f->q), 0);
	/* The deadline is 30 s on the queue's clock, reached by an advance
	 * and a wake rather than by waiting. */
	assert_int_equal(pthread_create(&a.t, NULL, advancer_main, &a), 0);
	assert_int_equal(
		ctrl_workqueue_drain(f->q, ss_clock_mono(&f->fc.clock) + 30 * SEC),
		SS_ETIMEOUT);
	pthread_join(a.t, NULL);
	ctrl_workqueue_done(f->q, key);
	free(key);
}

static void test_oldest_processing_age(void **state)
{
	fixture *f = *state;
	ctrl_workqueue_stats st;
	char *a = NULL, *b = NULL;

	assert_int_equal(ctrl_workqueue_add(f->q, "ns/a"), 0);
	assert_int_equal(ctrl_workqueue_add(f->q, "ns/b"), 0);
	assert_int_equal(ctrl_workqueue_try_get(&a, f->q), 0);
	ss_fake_clock_advance(&f->fc, 2 * SEC);
	assert_int_equal(ctrl_workqueue_try_get(&b, f->q), 0);
	ss_fake_clock_advance(&f->fc, 1 * SEC);
	ctrl_workqueue_get_stats(&st, f->q);
	assert_int_equal(st.processing, 2);
	assert_int_equal(st.oldest_processing_ns, 3 * SEC);
	ctrl_workqueue_done(f->q, a);
	ctrl_workqueue_get_stats(&st, f->q);
	assert_int_equal(st.oldest_processing_ns, 1 * SEC);
	ctrl_workqueue_done(f->q, b);
	ctrl_workqueue_get_stats(&st, f->q);
	assert_int_equal(st.oldest_processing_ns, 0);
	free(a);
	free(b);
	/* done() for a key nobody holds changes nothing. */
	ctrl_workqueue_done(f->q, "ns/a");
	ctrl_workqueue_get_stats(&st, f->q);
	assert_int_equal(st.processing, 0);
}

/* Stress: workers take keys and flag them in flight; the main thread (and
 * the workers themselves, while holding a key) keep adding. A flag found
 * already set means two workers held one key. Each add first bumps the
 * key's generation; a worker notes the generation it saw when it started,
 * so at the end every key must have been processed after its last add. */
#define STRESS_KEYS 8
#define STRESS_WORKERS 4
#define STRESS_ADDS 20000

typedef struct {
	ctrl_workqueue *q;
	atomic_bool in_flight[STRESS_KEYS];
	atomic_int generation[STRESS_KEYS];
	atomic_int seen[STRESS_KEYS];
	atomic_int overlaps;
	atomic_int processed;
} stress;

static void *stress_worker(void *arg)
{
	stress *s = arg;
	char *key;

	while (ctrl_workqueue_get(&key, s->q) == 0) {
		int i = key[strlen(key) - 1] - '0';
		int n;

		atomic_store(&s->seen[i], atomic_load(&s->generation[i]));
		if (atomic_exchange(&s->in_flight[i], true))
			atomic_fetch_add(&s->overlaps, 1);
		sched_yield();
		n = atomic_fetch_add(&s->processed, 1);
		if (n % 3 == 0)
			ctrl_workqueue_add(s->q, key);
		atomic_store(&s->in_flight[i], false);
		ctrl_workqueue_done(s->q, key);
		free(key);
	}
	return NULL;
}

static void test_stress_no_key_held_twice(void **state)
{
	fixture *f = *state;
	stress *s = calloc(1, sizeof(*s));
	pthread_t t[STRESS_WORKERS];
	ctrl_workqueue_stats st;
	unsigned int rnd = 12345;
	char key[32];
	int i;

	assert_non_null(s);
	s->q = f->q;
	for (i = 0; i < STRESS_WORKERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, stress_worker, s), 0);
	for (i = 0; i < STRESS_ADDS; i++) {
		int k;

		rnd = rnd * 1103515245u + 12345u;
		k = (int)((rnd >> 16) % STRESS_KEYS);
		snprintf(key, sizeof(key), "ns/key-%d", k);
		atomic_fetch_add(&s->generation[k], 1);
		assert_int_equal(ctrl_workqueue_add(f->q, key), 0);
		if (i % 64 == 0)
			sched_yield();
	}
	/* Quiet once nothing is queued or held: only holders add. */
	for (;;) {
		ctrl_workqueue_get_stats(&st, f->q);
		if (st.depth == 0 && st.processing == 0)
			break;
		sleep_ms(1);
	}
	ctrl_workqueue_shutdown(f->q);
	for (i = 0; i < STRESS_WORKERS; i++)
		pthread_join(t[i], NULL);

	print_message("processed %d keys for %d adds\n", atomic_load(&s->processed),
		      STRESS_ADDS);
	assert_int_equal(atomic_load(&s->overlaps), 0);
	assert_true(atomic_load(&s->processed) >= STRESS_KEYS);
	for (i = 0; i < STRESS_KEYS; i++)
		assert_int_equal(atomic_load(&s->seen[i]),
				 atomic_load(&s->generation[i]));
	free(s);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_dedup_while_queued),
		T(test_dedup_while_processing),
		T(test_backoff_growth_and_forget),
		T(test_token_bucket_limits_burst),
		T(test_bucket_refills),
		T(test_delayed_order_and_earliest_wins),
		T(test_key_bounds),
		T(test_get_blocks_until_ready),
		T(test_shutdown_wakes_getters),
		T(test_shutdown_keeps_queued_keys_out),
		T(test_drain_with_deadline),
		T(test_drain_deadline_on_fake_clock),
		T(test_oldest_processing_age),
		T(test_stress_no_key_held_twice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
