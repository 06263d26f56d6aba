#!/usr/bin/env bash
# Restore verification end to end: the real snapstage binary with
# --enable-verification against the mini-cluster (hack/sim/mariadb.yaml: a
# primary and two replicas; the sim's storage driver and node agent run
# the scratch claims and Pod). Cases, each started by a new
# snapstage.io/verify-now token on a Backup of schedule "nightly" (whose
# spec.verification carries a user check):
#   good       Verified=True, status.verification Done/Passed with the
#              ServerStart, CheckTable, Position and user check records all
#              Passed and the step durations; Events; metrics
#   corrupt    the data snapshot corrupted on restore (the sim's
#              corrupt-on-restore flips bytes of shop.audit.MYD):
#              Verified=False TableCorrupt naming shop.audit
#   position   the Backup's recorded gtidSlavePos/gtidBinlogPos edited:
#              PositionMismatch
#   check      a user check that finds no row: CheckFailed naming it
#   nostart    the redo log truncated on restore: the scratch server never
#              starts: ServerDidNotStart with the server's last log lines
#   kill       the controller SIGKILLed in Restoring, Starting, Checking and
#              CleaningUp (and restarted): each verification still finishes
#              once, with one ServerStart record and no check run twice
#   schedule   spec.verification's cron ("* * * * *") requests one by itself
#              (a new lastVerificationRequestTime, a due-time token), Done, and the
#              schedule reports lastVerifiedBackup
#   delete     a Backup deleted mid-verification: its scratch objects go
#              first (the finalizer), then the Backup
# After every case: no scratch Pod or claim (label snapstage.io/scratch)
# is left, and the live StatefulSet's Pods and claims are untouched.
#
# Environment: SNAPSTAGE_CLUSTER_DIR, SNAPSTAGE_BIN.
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_verify verify

dump_on_fail() {
    kn get backups -o yaml 2>/dev/null | grep -A40 'verification:' | tail -n 120 || true
    kn get pods,pvc 2>/dev/null || true
    tail -n 40 "$work/controller.log" 2>/dev/null || true
}

bv() { kn get backup "$1" -o jsonpath="$2"; }
vphase() { bv "$1" '{.status.verification.phase}'; }
vtoken_done() { # backup token: the verification of that token is Done
    [ "$(bv "$1" '{.status.verification.token}')" = "$2" ] && [ "$(vphase "$1")" = Done ]
}
verified_is() { # backup status reason
    [ "$(bv "$1" '{.status.conditions[?(@.type=="Verified")].status}')" = "$2" ] &&
        [ "$(bv "$1" '{.status.conditions[?(@.type=="Verified")].reason}')" = "$3" ]
}
verify_now() { kn annotate backup "$1" "snapstage.io/verify-now=$2" --overwrite >/dev/null; }
scratch_left() { kn get pods,pvc -l snapstage.io/scratch=verify -o name 2>/dev/null; }
no_scratch_left() { [ -z "$(scratch_left)" ]; }
backup_complete() {
    [ "$(bv "$1" '{.status.conditions[?(@.type=="Complete")].status}')" = True ]
}
backups_of_nightly() { kn get backups -l snapstage.io/schedule=nightly -o jsonpath='{.items[*].metadata.name}'; }
count_nightly_is() { [ "$(backups_of_nightly | wc -w)" = "$1" ]; }
newest_nightly() {
    kn get backups -l snapstage.io/schedule=nightly --sort-by=.metadata.creationTimestamp \
        -o jsonpath='{.items[-1:].metadata.name}'
}
run_now() { kn annotate backupschedule nightly "snapstage.io/run-now=$1" --overwrite >/dev/null; }
data_snapshot() { bv "$1" '{.status.snapshots[?(@.volume=="data")].volumeSnapshotName}'; }
live_state() { # the live Pods' and claims' uids: must never change
    kn get pods,pvc -l app=mariadb -o jsonpath='{range .items[*]}{.metadata.uid} {end}'
}
# verify BACKUP TOKEN SECONDS: request, wait until Done, no scratch left.
verify() {
    verify_now "$1" "$2"
    wait_for "$3" "verification $2 of $1 is Done" vtoken_done "$1" "$2"
    wait_for 60 "no scratch Pod or claim left after $2" no_scratch_left
    note "$2: $(bv "$1" '{.status.verification.result} {.status.verification.reason}: {.status.verification.message}')"
}
checks_of() { bv "$1" '{range .status.verification.checks[*]}{.type}/{.name}={.result} {end}'; }
metric() { curl -s "http://127.0.0.1:$metrics_port/metrics" | grep "^$1" || true; }

