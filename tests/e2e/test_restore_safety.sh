#!/usr/bin/env bash
# In-place Restores cannot destroy data (issue 13): the real snapstage
# binary (--enable-in-place-restore) against the mini-cluster with a
# MariaDB primary + 2 replicas (hack/sim/mariadb.yaml), the StatefulSet
# annotated snapstage.io/in-place-restore: "allowed" except where a case
# needs it missing. Every case is judged by the data afterwards: the rows on
# the primary and a replica, the replica count, and the claims (their UIDs
# where nothing may change, the PersistentVolumes they are bound to after a
# rollback). Before each restore a row is written after its Backup, so the
# pre-restore data and the Backup's differ. Cases:
#   a  snapshots gone   a Complete Backup whose VolumeSnapshots were
#                       deleted: a NewClaims and an InPlace Restore fail
#                       SnapshotMissing in < 15 s, the message names the
#                       snapshot, no claim is made, nothing touched; the
#                       Backup says Restorable False SnapshotMissing;
#                       snapshots of the same names made again by someone
#                       else (not owned by the Backup): SnapshotNotOwned;
#                       NewClaims into a StorageClass of another
#                       provisioner: StorageClassMismatch; no claim made
#   b  no opt-in        the annotation missing, or not "allowed":
#                       InPlaceRestoreNotAllowed, nothing touched
#   c  inexact          a Backup with lock.stage FLUSH: PositionNotExact,
#                       nothing touched
#   d  pointInTime      1970-01-01T00:00:00Z (schedule with a Backup) is an
#                       instant, not "unset": SourceNotFound, not the newest
#                       Backup; 2999-01-01T00:00:00Z is refused by the API
#                       server or fails InvalidSpec naming the range
#   e  rollback         the Backup's snapshots get the storage fault
#                       restore-fault=pending: the new claims never bind,
#                       timeoutSeconds 40 passes in ReplacingClaims,
#                       RollingBack, Failed Timeout, step RolledBack; the
#                       StatefulSet is back at 3 Ready members on its old
#                       volumes with the pre-restore rows, and replicates
#   f  snapshot race    the source snapshots deleted on sight of
#                       ReplacingClaims: Completed with the Backup's rows or
#                       Failed + RolledBack with the pre-restore rows; never
#                       anything else, all members Ready
#   g  kill + delete    SIGKILL on sight of each step, the snapshots deleted,
#                       the controller started again: in ScalingDown and
#                       ReplacingClaims it fails (RolledBack, or
#                       SnapshotMissing scaled back) with the pre-restore
#                       rows; in ScalingUp and ConfiguringReplication (new
#                       claims Bound) it completes with the Backup's rows
#   h  spec edit        primaryOrdinal patched to 1 mid-restore: Warning
#                       SpecChangeIgnored, Completed, mariadb-0 the primary
#   i  target replaced  the StatefulSet deleted (--cascade=orphan) and made
#                       again (new UID, replicas 0) while the controller is
#                       down in ScalingDown: Failed TargetChanged, no claim
#                       deleted, the data there when scaled up by hand
# Ends with a checked SIGTERM: exit 0 and no sanitizer report.
#
# Environment: SNAPSTAGE_CLUSTER_DIR (a running `hack/cluster.sh up
# --with-mariadb` cluster), SNAPSTAGE_BIN (the controller).
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_restore_safety safety

watchers=()
other_class=snapstage-other-$ns
on_exit() {
    local p
    for p in "${watchers[@]}"; do kill "$p" 2>/dev/null || true; done
    "$KUBECTL" delete storageclass "$other_class" --wait=false >/dev/null 2>&1 || true
}
dump_on_fail() {
    kn get restores -o yaml 2>/dev/null | tail -n 80 || true
    "$KUBECTL" get pv -o custom-columns=NAME:.metadata.name,PHASE:.status.phase,POLICY:.spec.persistentVolumeReclaimPolicy,CLAIM:.spec.claimRef.namespace/.spec.claimRef.name 2>/dev/null |
        grep -E "^NAME|$ns" || true
}

