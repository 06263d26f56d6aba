#!/usr/bin/python3
"""faultproxy.py - a fault-injecting HTTPS reverse proxy for the local API
server, so tests can make the Kubernetes API slow or failing on demand, per
request path, and see what a client does (issue 14: the backup lock stays
bounded whatever the API does).

    client --HTTPS--> faultproxy (127.0.0.1:PORT) --HTTPS--> kube-apiserver
                          ^
    tests --HTTP--> control (127.0.0.1:CONTROL): rules, request log

Usage:
    hack/faultproxy.py --cluster-dir DIR [--port N] [--control-port N]
        [--write-kubeconfig FILE] [--ports-file FILE] [--rules FILE]
        [--log FILE]
    hack/faultproxy.py --kubeconfig FILE [--ca-cert FILE --ca-key FILE] ...

--cluster-dir DIR is a hack/cluster.sh cluster: it means --kubeconfig
DIR/kubeconfig, --ca-cert DIR/pki/ca.crt, --ca-key DIR/pki/ca.key. The
kubeconfig's current context names the API server (it must be on 127.0.0.1,
localhost or ::1: the proxy never connects anywhere else), its CA and the
user's bearer token. Ports default to 0 (the kernel picks free ones).

Honest proxying:
  * TLS on both sides. The proxy serves a certificate for IP 127.0.0.1 it
    makes at start with the openssl command, signed by --ca-cert/--ca-key
    (the cluster CA, so clients that trust the cluster keep verifying), or
    self-signed without them. It verifies the API server with the
    kubeconfig's CA.
  * Credentials pass through: the client's Authorization header goes to
    the API server unchanged; the proxy adds none. Client certificates
    cannot cross a TLS-terminating proxy, so clients must use a token (the
    kubeconfig --write-kubeconfig writes carries the upstream user's token).
  * Requests and answers are relayed byte for byte apart from hop-by-hop
    headers; a streamed answer (a watch) is relayed chunk by chunk as it
    arrives. HTTP/1.1 only (ALPN offers http/1.1), no Upgrade (exec,
    port-forward).

--write-kubeconfig FILE writes (mode 0600, once listening) a kubeconfig for
clients: server https://127.0.0.1:PORT, the CA that signed the proxy's
certificate, the upstream user's token (or tokenFile) and namespace.
--ports-file FILE writes FAULTPROXY_PORT=, FAULTPROXY_CONTROL_PORT= and
FAULTPROXY_PID= lines (shell-sourceable), also once listening. A line
"faultproxy: listening ..." on stdout says the same.

Fault rules (JSON). The control API takes {"rules": [RULE, ...]}; the first
rule that matches a request and has hits left applies, the others are not
counted. A RULE is an object with:
    method       "POST", ...: only this method (any when absent)
    path_regex   re.search on the path (no query), e.g. "/volumesnapshots$"
    query_regex  re.search on the query string, e.g. "watch=(1|true)"
    times        apply to this many requests, then never again (unlimited)
    delay_ms     wait this long before anything else
    status       answer this status without forwarding (a metav1.Status
                 body with reason and message; "reason", "message" override)
    retry_after  with status: a Retry-After header (seconds) and
                 details.retryAfterSeconds
    drop         "request" (or true): close the connection without an
                 answer, never forwarding; "response": forward, wait for the
                 API server's answer (the request took effect), then close
                 without relaying it
    response_delay_ms  forwarded requests only: wait this long after the
                 API server answered, before relaying
A rule with no action only counts its hits. Unknown keys are refused.

Control API (plain HTTP on 127.0.0.1:CONTROL; JSON answers):
    GET    /faults      {"rules": [RULE + "hits": N, ...]}
    POST   /faults      replace all rules (PUT too); 400 and a message when
                        a rule is invalid, leaving the old rules in place
    DELETE /faults      no rules: a plain proxy
    GET    /requests    {"requests": [{"seq", "ts", "method", "path",
                        "query", "status", "ms", "rule", "action"}, ...]}
                        the last 2,000, oldest first; ?since=SEQ for newer
    DELETE /requests    forget them
    GET    /healthz     "ok"
e.g.  curl -sS -X POST 127.0.0.1:$CTRL/faults -d '{"rules": [
        {"method": "POST", "path_regex": "/volumesnapshots$", "delay_ms": 3000},
        {"path_regex": "/status$", "status": 429, "retry_after": 5, "times": 2},
        {"path_regex": "/backups/", "drop": "response"}]}'

Every request gets one log line (stderr, or --log FILE) when it ends:
    ts=... method=POST path=/apis/... status=201 ms=3012 rule=0 action="delay 3000 ms"
rule is "-" when none applied; status is "-" when no answer was sent
(dropped); "; failed: <error>" ends the action when either connection
failed midway (e.g. the client left a watch). Rule changes, TLS handshake
failures and the stop are logged too.

Bounds: listens on 127.0.0.1 only, connects to the kubeconfig's loopback
API server only, keeps at most 2,000 log entries; its key and certificate
live in a private temporary directory removed at start-up once loaded.
SIGTERM or SIGINT stops it (exit 0) without waiting for open streams.
Needs only Debian's python3 and openssl (python3-yaml for YAML kubeconfigs;
JSON ones need nothing more).
"""

