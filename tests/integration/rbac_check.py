#!/usr/bin/env python3
"""rbac_check.py — the checks of tests/integration/test_rbac.sh that talk
to the API server, against tests/integration/rbac_rules.txt (the expected
permissions and the code behind each).

  rbac_check.py wait yes|no VERB GROUP RESOURCE NS
      waits until the token is (or is no longer) allowed that (RBAC changes
      reach the authorizer's cache asynchronously).
  rbac_check.py code RULES REPO
      every `file:identifier` the rules name exists (the list cannot rot
      away from the code silently).
  rbac_check.py calls RULES REPO FILE ROLE BASE-ROLES
      the requests FILE makes, read from its source: each kube_get/create/
      delete/patch/update/list call with the kube_resource it names (a
      resource passed in as a parameter is followed to the function's
      callers), plus the requests of the ctrl/ and db/ helpers it calls
      (HELPERS). Every one is granted by ROLE or one of BASE-ROLES (comma
      list), and ROLE grants exactly those of them the base roles do not:
      nothing missing, nothing more. (The verify controller: `calls RULES
      REPO controller/app/verify/verify.c vf ns`.) A file that is part of a
      controller takes the run's resource from the file of its folder that
      sets ctrl_run_opts.resource.
  rbac_check.py granted RULES MODE-JSON
      what the ServiceAccount's token is granted (SelfSubjectRulesReview in
      each namespace of the mode, minus what a ServiceAccount with no
      bindings already has) is exactly what the rules say for the mode; and
      a cluster-wide list of each namespaced resource is allowed only when
      the namespaced rules are bound cluster-wide (SelfSubjectAccessReview).
  rbac_check.py needed RULES MODE-JSON [ROLE,...]
      for every verb of every rule (of the roles listed; default: every
      role the mode grants): the request the controller makes with it
      passes authorization (any code but 403), and with that one verb taken
      out of the role that grants it (the role is rewritten by the admin,
      then put back), the same request fails with 403. Finalizers are an
      admission check (OwnerReferencesPermissionEnforcement) on a create with
      blockOwnerDeletion, so that create is their request. Writes are
      dry runs or aimed at objects that do not exist: nothing is changed.

MODE-JSON: {"name", "cluster_wide": bool, "in_place": bool,
"verification": bool, "watched": [ns], "ctl": ns, "others": [ns],
"roles": {"ns": [kind, name, ns-or-null], ...}} ("roles" only for `needed`:
where each role of the rules lives). `needed` takes a verb out of one role:
it cannot prove a verb two roles of the mode grant (in-place restores and
verification both grant get on statefulsets), so it runs on modes where no
two checked roles overlap.

Environment: SNAPSTAGE_APISERVER_URL, SNAPSTAGE_CA_FILE,
SNAPSTAGE_ADMIN_TOKEN_FILE, RBAC_SA_TOKEN_FILE (the ServiceAccount's token,
a 0600 file), RBAC_BASELINE_FILE (written by `baseline`: what a
ServiceAccount without bindings is granted). Tokens are read from files and
never printed. Prints one line per check; exits 1 if any failed.
"""
import copy
import http.client
import json
import os
import ssl
import sys
import time
import urllib.parse

PROBE = "snapstage-rbac-probe"
VERSIONS = {
    "": "v1",
    "snapstage.io": "v1alpha1",
    "snapshot.storage.k8s.io": "v1",
    "storage.k8s.io": "v1",
    "apps": "v1",
    "events.k8s.io": "v1",
    "coordination.k8s.io": "v1",
    "rbac.authorization.k8s.io": "v1",
}
KINDS = {
    "backupschedules": "BackupSchedule", "backups": "Backup", "restores": "Restore",
    "volumesnapshots": "VolumeSnapshot", "volumesnapshotclasses": "VolumeSnapshotClass",
    "volumesnapshotcontents": "VolumeSnapshotContent", "storageclasses": "StorageClass",
    "pods": "Pod", "persistentvolumeclaims": "PersistentVolumeClaim", "secrets": "Secret",
    "events": "Event", "statefulsets": "StatefulSet", "persistentvolumes": "PersistentVolume",
    "leases": "Lease", "services": "Service",
}
CLUSTER_SCOPED = {"volumesnapshotclasses", "volumesnapshotcontents", "storageclasses",
                  "persistentvolumes"}


