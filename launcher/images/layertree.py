"""The directory one layer is unpacked into, changed only relative to
directory fds and never through a symlink: the safe-extraction helpers of
unpack.py (which reads the tar and says what each entry becomes).

LayerTree opens each parent component by component from the layer root
(O_DIRECTORY|O_NOFOLLOW, the open parents cached one fd per level), makes a
missing one, clears the way for a new entry (an existing directory kept
when a directory comes over it), turns a whiteout of the same layer into an
opaque directory when a path goes through it, and sets an entry's owner,
mode, xattrs and mtime in the order that keeps them. Here too: LayerError,
Stats and split_name (the entry-name rules).
"""
import errno
import os
import stat

from launcher.errors import LauncherError
from launcher.store import fs

OPAQUE_XATTR = "trusted.overlay.opaque"
_DROPPED_XATTRS = ("trusted.overlay.", "user.overlay.")
MAX_DEPTH = 256      # the open parents are cached: one fd per level


class LayerError(LauncherError):
    """A layer that cannot be unpacked; `entry` is the tar entry at fault."""

    def __init__(self, entry, why):
        super().__init__(f"entry {entry!r}: {why}" if entry is not None else why)
        self.entry = entry
        self.why = why


class Stats:
    """What one unpack made."""

    def __init__(self):
        self.entries = self.files = self.dirs = self.links = self.whiteouts = 0
        self.opaque = self.bytes = self.dropped_xattrs = 0

    def as_dict(self):
        return dict(vars(self))


def split_name(raw):
    """The components of a tar entry name, or LayerError if it is absolute
    or climbs with '..'."""
    if raw.startswith("/"):
        raise LayerError(raw, "absolute path")
    parts = tuple(c for c in raw.split("/") if c not in ("", "."))
    if ".." in parts:
        raise LayerError(raw, "path climbs out with '..'")
    if len(parts) > MAX_DEPTH:
        raise LayerError(raw, f"deeper than {MAX_DEPTH} directories")
    return parts


def _mtime_ns(ti):
    try:
        ns = int(ti.mtime * 1_000_000_000)
    except (OverflowError, ValueError, TypeError):
        return 0
    return min(max(ns, 0), (1 << 63) - 1)


class LayerTree:
    """The layer directory open on root_fd, walked and changed without
    following anything; unpack._Unpacker builds on it."""

    def __init__(self, root_fd):
        self.root = root_fd
        self.chain = []          # [(component, fd)]: the open parents of the last entry
        self.whiteouts = set()   # paths of the whiteouts this layer made
        self.stats = Stats()

    # -- walking -----------------------------------------------------------
    def _close_chain(self, keep):
        for _, fd in self.chain[keep:]:
            os.close(fd)
        del self.chain[keep:]

    def _forget(self, parts):
        """Drops cached fds at or below `parts` (about to be replaced)."""
        n = len(parts)
        if len(self.chain) >= n and tuple(c for c, _ in self.chain[:n]) == parts:
            self._close_chain(n - 1)

    def _dir(self, parts, raw, create=True):
        """An fd (owned by the chain cache) on directory `parts` of the layer,
        opened component by component without following anything."""
        keep = 0
        while keep < len(self.chain) and keep < len(parts) and self.chain[keep][0] == parts[keep]:
            keep += 1
        self._close_chain(keep)
        cur = self.chain[-1][1] if self.chain else self.root
        for i in range(keep, len(parts)):
            comp = parts[i]
            try:
                fd = fs.open_dir(comp, cur)
            except FileNotFoundError:
                if not create:
                    raise LayerError(raw, f"{'/'.join(parts[:i + 1])!r} is not in the layer")
                os.mkdir(comp, 0o755, dir_fd=cur)
                fd = fs.open_dir(comp, cur)
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                if create and parts[:i + 1] in self.whiteouts:
                    # a/b after .wh.a of the same layer: a new directory,
                    # opaque since it hides the lower a
                    fd = self._over_whiteout(cur, comp, parts[:i + 1])
                    self.chain.append((comp, fd))
                    cur = fd
                    continue
                st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
                what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
                raise LayerError(raw, f"path goes through {'/'.join(parts[:i + 1])!r}, "
                                      f"which is {what}") from None
            self.chain.append((comp, fd))
            cur = fd
        return cur

    def _over_whiteout(self, pfd, name, parts):
        os.unlink(name, dir_fd=pfd)
        self.whiteouts.discard(parts)
        os.mkdir(name, 0o755, dir_fd=pfd)
        fd = fs.open_dir(name, pfd)
        os.setxattr(fd, OPAQUE_XATTR, b"y")
        self.stats.opaque += 1
        return fd

    def _clear(self, pfd, name, parts, keep_dir):
        """Makes room for a new entry: unlinks what is there (a directory
        too, unless keep_dir). Returns 'dir' if a directory is kept, True if
        a whiteout of this layer was replaced, else False."""
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return "dir"
            self._forget(parts)
            fs.remove_tree(pfd, name)
            return False
        os.unlink(name, dir_fd=pfd)
        if parts in self.whiteouts:
            self.whiteouts.discard(parts)
            return True
        return False

    def _create(self, make, pfd, name, parts, keep_dir=False):
        """Runs make() (which creates `name` exclusively); on EEXIST clears
        the way once and retries. Returns _clear's verdict (False if the
        name was free)."""
        try:
            make()
            return False
        except FileExistsError:
            pass
        verdict = self._clear(pfd, name, parts, keep_dir)
        if verdict != "dir":
            make()
        return verdict

    # -- metadata ----------------------------------------------------------
    def _meta(self, ti, raw, fd=None, pfd=None, name=None):
        """Owner, mode, xattrs and (not for directories) mtime, through fd
        when there is one, else on `name` in pfd without following it."""
        follow = fd is not None
        target = fd if follow else name
        kw = {} if follow else {"dir_fd": pfd, "follow_symlinks": False}
        os.chown(target, ti.uid, ti.gid, **kw)
        if not ti.issym():
            if follow:
                os.fchmod(fd, ti.mode & 0o7777)
            else:
                os.chmod(name, ti.mode & 0o7777, dir_fd=pfd)
        for key, value in ti.xattrs:
            if key.startswith(_DROPPED_XATTRS):
                self.stats.dropped_xattrs += 1
                continue
            try:
                if follow:
                    os.setxattr(fd, key, value)
                else:
                    os.setxattr(f"/proc/self/fd/{pfd}/{name}", key, value, follow_symlinks=False)
            except OSError as e:
                raise LayerError(raw, f"cannot set xattr {key!r}: {e.strerror}") from None
        if not ti.isdir():
            mt = _mtime_ns(ti)
            os.utime(target, ns=(mt, mt), **kw)
