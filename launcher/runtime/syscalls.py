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
        elif err == errno.EPERM and not os.environ.get("LAUNCHER_ROOTLESS"):
            hint = " (needs root: CAP_SYS_ADMIN)"
        elif err == errno.EPERM and "proc" in what:
            hint = (" (rootless: this system does not let a user namespace mount procfs, "
                    "e.g. a container whose /proc has masked paths)")
        e = LauncherError(f"{what}: {os.strerror(err)}{hint}")
        e.errno = err
        raise e
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


def is_mount_root(path):
    """True if path is the root of a mount (statx STATX_ATTR_MOUNT_ROOT)."""
    return bool(_check(lib.sys_is_mount_root(path.encode()), f"statx {path!r}"))


def detach_tree(path):
    """Detaches the mount at path with every mount below it, in one call
    (umount2 MNT_DETACH); False if path is not a mount point."""
    if lib.umount2(path.encode(), MNT_DETACH) == 0:
        return True
    if ffi.errno in (errno.EINVAL, errno.ENOENT):
        return False
    raise LauncherError(f"umount {path!r}: {os.strerror(ffi.errno)}")


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


# -- rootfs and users (launcher/runtime/rootfs.py, users.py) -----------------

RESOLVE_NO_XDEV = lib.RESOLVE_NO_XDEV
RESOLVE_NO_MAGICLINKS = lib.RESOLVE_NO_MAGICLINKS
RESOLVE_NO_SYMLINKS = lib.RESOLVE_NO_SYMLINKS
RESOLVE_BENEATH = lib.RESOLVE_BENEATH
RESOLVE_IN_ROOT = lib.RESOLVE_IN_ROOT

PROC_SUPER_MAGIC = 0x9FA0
SYSFS_MAGIC = 0x62656572
TMPFS_MAGIC = 0x01021994
OVERLAYFS_SUPER_MAGIC = 0x794C7630


def openat2(dirfd, path, flags, resolve, mode=0):
    """openat2(2) (Linux >= 5.6): opens path relative to dirfd under the
    RESOLVE_* rules (RESOLVE_IN_ROOT: dirfd is "/" for every absolute
    symlink and "..", so nothing outside it is reached). Raises OSError
    like os.open, not LauncherError: the callers act on the errno (a
    missing mount point is created, ELOOP/EXDEV name an escape)."""
    fd = lib.sys_openat2(dirfd, path.encode(), flags, mode, resolve)
    if fd == -1:
        err = ffi.errno
        raise OSError(err, os.strerror(err), path)
    return fd


def fstatfs_type(fd):
    """The filesystem magic (statfs f_type) of fd's filesystem; OSError."""
    t = lib.sys_fstatfs_type(fd)
    if t == -1:
        err = ffi.errno
        raise OSError(err, os.strerror(err))
    return t & 0xFFFFFFFF


def fd_path(fd):
    """The path that mount(2) and friends follow to the object behind fd
    (/proc/self/fd/N: no name is resolved again, runc's fix for
    CVE-2021-30465)."""
    return f"/proc/self/fd/{fd}"


def mount_fd(source, target_fd, fstype, flags, data, what):
    """mount(2) onto the object behind target_fd; source is None, a string
    (a filesystem's source name) or an fd (a bind mount's source). Errors
    name `what` (e.g. "mount tmpfs on '/dev'")."""
    src = ffi.NULL if source is None else (fd_path(source) if isinstance(source, int)
                                           else source).encode()
    typ = ffi.NULL if fstype is None else fstype.encode()
    dat = ffi.NULL if data is None else data.encode()
    _check(lib.mount(src, fd_path(target_fd).encode(), typ, flags, dat), what)


def unmount(target, flags, what):
    """umount2(2), every failure an error naming `what` (detach() above
    tolerates a path that is not a mount point; pivot_root's old root must
    really go)."""
    _check(lib.umount2(target.encode(), flags), what)


def set_keepcaps(on):
    """PR_SET_KEEPCAPS: the permitted capabilities survive a setuid away
    from root (the effective set is cleared anyway)."""
    _check(lib.sys_prctl(lib.PR_SET_KEEPCAPS, 1 if on else 0), "prctl(PR_SET_KEEPCAPS)")


def cap_effective_from_permitted():
    """Raises every permitted capability into the effective set."""
    _check(lib.sys_cap_effective_from_permitted(), "capset")


def fork_into_cgroup(cgroup_fd):
    """os.fork(), the child born in the cgroup v2 directory cgroup_fd
    (clone3 CLONE_INTO_CGROUP). Returns the pid (0 in the child); OSError
    if the kernel refuses (ENOSYS, E2BIG: too old for it). Only for a
    process with one thread: the caller checks."""
    pid = lib.sys_fork_into_cgroup(cgroup_fd)
    if pid == -1:
        err = ffi.errno
        raise OSError(err, os.strerror(err))
    return pid
