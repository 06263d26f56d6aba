#!/usr/bin/env bash
# Point-in-time restore in place end to end (spec.replay with mode InPlace,
# issue 19): the real snapstage binary (--enable-in-place-restore) against
# the mini-cluster (hack/sim/mariadb.yaml: a primary and two replicas). A
# Backup `base` (of a replica) holds rows 1,2; after it the primary gets
# row 3, then the accident `DROP TABLE shop.orders`, then shop.other.
# One Restore `undo` of `base`, gtid = the DROP's GTID, inclusive: false,
# into StatefulSet mariadb in place; the controller is SIGKILLed the moment
# a watch shows step Snapshotting and again at SafetyBackup, and started
# again. Checks:
#   - Complete; status.replay targetPosition just before the DROP;
#   - the primary and a replica hold rows 1,2,3 (row 3 is after the Backup
#     and before the DROP: back) and no shop.other (after the DROP);
#   - a new write on the primary reaches both replicas; replicas read-only;
#   - the safety Backup undo-safety exists, exactly one labelled
#     snapstage.io/safety-backup-for=undo, is Complete, of the primary, and
#     its position is past the DROP (the state before the rollback);
#   - no scratch Pod, claim or replayed VolumeSnapshot left;
#   - the binlog template is in a StorageClass of its own (pitrip-binlog,
#     the same driver): each scratch claim is in its template's class;
#   - then, with a new base, a Restore `blocked` whose safety Backup cannot
#     take its lock (another session holds BACKUP STAGE START on the
#     primary): Failed SafetyBackupFailed after replay.timeoutSeconds (20),
#     the StatefulSet, its claims (by uid) and the primary's rows untouched,
#     nothing of the Restore left;
#   - a Restore `rolled` whose replayed snapshots' claims never bind
#     (restore-fault pending): Failed Timeout, RolledBack, every member's
#     claim on its old volume, the rows from before (with one written after
#     the target), replication working, nothing of the Restore left but
#     its Complete safety Backup.
# Prints the time of each step (status.replay.step, then
# status.inPlace.step) as the watch saw it.
# Ends with a checked SIGTERM: exit 0 and no sanitizer report.
#
# Environment: SNAPSTAGE_CLUSTER_DIR, SNAPSTAGE_BIN.
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_pitr_inplace pitrip

dump_on_fail() {
    kn get restores -o yaml 2>/dev/null | grep -A40 '^  status:' | tail -n 80 || true
    kn get pods,pvc,volumesnapshots,backups -o wide 2>/dev/null || true
}

