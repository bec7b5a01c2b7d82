"""The pause state machine in plain Python: the readable specification.

csrc/pause_core.c is the same program, step for step: same function names,
same order, same log lines, same exit codes. Hold one against the other.

Every signal pause cares about is blocked and taken synchronously with
sigwaitinfo in one loop, which sleeps in the kernel with no timeout: zero
wake-ups when idle. Only the --grace shutdown has a deadline (sigtimedwait).

Pause mode with nobody asking for exit statuses (no --events-fd, -w or
PAUSE_DEBUG) does not even wait: it ignores SIGCHLD, so the kernel frees
each orphan's zombie as it reaches pause, and pause is never woken for it.
"""
import os
import signal
import sys
import time

import prctl

# The grace shutdown re-checks who is left this often: processes that joined
# the namespace with setns are not our children and send us no SIGCHLD.
GRACE_POLL_MS = 50

# Raised by the kernel for a fault of our own. Pause mode leaves them alone;
# init mode takes them too, to forward those a user sends (kill, sigqueue:
# si_code <= 0). Blocking them costs nothing: the kernel unblocks a genuine
# fault and kills us with it all the same.
FAULTS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGTRAP, signal.SIGSYS}

# The terminal's stop signals: a shell's Ctrl-Z, a background read or write.
TTY_STOPS = {signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU}

# The errno values pause can meet, with the C core's wording.
ERROR_TEXT = {
    2: "No such file or directory", 13: "Permission denied", 8: "Exec format error",
    1: "Operation not permitted", 9: "Bad file descriptor", 32: "Broken pipe",
    20: "Not a directory", 40: "Too many levels of symbolic links", 12: "Out of memory",
    11: "Resource temporarily unavailable", 22: "Invalid argument", 7: "Argument list too long",
}


def error_text(err):
    return ERROR_TEXT.get(err, "unexpected error")


class State:
    """struct state: what the loop knows."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.events_fd = -1   # -1 once closed
        self.is_init = False  # we are PID 1 of our PID namespace
        self.kernel_reaps = False  # pause mode, no statuses wanted: SIGCHLD ignored
        self.reporting = False     # something wants to hear of each reaped child
        self.child = 0        # init mode: the command
        self.child_status = 0
        self.child_done = False
        self.child_stopped = 0  # the signal that last stopped the command, until handled
        self.waited = set()   # the signals the loop takes


DEBUG = False  # PAUSE_DEBUG is set: read once, not per reaped child


def debug_enabled():
    return os.environ.get("PAUSE_DEBUG", "0") not in ("", "0")


# ------------------------------------------------------------------ logging

def say(level, msg):
    """One line on stderr, "pause[PID]: LEVEL: message". "debug" lines appear
    only when PAUSE_DEBUG is set."""
    if not DEBUG and level == "debug":
        return
    line = "pause[%d]: %s: %s\n" % (os.getpid(), level, msg)
    try:
        os.write(2, line.encode(errors="replace"))
    except OSError:
        pass


# ------------------------------------------------------------------ signals

def is_untouchable(sig):
    """KILL and STOP, and 32-34, which the C libraries keep for their threads."""
    return sig in (signal.SIGKILL, signal.SIGSTOP) or 32 <= sig <= 34


def setup_signals(st):
    """Decides each signal's fate, then blocks the ones the loop takes.
    Pause mode takes CHLD, TERM and INT and ignores every other signal, so it
    behaves the same whether or not it is PID 1; with no exit status wanted it
    ignores CHLD too, and the kernel reaps for it. Init mode takes every signal
    a user can send, the faults included, to forward it. A taken signal gets
    its default disposition first: one ignored by whoever started pause would
    otherwise be lost (an ignored CHLD even makes the kernel reap children
    itself, and their exit statuses with them)."""
    for sig in range(1, signal.NSIG):
        if is_untouchable(sig) or (sig in FAULTS and not st.cfg.argv):
            continue
        if sig == signal.SIGCHLD and st.kernel_reaps:
            signal.signal(sig, signal.SIG_IGN)
        elif st.cfg.argv or sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            st.waited.add(sig)
            signal.signal(sig, signal.SIG_DFL)
        else:
            signal.signal(sig, signal.SIG_IGN)
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, st.waited)
    except OSError as e:
        say("error", "cannot block signals: %s" % error_text(e.errno))
        return -1
    return 0


# ------------------------------------------------------------------ set-up

def close_inherited_fds(keep_a, keep_b):
    """Closes every inherited fd from 3 up, except the ready and events fds."""
    lo = 3
    for keep in sorted((keep_a, keep_b)):
        if keep >= lo:
            os.closerange(lo, keep)
            lo = keep + 1
    os.closerange(lo, 1 << 30)


def become_subreaper(st):
    """Not PID 1: orphans go to the nearest subreaper, so become one (with -s
    the user asked for it, so without the warning)."""
    st.is_init = os.getpid() == 1
    if st.is_init:
        return
    if not st.cfg.subreaper:
        say("warning", "not PID 1, so only orphans of my own descendants come to me; becoming a child subreaper")
    try:
        prctl.set_child_subreaper(1)
    except OSError as e:
        say("warning", "cannot become a child subreaper: %s" % error_text(e.errno))


def set_parent_death_signal(sig):
    """-p: the kernel sends us this signal when our parent dies."""
    if sig <= 0:
        return
    try:
        prctl.set_pdeathsig(sig)
    except OSError as e:
        say("warning", "cannot set the parent-death signal: %s" % error_text(e.errno))


def leave_start_directory():
    """Moves to /, so pause never keeps its start directory's mount busy."""
    try:
        os.chdir("/")
    except OSError as e:
        say("warning", "cannot chdir to /: %s" % error_text(e.errno))


