#!/usr/bin/env bash
# The snapshot.storage.k8s.io/v1 CRD test fixtures (tests/fixtures/
# snapshot.storage.k8s.io) on the real kube-apiserver 1.20, installed with
# `hack/cluster.sh install-snapshot-crds`:
#   - the install makes all three CRDs Established, and a second install is a
#     no-op (no resourceVersion or generation changes);
#   - scope, short names (vs, vsc, vsclass) and the API group are served as
#     the external-snapshotter's are;
#   - a VolumeSnapshotClass (with the is-default-class annotation) and a
#     VolumeSnapshot are accepted; the VolumeSnapshot's status is written
#     through /status (creationTime, readyToUse, restoreSize "1Gi", error),
#     while status in a write to the main resource is ignored;
#   - `kubectl get volumesnapshots|vsc|vsclass` print the printer columns;
#   - a VolumeSnapshotContent's int64 status (nanosecond creationTime,
#     restoreSize in bytes) round-trips exactly;
#   - the server rejects invalid objects: a VolumeSnapshot with both source
#     fields or neither, an empty class name, a bad restoreSize quantity or
#     creationTime; a VolumeSnapshotContent with a bad deletionPolicy, both
#     source handles, a volumeSnapshotRef without namespace, a negative
#     restoreSize; a VolumeSnapshotClass without driver.
# Cleans up its namespace and cluster-scoped objects, and deletes the CRDs
# again if it installed them (test_kube_api expects the group not served).
#
# Environment (set by CTest): SNAPSTAGE_CLUSTER_DIR (a running cluster from
# hack/cluster.sh), SNAPSTAGE_CLUSTER_SH. KUBECTL overrides the kubectl from
# hack/tools.sh.
set -euo pipefail

: "${SNAPSTAGE_CLUSTER_DIR:?set SNAPSTAGE_CLUSTER_DIR to a running hack/cluster.sh cluster}"
: "${SNAPSTAGE_CLUSTER_SH:?set SNAPSTAGE_CLUSTER_SH to hack/cluster.sh}"
CLUSTER_SH=$SNAPSTAGE_CLUSTER_SH
KUBECTL=${KUBECTL:-$("$(dirname "$CLUSTER_SH")/tools.sh")/kubectl}
GROUP=snapshot.storage.k8s.io
CRDS=("volumesnapshotclasses.$GROUP" "volumesnapshotcontents.$GROUP" "volumesnapshots.$GROUP")
started=$SECONDS

work=$(mktemp -d)
export KUBECONFIG=$SNAPSTAGE_CLUSTER_DIR/kubeconfig
export KUBECACHEDIR=$work/kube-cache # fresh discovery, not ~/.kube/cache
ns=snapcrd-$$-$RANDOM
vsclass=snapcrd-class-$$
vsc=snapcrd-content-$$
installed_here=0
checks=0

k() { "$KUBECTL" "$@"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}
ok() {
    checks=$((checks + 1))
    printf 'ok %d - %s\n' "$checks" "$*"
}
# expect_eq WHAT WANT GOT
expect_eq() {
    [ "$3" = "$2" ] || fail "$1: want '$2', got '$3'"
    ok "$1 = '$2'"
}

cleanup() {
    local rc=$?
    set +e
    k delete volumesnapshots --all -n "$ns" --wait=false >/dev/null 2>&1
    # No namespace controller runs here: the namespace stays Terminating,
    # which is enough to mark it done.
    k delete namespace "$ns" --wait=false >/dev/null 2>&1
    k delete volumesnapshotcontent "$vsc" --ignore-not-found >/dev/null 2>&1
    k delete volumesnapshotclass "$vsclass" --ignore-not-found >/dev/null 2>&1
    if [ $installed_here = 1 ]; then
        # The CRDs' finalizer runs in kube-apiserver itself, so this finishes.
        k delete crd "${CRDS[@]}" --ignore-not-found --timeout=60s >/dev/null ||
            echo "warning: could not delete the snapshot CRDs" >&2
    fi
    rm -rf "$work"
    echo "test_snapshot_crds: $checks checks, $((SECONDS - started))s, exit $rc"
    exit $rc
}
trap cleanup EXIT

