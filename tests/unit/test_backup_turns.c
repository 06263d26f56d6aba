/*
 * test_backup_turns.c — per-server turns, the wait list and the probe
 * memory of the Backup controller (app/backup/turns.h): one session per
 * server, waiters woken one at a time in the order they started waiting,
 * a wake a Backup does not use passed on, no look at a waiting Backup
 * until woken (or its patience ends, or its spec changes), probes
 * remembered for the TTL under their identity only, and bounded tables.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "app/backup/turns.h"
#include "ctrl/object.h"
#include "util/error.h"

#define S1 "ns/mariadb-1"
#define S2 "ns/mariadb-2"
#define SEC SS_NS_PER_SEC

static app_db_verdict healthy(int64_t lag)
{
	app_db_verdict v;

	memset(&v, 0, sizeof(v));
	v.kind = APP_DB_HEALTHY_REPLICA;
	v.lag_seconds = lag;
	return v;
}

static app_turns *turns_new(size_t max_servers, size_t max_waiters)
{
	app_turns_opts o = { max_servers, max_waiters, 3 * SEC };
	app_turns *t = NULL;

	assert_int_equal(app_turns_new(&t, &o), 0);
	return t;
}

/* Takes `server` for `holder` (generation `gen`) at `now`, with no other
 * server it would take. */
static app_turns_outcome take_g(app_turns *t, const char *server, const char *holder,
				int64_t gen, int64_t now, char *other)
{
	app_db_verdict v = healthy(0);
	app_turns_want w = { holder, &v, NULL, 0, gen, now };

	return app_turns_take(t, server, &w, other, CTRL_KEY_MAX);
}

static app_turns_outcome take(app_turns *t, const char *server, const char *holder,
			      int64_t now, char *other)
{
	return take_g(t, server, holder, 1, now, other);
}

static void test_one_session_per_server(void **state)
{
	app_turns *t = turns_new(0, 0);
	char other[CTRL_KEY_MAX] = "", woken[CTRL_KEY_MAX] = "";
	app_db_verdict v = healthy(7), got;

	(void)state;
	app_turns_want w = { "ns/a", &v, NULL, 0, 1, 10 };
	assert_int_equal(app_turns_last_used(t, S1), 0);
	assert_int_equal(app_turns_take(t, S1, &w, other, sizeof(other)),
			 APP_TURNS_TAKEN);
	assert_true(app_turns_busy(t, S1, &got));
	assert_int_equal(got.lag_seconds, 7); /* as its holder chose it */
	assert_false(app_turns_busy(t, S2, NULL));
	assert_int_equal(app_turns_last_used(t, S1), INT64_MAX);
	assert_int_equal(take(t, S1, "ns/b", 11, other), APP_TURNS_QUEUED);
	assert_string_equal(other, "ns/a");
	assert_int_equal(app_turns_waiting(t), 1);
	/* its turn ends: b is woken, the server was used at 20 */
	assert_true(app_turns_give_back(t, S1, true, 20 * SEC, woken, sizeof(woken)));
	assert_string_equal(woken, "ns/b");
	assert_false(app_turns_busy(t, S1, NULL));
	assert_int_equal(app_turns_last_used(t, S1), 20 * SEC);
	/* b runs and takes it; nothing is passed on */
	assert_false(app_turns_begin(t, "ns/b", 1, 21 * SEC, 30 * SEC, &(int64_t){ 0 }));
	assert_int_equal(take(t, S1, "ns/b", 21 * SEC, other), APP_TURNS_TAKEN);
	woken[0] = '\0';
	assert_false(app_turns_end(t, "ns/b", S1, woken, sizeof(woken)));
	assert_int_equal(app_turns_waiting(t), 0);
	/* a take that ended before any session does not count as a use */
	assert_false(app_turns_give_back(t, S1, false, 40 * SEC, woken, sizeof(woken)));
	assert_int_equal(app_turns_last_used(t, S1), 20 * SEC);
	/* giving back a free server does nothing */
	assert_false(app_turns_give_back(t, S1, true, 50 * SEC, woken, sizeof(woken)));
	assert_int_equal(app_turns_last_used(t, S1), 20 * SEC);
	app_turns_free(t);
}

