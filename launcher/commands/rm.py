"""`launcher rm [-f] POD...`: removes stopped (exited or dead) pods; -f
stops running ones first (in parallel: TERM, grace, KILL) and removes
corrupt ones. Refuses before doing anything if one is running (or corrupt)
without -f. A pod idle in its C monitor is ended without waking its
supervisor (teardown.end_idle); the others stop as `stop` stops them."""
from launcher.commands.common import open_store, simple
from launcher.errors import LauncherError
from launcher.store.status import CORRUPT, LIVE_STATES, pod_state
from launcher.teardown import end_idle, release, remove, stop_all

USAGE = "usage: launcher rm [-f] POD...             remove stopped pods (-f: stop them first)\n"


def parse(argv):
    return simple(argv, "rm", flags=(("-f", "--force", "force"),), pods="many")


def main(o):
    store = open_store()
    pods = [store.resolve(ref) for ref in o["pods"]]
    with store.lock():
        store.drop_stale(full=False)
    states = {p.id: pod_state(p) for p in pods}
    running = [p for p in pods if states[p.id] in LIVE_STATES]
    corrupt = [p for p in pods if states[p.id] == CORRUPT]
    if not o["force"]:
        if running:
            raise LauncherError(f"pod {running[0].record['name']!r} is running: stop it first "
                                "or use rm -f")
        if corrupt:
            raise LauncherError(f"pod {corrupt[0].id}: {corrupt[0].error}; rm -f removes it")
    late = stop_all(end_idle(running))
    if late:
        raise LauncherError(f"pod {late[0]!r} did not stop in time")
    failed = release(store, pods)
    for pod in pods:
        name = pod.record["name"] if pod.record else pod.id
        remove(store, pod)
        print(name)
    if failed:
        raise LauncherError(f"network of sandbox {failed[0][0]} not released: {failed[0][1]} "
                            "(`launcher gc` retries)")
    return 0
