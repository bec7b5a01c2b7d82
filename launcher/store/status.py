"""A pod's live status: its record enriched with facts read now from /proc
and the pod directory's exit files.

Pod states (the vocabulary is declared once, here):
  creating  the supervisor lives and is still setting the pod up
  running   the supervisor lives
  exited    the pod is torn down (`done` exists)
  dead      the supervisor vanished without finishing (it was killed)
  corrupt   the record cannot be read (rm -f removes the pod)
Container states: running, waiting (to start or restart), exited, dead.
"""
from launcher import proc
from launcher.store import layout

CREATING, RUNNING, EXITED, DEAD, CORRUPT = "creating", "running", "exited", "dead", "corrupt"
LIVE_STATES = (CREATING, RUNNING)


def read_exit(pod, name):
    """(code, detail) from an exit file: podman-style code (128+N for
    signal N) and the raw "exit N" / "signal N" text; None if absent."""
    raw = pod.read(name, limit=64)
    if raw is None:
        return None
    kind, _, num = raw.decode(errors="replace").strip().partition(" ")
    if kind not in ("exit", "signal") or not num.isdigit() or len(num) > 3:
        return None
    n = int(num)
    return (128 + n if kind == "signal" else n), f"{kind} {n}"


def supervisor_alive(rec):
    sup = rec.get("supervisor") or {}
    return proc.alive(sup.get("pid"), sup.get("start"))


def pod_state(pod):
    """The pod's state (one of the names above), from its record and files."""
    if pod.record is None:
        return CORRUPT
    if supervisor_alive(pod.record):
        return CREATING if pod.record.get("state") == CREATING else RUNNING
    return EXITED if pod.exists(layout.DONE) else DEAD


def status(pod, detail=True):
    """The record enriched with live facts: the pod's state and, per
    container, its state, last exit code and finish time and restarts, and
    whether pause runs and how it ended. detail=False is what `ps` shows,
    with three reads less per running pod (a third of its /proc reads and
    both exit files): not pause's liveness and exit, nor the previous exit
    of a container that runs."""
    if pod.record is None:
        return {"id": pod.id, "name": None, "state": CORRUPT, "error": str(pod.error),
                "containers": [], "phase": None, "created": pod.mtime("."),
                "network": None}
    rec = pod.record
    state = pod_state(pod)
    sup_alive = state in LIVE_STATES
    lc = rec.get("lifecycle") or {}
    statuses = {x["name"]: x for x in lc.get("init_containers", []) + lc.get("containers", [])}
    out = dict(rec, state=state, phase=lc.get("phase"))
    out.pop("version", None)
    out.pop("kind", None)
    if state == DEAD:
        log = pod.read(layout.SUPERVISOR_LOG, limit=1 << 20)
        lines = log.decode(errors="replace").strip().splitlines() if log else []
        if lines:
            out["supervisor"] = dict(rec.get("supervisor") or {}, error=lines[-1])
    out["containers"] = []
    for c in rec.get("containers", []):
        c = dict(c)
        running = bool(c.get("pid")) and proc.alive(c["pid"], c.get("start"))
        ex = (read_exit(pod, layout.container_exit(c["name"]))   # the last run's end
              if detail or not running else None)
        c["exit_code"] = ex[0] if ex else None
        if ex:
            c["exit"] = ex[1]
            c["finished"] = pod.mtime(layout.container_exit(c["name"]))
        lcs = statuses.get(c["name"], {})
        if lcs.get("reason"):
            c["reason"] = lcs["reason"]
        waiting = sup_alive and lcs.get("state") == "waiting"
        if running:
            c["state"], c["exit_code"] = "running", None
            c.pop("reason", None)
        elif waiting or (sup_alive and not ex):
            c["state"] = "waiting"   # to be started, or restarted after its back-off
        elif ex:
            c["state"] = "exited"
        else:
            c["state"] = "dead"
        out["containers"].append(c)
    if "pause" in out and detail:
        px = read_exit(pod, layout.SANDBOX_EXIT)
        pause = dict(out["pause"])
        pause["exit"] = px[1] if px else None
        pause["running"] = proc.alive(pause.get("pid"), pause.get("start"))
        out["pause"] = pause
    return out


def pod_exit_code(st):
    """podman's rule for a pod: the first failing container's code (in
    declaration order), else 0."""
    for c in st["containers"]:
        if c.get("exit_code"):
            return c["exit_code"]
    return 0