rs() { kn get restore "$1" -o jsonpath="$2"; }
cond_is() { # restore type status [reason]
    [ "$(rs "$1" "{.status.conditions[?(@.type==\"$2\")].status}")" = "$3" ] &&
        { [ -z "${4:-}" ] || [ "$(rs "$1" "{.status.conditions[?(@.type==\"$2\")].reason}")" = "$4" ]; }
}
ended() { # restore: Completed or Failed
    local p
    p=$(rs "$1" '{.status.phase}')
    [ "$p" = Completed ] || [ "$p" = Failed ]
}
outcome() { # restore: "Completed <step>" or "Failed <reason> <step>", or the phase
    local p
    p=$(rs "$1" '{.status.phase}')
    case $p in
    Completed) echo "Completed $(rs "$1" '{.status.inPlace.step}')" ;;
    Failed) echo "Failed $(rs "$1" '{.status.conditions[?(@.type=="Failed")].reason} {.status.inPlace.step}')" ;;
    *) echo "${p:-no phase}" ;;
    esac
}
replicas() { kn get statefulset mariadb -o jsonpath='{.spec.replicas}'; }
claim_uids() { kn get pvc -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.uid} {end}'; }
claim_pvs() { kn get pvc -o jsonpath='{range .items[*]}{.metadata.name}={.spec.volumeName} {end}'; }
all_ready() { kn rollout status statefulset/mariadb --timeout=5s; }

# ---- data ---------------------------------------------------------------------------
# rows_now: the rows every member holds now; backup_rows[B]: those in Backup B.
rows_now=""
next_row=1
declare -A backup_rows
add_row() { # writes the next row on the primary; both replicas have it
    sql mariadb-0 "INSERT INTO shop.orders VALUES ($next_row)" || fail "writing row $next_row"
    rows_now=${rows_now:+$rows_now,}$next_row
    next_row=$((next_row + 1))
    wait_for 60 "row ${rows_now##*,} on mariadb-1" rows_are mariadb-1 "$rows_now"
    wait_for 60 "row ${rows_now##*,} on mariadb-2" rows_are mariadb-2 "$rows_now"
}
replicates() { # after a restore: a new row on the primary reaches both replicas
    add_row
    ok "$1: the primary takes a write and both replicas replicate it"
}

# ---- helpers ------------------------------------------------------------------------
backup() { # name [lock stage]: a Backup of a replica, Complete; then a row after it
    local lock=""
    [ -z "${2:-}" ] || lock="  lock:
    stage: $2"
    backup_yaml "$1" "$lock" | kn apply -f - >/dev/null || fail "creating Backup $1"
    backup_complete() {
        [ "$(kn get backup "$1" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}')" = True ]
    }
    wait_for 90 "Backup $1${2:+ (stage $2)} is Complete (rows $rows_now)" backup_complete "$1"
    backup_rows[$1]=$rows_now
    add_row
}
snapshots_of() { kn get backup "$1" -o jsonpath='{.status.snapshots[*].volumeSnapshotName}'; }
delete_snapshots() { # backup [--wait=false]
    local s
    s=$(snapshots_of "$1")
    [ -n "$s" ] || fail "Backup $1 lists no VolumeSnapshots"
    # shellcheck disable=SC2086 # a list of names
    kn delete volumesnapshot $s "${@:2}" >/dev/null || fail "deleting the snapshots of $1 ($s)"
}
# in_place NAME BACKUP [extra yaml]: an InPlace Restore of StatefulSet
# mariadb; the extra lines go under spec.target.inPlace (indented 6);
# timeoutSeconds is $timeout (default 120).
in_place() {
    kn apply -f - >/dev/null <<YAML || fail "creating Restore $1"
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata:
  name: $1
spec:
  source:
    backupName: $2
$(yaml_in_place_target "${3:-}")
  timeoutSeconds: ${timeout:-120}
YAML
}
new_claims() { # name backup [storage class]
    kn apply -f - >/dev/null <<YAML || fail "creating Restore $1"
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata:
  name: $1
spec:
  source:
    backupName: $2
  target:
    mode: NewClaims
    newClaims:
      storageClassName: ${3:-snapstage-sim}
  timeoutSeconds: 120
YAML
}
# The steps of a Restore as a watch sees them (each as it is written), one a
# line in $work/steps-NAME; started before the Restore is created (a list
# watch by name), so no step is missed.
watch_steps() {
    timeout 600 "$KUBECTL" -n "$ns" get restores --field-selector "metadata.name=$1" -w \
        --request-timeout=0 -o jsonpath='{.status.inPlace.step}{"\n"}' >"$work/steps-$1" 2>/dev/null &
    watchers+=($!)
    sleep 0.5 # the watch is open before the Restore is made
}
saw_step() { grep -qx "$2" "$work/steps-$1" 2>/dev/null; }
wait_step() { # restore step [seconds]: until the watch saw the step
    local end=$((SECONDS + ${3:-120}))
    until saw_step "$1" "$2"; do
        [ $SECONDS -lt $end ] || fail "Restore $1 never reached step $2 (saw: $(steps_seen "$1"))"
        if ended "$1" 2>/dev/null; then
            sleep 0.5
            saw_step "$1" "$2" && break
            fail "Restore $1 ended ($(outcome "$1")) before step $2 (saw: $(steps_seen "$1"))"
        fi
        sleep 0.05
    done
}
steps_seen() { awk 'NF && $0 != last { printf "%s ", $0; last = $0 }' "$work/steps-$1" 2>/dev/null; }
# Nothing was touched: 3 replicas, the same claims (UIDs) on the same
# volumes, the rows as before on the primary and a replica.
mark() {
    uids_mark=$(claim_uids)
    pvs_mark=$(claim_pvs)
    primary_ip_mark=$(kn get pod mariadb-0 -o jsonpath='{.status.podIP}')
}
assert_untouched() { # what
    [ "$(replicas)" = 3 ] || fail "$1: the StatefulSet has $(replicas) replicas, want 3"
    [ "$(claim_uids)" = "$uids_mark" ] || fail "$1: claims changed: '$uids_mark' -> '$(claim_uids)'"
    [ "$(claim_pvs)" = "$pvs_mark" ] || fail "$1: volumes changed: '$pvs_mark' -> '$(claim_pvs)'"
    rows_are mariadb-0 "$rows_now" || fail "$1: the primary holds '$(rows_on mariadb-0)', want $rows_now"
    rows_are mariadb-1 "$rows_now" || fail "$1: mariadb-1 holds '$(rows_on mariadb-1)', want $rows_now"
    ok "$1: nothing touched (3 replicas, same claims and volumes, rows $rows_now)"
}
# After a rollback: 3 Ready members on the volumes they had before, the
# pre-restore rows, none of the Restore's claims left, replication works.
assert_rolled_back() { # restore what
    wait_for 120 "$2: all 3 members are Ready" all_ready
    [ "$(replicas)" = 3 ] || fail "$2: the StatefulSet has $(replicas) replicas, want 3"
    [ "$(claim_pvs)" = "$pvs_mark" ] || fail "$2: the claims are not on their old volumes: '$pvs_mark' -> '$(claim_pvs)'"
    [ -z "$(kn get pvc -l "snapstage.io/restore=$1" -o name)" ] ||
        fail "$2: claims of the Restore left: $(kn get pvc -l "snapstage.io/restore=$1" -o name)"
    rows_are mariadb-0 "$rows_now" || fail "$2: the primary holds '$(rows_on mariadb-0)', want the pre-restore rows $rows_now"
    wait_for 30 "$2: mariadb-1 holds the pre-restore rows $rows_now" rows_are mariadb-1 "$rows_now"
    ok "$2: back on the old volumes with the pre-restore rows $rows_now"
    note "$2: old volumes' reclaim policies now: $(old_policies)"
    same_primary_address "$2"
    replicates "$2"
}
master_host() { # replica: the host it replicates from
    local ip
    ip=$(kn get pod "$1" -o jsonpath='{.status.podIP}')
    MYSQL_PWD=$(root_pw) mariadb -h "$ip" -u root --connect-timeout=5 -E \
        -e "SHOW SLAVE STATUS" | sed -n 's/^ *Master_Host: //p'
}
# The replicas of data given back by a rollback replicate from the host
# recorded in that data: the primary's address before the restore. The
# simulated node leases each new Pod an address, so a re-created mariadb-0
# may get another one (a real cluster would use the Service's DNS name).
same_primary_address() { # what
    local now p h
    now=$(kn get pod mariadb-0 -o jsonpath='{.status.podIP}')
    for p in mariadb-1 mariadb-2; do
        h=$(master_host "$p")
        [ "$h" = "$now" ] ||
            fail "$1: $p replicates from $h, but the primary mariadb-0 is now at $now (it was at $primary_ip_mark before the restore): nothing pointed the replicas at the primary's new address after the rollback"
    done
    ok "$1: both replicas replicate from mariadb-0's address $now (before: $primary_ip_mark)"
}
old_policies() { # "6 Delete", "3 Retain 3 Delete", ...
    local p
    for p in $(echo "$pvs_mark" | tr ' ' '\n' | sed -n 's/.*=//p'); do
        "$KUBECTL" get pv "$p" -o jsonpath='{.spec.persistentVolumeReclaimPolicy}{"\n"}' 2>/dev/null || echo gone
    done | sort | uniq -c | xargs
}
# After a completed restore: 3 Ready members, the Backup's rows on the
# primary (and a replica), every claim the Restore's, replication works.
assert_restored() { # restore backup what
    wait_for 120 "$3: all 3 members are Ready" all_ready
    [ "$(replicas)" = 3 ] || fail "$3: the StatefulSet has $(replicas) replicas, want 3"
    rows_now=${backup_rows[$2]}
    rows_are mariadb-0 "$rows_now" || fail "$3: the primary holds '$(rows_on mariadb-0)', want the Backup's rows $rows_now"
    wait_for 30 "$3: mariadb-1 holds the Backup's rows $rows_now" rows_are mariadb-1 "$rows_now"
    [ "$(kn get pvc -l "snapstage.io/restore=$1" -o name | wc -l)" = 6 ] ||
        fail "$3: $(kn get pvc -l "snapstage.io/restore=$1" -o name | wc -l) claims are the Restore's, want 6"
    ok "$3: completed with the Backup's rows $rows_now, all 6 claims the Restore's"
    replicates "$3"
}
# timed_fail T0 NAME REASON: Restore NAME, created at T0 (date +%s%N), fails
# with REASON in less than 15 s; the message is noted.
timed_fail() {
    local t0=$1 name=$2 reason=$3 end ms
    end=$((SECONDS + 30))
    until cond_is "$name" Failed True; do
        [ $SECONDS -lt $end ] || fail "$name: not Failed after 30 s ($(outcome "$name"))"
        sleep 0.1
    done
    ms=$((($(date +%s%N) - t0) / 1000000))
    cond_is "$name" Failed True "$reason" ||
        fail "$name: Failed with $(outcome "$name"), want $reason: $(rs "$name" '{.status.message}')"
    [ "$ms" -lt 15000 ] || fail "$name: Failed $reason after $ms ms, want < 15000"
    ok "$name: Failed $reason after $ms ms"
    note "message: $(rs "$name" '{.status.message}')"
}

# ---- set-up ---------------------------------------------------------------------------
install_crds
mini_mariadb_up
kn annotate statefulset mariadb snapstage.io/in-place-restore=allowed >/dev/null
start_controller --enable-in-place-restore
sql mariadb-0 "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY)" ||
    fail "creating shop.orders"
add_row
add_row
backup base
mark

# ---- a: a Backup whose VolumeSnapshots were deleted ---------------------------------------
backup gone
mark
gone_snaps=$(snapshots_of gone)
delete_snapshots gone
ok "a: deleted the VolumeSnapshots of Backup gone ($gone_snaps)"
t0=$(date +%s%N)
new_claims gone-new gone
timed_fail "$t0" gone-new SnapshotMissing
t0=$(date +%s%N)
in_place gone-inplace gone
timed_fail "$t0" gone-inplace SnapshotMissing
for r in gone-new gone-inplace; do
    msg=$(rs "$r" '{.status.message}')
    named=""
    for s in $gone_snaps; do [[ "$msg" == *"$s"* ]] && named=$s; done
    [ -n "$named" ] || fail "a: $r's message names none of $gone_snaps: $msg"
done
ok "a: both messages name a deleted VolumeSnapshot"
[ -z "$(kn get pvc -l snapstage.io/restore=gone-new -o name)" ] || fail "a: the NewClaims Restore made claims"
[ "$(kn get pvc -o name | wc -l)" = 6 ] || fail "a: claims: $(kn get pvc -o name | xargs)"
ok "a: no claim made by either Restore"
assert_untouched "a"
restorable() {
    [ "$(kn get backup gone -o jsonpath='{.status.conditions[?(@.type=="Restorable")].status}/{.status.conditions[?(@.type=="Restorable")].reason}')" = False/SnapshotMissing ]
}
wait_for 30 "a: Backup gone says Restorable False SnapshotMissing" restorable
note "a: Restorable: $(kn get backup gone -o jsonpath='{.status.conditions[?(@.type=="Restorable")].message}')"
[ "$(kn get backup base -o jsonpath='{.status.conditions[?(@.type=="Restorable")].status}/{.status.conditions[?(@.type=="Restorable")].reason}')" = True/SnapshotsReady ] ||
    fail "a: Backup base (snapshots intact) is not Restorable True SnapshotsReady"
ok "a: Backup base, its snapshots intact, is Restorable True SnapshotsReady"
# Snapshots of the same names made again by someone else: not the Backup's.
backup impostor
mark
imp_snaps=$(snapshots_of impostor)
delete_snapshots impostor
for s in $imp_snaps; do
    claim=$(case $s in *-binlog) echo binlog-mariadb-0 ;; *) echo data-mariadb-0 ;; esac)
    kn apply -f - >/dev/null <<YAML || fail "a: making snapshot $s again"
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: $s
spec:
  source:
    persistentVolumeClaimName: $claim
YAML
done
vs_ready() { [ "$(kn get volumesnapshot "$1" -o jsonpath='{.status.readyToUse}')" = true ]; }
for s in $imp_snaps; do wait_for 60 "a: $s made again (of mariadb-0, no owner) is readyToUse" vs_ready "$s"; done
t0=$(date +%s%N)
new_claims impostor-new impostor
timed_fail "$t0" impostor-new SnapshotNotOwned
t0=$(date +%s%N)
in_place impostor-inplace impostor
timed_fail "$t0" impostor-inplace SnapshotNotOwned
[ "$(kn get pvc -o name | wc -l)" = 6 ] || fail "a: claims: $(kn get pvc -o name | xargs)"
assert_untouched "a (snapshots not owned)"
# NewClaims into a StorageClass whose provisioner did not cut the snapshots.
"$KUBECTL" apply -f - >/dev/null <<YAML || fail "a: creating StorageClass $other_class"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: $other_class
provisioner: example.com/other
reclaimPolicy: Delete
volumeBindingMode: Immediate
YAML
t0=$(date +%s%N)
new_claims mismatch base "$other_class"
timed_fail "$t0" mismatch StorageClassMismatch
[ "$(kn get pvc -o name | wc -l)" = 6 ] || fail "a: claims: $(kn get pvc -o name | xargs)"
ok "a: StorageClassMismatch made no claim"

# ---- b: no opt-in -------------------------------------------------------------------------
kn annotate statefulset mariadb snapstage.io/in-place-restore- >/dev/null
t0=$(date +%s%N)
in_place noallow base
timed_fail "$t0" noallow InPlaceRestoreNotAllowed
assert_untouched "b (annotation missing)"
kn annotate statefulset mariadb snapstage.io/in-place-restore=true >/dev/null
t0=$(date +%s%N)
in_place notallowed-true base
timed_fail "$t0" notallowed-true InPlaceRestoreNotAllowed
assert_untouched "b (annotation \"true\", not \"allowed\")"
kn annotate statefulset mariadb snapstage.io/in-place-restore=allowed --overwrite >/dev/null

# ---- c: a Backup without an exact position -------------------------------------------------
backup flush FLUSH
mark
note "c: Backup flush: lock stage $(kn get backup flush -o jsonpath='{.status.lock.stage}'), position $(kn get backup flush -o jsonpath='{.status.position.gtidCurrentPos}')"
t0=$(date +%s%N)
in_place inexact flush
timed_fail "$t0" inexact PositionNotExact
assert_untouched "c"

# ---- d: pointInTime at the edges ---------------------------------------------------------
kn apply -f - >/dev/null <<'YAML' || fail "creating the schedule"
apiVersion: snapstage.io/v1alpha1
kind: BackupSchedule
metadata:
  name: yearly
spec:
  schedule: "0 0 1 1 *"
  target:
    statefulSetName: mariadb
    role: Replica
    connection:
      credentialsSecretRef:
        name: mariadb-backup
YAML
kn annotate backupschedule yearly snapstage.io/run-now=d >/dev/null
sched_backup() { kn get backups -l snapstage.io/schedule=yearly -o jsonpath='{.items[0].metadata.name}'; }
wait_for 30 "d: schedule yearly made a Backup" sched_backup
yearly=$(sched_backup)
sched_done() { [ "$(kn get backup "$yearly" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}')" = True ]; }
wait_for 90 "d: Backup $yearly of schedule yearly is Complete" sched_done
mark
pit() { # name instant
    kn apply -f - 2>&1 >/dev/null <<YAML
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata:
  name: $1
spec:
  source:
    scheduleName: yearly
    pointInTime: "$2"
  target:
    mode: InPlace
    inPlace:
      statefulSetName: mariadb
      acknowledgeDataLoss: true
      replicationCredentialsSecretRef:
        name: mariadb
        usernameKey: replication-user
        passwordKey: replication-password
      connection:
        credentialsSecretRef:
          name: mariadb-backup
  timeoutSeconds: 120
YAML
}
out=$(pit epoch 1970-01-01T00:00:00Z) || fail "d: the API server refused pointInTime 1970-01-01T00:00:00Z: $out"
t0=$(date +%s%N)
timed_fail "$t0" epoch SourceNotFound
[ "$(rs epoch '{.status.sourceBackup}')" != "$yearly" ] || fail "d: the epoch picked the newest Backup $yearly"
ok "d: pointInTime 1970-01-01T00:00:00Z is an instant before every Backup, not 'now' ($yearly not picked)"
assert_untouched "d (epoch)"
if out=$(pit future 2999-01-01T00:00:00Z); then
    t0=$(date +%s%N)
    timed_fail "$t0" future InvalidSpec
    msg=$(rs future '{.status.message}')
    [[ "$msg" == *2262* ]] || fail "d: the InvalidSpec message does not name the allowed range: $msg"
    ok "d: pointInTime 2999-01-01T00:00:00Z: accepted by the API server, Failed InvalidSpec naming the range"
else
    [[ "$out" == *pointInTime* ]] || fail "d: refused, but not for pointInTime: $out"
    ok "d: pointInTime 2999-01-01T00:00:00Z refused by the API server: $out"
fi
assert_untouched "d (2999)"

# ---- e: the new claims never bind: timeout, rollback onto the old volumes -----------------
backup slow
mark
# shellcheck disable=SC2046 # a list of names
kn annotate volumesnapshot $(snapshots_of slow) sim.snapstage.io/restore-fault=pending >/dev/null ||
    fail "e: annotating the snapshots of slow"
ok "e: the snapshots of Backup slow have restore-fault=pending (their claims never bind)"
watch_steps timeout
t0=$SECONDS
timeout=40 in_place timeout slow
wait_step timeout ReplacingClaims
ok "e: the Restore reached ReplacingClaims"
wait_for 180 "e: the Restore ends" ended timeout
note "e: steps seen: $(steps_seen timeout); ended after $((SECONDS - t0)) s"
[ "$(outcome timeout)" = "Failed Timeout RolledBack" ] ||
    fail "e: outcome '$(outcome timeout)', want 'Failed Timeout RolledBack': $(rs timeout '{.status.message}')"
saw_step timeout RollingBack || fail "e: no step RollingBack seen (saw: $(steps_seen timeout))"
[[ "$(rs timeout '{.status.message}')" == *"rolled back"* ]] ||
    fail "e: the message does not say 'rolled back': $(rs timeout '{.status.message}')"
ok "e: Failed Timeout, RollingBack then RolledBack; message: $(rs timeout '{.status.message}')"
want_old=$(echo "$pvs_mark" | tr ' ' '\n' | sed -n 's/.*=//p' | sort | xargs)
[ "$(rs timeout '{.status.inPlace.volumes[*].oldVolumeName}' | tr ' ' '\n' | sort | xargs)" = "$want_old" ] ||
    fail "e: status.inPlace.volumes[].oldVolumeName: $(rs timeout '{.status.inPlace.volumes[*].oldVolumeName}'), want $want_old"
ok "e: status.inPlace.volumes records the 6 old volumes"
assert_rolled_back timeout "e"

# ---- f: the source snapshots deleted on sight of ReplacingClaims -------------------------
backup race
mark
watch_steps race
in_place race race
wait_step race ReplacingClaims
delete_snapshots race --wait=false
ok "f: deleted the snapshots of Backup race on sight of ReplacingClaims"
wait_for 180 "f: the Restore ends" ended race
note "f: steps seen: $(steps_seen race); outcome $(outcome race): $(rs race '{.status.message}')"
case "$(outcome race)" in
"Completed "*) assert_restored race race "f (completed)" ;;
"Failed "*" RolledBack") assert_rolled_back race "f (rolled back)" ;;
*) fail "f: outcome '$(outcome race)': neither Completed nor Failed + RolledBack" ;;
esac
mark

