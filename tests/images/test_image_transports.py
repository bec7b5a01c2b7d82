"""Real images from every local transport land in the store, verified and
unpacked; a registry that cannot be reached, a platform missing from an
index and a missing image fail in one clear line, in bounded time."""
import gzip
import os
import shutil
import socket
import subprocess
import time

import pytest

from image_helpers import layout_with
from launcher.errors import LauncherError
from launcher.images import ensure, pull, testimages
from launcher.images.testimages import Tar

BUSYBOX = "localhost/busybox:latest"


def check_busybox(root, name):
    """The image `name` is in the store with the busybox layer unpacked."""
    image = ensure.resolve(name, root)
    assert os.path.islink(os.path.join(image.layers[0], "bin", "sh"))
    assert os.path.getsize(os.path.join(image.layers[0], "bin", "busybox")) > 100_000
    return image


def test_oci_layout(root, busybox_layout):
    """oci:DIR:TAG and oci:DIR (its only image) both land as localhost/BASENAME:TAG."""
    a = pull.pull(f"oci:{busybox_layout}:latest", root)
    b = pull.pull(f"oci:{busybox_layout}", root)
    assert a.names == b.names == [BUSYBOX] and a.image_id == b.image_id
    assert a.unpacked and not b.unpacked and b.reused == a.unpacked
    check_busybox(root, "busybox")


def test_oci_archive(root, archives):
    """oci-archive:FILE names the image after the file."""
    r = pull.pull(f"oci-archive:{archives['oci']}", root)
    assert r.names == ["localhost/obox:latest"]
    check_busybox(root, "localhost/obox")


def test_docker_archive_keeps_the_image_id(root, archives, busybox_layout):
    """docker-archive:FILE (podman save's format) takes its RepoTags, and
    since skopeo copies into dir: (no conversion), the IMAGE ID is the same
    config digest as from the OCI layout."""
    d = pull.pull(f"docker-archive:{archives['docker']}", root)
    o = pull.pull(f"oci:{busybox_layout}:latest", root)
    assert d.names == ["localhost/dbox:1"] and d.image_id == o.image_id
    assert ensure.resolve("dbox:1", root).names == ("localhost/busybox:latest", "localhost/dbox:1")
    explicit = pull.pull(f"docker-archive:{archives['docker']}:localhost/dbox:1", root)
    assert explicit.image_id == d.image_id


def test_containers_storage(root, podman, monkeypatch):
    """An image podman built on this machine (in an isolated vfs storage)
    is pulled from containers-storage:[vfs@GRAPHROOT+RUNROOT]; the
    machine's default storage is never touched."""
    default = "/var/lib/containers/storage"
    existed = os.path.exists(default)
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", podman.storage_conf)
    r = pull.pull(f"containers-storage:[{podman.storage_spec()}]localhost/podbox:1", root)
    assert r.names == ["localhost/podbox:1"]
    image = ensure.resolve("podbox:1", root)
    want = podman.out("image", "inspect", "--format", "{{.Id}}", "localhost/podbox:1")
    assert image.id == want
    top = image.layers[-1]
    assert open(os.path.join(top, "etc", "hello")).read() == "built by podman\n"
    assert os.path.exists(default) == existed


def test_unreachable_registry_is_one_line(root):
    """A registry that refuses connections: one line naming it, fast."""
    t0 = time.monotonic()
    with pytest.raises(LauncherError) as e:
        pull.pull("docker://127.0.0.1:9/x/y:1", root)
    assert time.monotonic() - t0 < 30
    assert str(e.value) == ("registry 127.0.0.1:9 cannot be reached: connection refused "
                            "(pulling 'docker://127.0.0.1:9/x/y:1')")
    assert os.listdir(os.path.join(root, "tmp")) == []


