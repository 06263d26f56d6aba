#!/usr/bin/env bash
# Least privilege, proven against the real API server (issue 15, point 7):
# the controller's ServiceAccount is granted exactly the permissions listed
# in tests/integration/rbac_rules.txt — each one a request the controller
# makes, with the code that makes it — in every install mode, and each of
# them is needed.
#
#   code      every file:identifier the rules name is in the code.
#   calls     the requests the verify controller (app/verify/verify.c)
#             and the point-in-time restore (app/restore/restore_replay.c and
#             restore_replay_inplace.c)
#             make, read from their source, are granted by the `ns` rules
#             plus the `vf` rules, and `vf` is exactly what each lacks.
#   granted   for each install mode (kustomize and helm, all namespaces or a
#             list of them, with and without in-place restores and restore
#             verification) it applies
#             only the RBAC objects the manifests render, mints the
#             ServiceAccount's token (TokenRequest) and compares what the
#             token is granted (SelfSubjectRulesReview in the watched
#             namespaces, another namespace and the controller's own, minus
#             what a ServiceAccount without bindings has) with the rules:
#             nothing more, nothing less. Cluster-wide lists are allowed
#             only when the namespaced rules are bound cluster-wide. Pods
#             can be created and deleted (SelfSubjectAccessReview, as
#             `kubectl auth can-i`) only with verification or point-in-time
#             restore on, and then only in the watched namespaces.
#   needed    on the namespaced + in-place rendering (every rule of the file
#             but the `vf` ones is in it), and for the `vf` rules on the
#             namespaced + verification one: for each verb, the request the controller makes
#             with it passes authorization; with that one verb taken out of
#             its role it fails with 403 (finalizers: a create with
#             blockOwnerDeletion, refused by the OwnerReferencesPermission-
#             Enforcement admission plugin hack/cluster.sh enables).
#
# tests/e2e/test_namespaced.sh then runs the controller itself on these
# rules and compares the requests it made (the API server's audit log) with
# them. The token stays in a 0600 file read by the checker (never on a
# command line or in the output). Talks only to the loopback API server of
# $SNAPSTAGE_CLUSTER_DIR/env. It installs the snapstage CRDs if missing (and
# deletes them again at the end) and the snapshot CRD fixtures (left: other
# tests use them), so the finalizer checks' creates reach admission.
# Namespaces it creates are left in place; every RBAC object it applied is
# deleted at the end.
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
WATCH_A=team-a          # the namespaced examples' namespaces
WATCH_B=team-b
OTHER=snapstage-rbac-other
SA=snapstage-controller
RULES=$REPO/tests/integration/rbac_rules.txt
CHECK=$REPO/tests/integration/rbac_check.py

TMP=$(mktemp -d)
chmod 700 "$TMP"
export RBAC_SA_TOKEN_FILE=$TMP/token RBAC_BASELINE_FILE=$TMP/baseline.json
applied=()
CRDS=(backupschedules.snapstage.io backups.snapstage.io restores.snapstage.io)
crds_present=0
"$KUBECTL" get crd "${CRDS[@]}" >/dev/null 2>&1 && crds_present=1
cleanup() {
    local f
    if [ $crds_present = 0 ]; then
        "$KUBECTL" delete crd "${CRDS[@]}" --ignore-not-found >/dev/null 2>&1 || true
    fi
    for f in "${applied[@]+"${applied[@]}"}"; do
        "$KUBECTL" delete --ignore-not-found -f "$f" >/dev/null 2>&1 || true
    done
    "$KUBECTL" -n "$CTL_NS" delete serviceaccount "$SA" --ignore-not-found >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

log() { printf '%s\n' "$*"; }
die() { printf 'test_rbac: %s\n' "$*" >&2; exit 1; }

# The RBAC objects of a rendered manifest stream (documents split at `---`);
# with "roles", without the ServiceAccount.
rbac_only() { # [roles]
    python3 -c '
import re, sys
kinds = "ClusterRole|ClusterRoleBinding|Role|RoleBinding"
if len(sys.argv) < 2:
    kinds += "|ServiceAccount"
docs = re.split(r"^---[^\n]*$", sys.stdin.read(), flags=re.M)
keep = [d.strip("\n") for d in docs if re.search(r"^kind: (%s)\s*$" % kinds, d, re.M)]
print("\n---\n".join(keep))' "$@"
}

mint_token() {
    (
        umask 077
        "$KUBECTL" -n "$CTL_NS" create token "$SA" --duration=10m >"$RBAC_SA_TOKEN_FILE"
    )
    [ -s "$RBAC_SA_TOKEN_FILE" ] || die "TokenRequest returned no token"
}

# Waits until the token has (yes) or lacks (no) the Lease permission every
# mode grants: RBAC changes reach the authorizer's cache asynchronously.
wait_bound() { # yes|no
    python3 "$CHECK" wait "$1" get coordination.k8s.io leases "$CTL_NS" ||
        die "the ServiceAccount's Lease permission never became '$1'"
}

failures=0
modes=0

# Applies the RBAC of one rendering, runs the checks, deletes it.
scenario() { # name mode-json checks(granted|granted+needed[=role,...]) render-command...
    local name=$1 mode=$2 what=$3 file rc=0
    shift 3
    file=$TMP/$(tr -c 'a-zA-Z0-9\n' '-' <<<"$name").yaml
    "$@" | rbac_only >"$file"
    grep -q '^kind: ServiceAccount' "$file" || die "$name: rendered no ServiceAccount"
    log ""
    log "=== $name: $(grep -c '^kind:' "$file") RBAC objects"
    applied+=("$file")
    "$KUBECTL" apply -f "$file" >/dev/null
    wait_bound yes
    python3 "$CHECK" granted "$RULES" "$mode" || rc=1
    case "$what" in
    granted+needed) python3 "$CHECK" needed "$RULES" "$mode" || rc=1 ;;
    granted+needed=*) python3 "$CHECK" needed "$RULES" "$mode" "${what#granted+needed=}" || rc=1 ;;
    esac
    [ $rc = 0 ] || failures=$((failures + 1))
    modes=$((modes + 1))
    # Only the roles and bindings go; the ServiceAccount (and its token) stays.
    rbac_only roles <"$file" >"$file.roles"
    "$KUBECTL" delete -f "$file.roles" >/dev/null
    wait_bound no
}

