"""Volumes as Kubernetes defines them: an emptyDir is shared by the pod's
containers and removed with the pod (medium Memory: a tmpfs), a hostPath
is the host's directory or file, read-write or read-only, checked by its
`type`; volumeMounts with readOnly and subPath; anything unknown or
unsupported is one error naming the field path, before anything is made."""
import os
import socket
import stat

import pytest

from launcher.errors import LauncherError
from launcher.supervisor import podfs
from rootfs_helpers import mount_points, run


def test_empty_dir_is_shared_and_goes_with_the_pod(busybox, pods):
    """What one container writes in an emptyDir another reads; after
    cleanup_pod the directory is gone."""
    pod = pods(volumes=[{"name": "data", "emptyDir": {}}])
    mount = [{"name": "data", "mountPath": "/data"}]
    assert run(pods.plan(pod, busybox, "a", mount), "echo from-a > /data/f").code == 0
    r = run(pods.plan(pod, busybox, "b", mount), "cat /data/f; stat -c %a /data")
    assert (r.code, r.out) == (0, "from-a\n777\n"), r
    path = pod.sources["data"]
    assert path.startswith(pod.storage_dir + "/")
    podfs.cleanup_pod(pod.run_dir, pod.storage_dir)
    assert not os.path.lexists(path)


