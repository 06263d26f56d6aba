#!/usr/bin/env bash
# Many Backups of one database (issue 15, points 9 and 10): the real
# snapstage binary against the mini-cluster's primary and two replicas
# (hack/sim/mariadb.yaml).
#   burst       FLEET_N Backups (default 12) of the StatefulSet created at
#               once, each cut taking 1.5 s (sim.snapstage.io/cut-latency-ms),
#               so that most of them wait for a server: every one Completes;
#               the lock sessions spread over both replicas (each gets at
#               least a third); a Backup that waited has exactly one Queued
#               Event (no repeats, no series); the sessions on one server
#               never overlap; the new connections each server counted
#               (SHOW GLOBAL STATUS LIKE 'Connections', less the node
#               agent's readiness probes measured beforehand and our own
#               reads), less the two every lock session needs (the
#               control connection that probes, stops and starts the SQL
#               threads, and the lock connection), stay within
#               FLEET_MAX_PROBES_PER_BACKUP (default 2) per Backup;
#   sequence    FLEET_SEQ Backups (default 4) one after another: they
#               alternate between the replicas (the one used longest ago is
#               taken when both are equally healthy).
# Prints the figures (sessions per replica, Queued Events per Backup,
# connections per Backup and server, reconciles per Backup) before it
# judges them, so a run of an older binary measures "before".
#
# Environment (set by CTest): SNAPSTAGE_CLUSTER_DIR (a running
# `hack/cluster.sh up --with-mariadb` cluster), SNAPSTAGE_BIN (the
# controller). Exits non-zero on the first failure, after showing what it
# saw.
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_fleet fleet

N=${FLEET_N:-12}
SEQ=${FLEET_SEQ:-4}
MAX_PROBES=${FLEET_MAX_PROBES_PER_BACKUP:-2}
pods=(mariadb-0 mariadb-1 mariadb-2)

