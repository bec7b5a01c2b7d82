"""Never leaks: whatever is SIGKILLed (a container, pause, the pod's monitor,
the foreground launcher itself), the pod ends up exited or dead, `launcher
rm` cleans it, and no process, proc mount or state file is left (the `lx`
fixture's teardown checks processes by their environment, the state dir and
the host's proc mounts)."""
import json
import os
import signal
import subprocess
import time

import pytest

from launcher_env import first_line, ns_holders, wait_for  # noqa: F401


def _state(lx, pod):
    return lx.inspect(pod)["state"]


@pytest.mark.parametrize("monitor", ["c", "python"])
def test_sigkill_of_a_container_is_recorded_and_the_pod_goes_on(lx, monitor):
    """A SIGKILLed container is recorded as signal 9 (137); the other container
    and the pod keep running until stopped; rm leaves nothing."""
    env = dict(lx.env, LAUNCHER_MONITOR="python") if monitor == "python" else None
    lx.ok("run", "-d", "--name", "k", "--grace", "0.5", "-c", "a=sleep 60", "-c", "b=sleep 60",
          env=env)
    st = lx.inspect("k")
    os.kill(st["containers"][0]["pid"], signal.SIGKILL)
    st = wait_for(lambda: (lambda s: s if s["containers"][0]["state"] == "exited" else None)(
        lx.inspect("k")))
    assert st and st["containers"][0]["exit"] == "signal 9"
    assert st["containers"][0]["exit_code"] == 137
    assert st["state"] == "running" and st["containers"][1]["state"] == "running"
    lx.ok("stop", "k")
    lx.ok("rm", "k")


@pytest.mark.parametrize("monitor", ["c", "python"])
@pytest.mark.parametrize("share", [True, False], ids=["share-pid", "own-pid"])
def test_sigkill_of_pause_ends_the_pod(lx, share, monitor):
    """SIGKILL to pause: the sandbox is gone, so the containers are stopped
    (with a shared PID namespace the kernel kills them at once), the pod is
    exited, and rm cleans up."""
    env = dict(lx.env, LAUNCHER_MONITOR="python") if monitor == "python" else None
    lx.ok("run", "-d", "--name", "kp", "--grace", "0.5", *(["--share-pid"] if share else []),
          "-c", "a=sleep 60", "-c", "b=sleep 60", env=env)
    st = lx.inspect("kp")
    os.kill(st["pause"]["pid"], signal.SIGKILL)
    assert wait_for(lambda: _state(lx, "kp") == "exited", 15), lx.inspect("kp")
    st = lx.inspect("kp")
    assert st["pause"]["exit"] == "signal 9"
    assert [c["exit_code"] for c in st["containers"]] == [137, 137]
    assert wait_for(lambda: not lx.procs(), 5), lx.procs()
    lx.ok("rm", "kp")


def test_sigkill_of_the_monitor_leaves_a_dead_pod_and_no_process(lx):
    """SIGKILL to the pod's supervisor (the C monitor): pause and containers die
    with it (PR_SET_PDEATHSIG), ps shows the pod dead, rm removes it."""
    lx.ok("run", "-d", "--name", "km", "--share-pid", "-c", "a=sleep 60", "-c", "b=sleep 60")
    st = lx.inspect("km")
    watched = [st["supervisor"]["pid"], st["pause"]["pid"]] + [c["pid"] for c in st["containers"]]
    os.kill(st["supervisor"]["pid"], signal.SIGKILL)
    assert wait_for(lambda: not lx.procs(), 10), lx.procs()
    # Their zombies go to the host's init (or a subreaper), which reaps them.
    assert wait_for(lambda: not [p for p in watched if os.path.exists(f"/proc/{p}")], 20)
    assert [p["state"] for p in lx.ps()] == ["dead"]
    assert "dead" in lx.ok("ps")
    r = lx.run("exec", "km", "--", "true")
    assert r.returncode == 125 and "not running" in r.stderr
    lx.ok("rm", "km")
    assert lx.pod_files() == []
    sandbox_ns = {k: v for k, v in st["namespaces"].items() if k != "mnt"}   # pause keeps the host's
    assert wait_for(lambda: not ns_holders(sandbox_ns), 20), "the pod's namespaces live on"


def test_sigkill_of_the_foreground_launcher(lx):
    """SIGKILL to a foreground `launcher run`: its pod dies with it, ps shows
    the pod dead, rm cleans it."""
    p = lx.popen("run", "--name", "kl", "--", "sh", "-c", "echo started; sleep 60",
                 stdout=subprocess.PIPE, text=True)
    try:
        assert first_line(p.stdout) == "sh | started\n"
        p.kill()
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
    assert wait_for(lambda: not lx.procs(), 10), lx.procs()
    assert [(x["name"], x["state"]) for x in lx.ps()] == [("kl", "dead")]
    lx.ok("rm", "kl")


def test_closed_stdout_does_not_break_a_foreground_pod(lx):
    """`launcher run ... | head -1`: when our stdout goes away the pod still
    runs to its end (output keeps going to its log) and exits with its code."""
    p = lx.popen("run", "--", "sh", "-c", "seq 200000; exit 4", stdout=subprocess.PIPE)
    try:
        first_line(p.stdout)
        p.stdout.close()
        assert p.wait(30) == 4
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_stop_then_rm_of_a_running_pod_leaves_nothing(lx):
    """stop + rm of a running pod: no process, no state, no mount (checked by
    the fixture); rm -f does both at once."""
    lx.ok("run", "-d", "--name", "s1", "--share-pid", "--", "sleep", "60")
    lx.ok("run", "-d", "--name", "s2", "--grace", "1", "--", "sleep", "60")
    lx.ok("stop", "s1")
    lx.ok("rm", "s1")
    lx.ok("rm", "-f", "s2")
    assert lx.ps() == []


