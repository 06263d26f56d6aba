#!/usr/bin/env bash
# e2e.test_fleet_workers — issue 15 point 11 in CI: the fleet benchmark
# (tests/bench/bench_fleet.sh) small, with its checks on. Six one-member
# StatefulSets whose BackupSchedules fall due in the same minute, the
# controller with --workers=2 (three rounds of lock sessions), snapshots
# cut after 2 s; while the sessions run, a schedule edit, a Restore and a
# Backup of another database. Checked by the order of the events the
# watches saw, never by a timed threshold:
#   - every Backup Complete;
#   - the schedule's and the Restore's status were written while a lock
#     session of the fleet was still running (their controllers have
#     workers of their own);
#   - the first Backup of the fleet was Complete before the last lock
#     session started: its Uploading -> Complete step ran on the Backup
#     controller's main workers while the lane's were in sessions (with one
#     pool it waited behind every session queued before its readyToUse).
# The figures the benchmark prints come along for the log.
#
# Environment: SNAPSTAGE_CLUSTER_DIR (a running `hack/cluster.sh up
# --with-mariadb` cluster), SNAPSTAGE_BIN (the controller).
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
: "${SNAPSTAGE_CLUSTER_DIR:?set SNAPSTAGE_CLUSTER_DIR to a running hack/cluster.sh up --with-mariadb cluster}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_WORKERS=2 BENCH_CUT_MS=2000 BENCH_ASSERT=1 exec "$ROOT/tests/bench/bench_fleet.sh" 6
