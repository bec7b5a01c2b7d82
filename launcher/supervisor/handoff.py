"""A detached supervisor's hand-over to the C monitor, and back.

While a detached pod has nothing to decide, its supervisor execve()s
pause/bin/pod-monitor (csrc/monitor.c): the pid stays the same, so every
pod process stays its child, and ~30 KB of RSS replace a Python
interpreter. The monitor copies the containers' output into their rotating
logs and sleeps until the first SIGCHLD, stop signal, end of an output pipe
or deadline, then execs the supervisor back: an isolated Python
(launcher/binaries.py) running resume_main(). The supervisor's state
travels in the pod directory as a versioned JSON record
(supervisor.json: data only, never a pickle); signals that arrive meanwhile
stay blocked and pending across both execs, so none is lost. A state this
launcher cannot read is one line in supervisor.log and exit 1: the pod's
processes then die with their parent (PR_SET_PDEATHSIG) and `ps` shows the
pod dead with that line.
"""
import os
import sys

try:   # signal without its enum wrappers: importing enum costs ~4 ms of start-up
    import _signal as signal
except ImportError:   # not CPython
    import signal

from launcher import binaries
from launcher.errors import LauncherError
from launcher.store import layout, record
from launcher.supervisor.pod import WAKE_SIGNALS


def exec_monitor(sup, timeout):
    """Hands the wait to the C monitor, unless an event is already in."""
    pod = sup.pod
    signal.pthread_sigmask(signal.SIG_BLOCK, WAKE_SIGNALS)
    pod.reap()
    pod.pump.drain_now()
    pod._forget_closed_pipes()
    if pod.ended or pod.stop_requested:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, WAKE_SIGNALS)
        return
    try:
        pod.dir.write(layout.SUPERVISOR_STATE, record.encode(record.SUPERVISOR, sup.to_state()))
    except LauncherError:   # a full disk: wait in Python this time
        signal.pthread_sigmask(signal.SIG_UNBLOCK, WAKE_SIGNALS)
        return
    wait_ms = -1 if timeout is None else int(timeout * 1000) + 1
    argv = [sup.monitor, "--logs", f"{pod.dir.fd},{pod.spec.log_max_size},{pod.spec.log_max_files}"]
    for fd, (name, _) in sorted(pod.pipes.items()):
        argv += ["--pipe", f"{fd},{name}"]
    argv += [str(wait_ms), *binaries.python("launcher.supervisor.handoff:resume_main", pod.dir.path)]
    keep = [pod.dir.fd, *pod.pipes]
    pod.close(restore_signals=False, keep_pipes=True)
    for fd in keep:
        os.set_inheritable(fd, True)
    os.execv(sup.monitor, argv)


def log_error(pod_fd, text):
    """Appends text to the pod's supervisor.log."""
    from launcher.store import fs
    fd = fs.open_append(pod_fd, layout.SUPERVISOR_LOG)
    try:
        fs.write_all(fd, text.encode(errors="replace"))
    finally:
        os.close(fd)


def resume(poddir):
    """Takes the supervisor state back from poddir and goes on supervising
    to the pod's end. The wake-up signals are still blocked; the handlers
    go in before they are unblocked, so a pending SIGCHLD or stop signal is
    seen."""
    from launcher.lifecycle import PodLifecycle
    from launcher.spec import PodSpec
    from launcher.store.pods import Store
    from launcher.supervisor.detach import finish
    from launcher.supervisor.driver import Supervisor
    from launcher.supervisor.pod import Pod
    store = Store(os.path.dirname(poddir))
    pod_dir = store.open(os.path.basename(poddir))
    if pod_dir is None:
        return 1
    try:
        raw = pod_dir.read(layout.SUPERVISOR_STATE)
        if raw is None:
            raise record.BadRecord(f"pod {pod_dir.id}: no {layout.SUPERVISOR_STATE}")
        state = record.decode(record.SUPERVISOR, raw, f"pod {pod_dir.id} {layout.SUPERVISOR_STATE}")
        pod = Pod.from_state(state["pod"], store, PodSpec)
        sup = Supervisor(pod, PodLifecycle.from_state(state["lifecycle"]))
        sup.monitor = state["monitor"]
    except Exception as e:   # a record we cannot use: say why, die (the pod goes with us)
        why = str(e) if isinstance(e, record.BadRecord) else \
            f"{layout.SUPERVISOR_STATE} is malformed ({type(e).__name__}: {e})"
        log_error(pod_dir.fd, f"launcher: cannot resume the pod: {why}\n")
        return 1
    finally:
        pod_dir.close()
    for fd in pod.pipes:
        os.set_inheritable(fd, False)
    try:
        pod.attach()
        sup.step()
    except BaseException:
        import traceback
        log_error(pod.dir.fd, traceback.format_exc())
        raise
    finish(sup)
    return 0


def resume_main():
    """The monitor's re-entry point: `resume_main POD_DIR`."""
    if len(sys.argv) != 2:
        sys.stderr.write("usage: resume_main POD_DIR (the pod monitor runs it)\n")
        return 2
    return resume(sys.argv[1])
