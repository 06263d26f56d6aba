#!/usr/bin/env bash
# Runs the benchmarks against a private local cluster and prints their
# figures. Benchmarks are not tests: they measure, they do not judge.
#
# Usage: hack/bench.sh [N]   (N ConfigMaps for the informer memory benchmark,
#                             default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
hack/deps.sh
hack/build-k8s.sh >/dev/null
cmake -S . -B build-bench -DSNAPSTAGE_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-bench -j "$(nproc)" --target bench_informer_rss -- --no-print-directory >/dev/null
dir=$(pwd)/build-bench/bench-cluster
trap 'hack/cluster.sh --dir "$dir" down >/dev/null 2>&1 || true' EXIT
hack/cluster.sh --dir "$dir" up
# shellcheck disable=SC1091
. "$dir/env"
echo "==> informer cache memory"
build-bench/tests/bench/bench_informer_rss "${1:-10000}"
