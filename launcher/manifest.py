"""Kubernetes Pod manifests for `launcher play`: YAML text in, a PodManifest out.

Only a `v1` `Pod` is accepted, and only the fields listed in issue 4; any
other field is refused with its full path (`spec.containers[1].ports`), so a
manifest never silently means less than it says. `image` is the one
exception: accepted, ignored (containers run host binaries) and reported in
the returned warnings. Every problem raises ManifestError (a LauncherError:
the CLI prints `launcher: <message>` and exits 125); no other exception
escapes, whatever the input (hypothesis checks this).

Kubernetes semantics kept: `command` replaces the entrypoint and `args` are
appended; `$(VAR)` in command, args and env values expands from the
container's `env` (a value sees only the variables listed before it), `$$`
is a literal `$`, and an unresolved reference stays as written. PyYAML is
imported here, inside load_text(), so `launcher run` never pays for it.
"""
import re
from dataclasses import dataclass, field

from launcher.errors import LauncherError
from launcher.spec import MANIFEST_DEFAULT_GRACE as DEFAULT_GRACE_SECONDS
from launcher.spec import MANIFEST_DEFAULT_RESTART as DEFAULT_RESTART_POLICY
from launcher.spec import MAX_GRACE, RESTART_POLICIES, check_name

# $(VAR) expansion can double a value at every variable (a 720-byte manifest
# grew to 1.1 GB): one expanded string may not exceed what execve takes for
# one argument (MAX_ARG_STRLEN), nor a container's all together its ARG_MAX.
MAX_EXPANDED = 128 << 10
MAX_CONTAINER_EXPANDED = 1 << 20
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\Z")       # DNS-1123 subdomain
_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?\Z")
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*\Z")                  # Kubernetes' rule

_TOP_FIELDS = ("apiVersion", "kind", "metadata", "spec")
_METADATA_FIELDS = ("name", "labels")
_SPEC_FIELDS = ("shareProcessNamespace", "hostname", "restartPolicy",
                "terminationGracePeriodSeconds", "initContainers", "containers")
_CONTAINER_FIELDS = ("name", "image", "command", "args", "env", "workingDir", "resources")
_ENV_FIELDS = ("name", "value")


class ManifestError(LauncherError):
    """A manifest that cannot be run; the message is one line for the user."""


@dataclass(frozen=True)
class ContainerManifest:
    """One container: its name, the final argv (command + args, `$(VAR)`
    expanded), its environment as ordered (name, value) pairs (expanded,
    last definition of a name wins), and its working directory or None."""
    name: str
    argv: tuple
    env: tuple = ()
    working_dir: str = None
    resources: dict = None


@dataclass(frozen=True)
class PodManifest:
    """A pod as the launcher needs it. hostname is None when the manifest
    sets none (the pod name is then the hostname, as in Kubernetes)."""
    name: str
    labels: dict = field(default_factory=dict)
    share_pid: bool = False
    hostname: str = None
    restart_policy: str = DEFAULT_RESTART_POLICY
    grace_seconds: int = DEFAULT_GRACE_SECONDS
    init_containers: tuple = ()
    containers: tuple = ()


def load(source, stdin=None):
    """Reads a manifest from a file path, or from `stdin` (default
    sys.stdin) when source is '-'; returns (PodManifest, warnings)."""
    try:
        if source == "-":
            if stdin is None:
                import sys
                stdin = sys.stdin
            text = stdin.read()
        else:
            with open(source, encoding="utf-8") as f:
                text = f.read()
    except UnicodeDecodeError:
        raise ManifestError(f"{source}: not YAML (not UTF-8 text)") from None
    except OSError as e:
        raise ManifestError(f"cannot read {source}: {e.strerror or e}") from None
    return load_text(text, source)


def load_text(text, source="manifest"):
    """Parses YAML text into (PodManifest, warnings); warnings is a list of
    lines (at most one: the ignored images) for the CLI to print."""
    doc = _yaml_load(text, source)
    return parse(doc)


