#!/usr/bin/env bash
# The consistency tooling of hack/ledger/, proven on the mini-cluster before
# the Backup controller uses it: a ledger workload (InnoDB + Aria + MyISAM +
# DDL, every binlog event group's GTID logged) writes to the primary of
# hack/sim/mariadb.yaml while replica mariadb-1 is snapshotted, and
# hack/ledger/check.py restores each snapshot into a private mariadbd.
#   - locked cuts (STOP SLAVE SQL_THREAD + BACKUP STAGE ... BLOCK_COMMIT,
#     snapshots of both claims cut, END) are consistent: the server starts,
#     CHECK TABLE passes everywhere, the restored position equals the
#     recorded one and every ledger row equals the primary's history up to
#     it (exit 0 of check.py, strict);
#   - cuts with BACKUP STAGE only (the lock snapstage takes today) are
#     consistent up to the one non-transactional group check.py calls
#     "pending" (checked with --allow-pending; how often it happened is
#     printed);
#   - the checker can fail: unlocked / early-released cuts are taken until
#     one is flagged (must happen within LEDGER_UNLOCKED_ATTEMPTS), and
#     deterministic bad images are rejected (a consistent snapshot with one
#     InnoDB row deleted, one with one MyISAM value changed, the genuine
#     snapshot with a wrong recorded position);
#   - the primary never stalls: the workload's largest gap between commits,
#     overall and inside each cut's window, stays below LEDGER_MAX_GAP_MS.
# Prints each check with the time since the start and the numbers (steps/s,
# commit latency, lock and freeze times); exits non-zero on the first
# failure after showing what it saw.
#
# Environment: SNAPSTAGE_CLUSTER_DIR (a running `hack/cluster.sh up
# --with-mariadb` cluster, set by CTest); optional LEDGER_RATE (workload
# steps/s, default 60), LEDGER_MAX_GAP_MS (default 2000),
# LEDGER_LOCKED_CUTS (default 3), LEDGER_UNLOCKED_ATTEMPTS (default 6).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_ledger_checker ledger
export KUBECTL
PY=/usr/bin/python3
LEDGER=$ROOT/hack/ledger
RATE=${LEDGER_RATE:-60}
MAX_GAP_MS=${LEDGER_MAX_GAP_MS:-2000}
LOCKED_CUTS=${LEDGER_LOCKED_CUTS:-3}
UNLOCKED_ATTEMPTS=${LEDGER_UNLOCKED_ATTEMPTS:-6}
workload_pid=

dump_on_fail() {
    tail -n 5 "$work/gtid.jsonl" 2>/dev/null || true
}
stop_workload() {
    if [ -n "$workload_pid" ]; then
        kill -TERM "$workload_pid" 2>/dev/null || true
        wait "$workload_pid" || true
        workload_pid=
    fi
}
on_exit() { stop_workload; }

# jq-less JSON field access: jget FILE python-expression-on-d
jget() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# content_args FILE: sets array CA to --content NAME... of cut.py's output FILE
content_args() { mapfile -t CA < <(jget "$1" '"\n".join("--content\n" + c for c in d["contents"])'); }

"$KUBECTL" create namespace "$ns" >/dev/null
kn apply -f "$ROOT/hack/sim/mariadb.yaml" >/dev/null
wait_for 300 "the primary and both replicas are Ready" kn rollout status statefulset/mariadb --timeout=5s
primary=$(kn get pod mariadb-0 -o jsonpath='{.status.podIP}')
replica=$(kn get pod mariadb-1 -o jsonpath='{.status.podIP}')
LEDGER_PASSWORD=$(kn get secret mariadb -o jsonpath='{.data.root-password}' | base64 -d)
export LEDGER_PASSWORD

"$PY" "$LEDGER/workload.py" --host "$primary" --log "$work/gtid.jsonl" --stats "$work/stats.jsonl" \
    --rate "$RATE" >"$work/summary.json" 2>"$work/workload.err" &
