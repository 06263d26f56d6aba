#!/usr/bin/env bash
# Two private MariaDB servers for tests/integration/test_replay.c, apart
# from the shared `mariadb` fixture (the test kills its source): a source
# on 127.0.0.40 (server_id 1) and a scratch server on 127.0.0.41 (server_id
# 2), both as hack/mariadb-local.sh starts its servers (binlog, ROW,
# log_slave_updates, gtid_strict_mode, --skip-slave-start), port 3306 or a
# free one. Accounts are made with sql_log_bin = 0, so neither binary log
# holds a GTID before the test writes: root@'%' (everything) on both,
# repl@'%' (REPLICATION SLAVE) on the source. Passwords are generated into
# DIR/secrets (0600), never on a command line. DIR/env has the addresses,
# ports, password files and pids.
#
# Usage: replay_servers.sh DIR up | down. `down` TERMs exactly the pids in
# DIR/*.pid (KILL after 30 s) and removes DIR.
set -euo pipefail
DIR=${1:?usage: $0 DIR up|down}
case "$DIR" in /*) ;; *) DIR=$(pwd)/$DIR ;; esac

stop_one() { # pidfile
    local pid i
    [ -f "$1" ] || return 0
    pid=$(<"$1")
    # ours only: its command line names DIR
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

down() {
    [ -d "$DIR" ] || return 0
    stop_one "$DIR/source.pid"
    stop_one "$DIR/scratch.pid"
    rm -rf "$DIR"
}

free_port() { # addr
    python3 - "$1" <<'PY'
import socket, sys
for port in [3306, 0]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((sys.argv[1], port)); print(s.getsockname()[1]); sys.exit(0)
    except OSError: pass
    finally: s.close()
sys.exit(1)
PY
}

start() { # name addr id
    local n=$1 a=$2 id=$3 d=$DIR/$1 port i
    mkdir -p "$d/data" "$d/tmp"
    # a private tmpdir, as hack/mariadb-local.sh says why
    TMPDIR="$d/tmp" mariadb-install-db --no-defaults --datadir="$d/data" --user=root \
        --auth-root-authentication-method=normal --skip-test-db --tmpdir="$d/tmp" \
        --innodb-buffer-pool-size=32M --innodb-log-file-size=16M >"$d/install.log" 2>&1
    port=$(free_port "$a")
    setsid /usr/sbin/mariadbd --no-defaults --user=root --datadir="$d/data" \
        --bind-address="$a" --port="$port" --socket="$d/s.sock" --pid-file="$d/pid" \
        --log-error="$d/err" --tmpdir="$d/tmp" --server-id="$id" \
        --log-bin="$d/data/mysql-bin" --binlog-format=ROW --log-slave-updates \
        --gtid-strict-mode=1 --relay-log="$d/data/relay-bin" --skip-slave-start \
        --skip-name-resolve --innodb-buffer-pool-size=32M --innodb-log-file-size=16M \
        </dev/null >/dev/null 2>&1 &
    echo $! >"$DIR/$n.pid"
    for ((i = 0; i < 600; i++)); do
        mariadb --no-defaults -uroot --socket="$d/s.sock" -e 'SELECT 1' >/dev/null 2>&1 && break
        kill -0 "$(<"$DIR/$n.pid")" 2>/dev/null || { tail "$d/err" >&2; exit 1; }
        sleep 0.1
    done
    echo "$port"
}

up() {
    down
    mkdir -p "$DIR/secrets"
    chmod 0700 "$DIR/secrets"
    (umask 077; openssl rand -hex 16 >"$DIR/secrets/root"; openssl rand -hex 16 >"$DIR/secrets/repl")
    trap down ERR
    local sp cp
    sp=$(start source 127.0.0.40 1)
    cp=$(start scratch 127.0.0.41 2)
    local n drops
    for n in source scratch; do
        # install-db's password-less root@127.0.0.1 etc. would match first
        drops=$(mariadb --no-defaults -uroot --socket="$DIR/$n/s.sock" -N <<<"SELECT
            CONCAT('DROP USER ', QUOTE(user), '@', QUOTE(host), ';') FROM mysql.user
            WHERE host <> 'localhost'")
        mariadb --no-defaults -uroot --socket="$DIR/$n/s.sock" <<<"SET sql_log_bin = 0; $drops"
    done
    mariadb --no-defaults -uroot --socket="$DIR/source/s.sock" <<SQL
SET sql_log_bin = 0;
CREATE USER root@'%' IDENTIFIED BY '$(<"$DIR/secrets/root")';
GRANT ALL ON *.* TO root@'%' WITH GRANT OPTION;
CREATE USER repl@'%' IDENTIFIED BY '$(<"$DIR/secrets/repl")';
GRANT REPLICATION SLAVE ON *.* TO repl@'%';
SQL
    mariadb --no-defaults -uroot --socket="$DIR/scratch/s.sock" <<SQL
SET sql_log_bin = 0;
CREATE USER root@'%' IDENTIFIED BY '$(<"$DIR/secrets/root")';
GRANT ALL ON *.* TO root@'%' WITH GRANT OPTION;
SQL
    cat >"$DIR/env" <<ENV
SOURCE_HOST=127.0.0.40
SOURCE_PORT=$sp
SCRATCH_HOST=127.0.0.41
SCRATCH_PORT=$cp
ROOT_PASSWORD_FILE=$DIR/secrets/root
REPL_PASSWORD_FILE=$DIR/secrets/repl
SOURCE_PID=$(<"$DIR/source.pid")
ENV
    trap - ERR
}

case "${2:-}" in
up) up ;;
down) down ;;
*) echo "usage: $0 DIR up|down" >&2; exit 2 ;;
esac
