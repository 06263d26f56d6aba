#!/usr/bin/env bash
# hack/sim/node.py, the simulated node agent (kubelet + scheduler roles), on
# the cluster of `hack/cluster.sh up --with-mariadb`, with hack/sim/
# mariadb.yaml (a primary and two GTID replicas) in a fresh namespace:
#   - Node sim-node-1 is Ready with its labels, addresses and capacity;
#   - all 3 Pods become Ready (OrderedReady); each runs one mariadbd (pid in
#     containerID sim://PID, in the agent's process group) listening on its
#     own podIP 127.0.0.x:3306, distinct; hostIP 127.0.0.1; server-ids 1-3;
#     its pid is in STATE/holders/<pv> for both of its volumes (data, binlog);
#   - a row written on the primary (mariadb -h podIP) appears on each replica
#     within a few seconds (the delay is printed); replicas are read_only
#     with Slave_IO/SQL_Running Yes, Using_Gtid Slave_Pos, Master_Host the
#     primary's podIP; the primary is writable and replicates from nobody;
#   - each server resolves every member's DNS name mariadb-N.mariadb.NS.svc
#     (and mariadb-N.mariadb) to its podIP (cluster DNS for Pods: the
#     agent's hosts file on its /etc/hosts);
#   - scale to 1: mariadb-1 and -2 are deleted, their mariadbd processes,
#     listeners, holder files and address leases are gone;
#   - a row written while scaled down; scale back to 3: the new Pods are
#     Ready and replicate (both rows present, the claims kept the data) and
#     are back on the addresses they had (STATE/ips-by-name/NS_POD records
#     them: addresses are sticky per Pod name, like a StatefulSet Pod's DNS
#     name);
#   - kill -9 of a replica's mariadbd: restartCount goes up by one, a new
#     mariadbd runs (lastState exit code 137, same address, holders updated)
#     and the Pod is Ready again and still replicates;
#   - the binlog index names the servers' shared mount path, and a Pod on
#     volumes restored (by storage.py) from snapshots of the primary's two
#     claims is Ready with the primary's rows and GTID position, and writes
#     to its own binlog, not to the live primary's;
#   - a restore damaged by storage.py's corrupt-on-restore (flip of a
#     flushed MyISAM table's .MYD): an inspect Pod on it is Ready, CHECK
#     TABLE says "error Corrupt" for that table, "status OK" for the InnoDB
#     one; the primary's table is OK and the snapshot's file unchanged, the
#     copy differs in at most 512 bytes; a bad item beside it is logged;
#   - a Pod with terminationMessagePolicy FallbackToLogsOnError whose
#     mariadbd cannot start (--no-such-option, exit code 2) has the end of
#     its error log (the unknown-option line, the log's last line, <= 80
#     lines and 2048 bytes, no password) in lastState.terminated.message;
#     a killed server of a Pod with the default policy has no message;
#   - deleting the primary's Pod: the re-created mariadb-0 is back on its
#     address, so a row written on it reaches both replicas (their
#     MASTER_HOST is that address);
#   - an address that is taken is not reused: scale to 2, hold mariadb-2's
#     old address:3306 with a Python listener, scale to 3: mariadb-2 gets
#     another address (recorded, the log says why) and replicates;
#   - deleting the namespace stops every mariadbd of it: processes,
#     listeners, holders and leases gone.
# Prints each check with the time since the start; exits non-zero on the
# first failure (and then shows the Pods and the agent's last log lines).
#
# Environment (set by CTest): SNAPSTAGE_CLUSTER_DIR, a running
# `hack/cluster.sh up --with-mariadb` cluster. KUBECTL overrides the kubectl
# from hack/tools.sh.
set -euo pipefail

: "${SNAPSTAGE_CLUSTER_DIR:?set SNAPSTAGE_CLUSTER_DIR to a running hack/cluster.sh up --with-mariadb cluster}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KUBECTL=${KUBECTL:-$("$ROOT/hack/tools.sh")/kubectl}
STATE=$SNAPSTAGE_CLUSTER_DIR/sim
NODE=sim-node-1
t0_ms=$(($(date +%s%N) / 1000000))

work=$(mktemp -d)
export KUBECONFIG=$SNAPSTAGE_CLUSTER_DIR/kubeconfig
export KUBECACHEDIR=$work/kube-cache
ns=simnode-$$-$RANDOM
checks=0
ns_created=0

