#!/usr/bin/env bash
# The snapstage demo, on a fresh Debian 12 machine (as root), in one command:
# installs what is needed, builds snapstage, brings up a local cluster with a
# MariaDB primary + 2 replicas StatefulSet (hack/cluster.sh up
# --with-mariadb), installs the CRDs and the controller's RBAC, runs the
# controller with its ServiceAccount's own token, writes some data, asks for
# a backup, restores it into new claims (a Restore) and then, after an
# accident, the whole StatefulSet in place to just before it: a
# point-in-time Restore (the backup plus the primary's binlog replayed up to
# the GTID before the DROP, a safety Backup of the current primary first;
# the StatefulSet annotated to allow it), proves the backup restorable (a restore verification: a scratch
# MariaDB on a copy, checked, then removed), creates a BackupSchedule that
# verifies its backups nightly, and shows each step with kubectl.
#
# Usage: hack/demo.sh [--teardown]   run the demo (--teardown: tear down at the end)
#        hack/demo.sh down           stop the demo cluster and the controller
#
# The cluster stays up afterwards (source the env file it prints to use
# kubectl on it) until `hack/demo.sh down`. Everything listens on loopback
# addresses only. Where a part of snapstage is not built yet, the demo says
# so and shows what the layers below it already do.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${SNAPSTAGE_DEMO_DIR:-/tmp/snapstage-demo}
NS=demo
teardown=0

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }
run() { # shows a command, then runs it
    printf '    $ %s\n' "$*"
    "$@" 2>&1 | sed 's/^/    /'
}

case "${1:-}" in
down)
    hack/cluster.sh --dir "$DIR" down
    exit 0
    ;;
--teardown) teardown=1 ;;
"") ;;
*)
    echo "usage: $0 [--teardown] | down" >&2
    exit 2
    ;;
esac

started=$SECONDS

say "Installing what is needed (Debian packages, kubectl and helm)"
hack/deps.sh
eval "$(hack/tools.sh --env)"
k() { "$KUBECTL" "$@"; }

say "Building snapstage"
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-demo -j "$(nproc)" -- --no-print-directory >/dev/null
run build-demo/controller/snapstage --version

say "Bringing up the local cluster: etcd, kube-apiserver, kube-controller-manager, simulated node and storage"
t0=$SECONDS
hack/cluster.sh --dir "$DIR" up --with-mariadb
note "cluster up in $((SECONDS - t0)) s"
# shellcheck disable=SC1091
. "$DIR/env"
run k get nodes
run k get storageclass,volumesnapshotclass

say "Installing the snapstage CRDs and the controller's RBAC"
# Applied, Established, and known to the API server's admission (the
# controller's snapshots carry blockOwnerDeletion to their Backup, refused
# for up to 30 s after a CRD is installed otherwise: hack/install-crds.sh).
run hack/install-crds.sh
# The base's Namespace, ServiceAccount and roles, without its Deployment: the
# simulated node runs MariaDB pods only, so the controller runs here as a
# process, authenticated as its ServiceAccount.
for overlay in deploy/in-place-restore deploy/point-in-time-restore; do
    k kustomize "$overlay" | /usr/bin/python3 -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(sys.stdin) if d and d.get("kind") != "Deployment"]
print(yaml.safe_dump_all(docs))' | k apply -f - | sed 's/^/    /'
done

