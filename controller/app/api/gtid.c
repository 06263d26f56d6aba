/*
 * gtid.c — MariaDB GTID positions as data (see gtid.h for the contract and
 * what MariaDB does with them).
 *
 * Parsing walks the text once, byte by byte, without copying it, and
 * writes *out only once the whole text is good; numbers are decimal with
 * no sign and no leading zero (MariaDB never prints either) and are
 * checked against their ranges before they can overflow. A message quotes
 * at most QUOTE_MAX bytes of the entry at fault, every byte that is not
 * printable ASCII shown as '?', so it is short, valid UTF-8 and safe in a
 * status condition.
 *
 * Positions are kept sorted by domain (parse and set insert in order), so
 * the canonical text is the entries in array order; format still sorts a
 * copy, so a position built by hand formats canonically too. Lookups are
 * linear: 64 entries at most.
 *
 * Pure functions, no I/O, no allocation. Thread-safety: reentrant; errors
 * go to the calling thread's ss_error.
 */
#include "app/api/gtid.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

#define QUOTE_MAX 48

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The white space a position may have around its entries. */
static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *skip_space(const char *p)
{
	while (is_space(*p))
		p++;
	return p;
}

/* Records "<what> (\"<quote of s>\"): <why>" as SS_EINVALID; the quote
 * ends at a ',' or the end of s. */
