#!/usr/bin/env bash
# hack/sim/storage.py, the storage driver simulator, on the cluster of
# `hack/cluster.sh up --with-mariadb` (kube-controller-manager's PV binder
# binds the volumes it provisions). In a fresh namespace:
#   - a claim of class snapstage-sim becomes Bound to PV pvc-<uid>: hostPath
#     STATE/volumes/<pv> (which exists), provisioned-by sim.snapstage.io,
#     capacity and reclaim policy as asked;
#   - a VolumeSnapshot (annotations cut-latency-ms 300, ready-delay-ms 1500)
#     of that volume, while a "holder" process (sleep) is registered in
#     STATE/holders/<pv>: the holder is seen stopped (state T) during the cut
#     and running again afterwards; the driver's finalizer and the content
#     snapcontent-<uid> (driver, volumeHandle, deletionPolicy, ref) appear;
#     creationTime is published while readyToUse is still false (checked on
#     every state the snapshot went through, replayed by a watch from the
#     resourceVersion before it was made, so a slow kubectl cannot miss
#     it), equals the content's nanosecond creationTime; the cut comes at
#     least 300 ms after the create, readyToUse at least 1.5 s after the
#     cut, with restoreSize (16Mi / 16777216 bytes);
#   - the snapshot holds the volume as of the cut: the file is changed after
#     creationTime, and a claim restored from the snapshot (dataSource)
#     becomes Bound with the old content; a claim smaller than restoreSize
#     stays Pending with a ProvisioningFailed Warning;
#   - fault injection: sim.snapstage.io/fail sets status.error (snapshot and
#     content) with the message and no creationTime; hang=cut leaves the
#     content uncut (no creationTime) after several seconds; hang=ready sets
#     creationTime but never readyToUse; cut-time-offset-ms 5000 / -2500
#     publishes creationTime (content and snapshot) = the driver's real
#     freeze instant (its log line) + 5 s / - 2.5 s;
#   - restore fault injection: with sim.snapstage.io/restore-fault=pending
#     on s1, a claim restored from it stays Pending (no PV, no directory)
#     past a resync with a ProvisioningFailed Warning "restore fault
#     injected"; once the annotation is removed it is Bound with s1's data;
#   - corrupt-on-restore on s1: only bad items (unknown mode, "..", a
#     leading "/", a missing file, a bad size): each logged bad-annotation,
#     the restored copy intact; truncate=3:marker gives a copy whose marker
#     is 3 bytes, flip:marker one whose bytes are inverted, each with one
#     restore-corrupt log line; s1's data and an earlier restore untouched;
#   - a pre-bound claim (spec.volumeName) is left to the PV binder: a
#     claim's PV set to Retain, the claim deleted, the PV Released (and
#     kept, directory too); its claimRef merge-patched to a new name
#     without uid/resourceVersion, a claim of that name with spec.volumeName
#     = the PV is Bound to the same PV (the driver made no PV for it), the
#     file written before is there; the time to bind is printed;
#   - deleting the snapshots removes their contents and data directories;
#     deleting the claims removes their PVs and volume directories; the
#     Retained PV stays Released until its policy is put back to Delete,
#     then it and its directory go.
# Prints each check; exits non-zero on the first failure.
#
# Environment (set by CTest): SNAPSTAGE_CLUSTER_DIR, a running
# `hack/cluster.sh up --with-mariadb` cluster. KUBECTL overrides the kubectl
# from hack/tools.sh.
set -euo pipefail

: "${SNAPSTAGE_CLUSTER_DIR:?set SNAPSTAGE_CLUSTER_DIR to a running hack/cluster.sh up --with-mariadb cluster}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KUBECTL=${KUBECTL:-$("$ROOT/hack/tools.sh")/kubectl}
STATE=$SNAPSTAGE_CLUSTER_DIR/sim
started=$SECONDS

work=$(mktemp -d)
export KUBECONFIG=$SNAPSTAGE_CLUSTER_DIR/kubeconfig
export KUBECACHEDIR=$work/kube-cache
ns=simstorage-$$-$RANDOM
holder=
pv=
kpv=
checks=0

