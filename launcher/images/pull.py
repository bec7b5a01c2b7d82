"""pull and load: from a source to a verified, unpacked image in the store.

The flow of one pull (see docs/images.md):
1. parse the source; find the names it gives (the reference, an archive's
   RepoTags, an OCI layout's ref.name);
2. skopeo copies it into the pull's own tmp dir (dir:, decompressed);
3. layout.read verifies manifest and config, and that every layer blob is
   the uncompressed layer its diff_id names;
4. under the store lock, a lease names the layers this pull uses, so no
   rmi or prune removes them under it;
5. each layer absent from the store is unpacked under its own lock (a
   concurrent pull of it waits, then finds it done) into tmp, hashed at the
   same time, and renamed into layers/ once the hash matched and the data
   is synced;
6. under the store lock: manifest and config into blobs/, the record, the
   tags; the lease goes, and the tmp dir with it.
A pull killed anywhere leaves at most a tmp dir (removed by the next pull)
and complete layers no record names yet (kept for reuse, pruned otherwise).
"""
import json
import os
import time

from launcher.errors import LauncherError
from launcher.images import layout, platform as plat, reference, skopeo
from launcher.images.store import Store
from launcher.store import fs

ARCHIVE_JSON_LIMIT = 4 << 20


class Pulled:
    """What a pull did: the image id, the names it tagged, and which layers
    (hex diff_ids) it unpacked itself, found already there, or waited for
    while another pull unpacked them."""

    def __init__(self, image_id, names, unpacked, reused, waited, digest):
        self.image_id, self.names, self.digest = image_id, names, digest
        self.unpacked, self.reused, self.waited = unpacked, reused, waited

    def as_dict(self):
        return dict(vars(self))


def archive_members(path, wanted):
    """{name: parsed JSON} of the members `wanted` (e.g. manifest.json) of
    the tar at path, by a header scan (tarscan; tarfile only for a
    compressed archive), sizes bounded."""
    from launcher.images.tarscan import Reader, TarError
    found = {}
    try:
        fd = os.open(path, fs.O_READ)
    except OSError as e:
        raise LauncherError(f"{path!r}: {e.strerror}") from None
    try:
        try:
            for e in Reader(fd, os.fstat(fd).st_size):
                name = e.name[2:] if e.name.startswith("./") else e.name
                if name in wanted and e.isreg() and name not in found:
                    if e.size > ARCHIVE_JSON_LIMIT:
                        raise LauncherError(f"{path!r}: {name} is too big")
                    found[name] = _json_member(path, name, os.pread(fd, e.size, e.offset_data))
                    if len(found) == len(wanted):
                        break
        except TarError:
            return _compressed_members(path, wanted)
    finally:
        os.close(fd)
    return found


def _json_member(path, name, data):
    try:
        return json.loads(data)
    except ValueError:
        raise LauncherError(f"{path!r}: {name} is not valid JSON") from None


def _compressed_members(path, wanted):
    import tarfile
    found = {}
    try:
        with tarfile.open(path, "r:*") as tf:
            for ti in tf:
                name = ti.name[2:] if ti.name.startswith("./") else ti.name
                if name in wanted and ti.isreg() and name not in found:
                    if ti.size > ARCHIVE_JSON_LIMIT:
                        raise LauncherError(f"{path!r}: {name} is too big")
                    found[name] = _json_member(path, name, tf.extractfile(ti).read())
                    if len(found) == len(wanted):
                        break
    except OSError as e:
        raise LauncherError(f"{path!r}: {e.strerror or e}") from None
    except tarfile.TarError:   # its message spans lines (one per compression tried)
        raise LauncherError(f"{path!r} is not a valid image archive (not a tar, or a "
                            f"damaged one)") from None
    return found


def _repo_tags(entry):
    out = []
    for tag in (entry.get("RepoTags") or []) if isinstance(entry, dict) else []:
        try:
            ref = reference.parse_reference(tag)
        except LauncherError:
            continue
        if ref.tag:
            out.append(ref.tagged)
    return out


def _index_names(index, path):
    """Store names for the single image of an OCI index.json."""
    mans = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(mans, list) or len(mans) != 1 or not isinstance(mans[0], dict):
        return []
    name = (mans[0].get("annotations") or {}).get("org.opencontainers.image.ref.name")
    ref = reference.oci_name(path, name) if isinstance(name, str) else None
    return [ref.tagged] if ref else []


