"""Trusted directories: the state root (and the image root) that a launcher
run by root keeps its records, locks and mounts in.

A path is resolved once (`realpath`: a relative LAUNCHER_STATE_DIR, or one
through a symlink such as /var/run -> /run, becomes the one canonical path
that mountinfo will show), created if missing (mode 0700), and then trusted
only if it is a directory owned by the caller that nobody else can write,
below ancestors that only root or the caller can change (a sticky,
world-writable /tmp is fine, as for OpenSSH's StrictModes). Anything else is
one LauncherError line (exit 125); nothing is chmodded or chowned behind the
user's back. The caller then works through the returned directory fd.
"""
import os
import stat

from launcher.errors import LauncherError
from launcher.store import fs


def default_state_dir():
    """$LAUNCHER_STATE_DIR, else /run/launcher (root), else the rootless
    default (launcher/runtime/userns.py: $XDG_RUNTIME_DIR/launcher, or
    /tmp/launcher-run-UID)."""
    path = os.environ.get("LAUNCHER_STATE_DIR")
    if path:
        return path
    if os.geteuid() == 0:
        return "/run/launcher"
    from launcher.runtime import userns
    return userns.default_state_dir(os.getuid())


CHECKED_ENV = "LAUNCHER_CHECKED_ROOTS"   # set by launcher/runtime/userns.py


def _checked_outside(real):
    """The root at or above `real` that a rootless command checked before it
    joined its user namespace, where the host's owners still showed (inside,
    root's directories belong to the overflow uid), or None. Only honoured
    inside a user namespace: there the caller is the user, who can only
    fool himself."""
    listed = os.environ.get(CHECKED_ENV)
    if not listed:
        return None
    try:
        with open("/proc/self/uid_map") as f:
            if f.read().split() == ["0", "0", "4294967295"]:
                return None
    except OSError:
        return None
    for top in listed.split(os.pathsep):
        if top and (real == top or real.startswith(top.rstrip("/") + "/")):
            return top
    return None


def _refuse(what, path, why):
    raise LauncherError(f"{what} {path!r}: {why}")


def _check_ancestors(path, what, top="/"):
    """Every directory above path, up to top, must be changeable only by
    root or us."""
    me = os.geteuid()
    parent = os.path.dirname(path)
    while path != top:
        st = os.lstat(parent)
        if st.st_uid not in (0, me):
            _refuse(what, path, f"its parent {parent!r} is owned by uid {st.st_uid}")
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            _refuse(what, path, f"its parent {parent!r} is writable by others "
                    f"(mode {stat.S_IMODE(st.st_mode):04o}) and not sticky")
        if parent == top or parent == "/":
            return
        parent = os.path.dirname(parent)


def trusted_dir(path, what="state directory"):
    """(canonical path, O_DIRECTORY fd) of a directory only the caller can
    change, created (with its parents, mode 0700) if missing."""
    if not path or "\0" in path:
        raise LauncherError(f"{what} {path!r}: not a path")
    real = os.path.realpath(path)
    try:
        os.makedirs(real, mode=0o700, exist_ok=True)
    except OSError as e:
        _refuse(what, real, e.strerror or str(e))
    try:
        _check_ancestors(real, what, _checked_outside(real) or "/")
        fd = fs.open_dir(real)
    except OSError as e:   # swapped for a symlink or a file since realpath
        _refuse(what, real, e.strerror or str(e))
    st = os.fstat(fd)
    problem = None
    if st.st_uid != os.geteuid():
        problem = f"owned by uid {st.st_uid}, not by you (uid {os.geteuid()})"
    elif st.st_mode & 0o022:
        problem = (f"writable by others (mode {stat.S_IMODE(st.st_mode):04o}): "
                   f"use a directory only you can write (chmod go-w)")
    if problem:
        os.close(fd)
        _refuse(what, real, problem)
    return real, fd
