"""What the generic init tests share: running `pause OPTS -- CMD` (as PID 1
of a new PID namespace or not), a child that reports every signal it gets,
process states from /proc, and an interactive shell on a real pty for job
control. Every wait is bounded."""
import os
import select
import signal
import subprocess
import sys
import time

from helpers import child_pids, in_sigwait, pause_argv, sleep_until, stat_fields

# Signals no init can or does forward: KILL and STOP, CHLD (pause's own),
# 32-34 (kept by the C libraries).
NEVER_FORWARDED = {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, 32, 33, 34}
TTY_STOPS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)
# Raised by the kernel for a fault, but also sent by users; ABRT with them.
FAULTS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGTRAP, signal.SIGSYS,
          signal.SIGABRT)
# Every signal pause forwards and does not stop for.
FORWARDED = [s for s in range(1, signal.SIGRTMAX + 1) if s not in NEVER_FORWARDED and s not in TTY_STOPS]

UNSHARE = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"]

# A child that reports, on stdout, each signal it receives ("got N"). It
# announces itself ("up PID") once its handlers are installed, and exits
# with the code it reads on stdin (0 at end of file). It sleeps in select()
# on stdin and a wakeup fd, never in a bare read: a signal landing just
# before a blocking read would have its handler wait for the next signal.
CATCHER = """
import os, select, signal, sys
r, w = os.pipe()
os.set_blocking(w, False)
signal.set_wakeup_fd(w)
def got(sig, _):
    os.write(1, b"got %d\\n" % sig)
for s in range(1, signal.SIGRTMAX + 1):
    if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, 32, 33, 34):
        try:
            signal.signal(s, got)
        except (OSError, ValueError):
            pass
os.write(1, b"up %d\\n" % os.getpid())
while True:
    try:
        if 0 in select.select([0, r], [], [])[0]:
            break
        os.read(r, 4096)
    except InterruptedError:
        pass
line = sys.stdin.buffer.readline()
os._exit(int(line or 0))
"""


def run_init(impl, *cmd, pause_opts=(), timeout=20, pid1=False, **kw):
    """Runs `pause OPTS -- CMD`, as PID 1 of a new PID namespace (with its own
    /proc, so ps inside tells the truth) if pid1; returns the CompletedProcess
    (stdout and stderr captured)."""
    argv = pause_argv(impl, *pause_opts, "--", *cmd)
    if pid1:
        argv = UNSHARE + argv
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, **kw)


def state(pid):
    """The one-letter state of a process (S, R, T, Z...), or None once gone."""
    fields = stat_fields(pid)
    return fields and fields[0]


def wait_state(pids, states, timeout=10):
    """Waits until every pid is in one of states; True if they got there."""
    return sleep_until(lambda: all(state(p) in states for p in pids), timeout)


RUNNING = ("S", "R", "D")
STOPPED = ("T",)


def pending(pid):
    """The signals pending for a process (its own and its thread group's)."""
    mask = 0
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("SigPnd:", "ShdPnd:")):
                    mask |= int(line.split()[1], 16)
    except OSError:
        return set()
    return {sig for sig in range(1, 65) if mask >> (sig - 1) & 1}


def gone(pid):
    """True once pid no longer exists (or is a zombie nobody of ours waits for)."""
    return state(pid) in (None, "Z")


