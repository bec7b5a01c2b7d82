"""The parent's side of a pod's filesystems: what is made once per pod,
what is made fresh for each container start, and their removal.

Per pod, once (PodFS.create, make_volumes):
    RUN/shm/            a tmpfs (64 MiB, Docker's default; mode 1777,
                        nosuid, nodev, noexec) bound on every container's
                        /dev/shm, as CRI-O does
    RUN/hosts, RUN/hostname, RUN/resolv.conf
                        written once, as the kubelet writes them, bound
                        read-only on every container's /etc/...
    STORAGE/volumes/NAME/   an emptyDir (0777, as the kubelet makes it);
                        medium Memory: a tmpfs mounted there
Per container start (prepare_container, rootfs_plan):
    STORAGE/containers/NAME/{upper,work,merged}   removed and made again,
                        so a restart gets a fresh upper (Kubernetes' rule);
                        upper and work on one filesystem, as overlayfs needs

RUN is a directory podfs owns entirely (e.g. ROOT/POD_ID/rootfs: small
files and a mount point; /run is often a tmpfs), STORAGE one on disk (e.g.
IMAGE_ROOT/containers/POD_ID: the uppers and emptyDirs can be big). The
overlay itself is mounted by the child in its own mount namespace, so the
host never sees it; only the shm and Memory tmpfs are host mounts.
cleanup_container() and cleanup_pod() detach those (deepest first,
lazily) and remove every directory without following a symlink; both are
idempotent and need only the two paths (a record keeps them).

Volumes follow Kubernetes: emptyDir (medium "" or Memory, sizeLimit for a
Memory one), hostPath with its `type` checks; a volume with no source is an
emptyDir (the API's default); any other kind is one error naming the field
path. Everything is validated (parse_volumes, parse_volume_mounts) before
anything is made: that and the hostPath checks are in
launcher/supervisor/volumes.py, the etc files' text in
launcher/supervisor/etcfiles.py (their names are re-exported here).
"""
import os
import stat

from launcher.errors import LauncherError
from launcher.runtime import mounts, rootfs, syscalls
from launcher.spec import check_name
from launcher.store import fs
from launcher.supervisor.etcfiles import hosts_file, resolv_conf
from launcher.supervisor.volumes import HOST_PATH, MEMORY, check_host_path
# Moved to launcher/supervisor/volumes.py; still imported from here.
from launcher.supervisor.volumes import EMPTY_DIR, Volume, VolumeMount  # noqa: F401
from launcher.supervisor.volumes import parse_volume_mounts, parse_volumes  # noqa: F401

SHM_SIZE = 64 << 20                   # Docker's and the kubelet's default /dev/shm
SHM = "shm"
HOSTS, HOSTNAME, RESOLV_CONF = "hosts", "hostname", "resolv.conf"
ETC_NAMES = {"/etc/hosts": HOSTS, "/etc/hostname": HOSTNAME, "/etc/resolv.conf": RESOLV_CONF}
VOLUMES, CONTAINERS = "volumes", "containers"
UPPER, WORK, MERGED = "upper", "work", "merged"


# -- the pod's files --------------------------------------------------------

def _write(dir_fd, name, text):
    """A small 0644 file, replaced if present, never through a symlink (no
    fsync: it is made again with the pod)."""
    fs.remove_tree(dir_fd, name)
    fd = os.open(name, fs.O_NEW, 0o644, dir_fd=dir_fd)
    try:
        os.fchmod(fd, 0o644)
        fs.write_all(fd, text.encode())
    finally:
        os.close(fd)


def _mkdir(name, dir_fd, mode):
    """An fd on directory `name` in dir_fd, made (with exactly `mode`) if missing."""
    try:
        os.mkdir(name, mode, dir_fd=dir_fd)
        os.chmod(name, mode, dir_fd=dir_fd)   # the umask took bits away
    except FileExistsError:
        pass
    return fs.open_dir(name, dir_fd)


