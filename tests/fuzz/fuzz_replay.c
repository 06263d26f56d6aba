/*
 * fuzz_replay.c — libFuzzer target for the pure functions of
 * app/db/replay.h that read what a scratch MariaDB server returns during a
 * point-in-time replay: app_replay_classify() (one SHOW SLAVE STATUS row
 * against a target position) and app_replay_state_has_server() (a
 * @@gtid_binlog_state text).
 *
 * An input is text, one field a line ("\N" is SQL NULL; a missing line is
 * NULL too):
 *   line 0      the target position (one that does not parse: the empty
 *               position)
 *   lines 1-12  the row, in app_replay_row's order: Slave_IO_Running,
 *               Slave_SQL_Running, Last_IO_Errno, Last_IO_Error,
 *               Last_SQL_Errno, Last_SQL_Error, Relay_Log_Space,
 *               Seconds_Behind_Master, Slave_DDL_Groups,
 *               Slave_Non_Transactional_Groups, Slave_Transactional_Groups,
 *               @@gtid_slave_pos
 *   line 13     a server id (decimal, taken modulo 2^32)
 *   the rest    a @@gtid_binlog_state text (new lines and all)
 *
 * Beyond "no crash" (ASan, UBSan; every field is an exact allocation) it
 * checks replay.h's contract:
 *   - classify returns 0 or SS_EINVALID, and leaves *out untouched on
 *     SS_EINVALID; on 0, state and cause are within their enums, why is
 *     NUL-terminated within its array, reached is the parsed
 *     gtid_slave_pos, io_connected is Slave_IO_Running = Yes,
 *     seconds_behind is -1 exactly when the column is NULL;
 *   - REACHED exactly when the SQL thread is not running, Last_SQL_Errno
 *     is 0 and app_gtid_pos_reached(gtid_slave_pos, target) (an IO error
 *     does not matter then); a SQL error is FAILED with SQL_ERROR; FAILED
 *     always has a cause other than NONE and a why; a stopped SQL thread
 *     is never RUNNING; REACHED and a RUNNING with no IO error have cause
 *     NONE;
 *   - the why never holds the server's text, except an IO error 1236's
 *     (the source's, it names positions, not the account): the same row
 *     with a marker (an account, as 2003's and 1045's texts quote it) for
 *     Last_IO_Error and Last_SQL_Error gives the same state, cause and why,
 *     and the why never holds the marker;
 *   - the why can be written into a status (JSON: UTF-8 only) whatever
 *     bytes the server sent;
 *   - has_server agrees with an independent parse of the state: entries
 *     separated by ',', white space around them, each D-S-N in decimal
 *     with no leading zero and within MariaDB's ranges; a broken entry is
 *     skipped. Checked for line 13's id and for every id the model finds.
 *
 * Thread-safety: none needed; libFuzzer calls in one thread.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "app/api/gtid.h"
#include "app/db/replay.h"
#include "util/error.h"

#define CHECK(cond)                                                               \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "fuzz_replay: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                       \
			abort();                                                  \
		}                                                                 \
	} while (0)

#define ROW_FIELDS 12
#define MARKER "error connecting to master 'zz-marker@10.9.8.7:3306'"
#define IDS_MAX 64

/* A field: an exact allocation of its text and the NUL, or NULL. */
static char *field(const char *s, size_t len)
{
	char *p;

	if (len == 2 && s[0] == '\\' && s[1] == 'N')
		return NULL;
	p = malloc(len + 1);
	CHECK(p != NULL);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static bool yes(const char *v)
{
	return v && strcasecmp(v, "Yes") == 0;
}

/* A number field of a row classify accepted: NULL or "" is 0. */
static long long value(const char *v)
{
	return v && *v ? strtoll(v, NULL, 10) : 0;
}

static bool utf8_ok(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

/* ---- classify ------------------------------------------------------------- */

static void check_progress(const app_replay_progress *p, const app_replay_row *r,
			   const app_gtid_pos *target)
{
	app_gtid_pos slave;
	bool sql_on = yes(r->sql_running);
	bool sql_error = value(r->last_sql_errno) != 0;
	bool io_error = value(r->last_io_errno) != 0;

	CHECK(p->state == APP_REPLAY_RUNNING || p->state == APP_REPLAY_REACHED ||
	      p->state == APP_REPLAY_FAILED);
	CHECK(p->cause >= APP_REPLAY_CAUSE_NONE && p->cause <= APP_REPLAY_CAUSE_STOPPED);
	CHECK(memchr(p->why, '\0', sizeof(p->why)) != NULL);
	CHECK(utf8_ok(p->why));
	CHECK(app_gtid_pos_parse(&slave, r->gtid_slave_pos) == 0);
	CHECK(app_gtid_pos_equal(&p->reached, &slave));
	CHECK(p->io_connected == yes(r->io_running));
	CHECK((p->seconds_behind == -1) == (r->seconds_behind_master == NULL));
	CHECK(p->seconds_behind >= -1);

	CHECK((p->state == APP_REPLAY_REACHED) ==
	      (!sql_on && !sql_error && app_gtid_pos_reached(&slave, target)));
	if (sql_error)
		CHECK(p->state == APP_REPLAY_FAILED &&
		      p->cause == APP_REPLAY_CAUSE_SQL_ERROR);
	if (p->state == APP_REPLAY_FAILED)
		CHECK(p->cause != APP_REPLAY_CAUSE_NONE && p->why[0] != '\0');
	if (!sql_on)
		CHECK(p->state != APP_REPLAY_RUNNING);
	if (p->state == APP_REPLAY_REACHED ||
	    (p->state == APP_REPLAY_RUNNING && !io_error))
		CHECK(p->cause == APP_REPLAY_CAUSE_NONE && p->why[0] == '\0');
	if (p->cause == APP_REPLAY_CAUSE_SOURCE_LOST ||
	    p->cause == APP_REPLAY_CAUSE_REFUSED ||
	    p->cause == APP_REPLAY_CAUSE_BINLOGS_PURGED ||
	    p->cause == APP_REPLAY_CAUSE_DIVERGED)
		CHECK(io_error);
}

/* The same row with the marker for both error texts: nothing but a 1236's
 * why may change, and the marker is never shown. */
static void check_texts_hidden(const app_replay_progress *p, const app_replay_row *r,
			       const app_gtid_pos *target)
{
	app_replay_row m = *r;
	app_replay_progress q;
	bool shown = value(r->last_io_errno) == 1236;

	m.last_io_error = MARKER;
	m.last_sql_error = MARKER;
	CHECK(app_replay_classify(&q, &m, target) == 0);
	CHECK(q.state == p->state);
	if (!shown) {
		CHECK(q.cause == p->cause);
		CHECK(strcmp(q.why, p->why) == 0);
		CHECK(strstr(q.why, "zz-marker") == NULL);
	} else if (p->cause != APP_REPLAY_CAUSE_BINLOGS_PURGED &&
		   p->cause != APP_REPLAY_CAUSE_DIVERGED) {
		CHECK(strstr(q.why, "zz-marker") == NULL);
	}
}

static void check_classify(char **f, const app_gtid_pos *target)
{
	app_replay_row r = { f[0], f[1], f[2], f[3], f[4],  f[5],
			     f[6], f[7], f[8], f[9], f[10], f[11] };
	app_replay_progress p, sentinel;
	int rc;

	memset(&p, 0xa5, sizeof(p));
	memset(&sentinel, 0xa5, sizeof(sentinel));
	rc = app_replay_classify(&p, &r, target);
	CHECK(rc == 0 || rc == SS_EINVALID);
	if (rc != 0) {
		CHECK(memcmp(&p, &sentinel, sizeof(p)) == 0);
		return;
	}
	check_progress(&p, &r, target);
	check_texts_hidden(&p, &r, target);
}

/* ---- has_server ------------------------------------------------------------ */

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A decimal number s[0..n) with no leading zero, at most max. */
static bool number(uint64_t *out, const char *s, size_t n, uint64_t max)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || (n > 1 && s[0] == '0'))
		return false;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* The server of entry s[0..n) ("D-S-N"), or false when it is broken. */
static bool entry_server(uint32_t *server, const char *s, size_t n)
{
	const char *a = memchr(s, '-', n), *b;
	uint64_t d, sv, seq;

	if (!a || !(b = memchr(a + 1, '-', n - (size_t)(a + 1 - s))))
		return false;
	if (!number(&d, s, (size_t)(a - s), UINT32_MAX) ||
	    !number(&sv, a + 1, (size_t)(b - a - 1), UINT32_MAX) ||
	    !number(&seq, b + 1, n - (size_t)(b + 1 - s), UINT64_MAX))
		return false;
	*server = (uint32_t)sv;
	return true;
}

/* The servers of the state's entries (at most IDS_MAX) and whether `id`
 * is among all of them. */
static bool model_has(const char *state, uint32_t id, uint32_t *ids, size_t *n_ids)
{
	bool found = false;

	*n_ids = 0;
	while (*state) {
		size_t n = strcspn(state, ","), i = 0, j = n;
		uint32_t sv;

		while (i < j && space(state[i]))
			i++;
		while (j > i && space(state[j - 1]))
			j--;
		if (entry_server(&sv, state + i, j - i)) {
			found = found || sv == id;
			if (*n_ids < IDS_MAX)
				ids[(*n_ids)++] = sv;
		}
		state += n + (state[n] == ',');
	}
	return found;
}

static void check_has_server(const char *state, uint32_t id)
{
	uint32_t ids[IDS_MAX];
	size_t n, i;

	CHECK(app_replay_state_has_server(state, id) ==
	      model_has(state ? state : "", id, ids, &n));
	for (i = 0; i < n; i++)
		CHECK(app_replay_state_has_server(state, ids[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *f[ROW_FIELDS + 2] = { 0 }, *state;
	const char *s = (const char *)data, *end = s + size;
	app_gtid_pos target = { .n = 0 };
	uint32_t id = 0;
	size_t i;

	/* line 0: the target; 1-12: the row; 13: the server id */
	for (i = 0; i < ROW_FIELDS + 2 && s < end; i++) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);

		f[i] = field(s, len);
		s += len + (nl != NULL);
	}
	state = field(s, (size_t)(end - s));
	if (f[0] && app_gtid_pos_parse(&target, f[0]) != 0)
		target.n = 0;
	for (i = 0; f[ROW_FIELDS + 1] && f[ROW_FIELDS + 1][i]; i++)
		id = id * 10 + (uint32_t)(unsigned char)f[ROW_FIELDS + 1][i] - '0';

	check_classify(f + 1, &target);
	check_has_server(state, id);
	check_has_server(NULL, id); /* NULL: no entry */

	for (i = 0; i < ROW_FIELDS + 2; i++)
		free(f[i]);
	free(state);
	ss_error_clear();
	return 0;
}
