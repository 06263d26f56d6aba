#!/usr/bin/env bash
# bench_fleet.sh — a benchmark: N small databases whose BackupSchedules fall
# due in the same minute, once per --workers value, and what else the
# controller does meanwhile (issue 15, point 11). It prints figures; it does
# not judge them, and fails only if the set-up does or a Backup does not
# complete. With BENCH_ASSERT=1 it also checks what can be checked without
# a timed threshold (tests/e2e/test_fleet_workers.sh runs it so), by the
# order of the events the watches saw: every Backup Complete; the schedule
# edit's and the Restore's status written while a lock session of the
# fleet was still running; and, with N >= 3 x workers, the first Backup
# of the fleet Complete before the last lock session started (its
# Uploading -> Complete step did not wait behind the sessions to come).
#
# Needs a `hack/cluster.sh up --with-mariadb` cluster: each database is a
# one-member StatefulSet db-NN, i.e. one mariadbd (lean: 8 MiB buffer pool,
# 20 connections) on its own loopback address, locked as the primary
# (role: Primary), one 256Mi claim. The databases take a few seconds each
# to start on 2 cores; the time and their RSS are printed. Then N schedules
# fleet-NN (cron months away, the sim storage's cut latency BENCH_CUT_MS
# on their snapshots, as a storage array takes time to cut), a schedule
# "probe" of one more database db-idle, and a completed Backup "seed" of
# db-idle to restore from. For each W in BENCH_WORKERS, a fresh controller
# with --workers=W, and:
#   due        the N schedules patched to the next minute boundary >= 15 s
#              away; every Backup, VolumeSnapshot, BackupSchedule and
#              Restore change is timestamped by kubectl watches (ms);
#   unrelated  at the first Locked Backup of the fleet: the probe
#              schedule's spec edited (latency: the edit to its status
#              with the new observedGeneration), a Restore of "seed" into
#              new claims created (latency: creation to its first status)
#              and a Backup of db-idle created (latency: creation to its
#              first status, and to Complete);
#   figures    boundary to the last Backup Complete; lock hold p50/max
#              (status.lock.heldMilliseconds); the most lock sessions seen
#              at once; snapshot readyToUse to Backup Complete p50/max (a
#              non-lock step of the Backup controller); when the first
#              Backup was Complete and the last session started; the
#              unrelated latencies and whether each first status came
#              while a fleet lock was held; the controller's peak RSS
#              (VmHWM) and threads.
# Between rounds the Backups are deleted (with their snapshots) and the
# schedules set back to months away. Ends with a table, deletes the
# namespace.
#
# Usage: bench_fleet.sh [N]   (default 40)
# Environment: SNAPSTAGE_CLUSTER_DIR (the cluster), SNAPSTAGE_BIN (the
# controller); optionally BENCH_WORKERS (default "2 8 32"), BENCH_CUT_MS
# (default 1000), BENCH_ASSERT (0), BENCH_CONTROLLER_FLAGS (more flags,
# split on spaces), KUBECTL.
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
: "${SNAPSTAGE_CLUSTER_DIR:?set SNAPSTAGE_CLUSTER_DIR to a hack/cluster.sh up --with-mariadb cluster}"
export KUBECONFIG=$SNAPSTAGE_CLUSTER_DIR/kubeconfig
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KUBECTL=${KUBECTL:-$("$ROOT/hack/tools.sh")/kubectl}
N=${1:-40}
WORKERS=${BENCH_WORKERS:-2 8 32}
CUT_MS=${BENCH_CUT_MS:-1000}
ASSERT=${BENCH_ASSERT:-0}
read -r -a extra_flags <<<"${BENCH_CONTROLLER_FLAGS:-}"
if ! [[ "$N" =~ ^[0-9]+$ && "$CUT_MS" =~ ^[0-9]+$ && "$WORKERS" =~ ^[0-9\ ]+$ ]] ||
    [ "$N" -lt 1 ] || [ "$N" -gt 100 ]; then
    echo "usage: $0 [N]  (1 <= N <= 100; BENCH_WORKERS a list of numbers)" >&2
    exit 2
