"""Pod state on disk: one directory per pod under the state root.

Root: $LAUNCHER_STATE_DIR, else /run/launcher for root, else
$XDG_RUNTIME_DIR/launcher; mode 0700. Each pod directory holds `pod.json`
(written by Python only: atomically, temp file + rename, under an flock on
the root's `.lock`), and files the supervisor writes as things happen, each
also atomically: `ctr-NAME.exit` and `sandbox.exit` ("exit N" or
"signal N"), `done` once the pod is fully torn down, and the logs
`ctr-NAME.log` and `sandbox.log`. Pod names are claimed by symlinks
`.names/NAME -> ID`, made under the lock, so `run` never has to read other
pods' records. A pod is "running" while its supervisor
(pid + start time) lives, "exited" once `done` exists, and "dead" when the
supervisor vanished without writing `done` (it was killed).
"""
import os
import time

from launcher import ns, proc
from launcher.flock import FileLock
from launcher.errors import LauncherError

RECORD = "pod.json"
SUPERVISOR_LOG = "supervisor.log"   # a detached supervisor's unexpected errors


def root():
    """The state root, created with mode 0700 if missing."""
    path = os.environ.get("LAUNCHER_STATE_DIR")
    if not path:
        if os.geteuid() == 0:
            path = "/run/launcher"
        elif os.environ.get("XDG_RUNTIME_DIR"):
            path = os.path.join(os.environ["XDG_RUNTIME_DIR"], "launcher")
        else:
            raise LauncherError("no state directory: set LAUNCHER_STATE_DIR or XDG_RUNTIME_DIR")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o700)
    except OSError as e:
        raise LauncherError(f"state directory {path}: {e.strerror}") from None
    return path


def Lock(rootdir):
    """The flock on the root's .lock: held around every read-modify-write of
    pod records and around name allocation."""
    return FileLock(os.path.join(rootdir, ".lock"))


def write_atomic(path, data):
    """Writes bytes or str to path via a temp file and rename(2)."""
    if isinstance(data, str):
        data = data.encode()
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def _esc(s):
    """A JSON string literal for s."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o < 0x20 or 0xd800 <= o < 0xe000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def dumps(obj):
    """JSON for the plain data of a pod record (dict, list, str, int, float,
    bool, None). The json package is not imported on `run`'s path: it pulls
    in re and enum, a few milliseconds of start-up."""
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, str):
        return _esc(obj)
    if isinstance(obj, int):
        return str(int(obj))
    if isinstance(obj, float):
        if obj != obj or obj in (float("inf"), float("-inf")):
            raise ValueError("non-finite float in a pod record")
        return repr(obj)
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{_esc(str(k))}: {dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ", ".join(dumps(v) for v in obj) + "]"
    raise TypeError(f"cannot store {type(obj).__name__} in a pod record")


def save(poddir, record):
    """Writes the pod record atomically (caller holds the Lock)."""
    write_atomic(os.path.join(poddir, RECORD), dumps(record) + "\n")


def drop_stale_tmp(rootdir):
    """Housekeeping (caller holds the Lock): removes `.tmp-ID` pod
    directories and name claims whose pod directory is gone. A pod is made
    as .tmp-ID and renamed into place under the lock, and removed by the
    reverse rename (see remove), so whatever a lock holder finds of either
    was left by a launcher killed half-way."""
    for n in os.listdir(rootdir):
        if n.startswith(".tmp-"):
            remove(os.path.join(rootdir, n))
    names = os.path.join(rootdir, ".names")
    for n in os.listdir(names) if os.path.isdir(names) else ():
        link = os.path.join(names, n)
        try:
            if not os.path.isdir(os.path.join(rootdir, os.readlink(link))):
                os.unlink(link)
        except OSError:
            pass


def claim_name(rootdir, name, pod_id):
    """Claims a pod name for pod_id (caller holds the Lock); a claim whose
    pod directory is gone is stale and taken over. False if in use."""
    names = os.path.join(rootdir, ".names")
    os.makedirs(names, mode=0o700, exist_ok=True)
    link = os.path.join(names, name)
    try:
        owner = os.readlink(link)
    except FileNotFoundError:
        owner = None
    if owner is not None:
        if os.path.isdir(os.path.join(rootdir, owner)):
            return False
        os.unlink(link)
    os.symlink(pod_id, link)
    return True


def release_name(rootdir, name, pod_id):
    """Drops the name claim if it still belongs to pod_id (caller holds the Lock)."""
    link = os.path.join(rootdir, ".names", name)
    try:
        if os.readlink(link) == pod_id:
            os.unlink(link)
    except OSError:
        pass


def load(poddir):
    """The pod record of poddir, or None if it is missing or half-made."""
    import json
    try:
        with open(os.path.join(poddir, RECORD)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def pod_dirs(rootdir):
    """Every pod directory under the root (names are pod ids)."""
    try:
        names = os.listdir(rootdir)
    except OSError:
        return []
    return [os.path.join(rootdir, n) for n in sorted(names)
            if not n.startswith(".") and os.path.isdir(os.path.join(rootdir, n))]


def all_pods(rootdir):
    """[(poddir, record)] for every readable pod."""
    out = []
    for d in pod_dirs(rootdir):
        rec = load(d)
        if rec is not None:
            out.append((d, rec))
    return out


def resolve(rootdir, ref):
    """(poddir, record) for a pod given by name, id or unique id prefix."""
    pods = all_pods(rootdir)
    for d, rec in pods:
        if ref in (rec["id"], rec["name"]):
            return d, rec
    hits = [(d, rec) for d, rec in pods if ref and rec["id"].startswith(ref)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise LauncherError(f"pod id prefix {ref!r} is ambiguous")
    raise LauncherError(f"no such pod: {ref!r}")


def new_id():
    """A random 64-bit pod id in hex (12 characters are shown, like podman)."""
    return os.urandom(8).hex()


def read_exit(path):
    """(code, detail) from an exit file: podman-style code (128+N for
    signal N) and the raw "exit N" / "signal N" text; None if absent."""
    try:
        with open(path) as f:
            kind, _, num = f.read().strip().partition(" ")
        n = int(num)
    except (OSError, ValueError):
        return None
    return (128 + n if kind == "signal" else n), f"{kind} {n}"


def exit_path(poddir, cname):
    """Where the supervisor records container cname's end."""
    return os.path.join(poddir, f"ctr-{cname}.exit")


