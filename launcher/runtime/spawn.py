"""The one fork/exec path of the launcher: pause, containers and `exec`.

Every pod process is a direct child of its supervisor (or of `launcher
exec`), so it is reaped without races and never confused with a process
that reused its pid. To place the child in a PID namespace the parent sets
its own "PID namespace for children" just around fork(): unshare(NEWPID)
for a new one, setns(pidfd, NEWPID) to join one, then restores its own.
With a cgroup v2 directory to be born in, fork() is clone3 with
CLONE_INTO_CGROUP (launcher/cgroups/placement.py says why). The child then
runs the ordered steps of launcher/runtime/steps.py. A CLOEXEC
pipe carries a failed step's exit code and message back; EOF means the exec
succeeded.
"""
import errno
import os
import sys

from launcher.runtime import steps, syscalls

NEW = "new"     # ChildPlan.pidns: a new PID namespace (the child is its PID 1)


class ChildPlan:
    """Everything a pod process is, decided by the parent before fork.

    what        how errors name it ("pause", "container 'web'", "exec")
    argv, env   the program (env None: the launcher's environment);
                search_path: look argv[0] up in env's PATH
    pidns       None (the parent's), NEW, or a pidfd whose PID namespace to join
    join        [(fd, CLONE_NEW* flags)] to setns into, in order
    unshare     CLONE_NEW* flags of new namespaces
    hostname, loopback   set in the new UTS / network namespace
    mounts      None, or {"hide": [paths to detach], "proc": bool}
    cwd         working directory (default /)
    stdin, stdout, stderr  fds to install (None: /dev/null for stdin, else inherited)
    keep_fds    fds passed on purpose; every other fd from 3 up is closed
    caps, no_new_privs     capabilities to drop, PR_SET_NO_NEW_PRIVS
    setsid      a new session (default True)
    cgroup      a Placement (launcher/cgroups) the child enters first, or None;
                the parent closes it once the child has exec'd
    rootfs      a RootfsPlan (launcher/runtime/rootfs.py): the container's root
                filesystem, built by the mounts step instead of `mounts`
    user        a UserSpec (launcher/runtime/users.py) the user step switches to
    """

    __slots__ = ("what", "argv", "env", "search_path", "pidns", "join", "unshare", "hostname",
                 "loopback", "mounts", "cwd", "stdin", "stdout", "stderr", "keep_fds", "caps",
                 "no_new_privs", "setsid", "cgroup", "rootfs", "user")

    def __init__(self, what, argv, *, env=None, search_path=False, pidns=None, join=(),
                 unshare=0, hostname=None, loopback=False, mounts=None, cwd="/", stdin=None,
                 stdout=None, stderr=None, keep_fds=(), caps=(), no_new_privs=False, setsid=True,
                 cgroup=None, rootfs=None, user=None):
        self.what, self.argv, self.env, self.search_path = what, list(argv), env, search_path
        self.pidns, self.join, self.unshare = pidns, list(join), unshare
        self.hostname, self.loopback, self.mounts, self.cwd = hostname, loopback, mounts, cwd
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.keep_fds, self.caps, self.no_new_privs = tuple(keep_fds), tuple(caps), no_new_privs
        self.setsid = setsid
        self.cgroup, self.rootfs, self.user = cgroup, rootfs, user


class _Context:
    """What the child steps get from the spawner besides the plan."""
    __slots__ = ("status_fd", "parent_pidfd", "devnull", "max_fd")

    def __init__(self, status_fd, parent_pidfd, devnull):
        self.status_fd, self.parent_pidfd, self.devnull = status_fd, parent_pidfd, devnull
        self.max_fd = 2 ** 31 - 1


def fork(placement):
    """os.fork(), or, when the child has a unified cgroup to be born in
    and this process has no other thread (the raw clone3 skips glibc's fork
    handlers), clone3(CLONE_INTO_CGROUP). A kernel without it (ENOSYS
    before 5.3, E2BIG before 5.7) gets os.fork() and the cgroups step's
    write; so does any other refusal, for the step to report it."""
    fd = placement.clone_fd if placement is not None else None
    threading = sys.modules.get("threading")
    if fd is None or (threading is not None and threading.active_count() > 1):
        return os.fork()
    try:
        pid = syscalls.fork_into_cgroup(fd)
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.ENOMEM):
            raise
        return os.fork()
    if pid == 0:
        placement.born_inside()
    return pid


def read_to_eof(fd):
    """Everything written to a pipe until its last writer closes it, as text;
    closes fd."""
    chunks = []
    try:
        while True:
            b = os.read(fd, 4096)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="replace")


class Spawner:
    """Forks pod processes for the process that will be their parent. Holds
    that process's own PID namespace (restored after each fork), a pidfd on
    itself (the parent-death step checks it) and /dev/null."""

    def __init__(self, guard_parent=True):
        self.own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.self_pidfd = os.pidfd_open(os.getpid()) if guard_parent else None
        self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)

    def close(self):
        for fd in (self.own_pidns, self.self_pidfd, self.devnull):
            if fd is not None:
                os.close(fd)
        self.own_pidns = self.self_pidfd = self.devnull = None

    def spawn(self, plan):
        """Forks and sets up the process `plan` describes. Returns (pid,
        None) once it has exec'd, or (pid, (code, message)) if a step failed
        (the child has then exited with that code and still needs reaping)."""
        st_r, st_w = os.pipe2(os.O_CLOEXEC)
        try:
            if plan.pidns == NEW:
                syscalls.unshare(syscalls.CLONE_NEWPID)
            elif plan.pidns is not None:
                syscalls.setns(plan.pidns, syscalls.CLONE_NEWPID)
            try:
                pid = fork(plan.cgroup)
                if pid == 0:
                    self._child(plan, st_w)   # never returns
            finally:
                if plan.pidns is not None:
                    syscalls.setns(self.own_pidns, syscalls.CLONE_NEWPID)
        except BaseException:
            os.close(st_r)
            os.close(st_w)
            raise
        finally:
            if plan.cgroup is not None:
                plan.cgroup.close()
        os.close(st_w)
        report = read_to_eof(st_r)
        if not report:
            return pid, None
        code, _, msg = report.partition(" ")
        return pid, (int(code), msg)

    def _child(self, plan, status_fd):
        code = 125
        try:
            code, msg = steps.run(plan, _Context(status_fd, self.self_pidfd, self.devnull))
            os.write(status_fd, f"{code} {msg}".encode(errors="replace")[:4000])
        finally:
            os._exit(code)
