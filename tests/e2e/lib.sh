# shellcheck shell=bash
# lib.sh — what the e2e tests share: the environment a test starts from
# and its clean-up, numbered checks with the time since the start, a
# failure that shows what the test saw, and waiting for a condition with a
# bound. Sourced (not run) by a test after it has set ROOT (the checkout);
# the test then calls e2e_init.
#
# A test may define dump_on_fail (called with stdout on stderr) to add its
# own evidence to a failure; every failure also shows the namespace's
# objects and latest Events, the end of $work/controller.log (when the test
# ran the controller through start_controller), and the error.log of each
# mariadbd the node agent ran for it. It may define on_exit for clean-up of
# its own (called first on exit).
#
# Provides: e2e_init, checks (the count), started, kn, stamp, ok, note,
# fail, wait_for, install_crds, and the MariaDB and controller helpers
# below. Uses: SNAPSTAGE_CLUSTER_DIR.

: "${SNAPSTAGE_CLUSTER_DIR:?set SNAPSTAGE_CLUSTER_DIR to a running hack/cluster.sh up --with-mariadb cluster}"

checks=0
started=$(date +%s%N)

kn() { "$KUBECTL" -n "$ns" "$@"; }

# e2e_init NAME PREFIX: KUBECTL and KUBECONFIG for the cluster, a private
# folder `work` (kubectl's cache in it), a namespace `ns` of the test's own
# (PREFIX-pid-random, not created here), a random `metrics_port`, and
# e2e_cleanup on exit. NAME (the script's) labels the summary line and the
# kept logs.
e2e_init() {
    test_name=$1
    KUBECTL=${KUBECTL:-$("$ROOT/hack/tools.sh")/kubectl}
    export KUBECONFIG=$SNAPSTAGE_CLUSTER_DIR/kubeconfig
    work=$(mktemp -d)
    export KUBECACHEDIR=$work/kube-cache
    ns=$2-$$-$RANDOM
    metrics_port=$(free_port_pair)
    trap e2e_cleanup EXIT
}

# free_port_pair: a port P, below the kernel's ephemeral range (32768 up:
# the ports every client connection takes, so a random pick there could be
# in use by one of them), such that P and P + 1 are both free on
# 127.0.0.1 now. Another process may still take one before the controller
# binds it; start_controller then picks again.
free_port_pair() {
    python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randrange(10000, 32000)
    socks = []
    try:
        for q in (p, p + 1):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", q))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(p)
    break
else:
    raise SystemExit("no free port pair found")
PY
}

# On exit, whatever the outcome: the test's on_exit, the controller
# stopped, the namespace deleted (not waited for), the controller logs
# ($work/controller.log, $work/ctrl-*.log) kept in the cluster's logs/ as
# NAME-<file>, the work folder removed, and the test's exit code kept.
e2e_cleanup() {
    local rc=$? f
    if declare -F on_exit >/dev/null; then on_exit || true; fi
    kill_controller
    "$KUBECTL" delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
    for f in "$work"/controller.log "$work"/ctrl-*.log; do
        [ -f "$f" ] || continue
        cp "$f" "$SNAPSTAGE_CLUSTER_DIR/logs/$test_name-$(basename "$f")" 2>/dev/null || true
    done
    rm -rf "$work"
    echo "$test_name: $checks checks, exit $rc"
    exit $rc
}

stamp() {
    local ms=$((($(date +%s%N) - started) / 1000000))
    printf '[%4d.%03ds]' $((ms / 1000)) $((ms % 1000))
}

ok() {
    checks=$((checks + 1))
    printf '%s ok %d - %s\n' "$(stamp)" "$checks" "$*"
}

note() { printf '%s      %s\n' "$(stamp)" "$*"; }

fail() {
    printf '%s FAIL: %s\n' "$(stamp)" "$*" >&2
    {
        kn get backups,volumesnapshots,pvc,pods -o wide 2>/dev/null ||
            kn get volumesnapshots,pvc,pods -o wide || true
        if declare -F dump_on_fail >/dev/null; then
            dump_on_fail || true
        fi
        kn get events --sort-by=.lastTimestamp 2>/dev/null | tail -n 30 || true
        if [ -f "$work/controller.log" ]; then
            echo "--- controller log (last 40 lines)"
            tail -n 40 "$work/controller.log"
        fi
        tail -n 15 "$SNAPSTAGE_CLUSTER_DIR/logs/sim-storage.log" || true
        local log
        for log in "$SNAPSTAGE_CLUSTER_DIR/sim/run/${ns}_"*/error.log; do
            [ -f "$log" ] || continue
            echo "--- $log (last 30 lines)"
            tail -n 30 "$log"
        done
    } >&2
    exit 1
}

