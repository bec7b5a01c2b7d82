"""Helpers shared by the test suites: starting pause in a fresh PID namespace,
making orphans inside it, reading process state from /proc, bounded waits."""
import json
import os
import select
import signal
import subprocess
import sys

import pause
from pause.testing.namespace import _stat, _until   # the plugin's /proc reader and poller

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPLS = pause.IMPLEMENTATIONS


def pause_argv(impl, *args):
    """The command line that runs pause implementation `impl` with `args`."""
    if impl == "c":
        return [pause.binary_path(), *args]
    return [sys.executable, "-m", "pause", "--impl", impl, *args]


def sleep_until(pred, timeout=5.0, interval=0.01):
    """Polls pred() until it is true; returns its last value (falsy on time-out).
    The plugin's own poller, with the suite's defaults."""
    return _until(pred, timeout, interval)


def first_line(stream, timeout=15.0):
    """The first line of a child's output pipe, waiting at most `timeout` s
    (empty if none came), so a test never hangs on a silent child."""
    if not select.select([stream], [], [], timeout)[0]:
        return stream.read(0)
    return stream.readline()


def stat_fields(pid):
    """(state, ppid) of a process from /proc/PID/stat, or None if it is gone."""
    st = _stat(pid)
    return st and st[:2]


def ns_inode(pid, kind="pid"):
    try:
        return os.stat("/proc/%d/ns/%s" % (pid, kind)).st_ino
    except OSError:
        return None


def pids_in_namespace(inode):
    """Host pids of every process whose PID namespace has this inode."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and ns_inode(int(name)) == inode:
            out.append(int(name))
    return out


def zombies_in_namespace(inode):
    return [p for p in pids_in_namespace(inode) if (stat_fields(p) or ("?",))[0] == "Z"]


def child_pids(ppid):
    return [int(n) for n in os.listdir("/proc") if n.isdigit() and (stat_fields(int(n)) or (0, 0))[1] == ppid]


def descendants(root):
    """Every live process below root (host pids), found through /proc."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = stat_fields(int(name))
            if fields:
                parents.setdefault(fields[1], []).append(int(name))
    out, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class PausedNamespace:
    """pause (one implementation) running as PID 1 of a fresh PID namespace,
    started through util-linux unshare, with its ready and events pipes."""

    def __init__(self, impl, *args, env=None):
        ready_r, ready_w = os.pipe()
        self.events_r, events_w = os.pipe()
        os.set_blocking(self.events_r, False)
        argv = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                *pause_argv(impl, "--ready-fd", str(ready_w), "--events-fd", str(events_w), *args)]
        self.proc = subprocess.Popen(argv, pass_fds=(ready_w, events_w), stderr=subprocess.PIPE,
                                     env=env, cwd=REPO)
        os.close(ready_w)
        os.close(events_w)
        self._events = b""
        try:
            ready = os.read(ready_r, 64)
        finally:
            os.close(ready_r)
        assert ready == b"ready\n", "pause did not signal ready: %r" % ready
        kids = sleep_until(lambda: child_pids(self.proc.pid), 5)
        assert kids, "unshare has no child"
        self.pid = kids[0]          # pause, as the host sees it
        self.inode = ns_inode(self.pid)

    def enter(self, argv, **kw):
        """Runs argv inside the namespace (nsenter); returns the Popen."""
        return subprocess.Popen(["nsenter", "--target", str(self.pid), "--pid", "--mount", "--", *argv],
                                cwd="/", **kw)

    def run(self, argv, timeout=30, **kw):
        proc = self.enter(argv, **kw)
        proc.wait(timeout)
        return proc

    def make_orphans(self, exit_codes, delay=0.1):
        """Inside the namespace, a parent forks one child per exit code and
        exits at once; the children exit `delay` s later, as orphans of PID 1."""
        code = ("import os,sys,time\n"
                "for c in %r:\n"
                "    if os.fork() == 0:\n"
                "        time.sleep(%r); os._exit(c)\n" % (list(exit_codes), delay))
        proc = self.run([sys.executable, "-c", code])
        assert proc.returncode == 0

    def events(self):
        """Every JSON event read so far from --events-fd."""
        try:
            while True:
                chunk = os.read(self.events_r, 65536)
                if not chunk:
                    break
                self._events += chunk
        except BlockingIOError:
            pass
        return [json.loads(line) for line in self._events.decode().splitlines()]

    def zombies(self):
        return zombies_in_namespace(self.inode)

    def kill(self, sig):
        os.kill(self.pid, sig)

    def wait(self, timeout=10):
        """pause's exit code (unshare passes it through) and its stderr."""
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err.decode()

    def close(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.communicate(timeout=10)
        os.close(self.events_r)


def in_sigwait(pid):
    """True while pid sleeps in sigwaitinfo/sigtimedwait (its kernel wait
    channel), i.e. pause sits idle in its loop."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return "sigtimedwait" in f.read()
    except OSError:
        return False


def in_poll(pid):
    """True while pid sleeps in poll() (its kernel wait channel): the pod
    monitor sits idle in its loop."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return "poll" in f.read()
    except OSError:
        return False


def subids(path, name):
    """(start, count) of user `name`'s range in /etc/subuid or /etc/subgid
    (path), or None."""
    with open(path) as f:
        for ln in f:
            parts = ln.strip().split(":")
            if len(parts) == 3 and parts[0] == name:
                return int(parts[1]), int(parts[2])
    return None
