#!/usr/bin/env bash
# Least privilege, checked against the real API server: the controller's
# ServiceAccount may do exactly what deploy/ and the Helm chart grant, and
# nothing the table below says it must not.
#
# For each install mode it applies only the RBAC objects (ServiceAccount,
# ClusterRoles, Roles and their bindings) that the manifests render, mints the
# ServiceAccount's token with TokenRequest (`kubectl create token`), and asks
# the API server, as that token, one SelfSubjectAccessReview per line of the
# table. Modes, each with a column of the table:
#
#   all        kubectl kustomize deploy/                     | helm (defaults)
#   inplace    kubectl kustomize deploy/in-place-restore/    | helm inPlaceRestore.enabled
#   single     kubectl kustomize deploy/examples/single-namespace/ | helm watchNamespace
#   single+ip  (helm only) watchNamespace + inPlaceRestore.enabled
#
# Every check is printed. The token stays in a 0600 file read by the checker
# (never on a command line or in the output). Talks only to the loopback API
# server of $SNAPSTAGE_CLUSTER_DIR/env. Namespaces it creates are left in
# place (this test cluster has no namespace controller to finish deleting
# them); every RBAC object it applied is deleted at the end.
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

CTL_NS=snapstage-system # the controller's namespace (deploy/ and the release)
WATCHED=mariadb         # the watched namespace (the single-namespace example's)
OTHER=snapstage-rbac-other
SA=snapstage-controller

# ---------------------------------------------------------------------------
# The table. verbs (comma-separated: one check each), API group (core = ""),
# resource[/subresource], namespace, then yes/no per mode. Namespaces:
# @watched, @other, @ctl (the controller's own); "*" = all namespaces (a
# cluster-wide list, as an all-namespaces informer makes); "-" =
# cluster-scoped.
# ---------------------------------------------------------------------------
TABLE=$(
    cat <<'EOF'
# verbs                             group                    resource                        ns        all inplace single single+ip
# -- its own resources
get,list,watch,update,patch         snapstage.io             backupschedules                 @watched  yes yes     yes    yes
get,list,watch,update,patch         snapstage.io             backups                         @watched  yes yes     yes    yes
get,list,watch,update,patch         snapstage.io             restores                        @watched  yes yes     yes    yes
create,delete                       snapstage.io             backups                         @watched  yes yes     yes    yes
get,update,patch                    snapstage.io             backupschedules/status          @watched  yes yes     yes    yes
get,update,patch                    snapstage.io             backups/status                  @watched  yes yes     yes    yes
get,update,patch                    snapstage.io             restores/status                 @watched  yes yes     yes    yes
update                              snapstage.io             backupschedules/finalizers      @watched  yes yes     yes    yes
update                              snapstage.io             backups/finalizers              @watched  yes yes     yes    yes
update                              snapstage.io             restores/finalizers             @watched  yes yes     yes    yes
create,delete                       snapstage.io             backupschedules                 @watched  no  no      no     no
create,delete                       snapstage.io             restores                        @watched  no  no      no     no
# -- snapshots
get,list,watch,create,delete,patch  snapshot.storage.k8s.io  volumesnapshots                 @watched  yes yes     yes    yes
update                              snapshot.storage.k8s.io  volumesnapshots                 @watched  no  no      no     no
get,list,watch                      snapshot.storage.k8s.io  volumesnapshotclasses           -         yes yes     yes    yes
create,update,delete                snapshot.storage.k8s.io  volumesnapshotclasses           -         no  no      no     no
get,list,watch                      storage.k8s.io           storageclasses                  -         yes yes     yes    yes
create,update,delete                storage.k8s.io           storageclasses                  -         no  no      no     no
get                                 snapshot.storage.k8s.io  volumesnapshotcontents          -         yes yes     yes    yes
list,watch,create,update,patch,delete snapshot.storage.k8s.io volumesnapshotcontents         -         no  no      no     no
# -- the database's pods, StatefulSets, claims and the one Secret a resource names
get,list,watch                      core                     pods                            @watched  yes yes     yes    yes
create,delete                       core                     pods                            @watched  no  no      no     no
create                              core                     pods/exec                       @watched  no  no      no     no
get,list,watch                      apps                     statefulsets                    @watched  yes yes     yes    yes
create,update,patch,delete          apps                     statefulsets                    @watched  no  no      no     no
get,list,watch,create,delete        core                     persistentvolumeclaims          @watched  yes yes     yes    yes
update                              core                     persistentvolumeclaims          @watched  no  no      no     no
get                                 core                     secrets                         @watched  yes yes     yes    yes
list,watch                          core                     secrets                         @watched  no  no      no     no
list,watch                          core                     secrets                         *         no  no      no     no
create,update,delete                core                     secrets                         @watched  no  no      no     no
get,list                            core                     configmaps                      @watched  no  no      no     no
# -- in-place restore only (PersistentVolumes are cluster-scoped: a
# ClusterRole even with one watched namespace)
get,update,patch                    apps                     statefulsets/scale              @watched  no  yes     no     yes
get,patch                           core                     persistentvolumes               -         no  yes     no     yes
list,watch,create,update,delete     core                     persistentvolumes               -         no  no      no     no
# -- events
create,patch                        core                     events                          @watched  yes yes     yes    yes
create,patch                        events.k8s.io            events                          @watched  yes yes     yes    yes
delete                              events.k8s.io            events                          @watched  no  no      no     no
# -- all namespaces vs one: cluster-wide lists, and other namespaces
list,watch                          snapstage.io             backups                         *         yes yes     no     no
list,watch                          core                     pods                            *         yes yes     no     no
get                                 core                     secrets                         @other    yes yes     no     no
get,list                            snapstage.io             backupschedules                 @other    yes yes     no     no
create                              snapshot.storage.k8s.io  volumesnapshots                 @other    yes yes     no     no
create                              core                     events                          @other    yes yes     no     no
delete                              core                     persistentvolumeclaims          @other    yes yes     no     no
update                              apps                     statefulsets/scale              @other    no  yes     no     no
# -- leader election: its own namespace, get/create/update only
get,create,update                   coordination.k8s.io      leases                          @ctl      yes yes     yes    yes
delete,list,watch,patch             coordination.k8s.io      leases                          @ctl      no  no      no     no
get,create,update,delete            coordination.k8s.io      leases                          @other    no  no      no     no
get,update                          coordination.k8s.io      leases                          @watched  no  no      no     no
# -- never: the cluster's own machinery
update,patch,delete                 apiextensions.k8s.io     customresourcedefinitions       -         no  no      no     no
escalate,bind                       rbac.authorization.k8s.io clusterroles                   -         no  no      no     no
create                              rbac.authorization.k8s.io rolebindings                   @watched  no  no      no     no
impersonate                         core                     serviceaccounts                 @watched  no  no      no     no
create                              core                     serviceaccounts/token           @ctl      no  no      no     no
get,list                            core                     nodes                           -         no  no      no     no
delete                              core                     namespaces                      -         no  no      no     no
EOF
)

