"""pause in init mode (`pause [opts] -- CMD ARGS`), for each implementation:
exit status passed through (128+N for a signal, 127/126 when the command
cannot run), signals forwarded to the child (or its process group with -g),
a clean signal state in the child, orphans reaped, both as PID 1 of a PID
namespace and not."""
import os
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings, strategies as st

from helpers import IMPLS, first_line, pause_argv

# What init mode forwards: every signal a user can send, bar KILL/STOP,
# CHLD, the synchronous faults and the C libraries' 32-34 (see pause_core.c).
NOT_FORWARDED = {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGSEGV, signal.SIGBUS,
                 signal.SIGILL, signal.SIGFPE, signal.SIGTRAP, signal.SIGSYS, 32, 33, 34}
FORWARDED = [s for s in range(1, signal.SIGRTMAX + 1) if s not in NOT_FORWARDED]

# A child that reports, on stdout, each signal it receives and exits 0 on
# the sentinel USR2. It announces itself once its handlers are installed.
CATCHER = """
import os, signal, sys
def got(sig, _):
    os.write(1, b"got %d\\n" % sig)
    if sig == signal.SIGUSR2:
        os._exit(0)
for s in range(1, signal.SIGRTMAX + 1):
    if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, 32, 33, 34):
        try:
            signal.signal(s, got)
        except (OSError, ValueError):
            pass
os.write(1, b"up\\n")
while True:
    signal.pause()
"""


@pytest.fixture(params=IMPLS)
def impl(request):
    return request.param


def run_init(impl, *cmd, pause_opts=(), timeout=20, pid1=False, **kw):
    """Runs `pause OPTS -- CMD`, as PID 1 of a new PID namespace (with its own
    /proc, so ps inside tells the truth) if pid1; returns the CompletedProcess
    (stderr captured)."""
    argv = pause_argv(impl, *pause_opts, "--", *cmd)
    if pid1:
        argv = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", *argv]
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, **kw)


class Catcher:
    """pause -- CATCHER, started and waited for until the catcher is up."""

    def __init__(self, impl, pause_opts=()):
        self.proc = subprocess.Popen(pause_argv(impl, *pause_opts, "--", sys.executable, "-c", CATCHER),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert first_line(self.proc.stdout) == b"up\n"

    def send(self, sig):
        os.kill(self.proc.pid, sig)

    def finish(self):
        """Sends the USR2 sentinel; returns (exit code, signals the child got)."""
        self.send(signal.SIGUSR2)
        out, _ = self.proc.communicate(timeout=20)
        got = [int(line.split()[1]) for line in out.decode().splitlines()]
        return self.proc.returncode, got


@pytest.mark.parametrize("code", [0, 1, 3, 127, 255])
@pytest.mark.parametrize("pid1", [False, True], ids=["child", "pid1"])
def test_exit_status_passes_through(impl, code, pid1):
    """pause exits with the command's exit status."""
    assert run_init(impl, "sh", "-c", "exit %d" % code, pid1=pid1).returncode == code


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV, signal.SIGABRT])
def test_death_by_signal_is_128_plus_n(impl, sig):
    """A command killed by signal N makes pause exit 128+N (as shells, tini and dumb-init do)."""
    r = run_init(impl, sys.executable, "-c", "import os; os.kill(os.getpid(), %d)" % sig)
    assert r.returncode == 128 + sig


def test_command_not_found_is_127(impl):
    r = run_init(impl, "no-such-command-anywhere")
    assert r.returncode == 127
    assert b"cannot execute 'no-such-command-anywhere': No such file or directory" in r.stderr


@pytest.mark.parametrize("what", ["no-x-bit", "directory"])
def test_command_not_executable_is_126(impl, tmp_path, what):
    target = tmp_path / "script"
    if what == "directory":
        target.mkdir()
    else:
        target.write_text("#!/bin/sh\nexit 0\n")
        target.chmod(0o644)
    r = run_init(impl, str(target))
    assert r.returncode == 126
    assert b"Permission denied" in r.stderr


# rt_sigaction(2) and rt_sigprocmask(2), which glibc's wrappers would refuse for 32 and 33.
RAW_SIGNAL_CALLS = {"x86_64": (13, 14), "aarch64": (134, 135)}


