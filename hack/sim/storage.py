#!/usr/bin/python3
"""Storage driver simulator for hack/cluster.sh: provisioner, CSI driver and
external-snapshotter for the driver/provisioner name ``sim.snapstage.io``.

It sees the cluster only through the API server (list + watch of six kinds,
writes through the REST API, the admin kubeconfig) and keeps its data in a
state directory shared with the node agent (hack/sim/node.py), laid out as
hack/sim/README.md says:

    STATE/volumes/<pv-name>/        one directory per PersistentVolume we made
    STATE/snapshots/<content-name>/ the data of one VolumeSnapshotContent
    STATE/holders/<pv-name>         pid(s) of the process(es) using a volume,
                                    written by the node agent (read only here)

Usage:
    /usr/bin/python3 hack/sim/storage.py --kubeconfig FILE --state DIR
        [--resync SECONDS] [--workers N]

Run it with Debian's /usr/bin/python3 (python3-kubernetes). It logs one line
per action to stdout ("<UTC time> <action> <object> key=value ..."), and
exits cleanly on SIGTERM or SIGINT (see "Shutdown").

Start-up
--------
* Makes sure StorageClass ``snapstage-sim`` (default class, provisioner
  sim.snapstage.io, reclaimPolicy Delete, volumeBindingMode Immediate) and
  VolumeSnapshotClass ``snapstage-sim`` (default class, driver
  sim.snapstage.io, deletionPolicy Delete, parameters cutLatencyMs "0",
  readyDelayMs "500") exist: creates whichever is missing, never changes an
  existing one (edit them to change the defaults for the whole cluster).
* Undoes what an earlier run killed with SIGKILL may have left: SIGCONTs every
  pid recorded in a freeze record (``STATE/snapshots/.freeze-<content>``,
  written before a SIGSTOP and removed after the SIGCONT), removes half-done
  copies (``STATE/snapshots/*.partial``, ``STATE/volumes/*.restoring``).
* Then lists and watches PersistentVolumeClaims, PersistentVolumes,
  StorageClasses, VolumeSnapshots, VolumeSnapshotContents and
  VolumeSnapshotClasses. A watch that ends is resumed from the last
  resourceVersion seen (bookmarks included); a 410 Gone (HTTP status or ERROR
  event) or any other error relists. Every object is reconciled from its
  current state, idempotently, with deterministic names, so the driver can
  be (re)started on a cluster at any point and picks up where things are.
  Every ``--resync`` seconds (default 5) all objects are reconciled again,
  which is also how waits and retries happen.

Provisioning (PersistentVolumeClaim)
------------------------------------
A claim is ours when its StorageClass (``spec.storageClassName``; when unset,
the class annotated storageclass.kubernetes.io/is-default-class "true") has
provisioner sim.snapstage.io. An ``""`` class means "no class": not ours.
For a claim of ours that is Pending with no ``spec.volumeName`` (and not
being deleted), and no PV ``pvc-<claim uid>`` yet:

* plain claim: create ``STATE/volumes/pvc-<uid>/`` (mode 0755);
* claim with ``dataSource`` or ``dataSourceRef`` of kind VolumeSnapshot,
  apiGroup snapshot.storage.k8s.io (same namespace): wait (Warning Event
  ``WaitingForSnapshot``, retried, at most one per 15 s and message) until the
  snapshot exists, is readyToUse and names its content; if the claim asks for
  less than the snapshot's restoreSize, refuse (Warning ``ProvisioningFailed``,
  the claim stays Pending; retried); else copy ``STATE/snapshots/<content>/``
  to ``STATE/volumes/pvc-<uid>.restoring`` (``cp -a --reflink=auto``: owners,
  modes and times kept) and rename it to ``STATE/volumes/pvc-<uid>``;
  any other dataSource kind: Warning ``ProvisioningFailed`` (unsupported);
  a snapshot annotated ``sim.snapstage.io/restore-fault: "pending"`` (see
  "Fault injection") is not restored from at all;
* then create PV ``pvc-<uid>``: capacity = the claim's storage request, the
  claim's accessModes and volumeMode, ``hostPath: {path: STATE/volumes/
  pvc-<uid>, type: Directory}``, reclaim policy and storageClassName from the
  class, claimRef {kind, apiVersion, namespace, name, uid}, annotations
  pv.kubernetes.io/provisioned-by: sim.snapstage.io. kube-controller-manager's
  PV binder (``up --with-mariadb``) then binds claim and volume.
Normal Events ``Provisioning`` and ``ProvisioningSucceeded`` go on the claim,
as the external-provisioner posts them.

A claim with ``spec.volumeName`` set (pre-bound to an existing PV) is never
touched: no PV is made for it, whatever its class or dataSource; binding it
is kube-controller-manager's. That is how a Released PV (reclaim policy
Retain) is attached again: merge-patch its ``spec.claimRef`` to {namespace,
name} of the new claim with ``uid`` and ``resourceVersion`` null (a claimRef
with the old claim's uid stays Released), then create that claim with
``spec.volumeName`` = the PV and the PV's storageClassName; the binder binds
the two and the directory (the data) is the same. That takes from 0.1 s
to about 15 s (the binder's resync period) on this cluster.

Deletion (PersistentVolume)
---------------------------
A PV with our provisioned-by annotation that is Released with reclaim policy
Delete: remove its directory (only if it is ``STATE/volumes/<pv-name>``),
then delete the PV. Retain leaves both alone.

Snapshots (VolumeSnapshot)
--------------------------
A VolumeSnapshot is ours when its class (``spec.volumeSnapshotClassName``; when
unset, the VolumeSnapshotClass of driver sim.snapstage.io annotated
snapshot.storage.kubernetes.io/is-default-class "true", used unless the
source claim's volume or class belongs to another driver) has driver
sim.snapstage.io. Only ``source.persistentVolumeClaimName`` is handled (no
pre-provisioned contents). For one of ours:

1. add the finalizer ``sim.snapstage.io/snapshot``;
2. wait until the claim is Bound (Warning Event ``SnapshotPending``); its PV
   must be a volume of ours (hostPath ``STATE/volumes/<pv>``), else
   status.error;
3. create VolumeSnapshotContent ``snapcontent-<snapshot uid>`` (driver,
   deletionPolicy and volumeSnapshotClassName from the class,
   source.volumeHandle = the PV name, sourceVolumeMode, volumeSnapshotRef
   {kind, apiVersion, name, namespace, uid}; annotation
   ``sim.snapstage.io/restore-size`` = the PV's capacity, kept for the
   restoreSize), set its status {readyToUse: false} and the snapshot's
   status {boundVolumeSnapshotContentName, readyToUse: false};
4. the cut, as a storage array does it, in a thread of its own (snapshots
   are cut concurrently): wait cutLatencyMs (the class parameter, or the
   snapshot annotation ``sim.snapstage.io/cut-latency-ms``), then freeze:
   read the pid(s) in ``STATE/holders/<pv>`` (absent file = nobody uses the
   volume; dead or zombie pids are ignored), write the freeze record, SIGSTOP
   them and wait until every thread of each is stopped (at most 2 s), take
   the time (the snapshot's creationTime), copy ``STATE/volumes/<pv>/`` to
   ``STATE/snapshots/<content>.partial`` (``cp -a --reflink=auto``), and in a
   ``finally`` SIGCONT them and remove the record (a holder is never left
   stopped: not on a failed copy, not on SIGTERM; after a SIGKILL of the
   driver the next start resumes them). A process that holds several
   volumes cut at once (data and binlog volumes of one mariadbd) stays
   stopped until the last of those cuts has copied its volume. Rename
   ``.partial`` to ``STATE/snapshots/<content>``, then write at once the
   content status {creationTime: int64 ns, snapshotHandle: content name,
   readyToUse: false} and the snapshot status {creationTime: RFC 3339 with
   nanoseconds, readyToUse: false}; creationTime is the freeze instant
   (moved by the ``cut-time-offset-ms`` fault, see "Fault injection"),
   written right after the copy succeeded (so it is never published for a
   cut that then failed). The log line gives the freeze and copy durations
   in ms;
5. readyDelayMs after the cut (class parameter, or the annotation
   ``sim.snapstage.io/ready-delay-ms``): readyToUse true and restoreSize (the
   snapshot: the PV capacity quantity string; the content: int64 bytes).
A failed copy sets status.error {time, message} on both (readyToUse false)
and is retried after 5 s; a later success clears the error.

Restarts never cut a snapshot twice: a content with creationTime is not cut
again (only its readyToUse is finished, readyDelayMs after creationTime); a
content without creationTime and without a fault annotation is cut now. A
snapshot that names its content in status while that content is gone gets
status.error (the content is not made again).

Fault injection (annotations on the VolumeSnapshot, read before the cut):
* ``sim.snapstage.io/fail: "<message>"``: no cut; status.error {time,
  message} on the snapshot and its content, readyToUse false;
* ``sim.snapstage.io/hang: "cut"``: the content is made but never cut (no
  creationTime, ever, while the annotation stays);
* ``sim.snapstage.io/hang: "ready"``: cut (creationTime set) but never
  readyToUse;
* ``sim.snapstage.io/cut-time-offset-ms: "<ms>"`` (an integer or decimal,
  may be negative): a storage that reports a wrong cut time. The cut
  happens as usual (holders frozen, copied, thawed, at the usual moment),
  but the creationTime written to the content (int64 ns) and the snapshot
  (RFC 3339, ns) is the real freeze instant + the offset; the log line
  ``cut`` keeps the real instant, a line ``cut-time-offset`` gives both.
  readyToUse still follows the real cut by readyDelayMs (after a restart of
  the driver: the reported time). A value that is not a finite number is
  logged (``bad-annotation``) and ignored. So "5000" makes a cut taken
  inside a backup lock look as if it came 5 s later, after the release.
A fail or hang=cut annotation added after the cut changes nothing, nor
does cut-time-offset-ms added after the freeze; hang=ready added
before readyToUse is set keeps it unset.

Fault injection on restores (annotation on the VolumeSnapshot a claim's
dataSource names, read each time the claim is reconciled):
* ``sim.snapstage.io/restore-fault: "pending"``: a claim restored from that
  snapshot is never provisioned: it stays Pending with a Warning Event
  ``ProvisioningFailed`` ("restore fault injected: ...", at most one per
  15 s); retried each resync. Removing the annotation lets it proceed at
  once (the snapshot's change requeues its claims). Claims already
  provisioned are not affected.
* ``sim.snapstage.io/corrupt-on-restore: "<mode>[=<n>]:<path>[;...]"``: a
  damaged restore, for restore verification. Right after the copy into
  ``pvc-<uid>.restoring`` and before it becomes the volume (so before any
  PV or Bound claim), each item damages one file of that COPY, <path>
  relative to the volume's root (e.g. ``db/t.ibd``; no leading ``/``, no
  ``.``/``..`` parts, no symlink on the way, a regular file). The
  snapshot's data and live volumes are never touched. Modes:
  ``flip`` inverts (XOR 0xff) 512 bytes: for ``*.ibd`` in the middle of the
  middle B-tree page (FIL_PAGE_INDEX) past pages 0-3, since most of an
  .ibd is free all-zero pages that nothing reads; for other files around
  the middle of the file; ``flip=<offset>`` at that byte offset.
  ``truncate`` cuts the file to half its size, ``truncate=<size>`` to that
  size (not larger). Against MariaDB 10.11 (measured): flip of t.ibd, t.MYD,
  t.MYI or t.MAD, truncate of t.MYD or t.MAD make CHECK TABLE t answer
  Msg_type ``error``, Msg_text ``Corrupt`` (the server keeps running);
  ``truncate=1024:ib_logfile0`` or ``truncate:ibdata1`` make mariadbd
  refuse to start (``[ERROR] Aborting``, exit code 1). Applied items are
  logged in one line ``restore-corrupt`` (``applied=[...]``); an item that
  is malformed, of an unknown mode, outside the volume or naming a missing
  file is logged (``bad-annotation``) and skipped, the others applied.
  Read once, when the claim is restored; claims already provisioned are
  not affected.

Snapshot deletion
-----------------
A VolumeSnapshot being deleted (deletionTimestamp) that carries our
finalizer: an in-flight cut is abandoned (its holders resumed); if the
content's deletionPolicy is Delete, the content and ``STATE/snapshots/
<content>`` are deleted; then the finalizer is removed. A content deleted
directly: its data directory is removed. Data directories of contents that
no longer exist (and are older than 30 s) are removed on resync.

Events
------
Normal: Provisioning, ProvisioningSucceeded, CreatingSnapshot,
SnapshotCreated, SnapshotReady. Warning: WaitingForSnapshot,
ProvisioningFailed, SnapshotPending, SnapshotCreationFailed.

Shutdown
--------
SIGTERM/SIGINT stop the watches and workers; in-flight cuts are abandoned
(the copy is killed, the ``.partial`` removed, the holders SIGCONTed in the
``finally``) and their threads joined (at most 8 s) before exiting 0.

Limits: holders pids are trusted as given (a stale file whose pid was reused
would briefly stop an unrelated process); one default class per driver is
assumed; VolumeSnapshots with source.volumeSnapshotContentName are ignored.
"""