import argparse
import base64
import collections
import http.client
import http.server
import ipaddress
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authorization",
    "proxy-authenticate", "te", "trailer", "trailers", "transfer-encoding",
    "upgrade",
}
LOG_MAX = 2000
MAX_BODY = 64 << 20
MAX_DELAY_MS = 600000
REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 409: "Conflict", 410: "Expired",
    422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
    503: "ServiceUnavailable", 504: "Timeout",
}
RULE_KEYS = {
    "method", "path_regex", "query_regex", "times", "delay_ms", "status",
    "retry_after", "reason", "message", "drop", "response_delay_ms",
}


def die(msg):
    print(f"faultproxy: error: {msg}", file=sys.stderr)
    sys.exit(2)


def now_ts():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
        ".%03dZ" % int(t % 1 * 1000)


# ---- configuration -----------------------------------------------------------

def load_kubeconfig(path):
    """The current context's server, CA (PEM bytes or None), TLS options,
    credentials and namespace, from a JSON or YAML kubeconfig."""
    with open(path, "rb") as f:
        text = f.read()
    try:
        doc = json.loads(text)
    except ValueError:
        try:
            import yaml  # python3-yaml, only for YAML kubeconfigs
        except ImportError:
            die(f"{path} is not JSON and python3-yaml is not installed")
        doc = yaml.safe_load(text)
    base = os.path.dirname(os.path.abspath(path))

    def named(kind, name):
        for item in doc.get(kind) or []:
            if item.get("name") == name:
                return item.get(kind[:-1]) or {}
        die(f"{path}: no {kind[:-1]} named {name!r}")

    ctx = named("contexts", doc.get("current-context"))
    cluster = named("clusters", ctx.get("cluster"))
    user = named("users", ctx.get("user")) if ctx.get("user") else {}
    ca = None
    if cluster.get("certificate-authority-data"):
        ca = base64.b64decode(cluster["certificate-authority-data"])
    elif cluster.get("certificate-authority"):
        with open(os.path.join(base, cluster["certificate-authority"]), "rb") as f:
            ca = f.read()
    token_file = user.get("tokenFile")
    if token_file:
        token_file = os.path.join(base, token_file)
    if not user.get("token") and not token_file:
        die(f"{path}: the user has no token; client certificates cannot pass "
            "a TLS-terminating proxy (use a token user)")
    return {
        "server": cluster.get("server", ""),
        "ca": ca,
        "insecure": bool(cluster.get("insecure-skip-tls-verify")),
        "server_name": cluster.get("tls-server-name"),
        "token": user.get("token"),
        "token_file": token_file,
        "namespace": ctx.get("namespace") or "default",
    }


def loopback_upstream(server):
    u = urllib.parse.urlsplit(server)
    if u.scheme != "https" or not u.hostname:
        die(f"upstream {server!r} is not an https:// URL")
    host = u.hostname
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise ValueError
        except ValueError:
            die(f"upstream {server!r} is not on this machine's loopback")
    return host, u.port or 443


