#!/usr/bin/python3
"""Builds a deterministic inconsistent image from a snapshot, to prove that
check.py rejects one (independently of any race).

Purpose: copies a snapshot (data + binlog volumes) into OUT/data and
OUT/binlog, starts a private mariadbd on the copy (as check.py does), runs
the given statements with sql_log_bin=0 (so the replication position stays
exactly what it was: only the data changes), and shuts the server down
cleanly. check.py on OUT with the snapshot's recorded position must then
report inconsistent and name the changed rows.

Usage:
  tamper.py (--data DIR [--binlog DIR] | --content NAME... [--snapshots-dir D])
            --out DIR --sql "DELETE FROM ledger.entries ORDER BY seq DESC LIMIT 1" [--sql ...]
Prints one JSON line (what was run, rows affected, the server's positions
before and after, which must be equal). Exit 0 done, 1 a statement failed or
changed nothing or moved the position, 2 usage/infrastructure error.

Invariants: never modifies its inputs; OUT must not exist (it is created);
the server is always stopped, its socket and logs are removed (OUT keeps
only data/ and binlog/).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ledgerlib as L  # noqa: E402
import pymysql  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="Make an inconsistent copy of a snapshot (see the docstring).")
    ap.add_argument("--data")
    ap.add_argument("--binlog")
    ap.add_argument("--content", action="append")
    ap.add_argument("--snapshots-dir")
    ap.add_argument("--out", required=True)
    ap.add_argument("--sql", action="append", required=True)
    args = ap.parse_args()
    out = {"out": args.out, "statements": []}
    server = None
    rc = 0
    try:
        data_src, bin_src = L.locate_snapshot(args.data, args.binlog, args.content, args.snapshots_dir)
        if os.path.exists(args.out):
            raise L.UsageError("%s exists" % args.out)
        os.makedirs(args.out)
        data, bindir = os.path.join(args.out, "data"), os.path.join(args.out, "binlog")
        L.copy_tree(data_src, data)
        if bin_src:
            L.copy_tree(bin_src, bindir)
        else:
            os.mkdir(bindir)
        L.rewrite_log_indexes(data, bindir)
        server = L.PrivateServer(args.out, data, bindir)
        server.start()
        conn = server.connect()
        cur = conn.cursor()
        q = "SELECT @@gtid_slave_pos, @@gtid_binlog_pos"
        cur.execute(q)
        out["position_before"] = cur.fetchone()
        cur.execute("SET SESSION sql_log_bin = 0")
        for stmt in args.sql:
            n = cur.execute(stmt)
            out["statements"].append({"sql": stmt, "rows": n})
            if n == 0:
                rc = 1
        cur.execute(q)
        out["position_after"] = cur.fetchone()
        if out["position_after"] != out["position_before"]:
            rc = 1
        conn.close()
    except L.UsageError as e:
        out["error"], rc = str(e), 2
    except L.StartError as e:
        out["error"], rc = "%s: %s" % (e, e.log_tail[-500:]), 2
    except pymysql.err.MySQLError as e:
        out["error"], rc = str(e), 1
    except OSError as e:
        out["error"], rc = str(e), 2
    finally:
        if server is not None:
            server.stop()
            for f in ("sock", "error.log", "console.log", "mariadbd.pid"):
                try:
                    os.unlink(os.path.join(args.out, f))
                except OSError:
                    pass
    print(json.dumps(out, default=str), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
