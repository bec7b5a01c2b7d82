"""The field checks of manifest parsing: each takes a value and its field
path, returns the checked value or raises ManifestError naming the path."""
import re

from launcher.errors import LauncherError
from launcher.spec import check_name

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\Z")       # DNS-1123 subdomain
_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?\Z")


class ManifestError(LauncherError):
    """A manifest that cannot be run; the message is one line for the user."""


def strings(value, path):
    """command/args: a list of strings (a bare string is a common mistake)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ManifestError(f"{path}: expected a list of strings, got {kind(value)}")
    for i, s in enumerate(value):
        if not isinstance(s, str):
            raise ManifestError(f"{path}[{i}]: expected a string, got {kind(s)} (quote it)")
        if "\0" in s:
            raise ManifestError(f"{path}[{i}]: NUL character")
    return list(value)


def labels(value, path):
    """metadata.labels: Kubernetes label keys (optional DNS prefix + '/')
    and string values of at most 63 characters."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ManifestError(f"{path}: expected a mapping, got {kind(value)}")
    for k, v in value.items():
        if not isinstance(k, str):
            raise ManifestError(f"{path}: invalid label key {show(k)}")
        prefix, _, name = k.rpartition("/")
        if (not name or not _LABEL_NAME.match(name)
                or (prefix and not _SUBDOMAIN.match(prefix)) or (not prefix and "/" in k)):
            raise ManifestError(f"{path}.{pathkey(k)}: invalid label key")
        if not isinstance(v, str) or not _LABEL_NAME.match(v):
            raise ManifestError(f"{path}.{pathkey(k)}: invalid label value {show(v)} "
                                "(a string of at most 63 letters, digits, '-', '_', '.')")
    return dict(value)


def name(value, path, what, required=False):
    """A DNS-1123 label: pod, host and container names (the pod name is also
    the hostname, so a dotted subdomain is not accepted)."""
    if value is None and required:
        raise ManifestError(f"{path}: required")
    try:
        check_name(what, value)
    except LauncherError as e:
        raise ManifestError(f"{path}: {e}") from None
    return value


def boolean(value, path):
    if not isinstance(value, bool):
        raise ManifestError(f"{path}: expected true or false, got {show(value)}")
    return value


def integer(value, path, lo, hi):
    """An int within [lo, hi] (YAML booleans are not numbers)."""
    if type(value) is not int or not lo <= value <= hi:
        raise ManifestError(f"{path}: expected an integer from {lo} to {hi}, got {show(value)}")
    return value


def mapping(value, path, required=False):
    if value is None and required:
        raise ManifestError(f"{path}: required")
    if not isinstance(value, dict):
        raise ManifestError(f"{path}: expected a mapping, got {kind(value)}")
    return value


def only(m, allowed, path):
    """Refuses the first key not in `allowed`, naming its full path."""
    for key in m:
        if key not in allowed:
            where = f"{path}.{pathkey(key)}" if path else pathkey(key)
            raise ManifestError(f"{where}: unknown or unsupported field (supported here: "
                                f"{', '.join(allowed)})")


def pathkey(key):
    """A key as shown in a field path: short plain strings as they are."""
    if isinstance(key, str) and key.isprintable() and len(key) <= 80:
        return key
    return "[" + show(key) + "]" if key is not None else "[null]"


def kind(value):
    """What a YAML value is, in YAML's words, for error messages."""
    if value is None:
        return "nothing (null)"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), f"a {type(value).__name__}")


def show(value, limit=60):
    """A short one-line rendering of a scalar for messages."""
    if value is None:
        return "missing"
    if isinstance(value, (dict, list, set)):
        return kind(value)
    try:
        text = repr(value)
    except ValueError:   # an int too long to print
        return kind(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def oneline(text):
    return " ".join(str(text).split())


def wrap(call, *args):
    """Runs a validator of another module, its LauncherError as a ManifestError."""
    try:
        return call(*args)
    except ManifestError:
        raise
    except LauncherError as e:
        raise ManifestError(str(e)) from None
