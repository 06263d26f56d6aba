#!/usr/bin/env bash
# install-crds.sh — install the snapstage CRDs (crds/) on the cluster
# kubectl talks to and return only once they can be used: applied,
# Established, and known to the API server's admission.
#
# Why the last wait: kube-apiserver's admission plugins map a kind to its
# resource with a discovery RESTMapper that is reset only every 30 s (1.20:
# pkg/kubeapiserver/admission/config.go, wait.Until(discoveryRESTMapper.
# Reset, 30*time.Second)). Until then OwnerReferencesPermissionEnforcement
# (hack/cluster.sh enables it) refuses, with 403 "cannot find RESTMapping
# for APIVersion snapstage.io/v1alpha1 Kind Backup", any create that sets
# blockOwnerDeletion on an ownerReference to the new kinds — which is what
# the controller does for every VolumeSnapshot of a Backup. So this waits
# until a server-side dry-run create of a ConfigMap owned (blockOwnerDeletion
# true) by a Backup, a BackupSchedule and a Restore is accepted. Nothing is
# created (dry run); the owner's name and uid are dummies, which admission
# does not look up.
#
# Usage: hack/install-crds.sh [--timeout SECONDS] [--namespace NS]
#   --timeout    bound of each wait (default 60)
#   --namespace  an existing namespace for the dry run (default "default")
# Uses KUBECTL (default: kubectl from hack/tools.sh) and KUBECONFIG. Exits
# non-zero, naming what it waited for and the last answer, at the bound.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
timeout=60
probe_ns=default
while [ $# -gt 0 ]; do
    case "$1" in
    --timeout) timeout=$2; shift 2 ;;
    --namespace) probe_ns=$2; shift 2 ;;
    *) echo "usage: $0 [--timeout SECONDS] [--namespace NS]" >&2; exit 2 ;;
    esac
done
KUBECTL=${KUBECTL:-$("$ROOT/hack/tools.sh")/kubectl}
crds=(crd/backupschedules.snapstage.io crd/backups.snapstage.io crd/restores.snapstage.io)

"$KUBECTL" apply -f "$ROOT/crds/" >/dev/null
# shellcheck source=lib/crd-wait.sh
. "$ROOT/hack/lib/crd-wait.sh"
crd_wait_established "$timeout" "${crds[@]}"

probe() { # a ConfigMap owned (blockOwnerDeletion) by one object of each kind
    local kind uid=00000000-0000-0000-0000-00000000000
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: snapstage-crd-probe\n'
    printf '  namespace: %s\n  ownerReferences:\n' "$probe_ns"
    for kind in Backup BackupSchedule Restore; do
        printf '  - {apiVersion: snapstage.io/v1alpha1, kind: %s, name: probe, ' "$kind"
        printf 'uid: %s%d, blockOwnerDeletion: true}\n' "$uid" ${#kind}
    done
}
start=$(date +%s%N)
end=$((SECONDS + timeout))
until answer=$(probe | "$KUBECTL" create --dry-run=server -f - -o name 2>&1); do
    if [ $SECONDS -ge $end ]; then
        echo "install-crds: the API server's admission did not know the snapstage kinds" \
            "within ${timeout}s; last answer: $answer" >&2
        exit 1
    fi
    sleep 0.5
done
echo "install-crds: CRDs installed; admission knows the kinds after" \
    "$((($(date +%s%N) - start) / 1000000)) ms"
