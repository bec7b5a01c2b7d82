"""The launcher as an ordinary user: a real unprivileged account that this
setup makes (with subordinate id ranges, as useradd gives every new user
on Debian), a copy of the code that account can read, and Debian's
/usr/bin/python3 (the project's .venv Python may live where a user cannot
reach it, e.g. under root's pyenv).

Each test gets a state root of its own; the image root (and the test-image
cache beside it) is shared by the session, so the busybox test image is
built once. After every test, no process of the user may still run (a
zombie whose parent is the host's init is init's to reap, not ours), the
state root must hold no pod and no holder record, and the user's
namespaces must be gone with their processes."""
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import sleep_until, subids  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
USER = "lxrootless"          # with subordinate ids
PLAIN_USER = "lxnosubids"    # without: a single mapping
SYSTEM_PYTHON = "/usr/bin/python3"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _need(cond, why):
    if not cond:
        pytest.skip(why)


def _ensure_user(name, subids):
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", name], check=True)
        pw = pwd.getpwnam(name)
    for path, flag_add, flag_del in (("/etc/subuid", "--add-subuids", "--del-subuids"),
                                     ("/etc/subgid", "--add-subgids", "--del-subgids")):
        with open(path) as f:
            mine = [ln.strip() for ln in f if ln.split(":")[0] in (name, str(pw.pw_uid))]
        if subids and not mine:
            start = 400000 + (pw.pw_uid % 1000) * 65536
            subprocess.run(["usermod", flag_add, f"{start}-{start + 65535}", name], check=True)
        if not subids:
            for ln in mine:
                _, start, count = ln.split(":")
                subprocess.run(["usermod", flag_del,
                                f"{start}-{int(start) + int(count) - 1}", name], check=True)
    return pw


@pytest.fixture(scope="session")
def rootless_base():
    _need(os.geteuid() == 0, "making the test's unprivileged user needs root")
    _need(shutil.which("useradd") and shutil.which("setpriv"),
          "useradd and setpriv (Debian's passwd, util-linux) are needed")
    probe = subprocess.run([SYSTEM_PYTHON, "-I", "-c", "import _cffi_backend, yaml, prctl"],
                           capture_output=True) if os.path.exists(SYSTEM_PYTHON) else None
    _need(probe is not None and probe.returncode == 0,
          f"{SYSTEM_PYTHON} cannot import _cffi_backend, yaml and prctl (Debian's "
          "python3-cffi-backend, python3-yaml, python3-prctl: scripts/setup-system.sh)")
    _need(os.path.exists(os.path.join(REPO, "pause", "bin", "pause")), "pause is not built")
    base = tempfile.mkdtemp(prefix="launcher-rootless-", dir="/tmp")
    os.chmod(base, 0o755)
    code = os.path.join(base, "code")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in ("launcher", "pause"):
        shutil.copytree(os.path.join(REPO, pkg), os.path.join(code, pkg), ignore=ignore,
                        symlinks=True)
    for top, dirs, files in os.walk(code):
        os.chmod(top, 0o755)
        for f in files:
            p = os.path.join(top, f)
            os.chmod(p, os.stat(p).st_mode | 0o444)
    try:
        yield base, code
    finally:
        shutil.rmtree(base, ignore_errors=True)


class User:
    """Runs the launcher as `pw` (setpriv, a clean environment) against a
    state root of its own and the session's image root."""

    def __init__(self, pw, base, code, tag):
        self.pw, self.code = pw, code
        self.data = os.path.join(base, f"data-{pw.pw_name}")
        self.state = os.path.join(base, f"state-{pw.pw_name}-{tag}")
        for d in (self.data, self.state):
            os.makedirs(d, mode=0o700, exist_ok=True)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        self.images = os.path.join(self.data, "images")
        self.env = {"HOME": pw.pw_dir, "PATH": PATH, "USER": pw.pw_name, "LANG": "C.UTF-8",
                    "LAUNCHER_STATE_DIR": self.state, "LAUNCHER_IMAGE_ROOT": self.images}

    def argv(self, *args, env=None):
        main = (f"import sys; sys.path.insert(0, {self.code!r}); "
                "from launcher.cli import main; sys.exit(main())")
        extra = [f"{k}={v}" for k, v in dict(self.env, **(env or {})).items()]
        return ["setpriv", f"--reuid={self.pw.pw_uid}", f"--regid={self.pw.pw_gid}",
                "--init-groups", "--", "env", "-i", *extra,
                SYSTEM_PYTHON, "-I", "-c", main, *args]

    def run(self, *args, timeout=120, env=None, input=None):
        return subprocess.run(self.argv(*args, env=env), capture_output=True, text=True,
                              timeout=timeout, cwd="/", input=input)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, (args, r.returncode, r.stderr)
        return r.stdout

    def live_processes(self):
        """The user's processes that are not zombies of the host's init."""
        out = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                st = os.stat(f"/proc/{name}")
                with open(f"/proc/{name}/stat", "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if st.st_uid not in self.uids():
                continue
            fields = data[data.rindex(b")") + 2:].split()
            state, ppid = fields[0].decode(), int(fields[1])
            if state == "Z" and ppid == 1:
                continue
            out.append((int(name), state, ppid))
        return out

    def uids(self):
        ids = {self.pw.pw_uid}
        sub = subids("/etc/subuid", self.pw.pw_name)
        if sub:
            ids.update(range(sub[0], sub[0] + sub[1]))
        return ids

    def leftovers(self):
        problems = []
        procs = self.live_processes()
        if procs:
            problems.append(f"processes {procs}")
        try:
            entries = sorted(os.listdir(self.state))
        except FileNotFoundError:
            entries = []
        stray = [e for e in entries if e not in (".lock", ".names", ".gc-stamp", ".mounts",
                                                  ".userns.lock", ".cni")]
        if stray:
            problems.append(f"state entries {stray}")
        return problems

    def clean(self):
        """Ends what a failed test left: rm -f of every pod, then a kill."""
        import json
        r = self.run("ps", "--format", "json", timeout=60)
        try:
            pods = [p["id"] for p in json.loads(r.stdout or "[]")]
        except (ValueError, KeyError, TypeError):
            pods = []
        for pod in pods:
            self.run("rm", "-f", pod, timeout=60)
        for pid, _, _ in self.live_processes():
            try:
                os.kill(pid, 9)
            except OSError:
                pass


def _user(request, rootless_base, name, with_subids):
    base, code = rootless_base
    pw = _ensure_user(name, with_subids)
    u = User(pw, base, code, request.node.name[:40].replace("/", "_").replace("[", "_")
             .replace("]", ""))
    yield u
    if not sleep_until(lambda: not u.leftovers(), timeout=15, interval=0.1):
        problems = u.leftovers()
        u.clean()
        pytest.fail("rootless leak: " + "; ".join(problems))


@pytest.fixture
def user(request, rootless_base):
    yield from _user(request, rootless_base, USER, True)


@pytest.fixture
def plain_user(request, rootless_base):
    yield from _user(request, rootless_base, PLAIN_USER, False)
