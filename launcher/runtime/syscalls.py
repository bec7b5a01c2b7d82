"""Every namespace, mount and prctl system call of the launcher, in one place.

Thin wrappers over the compiled cffi module launcher.runtime._sys (built by
_build_sys.py): each turns -1/errno into a LauncherError naming the call and
the errno, with a hint where the cause is not obvious (bubblewrap explains
EINVAL on setns the same way).
"""
import errno
import os

from launcher.errors import LauncherError
from launcher.runtime._sys import ffi, lib

CLONE_NEWNS = lib.CLONE_NEWNS
CLONE_NEWUTS = lib.CLONE_NEWUTS
CLONE_NEWIPC = lib.CLONE_NEWIPC
CLONE_NEWPID = lib.CLONE_NEWPID
CLONE_NEWNET = lib.CLONE_NEWNET
CLONE_NEWUSER = lib.CLONE_NEWUSER
CLONE_NEWCGROUP = lib.CLONE_NEWCGROUP

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = lib.MS_RDONLY, lib.MS_NOSUID, lib.MS_NODEV, lib.MS_NOEXEC
MS_REMOUNT, MS_BIND, MS_REC = lib.MS_REMOUNT, lib.MS_BIND, lib.MS_REC
MS_PRIVATE, MS_SLAVE = lib.MS_PRIVATE, lib.MS_SLAVE
MNT_DETACH = lib.MNT_DETACH


def _check(ret, what):
    """Raises LauncherError naming `what` and errno when a call returned -1."""
    if ret == -1:
        err = ffi.errno
        hint = ""
        if err == errno.EINVAL and what.startswith("setns"):
            hint = " (kernel older than 5.8, or a namespace we may not enter)"
        elif err == errno.EPERM:
            hint = " (needs root: CAP_SYS_ADMIN)"
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
    _check(lib.mount(src, target.encode(), typ, flags, dat), f"mount {target!r}")


def detach(target):
    """Lazily unmounts target (umount2 MNT_DETACH); a path that is not (or
    no longer) a mount point is fine."""
    if lib.umount2(target.encode(), MNT_DETACH) == -1 and ffi.errno not in (errno.EINVAL, errno.ENOENT):
        raise LauncherError(f"umount {target!r}: {os.strerror(ffi.errno)}")


def pivot_root(new_root, put_old):
    """pivot_root(2): new_root becomes / of the caller's mount namespace."""
    _check(lib.sys_pivot_root(new_root.encode(), put_old.encode()), f"pivot_root {new_root!r}")


def set_pdeathsig(sig):
    """The kernel sends `sig` to the caller when its parent exits."""
    _check(lib.sys_prctl(lib.PR_SET_PDEATHSIG, sig), "prctl(PR_SET_PDEATHSIG)")


def set_child_subreaper():
    """Orphaned descendants are reparented to the caller (not to init)."""
    _check(lib.sys_prctl(lib.PR_SET_CHILD_SUBREAPER, 1), "prctl(PR_SET_CHILD_SUBREAPER)")


def set_no_new_privs():
    """execve can never grant more privileges (setuid bits, file caps)."""
    _check(lib.sys_prctl(lib.PR_SET_NO_NEW_PRIVS, 1), "prctl(PR_SET_NO_NEW_PRIVS)")


def sethostname(name):
    """Sets the hostname of the caller's UTS namespace."""
    raw = name.encode()
    _check(lib.sethostname(raw, len(raw)), "sethostname")


def loopback_up():
    """Brings `lo` of the caller's network namespace up (an ioctl on a socket
    made inside it: no `ip` command, no netlink)."""
    _check(lib.sys_loopback_up(), "bringing loopback up")
