"""`launcher kill [-s SIGNAL] [-c NAME] POD...`: sends a signal (default
KILL) to the running containers of pods, as `podman pod kill` does; -c
names one container (of one pod). Each container's process is reached
through a pidfd checked against its recorded start time, never by a pid
alone. What happens next is the pod's restart policy's business, as when
the container exits by itself. Note the kernel's rule: a container that is
PID 1 of its own PID namespace gets only the signals it has a handler for
(and KILL and STOP)."""
import os

try:   # signal without its enum wrappers: importing enum costs ~4 ms of start-up
    import _signal as signal
except ImportError:   # not CPython
    import signal

from launcher.commands.common import open_store, simple
from launcher.errors import LauncherError
from launcher.runtime import namespaces
from launcher.spec import check_name, quote
from launcher.store.status import LIVE_STATES, pod_state, status

USAGE = ("usage: launcher kill [-s SIGNAL] [-c NAME] POD...   signal the containers of pods "
         "(default KILL)\n")


def parse(argv):
    o = simple(argv, "kill", pods="many",
               values=(("-s", "--signal", "signal"), ("-c", "--container", "container")))
    if o["help"]:
        return o
    o["signal"] = signal_number(o["signal"] or "KILL")
    if o["container"] is not None:
        check_name("container", o["container"])
        if len(o["pods"]) != 1:
            raise LauncherError("kill: -c names a container of one pod")
    return o


def signal_number(text):
    """A signal from a name (KILL, SIGKILL, kill) or a number (1 to SIGRTMAX)."""
    if text.isdigit() and len(text) <= 3:
        n = int(text)
        if 1 <= n <= signal.SIGRTMAX:
            return n
    else:
        name = text.upper().removeprefix("SIG")
        n = getattr(signal, "SIG" + name, None)
        if isinstance(n, int) and name.isalnum() and n > 0:
            return n
    raise LauncherError(f"kill: {quote(text)} is not a signal (a name such as TERM, HUP, "
                        f"SIGUSR1, or a number from 1 to {signal.SIGRTMAX})")


def main(o):
    store = open_store()
    pods = [store.resolve(ref) for ref in o["pods"]]   # an unknown one fails before any signal
    targets = [(pod, _targets(pod, o["container"])) for pod in pods]
    for pod, procs in targets:
        for pid, start in procs:
            fd = namespaces.open_pidfd(pid, start)
            if fd is None:
                continue   # it ended meanwhile
            try:
                signal.pidfd_send_signal(fd, o["signal"])
            finally:
                os.close(fd)
        print(pod.record["name"])
    return 0


def _targets(pod, container):
    """[(pid, start)] of the pod's running containers (or of the one named)."""
    if pod.record is None:
        raise LauncherError(f"pod {pod.id}: {pod.error} (launcher rm -f removes it)")
    name = pod.record["name"]
    if pod_state(pod) not in LIVE_STATES:
        raise LauncherError(f"pod {name!r} is not running ({pod_state(pod)})")
    running = [c for c in status(pod, detail=False)["containers"] if c["state"] == "running"]
    if container is not None:
        running = [c for c in running if c["name"] == container]
        if not running:
            raise LauncherError(f"pod {name!r} has no running container {container!r}")
    if not running:
        raise LauncherError(f"pod {name!r} has no running container")
    return [(c["pid"], c["start"]) for c in running]
