"""The pod's cgroups on this machine: made in every hierarchy the host uses,
limits written as mapped, processes placed before exec, names checked,
removed without a trace, and a half-made pod rolled back."""
import os
import subprocess
import sys

import pytest

from launcher import cgroups
from launcher.cgroups import files, names, resources as r
from launcher.errors import LauncherError

Mi = 1 << 20


def read(path):
    with open(path) as f:
        return f.read().strip()


def member_dir(host, controller, pod, member):
    h = host.controller(controller)
    return os.path.join(h.mount, pod.rel, member)


def test_create_makes_pod_sandbox_and_containers_in_every_used_hierarchy(host, new_pod):
    """pod<ID>/sandbox and pod<ID>/ctr-<name> exist in the unified hierarchy
    and in the v1 ones driving cpu, memory and pids, and nowhere else."""
    pod = new_pod({"web": r.empty(), "db": r.empty()})
    used = host.used()
    assert host.unified is None or used[0] is host.unified
    for h in host.all():
        top = os.path.join(h.mount, pod.rel)
        if h in used:
            assert sorted(files.subdirs(top)) == ["ctr-db", "ctr-web", "sandbox"], h
        else:
            assert not os.path.exists(top), h
    for c in ("cpu", "memory", "pids"):
        assert host.controller(c) in used or host.controller(c) is None


