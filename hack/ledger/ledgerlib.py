"""Shared code of the ledger consistency tooling (hack/ledger/): the ledger
model, GTID helpers, the GTID log format and a private mariadbd runner.

Purpose: workload.py writes a deterministic ledger on a MariaDB primary and
logs the GTID of every binlog event group it produced; check.py restores a
snapshot into a private mariadbd and compares it with the state this module
recomputes from that log. Both sides use this one model, so "what step N
does" is defined exactly once.

Invariants:
  * Every effect of step N (and of the DDL round at step N) is a pure
    function of (seed, N, the state produced by the earlier ops): no clock,
    no randomness outside sha256(seed/N).
  * One op = one binlog event group = one GTID. An op that writes a
    non-transactional table (Aria, MyISAM) is always a statement of its own
    (with binlog_format=ROW MariaDB gives it its own GTID even inside BEGIN
    ... COMMIT, logged before the transaction's own GTID, and it survives a
    ROLLBACK); InnoDB changes of a step form the "trx" op. So the expected
    state at a GTID position P is the fold of exactly the ops whose seq_no
    (in the workload's domain) is <= P's.
  * The GTID log is append-only JSON lines: one "header" line (parameters,
    domain, server_id, the GTID after set-up), then one line per op, then
    an optional "summary". A torn last line (log read while written) is
    ignored.
  * The runner never touches the directory it is given: callers pass a
    private copy; stop() always ends the process (SIGTERM, then SIGKILL).
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pymysql

DB = "ledger"

# Default workload parameters (recorded in the log header; the checker uses
# the header's values, never these).
DEFAULTS = {
    "seed": "snapstage-ledger-v1",
    "accounts": 16,          # balances / counters rows
    "initial_balance": 1000,
    "ddl_every": 40,         # K: a DDL round at steps that are multiples of K
    "ddl_keep": 3,           # DDL tables / shape columns live for this many rounds
    "rollback_every": 17,    # steps n with n % R == 0 ROLLBACK their InnoDB part
    "purge_lag": 300,        # step n deletes entry n-lag when (n-lag) % 5 == 0
    "shape_rows": 4,
}

ENGINES = ("InnoDB", "Aria", "MyISAM")


# ---- GTIDs -----------------------------------------------------------------

GTID_RE = re.compile(r"^\s*(\d+)-(\d+)-(\d+)\s*$")


def parse_gtid(s):
    m = GTID_RE.match(s or "")
    if not m:
        raise ValueError("not a GTID: %r" % (s,))
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def parse_pos(s):
    """'0-1-42,1-2-7' -> {0: (1, 42), 1: (2, 7)}; '' -> {}."""
    out = {}
    for part in (s or "").replace("\n", ",").split(","):
        if not part.strip():
            continue
        d, srv, seq = parse_gtid(part)
        if d in out:
            raise ValueError("domain %d twice in %r" % (d, s))
        out[d] = (srv, seq)
    return out


def pos_seq(pos, domain):
    """seq_no of `domain` in a position string (0 if the domain is absent)."""
    return parse_pos(pos).get(domain, (0, 0))[1]


# ---- the ledger model ------------------------------------------------------

def step_params(p, n):
    """What step n moves: (src, dst, amount, memo), from sha256(seed/n)."""
    h = hashlib.sha256(("%s/%d" % (p["seed"], n)).encode()).digest()
    a = p["accounts"]
    src = h[0] % a
    dst = (src + 1 + h[1] % (a - 1)) % a
    amount = 1 + int.from_bytes(h[2:4], "big") % 1000
    memo = h[4:10].hex()
    return src, dst, amount, memo


def is_rollback_step(p, n):
    return p["rollback_every"] > 0 and n % p["rollback_every"] == 0


def ddl_engine(p, n):
    return ENGINES[(n // p["ddl_every"]) % len(ENGINES)]


def ddl_alter_algorithm(p, n):
    return "COPY" if (n // p["ddl_every"]) % 2 else "INSTANT"


def purge_target(p, n):
    t = n - p["purge_lag"]
    return t if t > 0 and t % 5 == 0 else None


def step_ops(p, n):
    """The ops of step n, in execution order, as (op, sql-ish description).
    The trx op is absent on rollback steps. DDL ops follow on multiples of K."""
    ops = ["aria", "myisam"]
    if not is_rollback_step(p, n):
        ops.append("trx")
    if n % p["ddl_every"] == 0:
        old = n - p["ddl_keep"] * p["ddl_every"]
        ops += ["create", "fill", "addcol", "setcol"]
        if old > 0:
            ops += ["drop", "dropcol"]
    return ops


def op_is_transactional(p, op, n):
    if op == "fill":
        return ddl_engine(p, n) == "InnoDB"
    return op in ("trx", "setcol")


class Model:
    """The expected content of database `ledger`: tables -> engine, columns,
    rows (pk -> tuple in column order). Starts at the state right after the
    workload's set-up; apply(op, n) plays one op."""

    def __init__(self, p):
        self.p = p
        a = p["accounts"]
        self.tables = {
            "entries": {"engine": "InnoDB", "columns": ["seq", "src", "dst", "amount", "memo"], "rows": {}},
            "balances": {"engine": "InnoDB", "columns": ["account", "balance", "version", "last_step"],
                         "rows": {i: (i, p["initial_balance"], 0, 0) for i in range(a)}},
            "audit": {"engine": "InnoDB", "columns": ["step", "src_balance", "dst_balance"], "rows": {}},
            "journal_aria": {"engine": "Aria", "columns": ["step", "src", "dst", "amount", "memo"], "rows": {}},
            "counters_myisam": {"engine": "MyISAM", "columns": ["account", "n", "last_step", "total"],
                                "rows": {i: (i, 0, 0, 0) for i in range(a)}},
            "shape": {"engine": "InnoDB", "columns": ["id"],
                      "rows": {i: (i,) for i in range(1, p["shape_rows"] + 1)}},
        }

    def copy(self):
        m = Model.__new__(Model)
        m.p = self.p
        m.tables = {k: {"engine": v["engine"], "columns": list(v["columns"]), "rows": dict(v["rows"])}
                    for k, v in self.tables.items()}
        return m

    def apply(self, op, n):
        p, t = self.p, self.tables
        src, dst, amount, memo = step_params(p, n)
        if op == "aria":
            t["journal_aria"]["rows"][n] = (n, src, dst, amount, memo)
        elif op == "myisam":
            _, cnt, _, total = t["counters_myisam"]["rows"][src]
            t["counters_myisam"]["rows"][src] = (src, cnt + 1, n, total + amount)
        elif op == "trx":
            t["entries"]["rows"][n] = (n, src, dst, amount, memo)
            b = t["balances"]["rows"]
            _, bal, ver, _ = b[src]
            b[src] = (src, bal - amount, ver + 1, n)
            _, bal, ver, _ = b[dst]
            b[dst] = (dst, bal + amount, ver + 1, n)
            t["audit"]["rows"][n] = (n, b[src][1], b[dst][1])
            old = purge_target(p, n)
            if old is not None:
                t["entries"]["rows"].pop(old, None)
        elif op == "create":
            t["ddl_%d" % n] = {"engine": ddl_engine(p, n), "columns": ["id", "step", "note"], "rows": {}}
        elif op == "fill":
            t["ddl_%d" % n]["rows"][1] = (1, n, memo[:8])
        elif op == "addcol":
            s = t["shape"]
            s["columns"].append("c%d" % n)
            s["rows"] = {k: v + (n % 1000,) for k, v in s["rows"].items()}
        elif op == "setcol":
            s = t["shape"]
            i = s["columns"].index("c%d" % n)
            s["rows"] = {k: v[:i] + (v[i] + k,) + v[i + 1:] for k, v in s["rows"].items()}
        elif op == "drop":
            t.pop("ddl_%d" % (n - p["ddl_keep"] * p["ddl_every"]), None)
        elif op == "dropcol":
            s = t["shape"]
            i = s["columns"].index("c%d" % (n - p["ddl_keep"] * p["ddl_every"]))
            s["columns"].pop(i)
            s["rows"] = {k: v[:i] + v[i + 1:] for k, v in s["rows"].items()}
        else:
            raise ValueError("unknown op %r" % op)


