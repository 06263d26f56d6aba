#!/usr/bin/env bash
# The Restore controller end to end (NewClaims mode): the real snapstage
# binary against the mini-cluster with a MariaDB primary + 2 replicas
# (hack/sim/mariadb.yaml). Cases:
#   backup     a Restore of Backup B (rows 1,2,3; row 4 written after it)
#              makes named claims from its data and binlog snapshots, they
#              are Bound, Complete=True; a mariadbd on them holds exactly
#              rows 1,2,3
#   pit        scheduleName + pointInTime between two Backups of a schedule
#              picks the older one (status.sourceBackup); a mariadbd on its
#              claims holds rows 1,2; without pointInTime, the newest
#   bad input  each fails with its own reason and creates no claim: a
#              missing Backup (SourceNotFound), a failed Backup
#              (SourceNotReady), a pointInTime before every
#              Backup (SourceNotFound), a claim that exists (ClaimExists; the
#              existing claim is untouched), a missing StorageClass
#              (StorageClassNotFound), an in-place restore while the
#              controller runs without --enable-in-place-restore
#              (InPlaceRestoreDisabled)
#   restart    the controller restarted after a Restore completed changes
#              nothing (no claim made twice, status kept)
#   metrics    snapstage_restores_total by result and reason
# Ends with a checked SIGTERM: exit 0 and no sanitizer report.
#
# Environment: SNAPSTAGE_CLUSTER_DIR (a running `hack/cluster.sh up
# --with-mariadb` cluster), SNAPSTAGE_BIN (the controller).
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_restore restore

dump_on_fail() {
    kn get restores -o yaml 2>/dev/null | tail -n 80 || true
}

