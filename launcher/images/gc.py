"""rmi and prune: removing images, and whatever no image needs any more.

Everything is decided under the store lock: an image is in use while a
hold names it and `is_live(pod_id)` (the caller's, who knows the pods)
says that pod exists; holds of pods that do not are dropped. A layer or
blob is kept while a record or a live pull's lease names it. Removed layer
directories are first renamed into a tmp dir under the lock, then deleted
after it, so the lock is never held for a big rm -r.
"""
import fcntl
import os

from launcher.errors import LauncherError
from launcher.images.ensure import NotFound, find
from launcher.store import fs

EXIT_NOT_FOUND = 1    # podman rmi: one of the images does not exist
EXIT_IN_USE = 2       # podman rmi: an image is in use by a container (a pod here)


def _always_live(pod_id):
    return True


def _drop_image(store, image_id, report):
    store.delete_record(image_id)
    report.append(f"Deleted: {image_id}")


def sweep(store, trash):
    """Removes layers, blobs and layer lock files nothing references (call
    under the lock); layer dirs are moved into the work dir `trash` (name,
    fd). Returns {"layers": [...], "blobs": [...]}."""
    records = store.records()
    layers, blobs = set(store.leased_layers()), set()
    for image_id, rec in records.items():
        blobs.add(image_id)
        digest = rec.get("digest", "")
        if digest.startswith("sha256:"):
            blobs.add(digest[7:])
        layers.update(lay["diff_id"][7:] for lay in rec.get("layers", []))
    gone = {"layers": [], "blobs": []}
    name, wfd = trash
    for hexd in store.layer_ids():
        if hexd not in layers:
            os.rename(hexd, f"del-{hexd}", src_dir_fd=store.dirs["layers"], dst_dir_fd=wfd)
            gone["layers"].append(hexd)
    for hexd in store.blob_ids():
        if hexd not in blobs:
            fs.remove_tree(store.dirs["blobs/sha256"], hexd)
            gone["blobs"].append(hexd)
    present = set(store.layer_ids())
    for lock in _lock_names(store):
        if lock[len("layer-"):] not in present and lock[len("layer-"):] not in layers:
            _remove_lock(store, lock)
    return gone


def _lock_names(store):
    return [n for n in os.listdir(store.dirs["locks"]) if n.startswith("layer-")]


def _remove_lock(store, name):
    """Unlinks a layer lock file nobody holds (a waiter notices: InodeLock)."""
    try:
        fd = os.open(name, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=store.dirs["locks"])
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(name, dir_fd=store.dirs["locks"])
    except OSError:
        pass
    finally:
        os.close(fd)


def _with_trash(store, work):
    """Runs work(trash) under the lock, then deletes what it moved to trash."""
    trash = store.new_work()
    try:
        with store.locked():
            return work(trash)
    finally:
        os.close(trash[1])
        store.drop_work(trash[0])


def rmi(store, texts, force=False, is_live=None):
    """Removes images by name or id, as podman rmi does: a name drops that
    tag, and the image goes with its last tag; an id drops every tag (with
    more than one, only with force). An image a live pod holds is refused
    (exit 2); with force its tags go but the image stays until the pod is
    gone: force never stops a pod. Returns (lines, errors) where errors is
    [(LauncherError)]; lines are "Untagged: NAME" / "Deleted: ID"."""
    is_live = is_live or _always_live

    def work(trash):
        lines, errors = [], []
        tags = store.tags()
        for text in texts:
            try:
                found = find(store, text, tags)
            except LauncherError as e:
                errors.append(e)
                continue
            if found is None:
                errors.append(NotFound(text))
                continue
            image_id, tag = found
            names = sorted(n for n, i in tags.items() if i == image_id)
            users = store.live_holders(image_id, is_live)
            if tag is None and len(names) > 1 and not force:
                errors.append(LauncherError(
                    f"unable to delete image {image_id[:12]!r} by id with more than one tag "
                    f"({', '.join(names)}): remove it by name, or with -f"))
                continue
            last = tag is None or names == [tag]
            if users and last and not force:
                errors.append(LauncherError(
                    f"image {text!r} is in use by pod {', '.join(users)}: remove the pod first "
                    f"(rmi -f only untags it)", code=EXIT_IN_USE))
                continue
            for name in ([tag] if tag else names):
                del tags[name]
                lines.append(f"Untagged: {name}")
            if last and not users:
                _drop_image(store, image_id, lines)
        store.write_tags(tags)
        sweep(store, trash)
        return lines, errors

    return _with_trash(store, work)


def prune(store, all_images=False, is_live=None):
    """Removes dangling images (no tag; with all_images: every image) that
    no live pod holds, then unreferenced layers, blobs and the tmp dirs of
    dead pulls. Returns {"images", "layers", "blobs", "tmp"}."""
    is_live = is_live or _always_live
    tmp = store.clean_tmp()

    def work(trash):
        tags = store.tags()
        named = set(tags.values())
        removed = []
        for image_id in sorted(store.records()):
            if (all_images or image_id not in named) and \
                    not store.live_holders(image_id, is_live):
                for name in [n for n, i in tags.items() if i == image_id]:
                    del tags[name]
                store.delete_record(image_id)
                removed.append(image_id)
        store.write_tags(tags)
        for pod, ids in store.holds().items():   # holds of pods that are gone
            if not is_live(pod):
                store.release(pod)
        gone = sweep(store, trash)
        return {"images": removed, "layers": gone["layers"], "blobs": gone["blobs"],
                "tmp": tmp}

    return _with_trash(store, work)
