"""All namespace, mount and prctl system calls of the launcher, in one place.

Thin wrappers over the compiled cffi module launcher._nsc (setns, unshare,
mount, prctl, sethostname, loopback up) and a few os-level helpers (pidfds,
namespace inodes). Failures raise LauncherError
with the call and errno spelled out.
"""
import errno
import os
import select

from launcher import proc
from launcher._nsc import ffi, lib
from launcher.errors import LauncherError

CLONE_NEWNS = lib.CLONE_NEWNS
CLONE_NEWUTS = lib.CLONE_NEWUTS
CLONE_NEWIPC = lib.CLONE_NEWIPC
CLONE_NEWPID = lib.CLONE_NEWPID
CLONE_NEWNET = lib.CLONE_NEWNET
SANDBOX_NS = CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS

# The namespaces a pod records and reports, by their /proc/PID/ns names.
NS_NAMES = ("net", "ipc", "uts", "pid", "mnt")
# The sandbox's namespaces pinned by bind mounts (as `ip netns` and CRI-O's
# pinns do), so that they outlive a dead pause until teardown.
PINNED = ("net", "ipc", "uts")


def _check(ret, what):
    """Raises LauncherError naming `what` and errno when a call returned -1."""
    if ret == -1:
        err = ffi.errno
        hint = ""
        if err == errno.EINVAL and what.startswith("setns"):
            hint = " (kernel older than 5.8, or a namespace we may not enter)"
        raise LauncherError(f"{what}: {os.strerror(err)}{hint}")
    return ret


def setns(fd, nstype):
    """Joins the namespaces `nstype` (CLONE_NEW* bits) of fd: a pidfd joins
    several at once (Linux >= 5.8), an ns file joins that one namespace.
    CLONE_NEWPID only affects children forked afterwards."""
    _check(lib.setns(fd, nstype), f"setns({nstype:#x})")


def unshare(flags):
    """Moves the caller into new namespaces (CLONE_NEWPID: its next child)."""
    _check(lib.unshare(flags), f"unshare({flags:#x})")


def mount(source, target, fstype, flags, data=None):
    """mount(2); None for source/fstype/data passes NULL."""
    src = ffi.NULL if source is None else source.encode()
    typ = ffi.NULL if fstype is None else fstype.encode()
    dat = ffi.NULL if data is None else data.encode()
    _check(lib.mount(src, target.encode(), typ, flags, dat), f"mount {target}")


def private_mounts():
    """Makes every mount of the caller's (fresh) mount namespace private, so
    nothing mounted afterwards propagates back to the host."""
    mount(None, "/", None, lib.MS_REC | lib.MS_PRIVATE)


def mount_proc():
    """Mounts a /proc for the caller's PID namespace over /proc."""
    mount("proc", "/proc", "proc", lib.MS_NOSUID | lib.MS_NODEV | lib.MS_NOEXEC)


def bind_mount(source, target):
    """Bind-mounts source on target (which must exist)."""
    mount(source, target, None, lib.MS_BIND)


def detach(target):
    """Lazily unmounts target (umount2 MNT_DETACH); a path that is not (or
    no longer) a mount point is fine."""
    if lib.umount2(target.encode(), lib.MNT_DETACH) == -1 and ffi.errno not in (errno.EINVAL, errno.ENOENT):
        raise LauncherError(f"umount {target}: {os.strerror(ffi.errno)}")


def _unescape(field):
    """A mountinfo path: spaces, tabs, newlines and backslashes are octal escapes."""
    return field.encode().decode("unicode_escape").encode("latin-1").decode(errors="surrogateescape") \
        if "\\" in field else field


def mounts_under(path):
    """The mount points of the caller's mount namespace at or below path,
    deepest first (the order to unmount them in)."""
    path = path.rstrip("/")
    with open("/proc/self/mountinfo") as f:
        points = [_unescape(line.split(" ", 5)[4]) for line in f]
    return sorted((p for p in points if p == path or p.startswith(path + "/")),
                  key=lambda p: -p.count("/"))


def detach_mounts_under(path):
    """Lazily unmounts everything at or below path. In a container's fresh
    mount namespace this drops its copies of every pod's pinned namespaces."""
    for p in mounts_under(path):
        detach(p)


def pin_path(poddir, kind):
    """Where namespace `kind` of a pod's sandbox is pinned."""
    return os.path.join(poddir, kind + ".ns")


def pin(pid, poddir):
    """Pins the net, IPC and UTS namespaces of pid (pause, our unreaped
    child, so the pid cannot be stale) by bind-mounting /proc/PID/ns/KIND on
    empty files in the pod directory. Returns {kind: path}. On failure what
    was pinned is unpinned again."""
    out = {}
    try:
        for kind in PINNED:
            path = pin_path(poddir, kind)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
            bind_mount(f"/proc/{pid}/ns/{kind}", path)
            out[kind] = path
    except BaseException:
        unpin(poddir)
        raise
    return out


def unpin(poddir):
    """Undoes pin(): detaches every mount in the pod directory and removes
    the pin files. Idempotent; a namespace then lives only as long as a
    process is in it."""
    detach_mounts_under(poddir)
    for kind in PINNED:
        try:
            os.unlink(pin_path(poddir, kind))
        except FileNotFoundError:
            pass


def set_pdeathsig(sig):
    """The kernel sends `sig` to the caller when its parent exits."""
    _check(lib.nsc_prctl(lib.PR_SET_PDEATHSIG, sig), "prctl(PR_SET_PDEATHSIG)")


def set_child_subreaper():
    """Orphaned descendants are reparented to the caller (not to init)."""
    _check(lib.nsc_prctl(lib.PR_SET_CHILD_SUBREAPER, 1), "prctl(PR_SET_CHILD_SUBREAPER)")


def loopback_up():
    """Brings `lo` of the caller's network namespace up (an ioctl on a socket
    made inside it, in the cffi module: no `ip` command, no netlink)."""
    _check(lib.nsc_loopback_up(), "bringing loopback up")


def sethostname(name):
    """Sets the hostname of the caller's UTS namespace."""
    raw = name.encode()
    _check(lib.sethostname(raw, len(raw)), "sethostname")


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


def ns_inodes(pid):
    """{name: inode} of pid's namespaces; call only while pid is known to be
    the intended process (our unreaped child), never on a stale pid."""
    out = {}
    for name in NS_NAMES:
        try:
            out[name] = os.stat(f"/proc/{pid}/ns/{name}").st_ino
        except OSError:
            pass
    return out
