"""Exit status (dumb-init's exit_status tests): pause exits with the
command's status, 128+N when it died of signal N, 127 when it cannot be
found (an empty name included) and 126 when it cannot be executed, as PID 1
of a namespace and not."""
import signal
import sys

import pytest
from hypothesis import given, settings, strategies as st

from helpers import IMPLS
from initkit import run_init


@pytest.mark.parametrize("code", [0, 1, 3, 127, 255])
def test_exit_status_passes_through(impl, code, pid1):
    """Should exit with the command's exit status when the command exits."""
    assert run_init(impl, "sh", "-c", "exit %d" % code, pid1=pid1).returncode == code


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV, signal.SIGABRT])
def test_death_by_signal_is_128_plus_n(impl, sig, pid1):
    """Should exit 128+N when the command is killed by signal N (as shells,
    tini and dumb-init do)."""
    r = run_init(impl, sys.executable, "-c", "import os; os.kill(os.getpid(), %d)" % sig, pid1=pid1)
    assert r.returncode == 128 + sig


def test_command_not_found_is_127(impl):
    """Should exit 127 with one line naming the command when it is not found."""
    r = run_init(impl, "no-such-command-anywhere")
    assert r.returncode == 127
    assert b"cannot execute 'no-such-command-anywhere': No such file or directory" in r.stderr


def test_empty_command_is_not_found_127(impl):
    """Should exit 127, not found, when the command is the empty string, as
    execvp("") fails with ENOENT (tini agrees); same line in all three."""
    r = run_init(impl, "")
    assert r.returncode == 127
    assert b"cannot execute '': No such file or directory" in r.stderr


@pytest.mark.parametrize("what", ["no-x-bit", "directory"])
def test_command_not_executable_is_126(impl, tmp_path, what):
    """Should exit 126 when the command exists but cannot be executed."""
    target = tmp_path / "script"
    if what == "directory":
        target.mkdir()
    else:
        target.write_text("#!/bin/sh\nexit 0\n")
        target.chmod(0o644)
    r = run_init(impl, str(target))
    assert r.returncode == 126
    assert b"Permission denied" in r.stderr


@settings(max_examples=25, deadline=None)
@given(outcome=st.one_of(st.integers(0, 255).map(lambda c: ("exit", c)),
                         st.sampled_from([1, 2, 3, 6, 9, 10, 12, 13, 14, 15, 24, 26]).map(lambda s: ("kill", s))),
       impl=st.sampled_from(IMPLS))
def test_any_outcome_maps_to_podmans_exit_code(outcome, impl):
    """Property: exit code c gives c; death by signal s gives 128+s."""
    kind, n = outcome
    r = run_init(impl, "sh", "-c", ("exit %d" if kind == "exit" else "kill -%d $$") % n)
    assert r.returncode == (n if kind == "exit" else 128 + n)
