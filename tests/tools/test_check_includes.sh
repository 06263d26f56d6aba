#!/usr/bin/env bash
# Self-test of hack/check-includes.sh: it must fail, naming file:line and
# the arrow, on each kind of forbidden include (a layer back-edge, an app/
# folder back-edge, two controllers including each other, a file or folder
# outside the tables), also in a copy of the real controller/ tree with one
# forbidden include added, and pass on trees that follow the arrows.
#
# Usage: tests/tools/test_check_includes.sh CHECK_SCRIPT REPO_ROOT
set -euo pipefail

check=${1:?usage: $0 CHECK_SCRIPT REPO_ROOT}
repo=${2:?usage: $0 CHECK_SCRIPT REPO_ROOT}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
n=0

# put TREE PATH LINE...: writes controller/PATH of TREE, one line per arg.
put() {
    local tree=$1 path=$2
    shift 2
    mkdir -p "$(dirname "$tree/controller/$path")"
    printf '%s\n' "$@" >"$tree/controller/$path"
}

# A small tree that follows every arrow.
clean_tree() {
    local t=$1
    rm -rf "$t"
    put "$t" util/str.h '#include <stddef.h>'
    put "$t" util/str.c '#include "util/str.h"' '#include "str.h"'
    put "$t" kube/rest.h '#include "util/str.h"'
    put "$t" ctrl/store.h '#include "kube/rest.h"' '#include "util/str.h"'
    put "$t" app/sched/cron.h '#include "util/str.h"'
    put "$t" app/api/api.h '#include "app/sched/cron.h"' '#include "kube/rest.h"'
    put "$t" app/db/db.h '#include "app/api/api.h"'
    put "$t" app/backup/backup.c '#include "app/backup/backup.h"' \
        '#include "app/db/db.h"' '#include "ctrl/store.h"'
    put "$t" app/backup/backup.h '#include "app/api/api.h"'
    put "$t" app/restore/restore.c '#include "app/api/api.h"' '#  include  "app/sched/cron.h"'
    put "$t" app/schedule/schedule.c '#include "app/db/db.h"'
    put "$t" app/scratch/scratch.h '#include "app/api/api.h"' '#include "app/sched/cron.h"' \
        '#include "ctrl/store.h"'
    put "$t" app/scratch/scratch.c '#include "app/scratch/scratch.h"' '#include "scratch.h"'
    put "$t" app/verify/verify.c '#include "app/scratch/scratch.h"' '#include "app/db/db.h"'
    put "$t" app/restore/pitr.c '#include "app/scratch/scratch.h"'
    put "$t" main.c '#include "app/backup/backup.h"' '#include "app/restore/restore.c"'
}

# expect NAME WANT_RC WANT_TEXT TREE: runs the check on TREE.
expect() {
    local name=$1 want_rc=$2 want=$3 tree=$4 out rc=0
    n=$((n + 1))
    out=$("$check" "$tree" 2>&1) || rc=$?
    if [ "$rc" -ne "$want_rc" ]; then
        echo "FAIL $name: exit $rc, want $want_rc; output:"
        echo "$out"
        failures=$((failures + 1))
    elif [ -n "$want" ] && ! grep -qF -- "$want" <<<"$out"; then
        echo "FAIL $name: output lacks '$want'; output:"
        echo "$out"
        failures=$((failures + 1))
    else
        echo "ok   $name"
    fi
}

t=$tmp/tree
clean_tree "$t"
expect "a tree that follows the arrows passes" 0 "follow util <- kube" "$t"

put "$t" kube/status.c '#include "util/str.h"' '#include "ctrl/store.h"'
expect "kube including ctrl fails" 1 \
    'controller/kube/status.c:2: kube -> ctrl: #include "ctrl/store.h"' "$t"

clean_tree "$t"
put "$t" util/buf.c '#include "app/api/api.h"'
expect "util including app fails" 1 'controller/util/buf.c:1: util -> app:' "$t"

clean_tree "$t"
put "$t" app/api/names.c '#include "app/api/api.h"' '' '#include "app/db/db.h"'
expect "app/api including app/db fails" 1 \
    'controller/app/api/names.c:3: app/api -> app/db: #include "app/db/db.h"' "$t"

