"""Test images built offline, for the tests, the bench and the demo.

Every builder writes an OCI image layout (oci-layout, index.json,
blobs/sha256/...) itself with tarfile and hashlib: layers are deterministic
tars (fixed mtime, uid 0), so the same inputs give the same image id. Built
layouts are cached under `cache_root()/<hash of the inputs>/`, made in a
temp directory and renamed into place under a flock, so concurrent test
sessions share one build and a killed build leaves nothing used.

    busybox_image(cache=None)     localhost/busybox:latest: FROM scratch +
                                  /bin/busybox --install -s (Debian's busybox-static)
    multilayer_image(cache=None)  localhost/layered:latest: the busybox layer,
                                  a lower layer, and an upper one that deletes
                                  (whiteout), replaces (opaque dir) and rewrites
                                  files of the lower
    foreign_index_image(cache=None) an index holding only a linux/<foreign arch>
                                  image
    nginx_image(cache=None)       Debian bookworm + nginx-light through mmdebstrap
                                  (the package mirror apt uses; slow, cached)

Each returns the layout's directory (its basename names the image:
oci:DIR:latest lands as localhost/BASENAME:latest). The tar helpers (`Tar`)
also build crafted layers for the unpack tests.
"""
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time

from launcher.errors import LauncherError
from launcher.images import platform as plat

MTIME = 1704067200          # 2024-01-01T00:00:00Z: fixed, so builds are reproducible
CREATED = "2024-01-01T00:00:00Z"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
BUILDER_VERSION = "1"       # bump to invalidate every cached build
BUSYBOX_LAYER_VERSION = "2"  # bump when busybox_layer() changes
NGINX_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*",
                  "/usr/share/info/*", "/usr/share/lintian/*", "/usr/share/zoneinfo/*")


def cache_root():
    """$POD_SANDBOX_TEST_IMAGES, else /var/tmp/pod-sandbox-test-images (root),
    else test-images beside a rootless user's image root (in the user's
    launcher data directory: launcher/runtime/userns.py)."""
    path = os.environ.get("POD_SANDBOX_TEST_IMAGES")
    if path:
        return path
    from launcher.runtime import userns
    if userns.active():
        return os.path.join(os.path.dirname(os.environ[userns.IMAGE_ENV]), "test-images")
    return "/var/tmp/pod-sandbox-test-images"


