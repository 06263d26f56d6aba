/*
 * workqueue.c — the rate-limiting work queue. See workqueue.h.
 *
 * One `item` per key, found through a chained hash table, carries all the
 * key's state, so each key costs one allocation however it is used:
 *   dirty       the key must be processed (again);
 *   processing  a worker holds it;
 *   heap_pos    its place in the min-heap of waiting keys, or NOT_WAITING;
 *   failures    the per-key backoff exponent.
 * Invariants, all under `mu`:
 *   - an item is in the ready FIFO exactly when dirty && !processing;
 *   - an item exists exactly while it is dirty, processing, waiting or has
 *     failures (release_if_idle() frees it the moment none holds);
 *   - heap[i]->heap_pos == i, and the heap is ordered by (ready_at, seq).
 * There is no timer thread: whoever reads the queue (get, try_get, wake's
 * waiters) first moves waiting keys whose time has come to the FIFO.
 *
 * The shared token bucket counts in billionths of a token so that a qps of
 * 10 gives exact 100 ms steps without floating point.
 *
 * Thread-safety: one mutex guards everything; `ready` wakes getters and
 * `idle` wakes drain(). Both conditions use CLOCK_MONOTONIC.
 */
#include "ctrl/workqueue.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/error.h"

#define NOT_WAITING SIZE_MAX
#define TABLE_MIN 64
/* Longest single real sleep: waiters re-read the clock at least this often,
 * and no deadline arithmetic can overflow. */
#define MAX_SLEEP_NS (60 * SS_NS_PER_SEC)

#define DEFAULT_BASE_DELAY_NS (5 * SS_NS_PER_MS)
#define DEFAULT_MAX_DELAY_NS (1000 * SS_NS_PER_SEC)
#define DEFAULT_QPS 10
#define DEFAULT_BURST 100

typedef struct item {
	struct item *hnext; /* hash chain */
	struct item *qnext; /* ready FIFO */
	uint64_t hash;
	size_t heap_pos;
	int64_t ready_at;
	uint64_t seq; /* orders keys with equal ready_at by insertion */
	int64_t processing_since;
	int failures;
	bool dirty;
	bool processing;
	char key[];
} item;

struct ctrl_workqueue {
	pthread_mutex_t mu;
	pthread_cond_t ready;
	pthread_cond_t idle;
	const ss_clock *clock;

	item **table;
	size_t table_size; /* a power of two */
	size_t items;

	item *head, *tail; /* ready FIFO */
	size_t depth;

	item **heap;
	size_t heap_len, heap_cap;
	uint64_t heap_seq;

	size_t processing;
	bool shut_down;

	int64_t base_delay, max_delay;
	int64_t qps, burst;
	int64_t tokens; /* billionths of a token; negative when in debt */
	int64_t tokens_at;

	uint64_t adds_total, retries_total;
};

/* FNV-1a */
static uint64_t hash_key(const char *key)
{
	uint64_t h = UINT64_C(1469598103934665603);

	for (; *key; key++) {
		h ^= (unsigned char)*key;
		h *= UINT64_C(1099511628211);
	}
	return h;
}

static int check_key(const char *key)
{
	if (!key || !*key)
		return ss_error_set(SS_EINVALID, "workqueue: empty key");
	if (strnlen(key, CTRL_KEY_MAX) >= CTRL_KEY_MAX)
		return ss_error_set(SS_EINVALID,
				    "workqueue: key '%.40s...' is longer than %d bytes",
				    key, CTRL_KEY_MAX - 1);
	return 0;
}

static item *lookup(ctrl_workqueue *q, const char *key)
{
	uint64_t h = hash_key(key);
	item *it = q->table[h & (q->table_size - 1)];

	while (it && (it->hash != h || strcmp(it->key, key) != 0))
		it = it->hnext;
	return it;
}

/* Doubles the table when it is full; on allocation failure the chains just
 * grow longer, which is slower but still correct. */
static void maybe_grow(ctrl_workqueue *q)
{
	size_t size = q->table_size * 2, i;
	item **table;

	if (q->items < q->table_size)
		return;
	table = calloc(size, sizeof(*table));
	if (!table)
		return;
	for (i = 0; i < q->table_size; i++) {
		item *it = q->table[i];

		while (it) {
			item *next = it->hnext;
			size_t b = it->hash & (size - 1);

			it->hnext = table[b];
			table[b] = it;
			it = next;
		}
	}
	free(q->table);
	q->table = table;
	q->table_size = size;
}