# Creates the object on stdin, bypassing kubectl's own schema validation so
# the API server is the one judging it; fails unless the server refuses it
# as Invalid with a message containing every further argument.
expect_rejected() { # what substring...
    local what=$1 err
    shift
    if err=$(k create --validate=false -f - 2>&1 >/dev/null); then
        fail "$what: the API server accepted it"
    fi
    case "$err" in *" is invalid: "*) ;; *) fail "$what: not refused as Invalid: $err" ;; esac
    local s
    for s in "$@"; do
        case "$err" in *"$s"*) ;; *) fail "$what: message lacks '$s': $err" ;; esac
    done
    ok "rejected: $what"
}

# --- install, twice --------------------------------------------------------

preexisting=$(k get crd "${CRDS[@]}" --ignore-not-found -o name | wc -l)
[ "$preexisting" = 0 ] && installed_here=1
"$CLUSTER_SH" --dir "$SNAPSTAGE_CLUSTER_DIR" install-snapshot-crds ||
    fail "install-snapshot-crds failed"
for c in "${CRDS[@]}"; do
    expect_eq "$c Established" True \
        "$(k get crd "$c" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}')"
    expect_eq "$c has a structural schema (no NonStructuralSchema condition)" "" \
        "$(k get crd "$c" -o jsonpath='{.status.conditions[?(@.type=="NonStructuralSchema")].message}')"
done
versions() { k get crd "${CRDS[@]}" -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.resourceVersion}/{.metadata.generation} {end}'; }
before=$(versions)
"$CLUSTER_SH" --dir "$SNAPSTAGE_CLUSTER_DIR" install-snapshot-crds ||
    fail "second install-snapshot-crds failed"
expect_eq "resourceVersions/generations after a second install" "$before" "$(versions)"

# --- what discovery serves ---------------------------------------------------

scopes=$(k api-resources --api-group=$GROUP --no-headers | awk '{$1 = $1; print}' | sort)
expect_eq "served resources (name shortnames apiVersion namespaced kind)" \
    "volumesnapshotclasses vsclass,vsclasses $GROUP/v1 false VolumeSnapshotClass
volumesnapshotcontents vsc,vscs $GROUP/v1 false VolumeSnapshotContent
volumesnapshots vs $GROUP/v1 true VolumeSnapshot" "$scopes"
expect_eq "status subresources" "{} {} " \
    "$(k get crd volumesnapshots.$GROUP volumesnapshotcontents.$GROUP -o jsonpath='{range .items[*]}{.spec.versions[0].subresources.status} {end}')"
expect_eq "VolumeSnapshotClass has no status subresource" "" \
    "$(k get crd volumesnapshotclasses.$GROUP -o jsonpath='{.spec.versions[0].subresources}')"

# --- a VolumeSnapshotClass and a VolumeSnapshot ------------------------------

k create namespace "$ns" >/dev/null
k create -f - >/dev/null <<EOF || fail "creating the VolumeSnapshotClass"
apiVersion: $GROUP/v1
kind: VolumeSnapshotClass
metadata:
  name: $vsclass
  annotations:
    snapshot.storage.kubernetes.io/is-default-class: "true"
driver: hostpath.csi.k8s.io
deletionPolicy: Retain
parameters:
  tier: fast
EOF
expect_eq "class fields" "hostpath.csi.k8s.io Retain fast true" \
    "$(k get vsclass "$vsclass" -o jsonpath='{.driver} {.deletionPolicy} {.parameters.tier} {.metadata.annotations.snapshot\.storage\.kubernetes\.io/is-default-class}')"

k create -n "$ns" -f - >/dev/null <<EOF || fail "creating the VolumeSnapshot"
apiVersion: $GROUP/v1
kind: VolumeSnapshot
metadata:
  name: snap-1
spec:
  volumeSnapshotClassName: $vsclass
  source:
    persistentVolumeClaimName: data-mariadb-1
EOF
expect_eq "new VolumeSnapshot has no status" "" "$(k get vs snap-1 -n "$ns" -o jsonpath='{.status}')"

k patch vs snap-1 -n "$ns" --subresource=status --type=merge -p "{\"status\": {
    \"boundVolumeSnapshotContentName\": \"$vsc\",
    \"creationTime\": \"2024-05-01T10:00:00Z\",
    \"readyToUse\": true,
    \"restoreSize\": \"1Gi\",
    \"error\": {\"time\": \"2024-05-01T10:00:01Z\", \"message\": \"simulated: storage busy\"}}}" \
    >/dev/null || fail "patching the VolumeSnapshot's status through /status"
