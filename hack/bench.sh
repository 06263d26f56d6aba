#!/usr/bin/env bash
# Runs the benchmarks against a private local cluster and prints their
# figures. Benchmarks are not tests: they measure, they do not judge.
#
# Usage: hack/bench.sh [N]   (N ConfigMaps for the informer memory benchmark,
#                             default 10000)
#
# Benchmarks: the informer cache's memory (bench_informer_rss); the
# controller's RSS and CPU time with 1,000 idle BackupSchedules and 100 due
# in the same minute (tests/bench/bench_schedules.sh, about 4 minutes); 40
# small databases (one mariadbd each) whose schedules fall due in the same
# minute, with --workers 2, 8 and 32: time until all are Complete, lock
# hold times, what else waits meanwhile (tests/bench/bench_fleet.sh, about
# 5 minutes); restore verification of the demo's database and of about
# 1 GiB of tables, two runs each, split by step (restore, start, checks,
# clean-up) (tests/bench/bench_verify.sh, about 2 minutes, about 14 GiB of
# free disk under build-bench/ while it runs); point-in-time restore of the
# demo's database and of about 100 MB of OLTP-ish binlog, to a GTID and to
# a time, split by step, with the replay's transactions, events and MB per
# second (tests/bench/bench_pitr.sh, about 5 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
hack/deps.sh
hack/build-k8s.sh >/dev/null
cmake -S . -B build-bench -DSNAPSTAGE_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-bench -j "$(nproc)" --target bench_informer_rss snapstage -- --no-print-directory >/dev/null
dir=$(pwd)/build-bench/bench-cluster
trap 'hack/cluster.sh --dir "$dir" down >/dev/null 2>&1 || true' EXIT
hack/cluster.sh --dir "$dir" up --with-mariadb
# shellcheck disable=SC1091
. "$dir/env"
echo "==> informer cache memory"
build-bench/tests/bench/bench_informer_rss "${1:-10000}"
echo "==> BackupSchedule controller: 1,000 schedules idle, 100 due in one minute"
SNAPSTAGE_BIN=$(pwd)/build-bench/controller/snapstage tests/bench/bench_schedules.sh
echo "==> 40 databases due in one minute, --workers 2, 8, 32"
SNAPSTAGE_CLUSTER_DIR=$dir SNAPSTAGE_BIN=$(pwd)/build-bench/controller/snapstage \
    tests/bench/bench_fleet.sh 40
echo "==> restore verification: demo-sized and 1 GiB"
SNAPSTAGE_CLUSTER_DIR=$dir SNAPSTAGE_BIN=$(pwd)/build-bench/controller/snapstage \
    tests/bench/bench_verify.sh
echo "==> point-in-time restore: demo-sized and 100 MB of binlog"
SNAPSTAGE_CLUSTER_DIR=$dir SNAPSTAGE_BIN=$(pwd)/build-bench/controller/snapstage \
    tests/bench/bench_pitr.sh
