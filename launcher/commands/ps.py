"""`launcher ps`: every pod, as a table or JSON."""
import json
import time

from launcher.commands.common import open_store, simple
from launcher.errors import LauncherError
from launcher.store.status import status

USAGE = """\
usage: launcher ps [--format table|json]     list pods
       launcher ps -q|--quiet                each pod's full id, one per line
                                             (e.g. launcher rm -f $(launcher ps -q))
"""


def parse(argv):
    o = simple(argv, "ps", flags=(("-q", "--quiet", "quiet"),),
               values=(("--format", "format"),), pods="none")
    if o["quiet"] and o["format"] is not None:
        raise LauncherError("ps: -q prints ids only: it takes no --format")
    o["format"] = o["format"] or "table"
    if o["format"] not in ("table", "json"):
        raise LauncherError(f"ps: unknown format {o['format']!r} (table or json)")
    return o


def _age(t):
    """'5m ago' for a creation time."""
    if t is None:
        return "-"
    s = int(time.time() - t)
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n:
            return f"{s // n}{unit} ago"
    return f"{s}s ago"


def summary(st):
    """The ps view of a pod status."""
    return {"id": st["id"], "name": st["name"], "state": st["state"], "phase": st["phase"],
            "created": st.get("created"), "pause_pid": (st.get("pause") or {}).get("pid"),
            "ip": (st.get("network") or {}).get("ip"),
            "containers": [{"name": c["name"], "state": c["state"], "restarts": c.get("restarts", 0),
                            "exit_code": c.get("exit_code"), "reason": c.get("reason")}
                           for c in st["containers"]],
            **({"error": st["error"]} if st.get("error") else {})}


def main(o):
    store = open_store()
    with store.lock():
        store.drop_stale()
    if o["quiet"]:   # no record is read: a corrupt pod is listed too, for rm -f
        ids = store.ids()
        if ids:
            print("\n".join(ids))
        return 0
    pods = []
    for pod in store.pods():
        pods.append(status(pod, detail=False))
        pod.close()
    if o["format"] == "json":
        print(json.dumps([summary(p) for p in pods]))
        return 0
    rows = [("POD ID", "NAME", "STATE", "PHASE", "IP", "PAUSE PID", "CONTAINERS", "CREATED")]
    for p in pods:
        ctrs = ",".join(f"{c['name']}({c['state'] if c['exit_code'] is None else c['exit_code']})"
                        for c in p["containers"])
        rows.append((p["id"][:12], p["name"] or "-", p["state"], p["phase"] or "-",
                     (p.get("network") or {}).get("ip") or "-",
                     str((p.get("pause") or {}).get("pid") or "-"), ctrs or "-",
                     _age(p.get("created"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    # one write, not one per pod, where stdout is unbuffered (PYTHONUNBUFFERED)
    print("\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1]
                    for r in rows))
    return 0
