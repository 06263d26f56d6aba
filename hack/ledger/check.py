#!/usr/bin/python3
"""Ledger checker: is a snapshot backup of a MariaDB replica consistent?

Purpose: restores a copy of the snapshot (data volume and binlog volume)
into a fresh private mariadbd and proves that it (1) starts, (2) passes
CHECK TABLE on every table of every database, (3) reports the recorded
replication position, and (4) holds in database `ledger` exactly the
primary's history up to that position, row by row and table by table
(engines and columns included), recomputed from workload.py's GTID log.

Usage:
  check.py --log gtid.jsonl  SNAPSHOT  POSITION  [--allow-pending] [--json-out F]
  SNAPSHOT:  --data DIR [--binlog DIR]           directories (copied, never modified)
          |  --content NAME [--content NAME]     VolumeSnapshotContent names, looked up in
             [--snapshots-dir DIR]               DIR (default $SNAPSTAGE_CLUSTER_DIR/sim/snapshots);
                                                 which is data and which binlog is detected
  POSITION:  --position-json JSON|@FILE          a Backup's status.position ({"gtidSlavePos":
                                                 ..., "gtidBinlogPos": ..., "gtidCurrentPos": ...};
                                                 snake_case keys and cut.py's whole output work too)
          |  --gtid-slave-pos P --gtid-binlog-pos P --gtid-current-pos P  (any of them)
Output: human-readable lines, then ONE JSON line (the verdict) as the last
line on stdout. Exit 0 consistent, 1 inconsistent (the first differences
are listed), 2 usage or infrastructure error (bad arguments, unreadable log,
a position the log does not cover, a copy that failed).

What is compared (see workload.py for why it is well-defined):
  * P = the recorded position's seq_no in the workload's GTID domain, from
    the first of gtidSlavePos, gtidCurrentPos, gtidBinlogPos that names
    that domain (a replica: gtidSlavePos; a primary: gtidCurrentPos). Each recorded
    position given must equal the restored server's (parsed, per domain).
  * expected = the ledger after its set-up plus every logged op with
    seq_no <= P; compared with every table of `ledger` in the restored
    server: set of tables, ENGINE, column names in order, every row.
  * "pending": a replica under BLOCK_COMMIT may have applied the one
    non-transactional group right after P (Aria/MyISAM row change or DDL
    done, its gtid_slave_pos/binlog bookkeeping blocked by the lock). If the
    data equals expected(P) plus exactly that op (logged with seq_no P+1),
    "pending" names it. That is inconsistent (a replica started from this
    position would apply the op twice: duplicate key, replication stops)
    unless --allow-pending, which accepts exactly that one documented
    MariaDB window and nothing else.
  * CHECK TABLE: any "error" row, or a final status other than OK, fails.
    Warnings and the error log's table-recovery messages are reported.
Invariants: never changes its inputs; always stops its mariadbd and removes
its temporary copy (also on SIGTERM/SIGINT), unless --keep.
"""

import argparse
import json
import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ledgerlib as L  # noqa: E402
import pymysql  # noqa: E402

POS_KEYS = {"gtidSlavePos": "gtid_slave_pos", "gtidBinlogPos": "gtid_binlog_pos",
            "gtidCurrentPos": "gtid_current_pos"}


Usage = L.UsageError


class Interrupted(BaseException):
    pass