def source_names(source):
    """The names the image from `source` gets in the store."""
    named = source.local_name()
    if named is not None:
        return [named.tagged]
    if source.transport == "docker-archive":
        manifest = archive_members(source.path, {"manifest.json"}).get("manifest.json")
        if not isinstance(manifest, list) or not manifest:
            return []
        if source.within and source.within.startswith("@"):
            i = int(source.within[1:])
            return _repo_tags(manifest[i]) if i < len(manifest) else []
        return _repo_tags(manifest[0]) if len(manifest) == 1 else []
    if source.transport == "oci" and not source.within:
        try:
            fd = fs.open_dir(source.path)
        except OSError:
            return []
        try:
            index = json.loads(fs.read(fd, "index.json", ARCHIVE_JSON_LIMIT))
        except (OSError, ValueError):
            return []
        finally:
            os.close(fd)
        return _index_names(index, source.path)
    if source.transport == "oci-archive" and not source.within:
        index = archive_members(source.path, {"index.json"}).get("index.json")
        return _index_names(index, source.path)
    return []


def _unpack_layer(store, cfd, wfd, layer, what):
    """Makes layers/HEX from the copied blob, unless it is there; returns
    'unpacked', 'reused' or 'waited' (another pull made it meanwhile)."""
    from launcher.images.unpack import LayerError, unpack
    hexd = layer.diff_id
    if store.has_layer(hexd):
        return "reused"
    with store.layer_lock(hexd):
        if store.has_layer(hexd):
            return "waited"
        name = f"layer-{hexd}"
        fd = os.open(layer.blob, fs.O_READ, dir_fd=cfd)
        try:
            kind = layout.compression(fd)
            if kind:
                raise LauncherError(f"layer sha256:{hexd[:12]} of {what!r} is still {kind}-"
                                    f"compressed after skopeo's decompression")
            hasher = layout.Hasher(fd)
            hasher.start()
            rejected = None
            try:
                unpack(fd, wfd, name)
            except LayerError as e:
                rejected = e
            except BaseException:
                hasher.result(cancel=True)
                raise
            got = hasher.result()
            if got != layer.blob:   # corruption first: it may be why the tar looks hostile
                fs.remove_tree(wfd, name)
                raise LauncherError(f"layer sha256:{hexd[:12]} of {what!r} does not match its "
                                    f"digest (sha256 is {str(got)[:12]})")
            if rejected:
                raise LauncherError(f"layer sha256:{hexd[:12]} of {what!r} rejected: "
                                    f"{rejected}")
        finally:
            os.close(fd)
        return "unpacked" if store.commit_layer(wfd, name, hexd) else "waited"


def _check_platform(copied, wanted, what):
    arch, os_ = copied.config.get("architecture"), copied.config.get("os")
    w_os, w_arch, _ = plat.parse(wanted)
    if isinstance(arch, str) and arch and (arch != w_arch or (os_ and os_ != w_os)):
        raise LauncherError(f"{what!r} is an image for {os_}/{arch}, not {w_os}/{w_arch}")


