#!/usr/bin/python3
"""soak.py — the chaos soak: many ledger-checked Backups while things break.

Run by hack/soak.sh (which brings up a private mini-cluster and builds the
controller). In a namespace of its own it runs the hack/ledger workload on
the primary of StatefulSet `mariadb` (a primary and two replicas), two
replicas of the real controller with leader election, and a BackupSchedule
`* * * * *`; then round after round it takes a Backup (on demand, or from
the schedule with a run-now token) while a fault drawn from faults.MENU
breaks something at a random moment. Every few rounds it restores a checked
Backup into new claims (the controller SIGKILLed during it, sometimes the
source snapshots deleted at that moment), and now and then restores a
second StatefulSet, `keep`, in place.

What it checks, and counts as a finding (exit 1):
  - every Complete Backup of `mariadb`, restored by hack/ledger/check.py
    strictly, equals the primary's history at its recorded position and
    passes CHECK TABLE; a Backup whose round's fault makes Complete a lie
    (the storage failed, cut late, never got ready) is not Complete;
  - every Failed Backup has a reason from the documented set and a message,
    and its snapshots are deleted within 60 s;
  - after every round: each server grants BACKUP STAGE START to a probe
    session, and each replica's SQL thread runs, within the bound (the lock
    timeout + 10 s, 90 s after its mariadbd was killed); no VolumeSnapshot,
    VolumeSnapshotContent, claim or Released Retain volume is left that no
    Backup, Restore or StatefulSet owns (60 s grace); the controllers' RSS
    stays below --max-rss-mib;
  - a restore's data is exactly the Backup's (NewClaims: check.py on the
    restored volumes; InPlace: the marker rows), or, if it failed, exactly
    what was there before.
Each finding names the Backup, the round, the faults of the last rounds and
the seed. The last output is the table of figures (also --json-out).

Invariants: talks to the cluster and the servers on loopback only; never
prints a password; the fault sequence (kinds, moments, durations) depends
only on --seed, the timing of the real system does not.
Thread-safety: the main thread drives rounds; a fault's act() runs on its
own thread, the ledger checker and the controller supervisor on theirs;
shared state is under Soak.mu.
"""
import argparse
import collections
import datetime
import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pymysql
from kubernetes import client, config
from kubernetes.client.rest import ApiException

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import faults  # noqa: E402

GROUP, VERSION = "snapstage.io", "v1alpha1"
SNAP_GROUP, SNAP_VERSION = "snapshot.storage.k8s.io", "v1"
LOCK_BOUND = 10          # spec.lock.timeoutSeconds of every soak Backup
LEASE = "snapstage-soak"
SCHEDULE = "soak"
FAILED_REASONS = set("""InvalidSpec TargetNotFound TooManyPods VolumeNotFound VolumeNotPVC
SecretNotFound SecretKeyMissing NoHealthyReplica NoPrimary AuthenticationFailed PrivilegeMissing
DatabaseUnreachable LockAcquireTimeout LockTimeout LockLost CutOutsideLock SnapshotFailed
SnapshotLost ReadyTimeout SnapshotAPIMissing SnapshotClassNotFound Interrupted
SnapshotCreateFailed""".split())


def now():
    return time.time()


def rfc3339(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))]


def cond(obj, typ):
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == typ:
            return c
    return None