class Tar:
    """A tar built in memory, entry by entry, with full control over every
    header field (hostile names included); bytes() gives the archive."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.tf = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def _info(self, name, kind, mode, uid=0, gid=0, mtime=MTIME, xattrs=None):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, gid, mtime
        ti.uname = ti.gname = ""
        if xattrs:
            ti.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                              if isinstance(v, bytes) else v for k, v in xattrs.items()}
        return ti

    def dir(self, name, mode=0o755, **kw):
        self.tf.addfile(self._info(name, tarfile.DIRTYPE, mode, **kw))
        return self

    def file(self, name, data=b"", mode=0o644, **kw):
        ti = self._info(name, tarfile.REGTYPE, mode, **kw)
        ti.size = len(data)
        self.tf.addfile(ti, io.BytesIO(data))
        return self

    def symlink(self, name, target, **kw):
        ti = self._info(name, tarfile.SYMTYPE, 0o777, **kw)
        ti.linkname = target
        self.tf.addfile(ti)
        return self

    def hardlink(self, name, target, **kw):
        ti = self._info(name, tarfile.LNKTYPE, 0o644, **kw)
        ti.linkname = target
        self.tf.addfile(ti)
        return self

    def device(self, name, kind, major, minor, mode=0o666, **kw):
        ti = self._info(name, {"c": tarfile.CHRTYPE, "b": tarfile.BLKTYPE}[kind], mode, **kw)
        ti.devmajor, ti.devminor = major, minor
        self.tf.addfile(ti)
        return self

    def fifo(self, name, mode=0o644, **kw):
        self.tf.addfile(self._info(name, tarfile.FIFOTYPE, mode, **kw))
        return self

    def whiteout(self, path):
        head, _, base = path.rpartition("/")
        return self.file((head + "/" if head else "") + ".wh." + base, mode=0o600)

    def opaque(self, dirpath):
        return self.file(dirpath.rstrip("/") + "/.wh..wh..opq", mode=0o600)

    def raw_header(self, name, declared_size, payload=b""):
        """A regular-file header declaring `declared_size` bytes, followed by
        only `payload` (for truncated / huge-size tars); ends the archive."""
        ti = self._info(name, tarfile.REGTYPE, 0o644)
        ti.size = declared_size
        self.tf.fileobj.write(ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        self.tf.fileobj.write(payload)
        self.tf.closed = True   # no end blocks: the archive stops here
        return self

    def bytes(self):
        if not self.tf.closed:
            self.tf.close()
        return self.buf.getvalue()


def _sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    """An OCI image layout being written into `path`."""

    def __init__(self, path):
        self.path = path
        self.blobs = os.path.join(path, "blobs", "sha256")
        os.makedirs(self.blobs, exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.manifests = []

    def blob(self, data, media_type):
        digest = _sha(data)
        with open(os.path.join(self.blobs, digest[7:]), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def blob_file(self, path, media_type):
        """A blob from a file (big layers), moved into the layout."""
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        size = os.path.getsize(path)
        os.replace(path, os.path.join(self.blobs, h.hexdigest()))
        return {"mediaType": media_type, "digest": "sha256:" + h.hexdigest(), "size": size}

    def image(self, layers, config=None, platform=None, history=None):
        """Writes config and manifest for `layers` (tar bytes or descriptors
        from blob_file with their diff_id); returns the manifest descriptor."""
        os_, arch, variant = plat.parse(platform or plat.host())
        descs, diff_ids = [], []
        for layer in layers:
            if isinstance(layer, bytes):
                descs.append(self.blob(layer, OCI_LAYER))
                diff_ids.append(descs[-1]["digest"])
            else:
                descs.append(layer)
                diff_ids.append(layer["digest"])
        cfg = {"created": CREATED, "architecture": arch, "os": os_,
               "config": dict(config or {}),
               "rootfs": {"type": "layers", "diff_ids": diff_ids},
               "history": history or [{"created": CREATED, "created_by": "testimages"}
                                      for _ in layers]}
        if variant:
            cfg["variant"] = variant
        cdesc = self.blob(json.dumps(cfg, sort_keys=True).encode(), OCI_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cdesc,
                    "layers": descs}
        mdesc = self.blob(json.dumps(manifest, sort_keys=True).encode(), OCI_MANIFEST)
        mdesc["platform"] = {"os": os_, "architecture": arch, **({"variant": variant}
                                                                  if variant else {})}
        return mdesc

    def tag(self, mdesc, name):
        self.manifests.append(dict(mdesc, annotations={"org.opencontainers.image.ref.name": name}))

    def index(self, mdescs, name):
        """An image index over mdescs, tagged `name` in index.json."""
        idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": mdescs}
        self.tag(self.blob(json.dumps(idx, sort_keys=True).encode(), OCI_INDEX), name)

    def close(self):
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX,
                       "manifests": self.manifests}, f, sort_keys=True)
        return self.path


def _cached(cache, key_parts, name, build):
    """The layout `name` built by build(path) under cache/<hash>/, built once."""
    from launcher.flock import FileLock
    from launcher.store.root import trusted_dir
    base, fd = trusted_dir(cache or cache_root(), "test image cache")
    os.close(fd)
    key = hashlib.sha256(json.dumps([BUILDER_VERSION, name] + list(key_parts)).encode())
    where = os.path.join(base, key.hexdigest()[:16])
    done = os.path.join(where, name)
    if os.path.isdir(done):
        return done
    os.makedirs(where, mode=0o700, exist_ok=True)
    with FileLock(os.path.join(where, ".lock")):
        if os.path.isdir(done):
            return done
        tmp = os.path.join(where, f".tmp-{name}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            build(tmp)
            os.rename(tmp, done)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return done


def _file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def static_busybox():
    """The path of Debian's static busybox (busybox-static), or LauncherError."""
    for p in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.isfile(p):
            with open(p, "rb") as f:
                head = f.read(4096)
            if head[:4] == b"\x7fELF" and b"ld-linux" not in head and b"/lib64/ld" not in head:
                return p
    raise LauncherError("a static busybox is needed (apt-get install busybox-static)")


def busybox_layer(busybox=None):
    """The busybox layer as tar bytes: /bin/busybox and one symlink per
    applet where `busybox --install -s` puts it, a minimal /etc, /tmp; in
    depth-first order, as tar -c writes a tree."""
    busybox = busybox or static_busybox()
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True,
                             check=True, timeout=30).stdout.split()
    with open(busybox, "rb") as f:
        binary = f.read()
    entries = {d: ("dir", {"tmp": 0o1777, "root": 0o700}.get(d, 0o755))
               for d in ("bin", "dev", "etc", "proc", "root", "sbin", "sys", "tmp", "usr",
                         "usr/bin", "usr/sbin", "var")}
    entries["bin/busybox"] = ("file", binary)
    for path in applets:
        if path != "bin/busybox" and not path.endswith("/"):
            entries[path] = ("symlink", "/bin/busybox")
    entries["etc/passwd"] = ("file", b"root:x:0:0:root:/root:/bin/sh\n"
                                     b"nobody:x:65534:65534:nobody:/:/bin/false\n")
    entries["etc/group"] = ("file", b"root:x:0:\nnogroup:x:65534:\n")
    t = Tar()
    for path in sorted(entries, key=lambda p: p.split("/")):
        kind, arg = entries[path]
        if kind == "dir":
            t.dir(path, mode=arg)
        elif kind == "file":
            t.file(path, arg, mode=0o755 if path == "bin/busybox" else 0o644)
        else:
            t.symlink(path, arg)
    return t.bytes()


BUSYBOX_CONFIG = {"Env": [PATH_ENV], "Cmd": ["sh"]}