wait_for() { # seconds what command...
    local limit=$1 what=$2 end
    shift 2
    end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || fail "timed out after ${limit}s: $what"
        sleep 0.2
    done
    ok "$what"
}

# install_crds: the snapstage CRDs applied, Established, and known to the
# API server's admission (hack/install-crds.sh: until then a create with
# blockOwnerDeletion on an ownerReference to a Backup is refused with 403,
# for up to 30 s after a CRD is installed). Bounded at 60 s.
install_crds() {
    local out
    out=$(KUBECTL=$KUBECTL "$ROOT/hack/install-crds.sh" --timeout 60 2>&1) ||
        fail "installing the CRDs: $out"
    note "$out"
}

# ---- MariaDB on the mini-cluster (hack/sim/mariadb.yaml) ---------------------
root_pw() { kn get secret mariadb -o jsonpath='{.data.root-password}' | base64 -d; }
sql() { # pod statement: run as root on the pod's server, rows tab-separated
    local ip
    ip=$(kn get pod "$1" -o jsonpath='{.status.podIP}')
    [ -n "$ip" ] || return 1
    MYSQL_PWD=$(root_pw) mariadb -h "$ip" -u root --batch --skip-column-names \
        --connect-timeout=5 -e "$2"
}
inspect_pod_yaml() { # pod data-claim binlog-claim: hack/sim/inspect-pod.yaml filled in
    sed -e "s/@POD@/$1/" -e "s/@DATA_CLAIM@/$2/" -e "s/@BINLOG_CLAIM@/$3/" \
        "$ROOT/hack/sim/inspect-pod.yaml"
}
# Restore YAML parts for the mini-cluster's StatefulSet mariadb and its
# Secrets (mariadb: the replication account; mariadb-backup: the
# connection), for the tests' Restore heredocs.
# yaml_in_place_target [EXTRA]: spec.target (indent 2) of an in-place
# restore of mariadb, primary 0; EXTRA lines (indented 6) go under inPlace.
yaml_in_place_target() {
    cat <<'YAML'
  target:
    mode: InPlace
    inPlace:
      statefulSetName: mariadb
      acknowledgeDataLoss: true
      primaryOrdinal: 0
      replicationCredentialsSecretRef:
        name: mariadb
        usernameKey: replication-user
        passwordKey: replication-password
      connection:
        credentialsSecretRef:
          name: mariadb-backup
YAML
    [ -z "${1:-}" ] || printf '%s\n' "$1"
}
# yaml_replay_access: spec.replay's replication account and scratch
# connection (indent 4).
yaml_replay_access() {
    cat <<'YAML'
    replicationCredentialsSecretRef:
      name: mariadb
      usernameKey: replication-user
      passwordKey: replication-password
    connection:
      credentialsSecretRef:
        name: mariadb-backup
YAML
}
rows_on() { sql "$1" "SELECT GROUP_CONCAT(id ORDER BY id) FROM shop.orders"; }
rows_are() { [ "$(rows_on "$1" 2>/dev/null)" = "$2" ]; }

# mini_mariadb_up [YAML]: in the test's namespace, hack/sim/mariadb.yaml's
# StatefulSet (a primary and two replicas; YAML: a variant of it) Ready,
# and the Secret mariadb-backup with the root credentials. The CRDs come
# first (install_crds), the controller after (start_controller).
mini_mariadb_up() {
    "$KUBECTL" create namespace "$ns" >/dev/null
    kn apply -f "${1:-$ROOT/hack/sim/mariadb.yaml}" >/dev/null
    wait_for 300 "the primary and both replicas are Ready" \
        kn rollout status statefulset/mariadb --timeout=5s
    kn create secret generic mariadb-backup --from-literal=username=root \
        --from-literal=password="$(root_pw)" >/dev/null
}

