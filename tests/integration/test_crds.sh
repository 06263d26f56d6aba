#!/usr/bin/env bash
# The snapstage CRDs (crds/snapstage.io_*.yaml, group snapstage.io/v1alpha1)
# on the real kube-apiserver 1.20, driven with kubectl as a user would:
#   - `kubectl apply` of the three CRDs makes them NamesAccepted and
#     Established, a second apply leaves them unchanged, and discovery serves
#     backupschedules (bsched), backups (bk) and restores (rst), namespaced;
#   - every object in deploy/examples/*.yaml is accepted, first by a server
#     dry run (which must store nothing), then by a real create; the examples
#     cover all three kinds and the Secret, and every Secret name and key they
#     reference exists in that Secret;
#   - the server applied the schema defaults inside the objects present
#     (timeZone UTC, target.role PreferReplica, secret keys, timeouts, ...)
#     and none inside objects left out (no spec.lock or retention appears),
#     and never overrode a value given;
#   - every tests/fixtures/invalid/*.yaml is refused as Invalid, by a create
#     and by a server dry run, with a message containing each of the file's
#     `# expect:` fragments (the offending field's path first);
#   - a Backup's status written through /status (phase, sourcePod,
#     sourceRole, lock.heldMilliseconds, totalRestoreSize, conditions)
#     shows in the printer columns of `kubectl get backups` (and -o wide);
#     status in a write to the main resource is ignored, a status that breaks
#     the schema is refused; BackupSchedule and Restore columns are checked;
#   - short names bk, bsched, rst and the category `snapstage` list them;
#   - `kubectl explain` prints the schema's documentation for
#     backupschedule.spec.retention, backupschedule.spec.timeZone (with its
#     default) and backup.status.position.gtidBinlogPos. kube-apiserver 1.20
#     has no /openapi/v3: kubectl 1.33 falls back to /openapi/v2 by itself
#     (checked), and --output=plaintext-openapiv2 gives the same text.
# Deletes its objects and namespace, and the CRDs again if it installed them.
#
# Environment (set by CTest): SNAPSTAGE_CLUSTER_DIR (a running cluster from
# hack/cluster.sh; its env file names the admin kubeconfig),
# SNAPSTAGE_CLUSTER_SH. KUBECTL overrides the kubectl from hack/tools.sh.
set -euo pipefail

: "${SNAPSTAGE_CLUSTER_DIR:?set SNAPSTAGE_CLUSTER_DIR to a running hack/cluster.sh cluster}"
: "${SNAPSTAGE_CLUSTER_SH:?set SNAPSTAGE_CLUSTER_SH to hack/cluster.sh}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KUBECTL=${KUBECTL:-$("$ROOT/hack/tools.sh")/kubectl}
GROUP=snapstage.io
CRD_FILES=("$ROOT/crds/$GROUP"_backupschedules.yaml "$ROOT/crds/$GROUP"_backups.yaml "$ROOT/crds/$GROUP"_restores.yaml)
CRDS=("backupschedules.$GROUP" "backups.$GROUP" "restores.$GROUP")
started=$SECONDS

# The admin kubeconfig, as the cluster's env file names it.
[ -f "$SNAPSTAGE_CLUSTER_DIR/env" ] || {
    echo "FAIL: no $SNAPSTAGE_CLUSTER_DIR/env: is the cluster up?" >&2
    exit 1
}
KUBECONFIG=$(
    # shellcheck disable=SC1091
    . "$SNAPSTAGE_CLUSTER_DIR/env"
    echo "$KUBECONFIG"
)
export KUBECONFIG
work=$(mktemp -d)
export KUBECACHEDIR=$work/kube-cache # fresh discovery and OpenAPI, not ~/.kube/cache
ns=snapstage-crds-$$-$RANDOM
installed_here=0
checks=0

