"""pause in pause mode, for each implementation, as PID 1 of a real PID
namespace (and once not as PID 1): reaping, signals, the ready and events
fds, --grace, hygiene and idleness."""
import fcntl
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from helpers import (IMPLS, PausedNamespace, child_pids, first_line, in_sigwait, ns_inode, pause_argv,
                     pids_in_namespace, sleep_until, stat_fields)


@pytest.fixture(params=IMPLS)
def impl(request):
    return request.param


@pytest.fixture
def ns(impl):
    ns = PausedNamespace(impl)
    yield ns
    ns.close()


def test_reaps_orphans_reparented_to_it(ns):
    """Orphans reparented to pause as PID 1 are reaped: an event for each, no Z left."""
    codes = [0, 1, 2, 3, 42, 255]
    ns.make_orphans(codes, delay=0.2)
    assert sleep_until(lambda: len(ns.events()) >= len(codes), 10), ns.events()
    assert sorted(e["exit"] for e in ns.events()) == sorted(codes)
    assert all(e["event"] == "reaped" and e["pid"] > 1 for e in ns.events())
    assert ns.zombies() == []


def test_reports_death_by_signal(ns):
    """An orphan killed by a signal is reported with "signal", not "exit"."""
    ns.run([sys.executable, "-c", "import os,signal\nif os.fork()==0:\n    os.kill(os.getpid(), signal.SIGKILL)"])
    assert sleep_until(lambda: ns.events(), 10)
    assert ns.events()[0]["signal"] == 9 and "exit" not in ns.events()[0]


def test_survives_a_sigchld_storm(ns):
    """Hundreds of orphans exiting at the same moment (SIGCHLDs coalesce) all get reaped."""
    ns.make_orphans([7] * 300, delay=0.3)
    assert sleep_until(lambda: len(ns.events()) >= 300, 20), len(ns.events())
    assert sleep_until(lambda: ns.zombies() == [], 5), ns.zombies()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_term_and_int_exit_zero(ns, sig):
    """TERM and INT make pause exit 0 with one line saying why."""
    ns.kill(sig)
    code, err = ns.wait()
    assert code == 0
    assert "info: shutting down on signal %d" % sig in err


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGUSR1, signal.SIGQUIT, signal.SIGUSR2, signal.SIGPIPE,
                                 signal.SIGALRM, signal.SIGTSTP, signal.SIGTTIN, signal.SIGWINCH, 40])
def test_other_signals_do_not_kill_or_stop_it(ns, sig):
    """Other signals, from inside the namespace and from the host, leave pause running."""
    ns.run(["kill", "-%d" % sig, "1"])
    os.kill(ns.pid, sig)
    time.sleep(0.2)
    assert ns.proc.poll() is None
    assert sleep_until(lambda: stat_fields(ns.pid)[0] == "S", 2)  # asleep again, not stopped (T)
    ns.kill(signal.SIGTERM)
    assert ns.wait()[0] == 0


def test_not_pid1_warns_and_reaps_orphans_of_descendants(impl):
    """Not PID 1: a warning, and orphaned grandchildren still come to pause (subreaper)."""
    r, w = os.pipe()
    # the command exits only once the orphan is gone for good (reaped by pause),
    # however long that takes, so pause cannot exit before reporting it
    script = (r'o=$(sh -c "(sleep 0.2; exit 5) >/dev/null & echo \$!"); '
              'i=0; while ps -p "$o" >/dev/null && [ $i -lt 500 ]; do i=$((i+1)); sleep 0.02; done; exit 3')
    proc = subprocess.Popen(pause_argv(impl, "--events-fd", str(w), "--", "sh", "-c", script),
                            pass_fds=(w,), stderr=subprocess.PIPE)
    os.close(w)
    _, err = proc.communicate(timeout=10)
    events = os.read(r, 65536).decode()
    os.close(r)
    assert proc.returncode == 3
    assert "warning: not PID 1" in err.decode() and "subreaper" in err.decode()
    assert '"exit":5}' in events  # the orphan, reaped by pause


