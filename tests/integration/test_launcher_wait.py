"""`launcher wait POD...`: blocks until each pod is finished and prints its
exit code, one line per pod in the order given (podman wait's output)."""
import os
import signal
import subprocess
import time

import pytest

from launcher_env import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="launcher needs root (namespaces)")


@pytest.mark.parametrize("monitor", ["c", "python"])
def test_wait_prints_each_pods_code_once_it_is_finished(lx, monitor):
    """A pod still running is waited for (it is exited when wait returns);
    pods already finished answer at once; the codes come in the order the
    pods were named, by podman's rule (the first failing container's)."""
    env = dict(lx.env, LAUNCHER_MONITOR="python") if monitor == "python" else None
    lx.ok("run", "-d", "--name", "slow", "--", "sh", "-c", "sleep 1; exit 3", env=env)
    lx.ok("run", "-d", "--name", "four", "-c", "ok=true", "-c", "bad=sh -c 'exit 4'", env=env)
    lx.ok("run", "-d", "--name", "zero", "--", "true", env=env)
    assert lx.inspect("slow")["state"] == "running"
    assert lx.ok("wait", "slow", "four", "zero") == "3\n4\n0\n"
    assert [lx.inspect(p)["state"] for p in ("slow", "four", "zero")] == ["exited"] * 3
    assert lx.ok("wait", "zero", "slow") == "0\n3\n"     # finished: at once, again
    lx.ok("rm", "slow", "four", "zero")


def test_wait_sees_a_stop(lx):
    """A pod stopped while waited for: its code is the container's signal
    (sleep, PID 1 of its own PID namespace, ignores TERM: KILLed, 137)."""
    lx.ok("run", "-d", "--name", "st", "--grace", "0.5", "--", "sleep", "60")
    waiter = lx.popen("wait", "st", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    assert waiter.poll() is None, "wait returned while the pod ran"
    lx.ok("stop", "st")
    out, err = waiter.communicate(timeout=30)
    assert (waiter.returncode, out, err) == (0, "137\n", "")
    lx.ok("rm", "st")


def test_wait_for_a_pod_that_removes_itself_is_one_line(lx):
    """run -d --rm: once the pod is gone, so is its code: one line, 125."""
    lx.ok("run", "-d", "--rm", "--name", "gone", "--", "sleep", "0.5")
    r = lx.run("wait", "gone")
    assert (r.returncode, r.stdout) == (125, "")
    assert r.stderr == ("launcher: pod 'gone' removed itself when it finished (run --rm or in "
                        "the foreground): its exit code is gone\n")


def test_wait_for_an_unknown_pod_waits_for_none(lx):
    """Every pod is looked up before any wait: an unknown one fails at once."""
    lx.ok("run", "-d", "--name", "long", "--", "sleep", "60")
    start = time.monotonic()
    r = lx.run("wait", "long", "nosuch")
    assert (r.returncode, r.stdout, r.stderr) == (125, "", "launcher: no such pod: 'nosuch'\n")
    assert time.monotonic() - start < 10
    lx.ok("rm", "-f", "long")


def test_wait_for_a_dead_pod_says_so(lx):
    """A pod whose supervisor was killed never finishes: wait says it is
    dead (one line, 125) instead of printing a code it does not have."""
    lx.ok("run", "-d", "--name", "dead", "--", "sleep", "60")
    sup = lx.inspect("dead")["supervisor"]["pid"]
    waiter = lx.popen("wait", "dead", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    os.kill(sup, signal.SIGKILL)
    out, err = waiter.communicate(timeout=30)
    assert (waiter.returncode, out) == (125, ""), err
    assert err.startswith("launcher: pod 'dead' is dead: its supervisor died"), err
    assert wait_for(lambda: lx.inspect("dead")["state"] == "dead", 5)
    lx.ok("rm", "-f", "dead")


def test_interrupted_wait_leaves_the_pod_alone(lx):
    """Ctrl-C during wait: 130 and `interrupted`, and the pod still runs.
    (SIGINT is set to its default in the child first: a shell's background
    job, as CI may be, starts with it ignored, and Python keeps that.)"""
    lx.ok("run", "-d", "--name", "calm", "--", "sleep", "60")
    waiter = lx.popen("wait", "calm", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(0.5)
    waiter.send_signal(signal.SIGINT)
    out, err = waiter.communicate(timeout=30)
    assert (waiter.returncode, out, err) == (130, "", "launcher: interrupted\n")
    assert lx.inspect("calm")["state"] == "running"
    lx.ok("rm", "-f", "calm")


def test_wait_for_a_corrupt_pod_is_one_line(lx):
    """A pod whose record cannot be read has no code: one line, 125."""
    pod = lx.ok("run", "-d", "--name", "bad", "--", "true").strip()
    assert wait_for(lambda: lx.inspect("bad")["state"] == "exited", 10)
    with open(os.path.join(lx.inspect(pod)["dir"], "pod.json"), "wb") as f:
        f.write(b"{")
    r = lx.run("wait", pod)
    assert (r.returncode, r.stdout) == (125, "")
    assert r.stderr.startswith(f"launcher: pod {pod}: ") and "rm -f removes it" in r.stderr, r
    lx.ok("rm", "-f", pod)
