#!/usr/bin/env bash
# bench_verify.sh — a benchmark, not a test: how long a restore verification
# (issue 18) takes for the demo's database and for about 1 GiB of tables,
# split by its steps. It prints figures; it does not judge them. It fails
# only if the set-up does, a Backup does not complete or a verification is
# not Done within its bound (a verification that is Done but not Passed is
# printed, not failed: its time is a figure too).
#
# Needs a `hack/cluster.sh up --with-mariadb` cluster. In a namespace of its
# own: a copy of hack/sim/mariadb.yaml (a primary and two GTID replicas,
# the sim's mariadbd: 32M buffer pool, 16M redo log) whose claims request
# BENCH_CLAIM (default 4Gi, data and binlog: the sim's storage driver does
# not enforce sizes, they are directories under the cluster's sim/volumes,
# copied with cp -a on a cut and on a restore, so what counts is the free
# space there, which is printed), a BackupSchedule "bench" of a replica
# (role Replica) whose spec.verification allows 1800 s to start and 1800 s
# for the checks and adds one user check (shop.orders has rows), and the
# real snapstage binary with --enable-verification. For each size, in
# order (one database throughout, the big tables added to the demo's):
#   demo   shop.orders with the demo's 2 rows (hack/demo.sh);
#   big    about BENCH_BIG_MIB (default 1024) MiB of tables more on the
#          primary, built server-side from the sequence engine in 100k-row
#          transactions: three InnoDB tables (~28% each), one MyISAM (~10%)
#          and one Aria (~9%), each (id INT PRIMARY KEY, k INT, KEY(k),
#          payload VARCHAR(1000) of 896 hex characters of SHA-512s); the
#          row counts come from bytes per row measured on MariaDB 10.11
#          (InnoDB 1072, MyISAM 934, Aria 1385); the size reached
#          (information_schema data_length + index_length after ANALYZE)
#          is printed;
# after writing, the replicas caught up (gtid_slave_pos = the primary's
# gtid_binlog_pos), then BENCH_RUNS (default 2) times: a Backup (run-now on
# the schedule) until Complete; a verification (snapstage.io/verify-now)
# until status.verification.phase is Done and no scratch Pod or claim is
# left; the figures; the Backup deleted (its snapshots with it, to keep
# the disk lean) before the next run.
# Figures per run: the shop tables' size; the bytes of the Backup's
# snapshot contents (data + binlog: what the verification's restore
# copies); the Backup's duration (status completionTime - startTime) and
# lock hold; status.verification's restoreMilliseconds, startMilliseconds,
# checkMilliseconds with each check's durationMilliseconds (ServerStart,
# CheckTable, Position, User), cleanupMilliseconds, the total
# (completionTime - startTime), the wall time from the request to Done as
# the bench saw it, and the result.
#
# Usage: bench_verify.sh
# Environment: SNAPSTAGE_CLUSTER_DIR, SNAPSTAGE_BIN; optionally BENCH_SIZES
# (default "demo big"), BENCH_RUNS (2), BENCH_BIG_MIB (1024), BENCH_CLAIM
# (4Gi), KUBECTL.
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init bench_verify bench-verify

SIZES=${BENCH_SIZES:-demo big}
RUNS=${BENCH_RUNS:-2}
BIG_MIB=${BENCH_BIG_MIB:-1024}
CLAIM=${BENCH_CLAIM:-4Gi}
if ! [[ "$RUNS" =~ ^[1-9][0-9]*$ && "$BIG_MIB" =~ ^[1-9][0-9]*$ && "$CLAIM" =~ ^[0-9]+[MG]i$ ]]; then
    echo "usage: $0  (BENCH_RUNS >= 1, BENCH_BIG_MIB >= 1, BENCH_CLAIM like 4Gi)" >&2
    exit 2
fi
for s in $SIZES; do
    case $s in demo | big) ;; *)
        echo "BENCH_SIZES: '$s' is neither demo nor big" >&2
        exit 2
        ;;
    esac
done

