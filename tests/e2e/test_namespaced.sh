#!/usr/bin/env bash
# Least privilege, end to end (issue 15, points 7 and 12): the real
# snapstage binary runs on its ServiceAccount's own token, with only the RBAC
# of deploy/examples/namespaced-in-place-restore/ (a Role in each of two
# watched namespaces, the small ClusterRoles, the Lease Role), watching
# those two namespaces (--namespace=A,B), with in-place restores and leader
# election on. The API server audit-logs every request of the ServiceAccount
# (hack/cluster.sh).
#   watched    A: a 3-member MariaDB; a Backup of a replica with the default
#              VolumeSnapshotClass completes. B: a 1-member MariaDB; a
#              Backup of its primary with a named class completes.
#   unwatched  a Backup in a third namespace U stays untouched (no status)
#              and the controller sends no request there; with its token,
#              reading U's Secret is Forbidden, and so is listing Secrets in
#              A (only get is granted).
#   schedule   a BackupSchedule in A with keepLast 1: two run-now Backups,
#              the older pruned.
#   failed     a Backup whose snapshots the storage refuses fails and its
#              snapshots are deleted.
#   restores   NewClaims from A's Backup with the default StorageClass
#              completes; another, whose snapshots cannot be restored
#              (restore-fault), times out and deletes its unbound claims; its
#              spec edited meanwhile is ignored, the repeated Warning counted.
#              InPlace on B's one-member StatefulSet completes, and its
#              ConfiguringReplication step says "the only member" (not
#              "...and the others its replicas from GTID (none)", point 12);
#              the row written after the Backup is gone. In A an in-place
#              Restore whose governing Service selects no Pod fails
#              InvalidSpec (the checks read the Service), A's StatefulSet
#              untouched.
#   audit      after a clean SIGTERM (exit 0, the Lease released): no request
#              got 403, none went to a namespace other than A, B and the
#              Lease's; the requests made are exactly those of
#              tests/integration/rbac_rules.txt but the `vf` (restore
#              verification, not enabled here) ones (finalizers excepted: they
#              are the admission check on the creates of Backups and
#              VolumeSnapshots with blockOwnerDeletion, which succeeded).
#
# Environment: SNAPSTAGE_CLUSTER_DIR (a running `hack/cluster.sh up
# --with-mariadb` cluster), SNAPSTAGE_BIN (the controller).
set -euo pipefail

: "${SNAPSTAGE_BIN:?set SNAPSTAGE_BIN to the snapstage binary}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_init test_namespaced nsd
# shellcheck disable=SC1091
. "$SNAPSTAGE_CLUSTER_DIR/env"

A=$ns-a
B=$ns-b
U=$ns-u
CTL=snapstage-system
SA=snapstage-controller
USER_NAME=system:serviceaccount:$CTL:$SA
AUDIT=$SNAPSTAGE_CLUSTER_DIR/logs/audit.log
RULES=$ROOT/tests/integration/rbac_rules.txt
LEASE=snapstage-e2e-$$

ka() { "$KUBECTL" -n "$A" "$@"; }
kb() { "$KUBECTL" -n "$B" "$@"; }
as_controller() { "$KUBECTL" --kubeconfig="$work/controller.kubeconfig" "$@"; }

on_exit() {
    local f
    kill_controller
    for f in "$work"/rbac.yaml; do
        [ -f "$f" ] && "$KUBECTL" delete --ignore-not-found -f "$f" >/dev/null 2>&1
    done
    "$KUBECTL" -n "$CTL" delete lease "$LEASE" --ignore-not-found >/dev/null 2>&1 || true
    "$KUBECTL" delete namespace "$A" "$B" "$U" --wait=false >/dev/null 2>&1 || true
}
dump_on_fail() {
    "$KUBECTL" get backups,restores -A 2>/dev/null | grep -E "$ns" || true
    echo "--- Events in $A and $B (last 25)"
    "$KUBECTL" get events -n "$A" --sort-by=.lastTimestamp 2>/dev/null | tail -n 25 || true
    "$KUBECTL" get events -n "$B" --sort-by=.lastTimestamp 2>/dev/null | tail -n 10 || true
    [ -f "$AUDIT" ] && grep -c "$USER_NAME" "$AUDIT" 2>/dev/null | sed 's/^/audit lines of the controller: /'
}

