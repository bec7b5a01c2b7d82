"""A container's rootfs over its life: the overlay honours the image's
whiteouts, each start gets a fresh upper, readOnlyRootFilesystem leaves
only volumes, /dev and /dev/shm writable, the pod's /dev/shm is shared by
its containers (and only by them), an image with more layers than fit in
one page of mount options still mounts, and after cleanup nothing is
mounted and no directory remains."""
import os

from launcher.runtime import rootfs
from launcher.supervisor import podfs
from rootfs_helpers import mount_points, run


def test_whiteouts_of_the_multilayer_image_are_honoured(layered, pods):
    """The deleted file and directory are absent, the opaque directories
    show only the upper layer's entries, the rewritten file its new
    content."""
    r = run(pods.plan(pods(), layered),
            "for p in etc/gone var/cache opt/app/old1 opt/app/sub srv/old; do "
            "[ -e /$p ] && echo present $p; done; ls /opt/app; ls /srv; cat /etc/replaced /etc/keep")
    assert r.code == 0, r
    assert r.out == "new1\nnew\nupper replaced\nlower keep\n"


def test_a_restart_gets_a_fresh_upper(busybox, pods):
    """A file written by a first run of container `web` is gone in its
    second run (prepare_container made new dirs), and never reached the
    image's layer."""
    pod = pods()
    r = run(pods.plan(pod, busybox, "web"), "echo one > /marker && echo ok")
    assert (r.code, r.out) == (0, "ok\n"), r
    upper = os.path.join(pod.storage_dir, podfs.CONTAINERS, "web", podfs.UPPER)
    first = os.stat(os.path.join(upper, "marker")).st_ino
    r = run(pods.plan(pod, busybox, "web"), "ls /marker 2>&1; ls -A /")
    assert "No such file" in r.out, r
    assert not os.path.exists(os.path.join(upper, "marker"))
    assert first and not os.path.exists(os.path.join(busybox.layers[0], "marker"))


def test_read_only_root_filesystem(busybox, pods):
    """readOnlyRootFilesystem: writing to / (and the image's /tmp) fails
    with EROFS; a volume, /dev and /dev/shm stay writable."""
    pod = pods(volumes=[{"name": "data", "emptyDir": {}}])
    plan = pods.plan(pod, busybox, volume_mounts=[{"name": "data", "mountPath": "/data"}],
                     read_only=True)
    r = run(plan, "{ touch /x; touch /tmp/x; } 2>&1; echo v > /data/v && echo s > /dev/shm/s "
            "&& : > /dev/d && echo writable; grep ' / / ' /proc/self/mountinfo | cut -d' ' -f6")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert all("Read-only file system" in ln for ln in lines[:2]), r
    assert lines[2:] == ["writable", "ro,relatime"]
    assert open(os.path.join(pod.sources["data"], "v")).read() == "v\n"


def test_dev_shm_is_the_pods(busybox, pods):
    """A file one container writes in /dev/shm is seen by another container
    of the same pod, not by a container of another pod; it is the pod's
    64 MiB tmpfs."""
    a, b = pods("pod-a"), pods("pod-b")
    r = run(pods.plan(a, busybox, "writer"), "echo shared > /dev/shm/x && stat -c %a /dev/shm && "
            "grep ' /dev/shm ' /proc/self/mountinfo")
    assert r.code == 0, r
    assert r.out.startswith("1777\n")
    assert "nosuid,nodev,noexec" in r.out and " - tmpfs shm rw,size=65536k" in r.out
    r = run(pods.plan(a, busybox, "reader"), "cat /dev/shm/x")
    assert (r.code, r.out) == (0, "shared\n"), r
    r = run(pods.plan(b, busybox, "other"), "ls -A /dev/shm")
    assert (r.code, r.out) == (0, ""), r


def test_many_layers_still_mount(busybox, pods, tmp_path):
    """70 layers whose absolute paths exceed the page mount(2) copies are
    named relative to their common parent: the overlay mounts, the
    topmost layer's file is there and busybox of the lowest runs."""
    layers = []
    for i in range(70):
        d = tmp_path / "layers" / f"l{i:02d}"
        d.mkdir(parents=True)
        layers.append(str(d))
    with open(os.path.join(layers[-1], "top"), "w") as f:
        f.write("top layer\n")
    lowers = list(reversed(layers)) + list(reversed(busybox.layers))
    pod = pods()
    upper, work, merged = pod.prepare_container("big")
    plan = rootfs.RootfsPlan(lowers, upper, work, merged, shm=pod.shm, etc=pod.etc_files(),
                             hide=[pods.state])
    assert len(":".join(lowers)) > rootfs.MOUNT_DATA_LIMIT
    r = run(plan, "cat /top")
    assert (r.code, r.out) == (0, "top layer\n"), r


def test_cleanup_leaves_nothing(busybox, pods, tmp_path):
    """After cleanup_pod: no mount left under the pod's dirs (shm, Memory
    emptyDir), neither directory exists; a symlink planted in the storage
    dir is unlinked, never followed; a second cleanup is fine."""
    pod = pods(volumes=[{"name": "m", "emptyDir": {"medium": "Memory"}},
                        {"name": "d", "emptyDir": {}}])
    plan = pods.plan(pod, busybox, volume_mounts=[{"name": "m", "mountPath": "/m"},
                                                  {"name": "d", "mountPath": "/d"}])
    assert run(plan, "echo x > /m/x && echo y > /d/y").code == 0
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "file").write_text("keep\n")
    os.symlink(str(keep), os.path.join(pod.storage_dir, "planted"))
    os.symlink(str(keep), os.path.join(pod.run_dir, "planted"))
    assert any(p.startswith(pod.run_dir) for p in mount_points())
    podfs.cleanup_container(pod.storage_dir, "ctr")
    assert not os.path.exists(os.path.join(pod.storage_dir, podfs.CONTAINERS, "ctr"))
    podfs.cleanup_pod(pod.run_dir, pod.storage_dir)
    podfs.cleanup_pod(pod.run_dir, pod.storage_dir)
    podfs.cleanup_container(pod.storage_dir, "ctr")
    assert not [p for p in mount_points() if p.startswith(str(tmp_path))]
    assert not os.path.lexists(pod.run_dir) and not os.path.lexists(pod.storage_dir)
    assert (keep / "file").read_text() == "keep\n"
