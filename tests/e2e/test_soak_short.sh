#!/usr/bin/env bash
# The chaos soak (hack/soak/soak.py, what hack/soak.sh runs) in CI: the same
# tool on the fixture's cluster, small and with fixed seeds, in two runs:
#   handover  only `controller-sigstop` (the leader SIGSTOPped 5-9 s while
#             Locked, longer than its 4 s Lease), seed 3, 3 rounds: every
#             Backup must end Complete and consistent. The regression test
#             for the stale leader: before writes were fenced by leadership
#             (ctrl_manager_write_gate) the resumed leader wrote its stale
#             decision over its successor's (a needless CutOutsideLock or
#             SnapshotLost, the successor's snapshots left behind a Failed
#             Backup), which the soak reports as findings.
#   menu      the whole fault menu, seed 16, about 20 Backups (2 per round),
#             a NewClaims Restore every 5 rounds, an InPlace one every 8.
# Each run passes only with 0 findings: every Complete Backup of the ledger
# StatefulSet restored and equal to the primary's history at its position;
# Failed ones with a documented reason and their snapshots deleted; no lock,
# stopped SQL thread or orphan left after a round; a Backup that only met
# controller faults is not Failed, one whose storage lied is not Complete;
# restores exactly the Backup's data or, if they failed, what was there
# before. The soak's table is printed; its logs are kept in the cluster's
# logs/ folder as test_soak_short-*.
#
# Environment: SNAPSTAGE_CLUSTER_DIR (a running `hack/cluster.sh up
# --with-mariadb` cluster), SNAPSTAGE_BIN (the controller).
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_soak_short soak

on_exit() {
    local d f
    for d in "$work"/handover "$work"/menu; do
        for f in "$d"/controller-*.log; do
            [ -f "$f" ] || continue
            cp "$f" "$SNAPSTAGE_CLUSTER_DIR/logs/test_soak_short-$(basename "$d")-$(basename "$f")" 2>/dev/null || true
        done
    done
}

soak() { # name args...: one soak run; fails the test unless it passes
    local name=$1 rc=0
    shift
    /usr/bin/python3 "$ROOT/hack/soak/soak.py" --cluster-dir "$SNAPSTAGE_CLUSTER_DIR" \
        --bin "$SNAPSTAGE_BIN" --kubectl "$KUBECTL" --out "$work/$name" \
        --json-out "$work/$name.json" "$@" >"$work/$name.log" 2>&1 || rc=$?
    sed -n '/^| soak/,$p' "$work/$name.log"
    if [ $rc != 0 ]; then
        grep -E '^\[.*(FINDING|round)|^finding:' "$work/$name.log" | tail -n 40 >&2 || true
        tail -n 5 "$work/$name.log" >&2
        fail "soak run '$name' ($*): exit $rc"
    fi
    grep -q '^soak: passed' "$work/$name.log" || fail "soak run '$name' did not say it passed"
}
# count RUN EXPR: EXPR (Python, over d = the run's soak.json) printed.
count() {
    /usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$work/$1.json" "$2"
}

soak handover --seed 3 --faults controller-sigstop --backups 3 --parallel 1 \
    --restore-every 0 --inplace-every 0
ok "handover: $(count handover 'd["outcomes"]') — every Backup ended, 0 findings"
[ "$(count handover 'd["outcomes"].get("Complete", 0) == d["backups_attempted"] >= 3')" = True ] ||
    fail "handover: not every Backup is Complete: $(count handover 'd["outcomes"]')"
[ "$(count handover 'd["ledger_checks"].get("consistent", 0) == d["outcomes"]["Complete"]')" = True ] ||
    fail "handover: not every Complete Backup was checked consistent: $(count handover 'd["ledger_checks"]')"
ok "handover: every Backup Complete and ledger-consistent although its leader was stopped past its Lease"

soak menu --seed 16 --backups 20 --parallel 2 --restore-every 5 --inplace-every 8
ok "menu: $(count menu 'd["backups_attempted"]') Backups, faults $(count menu 'd["faults"]'), 0 findings"
[ "$(count menu 'd["backups_attempted"] >= 20 and d["ledger_checks"].get("consistent", 0) >= 5')" = True ] ||
    fail "menu: too little was checked: $(count menu 'd["outcomes"]') $(count menu 'd["ledger_checks"]')"
ok "menu: $(count menu 'd["ledger_checks"]') ledger checks, restores $(count menu 'd["restores"]')"
