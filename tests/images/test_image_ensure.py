"""ensure() gives a pod its image by imagePullPolicy, as the kubelet does:
IfNotPresent and Never do no pull (nor unpack) for a present image, a
missing image under Never or one that cannot be pulled is an
ImagePullError with the kubelet's reason and message; the Image carries
its config and its layer directories."""
import os
import time

import pytest

from launcher.images import ensure, pull
from launcher.images.ensure import ImagePullError


def test_present_image_needs_no_pull(root, busybox_layout, monkeypatch, tmp_path):
    """IfNotPresent and Never find a present image without running skopeo
    (it is off PATH) and without touching the layers."""
    pull.pull(f"oci:{busybox_layout}:latest", root)
    (tmp_path / "emptybin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "emptybin"))
    mtime = os.stat(os.path.join(root, "layers")).st_mtime_ns
    for policy in ("IfNotPresent", "Never"):
        image = ensure.ensure("busybox", policy, root)
        assert image.names == ("localhost/busybox:latest",)
    assert os.stat(os.path.join(root, "layers")).st_mtime_ns == mtime
    with pytest.raises(ImagePullError) as e:    # and Always would need skopeo
        ensure.ensure("busybox", "Always", root)
    assert "skopeo is not installed" in str(e.value)


def test_image_api(root, layered_layout):
    """Image: id (64 hex), digest, layers lowest first, lowerdir topmost
    first, the config as plain data and Kubernetes' command/args rule."""
    image = ensure.ensure(f"oci:{layered_layout}:latest", None, root)
    assert len(image.id) == 64 and image.digest.startswith("sha256:")
    assert [os.path.dirname(p) for p in image.layers] == [os.path.join(root, "layers")] * 3
    assert image.lowerdir() == ":".join(reversed(image.layers))
    assert os.path.exists(os.path.join(image.layers[0], "bin", "busybox"))
    c = image.config
    assert c.cmd == ("sh",) and c.entrypoint is None and c.env[0].startswith("PATH=")
    assert c.platform.startswith("linux/") and c.workdir == "" and c.user == ""
    assert c.argv() == ["sh"] and c.argv(args=["-c", "x"]) == ["-c", "x"]
    assert c.argv(command=["/bin/true"]) == ["/bin/true"]


def test_never_and_absent_is_err_image_never_pull(root):
    """Never with an absent image: ErrImageNeverPull, the kubelet's message."""
    with pytest.raises(ImagePullError) as e:
        ensure.ensure("busybox:1.28", "Never", root)
    assert e.value.reason == "ErrImageNeverPull"
    assert str(e.value) == 'Container image "busybox:1.28" is not present with pull policy of Never'


def test_unpullable_is_err_image_pull(root):
    """An absent image whose registry cannot be reached: ErrImagePull, with
    the kubelet's 'Failed to pull image' message and the reason in one line."""
    t0 = time.monotonic()
    with pytest.raises(ImagePullError) as e:
        ensure.ensure("127.0.0.1:9/web:1", None, root)
    assert time.monotonic() - t0 < 30
    assert e.value.reason == "ErrImagePull" and e.value.code == 125
    assert str(e.value).startswith('Failed to pull image "127.0.0.1:9/web:1": registry '
                                   '127.0.0.1:9 cannot be reached')


def test_always_pulls_even_when_present(root, busybox_layout):
    """Always copies again (a failed pull then fails the pod, as the
    kubelet does), but unpacks nothing already in the store."""
    first = pull.pull(f"oci:{busybox_layout}:latest", root)
    image = ensure.ensure(f"oci:{busybox_layout}:latest", "Always", root)
    assert image.id == first.image_id
    with pytest.raises(ImagePullError) as e:
        ensure.ensure("127.0.0.1:9/busybox:latest", None, root)   # default Always
    assert e.value.reason == "ErrImagePull"


def test_bad_policy_and_bad_name(root):
    """An unknown policy is a plain error; an invalid image name is the
    kubelet's InvalidImageName."""
    with pytest.raises(Exception) as e:
        ensure.ensure("busybox", "Sometimes", root)
    assert "imagePullPolicy" in str(e.value)
    with pytest.raises(ImagePullError) as e:
        ensure.ensure("Bad Name", None, root)
    assert e.value.reason == "InvalidImageName"


def test_hold_for_marks_the_pod(root, busybox_layout):
    """ensure(hold_for=POD) records the hold with the lookup; release drops it."""
    image = ensure.ensure(f"oci:{busybox_layout}:latest", None, root, hold_for="p1")
    assert os.listdir(os.path.join(root, "holds", "p1")) == [image.id]
    ensure.release("p1", root)
    assert os.listdir(os.path.join(root, "holds")) == []


def test_resolve_by_id_prefix_and_digest(root, busybox_layout):
    """An image is found by id, a unique id prefix, or name@digest."""
    r = pull.pull(f"oci:{busybox_layout}:latest", root)
    assert ensure.resolve(r.image_id[:5], root).id == r.image_id
    assert ensure.resolve(f"sha256:{r.image_id}", root).id == r.image_id
    assert ensure.resolve(f"localhost/busybox@{r.digest}", root).id == r.image_id
    with pytest.raises(ensure.NotFound):
        ensure.resolve("nosuch", root)


def test_default_root_prefers_the_environment(monkeypatch):
    """$LAUNCHER_IMAGE_ROOT wins; root's default survives reboots (/var/lib)."""
    from launcher.images import default_root
    monkeypatch.setenv("LAUNCHER_IMAGE_ROOT", "/srv/img")
    assert default_root() == "/srv/img"
    monkeypatch.delenv("LAUNCHER_IMAGE_ROOT")
    if os.geteuid() == 0:
        assert default_root() == "/var/lib/launcher/images"
