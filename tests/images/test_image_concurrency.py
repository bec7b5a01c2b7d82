"""Concurrent pulls of the same image are safe: each layer is unpacked
once, the other pull waits for it; a pull SIGKILLed half-way leaves
nothing a later pull trusts, and the later pull cleans up after it."""
import json
import os
import signal
import subprocess
import sys

import pytest

from helpers import sleep_until
from image_helpers import layout_with, tree_counts
from launcher.images import ensure, pull
from launcher.images.store import Store
from launcher.images.testimages import Tar

PULL = ("import json, sys\n"
        "from launcher.images import pull\n"
        "print(json.dumps(pull.pull(sys.argv[1], sys.argv[2]).as_dict()))\n")


def start_pull(source, root):
    return subprocess.Popen([sys.executable, "-c", PULL, source, root], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def leases(root):
    tmp = os.path.join(root, "tmp")
    return [d for d in os.listdir(tmp) if os.path.exists(os.path.join(tmp, d, "lease"))] \
        if os.path.isdir(tmp) else []


def first_layer(layout):
    idx = json.load(open(os.path.join(layout, "index.json")))
    man = json.load(open(os.path.join(layout, "blobs", "sha256",
                                      idx["manifests"][0]["digest"][7:])))
    return man["layers"][0]["digest"][7:]


def test_two_pulls_unpack_each_layer_once(root, layered_layout):
    """Two pulls of the three-layer image blocked on its first layer (the
    test holds that layer's lock) both succeed once it is free: every layer
    is unpacked by exactly one of them, the other waits or reuses it."""
    with Store(root) as store:
        with store.layer_lock(first_layer(layered_layout)):
            procs = [start_pull(f"oci:{layered_layout}:latest", root) for _ in range(2)]
            try:
                assert sleep_until(lambda: len(leases(root)) == 2, timeout=60), \
                    "both pulls should reach their unpack step"
            except BaseException:
                for p in procs:
                    p.kill()
                    p.wait()
                raise
        results = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            results.append(json.loads(out))
    assert results[0]["image_id"] == results[1]["image_id"]
    unpacked = results[0]["unpacked"] + results[1]["unpacked"]
    assert sorted(unpacked) == sorted(set(unpacked)) and len(unpacked) == 3
    assert first_layer(layered_layout) in results[0]["waited"] + results[1]["waited"]
    counts = tree_counts(root)
    assert len(counts["layers"]) == 3 and counts["tmp"] == [] and len(counts["images"]) == 1


@pytest.mark.slow
def test_killed_pull_leaves_nothing_trusted(tmp_path, root):
    """A pull SIGKILLed in the middle of unpacking a layer leaves only its
    tmp dir: no layer, record or tag. The next pull unpacks the layer again,
    completely, and removes the dead pull's leftovers."""
    t = Tar().dir("many")
    for i in range(6000):
        t.file(f"many/f{i:05d}")
    layout = layout_with(tmp_path / "slow", [t.bytes()])
    proc = start_pull(f"oci:{layout}:latest", root)
    tmp = os.path.join(root, "tmp")

    def half_way():
        for d in os.listdir(tmp) if os.path.isdir(tmp) else []:
            for e in os.listdir(os.path.join(tmp, d)):
                many = os.path.join(tmp, d, e, "many")
                if e.startswith("layer-") and os.path.isdir(many) and len(os.listdir(many)) > 50:
                    return True
        return False

    try:
        assert sleep_until(half_way, timeout=60, interval=0.005), proc.stderr.read()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    counts = tree_counts(root)
    assert counts["layers"] == [] and counts["images"] == [] and len(counts["tmp"]) == 1
    assert not os.path.exists(os.path.join(root, "tags.json"))
    r = pull.pull(f"oci:{layout}:latest", root)
    assert len(r.unpacked) == 1
    image = ensure.resolve("localhost/slow", root)
    assert len(os.listdir(os.path.join(image.layers[0], "many"))) == 6000
    assert tree_counts(root)["tmp"] == []
