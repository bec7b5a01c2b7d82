"""Root never runs code planted in the directory a pod was started from.

A detached pod's monitor re-enters Python to decide, and --pause
python|cffi starts Python too. `python -m` would put the current directory
first on sys.path, so a `launcher/` or `pause/` package planted in a
world-writable start directory (`cd /tmp && launcher run -d ...`) would run
as root. Every Python the launcher starts is isolated and finds only the
launcher's own code; the supervisor, the monitor and pause work in /."""
import os
import subprocess
import sys

import pytest

from launcher_env import wait_for

LAUNCHER = os.path.join(os.path.dirname(sys.executable), "launcher")   # the console script

pytestmark = pytest.mark.skipif(not os.access(LAUNCHER, os.X_OK),
                                reason="the launcher console script is not installed in the venv")


def plant(where, marker):
    """World-writable `where` holding launcher/ and pause/ packages (and the
    submodules the launcher re-enters) that record their import in marker."""
    code = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
    for pkg in ("launcher", "launcher/supervisor", "pause"):
        os.makedirs(where / pkg, exist_ok=True)
        (where / pkg / "__init__.py").write_text(code)
    for mod in ("launcher/supervisor/handoff.py", "pause/__main__.py", "pause/reference.py"):
        (where / mod).write_text(code)
    os.chmod(where, 0o1777)


@pytest.mark.parametrize("pause", ["c", "python", "cffi"])
def test_a_planted_package_in_the_start_directory_never_runs(lx, tmp_path, pause):
    """A pod started from a directory holding planted packages: its monitor
    resumes the Python supervisor several times (a restarting container),
    pause runs in Python for --pause python|cffi, and nothing planted is
    ever imported; the supervisor and pause work in /."""
    evil, marker = tmp_path / "evil", tmp_path / "imported"
    plant(evil, marker)
    # the console script, as a user runs it (`python -m launcher` would itself
    # import from the working directory: that is the user's own choice)
    r = subprocess.run([LAUNCHER, "run", "-d", "--name", "planted", "--pause", pause,
                        "--restart", "Always", "--backoff", "0.05", "--", "sh", "-c", "sleep 0.1"],
                       cwd=str(evil), env=lx.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: lx.inspect("planted")["containers"][0]["restarts"] >= 3, 20), \
        lx.inspect("planted")
    st = lx.inspect("planted")
    assert st["supervisor"]["kind"] in ("monitor", "python")
    for pid in (st["supervisor"]["pid"], st["pause"]["pid"]):
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
    assert not marker.exists(), marker.read_text()
    lx.ok("rm", "-f", "planted")
    assert not marker.exists(), marker.read_text()
