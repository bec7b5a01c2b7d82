"""The image verbs speak podman's language: pull prints the id, load
`Loaded image: NAME`, images the REPOSITORY TAG IMAGE ID CREATED SIZE
table or a JSON list, rmi Untagged/Deleted lines with podman's exit codes,
image inspect a JSON list, image prune what it removed; bad usage is one
line and exit 125."""
import io
import json
import re

import pytest

from image_helpers import run_verb, tree_counts
from launcher.commands import image, images, load, pull, rmi
from launcher.images import humanize


def test_pull_prints_the_image_id(root, busybox_layout):
    """pull prints the full image id, and nothing else on stdout."""
    r = run_verb(pull, ["--image-root", root, f"oci:{busybox_layout}:latest"])
    assert r.code == 0 and re.fullmatch(r"[0-9a-f]{64}\n", r.out)


def test_images_table_and_json(root, busybox_layout, archives):
    """The table has podman's columns, a 12-hex id, a human size; one row
    per name; --format json is one object per image with all its names."""
    run_verb(pull, ["--image-root", root, f"oci:{busybox_layout}:latest"])
    run_verb(load, ["--image-root", root, archives["docker"]])
    r = run_verb(images, ["--image-root", root])
    lines = r.out.splitlines()
    assert r.code == 0 and re.match(r"REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$", lines[0])
    rows = [re.split(r" {2,}", line.strip()) for line in lines[1:]]
    assert sorted(row[0] for row in rows) == ["localhost/busybox", "localhost/dbox"]
    for repo, tag, short, created, size in rows:
        assert re.fullmatch(r"[0-9a-f]{12}", short) and created.endswith(" ago")
        assert re.fullmatch(r"[0-9.]+ (kB|MB)", size)
    data = json.loads(run_verb(images, ["--image-root", root, "--format", "json"]).out)
    assert len(data) == 1 and data[0]["Names"] == ["localhost/busybox:latest", "localhost/dbox:1"]
    assert data[0]["Id"].startswith(rows[0][2]) and data[0]["Size"] > 1_000_000
    quiet = run_verb(images, ["--image-root", root, "-q"]).out.split()
    assert quiet == [rows[0][2]]


def test_load_from_a_pipe_prints_names(root, archives):
    """load - reads stdin; each image is one `Loaded image:` line."""
    with open(archives["docker"], "rb") as f:
        r = run_verb(load, ["--image-root", root, "-"], stdin=io.BytesIO(f.read()))
    assert r.code == 0 and r.out == "Loaded image: localhost/dbox:1\n"


def test_rmi_lines_and_exit_codes(root, busybox_layout):
    """rmi prints Untagged then Deleted; an unknown image exits 1 with one line."""
    pulled = run_verb(pull, ["--image-root", root, f"oci:{busybox_layout}:latest"]).out.strip()
    r = run_verb(rmi, ["--image-root", root, "busybox"])
    assert r.code == 0 and r.out == f"Untagged: localhost/busybox:latest\nDeleted: {pulled}\n"
    r = run_verb(rmi, ["--image-root", root, "busybox"])
    assert r.code == 1 and r.err == "launcher: 'busybox': image not known"


def test_rmi_refuses_a_held_image_with_exit_2(root, busybox_layout):
    """With the lead's is_live saying the pod exists, rmi exits 2; -f untags."""
    from launcher.images import ensure
    ensure.ensure(f"oci:{busybox_layout}:latest", None, root, hold_for="web-1")
    r = run_verb(rmi, ["--image-root", root, "busybox"], is_live=lambda pod: True)
    assert r.code == 2 and "in use by pod web-1" in r.err
    r = run_verb(rmi, ["--image-root", root, "-f", "busybox"], is_live=lambda pod: True)
    assert r.code == 0 and r.out == "Untagged: localhost/busybox:latest\n"


