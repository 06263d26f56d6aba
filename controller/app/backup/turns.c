/*
 * turns.c — per-server turns, the FIFO of Backups waiting for one,
 * last uses and recent probes (turns.h).
 *
 * Invariants: a server is in `busy` at most once; a Backup is on the wait
 * list at most once, and keeps its sequence number (its place) from the
 * first time it waited until it stops waiting; only a WAITING entry is
 * ever woken, so one end of a turn wakes one Backup.
 *
 * Thread-safety: `mu` guards everything; no function calls out while
 * holding it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "app/backup/turns.h"
#include "ctrl/object.h"
#include "util/error.h"
#include "util/str.h"

typedef struct {
	char server[CTRL_KEY_MAX];
	char holder[CTRL_KEY_MAX];
	app_db_verdict verdict;
} busy_entry;

typedef struct {
	char server[CTRL_KEY_MAX];
	int64_t last_end; /* 0: no session ended */
	int64_t touched;  /* the latest time given for it: for forgetting */
	bool has_probe;
	int64_t probe_at;
	char identity[APP_TURNS_IDENTITY_MAX];
	app_db_verdict verdict;
} server_entry;

typedef enum {
	W_WAITING, /* registered, not woken */
	W_WOKEN,   /* a server it waits for ended its turn: queued */
	W_LOOKING, /* its reconcile runs (app_turns_begin .. _end) */
} wait_state;

typedef struct {
	char key[CTRL_KEY_MAX];
	uint64_t seq;
	wait_state state;
	int64_t since;
	int64_t generation;
	char woken_for[CTRL_KEY_MAX]; /* "" when not woken */
	char servers[APP_TURNS_MAX_WAIT_SERVERS][CTRL_KEY_MAX];
	size_t n_servers;
} waiter;

struct app_turns {
	pthread_mutex_t mu;
	app_turns_opts o;
	busy_entry busy[APP_TURNS_MAX_BUSY];
	size_t n_busy;
	server_entry **servers; /* o.max_servers slots, n_servers used */
	size_t n_servers;
	waiter **waiters; /* o.max_waiters slots, n_waiters used */
	size_t n_waiters;
	uint64_t next_seq;
};

int app_turns_new(app_turns **out, const app_turns_opts *opts)
{
	app_turns *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return ss_error_set(SS_ENOMEM, "turns: out of memory");
	if (opts)
		t->o = *opts;
	if (t->o.max_servers == 0)
		t->o.max_servers = 512;
	if (t->o.max_waiters == 0)
		t->o.max_waiters = 4096;
	if (t->o.probe_ttl_ns <= 0)
		t->o.probe_ttl_ns = APP_TURNS_PROBE_TTL_NS;
	t->servers = calloc(t->o.max_servers, sizeof(*t->servers));
	t->waiters = calloc(t->o.max_waiters, sizeof(*t->waiters));
	if (t->servers == NULL || t->waiters == NULL) {
		app_turns_free(t);
		return ss_error_set(SS_ENOMEM, "turns: out of memory");
	}
	pthread_mutex_init(&t->mu, NULL);
	*out = t;
	return 0;
}

void app_turns_free(app_turns *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; t->servers && i < t->n_servers; i++)
		free(t->servers[i]);
	for (i = 0; t->waiters && i < t->n_waiters; i++)
		free(t->waiters[i]);
	free(t->servers);
	free(t->waiters);
	if (t->servers != NULL && t->waiters != NULL)
		pthread_mutex_destroy(&t->mu);
	free(t);
}

/* ---- lookups (mu held) ------------------------------------------------------ */

static busy_entry *backup_turns_busy_find(app_turns *t, const char *server)
{
	size_t i;

	for (i = 0; i < t->n_busy; i++)
		if (strcmp(t->busy[i].server, server) == 0)
			return &t->busy[i];
	return NULL;
}

static server_entry *backup_turns_server_find(app_turns *t, const char *server)
{
	size_t i;

	for (i = 0; i < t->n_servers; i++)
		if (strcmp(t->servers[i]->server, server) == 0)
			return t->servers[i];
	return NULL;
}

/* The entry of `server`, made (forgetting the least recently touched one
 * when full) if need be; NULL when out of memory or the key is too long. */
static server_entry *backup_turns_server_get(app_turns *t, const char *server,
					     int64_t now)
{
	server_entry *e = backup_turns_server_find(t, server);
	size_t i, oldest = 0;

	if (e == NULL && strlen(server) < CTRL_KEY_MAX) {
		if (t->n_servers == t->o.max_servers) {
			for (i = 1; i < t->n_servers; i++)
				if (t->servers[i]->touched < t->servers[oldest]->touched)
					oldest = i;
			e = t->servers[oldest];
			t->servers[oldest] = t->servers[--t->n_servers];
			memset(e, 0, sizeof(*e));
		} else {
			e = calloc(1, sizeof(*e));
		}
		if (e == NULL)
			return NULL;
		ss_strlcpy(e->server, server, sizeof(e->server));
		t->servers[t->n_servers++] = e;
	}
	if (e != NULL && now > e->touched)
		e->touched = now;
	return e;
}