def test_limits_are_written_as_the_kubelet_maps_them(host, new_pod):
    """cpu 500m/250m, memory 64Mi and a pids limit of 200 land in the files
    of whichever version drives each controller."""
    res = r.from_manifest({"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}},
                          "spec.containers[0].resources")
    pod = new_pod({"web": res}, pids_limit=200)
    web, top = names.member("web"), ""
    if host.v2("cpu"):
        assert read(os.path.join(member_dir(host, "cpu", pod, web), "cpu.max")) == "50000 100000"
        assert read(os.path.join(member_dir(host, "cpu", pod, web), "cpu.weight")) == "10"
    else:
        d = member_dir(host, "cpu", pod, web)
        assert read(os.path.join(d, "cpu.cfs_quota_us")) == "50000"
        assert read(os.path.join(d, "cpu.cfs_period_us")) == "100000"
        assert read(os.path.join(d, "cpu.shares")) == "256"
        assert read(os.path.join(member_dir(host, "cpu", pod, top), "cpu.cfs_quota_us")) == "50000"
    mem = member_dir(host, "memory", pod, web)
    limit_file = "memory.max" if host.v2("memory") else "memory.limit_in_bytes"
    assert int(read(os.path.join(mem, limit_file))) == 64 * Mi
    assert int(read(os.path.join(member_dir(host, "memory", pod, top), limit_file))) == 64 * Mi
    if not host.v2("memory") and os.path.exists(os.path.join(mem, "memory.memsw.limit_in_bytes")):
        assert int(read(os.path.join(mem, "memory.memsw.limit_in_bytes"))) == 64 * Mi
    assert read(os.path.join(member_dir(host, "pids", pod, top), "pids.max")) == "200"
    assert read(os.path.join(member_dir(host, "pids", pod, web), "pids.max")) == "max"


def test_a_placed_process_is_in_its_cgroups_before_it_execs(host, new_pod, spawn):
    """enter() runs in the child before exec: the program and what it forks
    at once are in the container's cgroup in every used hierarchy."""
    pod = new_pod({"web": r.empty()})
    proc = spawn(pod, "web", ["sh", "-c", "sleep 30 & echo $!; wait"], stdout=subprocess.PIPE)
    grandchild = int(proc.stdout.readline())
    for pid in (proc.pid, grandchild):
        lines = read(f"/proc/{pid}/cgroup").splitlines()
        for h in host.used():
            want = "/" + os.path.join(pod.rel, names.member("web"))
            if h.version == 2:
                assert f"0::{want}" in lines
            else:
                assert any(line.endswith(":" + want) and set(line.split(":")[1].split(",")) == set(h.controllers)
                           for line in lines), (h, lines)
    pod.kill_all()
    assert proc.wait(5) == -9


def test_the_sandbox_is_placed_too(host, new_pod, spawn):
    """placement(None) is the sandbox's cgroup."""
    pod = new_pod()
    proc = spawn(pod, None, ["sleep", "30"])
    want = "/" + os.path.join(pod.rel, names.SANDBOX)
    assert any(line.endswith(":" + want) for line in read(f"/proc/{proc.pid}/cgroup").splitlines())


def test_remove_leaves_nothing_and_tolerates_what_is_gone(host, parent):
    """remove() takes every directory away; a second remove() is fine."""
    pod = cgroups.Pod(host, "rm1", parent)
    pod.create(r.pod([r.empty()]), {"a": r.empty(), "b": r.empty()})
    assert pod.paths()
    pod.kill_all()
    pod.remove()
    assert pod.paths() == [] and cgroups.leftovers(host, parent) == []
    pod.remove()
    pod.kill_all()


def test_remove_of_a_populated_pod_is_one_clear_error(host, new_pod, spawn):
    """A cgroup still holding a process cannot go: remove() retries for its
    timeout, then raises one error naming the cgroups; kill_all() then lets
    it go."""
    pod = new_pod()
    proc = spawn(pod, "app", ["sleep", "30"])
    with pytest.raises(LauncherError, match=r"cgroups: cannot remove .*ctr-app \(Device or resource busy\)"):
        pod.remove(timeout=0.2)
    pod.kill_all()
    proc.wait(5)
    pod.remove()
    assert pod.paths() == []


@pytest.mark.parametrize("pod_id, container", [
    ("../x", "a"), ("a/b", "a"), ("", "a"), (".hidden", "a"), ("ok", "x/y"), ("ok", ".."),
    ("ok", ""), ("ok\n", "a"), ("ok", "a b")])
def test_unsafe_names_are_refused_and_nothing_is_made(host, parent, pod_id, container):
    """Pod ids and container names must be one safe path component."""
    with pytest.raises(LauncherError, match="cannot name a cgroup"):
        pod = cgroups.Pod(host, pod_id, parent)
        pod.create(r.pod([r.empty()]), {container: r.empty()})
    assert cgroups.leftovers(host, parent) == []


def test_a_failed_create_rolls_back(host, parent):
    """A limit the kernel refuses (a cpu quota beyond its maximum) is one
    error naming the file, and nothing of the pod is left."""
    bad = dict(r.empty(), cpu_limit_millis=10**15, cpu_request_millis=10**15)
    pod = cgroups.Pod(host, "rollback", parent)
    with pytest.raises(LauncherError, match=r"cgroups: cannot write .* to .*(cpu.max|cfs_quota_us)"):
        pod.create(r.pod([r.empty()]), {"ok": r.empty(), "bad": bad})
    assert cgroups.leftovers(host, parent) == []


def test_placement_needs_the_cgroups(host, parent):
    """Opening a placement for a pod that has no cgroups is one error."""
    with pytest.raises(LauncherError, match="does not exist"):
        cgroups.Pod(host, "nosuchpod", parent).placement("web")


def test_a_restart_reuses_the_emptied_container_cgroup(host, new_pod, spawn):
    """kill_container() kills what a container left in its cgroup (an orphan
    of its main process), and add_container() reuses the cgroup."""
    pod = new_pod({"web": r.empty(), "other": r.empty()})
    other = spawn(pod, "other", ["sleep", "30"])
    main = spawn(pod, "web", ["sh", "-c", "sleep 30 & echo $!"], stdout=subprocess.PIPE)
    orphan = int(main.stdout.readline())
    assert main.wait(5) == 0
    assert os.path.exists(f"/proc/{orphan}")
    pod.kill_container("web")
    web_procs = os.path.join(member_dir(host, "pids", pod, names.member("web")), "cgroup.procs")
    assert files.pids(web_procs) == []
    assert other.poll() is None
    pod.add_container("web", r.empty())
    again = spawn(pod, "web", ["sleep", "30"])
    assert files.pids(web_procs) == [again.pid]


def test_the_default_parent(host, subreaper):
    """Pods go under `launcher` by default. The test removes its own pod, and
    the parent only if it made it (another suite may have pods there)."""
    had_parent = any(os.path.isdir(os.path.join(h.mount, cgroups.DEFAULT_PARENT)) for h in host.all())
    pod = cgroups.Pod(host, f"deflt{os.getpid()}")
    assert pod.rel == f"launcher/pod{pod.id}"
    try:
        pod.create(r.pod([r.empty()]), {"a": r.empty()})
        assert pod.paths() and all(f"/launcher/pod{pod.id}" in p for p in pod.paths())
        assert pod.id in cgroups.pod_ids(host)
    finally:
        pod.kill_all()
        pod.remove()
        if not had_parent:
            cgroups.remove_parent(host)
    assert pod.paths() == []


def test_detection_matches_this_process_cgroups(host):
    """Every hierarchy detect() finds shows up in /proc/self/cgroup with the
    same controllers (v2 as the '0::' line)."""
    lines = read("/proc/self/cgroup").splitlines()
    for h in host.all():
        if h.version == 2:
            assert any(line.startswith("0::") for line in lines)
        else:
            keys = [set(line.split(":")[1].split(",")) for line in lines]
            want = set(h.controllers) | ({f"name={h.name}"} if h.name else set())
            assert want in keys, (h, lines)


def test_a_new_launcher_process_finds_the_same_pod(host, new_pod, spawn):
    """Nothing is cached across processes: another process detects again and
    finds the pod's containers and its processes."""
    pod = new_pod({"web": r.empty()})
    spawn(pod, "web", ["sleep", "30"])
    code = ("import sys; from launcher import cgroups; from launcher.cgroups import layout, teardown;"
            "h = cgroups.detect(); print(layout.containers(h, sys.argv[1], sys.argv[2]),"
            " len(teardown.members(h, cgroups.Pod(h, sys.argv[1], sys.argv[2]).rel)))")
    out = subprocess.run([sys.executable, "-c", code, pod.id, pod.parent], capture_output=True,
                         text=True, timeout=30)
    assert out.stdout.strip() == "['web'] 1", out.stderr


def test_the_parent_weighs_as_much_as_the_cpus(host, parent, new_pod):
    """All pods together get the CPUs' weight (kubepods' shares), not one task's."""
    from launcher.cgroups import limits
    new_pod()
    ncpu = len(os.sched_getaffinity(0))
    top = os.path.join(host.controller("cpu").mount, parent)
    if host.v2("cpu"):
        assert read(os.path.join(top, "cpu.weight")) == str(limits.weight(ncpu * 1024))
    else:
        assert read(os.path.join(top, "cpu.shares")) == str(ncpu * 1024)
