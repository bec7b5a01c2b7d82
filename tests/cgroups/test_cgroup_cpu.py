"""A busy loop under a 500m cpu limit uses about half a core, measured from
the cgroup's own CPU usage against wall time."""
from launcher import cgroups
from launcher.cgroups import files, resources as r
from helpers import sleep_until


def test_a_busy_loop_under_half_a_cpu_uses_about_half_a_core(host, new_pod, spawn):
    """Over ~2 s the cgroup's CPU time is 35-65% of the wall time, and the
    CFS throttled the loop (v1 cpu.stat nr_throttled, v2 nr_throttled)."""
    pod = new_pod({"busy": r.from_cli(cpus="0.5")})
    spawn.python(pod, "busy", "while True: pass")
    assert sleep_until(lambda: pod.sample()["containers"]["busy"]["cpu_usage_ns"], 5)
    first = pod.sample()
    sleep_until(lambda: False, timeout=2.0)         # a bounded 2 s wait
    second = pod.sample()
    wall = second["time_ns"] - first["time_ns"]
    share = cgroups.cpu_percent(first["containers"]["busy"], second["containers"]["busy"], wall) / 100
    assert 0.35 <= share <= 0.65, f"the 500m loop used {share:.2f} of a core"
    cpu_dir = host.controller("cpu").mount + "/" + pod.rel + "/ctr-busy"
    assert files.read_keyed(cpu_dir + "/cpu.stat").get("nr_throttled", 0) > 0
