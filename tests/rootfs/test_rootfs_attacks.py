"""An image is untrusted: a layer whose /etc, /dev, /proc or /sys is a
symlink, a symlink named like a volume's mount point, a dangling symlink
where an etc file goes, or a symlink a container leaves in a shared volume
for another container's subPath, must never make the set-up mount over, or
create anything in, the host's files. Each test crafts the image offline,
runs a real container, and checks the host: the victim directory (where the
symlinks point) is byte for byte as it was, and the host's mount table has
not changed. The container either works with everything inside its rootfs,
or fails with one line naming the mount."""
import os

import pytest

from launcher.images.testimages import Tar
from rootfs_helpers import host_mounts, run, tree


@pytest.fixture
def victim(tmp_path):
    """A host directory holding files an attacker would like to cover:
    hosts, hostname, passwd, and a subdirectory."""
    d = tmp_path / "victim"
    d.mkdir()
    for name in ("hosts", "hostname"):   # no resolv.conf: a naive set-up would make one
        (d / name).write_text(f"the host's {name}\n")
    (d / "passwd").write_text("evil:x:4242:4242:evil:/:/bin/sh\n")
    (d / "sub").mkdir()
    return d


@pytest.fixture
def untouched(victim):
    """Asserts, after the test, that the victim directory, the host's /
    entries and /etc/hosts, and the host's mount table are unchanged."""
    before = (tree(str(victim)), sorted(os.listdir("/")), open("/etc/hosts", "rb").read(),
              os.stat("/etc/hosts").st_ino, host_mounts(victim))
    yield victim
    after = (tree(str(victim)), sorted(os.listdir("/")), open("/etc/hosts", "rb").read(),
             os.stat("/etc/hosts").st_ino, host_mounts(victim))
    assert after == before


def test_etc_symlink_to_a_host_directory_stays_inside(crafted, pods, untouched, busybox):
    """/etc -> VICTIM (an absolute path that exists on the host): the pod's
    etc files are bound at VICTIM inside the rootfs, never on the host's
    VICTIM files; the container sees the pod's /etc/hosts."""
    image = crafted(Tar().symlink("etc", str(untouched)).bytes(), "etc-to-victim")
    pod = pods()
    r = run(pods.plan(pod, image), "readlink /etc; cat /etc/hosts /etc/hostname")
    assert r.code == 0, r
    assert r.out.startswith(f"{untouched}\n# Kubernetes-managed hosts file.\n")
    assert r.out.endswith("pod-a\n")


def test_etc_symlink_to_root_stays_inside(crafted, pods, untouched):
    """/etc -> /: the etc files resolve to /hosts, /hostname and
    /resolv.conf of the rootfs, made and bound there; nothing is made in
    the host's /."""
    image = crafted(Tar().symlink("etc", "/").bytes(), "etc-to-root")
    r = run(pods.plan(pods(), image), "cat /hostname; ls /hosts /resolv.conf")
    assert r.code == 0, r
    assert r.out == "pod-a\n/hosts\n/resolv.conf\n"


def test_etc_symlink_climbing_out_is_refused(crafted, pods, untouched):
    """/etc -> ../../../../../../etc climbs to the rootfs' own /etc (".."
    stops at its root), which is the link itself: one line, exit 125,
    nothing mounted or made outside."""
    image = crafted(Tar().symlink("etc", "../../../../../../../../etc").bytes(), "etc-climb")
    r = run(pods.plan(pods(), image), "true")
    assert r.code == 125
    assert r.err == ("setup: bind '/etc/hosts': '/etc/hosts' goes through too many symlinks, "
                     "or a magic link (refused)\n")


@pytest.mark.parametrize("name, target, fs", [("dev", "victim", "tmpfs"),
                                              ("proc", "/", "proc"),
                                              ("sys", "victim", "sysfs")])
def test_kernel_mount_point_symlink_is_refused(crafted, pods, untouched, name, target, fs):
    """/dev, /proc or /sys a symlink (to the host's victim directory, or to
    /): refused with one line naming the mount, never followed."""
    target = str(untouched) if target == "victim" else target
    image = crafted(Tar().symlink(name, target).bytes(), f"{name}-link")
    r = run(pods.plan(pods(), image), "true")
    assert r.code == 125
    assert r.err.startswith(f"setup: mount {fs} on '/{name}': '/{name}' is (or goes through) "
                            "a symlink in the image"), r.err


