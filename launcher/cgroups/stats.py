"""What a pod's cgroups say: CPU, memory and pids use (OOM kills: oom.py).

    reading              v1 file                          v2 file
    CPU used (ns)        cpuacct.usage                    cpu.stat usage_usec * 1000
    memory used          memory.usage_in_bytes            memory.current
    working set          used - memory.stat total_inactive_file   used - memory.stat inactive_file
    memory limit         memory.limit_in_bytes            memory.max
    pids, pids limit     pids.current, pids.max           pids.current, pids.max

CPU comes from the unified hierarchy's cpu.stat whenever a pod has a cgroup
there (the file exists with or without the cpu controller), else from v1
cpuacct. A limit of 'max', or v1's "unlimited" (the largest page-aligned
int64), is None. CPU % is the CPU time used between two samples over the
wall time between them: 100 is one core's worth, as `docker stats` shows it.
A reading the machine cannot give is None.
"""
import os

from launcher.cgroups import files, names
from launcher.cgroups.layout import containers as _containers

_PAGE = os.sysconf("SC_PAGE_SIZE")
V1_UNLIMITED = (2**63 - 1) // _PAGE * _PAGE


def usage(host, rel):
    """The readings of one cgroup (path relative to the mounts) as a dict:
    cpu_usage_ns, memory_bytes, memory_working_set_bytes,
    memory_limit_bytes, pids, pids_limit."""
    out = {"cpu_usage_ns": _cpu_ns(host, rel)}
    out.update(_memory(host, rel))
    p = host.controller("pids")
    d = os.path.join(p.mount, rel) if p is not None else None
    out["pids"] = files.read_int(os.path.join(d, "pids.current")) if d else None
    out["pids_limit"] = files.read_int(os.path.join(d, "pids.max")) if d else None
    return out


def _cpu_ns(host, rel):
    u = host.unified
    if u is not None:
        stat = files.read_keyed(os.path.join(u.mount, rel, "cpu.stat"))
        if "usage_usec" in stat:
            return stat["usage_usec"] * 1000
    a = host.controller("cpuacct")
    if a is not None and a.version == 1:
        return files.read_int(os.path.join(a.mount, rel, "cpuacct.usage"))
    return None


def _memory(host, rel):
    m = host.controller("memory")
    none = {"memory_bytes": None, "memory_working_set_bytes": None, "memory_limit_bytes": None}
    if m is None:
        return none
    d = os.path.join(m.mount, rel)
    if m.version == 2:
        used, limit = files.read_int(os.path.join(d, "memory.current")), files.read_int(os.path.join(d, "memory.max"))
        inactive = files.read_keyed(os.path.join(d, "memory.stat")).get("inactive_file", 0)
    else:
        used, limit = (files.read_int(os.path.join(d, "memory.usage_in_bytes")),
                       files.read_int(os.path.join(d, "memory.limit_in_bytes")))
        inactive = files.read_keyed(os.path.join(d, "memory.stat")).get("total_inactive_file", 0)
        if limit is not None and limit >= V1_UNLIMITED:
            limit = None
    if used is None:
        return none
    return {"memory_bytes": used, "memory_working_set_bytes": max(used - inactive, 0),
            "memory_limit_bytes": limit}


def sample(host, pod_id, parent=names.DEFAULT_PARENT):
    """One sample of a pod: {"time_ns", "pod", "sandbox", "containers":
    {name: readings}}, readings as usage() gives them."""
    import time
    rel = names.pod(parent, pod_id)
    return {"time_ns": time.monotonic_ns(),
            "pod": usage(host, rel),
            "sandbox": usage(host, os.path.join(rel, names.SANDBOX)),
            "containers": {c: usage(host, os.path.join(rel, names.member(c)))
                           for c in _containers(host, pod_id, parent)}}


def cpu_percent(before, after, wall_ns):
    """CPU % between two readings taken wall_ns apart (100 = one core);
    None if a reading lacks the CPU figure."""
    a, b = before.get("cpu_usage_ns"), after.get("cpu_usage_ns")
    if a is None or b is None or wall_ns <= 0:
        return None
    return max(b - a, 0) * 100.0 / wall_ns


def rows(first, second):
    """Display rows from two samples of one pod: one per container, then
    the sandbox and the whole pod, each {"name", "cpu_percent",
    "memory_bytes", "memory_limit_bytes", "pids", "pids_limit"} (the
    container rows' limits fall back to the pod's when they have none)."""
    wall = second["time_ns"] - first["time_ns"]
    pod_now = second["pod"]
    out = []
    members = [(c, first["containers"].get(c, {}), r) for c, r in second["containers"].items()]
    members.append(("(sandbox)", first["sandbox"], second["sandbox"]))
    members.append(("(pod)", first["pod"], pod_now))
    for name, before, now in members:
        out.append({"name": name, "cpu_percent": cpu_percent(before, now, wall),
                    "memory_bytes": now["memory_working_set_bytes"],
                    "memory_limit_bytes": now["memory_limit_bytes"] or pod_now["memory_limit_bytes"],
                    "pids": now["pids"], "pids_limit": now["pids_limit"] or pod_now["pids_limit"]})
    return out