static int lookup_or_create(item **out, ctrl_workqueue *q, const char *key)
{
	size_t len = strlen(key);
	item *it = lookup(q, key);
	size_t b;

	if (it) {
		*out = it;
		return 0;
	}
	it = calloc(1, sizeof(*it) + len + 1);
	if (!it)
		return ss_error_set(SS_ENOMEM, "workqueue: out of memory adding '%s'",
				    key);
	memcpy(it->key, key, len + 1);
	it->hash = hash_key(key);
	it->heap_pos = NOT_WAITING;
	maybe_grow(q);
	b = it->hash & (q->table_size - 1);
	it->hnext = q->table[b];
	q->table[b] = it;
	q->items++;
	*out = it;
	return 0;
}

static void release_if_idle(ctrl_workqueue *q, item *it)
{
	item **link;

	if (it->dirty || it->processing || it->heap_pos != NOT_WAITING ||
	    it->failures > 0)
		return;
	link = &q->table[it->hash & (q->table_size - 1)];
	while (*link != it)
		link = &(*link)->hnext;
	*link = it->hnext;
	q->items--;
	free(it);
}

static void fifo_push(ctrl_workqueue *q, item *it)
{
	it->qnext = NULL;
	if (q->tail)
		q->tail->qnext = it;
	else
		q->head = it;
	q->tail = it;
	q->depth++;
	pthread_cond_signal(&q->ready);
}

static item *fifo_pop(ctrl_workqueue *q)
{
	item *it = q->head;

	q->head = it->qnext;
	if (!q->head)
		q->tail = NULL;
	it->qnext = NULL;
	q->depth--;
	return it;
}

static void heap_swap(ctrl_workqueue *q, size_t a, size_t b)
{
	item *t = q->heap[a];

	q->heap[a] = q->heap[b];
	q->heap[b] = t;
	q->heap[a]->heap_pos = a;
	q->heap[b]->heap_pos = b;
}

/* Keys due at the same time come out in the order they were delayed. */
static bool heap_before(const item *a, const item *b)
{
	if (a->ready_at != b->ready_at)
		return a->ready_at < b->ready_at;
	return a->seq < b->seq;
}

static void heap_up(ctrl_workqueue *q, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!heap_before(q->heap[i], q->heap[parent]))
			break;
		heap_swap(q, parent, i);
		i = parent;
	}
}

static void heap_down(ctrl_workqueue *q, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, min = i;

		if (l < q->heap_len && heap_before(q->heap[l], q->heap[min]))
			min = l;
		if (r < q->heap_len && heap_before(q->heap[r], q->heap[min]))
			min = r;
		if (min == i)
			break;
		heap_swap(q, i, min);
		i = min;
	}
}

static int heap_push(ctrl_workqueue *q, item *it)
{
	if (q->heap_len == q->heap_cap) {
		size_t cap = q->heap_cap ? q->heap_cap * 2 : 16;
		item **heap = realloc(q->heap, cap * sizeof(*heap));

		if (!heap)
			return ss_error_set(SS_ENOMEM,
					    "workqueue: out of memory delaying '%s'",
					    it->key);
		q->heap = heap;
		q->heap_cap = cap;
	}
	it->seq = q->heap_seq++;
	it->heap_pos = q->heap_len;
	q->heap[q->heap_len++] = it;
	heap_up(q, it->heap_pos);
	return 0;
}

static item *heap_pop(ctrl_workqueue *q)
{
	item *it = q->heap[0];

	q->heap_len--;
	if (q->heap_len > 0) {
		q->heap[0] = q->heap[q->heap_len];
		q->heap[0]->heap_pos = 0;
		heap_down(q, 0);
	}
	it->heap_pos = NOT_WAITING;
	return it;
}

static int64_t now_ns(ctrl_workqueue *q)
{
	return ss_clock_mono(q->clock);
}

static void add_locked(ctrl_workqueue *q, item *it)
{
	if (it->dirty)
		return;
	it->dirty = true;
	q->adds_total++;
	/* A key being processed goes back to the FIFO in done(), so that two
	 * workers never hold it at once. */
	if (!it->processing)
		fifo_push(q, it);
}

