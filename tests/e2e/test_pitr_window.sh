#!/usr/bin/env bash
# e2e.test_pitr_window — BackupSchedule.status.pointInTime on the mini
# cluster (issue 19, "Knowing what can be restored"): a schedule with
# spec.pointInTime, two Backups: PointInTimeCoverage True, recoverableFrom =
# the oldest Backup's data time (lock.acquiredTime), the metric
# snapstage_pitr_window_seconds > 0; retention prunes the oldest Backup:
# recoverableFrom moves to the next one's, lastRemovedBase names it, a Normal
# Event RecoverableFromMoved; then FLUSH + PURGE BINARY LOGS on the
# primary past the newest Backup: False BinlogsPurged naming it; then a
# third Backup and binlog_expire_logs_seconds shorter than the time since
# it: False BinlogRetentionShort. About a minute.
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_pitr_window pitrw

dump_on_fail() {
    kn get backupschedule nightly -o yaml 2>/dev/null | sed -n '/^status:/,$p' || true
}

sch() { kn get backupschedule nightly -o jsonpath="$1"; }
pit_cond() { sch '{.status.conditions[?(@.type=="PointInTimeCoverage")].status}/{.status.conditions[?(@.type=="PointInTimeCoverage")].reason}'; }
pit_is() { [ "$(pit_cond)" = "$1" ]; }
backups_of_nightly() { kn get backups -l snapstage.io/schedule=nightly -o jsonpath='{.items[*].metadata.name}'; }
count_is() { [ "$(backups_of_nightly | wc -w)" = "$1" ]; }
backup_complete() {
    [ "$(kn get backup "$1" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}')" = True ]
}
run_now() { kn annotate backupschedule nightly "snapstage.io/run-now=$1" --overwrite >/dev/null; }
take() { # token count: one more Backup, Complete
    run_now "$1"
    wait_for 30 "Backup $2 exists" count_is "$2"
    local b
    for b in $(backups_of_nightly); do
        wait_for 120 "Backup $b completes" backup_complete "$b"
    done
}
metric() {
    curl -sf "http://127.0.0.1:$metrics_port/metrics" |
        awk -v ns="$ns" '$1 ~ /^snapstage_pitr_window_seconds\{/ && index($1, "namespace=\"" ns "\"") && index($1, "schedule=\"nightly\"") {print $2}'
}
metric_positive() { local v; v=$(metric); [ -n "$v" ] && awk -v v="$v" 'BEGIN{exit !(v > 0)}'; }
checked_after() { # time: a check newer than it
    local t; t=$(sch '{.status.pointInTime.checkTime}'); [ -n "$t" ] && [[ "$t" > "$1" ]]
}

install_crds
mini_mariadb_up
start_controller
sql mariadb-0 "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY);
INSERT INTO shop.orders VALUES (1)" || fail "writing on the primary"
kn apply -f - >/dev/null <<'YAML' || fail "creating the schedule"
apiVersion: snapstage.io/v1alpha1
kind: BackupSchedule
metadata:
  name: nightly
spec:
  schedule: "0 0 1 1 *"
  pointInTime:
    checkIntervalSeconds: 10
  target:
    statefulSetName: mariadb
    role: Replica
    connection:
      credentialsSecretRef:
        name: mariadb-backup
YAML
wait_for 30 "no Backup yet: False NoBackup" pit_is False/NoBackup
take a 1
sql mariadb-0 "INSERT INTO shop.orders VALUES (2)" || fail "writing row 2"
take b 2
wait_for 30 "PointInTimeCoverage True/Covered" pit_is True/Covered
oldest=$(for b in $(backups_of_nightly); do kn get backup "$b" -o jsonpath='{.status.lock.acquiredTime} {.metadata.name}{"\n"}'; done | sort | head -n 1)
from=$(sch '{.status.pointInTime.recoverableFrom}')
base=$(sch '{.status.pointInTime.baseBackup}')
note "recoverableFrom $from (Backup $base); the oldest Backup: $oldest"
[ "$(date -d "$from" +%s)" = "$(date -d "${oldest% *}" +%s)" ] ||
    fail "recoverableFrom $from is not the oldest Backup's data time ${oldest% *}"
[ "$base" = "${oldest#* }" ] || fail "baseBackup $base is not the oldest Backup ${oldest#* }"
[ -n "$(sch '{.status.pointInTime.recoverableTo}')" ] || fail "no recoverableTo"
[ "$(sch '{.status.pointInTime.primary}')" = mariadb-0 ] || fail "the primary checked is not mariadb-0"
wait_for 30 "the metric snapstage_pitr_window_seconds > 0" metric_positive
ok "True Covered: from the oldest Backup ($base, $from), metric $(metric) s"

