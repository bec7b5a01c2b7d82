"""CNI network configurations: finding a network by name, validating it, and
parsing `-p HOSTPORT:PODPORT[/tcp|udp]` port mappings.

A network is a conflist (`{"cniVersion", "name", "plugins": [...]}`); a
single-plugin `.conf` file is read as a list of one. Directories are searched
in order: $LAUNCHER_CNI_CONF_DIR (if set), /etc/cni/net.d, then the project's
own launcher/netconf; within a directory, files in name order, as libcni
does. The first file whose "name" matches wins. Plugins are looked up in
$LAUNCHER_CNI_PATH (colon-separated), else /usr/lib/cni:/opt/cni/bin.
Every problem is raised as one CNIError line naming the file or plugin.
"""
import json
import os
import re

from launcher.errors import LauncherError

SYSTEM_CONF_DIR = "/etc/cni/net.d"
BUILTIN_CONF_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netconf")
DEFAULT_PLUGIN_PATH = ("/usr/lib/cni", "/opt/cni/bin")
EXTENSIONS = (".conflist", ".conf", ".json")
# The spec's rule for network names and container ids.
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")
PORT_RE = re.compile(r"^([0-9]+):([0-9]+)(?:/([a-zA-Z]+))?$")


class CNIError(LauncherError):
    """A CNI failure worth one line to the user (exit code 125)."""

    def __init__(self, message):
        super().__init__(" ".join(str(message).split()))


def conf_dirs():
    """The directories searched for networks, in order."""
    dirs = [SYSTEM_CONF_DIR, BUILTIN_CONF_DIR]
    override = os.environ.get("LAUNCHER_CNI_CONF_DIR")
    return [override] + dirs if override else dirs


def plugin_dirs():
    """The directories searched for plugin binaries (CNI_PATH), in order."""
    env = os.environ.get("LAUNCHER_CNI_PATH")
    return [d for d in env.split(":") if d] if env else list(DEFAULT_PLUGIN_PATH)


class Network:
    """A parsed network configuration list: `name`, `cni_version`, `plugins`
    (a list of dicts, each with a "type"), the source `path`, and `raw`, the
    conflist as a dict (stored in records so DEL uses what ADD used)."""

    def __init__(self, raw, path):
        self.raw = raw
        self.path = path
        self.name = raw["name"]
        self.cni_version = raw["cniVersion"]
        self.plugins = raw["plugins"]
        self.disable_check = bool(raw.get("disableCheck", False))

    def supports(self, capability):
        """True if some plugin of the chain declares this capability."""
        return any((p.get("capabilities") or {}).get(capability) for p in self.plugins)

    def __repr__(self):
        return f"Network({self.name!r}, {self.path!r})"