clean_tree "$t"
put "$t" app/sched/cron.c '#include "app/api/api.h"'
expect "app/sched including app/api fails" 1 \
    'controller/app/sched/cron.c:1: app/sched -> app/api:' "$t"

clean_tree "$t"
put "$t" app/restore/restore.c '#include "app/api/api.h"' '#include "app/backup/backup.h"'
expect "app/restore including app/backup fails" 1 \
    'controller/app/restore/restore.c:2: app/restore -> app/backup: #include "app/backup/backup.h" (the controllers backup, schedule, restore and verify must not include each other' \
    "$t"

clean_tree "$t"
put "$t" app/schedule/schedule.c '   #   include "app/restore/restore.h"'
expect "app/schedule including app/restore fails (odd spacing)" 1 \
    'controller/app/schedule/schedule.c:1: app/schedule -> app/restore:' "$t"

clean_tree "$t"
put "$t" app/scratch/scratch.c '#include "app/api/api.h"' '#include "app/verify/verify.h"'
expect "app/scratch including a controller (app/verify) fails" 1 \
    'controller/app/scratch/scratch.c:2: app/scratch -> app/verify: #include "app/verify/verify.h" (app/scratch may not include app/verify' \
    "$t"

clean_tree "$t"
put "$t" app/scratch/scratch.c '#include "app/restore/restore.h"'
expect "app/scratch including app/restore fails" 1 \
    'controller/app/scratch/scratch.c:1: app/scratch -> app/restore:' "$t"

clean_tree "$t"
put "$t" app/scratch/scratch.c '#include "app/db/db.h"'
expect "app/scratch including app/db fails" 1 \
    'controller/app/scratch/scratch.c:1: app/scratch -> app/db: #include "app/db/db.h" (db and scratch must not include each other' \
    "$t"

clean_tree "$t"
put "$t" app/db/verify.c '#include "app/scratch/scratch.h"'
expect "app/db including app/scratch fails" 1 \
    'controller/app/db/verify.c:1: app/db -> app/scratch:' "$t"

clean_tree "$t"
put "$t" app/verify/verify.c '#include "app/backup/backup.h"'
expect "app/verify including app/backup fails" 1 \
    'controller/app/verify/verify.c:1: app/verify -> app/backup: #include "app/backup/backup.h" (the controllers backup, schedule, restore and verify must not include each other' \
    "$t"

clean_tree "$t"
put "$t" app/loose.c '#include "app/api/api.h"'
expect "a file directly in app/ fails" 1 'controller/app/loose.c:1: app -> app/api:' "$t"

clean_tree "$t"
put "$t" app/backup/b.c '#include "app/api.h"'
expect "a flat app/ header fails" 1 'controller/app/backup/b.c:1: app/backup -> app:' "$t"

clean_tree "$t"
put "$t" app/pitr/pitr.c '#include "app/api/api.h"'
expect "an app/ folder outside the table fails" 1 \
    'controller/app/pitr/pitr.c:1: app/pitr -> app/api:' "$t"

clean_tree "$t"
put "$t" extra/x.c '#include "util/str.h"'
expect "a directory outside the layers fails" 1 'controller/extra/x.c:1: extra -> util:' "$t"

clean_tree "$t"
put "$t" wiring.c '#include "app/backup/backup.h"'
expect "a file beside main.c fails" 1 'controller/wiring.c:1: . -> app:' "$t"

rm -rf "$t"
mkdir -p "$t"
expect "no controller/ is a usage error" 2 "no directory" "$t"

# The real tree passes, and fails once a controller includes another's header.
real=$tmp/real
mkdir -p "$real"
cp -r "$repo/controller" "$real/"
expect "the real controller/ tree passes" 0 "follow util <- kube" "$real"
target=$real/controller/app/restore/restore_plan.c
line=$(grep -n '^#include "' "$target" | tail -1 | cut -d: -f1)
sed -i "${line}a #include \"app/schedule/retention.h\"" "$target"
expect "the real tree with restore_plan.c including retention.h fails" 1 \
    "controller/app/restore/restore_plan.c:$((line + 1)): app/restore -> app/schedule: #include \"app/schedule/retention.h\"" \
    "$real"

echo "$((n - failures))/$n checks passed"
[ "$failures" -eq 0 ]
