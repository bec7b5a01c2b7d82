"""`launcher gc`: releases what dead pods hold (processes, IPs, pinned
namespaces) and removes them, as kubelet housekeeping does; prints each
removed pod. A DEL that fails stays pending and is reported (exit 125).
Corrupt records are left alone (rm -f removes them)."""
from launcher.commands.common import open_store, simple
from launcher.errors import LauncherError
from launcher.teardown import dead_pods, release_dead, remove

USAGE = "usage: launcher gc                         release what dead pods hold, remove them\n"


def parse(argv):
    return simple(argv, "gc", pods="none")


def main(o):
    store = open_store()
    dead = dead_pods(store)
    failed = release_dead(store, dead)
    for pod in dead:
        name = pod.record["name"]
        remove(store, pod)
        print(name)
    if failed:
        raise LauncherError(f"{len(failed)} network attachment(s) could not be released; "
                            f"first: sandbox {failed[0][0]}: {failed[0][1]}")
    return 0
