"""A layer tar -> a new directory in the form overlayfs takes as a lower
layer, safe against a hostile tar.

tarscan.py reads the headers (not Python's tarfile: see there why); every
file is made here, relative to directory fds (the walking, clearing and
metadata helpers are in layertree.py):

- names are normalized ("./", "//", trailing "/"); an absolute name or one
  with a ".." component is rejected;
- each parent is opened component by component from the layer root with
  O_DIRECTORY|O_NOFOLLOW, so a path through a symlink (or through a file) is
  rejected, and a missing parent is made (0755, like tar);
- every file is created with O_EXCL|O_NOFOLLOW; an existing entry is
  unlinked first (a directory over a directory keeps it and takes the new
  attributes, as the OCI spec says), so nothing is ever written through a
  symlink, whatever its target;
- a hard link's target is resolved the same way inside the layer, and linked
  without following it (linkat without AT_SYMLINK_FOLLOW);
- `.wh.NAME` becomes an overlay whiteout (a 0:0 character device) unless the
  layer itself has NAME (whiteouts only hide lower layers); `.wh..wh..opq`
  sets trusted.overlay.opaque=y on its directory wherever it appears in the
  tar; a directory made over a whiteout of the same layer is opaque too;
  other `.wh..wh.` names (aufs metadata) are skipped;
- owner, mode (setuid, setgid, sticky), mtime, device nodes, fifos, hard
  links, symlinks and xattrs (PAX SCHILY.xattr.*, LIBARCHIVE.xattr.*;
  security.capability included) are kept, in the order that keeps them:
  chown, then chmod (chown clears setuid), then xattrs (chown clears file
  capabilities), then utimes; directory mtimes last. overlayfs' own xattrs
  (trusted.overlay.*, user.overlay.*) from the tar are dropped: only the
  opaque marker may set one;
- a declared size beyond the end of the tar, a damaged header (bad
  checksum), sparse files, or bytes other than zeros after the end-of-archive
  block are rejected.

File data is copied by the kernel (copy_file_range) from the tar's offsets.
On any rejection the half-made directory is removed and LayerError names the
entry. The caller gives an uncompressed tar as a seekable file.
"""
import errno
import os
import stat

from launcher.errors import LauncherError
from launcher.images.layertree import OPAQUE_XATTR, LayerError, LayerTree, _mtime_ns, split_name
# re-exported: they live in layertree.py (with LayerError and split_name,
# which importers of launcher.images.unpack also still find here)
from launcher.images.layertree import MAX_DEPTH, Stats  # noqa: F401
from launcher.store import fs

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 30
_NOT_THE_LAYERS_FAULT = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM,
                         errno.EMFILE, errno.ENFILE)


