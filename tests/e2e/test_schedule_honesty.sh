#!/usr/bin/env bash
# Issue 15, points 1-6: a BackupSchedule never fails silently. The real
# snapstage binary against the mini-cluster (MariaDB primary + 2 replicas),
# talking to the API server through hack/faultproxy.py so that a Backup
# create can be refused on demand. Cases:
#   longname   a 64-character name: refused by the CRD at `kubectl apply`;
#              made anyway under a CRD without that rule (an object older
#              than the rule) -> Ready=False InvalidSpec and an Event, no
#              Backup
#   badannot   "bad key!" in spec.snapshot.annotations -> InvalidSpec + Event
#   neverruns  "0 0 30 2 *" -> Ready=False NeverRuns + Event
#   localtime  timeZone localtime -> Ready=False InvalidTimeZone + Event;
#              badcron "61 * * * *" -> InvalidSchedule + Event; touched
#              again, still one Event each (once per change)
#   foreign    retention (keepLast 1, keepFailed 0) of schedule "keep": its
#              own failed run-now Backup is pruned; a Failed Backup that
#              merely carries snapstage.io/schedule=keep, and one with the
#              label and another schedule's uid, both survive
#   flaky      the API server answers 500 to the first 3 Backup creates ->
#              Ready=False BackupCreateFailed + Event, retried, the Backup
#              made, Ready=True again
#   rejected   the API server answers 422 (a message with a newline, 2,000
#              bytes long) to every Backup create -> Ready=False
#              BackupRejected with the server's message (no control
#              characters, bounded), one create per request (no retry loop
#              in 10 s), the minutely due time counted missed with cause
#              BackupRejected
#   late       target missing, "* * * * *", startingDeadlineSeconds 5 ->
#              at the minute boundary the due time waits, then is missed:
#              missedRuns 1 and a Missed Event naming TargetNotFound (not
#              "controller down")
# Ends with a checked SIGTERM: exit 0 and no sanitizer report.
#
# Environment: SNAPSTAGE_CLUSTER_DIR (a running `hack/cluster.sh up
# --with-mariadb` cluster), SNAPSTAGE_BIN (the controller).
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_schedule_honesty honesty

proxy_pid=
on_exit() {
    # The CRD as the repository has it, whatever happened here.
    "$KUBECTL" apply -f "$ROOT/crds/snapstage.io_backupschedules.yaml" >/dev/null 2>&1 || true
    kill_controller
    [ -z "$proxy_pid" ] || { kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; }
}
dump_on_fail() {
    kn get backupschedules -o yaml 2>/dev/null | grep -E '^  name:|^    name:|reason:|message:|missedRuns|lastRunNowToken' | tail -n 60 || true
    [ -z "${FAULTPROXY_CONTROL_PORT:-}" ] ||
        curl -sS "http://127.0.0.1:$FAULTPROXY_CONTROL_PORT/faults" || true
}

apply_schedule() { schedule_yaml "$@" | kn apply -f - >/dev/null || fail "applying BackupSchedule $1"; }
bs() { kn get backupschedule "$1" -o jsonpath="$2"; }
ready_is() { # schedule status reason
    [ "$(bs "$1" '{.status.conditions[?(@.type=="Ready")].status}')" = "$2" ] &&
        [ "$(bs "$1" '{.status.conditions[?(@.type=="Ready")].reason}')" = "$3" ]
}
ready_msg() { bs "$1" '{.status.conditions[?(@.type=="Ready")].message}'; }
events_of() { # object reason: "count|message" lines of its Events of that reason
    kn get events --field-selector "involvedObject.name=$1,reason=$2" \
        -o jsonpath='{range .items[*]}{.count}|{.message}{"\n"}{end}' 2>/dev/null
}
has_event() { [ -n "$(events_of "$1" "$2")" ]; }
one_event() { # object reason: exactly one Event object, seen once
    local e
    e=$(events_of "$1" "$2")
    [ "$(printf '%s\n' "$e" | grep -c .)" = 1 ] && [[ "$e" == 1\|* || "$e" == \|* ]]
}
backups_of() { kn get backups -l "snapstage.io/schedule=$1" -o jsonpath='{.items[*].metadata.name}'; }
count_of() { backups_of "$1" | wc -w; }
run_now() { kn annotate backupschedule "$1" "snapstage.io/run-now=$2" --overwrite >/dev/null; }
token_is() { [ "$(bs "$1" '{.status.lastRunNowToken}')" = "$2" ]; }
bk_cond() { kn get backup "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].status}"; }
is_failed() { [ "$(bk_cond "$1" Failed)" = True ]; }
gone() { ! kn get "$@" >/dev/null 2>&1; }
field_is() { [ "$(bs "$1" "$2")" = "$3" ]; }
field_at_least() { [ "$(bs "$1" "$2")" -ge "$3" ] 2>/dev/null; }
both_failed() { is_failed foreign-label && is_failed foreign-uid; }
create_long() { schedule_yaml "$long" "H 3 * * *" | kn create -f - >/dev/null 2>&1; }
missed_because() { events_of "$1" Missed | grep -qF "($2)"; }
seconds_left() { # bound since: seconds of `bound` left since epoch `since`, at least 5
    local left=$(($1 - ($(date +%s) - $2)))
    [ $left -ge 5 ] || left=5
    echo $left
}