/* Each end of a turn wakes one waiter: the one that started waiting first,
 * also when it looked again (patience) and queued anew meanwhile. */
static void test_waiters_are_woken_in_order(void **state)
{
	app_turns *t = turns_new(0, 0);
	char other[CTRL_KEY_MAX], woken[CTRL_KEY_MAX];
	const char *order[] = { "ns/b", "ns/c", "ns/d", "ns/e" };
	int64_t left = 0, now = SEC;
	size_t i;

	(void)state;
	assert_int_equal(take(t, S1, "ns/a", now, other), APP_TURNS_TAKEN);
	for (i = 0; i < 4; i++)
		assert_int_equal(take(t, S1, order[i], now + (int64_t)i, other),
				 APP_TURNS_QUEUED);
	/* c's patience ends: it looks again and queues again, keeping its place */
	assert_false(app_turns_begin(t, "ns/c", 1, now + 31 * SEC, 30 * SEC, &left));
	assert_int_equal(take(t, S1, "ns/c", now + 31 * SEC, other), APP_TURNS_QUEUED);
	assert_false(app_turns_end(t, "ns/c", NULL, woken, sizeof(woken)));
	assert_int_equal(app_turns_waiting(t), 4);
	for (i = 0; i < 4; i++) {
		now += 2 * SEC;
		assert_true(app_turns_give_back(t, S1, true, now, woken, sizeof(woken)));
		assert_string_equal(woken, order[i]);
		assert_false(app_turns_begin(t, order[i], 1, now, 30 * SEC, &left));
		assert_int_equal(take(t, S1, order[i], now, other), APP_TURNS_TAKEN);
		assert_false(app_turns_end(t, order[i], S1, woken, sizeof(woken)));
	}
	assert_int_equal(app_turns_waiting(t), 0);
	assert_false(app_turns_give_back(t, S1, true, now + SEC, woken, sizeof(woken)));
	app_turns_free(t);
}

/* After a restart a replica can be held by what no turn records: another
 * Backup's interrupted session stopped its SQL threads. A Backup waits for
 * it (app_turns_wait), is quiet meanwhile, and is woken when the threads
 * are started again (app_turns_wake) — which never ends a real turn. */
static void test_wait_for_a_server_held_without_a_turn(void **state)
{
	app_turns *t = turns_new(0, 0);
	char other[CTRL_KEY_MAX], woken[CTRL_KEY_MAX] = "";
	app_db_verdict v = healthy(0);
	const char *also[] = { S2 };
	app_turns_want w = { "ns/c", &v, also, 1, 1, SEC };
	int64_t left = 0;

	(void)state;
	assert_false(app_turns_wake(t, S1, woken, sizeof(woken))); /* no waiter */
	assert_false(app_turns_begin(t, "ns/c", 1, SEC, 30 * SEC, &left));
	assert_int_equal(app_turns_wait(t, S1, &w), APP_TURNS_QUEUED);
	assert_false(app_turns_end(t, "ns/c", NULL, woken, sizeof(woken)));
	assert_int_equal(app_turns_waiting(t), 1);
	assert_false(app_turns_busy(t, S1, NULL)); /* no turn was taken */
	/* quiet until woken */
	assert_true(app_turns_begin(t, "ns/c", 1, 2 * SEC, 30 * SEC, &left));
	assert_int_equal(left, 29 * SEC);
	/* a session of this process took S2 meanwhile: the wake of S2 does
	 * not end that turn, its give_back wakes c */
	assert_int_equal(take(t, S2, "ns/d", 3 * SEC, other), APP_TURNS_TAKEN);
	assert_false(app_turns_wake(t, S2, woken, sizeof(woken)));
	assert_true(app_turns_busy(t, S2, NULL));
	/* S1's threads are started again: c is woken, looks, takes S1 */
	assert_true(app_turns_wake(t, S1, woken, sizeof(woken)));
	assert_string_equal(woken, "ns/c");
	assert_false(app_turns_begin(t, "ns/c", 1, 4 * SEC, 30 * SEC, &left));
	assert_int_equal(take(t, S1, "ns/c", 4 * SEC, other), APP_TURNS_TAKEN);
	assert_false(app_turns_end(t, "ns/c", S1, woken, sizeof(woken)));
	assert_int_equal(app_turns_waiting(t), 0);
	assert_false(app_turns_wake(t, S1, woken, sizeof(woken)));
	assert_true(app_turns_busy(t, S1, NULL));
	app_turns_free(t);
}

