#!/usr/bin/env bash
# Open-ended fuzzing of one libFuzzer target (tests/fuzz/fuzz_<TARGET>.c):
# a random seed, for as long as asked, inputs that reach new code kept in
# build-fuzz/tests/fuzz/corpus/<TARGET> (so the next run starts from them).
# CTest's fuzz.<TARGET> is the short, fixed-seed run; this one looks
# further. A crash stops the run and leaves crash-* in build-fuzz/tests/fuzz/;
# add the input to tests/fuzz/corpus/<TARGET>/ with the fix so
# fuzz.<TARGET> keeps it. libFuzzer's final statistics (executions, new
# units, peak RSS) close the output.
#
# Usage: hack/fuzz.sh [TARGET] [SECONDS]   (default cron, 600; needs clang)
#        hack/fuzz.sh SECONDS              (the cron parser, as before)
#        hack/fuzz.sh --list               (the targets)
# BUILD_DIR (default build-fuzz) picks another build folder; extra
# libFuzzer flags go in FUZZ_FLAGS (e.g. FUZZ_FLAGS=-jobs=2).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=$(sed -n 's/^snapstage_fuzz_target(\([a-z0-9_]*\).*/\1/p' tests/fuzz/CMakeLists.txt)
if [ "${1:-}" = --list ]; then
    echo "$targets"
    exit 0
fi
target=cron
if [ $# -gt 0 ] && ! [[ $1 =~ ^[0-9]+$ ]]; then
    target=$1
    shift
fi
seconds=${1:-600}
if ! grep -qx "$target" <<<"$targets"; then
    echo "hack/fuzz.sh: no fuzz target '$target'; targets:" $targets >&2
    exit 2
fi
build=${BUILD_DIR:-build-fuzz}
cmake -S . -B "$build" -DSNAPSTAGE_TESTS=ON -DSNAPSTAGE_FUZZ=ON >/dev/null
cmake --build "$build" --target "fuzz_$target" -- --no-print-directory >/dev/null
out=$build/tests/fuzz
mkdir -p "$out/corpus/$target"
# shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
exec "$out/fuzz_$target" -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
    -artifact_prefix="$out/" ${FUZZ_FLAGS:-} "$out/corpus/$target" "tests/fuzz/corpus/$target"
