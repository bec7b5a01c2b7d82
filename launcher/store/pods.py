"""The pod store: one directory per pod under a trusted state root.

A pod directory is made as `.tmp-ID` with its record and renamed into
place under the root's lock, so it appears whole or not at all; it is
removed by the reverse rename, so a remover killed half-way leaves a
`.tmp-` entry, never a pod without its record. Names are claimed by
symlinks `.names/NAME -> ID` under the lock, so `run` never reads other
pods' records. Every file is reached through the root's or the pod
directory's fd without following symlinks (launcher/store/fs.py); a
record that cannot be read is reported as corrupt and never stops the
listing, `gc` or `rm` of the other pods.

Writes are atomic (temp file, rename) but not fsynced, as runc writes its
state.json: this is runtime state, under /run by default, which the boot
empties (it is a tmpfs on most hosts). What a record describes (processes,
namespaces, mounts, cgroups) does not outlive a power loss either, and a
record that one tore on a disk-backed /run shows as a `corrupt` pod that
`rm -f` removes. Each fsync cost 0.5-1.5 ms on an ext4 /run, where a pod's
foreground `run --share-pid -- true` made ten. The network records that hold an IP
(launcher/net/store.py) stay fsynced: host-local's allocations outlive a
reboot.
"""
import errno
import os
import time

from launcher.errors import LauncherError
from launcher.flock import FileLock
from launcher.store import fs, layout, record, root


SYNC = False   # runtime state: atomic, not fsynced (see above)


def _nospace(e, what):
    """A LauncherError for a failed state write, naming a full disk plainly."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return LauncherError(f"{what}: no space left on the state directory's filesystem")
    return LauncherError(f"{what}: {e.strerror or e}")


def new_id():
    """A random 64-bit pod id in hex (ps shows 12 characters, like podman)."""
    return os.urandom(8).hex()


class PodDir:
    """One pod's directory, open by fd. `record` is its last loaded or saved
    record (None if it is corrupt: then `error` says why)."""

    def __init__(self, store, pod_id, fd, rec=None, error=None):
        self.store, self.id, self.fd = store, pod_id, fd
        self.path = os.path.join(store.path, pod_id)
        self.record, self.error = rec, error

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    # -- the record ---------------------------------------------------------

    def load(self):
        """Reads the record again; BadRecord if it is unusable."""
        where = f"pod {self.id}"
        try:
            raw = fs.read(self.fd, layout.RECORD, limit=64 << 20)
        except OSError as e:
            raise record.BadRecord(f"{where}: cannot read its record: {e.strerror or e}") from None
        self.record = record.decode(record.POD, raw, where)
        return self.record

    def save(self, rec=None):
        """Writes the record atomically under the root's lock."""
        if rec is not None:
            self.record = rec
        data = record.encode(record.POD, _without_meta(self.record))
        with self.store.lock():
            try:
                fs.write_atomic(self.fd, layout.RECORD, data, sync=SYNC)
            except OSError as e:
                raise _nospace(e, f"pod {self.record.get('name')!r}: saving its record") from None

    # -- the files the supervisor writes as things happen ---------------------

    def write(self, name, data):
        """Replaces file `name` atomically (an exit file, supervisor.json)."""
        try:
            fs.write_atomic(self.fd, name, data, sync=SYNC)
        except OSError as e:
            raise _nospace(e, f"pod {self.id}: writing {name}") from None

    def read(self, name, limit=16 << 20):
        """The bytes of file `name`, or None if it is missing."""
        try:
            return fs.read(self.fd, name, limit)
        except FileNotFoundError:
            return None

    def exists(self, name):
        return fs.exists(self.fd, name)

    def remove_file(self, name):
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass

    def open_append(self, name):
        return fs.open_append(self.fd, name)

    def mtime(self, name):
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mtime
        except FileNotFoundError:
            return None


def _without_meta(rec):
    return {k: v for k, v in rec.items() if k not in ("version", "kind")}