k() { "$KUBECTL" "$@"; }
kn() { "$KUBECTL" -n "$ns" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { # milliseconds -> "1.234"
    printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
}
stamp() { printf '[%6ss]' "$(secs $(($(now_ms) - t0_ms)))"; }
fail() {
    printf '%s FAIL: %s\n' "$(stamp)" "$*" >&2
    exit 1
}
ok() {
    checks=$((checks + 1))
    printf '%s ok %d - %s\n' "$(stamp)" "$checks" "$*"
}
expect_eq() { # what want got
    [ "$3" = "$2" ] || fail "$1: want '$2', got '$3'"
    ok "$1 = '$2'"
}
# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s; sets WAITED
# to the milliseconds it took.
WAITED=0
wait_for() {
    local limit=$1 what=$2 start end
    shift 2
    start=$(now_ms)
    end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || fail "timed out after ${limit}s: $what"
        sleep 0.2
    done
    WAITED=$(($(now_ms) - start))
    ok "$what (after $(secs $WAITED)s)"
}
jp() { kn get "$1" "$2" -o jsonpath="$3"; }
# Alive and not a zombie.
pid_alive() {
    local st
    st=$({ awk '{print $3}' "/proc/$1/stat"; } 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}
listening() { # ip -> the "users:" column of ss for ip:3306, empty if nobody
    ss -ltnpH "src $1:3306" 2>/dev/null
}
# SQL as root over TCP to a pod's address; the password is in MYSQL_PWD.
sql() { # ip query
    mariadb --no-defaults -h "$1" -P 3306 -uroot --connect-timeout=3 -N -B -e "$2"
}
slave_field() { # ip field
    mariadb --no-defaults -h "$1" -P 3306 -uroot --connect-timeout=3 -e 'SHOW SLAVE STATUS\G' |
        awk -v f="$2" -F': ' '$1 ~ "^ *" f "$" { print $2 }'
}
pod_ip() { jp pod "$1" '{.status.podIP}'; }
pod_pid() { local id; id=$(jp pod "$1" '{.status.containerStatuses[0].containerID}'); echo "${id#sim://}"; }
pod_ready() { [ "$(jp pod "$1" '{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
ready_count() {
    kn get pods -l app.kubernetes.io/name=mariadb \
        -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$'
}
all_ready() { [ "$(ready_count)" = "$1" ]; }
pod_gone() { ! kn get pod "$1" >/dev/null 2>&1; }
rows_on() { # ip -> number of rows in the test table
    sql "$1" "SELECT COUNT(*) FROM simnode.t" 2>/dev/null
}
# wait_rows IP N [SECONDS]: polls every 50 ms for up to SECONDS (10); sets
# WAITED (ms).
wait_rows() {
    local start end limit=${3:-10}
    start=$(now_ms)
    end=$((start + limit * 1000))
    until [ "$(rows_on "$1")" = "$2" ]; do
        [ "$(now_ms)" -lt $end ] || fail "$2 rows did not reach $1 within $limit s (has '$(rows_on "$1")')"
        sleep 0.05
    done
    WAITED=$(($(now_ms) - start))
}
holder_of() { cat "$STATE/holders/$1" 2>/dev/null || true; }
lease_of() { # uid -> address file naming it, if any
    grep -lx "$1" "$STATE"/ips/* 2>/dev/null | xargs -r -n1 basename
}
name_record() { # pod -> the address STATE/ips-by-name remembers for it
    cat "$STATE/ips-by-name/${ns}_$1" 2>/dev/null || true
}
holder_pid=

cleanup() {
    local rc=$?
    set +e
    if [ $rc != 0 ]; then
        echo "--- objects in $ns" >&2
        kn get statefulsets,pods,pvc -o wide >&2
        echo "--- last lines of sim-node.log" >&2
        tail -n 40 "$SNAPSTAGE_CLUSTER_DIR/logs/sim-node.log" >&2
    fi
    [ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null
    [ $ns_created = 1 ] && k delete namespace "$ns" --wait=false >/dev/null 2>&1
    rm -rf "$work"
    echo "test_sim_node: $checks checks, $(secs $(($(now_ms) - t0_ms)))s, exit $rc"
    exit $rc
}
trap cleanup EXIT

command -v mariadb >/dev/null || fail "the mariadb client is not installed"
command -v ss >/dev/null || fail "ss (iproute2) is not installed"

# --- the Node --------------------------------------------------------------------

expect_eq "Node $NODE Ready/reason" True/KubeletReady \
    "$(k get node $NODE -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}')"
expect_eq "Node labels hostname/os" "$NODE/linux" \
    "$(k get node $NODE -o jsonpath='{.metadata.labels.kubernetes\.io/hostname}/{.metadata.labels.kubernetes\.io/os}')"
expect_eq "Node addresses" "InternalIP=127.0.0.1 Hostname=$NODE " \
    "$(k get node $NODE -o jsonpath='{range .status.addresses[*]}{.type}={.address} {end}')"
expect_eq "Node capacity cpu/memory/pods" 2/24Gi/110 \
    "$(k get node $NODE -o jsonpath='{.status.capacity.cpu}/{.status.capacity.memory}/{.status.capacity.pods}')"
expect_eq "Node allocatable cpu/memory/pods" 2/24Gi/110 \
    "$(k get node $NODE -o jsonpath='{.status.allocatable.cpu}/{.status.allocatable.memory}/{.status.allocatable.pods}')"
agent=$(cat "$SNAPSTAGE_CLUSTER_DIR/pids/sim-node.pid")
pid_alive "$agent" || fail "node agent (pid $agent) is not running"

# --- bring-up --------------------------------------------------------------------

k create namespace "$ns" >/dev/null
ns_created=1
echo "# namespace $ns, state $STATE"
kn apply -f "$ROOT/hack/sim/mariadb.yaml" >/dev/null
wait_for 180 "3 pods Ready" all_ready 3
bringup_ms=$WAITED
MYSQL_PWD=$(kn get secret mariadb -o jsonpath='{.data.root-password}' | base64 -d)
export MYSQL_PWD

declare -A IP PID UID_ PVS
for i in 0 1 2; do
    p=mariadb-$i
    IP[$i]=$(pod_ip $p)
    PID[$i]=$(pod_pid $p)
    UID_[$i]=$(jp pod $p '{.metadata.uid}')
    PVS[$i]="$(jp pvc data-$p '{.spec.volumeName}') $(jp pvc binlog-$p '{.spec.volumeName}')"
    expect_eq "$p node/hostIP/phase" "$NODE/127.0.0.1/Running" \
        "$(jp pod $p '{.spec.nodeName}/{.status.hostIP}/{.status.phase}')"
    [[ ${IP[$i]} =~ ^127\.0\.0\.([2-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-4])$ ]] ||
        fail "$p podIP '${IP[$i]}' is not a 127.0.0.x address"
    expect_eq "$p podIPs[0] = podIP" "${IP[$i]}" "$(jp pod $p '{.status.podIPs[0].ip}')"
    [[ ${PID[$i]} =~ ^[0-9]+$ ]] || fail "$p containerID is not sim://PID"
    pid_alive "${PID[$i]}" || fail "$p: pid ${PID[$i]} is not running"
    expect_eq "$p process is mariadbd" mariadbd "$(cat "/proc/${PID[$i]}/comm")"
    expect_eq "$p mariadbd in the agent's process group" "$agent" "$(ps -o pgid= -p "${PID[$i]}" | tr -d ' ')"
    listening "${IP[$i]}" | grep -q "pid=${PID[$i]}," || fail "$p: pid ${PID[$i]} does not listen on ${IP[$i]}:3306"
    ok "$p: mariadbd pid ${PID[$i]} listens on ${IP[$i]}:3306"
    for pv in ${PVS[$i]}; do
        expect_eq "$p holder file of $pv" "${PID[$i]}" "$(holder_of "$pv")"
    done
    expect_eq "$p address lease" "${IP[$i]}" "$(lease_of "${UID_[$i]}")"
    expect_eq "$p address recorded in ips-by-name/${ns}_$p" "${IP[$i]}" "$(name_record $p)"
    # stamped machine-wide, so a cluster running beside this one leases
    # it last, not first, while mariadb-N is away (re-created)
    expect_eq "$p address stamped in /tmp/snapstage-sim-ips/last" "$STATE" \
        "$(cat "/tmp/snapstage-sim-ips/last/${IP[$i]}" 2>/dev/null)"
    expect_eq "$p server_id" $((i + 1)) "$(sql "${IP[$i]}" 'SELECT @@server_id')"
    expect_eq "$p container ready/started/state" "true/true/running" \
        "$(jp pod $p '{.status.containerStatuses[0].ready}/{.status.containerStatuses[0].started}/{.status.containerStatuses[0].state.running.startedAt}' |
            sed 's#/[0-9TZ:-]*$#/running#')"
done
[ "$(printf '%s\n' "${IP[@]}" | sort -u | wc -l)" = 3 ] || fail "pod addresses are not distinct: ${IP[*]}"
ok "3 distinct addresses: ${IP[*]}"
# Cluster DNS for Pods: each server's resolver (in its mount namespace, with
# the agent's hosts file on /etc/hosts) gives every member's DNS name.
for i in 0 1 2; do
    for j in 0 1 2; do
        for name in "mariadb-$j.mariadb.$ns.svc" "mariadb-$j.mariadb"; do
            got=$(nsenter -t "${PID[$i]}" -m getent hosts "$name" | awk '{ print $1 }')
            expect_eq "mariadb-$i resolves $name" "${IP[$j]}" "$got"
        done
    done
done
ok "each server resolves mariadb-N.mariadb[.$ns.svc] to mariadb-N's address"
echo "# bring-up of 3 pods (apply -> all Ready): $(secs $bringup_ms)s"

# --- replication -------------------------------------------------------------------

expect_eq "primary read_only" 0 "$(sql "${IP[0]}" 'SELECT @@read_only')"
expect_eq "primary has no replication source" "" "$(slave_field "${IP[0]}" Master_Host)"
sql "${IP[0]}" "CREATE DATABASE simnode; CREATE TABLE simnode.t (id INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB;
    INSERT INTO simnode.t VALUES (1, 'written on the primary')"
ok "row 1 written on the primary ${IP[0]}"
for i in 1 2; do
    wait_rows "${IP[$i]}" 1
    ok "row 1 on mariadb-$i after $(secs $WAITED)s"
    expect_eq "mariadb-$i row content" "written on the primary" "$(sql "${IP[$i]}" 'SELECT v FROM simnode.t WHERE id=1')"
    expect_eq "mariadb-$i read_only" 1 "$(sql "${IP[$i]}" 'SELECT @@read_only')"
    expect_eq "mariadb-$i Slave_IO_Running" Yes "$(slave_field "${IP[$i]}" Slave_IO_Running)"
    expect_eq "mariadb-$i Slave_SQL_Running" Yes "$(slave_field "${IP[$i]}" Slave_SQL_Running)"
    expect_eq "mariadb-$i Using_Gtid" Slave_Pos "$(slave_field "${IP[$i]}" Using_Gtid)"
    expect_eq "mariadb-$i Master_Host" "${IP[0]}" "$(slave_field "${IP[$i]}" Master_Host)"
done
expect_eq "gtid positions agree (primary binlog = replica slave_pos)" \
    "$(sql "${IP[0]}" 'SELECT @@gtid_binlog_pos')" "$(sql "${IP[2]}" 'SELECT @@gtid_slave_pos')"

# --- scale down to 1 ------------------------------------------------------------------

kn scale statefulset mariadb --replicas=1 >/dev/null
wait_for 60 "mariadb-2 deleted" pod_gone mariadb-2
wait_for 60 "mariadb-1 deleted" pod_gone mariadb-1
for i in 1 2; do
    ! pid_alive "${PID[$i]}" || fail "mariadb-$i: pid ${PID[$i]} still running after its pod was deleted"
    ok "mariadb-$i: mariadbd pid ${PID[$i]} gone"
    [ -z "$(listening "${IP[$i]}")" ] || fail "something still listens on ${IP[$i]}:3306: $(listening "${IP[$i]}")"
    ok "mariadb-$i: nothing listens on ${IP[$i]}:3306"
    for pv in ${PVS[$i]}; do
        [ ! -e "$STATE/holders/$pv" ] || fail "holder file of $pv still there"
    done
    ok "mariadb-$i: holder files removed"
    expect_eq "mariadb-$i: address lease released" "" "$(lease_of "${UID_[$i]}")"
done
pid_alive "${PID[0]}" || fail "the primary's mariadbd died during the scale-down"
expect_eq "mariadb-0 still Ready" True "$(jp pod mariadb-0 '{.status.conditions[?(@.type=="Ready")].status}')"
sql "${IP[0]}" "INSERT INTO simnode.t VALUES (2, 'written while scaled down')"
ok "row 2 written on the primary while scaled down"

# --- scale back up to 3 ------------------------------------------------------------------

kn scale statefulset mariadb --replicas=3 >/dev/null
wait_for 120 "3 pods Ready again" all_ready 3
echo "# scale 1 -> 3 (both replicas Ready): $(secs $WAITED)s"
for i in 1 2; do
    p=mariadb-$i
    new_uid=$(jp pod $p '{.metadata.uid}')
    [ "$new_uid" != "${UID_[$i]}" ] || fail "$p was not recreated"
    expect_eq "$p (new uid) is back on its address" "${IP[$i]}" "$(pod_ip $p)"
    PID[$i]=$(pod_pid $p)
    UID_[$i]=$new_uid
    expect_eq "$p address lease (new uid)" "${IP[$i]}" "$(lease_of "${UID_[$i]}")"
    listening "${IP[$i]}" | grep -q "pid=${PID[$i]}," || fail "$p: pid ${PID[$i]} does not listen on ${IP[$i]}:3306"
    ok "$p (new uid): mariadbd pid ${PID[$i]} listens on ${IP[$i]}:3306"
    wait_rows "${IP[$i]}" 2
    ok "$p has both rows after $(secs $WAITED)s (claims kept the data, replication caught up)"
    expect_eq "$p Slave_IO/SQL_Running" Yes/Yes \
        "$(slave_field "${IP[$i]}" Slave_IO_Running)/$(slave_field "${IP[$i]}" Slave_SQL_Running)"
    expect_eq "$p read_only" 1 "$(sql "${IP[$i]}" 'SELECT @@read_only')"
done

# --- crash of a replica's mariadbd -----------------------------------------------------------

victim=mariadb-2
old_pid=${PID[2]}
old_restarts=$(jp pod $victim '{.status.containerStatuses[0].restartCount}')
kill_ms=$(now_ms)
kill -9 "$old_pid"
ok "kill -9 $victim's mariadbd (pid $old_pid, restartCount $old_restarts)"
restarted() { [ "$(jp pod $victim '{.status.containerStatuses[0].restartCount}')" = $((old_restarts + 1)) ]; }
wait_for 60 "$victim restartCount $old_restarts -> $((old_restarts + 1))" restarted
wait_for 60 "$victim Ready again" pod_ready $victim
echo "# kill -9 -> Ready again: $(secs $(($(now_ms) - kill_ms)))s"
PID[2]=$(pod_pid $victim)
{ [ "${PID[2]}" != "$old_pid" ] && pid_alive "${PID[2]}"; } || fail "$victim: no new mariadbd (containerID sim://${PID[2]})"
ok "$victim runs a new mariadbd, pid ${PID[2]}"
expect_eq "$victim lastState exit code" 137 "$(jp pod $victim '{.status.containerStatuses[0].lastState.terminated.exitCode}')"
expect_eq "$victim lastState message (policy File: none)" "" "$(jp pod $victim '{.status.containerStatuses[0].lastState.terminated.message}')"
expect_eq "$victim address unchanged" "${IP[2]}" "$(pod_ip $victim)"
expect_eq "$victim holder files name the new pid" "${PID[2]} ${PID[2]}" \
    "$(for pv in ${PVS[2]}; do holder_of "$pv"; done | tr '\n' ' ' | sed 's/ $//')"
sql "${IP[0]}" "INSERT INTO simnode.t VALUES (3, 'written after the crash')"
wait_rows "${IP[2]}" 3
ok "row 3 on $victim after $(secs $WAITED)s (replication resumed)"
expect_eq "$victim read_only after the restart" 1 "$(sql "${IP[2]}" 'SELECT @@read_only')"

# --- data restored into other volumes finds its own logs -----------------------------------
# MariaDB writes absolute paths into mysql-bin.index and relay-log.info; the
# agent makes every server see its volumes at the same paths, so a Pod on
# volumes restored from the primary's snapshots uses its own binlogs, not the
# live primary's.

expect_eq "binlog index names the shared mount path, not the PV" "$STATE/mnt/mysql-binlog/mysql-bin.000001" \
    "$(head -n 1 "$STATE/volumes/${PVS[0]#* }/mysql-bin.index")"
for pair in data:data-mariadb-0 binlog:binlog-mariadb-0; do
    printf 'apiVersion: snapshot.storage.k8s.io/v1\nkind: VolumeSnapshot\nmetadata: {name: %s}\nspec: {source: {persistentVolumeClaimName: %s}}\n' \
        "${pair%%:*}" "${pair#*:}" | kn create -f - >/dev/null
done
snap_ready() { [ "$(jp volumesnapshot "$1" '{.status.readyToUse}')" = true ]; }
wait_for 60 "snapshot data of data-mariadb-0 readyToUse" snap_ready data
wait_for 60 "snapshot binlog of binlog-mariadb-0 readyToUse" snap_ready binlog
kn create -f - >/dev/null <<'EOF'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: restored-data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
  dataSource: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: data}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: restored-binlog}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 256Mi}}
  dataSource: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: binlog}
---
apiVersion: v1
kind: Pod
metadata: {name: restored}
spec:
  containers:
  - name: mariadb
    image: mariadb:10.11
    ports: [{name: mysql, containerPort: 3306}]
    env:
    - name: MARIADB_ROOT_PASSWORD
      valueFrom: {secretKeyRef: {name: mariadb, key: root-password}}
    volumeMounts:
    - {name: data, mountPath: /var/lib/mysql}
    - {name: binlog, mountPath: /var/lib/mysql-binlog}
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: restored-data}}
  - {name: binlog, persistentVolumeClaim: {claimName: restored-binlog}}
EOF
wait_for 120 "pod restored (volumes restored from mariadb-0's snapshots) Ready" pod_ready restored
rip=$(pod_ip restored)
rbin=$STATE/volumes/$(jp pvc restored-binlog '{.spec.volumeName}')
pbin=$STATE/volumes/${PVS[0]#* }
expect_eq "restored server has the primary's 3 rows" 3 "$(rows_on "$rip")"
expect_eq "restored server's gtid_binlog_pos = the primary's" \
    "$(sql "${IP[0]}" 'SELECT @@gtid_binlog_pos')" "$(sql "$rip" 'SELECT @@gtid_binlog_pos')"
plast=$(tail -n 1 "$pbin/mysql-bin.index")
plast=$pbin/${plast##*/}
psize=$(stat -c %s "$plast")
rlast=$(tail -n 1 "$rbin/mysql-bin.index")
rlast=$rbin/${rlast##*/}
rsize=$(stat -c %s "$rlast")
sql "$rip" "INSERT INTO simnode.t VALUES (100, 'written on the restored server')"
[ "$(stat -c %s "$rlast")" -gt "$rsize" ] || fail "the restored server's write did not reach its own binlog $rlast"
ok "a write on the restored server goes to its own binlog ($rlast)"
expect_eq "the primary's binlog $plast is untouched" "$psize" "$(stat -c %s "$plast")"
expect_eq "the primary does not have the restored server's row" 3 "$(rows_on "${IP[0]}")"
PID[3]=$(pod_pid restored)
IP[3]=$rip

# --- a damaged restore (storage.py corrupt-on-restore) and a server that cannot start ------
# A MyISAM table, flushed so its files are closed and whole on disk, is
# damaged in the restored copy only: CHECK TABLE (before anything else opens
# it: MyISAM's default auto-repair would mend it) says Corrupt there, while
# InnoDB's table is OK and the snapshot's file is as it was.

sql "${IP[0]}" "CREATE TABLE simnode.m (id INT PRIMARY KEY, v VARCHAR(200), KEY(v)) ENGINE=MyISAM;
    INSERT INTO simnode.m SELECT seq, CONCAT(REPEAT('m', 100), seq) FROM simnode.seq_1_to_2000; FLUSH TABLES simnode.m"
ok "MyISAM table simnode.m (2000 rows) on the primary, flushed"
kn create -f - >/dev/null <<'YAML' || fail "creating snapshots cdata, cbin"
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: cdata
  annotations: {sim.snapstage.io/corrupt-on-restore: "flip:simnode/m.MYD;flip:../../x"}
spec: {source: {persistentVolumeClaimName: data-mariadb-0}}
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata: {name: cbin}
spec: {source: {persistentVolumeClaimName: binlog-mariadb-0}}
YAML
wait_for 60 "snapshot cdata (corrupt-on-restore flip:simnode/m.MYD) readyToUse" snap_ready cdata
wait_for 60 "snapshot cbin readyToUse" snap_ready cbin
snapmyd=$STATE/snapshots/$(jp volumesnapshot cdata '{.status.boundVolumeSnapshotContentName}')/simnode/m.MYD
snapsum=$(sha256sum <"$snapmyd")
kn create -f - >/dev/null <<'YAML' || fail "creating claims cdata, cbin"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: cdata}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
  dataSource: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: cdata}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: cbin}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 256Mi}}
  dataSource: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: cbin}