# ---- schema and SQL of the workload -----------------------------------------

def setup_statements(p):
    a = p["accounts"]
    yield "CREATE DATABASE %s" % DB
    yield ("CREATE TABLE %s.entries (seq BIGINT NOT NULL PRIMARY KEY, src INT NOT NULL, dst INT NOT NULL, "
           "amount INT NOT NULL, memo VARCHAR(16) NOT NULL) ENGINE=InnoDB" % DB)
    yield ("CREATE TABLE %s.balances (account INT NOT NULL PRIMARY KEY, balance BIGINT NOT NULL, "
           "version INT NOT NULL, last_step BIGINT NOT NULL) ENGINE=InnoDB" % DB)
    yield ("CREATE TABLE %s.audit (step BIGINT NOT NULL PRIMARY KEY, src_balance BIGINT NOT NULL, "
           "dst_balance BIGINT NOT NULL) ENGINE=InnoDB" % DB)
    yield ("CREATE TABLE %s.journal_aria (step BIGINT NOT NULL PRIMARY KEY, src INT NOT NULL, dst INT NOT NULL, "
           "amount INT NOT NULL, memo VARCHAR(16) NOT NULL) ENGINE=Aria" % DB)
    yield ("CREATE TABLE %s.counters_myisam (account INT NOT NULL PRIMARY KEY, n INT NOT NULL, "
           "last_step BIGINT NOT NULL, total BIGINT NOT NULL) ENGINE=MyISAM" % DB)
    yield "CREATE TABLE %s.shape (id INT NOT NULL PRIMARY KEY) ENGINE=InnoDB" % DB
    yield "INSERT INTO %s.balances VALUES %s" % (
        DB, ",".join("(%d,%d,0,0)" % (i, p["initial_balance"]) for i in range(a)))
    yield "INSERT INTO %s.counters_myisam VALUES %s" % (DB, ",".join("(%d,0,0,0)" % i for i in range(a)))
    yield "INSERT INTO %s.shape VALUES %s" % (DB, ",".join("(%d)" % i for i in range(1, p["shape_rows"] + 1)))


