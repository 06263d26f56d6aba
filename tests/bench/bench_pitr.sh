#!/usr/bin/env bash
# bench_pitr.sh — a benchmark, not a test: how long a point-in-time
# Restore (issue 19, spec.replay, mode NewClaims) takes, split by its
# steps, and how fast the scratch server replays the source's binlog. It
# prints figures; it does not judge them. It fails only if the set-up
# does, a Backup does not complete or a Restore is not Complete within its
# bound.
#
# Needs a `hack/cluster.sh up --with-mariadb` cluster. In a namespace of its
# own: a copy of hack/sim/mariadb.yaml (a primary and two GTID replicas,
# the sim's mariadbd: 32M buffer pool, 16M redo log, binlog_format ROW,
# default durability: innodb_flush_log_at_trx_commit=1, sync_binlog=0, one
# SQL thread on a replica) whose claims request BENCH_CLAIM (default 2Gi;
# the sim does not enforce sizes); the replication account (Secret
# mariadb, replication-user) granted BINLOG MONITOR on the primary; the
# real snapstage binary (with --enable-point-in-time-restore when it has
# the flag). For each size, in order, on one database:
#   demo   hack/demo.sh's shop.orders (rows 1, 2); Backup pitr-demo of a
#          replica; then rows 3, 4, 5 on the primary, one transaction each;
#   big    tables shop.stock (1000 items), shop.order_lines and
#          shop.documents and a procedure shop.bench_oltp made; Backup
#          pitr-big; then the procedure run on the primary until the
#          binlog written after the Backup is at least BENCH_BINLOG_MB
#          (default 100) MB. One round of it is 10 transactions (11 every
#          100th round), each committed on its own, about 11.2 kB of
#          binlog (ROW format, annotated: 18 row events):
#            8 x  a new order: INSERT a shop.order_lines row (7 columns,
#                 ~60 bytes) and UPDATE one shop.stock row, one
#                 transaction;
#            1 x  UPDATE one order line's status (autocommit);
#            1 x  INSERT a shop.documents row with a 4 KiB body
#                 (autocommit): the "bigger rows";
#            1/100 x  UPDATE of 200 shop.stock rows' price in one
#                 transaction (a batch job);
# then, for both sizes, after a second has passed on the primary's clock,
# one marker transaction (so the binlog shows the target time has passed:
# a strict time resolution needs a newer group) and the replicas caught up.
# Two Restores each, one after the other, from that Backup
# (spec.source.backupName), into new claims:
#   gtid   spec.replay.gtid = the last transaction before the marker;
#   time   spec.replay.time = the primary's clock second of that last
#          transaction (RFC 3339): resolving reads the source's binlog from
#          the base up to the marker, which it is measured for;
# both end at the same position.
# Figures per Restore, from a kubectl watch of status.replay.step (each
# line stamped with the local time: stepStartTime is kept to the second):
# from the Restore's creation to the first step seen (accept: base, source
# probe), then RestoringBase, Starting, Resolving, Replaying, Finishing and
# Done (from its first sighting to Complete seen), and the total; the
# transactions replayed (the GTID seq span base -> target: one domain),
# the binlog events and bytes between the Backup and the target on the
# primary (SHOW BINLOG EVENTS over that span; SHOW BINARY LOGS' sizes),
# status.replay.relayLogBytes, and transactions/s, events/s and MB/s of
# the Replaying step, and the Restore's updates a watch saw in that step
# (each a status write). The Restore's claims are deleted after each; the
# watch files are kept in BENCH_KEEP (a folder) when it is set.
#
# Usage: bench_pitr.sh
# Environment: SNAPSTAGE_CLUSTER_DIR, SNAPSTAGE_BIN; optionally BENCH_SIZES
# (default "demo big"), BENCH_BINLOG_MB (100), BENCH_CLAIM (2Gi), KUBECTL.
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init bench_pitr bench-pitr

SIZES=${BENCH_SIZES:-demo big}
BINLOG_MB=${BENCH_BINLOG_MB:-100}
CLAIM=${BENCH_CLAIM:-2Gi}
if ! [[ "$BINLOG_MB" =~ ^[1-9][0-9]*$ && "$CLAIM" =~ ^[0-9]+[MG]i$ ]]; then
    echo "usage: $0  (BENCH_BINLOG_MB >= 1, BENCH_CLAIM like 2Gi)" >&2
    exit 2
