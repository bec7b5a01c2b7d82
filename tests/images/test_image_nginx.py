"""The nginx image, built offline from Debian's nginx-light with
mmdebstrap (slow the first time, cached after), lands in the store and its
nginx runs from the overlayfs-mounted layer."""
import os
import stat
import subprocess

import pytest

from launcher.images import ensure, pull

SCRIPT = r"""
set -e
mount --make-rprivate /
mkdir -p "$MNT" "$RW/upper" "$RW/work"
# one lower layer needs an upper dir (overlayfs: "at least 2 lowerdir are
# needed while upperdir nonexistent"), as a container's writable layer is
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$RW/upper,workdir=$RW/work" "$MNT"
chroot "$MNT" /usr/sbin/nginx -v 2>&1
chroot "$MNT" /usr/sbin/nginx -t 2>&1 | tail -1
"""


@pytest.mark.slow
def test_nginx_image(tmp_path, root, nginx_layout):
    """A Debian root filesystem (device nodes, setuid binaries, thousands
    of files) unpacks; `nginx -v` and `nginx -t` work in it."""
    r = pull.pull(f"oci:{nginx_layout}:latest", root)
    image = ensure.resolve("localhost/nginx:latest", root)
    assert r.names == ["localhost/nginx:latest"] and len(image.layers) == 1
    top = image.layers[0]
    null = os.lstat(os.path.join(top, "dev", "null"))
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert os.lstat(os.path.join(top, "usr", "bin", "su")).st_mode & stat.S_ISUID
    assert image.config.cmd == ("nginx", "-g", "daemon off;")
    assert image.config.stop_signal == "SIGQUIT" and image.config.exposed_ports == ("80/tcp",)
    out = subprocess.run(["unshare", "-m", "sh", "-c", SCRIPT], capture_output=True, text=True,
                         timeout=60, env={"MNT": str(tmp_path / "mnt"), "RW": str(tmp_path / "rw"),
                                          "LOWER": image.lowerdir(),
                                          "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "nginx version: nginx/" in out.stdout and "test is successful" in out.stdout