def _open_base(path, what, create):
    """(canonical path, fd) of one of the pod's two base directories."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise LauncherError(f"{what} {path!r} is not an absolute path")
    parent, name = os.path.split(os.path.realpath(path).rstrip("/"))
    try:
        pfd = fs.open_dir(parent)
    except OSError as e:
        raise LauncherError(f"{what} {path!r}: {parent!r}: {e.strerror}") from None
    try:
        return os.path.join(parent, name), (_mkdir(name, pfd, 0o700) if create
                                            else fs.open_dir(name, pfd))
    except OSError as e:
        raise LauncherError(f"{what} {path!r}: {e.strerror}") from None
    finally:
        os.close(pfd)


def _is_mount_point(path):
    return path in mounts.points_under(path)


class PodFS:
    """One pod's filesystems (see the module doc). `run_dir` and
    `storage_dir` are directories podfs owns (made if missing, their
    parents must exist); `sources` maps each volume to its host path once
    make_volumes() ran. to_dict() is what a record keeps."""

    def __init__(self, run_dir, storage_dir, sources=None):
        self.run_dir, self.storage_dir = run_dir, storage_dir
        self.sources = dict(sources or {})

    def to_dict(self):
        return {"run_dir": self.run_dir, "storage_dir": self.storage_dir,
                "sources": dict(self.sources)}

    @classmethod
    def from_dict(cls, d):
        return cls(d["run_dir"], d["storage_dir"], d.get("sources"))

    @property
    def shm(self):
        return os.path.join(self.run_dir, SHM)

    def etc_files(self):
        """{container path: host path} of the pod's three files."""
        return {dest: os.path.join(self.run_dir, name) for dest, name in ETC_NAMES.items()}

    def create(self, hostname, ip=None, aliases=(), shm_size=SHM_SIZE, resolv_source=None):
        """Once per pod: the directories, the shm tmpfs, the three etc
        files. On failure what was made is removed again."""
        self.run_dir, run_fd = _open_base(self.run_dir, "pod run dir", True)
        try:
            self.storage_dir, sfd = _open_base(self.storage_dir, "pod storage dir", True)
            os.close(sfd)
            shm_fd = _mkdir(SHM, run_fd, 0o1777)
            try:
                if not _is_mount_point(self.shm):
                    syscalls.mount_fd("shm", shm_fd, "tmpfs", syscalls.MS_NOSUID |
                                      syscalls.MS_NODEV | syscalls.MS_NOEXEC,
                                      f"mode=1777,size={int(shm_size)}",
                                      f"mount the pod's shm tmpfs on {self.shm!r}")
            finally:
                os.close(shm_fd)
            _write(run_fd, HOSTS, hosts_file(hostname, ip, aliases))
            _write(run_fd, HOSTNAME, hostname + "\n")
            _write(run_fd, RESOLV_CONF, resolv_conf(resolv_source))
        except BaseException:
            os.close(run_fd)
            cleanup_pod(self.run_dir, self.storage_dir)
            raise
        os.close(run_fd)
        return self

    def make_volumes(self, volumes):
        """Makes each emptyDir (a Memory one is a tmpfs), checks each
        hostPath by its type (making it for the ...OrCreate types);
        records and returns {name: host path}."""
        sfd = fs.open_dir(self.storage_dir)
        try:
            vfd = _mkdir(VOLUMES, sfd, 0o700)
        finally:
            os.close(sfd)
        try:
            for v in volumes:
                if v.kind == HOST_PATH:
                    self.sources[v.name] = check_host_path(v.path, v.type,
                                                           f"{v.field}.hostPath")
                    continue
                path = os.path.join(self.storage_dir, VOLUMES, v.name)
                fd = _mkdir(v.name, vfd, 0o777)
                try:
                    if v.medium == MEMORY and not _is_mount_point(path):
                        size = f",size={v.size_limit}" if v.size_limit else ""
                        syscalls.mount_fd("tmpfs", fd, "tmpfs", syscalls.MS_NOSUID |
                                          syscalls.MS_NODEV, "mode=0777" + size,
                                          f"{v.field}: mount the Memory emptyDir {v.name!r}")
                finally:
                    os.close(fd)
                self.sources[v.name] = path
        finally:
            os.close(vfd)
        return dict(self.sources)

    def prepare_container(self, name, top_layer=None):
        """Fresh upper, work and merged dirs for a start of container
        `name` (the previous start's are removed first). The upper's root
        gets the mode and owner of the top layer's root, which the overlay's
        / then shows (else 0755 root). Returns (upper, work, merged)."""
        check_name("container", name)
        cleanup_container(self.storage_dir, name)
        sfd = fs.open_dir(self.storage_dir)
        try:
            cfd = _mkdir(CONTAINERS, sfd, 0o700)
        finally:
            os.close(sfd)
        try:
            nfd = fs.make_dir(name, cfd, 0o700)
        finally:
            os.close(cfd)
        try:
            mode, uid, gid = 0o755, 0, 0
            if top_layer:
                st = os.stat(top_layer)
                mode, uid, gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
            for sub, m in ((UPPER, mode), (WORK, 0o700), (MERGED, 0o755)):
                os.mkdir(sub, m, dir_fd=nfd)
                os.chmod(sub, m, dir_fd=nfd)
            os.chown(UPPER, uid, gid, dir_fd=nfd, follow_symlinks=False)
        finally:
            os.close(nfd)
        base = os.path.join(self.storage_dir, CONTAINERS, name)
        return tuple(os.path.join(base, sub) for sub in (UPPER, WORK, MERGED))

    def rootfs_plan(self, lowerdirs, name, volume_mounts=(), **options):
        """Makes container `name`'s fresh dirs and returns its RootfsPlan:
        lowerdirs topmost first (Image.layers reversed), the pod's shm and
        etc files, each VolumeMount onto its volume's source (make_volumes
        first); `options` are RootfsPlan's (read_only, hide, proc,
        propagation, masked, readonly_paths)."""
        lowerdirs = list(lowerdirs)
        upper, work, merged = self.prepare_container(name, lowerdirs[0] if lowerdirs else None)
        plan_mounts = []
        for vm in volume_mounts:
            if vm.name not in self.sources:
                raise LauncherError(f"{vm.field}.name: volume {vm.name!r} was not made")
            plan_mounts.append(rootfs.Mount(vm.mount_path, self.sources[vm.name],
                                            read_only=vm.read_only, sub_path=vm.sub_path,
                                            name=f"volume {vm.name!r}"))
        return rootfs.RootfsPlan(lowerdirs, upper, work, merged, shm=self.shm,
                                 etc=self.etc_files(), mounts=plan_mounts, **options)


# -- removal ------------------------------------------------------------------

def _remove_tree(path):
    """Removes path (a file or a whole tree), never following a symlink,
    after detaching every mount at or below it (deepest first, lazily).
    Missing is fine."""
    parent, name = os.path.split(path.rstrip("/"))
    try:
        pfd = fs.open_dir(os.path.realpath(parent))
    except FileNotFoundError:
        return
    try:
        real = os.path.join(os.path.realpath(parent), name)
        mounts.detach_under(real)
        fs.remove_tree(pfd, name)
    finally:
        os.close(pfd)


def cleanup_container(storage_dir, name):
    """Removes container `name`'s upper, work and merged dirs (after its
    process exited: the overlay lives in its mount namespace). Idempotent."""
    check_name("container", name)
    _remove_tree(os.path.join(storage_dir, CONTAINERS, name))


def cleanup_pod(run_dir, storage_dir):
    """Detaches the pod's shm and Memory emptyDir tmpfs and removes both of
    its directories (containers, emptyDirs, the etc files). Idempotent; a
    symlink planted anywhere is unlinked, never followed."""
    for path in (storage_dir, run_dir):
        _remove_tree(path)
