"""The ordered steps a forked pod process goes through before exec: one list
for pause, containers and `exec` alike (crun's container_init_setup), so no
path can skip a security step. A step does nothing its plan does not ask for.

    session       setsid(): the terminal's signals reach only the launcher
    parent-death  PR_SET_PDEATHSIG(SIGKILL), then a check that the parent
                  has not died already (a pidfd on it)
    cgroups       into the pod member's cgroups in every hierarchy (fds the
                  parent opened), before it can fork or touch memory
    namespaces    setns() into the namespaces to join, then unshare() the
                  new ones (pause: net, IPC, UTS; a container: mount)
    host          sethostname() and loopback up (pause, in its new UTS and
                  network namespaces)
    mounts        on an image: its root filesystem, runc's order
                  (launcher/runtime/rootfs.py, ending in pivot_root); on the
                  host's files: every mount private, the state root's pins
                  hidden, a /proc for the PID namespace the process sees.
                  Nothing may be imported after this step: / may be the image
    workdir       chdir() to the plan's working directory (default /)
    user          on an image: the user from its config and the pod's
                  securityContext, resolved in its /etc/passwd, switched to
    security      capabilities dropped, no_new_privs: after every privileged
                  step, before exec
    stdio         fds 0-2 set, every other fd closed but those passed on purpose
    signals       dispositions and mask reset to what a fresh program expects
    exec          execv (or a PATH search with execvpe)

A step that fails raises StepError with the exit code the pod reports:
127 (not found) and 126 (cannot execute) for exec, 125 for every other step.
"""
import errno
import os
import select

try:   # signal without its enum wrappers: importing enum costs ~4 ms of start-up
    import _signal as signal
except ImportError:   # not CPython
    import signal

from launcher.errors import EXIT_CANNOT_RUN, EXIT_LAUNCHER, EXIT_NOT_FOUND
from launcher.runtime import mounts, security, syscalls

# Signals Python changes at start-up (or we set): back to default in the child.
_PY_SIGNALS = ("SIGPIPE", "SIGXFSZ", "SIGINT", "SIGTERM", "SIGHUP", "SIGCHLD", "SIGQUIT")


class StepError(Exception):
    """A child step failed: `code` is the exit code, str() the one line."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _oserror(what, e):
    return f"{what}: {e.strerror or e}"


def session(plan, ctx):
    if plan.setsid:
        os.setsid()


def parent_death(plan, ctx):
    if ctx.parent_pidfd is None:
        return
    syscalls.set_pdeathsig(signal.SIGKILL)
    p = select.poll()
    p.register(ctx.parent_pidfd, select.POLLIN)
    if p.poll(0):
        raise StepError(EXIT_LAUNCHER, "the launcher died during set-up")


def cgroups(plan, ctx):
    if plan.cgroup is not None:
        plan.cgroup.enter()


def namespaces(plan, ctx):
    for fd, nstype in plan.join:
        syscalls.setns(fd, nstype)
    if plan.unshare:
        syscalls.unshare(plan.unshare)


def host(plan, ctx):
    if plan.hostname is not None:
        syscalls.sethostname(plan.hostname)
    if plan.loopback:
        syscalls.loopback_up()


def mounts_(plan, ctx):
    if plan.rootfs is not None:
        from launcher.runtime import rootfs   # loaded by run(), before any mount changed
        rootfs.setup(plan.rootfs)
        return
    if not plan.mounts:
        return
    mounts.make_private()
    for hidden in plan.mounts.get("hide", ()):
        if not syscalls.detach_tree(hidden):   # one call if it is a mount point (.mounts is)
            mounts.detach_under(hidden)
    if plan.mounts.get("proc"):
        mounts.mount_proc()


def workdir(plan, ctx):
    try:
        os.chdir(plan.cwd)
    except OSError as e:
        raise StepError(EXIT_LAUNCHER, _oserror(f"working directory {plan.cwd!r}", e)) from None


def user(plan, ctx):
    if plan.user is not None:
        from launcher.runtime import users    # loaded by run(): / may be the image's now
        users.apply(plan.user, plan.env)


def security_(plan, ctx):
    security.restrict(plan.caps, plan.no_new_privs)


def stdio(plan, ctx):
    for target, fd in enumerate((plan.stdin, plan.stdout, plan.stderr)):
        if fd is None:
            fd = ctx.devnull if target == 0 else None
        if fd is not None and fd != target:
            os.dup2(fd, target)
    keep = sorted({ctx.status_fd, *plan.keep_fds})
    for fd in plan.keep_fds:
        os.set_inheritable(fd, True)
    low = 3
    for fd in keep:
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, ctx.max_fd)


def signals(plan, ctx):
    for name in _PY_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def execute(plan, ctx):
    env = os.environ if plan.env is None else plan.env
    try:
        if plan.search_path:
            os.execvpe(plan.argv[0], plan.argv, env)
        os.execve(plan.argv[0], plan.argv, env)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR) or not plan.argv[0]:
            code = EXIT_NOT_FOUND
        elif e.errno in (errno.EACCES, errno.ENOEXEC, errno.EPERM, errno.EISDIR):
            code = EXIT_CANNOT_RUN
        else:
            code = EXIT_LAUNCHER
        raise StepError(code, _oserror(repr(plan.argv[0]), e)) from None


STEPS = (("session", session), ("parent-death", parent_death), ("cgroups", cgroups),
         ("namespaces", namespaces),
         ("host", host), ("mounts", mounts_), ("workdir", workdir), ("user", user),
         ("security", security_),
         ("stdio", stdio), ("signals", signals), ("exec", execute))


def run(plan, ctx):
    """Runs every step in order; returns only if one failed: (code, message).
    The modules of the image steps are imported only for a plan that has
    an image root or a user (most pods have neither: 8 modules less to load
    at each launcher start), and here, before the mounts step: after it /
    may be the image's, and nothing may be imported from there."""
    if plan.rootfs is not None or plan.user is not None:
        from launcher.runtime import rootfs, users  # noqa: F401
    for name, step in STEPS:
        try:
            step(plan, ctx)
        except StepError as e:
            return e.code, str(e)
        except Exception as e:   # LauncherError from a syscall, OSError, ...
            text = _oserror(name, e) if isinstance(e, OSError) else f"{name}: {e}"
            return EXIT_LAUNCHER, text
    return EXIT_LAUNCHER, "exec returned"   # not reached