def parse_rules(path):
    rules = []
    for line in open(path):
        line = line.rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        f = line.split(None, 4)
        if len(f) < 5:
            sys.exit("rbac_rules.txt: too few fields: " + line)
        role, group, res, verbs, code = f
        group = "" if group == "core" else group
        for v in verbs.split(","):
            rules.append({"role": role, "group": group, "resource": res, "verb": v,
                          "code": code})
    return rules


class Api:
    def __init__(self, token_file):
        url = urllib.parse.urlsplit(os.environ["SNAPSTAGE_APISERVER_URL"])
        ctx = ssl.create_default_context(cafile=os.environ["SNAPSTAGE_CA_FILE"])
        self.conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=20,
                                                context=ctx)
        with open(token_file) as f:
            self.token = f.read().strip()

    def call(self, method, path, body=None, ctype="application/json"):
        headers = {"Authorization": "Bearer " + self.token}
        if body is not None:
            headers["Content-Type"] = ctype
            body = json.dumps(body)
        for attempt in range(2):
            try:
                self.conn.request(method, path, body, headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()  # a watch may leave the connection closed
                if attempt:
                    raise
        return 0, b""


def collection(group, res, ns):
    base = "/api/v1" if group == "" else "/apis/%s/%s" % (group, VERSIONS[group])
    if ns and res not in CLUSTER_SCOPED:
        base += "/namespaces/" + ns
    return base + "/" + res


def ssrr(api, ns):
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
            "spec": {"namespace": ns}}
    code, data = api.call("POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                          body)
    if code != 201:
        sys.exit("SelfSubjectRulesReview in %s: HTTP %d: %s" % (ns, code, data[:300]))
    status = json.loads(data)["status"]
    if status.get("incomplete"):
        sys.exit("SelfSubjectRulesReview in %s is incomplete: %s" %
                 (ns, status.get("evaluationError")))
    out = set()
    for r in status.get("resourceRules", []):
        if r.get("resourceNames"):
            sys.exit("unexpected resourceNames in a rule: %s" % r)
        for g in r["apiGroups"]:
            for res in r["resources"]:
                for v in r["verbs"]:
                    out.add((g, res, v))
    return out


def ssar(api, verb, group, res, ns):
    res, _, sub = res.partition("/")
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": res,
                                            "subresource": sub, "namespace": ns or ""}}}
    code, data = api.call("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                          body)
    if code != 201:
        sys.exit("SelfSubjectAccessReview: HTTP %d: %s" % (code, data[:300]))
    return bool(json.loads(data)["status"].get("allowed"))


failures = 0
checks = 0


def check(ok, text):
    global failures, checks
    checks += 1
    if not ok:
        failures += 1
    print("  %s  %s" % ("ok  " if ok else "FAIL", text), flush=True)


def role_applies(role, mode, ns):
    watched = mode["cluster_wide"] or ns in mode["watched"]
    return {"ns": watched, "cluster": True, "ip": mode["in_place"] and watched,
            "ip-cluster": mode["in_place"],
            "vf": mode.get("verification", False) and watched,
            "lease": ns == mode["ctl"]}[role]


def role_in_mode(role, mode):
    """Whether the mode grants `role` anywhere."""
    return any(role_applies(role, mode, ns)
               for ns in mode["watched"] + mode["others"] + [mode["ctl"]])


def cmd_code(rules_path, repo):
    seen = set()
    for r in parse_rules(rules_path):
        for ref in r["code"].split():
            if ":" not in ref or not ref.startswith("controller/"):
                continue
            f, ident = ref.split(":", 1)
            ident = ident.rstrip(";,)")
            if (f, ident) in seen:
                continue
            seen.add((f, ident))
            try:
                text = open(os.path.join(repo, f)).read()
            except OSError:
                check(False, "%s: no such file" % f)
                continue
            check(ident in text, "%s names %s" % (f, ident))


# Requests made inside helpers a controller calls, which the scan of its own
# file cannot see: helper -> [(group, resource, verb)], the resource of
# ctrl_run's being the controller's own (RUN below).
RUN = object()
HELPERS = {
    "ctrl_run_read": [(RUN, "", "get")],  # the object, fresh
    "ctrl_run_write_status": [(RUN, "", "get"), (RUN, "/status", "update")],
    "ctrl_run_event": [("events.k8s.io", "events", "create"),
                       ("events.k8s.io", "events", "patch")],  # ctrl/events.c
    "app_credentials_read": [("", "secrets", "get")],  # db/credentials.c
}
KUBE_VERBS = {"kube_get": "get", "kube_get_sensitive": "get", "kube_list": "list",
              "kube_list_all": "list", "kube_create": "create",
              "kube_create_dry_run": "create", "kube_update": "update",
              "kube_update_status": "update", "kube_patch": "patch",
              "kube_delete": "delete"}


def c_resources(repo):
    """Every `const kube_resource NAME = { group, version, "plural", ...}`
    of the controller: NAME -> (group, plural)."""
    import glob
    import re
    out = {}
    pat = re.compile(r'const\s+kube_resource\s+(\w+)\s*=\s*\{\s*("[^"]*"|APP_GROUP)\s*,'
                     r'\s*[^,]+,\s*"([^"]+)"')
    for f in glob.glob(os.path.join(repo, "controller", "**", "*.c"), recursive=True):
        for m in pat.finditer(open(f).read()):
            group = "snapstage.io" if m.group(2) == "APP_GROUP" else m.group(2).strip('"')
            out[m.group(1)] = (group, m.group(3))
    return out


def c_args(text, start):
    """The top-level comma-separated arguments of the call whose "(" is at
    text[start]."""
    depth, args, cur = 0, [], ""
    for ch in text[start:]:
        if ch in "([{":
            depth += 1
            if depth == 1:
                continue
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                args.append(cur.strip())
                return args
        elif ch == "," and depth == 1:
            args.append(cur.strip())
            cur = ""
            continue
        cur += ch
    return args


def c_functions(text):
    """name -> (parameter names, body) of each function defined at the top
    level (a definition starts in column 0 and its body ends at a "}" in
    column 0, as clang-format lays them out)."""
    import re
    out = {}
    for m in re.finditer(r"^(?:static\s+)?[A-Za-z_][\w \t\*]*?\b(\w+)\(([^)]*)\)\s*\n\{",
                         text, re.M):
        end = text.find("\n}", m.end())
        params = [re.sub(r".*?(\w+)\s*$", r"\1", p.strip().split("[")[0])
                  for p in m.group(2).split(",")]
        out[m.group(1)] = (params, text[m.end():end])
    return out


def c_calls(repo, path, run_res):
    """The (group, resource, verb) requests the source file makes."""
    import re
    text = open(os.path.join(repo, path)).read()
    resources = c_resources(repo)
    funcs = c_functions(text)
    found = set()

    def resolve(arg, func, depth=0):
        arg = arg.lstrip("&").strip()
        if arg in resources:
            return [resources[arg]]
        params = funcs.get(func, ([], ""))[0]
        if arg in params and depth < 3:  # a parameter: follow the callers
            i, out = params.index(arg), []
            for caller, (_, body) in funcs.items():
                for m in re.finditer(r"\b%s\(" % func, body):
                    a = c_args(body, m.end() - 1)
                    if i < len(a):
                        out += resolve(a[i], caller, depth + 1)
            return out
        sys.exit("%s: %s: cannot tell which resource %r is" % (path, func, arg))

    for func, (_, body) in funcs.items():
        for m in re.finditer(r"\b(kube_\w+)\(", body):
            verb = KUBE_VERBS.get(m.group(1))
            if verb is None:
                continue
            args = c_args(body, m.end() - 1)
            for g, res in resolve(args[2], func):
                sub = "/status" if m.group(1) == "kube_update_status" else ""
                found.add((g, res + sub, verb))
        for helper, reqs in HELPERS.items():
            if re.search(r"\b%s\(" % helper, body):
                for g, res, verb in reqs:
                    if g is RUN:
                        g, res = run_res[0], run_res[1] + res
                    found.add((g, res, verb))
    return found


def cmd_calls(rules_path, repo, paths, role, base_roles):
    """paths: one file, or several joined by commas (the parts of one
    controller: their requests are checked together)."""
    import re
    calls = set()
    for path in paths.split(","):
        text = open(os.path.join(repo, path)).read()
        # The controller's own resource: ctrl_run_opts.resource = &NAME.
        m = re.search(r"run_opts\.resource\s*=\s*&(\w+)", text)
        if m is None:
            # A part of a controller (restore_replay.c): the run is set up by
            # the one file of its folder that names the resource.
            folder = os.path.dirname(os.path.join(repo, path))
            for name in sorted(os.listdir(folder)):
                if name.endswith(".c") and m is None:
                    m = re.search(r"run_opts\.resource\s*=\s*&(\w+)",
                                  open(os.path.join(folder, name)).read())
        run_res = c_resources(repo).get(m.group(1)) if m else None
        if run_res is None and re.search(r"\bctrl_run_", text):
            sys.exit("%s: cannot find its run_opts.resource" % path)
        calls |= c_calls(repo, path, run_res)
    path = " + ".join(paths.split(","))
    rules = parse_rules(rules_path)
    base = {(r["group"], r["resource"], r["verb"]) for r in rules if r["role"] in base_roles}
    mine = {(r["group"], r["resource"], r["verb"]) for r in rules if r["role"] == role}
    fmt = lambda ks: ", ".join("%s %s/%s" % (v, g or "core", r) for g, r, v in sorted(ks))
    print("  %s makes %d kinds of request: %s" % (path, len(calls), fmt(calls)))
    missing = calls - base - mine
    check(not missing, "every request %s makes is granted by %s or %s%s" % (
        path, role, "+".join(sorted(base_roles)),
        "; MISSING: " + fmt(missing) if missing else ""))
    extra, needed = mine - calls, calls - base
    check(not extra, "role %s grants nothing %s does not call%s" % (
        role, path, "; EXTRA: " + fmt(extra) if extra else ""))
    check(mine >= needed, "role %s grants everything %s needs beyond %s: %s" % (
        role, path, "+".join(sorted(base_roles)), fmt(needed)))
    overlap = mine & base
    check(not overlap, "role %s repeats nothing the base roles grant%s" % (
        role, "; REPEATED: " + fmt(overlap) if overlap else ""))


def cmd_baseline(out_path):
    api = Api(os.environ["RBAC_SA_TOKEN_FILE"])
    base = sorted(ssrr(api, "default"))
    with open(out_path, "w") as f:
        json.dump(base, f)
    print("  a ServiceAccount without bindings has %d rule(s): %s" %
          (len(base), ", ".join("%s %s/%s" % (v, g or "core", r) for g, r, v in base)))


def cmd_granted(rules_path, mode):
    api = Api(os.environ["RBAC_SA_TOKEN_FILE"])
    rules = parse_rules(rules_path)
    with open(os.environ["RBAC_BASELINE_FILE"]) as f:
        baseline = {tuple(x) for x in json.load(f)}
    for ns in mode["watched"] + mode["others"] + [mode["ctl"]]:
        want = {(r["group"], r["resource"], r["verb"]) for r in rules
                if role_applies(r["role"], mode, ns)}
        got = ssrr(api, ns) - baseline
        extra, missing = sorted(got - want), sorted(want - got)
        check(not extra and not missing,
              "in %-22s granted exactly %d verb(s) of the rules%s%s" % (
                  ns, len(want),
                  "; EXTRA: " + ", ".join("%s %s/%s" % (v, g or "core", r)
                                          for g, r, v in extra) if extra else "",
                  "; MISSING: " + ", ".join("%s %s/%s" % (v, g or "core", r)
                                            for g, r, v in missing) if missing else ""))
    # Across all namespaces: only with the namespaced rules bound cluster-wide.
    for r in rules:
        if r["verb"] not in ("list", "watch") or r["role"] not in ("ns", "ip"):
            continue
        want = mode["cluster_wide"]
        got = ssar(api, r["verb"], r["group"], r["resource"], "")
        check(got == want, "%-5s %s/%s in all namespaces: %s" % (
            r["verb"], r["group"] or "core", r["resource"], "yes" if got else "no"))
    for verb, res in (("list", "secrets"), ("watch", "secrets"), ("list", "persistentvolumes")):
        check(not ssar(api, verb, "", res, ""),
              "%-5s core/%s in all namespaces: no" % (verb, res))
    # Pods (the scratch servers): created and deleted only with verification
    # on, and only where the namespaced rules reach (the question `kubectl
    # auth can-i create pods -n NS` asks).
    for ns in mode["watched"] + mode["others"] + [mode["ctl"], ""]:
        reach = mode["cluster_wide"] or ns in mode["watched"]
        want = mode.get("verification", False) and reach
        for verb in ("create", "delete"):
            got = ssar(api, verb, "", "pods", ns)
            check(got == want, "%-6s core/pods in %-22s %s" % (
                verb, ns or "all namespaces:", "yes" if got else "no"))


def probe_request(r, ns, seq):
    """The request the controller makes with rule r: (method, path, body, ctype)."""
    group, res, verb = r["group"], r["resource"], r["verb"]
    base, _, sub = res.partition("/")
    coll = collection(group, base, ns)
    name = "%s-%d" % (PROBE, seq)
    if sub == "finalizers":
        # A child with blockOwnerDeletion pointing at an object of `base`.
        owner = {"apiVersion": "snapstage.io/v1alpha1", "kind": KINDS[base], "name": PROBE,
                 "uid": "00000000-0000-0000-0000-000000000001", "controller": True,
                 "blockOwnerDeletion": True}
        if base == "backups":
            child = {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
                     "metadata": {"name": name, "ownerReferences": [owner]},
                     "spec": {"source": {"persistentVolumeClaimName": "data"}}}
            return "POST", collection("snapshot.storage.k8s.io", "volumesnapshots", ns) + \
                "?dryRun=All", child, "application/json"
        child = {"apiVersion": "snapstage.io/v1alpha1", "kind": "Backup",
                 "metadata": {"name": name, "ownerReferences": [owner]},
                 "spec": {"target": {"statefulSetName": "db", "connection": {
                     "credentialsSecretRef": {"name": "db"}}}}}
        return "POST", collection("snapstage.io", "backups", ns) + "?dryRun=All", child, \
            "application/json"
    obj = {"apiVersion": (group + "/" if group else "") + VERSIONS[group],
           "kind": KINDS[base], "metadata": {"name": name}}
    one = coll + "/" + PROBE + ("/" + sub if sub else "")
    if verb == "get":
        return "GET", one, None, None
    if verb == "list":
        return "GET", coll + "?limit=1", None, None
    if verb == "watch":
        return "GET", coll + "?watch=1&timeoutSeconds=1", None, None
    if verb == "create":
        if base == "pods":
            # The ServiceAccount admission plugin runs before validation; the
            # test cluster has no token controller, so a Pod that mounts a
            # token would fail there (500) instead of reaching validation.
            obj["spec"] = {"automountServiceAccountToken": False}
        return "POST", coll + "?dryRun=All", obj, "application/json"
    if verb == "update":
        obj["metadata"]["name"] = PROBE
        return "PUT", one + "?dryRun=All", obj, "application/json"
    if verb == "patch":
        return "PATCH", one + "?dryRun=All", {}, "application/merge-patch+json"
    if verb == "delete":
        return "DELETE", one + "?dryRun=All", None, None
    sys.exit("no request for verb " + verb)


def without_verb(role_obj, r):
    """role_obj's rules with r's verb taken out for r's group/resource only."""
    out = copy.deepcopy(role_obj)
    rules = []
    for rule in role_obj.get("rules", []):
        if r["group"] in rule.get("apiGroups", []) and r["resource"] in rule.get("resources", []):
            rest = [x for x in rule["resources"] if x != r["resource"]]
            if rest:
                keep = copy.deepcopy(rule)
                keep["resources"] = rest
                rules.append(keep)
            verbs = [v for v in rule["verbs"] if v != r["verb"]]
            if verbs:
                mine = copy.deepcopy(rule)
                mine["resources"] = [r["resource"]]
                mine["verbs"] = verbs
                rules.append(mine)
        else:
            rules.append(rule)
    out["rules"] = rules
    for k in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
        out["metadata"].pop(k, None)
    return out


def wait_access(api, r, ns, want):
    for _ in range(200):
        if ssar(api, r["verb"] if "/finalizers" not in r["resource"] else "update",
                r["group"], r["resource"], ns) == want:
            return True
        time.sleep(0.05)
    return False


def cmd_needed(rules_path, mode, only=None):
    sa = Api(os.environ["RBAC_SA_TOKEN_FILE"])
    admin = Api(os.environ["SNAPSTAGE_ADMIN_TOKEN_FILE"])
    ns_of_role = {"ns": mode["watched"][0], "ip": mode["watched"][0], "cluster": None,
                  "ip-cluster": None, "vf": mode["watched"][0], "lease": mode["ctl"]}
    for seq, r in enumerate(parse_rules(rules_path)):
        if (only and r["role"] not in only) or not role_in_mode(r["role"], mode):
            continue
        kind, name, role_ns = mode["roles"][r["role"]]
        ns = ns_of_role[r["role"]]
        plural = "roles" if kind == "Role" else "clusterroles"
        role_path = collection("rbac.authorization.k8s.io", plural, role_ns) + "/" + name
        method, path, body, ctype = probe_request(r, ns, seq)
        what = "%-6s %s/%s%s" % (r["verb"], r["group"] or "core", r["resource"],
                                 " in " + ns if ns else "")
        if r["resource"].endswith("/finalizers"):
            method += " (blockOwnerDeletion)"
        code_with, _ = sa.call(method.split()[0], path, body, ctype)
        code, data = admin.call("GET", role_path)
        if code != 200:
            sys.exit("GET %s: HTTP %d" % (role_path, code))
        original = json.loads(data)
        code, data = admin.call("PUT", role_path, without_verb(original, r))
        if code != 200:
            sys.exit("PUT %s: HTTP %d: %s" % (role_path, code, data[:300]))
        gone = wait_access(sa, r, ns, False)
        code_without, _ = sa.call(method.split()[0], path, body, ctype)
        restore = copy.deepcopy(original)
        for k in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            restore["metadata"].pop(k, None)
        code, data = admin.call("PUT", role_path, restore)
        if code != 200:
            sys.exit("PUT %s (restore): HTTP %d: %s" % (role_path, code, data[:300]))
        back = wait_access(sa, r, ns, True)
        # A create must reach validation (the kind is served); a finalizer
        # check's create must pass admission outright.
        passed = code_with != 403
        if r["verb"] == "create" or r["resource"].endswith("/finalizers"):
            passed = code_with in ((201,) if r["resource"].endswith("/finalizers")
                                   else (201, 400, 409, 422))
        check(gone and back and passed and code_without == 403,
              "%s: %s %s -> %d with it, %d without (%s %s)" % (
                  what, method, path.split("?")[0].replace(PROBE, "…"), code_with,
                  code_without, kind, name))


def cmd_wait(want, verb, group, res, ns):
    """Waits up to 10 s until the token may (yes) or may not (no) do it."""
    api = Api(os.environ["RBAC_SA_TOKEN_FILE"])
    group = "" if group == "core" else group
    for _ in range(200):
        if ssar(api, verb, group, res, ns) == (want == "yes"):
            return
        time.sleep(0.05)
    sys.exit("%s %s/%s in %s never became '%s'" % (verb, group or "core", res, ns, want))


def main():
    cmd = sys.argv[1]
    if cmd == "wait":
        cmd_wait(*sys.argv[2:7])
        return
    if cmd == "code":
        cmd_code(sys.argv[2], sys.argv[3])
    elif cmd == "calls":
        cmd_calls(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5],
                  set(sys.argv[6].split(",")))
    elif cmd == "baseline":
        cmd_baseline(sys.argv[2])
    elif cmd == "granted":
        cmd_granted(sys.argv[2], json.loads(sys.argv[3]))
    elif cmd == "needed":
        only = set(sys.argv[4].split(",")) if len(sys.argv) > 4 else None
        cmd_needed(sys.argv[2], json.loads(sys.argv[3]), only)
    else:
        sys.exit("usage: rbac_check.py code|calls|baseline|granted|needed ...")
    print("  -- %d checks, %d failed" % (checks, failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
