"""Fixtures for the cgroup tests: real cgroups, as root, no mocks.

Every test's pods live under a parent cgroup of this test session's own
(`launcher-test-PID`), so other suites creating pods under `launcher` at the
same time neither disturb nor are disturbed by these tests. After each test,
`cgroup_leaks` fails the test if anything is left under that parent in any
hierarchy (cleaning it up), and the session removes the parent at the end.
Tests that make orphans (double forks, fork loops) use `subreaper`, so the
orphans come back to this process and are reaped, not left to the host's
init."""
import os
import subprocess
import sys

import pytest

from launcher import cgroups
from launcher.cgroups import layout, teardown
from launcher.errors import LauncherError

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import sleep_until, stat_fields  # noqa: E402

ROOT = os.geteuid() == 0
PARENT = f"launcher-test-{os.getpid()}"


def _clean(host, parent):
    """Kills and removes every pod under parent; returns what was there."""
    left = layout.leftovers(host, parent)
    for pod_id in layout.pod_ids(host, parent):
        try:
            teardown.kill_all(host, pod_id, parent)
            teardown.remove(host, pod_id, parent, timeout=3)
        except LauncherError:
            pass
    return left


@pytest.fixture(scope="session")
def parent():
    """The session's parent cgroup name; removed (with anything left) at the end."""
    yield PARENT
    if ROOT:
        host = cgroups.detect()
        _clean(host, PARENT)
        layout.remove_parent(host, PARENT)


@pytest.fixture
def host():
    """A fresh detection of this machine's hierarchies, as each launcher
    process makes; skips the test when not root."""
    if not ROOT:
        pytest.skip("needs root (real cgroups)")
    return cgroups.detect()


@pytest.fixture(autouse=True)
def cgroup_leaks(parent):
    """Fails the test if it leaves any cgroup under the session's parent."""
    yield
    if not ROOT:
        return
    left = _clean(cgroups.detect(), parent)
    if left:
        pytest.fail("left cgroups behind: %s" % left)


@pytest.fixture
def subreaper(host):
    """This process is a child subreaper for the test: orphans of the pod
    processes it starts are reparented here, and reaped after the test."""
    import prctl
    prctl.set_child_subreaper(1)
    yield
    me = os.getpid()

    def zombies():
        out = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                st = stat_fields(int(name))
                if st and st[1] == me and st[0] == "Z":
                    out.append(int(name))
        return out
    try:
        for _ in range(3):
            for pid in zombies():
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
            sleep_until(lambda: not zombies(), timeout=0.2)
    finally:
        prctl.set_child_subreaper(0)


class Spawner:
    """Starts real processes into a pod's cgroups the launcher's way: the
    Placement is opened before fork, the child calls enter() (Popen's
    preexec_fn runs in the child after fork, before exec), the parent closes
    it. Every process is killed and reaped after the test."""

    def __init__(self):
        self.procs = []

    def __call__(self, pod, container, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        with pod.placement(container) as placement:
            proc = subprocess.Popen(argv, preexec_fn=placement.enter, **kw)
        self.procs.append(proc)
        return proc

    def python(self, pod, container, code, **kw):
        """sys.executable -c code, in the container's cgroups."""
        return self(pod, container, [sys.executable, "-c", code], **kw)

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            for f in (proc.stdout, proc.stderr):
                if f:
                    f.close()


@pytest.fixture
def spawn(subreaper):
    s = Spawner()
    yield s
    s.close()


@pytest.fixture
def new_pod(host, parent, subreaper):
    """new_pod(containers={name: resources dict}, pids_limit=..., host=...):
    creates a pod's cgroups under the session parent; all are killed and
    removed after the test (the leak check then finds nothing)."""
    from launcher.cgroups import resources
    made = []
    count = [0]

    def make(containers=None, pids_limit=resources.DEFAULT_PIDS_LIMIT, on=None, init=()):
        containers = {"app": resources.empty()} if containers is None else containers
        count[0] += 1
        pod = cgroups.Pod(on or host, f"{os.getpid()}x{count[0]}", parent)
        pod.create(resources.pod(list(containers.values()), init, pids_limit), containers)
        made.append(pod)
        return pod
    yield make
    for pod in made:
        try:
            pod.kill_all()
            pod.remove(timeout=3)
        except LauncherError:
            pass

