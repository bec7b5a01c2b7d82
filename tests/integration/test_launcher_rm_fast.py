"""rm -f of pods idle in their C monitor (issue 18): ended without waking a
Python supervisor for each, with the containers' grace period kept and
nothing left behind; a pod whose supervisor is Python stops the usual way."""
import os
import time

from launcher_env import wait_for

from launcher import proc


def _exe(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return None


def _supervisor(lx, name):
    return lx.inspect(name)["supervisor"]


def _idle_in_monitor(lx, name):
    return wait_for(lambda: _exe(_supervisor(lx, name)["pid"]) == "pod-monitor", 15)


def test_end_idle_kills_monitors_without_a_supervisor_and_skips_python_ones(lx, monkeypatch):
    """teardown.end_idle on two monitor pods and one Python-supervised pod:
    the monitors are gone while their records still say running (no
    supervisor woke to write them), their pause and containers are gone,
    and the Python pod is handed back, still running."""
    from launcher.store.pods import Store
    from launcher.store.status import DEAD, pod_state
    from launcher.teardown import end_idle
    for name in ("m1", "m2"):
        lx.ok("run", "-d", "--name", name, "--grace", "0", "-c", "a=sleep 60", "-c", "b=sleep 60")
    lx.ok("run", "-d", "--name", "py", "--", "sleep", "60", env=dict(lx.env, LAUNCHER_MONITOR="python"))
    assert _idle_in_monitor(lx, "m1") and _idle_in_monitor(lx, "m2")
    before = {n: lx.inspect(n) for n in ("m1", "m2", "py")}
    monkeypatch.setenv("LAUNCHER_STATE_DIR", lx.statedir)
    store = Store()
    pods = [store.resolve(n) for n in ("m1", "m2", "py")]
    busy = end_idle(pods)
    assert [p.record["name"] for p in busy] == ["py"]
    for n in ("m1", "m2"):
        st = before[n]
        assert not proc.alive(st["supervisor"]["pid"], st["supervisor"]["start"])
        assert wait_for(lambda: not proc.alive(st["pause"]["pid"], st["pause"]["start"]), 5)
        assert wait_for(lambda: not any(proc.alive(c["pid"], c["start"]) for c in st["containers"]), 5)
        again = store.resolve(n)
        assert again.record["state"] == "running" and pod_state(again) == DEAD
    py = before["py"]["supervisor"]
    assert proc.alive(py["pid"], py["start"]) and lx.inspect("py")["state"] == "running"
    lx.ok("rm", "-f", "m1", "m2", "py")
    assert [p["name"] for p in lx.ps()] == []
    assert wait_for(lambda: not lx.procs(), 5), lx.procs()


def test_rm_force_gives_idle_pods_their_grace_period(lx, tmp_path):
    """A container that handles TERM gets it (its trap writes a file and it
    exits at once); one that ignores TERM is killed when its grace period
    (1 s) is over, with the child it forked; both pods go in one rm -f."""
    mark = tmp_path / "termed"
    lx.ok("run", "-d", "--name", "polite", "--grace", "30", "--",
          "sh", "-c", f"trap 'echo term > {mark}; exit 0' TERM; while :; do sleep 0.1; done")
    lx.ok("run", "-d", "--name", "stubborn", "--grace", "1", "--",
          "sh", "-c", "trap '' TERM; sleep 60 & while :; do sleep 0.1; done")
    assert _idle_in_monitor(lx, "polite") and _idle_in_monitor(lx, "stubborn")
    started = time.monotonic()
    lx.ok("rm", "-f", "polite", "stubborn")
    took = time.monotonic() - started
    assert mark.read_text() == "term\n"
    assert 1.0 <= took < 30, took        # the stubborn one's grace, not the polite one's
    assert lx.ps() == []
    assert wait_for(lambda: not lx.procs(), 5), lx.procs()


def test_rm_force_of_many_idle_pods_leaves_nothing(lx):
    """Twenty idle pods, some sharing a PID namespace, removed in one call:
    no pod, process, pin or state directory is left."""
    ids = []
    for i in range(20):
        share = ["--share-pid"] if i % 2 else []
        ids.append(lx.ok("run", "-d", "--grace", "0", *share, "--", "sleep", "60").strip())
    assert all(_idle_in_monitor(lx, i) for i in ids)
    out = lx.ok("rm", "-f", *ids)
    assert len(out.split()) == 20
    assert lx.ps() == []
    assert wait_for(lambda: not lx.procs(), 5), lx.procs()
    assert sorted(os.listdir(lx.statedir)) == sorted(n for n in os.listdir(lx.statedir) if n.startswith("."))
    assert os.listdir(os.path.join(lx.statedir, ".mounts")) == []
