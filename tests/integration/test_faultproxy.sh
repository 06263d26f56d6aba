#!/usr/bin/env bash
# hack/faultproxy.py between kubectl (and curl) and the real kube-apiserver:
#   - it starts on free ports, writes its ports file and a kubeconfig whose
#     CA (the cluster's) verifies its certificate: kubectl get, create and
#     a watch work through it, the watch's events arrive while the stream
#     stays open (relayed as they come, not at its end), and the bearer
#     token passes through (a wrong one is refused by the API server);
#   - rules, each checked by timing or by what the client and the server
#     saw: a delay rule delays only the matching method and path; a 429
#     rule answers 429 with Retry-After and a metav1.Status naming
#     retryAfterSeconds, without forwarding; a 500 rule; `times` limits a
#     rule to N hits and the hit counts show in GET /faults; drop "request"
#     closes the connection without an answer and the object is not
#     created, drop "response" closes it after the API server has created
#     it; query_regex tells a watch from a list; an invalid rule is
#     refused with 400 and leaves the old rules;
#   - GET /requests logs every request with the rule applied;
#   - a non-loopback upstream is refused at start;
#   - SIGTERM ends it (exit 0) promptly with a watch open.
# Deletes its namespace.
#
# Environment (set by CTest): SNAPSTAGE_CLUSTER_DIR (a running cluster from
# hack/cluster.sh). KUBECTL overrides the kubectl from hack/tools.sh.
set -euo pipefail

: "${SNAPSTAGE_CLUSTER_DIR:?set SNAPSTAGE_CLUSTER_DIR to a running hack/cluster.sh cluster}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KUBECTL=${KUBECTL:-$("$ROOT/hack/tools.sh")/kubectl}
PROXY=$ROOT/hack/faultproxy.py
CA=$SNAPSTAGE_CLUSTER_DIR/pki/ca.crt
started=$SECONDS
checks=0
work=$(mktemp -d)
export KUBECACHEDIR=$work/kube-cache
ns=faultproxy-$$-$RANDOM
proxy_pid=
watch_pid=

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    [ -f "$work/proxy.log" ] && { echo "--- proxy log (last 20 lines)" >&2; tail -n 20 "$work/proxy.log" >&2; }
    exit 1
}
ok() {
    checks=$((checks + 1))
    printf 'ok %d - %s\n' "$checks" "$*"
}
expect_eq() { # what want got
    [ "$3" = "$2" ] || fail "$1: want '$2', got '$3'"
    ok "$1 = '$2'"
}
expect_contains() { # what haystack needle...
    local what=$1 hay=$2 s
    shift 2
    for s in "$@"; do
        case "$hay" in *"$s"*) ;; *) fail "$what: lacks '$s' in: $hay" ;; esac
    done
    ok "$what mentions: $*"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

cleanup() {
    local rc=$?
    set +e
    [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null
    if [ -n "$proxy_pid" ] && kill -0 "$proxy_pid" 2>/dev/null; then
        kill -TERM "$proxy_pid"
        wait "$proxy_pid" 2>/dev/null
    fi
    KUBECONFIG=$SNAPSTAGE_CLUSTER_DIR/kubeconfig "$KUBECTL" delete namespace "$ns" \
        --wait=false >/dev/null 2>&1
    rm -rf "$work"
    echo "test_faultproxy: $checks checks, $((SECONDS - started))s, exit $rc"
    exit $rc
}
trap cleanup EXIT

# --- start --------------------------------------------------------------------

"$PROXY" --cluster-dir "$SNAPSTAGE_CLUSTER_DIR" --write-kubeconfig "$work/kubeconfig" \
    --ports-file "$work/ports" --log "$work/proxy.log" >"$work/proxy.out" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do
    [ -f "$work/ports" ] && break
    kill -0 "$proxy_pid" 2>/dev/null || fail "the proxy exited: $(cat "$work/proxy.out")"
    sleep 0.1
done
[ -f "$work/ports" ] || fail "no ports file after 10 s"
# shellcheck disable=SC1091
. "$work/ports"
expect_eq "the ports file names the proxy's pid" "$proxy_pid" "$FAULTPROXY_PID"
expect_contains "the start line" "$(cat "$work/proxy.out")" \
    "listening https://127.0.0.1:$FAULTPROXY_PORT" "control http://127.0.0.1:$FAULTPROXY_CONTROL_PORT"
expect_eq "the kubeconfig is private" 600 "$(stat -c %a "$work/kubeconfig")"
export KUBECONFIG=$work/kubeconfig
CTRL=http://127.0.0.1:$FAULTPROXY_CONTROL_PORT
API=https://127.0.0.1:$FAULTPROXY_PORT
k() { "$KUBECTL" "$@"; }
kn() { "$KUBECTL" -n "$ns" "$@"; }
ctl() { curl -sS --max-time 10 "$@"; }
set_rules() { # JSON
    ctl -X POST -o /dev/null -w '%{http_code}' "$CTRL/faults" -d "$1" | grep -qx 200 ||
        fail "setting rules $1"
}
# curl through the proxy as the admin, verifying it with the cluster CA; the
# token reaches curl through a pipe. Prints the status code (000: no answer).
api() { # method path [curl args...]
    local m=$1 p=$2
    shift 2
    curl -sS --max-time 20 --cacert "$CA" -X "$m" -o "$work/body" -D "$work/head" \
        -w '%{http_code}' "$@" \
        -H @<(printf 'Authorization: Bearer %s\n' "$(<"$SNAPSTAGE_CLUSTER_DIR/admin.token")") \
        "$API$p" 2>"$work/curl.err" || true
}
cm_body() { printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"%s"}}' "$1"; }

