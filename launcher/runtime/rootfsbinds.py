"""The binds of a container's rootfs (steps of launcher/runtime/rootfs.py,
before pivot_root): the pod's etc files, read-only, then each volume mount
in the plan's order (a bind of the volume, or of its subPath, or a tmpfs).
A volume's subPath is resolved beneath the volume (RESOLVE_BENEATH), so a
symlink a container left in a shared volume cannot point the next mount at
a host directory.
"""
import errno
import os

from launcher.runtime import syscalls
from launcher.runtime.rootfsplan import ETC_FILES, TMPFS, _fail, relative_path
from launcher.runtime.rootfsresolve import (_DIR, _O_PATH, BENEATH, IN_ROOT, _bind,
                                            _check_target, _mount_point, _openat2)
from launcher.runtime.syscalls import MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY

def mount_etc(plan, st):
    """The pod's hosts, hostname and resolv.conf, read-only: they are the
    pod's, so one container must not change what its siblings resolve, nor
    grow a file in the pod directory."""
    for dest in ETC_FILES:
        source = plan.etc.get(dest)
        if source is None:
            continue
        what = f"bind {dest!r}"
        try:
            src = os.open(source, _O_PATH | os.O_NOFOLLOW)
        except OSError as e:
            raise _fail(what, f"{source!r}: {e.strerror}") from None
        try:
            _bind(st, src, dest, what, read_only=True, flags=MS_NOSUID | MS_NODEV | MS_NOEXEC)
        finally:
            os.close(src)


def _volume_source(m, what):
    """An O_PATH fd on a bind mount's source: the volume itself (a path the
    parent made or checked), then its subPath beneath it, made as
    directories when missing, as the kubelet does."""
    try:
        src = os.open(m.source, _O_PATH)
    except OSError as e:
        raise _fail(what, f"source {m.source!r}: {e.strerror}") from None
    if not m.sub_path:
        return src
    try:
        parts = relative_path(m.sub_path, what)
        try:
            return _dir_or_file_beneath(src, parts)
        except OSError as e:
            raise _fail(what, f"subPath {m.sub_path!r} " + (
                "leaves the volume through a symlink or '..' (refused)"
                if e.errno in (errno.EXDEV, errno.ELOOP) else e.strerror)) from None
    finally:
        os.close(src)


def _dir_or_file_beneath(src, parts):
    try:
        return _openat2(src, "/".join(parts), BENEATH)
    except FileNotFoundError:
        pass
    fd = os.dup(src)
    try:
        for i, name in enumerate(parts):
            prefix = "/".join(parts[:i + 1])
            try:
                nfd = _openat2(src, prefix, BENEATH)
            except FileNotFoundError:
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:   # a dangling symlink
                    raise OSError(errno.EXDEV, "dangling symlink") from None
                nfd = _openat2(src, prefix, BENEATH)
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def mount_volumes(plan, st):
    for m in plan.mounts:
        what = f"{m.name} on {m.destination!r}"
        if m.kind == TMPFS:
            fd, parts = _mount_point(st, m.destination, _DIR, IN_ROOT, what)
            try:
                _check_target(st, fd, _DIR, what)
                syscalls.mount_fd("tmpfs", fd, "tmpfs", MS_NOSUID | MS_NODEV |
                                  (MS_RDONLY if m.read_only else 0), m.options or None, what)
            finally:
                os.close(fd)
            continue
        src = _volume_source(m, what)
        try:
            _bind(st, src, m.destination, what, read_only=m.read_only, recursive=True)
        finally:
            os.close(src)
