"""Mounts of a container's fresh mount namespace, and the reading of
mountinfo: what the `mounts` child step does, and how teardown finds what
to detach."""
from launcher.runtime import syscalls


def make_private():
    """Makes every mount of the caller's (fresh) mount namespace private, so
    nothing mounted afterwards propagates back to the host."""
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)


def mount_proc(target="/proc"):
    """Mounts a procfs for the caller's PID namespace over target."""
    syscalls.mount("proc", target, "proc", syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC)


def _unescape(field):
    """A mountinfo path: spaces, tabs, newlines and backslashes are octal escapes."""
    if "\\" not in field:
        return field
    return field.encode().decode("unicode_escape").encode("latin-1").decode(errors="surrogateescape")


def points_under(path):
    """The mount points of the caller's mount namespace at or below path
    (a canonical path, as mountinfo shows it), deepest first: the order to
    unmount them in."""
    path = path.rstrip("/") or "/"
    prefix = path if path == "/" else path + "/"
    with open("/proc/self/mountinfo") as f:
        points = [_unescape(line.split(" ", 5)[4]) for line in f]
    return sorted((p for p in points if p == path or p.startswith(prefix)),
                  key=lambda p: -p.count("/"))


def detach_under(path):
    """Lazily unmounts everything at or below path. In a container's fresh
    mount namespace this drops its copies of every pod's pinned namespaces."""
    for p in points_under(path):
        syscalls.detach(p)
