#!/usr/bin/env bash
# Checks the Dockerfile's runtime stage without a container engine.
#
# It reads the Debian packages the runtime stage installs (the
# `apt-get install` of the last FROM stage) and the binary's path (the
# ENTRYPOINT) and user (USER) from the Dockerfile itself, so this check and
# the image cannot drift apart. Then it:
#   1. resolves the packages' dependency closure (Depends and Pre-Depends,
#      no Recommends/Suggests, as `--no-install-recommends` does) with
#      apt-cache, downloads each .deb once into ~/.cache/snapstage/image-check
#      (apt-get download, from the machine's Debian archive) and unpacks
#      them with dpkg -x into an empty root with Debian 12's merged /usr;
#   2. builds the binary as the build stage does (Release, no tests, from the
#      files .dockerignore lets into the context), unless --binary is given;
#   3. copies it to the ENTRYPOINT path and, chrooted into that root as the
#      Dockerfile's USER (65532:65532), checks that every shared library
#      resolves and runs `snapstage --version` and `--help`;
#   4. checks the CA bundle and the time zone data are there;
#   5. with --kubeconfig FILE, also runs the controller in the root against
#      that (loopback) API server until /healthz answers, then stops it with
#      SIGTERM and expects a clean exit: TLS, HTTP and the probe server
#      working with the image's libraries, not just loading.
# The root has only the closure, fewer packages than debian:12-slim, so
# anything that works here works in the image. Needs root (chroot).
#
# Usage: hack/image-check.sh [--binary PATH | --work DIR] [--kubeconfig FILE]
#                            [--keep] [--dockerfile FILE]
#   --work DIR keeps the build context and CMake build tree there (default
#   ~/.cache/snapstage/image-check), so repeated runs build incrementally;
#   --keep leaves the temporary root in place and prints its path;
#   --dockerfile checks another Dockerfile (the tests use it to show that a
#   runtime stage missing a library fails).
# Exit: 0 all checks passed, 1 a check failed, 77 not root (skipped).
set -euo pipefail

ROOT_DIR=$(cd "$(dirname "$0")/.." && pwd)
DOCKERFILE=$ROOT_DIR/Dockerfile
CACHE=${SNAPSTAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapstage}/image-check
binary=""
work=""
kubeconfig=""
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --binary) binary=${2:?}; shift 2 ;;
    --kubeconfig) kubeconfig=${2:?}; shift 2 ;;
    --keep) keep=1; shift ;;
    --dockerfile) DOCKERFILE=${2:?}; shift 2 ;;
    --work) work=${2:?}; shift 2 ;;
    *) echo "usage: $0 [--binary PATH | --work DIR] [--kubeconfig FILE] [--keep] [--dockerfile FILE]" >&2; exit 2 ;;
    esac
done

log() { printf '[image-check] %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
ok() { log "ok: $*"; }

if [ "$(id -u)" != 0 ]; then
    log "skipped: chroot needs root"
    exit 77
fi
for t in apt-get apt-cache dpkg dpkg-deb chroot python3 cmake; do
    command -v "$t" >/dev/null || fail "$t is not installed"
done

# --- 1. What the Dockerfile says ------------------------------------------
# Prints three lines: the runtime packages, the ENTRYPOINT binary, the USER.
read_dockerfile() {
    python3 - "$DOCKERFILE" <<'PY'
import json, re, shlex, sys
text = open(sys.argv[1]).read()
# Join continuation lines, drop comments, keep only the last stage.
lines, cur = [], ""
for raw in text.splitlines():
    s = raw.strip()
    if not cur and (not s or s.startswith("#")):
        continue
    if s.startswith("#"):
        continue
    if s.endswith("\\"):
        cur += s[:-1] + " "
        continue
    lines.append(cur + s)
    cur = ""
last = max(i for i, l in enumerate(lines) if l.upper().startswith("FROM "))
stage = lines[last:]
pkgs, entry, user = [], None, None
for l in stage:
    word = l.split(None, 1)[0].upper()
    if word == "RUN":
        for cmd in l[4:].split("&&"):
            toks = shlex.split(cmd)
            toks = [t for t in toks if "=" not in t or t.startswith("-")]  # env assignments
            if len(toks) >= 2 and toks[0] == "apt-get" and "install" in toks:
                after = toks[toks.index("install") + 1:]
                pkgs += [t for t in after if not t.startswith("-")]
    elif word == "ENTRYPOINT":
        entry = json.loads(l.split(None, 1)[1])[0]
    elif word == "USER":
        user = l.split(None, 1)[1].strip()
if not pkgs or not entry or not user:
    sys.exit("runtime stage: need an apt-get install, an exec-form ENTRYPOINT and a USER")
print(" ".join(pkgs)); print(entry); print(user)
PY
}
{ read -r pkgs_line; read -r entrypoint; read -r user; } < <(read_dockerfile) ||
    fail "cannot parse $DOCKERFILE"
read -r -a PKGS <<<"$pkgs_line"
[ ${#PKGS[@]} -gt 0 ] || fail "no runtime packages parsed from $DOCKERFILE"
case "$user" in *:*) ;; *) user="$user:$user" ;; esac
log "runtime stage: packages ${PKGS[*]}; entrypoint $entrypoint; user $user"
case "$user" in 0:* | root*) fail "the runtime stage runs as root ($user)" ;; esac

