"""Stats from the cgroup files: CPU time, memory use and limit, pids, per
container, the sandbox and the pod; CPU % from two samples."""
import os
import subprocess

from launcher import cgroups
from launcher.cgroups import resources as r
from helpers import sleep_until

Mi = 1 << 20


def test_a_sample_reads_memory_pids_and_cpu_per_member(host, new_pod, spawn):
    """Two sleeping processes in one container: pids 2, memory use above
    zero and below its 64Mi limit; the pod's pids limit; rows() shows every
    container, the sandbox and the pod."""
    pod = new_pod({"web": r.from_cli(memory="64m"), "idle": r.empty()}, pids_limit=100)
    proc = spawn(pod, "web", ["sh", "-c", "sleep 30 & echo ready; wait"], stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"ready\n"
    a = pod.sample()
    web = a["containers"]["web"]
    assert web["pids"] == 2 and a["pod"]["pids"] == 2 and a["pod"]["pids_limit"] == 100
    assert 0 < web["memory_bytes"] < 64 * Mi and web["memory_limit_bytes"] == 64 * Mi
    assert 0 <= web["memory_working_set_bytes"] <= web["memory_bytes"]
    assert a["containers"]["idle"]["memory_limit_bytes"] is None       # v1's "unlimited", v2's "max"
    assert a["pod"]["memory_limit_bytes"] is None                      # idle has no limit
    assert web["cpu_usage_ns"] > 0
    rows = cgroups.rows(a, pod.sample())
    assert [row["name"] for row in rows] == ["idle", "web", "(sandbox)", "(pod)"]
    assert rows[1]["pids"] == 2 and rows[1]["pids_limit"] == 100
    assert all(row["cpu_percent"] is not None and row["cpu_percent"] >= 0 for row in rows)


def test_cpu_percent_of_a_busy_loop(host, new_pod, spawn):
    """An unlimited busy loop shows a CPU % well above zero, at most one core."""
    pod = new_pod({"busy": r.empty()})
    spawn.python(pod, "busy", "while True: pass")
    a = pod.sample()
    sleep_until(lambda: False, timeout=0.5)
    b = pod.sample()
    pct = cgroups.rows(a, b)[0]["cpu_percent"]
    assert 5 < pct <= 105


def test_the_v1_only_code_paths(new_pod, spawn):
    """On a host seen without its unified hierarchy (as a v1-only machine),
    pods get freezer and cpuacct cgroups, CPU comes from cpuacct.usage, and
    teardown freezes, kills and thaws."""
    host = cgroups.detect(unified=False)
    assert host.unified is None
    assert host.controller("freezer") in host.used() and host.controller("cpuacct") in host.used()
    pod = new_pod({"busy": r.from_cli(cpus="0.5")}, on=host)
    proc = spawn.python(pod, "busy", "while True: pass")
    assert sleep_until(lambda: pod.sample()["containers"]["busy"]["cpu_usage_ns"], 5)
    pod.kill_all()
    assert proc.wait(5) == -9
    pod.remove()
    assert pod.paths() == [] and not os.path.exists(os.path.join(
        host.controller("freezer").mount, pod.rel))