YAML
sed -e 's/@POD@/damaged/' -e 's/@DATA_CLAIM@/cdata/' -e 's/@BINLOG_CLAIM@/cbin/' \
    "$ROOT/hack/sim/inspect-pod.yaml" | kn create -f - >/dev/null || fail "creating pod damaged"
wait_for 120 "pod damaged (on the damaged copy) Ready" pod_ready damaged
dip=$(pod_ip damaged)
check_m=$(sql "$dip" "CHECK TABLE simnode.m" | tr '\t' ' ')
echo "# CHECK TABLE simnode.m on the damaged copy: $(echo "$check_m" | tr '\n' '|')"
echo "$check_m" | grep -qx 'simnode.m check error Corrupt' || fail "CHECK TABLE simnode.m on the damaged copy: $check_m"
ok "CHECK TABLE simnode.m on the damaged copy says error Corrupt"
expect_eq "CHECK TABLE simnode.t (InnoDB) on the damaged copy" "simnode.t check status OK" \
    "$(sql "$dip" "CHECK TABLE simnode.t" | tr '\t' ' ')"
expect_eq "CHECK TABLE simnode.m on the primary" "simnode.m check status OK" \
    "$(sql "${IP[0]}" "CHECK TABLE simnode.m" | tr '\t' ' ')"