/* A waiting Backup is not looked at until woken — unless its spec changed,
 * it is being deleted (generation -1) or its patience ran out. */
static void test_begin_skips_a_quiet_waiter(void **state)
{
	app_turns *t = turns_new(0, 0);
	char other[CTRL_KEY_MAX], woken[CTRL_KEY_MAX];
	int64_t left = 0;

	(void)state;
	/* not waiting: looked at */
	assert_false(app_turns_begin(t, "ns/b", 1, 0, 30 * SEC, &left));
	assert_false(app_turns_end(t, "ns/b", NULL, woken, sizeof(woken)));
	assert_int_equal(take(t, S1, "ns/a", 0, other), APP_TURNS_TAKEN);
	assert_int_equal(take(t, S1, "ns/b", 10 * SEC, other), APP_TURNS_QUEUED);
	assert_true(app_turns_begin(t, "ns/b", 1, 12 * SEC, 30 * SEC, &left));
	assert_int_equal(left, 28 * SEC);
	assert_true(app_turns_begin(t, "ns/b", 1, 39 * SEC, 30 * SEC, &left));
	assert_int_equal(left, SEC);
	/* a spec edit */
	assert_false(app_turns_begin(t, "ns/b", 2, 13 * SEC, 30 * SEC, &left));
	/* looked at, it queued again with the new generation */
	assert_int_equal(take_g(t, S1, "ns/b", 2, 13 * SEC, other), APP_TURNS_QUEUED);
	assert_false(app_turns_end(t, "ns/b", NULL, woken, sizeof(woken)));
	assert_true(app_turns_begin(t, "ns/b", 2, 14 * SEC, 30 * SEC, &left));
	/* being deleted */
	assert_false(app_turns_begin(t, "ns/b", -1, 14 * SEC, 30 * SEC, &left));
	/* gone: forgotten at the end of that reconcile */
	assert_false(app_turns_end(t, "ns/b", NULL, woken, sizeof(woken)));
	assert_int_equal(app_turns_waiting(t), 0);
	assert_false(app_turns_give_back(t, S1, true, 15 * SEC, woken, sizeof(woken)));
	/* patience */
	assert_int_equal(take(t, S1, "ns/a", 16 * SEC, other), APP_TURNS_TAKEN);
	assert_int_equal(take(t, S1, "ns/c", 16 * SEC, other), APP_TURNS_QUEUED);
	assert_false(app_turns_begin(t, "ns/c", 1, 46 * SEC, 30 * SEC, &left));
	app_turns_free(t);
}

/* A woken Backup that does not take the server it was woken for passes
 * the wake on, if that server is still free. */
static void test_unused_wake_is_passed_on(void **state)
{
	app_turns *t = turns_new(0, 0);
	char other[CTRL_KEY_MAX], woken[CTRL_KEY_MAX];
	int64_t left;

	(void)state;
	/* b took another server */
	assert_int_equal(take(t, S1, "ns/a", 0, other), APP_TURNS_TAKEN);
	assert_int_equal(take(t, S1, "ns/b", 1, other), APP_TURNS_QUEUED);
	assert_int_equal(take(t, S1, "ns/c", 2, other), APP_TURNS_QUEUED);
	assert_true(app_turns_give_back(t, S1, true, 3, woken, sizeof(woken)));
	assert_string_equal(woken, "ns/b");
	assert_false(app_turns_begin(t, "ns/b", 1, 4, 30 * SEC, &left));
	assert_int_equal(take(t, S2, "ns/b", 4, other), APP_TURNS_TAKEN);
	assert_true(app_turns_end(t, "ns/b", S2, woken, sizeof(woken)));
	assert_string_equal(woken, "ns/c");
	assert_false(app_turns_begin(t, "ns/c", 1, 5, 30 * SEC, &left));
	assert_int_equal(take(t, S1, "ns/c", 5, other), APP_TURNS_TAKEN);
	assert_false(app_turns_end(t, "ns/c", S1, woken, sizeof(woken)));
	/* a woken Backup deleted before it ran: the wake goes on to e */
	assert_int_equal(take(t, S1, "ns/d", 6, other), APP_TURNS_QUEUED);
	assert_int_equal(take(t, S1, "ns/e", 7, other), APP_TURNS_QUEUED);
	assert_true(app_turns_give_back(t, S1, true, 8, woken, sizeof(woken)));
	assert_string_equal(woken, "ns/d");
	assert_false(app_turns_begin(t, "ns/d", -1, 9, 30 * SEC, &left));
	assert_true(app_turns_end(t, "ns/d", NULL, woken, sizeof(woken)));
	assert_string_equal(woken, "ns/e");
	/* ... unless the server is busy again (a newcomer took it): f waits on */
	assert_int_equal(take(t, S1, "ns/x", 10, other), APP_TURNS_TAKEN);
	assert_int_equal(take(t, S1, "ns/f", 11, other), APP_TURNS_QUEUED);
	assert_false(app_turns_begin(t, "ns/e", -1, 12, 30 * SEC, &left));
	assert_false(app_turns_end(t, "ns/e", NULL, woken, sizeof(woken)));
	assert_true(app_turns_begin(t, "ns/f", 1, 13, 30 * SEC, &left));
	assert_int_equal(app_turns_waiting(t), 1);
	app_turns_free(t);
}

