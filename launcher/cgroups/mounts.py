"""Which cgroup hierarchies this machine has, and where each controller is
driven: detected from /proc/self/mountinfo and the unified mount's
cgroup.controllers / cgroup.subtree_control, every time detect() runs (no
cache outlives the process).

A v1 hierarchy is a `cgroup` mount whose super options name its controllers
(`cpu,cpuacct` when comounted) or a named hierarchy (`name=systemd`, no
controller). The v2 hierarchy is the `cgroup2` mount; the launcher uses it for
membership and `cgroup.kill` even when it holds no controller. A controller
is driven through v2 when the unified mount offers it and delegates it (it is
in the mount's cgroup.subtree_control, or the mount is the hierarchy's root,
where the launcher may enable it itself), else through the v1 hierarchy that
has it, else not at all.
"""
import os

# The controllers the launcher drives; the others (cpuset, devices, blkio,
# hugetlb, ...) are left as the launcher's own process has them.
DRIVEN = ("cpu", "memory", "pids")
# The super options a v1 cgroup mount can carry that are not controllers
# (Documentation/admin-guide/cgroup-v1/cgroups.rst and the kernel's
# cgroup1_parse_param); every other option names a controller.
_NOT_CONTROLLERS = frozenset(("rw", "ro", "all", "none", "noprefix", "clone_children",
                              "cpuset_v2_mode", "xattr", "favordynmods"))


class Hierarchy:
    """One mounted hierarchy: `mount` (absolute path), `version` (1 or 2),
    `controllers` (a frozenset: a v1 hierarchy's bound controllers; the
    unified one's usable controllers) and `name` (a named v1 hierarchy's
    name, else None). `key` names it in messages: 'cpu,cpuacct',
    'name=systemd', 'unified'."""
    __slots__ = ("mount", "version", "controllers", "name", "is_root")

    def __init__(self, mount, version, controllers, name=None, is_root=True):
        self.mount, self.version = mount, version
        self.controllers, self.name, self.is_root = frozenset(controllers), name, is_root

    @property
    def key(self):
        if self.version == 2:
            return "unified"
        if self.name:
            return ",".join(sorted(self.controllers) + [f"name={self.name}"])
        return ",".join(sorted(self.controllers))

    def __repr__(self):
        return f"Hierarchy({self.key} at {self.mount})"


class Host:
    """This machine's hierarchies. `unified` is the v2 one or None; v1 is a
    list; controller(name) is the hierarchy that drives a controller;
    has_kill says whether cgroup.kill exists (kernel >= 5.14), once a cgroup
    below the unified root has been seen (Pod.create sees the parent)."""

    def __init__(self, hierarchies):
        self.hierarchies = list(hierarchies)
        self.unified = next((h for h in self.hierarchies if h.version == 2), None)
        self.v1 = [h for h in self.hierarchies if h.version == 1]
        self.has_kill = None          # learnt at the first cgroup below the unified root
        self.ready = set()            # parents made (and learnt from) by this Host object
        self._by_controller = {}
        for h in reversed(self.v1):   # the first mount of a controller wins
            for c in h.controllers:
                self._by_controller[c] = h
        if self.unified is not None:
            for c in self.unified.controllers:
                self._by_controller[c] = self.unified

    def controller(self, name):
        """The hierarchy driving controller `name`: v2 if usable there, else
        the v1 one, else None."""
        return self._by_controller.get(name)

    def v2(self, name):
        """True if controller `name` is driven through the unified hierarchy."""
        h = self.controller(name)
        return h is not None and h.version == 2

    def v2_controllers(self):
        """The driven controllers that live in v2, in DRIVEN order."""
        return [c for c in DRIVEN if self.v2(c)]

    def where(self, name):
        """'v2', 'v1' or None for controller `name`, for messages and skips."""
        h = self.controller(name)
        return None if h is None else f"v{h.version}"

    def used(self):
        """The hierarchies a pod gets cgroups in, in a fixed order: the
        unified one (membership, cgroup.kill, cpu.stat), the v1 ones driving
        cpu, memory and pids, v1 freezer when there is no cgroup.kill (the
        teardown needs it), v1 cpuacct when there is no unified hierarchy
        (CPU usage needs it)."""
        out = [self.unified] if self.unified is not None else []
        wanted = [c for c in DRIVEN if not self.v2(c)]
        if self.unified is None or self.has_kill is False:
            wanted.append("freezer")
        if self.unified is None:
            wanted.append("cpuacct")
        for c in wanted:
            h = self.controller(c)
            if h is not None and h not in out:
                out.append(h)
        return out

    def all(self):
        """Every hierarchy, used or not (leak checks look at all of them)."""
        return list(self.hierarchies)


