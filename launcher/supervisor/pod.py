"""One pod's resources, created and reaped by the current process, and no
policy: its directory and record; its sandbox, i.e. pause (PID 1 of new
PID, network, IPC and UTS namespaces) with the sandbox's namespaces pinned
by bind mounts in the pod directory, and its CNI attachment
(launcher/supervisor/sandbox.py); its container processes and their output
(launcher/supervisor/procs.py); reaping and the wait for the next event
(launcher/supervisor/events.py). launcher/supervisor/driver.py decides
what to do with it.
"""
import os

try:   # signal without its enum wrappers: importing enum costs ~4 ms of start-up
    import _signal as signal
except ImportError:   # not CPython
    import signal

from launcher import binaries, proc
from launcher.errors import LauncherError
from launcher.runtime import namespaces, security
from launcher.runtime.spawn import Spawner
from launcher.spec import STOP_SIGNALS
from launcher.store import layout
from launcher.store.pods import now
from launcher.supervisor import events, onimage, procs, sandbox
from launcher.supervisor.logs import RotatingLog
from launcher.supervisor.output import OutputPump
# Proc moved to launcher/supervisor/procs.py; still imported from here.
from launcher.supervisor.procs import Proc


WAKE_SIGNALS = STOP_SIGNALS + (signal.SIGCHLD,)


