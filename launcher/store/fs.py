"""File operations for state the launcher keeps as root, safe against a
planted symlink and against a full disk.

Everything is relative to a directory fd (openat and friends, through the
`dir_fd` arguments of the os module), every open uses O_NOFOLLOW, a file that
must be new is created with O_EXCL, and every write is complete: write_all()
loops over short writes, write_atomic() writes a temp file and renames it
into place, so a crash of the writer or ENOSPC leaves the old file or the
new one, never a truncated one. With sync=True (the default) the file and
the directory are fsynced too, so a power loss does not either: the image
store and the network records want that; the pod store's runtime state
does not (launcher/store/pods.py says why). Errors are OSError; callers
turn them into LauncherError with the path they know.
"""
import os
import stat

O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
O_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
TMP_MARK = ".tmp"          # write_atomic's temp files: NAME.tmp<pid>


def open_dir(name, dir_fd=None):
    """An fd on directory `name` (relative to dir_fd), never through a
    symlink in its last component (ELOOP, or ENOTDIR for a non-directory)."""
    return os.open(name, O_DIR, dir_fd=dir_fd)


def make_dir(name, dir_fd, mode=0o700):
    """Creates directory `name` in dir_fd (it must not exist) and returns an
    fd on it."""
    os.mkdir(name, mode, dir_fd=dir_fd)
    return open_dir(name, dir_fd)


def write_all(fd, data):
    """Writes all of data to fd, looping over short writes."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def fsync_dir(dir_fd):
    """Makes a directory's entries (a rename, a new file) durable."""
    os.fsync(dir_fd)


def write_new(dir_fd, name, data=b"", mode=0o600, sync=True):
    """Creates file `name` (which must not exist) holding data (fsynced
    with sync)."""
    fd = os.open(name, O_NEW, mode, dir_fd=dir_fd)
    try:
        write_all(fd, _bytes(data))
        if sync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(dir_fd, name)
        raise
    os.close(fd)


def write_atomic(dir_fd, name, data, mode=0o600, sync=True):
    """Replaces file `name` in dir_fd with data: temp file (O_EXCL), full
    write, fsync (with sync), rename over `name`, fsync of the directory
    (with sync). On any failure (ENOSPC included) the temp file is removed
    and `name` is untouched."""
    tmp = f"{name}{TMP_MARK}{os.getpid()}"
    _unlink_quietly(dir_fd, tmp)   # left by an earlier holder of our pid
    fd = os.open(tmp, O_NEW, mode, dir_fd=dir_fd)
    try:
        write_all(fd, _bytes(data))
        if sync:
            os.fsync(fd)
        os.close(fd)
        fd = -1
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        _unlink_quietly(dir_fd, tmp)
        raise
    if sync:
        fsync_dir(dir_fd)


def read(dir_fd, name, limit=16 << 20):
    """The bytes of regular file `name` (not through a symlink); OSError
    EFBIG if it is larger than limit, so a planted huge file cannot eat the
    launcher's memory."""
    fd = os.open(name, O_READ, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(27, "not a regular file", name)
        if st.st_size > limit:
            raise OSError(27, f"larger than {limit} bytes", name)   # EFBIG
        chunks, left = [], limit + 1
        while left > 0:
            b = os.read(fd, min(left, 1 << 20))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        data = b"".join(chunks)
        if len(data) > limit:
            raise OSError(27, f"larger than {limit} bytes", name)
        return data
    finally:
        os.close(fd)


def open_append(dir_fd, name, mode=0o600):
    """An O_APPEND fd on file `name` (created if missing), not through a symlink."""
    return os.open(name, O_APPEND, mode, dir_fd=dir_fd)


def exists(dir_fd, name):
    """True if `name` exists in dir_fd (a symlink counts, it is not followed)."""
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False


def remove_tree(dir_fd, name):
    """Removes `name` from dir_fd and, if it is a real directory, everything
    below it, without ever following a symlink: a symlink is unlinked
    itself, its target is never touched. Mount points must have been
    detached first (rmdir fails with EBUSY otherwise). Missing is fine."""
    try:
        fd = open_dir(name, dir_fd)
    except FileNotFoundError:
        return
    except OSError:   # a symlink (ELOOP), a file (ENOTDIR): just the entry
        _unlink_quietly(dir_fd, name)
        return
    try:
        for entry in os.listdir(fd):
            remove_tree(fd, entry)
    finally:
        os.close(fd)
    try:
        os.rmdir(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def _unlink_quietly(dir_fd, name):
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def _bytes(data):
    return data.encode() if isinstance(data, str) else data
