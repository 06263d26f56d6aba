#!/usr/bin/env bash
# Self-test of tests/tools/check_grep_count.sh: it fails on the line
# e2e.test_pitr had (and its variants) and passes the fixed forms; and the
# hazard it guards against is real: the old helper's output breaks $((...))
# and bash then skips the rest of the loop.
# Usage: test_check_grep_count.sh REPO_ROOT
set -euo pipefail
root=${1:?repo root}
check=$root/tests/tools/check_grep_count.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
expect() { # rc-wanted what command...
    local want=$1 what=$2 rc=0
    shift 2
    "$@" >"$tmp/out" 2>&1 || rc=$?
    if [ "$rc" = "$want" ]; then echo "ok - $what"; else
        echo "not ok - $what (exit $rc, want $want):"; cat "$tmp/out"; fails=$((fails + 1))
    fi
}
mkdir -p "$tmp/bad/tests/e2e" "$tmp/good/tests/e2e" "$tmp/good/hack"
# shellcheck disable=SC2016
echo 'ops_logged() { grep -c '"'"'"gtid"'"'"' "$work/gtid.jsonl" 2>/dev/null || echo 0; }' >"$tmp/bad/tests/e2e/t.sh"
expect 1 "the old ops_logged is rejected" "$check" "$tmp/bad"
grep -q 't.sh:1:' "$tmp/out" || { echo "not ok - the hit names file:line"; fails=$((fails + 1)); }
echo 'n=$(grep -c x f) || echo 0' >"$tmp/bad/tests/e2e/t.sh"
expect 1 "grep -c in \$(...) then || echo is rejected" "$check" "$tmp/bad"
echo 'grep --count -F x f||echo none' >"$tmp/bad/tests/e2e/t.sh"
expect 1 "--count and ||echo without spaces are rejected" "$check" "$tmp/bad"
cat >"$tmp/good/tests/e2e/t.sh" <<'SH'
n=$(grep -c x f) || true; echo "${n:-0}"
# grep -c x f || echo 0   (a comment is fine)
grep -q x f || echo missing
grep -c x f || true
SH
echo 'grep -rn cfg dir || echo none' >"$tmp/good/hack/h.sh"
expect 0 "the fixed forms, grep -q / -rn with || echo and comments pass" "$check" "$tmp/good"
expect 0 "the repository passes" "$check" "$root"
# The hazard itself: the old helper on a log with a header and no match.
printf '{"header":{}}\n' >"$tmp/log"
cat >"$tmp/loop.sh" <<SH
set -euo pipefail
old() { grep -c '"gtid"' "$tmp/log" 2>/dev/null || echo 0; }
new() { local n; n=\$(grep -c '"gtid"' "$tmp/log" 2>/dev/null) || true; echo "\${n:-0}"; }
for i in 1 2 3; do want=\$((\$(\$1) + 300)); echo "round \$i \$want"; done
SH
[ "$(bash "$tmp/loop.sh" old 2>/dev/null | grep -c round || true)" = 0 ] &&
    echo "ok - the old helper makes bash skip the whole loop (the CI failure)" ||
    { echo "not ok - the old helper did not break the loop"; fails=$((fails + 1)); }
[ "$(bash "$tmp/loop.sh" new | grep -c 'round . 300')" = 3 ] &&
    echo "ok - the fixed helper runs all three rounds" ||
    { echo "not ok - the fixed helper"; fails=$((fails + 1)); }
[ $fails = 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "check_grep_count selftest: all passed"