def make_serving_cert(workdir, ca_cert, ca_key):
    """A key and certificate for IP 127.0.0.1, signed by the CA when given,
    else self-signed. Returns (cert, key, PEM of the CA clients must trust)."""
    key, cert = os.path.join(workdir, "proxy.key"), os.path.join(workdir, "proxy.crt")
    ext = os.path.join(workdir, "proxy.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth\n")

    def run(*argv):
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            die(f"{argv[0]} {argv[1]} failed: {r.stderr.strip()[-500:]}")

    if ca_cert and ca_key:
        csr = os.path.join(workdir, "proxy.csr")
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj",
            "/CN=snapstage-faultproxy", "-keyout", key, "-out", csr)
        run("openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey",
            ca_key, "-CAcreateserial", "-CAserial",
            os.path.join(workdir, "ca.srl"), "-days", "7", "-extfile", ext,
            "-out", cert)
        with open(ca_cert, "rb") as f:
            trust = f.read()
    else:
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
            "7", "-subj", "/CN=snapstage-faultproxy", "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key,
            "-out", cert)
        with open(cert, "rb") as f:
            trust = f.read()
    return cert, key, trust


def write_private(path, text):
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_kubeconfig(path, port, trust_pem, kc):
    user = {"token": kc["token"]} if kc["token"] else {"tokenFile": kc["token_file"]}
    doc = {
        "apiVersion": "v1", "kind": "Config",
        "current-context": "faultproxy",
        "clusters": [{"name": "faultproxy", "cluster": {
            "server": f"https://127.0.0.1:{port}",
            "certificate-authority-data": base64.b64encode(trust_pem).decode()}}],
        "users": [{"name": "faultproxy", "user": user}],
        "contexts": [{"name": "faultproxy", "context": {
            "cluster": "faultproxy", "user": "faultproxy",
            "namespace": kc["namespace"]}}],
    }
    write_private(path, json.dumps(doc, indent=2) + "\n")  # JSON is YAML


# ---- rules -------------------------------------------------------------------

class RuleError(ValueError):
    pass


def check_int(rule, key, lo, hi):
    v = rule.get(key)
    if v is None:
        return
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise RuleError(f"{key} must be a whole number from {lo} to {hi}")


def compile_rule(i, raw):
    """A validated copy of one rule, with compiled regexes and a hit count."""
    try:
        if not isinstance(raw, dict):
            raise RuleError("must be an object")
        unknown = set(raw) - RULE_KEYS
        if unknown:
            raise RuleError(f"unknown keys {sorted(unknown)}")
        for key in ("delay_ms", "response_delay_ms"):
            check_int(raw, key, 0, MAX_DELAY_MS)
        check_int(raw, "status", 100, 599)
        check_int(raw, "retry_after", 0, 86400)
        check_int(raw, "times", 1, 1 << 31)
        if raw.get("drop") not in (None, False, True, "request", "response"):
            raise RuleError('drop must be "request", "response" or true')
        if raw.get("drop") and raw.get("status") is not None:
            raise RuleError("drop and status exclude each other")
        if raw.get("retry_after") is not None and raw.get("status") is None:
            raise RuleError("retry_after needs a status")
        for key in ("method", "reason", "message", "path_regex", "query_regex"):
            if raw.get(key) is not None and not isinstance(raw[key], str):
                raise RuleError(f"{key} must be a string")
        rule = dict(raw)
        rule["_path"] = re.compile(raw["path_regex"]) if raw.get("path_regex") else None
        rule["_query"] = re.compile(raw["query_regex"]) if raw.get("query_regex") else None
    except re.error as e:
        raise RuleError(f"rule {i}: bad regex: {e}") from None
    except RuleError as e:
        raise RuleError(f"rule {i}: {e}") from None
    if rule.get("drop") is True:
        rule["drop"] = "request"
    rule["hits"] = 0
    return rule


def describe(rule):
    parts = []
    if rule.get("delay_ms"):
        parts.append(f"delay {rule['delay_ms']} ms")
    if rule.get("status") is not None:
        s = f"status {rule['status']}"
        if rule.get("retry_after") is not None:
            s += f" Retry-After {rule['retry_after']}"
        parts.append(s)
    if rule.get("drop"):
        parts.append(f"drop {rule['drop']}")
    if rule.get("response_delay_ms"):
        parts.append(f"response delay {rule['response_delay_ms']} ms")
    return ", ".join(parts) or "count"


