#!/usr/bin/env bash
# The chaos soak, in one command (as root, on a machine set up as for
# hack/test.sh): builds the controller, brings up a private mini-cluster
# (hack/cluster.sh up --with-mariadb in a fresh folder), and runs
# hack/soak/soak.py against it: the ledger workload on the primary, two
# controller replicas with leader election, a `* * * * *` BackupSchedule, and
# round after round a Backup with a fault from hack/soak/faults.py; every
# Complete Backup is restored and checked by hack/ledger/check.py; restores
# (new claims and in place) with the controller killed during them. Prints
# one line per round, every finding, and a table of figures; exits 1 if
# anything was found (an inconsistent Backup, a lock or stopped replication
# left, an orphan, ...), 0 otherwise. The cluster is always taken down;
# logs, the GTID log and the verdicts stay in the output folder.
#
# Usage: hack/soak.sh [--backups N] [--seconds S] [--seed N] [--rate R]
#                     [--restore-every N] [--inplace-every N] [--faults A,B] [--parallel K]
#                     [--out DIR]
#   --backups N      stop after N Backups have ended (default 200, or no
#                    bound when only --seconds is given)
#   --seconds S      stop after S seconds (with both, the first bound ends it)
#   --seed N         the fault sequence (default: from the clock; printed);
#                    the same seed replays the same faults in the same order
#   --faults A,B     draw only these faults from the menu (hack/soak/faults.py)
#   --parallel K     Backups made together in each round (default 2)
#   --out DIR        where the logs go (default /tmp/snapstage-soak-SEED)
# SNAPSTAGE_BIN picks a controller binary instead of building one (e.g. the
# ASan build's); BUILD_DIR (default build-soak) the build folder.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
seed=$(( $(date +%s) % 1000000 ))
args=()
out=
while [ $# -gt 0 ]; do
    case "$1" in
    --seed) seed=${2:?--seed needs a number}; shift 2 ;;
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    --backups | --seconds | --rate | --restore-every | --inplace-every | --max-rss-mib | --faults | --parallel)
        args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "hack/soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $seed =~ ^[0-9]+$ ]] || { echo "hack/soak.sh: --seed takes a number" >&2; exit 2; }
out=${out:-/tmp/snapstage-soak-$seed}
mkdir -p "$out"

bin=${SNAPSTAGE_BIN:-}
if [ -z "$bin" ]; then
    build=${BUILD_DIR:-build-soak}
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$build" --target snapstage -j "$(nproc)" -- --no-print-directory >/dev/null
    bin=$root/$build/controller/snapstage
fi
kubectl=$(hack/tools.sh)/kubectl

cluster=$(mktemp -d /tmp/snapstage-soak-cluster.XXXXXX)
rmdir "$cluster"
down() { hack/cluster.sh --dir "$cluster" down >/dev/null 2>&1 || true; }
trap down EXIT
hack/cluster.sh --dir "$cluster" up --with-mariadb
echo "soak: seed $seed, output in $out (replay: hack/soak.sh --seed $seed ${args[*]})"
rc=0
/usr/bin/python3 hack/soak/soak.py --cluster-dir "$cluster" --bin "$bin" --kubectl "$kubectl" \
    --out "$out" --seed "$seed" --json-out "$out/soak.json" "${args[@]}" || rc=$?
cp "$cluster"/logs/sim-*.log "$out"/ 2>/dev/null || true
exit $rc
