#!/usr/bin/env bash
# Self-test of hack/lib/why-failed.sh: on a made-up ctest.log in the shapes
# the suites print (CTest, cmocka, the e2e shell tests, TAP, Python
# unittest, the sanitizers), why_failed prints every line that says why a
# test failed and none of the passing ones. (It once missed cmocka's
# [  ERROR   ] and [   LINE   ], so CI showed only "***Failed".)
#
# Usage: tests/tools/test_why_failed.sh REPO_ROOT
set -euo pipefail

repo=${1:?usage: $0 REPO_ROOT}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=../../hack/lib/why-failed.sh
. "$repo/hack/lib/why-failed.sh"

want=(
    '[default]  80/121 Test  #80: mariadb.test_replay ................***Failed   64.21 sec'
    '[default] [  ERROR   ] --- 0x2 != 0x1'
    '[default] [   LINE   ] --- /src/tests/integration/test_replay.c:201: error: Failure!'
    '[default] [  FAILED  ] test_throughput'
    '[asan] 12/89 Test #12: e2e.test_pitr ....***Timeout 600.01 sec'
    '[asan] FAIL: time 2026-12-07T10:00:00Z: the restored server holds rows 1,2, want 1,2,3'
    '[default] not ok 3 - the soak finds nothing'
    '[default] ERROR: test_reject (test_promcheck.Reject.test_reject)'
    '[default] FAIL: test_window (test_promcheck.Rules.test_window)'
    '[default] AssertionError: 2 != 1'
    '[asan] ==123==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020'
    '[asan] controller/app/api/api.c:10:5: runtime error: signed integer overflow'
    '[default] test_x: test_x.c:9: main: Assertion `n == 1'"'"' failed.'
    '[default] tests/e2e/test_pitr.sh: line 274: 0'
    '[default] 0 + 300: syntax error in expression (error token is "0 + 300")'
    '[asan] tests/e2e/test_x.sh: line 9: want: unbound variable'
)
noise=(
    '[default] [==========] Running 7 test(s).'
    '[default] [ RUN      ] test_seed'
    '[default] [       OK ] test_seed'
    '[default] [  PASSED  ] 7 test(s).'
    '[default]  79/121 Test  #79: mariadb.replay_servers_down ......   Passed    2.00 sec'
    '[default] ok 2 - the ledger holds'
    '[default] ok: undo: Complete, step Done'
    '[default] note: time: replayed from mariadb-0 to 0-1-5 (4 s)'
    '[default] 100% tests passed, 0 tests failed out of 121'
)
mkdir -p "$tmp/build"
{
    printf '%s\n' "${noise[@]}"
    printf '%s\n' "${want[@]}"
    printf '%s\n' "${noise[@]}"
} >"$tmp/build/ctest.log"

got=$(why_failed "$tmp/build")
failures=0
for line in "${want[@]}"; do
    grep -qxF -- "$line" <<<"$got" || { echo "FAIL: not printed: $line"; failures=$((failures + 1)); }
done
for line in "${noise[@]}"; do
    if grep -qxF -- "$line" <<<"$got"; then
        echo "FAIL: printed a passing line: $line"
        failures=$((failures + 1))
    fi
done
[ -z "$(why_failed "$tmp/none")" ] || { echo "FAIL: output for a build with no ctest.log"; failures=$((failures + 1)); }
# the bound: 100 failing lines give 60
for i in $(seq 100); do echo "FAIL: line $i"; done >"$tmp/build/ctest.log"
n=$(why_failed "$tmp/build" | wc -l)
[ "$n" = 60 ] || { echo "FAIL: $n lines from 100 failing ones, want 60"; failures=$((failures + 1)); }

if [ $failures -gt 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "why_failed: ${#want[@]} failing lines printed, ${#noise[@]} passing ones left out, 60-line bound holds"
