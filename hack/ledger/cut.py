#!/usr/bin/python3
"""Manual "backup" driver for validating check.py without the controller.

Purpose: cuts VolumeSnapshots of every claim of one replica Pod (by default
mariadb-1: data-mariadb-1 and binlog-mariadb-1) the way snapstage will, or
deliberately wrongly, and prints one JSON object describing the cut (the
snapshot and content names, the recorded position, lock timings) that
check.py accepts as --position-json.

Usage:
  cut.py --namespace NS [--pod mariadb-1] [--mode lock|no-lock|early-release]
         [--delay-ms 300] [--read-position before|after] [--name PREFIX]
         [--timeout-s 30] [--wait-ready] [--stop-sql-thread] [--kubeconfig F]
Modes:
  lock           BACKUP STAGE START, FLUSH, BLOCK_DDL, BLOCK_COMMIT; read the
                 position; create the snapshots; wait until all have
                 status.creationTime (the storage has cut them); BACKUP STAGE
                 END. A consistent backup.
  no-lock        read the position (no lock), wait --delay-ms while the
                 workload goes on, create the snapshots and wait for the cut;
                 with --read-position after, the position is read after the
                 cut instead. An inconsistent backup.
  early-release  like lock, but BACKUP STAGE END right after reading the
                 position, then --delay-ms, then the snapshots. Inconsistent.
  --stop-sql-thread (with lock): STOP SLAVE SQL_THREAD before the stages and
                 START SLAVE SQL_THREAD after END, as mariabackup's
                 --safe-slave-backup does. Without it a replica under
                 BLOCK_COMMIT may already hold the change of the next
                 non-transactional group (Aria/MyISAM) whose GTID is not in
                 gtid_slave_pos yet (check.py reports it as "pending"); with
                 it the SQL thread stops between groups, so the data is
                 exactly at gtid_slave_pos. The primary is not affected.
Exit 0 with the JSON on stdout, 1 if the cut failed (the lock is always
released, snapshots made so far are listed), 2 on bad usage.

Invariants: uses only the Python standard library and pymysql: Kubernetes is
reached over HTTPS with the kubeconfig's credentials (converted to JSON once
by `kubectl config view --raw`); the root password is read from the Secret
the Pod's MARIADB_ROOT_PASSWORD refers to (or $LEDGER_PASSWORD) and never
printed. Never reads ledger tables while holding the lock: on a replica
the SQL thread can hold an Aria table lock while it waits for the backup
lock, so such a read would deadlock.
"""

import argparse
import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pymysql

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class CutError(Exception):
    pass


def find_kubectl():
    k = os.environ.get("KUBECTL")
    if k:
        return k
    k = shutil.which("kubectl")
    if k:
        return k
    d = subprocess.run([os.path.join(ROOT, "hack", "tools.sh")], stdout=subprocess.PIPE, text=True,
                       check=True).stdout.strip()
    return os.path.join(d, "kubectl")