k() { "$KUBECTL" "$@"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}
ok() {
    checks=$((checks + 1))
    printf 'ok %d - %s\n' "$checks" "$*"
}
expect_eq() { # what want got
    [ "$3" = "$2" ] || fail "$1: want '$2', got '$3'"
    ok "$1 = '$2'"
}
# Runs the command and compares its output; a failing command fails the
# test (a command substitution in an argument would hide that).
expect_out() { # what want command...
    local what=$1 want=$2 got
    shift 2
    got=$("$@") || fail "$what: '$*' failed"
    expect_eq "$what" "$want" "$got"
}
expect_contains() { # what haystack needle...
    local what=$1 hay=$2 s
    shift 2
    for s in "$@"; do
        case "$hay" in *"$s"*) ;; *) fail "$what: lacks '$s' in: $hay" ;; esac
    done
    ok "$what mentions: $*"
}
# Rows of a `kubectl get` table with runs of blanks squeezed, without the
# last column (AGE, which changes).
table() {
    local t
    t=$(k get "$@") || return 1
    printf '%s\n' "$t" | awk '{$1 = $1; if (NR > 1) NF--; print}'
}
jp() { k get "$1" "$2" -n "$ns" -o jsonpath="$3"; } # resource name jsonpath

cleanup() {
    local rc=$?
    set +e
    k delete -n "$ns" backupschedules,backups,restores --all --wait=false >/dev/null 2>&1
    # No namespace controller runs here: the namespace stays Terminating,
    # which is enough to mark it done.
    k delete namespace "$ns" --wait=false >/dev/null 2>&1
    if [ $installed_here = 1 ]; then
        # The CRDs' finalizer runs in kube-apiserver itself, so this finishes.
        k delete crd "${CRDS[@]}" --ignore-not-found --timeout=60s >/dev/null ||
            echo "warning: could not delete the snapstage CRDs" >&2
    fi
    rm -rf "$work"
    echo "test_crds: $checks checks, $((SECONDS - started))s, exit $rc"
    exit $rc
}
trap cleanup EXIT

# Runs a command and sorts its output (kubectl -f DIR goes in directory order).
sorted() { "$@" | LC_ALL=C sort; }

# --- install, twice ----------------------------------------------------------

existing=$(k get crd "${CRDS[@]}" --ignore-not-found -o name) || fail "listing CRDs"
[ -z "$existing" ] && installed_here=1
# Exactly what the README tells users to run (the folder's kustomize file is
# named Kustomization, so -f sees only the CRDs).
apply_args=(-f "$ROOT/crds/")
k apply "${apply_args[@]}" >/dev/null || fail "kubectl apply -f crds/"
# shellcheck source=../../hack/lib/crd-wait.sh
. "$ROOT/hack/lib/crd-wait.sh"
crd_wait_established 60 "${CRDS[@]}" || fail "the CRDs did not become Established"
for c in "${CRDS[@]}"; do
    expect_out "$c NamesAccepted/Established" True/True \
        k get crd "$c" -o jsonpath='{.status.conditions[?(@.type=="NamesAccepted")].status}/{.status.conditions[?(@.type=="Established")].status}'
done
expect_out "a second apply changes nothing" \
    "customresourcedefinition.apiextensions.k8s.io/backups.snapstage.io unchanged
customresourcedefinition.apiextensions.k8s.io/backupschedules.snapstage.io unchanged
customresourcedefinition.apiextensions.k8s.io/restores.snapstage.io unchanged" \
    sorted k apply "${apply_args[@]}"
served() { k api-resources --api-group=$GROUP --no-headers | awk '{$1 = $1; print}' | sort; }
expect_out "served resources (name shortnames apiVersion namespaced kind)" \
    "backups bk $GROUP/v1alpha1 true Backup
backupschedules bsched $GROUP/v1alpha1 true BackupSchedule
restores rst $GROUP/v1alpha1 true Restore" served

# --- the examples ------------------------------------------------------------

