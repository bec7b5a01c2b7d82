"""The kernel filesystems of a container's rootfs (steps of
launcher/runtime/rootfs.py, before pivot_root): a procfs for the child's
PID namespace, a small tmpfs on /dev with the standard nodes and links,
devpts, the pod's shm (or a private tmpfs), mqueue, a read-only sysfs.
Each goes only onto a real directory (launcher/runtime/rootfsresolve.py).
"""
import os
import stat

from launcher.errors import LauncherError
from launcher.runtime import syscalls
from launcher.runtime.rootfsplan import _fail
from launcher.runtime.rootfsresolve import _O_PATH, STRICT, _bind, _kernel_fs, _reopen
from launcher.runtime.syscalls import MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY

# /dev: name, major, minor (character devices, mode 0666, root:root)
DEV_NODES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("tty", 5, 0),
             ("random", 1, 8), ("urandom", 1, 9))
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
             ("core", "/proc/kcore"), ("ptmx", "pts/ptmx"))
# Device nodes take no space: 64 KiB only caps what a container can write
# into memory through /dev (runc's default is 64 MiB).
DEV_OPTIONS = "mode=755,size=64k"
DEVPTS_OPTIONS = "newinstance,ptmxmode=0666,mode=0620,gid=5"
DEVPTS_ROOTLESS = "newinstance,ptmxmode=0666,mode=0620"
SHM_OPTIONS = "mode=1777,size=65536k"   # only when the plan has no pod shm


def mount_proc(plan, st):
    if plan.proc:
        _kernel_fs(st, "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)


def mount_dev(plan, st):
    """A fresh tmpfs on /dev with the standard nodes and links."""
    what = "mount tmpfs on '/dev'"
    parts = _kernel_fs(st, "/dev", "tmpfs", MS_NOSUID, DEV_OPTIONS, what)
    dev = _reopen(st, parts, STRICT)
    old = os.umask(0)
    try:
        if syscalls.fstatfs_type(dev) != syscalls.TMPFS_MAGIC:
            raise _fail(what, "the new tmpfs is not what /dev shows")
        for name, major, minor in DEV_NODES:
            try:
                os.mknod(name, stat.S_IFCHR | 0o666, os.makedev(major, minor), dir_fd=dev)
            except PermissionError:   # a rootless user namespace may not mknod
                _bind_host_node(dev, name, major, minor, what)
            except OSError as e:
                raise _fail(what, f"mknod /dev/{name}: {e.strerror}") from None
        for name, target in DEV_LINKS:
            os.symlink(target, name, dir_fd=dev)
        for name in ("pts", "shm", "mqueue"):   # the next steps' mount points
            os.mkdir(name, 0o755, dir_fd=dev)
    finally:
        os.umask(old)
        os.close(dev)


def _bind_host_node(dev, name, major, minor, what):
    """The host's /dev/NAME bound onto an empty file (runc's rootless /dev:
    in a user namespace mknod is refused, and a node on a tmpfs mounted
    there would not open anyway). The host's node must be the standard one."""
    try:
        src = os.open(f"/dev/{name}", _O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise _fail(what, f"/dev/{name} of the host: {e.strerror}") from None
    try:
        st = os.fstat(src)
        if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(major, minor):
            raise _fail(what, f"/dev/{name} of the host is not the {major}:{minor} device")
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o666, dir_fd=dev)
        try:
            syscalls.mount_fd(src, fd, None, syscalls.MS_BIND, None, f"{what}: bind /dev/{name}")
        finally:
            os.close(fd)
    finally:
        os.close(src)


def mount_devpts(plan, st):
    try:
        _kernel_fs(st, "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, DEVPTS_OPTIONS)
    except LauncherError:
        # A user namespace mapping only the user has no gid 5 (tty): a
        # rootless pod's devpts then goes without that option.
        if not os.environ.get("LAUNCHER_ROOTLESS"):
            raise
        _kernel_fs(st, "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, DEVPTS_ROOTLESS)


def mount_shm(plan, st):
    """The pod's shm tmpfs (one per pod, as CRI-O does), else a private one."""
    what = "mount the pod's shm on '/dev/shm'"
    if plan.shm is None:
        _kernel_fs(st, "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, SHM_OPTIONS)
        return
    try:
        src = os.open(plan.shm, _O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as e:
        raise _fail(what, f"{plan.shm!r}: {e.strerror}") from None
    try:
        _bind(st, src, "/dev/shm", what, flags=MS_NOSUID | MS_NODEV | MS_NOEXEC, resolve=STRICT)
    finally:
        os.close(src)


def mount_mqueue(plan, st):
    _kernel_fs(st, "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)


def mount_sys(plan, st):
    _kernel_fs(st, "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
