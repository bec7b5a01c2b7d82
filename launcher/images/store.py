"""The image store's layout on disk; nobody else spells its file names.

    ROOT/.lock                 flock held around every change of records, tags, holds
    ROOT/tags.json             {"schema": 1, "tags": {"docker.io/library/busybox:latest": ID}}
    ROOT/images/ID.json        one record per image (ID = sha256 hex of its config)
    ROOT/blobs/sha256/HEX      the manifest and config of every image, verified
    ROOT/layers/HEX            one unpacked layer per diff_id, in overlayfs lower form
    ROOT/locks/layer-HEX       flock of whoever unpacks that layer
    ROOT/holds/POD/ID          pod POD uses image ID (rmi refuses while the pod is live)
    ROOT/tmp/PID-START-RAND/   one pull's work: skopeo's copy, layers being made, its lease
    ROOT/containers/POD/       the pods' writable layers and emptyDirs (launcher/supervisor/podfs.py)

Trust: an entry of layers/ or blobs/ exists only once complete and
verified: it is made in tmp/ and renamed into place after its digest
matched and its data was synced. A pull's `lease` file (in its tmp dir)
names the layers it is about to use, so rmi and prune keep them; the lease
of a dead process (pid + start time, launcher.proc) counts for nothing and
its tmp dir is removed by the next pull or prune.
"""
import errno
import json
import os
import re

from launcher import proc
from launcher.errors import LauncherError
from launcher.flock import FileLock
from launcher.store import fs
from launcher.store.root import trusted_dir

SCHEMA = 1
SUBDIRS = ("images", "blobs", "blobs/sha256", "layers", "locks", "holds", "tmp", "containers")
RECORD_LIMIT = 4 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_POD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
_WORK = re.compile(r"(\d+)-(\d+)-[0-9a-f]+\Z")


def hex_of(digest):
    """The 64 hex digits of a sha256 digest string, or LauncherError."""
    if isinstance(digest, str) and digest.startswith("sha256:") and _HEX64.match(digest[7:]):
        return digest[7:]
    raise LauncherError(f"invalid digest {digest!r}: expected sha256: and 64 hex digits")