class Kube:
    """Minimal REST client: JSON in, JSON out, bearer token or client cert."""

    def __init__(self, kubeconfig):
        env = dict(os.environ)
        if kubeconfig:
            env["KUBECONFIG"] = kubeconfig
        out = subprocess.run([find_kubectl(), "config", "view", "--raw", "--minify", "-o", "json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        if out.returncode != 0:
            raise CutError("kubectl config view: %s" % out.stderr.strip())
        cfg = json.loads(out.stdout)
        cluster = cfg["clusters"][0]["cluster"]
        user = cfg["users"][0]["user"] if cfg.get("users") else {}
        self.server = cluster["server"].rstrip("/")
        ctx = ssl.create_default_context()
        if cluster.get("insecure-skip-tls-verify"):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif cluster.get("certificate-authority-data"):
            ctx.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        elif cluster.get("certificate-authority"):
            ctx.load_verify_locations(cafile=cluster["certificate-authority"])
        self.headers = {"Accept": "application/json"}
        token = user.get("token")
        if not token and user.get("tokenFile"):
            with open(user["tokenFile"]) as f:
                token = f.read().strip()
        if token:
            self.headers["Authorization"] = "Bearer " + token
        cert, key = user.get("client-certificate"), user.get("client-key")
        if user.get("client-certificate-data"):
            with tempfile.TemporaryDirectory() as td:
                cert, key = os.path.join(td, "c"), os.path.join(td, "k")
                for p, field in ((cert, "client-certificate-data"), (key, "client-key-data")):
                    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
                    with os.fdopen(fd, "wb") as f:
                        f.write(base64.b64decode(user[field]))
                ctx.load_cert_chain(cert, key)
        elif cert:
            ctx.load_cert_chain(cert, key)
        self.ctx = ctx

    def request(self, method, path, body=None, ok404=False):
        data = json.dumps(body).encode() if body is not None else None
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.server + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=15) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            if ok404 and e.code == 404:
                return None
            msg = e.read().decode(errors="replace")
            try:
                msg = json.loads(msg).get("message", msg)
            except ValueError:
                pass
            raise CutError("%s %s: HTTP %d: %s" % (method, path, e.code, msg[:300]))


def now_ms(t0):
    return round((time.monotonic() - t0) * 1000, 1)


class Cutter:
    def __init__(self, args):
        self.args = args
        self.kube = Kube(args.kubeconfig)
        self.ns = args.namespace
        self.out = {"mode": args.mode, "namespace": self.ns, "pod": args.pod, "snapshots": []}
        self.conn = None
        self.sql_stopped = False
        self.out["stop_sql_thread"] = bool(args.stop_sql_thread)

    def pod_info(self):
        pod = self.kube.request("GET", "/api/v1/namespaces/%s/pods/%s" % (self.ns, self.args.pod))
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            raise CutError("pod %s has no podIP" % self.args.pod)
        spec = pod["spec"]
        claims = [v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes") or []
                  if v.get("persistentVolumeClaim")]
        if not claims:
            raise CutError("pod %s has no persistentVolumeClaim volumes" % self.args.pod)
        main = next((c for c in spec["containers"] if any(p.get("name") == "mysql" for p in c.get("ports") or [])),
                    spec["containers"][0])
        port = next((p["containerPort"] for p in main.get("ports") or [] if p.get("name") == "mysql"), 3306)
        password = os.environ.get("LEDGER_PASSWORD")
        if password is None:
            for e in main.get("env") or []:
                ref = ((e.get("valueFrom") or {}).get("secretKeyRef")) if e["name"] == "MARIADB_ROOT_PASSWORD" else None
                if ref:
                    sec = self.kube.request("GET", "/api/v1/namespaces/%s/secrets/%s" % (self.ns, ref["name"]))
                    password = base64.b64decode(sec["data"][ref["key"]]).decode()
                elif e["name"] == "MARIADB_ROOT_PASSWORD":
                    password = e.get("value", "")
        if password is None:
            raise CutError("no root password: the pod has no MARIADB_ROOT_PASSWORD and $LEDGER_PASSWORD is unset")
        self.out.update(pod_ip=ip, port=port, claims=claims)
        return ip, port, claims, password

    def sql(self, stmt):
        cur = self.conn.cursor()
        cur.execute(stmt)
        return cur.fetchall() if cur.description else None

    def read_position(self):
        cur = self.conn.cursor(pymysql.cursors.DictCursor)
        cur.execute("SELECT @@gtid_binlog_pos AS b, @@gtid_slave_pos AS s, @@gtid_current_pos AS c")
        r = cur.fetchone()
        pos = {"gtidBinlogPos": r["b"], "gtidSlavePos": r["s"], "gtidCurrentPos": r["c"]}
        cur.execute("SHOW MASTER STATUS")
        m = cur.fetchone()
        if m:
            pos.update(binlogFile=m["File"], binlogPosition=int(m["Position"]))
        cur.execute("SHOW SLAVE STATUS")
        s = cur.fetchone()
        if s:
            pos.update(primaryBinlogFile=s["Relay_Master_Log_File"], primaryBinlogPosition=int(s["Exec_Master_Log_Pos"]))
        self.out["position"] = pos
        self.out["position_read_at"] = round(time.time(), 4)
        return pos

    def snapshot_all(self, claims):
        prefix = self.args.name or "ledger-cut-%d-%d" % (int(time.time() * 1000), os.getpid())
        t0 = time.monotonic()
        for claim in claims:
            name = "%s-%s" % (prefix, claim.split("-")[0])
            if any(s["name"] == name for s in self.out["snapshots"]):
                name = "%s-%s" % (prefix, claim)
            body = {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
                    "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "ledger-cut"},
                                 "annotations": {"ledger.snapstage.io/mode": self.args.mode}},
                    "spec": {"source": {"persistentVolumeClaimName": claim}}}
            self.kube.request("POST", "/apis/snapshot.storage.k8s.io/v1/namespaces/%s/volumesnapshots" % self.ns, body)
            self.out["snapshots"].append({"name": name, "claim": claim})
        pending = list(self.out["snapshots"])
        deadline = time.monotonic() + self.args.timeout_s
        while pending:
            for s in list(pending):
                vs = self.kube.request("GET", "/apis/snapshot.storage.k8s.io/v1/namespaces/%s/volumesnapshots/%s" % (
                    self.ns, s["name"]))
                st = vs.get("status") or {}
                if st.get("error"):
                    raise CutError("snapshot %s: %s" % (s["name"], st["error"].get("message")))
                if st.get("creationTime"):
                    s["content"] = st.get("boundVolumeSnapshotContentName")
                    s["creationTime"] = st["creationTime"]
                    pending.remove(s)
            if pending:
                if time.monotonic() > deadline:
                    raise CutError("no creationTime on %s after %ss" % (
                        ", ".join(s["name"] for s in pending), self.args.timeout_s))
                time.sleep(0.02)
        self.out["cut_wait_ms"] = now_ms(t0)
        self.out["contents"] = [s["content"] for s in self.out["snapshots"]]

    def lock(self):
        stages = {}
        t0 = time.monotonic()
        self.out["lock"] = {"start": round(time.time(), 4), "stages_ms": stages}
        for st in ("START", "FLUSH", "BLOCK_DDL", "BLOCK_COMMIT"):
            t = time.monotonic()
            self.sql("BACKUP STAGE " + st)
            stages[st] = now_ms(t)
        self.lock_t0 = t0

    def unlock(self):
        if "lock" in self.out and "end" not in self.out["lock"]:
            try:
                self.sql("BACKUP STAGE END")
            finally:
                self.out["lock"]["end"] = round(time.time(), 4)
                self.out["lock"]["held_ms"] = now_ms(self.lock_t0)

    def run(self):
        a = self.args
        ip, port, claims, password = self.pod_info()
        self.conn = pymysql.connect(host=ip, port=port, user="root", password=password, connect_timeout=10,
                                    read_timeout=max(30, a.timeout_s + 10), autocommit=True)
        self.out["window"] = {"start": round(time.time(), 4)}  # from the first to the last thing done to the replica
        try:
            self.sql("SET SESSION lock_wait_timeout = %d" % a.lock_wait_timeout)
            self.out["connection_id"] = self.sql("SELECT CONNECTION_ID()")[0][0]
            if a.mode == "lock":
                if a.stop_sql_thread:
                    t = time.monotonic()
                    self.sql_t0 = t
                    self.sql("STOP SLAVE SQL_THREAD")
                    self.sql_stopped = True
                    self.out["sql_thread_stop_ms"] = now_ms(t)
                self.lock()
                self.read_position()
                self.snapshot_all(claims)
                self.unlock()
            elif a.mode == "early-release":
                self.lock()
                self.read_position()
                self.unlock()
                time.sleep(a.delay_ms / 1000.0)
                self.snapshot_all(claims)
            else:
                if a.read_position == "before":
                    self.read_position()
                    time.sleep(a.delay_ms / 1000.0)
                self.snapshot_all(claims)
                if a.read_position == "after":
                    time.sleep(a.delay_ms / 1000.0)
                    self.read_position()
        finally:
            try:
                self.unlock()
            finally:
                try:
                    if self.sql_stopped:
                        self.sql("START SLAVE SQL_THREAD")
                        self.out["sql_thread_stopped_ms"] = now_ms(self.sql_t0)
                finally:
                    self.conn.close()
                    self.out["window"]["end"] = round(time.time(), 4)
        if a.wait_ready:
            deadline = time.monotonic() + 120
            for s in self.out["snapshots"]:
                while True:
                    vs = self.kube.request("GET", "/apis/snapshot.storage.k8s.io/v1/namespaces/%s/volumesnapshots/%s" % (
                        self.ns, s["name"]))
                    if (vs.get("status") or {}).get("readyToUse"):
                        break
                    if time.monotonic() > deadline:
                        raise CutError("snapshot %s not readyToUse after 120s" % s["name"])
                    time.sleep(0.1)
        self.freeze_stats()

    def freeze_stats(self):
        """Best effort: the storage sim's freeze/copy times of these cuts."""
        d = self.args.cluster_dir or os.environ.get("SNAPSTAGE_CLUSTER_DIR")
        path = os.path.join(d, "logs", "sim-storage.log") if d else None
        if not path or not os.path.exists(path):
            return
        want = {s.get("content") for s in self.out["snapshots"]}
        with open(path, errors="replace") as f:
            for line in f:
                if " cut " not in line:
                    continue
                kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
                if kv.get("content") in want:
                    for s in self.out["snapshots"]:
                        if s.get("content") == kv["content"]:
                            s["freeze_ms"] = float(kv.get("freeze_ms", "nan"))
                            s["copy_ms"] = float(kv.get("copy_ms", "nan"))