k() { "$KUBECTL" "$@"; }
kn() { "$KUBECTL" -n "$ns" "$@"; }
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
# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
    local limit=$1 what=$2 end
    shift 2
    end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || fail "timed out after ${limit}s: $what"
        sleep 0.2
    done
    ok "$what"
}
jp() { # kind name jsonpath (in the test namespace)
    kn get "$1" "$2" -o jsonpath="$3"
}
# Sets PSTATE to the state letter of a process (R, S, T, ...), empty when
# it is gone; builtins only, no fork.
pstate() {
    local line
    PSTATE=
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
    line=${line##*) }
    PSTATE=${line%% *}
}

cleanup() {
    local rc=$?
    set +e
    if [ -n "$holder" ]; then
        kill -CONT "$holder" 2>/dev/null
        kill "$holder" 2>/dev/null
        wait "$holder" 2>/dev/null
    fi
    [ -n "$pv" ] && rm -f "$STATE/holders/$pv"
    # the Retained PV of the re-attach case must not outlive the test
    [ -n "$kpv" ] && k patch pv "$kpv" -p '{"spec":{"persistentVolumeReclaimPolicy":"Delete"}}' >/dev/null 2>&1
    if [ $rc != 0 ]; then
        echo "--- objects in $ns" >&2
        kn get pvc,volumesnapshots -o wide >&2
        k get pv,volumesnapshotcontents >&2
        echo "--- last lines of sim-storage.log" >&2
        tail -n 30 "$SNAPSTAGE_CLUSTER_DIR/logs/sim-storage.log" >&2
    fi
    kn delete volumesnapshots --all --wait=false >/dev/null 2>&1
    kn delete pvc --all --wait=false >/dev/null 2>&1
    k delete namespace "$ns" --wait=false >/dev/null 2>&1
    rm -rf "$work"
    echo "test_sim_storage: $checks checks, $((SECONDS - started))s, exit $rc"
    exit $rc
}
trap cleanup EXIT

claim() { # name size [snapshot]
    {
        printf 'apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: %s}\n' "$1"
        printf 'spec:\n  storageClassName: snapstage-sim\n  accessModes: [ReadWriteOnce]\n'
        printf '  resources: {requests: {storage: %s}}\n' "$2"
        [ -z "${3:-}" ] ||
            printf '  dataSource: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: %s}\n' "$3"
    } | kn create -f - >/dev/null || fail "creating claim $1"
}
snapshot() { # name annotation-key=value...
    local name=$1 a
    shift
    {
        printf 'apiVersion: snapshot.storage.k8s.io/v1\nkind: VolumeSnapshot\n'
        printf 'metadata:\n  name: %s\n  annotations:\n    test/owner: test_sim_storage\n' "$name"
        for a in "$@"; do printf '    %s: "%s"\n' "${a%%=*}" "${a#*=}"; done
        printf 'spec:\n  source: {persistentVolumeClaimName: data}\n'
    } | kn create -f - >/dev/null || fail "creating snapshot $name"
}
bound() { [ "$(jp pvc "$1" '{.status.phase}')" = Bound ]; }

k create namespace "$ns" >/dev/null
echo "# namespace $ns, state $STATE"

# --- provisioning --------------------------------------------------------------

expect_eq "StorageClass snapstage-sim provisioner" sim.snapstage.io \
    "$(k get storageclass snapstage-sim -o jsonpath='{.provisioner}')"
expect_eq "VolumeSnapshotClass snapstage-sim driver/deletionPolicy" sim.snapstage.io/Delete \
    "$(k get volumesnapshotclass snapstage-sim -o jsonpath='{.driver}/{.deletionPolicy}')"
claim data 16Mi
wait_for 60 "claim data is Bound" bound data
pv=$(jp pvc data '{.spec.volumeName}')
expect_eq "PV name" "pvc-$(jp pvc data '{.metadata.uid}')" "$pv"
expect_eq "PV hostPath, capacity, reclaim policy, provisioned-by" \
    "$STATE/volumes/$pv Directory 16Mi Delete sim.snapstage.io" \
    "$(k get pv "$pv" -o jsonpath='{.spec.hostPath.path} {.spec.hostPath.type} {.spec.capacity.storage} {.spec.persistentVolumeReclaimPolicy} {.metadata.annotations.pv\.kubernetes\.io/provisioned-by}')"
vol=$STATE/volumes/$pv
[ -d "$vol" ] || fail "volume directory $vol does not exist"
ok "volume directory exists"

# --- a snapshot of a volume in use -----------------------------------------------

echo before >"$vol/marker"
sleep 1000 &
holder=$!
mkdir -p "$STATE/holders"
echo "$holder" >"$STATE/holders/$pv"

# Watches the holder's state with shell builtins only (a freeze lasts a few
# ms: sampled every 2 ms, the pause being a read timeout on an idle FIFO)
# until the file $work/stop appears; prints each state change.
mkfifo "$work/idle"
(
    exec 9<>"$work/idle"
    last=
    end=$((SECONDS + 60))
    while [ ! -e "$work/stop" ] && [ $SECONDS -lt $end ]; do
        pstate "$holder"
        if [ "$PSTATE" != "$last" ]; then
            echo "$PSTATE"
            last=$PSTATE
        fi
        read -r -t 0.002 -u 9 _ || true
    done
) >"$work/states" &
monitor=$!

# The namespace's resourceVersion before the snapshot: every later state of
# it is replayed from there below, however slowly this script polls.
# (kubectl get prints a client-side List without one: ask the server.)
rv0=$(k get --raw "/apis/snapshot.storage.k8s.io/v1/namespaces/$ns/volumesnapshots" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])')
[ -n "$rv0" ] || fail "no resourceVersion for the namespace's snapshots"
t_before_create_ns=$(date +%s%N)
snapshot s1 sim.snapstage.io/cut-latency-ms=300 sim.snapstage.io/ready-delay-ms=1500
uid=$(jp volumesnapshot s1 '{.metadata.uid}')
content=snapcontent-$uid

