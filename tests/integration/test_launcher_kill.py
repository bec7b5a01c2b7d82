"""`launcher kill [-s SIGNAL] [-c NAME] POD...`: a signal to the running
containers of pods (default KILL), and what the pod does about it."""
import os
import time

import pytest

from launcher_env import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="launcher needs root (namespaces)")

TRAP_HUP = "trap 'echo got-hup' HUP; while :; do sleep 0.1; done"


def _states(lx, pod):
    return {c["name"]: (c["state"], c.get("exit_code")) for c in lx.inspect(pod)["containers"]}


def test_a_signal_to_one_container_then_kill_to_all(lx):
    """-s HUP -c b reaches b's handler and nothing else; then the default,
    KILL, ends every container (137) and the pod (restart Never)."""
    lx.ok("run", "-d", "--name", "k", "--share-pid", "-c", "a=sleep 60", "-c", f"b=sh -c \"{TRAP_HUP}\"")
    assert wait_for(lambda: _states(lx, "k") == {"a": ("running", None), "b": ("running", None)})
    time.sleep(0.3)   # b's trap is set
    assert lx.ok("kill", "-s", "SIGHUP", "-c", "b", "k") == "k\n"
    assert wait_for(lambda: "got-hup" in lx.ok("logs", "k", "-c", "b"), 5), lx.ok("logs", "k")
    assert _states(lx, "k") == {"a": ("running", None), "b": ("running", None)}
    assert lx.ok("kill", "k") == "k\n"
    assert wait_for(lambda: lx.inspect("k")["state"] == "exited", 10)
    assert _states(lx, "k") == {"a": ("exited", 137), "b": ("exited", 137)}
    lx.ok("rm", "k")


def test_a_killed_container_restarts_by_the_pods_policy(lx):
    """With --restart Always, a container killed from outside is restarted
    (its restart count goes up) and the pod runs on."""
    lx.ok("run", "-d", "--name", "again", "--restart", "Always", "--backoff", "0.1",
          "--", "sleep", "60")
    first = lx.inspect("again")["containers"][0]["pid"]
    lx.ok("kill", "-s", "9", "again")

    def restarted():
        c = lx.inspect("again")["containers"][0]
        return c["state"] == "running" and c["pid"] != first and c["restarts"] >= 1
    assert wait_for(restarted, 10), lx.inspect("again")
    assert lx.inspect("again")["state"] == "running"
    lx.ok("rm", "-f", "again")


def test_pid_1_of_its_own_namespace_ignores_what_it_has_no_handler_for(lx):
    """The kernel's rule, as in podman: TERM to `sleep` as PID 1 of its own
    PID namespace does nothing; KILL ends it."""
    lx.ok("run", "-d", "--name", "one", "--", "sleep", "60")
    lx.ok("kill", "-s", "TERM", "one")
    time.sleep(0.5)
    assert _states(lx, "one") == {"sleep": ("running", None)}
    lx.ok("kill", "-s", "KILL", "one")
    assert wait_for(lambda: _states(lx, "one") == {"sleep": ("exited", 137)}, 10)
    lx.ok("rm", "one")


def test_refusals_are_one_line_and_signal_nothing(lx):
    """A pod that is not running, a container that is not there or not
    running, and an unknown pod among known ones (looked up before any
    signal is sent): one line, 125, and the running pod untouched."""
    lx.ok("run", "-d", "--name", "live", "--", "sleep", "60")
    lx.ok("run", "-d", "--name", "done", "--", "true")
    assert wait_for(lambda: lx.inspect("done")["state"] == "exited", 10)
    for args, msg in ((["done"], "pod 'done' is not running (exited)"),
                      (["-c", "nope", "live"], "pod 'live' has no running container 'nope'"),
                      (["live", "nosuch"], "no such pod: 'nosuch'")):
        r = lx.run("kill", *args)
        assert (r.returncode, r.stdout, r.stderr) == (125, "", f"launcher: {msg}\n"), args
    assert _states(lx, "live") == {"sleep": ("running", None)}
    lx.ok("rm", "-f", "live", "done")
