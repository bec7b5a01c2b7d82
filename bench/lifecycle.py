"""Pod lifecycle and scale: the full cycle of a one-container pod with our
launcher next to unshare, bubblewrap, a bare `python -c pass` and podman
(pod create + run + rm); then N detached idle pods: pods per second to
create and to remove, memory per idle pod (pause + its supervisor, PSS and
RSS), and a check that nothing is left behind (process, state, mount, zombie)."""
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time

from common import REPO, Skip, children, proc_status, summary, venv_python

PODMAN_CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
"""


def launcher():
    """Path of the launcher command, or None."""
    p = os.path.join(REPO, ".venv", "bin", "launcher")
    return p if os.access(p, os.X_OK) else shutil.which("launcher")


def timed(argv, env=None):
    """Seconds one command takes; Skip if it fails."""
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, env=env, timeout=120)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace").strip().splitlines()
        raise Skip(f"{argv[0]} failed: {err[-1] if err else r.returncode}")
    return dt


class Podman:
    """podman with its own containers.conf and tmp storage, two images built
    FROM scratch (busybox, and an infra image with our pause or catatonit)."""

    def __init__(self, tmp):
        if not shutil.which("podman"):
            raise Skip("podman not installed")
        conf = os.path.join(tmp, "containers.conf")
        with open(conf, "w") as f:
            f.write(PODMAN_CONF)
        self.env = dict(os.environ, CONTAINERS_CONF=conf)
        self.base = ["podman", "--root", os.path.join(tmp, "root"), "--runroot",
                     os.path.join(tmp, "runroot"), "--storage-driver", "vfs"]
        self.tmp = tmp
        busybox = shutil.which("busybox")
        if not busybox:
            raise Skip("busybox-static not installed")
        self._build("bench-busybox", busybox, "busybox",
                    'RUN ["/bin/busybox","--install","-s","/bin"]\n', "/bin/busybox")
        infra = os.path.join(REPO, "pause", "bin", "pause")
        if not os.access(infra, os.X_OK):
            infra = shutil.which("catatonit")
        self._build("bench-infra", infra, "pause", 'ENTRYPOINT ["/pause"]\n', "/pause")

    def _build(self, tag, src, name, extra, dest):
        ctx = tempfile.mkdtemp(dir=self.tmp)
        shutil.copy(src, os.path.join(ctx, name))
        with open(os.path.join(ctx, "Containerfile"), "w") as f:
            f.write(f"FROM scratch\nCOPY {name} {dest}\n{extra}")
        r = subprocess.run(self.base + ["build", "-q", "-t", f"localhost/{tag}", ctx],
                           capture_output=True, text=True, env=self.env, timeout=300)
        if r.returncode != 0:
            raise Skip(f"podman build failed: {r.stderr.strip().splitlines()[-1:]}")

    def cycle(self, i):
        """pod create + run of one container + pod rm; seconds."""
        pod = f"bench{os.getpid()}-{i}"
        t0 = time.perf_counter()
        timed(self.base + ["pod", "create", "--name", pod, "--infra-image",
                           "localhost/bench-infra", "--share", "net,ipc,uts,pid"], self.env)
        try:
            timed(self.base + ["run", "--rm", "--pod", pod, "localhost/bench-busybox", "true"],
                  self.env)
        finally:
            timed(self.base + ["pod", "rm", "-f", pod], self.env)
        return time.perf_counter() - t0

    def cleanup(self):
        """Removes every pod and the storage (unmounts first)."""
        subprocess.run(self.base + ["pod", "rm", "-af"], capture_output=True, env=self.env)
        subprocess.run(self.base + ["system", "reset", "-f"], capture_output=True,
                       env=self.env)


def cycles(reps, quick, progress):
    """{command: summary or {"skipped": why}}; the launcher's row also holds
    "vs PEER": its median over each measured peer's (unshare, bwrap, podman,
    python -c pass)."""
    py = venv_python()
    # Byte-compile first: with PYTHONDONTWRITEBYTECODE set (as here) and no
    # __pycache__, every launcher run would recompile its modules (~10 ms).
    subprocess.run([py, "-m", "compileall", "-q", os.path.join(REPO, "launcher"),
                    os.path.join(REPO, "pause")], check=True, timeout=120)
    cmds = {"python -c pass": [py, "-c", "pass"],
            "unshare -f --pid --net --ipc --uts --mount-proc true":
                ["unshare", "-f", "--pid", "--net", "--ipc", "--uts", "--mount-proc", "true"],
            "bwrap (pid,net,ipc,uts) true":
                ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                 "--dev-bind", "/", "/", "--proc", "/proc", "true"]}
    lau = launcher()
    cmds["launcher run --share-pid -- true"] = (
        [lau, "run", "--share-pid", "--", "true"] if lau else None)
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-state-") as state:
        env = dict(os.environ, LAUNCHER_STATE_DIR=state)
        for name, argv in cmds.items():
            if argv is None:
                out[name] = {"skipped": "launcher not installed yet"}
            elif not shutil.which(argv[0]):
                out[name] = {"skipped": f"{argv[0]} not installed"}
            else:
                try:
                    timed(argv, env)  # warm-up
                    out[name] = summary([timed(argv, env) for _ in range(reps)])
                except Skip as e:
                    out[name] = {"skipped": str(e)}
            progress.step(name)
    name = "podman pod create + run + pod rm"
    if quick:
        out[name] = {"skipped": "not in --quick (image builds take too long)"}
    else:
        with tempfile.TemporaryDirectory(prefix="bench-podman-") as tmp:
            pm = None
            try:
                pm = Podman(tmp)
                pm.cycle(-1)  # warm-up
                out[name] = summary([pm.cycle(i) for i in range(max(3, reps // 4))])
            except (Skip, subprocess.TimeoutExpired) as e:
                out[name] = {"skipped": str(e)}
            finally:
                if pm:
                    pm.cleanup()
    progress.step(name)
    la = out.get("launcher run --share-pid -- true", {})
    if "median" in la:  # the launcher's time over each peer's, measured in this run
        for peer, r in out.items():
            if r is not la and "median" in r:
                la[f"vs {peer}"] = la["median"] / r["median"]
    return out


def mem_kb(pid):
    """(PSS, RSS) of a process in KB; PSS shares common pages fairly."""
    pss = rss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
    return pss, rss


def pods(n, progress, label):
    """Creates n detached idle pods, measures them, removes them all."""
    lau = launcher()
    if not lau:
        return {"skipped": "launcher not installed yet"}
    with tempfile.TemporaryDirectory(prefix="bench-state-") as state:
        env = dict(os.environ, LAUNCHER_STATE_DIR=state)
        ids = []
        try:
            t0 = time.perf_counter()
            for i in range(n):
                r = subprocess.run([lau, "run", "-d", "--grace", "0", "--", "sleep", "infinity"],
                                   capture_output=True, text=True, env=env, timeout=60)
                if r.returncode != 0:
                    return {"skipped": f"launcher run -d failed: {r.stderr.strip()}"}
                ids.append(r.stdout.strip())
                progress.step(f"{label} create {i + 1}/{n}")
            create_s = time.perf_counter() - t0
            time.sleep(0.5)  # let every pod settle idle
            r = subprocess.run([lau, "ps", "--format", "json"], capture_output=True, text=True,
                               env=env, timeout=60)
            listing = {p["id"]: p for p in json.loads(r.stdout or "[]")}
            down = [i for i in ids if listing.get(i, {}).get("state") != "running"]
            if r.returncode != 0 or down:
                return {"skipped": f"launcher failed: {len(down)} of {n} pods not running "
                                   f"0.5 s after `run -d` {r.stderr.strip()}"}
            pauses = [listing[i]["pause_pid"] for i in ids]
            supers = {int(proc_status(p)["PPid"]) for p in pauses}
            pause_mem = [mem_kb(p) for p in pauses]
            super_mem = [mem_kb(p) for p in supers]
            t1 = time.perf_counter()
            r = subprocess.run([lau, "rm", "-f"] + ids, capture_output=True, text=True, env=env,
                               timeout=600)
            rm_s = time.perf_counter() - t1
            if r.returncode != 0:
                return {"skipped": f"launcher rm -f failed: {r.stderr.strip()}"}
            ids = []
            progress.step(f"{label} removed")
            leaked = lingering(pauses + sorted(supers), 5)
            left = [e for e in os.listdir(state) if not e.startswith(".")]
            mounts = mounts_under(state)
        except OSError as e:  # a pod's process vanished while it was measured
            return {"skipped": f"launcher failed: a pod's process exited while idle ({e})"}
        finally:
            if ids:  # failure path: do not leave pods behind
                subprocess.run([lau, "rm", "-f"] + ids, capture_output=True, env=env,
                               timeout=600)
            for point in mounts_under(state):  # counted above; unmounted so tmp can go
                subprocess.run(["umount", "-l", point], capture_output=True)
    n_pods = len(pauses)
    total_pss = sum(m[0] for m in pause_mem) + sum(m[0] for m in super_mem)
    total_rss = sum(m[1] for m in pause_mem) + sum(m[1] for m in super_mem)
    return {"pods": n, "create_s": create_s, "pods_per_s_create": n / create_s,
            "rm_s": rm_s, "pods_per_s_rm": n / rm_s,
            "pause_pss_kb_total": sum(m[0] for m in pause_mem),
            "pause_rss_kb_total": sum(m[1] for m in pause_mem),
            "supervisors": len(supers),
            "per_pod_pss_kb": total_pss / max(n_pods, 1),
            "per_pod_rss_kb": total_rss / max(n_pods, 1),
            "leaked_processes": leaked, "leaked_state": left, "leaked_mounts": mounts,
            "zombies_left": zombies_of(os.getpid())}


def mounts_under(path):
    """Mount points below path (a pod's pinned namespaces, say), deepest first."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return sorted((p for p in points if p.startswith(path + "/")), reverse=True)


def lingering(pids, timeout):
    """Those of pids still alive after up to timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}")]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.01)


def zombies_of(pid):
    """Zombie children of a process (ours should have none)."""
    out = []
    for c in children(pid):
        with contextlib.suppress(OSError):
            if proc_status(c)["State"].startswith("Z"):
                out.append(c)
    return out
