#!/usr/bin/env bash
# Static checks of the install manifests, no cluster needed:
#   - the chart's CRDs are identical to crds/ (hack/sync-crds.sh --check);
#   - every kustomization builds (deploy/, its base, the in-place-restore
#     and verification overlays, the namespaced examples);
#   - the namespaced example's Role is the base ClusterRole's rules, the
#     in-place example's Role the namespaced rules of the in-place
#     ClusterRole, and the namespaced verification example's Role the
#     verification ClusterRole's rules (the copies cannot drift); the
#     chart's verification role has those rules too;
#   - `helm lint --strict` passes for the defaults, for watchNamespaces +
#     inPlaceRestore + verification, and for a values file that sets every
#     value;
#   - bad values fail: the schema rejects them (lint), or the templates
#     refuse impossible combinations (template);
#   - every controller flag the manifests pass is one `snapstage --help`
#     lists, and the args are the ones each mode needs;
#   - pod and container security settings are in every rendering;
#   - the ServiceMonitor is rendered only when asked for, and the
#     verification role only with verification.enabled.
#
# Usage: test_manifests.sh PATH-TO-snapstage-BINARY
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:?usage: $0 PATH-TO-snapstage}
eval "$("$REPO/hack/tools.sh" --env)"
CHART=$REPO/helm/snapstage
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Helm's own config and cache stay out of the user's home.
export HELM_CONFIG_HOME=$TMP/helm/config HELM_CACHE_HOME=$TMP/helm/cache HELM_DATA_HOME=$TMP/helm/data

failures=0
checks=0
pass() { checks=$((checks + 1)); printf '  ok    %s\n' "$*"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); printf '  FAIL  %s\n' "$*"; }
# check DESCRIPTION COMMAND...: passes if the command succeeds.
check() {
    local what=$1
    shift
    if "$@" >"$TMP/out" 2>&1; then pass "$what"; else fail "$what"; sed 's/^/        /' "$TMP/out"; fi
}
# refuse DESCRIPTION PATTERN COMMAND...: passes if the command fails and its
# output matches PATTERN (the reason we expect, not any failure).
refuse() {
    local what=$1 pattern=$2
    shift 2
    if "$@" >"$TMP/out" 2>&1; then
        fail "$what: was accepted"
    elif grep -Eq -- "$pattern" "$TMP/out"; then
        pass "$what: refused ($(grep -Eo -m1 -- "$pattern" "$TMP/out"))"
    else
        fail "$what: failed, but not with /$pattern/:"
        sed 's/^/        /' "$TMP/out"
    fi
}

# A values file that sets every value of the chart to something non-default.
cat >"$TMP/all-values.yaml" <<'EOF'
image: {repository: registry.example/snapstage, tag: "0.1.0", pullPolicy: Always, pullSecrets: [regcred]}
replicaCount: 2
nameOverride: snap
fullnameOverride: snap-ctl
serviceAccount: {create: true, name: snap-sa, annotations: {example.com/role: backup}}
rbac: {create: true}
watchNamespaces: [team-a, team-b]
watchNamespace: team-c
inPlaceRestore: {enabled: true}
verification: {enabled: true}
leaderElection: {enabled: true, id: snap-leader, leaseDuration: 30s, renewDeadline: 20s, retryPeriod: 4s}
logLevel: debug
logFormat: text
workers: 6
shutdownTimeout: 1m
terminationGracePeriodSeconds: 90
metrics:
  enabled: true
  port: 9090
  service: {type: ClusterIP, port: 9090, annotations: {example.com/scrape: "true"}}
  serviceMonitor: {enabled: true, interval: 15s, scrapeTimeout: 10s, labels: {release: prometheus}}
healthProbePort: 9091
resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 2, memory: 512Mi}}
commonLabels: {team: storage}
podLabels: {tier: control}
podAnnotations: {example.com/note: hello}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: infra, effect: NoSchedule}]
affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]}]}}}
priorityClassName: system-cluster-critical
podSecurityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: {drop: [ALL]}}
EOF

