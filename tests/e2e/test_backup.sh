#!/usr/bin/env bash
# The Backup controller end to end: the real snapstage binary against the
# mini-cluster's API server, MariaDB primary + 2 replicas (hack/sim/
# mariadb.yaml) and the simulated storage driver. Every failure rule of the
# Backup issue has a case here:
#   happy       a replica is locked, both of its claims are snapshotted with
#               labels, position and lock-stage annotations and an owner
#               reference; status, Events and metrics say so;
#   restorable  the Complete Backup is Restorable True; one of its
#               VolumeSnapshots deleted -> Restorable False SnapshotMissing,
#               a NotRestorable Event and the RESTORABLE column;
#   auth        a wrong password                 -> Failed AuthenticationFailed
#   secret      a Secret that does not exist     -> Failed SecretNotFound
#               (or lacks the key)                -> Failed SecretKeyMissing
#   noclass     no such VolumeSnapshotClass      -> Failed SnapshotClassNotFound
#   privilege   an account without RELOAD        -> Failed PrivilegeMissing
#   snaperror   the storage fails the snapshot   -> Failed SnapshotFailed
#   timeout     the storage never cuts           -> Failed LockTimeout, the
#               lock released at lock.timeoutSeconds, uncut snapshots deleted
#   replica     no healthy replica: role Replica -> Failed NoHealthyReplica;
#               PreferReplica -> the primary, with a Warning Event
#   twoatonce   two Backups of the same server: one waits (Queued); the lock
#               sessions never overlap; two of the StatefulSet take one
#               replica each
#   sigkill     the controller killed with SIGKILL while it holds the lock:
#               the replica commits again within seconds; restarted, the
#               controller starts the replica's SQL threads it had stopped,
#               deletes the untrusted snapshots and retries - but not an
#               object of another owner put under one of their names
#   badkey      an invalid annotation key, a key in snapstage.io/ -> Failed
#               InvalidSpec at once, nothing locked (no attempt, no Event)
#   longname    a Backup named with 70 characters: its snapshots still carry
#               the snapstage.io/backup label (shortened with a hash), the
#               whole name in snapstage.io/backup-name; Restorable True
#   target      no such StatefulSet -> TargetNotFound; a volume the pod
#               does not have -> VolumeNotFound (VolumeNotPVC and the other
#               pure decisions: tests/unit/test_backup_plan.c)
# After every failure the replica must not be left locked: a row written on
# the primary reaches it within a few seconds.
#
# Environment (set by CTest): SNAPSTAGE_CLUSTER_DIR (a running
# `hack/cluster.sh up --with-mariadb` cluster), SNAPSTAGE_BIN (the
# controller). Prints each check with the time since the start and exits
# non-zero on the first failure, after showing what it saw.
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_backup backup

