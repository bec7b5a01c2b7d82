"""Teardown by cgroup: whatever a pod's processes do (setsid, double fork),
kill_all() leaves none, by v2 cgroup.kill, by the v1 freezer, or by the v2
freezer of pre-5.14 kernels; gc() removes the cgroups of pods that are not
live, e.g. after their supervisor was SIGKILLed."""
import os
import select
import signal
import subprocess
import sys

import pytest

from launcher import cgroups, proc as procs
from launcher.cgroups import resources as r, teardown
from helpers import sleep_until

ESCAPE = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        print(os.getpid(), flush=True)
        time.sleep(60)
        os._exit(0)
    os._exit(0)
os.wait()
"""

METHODS = {
    "v2 cgroup.kill": dict(unified=True, how=None),
    "v1 freezer": dict(unified=False, how=None),
    "v2 cgroup.freeze": dict(unified=True, how="freeze"),
}


def _method_host(name):
    m = METHODS[name]
    host = cgroups.detect(unified=m["unified"])
    u = cgroups.detect().unified
    if m["unified"] and u is None:
        pytest.skip("no unified (v2) hierarchy is mounted on this machine")
    if not m["unified"] and host.controller("freezer") is None:
        pytest.skip("no v1 freezer hierarchy is mounted on this machine")
    return host, m["how"]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_setsid_double_fork_escapee_is_gone_after_kill_all(new_pod, spawn, method):
    """A process that left its parent's session and was reparented is still
    in the pod's cgroup, and kill_all() kills it."""
    host, how = _method_host(method)
    if method == "v2 cgroup.kill" and not os.path.exists(os.path.join(host.unified.mount, "cgroup.procs")):
        pytest.skip("no unified hierarchy")
    pod = new_pod({"app": r.empty()}, on=host)
    if method == "v2 cgroup.kill" and not host.has_kill:
        pytest.skip("this kernel has no cgroup.kill (it came in 5.14)")
    if method == "v1 freezer":
        assert host.controller("freezer") in host.used()
    main = spawn.python(pod, "app", ESCAPE, stdout=subprocess.PIPE)
    assert select.select([main.stdout], [], [], 10)[0]
    escapee = int(main.stdout.readline())
    assert main.wait(10) == 0
    start = procs.live_start(escapee)
    assert start and os.getsid(escapee) != os.getsid(0)     # its own session
    assert escapee in teardown.members(host, pod.rel)
    pod.kill_all(how=how)
    # kill_all() returns once the cgroup is empty. The kernel takes a task out
    # of its cgroup (cgroup_exit) after it has dropped its memory, files and
    # namespaces but a moment before it turns into a zombie (exit_notify), so
    # under load /proc can still show it running for a few milliseconds.
    assert sleep_until(lambda: not procs.alive(escapee, start), timeout=2)
    assert teardown.members(host, pod.rel) == set()
    pod.remove()
    assert pod.paths() == []


def test_kill_all_of_an_idle_or_empty_pod_returns_at_once(host, new_pod):
    """No process: kill_all() is one read of cgroup.events (or of the procs files)."""
    pod = new_pod()
    import time
    t0 = time.monotonic()
    pod.kill_all()
    assert time.monotonic() - t0 < 0.5


def test_kill_all_kills_every_container_and_the_sandbox(host, new_pod, spawn):
    """Sandbox and containers alike, in one call."""
    pod = new_pod({"a": r.empty(), "b": r.empty()})
    ps = [spawn(pod, None, ["sleep", "30"]), spawn(pod, "a", ["sleep", "30"]),
          spawn(pod, "b", ["sh", "-c", "sleep 30; sleep 30"])]
    assert len(teardown.members(host, pod.rel)) >= 3
    pod.kill_all()
    assert [p.wait(5) for p in ps] == [-9, -9, -9]


SUPERVISOR = """
import os, sys, time
from launcher import cgroups
from launcher.cgroups import resources as r
host = cgroups.detect()
pod = cgroups.Pod(host, sys.argv[1], sys.argv[2])
pod.create(r.pod([r.empty()]), {"app": r.empty()})
kids = []
for member in (None, "app"):
    r_fd, w_fd = os.pipe2(os.O_CLOEXEC)             # EOF once the child has exec'd
    with pod.placement(member) as p:
        pid = os.fork()
        if pid == 0:
            p.enter()
            os.execvp("sleep", ["sleep", "60"])
    os.close(w_fd)
    os.read(r_fd, 1)
    os.close(r_fd)
    kids.append(pid)
print(" ".join(map(str, kids)), flush=True)
time.sleep(60)
"""


def test_gc_after_a_sigkilled_supervisor_removes_the_pods_cgroups(host, parent, new_pod, spawn, subreaper):
    """A supervisor that made a pod and was SIGKILLed leaves processes in the
    pod's cgroups; gc(live) kills them and removes the cgroups, and leaves a
    live pod alone."""
    live = new_pod({"web": r.empty()})
    live_proc = spawn(live, "web", ["sleep", "30"])
    dead_id = f"dead{os.getpid()}"
    sup = subprocess.Popen([sys.executable, "-c", SUPERVISOR, dead_id, parent], stdout=subprocess.PIPE)
    try:
        assert select.select([sup.stdout], [], [], 30)[0], "the supervisor did not start its pod"
        kids = [int(p) for p in sup.stdout.readline().split()]
        starts = [procs.live_start(k) for k in kids]
        sup.send_signal(signal.SIGKILL)
        assert sup.wait(5) == -9
        assert all(procs.alive(k, s) for k, s in zip(kids, starts))   # orphans, still running
        assert dead_id in cgroups.pod_ids(host, parent)
        assert cgroups.gc(host, [live.id], parent) == [dead_id]
        assert not any(procs.alive(k, s) for k, s in zip(kids, starts))
        assert dead_id not in cgroups.pod_ids(host, parent)
        assert all(dead_id not in p for p in cgroups.leftovers(host, parent))
        assert live_proc.poll() is None and live.paths()
    finally:
        sup.stdout.close()
        if sup.poll() is None:
            sup.kill()
            sup.wait(5)
        teardown.kill_all(host, dead_id, parent)
        teardown.remove(host, dead_id, parent)
    sleep_until(lambda: True)


def test_gc_with_everything_live_removes_nothing(host, new_pod):
    """gc() touches only pods that are not live."""
    pod = new_pod()
    assert cgroups.gc(host, [pod.id], pod.parent) == []
    assert pod.paths()


def test_gc_reads_the_live_ids_after_listing_the_cgroups(host, parent, new_pod, spawn):
    """A pod claims its id, then makes its cgroup; housekeeping may run at
    any point of that. gc lists the cgroups first, then reads the live ids
    (a function): here the store is read (no pod), then a pod claims its id
    and makes its cgroup with a process in it before gc goes on. Listing
    after the read would find that cgroup unknown and kill the new pod."""
    made = []

    def live_ids():
        ids = set()                                # the store, read now
        pod = new_pod({"web": r.empty()})          # a pod claims its id, makes its cgroup
        made.append((pod, spawn(pod, "web", ["sleep", "30"])))
        return ids

    assert cgroups.gc(host, live_ids, parent) == []
    (pod, proc), = made
    assert proc.poll() is None and pod.paths()
