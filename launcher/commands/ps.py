"""`launcher ps`: every pod (or those the filters let through), as a
table, as JSON or as ids only.

--filter KEY=VALUE, as docker and podman read it: filters of different
keys must all match, several of one key any of them. Keys: id (a prefix
of the pod id), name (a part of the name), status (creating, running,
exited, dead or corrupt), label (KEY or KEY=VALUE of the pod's labels).
"""
import json
import time

from launcher.commands.common import Args, open_store
from launcher.errors import LauncherError
from launcher.spec import quote
from launcher.store.status import CORRUPT, CREATING, DEAD, EXITED, RUNNING, status

USAGE = """\
usage: launcher ps [--format table|json] [-f|--filter KEY=VALUE]...   list pods
       launcher ps -q|--quiet [-f|--filter KEY=VALUE]...   each pod's full id, one per line
                                             (e.g. launcher rm $(launcher ps -q -f status=exited))
  filters: id=PREFIX, name=PART, status=creating|running|exited|dead|corrupt,
           label=KEY or label=KEY=VALUE; all keys must match, any value of one key
"""
FILTER_KEYS = ("id", "name", "status", "label")
STATES = (CREATING, RUNNING, EXITED, DEAD, CORRUPT)


def parse(argv):
    args = Args(argv, "ps")
    o = {"quiet": False, "format": None, "filters": {}, "help": False}
    while args.more():
        raw, a, inline = args.option()
        if a in ("-q", "--quiet") and inline is None:
            o["quiet"] = True
        elif a == "--format":
            o["format"] = args.value(a, inline)
        elif a in ("-f", "--filter"):
            key, value = _filter(args.value(a, inline))
            o["filters"].setdefault(key, []).append(value)
        elif a in ("-h", "--help") and inline is None:
            o["help"] = True
        elif raw.startswith("-"):
            args.unknown(raw)
        else:
            raise LauncherError(f"ps: unexpected argument {quote(raw)}")
    if o["quiet"] and o["format"] is not None:
        raise LauncherError("ps: -q prints ids only: it takes no --format")
    o["format"] = o["format"] or "table"
    if o["format"] not in ("table", "json"):
        raise LauncherError(f"ps: unknown format {o['format']!r} (table or json)")
    return o


def _filter(text):
    """(key, value) of a --filter KEY=VALUE."""
    key, eq, value = text.partition("=")
    if not eq or key not in FILTER_KEYS:
        raise LauncherError(f"ps: bad filter {quote(text)}: use id=, name=, status= or label=")
    if key == "status" and value not in STATES:
        raise LauncherError(f"ps: status filter {quote(value)}: one of {', '.join(STATES)}")
    if key != "status" and not value:
        raise LauncherError(f"ps: {key} filter: empty value")
    return key, value


def matches(st, filters):
    """Whether the pod status st passes every filter key (any of its values)."""
    return all(any(_matches(st, key, v) for v in values) for key, values in filters.items())


def _matches(st, key, value):
    if key == "id":
        return st["id"].startswith(value)
    if key == "name":
        return value in (st["name"] or "")
    if key == "status":
        return st["state"] == value
    labels = (st.get("spec") or {}).get("labels") or {}
    k, eq, v = value.partition("=")
    return k in labels and (not eq or labels[k] == v)


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
    if o["quiet"] and not o["filters"]:   # no record is read: a corrupt pod is listed too
        ids = store.ids()
        if ids:
            print("\n".join(ids))
        return 0
    pods = []
    for pod in store.pods():
        st = status(pod, detail=False)
        pod.close()
        if matches(st, o["filters"]):
            pods.append(st)
    if o["quiet"]:
        if pods:
            print("\n".join(p["id"] for p in pods))
        return 0
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