def test_dev_shm_symlink_in_the_image_is_ignored(crafted, pods, untouched):
    """/dev/shm -> / in the image changes nothing: /dev is a fresh tmpfs,
    and /dev/shm the pod's (a file written there is in the pod's shm)."""
    image = crafted(Tar().dir("dev").symlink("dev/shm", "/").symlink("dev/null", "/etc/passwd")
                    .bytes(), "shm-link")
    pod = pods()
    r = run(pods.plan(pod, image), "echo hi > /dev/shm/note && ls -ld /dev/null")
    assert r.code == 0, r
    assert r.out.startswith("crw-rw-rw-")
    assert open(os.path.join(pod.shm, "note")).read() == "hi\n"


def test_volume_mount_point_symlink_stays_inside(crafted, pods, untouched):
    """/data -> VICTIM and an emptyDir mounted at /data: the volume is
    mounted at VICTIM inside the rootfs (made there), the host's VICTIM is
    neither covered nor written."""
    image = crafted(Tar().symlink("data", str(untouched)).bytes(), "data-link")
    pod = pods(volumes=[{"name": "data", "emptyDir": {}}])
    plan = pods.plan(pod, image, volume_mounts=[{"name": "data", "mountPath": "/data"}])
    r = run(plan, f"echo x > /data/written && ls {untouched}")
    assert r.code == 0, r
    assert r.out == "written\n"
    assert os.listdir(pod.sources["data"]) == ["written"]


def test_mount_point_symlink_into_proc_is_refused(crafted, pods, untouched):
    """/data -> /proc/sys/kernel: a volume there would cover the
    container's kernel settings; refused with one line."""
    image = crafted(Tar().symlink("data", "/proc/sys/kernel").bytes(), "data-proc")
    pod = pods(volumes=[{"name": "data", "emptyDir": {}}])
    r = run(pods.plan(pod, image, volume_mounts=[{"name": "data", "mountPath": "/data"}]),
            "true")
    assert r.code == 125
    assert r.err == ("setup: volume 'data' on '/data': resolves into the container's /proc or "
                     "/sys (refused)\n")


def test_dangling_etc_symlink_is_followed_inside(crafted, pods, untouched):
    """/etc/resolv.conf -> VICTIM/stub (missing on the host too): the file is
    made at VICTIM/stub inside the rootfs and bound there, as systemd images
    need; nothing appears in the host's VICTIM."""
    stub = os.path.join(str(untouched), "stub")
    image = crafted(Tar().dir("etc").symlink("etc/resolv.conf", stub).bytes(), "dangling")
    pod = pods()
    r = run(pods.plan(pod, image), f"ls {stub} && cat /etc/resolv.conf")
    assert r.code == 0, r
    assert r.out == stub + "\n" + open(pod.etc_files()["/etc/resolv.conf"]).read()


def test_subpath_symlink_left_by_another_container_is_refused(busybox, pods, untouched):
    """A container of the pod plants `esc -> VICTIM` (and `up ->
    ../../../..`) in a shared emptyDir; another container mounting subPath
    esc (or up) is refused with one line: the host's VICTIM is never
    mounted into it. A symlink staying inside the volume is followed."""
    pod = pods(volumes=[{"name": "shared", "emptyDir": {}}])
    mount = [{"name": "shared", "mountPath": "/shared"}]
    r = run(pods.plan(pod, busybox, "planter", mount),
            f"ln -s {untouched} /shared/esc && ln -s ../../../.. /shared/up && "
            "mkdir /shared/real && echo inside > /shared/real/f && ln -s real /shared/ok")
    assert r.code == 0, r
    for sub in ("esc", "up"):
        plan = pods.plan(pod, busybox, "victim",
                         [{"name": "shared", "mountPath": "/mnt", "subPath": sub}])
        r = run(plan, "ls /mnt")
        assert r.code == 125, r
        assert r.err == (f"setup: volume 'shared' on '/mnt': subPath '{sub}' leaves the volume "
                         "through a symlink or '..' (refused)\n")
    plan = pods.plan(pod, busybox, "reader",
                     [{"name": "shared", "mountPath": "/mnt", "subPath": "ok"}])
    r = run(plan, "cat /mnt/f")
    assert (r.code, r.out) == (0, "inside\n"), r


def test_passwd_symlink_to_a_host_file_is_not_read(crafted, pods, untouched):
    """/etc/passwd -> VICTIM/passwd (a host file naming user 'evil'): the
    user is looked up in the rootfs, where that path does not exist, so
    'evil' is not found, in one line."""
    from launcher.runtime import users
    image = crafted(Tar().dir("etc").symlink("etc/passwd", str(untouched / "passwd")).bytes(),
                    "passwd-link")
    r = run(pods.plan(pods(), image), "id", user=users.user_spec("evil"))
    assert r.code == 125
    assert r.err == "setup: user 'evil' not found: the image has no /etc/passwd\n"
