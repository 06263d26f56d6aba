#!/usr/bin/python3
"""Simulated node agent: the kubelet and scheduler roles for MariaDB Pods.

Usage: node.py --kubeconfig PATH --state DIR [--node-name sim-node-1]
       (node.py --exec-with-mounts SRC=DST... -- PROGRAM ARGS... is internal,
       see "Volume paths")

Part of hack/sim (see README.md there for the state directory contract with
storage.py). Runs on Debian's python3-kubernetes and python3-pymysql and sees
the cluster only through the API server: lists then watches Pods and
PersistentVolumeClaims (bookmarks on, a 410 Gone or any broken watch means
relist), reads PersistentVolumes, Secrets and ConfigMaps when a Pod starts.
Every action is one line on stdout. Everything it does is idempotent, so it
can be killed and restarted at any time.

Node
  Registers Node NAME (labels kubernetes.io/hostname=NAME,
  kubernetes.io/os=linux, kubernetes.io/arch=amd64) and posts its status
  every 10 s: Ready=True (reason KubeletReady, lastHeartbeatTime),
  MemoryPressure/DiskPressure/PIDPressure=False, addresses InternalIP
  127.0.0.1 and Hostname NAME, capacity = allocatable = cpu 2, memory 24Gi,
  pods 110, and a nodeInfo. No taints. On SIGTERM/SIGINT it stops every
  mariadbd (SIGTERM, up to 7 s, then SIGKILL), marks the Node Ready=False
  (reason KubeletNotReady, a 1 s budget) and exits 0.

Scheduler role
  A Pod without spec.nodeName whose schedulerName is default-scheduler (or
  empty), that is not being deleted, whose nodeSelector (if any) matches the
  Node's labels and whose persistentVolumeClaim volumes all name claims in
  phase Bound, gets a Binding (POST pods/NAME/binding, with the Pod's uid) to
  this node. While a claim is missing or not Bound, the Pod gets
  PodScheduled=False, reason Unschedulable ("pod has unbound immediate
  PersistentVolumeClaims"), like the real scheduler's message. Re-evaluated
  on every Pod or claim event and every 5 s.

Kubelet role: one mariadbd per Pod bound to this node
  All containers of the Pod share one mariadbd process (no image is pulled;
  spec.containers[].image is only echoed in the status). The "main"
  container is the first with a port named `mysql`, else the one named
  mariadb or mysql, else the first. Init containers, probes, resources,
  restartPolicy and command in the spec are ignored (args: see "Command
  line"): the server is always restarted when it exits.
  - Address: its own loopback address 127.0.0.N (N = 2..254), leased per Pod
    uid as STATE/ips/127.0.0.N (the file holds the uid). A Pod keeps its
    address for its whole life, across restarts of mariadbd and of this
    agent (leases of Pods that no longer exist are dropped at start, after
    the leftover servers are stopped); it is released when the Pod's server
    has stopped for good (Pod deleted: after SIGTERM/SIGKILL and waitpid, so
    the old listener is closed). Several clusters may run on one machine:
    each lease is also recorded machine-wide in
    /tmp/snapstage-sim-ips/127.0.0.N ("STATE\nUID", under an flock of
    /tmp/snapstage-sim-ips/.lock); a record whose STATE/ips lease no longer
    names that uid (cluster gone) is stale. An address is free if it is not
    leased here, not live-recorded by another cluster, and its port can be
    bound (nothing else, e.g. a server that is still stopping, listens).
    Sticky per name: a real StatefulSet Pod keeps its DNS name
    (<pod>.<service>) when it is re-created, so replication configured by
    name survives; there is no DNS here, so instead the address a Pod of a
    namespace/name last had is recorded in STATE/ips-by-name/NS_NAME
    (written at each lease, kept after the Pod is gone, for the cluster's
    life), and a re-created Pod of that name (a scale-down and up, a
    deleted Pod) gets the same address again if it is free; a new Pod of the
    same name starts only after its predecessor's server is gone and its
    address released, so that is the normal case. If it is not free
    (another cluster or anything else holds it, or another Pod leased it
    meanwhile) the Pod gets another address and the log line says why;
    replicas whose MASTER_HOST is the old address then no longer replicate
    (a real cluster, whose names do not move, has no such case). Lease order: the Pod's
    status.podIP (agent restarts), its name's record, addresses no record
    names and no cluster on the machine ever leased (lowest first; each
    lease and release is stamped in /tmp/snapstage-sim-ips/last/IP), then
    the others (least recently recorded, leased or released first), so a
    re-created Pod seldom
    finds its address taken by a newcomer, of its own cluster or of another
    running beside it (CI runs two suites' clusters at once).
  - Port: the main container's port named `mysql`, else 3306.
  - Data directory: the volume mounted at /var/lib/mysql (honouring subPath):
    persistentVolumeClaim -> the bound PV's spec.hostPath.path; hostPath ->
    its path; emptyDir or no such mount -> STATE/run/NS_POD/empty/VOLUME,
    removed with the Pod. A volume mounted at /var/lib/mysql-binlog holds the
    binary logs (--log-bin=DIR/mysql-bin), else they go to the data
    directory. Relay logs always live in the data directory.
  - Volume paths: MariaDB writes absolute paths into mysql-bin.index,
    relay-bin.index and relay-log.info. So that data restored from a
    snapshot into another volume finds its own logs (not, say, the live
    primary's), every server sees its volumes at the same paths, as every
    container sees /var/lib/mysql: mariadbd is exec'd through
    `node.py --exec-with-mounts SRC=DST... -- mariadbd ...`, which enters a
    private mount namespace, bind-mounts the data directory on
    STATE/mnt/mysql and the binlog directory on STATE/mnt/mysql-binlog (empty
    directories outside the namespace) and execs mariadbd (same pid, same
    process group). If mount namespaces are unavailable (checked at start),
    the PV paths are used directly and a warning is logged.
  - Cluster DNS for Pods: a server sees STATE/hosts/NS (its namespace's)
    bind-mounted on /etc/hosts, which the agent keeps up to date in place:
    each Pod with spec.hostname and spec.subdomain (a StatefulSet's Pods)
    whose subdomain is a headless Service of its namespace selecting it,
    Ready (or the Service publishing not-ready addresses), is there as
    <hostname>.<subdomain>.<ns>.svc[.cluster.local], and for the file's own
    namespace also as <hostname>.<subdomain>[.<ns>] (what a Pod's search
    path completes). So a replica told to replicate from
    mariadb-0.mariadb.NS.svc follows the primary to a new IP, as in a real
    cluster. Without mount namespaces the servers see the host's
    /etc/hosts and resolve none of these names.
  - Holders: for every PV the server uses, STATE/holders/PV-NAME holds its
    pid while it runs (written right after the fork, removed as soon as the
    process is seen gone). storage.py SIGSTOPs/SIGCONTs these pids to cut an
    atomic snapshot: a stopped mariadbd is not "dead" (waitpid without
    WUNTRACED) and a probe that times out while it is stopped does not kill
    it. The install step (mariadb-install-db) is not a holder.
  - Run directory STATE/run/NS_POD/: `sock` (the Unix socket; if that path
    would be too long for a socket, the socket lives in
    /tmp/snapstage-sim-sock/ and `sock` is a symlink to it), `mariadbd.pid`
    (written by mariadbd), `server.pid` (written by this agent at fork),
    `error.log`, `console.log` (stdout/stderr), `install.log`, and `tmp/`,
    the server's private --tmpdir (mode 0700) for both mariadb-install-db
    and mariadbd: a starting mariadbd (also install-db's --bootstrap one)
    deletes every `#sql*` file in its tmpdir, so servers sharing /tmp (every
    mariadbd of every cluster on the machine) deleted each other's temporary
    tables, and an install-db beside another starting server failed with
    "Unknown table 'mysql.tmp_user_sys'". tmp/ is emptied before each start
    and removed with the Pod. The logs are kept after the Pod is gone
    (cluster.sh down removes the whole DIR).
  - Command line (exec'd directly, no shell, in this agent's process group
    so a process-group kill of the agent reaches it; D and B as the server
    sees them, see above):
      mariadbd --no-defaults --user=root --datadir=D --bind-address=IP
        --port=P --socket=S --pid-file=F --log-error=E --server-id=ID
        --report-host=IP --report-port=P --log-bin=B/mysql-bin
        --binlog-format=ROW --log-slave-updates --gtid-strict-mode=1
        --relay-log=D/relay-bin --tmpdir=STATE/run/NS_POD/tmp
        --skip-name-resolve --innodb-buffer-pool-size=32M
        --innodb-log-file-size=16M
    followed by the main container's `args` that are options (a leading
    "mariadbd" is dropped), as the official image passes them: e.g.
    args: [--skip-slave-start] for a standalone copy of a replica's data.
    `command` is ignored.
    server-id: StatefulSet Pods (owner kind StatefulSet, name OWNER-ORDINAL)
    get ORDINAL+1, other Pods a stable hash of namespace/name (>= 1000).
  - First start (no marker D/.snapstage-sim-initialized):
    if D/mysql does not exist, `mariadb-install-db --no-defaults
    --datadir=D --user=root --auth-root-authentication-method=normal
    --skip-test-db --tmpdir=STATE/run/NS_POD/tmp` (same InnoDB sizes; also
    TMPDIR in its environment, and only TMPDIR if that path has characters
    install-db's unquoted hand-over to mariadbd would split); then mariadbd
    starts and, over the
    socket as root with SET SESSION sql_log_bin=0 (nothing of this reaches
    the binary log, so GTID positions start empty on every server): root@
    localhost and root@'%' (ALL, WITH GRANT OPTION) get MARIADB_ROOT_PASSWORD
    (empty if unset), the other root accounts mariadb-install-db made
    (root@HOSTNAME, root@127.0.0.1, root@::1, passwordless) are dropped, and
    MARIADB_REPLICATION_USER@'%' (if set) is created with
    MARIADB_REPLICATION_PASSWORD and REPLICATION SLAVE. Then the marker
    D/.snapstage-sim-initialized is written (JSON: pod, uid, time, whether
    replication setup is due) so this never runs twice on that data.
  - Failed first start: before mariadb-install-db, the install marker
    D/.snapstage-sim-installing is written (JSON: pod, uid, STATE, D,
    attempt number, time, and the names already in D, e.g. lost+found); it
    is removed once the initialized marker is there. A start that finds it
    without the initialized marker (install-db failed or timed out, or
    mariadbd died, or the agent or the Pod stopped, before the users were
    set up) undoes that attempt: every entry of D not listed as already
    there is removed (logged with the count) and install-db runs again,
    also for a new Pod on the same claim. At most 5 attempts per data
    directory; after that the start fails each time ("giving up", nothing
    removed, CrashLoopBackOff) until someone looks. Never undone: data with
    the initialized marker (a stale install marker is just removed), an
    install marker naming another STATE or directory (copied by a snapshot
    restore, whose data carries the initialized marker anyway; started as it
    is), a D whose attempt another live Pod of this agent is making (the
    start fails and is retried), and a D with mysql/ but no install marker
    (not made by this agent: started as it is). A separate binlog volume is
    not touched (the attempt wrote only empty binary logs there).
  - Environment of the main container: `value`, `valueFrom.secretKeyRef`,
    `valueFrom.configMapKeyRef` (honouring `optional`) and `envFrom`. Values
    are read through the API when the server (re)starts and never logged.
    A missing required Secret/key leaves the container Waiting with reason
    CreateContainerConfigError, retried within 5 s.
  - Replication: if the Pod has the annotation
    `sim.snapstage.io/replication: gtid` and is a StatefulSet Pod, ordinal 0
    is the primary and the others replicas. Only when the initialized marker
    says replication setup is due and D/.snapstage-sim-replication is absent
    (i.e. on the first start of fresh data): the primary gets
    SET GLOBAL read_only=0; a replica waits until Pod OWNER-0 is Ready with a
    podIP, then STOP SLAVE; CHANGE MASTER TO MASTER_HOST=<its podIP>,
    MASTER_PORT=<its mysql port>, MASTER_USER, MASTER_PASSWORD (the
    replication credentials), MASTER_USE_GTID=slave_pos,
    MASTER_CONNECT_RETRY=5; START SLAVE; SET GLOBAL read_only=1. Then the
    replication marker is written. Later starts never reconfigure
    replication (data restored from a snapshot carries its origin's markers;
    snapstage's restore controller reconfigures replication itself). Because
    read_only is not persistent, every later start sets read_only=1 if the
    server has a replication source configured (SHOW SLAVE STATUS returns a
    row with a Master_Host) and is not started with --skip-slave-start, as a
    replica's my.cnf would, and leaves it alone otherwise. Replication resumes by itself after a restart
    (master.info and relay-log.info live in the data directory), and so it
    does, as on a real cluster, on a replica's data restored into another
    volume: a Pod that must stay standalone passes --skip-slave-start in its
    container args (or the restore resets replication).
  - Pod status (strategic merge patch of pods/status, carrying the uid so a
    newer Pod of the same name is never touched): phase Pending until the
    first start, then Running; hostIP 127.0.0.1, podIP/podIPs, startTime;
    conditions PodScheduled, Initialized (True), ContainersReady and Ready
    (lastTransitionTime changes only when the status does; other condition
    types are left alone); containerStatuses for each container: name,
    image, imageID "", containerID sim://PID, ready, started, restartCount,
    state (waiting: ContainerCreating / CreateContainerConfigError /
    CrashLoopBackOff; running: startedAt) and lastState.terminated after an
    exit (exitCode, 128+signal for a signal, reason Error or Completed).
    Termination message: when the main container's terminationMessagePolicy
    is FallbackToLogsOnError and the exit code is not 0 (a signal counts),
    lastState.terminated.message is the end of STATE/run/NS_POD/error.log,
    as the kubelet takes a container's log when no termination message was
    written (none ever is here): the last 80 lines, of those the last 2048
    bytes, e.g. "... [ERROR] mariadbd: unknown option '--no-such-option'\n
    ... [ERROR] Aborting\n". The error log is appended to across restarts,
    so its end is the last run's. With policy File (the default) there is
    no message. Only the error log goes there (mariadbd writes no
    passwords to it), never an environment value. state.terminated is
    never set (an exited server is restarted: state is waiting).
  - Readiness: after the first-start steps, a TCP `SELECT 1` to podIP:port
    as root with MARIADB_ROOT_PASSWORD every 2 s (1 s connect and read
    timeouts). One success makes the Pod Ready; it turns unready after 3
    failures in a row (the kubelet's default failureThreshold, so a short
    SIGSTOP for a snapshot does not flap it), or at once when the process
    exits. Data initialized elsewhere with another root password (no login
    over the socket) is left running, start-up steps skipped, never Ready.
  - Unexpected exit: Ready=False at once, holders removed, restart after a
    back-off of 1, 2, 4 ... 30 s (reset after 60 s of running), restartCount
    + 1 on each restart. A failed start (install error, exit during start)
    is handled the same way; a missing Secret, ConfigMap or volume is
    retried after at most 5 s.
  - Deletion: when the Pod has a deletionTimestamp, SIGTERM, wait up to
    metadata.deletionGracePeriodSeconds (the Pod's
    terminationGracePeriodSeconds, else 30), SIGKILL; remove holders,
    release the address, remove emptyDir volumes and the run directory's
    tmp/, then DELETE the Pod with
    gracePeriodSeconds=0 and a uid precondition (the kubelet's job). A Pod
    that disappears outright (deleted with grace 0): the process is stopped
    the same way (at most 10 s). A Pod's successor of the same name waits
    until the predecessor's server is gone before it starts.
  - Start-up: leftovers of a previous agent (the pids in
    STATE/run/*/{server,mariadbd}.pid and any mariadbd, mariadb-install-db
    or --exec-with-mounts helper whose command line names STATE/) get
    SIGTERM and SIGCONT (they may have
    been left stopped), SIGKILL after 10 s; STATE/holders/ is emptied; then
    every Pod bound to this node is started afresh (a Pod whose status shows
    an earlier container gets restartCount + 1).
"""

