"""The commands that act on existing pods: ps, inspect, exec, stop, rm, logs.

They read pod records and live status through launcher.state, reach
processes only through pidfds checked against the recorded start time (a pid
alone could have been reused), and raise LauncherError for anything the user
must hear about.
"""
import json
import os
import signal
import sys
import time

from launcher import ns, state
from launcher.errors import LauncherError

STOP_EXTRA = 10.0   # seconds beyond the grace period that stop waits


def _age(t):
    """'5m ago' for a creation time."""
    s = int(time.time() - t)
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n:
            return f"{s // n}{unit} ago"
    return f"{s}s ago"


def _summary(st):
    """The ps view of a pod status."""
    return {"id": st["id"], "name": st["name"], "state": st["state"],
            "created": st["created"], "pause_pid": st.get("pause", {}).get("pid"),
            "containers": [{"name": c["name"], "state": c["state"],
                            "exit_code": c.get("exit_code")} for c in st["containers"]]}


def cmd_ps(o):
    """Lists every pod: table or JSON."""
    root = state.root()
    with state.Lock(root):
        state.drop_stale_tmp(root)
    pods = [state.status(d, rec) for d, rec in state.all_pods(root)]
    if o["format"] == "json":
        print(json.dumps([_summary(p) for p in pods]))
        return 0
    rows = [("POD ID", "NAME", "STATE", "PAUSE PID", "CONTAINERS", "CREATED")]
    for p in pods:
        ctrs = ",".join(f"{c['name']}({c['state'] if c['exit_code'] is None else c['exit_code']})"
                        for c in p["containers"])
        rows.append((p["id"][:12], p["name"], p["state"],
                     str(p.get("pause", {}).get("pid", "-")), ctrs, _age(p["created"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    return 0


def cmd_inspect(o):
    """One pod as JSON: ids, pause, namespace inodes, containers, state."""
    d, rec = state.resolve(state.root(), o["pods"][0])
    st = state.status(d, rec)
    st["dir"] = d
    if st["state"] in ("exited", "dead"):
        st["exit_code"] = state.pod_exit_code(st)
    print(json.dumps(st, indent=2))
    return 0


def _target(st, name):
    """The container record exec/logs act on: by name, else the first."""
    if not st["containers"]:
        raise LauncherError(f"pod {st['name']!r} has no container")
    if name is None:
        running = [c for c in st["containers"] if c["state"] == "running"]
        return running[0] if running else st["containers"][0]
    for c in st["containers"]:
        if c["name"] == name:
            return c
    raise LauncherError(f"pod {st['name']!r} has no container {name!r}")


def cmd_exec(o):
    """Runs a command inside a container's namespaces (net, IPC, UTS, PID,
    mount), entered through a pidfd verified against the recorded start
    time. Returns the command's exit code (126/127 if it cannot run)."""
    from launcher.sandbox import child_fail, read_status, reset_signals
    d, rec = state.resolve(state.root(), o["pods"][0])
    st = state.status(d, rec)
    if st["state"] != "running":
        raise LauncherError(f"pod {st['name']!r} is not running ({st['state']})")
    c = _target(st, o["container"])
    pidfd = ns.open_pidfd(c.get("pid"), c.get("start")) if c["state"] == "running" else None
    if pidfd is None:
        raise LauncherError(f"container {c['name']!r} of pod {st['name']!r} is not running")
    spec_env = next((x.get("env", {}) for x in rec["spec"]["containers"]
                     if x["name"] == c["name"]), {})
    env = dict(os.environ, HOSTNAME=rec["name"], **spec_env)
    env.update(o["env"])
    argv = o["argv"]
    ns.setns(pidfd, ns.CLONE_NEWPID)
    st_r, st_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(st_r)
            ns.set_pdeathsig(signal.SIGKILL)
            ns.setns(pidfd, ns.SANDBOX_NS | ns.CLONE_NEWNS)
            reset_signals()
            os.execvpe(argv[0], argv, env)
        except BaseException as e:
            child_fail(st_w, e)
    os.close(st_w)
    os.close(pidfd)
    for s in (signal.SIGINT, signal.SIGQUIT):   # the terminal sends them to the child too
        signal.signal(s, signal.SIG_IGN)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, lambda sig, _f: os.kill(pid, sig))
    failed = read_status(st_r)
    _, status = os.waitpid(pid, 0)
    if failed:
        raise LauncherError(f"exec: cannot run {argv[0]!r}: {failed[1]}", failed[0])
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _stop_all(recs):
    """Asks each pod's supervisor to stop its pod (SIGTERM through a pidfd),
    all at once, then waits for them; returns the names that did not stop in
    time (grace period twice, plus a margin)."""
    pending = []
    for rec in recs:
        sup = rec.get("supervisor") or {}
        fd = ns.open_pidfd(sup.get("pid"), sup.get("start"))
        if fd is not None:
            signal.pidfd_send_signal(fd, signal.SIGTERM)
            pending.append((rec, fd, time.monotonic() + rec["spec"]["grace"] * 2 + STOP_EXTRA))
    late = []
    for rec, fd, deadline in pending:
        try:
            if not ns.wait_pidfd(fd, deadline - time.monotonic()):
                late.append(rec["name"])
        finally:
            os.close(fd)
    return late


def _resolve_all(refs):
    """(root, [(poddir, record)]) for every POD argument; an unknown one
    fails the command before anything is done."""
    root = state.root()
    return root, [state.resolve(root, ref) for ref in refs]


def cmd_stop(o):
    """Stops the pods given (in parallel); prints each name."""
    _, pods = _resolve_all(o["pods"])
    late = _stop_all([rec for _, rec in pods])
    if late:
        raise LauncherError(f"pod {late[0]!r} did not stop in time")
    for _, rec in pods:
        print(rec["name"])
    return 0


def _kill_leftovers(rec):
    """SIGKILLs any recorded pod process that still runs (after a dead
    supervisor) and waits for it to go."""
    procs = [rec.get("pause") or {}] + list(rec.get("containers", []))
    for p in procs:
        fd = ns.open_pidfd(p.get("pid"), p.get("start"))
        if fd is not None:
            try:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
                ns.wait_pidfd(fd, 5.0)
            finally:
                os.close(fd)


def cmd_rm(o):
    """Removes stopped (exited or dead) pods; -f stops running ones first
    (in parallel). Refuses before doing anything if one is running without -f."""
    root, pods = _resolve_all(o["pods"])
    with state.Lock(root):
        state.drop_stale_tmp(root)
    running = [rec for d, rec in pods
               if state.status(d, rec)["state"] in ("running", "creating")]
    if running and not o["force"]:
        raise LauncherError(f"pod {running[0]['name']!r} is running: stop it first or use rm -f")
    late = _stop_all(running)
    if late:
        raise LauncherError(f"pod {late[0]!r} did not stop in time")
    for d, rec in pods:
        _kill_leftovers(rec)
        with state.Lock(root):
            state.remove(d)
            state.release_name(root, rec["name"], rec["id"])
        print(rec["name"])
    return 0


def cmd_logs(o):
    """Prints the logged output of a pod's containers (one container with
    -c; several are prefixed with their names)."""
    d, rec = state.resolve(state.root(), o["pods"][0])
    names = [c["name"] for c in rec.get("containers") or rec["spec"]["containers"]]
    if o["container"] is not None:
        if o["container"] not in names:
            raise LauncherError(f"pod {rec['name']!r} has no container {o['container']!r}")
        names = [o["container"]]
    out = sys.stdout.buffer
    for name in names:
        try:
            with open(state.log_path(d, name), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        if len(names) > 1:
            data = b"".join(name.encode() + b" | " + ln + b"\n" for ln in data.splitlines())
        out.write(data)
    out.flush()
    return 0