schedule() { # the schedule "nightly" with verification; $1: extra check YAML
    kn apply -f - >/dev/null <<YAML || fail "applying the schedule"
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
  verification:
    schedule: "${VERIFY_CRON:-0 0 1 1 *}"
    startTimeoutSeconds: ${VERIFY_START:-45}
    checkTimeoutSeconds: 120
    checks:
      - name: orders
        sql: SELECT COUNT(*) FROM shop.orders
        expect:
          atLeast: 3
${1:-}
YAML
}

# ---- set-up ------------------------------------------------------------------
install_crds
mini_mariadb_up
start_controller --enable-verification
sql mariadb-0 "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO shop.orders VALUES (1), (2), (3);
CREATE TABLE shop.audit (id INT PRIMARY KEY, note VARCHAR(200)) ENGINE=MyISAM;
CREATE TABLE shop.notes (id INT PRIMARY KEY, note VARCHAR(200)) ENGINE=Aria;
INSERT INTO shop.audit SELECT seq, REPEAT('a', 100) FROM shop.seq_1_to_3000;
INSERT INTO shop.notes SELECT seq, REPEAT('n', 100) FROM shop.seq_1_to_1000;" ||
    fail "writing on the primary"
wait_for 60 "the rows on mariadb-1" rows_are mariadb-1 1,2,3
wait_for 60 "the rows on mariadb-2" rows_are mariadb-2 1,2,3
schedule
run_now a
wait_for 30 "schedule: a Backup exists" count_nightly_is 1
b=$(newest_nightly)
wait_for 120 "Backup $b completes" backup_complete "$b"
live_before=$(live_state)

# ---- good ----------------------------------------------------------------------
verify "$b" good 300
verified_is "$b" True Verified || fail "good: Verified is not True/Verified: $(bv "$b" '{.status.conditions}')"
[ "$(bv "$b" '{.status.verification.result}')" = Passed ] || fail "good: result not Passed"
c=$(checks_of "$b")
[ "$c" = "ServerStart/=Passed CheckTable/=Passed Position/=Passed User/orders=Passed " ] ||
    fail "good: the checks recorded are '$c'"
ok "good: Verified=True, every check Passed ($c)"
for f in restoreMilliseconds startMilliseconds checkMilliseconds cleanupMilliseconds; do
    v=$(bv "$b" "{.status.verification.$f}")
    [ -n "$v" ] && [ "$v" -ge 0 ] || fail "good: status.verification.$f is '$v'"
done
ok "good: durations restore $(bv "$b" '{.status.verification.restoreMilliseconds}') ms, start $(bv "$b" '{.status.verification.startMilliseconds}') ms, checks $(bv "$b" '{.status.verification.checkMilliseconds}') ms, clean-up $(bv "$b" '{.status.verification.cleanupMilliseconds}') ms"
msg=$(bv "$b" '{.status.verification.checks[?(@.type=="CheckTable")].message}')
case $msg in *"tables OK"*) ok "good: CheckTable says: $msg" ;; *) fail "good: CheckTable message '$msg'" ;; esac
kn get events --field-selector "involvedObject.name=$b" -o jsonpath='{.items[*].reason}' |
    grep -q VerificationPassed || fail "good: no VerificationPassed Event"
