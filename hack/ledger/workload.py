#!/usr/bin/python3
"""Ledger workload: writes continuously to a MariaDB primary, logging the GTID
of every binlog event group it makes, until SIGTERM.

Purpose: the history a snapshot backup of a replica must reproduce exactly.
check.py recomputes the expected content of database `ledger` at any GTID
position from this program's GTID log (see ledgerlib.Model for the tables).

Usage:
  LEDGER_PASSWORD=... workload.py --host H [--port 3306] [--user root]
      --log gtid.jsonl [--stats stats.jsonl] [--rate STEPS_PER_S] [--reset]
      [--max-steps N] [--ddl-every K] [--rollback-every R] [--seed S]
  (the password may also come from MARIADB_ROOT_PASSWORD or --password-file;
  it is never logged or printed)
On SIGTERM/SIGINT it finishes the current step, appends a "summary" line to
the log, prints the summary JSON on stdout and exits 0 (1 after a database
error, 2 on bad usage or a server that does not fit the design).

Design, and why the expected state at a GTID position is well-defined
----------------------------------------------------------------------
Step n (all values from sha256(seed/n)) runs, on one connection:
    BEGIN
      INSERT entries(n), UPDATE balances(src), UPDATE balances(dst)     InnoDB
      INSERT journal_aria(n)                          Aria    -> GTID "aria"
      UPDATE counters_myisam(src)                     MyISAM  -> GTID "myisam"
      INSERT audit(n) from the new balances; DELETE entries(n-300) (1 in 5)
    COMMIT -> GTID "trx"   (every R-th step: ROLLBACK, no GTID)
and every K steps a DDL round, each statement its own GTID: CREATE TABLE
ddl_n (engine rotating InnoDB/Aria/MyISAM), INSERT into it, ALTER TABLE shape
ADD COLUMN cn (alternately ALGORITHM=INSTANT and COPY), UPDATE shape SET cn,
and DROP TABLE / DROP COLUMN of the round 3 rounds earlier.

With binlog_format=ROW (the sim's, and checked at start) a statement on a
non-transactional table is binlogged at the end of the statement as an event
group of its own with its own GTID, even inside BEGIN ... COMMIT: it precedes
the transaction's GTID in the binlog and is not undone by ROLLBACK. So the
unit of history is the event group, not the step: this program reads
@@last_gtid after every statement that makes a group and logs (gtid, op,
step). It is the only writer of `ledger`, on one connection, so the groups
of the workload's domain are totally ordered by seq_no, and the expected
state at position P is the fold of exactly the logged ops with seq_no <= P
(a step can be "half there" at P: its aria/myisam rows without its InnoDB
part, as on the primary itself at that point of its binlog).

What a replica under BACKUP STAGE BLOCK_COMMIT guarantees: its SQL thread
applies the groups in binlog order; an InnoDB group's changes, its
mysql.gtid_slave_pos row and (log_slave_updates) its own binlog copy commit
together, so InnoDB is exactly at gtid_slave_pos. A non-transactional group
is different: its Aria/MyISAM row change is done when its statement ends,
but the group's GTID bookkeeping (the gtid_slave_pos row, the binlog copy)
is a separate commit at the group's COMMIT event, which BLOCK_COMMIT blocks.
So a locked replica may hold the effect of ONE non-transactional group (the
next one after gtid_slave_pos) without its GTID; the SQL thread is serial,
so never more than one. check.py names that case "pending" and fails it
unless --allow-pending; stopping the SQL thread around the lock (cut.py
--stop-sql-thread) avoids it (measured: hack/ledger/README.md). Keeping
every non-transactional write a single-statement group is what keeps that
window a single, identifiable op.

Statistics: every statement that commits a group is timed (its latency);
the gap between consecutive commits is tracked; both are summarized per
second in --stats and overall in the summary (max/p99 latency, max gap), so
"the primary never stalls during a replica backup" can be asserted. Each
op line also carries its completion time "t" and "lat_ms".
"""

import argparse
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ledgerlib as L  # noqa: E402
import pymysql  # noqa: E402

STOP = False


def on_signal(_signum, _frame):
    global STOP
    STOP = True