class LineReader:
    """Lines from a pipe or pty fd, each waited for with a bound, with its own
    buffer (select() on a buffered file object would miss buffered lines)."""

    def __init__(self, fd):
        self.fd, self.buf = fd, b""

    def _fill(self, timeout):
        if not select.select([self.fd], [], [], max(0.0, timeout))[0]:
            return False
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # a pty whose other side is closed
            chunk = b""
        if not chunk:
            raise EOFError
        self.buf += chunk
        return True

    def line(self, timeout=10.0):
        """The next line (with its newline), or b"" if none came in time or at EOF."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            try:
                if not self._fill(deadline - time.monotonic()) and time.monotonic() >= deadline:
                    return b""
            except EOFError:
                return b""
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def until(self, text, timeout=10.0):
        """Reads until text has appeared; returns everything up to and with it
        (None if it did not come in time)."""
        deadline = time.monotonic() + timeout
        while text not in self.buf:
            try:
                if not self._fill(deadline - time.monotonic()) and time.monotonic() >= deadline:
                    return None
            except EOFError:
                return None
        head, sep, self.buf = self.buf.partition(text)
        return head + sep

    def pending(self, timeout=0.0):
        """Whatever is readable now (after at most timeout s), as bytes."""
        try:
            self._fill(timeout)
        except EOFError:
            pass
        out, self.buf = self.buf, b""
        return out


class Catcher:
    """pause OPTS -- CATCHER (as PID 1 of a new namespace if pid1), started and
    waited for until the catcher is up and pause sits in its loop.
    .pause is pause's pid as we see it, .child the catcher's."""

    def __init__(self, impl, pause_opts=(), pid1=False, env=None, **kw):
        argv = pause_argv(impl, *pause_opts, "--", sys.executable, "-c", CATCHER)
        if pid1:
            argv = UNSHARE + argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, **kw)
        self.out = LineReader(self.proc.stdout.fileno())
        self.err = None  # pause's stderr, once it has exited
        up = self.out.line(20)
        assert up.startswith(b"up "), (up, self.proc.poll())
        if pid1:
            kids = sleep_until(lambda: child_pids(self.proc.pid), 5)
            assert kids, "unshare has no child"
            self.pause = kids[0]
        else:
            self.pause = self.proc.pid
        kids = sleep_until(lambda: child_pids(self.pause), 5)
        assert kids, "pause has no child"
        self.child = kids[0]
        assert sleep_until(lambda: in_sigwait(self.pause), 10), "pause never settled in its loop"

    def send(self, sig):
        os.kill(self.pause, sig)

    def got(self, timeout=10.0):
        """The number of the next signal the catcher reports, or None."""
        line = self.out.line(timeout)
        return int(line.split()[1]) if line.startswith(b"got ") else None

    def settled(self):
        """pause is back in its loop, not stopped, with nothing pending: it
        has dealt with every signal sent so far."""
        return in_sigwait(self.pause) and state(self.pause) in RUNNING and not pending(self.pause)

    def finish(self, code=0, timeout=20):
        """Tells the catcher to exit with code; returns (pause's exit code,
        the signals the catcher reported meanwhile)."""
        try:
            self.proc.stdin.write(b"%d\n" % code)
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        return self.wait(timeout)

    def wait(self, timeout=20):
        """Waits for pause to exit; returns (exit code, signals reported since)."""
        try:
            self.proc.wait(timeout)
            rest = self.out.pending(1)
            while True:  # to the end of the pipe, with the last lines of the catcher
                more = self.out.pending(1)
                if not more:
                    break
                rest += more
        finally:
            self.kill()
        got = [int(line.split()[1]) for line in rest.decode().splitlines() if line.startswith("got ")]
        return self.proc.returncode, got

    def kill(self):
        """Ends everything that is left (used on the way out of a failed test)."""
        if self.proc.poll() is None:
            for pid in (self.child, self.pause):
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, AttributeError):
                    pass
            self.proc.wait(10)
        if self.err is None:
            self.err = self.proc.stderr.read().decode()  # every writer is gone: no wait
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.proc.stderr.close()


class Terminal:
    """An interactive bash with job control on a fresh pty: bash leads a new
    session whose controlling terminal is the pty, as in a terminal window.
    type() writes to the terminal (control characters included, so "\\x1a"
    is Ctrl-Z); prompt() waits for the next prompt."""

    PROMPT = b"PROMPT> "

    def __init__(self):
        import fcntl
        import termios
        self.master, slave = os.openpty()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PS1": self.PROMPT.decode(),
               "TERM": "dumb", "HOME": "/", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(["bash", "--norc", "--noprofile", "-i"], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.out = LineReader(self.master)
        assert self.prompt(), "bash never showed a prompt"

    def type(self, text):
        os.write(self.master, text.encode() if isinstance(text, str) else text)

    def prompt(self, timeout=20):
        """Waits for the next prompt; returns what came before it, or None."""
        return self.out.until(self.PROMPT, timeout)

    def command(self, line, timeout=20):
        """Runs a shell command line at the prompt; returns its output."""
        self.type(line + '; echo "end-""of-command"\n')  # the echoed input differs from the output
        out = self.out.until(b"end-of-command\r\n", timeout)
        assert out is not None, "%r never finished" % line
        assert self.prompt() is not None
        return out

    def run_job(self, argv, background=False):
        """Types argv as a command line (with & if background); returns the
        pid of the job's process (bash's child) once it runs."""
        import shlex
        before = set(child_pids(self.proc.pid))
        self.type(" ".join(shlex.quote(a) for a in argv) + (" &" if background else "") + "\n")
        new = sleep_until(lambda: set(child_pids(self.proc.pid)) - before, 20)
        assert new, "the job never started"
        return new.pop()

    def close(self):
        """Ends bash and everything it started, and closes the pty."""
        for pid in [*descendants_of(self.proc.pid), self.proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(10)
        os.close(self.master)


def descendants_of(root):
    from helpers import descendants
    return descendants(root)
