#!/usr/bin/env bash
# The one command that runs every snapstage test on a fresh Debian 12 machine
# (as root): installs dependencies, builds the Kubernetes test binaries once
# (cached), then for a normal build and an ASan+UBSan build runs every CTest
# test: unit, lint, integration, mariadb, e2e (the short soak included) and
# fuzz (each integration run brings up its own real etcd + kube-apiserver
# and takes it down again; the sanitizer build leaves out the tests that run
# none of our C code, see SNAPSTAGE_BUILD_INDEPENDENT_TESTS), and finally
# runs the unit tests under valgrind for leaks. docs/testing.md says what
# each group proves.
#
# Usage: hack/test.sh [--quick]   (--quick: normal build only, no sanitizers
#                                  or valgrind)
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
quick=0
[ "${1:-}" = "--quick" ] && quick=1
jobs=$(nproc)
failed=()
passed=()
start=$SECONDS

step() { printf '\n==> %s\n' "$*"; }

# Whatever happens, no test cluster or MariaDB server outlives this script
# (CTest's clean-up fixtures do not run when ctest itself is interrupted).
cleanup() {
    local d b
    for b in build build-asan; do
        for d in "$root/$b/test-cluster" "$root/$b/e2e-cluster"; do
            [ -d "$d" ] && hack/cluster.sh --dir "$d" down >/dev/null 2>&1 || true
        done
        d=$root/$b/test-mariadb
        [ -d "$d" ] && hack/mariadb-local.sh --dir "$d" down >/dev/null 2>&1 || true
    done
}
trap cleanup EXIT

run_suite() { # name build-dir cmake-args...
    local name=$1 dir=$2
    shift 2
    step "$name: configure and build ($dir)"
    cmake -S . -B "$dir" -DSNAPSTAGE_TESTS=ON "$@" >/dev/null
    cmake --build "$dir" -j "$jobs" -- --no-print-directory >/dev/null
    step "$name: ctest (every label)"
    if (cd "$dir" && ctest --output-on-failure --timeout 600); then
        passed+=("$name")
    else
        failed+=("$name")
    fi
}

step "dependencies"
hack/deps.sh
step "Kubernetes binaries (built once, then cached)"
hack/build-k8s.sh >/dev/null
step "kubectl and helm (downloaded once, then cached)"
hack/tools.sh >/dev/null

run_suite "default build" build -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ $quick = 0 ]; then
    run_suite "ASan+UBSan build" build-asan -DCMAKE_BUILD_TYPE=Debug -DSNAPSTAGE_SANITIZE=ON

    step "valgrind: unit tests must not leak"
    vg_fail=0
    for t in build/tests/unit/test_*; do
        [ -x "$t" ] || continue
        if valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
            --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
            "$t" >"build/$(basename "$t").valgrind.log" 2>&1; then
            echo "  clean: $(basename "$t")"
        else
            echo "  NOT CLEAN: $(basename "$t") (see build/$(basename "$t").valgrind.log)"
            tail -n 30 "build/$(basename "$t").valgrind.log"
            vg_fail=1
        fi
    done
    if [ $vg_fail = 0 ]; then passed+=("valgrind"); else failed+=("valgrind"); fi
fi

step "summary ($((SECONDS - start))s)"
for s in "${passed[@]}"; do echo "  ok:     $s"; done
for s in "${failed[@]+"${failed[@]}"}"; do echo "  FAILED: $s"; done
echo "suites: ${#passed[@]} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
