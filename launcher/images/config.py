"""An image as the launcher runs it: its config as plain data, and the
layer directories to stack with overlayfs."""
import re

from launcher.errors import LauncherError


def _strings(value, what, allow_none=True):
    if value is None and allow_none:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LauncherError(f"image config: {what} must be a list of strings")
    return tuple(value)


def _string(value, what):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise LauncherError(f"image config: {what} must be a string")
    return value


class ImageConfig:
    """The parts of an OCI image config a container runtime uses:
    entrypoint and cmd (tuples or None), env (tuple of "K=V"), workdir,
    user, labels, stop_signal, exposed_ports, and the platform."""

    __slots__ = ("entrypoint", "cmd", "env", "workdir", "user", "labels", "stop_signal",
                 "exposed_ports", "os", "architecture", "variant", "created")

    def __init__(self, doc):
        if not isinstance(doc, dict):
            raise LauncherError("image config: not a JSON object")
        c = doc.get("config") or {}
        if not isinstance(c, dict):
            raise LauncherError("image config: config must be an object")
        self.entrypoint = _strings(c.get("Entrypoint"), "Entrypoint")
        self.cmd = _strings(c.get("Cmd"), "Cmd")
        self.env = _strings(c.get("Env") or [], "Env")
        self.workdir = _string(c.get("WorkingDir"), "WorkingDir")
        self.user = _string(c.get("User"), "User")
        labels = c.get("Labels") or {}
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise LauncherError("image config: Labels must map strings to strings")
        self.labels = dict(labels)
        self.stop_signal = _string(c.get("StopSignal"), "StopSignal")
        ports = c.get("ExposedPorts") or {}
        self.exposed_ports = tuple(sorted(ports)) if isinstance(ports, dict) else ()
        self.os = _string(doc.get("os"), "os")
        self.architecture = _string(doc.get("architecture"), "architecture")
        self.variant = _string(doc.get("variant"), "variant")
        self.created = _string(doc.get("created"), "created")

    @property
    def platform(self):
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")

    def argv(self, command=None, args=None):
        """The process a container runs, by Kubernetes' rule: `command`
        replaces the Entrypoint (and then the image's Cmd is not used),
        `args` replaces the Cmd."""
        if command:
            return list(command) + list(args or [])
        return list(self.entrypoint or []) + list(args if args is not None else self.cmd or [])

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


def created_unix(text):
    """Seconds since the epoch of an RFC 3339 time (the config's
    `created`), or 0 when absent or unreadable."""
    import datetime
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?\Z", text or "")
    if not m:
        return 0
    frac = (m.group(2) or ".0")[:7]
    tz = m.group(3) or "Z"
    tz = "+00:00" if tz == "Z" else tz
    try:
        return datetime.datetime.fromisoformat(m.group(1) + frac + tz).timestamp()
    except ValueError:
        return 0


def _escape(path):
    # overlayfs splits lowerdir on ':' and mount options on ','
    return path.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


class Image:
    """An image in the store. `layers` are the unpacked layer directories,
    LOWEST FIRST (the base layer is layers[0]); lowerdir() gives them in
    overlayfs' order, topmost first. `id` is the config's sha256 (64 hex,
    podman's IMAGE ID), `digest` the manifest's ("sha256:...")."""

    __slots__ = ("id", "digest", "names", "config", "layers", "size")

    def __init__(self, image_id, digest, names, config, layers, size):
        self.id, self.digest, self.names, self.config, self.layers, self.size = \
            image_id, digest, tuple(names), config, tuple(layers), size

    def lowerdir(self):
        """The lowerdir= value for overlayfs: topmost layer first, each path
        escaped for the mount option syntax."""
        return ":".join(_escape(p) for p in reversed(self.layers))

    def __repr__(self):
        return f"Image({self.id[:12]}, {list(self.names)!r})"