expect_eq "status after the /status patch" \
    "$vsc|2024-05-01T10:00:00Z|true|1Gi|2024-05-01T10:00:01Z|simulated: storage busy" \
    "$(k get vs snap-1 -n "$ns" -o jsonpath='{.status.boundVolumeSnapshotContentName}|{.status.creationTime}|{.status.readyToUse}|{.status.restoreSize}|{.status.error.time}|{.status.error.message}')"

# With a status subresource, status in a write to the object itself is dropped.
k patch vs snap-1 -n "$ns" --type=merge -p '{"status": {"readyToUse": false}}' >/dev/null ||
    fail "patching the VolumeSnapshot"
expect_eq "status ignored on the main resource" true \
    "$(k get vs snap-1 -n "$ns" -o jsonpath='{.status.readyToUse}')"

# --- printer columns ---------------------------------------------------------

table=$(k get volumesnapshots -n "$ns")
printf '%s\n' "$table"
expect_eq "volumesnapshots columns" \
    "NAME READYTOUSE SOURCEPVC SOURCESNAPSHOTCONTENT RESTORESIZE SNAPSHOTCLASS SNAPSHOTCONTENT CREATIONTIME AGE" \
    "$(printf '%s\n' "$table" | awk 'NR == 1 {$1 = $1; print}')"
row=$(printf '%s\n' "$table" | awk 'NR == 2 {$1 = $1; print}')
[[ "$row" =~ ^snap-1\ true\ data-mariadb-1\ 1Gi\ $vsclass\ $vsc\ [0-9][0-9a-z]*\ [0-9][0-9a-z]*$ ]] ||
    fail "volumesnapshots row: '$row'"
ok "volumesnapshots row: $row"

# --- a VolumeSnapshotContent with int64 status -------------------------------

k create -f - >/dev/null <<EOF || fail "creating the VolumeSnapshotContent"
apiVersion: $GROUP/v1
kind: VolumeSnapshotContent
metadata:
  name: $vsc
spec:
  deletionPolicy: Retain
  driver: hostpath.csi.k8s.io
  volumeSnapshotClassName: $vsclass
  sourceVolumeMode: Filesystem
  source:
    snapshotHandle: snap-0001
  volumeSnapshotRef:
    name: snap-1
    namespace: $ns
EOF
# 2024-05-01T10:00:00.123456789Z, beyond 2^53: must not pass through a double.
k patch vsc "$vsc" --subresource=status --type=merge -p '{"status": {
    "snapshotHandle": "snap-0001", "creationTime": 1714557600123456789,
    "readyToUse": true, "restoreSize": 1073741824}}' >/dev/null ||
    fail "patching the VolumeSnapshotContent's status"
expect_eq "content status" "snap-0001 1714557600123456789 true 1073741824" \
    "$(k get vsc "$vsc" -o jsonpath='{.status.snapshotHandle} {.status.creationTime} {.status.readyToUse} {.status.restoreSize}')"
table=$(k get vsc "$vsc")
printf '%s\n' "$table"
expect_eq "volumesnapshotcontents columns and row" \
    "NAME READYTOUSE RESTORESIZE DELETIONPOLICY DRIVER VOLUMESNAPSHOTCLASS VOLUMESNAPSHOT VOLUMESNAPSHOTNAMESPACE AGE
$vsc true 1073741824 Retain hostpath.csi.k8s.io $vsclass snap-1 $ns" \
    "$(printf '%s\n' "$table" | awk '{$1 = $1; if (NR > 1) NF--; print}')"
table=$(k get vsclass "$vsclass")
expect_eq "volumesnapshotclasses columns and row" \
    "NAME DRIVER DELETIONPOLICY AGE
$vsclass hostpath.csi.k8s.io Retain" \
    "$(printf '%s\n' "$table" | awk '{$1 = $1; if (NR > 1) NF--; print}')"

# --- what the server refuses -------------------------------------------------

expect_rejected "VolumeSnapshot with both source fields" '"spec.source" must validate one and only one schema (oneOf). Found 2 valid' <<EOF
apiVersion: $GROUP/v1
kind: VolumeSnapshot
metadata: {name: bad-both, namespace: $ns}
spec:
  source: {persistentVolumeClaimName: data-mariadb-1, volumeSnapshotContentName: $vsc}