# ---- g: SIGKILL on sight of each step, snapshots deleted, restart ------------------------
for step in ScalingDown ReplacingClaims ScalingUp ConfiguringReplication; do
    name=kill-$(echo "$step" | tr '[:upper:]' '[:lower:]')
    backup "$name"
    mark
    watch_steps "$name"
    in_place "$name" "$name"
    wait_step "$name" "$step"
    kill_controller KILL
    bound=$(kn get pvc -l "snapstage.io/restore=$name" -o jsonpath='{range .items[?(@.status.phase=="Bound")]}{.metadata.name}{" "}{end}' | wc -w)
    delete_snapshots "$name"
    ok "g: SIGKILLed in $step (status says $(rs "$name" '{.status.inPlace.step}'), $bound new claims Bound), snapshots deleted"
    start_controller --enable-in-place-restore
    wait_for 180 "g ($step): the Restore ends" ended "$name"
    note "g ($step): steps seen: $(steps_seen "$name"); outcome $(outcome "$name"): $(rs "$name" '{.status.message}')"
    case "$step/$(outcome "$name")" in
    ScalingDown/"Failed SnapshotMissing "* | */"Failed "*" RolledBack")
        [ "$step" = ScalingDown ] || [ "$step" = ReplacingClaims ] ||
            fail "g ($step): rolled back although the new claims were Bound"
        assert_rolled_back "$name" "g ($step)"
        ;;
    */"Completed "*)
        [ "$step" = ScalingUp ] || [ "$step" = ConfiguringReplication ] || [ "$bound" = 6 ] ||
            fail "g ($step): completed although its snapshots were deleted before its claims were Bound ($bound of 6)"
        assert_restored "$name" "$name" "g ($step)"
        ;;
    *) fail "g ($step): outcome '$(outcome "$name")': $(rs "$name" '{.status.message}')" ;;
    esac
    mark