def log_path(poddir, cname):
    """Container cname's output log (stdout and stderr together)."""
    return os.path.join(poddir, f"ctr-{cname}.log")


def status(poddir, rec):
    """The record enriched with live facts: the pod's state (creating,
    running, exited, dead), and per container its state (running, waiting
    to start or restart, exited, dead), last exit code and finish time and
    its restart count. Reads /proc and the exit files."""
    sup = rec.get("supervisor") or {}
    sup_alive = proc.alive(sup.get("pid"), sup.get("start"))
    done = os.path.exists(os.path.join(poddir, "done"))
    if sup_alive:
        state = "running" if rec.get("state") != "creating" else "creating"
    else:
        state = "exited" if done else "dead"
    if state == "dead":
        try:
            with open(os.path.join(poddir, SUPERVISOR_LOG)) as f:
                out_error = f.read().strip().splitlines()[-1]
        except (OSError, IndexError):
            out_error = None
    lc = rec.get("lifecycle") or {}
    statuses = {x["name"]: x for x in lc.get("init_containers", []) + lc.get("containers", [])}
    out = dict(rec, state=state, phase=lc.get("phase"))
    if state == "dead" and out_error:
        out["supervisor"] = dict(sup, error=out_error)
    out["containers"] = []
    for c in rec.get("containers", []):
        c = dict(c)
        ex = read_exit(exit_path(poddir, c["name"]))   # the last run's end
        c["exit_code"] = ex[0] if ex else None
        if ex:
            c["exit"] = ex[1]
            try:
                c["finished"] = os.stat(exit_path(poddir, c["name"])).st_mtime
            except OSError:
                pass
        waiting = sup_alive and statuses.get(c["name"], {}).get("state") == "waiting"
        if c.get("pid") and proc.alive(c["pid"], c.get("start")):
            c["state"], c["exit_code"] = "running", None
        elif waiting or (sup_alive and not ex):
            c["state"] = "waiting"   # to be started, or restarted after its back-off
        elif ex:
            c["state"] = "exited"
        else:
            c["state"] = "dead"
        out["containers"].append(c)
    px = read_exit(os.path.join(poddir, "sandbox.exit"))
    if "pause" in out:
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


def remove(poddir):
    """Deletes a pod directory (caller holds the Lock). It is first renamed
    to `.tmp-ID`, so it leaves `ps` at once and whole: a remover killed
    half-way leaves a .tmp- directory, which drop_stale_tmp finishes, never
    a pod directory without its record. Mounts left in it are detached;
    the files are unlinked one by one (pod directories are flat; shutil is
    not imported for this, it costs start-up time)."""
    root, name = os.path.split(poddir.rstrip("/"))
    if not name.startswith(".tmp-"):
        gone = os.path.join(root, ".tmp-" + name)
        try:
            os.rename(poddir, gone)
        except FileNotFoundError:
            return
        poddir = gone
    ns.detach_mounts_under(poddir)
    try:
        names = os.listdir(poddir)
    except FileNotFoundError:
        return
    for n in names:
        try:
            os.unlink(os.path.join(poddir, n))
        except FileNotFoundError:
            pass
    os.rmdir(poddir)


def now():
    """Wall-clock time for records (creation time)."""
    return time.time()
