"""Job control (dumb-init's shell_background tests): run from an interactive
shell, not PID 1, the terminal's stop signals TSTP, TTIN and TTOU suspend the
command and pause (pause forwards, then stops itself), and CONT resumes both;
as PID 1 of a namespace pause only forwards them, and never stops."""
import os
import signal
import subprocess
import sys

import pytest

from helpers import child_pids, in_sigwait, pause_argv, sleep_until
from initkit import RUNNING, STOPPED, TTY_STOPS, Catcher, Terminal, state, wait_state

# How each stop signal comes from a real terminal: Ctrl-Z on a foreground
# job; a background job reading the terminal; one writing to it with tostop.
TERMINAL_STOPS = {
    "tstp": (["sleep", "60"], False),
    "ttin": (["cat"], True),
    "ttou": (["sh", "-c", "echo written-by-the-job; read line"], True),
}


@pytest.fixture
def terminal():
    t = Terminal()
    yield t
    t.close()


@pytest.mark.parametrize("how", sorted(TERMINAL_STOPS))
@pytest.mark.parametrize("group", [False, True], ids=["no-g", "g"])
def test_terminal_stops_and_fg_resumes_the_command_and_pause(impl, terminal, how, group):
    """Should stop both pause and the command (state T) when the terminal
    stops the job (Ctrl-Z, a background read, a background write with tostop),
    in both group modes, and run both again when the shell's fg continues it;
    the job then ends as it would have without pause."""
    command, background = TERMINAL_STOPS[how]
    if how == "ttou":
        terminal.command("stty tostop")
    pause = terminal.run_job(pause_argv(impl, *(["-g"] if group else []), "--", *command), background)
    kids = sleep_until(lambda: child_pids(pause), 10)
    assert kids, "pause started no command"
    child = kids[0]
    if how == "tstp":
        assert sleep_until(lambda: in_sigwait(pause), 10), "pause never settled in its loop"
        terminal.type("\x1a")  # Ctrl-Z
    assert wait_state([pause, child], STOPPED), (state(pause), state(child))
    assert b"Stopped" in terminal.command("jobs")
    terminal.type("fg\n")
    assert wait_state([pause, child], RUNNING), (state(pause), state(child))
    if how == "tstp":
        terminal.type("\x03")  # Ctrl-C: INT to the foreground, the command dies of it
        expected = 128 + signal.SIGINT
    elif how == "ttin":
        terminal.type("typed-at-the-terminal\n\x04")  # a line for cat, then end of file
        expected = 0
    else:
        terminal.type("typed-at-the-terminal\n")  # the line the job reads after writing
        expected = 0
    out = terminal.prompt()
    assert out is not None, "the job never ended"
    if how == "ttin":
        assert out.count(b"typed-at-the-terminal") == 2  # echoed by the terminal, then by cat
    if how == "ttou":
        assert b"written-by-the-job" in out
    assert b"status=%d" % expected in terminal.command("echo status=$?")


@pytest.mark.parametrize("sig", TTY_STOPS)
def test_stop_signal_is_forwarded_then_pause_stops_itself(impl, sig):
    """Should forward TSTP, TTIN or TTOU to the command and then suspend
    itself when not PID 1 (the command here catches the signal, so only pause
    stops), and forward CONT and run again when continued (dumb-init's
    test_shell_background_support_without_setsid)."""
    c = Catcher(impl)
    try:
        c.send(sig)
        assert c.got() == sig
        assert wait_state([c.pause], STOPPED)
        assert state(c.child) in RUNNING
        c.send(signal.SIGCONT)
        assert c.got() == signal.SIGCONT
        assert wait_state([c.pause], RUNNING)
        assert sleep_until(c.settled, 10)
    finally:
        code, got = c.finish()
    assert (code, got) == (0, [])


@pytest.mark.parametrize("group", [False, True], ids=["no-g", "g"])
def test_kill_tstp_suspends_a_default_command_and_pause(impl, group):
    """Should leave both pause and a command with the default TSTP action
    stopped when TSTP is sent to pause, and both running after CONT (with -g
    the command's own process group is stopped and continued)."""
    opts = ["-g"] if group else []
    r, w = os.pipe()
    # a session of its own with pause in a process group of its own, as a shell
    # runs a job: the stop signal's default action needs a group that is not orphaned
    job = ("import os, subprocess, sys\n"
           "p = subprocess.Popen(sys.argv[2:], process_group=0, pass_fds=(int(sys.argv[1]),))\n"
           "sys.exit(p.wait())\n")
    argv = [sys.executable, "-c", job, str(w),
            *pause_argv(impl, "--ready-fd", str(w), *opts, "--", "sleep", "60")]
    leader = subprocess.Popen(argv, pass_fds=(w,), start_new_session=True, stderr=subprocess.DEVNULL)
    os.close(w)
    try:
        assert os.read(r, 64) == b"ready\n"
        pause = sleep_until(lambda: child_pids(leader.pid), 10)[0]
        child = sleep_until(lambda: child_pids(pause), 10)[0]
        assert sleep_until(lambda: in_sigwait(pause), 10)
        os.kill(pause, signal.SIGTSTP)
        assert wait_state([pause, child], STOPPED), (state(pause), state(child))
        os.kill(pause, signal.SIGCONT)
        assert wait_state([pause, child], RUNNING), (state(pause), state(child))
        os.kill(pause, signal.SIGTERM)
        assert leader.wait(20) == 128 + signal.SIGTERM
    finally:
        os.close(r)
        if leader.poll() is None:
            for pid in child_pids(leader.pid):
                os.kill(pid, signal.SIGKILL)
            leader.kill()
            leader.wait(10)


@pytest.mark.parametrize("sig", TTY_STOPS)
def test_as_pid1_stop_signals_are_forwarded_and_pause_never_stops(impl, sig):
    """Should forward TSTP, TTIN and TTOU as PID 1 of a namespace and go back
    to its loop without stopping: a PID 1 frozen by a stray TSTP would stop
    reaping the whole pod."""
    c = Catcher(impl, pid1=True)
    try:
        c.send(sig)
        assert c.got() == sig
        assert sleep_until(c.settled, 10), state(c.pause)  # back in sigwaitinfo: not stopped
    finally:
        code, got = c.finish()
    assert (code, got) == (0, [])
