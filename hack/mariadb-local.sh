#!/usr/bin/env bash
# Two real MariaDB servers for the lock-session tests, without Kubernetes:
# a primary on 127.0.0.20 and a GTID replica of it on 127.0.0.21 (each its
# own loopback address, so both can use port 3306; if 3306 is taken on an
# address, another free port on it is used and written to DIR/env). The
# primary also listens on 127.0.0.22, a name its certificate does not carry,
# for host-name verification tests.
#
# Usage: hack/mariadb-local.sh --dir DIR up | down | status
#
# `up` initializes both data directories under DIR (mariadb-install-db
# --no-defaults), starts both servers with --no-defaults, and creates, on the
# primary (replicated to the replica):
#   root@localhost, root@'%'  everything, WITH GRANT OPTION
#   backup@'%'                RELOAD, BINLOG MONITOR, REPLICA MONITOR,
#                             REPLICATION SLAVE ADMIN: what a lock session
#                             needs (BACKUP STAGE needs RELOAD; SHOW MASTER
#                             STATUS needs BINLOG MONITOR; SHOW [ALL]
#                             SLAVE[S] STATUS needs REPLICA MONITOR; pausing a
#                             replica's SQL threads REPLICATION SLAVE ADMIN)
#   weak@'%'                  BINLOG MONITOR, REPLICA MONITOR (no RELOAD)
#   repl@'%'                  REPLICATION SLAVE (the replica's connection)
# and the database snapstage_test. The primary serves TLS with a certificate
# for IP 127.0.0.20 from a CA generated in DIR/tls (plus a second, unrelated
# CA for negative tests); the replica has no TLS. Then it writes DIR/env
# (shell `export` lines: addresses, ports, user names, password and CA file
# paths) and returns once the replica has caught up with the primary.
#
# Invariants (as hack/cluster.sh): each server runs in its own session with
# its pid in DIR/pids; `down` sends TERM to exactly those (KILL after 30 s),
# then to anything else whose command line names DIR, checks nothing is
# left, and removes DIR (only if it has a pids/ folder). `up` on a running
# pair is a no-op; a failed or interrupted `up` tears down what it started.
# Passwords are generated, written to DIR/secrets with mode 0600, and reach
# the servers and the client only through files and stdin, never a command
# line. Concurrent `up`s on one machine choose ports under a machine-wide
# lock, so they never both take one address:port.
set -euo pipefail

DIR=""
if [ "${1:-}" = "--dir" ]; then
    DIR=${2:?"--dir needs a directory"}
    shift 2
