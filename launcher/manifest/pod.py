"""A Pod manifest document -> a PodManifest: metadata, the pod's fields,
its volumes and its containers."""
from dataclasses import dataclass, field

from launcher.manifest import checks as ck
from launcher.manifest import container
from launcher.manifest.checks import ManifestError
from launcher.spec import MANIFEST_DEFAULT_GRACE as DEFAULT_GRACE_SECONDS
from launcher.spec import MANIFEST_DEFAULT_RESTART as DEFAULT_RESTART_POLICY
from launcher.spec import MAX_GRACE, RESTART_POLICIES

TOP_FIELDS = ("apiVersion", "kind", "metadata", "spec")
METADATA_FIELDS = ("name", "labels")
SPEC_FIELDS = ("shareProcessNamespace", "hostname", "restartPolicy",
               "terminationGracePeriodSeconds", "initContainers", "containers", "volumes",
               "securityContext")


@dataclass(frozen=True)
class PodManifest:
    """A pod as the launcher needs it. hostname is None when the manifest
    sets none (the pod name is then the hostname, as in Kubernetes);
    volumes are podfs.Volume dicts."""
    name: str
    labels: dict = field(default_factory=dict)
    share_pid: bool = False
    hostname: str = None
    restart_policy: str = DEFAULT_RESTART_POLICY
    grace_seconds: int = DEFAULT_GRACE_SECONDS
    init_containers: tuple = ()
    containers: tuple = ()
    volumes: tuple = ()


def parse(doc):
    """Checks an already-loaded document (plain dicts/lists/scalars) and
    returns (PodManifest, warnings)."""
    if not isinstance(doc, dict):
        raise ManifestError(f"not a Pod manifest: expected a mapping, got {ck.kind(doc)}")
    kind = doc.get("kind")
    if kind != "Pod":
        raise ManifestError(f"not a Pod: kind is {ck.show(kind)}; only `kind: Pod` is "
                            "supported (no List, Deployment, Job, ...)")
    if doc.get("apiVersion") != "v1":
        raise ManifestError(f"apiVersion {ck.show(doc.get('apiVersion'))} is not supported: "
                            "a Pod is `apiVersion: v1`")
    ck.only(doc, TOP_FIELDS, "")
    meta = ck.mapping(doc.get("metadata"), "metadata", required=True)
    ck.only(meta, METADATA_FIELDS, "metadata")
    name = ck.name(meta.get("name"), "metadata.name", "pod", required=True)
    labels = ck.labels(meta.get("labels"), "metadata.labels")
    spec = ck.mapping(doc.get("spec"), "spec", required=True)
    ck.only(spec, SPEC_FIELDS, "spec")
    share_pid = ck.boolean(spec.get("shareProcessNamespace", False), "spec.shareProcessNamespace")
    hostname = spec.get("hostname")
    if hostname is not None:
        hostname = ck.name(hostname, "spec.hostname", "host")
    policy = spec.get("restartPolicy", DEFAULT_RESTART_POLICY)
    if policy not in RESTART_POLICIES:
        raise ManifestError(f"spec.restartPolicy: {ck.show(policy)} is not one of "
                            f"{', '.join(RESTART_POLICIES)}")
    grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
    if type(grace) is not int or not 0 <= grace <= MAX_GRACE:
        raise ManifestError("spec.terminationGracePeriodSeconds: expected an integer "
                            f"from 0 to {MAX_GRACE:g}, got {ck.show(grace)}")
    volumes = []
    if spec.get("volumes") is not None:
        from launcher.supervisor import podfs
        volumes = ck.wrap(podfs.parse_volumes, spec["volumes"], "spec.volumes")
    security = container.pod_security(spec.get("securityContext"), "spec.securityContext")
    inits = _containers(spec.get("initContainers"), "spec.initContainers", volumes, security,
                        required=False)
    ctrs = _containers(spec.get("containers"), "spec.containers", volumes, security,
                       required=True)
    seen = set()
    for c in inits + ctrs:
        if c.name in seen:
            raise ManifestError(f"duplicate container name {c.name!r} "
                                "(init containers included)")
        seen.add(c.name)
    return (PodManifest(name=name, labels=labels, share_pid=share_pid, hostname=hostname,
                        restart_policy=policy, grace_seconds=grace,
                        init_containers=tuple(inits), containers=tuple(ctrs),
                        volumes=tuple(v.to_dict() for v in volumes)),
            [])


def _containers(value, path, volumes, security, required):
    """A list of containers at `path`."""
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise ManifestError(f"{path}: expected a list of containers, got {ck.kind(value)}")
    if required and not value:
        raise ManifestError(f"{path}: at least one container is required")
    return [container.parse(c, f"{path}[{i}]", volumes, security) for i, c in enumerate(value)]