m=$(metric snapstage_verifications_total)
echo "$m" | grep -q "result=\"Passed\"} 1" || fail "good: snapstage_verifications_total: $m"
metric snapstage_backup_last_verified_timestamp_seconds | grep -q "schedule=\"nightly\"" ||
    fail "good: no last-verified timestamp metric"
ok "good: Event VerificationPassed, metrics $(echo "$m" | tr '\n' ' ')"

# ---- corrupt ---------------------------------------------------------------------
snap=$(data_snapshot "$b")
kn annotate volumesnapshot "$snap" "sim.snapstage.io/corrupt-on-restore=flip:shop/audit.MYD" \
    --overwrite >/dev/null
verify "$b" corrupt 300
verified_is "$b" False TableCorrupt || fail "corrupt: Verified is not False/TableCorrupt"
case $(bv "$b" '{.status.verification.message}') in
*shop*audit*) ok "corrupt: TableCorrupt names shop.audit" ;;
*) fail "corrupt: the message does not name shop.audit" ;;
esac
kn annotate volumesnapshot "$snap" sim.snapstage.io/corrupt-on-restore- >/dev/null
schedule

# ---- position ----------------------------------------------------------------------
pos_slave=$(bv "$b" '{.status.position.gtidSlavePos}')
pos_binlog=$(bv "$b" '{.status.position.gtidBinlogPos}')
kn patch backup "$b" --subresource=status --type=merge \
    -p '{"status":{"position":{"gtidSlavePos":"0-1-999999","gtidBinlogPos":"0-1-999999"}}}' \
    >/dev/null || fail "editing the recorded position"
verify "$b" position 300
verified_is "$b" False PositionMismatch || fail "position: not PositionMismatch"
ok "position: PositionMismatch ($(bv "$b" '{.status.verification.message}'))"
kn patch backup "$b" --subresource=status --type=merge \
    -p "{\"status\":{\"position\":{\"gtidSlavePos\":\"$pos_slave\",\"gtidBinlogPos\":\"$pos_binlog\"}}}" \
    >/dev/null || fail "putting the position back"

# ---- check -------------------------------------------------------------------------
schedule "      - name: big-orders
        sql: SELECT id FROM shop.orders WHERE id > 1000"
verify "$b" check 300
verified_is "$b" False CheckFailed || fail "check: not CheckFailed"
case $(bv "$b" '{.status.verification.message}') in
*big-orders*) ok "check: CheckFailed names big-orders ($(bv "$b" '{.status.verification.message}'))" ;;
*) fail "check: the message does not name big-orders" ;;
esac
schedule

# ---- nostart -------------------------------------------------------------------------
kn annotate volumesnapshot "$snap" "sim.snapstage.io/corrupt-on-restore=truncate=1024:ib_logfile0" \
    --overwrite >/dev/null
# A server that cannot start is waited for startTimeoutSeconds: 15 here
# (the good cases start in a few seconds; 45 s elsewhere for a busy machine).
VERIFY_START=15 schedule
verify "$b" nostart 300
verified_is "$b" False ServerDidNotStart || fail "nostart: not ServerDidNotStart"
case $(bv "$b" '{.status.verification.message}') in
*"[ERROR]"*) ok "nostart: the server's last lines, its errors included, are in the message" ;;
*) fail "nostart: message without the server's lines: $(bv "$b" '{.status.verification.message}')" ;;
esac
kn annotate volumesnapshot "$snap" sim.snapstage.io/corrupt-on-restore- >/dev/null

# ---- kill ------------------------------------------------------------------------------
phase_is() { [ "$(vphase "$1")" = "$2" ]; }
seen_phase() { # backup phase seconds: polls, false when it never showed
    local end=$((SECONDS + $3))
    while [ $SECONDS -lt $end ]; do
        phase_is "$1" "$2" && return 0
        [ "$(vphase "$1")" = Done ] && return 1
        sleep 0.1
    done
    return 1
}
# A slow user check keeps the verification in Checking long enough to be
# seen (and it runs again after the restart).
schedule "      - name: slow
        sql: SELECT SLEEP(6)"
