"""The state root is trusted only when only the caller can change it, and
nothing under it is reached through a symlink.

Root keeps records, locks and bind mounts there: a state directory others
can write, or a symlink planted in it, must never make root read, write,
chmod or empty a file elsewhere. A relative or symlinked
LAUNCHER_STATE_DIR is resolved once, so teardown finds its mounts."""
import os
import re
import subprocess

import pytest

from launcher_env import Launcher, proc_mounts, wait_for

NOBODY = 65534


def nsfs_mounts(under):
    """The nsfs mounts (pinned namespaces) at or below a directory."""
    under = os.path.realpath(under)
    with open("/proc/self/mountinfo") as f:
        return [m for m in (ln.split()[4] for ln in f if " - nsfs " in ln)
                if m.startswith(under + "/")]


def one_line_125(r, *fragments):
    assert r.returncode == 125, (r.returncode, r.stdout, r.stderr)
    assert re.fullmatch(r"launcher: [^\n]+\n", r.stderr), r.stderr
    for f in fragments:
        assert f in r.stderr, r.stderr


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722])
def test_a_state_dir_others_can_write_is_refused(tmp_path, mode):
    """A state dir writable by group or others: one line, exit 125, nothing
    created in it and its mode left as it was (never chmodded)."""
    state = tmp_path / "shared"
    state.mkdir()
    os.chmod(state, mode)
    lx = Launcher(state)
    for args in (["ps"], ["run", "-d", "--", "true"], ["gc"]):
        one_line_125(lx.run(*args), "writable by others")
    assert os.listdir(state) == [] and (os.stat(state).st_mode & 0o777) == mode


def test_a_state_dir_owned_by_another_user_is_refused(tmp_path):
    """A state dir owned by someone else (here: nobody) is refused."""
    state = tmp_path / "theirs"
    state.mkdir(mode=0o700)
    os.chown(state, NOBODY, NOBODY)
    one_line_125(Launcher(state).run("ps"), "owned by uid 65534")
    assert os.listdir(state) == []


def test_a_state_dir_below_a_directory_others_can_write_is_refused(tmp_path):
    """A parent that others can write without the sticky bit could swap the
    state dir: refused (a sticky /tmp is fine: every other test runs there)."""
    parent = tmp_path / "open"
    parent.mkdir()
    os.chmod(parent, 0o777)
    one_line_125(Launcher(parent / "state").run("ps"), "its parent", "not sticky")


def test_a_symlinked_state_dir_to_someone_elses_directory_is_refused(tmp_path):
    """LAUNCHER_STATE_DIR through a symlink is resolved, and the target must
    pass the same checks: a link to another user's directory is refused,
    and that directory is left alone."""
    target = tmp_path / "victim"
    target.mkdir(mode=0o755)
    (target / "keep").write_text("x")
    os.chown(target, NOBODY, NOBODY)
    os.symlink(target, tmp_path / "link")
    one_line_125(Launcher(tmp_path / "link").run("ps"), "owned by uid 65534")
    assert os.listdir(target) == ["keep"] and (os.stat(target).st_mode & 0o777) == 0o755


def test_a_planted_tmp_symlink_never_empties_its_target(lx, tmp_path):
    """`.tmp-ID` entries are what a killed launcher leaves, and housekeeping
    deletes them: a planted `.tmp-x` symlink to a directory is unlinked, the
    directory and its files stay."""
    lx.ok("ps")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("data")
    os.symlink(victim, os.path.join(lx.statedir, ".tmp-x"))
    os.symlink(victim / "precious", os.path.join(lx.statedir, ".tmp-y"))
    lx.ok("ps")
    lx.ok("run", "--", "true")
    assert (victim / "precious").read_text() == "data"
    assert not os.path.lexists(os.path.join(lx.statedir, ".tmp-x"))


def test_planted_symlinks_in_a_pod_directory_are_never_followed(lx, tmp_path):
    """A pod's record replaced by a symlink to a secret: `ps` shows the pod
    corrupt without reading the secret, `rm -f` removes the link, not the
    secret. A log replaced by a symlink is never written through."""
    secret = tmp_path / "secret"
    secret.write_text("root's secret\n")
    pod = lx.ok("run", "-d", "--name", "linked", "--restart", "Always", "--backoff", "0.1",
                "--", "sh", "-c", "echo out; sleep 0.3").strip()
    st = lx.inspect(pod)
    log = os.path.join(st["dir"], "ctr-sh.log")
    assert wait_for(lambda: os.path.exists(log))
    os.unlink(log)
    os.symlink(secret, log)   # the next run's output must not land in the secret
    assert wait_for(lambda: lx.inspect(pod)["state"] != "running", 15)
    assert secret.read_text() == "root's secret\n"
    lx.ok("rm", "-f", pod)
    other = lx.ok("run", "-d", "--name", "other", "--", "sleep", "60").strip()
    record = os.path.join(lx.inspect(other)["dir"], "pod.json")
    lx.ok("stop", other)
    os.unlink(record)
    os.symlink(secret, record)
    [row] = lx.ps()
    assert row["state"] == "corrupt" and "secret" not in row["error"]
    lx.ok("rm", "-f", other)
    assert secret.read_text() == "root's secret\n"
    assert lx.pod_files() == []


@pytest.mark.parametrize("how", ["relative", "symlinked"])
def test_a_relative_or_symlinked_state_dir_tears_down(tmp_path, how):
    """LAUNCHER_STATE_DIR=st (relative) or a path through a symlink (as
    /var/run -> /run): a pod with a network pins its netns (one without pins
    nothing), rm unpins it, and ps, run and gc keep working."""
    real = tmp_path / "real"
    if how == "relative":
        lx = Launcher("st")
        cwd = str(tmp_path)
        path = tmp_path / "st"
    else:
        real.mkdir(mode=0o700)
        os.symlink(real, tmp_path / "alias")
        lx = Launcher(tmp_path / "alias" / "state")
        cwd = None
        path = real / "state"
    kw = {"cwd": cwd} if cwd else {}
    before_proc = proc_mounts()
    try:
        r = lx.run("run", "-d", "--name", "unpinned", "--", "sleep", "60", **kw)
        assert r.returncode == 0, r.stderr
        assert nsfs_mounts(tmp_path) == []    # no network: nothing to pin
        r = lx.run("run", "-d", "--name", "pinned", "--network", "bridge", "--", "sleep", "60",
                   **kw)
        assert r.returncode == 0, r.stderr
        assert [os.path.basename(m).split(".")[1] for m in nsfs_mounts(path)] == ["net"], \
            nsfs_mounts(tmp_path)
        for args in (["rm", "-f", "pinned", "unpinned"], ["ps"], ["run", "--", "true"], ["gc"]):
            r = lx.run(*args, **kw)
            assert r.returncode == 0, (args, r.stderr)
        assert nsfs_mounts(tmp_path) == [] and proc_mounts() == before_proc
    finally:   # whatever failed, leave no pod, process or mount behind
        lx.run("rm", "-f", "pinned", "unpinned", **kw)
        for pid in lx.procs():
            os.kill(pid, 9)
        for m in nsfs_mounts(tmp_path):
            subprocess.run(["umount", "-l", m])
        subprocess.run(["umount", "-l", str(path / ".mounts")], capture_output=True)
    assert not lx.procs()