# Retention prunes the oldest Backup, recoverableFrom's base: the window
# moves to the next Backup's data time at once, lastRemovedBase names the
# pruned one, a Normal Event says so. Retention goes again after (Backup c
# below must not prune b while the test looks at it).
next=$(for b in $(backups_of_nightly); do kn get backup "$b" -o jsonpath='{.status.lock.acquiredTime} {.metadata.name}{"\n"}'; done | sort | sed -n 2p)
kn patch backupschedule nightly --type merge -p '{"spec":{"retention":{"keepLast":1}}}' >/dev/null ||
    fail "setting retention keepLast 1"
wait_for 60 "retention prunes Backup $base" eval '! kn get backup "$base" >/dev/null 2>&1'
wait_for 30 "lastRemovedBase $base" eval '[ "$(sch "{.status.pointInTime.lastRemovedBase.name}")" = "$base" ]'
kn patch backupschedule nightly --type merge -p '{"spec":{"retention":null}}' >/dev/null ||
    fail "removing retention"
from=$(sch '{.status.pointInTime.recoverableFrom}')
[ -n "$from" ] && [ "$(date -d "$from" +%s)" = "$(date -d "${next% *}" +%s)" ] ||
    fail "recoverableFrom '$from' is not the next Backup's data time ${next% *}"
[ "$(sch '{.status.pointInTime.baseBackup}')" = "${next#* }" ] || fail "baseBackup is not ${next#* }"
[ -n "$(sch '{.status.pointInTime.lastRemovedBase.time}')" ] || fail "lastRemovedBase has no time"
pit_is True/Covered || fail "PointInTimeCoverage is $(pit_cond) after the prune"
moved=$(kn get events --field-selector involvedObject.name=nightly,reason=RecoverableFromMoved \
    -o jsonpath='{.items[*].type}|{.items[*].message}')
[[ "$moved" == "Normal|"*"Backup $base"* ]] || fail "no Normal Event RecoverableFromMoved naming $base: $moved"
# (the metric may read 0 here until the next check: status times have whole
# seconds, and this Backup and the check after it can share one)
[ -n "$(metric)" ] || fail "no snapstage_pitr_window_seconds after the prune"
ok "retention pruned $base: recoverableFrom moved to ${next#* } ($from), Event RecoverableFromMoved"

# Purge past the newest Backup: the events right after it are gone.
sql mariadb-0 "INSERT INTO shop.orders VALUES (3); FLUSH BINARY LOGS" || fail "flushing"
last=$(sql mariadb-0 "SHOW BINARY LOGS" | tail -n 1 | cut -f1)
# PURGE skips, with only a warning, a file a replica's dump thread still
# reads (right after the flush): purge again until only $last is left.
purged() { sql mariadb-0 "PURGE BINARY LOGS TO '$last'" >/dev/null && [ "$(sql mariadb-0 "SHOW BINARY LOGS" | wc -l)" = 1 ]; }
wait_for 30 "binlogs purged to $last" purged
wait_for 40 "False BinlogsPurged" pit_is False/BinlogsPurged
msg=$(sch '{.status.conditions[?(@.type=="PointInTimeCoverage")].message}')
note "message: $msg"
newest=$(for b in $(backups_of_nightly); do kn get backup "$b" -o jsonpath='{.status.lock.acquiredTime} {.metadata.name}{"\n"}'; done | sort | tail -n 1)
[[ "$msg" == *"newest Backup ${newest#* }"* ]] || fail "the message does not name the newest Backup ${newest#* }"
[ -z "$(sch '{.status.pointInTime.recoverableFrom}')" ] || fail "recoverableFrom still set after the purge"
[[ "$(sch '{.status.pointInTime.binlogStart}')" != "" ]] || fail "no binlogStart"
wait_for 30 "the metric is 0" eval '[ "$(metric)" = 0 ]'
ok "False BinlogsPurged, naming ${newest#* }; metric 0"

# A new Backup covers again; an expiry shorter than the time since it
# makes the events after it about to go.
take c 2
wait_for 30 "True again after Backup c" pit_is True/Covered
sql mariadb-0 "SET GLOBAL binlog_expire_logs_seconds = 1" || fail "setting the expiry"
sleep 2 # the expiry must be shorter than the time since the newest Backup
wait_for 40 "False BinlogRetentionShort" pit_is False/BinlogRetentionShort
[ -n "$(sch '{.status.pointInTime.recoverableFrom}')" ] || fail "no window reported while it still holds"
sql mariadb-0 "SET GLOBAL binlog_expire_logs_seconds = 0" || true
ok "False BinlogRetentionShort: $(sch '{.status.conditions[?(@.type=="PointInTimeCoverage")].message}')"

if grep -q "$(root_pw)" "$work/controller.log"; then fail "the root password is in the controller's log"; fi
stop_controller
check_clean_log
ok "test_pitr_window passed"