cond_of() { # ns kind name type: the condition's status
    "$KUBECTL" -n "$1" get "$2" "$3" -o jsonpath="{.status.conditions[?(@.type==\"$4\")].status}"
}
complete() { [ "$(cond_of "$1" "$2" "$3" Complete)" = True ]; }
failed() { [ "$(cond_of "$1" "$2" "$3" Failed)" = True ]; }
# sql (lib.sh) on a pod of namespace $1: it reads $ns, made local here.
ns_sql() { local ns=$1; shift; sql "$@"; }
backup_in() { # ns name extra-spec-lines
    "$KUBECTL" -n "$1" apply -f - >/dev/null <<YAML || fail "creating Backup $1/$2"
apiVersion: snapstage.io/v1alpha1
kind: Backup
metadata:
  name: $2
spec:
  target:
    statefulSetName: mariadb
    connection:
      credentialsSecretRef: {name: mariadb-backup}
$3
YAML
}

in_place_in() { # ns name backup extra-inPlace-lines: an InPlace Restore of StatefulSet mariadb
    "$KUBECTL" -n "$1" apply -f - >/dev/null <<YAML || fail "creating Restore $1/$2"
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata:
  name: $2
spec:
  source: {backupName: $3}
  target:
    mode: InPlace
    inPlace:
      statefulSetName: mariadb
      acknowledgeDataLoss: true
$4
      connection:
        credentialsSecretRef: {name: mariadb-backup}
  timeoutSeconds: 300
YAML
}

# ---- the cluster: CRDs, namespaces, MariaDB, Secrets (as the admin) -----------------
install_crds
for n in "$A" "$B" "$U" "$CTL"; do
    "$KUBECTL" create namespace "$n" --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
done
ka apply -f "$ROOT/hack/sim/mariadb.yaml" >/dev/null
sed 's/^  replicas: 3$/  replicas: 1/' "$ROOT/hack/sim/mariadb.yaml" | kb apply -f - >/dev/null
for n in "$A" "$B" "$U"; do
    "$KUBECTL" -n "$n" create secret generic mariadb-backup --from-literal=username=root \
        --from-literal=password=not-a-real-root-password >/dev/null
done
wait_for 300 "$A: the primary and both replicas are Ready" \
    ka rollout status statefulset/mariadb --timeout=5s
wait_for 120 "$B: its one member is Ready" kb rollout status statefulset/mariadb --timeout=5s

# ---- the controller's RBAC: the namespaced in-place example, for A and B -----------------
"$KUBECTL" kustomize "$ROOT/deploy/examples/namespaced-in-place-restore" | python3 -c '
import re, sys
docs = re.split(r"^---[^\n]*$", sys.stdin.read(), flags=re.M)
kinds = r"^kind: (ServiceAccount|ClusterRole|ClusterRoleBinding|Role|RoleBinding)\s*$"
print("\n---\n".join(d.strip("\n") for d in docs if re.search(kinds, d, re.M)))' |
    sed -e "s/\bteam-a\b/$A/g" -e "s/\bteam-b\b/$B/g" >"$work/rbac.yaml"
"$KUBECTL" apply -f "$work/rbac.yaml" >/dev/null || fail "applying the RBAC"
ok "RBAC of namespaced-in-place-restore for $A, $B: $(grep -c '^kind: Role$' "$work/rbac.yaml") Roles, $(grep -c '^kind: ClusterRole$' "$work/rbac.yaml") ClusterRoles"
(
    umask 077
    token=$("$KUBECTL" -n "$CTL" create token "$SA" --duration=1h) || exit 1
    cat >"$work/controller.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: "$SNAPSTAGE_APISERVER_URL", certificate-authority: "$SNAPSTAGE_CA_FILE"}
users:
- name: $SA
  user: {token: "$token"}
contexts:
- name: e2e
  context: {cluster: e2e, user: $SA, namespace: $CTL}
current-context: e2e
KC
) || fail "minting the ServiceAccount's token"
audit_start=$(wc -l <"$AUDIT" 2>/dev/null || echo 0)

"$SNAPSTAGE_BIN" --kubeconfig="$work/controller.kubeconfig" --namespace="$A,$B" \
    --enable-in-place-restore --leader-elect --leader-election-namespace="$CTL" \
    --leader-election-id="$LEASE" --leader-elect-lease-duration=4s \
    --leader-elect-renew-deadline=3s --leader-elect-retry-period=1s --workers=4 \
    --metrics-bind-address=127.0.0.1:"$metrics_port" \
    --health-probe-bind-address=127.0.0.1:$((metrics_port + 1)) \
    >>"$work/controller.log" 2>&1 &
ctrl_pid=$!
wait_for 30 "the controller is ready on its own token (pid $ctrl_pid)" \
    curl -sf "http://127.0.0.1:$((metrics_port + 1))/readyz"
