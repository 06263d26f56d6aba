/*
 * fuzz_binlog.c — libFuzzer target for app/db/binlog.h's pure parts: the
 * fold of an event stream into per-domain positions at a target second,
 * and the coverage check. binlog.c parses no event bytes itself
 * (Connector/C's mariadb_rpl does), so the input is a synthetic stream:
 *
 *   byte 0        the target second (0..255)
 *   bytes 1..8    the start position: 4 x (domain % 4, seq)
 *   then events of 4 bytes: kind (which event type; mostly GTID, XID,
 *   queries, rows, metadata, artificial or not), time (0..255), domain
 *   (% 6, so APP_GTID_MAX_DOMAINS is not reached; a high bit sets
 *   FL_STANDALONE), seq/query choice.
 *
 * Beyond "no crash" (ASan, UBSan; queries are not NUL-terminated) it
 * checks binlog.h's contracts:
 *   - the fold returns 0 or SS_ERROR (a stray event), never anything else;
 *   - every entry of the result is the start's, or the GTID of a group that
 *     was fed and closed; no taken group is newer than the target
 *     (last_time <= target); groups taken <= GTID events fed;
 *   - once done, more events change nothing;
 *   - the prefix rule: with a later target the fold takes at least as many
 *     groups, and with the same start a target before every group keeps
 *     the start;
 *   - coverage: the oldest position always covers itself; covers(e, base)
 *     holds exactly when no domain of oldest with seq > 0 is ahead of base
 *     (a model); `why` is terminated within any cap.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <mariadb_rpl.h>

#include "app/db/binlog.h"
#include "util/error.h"

#define EVENTS_MAX 512

static const char *const queries[] = { "COMMIT", "rollback", "ROLLBACK TO s",
				       " COMMIT ;", "INSERT INTO t VALUES (1)", "" };

static void decode_event(app_binlog_event *e, const uint8_t *b, const char **q_store)
{
	static const int kinds[] = { GTID_EVENT,     GTID_EVENT,	   XID_EVENT,
				     QUERY_EVENT,    TABLE_MAP_EVENT,	   WRITE_ROWS_EVENT_V1,
				     GTID_LIST_EVENT, FORMAT_DESCRIPTION_EVENT, ROTATE_EVENT,
				     XA_PREPARE_LOG_EVENT, INTVAR_EVENT, BINLOG_CHECKPOINT_EVENT };
	size_t qi = b[3] % (sizeof(queries) / sizeof(queries[0]));

	memset(e, 0, sizeof(*e));
	e->type = kinds[(b[0] & 0x7f) % (sizeof(kinds) / sizeof(kinds[0]))];
	e->flags = (b[0] & 0x80) ? LOG_EVENT_ARTIFICIAL_F : 0;
	e->timestamp = b[1];
	e->server_id = 1 + (b[3] & 3);
	e->gtid_domain = (b[2] & 0x7f) % 6;
	e->gtid_seq = b[3];
	e->gtid_flags = (b[2] & 0x80) ? FL_STANDALONE : FL_TRANSACTIONAL;
	if (e->type == QUERY_EVENT) {
		/* A copy of exactly the query's length: not terminated. */
		size_t n = strlen(queries[qi]);
		char *q = malloc(n ? n : 1);

		if (!q)
			abort();
		memcpy(q, queries[qi], n);
		e->query = q;
		e->query_len = n;
		*q_store = q;
	}
}

static void decode_pos(app_gtid_pos *p, const uint8_t *b)
{
	int i;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < 4; i++) {
		app_gtid g = { .domain = b[2 * i] % 4, .server = 1, .seq = b[2 * i + 1] };

		(void)app_gtid_pos_set(p, &g);
	}
}

