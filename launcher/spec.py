"""What a pod is made of, before anything is created, and every vocabulary
of the launcher declared once: restart policies, pause choices, name rules,
signal sets, number bounds, log limits.

The CLI (`run`, and `play` from a Pod manifest) builds a PodSpec; validate()
rejects bad names, duplicates, empty commands and out-of-range numbers up
front, so set-up never starts for input that cannot work. Numbers typed by
users go through seconds()/integer(), which never raise anything but
LauncherError, whatever the number of digits.
"""
try:   # signal without its enum wrappers: importing enum costs ~4 ms of start-up
    import _signal as signal
except ImportError:   # not CPython
    import signal

from launcher.errors import LauncherError

# Restart policies (Kubernetes' restartPolicy).
ALWAYS, ON_FAILURE, NEVER = "Always", "OnFailure", "Never"
RESTART_POLICIES = (ALWAYS, ON_FAILURE, NEVER)
DEFAULT_RESTART = NEVER            # `run`: returns once every container exited
MANIFEST_DEFAULT_RESTART = ALWAYS  # `play`: Kubernetes' default

PAUSE_IMPLS = ("c", "cffi", "python")

# Signals: what stops a pod's supervisor, and the faults no process may block
# (the kernel kills a process that faults with them blocked). csrc/monitor.c
# has the same two lists.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FAULT_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT,
                 signal.SIGTRAP, signal.SIGSYS)

# Bounds of the numbers users give.
MAX_GRACE = 3600.0                 # seconds
MAX_BACKOFF = 300.0
DEFAULT_GRACE = 10.0
MANIFEST_DEFAULT_GRACE = 30        # Kubernetes' terminationGracePeriodSeconds
DEFAULT_BACKOFF = 10.0
# Container logs, as the kubelet's containerLogMaxSize / containerLogMaxFiles.
LOG_MAX_SIZE = 10 << 20
LOG_MAX_FILES = 5
MAX_LOG_SIZE = 1 << 40
MAX_LOG_FILES = 100

ID_SHOWN = 12                      # the hex digits of a pod id that `ps` shows

_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_HEX = frozenset("0123456789abcdef")
_DIGITS = frozenset("0123456789")


def quote(value, limit=80):
    """A user's string as it appears in a message: repr (so a newline never
    splits the one line), cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 4] + "...'"


def check_name(kind, name):
    """Raises unless name is an RFC 1123 label (lower-case letters, digits,
    '-', 1-63 characters, no '-' at either end). (No `re`: it costs start-up
    time.)"""
    if (not isinstance(name, str) or not 0 < len(name) <= 63 or name[0] == "-"
            or name[-1] == "-" or not _LABEL_CHARS.issuperset(name)):
        raise LauncherError(f"invalid {kind} name {quote(name)}: use lower-case letters, "
                            "digits and '-', 1-63 characters, starting and ending "
                            "with a letter or digit")


def check_pod_name(name):
    """A pod name is a label (it is also the hostname) that cannot be taken
    for a pod id as `ps` prints it: not 12 or more hex digits only. (A shorter all-hex name wins over an id prefix when
    it is used, as in podman: launcher/store/pods.py.)"""
    check_name("pod", name)
    if len(name) >= ID_SHOWN and _HEX.issuperset(name):
        raise LauncherError(f"invalid pod name {quote(name)}: {ID_SHOWN} or more hex digits "
                            "would read as a pod id; add a letter from g to z or a '-'")


def number(what, text, lo, hi, integer=False):
    """The number in `text` (str or number) within [lo, hi]; one clear
    LauncherError otherwise, never OverflowError or ValueError, whatever
    its length."""
    if isinstance(text, bool):
        raise LauncherError(f"bad {what} {quote(text)}: not a number")
    if isinstance(text, (int, float)):
        value = text
    else:
        s = str(text).strip()
        if len(s) > 32:
            raise LauncherError(f"bad {what} {quote(s)}: not a number from {lo:g} to {hi:g}")
        try:
            value = int(s) if integer else float(s)
        except ValueError:
            raise LauncherError(f"bad {what} {quote(s)}: not a number") from None
    if integer and not isinstance(value, int):
        raise LauncherError(f"bad {what} {quote(text)}: not a whole number")
    try:
        ok = lo <= value <= hi
    except (OverflowError, TypeError):
        ok = False
    if not ok or value != value:
        raise LauncherError(f"bad {what} {quote(text)}: use a number from {lo:g} to {hi:g}")
    return value


def seconds(what, text, hi=MAX_GRACE):
    """A duration in seconds, 0 to hi."""
    return float(number(what, text, 0, hi))


_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "ki": 1 << 10, "m": 1 << 20, "mi": 1 << 20,
               "g": 1 << 30, "gi": 1 << 30}


def size(what, text, lo=1, hi=MAX_LOG_SIZE):
    """A size in bytes: digits with an optional binary unit b, k/Ki, m/Mi,
    g/Gi (any case), as podman's --log-opt max-size reads it."""
    s = str(text).strip().lower()
    digits = len(s) - len(s.lstrip("0123456789"))
    head, unit = s[:digits], s[digits:]
    if not head or unit not in _SIZE_UNITS or len(head) > 20:
        raise LauncherError(f"bad {what} {quote(text)}: a size such as 10M, 512k or 1g")
    return int(number(what, int(head) * _SIZE_UNITS[unit], lo, hi, integer=True))


