#!/usr/bin/env bash
# Point-in-time restore end to end (spec.replay, mode NewClaims): the real
# snapstage binary against the mini-cluster (hack/sim/mariadb.yaml: a
# primary and two replicas; the sim runs the scratch Pod on the Restore's
# claims). One Backup B of schedule "nightly" holds rows 1,2; after it the
# primary gets row 3, a second boundary, row 4, 2000 one-row transactions
# into shop.bulk, `DROP TABLE shop.orders`
# and writes to another table. Cases:
#   undo     gtid = the DROP's GTID, inclusive: false: Complete; a mariadbd
#            on the restored claims holds exactly rows 1,2,3,4 (and
#            shop.other absent: nothing after the DROP applied; all 2000
#            rows of shop.bulk);
#            status.replay basePosition = B's position, targetPosition =
#            just before the DROP, step Done; no scratch Pod left
#   time     time = a second between row 3 and row 4: rows 1,2,3
#   refused  a GTID before the Backup: NoBaseBeforeTarget; a time in the
#            future: TargetNotReached; neither leaves a claim or a scratch
#            Pod
#   ledger   hack/ledger/workload.py under three more run-now Backups;
#            PITR_TARGETS (20) seeded targets (PITR_SEED, printed) over
#            its history, half GTIDs (every third inclusive: false), half
#            whole seconds, restored PITR_PARALLEL (5) at a time; each
#            judged by hack/ledger/pitr_targets.py (the right base, the
#            GTID or time resolved right, by the log's wall times) and
#            checked strictly by check.py on the claims' volumes (data =
#            the history at targetPosition; slave, binlog and current
#            positions all equal to it); >= 3 different bases
#   kill     the controller SIGKILLed the moment a watch shows each step
#            (Starting, Resolving, Replaying, Finishing, Done) and started
#            again: the undo Restore still completes, with rows 1,2,3,4;
#            watches saw exactly its two claims made once each and never
#            two scratch Pods at once
#   lost     from Backup B to the ledger's end from replica mariadb-2,
#            whose Pod is deleted when the step shows Replaying: resumed
#            and exact (check.py), or ReplaySourceLost leaving nothing
#   scratchlost the same replay with its scratch Pod deleted in
#            Replaying: ScratchNotReady after replay.timeoutSeconds and
#            nothing left (or, had it reached the target, exact)
#   purged   the primary's binlogs purged up to a new one: a Restore past
#            the newest Backup fails BinlogsPurged, leaving nothing
#   disabled the same Restore with the controller started without
#            --enable-point-in-time-restore: Failed
#            PointInTimeRestoreDisabled, no claim made
# Ends with a checked SIGTERM: exit 0 and no sanitizer report.
#
# The replication account (Secret mariadb, replication-user) gets BINLOG
# MONITOR on the primary: resolving reads SHOW BINARY LOGS with it.
#
# Environment: SNAPSTAGE_CLUSTER_DIR, SNAPSTAGE_BIN.
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_pitr pitr

dump_on_fail() {
    kn get restores -o yaml 2>/dev/null | grep -B2 -A30 'replay:' | tail -n 120 || true
    kn get pods,pvc -o wide 2>/dev/null || true
}

