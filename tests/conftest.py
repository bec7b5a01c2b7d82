"""Suite-wide guard: after every test, no process the test started is still
running or left as a zombie, no mount is left under the test's temporary
directories, and no pod cgroup is left under the launcher's cgroup parents.
A test that leaks fails, and the process and mount leaks are cleaned up."""
import os
import signal
import sys

import pytest
from hypothesis import settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import descendants, sleep_until, stat_fields  # noqa: E402

# No per-example deadline: examples here start processes and namespaces, and a
# busy CI host can stall any one of them for longer than hypothesis's 200 ms.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


def mounts_under(base):
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return sorted(p for p in points if p.startswith(base))


def cgroup_mounts():
    """Mount points of every cgroup hierarchy (v1 and v2)."""
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if ln.split(" - ")[1].split()[0] in ("cgroup", "cgroup2")]


def pod_cgroups(parents):
    """Every pod cgroup under the given cgroup parents, in every hierarchy."""
    out = set()
    for m in cgroup_mounts():
        for parent in parents:
            try:
                out.update(os.path.join(m, parent, n) for n in os.listdir(os.path.join(m, parent))
                           if n.startswith("pod") and os.path.isdir(os.path.join(m, parent, n)))
            except OSError:
                pass
    return out


@pytest.fixture(scope="session", autouse=True)
def no_test_cgroup_parents_left():
    """At the end of the run, the cgroup parents of this run's Launchers go
    (they are empty by then: every test checked its pods')."""
    yield
    from launcher_env import CGROUP_PARENTS
    for m in cgroup_mounts():
        for n in CGROUP_PARENTS:
            try:
                os.rmdir(os.path.join(m, n))
            except OSError:
                pass


@pytest.fixture(autouse=True)
def no_leaks(request, tmp_path_factory):
    """Fails the test if it leaves a process, a zombie child, a mount or a
    pod cgroup behind."""
    base = str(tmp_path_factory.getbasetemp())
    before = set(descendants(os.getpid()))
    mounts_before = mounts_under(base)
    from launcher_env import CGROUP_PARENTS   # the tests' Launchers' parents
    first_parent = len(CGROUP_PARENTS)
    yield
    me = os.getpid()
    problems = []
    if not sleep_until(lambda: not (set(descendants(me)) - before), timeout=3):
        stray = sorted(set(descendants(me)) - before)
        zombies = [p for p in stray if stat_fields(p) and stat_fields(p)[0] == "Z"]
        problems.append("left processes %s (zombies among them: %s)" % (stray, zombies))
        for pid in stray:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in stray:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
    mounts_after = mounts_under(base)
    if mounts_after != mounts_before:
        problems.append("left mounts %s" % sorted(set(mounts_after) - set(mounts_before)))
    mine = CGROUP_PARENTS[first_parent:]   # the cgroup parents this test's Launchers used
    if mine and not sleep_until(lambda: not pod_cgroups(mine), timeout=3):
        problems.append("left pod cgroups %s" % sorted(pod_cgroups(mine)))
    if problems:
        pytest.fail("leak: " + "; ".join(problems))