def on_signal(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def load_position(args):
    pos = {}
    if args.position_json:
        raw = args.position_json
        if raw.startswith("@"):
            with open(raw[1:]) as f:
                raw = f.read()
        try:
            obj = json.loads(raw)
        except ValueError as e:
            raise Usage("--position-json: %s" % e)
        if isinstance(obj, dict) and isinstance(obj.get("position"), dict):
            obj = obj["position"]
        if not isinstance(obj, dict):
            raise Usage("--position-json: not an object")
        for camel, snake in POS_KEYS.items():
            v = obj.get(camel, obj.get(snake))
            if v is not None:
                pos[snake] = str(v)
    for snake in POS_KEYS.values():
        v = getattr(args, snake)
        if v is not None:
            pos[snake] = v
    if not pos:
        raise Usage("no recorded position: give --position-json or --gtid-*-pos")
    for k, v in pos.items():
        try:
            L.parse_pos(v)
        except ValueError as e:
            raise Usage("%s: %s" % (k, e))
    return pos


def check_tables(conn):
    cur = conn.cursor()
    cur.execute("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' "
                "AND TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema') ORDER BY 1, 2")
    tables = cur.fetchall()
    failures, warnings = [], []
    for db, t in tables:
        name = "`%s`.`%s`" % (db.replace("`", "``"), t.replace("`", "``"))
        cur.execute("CHECK TABLE %s" % name)
        rows = cur.fetchall()
        status = [r for r in rows if r[2] == "status"]
        final = status[-1][3] if status else ""
        errs = [r[3] for r in rows if r[2] == "error"]
        warns = [r[3] for r in rows if r[2] == "warning"]
        ok_final = final in ("OK", "Table is already up to date") or "doesn't support check" in final
        if errs or not ok_final:
            failures.append({"table": "%s.%s" % (db, t), "status": final, "errors": errs, "warnings": warns})
        elif warns:
            warnings.append({"table": "%s.%s" % (db, t), "warnings": warns})
    return len(tables), failures, warnings


def read_ledger(conn):
    """-> {table: {"engine", "columns", "rows": {pk: tuple}}} for database ledger."""
    cur = conn.cursor()
    cur.execute("SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                "AND TABLE_TYPE = 'BASE TABLE'", (L.DB,))
    out = {}
    for name, engine in cur.fetchall():
        cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                    "ORDER BY ORDINAL_POSITION", (L.DB, name))
        cols = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT %s FROM `%s`.`%s` ORDER BY 1" % (
            ", ".join("`%s`" % c for c in cols), L.DB, name))
        rows = {}
        dup = False
        for r in cur.fetchall():
            if r[0] in rows:
                dup = True
            rows[r[0]] = tuple(r)
        out[name] = {"engine": engine, "columns": cols, "rows": rows, "duplicate_keys": dup}
    return out


def diff_state(expected, actual, limit):
    """-> (count, [first `limit` differences as strings], {table: count})."""
    diffs, per_table = [], {}

    def add(table, msg):
        per_table[table] = per_table.get(table, 0) + 1
        if len(diffs) < limit:
            diffs.append("%s.%s: %s" % (L.DB, table, msg))

    for t in sorted(set(expected) | set(actual)):
        e, a = expected.get(t), actual.get(t)
        if a is None:
            add(t, "table missing (expected ENGINE=%s, %d rows)" % (e["engine"], len(e["rows"])))
            continue
        if e is None:
            add(t, "unexpected table (ENGINE=%s, %d rows)" % (a["engine"], len(a["rows"])))
            continue
        if a["engine"] != e["engine"]:
            add(t, "ENGINE=%s, expected %s" % (a["engine"], e["engine"]))
        if a["columns"] != e["columns"]:
            add(t, "columns %s, expected %s" % (a["columns"], e["columns"]))
            continue
        if a.get("duplicate_keys"):
            add(t, "duplicate values in the first (primary key) column")
        er, ar = e["rows"], a["rows"]
        for k in sorted(set(er) | set(ar)):
            if k not in ar:
                add(t, "missing row %s=%s, expected %s" % (e["columns"][0], k, er[k]))
            elif k not in er:
                add(t, "unexpected row %s" % (ar[k],))
            elif ar[k] != er[k]:
                add(t, "row %s=%s is %s, expected %s" % (e["columns"][0], k, ar[k], er[k]))
    return sum(per_table.values()), diffs, per_table


def error_log_notes(path):
    """Error-log lines worth a look: errors and MyISAM/Aria table checks or
    repairs (InnoDB's and Aria's routine crash recovery of a snapshot, which
    is a crash image, is not listed)."""
    notes = []
    keys = ("[error]", "crashed", "repair", "checking table", "recovering table", "marked as")
    try:
        with open(path, errors="replace") as f:
            for line in f:
                low = line.lower()
                if any(k in low for k in keys):
                    notes.append(line.strip()[:300])
    except OSError:
        pass
    return notes[:20]


