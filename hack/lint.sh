#!/usr/bin/env bash
# Rejects C functions that are easy to misuse, as curl's checksrc does:
# unbounded copies and formats, strtok's hidden state, and number parsers
# that cannot report errors. Use util/str.h, util/buf.h and snprintf instead.
#
# Usage: hack/lint.sh [REPO_ROOT]   (exit 1 and a file:line list on a hit)
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
banned='gets|strcpy|strcat|strncat|sprintf|vsprintf|strtok|atoi|atol|atoll|atof|tmpnam|mktemp|asctime|ctime|gmtime|localtime|alloca'

# A call is the name as a whole word followed by '('; comment lines
# (starting with '*' or '//') are skipped.
hits=$(grep -rnE --include='*.c' --include='*.h' \
    "(^|[^A-Za-z0-9_])($banned)[[:space:]]*\(" \
    "$root/controller" "$root/tests" 2>/dev/null |
    grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|//|/\*)' || true)

if [ -n "$hits" ]; then
    echo "banned functions used (see hack/lint.sh for why and what instead):"
    echo "$hits"
    exit 1
fi
echo "lint: no banned functions in controller/ and tests/"
