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
#ifndef SNAPSTAGE_APP_API_GTID_H
#define SNAPSTAGE_APP_API_GTID_H

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

/* Whether `base` is at or before `target` in every domain target names
 * (base seq <= target seq; a domain base lacks counts as seq 0). Domains
 * only base has are not looked at: a user's GTID target names the domain of
 * the event it means, and the replay takes the others to the source's end
 * (restore_replay_plan.h), so they do not decide which base comes first. */
bool app_gtid_pos_within(const app_gtid_pos *base, const app_gtid_pos *target);

/* What START SLAVE UNTIL master_gtid_pos = '<target>' does with a target,
 * read in MariaDB 10.11's sql/sql_repl.cc (the source's binlog dump thread
 * decides, event by event) and measured on mariadbd 10.11.19 (Debian 12),
 * domain 0 of the source logged 0-1-3..0-1-5, 0-2-6..0-2-8 (a server id
 * change, as a failover makes), 0-1-9, a gap, 0-1-20..0-1-22:
 *   - Entry D-S-N is met by the first event of domain D logged by server S
 *     with seq >= N: at seq == N that event is applied and D stops after
 *     it; at seq > N it is NOT applied and D stops before it. Events of D
 *     by other servers are never compared, only applied:
 *       UNTIL 0-2-7: applied through 0-2-7 (inclusive).
 *       UNTIL 0-1-8 (what this function makes for g = 0-1-9, while 8 was
 *       logged as 0-2-8): applied through 0-2-8, stopped before 0-1-9:
 *       exactly "just before g", whoever logged g's predecessor.
 *       UNTIL 0-1-15 (in the gap): applied through 0-1-9, 0-1-20 not.
 *       UNTIL 0-1-7 (7 was logged as 0-2-7): applied 0-2-7 AND 0-2-8,
 *       stopped before 0-1-9: one transaction too far.
 *       UNTIL 0-5-7 (server 5 never logged in domain 0): never stops;
 *       replayed everything (to 0-1-22) and kept running.
 *     So a target is right only when its server ids are those in the
 *     source's binlog: g must have been read from the source's binlog (the
 *     exact triple), never taken from a user on trust — a wrong server id
 *     replays past g (the very DROP a restore is undoing).
 *   - UNTIL D-S-0 stops before D's first event by S: nothing of D applied,
 *     and the replica's @@gtid_slave_pos then has no D at all (hence
 *     app_gtid_pos_reached counts a missing domain as seq 0).
 *   - A domain of the source the target does not list is skipped whole,
 *     silently (its events are never sent; gtid_slave_pos lacks it): a
 *     target must list every domain of the source's @@gtid_binlog_pos, as
 *     `upto` does.
 *   - The replica stops (Slave_IO_Running and Slave_SQL_Running "No",
 *     Last_Errno 0) once every listed domain has met its entry; an entry
 *     met before the start (same server, seq <= in an older binlog file's
 *     Gtid_list, or earlier in the first file read) counts as met, so an
 *     UNTIL equal to the start position stops at once, applying nothing.
 *     An entry never met (e.g. 3-9-2 where server 9 never logged in domain
 *     3) leaves both threads running at the target with the other domains'
 *     later events skipped: no overshoot, but no stop either.
 *   - After the stop, @@gtid_slave_pos holds the GTIDs actually applied
 *     (0-2-8 for UNTIL 0-1-8), sorted by domain: compare with
 *     app_gtid_pos_reached (seq only), not app_gtid_pos_equal.
 * MariaDB prints @@gtid_binlog_pos, @@gtid_slave_pos and
 * @@gtid_current_pos sorted by domain (as unsigned numbers: ...,10-1-1,
 * 100-1-1,65536-1-1,4000000000-1-1), ',' between entries, no spaces;
 * SHOW SLAVE STATUS's Gtid_IO_Pos is NOT sorted ("5-1-2,0-2-7,3-7-2").
 * @@gtid_current_pos leaves out a domain whose last GTID was logged with
 * another server id than the server's own (it falls back to the empty
 * gtid_slave_pos): read a source's position from @@gtid_binlog_pos.
 *
 * The target that stops just before GTID `g` (inclusive: false): `upto`
 * (the position the replay would otherwise reach, e.g. the source's
 * @@gtid_binlog_pos) with g's domain set to g's seq - 1 and g's server.
 * SS_EINVALID when g->seq is 0, or g's domain is in `upto` at a lower seq
 * or not at all (that GTID is not in the history), with a message. *out
 * is written only on success. Right only when g is the exact triple from
 * the source's binlog (see above); this function cannot check that. */
int app_gtid_pos_before(app_gtid_pos *out, const app_gtid_pos *upto, const app_gtid *g);

#endif
