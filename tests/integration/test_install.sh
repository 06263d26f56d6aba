#!/usr/bin/env bash
# The install manifests against the real (loopback) API server of
# $SNAPSTAGE_CLUSTER_DIR:
#   1. `helm install` of the chart succeeds (without --wait: no kubelet runs,
#      so the controller's pod never starts), installs the CRDs from the
#      chart's crds/ if they are missing, and creates what the values ask for;
#      (without verification: no role to create Pods, no flag); `helm
#      upgrade` to watchNamespaces [team-a, team-b] + inPlaceRestore +
#      verification swaps the ClusterRoles for Roles in each of those
#      namespaces (plus the in-place restore's ClusterRole for
#      PersistentVolumes; verification has none) and passes
#      --namespace=team-a,team-b --enable-in-place-restore
#      --enable-verification; an upgrade to the older single watchNamespace
#      value keeps working (Roles in that one namespace, those of the other
#      one and of both features gone, and their flags); `helm uninstall`
#      removes every object but the CRDs (Helm never deletes CRDs);
#   2. with the CRDs applied for real from crds/, the API server accepts, with
#      `kubectl apply --dry-run=server`, every rendering: deploy/ and its
#      overlays and the namespaced examples, and the chart with its defaults,
#      with watchNamespaces + inPlaceRestore + verification, with
#      verification alone, with metrics and leader
#      election off, and with every value set (ServiceMonitor off: its CRD
#      is not installed here);
#   3. and it refuses a rendering with an unknown field (so 2 can fail).
# It leaves the cluster as it found it, except for namespaces (this test
# cluster has no namespace controller to finish deleting them): CRDs it
# installed are deleted at the end.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
: "${SNAPSTAGE_CLUSTER_DIR:?run under ctest, or set SNAPSTAGE_CLUSTER_DIR to a hack/cluster.sh dir}"
# shellcheck disable=SC1091
. "$SNAPSTAGE_CLUSTER_DIR/env"
eval "$("$REPO/hack/tools.sh" --env)"
case "$SNAPSTAGE_APISERVER_URL" in
https://127.0.0.1:* | https://localhost:*) ;;
*) echo "refusing a non-loopback API server: $SNAPSTAGE_APISERVER_URL" >&2; exit 1 ;;
esac
grep -Eq 'server: https://(127\.0\.0\.1|localhost):' "$KUBECONFIG" || { echo "KUBECONFIG is not loopback" >&2; exit 1; }

CHART=$REPO/helm/snapstage
RELEASE=snapstage-it
FULL=$RELEASE # the objects' name prefix: the release name, as it contains "snapstage"
RELEASE_NS=snapstage-helm
WATCHED=team-a # the namespaced examples' namespaces
WATCHED_B=team-b
CRDS=(backupschedules.snapstage.io backups.snapstage.io restores.snapstage.io)
# shellcheck source=../../hack/lib/crd-wait.sh
. "$REPO/hack/lib/crd-wait.sh"
TMP=$(mktemp -d)
export HELM_CONFIG_HOME=$TMP/helm/config HELM_CACHE_HOME=$TMP/helm/cache HELM_DATA_HOME=$TMP/helm/data

failures=0
checks=0
pass() { checks=$((checks + 1)); printf '  ok    %s\n' "$*"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); printf '  FAIL  %s\n' "$*"; }
show() { sed 's/^/        /' "$1"; }
check() { # description command...
    local what=$1
    shift
    if "$@" >"$TMP/out" 2>&1; then pass "$what"; else fail "$what"; show "$TMP/out"; fi
}
# exists [-n NS] OBJ...: all exist (kubectl get fails if any is missing).
exists() { "$KUBECTL" get "$@" >/dev/null 2>&1; }
# gone [-n NS] OBJ...: none exists, each asked for on its own.
gone() {
    local nsargs=() o
    if [ "$1" = -n ]; then nsargs=(-n "$2"); shift 2; fi
    for o in "$@"; do
        if "$KUBECTL" get "${nsargs[@]+"${nsargs[@]}"}" "$o" >/dev/null 2>&1; then
            echo "still there: $o"
            return 1
        fi
    done
}

