"""A container's root filesystem: the child-side set-up that turns the
plan the parent built before fork (RootfsPlan, plain data:
launcher/runtime/rootfsplan.py) into the container's mount table, in runc's order (prepareRoot, the mounts,
pivotRoot, then masked and read-only paths):

    prepare-root   / made rprivate (or rslave); the plan's `hide` paths
                   (every pod's pins) detached, but for the mounts this
                   plan binds (the pod's /dev/shm, Memory emptyDirs)
    rootfs         overlayfs: the image's layers as lower dirs, the
                   container's own upper and work dirs, on `merged`
    proc           a procfs for the PID namespace the child is in
    dev            a small tmpfs with null, zero, full, tty, random,
                   urandom (0666) and the fd, stdin, stdout, stderr, core
                   and ptmx symlinks
    dev/pts        devpts, newinstance (ptmx -> pts/ptmx)
    dev/shm        a bind of the pod's shm tmpfs (shared by its containers)
    dev/mqueue     mqueue of the IPC namespace the child is in
    sys            sysfs, read-only
    etc            the pod's hosts, hostname, resolv.conf, bound read-only
    volumes        each volume mount, in the plan's order
    pivot-root     pivot_root(".", ".") and the old root detached
    masked         /dev/null over files, an empty read-only tmpfs over
                   directories (missing paths are skipped)
    read-only      each path bound on itself and remounted read-only
    read-only-root /, when readOnlyRootFilesystem

The image is untrusted. Every destination inside the rootfs is resolved
with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from an fd on the
rootfs (an absolute symlink or a ".." never leaves it), missing mount
points are created relative to the directory fd that resolution gave, and
every mount goes onto /proc/self/fd/N of the opened target, so no path is
walked twice (runc since CVE-2021-30465). The kernel filesystems (/proc,
/sys, /dev and what we make under /dev) go only onto real directories:
any symlink on their path is refused (RESOLVE_NO_SYMLINKS). A destination
that resolves to the rootfs itself, or into its /proc or /sys, is refused.
A volume's subPath is resolved beneath the volume (RESOLVE_BENEATH), so a
symlink a container left in a shared volume cannot point the next mount at
a host directory. Errors are one LauncherError line naming the mount.
"""
import errno
import os
import stat
import time

from launcher.errors import LauncherError
from launcher.runtime import mounts, syscalls
from launcher.runtime.rootfsplan import (BIND, ETC_FILES, MASKED_PATHS, MOUNT_KINDS,  # noqa: F401
                                         PROPAGATIONS, READONLY_PATHS, RPRIVATE, RSLAVE, TMPFS,
                                         Mount, RootfsPlan, _fail, container_path,
                                         relative_path)
from launcher.runtime.syscalls import (MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE,
                                       MS_RDONLY, MS_REC, MS_REMOUNT, MS_SLAVE)


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
SHM_OPTIONS = "mode=1777,size=65536k"   # only when the plan has no pod shm

# Per-mount flags a bind remount must repeat (statvfs ST_* equal MS_* here).
_KEEP_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | 1024 | 2048 | 4096
_O_PATH = os.O_PATH | os.O_CLOEXEC
IN_ROOT = syscalls.RESOLVE_IN_ROOT | syscalls.RESOLVE_NO_MAGICLINKS
STRICT = IN_ROOT | syscalls.RESOLVE_NO_SYMLINKS
BENEATH = syscalls.RESOLVE_BENEATH | syscalls.RESOLVE_NO_MAGICLINKS
MAX_LINK_HOPS = 40          # the kernel's own limit on symlinks in one walk
MOUNT_DATA_LIMIT = 4095     # mount(2) copies at most one page of options
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


# -- the steps, in order -------------------------------------------------------

