"""Fixtures of the integration tests: `lx`, a Launcher with its own state
dir whose teardown proves the test's pods left nothing behind."""
import pytest

from launcher_env import Launcher, proc_mounts


@pytest.fixture
def lx(tmp_path):
    """A Launcher with its own state dir; teardown checks for leaks."""
    mounts = proc_mounts()
    launcher = Launcher(tmp_path / "state")
    yield launcher
    problems = launcher.cleanup()
    if proc_mounts() != mounts:
        problems.append(f"proc mounts changed: {proc_mounts()} vs {mounts}")
    assert not problems, problems