workload_pid=$!
has_header() { grep -q '"header"' "$work/gtid.jsonl"; }
wait_for 30 "the workload set up database ledger on the primary ($primary)" has_header
ready=$(head -n 1 "$work/gtid.jsonl" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["header"]["ready_gtid"])')
replica_past_ready() {
    local pos
    pos=$(MYSQL_PWD=$LEDGER_PASSWORD mariadb -h "$replica" -u root -N -B --connect-timeout=5 \
        -e "SELECT @@gtid_slave_pos")
    [ "${pos##*-}" -gt $((${ready##*-} + 300)) ]
}
wait_for 60 "replica mariadb-1 ($replica) applied the set-up ($ready) and 300 more groups" replica_past_ready
kill -0 "$workload_pid" || fail "the workload died: $(cat "$work/workload.err")"

check() { # name expected-exit check.py-args...
    local name=$1 want=$2 rc=0
    shift 2
    "$PY" "$LEDGER/check.py" --log "$work/gtid.jsonl" --json-out "$work/$name.verdict.json" "$@" \
        >"$work/$name.check.txt" 2>&1 || rc=$?
    if [ "$rc" != "$want" ]; then
        cat "$work/$name.check.txt" >&2
        fail "check.py on $name exited $rc, want $want"
    fi
}
cut() { # name cut.py-args...
    local name=$1
    shift
    "$PY" "$LEDGER/cut.py" --namespace "$ns" --pod mariadb-1 --cluster-dir "$SNAPSTAGE_CLUSTER_DIR" "$@" \
        >"$work/$name.json" || fail "cut.py $*: $(cat "$work/$name.json")"
}
cut_numbers() { # cut json
    jget "$1" '"position %s, lock held %s ms (stages %s), cut wait %s ms, freeze %s ms" % (
        d["position"]["gtidSlavePos"], d.get("lock", {}).get("held_ms", "-"),
        "/".join("%s" % v for v in d.get("lock", {}).get("stages_ms", {}).values()) or "-",
        d.get("cut_wait_ms"), "/".join("%s" % s.get("freeze_ms", "?") for s in d["snapshots"]))'
}
verdict_numbers() { # verdict json
    jget "$1" '"%s: %s ops, last step %s, %s rows in %s tables, %s tables checked, %s differences%s" % (
        d["verdict"], d.get("ops_applied"), d.get("last_step_applied"), d.get("rows_compared"),
        d.get("tables_compared"), d.get("tables_checked"), d.get("differences_total"),
        ", pending %s (%s)" % (d["pending"]["gtid"], d["pending"]["op"]) if d.get("pending") else "")'
}

# 1. Locked cuts, as snapstage should take them on a replica: strictly consistent.
cuts=()
for i in $(seq 1 "$LOCKED_CUTS"); do
    cut "locked$i" --mode lock --stop-sql-thread --name "locked$i-$$"
    note "locked cut $i: $(cut_numbers "$work/locked$i.json")"
    content_args "$work/locked$i.json"
    check "locked$i" 0 --position-json @"$work/locked$i.json" "${CA[@]}"
    ok "locked cut $i is consistent: $(verdict_numbers "$work/locked$i.verdict.json")"
    cuts+=(--cut "$work/locked$i.json")
    sleep 0.5
done

# 2. BACKUP STAGE only (no SQL-thread stop): consistent but for at most one pending group.
pending=0
for i in 1 2; do
    cut "stageonly$i" --mode lock --name "stageonly$i-$$"
    note "BACKUP STAGE-only cut $i: $(cut_numbers "$work/stageonly$i.json")"
    content_args "$work/stageonly$i.json"
    check "stageonly$i" 0 --allow-pending --position-json @"$work/stageonly$i.json" "${CA[@]}"
    [ "$(jget "$work/stageonly$i.verdict.json" 'bool(d.get("pending"))')" = True ] && pending=$((pending + 1))
    ok "BACKUP STAGE-only cut $i is consistent up to a pending group: $(verdict_numbers "$work/stageonly$i.verdict.json")"
    cuts+=(--cut "$work/stageonly$i.json")
done
note "BACKUP STAGE-only cuts holding a pending non-transactional group: $pending of 2"

# 3. The checker fails unlocked / early-released cuts (bounded attempts).
modes=("--mode no-lock --delay-ms 0" "--mode early-release --delay-ms 0" "--mode no-lock --read-position after --delay-ms 0")
caught=0
for i in $(seq 1 "$UNLOCKED_ATTEMPTS"); do
    mode=${modes[$(((i - 1) % ${#modes[@]}))]}
    # shellcheck disable=SC2086
    cut "unlocked$i" $mode --name "unlocked$i-$$"
    rc=0
    content_args "$work/unlocked$i.json"
    "$PY" "$LEDGER/check.py" --log "$work/gtid.jsonl" --json-out "$work/unlocked$i.verdict.json" \
        --position-json @"$work/unlocked$i.json" "${CA[@]}" >"$work/unlocked$i.check.txt" || rc=$?
    [ "$rc" = 2 ] && { cat "$work/unlocked$i.check.txt" >&2; fail "check.py could not check unlocked cut $i"; }
    note "unlocked cut $i ($mode): check.py exit $rc: $(verdict_numbers "$work/unlocked$i.verdict.json")"
    if [ "$rc" = 1 ]; then
        caught=$i
        grep -m 3 -E 'reason|diff' "$work/unlocked$i.check.txt" | sed 's/^/            /'
        break
    fi
done
[ "$caught" -gt 0 ] || fail "no unlocked cut was flagged in $UNLOCKED_ATTEMPTS attempts"
ok "an unlocked cut was flagged inconsistent (attempt $caught of at most $UNLOCKED_ATTEMPTS)"

# 4. Deterministic inconsistent images built from the first locked cut.
base=$work/locked1.json
content_args "$base"
"$PY" "$LEDGER/tamper.py" "${CA[@]}" --out "$work/img-innodb" \
    --sql "DELETE FROM ledger.entries ORDER BY seq DESC LIMIT 1" >"$work/tamper1.json" ||
    fail "tamper.py (InnoDB): $(cat "$work/tamper1.json")"
check img-innodb 1 --position-json @"$base" --data "$work/img-innodb/data" --binlog "$work/img-innodb/binlog"
grep -q 'diff: ledger.entries: missing row' "$work/img-innodb.check.txt" ||
    fail "the image with a deleted entries row was rejected for another reason: $(cat "$work/img-innodb.check.txt")"
ok "a consistent image with one InnoDB row deleted is rejected: $(grep -m 1 'diff:' "$work/img-innodb.check.txt")"
"$PY" "$LEDGER/tamper.py" "${CA[@]}" --out "$work/img-myisam" \
    --sql "UPDATE ledger.counters_myisam SET total = total + 1 WHERE account = 0" >"$work/tamper2.json" ||
    fail "tamper.py (MyISAM): $(cat "$work/tamper2.json")"
check img-myisam 1 --position-json @"$base" --data "$work/img-myisam/data" --binlog "$work/img-myisam/binlog"
grep -q 'diff: ledger.counters_myisam: row account=0' "$work/img-myisam.check.txt" ||
    fail "the image with a changed MyISAM row was rejected for another reason: $(cat "$work/img-myisam.check.txt")"
ok "a consistent image with one MyISAM value changed is rejected: $(grep -m 1 'diff:' "$work/img-myisam.check.txt")"
good=$(jget "$base" 'd["position"]["gtidSlavePos"]')
wrong=${good%-*}-$((${good##*-} - 3))
check wrongpos 1 --gtid-slave-pos "$wrong" "${CA[@]}"
grep -q "restored @@gtid_slave_pos is '$good', recorded '$wrong'" "$work/wrongpos.check.txt" ||
    fail "the wrong position was not named: $(cat "$work/wrongpos.check.txt")"
ok "the genuine image with a wrong recorded position ($wrong instead of $good) is rejected"
check usage 2 --gtid-slave-pos "0-1-1" "${CA[@]}"
ok "a position before the workload's set-up is a usage error (exit 2)"

# 5. The primary never stalled.
stop_workload
[ -s "$work/summary.json" ] || fail "the workload printed no summary: $(cat "$work/workload.err")"
[ "$(jget "$work/summary.json" '"error" in d')" = False ] || fail "the workload failed: $(cat "$work/summary.json")"
note "workload: $(jget "$work/summary.json" '"%(steps)s steps (%(steps_per_s)s/s, %(committed_steps)s committed, %(rolled_back_steps)s rolled back, %(ddl_rounds)s DDL rounds), %(gtids)s GTIDs; commit latency p50 %(p50_commit_latency_ms)s ms, p99 %(p99_commit_latency_ms)s ms, max %(max_commit_latency_ms)s ms; max gap between commits %(max_gap_ms)s ms" % d')"
"$PY" "$LEDGER/latency.py" --log "$work/gtid.jsonl" "${cuts[@]}" >"$work/latency.json" ||
    fail "latency.py: $(cat "$work/latency.json")"
note "during the $((LOCKED_CUTS + 2)) locked cuts: $(jget "$work/latency.json" '"max commit latency %s ms, max gap %s ms, at least %s commits per cut window (windows %s ms)" % (d["max_lat_ms"], d["max_gap_ms"], d["min_commits"], "/".join("%d" % w["window_ms"] for w in d["windows"]))')"
gap=$(jget "$work/summary.json" 'd["max_gap_ms"]')
"$PY" -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$gap" "$MAX_GAP_MS" ||
    fail "the primary stalled: max gap between commits ${gap} ms >= ${MAX_GAP_MS} ms"
[ "$(jget "$work/latency.json" 'd["min_commits"] > 0')" = True ] || fail "a cut window saw no commit on the primary"
ok "the primary kept committing: max gap ${gap} ms < ${MAX_GAP_MS} ms, commits in every cut window"
