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

This module holds the root's own steps (prepare-root, rootfs), the
sequence and setup(); the rest live in
    launcher/runtime/rootfskernel.py   proc, dev, dev/pts, dev/shm,
                                       dev/mqueue, sys
    launcher/runtime/rootfsbinds.py    etc, volumes
    launcher/runtime/rootfspivot.py    pivot-root, masked, read-only,
                                       read-only-root
on the resolution and mount primitives of launcher/runtime/rootfsresolve.py
(every destination resolved inside the rootfs, the image being untrusted).
Errors are one LauncherError line naming the mount.
"""
import os
import time

from launcher.errors import LauncherError
from launcher.runtime import mounts, syscalls
from launcher.runtime.rootfsbinds import mount_etc, mount_volumes
# DEV_NODES, DEV_LINKS live in rootfskernel.py; the plan's names in rootfsplan.py
# (all re-exported: tests and launcher/supervisor/podfs.py use rootfs.X).
from launcher.runtime.rootfskernel import (DEV_LINKS, DEV_NODES, mount_dev,  # noqa: F401
                                           mount_devpts, mount_mqueue, mount_proc, mount_shm,
                                           mount_sys)
from launcher.runtime.rootfsplan import (BIND, ETC_FILES, MASKED_PATHS, MOUNT_KINDS,  # noqa: F401
                                         PROPAGATIONS, READONLY_PATHS, RPRIVATE, RSLAVE, TMPFS,
                                         Mount, RootfsPlan, _fail, container_path,
                                         relative_path)
from launcher.runtime.rootfspivot import mask_paths, pivot_root, readonly_paths, readonly_root
from launcher.runtime.rootfsresolve import _O_PATH, _State
from launcher.runtime.syscalls import MS_PRIVATE, MS_REC, MS_SLAVE

MOUNT_DATA_LIMIT = 4095     # mount(2) copies at most one page of options


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