grep -q "namespaces=$A,$B" "$work/controller.log" ||
    fail "the controller does not log its namespaces: $(grep -m1 'API server' "$work/controller.log")"
ok "it logs namespaces=$A,$B"

# ---- watched and unwatched namespaces -----------------------------------------------------
ns_sql "$A" mariadb-0 "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY);
INSERT INTO shop.orders VALUES (1), (2);" || fail "writing in $A"
ns_sql "$B" mariadb-0 "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY);
INSERT INTO shop.orders VALUES (1), (2);" || fail "writing in $B"
backup_in "$A" a1 "    role: Replica"
backup_in "$B" b1 "    role: Primary
  snapshot:
    volumeSnapshotClassName: snapstage-sim"
backup_in "$U" u1 "    role: Replica"
wait_for 120 "$A: Backup a1 of a replica (default VolumeSnapshotClass) is Complete" complete "$A" backup a1
wait_for 120 "$B: Backup b1 of the one-member primary (class snapstage-sim) is Complete" \
    complete "$B" backup b1
ns_sql "$B" mariadb-0 "INSERT INTO shop.orders VALUES (3)" || fail "writing row 3 in $B"

# ---- a schedule with retention, a failed Backup, restores ---------------------------------
ka apply -f - >/dev/null <<'YAML' || fail "creating the schedule"
apiVersion: snapstage.io/v1alpha1
kind: BackupSchedule
metadata:
  name: keep1
spec:
  schedule: "0 0 1 1 *"
  target:
    statefulSetName: mariadb
    role: Replica
    connection:
      credentialsSecretRef: {name: mariadb-backup}
  retention:
    keepLast: 1
  backupDeletionPolicy: Delete # its Backups get an owner reference (blockOwnerDeletion)
YAML
of_keep1() { ka get backups -l snapstage.io/schedule=keep1 -o jsonpath='{.items[*].metadata.name}'; }
n_keep1_is() { [ "$(of_keep1 | wc -w)" = "$1" ]; }
all_keep1_complete() {
    local b
    for b in $(of_keep1); do complete "$A" backup "$b" || return 1; done
}
another_than_first() { of_keep1 | tr ' ' '\n' | grep -qvx "$first"; }
first_pruned() { ! ka get backup "$first" >/dev/null 2>&1 && n_keep1_is 1; }
ka annotate backupschedule keep1 snapstage.io/run-now=one --overwrite >/dev/null
wait_for 30 "schedule keep1: a run-now Backup" n_keep1_is 1
first=$(of_keep1)
wait_for 120 "schedule keep1: $first is Complete" complete "$A" backup "$first"
owner=$(ka get backup "$first" -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} blockOwnerDeletion={.metadata.ownerReferences[0].blockOwnerDeletion}')
[ "$owner" = "BackupSchedule/keep1 blockOwnerDeletion=true" ] ||
    fail "schedule keep1's Backup has owner reference '$owner'"
ok "its owner reference: $owner (created on the finalizers rule)"
sleep 1.1 # the next run-now Backup's name has another minute or suffix
ka annotate backupschedule keep1 snapstage.io/run-now=two --overwrite >/dev/null
wait_for 30 "schedule keep1: a second run-now Backup" another_than_first
wait_for 120 "schedule keep1: keepLast 1 pruned $first once the newer one completed" first_pruned
wait_for 60 "schedule keep1: its remaining Backup is Complete" all_keep1_complete

backup_in "$A" refused "    role: Replica
  snapshot:
    annotations:
      sim.snapstage.io/fail: refused by the e2e test"
wait_for 120 "Backup refused (the storage fails its snapshots) is Failed" failed "$A" backup refused
no_snaps_of_refused() { [ -z "$(ka get volumesnapshots -l snapstage.io/backup=refused -o name)" ]; }
wait_for 60 "its VolumeSnapshots are deleted" no_snaps_of_refused

ka apply -f - >/dev/null <<'YAML' || fail "creating Restore copy"
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata:
  name: copy
spec:
  source: {backupName: a1}
  target: {mode: NewClaims}
  timeoutSeconds: 300
YAML
wait_for 120 "Restore copy (NewClaims, the default StorageClass) is Complete" complete "$A" restore copy
for s in $(ka get backup a1 -o jsonpath='{.status.snapshots[*].volumeSnapshotName}'); do
    ka annotate volumesnapshot "$s" sim.snapstage.io/restore-fault=pending >/dev/null ||
        fail "annotating $s"
done
ka apply -f - >/dev/null <<'YAML' || fail "creating Restore stuck"
apiVersion: snapstage.io/v1alpha1
kind: Restore
metadata:
  name: stuck
