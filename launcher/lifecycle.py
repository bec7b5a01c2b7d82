"""The pod lifecycle as the kubelet runs it, as pure logic: no processes, no
clock, no sleeping. Time is a number of seconds passed in by the caller.

The launcher drives one PodLifecycle per pod in a loop:

    actions = pod.step(now)            # what to do now (CreateSandbox, ...)
    ... perform them, report back ...  # pod.sandbox_created(id, now), ...
    wake = pod.next_wakeup()           # when to call step() again at the latest

and reports what it observes: sandbox_created / sandbox_died /
sandbox_removed, container_started / container_exited, stop(). Each call
updates container states, restart counts, back-off, the pod phase (computed
with the kubelet's table, getPhase) and the event list.

The rule this module exists for (shared README §2, the Pod IP leak): a pod
that has completed (Succeeded, or Failed) never gets a new sandbox, and
every sandbox is removed exactly once; needs_new_sandbox() is the one place
that decides. docs/play.md draws the state machine.
"""
from launcher.errors import LauncherError

ALWAYS, ON_FAILURE, NEVER = "Always", "OnFailure", "Never"
POLICIES = (ALWAYS, ON_FAILURE, NEVER)
PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"
COMPLETED_PHASES = (SUCCEEDED, FAILED)

WAITING, STARTED, TERMINATED = "waiting", "running", "terminated"   # container states

# Actions returned by step(), and event types recorded in PodLifecycle.events.
CREATE_SANDBOX, START_CONTAINER, KILL_CONTAINER, REMOVE_SANDBOX = (
    "CreateSandbox", "StartContainer", "KillContainer", "RemoveSandbox")
EVENT_TYPES = ("SandboxCreated", "SandboxFailed", "SandboxChanged", "SandboxRemoved",
               "ContainerStarted", "ContainerRestarted", "ContainerExited", "BackOff",
               "Killing", "PhaseChanged", "Stopping")


def should_restart(policy, exit_code, init=False):
    """Whether a container that exited with exit_code (128+N for signal N)
    is run again: Always -> yes, OnFailure -> if it failed, Never -> no.
    Init containers run to completion, so for them Always acts as OnFailure."""
    if policy not in POLICIES:
        raise LauncherError(f"invalid restart policy {policy!r}")
    if policy == ALWAYS and not init:
        return True
    return policy != NEVER and exit_code != 0


class BackOff:
    """Crash-loop back-off of one container: the delays before restarts go
    base, 2*base, 4*base, ... up to cap; a run of reset_after seconds or
    more starts again from base (Kubernetes: 10 s, 5 min, 10 min).
    (Plain classes here, not dataclasses: this module is imported on
    `launcher run`'s start-up path, and dataclasses costs ~9 ms.)"""

    def __init__(self, base=10.0, cap=300.0, reset_after=600.0):
        if not (0 <= base <= cap) or reset_after < 0:
            raise LauncherError(f"invalid back-off: base {base}, cap {cap}, "
                                f"reset after {reset_after}")
        self.base, self.cap, self.reset_after = base, cap, reset_after
        self.delay = 0.0   # the last delay handed out; 0 = none yet

    def next(self, ran_for):
        """The delay before restarting a container that just exited after
        running ran_for seconds; advances the back-off."""
        if self.delay == 0 or ran_for >= self.reset_after:
            self.delay = self.base
        else:
            self.delay = min(self.delay * 2, self.cap)
        return self.delay


class ContainerStatus:
    """One container as `inspect` shows it. state is waiting / running /
    terminated; exit_code is the last termination's (None: never ended);
    next_start_at is the back-off deadline while waiting to restart."""

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
        self.backoff = backoff

    def to_dict(self):
        return {"name": self.name, "init": self.init, "state": self.state,
                "reason": self.reason, "restarts": self.restart_count,
                "exit_code": self.exit_code, "started_at": self.started_at,
                "finished_at": self.finished_at, "next_start_at": self.next_start_at}


class Action:
    """Something step() asks the launcher to do now."""
    __slots__ = ("kind", "container", "sandbox")

    def __init__(self, kind, container=None, sandbox=None):
        self.kind, self.container, self.sandbox = kind, container, sandbox

    def __eq__(self, other):
        return isinstance(other, Action) and (self.kind, self.container, self.sandbox) == \
            (other.kind, other.container, other.sandbox)

    def __hash__(self):
        return hash((self.kind, self.container, self.sandbox))

    def __repr__(self):
        return f"Action({self.kind!r}, {self.container!r}, {self.sandbox!r})"


class Event:
    """One line of the pod's history (`inspect` shows the list)."""
    __slots__ = ("time", "type", "container", "sandbox", "message")

    def __init__(self, time, type, container=None, sandbox=None, message=""):
        self.time, self.type, self.container = time, type, container
        self.sandbox, self.message = sandbox, message

    def to_dict(self):
        return {k: v for k, v in (("time", self.time), ("type", self.type),
                                  ("container", self.container), ("sandbox", self.sandbox),
                                  ("message", self.message)) if v not in (None, "")}


