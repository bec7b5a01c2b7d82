"""Fixtures for the engine tests: an isolated podman (scripts/podman_env.py,
its own containers.conf and storage under pytest's tmp dir) holding the
busybox test image and our pause image, and pods that are removed, with the
cgroup directories podman leaves behind, whatever the test did.

The tests skip only when podman cannot run here (podman_env.unusable_reason
names why). A missing pause/bin/pause is an error: run `make build`."""
import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import podman_env  # noqa: E402


class Pod:
    """A pod a test created: its name, ID, cgroup parent (unique to it),
    and the name of its busybox container."""

    def __init__(self, name, pod_id, cgroup_parent):
        self.name = name
        self.id = pod_id
        self.cgroup_parent = cgroup_parent
        self.workload = name + "-bb"


@pytest.fixture(scope="session")
def podman(tmp_path_factory):
    """The isolated podman, with the busybox test image built; destroyed
    (pods, containers, images, mounts, directory) at the end of the session."""
    reason = podman_env.unusable_reason()
    if reason:
        pytest.skip(reason)
    engine = podman_env.Podman(tmp_path_factory.mktemp("podman"))
    try:
        engine.build_busybox()
        yield engine
    finally:
        engine.destroy()


@pytest.fixture(scope="session")
def pause_image(podman):
    """Our image, built by scripts/build-image.sh into the isolated podman;
    its reference (localhost/pause:VERSION)."""
    built = podman.build_pause()
    if built.returncode != 0:
        pytest.fail("scripts/build-image.sh failed (exit %d): %s"
                    % (built.returncode, built.stderr.strip()), pytrace=False)
    return built.stdout.strip()


def create_pod(podman, image, infra_command=None):
    """A pod sharing net, ipc, uts and pid, with `image` as its infra and a
    busybox container running `sleep 3600`; no network (no CNI, no IP)."""
    name = "pausetest-" + uuid.uuid4().hex[:10]
    parent = "/" + name + "-parent"
    args = ["pod", "create", "--name", name, "--network", "none", "--cgroup-parent", parent,
            "--infra-image", image, "--share", "net,ipc,uts,pid"]
    if infra_command:
        args += ["--infra-command", infra_command]
    pod = Pod(name, podman.out(*args), parent)
    try:
        podman.run("run", "-d", "--pull=never", "--pod", name, "--name", pod.workload,
                   podman_env.BUSYBOX_IMAGE, "sleep", "3600")
    except podman_env.PodmanError:
        remove_pod(podman, pod)
        raise
    return pod


def pod_cgroup_dirs(pod):
    """Every cgroup directory podman made for the pod: the pod's own, and
    the unique parent above it, in every hierarchy."""
    parents = [os.path.join(podman_env.CGROUP_ROOT, h, pod.cgroup_parent.lstrip("/"))
               for h in os.listdir(podman_env.CGROUP_ROOT)]
    return podman_env.pod_cgroups(pod.id) + [p for p in parents if os.path.isdir(p)]


def remove_pod(podman, pod):
    """Removes the pod (no grace) and its cgroup directories; fails the test
    when a cgroup directory cannot go (processes still in it)."""
    if pod.id in podman.pod_ids():  # a failing podman command can leave a mount
        podman.run("pod", "rm", "-f", "-t", "0", pod.name, check=False)
    left = podman_env.remove_cgroups(pod_cgroup_dirs(pod))
    assert not left, "cgroups still populated after pod rm: %s" % left


@pytest.fixture
def make_pod(podman, pause_image):
    """Factory of pods (see create_pod) with our image as infra; each is
    removed at the end of the test."""
    pods = []

    def make(infra_command=None, image=None):
        pods.append(create_pod(podman, image or pause_image, infra_command))
        return pods[-1]

    yield make
    for pod in pods:
        remove_pod(podman, pod)


@pytest.fixture
def kube_pods(podman):
    """Factory: kube_pods(engine, name) plays the Pod manifest of
    podman_env.kube_play with `engine`'s infra image and returns the pod's ID;
    every pod played is taken down at the end of the test."""
    played = []

    def play(engine, name):
        pod_id = podman_env.kube_play(engine, name)
        played.append((engine, name, pod_id))
        return pod_id

    yield play
    for engine, name, pod_id in played:
        # Only pods still there: a podman command that fails can leave the
        # storage's overlay home mounted.
        if pod_id in podman.pod_ids():
            engine.run("kube", "down", os.path.join(engine.base, name + ".yaml"), check=False)
        left = podman_env.remove_cgroups(podman_env.pod_cgroups(pod_id))
        assert not left, "cgroups still populated after kube down: %s" % left


@pytest.fixture(scope="module")
def events_pod(podman, pause_image):
    """A pod (see create_pod) whose infra runs `/pause --events-fd 1`, so
    pause's reap events land in the infra container's log."""
    pod = create_pod(podman, pause_image, "/pause --events-fd 1")
    yield pod
    remove_pod(podman, pod)