/* Whether g is the start's entry or the GTID of a closed group fed. */
static bool from_history(const app_gtid *g, const app_gtid_pos *start,
			 const app_gtid *closed, size_t n_closed)
{
	const app_gtid *s = app_gtid_pos_find(start, g->domain);
	size_t i;

	if (s && s->server == g->server && s->seq == g->seq)
		return true;
	for (i = 0; i < n_closed; i++)
		if (closed[i].domain == g->domain && closed[i].server == g->server &&
		    closed[i].seq == g->seq)
			return true;
	return false;
}

typedef struct {
	int rc;
	bool done;
	uint64_t groups;
} fold_result;

static fold_result fold(const app_binlog_event *ev, size_t n, const app_gtid_pos *start,
			int64_t target, app_gtid *closed, size_t *n_closed)
{
	app_binlog_fold f, before;
	fold_result r = { 0, false, 0 };
	uint64_t gtids = 0;
	size_t i, j;

	app_binlog_fold_init(&f, start, target);
	*n_closed = 0;
	for (i = 0; i < n && r.rc == 0; i++) {
		bool was_open = f.in_group;
		app_gtid cur = f.cur;

		before = f;
		gtids += ev[i].type == GTID_EVENT;
		r.rc = app_binlog_fold_event(&f, &ev[i]);
		if (r.rc != 0 && r.rc != SS_ERROR)
			abort();
		if (before.done && memcmp(&before, &f, sizeof(f)) != 0)
			abort(); /* done: nothing changes */
		if (was_open && !f.in_group && r.rc == 0)
			closed[(*n_closed)++] = cur;
	}
	if (f.groups > gtids || (f.groups > 0 && f.last_time > target))
		abort();
	for (j = 0; j < f.pos.n; j++)
		if (!from_history(&f.pos.g[j], start, closed, *n_closed))
			abort();
	r.done = f.done;
	r.groups = f.groups;
	return r;
}

static void check_covers(const app_gtid_pos *oldest, const app_gtid_pos *base, size_t cap)
{
	app_binlog_extent e;
	char why[APP_DB_MESSAGE_MAX + 1];
	bool want = true;
	size_t i;

	memset(&e, 0, sizeof(e));
	e.oldest = *oldest;
	snprintf(e.oldest_file, sizeof(e.oldest_file), "mysql-bin.000001");
	if (!app_binlog_covers(&e, oldest, NULL, 0))
		abort();
	for (i = 0; i < oldest->n; i++) {
		const app_gtid *b = app_gtid_pos_find(base, oldest->g[i].domain);

		if (oldest->g[i].seq > 0 && (!b || b->seq < oldest->g[i].seq))
			want = false;
	}
	memset(why, 'x', sizeof(why));
	if (app_binlog_covers(&e, base, why, cap) != want)
		abort();
	if (cap > 0 && !memchr(why, '\0', cap))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static app_binlog_event ev[EVENTS_MAX];
	static const char *q[EVENTS_MAX];
	static app_gtid closed[EVENTS_MAX], closed2[EVENTS_MAX];
	app_gtid_pos start;
	size_t n = 0, n_closed, n_closed2, i;
	fold_result a, b, low;
	int64_t target;

	if (size < 9)
		return 0;
	target = data[0];
	decode_pos(&start, data + 1);
	for (i = 9; i + 4 <= size && n < EVENTS_MAX; i += 4, n++) {
		q[n] = NULL;
		decode_event(&ev[n], data + i, &q[n]);
	}
	a = fold(ev, n, &start, target, closed, &n_closed);
	b = fold(ev, n, &start, target + 1 + data[1] % 16, closed2, &n_closed2);
	if (a.rc == 0 && b.rc == 0 && b.groups < a.groups)
		abort();
	low = fold(ev, n, &start, -1, closed2, &n_closed2);
	if (low.groups != 0)
		abort();
	if (size >= 17) {
		app_gtid_pos base;

		decode_pos(&base, data + 9);
		check_covers(&start, &base, data[2] % 80);
	}
	for (i = 0; i < n; i++)
		free((void *)q[i]);
	return 0;
}
