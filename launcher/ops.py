"""The commands that act on existing pods: ps, inspect, exec, stop, rm, logs,
gc; and the release of what a dead pod holds.

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
STOP_CPU = 0.25     # CPU seconds one pod's stop may cost (a Python supervisor starts)


def _age(t):
    """'5m ago' for a creation time."""
    s = int(time.time() - t)
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n:
            return f"{s // n}{unit} ago"
    return f"{s}s ago"


def _summary(st):
    """The ps view of a pod status."""
    return {"id": st["id"], "name": st["name"], "state": st["state"], "phase": st["phase"],
            "created": st["created"], "pause_pid": st.get("pause", {}).get("pid"),
            "ip": (st.get("network") or {}).get("ip"),
            "containers": [{"name": c["name"], "state": c["state"], "restarts": c.get("restarts", 0),
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
    rows = [("POD ID", "NAME", "STATE", "PHASE", "IP", "PAUSE PID", "CONTAINERS", "CREATED")]
    for p in pods:
        ctrs = ",".join(f"{c['name']}({c['state'] if c['exit_code'] is None else c['exit_code']})"
                        for c in p["containers"])
        rows.append((p["id"][:12], p["name"], p["state"], p["phase"] or "-",
                     (p.get("network") or {}).get("ip") or "-",
                     str(p.get("pause", {}).get("pid") or "-"), ctrs or "-", _age(p["created"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    return 0


def cmd_inspect(o):
    """One pod as JSON: ids, pause, namespace inodes, network, containers
    with restarts and exit codes, phase, events. --check runs CNI CHECK on
    the pod's network first (a failure is the one-line error, exit 125)."""
    root = state.root()
    d, rec = state.resolve(root, o["pods"][0])
    st = state.status(d, rec)
    st["dir"] = d
    if st["state"] in ("exited", "dead"):
        st["exit_code"] = state.pod_exit_code(st)
    if o.get("check"):
        sandbox = (rec.get("sandbox") or {}).get("id")
        if st["state"] != "running" or not sandbox:
            raise LauncherError(f"pod {rec['name']!r} has no running sandbox to check")
        if not rec["spec"].get("network"):
            raise LauncherError(f"pod {rec['name']!r} has no network (--network none)")
        from launcher import cni
        from launcher.supervise import cni_dir
        st["network"]["checked"] = cni.check(cni_dir(root), sandbox)
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
    all at once so their grace periods run side by side, then waits for
    them; returns the names that did not stop in time. A pod may take its
    grace period twice plus a margin, plus its share of the work of all
    (each stop starts a Python supervisor: STOP_CPU seconds of CPU each, on
    every core), counted from the last time a pod was seen to stop: a
    thousand pods stopping at once keep two cores busy for a while, and
    busy is not hung."""
    pending = []
    for rec in recs:
        sup = rec.get("supervisor") or {}
        fd = ns.open_pidfd(sup.get("pid"), sup.get("start"))
        if fd is not None:
            signal.pidfd_send_signal(fd, signal.SIGTERM)
            pending.append((rec, fd, rec["spec"]["grace"] * 2 + STOP_EXTRA))
    crowd = STOP_CPU * len(pending) / (os.cpu_count() or 1)
    late = []
    progress = time.monotonic()
    for rec, fd, budget in pending:
        try:
            if ns.wait_pidfd(fd, progress + budget + crowd - time.monotonic()):
                progress = time.monotonic()
            else:
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


def release(root, pods):
    """Releases what dead pods [(poddir, record)] hold: leftover processes
    are KILLed, every orphaned CNI attachment gets its DEL (while the pinned
    netns still exists), then the namespaces are unpinned. Returns the
    failed DELs as [(sandbox id, error)] (they stay pending)."""
    from launcher.supervise import cni_dir
    for _, rec in pods:
        _kill_leftovers(rec)
    failed = []
    if os.path.isdir(cni_dir(root)):
        from launcher import cni
        failed = cni.gc(cni_dir(root))[1]
    for d, _ in pods:
        ns.unpin(d)
    return failed


def _dead(root):
    """[(poddir, record)] of the pods whose supervisor died without
    finishing them (`ps` shows them dead)."""
    return [(d, rec) for d, rec in state.all_pods(root) if state.status(d, rec)["state"] == "dead"]


def release_dead(root):
    """Housekeeping: drop half-made pods and release what dead pods hold;
    their records stay, so `ps` still shows them dead until `rm`."""
    with state.Lock(root):
        state.drop_stale_tmp(root)
    return release(root, _dead(root))


def _remove(root, d, rec):
    with state.Lock(root):
        state.remove(d)
        state.release_name(root, rec["name"], rec["id"])


def cmd_gc(o):
    """Releases what dead pods hold (processes, IPs, pinned namespaces) and
    removes them, as kubelet housekeeping does; prints each removed pod.
    A DEL that fails stays pending and is reported (exit 125)."""
    root = state.root()
    dead = _dead(root)
    failed = release_dead(root)
    for d, rec in dead:
        _remove(root, d, rec)
        print(rec["name"])
    if failed:
        raise LauncherError(f"{len(failed)} network attachment(s) could not be released; "
                            f"first: sandbox {failed[0][0]}: {failed[0][1]}")
    return 0


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
    failed = release(root, pods)
    for d, rec in pods:
        _remove(root, d, rec)
        print(rec["name"])
    if failed:
        raise LauncherError(f"network of sandbox {failed[0][0]} not released: {failed[0][1]} "
                            "(`launcher gc` retries)")
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
