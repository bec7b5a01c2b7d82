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
anything is made.
"""
import ipaddress
import os
import stat

from launcher.errors import LauncherError
from launcher.runtime import mounts, rootfs, syscalls
from launcher.spec import check_name, quote
from launcher.store import fs

SHM_SIZE = 64 << 20                   # Docker's and the kubelet's default /dev/shm
SHM = "shm"
HOSTS, HOSTNAME, RESOLV_CONF = "hosts", "hostname", "resolv.conf"
ETC_NAMES = {"/etc/hosts": HOSTS, "/etc/hostname": HOSTNAME, "/etc/resolv.conf": RESOLV_CONF}
VOLUMES, CONTAINERS = "volumes", "containers"
UPPER, WORK, MERGED = "upper", "work", "merged"
HOST_RESOLV_CONF = "/etc/resolv.conf"
SYSTEMD_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"   # the real servers behind 127.0.0.53
RESOLV_LIMIT = 64 << 10
MAX_NAMESERVERS = 3                   # the kubelet's (and glibc's) limits
MAX_SEARCH = 32
MAX_SEARCH_CHARS = 2048
NO_IP_ADDRESS = "127.0.1.1"           # the pod's name without a pod IP (Debian's convention)

EMPTY_DIR, HOST_PATH = "emptyDir", "hostPath"
VOLUME_KINDS = (EMPTY_DIR, HOST_PATH)
MEMORY = "Memory"
MEDIUMS = ("", MEMORY)
HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
                   "CharDevice", "BlockDevice")
_TYPE_TESTS = {"Directory": (stat.S_ISDIR, "a directory"), "File": (stat.S_ISREG, "a file"),
               "Socket": (stat.S_ISSOCK, "a socket"),
               "CharDevice": (stat.S_ISCHR, "a character device"),
               "BlockDevice": (stat.S_ISBLK, "a block device"),
               "DirectoryOrCreate": (stat.S_ISDIR, "a directory"),
               "FileOrCreate": (stat.S_ISREG, "a file")}
# Volume sources of the Kubernetes API we know of but do not implement.
_KNOWN_KINDS = ("awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder",
                "configMap", "csi", "downwardAPI", "ephemeral", "fc", "flexVolume", "flocker",
                "gcePersistentDisk", "gitRepo", "glusterfs", "image", "iscsi", "nfs",
                "persistentVolumeClaim", "photonPersistentDisk", "portworxVolume", "projected",
                "quobyte", "rbd", "scaleIO", "secret", "storageos", "vsphereVolume")
_MOUNT_FIELDS = ("name", "mountPath", "readOnly", "subPath", "mountPropagation",
                 "recursiveReadOnly")


# -- validation, before anything is made --------------------------------------

class Volume:
    """A pod volume: name, kind (EMPTY_DIR, HOST_PATH), medium and size_limit
    (emptyDir), path and type (hostPath), field (its path in the manifest)."""
    __slots__ = ("name", "kind", "medium", "size_limit", "path", "type", "field")

    def __init__(self, name, kind, *, medium="", size_limit=None, path=None, type="", field=""):
        self.name, self.kind, self.medium, self.size_limit = name, kind, medium, size_limit
        self.path, self.type, self.field = path, type, field or f"volume {name!r}"

    def to_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_dict(cls, d):
        return cls(d["name"], d["kind"], medium=d.get("medium", ""),
                   size_limit=d.get("size_limit"), path=d.get("path"), type=d.get("type", ""),
                   field=d.get("field", ""))


class VolumeMount:
    """A container's volumeMount: volume name, mount_path, read_only, sub_path."""
    __slots__ = ("name", "mount_path", "read_only", "sub_path", "field")

    def __init__(self, name, mount_path, read_only=False, sub_path="", field=""):
        self.name, self.mount_path, self.read_only = name, mount_path, bool(read_only)
        self.sub_path, self.field = sub_path or "", field or f"volumeMount {mount_path!r}"

    def to_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_dict(cls, d):
        return cls(d["name"], d["mount_path"], d.get("read_only", False), d.get("sub_path", ""),
                   d.get("field", ""))


def _object(value, field):
    if not isinstance(value, dict):
        raise LauncherError(f"{field}: must be an object")
    return value