human() { # bytes
    awk -v b="$1" 'BEGIN {if (b < 1048576) printf "%.0fK", b / 1024; else printf "%.1fM", b / 1048576}'
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
ts_ms() { # an RFC 3339 time -> ms since the epoch (empty stays empty)
    [ -n "$1" ] || return 0
    echo $(($(date -u -d "$1" +%s%N) / 1000000))
}
bv() { kn get backup "$1" -o jsonpath="$2"; }
scratch_left() { kn get pods,pvc -l snapstage.io/scratch=verify -o name 2>/dev/null; }
no_scratch_left() { [ -z "$(scratch_left)" ]; }

# Backups first, while the controller can still drop their finalizers and
# the snapshot contents (gigabytes) can go; lib.sh then stops the
# controller and deletes the namespace.
on_exit() {
    stop_watch
    [ -n "$ctrl_pid" ] || return 0
    kn delete backups --all --wait=false >/dev/null 2>&1 || true
    local end=$((SECONDS + 60))
    while [ -n "$(kn get backups -o name 2>/dev/null)" ] && [ $SECONDS -lt $end ]; do sleep 1; done
}
dump_on_fail() {
    kn get backups -o yaml 2>/dev/null | grep -A40 'verification:' | tail -n 80 || true
    df -h "$SNAPSTAGE_CLUSTER_DIR" || true
}

# ---- the database ---------------------------------------------------------------
install_crds
free_gib=$(df -P -B1G "$SNAPSTAGE_CLUSTER_DIR" | awk 'NR == 2 {print $4}')
note "free space where the sim keeps its volumes ($SNAPSTAGE_CLUSTER_DIR): $free_gib GiB"
case " $SIZES " in
*" big "*)
    # Three servers x (data + binlog, + relay logs while applying), one
    # Backup's two snapshot copies and the scratch copy of them.
    need=$(((BIG_MIB * 12 + 1023) / 1024 + 2))
    [ "$free_gib" -ge "$need" ] ||
        fail "about $need GiB free needed for BENCH_BIG_MIB=$BIG_MIB, $free_gib GiB there"
    ;;
esac
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
start_controller --enable-verification

kn apply -f - >/dev/null <<YAML || fail "applying the schedule"
apiVersion: snapstage.io/v1alpha1
kind: BackupSchedule
metadata:
  name: bench
spec:
  schedule: "0 0 1 1 *"
  target:
    statefulSetName: mariadb
    role: Replica
    connection:
      credentialsSecretRef:
        name: mariadb-backup
  verification:
    schedule: "0 0 1 1 *"
    startTimeoutSeconds: 1800
    checkTimeoutSeconds: 1800
    checks:
      - name: orders
        sql: SELECT COUNT(*) FROM shop.orders
        expect:
          atLeast: 2
YAML