bk() { kn get backup "$1" -o jsonpath="$2"; }
phase_is() { [ "$(bk "$1" '{.status.phase}')" = "$2" ]; }
failed_reason() { bk "$1" '{.status.conditions[?(@.type=="Failed")].reason}'; }
is_failed_with() { [ "$(failed_reason "$1")" = "$2" ]; }
is_complete() { [ "$(bk "$1" '{.status.conditions[?(@.type=="Complete")].status}')" = True ]; }
all_complete() { # names...
    local b
    for b in "$@"; do is_complete "$b" || return 1; done
}
restorable_is() { # backup status/reason
    [ "$(bk "$1" '{.status.conditions[?(@.type=="Restorable")].status}/{.status.conditions[?(@.type=="Restorable")].reason}')" = "$2" ]
}
max_seen=0
replicated() { # n: row n written on the primary is on both replicas
    [ "$(sql mariadb-1 "SELECT COUNT(*) FROM probe.t WHERE id=$1" 2>/dev/null)" = 1 ] &&
        [ "$(sql mariadb-2 "SELECT COUNT(*) FROM probe.t WHERE id=$1" 2>/dev/null)" = 1 ]
}
# The replicas apply a fresh write from the primary: nothing left locked.
replicas_unlocked() { # what
    max_seen=$((max_seen + 1))
    sql mariadb-0 "INSERT INTO probe.t VALUES ($max_seen)" || fail "writing on the primary"
    wait_for 15 "replicas apply writes again ($1)" replicated $max_seen
}
backup() { # name [extra yaml lines under spec, indented 2]
    local name=$1 extra=${2:-}
    cat >"$work/$name.yaml" <<YAML
apiVersion: snapstage.io/v1alpha1
kind: Backup
metadata:
  name: $name
spec:
  target:
    statefulSetName: ${TARGET:-mariadb}
    role: ${ROLE:-PreferReplica}
    connection:
      credentialsSecretRef:
        name: ${SECRET:-mariadb-backup}
$extra
YAML
    kn apply -f "$work/$name.yaml" >/dev/null || fail "applying Backup $name"
}
event_reasons() { # backup
    kn get events --field-selector "involvedObject.name=$1" \
        -o jsonpath='{range .items[*]}{.reason}{" "}{end}' 2>/dev/null
}
has_event() { [[ " $(event_reasons "$1") " == *" $2 "* ]]; }

# ---- set-up ------------------------------------------------------------------
install_crds
mini_mariadb_up
kn create secret generic wrong-password --from-literal=username=root \
    --from-literal=password=not-the-password >/dev/null
kn create secret generic no-reload --from-literal=username=noreload \
    --from-literal=password=noreload-pw >/dev/null
sql mariadb-0 "CREATE DATABASE probe; CREATE TABLE probe.t (id INT PRIMARY KEY);
CREATE USER noreload@'%' IDENTIFIED BY 'noreload-pw';
GRANT BINLOG MONITOR, REPLICA MONITOR, REPLICATION SLAVE ADMIN ON *.* TO noreload@'%';" ||
    fail "setting up the primary"
# A table of each replica's own (sql_log_bin=0: never replicated), to tell
# "the server commits" apart from "replication applies".
for r in mariadb-1 mariadb-2; do
    sql "$r" "SET SESSION sql_log_bin=0; CREATE DATABASE localprobe;
CREATE TABLE localprobe.t (id INT PRIMARY KEY) ENGINE=InnoDB;" || fail "setting up $r"
done
replicas_unlocked "set-up"
start_controller

# ---- happy ---------------------------------------------------------------------
backup happy
wait_for 60 "Backup happy is Complete" is_complete happy
[ "$(bk happy '{.status.phase}')" = Completed ] || fail "phase is not Completed"
[ "$(bk happy '{.status.sourceRole}')" = Replica ] || fail "happy did not lock a replica"
src=$(bk happy '{.status.sourcePod}')
[[ "$src" == mariadb-1 || "$src" == mariadb-2 ]] || fail "source pod '$src' is not a replica"
ok "a replica ($src) was locked, not the primary"
held=$(bk happy '{.status.lock.heldMilliseconds}')
[ -n "$held" ] && [ "$held" -ge 0 ] || fail "no lock.heldMilliseconds"
[ -n "$(bk happy '{.status.lock.connectionId}')" ] || fail "no lock.connectionId"
[ "$(bk happy '{.status.lock.stage}')" = BLOCK_COMMIT ] || fail "stage is not BLOCK_COMMIT"
[ -n "$(bk happy '{.status.position.binlogFile}')" ] || fail "no position.binlogFile"
[ -n "$(bk happy '{.status.position.gtidSlavePos}')" ] || fail "no position.gtidSlavePos"
[ -z "$(bk happy '{.status.lock.replicationPaused}')" ] || fail "replicationPaused left set"
ok "status: lock held ${held} ms, stage BLOCK_COMMIT, position $(bk happy '{.status.position.gtidSlavePos}'), replication resumed"
names=$(bk happy '{.status.snapshots[*].volumeSnapshotName}')
[[ "$names" =~ ^happy-binlog-[0-9a-f]{10}\ happy-data-[0-9a-f]{10}$ ]] ||
    fail "snapshot names are '$names' (want happy-<volume>-<hash>)"
