"""Ending pods from outside their supervisor: stopping many at once, and
releasing what dead pods hold (leftover processes, CNI attachments, pinned
namespaces), as kubelet housekeeping does.

Processes are reached only through pidfds checked against the recorded
start time (a pid alone could have been reused).
"""
import os
import time

try:   # signal without its enum wrappers: importing enum costs ~4 ms of start-up
    import _signal as signal
except ImportError:   # not CPython
    import signal

from launcher.runtime import namespaces
from launcher.store import layout
from launcher.store.status import DEAD, pod_state

STOP_EXTRA = 10.0   # seconds beyond the grace period that stop waits
STOP_CPU = 0.25     # CPU seconds one pod's stop may cost (a Python supervisor starts)
GC_EVERY = 10.0     # seconds between the housekeeping runs that `run` does


def stop_all(pods):
    """Asks each pod's supervisor to stop its pod (SIGTERM through a pidfd),
    all at once so their grace periods run side by side, then waits for
    them; returns the names that did not stop in time. A pod may take its
    grace period twice plus a margin, plus its share of the work of all
    (each stop starts a Python supervisor: STOP_CPU seconds of CPU each, on
    every core), counted from the last time a pod was seen to stop: a
    thousand pods stopping at once keep two cores busy for a while, and
    busy is not hung."""
    pending = []
    for pod in pods:
        rec = pod.record
        sup = rec.get("supervisor") or {}
        fd = namespaces.open_pidfd(sup.get("pid"), sup.get("start"))
        if fd is not None:
            signal.pidfd_send_signal(fd, signal.SIGTERM)
            pending.append((rec, fd, rec["spec"]["grace"] * 2 + STOP_EXTRA))
    crowd = STOP_CPU * len(pending) / (os.cpu_count() or 1)
    late = []
    progress = time.monotonic()
    for rec, fd, budget in pending:
        try:
            if namespaces.wait_pidfd(fd, progress + budget + crowd - time.monotonic()):
                progress = time.monotonic()
            else:
                late.append(rec["name"])
        finally:
            os.close(fd)
    return late


STOP_SETTLE = 1.0   # seconds a SIGSTOPped monitor may take to stop


def end_idle(pods):
    """rm -f's fast path: ends the pods that sleep in their C monitor
    without waking a Python supervisor for each (the cost of removing many
    pods). Each monitor is SIGSTOPped first (a stopped process cannot exec
    its supervisor back, so nothing of the pod is in flight), then the
    containers get SIGTERM and the pod's grace period, all pods side by
    side, then the monitor is SIGKILLed: pause and what is left die with it
    (PR_SET_PDEATHSIG), and the pod is dead, for release() to finish as gc
    does. Returns the pods that are not idle in a monitor (a supervisor
    busy in Python, a foreground launcher): they stop the usual way."""
    from launcher import binaries, proc
    monitor = binaries.monitor_path()
    exe = os.stat(monitor) if monitor else None
    stopping, busy = [], []
    for pod in pods:
        sup = pod.record.get("supervisor") or {}
        fd = None
        if exe is not None and sup.get("kind") == "monitor":
            fd = namespaces.open_pidfd(sup.get("pid"), sup.get("start"))
        if fd is None:
            busy.append(pod)
            continue
        signal.pidfd_send_signal(fd, signal.SIGSTOP)
        stopping.append((pod, sup["pid"], fd))
    idle = []
    settle = time.monotonic() + STOP_SETTLE
    for pod, pid, fd in stopping:
        while proc.stopped(pid) is False and time.monotonic() < settle:
            time.sleep(0.001)
        if proc.stopped(pid) and proc.same_executable(pid, exe):
            idle.append((pod, fd))
        else:   # it was exec'ing its supervisor, or is gone: the usual way
            signal.pidfd_send_signal(fd, signal.SIGCONT)
            os.close(fd)
            busy.append(pod)
    _term_containers([pod for pod, _ in idle])
    for _, fd in idle:
        try:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
            namespaces.wait_pidfd(fd, STOP_EXTRA)
        finally:
            os.close(fd)
    return busy


def _term_containers(pods):
    """SIGTERMs the running containers of pods and waits, up to each pod's
    grace period and all side by side, for them to exit."""
    waiting = []
    start = time.monotonic()
    for pod in pods:
        grace = pod.record["spec"]["grace"]
        for c in pod.record.get("containers", []) if grace > 0 else ():
            fd = namespaces.open_pidfd(c.get("pid"), c.get("start"))
            if fd is not None:
                signal.pidfd_send_signal(fd, signal.SIGTERM)
                waiting.append((fd, start + grace))
    for fd, deadline in waiting:
        try:
            namespaces.wait_pidfd(fd, deadline - time.monotonic())
        finally:
            os.close(fd)