rs() { kn get restore "$1" -o jsonpath="$2"; }
cond_is() { # restore type status [reason]
    [ "$(rs "$1" "{.status.conditions[?(@.type==\"$2\")].status}")" = "$3" ] &&
        { [ -z "${4:-}" ] || [ "$(rs "$1" "{.status.conditions[?(@.type==\"$2\")].reason}")" = "$4" ]; }
}
finished() { # restore: Complete or Failed
    cond_is "$1" Complete True || cond_is "$1" Failed True
}
backup_complete() {
    [ "$(kn get backup "$1" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}')" = True ]
}
backups_of_nightly() { kn get backups -l snapstage.io/schedule=nightly -o jsonpath='{.items[*].metadata.name}'; }
count_nightly_is() { [ "$(backups_of_nightly | wc -w)" = "$1" ]; }
run_now() { kn annotate backupschedule nightly "snapstage.io/run-now=$1" --overwrite >/dev/null; }
claims_of() { kn get pvc -l "snapstage.io/restore=$1" -o jsonpath='{.items[*].metadata.name}'; }
scratch_left() { kn get pods,pvc -l snapstage.io/scratch=pitr -o name 2>/dev/null; }
no_scratch_left() { [ -z "$(scratch_left)" ]; }
step_is() { [ "$(rs "$1" '{.status.replay.step}')" = "$2" ]; }
server_on() { # pod-name data-claim binlog-claim
    inspect_pod_yaml "$@" | kn apply -f - >/dev/null || fail "creating pod $1"
}
# pitr NAME REPLAY-LINES [REPLAY-TIMEOUT]: a Restore of schedule nightly
# into new claims NAME-data and NAME-binlog, replaying with spec.replay =
# REPLAY-LINES (indented 2) plus the replication account and the scratch
# connection; replay.timeoutSeconds REPLAY-TIMEOUT (default 300).
pitr() {
    kn apply -f - >/dev/null <<YAML || fail "creating Restore $1"
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata:
  name: $1
spec:
  source:
    scheduleName: nightly
  target:
    mode: NewClaims
    newClaims:
      storageClassName: snapstage-sim
  timeoutSeconds: 600
  replay:
$2
    timeoutSeconds: ${3:-300}
$(yaml_replay_access)
YAML
}
# restored_rows NAME: a mariadbd on NAME's claims; `rows` its shop.orders
# rows ("none" when the table does not exist), `other` whether shop.other
# exists (1 or 0), `bulk_rows` shop.bulk's row count ("none" without the
# table); the pod deleted after.
restored_rows() {
    local pod=inspect-$1 there
    server_on "$pod" "$1-data" "$1-binlog"
    wait_for 180 "a mariadbd on $1's claims is Ready" kn wait "pod/$pod" --for=condition=Ready --timeout=5s
    there=$(sql "$pod" "SELECT COUNT(*) FROM information_schema.tables
        WHERE table_schema = 'shop' AND table_name = 'orders'") || fail "querying $pod"
    rows=none
    if [ "$there" = 1 ]; then
        rows=$(rows_on "$pod") || fail "querying $pod"
    fi
    other=$(sql "$pod" "SELECT COUNT(*) FROM information_schema.tables
        WHERE table_schema = 'shop' AND table_name = 'other'") || fail "querying $pod"
    bulk_rows=$(sql "$pod" "SELECT COUNT(*) FROM information_schema.tables
        WHERE table_schema = 'shop' AND table_name = 'bulk'") || fail "querying $pod"
    if [ "$bulk_rows" = 1 ]; then
        bulk_rows=$(sql "$pod" "SELECT COUNT(*) FROM shop.bulk") || fail "querying $pod"
    else
        bulk_rows=none
    fi
    kn delete pod "$pod" --wait=false >/dev/null
}
seq_of() { echo "${1##*-}"; }

# ---- set-up --------------------------------------------------------------------
install_crds
mini_mariadb_up
start_controller --enable-point-in-time-restore
sql mariadb-0 "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY);
INSERT INTO shop.orders VALUES (1), (2); SELECT @@last_gtid;
GRANT BINLOG MONITOR ON *.* TO 'repl'@'%'" >"$work/gtid12" ||
    fail "writing on the primary"
gtid_before=$(tail -n 1 "$work/gtid12")
note "a GTID before the Backup (rows 1,2; the GRANT follows): $gtid_before"
wait_for 30 "rows 1,2 on mariadb-1" rows_are mariadb-1 1,2
wait_for 30 "rows 1,2 on mariadb-2" rows_are mariadb-2 1,2
kn apply -f - >/dev/null <<'YAML' || fail "creating the schedule"
apiVersion: snapstage.io/v1alpha1
kind: BackupSchedule
metadata:
  name: nightly
spec:
  schedule: "0 0 1 1 *"
  target:
    statefulSetName: mariadb
    role: Replica
    connection:
      credentialsSecretRef:
        name: mariadb-backup
YAML
run_now b
wait_for 30 "schedule: Backup B exists" count_nightly_is 1
backup_b=$(backups_of_nightly)
wait_for 120 "Backup B ($backup_b) completes" backup_complete "$backup_b"
note "B: gtidBinlogPos $(kn get backup "$backup_b" -o jsonpath='{.status.position.gtidBinlogPos}') gtidSlavePos $(kn get backup "$backup_b" -o jsonpath='{.status.position.gtidSlavePos}')"

sql mariadb-0 "INSERT INTO shop.orders VALUES (3)" || fail "writing row 3"
sleep 1.1
between=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1.1
sql mariadb-0 "INSERT INTO shop.orders VALUES (4)" || fail "writing row 4"
# 2000 one-row transactions, so a replay has more to do than a few events.
bulk="CREATE TABLE shop.bulk (id INT PRIMARY KEY);"
for i in $(seq 2000); do bulk+="INSERT INTO shop.bulk VALUES ($i);"; done
sql mariadb-0 "$bulk" || fail "writing shop.bulk"
drop_gtid=$(sql mariadb-0 "DROP TABLE shop.orders; SELECT @@last_gtid") || fail "dropping shop.orders"
sql mariadb-0 "CREATE TABLE shop.other (x INT PRIMARY KEY); INSERT INTO shop.other VALUES (1), (2)" ||
    fail "writing after the DROP"
note "row 3, $between, row 4, DROP at $drop_gtid, then shop.other; the primary at $(sql mariadb-0 'SELECT @@gtid_binlog_pos')"

# ---- undo a DROP ------------------------------------------------------------------
t0=$SECONDS
pitr undo "    gtid: \"$drop_gtid\"
    inclusive: false"
wait_for 300 "undo: the Restore finishes" finished undo
cond_is undo Complete True || fail "undo: not Complete: $(rs undo '{.status.conditions}') $(rs undo '{.status.message}')"
note "undo: $(rs undo '{.status.message}') ($((SECONDS - t0)) s)"
base=$(rs undo '{.status.replay.basePosition}')
b_pos=$(kn get backup "$backup_b" -o jsonpath='{.status.position.gtidSlavePos} {.status.position.gtidBinlogPos}')
[ -n "$base" ] && [[ " $b_pos " == *" $base "* ]] || fail "undo: basePosition '$base' is not B's position ($b_pos)"
want_target="${drop_gtid%-*}-$(($(seq_of "$drop_gtid") - 1))"
[ "$(rs undo '{.status.replay.targetPosition}')" = "$want_target" ] ||
    fail "undo: targetPosition '$(rs undo '{.status.replay.targetPosition}')', want $want_target (just before $drop_gtid)"
step_is undo Done || fail "undo: step $(rs undo '{.status.replay.step}')"
[ "$(rs undo '{.status.replay.sourcePod}')" = mariadb-0 ] || fail "undo: sourcePod $(rs undo '{.status.replay.sourcePod}')"
relay=$(rs undo '{.status.replay.relayLogBytes}')
[ "${relay:-0}" -gt 0 ] || fail "undo: relayLogBytes '$relay'"
ok "undo: Complete, step Done, base $base (B's), target $want_target, source mariadb-0, $relay relay log bytes"
wait_for 60 "undo: no scratch Pod left" no_scratch_left
[ "$(claims_of undo)" = "undo-binlog undo-data" ] || fail "undo: claims '$(claims_of undo)'"
restored_rows undo
[ "$rows" = 1,2,3,4 ] || fail "undo: the restored server holds rows '$rows', want 1,2,3,4"
[ "$other" = 0 ] || fail "undo: shop.other (written after the DROP) exists on the restored server"
[ "$bulk_rows" = 2000 ] || fail "undo: shop.bulk holds $bulk_rows rows, want 2000"
ok "undo: the restored server holds rows 1,2,3,4, shop.bulk's 2000 and no shop.other: everything before the DROP, nothing from it on"

# ---- a time target ------------------------------------------------------------------
t0=$SECONDS
pitr attime "    time: \"$between\""
wait_for 300 "time: the Restore finishes" finished attime
cond_is attime Complete True || fail "time: not Complete: $(rs attime '{.status.message}')"
note "time: $(rs attime '{.status.message}') ($((SECONDS - t0)) s)"
step_is attime Done || fail "time: step $(rs attime '{.status.replay.step}')"
wait_for 60 "time: no scratch Pod left" no_scratch_left
restored_rows attime
[ "$rows" = 1,2,3 ] || fail "time $between: the restored server holds rows '$rows', want 1,2,3"
[ "$bulk_rows" = none ] || fail "time $between: shop.bulk (written after it) exists with $bulk_rows rows"
ok "time $between: rows 1,2,3 (row 3 before it, row 4 after)"

# ---- refused: nothing is left ----------------------------------------------------------
pitr early "    gtid: \"$gtid_before\""
wait_for 120 "a GTID before the Backup: Failed NoBaseBeforeTarget" cond_is early Failed True NoBaseBeforeTarget
note "early: $(rs early '{.status.message}')"
future=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
pitr future "    time: \"$future\""
wait_for 300 "a time in the future: the Restore finishes" finished future
cond_is future Failed True TargetNotReached ||
    fail "future: $(rs future '{.status.conditions[?(@.type=="Failed")].reason}'): $(rs future '{.status.message}')"
ok "a time in the future: Failed TargetNotReached"
note "future: $(rs future '{.status.message}')"
wait_for 60 "refused: no scratch Pod left" no_scratch_left
for r in early future; do
    wait_for 60 "refused $r: no claim left" test -z "$(claims_of $r)"
done

# ---- the ledger at scale -------------------------------------------------------------
# hack/ledger/workload.py writes to the primary while the schedule takes
# three more Backups (L1..L3); then >= 20 seeded targets over that history
# (half GTIDs, every third inclusive: false; half whole seconds, spread)
# are restored, up to $PARALLEL at once, each judged by pitr_targets.py
# (the base picked, the GTID or time resolved right) and checked strictly
# by check.py on the restored claims' volumes (the sim's volume
# directories): the data is the primary's history at targetPosition, and
# gtid_slave_pos, gtid_binlog_pos and gtid_current_pos are all exactly it.
PY=/usr/bin/python3
LEDGER=$ROOT/hack/ledger
SEED=${PITR_SEED:-$((RANDOM * 32768 + RANDOM))}
TARGETS=${PITR_TARGETS:-20}
PARALLEL=${PITR_PARALLEL:-5}
note "ledger: seed $SEED ($TARGETS targets; replay one with PITR_SEED=$SEED)"
t_ledger=$SECONDS
workload_pid=
stop_workload() {
    [ -n "$workload_pid" ] || return 0
    kill -TERM "$workload_pid" 2>/dev/null || true
    wait "$workload_pid" || true
    workload_pid=
}
on_exit() { stop_workload; }
# grep -c prints 0 *and* fails when nothing matches: `|| echo 0` would
# print a second 0 ("0\n0", an arithmetic syntax error in $((...))).
ops_logged() {
    local n
    n=$(grep -c '"gtid"' "$work/gtid.jsonl" 2>/dev/null) || true
    echo "${n:-0}"
}
ops_at_least() { [ "$(ops_logged)" -ge "$1" ]; }
LEDGER_PASSWORD=$(root_pw) "$PY" "$LEDGER/workload.py" --host "$(kn get pod mariadb-0 -o jsonpath='{.status.podIP}')" \
    --log "$work/gtid.jsonl" --rate "${PITR_RATE:-40}" >"$work/summary.json" 2>"$work/workload.err" &
workload_pid=$!
wait_for 30 "ledger: the workload set up database ledger on the primary" grep -q '"header"' "$work/gtid.jsonl"
# Each Backup after some history of its own (>= 300 groups: a few seconds).
for i in 1 2 3; do
    want=$(($(ops_logged) + 300))
    wait_for 60 "ledger: $want groups logged before Backup L$i" ops_at_least "$want"
    kill -0 "$workload_pid" || fail "the workload died: $(cat "$work/workload.err")"
    run_now "l$i"
    wait_for 30 "ledger: Backup L$i exists" count_nightly_is $((i + 1))
    for b in $(backups_of_nightly); do
        wait_for 120 "ledger: Backup $b complete" backup_complete "$b"
    done
done
# bash skips the rest of a loop after an expansion error in it (no set -e
# exit): a loop cut short must fail here, not as "fewer than 3 bases".
count_nightly_is 4 || fail "ledger: $(backups_of_nightly | wc -w) Backup(s) of nightly after the loop, want 4 (B, L1..L3)"
want=$(($(ops_logged) + 300))
wait_for 60 "ledger: $want groups logged after Backup L3" ops_at_least "$want"
stop_workload
[ "$("$PY" -c 'import json,sys; print("error" in json.load(open(sys.argv[1])))' "$work/summary.json")" = False ] ||
    fail "the workload failed: $(cat "$work/summary.json" "$work/workload.err")"
note "ledger: workload $(cat "$work/summary.json")"
kn get backups -l snapstage.io/schedule=nightly -o json >"$work/backups.json"
for b in $(backups_of_nightly); do
    note "ledger: base $b locked $(kn get backup "$b" -o jsonpath='{.status.lock.acquiredTime} at {.status.position.gtidCurrentPos}')"
done
"$PY" "$LEDGER/pitr_targets.py" pick --log "$work/gtid.jsonl" --backups "$work/backups.json" \
    --seed "$SEED" --count "$TARGETS" >"$work/targets" || fail "picking targets"
note "ledger: targets (name kind value inclusive base): $(tr '\n' ';' <"$work/targets")"
[ "$(awk '{print $5}' "$work/targets" | sort -u | wc -l)" -ge 3 ] ||
    fail "ledger: the targets pick fewer than 3 different bases: $(awk '{print $5}' "$work/targets" | sort | uniq -c)"
t_workload=$((SECONDS - t_ledger))

submit_target() { # name kind value inclusive
    if [ "$2" = gtid ]; then
        pitr "$1" "    gtid: \"$3\"
    inclusive: $4"
    else
        pitr "$1" "    time: \"$3\""
    fi
}
# check_target NAME KIND VALUE INCLUSIVE: judged and checked; its claims deleted after.
check_target() {
    local tp sb why vol_d vol_b rc=0
    cond_is "$1" Complete True || fail "ledger $1 ($2 $3 inclusive $4): $(rs "$1" '{.status.conditions[?(@.type=="Failed")].reason}'): $(rs "$1" '{.status.message}')"
    tp=$(rs "$1" '{.status.replay.targetPosition}')
    sb=$(rs "$1" '{.status.sourceBackup}')
    why=$("$PY" "$LEDGER/pitr_targets.py" judge --log "$work/gtid.jsonl" --backups "$work/backups.json" \
        --kind "$2" --value "$3" --inclusive "$4" --target-position "$tp" --source-backup "$sb") ||
        fail "ledger $1 ($2 $3 inclusive $4): $why"
    vol_d=$SNAPSTAGE_CLUSTER_DIR/sim/volumes/$(kn get pvc "$1-data" -o jsonpath='{.spec.volumeName}')
    vol_b=$SNAPSTAGE_CLUSTER_DIR/sim/volumes/$(kn get pvc "$1-binlog" -o jsonpath='{.spec.volumeName}')
    "$PY" "$LEDGER/check.py" --log "$work/gtid.jsonl" --data "$vol_d" --binlog "$vol_b" \
        --gtid-slave-pos "$tp" --gtid-binlog-pos "$tp" --gtid-current-pos "$tp" \
        --json-out "$work/$1.verdict.json" >"$work/$1.check.txt" 2>&1 || rc=$?
    [ $rc = 0 ] || { cat "$work/$1.check.txt" >&2; fail "ledger $1 ($2 $3 inclusive $4, target $tp): check.py exit $rc"; }
    ok "ledger $1: $2 $3 ($4) -> $tp: $why; check.py consistent ($(grep -o 'compared [0-9]* expected rows' "$work/$1.check.txt"))"
    kn delete pvc "$1-data" "$1-binlog" --wait=false >/dev/null
}
finished_names() { # the Restores named pitr-* that are Complete or Failed
    kn get restores -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.conditions[?(@.status=="True")].type}{"\n"}{end}' |
        awk '$1 ~ /^pitr-/ && ($2 == "Complete" || $2 == "Failed" || $3 == "Complete" || $3 == "Failed") {print $1}'
}
t0=$SECONDS
declare -A inflight=()
mapfile -t queue <"$work/targets"
checked=0
end=$((SECONDS + 900))
while [ "${#queue[@]}" -gt 0 ] || [ "${#inflight[@]}" -gt 0 ]; do
    while [ "${#queue[@]}" -gt 0 ] && [ "${#inflight[@]}" -lt "$PARALLEL" ]; do
        read -r name kind value incl _ <<<"${queue[0]}"
        queue=("${queue[@]:1}")
        submit_target "$name" "$kind" "$value" "$incl"
        inflight[$name]="$kind $value $incl"
    done
    progressed=
    for name in $(finished_names); do
        [ -n "${inflight[$name]:-}" ] || continue
        # shellcheck disable=SC2086 # kind value inclusive
        check_target "$name" ${inflight[$name]}
        unset "inflight[$name]"
        checked=$((checked + 1))
        progressed=1
    done
    [ $SECONDS -lt $end ] || fail "ledger: restores still running after 900 s: ${!inflight[*]}"
    [ -n "$progressed" ] || sleep 0.5
done
[ "$checked" = "$TARGETS" ] || fail "ledger: $checked of $TARGETS targets checked"
ok "ledger: all $checked targets restored exactly (bases $(awk '{print $5}' "$work/targets" | sort | uniq -c | tr -s ' \n' ' ')); workload and Backups $t_workload s, restores and checks $((SECONDS - t0)) s"

# ---- SIGKILL mid-flow ---------------------------------------------------------------------
# watch_begin RESTORE: a watch of RESTORE's status.replay.step on fd
# $watch_fd (bounded at 180 s); watch_until STEP skips the watch's first
# line (the state the last kill left: the restarted controller must write
# something first) and reads until STEP or a later step shows (into
# `seen`). Steps written in one reconcile (Resolving then Replaying,
# Finishing then Done) may show only as the later one; a step the last
# kill already passed is not waited for.
watch_begin() {
    exec {watch_fd}< <(timeout 180 "$KUBECTL" -n "$ns" get restore "$1" -w \
        -o jsonpath='{.status.replay.step}{"\n"}' 2>/dev/null)
    watch_pid=$!
}
steps=" RestoringBase Starting Resolving Replaying Finishing Done "
step_index() { # step: its place in $steps (0 for none or unknown)
    local before=${steps%% "$1" *}
    [ -n "$1" ] && [ "$before" != "$steps" ] || { echo 0; return; }
    echo $(($(wc -w <<<"$before") + 1))
}
watch_until() {
    local want
    want=$(step_index "$1")
    seen=
    read -r -u "$watch_fd" seen || return 1
    while read -r -u "$watch_fd" seen; do
        [ "$(step_index "$seen")" -ge "$want" ] && return 0
    done
    return 1
}
watch_end() {
    kill "$watch_pid" 2>/dev/null || true
    exec {watch_fd}<&-
}
# kill_in RESTORE STEP: SIGKILL the controller the moment a watch (begun
# before the controller could pass STEP) shows STEP, then start it again
# with the next watch begun first.
kill_in() {
    watch_until "$2" || fail "kill: the watch of $1 ended before step $2"
    kill_controller KILL
    watch_end
    ok "kill: SIGKILLed in $seen (waiting for $2)"
    watch_begin "$1"
    start_controller --enable-point-in-time-restore
}
# Every scratch Pod and every claim of the Restore, as a watch sees them
# come and go: never two scratch Pods at once, no claim but the two.
"$KUBECTL" -n "$ns" get pods -l snapstage.io/scratch=pitr -w --output-watch-events \
    -o jsonpath='{.type} {.object.metadata.uid} {.object.metadata.name}{"\n"}' >"$work/kill-pods.w" 2>/dev/null &
pods_watch=$!
"$KUBECTL" -n "$ns" get pvc -l snapstage.io/restore=killed -w --output-watch-events \
    -o jsonpath='{.type} {.object.metadata.uid} {.object.metadata.name}{"\n"}' >"$work/kill-pvcs.w" 2>/dev/null &
pvcs_watch=$!
# most_at_once FILE: the most objects (by uid) the watch saw exist at once.
most_at_once() {
    awk '$1 == "ADDED" && !($2 in live) {live[$2]; n++; if (n > m) m = n}
         $1 == "DELETED" && ($2 in live) {delete live[$2]; n--} END {print m + 0}' "$1"
}
pitr killed "    gtid: \"$drop_gtid\"
    inclusive: false"
watch_begin killed
seen=
for step in Starting Resolving Replaying Finishing Done; do
    [ "$(step_index "$seen")" -lt "$(step_index "$step")" ] || continue
    kill_in killed "$step"
done
watch_end
wait_for 300 "kill: the Restore finishes" finished killed
cond_is killed Complete True || fail "kill: not Complete: $(rs killed '{.status.message}')"
wait_for 60 "kill: no scratch Pod left" no_scratch_left
restored_rows killed
[ "$rows" = 1,2,3,4 ] && [ "$bulk_rows" = 2000 ] && [ "$other" = 0 ] ||
    fail "kill: the restored server holds rows '$rows', shop.bulk $bulk_rows, shop.other $other; want 1,2,3,4, 2000, 0"
ok "kill: Complete after SIGKILL, rows 1,2,3,4"
kill "$pods_watch" "$pvcs_watch" 2>/dev/null || true
wait "$pods_watch" "$pvcs_watch" 2>/dev/null || true
[ "$(claims_of killed)" = "killed-binlog killed-data" ] || fail "kill: claims '$(claims_of killed)', want killed-binlog killed-data"
made=$(awk '$1 == "ADDED" {print $3 "/" $2}' "$work/kill-pvcs.w" | sort -u | sed 's|/.*||' | tr '\n' ' ')
[ "$made" = "killed-binlog killed-data " ] || fail "kill: claims made over the run: '$made' (a duplicate or another name)"
[ "$(awk '$1 == "ADDED"' "$work/kill-pods.w" | wc -l)" -ge 1 ] || fail "kill: the watch saw no scratch Pod"
[ "$(most_at_once "$work/kill-pods.w")" = 1 ] ||
    fail "kill: $(most_at_once "$work/kill-pods.w") scratch Pods at once: $(cat "$work/kill-pods.w")"
ok "kill: exactly the claims killed-data and killed-binlog, each made once; never more than one scratch Pod ($(awk '$1 == "ADDED" {print $2}' "$work/kill-pods.w" | sort -u | wc -l) in all)"

# ---- a replay source that dies mid-replay ------------------------------------------------
# From Backup B (named: the oldest base, so the whole ledger is replayed)
# to the ledger's last GTID, from replica mariadb-2 (spec.replay.source),
# whose Pod is deleted the moment the step shows Replaying (the sim's
# StatefulSet controller makes it again, with its address if free).
# Either the replay resumes and the data is exact (check.py, strictly), or
# it fails ReplaySourceLost within replay.timeoutSeconds (20) and leaves
# no claim or scratch Pod.
last_gtid=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_gtid"])' "$work/summary.json")
t0=$SECONDS
# from_b NAME [SOURCE-POD]: a Restore NAME of Backup B into new claims,
# replayed to the ledger's last GTID ($last_gtid), from SOURCE-POD if
# given (else the primary), with replay.timeoutSeconds 20.
from_b() {
    local source=
    [ -z "${2:-}" ] || source="    source:
      podName: $2"
    kn apply -f - >/dev/null <<YAML || fail "creating Restore $1"
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata:
  name: $1
spec:
  source:
    backupName: $backup_b
  target:
    mode: NewClaims
    newClaims:
      storageClassName: snapstage-sim
  timeoutSeconds: 600
  replay:
    gtid: "$last_gtid"
$source
    timeoutSeconds: 20
$(yaml_replay_access)
YAML
}
# check_at_last NAME: check.py, strictly, on NAME's claims against the
# ledger's history at $last_gtid (every position equal to it).
check_at_last() {
    local vol_d vol_b rc=0
    vol_d=$SNAPSTAGE_CLUSTER_DIR/sim/volumes/$(kn get pvc "$1-data" -o jsonpath='{.spec.volumeName}')
    vol_b=$SNAPSTAGE_CLUSTER_DIR/sim/volumes/$(kn get pvc "$1-binlog" -o jsonpath='{.spec.volumeName}')
    "$PY" "$LEDGER/check.py" --log "$work/gtid.jsonl" --data "$vol_d" --binlog "$vol_b" --gtid-slave-pos "$last_gtid" \
        --gtid-binlog-pos "$last_gtid" --gtid-current-pos "$last_gtid" >"$work/$1.check.txt" 2>&1 || rc=$?
    [ $rc = 0 ] || { cat "$work/$1.check.txt" >&2; fail "$1: check.py exit $rc"; }
}
from_b lost mariadb-2
watch_begin lost
watch_until Replaying || fail "lost: the watch ended before step Replaying"
watch_end
src_uid=$(kn get pod mariadb-2 -o jsonpath='{.metadata.uid}')
kn delete pod mariadb-2 --wait=false >/dev/null || fail "deleting the source Pod"
note "lost: deleted the source Pod mariadb-2 in step $seen, the replay at '$(rs lost '{.status.replay.reachedPosition}')' of $last_gtid"
wait_for 300 "lost: the Restore finishes" finished lost
note "lost: $(rs lost '{.status.message}') ($((SECONDS - t0)) s)"
if cond_is lost Complete True; then
    [ "$(rs lost '{.status.replay.targetPosition}')" = "$last_gtid" ] || fail "lost: targetPosition $(rs lost '{.status.replay.targetPosition}')"
    check_at_last lost
    ok "lost: the replay resumed after the source Pod was deleted and completed exactly at $last_gtid (check.py)"
else
    cond_is lost Failed True ReplaySourceLost ||
        fail "lost: $(rs lost '{.status.conditions[?(@.type=="Failed")].reason}'): $(rs lost '{.status.message}')"
    wait_for 60 "lost: no scratch Pod left" no_scratch_left
    wait_for 60 "lost: no claim left" test -z "$(claims_of lost)"
    ok "lost: Failed ReplaySourceLost, nothing left"
fi
new_pod_ready() { # pod old-uid: a Pod of that name with another uid is Ready
    local got
    got=$(kn get pod "$1" -o jsonpath='{.metadata.uid} {.status.conditions[?(@.type=="Ready")].status}') &&
        [ "${got% *}" != "$2" ] && [ "${got#* }" = True ]
}
wait_for 120 "lost: mariadb-2 is back (a new Pod, Ready)" new_pod_ready mariadb-2 "$src_uid"

# ---- the scratch server lost mid-replay --------------------------------------------------
# The same replay (Backup B to the ledger's end), with its scratch Pod
# deleted the moment the step shows Replaying: nothing makes that Pod
# again, so the Restore fails ScratchNotReady once replay.timeoutSeconds
# (20) have passed in the step (it used to retry for ever), and leaves no
# claim or scratch Pod; or the replay had already reached its target and
# the Restore completes exactly (check.py).
t0=$SECONDS
from_b scratchlost
watch_begin scratchlost
watch_until Replaying || fail "scratchlost: the watch ended before step Replaying"
watch_end
scratch_pod=$(rs scratchlost '{.status.replay.scratchPod}')
kn delete pod "$scratch_pod" --wait=false >/dev/null || fail "deleting the scratch Pod $scratch_pod"
note "scratchlost: deleted the scratch Pod $scratch_pod in step $seen, the replay at '$(rs scratchlost '{.status.replay.reachedPosition}')' of $last_gtid"
wait_for 300 "scratchlost: the Restore finishes" finished scratchlost
note "scratchlost: $(rs scratchlost '{.status.message}') ($((SECONDS - t0)) s)"
if cond_is scratchlost Complete True; then
    check_at_last scratchlost
    ok "scratchlost: the replay had reached its target; Complete and exact (check.py)"
else
    cond_is scratchlost Failed True ScratchNotReady ||
        fail "scratchlost: $(rs scratchlost '{.status.conditions[?(@.type=="Failed")].reason}'): $(rs scratchlost '{.status.message}')"
    wait_for 60 "scratchlost: no scratch Pod left" no_scratch_left
    wait_for 60 "scratchlost: no claim left" test -z "$(claims_of scratchlost)"
    ok "scratchlost: Failed ScratchNotReady within the step's bound, nothing left"
fi

# ---- BinlogsPurged --------------------------------------------------------------------------
# The primary's binary logs up to the newest purged: the events after the
# newest Backup (L3) are gone, so a Restore to the ledger's last GTID (base
# L3) fails BinlogsPurged and leaves nothing.
sql mariadb-0 "FLUSH BINARY LOGS" || fail "FLUSH BINARY LOGS"
newest=$(sql mariadb-0 "SHOW BINARY LOGS" | tail -n 1 | cut -f1)
# PURGE skips, with a warning only, a file a replica's dump thread still
# reads (for a moment after the FLUSH): repeated until one file is left.
purged_to_newest() { sql mariadb-0 "PURGE BINARY LOGS TO '$newest'" >/dev/null && [ "$(sql mariadb-0 "SHOW BINARY LOGS" | wc -l)" = 1 ]; }
wait_for 30 "PURGE BINARY LOGS TO '$newest' leaves only it" purged_to_newest
note "purged: the primary's binary logs now $(sql mariadb-0 "SHOW BINARY LOGS" | cut -f1 | tr '\n' ' ')"
pitr purged "    gtid: \"$last_gtid\""
wait_for 300 "purged: the Restore finishes" finished purged
cond_is purged Failed True BinlogsPurged ||
    fail "purged: $(rs purged '{.status.conditions[?(@.type=="Failed")].reason}'): $(rs purged '{.status.message}')"
note "purged: $(rs purged '{.status.message}')"
wait_for 60 "purged: no scratch Pod left" no_scratch_left
wait_for 60 "purged: no claim left" test -z "$(claims_of purged)"
ok "purged: Failed BinlogsPurged, no claim or scratch Pod left"

# ---- without the flag ----------------------------------------------------------------------
stop_controller
start_controller
pitr disabled "    gtid: \"$drop_gtid\""
wait_for 30 "without --enable-point-in-time-restore: Failed PointInTimeRestoreDisabled" \
    cond_is disabled Failed True PointInTimeRestoreDisabled
[ -z "$(claims_of disabled)" ] || fail "disabled: claims made: $(claims_of disabled)"
ok "without the flag: Failed PointInTimeRestoreDisabled, no claim"

stop_controller
check_clean_log
ok "the controller stopped cleanly on SIGTERM (exit 0, no sanitizer report)"
