"""The supervisor: runs a Pod by its PodLifecycle (launcher/lifecycle/);
the lifecycle decides, this performs its actions on the Pod and reports
what happened back.

Every pod process is a direct child of one supervisor process: the
foreground `launcher run`/`play` itself, or, with -d, a process forked off
into its own session (launcher/supervisor/detach.py), which hands its
waits to the C monitor (launcher/supervisor/handoff.py).
"""
import time

try:   # signal without its enum wrappers: importing enum costs ~4 ms of start-up
    import _signal as signal
except ImportError:   # not CPython
    import signal

from launcher.errors import LauncherError
from launcher.lifecycle import (CREATE_SANDBOX, KILL_CONTAINER, REMOVE_SANDBOX, START_CONTAINER,
                                BackOff, PodLifecycle)

# Back-off cap and reset, as multiples of its base (the kubelet: 10 s, 5 min, 10 min).
BACKOFF_CAP, BACKOFF_RESET = 30, 60


def new_lifecycle(spec, now):
    b = spec.backoff
    return PodLifecycle([c.name for c in spec.containers],
                        [c.name for c in spec.init_containers], spec.restart,
                        BackOff(b, b * BACKOFF_CAP, b * BACKOFF_RESET), now, grace=spec.grace)


class Supervisor:
    """Runs a Pod by its PodLifecycle: the lifecycle decides, this performs."""

    def __init__(self, pod, lc=None):
        self.pod = pod
        self.specs = {c.name: (c, False) for c in pod.spec.containers}
        self.specs.update({c.name: (c, True) for c in pod.spec.init_containers})
        self.lc = lc or new_lifecycle(pod.spec, time.time())
        self.first_error = None      # why the first sandbox could not be created
        self.fatal = None            # a foreground pod's image that cannot be had
        self.monitor = None          # detached: the C monitor to exec when idle

    # -- the loop ------------------------------------------------------------

    def start(self):
        """Creates the pod and does what is due at once: the sandbox, then
        the first containers. If the first sandbox cannot be created, the pod
        is removed and the reason raised (LauncherError)."""
        self.pod.open()
        try:
            self.step(save=False)
            if self.first_error:
                raise self.first_error
        except BaseException:
            self.pod.remove()
            raise
        self.pod.record["state"] = "running"
        self.save()   # one record write for the whole start
        return self

    def run(self):
        """Supervises until the pod is finished; returns its exit code."""
        while not self.lc.finished:
            self.idle(self.timeout())
            self.step()
        self.pod.drain_output()
        if self.fatal:
            raise self.fatal
        return self.exit_code()

    def step(self, save=True):
        """Looks at what happened, then performs every action due now, until
        the lifecycle has nothing more to ask; saves the record (save)."""
        while True:
            now = time.time()
            self.observe(now)
            actions = self.lc.step(now)
            if not actions:
                break
            for a in actions:
                self.perform(a)
        if save:
            self.save()

    def observe(self, now):
        """Reports every reaped process and a stop request to the lifecycle."""
        self.pod.reap()
        for p in self.pod.take_ended():
            if p is self.pod.pause:
                if not p.reported:
                    p.reported = True
                    self.lc.sandbox_died(now)
            elif not p.reported and self.pod.procs.get(p.name) is p:
                p.reported = True
                self.lc.container_exited(p.name, p.code, now, reason=p.reason)
        if self.pod.stop_requested and not self.lc.stopping:
            self.lc.stop(now)

    def perform(self, a):
        """Does one action of the lifecycle and reports the outcome."""
        if a.kind == CREATE_SANDBOX:
            self.create_sandbox()
        elif a.kind == START_CONTAINER:
            self.start_container(*self.specs[a.container])
        elif a.kind == KILL_CONTAINER:
            self.pod.signal(self.pod.procs[a.container],
                            signal.SIGKILL if a.force else signal.SIGTERM)
        elif a.kind == REMOVE_SANDBOX:
            self.pod.remove_sandbox()
            self.lc.sandbox_removed(time.time())

    def start_container(self, c, init):
        """Performs a StartContainer: the lifecycle hears that it runs, that
        its image could not be had (a detached pod backs off and tries
        again, ImagePullBackOff, as the kubelet does; a foreground one stops
        and fails with that line, as `podman play kube` does), or that a
        set-up step failed (an exit with 125-127)."""
        try:
            p = self.pod.start_container(c, init)
        except LauncherError as e:
            if c.image:
                from launcher.images.ensure import ImagePullError   # only pods on images pay for it
                if isinstance(e, ImagePullError):
                    self.lc.image_pull_failed(c.name, e.reason, str(e), time.time())
                    if not self.pod.detached and self.fatal is None:   # a one-shot command:
                        # fail with the first image that cannot be had, do not wait for it
                        self.fatal = LauncherError(f"container {c.name!r}: {e.reason}: {e}")
                        self.lc.stop(time.time())
                    return
            self.pod.warn(f"container {c.name}: {e}")
            self.lc.container_exited(c.name, e.code, time.time())
            return
        if p.failed:
            p.reported = True
            self.lc.container_exited(c.name, p.failed[0], time.time())
        else:
            self.lc.container_started(c.name, time.time())

    def create_sandbox(self):
        """Performs a CreateSandbox, reporting success or failure."""
        try:
            sid = self.pod.create_sandbox()
        except LauncherError as e:
            if not self.lc.sandboxes_created:
                self.first_error = e
            else:
                self.pod.warn(f"cannot recreate the sandbox: {e}")
            self.lc.sandbox_create_failed(time.time(), str(e))
            return
        self.lc.sandbox_created(sid, time.time())

    def timeout(self):
        """Seconds until the lifecycle has something due, or None."""
        t = self.lc.next_wakeup()
        return None if t is None else max(0.0, t - time.time())

    def idle(self, timeout):
        """Waits for the next event: a reaped process, a stop request or the
        timeout. Detached with a monitor, execs it instead (handoff.py);
        that returns only if something happened meanwhile."""
        if self.monitor:
            from launcher.supervisor import handoff
            handoff.exec_monitor(self, timeout)
        self.pod.wait(lambda: self.pod.ended or self.pod.stop_requested, timeout)

    # -- results -------------------------------------------------------------

    def save(self):
        """The record with the lifecycle's view: phase, restarts, events."""
        rec = self.pod.record
        rec["lifecycle"] = self.lc.to_dict()
        statuses = {c["name"]: c for c in rec["lifecycle"]["init_containers"]
                    + rec["lifecycle"]["containers"]}
        for entry in rec["containers"]:
            entry["restarts"] = statuses[entry["name"]]["restarts"]
        try:
            self.pod.save()
        except LauncherError as e:   # a full disk: the last complete record stays; retried next step
            self.pod.warn(str(e))

    def exit_code(self):
        """podman's rule: the first failing container's last exit code (init
        containers first, then in declaration order), else 0."""
        for c in self.lc.init_containers + self.lc.containers:
            if c.exit_code:
                return c.exit_code
        return 0

    def to_state(self):
        return {"pod": self.pod.to_state(), "lifecycle": self.lc.to_state(),
                "monitor": self.monitor}


def run_foreground(spec, store):
    """`launcher run`/`play` without -d: create, stream output, supervise
    until the pod is finished, remove. Returns the pod's exit code."""
    from launcher.supervisor.pod import Pod
    sup = Supervisor(Pod(spec, store)).start()
    try:
        return sup.run()
    finally:
        sup.pod.remove()