def test_memory_empty_dir_is_a_tmpfs(busybox, pods):
    """medium: Memory is a tmpfs (sizeLimit its size) mounted on the host
    once for the pod and bound into each container; it goes with the pod."""
    pod = pods(volumes=[{"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}}])
    r = run(pods.plan(pod, busybox, volume_mounts=[{"name": "cache", "mountPath": "/cache"}]),
            "echo x > /cache/x && grep ' /cache ' /proc/self/mountinfo")
    assert r.code == 0, r
    assert " - tmpfs tmpfs rw,size=8192k" in r.out, r
    assert pod.sources["cache"] in mount_points()
    podfs.cleanup_pod(pod.run_dir, pod.storage_dir)
    assert pod.sources["cache"] not in mount_points()


def test_host_path_read_write_and_read_only(busybox, pods, tmp_path):
    """A hostPath directory: written through a read-write mount the host
    sees the file; through a readOnly mount of the same volume a write
    fails with EROFS and the host file is unchanged."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "f").write_text("host\n")
    pod = pods(volumes=[{"name": "h", "hostPath": {"path": str(host), "type": "Directory"}}])
    plan = pods.plan(pod, busybox, volume_mounts=[
        {"name": "h", "mountPath": "/rw"}, {"name": "h", "mountPath": "/ro", "readOnly": True}])
    r = run(plan, "echo new > /rw/new; { echo x > /ro/f; } 2>&1; cat /ro/new")
    assert r.code == 0, r
    assert "Read-only file system" in r.out and r.out.endswith("new\n"), r
    assert (host / "new").read_text() == "new\n" and (host / "f").read_text() == "host\n"


def test_host_path_file(busybox, pods, tmp_path):
    """A hostPath FileOrCreate is made empty (0644) and mounted as a file."""
    path = tmp_path / "made.conf"
    pod = pods(volumes=[{"name": "f", "hostPath": {"path": str(path), "type": "FileOrCreate"}}])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    r = run(pods.plan(pod, busybox, volume_mounts=[{"name": "f", "mountPath": "/etc/app.conf"}]),
            "echo set > /etc/app.conf")
    assert r.code == 0, r
    assert path.read_text() == "set\n"


def test_sub_path(busybox, pods):
    """subPath mounts a directory beneath the volume, made when missing
    (as the kubelet does); the rest of the volume is not visible."""
    pod = pods(volumes=[{"name": "data", "emptyDir": {}}])
    os.mkdir(os.path.join(pod.sources["data"], "other"))
    plan = pods.plan(pod, busybox, volume_mounts=[
        {"name": "data", "mountPath": "/mnt", "subPath": "a/b"}])
    r = run(plan, "echo x > /mnt/x && ls -A /mnt")
    assert (r.code, r.out) == (0, "x\n"), r
    assert open(os.path.join(pod.sources["data"], "a", "b", "x")).read() == "x\n"


@pytest.fixture
def objects(tmp_path):
    """One host object of each kind hostPath types check."""
    d = tmp_path / "objects"
    d.mkdir()
    (d / "dir").mkdir()
    (d / "file").write_text("")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(d / "sock"))
    os.mknod(d / "chr", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.mknod(d / "blk", stat.S_IFBLK | 0o600, os.makedev(7, 0))
    yield d
    s.close()


KINDS = {"dir": "Directory", "file": "File", "sock": "Socket", "chr": "CharDevice",
         "blk": "BlockDevice"}
NOUNS = {"Directory": "a directory", "File": "a file", "Socket": "a socket",
         "CharDevice": "a character device", "BlockDevice": "a block device",
         "DirectoryOrCreate": "a directory", "FileOrCreate": "a file"}


@pytest.mark.parametrize("typ", sorted(set(KINDS.values()) | {"DirectoryOrCreate",
                                                                "FileOrCreate"}))
def test_host_path_type_checks(objects, typ):
    """Each hostPath type accepts its own kind of object and refuses every
    other with one line; a missing path is refused, except by the
    ...OrCreate types, which make it (a directory with its parents; a file,
    but not its parent directory)."""
    field = "spec.volumes[0]"
    for name, kind in KINDS.items():
        path = str(objects / name)
        if kind == typ.replace("OrCreate", ""):
            assert podfs.check_host_path(path, typ, field) == path
        else:
            with pytest.raises(LauncherError) as e:
                podfs.check_host_path(path, typ, field)
            assert str(e.value) == (f"{field}: hostPath {path!r} (type {typ}): hostPath type "
                                    f"check failed: {path} is not {NOUNS[typ]}")
    missing = str(objects / "new" / "deeper")
    if typ == "DirectoryOrCreate":
        podfs.check_host_path(missing, typ, field)
        assert os.path.isdir(missing)
    elif typ == "FileOrCreate":
        with pytest.raises(LauncherError, match="cannot create it: No such file or directory"):
            podfs.check_host_path(missing, typ, field)
        podfs.check_host_path(str(objects / "new-file"), typ, field)
        assert os.path.isfile(objects / "new-file")
    else:
        with pytest.raises(LauncherError) as e:
            podfs.check_host_path(missing, typ, field)
        assert str(e.value).endswith(f"hostPath type check failed: {missing} does not exist")


def test_host_path_without_type_checks_nothing(objects):
    """type "" accepts any existing object, and makes a missing path a
    directory (what containerd and Docker do)."""
    for name in KINDS:
        podfs.check_host_path(str(objects / name), "", "v")
    podfs.check_host_path(str(objects / "made"), "", "v")
    assert os.path.isdir(objects / "made")


@pytest.mark.parametrize("volumes, message", [
    ([{"name": "cfg", "configMap": {"name": "x"}}],
     "spec.volumes[0].configMap: volume 'cfg': configMap is not supported "
     "(supported: emptyDir, hostPath)"),
    ([{"name": "a", "emptyDir": {}}, {"name": "b", "bogus": {}}],
     "spec.volumes[1].bogus: volume 'b': bogus is not a volume kind "
     "(supported: emptyDir, hostPath)"),
    ([{"name": "a", "emptyDir": {}, "hostPath": {"path": "/x"}}],
     "spec.volumes[0]: volume 'a' has more than one kind (emptyDir, hostPath)"),
    ([{"name": "a", "emptyDir": {"medium": "HugePages"}}],
     "spec.volumes[0].emptyDir.medium: 'HugePages' is not supported (\"\" or Memory)"),
    ([{"name": "a", "emptyDir": {"medum": "Memory"}}],
     "spec.volumes[0].emptyDir.medum: unknown field"),
    ([{"name": "a", "hostPath": {"path": "rel"}}],
     "spec.volumes[0].hostPath.path: 'rel' must be an absolute path"),
    ([{"name": "a", "hostPath": {"path": "/x/../etc"}}],
     "spec.volumes[0].hostPath.path: '/x/../etc' must not contain '..'"),
    ([{"name": "a", "hostPath": {"path": "/x", "type": "Dir"}}],
     "spec.volumes[0].hostPath.type: 'Dir' is not one of DirectoryOrCreate, Directory, "
     "FileOrCreate, File, Socket, CharDevice, BlockDevice"),
    ([{"name": "a"}, {"name": "a"}], "spec.volumes[1].name: duplicate volume name 'a'"),
    ([{"name": "A_b"}], "spec.volumes[0].name: invalid volume name 'A_b': use lower-case "
     "letters, digits and '-', 1-63 characters, starting and ending with a letter or digit"),
])
def test_bad_volumes_are_one_error_naming_the_field(volumes, message):
    """Unknown or unsupported kinds and bad fields: one line naming the field path."""
    with pytest.raises(LauncherError) as e:
        podfs.parse_volumes(volumes)
    assert str(e.value) == message


def test_a_volume_without_a_source_is_an_empty_dir():
    """The API's default: no source means emptyDir."""
    (v,) = podfs.parse_volumes([{"name": "scratch"}])
    assert (v.kind, v.medium) == (podfs.EMPTY_DIR, "")


@pytest.mark.parametrize("mounts, message", [
    ([{"name": "nope", "mountPath": "/x"}], "f[0].name: no volume named 'nope' in the pod"),
    ([{"name": "v", "mountPath": "x"}], "f[0].mountPath: 'x' is not an absolute path"),
    ([{"name": "v", "mountPath": "/a/../b"}], "f[0].mountPath: '/a/../b' must not contain '..'"),
    ([{"name": "v", "mountPath": "/x"}, {"name": "v", "mountPath": "/x/"}],
     "f[1].mountPath: '/x/' is mounted twice"),
    ([{"name": "v", "mountPath": "/x", "subPath": "/abs"}],
     "f[0].subPath: '/abs' must be a relative path"),
    ([{"name": "v", "mountPath": "/x", "subPath": "a/../../b"}],
     "f[0].subPath: 'a/../../b' must not contain '..'"),
    ([{"name": "v", "mountPath": "/x", "readOnly": "yes"}], "f[0].readOnly: must be true or false"),
    ([{"name": "v", "mountPath": "/x", "mountPropagation": "Bidirectional"}],
     "f[0].mountPropagation: 'Bidirectional' is not supported (only None: every container "
     "mount is private)"),
    ([{"name": "v", "mountPath": "/x", "subPathExpr": "$(POD)"}], "f[0].subPathExpr: unknown field"),
])
def test_bad_volume_mounts_are_one_error_naming_the_field(mounts, message):
    """A volumeMount naming no volume, a relative or '..' path, a mountPath
    used twice, an absolute subPath, an unsupported propagation: one line."""
    volumes = podfs.parse_volumes([{"name": "v"}])
    with pytest.raises(LauncherError) as e:
        podfs.parse_volume_mounts(mounts, volumes, "f")
    assert str(e.value) == message