# ---- set-up: the mini-cluster's MariaDB, the fault proxy, the controller ------------------
install_crds
mini_mariadb_up
# a password no server takes: the own Backups of "keep" fail fast
kn create secret generic wrong-password --from-literal=username=root \
    --from-literal=password=not-the-password >/dev/null
"$ROOT/hack/faultproxy.py" --cluster-dir "$SNAPSTAGE_CLUSTER_DIR" --write-kubeconfig "$work/proxy.kubeconfig" \
    --ports-file "$work/proxy.ports" --log "$work/proxy.log" >"$work/proxy.out" 2>&1 &
proxy_pid=$!
wait_for 15 "the fault proxy listens" test -s "$work/proxy.ports"
# shellcheck disable=SC1091
. "$work/proxy.ports"
proxy() { curl -sS --max-time 10 "$@"; }
set_rules() {
    proxy -X POST -o /dev/null -w '%{http_code}' "http://127.0.0.1:$FAULTPROXY_CONTROL_PORT/faults" -d "$1" |
        grep -qx 200 || fail "setting proxy rules $1"
}
clear_rules() { proxy -X DELETE "http://127.0.0.1:$FAULTPROXY_CONTROL_PORT/faults" >/dev/null; }
backup_posts() { # POSTs of Backups in our namespace the proxy has seen
    proxy "http://127.0.0.1:$FAULTPROXY_CONTROL_PORT/requests" |
        jq --arg p "/apis/snapstage.io/v1alpha1/namespaces/$ns/backups" \
            '[.requests[] | select(.method == "POST" and .path == $p)] | length'
}
KUBECONFIG=$work/proxy.kubeconfig start_controller

# ---- late: the due time of a schedule whose target is missing ----------------------------
# First, so that the minute boundary it needs comes while the rest runs.
apply_schedule late "* * * * *" "  startingDeadlineSeconds: 5" nosuch
wait_for 15 "late: Ready=False TargetNotFound" ready_is late False TargetNotFound
wait_for 10 "late: an Event TargetNotFound" has_event late TargetNotFound
late_at=$(date +%s)

# ---- longname: refused by the schema, and by the controller -------------------------------
long=s234567890123456789012345678901234567890123456789012345678901234
out=$(schedule_yaml "$long" "H 3 * * *" | kn apply -f - 2>&1) &&
    fail "the API server took a 64-character BackupSchedule name: $out"
[[ "$out" == *"at most 63"* ]] || fail "longname: refused, but not for its length: $out"
ok "longname: kubectl apply refused: ${out##*: }"
# An object made before the CRD had that rule: a copy of the CRD without it.
python3 - "$ROOT/crds/snapstage.io_backupschedules.yaml" >"$work/loose-crd.yaml" <<'PY'
import sys, yaml
crd = yaml.safe_load(open(sys.argv[1]))
for v in crd["spec"]["versions"]:
    v["schema"]["openAPIV3Schema"]["properties"]["metadata"] = {"type": "object"}
print(yaml.safe_dump(crd))
PY
"$KUBECTL" apply -f "$work/loose-crd.yaml" >/dev/null || fail "installing the CRD without the name rule"
wait_for 30 "longname: made under the older CRD" create_long
wait_for 15 "longname: Ready=False InvalidSpec" ready_is "$long" False InvalidSpec
note "message: $(ready_msg "$long")"
[[ "$(ready_msg "$long")" == *"metadata.name"*"snapstage.io/schedule"* ]] ||
    fail "longname: the message does not say why: $(ready_msg "$long")"