cut() { [ -n "$(jp volumesnapshot s1 '{.status.creationTime}')" ]; }
wait_for 30 "snapshot s1 gets a creationTime" cut
t_cut_seen_ns=$(date +%s%N)
# The snapshot is cut: change the volume; the snapshot must not see it.
echo after >"$vol/marker"
s1_ready() { [ "$(jp volumesnapshot s1 '{.status.readyToUse}')" = true ]; }
wait_for 30 "snapshot s1 becomes readyToUse" s1_ready
t_ready_seen_ns=$(date +%s%N)
echo "# creationTime seen $(((t_cut_seen_ns - t_before_create_ns) / 1000000)) ms, readyToUse $(((t_ready_seen_ns - t_before_create_ns) / 1000000)) ms after 'kubectl create' started"
touch "$work/stop"
wait "$monitor"

# Every state s1 went through, in order, as "creationTime|readyToUse".
k get --raw "/apis/snapshot.storage.k8s.io/v1/namespaces/$ns/volumesnapshots?watch=1&resourceVersion=$rv0&timeoutSeconds=1" |
    python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e["type"] in ("ADDED", "MODIFIED") and e["object"]["metadata"]["name"] == "s1":
        st = e["object"].get("status") or {}
        print("%s|%s" % (st.get("creationTime", ""), str(st.get("readyToUse", "")).lower()))
' >"$work/history"
echo "# states of s1 (creationTime|readyToUse): $(tr '\n' ' ' <"$work/history")"
grep -q '^.\+|false$' "$work/history" || fail "no state of s1 with creationTime and readyToUse false"
ok "creationTime was published while readyToUse was still false"
! grep -q '^|true$' "$work/history" || fail "s1 was readyToUse without a creationTime"
ok "s1 was never readyToUse without a creationTime"

states=$(tr '\n' ' ' <"$work/states")
echo "# holder states during the cut: $states"
case " $states" in *" T "*) ok "holder was stopped (T) during the cut" ;;
*) fail "holder never seen stopped: $states" ;; esac
sleep 0.2
pstate "$holder"
{ [ -n "$PSTATE" ] && [ "$PSTATE" != T ]; } || fail "holder is '$PSTATE' after the cut, want running"
ok "holder runs again after the cut (state $PSTATE)"

