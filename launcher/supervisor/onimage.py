"""Containers on their images: the supervisor's side of launcher/images
(the image store) and launcher/supervisor/podfs.py (the pod's filesystems).

Per pod, with the sandbox (after CNI ADD, so the hosts file has the pod
IP): the pod's shm, hosts, hostname and resolv.conf and its volumes
(podfs.PodFS, recorded in the pod record as `podfs`). Per start of a
container with an image: the image ensured by its imagePullPolicy and held
for the pod (an ImagePullError goes to the lifecycle: ErrImagePull, then
ImagePullBackOff), its process by Kubernetes' rules (plans.container_process),
a fresh root filesystem plan and its user. When it ends: its writable layer
goes. With the pod: the pod's filesystems and its image holds.
"""
import os

from launcher.errors import LauncherError
from launcher.runtime import plans

def image_root():
    """The image store's root, checked (it is made with its subdirectories)."""
    from launcher.images.store import Store
    with Store() as store:
        return store.path


def prepare_pod(pod, ip=None):
    """The pod's filesystems, made (again, for a new sandbox) when any of its
    containers has an image."""
    if not pod.spec.uses_images():
        return
    from launcher.store import layout
    from launcher.supervisor import podfs
    if pod.podfs is None:
        pod.podfs = podfs.PodFS(os.path.join(pod.mounts()[0], layout.pod_run_dir(pod.dir.id)),
                                os.path.join(image_root(), "containers", pod.dir.id))
        pod.record["podfs"] = pod.podfs.to_dict()
        pod.save()   # recorded before anything is made, so teardown finds it
    pod.podfs.create(pod.hostname(), ip)
    pod.podfs.make_volumes([podfs.Volume.from_dict(v) for v in pod.spec.volumes])
    pod.record["podfs"] = pod.podfs.to_dict()


def start(pod, c):
    """(process, rootfs plan, user spec, record fields) for a start of
    container c: on its image if it has one (ImagePullError if the image
    cannot be had), else on the host's files."""
    if not c.image:
        return plans.container_process(c, pod.hostname()), None, None, {}
    from launcher.images.ensure import ensure
    from launcher.runtime import users
    from launcher.supervisor import podfs
    image = ensure(c.image, c.pull_policy, hold_for=pod.dir.id)
    process = plans.container_process(c, pod.hostname(), image)
    u = c.user or {}
    user = users.user_spec(u.get("user") or image.config.user, u.get("run_as_user"),
                           u.get("run_as_group"), u.get("supplemental_groups", ()),
                           source="--user" if u.get("user") else "image config: User")
    if pod.podfs is None:
        raise LauncherError(f"container {c.name!r}: the pod's filesystems are not made")
    mounts = [podfs.VolumeMount.from_dict(m) for m in c.volume_mounts]
    plan = pod.podfs.rootfs_plan(list(reversed(image.layers)), c.name, mounts,
                                 read_only=c.read_only, hide=[pod.mounts()[0]])
    return process, plan, user, {"image": c.image, "image_id": image.id,
                                 "image_digest": image.digest, "user": user.to_dict()}


def ended(pod, name):
    """A container with an image ended: its writable layer goes (a restart
    gets a fresh one, as in Kubernetes)."""
    spec = next((c for c in pod.spec.all_containers() if c.name == name), None)
    if pod.podfs is None or spec is None or not spec.image:
        return
    from launcher.supervisor import podfs
    podfs.cleanup_container(pod.podfs.storage_dir, name)


def teardown(rec, pod_id):
    """The end of a pod (its processes are gone): its filesystems are
    removed and its image holds dropped. rec: its record."""
    d = (rec or {}).get("podfs")
    if d:
        from launcher.supervisor import podfs
        podfs.cleanup_pod(d["run_dir"], d["storage_dir"])
    spec = (rec or {}).get("spec") or {}
    if any(c.get("image") for c in spec.get("containers", []) + spec.get("init_containers", [])):
        from launcher.images.ensure import release
        release(pod_id)
