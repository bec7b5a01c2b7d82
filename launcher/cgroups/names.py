"""The names of the launcher's cgroups, kubelet cgroupfs-driver style, the
same in every hierarchy:

    <mount>/<parent>/pod<POD_ID>/sandbox        pause
    <mount>/<parent>/pod<POD_ID>/ctr-<NAME>     each container

<parent> is `launcher` (made on demand, kept, as the kubelet keeps kubepods).
Containers get a `ctr-` prefix because `sandbox` and `tasks` (a v1 control
file in every cgroup) are valid container names. Every name is checked here:
one path component, no '/', no '..', no leading dot, only letters, digits,
'-', '_' and '.'."""
from launcher.errors import LauncherError

DEFAULT_PARENT = "launcher"
POD_PREFIX = "pod"
SANDBOX = "sandbox"
CONTAINER_PREFIX = "ctr-"
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def check(what, name):
    """name, if it is a safe single cgroup path component; LauncherError otherwise."""
    if (not isinstance(name, str) or not name or len(name) > 200 or name.startswith(".")
            or not _ALLOWED.issuperset(name)):
        raise LauncherError(f"cgroups: {what} {name!r} cannot name a cgroup "
                            "(1-200 letters, digits, '-', '_', '.'; no leading '.', no '/')")
    return name


def pod(parent, pod_id):
    """The pod's cgroup path relative to a mount: 'launcher/pod<ID>'."""
    return f"{check('cgroup parent', parent)}/{POD_PREFIX}{check('pod id', pod_id)}"


def member(container=None):
    """The name of a pod's child cgroup: the sandbox's (container None) or
    a container's."""
    if container is None:
        return SANDBOX
    return CONTAINER_PREFIX + check("container name", container)


def container_of(member_name):
    """The container name of a child cgroup's name, or None (the sandbox,
    or a cgroup a container made itself)."""
    if member_name.startswith(CONTAINER_PREFIX):
        return member_name[len(CONTAINER_PREFIX):]
    return None


def pod_id_of(name):
    """The pod id of a cgroup name under the parent ('pod<ID>'), or None."""
    if name.startswith(POD_PREFIX) and len(name) > len(POD_PREFIX):
        return name[len(POD_PREFIX):]
    return None
