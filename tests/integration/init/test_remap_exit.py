"""Exit code remapping, -e/--remap-exit CODE (tini -e): the command's exit
code CODE (128+N for death by signal N) makes pause exit 0; others pass
through unchanged."""
import os
import signal
import subprocess

import pytest

from helpers import child_pids, first_line, pause_argv, sleep_until
from initkit import UNSHARE, run_init


def test_143_remapped_when_the_command_dies_of_term(impl, pid1):
    """Should exit 0 with -e 143 when TERM sent to pause kills the command
    (the common ask: a clean stop is not a failure)."""
    argv = pause_argv(impl, "-e", "143", "--", "sh", "-c", "echo up; exec sleep 30")
    p = subprocess.Popen(UNSHARE + argv if pid1 else argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert first_line(p.stdout) == b"up\n"
    target = sleep_until(lambda: child_pids(p.pid), 5)[0] if pid1 else p.pid
    os.kill(target, signal.SIGTERM)
    p.communicate(timeout=10)
    assert p.returncode == 0


@pytest.mark.parametrize("code, expected", [(3, 0), (4, 0), (5, 5), (0, 0), (143, 143)])
def test_only_the_listed_codes_are_remapped(impl, code, expected):
    """Should exit 0 for every code given with -e (repeatable) and pass any
    other through."""
    r = run_init(impl, "sh", "-c", "exit %d" % code, pause_opts=("-e", "3", "--remap-exit", "4"))
    assert r.returncode == expected


def test_death_by_signal_is_remapped_as_128_plus_n(impl):
    """Should remap death by signal N when -e names 128+N."""
    r = run_init(impl, "sh", "-c", "kill -KILL $$", pause_opts=("-e", "137"))
    assert r.returncode == 0
    r = run_init(impl, "sh", "-c", "kill -KILL $$", pause_opts=("-e", "9"))
    assert r.returncode == 137


def test_cannot_run_is_remapped_too(impl):
    """Should remap 127 (command not found) like any other code when asked."""
    assert run_init(impl, "no-such-command-anywhere", pause_opts=("-e", "127")).returncode == 0