fi
for s in $SIZES; do
    case $s in demo | big) ;; *)
        echo "BENCH_SIZES: '$s' is neither demo nor big" >&2
        exit 2
        ;;
    esac
done

now_ms() { echo $(($(date +%s%N) / 1000000)); }
rs() { kn get restore "$1" -o jsonpath="$2"; }
backup_complete() {
    [ "$(kn get backup "$1" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}')" = True ]
}
finished() {
    local c f
    c=$(rs "$1" '{.status.conditions[?(@.type=="Complete")].status}')
    f=$(rs "$1" '{.status.conditions[?(@.type=="Failed")].status}')
    [ "$c" = True ] || [ "$f" = True ]
}
gone() { ! kn get "$@" >/dev/null 2>&1; }
scratch_left() { kn get pods,pvc -l snapstage.io/scratch=pitr -o name 2>/dev/null; }
no_scratch_left() { [ -z "$(scratch_left)" ]; }
caught_up() { # every replica's gtid_slave_pos is the primary's gtid_binlog_pos
    local want r
    want=$(sql mariadb-0 "SELECT @@gtid_binlog_pos") || return 1
    for r in mariadb-1 mariadb-2; do
        [ "$(sql "$r" "SELECT @@gtid_slave_pos")" = "$want" ] || return 1
    done
}
sql_stdin() { # pod: the statements on stdin, as root (DELIMITER works)
    local ip
    ip=$(kn get pod "$1" -o jsonpath='{.status.podIP}')
    MYSQL_PWD=$(root_pw) mariadb -h "$ip" -u root --batch --skip-column-names --connect-timeout=5
}
on_exit() {
    stop_watch
    [ -n "$ctrl_pid" ] || return 0
    kn delete restores --all --wait=false >/dev/null 2>&1 || true
    kn delete backups --all --wait=false >/dev/null 2>&1 || true
    local end=$((SECONDS + 60))
    while [ -n "$(kn get backups,restores -o name 2>/dev/null)" ] && [ $SECONDS -lt $end ]; do sleep 1; done
}
dump_on_fail() {
    kn get restores -o yaml 2>/dev/null | grep -B2 -A30 'replay:' | tail -n 80 || true
    df -h "$SNAPSTAGE_CLUSTER_DIR" || true
}

# ---- the primary's binlog ----------------------------------------------------------
mark() { sql mariadb-0 "SHOW MASTER STATUS" | awk '{print $1, $2}'; }
# span_bytes FILE1 POS1 FILE2 POS2: binlog bytes from (FILE1, POS1) to
# (FILE2, POS2) on the primary (rotations' headers included).
span_bytes() {
    sql mariadb-0 "SHOW BINARY LOGS" | awk -v f1="$1" -v p1="$2" -v f2="$3" -v p2="$4" '
        $1 == f1 {on = 1; s -= p1}
        on && $1 == f2 {s += p2; on = 0; done = 1}
        on {s += $2}
        END {print done ? s : -1}'
}
# count_events FILE1 POS1 FILE2 POS2 OUT: the primary's binlog events in
# the span, by type, into OUT ("type count" lines; "all" and "Gtid").
count_events() {
    local f1=$1 p1=$2 f2=$3 p2=$4 out=$5 f files
    files=$(sql mariadb-0 "SHOW BINARY LOGS" | awk -v f1="$f1" -v f2="$f2" '$1 == f1 {on = 1} on {print $1} $1 == f2 {on = 0}')
    for f in $files; do
        local from=4
        [ "$f" = "$f1" ] && from=$p1
        MYSQL_PWD=$(root_pw) mariadb -h "$(kn get pod mariadb-0 -o jsonpath='{.status.podIP}')" \
            -u root --batch --skip-column-names --quick --connect-timeout=5 \
            -e "SHOW BINLOG EVENTS IN '$f' FROM $from" |
            awk -F'\t' -v last="$([ "$f" = "$f2" ] && echo "$p2" || echo -1)" \
                'last < 0 || $5 <= last {print $3}'
    done | sort | uniq -c | awk '{n += $1; print $2, $1} END {print "all", n}' >"$out"
}

