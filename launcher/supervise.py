"""The pod supervisor: creates a pod, watches its processes, stops it.

A Pod is created by the process that will supervise it: the foreground
`launcher run` itself, or (with -d) a forked supervisor that, once the pod
is up, execs the tiny C monitor (pause/bin/pod-monitor, csrc/monitor.c),
which inherits every pod process as its child. The Python loop here is the
foreground supervisor, and the detached one when no monitor is built.

The loop is driven by one selector: container output pipes plus the signal
wakeup fd (SIGCHLD, SIGINT, SIGTERM, SIGHUP). Stopping follows podman/kubelet:
TERM to the containers, `grace` seconds, KILL, then TERM pause (KILL after
another grace period). Exits are written to the pod directory as they happen
(ctr-NAME.exit, sandbox.exit), in the same format as the C monitor.
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
from launcher.sandbox import Spawner, drop_caps_check

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


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
        self.start = ns.starttime(pid)
        self.code = None     # podman-style exit code once reaped
        self.detail = None   # "exit N" / "signal N"


class Pod:
    """One pod being created and supervised by the current process."""

    def __init__(self, spec, detached=False, out=None, err=None):
        self.spec = spec
        self.detached = detached
        self.out = out if out is not None else sys.stdout.buffer
        self.err = err if err is not None else sys.stderr.buffer
        self.rootdir = self.dir = None
        self.record = None
        self.spawner = None
        self.pause = None
        self.pause_pidfd = None
        self.containers = []
        self.sel = None
        self.wake_r = None
        self.streams = {}            # fd -> [proc, sink, pending bytes, log fd]
        self.logs = []               # log fds the foreground tees output into
        self.stop_requested = False
        self.term_deadline = None
        self.killed = False
        self.caps = drop_caps_check(spec.cap_drop) if spec.cap_drop else []

    # -- creation ---------------------------------------------------------

    def create(self):
        """Validates, allocates the pod id and name, starts pause, then every
        container. On failure everything started is torn down again."""
        pause_argv, ready = pause_command(self.spec.pause)
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
                "supervisor": {"pid": os.getpid(), "start": ns.starttime(os.getpid()),
                               "kind": "launcher"},
                "pause": {"argv": pause_argv}, "namespaces": {}, "containers": [],
            }
            state.save(tmp, self.record)   # the pod appears with its record, or not at all
            self.dir = os.path.join(self.rootdir, pod_id)
            os.rename(tmp, self.dir)
        self._install_signals()
        try:
            self.spawner = Spawner()
            log = os.open(os.path.join(self.dir, "sandbox.log"),
                          os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            try:
                pid = self.spawner.start_pause(name, pause_argv, ready, log)
            finally:
                os.close(log)
            self.pause = Proc("pause", pid)
            self.pause_pidfd = os.pidfd_open(pid)
            self.record["pause"].update(pid=pid, start=self.pause.start)
            self.record["namespaces"] = ns.ns_inodes(pid)
            for c in self.spec.containers:
                self.add_container(c, save=False)
            self.record["state"] = "running"
            self.save()
        except BaseException:
            self.abort()
            raise
        return self

    def save(self):
        """Writes the pod record under the state lock."""
        with state.Lock(self.rootdir):
            state.save(self.dir, self.record)

    def add_container(self, c, save=True):
        """Starts container c (ContainerSpec) in the running sandbox."""
        log = os.open(state.log_path(self.dir, c.name),
                      os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        env = dict(os.environ, HOSTNAME=self.record["name"], **c.env)
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
        self.containers.append(proc)
        entry = {"name": c.name, "argv": c.argv, "pid": pid, "start": proc.start,
                 "namespaces": ns.ns_inodes(pid) if not failed else {}, "restarts": 0}
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
            self.err.write(f"launcher: container {c.name}: cannot run {c.argv[0]!r}: "
                           f"{failed[1]}\n".encode())
            self.err.flush()
        if save:
            self.save()
        return proc

    def _install_signals(self):
        """SIGCHLD and the stop signals wake the selector through a pipe."""
        self.sel = select.poll()
        self.wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._wake_w = wake_w
        self.sel.register(self.wake_r, select.POLLIN)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *a: None)
        for s in STOP_SIGNALS:
            signal.signal(s, self._on_stop_signal)

    def _on_stop_signal(self, signum, frame):
        """SIGINT/SIGTERM/SIGHUP: stop the pod (the loop does the work)."""
        self.stop_requested = True

    # -- supervision ------------------------------------------------------

    def running(self):
        """Containers not reaped yet."""
        return [p for p in self.containers if p.code is None]

    def reap(self):
        """Reaps every exited child and records its end (never blocks)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for p in self.containers + ([self.pause] if self.pause else []):
                if p.pid == pid and p.code is None:
                    p.code = os.waitstatus_to_exitcode(status)
                    p.code = 128 - p.code if p.code < 0 else p.code
                    p.detail = exit_text(status)
                    fname = ("sandbox.exit" if p is self.pause
                             else os.path.basename(state.exit_path(self.dir, p.name)))
                    state.write_atomic(os.path.join(self.dir, fname), p.detail + "\n")

    def _advance(self):
        """The stop state machine: TERM, then KILL after the grace period.
        A dead pause stops the pod (issue 4 will recreate the sandbox)."""
        if self.pause and self.pause.code is not None and self.running():
            self.stop_requested = True
        if self.stop_requested and self.term_deadline is None:
            self.term_deadline = time.monotonic() + self.spec.grace
            self._signal_all(signal.SIGTERM)
        if self.term_deadline and not self.killed and time.monotonic() >= self.term_deadline:
            self.killed = True
            self._signal_all(signal.SIGKILL)

    def _signal_all(self, sig):
        """Sends sig to every container not reaped yet."""
        for p in self.running():
            try:
                os.kill(p.pid, sig)   # our unreaped child: the pid cannot be stale
            except ProcessLookupError:
                pass

    def wait(self, predicate, timeout=None):
        """Pumps output, reaps, and handles stop requests until predicate()
        holds (True) or timeout seconds pass (False)."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            self.reap()
            self._advance()
            if predicate():
                return True
            now = time.monotonic()
            if end is not None and now >= end:
                return False
            waits = [t - now for t in (end, self.term_deadline if not self.killed else None)
                     if t is not None]
            ms = max(0, int(min(waits) * 1000) + 1) if waits else None
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

    def supervise(self):
        """Runs until every container has exited (or the pod was stopped),
        then stops pause. Returns the pod's exit code."""
        self.wait(lambda: not self.running())
        self.stop_sandbox()
        return self.exit_code()

    def stop_sandbox(self):
        """TERM pause, KILL it after the grace period, reap it, and drain
        the remaining output (bounded)."""
        if self.pause and self.pause.code is None:
            os.kill(self.pause.pid, signal.SIGTERM)
            if not self.wait(lambda: self.pause.code is not None, max(self.spec.grace, 0.1)):
                os.kill(self.pause.pid, signal.SIGKILL)
                self.wait(lambda: self.pause.code is not None, 10)
        self.wait(lambda: not self.streams, 2.0)

    def exit_code(self):
        """podman's rule: the first failing container's code, else 0."""
        for p in self.containers:
            if p.code:
                return p.code
        return 0

    def abort(self):
        """Kills and reaps whatever this pod started, removes its state."""
        self.kill_remaining()
        self.close()
        if self.dir:
            with state.Lock(self.rootdir):
                state.remove(self.dir)
                state.release_name(self.rootdir, self.record["name"], self.record["id"])

    def kill_remaining(self):
        """SIGKILLs and reaps every pod process still running (our children)."""
        for p in self.containers + ([self.pause] if self.pause else []):
            if p.code is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                    os.waitpid(p.pid, 0)
                except OSError:
                    pass
                p.code = 137

    def close(self):
        """Closes our fds and restores signal handling (foreground teardown)."""
        for fd in list(self.streams):
            self.sel.unregister(fd)
            os.close(fd)
        self.streams.clear()
        for fd in self.logs:
            os.close(fd)
        self.logs = []
        if self.sel is not None:
            signal.set_wakeup_fd(-1)
            for s in STOP_SIGNALS + (signal.SIGCHLD,):
                signal.signal(s, signal.SIG_DFL)
            os.close(self.wake_r)
            os.close(self._wake_w)
            self.sel = None
        if self.pause_pidfd is not None:
            os.close(self.pause_pidfd)
            self.pause_pidfd = None
        if self.spawner:
            self.spawner.close()
            self.spawner = None

    def remove(self):
        """Foreground end: the pod leaves nothing behind (like run --rm), even
        when supervision ended early (an exception)."""
        self.kill_remaining()
        self.close()
        with state.Lock(self.rootdir):
            state.remove(self.dir)
            state.release_name(self.rootdir, self.record["name"], self.record["id"])


