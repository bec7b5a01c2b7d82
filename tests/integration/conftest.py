"""Fixtures of the integration tests: `lx`, a Launcher with its own state
dir whose teardown proves the test's pods left nothing behind, and the
session's image root with the test images loaded once (busybox, built
offline from Debian's busybox-static, as localhost/busybox:latest and
docker.io/library/busybox:1.28, the tag the examples and the seed's pods
use)."""
import os

import pytest

from launcher_env import Launcher, proc_mounts

BUSYBOX_NAMES = ("localhost/busybox:latest", "docker.io/library/busybox:1.28",
                 "docker.io/library/busybox:latest")


@pytest.fixture(scope="session")
def image_root(tmp_path_factory):
    """An image root for the session's pods, with busybox in it."""
    from launcher.images import pull, testimages
    root = tmp_path_factory.mktemp("images")
    os.chmod(root, 0o700)
    layout = testimages.busybox_image()
    pulled = pull.pull(f"oci:{layout}:latest", root=str(root))
    from launcher.images.store import Store
    with Store(str(root)) as store, store.locked():
        tags = store.tags()
        for name in BUSYBOX_NAMES:
            tags[name] = pulled.image_id
        store.write_tags(tags)
    return root


@pytest.fixture
def lx(tmp_path, image_root):
    """A Launcher with its own state dir; teardown checks for leaks."""
    mounts = proc_mounts()
    launcher = Launcher(tmp_path / "state", image_root)
    yield launcher
    problems = launcher.cleanup()
    if proc_mounts() != mounts:
        problems.append(f"proc mounts changed: {proc_mounts()} vs {mounts}")
    assert not problems, problems
