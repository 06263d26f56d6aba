# shellcheck shell=bash
# hack/lib/why-failed.sh — why_failed, which hack/test.sh runs after its
# summary: the lines of a suite's ctest.log that say why a test failed, so
# that they end up at the end of the output next to the summary (a long
# failed test's own lines are far above it, and a CI page that keeps only
# the start and end of the output drops them).
#
# The lines it takes: CTest's ***Failed/Timeout/Exception, the e2e and
# shell tests' "FAIL:", TAP's "not ok N", cmocka's [  ERROR   ] /
# [   LINE   ] / [  FAILED  ] (the error and its file:line), Python
# unittest's "FAIL:"/"ERROR:" headers and AssertionError, ASan/UBSan
# reports, and bash's own errors in a test script ("X.sh: line N: ...",
# "syntax error": bash skips the rest of a loop on one and goes on, so it is
# often the real reason behind a later, stranger FAIL). At most 60 lines. Sourced, not run; tests/tools/test_why_failed.sh
# checks it on a made-up log.

# why_failed build-dir: prints those lines of build-dir/ctest.log.
why_failed() {
    [ -f "$1/ctest.log" ] || return 0
    grep -E '\*\*\*(Failed|Timeout|Exception)|FAIL:|not ok [0-9]|\[  (ERROR|FAILED)  +\] |\[   LINE   \]|ERROR: (test|AddressSanitizer)|AssertionError|runtime error:|Assertion .* failed|\.sh: line [0-9]+: |: syntax error' \
        "$1/ctest.log" | head -n 60 || true
}