k create namespace "$ns" >/dev/null
shopt -s nullglob
examples=("$ROOT"/deploy/examples/*.yaml)
[ ${#examples[@]} -gt 0 ] || fail "no deploy/examples/*.yaml"
for f in "${examples[@]}"; do
    name=deploy/examples/${f##*/}
    [ "$(head -c 1 "$f")" = "#" ] || fail "$name does not start with a comment"
    out=$(k apply --dry-run=server -n "$ns" -f "$f" 2>&1) || fail "$name refused by a server dry run: $out"
    case "$out" in *"(server dry run)"*) ;; *) fail "$name: not a server dry run: $out" ;; esac
    ok "accepted by a server dry run: $name"
done
expect_out "the dry runs stored nothing" "" \
    k get -n "$ns" backupschedules,backups,restores -o name
expect_out "the dry runs stored no Secret" "" \
    k get -n "$ns" secret mariadb-backup --ignore-not-found -o name
for f in "${examples[@]}"; do
    out=$(k create -n "$ns" -f "$f" 2>&1) || fail "deploy/examples/${f##*/} refused: $out"
    ok "created: deploy/examples/${f##*/} ($(printf '%s' "$out" | awk '{print $1}' | paste -sd ' '))"
done
# (No controller-manager runs, so the namespace holds no token Secrets.)
kinds() {
    k get -n "$ns" backupschedules,backups,restores,secrets \
        -o jsonpath='{range .items[*]}{.kind}{"\n"}{end}' | sort -u | paste -sd ' '
}
expect_out "kinds the examples create" "Backup BackupSchedule Restore Secret" kinds

# Every Secret reference of the examples (credentials, replication
# credentials, CA) names a Secret and keys that the examples create.
refs=$(k get -n "$ns" backupschedules,backups,restores,secrets -o json | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
secrets = {i["metadata"]["name"]: set(i.get("data", {})) for i in items if i["kind"] == "Secret"}
bad, n = [], 0
def walk(obj, path, owner):
    global n
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = path + "." + k
            if k.endswith("SecretRef") and isinstance(v, dict):
                n += 1
                keys = [v[x] for x in ("usernameKey", "passwordKey", "key") if x in v]
                if v.get("name") not in secrets:
                    bad.append("%s %s: no Secret %r" % (owner, p, v.get("name")))
                else:
                    bad.extend("%s %s: Secret %s has no key %r" % (owner, p, v["name"], x)
                               for x in keys if x not in secrets[v["name"]])
            walk(v, p, owner)
for i in items:
    if i["kind"] != "Secret":
        walk(i["spec"], "spec", i["kind"] + "/" + i["metadata"]["name"])
print("\n".join(bad) if bad else "all %d resolve" % n)') || fail "reading the examples back"
case "$refs" in "all "*" resolve") ok "Secret references in the examples: $refs" ;; *) fail "$refs" ;; esac

# Defaults: filled in by the server inside the objects that are present.
expect_out "defaults of BackupSchedule 'once' (spec: timeZone suspend backupDeletionPolicy)" "UTC false Retain" \
    jp bsched once '{.spec.timeZone} {.spec.suspend} {.spec.backupDeletionPolicy}'
expect_out "defaults of BackupSchedule 'once' (target: role maxReplicationLagSeconds)" "PreferReplica 300" \
    jp bsched once '{.spec.target.role} {.spec.target.maxReplicationLagSeconds}'
expect_out "defaults of BackupSchedule 'once' (connection: usernameKey passwordKey connectTimeoutSeconds)" \
    "username password 10" \
    jp bsched once '{.spec.target.connection.credentialsSecretRef.usernameKey} {.spec.target.connection.credentialsSecretRef.passwordKey} {.spec.target.connection.connectTimeoutSeconds}'
expect_out "BackupSchedule 'once': no defaults in absent objects (lock, retention, snapshot, tls)" "|||" \
    jp bsched once '{.spec.lock}|{.spec.retention}|{.spec.snapshot}|{.spec.target.connection.tls}'
expect_out "BackupSchedule 'nightly': given values kept, retention defaults added (timeZone role dryRun keepFailed)" \
    "Europe/Berlin PreferReplica false 3" \
    jp bsched nightly '{.spec.timeZone} {.spec.target.role} {.spec.retention.dryRun} {.spec.retention.keepFailed}'
