"""Differential property tests (issue 2, issue 17): the static binary, the
cffi core and the Python reference play the same random scenario, and the
observable outcome must be identical across the three, and equal to what
the scenario predicts.

Pause mode: each as PID 1 of a fresh namespace, a tree of orphaned processes
ending with random exit codes and signals, then signals pause must ignore,
sent from inside, then TERM or INT from the host.

Init mode: `pause -r S:R... -e CODE... -- CATCHER` with a random rewrite map
(numbers and names, R = 0 dropping S) and random exit remaps; a random
sequence of signals is sent to pause, the catcher reports what reaches it,
then ends with a random exit code or signal."""
import os
import signal
import subprocess
import sys

from hypothesis import given, settings, strategies as st

from helpers import in_sigwait, pause_argv, sleep_until
from pause.testing import PidNamespace, expected_statuses, run_scenario, scenarios

IMPLS = ("c", "cffi", "python")


@settings(max_examples=25, deadline=None)
@given(scenario=scenarios(max_leaves=8),
       terminator=st.sampled_from([signal.SIGTERM, signal.SIGINT]))
def test_three_implementations_agree(scenario, terminator):
    """Same reaped statuses (from --events-fd), no zombie left, PID 1 survives
    the ignored signals and exits 0 on TERM/INT: identical for c, cffi, python."""
    outcomes = {}
    for impl in IMPLS:
        with PidNamespace(impl=impl) as ns:
            outcomes[impl] = run_scenario(ns, scenario, terminator)
    expected = {"player": 0, "zombies": 0, "exit": 0,
                "reaped": [list(s) for s in expected_statuses(scenario["nodes"])]}
    for impl in IMPLS:
        got = dict(outcomes[impl], reaped=[list(s) for s in outcomes[impl]["reaped"]])
        assert got == expected, "%s differs from the expected outcome" % impl
    assert outcomes["c"] == outcomes["cffi"] == outcomes["python"]


# ------------------------------------------------------------------ init mode

# Signals the init scenario sends and rewrites to: the catcher catches them
# all, none stops anything. 40 is a real-time one, known by number only.
SENT = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM,
        signal.SIGTERM, signal.SIGWINCH, signal.SIGURG, 40)

# Reports each signal it gets ("got N"), says "up" once its handlers are in,
# then reads one number on stdin: N >= 0 exits N, -N dies of signal N. It
# sleeps in select() on stdin and a wakeup fd, never in a bare read: a signal
# landing just before a blocking read would wait there for the next one.
CATCHER = """
import os, select, signal, sys
r, w = os.pipe()
os.set_blocking(w, False)
signal.set_wakeup_fd(w)
for s in %r:
    signal.signal(s, lambda sig, _: os.write(1, b"got %%d\\n" %% sig))
os.write(1, b"up\\n")
while 0 not in select.select([0, r], [], [])[0]:
    os.read(r, 4096)
n = int(sys.stdin.buffer.readline())
if n < 0:
    if -n != signal.SIGKILL:
        signal.signal(-n, signal.SIG_DFL)
    os.kill(os.getpid(), -n)
os._exit(n)
""" % (tuple(int(s) for s in SENT),)


def spelled(sig, style):
    """A signal as -r takes it: a number, a name, or SIG and a name."""
    if style == 0 or sig == 0 or sig >= 32:
        return str(int(sig))
    name = signal.Signals(sig).name
    return name if style == 2 else name[3:]


@st.composite
def init_scenarios(draw):
    rewrite = draw(st.dictionaries(st.sampled_from(SENT), st.sampled_from(SENT + (0,)), max_size=4))
    remap = draw(st.sets(st.one_of(st.integers(0, 255), st.sampled_from([129, 130, 137, 143])), max_size=3))
    flags = []
    for sig, to in rewrite.items():
        flags += [draw(st.sampled_from(["-r", "--rewrite"])),
                  "%s:%s" % (spelled(sig, draw(st.integers(0, 2))), spelled(to, draw(st.integers(0, 2))))]
    for code in sorted(remap):
        flags += [draw(st.sampled_from(["-e", "--remap-exit"])), str(code)]
    ending = draw(st.one_of(st.integers(0, 255),
                            st.sampled_from(sorted(remap)) if remap else st.just(0),
                            st.sampled_from([signal.SIGTERM, signal.SIGKILL, signal.SIGHUP]).map(lambda s: -s)))
    return {"flags": flags, "rewrite": {int(k): int(v) for k, v in rewrite.items()},
            "remap": remap, "signals": [int(s) for s in draw(st.lists(st.sampled_from(SENT), max_size=6))],
            "ending": ending}


def pending(pid):
    mask = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("SigPnd:", "ShdPnd:")):
                mask |= int(line.split()[1], 16)
    return mask


def read_line(fd, buf, timeout=10):
    """The next line from fd (bytes, with buf as carry-over), bounded."""
    import select
    while b"\n" not in buf[0]:
        if not select.select([fd], [], [], timeout)[0]:
            return b""
        chunk = os.read(fd, 4096)
        if not chunk:
            return b""
        buf[0] += chunk
    line, _, buf[0] = buf[0].partition(b"\n")
    return line


def play_init(impl, scenario):
    """Runs the init scenario against impl; returns (signals the catcher got,
    pause's exit code)."""
    proc = subprocess.Popen(pause_argv(impl, *scenario["flags"], "--", sys.executable, "-c", CATCHER),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    fd, buf, got = proc.stdout.fileno(), [b""], []
    try:
        assert read_line(fd, buf, 20) == b"up", impl
        assert sleep_until(lambda: in_sigwait(proc.pid), 10)
        for sig in scenario["signals"]:
            os.kill(proc.pid, sig)
            if scenario["rewrite"].get(sig, sig):
                line = read_line(fd, buf)   # one at a time: standard signals do not queue
                got.append(int(line.split()[1]) if line.startswith(b"got ") else line)
            else:                           # dropped: pause has taken it and is back, idle
                assert sleep_until(lambda: in_sigwait(proc.pid) and not pending(proc.pid), 10)
        proc.stdin.write(b"%d\n" % scenario["ending"])
        proc.stdin.close()
        proc.wait(20)
        rest = buf[0] + proc.stdout.read()
        got += [int(line.split()[1]) for line in rest.decode().splitlines() if line.startswith("got ")]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
    return got, proc.returncode


@settings(max_examples=20, deadline=None)
@given(scenario=init_scenarios())
def test_three_implementations_agree_in_init_mode(scenario):
    """Same signals reach the command (rewritten, or dropped for R = 0) and
    the same exit code comes out (128+N for signal N, 0 when remapped):
    identical for c, cffi, python, and as the scenario predicts."""
    forwarded = [scenario["rewrite"].get(s, s) for s in scenario["signals"]]
    end = scenario["ending"]
    code = 128 - end if end < 0 else end
    expected = ([s for s in forwarded if s], 0 if code in scenario["remap"] else code)
    outcomes = {impl: play_init(impl, scenario) for impl in IMPLS}
    for impl in IMPLS:
        assert outcomes[impl] == expected, "%s differs from the expected outcome" % impl
