"""The plain values of a pod's lifecycle: the action kinds step() hands
out (and Action), the event types and reasons, one container's status
(ContainerStatus, what `inspect` shows and a hand-over keeps) and the
current sandbox (Sandbox). pod.py's PodLifecycle is the state machine that
changes them."""
from launcher.lifecycle.rules import WAITING, BackOff

# Actions returned by step(). KillContainer comes twice for a container that
# outlives its grace period: first force=False (TERM), then force=True (KILL).
CREATE_SANDBOX, START_CONTAINER, KILL_CONTAINER, REMOVE_SANDBOX = (
    "CreateSandbox", "StartContainer", "KillContainer", "RemoveSandbox")
EVENT_TYPES = ("SandboxCreated", "SandboxFailed", "SandboxChanged", "SandboxRemoved",
               "ContainerStarted", "ContainerRestarted", "ContainerExited", "BackOff",
               "Killing", "PhaseChanged", "Stopping", "Failed")
IMAGE_PULL_BACKOFF = "ImagePullBackOff"
OOM_KILLED = "OOMKilled"


class ContainerStatus:
    """One container as `inspect` shows it. state is waiting / running /
    terminated; exit_code is the last termination's (None: never ended);
    next_start_at is the back-off deadline while waiting to restart;
    kill_at the end of the grace period once it is being killed."""

    STATE = ("name", "init", "state", "reason", "restart_count", "exit_code", "started_at",
             "finished_at", "next_start_at", "starts", "starting", "killing", "kill_at",
             "forced", "pull_failures")

    def __init__(self, name, init=False, state=WAITING, exit_code=None, starts=0, backoff=None):
        self.name = name
        self.init = init
        self.state = state
        self.reason = "PodInitializing"
        self.restart_count = 0
        self.exit_code = exit_code
        self.started_at = None
        self.finished_at = None
        self.next_start_at = None
        self.starts = starts          # times started, all sandboxes together
        self.starting = False         # StartContainer handed out, not confirmed yet
        self.killing = False          # KillContainer handed out, exit not seen yet
        self.kill_at = None           # when the KILL follows the TERM
        self.forced = False           # the KILL was handed out
        self.pull_failures = 0        # image pulls failed in a row
        self.backoff = backoff or BackOff()

    def to_dict(self):
        return {"name": self.name, "init": self.init, "state": self.state,
                "reason": self.reason, "restarts": self.restart_count,
                "exit_code": self.exit_code, "started_at": self.started_at,
                "finished_at": self.finished_at, "next_start_at": self.next_start_at}

    def to_state(self):
        d = {k: getattr(self, k) for k in self.STATE}
        d["backoff"] = self.backoff.to_state()
        return d

    @classmethod
    def from_state(cls, d):
        c = cls(d["name"], d["init"], backoff=BackOff.from_state(d["backoff"]))
        for k in cls.STATE:
            setattr(c, k, d[k])
        return c


class Action:
    """Something step() asks the launcher to do now."""
    __slots__ = ("kind", "container", "sandbox", "force")

    def __init__(self, kind, container=None, sandbox=None, force=False):
        self.kind, self.container, self.sandbox, self.force = kind, container, sandbox, force

    def __eq__(self, other):
        return isinstance(other, Action) and (self.kind, self.container, self.sandbox, self.force) \
            == (other.kind, other.container, other.sandbox, other.force)

    def __hash__(self):
        return hash((self.kind, self.container, self.sandbox, self.force))

    def __repr__(self):
        return f"Action({self.kind!r}, {self.container!r}, {self.sandbox!r}, force={self.force})"


class Sandbox:
    """The current sandbox: state creating -> ready -> (dead) -> removing."""

    def __init__(self, id=None, state="creating"):
        self.id, self.state = id, state