rs() { kn get restore "$1" -o jsonpath="$2"; }
cond_is() { # restore type status [reason]
    [ "$(rs "$1" "{.status.conditions[?(@.type==\"$2\")].status}")" = "$3" ] &&
        { [ -z "${4:-}" ] || [ "$(rs "$1" "{.status.conditions[?(@.type==\"$2\")].reason}")" = "$4" ]; }
}
backup_complete() {
    [ "$(kn get backup "$1" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}')" = True ]
}
claims_of() { kn get pvc -l "snapstage.io/restore=$1" -o jsonpath='{.items[*].metadata.name}'; }
run_now() { kn annotate backupschedule nightly "snapstage.io/run-now=$1" --overwrite >/dev/null; }
backups_of_nightly() { kn get backups -l snapstage.io/schedule=nightly -o jsonpath='{.items[*].metadata.name}'; }
count_nightly_is() { [ "$(backups_of_nightly | wc -w)" = "$1" ]; }
newest_nightly() {
    kn get backups -l snapstage.io/schedule=nightly --sort-by=.metadata.creationTimestamp \
        -o jsonpath='{.items[-1:].metadata.name}'
}
restore() { # name source-yaml-line [target yaml lines under target:, indented 4]
    local target=${3:-"    mode: NewClaims
    newClaims:
      storageClassName: snapstage-sim"}
    kn apply -f - >/dev/null <<YAML || fail "creating Restore $1"
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata:
  name: $1
spec:
  source:
    $2
  target:
$target
  timeoutSeconds: 300
YAML
}
server_on() { # pod-name data-claim binlog-claim
    inspect_pod_yaml "$@" | kn apply -f - >/dev/null || fail "creating pod $1"
}

# ---- set-up ------------------------------------------------------------------
install_crds
mini_mariadb_up
start_controller
sql mariadb-0 "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY);
INSERT INTO shop.orders VALUES (1), (2);" || fail "writing on the primary"
wait_for 30 "rows 1,2 on both replicas" rows_are mariadb-1 1,2
wait_for 30 "rows 1,2 on mariadb-2" rows_are mariadb-2 1,2

# Backup A (rows 1,2) and B (rows 1,2,3) of schedule "nightly", row 4 after.
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
run_now a
wait_for 30 "schedule: Backup A exists" count_nightly_is 1
backup_a=$(backups_of_nightly)
wait_for 90 "Backup A ($backup_a) completes" backup_complete "$backup_a"
sleep 1.1
between=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1.1
sql mariadb-0 "INSERT INTO shop.orders VALUES (3)" || fail "writing row 3"
wait_for 30 "row 3 on both replicas" rows_are mariadb-1 1,2,3
wait_for 30 "row 3 on mariadb-2" rows_are mariadb-2 1,2,3
run_now b
wait_for 30 "schedule: Backup B exists" count_nightly_is 2
backup_b=$(newest_nightly)
[ "$backup_b" != "$backup_a" ] || fail "Backup B is Backup A"
wait_for 90 "Backup B ($backup_b) completes" backup_complete "$backup_b"
sql mariadb-0 "INSERT INTO shop.orders VALUES (4)" || fail "writing row 4"

# ---- bad input: nothing is created ---------------------------------------------
restore missing "backupName: nosuch"
wait_for 30 "missing Backup: Failed SourceNotFound" cond_is missing Failed True SourceNotFound
note "message: $(rs missing '{.status.message}')"
restore early "scheduleName: nightly
    pointInTime: \"2020-01-01T00:00:00Z\""
wait_for 30 "pointInTime before every Backup: Failed SourceNotFound" \
    cond_is early Failed True SourceNotFound
note "message: $(rs early '{.status.message}')"
kn apply -f - >/dev/null <<'YAML' || fail "creating a Backup that fails"
apiVersion: snapstage.io/v1alpha1
kind: Backup
metadata:
  name: broken
spec:
  target:
    statefulSetName: nosuch
    connection:
      credentialsSecretRef:
        name: mariadb-backup
YAML
backup_failed() {
    [ "$(kn get backup broken -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}')" = True ]
}
wait_for 30 "Backup broken fails (no such StatefulSet)" backup_failed
restore fromfailed "backupName: broken"
wait_for 30 "a failed Backup: Failed SourceNotReady" cond_is fromfailed Failed True SourceNotReady
note "message: $(rs fromfailed '{.status.message}')"
uid_before=$(kn get pvc data-mariadb-0 -o jsonpath='{.metadata.uid}')
restore clash "backupName: $backup_b" "    mode: NewClaims
    newClaims:
      storageClassName: snapstage-sim
      claims:
        - {volume: data, name: clash-data}
        - {volume: binlog, name: data-mariadb-0}"
wait_for 30 "an existing claim: Failed ClaimExists" cond_is clash Failed True ClaimExists
[ "$(kn get pvc data-mariadb-0 -o jsonpath='{.metadata.uid}')" = "$uid_before" ] ||
    fail "ClaimExists: the existing claim was replaced"
! kn get pvc clash-data >/dev/null 2>&1 || fail "ClaimExists: clash-data was created anyway"
ok "ClaimExists: the existing claim untouched, the other not created"
restore noclass "backupName: $backup_b" "    mode: NewClaims
    newClaims:
      storageClassName: nosuch"
wait_for 30 "a missing StorageClass: Failed StorageClassNotFound" \
    cond_is noclass Failed True StorageClassNotFound
restore inplace "backupName: $backup_b" "    mode: InPlace
    inPlace:
      statefulSetName: mariadb
      acknowledgeDataLoss: true
      replicationCredentialsSecretRef:
        name: mariadb-backup
      connection:
        credentialsSecretRef:
          name: mariadb-backup"
wait_for 30 "in place without --enable-in-place-restore: Failed InPlaceRestoreDisabled" \
    cond_is inplace Failed True InPlaceRestoreDisabled
[ "$(kn get statefulset mariadb -o jsonpath='{.spec.replicas}')" = 3 ] ||
    fail "InPlaceRestoreDisabled: the StatefulSet was scaled"
for r in missing early fromfailed clash noclass inplace; do
    [ -z "$(claims_of $r)" ] || fail "bad input $r created claims: $(claims_of $r)"
done
ok "bad input: no Restore that failed created a claim"

# ---- backupName: named claims, Bound, a server with rows 1,2,3 -----------------------
restore fromb "backupName: $backup_b" "    mode: NewClaims
    newClaims:
      storageClassName: snapstage-sim
      claims:
        - {volume: data, name: fromb-data}
        - {volume: binlog, name: fromb-binlog}
      labels:
        app.kubernetes.io/name: mariadb-inspect"
wait_for 120 "backupName: Complete=True" cond_is fromb Complete True
[ "$(rs fromb '{.status.phase}')" = Completed ] || fail "phase is $(rs fromb '{.status.phase}')"
[ "$(rs fromb '{.status.sourceBackup}')" = "$backup_b" ] || fail "sourceBackup is $(rs fromb '{.status.sourceBackup}')"
[ "$(claims_of fromb)" = "fromb-binlog fromb-data" ] || fail "claims: $(claims_of fromb)"
[ "$(kn get pvc fromb-data -o jsonpath='{.metadata.labels.app\.kubernetes\.io/name}')" = mariadb-inspect ] ||
    fail "the claim lacks the spec's label"
[ "$(kn get pvc fromb-data -o jsonpath='{.spec.dataSource.kind}/{.spec.dataSource.name}')" = \
    "VolumeSnapshot/$(kn get backup "$backup_b" -o jsonpath='{.status.snapshots[?(@.volume=="data")].volumeSnapshotName}')" ] ||
    fail "fromb-data's dataSource is not B's data snapshot"
[ "$(rs fromb '{.status.claims[*].bound}')" = "true true" ] || fail "status.claims bound: $(rs fromb '{.status.claims[*].bound}')"
ok "backupName: claims fromb-data and fromb-binlog from B's snapshots, Bound, labelled"
server_on inspect-b fromb-data fromb-binlog
wait_for 180 "a mariadbd on B's claims is Ready" kn wait pod/inspect-b --for=condition=Ready --timeout=5s
rows=$(rows_on inspect-b) || fail "querying inspect-b"
[ "$rows" = 1,2,3 ] || fail "the server on B's claims holds rows '$rows', want 1,2,3 (row 4 came after B)"
ok "the server on B's claims holds rows 1,2,3: written before B, not row 4"

# ---- scheduleName + pointInTime ---------------------------------------------------------
restore pit "scheduleName: nightly
    pointInTime: \"$between\""
wait_for 120 "pointInTime: Complete=True" cond_is pit Complete True
[ "$(rs pit '{.status.sourceBackup}')" = "$backup_a" ] ||
    fail "pointInTime $between picked $(rs pit '{.status.sourceBackup}'), want $backup_a"
ok "pointInTime $between picked Backup A ($backup_a), not B"
server_on inspect-a pit-data pit-binlog
wait_for 180 "a mariadbd on A's claims is Ready" kn wait pod/inspect-a --for=condition=Ready --timeout=5s
rows=$(rows_on inspect-a) || fail "querying inspect-a"
[ "$rows" = 1,2 ] || fail "the server on A's claims holds rows '$rows', want 1,2"
ok "the server on A's claims holds rows 1,2"
restore latest "scheduleName: nightly"
wait_for 120 "scheduleName without pointInTime: Complete=True" cond_is latest Complete True
[ "$(rs latest '{.status.sourceBackup}')" = "$backup_b" ] ||
    fail "without pointInTime picked $(rs latest '{.status.sourceBackup}'), want $backup_b"
ok "without pointInTime: the newest Backup ($backup_b)"

# ---- metrics --------------------------------------------------------------------------------
m=$(curl -s "http://127.0.0.1:$metrics_port/metrics" | grep '^snapstage_restore' || true)
want_metric() {
    [[ "$m" == *"$1"* ]] || fail "no '$1' in the metrics: $m"
}
want_metric 'snapstage_restores_total{namespace="'"$ns"'",mode="NewClaims",result="completed",reason="Restored"} 3'
want_metric 'result="failed",reason="SourceNotFound"} 2'
want_metric 'result="failed",reason="ClaimExists"} 1'
want_metric 'result="failed",reason="SourceNotReady"} 1'
want_metric 'result="failed",reason="StorageClassNotFound"} 1'
want_metric 'mode="InPlace",result="failed",reason="InPlaceRestoreDisabled"} 1'
want_metric 'snapstage_restore_duration_seconds_count{namespace="'"$ns"'",mode="NewClaims"} 8'
ok "metrics: 3 completed, 5 failed NewClaims by reason, 1 InPlace; 8 durations"

# ---- restart: nothing made twice --------------------------------------------------------
before=$(kn get pvc -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.uid} {end}')
stop_controller
start_controller
sleep 3
after=$(kn get pvc -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.uid} {end}')
[ "$before" = "$after" ] || fail "claims changed over a restart: '$before' -> '$after'"
cond_is fromb Complete True || fail "fromb is no longer Complete after a restart"
ok "restart: claims and status unchanged"
stop_controller
check_clean_log
ok "the controller stopped cleanly on SIGTERM (exit 0, no sanitizer report)"
