"""Image references and transports, parsed and normalized the way podman
(containers/image's docker/reference) does.

A docker reference is [DOMAIN/]PATH[:TAG][@DIGEST]: `busybox` becomes
`docker.io/library/busybox:latest`, `localhost/web:1` stays itself, a name
with only a digest keeps no tag. A source names where an image comes from,
in skopeo's transport syntax: `docker://REF`, `oci:DIR[:NAME]`,
`oci-archive:FILE[:NAME]`, `docker-archive:FILE[:REF|:@N]`,
`containers-storage:[DRIVER@GRAPHROOT+RUNROOT]REF`, or a bare reference
(docker://). Every malformed input is one LauncherError line quoting it with
repr, so a newline cannot split the message.
"""
import os
import re

from launcher.errors import LauncherError

DEFAULT_DOMAIN = "docker.io"
LOCAL_DOMAIN = "localhost"
DEFAULT_TAG = "latest"
NAME_MAX = 255   # docker/distribution's NameTotalLengthMax

TRANSPORTS = ("docker", "oci", "oci-archive", "docker-archive", "containers-storage")
# skopeo knows these too; we refuse them by name instead of mistaking them
# for a registry host.
OTHER_TRANSPORTS = ("dir", "docker-daemon", "ostree", "sif", "tarball")

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_HOST = re.compile(r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
                   r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
                   r"|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z", re.ASCII)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
_HEX_ID = re.compile(r"(?:sha256:)?([0-9a-f]{3,64})\Z")
_OCI_NAME = re.compile(r"[A-Za-z0-9._-]+(?:[:/@+][A-Za-z0-9._-]+)*\Z")
_STORAGE_SPEC = re.compile(r"\[([^\]]*)\]")


def _bad(text, why):
    raise LauncherError(f"invalid image reference {text!r}: {why}")


class Reference:
    """A normalized docker reference. `short` is true when the input named
    no domain (so a local lookup may also try localhost/)."""

    __slots__ = ("domain", "path", "tag", "digest", "short")

    def __init__(self, domain, path, tag, digest, short=False):
        self.domain, self.path, self.tag, self.digest, self.short = \
            domain, path, tag, digest, short

    @property
    def name(self):
        return f"{self.domain}/{self.path}"

    def __str__(self):
        return self.name + (f":{self.tag}" if self.tag else "") + \
            (f"@{self.digest}" if self.digest else "")

    def __repr__(self):
        return f"Reference({str(self)!r})"

    def __eq__(self, other):
        return isinstance(other, Reference) and str(self) == str(other)

    def __hash__(self):
        return hash(str(self))

    @property
    def tagged(self):
        """name:tag (the key of the tag index), or None for a digest-only
        reference."""
        return f"{self.name}:{self.tag}" if self.tag else None

    def local_candidates(self):
        """The names a local lookup tries, best first: for a short name,
        localhost/ (what was built or loaded here) before docker.io."""
        names = [self]
        if self.short and self.domain == DEFAULT_DOMAIN:
            path = self.path[len("library/"):] if self.path.startswith("library/") and \
                "/" not in self.path[len("library/"):] else self.path
            names.insert(0, Reference(LOCAL_DOMAIN, path, self.tag, self.digest))
        return names


def parse_reference(text, default_domain=DEFAULT_DOMAIN):
    """A Reference from `text`, normalized (docker.io, library/, :latest)."""
    if not isinstance(text, str) or not text:
        _bad(text, "empty")
    if any(c.isspace() or not c.isprintable() for c in text):
        _bad(text, "contains whitespace or control characters")
    if "://" in text:
        _bad(text, "a transport is not allowed here")
    rest, digest = text, None
    if "@" in text:
        rest, _, digest = text.partition("@")
        if not _DIGEST.match(digest):
            _bad(text, "a digest must be sha256: and 64 lowercase hex digits")
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.match(tag):
            _bad(text, f"invalid tag {tag!r}")
    if not rest:
        _bad(text, "no repository name")
    first, sep, remainder = rest.partition("/")
    short = True
    domain, path = default_domain, rest
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        if not _HOST.match(first):
            _bad(text, f"invalid registry host {first!r}")
        domain, path, short = first, remainder, False
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    for component in path.split("/"):
        if not _COMPONENT.match(component):
            if component.lower() != component and _COMPONENT.match(component.lower()):
                _bad(text, "repository name must be lowercase")
            _bad(text, f"invalid repository name component {component!r}")
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = "library/" + path
    if len(domain) + 1 + len(path) > NAME_MAX:
        _bad(text, f"repository name longer than {NAME_MAX} characters")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest, short)


def normalize(text):
    """The canonical string of a docker reference (idempotent)."""
    return str(parse_reference(text))


def image_id_prefix(text):
    """The hex digits if `text` can name an image by (a prefix of) its id,
    else None."""
    m = _HEX_ID.match(text) if isinstance(text, str) else None
    return m.group(1) if m else None