expect_eq "the snapshot's m.MYD is untouched" "$snapsum" "$(sha256sum <"$snapmyd")"
ddir=$STATE/volumes/$(jp pvc cdata '{.spec.volumeName}')
nbytes=$({ cmp -l "$snapmyd" "$ddir/simnode/m.MYD" || true; } | wc -l) # cmp exits 1: they differ
{ [ "$nbytes" -gt 0 ] && [ "$nbytes" -le 512 ]; } || fail "the copy's m.MYD differs in $nbytes bytes, want 1..512"
ok "the copy's m.MYD differs from the snapshot's in $nbytes bytes"
slog=$SNAPSTAGE_CLUSTER_DIR/logs/sim-storage.log
grep -q " restore-corrupt pvc/$ns/cdata snapshot=cdata .*applied=\[\"flip:simnode/m.MYD@" "$slog" ||
    fail "no restore-corrupt line for cdata in sim-storage.log"
grep -qF " bad-annotation pvc/$ns/cdata key=sim.snapstage.io/corrupt-on-restore item=\"flip:../../x\"" "$slog" ||
    fail "no bad-annotation line for cdata's flip:../../x"
ok "storage log: restore-corrupt and bad-annotation lines for cdata"
dpid=$(pod_pid damaged)
kn delete pod damaged --wait=true --timeout=60s >/dev/null || fail "deleting pod damaged"
dpid_gone() { ! pid_alive "$dpid"; }
wait_for 30 "pod damaged's mariadbd (pid $dpid) gone" dpid_gone