# ---- the watch ----------------------------------------------------------------------
# One kubectl watch of every Restore's step and Complete condition, each
# line prefixed with the local time in microseconds; kubectl writes its pid
# first (it is what must be ended).
watch_pid=
watch_restores() { # file
    bash -c 'echo $$ >"$0"; exec "$@" 2>/dev/null' "$1.pid" \
        "$KUBECTL" -n "$ns" get restores --watch \
        -o 'jsonpath={.metadata.name} {.status.replay.step} {.status.conditions[?(@.type=="Complete")].status}{"\n"}' |
        while IFS= read -r line; do
            printf '%s %s\n' "${EPOCHREALTIME/./}" "$line"
        done >"$1" &
    watch_pid="$1.pid:$!"
    sleep 1 # the watch's first list
}
stop_watch() {
    [ -n "$watch_pid" ] || return 0
    kill "$(cat "${watch_pid%:*}" 2>/dev/null)" 2>/dev/null || true
    wait "${watch_pid##*:}" 2>/dev/null || true
    watch_pid=
}
declare -A F # F[key,field]
# steps_seen KEY FILE RESTORE CREATE_MS: F[KEY,accept] = ms from the
# creation to the first step seen, F[KEY,<Step>] = ms from a step's first
# sighting to the next one's (Done: to Complete seen), F[KEY,total],
# F[KEY,writes] = the updates seen in step Replaying.
steps_seen() {
    local s ms
    while read -r s ms; do F[$1,$s]=$ms; done < <(awk -v name="$3" -v t0="$4" '
        $2 != name {next}
        $4 == "True" && !done {done = int($1 / 1000)}
        $3 == "Replaying" {writes++}
        $3 != "" && !($3 in at) {order[n++] = $3; at[$3] = int($1 / 1000)}
        END {
            if (n == 0) exit
            printf "accept %d\n", at[order[0]] - t0
            printf "writes %d\n", writes
            for (i = 0; i < n; i++)
                printf "%s %d\n", order[i], (i + 1 < n ? at[order[i + 1]] : done) - at[order[i]]
            if (done) printf "total %d\n", done - t0
        }' "$2")
}

# ---- the Restores --------------------------------------------------------------------
pitr_yaml() { # name backup replay-line
    cat <<YAML
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata:
  name: $1
spec:
  source:
    backupName: $2
  target:
    mode: NewClaims
    newClaims:
      storageClassName: snapstage-sim
  timeoutSeconds: 7200
  replay:
    $3
    timeoutSeconds: 3600
    replicationCredentialsSecretRef:
      name: mariadb
      usernameKey: replication-user
      passwordKey: replication-password
    connection:
      credentialsSecretRef:
        name: mariadb-backup
YAML
}
# restore_one SIZE KIND BACKUP REPLAY-LINE: one Restore, measured, its
# claims deleted.
restore_one() {
    local size=$1 kind=$2 k="$1,$2" name="pitr-$1-$2" t
    watch_restores "$work/watch-$name"
    t=$(now_ms)
    pitr_yaml "$name" "$3" "$4" | kn apply -f - >/dev/null || fail "creating Restore $name"
    wait_for 7200 "$name: the Restore finishes" finished "$name"
    F[$k,seen]=$(($(now_ms) - t))
    sleep 1 # the watch catches up
    stop_watch
    [ -z "${BENCH_KEEP:-}" ] || cp "$work/watch-$name" "$BENCH_KEEP/" || true
    [ "$(rs "$name" '{.status.conditions[?(@.type=="Complete")].status}')" = True ] ||
        fail "$name: not Complete: $(rs "$name" '{.status.message}')"
    steps_seen "$k" "$work/watch-$name" "$name" "$t"
    F[$k,base]=$(rs "$name" '{.status.replay.basePosition}')
    F[$k,target]=$(rs "$name" '{.status.replay.targetPosition}')
    F[$k,relay]=$(rs "$name" '{.status.replay.relayLogBytes}')
    note "$name: $(rs "$name" '{.status.message}'); base ${F[$k,base]}, target ${F[$k,target]}"
    [ "${F[$k,target]}" = "${F[$size,last]}" ] ||
        note "$name: WARNING the target ${F[$k,target]} is not the last transaction ${F[$size,last]}"
    wait_for 120 "$name: no scratch Pod left" no_scratch_left
    kn delete restore "$name" --wait=false >/dev/null
    kn delete pvc -l "snapstage.io/restore=$name" --wait=false >/dev/null
    wait_for 120 "$name: its claims deleted" test -z "$(kn get pvc -l "snapstage.io/restore=$name" -o name)"
}

# ---- the workloads ------------------------------------------------------------------
write_demo() {
    sql mariadb-0 "CREATE DATABASE IF NOT EXISTS shop;
CREATE TABLE IF NOT EXISTS shop.orders (id INT PRIMARY KEY, item VARCHAR(40));
REPLACE INTO shop.orders VALUES (1, 'espresso machine'), (2, 'coffee beans');" ||
        fail "writing the demo's rows"
}
after_demo() {
    local i
    for i in 3 4 5; do
        sql mariadb-0 "INSERT INTO shop.orders VALUES ($i, 'written after the backup')" ||
            fail "writing row $i"
    done
}
write_big_schema() {
    sql_stdin mariadb-0 <<'SQL' || fail "creating the big workload's tables and procedure"
CREATE TABLE IF NOT EXISTS shop.stock (item_id INT PRIMARY KEY, name VARCHAR(40) NOT NULL,
    qty INT NOT NULL, price DECIMAL(10,2) NOT NULL);
REPLACE INTO shop.stock SELECT seq, CONCAT('item-', seq), 1000000, 9.99 FROM shop.seq_1_to_1000;
CREATE TABLE IF NOT EXISTS shop.order_lines (id BIGINT AUTO_INCREMENT PRIMARY KEY,
    customer INT NOT NULL, item_id INT NOT NULL, qty INT NOT NULL, price DECIMAL(10,2) NOT NULL,
    status VARCHAR(16) NOT NULL, created DATETIME(6) NOT NULL, KEY (customer));
CREATE TABLE IF NOT EXISTS shop.documents (id BIGINT AUTO_INCREMENT PRIMARY KEY,
    order_id BIGINT NOT NULL, body TEXT NOT NULL);
DROP PROCEDURE IF EXISTS shop.bench_oltp;
DELIMITER //
CREATE PROCEDURE shop.bench_oltp(IN rounds INT, IN salt INT)
BEGIN
    DECLARE r INT DEFAULT 0;
    DECLARE k INT DEFAULT 0;
    DECLARE item INT;
    DECLARE last BIGINT;
    WHILE r < rounds DO
        SET k = 0;
        WHILE k < 8 DO
            SET item = (salt + r * 7 + k * 13) % 1000 + 1;
            START TRANSACTION;
            INSERT INTO shop.order_lines (customer, item_id, qty, price, status, created)
                VALUES ((salt + r * 8 + k) % 5000, item, 1 + k % 3, 9.99, 'new', NOW(6));
            UPDATE shop.stock SET qty = qty - 1 WHERE item_id = item;
            COMMIT;
            SET k = k + 1;
        END WHILE;
        SET last = LAST_INSERT_ID();
        UPDATE shop.order_lines SET status = 'paid' WHERE id = last - 3;
        INSERT INTO shop.documents (order_id, body) VALUES (last, REPEAT(CONCAT(
            SHA2(CONCAT(salt, '-', r, '-1'), 512), SHA2(CONCAT(salt, '-', r, '-2'), 512),
            SHA2(CONCAT(salt, '-', r, '-3'), 512), SHA2(CONCAT(salt, '-', r, '-4'), 512),
            SHA2(CONCAT(salt, '-', r, '-5'), 512), SHA2(CONCAT(salt, '-', r, '-6'), 512),
            SHA2(CONCAT(salt, '-', r, '-7'), 512), SHA2(CONCAT(salt, '-', r, '-8'), 512)), 4));
        IF r % 100 = 99 THEN
            UPDATE shop.stock SET price = price + 0.01
                WHERE item_id BETWEEN (r DIV 100 % 5) * 200 + 1 AND (r DIV 100 % 5) * 200 + 200;
        END IF;
        SET r = r + 1;
    END WHILE;
END //
DELIMITER ;
SQL
}
after_big() { # file1 pos1: rounds until the span reaches BINLOG_MB
    local f1=$1 p1=$2 want=$((BINLOG_MB * 1000000)) done_b=0 rounds=0 salt=0 n mf mp t
    t=$(now_ms)
    while [ "$done_b" -lt "$want" ]; do
        # About 11.3 kB a round: at most ~56 MB a call, at least 50 rounds.
        n=$(((want - done_b) / 11300 + 1))
        [ "$n" -le 5000 ] || n=5000
        [ "$n" -ge 50 ] || n=50
        sql mariadb-0 "CALL shop.bench_oltp($n, $salt)" || fail "CALL shop.bench_oltp($n, $salt)"
        rounds=$((rounds + n))
        salt=$((salt + n))
        read -r mf mp < <(mark)
        done_b=$(span_bytes "$f1" "$p1" "$mf" "$mp")
    done
    F[big,rounds]=$rounds
    note "big: $rounds rounds, $done_b binlog bytes written on the primary in $((($(now_ms) - t) / 1000)) s"
}

# ---- set-up ---------------------------------------------------------------------------
install_crds
sed -e "s/storage: 1Gi$/storage: $CLAIM/" -e "s/storage: 256Mi$/storage: $CLAIM/" \
    "$ROOT/hack/sim/mariadb.yaml" >"$work/mariadb.yaml"
[ "$(grep -c "storage: $CLAIM\$" "$work/mariadb.yaml")" = 2 ] ||
    fail "hack/sim/mariadb.yaml's claim sizes (1Gi data, 256Mi binlog) changed: update this bench"
"$KUBECTL" create namespace "$ns" >/dev/null
kn apply -f "$work/mariadb.yaml" >/dev/null
wait_for 300 "the primary and both replicas are Ready ($CLAIM claims)" \
    kn rollout status statefulset/mariadb --timeout=5s
kn create secret generic mariadb-backup --from-literal=username=root \
    --from-literal=password="$(root_pw)" >/dev/null
sql mariadb-0 "GRANT BINLOG MONITOR ON *.* TO 'repl'@'%'" || fail "granting BINLOG MONITOR"
flags=()
if "$SNAPSTAGE_BIN" --help 2>&1 | grep -q -- --enable-point-in-time-restore; then
    flags+=(--enable-point-in-time-restore)
fi
start_controller "${flags[@]}"
note "controller flags: ${flags[*]:-(none)}; $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"

for size in $SIZES; do
    case $size in
    demo) write_demo ;;
    big)
        sql mariadb-0 "SELECT 1 FROM shop.orders LIMIT 1" >/dev/null 2>&1 || write_demo
        write_big_schema
        ;;
    esac
    wait_for 600 "$size: both replicas caught up before the Backup" caught_up
    backup_yaml "pitr-$size" | kn apply -f - >/dev/null || fail "creating Backup pitr-$size"
    wait_for 300 "$size: Backup pitr-$size is Complete" backup_complete "pitr-$size"
    wait_for 600 "$size: both replicas caught up after the Backup" caught_up
    read -r f1 p1 < <(mark)
    F[$size,from]="$f1 $p1"
    t=$(now_ms)
    case $size in
    demo) after_demo ;;
    big) after_big "$f1" "$p1" ;;
    esac
    read -r f2 p2 < <(mark)
    # The last transaction and its second on the primary's clock; the
    # marker in a later second.
    read -r last clock < <(sql mariadb-0 "SELECT @@gtid_binlog_pos, UNIX_TIMESTAMP()")
    F[$size,last]=$last
    F[$size,bytes]=$(span_bytes "$f1" "$p1" "$f2" "$p2")
    count_events "$f1" "$p1" "$f2" "$p2" "$work/events-$size"
    F[$size,events]=$(awk '$1 == "all" {print $2}' "$work/events-$size")
    F[$size,groups]=$(awk '$1 == "Gtid" {print $2}' "$work/events-$size")
    note "$size: the span $f1:$p1 .. $f2:$p2, ${F[$size,bytes]} bytes, events by type: $(tr '\n' ' ' <"$work/events-$size")"
    until [ "$(sql mariadb-0 "SELECT UNIX_TIMESTAMP()")" -gt "$clock" ]; do sleep 0.2; done
    # A new row each time: a REPLACE of an identical row logs nothing.
    sql mariadb-0 "CREATE TABLE IF NOT EXISTS shop.marker (id INT AUTO_INCREMENT PRIMARY KEY);
        INSERT INTO shop.marker VALUES (NULL)" || fail "the marker"
    [ "$(sql mariadb-0 "SELECT @@gtid_binlog_pos")" != "$last" ] || fail "the marker logged no transaction"
    wait_for 1800 "$size: both replicas caught up after the writes" caught_up
    F[$size,time]=$(date -u -d "@$clock" +%Y-%m-%dT%H:%M:%SZ)
    note "$size: written and replicated in $((($(now_ms) - t) / 1000)) s; last transaction $last, target time ${F[$size,time]}"
    restore_one "$size" gtid "pitr-$size" "gtid: \"$last\""
    restore_one "$size" time "pitr-$size" "time: \"${F[$size,time]}\""