spec:
  source: {backupName: a1}
  target: {mode: NewClaims, newClaims: {storageClassName: snapstage-sim}}
  timeoutSeconds: 15
YAML
# A spec edited while it runs is ignored, with a Warning Event once per
# generation: a second edit repeats it, and the repeat is counted (a patch
# of the Event's series).
stuck_accepted() { [ -n "$(ka get restore stuck -o jsonpath='{.status.acceptedSpec}')" ]; }
ignored_event() { # the SpecChangeIgnored Event of Restore stuck: "<reason> <series.count>"
    ka get events.events.k8s.io --field-selector regarding.name=stuck,reason=SpecChangeIgnored \
        -o jsonpath='{.items[0].reason} {.items[0].series.count}'
}
ignored_once() { [ "$(ignored_event)" = "SpecChangeIgnored " ]; }
ignored_twice() { [ "$(ignored_event)" = "SpecChangeIgnored 2" ]; }
wait_for 30 "Restore stuck has started (status.acceptedSpec)" stuck_accepted
ka patch restore stuck --type=merge -p '{"spec":{"timeoutSeconds":16}}' >/dev/null ||
    fail "editing Restore stuck"
wait_for 10 "Restore stuck edited: a SpecChangeIgnored Warning" ignored_once
ka patch restore stuck --type=merge -p '{"spec":{"timeoutSeconds":17}}' >/dev/null ||
    fail "editing Restore stuck again"
wait_for 10 "edited again: the same Event, counted twice" ignored_twice
wait_for 90 "Restore stuck (claims that never bind) is Failed" failed "$A" restore stuck
no_claims_of_stuck() { [ -z "$(ka get pvc -l snapstage.io/restore=stuck -o name)" ]; }
wait_for 60 "its unbound claims are deleted" no_claims_of_stuck

kb annotate statefulset mariadb snapstage.io/in-place-restore=allowed >/dev/null ||
    fail "annotating $B's StatefulSet"
in_place_in "$B" back b1 "      primaryOrdinal: 0"
wait_for 240 "$B: Restore back (InPlace, one member) is Complete" complete "$B" restore back
rows=$(ns_sql "$B" mariadb-0 "SELECT GROUP_CONCAT(id ORDER BY id) FROM shop.orders") ||
    fail "reading $B's rows"
[ "$rows" = 1,2 ] || fail "$B after the in-place restore holds rows '$rows', not 1,2"
ok "$B holds rows 1,2: row 3, written after Backup b1, is gone"
configuring=$(kb get events --field-selector involvedObject.name=back -o jsonpath='{range .items[*]}{.message}{"\n"}{end}' |
    grep -i -m1 "primary" || true)
case "$configuring" in
*"the only member"*"(none)"* | *"others its replicas"*) fail "ConfiguringReplication says: $configuring" ;;
*"opening mariadb-0, the only member, as the primary"*) ok "ConfiguringReplication: '$configuring'" ;;
*) fail "no ConfiguringReplication Event for the one-member restore: '$configuring'" ;;
esac
# In A (three members) the in-place checks read the governing Service (get
# services, in the namespaced Role): one that selects no Pod gives the
# primary no DNS name, and the Restore is refused before anything changes.
ka patch service mariadb --type merge -p '{"spec":{"selector":{"app.kubernetes.io/name":"nobody"}}}' \
    >/dev/null || fail "pointing $A's Service elsewhere"
ka annotate statefulset mariadb snapstage.io/in-place-restore=allowed >/dev/null ||
    fail "annotating $A's StatefulSet"
in_place_in "$A" nodns a1 "      replicationCredentialsSecretRef:
        name: mariadb
        usernameKey: replication-user
        passwordKey: replication-password"
wait_for 60 "$A: Restore nodns (its Service selects no Pod) is Failed" failed "$A" restore nodns
reason=$(ka get restore nodns -o jsonpath='{.status.conditions[?(@.type=="Failed")].reason}')
[ "$reason" = InvalidSpec ] || fail "$A: Restore nodns failed $reason: $(ka get restore nodns -o jsonpath='{.status.message}')"
[ "$(ka get statefulset mariadb -o jsonpath='{.spec.replicas}')" = 3 ] || fail "$A: the StatefulSet was scaled"
ok "$A: an in-place Restore whose Service gives no DNS name: InvalidSpec, the StatefulSet untouched"

# ---- the unwatched namespace --------------------------------------------------------------
[ -z "$("$KUBECTL" -n "$U" get backup u1 -o jsonpath='{.status}')" ] ||
    fail "Backup u1 in the unwatched namespace has a status: $("$KUBECTL" -n "$U" get backup u1 -o jsonpath='{.status}')"