# FallbackToLogsOnError: a server that cannot start leaves its error log's
# last lines in lastState.terminated.message.
kn create -f - >/dev/null <<'YAML' || fail "creating pod broken"
apiVersion: v1
kind: Pod
metadata: {name: broken}
spec:
  containers:
  - name: mariadb
    image: mariadb:10.11
    args: [--skip-slave-start, --no-such-option]
    terminationMessagePolicy: FallbackToLogsOnError
    ports: [{name: mysql, containerPort: 3306}]
    env:
    - name: MARIADB_ROOT_PASSWORD
      valueFrom: {secretKeyRef: {name: mariadb, key: root-password}}
    volumeMounts:
    - {name: data, mountPath: /var/lib/mysql}
    - {name: binlog, mountPath: /var/lib/mysql-binlog}
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: cdata}}
  - {name: binlog, persistentVolumeClaim: {claimName: cbin}}
YAML
has_message() { [ -n "$(jp pod broken '{.status.containerStatuses[0].lastState.terminated.message}')" ]; }
wait_for 60 "pod broken (--no-such-option) has a lastState.terminated.message" has_message
bmsg=$(jp pod broken '{.status.containerStatuses[0].lastState.terminated.message}')
echo "# broken's message ends: $(printf '%s\n' "$bmsg" | tail -n 2 | tr '\n' '|')"
expect_eq "broken: lastState exit code" 2 "$(jp pod broken '{.status.containerStatuses[0].lastState.terminated.exitCode}')"
printf '%s\n' "$bmsg" | grep -qE "\[ERROR\] (/usr/sbin/)?mariadbd: unknown option '--no-such-option'" ||
    fail "broken: the message does not name the unknown option: $bmsg"