EOF
expect_rejected "VolumeSnapshot with neither source field" '"spec.source" must validate one and only one schema (oneOf). Found none valid' <<EOF
apiVersion: $GROUP/v1
kind: VolumeSnapshot
metadata: {name: bad-neither, namespace: $ns}
spec:
  source: {}
EOF
expect_rejected "VolumeSnapshot without spec.source" spec.source Required <<EOF
apiVersion: $GROUP/v1
kind: VolumeSnapshot
metadata: {name: bad-nosource, namespace: $ns}
spec: {volumeSnapshotClassName: $vsclass}
EOF
expect_rejected "VolumeSnapshot with an empty class name" spec.volumeSnapshotClassName <<EOF
apiVersion: $GROUP/v1
kind: VolumeSnapshot
metadata: {name: bad-class, namespace: $ns}
spec:
  volumeSnapshotClassName: ""
  source: {persistentVolumeClaimName: data-mariadb-1}
EOF
expect_rejected "VolumeSnapshotContent with deletionPolicy Keep" spec.deletionPolicy '"Delete", "Retain"' <<EOF
apiVersion: $GROUP/v1
kind: VolumeSnapshotContent
metadata: {name: $vsc-bad-policy}
spec:
  deletionPolicy: Keep
  driver: hostpath.csi.k8s.io
  source: {snapshotHandle: snap-0002}
  volumeSnapshotRef: {name: snap-2, namespace: $ns}
EOF
expect_rejected "VolumeSnapshotContent with both source handles" '"spec.source" must validate one and only one schema (oneOf). Found 2 valid' <<EOF
apiVersion: $GROUP/v1
kind: VolumeSnapshotContent
metadata: {name: $vsc-bad-source}
spec:
  deletionPolicy: Delete
  driver: hostpath.csi.k8s.io
  source: {snapshotHandle: snap-0002, volumeHandle: vol-0002}
  volumeSnapshotRef: {name: snap-2, namespace: $ns}
EOF
expect_rejected "VolumeSnapshotContent whose volumeSnapshotRef has no namespace" \
    spec.volumeSnapshotRef.namespace Required <<EOF
apiVersion: $GROUP/v1
kind: VolumeSnapshotContent
metadata: {name: $vsc-bad-ref}
spec:
  deletionPolicy: Delete
  driver: hostpath.csi.k8s.io
  source: {volumeHandle: vol-0002}
  volumeSnapshotRef: {name: snap-2}
EOF
expect_rejected "VolumeSnapshotClass without driver" driver Required <<EOF
apiVersion: $GROUP/v1
kind: VolumeSnapshotClass
metadata: {name: $vsclass-bad}
deletionPolicy: Delete
EOF

# Status writes are validated too.
status_rejected() { # what patch substring kubectl-target-args...
    local what=$1 patch=$2 want=$3 err
    shift 3
    if err=$(k patch "$@" --subresource=status --type=merge -p "$patch" 2>&1 >/dev/null); then
        fail "$what: the API server accepted it"
    fi
    case "$err" in *" is invalid: "*"$want"*) ;; *) fail "$what: not refused as Invalid on '$want': $err" ;; esac
    ok "rejected: $what"
}
status_rejected "VolumeSnapshot restoreSize 'lots'" \
    '{"status": {"restoreSize": "lots"}}' status.restoreSize vs snap-1 -n "$ns"
status_rejected "VolumeSnapshot creationTime 'yesterday'" \
    '{"status": {"creationTime": "yesterday"}}' status.creationTime vs snap-1 -n "$ns"
status_rejected "VolumeSnapshotContent restoreSize -1" \
    '{"status": {"restoreSize": -1}}' status.restoreSize vsc "$vsc"
status_rejected "VolumeSnapshotContent creationTime as a date string" \
    '{"status": {"creationTime": "2024-05-01T10:00:00Z"}}' status.creationTime vsc "$vsc"
expect_eq "VolumeSnapshot status unchanged by the refused writes" "1Gi|2024-05-01T10:00:00Z" \
    "$(k get vs snap-1 -n "$ns" -o jsonpath='{.status.restoreSize}|{.status.creationTime}')"

echo "PASS"
