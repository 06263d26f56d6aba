#!/usr/bin/env bash
# run_fuzz.sh — runs one libFuzzer target the same way on every machine.
#
# CTest's `fuzz.*` tests call this with a fixed seed and a fixed number of
# runs, starting from the committed seed corpus in a fresh scratch folder,
# so CI and a developer's checkout explore exactly the same inputs and a
# failure reproduces with the same command. libFuzzer's progress lines are
# off (-verbosity=0), so on failure the output is libFuzzer's report with
# the input's bytes and the file it was saved to, short enough for any CI
# log. Open-ended fuzzing with a random seed is hack/fuzz.sh.
#
# Usage: run_fuzz.sh FUZZER SEED_CORPUS ARTIFACT_DIR SEED RUNS
set -euo pipefail

[ $# -eq 5 ] || { echo "usage: $0 FUZZER SEED_CORPUS ARTIFACT_DIR SEED RUNS" >&2; exit 2; }
fuzzer=$1 seeds=$2 artifacts=$3 seed=$4 runs=$5

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"

# -timeout is generous: an input that takes seconds is a bug on any
# machine, but a loaded CI machine must not make a 10 ms input look like one.
rc=0
"$fuzzer" -seed="$seed" -runs="$runs" -timeout=25 -verbosity=0 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$work/corpus" "$seeds" >"$work/log" 2>&1 || rc=$?
if [ $rc -eq 0 ]; then
    grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$work/log" || true
    exit 0
fi
cat "$work/log"
echo "run_fuzz.sh: $fuzzer failed (exit $rc); the input is the 'Test unit written to' file above" >&2
exit "$rc"
