#!/usr/bin/env bash
# Rejects `grep -c ... || echo N` in the project's shell scripts (hack/,
# tests/, .ci/). grep -c prints its count *and* exits 1 when the count is
# 0, so the fallback prints a second line: "0\n0". In $((...)) that is a
# syntax error, and bash does not exit on it under set -e: it abandons the
# rest of the enclosing compound command (a whole for loop) and goes on.
# e2e.test_pitr lost its three ledger Backups that way in CI (its log had
# the workload's header but no operation yet). Write instead:
#     n=$(grep -c PATTERN FILE) || true; echo "${n:-0}"
#
# Usage: tests/tools/check_grep_count.sh [ROOT]  (file:line per hit, exit 1)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
dirs=()
for d in hack tests .ci; do [ -d "$root/$d" ] && dirs+=("$root/$d"); done
# A line with grep -c (or --count) and, later on it, `|| echo`; comment
# lines, this file and its self-test (which hold the pattern on purpose)
# are skipped.
hits=$(grep -rnE --include='*.sh' --include='run' \
    --exclude=check_grep_count.sh --exclude=test_check_grep_count.sh \
    'grep[^|#]*[[:space:]](-[A-Za-z]*c[A-Za-z]*|--count)[[:space:]][^#]*\|\|[[:space:]]*echo' \
    "${dirs[@]}" 2>/dev/null | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' || true)
if [ -n "$hits" ]; then
    echo "grep -c ... || echo prints two lines when nothing matches (see $0):"
    echo "$hits"
    exit 1
fi
echo "check-grep-count: no 'grep -c ... || echo' in hack/, tests/, .ci/"
