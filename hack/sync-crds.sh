#!/usr/bin/env bash
# Keeps the Helm chart's CRDs (helm/snapstage/crds/) identical to the
# source of truth, crds/. Helm installs a chart's crds/ directory before its
# templates and cannot reach outside the chart, so the chart carries copies.
#
# A file counts as a CRD if it is crds/*.yaml and declares
# `kind: CustomResourceDefinition` (crds/Kustomization is not a .yaml file).
#
# Usage: hack/sync-crds.sh           copy crds/ into the chart (and remove
#                                    chart copies whose source is gone)
#        hack/sync-crds.sh --check   change nothing; exit 1, naming the
#                                    files, if the chart's copies differ
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=$ROOT/crds
DST=$ROOT/helm/snapstage/crds
check=0
case "${1:-}" in
--check) check=1 ;;
"") ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

log() { printf '[sync-crds] %s\n' "$*" >&2; }

srcs=()
for f in "$SRC"/*.yaml; do
    [ -e "$f" ] || continue
    grep -q '^kind: CustomResourceDefinition' "$f" && srcs+=("$(basename "$f")")
done
[ ${#srcs[@]} -gt 0 ] || { log "no CRDs found in $SRC"; exit 1; }

bad=0
for f in "${srcs[@]}"; do
    if ! cmp -s "$SRC/$f" "$DST/$f"; then
        if [ $check = 1 ]; then
            log "differs or missing: helm/snapstage/crds/$f (run hack/sync-crds.sh)"
            bad=1
        else
            mkdir -p "$DST"
            cp "$SRC/$f" "$DST/$f"
            log "copied crds/$f"
        fi
    fi
done
# Copies whose source no longer exists.
for f in "$DST"/*.yaml; do
    [ -e "$f" ] || continue
    f=$(basename "$f")
    if [ ! -e "$SRC/$f" ] || ! printf '%s\n' "${srcs[@]}" | grep -qxF "$f"; then
        if [ $check = 1 ]; then
            log "stale: helm/snapstage/crds/$f has no source in crds/"
            bad=1
        else
            rm -f "$DST/$f"
            log "removed stale helm/snapstage/crds/$f"
        fi
    fi
done
if [ $check = 1 ]; then
    [ $bad = 0 ] && log "ok: ${#srcs[@]} CRDs identical"
    exit $bad
fi