wait_for 10 "longname: an Event InvalidSpec" has_event "$long" InvalidSpec
"$KUBECTL" apply -f "$ROOT/crds/snapstage.io_backupschedules.yaml" >/dev/null

# ---- badannot, neverruns, localtime, badcron -------------------------------------------------
apply_schedule badannot "* * * * *" '  snapshot:
    annotations:
      "bad key!": "v"'
wait_for 15 "badannot: Ready=False InvalidSpec" ready_is badannot False InvalidSpec
[[ "$(ready_msg badannot)" == *'"bad key!" is not a valid annotation key'* ]] ||
    fail "badannot: message $(ready_msg badannot)"
wait_for 10 "badannot: an Event InvalidSpec" has_event badannot InvalidSpec
apply_schedule neverruns "0 0 30 2 *"
wait_for 15 "neverruns: Ready=False NeverRuns" ready_is neverruns False NeverRuns
note "message: $(ready_msg neverruns)"
[ -z "$(bs neverruns '{.status.nextScheduleTime}')" ] || fail "neverruns: a nextScheduleTime"
wait_for 10 "neverruns: an Event NeverRuns" has_event neverruns NeverRuns
apply_schedule localtime "* * * * *" "  timeZone: localtime"
wait_for 15 "localtime: Ready=False InvalidTimeZone" ready_is localtime False InvalidTimeZone
note "message: $(ready_msg localtime)"
wait_for 10 "localtime: an Event InvalidTimeZone" has_event localtime InvalidTimeZone
apply_schedule badcron "61 * * * *"
wait_for 15 "badcron: Ready=False InvalidSchedule" ready_is badcron False InvalidSchedule
wait_for 10 "badcron: an Event InvalidSchedule" has_event badcron InvalidSchedule
for s in badannot neverruns localtime badcron; do
    kn annotate backupschedule "$s" touched=1 >/dev/null
done
sleep 2
for s in "badannot InvalidSpec" "neverruns NeverRuns" "localtime InvalidTimeZone" "badcron InvalidSchedule"; do
    # shellcheck disable=SC2086
    one_event $s || fail "$s: not exactly one Event, seen once: $(events_of $s)"
done
ok "InvalidSpec, NeverRuns, InvalidTimeZone, InvalidSchedule: one Event each, not repeated by a touch"
for s in "$long" badannot neverruns localtime badcron; do
    [ "$(count_of "$s")" = 0 ] || fail "$s made a Backup: $(backups_of "$s")"
done
ok "no Backup from a schedule that cannot run"

# ---- foreign: retention prunes only the schedule's own Backups ------------------------------
apply_schedule keep "0 0 1 1 *" "  retention:
    keepLast: 1
    keepFailed: 0" mariadb wrong-password
wait_for 15 "keep: Ready=True" ready_is keep True Scheduled
foreign_backup() { # name [schedule-uid]: a Backup that carries keep's label
    kn apply -f - >/dev/null <<YAML || fail "creating Backup $1"
apiVersion: snapstage.io/v1alpha1
kind: Backup
metadata:
  name: $1
  labels:
    snapstage.io/schedule: keep
${2:+    snapstage.io/schedule-uid: $2}
spec:
  target:
    statefulSetName: nosuch
    connection:
      credentialsSecretRef: {name: mariadb-backup}
YAML
}
foreign_backup foreign-label
foreign_backup foreign-uid 0b7e0000-0000-4000-8000-000000000002
wait_for 30 "foreign: both foreign Backups Failed (TargetNotFound)" both_failed
run_now keep A
wait_for 15 "foreign: run-now A recorded" token_is keep A
# It fails at once (AuthenticationFailed) and is pruned in the same breath.
wait_for 60 "foreign: status.retention.prunedTotal is 1" \
    field_is keep '{.status.retention.prunedTotal}' 1
e=$(events_of keep Pruned)
note "event: $e"
[[ "$e" == *"deleted Backup keep-now-"*"(beyond keepFailed)"* ]] ||
    fail "foreign: the pruned Backup is not keep's own run-now Backup: $e"
own=$(printf '%s\n' "$e" | sed -n 's/.*deleted Backup \(keep-now-[0-9a-f]*\).*/\1/p' | sed -n 1p)
gone backup "$own" || fail "foreign: $own is still there"
sleep 2
kn get backup foreign-label >/dev/null 2>&1 || fail "foreign: foreign-label (the label only) was pruned"
kn get backup foreign-uid >/dev/null 2>&1 || fail "foreign: foreign-uid (another schedule's uid) was pruned"
ok "foreign: both Backups that merely carry the label survive retention"

