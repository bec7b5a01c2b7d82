"""Detection of the hierarchies from mountinfo text: v1 mounts with their
controllers (comounted, named), the unified mount, duplicates, escapes; and
which version drives each controller."""
from launcher.cgroups import mounts
from launcher.cgroups.mounts import Hierarchy, Host

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

SYSTEMD_V1 = """\
25 24 0:22 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:6 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
28 24 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
29 24 0:26 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,net_cls,net_prio
30 24 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
31 24 0:28 /kubepods /mnt/memory\\040copy rw,relatime - cgroup cgroup rw,memory
32 24 0:29 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
"""

PURE_V2 = "26 21 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"


def _keys(hs):
    return sorted((h.key, h.mount, h.version) for h in hs)


def test_a_hybrid_machine_like_this_one():
    """v1 controllers each on their own mount, a named systemd tree, and a
    unified mount (its controllers are read from the files later)."""
    hs = mounts.parse_mountinfo(HYBRID)
    assert _keys(hs) == [
        ("cpu", "/sys/fs/cgroup/cpu", 1), ("cpuacct", "/sys/fs/cgroup/cpuacct", 1),
        ("freezer", "/sys/fs/cgroup/freezer", 1), ("memory", "/sys/fs/cgroup/memory", 1),
        ("name=systemd", "/sys/fs/cgroup/systemd", 1), ("pids", "/sys/fs/cgroup/pids", 1),
        ("unified", "/sys/fs/cgroup/unified", 2)]


def test_comounted_and_named_hierarchies_and_duplicates():
    """cpu,cpuacct is one hierarchy; mount options that are not controllers
    (xattr, clone_children) are ignored; a second mount of the memory
    hierarchy (not its root, path with an escaped space) does not replace
    the root mount."""
    hs = mounts.parse_mountinfo(SYSTEMD_V1)
    assert _keys(hs) == [
        ("cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct", 1), ("cpuset", "/sys/fs/cgroup/cpuset", 1),
        ("memory", "/sys/fs/cgroup/memory", 1), ("name=systemd", "/sys/fs/cgroup/systemd", 1),
        ("net_cls,net_prio", "/sys/fs/cgroup/net_cls,net_prio", 1)]
    only_copy = mounts.parse_mountinfo(SYSTEMD_V1.splitlines()[4] + "\n")
    assert only_copy[0].mount == "/mnt/memory copy" and not only_copy[0].is_root


def test_a_pure_v2_machine():
    """One cgroup2 mount and nothing else."""
    assert _keys(mounts.parse_mountinfo(PURE_V2)) == [("unified", "/sys/fs/cgroup", 2)]


def _host(v2_controllers, v1):
    hs = [Hierarchy("/u", 2, v2_controllers)] if v2_controllers is not None else []
    return Host(hs + [Hierarchy("/" + ",".join(c), 1, c) for c in v1])


def test_each_controller_goes_to_v2_if_there_else_v1():
    """Per controller: the unified hierarchy when it has it, else its v1 one."""
    h = _host(["memory", "pids"], [["cpu", "cpuacct"], ["freezer"]])
    assert h.where("memory") == "v2" and h.where("cpu") == "v1" and h.where("hugetlb") is None
    assert h.v2_controllers() == ["memory", "pids"]
    h.has_kill = True
    assert [x.mount for x in h.used()] == ["/u", "/cpu,cpuacct"]


def test_used_hierarchies_by_machine_kind():
    """Hybrid with cgroup.kill: unified + cpu/memory/pids v1 mounts; no
    cgroup.kill: + freezer; v1 only: + freezer and cpuacct; pure v2: unified."""
    hybrid = _host([], [["cpu"], ["cpuacct"], ["memory"], ["pids"], ["freezer"], ["cpuset"]])
    hybrid.has_kill = True
    assert [x.mount for x in hybrid.used()] == ["/u", "/cpu", "/memory", "/pids"]
    hybrid.has_kill = False
    assert [x.mount for x in hybrid.used()] == ["/u", "/cpu", "/memory", "/pids", "/freezer"]
    v1 = _host(None, [["cpu", "cpuacct"], ["memory"], ["pids"], ["freezer"]])
    assert [x.mount for x in v1.used()] == ["/cpu,cpuacct", "/memory", "/pids", "/freezer"]
    v2 = _host(["cpu", "memory", "pids", "io"], [])
    v2.has_kill = True
    assert [x.mount for x in v2.used()] == ["/u"]


def test_detect_agrees_with_proc_cgroups():
    """The controllers found in mount options are the kernel's (/proc/cgroups
    names each with the hierarchy id it is bound to, 0 for none or v2)."""
    with open("/proc/cgroups") as f:
        bound = {line.split()[0] for line in f if not line.startswith("#") and line.split()[1] != "0"}
    found = set().union(*(h.controllers for h in mounts.detect(unified=False).v1))
    assert found == bound


def test_detect_on_this_machine_reads_the_unified_controllers():
    """The unified hierarchy's usable controllers come from its
    cgroup.controllers (here: what this kernel did not bind to v1)."""
    host = mounts.detect()
    if host.unified is not None:
        with open(host.unified.mount + "/cgroup.controllers") as f:
            offered = set(f.read().split())
        assert host.unified.controllers <= offered
        for c in host.unified.controllers:
            assert not any(c in h.controllers for h in host.v1)
    assert mounts.detect(unified=False).unified is None
