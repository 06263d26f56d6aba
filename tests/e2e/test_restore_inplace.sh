#!/usr/bin/env bash
# An in-place Restore of a primary/replica StatefulSet end to end: the real
# snapstage binary (--enable-in-place-restore) against the mini-cluster
# with a MariaDB primary + 2 replicas (hack/sim/mariadb.yaml). Cases:
#   bad input  a StatefulSet without the opt-in annotation
#              snapstage.io/in-place-restore: "allowed"
#              (InPlaceRestoreNotAllowed); then, annotated, a missing
#              StatefulSet (StatefulSetNotFound), an acknowledgeDataLoss
#              that is false (NotAcknowledged), a missing replication Secret
#              (SecretNotFound), a governing Service that does not select
#              the Pods (InvalidSpec: the primary's DNS name would not
#              resolve): each fails and leaves the StatefulSet at 3
#              replicas with its claims and data
#   crash      rows 1,2 and table shop.customers are backed up (Backup of
#              a replica); row 3 is written and shop.customers dropped "by
#              accident"; an in-place Restore of the Backup runs while the
#              controller is SIGKILLed once in each step (ScalingDown,
#              ReplacingClaims, ScalingUp, ConfiguringReplication) and
#              started again; it completes, the StatefulSet is back at 3
#   result     the primary holds exactly rows 1,2 and shop.customers, takes
#              a new write, and both replicas replicate it; the replicas are
#              read-only, the primary is not; every member's claims are
#              this Restore's; the old PersistentVolumes (kept Retained
#              during the restore) are put back to Delete and go: none is
#              left Released with policy Retain
#   moved      the replicas replicate from the primary's DNS name
#              mariadb-0.mariadb.NS.svc (status.inPlace.replicationHost);
#              the primary's Pod is deleted and comes back at another IP
#              (its old address held meanwhile): both replicas follow it
# Ends with a checked SIGTERM: exit 0 and no sanitizer report.
#
# Environment: SNAPSTAGE_CLUSTER_DIR (a running `hack/cluster.sh up
# --with-mariadb` cluster), SNAPSTAGE_BIN (the controller).
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_restore_inplace inplace

dump_on_fail() {
    kn get restores -o yaml 2>/dev/null | tail -n 60 || true
    "$KUBECTL" get pv -o custom-columns=NAME:.metadata.name,PHASE:.status.phase,POLICY:.spec.persistentVolumeReclaimPolicy,CLAIM:.spec.claimRef.name 2>/dev/null || true
}