class Controllers:
    """Two controller processes (slots a, b) with leader election, kept
    running by a supervisor thread (restarted 1 s after any exit, unless a
    fault holds the slot down), RSS sampled every second."""

    def __init__(self, soak):
        self.s = soak
        self.mu = threading.Lock()
        self.proc, self.identity, self.hold, self.log_from = {}, {}, {}, {}
        self.starts = collections.Counter()
        self.exits = []          # (slot, code)
        self.rss_max_kib = 0
        self.stop = False
        self.ports = {"a": soak.free_port_pair(), "b": soak.free_port_pair()}
        for slot in ("a", "b"):
            self.start(slot)
        self.thread = threading.Thread(target=self.supervise, daemon=True)
        self.thread.start()

    def log_path(self, slot):
        return os.path.join(self.s.out, "controller-%s.log" % slot)

    def start(self, slot):
        s, port = self.s, self.ports[slot]
        log = open(self.log_path(slot), "ab")
        start_at = log.tell()
        p = subprocess.Popen([
            s.args.bin, "--kubeconfig=" + s.kubeconfig, "--namespace=" + s.ns,
            "--leader-elect", "--leader-election-namespace=" + s.ns, "--leader-election-id=" + LEASE,
            "--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s",
            "--leader-elect-retry-period=1s", "--enable-in-place-restore", "--workers=4",
            "--metrics-bind-address=127.0.0.1:%d" % port,
            "--health-probe-bind-address=127.0.0.1:%d" % (port + 1)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.starts[slot] += 1
        self.log_from[slot] = start_at
        ident = None
        for _ in range(100):
            with open(self.log_path(slot), "rb") as f:
                f.seek(start_at)
                m = re.search(rb"campaigning for leadership.*identity=\"?([^\s\"]+)", f.read())
            if m:
                ident = m.group(1).decode()
                break
            if p.poll() is not None:
                break
            time.sleep(0.1)
        with self.mu:
            self.proc[slot], self.identity[slot] = p, ident

    def supervise(self):
        while not self.stop:
            for slot in ("a", "b"):
                with self.mu:
                    p, held = self.proc.get(slot), self.hold.get(slot, 0)
                if p is None:
                    continue
                rc = p.poll()
                if rc is None:
                    self.sample_rss(p.pid)
                    continue
                if now() < held:
                    continue
                with self.mu:
                    if self.proc.get(slot) is not p:
                        continue
                    self.exits.append((slot, rc))
                    self.proc[slot] = None
                time.sleep(1.0)
                if not self.stop:
                    self.start(slot)
            time.sleep(0.5)

    def sample_rss(self, pid):
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        kib = int(line.split()[1])
                        self.rss_max_kib = max(self.rss_max_kib, kib)
        except OSError:
            pass

    def leader(self):
        """The slot whose process holds the Lease now, or None."""
        try:
            lease = self.s.coord.read_namespaced_lease(LEASE, self.s.ns)
        except ApiException:
            return None
        holder = lease.spec.holder_identity
        with self.mu:
            for slot, ident in self.identity.items():
                if ident and ident == holder and self.proc.get(slot) and self.proc[slot].poll() is None:
                    return slot
        return None

    def kill_leader(self, sig, down_for):
        slot = self.leader()
        if slot is None:
            self.s.event("no leader to signal")
            return
        with self.mu:
            self.hold[slot] = now() + down_for
            p = self.proc[slot]
        os.kill(p.pid, sig)
        self.s.event("controller %s (pid %d) got signal %d" % (slot, p.pid, sig))

    def stop_leader(self, secs):
        slot = self.leader()
        if slot is None:
            self.s.event("no leader to stop")
            return
        with self.mu:
            p = self.proc[slot]
        os.kill(p.pid, signal.SIGSTOP)
        try:
            time.sleep(secs)
        finally:
            os.kill(p.pid, signal.SIGCONT)

    def lost_lease(self, slot):
        """Whether the slot's current process logged losing its Lease: it
        then exits 1 on its own (as documented), whatever signal follows."""
        with open(self.log_path(slot), "rb") as f:
            f.seek(self.log_from.get(slot, 0))
            return b'msg="leader election lost' in f.read()

    def shutdown(self):
        self.stop = True
        self.thread.join()
        codes = {}
        for slot, p in self.proc.items():
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    codes[slot] = p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    codes[slot] = "killed after 30 s"
        return codes


class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.mu = threading.Lock()
        self.cluster_dir = args.cluster_dir
        self.kubeconfig = os.path.join(self.cluster_dir, "kubeconfig")
        self.out = args.out
        os.makedirs(self.out, exist_ok=True)
        config.load_kube_config(config_file=self.kubeconfig)
        self.core, self.apps = client.CoreV1Api(), client.AppsV1Api()
        self.custom, self.coord = client.CustomObjectsApi(), client.CoordinationV1Api()
        self.ns = "soak-%d-%d" % (args.seed, os.getpid() % 100000)
        self.t0 = now()
        self.findings = []
        self.history = collections.deque(maxlen=12)  # the last rounds' faults
        self.faults_done = collections.Counter()
        self.accounted = {}        # backup name -> outcome
        self.must_fail = {}        # backup name -> fault note
        self.must_complete = {}    # backup name -> fault note
        self.only = set(args.faults.split(",")) if args.faults else None
        unknown = (self.only or set()) - {n for n, _, _ in faults.MENU}
        if unknown:
            raise SystemExit("--faults: no such fault %s; the menu: %s" % (
                ", ".join(sorted(unknown)), ", ".join(n for n, _, _ in faults.MENU)))
        self.round_of = {}         # backup name -> round
        self.failed_snaps = []     # (deadline, backup, [volumesnapshot names])
        self.outcomes = collections.Counter()
        self.held_ms, self.windows = [], []
        self.checked = collections.Counter()
        self.check_q = queue.Queue()
        self.pool = []             # checked consistent Backups kept for restores
        self.restores = collections.Counter()
        self.events = []
        self.server_down_until = {}
        self.keep_marks = 0

    # ---- output -----------------------------------------------------------------
    def say(self, msg):
        print("[%7.1fs] %s" % (now() - self.t0, msg), flush=True)

    def event(self, msg):
        with self.mu:
            self.events.append((now() - self.t0, msg))
        self.say("      " + msg)

    def finding(self, kind, backup, detail):
        with self.mu:
            f = {"kind": kind, "backup": backup, "round": self.round_of.get(backup), "detail": detail,
                 "recent_faults": list(self.history), "seed": self.args.seed}
            self.findings.append(f)
        self.say("FINDING %s %s: %s (replay: hack/soak.sh --seed %d)" % (kind, backup, detail, self.args.seed))

    # ---- cluster helpers --------------------------------------------------------------
    def free_port_pair(self):
        import socket
        for _ in range(200):
            p = random.randrange(10000, 32000)
            socks = []
            try:
                for q in (p, p + 1):
                    sk = socket.socket()
                    socks.append(sk)
                    sk.bind(("127.0.0.1", q))
            except OSError:
                continue
            finally:
                for sk in socks:
                    sk.close()
            return p
        raise SystemExit("no free port pair")

    def kubectl(self, *a, input=None):
        return subprocess.run([self.args.kubectl, "--kubeconfig", self.kubeconfig, "-n", self.ns] + list(a),
                              input=input, capture_output=True, text=True, timeout=120)

    def api(self, fn, *a, **kw):
        """fn(*a, **kw), riding out an API server restart: connection errors and
        5xx are tried again for up to 60 s; other errors raise at once."""
        deadline = now() + 60
        while True:
            try:
                return fn(*a, **kw)
            except ApiException as e:
                if e.status and e.status < 500 or now() > deadline:
                    raise
            except Exception:
                if now() > deadline:
                    raise
            time.sleep(0.5)

    def get(self, plural, name):
        try:
            return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, plural, name)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def get_retry(self, plural, name, tries=60):
        """get(), riding out an API server restart (connection errors, 5xx)."""
        for i in range(tries):
            try:
                return self.get(plural, name)
            except (ApiException, Exception) as e:  # urllib3 errors during a restart
                if isinstance(e, ApiException) and e.status and e.status < 500:
                    raise
                time.sleep(0.5)
        raise RuntimeError("the API server did not answer for %d tries" % tries)

    def list_custom(self, plural, group=GROUP, version=VERSION):
        for i in range(60):
            try:
                return self.custom.list_namespaced_custom_object(group, version, self.ns, plural)["items"]
            except Exception:
                time.sleep(0.5)
        raise RuntimeError("cannot list %s" % plural)

    def create(self, plural, body):
        for i in range(60):
            try:
                return self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, plural, body)
            except ApiException as e:
                if e.status == 409 or (e.status and e.status < 500 and e.status != 429):
                    raise
            except Exception:
                pass
            time.sleep(0.5)
        raise RuntimeError("cannot create %s" % plural)

    def delete(self, plural, name, group=GROUP, version=VERSION):
        for i in range(60):
            try:
                self.custom.delete_namespaced_custom_object(group, version, self.ns, plural, name)
                return True
            except ApiException as e:
                if e.status == 404:
                    return False
                if e.status and e.status < 500:
                    raise
            except Exception:
                pass
            time.sleep(0.5)
        return False

    def pod_ip(self, pod):
        for i in range(60):
            try:
                return self.core.read_namespaced_pod(pod, self.ns).status.pod_ip
            except Exception:
                time.sleep(0.5)
        return None

    def sql(self, pod, stmts, timeout=5):
        ip = self.pod_ip(pod)
        if not ip:
            raise RuntimeError("pod %s has no address" % pod)
        c = pymysql.connect(host=ip, user="root", password=self.root_pw, connect_timeout=3,
                            read_timeout=timeout, write_timeout=timeout, autocommit=True)
        try:
            rows = None
            with c.cursor() as cur:
                for st in ([stmts] if isinstance(stmts, str) else stmts):
                    cur.execute(st)
                    rows = cur.fetchall()
            return rows
        finally:
            c.close()

    def mariadbd_pid(self, pod):
        d = os.path.join(self.cluster_dir, "sim", "run", "%s_%s" % (self.ns, pod))
        for f in ("mariadbd.pid", "server.pid"):
            try:
                with open(os.path.join(d, f)) as fh:
                    return int(re.sub(r"\D", "", fh.read()))
            except (OSError, ValueError):
                continue
        return None

    # ---- set-up -------------------------------------------------------------------------
    def setup(self):
        a = self.args
        r = subprocess.run([os.path.join(ROOT, "hack", "install-crds.sh"), "--timeout", "60"],
                           env=dict(os.environ, KUBECONFIG=self.kubeconfig, KUBECTL=a.kubectl),
                           capture_output=True, text=True)
        if r.returncode:
            raise SystemExit("installing the CRDs: " + r.stdout + r.stderr)
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=self.ns)))
        with open(os.path.join(ROOT, "hack", "sim", "mariadb.yaml")) as f:
            yaml_main = f.read()
        self.apply(yaml_main)
        if a.inplace_every:
            self.apply(self.keep_yaml(yaml_main))
        self.wait_sts("mariadb")
        self.root_pw = self.secret_value("mariadb", "root-password")
        self.kubectl("create", "secret", "generic", "mariadb-backup", "--from-literal=username=root",
                     "--from-file=password=/dev/stdin", input=self.root_pw)
        self.workload = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(ROOT, "hack", "ledger", "workload.py"),
             "--host", self.pod_ip("mariadb-0"), "--log", os.path.join(self.out, "gtid.jsonl"),
             "--rate", str(a.rate)],
            env=dict(os.environ, LEDGER_PASSWORD=self.root_pw),
            stdout=open(os.path.join(self.out, "workload.json"), "w"),
            stderr=open(os.path.join(self.out, "workload.err"), "w"))
        deadline = now() + 60
        while not self.has_header():
            if now() > deadline or self.workload.poll() is not None:
                raise SystemExit("the workload did not start: " + open(os.path.join(self.out, "workload.err")).read())
            time.sleep(0.3)
        if a.inplace_every:
            self.wait_sts("keep")
            self.kubectl("annotate", "statefulset", "keep", "snapstage.io/in-place-restore=allowed")
            self.sql("keep-0", ["CREATE DATABASE soak", "CREATE TABLE soak.marks (id INT PRIMARY KEY) ENGINE=InnoDB"])
        self.ctrl = Controllers(self)
        self.create("backupschedules", {
            "apiVersion": GROUP + "/" + VERSION, "kind": "BackupSchedule",
            "metadata": {"name": SCHEDULE},
            "spec": {"schedule": "* * * * *", "target": self.target("mariadb"),
                     "lock": {"timeoutSeconds": LOCK_BOUND}}})
        # check.py starts a private mariadbd per Backup (1-2 s): more than
        # one checker keeps up with 3 Backups a round.
        self.checkers = [threading.Thread(target=self.check_loop, daemon=True) for _ in range(self.args.checkers)]
        for t in self.checkers:
            t.start()
        self.say("set up: namespace %s, workload at %s steps/s, controllers a and b, schedule '* * * * *'"
                 % (self.ns, a.rate))

    def keep_yaml(self, y):
        """hack/sim/mariadb.yaml's Service and StatefulSet renamed `keep` (the Secret shared)."""
        docs = [d for d in y.split("\n---\n") if "kind: Secret" not in d]
        y = "\n---\n".join(docs)
        y = re.sub(r"(?m)^(  name|  serviceName|      app.kubernetes.io/name|    app.kubernetes.io/name|        app.kubernetes.io/name): mariadb$",
                   r"\1: keep", y)
        return y

    def apply(self, y):
        r = self.kubectl("apply", "-f", "-", input=y)
        if r.returncode:
            raise SystemExit("kubectl apply: " + r.stderr)

    def wait_sts(self, name, timeout=300):
        deadline = now() + timeout
        while now() < deadline:
            try:
                st = self.apps.read_namespaced_stateful_set(name, self.ns)
                if (st.status.ready_replicas or 0) == st.spec.replicas and \
                        (st.status.updated_replicas or 0) == st.spec.replicas:
                    return True
            except Exception:
                pass
            time.sleep(1)
        return False

    def secret_value(self, name, key):
        import base64
        return base64.b64decode(self.core.read_namespaced_secret(name, self.ns).data[key]).decode()

    def has_header(self):
        try:
            with open(os.path.join(self.out, "gtid.jsonl")) as f:
                return '"header"' in f.readline()
        except OSError:
            return False

    def target(self, sts):
        return {"statefulSetName": sts, "role": "Replica",
                "connection": {"credentialsSecretRef": {"name": "mariadb-backup"}}}

    # ---- helpers for faults.py ------------------------------------------------------------
    def wait_moment(self, name, moment, timeout=60):
        """Waits until Backup `name` is at `moment`: created (now), locked (Locked and
        its snapshots created, so the lock is held), uploading (Uploading, or past)."""
        if moment == "created":
            return True
        deadline = now() + timeout
        while now() < deadline:
            b = self.get_retry("backups", name)
            if b is None:
                return False
            st = b.get("status") or {}
            ph = st.get("phase")
            if ph in ("Completed", "Failed"):
                return False  # too late for this moment: the fault does not act
            if moment == "locked" and ph == "Locked" and self.snaps_exist(st):
                return True
            if moment == "uploading" and ph == "Uploading":
                return True
            time.sleep(0.05)
        return False

    def snaps_exist(self, st):
        names = [x.get("volumeSnapshotName") for x in st.get("snapshots") or []]
        if not names:
            return False
        for n in names:
            try:
                self.custom.get_namespaced_custom_object(SNAP_GROUP, SNAP_VERSION, self.ns, "volumesnapshots", n)
            except Exception:
                return False
        return True

    def locked_pod(self, name):
        b = self.get_retry("backups", name)
        st = (b or {}).get("status") or {}
        return st.get("sourcePod"), (st.get("lock") or {}).get("connectionId")

    def pause_locked_server(self, name, secs):
        pod, _ = self.locked_pod(name)
        pid = pod and self.mariadbd_pid(pod)
        if not pid:
            self.event("no server to pause for %s" % name)
            return
        os.kill(pid, signal.SIGSTOP)
        self.event("SIGSTOP mariadbd %d of %s for %.1f s" % (pid, pod, secs))
        try:
            time.sleep(secs)
        finally:
            os.kill(pid, signal.SIGCONT)

    def kill_locked_server(self, name):
        pod, _ = self.locked_pod(name)
        pid = pod and self.mariadbd_pid(pod)
        if not pid:
            self.event("no server to kill for %s" % name)
            return
        os.kill(pid, signal.SIGKILL)
        with self.mu:
            self.server_down_until[pod] = now() + 90
        self.event("SIGKILL mariadbd %d of %s" % (pid, pod))

    def kill_lock_connection(self, name):
        pod, cid = self.locked_pod(name)
        if not pod or not cid:
            self.event("no lock connection to kill for %s" % name)
            return
        try:
            self.sql(pod, "KILL CONNECTION %d" % int(cid))
            self.event("KILL CONNECTION %s on %s" % (cid, pod))
        except pymysql.MySQLError as e:
            self.event("KILL CONNECTION %s on %s: %s" % (cid, pod, e))

    def delete_backup(self, name):
        self.delete("backups", name)
        self.event("deleted Backup %s while Locked" % name)

    def delete_one_snapshot(self, name):
        b = self.get_retry("backups", name)
        snaps = [x.get("volumeSnapshotName") for x in ((b or {}).get("status") or {}).get("snapshots") or []]
        if snaps:
            victim = self.rng_thread().choice(snaps)
            self.delete("volumesnapshots", victim, SNAP_GROUP, SNAP_VERSION)
            self.event("deleted VolumeSnapshot %s of %s" % (victim, name))

    def rng_thread(self):
        return random.Random(hash((self.args.seed, len(self.events))))

    def restart_apiserver(self):
        r = subprocess.run([os.path.join(ROOT, "hack", "cluster.sh"), "--dir", self.cluster_dir,
                            "restart-apiserver"], capture_output=True, text=True)
        self.event("kube-apiserver restart: exit %d" % r.returncode)
        if r.returncode:
            self.finding("infrastructure", "-", "restart-apiserver failed: " + r.stderr[-300:])

    def etcd_compact(self):
        port = None
        with open(os.path.join(self.cluster_dir, "ports")) as f:
            for line in f:
                if line.startswith("ETCD_PORT="):
                    port = int(line.split("=", 1)[1])
        base = "http://127.0.0.1:%d/v3/kv/" % port

        def post(path, body):
            req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.load(r)
        rev = int(post("range", {"key": "Lw==", "limit": 1})["header"]["revision"])
        post("compaction", {"revision": rev, "physical": True})
        self.event("etcd compacted at revision %d" % rev)

    # ---- a Backup round ----------------------------------------------------------------------
    def run_round(self, rnd):
        kind, plan = faults.draw(self.rng, self.only)
        use_schedule = plan.schedule_ok and not plan.annotations and not plan.ready_timeout and \
            self.rng.random() < 0.25
        self.history.append("r%d:%s%s" % (rnd, kind, " (" + plan.note + ")" if plan.note else ""))
        self.faults_done[kind] += 1
        if use_schedule:
            name = self.run_now(rnd)
        else:
            name = "b%05d" % rnd
            spec = {"target": self.target("mariadb"), "lock": {"timeoutSeconds": LOCK_BOUND}}
            if plan.annotations or plan.ready_timeout:
                spec["snapshot"] = {}
                if plan.annotations:
                    spec["snapshot"]["annotations"] = {"sim.snapstage.io/" + k: v for k, v in plan.annotations.items()}
                if plan.ready_timeout:
                    spec["snapshot"]["readyTimeoutSeconds"] = plan.ready_timeout
            self.create("backups", {"apiVersion": GROUP + "/" + VERSION, "kind": "Backup",
                                    "metadata": {"name": name}, "spec": spec})
        if not name:
            return
        with self.mu:
            self.round_of[name] = rnd
            if plan.must_fail:
                self.must_fail[name] = plan.note
            if plan.must_complete:
                self.must_complete[name] = kind + (" (" + plan.note + ")" if plan.note else "")
        companions = self.companions(rnd, kind, plan)
        self.say("round %d: %s %s%s%s" % (rnd, name, kind, " — " + plan.note if plan.note else "",
                                          " (with %s)" % " ".join(companions) if companions else ""))
        t = None
        if plan.act:
            t = threading.Thread(target=self.guard, args=(plan.act, name), daemon=True)
            t.start()
        for n in [name] + companions:
            if not self.wait_ended(n, 240):
                self.finding("stuck", n, "not Complete, Failed or gone 240 s after its round began")
        if t:
            t.join(120)
        self.account()
        self.settle(name, kind)

    def companions(self, rnd, kind, plan):
        """--parallel - 1 plain Backups made with the round's (more Backups per hour;
        the fault meets more than one session). Named b<round>-c<i>."""
        names = []
        for i in range(1, self.args.parallel):
            n = "b%05d-c%d" % (rnd, i)
            self.create("backups", {"apiVersion": GROUP + "/" + VERSION, "kind": "Backup", "metadata": {"name": n},
                                    "spec": {"target": self.target("mariadb"), "lock": {"timeoutSeconds": LOCK_BOUND}}})
            with self.mu:
                self.round_of[n] = rnd
                if plan.companions_complete:
                    self.must_complete[n] = "%s on b%05d (a companion)" % (kind, rnd)
            names.append(n)
        return names

    def guard(self, act, name):
        try:
            act(self, name)
        except Exception as e:  # a fault that could not act is reported, never silent
            self.event("fault action for %s raised %r" % (name, e))

    def run_now(self, rnd):
        token = "soak-%d-r%d" % (self.args.seed, rnd)
        before = {b["metadata"]["name"] for b in self.list_custom("backups")}
        r = self.kubectl("annotate", "backupschedule", SCHEDULE, "snapstage.io/run-now=" + token, "--overwrite")
        if r.returncode:
            self.finding("infrastructure", SCHEDULE, "annotating run-now: " + r.stderr)
            return None
        deadline = now() + 60
        while now() < deadline:
            for b in self.list_custom("backups"):
                md = b["metadata"]
                if md["name"] not in before and (md.get("annotations") or {}).get("snapstage.io/run-now") == token:
                    return md["name"]
            time.sleep(0.3)
        self.finding("schedule", SCHEDULE, "run-now token %s made no Backup within 60 s" % token)
        return None

    def wait_ended(self, name, timeout):
        deadline = now() + timeout
        while now() < deadline:
            b = self.get_retry("backups", name)
            if b is None or cond(b, "Complete") and cond(b, "Complete")["status"] == "True" or \
                    cond(b, "Failed") and cond(b, "Failed")["status"] == "True":
                return True
            time.sleep(0.2)
        return False

    # ---- accounting of every Backup in the namespace ------------------------------------------
    def account(self):
        seen = set()
        for b in self.list_custom("backups"):
            name = b["metadata"]["name"]
            seen.add(name)
            if name in self.accounted:
                continue
            st = b.get("status") or {}
            sts = ((b.get("spec") or {}).get("target") or {}).get("statefulSetName")
            c, f = cond(b, "Complete"), cond(b, "Failed")
            if c and c["status"] == "True":
                self.accounted[name] = "Complete"
                self.outcomes["Complete"] += 1
                lk = st.get("lock") or {}
                if lk.get("heldMilliseconds") is not None:
                    self.held_ms.append(int(lk["heldMilliseconds"]))
                if sts == "mariadb" and lk.get("acquiredTime") and lk.get("releasedTime"):
                    self.windows.append((rfc3339(lk["acquiredTime"]), rfc3339(lk["releasedTime"])))
                if name in self.must_fail:
                    self.finding("complete-despite-fault", name, "Complete although " + self.must_fail[name])
                if sts == "mariadb":
                    self.check_q.put(name)
                else:
                    self.outcomes["  of which of keep (checked by the in-place restore's rows)"] += 1
            elif f and f["status"] == "True":
                reason = f.get("reason") or ""
                self.accounted[name] = "Failed " + reason
                self.outcomes["Failed " + reason] += 1
                lk = st.get("lock") or {}
                if lk.get("heldMilliseconds") is not None:
                    self.held_ms.append(int(lk["heldMilliseconds"]))
                if name in self.must_complete:
                    self.finding("failed-needlessly", name, "Failed %s (%s) although only %s" % (
                        reason, f.get("message"), self.must_complete[name]))
                if reason not in FAILED_REASONS or not f.get("message"):
                    self.finding("vague-failure", name, "Failed with reason %r message %r" % (reason, f.get("message")))
                snaps = [x.get("volumeSnapshotName") for x in st.get("snapshots") or [] if x.get("volumeSnapshotName")]
                self.failed_snaps.append((now() + 60, name, snaps))
        for name in list(self.round_of):
            if name not in seen and name not in self.accounted:
                self.accounted[name] = "deleted"
                self.outcomes["Deleted (by the soak, while Locked)"] += 1
        self.check_failed_snaps()

    def check_failed_snaps(self, final=False):
        left = []
        for deadline, name, snaps in self.failed_snaps:
            alive = [n for n in snaps if self.vs_exists(n)]
            if not alive:
                continue
            if now() > deadline or final:
                self.finding("failed-snapshots-left", name, "a Failed Backup's VolumeSnapshots still exist: %s" % alive)
            else:
                left.append((deadline, name, snaps))
        self.failed_snaps = left

    def vs_exists(self, n):
        for i in range(20):
            try:
                self.custom.get_namespaced_custom_object(SNAP_GROUP, SNAP_VERSION, self.ns, "volumesnapshots", n)
                return True
            except ApiException as e:
                if e.status == 404:
                    return False
            except Exception:
                pass
            time.sleep(0.5)
        return True

    # ---- invariants after a round ----------------------------------------------------------------
    def servers(self):
        pods = ["mariadb-0", "mariadb-1", "mariadb-2"]
        if self.args.inplace_every:
            pods += ["keep-0", "keep-1", "keep-2"]
        return pods

    def lock_free(self, pod):
        try:
            self.sql(pod, ["SET SESSION lock_wait_timeout=1", "BACKUP STAGE START", "BACKUP STAGE END"])
            return True
        except Exception:
            return False

    def sql_running(self, pod):
        try:
            c = pymysql.connect(host=self.pod_ip(pod), user="root", password=self.root_pw, connect_timeout=3,
                                read_timeout=5, cursorclass=pymysql.cursors.DictCursor)
            try:
                with c.cursor() as cur:
                    cur.execute("SHOW SLAVE STATUS")
                    row = cur.fetchone()
                    return bool(row) and row.get("Slave_SQL_Running") == "Yes"
            finally:
                c.close()
        except Exception:
            return False

    def settle(self, name, kind):
        """After a round: no lock left and replication running on every server within
        the bound; no orphans (grace 60 s); the RSS below the limit."""
        for pod in self.servers():
            bound = LOCK_BOUND + 10
            with self.mu:
                bound = max(bound, self.server_down_until.get(pod, 0) - now())
            deadline = now() + bound
            replica = not pod.endswith("-0")
            while not (self.lock_free(pod) and (not replica or self.sql_running(pod))):
                if now() > deadline:
                    self.finding("lock-or-replication-left", name,
                                 "%s after %s: lock free %s, SQL thread running %s, %.0f s after the round" %
                                 (pod, kind, self.lock_free(pod), self.sql_running(pod) if replica else "-", bound))
                    break
                time.sleep(0.3)
        if self.ctrl.rss_max_kib > self.args.max_rss_mib * 1024:
            self.finding("rss", name, "controller RSS %d KiB above %d MiB" % (self.ctrl.rss_max_kib, self.args.max_rss_mib))
        self.check_orphans(name, grace=60 if kind != "none" else 30)

    def orphans(self):
        found = []
        backups = {b["metadata"]["uid"]: b for b in self.list_custom("backups")}
        restores = {r["metadata"]["name"] for r in self.list_custom("restores")}
        for vs in self.list_custom("volumesnapshots", SNAP_GROUP, SNAP_VERSION):
            md = vs["metadata"]
            owners = [o["uid"] for o in md.get("ownerReferences") or [] if o.get("kind") == "Backup"]
            b = backups.get(owners[0]) if owners else None
            if b is None:
                found.append("VolumeSnapshot %s (no Backup owns it)" % md["name"])
            elif cond(b, "Failed") and cond(b, "Failed")["status"] == "True":
                found.append("VolumeSnapshot %s (of Failed Backup %s)" % (md["name"], b["metadata"]["name"]))
        claims = self.core.list_namespaced_persistent_volume_claim(self.ns).items
        for c in claims:
            n, lab = c.metadata.name, c.metadata.labels or {}
            if re.fullmatch(r"(data|binlog)-(mariadb|keep)-[0-9]+", n):
                continue
            if lab.get("snapstage.io/restore") in restores:
                continue
            found.append("claim %s (no StatefulSet or Restore)" % n)
        for pv in self.core.list_persistent_volume().items:
            ref = pv.spec.claim_ref
            if ref and ref.namespace == self.ns and pv.status.phase == "Released" and \
                    pv.spec.persistent_volume_reclaim_policy == "Retain":
                found.append("volume %s (Released, Retain, was %s)" % (pv.metadata.name, ref.name))
        names = {vs["metadata"]["name"] for vs in self.list_custom("volumesnapshots", SNAP_GROUP, SNAP_VERSION)}
        for c in self.custom.list_cluster_custom_object(SNAP_GROUP, SNAP_VERSION, "volumesnapshotcontents")["items"]:
            ref = (c.get("spec") or {}).get("volumeSnapshotRef") or {}
            if ref.get("namespace") == self.ns and ref.get("name") not in names:
                found.append("VolumeSnapshotContent %s (its VolumeSnapshot %s is gone)" % (c["metadata"]["name"], ref.get("name")))
        return found

    def check_orphans(self, name, grace):
        deadline = now() + grace
        while True:
            try:
                found = self.orphans()
            except Exception as e:
                found = ["(listing failed: %r)" % e]
            if not found:
                return
            if now() > deadline:
                self.finding("orphan", name, "; ".join(found[:6]))
                return
            time.sleep(1)

    # ---- the ledger checker (its own thread) -------------------------------------------------------
    def check_loop(self):
        while True:
            name = self.check_q.get()
            if name is None:
                return
            try:
                self.check_one(name)
            except Exception as e:
                self.finding("check-error", name, "checking raised %r" % e)
            self.check_q.task_done()

    def contents_of(self, b):
        out = []
        for x in (b.get("status") or {}).get("snapshots") or []:
            vs = self.api(self.custom.get_namespaced_custom_object, SNAP_GROUP, SNAP_VERSION, self.ns,
                          "volumesnapshots", x["volumeSnapshotName"])
            out.append(vs["status"]["boundVolumeSnapshotContentName"])
        return out

    def ledger_check(self, label, position, extra):
        vpath = os.path.join(self.out, "verdicts", label + ".json")
        os.makedirs(os.path.dirname(vpath), exist_ok=True)
        r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "hack", "ledger", "check.py"),
                            "--log", os.path.join(self.out, "gtid.jsonl"), "--position-json", json.dumps(position),
                            "--json-out", vpath] + extra,
                           capture_output=True, text=True, env=dict(os.environ, SNAPSTAGE_CLUSTER_DIR=self.cluster_dir))
        return r.returncode, (r.stdout.strip().splitlines() or [""])[-1][:400] + r.stderr[-300:]

    def check_one(self, name):
        b = self.get_retry("backups", name)
        if b is None:
            self.finding("check-error", name, "a Complete Backup vanished before it was checked")
            return
        r = cond(b, "Restorable")
        if r and r["status"] != "True":
            self.finding("not-restorable", name, "Complete but Restorable %s: %s" % (r["status"], r.get("message")))
            return
        contents = self.contents_of(b)
        rc, out = self.ledger_check(name, b["status"]["position"], sum((["--content", c] for c in contents), []))
        with self.mu:
            self.checked["consistent" if rc == 0 else "inconsistent" if rc == 1 else "check error"] += 1
        if rc != 0:
            self.finding("inconsistent" if rc == 1 else "check-error", name, "check.py exit %d: %s" % (rc, out))
            return
        with self.mu:
            self.pool.append(name)
            drop = self.pool[:-3] if len(self.pool) > 3 else []
            self.pool = self.pool[-3:]
        for d in drop:
            self.delete("backups", d)

    # ---- restores ------------------------------------------------------------------------------
    def take_from_pool(self):
        with self.mu:
            if not self.pool:
                return None
            return self.pool.pop(self.rng.randrange(len(self.pool)))

    def restore_newclaims(self, rnd):
        src = self.take_from_pool()
        if not src:
            return
        b = self.get_retry("backups", src)
        kill, drop = self.rng.random() < 0.6, self.rng.random() < 0.3
        name = "rn%05d" % rnd
        self.history.append("r%d:restore-newclaims(%s, kill %s, delete source %s)" % (rnd, src, kill, drop))
        self.restores["NewClaims"] += 1
        self.say("round %d: Restore %s of %s into new claims (controller SIGKILL %s, source snapshots deleted %s)"
                 % (rnd, name, src, kill, drop))
        self.create("restores", {"apiVersion": GROUP + "/" + VERSION, "kind": "Restore", "metadata": {"name": name},
                                 "spec": {"source": {"backupName": src}, "timeoutSeconds": 120,
                                          "target": {"mode": "NewClaims",
                                                     "newClaims": {"storageClassName": "snapstage-sim"}}}})
        if kill or drop:
            self.wait_restore_phase(name, ("Restoring",), 60)
            if drop:
                for x in b["status"]["snapshots"]:
                    self.delete("volumesnapshots", x["volumeSnapshotName"], SNAP_GROUP, SNAP_VERSION)
            if kill:
                self.ctrl.kill_leader(signal.SIGKILL, self.rng.uniform(0.2, 2))
        r = self.wait_restore_end(name, 300)
        outcome = self.restore_outcome(r)
        self.restores["NewClaims " + outcome] += 1
        if outcome == "Complete":
            vols = {}
            for c in r["status"].get("claims") or []:
                pvc = self.api(self.core.read_namespaced_persistent_volume_claim, c["name"], self.ns)
                vols[c.get("volume")] = os.path.join(self.cluster_dir, "sim", "volumes", pvc.spec.volume_name)
            extra = ["--data", vols.get("data", "")] + (["--binlog", vols["binlog"]] if "binlog" in vols else [])
            rc, out = self.ledger_check(name, b["status"]["position"], extra)
            with self.mu:
                self.checked["restored claims consistent" if rc == 0 else "restored claims NOT consistent"] += 1
            if rc != 0:
                self.finding("restore-inconsistent", src, "Restore %s Complete but check.py exit %d: %s" % (name, rc, out))
        elif outcome.startswith("Failed"):
            if not drop:
                self.finding("restore-failed", src, "Restore %s failed without its source deleted: %s" % (name, outcome))
        else:
            self.finding("restore-stuck", src, "Restore %s did not end in 300 s" % name)
        # The soak is the user: it deletes the claims it asked for, then the Restore.
        for c in self.api(self.core.list_namespaced_persistent_volume_claim, self.ns,
                          label_selector="snapstage.io/restore=" + name).items:
            try:
                self.api(self.core.delete_namespaced_persistent_volume_claim, c.metadata.name, self.ns)
            except ApiException as e:
                if e.status != 404:  # gone meanwhile: a failed Restore deletes the claims it made
                    raise
        self.delete("restores", name)
        self.delete("backups", src)
        self.settle(src, "restore")

    def restore_outcome(self, r):
        if r is None:
            return "gone"
        if cond(r, "Complete") and cond(r, "Complete")["status"] == "True":
            return "Complete"
        f = cond(r, "Failed")
        if f and f["status"] == "True":
            return "Failed " + (f.get("reason") or "")
        return "running"

    def wait_restore_phase(self, name, phases, timeout):
        deadline = now() + timeout
        while now() < deadline:
            r = self.get_retry("restores", name)
            if r and (r.get("status") or {}).get("phase") in phases + ("Completed", "Failed"):
                return r
            time.sleep(0.1)
        return None

    def wait_restore_end(self, name, timeout):
        deadline = now() + timeout
        r = None
        while now() < deadline:
            r = self.get_retry("restores", name)
            if self.restore_outcome(r) != "running":
                return r
            time.sleep(0.5)
        return r

    def marks(self, pod):
        return [x[0] for x in self.sql(pod, "SELECT id FROM soak.marks ORDER BY id")]

    def restore_inplace(self, rnd):
        """keep: marker rows, a Backup of a replica, an 'accident' row, then an in-place
        Restore with the leader SIGKILLed in a random step (sometimes the source snapshots
        deleted then): the rows are exactly the Backup's, or, if it failed, as before."""
        want = self.mark_and_replicate()
        if want is None:
            self.finding("inplace-replication", "keep", "keep's replicas do not replicate before round %d" % rnd)
            return
        bname = "kb%05d" % rnd
        self.create("backups", {"apiVersion": GROUP + "/" + VERSION, "kind": "Backup", "metadata": {"name": bname},
                                "spec": {"target": self.target("keep"), "lock": {"timeoutSeconds": LOCK_BOUND}}})
        self.round_of[bname] = rnd
        self.wait_ended(bname, 120)
        self.account()
        b = self.get_retry("backups", bname)
        if not (b and cond(b, "Complete") and cond(b, "Complete")["status"] == "True"):
            self.say("round %d: Backup %s of keep did not complete (%s); no in-place restore" %
                     (rnd, bname, cond(b, "Failed") if b else "gone"))
            self.account()
            return
        self.keep_marks += 1
        self.sql("keep-0", "INSERT INTO soak.marks VALUES (%d)" % self.keep_marks)  # the accident
        before = self.marks("keep-0")
        step = self.rng.choice(["ScalingDown", "ReplacingClaims", "ScalingUp", "ConfiguringReplication"])
        drop = self.rng.random() < 0.3
        name = "ri%05d" % rnd
        self.history.append("r%d:restore-inplace(%s, kill in %s, delete source %s)" % (rnd, bname, step, drop))
        self.restores["InPlace"] += 1
        self.say("round %d: in-place Restore %s of keep from %s (SIGKILL in %s, source snapshots deleted %s)"
                 % (rnd, name, bname, step, drop))
        self.create("restores", {"apiVersion": GROUP + "/" + VERSION, "kind": "Restore", "metadata": {"name": name},
                                 "spec": {"source": {"backupName": bname}, "timeoutSeconds": 180,
                                          "target": {"mode": "InPlace", "inPlace": {
                                              "statefulSetName": "keep", "acknowledgeDataLoss": True,
                                              "primaryOrdinal": 0,
                                              "replicationCredentialsSecretRef": {
                                                  "name": "mariadb", "usernameKey": "replication-user",
                                                  "passwordKey": "replication-password"},
                                              "connection": {"credentialsSecretRef": {"name": "mariadb-backup"}}}}}})
        deadline = now() + 120
        while now() < deadline:
            r = self.get_retry("restores", name)
            st = (r or {}).get("status") or {}
            if (st.get("inPlace") or {}).get("step") == step or self.restore_outcome(r) != "running":
                break
            time.sleep(0.05)
        if drop:
            for x in b["status"]["snapshots"]:
                self.delete("volumesnapshots", x["volumeSnapshotName"], SNAP_GROUP, SNAP_VERSION)
        self.ctrl.kill_leader(signal.SIGKILL, self.rng.uniform(0.2, 2))
        r = self.wait_restore_end(name, 400)
        outcome = self.restore_outcome(r)
        self.restores["InPlace " + outcome] += 1
        ok = self.wait_sts("keep", 180)
        got = self.marks_or_none("keep-0") if ok else None
        self.say("      in-place Restore %s: %s (step %s); keep-0 holds %s, Backup had %s, before %s"
                 % (name, outcome, ((r or {}).get("status") or {}).get("inPlace", {}).get("step"),
                    got, want, before))
        if outcome == "Complete" and got != want:
            self.finding("inplace-data", bname, "Restore %s Complete but keep-0 holds %s, the Backup %s" % (name, got, want))
        elif outcome != "Complete" and got != before:
            self.finding("inplace-data", bname, "Restore %s %s and keep-0 holds %s, before it %s" % (name, outcome, got, before))
        if outcome == "running":
            self.finding("restore-stuck", bname, "in-place Restore %s did not end in 400 s" % name)
        if ok:
            if self.mark_and_replicate() is None:
                self.finding("inplace-replication", bname, "after Restore %s the replicas do not replicate (%s)"
                             % (name, "; ".join(self.replica_state(p) for p in ("keep-1", "keep-2"))))
        else:
            self.finding("inplace-not-ready", bname, "keep is not Ready 180 s after Restore %s" % name)
        self.delete("restores", name)
        self.delete("backups", bname)
        self.account()
        self.settle(bname, "restore")

    def mark_and_replicate(self, timeout=60):
        """A new marker row on keep-0: its rows once both replicas hold the
        same, or None if they do not within `timeout` seconds."""
        self.keep_marks += 1
        self.sql("keep-0", "INSERT INTO soak.marks VALUES (%d)" % self.keep_marks)
        rows, deadline = self.marks("keep-0"), now() + timeout
        while not all(self.marks_or_none(p) == rows for p in ("keep-1", "keep-2")):
            if now() > deadline:
                return None
            time.sleep(0.5)
        return rows

    def replica_state(self, pod):
        """What SHOW SLAVE STATUS says of pod's replication, in one phrase."""
        try:
            c = pymysql.connect(host=self.pod_ip(pod), user="root", password=self.root_pw,
                                connect_timeout=3, read_timeout=5, autocommit=True,
                                cursorclass=pymysql.cursors.DictCursor)
            try:
                with c.cursor() as cur:
                    cur.execute("SHOW SLAVE STATUS")
                    row = cur.fetchone()
            finally:
                c.close()
        except Exception as e:
            return "%s: %s" % (pod, e)
        if not row:
            return "%s: no replication configured" % pod
        return "%s: from %s:%s, IO %s, SQL %s, last IO error %r, last SQL error %r" % (
            pod, row.get("Master_Host"), row.get("Master_Port"), row.get("Slave_IO_Running"),
            row.get("Slave_SQL_Running"), row.get("Last_IO_Error"), row.get("Last_SQL_Error"))

    def marks_or_none(self, pod):
        try:
            return self.marks(pod)
        except Exception:
            return None

    # ---- the run -----------------------------------------------------------------------------------
    def run(self):
        a = self.args
        rnd = 0
        end = self.t0 + a.seconds if a.seconds else None
        while True:
            attempted = len([n for n in self.accounted])
            if a.backups and attempted >= a.backups:
                break
            if end and now() >= end:
                break
            rnd += 1
            self.run_round(rnd)
            if a.restore_every and rnd % a.restore_every == 0:
                self.restore_newclaims(rnd)
            if a.inplace_every and rnd % a.inplace_every == 0:
                self.restore_inplace(rnd)
            if self.workload.poll() is not None:
                self.finding("infrastructure", "-", "the workload died: " + open(os.path.join(self.out, "workload.err")).read()[-300:])
                break
        self.rounds = rnd

    def finish(self):
        self.say("waiting for the checker (%d queued)" % self.check_q.qsize())
        deadline = now() + 120
        while now() < deadline:
            self.account()
            if not any(self.accounted.get(b["metadata"]["name"]) is None for b in self.list_custom("backups")):
                break
            time.sleep(2)
        self.check_q.join()
        for _ in self.checkers:
            self.check_q.put(None)
        self.check_failed_snaps(final=False)
        deadline = now() + 60
        while self.failed_snaps and now() < deadline:
            time.sleep(2)
            self.check_failed_snaps()
        self.check_failed_snaps(final=True)
        codes = self.ctrl.shutdown()
        for slot, rc in codes.items():
            # A process that had just lost its Lease (the last fault's
            # SIGSTOP) was already exiting 1 when the SIGTERM came.
            if rc != 0 and not (rc == 1 and self.ctrl.lost_lease(slot)):
                self.finding("controller-exit", "-", "controller %s exited %s on SIGTERM" % (slot, rc))
        self.workload.send_signal(signal.SIGTERM)
        self.workload.wait(30)
        for slot in ("a", "b"):
            with open(self.ctrl.log_path(slot), errors="replace") as f:
                if re.search(r"ERROR: (Address|Leak|Thread)Sanitizer|runtime error:", f.read()):
                    self.finding("sanitizer", "-", "sanitizer report in controller-%s.log" % slot)

    def figures(self):
        rows = []
        for slot in ("a", "b"):
            with open(self.ctrl.log_path(slot), errors="replace") as f:
                for line in f:
                    if 'msg="lock released"' in line and "outcome=cut" in line:
                        d = dict(re.findall(r"(\w+)=(\S+)", line))
                        rows.append((int(d["held_ms"]), int(d["overhead_ms"])))
        gap = None
        if self.windows:
            wargs = sum((["--window", "%.6f,%.6f" % w] for w in self.windows), [])
            r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "hack", "ledger", "latency.py"),
                                "--log", os.path.join(self.out, "gtid.jsonl")] + wargs, capture_output=True, text=True)
            try:
                gap = max(w["max_gap_ms"] for w in json.loads(r.stdout)["windows"])
            except Exception:
                gap = "latency.py failed: " + r.stderr[-200:]
        try:
            wl = json.load(open(os.path.join(self.out, "workload.json")))
        except Exception:
            wl = {}
        over = [o for _, o in rows]
        return {
            "seed": self.args.seed, "rounds": self.rounds, "duration_s": round(now() - self.t0),
            "backups_attempted": len(self.accounted), "outcomes": dict(self.outcomes),
            "ledger_checks": dict(self.checked), "faults": dict(self.faults_done), "restores": dict(self.restores),
            "lock_held_ms": {"n": len(self.held_ms), "p50": pct(self.held_ms, 50), "p99": pct(self.held_ms, 99),
                             "max": max(self.held_ms) if self.held_ms else None},
            "held_minus_cut_ms": {"n": len(over), "p50": pct(over, 50), "p99": pct(over, 99),
                                  "max": max(over) if over else None},
            "primary_max_commit_gap_in_lock_ms": gap, "workload": {k: wl.get(k) for k in ("steps", "steps_per_s", "max_gap_ms")},
            "controller_rss_max_mib": round(self.ctrl.rss_max_kib / 1024.0, 1),
            "controller_starts": dict(self.ctrl.starts), "controller_exits": collections.Counter(
                str(rc) for _, rc in self.ctrl.exits),
            "findings": len(self.findings),
        }

    def table(self, fig):
        out = ["", "| soak (seed %d) | |" % fig["seed"], "|---|---|"]

        def row(k, v):
            out.append("| %s | %s |" % (k, v))
        row("duration", "%d s, %d rounds" % (fig["duration_s"], fig["rounds"]))
        row("Backups attempted", fig["backups_attempted"])
        for k, v in sorted(fig["outcomes"].items()):
            row("&nbsp;&nbsp;" + k, v)
        for k, v in sorted(fig["ledger_checks"].items()):
            row("ledger check: " + k, v)
        row("faults injected", ", ".join("%s %d" % kv for kv in sorted(fig["faults"].items())))
        row("restores", ", ".join("%s %d" % kv for kv in sorted(fig["restores"].items())) or "-")
        h, o = fig["lock_held_ms"], fig["held_minus_cut_ms"]
        row("lock held ms p50/p99/max", "%s / %s / %s (n %d)" % (h["p50"], h["p99"], h["max"], h["n"]))
        row("held minus cut ms p50/p99/max", "%s / %s / %s (n %d)" % (o["p50"], o["p99"], o["max"], o["n"]))
        row("primary's largest commit gap in a lock window", "%s ms" % fig["primary_max_commit_gap_in_lock_ms"])
        row("controller RSS max", "%s MiB" % fig["controller_rss_max_mib"])
        row("controller starts / exits", "%s / %s" % (fig["controller_starts"], dict(fig["controller_exits"])))
        inconsistent = fig["ledger_checks"].get("inconsistent", 0)
        kinds = collections.Counter(f["kind"] for f in self.findings)
        row("inconsistent", inconsistent)
        row("locks left / stopped replication", kinds.get("lock-or-replication-left", 0))
        row("orphans", kinds.get("orphan", 0) + kinds.get("failed-snapshots-left", 0))
        row("findings", ", ".join("%s %d" % kv for kv in sorted(kinds.items())) or "0")
        return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cluster-dir", required=True)
    ap.add_argument("--bin", required=True, help="the snapstage controller binary")
    ap.add_argument("--kubectl", required=True)
    ap.add_argument("--out", required=True, help="a folder for logs, the GTID log and verdicts")
    ap.add_argument("--backups", type=int, default=None,
                    help="stop after this many Backups ended (default 200, none with --seconds alone)")
    ap.add_argument("--seconds", type=int, default=0, help="stop after this long (0: no bound)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=40, help="workload steps per second")
    ap.add_argument("--restore-every", type=int, default=10, help="a NewClaims Restore every N rounds (0: none)")
    ap.add_argument("--inplace-every", type=int, default=40, help="an InPlace Restore every N rounds (0: none)")
    ap.add_argument("--max-rss-mib", type=int, default=200)
    ap.add_argument("--parallel", type=int, default=2, help="Backups made together in each round")
    ap.add_argument("--checkers", type=int, default=2, help="ledger checks run at once")
    ap.add_argument("--faults", help="draw only these faults (comma-separated names from faults.py)")
    ap.add_argument("--json-out")
    ap.add_argument("--keep-namespace", action="store_true", help="leave the soak's namespace (default: deleted)")
    args = ap.parse_args()
    if args.backups is None:
        args.backups = 0 if args.seconds else 200
    if args.backups <= 0 and args.seconds <= 0:
        ap.error("give --backups or --seconds")
    # SIGTERM (and SIGINT, which a shell's background job ignores) end the
    # run as an interrupt: the controllers and the workload are stopped and
    # the table of what was done so far is printed.
    def interrupted(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    s = Soak(args)
    s.rounds = 0
    try:
        s.setup()
        s.run()
    except KeyboardInterrupt:
        s.finding("interrupted", "-", "the soak was interrupted")
    except Exception:
        import traceback
        s.finding("soak-error", "-", "the soak itself failed: " + traceback.format_exc()[-1500:])
    finally:
        if hasattr(s, "ctrl"):
            s.finish()
    fig = s.figures()
    fig["findings_list"] = s.findings
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(fig, f, indent=1, default=str)
    for f in s.findings:
        print("finding: %s" % json.dumps(f, default=str))
    print(s.table(fig))
    bad = fig["findings"] > 0 or fig["backups_attempted"] == 0
    print("soak: %s" % ("FAILED (%d findings)" % fig["findings"] if bad else "passed"))
    if not args.keep_namespace:
        try:
            s.core.delete_namespace(s.ns)
        except Exception as e:
            print("soak: could not delete namespace %s: %r" % (s.ns, e))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