def percentile(values, q):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class Stats:
    def __init__(self, path):
        self.f = open(path, "a") if path else None
        self.lat = []
        self.max_gap = 0.0
        self.max_gap_at = None
        self.last_commit = None
        self.sec = None
        self.sec_lat = []
        self.sec_gap = 0.0

    def commit(self, t_start, t_end):
        lat = (t_end - t_start) * 1000
        self.lat.append(lat)
        gap = 0.0
        if self.last_commit is not None:
            gap = (t_end - self.last_commit) * 1000
            if gap > self.max_gap:
                self.max_gap, self.max_gap_at = gap, t_end
        self.last_commit = t_end
        sec = int(t_end)
        if self.sec is not None and sec != self.sec:
            self.flush_second()
        self.sec = sec
        self.sec_lat.append(lat)
        self.sec_gap = max(self.sec_gap, gap)
        return lat

    def flush_second(self):
        if self.f and self.sec_lat:
            self.f.write(json.dumps({"t": self.sec, "commits": len(self.sec_lat),
                                     "max_ms": round(max(self.sec_lat), 2),
                                     "p99_ms": round(percentile(self.sec_lat, 0.99), 2),
                                     "max_gap_ms": round(self.sec_gap, 2)}) + "\n")
            self.f.flush()
        self.sec_lat, self.sec_gap = [], 0.0


