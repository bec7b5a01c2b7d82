"""rmi and prune leave no orphaned blob or layer; a layer shared by two
images stays until the last goes; an image a live pod holds is refused,
and rmi -f only drops its tags; prune takes what killed pulls left."""
import os
import subprocess

import pytest

from image_helpers import tree_counts
from launcher.errors import LauncherError
from launcher.images import ensure, gc, pull
from launcher.images.store import Store


def rmi(root, *texts, force=False, is_live=None):
    with Store(root) as store:
        return gc.rmi(store, list(texts), force, is_live)


def prune(root, all_images=False, is_live=None):
    with Store(root) as store:
        return gc.prune(store, all_images, is_live)


def empty(root):
    c = tree_counts(root)
    locks = os.listdir(os.path.join(root, "locks"))
    return c["images"] == c["blobs/sha256"] == c["layers"] == c["tmp"] == c["holds"] == [] \
        and locks == []


def test_shared_layer_outlives_the_first_image(root, busybox_layout, layered_layout):
    """busybox and layered share the busybox layer: removing layered drops
    its two own layers and its blobs, keeps the shared one; removing
    busybox then leaves an empty store (after prune: no lock files either)."""
    b = pull.pull(f"oci:{busybox_layout}:latest", root)
    layered = pull.pull(f"oci:{layered_layout}:latest", root)
    assert len(tree_counts(root)["layers"]) == 3 and len(tree_counts(root)["blobs/sha256"]) == 4
    lines, errors = rmi(root, "layered")
    assert errors == [] and lines == ["Untagged: localhost/layered:latest",
                                      f"Deleted: {layered.image_id}"]
    assert tree_counts(root)["layers"] == b.unpacked
    assert len(tree_counts(root)["blobs/sha256"]) == 2
    assert rmi(root, "busybox")[1] == []
    prune(root)
    assert empty(root)


def test_untag_keeps_an_image_with_other_names(root, busybox_layout, archives):
    """An image with two names loses one per rmi; the last one deletes it."""
    pull.pull(f"oci:{busybox_layout}:latest", root)
    pull.pull(f"docker-archive:{archives['docker']}", root)
    lines, _ = rmi(root, "localhost/dbox:1")
    assert lines == ["Untagged: localhost/dbox:1"]
    assert len(tree_counts(root)["layers"]) == 1
    lines, _ = rmi(root, "busybox")
    assert lines[0] == "Untagged: localhost/busybox:latest" and lines[1].startswith("Deleted: ")
    assert tree_counts(root)["layers"] == []


def test_rmi_by_id_with_two_names_needs_force(root, busybox_layout, archives):
    """By id, an image with several names is refused without -f; with -f
    every name goes, then the image."""
    image_id = pull.pull(f"oci:{busybox_layout}:latest", root).image_id
    pull.pull(f"docker-archive:{archives['docker']}", root)
    lines, errors = rmi(root, image_id[:12])
    assert lines == [] and "more than one tag" in str(errors[0])
    lines, errors = rmi(root, image_id[:12], force=True)
    assert errors == [] and lines == ["Untagged: localhost/busybox:latest",
                                      "Untagged: localhost/dbox:1", f"Deleted: {image_id}"]


def test_image_in_use_is_refused_and_force_only_untags(root, busybox_layout):
    """Held by a live pod, rmi refuses (exit 2) and changes nothing; rmi -f
    drops the tag and keeps the image for the pod; prune keeps it while the
    pod lives, and removes it (with its layer) once the pod is released."""
    image = ensure.ensure(f"oci:{busybox_layout}:latest", "IfNotPresent", root,
                          hold_for="pod-1")
    lines, errors = rmi(root, "busybox", is_live=lambda pod: True)
    assert lines == [] and errors[0].code == 2 and "in use by pod pod-1" in str(errors[0])
    assert ensure.resolve("busybox", root).id == image.id
    lines, errors = rmi(root, "busybox", force=True, is_live=lambda pod: True)
    assert errors == [] and lines == ["Untagged: localhost/busybox:latest"]
    assert os.path.isdir(image.layers[0]) and ensure.resolve(image.id, root).names == ()
    assert prune(root, is_live=lambda pod: True)["images"] == []
    ensure.release("pod-1", root)
    report = prune(root, is_live=lambda pod: True)
    assert report["images"] == [image.id] and len(report["layers"]) == 1
    assert empty(root)


def test_holds_of_dead_pods_do_not_count(root, busybox_layout):
    """A hold whose pod is_live() says is gone is dropped, and rmi proceeds."""
    ensure.ensure(f"oci:{busybox_layout}:latest", "IfNotPresent", root, hold_for="gone-pod")
    lines, errors = rmi(root, "busybox", is_live=lambda pod: False)
    assert errors == [] and lines[-1].startswith("Deleted: ")
    assert tree_counts(root)["holds"] == [] and tree_counts(root)["layers"] == []


def test_rmi_unknown_image_is_exit_1(root):
    """An image that is not in the store: 'image not known', exit code 1."""
    lines, errors = rmi(root, "nosuch:1")
    assert lines == [] and errors[0].code == 1 and "image not known" in str(errors[0])


def test_prune_removes_dangling_images_and_dead_pulls(root, busybox_layout, layered_layout):
    """An image whose name moved to another one is dangling: prune removes
    it and its own layers; a dead pull's tmp dir goes too; -a removes
    every image no pod uses."""
    first = pull.pull(f"oci:{busybox_layout}:latest", root)
    with Store(root) as store, store.locked():
        tags = store.tags()
        tags["localhost/busybox:latest"] = "f" * 64   # pretend a newer image took the name
        store.write_tags(tags)
    dead = subprocess.Popen(["true"])
    dead.wait()
    os.mkdir(os.path.join(root, "tmp", f"{dead.pid}-1-abcdef"))
    pull.pull(f"oci:{layered_layout}:latest", root)
    report = prune(root)
    assert report["images"] == [first.image_id] and report["layers"] == []
    assert tree_counts(root)["tmp"] == []
    report = prune(root, all_images=True)
    assert len(report["images"]) == 1 and len(report["layers"]) == 3
    assert empty(root)


def test_pull_in_progress_keeps_its_layers(root, busybox_layout):
    """A layer named by a live pull's lease survives prune, even though no
    record names it yet."""
    pull.pull(f"oci:{busybox_layout}:latest", root)
    layer = tree_counts(root)["layers"][0]
    with Store(root) as store:
        rmi(root, "busybox")   # the layer goes: nothing needs it
        assert tree_counts(root)["layers"] == []
        pull.pull(f"oci:{busybox_layout}:latest", root)
        name, wfd = store.new_work()
        try:
            with store.locked():
                store.lease(wfd, [layer])
            with store.locked():
                store.delete_record(tree_counts(root)["images"][0][:-5])
                store.write_tags({})
            assert prune(root)["layers"] == [] and tree_counts(root)["layers"] == [layer]
        finally:
            os.close(wfd)
            store.drop_work(name)
    assert prune(root)["layers"] == [layer]


def test_hold_needs_a_valid_pod_id_and_image(root, busybox_layout):
    """Holds are files named by pod id: a bad id or an unknown image is refused."""
    image = ensure.ensure(f"oci:{busybox_layout}:latest", "IfNotPresent", root)
    with pytest.raises(LauncherError):
        ensure.hold(image.id, "../escape", root)
    with pytest.raises(LauncherError):
        ensure.hold("0" * 64, "pod", root)