done

# ---- h: the spec edited mid-restore -------------------------------------------------------
backup edit
mark
watch_steps edit
in_place edit edit
wait_step edit ScalingDown
kn patch restore edit --type merge -p '{"spec":{"target":{"inPlace":{"primaryOrdinal":1}}}}' >/dev/null ||
    fail "h: patching primaryOrdinal"
ok "h: patched spec.target.inPlace.primaryOrdinal to 1 (status says $(rs edit '{.status.inPlace.step}'))"
ignored() {
    kn get events --field-selector involvedObject.name=edit,reason=SpecChangeIgnored \
        -o jsonpath='{.items[*].type}' | grep -qw Warning
}
wait_for 60 "h: a Warning Event SpecChangeIgnored" ignored
note "h: $(kn get events --field-selector involvedObject.name=edit,reason=SpecChangeIgnored -o jsonpath='{.items[0].message}')"
wait_for 180 "h: the Restore ends" ended edit
{ [ "$(outcome edit)" = "Completed Done" ] && cond_is edit Complete True; } ||
    fail "h: outcome '$(outcome edit)': $(rs edit '{.status.message}')"
[ "$(rs edit '{.status.inPlace.primaryOrdinal}')" = 0 ] ||
    fail "h: status.inPlace.primaryOrdinal is $(rs edit '{.status.inPlace.primaryOrdinal}')"