static int add_after_locked(ctrl_workqueue *q, item *it, int64_t delay_ns)
{
	int64_t now = now_ns(q), ready_at;
	int error;

	if (delay_ns <= 0) {
		add_locked(q, it);
		return 0;
	}
	ready_at = delay_ns > INT64_MAX - now ? INT64_MAX : now + delay_ns;
	if (it->heap_pos != NOT_WAITING) {
		if (ready_at < it->ready_at) {
			it->ready_at = ready_at;
			heap_up(q, it->heap_pos);
		}
	} else {
		it->ready_at = ready_at;
		error = heap_push(q, it);
		if (error < 0)
			return error;
	}
	/* Getters sleeping until a later ready time must recompute it. */
	pthread_cond_broadcast(&q->ready);
	return 0;
}

static void promote_due(ctrl_workqueue *q)
{
	int64_t now;

	if (q->heap_len == 0)
		return;
	now = now_ns(q);
	while (q->heap_len > 0 && q->heap[0]->ready_at <= now)
		add_locked(q, heap_pop(q));
}

/* Per-key exponential backoff: base * 2^failures, capped. */
static int64_t item_backoff(const ctrl_workqueue *q, int exp)
{
	if (exp >= 62 || q->base_delay > (q->max_delay >> exp))
		return q->max_delay;
	return q->base_delay << exp;
}

/* Takes one token from the shared bucket and returns how long the caller
 * must wait for it, as golang.org/x/time/rate's Reserve().Delay() does. */
static int64_t bucket_reserve(ctrl_workqueue *q)
{
	int64_t now = now_ns(q), elapsed = now - q->tokens_at;
	int64_t full = q->burst * SS_NS_PER_SEC;

	if (elapsed > 0) {
		/* Compare before multiplying so that a long idle time cannot
		 * overflow. */
		if (elapsed > full / q->qps)
			q->tokens = full;
		else if (q->tokens + elapsed * q->qps > full)
			q->tokens = full;
		else
			q->tokens += elapsed * q->qps;
		q->tokens_at = now;
	}
	q->tokens -= SS_NS_PER_SEC;
	if (q->tokens >= 0)
		return 0;
	return (-q->tokens + q->qps - 1) / q->qps;
}

static int init_cond(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_condattr_init(&attr) != 0)
		return -1;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	return rc == 0 ? 0 : -1;
}