import argparse
import datetime
import heapq
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.utils.quantity import parse_quantity

DRIVER = "sim.snapstage.io"
CLASS_NAME = "snapstage-sim"
FINALIZER = "sim.snapstage.io/snapshot"
ANN_FAIL = "sim.snapstage.io/fail"
ANN_HANG = "sim.snapstage.io/hang"
ANN_CUT_LATENCY = "sim.snapstage.io/cut-latency-ms"
ANN_READY_DELAY = "sim.snapstage.io/ready-delay-ms"
ANN_CUT_TIME_OFFSET = "sim.snapstage.io/cut-time-offset-ms"
ANN_RESTORE_SIZE = "sim.snapstage.io/restore-size"
ANN_RESTORE_FAULT = "sim.snapstage.io/restore-fault"
ANN_CORRUPT = "sim.snapstage.io/corrupt-on-restore"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
ANN_SC_DEFAULT = "storageclass.kubernetes.io/is-default-class"
ANN_SC_DEFAULT_BETA = "storageclass.beta.kubernetes.io/is-default-class"
ANN_VSC_DEFAULT = "snapshot.storage.kubernetes.io/is-default-class"
SNAP_GROUP = "snapshot.storage.k8s.io"
SNAP_API = SNAP_GROUP + "/v1"

COPY_RETRY_S = 5.0      # after a failed copy
STOP_WAIT_S = 2.0       # longest wait for SIGSTOPped threads to stop
EVENT_EVERY_S = 15.0    # the same Warning at most this often per object
ORPHAN_AGE_S = 30.0     # data dirs of missing contents older than this go
SHUTDOWN_JOIN_S = 8.0   # cluster.sh sends SIGKILL after 10 s
FLIP_SPAN = 512         # bytes inverted by corrupt-on-restore "flip": longer
                        # than a MyISAM/Aria row, so a record header is hit
INNODB_PAGE = 16384     # innodb_page_size of every sim server (the default)
FIL_PAGE_INDEX = 17855  # FIL_PAGE_TYPE (offset 24) of a B-tree page

STOP = threading.Event()  # set on SIGTERM/SIGINT

# Holders stopped by cuts in progress: pid -> how many cuts hold it stopped.
# One process may hold several volumes (a mariadbd with its data and binlog
# volumes) cut at the same time: it is resumed when the last of them ends.
_frozen = {}
_frozen_lock = threading.Lock()
_log_lock = threading.Lock()


# ---- small helpers ---------------------------------------------------------