def run(args, verdict):
    t_all = time.monotonic()
    header, ops, summary = L.read_log(args.log)
    domain = header["domain"]
    pos = load_position(args)
    verdict["recorded_position"] = pos
    # The first recorded position that names the workload's domain (a
    # primary's gtid_slave_pos is empty; its gtid_current_pos is not).
    keys = [k for k in ("gtid_slave_pos", "gtid_current_pos", "gtid_binlog_pos") if k in pos]
    data_key = next((k for k in keys if domain in L.parse_pos(pos[k])), keys[0])
    P = L.pos_seq(pos[data_key], domain)
    ready = L.parse_gtid(header["ready_gtid"])[2]
    last = ops[-1][0] if ops else ready
    deadline = time.monotonic() + 5
    while P > last and summary is None and time.monotonic() < deadline:  # a running workload logs right after commit
        time.sleep(0.2)
        header, ops, summary = L.read_log(args.log)
        last = ops[-1][0] if ops else ready
    verdict.update(data_position_from=data_key, data_seq=P, domain=domain, log_ready_seq=ready, log_last_seq=last)
    if P < ready:
        raise Usage("position %s (seq %d in domain %d) precedes the workload's set-up (ready at %s)" % (
            pos[data_key], P, domain, header["ready_gtid"]))
    if P > last:
        raise Usage("the GTID log ends at seq %d, before the position's seq %d (is the workload still "
                    "flushing, or did another writer commit after it?)" % (last, P))
    data_src, bin_src = L.locate_snapshot(args.data, args.binlog, args.content, args.snapshots_dir)
    verdict["snapshot"] = {"data": data_src, "binlog": bin_src}

    model = L.Model(header)
    applied = [o for o in ops if o[0] <= P]
    for seq, op, step, _ in applied:
        model.apply(op, step)
    nxt = next((o for o in ops if o[0] > P), None)
    verdict["ops_applied"] = len(applied)
    verdict["last_step_applied"] = applied[-1][2] if applied else 0

    work = tempfile.mkdtemp(prefix="ledger-check-", dir=args.tmpdir)
    verdict["workdir"] = work
    server = None
    try:
        t0 = time.monotonic()
        data = os.path.join(work, "data")
        bindir = os.path.join(work, "binlog")
        try:
            L.copy_tree(data_src, data)
            if bin_src:
                L.copy_tree(bin_src, bindir)
            else:
                os.mkdir(bindir)
        except OSError as e:
            raise Usage(str(e))
        rewrites = L.rewrite_log_indexes(data, bindir)
        verdict["timings_s"] = {"copy": round(time.monotonic() - t0, 2)}
        verdict["index_rewrites"] = len(rewrites)
        server = L.PrivateServer(work, data, bindir, server_id=args.server_id)
        try:
            server.start()
        except L.StartError as e:
            verdict["verdict"] = "inconsistent"
            verdict["reasons"] = ["the restored server did not start: %s" % e]
            verdict["error_log_tail"] = e.log_tail.splitlines()[-15:]
            return 1
        verdict["timings_s"]["start"] = round(server.start_s, 2)
        conn = server.connect()
        reasons = []
        cur = conn.cursor()
        cur.execute("SELECT @@gtid_slave_pos, @@gtid_binlog_pos, @@gtid_current_pos")
        sp, bp, cp = cur.fetchone()
        restored = {"gtid_slave_pos": sp, "gtid_binlog_pos": bp, "gtid_current_pos": cp}
        verdict["restored_position"] = restored
        for k, v in pos.items():
            if L.parse_pos(v) != L.parse_pos(restored[k]):
                reasons.append("restored @@%s is '%s', recorded '%s'" % (k, restored[k], v))
        t1 = time.monotonic()
        n_tables, failures, warnings = check_tables(conn)
        verdict["timings_s"]["check_table"] = round(time.monotonic() - t1, 2)
        verdict["tables_checked"] = n_tables
        verdict["check_table_failures"] = failures
        verdict["check_table_warnings"] = warnings
        for f in failures:
            reasons.append("CHECK TABLE %s: %s %s" % (f["table"], f["status"], "; ".join(f["errors"])))
        t2 = time.monotonic()
        actual = read_ledger(conn)
        conn.close()
        n, diffs, per_table = diff_state(model.tables, actual, args.max_diffs)
        verdict["pending"] = None
        if n and nxt is not None and nxt[0] == P + 1 and not L.op_is_transactional(header, nxt[1], nxt[2]):
            m2 = model.copy()
            m2.apply(nxt[1], nxt[2])
            if diff_state(m2.tables, actual, 1)[0] == 0:
                verdict["pending"] = {"gtid": nxt[3]["gtid"], "op": nxt[1], "step": nxt[2],
                                      "differences_without_it": diffs}
                n, diffs, per_table = 0, [], {}
        verdict["timings_s"]["compare"] = round(time.monotonic() - t2, 2)
        verdict["differences_total"] = n
        verdict["differences_per_table"] = per_table
        verdict["differences"] = diffs
        verdict["rows_compared"] = sum(len(t["rows"]) for t in model.tables.values())
        verdict["tables_compared"] = len(model.tables)
        verdict["max_seen"] = {t: max(actual[t]["rows"]) if actual.get(t, {}).get("rows") else None
                               for t in ("entries", "audit", "journal_aria")}
        if n:
            reasons.append("%d differences from the history up to seq %d" % (n, P))
        if verdict["pending"] and not args.allow_pending:
            reasons.append("the data holds non-transactional group %s (op %s of step %d) that is not in the "
                           "recorded position (--allow-pending accepts this)" % (
                               verdict["pending"]["gtid"], verdict["pending"]["op"], verdict["pending"]["step"]))
        verdict["error_log_notes"] = error_log_notes(server.errlog)
        verdict["reasons"] = reasons
        verdict["verdict"] = "inconsistent" if reasons else "consistent"
        return 1 if reasons else 0
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            verdict["kept"] = work
        else:
            L.rmtree(work)
        verdict.setdefault("timings_s", {})["total"] = round(time.monotonic() - t_all, 2)


