"""The cgroup v2 code paths, on the unified hierarchy where it supports them:
membership, cgroup.events and cgroup.kill work on any v2 cgroup (kernel >=
5.14 for cgroup.kill), controllers or not; the v2 limit files need the
controller in the unified hierarchy, so they skip where it is bound to v1."""
import os

import pytest

from launcher.cgroups import files, names, resources as r, teardown

Mi = 1 << 20


def _unified(host):
    if host.unified is None:
        pytest.skip("no unified (cgroup v2) hierarchy is mounted on this machine")
    return host.unified


def test_v2_membership_and_cgroup_events(host, new_pod, spawn):
    """A placed process is listed in its unified cgroup; cgroup.events says
    populated 1 for it and its ancestors, and 0 once it has exited."""
    u = _unified(host)
    pod = new_pod({"web": r.empty()})
    top = os.path.join(u.mount, pod.rel)
    ctr = os.path.join(top, names.member("web"))
    proc = spawn(pod, "web", ["sleep", "30"])
    assert files.pids(os.path.join(ctr, "cgroup.procs")) == [proc.pid]
    for d in (ctr, top):
        assert files.read_keyed(os.path.join(d, "cgroup.events"))["populated"] == 1
    assert files.read_keyed(os.path.join(top, names.SANDBOX, "cgroup.events"))["populated"] == 0
    proc.kill()
    proc.wait(5)
    assert files.read_keyed(os.path.join(top, "cgroup.events"))["populated"] == 0


def test_v2_cgroup_kill_on_a_cgroup_without_controllers(host, new_pod, spawn):
    """cgroup.kill in the pod's unified cgroup kills every process below it,
    whatever controllers the unified hierarchy has (here: {})."""
    u = _unified(host)
    pod = new_pod({"a": r.empty(), "b": r.empty()})
    if not host.has_kill:
        pytest.skip("this kernel has no cgroup.kill (it came in Linux 5.14)")
    ps = [spawn(pod, "a", ["sleep", "30"]), spawn(pod, "b", ["sleep", "30"]), spawn(pod, None, ["sleep", "30"])]
    files.write(os.path.join(u.mount, pod.rel, "cgroup.kill"), "1")
    assert [p.wait(5) for p in ps] == [-9, -9, -9]
    assert teardown.members(host, pod.rel) == set()


@pytest.mark.parametrize("controller, res, pids_limit, file, value", [
    ("memory", r.from_cli(memory="64m"), None, "memory.max", str(64 * Mi)),
    ("cpu", r.from_cli(cpus="0.5"), None, "cpu.max", "50000 100000"),
    ("pids", r.empty(), 123, "pids.max", "123"),
])
def test_v2_limit_files(host, new_pod, controller, res, pids_limit, file, value):
    """With the controller in the unified hierarchy, the pod's limit lands
    in the v2 file (and the pod enables it for its children)."""
    u = _unified(host)
    if not host.v2(controller):
        where = host.where(controller)
        reason = (f"{controller} controller is bound to cgroup v1 on this machine" if where == "v1"
                  else f"{controller} controller is not available in the unified hierarchy here")
        pytest.skip(reason)
    pod = new_pod({"app": res}, pids_limit=pids_limit or r.DEFAULT_PIDS_LIMIT)
    top = os.path.join(u.mount, pod.rel)
    assert controller in files.read(os.path.join(top, "cgroup.subtree_control")).split()
    if controller == "pids":
        assert files.read(os.path.join(top, file)).strip() == value
    else:
        assert files.read(os.path.join(top, names.member("app"), file)).strip() == value
