"""OOM: a container over its memory limit is OOM-killed (SIGKILL, exit 137)
and its cgroup's OOM kill count grows, which is how the launcher reports
reason OOMKilled; the pod's other containers keep running."""
import select
import subprocess

from launcher import cgroups
from launcher.cgroups import resources as r

Mi = 1 << 20
HOG = """
print("start", flush=True)
chunks = [bytearray(1 << 20) for i in range(100)]   # 100 MiB, every page touched
print("survived", flush=True)
"""


def test_a_memory_hog_is_oom_killed_at_its_limit_and_its_sibling_lives(host, new_pod, spawn):
    """A 100 MiB allocation in a container limited to 32Mi dies of SIGKILL
    with its oom_kill count up by at least one; the sibling container's
    process still runs and its count has not moved."""
    hog_res = r.from_manifest({"limits": {"memory": "32Mi"}}, "spec.containers[0].resources")
    pod = new_pod({"hog": hog_res, "sibling": r.empty()})
    sibling = spawn(pod, "sibling", ["sleep", "30"])
    before, sibling_before = pod.oom_kills("hog"), pod.oom_kills("sibling")
    assert before == 0 and sibling_before == 0
    hog = spawn.python(pod, "hog", HOG, stdout=subprocess.PIPE)
    assert hog.wait(30) == -9                        # 128 + 9 = 137 in the launcher's terms
    out = hog.stdout.read().decode()
    assert "start" in out and "survived" not in out
    after = pod.oom_kills("hog")
    assert after >= before + 1
    assert cgroups.oom_killed(before, after, 137)
    assert sibling.poll() is None
    assert pod.oom_kills("sibling") == sibling_before


def test_a_sigkill_without_an_oom_kill_is_not_oomkilled(host, new_pod, spawn):
    """A container KILLed by someone else is not OOMKilled: its count did not grow."""
    pod = new_pod({"app": r.from_cli(memory="64m")})
    before = pod.oom_kills("app")
    proc = spawn(pod, "app", ["sleep", "30"])
    proc.kill()
    assert proc.wait(5) == -9
    assert not cgroups.oom_killed(before, pod.oom_kills("app"), 137)
    assert not cgroups.oom_killed(0, 1, 0)    # a container that succeeded is never OOMKilled


def test_a_process_under_its_limit_runs_to_the_end(host, new_pod, spawn):
    """The same allocation under a 256Mi limit completes."""
    pod = new_pod({"app": r.from_cli(memory="256m")})
    proc = spawn.python(pod, "app", HOG, stdout=subprocess.PIPE)
    assert proc.wait(30) == 0
    assert select.select([proc.stdout], [], [], 0)[0]
    assert b"survived" in proc.stdout.read()
    assert pod.oom_kills("app") == 0