slave_status() { # pod: "Slave_IO_Running:Yes Slave_SQL_Running:Yes " or what it is
    local ip
    ip=$(kn get pod "$1" -o jsonpath='{.status.podIP}')
    MYSQL_PWD=$(root_pw) mariadb -h "$ip" -u root --connect-timeout=5 -E \
        -e "SHOW SLAVE STATUS" | grep -E 'Slave_(IO|SQL)_Running:' | tr -d ' ' | tr '\n' ' ' || true
}
slave_field() { # pod field: one field of SHOW SLAVE STATUS
    local ip
    ip=$(kn get pod "$1" -o jsonpath='{.status.podIP}')
    MYSQL_PWD=$(root_pw) mariadb -h "$ip" -u root --connect-timeout=5 -E \
        -e "SHOW SLAVE STATUS" | awk -v f="$2" -F': ' '$1 ~ "^ *" f "$" { print $2 }'
}
rs() { kn get restore "$1" -o jsonpath="$2"; }
cond_is() { # restore type status [reason]
    [ "$(rs "$1" "{.status.conditions[?(@.type==\"$2\")].status}")" = "$3" ] &&
        { [ -z "${4:-}" ] || [ "$(rs "$1" "{.status.conditions[?(@.type==\"$2\")].reason}")" = "$4" ]; }
}
replicas_are() { [ "$(kn get statefulset mariadb -o jsonpath='{.spec.replicas}')" = "$1" ]; }
claim_uids() { kn get pvc -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.uid} {end}'; }
in_place() { # name statefulset ack replication-secret
    kn apply -f - >/dev/null <<YAML || fail "creating Restore $1"
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata:
  name: $1
spec:
  source:
    backupName: before-accident
  target:
    mode: InPlace
    inPlace:
      statefulSetName: $2
      acknowledgeDataLoss: $3
      primaryOrdinal: 0
      replicationCredentialsSecretRef:
        name: $4
        usernameKey: replication-user
        passwordKey: replication-password
      connection:
        credentialsSecretRef:
          name: mariadb-backup
  timeoutSeconds: 300
YAML
}

# ---- set-up: data, a Backup, then the accident ------------------------------------------
install_crds
mini_mariadb_up
start_controller --enable-in-place-restore
sql mariadb-0 "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY);
CREATE TABLE shop.customers (name VARCHAR(20) PRIMARY KEY);
INSERT INTO shop.orders VALUES (1), (2); INSERT INTO shop.customers VALUES ('ann');" ||
    fail "writing on the primary"
wait_for 30 "rows 1,2 on mariadb-1" rows_are mariadb-1 1,2
wait_for 30 "rows 1,2 on mariadb-2" rows_are mariadb-2 1,2
kn apply -f - >/dev/null <<'YAML' || fail "creating the Backup"
apiVersion: snapstage.io/v1alpha1
kind: Backup
metadata:
  name: before-accident
spec:
  target:
    statefulSetName: mariadb
    role: Replica
    connection:
      credentialsSecretRef:
        name: mariadb-backup
YAML
backup_done() {
    [ "$(kn get backup before-accident -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}')" = True ]
}
wait_for 90 "Backup before-accident is Complete" backup_done
note "position: $(kn get backup before-accident -o jsonpath='{.status.position.gtidCurrentPos}')"
sql mariadb-0 "INSERT INTO shop.orders VALUES (3); DROP TABLE shop.customers;" ||
    fail "the accident"
wait_for 30 "the accident reached mariadb-1" rows_are mariadb-1 1,2,3

# ---- bad input: nothing changes ---------------------------------------------------------
uids_before=$(claim_uids)
pvs_before=$(kn get pvc -o jsonpath='{range .items[*]}{.spec.volumeName}{" "}{end}')
in_place notallowed mariadb true mariadb
wait_for 30 "a StatefulSet without the opt-in annotation: Failed InPlaceRestoreNotAllowed" \
    cond_is notallowed Failed True InPlaceRestoreNotAllowed
note "message: $(rs notallowed '{.status.message}')"
replicas_are 3 || fail "InPlaceRestoreNotAllowed: the StatefulSet was scaled"
[ "$(claim_uids)" = "$uids_before" ] || fail "InPlaceRestoreNotAllowed: claims changed"
rows_are mariadb-0 1,2,3 || fail "InPlaceRestoreNotAllowed: the primary's data changed"
ok "InPlaceRestoreNotAllowed: StatefulSet at 3 replicas, claims and data untouched"
# Only who may edit the StatefulSet may allow overwriting it.
kn annotate statefulset mariadb snapstage.io/in-place-restore=allowed >/dev/null ||
    fail "annotating the StatefulSet"
in_place nosts nosuch true mariadb
wait_for 30 "a missing StatefulSet: Failed StatefulSetNotFound" \
    cond_is nosts Failed True StatefulSetNotFound
in_place noack mariadb false mariadb
wait_for 30 "acknowledgeDataLoss false: Failed NotAcknowledged" \
    cond_is noack Failed True NotAcknowledged
in_place nosecret mariadb true nosuch-secret
wait_for 30 "a missing replication Secret: Failed SecretNotFound" \
    cond_is nosecret Failed True SecretNotFound
note "message: $(rs nosecret '{.status.message}')"
# A governing Service that does not select the Pods gives them no DNS
# names: the replicas could never reach the primary by name.
kn patch service mariadb --type merge -p '{"spec":{"selector":{"app.kubernetes.io/name":"nobody"}}}' \
    >/dev/null || fail "pointing Service mariadb elsewhere"
in_place nodns mariadb true mariadb
wait_for 30 "a Service that does not select the Pods: Failed InvalidSpec" \
    cond_is nodns Failed True InvalidSpec
msg=$(rs nodns '{.status.message}')
note "message: $msg"
[[ "$msg" == *"Service mariadb"*"selector does not take"*"replicationHost: PodIP"* ]] ||
    fail "nodns: the message does not say what is wrong with the Service: $msg"
kn patch service mariadb --type merge -p '{"spec":{"selector":{"app.kubernetes.io/name":"mariadb"}}}' \
    >/dev/null || fail "pointing Service mariadb back"
replicas_are 3 || fail "bad input: the StatefulSet was scaled"
[ "$(claim_uids)" = "$uids_before" ] || fail "bad input: claims changed"
rows_are mariadb-0 1,2,3 || fail "bad input: the primary's data changed"
ok "bad input: StatefulSet at 3 replicas, claims and data untouched"

# ---- the restore, killed once in each step ----------------------------------------------
in_place rollback mariadb true mariadb
# A watch sees each step as it is written (before it is taken): the
# controller is killed on the first sight of each and started again. A step
# the restarted controller passed before the kill landed is still killed in
# once, a little later in it.
killed=""
want=(ScalingDown ReplacingClaims ScalingUp ConfiguringReplication)
next=0
exec {watch_fd}< <(timeout 300 "$KUBECTL" -n "$ns" get restore rollback -w \
    -o jsonpath='{.status.inPlace.step}{"\n"}' 2>/dev/null)
while [ $next -lt ${#want[@]} ] && read -r -u "$watch_fd" step; do
    [ "$step" = "${want[$next]}" ] || continue
    kill_controller KILL
    now=$(rs rollback '{.status.inPlace.step}')
    killed="$killed $step"
    ok "SIGKILLed the controller in step $step (status says $now)"
    next=$((next + 1))
    start_controller --enable-in-place-restore
done
exec {watch_fd}<&-
[ $next = ${#want[@]} ] || fail "saw only the steps$killed before the watch ended"
wait_for 300 "the Restore completes after 4 SIGKILLs ($killed)" cond_is rollback Complete True
[ "$(rs rollback '{.status.phase}')" = Completed ] || fail "phase $(rs rollback '{.status.phase}')"
[ "$(rs rollback '{.status.inPlace.originalReplicas}')" = 3 ] ||
    fail "originalReplicas is $(rs rollback '{.status.inPlace.originalReplicas}')"
replicas_are 3 || fail "the StatefulSet ends at $(kn get statefulset mariadb -o jsonpath='{.spec.replicas}') replicas"
wait_for 120 "all 3 members are Ready" kn rollout status statefulset/mariadb --timeout=5s
ok "completed; the StatefulSet is back at its original 3 replicas"

# ---- the result --------------------------------------------------------------------------
rows=$(rows_on mariadb-0) || fail "querying the primary"
[ "$rows" = 1,2 ] || fail "the primary holds rows '$rows', want exactly 1,2 (the Backup)"
[ "$(sql mariadb-0 'SELECT name FROM shop.customers')" = ann ] ||
    fail "shop.customers is not back on the primary"
ok "the primary holds exactly the backed-up data: rows 1,2 and shop.customers"
for p in 0 1 2; do
    for v in data binlog; do
        [ "$(kn get pvc "$v-mariadb-$p" -o jsonpath='{.metadata.labels.snapstage\.io/restore}')" = rollback ] ||
            fail "claim $v-mariadb-$p was not made by the Restore"
    done
done
ok "all 6 claims of the 3 members are the Restore's"
# The old volumes were kept (Retain) while their claims were replaced, and
# put back to their policy (Delete) only after Completed: the driver then
# deletes them, so none is left Released with Retain.
old_pvs_gone() {
    local p
    for p in $pvs_before; do
        ! "$KUBECTL" get pv "$p" >/dev/null 2>&1 || return 1
    done
}
wait_for 60 "the 6 old PersistentVolumes are put back to Delete and deleted" old_pvs_gone
[ "$(sql mariadb-0 'SELECT @@read_only')" = 0 ] || fail "the primary is read-only"
sql mariadb-0 "INSERT INTO shop.orders VALUES (10)" || fail "the primary refused a write"
wait_for 30 "mariadb-1 replicates the new write" rows_are mariadb-1 1,2,10
wait_for 30 "mariadb-2 replicates the new write" rows_are mariadb-2 1,2,10
for p in 1 2; do
    [ "$(sql mariadb-$p 'SELECT @@read_only')" = 1 ] || fail "replica mariadb-$p is not read-only"
    st=$(slave_status mariadb-$p)
    [[ "$st" == *"Slave_IO_Running:Yes"*"Slave_SQL_Running:Yes"* ]] ||
        fail "replica mariadb-$p: $st"
done
ok "the primary takes writes; both read-only replicas replicate them"

# ---- the replicas follow the primary to a new IP ------------------------------------------
# They replicate from the primary Pod's DNS name (replicationHost
# PodDNSName, the default), which the sim's cluster DNS gives a StatefulSet
# Pod of a headless Service: a primary that comes back with another IP is
# still found. (They used to be given the IP, and stopped replicating.)
want_host=mariadb-0.mariadb.$ns.svc
[ "$(rs rollback '{.status.inPlace.replicationHost}')" = "$want_host" ] ||
    fail "status.inPlace.replicationHost is '$(rs rollback '{.status.inPlace.replicationHost}')', want $want_host"
for p in 1 2; do
    host=$(slave_field mariadb-$p Master_Host)
    [ "$host" = "$want_host" ] || fail "replica mariadb-$p replicates from '$host', want $want_host"
done
ok "both replicas replicate from $want_host (status.inPlace.replicationHost)"
# The primary's old address is then taken by a stranger: a listener that
# accepts and never answers. It binds once the re-created Pod has an
# address: that is normally the old one again (the sim keeps a Pod name's
# address when it is free, as a StatefulSet Pod keeps its DNS name), so the
# stranger takes the port between the lease and mariadbd's bind, and the
# Pod cannot listen and restarts for ever, as a real Pod would on an
# address a stranger holds (a Pod keeps its address). Such a Pod, Ready or
# not, is deleted again (3 tries); the next one must lease another
# address, since the old one's port is in use. (CI once hit that order by
# chance, and the test, waiting for Ready, timed out: it is now the path
# taken every run.)
old_ip=$(kn get pod mariadb-0 -o jsonpath='{.status.podIP}')
gone_uid=$(kn get pod mariadb-0 -o jsonpath='{.metadata.uid}')
(
    while :; do
        x=$(kn get pod mariadb-0 -o jsonpath='{.metadata.uid} {.status.podIP}' 2>/dev/null) || x=
        [ -n "${x%% *}" ] && [ "${x%% *}" != "$gone_uid" ] && [ -n "${x#* }" ] && break
        sleep 0.02
    done
    echo "${x#* }" >"$work/first-ip"
    touch "$work/go"
) &
watcher_pid=$!
python3 - "$old_ip" "$work/go" >"$work/holder.log" 2>&1 <<'PY' &
import os, socket, sys, time
end = time.time() + 300
while not os.path.exists(sys.argv[2]):  # the re-created Pod has an address
    if time.time() > end:
        sys.exit("the re-created Pod never got an address")
    time.sleep(0.002)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as mariadbd: TIME_WAIT peers
end = time.time() + 300
while True:
    try:
        s.bind((sys.argv[1], 3306))
        break
    except OSError:
        if time.time() > end:
            sys.exit("never got the address")
        time.sleep(0.002)
s.listen(16)
print("holding", sys.argv[1], flush=True)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
PY
holder_pid=$!
on_exit() { kill "$holder_pid" "$watcher_pid" 2>/dev/null || true; }
pod_is_ready() { [ "$(kn get pod "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
back() { # a new mariadb-0 (not uid $gone_uid) that is Ready or has the old address
    local u ip
    u=$(kn get pod mariadb-0 -o jsonpath='{.metadata.uid} {.status.podIP}' 2>/dev/null) || return 1
    ip=${u#* } u=${u%% *}
    [ -n "$u" ] && [ "$u" != "$gone_uid" ] && { [ "$ip" = "$old_ip" ] || pod_is_ready mariadb-0; }
}
new_ip=$old_ip
for try in 1 2 3; do
    [ "$try" = 1 ] || gone_uid=$(kn get pod mariadb-0 -o jsonpath='{.metadata.uid}')
    kn delete pod mariadb-0 --wait=false >/dev/null || fail "deleting the primary's Pod"
    wait_for 120 "the primary's Pod is re-created (try $try)" back
    new_ip=$(kn get pod mariadb-0 -o jsonpath='{.status.podIP}')
    [ "$new_ip" = "$old_ip" ] || break
    note "it came back at $old_ip, leased before the holder bound it; again"
done
[ "$new_ip" != "$old_ip" ] || fail "the primary came back at $old_ip three times"
wait_for 120 "the primary's Pod is Ready at $new_ip" pod_is_ready mariadb-0
grep -q "^holding $old_ip" "$work/holder.log" || fail "the old address was not held: $(cat "$work/holder.log")"
note "the first re-created Pod leased $(cat "$work/first-ip" 2>/dev/null) (the old address: $old_ip); $try deletion(s)"
sql mariadb-0 "INSERT INTO shop.orders VALUES (11)" || fail "the moved primary refused a write"
wait_for 60 "mariadb-1 replicates from the moved primary" rows_are mariadb-1 1,2,10,11
wait_for 60 "mariadb-2 replicates from the moved primary" rows_are mariadb-2 1,2,10,11
ok "primary moved from $old_ip to $new_ip; both replicas followed it by name"
# Events go out asynchronously, so a SIGKILL right after a step was
# written may lose that step's; the last controller's Completed is there.
reasons=$(kn get events --field-selector involvedObject.name=rollback \
    -o jsonpath='{range .items[*]}{.reason}{" "}{end}')
note "Events: $reasons"
[[ " $reasons " == *" Completed "* ]] || fail "no Completed Event (saw: $reasons)"
[[ "$reasons" =~ ScalingDown|ReplacingClaims|ScalingUp|ConfiguringReplication ]] ||
    fail "no step Event (saw: $reasons)"
ok "Events: the steps that were not lost to a SIGKILL, and Completed"

stop_controller
check_clean_log
ok "the controller stopped cleanly on SIGTERM (exit 0, no sanitizer report)"
