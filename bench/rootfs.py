"""What a container's root filesystem costs at start, measured side by side
in one run, variants interleaved (the order swapped every repetition):

- host mode: what the launcher's child does today without an image: fork
  (inside a new PID namespace, as spawn.py does), unshare(CLONE_NEWNS),
  every mount private, the pins' directory searched for mounts to hide, a
  /proc for the PID namespace, exec of `true`;
- rootfs mode: the same fork and unshare, then rootfs.setup() of the
  busybox image (overlay, proc, /dev with its nodes, devpts, the pod's
  shm, mqueue, sysfs, the three etc files, pivot_root, masked and
  read-only paths), exec of `true`.

`true` is the same static busybox in both (the host's copy in host mode,
the image's through the overlay in rootfs mode), so the difference is the
mount work. Wall time runs from just before fork to the reaped exit (the
exit tears the mount namespace down, and that is counted); CPU time is the
child's rusage plus this process's own over the same span. The parent's
per-start work in rootfs mode (podfs.prepare_container: the fresh upper,
work and merged dirs, and cleanup_container after the exit) is reported
apart. A second pass runs rootfs mode with setup()'s trace to say which
step costs what. Target: at most 5 ms over host mode."""
import json
import os
import resource
import sys
import tempfile
import time

from common import REPO, Skip, summary

sys.path.insert(0, REPO)
TARGET_MS = 5.0
HOST, ROOTFS = "host mode", "rootfs mode"


def _self_cpu():
    s = resource.getrusage(resource.RUSAGE_SELF)
    return s.ru_utime + s.ru_stime


class _Bench:
    """The fork/measure machinery and the pod the rootfs-mode children use."""

    def __init__(self, tmp, image, busybox):
        from launcher.runtime import syscalls
        from launcher.supervisor import podfs
        self.syscalls, self.podfs = syscalls, podfs
        self.busybox, self.image = busybox, image
        self.own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.hide = os.path.join(tmp, "state")
        os.makedirs(self.hide, mode=0o700)
        self.pod = podfs.PodFS(os.path.join(self.hide, "pod", "fs"), os.path.join(tmp, "storage"))
        os.makedirs(os.path.dirname(self.pod.run_dir))
        t0 = time.perf_counter()
        self.pod.create("bench")
        self.pod_create = time.perf_counter() - t0

    def close(self):
        self.podfs.cleanup_pod(self.pod.run_dir, self.pod.storage_dir)
        os.close(self.own_pidns)

    def plan(self):
        return self.pod.rootfs_plan(list(reversed(self.image.layers)), "bench", hide=[self.hide])

    def spawn(self, mode, plan=None, trace_fd=None):
        """(wall s, cpu s) of one child of `mode`, fork to reaped exit."""
        from launcher.runtime import mounts, rootfs
        sc = self.syscalls
        c0, t0 = _self_cpu(), time.perf_counter()
        sc.unshare(sc.CLONE_NEWPID)
        try:
            pid = os.fork()
            if pid == 0:
                code = 125
                try:
                    sc.unshare(sc.CLONE_NEWNS)
                    if mode == HOST:
                        mounts.make_private()
                        mounts.detach_under(self.hide)
                        mounts.mount_proc()
                        argv0 = self.busybox
                    else:
                        trace = [] if trace_fd is not None else None
                        rootfs.setup(plan, trace)
                        if trace is not None:
                            os.write(trace_fd, json.dumps(trace).encode())
                        argv0 = "/bin/busybox"
                    code = 127
                    os.execv(argv0, ["true"])
                except BaseException as e:
                    os.write(2, f"bench child: {e}\n".encode())
                finally:
                    os._exit(code)
        finally:
            sc.setns(self.own_pidns, sc.CLONE_NEWPID)
        _, status, ru = os.wait4(pid, 0)
        wall = time.perf_counter() - t0
        cpu = ru.ru_utime + ru.ru_stime + _self_cpu() - c0
        if status != 0:
            raise Skip(f"the {mode} child failed (wait status {status})")
        return wall, cpu

    def rootfs_start(self, trace_fd=None):
        """One rootfs-mode start: (spawn wall, spawn cpu, prepare s, cleanup s)."""
        t0 = time.perf_counter()
        plan = self.plan()
        prep = time.perf_counter() - t0
        wall, cpu = self.spawn(ROOTFS, plan, trace_fd)
        t0 = time.perf_counter()
        self.podfs.cleanup_container(self.pod.storage_dir, "bench")
        return wall, cpu, prep, time.perf_counter() - t0