done
stop_controller

# ---- the table -----------------------------------------------------------------------------
per_s() { # count ms -> count per second
    awk -v n="$1" -v ms="$2" 'BEGIN {if (ms > 0) printf "%.0f", n * 1000 / ms; else print "-"}'
}
mb_s() { # bytes ms -> MB/s
    awk -v b="$1" -v ms="$2" 'BEGIN {if (ms > 0) printf "%.2f", b / 1e6 * 1000 / ms; else print "-"}'
}
row() { printf '%-5s %-4s %7s %8s %9s %8s %9s %9s %7s %7s %7s | %7s %8s %6s %7s %7s %8s %6s %6s\n' "$@"; }
echo
echo "point-in-time restore (NewClaims), the sim's mariadbd; $(nproc) cores; ms unless noted"
row size kind accept Restorin Starting Resolvin Replaying Finishing Done total seen trx events "MB" relayMB "trx/s" "events/s" "MB/s" writes
for size in $SIZES; do
    for kind in gtid time; do
        k="$size,$kind"
        base_seq=${F[$k,base]##*-}
        tgt_seq=${F[$k,target]##*-}
        trx=$((tgt_seq - base_seq))
        rp=${F[$k,Replaying]:-0}
        row "$size" "$kind" "${F[$k,accept]:--}" "${F[$k,RestoringBase]:--}" "${F[$k,Starting]:--}" \
            "${F[$k,Resolving]:--}" "${F[$k,Replaying]:--}" "${F[$k,Finishing]:--}" "${F[$k,Done]:--}" \
            "${F[$k,total]:--}" "${F[$k,seen]}" "$trx" "${F[$size,events]}" \
            "$(awk -v b="${F[$size,bytes]}" 'BEGIN {printf "%.1f", b / 1e6}')" \
            "$(awk -v b="${F[$k,relay]:-0}" 'BEGIN {printf "%.1f", b / 1e6}')" \
            "$(per_s "$trx" "$rp")" "$(per_s "${F[$size,events]}" "$rp")" "$(mb_s "${F[$size,bytes]}" "$rp")" \
            "${F[$k,writes]:--}"
    done
done
echo
echo "accept: the Restore's creation to its first step seen; RestoringBase .. Finishing: each step from"
echo "its first sighting in a watch to the next step's; Done: to Complete seen (the scratch server shut"
echo "down); total: creation to Complete seen; seen: the bench's own poll. trx: the GTID seq span base ->"
echo "target (transactions replayed); events, MB: the primary's binlog between the Backup and the target"
echo "(SHOW BINLOG EVENTS, SHOW BINARY LOGS); relayMB: status.replay.relayLogBytes (Relay_Log_Space at"
echo "the last look); trx/s, events/s, MB/s: over the Replaying step; writes: the Restore's updates"
echo "seen in step Replaying."
