"""Signal rewriting, -r/--rewrite S:R (dumb-init's --rewrite): signal S sent
to pause reaches the command as R; names or numbers; R = 0 drops S; with -g
the rewritten signal goes to the whole group."""
import os
import signal
import subprocess
import sys

import pytest

from helpers import first_line, pause_argv, sleep_until
from initkit import RUNNING, STOPPED, Catcher, run_init, state, wait_state

# Forwarded unchanged by every map below: proves that a dropped signal left nothing behind.
PROBE = signal.SIGWINCH


@pytest.mark.parametrize("spec", ["15:10", "TERM:USR1", "SIGTERM:SIGUSR1", "15:SIGUSR1"])
def test_rewritten_signal_reaches_the_command(impl, pid1, spec):
    """Should forward TERM as USR1 when -r maps it, whether the signals are
    given by number, by name or by SIG-name."""
    c = Catcher(impl, ("-r", spec), pid1=pid1)
    try:
        c.send(signal.SIGTERM)
        assert c.got() == signal.SIGUSR1
        c.send(signal.SIGHUP)       # not in the map: unchanged
        assert c.got() == signal.SIGHUP
    finally:
        code, got = c.finish()
    assert (code, got) == (0, [])


def test_several_rewrites_and_the_last_one_wins(impl):
    """Should apply every -r given, the last one for a signal named twice."""
    c = Catcher(impl, ("-r", "HUP:USR2", "-r", "INT:QUIT", "-r", "HUP:ALRM"))
    try:
        c.send(signal.SIGHUP)
        assert c.got() == signal.SIGALRM
        c.send(signal.SIGINT)
        assert c.got() == signal.SIGQUIT
    finally:
        code, got = c.finish()
    assert (code, got) == (0, [])


def test_rewrite_to_zero_drops_the_signal(impl, pid1):
    """Should drop a signal rewritten to 0: the command never gets it."""
    c = Catcher(impl, ("-r", "USR1:0"), pid1=pid1)
    try:
        c.send(signal.SIGUSR1)
        assert sleep_until(c.settled, 10)   # taken and dealt with
        c.send(PROBE)
        assert c.got() == PROBE              # and nothing came before the probe
    finally:
        code, got = c.finish()
    assert (code, got) == (0, [])


def test_dropped_tstp_does_not_stop_pause(impl):
    """Should neither forward nor stop for TSTP rewritten to 0, not PID 1."""
    c = Catcher(impl, ("-r", "TSTP:0"))
    try:
        c.send(signal.SIGTSTP)
        assert sleep_until(c.settled, 10), state(c.pause)
        c.send(PROBE)
        assert c.got() == PROBE
    finally:
        code, got = c.finish()
    assert (code, got) == (0, [])


def test_tstp_rewritten_to_stop_stops_even_a_catching_command(impl):
    """Should stop a command that catches TSTP when TSTP is rewritten to STOP
    (dumb-init's default in setsid mode), pause with it; CONT resumes both."""
    c = Catcher(impl, ("-r", "TSTP:STOP"))
    try:
        c.send(signal.SIGTSTP)
        assert wait_state([c.pause, c.child], STOPPED)
        c.send(signal.SIGCONT)
        assert c.got() == signal.SIGCONT
        assert wait_state([c.pause, c.child], RUNNING)
    finally:
        code, got = c.finish()
    assert (code, got) == (0, [])


def test_term_rewritten_to_kill_ends_a_command_that_ignores_term(impl):
    """Should kill a command that ignores TERM when TERM is rewritten to KILL: 137."""
    p = subprocess.Popen(pause_argv(impl, "-r", "TERM:KILL", "--", "sh", "-c",
                                    "trap '' TERM; echo up; while :; do sleep 1; done"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert first_line(p.stdout) == b"up\n"
    p.terminate()
    p.communicate(timeout=10)
    assert p.returncode == 128 + signal.SIGKILL


def test_with_g_the_rewritten_signal_goes_to_the_group(impl):
    """Should send the rewritten signal to the whole process group with -g."""
    family = ("trap 'echo parent-got-usr1' USR1; (trap 'echo grandchild-got-usr1; exit 0' USR1; "
              "echo ready; sleep 5 & wait) & wait; wait")
    p = subprocess.Popen(pause_argv(impl, "-g", "-r", "HUP:USR1", "--", "sh", "-c", family),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert first_line(p.stdout) == b"ready\n"
    p.send_signal(signal.SIGHUP)
    out, _ = p.communicate(timeout=20)
    assert b"grandchild-got-usr1" in out and b"parent-got-usr1" in out
    assert p.returncode == 0


def test_rewrite_debug_line_says_what_became_of_the_signal(impl):
    """Should log, with PAUSE_DEBUG, each signal forwarded as another or dropped."""
    c = Catcher(impl, ("-r", "HUP:USR1", "-r", "INT:0"), env=dict(os.environ, PAUSE_DEBUG="1"))
    try:
        c.send(signal.SIGHUP)
        assert c.got() == signal.SIGUSR1
        c.send(signal.SIGINT)
        assert sleep_until(c.settled, 10)
    finally:
        code, _ = c.finish()
    assert code == 0
    assert "debug: forwarding signal 1 as 10 to %d\n" % c.child in c.err
    assert "debug: dropping signal 2\n" in c.err


def test_rewrite_needs_no_pid1_and_exit_status_is_unchanged(impl):
    """Should pass the command's exit status through as ever with -r given."""
    r = run_init(impl, sys.executable, "-c", "raise SystemExit(9)", pause_opts=("-r", "TERM:INT"))
    assert r.returncode == 9
