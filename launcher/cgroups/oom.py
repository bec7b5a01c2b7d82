"""OOM kills: how the launcher tells that a container was OOMKilled.

The kernel counts, per memory cgroup, the processes its OOM killer killed
there (v1 memory.oom_control `oom_kill N`, v2 memory.events `oom_kill N`;
the count goes to the victim's cgroup and its ancestors, whichever limit was
hit). The launcher reads the container's count before the container starts
and after it exits: a container that died of SIGKILL while its count grew
was OOMKilled (the kubelet's and containerd's rule). It exits 137, and its
reason is OOMKilled in ps, inspect and events; restart policies see a
failure. The count is per cgroup, so a restart in the same cgroup just
compares the new pair.
"""
import os

from launcher.cgroups import files, names

OOM_KILLED = "OOMKilled"    # the reason Kubernetes shows
SIGKILL = 9


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


def oom_killed(before, after, term_signal):
    """True if a container that died of signal `term_signal` (None: it
    exited with a code) was OOM-killed: SIGKILL, and the count grew."""
    return term_signal == SIGKILL and before is not None and after is not None and after > before
