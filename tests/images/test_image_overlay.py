"""The unpacked layers of the multi-layer image, stacked by overlayfs in
the order Image.lowerdir() gives, show the image as the OCI spec defines
it: the whited-out file and directory are gone, the opaque directories show
only the upper layer's content, replaced files show the new content, and
the busybox of the lowest layer runs in it."""
import shutil
import subprocess

import pytest

from launcher.images import ensure, pull

SCRIPT = r"""
set -e
mount --make-rprivate /
mkdir -p "$MNT"
mount -t overlay overlay -o "lowerdir=$LOWER" "$MNT"
cd "$MNT"
for p in etc/keep etc/gone etc/replaced opt/app/old1 opt/app/sub opt/app/new1 srv/old srv/new \
         var/cache var bin/busybox; do
    if [ -e "$p" ]; then echo "present $p"; else echo "absent $p"; fi
done
echo "replaced: $(cat etc/replaced)"
echo "app: $(ls -A opt/app | tr '\n' ' ')"
echo "srv: $(ls -A srv | tr '\n' ' ')"
echo "etc: $(ls -A etc | tr '\n' ' ')"
echo "busybox: $(chroot "$MNT" /bin/sh -c 'echo hello from $(basename $(readlink /bin/ls))')"
"""


def test_overlay_shows_the_image(tmp_path, root, layered_layout):
    """Mounted read-only as lowerdir=upper:lower:busybox in a private mount
    namespace (it disappears with the process), the stack is the image."""
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is needed")
    pull.pull(f"oci:{layered_layout}:latest", root)
    image = ensure.resolve("localhost/layered:latest", root)
    assert len(image.layers) == 3 and image.lowerdir().split(":")[0] == image.layers[-1]
    r = subprocess.run(["unshare", "-m", "sh", "-c", SCRIPT], capture_output=True, text=True,
                       timeout=30, env={"MNT": str(tmp_path / "mnt"), "LOWER": image.lowerdir(),
                                        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    for p in ("etc/keep", "etc/replaced", "opt/app/new1", "srv/new", "var", "bin/busybox"):
        assert f"present {p}" in out, r.stdout
    for p in ("etc/gone", "opt/app/old1", "opt/app/sub", "srv/old", "var/cache"):
        assert f"absent {p}" in out, r.stdout
    assert "replaced: upper replaced" in out
    assert "app: new1 " in out and "srv: new " in out
    assert "etc: group keep passwd replaced " in out
    assert "busybox: hello from busybox" in out
