"""`launcher wait POD...`: waits until each pod is finished, then prints its
exit code (podman's rule: the first failing container's code, else 0), one
line per pod in the order given, as `podman wait` does. A pod is waited
for through a pidfd on its supervisor (checked against the recorded start
time), which exits only once the pod is torn down and its exits recorded."""
import os

from launcher.commands.common import open_store, simple
from launcher.errors import LauncherError
from launcher.runtime import namespaces
from launcher.store.status import DEAD, EXITED, LIVE_STATES, pod_exit_code, pod_state, status

USAGE = ("usage: launcher wait POD...                wait for pods to finish, print each "
         "exit code\n")


def parse(argv):
    return simple(argv, "wait", pods="many")


def main(o):
    store = open_store()
    pods = [store.resolve(ref) for ref in o["pods"]]   # an unknown one fails before any wait
    for pod in pods:
        print(_wait(store, pod), flush=True)
    return 0


def _wait(store, pod):
    """The exit code of pod once it is finished."""
    if pod.record is None:
        raise LauncherError(f"pod {pod.id}: {pod.error} (launcher rm -f removes it)")
    name = pod.record["name"]
    if pod_state(pod) in LIVE_STATES:
        sup = pod.record.get("supervisor") or {}
        fd = namespaces.open_pidfd(sup.get("pid"), sup.get("start"))
        if fd is not None:
            try:
                while not namespaces.wait_pidfd(fd, 3600):
                    pass
            finally:
                os.close(fd)
        pod.close()
        pod = store.open(pod.id)
        if pod is None:
            raise LauncherError(f"pod {name!r} removed itself when it finished (run --rm or "
                                "in the foreground): its exit code is gone")
    try:
        state = pod_state(pod)
        if state == EXITED:
            return pod_exit_code(status(pod))
        if state == DEAD:
            raise LauncherError(f"pod {name!r} is dead: its supervisor died before it finished "
                                "(launcher gc releases what it holds)")
        raise LauncherError(f"pod {name!r} is {state}")
    finally:
        pod.close()