DEFAULT_PIDS_LIMIT = 4096          # per pod (launcher/cgroups/resources.py says why)
_NO_RESOURCES = {"cpu_limit_millis": None, "cpu_request_millis": None,
                 "memory_limit_bytes": None, "memory_request_bytes": None}


class ContainerSpec:
    """One container: a name, its command, extra environment, the working
    directory (None: the image's, else /), its resources (cpu and memory
    requests and limits, launcher/cgroups/resources.py's container dict)
    and, for a container on an image: the image and its pull policy (None:
    Kubernetes' default), `command` and `args` as Kubernetes reads them
    against the image's Entrypoint and Cmd (None: not given), its volume
    mounts (podfs.VolumeMount dicts), readOnlyRootFilesystem and the user
    overrides ({"run_as_user", "run_as_group", "supplemental_groups"}, and
    "user": `run --user`'s USER[:GROUP], which replaces the image's User);
    stdin: it reads the launcher's stdin (`run -i`, foreground only; else
    /dev/null). Without an image, `argv` is the command line on the host's files; with
    one it is resolved when the container starts."""

    FIELDS = ("name", "argv", "env", "cwd", "resources", "image", "pull_policy", "command",
              "args", "volume_mounts", "read_only", "user", "stdin")

    def __init__(self, name, argv, env=None, cwd=None, resources=None, image=None,
                 pull_policy=None, command=None, args=None, volume_mounts=(), read_only=False,
                 user=None, stdin=False):
        self.name = name
        self.argv = list(argv)
        self.env = dict(env or {})
        self.cwd = cwd
        self.resources = dict(resources or _NO_RESOURCES)
        self.image = image
        self.pull_policy = pull_policy
        self.command = None if command is None else list(command)
        self.args = None if args is None else list(args)
        self.volume_mounts = [dict(m) for m in volume_mounts]
        self.read_only = bool(read_only)
        self.user = dict(user) if user else None
        self.stdin = bool(stdin)

    def to_dict(self):
        """Plain data for the pod record."""
        return {k: getattr(self, k) for k in self.FIELDS}

    @classmethod
    def from_dict(cls, d):
        """The inverse of to_dict."""
        return cls(d["name"], d["argv"], **{k: d[k] for k in cls.FIELDS[2:] if k in d})