def syncfs(fd):
    """Makes everything written on fd's filesystem durable: syncfs(2), run
    by coreutils' `sync -f` (ctypes alone would cost a pull 10 ms to import)."""
    import subprocess
    try:
        r = subprocess.run(["sync", "-f", f"/proc/self/fd/{fd}"], pass_fds=(fd,),
                           capture_output=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise OSError(getattr(e, "errno", None) or errno.EIO, f"sync -f: {e}") from None
    if r.returncode != 0:
        raise OSError(errno.EIO, f"sync -f: {r.stderr.decode(errors='replace').strip()}")


class InodeLock:
    """An exclusive flock on locks/NAME that survives the file being
    removed by prune: after locking, the fd must still be the file at that
    name, else it locks again."""

    def __init__(self, dir_fd, name):
        self.dir_fd, self.name, self.fd = dir_fd, name, -1

    def __enter__(self):
        import fcntl
        while True:
            fd = os.open(self.name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=self.dir_fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                st = os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
                if st.st_ino == os.fstat(fd).st_ino:
                    self.fd = fd
                    return self
            except FileNotFoundError:
                pass
            os.close(fd)

    def __exit__(self, *exc):
        os.close(self.fd)
        self.fd = -1


class Store:
    """An open image root. Use as a context manager (closes its fds)."""

    def __init__(self, root=None):
        from launcher.images import default_root
        self.path, self.fd = trusted_dir(root or default_root(), "image root")
        self.dirs = {}
        try:
            for sub in SUBDIRS:
                try:
                    os.mkdir(sub, 0o700, dir_fd=self.fd)
                except FileExistsError:
                    pass
                self.dirs[sub] = fs.open_dir(sub, self.fd)
        except OSError as e:
            self.close()
            raise LauncherError(f"image root {self.path!r}: {sub}: {e.strerror}") from None

    def close(self):
        for fd in self.dirs.values():
            os.close(fd)
        self.dirs = {}
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- locks -------------------------------------------------------------
    def locked(self):
        """The store lock (records, tags, holds, leases, deletions)."""
        return FileLock(os.path.join(self.path, ".lock"))

    def layer_lock(self, hexd):
        return InodeLock(self.dirs["locks"], f"layer-{hexd}")

    # -- layers and blobs --------------------------------------------------
    def layer_path(self, hexd):
        return os.path.join(self.path, "layers", hexd)

    def has_layer(self, hexd):
        try:
            os.close(fs.open_dir(hexd, self.dirs["layers"]))
            return True
        except OSError:
            return False

    def layer_ids(self):
        return [n for n in os.listdir(self.dirs["layers"]) if _HEX64.match(n)]

    def commit_layer(self, work_fd, name, hexd):
        """Renames a finished layer into layers/HEX (after syncing it).
        False if one is already there (ours is then dropped)."""
        syncfs(work_fd)
        try:
            os.rename(name, hexd, src_dir_fd=work_fd, dst_dir_fd=self.dirs["layers"])
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            fs.remove_tree(work_fd, name)
            return False
        fs.fsync_dir(self.dirs["layers"])
        return True

    def has_blob(self, hexd):
        return fs.exists(self.dirs["blobs/sha256"], hexd)

    def blob_ids(self):
        return [n for n in os.listdir(self.dirs["blobs/sha256"]) if _HEX64.match(n)]

    def add_blob(self, src_fd, name, hexd):
        """Moves a verified blob into blobs/sha256/HEX (kept if present)."""
        fd = os.open(name, fs.O_READ, dir_fd=src_fd)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if self.has_blob(hexd):
            return
        os.rename(name, hexd, src_dir_fd=src_fd, dst_dir_fd=self.dirs["blobs/sha256"])
        fs.fsync_dir(self.dirs["blobs/sha256"])

    def blob(self, hexd, limit=RECORD_LIMIT):
        return fs.read(self.dirs["blobs/sha256"], hexd, limit)

    # -- records and tags --------------------------------------------------
    def _json(self, dir_fd, name, what):
        try:
            doc = json.loads(fs.read(dir_fd, name, RECORD_LIMIT))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise LauncherError(f"image store {self.path!r}: {what} is unreadable: {e}") from None
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            raise LauncherError(f"image store {self.path!r}: {what} has an unknown schema")
        return doc

    def record(self, image_id):
        if not _HEX64.match(image_id):
            return None
        return self._json(self.dirs["images"], f"{image_id}.json", f"record {image_id[:12]}")

    def records(self):
        out = {}
        for name in os.listdir(self.dirs["images"]):
            if name.endswith(".json") and _HEX64.match(name[:-5]):
                rec = self.record(name[:-5])
                if rec is not None:
                    out[name[:-5]] = rec
        return out

    def write_record(self, rec):
        rec = dict(rec, schema=SCHEMA)
        fs.write_atomic(self.dirs["images"], f"{rec['id']}.json",
                        json.dumps(rec, indent=1, sort_keys=True) + "\n")

    def delete_record(self, image_id):
        try:
            os.unlink(f"{image_id}.json", dir_fd=self.dirs["images"])
        except FileNotFoundError:
            pass

    def tags(self):
        """{name:tag: image id}."""
        doc = self._json(self.fd, "tags.json", "the tag index")
        return dict(doc["tags"]) if doc else {}

    def write_tags(self, tags):
        fs.write_atomic(self.fd, "tags.json",
                        json.dumps({"schema": SCHEMA, "tags": tags}, indent=1, sort_keys=True)
                        + "\n")

    def names(self, image_id, tags=None):
        tags = self.tags() if tags is None else tags
        return sorted(n for n, i in tags.items() if i == image_id)

    # -- holds -------------------------------------------------------------
    @staticmethod
    def _check_pod(pod_id):
        if not isinstance(pod_id, str) or not _POD_ID.match(pod_id):
            raise LauncherError(f"invalid pod id {pod_id!r}")

    def hold(self, image_id, pod_id):
        """Marks image_id in use by pod_id (call under locked())."""
        self._check_pod(pod_id)
        if self.record(image_id) is None:
            raise LauncherError(f"image {image_id[:12]!r} is not in the store")
        try:
            os.mkdir(pod_id, 0o700, dir_fd=self.dirs["holds"])
        except FileExistsError:
            pass
        fd = fs.open_dir(pod_id, self.dirs["holds"])
        try:
            if not fs.exists(fd, image_id):
                fs.write_new(fd, image_id)
                fs.fsync_dir(fd)
        finally:
            os.close(fd)

    def release(self, pod_id):
        """Drops every hold of pod_id (call under locked())."""
        self._check_pod(pod_id)
        fs.remove_tree(self.dirs["holds"], pod_id)

    def holds(self):
        """{pod id: [image ids]}."""
        out = {}
        for pod in os.listdir(self.dirs["holds"]):
            try:
                fd = fs.open_dir(pod, self.dirs["holds"])
            except OSError:
                continue
            try:
                out[pod] = [n for n in os.listdir(fd) if _HEX64.match(n)]
            finally:
                os.close(fd)
        return out

    def live_holders(self, image_id, is_live):
        """Pods holding image_id that is_live(pod) says exist; the holds of
        the others are dropped (call under locked())."""
        live = []
        for pod, ids in self.holds().items():
            if image_id in ids:
                if is_live(pod):
                    live.append(pod)
                else:
                    fs.remove_tree(self.dirs["holds"], pod)
        return sorted(live)

    # -- work dirs and leases ----------------------------------------------
    def new_work(self):
        """(name, fd) of a fresh tmp/ dir owned by this process."""
        start = proc.starttime(os.getpid())
        name = f"{os.getpid()}-{start}-{os.urandom(6).hex()}"
        return name, fs.make_dir(name, self.dirs["tmp"])

    def drop_work(self, name):
        fs.remove_tree(self.dirs["tmp"], name)

    def lease(self, work_fd, hexds):
        """Records in the work dir the layers its pull uses (under locked()).
        Not synced: a lease matters only while its process lives."""
        self.write_unsynced(work_fd, "lease", json.dumps(sorted(hexds)).encode())

    @staticmethod
    def write_unsynced(dir_fd, name, data):
        """A new file in a work dir, not fsynced (add_blob syncs what it keeps)."""
        fd = os.open(name, fs.O_NEW, 0o600, dir_fd=dir_fd)
        try:
            fs.write_all(fd, data)
        finally:
            os.close(fd)

    def unlease(self, work_fd):
        try:
            os.unlink("lease", dir_fd=work_fd)
        except FileNotFoundError:
            pass

    def _work_dirs(self):
        """(name, alive) of every tmp/ entry."""
        out = []
        for name in os.listdir(self.dirs["tmp"]):
            m = _WORK.match(name)
            alive = bool(m) and proc.alive(int(m.group(1)), int(m.group(2)))
            out.append((name, alive))
        return out

    def leased_layers(self):
        """Layers named by the leases of live pulls."""
        held = set()
        for name, alive in self._work_dirs():
            if not alive:
                continue
            try:
                fd = fs.open_dir(name, self.dirs["tmp"])
            except OSError:
                continue
            try:
                held.update(json.loads(fs.read(fd, "lease", RECORD_LIMIT)))
            except (OSError, ValueError):
                pass
            finally:
                os.close(fd)
        return held

    def clean_tmp(self):
        """Removes the work dirs of dead processes; returns their names."""
        gone = []
        for name, alive in self._work_dirs():
            if not alive:
                try:
                    fs.remove_tree(self.dirs["tmp"], name)
                except OSError:
                    continue   # another pull is removing it at the same time
                gone.append(name)
        return gone