def ddl_sql(p, op, n):
    """The single statement of a DDL-round op."""
    k = p["ddl_keep"] * p["ddl_every"]
    memo = step_params(p, n)[3]
    if op == "create":
        return ("CREATE TABLE %s.ddl_%d (id INT NOT NULL PRIMARY KEY, step BIGINT NOT NULL, "
                "note VARCHAR(16) NOT NULL) ENGINE=%s" % (DB, n, ddl_engine(p, n)))
    if op == "fill":
        return "INSERT INTO %s.ddl_%d VALUES (1, %d, '%s')" % (DB, n, n, memo[:8])
    if op == "addcol":
        return "ALTER TABLE %s.shape ADD COLUMN c%d INT NOT NULL DEFAULT %d, ALGORITHM=%s" % (
            DB, n, n % 1000, ddl_alter_algorithm(p, n))
    if op == "setcol":
        return "UPDATE %s.shape SET c%d = c%d + id" % (DB, n, n)
    if op == "drop":
        return "DROP TABLE %s.ddl_%d" % (DB, n - k)
    if op == "dropcol":
        return "ALTER TABLE %s.shape DROP COLUMN c%d" % (DB, n - k)
    raise ValueError(op)


# ---- the GTID log ------------------------------------------------------------

class LogError(Exception):
    pass