bk() { kn get backup "$1" -o jsonpath="$2"; }
is_complete() { [ "$(bk "$1" '{.status.conditions[?(@.type=="Complete")].status}')" = True ]; }
all_complete() { # names...
    local b
    for b in "$@"; do is_complete "$b" || return 1; done
}
backup_doc() { # name
    cat <<YAML
---
apiVersion: snapstage.io/v1alpha1
kind: Backup
metadata: {name: $1}
spec:
  target: {statefulSetName: mariadb, role: Replica, connection: {credentialsSecretRef: {name: mariadb-backup}}}
  snapshot: {annotations: {sim.snapstage.io/cut-latency-ms: "1500"}}
YAML
}
connections() { # pod: the server's Connections counter
    sql "$1" "SHOW GLOBAL STATUS LIKE 'Connections'" | cut -f2
}
# "name count" per Backup: how often a Queued Event was recorded for it
# (an Event repeated is one object with series.count, or core/v1 count).
queued_counts() {
    "$KUBECTL" -n "$ns" get events.v1.events.k8s.io -o json |
        jq -r '[.items[] | select(.reason == "Queued")
                | {n: .regarding.name, c: (.series.count // .deprecatedCount // 1)}]
               | group_by(.n)[] | "\(.[0].n) \(map(.c) | add) \(length)"'
}
reconciles() { # Backup reconciles counted by the controller so far
    curl -sf "http://127.0.0.1:$metrics_port/metrics" |
        awk '/^snapstage_reconcile_total\{/ && /controller="backup"/ { s += $NF } END { print s + 0 }'
}
dump_on_fail() { queued_counts || true; }

# ---- set-up ------------------------------------------------------------------
install_crds
mini_mariadb_up
start_controller

# The node agent's readiness probe connects to every server every 2 s; the
# rate measured here is taken off the counts below. Each of our reads is
# one connection too.
declare -A c0 c1 c2 rate
for p in "${pods[@]}"; do c0[$p]=$(connections "$p"); done
t0=$(date +%s%N)
sleep 8
for p in "${pods[@]}"; do c1[$p]=$(connections "$p"); done
t1=$(date +%s%N)
for p in "${pods[@]}"; do
    # per second, our read taken off
    rate[$p]=$(awk -v d=$((c1[$p] - c0[$p] - 1)) -v t=$((t1 - t0)) 'BEGIN { printf "%.3f", d / (t / 1e9) }')
done
note "background connections per second (readiness probes): mariadb-0 ${rate[mariadb-0]}, mariadb-1 ${rate[mariadb-1]}, mariadb-2 ${rate[mariadb-2]}"

# ---- burst ---------------------------------------------------------------------
names=()
: >"$work/burst.yaml"
for i in $(seq 1 "$N"); do
    names+=("burst-$i")
    backup_doc "burst-$i" >>"$work/burst.yaml"
done
r0=$(reconciles)
for p in "${pods[@]}"; do c0[$p]=$(connections "$p"); done
t0=$(date +%s%N)
kn apply -f "$work/burst.yaml" >/dev/null || fail "creating $N Backups"
wait_for 150 "all $N Backups of the burst are Complete" all_complete "${names[@]}"
t1=$(date +%s%N)
for p in "${pods[@]}"; do c2[$p]=$(connections "$p"); done
r1=$(reconciles)
secs=$(awk -v t=$((t1 - t0)) 'BEGIN { printf "%.1f", t / 1e9 }')

# Sessions per replica, and no two sessions overlapping on one server.
declare -A sessions=([mariadb-1]=0 [mariadb-2]=0)
: >"$work/windows"
for b in "${names[@]}"; do
    src=$(bk "$b" '{.status.sourcePod}')
    sessions[$src]=$((${sessions[$src]:-0} + 1))
    echo "$src $(bk "$b" '{.status.lock.acquiredTime} {.status.lock.releasedTime}') $b" >>"$work/windows"
done
# Events are sent in the background: give the last ones a moment.
sleep 2
queued_counts >"$work/queued"
waited=$(wc -l <"$work/queued")
occurrences=$(awk '{ s += $2 } END { print s + 0 }' "$work/queued")
max_per=$(awk '$2 > m { m = $2 } END { print m + 0 }' "$work/queued")
note "FIGURES burst of $N Backups finished in ${secs}s: sessions mariadb-1 ${sessions[mariadb-1]}, mariadb-2 ${sessions[mariadb-2]}, mariadb-0 ${sessions[mariadb-0]:-0}"
note "FIGURES Queued: $waited Backups waited; $occurrences Queued occurrences in all (max $max_per for one Backup)$(awk '{ printf "; %s %s", $1, $2 }' "$work/queued")"
total_conn=0
conn_line=""
for p in "${pods[@]}"; do
    # the difference, less the readiness probes and our one read
    d=$(awk -v d=$((c2[$p] - c0[$p] - 1)) -v r="${rate[$p]}" -v t=$((t1 - t0)) \
        'BEGIN { x = d - r * t / 1e9; if (x < 0) x = 0; printf "%.0f", x }')
    total_conn=$((total_conn + d))
    conn_line+=" $p $d ($(awk -v d="$d" -v n="$N" 'BEGIN { printf "%.2f", d / n }')/Backup)"
done
per_backup=$(awk -v d="$total_conn" -v n="$N" 'BEGIN { printf "%.2f", d / n }')
probes_per=$(awk -v d="$total_conn" -v n="$N" 'BEGIN { printf "%.2f", (d - 2 * n) / n }')
note "FIGURES connections by the controller during the burst:$conn_line; in all $total_conn = $per_backup per Backup, of which 2 the session's own: $probes_per per Backup for probing"
note "FIGURES Backup reconciles during the burst: $((r1 - r0)) = $(awk -v d=$((r1 - r0)) -v n="$N" 'BEGIN { printf "%.1f", d / n }') per Backup"

# Judged after all figures are out.
sort "$work/windows" | awk '
    $1 == prev && $2 < prev_end { print "overlap on " $1 ": " prev_name " until " prev_end ", " $4 " from " $2; bad = 1 }
    { prev = $1; prev_end = $3; prev_name = $4 }
    END { exit bad }' || fail "two lock sessions overlapped on one server"
ok "no two lock sessions overlapped on one server"
min=$(((N + 2) / 3))
[ "${sessions[mariadb-1]}" -ge "$min" ] && [ "${sessions[mariadb-2]}" -ge "$min" ] ||
    fail "sessions did not spread: mariadb-1 ${sessions[mariadb-1]}, mariadb-2 ${sessions[mariadb-2]} (each should have >= $min of $N)"
ok "the sessions spread over both replicas: ${sessions[mariadb-1]} and ${sessions[mariadb-2]} of $N"
[ "$waited" -ge 1 ] || fail "no Backup waited: the burst did not test queueing"
while read -r name count objects; do
    [ "$count" = 1 ] && [ "$objects" = 1 ] ||
        fail "Backup $name has $count Queued occurrences in $objects Event(s), not one"
done <"$work/queued"
ok "each of the $waited Backups that waited has exactly one Queued Event"
awk -v x="$probes_per" -v m="$MAX_PROBES" 'BEGIN { exit !(x <= m) }' ||
    fail "$probes_per probe connections per Backup (more than $MAX_PROBES):$conn_line"
ok "probe connections per Backup $probes_per <= $MAX_PROBES ($per_backup connections per Backup in all)"

# ---- sequence --------------------------------------------------------------------
prev=""
for i in $(seq 1 "$SEQ"); do
    backup_doc "seq-$i" | kn apply -f - >/dev/null || fail "creating seq-$i"
    wait_for 60 "seq-$i is Complete" is_complete "seq-$i"
    src=$(bk "seq-$i" '{.status.sourcePod}')
    [ "$src" != "$prev" ] || fail "seq-$i locked $src again, though the other replica was idle longer"
    prev=$src
done
ok "$SEQ Backups one after another alternated between the replicas"
check_clean_log
