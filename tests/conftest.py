"""Suite-wide guard: after every test, no process the test started is still
running or left as a zombie, and no mount is left under the test's temporary
directories. A test that leaks fails, and the leak is cleaned up."""
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


@pytest.fixture(autouse=True)
def no_leaks(request, tmp_path_factory):
    """Fails the test if it leaves a process, a zombie child or a mount behind."""
    base = str(tmp_path_factory.getbasetemp())
    before = set(descendants(os.getpid()))
    mounts_before = mounts_under(base)
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
    if problems:
        pytest.fail("leak: " + "; ".join(problems))