def test_failed_setup_leaves_nothing(lx):
    """A pod whose pause cannot start (not executable) fails with 125 and
    leaves no state, name claim or process."""
    r = lx.run("run", "--pause", "/etc/hostname", "--", "true")
    assert r.returncode == 125 and r.stderr.startswith("launcher: ")
    r = lx.run("run", "-d", "--pause", "/etc/hostname", "--", "true")
    assert r.returncode == 125 and r.stderr.startswith("launcher: ")
    assert lx.pod_files() == []


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detached"])
def test_sigkill_of_the_launcher_at_any_point_of_setup(lx, detach):
    """SIGKILL to `launcher run` at many points of its set-up (0-90 ms): the
    pod is absent, dead, or (detached: the supervisor carries on) running;
    after rm -f nothing is left, not even a half-made pod directory."""
    for i in range(16):
        p = lx.popen("run", *(["-d"] if detach else []), "--share-pid", "--name", f"r{i}",
                     "-c", "a=sleep 60", "-c", "b=sleep 60",
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(i * 0.006)
        p.kill()
        p.wait(10)
        pods = lx.ps()
        assert all(x["name"] == f"r{i}" for x in pods), pods
        allowed = {"dead", "running", "creating", "exited"} if detach else {"dead"}
        assert {x["state"] for x in pods} <= allowed, pods
        for x in pods:
            lx.ok("rm", "-f", x["id"])
        assert wait_for(lambda: not lx.procs(), 20), lx.procs()
        assert lx.pod_files() == []


@pytest.mark.parametrize("state, why", [
    (b"not a pickle", "corrupt (not JSON)"),
    (b'{"version": 99, "kind": "supervisor-state", "pod": {}}', "record version 99 is not supported"),
    (b'{"version": 1, "kind": "supervisor-state"}', "supervisor.json is malformed"),
    (b"\x80\x04\x95" + b"x" * 40, "corrupt (not JSON)"),   # a pickle is never loaded
], ids=["garbage", "newer-version", "missing-fields", "pickle"])
def test_a_supervisor_that_cannot_resume_leaves_a_dead_pod_that_says_why(lx, state, why):
    """If the monitor execs the supervisor back and it cannot take its state
    over (garbage, a version it does not know, a record missing its data),
    the pod's processes die with it, `inspect` shows the pod dead with the
    one-line reason, and `rm` cleans up. The state is versioned JSON: data
    only, nothing is unpickled."""
    pod = lx.ok("run", "-d", "--name", "broken", "--", "sleep", "60").strip()
    st = lx.inspect(pod)
    if st["supervisor"]["kind"] != "monitor":
        pytest.skip("pause/bin/pod-monitor is not built (csrc/build-static.sh)")
    path = os.path.join(st["dir"], "supervisor.json")
    assert wait_for(lambda: os.path.exists(path), 5)
    with open(path, "rb") as f:
        saved = json.load(f)
    assert saved["version"] == 1 and saved["kind"] == "supervisor-state"
    with open(path, "wb") as f:
        f.write(state)
    os.kill(st["containers"][0]["pid"], signal.SIGKILL)   # wakes the monitor
    assert wait_for(lambda: _state(lx, pod) == "dead", 10)
    dead = lx.inspect(pod)
    assert dead["supervisor"]["error"].startswith("launcher: cannot resume the pod:")
    assert why in dead["supervisor"]["error"], dead["supervisor"]["error"]
    sandbox_ns = {k: st["namespaces"][k] for k in ("net", "ipc", "uts", "pid")}   # pause shares the host's mnt
    assert wait_for(lambda: not ns_holders(sandbox_ns), 5)
    lx.ok("rm", pod)


def test_a_remover_killed_half_way_leaves_nothing_housekeeping_cannot_finish(lx):
    """rm renames a pod directory out of sight before deleting it: a remover
    killed in between leaves `.tmp-ID`, which the next ps finishes, and a
    dangling name claim, which it drops (never an invisible, recordless pod
    directory). Simulated by doing the rename by hand, as a killed rm would
    have left it, with the pod's pins still mounted."""
    pod = lx.ok("run", "-d", "--name", "half", "--", "sleep", "60").strip()
    st = lx.inspect(pod)
    lx.ok("stop", pod)
    assert lx.inspect(pod)["state"] == "exited"
    from launcher.runtime import syscalls
    pin = os.path.join(st["dir"], "net.ns")        # a mount in the directory (an older launcher's pin)
    open(pin, "w").close()
    syscalls.mount("/proc/self/ns/net", pin, None, syscalls.MS_BIND)
    gone = os.path.join(lx.statedir, ".tmp-" + pod)
    os.rename(st["dir"], gone)
    assert lx.ps() == []
    assert not os.path.exists(gone) and lx.pod_files() == []
    with open("/proc/self/mountinfo") as f:
        assert gone not in f.read() and st["dir"] not in f.read()