for s in $names; do
    [ "$(kn get volumesnapshot "$s" -o jsonpath='{.status.readyToUse}')" = true ] ||
        fail "$s is not readyToUse"
    [ "$(kn get volumesnapshot "$s" -o jsonpath='{.metadata.labels.snapstage\.io/backup}')" = happy ] ||
        fail "$s lacks the backup label"
    [ "$(kn get volumesnapshot "$s" -o jsonpath='{.metadata.annotations.snapstage\.io/backup-name}')" = happy ] ||
        fail "$s lacks the backup-name annotation"
    [ "$(kn get volumesnapshot "$s" -o jsonpath='{.metadata.labels.snapstage\.io/pod}')" = "$src" ] ||
        fail "$s lacks the pod label"
    [ "$(kn get volumesnapshot "$s" -o jsonpath='{.metadata.ownerReferences[0].name}')" = happy ] ||
        fail "$s is not owned by the Backup"
    [ -n "$(kn get volumesnapshot "$s" -o jsonpath='{.metadata.annotations.snapstage\.io/gtid-slave-pos}')" ] ||
        fail "$s lacks the position annotation"
    [ "$(kn get volumesnapshot "$s" -o jsonpath='{.metadata.annotations.snapstage\.io/lock-stage}')" = BLOCK_COMMIT ] ||
        fail "$s lacks the lock-stage annotation"
    # The cut happened while the lock was held.
    cut=$(kn get volumesnapshot "$s" -o jsonpath='{.status.creationTime}')
    acq=$(bk happy '{.status.lock.acquiredTime}')
    rel=$(bk happy '{.status.lock.releasedTime}')
    [[ "$acq" < "$cut" || "$acq" == "$cut" ]] && [[ "$cut" < "$rel" ]] ||
        fail "$s was cut at $cut, outside the lock [$acq, $rel]"
done
ok "both snapshots ready, labelled, annotated with the position, owned, cut inside the lock"
for r in Started Locked Released Cut Completed; do
    has_event happy "$r" || fail "no $r Event for happy (saw: $(event_reasons happy))"
done
ok "Events: $(event_reasons happy)"
metrics=$(curl -sf "http://127.0.0.1:$metrics_port/metrics") || fail "no /metrics"
grep -q "^snapstage_backups_total{namespace=\"$ns\",result=\"completed\"" <<<"$metrics" ||
    fail "no snapstage_backups_total completed series"
grep -q "^snapstage_backup_lock_hold_seconds_count{namespace=\"$ns\"} 1" <<<"$metrics" ||
    fail "no lock hold observation"
grep -q "^snapstage_backup_seconds_since_last_success{namespace=\"$ns\",target=\"mariadb\"}" <<<"$metrics" ||
    fail "no seconds-since-last-success gauge: $(grep '^snapstage_backup' <<<"$metrics" | grep -v _bucket)"
ok "metrics: backups_total, lock hold histogram, time since last success"
replicas_unlocked "after happy"

# ---- restorable: a Complete Backup whose snapshot is deleted -----------------
wait_for 30 "happy is Restorable True (SnapshotsReady)" restorable_is happy True/SnapshotsReady
happy_binlog=$(bk happy '{.status.snapshots[?(@.volume=="binlog")].volumeSnapshotName}')
kn delete volumesnapshot "$happy_binlog" --timeout=60s >/dev/null ||
    fail "deleting VolumeSnapshot $happy_binlog"
wait_for 30 "happy is Restorable False (SnapshotMissing)" restorable_is happy False/SnapshotMissing
bk happy '{.status.conditions[?(@.type=="Restorable")].message}' | grep -q "$happy_binlog" ||
    fail "the SnapshotMissing message does not name $happy_binlog"