class State:
    """Rules and the request log, shared by all threads under one lock."""

    def __init__(self, log_file):
        self.lock = threading.Lock()
        self.rules = []
        self.log = collections.deque(maxlen=LOG_MAX)
        self.seq = 0
        self.log_file = log_file

    def set_rules(self, raw):
        if not isinstance(raw, dict) or not isinstance(raw.get("rules"), list):
            raise RuleError('expected {"rules": [...]}')
        rules = [compile_rule(i, r) for i, r in enumerate(raw["rules"])]
        with self.lock:
            self.rules = rules

    def public_rules(self):
        with self.lock:
            return [{k: v for k, v in r.items() if not k.startswith("_")}
                    for r in self.rules]

    def match(self, method, path, query):
        """The index and a copy of the rule that applies, counting the hit."""
        with self.lock:
            for i, r in enumerate(self.rules):
                if r.get("times") is not None and r["hits"] >= r["times"]:
                    continue
                if r.get("method") and r["method"].upper() != method:
                    continue
                if r["_path"] and not r["_path"].search(path):
                    continue
                if r["_query"] and not r["_query"].search(query):
                    continue
                r["hits"] += 1
                return i, dict(r)
        return None, None

    def note(self, line):
        """One line in the log file, whole, whichever thread writes it."""
        with self.lock:
            self.log_file.write(line + "\n")
            self.log_file.flush()

    def record(self, entry):
        rule = "-" if entry["rule"] is None else entry["rule"]
        query = "?" + entry["query"] if entry["query"] else ""
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.log.append(entry)
        self.note(f"ts={entry['ts']} method={entry['method']} "
                  f"path={entry['path']}{query} status={entry['status'] or '-'} "
                  f"ms={entry['ms']} rule={rule} action=\"{entry['action']}\"")


# ---- the proxy ---------------------------------------------------------------

class Dropped(Exception):
    """The connection is to end without (more of) an answer."""


