"""Putting a pod process into its cgroups from the inside, before it execs.

The launcher forks each pod process itself and runs named set-up steps in
the child. The parent opens the member's cgroup.procs in every hierarchy
(open(), before fork: path lookups and error messages belong to the parent)
and the child's step writes "0" (itself) to each fd. So the child is in all
its cgroups before it can exec or fork, and everything it ever starts is
born inside them: limits apply from its first instruction, and teardown by
cgroup finds every descendant. Writing the child's pid from the parent
after fork would race with the child's own forks; CLONE_INTO_CGROUP
(clone3) would need no step at all, but os.fork() cannot pass it.

The fds are O_CLOEXEC, so the exec'd program never sees them; the parent
closes its copies right after fork (close(), or the `with` block). Memory
the child touched before the move stays charged to the old cgroup (v1 does
not move charges), which is why the step comes first.
"""
import os

from launcher.cgroups import files, layout, names
from launcher.errors import LauncherError


class Placement:
    """cgroup.procs fds of one pod member, one per hierarchy. Parent:
    open with open_member(), fork, close(). Child: enter(), then go on."""

    def __init__(self, targets):
        self.targets = targets          # [(path, fd)]

    def enter(self):
        """Child side: moves the calling process into every cgroup of the
        member (one write of "0" per hierarchy). LauncherError naming the
        cgroup.procs file on failure (e.g. the pod's cgroups were removed)."""
        for path, fd in self.targets:
            try:
                os.write(fd, b"0")
            except OSError as e:
                raise files.failure("join", path, e) from None

    def close(self):
        """Parent side (and child side after enter(), optionally): closes the fds."""
        targets, self.targets = self.targets, []
        for _, fd in targets:
            os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"Placement({[p for p, _ in self.targets]})"


def open_member(host, pod_id, container=None, parent=names.DEFAULT_PARENT):
    """The Placement for the pod's sandbox (container None) or one
    container: its cgroup.procs in every hierarchy the host uses, the
    unified one first (so a process in any of the pod's v1 cgroups is in
    its unified cgroup too, which teardown relies on). LauncherError if
    create() has not made them."""
    rel = os.path.join(names.pod(parent, pod_id), names.member(container))
    targets = []
    try:
        for h in layout.learn(host, parent):
            path = os.path.join(h.mount, rel, "cgroup.procs")
            try:
                targets.append((path, os.open(path, files.O_WRITE)))
            except FileNotFoundError:
                raise LauncherError(f"cgroups: {os.path.dirname(path)} does not exist "
                                    "(create the pod's cgroups first)") from None
            except OSError as e:
                raise files.failure("open", path, e) from None
    except BaseException:
        Placement(targets).close()
        raise
    return Placement(targets)