wait_for 15 "a NotRestorable Event for happy" has_event happy NotRestorable
kn get backups happy | grep -q "Completed *False" ||
    fail "kubectl get backups does not show RESTORABLE False: $(kn get backups happy)"
is_complete happy || fail "happy is no longer Complete"
ok "RESTORABLE column False; the message names $happy_binlog; still Complete"

# ---- bad input: nothing is locked ---------------------------------------------
SECRET=wrong-password backup auth
wait_for 60 "wrong password: Failed AuthenticationFailed" is_failed_with auth AuthenticationFailed
SECRET=does-not-exist backup secret
wait_for 30 "missing Secret: Failed SecretNotFound" is_failed_with secret SecretNotFound
SECRET=no-reload backup privilege
wait_for 60 "no RELOAD: Failed PrivilegeMissing" is_failed_with privilege PrivilegeMissing
bk privilege '{.status.conditions[?(@.type=="Failed")].message}' | grep -q RELOAD ||
    fail "the PrivilegeMissing message does not name RELOAD"
ok "the PrivilegeMissing message names RELOAD"
kn create secret generic no-user-key --from-literal=user=root >/dev/null
SECRET=no-user-key backup nokey
wait_for 30 "a Secret without the username key: Failed SecretKeyMissing" is_failed_with nokey SecretKeyMissing
backup noclass "  snapshot:
    volumeSnapshotClassName: no-such-class"
wait_for 30 "no such VolumeSnapshotClass: Failed SnapshotClassNotFound" \
    is_failed_with noclass SnapshotClassNotFound
TARGET=nothing-here backup target
wait_for 30 "no such StatefulSet: Failed TargetNotFound" is_failed_with target TargetNotFound
cat >"$work/notpvc.yaml" <<YAML
apiVersion: snapstage.io/v1alpha1
kind: Backup
metadata:
  name: notpvc
spec:
  target:
    statefulSetName: mariadb
    volumes: [run]
    connection:
      credentialsSecretRef: {name: mariadb-backup}
YAML
kn apply -f "$work/notpvc.yaml" >/dev/null || fail "applying notpvc"
wait_for 30 "a volume that is not in the pod: Failed VolumeNotFound" is_failed_with notpvc VolumeNotFound
# What the snapshots would carry is checked before anything is locked: an
# annotation key the API server refuses (before: Locked three times, then
# Interrupted), and a key in snapstage's prefix (before: silently dropped).
backup badkey '  snapshot:
    annotations:
      "bad key!": "x"'
wait_for 15 "an invalid annotation key: Failed InvalidSpec" is_failed_with badkey InvalidSpec
bk badkey '{.status.conditions[?(@.type=="Failed")].message}' |
    grep -q 'spec.snapshot.annotations: "bad key!" is not a valid annotation key' ||
    fail "the InvalidSpec message does not name the field and key: $(bk badkey '{.status.message}')"
[ -z "$(bk badkey '{.status.attempts}')" ] || [ "$(bk badkey '{.status.attempts}')" = 0 ] ||
    fail "badkey made $(bk badkey '{.status.attempts}') lock attempt(s)"
! has_event badkey Locked || fail "badkey was Locked"
backup reserved '  snapshot:
    labels:
      snapstage.io/pin: "true"'
wait_for 15 "a label in snapstage.io/: Failed InvalidSpec" is_failed_with reserved InvalidSpec
bk reserved '{.status.message}' | grep -q 'reserved for snapstage' ||
    fail "the InvalidSpec message does not say the prefix is reserved: $(bk reserved '{.status.message}')"
ok "InvalidSpec before any lock: $(bk badkey '{.status.message}')"
replicas_unlocked "after the bad-input cases"

# ---- the storage fails, or never cuts -------------------------------------------
backup snaperror "  snapshot:
    annotations:
      sim.snapstage.io/fail: the array is on fire"