def ignore_and_block_everything():
    """preexec_fn: the parent from hell. Every signal but KILL and STOP is
    ignored and blocked, the C libraries' 32-34 included, as pause inherits it."""
    import ctypes
    sigaction, sigprocmask = RAW_SIGNAL_CALLS[os.uname().machine]
    libc = ctypes.CDLL(None, use_errno=True)
    ignore = ctypes.create_string_buffer(32)
    ctypes.c_void_p.from_buffer(ignore).value = 1  # SIG_IGN
    for sig in range(1, 65):
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            assert libc.syscall(sigaction, sig, ignore, None, 8) == 0
    everything = ctypes.c_uint64(~0 & (2 ** 64 - 1))
    assert libc.syscall(sigprocmask, signal.SIG_SETMASK, ctypes.byref(everything), None, 8) == 0


def needs_raw_signal_calls():
    if os.uname().machine not in RAW_SIGNAL_CALLS:
        pytest.skip("no rt_sigaction number known for %s" % os.uname().machine)


def test_child_starts_with_clean_signal_state(impl):
    """Nothing pause blocks or ignores leaks into the command: empty mask, no SIG_IGN."""
    r = run_init(impl, "sh", "-c", "grep -E '^Sig(Blk|Ign):' /proc/self/status")
    assert r.returncode == 0
    assert r.stdout.decode().split() == ["SigBlk:", "0" * 16, "SigIgn:", "0" * 16]


def test_child_signal_state_is_clean_whatever_pause_inherited(impl):
    """Started by a parent that ignores and blocks every signal (32-34 too),
    pause still runs the command with an empty mask and no SIG_IGN, and still
    gets its exit status (an inherited ignored CHLD would make the kernel reap
    the child itself)."""
    needs_raw_signal_calls()
    r = run_init(impl, "sh", "-c", "grep -E '^Sig(Blk|Ign):' /proc/self/status; exit 3",
                 preexec_fn=ignore_and_block_everything)
    assert r.returncode == 3, r.stderr
    assert r.stdout.decode().split() == ["SigBlk:", "0" * 16, "SigIgn:", "0" * 16]


