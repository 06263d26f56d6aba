#!/usr/bin/env bash
# Every mariadb-install-db the project runs (hack/, tests/) gives the
# bootstrap server a private --tmpdir: a starting mariadbd deletes every
# #sql* file in its tmpdir, so installs sharing /tmp with another starting
# server fail at random ("Unknown table 'mysql.tmp_user_sys'"). Looks at
# each call and the continuation lines after it; prints file:line for a
# call without --tmpdir and exits 1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
bad=0
while IFS=: read -r file line _; do
    # the call and its continuation lines (ending in a backslash)
    call=$(awk -v n="$line" 'NR >= n { print; if ($0 !~ /\\$/) exit }' "$file")
    if ! grep -q -- '--tmpdir' <<<"$call"; then
        echo "$file:$line: mariadb-install-db without --tmpdir"
        bad=1
    fi
done < <(grep -rnE '(^|[[:space:]"])(mariadb-install-db|"\$INSTALL_DB"|\$INSTALL_DB) --' \
    "$ROOT/hack" "$ROOT/tests" --include='*.sh' || true)
[ $bad = 0 ] && echo "check-install-db-tmpdir: every mariadb-install-db call has a private --tmpdir"
exit $bad