# --- honest proxying ----------------------------------------------------------------

expect_eq "control /healthz" ok "$(ctl "$CTRL/healthz")"
k create namespace "$ns" >/dev/null || fail "kubectl create namespace through the proxy"
kn create configmap a --from-literal=k=v >/dev/null || fail "kubectl create configmap"
expect_eq "kubectl get through the proxy" v "$(kn get configmap a -o jsonpath='{.data.k}')"
expect_eq "curl verifies the proxy with the cluster CA" 200 "$(api GET "/api/v1/namespaces/$ns/configmaps/a")"
code=$(curl -sS --max-time 10 --cacert "$CA" -o /dev/null -w '%{http_code}' \
    -H 'Authorization: Bearer not-a-token' "$API/api/v1/namespaces/$ns/configmaps/a" || true)
expect_eq "a wrong token reaches the API server, which refuses it" 401 "$code"

kn get configmaps --watch --output-watch-events -o name >"$work/watch.out" 2>&1 &
watch_pid=$!
sleep 1
kn create configmap b >/dev/null
for _ in $(seq 50); do
    grep -q 'configmap/b' "$work/watch.out" && break
    sleep 0.1
done
expect_contains "the watch saw the new object" "$(cat "$work/watch.out")" "configmap/a" "configmap/b"
kill -0 "$watch_pid" 2>/dev/null || fail "the watch ended; events must stream while it is open"
ok "the watch is still open: events are relayed as they arrive"

# --- rules -------------------------------------------------------------------

set_rules '{"rules":[{"method":"POST","path_regex":"/configmaps$","delay_ms":1500}]}'
t0=$(now_ms)
kn create configmap c >/dev/null || fail "create through a delay rule"
took=$(($(now_ms) - t0))
[ "$took" -ge 1500 ] && [ "$took" -lt 6000 ] || fail "a 1500 ms delay rule: create took ${took} ms"
ok "a delay rule delays the matching request (create took ${took} ms)"
t0=$(now_ms)
kn get configmap c -o name >/dev/null
took=$(($(now_ms) - t0))
[ "$took" -lt 1500 ] || fail "a GET was delayed by a POST rule (${took} ms)"
ok "other methods are not delayed (get took ${took} ms)"

set_rules '{"rules":[{"method":"GET","path_regex":"/configmaps/a$","status":429,"retry_after":7,"times":1},
                     {"path_regex":"/configmaps/c$","status":500,"message":"injected boom"}]}'
expect_eq "a 429 rule answers 429" 429 "$(api GET "/api/v1/namespaces/$ns/configmaps/a")"
expect_contains "with Retry-After" "$(tr -d '\r' <"$work/head")" "Retry-After: 7"
expect_contains "and a Status" "$(cat "$work/body")" '"kind": "Status"' '"reason": "TooManyRequests"' \
    '"code": 429' '"retryAfterSeconds": 7'
expect_eq "times: 1 - the next request passes" 200 "$(api GET "/api/v1/namespaces/$ns/configmaps/a")"
expect_eq "a 500 rule answers 500" 500 "$(api GET "/api/v1/namespaces/$ns/configmaps/c")"
expect_contains "with its message" "$(cat "$work/body")" '"reason": "InternalError"' '"message": "injected boom"'
out=$(kn get configmap c 2>&1 || true)
expect_contains "kubectl reports the injected 500" "$out" "injected boom"
expect_eq "hit counts (curl and kubectl met the 500)" "1 2" "$(ctl "$CTRL/faults" | python3 -c \
    'import json,sys; print(*[r["hits"] for r in json.load(sys.stdin)["rules"]])')"

set_rules '{"rules":[{"method":"POST","path_regex":"/configmaps$","drop":"request","times":2},
                     {"method":"POST","path_regex":"/configmaps$","drop":"response","times":1}]}'
