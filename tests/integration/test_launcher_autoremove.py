"""`run --rm`: a detached pod that removes itself when it is finished, as
`podman run -d --rm` does; a foreground pod always removes itself.

Each pod's removal is checked by what is left: no `ps` entry, no directory
in the state root, its name free again, and (the `lx` fixture's teardown)
no process, cgroup or mount of the pod."""
import os

import pytest

from launcher_env import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="launcher needs root (namespaces)")

MONITORS = ["c", "python"]


def _env(lx, monitor):
    return dict(lx.env, LAUNCHER_MONITOR="python") if monitor == "python" else None


def _gone(lx, pod_id, name):
    """True once the pod is removed: no ps row, no directory, its name free."""
    return (pod_id not in lx.ok("ps", "-q").split()
            and not os.path.exists(os.path.join(lx.statedir, pod_id))
            and not os.path.lexists(os.path.join(lx.statedir, ".names", name)))


@pytest.mark.parametrize("monitor", MONITORS)
def test_a_finished_rm_pod_removes_itself(lx, monitor):
    """A detached --rm pod is in ps (auto_remove in its record) while it
    runs, and gone, name and all, once its container exits; the same name
    can be used again at once."""
    pod = lx.ok("run", "-d", "--rm", "--name", "ar", "--", "sh", "-c", "sleep 1; exit 3",
                env=_env(lx, monitor)).strip()
    st = lx.inspect(pod)
    assert st["state"] == "running" and st["spec"]["auto_remove"] is True
    assert wait_for(lambda: _gone(lx, pod, "ar"), 15), lx.ps()
    again = lx.ok("run", "-d", "--name", "ar", "--", "true").strip()
    assert again != pod
    assert wait_for(lambda: lx.inspect(again)["state"] == "exited", 10)
    assert lx.inspect(again)["spec"]["auto_remove"] is False   # the default: kept
    lx.ok("rm", "ar")


@pytest.mark.parametrize("monitor", MONITORS)
def test_stop_of_an_rm_pod_removes_it(lx, monitor):
    """stop ends a --rm pod (TERM, grace, KILL) and returns once its
    supervisor is gone, which is after the pod was removed."""
    pod = lx.ok("run", "-d", "--rm", "--grace", "1", "--name", "st", "--", "sleep", "60",
                env=_env(lx, monitor)).strip()
    assert lx.ok("stop", "st") == "st\n"
    assert _gone(lx, pod, "st"), lx.ps()


@pytest.mark.parametrize("monitor", MONITORS)
def test_rm_force_of_an_rm_pod(lx, monitor):
    """rm -f of a running --rm pod, whichever of rm and the pod's own
    supervisor gets to the removal first, exits 0 and leaves nothing."""
    pod = lx.ok("run", "-d", "--rm", "--grace", "1", "--name", "rf", "--", "sleep", "60",
                env=_env(lx, monitor)).strip()
    assert lx.ok("rm", "-f", "rf") == "rf\n"
    assert wait_for(lambda: _gone(lx, pod, "rf"), 10), lx.ps()


def test_foreground_rm_is_what_run_does_anyway(lx):
    """--rm in the foreground changes nothing: the workload's exit code,
    and no pod left."""
    r = lx.run("run", "--rm", "--", "sh", "-c", "exit 5")
    assert r.returncode == 5, r.stderr
    assert lx.ok("ps", "-q") == ""


@pytest.mark.parametrize("policy", ["OnFailure", "Always"])
def test_rm_with_a_restart_policy_is_refused(lx, policy):
    """As podman refuses --rm with --restart: one line, 125, nothing made."""
    r = lx.run("run", "-d", "--rm", "--restart", policy, "--", "true")
    assert r.returncode == 125 and r.stdout == ""
    assert r.stderr == (f"launcher: run: --rm conflicts with --restart {policy} (as in podman): "
                        "a pod that restarts its containers is never removed by itself\n")
    assert lx.ok("ps", "-q") == ""