def _no_unknown(d, allowed, field):
    for k in d:
        if k not in allowed:
            raise LauncherError(f"{field}.{k}: unknown field")


def _string(d, key, field, default=""):
    v = d.get(key, default)
    if v is None:
        return default
    if not isinstance(v, str):
        raise LauncherError(f"{field}.{key}: must be a string")
    return v


def _host_path_text(path, field):
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise LauncherError(f"{field}: {quote(path)} must be an absolute path")
    if ".." in path.split("/"):
        raise LauncherError(f"{field}: {quote(path)} must not contain '..'")
    return path


def parse_volumes(items, field="spec.volumes"):
    """[Volume] from a Pod's `volumes` (a list of Kubernetes Volume objects);
    one LauncherError naming the field path for anything wrong or
    unsupported."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise LauncherError(f"{field}: must be a list")
    from launcher.cgroups.quantity import parse_memory
    out, seen = [], set()
    for i, item in enumerate(items):
        f = f"{field}[{i}]"
        item = _object(item, f)
        name = item.get("name")
        try:
            check_name("volume", name)
        except LauncherError as e:
            raise LauncherError(f"{f}.name: {e}") from None
        if name in seen:
            raise LauncherError(f"{f}.name: duplicate volume name {quote(name)}")
        seen.add(name)
        kinds = [k for k in item if k != "name"]
        for k in kinds:
            if k not in VOLUME_KINDS:
                why = "is not supported" if k in _KNOWN_KINDS else "is not a volume kind"
                raise LauncherError(f"{f}.{k}: volume {quote(name)}: {k} {why} "
                                    f"(supported: {', '.join(VOLUME_KINDS)})")
        if len(kinds) > 1:
            raise LauncherError(f"{f}: volume {quote(name)} has more than one kind "
                                f"({', '.join(kinds)})")
        kind = kinds[0] if kinds else EMPTY_DIR     # the API's default
        body = item.get(kind) or {}
        bf = f"{f}.{kind}"
        _object(body, bf)
        if kind == EMPTY_DIR:
            _no_unknown(body, ("medium", "sizeLimit"), bf)
            medium = _string(body, "medium", bf)
            if medium not in MEDIUMS:
                raise LauncherError(f"{bf}.medium: {quote(medium)} is not supported "
                                    f"(\"\" or {MEMORY})")
            limit = body.get("sizeLimit")
            size = None if limit is None else parse_memory(
                limit if isinstance(limit, str) else str(limit), f"{bf}.sizeLimit")
            out.append(Volume(name, kind, medium=medium, size_limit=size, field=f))
        else:
            _no_unknown(body, ("path", "type"), bf)
            path = _host_path_text(body.get("path"), f"{bf}.path")
            typ = _string(body, "type", bf)
            if typ not in HOST_PATH_TYPES:
                raise LauncherError(f"{bf}.type: {quote(typ)} is not one of "
                                    f"{', '.join(t for t in HOST_PATH_TYPES if t)}")
            out.append(Volume(name, kind, path=path, type=typ, field=f))
    return out


def parse_volume_mounts(items, volumes, field):
    """[VolumeMount] from a container's `volumeMounts`, each naming one of
    `volumes` ([Volume]); mountPath absolute and unique, subPath relative,
    no '..' in either."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise LauncherError(f"{field}: must be a list")
    names = {v.name for v in volumes}
    out, paths = [], set()
    for i, item in enumerate(items):
        f = f"{field}[{i}]"
        item = _object(item, f)
        _no_unknown(item, _MOUNT_FIELDS, f)
        name = item.get("name")
        if name not in names:
            raise LauncherError(f"{f}.name: no volume named {quote(name)} in the pod")
        path = item.get("mountPath")
        rootfs.container_path(path, f"{f}.mountPath")
        if path.rstrip("/") in paths:
            raise LauncherError(f"{f}.mountPath: {quote(path)} is mounted twice")
        paths.add(path.rstrip("/"))
        ro = item.get("readOnly", False)
        if not isinstance(ro, bool):
            raise LauncherError(f"{f}.readOnly: must be true or false")
        sub = _string(item, "subPath", f)
        if sub:
            rootfs.relative_path(sub, f"{f}.subPath")
        prop = _string(item, "mountPropagation", f)
        if prop not in ("", "None"):
            raise LauncherError(f"{f}.mountPropagation: {quote(prop)} is not supported "
                                "(only None: every container mount is private)")
        rro = _string(item, "recursiveReadOnly", f)
        if rro not in ("", "Disabled"):
            raise LauncherError(f"{f}.recursiveReadOnly: {quote(rro)} is not supported")
        out.append(VolumeMount(name, path, ro, sub, f))
    return out