class PodSpec:
    """A pod: name (and hostname, by default the name), whether containers
    share pause's PID namespace, which pause to run, the init containers
    (run to completion, in order, first) and the containers, the stop grace
    period, the restart policy and its back-off base (seconds), the CNI
    network (None: loopback only), published ports ("HOST:POD[/proto]"),
    privileges, labels, the container log limits, the pod's pids limit,
    its volumes, and whether a detached pod removes itself when it is
    finished (auto_remove: `run -d --rm`; a foreground pod always does)."""

    FIELDS = ("name", "share_pid", "pause", "grace", "restart", "no_new_privs", "cap_drop",
              "backoff", "network", "ports", "hostname", "labels", "log_max_size",
              "log_max_files", "pids_limit", "volumes", "auto_remove")

    def __init__(self, name=None, containers=(), share_pid=False, pause="c",
                 grace=DEFAULT_GRACE, restart=DEFAULT_RESTART, no_new_privs=False, cap_drop=(),
                 init_containers=(), backoff=DEFAULT_BACKOFF, network=None, ports=(),
                 hostname=None, labels=None, log_max_size=LOG_MAX_SIZE,
                 log_max_files=LOG_MAX_FILES, pids_limit=DEFAULT_PIDS_LIMIT, volumes=(),
                 auto_remove=False):
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
        self.log_max_size = log_max_size
        self.log_max_files = log_max_files
        self.pids_limit = pids_limit      # None: no limit
        self.volumes = [dict(v) for v in volumes]   # podfs.Volume dicts
        self.auto_remove = bool(auto_remove)

    def to_dict(self):
        """Plain data for the pod record."""
        d = {k: getattr(self, k) for k in self.FIELDS}
        d["init_containers"] = [c.to_dict() for c in self.init_containers]
        d["containers"] = [c.to_dict() for c in self.containers]
        return d

    @classmethod
    def from_dict(cls, d):
        """The inverse of to_dict."""
        spec = cls(**{k: d[k] for k in cls.FIELDS if k in d})
        spec.containers = [ContainerSpec.from_dict(c) for c in d["containers"]]
        spec.init_containers = [ContainerSpec.from_dict(c) for c in d.get("init_containers", ())]
        return spec

    def all_containers(self):
        return self.init_containers + self.containers

    def uses_images(self):
        return any(c.image for c in self.all_containers())


def validate(spec):
    """Checks a whole PodSpec; raises LauncherError on the first problem."""
    if spec.name is not None:
        check_pod_name(spec.name)
    if not spec.containers:
        raise LauncherError("no container: give a command after '--' or -c NAME='CMD'")
    if spec.hostname is not None:
        check_name("host", spec.hostname)
    seen = set()
    for c in spec.all_containers():
        check_name("container", c.name)
        if c.name in seen:
            raise LauncherError(f"duplicate container name {c.name!r}")
        seen.add(c.name)
        if c.image is None and (not c.argv or not c.argv[0]):
            raise LauncherError(f"container {c.name!r}: empty command (and no image)")
        if c.image is None and (c.volume_mounts or c.read_only or c.user):
            raise LauncherError(f"container {c.name!r}: volume mounts, a read-only root and "
                                "user settings need an image (a host-binary container runs "
                                "in the host's files)")
        if c.image is not None and (not isinstance(c.image, str) or not c.image
                                    or "\0" in c.image or len(c.image) > 4096):
            raise LauncherError(f"container {c.name!r}: invalid image {quote(c.image)}")
        for k in c.env:
            if not k or "=" in k or "\0" in k:
                raise LauncherError(f"container {c.name!r}: invalid variable name {quote(k)}")
        for arg in list(c.argv) + list(c.command or ()) + list(c.args or ()) + \
                list(c.env.values()) + [c.cwd or "/"]:
            if "\0" in arg:
                raise LauncherError(f"container {c.name!r}: NUL byte in command, env or "
                                    "working directory")
        if c.cwd is not None and not c.cwd.startswith("/"):
            raise LauncherError(f"container {c.name!r}: working directory {quote(c.cwd)} "
                                "is not an absolute path")
    if spec.restart not in RESTART_POLICIES:
        raise LauncherError(f"invalid restart policy {quote(spec.restart)}: "
                            f"use one of {', '.join(RESTART_POLICIES)}")
    number("grace period", spec.grace, 0, MAX_GRACE)
    if not 0 < spec.backoff <= MAX_BACKOFF:
        raise LauncherError(f"invalid back-off {spec.backoff:g}: more than 0, at most "
                            f"{MAX_BACKOFF:g} seconds")
    number("log size", spec.log_max_size, 1024, MAX_LOG_SIZE, integer=True)
    number("log file count", spec.log_max_files, 1, MAX_LOG_FILES, integer=True)
    if spec.ports and not spec.network:
        raise LauncherError("-p needs a network: add --network NAME (e.g. --network bridge)")
