#!/usr/bin/env bash
# Open-ended fuzzing of the cron parser and due-time search: a random seed,
# for as long as asked, inputs that reach new code kept in
# build-fuzz/tests/fuzz/corpus/cron (so the next run starts from them).
# CTest's fuzz.cron is the short, fixed-seed run; this one looks further.
# A crash stops the run and leaves crash-* in build-fuzz/tests/fuzz/; add
# the input to tests/fuzz/corpus/cron/ with the fix so fuzz.cron keeps it.
#
# Usage: hack/fuzz.sh [SECONDS]   (default 600; needs clang)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
cmake -S . -B build-fuzz -DSNAPSTAGE_TESTS=ON -DSNAPSTAGE_FUZZ=ON >/dev/null
cmake --build build-fuzz --target fuzz_cron -- --no-print-directory >/dev/null
out=build-fuzz/tests/fuzz
mkdir -p "$out/corpus/cron"
exec "$out/fuzz_cron" -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
    -artifact_prefix="$out/" "$out/corpus/cron" tests/fuzz/corpus/cron