ok "Backup u1 in unwatched $U: untouched (no status) after everything above"
out=$(as_controller -n "$U" get secret mariadb-backup 2>&1) && fail "the controller's token read $U's Secret"
case "$out" in *Forbidden*) ok "its token may not read Secret $U/mariadb-backup (Forbidden)" ;; *) fail "reading $U's Secret: $out" ;; esac
out=$(as_controller -n "$A" get secrets 2>&1) && fail "the controller's token listed $A's Secrets"
case "$out" in *Forbidden*) ok "its token may not list Secrets in watched $A either (get only)" ;; *) fail "listing $A's Secrets: $out" ;; esac

stop_controller
ok "SIGTERM: the controller exited 0"
check_clean_log

# ---- what it asked for: the audit log -------------------------------------------------------
sleep 1 # the audit backend writes as requests complete
tail -n +"$((audit_start + 1))" "$AUDIT" >"$work/audit.log"
python3 - "$work/audit.log" "$RULES" "$USER_NAME" "$A" "$B" "$CTL" "$U" <<'PY' || fail "the audit log does not match rbac_rules.txt"
import json, sys
log, rules_path, user, a, b, ctl, unwatched = sys.argv[1:]
seen, forbidden, where, creates = {}, [], set(), {}
for line in open(log):
    e = json.loads(line)
    if e.get("user", {}).get("username") != user or e.get("stage") != "ResponseComplete":
        continue
    if not e.get("userAgent", "").startswith("snapstage/"):
        continue  # the test's own kubectl, with the same token
    ref = e.get("objectRef") or {}
    if not ref.get("resource"):
        continue  # discovery, version
    res = ref["resource"] + ("/" + ref["subresource"] if ref.get("subresource") else "")
    key = (ref.get("apiGroup", ""), res, e["verb"])
    code = e.get("responseStatus", {}).get("code", 0)
    seen[key] = seen.get(key, 0) + 1
    where.add(ref.get("namespace", ""))
    if code == 403:
        forbidden.append("%s %s/%s in %s" % (e["verb"], key[0] or "core", res, ref.get("namespace")))
    if e["verb"] == "create" and code == 201:
        creates[res] = creates.get(res, 0) + 1
want = set()
for line in open(rules_path):
    if not line.strip() or line.lstrip().startswith("#"):
        continue
    role, group, res, verbs = line.split()[:4]
    if role == "vf":
        continue  # restore verification: off here (e2e.test_verify runs it)
    for v in verbs.split(","):
        want.add(("" if group == "core" else group, res, v))
finalizers = {k for k in want if k[1].endswith("/finalizers")}
fmt = lambda ks: ", ".join("%s %s/%s" % (v, g or "core", r) for g, r, v in sorted(ks))
bad = 0
print("      the controller made %d requests of %d kinds" % (sum(seen.values()), len(seen)))
for k in sorted(seen):
    print("        %5d  %-6s %s/%s" % (seen[k], k[2], k[0] or "core", k[1]))
if forbidden:
    print("FAIL: %d requests got 403: %s" % (len(forbidden), "; ".join(forbidden[:10]))); bad = 1
else:
    print("ok: no request got 403")
extra, missing = set(seen) - want, want - finalizers - set(seen)
if extra:
    print("FAIL: requests outside rbac_rules.txt: " + fmt(extra)); bad = 1
if missing:
    print("FAIL: rules the run never used: " + fmt(missing)); bad = 1
if not extra and not missing:
    print("ok: the requests made are exactly the %d verbs of rbac_rules.txt (+ %d finalizer rules, checked on creates)" % (len(want - finalizers), len(finalizers)))
stray = where - {a, b, ctl, ""}
if stray:
    print("FAIL: requests in namespaces it does not watch: %s" % sorted(stray)); bad = 1
else:
    print("ok: requests only in %s, %s, %s (Lease) and cluster-scoped" % (a, b, ctl))
if not creates.get("volumesnapshots") or not creates.get("backups"):
    print("FAIL: no VolumeSnapshot or Backup created (blockOwnerDeletion untested): %s" % creates); bad = 1
else:
    print("ok: %d VolumeSnapshots and %d Backups created with blockOwnerDeletion owner references "
          "(OwnerReferencesPermissionEnforcement: the finalizers rules)" %
          (creates["volumesnapshots"], creates["backups"]))
sys.exit(bad)
PY
ok "audit: no 403, only $A/$B/$CTL, exactly the requests of rbac_rules.txt"
