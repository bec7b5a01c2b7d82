"""The local image store: OCI images pulled through skopeo, verified, and
unpacked once per layer into directories that overlayfs can stack.

reference.py   parse and normalize image references and transports
skopeo.py      the one place that runs skopeo (copy into a temp dir:)
layout.py      read and verify what skopeo wrote (manifest, config, blobs)
unpack.py      a layer tar -> an overlayfs lower directory, safe against hostile tars
layertree.py   unpack's fd-relative, no-follow walking, clearing and metadata
store.py       the on-disk layout: records, tags, layers, locks, holds
gc.py          rmi and prune
pull.py        pull, load, resolve and ensure (imagePullPolicy): the API
config.py      the image config and the Image handed to the launcher
testimages.py  offline builders of the test images (busybox, multi-layer, nginx)

Nothing here is imported on the launcher's `run` path unless an image is
used: this module imports only os.
"""
import os


def default_root():
    """$LAUNCHER_IMAGE_ROOT, else /var/lib/launcher/images for root (images
    survive a reboot, /run is a tmpfs), else $XDG_DATA_HOME/launcher/images
    or ~/.local/share/launcher/images. The caller checks it with
    launcher.store.root.trusted_dir(path, "image root")."""
    path = os.environ.get("LAUNCHER_IMAGE_ROOT")
    if path:
        return path
    if os.geteuid() == 0:
        return "/var/lib/launcher/images"
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                            "share")
    return os.path.join(data, "launcher", "images")