fi

ns=bench-fleet-$$-$RANDOM
work=$(mktemp -d)
export KUBECACHEDIR=$work/kube-cache
ctrl_pid=
watch_pids=()
t0=$(date +%s%N)
read -r metrics_port probe_port <<<"$(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')"

kn() { "$KUBECTL" -n "$ns" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
stamp() {
    local ms=$((($(date +%s%N) - t0) / 1000000))
    printf '[%4d.%03ds]' $((ms / 1000)) $((ms % 1000))
}
note() { printf '%s %s\n' "$(stamp)" "$*"; }
checks=0
ok() {
    checks=$((checks + 1))
    printf '%s ok %d - %s\n' "$(stamp)" "$checks" "$*"
}
fail() {
    printf '%s FAIL: %s\n' "$(stamp)" "$*" >&2
    {
        kn get backups -o wide 2>/dev/null | tail -n 50 || true
        kn get events --sort-by=.lastTimestamp 2>/dev/null | tail -n 20 || true
        echo "--- controller log (last 30 lines)"
        tail -n 30 "$work/controller.log" 2>/dev/null || true
    } >&2
    exit 1
}
stop_watches() { # each entry: the kubectl's pid file:the pipeline's $!
    local p
    for p in "${watch_pids[@]+"${watch_pids[@]}"}"; do
        kill "$(cat "${p%:*}" 2>/dev/null)" 2>/dev/null || true
    done
    for p in "${watch_pids[@]+"${watch_pids[@]}"}"; do wait "${p##*:}" 2>/dev/null || true; done
    watch_pids=()
}
stop_controller() { # SIGTERM; exit code in stop_rc
    stop_rc=0
    [ -n "$ctrl_pid" ] || return 0
    kill -TERM "$ctrl_pid" 2>/dev/null || true
    wait "$ctrl_pid" || stop_rc=$?
    ctrl_pid=
}
cleanup() {
    local rc=$?
    stop_watches
    # The Backups first, while a controller can still drop their
    # finalizers; then the namespace, whose Pods the node agent stops.
    if [ -n "$ctrl_pid" ]; then
        kn delete backups --all --wait=false >/dev/null 2>&1 || true
        sleep 2
    fi
    stop_controller
    # A Backup a controller no longer looks after keeps its finalizer.
    kn get backups -o name 2>/dev/null | while read -r o; do
        kn patch "$o" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
    done
    "$KUBECTL" delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
    if [ -d "$SNAPSTAGE_CLUSTER_DIR/logs" ]; then
        cp "$work"/controller-*.log "$SNAPSTAGE_CLUSTER_DIR/logs/" 2>/dev/null || true
    fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the databases -----------------------------------------------------------
"$KUBECTL" apply -f "$ROOT/crds/" >/dev/null || fail "installing the CRDs"
# shellcheck source=../../hack/lib/crd-wait.sh
. "$ROOT/hack/lib/crd-wait.sh"
for c in backupschedules backups restores; do
    crd_wait_established 60 "$c.snapstage.io" || fail "CRD $c.snapstage.io is not Established"
done
"$KUBECTL" get volumesnapshotclass snapstage-sim >/dev/null 2>&1 ||
    fail "no VolumeSnapshotClass snapstage-sim: is this a hack/cluster.sh up --with-mariadb cluster?"
"$KUBECTL" create namespace "$ns" >/dev/null || fail "creating namespace $ns"
kn create secret generic fleet-db --from-literal=root-password=bench-root >/dev/null
kn create secret generic mariadb-backup --from-literal=username=root \
    --from-literal=password=bench-root >/dev/null
db_doc() { # name
    cat <<YAML
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: $1, labels: {app.kubernetes.io/name: $1}}
spec:
  replicas: 1
  serviceName: $1
  selector: {matchLabels: {app.kubernetes.io/name: $1}}
  template:
    metadata: {labels: {app.kubernetes.io/name: $1}}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: mariadb
        image: mariadb:10.11
        args: [--innodb-buffer-pool-size=8M, --performance-schema=OFF, --max-connections=20,
               --key-buffer-size=1M, --aria-pagecache-buffer-size=1M]
        ports: [{name: mysql, containerPort: 3306}]
        env:
        - name: MARIADB_ROOT_PASSWORD
          valueFrom: {secretKeyRef: {name: fleet-db, key: root-password}}
        volumeMounts: [{name: data, mountPath: /var/lib/mysql}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: snapstage-sim
      resources: {requests: {storage: 256Mi}}
YAML
}
dbs=()
for ((i = 0; i < N; i++)); do dbs+=("$(printf 'db-%02d' "$i")"); done
for d in "${dbs[@]}" db-idle; do db_doc "$d"; done >"$work/dbs.yaml"
t=$(now_ms)
kn apply -f "$work/dbs.yaml" >/dev/null || fail "creating $((N + 1)) StatefulSets"
ready_pods() {
    kn get pods -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
        grep -c '^True$' || true
}
while [ "$(ready_pods)" -lt $((N + 1)) ]; do
    [ $(($(now_ms) - t)) -lt $((60000 + N * 6000)) ] ||
        fail "after $((($(now_ms) - t) / 1000)) s only $(ready_pods) of $((N + 1)) databases are Ready"
    sleep 1
done
db_rss=$(for p in $(pgrep -x mariadbd); do
    if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "/run/${ns}_"; then
        awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true
    fi
done | awk '{s += $1; n++} END {printf "%d mariadbd, %.0f MiB RSS in all", n, s / 1024}')
note "$((N + 1)) databases Ready in $((($(now_ms) - t) / 1000)) s ($db_rss)"

# ---- schedules and the seed Backup ---------------------------------------------
cron_far="0 3 1 $((($(date -u +%-m) + 5) % 12 + 1)) *" # months away
schedule_doc() { # name database cron
    cat <<YAML
---
apiVersion: snapstage.io/v1alpha1
kind: BackupSchedule
metadata: {name: $1}
spec:
  schedule: "$3"
  timeZone: UTC
  target:
    statefulSetName: $2
    role: Primary
    connection: {credentialsSecretRef: {name: mariadb-backup}}
  snapshot:
    annotations: {sim.snapstage.io/cut-latency-ms: "$CUT_MS"}
YAML
}
fleet_docs() { # cron
    local i
    for ((i = 0; i < N; i++)); do schedule_doc "$(printf 'fleet-%02d' "$i")" "${dbs[i]}" "$1"; done
}
apply_fleet() { # cron
    fleet_docs "$1" >"$work/fleet.yaml"
    kn apply --server-side --field-manager=bench -f "$work/fleet.yaml" >/dev/null
}
apply_fleet "$cron_far" || fail "creating $N BackupSchedules"
schedule_doc probe db-idle "$cron_far" | kn apply --server-side --field-manager=bench -f - >/dev/null ||
    fail "creating BackupSchedule probe"
backup_doc() { # name database
    cat <<YAML
apiVersion: snapstage.io/v1alpha1
kind: Backup
metadata: {name: $1}
spec:
  target:
    statefulSetName: $2
    role: Primary
    connection: {credentialsSecretRef: {name: mariadb-backup}}
  snapshot:
    annotations: {sim.snapstage.io/cut-latency-ms: "$CUT_MS"}
YAML
}
restore_doc() { # name
    cat <<YAML
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata: {name: $1}
spec:
  source: {backupName: seed}
  target:
    mode: NewClaims
    newClaims: {claims: [{volume: data, name: $1-data}]}
YAML
}
complete() { [ "$(kn get backup "$1" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}' 2>/dev/null)" = True ]; }

# ---- one round -------------------------------------------------------------------
start_controller() { # workers
    "$SNAPSTAGE_BIN" --kubeconfig="$KUBECONFIG" --namespace="$ns" --leader-elect=false \
        --workers="$1" --metrics-bind-address="127.0.0.1:$metrics_port" \
        --health-probe-bind-address="127.0.0.1:$probe_port" \
        "${extra_flags[@]+"${extra_flags[@]}"}" >"$work/controller-w$1.log" 2>&1 &
    ctrl_pid=$!
    ln -sf "controller-w$1.log" "$work/controller.log"
    local end=$((SECONDS + 60))
    until curl -sf --max-time 2 "http://127.0.0.1:$probe_port/readyz" >/dev/null 2>&1; do
        kill -0 "$ctrl_pid" 2>/dev/null || fail "the controller exited during start-up"
        [ $SECONDS -lt $end ] || fail "the controller is not ready within 60 s"
        sleep 0.1
    done
}
# One kubectl watch per kind, each line prefixed with the local time in
# microseconds. The kubectl writes its pid first: `wait` on a pipeline's
# $! waits for the whole pipeline, so the kubectl is what must be ended.
watch_kind() { # kind file jsonpath
    bash -c 'echo $$ >"$0"; exec "$@" 2>/dev/null' "$2.pid" \
        "$KUBECTL" -n "$ns" get "$1" --watch -o "jsonpath=$3" |
        while IFS= read -r line; do
            printf '%s %s\n' "${EPOCHREALTIME/./}" "$line"
        done >"$2" &
    watch_pids+=("$2.pid:$!")
}
start_watches() { # dir
    local cond='{.status.conditions[?(@.type=="Complete")].status}/{.status.conditions[?(@.type=="Failed")].status}'
    watch_kind backups "$1/backups" \
        "{.metadata.name} {.status.phase}|$cond|{.status.lock.heldMilliseconds}{\"\\n\"}"
    watch_kind volumesnapshots "$1/snapshots" \
        "{.metadata.name} {.metadata.ownerReferences[0].name} {.status.readyToUse}{\"\\n\"}"
    watch_kind backupschedules "$1/schedules" \
        "{.metadata.name} {.metadata.generation} {.status.observedGeneration}{\"\\n\"}"
    watch_kind restores "$1/restores" \
        "{.metadata.name} {.status.phase}|$cond{\"\\n\"}"
    sleep 1 # the watches' initial lists
}
# Microseconds of the first line of file matching the awk condition, or
# nothing.
first_us() { awk "$2 {print \$1; exit}" "$1"; }
ms_between() { # from_us to_us
    if [ -n "$1" ] && [ -n "$2" ]; then echo $((($2 - $1) / 1000)); else echo "-"; fi
}

declare -A R_ALL R_HOLD R_CONC R_RC R_SCHED R_RESTORE R_IDLE R_IDLEC R_RSS R_THR R_DURING R_FIRST
round() { # workers
    local w=$1 dir=$work/w$1 boundary cron_due end now
    mkdir -p "$dir"
    start_controller "$w"
    local have=0 end=$((SECONDS + 120))
    while [ "$have" -lt $((N + 1)) ]; do
        [ $SECONDS -lt $end ] || fail "only $have of $((N + 1)) schedules are Ready=True after 120 s"
        sleep 0.5
        have=$(kn get backupschedules -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
            grep -c '^True$' || true)
    done
    start_watches "$dir"
    now=$(date +%s)
    boundary=$(((now / 60 + 1) * 60))
    [ $((boundary - now)) -ge 15 ] || boundary=$((boundary + 60))
    cron_due="$(date -u -d "@$boundary" +%-M) $(date -u -d "@$boundary" +%-H) * * *"
    apply_fleet "$cron_due" || fail "patching $N schedules"
    note "--workers=$w: $N schedules due at $(date -u -d "@$boundary" +%H:%M:%S) UTC (in $((boundary - $(date +%s))) s)"
    # The unrelated work, at the first Locked Backup of the fleet.
    end=$((boundary + 120))
    until grep -q ' fleet-[^ ]* Locked|' "$dir/backups"; do
        [ "$(date +%s)" -lt "$end" ] || fail "no Backup of the fleet was Locked within 120 s of the boundary"
        sleep 0.05
    done
    kn patch backupschedule probe --type=merge -p "{\"spec\":{\"schedule\":\"$((w % 60)) 4 1 $((($(date -u +%-m) + 5) % 12 + 1)) *\"}}" >/dev/null ||
        fail "editing schedule probe"
    restore_doc "probe-w$w" | kn create -f - >/dev/null || fail "creating Restore probe-w$w"
    backup_doc "idle-w$w" db-idle | kn create -f - >/dev/null || fail "creating Backup idle-w$w"
    # All Complete.
    end=$((SECONDS + 120 + N * 10))
    while :; do
        kn get backups -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Complete")].status}/{.status.conditions[?(@.type=="Failed")].status}/{.status.conditions[?(@.type=="Failed")].reason}{"\n"}{end}' \
            >"$dir/final" || true
        grep -q '/True/' "$dir/final" && fail "a Backup failed: $(grep '/True/' "$dir/final" | head -n 3 | tr '\n' ' ')"
        if [ "$(grep -c '^fleet-.* True/' "$dir/final" || true)" = "$N" ] && complete "idle-w$w"; then
            break
        fi
        [ $SECONDS -lt $end ] || fail "$(grep -c '^fleet-.* True/' "$dir/final" || true) of $N Backups Complete after $((120 + N * 10)) s"
        sleep 0.5
    done
    sleep 1 # the watches catch up
    read -r "R_RSS[$w]" "R_THR[$w]" < <(awk '/^VmHWM:/ {h = $2} /^Threads:/ {t = $2} END {printf "%.1f %d\n", h / 1024, t}' \
        "/proc/$ctrl_pid/status")
    kn get backups -o jsonpath='{range .items[*]}{.metadata.name} {.status.lock.heldMilliseconds}{"\n"}{end}' \
        >"$dir/held"
    stop_watches
    analyse "$w" "$dir" "$boundary"
    # Clean up for the next round: Backups (and their snapshots) gone, the
    # Restore and its claims gone, schedules months away again.
    kn delete restore "probe-w$w" --wait=false >/dev/null 2>&1 || true
    kn delete backups -l snapstage.io/schedule --wait=false >/dev/null 2>&1 || true
    kn delete backup "idle-w$w" --wait=false >/dev/null 2>&1 || true
    apply_fleet "$cron_far" || fail "setting the schedules back"
    end=$((SECONDS + 120))
    while [ "$(kn get backups,volumesnapshots -o name | grep -vc -e '/seed$' -e '/seed-' || true)" -gt 0 ]; do
        [ $SECONDS -lt $end ] || fail "Backups or snapshots of round $w still there after 120 s"
        sleep 1
    done
    kn delete pvc "probe-w$w-data" --wait=false >/dev/null 2>&1 || true
    stop_controller
    [ "$stop_rc" = 0 ] || fail "the controller exited $stop_rc after SIGTERM"
}

# Figures of a round from the watch logs (times in ms after the boundary).
analyse() { # workers dir boundary
    local w=$1 dir=$2 b_us=$(($3 * 1000000)) last_unlock
    # Per fleet Backup: first Locked, first after Locked (the session's
    # end as seen: Uploading, or Failed), first Complete=True.
    awk -v b="$b_us" '
        $2 !~ /^fleet-/ {next}
        { split($3, f, "|"); phase = f[1]; split(f[2], c, "/") }
        phase == "Locked" && !($2 in lk) {lk[$2] = $1}
        phase != "Locked" && ($2 in lk) && !($2 in ul) {ul[$2] = $1}
        c[1] == "True" && !($2 in done) {done[$2] = $1}
        END {for (k in lk) printf "%s %d %d %d\n", k, (lk[k] - b) / 1000,
                 (k in ul ? (ul[k] - b) / 1000 : -1), (k in done ? (done[k] - b) / 1000 : -1)}
    ' "$dir/backups" | sort >"$dir/sessions"
    R_ALL[$w]=$(awk '{if ($4 > m) m = $4} END {printf "%.1f", m / 1000}' "$dir/sessions")
    last_unlock=$(awk '{if ($3 > m) m = $3} END {print m}' "$dir/sessions")
    # The first Backup of the fleet to be Complete, against the start of
    # the last lock session: its Uploading -> Complete step is a reconcile
    # that must not wait behind the sessions still to come.
    local first_done last_lock
    first_done=$(awk '$4 >= 0 && (m == "" || $4 < m) {m = $4} END {print m + 0}' "$dir/sessions")
    last_lock=$(awk '{if ($2 > m) m = $2} END {print m + 0}' "$dir/sessions")
    R_FIRST[$w]="$(awk -v a="$first_done" -v b="$last_lock" 'BEGIN {printf "%.1f/%.1f", a / 1000, b / 1000}')"
    # Most sessions at once: sweep the Locked intervals.
    R_CONC[$w]=$(awk '{print $2, 1; print $3, -1}' "$dir/sessions" | sort -n -k1,1 -k2,2 |
        awk '{c += $2; if (c > m) m = c} END {print m + 0}')
    R_HOLD[$w]=$(awk '$1 ~ /^fleet-/ && $2 != "" {print $2}' "$dir/held" | sort -n |
        awk '{v[NR] = $1} END {if (NR) printf "%d/%d", v[int((NR + 1) / 2)], v[NR]; else print "-"}')
    # readyToUse of a Backup's last snapshot to its Complete.
    R_RC[$w]=$(awk -v b="$b_us" '
        FNR == NR {if ($4 == "true" && !(($2, $3) in seen)) {seen[$2, $3] = 1; if ($1 > r[$3]) r[$3] = $1}; next}
        {if ($1 in r && $4 >= 0) print $4 - (r[$1] - b) / 1000}
    ' "$dir/snapshots" "$dir/sessions" | sort -n |
        awk '{v[NR] = $1} END {if (NR) printf "%d/%d", v[int((NR + 1) / 2)], v[NR]; else print "-"}')
    # The unrelated reconciles.
    local s_edit s_seen r_new r_seen i_new i_seen i_done during=""
    s_edit=$(awk '$2 == "probe" && $3 > 1 && $3 != $4 {print $1; exit}' "$dir/schedules")
    s_seen=$(awk -v e="${s_edit:-0}" '$2 == "probe" && $1 >= e && $3 == $4 && $3 > 1 {print $1; exit}' "$dir/schedules")
    r_new=$(first_us "$dir/restores" "\$2 == \"probe-w$w\"")
    r_seen=$(first_us "$dir/restores" "\$2 == \"probe-w$w\" && \$3 !~ /^\\|/")
    i_new=$(first_us "$dir/backups" "\$2 == \"idle-w$w\"")
    i_seen=$(first_us "$dir/backups" "\$2 == \"idle-w$w\" && \$3 !~ /^\\|/")
    i_done=$(first_us "$dir/backups" "\$2 == \"idle-w$w\" && \$3 ~ /\\|True\\//")
    R_SCHED[$w]=$(ms_between "$s_edit" "$s_seen")
    R_RESTORE[$w]=$(ms_between "$r_new" "$r_seen")
    R_IDLE[$w]=$(ms_between "$i_new" "$i_seen")
    R_IDLEC[$w]=$(ms_between "$i_new" "$i_done")
    # Did each end while a session of the fleet was still running?
    local name t
    for name in schedule restore idle-backup; do
        case $name in
        schedule) t=$s_seen ;;
        restore) t=$r_seen ;;
        idle-backup) t=$i_seen ;;
        esac
        if [ -n "$t" ] && [ $(((t - b_us) / 1000)) -lt "$last_unlock" ]; then
            during="$during $name=yes"
        else
            during="$during $name=no"
        fi
    done
    R_DURING[$w]=${during# }
    note "  all $N Complete at +${R_ALL[$w]} s; lock held p50/max ${R_HOLD[$w]} ms; at most ${R_CONC[$w]} sessions at once; last session ended at +$((last_unlock / 1000)).$(printf '%03d' $((last_unlock % 1000))) s"
    note "  readyToUse -> Complete p50/max ${R_RC[$w]} ms; unrelated: schedule edit -> status ${R_SCHED[$w]} ms, Restore -> first status ${R_RESTORE[$w]} ms, Backup of db-idle -> first status ${R_IDLE[$w]} ms, -> Complete ${R_IDLEC[$w]} ms"
    note "  first status while fleet locks were held: ${R_DURING[$w]}; first Complete / last lock at +${R_FIRST[$w]} s; controller peak RSS ${R_RSS[$w]} MiB, ${R_THR[$w]} threads"
    if [ "$ASSERT" = 1 ]; then
        if [ "$(grep -c '^fleet-.* True/' "$dir/final" || true)" != "$N" ] || ! complete "idle-w$w"; then
            fail "not every Backup is Complete"
        fi
        ok "--workers=$w: all $N Backups of the fleet and idle-w$w Complete"
        [ "${R_CONC[$w]}" -ge 1 ] || fail "no lock session of the fleet was seen"
        for name in schedule restore; do
            case " ${R_DURING[$w]} " in
            *" $name=yes "*) ok "--workers=$w: the $name reconcile wrote its status while a lock session of the fleet was running" ;;
            *) fail "--workers=$w: the $name reconcile's status came only after every lock session of the fleet had ended (${R_DURING[$w]})" ;;
            esac
        done
        # With three rounds of sessions or more, the first Backup's
        # readyToUse comes while sessions still wait for a worker.
        if [ "$N" -ge $((3 * w)) ]; then
            [ "$first_done" -lt "$last_lock" ] ||
                fail "--workers=$w: the first Backup of the fleet was Complete only at +$first_done ms, after the last lock session had started (+$last_lock ms): its Uploading step waited behind lock sessions"
            ok "--workers=$w: the first Backup was Complete (+$first_done ms) before the last lock session started (+$last_lock ms)"
        else
            note "  (N < 3 x workers: the Complete-before-last-lock check needs three rounds of sessions)"
        fi
    fi
}