rs() { kn get restore "$1" -o jsonpath="$2"; }
cond_is() { # restore type status [reason]
    [ "$(rs "$1" "{.status.conditions[?(@.type==\"$2\")].status}")" = "$3" ] &&
        { [ -z "${4:-}" ] || [ "$(rs "$1" "{.status.conditions[?(@.type==\"$2\")].reason}")" = "$4" ]; }
}
finished() { cond_is "$1" Complete True || cond_is "$1" Failed True; }
backup_complete() {
    [ "$(kn get backup "$1" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}')" = True ]
}
scratch_left() {
    kn get pods,pvc,volumesnapshots -l snapstage.io/scratch=pitr -o name 2>/dev/null
}
no_scratch_left() { [ -z "$(scratch_left)" ]; }
seq_of() { echo "${1##*-}"; }
# domain0_seq POSITION: the seq of domain 0 in a GTID position ("0-1-9,1-2-3")
domain0_seq() {
    tr ',' '\n' <<<"$1" | tr -d ' ' | awk -F- '$1 == 0 { print $3 }'
}

# pitr_in_place NAME BACKUP GTID INCLUSIVE REPLAY-TIMEOUT [TIMEOUT]: a
# point-in-time Restore of Backup BACKUP into StatefulSet mariadb in place,
# to GTID; the Restore's timeoutSeconds TIMEOUT (default 600).
pitr_in_place() {
    kn apply -f - >/dev/null <<YAML || fail "creating Restore $1"
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata:
  name: $1
spec:
  source:
    backupName: $2
$(yaml_in_place_target)
  timeoutSeconds: ${6:-600}
  replay:
    gtid: "$3"
    inclusive: $4
    timeoutSeconds: $5
$(yaml_replay_access)
YAML
}

# ---- set-up --------------------------------------------------------------------
# The binlog volume in a StorageClass of its own (same driver): the scratch
# claims must each take their template's class (they once all took the
# first volume's, data's).
binlog_class=pitrip-binlog
drop_binlog_class() { "$KUBECTL" delete storageclass "$binlog_class" --ignore-not-found >/dev/null 2>&1 || true; }
on_exit() { drop_binlog_class; }
"$KUBECTL" apply -f - >/dev/null <<YAML || fail "creating StorageClass $binlog_class"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $binlog_class
provisioner: sim.snapstage.io
reclaimPolicy: Delete
volumeBindingMode: Immediate
YAML
# the second storageClassName of the file is the binlog template's
awk -v c="$binlog_class" '/storageClassName: snapstage-sim/ && ++n == 2 { sub(/snapstage-sim/, c) } { print }' \
    "$ROOT/hack/sim/mariadb.yaml" >"$work/mariadb.yaml"
[ "$(grep -c "storageClassName: $binlog_class" "$work/mariadb.yaml")" = 1 ] ||
    fail "no binlog template class in the StatefulSet's copy"
install_crds
mini_mariadb_up "$work/mariadb.yaml"
start_controller --enable-in-place-restore --enable-point-in-time-restore
kn annotate statefulset mariadb snapstage.io/in-place-restore=allowed >/dev/null ||
    fail "annotating the StatefulSet"
sql mariadb-0 "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY);
INSERT INTO shop.orders VALUES (1), (2);
GRANT BINLOG MONITOR ON *.* TO 'repl'@'%'" || fail "writing on the primary"
wait_for 30 "rows 1,2 on mariadb-1" rows_are mariadb-1 1,2
backup_yaml base | kn apply -f - >/dev/null || fail "creating Backup base"
wait_for 120 "Backup base completes" backup_complete base
sql mariadb-0 "INSERT INTO shop.orders VALUES (3)" || fail "writing row 3"
drop_gtid=$(sql mariadb-0 "DROP TABLE shop.orders; SELECT @@last_gtid") || fail "the accident"
sql mariadb-0 "CREATE TABLE shop.other (x INT PRIMARY KEY); INSERT INTO shop.other VALUES (1)" ||
    fail "writing after the DROP"
wait_for 30 "the accident reached mariadb-1" \
    test "$(sql mariadb-1 "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'other'")" = 1
note "base at $(kn get backup base -o jsonpath='{.status.position.gtidCurrentPos}'); row 3, DROP at $drop_gtid, then shop.other"

# ---- the Restore, watched and killed in Snapshotting and SafetyBackup --------------
# The scratch claims as made: "<volume> <class>" per claim.
exec {claims_fd}< <(timeout 400 "$KUBECTL" -n "$ns" get pvc -l snapstage.io/scratch=pitr -w \
    -o jsonpath='{.metadata.labels.snapstage\.io/volume} {.spec.storageClassName}{"\n"}' 2>/dev/null)
pitr_in_place undo base "$drop_gtid" false 300
t0=$SECONDS
# The watch prints "<replay step>/<in-place step>" on each change; each
# new value is logged with the seconds since the Restore was made.
exec {watch_fd}< <(timeout 400 "$KUBECTL" -n "$ns" get restore undo -w \
    -o jsonpath='{.status.replay.step}/{.status.inPlace.step}{"\n"}' 2>/dev/null)
want=(Snapshotting SafetyBackup)
next=0 last= timeline=
while read -r -u "$watch_fd" line; do
    if [ "$line" != "$last" ]; then
        timeline+=" ${line}@$((SECONDS - t0))s"
        last=$line
    fi
    if [ $next -lt ${#want[@]} ] && [ "${line%%/*}" = "${want[$next]}" ]; then
        kill_controller KILL
        ok "SIGKILLed the controller in step ${want[$next]} (at $((SECONDS - t0)) s)"
        next=$((next + 1))
        start_controller --enable-in-place-restore --enable-point-in-time-restore
    fi
    case "$line" in InPlace/Done | */RolledBack) break ;; esac
    finished undo 2>/dev/null && break
done
exec {watch_fd}<&-
note "steps seen (replay/inPlace@seconds):$timeline"
[ $next = ${#want[@]} ] || fail "killed only in $next of ${want[*]} (saw:$timeline)"
wait_for 300 "undo: the Restore finishes" finished undo
cond_is undo Complete True ||
    fail "undo: not Complete: $(rs undo '{.status.conditions[?(@.type=="Failed")].reason}'): $(rs undo '{.status.message}')"
note "undo: $(rs undo '{.status.message}') ($((SECONDS - t0)) s in all)"
want_target="${drop_gtid%-*}-$(($(seq_of "$drop_gtid") - 1))"
[ "$(rs undo '{.status.replay.targetPosition}')" = "$want_target" ] ||
    fail "undo: targetPosition '$(rs undo '{.status.replay.targetPosition}')', want $want_target"
[ "$(rs undo '{.status.inPlace.gtidPosition}')" = "$want_target" ] ||
    fail "undo: the in-place position '$(rs undo '{.status.inPlace.gtidPosition}')' is not the target $want_target"
ok "undo: Complete after 2 SIGKILLs; target $want_target (just before the DROP) is the in-place position"

scratch_classes=$(timeout 5 cat <&"$claims_fd" | sort -u | tr '\n' ';' || true)
exec {claims_fd}<&-
[ "$scratch_classes" = "binlog $binlog_class;data snapstage-sim;" ] ||
    fail "undo: the scratch claims' classes '$scratch_classes', want binlog in $binlog_class and data in snapstage-sim"
ok "undo: each scratch claim in its template's class (binlog $binlog_class, data snapstage-sim)"
[ "$(kn get pvc binlog-mariadb-0 -o jsonpath='{.spec.storageClassName}')" = "$binlog_class" ] ||
    fail "undo: the primary's restored binlog claim is not in $binlog_class"

# ---- the data, the replicas ------------------------------------------------------------
wait_for 120 "all 3 members are Ready" kn rollout status statefulset/mariadb --timeout=5s
for p in mariadb-0 mariadb-1; do
    rows=$(rows_on $p) || fail "querying $p"
    [ "$rows" = 1,2,3 ] || fail "$p holds rows '$rows', want 1,2,3 (row 3 came after the Backup)"
    [ "$(sql $p "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'other'")" = 0 ] ||
        fail "$p holds shop.other, written after the DROP"
done
ok "primary and replica: rows 1,2,3 (written after the Backup, before the DROP) and no shop.other"
[ "$(sql mariadb-0 'SELECT @@read_only')" = 0 ] || fail "the primary is read-only"
sql mariadb-0 "INSERT INTO shop.orders VALUES (10)" || fail "the primary refused a write"
wait_for 30 "mariadb-1 replicates the new write" rows_are mariadb-1 1,2,3,10
wait_for 30 "mariadb-2 replicates the new write" rows_are mariadb-2 1,2,3,10
[ "$(sql mariadb-1 'SELECT @@read_only')" = 1 ] || fail "replica mariadb-1 is not read-only"
ok "the primary takes writes; both replicas replicate them"

# ---- the safety Backup -------------------------------------------------------------------
safety=$(rs undo '{.status.replay.safetyBackup}')
[ "$safety" = undo-safety ] || fail "status.replay.safetyBackup is '$safety'"
n=$(kn get backups -l snapstage.io/safety-backup-for=undo -o name | wc -l)
[ "$n" = 1 ] || fail "$n Backups labelled safety-backup-for=undo, want 1"
backup_complete undo-safety || fail "the safety Backup is not Complete"
[ "$(kn get backup undo-safety -o jsonpath='{.status.sourceRole}')" = Primary ] ||
    fail "the safety Backup was cut on a $(kn get backup undo-safety -o jsonpath='{.status.sourceRole}'), not the primary"
pos=$(kn get backup undo-safety -o jsonpath='{.status.position.gtidCurrentPos}')
[ -n "$(domain0_seq "$pos")" ] && [ "$(domain0_seq "$pos")" -gt "$(seq_of "$drop_gtid")" ] ||
    fail "the safety Backup's position '$pos' is not past the DROP $drop_gtid"
[ -z "$(kn get backup undo-safety -o jsonpath='{.metadata.ownerReferences}')" ] ||
    fail "the safety Backup is owned: it would go with the Restore"
ok "the safety Backup undo-safety: the only one, Complete, not owned, at $pos (past the DROP $drop_gtid)"

# ---- nothing left ---------------------------------------------------------------------------
wait_for 60 "no scratch Pod, claim or replayed VolumeSnapshot left" no_scratch_left

# ---- a safety Backup that cannot be taken: SafetyBackupFailed, the target untouched -------
# A new base (the rollback began a new binary log at the target), a row,
# then another session holds BACKUP STAGE on the primary, so the safety
# Backup's own BACKUP STAGE START waits: the Restore gives up after
# replay.timeoutSeconds, before anything of the StatefulSet is touched.
backup_yaml base2 | kn apply -f - >/dev/null || fail "creating Backup base2"
wait_for 120 "Backup base2 completes" backup_complete base2
target2=$(sql mariadb-0 "INSERT INTO shop.orders VALUES (30); SELECT @@last_gtid") || fail "writing row 30"
wait_for 30 "row 30 reached mariadb-1" rows_are mariadb-1 "$(rows_on mariadb-0)"
rows_before=$(rows_on mariadb-0)
member_claims() { # FIELD: the members' claims as name=FIELD (a jsonpath), sorted
    kn get pvc -o jsonpath="{range .items[*]}{.metadata.name}={$1}{\"\\n\"}{end}" |
        grep -E '^(data|binlog)-mariadb-[0-9]+=' | sort | tr '\n' ' '
}
live_claims() { member_claims .metadata.uid; }
claims_before=$(live_claims)
[ "$(wc -w <<<"$claims_before")" = 6 ] || fail "the members' claims: '$claims_before'"
primary_ip=$(kn get pod mariadb-0 -o jsonpath='{.status.podIP}')
MYSQL_PWD=$(root_pw) mariadb -h "$primary_ip" -u root \
    -e "BACKUP STAGE START; SELECT SLEEP(300)" >"$work/stage-holder.log" 2>&1 &
stage_holder=$!
on_exit() { kill "$stage_holder" 2>/dev/null || true; drop_binlog_class; }
holding() { sql mariadb-0 "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(300)%'" | grep -qx 1; }
wait_for 30 "another session holds BACKUP STAGE START on the primary" holding
t0=$SECONDS
pitr_in_place blocked base2 "$target2" true 20
wait_for 240 "blocked: Failed SafetyBackupFailed" cond_is blocked Failed True SafetyBackupFailed
msg=$(rs blocked '{.status.message}')
note "blocked: $msg ($((SECONDS - t0)) s)"
[[ "$msg" == *"safety Backup blocked-safety failed ("*")"* || "$msg" == *"blocked-safety did not complete within"* ]] ||
    fail "blocked: the message does not say what became of the safety Backup: $msg"
[ -z "$(rs blocked '{.status.inPlace.step}')" ] ||
    fail "blocked: the in-place machinery ran (step $(rs blocked '{.status.inPlace.step}'))"
[ "$(kn get statefulset mariadb -o jsonpath='{.spec.replicas}')" = 3 ] ||
    fail "blocked: the StatefulSet is at $(kn get statefulset mariadb -o jsonpath='{.spec.replicas}') replicas"
claims_after=$(live_claims)
[ "$claims_after" = "$claims_before" ] || fail "blocked: the claims changed: '$claims_before' -> '$claims_after'"
[ "$(rows_on mariadb-0)" = "$rows_before" ] || fail "blocked: the primary holds '$(rows_on mariadb-0)', had '$rows_before'"
wait_for 60 "blocked: no scratch Pod, claim or replayed VolumeSnapshot left" no_scratch_left
ok "blocked: SafetyBackupFailed; the StatefulSet, its claims and the primary's rows $rows_before untouched"
kill "$stage_holder" 2>/dev/null || true

# ---- a failure in place: the rollback gives the StatefulSet its volumes back --------------
# The replayed snapshots' claims never bind (storage.py restore-fault
# pending, set as soon as the snapshots exist, before the in-place steps
# make claims from them), so ReplacingClaims runs out of the Restore's
# timeoutSeconds: RollingBack, then RolledBack onto the old volumes, with
# row 40 (written after the target) still there.

sql mariadb-0 "INSERT INTO shop.orders VALUES (40)" || fail "writing row 40"
wait_for 30 "row 40 reached mariadb-1" rows_are mariadb-1 "$(rows_on mariadb-0)"
rows_before=$(rows_on mariadb-0)
claim_pvs() { member_claims .spec.volumeName; }
pvs_before=$(claim_pvs)
t0=$SECONDS
pitr_in_place rolled base2 "$target2" true 60 60
replayed_exist() { kn get volumesnapshot rolled-replayed-data rolled-replayed-binlog >/dev/null 2>&1; }
wait_for 120 "rolled: the replayed VolumeSnapshots exist" replayed_exist
kn annotate volumesnapshot rolled-replayed-data rolled-replayed-binlog \
    sim.snapstage.io/restore-fault=pending >/dev/null || fail "rolled: annotating the replayed snapshots"
step=$(rs rolled '{.status.inPlace.step}')
[ -z "$step" ] || fail "rolled: the fault came too late: the in-place step is $step already"
ok "rolled: its replayed snapshots have restore-fault=pending (at $((SECONDS - t0)) s, before the in-place steps)"
wait_for 240 "rolled: the Restore ends" finished rolled
outcome="$(rs rolled '{.status.phase}') $(rs rolled '{.status.conditions[?(@.type=="Failed")].reason}') $(rs rolled '{.status.inPlace.step}')"
note "rolled: $outcome after $((SECONDS - t0)) s: $(rs rolled '{.status.message}')"
[ "$outcome" = "Failed Timeout RolledBack" ] || fail "rolled: outcome '$outcome', want 'Failed Timeout RolledBack'"
wait_for 120 "rolled: all 3 members are Ready" kn rollout status statefulset/mariadb --timeout=5s
[ "$(claim_pvs)" = "$pvs_before" ] || fail "rolled: the claims are not on their old volumes: '$pvs_before' -> '$(claim_pvs)'"
rows_are mariadb-0 "$rows_before" || fail "rolled: the primary holds '$(rows_on mariadb-0)', want $rows_before"
sql mariadb-0 "INSERT INTO shop.orders VALUES (41)" || fail "rolled: the primary refused a write"
wait_for 60 "rolled: mariadb-1 replicates a new write" rows_are mariadb-1 "$rows_before,41"
wait_for 60 "rolled: mariadb-2 replicates a new write" rows_are mariadb-2 "$rows_before,41"
wait_for 60 "rolled: no scratch Pod, claim or replayed VolumeSnapshot left" no_scratch_left
backup_complete rolled-safety || fail "rolled: its safety Backup is not Complete"
ok "rolled: Failed Timeout, RolledBack: the old volumes with rows $rows_before, replicating; the safety Backup kept"

stop_controller
check_clean_log
ok "the controller stopped cleanly on SIGTERM (exit 0, no sanitizer report)"