def busybox_image(cache=None):
    """localhost/busybox:latest as an OCI layout; returns its directory."""
    busybox = static_busybox()

    def build(tmp):
        os.makedirs(tmp)
        lay = Layout(tmp)
        lay.tag(lay.image([busybox_layer(busybox)], BUSYBOX_CONFIG), "latest")
        lay.close()

    return _cached(cache, [_file_digest(busybox), BUSYBOX_LAYER_VERSION], "busybox", build)


def lower_layer():
    """The lower data layer of the multi-layer image."""
    t = Tar()
    t.dir("etc").file("etc/keep", b"lower keep\n").file("etc/gone", b"lower gone\n")
    t.file("etc/replaced", b"lower replaced\n")
    t.dir("opt").dir("opt/app").file("opt/app/old1", b"old1\n").dir("opt/app/sub")
    t.file("opt/app/sub/old2", b"old2\n")
    t.dir("srv").file("srv/old", b"old srv\n")
    t.dir("var").dir("var/cache").file("var/cache/junk", b"junk\n")
    return t.bytes()


def upper_layer():
    """The upper layer: deletes etc/gone (whiteout) and the var/cache
    directory, replaces opt/app by an opaque directory, rewrites
    etc/replaced, and marks srv opaque with the marker after its new
    entries (it applies to the whole directory wherever it is)."""
    t = Tar()
    t.dir("etc").whiteout("etc/gone").file("etc/replaced", b"upper replaced\n")
    t.dir("opt").dir("opt/app").opaque("opt/app").file("opt/app/new1", b"new1\n")
    t.dir("srv").file("srv/new", b"new srv\n").opaque("srv")
    t.dir("var").whiteout("var/cache")
    return t.bytes()


def multilayer_image(cache=None):
    """localhost/layered:latest: busybox, lower, upper (see upper_layer)."""
    busybox = static_busybox()

    def build(tmp):
        os.makedirs(tmp)
        lay = Layout(tmp)
        lay.tag(lay.image([busybox_layer(busybox), lower_layer(), upper_layer()],
                          BUSYBOX_CONFIG), "latest")
        lay.close()

    return _cached(cache, [_file_digest(busybox), BUSYBOX_LAYER_VERSION], "layered", build)


def foreign_index_image(cache=None):
    """An index holding one image, for a platform other than this host's."""
    foreign = "linux/s390x" if plat.host() != "linux/s390x" else "linux/arm64"

    def build(tmp):
        os.makedirs(tmp)
        lay = Layout(tmp)
        layer = Tar().dir("etc").file("etc/foreign", b"foreign\n").bytes()
        lay.index([lay.image([layer], {"Cmd": ["true"]}, platform=foreign)], "latest")
        lay.close()

    return _cached(cache, [foreign], "foreign", build)


NGINX_CONFIG = {"Env": [PATH_ENV], "Cmd": ["nginx", "-g", "daemon off;"],
                "ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGQUIT"}


def nginx_rootfs_tar(out, suite="bookworm", timeout=900):
    """Runs mmdebstrap (variant apt, nginx-light, docs/man/locales left
    out) into the tar `out`; returns the seconds it took."""
    sources = "/etc/apt/sources.list.d/debian.sources"
    mirror = [sources] if os.path.exists(sources) else []
    argv = ["mmdebstrap", "--quiet", "--variant=apt", "--include=nginx-light", "--format=tar"]
    argv += [f"--dpkgopt=path-exclude={p}" for p in NGINX_EXCLUDES]
    argv += ["--dpkgopt=path-include=/usr/share/doc/*/copyright", suite, out] + mirror
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise LauncherError(f"mmdebstrap failed (exit {r.returncode}): {last}")
    return time.monotonic() - t0


def nginx_image(cache=None, suite="bookworm"):
    """localhost/nginx:latest from Debian's nginx-light; returns the layout
    directory. Its build time is in build-seconds inside it."""
    def build(tmp):
        os.makedirs(tmp)
        lay = Layout(tmp)
        rootfs = os.path.join(tmp, "rootfs.tar")
        seconds = nginx_rootfs_tar(rootfs, suite)
        desc = lay.blob_file(rootfs, OCI_LAYER)
        lay.tag(lay.image([desc], NGINX_CONFIG), "latest")
        lay.close()
        with open(os.path.join(tmp, "build-seconds"), "w") as f:
            f.write(f"{seconds:.1f}\n")

    return _cached(cache, [suite, NGINX_EXCLUDES], "nginx", build)


def docker_archive(layout, out, name, tag="latest"):
    """Writes `layout`:tag as a docker-archive (what `podman save` makes)
    named `name`, with skopeo; returns out."""
    r = subprocess.run(["skopeo", "copy", "-q", f"oci:{layout}:{tag}",
                        f"docker-archive:{out}:{name}"], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        raise LauncherError(f"skopeo copy to docker-archive failed: {r.stderr.strip()}")
    return out


def oci_archive(layout, out):
    """Writes `layout` as an oci-archive (a tar of the layout); returns out."""
    with tarfile.open(out, "w") as t:
        for entry in sorted(os.listdir(layout)):
            if not entry.startswith("."):
                t.add(os.path.join(layout, entry), arcname=entry)
    return out
