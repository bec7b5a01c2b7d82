"""Signal proxying (dumb-init's proxies_signals tests): every signal a user
can send to pause reaches the command, as PID 1 of a namespace and not; the
fault signals too when a user sends them (kill, sigqueue, tgkill); a command
with default actions dies of what it is sent."""
import ctypes
import os
import signal
import subprocess

import pytest

from helpers import child_pids, first_line, pause_argv, sleep_until
from initkit import FAULTS, FORWARDED, TTY_STOPS, UNSHARE, Catcher


def test_every_user_signal_is_forwarded(impl, pid1):
    """Should forward each signal a user can send to pause to the command, in
    order (the terminal stop signals too as PID 1; not PID 1 they also stop
    pause, see test_job_control)."""
    c = Catcher(impl, pid1=pid1)
    sent = FORWARDED + (list(TTY_STOPS) if pid1 else [])
    try:
        for s in sent:
            c.send(s)
            # one at a time: standard signals do not queue, so wait for each
            assert c.got() == s, s
    finally:
        code, got = c.finish()
    assert (code, got) == (0, [])


libc = ctypes.CDLL(None, use_errno=True)


class Sigval(ctypes.Union):
    _fields_ = [("sival_int", ctypes.c_int), ("sival_ptr", ctypes.c_void_p)]


def send_kill(pid, sig):
    os.kill(pid, sig)                       # si_code SI_USER (0)


def send_sigqueue(pid, sig):
    assert libc.sigqueue(pid, sig, Sigval(7)) == 0, os.strerror(ctypes.get_errno())  # SI_QUEUE (-1)


def send_tgkill(pid, sig):
    if not hasattr(libc, "tgkill"):
        pytest.skip("the C library has no tgkill()")
    assert libc.tgkill(pid, pid, sig) == 0, os.strerror(ctypes.get_errno())  # SI_TKILL (-6)


@pytest.mark.parametrize("send", [send_kill, send_sigqueue, send_tgkill], ids=["kill", "sigqueue", "tgkill"])
def test_fault_signals_sent_by_a_user_are_forwarded(impl, pid1, send):
    """Should forward SEGV, BUS, ILL, FPE, TRAP, SYS and ABRT when a user
    sends them (si_code <= 0): they are requests like any other signal (as
    dumb-init forwards them); only a genuine fault of pause's own is not."""
    c = Catcher(impl, pid1=pid1)
    try:
        for s in FAULTS:
            send(c.pause, s)
            assert c.got() == s, s
        assert c.proc.poll() is None
    finally:
        code, got = c.finish()
    assert (code, got) == (0, [])


def test_term_to_pause_reaches_a_default_child(impl, pid1):
    """Should exit 143 when TERM is sent to pause and the command, with the
    default action, dies of it."""
    argv = pause_argv(impl, "--", "sh", "-c", "echo up; exec sleep 30")
    if pid1:
        argv = UNSHARE + argv
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert first_line(p.stdout) == b"up\n"
    pause = sleep_until(lambda: child_pids(p.pid), 5)[0] if pid1 else p.pid
    os.kill(pause, signal.SIGTERM)
    p.communicate(timeout=10)
    assert p.returncode == 128 + signal.SIGTERM