class Pod:
    """One pod's resources (see the module doc)."""

    def __init__(self, spec, store, detached=False, out_fd=None, err_fd=None):
        self.spec = spec
        self.store = store
        self.detached = detached
        self.out_fd, self.err_fd = (None, None) if detached else (
            1 if out_fd is None else out_fd, 2 if err_fd is None else err_fd)
        self.caps = security.capability_numbers(spec.cap_drop)
        self.pause_argv, self.pause_ready = binaries.pause_command(spec.pause)
        self.dir = self.record = None
        self.pause = None            # the current sandbox's pause Proc
        self.sandbox_id = None       # the current sandbox: POD_ID-N (CNI_CONTAINERID)
        self.sandboxes = 0
        self.procs = {}              # container name -> its latest Proc
        self.pipes = {}              # read end of a container's output pipe -> [name, which]
        self.ended = []              # reaped Procs the supervisor has not looked at
        self.stop_requested = False
        self.supervisor_kind = "launcher"
        self.cgroup_parent = os.environ.get("LAUNCHER_CGROUP_PARENT") or "launcher"
        self.podfs = None            # the pod's filesystems (podfs.PodFS), with images
        self._runtime_init()

    def _runtime_init(self):
        """What lives only in this process: fds, poller, output, logs, and
        the pod's cgroups (names only: cheap to make again)."""
        self.spawner = self.pause_pidfd = self.wake_r = self.wake_w = None
        self.pump = None
        self.logs = {}
        self.cg = None
        self.mounts_dir = None

    # -- the hand-over of a detached supervisor --------------------------------

    STATE = ("detached", "caps", "pause_argv", "pause_ready", "sandbox_id", "sandboxes",
             "supervisor_kind", "cgroup_parent")

    def podfs_state(self):
        return self.podfs.to_dict() if self.podfs else None

    def to_state(self):
        d = {k: getattr(self, k) for k in self.STATE}
        d.update(id=self.dir.id, spec=self.spec.to_dict(), podfs=self.podfs_state(),
                 pause=self.pause.to_state() if self.pause else None,
                 procs=[p.to_state() for p in self.procs.values()],
                 pipes=[[fd, name, which] for fd, (name, which) in self.pipes.items()])
        return d

    @classmethod
    def from_state(cls, d, store, spec_cls):
        pod = cls.__new__(cls)
        for k in cls.STATE:
            setattr(pod, k, d[k])
        pod.spec = spec_cls.from_dict(d["spec"])
        pod.store = store
        pod.out_fd = pod.err_fd = None
        pod.dir = store.open(d["id"])
        if pod.dir is None or pod.dir.record is None:
            raise LauncherError(f"pod {d['id']}: its directory or record is gone")
        pod.record = pod.dir.record
        pod.pause = Proc.from_state(d["pause"]) if d["pause"] else None
        pod.procs = {p["name"]: Proc.from_state(p) for p in d["procs"]}
        pod.pipes = {fd: [name, which] for fd, name, which in d["pipes"]}
        if d.get("podfs"):
            from launcher.supervisor import podfs
            pod.podfs = podfs.PodFS.from_dict(d["podfs"])
        else:
            pod.podfs = None
        pod.ended, pod.stop_requested = [], False
        pod._runtime_init()
        return pod

    # -- directory, record, signals ---------------------------------------

    def open(self):
        """Claims the pod's name and makes its directory, which appears with
        its record or not at all; then attach()."""
        from launcher.cgroups import resources
        every = [c.resources for c in self.spec.all_containers()]

        def record(pod_id, name):
            return {"id": pod_id, "name": name, "created": now(), "state": "creating",
                    "detached": self.detached, "spec": self.spec.to_dict(),
                    "supervisor": {"pid": os.getpid(), "start": proc.starttime(os.getpid()),
                                   "kind": self.supervisor_kind},
                    "sandbox": None, "pause": {"argv": self.pause_argv}, "namespaces": {},
                    "network": None, "containers": [], "lifecycle": None,
                    "cgroups": {"parent": self.cgroup_parent}, "qos": resources.qos_class(every)}
        self.dir = self.store.create(self.spec.name, record)
        self.record = self.dir.record
        try:
            pod_res = resources.pod([c.resources for c in self.spec.containers],
                                    [c.resources for c in self.spec.init_containers],
                                    self.spec.pids_limit)
            self.cgroups().create(pod_res, {c.name: c.resources for c in self.spec.all_containers()})
        except BaseException:
            with self.store.lock():
                self.store.remove(self.dir)
            raise
        self.attach()
        return self

    def cgroups(self):
        """The pod's cgroups (launcher/cgroups), made on first use."""
        if self.cg is None:
            from launcher import cgroups
            self.cg = cgroups.Pod(cgroups.detected(), self.dir.id, self.cgroup_parent)
        return self.cg

    def remove_cgroups(self):
        """The end of every pod: kills whatever is left in its cgroups (an
        escapee of any container) and removes them, then the pod's
        filesystems and image holds (launcher/supervisor/onimage.py)."""
        cg = self.cgroups()
        try:
            cg.kill_all()
            cg.remove()
            onimage.teardown(self.record, self.dir.id)
        except LauncherError as e:
            self.warn(str(e))

    def attach(self):
        """Makes this process the pod's live supervisor: a spawner, a pidfd
        on pause, the output pump, and SIGCHLD and the stop signals waking
        the poller; then unblocks them (a detached supervisor blocks them
        until here, so none is lost across the monitor's exec)."""
        self.spawner = Spawner()
        if self.pause and self.pause.code is None:
            self.pause_pidfd = os.pidfd_open(self.pause.pid)
        self.pump = OutputPump(self.out_fd, self.err_fd)
        for fd, (name, which) in self.pipes.items():
            self.pump.add(fd, name, which, self._log(name))
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *a: None)
        for s in STOP_SIGNALS:
            signal.signal(s, self._on_stop_signal)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, WAKE_SIGNALS)   # pending ones arrive now

    def _on_stop_signal(self, signum, frame):
        """SIGINT/SIGTERM/SIGHUP: stop the pod (the loop does the work)."""
        self.stop_requested = True

    def _log(self, name):
        if name not in self.logs:
            self.logs[name] = RotatingLog(self.dir, name, self.spec.log_max_size,
                                          self.spec.log_max_files)
        return self.logs[name]

    def save(self):
        self.dir.save(self.record)

    def warn(self, msg):
        """One line on our stderr (a detached pod's goes nowhere: the
        record's events carry the same news)."""
        if self.err_fd is None:
            return
        sink = self.pump.sink(1) if self.pump else None
        line = f"launcher: {msg}\n".encode()
        if sink is not None:
            sink.push(line)
            sink.flush()

    # -- the sandbox (launcher/supervisor/sandbox.py) -------------------------

    def hostname(self):
        return self.spec.hostname or self.record["name"]

    def cni_dir(self):
        return os.path.join(self.store.path, layout.CNI)

    def mounts(self):
        """(path, fd) of the state root's mount directory (pins, pod tmpfs),
        opened once."""
        if self.mounts_dir is None:
            self.mounts_dir = self.store.mounts()
        return self.mounts_dir

    def create_sandbox(self):
        return sandbox.create(self)

    def remove_sandbox(self):
        return sandbox.remove(self)

    def close_pause_pidfd(self):
        if self.pause_pidfd is not None:
            os.close(self.pause_pidfd)
            self.pause_pidfd = None

    # -- containers (launcher/supervisor/procs.py) -----------------------------

    def start_container(self, c, init=False):
        return procs.start_container(self, c, init)

    def running(self):
        """Container processes not reaped yet."""
        return [p for p in self.procs.values() if p.code is None]

    def signal(self, p, sig):
        """Sends sig to a pod process not reaped yet (our child, so its pid
        cannot have been reused)."""
        if p.code is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass

    # -- events (launcher/supervisor/events.py) ---------------------------------

    def reap(self):
        return events.reap(self)

    def take_ended(self):
        return events.take_ended(self)

    def wait(self, predicate, timeout=None):
        return events.wait(self, predicate, timeout)

    def _forget_closed_pipes(self):
        return events.forget_closed_pipes(self)

    def drain_output(self):
        return events.drain_output(self)

    def stop(self):
        """Stops the pod without a lifecycle (the demo): TERM to the
        containers, the grace period, KILL, then the sandbox."""
        for p in self.running():
            self.signal(p, signal.SIGTERM)
        if not self.wait(lambda: not self.running(), self.spec.grace):
            for p in self.running():
                self.signal(p, signal.SIGKILL)
            self.wait(lambda: not self.running(), 10)
        self.remove_sandbox()
        self.drain_output()

    # -- the end -------------------------------------------------------------

    def kill_remaining(self):
        """SIGKILLs and reaps every pod process still running (our children)."""
        for p in list(self.procs.values()) + ([self.pause] if self.pause else []):
            if p.code is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                    os.waitpid(p.pid, 0)
                except OSError:
                    pass
                p.code = 128 + signal.SIGKILL

    def close(self, restore_signals=True, keep_pipes=False):
        """Closes our fds and (restore_signals) the default signal handling.
        Before an exec it must not: setting SIGCHLD to SIG_DFL discards a
        pending SIGCHLD even while it is blocked (POSIX), whereas execve
        resets the handlers and keeps what is pending. keep_pipes: the
        container pipes stay open for the monitor."""
        if self.pump is not None:
            if keep_pipes:
                self.pump.streams.clear()
            else:
                self.pipes.clear()
            self.pump.close()
            self.pump = None
        for log in self.logs.values():
            log.close()
        self.logs = {}
        if self.wake_r is not None:
            signal.set_wakeup_fd(-1)
            for s in WAKE_SIGNALS if restore_signals else ():
                signal.signal(s, signal.SIG_DFL)
            os.close(self.wake_r)
            os.close(self.wake_w)
            self.wake_r = self.wake_w = None
        self.close_pause_pidfd()
        if self.mounts_dir is not None:
            os.close(self.mounts_dir[1])
            self.mounts_dir = None
        if self.spawner:
            self.spawner.close()
            self.spawner = None

    def remove(self):
        """Foreground end: the pod leaves nothing behind (like run --rm), even
        when supervision ended early (an exception)."""
        self.kill_remaining()
        try:
            if self.sandbox_id:
                self.remove_sandbox()
            namespaces.unpin(self.mounts(), self.dir.id)
            self.remove_cgroups()
        finally:
            self.close()
            with self.store.lock():
                self.store.remove(self.dir)

    def mark_done(self):
        """Detached end: the pod is torn down (its cgroups too); `done` is
        written once."""
        self.remove_cgroups()
        self.dir.write(layout.DONE, "")
