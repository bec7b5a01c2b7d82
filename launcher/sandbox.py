"""Creating a pod's processes: the sandbox (pause) and its containers.

Every pod process is a direct child of the supervisor, so the supervisor
(later the C monitor it execs into) reaps them all and a child can never be
confused with a process that reused its pid. To place a child in a PID
namespace the supervisor sets its own "PID namespace for children" just
around fork() (unshare(CLONE_NEWPID) for a new one, setns(pidfd, CLONE_NEWPID)
to join pause's), then restores it. The child then, in bubblewrap's order:
own session, PR_SET_PDEATHSIG (and a check that the parent has not already
gone), namespaces, mounts, privileges, stdio, exec. A CLOEXEC pipe reports
an exec failure back (EOF means exec succeeded).
"""
import errno
import os
import select

try:   # signal without its enum wrappers: importing enum costs ~4 ms of start-up
    import _signal as signal
except ImportError:   # not CPython
    import signal

from launcher import ns
from launcher.errors import (EXIT_CANNOT_RUN, EXIT_LAUNCHER, EXIT_NOT_FOUND,
                             LauncherError)

READY_TIMEOUT = 10.0


def reset_signals():
    """Undoes what Python did to signals, so the exec'd program starts clean:
    SIGPIPE/SIGXFSZ back to default, nothing blocked."""
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM,
                signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def child_fail(fd, err):
    """In a forked child: reports `err` on the exec-status pipe and exits
    with the code podman would use (127 not found, 126 not runnable)."""
    if isinstance(err, FileNotFoundError):
        code = EXIT_NOT_FOUND
    elif isinstance(err, OSError) and err.errno in (errno.EACCES, errno.ENOEXEC,
                                                    errno.EPERM, errno.EISDIR):
        code = EXIT_CANNOT_RUN
    else:
        code = EXIT_LAUNCHER
    msg = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    try:
        os.write(fd, f"{code} {msg}".encode()[:4000])
    finally:
        os._exit(code)


def read_to_eof(fd):
    """Everything written to a pipe until its last writer closes it, as text;
    closes fd."""
    chunks = []
    while True:
        b = os.read(fd, 4096)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def read_status(fd):
    """Parent side of the exec-status pipe: None if exec succeeded, else
    (code, message)."""
    report = read_to_eof(fd)
    if not report:
        return None
    code, _, msg = report.partition(" ")
    return int(code), msg


def drop_caps_check(names):
    """Validates --cap-drop names (CAP_X, X, or ALL) in the parent; returns
    the capability numbers. Imports python-prctl only when asked for."""
    import prctl
    out = []
    for n in names:
        key = n.upper()
        if key == "ALL":
            out.extend(prctl.ALL_CAPS)
            continue
        if not key.startswith("CAP_"):
            key = "CAP_" + key
        if not hasattr(prctl, key) or key[4:].lower() not in prctl.ALL_CAP_NAMES:
            raise LauncherError(f"unknown capability {n!r}")
        out.append(getattr(prctl, key))
    return out


def _drop_privileges(no_new_privs, caps):
    """In the child, before exec: --no-new-privileges and --cap-drop, through
    python-prctl (bounding set, so exec cannot regain them, plus the
    effective/permitted/inheritable sets)."""
    if not (caps or no_new_privs):
        return
    import prctl
    if caps:
        prctl.capbset.drop(*caps)
        for s in (prctl.cap_inheritable, prctl.cap_effective, prctl.cap_permitted):
            s.drop(*caps)
    if no_new_privs:
        prctl.set_no_new_privs(1)