expect_eq "VS finalizer" sim.snapstage.io/snapshot "$(jp volumesnapshot s1 '{.metadata.finalizers[*]}')"
expect_eq "VS boundVolumeSnapshotContentName" "$content" \
    "$(jp volumesnapshot s1 '{.status.boundVolumeSnapshotContentName}')"
expect_eq "content driver, volumeHandle, deletionPolicy, class, ref" \
    "sim.snapstage.io $pv Delete snapstage-sim VolumeSnapshot $ns/s1 $uid" \
    "$(k get volumesnapshotcontent "$content" -o jsonpath='{.spec.driver} {.spec.source.volumeHandle} {.spec.deletionPolicy} {.spec.volumeSnapshotClassName} {.spec.volumeSnapshotRef.kind} {.spec.volumeSnapshotRef.namespace}/{.spec.volumeSnapshotRef.name} {.spec.volumeSnapshotRef.uid}')"
vs_ct=$(jp volumesnapshot s1 '{.status.creationTime}')
vsc_ct=$(k get volumesnapshotcontent "$content" -o jsonpath='{.status.creationTime}')
expect_eq "VS creationTime (RFC 3339) = content creationTime (ns)" "$vsc_ct" "$(date -d "$vs_ct" +%s%N)"
# Lower bounds that hold however slow kubectl is: the cut came at least
# cut-latency-ms after kubectl create started, readyToUse was seen at least
# ready-delay-ms after the cut.
cut_delay_ms=$(((vsc_ct - t_before_create_ns) / 1000000))
ready_after_ms=$(((t_ready_seen_ns - vsc_ct) / 1000000))
echo "# cut ${cut_delay_ms} ms after 'kubectl create' started, readyToUse seen ${ready_after_ms} ms after the cut"
[ "$cut_delay_ms" -ge 300 ] || fail "cut ${cut_delay_ms} ms after the create, want >= cut-latency-ms 300"
ok "the cut waited for cut-latency-ms (${cut_delay_ms} ms >= 300)"
[ "$ready_after_ms" -ge 1500 ] || fail "readyToUse ${ready_after_ms} ms after the cut, want >= 1500"
ok "readyToUse waited for ready-delay-ms (${ready_after_ms} ms >= 1500)"
expect_eq "VS restoreSize / content snapshotHandle, readyToUse, restoreSize" \
    "16Mi/$content true 16777216" \
    "$(jp volumesnapshot s1 '{.status.restoreSize}')/$(k get volumesnapshotcontent "$content" -o jsonpath='{.status.snapshotHandle} {.status.readyToUse} {.status.restoreSize}')"
sed -n "s/^.* cut .*content=$content /# driver: /p" "$SNAPSTAGE_CLUSTER_DIR/logs/sim-storage.log" 2>/dev/null || true
expect_eq "snapshot data holds the file as of the cut" before "$(cat "$STATE/snapshots/$content/marker")"
expect_eq "volume holds the later change" after "$(cat "$vol/marker")"

# --- restore -----------------------------------------------------------------------

claim restored 16Mi s1
claim small 8Mi s1
wait_for 60 "claim restored (dataSource s1) is Bound" bound restored
rpv=$(jp pvc restored '{.spec.volumeName}')
expect_eq "restored volume holds the snapshot's content" before "$(cat "$STATE/volumes/$rpv/marker")"
small_refused() {
    kn get events --field-selector involvedObject.name=small,reason=ProvisioningFailed \
        -o jsonpath='{.items[*].message}' | grep -q 'less than the size'
}
wait_for 30 "claim small (8Mi < restoreSize 16Mi) gets a ProvisioningFailed Warning" small_refused
expect_eq "claim small stays Pending" Pending "$(jp pvc small '{.status.phase}')"

# --- fault injection -----------------------------------------------------------------