def parse(data, path):
    """Validates the structure of a conflist (or single .conf) given as text
    and returns the Network; raises CNIError naming `path`."""
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise CNIError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(raw, dict):
        raise CNIError(f"{path}: a network configuration must be a JSON object")
    if "plugins" not in raw and "type" in raw:     # single-plugin .conf
        plugin = {k: v for k, v in raw.items() if k not in ("cniVersion", "name")}
        raw = {"cniVersion": raw.get("cniVersion"), "name": raw.get("name"), "plugins": [plugin]}
    for key in ("cniVersion", "name"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise CNIError(f"{path}: missing or empty string field '{key}'")
    if not NAME_RE.match(raw["name"]):
        raise CNIError(f"{path}: invalid network name {raw['name']!r}")
    plugins = raw.get("plugins")
    if not isinstance(plugins, list) or not plugins:
        raise CNIError(f"{path}: 'plugins' must be a non-empty list")
    for i, plugin in enumerate(plugins):
        if not isinstance(plugin, dict) or not isinstance(plugin.get("type"), str) \
                or not plugin["type"] or "/" in plugin["type"]:
            raise CNIError(f"{path}: plugin #{i + 1} has no valid 'type'")
        if not isinstance(plugin.get("capabilities", {}), dict):
            raise CNIError(f"{path}: plugin {plugin['type']}: 'capabilities' must be an object")
        ipam = plugin.get("ipam")
        if ipam is not None and not (isinstance(ipam, dict) and isinstance(ipam.get("type"), str)
                                     and ipam["type"] and "/" not in ipam["type"]):
            raise CNIError(f"{path}: plugin {plugin['type']}: 'ipam' needs a 'type'")
    return Network(raw, path)


def find_plugin(kind, dirs=None):
    """The path of plugin binary `kind` in the plugin dirs, or None."""
    for d in dirs or plugin_dirs():
        path = os.path.join(d, kind)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def validate(net, dirs=None):
    """Checks that every plugin of the chain (and its IPAM plugin) exists in
    the plugin dirs; raises CNIError naming the plugin and the file."""
    dirs = dirs or plugin_dirs()
    for plugin in net.plugins:
        kinds = [plugin["type"]] + ([plugin["ipam"]["type"]] if plugin.get("ipam") else [])
        for kind in kinds:
            if not find_plugin(kind, dirs):
                raise CNIError(f"network {net.name} ({net.path}): plugin '{kind}' not found "
                               f"in {':'.join(dirs)}")
    return net


def load(name, dirs=None, plugin_path=None):
    """Finds network `name` in the conf dirs, validates it and returns it.
    A broken file is skipped unless it is the only candidate (its file name
    is NAME.conflist/.conf/.json), in which case its error is raised."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise CNIError(f"invalid network name {name!r}")
    dirs = dirs or conf_dirs()
    broken = []
    for d in dirs:
        try:
            files = sorted(f for f in os.listdir(d) if f.endswith(EXTENSIONS))
        except OSError:
            continue
        for f in files:
            path = os.path.join(d, f)
            try:
                with open(path) as fh:
                    net = parse(fh.read(), path)
            except (CNIError, OSError, UnicodeDecodeError) as e:
                if os.path.splitext(f)[0] == name:
                    raise e if isinstance(e, CNIError) else CNIError(f"{path}: {e}") from None
                broken.append(path)
                continue
            if net.name == name:
                return validate(net, plugin_path)
    hint = f" (skipped broken files: {', '.join(broken)})" if broken else ""
    raise CNIError(f"unknown network '{name}': not found in {', '.join(dirs)}{hint}")


def parse_port(spec):
    """Parses HOSTPORT:PODPORT[/tcp|udp] into a portmap runtimeConfig entry
    {"hostPort", "containerPort", "protocol"}; raises CNIError."""
    m = PORT_RE.match(spec.strip()) if isinstance(spec, str) and len(spec) <= 64 else None
    if not m:
        shown = repr(spec) if len(repr(spec)) <= 60 else repr(spec)[:56] + "...'"
        raise CNIError(f"bad port mapping {shown}: expected HOSTPORT:PODPORT[/tcp|udp], "
                       "ports 1-65535")
    host, pod, proto = int(m.group(1)), int(m.group(2)), (m.group(3) or "tcp").lower()
    for port in (host, pod):
        if not 1 <= port <= 65535:
            raise CNIError(f"bad port mapping {spec!r}: port {port} is not in 1-65535")
    if proto not in ("tcp", "udp"):
        raise CNIError(f"bad port mapping {spec!r}: protocol must be tcp or udp")
    return {"hostPort": host, "containerPort": pod, "protocol": proto}


def parse_ports(specs):
    """Parses a list of port mappings (strings or already-parsed dicts) and
    rejects a host port given twice for the same protocol."""
    out, seen = [], set()
    for spec in specs or ():
        mapping = parse_port(spec) if isinstance(spec, str) else parse_port(
            "%s:%s/%s" % (spec.get("hostPort"), spec.get("containerPort"), spec.get("protocol", "tcp")))
        key = (mapping["hostPort"], mapping["protocol"])
        if key in seen:
            raise CNIError(f"host port {key[0]}/{key[1]} is published twice")
        seen.add(key)
        out.append(mapping)
    return out
