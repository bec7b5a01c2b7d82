"""launcher.lifecycle: restart decisions, back-off, the kubelet's phase
table, init containers, sandbox recreation, and the Pod IP leak rule (a
completed pod never gets a new sandbox), with time passed in as numbers."""
import pytest

from launcher.errors import LauncherError
from launcher.lifecycle import (CREATE_SANDBOX, KILL_CONTAINER, REMOVE_SANDBOX,
                                START_CONTAINER, BackOff, ContainerStatus, PodLifecycle,
                                needs_new_sandbox, pod_phase, should_restart)


def drive(pod, now, exit_on_kill=137):
    """A fake launcher: performs every action step() returns, at once,
    until step() has nothing more; returns the actions done."""
    done = []
    while True:
        actions = pod.step(now)
        if not actions:
            return done
        for a in actions:
            done.append(a)
            if a.kind == CREATE_SANDBOX:
                pod.sandbox_created("sb%d" % (pod.sandboxes_created + 1), now)
            elif a.kind == START_CONTAINER:
                pod.container_started(a.container, now)
            elif a.kind == KILL_CONTAINER:
                pod.container_exited(a.container, exit_on_kill, now)
            elif a.kind == REMOVE_SANDBOX:
                pod.sandbox_removed(now)


def kinds(actions):
    return [(a.kind, a.container) for a in actions]


@pytest.mark.parametrize("policy,code,init,expected", [
    ("Always", 0, False, True), ("Always", 1, False, True),
    ("OnFailure", 0, False, False), ("OnFailure", 137, False, True),
    ("Never", 0, False, False), ("Never", 2, False, False),
    ("Always", 0, True, False), ("Always", 1, True, True),
    ("OnFailure", 1, True, True), ("Never", 1, True, False),
])
def test_should_restart_per_policy_and_exit_code(policy, code, init, expected):
    """Always restarts, OnFailure only non-zero, Never never; init containers
    run to completion (Always acts as OnFailure for them)."""
    assert should_restart(policy, code, init) is expected


def test_invalid_policy_is_a_launcher_error():
    """An unknown policy is refused with LauncherError."""
    with pytest.raises(LauncherError):
        should_restart("Sometimes", 0)
    with pytest.raises(LauncherError):
        PodLifecycle(["a"], policy="sometimes")


def test_backoff_doubles_to_the_cap_and_resets_after_a_long_run():
    """10, 20, 40, 80, 160, 300, 300 s; a run of 600 s resets to 10 s."""
    b = BackOff()
    assert [b.next(1) for _ in range(7)] == [10, 20, 40, 80, 160, 300, 300]
    assert b.next(600) == 10 and b.next(599) == 20
    with pytest.raises(LauncherError):
        BackOff(base=5, cap=1)


def st(state, code=None, starts=1):
    c = ContainerStatus("x", state=state, exit_code=code, starts=starts)
    return c


@pytest.mark.parametrize("policy,inits,ctrs,terminal,phase", [
    ("Always", [], [st("waiting", starts=0)], False, "Pending"),
    ("Always", [st("running")], [st("waiting", starts=0)], False, "Pending"),
    ("Never", [st("terminated", 1)], [st("waiting", starts=0)], False, "Failed"),
    ("OnFailure", [st("waiting", 1)], [st("waiting", starts=0)], False, "Pending"),
    ("Always", [], [st("running"), st("terminated", 0)], False, "Running"),
    ("Always", [], [st("waiting", 1)], False, "Running"),
    ("OnFailure", [], [st("terminated", 0), st("terminated", 0)], False, "Succeeded"),
    ("OnFailure", [], [st("terminated", 0), st("waiting", 1)], False, "Running"),
    ("Never", [], [st("terminated", 0), st("terminated", 1)], False, "Failed"),
    ("Never", [], [st("terminated", 0)], False, "Succeeded"),
    ("Never", [], [st("running"), st("terminated", 1)], False, "Running"),
    ("Always", [], [st("terminated", 143)], True, "Failed"),
    ("Always", [], [st("terminated", 0)], True, "Succeeded"),
    ("Always", [st("waiting", 0)], [st("waiting", 137)], False, "Running"),
])
def test_phase_follows_the_kubelet_table(policy, inits, ctrs, terminal, phase):
    """pod_phase is kubelet getPhase: init failures with Never fail the pod,
    waiting containers keep it Pending, restarting ones count as stopped."""
    assert pod_phase(policy, inits, ctrs, terminal) == phase