fi
[ -n "$DIR" ] || { echo "usage: $0 --dir DIR up|down|status" >&2; exit 2; }
case "$DIR" in /*) ;; *) DIR=$(pwd)/$DIR ;; esac

PRIMARY_ADDR=127.0.0.20
PRIMARY_ALIAS=127.0.0.22 # the primary also listens here: not in its certificate
REPLICA_ADDR=127.0.0.21
MARIADBD=/usr/sbin/mariadbd
INSTALL_DB=/usr/bin/mariadb-install-db
INNODB_FLAGS=(--innodb-buffer-pool-size=32M --innodb-log-file-size=16M)
SOCK_MAX=100 # sun_path is 108 bytes

# Process handling (pid files, alive checks, TERM then KILL): hack/lib/procs.sh.
# A recorded pid is ours while its command line names DIR/; TERM gets 30 s
# (a clean InnoDB shutdown).
# shellcheck source-path=SCRIPTDIR source=lib/procs.sh
. "$(cd "$(dirname "$0")" && pwd)/lib/procs.sh"
PROCS_SCRIPT=mariadb-local.sh
PROCS_LOG_SUFFIX=.console.log
PROCS_TERM_SECONDS=30
PROCS_TERM_NOTE=" within 30 s"
PROCS_MARK=$DIR/
PROCS_NAME_MARKS=0

# fd 3 is the caller's stderr (see hack/cluster.sh); servers get it closed.
exec 3>&2
log() { printf '[mariadb-local] %s\n' "$*" >&3; }
die() { log "error: $*"; exit 1; }

ensure_tools() {
    local t
    for t in "$MARIADBD" "$INSTALL_DB" mariadb openssl python3 flock setsid; do
        command -v "$t" >/dev/null || die "$t is not installed (hack/deps.sh installs it)"
    done
}

# Prints PORT if no server listens on it on any of ADDRS, else a port
# chosen by the kernel that is free on all of them.
pick_port() { # port addrs...
    python3 - "$@" <<'PY'
import socket, sys
want, addrs = int(sys.argv[1]), sys.argv[2:]
def free_on_all(port):
    socks = []
    try:
        for a in addrs:
            s = socket.socket()
            socks.append(s)
            # As mariadbd binds: a connection of an earlier server in
            # TIME_WAIT does not make the port busy, a listener does.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a, port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()
if free_on_all(want):
    print(want)
    sys.exit(0)
for _ in range(100):
    s = socket.socket()
    s.bind((addrs[0], 0))
    port = s.getsockname()[1]
    s.close()
    if free_on_all(port):
        print(port)
        sys.exit(0)
sys.exit("no port free on all of " + ", ".join(addrs))
PY
}

listening() { # addr port
    python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
PY
}

gen_secrets() {
    local u
    mkdir -p "$DIR/secrets"
    chmod 0700 "$DIR/secrets"
    (
        umask 077
        for u in root backup weak repl; do
            openssl rand -hex 16 >"$DIR/secrets/$u.password"
        done
        # The client reads root's password from here (--defaults-file).
        printf '[client]\nuser=root\npassword=%s\n' "$(<"$DIR/secrets/root.password")" \
            >"$DIR/secrets/root.cnf"
    )
}

gen_tls() {
    local t=$DIR/tls
    mkdir -p "$t"
    (
        cd "$t"
        umask 077
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=snapstage-mariadb-test-ca \
            -keyout ca.key -out ca.crt 2>/dev/null
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=snapstage-unrelated-ca \
            -keyout other-ca.key -out other-ca.crt 2>/dev/null
        printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$PRIMARY_ADDR" >primary.ext
        openssl req -newkey rsa:2048 -nodes -subj /CN=snapstage-mariadb-primary \
            -keyout primary.key -out primary.csr 2>/dev/null
        openssl x509 -req -in primary.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -days 3650 -extfile primary.ext -out primary.crt 2>/dev/null
        rm -f ca.key other-ca.key primary.csr ca.srl
        chmod 0644 ca.crt other-ca.crt primary.crt
    )
}

# The socket path of server NAME. A long DIR would overflow sun_path, so
# then the sockets live in a directory of their own under /tmp, recorded in
# DIR/sockdir and removed by `down`.
sock_of() {
    local d=$DIR/run
    [ -f "$DIR/sockdir" ] && d=$(<"$DIR/sockdir")
    echo "$d/$1.sock"
}

# SQL from stdin as root over NAME's socket; the password comes from a file
# (before it is set, root has none).
sql_root() { # name
    if [ -f "$DIR/secrets/root.set" ]; then
        mariadb --defaults-file="$DIR/secrets/root.cnf" --socket="$(sock_of "$1")" \
            --batch --skip-column-names
    else
        mariadb --no-defaults --user=root --socket="$(sock_of "$1")" --batch --skip-column-names
    fi
}

# A private --tmpdir (and TMPDIR) for install-db's bootstrap server too: a
# starting mariadbd deletes every #sql* file in its tmpdir, so two fixtures
# installing at once in a shared /tmp broke each other ("Unknown table
# 'mysql.tmp_user_sys'"; seen when a CI run and a developer's ctest -L mariadb
# overlapped). hack/sim/node.py learnt the same.
install_db() { # name
    local d=$DIR/$1/data
    mkdir -p "$d" "$DIR/$1/tmp"
    if ! TMPDIR="$DIR/$1/tmp" "$INSTALL_DB" --no-defaults --datadir="$d" --user=root \
        --auth-root-authentication-method=normal --skip-test-db --tmpdir="$DIR/$1/tmp" \
        "${INNODB_FLAGS[@]}" </dev/null >"$DIR/logs/$1.install.log" 2>&1; then
        tail -n 20 "$DIR/logs/$1.install.log" >&3 || true
        die "mariadb-install-db failed for $1 (see $DIR/logs/$1.install.log)"
    fi
}

start_server() { # name addr port server-id extra-flags...
    local name=$1 addr=$2 port=$3 id=$4 d=$DIR/$1/data i
    shift 4
    procs_spawn "$name" "$MARIADBD" --no-defaults --user=root --datadir="$d" \
        --bind-address="$addr" --port="$port" --socket="$(sock_of "$name")" \
        --pid-file="$DIR/run/$name.pid" --log-error="$DIR/logs/$name.err" \
        --tmpdir="$DIR/$name/tmp" --server-id="$id" \
        --log-bin="$d/mysql-bin" --binlog-format=ROW --log-slave-updates \
        --gtid-strict-mode=1 --relay-log="$d/relay-bin" --skip-slave-start \
        --skip-name-resolve "${INNODB_FLAGS[@]}" "$@"
    for ((i = 0; i < 600; i++)); do
        if listening "${addr%%,*}" "$port" && sql_root "$name" <<<'SELECT 1' >/dev/null 2>&1; then
            return 0
        fi
        if ! procs_alive "$name"; then
            tail -n 20 "$DIR/logs/$name.err" >&3 2>/dev/null || true
            die "mariadbd $name exited during start-up (see $DIR/logs/$name.err)"
        fi
        sleep 0.1
    done
    die "mariadbd $name did not accept connections within 60 s"
}

setup_primary() {
    local pw_root pw_backup pw_weak pw_repl drops
    pw_root=$(<"$DIR/secrets/root.password")
    pw_backup=$(<"$DIR/secrets/backup.password")
    pw_weak=$(<"$DIR/secrets/weak.password")
    pw_repl=$(<"$DIR/secrets/repl.password")
    # mariadb-install-db also made root@127.0.0.1, root@::1 and root@HOST
    # without a password; TCP clients come from 127.0.0.1, so they go.
    drops=$(sql_root primary <<<"SELECT CONCAT('DROP USER ', QUOTE(user), '@', QUOTE(host), ';')
        FROM mysql.user WHERE user = 'root' AND host <> 'localhost'")
    # Binlogged, so the replica gets the same accounts by replication.
    sql_root primary <<SQL
$drops
ALTER USER root@localhost IDENTIFIED BY '$pw_root';
CREATE USER root@'%' IDENTIFIED BY '$pw_root';
GRANT ALL ON *.* TO root@'%' WITH GRANT OPTION;
CREATE USER backup@'%' IDENTIFIED BY '$pw_backup';
GRANT RELOAD, BINLOG MONITOR, REPLICA MONITOR, REPLICATION SLAVE ADMIN ON *.* TO backup@'%';
CREATE USER weak@'%' IDENTIFIED BY '$pw_weak';
GRANT BINLOG MONITOR, REPLICA MONITOR ON *.* TO weak@'%';
CREATE USER repl@'%' IDENTIFIED BY '$pw_repl';
GRANT REPLICATION SLAVE ON *.* TO repl@'%';
CREATE DATABASE snapstage_test;
SQL
    touch "$DIR/secrets/root.set"
}

setup_replica() {
    local pw_repl pos i
    pw_repl=$(<"$DIR/secrets/repl.password")
    # The replica's root has no password until the primary's ALTER USER
    # arrives by replication, so this runs on the install-time account.
    rm -f "$DIR/secrets/root.set"
    sql_root replica <<SQL
CHANGE MASTER TO MASTER_HOST='$PRIMARY_ADDR', MASTER_PORT=$PRIMARY_PORT,
  MASTER_USER='repl', MASTER_PASSWORD='$pw_repl',
  MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
START SLAVE;
SQL
    touch "$DIR/secrets/root.set"
    pos=$(sql_root primary <<<'SELECT @@gtid_binlog_pos')
    for ((i = 0; i < 300; i++)); do
        if [ "$(sql_root replica <<<"SELECT MASTER_GTID_WAIT('$pos', 1)" 2>/dev/null)" = 0 ]; then
            return 0
        fi
        procs_alive replica || die "the replica exited (see $DIR/logs/replica.err)"
        sleep 0.1
    done
    sql_root replica <<<'SHOW SLAVE STATUS\G' >&3 2>&1 || true
    die "the replica did not reach the primary's position $pos within 30 s"
}

write_env() {
    cat >"$DIR/env" <<ENV
export SNAPSTAGE_MARIADB_DIR=$DIR
export SNAPSTAGE_MARIADB_PRIMARY_HOST=$PRIMARY_ADDR
export SNAPSTAGE_MARIADB_PRIMARY_PORT=$PRIMARY_PORT
export SNAPSTAGE_MARIADB_PRIMARY_ALIAS_HOST=$PRIMARY_ALIAS
export SNAPSTAGE_MARIADB_PRIMARY_SOCKET=$(sock_of primary)
export SNAPSTAGE_MARIADB_REPLICA_HOST=$REPLICA_ADDR
export SNAPSTAGE_MARIADB_REPLICA_PORT=$REPLICA_PORT
export SNAPSTAGE_MARIADB_REPLICA_SOCKET=$(sock_of replica)
export SNAPSTAGE_MARIADB_ROOT_USER=root
export SNAPSTAGE_MARIADB_ROOT_PASSWORD_FILE=$DIR/secrets/root.password
export SNAPSTAGE_MARIADB_ROOT_CNF=$DIR/secrets/root.cnf
export SNAPSTAGE_MARIADB_BACKUP_USER=backup
export SNAPSTAGE_MARIADB_BACKUP_PASSWORD_FILE=$DIR/secrets/backup.password
export SNAPSTAGE_MARIADB_WEAK_USER=weak
export SNAPSTAGE_MARIADB_WEAK_PASSWORD_FILE=$DIR/secrets/weak.password
export SNAPSTAGE_MARIADB_REPL_USER=repl
export SNAPSTAGE_MARIADB_REPL_PASSWORD_FILE=$DIR/secrets/repl.password
export SNAPSTAGE_MARIADB_DATABASE=snapstage_test
export SNAPSTAGE_MARIADB_PRIMARY_CA_FILE=$DIR/tls/ca.crt
export SNAPSTAGE_MARIADB_OTHER_CA_FILE=$DIR/tls/other-ca.crt
ENV
}

cmd_down() {
    [ -d "$DIR" ] || return 0
    [ -d "$DIR/pids" ] || die "$DIR has no pids/ folder: not a mariadb-local dir, not removing it"
    local sockdir=""
    [ -f "$DIR/sockdir" ] && sockdir=$(<"$DIR/sockdir")
    procs_stop replica
    procs_stop primary
    procs_sweep_leftovers
    case "$sockdir" in /tmp/snapstage-mdb.*) rm -rf "$sockdir" ;; esac
    rm -rf "$DIR"
    log "down: $DIR removed"
}

cmd_up() {
    if [ -f "$DIR/env" ] && procs_alive primary && procs_alive replica; then
        log "already running (source $DIR/env)"
        return 0
    fi
    [ -d "$DIR" ] && cmd_down
    ensure_tools
    local started_ns ms
    started_ns=$(date +%s%N)
    mkdir -p "$DIR/pids" "$DIR/logs" "$DIR/run" "$DIR/primary/tmp" "$DIR/replica/tmp"
    UP_DONE=0
    trap 'procs_up_failed' EXIT
    trap 'exit 130' INT TERM
    if [ ${#DIR} -gt $((SOCK_MAX - 20)) ]; then
        mktemp -d /tmp/snapstage-mdb.XXXXXX >"$DIR/sockdir"
    fi
    gen_secrets
    gen_tls
    install_db primary
    install_db replica
    # Ports are chosen and bound under a machine-wide lock (an flock of
    # /tmp itself, so no lock file is left behind), so two `up`s at once
    # never pick the same address:port.
    exec 4</tmp
    flock 4
    PRIMARY_PORT=$(pick_port 3306 "$PRIMARY_ADDR" "$PRIMARY_ALIAS")
    REPLICA_PORT=$(pick_port 3306 "$REPLICA_ADDR")
    start_server primary "$PRIMARY_ADDR,$PRIMARY_ALIAS" "$PRIMARY_PORT" 1 \
        --ssl-ca="$DIR/tls/ca.crt" --ssl-cert="$DIR/tls/primary.crt" \
        --ssl-key="$DIR/tls/primary.key"
    start_server replica "$REPLICA_ADDR" "$REPLICA_PORT" 2 --read-only=1
    flock -u 4
    exec 4>&-
    setup_primary
    setup_replica
    write_env
    UP_DONE=1
    trap - EXIT INT TERM
    ms=$((($(date +%s%N) - started_ns) / 1000000))
    log "up in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s: primary $PRIMARY_ADDR:$PRIMARY_PORT (TLS), replica $REPLICA_ADDR:$REPLICA_PORT (source $DIR/env)"
}

cmd_status() {
    local c rc=0
    for c in primary replica; do
        if procs_alive "$c"; then echo "$c: running (pid $(procs_pid_of "$c"))"; else echo "$c: stopped"; rc=1; fi
    done
    return $rc
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*) echo "usage: $0 --dir DIR up|down|status" >&2; exit 2 ;;
esac
