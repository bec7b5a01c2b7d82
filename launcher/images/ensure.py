"""What the launcher's pods call: resolve an image name in the store, make
sure an image is there by Kubernetes' imagePullPolicy, mark it in use.

    image = ensure("busybox:1.28", policy=None, root=None, hold_for=pod_id)
    image.layers        # unpacked layer dirs, lowest first; image.lowerdir()
    image.config.argv(command, args), .env, .workdir, .user
    release(pod_id)     # when the pod is removed

Policies: Never (only what is in the store; else ErrImageNeverPull),
IfNotPresent (pull only when absent), Always (pull every time; a failed
pull fails even if an older copy is present, as the kubelet does). The
default is Kubernetes': Always for the tag `latest` or no tag, else
IfNotPresent (a digest-only reference: IfNotPresent). Sources other than a
registry reference (oci:..., docker-archive:...) default to IfNotPresent.
"""
from launcher.errors import LauncherError
from launcher.images import reference
from launcher.images.config import Image, ImageConfig
from launcher.images.store import Store

NEVER, IF_NOT_PRESENT, ALWAYS = "Never", "IfNotPresent", "Always"
POLICIES = (NEVER, IF_NOT_PRESENT, ALWAYS)
ERR_IMAGE_PULL = "ErrImagePull"
ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"
IMAGE_PULL_BACKOFF = "ImagePullBackOff"   # what the kubelet reports while it backs off


class ImagePullError(LauncherError):
    """The image cannot be had. `reason` is the kubelet's (ErrImagePull or
    ErrImageNeverPull), the message the kubelet's event message."""

    def __init__(self, reason, image, message):
        super().__init__(message)
        self.reason, self.image = reason, image


class NotFound(LauncherError):
    """No image of that name in the store (podman: "image not known")."""

    def __init__(self, text):
        super().__init__(f"{text!r}: image not known", code=1)
        self.text = text


def find(store, text, tags=None):
    """(image id, the tag it was found by or None) for a name, an id (or
    unique prefix), a name@digest, or a transport-qualified source's name;
    None if absent. A short name tries localhost/NAME, then docker.io."""
    tags = store.tags() if tags is None else tags
    ids = None
    prefix = reference.image_id_prefix(text)
    if prefix:
        ids = sorted(set(tags.values()) | set(store.records()))
        hits = [i for i in ids if i.startswith(prefix)]
        if len(hits) > 1 and len(prefix) < 64:
            raise LauncherError(f"{text!r}: more than one image id starts with it", code=1)
        if hits:
            return hits[0], None
    try:
        if ":" in text and text.split(":", 1)[0] in reference.TRANSPORTS:
            named = reference.parse_source(text).local_name()
            if named is None:
                return None
            candidates = [named]
        else:
            candidates = reference.parse_reference(text).local_candidates()
    except LauncherError:
        if prefix:
            return None
        raise
    for ref in candidates:
        if ref.digest:
            for image_id, rec in store.records().items():
                if rec.get("digest") == ref.digest or \
                        f"{ref.name}@{ref.digest}" in rec.get("repo_digests", []):
                    return image_id, None
        elif ref.tagged in tags and store.record(tags[ref.tagged]) is not None:
            return tags[ref.tagged], ref.tagged
    return None


def image_of(store, image_id, tags=None):
    """The Image of a record in the store."""
    import json
    rec = store.record(image_id)
    if rec is None:
        raise LauncherError(f"image {image_id[:12]!r} is not in the store")
    try:
        config = ImageConfig(json.loads(store.blob(image_id)))
    except (OSError, ValueError) as e:
        raise LauncherError(f"image {image_id[:12]}: its config is unreadable: {e}") from None
    layers = [store.layer_path(lay["diff_id"][7:]) for lay in rec["layers"]]
    return Image(image_id, rec.get("digest", ""), store.names(image_id, tags), config, layers,
                 rec.get("size", 0))


def resolve(text, root=None):
    """The Image named `text` in the store; NotFound if absent."""
    with Store(root) as store:
        found = find(store, text)
        if found is None:
            raise NotFound(text)
        return image_of(store, found[0])


def default_policy(text):
    """Kubernetes' default imagePullPolicy for an image string."""
    source = reference.parse_source(text)
    if source.transport != "docker":
        return IF_NOT_PRESENT
    return ALWAYS if source.ref.tag == "latest" else IF_NOT_PRESENT


def ensure(text, policy=None, root=None, hold_for=None, platform=None, timeout=None):
    """The Image for `text`, pulled if `policy` says so; with hold_for, the
    image is also held for that pod id (atomically with finding it, so no
    rmi slips in between). ImagePullError when it cannot be had."""
    from launcher.images import pull, skopeo
    try:
        policy = policy or default_policy(text)
    except LauncherError as e:
        raise ImagePullError("InvalidImageName", text, f"Failed to apply default image tag "
                                                       f"{text!r}: {e}") from None
    if policy not in POLICIES:
        raise LauncherError(f"invalid imagePullPolicy {policy!r}: one of {', '.join(POLICIES)}")
    with Store(root) as store:
        found = find(store, text) if policy != ALWAYS else None
        if found is None and policy == NEVER:
            raise ImagePullError(ERR_IMAGE_NEVER_PULL, text,
                                 f'Container image "{text}" is not present with pull policy '
                                 f'of Never')
        if found is None:
            try:
                source = reference.parse_source(text)
                pulled = pull.pull_source(store, source, platform,
                                          timeout or skopeo.DEFAULT_TIMEOUT)
            except LauncherError as e:
                raise ImagePullError(ERR_IMAGE_PULL, text,
                                     f'Failed to pull image "{text}": {e}') from None
            image_id = pulled.image_id
        else:
            image_id = found[0]
        with store.locked():
            if hold_for is not None:
                store.hold(image_id, hold_for)   # raises if an rmi removed it meanwhile
            return image_of(store, image_id)


def hold(image_id, pod_id, root=None):
    """Marks image_id in use by pod_id: rmi refuses it while the pod is live."""
    with Store(root) as store, store.locked():
        store.hold(image_id, pod_id)


def release(pod_id, root=None):
    """Drops every hold of pod_id (the pod is gone)."""
    with Store(root) as store, store.locked():
        store.release(pod_id)