def test_reaps_and_stops_whatever_it_inherited(impl):
    """Started by that parent, init mode still reports its child's exit status
    as an event, and pause mode still exits 0 on TERM."""
    needs_raw_signal_calls()
    r, w = os.pipe()
    proc = subprocess.Popen(pause_argv(impl, "--events-fd", str(w), "--", "sh", "-c", "exit 5"),
                            pass_fds=(w,), stderr=subprocess.PIPE, preexec_fn=ignore_and_block_everything)
    os.close(w)
    try:
        assert proc.wait(20) == 5
        assert b'"exit":5' in os.read(r, 4096)
    finally:
        os.close(r)
    r, w = os.pipe()
    proc = subprocess.Popen(pause_argv(impl, "--ready-fd", str(w)), pass_fds=(w,),
                            stderr=subprocess.PIPE, preexec_fn=ignore_and_block_everything)
    os.close(w)
    try:
        assert first_line(os.fdopen(r, "rb", buffering=0)) == b"ready\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_child_gets_default_dispositions_even_when_pause_inherited_ignores(impl):
    """A TERM ignored by pause's own parent is still fatal to the command (default action)."""
    script = "import os, signal; os.kill(os.getpid(), signal.SIGTERM); os._exit(7)"
    r = run_init(impl, sys.executable, "-c", script,
                 preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    assert r.returncode == 128 + signal.SIGTERM


def test_every_user_signal_is_forwarded(impl):
    """Each forwardable signal sent to pause reaches the command, in order."""
    c = Catcher(impl)
    sent = [s for s in FORWARDED if s != signal.SIGUSR2]
    for s in sent:
        c.send(s)
        # one at a time: standard signals do not queue, so wait for each
        line = first_line(c.proc.stdout, 5)
        assert line == b"got %d\n" % s, (s, line)
    code, got = c.finish()
    assert code == 0 and got == [signal.SIGUSR2]


@pytest.mark.parametrize("sig", [signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU])
def test_tty_stop_signals_are_forwarded_and_pause_never_stops(impl, sig):
    """TSTP/TTIN/TTOU go to the command; pause itself never stops (its state,
    sampled for 0.2 s after the command got the signal, is never T)."""
    c = Catcher(impl)
    try:
        c.send(sig)
        assert first_line(c.proc.stdout, 5) == b"got %d\n" % sig
        states = set()
        for _ in range(20):
            with open("/proc/%d/stat" % c.proc.pid) as f:
                states.add(f.read().rsplit(")", 1)[1].split()[0])
            time.sleep(0.01)
        assert not states & {"T", "t"}, states
    finally:
        assert c.finish()[0] == 0


def test_term_to_pause_reaches_a_default_child(impl):
    """TERM is forwarded; a command with the default action dies of it: 143."""
    p = subprocess.Popen(pause_argv(impl, "--", "sh", "-c", "echo up; exec sleep 30"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert first_line(p.stdout) == b"up\n"
    p.terminate()
    p.communicate(timeout=10)
    assert p.returncode == 128 + signal.SIGTERM


def test_without_g_only_the_child_gets_the_signal(impl):
    """Without -g, a grandchild in the command's process group is not signalled."""
    script = "trap 'echo parent-got-usr1' USR1; (trap 'echo grandchild-got-usr1; exit 0' USR1; " \
             "echo ready; sleep 2; echo grandchild-timeout) & wait; wait"
    p = subprocess.Popen(pause_argv(impl, "--", "sh", "-c", script), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert first_line(p.stdout) == b"ready\n"
    p.send_signal(signal.SIGUSR1)
    out, _ = p.communicate(timeout=20)
    assert b"parent-got-usr1" in out and b"grandchild-timeout" in out
    assert b"grandchild-got-usr1" not in out


def test_with_g_the_whole_process_group_gets_it(impl):
    """-g: the signal goes to the command's process group, grandchildren included."""
    script = "trap 'echo parent-got-usr1' USR1; (trap 'echo grandchild-got-usr1; exit 0' USR1; " \
             "echo ready; sleep 5 & wait) & wait; wait"
    p = subprocess.Popen(pause_argv(impl, "-g", "--", "sh", "-c", script), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert first_line(p.stdout) == b"ready\n"
    p.send_signal(signal.SIGUSR1)
    out, _ = p.communicate(timeout=20)
    assert b"grandchild-got-usr1" in out and b"parent-got-usr1" in out
    assert p.returncode == 0


def test_g_puts_the_command_in_its_own_process_group(impl):
    r = run_init(impl, "sh", "-c", "ps -o pid=,pgid= -p $$", pause_opts=("-g",))
    pid, pgid = r.stdout.split()
    assert pid == pgid


def test_orphans_of_the_command_are_reaped_and_reported(impl):
    """As PID 1, init mode reaps orphans the command leaves (events-fd shows them)."""
    r_fd, w_fd = os.pipe()
    orphans = ("import os, time\n"
               "a = os.fork()\n"
               "if a == 0: time.sleep(0.3); os._exit(9)\n"
               "b = os.fork()\n"
               "if b == 0: time.sleep(0.3); os.kill(os.getpid(), 9)\n"
               "print(\"%d,%d\" % (a, b))\n")
    # the command exits only once both orphans are gone for good (reaped by
    # pause), however long that takes, so pause cannot exit before reporting them
    script = ("o=$(%s -c '%s'); i=0; while ps -p \"$o\" >/dev/null && [ $i -lt 500 ]; "
              "do i=$((i+1)); sleep 0.02; done; exit 4" % (sys.executable, orphans))
    r = run_init(impl, "sh", "-c", script, pause_opts=("--events-fd", str(w_fd)), pid1=True,
                 pass_fds=(w_fd,))
    os.close(w_fd)
    with os.fdopen(r_fd, "rb") as f:
        events = f.read().decode()
    assert r.returncode == 4
    assert '"exit":9}' in events and '"signal":9}' in events and '"exit":4}' in events


@settings(max_examples=25, deadline=None)
@given(outcome=st.one_of(st.integers(0, 255).map(lambda c: ("exit", c)),
                         st.sampled_from([1, 2, 3, 6, 9, 10, 12, 13, 14, 15, 24, 26]).map(lambda s: ("kill", s))),
       impl=st.sampled_from(IMPLS))
def test_any_outcome_maps_to_podmans_exit_code(outcome, impl):
    """Property: exit code c gives c; death by signal s gives 128+s."""
    kind, n = outcome
    r = run_init(impl, "sh", "-c", ("exit %d" if kind == "exit" else "kill -%d $$") % n)
    assert r.returncode == (n if kind == "exit" else 128 + n)
