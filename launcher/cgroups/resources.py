"""What a pod asks for: each container's cpu and memory requests and limits,
the pod's totals and pids limit, and its QoS class, as plain dicts of ints
(None = not set) that go into the launcher's versioned JSON records as they
are.

    container: {"cpu_limit_millis", "cpu_request_millis",
                "memory_limit_bytes", "memory_request_bytes"}
    pod:       {"pids_limit", "cpu_limit_millis", "cpu_request_millis",
                "memory_limit_bytes", "memory_request_bytes"}

Kubernetes' rules: a limit without a request sets the request to the limit
(API defaulting); a request above its limit is an error; a zero quantity
means unset. The pod's request is max(sum over the containers, largest init
container), and its limit the same, but only when every container, init
containers included, has that limit (the kubelet's ResourceConfigForPod:
otherwise the pod cgroup has no limit for that resource).
"""
from launcher.cgroups import quantity
from launcher.errors import LauncherError

CONTAINER_KEYS = ("cpu_limit_millis", "cpu_request_millis",
                  "memory_limit_bytes", "memory_request_bytes")
POD_KEYS = ("pids_limit",) + CONTAINER_KEYS

# The pods' default pids limit (kubelet's podPidsLimit, which defaults to
# unlimited there). 4096 processes and threads per pod: far above what a
# server with worker processes needs, while a fork bomb stops at an eighth of
# the default kernel.pid_max (32768), so the host can still fork.
DEFAULT_PIDS_LIMIT = 4096

QOS_GUARANTEED = "Guaranteed"
QOS_BURSTABLE = "Burstable"
QOS_BEST_EFFORT = "BestEffort"

_RESOURCES_FIELDS = ("limits", "requests", "claims")
_PARSERS = {"cpu": quantity.parse_cpu, "memory": quantity.parse_memory}
_KEY = {("limits", "cpu"): "cpu_limit_millis", ("requests", "cpu"): "cpu_request_millis",
        ("limits", "memory"): "memory_limit_bytes", ("requests", "memory"): "memory_request_bytes"}


def empty():
    """A container that asks for nothing (BestEffort)."""
    return dict.fromkeys(CONTAINER_KEYS)


def from_manifest(resources, field):
    """A container dict from a manifest's `resources` mapping (None or
    missing: empty). `field` is its path, e.g.
    'spec.containers[0].resources', for the errors. Resources other than cpu
    and memory (ephemeral-storage, hugepages, devices) are accepted and
    ignored; `claims` is ignored."""
    out = empty()
    if resources is None:
        return out
    if not isinstance(resources, dict):
        raise LauncherError(f"{field}: must be a mapping with limits and requests")
    for key in resources:
        if key not in _RESOURCES_FIELDS:
            raise LauncherError(f"{field}.{key}: unknown field (limits, requests)")
    for kind in ("limits", "requests"):
        values = resources.get(kind)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise LauncherError(f"{field}.{kind}: must be a mapping of resource names to quantities")
        for name, value in values.items():
            if name in _PARSERS:
                where = f"{field}.{kind}.{name}"
                out[_KEY[kind, name]] = _PARSERS[name](_text(value, where), where)
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    for name in _PARSERS:
        limit, request = _KEY["limits", name], _KEY["requests", name]
        if out[limit] is not None and name not in requests:
            out[request] = out[limit]                      # Kubernetes' defaulting
        if out[limit] and out[request] and out[request] > out[limit]:
            raise LauncherError(f"{field}.requests.{name}: {str(requests[name])!r} must be less "
                                f"than or equal to the {name} limit {str(limits[name])!r}")
    return _zero_is_unset(out)


def from_cli(memory=None, cpus=None):
    """A container dict from `launcher run --memory M --cpus C` (each applies
    to every container of the pod, as -e does): limits, and requests equal to
    them (so both flags make a Guaranteed pod)."""
    out = empty()
    if memory is not None:
        out["memory_limit_bytes"] = out["memory_request_bytes"] = quantity.parse_cli_memory(memory)
    if cpus is not None:
        out["cpu_limit_millis"] = out["cpu_request_millis"] = quantity.parse_cli_cpus(cpus)
    return out


def pod(containers, init_containers=(), pids_limit=DEFAULT_PIDS_LIMIT):
    """The pod dict from its containers' dicts, as the kubelet sizes the pod
    cgroup; pids_limit None means no limit."""
    everyone = list(containers) + list(init_containers)
    out = {"pids_limit": pids_limit}
    for key in CONTAINER_KEYS:
        if key.endswith("_limit_millis") or key.endswith("_limit_bytes"):
            if not everyone or any(c[key] is None for c in everyone):
                out[key] = None
                continue
        total = sum(c[key] or 0 for c in containers)
        biggest_init = max((c[key] or 0 for c in init_containers), default=0)
        out[key] = max(total, biggest_init) or None
    return out


def qos_class(containers):
    """Kubernetes' QoS class of a pod from all its containers' dicts (init
    containers included), as GetPodQOS computes it: BestEffort when nothing
    is requested or limited anywhere; Guaranteed when every container limits
    both cpu and memory and the requests equal the limits; else Burstable."""
    requests, limits, guaranteed = {}, {}, True
    for c in containers:
        for name, req_key, lim_key in (("cpu", "cpu_request_millis", "cpu_limit_millis"),
                                       ("memory", "memory_request_bytes", "memory_limit_bytes")):
            if c[req_key]:
                requests[name] = requests.get(name, 0) + c[req_key]
            if c[lim_key]:
                limits[name] = limits.get(name, 0) + c[lim_key]
            else:
                guaranteed = False
    if not requests and not limits:
        return QOS_BEST_EFFORT
    if guaranteed and requests == limits:
        return QOS_GUARANTEED
    return QOS_BURSTABLE


def load_container(obj, what="container resources"):
    """A container dict read back from a record, checked: exactly the keys,
    each None or a non-negative int."""
    return _load(obj, CONTAINER_KEYS, what)


def load_pod(obj, what="pod resources"):
    """A pod dict read back from a record, checked like load_container."""
    return _load(obj, POD_KEYS, what)


def _load(obj, keys, what):
    if not isinstance(obj, dict) or set(obj) != set(keys):
        raise LauncherError(f"{what}: expected the keys {', '.join(keys)}")
    for key in keys:
        v = obj[key]
        if v is not None and (type(v) is not int or v < 0):
            raise LauncherError(f"{what}: {key} must be null or a non-negative integer")
    return {key: obj[key] for key in keys}


def _text(value, field):
    """A manifest value as quantity text: YAML may give 2, 0.5 or '500m'."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise LauncherError(f"{field}: {value!r} is not a quantity (a string such as '64Mi' or '500m')")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise LauncherError(f"{field}: {value!r} is not a quantity")
        return repr(value)
    return str(value)


def _zero_is_unset(res):
    return {k: (v or None) for k, v in res.items()}