static int bad(const char *what, const char *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(const char *what, const char *s, const char *fmt, ...)
{
	char quote[QUOTE_MAX + 4], why[160];
	size_t i;
	va_list ap;

	for (i = 0; i < QUOTE_MAX && s[i] != '\0' && s[i] != ','; i++)
		quote[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (i == QUOTE_MAX && s[i] != '\0' && s[i] != ',') {
		memcpy(quote + i, "...", 3);
		i += 3;
	}
	quote[i] = '\0';
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return ss_error_set(SS_EINVALID, "%s (\"%s\"): %s", what, quote, why);
}

/* One "D-S-N" at *p; on success *p is the byte after it. `what` names it
 * in a message ("GTID", "GTID position entry 3"). */
static int parse_at(app_gtid *out, const char **p, const char *what)
{
	static const char *const part[] = { "domain", "server id", "sequence number" };
	static const uint64_t max[] = { UINT32_MAX, UINT32_MAX, UINT64_MAX };
	const char *start = *p, *s = *p;
	uint64_t v[3];
	size_t i;

	for (i = 0; i < 3; i++) {
		if (i > 0 && *s++ != '-')
			return bad(what, start,
				   "must be domain-server-sequence, three "
				   "decimal numbers joined by '-'");
		if (!is_digit(*s))
			return bad(what, start, "the %s is not a decimal number",
				   part[i]);
		if (s[0] == '0' && is_digit(s[1]))
			return bad(what, start, "the %s has a leading zero", part[i]);
		for (v[i] = 0; is_digit(*s); s++) {
			uint64_t d = (uint64_t)(*s - '0');

			if (v[i] > (max[i] - d) / 10)
				return bad(what, start, "the %s is above %" PRIu64,
					   part[i], max[i]);
			v[i] = v[i] * 10 + d;
		}
	}
	out->domain = (uint32_t)v[0];
	out->server = (uint32_t)v[1];
	out->seq = v[2];
	*p = s;
	return 0;
}

int app_gtid_parse(app_gtid *out, const char *text)
{
	app_gtid g;
	const char *p = text;
	int rc;

	if (text == NULL)
		return ss_error_set(SS_EINVALID, "no GTID");
	rc = parse_at(&g, &p, "GTID");
	if (rc < 0)
		return rc;
	if (*p != '\0')
		return bad("GTID", text,
			   "must be domain-server-sequence alone, with "
			   "nothing before or after it");
	*out = g;
	return 0;
}

/* Index where `domain` is or would go in the sorted p. */
static size_t slot(const app_gtid_pos *p, uint32_t domain)
{
	size_t i = 0;

	while (i < p->n && p->g[i].domain < domain)
		i++;
	return i;
}

/* Inserts g at index i of p (which has room), keeping the order. */
static void insert_at(app_gtid_pos *p, size_t i, const app_gtid *g)
{
	memmove(&p->g[i + 1], &p->g[i], (p->n - i) * sizeof(p->g[0]));
	p->g[i] = *g;
	p->n++;
}

/* Adds the parsed entry number n (1-based) to the sorted pos. */
static int add_entry(app_gtid_pos *pos, const app_gtid *g, size_t n, const char *start)
{
	char what[48];
	size_t i = slot(pos, g->domain);

	snprintf(what, sizeof(what), "GTID position entry %zu", n);
	if (i < pos->n && pos->g[i].domain == g->domain)
		return bad(what, start,
			   "domain %" PRIu32 " is given twice; a position holds one "
			   "GTID per domain",
			   g->domain);
	if (pos->n == APP_GTID_MAX_DOMAINS)
		return bad(what, start, "more than %d domains", APP_GTID_MAX_DOMAINS);
	insert_at(pos, i, g);
	return 0;
}

int app_gtid_pos_parse(app_gtid_pos *out, const char *text)
{
	app_gtid_pos pos = { .n = 0 };
	const char *p = text == NULL ? "" : skip_space(text);
	size_t n = 0;
	int rc;

	while (*p != '\0') {
		char what[48];
		const char *start = p;
		app_gtid g;

		snprintf(what, sizeof(what), "GTID position entry %zu", ++n);
		rc = parse_at(&g, &p, what);
		if (rc < 0)
			return rc;
		rc = add_entry(&pos, &g, n, start);
		if (rc < 0)
			return rc;
		p = skip_space(p);
		if (*p == '\0')
			break;
		if (*p != ',')
			return bad(what, start, "entries must be separated by ','");
		p = skip_space(p + 1);
		if (*p == '\0')
			return ss_error_set(SS_EINVALID, "the GTID position ends with a "
							 "comma");
	}
	*out = pos;
	return 0;
}

int app_gtid_pos_format(char *out, size_t cap, const app_gtid_pos *p)
{
	app_gtid_pos sorted = { .n = 0 };
	size_t len = 0, i;

	if (cap == 0)
		return ss_error_set(SS_ETOOLARGE, "no room for a GTID position");
	out[0] = '\0';
	if (p->n > APP_GTID_MAX_DOMAINS)
		return ss_error_set(SS_EINVALID, "a GTID position of %zu entries", p->n);
	for (i = 0; i < p->n; i++)
		insert_at(&sorted, slot(&sorted, p->g[i].domain), &p->g[i]);
	for (i = 0; i < sorted.n; i++) {
		const app_gtid *g = &sorted.g[i];
		int w = snprintf(out + len, cap - len,
				 "%s%" PRIu32 "-%" PRIu32 "-%" PRIu64, i > 0 ? "," : "",
				 g->domain, g->server, g->seq);

		if (w < 0 || (size_t)w >= cap - len) {
			out[0] = '\0';
			return ss_error_set(SS_ETOOLARGE,
					    "the GTID position does not fit in %zu bytes",
					    cap);
		}
		len += (size_t)w;
	}
	return 0;
}

/* Index of `domain` in p (sorted or not), or p->n. */
static size_t index_of(const app_gtid_pos *p, uint32_t domain)
{
	size_t i = 0;

	while (i < p->n && p->g[i].domain != domain)
		i++;
	return i;
}

const app_gtid *app_gtid_pos_find(const app_gtid_pos *p, uint32_t domain)
{
	size_t i = index_of(p, domain);

	return i < p->n ? &p->g[i] : NULL;
}

int app_gtid_pos_set(app_gtid_pos *p, const app_gtid *g)
{
	size_t i = index_of(p, g->domain);

	if (i < p->n) {
		p->g[i] = *g;
		return 0;
	}
	if (p->n >= APP_GTID_MAX_DOMAINS)
		return ss_error_set(SS_ETOOLARGE,
				    "a GTID position holds at most %d domains",
				    APP_GTID_MAX_DOMAINS);
	insert_at(p, slot(p, g->domain), g);
	return 0;
}

bool app_gtid_pos_equal(const app_gtid_pos *a, const app_gtid_pos *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++) {
		const app_gtid *o = app_gtid_pos_find(b, a->g[i].domain);

		if (o == NULL || o->server != a->g[i].server || o->seq != a->g[i].seq)
			return false;
	}
	return true;
}

/* The seq of `domain` in p; a domain p lacks has had no event: 0. */
static uint64_t seq_of(const app_gtid_pos *p, uint32_t domain)
{
	const app_gtid *g = app_gtid_pos_find(p, domain);

	return g == NULL ? 0 : g->seq;
}

bool app_gtid_pos_reached(const app_gtid_pos *pos, const app_gtid_pos *target)
{
	size_t i;

	for (i = 0; i < target->n; i++)
		if (seq_of(pos, target->g[i].domain) < target->g[i].seq)
			return false;
	return true;
}

bool app_gtid_pos_within(const app_gtid_pos *base, const app_gtid_pos *target)
{
	size_t i;

	for (i = 0; i < target->n; i++)
		if (seq_of(base, target->g[i].domain) > target->g[i].seq)
			return false;
	return true;
}

bool app_gtid_pos_not_after(const app_gtid_pos *base, const app_gtid_pos *target,
			    const char **why)
{
	size_t i;

	for (i = 0; i < base->n; i++) {
		const app_gtid *b = &base->g[i];
		const app_gtid *t = app_gtid_pos_find(target, b->domain);

		if (t == NULL && b->seq > 0) {
			if (why != NULL)
				*why = "the base has events in a replication domain the "
				       "target position does not have";
			return false;
		}
		if (t != NULL && b->seq > t->seq) {
			if (why != NULL)
				*why = "the base is past the target position in a "
				       "replication domain";
			return false;
		}
	}
	return true;
}

int app_gtid_pos_before(app_gtid_pos *out, const app_gtid_pos *upto, const app_gtid *g)
{
	const app_gtid *u = app_gtid_pos_find(upto, g->domain);
	app_gtid prev = *g;
	app_gtid_pos pos = *upto;
	int rc;

	if (g->seq == 0)
		return ss_error_set(SS_EINVALID,
				    "GTID %" PRIu32 "-%" PRIu32 "-0 names no event: "
				    "sequence numbers start at 1",
				    g->domain, g->server);
	if (u == NULL || u->seq < g->seq)
		return ss_error_set(SS_EINVALID,
				    "GTID %" PRIu32 "-%" PRIu32 "-%" PRIu64
				    " is not in the source's history (its position in "
				    "domain %" PRIu32 " is %" PRIu64 ")",
				    g->domain, g->server, g->seq, g->domain,
				    u == NULL ? 0 : u->seq);
	prev.seq = g->seq - 1;
	rc = app_gtid_pos_set(&pos, &prev);
	if (rc < 0)
		return rc;
	*out = pos;
	return 0;
}