def test_ready_fd_gets_one_line_then_eof(impl):
    """--ready-fd receives exactly "ready\\n" and is then closed."""
    r, w = os.pipe()
    proc = subprocess.Popen(pause_argv(impl, "--ready-fd", str(w)), pass_fds=(w,), stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()  # returns only at EOF: pause closed its end
    assert data == b"ready\n"
    proc.terminate()
    assert proc.wait(10) == 0


def test_closed_events_reader_does_not_kill_it(ns):
    """When the events reader goes away, pause keeps reaping and exits 0 on TERM."""
    os.close(ns.events_r)
    ns.events_r = os.open("/dev/null", os.O_RDONLY)
    ns.make_orphans([1, 2, 3])
    # every orphan has exited and been reaped (its event written into the void):
    # only pause is left in the namespace, and it is still alive
    assert sleep_until(lambda: pids_in_namespace(ns.inode) == [ns.pid], 10), pids_in_namespace(ns.inode)
    assert ns.proc.poll() is None and ns.zombies() == []
    ns.kill(signal.SIGTERM)
    assert ns.wait()[0] == 0


def test_full_events_pipe_never_blocks_it(impl):
    """With a tiny events pipe nobody reads, pause still reaps everything."""
    ns = PausedNamespace(impl)
    try:
        fcntl.fcntl(ns.events_r, fcntl.F_SETPIPE_SZ, 4096)  # about 100 events
        ns.make_orphans([0] * 250, delay=0.2)
        time.sleep(0.5)
        assert sleep_until(lambda: ns.zombies() == [], 10), ns.zombies()
        ns.kill(signal.SIGTERM)
        assert ns.wait()[0] == 0
        assert 0 < len(ns.events()) < 250
    finally:
        ns.close()


def test_hygiene_cwd_and_inherited_fds(impl, tmp_path):
    """pause moves to / and closes inherited fds other than ready/events."""
    extra = os.open(str(tmp_path), os.O_RDONLY)
    r, w = os.pipe()
    proc = subprocess.Popen(pause_argv(impl, "--ready-fd", str(w)), pass_fds=(w, extra), cwd=str(tmp_path),
                            stderr=subprocess.DEVNULL)
    os.close(w)
    os.close(extra)
    assert os.read(r, 64) == b"ready\n"
    assert select.select([r], [], [], 10)[0] and os.read(r, 64) == b""  # pause closed it
    os.close(r)
    try:
        assert os.readlink("/proc/%d/cwd" % proc.pid) == "/"
        assert sorted(int(fd) for fd in os.listdir("/proc/%d/fd" % proc.pid)) == [0, 1, 2]
    finally:
        proc.terminate()
        proc.wait(10)


def test_zero_wakeups_when_idle(ns):
    """An idle pause is never woken: its context-switch counters do not move in 2 s."""
    def switches():
        with open("/proc/%d/status" % ns.pid) as f:
            return [line for line in f if "ctxt_switches" in line]
    assert sleep_until(lambda: in_sigwait(ns.pid), 10)   # settled in sigwaitinfo
    before = switches()
    time.sleep(2)
    assert switches() == before


GRACEFUL = ("import signal,sys,time\n"
            "def bye(*_):\n"
            "    time.sleep(0.5); open(sys.argv[1], 'w').write('done'); sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, bye)\n"
            "print('up', flush=True)\n"
            "while True: time.sleep(1)\n")


def start_graceful_workload(ns, marker):
    """A workload in the namespace that needs 0.5 s to finish after TERM;
    returns once its handler is installed."""
    work = ns.enter([sys.executable, "-c", GRACEFUL, str(marker)], stdout=subprocess.PIPE)
    assert first_line(work.stdout) == b"up\n"
    return work


def test_grace_lets_a_term_handling_workload_finish(impl, tmp_path):
    """--grace: TERM reaches the other processes of the namespace, pause waits for them, exits 0."""
    ns = PausedNamespace(impl, "--grace", "5")
    marker = tmp_path / "finished"
    try:
        work = start_graceful_workload(ns, marker)
        ns.kill(signal.SIGTERM)
        code, _ = ns.wait(10)
        assert work.wait(10) == 0
        assert code == 0 and marker.read_text() == "done"
    finally:
        ns.close()


def test_without_grace_exits_at_once(impl, tmp_path):
    """Without --grace pause exits on TERM at once and the kernel kills the rest."""
    ns = PausedNamespace(impl)
    marker = tmp_path / "finished"
    try:
        work = start_graceful_workload(ns, marker)
        ns.kill(signal.SIGTERM)
        assert ns.wait(10)[0] == 0
        assert work.wait(10) != 0 and not marker.exists()
    finally:
        ns.close()


def test_grace_period_runs_out(impl):
    """A workload that ignores TERM holds pause no longer than --grace."""
    ns = PausedNamespace(impl, "--grace", "0.5")
    try:
        stubborn = ns.enter(["sh", "-c", "trap '' TERM; echo up; while :; do sleep 0.1; done"], stdout=subprocess.PIPE)
        assert first_line(stubborn.stdout) == b"up\n"
        start = time.monotonic()
        ns.kill(signal.SIGTERM)
        code, err = ns.wait(10)
        assert code == 0 and 0.4 < time.monotonic() - start < 5
        assert "grace period over" in err
        stubborn.wait(10)
    finally:
        ns.close()


def test_without_status_wanted_the_kernel_reaps_and_pause_sleeps_on(impl):
    """With no --events-fd (and no -w, no PAUSE_DEBUG) nobody wants an exit
    status, so pause ignores SIGCHLD and the kernel frees each orphan's zombie
    as it reaches PID 1: none is left, and pause is not even woken for them."""
    r, w = os.pipe()
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                             *pause_argv(impl, "--ready-fd", str(w))], pass_fds=(w,), stderr=subprocess.PIPE)
    os.close(w)
    try:
        with os.fdopen(r, "rb", buffering=0) as ready:
            assert first_line(ready) == b"ready\n"
        pause = sleep_until(lambda: child_pids(proc.pid), 5)[0]
        assert sleep_until(lambda: in_sigwait(pause), 10)
        with open("/proc/%d/status" % pause) as f:
            switches = [line for line in f if "ctxt_switches" in line]
        code = ("import os,time\n"
                "for c in range(50):\n"
                "    if os.fork() == 0:\n"
                "        time.sleep(0.05); os._exit(c)\n")
        maker = subprocess.run(["nsenter", "--target", str(pause), "--pid", "--mount", "--",
                                sys.executable, "-c", code], timeout=30)
        assert maker.returncode == 0
        inode = ns_inode(pause)
        assert sleep_until(lambda: pids_in_namespace(inode) == [pause], 10), pids_in_namespace(inode)
        with open("/proc/%d/status" % pause) as f:
            assert [line for line in f if "ctxt_switches" in line] == switches
        os.kill(pause, signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0 and b"shutting down on signal 15" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
