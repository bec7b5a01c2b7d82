"""One container of a Pod manifest -> a ContainerManifest.

Kubernetes' rules: with an `image`, `command` replaces its Entrypoint (and
drops its Cmd) and `args` replaces its Cmd, resolved when the container
starts; without one (a host-binary container) `command` is required and
`args` are appended to it. `$(VAR)` in command, args and env values
expands from the container's `env` (a value sees only the variables listed
before it). securityContext: runAsUser and runAsGroup (the pod's unless the
container sets them), readOnlyRootFilesystem. `ports` are informational, as
in Kubernetes (publish with `launcher play -p`).
"""
from dataclasses import dataclass

from launcher.manifest import checks as ck
from launcher.manifest.checks import ManifestError
from launcher.manifest.expansion import MAX_CONTAINER_EXPANDED, expand

FIELDS = ("name", "image", "imagePullPolicy", "command", "args", "env", "workingDir",
          "resources", "volumeMounts", "securityContext", "ports")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
SECURITY_FIELDS = ("runAsUser", "runAsGroup", "readOnlyRootFilesystem")
POD_SECURITY_FIELDS = ("runAsUser", "runAsGroup", "supplementalGroups")
PORT_FIELDS = ("name", "containerPort", "protocol", "hostPort", "hostIP")
ENV_FIELDS = ("name", "value")
MAX_ID = 2 ** 32 - 2


@dataclass(frozen=True)
class ContainerManifest:
    """One container: its name; without an image the final argv (command +
    args, expanded), with one the expanded command and args (None: not
    given); its environment as ordered (name, value) pairs (expanded, last
    definition wins); working directory or None; resources; image and pull
    policy; volume mounts (podfs.VolumeMount dicts); read_only; user
    overrides or None."""
    name: str
    argv: tuple
    env: tuple = ()
    working_dir: str = None
    resources: dict = None
    image: str = None
    pull_policy: str = None
    command: tuple = None
    args: tuple = None
    volume_mounts: tuple = ()
    read_only: bool = False
    user: dict = None


def parse(value, path, volumes, pod_security):
    """One container mapping at `path`; volumes: the pod's podfs.Volumes."""
    c = ck.mapping(value, path, required=True)
    ck.only(c, FIELDS, path)
    name = ck.name(c.get("name"), f"{path}.name", "container", required=True)
    image = c.get("image")
    if image is not None and (not isinstance(image, str) or not image.strip()):
        raise ManifestError(f"{path}.image: expected an image reference, got {ck.show(image)}")
    policy = c.get("imagePullPolicy")
    if policy is not None and policy not in PULL_POLICIES:
        raise ManifestError(f"{path}.imagePullPolicy: {ck.show(policy)} is not one of "
                            f"{', '.join(PULL_POLICIES)}")
    if policy is not None and image is None:
        raise ManifestError(f"{path}.imagePullPolicy: set, but the container has no image")
    command = ck.strings(c.get("command"), f"{path}.command") if "command" in c else None
    args = ck.strings(c.get("args"), f"{path}.args") if "args" in c else None
    if image is None and not command:
        raise ManifestError(f"container {name!r} ({path}) has neither an image nor a command")
    env = _env(c.get("env"), f"{path}.env")
    command = None if command is None else tuple(
        expand(a, env, where=f"{path}.command[{i}]") for i, a in enumerate(command))
    args = None if args is None else tuple(
        expand(a, env, where=f"{path}.args[{i}]") for i, a in enumerate(args))
    argv = (command or ()) + (args or ()) if image is None else ()
    total = sum(map(len, (command or ()) + (args or ()))) + \
        sum(len(k) + len(v) for k, v in env.items())
    if total > MAX_CONTAINER_EXPANDED:
        raise ManifestError(f"{path}: command, args and env expand to more than "
                            f"{MAX_CONTAINER_EXPANDED >> 20} MiB")
    if command is not None and command and not command[0]:
        raise ManifestError(f"{path}.command[0]: empty command")
    res = None
    if c.get("resources") is not None:
        from launcher.cgroups import resources
        res = ck.wrap(resources.from_manifest, c["resources"], f"{path}.resources")
    mounts = ()
    if c.get("volumeMounts") is not None:
        from launcher.supervisor import podfs
        mounts = tuple(m.to_dict() for m in ck.wrap(
            podfs.parse_volume_mounts, c["volumeMounts"], volumes, f"{path}.volumeMounts"))
        if image is None and mounts:
            raise ManifestError(f"{path}.volumeMounts: a container without an image runs in "
                                "the host's files and takes no volume mounts")
    sec = _security(c.get("securityContext"), f"{path}.securityContext", SECURITY_FIELDS)
    read_only = sec.pop("readOnlyRootFilesystem", False)
    user = _user(pod_security, sec)
    if image is None and (read_only or user):
        raise ManifestError(f"{path}.securityContext: runAsUser, runAsGroup and "
                            "readOnlyRootFilesystem need an image")
    _ports(c.get("ports"), f"{path}.ports")
    return ContainerManifest(name=name, argv=argv, env=tuple(env.items()),
                             working_dir=_workdir(c.get("workingDir"), f"{path}.workingDir"),
                             resources=res, image=image, pull_policy=policy, command=command,
                             args=args, volume_mounts=mounts, read_only=read_only, user=user)


