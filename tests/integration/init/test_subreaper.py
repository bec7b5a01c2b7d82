"""Child subreaper (tini -s): not PID 1, pause is always a child subreaper, so
orphans of the command's descendants come to pause and are reaped; -s asks
for it explicitly and so drops the warning; as PID 1 it changes nothing."""
import os
import subprocess

import pytest

from helpers import pause_argv
from initkit import run_init

# The command makes an orphan (exit 5) and exits 3 once it is gone for good,
# reaped by pause, so pause cannot exit before reporting it.
SCRIPT = (r'o=$(sh -c "(sleep 0.2; exit 5) >/dev/null & echo \$!"); '
          'i=0; while ps -p "$o" >/dev/null && [ $i -lt 500 ]; do i=$((i+1)); sleep 0.02; done; exit 3')


def run_with_events(impl, *opts):
    """Runs pause OPTS --events-fd -- SCRIPT; returns (code, stderr, events)."""
    r, w = os.pipe()
    proc = subprocess.Popen(pause_argv(impl, "--events-fd", str(w), *opts, "--", "sh", "-c", SCRIPT),
                            pass_fds=(w,), stderr=subprocess.PIPE)
    os.close(w)
    _, err = proc.communicate(timeout=20)
    with os.fdopen(r, "rb") as f:
        events = f.read().decode()
    return proc.returncode, err.decode(), events


@pytest.mark.parametrize("flag", ["-s", "--subreaper"])
def test_s_reaps_orphans_of_descendants_without_the_warning(impl, flag):
    """Should reap an orphaned grandchild (reparented to pause) and print no
    not-PID-1 warning with -s."""
    code, err, events = run_with_events(impl, flag)
    assert code == 3
    assert '"exit":5}' in events
    assert "not PID 1" not in err


def test_without_s_the_same_with_a_warning(impl):
    """Should still become a subreaper without -s, and warn in one line that
    it is not PID 1."""
    code, err, events = run_with_events(impl)
    assert code == 3
    assert '"exit":5}' in events
    assert "warning: not PID 1" in err and "subreaper" in err


def test_s_as_pid1_changes_nothing(impl):
    """Should accept -s as PID 1 and behave as without it."""
    r = run_init(impl, "sh", "-c", "exit 6", pause_opts=("-s",), pid1=True)
    assert r.returncode == 6 and b"warning" not in r.stderr