static size_t backup_turns_waiter_index(app_turns *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->n_waiters; i++)
		if (strcmp(t->waiters[i]->key, key) == 0)
			return i;
	return SIZE_MAX;
}

static waiter *backup_turns_waiter_find(app_turns *t, const char *key)
{
	size_t i = backup_turns_waiter_index(t, key);

	return i == SIZE_MAX ? NULL : t->waiters[i];
}

static void backup_turns_waiter_remove(app_turns *t, const char *key)
{
	size_t i = backup_turns_waiter_index(t, key);

	if (i == SIZE_MAX)
		return;
	free(t->waiters[i]);
	t->waiters[i] = t->waiters[--t->n_waiters];
}

static bool backup_turns_waits_for(const waiter *w, const char *server)
{
	size_t i;

	for (i = 0; i < w->n_servers; i++)
		if (strcmp(w->servers[i], server) == 0)
			return true;
	return false;
}

/* Wakes the waiting Backup that has waited longest for `server`. */
static bool backup_turns_wake(app_turns *t, const char *server, char *woken, size_t cap)
{
	waiter *best = NULL;
	size_t i;

	for (i = 0; i < t->n_waiters; i++) {
		waiter *w = t->waiters[i];

		if (w->state == W_WAITING && backup_turns_waits_for(w, server) &&
		    (best == NULL || w->seq < best->seq))
			best = w;
	}
	if (best == NULL)
		return false;
	best->state = W_WOKEN;
	ss_strlcpy(best->woken_for, server, sizeof(best->woken_for));
	if (woken)
		ss_strlcpy(woken, best->key, cap);
	return true;
}

/* ---- turns --------------------------------------------------------------------- */

/* Registers want->holder as waiting for `server` and the busy ones of
 * want->also (mu held). */
static app_turns_outcome backup_turns_enlist(app_turns *t, const char *server,
					     const app_turns_want *want)
{
	waiter *w = backup_turns_waiter_find(t, want->holder);
	size_t i;

	if (w == NULL) {
		if (t->n_waiters == t->o.max_waiters ||
		    strlen(want->holder) >= CTRL_KEY_MAX ||
		    (w = calloc(1, sizeof(*w))) == NULL)
			return APP_TURNS_FULL;
		ss_strlcpy(w->key, want->holder, sizeof(w->key));
		w->seq = ++t->next_seq;
		t->waiters[t->n_waiters++] = w;
	}
	w->state = W_WAITING;
	w->since = want->now;
	w->generation = want->generation;
	w->n_servers = 0;
	ss_strlcpy(w->servers[w->n_servers++], server, sizeof(w->servers[0]));
	for (i = 0; i < want->n_also && w->n_servers < APP_TURNS_MAX_WAIT_SERVERS; i++)
		if (strcmp(want->also[i], server) != 0 &&
		    !backup_turns_waits_for(w, want->also[i]))
			ss_strlcpy(w->servers[w->n_servers++], want->also[i],
				   sizeof(w->servers[0]));
	return APP_TURNS_QUEUED;
}

app_turns_outcome app_turns_take(app_turns *t, const char *server,
				 const app_turns_want *want, char *other, size_t cap)
{
	app_turns_outcome res = APP_TURNS_TAKEN;
	busy_entry *b;
	size_t i;

	pthread_mutex_lock(&t->mu);
	b = backup_turns_busy_find(t, server);
	if (b == NULL) {
		if (t->n_busy == APP_TURNS_MAX_BUSY) {
			res = APP_TURNS_FULL;
		} else {
			b = &t->busy[t->n_busy++];
			ss_strlcpy(b->server, server, sizeof(b->server));
			ss_strlcpy(b->holder, want->holder, sizeof(b->holder));
			b->verdict = *want->verdict;
		}
		goto done;
	}
	if (other)
		ss_strlcpy(other, b->holder, cap);
	/* A server it would take as gladly ended its turn since the probe. */
	for (i = 0; i < want->n_also; i++) {
		if (strcmp(want->also[i], server) != 0 &&
		    !backup_turns_busy_find(t, want->also[i])) {
			res = APP_TURNS_RETRY;
			goto done;
		}
	}
	res = backup_turns_enlist(t, server, want);
done:
	pthread_mutex_unlock(&t->mu);
	return res;
}

app_turns_outcome app_turns_wait(app_turns *t, const char *server,
				 const app_turns_want *want)
{
	app_turns_outcome res;

	pthread_mutex_lock(&t->mu);
	res = backup_turns_enlist(t, server, want);
	pthread_mutex_unlock(&t->mu);
	return res;
}

