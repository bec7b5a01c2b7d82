"""A pod's volumes, validated before anything is made (the parent's side
of them: launcher/supervisor/podfs.py makes them).

Volumes follow Kubernetes: emptyDir (medium "" or Memory, sizeLimit for a
Memory one), hostPath with its `type` checks; a volume with no source is an
emptyDir (the API's default); any other kind is one error naming the field
path. parse_volumes and parse_volume_mounts check the manifest's fields;
check_host_path does a hostPath's type checks when the pod is made.
"""
import os
import stat

from launcher.errors import LauncherError
from launcher.runtime import rootfs
from launcher.spec import check_name, quote

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