assert_restored edit edit "h"
[ "$(sql mariadb-0 'SELECT @@read_only')" = 0 ] || fail "h: mariadb-0 is read-only: not the primary"
[ "$(sql mariadb-1 'SELECT @@read_only')" = 1 ] || fail "h: mariadb-1 is writable: made primary by the edit"
ok "h: mariadb-0 the primary (pinned), mariadb-1 a read-only replica"
mark

# ---- i: the StatefulSet replaced while the controller is down -----------------------------
backup replace
mark
sts_uid=$(kn get statefulset mariadb -o jsonpath='{.metadata.uid}')
watch_steps replace
in_place replace replace
wait_step replace ScalingDown
kill_controller KILL
ok "i: SIGKILLed in ScalingDown (status says $(rs replace '{.status.inPlace.step}'))"
kn delete statefulset mariadb --cascade=orphan --wait=true >/dev/null || fail "i: deleting the StatefulSet"
/usr/bin/python3 -c '
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == "StatefulSet":
        d["spec"]["replicas"] = 0
        d["metadata"].setdefault("annotations", {})["snapstage.io/in-place-restore"] = "allowed"
        print(yaml.safe_dump(d))' "$ROOT/hack/sim/mariadb.yaml" | kn apply -f - >/dev/null ||
    fail "i: making the StatefulSet again"
