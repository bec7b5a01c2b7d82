"""The launcher as the integration tests drive it: `python -m launcher`
against a private state directory (the `lx` fixture of
tests/integration/conftest.py), and the /proc readers that prove a pod
left nothing behind: no process carrying that state dir in its
environment (pause, containers and monitor all inherit it), no pod state,
no proc mount."""
import json
import os
import shlex
import signal
import subprocess
import sys

from helpers import first_line, sleep_until  # noqa: F401  (first_line: for the test files)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
CGROUP_PARENTS = []   # every Launcher's cgroup parent (tests/conftest.py checks them)


def wait_for(pred, timeout=10.0, interval=0.02):
    """Polls pred() until truthy or timeout; returns its last value."""
    return sleep_until(pred, timeout, interval)


def ns_holders(inodes):
    """Host pids of processes still in any namespace of `inodes` ({kind: inode})."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        for kind, ino in inodes.items():
            try:
                if os.stat(f"/proc/{name}/ns/{kind}").st_ino == ino:
                    out.append(int(name))
                    break
            except OSError:
                pass
    return out


def proc_mounts():
    """The host's proc mounts (mount point, super options): pods must add none."""
    with open("/proc/self/mountinfo") as f:
        return sorted(ln.split()[4] for ln in f if " - proc " in ln)


class Launcher:
    """Runs `python -m launcher` against a private state directory."""

    def __init__(self, statedir, image_root=None):
        self.statedir = str(statedir)
        self.image_root = str(image_root) if image_root else None
        pypath = os.environ.get("PYTHONPATH")
        # Each Launcher's pods get cgroups under a parent of their own, so a
        # test's leak check sees only its pods' cgroups.
        self.cgroup_parent = "launcher-test-" + os.urandom(4).hex()
        CGROUP_PARENTS.append(self.cgroup_parent)
        self.env = dict(os.environ, LAUNCHER_STATE_DIR=self.statedir,
                        LAUNCHER_CGROUP_PARENT=self.cgroup_parent,
                        PYTHONPATH=REPO + (os.pathsep + pypath if pypath else ""))
        self.env.pop("LAUNCHER_MONITOR", None)
        if self.image_root:
            self.env["LAUNCHER_IMAGE_ROOT"] = self.image_root
        self.marker = f"LAUNCHER_STATE_DIR={self.statedir}".encode()

    def writable_layers(self):
        """The pods' writable layers and emptyDirs left in the image root."""
        if not self.image_root:
            return []
        d = os.path.join(self.image_root, "containers")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def cgroups(self):
        """Every cgroup left under this Launcher's cgroup parent (its pods')."""
        from launcher import cgroups
        return cgroups.leftovers(cgroups.detect(), self.cgroup_parent)

    def drop_cgroup_parent(self):
        """Removes the (empty) parent cgroup in every hierarchy."""
        from launcher import cgroups
        cgroups.remove_parent(cgroups.detect(), self.cgroup_parent)

    def argv(self, *args):
        return [PY, "-m", "launcher", *args]

    def run(self, *args, timeout=60, env=None, cwd=REPO, **kw):
        """Runs the launcher to completion; a CompletedProcess with text output."""
        return subprocess.run(self.argv(*args), capture_output=True, text=True,
                              timeout=timeout, env=env or self.env, cwd=cwd, **kw)

    def ok(self, *args, **kw):
        """Runs the launcher, asserts exit 0, returns stdout."""
        r = self.run(*args, **kw)
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
        return r.stdout

    def popen(self, *args, env=None, cwd=REPO, **kw):
        return subprocess.Popen(self.argv(*args), env=env or self.env, cwd=cwd, **kw)

    def inspect(self, pod):
        return json.loads(self.ok("inspect", pod))

    def ps(self):
        return json.loads(self.ok("ps", "--format", "json"))

    def procs(self):
        """Host pids of every live process started for this state dir."""
        out = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == os.getpid():
                continue
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    if self.marker in f.read().split(b"\0"):
                        out.append(int(name))
            except OSError:
                pass
        return out

    def pod_files(self):
        """What is left in the state dir besides the locks, the gc stamp and
        the (empty) name index and CNI record directory."""
        if not os.path.isdir(self.statedir):
            return []
        left = [n for n in os.listdir(self.statedir)
                if n not in (".lock", ".names", ".gc-stamp", ".cni", ".mounts")]
        for sub, keep in ((".names", ()), (".cni", (".cni-state.lock",))):
            path = os.path.join(self.statedir, sub)
            if os.path.isdir(path):
                left += [f"{sub}/{n}" for n in os.listdir(path) if n not in keep]
        return left

    def cleanup(self):
        """rm -f every pod, then assert nothing is left; returns problems."""
        problems = []
        for pod in self.ps():
            if pod["state"] in ("running", "creating"):
                problems.append(f"pod {pod['name']} still running at teardown")
            self.run("rm", "-f", pod["id"])
        if not wait_for(lambda: not self.procs(), 10):
            problems.append(f"processes left: {self.procs()}")
            for pid in self.procs():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.pod_files():
            problems.append(f"state left: {self.pod_files()}")
        if self.writable_layers():
            problems.append(f"pod storage left in the image root: {self.writable_layers()}")
        mounts_dir = os.path.join(self.statedir, ".mounts")
        if os.path.isdir(mounts_dir):
            if os.listdir(mounts_dir):
                problems.append(f"mounts left: {os.listdir(mounts_dir)}")
            subprocess.run(["umount", "-l", mounts_dir], capture_output=True)   # the launcher keeps it
            if os.path.ismount(mounts_dir):
                problems.append(f"{mounts_dir} is still a mount point")
        left = self.cgroups()
        if left:
            problems.append(f"cgroups left: {left}")
            from launcher import cgroups
            cgroups.gc(cgroups.detect(), (), self.cgroup_parent)
        self.drop_cgroup_parent()
        return problems


def cmd(name, *argv):
    """A `-c NAME=COMMAND LINE` value running argv."""
    return f"{name}={shlex.join(argv)}"


