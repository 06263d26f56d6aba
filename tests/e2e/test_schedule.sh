#!/usr/bin/env bash
# The BackupSchedule controller end to end: the real snapstage binary (the
# Backup controller in the same process) against the mini-cluster with a
# MariaDB primary + 2 replicas (hack/sim/mariadb.yaml). Cases:
#   minutely   "* * * * *" makes a Backup named <schedule>-<YYYYMMDDhhmm>
#              with the schedule label and scheduled-time annotation, at a
#              minute boundary (checked last, so the other cases overlap it)
#   once       "once" makes exactly one Backup, and it completes; no next
#              time; Retain: no owner reference
#   runnow     run-now token A: one Backup; A again: none; B: one more;
#              backupDeletionPolicy Delete: owned by the schedule
#   invalid    a bad cron -> Ready=False InvalidSchedule; fixed to
#              "* * * * *" -> True, and it runs at the next minute
#   zone       an unknown zone -> Ready=False InvalidTimeZone; fixed
#              (Europe/Berlin) -> it runs at the next minute
#   suspend    suspend: true -> Ready=False Suspended, no Backups; the fixed
#              schedules above, suspended after their first run, make no
#              second one
#   world      a missing StatefulSet -> Ready=False TargetNotFound, a
#              missing Secret -> SecretNotFound, no Backup; the Secret
#              created -> Ready True on the controller's recheck timer
#   retention  keepLast 2 with 4 run-now Backups leaves 2; the pruned
#              ones' VolumeSnapshots are gone (owned by their Backup); a
#              Backup a running Restore names (its claims never bind)
#              survives until the Restore is deleted
# Ends with a checked SIGTERM: exit 0 and no sanitizer report.
#
# Environment: SNAPSTAGE_CLUSTER_DIR (a running `hack/cluster.sh up
# --with-mariadb` cluster), SNAPSTAGE_BIN (the controller).
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_schedule schedule

dump_on_fail() {
    kn get backupschedules -o yaml 2>/dev/null | tail -n 80 || true
}

schedule() { # name cron [extra yaml lines under spec, indented 2] [sts] [secret]
    schedule_yaml "$@" >"$work/$1.yaml"
    kn apply -f "$work/$1.yaml" >/dev/null || fail "applying BackupSchedule $1"
}
bs() { kn get backupschedule "$1" -o jsonpath="$2"; }
ready_is() { # schedule status reason
    [ "$(bs "$1" '{.status.conditions[?(@.type=="Ready")].status}')" = "$2" ] &&
        [ "$(bs "$1" '{.status.conditions[?(@.type=="Ready")].reason}')" = "$3" ]
}
backups_of() { kn get backups -l "snapstage.io/schedule=$1" -o jsonpath='{.items[*].metadata.name}'; }
count_of() { backups_of "$1" | wc -w; }
count_is() { [ "$(count_of "$1")" = "$2" ]; }
is_complete() { [ "$(kn get backup "$1" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}')" = True ]; }
all_complete() { # schedule
    local b
    for b in $(backups_of "$1"); do is_complete "$b" || return 1; done
}
run_now() { kn annotate backupschedule "$1" "snapstage.io/run-now=$2" --overwrite >/dev/null; }
field_is() { [ "$(bs "$1" "$2")" = "$3" ]; }
count_at_least() { [ "$(count_of "$1")" -ge "$2" ]; }
minute_passed() { [ $(($(date +%s) / 60)) -gt $(($1 / 60)) ]; }
token_is() { [ "$(bs "$1" '{.status.lastRunNowToken}')" = "$2" ]; }

# ---- set-up ------------------------------------------------------------------
install_crds
mini_mariadb_up
start_controller
schedule minutely "* * * * *" "  retention:
    keepLast: 1"
minutely_at=$(date +%s)

# ---- the world: target and Secret missing ---------------------------------------------
schedule notarget "* * * * *" "" nosuch
wait_for 15 "world: Ready=False TargetNotFound" ready_is notarget False TargetNotFound
note "message: $(bs notarget '{.status.conditions[?(@.type=="Ready")].message}')"
schedule nosecret "* * * * *" "" mariadb later-secret
wait_for 15 "world: Ready=False SecretNotFound" ready_is nosecret False SecretNotFound
kn create secret generic later-secret --from-literal=username=root \
    --from-literal=password="$(root_pw)" >/dev/null
secret_at=$(date +%s)

# ---- once ----------------------------------------------------------------------
schedule single once
wait_for 30 "once: a Backup single-once exists" kn get backup single-once
wait_for 60 "once: single-once completes" is_complete single-once
[ "$(backups_of single)" = single-once ] || fail "once made '$(backups_of single)'"
[ -n "$(bs single '{.status.lastScheduleTime}')" ] || fail "once: no lastScheduleTime"
[ -z "$(bs single '{.status.nextScheduleTime}')" ] || fail "once: nextScheduleTime is set"
wait_for 15 "once: status.lastSuccessfulBackup is single-once" \
    field_is single '{.status.lastSuccessfulBackup.name}' single-once