class Store:
    """The state root, opened and checked once (launcher/store/root.py)."""

    def __init__(self, path=None):
        self.path, self.fd = root.trusted_dir(path or root.default_state_dir())
        self._ids = None

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def lock(self):
        """The flock on the root's .lock: around name claims and record writes."""
        return FileLock(layout.ROOT_LOCK, dir_fd=self.fd)

    def mounts(self):
        """(path, fd) of the mount directory (layout.MOUNTS), made a mount
        point of its own (bound on itself, private) the first time, as `ip
        netns` makes /run/netns one: a container detaches every pin and pod
        tmpfs in it with one umount. It stays mounted (Launcher test
        harnesses unmount their state roots' one)."""
        from launcher.runtime import syscalls
        path, fd = self.subdir(layout.MOUNTS)
        if not syscalls.is_mount_root(path):
            with self.lock():
                if not syscalls.is_mount_root(path):
                    syscalls.mount(path, path, None, syscalls.MS_BIND)
                    syscalls.mount(None, path, None, syscalls.MS_PRIVATE)
            os.close(fd)
            fd = fs.open_dir(layout.MOUNTS, self.fd)   # the fd of the mount, not what it covers
        return path, fd

    def subdir(self, name):
        """(path, fd) of a directory of the root (made if missing), e.g. .cni;
        never through a symlink."""
        try:
            try:
                fd = fs.open_dir(name, self.fd)
            except FileNotFoundError:
                try:
                    fd = fs.make_dir(name, self.fd)
                except FileExistsError:
                    fd = fs.open_dir(name, self.fd)
        except OSError as e:
            raise LauncherError(f"state directory {self.path!r}: {name} is not a directory "
                                f"({e.strerror}): remove it") from None
        return os.path.join(self.path, name), fd

    # -- making and removing pods ---------------------------------------------

    def create(self, name, rec_of):
        """Claims `name` (None: pod-XXXXXXXX) and makes the pod's directory
        with the record rec_of(pod_id, name) in it; returns its PodDir."""
        with self.lock():
            pod_id = new_id()
            name = name or f"pod-{pod_id[:8]}"
            if not self._claim(name, pod_id):
                raise LauncherError(f"pod name {name!r} is already in use (launcher rm it first)")
            tmp = layout.TMP_PREFIX + pod_id
            fd = None
            try:
                fd = fs.make_dir(tmp, self.fd)
                rec = rec_of(pod_id, name)
                fs.write_new(fd, layout.RECORD, record.encode(record.POD, rec), sync=SYNC)
                os.rename(tmp, pod_id, src_dir_fd=self.fd, dst_dir_fd=self.fd)
            except BaseException as e:
                if fd is not None:
                    os.close(fd)
                fs.remove_tree(self.fd, tmp)
                self._release(name, pod_id)
                if isinstance(e, OSError):
                    raise _nospace(e, f"creating pod {name!r}") from None
                raise
        return PodDir(self, pod_id, fd, rec)

    def remove(self, pod):
        """Deletes a pod's directory (call with the lock held) and its name
        claim. Mounts left in it are detached first."""
        from launcher.runtime import mounts
        pod.close()
        name = (pod.record or {}).get("name")
        tmp = layout.TMP_PREFIX + pod.id
        try:
            os.rename(pod.id, tmp, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except FileNotFoundError:
            return
        try:
            fs.remove_tree(self.fd, tmp)
        except OSError:   # EBUSY: something is mounted in it after all (it is looked up only then)
            mounts.detach_under(os.path.join(self.path, tmp))
            fs.remove_tree(self.fd, tmp)
        if name:
            self._release(name, pod.id)
        else:   # a corrupt record: find its claim the slow way
            self._release_claims_of(pod.id)

    def drop_stale(self, full=True):
        """Housekeeping (call with the lock held): finishes what a launcher
        killed half-way left: `.tmp-ID` entries, and (full) name claims
        whose pod directory is gone and the mounts of pods that are gone.
        A planted `.tmp-` symlink is only unlinked. `ps`, `rm` and the
        housekeeping of `run` call it; create() does not: its listdir of the
        root took 2 ms of each `run -d` at 5,000 pods, and nothing a create
        does depends on it (a stale claim is taken over when its name is
        claimed again, a new id is random). Whether a pod is there is read
        from the one listdir of the root (no stat per pod)."""
        from launcher.runtime import mounts
        entries = os.listdir(self.fd)
        for n in entries:
            if n.startswith(layout.TMP_PREFIX):
                mounts.detach_under(os.path.join(self.path, n))
                fs.remove_tree(self.fd, n)
        if not full:
            return
        present = {n for n in entries if layout.is_pod_id(n)}
        if self._claim_count() > len(present):
            # Some claim has no pod. Every pod directory has its claim
            # (create claims before it makes the directory, remove deletes
            # the directory before the claim), so with no more claims than
            # pods none dangles, and the readlink of each (1,000 of them,
            # ~20 ms of `ps` at 1,000 pods) is needed only here.
            for name, pod_id in self._claims():
                if pod_id not in present:
                    self._release(name, pod_id)
        if layout.MOUNTS in entries:
            self._drop_stale_mounts(present)

    def _drop_stale_mounts(self, present):
        """Pins and pod tmpfs of pods that are gone (a remover killed half-way)."""
        from launcher.runtime import mounts
        try:
            fd = fs.open_dir(layout.MOUNTS, self.fd)
        except OSError:
            return
        try:
            for n in os.listdir(fd):
                owner = layout.mounts_owner(n)
                if owner is None or owner in present:
                    continue
                path = os.path.join(self.path, layout.MOUNTS, n)
                mounts.detach_under(path)
                fs.remove_tree(fd, n)
        finally:
            os.close(fd)

    # -- finding pods -----------------------------------------------------------

    def exists(self, pod_id):
        """Whether pod_id has a pod directory."""
        return self._is_pod(pod_id)

    def tmp_ids(self):
        """The ids of pods being made or removed right now (`.tmp-ID`)."""
        n = len(layout.TMP_PREFIX)
        return {e[n:] for e in os.listdir(self.fd) if e.startswith(layout.TMP_PREFIX)}

    def ids(self):
        """The ids of every pod directory, sorted."""
        return [n for n in self._named_like_pods() if self._is_pod(n)]

    def _named_like_pods(self):
        """The root's entries named like a pod id, sorted (not checked to be
        directories)."""
        return sorted(n for n in os.listdir(self.fd) if layout.is_pod_id(n))

    def open(self, pod_id):
        """The PodDir of pod_id with its record loaded (or its error), or
        None if the directory is gone."""
        try:
            fd = fs.open_dir(pod_id, self.fd)
        except (FileNotFoundError, NotADirectoryError, OSError):
            return None
        pod = PodDir(self, pod_id, fd)
        try:
            pod.load()
        except record.BadRecord as e:
            pod.error = e
        return pod

    def pods(self):
        """A PodDir for every pod (corrupt ones included, with .error). An
        entry that is not a directory is skipped by open() itself (it opens
        with O_DIRECTORY | O_NOFOLLOW), so unlike ids() this takes no stat
        per pod: 1,000 system calls less for `ps` at 1,000 pods."""
        out = []
        for pod_id in self._named_like_pods():
            pod = self.open(pod_id)
            if pod is not None:
                out.append(pod)
        return out

    def resolve(self, ref):
        """The PodDir of a pod given by full id, then by name, then by
        unique id prefix: podman's and docker's order, so a pod named `b0`
        stays `b0` whatever ids later pods draw."""
        if not isinstance(ref, str) or not ref or "/" in ref or ref.startswith("."):
            raise LauncherError(f"no such pod: {ref!r}")
        if layout.is_pod_id(ref) and self._is_pod(ref):
            return self._open_or_gone(ref, ref)
        named = self._claim_of(ref)
        if named is not None and self._is_pod(named):
            return self._open_or_gone(named, ref)
        hits = [i for i in self._all_ids() if i.startswith(ref)] if _hex(ref) else []
        if len(hits) > 1:
            raise LauncherError(f"pod id prefix {ref!r} is ambiguous: "
                                f"{len(hits)} pods' ids start with it")
        if not hits:
            raise LauncherError(f"no such pod: {ref!r}")
        return self._open_or_gone(hits[0], ref)

    def _open_or_gone(self, pod_id, ref):
        pod = self.open(pod_id)
        if pod is None:
            raise LauncherError(f"no such pod: {ref!r}")
        return pod

    def _all_ids(self):
        """ids(), listed once per Store (a command resolving many pods)."""
        if self._ids is None:
            self._ids = self.ids()
        return self._ids

    # -- name claims ----------------------------------------------------------

    def _names_fd(self):
        return self.subdir(layout.NAMES)[1]

    def _claims(self):
        fd = self._names_fd()
        try:
            out = []
            for n in os.listdir(fd):
                try:
                    out.append((n, os.readlink(n, dir_fd=fd)))
                except OSError:
                    os.unlink(n, dir_fd=fd)   # not a symlink: not ours
            return out
        finally:
            os.close(fd)

    def _claim_count(self):
        fd = self._names_fd()
        try:
            return len(os.listdir(fd))
        finally:
            os.close(fd)

    def _claim_of(self, name):
        fd = self._names_fd()
        try:
            return os.readlink(name, dir_fd=fd)
        except OSError:
            return None
        finally:
            os.close(fd)

    def _claim(self, name, pod_id):
        """Claims name for pod_id (lock held); a stale claim is taken over."""
        fd = self._names_fd()
        try:
            try:
                owner = os.readlink(name, dir_fd=fd)
            except FileNotFoundError:
                owner = None
            if owner is not None:
                if self._is_pod(owner):
                    return False
                os.unlink(name, dir_fd=fd)
            os.symlink(pod_id, name, dir_fd=fd)
            return True
        finally:
            os.close(fd)

    def _release(self, name, pod_id):
        fd = self._names_fd()
        try:
            if os.readlink(name, dir_fd=fd) == pod_id:
                os.unlink(name, dir_fd=fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def _release_claims_of(self, pod_id):
        for name, owner in self._claims():
            if owner == pod_id:
                self._release(name, pod_id)

    def _is_pod(self, pod_id):
        if not layout.is_pod_id(pod_id):
            return False
        try:
            st = os.stat(pod_id, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return (st.st_mode & 0o170000) == 0o040000


def _hex(s):
    return all(c in "0123456789abcdef" for c in s)


def now():
    """Wall-clock time for records."""
    return time.time()
