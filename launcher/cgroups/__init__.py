"""cgroups for pods, kubelet cgroupfs-driver style: a parent `launcher`
cgroup, one per pod (`pod<ID>`), one per container (`ctr-<NAME>`) and the
sandbox's own, in the unified (v2) hierarchy and in each v1 hierarchy that
drives cpu, memory or pids; limits from Kubernetes resources; placement of a
child before it execs; teardown by cgroup; OOM detection; stats.
docs/cgroups.md has the layout, the mapping table and the rules.

    host = cgroups.detect()                           # per process; nothing cached on disk
    pod = cgroups.Pod(host, pod_id)
    pod.create(pod_res, {name: ctr_res})              # before the sandbox starts
    p = pod.placement(name)                           # parent, before fork (None: the sandbox)
    p.enter()                                         # child step, before exec
    p.close()                                         # parent, after fork
    before = pod.oom_kills(name)                      # before start; after exit:
    cgroups.oom_killed(before, pod.oom_kills(name), exit_code)     # -> reason OOMKilled
    pod.kill_all(); pod.remove()                      # teardown
    cgroups.gc(host, live_ids); cgroups.leftovers(host)

Importing this package costs one module: each name below is loaded from its
module on first use (PEP 562), so `launcher run` pays only for the modules
it calls (each costs ~0.2 ms to import on a busy machine). The modules
import os and our own modules only.
"""
import sys

_WHERE = {
    "detect": "mounts", "detected": "mounts", "Host": "mounts",
    "Pod": "pod",
    "Placement": "placement",
    "gc": "teardown",
    "leftovers": "layout", "pod_ids": "layout", "remove_parent": "layout",
    "DEFAULT_PARENT": "names",
    "DEFAULT_PIDS_LIMIT": "resources", "QOS_GUARANTEED": "resources",
    "QOS_BURSTABLE": "resources", "QOS_BEST_EFFORT": "resources", "qos_class": "resources",
    "cpu_percent": "stats", "rows": "stats", "oom_killed": "oom",
}
__all__ = sorted(_WHERE)


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'launcher.cgroups' has no attribute {name!r}")
    full = f"launcher.cgroups.{module}"
    __import__(full)    # not importlib.import_module: importing importlib costs 1-2 ms
    value = getattr(sys.modules[full], name)
    globals()[name] = value
    return value