wait_for 60 "storage error: Failed SnapshotFailed" is_failed_with snaperror SnapshotFailed
bk snaperror '{.status.conditions[?(@.type=="Failed")].message}' | grep -q "the array is on fire" ||
    fail "the SnapshotFailed message lacks the storage's message"
ok "the message carries the storage's error"
replicas_unlocked "after SnapshotFailed"

backup timeout "  snapshot:
    annotations:
      sim.snapstage.io/hang: cut
  lock:
    timeoutSeconds: 2"
wait_for 60 "storage never cuts: Failed LockTimeout" is_failed_with timeout LockTimeout
held=$(bk timeout '{.status.lock.heldMilliseconds}')
[ "$held" -ge 2000 ] && [ "$held" -lt 3000 ] || fail "LockTimeout held the lock $held ms (want 2000..3000)"
ok "LockTimeout released the lock after $held ms (timeoutSeconds 2)"
wait_for 30 "the uncut snapshots were deleted" \
    bash -c "! $KUBECTL -n $ns get volumesnapshot -l snapstage.io/backup=timeout -o name 2>/dev/null | grep -q ."
replicas_unlocked "after LockTimeout"

# ---- choosing the server ---------------------------------------------------------
sql mariadb-1 "STOP SLAVE SQL_THREAD" || fail "stopping mariadb-1's SQL thread"
sql mariadb-2 "STOP SLAVE SQL_THREAD" || fail "stopping mariadb-2's SQL thread"
ROLE=Replica backup onlyreplica
wait_for 60 "no healthy replica, role Replica: Failed NoHealthyReplica" \
    is_failed_with onlyreplica NoHealthyReplica
ROLE=PreferReplica backup prefer
wait_for 60 "no healthy replica, PreferReplica: Complete" is_complete prefer
[ "$(bk prefer '{.status.sourceRole}')" = Primary ] || fail "prefer did not fall back to the primary"
[ "$(bk prefer '{.status.sourcePod}')" = mariadb-0 ] || fail "prefer did not lock mariadb-0"
has_event prefer FellBackToPrimary || fail "no FellBackToPrimary Event"
[ "$(kn get events --field-selector involvedObject.name=prefer,reason=FellBackToPrimary -o jsonpath='{.items[0].type}')" = Warning ] ||
    fail "FellBackToPrimary is not a Warning"
ok "PreferReplica fell back to the primary with a Warning Event: $(bk prefer '{.status.message}' | cut -c1-120)"
sql mariadb-1 "START SLAVE SQL_THREAD" || fail "restarting mariadb-1's SQL thread"
sql mariadb-2 "START SLAVE SQL_THREAD" || fail "restarting mariadb-2's SQL thread"
replicas_unlocked "after the role cases"

# ---- two Backups of the same server at once ---------------------------------------
# A selector that picks mariadb-1 alone: both Backups need that server.
cat >"$work/two.yaml" <<YAML
apiVersion: snapstage.io/v1alpha1
kind: Backup
metadata: {name: two-a}
spec:
  target: {podSelector: {matchLabels: {statefulset.kubernetes.io/pod-name: mariadb-1}}, role: Replica, connection: {credentialsSecretRef: {name: mariadb-backup}}}
  snapshot: {annotations: {sim.snapstage.io/cut-latency-ms: "1500"}}
---
apiVersion: snapstage.io/v1alpha1
kind: Backup
metadata: {name: two-b}
spec:
  target: {podSelector: {matchLabels: {statefulset.kubernetes.io/pod-name: mariadb-1}}, role: Replica, connection: {credentialsSecretRef: {name: mariadb-backup}}}
  snapshot: {annotations: {sim.snapstage.io/cut-latency-ms: "1500"}}
