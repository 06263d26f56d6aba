#!/usr/bin/python3
"""Primary commit latency inside time windows (e.g. while a replica was
locked for a backup), from workload.py's GTID log.

Purpose: "the primary never stalls during a replica backup" as numbers.
Each op line of the log carries its commit completion time "t" (epoch s)
and the statement's latency "lat_ms". For each window [start, end]:
  commits    ops that completed inside it,
  max_lat_ms the largest latency of a commit that completed inside it or
             within 1 s after it (a commit stuck in the window ends later),
  max_gap_ms the largest time between consecutive commits where the pair
             overlaps the window (no commit for that long while it lasted).
Usage:
  latency.py --log gtid.jsonl (--cut cut.json ... | --window START,END ...)
             [--max-gap-ms N]
cut.json is cut.py's output: its "window" (from its first to its last
statement on the replica: SQL thread stop, lock, cut, unlock), else
lock.start/lock.end, else position_read_at to the latest creationTime. Prints one JSON
object: per-window figures and the worst over all. Exit 0, 1 if
--max-gap-ms is given and exceeded, 2 on usage errors.
Invariant: read-only.
"""

import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ledgerlib as L  # noqa: E402


def rfc3339_epoch(s):
    base, _, frac = s.rstrip("Z").partition(".")
    t = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()
    return t + (float("0." + frac) if frac else 0.0)


def window_of(cut):
    w = cut.get("window") or {}
    if "start" in w and "end" in w:
        return w["start"], w["end"]
    lock = cut.get("lock") or {}
    if "start" in lock and "end" in lock:
        return lock["start"], lock["end"]
    times = [rfc3339_epoch(s["creationTime"]) for s in cut.get("snapshots", []) if s.get("creationTime")]
    if "position_read_at" in cut and times:
        return min(cut["position_read_at"], min(times)), max(cut["position_read_at"], max(times))
    raise ValueError("cut has neither lock times nor position/creation times")


def stats(ops, start, end):
    commits = [o for o in ops if start <= o["t"] <= end]
    lats = [o["lat_ms"] for o in ops if start <= o["t"] <= end + 1.0]
    gap = 0.0
    for a, b in zip(ops, ops[1:]):
        if b["t"] >= start and a["t"] <= end:
            gap = max(gap, (b["t"] - a["t"]) * 1000)
    return {"start": start, "end": end, "window_ms": round((end - start) * 1000, 1), "commits": len(commits),
            "max_lat_ms": round(max(lats), 2) if lats else None, "max_gap_ms": round(gap, 2)}


def main():
    ap = argparse.ArgumentParser(description="Primary commit latency inside windows (see the docstring).")
    ap.add_argument("--log", required=True)
    ap.add_argument("--cut", action="append", default=[])
    ap.add_argument("--window", action="append", default=[])
    ap.add_argument("--max-gap-ms", type=float)
    args = ap.parse_args()
    try:
        _, ops, _ = L.read_log(args.log)
        windows = []
        for c in args.cut:
            with open(c) as f:
                windows.append((os.path.basename(c),) + window_of(json.load(f)))
        for w in args.window:
            a, b = w.split(",")
            windows.append((w, float(a), float(b)))
    except (OSError, ValueError, L.LogError) as e:
        sys.stderr.write("latency.py: %s\n" % e)
        return 2
    if not windows:
        sys.stderr.write("latency.py: no --cut or --window\n")
        return 2
    recs = sorted((o[3] for o in ops), key=lambda r: r["t"])
    out = {"windows": []}
    for name, a, b in windows:
        s = stats(recs, a, b)
        s["name"] = name
        out["windows"].append(s)
    out["max_gap_ms"] = max(w["max_gap_ms"] for w in out["windows"])
    out["max_lat_ms"] = max((w["max_lat_ms"] or 0) for w in out["windows"])
    out["min_commits"] = min(w["commits"] for w in out["windows"])
    print(json.dumps(out))
    if args.max_gap_ms is not None and out["max_gap_ms"] > args.max_gap_ms:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
