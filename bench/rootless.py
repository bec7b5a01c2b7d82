"""Rootless (issue 16): one pod cycle (`launcher run -- true`, with and
without an image) as an ordinary user next to the same cycle as root, and
podman's rootless `pod create` + `run --pod` + `pod rm -f` as the peer,
interleaved round by round. Both launchers run under Debian's
/usr/bin/python3 (a plain user may not reach the project's .venv Python),
from one world-readable copy of launcher/ and pause/. podman runs with runc
and cgroupfs: crun refuses this hybrid-cgroup machine ("cgroups in hybrid
mode not supported"). The target: rootless within 1.5x of root.

    python bench/rootless.py [--rounds N]      (as root: it makes the user)
"""
import json
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
USER = "lxrootless"
IMAGE = "localhost/busybox:latest"
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]


def _cpu():
    r = os.times()
    return r.children_user + r.children_system


def timed(argv, env):
    c0, t0 = _cpu(), time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, env=env, cwd="/", timeout=300)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[-6:])}: exit {r.returncode}: {r.stderr.strip()[-300:]}")
    return wall, cpu


def setup(base):
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", USER], check=True)
        pw = pwd.getpwnam(USER)
    code = os.path.join(base, "code")
    for pkg in ("launcher", "pause"):
        shutil.copytree(os.path.join(REPO, pkg), os.path.join(code, pkg),
                        ignore=shutil.ignore_patterns("__pycache__"), symlinks=True)
    subprocess.run(["chmod", "-R", "a+rX", base], check=True)
    dirs = {}
    for who in ("root", "user"):
        for d in ("state", "data", "xdg"):
            path = os.path.join(base, f"{who}-{d}")
            os.makedirs(path, mode=0o700)
            if who == "user":
                os.chown(path, pw.pw_uid, pw.pw_gid)
            dirs[who, d] = path
    return pw, code, dirs


def launcher_argv(code, *args):
    main = (f"import sys; sys.path.insert(0, {code!r}); "
            "from launcher.cli import main; sys.exit(main())")
    return ["/usr/bin/python3", "-I", "-c", main, *args]


def as_user(pw, env, argv):
    return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups", "--",
            "env", "-i", *[f"{k}={v}" for k, v in env.items()], *argv]


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    rounds = int(args[args.index("--rounds") + 1]) if "--rounds" in args else 7
    if os.geteuid() != 0:
        sys.exit("bench/rootless.py: run it as root (it makes the test user)")
    base = tempfile.mkdtemp(prefix="bench-rootless-", dir="/tmp")
    os.chmod(base, 0o755)
    try:
        return _run(base, rounds)
    finally:
        subprocess.run(["pkill", "-KILL", "-u", USER], capture_output=True)
        subprocess.run(["umount", "-R", os.path.join(base, "root-state", ".mounts")],
                       capture_output=True)
        for top in os.listdir("/sys/fs/cgroup"):
            subprocess.run(["find", os.path.join("/sys/fs/cgroup", top, "bench-rootless"),
                            "-depth", "-type", "d", "-delete"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _run(base, rounds):
    pw, code, dirs = setup(base)
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    root_env = dict(os.environ, LAUNCHER_STATE_DIR=dirs["root", "state"],
                    LAUNCHER_IMAGE_ROOT=os.path.join(dirs["root", "data"], "images"),
                    POD_SANDBOX_TEST_IMAGES=os.path.join(dirs["root", "data"], "test-images"),
                    LAUNCHER_CGROUP_PARENT="bench-rootless")
    user_env = {"HOME": pw.pw_dir, "PATH": path, "USER": USER,
                "XDG_RUNTIME_DIR": dirs["user", "xdg"],
                "XDG_DATA_HOME": dirs["user", "data"],
                "XDG_CONFIG_HOME": os.path.join(dirs["user", "data"], "config"),
                "LAUNCHER_STATE_DIR": dirs["user", "state"],
                "LAUNCHER_IMAGE_ROOT": os.path.join(dirs["user", "data"], "images")}
    # The demo builds and stores the busybox test image for each side.
    timed(launcher_argv(code, "run", "--share-pid"), root_env)
    timed(as_user(pw, user_env, launcher_argv(code, "run", "--share-pid")), {})
    layout = os.path.join(dirs["user", "data"], "test-images")
    oci = next(os.path.join(layout, d, "busybox") for d in os.listdir(layout))
    variants = {
        "root: run -- true": (launcher_argv(code, "run", "--", "true"), root_env),
        "rootless: run -- true": (as_user(pw, user_env, launcher_argv(code, "run", "--", "true")),
                                  {}),
        "root: run --image": (launcher_argv(code, "run", "--image", IMAGE, "--pull", "never",
                                            "--", "true"), root_env),
        "rootless: run --image": (as_user(pw, user_env, launcher_argv(
            code, "run", "--image", IMAGE, "--pull", "never", "--", "true")), {}),
    }
    podman = None
    if shutil.which("podman") and shutil.which("skopeo"):
        penv = dict(user_env)
        r = subprocess.run(as_user(pw, penv, ["skopeo", "copy", "-q", f"oci:{oci}:latest",
                                              f"containers-storage:{IMAGE}"]),
                           capture_output=True, text=True, cwd="/")
        if r.returncode == 0:
            p = " ".join(PODMAN)
            cycle = (f"p=$({p} pod create --network none | tail -1) && "
                     f"{p} run --rm --pod $p {IMAGE} true && {p} pod rm -f $p >/dev/null")
            podman = as_user(pw, penv, ["sh", "-c", cycle])
            variants["podman rootless: pod create + run + pod rm"] = (podman, {})
        else:
            print(f"podman peer skipped: {r.stderr.strip()[-200:]}", file=sys.stderr)
    samples = {k: [] for k in variants}
    for _ in range(rounds):
        for name, (argv, env) in variants.items():
            samples[name].append(timed(argv, env or None))
    out = {}
    for name, got in samples.items():
        out[name] = {"wall_ms": statistics.median(w for w, _ in got) * 1000,
                     "cpu_ms": statistics.median(c for _, c in got) * 1000, "n": len(got)}
    for kind in ("run -- true", "run --image"):
        out[f"ratio rootless/root, {kind}"] = (out[f"rootless: {kind}"]["wall_ms"]
                                              / out[f"root: {kind}"]["wall_ms"])
    if podman:
        out["ratio rootless run --image / podman rootless"] = (
            out["rootless: run --image"]["wall_ms"]
            / out["podman rootless: pod create + run + pod rm"]["wall_ms"])
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
