"""Resources to cgroup files, as the kubelet maps them (pkg/kubelet/cm:
MilliCPUToShares, MilliCPUToQuota, CpuSharesToCpuWeight).

    Kubernetes           v1 file                               v2 file
    limits.cpu           cpu.cfs_quota_us = QUOTA              cpu.max = "QUOTA 100000"
                         (cpu.cfs_period_us: 100000)
    requests.cpu         cpu.shares = SHARES                   cpu.weight = 1 + (SHARES-2)*9999/262142
    limits.memory        memory.limit_in_bytes,                memory.max,
                         memory.memsw.limit_in_bytes (same)    memory.swap.max = 0
    (container)          -                                     memory.oom.group = 1
    pod pids limit       pids.max                              pids.max
    (the parent)         cpu.shares = CPUs * 1024              cpu.weight from those shares

QUOTA = millicores * 100000 / 1000 us (at least 1000 us), over the 100 ms
period a new v1 cgroup has (the kernel's default, which the launcher never
changes, so it is not written: one write less per cgroup); SHARES =
millicores * 1024 / 1000, from 2 to 262144, and 2 when nothing is requested
(BestEffort). Swap is off for a limited cgroup (memsw = the limit on v1,
swap.max = 0 on v2: the kubelet's NoSwap), and on v2 an OOM kill takes the
whole container (memory.oom.group, as the kubelet sets since 1.28). Unset
limits are not written: a new cgroup is unlimited. The files marked optional
are skipped where the kernel lacks them (no swap accounting).
"""

from launcher.cgroups import files
from launcher.errors import LauncherError

CFS_PERIOD_US = 100000
MIN_QUOTA_US = 1000
MIN_SHARES, MAX_SHARES = 2, 262144


def shares(millis):
    """cpu.shares for a cpu request in millicores (kubelet's MilliCPUToShares)."""
    if not millis:
        return MIN_SHARES
    return min(max(millis * 1024 // 1000, MIN_SHARES), MAX_SHARES)


def weight(cpu_shares):
    """cpu.weight for cpu.shares (kubelet's CpuSharesToCpuWeight)."""
    return 1 + ((cpu_shares - 2) * 9999) // 262142


def quota(millis):
    """cfs quota in us per CFS_PERIOD_US for a cpu limit in millicores."""
    return max(millis * CFS_PERIOD_US // 1000, MIN_QUOTA_US)


class Setting:
    """One file to write in one cgroup: `controller`, `file`, `value`;
    optional ones are skipped when the file or the controller is missing."""
    __slots__ = ("controller", "file", "value", "optional")

    def __init__(self, controller, file, value, optional=False):
        self.controller, self.file, self.value, self.optional = controller, file, value, optional

    def __repr__(self):
        return f"{self.file}={self.value!r}"


def plan(res, v2, pids_limit=None, container=True, pids_optional=False):
    """The Settings for one cgroup: res is a container or pod dict
    (resources.py), v2(controller) tells where each controller lives,
    pids_limit applies at the pod level (pids_optional: a default, not
    asked for, so skipped on a machine without the pids controller). In the
    order they must be written. The BestEffort shares are optional too."""
    out = []
    cpu_limit, cpu_request = res.get("cpu_limit_millis"), res.get("cpu_request_millis")
    memory = res.get("memory_limit_bytes")
    s = shares(cpu_request)
    if v2("cpu"):
        out.append(Setting("cpu", "cpu.weight", str(weight(s)), optional=not cpu_request))
        if cpu_limit:
            out.append(Setting("cpu", "cpu.max", f"{quota(cpu_limit)} {CFS_PERIOD_US}"))
    else:
        out.append(Setting("cpu", "cpu.shares", str(s), optional=not cpu_request))
        if cpu_limit:
            out.append(Setting("cpu", "cpu.cfs_quota_us", str(quota(cpu_limit))))
    if memory:
        if v2("memory"):
            out.append(Setting("memory", "memory.max", str(memory)))
            out.append(Setting("memory", "memory.swap.max", "0", optional=True))
            if container:
                out.append(Setting("memory", "memory.oom.group", "1", optional=True))
        else:
            out.append(Setting("memory", "memory.limit_in_bytes", str(memory)))
            out.append(Setting("memory", "memory.memsw.limit_in_bytes", str(memory), optional=True))
    if pids_limit is not None:
        out.append(Setting("pids", "pids.max", str(pids_limit), optional=pids_optional))
    return out


def parent_plan(v2, ncpu):
    """The parent's Settings: cpu shares for all the CPUs (ncpu * 1024, as
    the kubelet gives kubepods its allocatable CPUs), optional."""
    s = shares(ncpu * 1000)
    if v2("cpu"):
        return [Setting("cpu", "cpu.weight", str(weight(s)), optional=True)]
    return [Setting("cpu", "cpu.shares", str(s), optional=True)]


def apply(settings, dir_of):
    """Writes each Setting into dir_of(controller) (None: the controller is
    not mounted, LauncherError unless the setting is optional). v1's memsw
    must stay >= the memory limit, so a limit the kernel refuses (EINVAL: it
    is above the current memsw) is retried after the memsw write."""
    pending = None
    for s in settings:
        d = dir_of(s.controller)
        if d is None:
            if s.optional:
                continue
            raise LauncherError(f"cgroups: cannot set {s.file}: no {s.controller} controller "
                                "is mounted on this machine")
        path = f"{d}/{s.file}"
        try:
            files.write(path, s.value)
        except FileNotFoundError:
            if not s.optional:
                raise files.failure(f"write {s.value!r} to", path, OSError(2, "No such file or directory")) from None
        except OSError as e:
            if s.file == "memory.limit_in_bytes" and e.errno == 22:
                pending = (path, s.value)
                continue
            raise files.failure(f"write {s.value!r} to", path, e) from None
        if pending and s.file == "memory.memsw.limit_in_bytes":
            files.set_value(*pending)
            pending = None
    if pending:
        files.set_value(*pending)