import argparse
import base64
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import zlib
from datetime import datetime, timezone

CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000


def exec_with_mounts(args):
    """Helper mode: node.py --exec-with-mounts SRC=DST... -- PROGRAM ARGS...

    In a new mount namespace (private propagation), bind-mounts each SRC on
    DST, then execs PROGRAM (same pid, same process group). Runs before the
    heavy imports so a server start costs one bare interpreter start."""
    import ctypes
    sep = args.index("--")
    binds, argv = [a.split("=", 1) for a in args[:sep]], args[sep + 1:]
    libc = ctypes.CDLL(None, use_errno=True)

    def check(rc, what):
        if rc != 0:
            e = ctypes.get_errno()
            sys.stderr.write("node.py --exec-with-mounts: %s: %s\n" % (what, os.strerror(e)))
            sys.exit(127)

    check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "making / private")
    for src, dst in binds:
        check(libc.mount(src.encode(), dst.encode(), None, MS_BIND, None), "bind %s on %s" % (src, dst))
    os.execv(argv[0], argv)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--exec-with-mounts":
    exec_with_mounts(sys.argv[2:])

import pymysql  # noqa: E402
from kubernetes import client, config  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

MARIADBD = "/usr/sbin/mariadbd"
TERM_MSG_LINES = 80    # the kubelet's tail for FallbackToLogsOnError:
TERM_MSG_BYTES = 2048  # 80 lines, then at most 2 KiB (the end kept)
INSTALL_DB = "/usr/bin/mariadb-install-db"
DATA_MOUNT = "/var/lib/mysql"
BINLOG_MOUNT = "/var/lib/mysql-binlog"
REPL_ANNOTATION = "sim.snapstage.io/replication"
INIT_MARKER = ".snapstage-sim-initialized"
REPL_MARKER = ".snapstage-sim-replication"
INSTALL_MARKER = ".snapstage-sim-installing"  # a first-time initialisation of ours in progress
INSTALL_ATTEMPTS = 5  # first-time initialisations tried on one data directory before giving up
INNODB_FLAGS = ["--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M"]
HEARTBEAT = 10.0
PROBE_PERIOD = 2.0
PROBE_FAILURES = 3
BACKOFF_MAX = 30.0
BACKOFF_RESET = 60.0
CONFIG_RETRY_MAX = 5.0
SHUTDOWN_GRACE = 7.0
GLOBAL_IPS = "/tmp/snapstage-sim-ips"  # machine-wide address records, see the docstring
SOCK_MAX = 100  # sun_path is 108 bytes; keep a margin
IP_FIRST, IP_LAST = 2, 254

_log_lock = threading.Lock()