ok "broken: the message has the server's unknown-option line"
# (the server keeps being restarted: compare without the time stamp)
expect_eq "broken: the message's last line is the error log's" \
    "$(tail -n 1 "$STATE/run/${ns}_broken/error.log" | sed 's/^[^[]*//')" \
    "$(printf '%s\n' "$bmsg" | tail -n 1 | sed 's/^[^[]*//')"
{ [ "$(printf '%s' "$bmsg" | wc -c)" -le 2048 ] && [ "$(printf '%s\n' "$bmsg" | wc -l)" -le 80 ]; } ||
    fail "broken: the message is longer than 80 lines or 2048 bytes"
ok "broken: the message is at most 80 lines and 2048 bytes"
! printf '%s' "$bmsg" | grep -qF "$MYSQL_PWD" || fail "broken: the message holds the root password"
ok "broken: the message does not hold the root password"

# --- a re-created primary keeps its address -----------------------------------------------
# The replicas' MASTER_HOST is mariadb-0's address; a real StatefulSet Pod
# keeps its DNS name when re-created, the simulated one its address.

old_uid=${UID_[0]}
old_pid=${PID[0]}
del_ms=$(now_ms)
kn delete pod mariadb-0 --wait=false >/dev/null
ok "deleted pod mariadb-0 (uid $old_uid, ${IP[0]})"
recreated_ready() {
    [ "$(jp pod mariadb-0 '{.metadata.uid}')" != "$old_uid" ] && pod_ready mariadb-0
}
wait_for 120 "mariadb-0 re-created and Ready" recreated_ready
echo "# delete mariadb-0 -> re-created Pod Ready: $(secs $(($(now_ms) - del_ms)))s"
! pid_alive "$old_pid" || fail "mariadb-0's old mariadbd (pid $old_pid) still runs"
ok "mariadb-0's old mariadbd pid $old_pid is gone"
UID_[0]=$(jp pod mariadb-0 '{.metadata.uid}')
PID[0]=$(pod_pid mariadb-0)
expect_eq "mariadb-0 (new uid) is back on its address" "${IP[0]}" "$(pod_ip mariadb-0)"
listening "${IP[0]}" | grep -q "pid=${PID[0]}," || fail "mariadb-0: pid ${PID[0]} does not listen on ${IP[0]}:3306"
ok "mariadb-0 (new uid): mariadbd pid ${PID[0]} listens on ${IP[0]}:3306"
expect_eq "mariadb-0 read_only" 0 "$(sql "${IP[0]}" 'SELECT @@read_only')"
sql "${IP[0]}" "INSERT INTO simnode.t VALUES (4, 'written on the re-created primary')"
ok "row 4 written on the re-created primary"
for i in 1 2; do
    # The replicas' I/O threads reconnect every MASTER_CONNECT_RETRY=5 s.
    wait_rows "${IP[$i]}" 4 30
    ok "row 4 on mariadb-$i after $(secs $WAITED)s (replication from ${IP[0]} resumed)"
    expect_eq "mariadb-$i Master_Host/Slave_IO_Running" "${IP[0]}/Yes" \
        "$(slave_field "${IP[$i]}" Master_Host)/$(slave_field "${IP[$i]}" Slave_IO_Running)"
