"""Pod lifecycle and scale: the full cycle of a one-container pod with our
launcher next to unshare, bubblewrap, a bare `python -c pass` and podman
(pod create + run + rm); one container on the busybox image, start to exit,
with our launcher next to `podman run --rm` and `crun run`/`runc run` of an
OCI bundle of the same image (wall and CPU); then N detached idle pods: pods
per second to create and to remove, memory per idle pod (pause + its
supervisor, PSS and RSS), and a check that nothing is left behind (process,
state, mount, zombie, cgroup)."""
import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from common import (REPO, Skip, byte_compile_checkout, children, proc_status, summary,
                    venv_python)

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
    return timed_cpu(argv, env)[0]


def _children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed_cpu(argv, env=None, cwd=None):
    """(wall s, CPU s) of one command; Skip if it fails. CPU is the user +
    system time of the command and of every descendant it (or they) waited
    for: a helper that detaches (podman's conmon) escapes it."""
    c0, t0 = _children_cpu(), time.perf_counter()
    r = subprocess.run(argv, capture_output=True, env=env, cwd=cwd, timeout=120)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace").strip().splitlines()
        raise Skip(f"{os.path.basename(argv[0])} failed: {err[-1] if err else r.returncode}")
    return dt, _children_cpu() - c0


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
        self.left_cgroups = []   # pod cgroups podman left that could not be removed

    def build(self):
        """Builds the two images; Skip when podman cannot."""
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
        """pod create + run of one container + pod rm; seconds. Then the
        pod's cgroups that podman leaves (below)."""
        pod = f"bench{os.getpid()}-{i}"
        id_file = os.path.join(self.tmp, pod + ".id")
        t0 = time.perf_counter()
        timed(self.base + ["pod", "create", "--name", pod, "--infra-image",
                           "localhost/bench-infra", "--share", "net,ipc,uts,pid",
                           "--pod-id-file", id_file], self.env)
        try:
            timed(self.base + ["run", "--rm", "--pod", pod, "localhost/bench-busybox", "true"],
                  self.env)
        finally:
            timed(self.base + ["pod", "rm", "-f", pod], self.env)
            took = time.perf_counter() - t0
            if os.path.exists(id_file):   # not when pod create failed
                with open(id_file) as f:
                    self.left_cgroups += remove_pod_cgroups(f.read().strip())
        return took

    def run_rm(self):
        """`podman run --rm --network none` of the busybox image: (wall s, cpu s)."""
        return timed_cpu(self.base + ["run", "--rm", "--network", "none",
                                      "localhost/bench-busybox", "true"], self.env)

    def containers(self):
        """Ids of every container left in this storage."""
        r = subprocess.run(self.base + ["ps", "-aq"], capture_output=True, text=True,
                           env=self.env, timeout=60)
        return r.stdout.split()

    def cleanup(self):
        """Removes every pod and the storage (unmounts first)."""
        subprocess.run(self.base + ["pod", "rm", "-af"], capture_output=True, env=self.env,
                       timeout=120)
        subprocess.run(self.base + ["system", "reset", "-f"], capture_output=True,
                       env=self.env, timeout=120)


@contextlib.contextmanager
def podman_engine():
    """(Podman with its images built, None) for the block, or (None, why)
    when podman cannot run here; its storage is reset and removed after."""
    with tempfile.TemporaryDirectory(prefix="bench-podman-") as tmp:
        pm = None
        try:
            pm = Podman(tmp)
            pm.build()
        except (Skip, subprocess.TimeoutExpired) as e:
            if pm:
                pm.cleanup()
            yield None, str(e)
            return
        try:
            yield pm, None
        finally:
            pm.cleanup()


