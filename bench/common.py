"""Helpers shared by the benches: timing statistics, a plain stderr progress
bar, the machine description and its load (vmstat), /proc readers, a
scratch pids cgroup, the kernel.pid_max guard, and the inits we compare (how
to start each one)."""
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "bench", "results")
PIDS_ROOT = "/sys/fs/cgroup/pids"


def count_arg(argv, default, prog):
    """The first argument that is not an option, as a count >= 1 (default
    when there is none), for the benches that also run on their own; one
    line on stderr and exit 2 when it is not such a number."""
    args = [a for a in argv if not a.startswith("--")]
    if not args:
        return default
    if not args[0].isdigit() or int(args[0]) < 1:
        print(f"{prog}: the count must be a whole number of at least 1, not {args[0]!r}",
              file=sys.stderr)
        sys.exit(2)
    return int(args[0])


class Skip(Exception):
    """A bench (or one row of it) cannot run here; the message says why."""


def byte_compile_checkout(py):
    """Byte-compiles the checkout's launcher and pause with py: with
    PYTHONDONTWRITEBYTECODE set (as here) and no __pycache__, every launcher
    run would recompile its modules (~10 ms). Skip if it fails."""
    r = subprocess.run([py, "-m", "compileall", "-q", os.path.join(REPO, "launcher"),
                        os.path.join(REPO, "pause")], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        last = (r.stdout + r.stderr).strip().splitlines() or [f"exit {r.returncode}"]
        raise Skip(f"byte-compiling the checkout failed: {last[-1]}")


def summary(samples):
    """Median, min, max and count of a list of numbers (seconds or bytes)."""
    return {"median": statistics.median(samples), "min": min(samples),
            "max": max(samples), "n": len(samples), "samples": samples}


class Progress:
    """A one-line progress bar on stderr, redrawn in place; silent when
    stderr is not a terminal except for one line per finished step."""

    def __init__(self, total, label):
        self.total, self.done, self.label = max(total, 1), 0, label
        self.tty = sys.stderr.isatty()
        self.start = time.monotonic()

    def step(self, what=""):
        self.done += 1
        frac = self.done / self.total
        bar = "#" * int(30 * frac)
        line = (f"{self.label} [{bar:<30}] {self.done}/{self.total} "
                f"{time.monotonic() - self.start:5.1f}s {what}")
        if self.tty:
            sys.stderr.write("\r" + line[:100].ljust(100))
            if self.done >= self.total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def machine():
    """Cores, kernel, CPU model and date, for the results header."""
    model = ""
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cores": os.cpu_count(), "kernel": platform.release(), "cpu": model,
            "python": platform.python_version(), "cgroups": cgroup_mode(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def cgroup_mode(mounts=None):
    """How the host mounts cgroups, as it decides what a cgroup move costs:
    "v2", "hybrid" (v1 controllers beside a v2 hierarchy), "v1" or "none",
    and ", favordynmods" when a hierarchy is mounted with that option (moves
    then skip the RCU grace period a default host waits for each time;
    docs/cgroups.md). mounts: /proc/self/mounts's text (read if None)."""
    if mounts is None:
        mounts = ""
        with contextlib.suppress(OSError), open("/proc/self/mounts") as f:
            mounts = f.read()
    kinds, favor = set(), False
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
            kinds.add(fields[2])
            favor = favor or "favordynmods" in fields[3].split(",")
    mode = {frozenset({"cgroup2"}): "v2", frozenset({"cgroup"}): "v1",
            frozenset({"cgroup", "cgroup2"}): "hybrid"}.get(frozenset(kinds), "none")
    return mode + (", favordynmods" if favor else "")


def load():
    """How busy the machine is now: /proc/loadavg's 1, 5 and 15 minute
    figures and the last sample of `vmstat 1 3` (a 1-second interval, not
    the averages since boot of its first line), as {column: int} and as
    printed. Recorded before and after a run: wall times are only worth
    comparing when few processes were runnable."""
    out = {"loadavg": None, "vmstat": None, "vmstat_line": None}
    with contextlib.suppress(OSError):
        with open("/proc/loadavg") as f:
            out["loadavg"] = [float(x) for x in f.read().split()[:3]]
    try:
        r = subprocess.run(["vmstat", "1", "3"], capture_output=True, text=True, timeout=30)
        lines = r.stdout.splitlines()
        header, last = lines[1].split(), lines[-1].split()
        out["vmstat"] = dict(zip(header, (int(v) for v in last)))
        out["vmstat_line"] = " ".join(last)
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        pass
    return out


def proc_status(pid):
    """The fields of /proc/PID/status as a dict of strings."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def rss_kb(pid):
    """Resident set size of a process in KB."""
    return int(proc_status(pid)["VmRSS"].split()[0])


def ctxt_switches(pid):
    """Voluntary plus involuntary context switches of a process so far."""
    st = proc_status(pid)
    return int(st["voluntary_ctxt_switches"]) + int(st["nonvoluntary_ctxt_switches"])


def cpu_ns(pid):
    """CPU time a process has used, in ns (/proc/PID/schedstat)."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def children(pid):
    """Direct children of a process."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def wait_for(fn, timeout, what):
    """Polls fn() every millisecond until it returns something true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.001)
    raise Skip(f"timed out after {timeout} s waiting for {what}")


@contextlib.contextmanager
def pids_cgroup():
    """A fresh child of the pids controller with no limit; removed after."""
    if not os.path.isdir(PIDS_ROOT):
        raise Skip(f"no pids cgroup controller at {PIDS_ROOT}")
    path = tempfile.mkdtemp(prefix="bench-", dir=PIDS_ROOT)
    try:
        yield path
    finally:
        deadline = time.monotonic() + 10
        while True:
            try:
                os.rmdir(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)


@contextlib.contextmanager
def pid_max_at_least(n):
    """Raises kernel.pid_max to n for the block and restores it after."""
    path = "/proc/sys/kernel/pid_max"
    with open(path) as f:
        old = int(f.read())
    if old >= n:
        yield
        return
    with open(path, "w") as f:
        f.write(str(n))
    try:
        yield
    finally:
        with open(path, "w") as f:
            f.write(str(old))


def compile_helper(name, tmpdir):
    """Compiles bench/NAME.c with gcc into tmpdir; returns the binary path."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise Skip("no C compiler (gcc) to build the burst helper")
    out = os.path.join(tmpdir, name)
    src = os.path.join(REPO, "bench", name + ".c")
    subprocess.run([cc, "-O2", "-o", out, src], check=True)
    return out


def venv_python():
    """The project's venv interpreter, else the one running the bench."""
    p = os.path.join(REPO, ".venv", "bin", "python")
    return p if os.access(p, os.X_OK) else sys.executable


def inits():
    """The inits we compare: name -> (argv, uses_ready_fd, binary to size).
    Rows whose program is missing are returned with argv None and a reason."""
    py = venv_python()
    pause_bin = os.path.join(REPO, "pause", "bin", "pause")
    table = {}
    if os.access(pause_bin, os.X_OK):
        table["pause (C)"] = ([pause_bin], True, pause_bin)
    else:
        table["pause (C)"] = (None, "pause/bin/pause not built (make build)", None)
    have_pkg = subprocess.run([py, "-c", "import pause.__main__"],
                              capture_output=True, cwd=REPO).returncode == 0
    for impl, label in (("cffi", "pause (cffi)"), ("python", "pause (Python)")):
        if have_pkg:
            table[label] = ([py, "-m", "pause", "--impl", impl], True, None)
        else:
            table[label] = (None, "python -m pause not importable", None)
    for name, argv in (("catatonit -P", ["catatonit", "-P"]),
                       ("tini", ["tini", "--", "sleep", "infinity"]),
                       ("dumb-init", ["dumb-init", "sleep", "infinity"])):
        exe = shutil.which(argv[0])
        if exe:
            table[name] = ([exe] + argv[1:], False, exe)
        else:
            table[name] = (None, f"{argv[0]} not installed", None)
    return table
