"""Helpers of the image store tests: a runner for the image verbs'
parse/main, store directory listings, building OCI layouts with crafted
layers, and the isolated podman class."""
import contextlib
import io
import os
import sys

from launcher.errors import LauncherError
from launcher.images import testimages

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "scripts"))
import podman_env  # noqa: E402


class Podman(podman_env.Podman):
    """podman_env's isolated podman with vfs storage: no overlay mounts
    under the test's tmp dir, and a containers-storage: spec for skopeo."""

    def __init__(self, base):
        super().__init__(base)
        with open(self.storage_conf, "w") as f:
            f.write(podman_env.STORAGE_CONF.format(base=self.base).replace('"overlay"', '"vfs"'))

    def storage_spec(self):
        return f"vfs@{self.base}/root+{self.base}/run"


class Result:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err


def run_verb(module, argv, **extra):
    """Runs a verb module as the CLI will: parse, main; a LauncherError is
    the one line `launcher: MESSAGE` and its exit code."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            opts = module.parse(argv)
            opts.update(extra)
            code = module.main(opts)
            err = ""
        except LauncherError as e:
            code, err = e.code, f"launcher: {e}"
    return Result(code, out.getvalue(), err)


def tree_counts(root):
    """Entries of each store directory that can hold something."""
    out = {}
    for sub in ("images", "blobs/sha256", "layers", "tmp", "holds"):
        path = os.path.join(root, sub)
        out[sub] = sorted(os.listdir(path)) if os.path.isdir(path) else []
    return out


def layout_with(path, layers, config=None, tag="latest"):
    """An OCI layout at path holding one image made of `layers` (tar bytes)."""
    lay = testimages.Layout(str(path))
    lay.tag(lay.image(layers, config or {"Cmd": ["sh"]}), tag)
    return lay.close()