_DETECTED = []


def detected():
    """detect() once per process: a pod's supervisor asks when it makes the
    pod's cgroups, and a batch (play of many pods) asks once before it
    forks their supervisors, which then share the answer (mountinfo grows
    with every pod's pins, and reading it costs ~10 ms at 1,000 pods)."""
    if not _DETECTED:
        _DETECTED.append(detect())
    return _DETECTED[0]


def detect(unified=True, mountinfo="/proc/self/mountinfo"):
    """The Host of this process's mount namespace. unified=False ignores a
    cgroup2 mount, as on a machine with v1 only (the v1 code paths can then
    be exercised on a hybrid machine). A rootless user cannot write the
    host's cgroups (a delegated v2 subtree is not looked for yet): none, so
    no limits (layout.create says so)."""
    from launcher.runtime import userns
    if userns.active() and mountinfo == "/proc/self/mountinfo":
        return Host([])
    text = _read(mountinfo).decode("utf-8", "surrogateescape")
    hierarchies = parse_mountinfo(text)
    out = []
    for h in hierarchies:
        if h.version == 2:
            if not unified:
                continue
            h = Hierarchy(h.mount, 2, _v2_usable(h.mount), is_root=h.is_root)
        out.append(h)
    return Host(out)


def parse_mountinfo(text):
    """The cgroup hierarchies in mountinfo text, one per hierarchy (a
    hierarchy mounted twice keeps its mount of the hierarchy's root, else its
    first). A v2 entry's controllers are left empty (they are read from its
    cgroup.controllers)."""
    found = {}
    for line in text.splitlines():
        if " - cgroup" not in line:
            continue
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        root, mount = _unescape(fields[3]), _unescape(fields[4])
        if tail[0] == "cgroup2":
            ident, h = "unified", Hierarchy(mount, 2, (), is_root=root == "/")
        else:
            opts = tail[2].split(",")
            controllers = [o for o in opts if o not in _NOT_CONTROLLERS and "=" not in o]
            name = next((o[5:] for o in opts if o.startswith("name=")), None)
            if not controllers and not name:
                continue
            h = Hierarchy(mount, 1, controllers, name, is_root=root == "/")
            ident = h.key
        old = found.get(ident)
        if old is None or (h.is_root and not old.is_root):
            found[ident] = h
    return list(found.values())


def _unescape(field):
    """mountinfo's octal escapes (\\040 for a space) undone."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _v2_usable(mount):
    """The controllers the unified mount offers and lets us use: listed in
    its cgroup.controllers and, unless the mount is the hierarchy's real
    root (where we may enable them ourselves), delegated to it (in its
    cgroup.subtree_control). The real root is the one cgroup without a
    cgroup.type file; inside a cgroup namespace or a delegated mount the
    mount's root is an ordinary cgroup that holds processes, so enabling a
    controller there is the delegating manager's job, not ours."""
    offered = _words(os.path.join(mount, "cgroup.controllers"))
    if not os.path.exists(os.path.join(mount, "cgroup.type")):
        return offered
    delegated = _words(os.path.join(mount, "cgroup.subtree_control"))
    return [c for c in offered if c in delegated]


def _words(path):
    try:
        return _read(path).decode().split()
    except OSError:
        return []


def _read(path):
    """A whole (small, /proc or cgroupfs) file: raw os calls, no buffered reader."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while True:
            b = os.read(fd, 65536)
            if not b:
                return b"".join(chunks)
            chunks.append(b)
    finally:
        os.close(fd)
