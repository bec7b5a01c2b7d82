"""A pod's namespaces: the table of kinds, pinning the sandbox's network
namespace by a bind mount (as `ip netns` does, so it outlives a dead pause
until the network's teardown), and reaching a process safely through a
pidfd.

Only a pod with a network pins, and only its netns: CNI DEL and pasta need
a path to it. IPC and UTS are never entered by path (containers and exec
join through pause's or a container's pidfd, and a new sandbox gets new
namespaces), and every pin is one more mount in the host's table, which
each container start copies (unshare CLONE_NEWNS) and detaches again: three
pins per pod made a container start cost 100 ms more at 5,000 pods.

The pins are files in the state root's mount directory (launcher/store/
layout.py: .mounts/POD_ID.KIND); a pin is mounted through /proc/self/fd/N of
the file we created (O_EXCL, O_NOFOLLOW), so a path swapped for a symlink
can never redirect the bind mount.
"""
import os
import select

from launcher import proc
from launcher.runtime import syscalls
from launcher.store import fs, layout

# name in /proc/PID/ns -> CLONE_NEW* flag (crun's namespaces[] table).
KINDS = {"net": syscalls.CLONE_NEWNET, "ipc": syscalls.CLONE_NEWIPC,
         "uts": syscalls.CLONE_NEWUTS, "pid": syscalls.CLONE_NEWPID,
         "mnt": syscalls.CLONE_NEWNS}
# What pause holds for the pod; containers join these.
SANDBOX = ("net", "ipc", "uts")
SANDBOX_FLAGS = syscalls.CLONE_NEWNET | syscalls.CLONE_NEWIPC | syscalls.CLONE_NEWUTS
# What a pod with a network pins.
PINNED = ("net",)


def flags(kinds):
    """The CLONE_NEW* bits of a list of kinds."""
    out = 0
    for k in kinds:
        out |= KINDS[k]
    return out


def pin(pid, mounts, pod_id, kinds=PINNED):
    """Pins the namespaces `kinds` of pid (pause, our unreaped child, so the
    pid cannot be stale) on new files in the mount directory (mounts: its
    (path, fd)). Returns {kind: path}. On failure what was pinned is
    unpinned again."""
    mounts_path, mounts_fd = mounts
    out = {}
    try:
        for kind in kinds:
            name = layout.pin(pod_id, kind)
            fd = os.open(name, fs.O_NEW, 0o600, dir_fd=mounts_fd)
            try:
                syscalls.mount(f"/proc/{pid}/ns/{kind}", f"/proc/self/fd/{fd}", None, syscalls.MS_BIND)
            finally:
                os.close(fd)
            out[kind] = os.path.join(mounts_path, name)
    except BaseException:
        unpin(mounts, pod_id)
        raise
    return out


def unpin(mounts, pod_id):
    """Undoes pin(): detaches each pin and removes its file, of every
    sandbox kind (a pod made by a launcher that pinned all three included).
    Idempotent; a namespace then lives only as long as a process is in
    it."""
    mounts_path, mounts_fd = mounts
    for kind in SANDBOX:
        name = layout.pin(pod_id, kind)
        syscalls.detach(os.path.join(mounts_path, name))
        try:
            os.unlink(name, dir_fd=mounts_fd)
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
