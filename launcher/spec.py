"""What a pod is made of, before anything is created: PodSpec and
ContainerSpec, with every check that can be done without touching the system.

The CLI (`run`, and `play` from a Pod manifest) builds a PodSpec; validate()
rejects bad names, duplicates and empty commands up front, so set-up never
starts for input that cannot work.
"""
from launcher.errors import LauncherError

_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
RESTART_POLICIES = ("Never", "OnFailure", "Always")
PAUSE_IMPLS = ("c", "cffi", "python")


class ContainerSpec:
    """One container: a name, the command (argv), extra environment, cwd."""

    def __init__(self, name, argv, env=None, cwd=None):
        self.name = name
        self.argv = list(argv)
        self.env = dict(env or {})
        self.cwd = cwd

    def to_dict(self):
        """Plain data for the pod record."""
        return {"name": self.name, "argv": self.argv, "env": self.env, "cwd": self.cwd}

    @classmethod
    def from_dict(cls, d):
        """The inverse of to_dict."""
        return cls(d["name"], d["argv"], d.get("env"), d.get("cwd"))


class PodSpec:
    """A pod: name (and hostname, by default the name), whether containers
    share pause's PID namespace, which pause to run, the init containers
    (run to completion, in order, first) and the containers, the stop grace
    period, the restart policy and its back-off base (seconds), the CNI
    network (None: loopback only) and published ports ("HOST:POD[/proto]")."""

    def __init__(self, name=None, containers=(), share_pid=False, pause="c",
                 grace=10.0, restart="Never", no_new_privs=False, cap_drop=(),
                 init_containers=(), backoff=10.0, network=None, ports=(),
                 hostname=None, labels=None):
        self.name = name
        self.containers = list(containers)
        self.share_pid = share_pid
        self.pause = pause
        self.grace = grace
        self.restart = restart
        self.no_new_privs = no_new_privs
        self.cap_drop = list(cap_drop)
        self.init_containers = list(init_containers)
        self.backoff = backoff
        self.network = network
        self.ports = list(ports)
        self.hostname = hostname
        self.labels = dict(labels or {})

    def to_dict(self):
        """Plain data for the pod record."""
        return {"name": self.name, "share_pid": self.share_pid, "pause": self.pause,
                "grace": self.grace, "restart": self.restart,
                "no_new_privs": self.no_new_privs, "cap_drop": self.cap_drop,
                "backoff": self.backoff, "network": self.network, "ports": self.ports,
                "hostname": self.hostname, "labels": self.labels,
                "init_containers": [c.to_dict() for c in self.init_containers],
                "containers": [c.to_dict() for c in self.containers]}

    @classmethod
    def from_dict(cls, d):
        """The inverse of to_dict."""
        return cls(d["name"], [ContainerSpec.from_dict(c) for c in d["containers"]],
                   d["share_pid"], d["pause"], d["grace"], d["restart"],
                   d.get("no_new_privs", False), d.get("cap_drop", ()),
                   [ContainerSpec.from_dict(c) for c in d.get("init_containers", ())],
                   d.get("backoff", 10.0), d.get("network"), d.get("ports", ()),
                   d.get("hostname"), d.get("labels"))


def check_name(kind, name):
    """Raises unless name is an RFC 1123 label (lower-case letters, digits,
    '-', 1-63 characters, no '-' at either end): the pod name is also the
    hostname. (No `re`: it costs start-up time.)"""
    if (not isinstance(name, str) or not 0 < len(name) <= 63 or name[0] == "-"
            or name[-1] == "-" or not _LABEL_CHARS.issuperset(name)):
        raise LauncherError(f"invalid {kind} name {name!r}: use lower-case letters, "
                            "digits and '-', 1-63 characters, starting and ending "
                            "with a letter or digit")


def validate(spec):
    """Checks a whole PodSpec; raises LauncherError on the first problem."""
    if spec.name is not None:
        check_name("pod", spec.name)
    if not spec.containers:
        raise LauncherError("no container: give a command after '--' or -c NAME='CMD'")
    if spec.hostname is not None:
        check_name("host", spec.hostname)
    seen = set()
    for c in spec.init_containers + spec.containers:
        check_name("container", c.name)
        if c.name in seen:
            raise LauncherError(f"duplicate container name {c.name!r}")
        seen.add(c.name)
        if not c.argv or not c.argv[0]:
            raise LauncherError(f"container {c.name!r}: empty command")
        for k in c.env:
            if not k or "=" in k or "\0" in k:
                raise LauncherError(f"container {c.name!r}: invalid variable name {k!r}")
        for arg in list(c.argv) + list(c.env.values()):
            if "\0" in arg:
                raise LauncherError(f"container {c.name!r}: NUL byte in command or env")
    if spec.restart not in RESTART_POLICIES:
        raise LauncherError(f"invalid restart policy {spec.restart!r}: "
                            f"use one of {', '.join(RESTART_POLICIES)}")
    if not (0 <= spec.grace <= 3600):
        raise LauncherError(f"invalid grace period {spec.grace}: 0 to 3600 seconds")
    if not (0 < spec.backoff <= 300):
        raise LauncherError(f"invalid back-off {spec.backoff}: more than 0, at most 300 seconds")
    if spec.ports and not spec.network:
        raise LauncherError("-p needs a network: add --network NAME (e.g. --network bridge)")
