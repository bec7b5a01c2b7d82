"""Image references and transports are parsed and normalized as podman
does, and every malformed input is one LauncherError line."""
import pytest
from hypothesis import given, settings, strategies as st

from launcher.errors import LauncherError
from launcher.images import reference
from launcher.images.ensure import ALWAYS, IF_NOT_PRESENT, default_policy

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, normal", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.28", "docker.io/library/busybox:1.28"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
    ("user/app:v1", "docker.io/user/app:v1"),
    ("localhost/web:1", "localhost/web:1"),
    ("localhost:5000/web", "localhost:5000/web:latest"),
    ("quay.io/a/b/c:1.0-rc_2", "quay.io/a/b/c:1.0-rc_2"),
    (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
    (f"busybox:1@{DIGEST}", f"docker.io/library/busybox:1@{DIGEST}"),
    ("[::1]:5000/x", "[::1]:5000/x:latest"),
])
def test_normalizes_like_podman(text, normal):
    """Short names get docker.io and library/, no tag means :latest, a
    digest-only reference keeps no tag."""
    assert reference.normalize(text) == normal


@pytest.mark.parametrize("text, why", [
    ("", "empty"), ("Busybox", "lowercase"), ("busybox:", "invalid tag"),
    ("busybox:-x", "invalid tag"), ("a//b", "component"), ("busybox@sha256:12", "digest"),
    ("bad host!/x", "whitespace"), ("x\ny", "control"), ("docker://busybox", "transport"),
    ("a" * 300, "longer than"),
])
def test_bad_references_are_one_line(text, why):
    """Each malformed reference is one LauncherError line quoting the input."""
    with pytest.raises(LauncherError) as e:
        reference.parse_reference(text)
    assert why in str(e.value) and "\n" not in str(e.value) and repr(text)[:20] in str(e.value)


def test_short_names_look_at_localhost_first():
    """A short name tries localhost/NAME (built or loaded here), then docker.io."""
    ref = reference.parse_reference("web:1")
    assert [str(r) for r in ref.local_candidates()] == ["localhost/web:1",
                                                         "docker.io/library/web:1"]
    assert [str(r) for r in reference.parse_reference("quay.io/x:1").local_candidates()] == \
        ["quay.io/x:1"]


@pytest.mark.parametrize("text, transport, skopeo_arg", [
    ("busybox", "docker", "docker://docker.io/library/busybox:latest"),
    ("docker://quay.io/x/y:2", "docker", "docker://quay.io/x/y:2"),
    ("oci:/srv/layout", "oci", "oci:/srv/layout"),
    ("oci:/srv/layout:latest", "oci", "oci:/srv/layout:latest"),
    ("oci:/srv/layout:localhost/a:1", "oci", "oci:/srv/layout:localhost/a:1"),
    ("oci-archive:/tmp/a.tar:v1", "oci-archive", "oci-archive:/tmp/a.tar:v1"),
    ("docker-archive:/tmp/d.tar", "docker-archive", "docker-archive:/tmp/d.tar"),
    ("docker-archive:/tmp/d.tar:web:1", "docker-archive", "docker-archive:/tmp/d.tar:web:1"),
    ("docker-archive:/tmp/d.tar:@1", "docker-archive", "docker-archive:/tmp/d.tar:@1"),
    ("containers-storage:localhost/x:1", "containers-storage",
     "containers-storage:localhost/x:1"),
    ("containers-storage:[vfs@/g+/r]localhost/x:1", "containers-storage",
     "containers-storage:[vfs@/g+/r]localhost/x:1"),
])
def test_sources(text, transport, skopeo_arg):
    """Every supported transport parses, and skopeo gets it back intact."""
    src = reference.parse_source(text)
    assert src.transport == transport and src.skopeo_arg() == skopeo_arg


def test_store_names_of_sources():
    """The name a source gives: the reference; an OCI bare tag tags
    localhost/BASENAME; a full OCI name is used as it is."""
    assert str(reference.parse_source("oci:/x/busybox:latest").local_name()) == \
        "localhost/busybox:latest"
    assert str(reference.parse_source("oci-archive:/x/My_Box.tar:1").local_name()) == \
        "localhost/my_box:1"
    assert str(reference.parse_source("oci:/x/l:localhost/web:2").local_name()) == \
        "localhost/web:2"
    assert reference.parse_source("oci:/x/l").local_name() is None


@pytest.mark.parametrize("text, why", [
    ("dir:/x", "not supported"), ("oci:", "needs a path"), ("oci:/x:bad name", "invalid image"),
    ("docker-archive:/x:@a", "index"), ("containers-storage:", "needs an image"),
    ("containers-storage:[vfs@/g", "unterminated"), ("docker:busybox", "docker://"),
])
def test_bad_sources(text, why):
    """A bad source is one line saying what is wrong with it."""
    with pytest.raises(LauncherError) as e:
        reference.parse_source(text)
    assert why in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("text, policy", [
    ("busybox", ALWAYS), ("busybox:latest", ALWAYS), ("busybox:1.28", IF_NOT_PRESENT),
    (f"busybox@{DIGEST}", IF_NOT_PRESENT), (f"busybox:latest@{DIGEST}", ALWAYS),
    ("oci:/x:latest", IF_NOT_PRESENT),
])
def test_default_pull_policy(text, policy):
    """Kubernetes' default: Always for :latest or no tag, else IfNotPresent."""
    assert default_policy(text) == policy


NAMEISH = st.text(alphabet="abcAB09._-/:@ \n", max_size=40) | \
    st.from_regex(r"[a-z0-9]{1,8}(/[a-z0-9._-]{1,8}){0,2}(:[A-Za-z0-9_.-]{1,10})?", fullmatch=True)


@settings(max_examples=400)
@given(NAMEISH)
def test_random_references_never_crash(text):
    """Any string either parses or raises LauncherError (one line), and
    normalizing is idempotent."""
    try:
        normal = reference.normalize(text)
    except LauncherError as e:
        assert "\n" not in str(e)
        return
    assert reference.normalize(normal) == normal


@settings(max_examples=300)
@given(st.sampled_from(["", "oci:", "oci-archive:", "docker-archive:", "containers-storage:",
                        "docker://", "dir:"]), st.text(max_size=30))
def test_random_sources_never_crash(prefix, rest):
    """Any pull argument either parses or raises LauncherError, one line."""
    text = prefix + rest
    try:
        src = reference.parse_source(text)
    except LauncherError as e:
        assert "\n" not in str(e)
        return
    assert src.transport in reference.TRANSPORTS