class Sandbox:
    """The current sandbox: state creating -> ready -> (dead) -> removing."""

    def __init__(self, id=None, state="creating"):
        self.id, self.state = id, state


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


class PodLifecycle:
    """The state of one pod: sandbox, init containers, containers, phase,
    events. Only the methods below change it; `now` is always given."""

    def __init__(self, containers, init_containers=(), policy=ALWAYS, backoff=None, now=0.0):
        if policy not in POLICIES:
            raise LauncherError(f"invalid restart policy {policy!r}: "
                                f"use one of {', '.join(POLICIES)}")
        names = list(init_containers) + list(containers)
        if not containers or len(set(names)) != len(names):
            raise LauncherError("a pod needs at least one container and unique names")
        base = backoff or BackOff()
        make = lambda name, init: ContainerStatus(   # noqa: E731
            name, init=init, backoff=BackOff(base.base, base.cap, base.reset_after))
        self.policy = policy
        self.init_containers = [make(n, True) for n in init_containers]
        self.containers = [make(n, False) for n in containers]
        self.sandbox = None          # the current Sandbox, None when there is none
        self.sandboxes_created = 0
        self.sandboxes_removed = 0
        self.sandbox_deaths = 0
        self.stopping = False
        self.phase = PENDING
        self.events = []
        self.created_at = now

    # --- what the launcher reads --------------------------------------------

    @property
    def completed(self):
        """Succeeded or Failed: final; the pod never runs anything again."""
        return self.phase in COMPLETED_PHASES

    @property
    def finished(self):
        """Completed and its sandbox removed: nothing is left to do."""
        return self.completed and self.sandbox is None

    def container(self, name):
        for c in self.init_containers + self.containers:
            if c.name == name:
                return c
        raise LauncherError(f"no container {name!r} in this pod")

    def next_wakeup(self):
        """The earliest back-off deadline, when step() will have something
        to start; None when only an observation can change anything."""
        times = [c.next_start_at for c in self.init_containers + self.containers
                 if c.state == WAITING and c.next_start_at is not None and not c.starting]
        return min(times) if times else None

    def to_dict(self):
        return {"phase": self.phase, "policy": self.policy,
                "sandboxes_created": self.sandboxes_created,
                "sandbox": None if self.sandbox is None else
                {"id": self.sandbox.id, "state": self.sandbox.state},
                "init_containers": [c.to_dict() for c in self.init_containers],
                "containers": [c.to_dict() for c in self.containers],
                "events": [e.to_dict() for e in self.events]}

    # --- the decision -------------------------------------------------------

    def step(self, now):
        """The actions to perform now, kubelet SyncPod style: tear down what
        must end (completed or stopping pod, dead sandbox) and remove its
        sandbox once; else create the sandbox if needed, then run the init
        containers one by one, then start the containers that are due."""
        actions = []
        sb = self.sandbox
        every = self.init_containers + self.containers
        if self.completed or self.stopping or (sb is not None and sb.state == "dead"):
            for c in every:
                if c.state == STARTED and not c.killing:
                    c.killing = True
                    why = "sandbox changed" if sb is not None and sb.state == "dead" else "stop"
                    self._event(now, "Killing", c.name, message=why)
                    actions.append(Action(KILL_CONTAINER, c.name))
            busy = any(c.state == STARTED or c.starting for c in every)
            if sb is not None and sb.state in ("ready", "dead") and not busy:
                sb.state = "removing"
                actions.append(Action(REMOVE_SANDBOX, sandbox=sb.id))
            return actions
        if sb is None:
            if self.sandboxes_created == 0 or needs_new_sandbox(self):
                self.sandbox = Sandbox()
                actions.append(Action(CREATE_SANDBOX))
            return actions
        if sb.state != "ready":
            return actions
        for c in self.init_containers:
            if c.state == TERMINATED and c.exit_code == 0:
                continue
            if self._due(c, now):
                actions.append(self._start(c))
            return actions          # one init container at a time, in order
        for c in self.containers:
            if self._due(c, now):
                actions.append(self._start(c))
        return actions

    # --- what the launcher reports ------------------------------------------

    def sandbox_created(self, sandbox_id, now):
        """The sandbox asked for by CreateSandbox is up (pause ready). Init
        containers run again first; waiting containers start right away."""
        sb = self._expect_sandbox("creating")
        sb.id, sb.state = sandbox_id, "ready"
        self.sandboxes_created += 1
        recreated = self.sandboxes_created > 1
        self._event(now, "SandboxCreated", sandbox=sandbox_id,
                    message="recreated" if recreated else "")
        if self.completed or self.stopping:   # stopped while it was being created
            return
        for c in self.init_containers:
            c.state, c.reason, c.next_start_at = WAITING, "PodInitializing", None
        for c in self.containers:
            if c.state == WAITING:
                c.next_start_at = None
        self._update(now)

    def sandbox_create_failed(self, now, reason):
        """CreateSandbox failed: the pod fails (no retry loop); nothing to remove."""
        self._expect_sandbox("creating")
        self.sandbox = None
        self._event(now, "SandboxFailed", message=reason)
        self._finish(now, FAILED)

    def sandbox_died(self, now):
        """pause died on its own. Ignored when the launcher is removing the
        sandbox (it killed pause) or there is none: a late report can never
        lead to a second sandbox. Else the sandbox is dead: step() kills
        its containers and removes it, then needs_new_sandbox() decides."""
        sb = self.sandbox
        if sb is None or sb.state != "ready":
            return
        sb.state = "dead"
        self.sandbox_deaths += 1
        self._event(now, "SandboxChanged", sandbox=sb.id,
                    message="pause died; the sandbox is torn down"
                    + ("" if self.completed or self.stopping else
                       ", a new one follows if the policy allows"))
        self._update(now)

    def sandbox_removed(self, now):
        """RemoveSandbox is done: namespaces, network and pause are gone."""
        sb = self._expect_sandbox("removing")
        self.sandbox = None
        self.sandboxes_removed += 1
        self._event(now, "SandboxRemoved", sandbox=sb.id)
        self._update(now)

    def container_started(self, name, now):
        """A StartContainer was done: the process runs."""
        c = self.container(name)
        if c.state != WAITING:
            raise LauncherError(f"container {name!r} started while {c.state}")
        restart = c.starts > 0
        if restart:
            c.restart_count += 1
        c.starts += 1
        c.state, c.reason, c.starting, c.killing = STARTED, "", False, False
        c.started_at, c.next_start_at = now, None
        self._event(now, "ContainerRestarted" if restart else "ContainerStarted", name,
                    self.sandbox.id if self.sandbox else None,
                    message=f"restart {c.restart_count}" if restart else "")
        self._update(now)

    def container_exited(self, name, exit_code, now):
        """The container's process ended (exit_code: 128+N for signal N; a
        command that could not be started at all is reported here too,
        126/127, without container_started). Decides restart and back-off."""
        c = self.container(name)
        if c.state == TERMINATED:
            raise LauncherError(f"container {name!r} exited twice")
        if c.state == WAITING and not c.starting:
            raise LauncherError(f"container {name!r} exited but was never started")
        if c.state == WAITING:               # failed to start: counts as a run
            if c.starts:
                c.restart_count += 1
            c.starts += 1
            c.started_at = now
        killed_by_us = c.killing
        c.starting = c.killing = False
        c.exit_code, c.finished_at = exit_code, now
        self._event(now, "ContainerExited", name, message=f"exit code {exit_code}")
        sandbox_ok = self.sandbox is not None and self.sandbox.state == "ready"
        restart = (not self.stopping and not self.completed
                   and should_restart(self.policy, exit_code, c.init))
        if not restart:
            c.state, c.reason = TERMINATED, "Completed" if exit_code == 0 else "Error"
        elif killed_by_us or not sandbox_ok:
            # killed with its sandbox: restarts in the next sandbox, no back-off
            c.state, c.reason, c.next_start_at = WAITING, "SandboxChanged", None
        else:
            delay = c.backoff.next(now - c.started_at)
            c.state, c.reason, c.next_start_at = WAITING, "CrashLoopBackOff", now + delay
            self._event(now, "BackOff", name, message=f"restart in {delay:g} s")
        self._update(now)

    def stop(self, now):
        """The user stops the pod: nothing starts again, running containers
        are killed, the sandbox is removed, the pod ends Succeeded (all
        exited 0) or Failed. Containers that never ran end terminated."""
        if self.stopping or self.completed:
            return
        self.stopping = True
        self._event(now, "Stopping")
        for c in self.init_containers + self.containers:
            if c.state == WAITING and not c.starting:
                c.state, c.reason, c.next_start_at = TERMINATED, "NotStarted", None
        self._update(now)

    # --- internals ----------------------------------------------------------

    def _due(self, c, now):
        return (c.state == WAITING and not c.starting
                and (c.next_start_at is None or now >= c.next_start_at))

    def _start(self, c):
        c.starting = True
        c.reason = "ContainerCreating"
        return Action(START_CONTAINER, c.name, self.sandbox.id)

    def _expect_sandbox(self, state):
        if self.sandbox is None or self.sandbox.state != state:
            have = "none" if self.sandbox is None else self.sandbox.state
            raise LauncherError(f"sandbox report out of order: expected {state}, have {have}")
        return self.sandbox

    def _update(self, now):
        """Recomputes the phase; a completed phase is final."""
        if self.completed:
            return
        every = self.init_containers + self.containers
        terminal = self.stopping and not any(c.state == STARTED or c.starting for c in every)
        phase = pod_phase(self.policy, self.init_containers, self.containers, terminal)
        if phase != self.phase:
            self.phase = phase
            self._event(now, "PhaseChanged", message=phase)

    def _finish(self, now, phase):
        self.phase = phase
        self._event(now, "PhaseChanged", message=phase)

    def _event(self, now, type_, container=None, sandbox=None, message=""):
        self.events.append(Event(now, type_, container, sandbox, message))