/* A Backup waits for every server it would take as gladly; one of them
 * free when it comes to wait means: choose again. */
static void test_waiting_for_several_servers(void **state)
{
	app_turns *t = turns_new(0, 0);
	char other[CTRL_KEY_MAX], woken[CTRL_KEY_MAX];
	app_db_verdict v = healthy(0);
	const char *also[] = { S1, S2 };
	app_turns_want w = { "ns/b", &v, also, 2, 1, 5 };
	int64_t left;

	(void)state;
	assert_int_equal(take(t, S1, "ns/a", 0, other), APP_TURNS_TAKEN);
	/* S2 is free: choose again, not registered */
	assert_int_equal(app_turns_take(t, S1, &w, other, sizeof(other)),
			 APP_TURNS_RETRY);
	assert_int_equal(app_turns_waiting(t), 0);
	assert_int_equal(take(t, S2, "ns/x", 1, other), APP_TURNS_TAKEN);
	assert_int_equal(app_turns_take(t, S1, &w, other, sizeof(other)),
			 APP_TURNS_QUEUED);
	assert_string_equal(other, "ns/a");
	/* the other server's turn ends first: it wakes b */
	assert_true(app_turns_give_back(t, S2, true, 6, woken, sizeof(woken)));
	assert_string_equal(woken, "ns/b");
	/* b, woken, is not woken twice */
	assert_false(app_turns_give_back(t, S1, true, 7, woken, sizeof(woken)));
	assert_false(app_turns_begin(t, "ns/b", 1, 8, 30 * SEC, &left));
	app_turns_free(t);
}

/* Woken again while its reconcile ran (it had queued again): the wake is
 * kept for its next reconcile. */
static void test_woken_while_looking(void **state)
{
	app_turns *t = turns_new(0, 0);
	char other[CTRL_KEY_MAX], woken[CTRL_KEY_MAX];
	int64_t left;

	(void)state;
	assert_int_equal(take(t, S1, "ns/a", 0, other), APP_TURNS_TAKEN);
	assert_int_equal(take(t, S1, "ns/b", 1, other), APP_TURNS_QUEUED);
	assert_false(app_turns_begin(t, "ns/b", 1, 31 * SEC, 30 * SEC, &left));
	assert_int_equal(take(t, S1, "ns/b", 31 * SEC, other), APP_TURNS_QUEUED);
	assert_true(app_turns_give_back(t, S1, true, 32 * SEC, woken, sizeof(woken)));
	assert_string_equal(woken, "ns/b");
	assert_false(app_turns_end(t, "ns/b", NULL, woken, sizeof(woken)));
	assert_int_equal(app_turns_waiting(t), 1);
	assert_false(app_turns_begin(t, "ns/b", 1, 33 * SEC, 30 * SEC, &left));
	assert_int_equal(take(t, S1, "ns/b", 33 * SEC, other), APP_TURNS_TAKEN);
	assert_false(app_turns_end(t, "ns/b", S1, woken, sizeof(woken)));
	assert_int_equal(app_turns_waiting(t), 0);
	app_turns_free(t);
}