YAML
kn apply -f "$work/two.yaml" >/dev/null || fail "applying two Backups"
wait_for 90 "two-a is Complete" is_complete two-a
wait_for 90 "two-b is Complete" is_complete two-b
[ "$(bk two-a '{.status.sourcePod}')" = mariadb-1 ] && [ "$(bk two-b '{.status.sourcePod}')" = mariadb-1 ] ||
    fail "the two Backups locked $(bk two-a '{.status.sourcePod}') and $(bk two-b '{.status.sourcePod}'), not mariadb-1 both"
a1=$(bk two-a '{.status.lock.acquiredTime}') a2=$(bk two-a '{.status.lock.releasedTime}')
b1=$(bk two-b '{.status.lock.acquiredTime}') b2=$(bk two-b '{.status.lock.releasedTime}')
if [[ "$a2" < "$b1" ]] || [[ "$b2" < "$a1" ]]; then
    ok "same server, sessions did not overlap: a [$a1, $a2], b [$b1, $b2]"
else
    fail "lock sessions overlapped: a [$a1, $a2], b [$b1, $b2]"
fi
{ has_event two-a Queued || has_event two-b Queued; } || fail "neither Backup was Queued"
ok "the later one was Queued while it waited"
# Two Backups of the StatefulSet at once: both replicas are as healthy, so
# each takes one and neither waits (issue 15, point 9; tests/e2e/test_fleet.sh
# has the figures).
for b in spread-a spread-b; do
    cat <<YAML
---
apiVersion: snapstage.io/v1alpha1
kind: Backup
metadata: {name: $b}
spec:
  target: {statefulSetName: mariadb, role: Replica, connection: {credentialsSecretRef: {name: mariadb-backup}}}
  snapshot: {annotations: {sim.snapstage.io/cut-latency-ms: "1500"}}
YAML
done >"$work/spread.yaml"
kn apply -f "$work/spread.yaml" >/dev/null || fail "applying spread-a and spread-b"
wait_for 90 "spread-a and spread-b are Complete" all_complete spread-a spread-b
[ "$(bk spread-a '{.status.sourcePod}')" != "$(bk spread-b '{.status.sourcePod}')" ] ||
    fail "spread-a and spread-b both locked $(bk spread-a '{.status.sourcePod}')"
ok "two Backups of the StatefulSet at once locked both replicas: $(bk spread-a '{.status.sourcePod}'), $(bk spread-b '{.status.sourcePod}')"

# ---- SIGKILL while the lock is held -------------------------------------------------
backup sigkill "  snapshot:
    annotations:
      sim.snapstage.io/cut-latency-ms: \"4000\"
  lock:
    timeoutSeconds: 20"
wait_for 30 "sigkill is Locked" phase_is sigkill Locked
victim=$(bk sigkill '{.status.sourcePod}')
conn=$(bk sigkill '{.status.lock.connectionId}')
first_names=$(bk sigkill '{.status.snapshots[*].volumeSnapshotName}')
[ "$(bk sigkill '{.status.lock.replicationPaused}')" = true ] ||
    fail "the status of the locked Backup does not record the paused replication"
kill_controller KILL
killed_at=$(date +%s%N)
ok "controller killed with SIGKILL while $victim held the lock (connection $conn)"
# The server ends the stages of a session whose connection drops: a commit
# on the replica itself goes through within seconds. (Its SQL threads stay
# stopped until a controller starts them again: that is recorded in the
# status, and checked below.)
until sql "$victim" "SET SESSION sql_log_bin=0; SET SESSION lock_wait_timeout=1;
INSERT INTO localprobe.t VALUES (1)" >/dev/null 2>&1; do
    [ $((($(date +%s%N) - killed_at) / 1000000000)) -lt 15 ] ||
        fail "$victim did not accept a commit within 15 s of the kill"
    sleep 0.1
done
ok "$victim commits again $((($(date +%s%N) - killed_at) / 1000000)) ms after the kill"
# Someone else's object now holds one of the names the status records: the
# clean-up must leave it alone (before: deleted by name).
foreign=${first_names%% *}
kn delete volumesnapshot "$foreign" --ignore-not-found --timeout=60s >/dev/null ||
    fail "deleting $foreign"
