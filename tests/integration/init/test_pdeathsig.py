"""Parent-death signal, -p/--pdeathsig SIG (tini -p): when the process that
started pause dies, the kernel sends pause SIG, and pause acts on it as on
any SIG: pause mode exits 0 on TERM, init mode forwards it to the command.
Without -p pause outlives its parent."""
import os
import signal
import subprocess
import sys

import pytest

from helpers import in_sigwait, pause_argv, sleep_until
from initkit import RUNNING, LineReader, gone, pending, state

# The parent: starts pause (READY_FD in its argv is replaced by a pipe's
# fd), prints pause's pid once pause is ready, then exits when told to.
PARENT = """
import os, subprocess, sys
r, w = os.pipe()
p = subprocess.Popen([str(w) if a == "READY_FD" else a for a in sys.argv[1:]], pass_fds=(w,))
os.close(w)
assert os.read(r, 64) == b"ready\\n"
print(p.pid, flush=True)
sys.stdin.readline()
os._exit(0)
"""

# A command that says when it got TERM, and then exits 0.
COMMAND = ("import os, signal\n"
           "signal.signal(signal.SIGTERM, lambda *_: (os.write(1, b'command-got-term\\n'), os._exit(0)))\n"
           "os.write(1, b'command-up\\n')\n"
           "signal.pause()\n")


class Orphaned:
    """pause started by a parent that we then let die."""

    def __init__(self, impl, *args):
        self.parent = subprocess.Popen([sys.executable, "-c", PARENT,
                                        *pause_argv(impl, "--ready-fd", "READY_FD", *args)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = LineReader(self.parent.stdout.fileno())
        self.err = LineReader(self.parent.stderr.fileno())
        line = self.out.line(20)
        assert line.strip().isdigit(), (line, self.parent.poll())
        self.pause = int(line)
        assert sleep_until(lambda: in_sigwait(self.pause), 10)

    def let_the_parent_die(self):
        self.parent.stdin.write(b"go\n")
        self.parent.stdin.close()
        assert self.parent.wait(10) == 0

    def close(self):
        if not gone(self.pause):
            os.kill(self.pause, signal.SIGKILL)
        assert sleep_until(lambda: gone(self.pause), 10)
        if self.parent.poll() is None:
            self.parent.kill()
            self.parent.wait(10)
        self.parent.stdout.close()
        self.parent.stderr.close()


@pytest.fixture
def orphaned():
    made = []

    def make(impl, *args):
        made.append(Orphaned(impl, *args))
        return made[-1]
    yield make
    for o in made:
        o.close()


@pytest.mark.parametrize("spec", ["TERM", "SIGTERM", "15"])
def test_pause_mode_exits_on_its_parents_death(impl, orphaned, spec):
    """Should exit 0, with its shutdown line, when its parent dies, in pause
    mode with -p TERM (the signal by name, SIG-name or number)."""
    o = orphaned(impl, "-p", spec)
    o.let_the_parent_die()
    assert o.err.until(b"info: shutting down on signal 15\n", 10) is not None
    assert sleep_until(lambda: gone(o.pause), 10)


def test_init_mode_forwards_the_parent_death_signal(impl, orphaned):
    """Should forward the parent-death signal to the command in init mode:
    the command gets TERM when pause's parent dies."""
    o = orphaned(impl, "--pdeathsig", "TERM", "--", sys.executable, "-c", COMMAND)
    assert o.out.until(b"command-up\n", 20) is not None
    o.let_the_parent_die()
    assert o.out.until(b"command-got-term\n", 10) is not None
    assert sleep_until(lambda: gone(o.pause), 10)


def test_without_p_pause_outlives_its_parent(impl, orphaned):
    """Should go on untouched when its parent dies and -p was not given: once
    reparented it still sits in its loop with nothing pending."""
    o = orphaned(impl)
    o.let_the_parent_die()
    assert sleep_until(lambda: in_sigwait(o.pause) and not pending(o.pause), 10)
    assert state(o.pause) in RUNNING