def main():
    ap = argparse.ArgumentParser(description="Cut VolumeSnapshots of a replica with or without the backup lock.")
    ap.add_argument("--namespace", "-n", required=True)
    ap.add_argument("--pod", default="mariadb-1")
    ap.add_argument("--mode", choices=("lock", "no-lock", "early-release"), default="lock")
    ap.add_argument("--delay-ms", type=int, default=300)
    ap.add_argument("--read-position", choices=("before", "after"), default="before")
    ap.add_argument("--name", help="VolumeSnapshot name prefix (default ledger-cut-<ms>-<pid>)")
    ap.add_argument("--timeout-s", type=float, default=30)
    ap.add_argument("--lock-wait-timeout", type=int, default=10)
    ap.add_argument("--wait-ready", action="store_true")
    ap.add_argument("--stop-sql-thread", action="store_true",
                    help="lock mode: stop the replica's SQL thread around the lock (see the docstring)")
    ap.add_argument("--kubeconfig", default=None)
    ap.add_argument("--cluster-dir", default=None, help="for freeze times (default $SNAPSTAGE_CLUSTER_DIR)")
    args = ap.parse_args()
    c = None
    try:
        c = Cutter(args)
        c.run()
    except (CutError, pymysql.err.MySQLError, OSError) as e:
        out = c.out if c else {"mode": args.mode}
        out["error"] = str(e)
        print(json.dumps(out), flush=True)
        return 1
    print(json.dumps(c.out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