say "Running the controller with its ServiceAccount's own token"
token=$(k -n snapstage-system create token snapstage-controller --duration=24h)
(
    umask 077
    cat >"$DIR/controller.kubeconfig" <<KC
apiVersion: v1
kind: Config
current-context: demo
clusters:
- name: demo
  cluster:
    server: $SNAPSTAGE_APISERVER_URL
    certificate-authority: $SNAPSTAGE_CA_FILE
users:
- name: snapstage-controller
  user:
    token: $token
contexts:
- name: demo
  context: {cluster: demo, user: snapstage-controller, namespace: snapstage-system}
KC
)
unset token
ports=$(/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
read -r metrics_port probe_port <<<"$ports"
if [ -f "$DIR/pids/snapstage.pid" ] && kill -0 "$(cat "$DIR/pids/snapstage.pid")" 2>/dev/null; then
    note "the controller is already running (pid $(cat "$DIR/pids/snapstage.pid"))"
else
    setsid "$ROOT/build-demo/controller/snapstage" --kubeconfig "$DIR/controller.kubeconfig" \
        --leader-elect --leader-election-namespace snapstage-system --enable-in-place-restore \
        --enable-verification --enable-point-in-time-restore \
        --metrics-bind-address "127.0.0.1:$metrics_port" \
        --health-probe-bind-address "127.0.0.1:$probe_port" \
        </dev/null >"$DIR/logs/snapstage.log" 2>&1 &
    echo $! >"$DIR/pids/snapstage.pid"
    for _ in $(seq 1 50); do
        curl -fsS "http://127.0.0.1:$probe_port/readyz" >/dev/null 2>&1 && break
        sleep 0.2
    done
    run curl -sS -w '\n' "http://127.0.0.1:$probe_port/readyz"
    note "logs: $DIR/logs/snapstage.log; metrics: http://127.0.0.1:$metrics_port/metrics"
fi

say "A MariaDB primary and two replicas (StatefulSet mariadb in namespace $NS)"
k create namespace "$NS" --dry-run=client -o yaml | k apply -f - >/dev/null
t0=$SECONDS
run k -n "$NS" apply -f hack/sim/mariadb.yaml
k -n "$NS" rollout status statefulset/mariadb --timeout=300s | sed 's/^/    /'
note "3 pods Ready in $((SECONDS - t0)) s"
run k -n "$NS" get pods,pvc -o wide

root_pw=$(k -n "$NS" get secret mariadb -o jsonpath='{.data.root-password}' | base64 -d)
sql() { # pod statement
    local ip
    ip=$(k -n "$NS" get pod "$1" -o jsonpath='{.status.podIP}')
    MYSQL_PWD=$root_pw mariadb -h "$ip" -u root --batch --skip-column-names -e "$2"
}

say "Writing some data on the primary (mariadb-0) and reading it on a replica"
sql mariadb-0 "CREATE DATABASE IF NOT EXISTS shop;
CREATE TABLE IF NOT EXISTS shop.orders (id INT PRIMARY KEY, item VARCHAR(40));
REPLACE INTO shop.orders VALUES (1, 'espresso machine'), (2, 'coffee beans');
GRANT BINLOG MONITOR ON *.* TO 'repl'@'%';"
note "(the replication account may read the binlog list: a point-in-time restore resolves its target with it)"
run sql mariadb-0 "SELECT * FROM shop.orders"
for _ in $(seq 1 50); do
    [ "$(sql mariadb-1 'SELECT COUNT(*) FROM shop.orders' 2>/dev/null || true)" = 2 ] && break
    sleep 0.2
done
run sql mariadb-1 "SELECT * FROM shop.orders"

say "Asking for one backup now: a Backup of StatefulSet mariadb"
# The account snapstage locks with (root here; in production one with RELOAD,
# BINLOG MONITOR and REPLICA MONITOR), in the Secret the Backup names.
k -n "$NS" create secret generic mariadb-backup --from-literal=username=root \
    --from-literal=password="$root_pw" --dry-run=client -o yaml | k apply -f - >/dev/null
cat >"$DIR/backup.yaml" <<'YAML'
apiVersion: snapstage.io/v1alpha1
kind: Backup
metadata:
  name: demo-now
spec:
  target:
    statefulSetName: mariadb
    role: PreferReplica
    connection:
      credentialsSecretRef:
        name: mariadb-backup
  lock:
    stage: BLOCK_COMMIT
    timeoutSeconds: 30
YAML
run k -n "$NS" apply -f "$DIR/backup.yaml"
k -n "$NS" wait backup/demo-now --for=condition=Complete --timeout=120s >/dev/null 2>&1 ||
    note "the Backup did not complete: see $DIR/logs/snapstage.log"
run k -n "$NS" get backups -o wide
note "what the controller recorded: the replica it locked, how long, and the position"
run k -n "$NS" get backup demo-now -o \
    jsonpath='{"source: "}{.status.sourcePod}{" ("}{.status.sourceRole}{")\nlock: "}{.status.lock.stage}{" held "}{.status.lock.heldMilliseconds}{" ms, connection "}{.status.lock.connectionId}{"\nposition: gtid_slave_pos="}{.status.position.gtidSlavePos}{" primary binlog "}{.status.position.primaryBinlogFile}{":"}{.status.position.primaryBinlogPosition}{"\n"}'
run k -n "$NS" get volumesnapshots -L snapstage.io/backup,snapstage.io/pod,snapstage.io/claim
run k -n "$NS" get events --field-selector involvedObject.name=demo-now \
    -o custom-columns=REASON:.reason,MESSAGE:.message
say "Proving the backup restorable: a restore verification"
note "a scratch MariaDB (the StatefulSet's pod template, outside it) on a copy of the snapshots:"
note "it must start, pass CHECK TABLE on every table, sit at the recorded GTID position"
run k -n "$NS" annotate backup demo-now snapstage.io/verify-now=demo --overwrite
for _ in $(seq 1 300); do
    [ "$(k -n "$NS" get backup demo-now -o jsonpath='{.status.verification.phase}' 2>/dev/null)" = Done ] && break
    sleep 0.5
done
run k -n "$NS" get backup demo-now -o \
    jsonpath='{"Verified: "}{.status.conditions[?(@.type=="Verified")].status}{" ("}{.status.conditions[?(@.type=="Verified")].reason}{"): "}{.status.verification.message}{"\nrestore "}{.status.verification.restoreMilliseconds}{" ms, start "}{.status.verification.startMilliseconds}{" ms, checks "}{.status.verification.checkMilliseconds}{" ms, clean-up "}{.status.verification.cleanupMilliseconds}{" ms\n"}'
run k -n "$NS" get backup demo-now -o \
    jsonpath='{range .status.verification.checks[*]}{.type}{" "}{.name}{": "}{.result}{" in "}{.durationMilliseconds}{" ms: "}{.message}{"\n"}{end}'
note "nothing of it is left (scratch Pod and claims):"
run k -n "$NS" get pods,pvc -l snapstage.io/scratch=verify

note "written after the backup (must not appear in the restore):"
sql mariadb-0 "REPLACE INTO shop.orders VALUES (3, 'written after the backup')"
run sql mariadb-0 "SELECT * FROM shop.orders"

say "Restoring the backup into new claims (a Restore, mode NewClaims) and starting a MariaDB on them"
cat >"$DIR/restore.yaml" <<'YAML'
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata:
  name: inspect
spec:
  source:
    backupName: demo-now
  target:
    mode: NewClaims
    newClaims:
      claims:
        - {volume: data, name: restored-data}
        - {volume: binlog, name: restored-binlog}
YAML
run k -n "$NS" apply -f "$DIR/restore.yaml"
k -n "$NS" wait restore/inspect --for=condition=Complete --timeout=120s >/dev/null 2>&1 ||
    note "the Restore did not complete: see $DIR/logs/snapstage.log"
run k -n "$NS" get restores -o wide
run k -n "$NS" get pvc/restored-data pvc/restored-binlog -L snapstage.io/restore
sed -e s/@POD@/restored/ -e s/@DATA_CLAIM@/restored-data/ \
    -e s/@BINLOG_CLAIM@/restored-binlog/ hack/sim/inspect-pod.yaml >"$DIR/restored-pod.yaml"
run k -n "$NS" apply -f "$DIR/restored-pod.yaml"
k -n "$NS" wait pod/restored --for=condition=Ready --timeout=180s >/dev/null
note "the copy holds the rows as of the backup (no row 3):"
run sql restored "SELECT * FROM shop.orders"

say "An accident, and rolling the whole StatefulSet back in place to just before it (a point-in-time Restore, mode InPlace)"
drop_gtid=$(sql mariadb-0 "DROP TABLE shop.orders; SELECT @@last_gtid")
note "shop.orders was dropped on the primary (and replicated); the DROP's GTID: $drop_gtid"
run sql mariadb-1 "SHOW TABLES FROM shop"
cat >"$DIR/rollback.yaml" <<YAML
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata:
  name: rollback
spec:
  source:
    backupName: demo-now
  target:
    mode: InPlace
    inPlace:
      statefulSetName: mariadb
      acknowledgeDataLoss: true
      replicationCredentialsSecretRef:
        name: mariadb
        usernameKey: replication-user
        passwordKey: replication-password
      connection:
        credentialsSecretRef:
          name: mariadb-backup
  replay:
    gtid: "$drop_gtid"
    inclusive: false
    replicationCredentialsSecretRef:
      name: mariadb
      usernameKey: replication-user
      passwordKey: replication-password
    connection:
      credentialsSecretRef:
        name: mariadb-backup
YAML
note "the backup demo-now, then the primary's binlog replayed up to just before $drop_gtid (inclusive: false);"
note "a safety Backup of the current primary is taken before the StatefulSet is touched"
note "opting in: only who may edit the StatefulSet can allow a restore to overwrite its volumes"
run k -n "$NS" annotate statefulset mariadb snapstage.io/in-place-restore=allowed --overwrite
run k -n "$NS" apply -f "$DIR/rollback.yaml"
t0=$SECONDS
k -n "$NS" wait restore/rollback --for=condition=Complete --timeout=600s >/dev/null 2>&1 ||
    note "the Restore did not complete: see $DIR/logs/snapstage.log"
note "rolled back in $((SECONDS - t0)) s"
k -n "$NS" rollout status statefulset/mariadb --timeout=120s >/dev/null 2>&1 || true
run k -n "$NS" get events --field-selector involvedObject.name=rollback \
    -o custom-columns=REASON:.reason,MESSAGE:.message
run k -n "$NS" get restore rollback -o \
    jsonpath='{"base: "}{.status.sourceBackup}{" at "}{.status.replay.basePosition}{"\nreplayed from "}{.status.replay.sourcePod}{" to "}{.status.replay.targetPosition}{"\nsafety Backup: "}{.status.replay.safetyBackup}{"\n"}'
run k -n "$NS" get backups -l snapstage.io/safety-backup-for=rollback -o wide
note "the primary holds every row up to the accident again, row 3 (written after the backup) too;"
note "it takes a write, and the replicas follow:"
run sql mariadb-0 "SELECT * FROM shop.orders"
sql mariadb-0 "REPLACE INTO shop.orders VALUES (4, 'written after the rollback')"
for _ in $(seq 1 50); do
    [ "$(sql mariadb-2 'SELECT COUNT(*) FROM shop.orders' 2>/dev/null || true)" = 4 ] && break
    sleep 0.2
done
run sql mariadb-2 "SELECT * FROM shop.orders"

say "A schedule with retention: one Backup a night at a time spread by H, 7 kept, each verified"
cat >"$DIR/schedule.yaml" <<'YAML'
apiVersion: snapstage.io/v1alpha1
kind: BackupSchedule
metadata:
  name: nightly
spec:
  schedule: "H 3 * * *"
  timeZone: Europe/Berlin
  target:
    statefulSetName: mariadb
    role: PreferReplica
    connection:
      credentialsSecretRef:
        name: mariadb-backup
  retention:
    keepLast: 7
    requireVerified: true
  verification:
    schedule: "H 5 * * *"
    checks:
      - name: orders
        sql: SELECT COUNT(*) FROM shop.orders
        expect:
          atLeast: 1
YAML
run k -n "$NS" apply -f "$DIR/schedule.yaml"
k -n "$NS" wait backupschedule/nightly --for=condition=Ready --timeout=30s >/dev/null 2>&1 || true
run k -n "$NS" get backupschedules -o wide

say "Done in $((SECONDS - started)) s"
if [ $teardown = 1 ]; then
    hack/cluster.sh --dir "$DIR" down
else
    note "The cluster is still running:  source $DIR/env && kubectl get pods -A"
    note "Stop it with:                   hack/demo.sh down"
fi