cat <<YAML | kn create -f - >/dev/null || fail "creating a foreign VolumeSnapshot $foreign"
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata: {name: $foreign, labels: {e2e: foreign}}
spec: {source: {persistentVolumeClaimName: $(bk sigkill '{.status.snapshots[0].claim}')}}
YAML
foreign_uid=$(kn get volumesnapshot "$foreign" -o jsonpath='{.metadata.uid}')
start_controller
wait_for 90 "restarted, the controller completes sigkill on a new attempt" is_complete sigkill
[ "$(bk sigkill '{.status.attempts}')" = 2 ] || fail "attempts is $(bk sigkill '{.status.attempts}'), want 2"
for s in $first_names; do
    [ "$s" != "$foreign" ] || continue
    ! kn get volumesnapshot "$s" >/dev/null 2>&1 || fail "untrusted snapshot $s of the interrupted session still exists"
done
[ "$(kn get volumesnapshot "$foreign" -o jsonpath='{.metadata.uid}' 2>/dev/null)" = "$foreign_uid" ] ||
    fail "the foreign VolumeSnapshot $foreign under a recorded name was deleted"
ok "the foreign VolumeSnapshot $foreign under a recorded name was left alone"
kn delete volumesnapshot "$foreign" --timeout=60s >/dev/null || fail "deleting the foreign $foreign"
has_event sigkill Interrupted || fail "no Interrupted Event"
has_event sigkill ReplicationResumed || fail "no ReplicationResumed Event"
kn get events --field-selector involvedObject.name=sigkill,reason=ReplicationResumed \
    -o jsonpath='{.items[0].message}' | grep -q "interrupted" ||
    fail "the ReplicationResumed Event does not say the session was interrupted"
[ -z "$(bk sigkill '{.status.lock.replicationPaused}')" ] ||
    fail "replicationPaused is still set on the completed Backup"
ok "attempt 1's snapshots ($first_names) deleted, attempt 2 complete: $(bk sigkill '{.status.snapshots[*].volumeSnapshotName}')"
[[ " $(bk sigkill '{.status.snapshots[*].volumeSnapshotName}') " == *"-r2-"* ]] ||
    fail "attempt 2's snapshots are not named for attempt 2"

# ---- a Backup name too long for a label value ------------------------------------
long=backup-with-a-name-far-too-long-for-a-label-value-0123456789abcdefghij
backup "$long"
wait_for 60 "Backup $long (${#long} characters) is Complete" is_complete "$long"
wait_for 30 "$long is Restorable True" restorable_is "$long" True/SnapshotsReady
for s in $(bk "$long" '{.status.snapshots[*].volumeSnapshotName}'); do
    [ ${#s} -le 63 ] || fail "snapshot name $s is longer than 63"
    label=$(kn get volumesnapshot "$s" -o jsonpath='{.metadata.labels.snapstage\.io/backup}')
    [[ "$label" =~ ^${long:0:52}_[0-9a-f]{10}$ ]] ||
        fail "$s is labelled '$label' (want the first 52 characters, _ and a hash)"
    [ "$(kn get volumesnapshot "$s" -o jsonpath='{.metadata.annotations.snapstage\.io/backup-name}')" = "$long" ] ||
        fail "$s lacks the whole name in snapstage.io/backup-name"
done
[ "$(kn get volumesnapshot -l "snapstage.io/backup=$label" -o name | wc -l)" = 2 ] ||
    fail "the label does not select both snapshots of $long"
ok "a ${#long}-character name: snapshots labelled $label, the whole name annotated"
replicas_unlocked "at the end"

# A clean stop: exit 0, and (in the ASan build) no sanitizer report, leaks
# included, which LeakSanitizer prints at exit.
stop_controller
check_clean_log
ok "the controller stopped cleanly on SIGTERM (exit 0, no sanitizer report)"
