"""The durable record of CNI attachments: one JSON file per sandbox in a
state directory chosen by the caller, so that DEL can always be run later,
by sandbox id, whatever died first.

`<state_dir>/<sandbox_id>.cni.json` holds: pod, sandbox (CNI_CONTAINERID),
network (and its whole conflist), ifname, netns path, port mappings, the
plugin path, `phase` and the ADD result. Phases: "adding" (written before
the first plugin runs), "added" (result recorded), "deleting" (a DEL has
been claimed by `deleter`). `owner` is the process responsible for the
attachment; when it is dead the record is an orphan for `gc`. While
plugins run for a sandbox, `<sandbox_id>.cni.lock` is flocked (SandboxLock).
Processes are identified by pid plus start time, so a reused pid is never
taken for the owner. Files are written temp + fsync + rename + fsync(dir).
Read-modify-write of records happens under an flock on the state dir's
`.cni-state.lock`; plugins are never run under it.
"""
import fcntl
import json
import os

from launcher import proc
from launcher.flock import FileLock

SUFFIX = ".cni.json"
LOCK = ".cni-state.lock"          # the state dir's lock (sandbox ids never start with ".")
SANDBOX_LOCK = ".cni.lock"


def me():
    """This process as an owner: {"pid", "start"}."""
    return process(os.getpid())


def process(pid):
    """Process `pid` as an owner {"pid", "start"} (start None if gone)."""
    return {"pid": pid, "start": proc.live_start(pid)}


def alive(p):
    """True if the process {"pid", "start"} still runs (same start time)."""
    return bool(p) and proc.alive(p.get("pid"), p.get("start"))


def path_of(state_dir, sandbox_id):
    return os.path.join(state_dir, sandbox_id + SUFFIX)


def Lock(state_dir):
    """The flock on the state dir's lock file, held around read-modify-write
    of records (never while plugins run)."""
    return FileLock(os.path.join(state_dir, LOCK))


class SandboxLock:
    """flock on `<state_dir>/<sandbox>.cni.lock`, held by whoever runs
    plugins for the sandbox. Its fd is passed to the plugins, which keep it
    (and hand it to their own children, e.g. bridge to host-local), so the
    lock stays held while any process of an ADD or DEL lives, even after
    the launcher that started them was SIGKILLed: gc never DELs under an
    ADD that is still finishing."""

    def __init__(self, state_dir, sandbox_id):
        self.path = os.path.join(state_dir, sandbox_id + SANDBOX_LOCK)
        self.fd = -1

    def try_acquire(self):
        """Takes the lock without waiting; False if someone holds it. Retries
        if the file was unlinked (by a releaser) between open and flock."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return True
            os.close(fd)

    def release(self, unlink=False):
        """Releases the lock; with unlink, removes the lock file first (done
        once the record is gone)."""
        if self.fd < 0:
            return
        if unlink:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        os.close(self.fd)
        self.fd = -1


def stale_locks(state_dir):
    """Lock files whose sandbox has no record (left by a crash between
    removing a record and its lock file)."""
    try:
        names = os.listdir(state_dir)
    except FileNotFoundError:
        return []
    ids = [n[:-len(SANDBOX_LOCK)] for n in names if n.endswith(SANDBOX_LOCK) and not n.startswith(".")]
    return [i for i in ids if not os.path.exists(path_of(state_dir, i))]


def _fsync_dir(state_dir):
    fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(state_dir, record):
    """Writes the record durably: temp file, fsync, rename, fsync(dir)."""
    path = path_of(state_dir, record["sandbox"])
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, (json.dumps(record, indent=1) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    _fsync_dir(state_dir)


def load(state_dir, sandbox_id):
    """The record of sandbox_id, or None."""
    try:
        with open(path_of(state_dir, sandbox_id)) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def remove(state_dir, sandbox_id):
    """Deletes the record durably (no error if it is already gone)."""
    try:
        os.unlink(path_of(state_dir, sandbox_id))
    except FileNotFoundError:
        return
    _fsync_dir(state_dir)


def all_records(state_dir):
    """Every record in state_dir (unreadable ones skipped), and removes temp
    files left by writers that died mid-write."""
    out = []
    try:
        names = sorted(os.listdir(state_dir))
    except FileNotFoundError:
        return out
    for name in names:
        path = os.path.join(state_dir, name)
        if ".cni.json.tmp" in name:
            writer = name.rsplit(".tmp", 1)[1]
            if writer.isdigit() and proc.live_start(int(writer)) is None:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            continue
        if name.endswith(SUFFIX):
            try:
                with open(path) as f:
                    out.append(json.load(f))
            except (OSError, ValueError):
                continue
    return out


def orphaned(record):
    """True if nobody alive is responsible for the record: its DEL claimant
    died, or (no DEL claimed) its owner died."""
    if record.get("phase") == "deleting":
        return not alive(record.get("deleter"))
    return not alive(record.get("owner"))