snapshot bad 'sim.snapstage.io/fail=injected failure 42'
snapshot stuck sim.snapstage.io/hang=cut
snapshot slow sim.snapstage.io/hang=ready sim.snapstage.io/ready-delay-ms=0
snapshot late sim.snapstage.io/cut-time-offset-ms=5000
snapshot early sim.snapstage.io/cut-time-offset-ms=-2500
has_error() { [ -n "$(jp volumesnapshot bad '{.status.error.message}')" ]; }
wait_for 30 "snapshot bad gets status.error" has_error
expect_eq "bad: error message, readyToUse, creationTime" "injected failure 42|false|" \
    "$(jp volumesnapshot bad '{.status.error.message}|{.status.readyToUse}|{.status.creationTime}')"
bad_content=$(jp volumesnapshot bad '{.status.boundVolumeSnapshotContentName}')
expect_eq "bad: content error message" "injected failure 42" \
    "$(k get volumesnapshotcontent "$bad_content" -o jsonpath='{.status.error.message}')"
has_content() { [ -n "$(jp volumesnapshot "$1" '{.status.boundVolumeSnapshotContentName}')" ]; }
wait_for 30 "snapshot stuck gets its content" has_content stuck
has_cut() { [ -n "$(jp volumesnapshot "$1" '{.status.creationTime}')" ]; }
wait_for 30 "snapshot slow is cut" has_cut slow
# cut-time-offset-ms: the creationTime published (content ns, snapshot RFC
# 3339) is the real freeze instant (the driver's "cut" log line) + offset.
offset_contents=()
for c in late:5000 early:-2500; do
    name=${c%%:*}
    wait_for 30 "snapshot $name is cut" has_cut "$name"
    c_content=$(jp volumesnapshot "$name" '{.status.boundVolumeSnapshotContentName}')
    offset_contents+=("$c_content")
    c_ns=$(k get volumesnapshotcontent "$c_content" -o jsonpath='{.status.creationTime}')
    freeze_ns=$(sed -n "s/^.* cut .*content=$c_content .*creationTime=\([0-9]*\).*$/\1/p" \
        "$SNAPSTAGE_CLUSTER_DIR/logs/sim-storage.log" | tail -n 1)
    [ -n "$freeze_ns" ] || fail "$name: no cut line for $c_content in sim-storage.log"
    expect_eq "$name: content creationTime - freeze instant (ns)" "$((${c#*:} * 1000000))" \
        "$((c_ns - freeze_ns))"
    expect_eq "$name: snapshot creationTime (RFC 3339) = content's (ns)" "$c_ns" \
        "$(date -d "$(jp volumesnapshot "$name" '{.status.creationTime}')" +%s%N)"
done
sleep 4
expect_eq "stuck: creationTime|readyToUse after 4 s" "|false" \
    "$(jp volumesnapshot stuck '{.status.creationTime}|{.status.readyToUse}')"
stuck_content=$(jp volumesnapshot stuck '{.status.boundVolumeSnapshotContentName}')
expect_eq "stuck: content has no creationTime" "" \
    "$(k get volumesnapshotcontent "$stuck_content" -o jsonpath='{.status.creationTime}')"
expect_eq "slow: readyToUse after 4 s" false "$(jp volumesnapshot slow '{.status.readyToUse}')"
slow_content=$(jp volumesnapshot slow '{.status.boundVolumeSnapshotContentName}')
[ -d "$STATE/snapshots/$slow_content" ] || fail "slow: no data directory"
ok "slow: data directory exists"
pstate "$holder"
{ [ -n "$PSTATE" ] && [ "$PSTATE" != T ]; } || fail "holder is '$PSTATE', want running"
ok "holder is not stopped"

# --- restore fault injection -----------------------------------------------------------

kn annotate volumesnapshot s1 sim.snapstage.io/restore-fault=pending >/dev/null ||
    fail "annotating s1 with restore-fault=pending"