def parse(doc):
    """Checks an already-loaded document (plain dicts/lists/scalars) and
    returns (PodManifest, warnings)."""
    if not isinstance(doc, dict):
        raise ManifestError(f"not a Pod manifest: expected a mapping, got {_kind(doc)}")
    kind = doc.get("kind")
    if kind != "Pod":
        raise ManifestError(f"not a Pod: kind is {_show(kind)}; only `kind: Pod` is "
                            "supported (no List, Deployment, Job, ...)")
    if doc.get("apiVersion") != "v1":
        raise ManifestError(f"apiVersion {_show(doc.get('apiVersion'))} is not supported: "
                            "a Pod is `apiVersion: v1`")
    _only(doc, _TOP_FIELDS, "")
    meta = _mapping(doc.get("metadata"), "metadata", required=True)
    _only(meta, _METADATA_FIELDS, "metadata")
    name = _name(meta.get("name"), "metadata.name", "pod", required=True)
    labels = _labels(meta.get("labels"), "metadata.labels")
    spec = _mapping(doc.get("spec"), "spec", required=True)
    _only(spec, _SPEC_FIELDS, "spec")
    share_pid = _bool(spec.get("shareProcessNamespace", False), "spec.shareProcessNamespace")
    hostname = spec.get("hostname")
    if hostname is not None:
        hostname = _name(hostname, "spec.hostname", "host")
    policy = spec.get("restartPolicy", DEFAULT_RESTART_POLICY)
    if policy not in RESTART_POLICIES:
        raise ManifestError(f"spec.restartPolicy: {_show(policy)} is not one of "
                            f"{', '.join(RESTART_POLICIES)}")
    grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
    if type(grace) is not int or not 0 <= grace <= MAX_GRACE:
        raise ManifestError("spec.terminationGracePeriodSeconds: expected an integer "
                            f"from 0 to {MAX_GRACE:g}, got {_show(grace)}")
    images = []
    inits = _containers(spec.get("initContainers"), "spec.initContainers", images,
                        required=False)
    ctrs = _containers(spec.get("containers"), "spec.containers", images, required=True)
    seen = set()
    for c in inits + ctrs:
        if c.name in seen:
            raise ManifestError(f"duplicate container name {c.name!r} "
                                "(init containers included)")
        seen.add(c.name)
    warnings = []
    if images:
        warnings.append(f"image ignored for container{'s' if len(images) > 1 else ''} "
                        f"{', '.join(images)}: containers run host binaries")
    return (PodManifest(name=name, labels=labels, share_pid=share_pid, hostname=hostname,
                        restart_policy=policy, grace_seconds=grace,
                        init_containers=tuple(inits), containers=tuple(ctrs)),
            warnings)


def expand(text, env, limit=MAX_EXPANDED, where="value"):
    """Kubernetes' `$(VAR)` expansion (third_party/forked/golang/expansion):
    `$(NAME)` becomes env[NAME] when NAME is defined, else stays as written;
    `$$` becomes `$`; a `$` before anything else, or an unclosed `$(`, is
    kept literally. A result longer than `limit` characters is a
    ManifestError naming `where`, raised as soon as it is known (the output
    is never built past the limit)."""
    out = []
    size = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 == n:
            piece, i = ch, i + 1
        else:
            nxt = text[i + 1]
            if nxt == "$":
                piece, i = "$", i + 2
            elif nxt == "(":
                close = text.find(")", i + 2)
                if close < 0:
                    piece, i = "$(", i + 2
                else:
                    var = text[i + 2:close]
                    piece = env[var] if var in env else "$(" + var + ")"
                    i = close + 1
            else:
                piece, i = "$" + nxt, i + 2
        size += len(piece)
        if size > limit:
            raise ManifestError(f"{where}: expands to more than {limit // 1024} KiB "
                                "(nested $(VAR) references)")
        out.append(piece)
    return "".join(out)


# --- the pieces -----------------------------------------------------------