@pytest.mark.parametrize("policy,code,phase,restarts", [
    ("Always", 0, "Running", 1), ("Always", 3, "Running", 1),
    ("OnFailure", 0, "Succeeded", 0), ("OnFailure", 3, "Running", 1),
    ("Never", 0, "Succeeded", 0), ("Never", 3, "Failed", 0),
])
def test_each_policy_and_exit_code(policy, code, phase, restarts):
    """One container exits with 0 or non-zero: restarted after the back-off
    or not, and the phase that follows."""
    pod = PodLifecycle(["a"], policy=policy, backoff=BackOff(1, 4))
    drive(pod, 0)
    pod.container_exited("a", code, 5)
    drive(pod, 5)
    assert pod.step(5.5) == []           # back-off not over yet
    drive(pod, 6)
    assert pod.phase == phase and pod.container("a").restart_count == restarts
    assert pod.sandboxes_created == 1
    if phase in ("Succeeded", "Failed"):
        assert pod.sandbox is None and pod.sandboxes_removed == 1


def test_back_off_deadlines_double_between_restarts():
    """Each crash waits base, 2*base, ... before the restart (next_wakeup)."""
    pod = PodLifecycle(["a"], policy="Always", backoff=BackOff(1, 4))
    drive(pod, 0)
    t, waits = 0, []
    for _ in range(5):
        t += 1
        pod.container_exited("a", 1, t)
        waits.append(pod.next_wakeup() - t)
        assert drive(pod, pod.next_wakeup() - 0.01) == []
        t = pod.next_wakeup()
        drive(pod, t)
    assert waits == [1, 2, 4, 4, 4] and pod.container("a").restart_count == 5


def test_pod_ip_leak_scenario_gets_exactly_one_sandbox():
    """Shared README §2: OnFailure, the job exits 0, then the sandbox is
    killed (late pause death reported too): one sandbox, removed once."""
    pod = PodLifecycle(["job"], policy="OnFailure")
    drive(pod, 0)
    pod.container_exited("job", 0, 1)
    assert pod.phase == "Succeeded" and kinds(pod.step(1)) == [(REMOVE_SANDBOX, None)]
    pod.sandbox_died(1.5)            # the launcher's own kill of pause, reported late
    pod.sandbox_removed(2)
    for t in range(3, 100):
        assert drive(pod, t) == [] and not needs_new_sandbox(pod)
    assert (pod.sandboxes_created, pod.sandboxes_removed) == (1, 1)


def test_pause_death_after_completion_removes_the_sandbox_once():
    """The sandbox dies on its own after the pod Succeeded: torn down once,
    no new sandbox."""
    pod = PodLifecycle(["job"], policy="OnFailure")
    drive(pod, 0)
    pod.sandbox.state  # ready
    pod.container_exited("job", 0, 1)
    pod.sandbox_died(1)
    drive(pod, 2)
    assert (pod.sandboxes_created, pod.sandboxes_removed, pod.phase) == (1, 1, "Succeeded")


def test_pause_killed_mid_run_recreates_the_sandbox_and_restarts_everything():
    """Always: pause dies, containers are killed, the sandbox is removed and
    recreated, init containers run again first, restart counts go up, and a
    SandboxChanged event is recorded."""
    pod = PodLifecycle(["a", "b"], init_containers=["init"], policy="Always")
    drive(pod, 0)
    pod.container_exited("init", 0, 1)
    drive(pod, 1)
    assert pod.phase == "Running"
    pod.sandbox_died(10)
    done = drive(pod, 10)
    assert kinds(done)[:3] == [(KILL_CONTAINER, "a"), (KILL_CONTAINER, "b"),
                               (REMOVE_SANDBOX, None)]
    assert kinds(done)[3:] == [(CREATE_SANDBOX, None), (START_CONTAINER, "init")]
    pod.container_exited("init", 0, 11)
    drive(pod, 11)
    assert pod.sandboxes_created == 2 and pod.phase == "Running"
    assert [pod.container(n).restart_count for n in ("init", "a", "b")] == [1, 1, 1]
    assert "SandboxChanged" in [e.type for e in pod.events]


def test_pause_death_with_never_fails_the_pod_without_a_new_sandbox():
    """Never, as the kubelet: containers already started, so no new sandbox;
    the killed containers fail the pod."""
    pod = PodLifecycle(["a"], policy="Never")
    drive(pod, 0)
    pod.sandbox_died(3)
    drive(pod, 3)
    assert pod.phase == "Failed" and pod.sandboxes_created == 1 and pod.sandbox is None


def test_pause_death_with_on_failure_restarts_only_unfinished_containers():
    """OnFailure: a container that succeeded is not run again in the new sandbox."""
    pod = PodLifecycle(["done", "busy"], policy="OnFailure")
    drive(pod, 0)
    pod.container_exited("done", 0, 1)
    pod.sandbox_died(2)
    done = drive(pod, 2)
    # pause lived 2 s, less than the back-off base (10 s): the new sandbox waits
    assert (CREATE_SANDBOX, None) not in kinds(done) and pod.next_wakeup() == 12
    done = drive(pod, 12)
    assert (START_CONTAINER, "busy") in kinds(done)
    assert (START_CONTAINER, "done") not in kinds(done)
    assert pod.sandboxes_created == 2 and pod.container("done").state == "terminated"