def kill_leftovers(rec):
    """SIGKILLs any recorded pod process that still runs (after a dead
    supervisor) and waits for it to go; ends a pod's pasta (--network
    pasta), which would otherwise only notice its pin going."""
    net = rec.get("network") or {}
    if net.get("network") == "pasta":
        from launcher.net import pasta
        pasta.stop(net)
    for p in [rec.get("pause") or {}] + list(rec.get("containers", [])):
        fd = namespaces.open_pidfd(p.get("pid"), p.get("start"))
        if fd is not None:
            try:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
                namespaces.wait_pidfd(fd, 5.0)
            finally:
                os.close(fd)


def cni_dir(store):
    return os.path.join(store.path, layout.CNI)


def cgroup_parent(rec):
    """The cgroup parent a pod's record names (launcher/supervisor/pod.py)."""
    return ((rec or {}).get("cgroups") or {}).get("parent") or "launcher"


def remove_cgroups(pod, host):
    """Kills everything in a stopped pod's cgroups (whatever escaped its
    supervisor's view: setsid, double forks) and removes them. host: the
    cgroups.detect() of this process (it reads mountinfo, which grows with
    the pods' pins: once per call of release, not once per pod)."""
    from launcher import cgroups
    cg = cgroups.Pod(host, pod.id, cgroup_parent(pod.record))
    cg.kill_all()
    cg.remove()


def release(store, pods):
    """Releases what stopped pods hold: leftover processes are KILLed (the
    recorded ones through pidfds, then everything in the pod's cgroups),
    every orphaned CNI attachment gets its DEL (while the pinned netns
    still exists), then the namespaces are unpinned. Returns the failed
    DELs as [(sandbox id, error)] (they stay pending)."""
    from launcher import cgroups
    from launcher.supervisor import onimage
    host = cgroups.detect() if pods else None
    for pod in pods:
        if pod.record is not None:
            kill_leftovers(pod.record)
        remove_cgroups(pod, host)
        onimage.teardown(pod.record, pod.id)
    failed = []
    if os.path.isdir(cni_dir(store)):
        from launcher.net import cni
        failed = cni.gc(cni_dir(store))[1]
    if pods:
        mounts = store.mounts()
        try:
            for pod in pods:
                namespaces.unpin(mounts, pod.id)
        finally:
            os.close(mounts[1])
    return failed


def dead_pods(store):
    """The pods whose supervisor died without finishing them (ps: dead)."""
    out = []
    for pod in store.pods():
        if pod_state(pod) == DEAD:
            out.append(pod)
        else:
            pod.close()
    return out


def release_dead(store, dead=None):
    """Housekeeping: drop half-made pods and release what dead pods hold
    (dead: the PodDirs, if the caller has them); their records stay, so
    `ps` still shows them dead until `rm`. cgroups of pods the store does
    not know at all (a launcher killed before its record) are removed too."""
    with store.lock():
        store.drop_stale()
    failed = release(store, dead_pods(store) if dead is None else dead)
    from launcher import cgroups

    def known():
        # read after the cgroups are listed: a pod claims its id (under
        # the lock) before it makes its cgroup
        with store.lock():
            return set(store.ids()) | store.tmp_ids()
    cgroups.gc(cgroups.detect(), known, os.environ.get("LAUNCHER_CGROUP_PARENT") or "launcher")
    return failed


def remove(store, pod):
    with store.lock():
        store.remove(pod)


def housekeeping(store):
    """The cheap gc of `run`: at most every GC_EVERY seconds (a stamp file's
    mtime tells), release what dead pods hold, as `launcher gc` does, but
    keep their records so that `ps` still shows them dead."""
    try:
        if time.time() - os.stat(layout.GC_STAMP, dir_fd=store.fd).st_mtime < GC_EVERY:
            return
    except FileNotFoundError:
        pass
    fd = os.open(layout.GC_STAMP, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                 dir_fd=store.fd)
    os.utime(fd)
    os.close(fd)
    cni = os.path.join(store.path, layout.CNI)
    live = [i for i in store.ids() if not os.path.exists(os.path.join(store.path, i, layout.DONE))]
    if live or (os.path.isdir(cni) and any(n.endswith(".json") for n in os.listdir(cni))):
        dead = dead_pods(store)
        release_dead(store, dead)
        for pod in dead:
            pod.close()
