#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager from Debian's `kubernetes`
# source package and caches them outside the repository, keyed by the Debian
# source version, so the (about 7 minute) build happens once per machine.
#
# Kubernetes 1.20 vendors github.com/modern-go/reflect2 v1.0.1, whose unsafe
# map iteration depends on the Go runtime's iterator layout of Go <= 1.17;
# built with Debian 12's Go 1.19 the API server segfaults the first time it
# serialises a map through json-iterator (e.g. creating a custom resource).
# The vendored copy is therefore replaced by Debian's reflect2 (>= 1.0.2),
# which is fixed, and the cache key records that.
#
# Prints the cache's bin directory on stdout as its last line; progress goes to
# stderr. Idempotent: a complete cache is reused at once. Uses a private apt
# source list so the system's apt configuration is left untouched.
set -euo pipefail

CACHE_ROOT=${SNAPSTAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapstage}
BINARIES=(kube-apiserver kube-controller-manager)

log() { printf '[build-k8s] %s\n' "$*" >&2; }

need_pkgs() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
            missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    fi
}

# A deb-src list that mirrors the archive the machine already uses.
make_private_apt() {
    local dir=$1
    mkdir -p "$dir/lists/partial" "$dir/archives/partial"
    local uri suite
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    suite=$(awk '/^Suites:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list)
        suite=$(awk '$1=="deb"{print $3; exit}' /etc/apt/sources.list)
    fi
    : "${uri:=http://deb.debian.org/debian}" "${suite:=bookworm}"
    printf 'deb-src %s %s main\n' "$uri" "$suite" >"$dir/sources.list"
}

apt_private() {
    local tool=$1 dir=$2
    shift 2
    "$tool" -o Dir::Etc::SourceList="$dir/sources.list" \
        -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$dir/lists" \
        -o Dir::Cache::Archives="$dir/archives" \
        -o APT::Sandbox::User=root "$@"
}

# The kubernetes source version from the private lists ("" if unknown).
source_version() {
    # apt-cache fails (exit 100) while the private lists are still empty.
    { apt_private apt-cache "$1" showsrc kubernetes 2>/dev/null || true; } |
        awk '/^Version:/ && v == "" {v = $2} END {print v}'
}

main() {
    need_pkgs golang-go rsync dpkg-dev golang-github-modern-go-reflect2-dev
    local work="$CACHE_ROOT/k8s-src"
    mkdir -p "$work"
    make_private_apt "$work/apt"
    local version
    version=$(source_version "$work/apt")
    if [ -z "$version" ]; then
        apt_private apt-get "$work/apt" update -qq >&2
        version=$(source_version "$work/apt")
    fi
    [ -n "$version" ] || { log "no 'kubernetes' source package found"; exit 1; }
    local reflect2_src=/usr/share/gocode/src/github.com/modern-go/reflect2
    local reflect2_version
    reflect2_version=$(dpkg-query -W -f='${Version}' golang-github-modern-go-reflect2-dev)
    local bindir="$CACHE_ROOT/k8s/$version+reflect2-$reflect2_version/bin"
    local ok=1 b
    for b in "${BINARIES[@]}"; do [ -x "$bindir/$b" ] || ok=0; done
    if [ $ok = 1 ]; then
        log "using cached binaries for kubernetes $version"
        echo "$bindir"
        return 0
    fi

    local srcdir="$work/$version"
    if [ ! -d "$srcdir/tree" ]; then
        log "fetching source package kubernetes $version"
        rm -rf "$srcdir"
        mkdir -p "$srcdir/dl"
        (cd "$srcdir/dl" && apt_private apt-get "$work/apt" source --download-only kubernetes >&2)
        local dsc
        dsc=$(ls "$srcdir"/dl/*.dsc | head -n1)
        (cd "$srcdir" && dpkg-source --no-check -x "$dsc" tree-unpack >&2)
        mv "$srcdir/tree-unpack" "$srcdir/tree"
    fi
    log "using Debian's reflect2 $reflect2_version in place of the vendored v1.0.1"
    rsync -a --delete --exclude '*_test.go' "$reflect2_src/" \
        "$srcdir/tree/vendor/github.com/modern-go/reflect2/"
    mkdir -p "$srcdir/gopath/src/k8s.io"
    ln -sfn "$srcdir/tree" "$srcdir/gopath/src/k8s.io/kubernetes"

    log "building ${BINARIES[*]} (about 7 minutes on 2 cores)"
    local start=$SECONDS
    (
        cd "$srcdir/gopath/src/k8s.io/kubernetes"
        export GOPATH="$srcdir/gopath" CGO_ENABLED=0 GOPROXY=off GOFLAGS=-mod=vendor
        export GOCACHE="$work/gocache"
        make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >&2
    ) &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 30
        kill -0 "$pid" 2>/dev/null && log "still building ($((SECONDS - start))s)"
    done
    wait "$pid"
    mkdir -p "$bindir.tmp"
    for b in "${BINARIES[@]}"; do
        cp "$(find "$srcdir/tree/_output" -type f -name "$b" -perm -u+x | head -n1)" "$bindir.tmp/$b"
    done
    rm -rf "$bindir"
    mv "$bindir.tmp" "$bindir"
    log "built in $((SECONDS - start))s; cached in $bindir"
    echo "$bindir"
}

main "$@"
