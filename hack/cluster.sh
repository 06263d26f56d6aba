#!/usr/bin/env bash
# A real, local Kubernetes control plane for tests and demos: etcd (Debian's
# etcd-server) and kube-apiserver (built from Debian's kubernetes source by
# hack/build-k8s.sh), listening on 127.0.0.1 only, with a generated CA, token
# and client-certificate authentication, service-account token signing (so
# TokenRequest works) and RBAC authorization. Like hardened clusters, it
# enforces OwnerReferencesPermissionEnforcement (blockOwnerDeletion needs
# update on the owner's finalizers), and it writes an audit log of every
# request made by a ServiceAccount (DIR/logs/audit.log, JSON lines, level
# Metadata: who, verb, resource, namespace, name, response code; no bodies),
# so a test can see exactly what a controller running on its ServiceAccount's
# token asked for. Requests of the admin and the unprivileged user are not
# logged.
#
# Usage: hack/cluster.sh [--dir DIR] up [--with-mariadb] | down | env | status
#                                    | restart-apiserver | install-snapshot-crds
#                                    | install-snapshot-crds
#   DIR defaults to $SNAPSTAGE_CLUSTER_DIR or /tmp/snapstage-cluster.
#   install-snapshot-crds (optional, on a running cluster) server-side-applies
#   the snapshot.storage.k8s.io/v1 CRD test fixtures listed in
#   tests/fixtures/snapshot.storage.k8s.io/kustomization.yaml as the admin and
#   waits until they are Established; applying them again changes nothing.
#
# Invariants: every daemon runs in its own session with its pid in DIR/pids,
# and `down` stops exactly those (TERM to the process group, KILL after 10 s,
# then checks they are gone) and removes DIR, so nothing outlives a test run.
# A pid whose command line names neither its component nor DIR is treated as
# recycled and never signalled; DIR is only removed if it has a pids/ folder.
# `up` on a running cluster is a no-op; a failed or interrupted `up` tears
# down what it started (EXIT trap). Ports are chosen free at start and kept
# in DIR/ports so restart-apiserver reuses them. Tokens and keys are written
# to DIR with mode 0600 and never printed or passed on a command line.
set -euo pipefail

HACK=$(cd "$(dirname "$0")" && pwd)
DIR=${SNAPSTAGE_CLUSTER_DIR:-/tmp/snapstage-cluster}
if [ "${1:-}" = "--dir" ]; then
    DIR=${2:?"--dir needs a directory"}
    shift 2