def prepare_root(plan, st):
    """Every mount private (or slave), so nothing we mount propagates back.
    pivot_root later leaves every host mount behind, so a hidden path only
    needs detaching when a volume's recursive bind would bring it in (a
    hostPath of / or of the state root): then its mounts go, but for the
    sources this plan binds."""
    prop = MS_SLAVE if plan.propagation == RSLAVE else MS_PRIVATE
    syscalls.mount(None, "/", None, MS_REC | prop)
    binds = [m.source.rstrip("/") or "/" for m in plan.mounts if m.kind == BIND and m.source]
    keep = [p.rstrip("/") for p in [plan.shm] + binds if p]
    for hidden in plan.hide:
        h = hidden.rstrip("/")
        if not any(b == "/" or h == b or h.startswith(b + "/") for b in binds):
            continue
        for point in mounts.points_under(hidden):
            if not any(k == point or k.startswith(point.rstrip("/") + "/") for k in keep):
                syscalls.detach(point)


def _escape(path):
    # overlayfs splits lowerdir on ':' and every option on ','
    return path.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


def overlay_options(plan):
    """The overlay's mount data, and the directory to chdir to first when
    the absolute paths would not fit in one page (then the layers are named
    relative to their common parent, as containerd does), else None."""
    def data(lowers):
        return (f"lowerdir={':'.join(_escape(p) for p in lowers)},"
                f"upperdir={_escape(plan.upper)},workdir={_escape(plan.work)}")
    text = data(plan.lowerdirs)
    if len(text) <= MOUNT_DATA_LIMIT:
        return text, None
    base = os.path.commonpath(plan.lowerdirs)
    text = data([os.path.relpath(p, base) for p in plan.lowerdirs])
    if len(text) > MOUNT_DATA_LIMIT:
        raise LauncherError(f"mount overlay on {plan.merged!r}: {len(plan.lowerdirs)} layers do "
                            f"not fit in the {MOUNT_DATA_LIMIT + 1}-byte mount options")
    return text, base


def mount_rootfs(plan, st):
    """The overlay on `merged`; st.root_fd becomes an fd on its root. (The
    overlay is a mount point itself, as pivot_root wants, so runc's bind of
    the rootfs on itself is not needed.)"""
    what = f"mount overlay on {plan.merged!r}"
    data, base = overlay_options(plan)
    try:
        target = os.open(plan.merged, _O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as e:
        raise _fail(what, e.strerror) from None
    try:
        if base:
            os.chdir(base)
        syscalls.mount_fd("overlay", target, "overlay", 0, data, what)
    finally:
        os.close(target)
    st.root_fd = st.keep(os.open(plan.merged, _O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW))
    if syscalls.fstatfs_type(st.root_fd) != syscalls.OVERLAYFS_SUPER_MAGIC:
        raise _fail(what, "the overlay is not what the merged dir shows")
    s = os.fstat(st.root_fd)
    st.root_id = (s.st_dev, s.st_ino)


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
            except OSError as e:
                raise _fail(what, f"mknod /dev/{name}: {e.strerror}") from None
        for name, target in DEV_LINKS:
            os.symlink(target, name, dir_fd=dev)
        for name in ("pts", "shm", "mqueue"):   # the next steps' mount points
            os.mkdir(name, 0o755, dir_fd=dev)
    finally:
        os.umask(old)
        os.close(dev)


def mount_devpts(plan, st):
    _kernel_fs(st, "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, DEVPTS_OPTIONS)


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


STEPS = (("prepare-root", prepare_root), ("rootfs", mount_rootfs), ("proc", mount_proc),
         ("dev", mount_dev), ("dev/pts", mount_devpts), ("dev/shm", mount_shm),
         ("dev/mqueue", mount_mqueue), ("sys", mount_sys), ("etc", mount_etc),
         ("volumes", mount_volumes), ("pivot-root", pivot_root), ("masked", mask_paths),
         ("read-only", readonly_paths), ("read-only-root", readonly_root))


def setup(plan, trace=None):
    """In the child, after unshare(CLONE_NEWNS), in its final PID, IPC and
    network namespaces: builds the container's mounts and makes the rootfs
    its / (cwd "/"). trace, a list, gets (step, seconds) per step.
    LauncherError (one line naming the mount) on any failure."""
    st = _State()
    try:
        for name, step in STEPS:
            t0 = time.perf_counter() if trace is not None else 0
            try:
                step(plan, st)
            except OSError as e:
                raise LauncherError(f"rootfs {name}: {e.strerror or e}") from None
            if trace is not None:
                trace.append((name, time.perf_counter() - t0))
    finally:
        st.close()