def log(action, obj, **kv):
    """One line per action: UTC time, action, object, key=value pairs."""
    now = datetime.datetime.now(datetime.timezone.utc)
    parts = [now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", action, obj]
    parts += ["%s=%s" % (k, v) for k, v in kv.items()]
    with _log_lock:
        sys.stdout.write(" ".join(parts) + "\n")
        sys.stdout.flush()


def rfc3339(ns=None, nano=False):
    """RFC 3339 UTC time; with nano, 9 fractional digits (the CRDs' format
    date-time accepts fractions, and the content's creationTime is in ns)."""
    if ns is None:
        ns = time.time_ns()
    sec, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return "%s.%09dZ" % (base, frac) if nano else base + "Z"


def meta(obj):
    return obj.get("metadata") or {}


def annotations(obj):
    return meta(obj).get("annotations") or {}


def quantity_bytes(q):
    """A resource quantity ("1Gi", "500M", 1024) as whole bytes, or None."""
    if q is None:
        return None
    try:
        return int(math.ceil(parse_quantity(q)))
    except (ValueError, TypeError, ArithmeticError):
        return None


def ms_param(obj_annotations, ann, params, key, default):
    """A millisecond knob: the snapshot annotation wins over the class
    parameter; bad values fall back to the default."""
    for raw in (obj_annotations.get(ann), (params or {}).get(key)):
        if raw is None:
            continue
        try:
            v = float(raw)
            if v >= 0 and math.isfinite(v):
                return v
        except ValueError:
            pass
    return default


def cut_time_offset_ns(obj_annotations):
    """The late-cut fault: the annotation's milliseconds (an integer or a
    decimal, may be negative) as whole nanoseconds; (0, None) when absent,
    (0, raw) when not a finite number (the fault is then off)."""
    raw = obj_annotations.get(ANN_CUT_TIME_OFFSET)
    if raw is None:
        return 0, None
    try:
        v = float(str(raw).strip())
    except ValueError:
        return 0, raw
    if not math.isfinite(v) or abs(v) > 1e12:
        return 0, raw
    return int(round(v * 1_000_000)), None


def sleep_or_cancel(seconds, cancel):
    """Sleeps; returns False if cancel (or STOP) was set meanwhile."""
    end = time.monotonic() + seconds
    while True:
        if cancel.is_set() or STOP.is_set():
            return False
        left = end - time.monotonic()
        if left <= 0:
            return True
        cancel.wait(min(left, 0.1))


def proc_state(pid, tid=None):
    """The state letter of a process (or one of its threads), or None."""
    path = "/proc/%d/task/%d/stat" % (pid, tid) if tid else "/proc/%d/stat" % pid
    try:
        with open(path) as f:
            data = f.read()
    except OSError:
        return None
    # comm may hold spaces and parentheses: the state follows the last ')'.
    rest = data[data.rfind(")") + 2:]
    return rest[:1] or None


def pid_alive(pid):
    if pid <= 1 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return proc_state(pid) not in (None, "Z", "X")


def all_threads_stopped(pid):
    try:
        tids = [int(t) for t in os.listdir("/proc/%d/task" % pid)]
    except OSError:
        return True  # gone
    return all(proc_state(pid, t) in (None, "T", "t", "Z", "X") for t in tids)


def freeze(pid):
    """SIGSTOPs pid (raises OSError if it is gone) for one more cut."""
    with _frozen_lock:
        os.kill(pid, signal.SIGSTOP)
        _frozen[pid] = _frozen.get(pid, 0) + 1


def thaw(pid):
    """Ends one cut's hold on pid; SIGCONTs it when no other cut holds it."""
    with _frozen_lock:
        n = _frozen.pop(pid, 1) - 1
        if n > 0:
            _frozen[pid] = n
            return
        try:
            os.kill(pid, signal.SIGCONT)
        except OSError:
            pass


def rmtree(path):
    if os.path.lexists(path):
        shutil.rmtree(path, ignore_errors=True)
        return True
    return False


# ---- corrupt-on-restore ----------------------------------------------------

def parse_corruptions(raw):
    """The corrupt-on-restore annotation, "<mode>[=<n>]:<path>[;...]", as
    ([(mode, n or None, path)], [(item, why)]): the faults to apply and the
    items refused. Modes: flip (n: byte offset), truncate (n: new size).
    A path is relative to the volume's root, without "." or ".." parts."""
    faults, bad = [], []
    for item in str(raw).split(";"):
        item = item.strip()
        if not item:
            continue
        spec, sep, path = item.partition(":")
        mode, eq, num = spec.strip().partition("=")
        n = None
        if not sep:
            bad.append((item, "not <mode>:<path>"))
            continue
        if mode not in ("flip", "truncate"):
            bad.append((item, "unknown mode %s (flip, truncate)" % json.dumps(mode)))
            continue
        if eq:
            if not re.fullmatch(r"[0-9]{1,15}", num.strip()):
                bad.append((item, "%s=<n> needs a byte count" % mode))
                continue
            n = int(num)
        parts = path.split("/")
        if (not path or path.startswith("/") or "\0" in path or
                any(x in ("", ".", "..") for x in parts)):
            bad.append((item, "path must be relative, inside the volume, without . or .."))
            continue
        faults.append((mode, n, path))
    return faults, bad


def innodb_middle_page(f, size):
    """Offset of the middle B-tree page of an .ibd file past its header pages
    (0-3), or None. The middle of the file is no good: a table's file is
    mostly free, all-zero pages, which pass the checksum and no CHECK reads."""
    if size % INNODB_PAGE:
        return None
    pages = []
    for no in range(4, size // INNODB_PAGE):
        f.seek(no * INNODB_PAGE + 24)
        if f.read(2) == FIL_PAGE_INDEX.to_bytes(2, "big"):
            pages.append(no)
    return pages[len(pages) // 2] * INNODB_PAGE if pages else None


def corrupt_file(root, mode, n, rel):
    """Damages ROOT/REL (a regular file, no symlink on the way) in place;
    returns what was done. Raises ValueError (refused) or OSError."""
    base = os.path.realpath(root)
    full = os.path.join(base, rel)
    if os.path.realpath(full) != os.path.normpath(full):
        raise ValueError("a symlink on the way")
    fd = os.open(full, os.O_RDWR | os.O_NOFOLLOW)
    with os.fdopen(fd, "r+b") as f:
        st = os.fstat(f.fileno())
        if not (st.st_mode & 0o170000 == 0o100000):
            raise ValueError("not a regular file")
        size = st.st_size
        if mode == "truncate":
            to = size // 2 if n is None else n
            if to > size:
                raise ValueError("size %d > the file's %d" % (to, size))
            f.truncate(to)
            return "truncate:%s %d->%d" % (rel, size, to)
        if size == 0:
            raise ValueError("empty file")
        off = n
        if off is None and rel.endswith(".ibd"):
            page = innodb_middle_page(f, size)
            off = page + INNODB_PAGE // 2 if page is not None else None
        if off is None:
            off = max(0, size // 2 - FLIP_SPAN // 2)
        if off >= size:
            raise ValueError("offset %d >= the file's size %d" % (off, size))
        f.seek(off)
        old = f.read(FLIP_SPAN)
        f.seek(off)
        f.write(bytes(b ^ 0xFF for b in old))
        return "flip:%s@%d+%d" % (rel, off, len(old))


def corrupt_restored(root, raw):
    """Applies the corrupt-on-restore annotation RAW to the restored copy at
    ROOT; returns (done, bad): what was done (strings) and the items refused
    as (item, why). Never raises."""
    done = []
    try:
        faults, bad = parse_corruptions(raw)
    except Exception as e:  # belt and braces: the sim must not die of it
        return [], [(str(raw), str(e))]
    for mode, n, rel in faults:
        item = "%s%s:%s" % (mode, "" if n is None else "=%d" % n, rel)
        try:
            done.append(corrupt_file(root, mode, n, rel))
        except FileNotFoundError:
            bad.append((item, "no such file in the snapshot"))
        except (OSError, ValueError) as e:
            bad.append((item, str(e)))
    return done, bad

# ---- the API ---------------------------------------------------------------

class Api:
    """Thin JSON REST calls on the kubernetes client's ApiClient (auth, TLS,
    pooling), returning dicts; errors raise ApiException."""

    def __init__(self, kubeconfig):
        cfg = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        cfg.connection_pool_maxsize = 64
        self.client = client.ApiClient(cfg)

    def call(self, method, path, body=None, query=None, content_type=None,
             timeout=30, stream=False):
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        resp = self.client.call_api(
            path, method, query_params=list((query or {}).items()),
            header_params=headers, body=body, auth_settings=["BearerToken"],
            _preload_content=False, _return_http_data_only=True,
            _request_timeout=timeout)
        if stream:
            return resp
        data = resp.data
        return json.loads(data) if data else {}

    def get(self, path):
        """The object, or None on 404."""
        try:
            return self.call("GET", path)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def create(self, path, body):
        """Creates; returns the object, or None if it already exists."""
        try:
            return self.call("POST", path, body)
        except ApiException as e:
            if e.status == 409:
                return None
            raise

    def merge_patch(self, path, body):
        return self.call("PATCH", path, body,
                         content_type="application/merge-patch+json")

    def delete(self, path):
        """Deletes; False if it was already gone."""
        try:
            self.call("DELETE", path)
            return True
        except ApiException as e:
            if e.status == 404:
                return False
            raise


def pvc_path(ns, name=""):
    return "/api/v1/namespaces/%s/persistentvolumeclaims/%s" % (ns, name)


def pv_path(name=""):
    return "/api/v1/persistentvolumes/" + name


def vs_path(ns, name=""):
    return "/apis/%s/namespaces/%s/volumesnapshots/%s" % (SNAP_API, ns, name)


def vsc_path(name=""):
    return "/apis/%s/volumesnapshotcontents/%s" % (SNAP_API, name)


# ---- informers: list + watch into a store ----------------------------------

class Informer(threading.Thread):
    """Keeps STORE[kind] equal to the cluster's objects of one kind: list,
    then watch from the list's resourceVersion (bookmarks advance it); a
    watch that times out is resumed; 410 Gone or any error relists. Calls
    on_change(kind, type, obj) for every change (and every object after a
    relist; DELETED for objects that vanished while not watching)."""

    def __init__(self, api, kind, path, namespaced, on_change):
        super().__init__(name="informer-" + kind, daemon=True)
        self.api, self.kind, self.path = api, kind, path
        self.namespaced, self.on_change = namespaced, on_change
        self.lock = threading.Lock()
        self.items = {}
        self.synced = threading.Event()

    def key(self, obj):
        m = meta(obj)
        return (m.get("namespace"), m["name"]) if self.namespaced else m["name"]

    def get(self, key):
        with self.lock:
            return self.items.get(key)

    def list(self):
        with self.lock:
            return list(self.items.values())

    def run(self):
        while not STOP.is_set():
            try:
                rv = self.relist()
                self.watch(rv)
            except ApiException as e:
                if e.status != 410:
                    log("watch-error", self.kind, status=e.status,
                        reason=str(e.reason).replace(" ", "_"))
                    STOP.wait(2)
            except Exception as e:  # network errors, API server restarts
                log("watch-error", self.kind, error=type(e).__name__)
                STOP.wait(2)

    def relist(self):
        lst = self.api.call("GET", self.path, timeout=60)
        new = {self.key(o): o for o in lst.get("items") or []}
        with self.lock:
            old, self.items = self.items, new
        for k, o in old.items():
            if k not in new:
                self.on_change(self.kind, "DELETED", o)
        for o in new.values():
            self.on_change(self.kind, "SYNC", o)
        self.synced.set()
        return meta(lst).get("resourceVersion")

    def watch(self, rv):
        while not STOP.is_set():
            secs = 240
            resp = self.api.call(
                "GET", self.path, stream=True, timeout=(10, secs + 30),
                query={"watch": "true", "resourceVersion": rv,
                       "allowWatchBookmarks": "true", "timeoutSeconds": secs})
            try:
                for line in iter_lines(resp):
                    ev = json.loads(line)
                    typ, obj = ev.get("type"), ev.get("object") or {}
                    if typ == "ERROR":
                        if obj.get("code") == 410:
                            raise ApiException(status=410, reason="Gone")
                        raise ApiException(status=obj.get("code") or 0,
                                           reason=obj.get("message", ""))
                    rv = meta(obj).get("resourceVersion") or rv
                    if typ == "BOOKMARK":
                        continue
                    k = self.key(obj)
                    with self.lock:
                        if typ == "DELETED":
                            self.items.pop(k, None)
                        else:
                            self.items[k] = obj
                    self.on_change(self.kind, typ, obj)
                    if STOP.is_set():
                        return
            finally:
                resp.close()
                resp.release_conn()


def iter_lines(resp):
    buf = b""
    for chunk in resp.stream(amt=None, decode_content=False):
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                yield line.decode("utf-8")


# ---- work queue ------------------------------------------------------------

class WorkQueue:
    """client-go style: a key is queued at most once and never processed by
    two workers at the same time; add_after delays an add."""

    def __init__(self):
        self.cond = threading.Condition()
        self.queue, self.dirty, self.processing = [], set(), set()
        self.delayed = []  # heap of (monotonic time, seq, key)
        self.seq = 0
        threading.Thread(target=self._delayer, name="delayer", daemon=True).start()

    def add(self, key):
        with self.cond:
            if key in self.dirty:
                return
            self.dirty.add(key)
            if key not in self.processing:
                self.queue.append(key)
                self.cond.notify_all()

    def add_after(self, key, seconds):
        with self.cond:
            self.seq += 1
            heapq.heappush(self.delayed, (time.monotonic() + seconds, self.seq, key))
            self.cond.notify_all()

    def _delayer(self):
        while True:
            due = []
            with self.cond:
                now = time.monotonic()
                while self.delayed and self.delayed[0][0] <= now:
                    due.append(heapq.heappop(self.delayed)[2])
                if not due:
                    wait = self.delayed[0][0] - now if self.delayed else 1.0
                    self.cond.wait(min(wait, 1.0))
            for k in due:
                self.add(k)

    def get(self):
        with self.cond:
            while not self.queue:
                if STOP.is_set():
                    return None
                self.cond.wait(0.5)
            key = self.queue.pop(0)
            self.processing.add(key)
            self.dirty.discard(key)
            return key

    def done(self, key):
        with self.cond:
            self.processing.discard(key)
            if key in self.dirty:
                self.queue.append(key)
                self.cond.notify_all()


# ---- the driver ------------------------------------------------------------

class Job:
    """One in-flight snapshot (cut and/or ready), run in its own thread."""

    def __init__(self, content_name):
        self.content_name = content_name
        self.cancel = threading.Event()
        self.thread = None


class Driver:
    def __init__(self, api, state):
        self.api = api
        self.state = os.path.abspath(state)
        self.volumes = os.path.join(self.state, "volumes")
        self.snapshots = os.path.join(self.state, "snapshots")
        self.holders = os.path.join(self.state, "holders")
        self.queue = WorkQueue()
        self.jobs = {}  # content name -> Job
        self.jobs_lock = threading.Lock()
        self.copy_failed = {}  # content name -> monotonic time of failure
        self.events_sent = {}  # (uid, reason, message) -> monotonic time
        self.events_lock = threading.Lock()
        kinds = [
            ("pvc", "/api/v1/persistentvolumeclaims", True),
            ("pv", "/api/v1/persistentvolumes", False),
            ("sc", "/apis/storage.k8s.io/v1/storageclasses", False),
            ("vs", "/apis/%s/volumesnapshots" % SNAP_API, True),
            ("vsc", "/apis/%s/volumesnapshotcontents" % SNAP_API, False),
            ("vsclass", "/apis/%s/volumesnapshotclasses" % SNAP_API, False),
        ]
        self.inf = {k: Informer(api, k, p, ns, self.on_change) for k, p, ns in kinds}

    # -- start-up ------------------------------------------------------------

    def recover(self):
        """Undo what a SIGKILLed earlier run may have left behind."""
        os.makedirs(self.volumes, exist_ok=True)
        os.makedirs(self.snapshots, exist_ok=True)
        for name in sorted(os.listdir(self.snapshots)):
            path = os.path.join(self.snapshots, name)
            if name.startswith(".freeze-"):
                pids = read_pids(path)
                for pid in pids:
                    if pid_alive(pid):
                        try:
                            os.kill(pid, signal.SIGCONT)
                        except OSError:
                            pass
                os.unlink(path)
                log("recover-thaw", name[len(".freeze-"):], pids=fmt_pids(pids))
            elif name.endswith(".partial"):
                rmtree(path)
                log("recover-remove", path)
        for name in sorted(os.listdir(self.volumes)):
            if name.endswith(".restoring"):
                rmtree(os.path.join(self.volumes, name))
                log("recover-remove", os.path.join(self.volumes, name))

    def ensure_classes(self):
        sc = {
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": CLASS_NAME,
                         "annotations": {ANN_SC_DEFAULT: "true"}},
            "provisioner": DRIVER, "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
        vsclass = {
            "apiVersion": SNAP_API, "kind": "VolumeSnapshotClass",
            "metadata": {"name": CLASS_NAME,
                         "annotations": {ANN_VSC_DEFAULT: "true"}},
            "driver": DRIVER, "deletionPolicy": "Delete",
            "parameters": {"cutLatencyMs": "0", "readyDelayMs": "500"},
        }
        todo = [("/apis/storage.k8s.io/v1/storageclasses/", sc),
                ("/apis/%s/volumesnapshotclasses/" % SNAP_API, vsclass)]
        while todo and not STOP.is_set():
            path, body = todo[0]
            try:
                if self.api.get(path + CLASS_NAME) is None:
                    if self.api.create(path, body) is not None:
                        log("create", body["kind"] + "/" + CLASS_NAME)
                todo.pop(0)
            except Exception as e:  # CRD not established yet, API restarting
                log("retry", body["kind"] + "/" + CLASS_NAME, error=short_err(e))
                STOP.wait(1)

    # -- change routing ------------------------------------------------------

    def on_change(self, kind, typ, obj):
        m = meta(obj)
        if kind == "pvc":
            self.queue.add(("pvc", m.get("namespace"), m["name"]))
            # snapshots of this claim may be waiting for it to be bound
            for vs in self.inf["vs"].list():
                if (meta(vs).get("namespace") == m.get("namespace") and
                        ((vs.get("spec") or {}).get("source") or {}).get(
                            "persistentVolumeClaimName") == m["name"]):
                    self.queue.add(("vs", m.get("namespace"), meta(vs)["name"]))
        elif kind == "pv":
            self.queue.add(("pv", m["name"]))
        elif kind == "vs":
            self.queue.add(("vs", m.get("namespace"), m["name"]))
            # claims restoring from this snapshot may be waiting for it
            for pvc in self.inf["pvc"].list():
                ds = claim_snapshot_source(pvc)
                if meta(pvc).get("namespace") == m.get("namespace") and ds == m["name"]:
                    self.queue.add(("pvc", m.get("namespace"), meta(pvc)["name"]))
        elif kind == "vsc":
            if typ == "DELETED":
                self.queue.add(("vsc-deleted", m["name"]))
            ref = (obj.get("spec") or {}).get("volumeSnapshotRef") or {}
            if ref.get("name"):
                self.queue.add(("vs", ref.get("namespace"), ref["name"]))
        elif kind in ("sc", "vsclass"):
            self.resync()

    def resync(self):
        now = time.monotonic()
        with self.events_lock:
            for key, t in list(self.events_sent.items()):
                if now - t > 10 * EVENT_EVERY_S:
                    del self.events_sent[key]
        for pvc in self.inf["pvc"].list():
            self.queue.add(("pvc", meta(pvc).get("namespace"), meta(pvc)["name"]))
        for pv in self.inf["pv"].list():
            self.queue.add(("pv", meta(pv)["name"]))
        for vs in self.inf["vs"].list():
            self.queue.add(("vs", meta(vs).get("namespace"), meta(vs)["name"]))

    def worker(self):
        while not STOP.is_set():
            key = self.queue.get()
            if key is None:
                return
            try:
                again = getattr(self, "sync_" + key[0].replace("-", "_"))(*key[1:])
                if again:
                    self.queue.add_after(key, again)
            except ApiException as e:
                log("error", "/".join(str(k) for k in key), status=e.status,
                    reason=short_err(e))
                self.queue.add_after(key, 1.0)
            except Exception as e:
                log("error", "/".join(str(k) for k in key), error=short_err(e))
                self.queue.add_after(key, 2.0)
            finally:
                self.queue.done(key)

    def gc_orphans(self):
        """Data dirs of contents that no longer exist (deleted while the
        driver was down). Only once the content list is known."""
        if not self.inf["vsc"].synced.is_set():
            return
        try:
            names = os.listdir(self.snapshots)
        except OSError:
            return
        for name in names:
            if name.startswith("."):
                continue
            content = name[:-len(".partial")] if name.endswith(".partial") else name
            with self.jobs_lock:
                if content in self.jobs:
                    continue
            if self.inf["vsc"].get(content) is not None:
                continue
            path = os.path.join(self.snapshots, name)
            try:
                age = time.time() - os.lstat(path).st_mtime
            except OSError:
                continue
            if age > ORPHAN_AGE_S and self.api.get(vsc_path(content)) is None:
                rmtree(path)
                log("remove-orphan-data", path)

    # -- Events --------------------------------------------------------------

    def event(self, obj, api_version, kind, typ, reason, message):
        m = meta(obj)
        key = (m.get("uid"), reason, message)
        now = time.monotonic()
        with self.events_lock:
            last = self.events_sent.get(key)
            if typ == "Warning" and last is not None and now - last < EVENT_EVERY_S:
                return
            self.events_sent[key] = now
        ts = rfc3339()
        ev = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "%s.%x" % (m["name"], time.time_ns()),
                         "namespace": m.get("namespace") or "default"},
            "involvedObject": {"apiVersion": api_version, "kind": kind,
                               "name": m["name"], "namespace": m.get("namespace"),
                               "uid": m.get("uid"),
                               "resourceVersion": m.get("resourceVersion")},
            "type": typ, "reason": reason, "message": message,
            "source": {"component": DRIVER}, "reportingComponent": DRIVER,
            "firstTimestamp": ts, "lastTimestamp": ts, "count": 1,
        }
        try:
            self.api.create("/api/v1/namespaces/%s/events" % ev["metadata"]["namespace"], ev)
        except Exception as e:
            log("event-error", m["name"], error=short_err(e))
        log("event", "%s/%s/%s" % (kind, m.get("namespace") or "", m["name"]),
            type=typ, reason=reason)

    # -- classes -------------------------------------------------------------

    def storage_class(self, name):
        """The StorageClass of a claim's storageClassName (None: default)."""
        if name == "":
            return None
        if name is not None:
            return self.inf["sc"].get(name)
        for sc in self.inf["sc"].list():
            a = annotations(sc)
            if a.get(ANN_SC_DEFAULT) == "true" or a.get(ANN_SC_DEFAULT_BETA) == "true":
                if sc.get("provisioner") == DRIVER:
                    return sc
        return None

    def default_snapshot_class(self):
        for c in self.inf["vsclass"].list():
            if c.get("driver") == DRIVER and annotations(c).get(ANN_VSC_DEFAULT) == "true":
                return c
        return None

    def volume_dir(self, pv_name):
        return os.path.join(self.volumes, pv_name)

    def pv_is_ours(self, pv):
        path = ((pv.get("spec") or {}).get("hostPath") or {}).get("path")
        return path == self.volume_dir(meta(pv)["name"])

    # -- provisioning --------------------------------------------------------

    def sync_pvc(self, ns, name):
        pvc = self.inf["pvc"].get((ns, name))
        if pvc is None or meta(pvc).get("deletionTimestamp"):
            return None
        spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
        if spec.get("volumeName") or status.get("phase", "Pending") != "Pending":
            return None
        sc = self.storage_class(spec.get("storageClassName"))
        if sc is None or sc.get("provisioner") != DRIVER:
            return None
        uid = meta(pvc)["uid"]
        pv_name = "pvc-" + uid
        if self.inf["pv"].get(pv_name) is not None:
            return None  # made already; the binder binds it
        what = "pvc/%s/%s" % (ns, name)
        request = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        req_bytes = quantity_bytes(request)
        if req_bytes is None:
            self.event(pvc, "v1", "PersistentVolumeClaim", "Warning", "ProvisioningFailed",
                       "claim has no valid storage request")
            return 30.0
        ds = spec.get("dataSourceRef") or spec.get("dataSource")
        vdir = self.volume_dir(pv_name)
        started = time.monotonic()
        if ds and not os.path.isdir(vdir):
            if ds.get("kind") != "VolumeSnapshot" or ds.get("apiGroup") != SNAP_GROUP:
                self.event(pvc, "v1", "PersistentVolumeClaim", "Warning", "ProvisioningFailed",
                           "unsupported dataSource %s/%s: %s only restores VolumeSnapshots"
                           % (ds.get("apiGroup") or "", ds.get("kind"), DRIVER))
                return 30.0
            again = self.restore(pvc, ds["name"], req_bytes, vdir)
            if again:
                return again
        elif not os.path.isdir(vdir):
            self.event(pvc, "v1", "PersistentVolumeClaim", "Normal", "Provisioning",
                       "External provisioner is provisioning volume for claim \"%s/%s\""
                       % (ns, name))
            os.makedirs(vdir, exist_ok=True)
            os.chmod(vdir, 0o755)
        pv = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name,
                         "annotations": {ANN_PROVISIONED_BY: DRIVER}},
            "spec": {
                "capacity": {"storage": request},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "volumeMode": spec.get("volumeMode") or "Filesystem",
                "hostPath": {"path": vdir, "type": "Directory"},
                "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
                "storageClassName": meta(sc)["name"],
                "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                             "namespace": ns, "name": name, "uid": uid},
            },
        }
        if sc.get("mountOptions"):
            pv["spec"]["mountOptions"] = sc["mountOptions"]
        if self.api.create(pv_path(), pv) is None:
            return None  # someone (an earlier run) made it
        log("provision", what, pv=pv_name, capacity=request,
            source=("snapshot/" + ds["name"]) if ds else "empty",
            ms=int((time.monotonic() - started) * 1000))
        self.event(pvc, "v1", "PersistentVolumeClaim", "Normal", "ProvisioningSucceeded",
                   "Successfully provisioned volume %s" % pv_name)
        return None

    def restore(self, pvc, vs_name, req_bytes, vdir):
        """Fills vdir from a snapshot's data; returns a retry delay or None."""
        ns = meta(pvc).get("namespace")
        vs = self.api.get(vs_path(ns, vs_name))
        st = (vs or {}).get("status") or {}
        content = st.get("boundVolumeSnapshotContentName")
        data = os.path.join(self.snapshots, content) if content else None
        if vs is None or not st.get("readyToUse") or not data or not os.path.isdir(data):
            why = "does not exist" if vs is None else "is not readyToUse yet"
            self.event(pvc, "v1", "PersistentVolumeClaim", "Warning", "WaitingForSnapshot",
                       "waiting for VolumeSnapshot %s/%s: it %s" % (ns, vs_name, why))
            return 1.0
        if annotations(vs).get(ANN_RESTORE_FAULT) == "pending":
            # Fault injection: claims restored from this snapshot never
            # bind while the annotation stays (retried each resync; a vs
            # change, such as removing the annotation, requeues the claim).
            self.event(pvc, "v1", "PersistentVolumeClaim", "Warning", "ProvisioningFailed",
                       "restore fault injected: VolumeSnapshot %s/%s has %s: pending"
                       % (ns, vs_name, ANN_RESTORE_FAULT))
            log("restore-fault", "pvc/%s/%s" % (ns, meta(pvc)["name"]), snapshot=vs_name)
            return 5.0
        restore_bytes = quantity_bytes(st.get("restoreSize"))
        if restore_bytes is not None and req_bytes < restore_bytes:
            self.event(pvc, "v1", "PersistentVolumeClaim", "Warning", "ProvisioningFailed",
                       "requested volume size %d is less than the size %d of the "
                       "VolumeSnapshot %s/%s" % (req_bytes, restore_bytes, ns, vs_name))
            return 10.0
        self.event(pvc, "v1", "PersistentVolumeClaim", "Normal", "Provisioning",
                   "External provisioner is provisioning volume for claim \"%s/%s\" "
                   "from VolumeSnapshot %s" % (ns, meta(pvc)["name"], vs_name))
        tmp = vdir + ".restoring"
        rmtree(tmp)
        t0 = time.monotonic()
        r = subprocess.run(["cp", "-a", "--reflink=auto", "-T", data, tmp],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            rmtree(tmp)
            self.event(pvc, "v1", "PersistentVolumeClaim", "Warning", "ProvisioningFailed",
                       "copying snapshot data failed: %s" % r.stderr.strip()[:300])
            return 5.0
        what = "pvc/%s/%s" % (ns, meta(pvc)["name"])
        raw = annotations(vs).get(ANN_CORRUPT)
        if raw is not None:
            # Fault injection: damage the copy only (the snapshot's data
            # and live volumes are never touched), before it is a volume.
            done, bad = corrupt_restored(tmp, raw)
            for item, why in bad:
                log("bad-annotation", what, key=ANN_CORRUPT, item=json.dumps(item),
                    note=json.dumps(why + "; ignored"))
            if done:
                log("restore-corrupt", what, snapshot=vs_name, content=content,
                    applied=json.dumps(done))
        os.rename(tmp, vdir)
        log("restore-copy", what, snapshot=vs_name,
            content=content, ms=int((time.monotonic() - t0) * 1000))
        return None

    # -- volume deletion -----------------------------------------------------

    def sync_pv(self, name):
        pv = self.inf["pv"].get(name)
        if pv is None or annotations(pv).get(ANN_PROVISIONED_BY) != DRIVER:
            return None
        spec = pv.get("spec") or {}
        if ((pv.get("status") or {}).get("phase") != "Released" or
                spec.get("persistentVolumeReclaimPolicy") != "Delete" or
                meta(pv).get("deletionTimestamp")):
            return None
        removed = False
        if self.pv_is_ours(pv):
            removed = rmtree(self.volume_dir(name))
        self.api.delete(pv_path(name))
        log("delete-volume", "pv/" + name, dir_removed=removed)
        return None

    # -- snapshots -----------------------------------------------------------

    def snapshot_class(self, vs):
        """The VolumeSnapshotClass of ours a snapshot uses, else None; the
        second value is a retry delay when that cannot be told yet."""
        name = (vs.get("spec") or {}).get("volumeSnapshotClassName")
        if name:
            c = self.inf["vsclass"].get(name)
            return (c if c is not None and c.get("driver") == DRIVER else None), None
        c = self.default_snapshot_class()
        if c is None:
            return None, None
        src = ((vs.get("spec") or {}).get("source") or {}).get("persistentVolumeClaimName")
        if not src:
            return None, None
        pvc = self.inf["pvc"].get((meta(vs).get("namespace"), src))
        if pvc is None:
            return c, None  # ours until told otherwise: waits for the claim
        vol = (pvc.get("spec") or {}).get("volumeName")
        pv = self.inf["pv"].get(vol) if vol else None
        if pv is not None:
            return (c if self.pv_is_ours(pv) or
                    annotations(pv).get(ANN_PROVISIONED_BY) == DRIVER else None), None
        sc = self.storage_class((pvc.get("spec") or {}).get("storageClassName"))
        return (c if sc is not None and sc.get("provisioner") == DRIVER else None), None

    def vs_status(self, vs, status):
        """Merge-patches a snapshot's status; a snapshot gone meanwhile is
        no error (the watch brings its deletion)."""
        m = meta(vs)
        try:
            self.api.merge_patch(vs_path(m["namespace"], m["name"]) + "/status",
                                 {"status": status})
        except ApiException as e:
            if e.status != 404:
                raise

    def vsc_status(self, content_name, status):
        self.api.merge_patch(vsc_path(content_name) + "/status", {"status": status})

    def set_error(self, vs, content_name, message):
        err = {"time": rfc3339(), "message": message}
        if content_name:
            try:
                self.vsc_status(content_name, {"error": err, "readyToUse": False})
            except ApiException as e:
                if e.status != 404:
                    raise
        self.vs_status(vs, {"error": err, "readyToUse": False})

    def patch_finalizers(self, obj, path, finalizers):
        """Sets the finalizers of the object as cached; 409 on a stale
        object (retried from the fresher copy), an object gone is done."""
        body = {"metadata": {"finalizers": finalizers or None,
                             "resourceVersion": meta(obj)["resourceVersion"]}}
        try:
            self.api.merge_patch(path, body)
            return True
        except ApiException as e:
            if e.status != 404:
                raise
            return False

    def sync_vs(self, ns, name):
        vs = self.inf["vs"].get((ns, name))
        if vs is None:
            return None
        m = meta(vs)
        fins = m.get("finalizers") or []
        what = "vs/%s/%s" % (ns, name)
        content_name = "snapcontent-" + m["uid"]
        if m.get("deletionTimestamp"):
            if FINALIZER in fins:
                return self.delete_snapshot(vs, content_name, what)
            return None
        cls, again = self.snapshot_class(vs)
        if cls is None:
            return again
        src = ((vs.get("spec") or {}).get("source") or {}).get("persistentVolumeClaimName")
        if not src:
            return None
        if FINALIZER not in fins:
            self.patch_finalizers(vs, vs_path(ns, name), fins + [FINALIZER])
            log("add-finalizer", what)
            return None  # the update comes back through the watch
        vstatus = vs.get("status") or {}
        content = self.inf["vsc"].get(content_name) or self.api.get(vsc_path(content_name))
        if content is None:
            if vstatus.get("boundVolumeSnapshotContentName") == content_name:
                msg = "VolumeSnapshotContent %s is missing" % content_name
                if (vstatus.get("error") or {}).get("message") != msg:
                    self.set_error(vs, None, msg)
                    log("content-missing", what, content=content_name)
                return None
            content = self.create_content(vs, cls, src, content_name, what)
            if content is None:
                return 1.0
        if meta(content).get("deletionTimestamp"):
            return None
        if vstatus.get("boundVolumeSnapshotContentName") != content_name:
            self.vs_status(vs, {"boundVolumeSnapshotContentName": content_name,
                                "readyToUse": bool(vstatus.get("readyToUse"))})
        cstatus = content.get("status") or {}
        ann = annotations(vs)
        if cstatus.get("creationTime"):
            # Cut already (perhaps by an earlier run): publish what the
            # snapshot may lack, then finish readyToUse, never cut again.
            if not vstatus.get("creationTime"):
                self.vs_status(vs, {"creationTime": rfc3339(cstatus["creationTime"], nano=True),
                                    "boundVolumeSnapshotContentName": content_name,
                                    "readyToUse": bool(cstatus.get("readyToUse"))})
            if cstatus.get("readyToUse"):
                if not vstatus.get("readyToUse"):
                    self.vs_status(vs, {"readyToUse": True, "restoreSize":
                                        annotations(content).get(ANN_RESTORE_SIZE)})
                return None
            if ann.get(ANN_HANG) == "ready":
                return None
            self.start_job(vs, content, cls, ready_only=True)
            return None
        if ANN_FAIL in ann:
            msg = ann[ANN_FAIL] or "failed by annotation %s" % ANN_FAIL
            if ((cstatus.get("error") or {}).get("message") != msg or
                    (vstatus.get("error") or {}).get("message") != msg):
                self.set_error(vs, content_name, msg)
                log("fail-injected", what, content=content_name, message=json.dumps(msg))
                self.event(vs, SNAP_API, "VolumeSnapshot", "Warning",
                           "SnapshotCreationFailed", msg)
            return None
        if ann.get(ANN_HANG) == "cut":
            return None
        failed_at = self.copy_failed.get(content_name)
        if failed_at is not None and time.monotonic() - failed_at < COPY_RETRY_S:
            return COPY_RETRY_S - (time.monotonic() - failed_at) + 0.1
        self.start_job(vs, content, cls, ready_only=False)
        return None

    def create_content(self, vs, cls, pvc_name, content_name, what):
        m = meta(vs)
        pvc = self.inf["pvc"].get((m["namespace"], pvc_name))
        pv_name = ((pvc or {}).get("spec") or {}).get("volumeName")
        if pvc is None or ((pvc.get("status") or {}).get("phase") != "Bound") or not pv_name:
            self.event(vs, SNAP_API, "VolumeSnapshot", "Warning", "SnapshotPending",
                       "waiting for PersistentVolumeClaim %s/%s to be bound"
                       % (m["namespace"], pvc_name))
            return None
        pv = self.inf["pv"].get(pv_name) or self.api.get(pv_path(pv_name))
        if pv is None or not self.pv_is_ours(pv):
            msg = ("PersistentVolume %s of claim %s is not a %s volume"
                   % (pv_name, pvc_name, DRIVER))
            if ((vs.get("status") or {}).get("error") or {}).get("message") != msg:
                self.set_error(vs, None, msg)
                log("not-our-volume", what, pv=pv_name)
            return None
        body = {
            "apiVersion": SNAP_API, "kind": "VolumeSnapshotContent",
            "metadata": {"name": content_name, "annotations": {
                ANN_RESTORE_SIZE: str(((pv.get("spec") or {}).get("capacity") or {})
                                      .get("storage", "0"))}},
            "spec": {
                "driver": DRIVER,
                "deletionPolicy": cls.get("deletionPolicy") or "Delete",
                "source": {"volumeHandle": pv_name},
                "sourceVolumeMode": (pv.get("spec") or {}).get("volumeMode") or "Filesystem",
                "volumeSnapshotClassName": meta(cls)["name"],
                "volumeSnapshotRef": {"kind": "VolumeSnapshot", "apiVersion": SNAP_API,
                                      "name": m["name"], "namespace": m["namespace"],
                                      "uid": m["uid"]},
            },
        }
        created = self.api.create(vsc_path(), body)
        content = created or self.api.get(vsc_path(content_name))
        if created is not None:
            self.vsc_status(content_name, {"readyToUse": False})
            self.vs_status(vs, {"boundVolumeSnapshotContentName": content_name,
                                "readyToUse": False})
            log("create-content", what, content=content_name, pv=pv_name,
                cls=meta(cls)["name"])
            self.event(vs, SNAP_API, "VolumeSnapshot", "Normal", "CreatingSnapshot",
                       "Waiting for a snapshot %s/%s to be created by the CSI driver."
                       % (m["namespace"], m["name"]))
        return content

    def delete_snapshot(self, vs, content_name, what):
        with self.jobs_lock:
            job = self.jobs.get(content_name)
        if job is not None:
            job.cancel.set()
            return 0.2  # after the job has resumed its holders
        content = self.inf["vsc"].get(content_name) or self.api.get(vsc_path(content_name))
        policy = ((content or {}).get("spec") or {}).get("deletionPolicy")
        if content is not None and policy == "Delete":
            self.api.delete(vsc_path(content_name))
            log("delete-content", what, content=content_name)
        if content is None or policy == "Delete":
            for p in (content_name, content_name + ".partial"):
                if rmtree(os.path.join(self.snapshots, p)):
                    log("remove-data", "vsc/" + p)
        fins = [f for f in meta(vs).get("finalizers") or [] if f != FINALIZER]
        m = meta(vs)
        if self.patch_finalizers(vs, vs_path(m["namespace"], m["name"]), fins):
            log("remove-finalizer", what)
        return None

    def sync_vsc_deleted(self, name):
        if self.inf["vsc"].get(name) is not None:
            return None  # made again meanwhile
        with self.jobs_lock:
            job = self.jobs.get(name)
        if job is not None:
            job.cancel.set()
            return 0.2
        for p in (name, name + ".partial"):
            if rmtree(os.path.join(self.snapshots, p)):
                log("remove-data", "vsc/" + p)
        return None

    # -- the cut -------------------------------------------------------------

    def start_job(self, vs, content, cls, ready_only):
        name = meta(content)["name"]
        with self.jobs_lock:
            if name in self.jobs or STOP.is_set():
                return
            job = Job(name)
            self.jobs[name] = job
        m = meta(vs)
        job.thread = threading.Thread(
            target=self.run_job, name="snap-" + name, daemon=True,
            args=(job, m["namespace"], m["name"], cls, ready_only))
        job.thread.start()

    def run_job(self, job, ns, vs_name, cls, ready_only):
        what = "vs/%s/%s" % (ns, vs_name)
        try:
            self.job_body(job, ns, vs_name, cls, ready_only, what)
        except Exception as e:
            log("job-error", what, content=job.content_name, error=short_err(e))
        finally:
            with self.jobs_lock:
                self.jobs.pop(job.content_name, None)
            if not STOP.is_set():
                self.queue.add_after(("vs", ns, vs_name), 0.05)

    def current(self, job, ns, vs_name):
        """Fresh snapshot and content, or None if the job must stop."""
        vs = self.api.get(vs_path(ns, vs_name))
        content = self.api.get(vsc_path(job.content_name))
        if (vs is None or content is None or meta(vs).get("deletionTimestamp") or
                meta(content).get("deletionTimestamp") or
                "snapcontent-" + meta(vs)["uid"] != job.content_name):
            return None, None
        return vs, content

    def job_body(self, job, ns, vs_name, cls, ready_only, what):
        params = cls.get("parameters") or {}
        vs, content = self.current(job, ns, vs_name)
        if vs is None:
            return
        ann = annotations(vs)
        cstatus = content.get("status") or {}
        if not ready_only:
            latency = ms_param(ann, ANN_CUT_LATENCY, params, "cutLatencyMs", 0.0)
            if not sleep_or_cancel(latency / 1000.0, job.cancel):
                return
            vs, content = self.current(job, ns, vs_name)
            if vs is None:
                return
            ann = annotations(vs)
            cstatus = content.get("status") or {}
            if (cstatus.get("creationTime") or ANN_FAIL in ann or
                    ann.get(ANN_HANG) == "cut"):
                return  # the reconcile decides again
            pv_name = ((content.get("spec") or {}).get("source") or {}).get("volumeHandle")
            ok, result = self.cut(job, pv_name, what)
            if not ok:
                self.copy_failed[job.content_name] = time.monotonic()
                if result is not None:
                    self.set_error(vs, job.content_name, result)
                    self.event(vs, SNAP_API, "VolumeSnapshot", "Warning",
                               "SnapshotCreationFailed", result)
                return
            self.copy_failed.pop(job.content_name, None)
            created_ns = result
            # The late-cut fault: the cut above was real; only the time
            # reported for it is moved.
            offset_ns, bad = cut_time_offset_ns(ann)
            if bad is not None:
                log("bad-annotation", what, key=ANN_CUT_TIME_OFFSET, value=json.dumps(bad),
                    note="not a number of ms: no offset")
            reported_ns = created_ns + offset_ns
            if offset_ns:
                log("cut-time-offset", what, content=job.content_name,
                    freeze_ns=created_ns, offset_ms="%g" % (offset_ns / 1e6),
                    reported_creationTime=reported_ns)
            self.vsc_status(job.content_name, {
                "creationTime": reported_ns, "snapshotHandle": job.content_name,
                "readyToUse": False, "error": None})
            self.vs_status(vs, {
                "boundVolumeSnapshotContentName": job.content_name,
                "creationTime": rfc3339(reported_ns, nano=True),
                "readyToUse": False, "error": None})
            self.event(vs, SNAP_API, "VolumeSnapshot", "Normal", "SnapshotCreated",
                       "Snapshot %s/%s was successfully created by the CSI driver."
                       % (ns, vs_name))
        else:
            created_ns = cstatus.get("creationTime")
        # readyToUse, readyDelayMs after the cut
        delay = ms_param(ann, ANN_READY_DELAY, params, "readyDelayMs", 500.0) / 1000.0
        left = created_ns / 1e9 + delay - time.time()
        if not sleep_or_cancel(max(left, 0.0), job.cancel):
            return
        vs, content = self.current(job, ns, vs_name)
        if vs is None or annotations(vs).get(ANN_HANG) == "ready":
            return
        size = annotations(content).get(ANN_RESTORE_SIZE) or "0"
        self.vsc_status(job.content_name, {"readyToUse": True,
                                           "restoreSize": quantity_bytes(size) or 0})
        self.vs_status(vs, {"readyToUse": True, "restoreSize": size})
        log("ready", what, content=job.content_name, restoreSize=size,
            after_cut_ms=int((time.time_ns() - created_ns) / 1e6))
        self.event(vs, SNAP_API, "VolumeSnapshot", "Normal", "SnapshotReady",
                   "Snapshot %s/%s is ready to use." % (ns, vs_name))

    def cut(self, job, pv_name, what):
        """Freeze, copy, thaw, rename. Returns (True, creation ns) or
        (False, error message or None when abandoned)."""
        src = self.volume_dir(pv_name or "")
        if not pv_name or not os.path.isdir(src):
            return False, "volume directory %s does not exist" % src
        final = os.path.join(self.snapshots, job.content_name)
        partial = final + ".partial"
        record = os.path.join(self.snapshots, ".freeze-" + job.content_name)
        rmtree(partial)
        rmtree(final)  # an unpublished cut of an earlier run
        holders = [p for p in read_pids(os.path.join(self.holders, pv_name)) if pid_alive(p)]
        stopped = []
        err = None
        t0 = time.monotonic()
        try:
            # The record outlives a SIGKILL of this process (not a machine
            # crash, which would not leave anything stopped either).
            with open(record, "w") as f:
                f.write("".join("%d\n" % p for p in holders))
            t0 = time.monotonic()  # the freeze: first SIGSTOP to last SIGCONT
            for pid in holders:
                try:
                    freeze(pid)
                    stopped.append(pid)
                except OSError:
                    pass
            deadline = time.monotonic() + STOP_WAIT_S
            while not all(all_threads_stopped(p) for p in stopped):
                if time.monotonic() > deadline:
                    log("freeze-slow", what, pids=fmt_pids(stopped),
                        note="not all threads stopped after %.0fs" % STOP_WAIT_S)
                    break
                time.sleep(0.001)
            created_ns = time.time_ns()
            t_frozen = time.monotonic()
            proc = subprocess.Popen(["cp", "-a", "--reflink=auto", "-T", src, partial],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)
            try:
                while True:
                    try:
                        _, stderr = proc.communicate(timeout=0.05)
                        break
                    except subprocess.TimeoutExpired:
                        if job.cancel.is_set() or STOP.is_set():
                            proc.kill()
                            proc.communicate()
                            err = "abandoned"
                            break
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if err is None and proc.returncode != 0:
                err = "copy of %s failed: %s" % (src, (stderr or "").strip()[:300] or
                                                   "exit %d" % proc.returncode)
            copy_ms = (time.monotonic() - t_frozen) * 1000
        finally:
            for pid in stopped:
                thaw(pid)
            thawed = time.monotonic()
            try:
                os.unlink(record)
            except OSError:
                pass
        freeze_ms = (thawed - t0) * 1000
        if err is not None:
            rmtree(partial)
            log("cut-failed" if err != "abandoned" else "cut-abandoned", what,
                content=job.content_name, pids=fmt_pids(stopped), freeze_ms="%.1f" % freeze_ms,
                error=json.dumps(err))
            return False, (None if err == "abandoned" else err)
        os.rename(partial, final)
        log("cut", what, content=job.content_name, pv=pv_name, pids=fmt_pids(stopped),
            freeze_ms="%.1f" % freeze_ms, copy_ms="%.1f" % copy_ms,
            creationTime=created_ns)
        return True, created_ns


def fmt_pids(pids):
    return ",".join(str(p) for p in pids) or "-"


def read_pids(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return []
    return [int(w) for w in text.split() if re.fullmatch(r"[0-9]+", w)]


def claim_snapshot_source(pvc):
    spec = pvc.get("spec") or {}
    ds = spec.get("dataSourceRef") or spec.get("dataSource") or {}
    if ds.get("kind") == "VolumeSnapshot" and ds.get("apiGroup") == SNAP_GROUP:
        return ds.get("name")
    return None


def short_err(e):
    if isinstance(e, ApiException):
        body = e.body.decode() if isinstance(e.body, bytes) else (e.body or "")
        try:
            msg = json.loads(body).get("message") or e.reason
        except ValueError:
            msg = e.reason
        return json.dumps("%s: %s" % (e.status, msg))
    return json.dumps("%s: %s" % (type(e).__name__, e))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--state", required=True, help="the state directory (CLUSTER_DIR/sim)")
    ap.add_argument("--resync", type=float, default=5.0,
                    help="seconds between full reconciles (default 5)")
    ap.add_argument("--workers", type=int, default=4,
                    help="reconcile threads (cuts have threads of their own)")
    args = ap.parse_args()

    got = []

    def on_signal(signum, _frame):  # no logging here: the log lock is not reentrant
        got.append(signum)
        STOP.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    driver = Driver(Api(args.kubeconfig), args.state)
    log("start", DRIVER, state=driver.state, pid=os.getpid())
    driver.recover()
    driver.ensure_classes()
    for inf in driver.inf.values():
        inf.start()
    for i in range(max(1, args.workers)):
        threading.Thread(target=driver.worker, name="worker-%d" % i, daemon=True).start()
    next_resync = time.monotonic() + args.resync
    while not STOP.wait(0.2):
        if time.monotonic() >= next_resync:
            next_resync = time.monotonic() + args.resync
            driver.resync()
            try:
                driver.gc_orphans()
            except Exception as e:
                log("error", "gc", error=short_err(e))

    log("signal", signal.Signals(got[0]).name if got else "?", note="shutting down")
    # Shutdown: abandon in-flight cuts; their finally blocks SIGCONT holders.
    with driver.jobs_lock:
        jobs = list(driver.jobs.values())
    for job in jobs:
        job.cancel.set()
    deadline = time.monotonic() + SHUTDOWN_JOIN_S
    for job in jobs:
        if job.thread is not None:
            job.thread.join(max(0.0, deadline - time.monotonic()))
    log("exit", DRIVER, abandoned=len(jobs))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