def run_foreground(spec):
    """`launcher run` without -d: create, stream output, stop, remove.
    Returns the pod's exit code."""
    pod = Pod(spec)
    pod.create()
    try:
        return pod.supervise()
    finally:
        pod.remove()


def run_detached(spec):
    """`launcher run -d`: forks the supervisor, which creates the pod and
    reports "ok ID" or "err MESSAGE" on a pipe, then becomes the monitor.
    Returns the pod id."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _detached_supervisor(spec, w)   # never returns
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 4096)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    msg = b"".join(chunks).decode(errors="replace")
    if msg.startswith("ok "):
        return msg[3:].strip()
    os.waitpid(pid, 0)
    raise LauncherError(msg[4:].strip() if msg.startswith("err ") else
                        "the pod supervisor died during set-up")


def _detached_supervisor(spec, report_fd):
    """The forked supervisor of a detached pod: a new session, stop signals
    blocked until the monitor takes over, the pod created, the verdict sent
    to the launcher, then execve() of the C monitor (or the Python loop)."""
    code = 0
    try:
        os.setsid()
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS + (signal.SIGCHLD,))
        pod = Pod(spec, detached=True)
        try:
            pod.create()
        except LauncherError as e:
            os.write(report_fd, f"err {e}".encode())
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        mon = monitor_path()
        kind = "monitor" if mon else "python"
        pod.record["supervisor"]["kind"] = kind
        pod.save()
        try:   # a launcher killed meanwhile does not take the pod with it
            os.write(report_fd, f"ok {pod.record['id']}".encode())
        except OSError:
            pass
        os.close(report_fd)
        if mon:
            argv = [mon, str(int(spec.grace * 1000)), str(pod.pause.pid)]
            argv += [f"{p.pid}:{p.name}" for p in pod.containers]
            os.chdir(pod.dir)   # the monitor writes its files relative to it
            os.execv(mon, argv)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS + (signal.SIGCHLD,))
        pod.supervise()
        state.write_atomic(os.path.join(pod.dir, "done"), "")
    except BaseException as e:
        code = 1
        try:
            os.write(report_fd, f"err {e}".encode())
        except OSError:
            pass
    finally:
        os._exit(code)