crds_present=0
exists crd "${CRDS[0]}" && crds_present=1
cleanup() {
    "$HELM" uninstall "$RELEASE" -n "$RELEASE_NS" >/dev/null 2>&1 || true
    if [ $crds_present = 0 ]; then
        "$KUBECTL" delete crd "${CRDS[@]}" --ignore-not-found >/dev/null 2>&1 || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

for ns in snapstage-system "$WATCHED" "$WATCHED_B"; do
    "$KUBECTL" create namespace "$ns" --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
done

# --- 1. helm install / upgrade / uninstall -----------------------------------
echo "== helm install, upgrade, uninstall (release $RELEASE in $RELEASE_NS)"
t0=$SECONDS
check "helm install $RELEASE --create-namespace (no --wait)" \
    "$HELM" install "$RELEASE" "$CHART" -n "$RELEASE_NS" --create-namespace
if [ $crds_present = 0 ]; then
    check "the chart installed the CRDs, and they are Established" \
        crd_wait_established 60 "${CRDS[@]}"
else
    pass "the CRDs existed before: Helm left them alone"
fi
status=$("$HELM" status "$RELEASE" -n "$RELEASE_NS" -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["info"]["status"])' || true)
if [ "$status" = deployed ]; then pass "release status: deployed"; else fail "release status: '$status'"; fi
check "Deployment $FULL" exists -n "$RELEASE_NS" deployment "$FULL"
image=$("$KUBECTL" -n "$RELEASE_NS" get deployment "$FULL" -o jsonpath='{.spec.template.spec.containers[0].image}' 2>/dev/null || true)
if [ "$image" = snapstage:0.1.0 ]; then pass "image $image"; else fail "image '$image'"; fi
check "ServiceAccount, metrics Service, leader-election Role" \
    exists -n "$RELEASE_NS" serviceaccount/"$FULL" service/"$FULL-metrics" \
    role/"$FULL-leader-election" rolebinding/"$FULL-leader-election"
check "ClusterRoles for all namespaces and cluster reads" \
    exists clusterrole/"$FULL" clusterrole/"$FULL-cluster-reads" \
    clusterrolebinding/"$FULL" clusterrolebinding/"$FULL-cluster-reads"
check "no verification role by default (no Pod is created anywhere)" \
    gone clusterrole/"$FULL-verification" clusterrolebinding/"$FULL-verification"

deploy_args() {
    "$KUBECTL" -n "$RELEASE_NS" get deployment "$FULL" \
        -o jsonpath='{.spec.template.spec.containers[0].args}' 2>/dev/null || true
}
check "helm upgrade --set watchNamespaces={$WATCHED,$WATCHED_B} --set inPlaceRestore.enabled=true --set verification.enabled=true" \
    "$HELM" upgrade "$RELEASE" "$CHART" -n "$RELEASE_NS" \
    --set "watchNamespaces={$WATCHED,$WATCHED_B}" --set inPlaceRestore.enabled=true \
    --set verification.enabled=true
for ns in "$WATCHED" "$WATCHED_B"; do
    check "Roles in $ns (namespaced rules, in-place restore, verification)" \
        exists -n "$ns" role/"$FULL" rolebinding/"$FULL" \
        role/"$FULL-in-place-restore" rolebinding/"$FULL-in-place-restore" \
        role/"$FULL-verification" rolebinding/"$FULL-verification"
done
check "verification is a Role per watched namespace only: no ClusterRole" \
    gone clusterrole/"$FULL-verification" clusterrolebinding/"$FULL-verification"
check "the in-place restore's ClusterRole for PersistentVolumes (cluster-scoped)" \
    exists clusterrole/"$FULL-in-place-restore-volumes" \
    clusterrolebinding/"$FULL-in-place-restore-volumes"
check "the all-namespaces ClusterRole and binding are gone" \
    gone clusterrole/"$FULL" clusterrolebinding/"$FULL"
args=$(deploy_args)
case "$args" in
*'"--namespace='"$WATCHED,$WATCHED_B"'"'*'"--enable-in-place-restore"'*'"--enable-verification"'*) pass "Deployment args now include --namespace=$WATCHED,$WATCHED_B --enable-in-place-restore --enable-verification" ;;
*) fail "Deployment args after upgrade: $args" ;;
esac
check "helm upgrade --set watchNamespace=$WATCHED (the older single value)" \
    "$HELM" upgrade "$RELEASE" "$CHART" -n "$RELEASE_NS" --set watchNamespace="$WATCHED"
check "its Role in $WATCHED stays" exists -n "$WATCHED" role/"$FULL" rolebinding/"$FULL"
check "the Roles in $WATCHED_B and the in-place restore's are gone" \
    gone -n "$WATCHED_B" role/"$FULL" rolebinding/"$FULL" role/"$FULL-in-place-restore" \
    clusterrole/"$FULL-in-place-restore-volumes"
check "the verification Roles are gone (in $WATCHED too)" \
    gone -n "$WATCHED" role/"$FULL-verification" rolebinding/"$FULL-verification"
check "...and in $WATCHED_B" \
    gone -n "$WATCHED_B" role/"$FULL-verification" rolebinding/"$FULL-verification"
args=$(deploy_args)
case "$args" in
*'"--namespace='"$WATCHED"'"'*) case "$args" in *in-place* | *verification*) fail "args still enable in-place or verification: $args" ;; *) pass "Deployment args: --namespace=$WATCHED, no in-place restore, no verification" ;; esac ;;
*) fail "Deployment args after the second upgrade: $args" ;;
esac

