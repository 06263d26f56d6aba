/*
 * gtid.h — MariaDB GTID positions as data: a position is a list of
 * domain-server-sequence triples, at most one per replication domain
 * ("0-1-4711,1-2-9"), as @@gtid_binlog_pos, @@gtid_slave_pos and a
 * Backup's recorded position print it. Parsing, formatting (canonical:
 * sorted by domain), and the comparisons point-in-time restore decides
 * with: whether a base position is at or before a target in every domain,
 * whether a position has reached a target, and the position just before a
 * given GTID (the "undo this DROP" target, `inclusive: false`).
 *
 * Invariants: pure; a position never holds two entries of one domain
 * (parsing refuses it); numbers are checked against their MariaDB ranges
 * (domain and server id 0..2^32-1, sequence 0..2^64-1); the text form
 * round-trips.
 *
 * Ownership: plain structs, caller-owned. Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_APP_DB_GTID_H
#define SNAPSTAGE_APP_DB_GTID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* More domains than any sane topology; a longer list is refused. */
#define APP_GTID_MAX_DOMAINS 64
/* The canonical text of a full position fits in this. */
#define APP_GTID_TEXT_MAX (APP_GTID_MAX_DOMAINS * 62)

typedef struct {
	uint32_t domain;
	uint32_t server;
	uint64_t seq;
} app_gtid;

typedef struct {
	app_gtid g[APP_GTID_MAX_DOMAINS]; /* sorted by domain after parsing */
	size_t n;
} app_gtid_pos;

/* Parses one GTID "D-S-N" (no spaces; decimal, no sign, no leading zero:
 * MariaDB takes those but never prints them). 0 or SS_EINVALID with a
 * message quoting at most 48 bytes of the text, non-printable bytes as '?'. */
int app_gtid_parse(app_gtid *out, const char *text);

/* Parses a position: GTIDs separated by ',' with optional white space
 * (space, tab, CR, LF) around them; NULL or "" (or only white space) is the empty
 * position. SS_EINVALID for a bad GTID, a domain given twice, or more than
 * APP_GTID_MAX_DOMAINS entries. *out is written only on success. */
int app_gtid_pos_parse(app_gtid_pos *out, const char *text);

/* The canonical text ("0-1-5,1-2-9", sorted by domain, "" when empty) into
 * out (cap bytes). SS_ETOOLARGE (out "") when it does not fit. */
int app_gtid_pos_format(char *out, size_t cap, const app_gtid_pos *p);

/* The entry of `domain`, or NULL. */
const app_gtid *app_gtid_pos_find(const app_gtid_pos *p, uint32_t domain);

/* Sets (replaces or adds) the entry of g->domain. SS_ETOOLARGE when full. */
int app_gtid_pos_set(app_gtid_pos *p, const app_gtid *g);

/* Equal: the same triples (order never matters once parsed). */
bool app_gtid_pos_equal(const app_gtid_pos *a, const app_gtid_pos *b);

/* Whether `pos` has reached `target` in every domain of `target`: for each
 * entry of target, pos's seq in that domain is >= target's seq, a domain
 * pos lacks counting as seq 0 (a target entry "D-S-0", as
 * app_gtid_pos_before makes for a domain's first GTID, is reached by a
 * replica that never applied anything in D: its gtid_slave_pos has no D).
 * Server ids are not compared: within a domain the seq orders the history
 * across failovers. (A domain only `pos` has is not looked at.) The empty
 * target is always reached. */
bool app_gtid_pos_reached(const app_gtid_pos *pos, const app_gtid_pos *target);

/* Whether `base` is usable as the start of a replay to `target`: in no
 * domain does base go past target (base seq <= target seq for each domain
 * both have), and base has no domain with a positive seq that target lacks
 * (such a base holds events the target never had). false with *why (static
 * phrase, may be NULL) otherwise. */
bool app_gtid_pos_not_after(const app_gtid_pos *base, const app_gtid_pos *target,
			    const char **why);

/* The target that stops just before GTID `g` (inclusive: false): `upto`
 * (the position the replay would otherwise reach, e.g. the source's
 * @@gtid_binlog_pos) with g's domain set to g's seq - 1 and g's server.
 * SS_EINVALID when g->seq is 0, or g's domain is in `upto` at a lower seq
 * or not at all (that GTID is not in the history), with a message. *out
 * is written only on success. */
int app_gtid_pos_before(app_gtid_pos *out, const app_gtid_pos *upto, const app_gtid *g);

#endif
