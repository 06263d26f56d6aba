#!/usr/bin/env bash
# A "* * * * *" BackupSchedule makes one Backup per minute, and none twice,
# while the controller is restarted and leadership moves between two
# replicas: two processes of the real snapstage binary (the Backup controller
# in each) with --leader-elect on one Lease in the test's namespace (lease
# 4s, renew deadline 3s, retry 1s), against the mini-cluster with a MariaDB
# primary + 2 replicas (hack/sim/mariadb.yaml). The events are placed
# relative to the minute boundaries B1 < B2 < B3 < B4 after the schedule is
# created:
#   start      exactly one of the two leads (Lease holder; snapstage_leader
#              1 on it, 0 on the other); B1 makes a Backup that completes
#   sigkill    SIGKILL the leader at B2-2s: the follower takes over once the
#              Lease expires, after B2 (checked: B2 passes while no one
#              leads), and makes B2's Backup late; the killed one restarts
#              and stays a follower
#   sigterm    SIGTERM the leader at B3+0.4s, while B3's Backup is usually
#              still running: it exits 0 and releases the Lease, the other
#              takes over within a second; the stopped one restarts as a
#              follower
#   both       SIGTERM both at B4-2s, both exit 0, both restart (B4 passes
#              meanwhile); one leads and makes B4's Backup
# Then, over the whole run:
#   names      each Backup of the schedule (label snapstage.io/schedule) is
#              <schedule>-<YYYYMMDDhhmm> of its snapstage.io/scheduled-time,
#              a whole minute
#   minutes    the scheduled times are distinct and consecutive from the
#              first boundary after the schedule's creation to the last
#              boundary before the check: no duplicate, no gap, and as many
#              Backups as boundaries crossed
#   status     status.missedRuns and status.skippedRuns are 0 or absent;
#              lastScheduleTime is the last boundary
#   complete   every Backup has Complete=True, and each was created within
#              30s of its scheduled time (a handover takes ~5s)
#   leaders    at least 3 different holderIdentity values were seen
#              (leadership moved at least twice)
#   clean      every SIGTERM ends with exit 0, and no controller log holds a
#              sanitizer report (the test also runs in the ASan build)
# Schedule events and snapstage_schedule_* metrics are per process, so they
# are not what is checked. Takes about 4 to 5 minutes.
#
# Environment: SNAPSTAGE_CLUSTER_DIR (a running `hack/cluster.sh up
# --with-mariadb` cluster), SNAPSTAGE_BIN (the controller). The controller
# logs are kept in the cluster's logs/ directory.
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_schedule_ha schedule-ha

sched=ha
lease=snapstage-ha
# Two free pairs below the ephemeral range (lib.sh free_port_pair), apart.
base_port=$(free_port_pair)
other_port=$(free_port_pair)
while [ $((other_port - base_port)) -ge -1 ] && [ $((other_port - base_port)) -le 1 ]; do
    other_port=$(free_port_pair)
done
declare -A pid=([a]="" [b]="") id=([a]="" [b]="") log=([a]="" [b]="")
declare -A port=([a]=$base_port [b]=$other_port)
runs=0          # controller processes started, for the log names
holders_seen=() # holderIdentity values observed
timeline=()     # what was done when, for the failure report

# ---- helpers -------------------------------------------------------------------
hms() { date -u -d "@$1" +%H:%M:%S; }
event() {
    timeline+=("$(date -u +%H:%M:%S.%N | cut -c1-12) $*")
    note "$*"
}
dump_on_fail() {
    echo "--- timeline (UTC)"
    printf '  %s\n' "${timeline[@]}"
    echo "--- holders seen: ${holders_seen[*]:-none}"
    kn get lease "$lease" -o yaml 2>/dev/null | sed -n '/^spec:/,$p' || true
    kn get backups -l "snapstage.io/schedule=$sched" -o custom-columns='NAME:.metadata.name,SCHEDULED:.metadata.annotations.snapstage\.io/scheduled-time,CREATED:.metadata.creationTimestamp,PHASE:.status.phase' 2>/dev/null || true
    kn get backupschedule "$sched" -o yaml 2>/dev/null | sed -n '/^status:/,$p' || true
    local f
    for f in "$SNAPSTAGE_CLUSTER_DIR/sim/run/${ns}_"*/install.log; do
        [ -f "$f" ] || continue
        grep -q ERROR "$f" || continue
        echo "--- $f (mariadb-install-db failed: the simulator's, not snapstage's)"
        grep -E 'ERROR|Warning' "$f" | head -n 5
    done
    for f in "$work"/ctrl-*.log; do
        [ -f "$f" ] || continue
        echo "--- $(basename "$f"): leader lines"
        grep -E 'leader|lease' "$f" | tail -n 8 || true
        echo "--- $(basename "$f") (last 25 lines)"
        tail -n 25 "$f"
    done
}