claim faulty 16Mi s1
fuid=$(jp pvc faulty '{.metadata.uid}')
fault_seen() {
    kn get events --field-selector involvedObject.name=faulty,reason=ProvisioningFailed \
        -o jsonpath='{.items[*].message}' | grep -q 'restore fault injected'
}
wait_for 30 "claim faulty (from s1, restore-fault=pending) gets a ProvisioningFailed Warning" fault_seen
sleep 6 # longer than one resync (5 s): the retry does not provision it either
expect_eq "faulty after a resync: phase|volumeName" "Pending|" "$(jp pvc faulty '{.status.phase}|{.spec.volumeName}')"
! k get pv "pvc-$fuid" >/dev/null 2>&1 || fail "a PV was made for the faulty claim"
[ ! -e "$STATE/volumes/pvc-$fuid" ] || fail "a volume directory was made for the faulty claim"
ok "faulty: no PV, no volume directory"
kn annotate volumesnapshot s1 sim.snapstage.io/restore-fault- >/dev/null ||
    fail "removing restore-fault from s1"
t0=$(date +%s%N)
wait_for 30 "faulty is Bound once the annotation is removed" bound faulty
echo "# faulty Bound $((($(date +%s%N) - t0) / 1000000)) ms after the annotation was removed"
fpv=$(jp pvc faulty '{.spec.volumeName}')
expect_eq "faulty holds s1's content" before "$(cat "$STATE/volumes/$fpv/marker")"

# --- corrupt-on-restore: a damaged copy, the snapshot untouched ---------------------------

corrupt() { # value: sets s1's corrupt-on-restore annotation
    kn annotate --overwrite volumesnapshot s1 "sim.snapstage.io/corrupt-on-restore=$1" >/dev/null ||
        fail "annotating s1 with corrupt-on-restore=$1"
}
slog=$SNAPSTAGE_CLUSTER_DIR/logs/sim-storage.log
# Only bad items: each is logged and skipped, the copy is intact.
corrupt 'bogus:marker;flip:../../etc/passwd;truncate:/marker;flip:nosuch;truncate=x:marker'
claim badann 16Mi s1
wait_for 60 "claim badann (s1 with only bad corrupt-on-restore items) is Bound" bound badann
expect_eq "badann holds s1's content unchanged" before "$(cat "$STATE/volumes/$(jp pvc badann '{.spec.volumeName}')/marker")"
expect_eq "bad-annotation lines for badann in the driver log" 5 \
    "$(grep -c " bad-annotation pvc/$ns/badann key=sim.snapstage.io/corrupt-on-restore " "$slog")"
! grep -q " restore-corrupt pvc/$ns/badann " "$slog" || fail "a restore-corrupt line for badann"
ok "no restore-corrupt line for badann"
# truncate: the copy is cut, a bad item beside it is skipped.
corrupt 'truncate=3:marker;flip:nosuch'
claim damaged 16Mi s1
wait_for 60 "claim damaged (truncate=3:marker) is Bound" bound damaged
dpv=$(jp pvc damaged '{.spec.volumeName}')
expect_eq "damaged: marker truncated to 3 bytes" bef "$(cat "$STATE/volumes/$dpv/marker")"
grep -q " restore-corrupt pvc/$ns/damaged snapshot=s1 content=$content applied=\[\"truncate:marker 7->3\"\]" "$slog" ||
    fail "no restore-corrupt line for damaged: $(grep "pvc/$ns/damaged" "$slog" | tail -n 3)"
ok "the driver log has one restore-corrupt line for damaged"
# flip: every byte of the 7-byte file inverted.
corrupt 'flip:marker'
claim flipped 16Mi s1
wait_for 60 "claim flipped (flip:marker) is Bound" bound flipped
expect_eq "flipped: marker inverted (XOR 0xff gives s1's content back)" "$(printf 'before\n' | od -An -tx1)" \
    "$(python3 -c 'import sys; sys.stdout.buffer.write(bytes(b ^ 0xff for b in open(sys.argv[1], "rb").read()))' \
        "$STATE/volumes/$(jp pvc flipped '{.spec.volumeName}')/marker" | od -An -tx1)"
expect_eq "s1's data is untouched" before "$(cat "$STATE/snapshots/$content/marker")"
expect_eq "the claim restored before the annotation is untouched" before "$(cat "$STATE/volumes/$rpv/marker")"
kn annotate volumesnapshot s1 sim.snapstage.io/corrupt-on-restore- >/dev/null