def test_init_containers_run_in_order_before_the_containers():
    """Init containers one at a time, each to completion, then the containers."""
    pod = PodLifecycle(["app"], init_containers=["i1", "i2"], policy="Never")
    assert kinds(drive(pod, 0)) == [(CREATE_SANDBOX, None), (START_CONTAINER, "i1")]
    assert pod.phase == "Pending"
    pod.container_exited("i1", 0, 1)
    assert kinds(drive(pod, 1)) == [(START_CONTAINER, "i2")]
    pod.container_exited("i2", 0, 2)
    assert kinds(drive(pod, 2)) == [(START_CONTAINER, "app")]
    assert pod.phase == "Running"


def test_failing_init_container_with_never_fails_the_pod():
    """Never: a failing init container fails the pod; the containers never start."""
    pod = PodLifecycle(["app"], init_containers=["init"], policy="Never")
    drive(pod, 0)
    pod.container_exited("init", 1, 1)
    done = drive(pod, 1)
    assert pod.phase == "Failed" and kinds(done) == [(REMOVE_SANDBOX, None)]
    assert pod.container("app").starts == 0


@pytest.mark.parametrize("policy", ["OnFailure", "Always"])
def test_failing_init_container_is_restarted_with_back_off(policy):
    """OnFailure/Always: the init container is restarted after the back-off;
    the pod stays Pending until it succeeds, then the containers start."""
    pod = PodLifecycle(["app"], init_containers=["init"], policy=policy,
                       backoff=BackOff(2, 8))
    drive(pod, 0)
    pod.container_exited("init", 1, 1)
    assert drive(pod, 2) == [] and pod.phase == "Pending"
    assert kinds(drive(pod, 3)) == [(START_CONTAINER, "init")]
    pod.container_exited("init", 0, 4)
    assert kinds(drive(pod, 4)) == [(START_CONTAINER, "app")]
    assert pod.container("init").restart_count == 1 and pod.phase == "Running"


def test_stop_kills_removes_once_and_never_restarts():
    """stop(): running containers are killed, the sandbox removed once, the
    pod ends Failed (killed) and nothing starts again, whatever the policy."""
    pod = PodLifecycle(["a"], policy="Always")
    drive(pod, 0)
    pod.stop(5)
    done = drive(pod, 5, exit_on_kill=143)
    assert kinds(done) == [(KILL_CONTAINER, "a"), (REMOVE_SANDBOX, None)]
    assert pod.phase == "Failed" and pod.finished and drive(pod, 100) == []


def test_command_that_cannot_start_is_reported_as_an_exit():
    """A start failure (127) without container_started counts as a run."""
    pod = PodLifecycle(["a"], policy="Never")
    pod.step(0)
    pod.sandbox_created("sb", 0)
    assert kinds(pod.step(0)) == [(START_CONTAINER, "a")]
    pod.container_exited("a", 127, 0)
    assert pod.phase == "Failed" and pod.container("a").exit_code == 127


def test_an_image_pull_failing_after_stop_ends_the_container_and_the_pod():
    """Two starts handed out at once; the first image cannot be had and the
    pod is stopped (a foreground pod's rule); then the second fails too. It
    must end terminated, not wait for a retry that a stopping pod never
    makes (the supervisor spun on that wake-up time, forever)."""
    pod = PodLifecycle(["a", "b"], policy="Never")
    pod.step(0)
    pod.sandbox_created("sb", 0)
    assert kinds(pod.step(0)) == [(START_CONTAINER, "a"), (START_CONTAINER, "b")]
    pod.image_pull_failed("a", "ErrImagePull", "no registry", 1)
    pod.stop(1)
    pod.image_pull_failed("b", "ErrImagePull", "no registry", 1)
    b = pod.container("b")
    assert (b.state, b.reason, b.next_start_at) == ("terminated", "ErrImagePull", None)
    assert kinds(drive(pod, 2)) == [(REMOVE_SANDBOX, None)]
    assert pod.finished and pod.next_wakeup() is None


def test_reports_out_of_order_are_refused():
    """A report that contradicts the state is a LauncherError, not a silent
    corruption (e.g. removing a sandbox nobody asked to remove)."""
    pod = PodLifecycle(["a"])
    with pytest.raises(LauncherError):
        pod.sandbox_removed(0)
    with pytest.raises(LauncherError):
        pod.container_exited("a", 0, 0)
    with pytest.raises(LauncherError):
        pod.container("nope")


def test_events_and_to_dict_carry_timestamps():
    """The event list records what happened when; to_dict() is JSON-ready."""
    import json
    pod = PodLifecycle(["a"], policy="Never")
    drive(pod, 1.5)
    pod.container_exited("a", 0, 2.5)
    drive(pod, 3)
    types = [(e.time, e.type) for e in pod.events]
    assert types[:2] == [(1.5, "SandboxCreated"), (1.5, "ContainerStarted")]
    assert (2.5, "ContainerExited") in types and (3, "SandboxRemoved") in types
    json.dumps(pod.to_dict())
