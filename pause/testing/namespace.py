"""PidNamespace: a fresh PID namespace whose PID 1 is an init under test.

The init is started with util-linux `unshare --pid --fork --mount-proc
--kill-child` (plus `--user --map-root-user` when not root), so it is PID 1 of
a new PID namespace with its own /proc. Processes are put inside with
`nsenter --target INIT --pid --mount`; their parent is nsenter, outside the
namespace, so everything *they* fork is reparented to the init when they
exit. Zombies are read from the host's /proc, scoped to the namespace's inode.
Teardown SIGKILLs the init (the kernel then kills the whole namespace) and
checks that no process of the namespace is left.
"""
import fcntl
import json
import os
import shutil
import signal as _signal
import subprocess
import sys
import threading
import time

# Ready-made command lines for the peer inits (each needs something to run).
PEER_INITS = {
    "tini": ["tini", "--", "sleep", "infinity"],
    "dumb-init": ["dumb-init", "sleep", "infinity"],
    "catatonit": ["catatonit", "-P"],
}
PAUSE_IMPLS = ("c", "cffi", "python")


class NamespaceUnavailable(Exception):
    """This machine cannot create the namespace; the message says why (a skip reason)."""


class NamespaceError(AssertionError):
    """A check on the namespace failed (a zombie left, a process leaked)."""


def _stat(pid):
    """(state, ppid, comm) of a host pid from /proc, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    comm = raw[raw.index(b"(") + 1:raw.rindex(b")")].decode(errors="replace")
    rest = raw[raw.rindex(b")") + 2:].split()
    return rest[0].decode(), int(rest[1]), comm


def _ns_inode(pid):
    try:
        return os.stat("/proc/%d/ns/pid" % pid).st_ino
    except OSError:
        return None


def _ns_pid(pid):
    """The innermost (namespace) pid of a host pid, from NSpid in /proc/PID/status."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        pass
    return None