# schedule_yaml NAME CRON [EXTRA] [STS] [SECRET]: a BackupSchedule of
# StatefulSet STS (default mariadb) with credentials SECRET (default
# mariadb-backup). EXTRA: YAML lines (indented 2) under spec.
schedule_yaml() {
    local name=$1 cron=$2 extra=${3:-} sts=${4:-mariadb} secret=${5:-mariadb-backup}
    cat <<YAML
apiVersion: snapstage.io/v1alpha1
kind: BackupSchedule
metadata:
  name: $name
spec:
  schedule: "$cron"
  target:
    statefulSetName: $sts
    role: PreferReplica
    connection:
      credentialsSecretRef:
        name: $secret
$extra
YAML
}

# backup_yaml NAME [EXTRA] [CREDENTIALS]: a Backup of a replica of
# StatefulSet mariadb (hack/sim/mariadb.yaml). EXTRA: YAML lines (indented 2)
# under spec; CREDENTIALS: the credentialsSecretRef as flow YAML (default
# {name: mariadb-backup}).
backup_yaml() {
    local ref=${3:-}
    [ -n "$ref" ] || ref='{name: mariadb-backup}'
    cat <<YAML
apiVersion: snapstage.io/v1alpha1
kind: Backup
metadata:
  name: $1
spec:
  target:
    statefulSetName: mariadb
    role: Replica
    connection:
      credentialsSecretRef: $ref
${2:-}
YAML
}

# ---- the controller under test ---------------------------------------------------
# Uses SNAPSTAGE_BIN, KUBECONFIG, ns, work (its log is $work/controller.log)
# and metrics_port (probes on metrics_port + 1). ctrl_pid is its pid, or
# empty when none runs.
ctrl_pid=
# shellcheck disable=SC2120 # the flags are optional
# A port taken between free_port_pair and the bind makes the controller exit
# at once ("cannot listen"): then it is started again on a new pair, up to
# 3 times, so a busy machine's port race is not a test failure.
start_controller() { # [extra flags...]: start it and wait until it is ready
    local try from
    for try in 1 2 3; do
        from=$(($(stat -c %s "$work/controller.log" 2>/dev/null || echo 0) + 1))
        "$SNAPSTAGE_BIN" --kubeconfig="$KUBECONFIG" --namespace="$ns" --leader-elect=false \
            --workers=4 --metrics-bind-address=127.0.0.1:"$metrics_port" \
            --health-probe-bind-address=127.0.0.1:$((metrics_port + 1)) "$@" \
            >>"$work/controller.log" 2>&1 &
        ctrl_pid=$!
        sleep 0.3
        if kill -0 "$ctrl_pid" 2>/dev/null ||
            ! tail -c +"$from" "$work/controller.log" | grep -q "cannot listen"; then
            break
        fi
        wait "$ctrl_pid" 2>/dev/null || true
        echo "# the controller could not listen on $metrics_port or $((metrics_port + 1)) (try $try): another pair" >&2
        metrics_port=$(free_port_pair)
    done
    wait_for 30 "the controller is ready (pid $ctrl_pid)" \
        curl -sf "http://127.0.0.1:$((metrics_port + 1))/readyz"
}
stop_controller() { # SIGTERM; the test fails unless it exits 0
    local rc=0
    kill -TERM "$ctrl_pid"
    wait "$ctrl_pid" || rc=$?
    ctrl_pid=
    [ $rc = 0 ] || fail "the controller exited $rc after SIGTERM"
}
# shellcheck disable=SC2120 # the signal is optional
kill_controller() { # [signal]: stop it without judging (clean-up, crash tests)
    [ -n "$ctrl_pid" ] || return 0
    kill "-${1:-TERM}" "$ctrl_pid" 2>/dev/null || true
    wait "$ctrl_pid" 2>/dev/null || true
    ctrl_pid=
}
check_clean_log() { # no sanitizer report in the controller's log
    ! grep -q -E "ERROR: (Address|Leak|Thread)Sanitizer|runtime error:" "$work/controller.log" ||
        fail "sanitizer report in the controller log: $(grep -m3 -E 'Sanitizer|runtime error' "$work/controller.log")"
}