ROOT=$(mktemp -d /tmp/snapstage-image-check.XXXXXX)
smoke_pid=""
cleanup() {
    if [ -n "$smoke_pid" ] && kill -0 "$smoke_pid" 2>/dev/null; then
        kill -KILL "$smoke_pid" 2>/dev/null || true
    fi
    if [ $keep = 1 ]; then log "root kept at $ROOT"; else rm -rf "$ROOT"; fi
}
trap cleanup EXIT

# --- 2. The dependency closure, downloaded once ----------------------------
mapfile -t CLOSURE < <(apt-cache depends --recurse --no-recommends --no-suggests \
    --no-conflicts --no-breaks --no-replaces --no-enhances "${PKGS[@]}" |
    grep -E '^[a-z0-9]' | sort -u)
[ ${#CLOSURE[@]} -ge ${#PKGS[@]} ] || fail "apt-cache depends resolved too little (run apt-get update?)"
log "dependency closure: ${#CLOSURE[@]} packages"
mkdir -p "$CACHE/debs"
# One apt-get call prints every candidate's URL and file name (quick; a
# per-package apt-cache query costs about a second each).
declare -A DEB
missing=()
while read -r _url file _; do
    p=${file%%_*}
    DEB[$p]=$CACHE/debs/$file
    [ -s "$CACHE/debs/$file" ] || missing+=("$p")
done < <(apt-get download --print-uris "${CLOSURE[@]}" | tr -d "'")
[ ${#DEB[@]} = ${#CLOSURE[@]} ] || fail "apt-get resolved ${#DEB[@]} of ${#CLOSURE[@]} packages"
if [ ${#missing[@]} -gt 0 ]; then
    log "downloading ${#missing[@]} packages into $CACHE/debs"
    # Under a lock: two runs (two build trees) may share the cache.
    (cd "$CACHE/debs" && flock "$CACHE/debs.lock" \
        apt-get -q -o APT::Sandbox::User=root download "${missing[@]}" >&2) ||
        fail "apt-get download failed"
fi

# --- 3. The root ------------------------------------------------------------
# Debian 12 images have merged /usr: /bin, /lib, /lib64 and /sbin are
# symlinks into /usr. `dpkg -x` would replace those symlinks with real
# directories (its tar does not keep directory symlinks), so each package's
# files go through `dpkg-deb --fsys-tarfile | tar --keep-directory-symlink`,
# which unpacks them the way dpkg installs them into the image.
mkdir -p "$ROOT/usr/bin" "$ROOT/usr/lib" "$ROOT/usr/lib64" "$ROOT/usr/sbin"
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$ROOT/$d"; done
for p in "${CLOSURE[@]}"; do
    [ -s "${DEB[$p]}" ] || fail "not downloaded: ${DEB[$p]}"
    dpkg-deb --fsys-tarfile "${DEB[$p]}" |
        tar -x --keep-directory-symlink -C "$ROOT" ||
        fail "cannot unpack ${DEB[$p]}"
done
mkdir -p "$ROOT/tmp" "$ROOT/etc" "$ROOT/dev"
chmod 1777 "$ROOT/tmp"
# What maintainer scripts would have done at `apt-get install`: the
# library cache (ldconfig) and the CA bundle (update-ca-certificates
# concatenates the certificates /etc/ca-certificates.conf enables, by
# default all of /usr/share/ca-certificates).
ldconfig -r "$ROOT"
mkdir -p "$ROOT/etc/ssl/certs"
find "$ROOT/usr/share/ca-certificates" -name '*.crt' -print0 | sort -z |
    xargs -0 cat >"$ROOT/etc/ssl/certs/ca-certificates.crt"
# /dev/null and /dev/urandom, as a container runtime provides them.
for n in null urandom; do
    cp -a "/dev/$n" "$ROOT/dev/$n"
done

# --- 4. The binary ----------------------------------------------------------
if [ -z "$binary" ]; then
    work=${work:-$CACHE}
    ctx=$work/context
    rm -rf "$ctx"
    mkdir -p "$ctx"
    # cp -a keeps modification times, so the build tree stays incremental.
    # The context .dockerignore allows (an allowlist: `*` then `!path`).
    grep -q '^\*$' "$ROOT_DIR/.dockerignore" || fail ".dockerignore is not an allowlist starting with *"
    while read -r line; do
        case "$line" in '!'*) p=${line#!}; p=${p%/}; cp -a "$ROOT_DIR/$p" "$ctx/" ;; esac
    done <"$ROOT_DIR/.dockerignore"
    log "building as the build stage does (Release, no tests) from the context in $ctx"
    cmake -S "$ctx" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DSNAPSTAGE_TESTS=OFF >/dev/null ||
        fail "cmake configure failed"
    cmake --build "$work/build" -j"$(nproc)" >/dev/null || fail "the build stage's build failed (see above)"
    binary=$work/build/controller/snapstage
fi
[ -x "$binary" ] || fail "no binary at $binary"
mkdir -p "$ROOT$(dirname "$entrypoint")"
install -m 0755 "$binary" "$ROOT$entrypoint"

# --- 5. Checks inside the root, as the image's user --------------------------
in_root() { chroot --userspec="$user" "$ROOT" "$@"; }

loader=$(find "$ROOT/usr/lib" -maxdepth 2 -name 'ld-linux-*.so.*' -print -quit)
[ -n "$loader" ] || fail "no dynamic loader in the root (libc6 missing?)"
# The loader's --list is ldd: it fails, naming the library, if one is missing.
if ! libs=$(in_root "${loader#"$ROOT"}" --list "$entrypoint" 2>&1) || grep -q 'not found' <<<"$libs"; then
    printf '%s\n' "$libs" >&2
    fail "shared libraries missing from the runtime stage"
fi
ok "all $(grep -c '=>' <<<"$libs") shared libraries resolve inside the root"

out=$(in_root "$entrypoint" --version 2>&1) || fail "--version failed: $out"
grep -q '^snapstage ' <<<"$out" || fail "--version printed '$out'"
ok "$entrypoint --version as $user: $out"

out=$(in_root "$entrypoint" --help 2>&1) || fail "--help failed"
grep -q -- '--leader-elect' <<<"$out" || fail "--help does not list --leader-elect"
ok "$entrypoint --help as $user ($(wc -l <<<"$out") lines)"

n=$(grep -c 'BEGIN CERTIFICATE' "$ROOT/etc/ssl/certs/ca-certificates.crt" || true)
[ "$n" -gt 50 ] || fail "CA bundle has $n certificates"
ok "CA bundle: $n certificates"
if [ ! -f "$ROOT/usr/share/zoneinfo/UTC" ] || [ ! -f "$ROOT/usr/share/zoneinfo/Europe/Berlin" ]; then
    fail "tzdata missing"
fi
ok "tzdata present"

# --- 6. Optional: run it against a loopback API server ----------------------
if [ -n "$kubeconfig" ]; then
    grep -Eq 'server: https://(127\.0\.0\.1|localhost|\[::1\])[:/]' "$kubeconfig" ||
        fail "--kubeconfig must point at a loopback API server"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    install -m 0600 -o "${user%%:*}" -g "${user#*:}" "$kubeconfig" "$ROOT/tmp/kubeconfig"
    # chroot itself, not the in_root function: a backgrounded function runs
    # in a subshell, and the SIGTERM below must reach the controller (chroot
    # execs it, so $! is its pid).
    chroot --userspec="$user" "$ROOT" "$entrypoint" --kubeconfig /tmp/kubeconfig --metrics-bind-address=0 \
        --health-probe-bind-address="127.0.0.1:$port" --log-format=json \
        >"$ROOT/tmp/run.log" 2>&1 </dev/null &
    smoke_pid=$!
    healthy=0
    for _ in $(seq 1 100); do
        if [ "$(curl -s --max-time 1 "http://127.0.0.1:$port/healthz" || true)" = ok ]; then
            healthy=1
            break
        fi
        kill -0 "$smoke_pid" 2>/dev/null || break
        sleep 0.1
    done
    [ $healthy = 1 ] || { cat "$ROOT/tmp/run.log" >&2; fail "the controller never answered /healthz"; }
    grep -q '"API served"' "$ROOT/tmp/run.log" ||
        { cat "$ROOT/tmp/run.log" >&2; fail "the controller did not reach the API server over TLS"; }
    kill -TERM "$smoke_pid"
    rc=0
    wait "$smoke_pid" || rc=$?
    smoke_pid=""
    rm -f "$ROOT/tmp/kubeconfig" # it holds a token: gone even with --keep
    [ $rc = 0 ] || { cat "$ROOT/tmp/run.log" >&2; fail "exit $rc after SIGTERM"; }
    ok "ran against $(grep -Eo 'https://[^ ]+' "$kubeconfig" | head -n1) over TLS: /healthz ok, clean exit on SIGTERM"
fi
log "all checks passed"
