"""The pod supervisor: builds a pod and runs it with Kubernetes semantics
until it is finished. Two layers:

- `Pod`: the resources of one pod, and no policy. Its directory and record;
  its sandbox, i.e. pause (PID 1 of new PID, network, IPC and UTS
  namespaces), the sandbox's namespaces pinned by bind mounts in the pod
  directory, and its CNI attachment; its container processes; reaping,
  output pumping and the wait for the next event.
- `Supervisor`: drives a `PodLifecycle` (launcher/lifecycle.py: restart
  policies, back-off, init containers, sandbox recreation, phase, events)
  and performs its actions on the Pod.

Every pod process is a direct child of one supervisor process: the
foreground `launcher run`/`play` itself, or, with -d, a process forked off
into its own session. Being their parent, it reaps them without races and
never signals a reused pid. While a detached pod has nothing to do, its
supervisor execs the C monitor (pause/bin/pod-monitor, csrc/monitor.c):
the pid stays the same, so every pod process stays its child, and ~30 KB
of RSS replace a ~15 MB interpreter. The monitor sleeps until the first
SIGCHLD, stop signal or deadline and execs `python -m launcher.supervise
--resume POD_DIR` back; the Python state travels in the pod directory
(supervisor.state). Signals that arrive meanwhile stay blocked and pending
across both execs, so none is lost.
"""
import os
import select
import sys
import time

try:   # signal without its enum wrappers: importing enum costs ~4 ms of start-up
    import _signal as signal
except ImportError:   # not CPython
    import signal

from launcher import ns, state
from launcher.errors import LauncherError
from launcher.lifecycle import (CREATE_SANDBOX, KILL_CONTAINER, REMOVE_SANDBOX, START_CONTAINER,
                                BackOff, PodLifecycle)
from launcher.proc import starttime
from launcher.sandbox import Spawner, drop_caps_check, read_to_eof

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
WAKE_SIGNALS = STOP_SIGNALS + (signal.SIGCHLD,)
# A detached supervisor (Python or the monitor) blocks every asynchronous
# signal, so a stray one (USR1, PIPE, ALRM...) never kills it, and unblocks
# only the wake-up signals; pod processes start with an empty mask.
FAULTS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT,
          signal.SIGTRAP, signal.SIGSYS)
STATE_FILE = "supervisor.state"
# Back-off cap and reset, as multiples of its base (the kubelet: 10 s, 5 min, 10 min).
BACKOFF_CAP, BACKOFF_RESET = 30, 60


def pause_dir():
    """The `pause` package's directory, found without importing it: next to
    this package (checkout, editable or regular install), else by lookup."""
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pause")
    if os.path.isfile(os.path.join(here, "__init__.py")):
        return here
    from importlib.util import find_spec
    spec = find_spec("pause")
    if spec is None or not spec.submodule_search_locations:
        raise LauncherError("the pause package is not installed")
    return spec.submodule_search_locations[0]


def pause_command(choice):
    """(argv, speaks_ready_fd) for --pause c|cffi|python|PATH [ARGS]."""
    if choice == "c":
        path = os.path.join(pause_dir(), "bin", "pause")
        if not os.access(path, os.X_OK):
            raise LauncherError(f"pause binary {path} not built (run `make build`, "
                                "or use --pause python)")
        return [path], True
    if choice in ("cffi", "python"):
        return [sys.executable, "-m", "pause", "--impl", choice], True
    import shlex
    import shutil
    try:
        argv = shlex.split(choice)
    except ValueError as e:
        raise LauncherError(f"--pause {choice!r}: {e}") from None
    if not argv:
        raise LauncherError("--pause: empty command")
    path = argv[0] if "/" in argv[0] else shutil.which(argv[0])
    if not path or not os.access(path, os.X_OK):
        raise LauncherError(f"--pause: {argv[0]!r} is not an executable")
    return [path] + argv[1:], False


