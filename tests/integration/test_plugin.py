"""The pytest plugin's fixtures against real inits: our pause (three
implementations), the peer inits from Debian, and a broken init that never
reaps (which must make wait_reaped fail with a readable list of zombies)."""
import os
import signal
import subprocess
import sys
import time

import pytest

from pause.testing import NamespaceError, PidNamespace

BROKEN_INIT = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "broken_init.py")]
INITS = [dict(impl="c"), dict(impl="cffi"), dict(impl="python"),
         dict(init="tini"), dict(init="dumb-init"), dict(init="catatonit")]
IDS = ["pause-c", "pause-cffi", "pause-python", "tini", "dumb-init", "catatonit"]


@pytest.mark.parametrize("kwargs", INITS, ids=IDS)
def test_every_working_init_reaps_orphans(pid_namespace_factory, kwargs):
    """Orphans reparented to a working init (ours or a peer) are all reaped:
    wait_reaped returns and no zombie is left in the namespace."""
    ns = pid_namespace_factory(**kwargs)
    ns.spawn_orphans(20, exit_codes=(0, 1, 42))
    ns.wait_reaped(timeout=5)
    assert ns.zombies() == []


def test_broken_init_fails_wait_reaped_listing_zombies(pid_namespace_factory):
    """With an init that never waits, wait_reaped fails and its message lists
    every zombie with its parent, the init (ns pid 1)."""
    ns = pid_namespace_factory(init=BROKEN_INIT)
    ns.spawn_orphans(3)
    with pytest.raises(NamespaceError) as err:
        ns.wait_reaped(timeout=0.5)
    message = str(err.value)
    assert "3 zombie(s) still in the PID namespace" in message
    assert message.count("state Z") == 3
    assert message.count("parent %d (ns pid 1, " % ns.init_pid) == 3
    assert len(ns.zombies()) == 3


@pytest.mark.parametrize("impl", ["c", "cffi", "python"])
def test_reaped_events_report_each_exit_status(pid_namespace_factory, impl):
    """`reaped` streams pause's --events-fd: one event per orphan, with its
    exit code, and pids as seen inside the namespace."""
    ns = pid_namespace_factory(impl=impl)
    ns.spawn_orphans(6, exit_codes=(0, 7, 255))
    events = ns.wait_events(6)
    assert sorted(e["exit"] for e in events) == [0, 0, 7, 7, 255, 255]
    assert all(e["event"] == "reaped" and 1 < e["pid"] < 1000 for e in events)


@pytest.mark.pid_namespace(impl="c")
def test_reaped_keeps_up_with_a_burst(pid_namespace):
    """A burst of 2000 orphans yields 2000 events: the fixture keeps reading
    the events pipe, so pause never finds it full (it would drop events)."""
    pid_namespace.spawn_orphans(2000, exit_codes=(0, 1))
    pid_namespace.wait_reaped(timeout=20)
    assert len(pid_namespace.wait_events(2000, timeout=20)) == 2000


def test_default_fixture_is_pause_c(pid_namespace):
    """Unmarked, pid_namespace runs the static pause binary as PID 1."""
    with open("/proc/%d/status" % pid_namespace.init_pid) as f:
        assert "NSpid:" in f.read()
    assert pid_namespace.argv[0].endswith(os.path.join("bin", "pause"))
    pid_namespace.spawn_orphans(2)
    pid_namespace.wait_reaped(timeout=5)


@pytest.mark.pid_namespace(init="catatonit")
def test_marker_selects_the_init(pid_namespace):
    """@pytest.mark.pid_namespace(init=...) puts that init as PID 1."""
    assert os.path.basename(os.readlink("/proc/%d/exe" % pid_namespace.init_pid)) == "catatonit"
    pid_namespace.spawn_orphans(2)
    pid_namespace.wait_reaped(timeout=5)


@pytest.mark.pid_namespace(impl="python")
def test_run_gives_handle_inside_the_namespace(pid_namespace):
    """run() starts a process inside the namespace: its handle knows its host
    pid, its namespace pid (> 1) and its exit status (128+N for signal N)."""
    h = pid_namespace.run(["sleep", "30"])
    assert h.pid and h.ns_pid and h.ns_pid > 1
    assert os.stat("/proc/%d/ns/pid" % h.pid).st_ino == pid_namespace.inode
    os.kill(h.pid, signal.SIGTERM)
    assert h.wait(timeout=5) == 128 + signal.SIGTERM
    assert pid_namespace.run(["sh", "-c", "exit 7"], wait=True).returncode == 7