def _children(ppid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st and st[1] == ppid:
                out.append(int(name))
    return out


def _until(pred, timeout, interval=0.005):
    """Polls pred() until truthy or timeout; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def needs_user_namespace():
    """Checks the namespace can be made here: returns True when a user namespace
    is needed (non-root), raises NamespaceUnavailable with the reason if not possible."""
    for tool in ("unshare", "nsenter"):
        if shutil.which(tool) is None:
            raise NamespaceUnavailable("util-linux `%s` not found on PATH" % tool)
    if os.geteuid() == 0:
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--pid", "--fork",
                            "--mount-proc", "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        raise NamespaceUnavailable("not root and unprivileged user namespaces are unavailable: %s"
                                   % probe.stderr.decode(errors="replace").strip())
    return True


def init_argv(impl=None, init=None):
    """The init's command line: our pause (impl c|cffi|python), a peer by name
    (tini, dumb-init, catatonit), or any argv list. Raises NamespaceUnavailable
    when the binary is missing."""
    if init is None:
        impl = impl or "c"
        if impl not in PAUSE_IMPLS:
            raise ValueError("unknown pause implementation %r (use one of %s)" % (impl, PAUSE_IMPLS))
        if impl == "c":
            import pause
            path = pause.binary_path()
            if not os.access(path, os.X_OK):
                raise NamespaceUnavailable("pause binary %s is not built (run `make build`)" % path)
            return [path]
        if impl == "cffi":
            try:
                import pause.core  # noqa: F401  (the compiled extension)
            except ImportError as e:
                raise NamespaceUnavailable("pause cffi extension is not built: %s" % e)
        return [sys.executable, "-m", "pause", "--impl", impl]
    argv = list(PEER_INITS.get(init, [init])) if isinstance(init, str) else list(init)
    if shutil.which(argv[0]) is None:
        raise NamespaceUnavailable("init %r not found on PATH" % argv[0])
    return argv


class Handle:
    """A process started inside the namespace by PidNamespace.run()."""

    def __init__(self, popen, pid, ns_pid):
        self.popen = popen
        self.pid = pid          # host pid of the process (not of nsenter)
        self.ns_pid = ns_pid    # its pid inside the namespace

    def wait(self, timeout=10):
        """Waits for the process; returns its exit status (128+N for signal N)."""
        code = self.popen.wait(timeout=timeout)
        return 128 - code if code < 0 else code

    @property
    def returncode(self):
        code = self.popen.poll()
        return None if code is None else (128 - code if code < 0 else code)


class PidNamespace:
    """A fresh PID namespace whose PID 1 is `impl` pause or the `init` argv.

    Use as a context manager, or call start() and close(). Attributes:
    init_pid (host pid of PID 1), inode (the namespace's inode), events
    (True when PID 1 is our pause, which reports reaps on --events-fd).
    """

    def __init__(self, impl=None, init=None, args=(), start_timeout=10):
        self.is_pause = init is None
        self.base = init_argv(impl, init)
        self.argv = self.base + list(args)
        self.user = needs_user_namespace()
        self.start_timeout = start_timeout
        self.unshare = None
        self.init_pid = None
        self.inode = None
        self._events_r = None
        self._events = []
        self._reader = None
        self._handles = []

    # -- life cycle ------------------------------------------------------
    def start(self):
        """Starts the init and returns once it is PID 1 (and ready, for pause)."""
        cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
        if self.user:
            cmd[1:1] = ["--user", "--map-root-user"]
        fds, flags, ready_r = [], [], None
        if self.is_pause:
            ready_r, ready_w = os.pipe()
            self._events_r, events_w = os.pipe()
            try:  # room for bursts: pause drops events rather than block on a full pipe
                fcntl.fcntl(events_w, 1031, 1 << 20)  # F_SETPIPE_SZ
            except OSError:
                pass
            fds = [ready_w, events_w]
            flags = ["--ready-fd", str(ready_w), "--events-fd", str(events_w)]
        argv = self.base + flags + self.argv[len(self.base):]
        self.unshare = subprocess.Popen(cmd + ["--"] + argv, pass_fds=fds,
                                        stdin=subprocess.DEVNULL, env=_env_with_package())
        for fd in fds:
            os.close(fd)
        if self._events_r is not None:
            self._reader = threading.Thread(target=self._read_events, daemon=True,
                                            name="pause-events-%d" % self.unshare.pid)
            self._reader.start()
        try:
            self._find_init()
            if ready_r is not None:
                self._wait_ready(ready_r)
        except BaseException:
            self.close(check=False)
            raise
        finally:
            if ready_r is not None:
                os.close(ready_r)
        return self

    def _find_init(self):
        """Finds the host pid of PID 1 (unshare's child once it has exec'd the init)."""
        me = _ns_inode(os.getpid())

        def found():
            for pid in _children(self.unshare.pid):
                inode = _ns_inode(pid)
                if inode and inode != me and _ns_pid(pid) == 1:
                    try:
                        if os.readlink("/proc/%d/exe" % pid) != os.readlink(
                                "/proc/%d/exe" % self.unshare.pid):
                            return pid, inode
                    except OSError:
                        pass
            return None
        got = _until(lambda: found() or self.unshare.poll() is not None, self.start_timeout)
        if not isinstance(got, tuple):
            raise NamespaceError("init %s did not start as PID 1 (unshare status %s)"
                                 % (self.argv, self.unshare.poll()))
        self.init_pid, self.inode = got

    def _wait_ready(self, fd):
        """Reads pause's `ready` line from the ready fd, bounded by start_timeout."""
        import select
        data = b""
        deadline = time.monotonic() + self.start_timeout
        while b"\n" not in data and time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], max(0, deadline - time.monotonic()))
            if not r:
                break
            chunk = os.read(fd, 64)
            if not chunk:
                break
            data += chunk
        if data.strip() != b"ready":
            raise NamespaceError("pause %s never wrote `ready` on --ready-fd (got %r)"
                                 % (self.argv, data))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close(check=exc[0] is None)

    def close(self, check=True, timeout=5):
        """Kills the namespace (SIGKILL to PID 1, which unshare, its parent, then
        reaps; util-linux 2.38 unshare prints a harmless `sigprocmask unblock
        failed` line when its child dies of a signal), waits for every helper and, with
        check, raises NamespaceError if any process of the namespace is left."""
        if self.init_pid and self.unshare.poll() is None:
            try:
                os.kill(self.init_pid, _signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.unshare is not None:
            try:
                self.unshare.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.unshare.kill()
                self.unshare.wait(timeout=timeout)
        for h in self._handles:
            try:
                h.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                h.popen.kill()
                h.popen.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout)  # EOF once PID 1, the only writer, is gone
        if self._events_r is not None and not (self._reader and self._reader.is_alive()):
            os.close(self._events_r)
            self._events_r = None
        left = self.inode and _until(lambda: not self.processes(), timeout)
        if check and self.inode and not left:
            raise NamespaceError("processes of the namespace left after teardown: %s"
                                 % self._describe(self.processes()))

    # -- looking inside --------------------------------------------------
    def processes(self):
        """Host pids of every process (zombies included) in the namespace."""
        return [int(n) for n in os.listdir("/proc") if n.isdigit() and _ns_inode(int(n)) == self.inode]

    def zombies(self):
        """Processes in state Z inside the namespace: [(host pid, ns pid, ppid, comm)]."""
        out = []
        for pid in self.processes():
            st = _stat(pid)
            if st and st[0] == "Z":
                out.append((pid, _ns_pid(pid), st[1], st[2]))
        return out

    def _describe(self, pids):
        lines = []
        for pid in pids:
            st = _stat(pid) or ("?", 0, "?")
            parent = _stat(st[1]) or ("?", 0, "?")
            lines.append("pid %d (ns pid %s, %s, state %s) parent %d (ns pid %s, %s)"
                         % (pid, _ns_pid(pid), st[2], st[0], st[1], _ns_pid(st[1]), parent[2]))
        return "\n  " + "\n  ".join(lines) if lines else "none"

    def wait_reaped(self, timeout=5):
        """Returns once no zombie is left in the namespace; raises NamespaceError
        (a test failure) listing every zombie and its parent after `timeout` s."""
        __tracebackhide__ = True  # pytest shows the user's line, not this one
        if _until(lambda: not self.zombies(), timeout):
            return
        zombies = self.zombies()
        if zombies:
            raise NamespaceError("%d zombie(s) still in the PID namespace of init %s after %.1fs:%s"
                                 % (len(zombies), " ".join(self.argv), timeout,
                                    self._describe([z[0] for z in zombies])))

    # -- events ----------------------------------------------------------
    def _read_events(self):
        """Reader thread: keeps the events pipe empty (so pause never has to drop
        an event) and parses each JSON line into self._events, until EOF."""
        buffer = b""
        while True:
            try:
                chunk = os.read(self._events_r, 65536)
            except OSError:
                return
            if not chunk:
                return
            *lines, buffer = (buffer + chunk).split(b"\n")
            self._events.extend(json.loads(line) for line in lines if line.strip())

    @property
    def reaped(self):
        """Every reap event pause has written to --events-fd so far (list of dicts)."""
        if not self.is_pause:
            raise NamespaceError("reap events exist only when PID 1 is our pause")
        return list(self._events)

    def wait_events(self, n, timeout=5):
        """Waits until at least n reap events arrived; returns them all."""
        _until(lambda: len(self.reaped) >= n, timeout)
        return self.reaped

    # -- acting ----------------------------------------------------------
    def run(self, argv, wait=False, timeout=10, **popen_kwargs):
        """Starts argv inside the namespace (its parent is nsenter, outside) and
        returns a Handle; with wait=True, waits for it first (bounded by timeout)."""
        cmd = ["nsenter", "--target", str(self.init_pid), "--pid", "--mount"]
        if self.user:
            cmd[1:1] = ["--user", "--preserve-credentials"]
        popen_kwargs.setdefault("env", _env_with_package())
        popen = subprocess.Popen(cmd + ["--"] + list(argv), **popen_kwargs)
        pid = _until(lambda: next(iter(_children(popen.pid)), None) or popen.poll() is not None,
                     timeout)
        pid = pid if isinstance(pid, int) and pid is not True else None
        handle = Handle(popen, pid, _ns_pid(pid) if pid else None)
        self._handles.append(handle)
        if wait:
            handle.wait(timeout)
        return handle

    def spawn_orphans(self, n, exit_codes=(0,), timeout=10):
        """Runs `python -m pause.testing.orphans n` inside: n children that have
        exited, unreaped, by the time their parent exits, so when this returns
        PID 1 has n zombies to reap. exit_codes are cycled over them."""
        argv = [sys.executable, "-m", "pause.testing.orphans", str(n)]
        argv += ["--exit-codes", ",".join(str(c) for c in exit_codes)]
        handle = self.run(argv, wait=True, timeout=timeout)
        if handle.returncode != 0:
            raise NamespaceError("orphans helper failed with status %s" % handle.returncode)
        return handle

    def signal(self, sig, inside=False):
        """Sends sig to PID 1 from the host (the parent namespace), or with
        inside=True from a process inside the namespace, where the kernel drops
        any signal PID 1 has no handler for."""
        if not inside:
            os.kill(self.init_pid, sig)
            return
        code = "import os, sys; os.kill(1, int(sys.argv[1]))"
        sender = self.run([sys.executable, "-c", code, str(int(sig))], wait=True)
        if sender.returncode not in (0, 128 + _signal.SIGKILL):  # KILLed if PID 1 exits
            raise NamespaceError("sending signal %d from inside failed (status %s)"
                                 % (sig, sender.returncode))

    @property
    def init_exit_code(self):
        """PID 1's exit status (128+N for signal N), None while it runs."""
        code = self.unshare.poll()
        return None if code is None else (128 - code if code < 0 else code)

    def wait_exit(self, timeout=5):
        """Waits for PID 1 to exit and returns its exit status."""
        try:
            self.unshare.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise NamespaceError("init %s still running %.1fs later" % (" ".join(self.argv), timeout))
        return self.init_exit_code


def _env_with_package():
    """The environment with this package importable (for helpers run with -m)."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