def test_silent_registry_times_out(root):
    """A registry that accepts the connection and never answers: the pull
    gives up after its timeout, in one line."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        t0 = time.monotonic()
        with pytest.raises(LauncherError) as e:
            pull.pull(f"127.0.0.1:{s.getsockname()[1]}/x:1", root, timeout=2)
        assert time.monotonic() - t0 < 15
    assert "cannot be reached: timed out" in str(e.value) and "\n" not in str(e.value)


def test_index_without_our_platform(root, foreign_layout):
    """An index with only a foreign platform: a clear error; asking for
    that platform with --platform picks it."""
    with pytest.raises(LauncherError) as e:
        pull.pull(f"oci:{foreign_layout}:latest", root)
    assert "no image for platform linux/" in str(e.value) and "in the index" in str(e.value)
    foreign = "linux/s390x" if "s390x" not in str(e.value) else "linux/arm64"
    r = pull.pull(f"oci:{foreign_layout}:latest", root, platform=foreign)
    assert ensure.resolve(r.image_id, root).config.platform == foreign


@pytest.mark.parametrize("text, why", [
    ("oci:/nonexistent/layout:latest", "no such file"),
    ("docker-archive:/etc/hostname", "not a valid image archive"),
])
def test_missing_sources_are_one_line(root, text, why):
    """A missing layout or a file that is no archive: one line."""
    with pytest.raises(LauncherError) as e:
        pull.pull(text, root)
    assert why in str(e.value) and "\n" not in str(e.value)


def test_missing_name_in_a_layout(root, busybox_layout):
    """A tag the layout does not have is named in the error."""
    with pytest.raises(LauncherError) as e:
        pull.pull(f"oci:{busybox_layout}:nosuch", root)
    assert "no image named 'nosuch'" in str(e.value)


def raw_layout(path, layer_descs, diff_ids, lay=None):
    """An OCI layout whose manifest and config are written by hand."""
    import json
    lay = lay or testimages.Layout(str(path))
    arch = testimages.plat.parse(testimages.plat.host())[1]
    cfg = {"architecture": arch, "os": "linux", "config": {},
           "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cdesc = lay.blob(json.dumps(cfg).encode(), testimages.OCI_CONFIG)
    man = {"schemaVersion": 2, "mediaType": testimages.OCI_MANIFEST, "config": cdesc,
           "layers": layer_descs}
    lay.tag(lay.blob(json.dumps(man).encode(), testimages.OCI_MANIFEST), "latest")
    return lay.close()


def test_compressed_layers_arrive_verified(tmp_path, root):
    """gzip and zstd layers (what registries serve: descriptors carry the
    compressed digests, the config the plain ones) come out of skopeo as
    plain tars and are checked against the config's diff_ids."""
    plain = Tar().dir("etc").file("etc/zipped", b"gzip\n").bytes()
    zplain = Tar().dir("etc").file("etc/zstd", b"zstd\n").bytes()
    lay = testimages.Layout(str(tmp_path / "packed"))
    descs = [lay.blob(gzip.compress(plain), "application/vnd.oci.image.layer.v1.tar+gzip")]
    diff_ids = [testimages._sha(plain)]
    if shutil.which("zstd"):
        z = subprocess.run(["zstd", "-q", "-c"], input=zplain, capture_output=True,
                           check=True, timeout=30).stdout
        descs.append(lay.blob(z, "application/vnd.oci.image.layer.v1.tar+zstd"))
        diff_ids.append(testimages._sha(zplain))
    layout = raw_layout(None, descs, diff_ids, lay)
    image = ensure.resolve(pull.pull(f"oci:{layout}:latest", root).image_id, root)
    assert open(os.path.join(image.layers[0], "etc", "zipped")).read() == "gzip\n"
    if len(descs) > 1:
        assert open(os.path.join(image.layers[1], "etc", "zstd")).read() == "zstd\n"


def test_a_lying_diff_id_is_rejected(tmp_path, root):
    """A config whose diff_id is not the layer's digest: refused, nothing stays."""
    lay = testimages.Layout(str(tmp_path / "liar"))
    ldesc = lay.blob(Tar().file("x", b"1").bytes(), testimages.OCI_LAYER)
    layout = raw_layout(None, [ldesc], ["sha256:" + "0" * 64], lay)
    with pytest.raises(LauncherError) as e:
        pull.pull(f"oci:{layout}:latest", root)
    assert "is not the uncompressed layer" in str(e.value)
    assert os.listdir(os.path.join(root, "layers")) == [] == os.listdir(os.path.join(root, "tmp"))


def test_load_files_and_stdin(root, archives):
    """load reads a docker-archive or an oci-archive, from a file or from
    a pipe (spooled to the store's tmp dir, removed after)."""
    import io
    assert pull.load(archives["docker"], root)[0][0] == ["localhost/dbox:1"]
    with open(archives["oci"], "rb") as f:
        loaded = pull.load("-", root, stdin=io.BytesIO(f.read()))
    assert loaded[0][0] == ["localhost/stdin:latest"]
    assert os.listdir(os.path.join(root, "tmp")) == []
    with pytest.raises(LauncherError) as e:
        pull.load("/etc/hostname", root)
    assert "not a valid image archive" in str(e.value)


def test_tampered_blob_is_refused(root, busybox_layout, tmp_path):
    """A layer blob altered after the layout was written (its descriptor
    digest no longer matches): skopeo or our check refuses it."""
    bad = tmp_path / "tampered"
    shutil.copytree(busybox_layout, bad)
    blobs = bad / "blobs" / "sha256"
    big = max(blobs.iterdir(), key=lambda p: p.stat().st_size)
    os.chmod(big, 0o644)
    with open(big, "r+b") as f:
        f.seek(2000)
        f.write(b"\xff\xfe tampered")
    with pytest.raises(LauncherError) as e:
        pull.pull(f"oci:{bad}:latest", root)
    assert "digest" in str(e.value).lower()
    assert os.listdir(os.path.join(root, "layers")) == []


def test_layouts_made_by_layout_with(tmp_path, root):
    """The crafted-layout helper makes pullable images (used by other tests)."""
    layout = layout_with(tmp_path / "one", [Tar().file("a", b"b").bytes()])
    assert pull.pull(f"oci:{layout}:latest", root).names == ["localhost/one:latest"]


def test_skopeo_temp_files_stay_in_the_store(root, tmp_path, monkeypatch):
    """skopeo's temp dirs (it extracts an oci-archive into $TMPDIR, and
    leaves the dir when it fails) land in the pull's work dir, removed with
    it, never in the machine's /var/tmp."""
    spy = tmp_path / "machine-tmp"
    spy.mkdir()
    monkeypatch.setenv("TMPDIR", str(spy))
    with pytest.raises(LauncherError):
        pull.pull(f"oci-archive:{tmp_path / 'missing.tar'}", root)
    assert list(spy.iterdir()) == [] and os.listdir(os.path.join(root, "tmp")) == []
