"""faults.py — the soak's menu of faults (hack/soak/soak.py draws from it).

Each entry is a function registered with @fault(name, weight): given a
random.Random of its own (seeded from the soak's seed, so a run's fault
sequence is replayable with --seed), it returns a Plan for one round:
what to add to that round's Backup (sim.snapstage.io/ annotations on its
snapshots, readyTimeoutSeconds), whether the Backup must not end Complete
(must_fail: the storage lied or failed, so Complete would be a lie), and an
`act(soak, name)` run in a thread next to the round's Backup that waits for
its moment (created, locked, uploading) and breaks something. act() must
undo what it did (SIGCONT, restart) before it returns; the soak checks the
invariants (no lock, no stopped replication, no orphan) after it returns.

Adding a fault: write a function below, decorate it, and use the soak
helpers it needs (docs/testing.md, "Adding a fault"). Weights are relative.
Thread-safety: act() runs on its own thread; the soak helpers it calls are
safe to call from there.
"""
import random
import signal

MENU = []  # [(name, weight, fn)] in registration order (replay depends on it)


class Plan:
    def __init__(self, note="", annotations=None, ready_timeout=None, must_fail=False,
                 act=None, schedule_ok=True, must_complete=False, companions_complete=True):
        self.note = note                    # printed with the fault, e.g. "cut 15000 ms"
        self.annotations = annotations or {}  # sim.snapstage.io/<key>: value on the snapshots
        self.ready_timeout = ready_timeout  # spec.snapshot.readyTimeoutSeconds
        self.must_fail = must_fail          # Complete would be a lie
        self.act = act                      # act(soak, backup_name) -> None
        self.schedule_ok = schedule_ok      # may the round's Backup come from the schedule
        # Only the controller or its connection was disturbed, within what a
        # lock session survives by retrying: Failed would be a lost backup.
        self.must_complete = must_complete
        # The round's other Backups (--parallel, plain specs) must complete:
        # false where the fault hits a server or the API server they share.
        self.companions_complete = companions_complete


def fault(name, weight):
    def register(fn):
        MENU.append((name, weight, fn))
        return fn
    return register


MOMENTS = ("created", "locked", "uploading")


def _at(moment, then):
    """An act() that waits for `moment` of the round's Backup, then calls then(soak, name)."""
    def act(s, name):
        if s.wait_moment(name, moment):
            then(s, name)
    return act


@fault("none", 6)
def none(r):
    return Plan(must_complete=True)


@fault("controller-sigkill", 6)
def controller_sigkill(r):
    moment, down = r.choice(MOMENTS), round(r.uniform(0.1, 3.0), 1)
    return Plan("leader SIGKILLed when %s, restarted %.1f s later" % (moment, down), must_complete=True,
                act=_at(moment, lambda s, n: s.ctrl.kill_leader(signal.SIGKILL, down)))


@fault("controller-sigstop", 2)
def controller_sigstop(r):
    # Longer than the Lease (4 s): the other replica takes over meanwhile.
    secs = round(r.uniform(5.0, 9.0), 1)
    return Plan("leader SIGSTOPped %.1f s when locked" % secs, must_complete=True,
                act=_at("locked", lambda s, n: s.ctrl.stop_leader(secs)))


@fault("mariadbd-sigstop", 3)
def mariadbd_sigstop(r):
    secs = round(r.choice([r.uniform(0.5, 3.0), r.uniform(11.0, 16.0)]), 1)
    # Paused within the lock's bound (10 s) the lock session just waits.
    return Plan("the locked replica's mariadbd SIGSTOPped %.1f s" % secs, must_complete=secs < 5,
                companions_complete=False, act=_at("locked", lambda s, n: s.pause_locked_server(n, secs)))


@fault("mariadbd-sigkill", 2)
def mariadbd_sigkill(r):
    return Plan("the locked replica's mariadbd SIGKILLed (the node agent restarts it)",
                companions_complete=False, act=_at("locked", lambda s, n: s.kill_locked_server(n)))


@fault("apiserver-restart", 2)
def apiserver_restart(r):
    moment = r.choice(MOMENTS)
    return Plan("kube-apiserver restarted when %s" % moment, companions_complete=False,
                act=_at(moment, lambda s, n: s.restart_apiserver()))


@fault("etcd-compaction", 2)
def etcd_compaction(r):
    moment = r.choice(MOMENTS)
    return Plan("etcd compacted to its head when %s" % moment, must_complete=True,
                act=_at(moment, lambda s, n: s.etcd_compact()))


@fault("storage-slow", 3)
def storage_slow(r):
    ms = r.choice([300, 1500, 4000, 15000])
    # 15 s is past the lock's bound (10 s): never Complete.
    return Plan("the storage cuts after %d ms" % ms, annotations={"cut-latency-ms": str(ms)},
                must_fail=ms >= 10000)


@fault("storage-fail", 2)
def storage_fail(r):
    return Plan("the storage fails the cut", annotations={"fail": "soak: injected storage failure"},
                must_fail=True)


@fault("storage-late-cut", 2)
def storage_late_cut(r):
    ms = r.choice([20000, -20000])
    return Plan("the storage reports its cut %+d ms off" % ms,
                annotations={"cut-time-offset-ms": str(ms)}, must_fail=True)


@fault("storage-never-ready", 1)
def storage_never_ready(r):
    return Plan("the storage never sets readyToUse (readyTimeoutSeconds 4)",
                annotations={"hang": "ready"}, ready_timeout=4, must_fail=True)


@fault("lock-connection-killed", 3)
def lock_connection_killed(r):
    return Plan("the lock connection KILLed from another session", must_complete=True,
                act=_at("locked", lambda s, n: s.kill_lock_connection(n)))


@fault("backup-deleted-locked", 2)
def backup_deleted_locked(r):
    return Plan("the Backup deleted while Locked", schedule_ok=False,
                act=_at("locked", lambda s, n: s.delete_backup(n)))


@fault("snapshot-deleted-after-cut", 2)
def snapshot_deleted_after_cut(r):
    # readyToUse comes 3 s after the cut, so the Backup is still Uploading.
    return Plan("a VolumeSnapshot deleted after its cut, before readyToUse",
                annotations={"ready-delay-ms": "3000"}, must_fail=True,
                act=_at("uploading", lambda s, n: s.delete_one_snapshot(n)))


def draw(rng, only=None):
    """The next fault: (name, Plan), from the soak's rng (one draw per round);
    `only`: a set of names to draw from instead of the whole menu."""
    menu = [m for m in MENU if not only or m[0] in only]
    total = sum(w for _, w, _ in menu)
    x = rng.uniform(0, total)
    for name, w, fn in menu:
        if x < w:
            break
        x -= w
    return name, fn(random.Random(rng.getrandbits(64)))