class Spawner:
    """Forks the pod's processes. Made by the process that will supervise
    them; holds that process's own PID namespace (to restore after each
    fork) and a pidfd on itself (children check it to catch a parent that
    died before their PR_SET_PDEATHSIG was set). `rootdir` is the state root,
    where pods pin their namespaces: a container's mount namespace drops
    its copies of those mounts, so it never keeps another pod's namespaces
    alive."""

    def __init__(self, rootdir):
        self.rootdir = rootdir
        self.own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.self_pidfd = os.pidfd_open(os.getpid())
        self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)

    def close(self):
        for fd in (self.own_pidns, self.self_pidfd, self.devnull):
            os.close(fd)

    def _guard_parent(self):
        """In a child: die with the parent from now on, and right away if the
        parent is already gone."""
        ns.set_pdeathsig(signal.SIGKILL)
        p = select.poll()
        p.register(self.self_pidfd, select.POLLIN)
        if p.poll(0):
            os._exit(EXIT_LAUNCHER)

    def start_pause(self, hostname, argv, ready_fd_flag, log_fd):
        """Starts pause as PID 1 of new PID, net, IPC and UTS namespaces,
        with hostname set and loopback up, and waits until it is ready:
        its --ready-fd line, or (foreign init, ready_fd_flag False) a
        successful exec. Returns its pid."""
        rd = wr = None
        if ready_fd_flag:
            rd, wr = os.pipe()
            argv = list(argv) + ["--ready-fd", str(wr)]
        st_r, st_w = os.pipe2(os.O_CLOEXEC)
        ns.unshare(ns.CLONE_NEWPID)
        try:
            pid = os.fork()
            if pid == 0:
                try:
                    os.close(st_r)
                    if rd is not None:
                        os.close(rd)
                        os.set_inheritable(wr, True)
                    os.setsid()
                    self._guard_parent()
                    ns.unshare(ns.SANDBOX_NS)
                    ns.sethostname(hostname)
                    ns.loopback_up()
                    reset_signals()
                    os.dup2(self.devnull, 0)
                    os.dup2(log_fd, 1)
                    os.dup2(log_fd, 2)
                    os.execv(argv[0], argv)
                except BaseException as e:
                    child_fail(st_w, e)
        finally:
            ns.setns(self.own_pidns, ns.CLONE_NEWPID)
        os.close(st_w)
        if wr is not None:
            os.close(wr)
        failed = read_status(st_r)
        if failed:
            if rd is not None:
                os.close(rd)
            os.waitpid(pid, 0)
            raise LauncherError(f"cannot start pause {argv[0]!r}: {failed[1]}")
        if rd is not None:
            try:
                ok = select.select([rd], [], [], READY_TIMEOUT)[0] and os.read(rd, 64)
            finally:
                os.close(rd)
            if ok != b"ready\n":
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise LauncherError(f"pause {argv[0]!r} did not report ready "
                                    f"within {READY_TIMEOUT:.0f}s")
        return pid

    def start_container(self, c, pause_pidfd, share_pid, out_fd, err_fd, env,
                        no_new_privs=False, caps=()):
        """Starts container c (a ContainerSpec) in the sandbox behind
        pause_pidfd: joins its net/IPC/UTS, and its PID namespace when
        share_pid (else a new one where the command is PID 1), in a new
        private mount namespace with its own /proc. Returns (pid, None), or
        (pid, (code, message)) if the command could not be executed (the
        child has then exited with that code and still needs reaping)."""
        if share_pid:
            ns.setns(pause_pidfd, ns.CLONE_NEWPID)
        else:
            ns.unshare(ns.CLONE_NEWPID)
        st_r, st_w = os.pipe2(os.O_CLOEXEC)
        try:
            pid = os.fork()
            if pid == 0:
                try:
                    os.close(st_r)
                    os.setsid()
                    self._guard_parent()
                    ns.setns(pause_pidfd, ns.SANDBOX_NS)
                    ns.unshare(ns.CLONE_NEWNS)
                    ns.private_mounts()
                    ns.detach_mounts_under(self.rootdir)
                    ns.mount_proc()
                    if c.cwd:
                        os.chdir(c.cwd)
                    _drop_privileges(no_new_privs, caps)
                    reset_signals()
                    os.dup2(self.devnull, 0)
                    os.dup2(out_fd, 1)
                    os.dup2(err_fd, 2)
                    os.execvpe(c.argv[0], c.argv, env)
                except BaseException as e:
                    child_fail(st_w, e)
        finally:
            ns.setns(self.own_pidns, ns.CLONE_NEWPID)
        os.close(st_w)
        return pid, read_status(st_r)
