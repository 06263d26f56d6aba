#!/usr/bin/env bash
# The one command that runs every snapstage test on a fresh Debian 12 machine
# (as root): installs dependencies, builds the Kubernetes test binaries once
# (cached), then for a normal build and an ASan+UBSan build runs every CTest
# test: unit, lint, integration, mariadb, e2e (the short soak included) and
# fuzz (each integration run brings up its own real etcd + kube-apiserver
# and takes it down again; the sanitizer build leaves out the tests that run
# none of our C code, see SNAPSTAGE_BUILD_INDEPENDENT_TESTS; the two builds'
# suites run side by side, SNAPSTAGE_TEST_SERIAL=1 one after the other), and finally
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

build_suite() { # name build-dir cmake-args...
    local name=$1 dir=$2
    shift 2
    step "$name: configure and build ($dir)"
    cmake -S . -B "$dir" -DSNAPSTAGE_TESTS=ON "$@" >/dev/null
    cmake --build "$dir" -j "$jobs" -- --no-print-directory >/dev/null
}
ctest_suite() { # name build-dir: every CTest test, each line tagged [name], kept in build-dir/ctest.log
    (cd "$2" && ctest --output-on-failure --timeout 600) 2>&1 | sed -u "s/^/[$1] /" | tee "$2/ctest.log"
}
# why_failed build-dir: the lines of build-dir/ctest.log that say why a
# test failed, printed after the summary (hack/lib/why-failed.sh).
# shellcheck source=lib/why-failed.sh
. hack/lib/why-failed.sh
record() { # name exit-code
    if [ "$2" = 0 ]; then passed+=("$1"); else failed+=("$1"); fi
}

step "dependencies"
hack/deps.sh
step "Kubernetes binaries (built once, then cached)"
hack/build-k8s.sh >/dev/null
step "kubectl and helm (downloaded once, then cached)"
hack/tools.sh >/dev/null

build_suite "default build" build -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ $quick = 1 ]; then
    step "default build: ctest (every label)"
    rc=0
    ctest_suite default build || rc=$?
    record "default build" $rc
else
    build_suite "ASan+UBSan build" build-asan -DCMAKE_BUILD_TYPE=Debug -DSNAPSTAGE_SANITIZE=ON
    # The two suites run side by side: each has its own clusters and
    # MariaDB servers (ports, pod addresses and install-db tmpdirs are
    # chosen under machine-wide locks, so two runs never share one), and
    # their end-to-end tests mostly wait on servers, so together they take
    # little longer than the longer one alone. SNAPSTAGE_TEST_SERIAL=1 runs
    # them one after the other.
    step "default and ASan+UBSan builds: ctest (every label), lines tagged [default] / [asan]"
    rc_default=0
    rc_asan=0
    if [ "${SNAPSTAGE_TEST_SERIAL:-0}" = 1 ]; then
        ctest_suite default build || rc_default=$?
        ctest_suite asan build-asan || rc_asan=$?
    else
        ctest_suite default build &
        pid_default=$!
        ctest_suite asan build-asan &
        pid_asan=$!
        wait "$pid_default" || rc_default=$?
        wait "$pid_asan" || rc_asan=$?
    fi
    record "default build" $rc_default
    record "ASan+UBSan build" $rc_asan

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
if [ ${#failed[@]} -gt 0 ]; then
    step "why (from build/ctest.log and build-asan/ctest.log)"
    why_failed build
    [ $quick = 1 ] || why_failed build-asan
fi
echo "suites: ${#passed[@]} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
