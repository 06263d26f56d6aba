# lib.sh — what the e2e tests share: numbered checks with the time since
# the start, a failure that shows what the test saw, and waiting for a
# condition with a bound. Sourced (not run) by a test after it has set
# KUBECTL and `ns` (the namespace of its own).
#
# A test may define dump_on_fail (called with stdout on stderr) to add its
# own evidence to a failure; every failure also shows the namespace's
# objects and the error.log of each mariadbd the node agent ran for it.
#
# Provides: checks (the count), started, kn, stamp, ok, note, fail,
# wait_for. Uses: SNAPSTAGE_CLUSTER_DIR.

checks=0
started=$(date +%s%N)

kn() { "$KUBECTL" -n "$ns" "$@"; }

stamp() {
    local ms=$((($(date +%s%N) - started) / 1000000))
    printf '[%4d.%03ds]' $((ms / 1000)) $((ms % 1000))
}

ok() {
    checks=$((checks + 1))
    printf '%s ok %d - %s\n' "$(stamp)" "$checks" "$*"
}

note() { printf '%s      %s\n' "$(stamp)" "$*"; }

fail() {
    printf '%s FAIL: %s\n' "$(stamp)" "$*" >&2
    {
        kn get backups,volumesnapshots,pvc,pods -o wide 2>/dev/null ||
            kn get volumesnapshots,pvc,pods -o wide || true
        if declare -F dump_on_fail >/dev/null; then
            dump_on_fail || true
        fi
        tail -n 15 "$SNAPSTAGE_CLUSTER_DIR/logs/sim-storage.log" || true
        local log
        for log in "$SNAPSTAGE_CLUSTER_DIR/sim/run/${ns}_"*/error.log; do
            [ -f "$log" ] || continue
            echo "--- $log (last 30 lines)"
            tail -n 30 "$log"
        done
    } >&2
    exit 1
}

wait_for() { # seconds what command...
    local limit=$1 what=$2 end
    shift 2
    end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || fail "timed out after ${limit}s: $what"
        sleep 0.2
    done
    ok "$what"
}
