"""A layer is untrusted input: no entry may write outside the layer
directory, by '..', an absolute path, a symlink or a hard link; a layer
that tries is rejected with one line naming the entry, and nothing of it
stays (in a bare unpack, nor in the store after a pull)."""
import os

import pytest

from image_helpers import layout_with, tree_counts
from launcher.errors import LauncherError
from launcher.images import pull, unpack
from launcher.images.testimages import Tar


@pytest.fixture
def outside(tmp_path):
    """A directory next to the layer's, with a file an attacker wants."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim").write_bytes(b"precious\n")
    return d


def untouched(outside):
    return sorted(os.listdir(outside)) == ["victim"] and \
        (outside / "victim").read_bytes() == b"precious\n"


def unpack_bytes(tmp_path, data, name="dest"):
    """Unpacks tar bytes into tmp_path/name; returns Stats."""
    tar = tmp_path / f"{name}.tar"
    tar.write_bytes(data)
    fd = os.open(tar, os.O_RDONLY)
    pfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return unpack.unpack(fd, pfd, name)
    finally:
        os.close(fd)
        os.close(pfd)


def rejected(tmp_path, data, entry, why):
    """Asserts the unpack of data is rejected naming `entry`, and that the
    destination directory is gone."""
    with pytest.raises(unpack.LayerError) as e:
        unpack_bytes(tmp_path, data)
    msg = str(e.value)
    assert "\n" not in msg and why in msg, msg
    if entry is not None:
        assert repr(entry) in msg, msg
    assert not (tmp_path / "dest").exists()
    return msg


def test_dotdot_is_rejected(tmp_path, outside):
    """An entry climbing out with '..' is rejected; the file outside is untouched."""
    data = Tar().dir("a").file("a/ok", b"x").file("../outside/victim", b"pwned").bytes()
    rejected(tmp_path, data, "../outside/victim", "'..'")
    assert untouched(outside)


def test_dotdot_inside_a_path_is_rejected(tmp_path, outside):
    """'..' in the middle of a path is rejected too, even when it would
    stay inside the layer."""
    rejected(tmp_path, Tar().file("a/../../outside/victim", b"pwned").bytes(),
             "a/../../outside/victim", "'..'")
    rejected(tmp_path, Tar().dir("a").file("a/../b", b"x").bytes(), "a/../b", "'..'")
    assert untouched(outside)


def test_absolute_path_is_rejected(tmp_path, outside):
    """An absolute entry name is rejected, not written to the host."""
    victim = str(outside / "victim")
    rejected(tmp_path, Tar().file(victim, b"pwned").bytes(), victim, "absolute")
    assert untouched(outside)


def test_file_through_a_symlink_is_rejected(tmp_path, outside):
    """A symlink to outside, then a file below it: the symlink may exist,
    but the path through it is rejected."""
    data = Tar().symlink("evil", str(outside)).file("evil/victim", b"pwned").bytes()
    msg = rejected(tmp_path, data, "evil/victim", "symlink")
    assert "'evil'" in msg
    assert untouched(outside)


def test_relative_symlink_escape_is_rejected(tmp_path, outside):
    """A relative symlink climbing out (../outside) then a directory
    through it: rejected the same way."""
    data = Tar().dir("d").symlink("d/up", "../../outside").dir("d/up/new").bytes()
    rejected(tmp_path, data, "d/up/new", "symlink")
    assert untouched(outside)


def test_symlink_outside_is_kept_but_never_written_through(tmp_path, outside):
    """A symlink pointing outside is created as is; a later entry of the
    same name replaces the symlink itself, and nothing goes through it."""
    data = Tar().symlink("link", str(outside / "victim")).symlink("dirlink", str(outside)) \
        .file("link", b"replaced the symlink, not its target").bytes()
    unpack_bytes(tmp_path, data)
    dest = tmp_path / "dest"
    assert (dest / "link").is_file() and not (dest / "link").is_symlink()
    assert (dest / "link").read_bytes() == b"replaced the symlink, not its target"
    assert os.readlink(dest / "dirlink") == str(outside)
    assert untouched(outside)


@pytest.mark.parametrize("target, why", [
    ("../outside/victim", "'..'"),
    ("/etc/passwd", "absolute"),
    ("evil/victim", "symlink"),
    ("nothere", "not in the layer"),
    ("d", "directory"),
])
def test_hard_links_must_stay_inside(tmp_path, outside, target, why):
    """A hard link to outside, to an absolute path, through a symlink, to
    a missing file or to a directory is rejected; nothing links to the host."""
    data = Tar().symlink("evil", str(outside)).dir("d").hardlink("link", target).bytes()
    rejected(tmp_path, data, "link", why)
    assert untouched(outside) and os.stat(outside / "victim").st_nlink == 1


def test_hard_link_to_a_symlink_links_the_symlink(tmp_path, outside):
    """A hard link whose target is a symlink to outside links the symlink
    itself (linkat without following), so nothing outside gains a link."""
    data = Tar().symlink("s", str(outside / "victim")).hardlink("h", "s").bytes()
    unpack_bytes(tmp_path, data)
    h = tmp_path / "dest" / "h"
    assert h.is_symlink() and os.lstat(h).st_ino == os.lstat(tmp_path / "dest" / "s").st_ino
    assert os.stat(outside / "victim").st_nlink == 1


def test_huge_declared_size_is_rejected(tmp_path):
    """A header declaring a terabyte with a few bytes behind it is refused
    before anything is written."""
    data = Tar().file("small", b"ok").raw_header("big", 1 << 40, b"abc").bytes()
    msg = rejected(tmp_path, data, "big", "declares")
    assert str(1 << 40) in msg


def test_damaged_header_is_rejected(tmp_path):
    """A header with a bad checksum ends the unpack with an error, not a
    silently shorter layer."""
    good = bytearray(Tar().file("a", b"1").file("b", b"2").bytes())
    good[1024 + 10] ^= 0x55        # inside the second header's name
    rejected(tmp_path, bytes(good), None, "checksum")


def test_garbage_after_the_end_is_rejected(tmp_path):
    """Bytes other than zeros after the end-of-archive block are refused."""
    rejected(tmp_path, Tar().file("a", b"1").bytes() + b"junk" * 200, None, "after the last")


def test_not_a_tar_is_rejected(tmp_path):
    """Random bytes are not a layer."""
    rejected(tmp_path, os.urandom(2048), None, "invalid tar")


def test_sparse_files_are_refused(tmp_path):
    """A GNU sparse entry (the OCI spec says layers should not use them)
    is refused by name rather than unpacked wrong."""
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        ti = tarfile.TarInfo("sparse")
        ti.type = tarfile.GNUTYPE_SPARSE
        t.addfile(ti)
    rejected(tmp_path, buf.getvalue(), None, "sparse")


def test_rejected_layer_leaves_nothing_in_the_store(tmp_path, root, outside):
    """Pulled through the store, a hostile layer fails the pull with one
    line naming the layer and the entry; no layer, record, tag or temp
    directory stays, and the host file is untouched."""
    good = Tar().dir("etc").file("etc/hostname", b"box\n").bytes()
    bad = Tar().symlink("evil", str(outside)).file("evil/victim", b"pwned").bytes()
    layout = layout_with(tmp_path / "hostile", [good, bad])
    with pytest.raises(LauncherError) as e:
        pull.pull(f"oci:{layout}:latest", root)
    msg = str(e.value)
    assert "rejected" in msg and "'evil/victim'" in msg and "\n" not in msg
    counts = tree_counts(root)
    assert counts["images"] == [] and counts["tmp"] == [] and counts["blobs/sha256"] == []
    # the good lower layer may stay (complete, verified, reusable); the bad one must not
    import hashlib
    assert hashlib.sha256(bad).hexdigest() not in counts["layers"]
    assert not os.path.exists(os.path.join(root, "tags.json")) or \
        open(os.path.join(root, "tags.json")).read().count("sha256") == 0
    assert untouched(outside)


def test_absurd_depth_is_rejected(tmp_path):
    """A path 300 directories deep (one fd per level while unpacking) is
    refused in one line rather than running out of file descriptors."""
    deep = "/".join(["d"] * 300) + "/f"
    rejected(tmp_path, Tar().file(deep, b"x").bytes(), deep, "deeper than")