caught_up() { # every replica's gtid_slave_pos is the primary's gtid_binlog_pos
    local want r
    want=$(sql mariadb-0 "SELECT @@gtid_binlog_pos") || return 1
    for r in mariadb-1 mariadb-2; do
        [ "$(sql "$r" "SELECT @@gtid_slave_pos")" = "$want" ] || return 1
    done
}
shop_bytes() { # on the primary: data_length + index_length of schema shop
    sql mariadb-0 "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables
        WHERE table_schema = 'shop'"
}
write_demo() {
    sql mariadb-0 "CREATE DATABASE IF NOT EXISTS shop;
CREATE TABLE IF NOT EXISTS shop.orders (id INT PRIMARY KEY, item VARCHAR(40));
REPLACE INTO shop.orders VALUES (1, 'espresso machine'), (2, 'coffee beans');" ||
        fail "writing the demo's rows"
}
# fill TABLE ENGINE ROWS SALT: the table, filled in 100k-row transactions
# (a replica applies each as one event group; one 300 MB transaction would
# sit whole in the binlog cache first).
fill() {
    local t=$1 engine=$2 rows=$3 salt=$4 from to p
    p="CONCAT(SHA2(seq+$salt,512),SHA2(seq*3+$salt,512),SHA2(seq*7+$salt,512),SHA2(seq*11+$salt,512),"
    p="${p}SHA2(seq*13+$salt,512),SHA2(seq*17+$salt,512),SHA2(seq*19+$salt,512))"
    sql mariadb-0 "CREATE TABLE shop.$t (id INT PRIMARY KEY, k INT NOT NULL,
        payload VARCHAR(1000) NOT NULL, KEY (k)) ENGINE=$engine" || fail "creating shop.$t"
    for ((from = 1; from <= rows; from += 100000)); do
        to=$((from + 99999 > rows ? rows : from + 99999))
        sql mariadb-0 "INSERT INTO shop.$t SELECT seq, seq % 1000, $p FROM shop.seq_${from}_to_$to" ||
            fail "filling shop.$t rows $from..$to"
    done
}
write_big() {
    local b=$((BIG_MIB * 1048576)) t
    local inno=$((b * 28 / 100 / 1072 + 1)) myisam=$((b * 10 / 100 / 934 + 1)) aria=$((b * 9 / 100 / 1385 + 1))
    t=$(now_ms)
    fill big_innodb_1 InnoDB "$inno" 1000000
    fill big_innodb_2 InnoDB "$inno" 2000000
    fill big_innodb_3 InnoDB "$inno" 3000000
    fill big_myisam MyISAM "$myisam" 4000000
    fill big_aria Aria "$aria" 5000000
    # LOCAL: not in the binary log (the replicas need no statistics).
    sql mariadb-0 "ANALYZE LOCAL TABLE shop.big_innodb_1, shop.big_innodb_2, shop.big_innodb_3,
        shop.big_myisam, shop.big_aria" >/dev/null || fail "ANALYZE"
    note "big: $((3 * inno + myisam + aria)) rows written on the primary in $((($(now_ms) - t) / 1000)) s"
    sql mariadb-0 "SELECT table_name, engine, table_rows, data_length + index_length
        FROM information_schema.tables WHERE table_schema = 'shop' ORDER BY table_name" |
        while IFS=$'\t' read -r n e r s; do
            note "  shop.$n $e: ~$r rows, $((s / 1048576)) MiB"
        done
}

# ---- one run ----------------------------------------------------------------------
declare -A F # F[size,run,field]
# content_bytes BACKUP: the bytes of its snapshot contents in the sim's
# state (what a restore copies); a note with each volume's share and the
# largest files.
content_bytes() {
    local v s c dir b total=0 parts=""
    while read -r v s; do
        c=$(kn get volumesnapshot "$s" -o jsonpath='{.status.boundVolumeSnapshotContentName}')
        dir=$SNAPSTAGE_CLUSTER_DIR/sim/snapshots/$c
        b=$(du -sb "$dir" 2>/dev/null | awk '{print $1}')
        total=$((total + ${b:-0}))
        parts="$parts $v $(human "${b:-0}") ($(find "$dir" -type f -printf '%s %P\n' 2>/dev/null |
            sort -rn | head -n 4 | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, ($1 > 1048576 ? sprintf("%.0fM", $1 / 1048576) : sprintf("%.0fK", $1 / 1024))}'));"
    done < <(bv "$1" '{range .status.snapshots[*]}{.volume} {.volumeSnapshotName}{"\n"}{end}')
    note "  snapshot contents:$parts" >&2
    echo "$total"
}
newest_backup() {
    kn get backups -l snapstage.io/schedule=bench --sort-by=.metadata.creationTimestamp \
        -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | tail -n 1
}
backup_is_new() { local b; b=$(newest_backup) && [ -n "$b" ] && [ "$b" != "$1" ]; }
backup_complete() { [ "$(bv "$1" '{.status.conditions[?(@.type=="Complete")].status}')" = True ]; }
backup_failed() { [ "$(bv "$1" '{.status.conditions[?(@.type=="Failed")].status}')" = True ]; }
backup_done() { backup_complete "$1" || backup_failed "$1"; }
vdone() { [ "$(bv "$1" '{.status.verification.token}')" = "$2" ] && [ "$(bv "$1" '{.status.verification.phase}')" = Done ]; }
gone() { ! kn get backup "$1" >/dev/null 2>&1; }

