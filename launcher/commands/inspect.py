"""`launcher inspect [--check] POD`: one pod as JSON; --check runs CNI
CHECK on its network first (a failure is the one-line error, exit 125)."""
import json

from launcher.commands.common import open_store, simple
from launcher.errors import LauncherError
from launcher.store.status import CORRUPT, EXITED, DEAD, RUNNING, pod_exit_code, status

USAGE = "usage: launcher inspect [--check] POD      a pod as JSON (--check: CNI CHECK)\n"


def parse(argv):
    return simple(argv, "inspect", flags=(("--check", "check"),))


def main(o):
    store = open_store()
    pod = store.resolve(o["pods"][0])
    st = status(pod)
    st["dir"] = pod.path
    if st["state"] in (EXITED, DEAD):
        st["exit_code"] = pod_exit_code(st)
    if o["check"]:
        rec = pod.record
        if st["state"] == CORRUPT:
            raise LauncherError(f"pod {pod.id}: {pod.error}")
        sandbox = (rec.get("sandbox") or {}).get("id")
        if st["state"] != RUNNING or not sandbox:
            raise LauncherError(f"pod {rec['name']!r} has no running sandbox to check")
        if not rec["spec"].get("network"):
            raise LauncherError(f"pod {rec['name']!r} has no network (--network none)")
        from launcher.net import cni
        from launcher.teardown import cni_dir
        st["network"]["checked"] = cni.check(cni_dir(store), sandbox)
    print(json.dumps(st, indent=2))
    return 0
