"""Resolving inside a container's rootfs, and the mount primitives the
rootfs steps (launcher/runtime/rootfs.py) share: the state they pass along
(an fd on the rootfs), a destination's mount point found or made, the
checks on it, a bind, a kernel filesystem, a remount.

The image is untrusted. Every destination inside the rootfs is resolved
with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from an fd on the
rootfs (an absolute symlink or a ".." never leaves it), missing mount
points are created relative to the directory fd that resolution gave, and
every mount goes onto /proc/self/fd/N of the opened target, so no path is
walked twice (runc since CVE-2021-30465). The kernel filesystems (/proc,
/sys, /dev and what we make under /dev) go only onto real directories:
any symlink on their path is refused (RESOLVE_NO_SYMLINKS). A destination
that resolves to the rootfs itself, or into its /proc or /sys, is refused.
Errors are one LauncherError line naming the mount.
"""
import errno
import os
import stat

from launcher.runtime import syscalls
from launcher.runtime.rootfsplan import _fail, container_path
from launcher.runtime.syscalls import (MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY,
                                       MS_REC, MS_REMOUNT)

# Per-mount flags a bind remount must repeat (statvfs ST_* equal MS_* here).
_KEEP_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | 1024 | 2048 | 4096
_O_PATH = os.O_PATH | os.O_CLOEXEC
IN_ROOT = syscalls.RESOLVE_IN_ROOT | syscalls.RESOLVE_NO_MAGICLINKS
STRICT = IN_ROOT | syscalls.RESOLVE_NO_SYMLINKS
BENEATH = syscalls.RESOLVE_BENEATH | syscalls.RESOLVE_NO_MAGICLINKS
MAX_LINK_HOPS = 40          # the kernel's own limit on symlinks in one walk
_DIR, _FILE = "directory", "file"


# -- resolving inside the rootfs ----------------------------------------------

class _State:
    """What the steps share: an O_PATH fd on the rootfs (the overlay's
    root), its (st_dev, st_ino), the fds to close at the end."""
    __slots__ = ("root_fd", "root_id", "fds")

    def __init__(self):
        self.root_fd, self.root_id, self.fds = -1, None, []

    def keep(self, fd):
        self.fds.append(fd)
        return fd

    def close(self):
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def _openat2(dirfd, rel, resolve, flags=0):
    """openat2 O_PATH of rel below dirfd; EAGAIN (a rename raced the
    walk) is retried."""
    for _ in range(8):
        try:
            return syscalls.openat2(dirfd, rel or ".", _O_PATH | flags, resolve)
        except OSError as e:
            if e.errno != errno.EAGAIN:
                raise
    return syscalls.openat2(dirfd, rel or ".", _O_PATH | flags, resolve)


def _why(e, path, resolve):
    """Why a resolution failed, in words."""
    if e.errno == errno.ELOOP:
        if resolve & syscalls.RESOLVE_NO_SYMLINKS:
            return (f"{path!r} is (or goes through) a symlink in the image: refused, a kernel "
                    "filesystem is only mounted on a real directory")
        return f"{path!r} goes through too many symlinks, or a magic link (refused)"
    if e.errno == errno.EXDEV:
        return f"{path!r} leaves it through a symlink or '..' (refused)"
    if e.errno == errno.ENOTDIR:
        return f"a component of {path!r} is not a directory"
    return f"{path!r}: {e.strerror}"


def _create(parent, name, kind, what, path):
    try:
        if kind == _DIR:
            os.mkdir(name, 0o755, dir_fd=parent)
        else:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                             os.O_CLOEXEC, 0o644, dir_fd=parent))
    except FileExistsError:
        pass   # made meanwhile: the walk looks again
    except OSError as e:
        raise _fail(what, f"cannot create the mount point {path!r}: {e.strerror}") from None


def _walk(st, parts, kind, resolve, what):
    """The slow path of _mount_point, when something on the way is
    missing: a walk one component at a time from the rootfs, with the
    kernel's rules under RESOLVE_IN_ROOT (a symlink's target is read and
    walked in its place, an absolute one from the rootfs, '..' never above
    it), making each missing component in the directory the walk reached
    (a directory, or `kind` for the last one). Returns the resolved
    components, which hold no symlink."""
    done, todo, hops = [], list(parts), 0
    while todo:
        name = todo.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            if done:
                done.pop()
            continue
        path = "/" + "/".join(done + [name])
        try:
            parent = _openat2(st.root_fd, "/".join(done), STRICT, os.O_DIRECTORY)
        except OSError as e:
            raise _fail(what, _why(e, "/" + "/".join(done), STRICT)) from None
        try:
            for _ in range(3):
                try:
                    lst = os.stat(name, dir_fd=parent, follow_symlinks=False)
                    break
                except FileNotFoundError:
                    _create(parent, name, kind if not todo else _DIR, what, path)
            else:
                raise _fail(what, f"{path!r} keeps vanishing")
            if stat.S_ISLNK(lst.st_mode):
                if resolve & syscalls.RESOLVE_NO_SYMLINKS:
                    raise _fail(what, _why(OSError(errno.ELOOP, ""), path, resolve))
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise _fail(what, f"{path!r}: more than {MAX_LINK_HOPS} symlinks")
                target = os.readlink(name, dir_fd=parent)
                if target.startswith("/"):
                    done = []
                todo = target.split("/") + todo
                continue
            if todo and not stat.S_ISDIR(lst.st_mode):
                raise _fail(what, f"{path!r} is not a directory")
            done.append(name)
        finally:
            os.close(parent)
    return done