mode() { # name cluster_wide in_place verification watched(comma list)
    python3 -c '
import json, sys
name, cw, ip, vf, watched, ctl, other = sys.argv[1:]
w = [x for x in watched.split(",") if x]
others = [n for n in ("team-a", "team-b", other) if n not in w]
fullname = "snapstage-controller"
roles = {"ns": ["ClusterRole", fullname, None] if cw == "true" else ["Role", fullname, w[0] if w else None],
         "cluster": ["ClusterRole", fullname + "-cluster-reads", None],
         "ip": ["ClusterRole", fullname + "-in-place-restore", None] if cw == "true"
               else ["Role", fullname + "-in-place-restore", w[0] if w else None],
         "ip-cluster": ["ClusterRole", fullname + ("-in-place-restore" if cw == "true" else "-in-place-restore-volumes"), None],
         "vf": ["ClusterRole", fullname + "-verification", None] if cw == "true"
               else ["Role", fullname + "-verification", w[0] if w else None],
         "lease": ["Role", "snapstage-leader-election", ctl]}
print(json.dumps({"name": name, "cluster_wide": cw == "true", "in_place": ip == "true",
                  "verification": vf == "true", "watched": w, "others": others, "ctl": ctl,
                  "roles": roles}))' \
        "$1" "$2" "$3" "$4" "$5" "$CTL_NS" "$OTHER"
}

started=$SECONDS
log "=== code: every reference of rbac_rules.txt"
python3 "$CHECK" code "$RULES" "$REPO" || failures=$((failures + 1))
log "=== calls: the verify controller's requests are the ns + vf rules"
python3 "$CHECK" calls "$RULES" "$REPO" controller/app/verify/verify.c vf ns ||
    failures=$((failures + 1))
log "=== calls: the point-in-time restore's requests are the ns + vf rules"
python3 "$CHECK" calls "$RULES" "$REPO" \
    controller/app/restore/restore_replay.c,controller/app/restore/restore_replay_inplace.c vf ns ||
    failures=$((failures + 1))

# The kinds the finalizer checks create (dry runs) must be served.
# Known to admission too (hack/install-crds.sh): else the finalizers checks'
# blockOwnerDeletion creates are refused for a missing RESTMapping, not RBAC.
KUBECTL=$KUBECTL "$REPO/hack/install-crds.sh" >/dev/null
"${SNAPSTAGE_CLUSTER_SH:-$REPO/hack/cluster.sh}" --dir "$SNAPSTAGE_CLUSTER_DIR" install-snapshot-crds \
    >/dev/null 2>&1 || die "could not install the snapshot CRD fixtures"
for ns in "$CTL_NS" "$WATCH_A" "$WATCH_B" "$OTHER"; do
    "$KUBECTL" create namespace "$ns" --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