expect_out "Backup 'mariadb-before-upgrade': lock defaults next to the given timeoutSeconds (stage timeout acquire role)" \
    "BLOCK_COMMIT 10 10 Replica" \
    jp bk mariadb-before-upgrade '{.spec.lock.stage} {.spec.lock.timeoutSeconds} {.spec.lock.acquireTimeoutSeconds} {.spec.target.role}'
expect_out "Restore 'before-bad-migration': timeoutSeconds default" 1800 \
    jp rst before-bad-migration '{.spec.timeoutSeconds}'
expect_out "Restore 'rollback-mariadb': inPlace connection defaults (connectTimeoutSeconds, tls.mode)" "10 Preferred" \
    jp rst rollback-mariadb '{.spec.target.inPlace.connection.connectTimeoutSeconds} {.spec.target.inPlace.connection.tls.mode}'

# --- what the server refuses -------------------------------------------------

invalid=("$ROOT"/tests/fixtures/invalid/*.yaml)
[ ${#invalid[@]} -gt 0 ] || fail "no tests/fixtures/invalid/*.yaml"
for f in "${invalid[@]}"; do
    name=tests/fixtures/invalid/${f##*/}
    mapfile -t want < <(sed -n 's/^# expect: //p' "$f")
    [ ${#want[@]} -gt 0 ] || fail "$name has no '# expect: <fragment>' comment"
    # --validate=false: the API server, not kubectl's client-side check
    # (which 1.20, lacking server-side field validation, would get), judges.
    for how in create dry-run; do
        if [ $how = create ]; then
            err=$(k create --validate=false -n "$ns" -f "$f" 2>&1 >/dev/null) &&
                fail "$name: the API server accepted it (create)"
        else
            err=$(k apply --dry-run=server --validate=false -n "$ns" -f "$f" 2>&1 >/dev/null) &&
                fail "$name: the API server accepted it (server dry run)"
        fi
        case "$err" in *" is invalid: "*) ;; *) fail "$name: not refused as Invalid ($how): $err" ;; esac
        for s in "${want[@]}"; do
            case "$err" in *"$s"*) ;; *) fail "$name: the message lacks '$s' ($how): $err" ;; esac
        done
    done
    ok "refused: $name: ${want[0]}"
done
stored() { k get -n "$ns" backupschedules,backups,restores -o name | wc -l; }
expect_out "nothing of the invalid objects was stored (the 6 examples only)" 6 stored

# --- status and printer columns ----------------------------------------------

bk=mariadb-before-upgrade
k patch bk "$bk" -n "$ns" --subresource=status --type=merge -p '{"status": {
    "phase": "Completed", "sourcePod": "mariadb-1", "sourceRole": "Replica",
    "totalRestoreSize": "10Gi", "lock": {"stage": "BLOCK_COMMIT", "heldMilliseconds": 842},
    "conditions": [{"type": "Failed", "status": "False", "reason": "Succeeded",
        "message": "all snapshots ready", "lastTransitionTime": "2026-11-23T03:17:00Z"},
        {"type": "Restorable", "status": "False", "reason": "SnapshotMissing",
        "message": "VolumeSnapshot x was deleted", "lastTransitionTime": "2026-11-24T03:17:00Z"}]}}' \
    >/dev/null || fail "patching the Backup's status through /status"
expect_out "Backup status after the /status patch" "Completed mariadb-1 Replica 10Gi 842" \
    jp bk "$bk" '{.status.phase} {.status.sourcePod} {.status.sourceRole} {.status.totalRestoreSize} {.status.lock.heldMilliseconds}'
out=$(k get backups -n "$ns")
printf '%s\n' "$out"
expect_out "kubectl get backups" "NAME STATUS RESTORABLE SOURCE SIZE LOCK MS AGE
$bk Completed False mariadb-1 10Gi 842" table backups -n "$ns"
expect_out "kubectl get backups -o wide" "NAME STATUS RESTORABLE SOURCE ROLE SIZE LOCK MS REASON AGE
$bk Completed False mariadb-1 Replica 10Gi 842 Succeeded" table backups -n "$ns" -o wide
k patch bk "$bk" -n "$ns" --type=merge -p '{"status": {"phase": "Failed"}}' >/dev/null ||
    fail "patching the Backup"
