"""The kubelet's rules, as pure functions of plain state: whether a
container restarts, its crash-loop back-off, the pod phase (getPhase), and
whether a pod gets a new sandbox (the Pod IP leak rule)."""
from launcher.errors import LauncherError
from launcher.spec import ALWAYS, NEVER, ON_FAILURE, RESTART_POLICIES

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"
COMPLETED_PHASES = (SUCCEEDED, FAILED)
WAITING, STARTED, TERMINATED = "waiting", "running", "terminated"   # container states


def should_restart(policy, exit_code, init=False):
    """Whether a container that exited with exit_code (128+N for signal N)
    is run again: Always -> yes, OnFailure -> if it failed, Never -> no.
    Init containers run to completion, so for them Always acts as OnFailure."""
    if policy not in RESTART_POLICIES:
        raise LauncherError(f"invalid restart policy {policy!r}")
    if policy == ALWAYS and not init:
        return True
    return policy != NEVER and exit_code != 0


class BackOff:
    """Crash-loop back-off: the delays before restarts go base, 2*base,
    4*base, ... up to cap; a run of reset_after seconds or more starts again
    from base (Kubernetes: 10 s, 5 min, 10 min). (Plain classes here, not
    dataclasses: this package is imported on `launcher run`'s start-up
    path, and dataclasses costs ~9 ms.)"""

    def __init__(self, base=10.0, cap=300.0, reset_after=600.0):
        if not (0 <= base <= cap) or reset_after < 0:
            raise LauncherError(f"invalid back-off: base {base}, cap {cap}, "
                                f"reset after {reset_after}")
        self.base, self.cap, self.reset_after = base, cap, reset_after
        self.delay = 0.0   # the last delay handed out; 0 = none yet

    def next(self, ran_for):
        """The delay before restarting something that just ended after
        running ran_for seconds; advances the back-off."""
        if self.delay == 0 or ran_for >= self.reset_after:
            self.delay = self.base
        else:
            self.delay = min(self.delay * 2, self.cap)
        return self.delay

    def copy(self):
        return BackOff(self.base, self.cap, self.reset_after)

    def to_state(self):
        return [self.base, self.cap, self.reset_after, self.delay]

    @classmethod
    def from_state(cls, s):
        b = cls(s[0], s[1], s[2])
        b.delay = s[3]
        return b


def pod_phase(policy, init_containers, containers, terminal=False):
    """The kubelet's getPhase (pkg/kubelet/kubelet_pods.go) over our
    statuses: a container waiting after a termination counts as stopped
    (it is restarting). terminal: the pod is being torn down, so stopped
    containers will not restart whatever the policy."""
    pending_init = failed_init = 0
    for c in init_containers:
        if c.state == STARTED:
            pending_init += 1
        elif c.state == TERMINATED:
            failed_init += c.exit_code != 0
        elif c.exit_code is not None:        # waiting after a termination
            failed_init += c.exit_code != 0
        else:
            pending_init += 1
    running = waiting = stopped = succeeded = 0
    for c in containers:
        if c.state == STARTED:
            running += 1
        elif c.state == TERMINATED:
            stopped += 1
            succeeded += c.exit_code == 0
        elif c.exit_code is not None:
            stopped += 1
        else:
            waiting += 1
    if failed_init and policy == NEVER:
        return FAILED
    if (pending_init and not any(c.starts for c in containers)) or waiting:
        return PENDING
    if running:
        return RUNNING
    if stopped:
        if terminal:
            return SUCCEEDED if stopped == succeeded else FAILED
        if policy == ALWAYS:
            return RUNNING
        if stopped == succeeded:
            return SUCCEEDED
        return FAILED if policy == NEVER else RUNNING
    return PENDING


def needs_new_sandbox(pod):
    """Whether the pod must get a new sandbox now. False for a completed pod
    (Succeeded or Failed) and for a pod being stopped: that is the fix of
    the Pod IP leak. True only once the pod's sandbox died (and was
    removed) while the pod runs and the kubelet's rules still have
    something to start: with Never, only if no container was ever started;
    with OnFailure, some container has not succeeded; with Always, yes."""
    if pod.completed or pod.stopping or pod.sandbox is not None or not pod.sandbox_deaths:
        return False
    every = pod.init_containers + pod.containers
    if pod.policy == NEVER:
        return not any(c.starts for c in every)
    if pod.policy == ON_FAILURE:
        return any(not (c.state == TERMINATED and c.exit_code == 0) for c in pod.containers)
    return True
