"""RootfsPlan is plain data the parent builds before fork: it survives a
JSON round trip unchanged, refuses malformed input with one line, and its
overlay options fit in the page mount(2) copies or say why not."""
import json

import pytest

from launcher.errors import LauncherError
from launcher.runtime import rootfs


def _plan(**kw):
    return rootfs.RootfsPlan(["/l/top", "/l/base"], "/c/upper", "/c/work", "/c/merged",
                             shm="/p/shm", etc={"/etc/hosts": "/p/hosts"},
                             mounts=[rootfs.Mount("/data", "/v/data", read_only=True,
                                                  sub_path="a/b", name="volume 'data'"),
                                     rootfs.Mount("/scratch", kind=rootfs.TMPFS,
                                                  options="size=1m")], **kw)


def test_round_trip_through_json():
    """to_dict() is JSON; from_dict() gives the same plan back."""
    plan = _plan(read_only=True, hide=["/run/launcher"], propagation=rootfs.RSLAVE)
    again = rootfs.RootfsPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again.to_dict() == plan.to_dict()
    assert again.masked == list(rootfs.MASKED_PATHS)
    assert again.readonly_paths == list(rootfs.READONLY_PATHS)


@pytest.mark.parametrize("change, message", [
    ({"lowerdirs": []}, "rootfs plan: an image needs at least one layer"),
    ({"upper": "rel"}, "rootfs plan: upper dir 'rel' is not an absolute path"),
    ({"etc": {"/etc/passwd": "/x"}}, "rootfs plan: '/etc/passwd' is not one of /etc/hosts, "
                                     "/etc/hostname, /etc/resolv.conf"),
    ({"propagation": "shared"}, "rootfs plan: propagation 'shared': one of rprivate, rslave"),
    ({"mounts": [{"destination": "/a/../b", "source": "/x"}]},
     "mount '/a/../b': '/a/../b' must not contain '..'"),
    ({"mounts": [{"destination": "/a", "source": "/x", "sub_path": "../y"}]},
     "mount '/a': subPath: '../y' must not contain '..'"),
    ({"mounts": [{"destination": "/a", "kind": "nfs"}]}, "rootfs plan: mount '/a': unknown "
                                                         "kind 'nfs'"),
])
def test_malformed_plans_are_refused(change, message):
    """A plan that is not what the parent would build: one line."""
    d = _plan().to_dict()
    d.update(change)
    with pytest.raises(LauncherError) as e:
        rootfs.RootfsPlan.from_dict(d)
    assert str(e.value) == message


def test_overlay_options_escape_and_fall_back_to_relative_names():
    """':' and ',' in paths are escaped; layers too long for a page are
    named relative to their common parent; far too many is one error."""
    plan = rootfs.RootfsPlan(["/l/a:b", "/l/c,d"], "/u", "/w", "/m")
    assert rootfs.overlay_options(plan) == (r"lowerdir=/l/a\:b:/l/c\,d,upperdir=/u,workdir=/w",
                                            None)
    many = [f"/store/layers/{i:064x}" for i in range(60)]
    data, base = rootfs.overlay_options(rootfs.RootfsPlan(many, "/u", "/w", "/m"))
    assert base == "/store/layers" and data.startswith(f"lowerdir={0:064x}:")
    with pytest.raises(LauncherError, match="70 layers do not fit in the 4096-byte mount options"):
        rootfs.overlay_options(rootfs.RootfsPlan(many + many[:10], "/u", "/w", "/m"))