# --- a Released PV attached again through a pre-bound claim ------------------------------

claim keep 16Mi
wait_for 60 "claim keep is Bound" bound keep
kpv=$(jp pvc keep '{.spec.volumeName}')
kdir=$STATE/volumes/$kpv
echo kept >"$kdir/file"
k patch pv "$kpv" -p '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}' >/dev/null ||
    fail "setting $kpv to Retain"
kn delete pvc keep --wait=true --timeout=60s >/dev/null || fail "deleting claim keep"
pv_phase_is() { [ "$(k get pv "$1" -o jsonpath='{.status.phase}')" = "$2" ]; }
wait_for 60 "PV $kpv (Retain) is Released" pv_phase_is "$kpv" Released
sleep 6 # a resync: the driver deletes only Released PVs of policy Delete
{ [ -d "$kdir" ] && pv_phase_is "$kpv" Released; } || fail "the Retained PV $kpv or its directory went"
ok "the Retained PV and its directory are kept after a resync"
kclass=$(k get pv "$kpv" -o jsonpath='{.spec.storageClassName}')
k patch pv "$kpv" --type merge -p "{\"spec\":{\"claimRef\":{\"uid\":null,\"resourceVersion\":null,\"name\":\"reattached\",\"namespace\":\"$ns\"}}}" >/dev/null ||
    fail "patching the claimRef of $kpv"
t0=$(date +%s%N)
kn create -f - >/dev/null <<YAML || fail "creating claim reattached"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: reattached}
spec:
  storageClassName: $kclass
  volumeName: $kpv
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 16Mi}}
YAML
wait_for 60 "claim reattached (spec.volumeName $kpv) is Bound" bound reattached
bind_ms=$((($(date +%s%N) - t0) / 1000000))
echo "# reattached Bound ${bind_ms} ms after it was created (claimRef patched just before)"
ruid=$(jp pvc reattached '{.metadata.uid}')
expect_eq "reattached: volumeName, PV claimRef, PV phase" "$kpv $ns/reattached $ruid Bound" \
    "$(jp pvc reattached '{.spec.volumeName}') $(k get pv "$kpv" -o jsonpath='{.spec.claimRef.namespace}/{.spec.claimRef.name} {.spec.claimRef.uid} {.status.phase}')"
! k get pv "pvc-$ruid" >/dev/null 2>&1 || fail "the driver made a PV for the pre-bound claim"
ok "the driver made no PV for the pre-bound claim"
expect_eq "the re-attached volume holds the file written before" kept "$(cat "$kdir/file")"

# --- deletion ----------------------------------------------------------------------------

contents=("$content" "$bad_content" "$stuck_content" "$slow_content" "${offset_contents[@]}")
kn delete volumesnapshots --all --wait=true --timeout=60s >/dev/null ||
    fail "deleting the snapshots"
ok "snapshots deleted (finalizer removed)"
for c in "${contents[@]}"; do
    gone() { ! k get volumesnapshotcontent "$1" >/dev/null 2>&1 && [ ! -e "$STATE/snapshots/$1" ]; }
    wait_for 30 "content $c and its data directory are gone" gone "$c"
done
rm -f "$STATE/holders/$pv"
kn delete pvc --all --wait=true --timeout=60s >/dev/null || fail "deleting the claims"
ok "claims deleted"
wait_for 60 "the Retained PV $kpv is Released again" pv_phase_is "$kpv" Released
sleep 6
{ [ -d "$kdir" ] && pv_phase_is "$kpv" Released; } || fail "the Retained PV $kpv or its directory went"
ok "the Retained PV $kpv and its directory are kept"
k patch pv "$kpv" -p '{"spec":{"persistentVolumeReclaimPolicy":"Delete"}}' >/dev/null ||
    fail "putting $kpv back to Delete"
for p in "$pv" "$rpv" "$fpv" "$kpv"; do
    pv_gone() { ! k get pv "$1" >/dev/null 2>&1 && [ ! -e "$STATE/volumes/$1" ]; }
    wait_for 60 "PV $p and its directory are gone" pv_gone "$p"
done