for name in d1 d2; do
    expect_eq "drop request: no answer to POST $name" 000 \
        "$(api POST "/api/v1/namespaces/$ns/configmaps" -H 'Content-Type: application/json' -d "$(cm_body $name)")"
    expect_contains "curl saw the connection end" "$(cat "$work/curl.err")" "Empty reply from server"
done
expect_eq "drop response: no answer to POST e" 000 \
    "$(api POST "/api/v1/namespaces/$ns/configmaps" -H 'Content-Type: application/json' -d "$(cm_body e)")"
expect_eq "after 2 + 1 hits the rules are spent" 201 \
    "$(api POST "/api/v1/namespaces/$ns/configmaps" -H 'Content-Type: application/json' -d "$(cm_body f)")"
expect_eq "dropped requests were never forwarded; the dropped response's create happened" \
    "configmap/a configmap/b configmap/c configmap/e configmap/f" \
    "$(kn get configmaps -o name | sort | tr '\n' ' ' | sed 's/ $//')"

# A watch and a list of the same path, told apart by the query.
kill "$watch_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true
watch_pid=
set_rules '{"rules":[{"method":"GET","path_regex":"/configmaps$","query_regex":"watch=(1|true)","status":503,"retry_after":1,"times":1}]}'
expect_eq "a list is not a watch" 200 "$(api GET "/api/v1/namespaces/$ns/configmaps")"
expect_eq "a watch matches query_regex" 503 "$(api GET "/api/v1/namespaces/$ns/configmaps?watch=1")"

expect_eq "an invalid rule is refused" 400 "$(ctl -X POST -o "$work/bad" -w '%{http_code}' \
    "$CTRL/faults" -d '{"rules":[{"path_regex":"(","delay_ms":1}]}')"
expect_contains "naming the problem" "$(cat "$work/bad")" "rule 0: bad regex"
expect_eq "unknown keys are refused" 400 "$(ctl -X POST -o "$work/bad" -w '%{http_code}' \
    "$CTRL/faults" -d '{"rules":[{"path":"/x"}]}')"
expect_eq "the old rules stay" "503" "$(ctl "$CTRL/faults" | python3 -c \
    'import json,sys; print(*[r["status"] for r in json.load(sys.stdin)["rules"]])')"
expect_eq "DELETE /faults clears them" '[]' "$(ctl -X DELETE "$CTRL/faults" | python3 -c \
    'import json,sys; print(json.dumps(json.load(sys.stdin)["rules"]))')"

# --- the request log ---------------------------------------------------------------

log=$(ctl "$CTRL/requests" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["requests"]:
    print(e["method"], e["path"], e["status"], e["rule"], e["action"], sep="|")')
expect_contains "GET /requests" "$log" \
    "POST|/api/v1/namespaces/$ns/configmaps|201|0|delay 1500 ms" \
    "GET|/api/v1/namespaces/$ns/configmaps/a|429|0|status 429 Retry-After 7" \
    "POST|/api/v1/namespaces/$ns/configmaps|None|0|drop request" \
    "POST|/api/v1/namespaces/$ns/configmaps|None|1|drop response" \
    "GET|/api/v1/namespaces/$ns/configmaps|503|0|status 503 Retry-After 1"
expect_contains "one log line per request with the rule" "$(cat "$work/proxy.log")" \
    "method=POST path=/api/v1/namespaces/$ns/configmaps status=- " 'rule=1 action="drop response"'

# --- bounds ---------------------------------------------------------------------------

printf '{"apiVersion":"v1","kind":"Config","current-context":"x","clusters":[{"name":"x","cluster":{"server":"https://10.1.2.3:6443"}}],"users":[{"name":"x","user":{"token":"t"}}],"contexts":[{"name":"x","context":{"cluster":"x","user":"x"}}]}' >"$work/remote.kubeconfig"
rc=0
"$PROXY" --kubeconfig "$work/remote.kubeconfig" >"$work/remote.out" 2>&1 || rc=$?
expect_eq "a remote upstream is refused" 2 "$rc"
expect_contains "saying why" "$(cat "$work/remote.out")" "is not on this machine's loopback"

kn get configmaps --watch -o name >/dev/null 2>&1 &
watch_pid=$!
sleep 1
t0=$(now_ms)
kill -TERM "$proxy_pid"
rc=0
wait "$proxy_pid" || rc=$?
took=$(($(now_ms) - t0))
proxy_pid=
expect_eq "SIGTERM with a watch open: exit status" 0 "$rc"
[ "$took" -lt 3000 ] || fail "SIGTERM took ${took} ms"
ok "and it stopped in ${took} ms"
curl -sS --max-time 2 "$CTRL/healthz" >/dev/null 2>&1 && fail "the control port still answers"
ok "its ports are closed"
