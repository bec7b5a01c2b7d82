"""Putting a pod process into its cgroups before it execs.

The launcher forks each pod process itself. The parent opens the member's
cgroup in every hierarchy (open(), before fork: path lookups and error
messages belong to the parent). In the unified (v2) hierarchy that is the
cgroup's directory, and the spawner forks with clone3(CLONE_INTO_CGROUP):
the child is born there. In each v1 hierarchy it is cgroup.procs, and the
child's first step after that writes "0" (itself) to it. So the child is in
all its cgroups before it can exec or fork, and everything it ever starts
is born inside them: limits apply from its first instruction, and teardown
by cgroup finds every descendant. Writing the child's pid from the parent
after fork would race with the child's own forks.

Being born in a cgroup costs nothing; moving into one (a write to
cgroup.procs) waits for an RCU grace period (the kernel's global
cgroup_threadgroup_rwsem, 6-24 ms measured here), once per burst of moves.
Where clone3 cannot place the child (a kernel before 5.7, a caller that is
forked the usual way, as the tests do), enter() writes "0" to the unified
cgroup.procs too, first (so a process in any of the pod's v1 cgroups is in
its unified cgroup too, which teardown relies on).

The fds are O_CLOEXEC, so the exec'd program never sees them; the parent
closes its copies right after fork (close(), or the `with` block). Memory
the child touched before the move stays charged to the old cgroup (v1 does
not move charges), which is why the step comes first.
"""
import os

from launcher.cgroups import files, layout, names
from launcher.errors import LauncherError


class Placement:
    """The cgroups of one pod member: the unified one's directory fd, to be
    born in (clone_fd), and cgroup.procs fds of the v1 ones. Parent: open
    with open_member(), fork (with clone_fd if it can), close(). Child:
    born_inside() if clone3 placed it, enter(), then go on."""

    def __init__(self, targets, unified=None):
        self.targets = targets          # [(path, fd)]: v1 cgroup.procs
        self.unified = unified          # (directory, fd) or None
        self._inside = False

    @property
    def clone_fd(self):
        """The fd clone3(CLONE_INTO_CGROUP) takes, or None."""
        return self.unified[1] if self.unified is not None else None

    def born_inside(self):
        """Child side: clone3 has put this process in the unified cgroup."""
        self._inside = True

    def enter(self):
        """Child side: moves the calling process into every cgroup of the
        member it is not in yet (one write of "0" per hierarchy).
        LauncherError naming the cgroup.procs file on failure (e.g. the
        pod's cgroups were removed)."""
        if self.unified is not None and not self._inside:
            path = os.path.join(self.unified[0], "cgroup.procs")
            try:
                fd = os.open("cgroup.procs", files.O_WRITE, dir_fd=self.unified[1])
                try:
                    os.write(fd, b"0")
                finally:
                    os.close(fd)
            except OSError as e:
                raise files.failure("join", path, e) from None
        for path, fd in self.targets:
            try:
                os.write(fd, b"0")
            except OSError as e:
                raise files.failure("join", path, e) from None

    def close(self):
        """Parent side (and child side after enter(), optionally): closes the fds."""
        targets, self.targets = self.targets, []
        if self.unified is not None:
            targets.append(self.unified)
            self.unified = None
        for _, fd in targets:
            os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        where = [p for p, _ in self.targets]
        if self.unified is not None:
            where.insert(0, self.unified[0])
        return f"Placement({where})"


def open_member(host, pod_id, container=None, parent=names.DEFAULT_PARENT):
    """The Placement for the pod's sandbox (container None) or one
    container: its directory in the unified hierarchy, its cgroup.procs in
    every v1 hierarchy the host uses. LauncherError if create() has not
    made them."""
    rel = os.path.join(names.pod(parent, pod_id), names.member(container))
    targets, unified = [], None
    try:
        for h in layout.learn(host, parent):
            if h.version == 2:
                path = os.path.join(h.mount, rel)
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            else:
                path = os.path.join(h.mount, rel, "cgroup.procs")
                flags = files.O_WRITE
            try:
                fd = os.open(path, flags)
            except FileNotFoundError:
                where = path if h.version == 2 else os.path.dirname(path)
                raise LauncherError(f"cgroups: {where} does not exist "
                                    "(create the pod's cgroups first)") from None
            except OSError as e:
                raise files.failure("open", path, e) from None
            if h.version == 2:
                unified = (path, fd)
            else:
                targets.append((path, fd))
    except BaseException:
        Placement(targets, unified).close()
        raise
    return Placement(targets, unified)
