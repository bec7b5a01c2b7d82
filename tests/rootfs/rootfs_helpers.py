"""Helpers of the rootfs tests: running a container from a RootfsPlan (a
real process in new PID, IPC, UTS, network and mount namespaces), building
crafted images offline, and snapshots of host state to prove nothing
outside the container changed."""
import json
import os
import subprocess
import sys

from launcher.images import ensure, pull, testimages

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(HERE, "rootfs_child.py")
UNSHARE = ["unshare", "--pid", "--fork", "--kill-child", "--net", "--ipc", "--uts", "--"]


class Result:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


def child_argv(plan, script, user=None, env=None, argv=None, caps=()):
    spec = {"plan": plan.to_dict(), "argv": argv or ["/bin/sh", "-c", script], "env": env,
            "user": user.to_dict() if user is not None else None, "caps": list(caps)}
    return UNSHARE + [sys.executable, "-I", CHILD, json.dumps(spec)]


def run(plan, script, user=None, env=None, caps=(), timeout=30):
    """Runs `script` with the image's /bin/sh as a container of `plan`
    (as `user`, a UserSpec, with `caps` dropped); returns its Result once
    it exited."""
    r = subprocess.run(child_argv(plan, script, user, env, caps=caps), capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return Result(r.returncode, r.stdout, r.stderr)


def start(plan, script, user=None):
    """A container left running (Popen of unshare; its stdout a pipe)."""
    return subprocess.Popen(child_argv(plan, script, user), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def crafted_image(tmp_path, root, layers, name="crafted", config=None):
    """Pulls an OCI layout made of `layers` (tar bytes, lowest first) into
    the image root; returns the Image."""
    d = tmp_path / "layouts" / name
    d.parent.mkdir(exist_ok=True)
    lay = testimages.Layout(str(d))
    lay.tag(lay.image(layers, config or testimages.BUSYBOX_CONFIG), "latest")
    lay.close()
    pulled = pull.pull(f"oci:{d}:latest", root)
    return ensure.resolve(pulled.image_id, root)


def mount_points():
    """The mount points of this (the host's) mount namespace."""
    with open("/proc/self/mountinfo") as f:
        return sorted(line.split()[4] for line in f)


def host_mounts(*also):
    """The host's mount table, less what concurrent test sessions of other
    engineers may be mounting under their own temporary directories (but
    with whatever is at or below the paths `also`)."""
    also = tuple(str(a) for a in also)
    return [p for p in mount_points()
            if not p.startswith(("/tmp/pytest-of-", "/run/", "/var/lib/containers/"))
            or any(p == a or p.startswith(a + "/") for a in also)]


def tree(path):
    """{relative path: (mode, size, mtime_ns, content of files)} of a host
    directory, without following symlinks: proves it untouched."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            data = None
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    data = f.read()
            out[os.path.relpath(p, path)] = (st.st_mode, st.st_size, st.st_mtime_ns, data)
    return out


def mountinfo_points(text):
    """The mount points in a mountinfo text (as a container printed it)."""
    return [line.split()[4] for line in text.splitlines() if len(line.split()) > 4]
