"""`launcher run -d`: the supervisor forked off into its own session.

The launcher forks; the child becomes the pod's supervisor: a new session,
the working directory /, every inherited fd from 3 up closed (a caller's
`7</etc/hostname` must not live as long as the pod), every asynchronous
signal blocked (the wake-up ones until their handlers are in), the pod
created, the verdict ("ok ID" or "err MESSAGE") sent back on a pipe, then
supervision, mostly as the C monitor (handoff.py).
"""
import os

try:   # signal without its enum wrappers: importing enum costs ~4 ms of start-up
    import _signal as signal
except ImportError:   # not CPython
    import signal

from launcher import binaries
from launcher.errors import LauncherError
from launcher.runtime.spawn import read_to_eof
from launcher.spec import FAULT_SIGNALS


def run_detached(spec, store, housekeep=False):
    """Forks the supervisor; returns the pod id once the pod runs.
    housekeep: the supervisor then does `run`'s housekeeping
    (teardown.housekeeping), off the caller's time."""
    return await_detached(start_detached(spec, store, housekeep))


def start_detached(spec, store, housekeep=False):
    """Forks the supervisor of a pod; returns what await_detached takes."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _supervise(spec, store, w, housekeep)   # never returns
    os.close(w)
    return pid, r


def await_detached(started):
    """The pod id once the pod started by start_detached runs; its error
    (a LauncherError) if it could not start."""
    pid, r = started
    msg = read_to_eof(r)
    if msg.startswith("ok "):
        return msg[3:].strip()
    os.waitpid(pid, 0)
    raise LauncherError(msg[4:].strip() if msg.startswith("err ") else
                        "the pod supervisor died during set-up")


def _close_inherited(keep):
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 2 ** 31 - 1)


def _supervise(spec, store, report_fd, housekeep):
    from launcher.supervisor.driver import Supervisor
    from launcher.supervisor.pod import Pod
    code = 0
    try:
        os.setsid()
        os.chdir("/")
        _close_inherited((report_fd, store.fd))
        signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.valid_signals()) - set(FAULT_SIGNALS))
        sup = Supervisor(Pod(spec, store, detached=True))
        sup.monitor = binaries.monitor_path()
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
        try:   # a launcher killed meanwhile does not take the pod with it
            os.write(report_fd, f"ok {sup.pod.record['id']}".encode())
        except OSError:
            pass
        os.close(report_fd)
        if housekeep:
            _housekeeping(store)
        finish(sup)
    except BaseException as e:
        code = 1
        try:
            os.write(report_fd, f"err {e}".encode())
        except OSError:
            pass
    finally:
        os._exit(code)


def _housekeeping(store):
    """`run`'s housekeeping, after the pod's verdict went out. What it
    cannot release stays for `launcher gc`, which reports it; it never
    takes this pod down."""
    from launcher.teardown import housekeeping
    try:
        housekeeping(store)
    except Exception:   # noqa: BLE001 (the next gc or run retries)
        pass


def finish(sup):
    """Supervises a detached pod to its end and marks it done, or (`run -d
    --rm`) removes it as a foreground pod is removed. Its stderr is
    /dev/null: an unexpected error goes to the pod's supervisor.log (inspect
    shows its last line) before the supervisor dies with it."""
    try:
        sup.run()
        if sup.pod.spec.auto_remove:
            sup.pod.remove()
            return
        sup.pod.close()
        sup.pod.mark_done()
    except BaseException:
        import traceback
        from launcher.supervisor.handoff import log_error
        log_error(sup.pod.dir.fd, traceback.format_exc())
        raise
