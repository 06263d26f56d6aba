#!/usr/bin/env bash
# Installs, from Debian's archive, everything snapstage needs to build and
# test on a fresh Debian 12 machine. Idempotent and quiet when all is there.
#
# Usage (as root): hack/deps.sh
set -euo pipefail

PACKAGES=(
    # build
    build-essential cmake pkg-config
    libcurl4-openssl-dev libjansson-dev libyaml-dev libssl-dev
    libwebsockets-dev libmariadb-dev
    # tests
    libcmocka-dev valgrind python3 python3-yaml iproute2 clang
    # the local test cluster (hack/cluster.sh, hack/build-k8s.sh)
    etcd-server openssl curl golang-go rsync dpkg-dev
    # the simulated node and storage (hack/sim/) and the MariaDB they run
    mariadb-server mariadb-client python3-kubernetes python3-pymysql
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
        missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "hack/deps.sh: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
fi
echo "[deps] installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The etcd and mariadb-server packages may start system services; the tests
# run their own.
if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now etcd >/dev/null 2>&1 || true
    systemctl disable --now mariadb >/dev/null 2>&1 || true
fi
if command -v service >/dev/null 2>&1 && pgrep -x mariadbd >/dev/null; then
    service mariadb stop >/dev/null 2>&1 || true
fi
