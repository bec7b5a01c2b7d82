"""--env-file FILE of `run` and `exec`: environment variables from a file,
read as podman and docker read one.

Each line is `KEY=VALUE` (the value is taken as it is: no quotes are
removed, nothing is expanded) or `KEY` alone (the launcher's own value of
KEY, if it has one); leading white space and a CR before the newline are
dropped, and blank lines and lines starting with `#` are skipped. A file
is at most MAX_BYTES of UTF-8 without NUL bytes; anything else is one line
naming the file (and the line) and exit 125.
"""
import os

from launcher.commands.common import env_item
from launcher.errors import LauncherError
from launcher.spec import quote

MAX_BYTES = 1 << 20   # a MiB of variables (the kernel takes at most 2 MiB of argv and env)


def read(path):
    """[(KEY, VALUE or None)] of the env file at path, in file order."""
    what = f"--env-file {quote(path)}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise LauncherError(f"{what}: {e.strerror}") from None
    try:
        data = _read_bounded(fd, what)
    finally:
        os.close(fd)
    out = []
    for n, raw in enumerate(data.split(b"\n"), 1):
        if b"\0" in raw:
            raise LauncherError(f"{what}: line {n} holds a NUL byte")
        try:
            line = raw.removesuffix(b"\r").decode("utf-8").lstrip()
        except UnicodeDecodeError:
            raise LauncherError(f"{what}: line {n} is not UTF-8") from None
        if line and not line.startswith("#"):
            out.append(env_item(line, f"{what} line {n}"))
    return out


def _read_bounded(fd, what):
    """At most MAX_BYTES from fd (a pipe or /dev/zero too, never a read
    without end)."""
    chunks, total = [], 0
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError as e:   # a directory: EISDIR
            raise LauncherError(f"{what}: {e.strerror}") from None
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > MAX_BYTES:
            raise LauncherError(f"{what}: larger than {MAX_BYTES >> 20} MiB")
        chunks.append(chunk)