class Source:
    """Where a pull copies from. `transport` is one of TRANSPORTS; `path`
    the directory or file of oci:, oci-archive:, docker-archive:; `within`
    what follows it (an OCI name, a docker reference or @N); `ref` the
    docker reference of docker:// and containers-storage:, and of
    docker-archive:FILE:REF."""

    __slots__ = ("transport", "path", "within", "ref", "storage_spec", "text")

    def __init__(self, transport, text, path=None, within=None, ref=None, storage_spec=None):
        self.transport, self.text, self.path, self.within, self.ref, self.storage_spec = \
            transport, text, path, within, ref, storage_spec

    def skopeo_arg(self):
        """The image name as skopeo reads it."""
        if self.transport == "docker":
            return f"docker://{self.ref}"
        if self.transport == "containers-storage":
            spec = f"[{self.storage_spec}]" if self.storage_spec is not None else ""
            return f"containers-storage:{spec}{self.ref if self.ref else self.within}"
        return f"{self.transport}:{self.path}" + (f":{self.within}" if self.within else "")

    def local_name(self):
        """The name the store gives the image, when the source itself says
        it (else None: docker-archive's RepoTags, an OCI layout's ref.name
        annotation or the image id, found after the copy)."""
        if self.ref is not None:
            return self.ref if self.ref.tag else None
        if self.transport in ("oci", "oci-archive") and self.within:
            return oci_name(self.path, self.within)
        return None

    def __repr__(self):
        return f"Source({self.skopeo_arg()!r})"


def oci_name(path, name):
    """The store name of the image called `name` in the OCI layout or
    archive at `path`: a full reference (it has '/' or ':') is normalized;
    a bare tag such as `latest` tags localhost/BASENAME, BASENAME being the
    layout's directory or the archive's file name without .tar. None when no
    valid name can be made."""
    if "/" in name or ":" in name or "@" in name:
        try:
            ref = parse_reference(name)
        except LauncherError:
            return None
        return ref if ref.tag else None
    base = os.path.basename(os.path.normpath(path)).lower()
    for ext in (".tar", ".oci", ".ociarchive"):
        if base.endswith(ext):
            base = base[:-len(ext)]
    base = re.sub(r"[^a-z0-9._-]+", "-", base).strip("._-")
    try:
        return parse_reference(f"{LOCAL_DOMAIN}/{base}:{name}")
    except LauncherError:
        return None


def _path_and_within(text, rest, transport):
    path, sep, within = rest.partition(":")
    if not path:
        _bad(text, f"{transport}: needs a path")
    if "\0" in path:
        _bad(text, "a path cannot hold a NUL byte")
    return path, (within if sep else None)


def parse_source(text):
    """A Source from a pull argument: a transport-qualified name or a bare
    docker reference."""
    if not isinstance(text, str) or not text:
        _bad(text, "empty")
    if text.startswith("docker://"):
        return Source("docker", text, ref=parse_reference(text[len("docker://"):]))
    transport, sep, rest = text.partition(":")
    if sep and transport in OTHER_TRANSPORTS:
        raise LauncherError(f"image transport {transport!r} is not supported "
                            f"(use docker://, oci:, oci-archive:, docker-archive: "
                            f"or containers-storage:): {text!r}")
    if not sep or transport not in TRANSPORTS or transport == "docker":
        if transport == "docker" and sep:
            _bad(text, "write docker://NAME")
        return Source("docker", text, ref=parse_reference(text))
    if transport in ("oci", "oci-archive"):
        path, within = _path_and_within(text, rest, transport)
        if within is not None and not _OCI_NAME.match(within):
            _bad(text, f"invalid image name {within!r} in the OCI layout")
        return Source(transport, text, path=path, within=within or None)
    if transport == "docker-archive":
        path, within = _path_and_within(text, rest, transport)
        ref = None
        if within:
            if within.startswith("@"):
                if not within[1:].isdigit():
                    _bad(text, "an archive index is @ and a number")
            else:
                ref = parse_reference(within)
                if ref.digest:
                    _bad(text, "a docker-archive reference cannot hold a digest")
        return Source(transport, text, path=path, within=within or None, ref=ref)
    # containers-storage:[DRIVER@GRAPHROOT+RUNROOT:OPTIONS]REF
    spec = None
    m = _STORAGE_SPEC.match(rest)
    if m:
        spec, rest = m.group(1), rest[m.end():]
    elif rest.startswith("["):
        _bad(text, "unterminated [store specification]")
    if not rest:
        _bad(text, "containers-storage: needs an image name or id")
    hex_id = _HEX_ID.match(rest)
    if hex_id and len(hex_id.group(1)) == 64:
        return Source(transport, text, within=hex_id.group(1), storage_spec=spec)
    return Source(transport, text, ref=parse_reference(rest), storage_spec=spec)