def _workdir(wd, path):
    if wd is None:
        return None
    if not isinstance(wd, str) or "\0" in wd:
        raise ManifestError(f"{path}: expected a path, got {ck.kind(wd)}")
    if wd == "":
        return None
    if not wd.startswith("/"):
        raise ManifestError(f"{path}: {wd!r} is not an absolute path")
    return wd


def _security(value, path, allowed):
    """A securityContext's fields we honour, checked."""
    if value is None:
        return {}
    ck.mapping(value, path)
    ck.only(value, allowed, path)
    out = {}
    for key in ("runAsUser", "runAsGroup"):
        if value.get(key) is not None:
            out[key] = ck.integer(value[key], f"{path}.{key}", 0, MAX_ID)
    if "readOnlyRootFilesystem" in value:
        out["readOnlyRootFilesystem"] = ck.boolean(value["readOnlyRootFilesystem"],
                                                   f"{path}.readOnlyRootFilesystem")
    if value.get("supplementalGroups") is not None:
        groups = value["supplementalGroups"]
        if not isinstance(groups, list) or len(groups) > 64:
            raise ManifestError(f"{path}.supplementalGroups: expected a list of group ids")
        out["supplementalGroups"] = [ck.integer(g, f"{path}.supplementalGroups[{i}]", 0, MAX_ID)
                                     for i, g in enumerate(groups)]
    return out


def pod_security(value, path):
    """The pod-level securityContext (its defaults for every container)."""
    return _security(value, path, POD_SECURITY_FIELDS)


def _user(pod, ctr):
    """The user overrides of a container: its own, else the pod's."""
    user = {"run_as_user": ctr.get("runAsUser", pod.get("runAsUser")),
            "run_as_group": ctr.get("runAsGroup", pod.get("runAsGroup")),
            "supplemental_groups": list(pod.get("supplementalGroups", ()))}
    return user if user["run_as_user"] is not None or user["run_as_group"] is not None \
        or user["supplemental_groups"] else None


def _ports(value, path):
    """containerPort entries: checked, informational (Kubernetes' rule)."""
    if value is None:
        return
    if not isinstance(value, list):
        raise ManifestError(f"{path}: expected a list of ports, got {ck.kind(value)}")
    for i, p in enumerate(value):
        where = f"{path}[{i}]"
        ck.mapping(p, where, required=True)
        ck.only(p, PORT_FIELDS, where)
        ck.integer(p.get("containerPort"), f"{where}.containerPort", 1, 65535)
        if p.get("protocol", "TCP") not in ("TCP", "UDP", "SCTP"):
            raise ManifestError(f"{where}.protocol: {ck.show(p.get('protocol'))} is not TCP, "
                                "UDP or SCTP")


def _env(value, path):
    """The env list -> {name: expanded value}, in order; each value expands
    with the variables defined before it, as the kubelet does."""
    import re
    env = {}
    if value is None:
        return env
    if not isinstance(value, list):
        raise ManifestError(f"{path}: expected a list of {{name, value}}, got {ck.kind(value)}")
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        item = ck.mapping(item, where, required=True)
        if "valueFrom" in item:
            raise ManifestError(f"{where}.valueFrom: not supported (only `value:`)")
        ck.only(item, ENV_FIELDS, where)
        name = item.get("name")
        if not isinstance(name, str) or not re.match(r"[-._a-zA-Z][-._a-zA-Z0-9]*\Z", name):
            raise ManifestError(f"{where}.name: invalid variable name {ck.show(name)} "
                                "(letters, digits, '_', '-', '.'; not starting with a digit)")
        raw = item.get("value", "")
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            raise ManifestError(f"{where}.value: expected a string, got {ck.kind(raw)} "
                                "(quote it)")
        if "\0" in raw:
            raise ManifestError(f"{where}.value: NUL character")
        env[name] = expand(raw, env, where=f"{where}.value")
    return env
