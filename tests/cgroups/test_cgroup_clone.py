"""A pod process is born in its unified cgroup (clone3 CLONE_INTO_CGROUP),
not moved there: spawn.fork() places it before its first instruction, the
v1 cgroups are still entered by the child's step, and a process with a
second thread forks the usual way and is moved by the step instead."""
import os
import threading

import pytest

from launcher.cgroups import names, resources as r
from launcher.runtime import spawn


def _cgroup_lines():
    with open("/proc/self/cgroup") as f:
        return f.read().splitlines()


def _fork_and_report(placement, want):
    """Forks with spawn.fork(placement); the child exits with a bit mask:
    1 = not in the unified cgroup `want` right after fork, 2 = not in it
    after enter(), 4 = a v1 hierarchy without it after enter(). Returns the
    child's exit code."""
    pid = spawn.fork(placement)
    if pid == 0:
        code = 0
        try:
            if f"0::{want}" not in _cgroup_lines():
                code |= 1
            placement.enter()
            lines = _cgroup_lines()
            if f"0::{want}" not in lines:
                code |= 2
            if placement.targets and sum(line.endswith(":" + want) for line in lines) < 2:
                code |= 4
        finally:
            os._exit(code)
    placement.close()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), status
    return os.WEXITSTATUS(status)


@pytest.fixture
def unified(host):
    if host.unified is None:
        pytest.skip("this machine mounts no cgroup v2 (unified) hierarchy")
    return host.unified


def test_the_child_is_born_in_its_unified_cgroup(host, unified, new_pod):
    pod = new_pod({"web": r.empty()})
    want = "/" + os.path.join(pod.rel, names.member("web"))
    assert _fork_and_report(pod.placement("web"), want) == 0


def test_the_sandbox_is_born_in_its_cgroup_too(host, unified, new_pod):
    pod = new_pod()
    want = "/" + os.path.join(pod.rel, names.SANDBOX)
    assert _fork_and_report(pod.placement(None), want) == 0


def test_with_a_second_thread_the_child_is_forked_and_moved_by_enter(host, unified, new_pod):
    """The raw clone3 skips glibc's fork handlers, so a process with
    another thread falls back to os.fork(): the child starts outside the
    pod (bit 1) and enter() moves it in."""
    pod = new_pod({"web": r.empty()})
    want = "/" + os.path.join(pod.rel, names.member("web"))
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert _fork_and_report(pod.placement("web"), want) == 1
    finally:
        stop.set()
        t.join()


def test_no_cgroup_means_a_plain_fork(host):
    pid = spawn.fork(None)
    if pid == 0:
        os._exit(7)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 7
