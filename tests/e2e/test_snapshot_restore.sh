#!/usr/bin/env bash
# The mini-cluster's whole storage path with real MariaDB, as snapstage will
# use it: a VolumeSnapshot of a *replica's* claim, taken while the primary
# keeps writing, then a new claim restored from it and a mariadbd started on
# that claim.
#   - hack/sim/mariadb.yaml (primary + 2 GTID replicas) becomes Ready;
#   - rows written on the primary reach replica mariadb-1;
#   - VolumeSnapshots of data-mariadb-1 and binlog-mariadb-1 get a
#     VolumeSnapshotContent, a status.creationTime, and later readyToUse with
#     a restoreSize;
#   - a row written on the primary after creationTime (and replicated to
#     mariadb-1) is NOT in the snapshot;
#   - PVCs with the snapshots as dataSource bind to new volumes; a Pod on
#     them (a standalone server: no replication annotation) becomes Ready and
#     holds exactly the rows as of the cut.
# Both volumes, because a server with its binary log on a volume of its own
# cannot start from the data volume alone when the cut caught a transaction
# between InnoDB's prepare and commit (MariaDB's two-phase commit with the
# binlog): crash recovery needs the binlog to decide it, and without one
# mariadbd aborts ("Found 1 prepared transactions! ... --tc-heuristic-
# recover"). That happened in CI. snapstage snapshots every claim of the pod
# under one lock for the same reason.
# Prints each check with the time since the start; exits non-zero on the
# first failure, after showing what it saw.
#
# Environment (set by CTest): SNAPSTAGE_CLUSTER_DIR, a running
# `hack/cluster.sh up --with-mariadb` cluster.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_snapshot_restore snaprestore

dump_on_fail() {
    tail -n 20 "$SNAPSTAGE_CLUSTER_DIR/logs/sim-node.log" || true
}

vs_field() { kn get volumesnapshot "$1" -o jsonpath="$2"; }
has_field() { [ -n "$(vs_field "$1" "$2")" ]; }
claim_bound() { [ "$(kn get pvc "$1" -o jsonpath='{.status.phase}')" = Bound ]; }
is_true() { [ "$(vs_field "$1" "$2")" = true ]; }

"$KUBECTL" create namespace "$ns" >/dev/null
kn apply -f "$ROOT/hack/sim/mariadb.yaml" >/dev/null
wait_for 300 "the primary and both replicas are Ready" \
    kn rollout status statefulset/mariadb --timeout=5s

sql mariadb-0 "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY);
INSERT INTO shop.orders VALUES (1), (2);" || fail "writing on the primary"
wait_for 30 "rows 1,2 replicated to mariadb-1" rows_are mariadb-1 1,2

cat >"$work/vs.yaml" <<'YAML'
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: replica-data
  annotations:
    sim.snapstage.io/ready-delay-ms: "2000"
spec:
  source:
    persistentVolumeClaimName: data-mariadb-1
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: replica-binlog
  annotations:
    sim.snapstage.io/ready-delay-ms: "2000"
spec:
  source:
    persistentVolumeClaimName: binlog-mariadb-1
YAML
kn apply -f "$work/vs.yaml" >/dev/null
wait_for 60 "the snapshot is bound to a VolumeSnapshotContent" \
    has_field replica-data '{.status.boundVolumeSnapshotContentName}'
content=$(vs_field replica-data '{.status.boundVolumeSnapshotContentName}')
"$KUBECTL" get volumesnapshotcontent "$content" >/dev/null || fail "content $content does not exist"
ok "VolumeSnapshotContent $content exists"
wait_for 60 "the storage cut it: status.creationTime is set" \
    has_field replica-data '{.status.creationTime}'
ready_at_cut=$(vs_field replica-data '{.status.readyToUse}')
[ "$ready_at_cut" != true ] || fail "readyToUse was already true when creationTime appeared"
ok "creationTime came before readyToUse (readyToUse='$ready_at_cut' at the cut)"
wait_for 60 "the binlog volume was cut too" has_field replica-binlog '{.status.creationTime}'

sql mariadb-0 "INSERT INTO shop.orders VALUES (3)" || fail "writing after the cut"
wait_for 30 "row 3, written after the cut, replicated to mariadb-1" rows_are mariadb-1 1,2,3

wait_for 60 "the snapshot becomes readyToUse" is_true replica-data '{.status.readyToUse}'
wait_for 60 "the binlog snapshot becomes readyToUse" is_true replica-binlog '{.status.readyToUse}'
binlog_size=$(vs_field replica-binlog '{.status.restoreSize}')
size=$(vs_field replica-data '{.status.restoreSize}')
[ -n "$size" ] || fail "no restoreSize"
ok "restoreSize is $size"

cat >"$work/restore.yaml" <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: restored-data
spec:
  storageClassName: snapstage-sim
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: $size
  dataSource:
    apiGroup: snapshot.storage.k8s.io
    kind: VolumeSnapshot
    name: replica-data
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: restored-binlog
spec:
  storageClassName: snapstage-sim
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: $binlog_size
  dataSource:
    apiGroup: snapshot.storage.k8s.io
    kind: VolumeSnapshot
    name: replica-binlog
YAML
{ echo ---; inspect_pod_yaml restored restored-data restored-binlog; } >>"$work/restore.yaml"
kn apply -f "$work/restore.yaml" >/dev/null
wait_for 120 "the restored claim is Bound" claim_bound restored-data
wait_for 120 "the restored binlog claim is Bound" claim_bound restored-binlog
wait_for 180 "a mariadbd on the restored claim is Ready" \
    kn wait pod/restored --for=condition=Ready --timeout=5s
rows=$(rows_on restored) || fail "querying the restored server"
[ "$rows" = 1,2 ] || fail "the restored server holds rows '$rows', want '1,2' (the data as of the cut)"
ok "the restored server holds exactly rows 1,2: the data as of the cut"
# It stays that way: a standalone server restored from a replica does not
# start replicating on its own.
sleep 3
rows=$(rows_on restored) || fail "querying the restored server again"
[ "$rows" = 1,2 ] || fail "the restored server changed to rows '$rows' (did it replicate?)"
ok "three seconds later it still holds rows 1,2"
