#!/usr/bin/env bash
# bench_schedules.sh — a benchmark, not a test: what the controller costs
# while many BackupSchedules are idle, and when many fall due in the same
# minute. It prints figures; it does not judge them (product target: under
# 30 MiB RSS, idle CPU near zero). It fails only if the set-up does (e.g.
# schedules never get a status, or the due Backups never appear).
#
# A schedule runs only when a run could start (the VolumeSnapshot API
# served, the target's Pods with claims, the credentials Secret); otherwise
# it is Ready=False and looked at again every 30 s, which is not idle. So:
# the CRDs, and the snapshot.storage.k8s.io CRDs if the cluster serves none
# (hack/cluster.sh install-snapshot-crds); in a fresh namespace a Secret
# mariadb-backup (username, password), a StatefulSet mariadb with 2 Pods
# and their claims "data", all staying Pending (no node matches the Pods;
# on a cluster without kube-controller-manager the Pods and claims are
# made here as its StatefulSet controller would), and N BackupSchedules
# (default 1000) with a cron months away. Then the real snapstage binary,
# namespace-scoped, and:
#   sync   time until every schedule has status.nextScheduleTime and
#          Ready=True (any Ready=False fails the run: the set-up is wrong)
#   idle   RSS (VmRSS, VmHWM) and CPU time (utime+stime) over IDLE seconds
#          (default 60), with the reconciles and API requests it made
#   due    DUE schedules (default 100) patched to "M H * * *" UTC for the
#          next minute boundary at least 15 s away; the delay from the
#          boundary to the last Backup, RSS and CPU over the minute that
#          follows. The Backups then fail or wait (their Pods are Pending);
#          that load is part of the measure.
# Ends with SIGTERM (exit 0 checked) and deletes the namespace.
#
# Usage: bench_schedules.sh [N [DUE]]
# Environment: the env file hack/cluster.sh writes (KUBECONFIG;
# SNAPSTAGE_CLUSTER_DIR to install the snapshot CRDs if they are missing),
# SNAPSTAGE_BIN (the controller), optionally
# KUBECTL, BENCH_IDLE_SECONDS, BENCH_CONTROLLER_FLAGS (more flags for the
# controller, e.g. --workers=4; split on spaces).
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
if [ -z "${KUBECONFIG:-}" ]; then
    : "${SNAPSTAGE_CLUSTER_DIR:?set KUBECONFIG or SNAPSTAGE_CLUSTER_DIR (source the env file hack/cluster.sh writes)}"
    export KUBECONFIG=$SNAPSTAGE_CLUSTER_DIR/kubeconfig
fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KUBECTL=${KUBECTL:-$("$ROOT/hack/tools.sh")/kubectl}
N=${1:-1000}
DUE=${2:-100}
IDLE=${BENCH_IDLE_SECONDS:-60}
read -r -a extra_flags <<<"${BENCH_CONTROLLER_FLAGS:-}"
if ! [[ "$N" =~ ^[0-9]+$ && "$DUE" =~ ^[0-9]+$ && "$IDLE" =~ ^[0-9]+$ ]] ||
    [ "$N" -lt 1 ] || [ "$DUE" -lt 1 ] || [ "$DUE" -gt "$N" ]; then
    echo "usage: $0 [N [DUE]]  (1 <= DUE <= N)" >&2
    exit 2
fi

ns=bench-schedules-$$-$RANDOM
work=$(mktemp -d)
export KUBECACHEDIR=$work/kube-cache
ctrl_pid=
tck=$(getconf CLK_TCK)
t0=$(date +%s%N)
read -r metrics_port probe_port <<<"$(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')"