def signal_ready(fd):
    """Tells whoever waits on --ready-fd that every handler is in place."""
    if fd < 0:
        return
    try:
        os.write(fd, b"ready\n")
    except OSError as e:
        say("warning", "cannot write to ready fd %d: %s" % (fd, error_text(e.errno)))
    os.close(fd)


def open_events(fd):
    """The events fd must never block pause, nor leak into the command."""
    if fd < 0:
        return -1
    try:
        os.set_blocking(fd, False)
        os.set_inheritable(fd, False)
    except OSError as e:
        say("warning", "cannot use events fd %d: %s" % (fd, error_text(e.errno)))
        return -1
    return fd


# ------------------------------------------------------------------ reaping

def emit_reaped(st, pid, status):
    """Writes one JSON line about a reaped child. A full pipe drops the line; a
    closed one closes our end (and takes back the SIGPIPE the write raised)."""
    if st.events_fd < 0:
        return
    if os.WIFSIGNALED(status):
        line = '{"event":"reaped","pid":%d,"signal":%d}\n' % (pid, os.WTERMSIG(status))
    else:
        line = '{"event":"reaped","pid":%d,"exit":%d}\n' % (pid, os.WEXITSTATUS(status))
    try:
        os.write(st.events_fd, line.encode())
        return
    except BlockingIOError:
        return
    except OSError as e:
        if e.errno == 32:  # EPIPE
            signal.sigtimedwait([signal.SIGPIPE], 0)
        say("warning", "events fd closed: %s" % error_text(e.errno))
    os.close(st.events_fd)
    st.events_fd = -1


def report_reaped(st, pid, status):
    """Says what was reaped: the debug line, -w's warning, the event."""
    say("debug", "reaped %d" % pid)
    if st.cfg.warn_reaped and pid != st.child:
        say("warning", "reaped zombie process %d" % pid)
    emit_reaped(st, pid, status)