for p in Restoring Starting Checking CleaningUp; do
    verify_now "$b" "kill-$p"
    if seen_phase "$b" "$p" 120; then
        kill_controller KILL
        note "SIGKILLed the controller in $p"
        start_controller --enable-verification
    else
        note "kill-$p: $p went by unseen; no kill this round"
    fi
    wait_for 300 "kill-$p is Done" vtoken_done "$b" "kill-$p"
    wait_for 60 "no scratch left after kill-$p" no_scratch_left
    verified_is "$b" True Verified || fail "kill-$p: not Verified=True: $(bv "$b" '{.status.verification.message}')"
    n=$(bv "$b" '{range .status.verification.checks[*]}{.type} {end}' | tr ' ' '\n' | grep -c ServerStart || true)
    [ "$n" = 1 ] || fail "kill-$p: $n ServerStart records"
    n=$(bv "$b" '{range .status.verification.checks[*]}{.type} {end}' | wc -w)
    [ "$n" = 5 ] || fail "kill-$p: $n check records, not 5 (checks run twice?)"
    ok "kill-$p: finished once after the kill, nothing left"
done
schedule

# ---- schedule --------------------------------------------------------------------------
VERIFY_CRON="* * * * *" schedule
due_token() { # the Backup's verify-now is a due time (RFC 3339) the cron set
    case $(bv "$b" '{.metadata.annotations.snapstage\.io/verify-now}') in
    20[0-9][0-9]-*T*Z) return 0 ;;
    *) return 1 ;;
    esac
}
# A due time that finds the Backup still being verified (a kill round just
# ended) is consumed with VerificationInProgress; the next minute asks.
wait_for 150 "the schedule's cron asks for a verification (a due-time token)" due_token
t=$(bv "$b" '{.metadata.annotations.snapstage\.io/verify-now}')
[ -n "$(kn get backupschedule nightly -o jsonpath='{.status.lastVerificationRequestTime}')" ] ||
    fail "schedule: no status.lastVerificationRequestTime"
wait_for 300 "the scheduled verification ($t) is Done" vtoken_done "$b" "$t"
verified_is "$b" True Verified || fail "schedule: not Verified=True"
wait_for 60 "the schedule reports lastVerifiedBackup $b" \
    test "$(kn get backupschedule nightly -o jsonpath='{.status.lastVerifiedBackup}')" = "$b"
kn get events --field-selector "involvedObject.name=nightly" -o jsonpath='{.items[*].reason}' |
    grep -q VerificationRequested || fail "schedule: no VerificationRequested Event"
ok "schedule: its cron requested $t, verified $b, reported in the schedule's status"
VERIFY_CRON="0 0 1 1 *" schedule

# ---- delete --------------------------------------------------------------------------
run_now del
wait_for 30 "schedule: a second Backup exists" count_nightly_is 2
b2=$(newest_nightly)
wait_for 120 "Backup $b2 completes" backup_complete "$b2"
verify_now "$b2" del
seen_phase "$b2" Starting 120 || seen_phase "$b2" Checking 60 ||
    note "delete: $b2's verification went by unseen"
kn delete backup "$b2" --wait=false >/dev/null
backup_gone() { ! kn get backup "$1" >/dev/null 2>&1; }
wait_for 120 "the Backup deleted mid-verification is gone" backup_gone "$b2"
wait_for 60 "no scratch Pod or claim left after the deletion" no_scratch_left
ok "delete: deleting a Backup mid-verification removed its scratch objects first"

# ---- the live database untouched -------------------------------------------------------
[ "$(live_state)" = "$live_before" ] || fail "the live Pods or claims changed"
rows_are mariadb-0 1,2,3 || fail "the primary's rows changed"
ok "the live StatefulSet's Pods and claims are the same objects; rows intact"
stop_controller
check_clean_log
ok "test_verify passed"
