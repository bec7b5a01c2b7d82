"""Fixtures of the rootfs tests: a session image root holding the busybox
and multi-layer test images (built offline by launcher/images/testimages.py,
cached across runs, as tests/images does), crafted images on top of the
busybox layer, and pods made by launcher/supervisor/podfs.py whose every
mount and directory goes at the end of the test, even when it fails.

Pods live as the launcher will lay them out: their run dirs under a fake
state root (tmp/state/POD), their storage under tmp/storage/POD, and each
container's plan hides the state root (every pod's pins and shm), as the
launcher hides its own."""
import os
import shutil

import pytest

from launcher.images import ensure, pull, testimages
from launcher.supervisor import podfs


def _usable():
    if os.geteuid() != 0:
        return "the rootfs tests need root (mounts, namespaces)"
    for tool in ("unshare", "skopeo"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    try:
        testimages.static_busybox()
    except Exception as e:   # LauncherError: no busybox-static
        return str(e)
    return None


@pytest.fixture(autouse=True, scope="session")
def _requirements():
    reason = _usable()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def image_root(tmp_path_factory):
    """One image root for the whole session (pulls make no mounts)."""
    return str(tmp_path_factory.mktemp("rootfs-images"))


@pytest.fixture(scope="session")
def busybox(image_root):
    """localhost/busybox:latest pulled into the session's root: an Image."""
    pulled = pull.pull(f"oci:{testimages.busybox_image()}:latest", image_root)
    return ensure.resolve(pulled.image_id, image_root)


@pytest.fixture(scope="session")
def layered(image_root):
    """The three-layer image (whiteouts, opaque directories)."""
    pulled = pull.pull(f"oci:{testimages.multilayer_image()}:latest", image_root)
    return ensure.resolve(pulled.image_id, image_root)


@pytest.fixture(scope="session")
def busybox_tar():
    """The busybox layer's tar bytes, to stack crafted layers on."""
    return testimages.busybox_layer()


@pytest.fixture
def crafted(tmp_path, image_root, busybox_tar):
    """crafted(tar_bytes, name) -> Image: busybox plus one crafted layer."""
    from rootfs_helpers import crafted_image

    def make(layer, name="crafted", config=None):
        return crafted_image(tmp_path, image_root, [busybox_tar, layer], name, config)
    return make


class Pods:
    """Makes pods under the test's tmp dir and removes them all after."""

    def __init__(self, base):
        self.base, self.made = base, []
        self.state = os.path.join(base, "state")
        os.makedirs(self.state, mode=0o700, exist_ok=True)

    def __call__(self, name="pod-a", ip=None, volumes=(), **kw):
        p = podfs.PodFS(os.path.join(self.state, name, "fs"),
                        os.path.join(self.base, "storage", name))
        os.makedirs(os.path.dirname(p.run_dir), exist_ok=True)
        os.makedirs(os.path.dirname(p.storage_dir), exist_ok=True)
        self.made.append(p)
        p.create(name, ip, **kw)
        p.volumes = podfs.parse_volumes(list(volumes))
        p.make_volumes(p.volumes)
        return p

    def plan(self, pod, image, name="ctr", volume_mounts=(), **kw):
        """A fresh RootfsPlan for container `name` of pod on image."""
        vms = podfs.parse_volume_mounts(list(volume_mounts), pod.volumes,
                                        f"spec.containers[{name}].volumeMounts")
        kw.setdefault("hide", [self.state])
        return pod.rootfs_plan(list(reversed(image.layers)), name, vms, **kw)

    def cleanup(self):
        for p in self.made:
            podfs.cleanup_pod(p.run_dir, p.storage_dir)


@pytest.fixture
def pods(tmp_path):
    """pods(name, ip, volumes) makes a pod; pods.plan(pod, image, ...) a
    container's plan; everything is removed after the test."""
    p = Pods(str(tmp_path))
    try:
        yield p
    finally:
        p.cleanup()