# A kubectl watch of one Backup's verification phase, each line prefixed
# with the local time in microseconds: status.verification's step times
# come from phaseStartTime, which the status keeps to the second, so a
# second measure. The kubectl writes its pid first: it is what must be
# ended (`wait` on the pipeline's $! waits for all of it).
watch_pid=
watch_phases() { # backup file
    bash -c 'echo $$ >"$0"; exec "$@" 2>/dev/null' "$2.pid" \
        "$KUBECTL" -n "$ns" get backup "$1" --watch \
        -o 'jsonpath={.status.verification.token} {.status.verification.phase}{"\n"}' |
        while IFS= read -r line; do
            printf '%s %s\n' "${EPOCHREALTIME/./}" "$line"
        done >"$2" &
    watch_pid="$2.pid:$!"
    sleep 1 # the watch's first list
}
stop_watch() {
    [ -n "$watch_pid" ] || return 0
    kill "$(cat "${watch_pid%:*}" 2>/dev/null)" 2>/dev/null || true
    wait "${watch_pid##*:}" 2>/dev/null || true
    watch_pid=
}
# phases_seen KEY FILE TOKEN REQUEST_MS: F[KEY,wqueue] = ms from the request
# to the first phase of TOKEN seen, F[KEY,w<Phase>] = ms from the first
# line of that phase to the first of the next one.
phases_seen() {
    local p ms
    while read -r p ms; do F[$1,w$p]=$ms; done < <(awk -v tok="$3" -v t0="$4" '
        $2 == tok && !($3 in at) {order[n++] = $3; at[$3] = int($1 / 1000)}
        END {
            if (n > 0) printf "queue %d\n", at[order[0]] - t0
            for (i = 0; i + 1 < n; i++) printf "%s %d\n", order[i], at[order[i + 1]] - at[order[i]]
        }' "$2")
}

run_one() { # size run bound-seconds
    local size=$1 run=$2 bound=$3 k="$1,$2" before b t v
    before=$(newest_backup)
    t=$(now_ms)
    kn annotate backupschedule bench "snapstage.io/run-now=$size-$run" --overwrite >/dev/null
    wait_for 60 "$size #$run: a Backup of schedule bench exists" backup_is_new "$before"
    b=$(newest_backup)
    wait_for "$bound" "$size #$run: Backup $b is Complete or Failed" backup_done "$b"
    F[$k,bseen]=$(($(now_ms) - t))
    backup_complete "$b" || fail "$size #$run: Backup $b failed: $(bv "$b" '{.status.conditions[?(@.type=="Failed")].message}')"
    F[$k,shop]=$(shop_bytes)
    F[$k,snap]=$(content_bytes "$b")
    F[$k,backup]=$(($(ts_ms "$(bv "$b" '{.status.completionTime}')") - $(ts_ms "$(bv "$b" '{.status.startTime}')")))
    F[$k,lock]=$(bv "$b" '{.status.lock.heldMilliseconds}')
    watch_phases "$b" "$work/phases-$size-$run"
    t=$(now_ms)
    kn annotate backup "$b" "snapstage.io/verify-now=$size-$run" --overwrite >/dev/null
    wait_for "$bound" "$size #$run: the verification of $b is Done" vdone "$b" "$size-$run"
    F[$k,seen]=$(($(now_ms) - t))
    sleep 1 # the watch catches up
    stop_watch
    phases_seen "$k" "$work/phases-$size-$run" "$size-$run" "$t"
    wait_for 120 "$size #$run: no scratch Pod or claim left" no_scratch_left
    v='{.status.verification'
    F[$k,restore]=$(bv "$b" "$v.restoreMilliseconds}")
    F[$k,start]=$(bv "$b" "$v.startMilliseconds}")
    F[$k,check]=$(bv "$b" "$v.checkMilliseconds}")
    F[$k,cleanup]=$(bv "$b" "$v.cleanupMilliseconds}")
    F[$k,total]=$(($(ts_ms "$(bv "$b" "$v.completionTime}")") - $(ts_ms "$(bv "$b" "$v.startTime}")")))
    F[$k,result]="$(bv "$b" "$v.result}")$(bv "$b" "$v.reason}" | sed 's/^./\/&/')"
    for t in ServerStart CheckTable Position User; do
        F[$k,$t]=$(bv "$b" "{.status.verification.checks[?(@.type==\"$t\")].durationMilliseconds}" | tr ' ' '+')
    done
    note "$size #$run: $(bv "$b" "$v.result} $v.reason}: $v.message}")"
    note "$size #$run: checks $(bv "$b" '{range .status.verification.checks[*]}{.type}{"/"}{.name}{"="}{.result}{" "}{.durationMilliseconds}{" ms; "}{end}')"
    kn delete backup "$b" --wait=false >/dev/null
    wait_for 300 "$size #$run: Backup $b and its snapshots deleted" gone "$b"
}

