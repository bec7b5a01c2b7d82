"""pivot_root into a container's rootfs and what follows it (the last
steps of launcher/runtime/rootfs.py): the old root detached, then, in the
new root, the masked paths (/dev/null over files, an empty read-only tmpfs
over directories), the read-only paths, and / read-only when the plan asks.
Missing masked or read-only paths are skipped.
"""
import os
import stat

from launcher.runtime import syscalls
from launcher.runtime.rootfsplan import _fail
from launcher.runtime.rootfsresolve import _O_PATH, IN_ROOT, _openat2, _remount, _why
from launcher.runtime.syscalls import (MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY,
                                       MS_REC, MS_SLAVE)

def pivot_root(plan, st):
    """pivot_root(".", ".") inside the rootfs, then the old root (now
    stacked on it) made slave and detached, so nothing of the host stays."""
    what = f"pivot_root to {plan.merged!r}"
    old = os.open("/", _O_PATH | os.O_DIRECTORY)
    try:
        os.fchdir(st.root_fd)
        syscalls.pivot_root(".", ".")
        os.fchdir(old)
        syscalls.mount(None, ".", None, MS_SLAVE | MS_REC)
        syscalls.unmount(".", syscalls.MNT_DETACH, f"{what}: detaching the old root")
    finally:
        os.close(old)
    os.chdir("/")
    s = os.stat("/")
    if (s.st_dev, s.st_ino) != st.root_id:
        raise _fail(what, "/ is not the container's root afterwards")


def _after_pivot(path, what):
    """An O_PATH fd on path in the new root, or None when it is missing."""
    root = os.open("/", _O_PATH | os.O_DIRECTORY)
    try:
        return _openat2(root, path.lstrip("/"), IN_ROOT)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise _fail(what, _why(e, path, IN_ROOT)) from None
    finally:
        os.close(root)


def mask_paths(plan, st):
    """/dev/null bound over each masked file, an empty read-only tmpfs over
    each masked directory; missing paths are skipped."""
    if not plan.masked:
        return
    null = _after_pivot("/dev/null", "masking paths")
    if null is None or os.fstat(null).st_rdev != os.makedev(1, 3):
        raise _fail("masking paths", "/dev/null is not the null device")
    try:
        for path in plan.masked:
            what = f"mask {path!r}"
            fd = _after_pivot(path, what)
            if fd is None:
                continue
            try:
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    syscalls.mount_fd("tmpfs", fd, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV |
                                      MS_NOEXEC, "mode=555", what)
                else:
                    syscalls.mount_fd(null, fd, None, MS_BIND, None, what)
            finally:
                os.close(fd)
    finally:
        os.close(null)


def readonly_paths(plan, st):
    """Each path bound on itself and remounted read-only; missing ones skipped."""
    for path in plan.readonly_paths:
        what = f"read-only {path!r}"
        fd = _after_pivot(path, what)
        if fd is None:
            continue
        try:
            syscalls.mount_fd(fd, fd, None, MS_BIND | MS_REC, None, what)
        finally:
            os.close(fd)
        top = _after_pivot(path, what)
        try:
            _remount(top, MS_RDONLY, what)
        finally:
            os.close(top)


def readonly_root(plan, st):
    if plan.read_only:
        fd = os.open("/", _O_PATH | os.O_DIRECTORY)
        try:
            _remount(fd, MS_RDONLY, "remount '/' read-only")
        finally:
            os.close(fd)