def _yaml_load(text, source):
    """One YAML document with the safe loader; every loader failure becomes
    a ManifestError (PyYAML also raises ValueError on impossible dates,
    RecursionError on very deep nesting, and so on)."""
    import yaml
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ManifestError(f"{source}: not YAML (not UTF-8 text)") from None
    try:
        return yaml.load(text, Loader=_strict_loader(yaml))
    except yaml.MarkedYAMLError as e:
        where = f" (line {e.problem_mark.line + 1})" if e.problem_mark else ""
        what = e.problem or e.context or "syntax error"
        raise ManifestError(f"{source}: not YAML: {_oneline(what)}{where}") from None
    except RecursionError:
        raise ManifestError(f"{source}: not YAML we accept: nested too deeply") from None
    except Exception as e:   # the loader's other failures (dates, numbers, ...)
        raise ManifestError(f"{source}: not YAML: {_oneline(str(e)) or type(e).__name__}") \
            from None


_LOADER = []


def _strict_loader(yaml):
    """A SafeLoader that refuses a key given twice in one mapping (plain
    PyYAML silently keeps the last one; kubectl refuses it too)."""
    if _LOADER:
        return _LOADER[0]

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    key = (key_node.tag, key_node.value)
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {key_node.value!r}",
                            key_node.start_mark)
                    seen.add(key)
            return super().construct_mapping(node, deep)

    _LOADER.append(StrictLoader)
    return StrictLoader


def _containers(value, path, images, required):
    """A list of containers at `path`; records ignored images in `images`."""
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise ManifestError(f"{path}: expected a list of containers, got {_kind(value)}")
    if required and not value:
        raise ManifestError(f"{path}: at least one container is required")
    return [_container(c, f"{path}[{i}]", images) for i, c in enumerate(value)]


def _container(value, path, images):
    """One container mapping -> ContainerManifest."""
    c = _mapping(value, path, required=True)
    _only(c, _CONTAINER_FIELDS, path)
    name = _name(c.get("name"), f"{path}.name", "container", required=True)
    if "image" in c:
        if not isinstance(c["image"], str):
            raise ManifestError(f"{path}.image: expected a string, got {_kind(c['image'])}")
        images.append(name)
    command = _strings(c.get("command"), f"{path}.command")
    args = _strings(c.get("args"), f"{path}.args")
    if not command:
        raise ManifestError(f"container {name!r} ({path}) has no command: images are not "
                            "run, so give `command:` (args are appended to it)")
    env = _env(c.get("env"), f"{path}.env")
    argv = tuple(expand(a, env, where=f"{path}.{'command' if i < len(command) else 'args'}"
                        f"[{i if i < len(command) else i - len(command)}]")
                 for i, a in enumerate(command + args))
    total = sum(map(len, argv)) + sum(len(k) + len(v) for k, v in env.items())
    if total > MAX_CONTAINER_EXPANDED:
        raise ManifestError(f"{path}: command, args and env expand to more than "
                            f"{MAX_CONTAINER_EXPANDED >> 20} MiB")
    if not argv[0]:
        raise ManifestError(f"{path}.command[0]: empty command")
    wd = c.get("workingDir")
    if wd is not None:
        if not isinstance(wd, str) or "\0" in wd:
            raise ManifestError(f"{path}.workingDir: expected a path, got {_kind(wd)}")
        if wd == "":
            wd = None
        elif not wd.startswith("/"):
            raise ManifestError(f"{path}.workingDir: {wd!r} is not an absolute path")
    res = None
    if c.get("resources") is not None:
        from launcher.cgroups import resources
        try:
            res = resources.from_manifest(c["resources"], f"{path}.resources")
        except ManifestError:
            raise
        except LauncherError as e:
            raise ManifestError(str(e)) from None
    return ContainerManifest(name=name, argv=argv, env=tuple(env.items()), working_dir=wd,
                             resources=res)