def test_image_inspect_is_a_json_list(root, layered_layout):
    """image inspect gives podman's fields; the lower dirs are the store's
    layer directories, topmost first; an unknown name fails after printing."""
    run_verb(pull, ["--image-root", root, f"oci:{layered_layout}:latest"])
    r = run_verb(image, ["inspect", "--image-root", root, "layered"])
    (doc,) = json.loads(r.out)
    assert doc["RepoTags"] == ["localhost/layered:latest"] and len(doc["Id"]) == 64
    assert len(doc["RootFS"]["Layers"]) == 3 and doc["Config"]["Cmd"] == ["sh"]
    lower = doc["GraphDriver"]["Data"]["LowerDir"].split(":")
    assert lower[-1].endswith(doc["RootFS"]["Layers"][0][7:])
    r = run_verb(image, ["inspect", "--image-root", root, "layered", "nosuch"])
    assert r.code == 125 and len(json.loads(r.out)) == 1 and "image not known" in r.err


def test_image_prune_prints_what_it_removed(root, busybox_layout):
    """prune -a prints the removed image ids and layers; then the store is empty."""
    image_id = run_verb(pull, ["--image-root", root, f"oci:{busybox_layout}:latest"]).out.strip()
    r = run_verb(image, ["prune", "--image-root", root, "-a"])
    lines = r.out.splitlines()
    assert r.code == 0 and lines[0] == image_id and lines[1].startswith("Deleted layer: sha256:")
    c = tree_counts(root)
    assert c["images"] == c["layers"] == c["blobs/sha256"] == []


def test_image_aliases(root, busybox_layout):
    """image ls / image pull / image rm are images / pull / rmi."""
    assert run_verb(image, ["pull", "--image-root", root, f"oci:{busybox_layout}"]).code == 0
    assert "localhost/busybox" in run_verb(image, ["ls", "--image-root", root]).out
    assert run_verb(image, ["rm", "--image-root", root, "busybox"]).out.startswith("Untagged:")


@pytest.mark.parametrize("module, argv, why", [
    (pull, [], "exactly one IMAGE"), (pull, ["a", "b"], "exactly one IMAGE"),
    (pull, ["--platform"], "needs a value"), (pull, ["--bogus", "x"], "unknown option"),
    (images, ["--format", "yaml"], "table or json"), (images, ["extra"], "unexpected"),
    (rmi, [], "at least one IMAGE"), (rmi, ["-a", "x"], "takes no IMAGE"),
    (image, [], "subcommand"), (image, ["frob"], "unknown subcommand"),
    (image, ["inspect"], "at least one"), (load, ["a", "b"], "one FILE"),
    (pull, ["--image-root=", "x"], "needs a directory"),
])
def test_bad_usage_is_one_line(module, argv, why):
    """Bad usage: one `launcher: ...` line, exit 125, nothing on stdout."""
    r = run_verb(module, argv)
    assert r.code == 125 and why in r.err and "\n" not in r.err and r.out == ""


def test_bad_references_are_one_line(root):
    """A malformed image name reaches the user as one line."""
    r = run_verb(pull, ["--image-root", root, "Bad:Name:x"])
    assert r.code == 125 and r.err.startswith("launcher: invalid image reference 'Bad:Name:x'")


def test_help(root):
    """-h prints the usage and exits 0."""
    for module in (pull, load, images, rmi, image):
        r = run_verb(module, ["-h"])
        assert r.code == 0 and r.out.startswith("usage: launcher ")


@pytest.mark.parametrize("n, text", [(0, "0 B"), (123, "123 B"), (18276, "18.3 kB"),
                                     (4863000, "4.86 MB"), (135308800, "135 MB"),
                                     (2 * 10 ** 9, "2 GB")])
def test_sizes_as_podman_prints_them(n, text):
    """Sizes use decimal units with three significant digits, as podman."""
    assert humanize.size(n) == text


@pytest.mark.parametrize("seconds, text", [(0.5, "Less than a second"), (1, "1 second"),
                                           (59, "59 seconds"), (60, "About a minute"),
                                           (3600, "About an hour"), (3 * 86400, "3 days"),
                                           (20 * 86400, "2 weeks"), (90 * 86400, "3 months"),
                                           (3 * 365 * 86400, "3 years")])
def test_ages_as_podman_prints_them(seconds, text):
    """Ages are go-units' HumanDuration."""
    assert humanize.duration(seconds) == text


def test_untrusted_image_root_is_refused(tmp_path):
    """An image root others can write is refused in one line, untouched."""
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    r = run_verb(images, ["--image-root", str(loose)])
    assert r.code == 125 and "image root" in r.err and "writable by others" in r.err
    assert list(loose.iterdir()) == []
