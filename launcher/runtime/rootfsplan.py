"""The plan of a container's root filesystem (launcher/runtime/rootfs.py
carries it out in the child): plain data the parent builds before fork,
every path in it checked here, so that the child only mounts."""

from launcher.errors import LauncherError

# runc's defaults (`runc spec`, containerd's and CRI-O's lists).
MASKED_PATHS = ("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
ETC_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")

BIND, TMPFS = "bind", "tmpfs"
MOUNT_KINDS = (BIND, TMPFS)
RPRIVATE, RSLAVE = "rprivate", "rslave"
PROPAGATIONS = (RPRIVATE, RSLAVE)


def _fail(what, why):
    return LauncherError(f"{what}: {why}")


def container_path(path, what):
    """The components of an absolute path inside the container; '..' is
    refused (Kubernetes refuses it in mountPath and subPath too)."""
    return _components(path, what, True, "is not an absolute path")


def relative_path(path, what):
    """The components of a subPath: relative, no '..'."""
    return _components(path, what, False, "must be a relative path")


def _components(path, what, absolute, wrong_kind):
    if not isinstance(path, str) or path.startswith("/") != absolute or "\0" in path:
        raise LauncherError(f"{what}: {path!r} {wrong_kind}")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise LauncherError(f"{what}: {path!r} must not contain '..'")
    return parts


def _host_path(path, what):
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise LauncherError(f"rootfs plan: {what} {path!r} is not an absolute path")
    return path


class Mount:
    """One volume mount of a container.

    destination  absolute path inside the container
    kind         BIND (source: a host path, the volume's directory or file)
                 or TMPFS (a tmpfs of the container's own; options: its data)
    read_only    remounted read-only
    sub_path     bind only: a path beneath source, resolved beneath it
    name         how errors name it ("volume 'data'")
    """
    __slots__ = ("destination", "kind", "source", "read_only", "sub_path", "options", "name")

    def __init__(self, destination, source=None, *, kind=BIND, read_only=False, sub_path="",
                 options="", name=""):
        self.destination, self.kind, self.source = destination, kind, source
        self.read_only, self.sub_path, self.options = bool(read_only), sub_path or "", options or ""
        self.name = name or f"mount {destination!r}"
        if kind not in MOUNT_KINDS:
            raise LauncherError(f"rootfs plan: {self.name}: unknown kind {kind!r}")
        container_path(destination, self.name)
        if kind == BIND:
            _host_path(source, f"{self.name}: source")
            if self.sub_path:
                relative_path(self.sub_path, f"{self.name}: subPath")
        elif self.sub_path:
            raise LauncherError(f"rootfs plan: {self.name}: a tmpfs has no subPath")

    def to_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict) or "destination" not in d:
            raise LauncherError("rootfs plan: a mount must be an object with a destination")
        return cls(d["destination"], d.get("source"), kind=d.get("kind", BIND),
                   read_only=d.get("read_only", False), sub_path=d.get("sub_path", ""),
                   options=d.get("options", ""), name=d.get("name", ""))


class RootfsPlan:
    """Everything the child needs to build a container's root filesystem,
    decided by the parent (launcher/supervisor/podfs.py builds it).

    lowerdirs   the image's layer directories, TOPMOST FIRST (overlayfs' order)
    upper, work the container's own overlay dirs (same filesystem, fresh per start)
    merged      the directory the overlay is mounted on (then the new root)
    read_only   readOnlyRootFilesystem: / remounted read-only at the end
    shm         the pod's shm tmpfs (bound on /dev/shm), or None for a
                private one
    etc         {"/etc/hosts": path, "/etc/hostname": path, "/etc/resolv.conf": path}
    mounts      [Mount], in order
    proc        mount a procfs on /proc
    masked, readonly_paths   runc's defaults unless given
    propagation "rprivate" (default) or "rslave" for /
    hide        host paths whose mounts are detached first (every pod's
                pins, other pods' mounts), except those this plan binds
    """
    __slots__ = ("lowerdirs", "upper", "work", "merged", "read_only", "shm", "etc", "mounts",
                 "proc", "masked", "readonly_paths", "propagation", "hide")

    def __init__(self, lowerdirs, upper, work, merged, *, read_only=False, shm=None, etc=None,
                 mounts=(), proc=True, masked=MASKED_PATHS, readonly_paths=READONLY_PATHS,
                 propagation=RPRIVATE, hide=()):
        self.lowerdirs = [_host_path(p, "lower dir") for p in lowerdirs]
        if not self.lowerdirs:
            raise LauncherError("rootfs plan: an image needs at least one layer")
        self.upper, self.work, self.merged = (_host_path(p, w) for p, w in
                                              ((upper, "upper dir"), (work, "work dir"),
                                               (merged, "merged dir")))
        self.read_only, self.proc = bool(read_only), bool(proc)
        self.shm = None if shm is None else _host_path(shm, "shm dir")
        self.etc = dict(etc or {})
        for dest, src in self.etc.items():
            if dest not in ETC_FILES:
                raise LauncherError(f"rootfs plan: {dest!r} is not one of {', '.join(ETC_FILES)}")
            _host_path(src, dest)
        self.mounts = [m if isinstance(m, Mount) else Mount.from_dict(m) for m in mounts]
        self.masked, self.readonly_paths = list(masked), list(readonly_paths)
        for p in self.masked + self.readonly_paths:
            container_path(p, "rootfs plan: masked or read-only path")
        if propagation not in PROPAGATIONS:
            raise LauncherError(f"rootfs plan: propagation {propagation!r}: one of "
                                f"{', '.join(PROPAGATIONS)}")
        self.propagation = propagation
        self.hide = [_host_path(p, "hidden path") for p in hide]

    @classmethod
    def for_image(cls, image, upper, work, merged, **kw):
        """A plan for an images.config.Image (layers are lowest first there)."""
        return cls(list(reversed(image.layers)), upper, work, merged, **kw)

    def to_dict(self):
        d = {k: getattr(self, k) for k in self.__slots__}
        d["mounts"] = [m.to_dict() for m in self.mounts]
        return d

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict):
            raise LauncherError("rootfs plan: not an object")
        try:
            args = [d[k] for k in ("lowerdirs", "upper", "work", "merged")]
        except KeyError as e:
            raise LauncherError(f"rootfs plan: {e.args[0]} is missing") from None
        kw = {k: d[k] for k in ("read_only", "shm", "etc", "mounts", "proc", "masked",
                                "readonly_paths", "propagation", "hide") if k in d}
        return cls(*args, **kw)