# Starts controller `slot` (a or b) and waits for the identity it campaigns
# with (the log's "campaigning for leadership ... identity=").
start_ctrl() {
    local s=$1 line
    runs=$((runs + 1))
    log[$s]=$work/ctrl-$runs-$s.log
    "$SNAPSTAGE_BIN" --kubeconfig="$KUBECONFIG" --namespace="$ns" \
        --leader-elect --leader-election-namespace="$ns" --leader-election-id="$lease" \
        --leader-elect-lease-duration=4s --leader-elect-renew-deadline=3s \
        --leader-elect-retry-period=1s \
        --metrics-bind-address="127.0.0.1:${port[$s]}" \
        --health-probe-bind-address=127.0.0.1:$((port[$s] + 1)) \
        >"${log[$s]}" 2>&1 &
    pid[$s]=$!
    for _ in $(seq 100); do
        line=$(grep -m1 'campaigning for leadership' "${log[$s]}" || true)
        [ -z "$line" ] || break
        kill -0 "${pid[$s]}" 2>/dev/null || fail "controller $s exited at start"
        sleep 0.1
    done
    [ -n "$line" ] || fail "controller $s: no 'campaigning for leadership' line in 10s"
    [[ "$line" == *"lease=$lease"* && "$line" == *"lease_namespace=$ns"* ]] ||
        fail "controller $s campaigns for another Lease: $line"
    id[$s]=$(sed -E 's/.*identity="?([^" ]+)"?.*/\1/' <<<"$line")
    event "started controller $s (pid ${pid[$s]}, identity ${id[$s]}, log $(basename "${log[$s]}"))"
}
# SIGTERM to the given slots at once, then each must exit 0.
term_ctrl() {
    local s
    for s in "$@"; do kill -TERM "${pid[$s]}"; done
    event "SIGTERM to controller(s) $*"
}
reap_ctrl() {
    local s rc
    for s in "$@"; do
        rc=0
        wait "${pid[$s]}" || rc=$?
        pid[$s]=
        [ $rc = 0 ] || fail "controller $s exited $rc after SIGTERM"
    done
    ok "controller(s) $* exited 0 after SIGTERM"
}
stop_ctrl() {
    term_ctrl "$@"
    reap_ctrl "$@"
}
kill_ctrl() {
    local s=$1 rc=0
    kill -KILL "${pid[$s]}"
    wait "${pid[$s]}" 2>/dev/null || rc=$? # reaped at once: no "Killed" line from bash
    pid[$s]=
    event "SIGKILL to controller $s"
    [ $rc = 137 ] || fail "controller $s: exit $rc after SIGKILL, expected 137"
}
other() { if [ "$1" = a ]; then echo b; else echo a; fi; }
holder() { kn get lease "$lease" -o jsonpath='{.spec.holderIdentity}'; }
leads() { [ -n "${id[$1]}" ] && [ "$(holder)" = "${id[$1]}" ]; }
# The slot whose identity holds the Lease, or nothing.
leader_slot() {
    local h s
    h=$(holder 2>/dev/null) || return 0
    for s in a b; do
        if [ -n "$h" ] && [ "$h" = "${id[$s]}" ]; then echo $s; fi
    done
}
saw_holder() {
    local h
    h=$(holder)
    holders_seen+=("$h")
    event "Lease $lease held by $h (controller $(leader_slot))"
}
ready() { # slot...
    local s
    for s in "$@"; do curl -sf "http://127.0.0.1:$((port[$s] + 1))/readyz" || return 1; done
}
someone_leads() { [ -n "$(leader_slot)" ]; }
schedule_ready() { [ "$(bs '{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
leader_gauge() { # slot -> the value of snapstage_leader{lease=...}
    curl -s "http://127.0.0.1:${port[$1]}/metrics" |
        awk -v l="lease=\"$lease\"" '$1 ~ /^snapstage_leader\{/ && index($1, l) { print $2 }'
}
# Sleeps until the epoch millisecond $1; fails if the test is already more
# than 0.5s past it (the event would land on the wrong side of a boundary).
at_ms() {
    local left=$(($1 - $(date +%s%3N)))
    [ $left -gt -500 ] ||
        fail "timeline slipped: $2 was due at $(hms $(($1 / 1000))), it is $(date -u +%T.%3N)"
    if [ $left -gt 0 ]; then sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"; fi
}
at() { at_ms $(($1 * 1000)) "$2"; }
# When controller `slot` started leading (epoch ms, from its log), or nothing.
led_since_ms() {
    local ts
    ts=$(grep -m1 'started leading' "${log[$1]}" | sed -E 's/^ts=([^ ]+) .*/\1/')
    [ -z "$ts" ] || date -u -d "$ts" +%s%3N
}
# "+1.234s" / "-0.500s": epoch ms $1 relative to epoch second $2.
rel() {
    local d=$(($1 - $2 * 1000)) sign=+
    if [ $d -lt 0 ]; then sign=- d=$((-d)); fi
    printf '%s%d.%03ds' $sign $((d / 1000)) $((d % 1000))
}
backup_for() { echo "$sched-$(date -u -d "@$1" +%Y%m%d%H%M)"; }
is_complete() { [ "$(kn get backup "$1" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}')" = True ]; }
backups_of() { kn get backups -l "snapstage.io/schedule=$sched" -o jsonpath='{.items[*].metadata.name}'; }
all_complete() {
    local b
    for b in $(backups_of); do is_complete "$b" || return 1; done
}
bs() { kn get backupschedule "$sched" -o jsonpath="$1"; }

on_exit() { # both controllers stopped; e2e_cleanup keeps their logs
    local s
    for s in a b; do
        if [ -n "${pid[$s]}" ]; then kill -TERM "${pid[$s]}" 2>/dev/null || true; fi
    done
    for s in a b; do
        [ -n "${pid[$s]}" ] && { wait "${pid[$s]}" 2>/dev/null || true; }
    done
}

# ---- set-up --------------------------------------------------------------------
install_crds
mini_mariadb_up

start_ctrl a
start_ctrl b
wait_for 20 "start: one of the two controllers holds the Lease" someone_leads
wait_for 20 "start: both controllers are ready (caches synced)" ready a b
L=$(leader_slot)
[ -n "$L" ] || fail "start: the Lease holder '$(holder)' is neither controller"
saw_holder
[ "$(leader_gauge "$L")" = 1 ] || fail "start: snapstage_leader on the leader $L is '$(leader_gauge "$L")'"
[ "$(leader_gauge "$(other "$L")")" = 0 ] ||
    fail "start: snapstage_leader on the follower $(other "$L") is '$(leader_gauge "$(other "$L")")'"
ok "start: controller $L leads, $(other "$L") follows (snapstage_leader 1 and 0)"

# Create the schedule away from a minute boundary, so which boundary is the
# first one after creationTimestamp (whole seconds) is not in doubt.
s=$(($(date +%s) % 60))
if [ $s -ge 56 ] || [ $s -le 2 ]; then sleep $(((63 - s) % 60)); fi
cat >"$work/$sched.yaml" <<YAML
apiVersion: snapstage.io/v1alpha1
kind: BackupSchedule
metadata:
  name: $sched
spec:
  schedule: "* * * * *"
  target:
    statefulSetName: mariadb
    role: PreferReplica
    connection:
      credentialsSecretRef:
        name: mariadb-backup
YAML
kn apply -f "$work/$sched.yaml" >/dev/null || fail "applying BackupSchedule $sched"
created=$(date -u -d "$(bs '{.metadata.creationTimestamp}')" +%s)
B1=$(((created / 60 + 1) * 60))
B2=$((B1 + 60)) B3=$((B1 + 120)) B4=$((B1 + 180))
event "schedule $sched created at $(hms "$created"); boundaries B1..B4 $(hms $B1) $(hms $B2) $(hms $B3) $(hms $B4)"
wait_for 15 "the schedule is Ready" schedule_ready
[ -z "$(backups_of)" ] || fail "a Backup before the first boundary: $(backups_of)"

# ---- B1: undisturbed -----------------------------------------------------------
at $B1 "B1"
wait_for 30 "B1: $(backup_for $B1) exists" kn get backup "$(backup_for $B1)"
wait_for 60 "B1: $(backup_for $B1) completes" is_complete "$(backup_for $B1)"

# ---- sigkill: the leader dies 2s before B2 -------------------------------------
# The follower waits for the Lease to expire (4s from the last renewal it
# saw), so B2 passes while no one leads and the new leader must run it late.
at $((B2 - 5)) "the look at who leads before B2"
L=$(leader_slot)
[ -n "$L" ] || fail "sigkill: no controller leads before B2 (holder '$(holder)')"
F=$(other "$L")
at $((B2 - 2)) "the SIGKILL"
kill_ctrl "$L"
wait_for 20 "sigkill: controller $F took over from the killed $L" leads "$F"
saw_holder
t=$(led_since_ms "$F")
if [ -z "$t" ] || [ "$t" -le $((B2 * 1000)) ]; then
    fail "sigkill: $F started leading at B2$(rel "${t:-0}" $B2), not after B2: B2 did not fall in the leaderless window"
fi
ok "sigkill: $F started leading at B2$(rel "$t" $B2): B2 fell while no one led"
start_ctrl "$L"
wait_for 20 "sigkill: the restarted controller $L is ready" ready "$L"
sleep 2
leads "$F" || fail "sigkill: the restarted $L took the Lease from $F (holder $(holder))"
ok "sigkill: the restarted $L follows"
wait_for 30 "B2: $(backup_for $B2) exists" kn get backup "$(backup_for $B2)"
wait_for 60 "B2: $(backup_for $B2) completes" is_complete "$(backup_for $B2)"

# ---- sigterm: the leader stops 0.4s after B3 -----------------------------------
# B3's Backup (about a second from creation to Complete on the simulator)
# is usually still running: the stopping leader lets it finish or leaves it
# to the next one.
at $((B3 - 3)) "the look at who leads before B3"
L=$(leader_slot)
[ -n "$L" ] || fail "sigterm: no controller leads before B3 (holder '$(holder)')"
F=$(other "$L")
at_ms $((B3 * 1000 + 400)) "the SIGTERM"
term_ctrl "$L"
note "B3's Backup just after the SIGTERM: $(kn get backup "$(backup_for $B3)" -o jsonpath='{.status.phase}' 2>&1 || true)"
reap_ctrl "$L"
wait_for 10 "sigterm: controller $F took over from the stopped $L" leads "$F"
saw_holder
note "sigterm: $F started leading at B3$(rel "$(led_since_ms "$F")" $B3)"
start_ctrl "$L"
wait_for 20 "sigterm: the restarted controller $L is ready" ready "$L"
wait_for 30 "B3: $(backup_for $B3) exists" kn get backup "$(backup_for $B3)"
wait_for 60 "B3: $(backup_for $B3) completes" is_complete "$(backup_for $B3)"
leads "$F" || fail "sigterm: the restarted $L took the Lease from $F (holder $(holder))"

# ---- both: both restart 2s before B4 -------------------------------------------
at $((B4 - 2)) "the restart of both"
stop_ctrl a b
start_ctrl a
start_ctrl b
wait_for 20 "both: one of the restarted controllers leads" someone_leads
saw_holder
L=$(leader_slot)
note "both: $L started leading at B4$(rel "$(led_since_ms "$L")" $B4)"
wait_for 30 "B4: $(backup_for $B4) exists" kn get backup "$(backup_for $B4)"
wait_for 60 "B4: every Backup of the schedule completes" all_complete

# ---- the whole run ---------------------------------------------------------------
# List at least 12s after a boundary (its Backup exists by then) and not in
# the last seconds of a minute, in one minute.
while :; do
    s=$(($(date +%s) % 60))
    if [ $s -lt 12 ]; then sleep $((12 - s)); elif [ $s -gt 55 ]; then sleep $((72 - s)); fi
    wait_for 60 "every Backup of the schedule is complete" all_complete
    t0=$(date +%s)
    rows=$(kn get backups -l "snapstage.io/schedule=$sched" -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.metadata.annotations.snapstage\.io/scheduled-time}{" "}{.metadata.creationTimestamp}{" "}{.status.conditions[?(@.type=="Complete")].status}{"\n"}{end}')
    t1=$(date +%s)
    [ $((t0 / 60)) != $((t1 / 60)) ] || [ $((t0 % 60)) -lt 12 ] || break
done
last=$((t0 / 60 * 60))
want=$(((last - B1) / 60 + 1))
note "Backups of $sched at $(hms "$t0") (created $(hms "$created"); want $(hms $B1) .. $(hms $last)):"
printf '%s\n' "$rows" | sed 's/^/        /'

n=0
declare -A seen_time=()
while read -r name st ct complete; do
    [ -n "$name" ] || continue
    n=$((n + 1))
    [[ "$st" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:00Z$ ]] ||
        fail "names: $name has scheduled-time '$st', not a whole UTC minute"
    t=$(date -u -d "$st" +%s)
    [ -z "${seen_time[$t]:-}" ] ||
        fail "minutes: DUPLICATE: $name and ${seen_time[$t]} are both for $st"
    [ "$name" = "$(backup_for "$t")" ] ||
        fail "names: $name does not match its scheduled-time $st (expected $(backup_for "$t"))"
    seen_time[$t]=$name
    [ "$complete" = True ] || fail "complete: $name is not Complete (Complete='$complete')"
    c=$(date -u -d "$ct" +%s)
    if [ $((c - t)) -lt 0 ] || [ $((c - t)) -gt 30 ]; then
        fail "complete: $name was created at $ct, $((c - t))s after its scheduled time $st"
    fi
done <<<"$rows"
ok "names: $n Backups named <schedule>-<YYYYMMDDhhmm> of their whole-minute scheduled-time, all Complete, each created within 30s of it"
for ((t = B1; t <= last; t += 60)); do
    [ -n "${seen_time[$t]:-}" ] || fail "minutes: GAP: no Backup for $(hms "$t") ($(backup_for "$t"))"
done
for t in "${!seen_time[@]}"; do
    if [ "$t" -lt $B1 ] || [ "$t" -gt $last ]; then
        fail "minutes: ${seen_time[$t]} is for $(hms "$t"), outside $(hms $B1) .. $(hms $last)"
    fi
done
[ "$n" = "$want" ] || fail "minutes: $n Backups for $want minute boundaries crossed"
ok "minutes: one Backup for each of the $want boundaries crossed ($(hms $B1) .. $(hms $last)), no duplicate, no gap"

missed=$(bs '{.status.missedRuns}') skipped=$(bs '{.status.skippedRuns}')
[ "${missed:-0}" = 0 ] || fail "status: missedRuns is $missed"
[ "${skipped:-0}" = 0 ] || fail "status: skippedRuns is $skipped (a Backup still running at the next boundary?)"
lst=$(bs '{.status.lastScheduleTime}')
[ "$(date -u -d "$lst" +%s)" = $last ] || fail "status: lastScheduleTime is $lst, not $(hms $last)"
ok "status: missedRuns ${missed:-absent}, skippedRuns ${skipped:-absent}, lastScheduleTime $lst"

distinct=$(printf '%s\n' "${holders_seen[@]}" | sort -u | grep -c .)
[ "$distinct" -ge 3 ] ||
    fail "leaders: only $distinct different holders seen (${holders_seen[*]}); leadership did not move twice"
ok "leaders: $distinct different Lease holders seen"

stop_ctrl a b
for f in "$work"/ctrl-*.log; do
    ! grep -q -E "ERROR: (Address|Leak|Thread)Sanitizer|runtime error:" "$f" ||
        fail "sanitizer report in $(basename "$f"): $(grep -m3 -E 'Sanitizer|runtime error' "$f")"
done
ok "clean: $runs controller processes, every SIGTERM exit 0, no sanitizer report"