kn() { "$KUBECTL" -n "$ns" "$@"; }
stamp() {
    local ms=$((($(date +%s%N) - t0) / 1000000))
    printf '[%4d.%03ds]' $((ms / 1000)) $((ms % 1000))
}
note() { printf '%s %s\n' "$(stamp)" "$*"; }
# "count status/reason" of the schedules' Ready conditions, e.g. "1000 True/Scheduled".
ready_summary() {
    kn get backupschedules -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}{"\n"}{end}' |
        sort | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}'
}
fail() {
    printf '%s FAIL: %s\n' "$(stamp)" "$*" >&2
    {
        echo "--- schedules' Ready: $(ready_summary 2>/dev/null || true)"
        echo "--- controller log (last 30 lines)"
        tail -n 30 "$work/controller.log" 2>/dev/null || true
    } >&2
    exit 1
}
cleanup() {
    local rc=$?
    if [ -n "$ctrl_pid" ]; then
        kill -TERM "$ctrl_pid" 2>/dev/null || true
        wait "$ctrl_pid" 2>/dev/null || true
    fi
    # Collections first: without kube-controller-manager nothing empties
    # a deleted namespace, and these are most of what the run stored.
    local r
    for r in backupschedules backups; do
        "$KUBECTL" delete --raw "/apis/snapstage.io/v1alpha1/namespaces/$ns/$r" \
            >/dev/null 2>&1 || true
    done
    "$KUBECTL" delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
    if [ -n "${SNAPSTAGE_CLUSTER_DIR:-}" ] && [ -d "$SNAPSTAGE_CLUSTER_DIR/logs" ]; then
        cp "$work/controller.log" "$SNAPSTAGE_CLUSTER_DIR/logs/bench_schedules-controller.log" \
            2>/dev/null || true
        cp "$work/metrics" "$SNAPSTAGE_CLUSTER_DIR/logs/bench_schedules-metrics.txt" 2>/dev/null || true
    fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

alive() { kill -0 "$ctrl_pid" 2>/dev/null; }
# Samples the controller: RSS/HWM/anon/file in KiB, threads, CPU in ticks.
sample() {
    alive || fail "the controller exited (see its log above)"
    read -r s_rss s_hwm s_anon s_file s_thr < <(awk '
        /^VmRSS:/ {r = $2} /^VmHWM:/ {h = $2} /^RssAnon:/ {a = $2}
        /^RssFile:/ {f = $2} /^Threads:/ {t = $2}
        END {print r, h, a, f, t}' "/proc/$ctrl_pid/status")
    # After the ")" that ends comm: field 1 is state, 12 utime, 13 stime.
    s_ticks=$(sed 's/.*) //' "/proc/$ctrl_pid/stat" | awk '{print $12 + $13}')
}
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
secs() { awk -v t="$1" -v h="$tck" 'BEGIN {printf "%.2f", t / h}'; }
report() { # label
    printf '%-22s RSS %5s MiB  peak %5s MiB  (anon %s, file %s)  threads %s  CPU %s s total\n' \
        "$1" "$(mib "$s_rss")" "$(mib "$s_hwm")" "$(mib "$s_anon")" "$(mib "$s_file")" \
        "$s_thr" "$(secs "$s_ticks")"
}
metrics() { curl -sf --max-time 5 "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics"; }
msum() { # metric-name [label-filter regex]: sum of its samples
    awk -v m="$1" -v f="${2:-}" 'index($0, m "{") == 1 && (f == "" || $0 ~ f) {s += $NF}
        END {printf "%d", s}' "$work/metrics"
}
counters() { # reconciles of both controllers, API requests
    metrics || fail "GET /metrics failed"
    m_sched=$(msum snapstage_reconcile_total 'controller="schedule"')
    m_backup=$(msum snapstage_reconcile_total 'controller="backup"')
    m_api=$(msum snapstage_api_requests_total)
}
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# ---- set-up --------------------------------------------------------------------
"$KUBECTL" apply -f "$ROOT/crds/" >/dev/null || fail "installing the CRDs"
# shellcheck source=../../hack/lib/crd-wait.sh
. "$ROOT/hack/lib/crd-wait.sh"
for c in backupschedules.snapstage.io backups.snapstage.io; do
    crd_wait_established 60 "$c" || fail "CRD $c is not Established"
done
if ! "$KUBECTL" get --raw /apis/snapshot.storage.k8s.io/v1 >/dev/null 2>&1; then
    [ -n "${SNAPSTAGE_CLUSTER_DIR:-}" ] ||
        fail "the cluster serves no snapshot.storage.k8s.io/v1 (run hack/cluster.sh install-snapshot-crds, or set SNAPSTAGE_CLUSTER_DIR)"
    "$ROOT/hack/cluster.sh" --dir "$SNAPSTAGE_CLUSTER_DIR" install-snapshot-crds 2>/dev/null ||
        fail "installing the snapshot.storage.k8s.io CRDs"
    note "installed the snapshot.storage.k8s.io CRDs"
fi
"$KUBECTL" create namespace "$ns" >/dev/null || fail "creating namespace $ns"
# Pods need the namespace's default ServiceAccount, which only
# kube-controller-manager creates.
kn create serviceaccount default >/dev/null 2>&1 || true
kn create secret generic mariadb-backup --from-literal=username=backup \
    --from-literal=password=bench >/dev/null || fail "creating Secret mariadb-backup"
pod_spec='  nodeSelector: {snapstage.io/bench: no-such-node}
  automountServiceAccountToken: false
  containers:
  - name: mariadb
    image: mariadb:11
    ports: [{name: mysql, containerPort: 3306}]
    volumeMounts: [{name: data, mountPath: /var/lib/mysql}]'
claim_spec='  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}'
kn apply -f - >/dev/null <<YAML || fail "creating StatefulSet mariadb"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: mariadb}
spec:
  replicas: 2
  serviceName: mariadb
  selector: {matchLabels: {app: mariadb}}
  template:
    metadata: {labels: {app: mariadb}}
    spec:
    ${pod_spec//$'\n'/$'\n'    }
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
    ${claim_spec//$'\n'/$'\n'    }
YAML

cron_far="0 3 1 $((($(date -u +%-m) + 5) % 12 + 1)) *" # six months away
prefixes=(orders billing users inventory analytics payments search auth catalog ledger)
# Writes one schedule's YAML; no subshells (a thousand forks are slow).
schedule_doc() { # index cron
    local h=$(($1 * 2654435761 % 65536)) name
    printf -v name '%s-%x-%04d' "${prefixes[h % 10]}" "$h" "$1"
    printf -- '---\napiVersion: snapstage.io/v1alpha1\nkind: BackupSchedule\nmetadata:\n  name: %s\nspec:\n  schedule: "%s"\n  timeZone: UTC\n  target:\n    statefulSetName: mariadb\n    connection:\n      credentialsSecretRef: {name: mariadb-backup}\n' \
        "$name" "$2"
}
# Server-side apply by four kubectl processes at once.
apply_docs() { # file-prefix: applies file-prefix.0 .. .3
    local j pids=() rc=0
    for j in 0 1 2 3; do
        [ -s "$1.$j" ] || continue
        kn apply --server-side --field-manager=bench -f "$1.$j" >/dev/null &
        pids+=($!)
    done
    for j in "${pids[@]}"; do wait "$j" || rc=1; done
    return $rc
}
for ((i = 0; i < N; i++)); do schedule_doc "$i" "$cron_far" >>"$work/all.$((i % 4))"; done
t=$(date +%s%N)
apply_docs "$work/all" || fail "creating $N BackupSchedules"
note "created $N BackupSchedules ($cron_far) in $((($(date +%s%N) - t) / 1000000)) ms"

# The StatefulSet's Pods and claims: kube-controller-manager makes them if
# it runs; otherwise make them as it would (controller owner reference,
# volume "data" from the claim data-<pod>). They stay Pending either way.
sts_pods() { kn get pods -l app=mariadb -o name | grep -c . || true; }
end=$((SECONDS + 2))
while [ "$(sts_pods)" -lt 2 ] && [ $SECONDS -lt $end ]; do sleep 0.2; done
if [ "$(sts_pods)" -lt 2 ]; then
    uid=$(kn get statefulset mariadb -o jsonpath='{.metadata.uid}')
    for p in mariadb-0 mariadb-1; do
        kn create -f - >/dev/null 2>&1 <<YAML || true
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data-$p
  labels: {app: mariadb}
spec:
$claim_spec
---
apiVersion: v1
kind: Pod
metadata:
  name: $p
  labels: {app: mariadb, statefulset.kubernetes.io/pod-name: $p}
  ownerReferences:
  - {apiVersion: apps/v1, kind: StatefulSet, name: mariadb, uid: $uid, controller: true, blockOwnerDeletion: true}
spec:
  hostname: $p
  subdomain: mariadb
  volumes: [{name: data, persistentVolumeClaim: {claimName: data-$p}}]
$pod_spec
YAML
    done
    note "no kube-controller-manager made the StatefulSet's Pods; made them here"
fi
[ "$(sts_pods)" -ge 2 ] || fail "StatefulSet mariadb has no Pods"

# ---- sync ----------------------------------------------------------------------
"$SNAPSTAGE_BIN" --kubeconfig="$KUBECONFIG" --namespace="$ns" --leader-elect=false \
    --metrics-bind-address="127.0.0.1:$metrics_port" \
    --health-probe-bind-address="127.0.0.1:$probe_port" \
    "${extra_flags[@]+"${extra_flags[@]}"}" >"$work/controller.log" 2>&1 &
ctrl_pid=$!
started=$(date +%s%N)
note "controller started (pid $ctrl_pid, $("$SNAPSTAGE_BIN" --version 2>&1 | head -n 1)${extra_flags[*]+, ${extra_flags[*]}})"
# Sets have (schedules with nextScheduleTime and Ready=True), judged (with
# any Ready condition) and unready (with Ready=False).
statused() {
    read -r have judged unready < <(kn get backupschedules -o jsonpath='{range .items[*]}{.status.nextScheduleTime}|{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
        awk -F'|' '$1 != "" && $2 == "True" {h++} $2 != "" {j++} $2 == "False" {u++}
            END {print h + 0, j + 0, u + 0}')
}
until curl -sf --max-time 2 "http://127.0.0.1:$probe_port/readyz" >/dev/null 2>&1; do
    alive || fail "the controller exited during start-up"
    [ $((($(date +%s%N) - started) / 1000000000)) -lt 60 ] || fail "not ready within 60 s"
    sleep 0.1
done
ready_ms=$((($(date +%s%N) - started) / 1000000))
have=0
while [ "$have" -lt "$N" ]; do
    alive || fail "the controller exited while syncing"
    [ $((($(date +%s%N) - started) / 1000000000)) -lt 120 ] ||
        fail "after 120 s only $have of $N schedules have status.nextScheduleTime and Ready=True"
    sleep 0.25
    statused
    [ "$judged" -lt "$N" ] || [ "$unready" = 0 ] ||
        fail "$unready of $N schedules are Ready=False: the set-up is wrong for this controller"
done
sync_ms=$((($(date +%s%N) - started) / 1000000))
note "ready (/readyz) after $ready_ms ms; all $N schedules have status.nextScheduleTime and Ready=True after $sync_ms ms"
# Settled: the schedule queue empty and no reconcile for a second (each
# status write comes back as a watch event and is reconciled once more).
prev=-1 settled="not settled after 30 s"
for ((i = 0; i < 30; i++)); do
    counters
    if [ "$m_sched" = "$prev" ] && [ "$(msum snapstage_workqueue_depth 'name="schedule"')" = 0 ]; then
        settled="settled after $((($(date +%s%N) - started) / 1000000)) ms"
        break
    fi
    prev=$m_sched
    sleep 1
done
note "$settled; Ready: $(ready_summary)"
sample
report "after sync"
counters
note "  reconciles so far: schedule $m_sched, backup $m_backup; API requests $m_api"

# ---- idle ----------------------------------------------------------------------
c0=$s_ticks r0=$m_sched a0=$m_api
slices=
for ((left = IDLE; left > 0; left -= 10)); do
    prev=$s_ticks
    sleep $((left < 10 ? left : 10))
    sample
    slices="$slices $(secs $((s_ticks - prev)))"
done
counters
report "after ${IDLE} s idle"
idle_ticks=$((s_ticks - c0))
note "  idle ${IDLE} s: CPU $(secs $idle_ticks) s ($(awk -v t=$idle_ticks -v h="$tck" -v s="$IDLE" \
    'BEGIN {printf "%.3f", s ? 100 * t / h / s : 0}') %); schedule reconciles $((m_sched - r0)); API requests $((m_api - a0))"
note "  CPU s per 10 s:$slices"

# ---- due -----------------------------------------------------------------------
now=$(date +%s)
boundary=$(((now / 60 + 1) * 60))
[ $((boundary - now)) -ge 15 ] || boundary=$((boundary + 60))
cron_due="$(date -u -d "@$boundary" +%-M) $(date -u -d "@$boundary" +%-H) * * *"
step=$((N / DUE))
for ((k = 0; k < DUE; k++)); do schedule_doc $((k * step)) "$cron_due" >>"$work/due.$((k % 4))"; done
sample
c1=$s_ticks
counters
r1=$m_sched a1=$m_api
t=$(date +%s%N)
apply_docs "$work/due" || fail "patching $DUE schedules"
note "patched $DUE schedules to \"$cron_due\" UTC in $((($(date +%s%N) - t) / 1000000)) ms; due at $(iso "$boundary")"
due_seen() {
    kn get backupschedules -o jsonpath='{range .items[*]}{.status.nextScheduleTime}{"\n"}{end}' |
        grep -c "^$(iso "$boundary")\$" || true
}
until [ "$(due_seen)" -ge "$DUE" ]; do
    [ "$(date +%s)" -lt "$boundary" ] ||
        fail "only $(due_seen) of $DUE patched schedules had nextScheduleTime $(iso "$boundary") before it came"
    sleep 0.25
done
note "all $DUE show nextScheduleTime $(iso "$boundary") ($((boundary - $(date +%s))) s before it)"
backup_times() { kn get backups -o jsonpath='{range .items[*]}{.metadata.creationTimestamp}{"\n"}{end}'; }
before=$(backup_times | grep -c . || true)
[ "$before" = 0 ] || note "  note: $before Backups exist before the boundary"
sample
counters
note "  patch reconciled: CPU $(secs $((s_ticks - c1))) s, schedule reconciles $((m_sched - r1)), API requests $((m_api - a1))"
while [ "$(date +%s%N)" -lt $((boundary * 1000000000)) ]; do sleep 0.05; done
sample
c2=$s_ticks
counters
r2=$m_sched b2=$m_backup a2=$m_api
have=0
while [ "$have" -lt "$DUE" ]; do
    alive || fail "the controller exited after the boundary"
    [ "$(date +%s)" -lt $((boundary + 60)) ] ||
        fail "60 s after the boundary only $have of $DUE Backups exist"
    sleep 0.1
    have=$(backup_times | grep -c . || true)
done
seen_ms=$((($(date +%s%N) - boundary * 1000000000) / 1000000))
last=$(backup_times | sort | tail -n 1)
sample
report "$DUE Backups exist"
note "  $have Backups; last creationTimestamp $last = boundary + $(($(date -u -d "$last" +%s) - boundary)) s (1 s resolution); all seen here at + $seen_ms ms"
while [ "$(date +%s)" -lt $((boundary + 60)) ]; do sleep 0.2; done
sample
counters
report "due minute over"
note "  due minute: CPU $(secs $((s_ticks - c2))) s ($(awk -v t=$((s_ticks - c2)) -v h="$tck" \
    'BEGIN {printf "%.2f", 100 * t / h / 60}') %); reconciles: schedule $((m_sched - r2)), backup $((m_backup - b2)); API requests $((m_api - a2))"
note "  Backups by phase: $(kn get backups -o jsonpath='{range .items[*]}{.status.phase}/{.status.conditions[?(@.type=="Failed")].reason}{"\n"}{end}' |
    sort | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}')"
note "  /metrics: $(grep -c . "$work/metrics") lines; workqueues: $(awk '
    /^snapstage_workqueue_(depth|adds_total|retries_total)\{/ {
        match($0, /name="[^"]*"/); n = substr($0, RSTART + 6, RLENGTH - 7)
        m = $1; sub(/\{.*/, "", m); sub(/snapstage_workqueue_/, "", m)
        printf "%s%s %s=%s", (c++ ? ", " : ""), n, m, $NF}' "$work/metrics")"
note "  API mean latency (whole run): $(awk '
    /^snapstage_api_request_duration_seconds_(sum|count)\{/ {
        match($0, /verb="[^"]*"/); v = substr($0, RSTART + 6, RLENGTH - 7)
        if ($1 ~ /_sum\{/) sum[v] += $NF; else cnt[v] += $NF}
    END {for (v in cnt) if (cnt[v] > 0)
        printf "%s%s %.1f ms (%d)", (c++ ? ", " : ""), v, 1000 * sum[v] / cnt[v], cnt[v]}' "$work/metrics")"

# ---- stop ----------------------------------------------------------------------
kill -TERM "$ctrl_pid"
rc=0
t=$(date +%s%N)
wait "$ctrl_pid" || rc=$?
pid=$ctrl_pid
ctrl_pid=
[ $rc = 0 ] || fail "the controller (pid $pid) exited $rc after SIGTERM"
note "controller stopped on SIGTERM in $((($(date +%s%N) - t) / 1000000)) ms (exit 0)"