def _commit(store, cfd, wfd, copied, names, extra_digests):
    image_id = copied.config_hex
    with store.locked():
        store.write_unsynced(wfd, "manifest", copied.manifest_bytes)
        store.add_blob(wfd, "manifest", copied.digest[7:])
        store.add_blob(cfd, image_id, image_id)
        rec = store.record(image_id) or {"id": image_id}
        repo_digests = set(rec.get("repo_digests", [])) | set(extra_digests)
        repo_digests |= {f"{reference.parse_reference(n).name}@{copied.digest}" for n in names}
        cfg = copied.config
        rec.update({
            "id": image_id, "digest": copied.digest, "media_type": copied.media_type,
            "layers": [{"diff_id": "sha256:" + lay.diff_id, "size": lay.size}
                       for lay in copied.layers],
            "size": sum(lay.size for lay in copied.layers) + len(copied.config_bytes)
            + len(copied.manifest_bytes),
            "created": cfg.get("created") if isinstance(cfg.get("created"), str) else "",
            "platform": f"{cfg.get('os', '')}/{cfg.get('architecture', '')}",
            "repo_digests": sorted(repo_digests),
            "pulled": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        store.write_record(rec)
        if names:
            tags = store.tags()
            tags.update({n: image_id for n in names})
            store.write_tags(tags)
        store.unlease(wfd)


def pull_source(store, source, platform=None, timeout=skopeo.DEFAULT_TIMEOUT, names=None,
                check_platform=True):
    """Pulls a parsed Source into an open Store; returns Pulled."""
    wanted = platform or plat.host()
    store.clean_tmp()
    work, wfd = store.new_work()
    try:
        running = skopeo.start(source, os.path.join(store.path, "tmp", work, "copy"), wanted,
                               timeout)
        try:   # meanwhile: the names, and the modules the unpack needs
            names = source_names(source) if names is None else names
            from launcher.images import tarscan, unpack  # noqa: F401
        except BaseException:
            running.kill()
            raise
        running.wait()
        cfd = fs.open_dir("copy", wfd)
        try:
            copied = layout.read(cfd, source.text)
            if check_platform:
                _check_platform(copied, wanted, source.text)
            with store.locked():
                store.lease(wfd, [lay.diff_id for lay in copied.layers])
            done = {"unpacked": [], "reused": [], "waited": []}
            for lay in copied.layers:
                done[_unpack_layer(store, cfd, wfd, lay, source.text)].append(lay.diff_id)
            extra = [f"{source.ref.name}@{source.ref.digest}"] \
                if source.ref is not None and source.ref.digest else []
            _commit(store, cfd, wfd, copied, names, extra)
        finally:
            os.close(cfd)
    finally:
        os.close(wfd)
        store.drop_work(work)
    return Pulled(copied.config_hex, names, done["unpacked"], done["reused"], done["waited"],
                  copied.digest)


def pull(text, root=None, platform=None, timeout=skopeo.DEFAULT_TIMEOUT):
    """Pulls the image named by `text` (any supported transport, or a
    docker reference) into the store at root; returns Pulled."""
    source = reference.parse_source(text)
    if platform is not None:
        plat.parse(platform)
    with Store(root) as store:
        return pull_source(store, source, platform, timeout)


def _spool(store, stream):
    """Copies stream (stdin) into a tmp file of the store; (work, path)."""
    work, wfd = store.new_work()
    try:
        fd = os.open("stdin", fs.O_NEW, 0o600, dir_fd=wfd)
        try:
            while True:
                data = stream.read(1 << 20)
                if not data:
                    break
                fs.write_all(fd, data)
        finally:
            os.close(fd)
    finally:
        os.close(wfd)
    return work, os.path.join(store.path, "tmp", work, "stdin")


def load(path, root=None, stdin=None, timeout=skopeo.DEFAULT_TIMEOUT):
    """Loads every image of a docker-archive or oci-archive (path, or '-'
    for `stdin`, spooled to a temp file first); returns [(names, id)]."""
    with Store(root) as store:
        spool = None
        if path == "-":
            store.clean_tmp()
            spool, path = _spool(store, stdin)
        try:
            return _load(store, path, timeout)
        finally:
            if spool:
                store.drop_work(spool)


def _load(store, path, timeout):
    if not os.path.isfile(path):
        raise LauncherError(f"{path!r}: no such file" if not os.path.exists(path)
                            else f"{path!r}: not a regular file")
    members = archive_members(path, {"manifest.json", "index.json", "oci-layout"})
    out = []
    if "manifest.json" in members and isinstance(members["manifest.json"], list):
        for i, entry in enumerate(members["manifest.json"]):
            src = reference.Source("docker-archive", f"docker-archive:{path}", path=path,
                                   within=f"@{i}")
            r = pull_source(store, src, timeout=timeout, names=_repo_tags(entry),
                            check_platform=False)
            out.append((r.names, r.image_id))
    elif "index.json" in members:
        mans = members["index.json"].get("manifests") \
            if isinstance(members["index.json"], dict) else None
        if not isinstance(mans, list) or not mans:
            raise LauncherError(f"{path!r}: the OCI archive holds no image")
        named = [(m.get("annotations") or {}).get("org.opencontainers.image.ref.name")
                 for m in mans if isinstance(m, dict)]
        if len(mans) == 1 and not named[0]:
            src = reference.Source("oci-archive", f"oci-archive:{path}", path=path)
            r = pull_source(store, src, timeout=timeout, names=[], check_platform=False)
            out.append((r.names, r.image_id))
        for name in named:
            if not isinstance(name, str) or not name:
                continue
            ref = reference.oci_name(path, name)
            src = reference.Source("oci-archive", f"oci-archive:{path}:{name}", path=path,
                                   within=name)
            r = pull_source(store, src, timeout=timeout, names=[ref.tagged] if ref else [],
                            check_platform=False)
            out.append((r.names, r.image_id))
    else:
        raise LauncherError(f"{path!r} is neither a docker-archive nor an oci-archive")
    return out