[ -z "$(kn get backup single-once -o jsonpath='{.metadata.ownerReferences}')" ] ||
    fail "once: a Retain schedule's Backup has an owner reference"
[ -n "$(kn get backup single-once -o jsonpath='{.metadata.annotations.snapstage\.io/scheduled-time}')" ] ||
    fail "once: no scheduled-time annotation"
ready_is single True Scheduled || fail "once: Ready is not True"
kn annotate backupschedule single touched=1 >/dev/null
sleep 2
count_is single 1 || fail "once: $(count_of single) Backups after a touch"
ok "once: exactly one Backup, complete, no owner reference, no next time"

# ---- run now -----------------------------------------------------------------------
schedule manual "0 0 1 1 *" "  backupDeletionPolicy: Delete"
wait_for 15 "runnow: Ready=True" ready_is manual True Scheduled
count_is manual 0 || fail "runnow: a Backup before any token"
run_now manual A
wait_for 15 "runnow: token A recorded" token_is manual A
wait_for 15 "runnow: token A made one Backup" count_is manual 1
kn annotate backupschedule manual touched=1 >/dev/null
run_now manual A
sleep 2
count_is manual 1 || fail "runnow: token A again made another Backup"
ok "runnow: the same token again makes none"
run_now manual B
wait_for 15 "runnow: token B made one more" count_is manual 2
b=$(backups_of manual | cut -d' ' -f1)
[ "$(kn get backup "$b" -o jsonpath='{.metadata.ownerReferences[0].kind}')" = BackupSchedule ] ||
    fail "runnow: Delete policy but $b has no BackupSchedule owner"
ok "runnow: backupDeletionPolicy Delete puts the schedule as owner"

# ---- invalid cron, unknown zone, suspend -----------------------------------------------
schedule badcron "61 * * * *"
wait_for 15 "invalid: Ready=False InvalidSchedule" ready_is badcron False InvalidSchedule
note "message: $(bs badcron '{.status.conditions[?(@.type=="Ready")].message}')"
schedule badzone "* * * * *" "  timeZone: Mars/Olympus_Mons"
wait_for 15 "zone: Ready=False InvalidTimeZone" ready_is badzone False InvalidTimeZone
# Both fixed inside one minute, at least 10 s before its end, so that
# "no run yet" below is not racing the boundary.
while [ $(($(date +%s) % 60)) -gt 45 ]; do sleep 1; done
schedule badcron "* * * * *"
schedule badzone "* * * * *" "  timeZone: Europe/Berlin"
fixed_at=$(date +%s)
wait_for 15 "invalid: fixed, Ready=True" ready_is badcron True Scheduled
wait_for 15 "zone: fixed, Ready=True" ready_is badzone True Scheduled
[ -n "$(bs badcron '{.status.nextScheduleTime}')" ] || fail "fixed: no nextScheduleTime"
[ $(($(date +%s) / 60)) = $((fixed_at / 60)) ] || fail "the test was too slow to check 'no run yet'"
count_is badcron 0 || fail "fixing the cron started a run by itself"
count_is badzone 0 || fail "fixing the zone started a run by itself"
schedule paused "* * * * *" "  suspend: true"
wait_for 15 "suspend: Ready=False Suspended" ready_is paused False Suspended
[ -z "$(bs paused '{.status.nextScheduleTime}')" ] || fail "suspend: nextScheduleTime is set"

# ---- retention -------------------------------------------------------------------------
schedule keep "0 0 1 1 *" "  retention:
    keepLast: 2"
for t in t1 t2 t3 t4; do
    run_now keep $t
    wait_for 15 "retention: token $t recorded" token_is keep $t
    wait_for 60 "retention: the Backups so far are complete ($t)" all_complete keep
    if [ $t = t1 ]; then
        # A Restore still running holds the first Backup: its snapshots
        # carry the simulated storage's restore fault, so the claims made
        # from them stay Pending and it waits for them (up to
        # timeoutSeconds). (A StorageClass no provisioner serves no longer
        # does: the Restore refuses it at once, StorageClassMismatch.)
        held=$(backups_of keep)
        for s in $(kn get backup "$held" -o jsonpath='{.status.snapshots[*].volumeSnapshotName}'); do
            kn annotate volumesnapshot "$s" sim.snapstage.io/restore-fault=pending >/dev/null ||
                fail "marking snapshot $s with the restore fault"
        done
        kn apply -f - >/dev/null <<YAML || fail "creating the Restore"
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata:
  name: hold-keep
spec:
  source:
    backupName: $held
  target:
    mode: NewClaims
  timeoutSeconds: 600
YAML
    fi