class UpstreamConnection(http.client.HTTPSConnection):
    """One kept-alive connection to the API server, verified against the
    kubeconfig's CA under its tls-server-name (or host)."""

    def __init__(self, up):
        super().__init__(up["host"], up["port"], context=up["ctx"])
        self._tls_name = up["server_name"]

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock,
                                              server_hostname=self._tls_name)


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultproxy"

    def log_message(self, fmt, *args):  # one line per request is ours
        pass

    def do_any(self):
        start = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        entry = {"ts": now_ts(), "method": self.command, "path": url.path,
                 "query": url.query, "status": None, "rule": None,
                 "action": "forward"}
        try:
            body = self.read_body()
            idx, rule = self.server.state.match(self.command, url.path, url.query)
            if rule is not None:
                entry["rule"], entry["action"] = idx, describe(rule)
            self.apply(rule or {}, body, entry)
        except Dropped:
            self.close_connection = True
        except (OSError, ssl.SSLError, http.client.HTTPException) as e:
            self.close_connection = True
            entry["action"] += f"; failed: {e.__class__.__name__}"
        finally:
            entry["ms"] = int((time.monotonic() - start) * 1000)
            self.server.state.record(entry)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_any

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                if len(out) + size > MAX_BODY:
                    raise Dropped()
                out += self.rfile.read(size)
                self.rfile.readline(8)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise Dropped()
        return self.rfile.read(n) if n > 0 else None

    def apply(self, rule, body, entry):
        if rule.get("delay_ms"):
            time.sleep(rule["delay_ms"] / 1000)
        if rule.get("drop") == "request":
            raise Dropped()
        if rule.get("status") is not None:
            entry["status"] = rule["status"]
            self.send_status(rule["status"], rule.get("reason"),
                             rule.get("message"), rule.get("retry_after"))
            return
        resp = self.forward(body, entry)
        entry["status"] = resp.status
        if rule.get("drop") == "response":
            self.drop_upstream()
            entry["status"] = None
            raise Dropped()
        if rule.get("response_delay_ms"):
            time.sleep(rule["response_delay_ms"] / 1000)
        self.relay(resp)

    def send_status(self, code, reason=None, message=None, retry_after=None,
                    close=False):
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                  "status": "Failure",
                  "message": message or f"faultproxy: injected {code}",
                  "reason": reason or REASONS.get(code, ""), "code": code}
        if retry_after is not None:
            status["details"] = {"retryAfterSeconds": retry_after}
        data = json.dumps(status).encode()
        self.send_response_only(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    # -- upstream -------------------------------------------------------------

    def upstream_conn(self):
        conn = getattr(self, "conn", None)
        if conn is None:
            conn = UpstreamConnection(self.server.upstream)
            self.conn, self.conn_used = conn, False
        return conn

    def drop_upstream(self):
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()
        self.conn = None

    def send_upstream(self, body):
        conn = self.upstream_conn()
        conn.putrequest(self.command, self.path, skip_host=True,
                        skip_accept_encoding=True)
        up = self.server.upstream
        conn.putheader("Host", up["host_header"])
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP and name.lower() not in (
                    "host", "content-length"):
                conn.putheader(name, value)
        if body is not None or self.command in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(body or b"")))
        conn.endheaders(body)
        resp = conn.getresponse()
        self.conn_used = True
        return resp

    def forward(self, body, entry):
        """The API server's answer. A kept-alive upstream connection the
        server closed meanwhile is replaced once; a failure to reach the
        server is answered 502."""
        for attempt in (1, 2):
            reused = getattr(self, "conn", None) is not None and self.conn_used
            try:
                return self.send_upstream(body)
            except (OSError, ssl.SSLError, http.client.HTTPException) as e:
                self.drop_upstream()
                stale = isinstance(e, (ConnectionError,
                                       http.client.RemoteDisconnected))
                if stale and reused and attempt == 1:
                    continue
                entry["status"] = 502
                self.send_status(502, "InternalError",
                                 f"faultproxy: the API server cannot be "
                                 f"reached: {e!r}", close=True)
                raise Dropped() from None

    def relay(self, resp):
        self.send_response_only(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        no_body = (self.command == "HEAD" or resp.status in (204, 304)
                   or 100 <= resp.status < 200)
        if no_body:
            if resp.getheader("Content-Length") is not None:
                self.send_header("Content-Length", resp.getheader("Content-Length"))
            self.end_headers()
            resp.read()
        elif resp.length is not None and not resp.chunked:
            self.send_header("Content-Length", str(resp.length))
            self.end_headers()
            while True:
                data = resp.read(65536)
                if not data:
                    break
                self.wfile.write(data)
        else:
            # Streamed (a watch) or until-close: relayed as it arrives.
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            try:
                while True:
                    data = resp.read1(65536)
                    if not data:
                        break
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
            except (OSError, ssl.SSLError):
                self.drop_upstream()  # the client left: end the stream upstream
                raise
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        if resp.will_close:
            self.drop_upstream()

    def finish(self):
        try:
            super().finish()
        finally:
            self.drop_upstream()


class ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, tls, upstream, state):
        self.tls, self.upstream, self.state = tls, upstream, state
        super().__init__(("127.0.0.1", port), ProxyHandler)

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, on the connection's own thread.
        request.settimeout(10)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as e:
            self.state.note(f"ts={now_ts()} tls_handshake_failed=\"{e}\"")
            return
        conn.settimeout(None)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        self.state.note(f"ts={now_ts()} connection_error=\"{sys.exc_info()[1]!r}\"")


# ---- the control API -----------------------------------------------------------

class ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, code, doc):
        data = (json.dumps(doc, indent=1) + "\n").encode() if not isinstance(
            doc, bytes) else doc
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        state = self.server.state
        if url.path == "/healthz":
            self.answer(200, b"ok\n")
        elif url.path == "/faults":
            self.answer(200, {"rules": state.public_rules()})
        elif url.path == "/requests":
            q = urllib.parse.parse_qs(url.query)
            try:
                since = int((q.get("since") or ["0"])[0])
            except ValueError:
                self.answer(400, {"error": "since must be a number"})
                return
            with state.lock:
                items = [e for e in state.log if e["seq"] > since]
            self.answer(200, {"requests": items})
        else:
            self.answer(404, {"error": "no such path"})

    def do_POST(self):
        state = self.server.state
        if urllib.parse.urlsplit(self.path).path != "/faults":
            self.answer(404, {"error": "no such path"})
            return
        n = int(self.headers.get("Content-Length") or 0)
        try:
            state.set_rules(json.loads(self.rfile.read(n) or b"null"))
        except ValueError as e:  # RuleError or bad JSON
            self.answer(400, {"error": str(e)})
            return
        rules = state.public_rules()
        state.note(f"ts={now_ts()} rules_set={len(rules)}")
        self.answer(200, {"rules": rules})

    do_PUT = do_POST

    def do_DELETE(self):
        state = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        if path == "/faults":
            state.set_rules({"rules": []})
            self.answer(200, {"rules": []})
        elif path == "/requests":
            with state.lock:
                state.log.clear()
            self.answer(200, {"requests": []})
        else:
            self.answer(404, {"error": "no such path"})


class ControlServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, state):
        self.state = state
        super().__init__(("127.0.0.1", port), ControlHandler)


# ---- main ----------------------------------------------------------------------

def upstream_of(kc):
    host, port = loopback_upstream(kc["server"])
    if kc["insecure"]:
        ctx = ssl._create_unverified_context()
    else:
        ctx = ssl.create_default_context(
            cadata=kc["ca"].decode() if kc["ca"] else None)
    return {"host": host, "port": port, "ctx": ctx,
            "server_name": kc["server_name"] or host,
            "host_header": f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"}


def main():
    ap = argparse.ArgumentParser(
        description="Fault-injecting HTTPS proxy for the local API server "
                    "(see the docstring of hack/faultproxy.py).")
    ap.add_argument("--cluster-dir", help="a hack/cluster.sh cluster directory")
    ap.add_argument("--kubeconfig", help="upstream API server and user")
    ap.add_argument("--ca-cert", help="CA certificate that signs the proxy's")
    ap.add_argument("--ca-key", help="its key")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--write-kubeconfig", metavar="FILE")
    ap.add_argument("--ports-file", metavar="FILE")
    ap.add_argument("--rules", metavar="FILE", help='initial {"rules": [...]}')
    ap.add_argument("--log", metavar="FILE", help="append the log here, not stderr")
    args = ap.parse_args()
    if args.cluster_dir:
        d = args.cluster_dir
        args.kubeconfig = args.kubeconfig or os.path.join(d, "kubeconfig")
        args.ca_cert = args.ca_cert or os.path.join(d, "pki", "ca.crt")
        args.ca_key = args.ca_key or os.path.join(d, "pki", "ca.key")
    if not args.kubeconfig:
        die("--kubeconfig or --cluster-dir is required")
    if bool(args.ca_cert) != bool(args.ca_key):
        die("--ca-cert and --ca-key go together")

    log_file = open(args.log, "a", buffering=1) if args.log else sys.stderr
    state = State(log_file)
    if args.rules:
        with open(args.rules) as f:
            try:
                state.set_rules(json.load(f))
            except ValueError as e:
                die(f"{args.rules}: {e}")
    kc = load_kubeconfig(args.kubeconfig)
    upstream = upstream_of(kc)

    workdir = tempfile.mkdtemp(prefix="faultproxy.")
    try:
        cert, key, trust = make_serving_cert(workdir, args.ca_cert, args.ca_key)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        tls.set_alpn_protocols(["http/1.1"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    proxy = ProxyServer(args.port, tls, upstream, state)
    control = ControlServer(args.control_port, state)
    port, cport = proxy.server_address[1], control.server_address[1]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for srv in (proxy, control):
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
    if args.write_kubeconfig:
        write_kubeconfig(args.write_kubeconfig, port, trust, kc)
    if args.ports_file:
        write_private(args.ports_file, f"FAULTPROXY_PORT={port}\n"
                      f"FAULTPROXY_CONTROL_PORT={cport}\nFAULTPROXY_PID={os.getpid()}\n")
    print(f"faultproxy: listening https://127.0.0.1:{port} control "
          f"http://127.0.0.1:{cport} upstream {kc['server']}", flush=True)
    while not stop.wait(0.1):
        pass
    for srv in (proxy, control):
        srv.shutdown()
        srv.server_close()
    state.note(f"ts={now_ts()} stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