echo "== CRDs"
check "hack/sync-crds.sh --check: helm/snapstage/crds/ == crds/" "$REPO/hack/sync-crds.sh" --check

echo "== kustomize"
declare -A KUST=(
    [deploy]=$REPO/deploy
    [base]=$REPO/deploy/base
    [in-place-restore]=$REPO/deploy/in-place-restore
    [namespaced]=$REPO/deploy/examples/namespaced
    [namespaced-in-place-restore]=$REPO/deploy/examples/namespaced-in-place-restore
    [verification]=$REPO/deploy/verification
    [namespaced-verification]=$REPO/deploy/examples/namespaced-verification
)
for k in deploy base in-place-restore namespaced namespaced-in-place-restore verification \
    namespaced-verification; do
    check "kubectl kustomize ${KUST[$k]#"$REPO/"}" "$KUBECTL" kustomize "${KUST[$k]}"
    "$KUBECTL" kustomize "${KUST[$k]}" >"$TMP/kust-$k.yaml" 2>/dev/null || true
done

echo "== the namespaced examples' Roles are copies of the ClusterRoles' rules"
# rules_of FILE KIND NAME: the rules of that object, as sorted JSON.
rules_of() {
    python3 -c '
import json, re, sys
path, kind, name = sys.argv[1:]
docs = re.split(r"^---[^\n]*$", open(path).read(), flags=re.M)
import yaml
for d in docs:
    o = yaml.safe_load(d)
    if o and o.get("kind") == kind and o["metadata"]["name"] == name:
        rules = [{k: sorted(v) for k, v in r.items()} for r in o["rules"]]
        key = lambda r: (r.get("apiGroups"), r.get("resources"))
        print(json.dumps(sorted(rules, key=key)))
        break
else:
    sys.exit("no %s %s in %s" % (kind, name, path))' "$@"
}
same_rules() { # description file-a kind-a name-a file-b kind-b name-b [drop-resource]
    local a b
    a=$(rules_of "$2" "$3" "$4") && b=$(rules_of "$5" "$6" "$7") || { fail "$1: not found"; return; }
    if [ -n "${8:-}" ]; then
        a=$(python3 -c 'import json,sys; print(json.dumps([r for r in json.loads(sys.argv[1]) if sys.argv[2] not in r["resources"]]))' "$a" "$8")
    fi
    if [ "$a" = "$b" ]; then pass "$1"; else fail "$1"; printf '        %s
        %s
' "$a" "$b"; fi
}
same_rules "namespaced/role/role.yaml == base/rbac/clusterrole.yaml" \
    "$REPO/deploy/base/rbac/clusterrole.yaml" ClusterRole snapstage-controller \
    "$REPO/deploy/examples/namespaced/role/role.yaml" Role snapstage-controller
same_rules "namespaced-in-place-restore/role/role.yaml == in-place-restore/clusterrole.yaml without persistentvolumes" \
    "$REPO/deploy/in-place-restore/clusterrole.yaml" ClusterRole snapstage-controller-in-place-restore \
    "$REPO/deploy/examples/namespaced-in-place-restore/role/role.yaml" Role \
    snapstage-controller-in-place-restore persistentvolumes
same_rules "namespaced-verification/role/role.yaml == verification/clusterrole.yaml" \
    "$REPO/deploy/verification/clusterrole.yaml" ClusterRole snapstage-controller-verification \
    "$REPO/deploy/examples/namespaced-verification/role/role.yaml" Role \
    snapstage-controller-verification

echo "== helm lint"
check "helm lint --strict (defaults)" "$HELM" lint --strict "$CHART"
check "helm lint --strict --set watchNamespaces={x,y} --set inPlaceRestore.enabled=true --set verification.enabled=true" \
    "$HELM" lint --strict "$CHART" --set "watchNamespaces={x,y}" --set inPlaceRestore.enabled=true \
    --set verification.enabled=true
check "helm lint --strict --set verification.enabled=true" \
    "$HELM" lint --strict "$CHART" --set verification.enabled=true
