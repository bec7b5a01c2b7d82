"""`podman kube play` of a Pod manifest with shareProcessNamespace: true,
with our image as the infra image (containers.conf's infra_image; kube play
has no flag for it) and, side by side, with podman's default infra
(catatonit): the figures of docs/image.md's comparison table."""
import podman_env


def pid1(podman, pod_name):
    """PID 1's command line as `ps` in the pod's container shows it."""
    out = podman.out("exec", pod_name + "-sleeper", "ps", "-o", "pid,args")
    rows = [line.split(None, 1) for line in out.splitlines()[1:]]
    assert rows[0][0] == "1", rows
    assert any(r[1] == "sleep 3600" for r in rows), rows
    return rows[0][1]


def test_kube_play_with_our_infra(podman, pause_image, kube_pods):
    """With infra_image = our image, the played pod's infra runs our image
    and `ps` in the pod shows /pause as PID 1; `kube down` leaves no pod,
    container or mount behind."""
    ours = podman.with_infra_image(pause_image)
    pod_id = kube_pods(ours, "kube-ours")
    assert pid1(podman, "kube-ours") == "/pause"
    assert podman_env.infra_footprint(podman, pod_id)["image"] == pause_image
    containers = podman.out("ps", "-a", "--no-trunc", "--filter", "pod=" + pod_id,
                            "--format", "{{.ID}}").split()
    rootfs = podman.out("inspect", "--format", "{{.GraphDriver.Data.MergedDir}}",
                        *containers).split()
    assert len(containers) == 2
    ours.run("kube", "down", ours.base + "/kube-ours.yaml")
    assert pod_id not in podman.pod_ids()
    assert not set(containers) & set(podman.container_ids())
    assert not set(rootfs) & set(podman.mounts())


def test_side_by_side_with_podmans_catatonit(podman, pause_image, kube_pods):
    """The same manifest played with our infra and with podman's default
    (catatonit -P) at the same time: ours is PID 1 of one pod, catatonit of
    the other; our image is at most 20 kB and smaller than podman's, and our
    infra's RSS is below catatonit's."""
    ours_id = kube_pods(podman.with_infra_image(pause_image), "side-ours")
    default_id = kube_pods(podman, "side-default")
    assert pid1(podman, "side-ours") == "/pause"
    assert pid1(podman, "side-default") == "/catatonit -P"
    ours = podman_env.infra_footprint(podman, ours_id)
    default = podman_env.infra_footprint(podman, default_id)
    print("ours:", ours, "default:", default)
    assert default["image"].startswith("localhost/podman-pause:")
    assert ours["image_bytes"] <= podman_env.IMAGE_SIZE_TARGET < default["image_bytes"]
    assert ours["rss_kb"] < default["rss_kb"]
