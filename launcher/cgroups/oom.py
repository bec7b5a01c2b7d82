"""OOM kills: how the launcher tells that a container was OOMKilled.

The kernel counts, per memory cgroup, the processes its OOM killer killed
there (v1 memory.oom_control `oom_kill N`, v2 memory.events `oom_kill N`;
the count goes to the victim's cgroup and its ancestors, whichever limit was
hit). The launcher reads the container's count before the container starts
and after it exits: a container that failed (a non-zero code) while its
count grew was OOMKilled, whichever of its processes the killer chose
(containerd's rule: an OOM event in the container's cgroup; a shell whose
`tail` was killed exits 137 itself). Its reason is OOMKilled in ps, inspect
and events; restart policies see a failure. The count is per cgroup, so a restart in the same cgroup just
compares the new pair.
"""
import os

from launcher.cgroups import files, names

OOM_KILLED = "OOMKilled"    # the reason Kubernetes shows


def oom_kills(host, pod_id, container, parent=names.DEFAULT_PARENT):
    """The container cgroup's OOM kill count so far; None without a memory
    controller (then nothing is ever OOMKilled by a limit of ours)."""
    m = host.controller("memory")
    if m is None:
        return None
    d = os.path.join(m.mount, names.pod(parent, pod_id), names.member(container))
    if m.version == 2:
        return files.read_keyed(os.path.join(d, "memory.events")).get("oom_kill")
    return files.read_keyed(os.path.join(d, "memory.oom_control")).get("oom_kill")


def oom_killed(before, after, exit_code):
    """True if a container that ended with exit_code (128+N for signal N)
    was OOM-killed: it failed, and its cgroup's count grew."""
    return exit_code != 0 and before is not None and after is not None and after > before
