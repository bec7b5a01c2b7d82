"""Pods in cgroups, through the launcher: a cgroup per pod, per container
and for the sandbox; limits from `resources` and from --memory, --cpus and
--pids-limit; OOMKilled; teardown by cgroup; the QoS class; `stats`. Each
Launcher's pods sit under a cgroup parent of their own, and the lx fixture
fails a test that leaves one of their cgroups behind."""
import json
import os
import signal
import subprocess

import pytest

from launcher_env import PY, wait_for

HOG = "head -c 104857600 /dev/zero | tail"          # tail holds 100 MiB: no newline in it
# Forks up to 200 sleepers, counting until fork fails (EAGAIN at the pids limit).
BOMB = """
import os, time
n = 0
for _ in range(200):
    try:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
    except OSError as e:
        print("fork failed", e.errno, flush=True)
        break
    n += 1
print("started", n, flush=True)
time.sleep(60)
"""


def manifest(tmp_path, body, name="cg"):
    path = tmp_path / f"{name}.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n%s" % (name, body))
    return str(path)


def cgroup_of(pid, controller):
    with open(f"/proc/{pid}/cgroup") as f:
        for ln in f:
            _, ctrls, path = ln.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return path
    return None


def test_every_pod_process_is_in_its_pods_cgroups(lx):
    """pause is in the pod's sandbox cgroup, each container in its own, in
    the memory, pids and cpu hierarchies alike; rm removes them all."""
    lx.ok("run", "-d", "--name", "placed", "-c", "a=sleep 60", "-c", "b=sleep 60")
    st = lx.inspect("placed")
    base = f"/{lx.cgroup_parent}/pod{st['id']}"
    for ctrl in ("memory", "pids", "cpu"):
        assert cgroup_of(st["pause"]["pid"], ctrl) == base + "/sandbox"
        for c in st["containers"]:
            assert cgroup_of(c["pid"], ctrl) == f"{base}/ctr-{c['name']}"
    assert lx.cgroups()
    lx.ok("rm", "-f", "placed")
    assert lx.cgroups() == []


def test_a_memory_hog_is_oomkilled_and_its_sibling_runs_on(lx, tmp_path):
    """A container over its 32Mi limit is OOM-killed: exit 137 with reason
    OOMKilled in ps and inspect; the other container keeps running."""
    m = manifest(tmp_path, "  restartPolicy: Never\n  containers:\n"
                 f"  - name: hog\n    command: [sh, -c, '{HOG}']\n"
                 "    resources: {limits: {memory: 32Mi}}\n"
                 "  - name: calm\n    command: [sleep, '60']\n")
    lx.ok("play", "-d", m)
    assert wait_for(lambda: lx.ps()[0]["containers"][0]["state"] == "exited", 60), lx.ps()
    hog, calm = lx.ps()[0]["containers"]
    assert (hog["exit_code"], hog["reason"]) == (137, "OOMKilled"), hog
    assert calm["state"] == "running" and calm["restarts"] == 0
    st = lx.inspect("cg")
    assert st["containers"][0]["reason"] == "OOMKilled"
    assert st["lifecycle"]["containers"][0]["reason"] == "OOMKilled"
    lx.ok("rm", "-f", "cg")


def test_restart_policies_treat_an_oom_kill_as_a_failure(lx, tmp_path):
    """OnFailure restarts an OOM-killed container; its event says why."""
    m = manifest(tmp_path, "  restartPolicy: OnFailure\n  containers:\n"
                 f"  - name: hog\n    command: [sh, -c, '{HOG}']\n"
                 "    resources: {limits: {memory: 32Mi}}\n", name="again")
    lx.ok("play", "-d", "--backoff", "0.2", m)
    assert wait_for(lambda: lx.inspect("again")["containers"][0]["restarts"] >= 1, 60)
    evs = [e for e in lx.inspect("again")["lifecycle"]["events"] if e["type"] == "ContainerExited"]
    assert evs and evs[0]["message"] == "exit code 137 (OOMKilled)", evs
    lx.ok("rm", "-f", "again")


def test_a_foreground_oomkilled_pod_exits_137(lx, tmp_path):
    """A foreground pod whose only container is OOM-killed exits 137."""
    m = manifest(tmp_path, "  restartPolicy: Never\n  containers:\n"
                 f"  - name: hog\n    command: [sh, -c, 'exec sh -c \"{HOG}\"']\n"
                 "    resources: {limits: {memory: 32Mi}}\n", name="oomonce")
    r = lx.run("play", m, timeout=60)
    assert r.returncode == 137, (r.returncode, r.stderr)