new_uid=$(kn get statefulset mariadb -o jsonpath='{.metadata.uid}')
{ [ -n "$new_uid" ] && [ "$new_uid" != "$sts_uid" ]; } || fail "i: the StatefulSet's UID is still $sts_uid"
ok "i: StatefulSet mariadb made again with replicas 0 (UID $sts_uid -> $new_uid)"
no_pods() { [ -z "$(kn get pods -l app.kubernetes.io/name=mariadb -o name)" ]; }
wait_for 120 "i: the new StatefulSet has no pods" no_pods
start_controller --enable-in-place-restore
wait_for 60 "i: the Restore ends" ended replace
[[ "$(outcome replace)" == "Failed TargetChanged"* ]] ||
    fail "i: outcome '$(outcome replace)', want Failed TargetChanged: $(rs replace '{.status.message}')"
ok "i: Failed TargetChanged: $(rs replace '{.status.message}')"
sleep 3 # would anything more be done?
[ "$(replicas)" = 0 ] || fail "i: the new StatefulSet was scaled to $(replicas)"
[ "$(claim_uids)" = "$uids_mark" ] || fail "i: claims changed: '$uids_mark' -> '$(claim_uids)'"
[ "$(claim_pvs)" = "$pvs_mark" ] || fail "i: volumes changed: '$pvs_mark' -> '$(claim_pvs)'"
[ -z "$(kn get pvc -l snapstage.io/restore=replace -o name)" ] || fail "i: the Restore made claims"
ok "i: nothing more touched: the new StatefulSet at 0, every claim (UID) and volume as before"
note "i: old volumes' reclaim policies now: $(old_policies)"
kn scale statefulset mariadb --replicas=3 >/dev/null
wait_for 180 "i: scaled up by hand, all 3 members are Ready" all_ready
rows_are mariadb-0 "$rows_now" || fail "i: the primary holds '$(rows_on mariadb-0)', want $rows_now"
wait_for 30 "i: mariadb-1 holds the rows $rows_now" rows_are mariadb-1 "$rows_now"
ok "i: the data on the kept claims is intact (rows $rows_now)"

stop_controller
check_clean_log
ok "the controller stopped cleanly on SIGTERM (exit 0, no sanitizer report)"