done
# A Pod create (the verification's scratch Pod) passes the ServiceAccount
# admission plugin only if its ServiceAccount exists, and this cluster has
# no controller-manager to make each namespace's `default` one: without it
# the probe's create would be refused with 403 whatever RBAC says.
for ns in "$WATCH_A" "$WATCH_B"; do
    "$KUBECTL" -n "$ns" create serviceaccount default --dry-run=client -o yaml |
        "$KUBECTL" apply -f - >/dev/null
done
# The ServiceAccount alone first: what it has without any binding.
"$KUBECTL" -n "$CTL_NS" create serviceaccount "$SA" --dry-run=client -o yaml |
    "$KUBECTL" apply -f - >/dev/null
mint_token
python3 "$CHECK" baseline "$RBAC_BASELINE_FILE"

helm_render() { # extra helm args...
    "$HELM" template snapstage "$REPO/helm/snapstage" -n "$CTL_NS" \
        --set fullnameOverride=snapstage-controller "$@"
}
scenario "kustomize deploy/" "$(mode all true false false '')" granted \
    "$KUBECTL" kustomize "$REPO/deploy"
scenario "kustomize deploy/in-place-restore/" "$(mode in-place true true false '')" granted \
    "$KUBECTL" kustomize "$REPO/deploy/in-place-restore"
scenario "kustomize deploy/verification/" "$(mode verification true false true '')" granted \
    "$KUBECTL" kustomize "$REPO/deploy/verification"
scenario "kustomize deploy/point-in-time-restore/" "$(mode point-in-time true false true '')" granted \
    "$KUBECTL" kustomize "$REPO/deploy/point-in-time-restore"
scenario "kustomize deploy/examples/namespaced/" \
    "$(mode namespaced false false false "$WATCH_A,$WATCH_B")" \
    granted "$KUBECTL" kustomize "$REPO/deploy/examples/namespaced"
scenario "kustomize deploy/examples/namespaced-in-place-restore/" \
    "$(mode namespaced-in-place false true false "$WATCH_A,$WATCH_B")" granted+needed \
    "$KUBECTL" kustomize "$REPO/deploy/examples/namespaced-in-place-restore"
scenario "kustomize deploy/examples/namespaced-verification/" \
    "$(mode namespaced-verification false false true "$WATCH_A,$WATCH_B")" granted+needed=vf \
    "$KUBECTL" kustomize "$REPO/deploy/examples/namespaced-verification"
scenario "helm (defaults)" "$(mode all true false false '')" granted helm_render
scenario "helm inPlaceRestore.enabled=true" "$(mode in-place true true false '')" granted \
    helm_render --set inPlaceRestore.enabled=true
scenario "helm verification.enabled=true" "$(mode verification true false true '')" granted \
    helm_render --set verification.enabled=true
scenario "helm pointInTimeRestore.enabled=true" "$(mode point-in-time true false true '')" granted \
    helm_render --set pointInTimeRestore.enabled=true
scenario "helm watchNamespaces={$WATCH_A,$WATCH_B}" \
    "$(mode namespaced false false false "$WATCH_A,$WATCH_B")" granted \
    helm_render --set "watchNamespaces={$WATCH_A,$WATCH_B}"
scenario "helm watchNamespaces={$WATCH_A,$WATCH_B} inPlaceRestore.enabled=true" \
    "$(mode namespaced-in-place false true false "$WATCH_A,$WATCH_B")" granted \
    helm_render --set "watchNamespaces={$WATCH_A,$WATCH_B}" --set inPlaceRestore.enabled=true
scenario "helm watchNamespaces={$WATCH_A,$WATCH_B} verification.enabled=true" \
    "$(mode namespaced-verification false false true "$WATCH_A,$WATCH_B")" granted+needed=vf \
    helm_render --set "watchNamespaces={$WATCH_A,$WATCH_B}" --set verification.enabled=true
scenario "helm watchNamespace=$WATCH_A inPlaceRestore.enabled=true verification.enabled=true" \
    "$(mode single-in-place-verification false true true "$WATCH_A")" granted \
    helm_render --set watchNamespace="$WATCH_A" --set inPlaceRestore.enabled=true \
    --set verification.enabled=true
scenario "helm watchNamespace=$WATCH_A (the older single value)" \
    "$(mode single false false false "$WATCH_A")" granted \
    helm_render --set watchNamespace="$WATCH_A"
log ""
log "test_rbac: $modes install modes in $((SECONDS - started))s, $failures failed"
[ "$failures" = 0 ]