fi
case "$DIR" in /*) ;; *) DIR=$(pwd)/$DIR ;; esac
SA_ISSUER=https://kubernetes.default.svc.cluster.local

# Process handling (pid files, alive checks, TERM then KILL): hack/lib/procs.sh.
# A recorded pid is ours while its command line names DIR or its component
# (a tool may add a pid file for a process started without DIR on its
# command line); TERM gets 10 s.
# shellcheck source-path=SCRIPTDIR source=lib/procs.sh
. "$HACK/lib/procs.sh"
PROCS_SCRIPT=cluster.sh
PROCS_LOG_SUFFIX=.log
PROCS_TERM_SECONDS=10
PROCS_TERM_NOTE=""
PROCS_MARK=$DIR
PROCS_NAME_MARKS=1

# fd 3 is the caller's stderr, so messages from traps that fire inside a
# redirected command still show; daemons get it closed (see procs_spawn).
exec 3>&2
log() { printf '[cluster] %s\n' "$*" >&3; }
die() { log "error: $*"; exit 1; }

ensure_tools() {
    local missing=()
    command -v etcd >/dev/null || missing+=(etcd-server)
    command -v openssl >/dev/null || missing+=(openssl)
    command -v curl >/dev/null || missing+=(curl)
    command -v python3 >/dev/null || missing+=(python3)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    fi
}

# Free TCP ports on 127.0.0.1, chosen by the kernel, all distinct.
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

gen_pki() {
    local pki=$DIR/pki
    mkdir -p "$pki"
    (
        cd "$pki"
        umask 077
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=snapstage-test-ca \
            -keyout ca.key -out ca.crt 2>/dev/null
        cat >serving.ext <<EXT
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1
extendedKeyUsage=serverAuth
EXT
        openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
            -keyout apiserver.key -out apiserver.csr 2>/dev/null
        openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -days 3650 -extfile serving.ext -out apiserver.crt 2>/dev/null
        printf 'extendedKeyUsage=clientAuth\n' >client.ext
        openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=snapstage-admin" \
            -keyout admin.key -out admin.csr 2>/dev/null
        openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -days 3650 -extfile client.ext -out admin.crt 2>/dev/null
        openssl genrsa -out sa.key 2048 2>/dev/null
        openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
        chmod 0644 ca.crt apiserver.crt admin.crt sa.pub
    )
}

gen_tokens() {
    umask 077
    openssl rand -hex 24 >"$DIR/admin.token"
    openssl rand -hex 24 >"$DIR/unprivileged.token"
    printf '%s,snapstage-admin,uid-admin,"system:masters"\n%s,snapstage-unprivileged,uid-unprivileged\n' \
        "$(cat "$DIR/admin.token")" "$(cat "$DIR/unprivileged.token")" >"$DIR/tokens.csv"
}

# Polls command until it succeeds; fails early if component NAME exits.
wait_until() { # seconds NAME command...
    local limit=$1 what=$2 i
    shift 2
    for ((i = 0; i < limit * 5; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        if ! procs_alive "$what"; then
            log "$what exited during startup (see $DIR/logs/$what.log)"
            return 1
        fi
        sleep 0.2
    done
    log "timed out after ${limit}s waiting for $what"
    return 1
}

start_etcd() {
    procs_spawn etcd etcd --name snapstage-test --data-dir "$DIR/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "snapstage-test=http://127.0.0.1:$ETCD_PEER_PORT" \
        --logger zap --log-level warn --quota-backend-bytes 2147483648
    if ! wait_until 30 etcd curl -fsS "http://127.0.0.1:$ETCD_PORT/health"; then
        tail -n 30 "$DIR/logs/etcd.log" >&2 || true
        return 1
    fi
}

# The token reaches curl through a pipe, never its argv (visible in ps).
apiserver_ready() {
    [ "$(curl -sS --max-time 2 --cacert "$DIR/pki/ca.crt" \
        -H @<(printf 'Authorization: Bearer %s\n' "$(<"$DIR/admin.token")") \
        "https://127.0.0.1:$API_PORT/readyz")" = ok ]
}

# The audit policy: Metadata for ServiceAccounts, nothing for anyone else.
write_audit_policy() {
    cat >"$DIR/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
POLICY
}

# One definition of the API server's flags, used by `up` and restarts.
start_apiserver() {
    local pki=$DIR/pki extra=()
    read -r -a extra <<<"${SNAPSTAGE_APISERVER_EXTRA_FLAGS:-}"
    [ -f "$DIR/audit-policy.yaml" ] || write_audit_policy
    procs_spawn kube-apiserver "$K8S_BIN/kube-apiserver" \
        --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
        --secure-port="$API_PORT" --insecure-port=0 \
        --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
        --service-cluster-ip-range=10.0.0.0/24 \
        --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
        --client-ca-file="$pki/ca.crt" --token-auth-file="$DIR/tokens.csv" \
        --authorization-mode=RBAC \
        --service-account-key-file="$pki/sa.pub" \
        --service-account-signing-key-file="$pki/sa.key" \
        --service-account-issuer="$SA_ISSUER" --api-audiences="$SA_ISSUER" \
        --allow-privileged=true --profiling=false \
        --enable-admission-plugins=OwnerReferencesPermissionEnforcement \
        --audit-policy-file="$DIR/audit-policy.yaml" \
        --audit-log-path="$DIR/logs/audit.log" --audit-log-format=json \
        "${extra[@]+"${extra[@]}"}"
    if ! wait_until 90 kube-apiserver apiserver_ready; then
        tail -n 30 "$DIR/logs/kube-apiserver.log" >&2 || true
        return 1
    fi
}

kcm_ready() {
    [ "$(curl -sS --max-time 2 -k "https://127.0.0.1:$KCM_PORT/healthz")" = ok ]
}

# The controllers a StatefulSet of MariaDB needs to behave as in a real
# cluster (Pods and PVCs from templates, claims bound to volumes, garbage
# collection, namespaces, ServiceAccount tokens). Node controllers are left
# out: the simulated node agent is the only node and keeps itself Ready.
KCM_CONTROLLERS=statefulset,persistentvolume-binder,garbagecollector,serviceaccount-token,serviceaccount,namespace,pvc-protection,pv-protection,replicaset,deployment,endpoint,podgc

start_controller_manager() {
    local pki=$DIR/pki
    procs_spawn kube-controller-manager "$K8S_BIN/kube-controller-manager" \
        --kubeconfig="$DIR/kubeconfig" \
        --authentication-kubeconfig="$DIR/kubeconfig" \
        --authorization-kubeconfig="$DIR/kubeconfig" \
        --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --port=0 \
        --leader-elect=false --controllers="$KCM_CONTROLLERS" \
        --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
        --concurrent-statefulset-syncs=5 --profiling=false
    if ! wait_until 60 kube-controller-manager kcm_ready; then
        tail -n 30 "$DIR/logs/kube-controller-manager.log" >&2 || true
        return 1
    fi
}

write_kubeconfig() { # file user token-file
    local ca
    ca=$(base64 -w0 <"$DIR/pki/ca.crt")
    (
        umask 077
        cat >"$1" <<KC
apiVersion: v1
kind: Config
current-context: snapstage-test
clusters:
- name: snapstage-test
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $ca
users:
- name: $2
  user:
    token: $(<"$3")
contexts:
- name: snapstage-test
  context: {cluster: snapstage-test, user: $2, namespace: default}
KC
    )
}

write_env() {
    cat >"$DIR/env" <<ENV
export KUBECONFIG=$DIR/kubeconfig
export SNAPSTAGE_CLUSTER_DIR=$DIR
export SNAPSTAGE_APISERVER_URL=https://127.0.0.1:$API_PORT
export SNAPSTAGE_ETCD_URL=http://127.0.0.1:$ETCD_PORT
export SNAPSTAGE_CA_FILE=$DIR/pki/ca.crt
export SNAPSTAGE_ADMIN_TOKEN_FILE=$DIR/admin.token
export SNAPSTAGE_UNPRIVILEGED_TOKEN_FILE=$DIR/unprivileged.token
export SNAPSTAGE_ADMIN_CERT_FILE=$DIR/pki/admin.crt
export SNAPSTAGE_ADMIN_KEY_FILE=$DIR/pki/admin.key
export SNAPSTAGE_SA_KEY_FILE=$DIR/pki/sa.key
export SNAPSTAGE_K8S_BIN=$K8S_BIN
ENV
    # What a restart needs to reuse the same ports.
    printf 'API_PORT=%s\nETCD_PORT=%s\nETCD_PEER_PORT=%s\nKCM_PORT=%s\nK8S_BIN=%s\n' \
        "$API_PORT" "$ETCD_PORT" "$ETCD_PEER_PORT" "$KCM_PORT" "$K8S_BIN" >"$DIR/ports"
}

# ---- the MariaDB-on-Kubernetes parts (up --with-mariadb) -------------------

# hack/sim/ holds the simulated node agent (kubelet role) and storage driver
# (CSI driver + external-snapshotter + provisioner roles). They run on
# Debian's python3 (python3-kubernetes), not whatever python3 is first on
# PATH, and see the cluster only through its API server.
SIM_PYTHON=/usr/bin/python3
SIM_NODE=sim-node-1

# Readiness polls expect "not found" until the simulators have made their
# objects: admin_api's report of each failed try (fd 3, the terminal) is
# dropped here; wait_until says what timed out and shows the component's log.
node_ready() {
    admin_api GET "/api/v1/nodes/$SIM_NODE" 2>/dev/null 3>/dev/null | python3 -c '
import json, sys
conds = json.load(sys.stdin).get("status", {}).get("conditions", [])
sys.exit(0 if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds) else 1)'
}

storage_ready() {
    admin_api GET /apis/storage.k8s.io/v1/storageclasses/snapstage-sim >/dev/null 2>&1 3>/dev/null &&
        admin_api GET /apis/snapshot.storage.k8s.io/v1/volumesnapshotclasses/snapstage-sim >/dev/null 2>&1 3>/dev/null
}

start_simulators() {
    local f
    for f in storage.py node.py; do
        [ -f "$HACK/sim/$f" ] || die "hack/sim/$f is missing"
    done
    mkdir -p "$DIR/sim"
    procs_spawn sim-storage "$SIM_PYTHON" "$HACK/sim/storage.py" \
        --kubeconfig "$DIR/kubeconfig" --state "$DIR/sim"
    procs_spawn sim-node "$SIM_PYTHON" "$HACK/sim/node.py" \
        --kubeconfig "$DIR/kubeconfig" --state "$DIR/sim" --node-name "$SIM_NODE"
    if ! wait_until 60 sim-storage storage_ready; then
        tail -n 30 "$DIR/logs/sim-storage.log" >&2 || true
        return 1
    fi
    if ! wait_until 60 sim-node node_ready; then
        tail -n 30 "$DIR/logs/sim-node.log" >&2 || true
        return 1
    fi
}

cmd_down() {
    [ -d "$DIR" ] || return 0
    [ -d "$DIR/pids" ] || die "$DIR has no pids/ folder: not a cluster dir, not removing it"
    local c
    # The node agent first: it stops its mariadbd processes cleanly.
    for c in sim-node sim-storage kube-controller-manager kube-apiserver etcd; do
        procs_stop "$c"
    done
    for c in "$DIR"/pids/*.pid; do # anything a later tool added
        [ -e "$c" ] && procs_stop "$(basename "$c" .pid)"
    done
    procs_sweep_leftovers
    rm -rf "$DIR"
    log "down: $DIR removed"
}

cmd_up() {
    local with_mariadb=0
    [ "${1:-}" = --with-mariadb ] && with_mariadb=1
    if [ -f "$DIR/ports" ] && procs_alive etcd && procs_alive kube-apiserver &&
        { [ $with_mariadb = 0 ] || procs_alive sim-node; }; then
        # shellcheck disable=SC1091
        . "$DIR/ports"
        if apiserver_ready; then
            log "already running: https://127.0.0.1:$API_PORT (source $DIR/env)"
            return 0
        fi
    fi
    [ -d "$DIR" ] && cmd_down
    ensure_tools
    K8S_BIN=$("$HACK/build-k8s.sh" | tail -n 1)
    [ -x "$K8S_BIN/kube-apiserver" ] || die "no kube-apiserver in '$K8S_BIN'"
    local started_ns
    started_ns=$(date +%s%N)
    mkdir -p "$DIR/logs" "$DIR/pids"
    # set -e exits from inside functions do not run an ERR trap; EXIT does.
    UP_DONE=0
    trap 'procs_up_failed' EXIT
    trap 'exit 130' INT TERM
    read -r API_PORT ETCD_PORT ETCD_PEER_PORT KCM_PORT <<<"$(free_ports 4)"
    gen_pki
    gen_tokens
    start_etcd
    start_apiserver
    write_kubeconfig "$DIR/kubeconfig" snapstage-admin "$DIR/admin.token"
    write_kubeconfig "$DIR/kubeconfig-unprivileged" snapstage-unprivileged "$DIR/unprivileged.token"
    write_env
    if [ $with_mariadb = 1 ]; then
        start_controller_manager
        cmd_install_snapshot_crds
        start_simulators
        echo "export SNAPSTAGE_SIM_DIR=$DIR/sim" >>"$DIR/env"
    fi
    UP_DONE=1
    trap - EXIT INT TERM
    local ms=$((($(date +%s%N) - started_ns) / 1000000))
    log "cluster up in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s: https://127.0.0.1:$API_PORT  (source $DIR/env)"
}

cmd_restart_apiserver() {
    [ -f "$DIR/ports" ] || die "no cluster in $DIR"
    # shellcheck disable=SC1091
    . "$DIR/ports"
    procs_stop kube-apiserver
    if ! start_apiserver; then
        procs_stop kube-apiserver || true
        die "kube-apiserver did not become ready; it is stopped, etcd still runs"
    fi
    log "kube-apiserver restarted on https://127.0.0.1:$API_PORT"
}

# One request to the running API server as the admin; the token reaches curl
# through a pipe, as in apiserver_ready. Prints the response body, and fails
# (with the body, a Status, on stderr) unless the code is 2xx.
admin_api() { # method path [content-type body-file]
    local out code
    out=$(mktemp "$DIR/api.XXXXXX")
    local args=(-sS --max-time 30 --cacert "$DIR/pki/ca.crt" -X "$1" -o "$out" -w '%{http_code}')
    [ $# -ge 4 ] && args+=(-H "Content-Type: $3" --data-binary "@$4")
    code=$(curl "${args[@]}" \
        -H @<(printf 'Authorization: Bearer %s\n' "$(<"$DIR/admin.token")") \
        "https://127.0.0.1:$API_PORT$2") || code=000
    if [ "${code:0:1}" != 2 ]; then
        log "$1 $2: HTTP $code: $(head -c 2000 "$out")"
        rm -f "$out"
        return 1
    fi
    cat "$out"
    rm -f "$out"
}

crd_established() {
    admin_api GET "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/$1" | python3 -c '
import json, sys
conds = json.load(sys.stdin).get("status", {}).get("conditions", [])
sys.exit(0 if any(c.get("type") == "Established" and c.get("status") == "True" for c in conds) else 1)'
}

# Server-side apply (the API server reads the YAML itself, so neither kubectl
# nor a YAML parser is needed) with a fixed field manager: a CRD that already
# matches its file is left untouched, resourceVersion included.
cmd_install_snapshot_crds() {
    { [ -f "$DIR/ports" ] && procs_alive etcd && procs_alive kube-apiserver; } ||
        die "no running cluster in $DIR (run: hack/cluster.sh up)"
    # shellcheck disable=SC1091
    . "$DIR/ports"
    local fixtures f name files names=()
    fixtures=$(cd "$HACK/../tests/fixtures/snapshot.storage.k8s.io" && pwd)
    # The `resources:` list of the kustomization, one `- file` per line.
    mapfile -t files < <(awk '/^resources:/ { r = 1; next } r && /^- / { print $2; next } r && /^[^ #]/ { r = 0 }' \
        "$fixtures/kustomization.yaml")
    for f in "${files[@]}"; do
        [ -f "$fixtures/$f" ] || die "$fixtures/kustomization.yaml lists $f, which does not exist"
        name=$(awk '/^metadata:/ { m = 1; next } m && /^  name:/ { print $2; exit } /^[^ #]/ { m = 0 }' "$fixtures/$f")
        [ -n "$name" ] || die "no metadata.name in $fixtures/$f"
        admin_api PATCH "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/$name?fieldManager=snapstage-cluster-sh&force=true" \
            application/apply-patch+yaml "$fixtures/$f" >/dev/null ||
            die "could not apply $fixtures/$f"
        names+=("$name")
    done
    [ ${#names[@]} -gt 0 ] || die "no resources listed in $fixtures/kustomization.yaml"
    for name in "${names[@]}"; do
        wait_until 30 kube-apiserver crd_established "$name" || die "CRD $name is not Established"
    done
    log "snapshot CRDs installed and Established: ${names[*]}"
}

cmd_status() {
    local c rc=0 comps=(etcd kube-apiserver)
    for c in kube-controller-manager sim-storage sim-node; do
        [ -f "$DIR/pids/$c.pid" ] && comps+=("$c")
    done
    for c in "${comps[@]}"; do
        if procs_alive "$c"; then echo "$c: running (pid $(procs_pid_of "$c"))"; else echo "$c: stopped"; rc=1; fi
    done
    return $rc
}

case "${1:-}" in
up) cmd_up "${2:-}" ;;
down) cmd_down ;;
env)
    { [ -f "$DIR/env" ] && procs_alive etcd && procs_alive kube-apiserver; } ||
        die "no running cluster in $DIR (run: hack/cluster.sh up)"
    cat "$DIR/env"
    ;;
status) cmd_status ;;
restart-apiserver) cmd_restart_apiserver ;;
install-snapshot-crds) cmd_install_snapshot_crds ;;
*) echo "usage: $0 [--dir DIR] up [--with-mariadb]|down|env|status|restart-apiserver|install-snapshot-crds" >&2; exit 2 ;;
esac