# ---- flaky: a create that fails and is retried ---------------------------------------------
apply_schedule flaky "0 0 1 1 *" "" mariadb wrong-password
wait_for 15 "flaky: Ready=True" ready_is flaky True Scheduled
set_rules '{"rules":[{"method":"POST","path_regex":"/namespaces/'"$ns"'/backups$","status":500,"message":"etcd is having a bad day","times":3}]}'
run_now flaky F1
wait_for 30 "flaky: the run-now Backup made after 3 refusals" token_is flaky F1
[ "$(count_of flaky)" = 1 ] || fail "flaky: $(count_of flaky) Backups"
[ "$(kn get backups -l "snapstage.io/schedule-uid=$(bs flaky '{.metadata.uid}')" -o name | wc -l)" = 1 ] ||
    fail "flaky: its Backup does not carry snapstage.io/schedule-uid=<the schedule's uid>"
wait_for 15 "flaky: Ready=True again" ready_is flaky True Scheduled
wait_for 10 "flaky: an Event BackupCreateFailed" has_event flaky BackupCreateFailed
note "event: $(events_of flaky BackupCreateFailed | head -n 1)"
clear_rules

# ---- rejected: a create the API server refuses as invalid ---------------------------------
msg=$(python3 -c 'print("spec.lock.timeoutSeconds: Invalid value: 30: must be at most 20\nsecond line " + "x" * 2000)')
set_rules "$(jq -cn --arg ns "$ns" --arg m "$msg" \
    '{rules:[{method:"POST",path_regex:("/namespaces/"+$ns+"/backups$"),status:422,reason:"Invalid",message:$m}]}')"
posts_before=$(backup_posts)
minute_before=$(($(date +%s) / 60))
apply_schedule rejected "* * * * *"
rejected_at=$(date +%s)
run_now rejected R1
wait_for 15 "rejected: Ready=False BackupRejected" ready_is rejected False BackupRejected
m=$(ready_msg rejected)
note "message (${#m} bytes): ${m:0:160}..."
[[ "$m" == *"must be at most 20 second line"* ]] || fail "rejected: the server's reason is not in the message (or a newline is): $m"
[ "${#m}" -le 1024 ] || fail "rejected: the message has ${#m} bytes"
token_is rejected R1 || fail "rejected: the refused token is not recorded (it would be retried)"
wait_for 10 "rejected: an Event BackupRejected" has_event rejected BackupRejected
sleep 10
posts=$(($(backup_posts) - posts_before))
if [ $(($(date +%s) / 60)) != "$minute_before" ]; then
    # a minute boundary brought the due time's own create
    [ "$posts" -le 2 ] || fail "rejected: $posts creates in about 10 s (a retry loop)"
else
    [ "$posts" = 1 ] || fail "rejected: $posts creates for one run-now request"
fi
ok "rejected: $posts create(s) in about 10 s, no retry loop"

# ---- late (and rejected at the minute boundary) ----------------------------------------------
wait_for "$(seconds_left 75 "$late_at")" "late: the due time missed (missedRuns 1)" \
    field_is late '{.status.missedRuns}' 1
wait_for 10 "late: a Missed Event" has_event late Missed
e=$(events_of late Missed)
note "event: $e"
[[ "$e" == *"(TargetNotFound)"* ]] || fail "late: the Missed Event does not name TargetNotFound: $e"
[[ "$e" != *"controller down"* ]] || fail "late: the Missed Event blames the controller: $e"
ok "late: missed with its real cause, TargetNotFound"
ready_is late False TargetNotFound || fail "late: Ready is no longer TargetNotFound"
wait_for "$(seconds_left 75 "$rejected_at")" "rejected: the minutely due time missed too" \
    field_at_least rejected '{.status.missedRuns}' 1
wait_for 10 "rejected: a Missed Event naming BackupRejected" missed_because rejected BackupRejected
ready_is rejected False BackupRejected || fail "rejected: Ready is not BackupRejected after the due time"
clear_rules

# A clean stop: exit 0, and (in the ASan build) no sanitizer report.
stop_controller
check_clean_log
ok "the controller stopped cleanly on SIGTERM (exit 0, no sanitizer report)"