check "helm lint --strict --set watchNamespace=x (the older single value)" \
    "$HELM" lint --strict "$CHART" --set watchNamespace=x
check "helm lint --strict -f <every value set>" "$HELM" lint --strict "$CHART" -f "$TMP/all-values.yaml"

echo "== the schema refuses bad values"
refuse "logFormat=xml" "/logFormat.*must be one of" "$HELM" lint "$CHART" --set logFormat=xml
refuse "logLevel=trace" "/logLevel.*must be one of" "$HELM" lint "$CHART" --set logLevel=trace
refuse "workers=0" "/workers" "$HELM" lint "$CHART" --set workers=0
refuse "workers=65" "/workers" "$HELM" lint "$CHART" --set workers=65
refuse "an unknown top-level key" "additional properties 'unknownKey'" "$HELM" lint "$CHART" --set unknownKey=1
refuse "a misspelt nested key" "additional properties 'enable'" "$HELM" lint "$CHART" --set inPlaceRestore.enable=true
refuse "watchNamespace=Not_A_Namespace" "/watchNamespace" "$HELM" lint "$CHART" --set watchNamespace=Not_A_Namespace
refuse "watchNamespaces={ok,Not_A_Namespace}" "/watchNamespaces/1" \
    "$HELM" lint "$CHART" --set "watchNamespaces={ok,Not_A_Namespace}"
refuse "watchNamespaces={a,a}" "/watchNamespaces" "$HELM" lint "$CHART" --set "watchNamespaces={a,a}"
refuse "watchNamespaces=a (not a list)" "/watchNamespaces" "$HELM" lint "$CHART" --set watchNamespaces=a
refuse "image.pullPolicy=Sometimes" "/image/pullPolicy" "$HELM" lint "$CHART" --set image.pullPolicy=Sometimes
refuse "leaderElection.leaseDuration=fifteen" "/leaderElection/leaseDuration" \
    "$HELM" lint "$CHART" --set leaderElection.leaseDuration=fifteen
refuse "resources.requests.memory=lots" "/resources/requests/memory" \
    "$HELM" lint "$CHART" --set resources.requests.memory=lots
refuse "inPlaceRestore.enabled=yes (a string)" "/inPlaceRestore/enabled" \
    "$HELM" lint "$CHART" --set-string inPlaceRestore.enabled=yes
refuse "verification.enabled=yes (a string)" "/verification/enabled" \
    "$HELM" lint "$CHART" --set-string verification.enabled=yes
refuse "a misspelt verification key" "additional properties 'enable'" \
    "$HELM" lint "$CHART" --set verification.enable=true

echo "== the templates refuse impossible combinations"
refuse "replicaCount=2 without leader election" "replicaCount > 1 needs leaderElection.enabled" \
    "$HELM" template t "$CHART" --set replicaCount=2 --set leaderElection.enabled=false
refuse "a ServiceMonitor without metrics" "serviceMonitor.enabled needs metrics.enabled" \
    "$HELM" template t "$CHART" --set metrics.enabled=false --set metrics.serviceMonitor.enabled=true
refuse "serviceAccount.create=false without a name" "serviceAccount.name is required" \
    "$HELM" template t "$CHART" --set serviceAccount.create=false

render() { # file helm-args...
    local f=$1
    shift
    "$HELM" template snapstage "$CHART" -n snapstage-system "$@" >"$TMP/$f" 2>"$TMP/$f.err" ||
        { fail "helm template $*"; sed 's/^/        /' "$TMP/$f.err"; return 0; }
}
render helm-default.yaml
render helm-ns-ip.yaml --set "watchNamespaces={team-a,team-b}" --set inPlaceRestore.enabled=true
render helm-vf.yaml --set verification.enabled=true
render helm-ns-vf.yaml --set "watchNamespaces={team-a,team-b}" --set verification.enabled=true
render helm-ns-one.yaml --set watchNamespace=team-a
render helm-all.yaml -f "$TMP/all-values.yaml"
render helm-quiet.yaml --set metrics.enabled=false --set leaderElection.enabled=false --set rbac.create=false

