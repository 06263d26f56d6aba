#!/usr/bin/env bash
# Bring-up and teardown of the MariaDB mini-cluster, on a cluster of its own
# (not the e2e fixture's), twice in a row:
#   - `hack/cluster.sh up --with-mariadb` succeeds; its duration is printed
#     (the target is under a minute with cached binaries); its output holds
#     no raw API Status (the readiness polls' expected 404s stay quiet);
#   - a 2-member MariaDB StatefulSet becomes Ready (time printed);
#   - run 1 simulates a crash first: the node agent is SIGKILLed, so its
#     mariadbd processes are orphaned; run 2 tears down normally;
#   - after `down`: no process whose command line names the cluster
#     directory, none of the recorded mariadbd pids, no listener left on the
#     Pods' loopback addresses, no mount under the directory, and the
#     directory is gone.
# Environment: none needed (uses its own directory under $TMPDIR).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KUBECTL=${KUBECTL:-$("$ROOT/hack/tools.sh")/kubectl}
DIR=$(mktemp -d)/cluster
checks=0

ok() {
    checks=$((checks + 1))
    printf 'ok %d - %s\n' "$checks" "$*"
}
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}
cleanup() {
    local rc=$?
    "$ROOT/hack/cluster.sh" --dir "$DIR" down >/dev/null 2>&1 || true
    rm -rf "$(dirname "$DIR")"
    echo "test_teardown: $checks checks, exit $rc"
    exit $rc
}
trap cleanup EXIT

# Running, not a zombie waiting for PID 1 to reap it (a reaped-late zombie
# holds no files, sockets or memory).
running() {
    kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
fmt() { printf '%d.%03d s' $(($1 / 1000)) $(($1 % 1000)); }

# Processes naming DIR, except this script's own.
procs_naming_dir() {
    local p cmd
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = $$ ] && continue
        [ "$p" = "$BASHPID" ] && continue
        cmd=$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) || continue
        case "$cmd" in *"$DIR/"*) echo "$p $cmd" ;; esac
    done
}

one_run() { # run-number crash?
    local run=$1 crash=$2 t ips pids ip p left
    k() { KUBECONFIG=$DIR/kubeconfig "$KUBECTL" "$@"; }

    t=$(date +%s%N)
    "$ROOT/hack/cluster.sh" --dir "$DIR" up --with-mariadb >"$DIR.up.log" 2>&1 ||
        fail "run $run: up --with-mariadb failed: $(tail -n 20 "$DIR.up.log")"
    ok "run $run: up --with-mariadb in $(fmt "$(ms_since "$t")")"
    # Its readiness polls expect 404s while the simulators start: none of
    # them may reach the output as a raw Status object.
    ! grep -q -e '"kind": "Status"' -e 'HTTP 404' "$DIR.up.log" ||
        fail "run $run: up printed an API error: $(grep -m3 -e Status -e 'HTTP 404' "$DIR.up.log")"
    ok "run $run: up printed $(wc -l <"$DIR.up.log") lines, no raw API Status"

    t=$(date +%s%N)
    k create namespace td >/dev/null
    k -n td apply -f "$ROOT/hack/sim/mariadb.yaml" >/dev/null
    k -n td scale statefulset mariadb --replicas=2 >/dev/null
    k -n td rollout status statefulset/mariadb --timeout=300s >/dev/null ||
        fail "run $run: the StatefulSet did not become Ready"
    ok "run $run: 2 MariaDB pods Ready in $(fmt "$(ms_since "$t")")"

    ips=$(k -n td get pods -o jsonpath='{range .items[*]}{.status.podIP}{"\n"}{end}')
    pids=$(k -n td get pods -o jsonpath='{range .items[*]}{.status.containerStatuses[0].containerID}{"\n"}{end}' |
        sed 's|^sim://||')
    for p in $pids; do
        running "$p" || fail "run $run: mariadbd pid $p is not running"
    done
    ok "run $run: mariadbd pids $(echo $pids) on $(echo $ips)"

    if [ "$crash" = 1 ]; then
        kill -KILL "$(cat "$DIR/pids/sim-node.pid")"
        sleep 0.5
        for p in $pids; do
            running "$p" || fail "run $run: mariadbd $p died with the agent (expected an orphan)"
        done
        ok "run $run: node agent SIGKILLed; its mariadbd processes are orphaned"
    fi

    t=$(date +%s%N)
    "$ROOT/hack/cluster.sh" --dir "$DIR" down >/dev/null 2>&1 || fail "run $run: down failed"
    ok "run $run: down in $(fmt "$(ms_since "$t")")"

    [ ! -e "$DIR" ] || fail "run $run: $DIR still exists"
    left=$(procs_naming_dir)
    [ -z "$left" ] || fail "run $run: processes left behind: $left"
    for p in $pids; do
        ! running "$p" || fail "run $run: mariadbd $p is still running"
    done
    for ip in $ips; do
        ! ss -Hltn "src $ip" | grep -q . || fail "run $run: something still listens on $ip"
    done
    ! grep -q -- "$DIR" /proc/mounts || fail "run $run: a mount under $DIR is left"
    ok "run $run: no process, listener or mount left behind"
}

one_run 1 1
one_run 2 0
