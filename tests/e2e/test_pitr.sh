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
#   kill     the controller SIGKILLed the moment a watch shows each step
#            (Starting, Resolving, Replaying, Finishing, Done) and started
#            again: the undo Restore still completes, with rows 1,2,3,4
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
# pitr NAME REPLAY-LINES: a Restore of schedule nightly into new claims
# NAME-data and NAME-binlog, replaying with spec.replay = REPLAY-LINES
# (indented 2) plus the replication account and the scratch connection.
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
    timeoutSeconds: 300
    replicationCredentialsSecretRef:
      name: mariadb
      usernameKey: replication-user
      passwordKey: replication-password
    connection:
      credentialsSecretRef:
        name: mariadb-backup
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
start_controller
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
    start_controller
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

stop_controller
check_clean_log
ok "the controller stopped cleanly on SIGTERM (exit 0, no sanitizer report)"