# The container args of a rendering: the "- --flag..." lines.
args_of() { sed -n 's/^ *- \(--[a-z].*\)$/\1/p' "$TMP/$1" | sed 's/ *#.*//'; }

echo "== every flag passed is one snapstage --help lists"
"$BIN" --help >"$TMP/help" || { fail "$BIN --help"; }
for f in kust-deploy.yaml kust-in-place-restore.yaml kust-namespaced.yaml \
    kust-namespaced-in-place-restore.yaml kust-verification.yaml kust-namespaced-verification.yaml \
    helm-default.yaml helm-ns-ip.yaml helm-ns-one.yaml helm-vf.yaml helm-ns-vf.yaml \
    helm-all.yaml helm-quiet.yaml; do
    unknown=()
    while read -r a; do
        flag=${a%%=*}
        grep -Eq -- "^  $flag( |$)" "$TMP/help" || unknown+=("$flag")
    done < <(args_of "$f")
    n=$(args_of "$f" | wc -l)
    if [ "$n" -gt 0 ] && [ ${#unknown[@]} = 0 ]; then
        pass "$f: all $n args are snapstage flags"
    else
        fail "$f: ${n} args; unknown to snapstage: ${unknown[*]:-(no args found)}"
    fi
done

echo "== the args each mode needs"
# has_args FILE ARG...: every ARG is among FILE's args; lacks_args likewise none.
has_args() {
    local f=$1 a missing=()
    shift
    for a in "$@"; do args_of "$f" | grep -qxF -- "$a" || missing+=("$a"); done
    if [ ${#missing[@]} = 0 ]; then pass "$f has $*"; else fail "$f lacks ${missing[*]}"; fi
}
lacks_args() {
    local f=$1 a found=()
    shift
    for a in "$@"; do args_of "$f" | grep -q -- "^$a" && found+=("$a"); done
    if [ ${#found[@]} = 0 ]; then pass "$f has no $*"; else fail "$f has ${found[*]}"; fi
}
# shellcheck disable=SC2016 # $(POD_NAMESPACE) is literal: the kubelet expands it
want_deploy=(--leader-elect '--leader-election-namespace=$(POD_NAMESPACE)' --metrics-bind-address=:8080
    --health-probe-bind-address=:8081 --workers=4 --log-format=json)
if [ "$(args_of kust-deploy.yaml)" = "$(printf '%s\n' "${want_deploy[@]}")" ]; then
    pass "kust-deploy.yaml args are exactly: ${want_deploy[*]}"
else
    fail "kust-deploy.yaml args: $(args_of kust-deploy.yaml | tr '\n' ' ')"
fi
lacks_args kust-deploy.yaml --enable-in-place-restore --enable-verification --namespace
has_args kust-in-place-restore.yaml "${want_deploy[@]}" --enable-in-place-restore
lacks_args kust-in-place-restore.yaml --enable-verification
has_args kust-verification.yaml "${want_deploy[@]}" --enable-verification
lacks_args kust-verification.yaml --enable-in-place-restore --namespace
has_args kust-namespaced.yaml "${want_deploy[@]}" --namespace=team-a,team-b
lacks_args kust-namespaced.yaml --enable-in-place-restore --enable-verification
has_args kust-namespaced-in-place-restore.yaml "${want_deploy[@]}" --namespace=team-a,team-b \
    --enable-in-place-restore
lacks_args kust-namespaced-in-place-restore.yaml --enable-verification
has_args kust-namespaced-verification.yaml "${want_deploy[@]}" --namespace=team-a,team-b \
    --enable-verification
lacks_args kust-namespaced-verification.yaml --enable-in-place-restore
has_args helm-default.yaml "${want_deploy[@]}" --leader-elect-lease-duration=15s \
    --leader-elect-renew-deadline=10s --leader-elect-retry-period=2s --workers=4 --log-level=info
lacks_args helm-default.yaml --enable-in-place-restore --enable-verification --namespace \
    --leader-election-id
has_args helm-ns-ip.yaml --namespace=team-a,team-b --enable-in-place-restore
lacks_args helm-ns-ip.yaml --enable-verification
has_args helm-vf.yaml --enable-verification
lacks_args helm-vf.yaml --enable-in-place-restore --namespace
has_args helm-ns-vf.yaml --namespace=team-a,team-b --enable-verification
has_args helm-ns-one.yaml --namespace=team-a
has_args helm-all.yaml --namespace=team-a,team-b,team-c --enable-in-place-restore --enable-verification \
    --leader-election-id=snap-leader \
    --leader-elect-lease-duration=30s --leader-elect-renew-deadline=20s --leader-elect-retry-period=4s \
    --metrics-bind-address=:9090 --health-probe-bind-address=:9091 --workers=6 --shutdown-timeout=1m \
    --log-level=debug --log-format=text
has_args helm-quiet.yaml --metrics-bind-address=0
lacks_args helm-quiet.yaml --leader-elect

echo "== security settings and objects"
# Lines every Deployment rendering must contain (indentation ignored).
secure=('runAsNonRoot: true' 'runAsUser: 65532' 'readOnlyRootFilesystem: true'
    'allowPrivilegeEscalation: false' '- ALL' 'type: RuntimeDefault' 'automountServiceAccountToken: true'
    'path: /healthz' 'path: /readyz' 'name: health' 'fieldPath: metadata.namespace')
for f in kust-deploy.yaml kust-namespaced.yaml helm-default.yaml helm-ns-ip.yaml; do
    missing=()
    for s in "${secure[@]}"; do grep -qE "^ *(- )?$(sed 's/[][\/.*$^]/\\&/g' <<<"$s")\$" "$TMP/$f" || missing+=("$s"); done
    if [ ${#missing[@]} = 0 ]; then pass "$f: securityContext, probes, token and POD_NAMESPACE"; else fail "$f lacks: ${missing[*]}"; fi
done
count() { grep -c "^kind: $2\$" "$TMP/$1" || true; }
if [ "$(count helm-default.yaml ServiceMonitor)" = 0 ]; then pass "no ServiceMonitor by default"; else fail "ServiceMonitor rendered by default"; fi
if [ "$(count helm-all.yaml ServiceMonitor)" = 1 ]; then pass "a ServiceMonitor when enabled"; else fail "no ServiceMonitor when enabled"; fi
if [ "$(count helm-quiet.yaml Service)" = 0 ]; then pass "no metrics Service with metrics.enabled=false"; else fail "metrics Service without metrics"; fi
if [ "$(count helm-quiet.yaml ClusterRole)$(count helm-quiet.yaml Role)" = 00 ]; then pass "no RBAC with rbac.create=false"; else fail "RBAC rendered with rbac.create=false"; fi
if [ "$(count helm-default.yaml ClusterRole)$(count helm-default.yaml Role)" = 21 ]; then
    pass "defaults: 2 ClusterRoles (namespaced rules, cluster reads) + leader-election Role"
else
    fail "defaults: $(count helm-default.yaml ClusterRole) ClusterRoles, $(count helm-default.yaml Role) Roles"
fi
if [ "$(count helm-ns-ip.yaml ClusterRole)$(count helm-ns-ip.yaml Role)" = 25 ]; then
    pass "watchNamespaces(2)+inPlaceRestore: 2 ClusterRoles (cluster reads, in-place PersistentVolumes) + 2 Roles per namespace + leader election"
else
    fail "watchNamespaces(2)+inPlaceRestore: $(count helm-ns-ip.yaml ClusterRole) ClusterRoles, $(count helm-ns-ip.yaml Role) Roles"
fi
if [ "$(count kust-namespaced.yaml ClusterRole)$(count kust-namespaced.yaml Role)" = 13 ]; then
    pass "namespaced example: 1 ClusterRole (cluster reads) + a Role per namespace (2) + leader election"
else
    fail "namespaced example: $(count kust-namespaced.yaml ClusterRole) ClusterRoles, $(count kust-namespaced.yaml Role) Roles"
fi
if [ "$(count kust-namespaced-in-place-restore.yaml ClusterRole)$(count kust-namespaced-in-place-restore.yaml Role)" = 25 ]; then
    pass "namespaced in-place example: 2 ClusterRoles + 2 Roles per namespace + leader election"
else
    fail "namespaced in-place example: $(count kust-namespaced-in-place-restore.yaml ClusterRole) ClusterRoles, $(count kust-namespaced-in-place-restore.yaml Role) Roles"
fi
# The verification role: only when enabled, a ClusterRole without watched
# namespaces and a Role in each watched one, with the rules of
# deploy/verification/ (rules_of needs a named object in a file: pick it
# out of the rendering).
# named FILE SUFFIX: lines naming snapstage-SUFFIX at indent 2 (a role's
# and its binding's metadata.name, the binding's roleRef.name: 3 each).
named() { grep -c "^  name: snapstage-$2\$" "$TMP/$1" || true; }
for f in helm-default.yaml helm-ns-ip.yaml helm-ns-one.yaml helm-quiet.yaml; do
    if [ "$(named "$f" verification)" = 0 ]; then pass "$f: no verification role"; else fail "$f: a verification role without verification.enabled"; fi
done
if [ "$(count helm-vf.yaml ClusterRole)$(count helm-vf.yaml Role)$(named helm-vf.yaml verification)" = 313 ]; then
    pass "verification: 3 ClusterRoles (namespaced rules, cluster reads, verification) + leader election; one verification role and binding"
else
    fail "verification: $(count helm-vf.yaml ClusterRole) ClusterRoles, $(count helm-vf.yaml Role) Roles, $(named helm-vf.yaml verification) names snapstage-verification"
fi
if [ "$(count helm-ns-vf.yaml ClusterRole)$(count helm-ns-vf.yaml Role)$(named helm-ns-vf.yaml verification)" = 156 ]; then
    pass "watchNamespaces(2)+verification: 1 ClusterRole (cluster reads) + 2 Roles per namespace + leader election; 2 verification Roles and bindings"
else
    fail "watchNamespaces(2)+verification: $(count helm-ns-vf.yaml ClusterRole) ClusterRoles, $(count helm-ns-vf.yaml Role) Roles, $(named helm-ns-vf.yaml verification) names snapstage-verification"
fi
same_rules "the chart's verification ClusterRole == deploy/verification/clusterrole.yaml" \
    "$REPO/deploy/verification/clusterrole.yaml" ClusterRole snapstage-controller-verification \
    "$TMP/helm-vf.yaml" ClusterRole snapstage-verification
if [ "$(count kust-verification.yaml ClusterRole)$(count kust-verification.yaml Role)" = 31 ]; then
    pass "verification overlay: 3 ClusterRoles + leader election"
else
    fail "verification overlay: $(count kust-verification.yaml ClusterRole) ClusterRoles, $(count kust-verification.yaml Role) Roles"
fi
if [ "$(count kust-namespaced-verification.yaml ClusterRole)$(count kust-namespaced-verification.yaml Role)" = 15 ]; then
    pass "namespaced verification example: 1 ClusterRole (cluster reads) + 2 Roles per namespace + leader election"
else
    fail "namespaced verification example: $(count kust-namespaced-verification.yaml ClusterRole) ClusterRoles, $(count kust-namespaced-verification.yaml Role) Roles"
fi
if grep -q 'image: "registry.example/snapstage:0.1.0"' "$TMP/helm-all.yaml"; then pass "image repository and tag"; else fail "image not rendered from values"; fi
if grep -q 'image: "snapstage:0.1.0"' "$TMP/helm-default.yaml"; then pass "default image snapstage:<appVersion>"; else fail "default image"; fi

echo
echo "test_manifests: $checks checks, $failures failed"
[ "$failures" = 0 ]