def _make_last(st, parts, kind, resolve, what):
    """The common case of a missing mount point: its directory is there and
    only the last component is missing (not a dangling symlink): made in
    the directory fd resolution gave, then opened. None: take the walk."""
    try:
        parent = _openat2(st.root_fd, "/".join(parts[:-1]), resolve, os.O_DIRECTORY)
    except OSError:
        return None
    try:
        try:
            os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
            return None   # there, so a dangling symlink
        except FileNotFoundError:
            _create(parent, parts[-1], kind, what, "/" + "/".join(parts))
        return _openat2(st.root_fd, "/".join(parts), resolve), parts
    except FileNotFoundError:
        return None
    except OSError as e:
        raise _fail(what, _why(e, "/" + "/".join(parts), resolve)) from None
    finally:
        os.close(parent)


def _mount_point(st, dest, kind, resolve, what):
    """An O_PATH fd on the mount point for dest inside the rootfs, and the
    components that open it again the same way (to reach the mount made
    on it: resolution gives the same object twice, the image being static
    and no other process in this mount namespace). Whatever is missing on
    the way is made (a directory, or an empty file for a file mount),
    dangling symlinks followed inside the rootfs (an image's
    /etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf)."""
    parts = container_path(dest, what)
    if not parts:
        raise _fail(what, "is the container's root directory")
    try:
        return _openat2(st.root_fd, "/".join(parts), resolve), parts
    except FileNotFoundError:
        pass
    except OSError as e:
        raise _fail(what, _why(e, dest, resolve)) from None
    made = _make_last(st, parts, kind, resolve, what)
    if made is not None:
        return made
    parts = _walk(st, parts, kind, resolve, what)
    if not parts:
        raise _fail(what, "resolves to the container's root directory (refused)")
    try:
        return _openat2(st.root_fd, "/".join(parts), STRICT), parts
    except OSError as e:
        raise _fail(what, _why(e, "/" + "/".join(parts), STRICT)) from None


def _check_target(st, fd, kind, what, kernel_fs_ok=False):
    """Refuses a mount point that is the rootfs itself, of the wrong type,
    or (for what is not a masked/read-only path) inside /proc or /sys."""
    s = os.fstat(fd)
    if (s.st_dev, s.st_ino) == st.root_id:
        raise _fail(what, "resolves to the container's root directory (refused)")
    if kind == _DIR and not stat.S_ISDIR(s.st_mode):
        raise _fail(what, "the mount point in the image is not a directory")
    if kind == _FILE and stat.S_ISDIR(s.st_mode):
        raise _fail(what, "the mount point in the image is a directory, the source a file")
    if not kernel_fs_ok and syscalls.fstatfs_type(fd) in (syscalls.PROC_SUPER_MAGIC,
                                                          syscalls.SYSFS_MAGIC):
        raise _fail(what, "resolves into the container's /proc or /sys (refused)")


def _remount(fd, add, what):
    """MS_REMOUNT|MS_BIND of the mount whose root fd is, keeping its
    per-mount flags (a bind remount sets them all) and adding `add`."""
    keep = os.fstatvfs(fd).f_flag & _KEEP_FLAGS
    syscalls.mount_fd(None, fd, None, MS_REMOUNT | MS_BIND | keep | add, None,
                      f"{what} (remount)")


def _reopen(st, parts, resolve):
    """An fd on what is now mounted at parts (the mount just made)."""
    return _openat2(st.root_fd, "/".join(parts), resolve)


def _bind(st, source_fd, dest, what, *, read_only=False, flags=0, recursive=False,
          resolve=IN_ROOT):
    """Binds the object behind source_fd on dest inside the rootfs (a
    directory or a file, made to match the source), then remounts it with
    `flags` (and read-only)."""
    kind = _DIR if stat.S_ISDIR(os.fstat(source_fd).st_mode) else _FILE
    fd, parts = _mount_point(st, dest, kind, resolve, what)
    try:
        _check_target(st, fd, kind, what)
        syscalls.mount_fd(source_fd, fd, None, MS_BIND | (MS_REC if recursive else 0), None,
                          what)
    finally:
        os.close(fd)
    if read_only or flags:
        top = _reopen(st, parts, resolve)
        try:
            _remount(top, flags | (MS_RDONLY if read_only else 0), what)
        finally:
            os.close(top)


def _kernel_fs(st, dest, fstype, flags, data, what=None):
    """Mounts a kernel filesystem (or our tmpfs) on dest, a real directory:
    no symlink anywhere on its path. Returns the components."""
    what = what or f"mount {fstype} on {dest!r}"
    fd, parts = _mount_point(st, dest, _DIR, STRICT, what)
    try:
        _check_target(st, fd, _DIR, what, kernel_fs_ok=True)
        syscalls.mount_fd(fstype, fd, fstype, flags, data, what)
    finally:
        os.close(fd)
    return parts
