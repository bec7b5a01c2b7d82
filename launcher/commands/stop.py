"""`launcher stop POD...`: stops pods (TERM, grace, KILL), all in parallel."""
from launcher.commands.common import open_store, simple
from launcher.errors import LauncherError
from launcher.teardown import stop_all

USAGE = "usage: launcher stop POD...                stop pods (TERM, grace, KILL)\n"


def parse(argv):
    return simple(argv, "stop", pods="many")


def main(o):
    store = open_store()
    pods = [store.resolve(ref) for ref in o["pods"]]   # an unknown one fails before anything
    for pod in pods:
        if pod.record is None:
            raise LauncherError(f"pod {pod.id}: {pod.error} (launcher rm -f removes it)")
    late = stop_all(pods)
    if late:
        raise LauncherError(f"pod {late[0]!r} did not stop in time")
    for pod in pods:
        print(pod.record["name"])
    return 0