@pytest.mark.parametrize("impl", ["c", "cffi", "python"])
def test_signal_and_init_exit_code(pid_namespace_factory, impl):
    """signal(TERM) makes pause exit; init_exit_code reads 0 once it has."""
    ns = pid_namespace_factory(impl=impl)
    assert ns.init_exit_code is None
    ns.signal(signal.SIGTERM)
    assert ns.wait_exit(timeout=5) == 0
    assert ns.init_exit_code == 0


@pytest.mark.parametrize("impl", ["c", "cffi", "python"])
def test_signal_from_inside(pid_namespace_factory, impl):
    """signal(sig, inside=True) sends from within the namespace: pause ignores
    USR1 and HUP and is still PID 1, then exits 0 on TERM."""
    ns = pid_namespace_factory(impl=impl)
    ns.signal(signal.SIGUSR1, inside=True)
    ns.signal(signal.SIGHUP, inside=True)
    time.sleep(0.1)  # room for a wrongly dying PID 1 to be seen dead
    assert ns.init_exit_code is None
    ns.signal(signal.SIGTERM, inside=True)
    assert ns.wait_exit(timeout=5) == 0


def test_teardown_kills_the_namespace_and_leaves_nothing():
    """Closing a namespace SIGKILLs it: no process of it (init, workload,
    zombie) is left and the workload's nsenter has been waited for. (Its /proc
    mount lives in its own mount namespace, which dies with its last process.)"""
    with PidNamespace(init=BROKEN_INIT) as ns:
        ns.spawn_orphans(2)
        sleeper = ns.run(["sleep", "30"])
        assert len(ns.processes()) >= 4  # init, two zombies, sleep
    assert ns.processes() == []
    assert sleeper.returncode is not None


def test_tree_player_reports_an_init_that_never_reaps(pid_namespace_factory):
    """Played under the broken init, a process tree is never reaped: the
    player exits 3 and names the leftover pids; the nodes stay zombies."""
    import json
    ns = pid_namespace_factory(init=BROKEN_INIT)
    tree = {"nodes": [{"exit": 4, "delay": 0, "children": [{"signal": 9, "delay": 0,
                                                            "children": []}]}],
            "signals": [], "timeout": 0.5}
    player = ns.run([sys.executable, "-m", "pause.testing.orphans", "--tree", json.dumps(tree)],
                    wait=True, stderr=subprocess.PIPE)
    assert player.returncode == 3
    with player.popen.stderr as err:
        assert b"never reaped" in err.read()
    assert len(ns.zombies()) == 2


def test_orphans_helper_rejects_bad_arguments():
    """`python -m pause.testing.orphans` with a bad argument prints one line of
    usage error on stderr and exits 2, without a traceback."""
    out = subprocess.run([sys.executable, "-m", "pause.testing.orphans", "-3"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 2
    assert out.stderr.startswith("orphans: ") and "Traceback" not in out.stderr


def test_missing_init_is_a_skip_reason():
    """An init that is not installed raises NamespaceUnavailable naming it (the
    fixture turns it into a skip)."""
    from pause.testing import NamespaceUnavailable
    with pytest.raises(NamespaceUnavailable, match="no-such-init"):
        PidNamespace(init=["no-such-init"])


def test_works_for_a_non_root_user_through_a_user_namespace(tmp_path):
    """As an unprivileged user (nobody), PidNamespace goes through a user
    namespace: a peer init still reaps orphans, and our pause does too and
    reports the reaps on its events fd; skips where that user cannot run this
    checkout's Python."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to the nobody user")
    python = "/usr/bin/python3"
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python]
    env = dict(os.environ, PYTHONPATH=repo)
    probe = subprocess.run(drop + ["-c", "import pause.testing"], cwd=str(tmp_path.anchor),
                           env=env, capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("user nobody cannot import this checkout with %s: %s"
                    % (python, probe.stderr.strip().splitlines()[-1:]))
    script = ("from pause.testing import PidNamespace\n"
              "with PidNamespace(init='catatonit') as ns:\n"
              "    assert ns.user\n"
              "    ns.spawn_orphans(3)\n"
              "    ns.wait_reaped(5)\n"
              "    print('reaped', len(ns.zombies()))\n"
              "with PidNamespace(impl='c') as ns:\n"
              "    ns.spawn_orphans(3, exit_codes=(0, 4))\n"
              "    ns.wait_reaped(5)\n"
              "    print('events', sorted(e['exit'] for e in ns.wait_events(3)))\n")
    out = subprocess.run(drop + ["-c", script], cwd="/", env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["reaped 0", "events [0, 0, 4]"]