bool app_turns_wake(app_turns *t, const char *server, char *woken, size_t cap)
{
	bool any = false;

	pthread_mutex_lock(&t->mu);
	/* A turn on it: its give_back wakes the next waiter. */
	if (backup_turns_busy_find(t, server) == NULL)
		any = backup_turns_wake(t, server, woken, cap);
	pthread_mutex_unlock(&t->mu);
	return any;
}

bool app_turns_busy(app_turns *t, const char *server, app_db_verdict *out)
{
	busy_entry *b;

	pthread_mutex_lock(&t->mu);
	b = backup_turns_busy_find(t, server);
	if (b && out)
		*out = b->verdict;
	pthread_mutex_unlock(&t->mu);
	return b != NULL;
}

bool app_turns_give_back(app_turns *t, const char *server, bool session_ran, int64_t now,
			 char *woken, size_t cap)
{
	busy_entry *b;
	server_entry *e;
	bool any;

	pthread_mutex_lock(&t->mu);
	b = backup_turns_busy_find(t, server);
	if (b != NULL)
		*b = t->busy[--t->n_busy];
	if (b != NULL && session_ran &&
	    (e = backup_turns_server_get(t, server, now)) != NULL)
		e->last_end = now;
	any = backup_turns_wake(t, server, woken, cap);
	pthread_mutex_unlock(&t->mu);
	return any;
}

bool app_turns_begin(app_turns *t, const char *key, int64_t generation, int64_t now,
		     int64_t patience_ns, int64_t *left_ns)
{
	bool skip = false;
	waiter *w;

	pthread_mutex_lock(&t->mu);
	w = backup_turns_waiter_find(t, key);
	if (w != NULL && w->state == W_WAITING && generation >= 0 &&
	    w->generation == generation && now - w->since < patience_ns) {
		skip = true;
		*left_ns = patience_ns - (now - w->since);
	} else if (w != NULL) {
		w->state = W_LOOKING;
	}
	pthread_mutex_unlock(&t->mu);
	return skip;
}

bool app_turns_end(app_turns *t, const char *key, const char *taken, char *woken,
		   size_t cap)
{
	char was_for[CTRL_KEY_MAX] = "";
	bool any = false;
	waiter *w;

	pthread_mutex_lock(&t->mu);
	w = backup_turns_waiter_find(t, key);
	/* Woken again while it ran: that wake is for its next reconcile. */
	if (w == NULL || w->state == W_WOKEN)
		goto done;
	ss_strlcpy(was_for, w->woken_for, sizeof(was_for));
	w->woken_for[0] = '\0';
	if (w->state == W_LOOKING)
		backup_turns_waiter_remove(t, key);
	if (was_for[0] != '\0' && (taken == NULL || strcmp(taken, was_for) != 0) &&
	    backup_turns_busy_find(t, was_for) == NULL)
		any = backup_turns_wake(t, was_for, woken, cap);
done:
	pthread_mutex_unlock(&t->mu);
	return any;
}

size_t app_turns_waiting(app_turns *t)
{
	size_t n;

	pthread_mutex_lock(&t->mu);
	n = t->n_waiters;
	pthread_mutex_unlock(&t->mu);
	return n;
}

int64_t app_turns_last_used(app_turns *t, const char *server)
{
	server_entry *e;
	int64_t v = 0;

	pthread_mutex_lock(&t->mu);
	if (backup_turns_busy_find(t, server) != NULL)
		v = INT64_MAX;
	else if ((e = backup_turns_server_find(t, server)) != NULL)
		v = e->last_end;
	pthread_mutex_unlock(&t->mu);
	return v;
}

/* ---- probes ------------------------------------------------------------------- */

void app_turns_probe_put(app_turns *t, const char *server, const char *identity,
			 const app_db_verdict *verdict, int64_t now)
{
	server_entry *e;

	if (strlen(identity) >= APP_TURNS_IDENTITY_MAX)
		return;
	pthread_mutex_lock(&t->mu);
	e = backup_turns_server_get(t, server, now);
	if (e != NULL) {
		e->has_probe = true;
		e->probe_at = now;
		ss_strlcpy(e->identity, identity, sizeof(e->identity));
		e->verdict = *verdict;
	}
	pthread_mutex_unlock(&t->mu);
}

bool app_turns_probe_get(app_turns *t, const char *server, const char *identity,
			 int64_t now, app_db_verdict *out)
{
	server_entry *e;
	bool hit = false;

	pthread_mutex_lock(&t->mu);
	e = backup_turns_server_find(t, server);
	if (e != NULL && e->has_probe && strcmp(e->identity, identity) == 0 &&
	    now >= e->probe_at && now - e->probe_at < t->o.probe_ttl_ns) {
		*out = e->verdict;
		hit = true;
	}
	pthread_mutex_unlock(&t->mu);
	return hit;
}

void app_turns_probe_drop(app_turns *t, const char *server)
{
	server_entry *e;

	pthread_mutex_lock(&t->mu);
	e = backup_turns_server_find(t, server);
	if (e != NULL)
		e->has_probe = false;
	pthread_mutex_unlock(&t->mu);
}