def _stats(samples):
    return {"wall": summary([w for w, _ in samples]), "cpu": summary([c for _, c in samples])}


def run(reps, progress):
    """{"host mode": {"wall", "cpu"}, "rootfs mode": {...}, "over host mode
    ms": {"wall", "cpu"}, "parent per start": {"prepare", "cleanup"},
    "steps ms": {step: median}, "pod create ms", "target": {...}}.
    progress.step() is called 2 * reps + 2 times."""
    if os.geteuid() != 0:
        return {"skipped": "needs root (mount namespaces, overlayfs)"}
    import shutil
    if not shutil.which("skopeo"):
        return {"skipped": "skopeo is not installed (the image is pulled from an OCI layout)"}
    from launcher.errors import LauncherError
    from launcher.images import ensure, pull, testimages
    try:
        layout = testimages.busybox_image()
        busybox = testimages.static_busybox()
    except LauncherError as e:
        return {"skipped": str(e)}
    with tempfile.TemporaryDirectory(prefix="bench-rootfs-") as tmp:
        root = os.path.join(tmp, "images")
        image = ensure.resolve(pull.pull(f"oci:{layout}:latest", root).image_id, root)
        b = _Bench(tmp, image, busybox)
        try:
            b.spawn(HOST)          # warm-up: page cache, dentries, the layer's inodes
            b.rootfs_start()
            progress.step("warm-up")
            host, rootfs_, prep, clean = [], [], [], []
            for i in range(reps):
                for mode in ((HOST, ROOTFS) if i % 2 == 0 else (ROOTFS, HOST)):
                    if mode == HOST:
                        host.append(b.spawn(HOST))
                    else:
                        w, c, p, k = b.rootfs_start()
                        rootfs_.append((w, c))
                        prep.append(p)
                        clean.append(k)
                progress.step(f"rootfs {i + 1}/{reps}")
            steps = {}
            r, w = os.pipe()
            try:
                for i in range(reps):
                    b.rootfs_start(trace_fd=w)
                    for name, secs in json.loads(os.read(r, 65536)):
                        steps.setdefault(name, []).append(secs)
                    progress.step(f"trace {i + 1}/{reps}")
            finally:
                os.close(r)
                os.close(w)
            pod_create = b.pod_create
        finally:
            b.close()
    out = {HOST: _stats(host), ROOTFS: _stats(rootfs_),
           "parent per start": {"prepare": summary(prep), "cleanup": summary(clean)},
           "steps ms": {k: summary(v)["median"] * 1e3 for k, v in steps.items()},
           "pod create ms": pod_create * 1e3, "reps": reps}
    over = {k: (out[ROOTFS][k]["median"] - out[HOST][k]["median"]) * 1e3 for k in ("wall", "cpu")}
    out["over host mode ms"] = over
    out["setup ms"] = sum(out["steps ms"].values())
    # host mode does prepare-root's and proc's work too; what is left of the
    # difference is the exit (the bigger mount namespace torn down) and exec
    # through the overlay.
    shared = out["steps ms"].get("prepare-root", 0) + out["steps ms"].get("proc", 0)
    out["own setup ms"] = out["setup ms"] - shared
    out["exit and exec ms"] = over["wall"] - out["own setup ms"]
    out["target"] = {f"rootfs set-up within {TARGET_MS:g} ms of host mode (CPU)":
                     over["cpu"] <= TARGET_MS,
                     f"rootfs set-up within {TARGET_MS:g} ms of host mode (wall)":
                     over["wall"] <= TARGET_MS}
    return out


def markdown(res):
    """The result as markdown, as the whole report renders it (report.py)."""
    import report
    return "\n".join(report._rootfs(res)).lstrip("\n") + "\n"


if __name__ == "__main__":
    from common import Progress, count_arg
    n = count_arg(sys.argv[1:], 20, "bench/rootfs.py")
    result = run(n, Progress(2 * n + 1, "rootfs"))
    print(markdown(result))
    if "--json" in sys.argv:
        print(json.dumps(result, indent=1, default=str))