def monitor_path():
    """The C monitor binary, or None to supervise detached pods in Python.
    LAUNCHER_MONITOR=python forces the Python supervisor, a path overrides."""
    forced = os.environ.get("LAUNCHER_MONITOR")
    if forced == "python":
        return None
    path = forced or os.path.join(pause_dir(), "bin", "pod-monitor")
    return path if os.access(path, os.X_OK) else None


def cni_dir(rootdir):
    """Where the CNI attachment records of every pod live."""
    return os.path.join(rootdir, ".cni")


def exit_text(status):
    """'exit N' or 'signal N' for a wait status (the exit file format)."""
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.WEXITSTATUS(status)}"


class Proc:
    """A pod process we forked: name, pid, start time, and its end."""

    def __init__(self, name, pid):
        self.name = name
        self.pid = pid
        self.start = starttime(pid)
        self.code = None       # podman-style exit code once reaped
        self.detail = None     # "exit N" / "signal N"
        self.failed = None     # (code, message) if the command could not be executed
        self.reported = False  # the supervisor has seen its end
        self.kill_at = None    # TERMed: when it gets KILL


class Pod:
    """One pod's resources, created and reaped by the current process."""

    RUNTIME = ("out", "err", "spawner", "pause_pidfd", "sel", "wake_r", "wake_w", "streams", "logs")

    def __init__(self, spec, detached=False, out=None, err=None):
        self.spec = spec
        self.detached = detached
        self.out = out if out is not None else sys.stdout.buffer
        self.err = err if err is not None else sys.stderr.buffer
        self.caps = drop_caps_check(spec.cap_drop) if spec.cap_drop else []
        self.rootdir = self.dir = self.record = None
        self.pause_argv, self.pause_ready = pause_command(spec.pause)
        self.pause = None            # the current sandbox's pause Proc
        self.sandbox_id = None       # the current sandbox: POD_ID-N (CNI_CONTAINERID)
        self.sandboxes = 0
        self.procs = {}              # container name -> its latest Proc
        self.ended = []              # reaped Procs the supervisor has not looked at
        self.stop_requested = False
        self.supervisor_kind = "launcher"
        self._runtime_init()

    def _runtime_init(self):
        """What lives only in this process: fds, selector, output streams."""
        self.spawner = self.pause_pidfd = self.sel = self.wake_r = self.wake_w = None
        self.streams = {}            # fd -> [proc, sink, pending bytes, log fd]
        self.logs = []               # log fds the foreground tees output into

    def __getstate__(self):
        """For supervisor.state: everything but this process's fds and streams."""
        return {k: v for k, v in self.__dict__.items() if k not in self.RUNTIME}

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._runtime_init()
        self.out = self.err = None

    # -- directory, record, signals ---------------------------------------

    def open(self):
        """Claims the pod's name and makes its directory, which appears with
        its record or not at all; installs the signal handling."""
        self.rootdir = state.root()
        with state.Lock(self.rootdir):
            state.drop_stale_tmp(self.rootdir)
            pod_id = state.new_id()
            name = self.spec.name or f"pod-{pod_id[:8]}"
            if not state.claim_name(self.rootdir, name, pod_id):
                raise LauncherError(f"pod name {name!r} is already in use "
                                    "(launcher rm it first)")
            tmp = os.path.join(self.rootdir, ".tmp-" + pod_id)
            os.mkdir(tmp, 0o700)
            self.record = {
                "id": pod_id, "name": name, "created": state.now(), "state": "creating",
                "detached": self.detached, "spec": self.spec.to_dict(),
                "supervisor": {"pid": os.getpid(), "start": starttime(os.getpid()),
                               "kind": self.supervisor_kind},
                "sandbox": None, "pause": {"argv": self.pause_argv}, "namespaces": {},
                "network": None, "containers": [], "lifecycle": None,
            }
            state.save(tmp, self.record)
            self.dir = os.path.join(self.rootdir, pod_id)
            os.rename(tmp, self.dir)
        self.attach()
        return self

    def attach(self):
        """Makes this process the pod's live supervisor: a spawner, a pidfd
        on pause, and SIGCHLD and the stop signals waking the selector; then
        unblocks them (a detached supervisor blocks them until here)."""
        self.spawner = Spawner(self.rootdir)
        if self.pause and self.pause.code is None:
            self.pause_pidfd = os.pidfd_open(self.pause.pid)
        self.sel = select.poll()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.sel.register(self.wake_r, select.POLLIN)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *a: None)
        for s in STOP_SIGNALS:
            signal.signal(s, self._on_stop_signal)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, WAKE_SIGNALS)   # pending ones arrive now

    def _on_stop_signal(self, signum, frame):
        """SIGINT/SIGTERM/SIGHUP: stop the pod (the loop does the work)."""
        self.stop_requested = True

    def save(self):
        """Writes the pod record under the state lock."""
        with state.Lock(self.rootdir):
            state.save(self.dir, self.record)

    def warn(self, msg):
        """One line on our stderr (a detached pod's is /dev/null: the record's
        events carry the same news)."""
        if self.err is None:
            return
        try:
            self.err.write(f"launcher: {msg}\n".encode())
            self.err.flush()
        except OSError:
            pass

    # -- the sandbox ---------------------------------------------------------

    def hostname(self):
        return self.spec.hostname or self.record["name"]

    def create_sandbox(self):
        """Starts pause in new namespaces and waits until it is ready, pins
        its net, IPC and UTS namespaces, and attaches the network (CNI ADD
        on the pinned netns). Returns the sandbox id. On failure whatever was
        made is undone and LauncherError raised."""
        self.sandboxes += 1
        sid = f"{self.record['id']}-{self.sandboxes}"
        log = os.open(os.path.join(self.dir, "sandbox.log"),
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            pid = self.spawner.start_pause(self.hostname(), self.pause_argv, self.pause_ready, log)
        finally:
            os.close(log)
        self.pause = Proc("pause", pid)
        attachment = None
        try:
            self.pause_pidfd = os.pidfd_open(pid)
            pins = ns.pin(pid, self.dir)
            if self.spec.network:
                from launcher import cni
                attachment = cni.add(cni.load(self.spec.network), sid, pins["net"], "eth0",
                                     self.spec.ports, state_dir=cni_dir(self.rootdir),
                                     pod_id=self.record["id"], owner_pid=os.getpid())
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self.pause.code, self.pause.reported = 128 + signal.SIGKILL, True
            ns.unpin(self.dir)
            self._close_pause_pidfd()
            raise
        self.sandbox_id = sid
        self.record.update(sandbox={"id": sid, "pins": pins},
                           namespaces=ns.ns_inodes(pid),
                           network=attachment.summary() if attachment else None)
        self.record["pause"].update(pid=pid, start=self.pause.start, exit=None)
        return sid

    def remove_sandbox(self):
        """Stops pause (TERM, the grace period, KILL), detaches the network
        (CNI DEL while the pinned netns still exists) and unpins. A DEL that
        fails is reported and left pending for `launcher gc`; returns its
        error or None."""
        if self.pause and self.pause.code is None:
            self.signal(self.pause, signal.SIGTERM)
            if not self.wait(lambda: self.pause.code is not None, max(self.spec.grace, 0.1)):
                self.signal(self.pause, signal.SIGKILL)
                self.wait(lambda: self.pause.code is not None, 10)
        problem = None
        if self.sandbox_id and self.spec.network:
            from launcher import cni
            try:
                cni.delete(cni_dir(self.rootdir), self.sandbox_id)
            except LauncherError as e:
                problem = str(e)
                self.warn(f"{e} (left for `launcher gc`)")
        ns.unpin(self.dir)
        self._close_pause_pidfd()
        self.sandbox_id = None
        self.record.update(sandbox=None, network=None)
        return problem

    def _close_pause_pidfd(self):
        if self.pause_pidfd is not None:
            os.close(self.pause_pidfd)
            self.pause_pidfd = None

    # -- containers ------------------------------------------------------------

    def start_container(self, c, init=False):
        """Starts container c (a ContainerSpec) in the current sandbox and
        returns its Proc; proc.failed is set when the command could not be
        executed (the child has then exited with 126/127)."""
        log = os.open(state.log_path(self.dir, c.name),
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        env = dict(os.environ, HOSTNAME=self.hostname(), **c.env)
        pipes = []
        try:
            if self.detached:
                out_fd = err_fd = log
            else:
                out_r, out_fd = os.pipe()
                err_r, err_fd = os.pipe()
                pipes = [(out_r, out_fd, self.out), (err_r, err_fd, self.err)]
            pid, failed = self.spawner.start_container(
                c, self.pause_pidfd, self.spec.share_pid, out_fd, err_fd, env,
                self.spec.no_new_privs, self.caps)
        except BaseException:
            for r, w, _ in pipes:
                os.close(r)
                os.close(w)
            os.close(log)
            raise
        proc = Proc(c.name, pid)
        proc.failed = failed
        self.procs[c.name] = proc
        entry = {"name": c.name, "argv": c.argv, "init": init, "pid": pid, "start": proc.start,
                 "namespaces": ns.ns_inodes(pid) if not failed else {}}
        old = [i for i, e in enumerate(self.record["containers"]) if e["name"] == c.name]
        if old:
            self.record["containers"][old[0]] = entry
        else:
            self.record["containers"].append(entry)
        for r, w, sink in pipes:
            os.close(w)
            os.set_blocking(r, False)
            self.streams[r] = [proc, sink, b"", log]
            self.sel.register(r, select.POLLIN)
        if pipes:
            self.logs.append(log)   # both streams are teed into it; closed in close()
        else:
            os.close(log)
        if failed:
            self.warn(f"container {c.name}: cannot run {c.argv[0]!r}: {failed[1]}")
        return proc

    def running(self):
        """Container processes not reaped yet."""
        return [p for p in self.procs.values() if p.code is None]

    def signal(self, proc, sig):
        """Sends sig to a pod process not reaped yet (our child, so its pid
        cannot have been reused)."""
        if proc.code is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass

    # -- events ------------------------------------------------------------------

    def reap(self):
        """Reaps every exited child, records its end in its exit file and
        queues it in self.ended (never blocks)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for p in list(self.procs.values()) + ([self.pause] if self.pause else []):
                if p.pid == pid and p.code is None:
                    p.code = os.waitstatus_to_exitcode(status)
                    p.code = 128 - p.code if p.code < 0 else p.code
                    p.detail = exit_text(status)
                    if p is self.pause:
                        self.record["pause"]["exit"] = p.detail
                        path = os.path.join(self.dir, "sandbox.exit")
                    else:
                        path = state.exit_path(self.dir, p.name)
                    state.write_atomic(path, p.detail + "\n")
                    self.ended.append(p)

    def take_ended(self):
        """The reaped Procs not handed out yet."""
        ended, self.ended = self.ended, []
        return ended

    def wait(self, predicate, timeout=None):
        """Pumps output and reaps until predicate() holds (True) or timeout
        seconds pass (False)."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            self.reap()
            if predicate():
                return True
            now = time.monotonic()
            if end is not None and now >= end:
                return False
            ms = None if end is None else max(0, int((end - now) * 1000) + 1)
            for fd, _ in self.sel.poll(ms):
                if fd == self.wake_r:
                    try:
                        while os.read(self.wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                elif fd in self.streams:
                    self._pump(fd)

    def _pump(self, fd):
        """Copies what a container wrote to our stdout/stderr, each line
        prefixed with its name, and appends it to its log."""
        entry = self.streams[fd]
        proc, sink, pending, log = entry
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if log is not None and data:
            os.write(log, data)
        lines = (pending + data).split(b"\n")
        if data:
            entry[2] = lines.pop()
        else:
            entry[2] = b""
            if lines[-1] == b"":
                lines.pop()
        prefix = proc.name.encode() + b" | "
        if lines and sink is not None:
            try:
                sink.write(b"".join(prefix + ln + b"\n" for ln in lines))
                sink.flush()
            except OSError:   # our stdout went away (e.g. `| head`): keep only the log
                entry[1] = None
        if not data:
            self.sel.unregister(fd)
            os.close(fd)
            del self.streams[fd]

    def drain_output(self):
        """Copies what the containers still have in their pipes (bounded)."""
        self.wait(lambda: not self.streams, 2.0)

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

    def close(self, restore_signals=True):
        """Closes our fds and (restore_signals) the default signal handling.
        Before an exec it must not: setting SIGCHLD to SIG_DFL discards a
        pending SIGCHLD even while it is blocked (POSIX), whereas execve
        resets the handlers and keeps what is pending."""
        for fd in list(self.streams):
            self.sel.unregister(fd)
            os.close(fd)
        self.streams.clear()
        for fd in self.logs:
            os.close(fd)
        self.logs = []
        if self.sel is not None:
            signal.set_wakeup_fd(-1)
            for s in WAKE_SIGNALS if restore_signals else ():
                signal.signal(s, signal.SIG_DFL)
            os.close(self.wake_r)
            os.close(self.wake_w)
            self.sel = None
        self._close_pause_pidfd()
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
            ns.unpin(self.dir)
        finally:
            self.close()
            with state.Lock(self.rootdir):
                state.remove(self.dir)
                state.release_name(self.rootdir, self.record["name"], self.record["id"])

    def mark_done(self):
        """Detached end: the pod is torn down; `done` is written once."""
        state.write_atomic(os.path.join(self.dir, "done"), "")


class Supervisor:
    """Runs a Pod by its PodLifecycle: the lifecycle decides, this performs."""

    def __init__(self, pod):
        spec = pod.spec
        b = spec.backoff
        self.pod = pod
        self.specs = {c.name: (c, False) for c in spec.containers}
        self.specs.update({c.name: (c, True) for c in spec.init_containers})
        self.lc = PodLifecycle([c.name for c in spec.containers],
                               [c.name for c in spec.init_containers], spec.restart,
                               BackOff(b, b * BACKOFF_CAP, b * BACKOFF_RESET), time.time())
        self.sandbox_backoff = BackOff(b, b * BACKOFF_CAP, b * BACKOFF_RESET)
        self.create_at = None        # a CreateSandbox waiting for its back-off
        self.sandbox_up_at = None
        self.first_error = None      # why the first sandbox could not be created
        self.monitor = None          # detached: the C monitor to exec when idle

    # -- the loop ------------------------------------------------------------

    def start(self):
        """Creates the pod and does what is due at once: the sandbox, then
        the first containers. If the first sandbox cannot be created, the pod
        is removed and the reason raised (LauncherError)."""
        self.pod.open()
        try:
            self.step()
            if self.first_error:
                raise self.first_error
        except BaseException:
            self.pod.remove()
            raise
        self.pod.record["state"] = "running"
        self.save()
        return self

    def run(self):
        """Supervises until the pod is finished; returns its exit code."""
        while not self.lc.finished:
            self.idle(self.timeout())
            self.step()
        self.pod.drain_output()
        return self.exit_code()

    def step(self):
        """Looks at what happened, then performs every action due now, until
        the lifecycle has nothing more to ask; saves the record."""
        while True:
            now = time.time()
            self.observe(now)
            actions = self.lc.step(now)
            if self.create_at is not None and (now >= self.create_at or self.lc.stopping):
                self.create_sandbox(now)
            elif not actions:
                break
            for a in actions:
                self.perform(a, now)
        for p in self.pod.running():
            if p.kill_at is not None and now >= p.kill_at:
                self.pod.signal(p, signal.SIGKILL)
                p.kill_at = None
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
                self.lc.container_exited(p.name, p.code, now)
        if self.pod.stop_requested and not self.lc.stopping:
            self.lc.stop(now)

    def perform(self, a, now):
        """Does one action of the lifecycle and reports the outcome."""
        if a.kind == CREATE_SANDBOX:
            self.create_at = now
            if self.lc.sandboxes_created and self.sandbox_up_at is not None:
                lived = now - self.sandbox_up_at
                if lived < self.sandbox_backoff.base:   # pause dies right away: a crash loop
                    self.create_at = now + self.sandbox_backoff.next(lived)
            if self.create_at <= now:
                self.create_sandbox(now)
        elif a.kind == START_CONTAINER:
            c, init = self.specs[a.container]
            proc = self.pod.start_container(c, init)
            if proc.failed:
                proc.reported = True
                self.lc.container_exited(c.name, proc.failed[0], time.time())
            else:
                self.lc.container_started(c.name, time.time())
        elif a.kind == KILL_CONTAINER:
            proc = self.pod.procs[a.container]
            self.pod.signal(proc, signal.SIGTERM)
            proc.kill_at = now + self.pod.spec.grace
        elif a.kind == REMOVE_SANDBOX:
            self.pod.remove_sandbox()
            self.lc.sandbox_removed(time.time())

    def create_sandbox(self, now):
        """Performs a CreateSandbox that is due (or answers it as failed if
        the pod was stopped while it waited)."""
        self.create_at = None
        if self.lc.stopping:
            self.lc.sandbox_create_failed(now, "the pod was stopped")
            return
        try:
            sid = self.pod.create_sandbox()
        except LauncherError as e:
            if not self.lc.sandboxes_created:
                self.first_error = e
            else:
                self.pod.warn(f"cannot recreate the sandbox: {e}")
            self.lc.sandbox_create_failed(time.time(), str(e))
            return
        self.sandbox_up_at = time.time()
        self.lc.sandbox_created(sid, self.sandbox_up_at)

    def timeout(self):
        """Seconds until something is due (a back-off, a KILL after the grace
        period, a sandbox recreation), or None."""
        times = [self.lc.next_wakeup(), self.create_at]
        times += [p.kill_at for p in self.pod.running()]
        times = [t for t in times if t is not None]
        return max(0.0, min(times) - time.time()) if times else None

    def idle(self, timeout):
        """Waits for the next event: a reaped process, a stop request or the
        timeout. Detached with a monitor, execs it instead (see the module
        doc); that returns only if something happened meanwhile."""
        if self.monitor:
            self.exec_monitor(timeout)
        self.pod.wait(lambda: self.pod.ended or self.pod.stop_requested, timeout)

    def exec_monitor(self, timeout):
        """Hands the wait to the C monitor, unless an event is already in."""
        signal.pthread_sigmask(signal.SIG_BLOCK, WAKE_SIGNALS)
        self.pod.reap()
        if self.pod.ended or self.pod.stop_requested:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, WAKE_SIGNALS)
            return
        import pickle
        state.write_atomic(os.path.join(self.pod.dir, STATE_FILE), pickle.dumps(self))
        wait_ms = -1 if timeout is None else int(timeout * 1000) + 1
        argv = [self.monitor, str(wait_ms), sys.executable, "-m", "launcher.supervise",
                "--resume", self.pod.dir]
        self.pod.close(restore_signals=False)
        os.execv(self.monitor, argv)

    # -- results -------------------------------------------------------------

    def save(self):
        """The record with the lifecycle's view: phase, restarts, events."""
        rec = self.pod.record
        rec["lifecycle"] = self.lc.to_dict()
        statuses = {c["name"]: c for c in rec["lifecycle"]["init_containers"]
                    + rec["lifecycle"]["containers"]}
        for entry in rec["containers"]:
            entry["restarts"] = statuses[entry["name"]]["restarts"]
        self.pod.save()

    def exit_code(self):
        """podman's rule: the first failing container's last exit code (init
        containers first, then in declaration order), else 0."""
        for c in self.lc.init_containers + self.lc.containers:
            if c.exit_code:
                return c.exit_code
        return 0


def run_foreground(spec):
    """`launcher run`/`play` without -d: create, stream output, supervise
    until the pod is finished, remove. Returns the pod's exit code."""
    sup = Supervisor(Pod(spec)).start()
    try:
        return sup.run()
    finally:
        sup.pod.remove()


def run_detached(spec):
    """`launcher run -d`: forks the supervisor, which creates the pod and
    reports "ok ID" or "err MESSAGE" on a pipe, then supervises it.
    Returns the pod id."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _detached_supervisor(spec, w)   # never returns
    os.close(w)
    msg = read_to_eof(r)
    if msg.startswith("ok "):
        return msg[3:].strip()
    os.waitpid(pid, 0)
    raise LauncherError(msg[4:].strip() if msg.startswith("err ") else
                        "the pod supervisor died during set-up")


def _detached_supervisor(spec, report_fd):
    """The forked supervisor of a detached pod: a new session, signals
    blocked (the wake-up ones until their handlers are in, Pod.attach), the
    pod created,
    the verdict sent to the launcher, then supervision (mostly as the C
    monitor)."""
    code = 0
    try:
        os.setsid()
        signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.valid_signals()) - set(FAULTS))
        sup = Supervisor(Pod(spec, detached=True))
        sup.monitor = monitor_path()
        sup.pod.supervisor_kind = "monitor" if sup.monitor else "python"
        try:
            sup.start()
        except LauncherError as e:
            os.write(report_fd, f"err {e}".encode())
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        sup.pod.out = sup.pod.err = None
        try:   # a launcher killed meanwhile does not take the pod with it
            os.write(report_fd, f"ok {sup.pod.record['id']}".encode())
        except OSError:
            pass
        os.close(report_fd)
        _finish(sup)
    except BaseException as e:
        code = 1
        try:
            os.write(report_fd, f"err {e}".encode())
        except OSError:
            pass
    finally:
        os._exit(code)


def _finish(sup):
    """Supervises a detached pod to its end and marks it done. Its stderr is
    /dev/null: an unexpected error goes to the pod's supervisor.log (inspect
    shows its last line) before the supervisor dies with it."""
    try:
        sup.run()
        sup.pod.close()
        sup.pod.mark_done()
    except BaseException:
        _log_error(sup.pod.dir)
        raise


def _log_error(poddir, text=None):
    """Appends the current exception's traceback (or text) to supervisor.log."""
    import traceback
    with open(os.path.join(poddir, state.SUPERVISOR_LOG), "a") as f:
        f.write(text if text is not None else traceback.format_exc())


def resume(poddir):
    """`python -m launcher.supervise --resume DIR`, exec'd by the monitor:
    takes the supervisor state back and goes on. The wake-up signals are
    still blocked; the handlers go in before they are unblocked, so a
    pending SIGCHLD or stop signal is seen."""
    import pickle
    try:
        with open(os.path.join(poddir, STATE_FILE), "rb") as f:
            sup = pickle.load(f)
    except Exception as e:   # unpickling garbage can raise almost anything
        _log_error(poddir, f"launcher: cannot resume the pod: {type(e).__name__}: {e}\n")
        return 1
    sup.pod.attach()
    sup.step()
    _finish(sup)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--resume":
        sys.exit(resume(sys.argv[2]))
    sys.exit("usage: python -m launcher.supervise --resume POD_DIR (the pod monitor runs it)")
