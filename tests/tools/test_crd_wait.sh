#!/usr/bin/env bash
# Self-test of hack/lib/crd-wait.sh against a stand-in kubectl (a script
# that answers `get crd/X -o jsonpath=...` from files): a CRD with no
# conditions yet is waited for, not failed at once (what `kubectl wait`
# does, and why the helper exists); the timeout holds and names the CRD.
# The real kubectl against a real API server is exercised by every caller
# (integration.test_crds, test_install, every e2e test's install_crds).
# Usage: tests/tools/test_crd_wait.sh REPO_ROOT
set -euo pipefail
repo=${1:?usage: $0 REPO_ROOT}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=../../hack/lib/crd-wait.sh
. "$repo/hack/lib/crd-wait.sh"
cat >"$tmp/kubectl" <<SH
#!/usr/bin/env bash
# get crd/NAME -o jsonpath=...: $tmp/state/NAME's content, counting calls
name=\${2#crd/}
n=\$(cat "$tmp/calls/\$name" 2>/dev/null || echo 0)
echo \$((n + 1)) >"$tmp/calls/\$name"
[ -f "$tmp/state/\$name" ] || { echo "NotFound" >&2; exit 1; }
cat "$tmp/state/\$name"
SH
chmod +x "$tmp/kubectl"
mkdir -p "$tmp/state" "$tmp/calls"
KUBECTL=$tmp/kubectl
fails=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }

printf True >"$tmp/state/a.x"
printf '' >"$tmp/state/b.x" # created, no conditions yet
( sleep 0.5; printf True >"$tmp/state/b.x" ) &
if crd_wait_established 10 crd/a.x b.x 2>"$tmp/err"; then
    [ "$(cat "$tmp/calls/b.x")" -gt 1 ] && ok "a CRD with no conditions yet is waited for until Established" ||
        bad "b.x was asked only once"
else
    bad "failed on a CRD that became Established: $(cat "$tmp/err")"
fi
wait
printf False >"$tmp/state/c.x"
start=$SECONDS
if crd_wait_established 1 a.x c.x 2>"$tmp/err"; then
    bad "an Established False CRD passed"
else
    [ $((SECONDS - start)) -le 3 ] && grep -q "crd/c.x not Established within 1s" "$tmp/err" &&
        ok "the timeout holds and names the CRD ($(cat "$tmp/err"))" || bad "timeout: $(cat "$tmp/err")"
fi
crd_wait_established 1 crd/missing.x 2>/dev/null && bad "a missing CRD passed" || ok "a missing CRD fails after the timeout"
[ $fails = 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "crd_wait_established: all passed"