done

# --- a taken address is not reused ------------------------------------------------------------
# The lease skips an address whose port cannot be bound; hold mariadb-2's
# address with a listener of our own while it is away.

kn scale statefulset mariadb --replicas=2 >/dev/null
wait_for 60 "mariadb-2 deleted (scale to 2)" pod_gone mariadb-2
expect_eq "mariadb-2: address lease released" "" "$(lease_of "${UID_[2]}")"
old_ip=${IP[2]}
/usr/bin/python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 3306))
s.listen(1)
time.sleep(600)' "$old_ip" &
holder_pid=$!
held() { listening "$old_ip" | grep -q "pid=$holder_pid,"; }
wait_for 10 "a Python listener (pid $holder_pid) holds $old_ip:3306" held
kn scale statefulset mariadb --replicas=3 >/dev/null
wait_for 120 "3 pods Ready (mariadb-2 re-created while its address is held)" all_ready 3
IP[2]=$(pod_ip mariadb-2)
PID[2]=$(pod_pid mariadb-2)
UID_[2]=$(jp pod mariadb-2 '{.metadata.uid}')
{ [ -n "${IP[2]}" ] && [ "${IP[2]}" != "$old_ip" ]; } || fail "mariadb-2 got '${IP[2]}', want an address other than the held $old_ip"
ok "mariadb-2 got another address: ${IP[2]} (not the held $old_ip)"
for i in 0 1; do
    [ "${IP[2]}" != "${IP[$i]}" ] || fail "mariadb-2 got mariadb-$i's address ${IP[$i]}"
