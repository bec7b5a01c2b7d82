"""What skopeo copied into a dir: layout (manifest.json plus one file per
blob, named by its hex digest), read and verified before anything of it is
trusted.

Verified here: the manifest is a single-image manifest (OCI, or docker
schema 2) of bounded size; the config blob's size and sha256 match its
descriptor; the config's rootfs.diff_ids name one uncompressed layer per
manifest layer; each layer blob has its declared size and, since skopeo
was asked to decompress (--dest-decompress), is the uncompressed layer
itself, so its descriptor's digest must be the diff_id. The layer blobs'
sha256 is computed by Hasher while the layer unpacks (two cores, one read
each) and checked before the layer is renamed into the store.
"""
import hashlib
import json
import os
import threading

from launcher.errors import LauncherError
from launcher.store import fs

MANIFEST_LIMIT = 4 << 20
CONFIG_LIMIT = 16 << 20
MAX_LAYERS = 500     # overlayfs stacks at most 500 lower layers
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\xfd7zXZ\x00", "xz"),
          (b"BZh", "bzip2"))


def _hex(digest, what):
    from launcher.images.store import hex_of
    try:
        return hex_of(digest)
    except LauncherError:
        raise LauncherError(f"{what}: invalid digest {digest!r}") from None


def _size(value, what, limit=None):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or \
            (limit is not None and value > limit):
        raise LauncherError(f"{what}: invalid size {value!r}")
    return value


class Layer:
    __slots__ = ("blob", "size", "diff_id")

    def __init__(self, blob, size, diff_id):
        self.blob, self.size, self.diff_id = blob, size, diff_id


class Copied:
    """A verified copy: manifest (bytes, digest "sha256:..."), config
    (bytes, hex = the image id, parsed dict) and its layers (lowest first)."""

    def __init__(self, manifest_bytes, config_bytes, config_hex, config, layers, media_type):
        self.manifest_bytes = manifest_bytes
        self.digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
        self.config_bytes, self.config_hex, self.config = config_bytes, config_hex, config
        self.layers, self.media_type = layers, media_type


def _json(data, what):
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise LauncherError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise LauncherError(f"{what} is not a JSON object")
    return doc


def read(dir_fd, what):
    """Reads and verifies the copy in dir_fd (see the module docstring);
    `what` names the source in errors."""
    try:
        mbytes = fs.read(dir_fd, "manifest.json", MANIFEST_LIMIT)
    except OSError as e:
        raise LauncherError(f"{what}: cannot read the copied manifest: {e.strerror}") from None
    m = _json(mbytes, f"the manifest of {what}")
    if m.get("schemaVersion") == 1:
        raise LauncherError(f"{what}: docker schema 1 images are not supported")
    media_type = m.get("mediaType") or MANIFEST_TYPES[0]
    if media_type in INDEX_TYPES or "manifests" in m:
        raise LauncherError(f"{what}: skopeo copied an index, not one image")
    if m.get("schemaVersion") != 2 or media_type not in MANIFEST_TYPES:
        raise LauncherError(f"{what}: unsupported manifest type {media_type!r}")
    cdesc, ldescs = m.get("config"), m.get("layers")
    if not isinstance(cdesc, dict) or not isinstance(ldescs, list):
        raise LauncherError(f"the manifest of {what} has no config or no layers")
    chex = _hex(cdesc.get("digest"), f"the config of {what}")
    csize = _size(cdesc.get("size"), f"the config of {what}", CONFIG_LIMIT)
    try:
        cbytes = fs.read(dir_fd, chex, CONFIG_LIMIT)
    except OSError as e:
        raise LauncherError(f"the config of {what}: {e.strerror}") from None
    if len(cbytes) != csize or hashlib.sha256(cbytes).hexdigest() != chex:
        raise LauncherError(f"the config of {what} does not match its digest sha256:{chex[:12]}")
    config = _json(cbytes, f"the config of {what}")
    rootfs = config.get("rootfs") or {}
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers" or \
            not isinstance(diff_ids, list):
        raise LauncherError(f"the config of {what} has no rootfs.diff_ids")
    if len(diff_ids) != len(ldescs):
        raise LauncherError(f"{what}: the manifest has {len(ldescs)} layers but the config "
                            f"{len(diff_ids)} diff_ids")
    if len(ldescs) > MAX_LAYERS:
        raise LauncherError(f"{what}: {len(ldescs)} layers, more than overlayfs stacks "
                            f"({MAX_LAYERS})")
    layers = []
    for i, (desc, diff_id) in enumerate(zip(ldescs, diff_ids)):
        label = f"layer {i} of {what}"
        if not isinstance(desc, dict):
            raise LauncherError(f"{label}: invalid descriptor")
        blob = _hex(desc.get("digest"), label)
        size = _size(desc.get("size"), label)
        diff = _hex(diff_id, f"{label} (diff_id)")
        if blob != diff:
            raise LauncherError(f"{label}: blob sha256:{blob[:12]} is not the uncompressed layer "
                                f"sha256:{diff[:12]} its config names")
        try:
            st = os.stat(blob, dir_fd=dir_fd, follow_symlinks=False)
        except OSError as e:
            raise LauncherError(f"{label}: {e.strerror}") from None
        if st.st_size != size:
            raise LauncherError(f"{label}: {st.st_size} bytes, its descriptor says {size}")
        layers.append(Layer(blob, size, diff))
    return Copied(mbytes, cbytes, chex, config, layers, media_type)


def compression(fd):
    """The compression a blob's first bytes announce, or None."""
    head = os.pread(fd, 8, 0)
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


class Hasher(threading.Thread):
    """sha256 of a whole file, computed in a thread (hashlib and pread
    release the GIL, so it overlaps the unpack on a second core)."""

    def __init__(self, fd):
        super().__init__(daemon=True)
        self.fd = os.dup(fd)
        self.hex = None
        self.stop = False

    def run(self):
        h, off = hashlib.sha256(), 0
        try:
            while not self.stop:
                data = os.pread(self.fd, 1 << 20, off)
                if not data:
                    self.hex = h.hexdigest()
                    break
                h.update(data)
                off += len(data)
        finally:
            os.close(self.fd)

    def result(self, cancel=False):
        self.stop = cancel
        self.join()
        return self.hex