/* A probe is remembered for the TTL, under its identity only. */
static void test_probe_memory(void **state)
{
	app_turns *t = turns_new(0, 0);
	app_db_verdict v = healthy(3), got;
	char long_id[APP_TURNS_IDENTITY_MAX + 1];

	(void)state;
	assert_false(app_turns_probe_get(t, S1, "id", 0, &got));
	app_turns_probe_put(t, S1, "id", &v, 10 * SEC);
	memset(&got, 0, sizeof(got));
	assert_true(app_turns_probe_get(t, S1, "id", 10 * SEC, &got));
	assert_int_equal(got.kind, APP_DB_HEALTHY_REPLICA);
	assert_int_equal(got.lag_seconds, 3);
	assert_true(app_turns_probe_get(t, S1, "id", 13 * SEC - 1, &got));
	assert_false(app_turns_probe_get(t, S1, "id", 13 * SEC, &got));
	assert_false(app_turns_probe_get(t, S1, "other-secret", 11 * SEC, &got));
	assert_false(app_turns_probe_get(t, S2, "id", 11 * SEC, &got));
	/* a time before the probe (another clock) is not trusted */
	assert_false(app_turns_probe_get(t, S1, "id", 9 * SEC, &got));
	app_turns_probe_drop(t, S1);
	assert_false(app_turns_probe_get(t, S1, "id", 11 * SEC, &got));
	/* an identity too long is not remembered */
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	app_turns_probe_put(t, S2, long_id, &v, 20 * SEC);
	assert_false(app_turns_probe_get(t, S2, long_id, 20 * SEC, &got));
	app_turns_free(t);
}

/* Bounded: the least recently touched server is forgotten; a full wait
 * list or busy table says so instead of registering. */
static void test_bounds(void **state)
{
	app_turns *t = turns_new(2, 1);
	app_db_verdict v = healthy(0), got;
	char other[CTRL_KEY_MAX], woken[CTRL_KEY_MAX], key[64];
	size_t i;

	(void)state;
	assert_int_equal(take(t, S1, "ns/a", 0, other), APP_TURNS_TAKEN);
	assert_true(app_turns_give_back(t, S1, true, 1 * SEC, woken, sizeof(woken)) ==
		    false);
	app_turns_probe_put(t, S2, "id", &v, 2 * SEC);
	app_turns_probe_put(t, "ns/mariadb-3", "id", &v, 3 * SEC);
	assert_int_equal(app_turns_last_used(t, S1), 0); /* forgotten */
	assert_true(app_turns_probe_get(t, S2, "id", 3 * SEC, &got));
	assert_true(app_turns_probe_get(t, "ns/mariadb-3", "id", 3 * SEC, &got));
	/* one waiter at most */
	assert_int_equal(take(t, S1, "ns/a", 4 * SEC, other), APP_TURNS_TAKEN);
	assert_int_equal(take(t, S1, "ns/b", 4 * SEC, other), APP_TURNS_QUEUED);
	assert_int_equal(take(t, S1, "ns/c", 4 * SEC, other), APP_TURNS_FULL);
	assert_string_equal(other, "ns/a");
	assert_int_equal(app_turns_waiting(t), 1);
	app_turns_free(t);

	/* APP_TURNS_MAX_BUSY sessions at once */
	t = turns_new(0, 0);
	for (i = 0; i < APP_TURNS_MAX_BUSY; i++) {
		snprintf(key, sizeof(key), "ns/db-%zu", i);
		assert_int_equal(take(t, key, "ns/a", 0, other), APP_TURNS_TAKEN);
	}
	assert_int_equal(take(t, "ns/one-more", "ns/a", 0, other), APP_TURNS_FULL);
	app_turns_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_session_per_server),
		cmocka_unit_test(test_waiters_are_woken_in_order),
		cmocka_unit_test(test_begin_skips_a_quiet_waiter),
		cmocka_unit_test(test_wait_for_a_server_held_without_a_turn),
		cmocka_unit_test(test_unused_wake_is_passed_on),
		cmocka_unit_test(test_waiting_for_several_servers),
		cmocka_unit_test(test_woken_while_looking),
		cmocka_unit_test(test_probe_memory),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