done
ok "mariadb-2's address is not another Pod's"
expect_eq "mariadb-2 address lease" "${IP[2]}" "$(lease_of "${UID_[2]}")"
expect_eq "ips-by-name record of mariadb-2 updated" "${IP[2]}" "$(name_record mariadb-2)"
listening "${IP[2]}" | grep -q "pid=${PID[2]}," || fail "mariadb-2: pid ${PID[2]} does not listen on ${IP[2]}:3306"
ok "mariadb-2: mariadbd pid ${PID[2]} listens on ${IP[2]}:3306"
grep -q "pod $ns/mariadb-2 (uid ${UID_[2]}): address ${IP[2]}:3306 ($ns/mariadb-2 had $old_ip before, but it is port 3306 in use" \
    "$SNAPSTAGE_CLUSTER_DIR/logs/sim-node.log" || fail "the node log does not say why mariadb-2 did not get $old_ip back"
ok "the node log says $old_ip was in use"
sql "${IP[0]}" "INSERT INTO simnode.t VALUES (5, 'written after mariadb-2 moved')"
wait_rows "${IP[2]}" 5
ok "row 5 on mariadb-2 (${IP[2]}) after $(secs $WAITED)s (replicates from ${IP[0]})"
kill "$holder_pid"
wait "$holder_pid" 2>/dev/null || true
holder_pid=

# --- namespace deletion -------------------------------------------------------------------

del_ms=$(now_ms)
k delete namespace "$ns" --wait=false >/dev/null
all_stopped() {
    local i
    for i in 0 1 2 3; do
        pid_alive "${PID[$i]}" && return 1
        [ -z "$(listening "${IP[$i]}")" ] || return 1
    done
    return 0
}
wait_for 120 "namespace deleted: all 4 mariadbd processes and listeners gone" all_stopped
for i in 0 1 2; do
    for pv in ${PVS[$i]}; do
        [ ! -e "$STATE/holders/$pv" ] || fail "holder file of $pv still there"
    done
    expect_eq "mariadb-$i: address lease released" "" "$(lease_of "${UID_[$i]}")"
done
ok "holder files removed"
no_pods() { [ -z "$(k get pods -n "$ns" -o name 2>/dev/null)" ]; }
wait_for 120 "no pods left in $ns" no_pods
echo "# namespace delete -> servers stopped and pods gone: $(secs $(($(now_ms) - del_ms)))s"