class _Unpacker(LayerTree):
    def __init__(self, root_fd, tar_fd, tar_size):
        super().__init__(root_fd)
        self.src = tar_fd
        self.size = tar_size
        self.dir_times = []      # (parts, mtime ns), applied once every entry is in
        self.root_meta = None
        self.copy = self._copy_range

    # -- entries -----------------------------------------------------------
    def entry(self, ti):
        raw = ti.name
        parts = split_name(raw)
        self.stats.entries += 1
        if not parts:
            if not ti.isdir():
                raise LayerError(raw, "the layer root must be a directory")
            self.root_meta = ti
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            return self._special(parts, raw)
        pfd = self._dir(parts[:-1], raw)
        if ti.isdir():
            self._mkdir(ti, raw, parts, pfd)
        elif ti.isreg():
            self._file(ti, raw, parts, pfd)
        elif ti.issym():
            if not ti.linkname:
                raise LayerError(raw, "symlink with an empty target")
            self._create(lambda: os.symlink(ti.linkname, base, dir_fd=pfd), pfd, base, parts)
            self._meta(ti, raw, pfd=pfd, name=base)
            self.stats.links += 1
        elif ti.islnk():
            self._hardlink(ti, raw, parts, pfd)
        elif ti.ischr() or ti.isblk() or ti.isfifo():
            kind = stat.S_IFCHR if ti.ischr() else stat.S_IFBLK if ti.isblk() else stat.S_IFIFO
            dev = os.makedev(ti.devmajor, ti.devminor) if not ti.isfifo() else 0
            self._create(lambda: os.mknod(base, kind | 0o600, dev, dir_fd=pfd), pfd, base, parts)
            self._meta(ti, raw, pfd=pfd, name=base)
        else:
            raise LayerError(raw, f"unsupported tar entry type {ti.type!r}")

    def _special(self, parts, raw):
        base, dirparts = parts[-1], parts[:-1]
        if base == OPAQUE_MARKER:
            fd = self._dir(dirparts, raw)
            os.setxattr(fd, OPAQUE_XATTR, b"y")
            self.stats.opaque += 1
            return
        if base.startswith(WHITEOUT_PREFIX * 2):
            return   # aufs metadata (.wh..wh.plnk and friends): nothing to do
        name = base[len(WHITEOUT_PREFIX):]
        if name in ("", ".", ".."):
            raise LayerError(raw, "whiteout of no name")
        pfd = self._dir(dirparts, raw)
        if fs.exists(pfd, name):
            return   # this layer has NAME itself: a whiteout only hides lower layers
        os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=pfd)
        self.whiteouts.add(dirparts + (name,))
        self.stats.whiteouts += 1

    def _mkdir(self, ti, raw, parts, pfd):
        base = parts[-1]
        verdict = self._create(lambda: os.mkdir(base, 0o700, dir_fd=pfd), pfd, base, parts,
                               keep_dir=True)
        fd = self._dir(parts, raw)
        self._meta(ti, raw, fd=fd)
        if verdict is True:   # made over a whiteout of this layer: hides the lower one
            os.setxattr(fd, OPAQUE_XATTR, b"y")
            self.stats.opaque += 1
        self.dir_times.append((parts, _mtime_ns(ti)))
        self.stats.dirs += 1

    def _file(self, ti, raw, parts, pfd):
        base = parts[-1]
        if ti.offset_data + ti.size > self.size:
            raise LayerError(raw, f"declares {ti.size} bytes, but the layer ends "
                                  f"{max(self.size - ti.offset_data, 0)} bytes later")
        box = []
        self._create(lambda: box.append(os.open(base, _NEW_FILE, 0o600, dir_fd=pfd)),
                     pfd, base, parts)
        fd = box[0]
        try:
            self.copy(fd, ti.offset_data, ti.size, raw)
            self._meta(ti, raw, fd=fd)
        finally:
            os.close(fd)
        self.stats.files += 1
        self.stats.bytes += ti.size

    def _hardlink(self, ti, raw, parts, pfd):
        target = ti.linkname
        if not target:
            raise LayerError(raw, "hard link with an empty target")
        try:
            tparts = split_name(target)
        except LayerError as e:
            raise LayerError(raw, f"hard link target {target!r}: {e.why}") from None
        if not tparts:
            raise LayerError(raw, "hard link to the layer root")
        base = parts[-1]
        if tparts == parts:
            raise LayerError(raw, "hard link to itself")
        # The target's parent, walked without following anything; our own
        # parent may then need reopening, so it is walked again after.
        tfd = self._dir(tparts[:-1], raw, create=False)
        try:
            st = os.stat(tparts[-1], dir_fd=tfd, follow_symlinks=False)
        except FileNotFoundError:
            raise LayerError(raw, f"hard link target {target!r} is not in the layer") from None
        if stat.S_ISDIR(st.st_mode):
            raise LayerError(raw, f"hard link to directory {target!r}")
        tfd = os.dup(tfd)
        try:
            pfd = self._dir(parts[:-1], raw)
            self._create(lambda: os.link(tparts[-1], base, src_dir_fd=tfd, dst_dir_fd=pfd,
                                         follow_symlinks=False), pfd, base, parts)
        finally:
            os.close(tfd)
        self.stats.links += 1

    # -- data --------------------------------------------------------------
    def _copy_range(self, dst, offset, size, raw):
        left = size
        while left:
            try:
                n = os.copy_file_range(self.src, dst, min(left, _CHUNK), offset)
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                self.copy = self._copy_plain
                return self._copy_plain(dst, offset, left, raw)
            if n == 0:
                raise LayerError(raw, "the layer ends inside this file")
            offset += n
            left -= n

    def _copy_plain(self, dst, offset, size, raw):
        left = size
        while left:
            data = os.pread(self.src, min(left, 1 << 20), offset)
            if not data:
                raise LayerError(raw, "the layer ends inside this file")
            fs.write_all(dst, data)
            offset += len(data)
            left -= len(data)

    # -- the end -----------------------------------------------------------
    def finish(self, end):
        self._check_trailer(end)
        for parts, mt in self.dir_times:
            try:
                pfd = self._dir(parts[:-1], None, create=False)
                os.utime(parts[-1], ns=(mt, mt), dir_fd=pfd, follow_symlinks=False)
            except (LayerError, FileNotFoundError):
                pass   # replaced or removed by a later entry
        self._close_chain(0)
        ti = self.root_meta
        if ti is not None:
            self._meta(ti, ".", fd=self.root)
            mt = _mtime_ns(ti)
            os.utime(self.root, ns=(mt, mt))
        else:
            os.fchmod(self.root, 0o755)

    def _check_trailer(self, end):
        """After the end-of-archive block only zero bytes may follow."""
        offset = end
        while offset < self.size:
            data = os.pread(self.src, min(self.size - offset, 1 << 20), offset)
            if not data:
                break
            if data.count(0) != len(data):
                at = offset + len(data) - len(data.lstrip(b"\0"))
                raise LayerError(None, f"damaged tar header or data after the last entry "
                                       f"(at byte {at})")
            offset += len(data)


def unpack(tar_fd, parent_fd, name):
    """Unpacks the uncompressed tar open on tar_fd (a regular file) into a
    new directory `name` of parent_fd; returns Stats. On any error the
    directory is removed and the error raised (LayerError when the layer is
    at fault, naming the entry)."""
    from launcher.images.tarscan import Reader, TarError
    size = os.fstat(tar_fd).st_size
    os.mkdir(name, 0o700, dir_fd=parent_fd)
    try:
        root = fs.open_dir(name, parent_fd)
        u = _Unpacker(root, tar_fd, size)
        try:
            reader = Reader(tar_fd, size)
            try:
                for ti in reader:
                    try:
                        u.entry(ti)
                    except OSError as e:
                        if e.errno in _NOT_THE_LAYERS_FAULT:
                            raise LauncherError(f"cannot unpack entry {ti.name!r}: "
                                                f"{e.strerror}") from None
                        raise LayerError(ti.name, e.strerror or str(e)) from None
            except TarError as e:
                raise LayerError(None, f"invalid tar: {e}") from None
            try:
                u.finish(reader.end)
            except OSError as e:
                raise LayerError(None, e.strerror or str(e)) from None
        finally:
            u._close_chain(0)
            os.close(root)
        return u.stats
    except BaseException:
        fs.remove_tree(parent_fd, name)
        raise