def reap_all(st):
    """Reaps every child that has exited. One SIGCHLD may stand for many exits,
    so loop until waitpid has nothing more: one system call per child, and
    nothing else unless someone wants to hear of it. A stopped command is
    noted for the loop. Returns True while children remain."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG | os.WUNTRACED)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
        if os.WIFSTOPPED(status):
            if pid == st.child:
                st.child_stopped = os.WSTOPSIG(status)
            continue
        if st.reporting:
            report_reaped(st, pid, status)
        if pid == st.child:
            st.child_status = status
            st.child_done = True


# ------------------------------------------------------------------ shutdown

def parent_of(pid):
    """The parent pid in /proc/PID/stat, or -1."""
    try:
        with open("/proc/%s/stat" % pid, "rb") as f:
            stat = f.read()
        return int(stat[stat.rindex(b")") + 4:].split()[0])
    except (OSError, ValueError):
        return -1


def terminate_others(st):
    """Sends TERM to every other process of the PID namespace when we are its
    init; otherwise to our own children (adopted orphans included)."""
    if st.is_init:
        os.kill(-1, signal.SIGTERM)
        return
    for name in os.listdir("/proc"):
        if name.isdigit() and parent_of(name) == os.getpid():
            try:
                os.kill(int(name), signal.SIGTERM)
            except OSError:
                pass


def others_left(st):
    """Whether anybody we wait for is still there."""
    children = reap_all(st)
    if not st.is_init:
        return children
    try:
        os.kill(-1, 0)
        return True
    except OSError:
        return False


def now_ms():
    return int(time.monotonic() * 1000)


def reap_ourselves(st):
    """The kernel has been reaping for us; from now on, wake on each SIGCHLD."""
    if not st.kernel_reaps:
        return
    st.kernel_reaps = False
    st.waited.add(signal.SIGCHLD)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def drain(st):
    """--grace: TERM the others, then reap until none is left or time is up.
    A second TERM or INT cuts the wait short."""
    deadline = now_ms() + st.cfg.grace_ms
    reap_ourselves(st)
    terminate_others(st)
    while others_left(st):
        left = deadline - now_ms()
        if left <= 0:
            say("warning", "grace period over, leaving the rest to the kernel")
            return
        info = signal.sigtimedwait(st.waited, min(left, GRACE_POLL_MS) / 1000)
        if info and info.si_signo in (signal.SIGTERM, signal.SIGINT):
            say("info", "second signal %d, not waiting any longer" % info.si_signo)
            return


# ------------------------------------------------------------------ init mode

# rt_sigaction(2)'s number where Python has no way to name it.
SYS_RT_SIGACTION = {"x86_64": 13, "aarch64": 134, "riscv64": 134}


def reset_reserved_signals():
    """Resets 32-34 when whoever started pause left one ignored: pause never
    touches them, but an ignored signal survives exec. glibc's sigaction
    refuses 32 and 33, so this takes the raw system call (a zeroed kernel
    sigaction is SIG_DFL, no flags, empty mask), and only when needed."""
    with open("/proc/self/status") as f:
        ignored = next(int(line.split()[1], 16) for line in f if line.startswith("SigIgn:"))
    reserved = [sig for sig in (32, 33, 34) if ignored >> (sig - 1) & 1]
    number = SYS_RT_SIGACTION.get(os.uname().machine)
    if not reserved or number is None:
        return
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    default = ctypes.create_string_buffer(32)
    for sig in reserved:
        libc.syscall(number, sig, default, None, 8)


def spawn(st):
    """Starts the command with default dispositions and an empty signal mask,
    in the directory pause was started in. With -g it gets its own process
    group, and the terminal's foreground if pause's job holds it.
    Cannot run it: 127 when not found, 126 otherwise, as shells do. (An empty
    name is not found, as execvp says; Python's own execvp would refuse it.)"""
    argv = st.cfg.argv
    pid = os.fork()
    if pid != 0:
        if st.cfg.group:
            quietly(os.setpgid, pid, pid)  # also done in the child: no race either way
        return pid
    try:
        if st.cfg.group:
            foreground = foreground_group() == os.getpgrp()  # a background job keeps out
            quietly(os.setpgid, 0, 0)
            if foreground:
                quietly(os.tcsetpgrp, 0, os.getpgrp())  # TTOU is still blocked here
        for sig in range(1, signal.NSIG):
            if not is_untouchable(sig):
                signal.signal(sig, signal.SIG_DFL)
        reset_reserved_signals()
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        if not argv[0]:
            raise FileNotFoundError(2, "empty command name")
        os.execvp(argv[0], argv)
    except OSError as e:
        say("error", "cannot execute '%s': %s" % (argv[0], error_text(e.errno)))
        os._exit(127 if e.errno == 2 else 126)
    finally:
        os._exit(126)


def rewritten(st, sig):
    """The signal to forward for sig (-r S:R), or 0 to drop it."""
    return st.cfg.rewrite.get(sig, sig)


def suspend_self(why):
    """Stops pause (SIGSTOP cannot be blocked), so that a shell sees its job
    stopped; a SIGCONT resumes it, and the loop then forwards that too."""
    say("debug", why)
    os.kill(os.getpid(), signal.SIGSTOP)


def foreground_group():
    """The process group in the foreground of the terminal on stdin, or None."""
    try:
        return os.tcgetpgrp(0)
    except OSError:
        return None


def quietly(call, *args):
    """call(*args), its failure ignored, as the C core ignores it."""
    try:
        call(*args)
    except OSError:
        pass


def hand_terminal(st):
    """-g from a terminal: the command's group holds the terminal's foreground;
    when the shell gives the foreground back to our job (fg), pass it on."""
    if foreground_group() == os.getpgrp():
        quietly(os.tcsetpgrp, 0, st.child)  # TTOU is blocked: no stop for us


def forward(st, sig):
    """Passes a signal on to the command, or to its process group with -g,
    rewritten or dropped as -r says. Not PID 1, a terminal stop signal
    (TSTP, TTIN, TTOU) then stops pause too, as dumb-init does, so a shell's
    job control sees the whole job stopped; PID 1 never stops."""
    to = rewritten(st, sig)
    if not to:
        say("debug", "dropping signal %d" % sig)
        return
    if to == sig:
        say("debug", "forwarding signal %d to %d" % (sig, st.child))
    else:
        say("debug", "forwarding signal %d as %d to %d" % (sig, to, st.child))
    if to == signal.SIGCONT and st.cfg.group:
        hand_terminal(st)
    try:
        os.kill(-st.child if st.cfg.group else st.child, to)
    except ProcessLookupError:
        pass
    except OSError as e:
        say("warning", "cannot forward signal %d: %s" % (to, error_text(e.errno)))
    if sig in TTY_STOPS and not st.is_init:
        suspend_self("suspending myself after signal %d" % sig)


def follow_stop(st):
    """The command stopped. With -g from a terminal, Ctrl-Z reaches only its
    group (which holds the terminal), not pause: stop too, so the shell sees
    the job stopped. Not when a SIGCONT is already waiting: that stop is one
    we forwarded ourselves, and it is over."""
    sig, st.child_stopped = st.child_stopped, 0
    if st.is_init or not st.cfg.group or sig not in TTY_STOPS or foreground_group() is None:
        return
    if signal.SIGCONT in signal.sigpending():
        return
    suspend_self("the command stopped on signal %d, so do I" % sig)


def end_group(st):
    """-g: the command is gone; TERM what is left of its process group, so the
    helpers it started in the background do not outlive it (as dumb-init)."""
    if not st.cfg.group:
        return
    say("debug", "terminating the rest of process group %d" % st.child)
    try:
        os.kill(-st.child, signal.SIGTERM)
    except OSError:
        pass


def exit_code(st, status):
    """The command's status as an exit code: N, or 128+N for signal N; 0 for
    a code -e remaps."""
    code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    if code in st.cfg.remap_exit:
        say("debug", "exit code %d remapped to 0" % code)
        return 0
    return code


# ------------------------------------------------------------------ the loops

def run_pause(st):
    while True:
        sig = signal.sigwaitinfo(st.waited).si_signo
        if sig == signal.SIGCHLD:
            reap_all(st)
        elif sig in (signal.SIGTERM, signal.SIGINT):
            say("info", "shutting down on signal %d" % sig)
            if st.cfg.grace_ms >= 0:
                drain(st)
            return 0


def run_init(st):
    try:
        st.child = spawn(st)
    except OSError as e:
        say("error", "cannot fork: %s" % error_text(e.errno))
        return 1
    leave_start_directory()
    while True:
        info = signal.sigwaitinfo(st.waited)
        sig = info.si_signo
        if sig == signal.SIGCHLD:
            reap_all(st)
            if st.child_done:
                end_group(st)
                return exit_code(st, st.child_status)
            if st.child_stopped:
                follow_stop(st)
        elif sig in FAULTS and info.si_code > 0:
            say("warning", "not forwarding signal %d: a fault of my own" % sig)
        else:
            forward(st, sig)


def pause_run(cfg):
    """The whole program, as a checklist; returns the exit code."""
    global DEBUG
    st = State(cfg)

    # 1. let go of every inherited fd, and in pause mode of the start
    #    directory (init mode leaves it after the fork: the command keeps it)
    DEBUG = debug_enabled()
    st.reporting = DEBUG or cfg.warn_reaped or cfg.events_fd >= 0
    st.kernel_reaps = not cfg.argv and not st.reporting
    if not cfg.argv:
        leave_start_directory()
    close_inherited_fds(cfg.ready_fd, cfg.events_fd)
    prctl.set_name("pause")
    # 2. decide every signal's fate, then block the ones we wait for
    if setup_signals(st) < 0:
        return 1
    # 3. not the namespace's init: make orphans come to us anyway; and
    #    hear of our parent's death if asked to
    become_subreaper(st)
    set_parent_death_signal(cfg.pdeathsig)
    # 4. events fd ready, handlers in place: tell the launcher
    st.events_fd = open_events(cfg.events_fd)
    signal_ready(cfg.ready_fd)
    # 5. children that exited before SIGCHLD was blocked
    reap_all(st)
    # 6. the loop: pause forever, or run the command
    return run_init(st) if cfg.argv else run_pause(st)


if __name__ == "__main__":  # pragma: no cover - use python -m pause --impl python
    sys.exit("run it as: python -m pause --impl python")