def read_log(path):
    """-> (header, ops, summary): ops = [(seq, op, step, record)] sorted by seq."""
    header, ops, summary = None, [], None
    with open(path) as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            if i >= len(lines) - 2:  # torn last line of a log being written
                break
            raise LogError("%s:%d: not JSON" % (path, i + 1))
        if "header" in rec:
            if header is not None:
                raise LogError("%s: two headers (append of another run?)" % path)
            header = rec["header"]
        elif "summary" in rec:
            summary = rec["summary"]
        elif "gtid" in rec:
            if header is None:
                raise LogError("%s:%d: op before the header" % (path, i + 1))
            d, _, seq = parse_gtid(rec["gtid"])
            if d != header["domain"]:
                raise LogError("%s:%d: GTID %s not in the workload's domain %d" % (
                    path, i + 1, rec["gtid"], header["domain"]))
            ops.append((seq, rec["op"], rec["step"], rec))
    if header is None:
        raise LogError("%s: no header line (has the workload finished its set-up?)" % path)
    ops.sort(key=lambda o: o[0])
    for a, b in zip(ops, ops[1:]):
        if a[0] == b[0]:
            raise LogError("%s: GTID seq %d logged twice" % (path, a[0]))
    return header, ops, summary


# ---- a private mariadbd -------------------------------------------------------

MARIADBD = "/usr/sbin/mariadbd"
INNODB_FLAGS = ["--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M"]  # as hack/sim/node.py


class StartError(Exception):
    def __init__(self, msg, log_tail=""):
        super().__init__(msg)
        self.log_tail = log_tail


def rewrite_log_indexes(datadir, bindir):
    """MariaDB writes absolute paths into mysql-bin.index, relay-bin.index and
    relay-log.info (in the sim: STATE/mnt/mysql{,-binlog}/...). Point every
    absolute path whose file name exists in the copy at the copy; returns the
    list of (file, old, new) rewrites."""
    done = []
    names = {}
    for d in (bindir, datadir):
        if d and os.path.isdir(d):
            for f in os.listdir(d):
                names.setdefault(f, os.path.join(d, f))
    for d in {datadir, bindir}:
        if not d or not os.path.isdir(d):
            continue
        for f in os.listdir(d):
            if not (f.endswith(".index") or f == "relay-log.info"):
                continue
            path = os.path.join(d, f)
            with open(path) as fh:
                lines = fh.read().split("\n")
            changed = False
            for i, line in enumerate(lines):
                if line.startswith("/"):
                    base = os.path.basename(line)
                    want = names.get(base)
                    if want is None:  # e.g. a relay log not yet created: same dir as the index
                        want = os.path.join(d, base)
                    if want != line:
                        done.append((path, line, want))
                        lines[i] = want
                        changed = True
            if changed:
                with open(path, "w") as fh:
                    fh.write("\n".join(lines))
    return done


