"""The versioned records the launcher keeps: the pod record (pod.json) and
a detached supervisor's state (supervisor.json). Plain data only, as JSON,
with a `version` and a `kind`, so an upgraded launcher can read what an
older one wrote, and refuses clearly what it cannot read. Nothing is ever
unpickled or evaluated.
"""
from launcher.errors import LauncherError
from launcher.store import jsonfmt

VERSION = 1
POD = "pod"
SUPERVISOR = "supervisor-state"


class BadRecord(LauncherError):
    """A record that cannot be used: unreadable, not JSON, the wrong kind,
    or a version this launcher does not know. `corrupt` is False only for
    a well-formed record of an unknown version."""

    def __init__(self, message, corrupt=True):
        super().__init__(message)
        self.corrupt = corrupt


def encode(kind, data):
    """The bytes of a record: {"version", "kind", ...data}."""
    return (jsonfmt.dumps({"version": VERSION, "kind": kind, **data}) + "\n").encode()


def decode(kind, raw, where):
    """The data of a record read from `where` (for messages); BadRecord if
    it is not a version-VERSION record of `kind`."""
    try:
        data = jsonfmt.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRecord(f"{where}: corrupt (not JSON)") from None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise BadRecord(f"{where}: corrupt (not a {kind} record)")
    version = data.get("version")
    if version != VERSION:
        raise BadRecord(f"{where}: record version {version!r} is not supported by this "
                        f"launcher (it reads version {VERSION})", corrupt=False)
    return data