def _env(value, path):
    """The env list -> {name: expanded value}, in order; each value expands
    with the variables defined before it, as the kubelet does."""
    env = {}
    if value is None:
        return env
    if not isinstance(value, list):
        raise ManifestError(f"{path}: expected a list of {{name, value}}, got {_kind(value)}")
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        item = _mapping(item, where, required=True)
        if "valueFrom" in item:
            raise ManifestError(f"{where}.valueFrom: not supported (only `value:`)")
        _only(item, _ENV_FIELDS, where)
        name = item.get("name")
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise ManifestError(f"{where}.name: invalid variable name {_show(name)} "
                                "(letters, digits, '_', '-', '.'; not starting with a digit)")
        raw = item.get("value", "")
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            raise ManifestError(f"{where}.value: expected a string, got {_kind(raw)} "
                                "(quote it)")
        if "\0" in raw:
            raise ManifestError(f"{where}.value: NUL character")
        env[name] = expand(raw, env, where=f"{where}.value")
    return env


def _strings(value, path):
    """command/args: a list of strings (a bare string is a common mistake)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ManifestError(f"{path}: expected a list of strings, got {_kind(value)}")
    for i, s in enumerate(value):
        if not isinstance(s, str):
            raise ManifestError(f"{path}[{i}]: expected a string, got {_kind(s)} (quote it)")
        if "\0" in s:
            raise ManifestError(f"{path}[{i}]: NUL character")
    return list(value)


def _labels(value, path):
    """metadata.labels: Kubernetes label keys (optional DNS prefix + '/')
    and string values of at most 63 characters."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ManifestError(f"{path}: expected a mapping, got {_kind(value)}")
    for k, v in value.items():
        if not isinstance(k, str):
            raise ManifestError(f"{path}: invalid label key {_show(k)}")
        prefix, _, name = k.rpartition("/")
        if (not name or not _LABEL_NAME.match(name)
                or (prefix and not _SUBDOMAIN.match(prefix)) or (not prefix and "/" in k)):
            raise ManifestError(f"{path}.{_pathkey(k)}: invalid label key")
        if not isinstance(v, str) or not _LABEL_NAME.match(v):
            raise ManifestError(f"{path}.{_pathkey(k)}: invalid label value {_show(v)} "
                                "(a string of at most 63 letters, digits, '-', '_', '.')")
    return dict(value)


def _name(value, path, what, required=False):
    """A DNS-1123 label: pod, host and container names (the pod name is also
    the hostname, so a dotted subdomain is not accepted)."""
    if value is None and required:
        raise ManifestError(f"{path}: required")
    try:
        check_name(what, value)
    except LauncherError as e:
        raise ManifestError(f"{path}: {e}") from None
    return value


def _bool(value, path):
    if not isinstance(value, bool):
        raise ManifestError(f"{path}: expected true or false, got {_show(value)}")
    return value


def _mapping(value, path, required=False):
    if value is None and required:
        raise ManifestError(f"{path}: required")
    if not isinstance(value, dict):
        raise ManifestError(f"{path}: expected a mapping, got {_kind(value)}")
    return value


def _only(mapping, allowed, path):
    """Refuses the first key not in `allowed`, naming its full path."""
    for key in mapping:
        if key not in allowed:
            where = f"{path}.{_pathkey(key)}" if path else _pathkey(key)
            raise ManifestError(f"{where}: unknown or unsupported field (supported here: "
                                f"{', '.join(allowed)})")


def _pathkey(key):
    """A key as shown in a field path: short plain strings as they are."""
    if isinstance(key, str) and key.isprintable() and len(key) <= 80:
        return key
    return "[" + _show(key) + "]" if key is not None else "[null]"


def _kind(value):
    """What a YAML value is, in YAML's words, for error messages."""
    if value is None:
        return "nothing (null)"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), f"a {type(value).__name__}")


def _show(value, limit=60):
    """A short one-line rendering of a scalar for messages."""
    if value is None:
        return "missing"
    if isinstance(value, (dict, list, set)):
        return _kind(value)
    try:
        text = repr(value)
    except ValueError:   # an int too long to print
        return _kind(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _oneline(text):
    return " ".join(str(text).split())