for size in $SIZES; do
    t=$(now_ms)
    case $size in
    demo)
        write_demo
        bound=600
        ;;
    big)
        sql mariadb-0 "SELECT 1 FROM shop.orders LIMIT 1" >/dev/null 2>&1 || write_demo
        write_big
        bound=3600
        ;;
    esac
    wait_for "$bound" "$size: both replicas caught up with the primary" caught_up
    note "$size: written and replicated in $((($(now_ms) - t) / 1000)) s; shop is $(($(shop_bytes) / 1048576)) MiB on the primary"
    for ((r = 1; r <= RUNS; r++)); do run_one "$size" "$r" "$bound"; done
done
stop_controller

# ---- the tables --------------------------------------------------------------------
row() { printf '%-3s %8s %8s %6s %7s %6s | %7s %7s %7s %8s %8s %8s %6s %7s | %7s %7s  %s\n' "$@"; }
wrow() { printf '%-3s %8s %9s %9s %9s %9s %10s %9s\n' "$@"; }
for size in $SIZES; do
    echo
    echo "restore verification, $size: a replica of 3 sim mariadbd (32M buffer pool), $CLAIM claims; ms unless noted"
    row run shop snapshot backup backup lock restore start checks ServerSt CheckTbl Position User cleanup \
        total seen result
    row "" "" "" s "seen" "" "" "" "" "" "" "" "" "" s "" ""
    for ((r = 1; r <= RUNS; r++)); do
        k="$size,$r"
        row "$r" "$(human "${F[$k,shop]}")" "$(human "${F[$k,snap]}")" "$((F[$k,backup] / 1000))" \
            "${F[$k,bseen]}" "${F[$k,lock]:--}" "${F[$k,restore]:--}" "${F[$k,start]:--}" \
            "${F[$k,check]:--}" "${F[$k,ServerStart]:--}" "${F[$k,CheckTable]:--}" \
            "${F[$k,Position]:--}" "${F[$k,User]:--}" "${F[$k,cleanup]:--}" \
            "$((F[$k,total] / 1000))" "${F[$k,seen]}" "${F[$k,result]}"
    done
    echo "  the same verifications as a watch saw the phases (ms):"
    wrow run "to 1st" Pending Restoring Starting Checking CleaningUp "to Done"
    for ((r = 1; r <= RUNS; r++)); do
        k="$size,$r"
        wrow "$r" "${F[$k,wqueue]:--}" "${F[$k,wPending]:--}" "${F[$k,wRestoring]:--}" \
            "${F[$k,wStarting]:--}" "${F[$k,wChecking]:--}" "${F[$k,wCleaningUp]:--}" "${F[$k,seen]}"
    done
done
echo
echo "shop: the shop tables' data_length + index_length on the primary; snapshot: the Backup's"
echo "snapshot contents (data + binlog: what the restore copies). backup: status completionTime -"
echo "startTime (kept to the second) and run-now to Complete as polled; lock: lock.heldMilliseconds."
echo "restore .. cleanup: status.verification's step times (checks: all checks; ServerSt .. User: each"
echo "check's durationMilliseconds); total: its completionTime - startTime (to the second); seen:"
echo "verify-now to Done as polled here. Watch: the request to the first phase seen, then each phase"
echo "from its first sighting to the next phase's."