def cycles(reps, progress, podman=(None, "podman not set up by the caller")):
    """{command: summary or {"skipped": why}}; the launcher's row also holds
    "vs PEER": its median over each measured peer's (unshare, bwrap, podman,
    python -c pass). podman is podman_engine()'s (Podman, why)."""
    py = venv_python()
    byte_compile_checkout(py)
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
    with scratch_dir("bench-state-") as state:
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
    pm, why = podman
    if pm is None:
        out[name] = {"skipped": why}
    else:
        try:
            pm.cycle(-1)  # warm-up
            out[name] = summary([pm.cycle(i) for i in range(max(2, reps // 4))])
            if pm.left_cgroups:
                out[name]["left cgroups"] = pm.left_cgroups
        except (Skip, subprocess.TimeoutExpired) as e:
            out[name] = {"skipped": str(e)}
    progress.step(name)
    la = out.get("launcher run --share-pid -- true", {})
    if "median" in la:  # the launcher's time over each peer's, measured in this run
        for peer, r in out.items():
            if r is not la and "median" in r:
                la[f"vs {peer}"] = la["median"] / r["median"]
    return out


LAUNCHER_IMAGE = "launcher run --image localhost/busybox -- true"
LAUNCHER_HOST = "launcher run -- true (no image)"
PODMAN_RUN = "podman run --rm --network none busybox true"
RUNTIMES = ("crun", "runc")
TARGET_VS_PODMAN, TARGET_VS_RUNTIME = 0.1, 2.0


def runtime_row(rt):
    return f"{rt} run (OCI bundle of busybox, args true)"


def busybox_layout():
    """The busybox OCI layout of launcher/images/testimages.py (built once,
    cached), asked of a fresh interpreter: the bench process itself does
    not import the launcher."""
    r = subprocess.run([venv_python(), "-c", "from launcher.images import testimages; "
                        "print(testimages.busybox_image())"],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
        raise Skip(f"cannot build the busybox image: {last}")
    return r.stdout.strip()


def oci_bundle(layout, bundle, cgroups_path):
    """An OCI runtime bundle of the busybox image: `umoci unpack` (rootfs and
    a config.json made from the image's config), then process args `true`,
    no terminal, and a cgroupsPath under the bench's own cgroup parent."""
    umoci = shutil.which("umoci")
    if not umoci:
        raise Skip("umoci not installed (it makes the OCI bundle)")
    timed([umoci, "unpack", "--image", f"{layout}:latest", bundle])
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg["process"]["args"] = ["true"]
    cfg["process"]["terminal"] = False
    cfg["linux"]["cgroupsPath"] = cgroups_path
    with open(path, "w") as f:
        json.dump(cfg, f)


def cgroup_mounts():
    """Mount points of every cgroup hierarchy (v1 and v2)."""
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if ln.split(" - ")[1].split()[0] in ("cgroup", "cgroup2")]


def remove_pod_cgroups(pod_id):
    """Removes the cgroups a podman pod leaves after `pod rm` on a hybrid
    host with the cgroupfs manager: `libpod_parent/POD_ID` in the unified
    and the name=systemd hierarchies (podman 4.3 removes only the v1
    controllers' ones; measured here, one pair per pod), with the engine
    tests' helpers (scripts/podman_env.py). Only empty cgroups go; returns
    those left. Anything but a podman id (64 hex digits) is refused."""
    if not re.fullmatch(r"[0-9a-f]{64}", pod_id or ""):
        return []
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    import podman_env
    return podman_env.remove_cgroups(podman_env.pod_cgroups(pod_id))


def cgroups_below(parent):
    """Every cgroup left below `parent` in any hierarchy, deepest first."""
    out = []
    for m in cgroup_mounts():
        for top, dirs, _ in os.walk(os.path.join(m, parent)):
            out += [os.path.join(top, d) for d in dirs]
    return sorted(out, key=len, reverse=True)


def remove_cgroup_parent(parent):
    """rmdir of the (empty) parent and anything empty below it, everywhere."""
    for path in cgroups_below(parent) + [os.path.join(m, parent) for m in cgroup_mounts()]:
        with contextlib.suppress(OSError):
            os.rmdir(path)


def image_cycles(rounds, progress, podman=(None, "podman not set up by the caller")):
    """One container on the busybox image, start to exit, side by side:
    `launcher run --image localhost/busybox -- true` (a private image root
    and state dir, busybox pulled there first; network none, as default),
    the same launcher pod with no image, `podman run --rm --network none`
    of podman_engine()'s busybox (FROM scratch, the same static busybox),
    and `crun run` / `runc run` of an OCI bundle of the same image (a
    runtime that refuses this machine is a skipped row with its reason).
    The variants are interleaved, the order rotated every round.

    Returns {"rows": {command: {"wall", "cpu"} summaries, the launcher's
    row with "vs PEER" and "cpu vs PEER" (its median over PEER's)},
    "targets": {what: met}, "leaked": {...}, "rounds": n} or {"skipped":
    why}. progress.step() is called rounds + 1 times."""
    lau = launcher()
    if not lau:
        return {"skipped": "launcher not installed yet"}
    parent = f"launcher-bench-{os.getpid()}-image"
    rows, argvs = {}, {}
    with scratch_dir("bench-image-") as tmp:
        state, root = os.path.join(tmp, "state"), os.path.join(tmp, "images")
        env = dict(os.environ, LAUNCHER_STATE_DIR=state, LAUNCHER_IMAGE_ROOT=root,
                   LAUNCHER_CGROUP_PARENT=parent)
        env.pop("LAUNCHER_MONITOR", None)
        cleanups = []
        try:
            layout = busybox_layout()
            timed([lau, "pull", "--image-root", root, f"oci:{layout}:latest"], env)
            argvs[LAUNCHER_IMAGE] = ([lau, "run", "--image", "localhost/busybox", "--", "true"],
                                     env)
            argvs[LAUNCHER_HOST] = ([lau, "run", "--", "true"], env)
            pm, why = podman
            if pm is None:
                rows[PODMAN_RUN] = {"skipped": why}
            else:
                argvs[PODMAN_RUN] = (None, pm)
            bundle = os.path.join(tmp, "bundle")
            try:
                oci_bundle(layout, bundle, f"/{parent}/oci")
            except Skip as e:
                bundle = None
                for rt in RUNTIMES:
                    rows[runtime_row(rt)] = {"skipped": str(e)}
            for rt in RUNTIMES if bundle else ():
                exe = shutil.which(rt)
                if not exe:
                    rows[runtime_row(rt)] = {"skipped": f"{rt} not installed"}
                    continue
                rt_root, cid = os.path.join(tmp, f"{rt}-state"), f"bench-{os.getpid()}"
                cleanups.append([exe, "--root", rt_root, "delete", "-f", cid])
                argvs[runtime_row(rt)] = ([exe, "--root", rt_root, "run", "--bundle", bundle, cid],
                                          None)
            samples = {}
            for name in list(argvs):                 # warm-up; a runtime that refuses is skipped
                try:
                    _run_variant(argvs[name])
                    samples[name] = []
                except (Skip, subprocess.TimeoutExpired) as e:
                    rows[name] = {"skipped": str(e)}
                    del argvs[name]
            progress.step("image cycle warm-up")
            names = list(argvs)
            for i in range(rounds):
                for name in names[i % len(names):] + names[:i % len(names)]:
                    samples[name].append(_run_variant(argvs[name]))
                progress.step(f"image cycle {i + 1}/{rounds}")
        except (Skip, subprocess.TimeoutExpired) as e:
            return {"skipped": str(e)}
        finally:
            for argv in cleanups:
                subprocess.run(argv, capture_output=True, timeout=60)
            leaked = {"pods": sorted(n for n in os.listdir(state) if not n.startswith("."))
                      if os.path.isdir(state) else [],
                      "writable layers": sorted(os.listdir(os.path.join(root, "containers")))
                      if os.path.isdir(os.path.join(root, "containers")) else [],
                      "mounts": leaked_mounts(tmp), "cgroups": cgroups_below(parent),
                      "podman containers": podman[0].containers() if podman[0] else []}
            remove_cgroup_parent(parent)
    for name, s in samples.items():
        rows[name] = {"wall": summary([w for w, _ in s]), "cpu": summary([c for _, c in s])}
    order = [LAUNCHER_IMAGE, LAUNCHER_HOST, PODMAN_RUN] + [runtime_row(rt) for rt in RUNTIMES]
    rows = {k: rows[k] for k in order if k in rows}
    out = {"rows": rows, "rounds": rounds, "leaked": leaked, "targets": {}}
    la = rows.get(LAUNCHER_IMAGE, {})
    if "wall" not in la:
        return out
    for peer, r in rows.items():
        if r is not la and "wall" in r:
            la[f"vs {peer}"] = la["wall"]["median"] / r["wall"]["median"]
            la[f"cpu vs {peer}"] = la["cpu"]["median"] / r["cpu"]["median"]
    if f"vs {PODMAN_RUN}" in la:
        out["targets"][f"at most {TARGET_VS_PODMAN:g}x of podman run --rm"] = \
            la[f"vs {PODMAN_RUN}"] <= TARGET_VS_PODMAN
    rt = next((runtime_row(rt) for rt in RUNTIMES if f"vs {runtime_row(rt)}" in la), None)
    if rt:
        out["targets"][f"within {TARGET_VS_RUNTIME:g}x of {rt.split()[0]} run"] = \
            la[f"vs {rt}"] <= TARGET_VS_RUNTIME
    return out


def _run_variant(variant):
    """(wall s, cpu s) of one image-cycle variant: (argv, env) or (None, Podman)."""
    argv, ctx = variant
    return ctx.run_rm() if argv is None else timed_cpu(argv, ctx)


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
    with scratch_dir("bench-state-") as state:
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
            mounts = leaked_mounts(state)
        except OSError as e:  # a pod's process vanished while it was measured
            return {"skipped": f"launcher failed: a pod's process exited while idle ({e})"}
        finally:
            if ids:  # failure path: do not leave pods behind
                subprocess.run([lau, "rm", "-f"] + ids, capture_output=True, env=env,
                               timeout=600)
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


def leaked_mounts(path):
    """Mounts left below a bench's temporary dir, except a launcher state
    root's own `.mounts` (bound on itself once and kept, as /run/netns is:
    launcher/store/pods.py); what is mounted below it counts."""
    return [p for p in mounts_under(path) if os.path.basename(p) != ".mounts"]


@contextlib.contextmanager
def scratch_dir(prefix):
    """A temporary directory for a bench's launcher state (and images);
    whatever is still mounted below it is detached before it is removed."""
    with tempfile.TemporaryDirectory(prefix=prefix) as path:
        try:
            yield path
        finally:
            for point in mounts_under(path):
                subprocess.run(["umount", "-l", point], capture_output=True, timeout=60)


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