def test_a_fork_bomb_stops_at_the_pods_pids_limit(lx):
    """--pids-limit 40: a container forking 200 sleepers gets EAGAIN past the
    limit, the host can still fork, and rm leaves no process."""
    lx.ok("run", "-d", "--name", "bomb", "--pids-limit", "40", "--", PY, "-c", BOMB)
    assert wait_for(lambda: "started" in lx.ok("logs", "bomb"), 30)
    started = int(lx.ok("logs", "bomb").split("started")[1].split()[0])
    assert started < 40 and "fork failed 11" in lx.ok("logs", "bomb")   # EAGAIN
    rows = json.loads(lx.ok("stats", "bomb", "--no-stream", "--format", "json", "-i", "0.2"))
    [whole] = [r for r in rows if r["name"] == "(pod)"]
    assert whole["pids_limit"] == 40 and 30 < whole["pids"] <= 40, whole
    assert subprocess.run(["true"]).returncode == 0          # the host forks
    lx.ok("rm", "-f", "bomb")
    assert wait_for(lambda: not lx.procs(), 10)


def test_a_cpu_limit_holds_a_busy_loop_to_half_a_core(lx):
    """--cpus 0.5: a busy loop uses at most about half a core, measured from
    its cgroup's CPU usage over two seconds (stats)."""
    lx.ok("run", "-d", "--name", "spin", "--cpus", "0.5", "--", "sh", "-c", "while :; do :; done")
    try:
        rows = json.loads(lx.ok("stats", "spin", "--no-stream", "--format", "json", "-i", "2"))
        [busy] = [r for r in rows if r["name"] == "sh"]
        assert busy["cpu_percent"] <= 60, busy
        assert busy["cpu_percent"] >= 15, busy      # it does run (a loaded host gives it less)
    finally:
        lx.ok("rm", "-f", "spin")


def test_a_setsid_double_fork_escapee_is_gone_after_rm(lx, tmp_path):
    """A container's process escapes its session and parent (setsid + a
    double fork): it is still in the container's cgroup, and rm ends it."""
    mark = tmp_path / "escapee"
    lx.ok("run", "-d", "--name", "esc", "--share-pid", "--", "sh", "-c",
          f"setsid sh -c 'sleep 300 & echo $! > {mark}' & sleep 60")
    assert wait_for(lambda: mark.exists() and mark.read_text().strip(), 10)
    pod = lx.inspect("esc")
    esc = [p for p in lx.procs() if open(f"/proc/{p}/cmdline", "rb").read() == b"sleep\x00300\x00"]
    assert esc, "no escapee"
    assert cgroup_of(esc[0], "pids") == f"/{lx.cgroup_parent}/pod{pod['id']}/ctr-sh"
    lx.ok("rm", "-f", "esc")
    assert wait_for(lambda: not os.path.exists(f"/proc/{esc[0]}"), 10)
    assert lx.cgroups() == []


def test_gc_removes_the_cgroups_of_a_pod_whose_supervisor_was_killed(lx):
    """SIGKILL of a detached pod's supervisor: its processes die (parent-death
    signal) and its cgroups stay until gc, which removes them."""
    lx.ok("run", "-d", "--name", "orph", "--", "sleep", "60")
    st = lx.inspect("orph")
    os.kill(st["supervisor"]["pid"], signal.SIGKILL)
    assert wait_for(lambda: lx.inspect("orph")["state"] == "dead", 10)
    assert lx.cgroups()
    lx.ok("gc")
    assert lx.cgroups() == [] and not lx.procs()


@pytest.mark.parametrize("args, qos", [
    ([], "BestEffort"),
    (["--memory", "64m", "--cpus", "0.5"], "Guaranteed"),
    (["--memory", "64m"], "Burstable"),
])
def test_the_qos_class_is_shown(lx, args, qos):
    """inspect shows the pod's QoS class, computed as Kubernetes does."""
    lx.ok("run", "-d", "--name", "q", *args, "--", "sleep", "60")
    assert lx.inspect("q")["qos"] == qos
    lx.ok("rm", "-f", "q")


@pytest.mark.parametrize("resources, where", [
    ("{limits: {memory: 12Qi}}", "spec.containers[0].resources.limits.memory"),
    ("{limits: {cpu: -1}}", "spec.containers[0].resources.limits.cpu"),
    ("{requests: {cpu: '2'}, limits: {cpu: '1'}}", "spec.containers[0].resources.requests.cpu"),
    ("{limits: {memory: " + "9" * 400 + "}}", "spec.containers[0].resources.limits.memory"),
    ("[1, 2]", "spec.containers[0].resources"),
])
def test_bad_resources_name_their_field(lx, tmp_path, resources, where):
    """A resources value that is not a quantity, out of range, or a request
    above its limit: one line naming the field path, exit 125."""
    m = manifest(tmp_path, "  containers:\n  - name: c\n    command: ['true']\n"
                 f"    resources: {resources}\n", name="bad")
    r = lx.run("play", m)
    assert r.returncode == 125 and r.stderr.count("\n") == 1 and where in r.stderr, r.stderr


@pytest.mark.parametrize("args", [["--memory", "1k"], ["--memory", "lots"], ["--cpus", "0"],
                                  ["--cpus", "999"], ["--pids-limit", "0"], ["--pids-limit", "x"]])
def test_bad_limit_flags_are_one_line(lx, args):
    """--memory, --cpus and --pids-limit out of range or not numbers: 125."""
    r = lx.run("run", *args, "--", "true")
    assert r.returncode == 125 and r.stderr.count("\n") == 1, r.stderr
