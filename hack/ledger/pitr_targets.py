#!/usr/bin/python3
"""Point-in-time restore targets over a ledger history, and what each one
must resolve to (e2e.test_pitr, issue 19).

Purpose: picks seeded random targets in the history workload.py logged
(half GTIDs, some `inclusive: false`; half whole-second times spread over
the history) and, for each, the base Backup the controller must pick; then
judges a finished Restore's choices: status.sourceBackup is that base, a
GTID target resolved to exactly the GTID (or the one before it), a time
target to a prefix of the binlog that the log's wall times allow.

Why wall times and not the binlog's timestamps: the log holds, per event
group, the client's clock just before the statement that committed it was
sent (t - lat_ms) and just after it returned (t). The server stamps a
group with the start of that statement (its GTID event; the controller
takes the later of that and the group's last event, also that statement's),
on the same machine's clock, so the stamp's second s satisfies
floor(t0) <= s <= floor(t1). For target second T the resolved position P
(the last group whose stamp is <= T, a prefix) must then satisfy: group P
has floor(t0) <= T, and group P+1 has floor(t1) > T. A group whose window
straddles T may fall either side and both pass; the windows are a few ms
wide. This judges the controller's binlog reader with evidence it never
sees (reading the binlog again with mariadb-binlog would check one binlog
reader against another, not against when the commits happened).

Usage:
  pitr_targets.py pick --log gtid.jsonl --backups backups.json --seed S [--count N]
      -> lines "NAME gtid GTID INCLUSIVE BASE" / "NAME time RFC3339 - BASE"
  pitr_targets.py judge --log gtid.jsonl --backups backups.json --kind gtid|time
      --value V --inclusive true|false --target-position P --source-backup NAME
      -> exit 0 (one line saying why it holds) or 1 (what is wrong)
backups.json is `kubectl get backups -o json` of the schedule (Complete
ones are candidates, as the controller's pick). Invariants: reads only;
stdlib only; the same seed and inputs pick the same targets.
"""

import argparse
import calendar
import datetime
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ledgerlib as L  # noqa: E402


def rfc3339_ns(s):
    """RFC 3339 (optional fraction) -> ns since the epoch."""
    base, frac = s.rstrip("Z"), ""
    if "." in base:
        base, frac = base.split(".", 1)
    secs = calendar.timegm(datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").timetuple())
    return secs * 10**9 + int((frac + "000000000")[:9])


def candidates(path):
    """-> [(name, data_time_ns, {domain: seq})] of the Complete Backups."""
    out = []
    with open(path) as f:
        items = json.load(f)["items"]
    for b in items:
        st = b.get("status", {})
        if not any(c.get("type") == "Complete" and c.get("status") == "True"
                   for c in st.get("conditions", [])):
            continue
        pos = st.get("position", {})
        g = pos.get("gtidCurrentPos") or (pos.get("gtidBinlogPos") if st.get("sourceRole") == "Primary"
                                          else pos.get("gtidSlavePos"))
        t = st.get("lock", {}).get("acquiredTime") or st.get("startTime") or b["metadata"]["creationTimestamp"]
        out.append((b["metadata"]["name"], rfc3339_ns(t), L.parse_pos(g) if g else {}))
    return out


def newest(cands):
    """The controller's order: the newest data time, ties by the greater name."""
    return max(cands, key=lambda c: (c[1], c[0]))[0] if cands else None


def base_for_gtid(cands, domain, seq):
    """Position not past the bound in the target's domain (single-domain history)."""
    return newest([c for c in cands if c[2].get(domain, (0, 0))[1] <= seq])


def base_for_time(cands, t_ns):
    return newest([c for c in cands if c[1] <= t_ns])


def seq_of(pos, domain):
    return L.pos_seq(pos, domain)


def pick(args):
    header, ops, _ = L.read_log(args.log)
    cands = candidates(args.backups)
    domain = header["domain"]
    rng = random.Random(args.seed)
    ready = L.parse_gtid(header["ready_gtid"])[2]
    n_gtid = args.count // 2
    # GTIDs: groups after the set-up; every third one inclusive: false.
    for i, (seq, _op, _step, rec) in enumerate(sorted(rng.sample([o for o in ops if o[0] > ready], n_gtid))):
        incl = i % 3 != 1
        base = base_for_gtid(cands, domain, seq if incl else seq - 1)
        print("pitr-g%02d gtid %s %s %s" % (i, rec["gtid"], "true" if incl else "false", base))
    # Times: whole seconds strictly inside the history (a second after the
    # last group would be TargetNotReached), one per stratum so they spread.
    first = int(ops[0][3]["t"]) + 1
    last = int(ops[-1][3]["t"]) - 1
    n_time = args.count - n_gtid
    span = max(last - first + 1, 1)
    for i in range(n_time):
        lo = first + span * i // n_time
        hi = max(first + span * (i + 1) // n_time - 1, lo)
        t = rng.randint(lo, hi)
        text = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        print("pitr-t%02d time %s - %s" % (i, text, base_for_time(cands, t * 10**9)))
    return 0


def judge(args):
    header, ops, _ = L.read_log(args.log)
    cands = candidates(args.backups)
    domain = header["domain"]
    by_seq = {o[0]: o for o in ops}
    P = seq_of(args.target_position, domain)
    problems = []
    if args.kind == "gtid":
        d, _sid, seq = L.parse_gtid(args.value)
        want = seq if args.inclusive == "true" else seq - 1
        if set(L.parse_pos(args.target_position)) != {d} or P != want:
            problems.append("targetPosition %s, want seq %d of domain %d" % (args.target_position, want, d))
        base = base_for_gtid(cands, domain, want)
        why = "GTID %s inclusive %s -> seq %d" % (args.value, args.inclusive, want)
    else:
        T = rfc3339_ns(args.value) // 10**9
        base = base_for_time(cands, T * 10**9)
        at, nxt = by_seq.get(P), by_seq.get(P + 1)
        if at is not None:
            t0 = int(at[3]["t"] - at[3]["lat_ms"] / 1000.0)
            if t0 > T:
                problems.append("resolved seq %d was committed by a statement sent at second %d, after the "
                                "target second %d" % (P, t0, T))
        if nxt is None and P < ops[-1][0]:
            problems.append("seq %d after the resolved one is not the workload's: another writer?" % (P + 1))
        elif nxt is not None and int(nxt[3]["t"]) <= T:
            problems.append("seq %d (after the resolved %d) had committed by second %d, not after the target "
                            "second %d: it should be in" % (P + 1, P, int(nxt[3]["t"]), T))
        why = "time second %d -> seq %d (group's send second %s, next group's return second %s)" % (
            T, P, int(at[3]["t"] - at[3]["lat_ms"] / 1000.0) if at else "-", int(nxt[3]["t"]) if nxt else "-")
    if base != args.source_backup:
        problems.append("sourceBackup %s, want %s (the newest Complete Backup at or before the target)" % (
            args.source_backup, base))
    if problems:
        print("; ".join(problems))
        return 1
    print("%s; base %s" % (why, base))
    return 0


def main():
    ap = argparse.ArgumentParser(description="PITR targets over a ledger history (see the docstring).")
    ap.add_argument("cmd", choices=("pick", "judge"))
    ap.add_argument("--log", required=True)
    ap.add_argument("--backups", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--kind", choices=("gtid", "time"))
    ap.add_argument("--value")
    ap.add_argument("--inclusive", default="true")
    ap.add_argument("--target-position")
    ap.add_argument("--source-backup")
    args = ap.parse_args()
    return pick(args) if args.cmd == "pick" else judge(args)


if __name__ == "__main__":
    sys.exit(main())
