"""Reading and writing cgroup files and directories: every open is O_NOFOLLOW
and O_CLOEXEC, every value goes in one write(2) (a cgroup file parses each
write on its own), and failures become one LauncherError naming the file and
the errno's text. Paths are absolute, built by layout.py from detected
mounts."""
import os

from launcher.errors import LauncherError

O_WRITE = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


def failure(what, path, exc):
    """The LauncherError for an OSError met while doing `what` on `path`."""
    return LauncherError(f"cgroups: cannot {what} {path}: {exc.strerror or exc}")


def write(path, value):
    """Writes value (str) to cgroup file `path` in one write; OSError as is."""
    data = value.encode()
    fd = os.open(path, O_WRITE)
    try:
        if os.write(fd, data) != len(data):
            raise OSError(5, "short write to a cgroup file", path)   # EIO
    finally:
        os.close(fd)


def set_value(path, value):
    """write() with failures as LauncherError."""
    try:
        write(path, value)
    except OSError as e:
        raise failure(f"write {value!r} to", path, e) from None


def read(path):
    """The text of cgroup file `path` (OSError as is)."""
    fd = os.open(path, O_READ)
    try:
        chunks = []
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks).decode()
    finally:
        os.close(fd)


def read_or_none(path):
    """read(), or None when the file (or its cgroup) does not exist."""
    try:
        return read(path)
    except FileNotFoundError:
        return None


def read_int(path):
    """A file holding one integer, or 'max' (None); None if missing too."""
    text = read_or_none(path)
    if text is None:
        return None
    text = text.split()[0] if text.split() else ""
    return None if text == "max" else int(text)


def read_keyed(path):
    """A flat-keyed file ('key value' lines: memory.events, cpu.stat,
    memory.oom_control) as {key: int}; {} if missing."""
    text = read_or_none(path)
    out = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def pids(path):
    """The pids in a cgroup.procs file; [] if the cgroup is gone."""
    text = read_or_none(path)
    return [int(p) for p in (text or "").split()]


def make_dir(path):
    """mkdir; True if made, False if it was there already (as a directory)."""
    try:
        os.mkdir(path, 0o755)
        return True
    except FileExistsError:
        if not os.path.isdir(path) or os.path.islink(path):
            raise LauncherError(f"cgroups: {path} exists and is not a cgroup directory") from None
        return False
    except OSError as e:
        raise failure("create", path, e) from None


def subdirs(path, missing=()):
    """The child cgroups' names of a cgroup directory; `missing` if it is gone."""
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return missing


def walk_up(path):
    """Every cgroup directory at and below `path`, deepest first."""
    out = []
    for name in subdirs(path):
        out.extend(walk_up(os.path.join(path, name)))
    if os.path.isdir(path):
        out.append(path)
    return out