int ctrl_workqueue_new(ctrl_workqueue **out, const ctrl_workqueue_opts *opts)
{
	ctrl_workqueue_opts o = CTRL_WORKQUEUE_OPTS_INIT;
	ctrl_workqueue *q = NULL;
	int error = SS_ENOMEM;
	int inited = 0;

	if (opts)
		o = *opts;
	if (o.base_delay_ns < 0 || o.max_delay_ns < 0 || o.qps < 0 || o.burst < 0) {
		error = ss_error_set(SS_EINVALID,
				     "workqueue: negative delay, qps or burst");
		goto done;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		goto nomem;
	q->clock = o.clock ? o.clock : ss_clock_system();
	q->base_delay = o.base_delay_ns ? o.base_delay_ns : DEFAULT_BASE_DELAY_NS;
	q->max_delay = o.max_delay_ns ? o.max_delay_ns : DEFAULT_MAX_DELAY_NS;
	q->qps = o.qps ? o.qps : DEFAULT_QPS;
	q->burst = o.burst ? o.burst : DEFAULT_BURST;
	if (q->max_delay < q->base_delay) {
		error = ss_error_set(SS_EINVALID,
				     "workqueue: max delay is shorter than base delay");
		goto done;
	}
	q->tokens = q->burst * SS_NS_PER_SEC;
	q->tokens_at = now_ns(q);
	q->table_size = TABLE_MIN;
	q->table = calloc(q->table_size, sizeof(*q->table));
	if (!q->table)
		goto nomem;
	if (pthread_mutex_init(&q->mu, NULL) != 0)
		goto sys;
	inited = 1;
	if (init_cond(&q->ready) < 0)
		goto sys;
	inited = 2;
	if (init_cond(&q->idle) < 0)
		goto sys;
	inited = 3;

	*out = q;
	return 0;

nomem:
	error = ss_error_set(SS_ENOMEM, "workqueue: out of memory");
	goto done;
sys:
	error = ss_error_set(SS_ERROR, "workqueue: cannot create mutex or condition");
done:
	if (q) {
		if (inited >= 3)
			pthread_cond_destroy(&q->idle);
		if (inited >= 2)
			pthread_cond_destroy(&q->ready);
		if (inited >= 1)
			pthread_mutex_destroy(&q->mu);
		free(q->table);
		free(q);
	}
	return error;
}

void ctrl_workqueue_free(ctrl_workqueue *q)
{
	size_t i;

	if (!q)
		return;
	for (i = 0; i < q->table_size; i++) {
		item *it = q->table[i];

		while (it) {
			item *next = it->hnext;

			free(it);
			it = next;
		}
	}
	free(q->table);
	free(q->heap);
	pthread_cond_destroy(&q->idle);
	pthread_cond_destroy(&q->ready);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

int ctrl_workqueue_add(ctrl_workqueue *q, const char *key)
{
	return ctrl_workqueue_add_after(q, key, 0);
}

int ctrl_workqueue_add_after(ctrl_workqueue *q, const char *key, int64_t delay_ns)
{
	item *it = NULL;
	int error = check_key(key);

	if (error < 0)
		return error;
	pthread_mutex_lock(&q->mu);
	if (q->shut_down)
		goto done;
	error = lookup_or_create(&it, q, key);
	if (error < 0)
		goto done;
	error = add_after_locked(q, it, delay_ns);
	release_if_idle(q, it);
done:
	pthread_mutex_unlock(&q->mu);
	return error;
}

int ctrl_workqueue_add_rate_limited(ctrl_workqueue *q, const char *key)
{
	int64_t delay, bucket;
	item *it = NULL;
	int error = check_key(key);

	if (error < 0)
		return error;
	pthread_mutex_lock(&q->mu);
	if (q->shut_down)
		goto done;
	error = lookup_or_create(&it, q, key);
	if (error < 0)
		goto done;
	delay = item_backoff(q, it->failures);
	if (it->failures < INT_MAX)
		it->failures++;
	bucket = bucket_reserve(q);
	if (bucket > delay)
		delay = bucket;
	q->retries_total++;
	error = add_after_locked(q, it, delay);
	release_if_idle(q, it);
done:
	pthread_mutex_unlock(&q->mu);
	return error;
}

void ctrl_workqueue_forget(ctrl_workqueue *q, const char *key)
{
	item *it;

	if (check_key(key) < 0)
		return;
	pthread_mutex_lock(&q->mu);
	it = lookup(q, key);
	if (it) {
		it->failures = 0;
		release_if_idle(q, it);
	}
	pthread_mutex_unlock(&q->mu);
}

int ctrl_workqueue_num_requeues(ctrl_workqueue *q, const char *key)
{
	item *it;
	int n = 0;

	if (check_key(key) < 0)
		return 0;
	pthread_mutex_lock(&q->mu);
	it = lookup(q, key);
	if (it)
		n = it->failures;
	pthread_mutex_unlock(&q->mu);
	return n;
}

/* Hands out the FIFO's head; the copy is made first so that a failed
 * allocation leaves the key queued. */
static int take_locked(char **out, ctrl_workqueue *q)
{
	size_t len = strlen(q->head->key);
	char *key = malloc(len + 1);
	item *it;

	if (!key)
		return ss_error_set(SS_ENOMEM,
				    "workqueue: out of memory handing out '%s'",
				    q->head->key);
	it = fifo_pop(q);
	memcpy(key, it->key, len + 1);
	it->dirty = false;
	it->processing = true;
	it->processing_since = now_ns(q);
	q->processing++;
	*out = key;
	return 0;
}

static struct timespec real_deadline(int64_t wait_ns)
{
	return ss_mono_deadline(wait_ns > MAX_SLEEP_NS ? MAX_SLEEP_NS : wait_ns);
}

int ctrl_workqueue_get(char **out, ctrl_workqueue *q)
{
	int error;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		if (q->shut_down) {
			error = ss_error_set(SS_ECANCELLED, "workqueue: shut down");
			break;
		}
		promote_due(q);
		if (q->head) {
			error = take_locked(out, q);
			break;
		}
		if (q->heap_len > 0) {
			struct timespec ts =
				real_deadline(q->heap[0]->ready_at - now_ns(q));

			pthread_cond_timedwait(&q->ready, &q->mu, &ts);
		} else {
			pthread_cond_wait(&q->ready, &q->mu);
		}
	}
	pthread_mutex_unlock(&q->mu);
	return error;
}

int ctrl_workqueue_try_get(char **out, ctrl_workqueue *q)
{
	int error;

	pthread_mutex_lock(&q->mu);
	if (q->shut_down) {
		error = ss_error_set(SS_ECANCELLED, "workqueue: shut down");
		goto done;
	}
	promote_due(q);
	if (!q->head) {
		error = ss_error_set(SS_ENOTFOUND, "workqueue: no key is ready");
		goto done;
	}
	error = take_locked(out, q);
done:
	pthread_mutex_unlock(&q->mu);
	return error;
}

void ctrl_workqueue_done(ctrl_workqueue *q, const char *key)
{
	item *it;

	if (check_key(key) < 0)
		return;
	pthread_mutex_lock(&q->mu);
	it = lookup(q, key);
	/* done() for a key nobody holds is a caller bug; ignoring it keeps the
	 * counts right. */
	if (it && it->processing) {
		it->processing = false;
		q->processing--;
		if (it->dirty)
			fifo_push(q, it);
		if (q->processing == 0)
			pthread_cond_broadcast(&q->idle);
		release_if_idle(q, it);
	}
	pthread_mutex_unlock(&q->mu);
}

void ctrl_workqueue_wake(ctrl_workqueue *q)
{
	pthread_mutex_lock(&q->mu);
	pthread_cond_broadcast(&q->ready);
	pthread_cond_broadcast(&q->idle);
	pthread_mutex_unlock(&q->mu);
}

void ctrl_workqueue_shutdown(ctrl_workqueue *q)
{
	pthread_mutex_lock(&q->mu);
	q->shut_down = true;
	pthread_cond_broadcast(&q->ready);
	pthread_cond_broadcast(&q->idle);
	pthread_mutex_unlock(&q->mu);
}

bool ctrl_workqueue_is_shut_down(ctrl_workqueue *q)
{
	bool down;

	pthread_mutex_lock(&q->mu);
	down = q->shut_down;
	pthread_mutex_unlock(&q->mu);
	return down;
}

static int drain_timeout(const ctrl_workqueue *q)
{
	return ss_error_set(SS_ETIMEOUT,
			    "workqueue: %zu key(s) still being processed at the deadline",
			    q->processing);
}

int ctrl_workqueue_drain(ctrl_workqueue *q, int64_t deadline_ns)
{
	struct timespec ts;
	int64_t now;
	int error = 0;

	pthread_mutex_lock(&q->mu);
	now = now_ns(q);
	/* The real-time bound: see the header on fake clocks. */
	ts = real_deadline(deadline_ns > now ? deadline_ns - now : 0);
	while (q->processing > 0) {
		if (now_ns(q) >= deadline_ns) {
			error = drain_timeout(q);
			break;
		}
		if (pthread_cond_timedwait(&q->idle, &q->mu, &ts) == ETIMEDOUT &&
		    q->processing > 0) {
			error = drain_timeout(q);
			break;
		}
	}
	pthread_mutex_unlock(&q->mu);
	return error;
}

void ctrl_workqueue_get_stats(ctrl_workqueue_stats *out, ctrl_workqueue *q)
{
	int64_t now, oldest = INT64_MAX;
	size_t i;

	pthread_mutex_lock(&q->mu);
	now = now_ns(q);
	/* A scan of every key: stats are read at scrape time, not per item. */
	for (i = 0; q->processing > 0 && i < q->table_size; i++) {
		const item *it;

		for (it = q->table[i]; it; it = it->hnext)
			if (it->processing && it->processing_since < oldest)
				oldest = it->processing_since;
	}
	out->depth = q->depth;
	out->waiting = q->heap_len;
	out->processing = q->processing;
	out->adds_total = q->adds_total;
	out->retries_total = q->retries_total;
	out->oldest_processing_ns = oldest == INT64_MAX ? 0 : now - oldest;
	pthread_mutex_unlock(&q->mu);
}
