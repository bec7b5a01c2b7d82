"""PodLifecycle: the state of one pod as the kubelet keeps it, changed only
by the reports below, with time passed in as numbers. step(now) hands out
the actions due now; next_wakeup() says when step() will have something to
do at the latest (a restart back-off, a sandbox back-off, the end of a
grace period). docs/play.md draws the state machine."""
from launcher.errors import LauncherError
from launcher.lifecycle.events import EventLog
from launcher.lifecycle.rules import (COMPLETED_PHASES, FAILED, PENDING, STARTED, TERMINATED,
                                      WAITING, BackOff, needs_new_sandbox, pod_phase,
                                      should_restart)
# the actions, ContainerStatus and Sandbox live in values.py
from launcher.lifecycle.values import (CREATE_SANDBOX, IMAGE_PULL_BACKOFF, KILL_CONTAINER,
                                       REMOVE_SANDBOX, START_CONTAINER, Action, ContainerStatus,
                                       Sandbox)
from launcher.spec import ALWAYS, RESTART_POLICIES


class PodLifecycle:
    """The state of one pod: sandbox, init containers, containers, phase,
    events. Only the methods below change it; `now` is always given.
    grace: seconds between a container's TERM and its KILL. The sandbox
    gets a back-off of its own: a pause that dies within one base of its
    start is recreated after base, 2*base, ... so it cannot make a busy loop."""

    STATE = ("policy", "grace", "sandboxes_created", "sandboxes_removed", "sandbox_deaths",
             "stopping", "phase", "created_at", "sandbox_up_at", "sandbox_died_at", "create_at")

    def __init__(self, containers, init_containers=(), policy=ALWAYS, backoff=None, now=0.0,
                 grace=0.0):
        if policy not in RESTART_POLICIES:
            raise LauncherError(f"invalid restart policy {policy!r}: "
                                f"use one of {', '.join(RESTART_POLICIES)}")
        names = list(init_containers) + list(containers)
        if not containers or len(set(names)) != len(names):
            raise LauncherError("a pod needs at least one container and unique names")
        base = backoff or BackOff()
        self.policy = policy
        self.grace = grace
        self.init_containers = [ContainerStatus(n, True, backoff=base.copy()) for n in init_containers]
        self.containers = [ContainerStatus(n, False, backoff=base.copy()) for n in containers]
        self.sandbox = None          # the current Sandbox, None when there is none
        self.sandbox_backoff = base.copy()
        self.sandboxes_created = 0
        self.sandboxes_removed = 0
        self.sandbox_deaths = 0
        self.sandbox_up_at = self.sandbox_died_at = self.create_at = None
        self.stopping = False
        self.phase = PENDING
        self.events = EventLog()
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

    def every(self):
        return self.init_containers + self.containers

    def container(self, name):
        for c in self.every():
            if c.name == name:
                return c
        raise LauncherError(f"no container {name!r} in this pod")

    def next_wakeup(self):
        """The earliest deadline (a restart or sandbox back-off, the end of a
        grace period), when step() will have something to do; None when
        only an observation can change anything."""
        times = [c.next_start_at for c in self.every()
                 if c.state == WAITING and c.next_start_at is not None and not c.starting]
        times += [c.kill_at for c in self.every() if c.killing and not c.forced and c.kill_at]
        if self.create_at is not None and self.sandbox is None:
            times.append(self.create_at)
        return min(times) if times else None

    def to_dict(self):
        """What `inspect` shows."""
        return {"phase": self.phase, "policy": self.policy,
                "sandboxes_created": self.sandboxes_created,
                "sandbox": None if self.sandbox is None else
                {"id": self.sandbox.id, "state": self.sandbox.state},
                "init_containers": [c.to_dict() for c in self.init_containers],
                "containers": [c.to_dict() for c in self.containers],
                "events": self.events.to_list(),
                **({"events_dropped": self.events.dropped} if self.events.dropped else {})}

    def to_state(self):
        """Everything, as plain data: a detached supervisor's hand-over."""
        d = {k: getattr(self, k) for k in self.STATE}
        d.update(sandbox=None if self.sandbox is None else [self.sandbox.id, self.sandbox.state],
                 sandbox_backoff=self.sandbox_backoff.to_state(),
                 init_containers=[c.to_state() for c in self.init_containers],
                 containers=[c.to_state() for c in self.containers],
                 events=self.events.to_state())
        return d

    @classmethod
    def from_state(cls, d):
        """The inverse of to_state."""
        pod = cls.__new__(cls)
        for k in cls.STATE:
            setattr(pod, k, d[k])
        pod.sandbox = None if d["sandbox"] is None else Sandbox(*d["sandbox"])
        pod.sandbox_backoff = BackOff.from_state(d["sandbox_backoff"])
        pod.init_containers = [ContainerStatus.from_state(c) for c in d["init_containers"]]
        pod.containers = [ContainerStatus.from_state(c) for c in d["containers"]]
        pod.events = EventLog.from_state(d["events"])
        return pod

    # --- the decision -------------------------------------------------------

    def step(self, now):
        """The actions to perform now, kubelet SyncPod style: tear down what
        must end (completed or stopping pod, dead sandbox) and remove its
        sandbox once; else create the sandbox if needed (after its
        back-off), then run the init containers one by one, then start the
        containers that are due."""
        actions = []
        sb = self.sandbox
        every = self.every()
        if self.completed or self.stopping or (sb is not None and sb.state == "dead"):
            for c in every:
                if c.state != STARTED:
                    continue
                if not c.killing:
                    c.killing, c.kill_at = True, now + self.grace
                    why = "sandbox changed" if sb is not None and sb.state == "dead" else "stop"
                    self._event(now, "Killing", c.name, message=why)
                    actions.append(Action(KILL_CONTAINER, c.name))
                elif not c.forced and now >= c.kill_at:
                    c.forced = True
                    actions.append(Action(KILL_CONTAINER, c.name, force=True))
            busy = any(c.state == STARTED or c.starting for c in every)
            if sb is not None and sb.state in ("ready", "dead") and not busy:
                sb.state = "removing"
                actions.append(Action(REMOVE_SANDBOX, sandbox=sb.id))
            return actions
        if sb is None:
            if self.sandboxes_created == 0:
                return self._create(actions)
            if needs_new_sandbox(self):
                if self.create_at is None:
                    died = now if self.sandbox_died_at is None else self.sandbox_died_at
                    lived = died - (died if self.sandbox_up_at is None else self.sandbox_up_at)
                    self.create_at = now
                    if lived < self.sandbox_backoff.base:   # pause dies at once: a crash loop
                        delay = self.sandbox_backoff.next(lived)
                        self.create_at = now + delay
                        self._event(now, "BackOff", message=f"new sandbox in {delay:g} s")
                if now >= self.create_at:
                    self.create_at = None
                    self._create(actions)
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
        self.sandbox_up_at = now
        self._event(now, "SandboxCreated", sandbox=sandbox_id,
                    message="recreated" if self.sandboxes_created > 1 else "")
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
        self.sandbox_died_at = now
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
        c.state, c.reason, c.starting = STARTED, "", False
        c.killing, c.kill_at, c.forced, c.pull_failures = False, None, False, 0
        c.started_at, c.next_start_at = now, None
        self._event(now, "ContainerRestarted" if restart else "ContainerStarted", name,
                    self.sandbox.id if self.sandbox else None)
        self._update(now)

    def container_exited(self, name, exit_code, now, reason=None):
        """The container's process ended (exit_code: 128+N for signal N; a
        command that could not be started at all is reported here too,
        126/127, without container_started; reason e.g. OOMKilled).
        Decides restart and back-off."""
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
        c.starting = c.killing = c.forced = False
        c.kill_at = None
        c.exit_code, c.finished_at = exit_code, now
        self._event(now, "ContainerExited", name,
                    message=f"exit code {exit_code}" + (f" ({reason})" if reason else ""))
        sandbox_ok = self.sandbox is not None and self.sandbox.state == "ready"
        restart = (not self.stopping and not self.completed
                   and should_restart(self.policy, exit_code, c.init))
        if not restart:
            c.state, c.reason = TERMINATED, reason or ("Completed" if exit_code == 0 else "Error")
        elif killed_by_us or not sandbox_ok:
            # killed with its sandbox: restarts in the next sandbox, no back-off
            c.state, c.reason, c.next_start_at = WAITING, "SandboxChanged", None
        else:
            delay = c.backoff.next(now - c.started_at)
            c.state, c.reason, c.next_start_at = WAITING, "CrashLoopBackOff", now + delay
            self._event(now, "BackOff", name, message=f"restart in {delay:g} s")
        self._update(now)

    def image_pull_failed(self, name, reason, message, now):
        """A StartContainer could not get the container's image (reason:
        ErrImagePull, ErrImageNeverPull, InvalidImageName): the container
        waits and is tried again after its back-off, as the kubelet does;
        its reason is the error the first time, then ImagePullBackOff. It
        never ran, so no restart is counted and the pod stays Pending. If
        the pod is stopping meanwhile (a foreground pod stops at the first
        image that cannot be had, while another start is under way), the
        container ends terminated with that reason instead."""
        c = self.container(name)
        if c.state != WAITING or not c.starting:
            raise LauncherError(f"container {name!r}: image pull reported while {c.state}")
        c.starting = False
        if self.stopping:   # its start was handed out before the stop: no retry now
            c.state, c.reason, c.next_start_at = TERMINATED, reason, None
            self._event(now, "Failed", name, message=f"{reason}: {message}")
            self._update(now)
            return
        c.reason = reason if c.pull_failures == 0 else IMAGE_PULL_BACKOFF
        c.pull_failures += 1
        delay = c.backoff.next(0)
        c.next_start_at = now + delay
        self._event(now, "Failed", name, message=f"{reason}: {message}")
        self._event(now, "BackOff", name, message=f"{IMAGE_PULL_BACKOFF}: back-off pulling "
                    f"the image, next try in {delay:g} s")
        self._update(now)

    def stop(self, now):
        """The user stops the pod: nothing starts again, running containers
        are killed, the sandbox is removed, the pod ends Succeeded (all
        exited 0) or Failed. Containers that never ran end terminated."""
        if self.stopping or self.completed:
            return
        self.stopping = True
        self.create_at = None
        self._event(now, "Stopping")
        for c in self.every():
            if c.state == WAITING and not c.starting:
                c.state, c.reason, c.next_start_at = TERMINATED, "NotStarted", None
        self._update(now)

    # --- internals ----------------------------------------------------------

    def _create(self, actions):
        self.sandbox = Sandbox()
        actions.append(Action(CREATE_SANDBOX))
        return actions

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
        terminal = self.stopping and not any(c.state == STARTED or c.starting
                                             for c in self.every())
        phase = pod_phase(self.policy, self.init_containers, self.containers, terminal)
        if phase != self.phase:
            self.phase = phase
            self._event(now, "PhaseChanged", message=phase)

    def _finish(self, now, phase):
        self.phase = phase
        self._event(now, "PhaseChanged", message=phase)

    def _event(self, now, type_, container=None, sandbox=None, message=""):
        self.events.add(now, type_, container, sandbox, message)