TMP=$(mktemp -d)
chmod 700 "$TMP"
applied=()
cleanup() {
    local f
    for f in "${applied[@]+"${applied[@]}"}"; do
        "$KUBECTL" delete --ignore-not-found -f "$f" >/dev/null 2>&1 || true
    done
    "$KUBECTL" -n "$CTL_NS" delete serviceaccount "$SA" --ignore-not-found >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

log() { printf '%s\n' "$*"; }
die() { printf 'test_rbac: %s\n' "$*" >&2; exit 1; }

# The RBAC objects of a rendered manifest stream (documents split at `---`).
rbac_only() {
    python3 -c '
import re, sys
docs = re.split(r"^---[^\n]*$", sys.stdin.read(), flags=re.M)
keep = [d.strip("\n") for d in docs if re.search(
    r"^kind: (ServiceAccount|ClusterRole|ClusterRoleBinding|Role|RoleBinding)\s*$", d, re.M)]
print("\n---\n".join(keep))'
}

# SelfSubjectAccessReviews as the ServiceAccount's token, over one kept-alive
# connection: reads "verb group resource[/sub] namespace" lines (group and
# namespace "" written as "-") and prints yes or no for each. Anything but a
# 201 from the API server (e.g. 401: a dead token) is fatal, so a broken
# token can never pass as "forbidden".
ssar() {
    python3 -c '
import http.client, json, ssl, sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=10,
                                   context=ssl.create_default_context(cafile=sys.argv[2]))
token = open(sys.argv[3]).read().strip()
for line in sys.stdin:
    verb, group, res, ns = line.split()
    res, _, sub = res.partition("/")
    attrs = {"verb": verb, "group": "" if group == "-" else group, "resource": res,
             "subresource": sub, "namespace": "" if ns == "-" else ns}
    body = json.dumps({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                       "spec": {"resourceAttributes": attrs}})
    conn.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body,
                 {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 201:
        sys.exit("SelfSubjectAccessReview: HTTP %d: %s" % (resp.status, data[:300]))
    print("yes" if json.loads(data)["status"].get("allowed") else "no", flush=True)
' "$SNAPSTAGE_APISERVER_URL" "$SNAPSTAGE_CA_FILE" "$TMP/token"
}

# Polls until `get backups` in the watched namespace is $1 (RBAC changes reach
# the authorizer's cache asynchronously, within milliseconds).
wait_canary() {
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(echo "get snapstage.io backups $WATCHED" | ssar)" = "$1" ] && return 0
        sleep 0.1
    done
    die "the canary (get backups -n $WATCHED) never became '$1'"
}

mint_token() {
    (
        umask 077
        "$KUBECTL" -n "$CTL_NS" create token "$SA" --duration=10m >"$TMP/token"
    )
    [ -s "$TMP/token" ] || die "TokenRequest returned no token"
}

total_checks=0
failures=0

# Applies the RBAC of one rendering, checks the table's column, deletes it.
scenario() { # name column render-command...
    local name=$1 col=$2 file
    shift 2
    file=$TMP/$(tr -c 'a-zA-Z0-9\n' '-' <<<"$name").yaml
    "$@" | rbac_only >"$file"
    grep -q '^kind: ServiceAccount' "$file" || die "$name: rendered no ServiceAccount"
    log ""
    log "=== $name (column: $col): $(grep -c '^kind:' "$file") RBAC objects"
    applied+=("$file")
    "$KUBECTL" apply -f "$file" >/dev/null
    [ -s "$TMP/token" ] || mint_token
    wait_canary yes

    local colidx
    case "$col" in all) colidx=5 ;; inplace) colidx=6 ;; single) colidx=7 ;; single+ip) colidx=8 ;; *) die "bad column $col" ;; esac
    # Expand the table into one check per verb, ask them all, then compare.
    local verbs group apigroup res ns want v nsname where bad=0 n=0 i line
    local -a checks=() wants=() shown=() got=()
    while read -r line; do
        case "$line" in '' | '#'*) continue ;; esac
        read -r -a f <<<"$line"
        verbs=${f[0]} group=${f[1]} res=${f[2]} ns=${f[3]} want=${f[$((colidx - 1))]}
        case "$want" in yes | no) ;; *) die "bad expectation '$want' in: $line" ;; esac
        case "$ns" in
        @watched) nsname=$WATCHED where="-n $WATCHED" ;;
        @other) nsname=$OTHER where="-n $OTHER" ;;
        @ctl) nsname=$CTL_NS where="-n $CTL_NS" ;;
        '*') nsname=- where="(all namespaces)" ;;
        -) nsname=- where="(cluster-scoped)" ;;
        *) die "bad namespace '$ns' in the table" ;;
        esac
        apigroup=$group
        [ "$group" = core ] && apigroup=-
        for v in ${verbs//,/ }; do
            checks+=("$v $apigroup $res $nsname")
            wants+=("$want")
            printf -v line '%-11s %-26s %-30s %s' "$v" "$group" "$res" "$where"
            shown+=("$line")
        done
    done <<<"$TABLE"
    mapfile -t got < <(printf '%s\n' "${checks[@]}" | ssar)
    n=${#checks[@]}
    [ ${#got[@]} = "$n" ] || die "$name: got ${#got[@]} answers for $n checks"
    for ((i = 0; i < n; i++)); do
        if [ "${got[$i]}" = "${wants[$i]}" ]; then
            printf '  ok    %-3s  %s\n' "${wants[$i]}" "${shown[$i]}"
        else
            log "  FAIL  expected ${wants[$i]}, got ${got[$i]}:  ${shown[$i]}"
            bad=$((bad + 1))
        fi
    done
    total_checks=$((total_checks + n))
    failures=$((failures + bad))
    log "--- $name: $n checks, $bad failed"

    # Only the roles and bindings go; the ServiceAccount (and its token) stays
    # for the next mode.
    python3 -c '
import re, sys
docs = re.split(r"^---[^\n]*$", open(sys.argv[1]).read(), flags=re.M)
print("\n---\n".join(d.strip("\n") for d in docs if not re.search(r"^kind: ServiceAccount\s*$", d, re.M)))' \
        "$file" >"$file.roles"
    "$KUBECTL" delete -f "$file.roles" >/dev/null
    wait_canary no
}

for ns in "$CTL_NS" "$WATCHED" "$OTHER"; do
    "$KUBECTL" create namespace "$ns" --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
done

helm_render() { # extra helm args...
    "$HELM" template snapstage "$REPO/helm/snapstage" -n "$CTL_NS" \
        --set fullnameOverride=snapstage-controller "$@"
}
started=$SECONDS
scenario "kustomize deploy/" all "$KUBECTL" kustomize "$REPO/deploy"
scenario "kustomize deploy/in-place-restore/" inplace "$KUBECTL" kustomize "$REPO/deploy/in-place-restore"
scenario "kustomize deploy/examples/single-namespace/" single \
    "$KUBECTL" kustomize "$REPO/deploy/examples/single-namespace"
scenario "helm (defaults)" all helm_render
scenario "helm inPlaceRestore.enabled=true" inplace helm_render --set inPlaceRestore.enabled=true
scenario "helm watchNamespace=$WATCHED" single helm_render --set watchNamespace="$WATCHED"
scenario "helm watchNamespace=$WATCHED inPlaceRestore.enabled=true" single+ip \
    helm_render --set watchNamespace="$WATCHED" --set inPlaceRestore.enabled=true

log ""
log "test_rbac: $total_checks checks in $((SECONDS - started))s, $failures failed"
[ "$failures" = 0 ]
