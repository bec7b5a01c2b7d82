"""A pod's namespaces: the table of kinds, pinning the sandbox's by bind
mounts (as `ip netns` and CRI-O's pinns do, so they outlive a dead pause
until teardown), and reaching a process safely through a pidfd.

The pins are files in the pod directory; a pin is mounted through
/proc/self/fd/N of the file we created (O_EXCL, O_NOFOLLOW), so a path
swapped for a symlink can never redirect the bind mount.
"""
import os
import select

from launcher import proc
from launcher.runtime import mounts, syscalls
from launcher.store import fs

# name in /proc/PID/ns -> CLONE_NEW* flag (crun's namespaces[] table).
KINDS = {"net": syscalls.CLONE_NEWNET, "ipc": syscalls.CLONE_NEWIPC,
         "uts": syscalls.CLONE_NEWUTS, "pid": syscalls.CLONE_NEWPID,
         "mnt": syscalls.CLONE_NEWNS}
# What pause holds for the pod; containers join these.
SANDBOX = ("net", "ipc", "uts")
SANDBOX_FLAGS = syscalls.CLONE_NEWNET | syscalls.CLONE_NEWIPC | syscalls.CLONE_NEWUTS
PIN_SUFFIX = ".ns"


def flags(kinds):
    """The CLONE_NEW* bits of a list of kinds."""
    out = 0
    for k in kinds:
        out |= KINDS[k]
    return out


def pin_name(kind):
    """The pin file of namespace `kind` in a pod directory."""
    return kind + PIN_SUFFIX


def pin(pid, pod_fd, pod_path):
    """Pins the sandbox namespaces of pid (pause, our unreaped child, so the
    pid cannot be stale) on new files in the pod directory. Returns
    {kind: path}. On failure what was pinned is unpinned again."""
    out = {}
    try:
        for kind in SANDBOX:
            name = pin_name(kind)
            fd = os.open(name, fs.O_NEW, 0o600, dir_fd=pod_fd)
            try:
                syscalls.mount(f"/proc/{pid}/ns/{kind}", f"/proc/self/fd/{fd}", None, syscalls.MS_BIND)
            finally:
                os.close(fd)
            out[kind] = os.path.join(pod_path, name)
    except BaseException:
        unpin(pod_fd, pod_path)
        raise
    return out


def unpin(pod_fd, pod_path):
    """Undoes pin(): detaches every mount in the pod directory and removes
    the pin files. Idempotent; a namespace then lives only as long as a
    process is in it."""
    mounts.detach_under(pod_path)
    for kind in SANDBOX:
        try:
            os.unlink(pin_name(kind), dir_fd=pod_fd)
        except FileNotFoundError:
            pass


def inodes(pid):
    """{kind: inode} of pid's namespaces; call only while pid is known to be
    the intended process (our unreaped child), never on a stale pid."""
    out = {}
    for kind in KINDS:
        try:
            out[kind] = os.stat(f"/proc/{pid}/ns/{kind}").st_ino
        except OSError:
            pass
    return out


def open_pidfd(pid, start):
    """A pidfd for the process recorded as (pid, start), or None if it is gone.
    The start time is checked after opening, so the fd cannot name a process
    that merely reused the pid."""
    if not pid:
        return None
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return None
    if not proc.alive(pid, start):
        os.close(fd)
        return None
    return fd


def wait_pidfd(fd, timeout):
    """Waits up to `timeout` seconds for the process behind pidfd to exit;
    True if it did."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(max(0, timeout) * 1000))
