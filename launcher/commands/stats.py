"""`launcher stats [POD...] [--format table|json] [--no-stream] [-i S]`: CPU,
memory and pids of each running pod's containers, its sandbox and the whole
pod, read from their cgroups (podman stats' figures): CPU % over the
interval (100 = one core), memory in use (the working set, as the kubelet
counts it) against its limit (the container's, else the pod's), pids
against the pod's limit. Without --no-stream a table every interval until
Ctrl-C."""
import json
import sys
import time

from launcher.commands.common import open_store, simple
from launcher.errors import LauncherError
from launcher.spec import number

USAGE = ("usage: launcher stats [POD...] [--format table|json] [--no-stream] [-i SECONDS]   "
         "resource use from the pods' cgroups\n")


def parse(argv):
    o = simple(argv, "stats", flags=(("--no-stream", "no_stream"),),
               values=(("--format", "format"), ("-i", "--interval", "interval")), pods="any")
    o["format"] = o["format"] or "table"
    if o["format"] not in ("table", "json"):
        raise LauncherError(f"stats: unknown format {o['format']!r} (table or json)")
    o["interval"] = number("--interval", o["interval"] or 1, 0.1, 3600)
    return o


def _size(n):
    if n is None:
        return "-"
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.4g}{unit}"
    return f"{n}B"


def _sample(targets, interval):
    """Two samples `interval` seconds apart -> display rows."""
    from launcher import cgroups
    firsts = [(pod, cg, cg.sample()) for pod, cg in targets]
    time.sleep(interval)
    rows = []
    for pod, cg, before in firsts:
        for r in cgroups.rows(before, cg.sample()):
            rows.append(dict(r, pod=pod.record["name"], pod_id=pod.id))
    return rows


def _table(rows):
    lines = [("POD", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS")]
    for r in rows:
        mem, lim = r["memory_bytes"], r["memory_limit_bytes"]
        pct = f"{100.0 * mem / lim:.2f}%" if mem is not None and lim else "-"
        cpu = "-" if r["cpu_percent"] is None else f"{r['cpu_percent']:.2f}%"
        pids = "-" if r["pids"] is None else str(r["pids"]) + (
            f" / {r['pids_limit']}" if r["pids_limit"] else "")
        lines.append((r["pod"], r["name"], cpu, f"{_size(mem)} / {_size(lim)}", pct, pids))
    widths = [max(len(ln[i]) for ln in lines) for i in range(len(lines[0]) - 1)]
    return "".join("  ".join(c.ljust(w) for c, w in zip(ln, widths)) + "  " + ln[-1] + "\n"
                   for ln in lines)


def main(o):
    from launcher import cgroups
    from launcher.store.status import LIVE_STATES, pod_state
    from launcher.teardown import cgroup_parent
    store = open_store()
    pods = [store.resolve(ref) for ref in o["pods"]] if o["pods"] else store.pods()
    live = [p for p in pods if pod_state(p) in LIVE_STATES]
    if o["pods"] and len(live) < len(pods):
        idle = next(p for p in pods if p not in live)
        raise LauncherError(f"pod {(idle.record or {}).get('name') or idle.id!r} is not running")
    host = cgroups.detect()
    targets = [(p, cgroups.Pod(host, p.id, cgroup_parent(p.record))) for p in live]
    while True:
        rows = _sample(targets, o["interval"])
        if o["format"] == "json":
            sys.stdout.write(json.dumps(rows) + "\n")
        else:
            sys.stdout.write(_table(rows) + ("" if o["no_stream"] else "\n"))
        sys.stdout.flush()
        if o["no_stream"]:
            return 0
