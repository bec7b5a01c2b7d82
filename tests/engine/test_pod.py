"""Our image as the infra of a podman pod that shares net, ipc, uts and pid
with a busybox container: PID 1 of the pod, the reaper of its orphans, quick
to stop, and gone without a trace after `podman pod rm`.

(podman starts a pod's infra as root whatever the image's USER says; that is
podman's choice. test_image.py shows the image's own user, 65535.)"""
import json
import os
import time

from hypothesis import given, settings, strategies as st

import podman_env
from podman_env import wait_until


def infra_of(podman, pod):
    """The ID of the pod's infra container."""
    return podman.out("pod", "inspect", "--format", "{{.InfraContainerID}}", pod.name)


def ps(podman, container):
    """`ps` inside a container: a list of (pid, ppid, stat, args)."""
    out = podman.out("exec", container, "ps", "-o", "pid,ppid,stat,args")
    rows = [line.split(None, 3) for line in out.splitlines()[1:]]
    return [(int(r[0]), int(r[1]), r[2], r[3]) for r in rows]


def alive(pid):
    """True when `pid` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_pause_is_pid1_of_the_pod(podman, make_pod, pause_image):
    """`ps` in the pod's busybox container shows our /pause as PID 1 and the
    container's `sleep 3600`; the container is in the infra's net, ipc, uts
    and pid namespaces."""
    pod = make_pod()
    rows = ps(podman, pod.workload)
    assert rows[0][0] == 1 and rows[0][3] == "/pause"
    assert any(r[3] == "sleep 3600" for r in rows)
    infra = infra_of(podman, pod)
    image, pid = podman.out("inspect", "--format", "{{.ImageName}} {{.State.Pid}}", infra).split()
    assert image == pause_image
    for ns in ("net", "ipc", "uts", "pid"):
        inside = podman.out("exec", pod.workload, "readlink", "/proc/self/ns/" + ns)
        assert inside == os.readlink("/proc/%s/ns/%s" % (pid, ns))


OUTCOMES = st.lists(st.one_of(st.tuples(st.just("exit"), st.integers(0, 255)),
                              st.tuples(st.just("signal"), st.sampled_from([9, 15]))),
                    min_size=1, max_size=6)


def reap_events(podman, infra):
    """The JSON events our pause wrote to its log (--events-fd 1), in order."""
    lines = podman.run("logs", infra).stdout.splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


@settings(max_examples=6, deadline=None)
@given(outcomes=OUTCOMES)
def test_orphans_are_reaped_by_pause(podman, events_pod, outcomes):
    """Processes orphaned in the pod's busybox container (their parent
    subshell exits at once) are reaped by our pause, PID 1 of the pod: each
    shows up in pause's reap events with its own exit code or signal, and
    `ps` in the pod shows none of them, and no zombie, afterwards."""
    infra = infra_of(podman, events_pod)
    seen = len(reap_events(podman, infra))
    script = []
    for kind, n in outcomes:
        body = "exit %d" % n if kind == "exit" else "kill -%d $$" % n
        script.append("( sh -c 'sleep 0.2; %s' & echo $! )" % body)
    pids = [int(p) for p in podman.out("exec", events_pod.workload,
                                       "sh", "-c", "; ".join(script)).split()]
    expected = {pid: {"event": "reaped", "pid": pid, kind: n}
                for pid, (kind, n) in zip(pids, outcomes)}

    def reaped():
        new = {e["pid"]: e for e in reap_events(podman, infra)[seen:]}
        return new if set(pids) <= set(new) else None

    events = wait_until(reaped, timeout=10, interval=0.1)
    assert events, "pause did not report reaping %s" % pids
    assert {pid: events[pid] for pid in pids} == expected
    rows = ps(podman, events_pod.workload)
    assert not [r for r in rows if r[2].startswith("Z")], rows
    assert not set(pids) & {r[0] for r in rows}


def test_pod_stop_ends_pause_at_once_with_exit_0(podman, make_pod):
    """`podman pod stop -t 10` sends SIGTERM (SIGKILL only after 10 s): our
    pause exits with code 0 within 1 s of the command."""
    pod = make_pod()
    infra = infra_of(podman, pod)
    started = time.time()
    podman.run("pod", "stop", "-t", "10", pod.name)
    code, finished = podman.out("inspect", "--format",
                                "{{.State.ExitCode}} {{.State.FinishedAt.UnixNano}}", infra).split()
    assert code == "0"
    took = int(finished) / 1e9 - started
    assert took < 1.0, "pause exited %.2f s after pod stop" % took


def test_pod_rm_leaves_nothing(podman, make_pod):
    """After `podman pod stop` and `podman pod rm`, nothing of the pod is
    left: no container or pod listed, no process (pause, sleep, conmon), no
    mount, no storage directory, no runc state, and no process in any of its
    cgroups. (podman 4.3 removes the pod's cgroups from the controller
    hierarchies but leaves empty directories in the named `systemd` and the
    `unified` ones; the fixture removes those.)"""
    pod = make_pod()
    containers = [infra_of(podman, pod), podman.out("inspect", "--format", "{{.Id}}", pod.workload)]
    pids, merged = [], []
    for c in containers:
        pid, conmon, rootfs = podman.out("inspect", "--format",
                                         "{{.State.Pid}} {{.State.ConmonPid}} "
                                         "{{.GraphDriver.Data.MergedDir}}", c).split()
        pids += [int(pid), int(conmon)]
        merged.append(rootfs)
    podman.run("pod", "stop", "-t", "10", pod.name)
    podman.run("pod", "rm", pod.name)
    assert not set(containers) & set(podman.container_ids())
    assert pod.id not in podman.pod_ids()
    assert wait_until(lambda: not [p for p in pids if alive(p)], timeout=5), \
        [p for p in pids if alive(p)]
    assert not [m for m in podman.mounts() if m in merged or any(c in m for c in containers)]
    for c in containers:
        for where in (os.path.join(podman.base, "root", "overlay-containers", c),
                      os.path.join(podman.base, "run", "overlay-containers", c),
                      os.path.join("/run/runc", c)):
            assert not os.path.exists(where), where
    left = podman_env.pod_cgroups(pod.id)
    assert not [p for p in left if podman_env.cgroup_procs(p)]
    hierarchies = {os.path.relpath(p, podman_env.CGROUP_ROOT).split("/")[0] for p in left}
    assert hierarchies <= {"systemd", "unified"}, left
