"""Fixtures for the image store tests: the test images, built offline once
per session and cached across runs (launcher/images/testimages.py), an
empty image root per test, archives made from the layouts with skopeo, an
isolated podman (vfs storage under the session's tmp dir, never the
machine's). Helpers the tests import are in image_helpers.py."""
import os
import shutil
import subprocess

import pytest

from image_helpers import Podman, podman_env
from launcher.errors import LauncherError
from launcher.images import testimages


@pytest.fixture(autouse=True, scope="session")
def _skopeo():
    """Every image test needs skopeo (a Debian package of the set-up)."""
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed (apt-get install skopeo)")


@pytest.fixture(scope="session")
def busybox_layout():
    """The busybox OCI layout (FROM scratch + busybox --install -s)."""
    return testimages.busybox_image()


@pytest.fixture(scope="session")
def layered_layout():
    """The three-layer image: busybox, lower, upper with whiteouts and opaque dirs."""
    return testimages.multilayer_image()


@pytest.fixture(scope="session")
def foreign_layout():
    """An index holding only an image for another platform."""
    return testimages.foreign_index_image()


@pytest.fixture(scope="session")
def nginx_layout():
    """Debian + nginx-light through mmdebstrap: slow the first time (about
    a minute), cached after; skipped when the package mirror is unreachable."""
    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed")
    try:
        return testimages.nginx_image()
    except (LauncherError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"cannot build the nginx image here: {e}")


@pytest.fixture(scope="session")
def archives(tmp_path_factory, busybox_layout):
    """docker-archive and oci-archive files of the busybox image."""
    d = tmp_path_factory.mktemp("archives")
    return {"docker": testimages.docker_archive(busybox_layout, str(d / "dbox.tar"),
                                                "localhost/dbox:1"),
            "oci": testimages.oci_archive(busybox_layout, str(d / "obox.tar"))}


@pytest.fixture
def root(tmp_path):
    """A fresh, empty image root."""
    return str(tmp_path / "images")


@pytest.fixture(scope="session")
def podman(tmp_path_factory):
    """The isolated podman holding localhost/podbox:1, built FROM scratch
    with busybox (COPY only, no container runs); destroyed at the end."""
    reason = podman_env.unusable_reason()
    if reason:
        pytest.skip(reason)
    engine = Podman(str(tmp_path_factory.mktemp("podman")))
    try:
        ctx = os.path.join(engine.base, "ctx")
        os.makedirs(ctx)
        shutil.copy(testimages.static_busybox(), os.path.join(ctx, "busybox"))
        with open(os.path.join(ctx, "hello"), "w") as f:
            f.write("built by podman\n")
        with open(os.path.join(ctx, "Containerfile"), "w") as f:
            f.write("FROM scratch\nCOPY busybox /bin/busybox\nCOPY hello /etc/hello\n"
                    'CMD ["/bin/busybox", "sh"]\n')
        engine.run("build", "--pull=never", "-t", "localhost/podbox:1", ctx)
        yield engine
    finally:
        engine.destroy()