done
restoring() { [ "$(kn get restore hold-keep -o jsonpath='{.status.phase}')" = Restoring ]; }
wait_for 30 "retention: the Restore is running (its claims stay Pending)" restoring
wait_for 30 "retention: keepLast 2 + 1 held by a Restore leaves 3 Backups" count_is keep 3
[[ " $(backups_of keep) " == *" $held "* ]] || fail "retention: the held Backup $held was pruned"
sleep 2
count_is keep 3 || fail "retention: $(count_of keep) Backups while one is held, not 3"
ok "retention: a Backup an unfinished Restore names is kept"
kn delete restore hold-keep >/dev/null
wait_for 30 "retention: the Restore gone, keepLast 2 leaves 2 Backups" count_is keep 2
[[ " $(backups_of keep) " != *" $held "* ]] || fail "retention: $held survived its Restore"
kept=$(backups_of keep)
wait_for 15 "retention: status.retention.prunedTotal is 2" \
    field_is keep '{.status.retention.prunedTotal}' 2
snaps_of_kept_only() {
    local owners b
    owners=$(kn get volumesnapshots -l snapstage.io/schedule=keep \
        -o jsonpath='{.items[*].metadata.labels.snapstage\.io/backup}')
    [ -n "$owners" ] || return 1
    for b in $owners; do [[ " $kept " == *" $b "* ]] || return 1; done
}
wait_for 30 "retention: only the kept Backups' VolumeSnapshots remain" snaps_of_kept_only
note "kept: $kept"

m=$(curl -s "http://127.0.0.1:$metrics_port/metrics" | grep '^snapstage_schedule_' || true)
[[ "$m" == *'snapstage_schedule_runs_total{namespace="'$ns'",result="run_now"} 6'* ]] ||
    fail "snapstage_schedule_runs_total{result=run_now} is not 6: $m"
[[ "$m" == *'snapstage_schedule_pruned_total{namespace="'$ns'"} 2'* ]] ||
    fail "snapstage_schedule_pruned_total is not 2: $m"
ok "metrics: 6 run-now runs, 2 pruned"

# ---- fixed schedules run; suspended, they stop ---------------------------------------------
wait_for $((80 - ($(date +%s) - fixed_at))) "invalid: the fixed cron runs" count_at_least badcron 1
wait_for $((80 - ($(date +%s) - fixed_at))) "zone: the fixed zone runs" count_at_least badzone 1
for s in badcron badzone; do
    kn patch backupschedule $s --type=merge -p '{"spec":{"suspend":true}}' >/dev/null
    wait_for 15 "suspend: $s Ready=False Suspended" ready_is $s False Suspended
done
suspended_at=$(date +%s)
suspended_counts="$(count_of badcron) $(count_of badzone)"
note "fixed schedules made $suspended_counts Backups before suspend"
wait_for $((45 - ($(date +%s) - secret_at))) "world: the Secret created, Ready=True on recheck" \
    ready_is nosecret True Scheduled
count_is notarget 0 || fail "world: a schedule without a target made a Backup"
ready_is notarget False TargetNotFound || fail "world: notarget is no longer TargetNotFound"

# ---- restart: nothing made twice -------------------------------------------------------
before="$(backups_of single) | $(backups_of manual) | $(backups_of keep)"
stop_controller
start_controller
sleep 3
after="$(backups_of single) | $(backups_of manual) | $(backups_of keep)"
[ "$before" = "$after" ] || fail "after a restart: '$after', before: '$before'"
ok "restart: no once, run-now or retention Backup made twice"

# ---- minutely --------------------------------------------------------------------------
wait_for $((75 - ($(date +%s) - minutely_at))) "minutely: a Backup at a minute boundary" \
    count_at_least minutely 1
b=$(backups_of minutely | cut -d' ' -f1)
[[ "$b" =~ ^minutely-[0-9]{12}$ ]] || fail "minutely: name '$b' is not <schedule>-<yyyymmddhhmm>"
st=$(kn get backup "$b" -o jsonpath='{.metadata.annotations.snapstage\.io/scheduled-time}')
[[ "$st" =~ :00Z$ ]] || fail "minutely: scheduled-time '$st' is not a whole minute"
[ "$(bs minutely '{.status.lastScheduleTime}')" = "$st" ] || [ "$(count_of minutely)" -gt 1 ] ||
    fail "minutely: lastScheduleTime $(bs minutely '{.status.lastScheduleTime}') != $st"
ok "minutely: $b for $st"
reasons=$(kn get events --field-selector involvedObject.kind=BackupSchedule \
    -o jsonpath='{range .items[*]}{.reason}{" "}{end}' 2>/dev/null)
[[ " $reasons " == *" Scheduled "* ]] || fail "no Scheduled Event (saw: $reasons)"
[[ " $reasons " == *" Pruned "* ]] || fail "no Pruned Event (saw: $reasons)"
ok "Events: Scheduled and Pruned"
# suspend: a minute boundary has passed since, and no new run
wait_for $((70 - ($(date +%s) - suspended_at))) "suspend: a minute boundary has passed" \
    minute_passed "$suspended_at"
sleep 3
[ "$(count_of badcron) $(count_of badzone)" = "$suspended_counts" ] ||
    fail "suspend: Backups went from $suspended_counts to $(count_of badcron) $(count_of badzone)"
ok "suspend: no run after suspending"

# A clean stop: exit 0, and (in the ASan build) no sanitizer report.
stop_controller
check_clean_log
ok "the controller stopped cleanly on SIGTERM (exit 0, no sanitizer report)"