check "helm uninstall $RELEASE" "$HELM" uninstall "$RELEASE" -n "$RELEASE_NS"
check "its objects are gone" \
    gone -n "$RELEASE_NS" deployment/"$FULL" serviceaccount/"$FULL" \
    service/"$FULL-metrics" role/"$FULL-leader-election"
check "its Roles in $WATCHED and its ClusterRoles are gone" \
    gone -n "$WATCHED" role/"$FULL" role/"$FULL-in-place-restore" \
    rolebinding/"$FULL" clusterrole/"$FULL-cluster-reads" clusterrolebinding/"$FULL-cluster-reads" \
    clusterrole/"$FULL-in-place-restore-volumes" clusterrolebinding/"$FULL-in-place-restore-volumes"
check "the CRDs stay (Helm keeps CRDs on uninstall)" exists "${CRDS[@]/#/crd/}"
echo "   ($((SECONDS - t0))s)"

# --- 2. Every rendering, accepted by the API server -------------------------
echo "== kubectl apply --dry-run=server"
t0=$SECONDS
check "kubectl apply -k crds/ (for real, so the API server knows the kinds)" \
    "$KUBECTL" apply -k "$REPO/crds"
check "CRDs Established" crd_wait_established 60 "${CRDS[@]}"

dry_run() { # description file
    local n
    if "$KUBECTL" apply --dry-run=server -f "$2" >"$TMP/out" 2>&1; then
        n=$(grep -c '(server dry run)' "$TMP/out" || true)
        pass "$1: $n objects accepted"
    else
        fail "$1"
        show "$TMP/out"
    fi
}
for k in deploy deploy/in-place-restore deploy/verification deploy/examples/namespaced \
    deploy/examples/namespaced-in-place-restore deploy/examples/namespaced-verification; do
    if "$KUBECTL" kustomize "$REPO/$k" >"$TMP/k.yaml" 2>"$TMP/out"; then
        dry_run "kubectl kustomize $k" "$TMP/k.yaml"
    else
        fail "kubectl kustomize $k"
        show "$TMP/out"
    fi
done
cat >"$TMP/all-values.yaml" <<'EOF'
image: {repository: registry.example/snapstage, tag: "0.1.0", pullPolicy: Always, pullSecrets: [regcred]}
replicaCount: 2
serviceAccount: {annotations: {example.com/role: backup}}
watchNamespaces: [team-a, team-b]
watchNamespace: team-a
inPlaceRestore: {enabled: true}
verification: {enabled: true}
leaderElection: {id: snap-leader, leaseDuration: 30s, renewDeadline: 20s, retryPeriod: 4s}
logLevel: debug
logFormat: text
workers: 6
shutdownTimeout: 1m
terminationGracePeriodSeconds: 90
metrics: {port: 9090, service: {type: NodePort, port: 9090, annotations: {example.com/scrape: "true"}}}
healthProbePort: 9091
resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 2, memory: 512Mi}}
commonLabels: {team: storage}
podLabels: {tier: control}
podAnnotations: {example.com/note: hello}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: infra, effect: NoSchedule}]
affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/arch, operator: In, values: [amd64]}]}]}}}
priorityClassName: system-cluster-critical
EOF
helm_dry_run() { # description helm-args...
    local what=$1
    shift
    if "$HELM" template snapstage "$CHART" -n snapstage-system "$@" >"$TMP/h.yaml" 2>"$TMP/out"; then
        dry_run "$what" "$TMP/h.yaml"
    else
        fail "$what: helm template failed"
        show "$TMP/out"
    fi
}
helm_dry_run "helm template (defaults)"
helm_dry_run "helm template watchNamespaces={$WATCHED,$WATCHED_B} inPlaceRestore verification serviceMonitor off" \
    --set "watchNamespaces={$WATCHED,$WATCHED_B}" --set inPlaceRestore.enabled=true \
    --set verification.enabled=true --set metrics.serviceMonitor.enabled=false
helm_dry_run "helm template verification (all namespaces)" --set verification.enabled=true
helm_dry_run "helm template metrics, leader election off" \
    --set metrics.enabled=false --set leaderElection.enabled=false
helm_dry_run "helm template with every value set" -f "$TMP/all-values.yaml"

# --- 3. ...and refused when wrong --------------------------------------------
"$KUBECTL" kustomize "$REPO/deploy" | sed 's/^  replicas: 1$/  replicas: 1\n  replicaz: 1/' >"$TMP/bad.yaml"
if "$KUBECTL" apply --dry-run=server -f "$TMP/bad.yaml" >"$TMP/out" 2>&1; then
    fail "a Deployment with an unknown field was accepted: the dry runs above prove nothing"
elif grep -q 'unknown field "replicaz"' "$TMP/out"; then
    pass "a Deployment with an unknown field is refused (unknown field \"replicaz\")"
else
    fail "the bad Deployment failed for another reason"
    show "$TMP/out"
fi
echo "   ($((SECONDS - t0))s)"

echo
echo "test_install: $checks checks, $failures failed"
[ "$failures" = 0 ]