start_controller 2
backup_doc seed db-idle | kn create -f - >/dev/null || fail "creating Backup seed"
end=$((SECONDS + 60))
until complete seed; do
    [ $SECONDS -lt $end ] || fail "Backup seed did not complete within 60 s"
    sleep 0.5
done
stop_controller
note "Backup seed of db-idle Complete (the Restores' source)"

for w in $WORKERS; do round "$w"; done

echo
echo "N=$N databases, snapshots cut after ${CUT_MS} ms (sim storage); times after the due minute boundary"
printf '%-8s %12s %10s %7s %16s %11s %10s %10s %12s %12s %9s\n' --workers "all Complete" "hold p50/max" "at once" "ready->Complete" "1st Compl./" "sched edit" "Restore" "idle Backup" "idle Compl." "peak RSS"
printf '%-8s %12s %10s %7s %16s %11s %10s %10s %12s %12s %9s\n' "" "" "ms" "" "p50/max ms" "last lock s" "ms" "ms" "1st status" "ms" "MiB"
for w in $WORKERS; do
    printf '%-8s %11ss %10s %7s %16s %11s %10s %10s %12s %12s %9s\n' "$w" "${R_ALL[$w]}" "${R_HOLD[$w]}" \
        "${R_CONC[$w]}" "${R_RC[$w]}" "${R_FIRST[$w]}" "${R_SCHED[$w]}" "${R_RESTORE[$w]}" "${R_IDLE[$w]}" "${R_IDLEC[$w]}" "${R_RSS[$w]}"
done
[ "$ASSERT" != 1 ] || echo "bench_fleet: $checks checks"