class Workload:
    def __init__(self, args, params):
        self.args, self.p = args, params
        self.conn = None
        self.log = open(args.log, "a")
        self.stats = Stats(args.stats)
        self.domain = self.server_id = None
        self.last_seq = None
        self.steps = self.committed = self.rolled_back = self.ddl_rounds = self.groups = 0
        self.first_gtid = self.last_gtid = None

    def q(self, sql, args=None):
        cur = self.conn.cursor()
        cur.execute(sql, args)
        return cur.fetchall()

    def write(self, rec):
        self.log.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self.log.flush()

    def group(self, op, n, sql, args=None):
        """Run a statement that commits one event group; log its GTID."""
        t0 = time.time()
        self.q(sql, args)
        t1 = time.time()
        self.record(op, n, t0, t1)

    def record(self, op, n, t0, t1):
        gtid = self.q("SELECT @@last_gtid")[0][0]
        d, _, seq = L.parse_gtid(gtid)
        if d != self.domain or (self.last_seq is not None and seq <= self.last_seq):
            raise RuntimeError("op %s of step %d: @@last_gtid %s did not advance past seq %s in domain %d "
                               "(did the statement make no binlog event group?)" % (
                                   op, n, gtid, self.last_seq, self.domain))
        self.last_seq = seq
        lat = self.stats.commit(t0, t1)
        self.write({"gtid": gtid, "op": op, "step": n, "t": round(t1, 4), "lat_ms": round(lat, 2)})
        self.groups += 1
        self.first_gtid = self.first_gtid or gtid
        self.last_gtid = gtid

    def connect(self):
        a = self.args
        self.conn = pymysql.connect(host=a.host, port=a.port, user=a.user, password=a.password,
                                    connect_timeout=10, read_timeout=60, write_timeout=60, autocommit=True)
        fmt, log_bin, self.domain, self.server_id = self.q(
            "SELECT @@binlog_format, @@log_bin, @@gtid_domain_id, @@server_id")[0]
        if fmt != "ROW" or not log_bin:
            raise SystemExit(usage_error("the design needs log_bin=ON and binlog_format=ROW (got %s, %s)" % (
                log_bin, fmt)))
        self.q("SET SESSION lock_wait_timeout = 60")

    def setup(self):
        exists = self.q("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (L.DB,))[0][0]
        if exists:
            if not self.args.reset:
                raise SystemExit(usage_error("database `%s` exists on the primary (use --reset to drop it)" % L.DB))
            self.q("DROP DATABASE %s" % L.DB)
        for sql in L.setup_statements(self.p):
            self.q(sql)
        ready = self.q("SELECT @@last_gtid")[0][0]
        self.last_seq = L.parse_gtid(ready)[2]
        self.write({"header": dict(self.p, domain=self.domain, server_id=self.server_id, ready_gtid=ready,
                                   primary="%s:%d" % (self.args.host, self.args.port),
                                   started=round(time.time(), 3), format=1)})

    def step(self, n):
        p = self.p
        src, dst, amount, memo = L.step_params(p, n)
        self.q("BEGIN")
        self.q("INSERT INTO ledger.entries VALUES (%s, %s, %s, %s, %s)", (n, src, dst, amount, memo))
        self.q("UPDATE ledger.balances SET balance = balance - %s, version = version + 1, last_step = %s "
               "WHERE account = %s", (amount, n, src))
        self.q("UPDATE ledger.balances SET balance = balance + %s, version = version + 1, last_step = %s "
               "WHERE account = %s", (amount, n, dst))
        self.group("aria", n, "INSERT INTO ledger.journal_aria VALUES (%s, %s, %s, %s, %s)",
                   (n, src, dst, amount, memo))
        self.group("myisam", n, "UPDATE ledger.counters_myisam SET n = n + 1, last_step = %s, total = total + %s "
                   "WHERE account = %s", (n, amount, src))
        self.q("INSERT INTO ledger.audit SELECT %s, (SELECT balance FROM ledger.balances WHERE account = %s), "
               "(SELECT balance FROM ledger.balances WHERE account = %s)", (n, src, dst))
        old = L.purge_target(p, n)
        if old is not None:
            self.q("DELETE FROM ledger.entries WHERE seq = %s", (old,))
        if L.is_rollback_step(p, n):
            self.q("ROLLBACK")
            self.rolled_back += 1
        else:
            t0 = time.time()
            self.q("COMMIT")
            self.record("trx", n, t0, time.time())
            self.committed += 1
        ddl = [op for op in L.step_ops(p, n) if op not in ("aria", "myisam", "trx")]
        for op in ddl:
            self.group(op, n, L.ddl_sql(p, op, n))
        if ddl:
            self.ddl_rounds += 1
        self.steps += 1

    def summary(self, t0, error=None):
        self.stats.flush_second()
        lat = self.stats.lat
        dur = max(time.time() - t0, 1e-9)
        s = {"steps": self.steps, "committed_steps": self.committed, "rolled_back_steps": self.rolled_back,
             "ddl_rounds": self.ddl_rounds, "gtids": self.groups, "first_gtid": self.first_gtid,
             "last_gtid": self.last_gtid, "duration_s": round(dur, 2), "steps_per_s": round(self.steps / dur, 1),
             "max_commit_latency_ms": round(max(lat), 2) if lat else 0.0,
             "p99_commit_latency_ms": round(percentile(lat, 0.99), 2),
             "p50_commit_latency_ms": round(percentile(lat, 0.5), 2),
             "max_gap_ms": round(self.stats.max_gap, 2),
             "max_gap_at": round(self.stats.max_gap_at, 3) if self.stats.max_gap_at else None}
        if error:
            s["error"] = error
        return s

    def run(self):
        self.connect()
        self.setup()
        t0 = time.time()
        n = 0
        error = None
        try:
            while not STOP and (self.args.max_steps <= 0 or n < self.args.max_steps):
                n += 1
                self.step(n)
                if self.args.rate > 0:
                    ahead = t0 + n / self.args.rate - time.time()
                    if ahead > 0:
                        time.sleep(ahead)
        except (pymysql.err.MySQLError, RuntimeError, OSError) as e:
            error = "step %d: %s" % (n, e)
            self.write({"error": error, "t": round(time.time(), 4)})
        s = self.summary(t0, error)
        self.write({"summary": s})
        print(json.dumps(s), flush=True)
        return 1 if error else 0


def usage_error(msg):
    sys.stderr.write("workload.py: %s\n" % msg)
    return 2


def main():
    ap = argparse.ArgumentParser(description="Ledger workload for a MariaDB primary (see the module docstring).")
    ap.add_argument("--host", default=os.environ.get("LEDGER_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("LEDGER_PORT", "3306")))
    ap.add_argument("--user", default=os.environ.get("LEDGER_USER", "root"))
    ap.add_argument("--password-file", help="file holding the password (else $LEDGER_PASSWORD, "
                    "$MARIADB_ROOT_PASSWORD)")
    ap.add_argument("--log", required=True, help="the GTID log (JSON lines, appended)")
    ap.add_argument("--stats", help="per-second commit statistics (JSON lines)")
    ap.add_argument("--rate", type=float, default=0, help="steps per second (0: as fast as it goes)")
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--reset", action="store_true", help="drop database `ledger` first if it exists")
    ap.add_argument("--seed", default=L.DEFAULTS["seed"])
    ap.add_argument("--accounts", type=int, default=L.DEFAULTS["accounts"])
    ap.add_argument("--ddl-every", type=int, default=L.DEFAULTS["ddl_every"])
    ap.add_argument("--rollback-every", type=int, default=L.DEFAULTS["rollback_every"])
    args = ap.parse_args()
    if args.password_file:
        with open(args.password_file) as f:
            args.password = f.read().rstrip("\n")
    else:
        args.password = os.environ.get("LEDGER_PASSWORD", os.environ.get("MARIADB_ROOT_PASSWORD", ""))
    if args.accounts < 2 or args.ddl_every < 1 or args.rollback_every < 0:
        return usage_error("--accounts >= 2, --ddl-every >= 1, --rollback-every >= 0")
    if os.path.exists(args.log) and os.path.getsize(args.log) > 0:
        return usage_error("%s exists and is not empty: one log per run" % args.log)
    params = dict(L.DEFAULTS, seed=args.seed, accounts=args.accounts, ddl_every=args.ddl_every,
                  rollback_every=args.rollback_every)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return Workload(args, params).run()
    except pymysql.err.MySQLError as e:
        sys.stderr.write("workload.py: %s\n" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