def human(v):
    out = []
    verdict = v.get("verdict", "error")
    out.append("ledger check: %s" % verdict.upper())
    if "recorded_position" in v:
        out.append("  recorded position: %s" % ", ".join("%s=%s" % kv for kv in sorted(v["recorded_position"].items())))
    if "restored_position" in v:
        out.append("  restored position: %s" % ", ".join("%s=%s" % kv for kv in sorted(v["restored_position"].items())))
    if "data_seq" in v:
        out.append("  history: %d ops up to seq %d (%s), last step %s" % (
            v.get("ops_applied", 0), v["data_seq"], v.get("data_position_from"), v.get("last_step_applied")))
    if "tables_checked" in v:
        out.append("  CHECK TABLE: %d tables, %d failures, %d with warnings" % (
            v["tables_checked"], len(v["check_table_failures"]), len(v["check_table_warnings"])))
    if "rows_compared" in v:
        out.append("  compared %d expected rows in %d tables: %d differences" % (
            v["rows_compared"], v["tables_compared"], v["differences_total"]))
    if v.get("pending"):
        out.append("  pending: non-transactional group %s (op %s of step %d) is applied but not in the "
                   "position: a replica started from this position would apply it twice" % (
                       v["pending"]["gtid"], v["pending"]["op"], v["pending"]["step"]))
    for r in v.get("reasons", []):
        out.append("  reason: %s" % r)
    for d in v.get("differences", []):
        out.append("  diff: %s" % d)
    for line in v.get("error_log_tail", []):
        out.append("  error.log: %s" % line)
    if v.get("error"):
        out.append("  error: %s" % v["error"])
    if "timings_s" in v:
        out.append("  timings (s): %s" % ", ".join("%s %s" % kv for kv in v["timings_s"].items()))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description="Check a snapshot backup against the ledger's GTID log "
                                 "(see the module docstring).")
    ap.add_argument("--log", required=True, help="workload.py's GTID log")
    ap.add_argument("--data", help="copy of the data volume")
    ap.add_argument("--binlog", help="copy of the binlog volume (if separate)")
    ap.add_argument("--content", action="append", help="VolumeSnapshotContent name (repeat for each volume)")
    ap.add_argument("--snapshots-dir", help="where contents live (default $SNAPSTAGE_CLUSTER_DIR/sim/snapshots)")
    ap.add_argument("--position-json", help="JSON (or @file): a Backup's status.position or cut.py's output")
    ap.add_argument("--gtid-slave-pos", dest="gtid_slave_pos")
    ap.add_argument("--gtid-binlog-pos", dest="gtid_binlog_pos")
    ap.add_argument("--gtid-current-pos", dest="gtid_current_pos")
    ap.add_argument("--allow-pending", action="store_true",
                    help="accept the data holding the one non-transactional group right after the position")
    ap.add_argument("--max-diffs", type=int, default=10)
    ap.add_argument("--server-id", type=int, default=4242,
                    help="the restored server's server_id (not the origin's, so gtid_current_pos is the origin's view)")
    ap.add_argument("--json-out", help="also write the verdict JSON to this file")
    ap.add_argument("--tmpdir", default=None, help="where the temporary copy goes (default $TMPDIR or /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copy (debugging)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    verdict = {"verdict": "error"}
    try:
        rc = run(args, verdict)
    except Usage as e:
        verdict.update(verdict="error", error=str(e))
        rc = 2
    except L.LogError as e:
        verdict.update(verdict="error", error="GTID log: %s" % e)
        rc = 2
    except (pymysql.err.MySQLError, OSError) as e:
        verdict.update(verdict="error", error="%s: %s" % (type(e).__name__, e))
        rc = 2
    except Interrupted as e:
        verdict.update(verdict="error", error="interrupted by %s" % e)
        rc = 2
    verdict["exit"] = rc
    print(human(verdict), flush=True)
    line = json.dumps(verdict, default=str)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(line + "\n")
    print(line, flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