# -- the pod's files --------------------------------------------------------

def hosts_file(hostname, ip=None, aliases=()):
    """/etc/hosts as the kubelet writes it (ensureHostsFile): localhost
    entries, the pod's IP and name, then hostAliases [(ip, [names])]. A pod
    without an IP (no network) gets its name on 127.0.1.1."""
    lines = ["# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
             "fe00::0\tip6-mcastprefix", "fe00::1\tip6-allnodes", "fe00::2\tip6-allrouters",
             f"{ip or NO_IP_ADDRESS}\t{hostname}"]
    if aliases:
        lines.append("# Entries added by HostAliases.")
        lines += [f"{a}\t" + "\t".join(names) for a, names in aliases]
    return "\n".join(lines) + "\n"


def _read_host_file(path):
    try:
        with open(path, "rb") as f:
            return f.read(RESOLV_LIMIT).decode(errors="replace")
    except OSError:
        return ""


def _parse_resolv(text):
    servers, search, options = [], [], []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1:
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            search = words[1:]
        elif words[0] == "options":
            options += words[1:]
    return servers, search, options


def _loopback(server):
    try:
        return ipaddress.ip_address(server.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def resolv_conf(source=None):
    """The pod's resolv.conf. dnsPolicy ClusterFirst with no cluster DNS
    falls back to Default, the node's resolver configuration (what the
    kubelet does, with an event): the host's /etc/resolv.conf, or, when
    every server there is a loopback stub (systemd-resolved's 127.0.0.53,
    unreachable from the pod's network namespace), the servers behind it
    (kubeadm points the kubelet there the same way). At most 3 servers and
    32 search domains, as the kubelet keeps."""
    text = _read_host_file(source or HOST_RESOLV_CONF)
    servers, search, options = _parse_resolv(text)
    if source is None and servers and all(_loopback(s) for s in servers):
        alt = _parse_resolv(_read_host_file(SYSTEMD_RESOLV_CONF))
        if alt[0]:
            servers, search, options = alt
    search = search[:MAX_SEARCH]
    while search and len(" ".join(search)) > MAX_SEARCH_CHARS:
        search.pop()
    lines = [f"nameserver {s}" for s in servers[:MAX_NAMESERVERS]]
    if search:
        lines.append("search " + " ".join(search))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n" if lines else ""


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


def check_host_path(path, typ, field):
    """Kubernetes' hostPath type checks; returns the path. "" checks
    nothing (a missing path becomes a directory, as containerd and Docker
    make it); DirectoryOrCreate makes missing directories (0755);
    FileOrCreate makes an empty 0644 file, but not its parent."""
    _host_path_text(path, f"{field}.path")
    if typ not in HOST_PATH_TYPES:
        raise LauncherError(f"{field}.type: {quote(typ)} is not a hostPath type")
    label = f"{field}: hostPath {path!r}" + (f" (type {typ})" if typ else "")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise LauncherError(f"{label}: {e.strerror}") from None
    if st is None:
        try:
            if typ in ("", "DirectoryOrCreate"):
                os.makedirs(path, 0o755, exist_ok=True)
                return path
            if typ == "FileOrCreate":
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
                os.fchmod(fd, 0o644)
                os.close(fd)
                return path
        except FileExistsError:
            return check_host_path(path, typ, field)   # made meanwhile: check it
        except OSError as e:
            raise LauncherError(f"{label}: cannot create it: {e.strerror}") from None
        raise LauncherError(f"{label}: hostPath type check failed: {path} does not exist")
    if typ:
        test, noun = _TYPE_TESTS[typ]
        if not test(st.st_mode):
            raise LauncherError(f"{label}: hostPath type check failed: {path} is not {noun}")
    return path


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
