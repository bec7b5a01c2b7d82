"""A clean signal state for the command (tini restores the child's mask and
dispositions before exec): whatever pause blocks or ignores, and whatever
its own parent left blocked or ignored, the command starts with an empty
mask and every signal at its default action, and pause still works."""
import os
import signal
import subprocess
import sys

import pytest

from helpers import first_line, pause_argv
from initkit import run_init

# rt_sigaction(2) and rt_sigprocmask(2), which glibc's wrappers would refuse for 32 and 33.
RAW_SIGNAL_CALLS = {"x86_64": (13, 14), "aarch64": (134, 135)}
CLEAN = ["SigBlk:", "0" * 16, "SigIgn:", "0" * 16]


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


def test_child_starts_with_clean_signal_state(impl, pid1):
    """Should start the command with an empty mask and no SIG_IGN, whatever
    pause itself blocks or ignores."""
    r = run_init(impl, "sh", "-c", "grep -E '^Sig(Blk|Ign):' /proc/self/status", pid1=pid1)
    assert r.returncode == 0
    assert r.stdout.decode().split() == CLEAN


def test_child_signal_state_is_clean_whatever_pause_inherited(impl):
    """Should start the command clean, and still get its exit status, when
    started by a parent that ignores and blocks every signal (32-34 too; an
    inherited ignored CHLD would make the kernel reap the child itself)."""
    needs_raw_signal_calls()
    r = run_init(impl, "sh", "-c", "grep -E '^Sig(Blk|Ign):' /proc/self/status; exit 3",
                 preexec_fn=ignore_and_block_everything)
    assert r.returncode == 3, r.stderr
    assert r.stdout.decode().split() == CLEAN


def test_reaps_and_stops_whatever_it_inherited(impl):
    """Should, started by that parent, still report its command's exit status
    as an event in init mode, and still exit 0 on TERM in pause mode."""
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
        proc.stderr.close()
    r, w = os.pipe()
    proc = subprocess.Popen(pause_argv(impl, "--ready-fd", str(w)), pass_fds=(w,),
                            stderr=subprocess.PIPE, preexec_fn=ignore_and_block_everything)
    os.close(w)
    try:
        with os.fdopen(r, "rb", buffering=0) as ready:
            assert first_line(ready) == b"ready\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_child_gets_default_dispositions_even_when_pause_inherited_ignores(impl):
    """Should leave TERM fatal to the command (default action) even when
    pause's own parent ignored it."""
    script = "import os, signal; os.kill(os.getpid(), signal.SIGTERM); os._exit(7)"
    r = run_init(impl, sys.executable, "-c", script,
                 preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    assert r.returncode == 128 + signal.SIGTERM