class PrivateServer:
    """mariadbd on a directory copy: Unix socket only (--skip-networking),
    --skip-grant-tables (no password needed or handled), --skip-slave-start,
    and the sim node agent's InnoDB sizes and binlog layout. Its --tmpdir is
    private (workdir/tmp): a starting mariadbd deletes every #sql* file in
    its tmpdir, so with the shared /tmp two checks at once broke each
    other's temporary tables ("Error on delete of '/tmp/#sql-temptable-…'",
    seen by the soak with two checkers)."""

    def __init__(self, workdir, datadir, bindir, server_id=4242, extra=()):
        self.workdir, self.datadir, self.bindir = workdir, datadir, bindir
        self.sock = os.path.join(workdir, "sock")
        self.tmpdir = os.path.join(workdir, "tmp")
        self.errlog = os.path.join(workdir, "error.log")
        self.server_id = server_id
        self.extra = list(extra)
        self.proc = None
        self.start_s = None

    def argv(self):
        a = [MARIADBD, "--no-defaults"]
        if os.geteuid() == 0:
            a.append("--user=root")
        a += ["--datadir=" + self.datadir, "--socket=" + self.sock, "--skip-networking",
              "--skip-grant-tables", "--pid-file=" + os.path.join(self.workdir, "mariadbd.pid"),
              "--log-error=" + self.errlog, "--server-id=%d" % self.server_id,
              "--log-bin=" + os.path.join(self.bindir, "mysql-bin"), "--binlog-format=ROW",
              "--log-slave-updates", "--gtid-strict-mode=1",
              "--relay-log=" + os.path.join(self.datadir, "relay-bin"), "--skip-slave-start",
              "--skip-name-resolve", "--tmpdir=" + self.tmpdir] + INNODB_FLAGS + self.extra
        return a

    def log_tail(self, n=25):
        try:
            with open(self.errlog, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def start(self, timeout=120):
        t0 = time.monotonic()
        os.makedirs(self.tmpdir, mode=0o700, exist_ok=True)
        console = open(os.path.join(self.workdir, "console.log"), "ab")
        try:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=console,
                                         stderr=subprocess.STDOUT, close_fds=True, cwd=self.workdir)
        finally:
            console.close()
        while True:
            if self.proc.poll() is not None:
                raise StartError("mariadbd exited with status %s during start-up" % self.proc.returncode,
                                 self.log_tail())
            if os.path.exists(self.sock):
                try:
                    self.connect(timeout=2).close()
                    self.start_s = time.monotonic() - t0
                    return
                except pymysql.err.MySQLError:
                    pass
            if time.monotonic() - t0 > timeout:
                raise StartError("mariadbd did not accept connections within %ds" % timeout, self.log_tail())
            time.sleep(0.1)

    def connect(self, timeout=30):
        return pymysql.connect(unix_socket=self.sock, user="root", connect_timeout=timeout,
                               read_timeout=600, autocommit=True)

    def stop(self, grace=30):
        p = self.proc
        if p is None or p.poll() is not None:
            return
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        except ProcessLookupError:
            pass


def copy_tree(src, dst):
    """cp -a (owners, modes, times; reflinks where the file system can)."""
    r = subprocess.run(["cp", "-a", "--reflink=auto", "-T", src, dst], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise OSError("copy of %s failed: %s" % (src, r.stderr.strip()[:300]))


class UsageError(Exception):
    pass


def locate_snapshot(data, binlog, contents, snapshots_dir):
    """The data and binlog directories of a snapshot, given as directories or
    as VolumeSnapshotContent names under snapshots_dir (default
    $SNAPSTAGE_CLUSTER_DIR/sim/snapshots; which is which is detected)."""
    if contents:
        base = snapshots_dir or os.path.join(os.environ.get("SNAPSTAGE_CLUSTER_DIR", ""), "sim", "snapshots")
        for name in contents:
            d = os.path.join(base, name)
            if not os.path.isdir(d):
                raise UsageError("content %s: no directory %s" % (name, d))
            if looks_like_datadir(d):
                if data:
                    raise UsageError("two data directories (%s, %s)" % (data, d))
                data = d
            elif looks_like_bindir(d):
                if binlog:
                    raise UsageError("two binlog directories (%s, %s)" % (binlog, d))
                binlog = d
            else:
                raise UsageError("content %s (%s) holds neither a data directory nor binary logs" % (name, d))
    if not data:
        raise UsageError("no data directory: give --data or the data volume's --content")
    if not looks_like_datadir(data):
        raise UsageError("%s does not look like a MariaDB data directory" % data)
    if binlog and not looks_like_bindir(binlog):
        raise UsageError("%s holds no mysql-bin.index" % binlog)
    return data, binlog


def looks_like_datadir(d):
    return os.path.isdir(os.path.join(d, "mysql")) or os.path.exists(os.path.join(d, "ibdata1"))


def looks_like_bindir(d):
    return os.path.exists(os.path.join(d, "mysql-bin.index"))


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
