"""The one place that runs skopeo.

`copy(source, dest)` runs `skopeo copy --dest-decompress SRC dir:DEST`
for the host's platform (or the one asked for), bounded in time, and turns
skopeo's fatal message into one line (`registry docker.io cannot be reached:
connection refused`, `no image for platform linux/amd64 in the index of
...`). Why dir: and not oci: as the destination: dir: keeps the source's
manifest and config byte for byte (oci: converts a docker manifest and
re-serializes the config, so the image id would change), and with
--dest-decompress it writes every layer as a plain tar, whatever the
source's compression (gzip, zstd...), where oci: would gzip uncompressed
layers again. Signatures are not copied: the system's policy.json still
decides whether the source is accepted.
"""
import os
import re
import subprocess

from launcher.errors import LauncherError
from launcher.images import platform as plat

DEFAULT_TIMEOUT = 600   # seconds for one copy; a registry pull of a big image is slow
_MSG = re.compile(r'level=(?:fatal|error) msg="((?:[^"\\]|\\.)*)"')


def copy(source, dest, platform=None, timeout=DEFAULT_TIMEOUT):
    """Copies `source` (a reference.Source) into the new directory `dest`
    (dir: layout). LauncherError on any failure, one line."""
    start(source, dest, platform, timeout).wait()


class Copy:
    """A running `skopeo copy`; wait() returns when it is done or raises
    LauncherError (one line). The caller may work meanwhile."""

    def __init__(self, source, platform, timeout, proc):
        self.source, self.platform, self.timeout, self.proc = source, platform, timeout, proc

    def wait(self):
        try:
            _, err = self.proc.communicate(timeout=self.timeout + 10)
        except subprocess.TimeoutExpired:
            self.kill()
            raise LauncherError(f"pulling {self.source.text!r} timed out after "
                                f"{int(self.timeout)} s") from None
        if self.proc.returncode != 0:
            raise LauncherError(explain(err, self.source, self.platform, self.timeout))

    def kill(self):
        self.proc.kill()
        self.proc.communicate()


def start(source, dest, platform=None, timeout=DEFAULT_TIMEOUT):
    """Starts the copy of copy(); returns a Copy to wait() for. skopeo's own
    temp files go to a skopeo-tmp dir next to dest."""
    platform = platform or plat.host()
    os_, arch, variant = plat.parse(platform)
    argv = ["skopeo", "--command-timeout", f"{int(timeout)}s", "--override-os", os_,
            "--override-arch", arch]
    if variant:
        argv += ["--override-variant", variant]
    argv += ["copy", "--quiet", "--dest-decompress", "--remove-signatures",
             source.skopeo_arg(), f"dir:{dest}"]
    # skopeo extracts archives into $TMPDIR (default /var/tmp) and leaves its
    # temp dir behind when it fails or is killed: keep it inside our work dir.
    tmp = os.path.join(os.path.dirname(dest), "skopeo-tmp")
    os.makedirs(tmp, mode=0o700, exist_ok=True)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, errors="replace",
                                env=dict(os.environ, TMPDIR=tmp))
    except FileNotFoundError:
        raise LauncherError("skopeo is not installed (apt-get install skopeo)") from None
    return Copy(source, platform, timeout, proc)


def _unescape(s):
    return re.sub(r'\\(.)', r'\1', s)


def explain(stderr, source, platform, timeout=DEFAULT_TIMEOUT):
    """One line out of skopeo's stderr for a failed copy of `source`."""
    m = None
    for m in _MSG.finditer(stderr):
        pass
    msg = _unescape(m.group(1)) if m else (stderr.strip().splitlines() or ["no output"])[-1]
    what = source.text
    ping = re.search(r"pinging container registry ([^:\s]+(?::\d+)?): (.*)", msg)
    if ping:
        reason = ping.group(2).rsplit(": ", 1)[-1]
        if "deadline exceeded" in msg or "timeout" in reason:
            reason = "timed out"
        return f"registry {ping.group(1)} cannot be reached: {reason} (pulling {what!r})"
    if "no image found in" in msg and ("manifest list" in msg or "image index" in msg):
        return f"no image for platform {platform} in the index of {what!r}"
    if "context deadline exceeded" in msg:
        return f"pulling {what!r} timed out after {int(timeout)} s"
    d = re.search(r'no descriptor found for reference "([^"]*)"', msg)
    if d:
        return f"no image named {d.group(1)!r} in the OCI layout {source.path!r}"
    t = re.search(r'Tag "([^"]*)" not found', msg)
    if t:
        return f"no image {t.group(1)!r} in the archive {source.path!r}"
    if "does not resolve to an image ID" in msg or "identifier is not an image" in msg:
        return f"no image {str(source.ref or source.within)!r} in containers-storage"
    if "manifest unknown" in msg or "name unknown" in msg:
        return f"image {str(source.ref)!r} not found in its registry"
    if "unauthorized" in msg or "denied" in msg:
        return f"the registry refused {str(source.ref)!r} (unauthorized: it may not exist, " \
               f"or need a login)"
    nf = re.search(r"(?:open|stat|lstat) ([^:]+): no such file or directory", msg)
    if nf:
        return f"{nf.group(1)!r}: no such file or directory (pulling {what!r})"
    if "invalid tar header" in msg or "archive/tar" in msg:
        return f"{source.path or what!r} is not a valid image archive: " \
               f"{msg.rsplit(': ', 1)[-1]}"
    msg = re.sub(r"^(initializing source|reading manifest|choosing an image from manifest "
                 r"list) [^:]*(?::[^:\s]*)*: ", "", msg)
    return f"skopeo cannot copy {what!r}: {' '.join(msg.split())[:400]}"


def available():
    """True if skopeo is on PATH."""
    return any(os.access(os.path.join(d, "skopeo"), os.X_OK)
               for d in os.environ.get("PATH", "/usr/bin").split(os.pathsep) if d)