def log(msg):
    line = "%s node: %s\n" % (datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z", msg)
    with _log_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def now_rfc3339():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339(ts):
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_in_place(path, text):
    """Rewrites path in place (the same inode, so a bind mount of it sees
    the change; write_atomic's rename would leave the mount on the old
    file), never shrinking it: a shorter text is padded with a comment line
    instead of a truncate, so a reader never finds it empty."""
    data = text.encode()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if len(data) < size:
            data += b"#" * (size - len(data) - 1) + b"\n"
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


def read_file(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def log_tail(path, max_lines=TERM_MSG_LINES, max_bytes=TERM_MSG_BYTES):
    """The end of a log as the kubelet's FallbackToLogsOnError takes it: the
    last max_lines lines, of those the last max_bytes bytes; "" if none."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return ""
    lines = data.splitlines(keepends=True)[-max_lines:]
    tail = b"".join(lines)[-max_bytes:]
    return tail.decode("utf-8", errors="ignore")


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return None


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def pid_alive(pid):
    st = proc_state(pid)
    return st is not None and st not in ("Z", "X")


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


def port_free(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Abort(Exception):
    """The Pod is going away (deleted, or the agent is stopping)."""


class StartError(Exception):
    def __init__(self, msg, reason="Error"):
        super().__init__(msg)
        self.reason = reason


# ---------------------------------------------------------------------------
# API access: the kubernetes client's ApiClient, raw JSON in and out.


class ApiError(Exception):
    def __init__(self, status, reason, body=""):
        super().__init__("HTTP %s %s %s" % (status, reason, (body or "")[:300]))
        self.status = status
        self.body = body


class Api:
    def __init__(self, kubeconfig):
        cfg = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        cfg.connection_pool_maxsize = 64
        self.client = client.ApiClient(cfg)

    def request(self, method, path, body=None, query=None, content_type=None, timeout=15):
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            resp = self.client.call_api(
                path, method, query_params=list((query or {}).items()), header_params=headers,
                body=body, auth_settings=["BearerToken"], _preload_content=False,
                _return_http_data_only=True, _request_timeout=timeout)
        except ApiException as e:
            raise ApiError(e.status, e.reason, e.body if isinstance(e.body, str) else str(e.body))
        except Exception as e:  # connection refused, timeouts, ...
            raise ApiError(0, type(e).__name__, str(e))
        data = resp.data
        return json.loads(data) if data else None

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def watch(self, path, rv, timeout_seconds=240):
        """Yields watch events (dicts) until the server closes the stream."""
        query = [("watch", "true"), ("resourceVersion", rv), ("allowWatchBookmarks", "true"),
                 ("timeoutSeconds", str(timeout_seconds))]
        try:
            resp = self.client.call_api(
                path, "GET", query_params=query, header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"], _preload_content=False,
                _return_http_data_only=True, _request_timeout=(10, timeout_seconds + 30))
        except ApiException as e:
            raise ApiError(e.status, e.reason, e.body if isinstance(e.body, str) else str(e.body))
        try:
            buf = b""
            for chunk in resp.stream(4096, decode_content=True):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            resp.release_conn()


class Informer:
    """List then watch one resource (all namespaces) into a cache.

    on_event(type, obj) is called from the informer's thread for ADDED,
    MODIFIED and DELETED (a relist reports objects that vanished as DELETED
    and every listed object as MODIFIED)."""

    def __init__(self, api, path, name, on_event, key):
        self.api, self.path, self.name, self.on_event, self.key = api, path, name, on_event, key
        self.cache = {}
        self.lock = threading.Lock()
        self.rv = None

    def get(self, key):
        with self.lock:
            return self.cache.get(key)

    def items(self):
        with self.lock:
            return list(self.cache.values())

    def relist(self):
        lst = self.api.get(self.path)
        items = {self.key(o): o for o in lst.get("items", [])}
        with self.lock:
            gone = [o for k, o in self.cache.items() if k not in items]
            self.cache = items
            self.rv = lst["metadata"]["resourceVersion"]
        for o in gone:
            self.on_event("DELETED", o)
        for o in items.values():
            self.on_event("MODIFIED", o)

    def run(self, stop):
        need_list = self.rv is None
        while not stop.is_set():
            try:
                if need_list:
                    self.relist()
                    need_list = False
                for ev in self.api.watch(self.path, self.rv):
                    if stop.is_set():
                        return
                    t, obj = ev.get("type"), ev.get("object") or {}
                    if t == "ERROR":
                        if obj.get("code") == 410:
                            log("%s watch: 410 Gone, relisting" % self.name)
                        else:
                            log("%s watch error: %s" % (self.name, obj.get("message")))
                        need_list = True
                        break
                    rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        self.rv = rv
                    if t == "BOOKMARK":
                        continue
                    k = self.key(obj)
                    with self.lock:
                        if t == "DELETED":
                            self.cache.pop(k, None)
                        else:
                            self.cache[k] = obj
                    self.on_event(t, obj)
            except ApiError as e:
                if e.status == 410:
                    log("%s watch: 410 Gone, relisting" % self.name)
                else:
                    log("%s watch failed (%s), relisting in 1 s" % (self.name, e))
                    stop.wait(1)
                need_list = True
            except Exception as e:  # broken stream, bad JSON, handler bug
                log("%s watch broke (%s: %s), relisting in 1 s" % (self.name, type(e).__name__, e))
                stop.wait(1)
                need_list = True


def ns_name(obj):
    m = obj["metadata"]
    return "%s/%s" % (m.get("namespace", ""), m["name"])


def uid_of(obj):
    return obj["metadata"]["uid"]


# ---------------------------------------------------------------------------
# Pod spec helpers


def main_container(pod):
    cs = pod["spec"].get("containers") or []
    for c in cs:
        if any(p.get("name") == "mysql" for p in c.get("ports") or []):
            return c
    for c in cs:
        if c.get("name") in ("mariadb", "mysql"):
            return c
    return cs[0] if cs else {"name": "mariadb"}


def mysql_port(pod):
    for p in main_container(pod).get("ports") or []:
        if p.get("name") == "mysql" and p.get("containerPort"):
            return int(p["containerPort"])
    return 3306


def sts_ordinal(pod):
    """(statefulset name, ordinal) for a StatefulSet Pod, else (None, None)."""
    name = pod["metadata"]["name"]
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == "StatefulSet":
            m = re.fullmatch(re.escape(ref["name"]) + r"-(\d+)", name)
            if m:
                return ref["name"], int(m.group(1))
    return None, None


def server_id(pod):
    _, ordinal = sts_ordinal(pod)
    if ordinal is not None:
        return ordinal + 1
    return 1000 + zlib.crc32(ns_name(pod).encode()) % 2000000000


def pod_ready(pod):
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def sql_connect(**kw):
    kw.setdefault("connect_timeout", 2)
    kw.setdefault("read_timeout", 10)
    kw.setdefault("write_timeout", 10)
    kw.setdefault("autocommit", True)
    return pymysql.connect(**kw)


# ---------------------------------------------------------------------------
# The agent


class Agent:
    def __init__(self, args):
        self.api = Api(args.kubeconfig)
        self.node = args.node_name
        self.state = os.path.abspath(args.state)
        self.stop = threading.Event()
        self.lock = threading.RLock()
        self.workers = {}  # pod uid -> PodWorker
        self.finished = set()  # uids whose worker is done
        self.name_locks = {}  # ns/name -> Lock (one server per Pod name at a time)
        self.sched_wake = threading.Event()
        self.unsched_reported = {}  # uid -> message last reported
        self.node_ready_since = now_rfc3339()
        for d in ("volumes", "holders", "run", "ips", "ips-by-name", "hosts", "mnt/mysql", "mnt/mysql-binlog"):
            os.makedirs(os.path.join(self.state, d), exist_ok=True)
        self.mount_ns = self.check_mount_ns()
        self.pods = Informer(self.api, "/api/v1/pods", "pods", self.on_pod, uid_of)
        self.pvcs = Informer(self.api, "/api/v1/persistentvolumeclaims", "claims", self.on_pvc, ns_name)
        self.services = Informer(self.api, "/api/v1/services", "services", self.on_service, ns_name)
        self.hosts_lock = threading.Lock()
        self.hosts_written = {}  # namespace -> the text last written
        self.node_labels = {
            "kubernetes.io/hostname": self.node,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
        }

    # -- paths ---------------------------------------------------------------

    def path(self, *parts):
        return os.path.join(self.state, *parts)

    def mount_prefix(self, binds):
        """argv prefix that runs a program with binds {src: dst} in its own mount namespace."""
        return [sys.executable, os.path.abspath(__file__), "--exec-with-mounts"] + \
            ["%s=%s" % (s, d) for s, d in binds.items()] + ["--"]

    def check_mount_ns(self):
        d = self.path("mnt", "mysql")
        try:
            r = subprocess.run(self.mount_prefix({d: d}) + ["/bin/true"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
            if r.returncode == 0:
                log("servers see their volumes at %s and %s (private mount namespaces)" % (
                    d, self.path("mnt", "mysql-binlog")))
                return True
            why = r.stdout.decode(errors="replace").strip()
        except (OSError, subprocess.SubprocessError) as e:
            why = str(e)
        log("warning: no mount namespaces (%s): servers get the PV paths themselves, so binlog and "
            "relay-log index files name them and data restored into another volume will not find "
            "its logs" % why)
        return False

    # -- leftovers of a previous agent ---------------------------------------

    def stop_leftovers(self):
        pids = set()
        run = self.path("run")
        for d in sorted(os.listdir(run)):
            rd = os.path.join(run, d)
            for pf in ("server.pid", "mariadbd.pid"):
                txt = read_file(os.path.join(rd, pf))
                if txt and txt.strip().isdigit():
                    pid = int(txt.strip())
                    cmd = proc_cmdline(pid)
                    if cmd and os.path.basename(cmd[0]) in ("mariadbd", "mysqld") and \
                            any(rd in a for a in cmd) and pid_alive(pid):
                        pids.add(pid)
                remove(os.path.join(rd, pf))
        prefix = self.state + "/"
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            cmd = proc_cmdline(int(d))
            if not cmd or not any(prefix in a for a in cmd):
                continue
            names = [os.path.basename(a) for a in cmd[:2]]
            if (any(n in ("mariadbd", "mysqld", "mariadb-install-db", "mysql_install_db") for n in names)
                    or "--exec-with-mounts" in cmd) and pid_alive(int(d)):
                pids.add(int(d))
        if pids:
            log("stopping leftovers of a previous agent: pids %s" % " ".join(map(str, sorted(pids))))
            for pid in pids:
                for sig in (signal.SIGTERM, signal.SIGCONT):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
            deadline = time.time() + 10
            while time.time() < deadline and any(pid_alive(p) for p in pids):
                time.sleep(0.1)
            killed = []
            for pid in pids:
                if pid_alive(pid):
                    log("leftover pid %d did not stop on SIGTERM; SIGKILL" % pid)
                    try:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                    except ProcessLookupError:
                        pass
            # Gone before their addresses are leased again (gc_leases, starts).
            deadline = time.time() + 5
            while time.time() < deadline and any(pid_alive(p) for p in killed):
                time.sleep(0.05)
        for h in os.listdir(self.path("holders")):
            remove(self.path("holders", h))

    # -- address leases ------------------------------------------------------

    @contextlib.contextmanager
    def global_ips(self):
        """self.lock and the machine-wide flock on GLOBAL_IPS/.lock."""
        with self.lock:
            os.makedirs(GLOBAL_IPS, exist_ok=True)
            fd = os.open(os.path.join(GLOBAL_IPS, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def global_owner(self, ip):
        """(state dir, uid) of a live machine-wide record of ip, else None."""
        lines = (read_file(os.path.join(GLOBAL_IPS, ip)) or "").split("\n")
        if len(lines) < 2 or not lines[0]:
            return None
        state, uid = lines[0], lines[1].strip()
        if state != self.state and (read_file(os.path.join(state, "ips", ip)) or "").strip() != uid:
            return None  # its cluster is gone or released it: stale
        return state, uid

    def name_record(self, ns, name):
        """STATE/ips-by-name/NS_NAME: the address a Pod of that name last had."""
        return self.path("ips-by-name", "%s_%s" % (ns, name))

    def remember_ip(self, ns, name, ip):
        rec = self.name_record(ns, name)
        if (read_file(rec) or "").strip() != ip:
            write_atomic(rec, ip + "\n")

    def leased_anywhere(self):
        """address -> when any cluster on this machine last leased or
        released it (GLOBAL_IPS/last/IP's mtime). Under global_ips()."""
        out = {}
        d = os.path.join(GLOBAL_IPS, "last")
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            try:
                out[f] = os.stat(os.path.join(d, f)).st_mtime
            except OSError:
                continue
        return out

    def mark_leased(self, ip):
        """Records machine-wide that ip was just leased or released (a
        released address is the one a re-created Pod wants back: stamped at
        release, it is the newest, so another cluster takes it last).
        Under global_ips()."""
        d = os.path.join(GLOBAL_IPS, "last")
        os.makedirs(d, exist_ok=True)
        write_atomic(os.path.join(d, ip), "%s\n" % self.state)

    def remembered_ips(self):
        """address -> mtime of the newest STATE/ips-by-name record naming it."""
        out = {}
        d = self.path("ips-by-name")
        for f in os.listdir(d):
            if ".tmp." in f:
                continue
            ip = (read_file(os.path.join(d, f)) or "").strip()
            try:
                mt = os.stat(os.path.join(d, f)).st_mtime
            except OSError:
                continue
            if ip and mt > out.get(ip, -1.0):
                out[ip] = mt
        return out

    def ip_taken(self, ip, port):
        """Why ip cannot be leased now (a string), or None if it is free."""
        if os.path.exists(self.path("ips", ip)):
            return "leased here by pod uid %s" % ((read_file(self.path("ips", ip)) or "").strip() or "?")
        owner = self.global_owner(ip)
        if owner and owner[0] != self.state:
            return "leased by the cluster of %s" % owner[0]
        if not port_free(ip, port):
            return "port %d in use by another process" % port
        return None

    def lease_ip(self, uid, port, ns, name, preferred=None):
        """Leases an address to Pod uid (NS/NAME); returns (ip, note).

        Order: the uid's own lease; preferred (its status.podIP); the address
        the last Pod of that namespace/name had (sticky, like a StatefulSet
        Pod's DNS name); addresses no Pod name of this cluster remembers and
        no cluster on this machine ever leased, lowest first; then the rest,
        least recently recorded, leased or released anywhere first. (Without the
        machine-wide part, a cluster running beside another took the address
        a re-created Pod of the other had just let go: "lowest first" among
        its own unremembered addresses, and the other's replicas, configured
        by address, stopped replicating.)"""
        ips = self.path("ips")
        with self.global_ips():
            for f in os.listdir(ips):
                if (read_file(os.path.join(ips, f)) or "").strip() == uid:
                    owner = self.global_owner(f)
                    if owner is None:
                        write_atomic(os.path.join(GLOBAL_IPS, f), "%s\n%s\n" % (self.state, uid))
                    elif owner != (self.state, uid):
                        log("warning: address %s of pod uid %s is also leased by %s" % (f, uid, owner[0]))
                    self.remember_ip(ns, name, f)
                    return f, "kept its lease"
            sticky = (read_file(self.name_record(ns, name)) or "").strip()
            remembered = self.remembered_ips()
            anywhere = self.leased_anywhere()
            for ip, t in anywhere.items():
                remembered[ip] = max(t, remembered.get(ip, -1.0))
            every = ["127.0.0.%d" % n for n in range(IP_FIRST, IP_LAST + 1)]
            cands = [ip for ip in (preferred, sticky) if ip in every]
            cands += [ip for ip in every if ip not in remembered]
            cands += sorted((ip for ip in every if ip in remembered), key=lambda ip: remembered[ip])
            sticky_why = None
            seen = set()
            for ip in cands:
                if ip in seen:
                    continue
                seen.add(ip)
                why = self.ip_taken(ip, port)
                if why is not None:
                    if ip == sticky:
                        sticky_why = why
                    continue
                try:
                    fd = os.open(os.path.join(ips, ip), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    continue
                with os.fdopen(fd, "w") as f:
                    f.write(uid + "\n")
                write_atomic(os.path.join(GLOBAL_IPS, ip), "%s\n%s\n" % (self.state, uid))
                self.mark_leased(ip)
                self.remember_ip(ns, name, ip)
                if not sticky:
                    note = "new"
                elif ip == sticky:
                    note = "the address %s/%s had before" % (ns, name)
                else:
                    note = "%s/%s had %s before, but it is %s" % (ns, name, sticky, sticky_why or "not free")
                return ip, note
        raise StartError("no free loopback address in 127.0.0.%d-%d" % (IP_FIRST, IP_LAST))

    def drop_lease(self, ip):
        """Removes ip's lease file and, if it is ours, its machine-wide record;
        stamps it released now, so every cluster leases it last."""
        owner = self.global_owner(ip)
        remove(self.path("ips", ip))
        if owner and owner[0] == self.state:
            remove(os.path.join(GLOBAL_IPS, ip))
            self.mark_leased(ip)

    def release_ip(self, uid):
        ips = self.path("ips")
        with self.global_ips():
            for f in os.listdir(ips):
                if (read_file(os.path.join(ips, f)) or "").strip() == uid:
                    self.drop_lease(f)
                    log("released address %s (pod uid %s)" % (f, uid))

    def gc_leases(self, uids):
        ips = self.path("ips")
        with self.global_ips():
            for f in os.listdir(ips):
                owner = (read_file(os.path.join(ips, f)) or "").strip()
                if owner not in uids:
                    self.drop_lease(f)
                    log("dropped stale address lease %s (pod uid %s)" % (f, owner or "?"))

    def name_lock(self, key):
        with self.lock:
            return self.name_locks.setdefault(key, threading.Lock())

    # -- events --------------------------------------------------------------

    def on_pod(self, t, pod):
        spec = pod.get("spec") or {}
        uid = uid_of(pod)
        if spec.get("subdomain"):
            self.write_hosts()
        if spec.get("nodeName") == self.node:
            with self.lock:
                w = self.workers.get(uid)
                if t == "DELETED":
                    self.unsched_reported.pop(uid, None)
                    if w:
                        w.mark_gone(pod)
                    return
                if w:
                    w.update(pod)
                    return
                if uid in self.finished or self.stop.is_set():
                    return
                if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    return
                w = PodWorker(self, pod)
                self.workers[uid] = w
            w.start()
        elif not spec.get("nodeName"):
            if t == "DELETED":
                self.unsched_reported.pop(uid, None)
            else:
                self.sched_wake.set()

    def on_pvc(self, t, pvc):
        self.sched_wake.set()

    def on_service(self, t, svc):
        self.write_hosts()

    # -- cluster DNS for Pods ------------------------------------------------

    def hosts_file(self, ns):
        """STATE/hosts/NS: the /etc/hosts the servers of namespace ns see."""
        return self.path("hosts", ns)

    def pod_dns_names(self):
        """[(ip, namespace, hostname, subdomain)] of every Pod cluster DNS
        gives a name: spec.hostname and spec.subdomain set (a StatefulSet
        sets them to the Pod's name and its spec.serviceName), a podIP, not
        being deleted, the subdomain a headless Service of the Pod's
        namespace whose selector takes the Pod, and the Pod Ready unless the
        Service has publishNotReadyAddresses (an endpoint is published only
        then)."""
        svcs = {ns_name(s): s for s in self.services.items()}
        out = []
        for p in self.pods.items():
            m, spec = p["metadata"], p.get("spec") or {}
            ip = (p.get("status") or {}).get("podIP")
            host, sub, ns = spec.get("hostname"), spec.get("subdomain"), m.get("namespace", "")
            if not (ip and host and sub) or m.get("deletionTimestamp"):
                continue
            svc = svcs.get("%s/%s" % (ns, sub))
            sspec = (svc or {}).get("spec") or {}
            if svc is None or sspec.get("clusterIP") != "None":
                continue
            sel = sspec.get("selector") or {}
            labels = m.get("labels") or {}
            if not sel or any(labels.get(k) != v for k, v in sel.items()):
                continue
            if pod_ready(p) or sspec.get("publishNotReadyAddresses"):
                out.append((ip, ns, host, sub))
        return sorted(out)

    def write_hosts(self):
        """Every namespace's hosts file brought up to date (a Pod's server
        reads it at each lookup, through a bind mount on /etc/hosts): the
        names of pod_dns_names() as cluster DNS answers them, fully
        qualified (<host>.<sub>.<ns>.svc and .svc.cluster.local) for every
        namespace, and in the file's own namespace also the short forms a
        Pod's resolver search path completes (<host>.<sub> and
        <host>.<sub>.<ns>). Names the sim cannot give (Services' own names)
        are not there: they fail to resolve, as a wrong name would."""
        names = self.pod_dns_names()
        namespaces = {ns_name(p).split("/", 1)[0] for p in self.pods.items()}
        with self.hosts_lock:
            for ns in namespaces | set(self.hosts_written):
                lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
                for ip, pns, host, sub in names:
                    fq = "%s.%s.%s.svc" % (host, sub, pns)
                    short = ["%s.%s" % (host, sub), "%s.%s.%s" % (host, sub, pns)] if pns == ns else []
                    lines.append("%s\t%s" % (ip, " ".join([fq + ".cluster.local", fq] + short)))
                text = "# written by hack/sim/node.py: cluster DNS for Pods\n" + "\n".join(lines) + "\n"
                if self.hosts_written.get(ns) != text:
                    write_in_place(self.hosts_file(ns), text)
                    self.hosts_written[ns] = text

    def worker_done(self, w):
        with self.lock:
            if self.workers.get(w.uid) is w:
                del self.workers[w.uid]
            if not self.stop.is_set() and w.deleting():
                self.finished.add(w.uid)

    # -- node ----------------------------------------------------------------

    def node_status(self, ready):
        now = now_rfc3339()
        conds = []
        for t, reason, msg in (
                ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available")):
            conds.append({"type": t, "status": "False", "reason": reason, "message": msg,
                          "lastHeartbeatTime": now, "lastTransitionTime": self.node_ready_since})
        if ready:
            conds.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                          "message": "kubelet is posting ready status (simulated by hack/sim/node.py)",
                          "lastHeartbeatTime": now, "lastTransitionTime": self.node_ready_since})
        else:
            conds.append({"type": "Ready", "status": "False", "reason": "KubeletNotReady",
                          "message": "node agent stopped", "lastHeartbeatTime": now, "lastTransitionTime": now})
        res = {"cpu": "2", "memory": "24Gi", "pods": "110", "ephemeral-storage": "100Gi"}
        return {"status": {
            "conditions": conds,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": self.node}],
            "capacity": res, "allocatable": res,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": "sim", "systemUUID": "sim", "bootID": "sim-%d" % os.getpid(),
                "kernelVersion": os.uname().release, "osImage": "Debian GNU/Linux 12 (simulated node)",
                "containerRuntimeVersion": "sim://mariadbd", "kubeletVersion": "v1.20.0-sim",
                "kubeProxyVersion": "v1.20.0-sim", "operatingSystem": "linux", "architecture": "amd64",
            },
        }}

    def register_node(self):
        path = "/api/v1/nodes/" + self.node
        try:
            node = self.api.get(path)
            labels = (node["metadata"].get("labels") or {})
            if any(labels.get(k) != v for k, v in self.node_labels.items()):
                self.api.request("PATCH", path, {"metadata": {"labels": self.node_labels}},
                                 content_type="application/merge-patch+json")
            for c in (node.get("status") or {}).get("conditions") or []:
                if c.get("type") == "Ready" and c.get("status") == "True" and c.get("lastTransitionTime"):
                    self.node_ready_since = c["lastTransitionTime"]
            log("node %s exists; updating it" % self.node)
        except ApiError as e:
            if e.status != 404:
                raise
            self.api.request("POST", "/api/v1/nodes", {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.node, "labels": self.node_labels}, "spec": {}})
            log("registered node %s" % self.node)

    def post_node_status(self, ready, timeout=10):
        self.api.request("PATCH", "/api/v1/nodes/%s/status" % self.node, self.node_status(ready),
                         content_type="application/merge-patch+json", timeout=timeout)

    def heartbeat_loop(self):
        registered, first = False, True
        while not self.stop.is_set():
            try:
                if not registered:
                    self.register_node()
                    registered = True
                self.post_node_status(True)
                if first:
                    log("node %s is Ready (heartbeat every %ds)" % (self.node, HEARTBEAT))
                    first = False
                self.stop.wait(HEARTBEAT)
            except ApiError as e:
                log("node heartbeat failed: %s" % e)
                if e.status == 404:
                    registered = False
                self.stop.wait(2)

    # -- scheduler -----------------------------------------------------------

    def schedule_loop(self):
        while not self.stop.is_set():
            self.sched_wake.wait(5)
            self.sched_wake.clear()
            if self.stop.is_set():
                return
            for pod in self.pods.items():
                try:
                    self.try_schedule(pod)
                except ApiError as e:
                    log("scheduling %s failed: %s" % (ns_name(pod), e))
                except Exception:
                    log("scheduling %s crashed: %s" % (ns_name(pod), traceback.format_exc()))

    def try_schedule(self, pod):
        spec, meta = pod.get("spec") or {}, pod["metadata"]
        if spec.get("nodeName") or meta.get("deletionTimestamp"):
            return
        if spec.get("schedulerName", "default-scheduler") not in ("", "default-scheduler"):
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        ns = meta["namespace"]
        reason = None
        sel = spec.get("nodeSelector") or {}
        if any(self.node_labels.get(k) != v for k, v in sel.items()):
            reason = "node(s) didn't match node selector"
        for v in spec.get("volumes") or []:
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if reason or not claim:
                continue
            pvc = self.pvcs.get("%s/%s" % (ns, claim))
            if pvc is None:
                reason = 'persistentvolumeclaim "%s" not found' % claim
            elif (pvc.get("status") or {}).get("phase") != "Bound":
                reason = "pod has unbound immediate PersistentVolumeClaims"
        if reason:
            msg = "0/1 nodes are available: 1 %s." % reason
            if self.unsched_reported.get(meta["uid"]) != msg:
                self.unsched_reported[meta["uid"]] = msg
                log("pod %s/%s unschedulable: %s" % (ns, meta["name"], reason))
                self.api.request(
                    "PATCH", "/api/v1/namespaces/%s/pods/%s/status" % (ns, meta["name"]),
                    {"metadata": {"uid": meta["uid"]},
                     "status": {"conditions": [{"type": "PodScheduled", "status": "False",
                                                "reason": "Unschedulable", "message": msg,
                                                "lastProbeTime": None,
                                                "lastTransitionTime": now_rfc3339()}]}},
                    content_type="application/strategic-merge-patch+json")
            return
        try:
            self.api.request("POST", "/api/v1/namespaces/%s/pods/%s/binding" % (ns, meta["name"]), {
                "apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": meta["name"], "namespace": ns, "uid": meta["uid"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": self.node}})
        except ApiError as e:
            if e.status in (404, 409):  # gone, or bound meanwhile
                return
            raise
        self.unsched_reported.pop(meta["uid"], None)
        log("bound pod %s/%s to %s" % (ns, meta["name"], self.node))

    # -- main ----------------------------------------------------------------

    def run(self):
        log("starting (node %s, state %s, pid %d)" % (self.node, self.state, os.getpid()))
        self.stop_leftovers()
        threading.Thread(target=self.heartbeat_loop, name="heartbeat", daemon=True).start()
        # The first lists happen here, so stale leases are dropped before any
        # worker leases an address.
        while not self.stop.is_set():
            try:
                self.pvcs.relist()
                lst = self.api.get("/api/v1/pods")
                break
            except ApiError as e:
                log("initial list failed (%s); retrying" % e)
                self.stop.wait(1)
        if not self.stop.is_set():
            mine = {uid_of(p) for p in lst.get("items", [])
                    if (p.get("spec") or {}).get("nodeName") == self.node}
            self.gc_leases(mine)
            self.pods.relist()
            self.services.relist()
            for inf in (self.pods, self.pvcs, self.services):
                threading.Thread(target=inf.run, args=(self.stop,), name=inf.name, daemon=True).start()
            threading.Thread(target=self.schedule_loop, name="scheduler", daemon=True).start()
            self.sched_wake.set()
        while not self.stop.wait(1):
            pass
        self.shutdown()

    def shutdown(self):
        log("stopping: shutting down %d server(s)" % len(self.workers))
        self.sched_wake.set()
        with self.lock:
            workers = list(self.workers.values())
        for w in workers:
            w.begin_shutdown()
        deadline = time.time() + SHUTDOWN_GRACE + 1.5
        for w in workers:
            w.join(max(0.0, deadline - time.time()))
        for w in workers:
            if w.is_alive():
                w.kill_now()
        try:
            self.post_node_status(False, timeout=1)
            log("node %s marked NotReady" % self.node)
        except ApiError as e:
            log("could not mark node NotReady: %s" % e)
        log("stopped")


# ---------------------------------------------------------------------------
# One Pod's server


class PodWorker(threading.Thread):
    def __init__(self, agent, pod):
        super().__init__(daemon=True, name="pod-" + pod["metadata"]["name"])
        self.agent = agent
        self.pod = pod
        m = pod["metadata"]
        self.uid, self.ns, self.name = m["uid"], m["namespace"], m["name"]
        self.key = "%s/%s" % (self.ns, self.name)
        self.wake = threading.Event()
        self.gone = False
        self.shutting_down = False
        self.proc = None
        self.proc_started = None
        self.proc_lock = threading.Lock()
        self.install = None
        self.ip = None
        self.port = mysql_port(pod)
        self.holders = []
        self.empty_dirs = []
        self.active_datadir = None  # the data directory this worker starts servers on, until teardown
        self.install_note_logged = False
        self.env = {}
        self.ever_started = False
        self.setup_done = False
        self.ready = False
        self.probe_failures = 0
        self.next_probe = 0.0
        self.crashes = 0
        self.next_start = 0.0
        self.waiting = ("ContainerCreating", "")
        self.last_state = None
        self.last_pid = None
        self.last_pushed = None
        self.push_error_logged = False
        self.rundir = agent.path("run", "%s_%s" % (self.ns, self.name))
        self.tmpdir = os.path.join(self.rundir, "tmp")
        self.cond_times = {}
        st = pod.get("status") or {}
        for c in st.get("conditions") or []:
            self.cond_times[c.get("type")] = (c.get("status"), c.get("lastTransitionTime") or now_rfc3339())
        self.start_time = st.get("startTime")
        self.restart_count = 0
        prior = False
        for cs in st.get("containerStatuses") or []:
            if cs.get("name") == main_container(pod).get("name"):
                self.restart_count = int(cs.get("restartCount") or 0)
                prior = bool(cs.get("containerID")) or "running" in (cs.get("state") or {})
        self.restart_pending = prior  # the server ran under a previous agent

    # -- called from other threads --------------------------------------------

    def update(self, pod):
        self.pod = pod
        self.wake.set()

    def mark_gone(self, pod):
        self.pod = pod
        self.gone = True
        self.wake.set()

    def begin_shutdown(self):
        self.shutting_down = True
        self.wake.set()

    def kill_now(self):
        with self.proc_lock:
            p = self.proc
        if p and p.poll() is None:
            log("pod %s: mariadbd pid %d still running; SIGKILL" % (self.key, p.pid))
            try:
                p.kill()
                p.wait(2)
            except Exception:
                pass
        self.remove_holders()

    # -- state ----------------------------------------------------------------

    def deleting(self):
        return self.gone or bool(self.pod["metadata"].get("deletionTimestamp"))

    def ending(self):
        return self.deleting() or self.shutting_down or self.agent.stop.is_set()

    def check(self):
        if self.ending():
            raise Abort()

    def sleep(self, secs):
        """Sleeps up to secs, returns early on any Pod event; raises Abort."""
        self.wake.wait(secs)
        self.wake.clear()
        self.check()

    # -- main loop ------------------------------------------------------------

    def run(self):
        lock = self.agent.name_lock(self.key)
        acquired = waited = False
        while True:
            if lock.acquire(timeout=0.5):
                acquired = True
                break
            if self.ending():
                break
            if not waited:
                log("pod %s (uid %s): waiting for the previous server of that name to stop" % (self.key, self.uid))
                waited = True
        if acquired:
            try:
                self.lifecycle()
            except Abort:
                pass
            except Exception:
                log("pod %s: worker crashed: %s" % (self.key, traceback.format_exc()))
            finally:
                try:
                    self.teardown()
                except Exception:
                    log("pod %s: teardown crashed: %s" % (self.key, traceback.format_exc()))
                lock.release()
        elif self.deleting() and not (self.shutting_down or self.agent.stop.is_set()):
            # Never started: finishing the deletion is still the kubelet's job.
            self.agent.release_ip(self.uid)
            self.finish_deletion()
        self.agent.worker_done(self)

    def lifecycle(self):
        os.makedirs(self.rundir, exist_ok=True)
        if self.start_time is None:
            self.start_time = now_rfc3339()
        if self.deleting():
            return
        self.ip, note = self.agent.lease_ip(self.uid, self.port, self.ns, self.name,
                                            (self.pod.get("status") or {}).get("podIP"))
        log("pod %s (uid %s): address %s:%d (%s)" % (self.key, self.uid, self.ip, self.port, note))
        self.push_status()
        while not self.ending():
            if self.proc is None:
                if time.time() < self.next_start:
                    self.push_status()
                    self.sleep(min(1.0, self.next_start - time.time()))
                    continue
                try:
                    self.start_server()
                except Abort:
                    raise
                except StartError as e:
                    self.start_failed(e)
                    continue
                except Exception as e:
                    log("pod %s: start crashed: %s" % (self.key, traceback.format_exc()))
                    self.start_failed(StartError("%s: %s" % (type(e).__name__, e)))
                    continue
            else:
                rc = self.proc.poll()
                if rc is not None:
                    self.server_exited(rc)
                    continue
                if self.setup_done and time.time() >= self.next_probe:
                    self.probe()
            self.push_status()
            self.wake.wait(0.5)
            self.wake.clear()

    # -- starting -------------------------------------------------------------

    def start_failed(self, e):
        with self.proc_lock:
            p = self.proc
        if p is not None:
            # Died during start-up (or the setup failed): make sure it is gone.
            if p.poll() is None:
                self.stop_process(10)
            self.record_exit(p.returncode)
            with self.proc_lock:
                self.proc = None
        self.remove_holders()
        self.crashes += 1
        delay = min(BACKOFF_MAX, 2.0 ** (self.crashes - 1))
        if e.reason != "Error":  # waiting for a Secret or a volume: retry soon
            delay = min(delay, CONFIG_RETRY_MAX)
        self.next_start = time.time() + delay
        reason = e.reason if e.reason != "Error" else "CrashLoopBackOff"
        self.waiting = (reason, "%s; retrying in %ds" % (e, delay))
        self.ready = False
        self.setup_done = False
        log("pod %s: start failed: %s; retrying in %ds" % (self.key, e, delay))

    def server_exited(self, rc):
        with self.proc_lock:
            pid = self.proc.pid
            self.proc = None
        self.remove_holders()
        self.record_exit(rc)
        ran = time.time() - (self.proc_started or time.time())
        if ran >= BACKOFF_RESET:
            self.crashes = 0
        self.crashes += 1
        delay = min(BACKOFF_MAX, 2.0 ** (self.crashes - 1))
        self.next_start = time.time() + delay
        self.ready = False
        self.setup_done = False
        self.waiting = ("CrashLoopBackOff", "back-off %ds restarting failed container=%s pod=%s_%s" % (
            delay, main_container(self.pod).get("name"), self.name, self.ns))
        log("pod %s: mariadbd pid %d exited unexpectedly (%s) after %.1fs; restarting in %ds (see %s)" % (
            self.key, pid, self.describe_rc(rc), ran, delay, os.path.join(self.rundir, "error.log")))

    @staticmethod
    def describe_rc(rc):
        if rc is None:
            return "unknown status"
        if rc < 0:
            try:
                return "signal %s" % signal.Signals(-rc).name
            except ValueError:
                return "signal %d" % -rc
        return "exit code %d" % rc

    def record_exit(self, rc):
        code = 128 - rc if rc is not None and rc < 0 else (rc or 0)
        self.last_state = {"terminated": {
            "exitCode": code, "reason": "Completed" if code == 0 else "Error",
            "startedAt": rfc3339(self.proc_started) if self.proc_started else now_rfc3339(),
            "finishedAt": now_rfc3339(),
            "containerID": "sim://%d" % (self.last_pid or 0)}}
        policy = main_container(self.pod).get("terminationMessagePolicy")
        if code != 0 and policy == "FallbackToLogsOnError":
            msg = log_tail(os.path.join(self.rundir, "error.log"))
            if msg:
                self.last_state["terminated"]["message"] = msg

    def resolve_env(self):
        c = main_container(self.pod)
        ns = self.ns
        cache = {}

        def fetch(kind, name):
            k = (kind, name)
            if k not in cache:
                try:
                    cache[k] = self.agent.api.get("/api/v1/namespaces/%s/%s/%s" % (ns, kind, name))
                except ApiError as e:
                    if e.status != 404:
                        raise StartError("reading %s %s: %s" % (kind[:-1], name, e))
                    cache[k] = None
            return cache[k]

        def value_of(kind, name, key, optional):
            obj = fetch(kind, name)
            if obj is None:
                if optional:
                    return None
                raise StartError('%s "%s" not found' % (kind[:-1], name), "CreateContainerConfigError")
            if kind == "secrets":
                raw = (obj.get("data") or {}).get(key)
                val = None if raw is None else base64.b64decode(raw).decode()
            else:
                val = (obj.get("data") or {}).get(key)
            if val is None and not optional:
                raise StartError("couldn't find key %s in %s %s" % (key, kind[:-1], name),
                                 "CreateContainerConfigError")
            return val

        env = {}
        for src in c.get("envFrom") or []:
            prefix = src.get("prefix") or ""
            for kind, ref in (("secrets", src.get("secretRef")), ("configmaps", src.get("configMapRef"))):
                if not ref:
                    continue
                obj = fetch(kind, ref["name"])
                if obj is None:
                    if ref.get("optional"):
                        continue
                    raise StartError('%s "%s" not found' % (kind[:-1], ref["name"]), "CreateContainerConfigError")
                for k, v in (obj.get("data") or {}).items():
                    if kind == "secrets":
                        v = base64.b64decode(v).decode()
                    env[prefix + k] = v
        for e in c.get("env") or []:
            if "value" in e:
                env[e["name"]] = e.get("value") or ""
                continue
            vf = e.get("valueFrom") or {}
            if vf.get("secretKeyRef"):
                r = vf["secretKeyRef"]
                v = value_of("secrets", r["name"], r["key"], r.get("optional"))
            elif vf.get("configMapKeyRef"):
                r = vf["configMapKeyRef"]
                v = value_of("configmaps", r["name"], r["key"], r.get("optional"))
            elif vf.get("fieldRef"):
                path = vf["fieldRef"].get("fieldPath")
                v = {"metadata.name": self.name, "metadata.namespace": self.ns, "metadata.uid": self.uid,
                     "status.podIP": self.ip, "status.hostIP": "127.0.0.1",
                     "spec.nodeName": self.agent.node}.get(path, "")
            else:
                v = ""
            if v is not None:
                env[e["name"]] = v
        return env

    def resolve_mount(self, mount_path):
        """(directory, pv name or None) of the volume mounted at mount_path, or None."""
        c = main_container(self.pod)
        vm = next((m for m in c.get("volumeMounts") or [] if m.get("mountPath", "").rstrip("/") == mount_path), None)
        if vm is None:
            return None
        vol = next((v for v in self.pod["spec"].get("volumes") or [] if v.get("name") == vm["name"]), None)
        if vol is None:
            raise StartError('volume "%s" is not defined' % vm["name"], "CreateContainerConfigError")
        pv_name = None
        if vol.get("persistentVolumeClaim"):
            claim = vol["persistentVolumeClaim"]["claimName"]
            try:
                pvc = self.agent.api.get("/api/v1/namespaces/%s/persistentvolumeclaims/%s" % (self.ns, claim))
            except ApiError as e:
                raise StartError("claim %s: %s" % (claim, e), "ContainerCreating")
            pv_name = (pvc.get("spec") or {}).get("volumeName")
            if not pv_name or (pvc.get("status") or {}).get("phase") != "Bound":
                raise StartError("claim %s is not bound" % claim, "ContainerCreating")
            try:
                pv = self.agent.api.get("/api/v1/persistentvolumes/" + pv_name)
            except ApiError as e:
                raise StartError("volume %s: %s" % (pv_name, e), "ContainerCreating")
            base = ((pv.get("spec") or {}).get("hostPath") or {}).get("path")
            if not base:
                raise StartError("volume %s has no hostPath" % pv_name, "ContainerCreating")
            if not os.path.isdir(base):
                raise StartError("volume %s: directory %s does not exist" % (pv_name, base), "ContainerCreating")
        elif vol.get("hostPath"):
            base = vol["hostPath"]["path"]
            os.makedirs(base, exist_ok=True)
        else:
            base = os.path.join(self.rundir, "empty", vol["name"])
            os.makedirs(base, exist_ok=True)
            if base not in self.empty_dirs:
                self.empty_dirs.append(base)
        d = os.path.join(base, vm["subPath"]) if vm.get("subPath") else base
        os.makedirs(d, exist_ok=True)
        return d, pv_name

    def socket_path(self):
        p = os.path.join(self.rundir, "sock")
        if len(p) <= SOCK_MAX:
            return p, p
        short_dir = "/tmp/snapstage-sim-sock"
        os.makedirs(short_dir, exist_ok=True)
        real = os.path.join(short_dir, "%08x.sock" % zlib.crc32(p.encode()))
        remove(p)
        os.symlink(real, p)
        return real, p

    def start_server(self):
        self.port = mysql_port(self.pod)
        self.waiting = ("ContainerCreating", "")
        self.env = self.resolve_env()
        data = self.resolve_mount(DATA_MOUNT)
        if data is None:
            data = (os.path.join(self.rundir, "empty", "data"), None)
            os.makedirs(data[0], exist_ok=True)
            if data[0] not in self.empty_dirs:
                self.empty_dirs.append(data[0])
        datadir, data_pv = data
        binlog = self.resolve_mount(BINLOG_MOUNT)
        bindir, bin_pv = binlog if binlog else (datadir, None)
        self.datadir = datadir
        self.active_datadir = datadir
        self.holders = [pv for pv in (data_pv, bin_pv) if pv]
        self.check()
        self.fresh_tmpdir()
        self.prepare_datadir(datadir)
        sock, sock_link = self.socket_path()
        self.sock = sock
        remove(sock)
        # The server sees its volumes at the same paths in every Pod (as a
        # container sees /var/lib/mysql), so the absolute paths MariaDB
        # writes into mysql-bin.index, relay-bin.index and relay-log.info
        # stay valid when a snapshot is restored into another volume.
        prefix, seen_data, seen_bin = [], datadir, bindir
        if self.agent.mount_ns:
            seen_data = self.agent.path("mnt", "mysql")
            binds = {datadir: seen_data}
            seen_bin = seen_data
            if binlog:
                seen_bin = self.agent.path("mnt", "mysql-binlog")
                binds[bindir] = seen_bin
            # Cluster DNS for Pods: the namespace's hosts file on /etc/hosts.
            hosts = self.agent.hosts_file(self.ns)
            if not os.path.exists(hosts):
                self.agent.write_hosts()
            if os.path.exists(hosts):
                binds[hosts] = "/etc/hosts"
            prefix = self.agent.mount_prefix(binds)
        argv = prefix + [
            MARIADBD, "--no-defaults", "--user=root",
            "--datadir=" + seen_data,
            "--bind-address=" + self.ip, "--port=%d" % self.port,
            "--socket=" + sock,
            "--pid-file=" + os.path.join(self.rundir, "mariadbd.pid"),
            "--log-error=" + os.path.join(self.rundir, "error.log"),
            "--server-id=%d" % server_id(self.pod),
            "--report-host=" + self.ip, "--report-port=%d" % self.port,
            "--log-bin=" + os.path.join(seen_bin, "mysql-bin"),
            "--binlog-format=ROW", "--log-slave-updates", "--gtid-strict-mode=1",
            "--relay-log=" + os.path.join(seen_data, "relay-bin"),
            "--tmpdir=" + self.tmpdir,
            "--skip-name-resolve"] + INNODB_FLAGS + self.extra_args()
        self.check()
        console = open(os.path.join(self.rundir, "console.log"), "ab")
        try:
            # Same process group as the agent (no setsid), so cluster.sh's
            # group kill reaches it; close_fds keeps our pipes out of it.
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                 close_fds=True, cwd=self.rundir)
        finally:
            console.close()
        with self.proc_lock:
            self.proc = p
        self.last_pid = p.pid
        self.proc_started = time.time()
        write_atomic(os.path.join(self.rundir, "server.pid"), "%d\n" % p.pid)
        for pv in self.holders:
            write_atomic(self.agent.path("holders", pv), "%d\n" % p.pid)
        if self.restart_pending:
            self.restart_count += 1
        self.restart_pending = True  # any later start is a restart
        self.ever_started = True
        self.waiting = None
        self.ready = False
        self.setup_done = False
        log("pod %s: started mariadbd pid %d on %s:%d (server-id %d, datadir %s, binlogs %s, restartCount %d)" % (
            self.key, p.pid, self.ip, self.port, server_id(self.pod), datadir, bindir, self.restart_count))
        self.push_status()
        self.wait_socket()
        self.post_start()
        self.setup_done = True
        self.probe_failures = 0
        self.next_probe = 0.0

    def extra_args(self, quiet=False):
        """The main container's args, as the official image passes them to
        mariadbd: a leading "mariadbd"/"mysqld" is dropped, options ("--...")
        are appended last (so they override ours), anything else is ignored."""
        args = list(main_container(self.pod).get("args") or [])
        if args and args[0] in ("mariadbd", "mysqld"):
            args = args[1:]
        ignored = [a for a in args if not a.startswith("--")]
        if ignored and not quiet:
            log("pod %s: ignoring container args that are not options: %s" % (self.key, " ".join(ignored)))
        return [a for a in args if a.startswith("--")]

    def fresh_tmpdir(self):
        """The server's private --tmpdir, STATE/run/NS_POD/tmp (mode 0700),
        emptied before each start. A starting mariadbd (also mariadb-install-db's
        --bootstrap one) deletes every #sql* file in its tmpdir, so with a
        shared /tmp it deleted the temporary tables of servers already running
        (mariadb-install-db then failed: Unknown table 'mysql.tmp_user_sys')."""
        d = self.tmpdir
        if os.path.islink(d) or (os.path.lexists(d) and not os.path.isdir(d)):
            remove(d)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d, mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)

    def read_install_marker(self, datadir):
        """The install marker's JSON (a dict), {} if unreadable, None if absent."""
        txt = read_file(os.path.join(datadir, INSTALL_MARKER))
        if txt is None:
            return None
        try:
            m = json.loads(txt)
        except ValueError:
            return {}
        return m if isinstance(m, dict) else {}

    def prepare_datadir(self, datadir):
        """Runs mariadb-install-db if the data directory needs it. A first-time
        initialisation of ours that did not complete (install marker, no
        initialized marker) is undone and tried again, INSTALL_ATTEMPTS times
        at most; see "First start" in the module docstring."""
        inst_path = os.path.join(datadir, INSTALL_MARKER)
        inst = self.read_install_marker(datadir)
        if os.path.exists(os.path.join(datadir, INIT_MARKER)):
            if inst is not None:  # initialised; the agent stopped before removing it
                remove(inst_path)
            if not os.path.isdir(os.path.join(datadir, "mysql")):
                self.install_db(datadir, 1, set(os.listdir(datadir)) - {INSTALL_MARKER})
            return
        if inst is None:
            if not os.path.isdir(os.path.join(datadir, "mysql")):
                self.install_db(datadir, 1, set(os.listdir(datadir)) - {INSTALL_MARKER})
            return
        if inst.get("state") != self.agent.state or inst.get("datadir") != datadir:
            # Not an attempt on this directory (e.g. copied by a snapshot
            # restore): never wiped, started as it is.
            if not self.install_note_logged:
                log("pod %s: %s has %s from another directory (%s): left as it is" % (
                    self.key, datadir, INSTALL_MARKER, inst.get("datadir") or "unreadable"))
                self.install_note_logged = True
            if not os.path.isdir(os.path.join(datadir, "mysql")):
                self.install_db(datadir, 1, set(os.listdir(datadir)) - {INSTALL_MARKER})
            return
        with self.agent.lock:
            other = next((w for w in self.agent.workers.values()
                          if w is not self and w.active_datadir == datadir), None)
        if other is not None:
            raise StartError("%s is being initialised by pod %s" % (datadir, other.key))
        attempt = inst.get("attempt") if isinstance(inst.get("attempt"), int) else 1
        if attempt >= INSTALL_ATTEMPTS:
            raise StartError("first-time initialisation of %s failed %d times; giving up (nothing removed; "
                             "see %s and error.log)" % (datadir, attempt,
                                                        os.path.join(self.rundir, "install.log")))
        keep = set(inst.get("preexisting") or []) - {INSTALL_MARKER}
        removed = []
        try:
            for name in sorted(os.listdir(datadir)):
                if name in keep or name == INSTALL_MARKER:
                    continue
                p = os.path.join(datadir, name)
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
                removed.append(name)
        except OSError as e:
            raise StartError("removing the unfinished initialisation of %s: %s" % (datadir, e))
        log("pod %s: first-time initialisation of %s did not complete (attempt %d of %d, pod uid %s): "
            "removed the %d entries it made, installing again" % (
                self.key, datadir, attempt, INSTALL_ATTEMPTS, inst.get("uid", "?"), len(removed)))
        self.install_db(datadir, attempt + 1, keep)

    def install_db(self, datadir, attempt, keep):
        """mariadb-install-db on datadir; the install marker (written first)
        records this attempt and the entries that were there before it."""
        write_atomic(os.path.join(datadir, INSTALL_MARKER), json.dumps({
            "pod": self.key, "uid": self.uid, "state": self.agent.state, "datadir": datadir,
            "attempt": attempt, "time": now_rfc3339(), "preexisting": sorted(keep)}) + "\n")
        log("pod %s: initializing %s with mariadb-install-db (attempt %d of %d)" % (
            self.key, datadir, attempt, INSTALL_ATTEMPTS))
        # mariadb-install-db hands --tmpdir on to its mariadbd --bootstrap
        # unquoted; TMPDIR (mariadbd's default tmpdir) covers a path it would split.
        argv = [INSTALL_DB, "--no-defaults", "--datadir=" + datadir, "--user=root",
                "--auth-root-authentication-method=normal", "--skip-test-db"] + INNODB_FLAGS
        if re.fullmatch(r"[A-Za-z0-9_./+,:=@-]+", self.tmpdir):
            argv.append("--tmpdir=" + self.tmpdir)
        env = dict(os.environ, TMPDIR=self.tmpdir)
        t0 = time.time()
        with open(os.path.join(self.rundir, "install.log"), "ab") as out:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 close_fds=True, cwd=self.rundir, env=env)
        self.install = p
        try:
            while p.poll() is None:
                if self.ending() or time.time() - t0 > 180:
                    for pid in children_of(p.pid):
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    p.kill()
                    p.wait()
                    self.check()
                    raise StartError("mariadb-install-db timed out")
                time.sleep(0.1)
        finally:
            self.install = None
        if p.returncode != 0:
            retry = ("the next start removes what it made and installs again" if attempt < INSTALL_ATTEMPTS
                     else "no attempts left")
            raise StartError("mariadb-install-db failed with exit code %d (see %s); attempt %d of %d, %s" % (
                p.returncode, os.path.join(self.rundir, "install.log"), attempt, INSTALL_ATTEMPTS, retry))
        log("pod %s: data directory initialized in %.1fs" % (self.key, time.time() - t0))

    def proc_check(self):
        self.check()
        if self.proc.poll() is not None:
            raise StartError("mariadbd exited during start-up (%s; see %s)" % (
                self.describe_rc(self.proc.returncode), os.path.join(self.rundir, "error.log")))

    def root_socket_conn(self):
        pw = self.env.get("MARIADB_ROOT_PASSWORD", "")
        last = None
        for cand in ([""] + ([pw] if pw else [])):
            try:
                return sql_connect(unix_socket=self.sock, user="root", password=cand)
            except pymysql.err.OperationalError as e:
                last = e
                if e.args and e.args[0] == 1045:  # access denied: try the next password
                    continue
                raise
        raise last

    def wait_socket(self):
        t0 = time.time()
        while True:
            self.proc_check()
            try:
                self.root_socket_conn().close()
                log("pod %s: mariadbd accepts connections (%.1fs)" % (self.key, time.time() - t0))
                return
            except pymysql.err.OperationalError as e:
                if e.args and e.args[0] == 1045:  # up, but root has another password
                    log("pod %s: mariadbd accepts connections (%.1fs), but root cannot log in" % (
                        self.key, time.time() - t0))
                    return
            except Exception:
                pass
            if time.time() - t0 > 120:
                raise StartError("mariadbd did not accept connections within 120 s")
            time.sleep(0.2)

    def post_start(self):
        init_marker = os.path.join(self.datadir, INIT_MARKER)
        repl_marker = os.path.join(self.datadir, REPL_MARKER)
        sts, ordinal = sts_ordinal(self.pod)
        want_repl = (self.pod["metadata"].get("annotations") or {}).get(REPL_ANNOTATION) == "gtid"
        if want_repl and ordinal is None:
            log("pod %s: annotation %s=gtid ignored: not a StatefulSet pod" % (self.key, REPL_ANNOTATION))
            want_repl = False
        try:
            conn = self.root_socket_conn()
        except pymysql.err.OperationalError as e:
            if not (e.args and e.args[0] == 1045) or not os.path.exists(init_marker):
                raise StartError("cannot log in as root over the socket: %s" % e)
            # Data from elsewhere (e.g. restored from another cluster's
            # snapshot) with another root password: leave it running; the
            # readiness probe (root with MARIADB_ROOT_PASSWORD) keeps it unready.
            log("pod %s: root cannot log in with MARIADB_ROOT_PASSWORD (data initialized elsewhere?): "
                "start-up steps skipped, the pod will not become Ready" % self.key)
            remove(os.path.join(self.datadir, INSTALL_MARKER))
            return
        try:
            cur = conn.cursor()
            marker = read_file(init_marker)
            if marker is None:
                self.initialize(cur)
                write_atomic(init_marker, json.dumps({
                    "pod": self.key, "uid": self.uid, "time": now_rfc3339(),
                    "replication": "pending" if want_repl else "none"}) + "\n")
                log("pod %s: users created, wrote %s" % (self.key, INIT_MARKER))
                marker = read_file(init_marker)
            remove(os.path.join(self.datadir, INSTALL_MARKER))  # initialisation complete
            try:
                repl_due = json.loads(marker).get("replication") == "pending"
            except ValueError:
                repl_due = False
            if repl_due and want_repl and not os.path.exists(repl_marker):
                if ordinal == 0:
                    cur.execute("SET GLOBAL read_only=0", ())
                    write_atomic(repl_marker, json.dumps({"role": "primary", "pod": self.key,
                                                          "time": now_rfc3339()}) + "\n")
                    log("pod %s: primary (read_only=0), wrote %s" % (self.key, REPL_MARKER))
                else:
                    self.configure_replica(cur, sts)
                    write_atomic(repl_marker, json.dumps({"role": "replica", "pod": self.key,
                                                          "source": "%s-0" % sts,
                                                          "time": now_rfc3339()}) + "\n")
                    log("pod %s: wrote %s" % (self.key, REPL_MARKER))
            else:
                try:
                    cur.execute("SHOW SLAVE STATUS", ())
                    row = cur.fetchone()
                    cols = [d[0] for d in cur.description or []]
                    source = dict(zip(cols, row)).get("Master_Host") if row else None
                    skip = any(re.fullmatch(r"--skip-(slave|replica)-start(=(1|ON|TRUE))?", a, re.I)
                               for a in self.extra_args(quiet=True))
                    if source and not skip:
                        cur.execute("SET GLOBAL read_only=1", ())
                        log("pod %s: replication source %s configured: read_only=1" % (self.key, source))
                except pymysql.err.MySQLError as e:  # not worth a restart
                    log("pod %s: could not check the replication source: %s" % (self.key, e))
        except pymysql.err.MySQLError as e:
            raise StartError("setting up the server failed: %s" % e)
        finally:
            conn.close()

    def initialize(self, cur):
        env = self.env
        pw = env.get("MARIADB_ROOT_PASSWORD", "")
        ru, rp = env.get("MARIADB_REPLICATION_USER", ""), env.get("MARIADB_REPLICATION_PASSWORD", "")
        cur.execute("SET SESSION sql_log_bin=0", ())
        cur.execute("SELECT host FROM mysql.user WHERE user='root' AND host NOT IN ('localhost','%%')", ())
        for (host,) in cur.fetchall():
            cur.execute("DROP USER 'root'@%s", (host,))
        cur.execute("ALTER USER 'root'@'localhost' IDENTIFIED BY %s", (pw,))
        cur.execute("CREATE USER IF NOT EXISTS 'root'@'%%' IDENTIFIED BY %s", (pw,))
        cur.execute("ALTER USER 'root'@'%%' IDENTIFIED BY %s", (pw,))
        cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'%%' WITH GRANT OPTION", ())
        if ru:
            cur.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (ru, rp))
            cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (ru, rp))
            cur.execute("GRANT REPLICATION SLAVE ON *.* TO %s@'%%'", (ru,))
        cur.execute("FLUSH PRIVILEGES", ())

    def configure_replica(self, cur, sts):
        primary_name = "%s-0" % sts
        ru, rp = self.env.get("MARIADB_REPLICATION_USER", ""), self.env.get("MARIADB_REPLICATION_PASSWORD", "")
        if not ru:
            raise StartError("replica without MARIADB_REPLICATION_USER", "CreateContainerConfigError")
        t0, said = time.time(), 0.0
        while True:
            self.proc_check()
            prim = next((p for p in self.agent.pods.items()
                         if p["metadata"].get("namespace") == self.ns and p["metadata"]["name"] == primary_name
                         and not p["metadata"].get("deletionTimestamp")), None)
            ip = ((prim or {}).get("status") or {}).get("podIP")
            if prim and ip and pod_ready(prim):
                break
            if time.time() - said >= 30:
                log("pod %s: waiting for primary %s/%s to be Ready" % (self.key, self.ns, primary_name))
                said = time.time()
            self.push_status()
            self.sleep(1)
        port = mysql_port(prim)
        cur.execute("STOP SLAVE", ())
        cur.execute("CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, MASTER_PASSWORD=%s, "
                    "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=5", (ip, port, ru, rp))
        cur.execute("START SLAVE", ())
        cur.execute("SET GLOBAL read_only=1", ())
        log("pod %s: replica of %s/%s at %s:%d (GTID slave_pos), read_only=1, waited %.1fs for the primary" % (
            self.key, self.ns, primary_name, ip, port, time.time() - t0))

    # -- probing and status -------------------------------------------------

    def probe(self):
        self.next_probe = time.time() + PROBE_PERIOD
        ok, err = False, "unexpected reply"
        try:
            conn = sql_connect(host=self.ip, port=self.port, user="root",
                               password=self.env.get("MARIADB_ROOT_PASSWORD", ""),
                               connect_timeout=1, read_timeout=1, write_timeout=1)
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1", ())
                    ok = cur.fetchone() == (1,)
            finally:
                conn.close()
        except Exception as e:
            err = e
        if ok:
            if not self.ready:
                log("pod %s: ready (SELECT 1 on %s:%d)" % (self.key, self.ip, self.port))
            self.ready, self.probe_failures = True, 0
        else:
            self.probe_failures += 1
            if self.ready and self.probe_failures >= PROBE_FAILURES:
                self.ready = False
                log("pod %s: not ready after %d failed probes (%s)" % (self.key, self.probe_failures, err))
            elif not self.ready and self.probe_failures == PROBE_FAILURES:
                log("pod %s: still not ready, %d failed probes (%s)" % (self.key, self.probe_failures, err))

    def condition(self, ctype, status, reason=None, message=None):
        prev = self.cond_times.get(ctype)
        ts = prev[1] if prev and prev[0] == status else now_rfc3339()
        self.cond_times[ctype] = (status, ts)
        # null removes a stale reason/message in the strategic merge patch
        return {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": ts,
                "reason": reason, "message": message}

    def push_status(self):
        pod = self.pod
        running = self.proc is not None
        names = [c["name"] for c in pod["spec"].get("containers") or []]
        ready = bool(self.ready and running)
        main = main_container(pod).get("name")
        statuses = []
        for c in pod["spec"].get("containers") or []:
            cs = {"name": c["name"], "image": c.get("image", ""), "imageID": "",
                  "ready": ready, "restartCount": self.restart_count, "started": running}
            if running:
                cs["containerID"] = "sim://%d" % self.proc.pid
                cs["state"] = {"running": {"startedAt": rfc3339(self.proc_started)}}
            else:
                reason, msg = self.waiting or ("ContainerCreating", "")
                cs["state"] = {"waiting": {"reason": reason, "message": msg} if msg else {"reason": reason}}
                if self.last_pid:
                    cs["containerID"] = "sim://%d" % self.last_pid
            if self.last_state and c["name"] == main:
                cs["lastState"] = self.last_state
            else:
                cs["lastState"] = {}
            statuses.append(cs)
        unready = "containers with unready status: [%s]" % " ".join(names)
        conds = [
            self.condition("Initialized", "True"),
            self.condition("Ready", "True") if ready else self.condition("Ready", "False", "ContainersNotReady", unready),
            self.condition("ContainersReady", "True") if ready else
            self.condition("ContainersReady", "False", "ContainersNotReady", unready),
            self.condition("PodScheduled", "True"),
        ]
        status = {
            "phase": "Running" if self.ever_started else "Pending",
            "hostIP": "127.0.0.1",
            "startTime": self.start_time,
            "conditions": conds,
            "containerStatuses": statuses,
        }
        if self.ip:
            status["podIP"] = self.ip
            status["podIPs"] = [{"ip": self.ip}]
        if status == self.last_pushed:
            return
        try:
            self.agent.api.request(
                "PATCH", "/api/v1/namespaces/%s/pods/%s/status" % (self.ns, self.name),
                {"metadata": {"uid": self.uid}, "status": status},
                content_type="application/strategic-merge-patch+json", timeout=10)
            self.last_pushed = status
            self.push_error_logged = False
        except ApiError as e:
            if e.status in (404, 409, 422):  # gone, or a newer Pod of that name
                self.last_pushed = status
                return
            if not self.push_error_logged:
                log("pod %s: status update failed: %s" % (self.key, e))
                self.push_error_logged = True

    # -- stopping -------------------------------------------------------------

    def remove_holders(self):
        for pv in self.holders:
            h = self.agent.path("holders", pv)
            txt = read_file(h)
            if txt is not None and (self.last_pid is None or txt.strip() == str(self.last_pid)):
                remove(h)

    def stop_process(self, grace):
        with self.proc_lock:
            p = self.proc
        if p is None or p.poll() is not None:
            return
        t0 = time.time()
        log("pod %s: stopping mariadbd pid %d (SIGTERM, grace %ds)" % (self.key, p.pid, grace))
        try:
            p.terminate()
        except ProcessLookupError:
            pass
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            state = proc_state(p.pid)
            log("pod %s: mariadbd pid %d still running after %ds%s; SIGKILL" % (
                self.key, p.pid, grace, " (stopped by SIGSTOP)" if state == "T" else ""))
            p.kill()
            p.wait()
        log("pod %s: mariadbd pid %d stopped (%s) in %.1fs" % (
            self.key, p.pid, self.describe_rc(p.returncode), time.time() - t0))

    def teardown(self):
        if self.install is not None and self.install.poll() is None:
            for pid in children_of(self.install.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.install.kill()
            self.install.wait()
        if self.shutting_down or self.agent.stop.is_set():
            grace = SHUTDOWN_GRACE
        elif self.gone:
            grace = 10
        else:
            m = self.pod["metadata"]
            grace = m.get("deletionGracePeriodSeconds")
            if grace is None:
                grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
            grace = max(1, int(grace))
        self.stop_process(grace)
        with self.proc_lock:
            p = self.proc
            self.proc = None
        self.remove_holders()
        self.active_datadir = None
        remove(os.path.join(self.rundir, "server.pid"))
        remove(os.path.join(self.rundir, "mariadbd.pid"))
        if self.shutting_down or self.agent.stop.is_set():
            return  # keep the lease: the Pod lives on and gets its address back
        if not self.deleting():
            return
        self.ready = False
        if p is not None and not self.gone:
            self.record_exit(p.returncode if p.returncode is not None else 0)
        self.agent.release_ip(self.uid)
        for d in self.empty_dirs + [self.tmpdir]:
            shutil.rmtree(d, ignore_errors=True)
        try:
            sock_link = os.path.join(self.rundir, "sock")
            if os.path.islink(sock_link):
                remove(os.readlink(sock_link))
            remove(sock_link)
        except OSError:
            pass
        self.finish_deletion()

    def finish_deletion(self):
        if self.gone:
            log("pod %s (uid %s): gone; server stopped" % (self.key, self.uid))
            return
        try:
            self.agent.api.request(
                "DELETE", "/api/v1/namespaces/%s/pods/%s" % (self.ns, self.name),
                {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                 "preconditions": {"uid": self.uid}})
            log("pod %s (uid %s): server stopped; deleted the pod" % (self.key, self.uid))
        except ApiError as e:
            if e.status in (404, 409):
                log("pod %s (uid %s): server stopped; pod already gone" % (self.key, self.uid))
            else:
                log("pod %s: final delete failed: %s" % (self.key, e))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--node-name", default="sim-node-1")
    args = ap.parse_args()
    agent = Agent(args)

    def on_signal(signum, _frame):
        if not agent.stop.is_set():
            log("received %s" % signal.Signals(signum).name)
        agent.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        agent.run()
    except Exception:
        log("fatal: %s" % traceback.format_exc())
        agent.stop.set()
        agent.shutdown()
        sys.stdout.flush()
        os._exit(1)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