expect_out "status in a write to the main resource is ignored" Completed \
    jp bk "$bk" '{.status.phase}'
err=$(k patch bk "$bk" -n "$ns" --subresource=status --type=merge -p '{"status": {"phase": "Done"}}' 2>&1) &&
    fail "a status with phase Done was accepted"
expect_contains "refused status write" "$err" "is invalid" status.phase "Unsupported value"

expect_out "kubectl get backupschedules -o wide" "NAME SCHEDULE TZ SUSPEND READY LAST RUN NEXT RUN LAST SUCCESS PITR FROM AGE
nightly H 3 * * * Europe/Berlin false
once once UTC false" table backupschedules -n "$ns" -o wide
expect_out "kubectl get restores -o wide" "NAME MODE SOURCE STATUS STEP AGE
before-bad-migration NewClaims
inspect-nightly NewClaims
rollback-mariadb InPlace" table restores -n "$ns" -o wide

# --- short names and the category --------------------------------------------

expect_out "kubectl get bk" "backup.snapstage.io/$bk" k get bk -n "$ns" -o name
expect_out "kubectl get bsched" "backupschedule.snapstage.io/nightly
backupschedule.snapstage.io/once" k get bsched -n "$ns" -o name
expect_out "kubectl get rst" "restore.snapstage.io/before-bad-migration
restore.snapstage.io/inspect-nightly
restore.snapstage.io/rollback-mariadb" k get rst -n "$ns" -o name
category() { k get snapstage -n "$ns" -o name | sort; }
expect_out "kubectl get snapstage (category)" "backup.snapstage.io/$bk
backupschedule.snapstage.io/nightly
backupschedule.snapstage.io/once
restore.snapstage.io/before-bad-migration
restore.snapstage.io/inspect-nightly
restore.snapstage.io/rollback-mariadb" category

# --- kubectl explain -----------------------------------------------------------

# Which OpenAPI document kubectl reads (1.20 serves only v2; -v=6 logs the
# requests). A fresh cache makes it fetch them.
export KUBECACHEDIR=$work/kube-cache-explain
log=$(k explain backupschedule.spec.retention -v=6 2>&1 >/dev/null || true)
v3=$(printf '%s\n' "$log" | sed -n 's|.*url="[^"]*/openapi/v3[?"].*status="\([0-9]*\).*|\1|p' | head -n 1)
v2=$(printf '%s\n' "$log" | sed -n 's|.*url="[^"]*/openapi/v2[?"].*status="\([0-9]*\).*|\1|p' | head -n 1)
echo "# kubectl explain: GET /openapi/v3 -> ${v3:-not requested}, GET /openapi/v2 -> ${v2:-not requested}"
out=$(k explain backupschedule.spec.retention) || fail "kubectl explain backupschedule.spec.retention"
expect_contains "kubectl explain backupschedule.spec.retention" "$out" \
    "RESOURCE: retention <Object>" keepDaily keepLast maxAge "grandfather-father-son" \
    "Keep the newest Backup of each of the last N days"
out=$(k explain backupschedule.spec.timeZone) || fail "kubectl explain backupschedule.spec.timeZone"
expect_contains "kubectl explain backupschedule.spec.timeZone" "$out" "timeZone <string>" "IANA time zone" "Default UTC"
out=$(k explain backup.status.position.gtidBinlogPos) || fail "kubectl explain backup.status.position.gtidBinlogPos"
expect_contains "kubectl explain backup.status.position.gtidBinlogPos" "$out" \
    "gtidBinlogPos <string>" "@@gtid_binlog_pos: the GTIDs in this server's binary log"
expect_out "kubectl explain --output=plaintext-openapiv2 prints the same" "$out" \
    k explain backup.status.position.gtidBinlogPos --output=plaintext-openapiv2

echo "PASS"
