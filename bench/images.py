"""The image store against the tools it stands beside, measured side by
side in one run, variants interleaved:

- unpacking a layer: our unpack (launcher/images/unpack.py, in this
  process) vs `tar -xf` of the same uncompressed layer vs `umoci raw unpack`
  of a one-layer image holding it; on the busybox layer and on a big one
  (Debian + nginx-light, ~135 MB, 5,000 entries, built offline by
  testimages.nginx_image, skipped if that cannot be built). "ours + syncfs"
  adds the syncfs(2) the store does before renaming a layer into place.
- `launcher pull docker-archive:FILE` of busybox into an empty store (the
  launcher command once wired, else the same verb module run by a fresh
  python) vs `skopeo copy docker-archive:FILE oci:DIR:x`, and vs the same
  work done by a script (skopeo copy to dir:, tar -x of the layer, sync).
- a second ensure() of a present image (what a second pod on it costs):
  in this process and in a fresh process (import included); it must do no
  unpack work, which is checked (layer directories unchanged).
Wall and CPU time (this process's own plus its children's rusage) are
reported beside each other, because this machine is shared and its wall
times move with its load; targets: unpack and pull within 1.5x."""
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from common import REPO, Skip, summary, venv_python

sys.path.insert(0, REPO)
TARGET_RATIO = 1.5


def _cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _timed(fn):
    """(wall s, cpu s) of fn()."""
    c0, t0 = _cpu(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, _cpu() - c0


def _run(argv, env=None):
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
        raise Skip(f"{argv[0]} failed: {last}")
    return r


def _layer_of(layout):
    """(path of the single/first layer blob, its size) of an OCI layout we built."""
    import json
    idx = json.load(open(os.path.join(layout, "index.json")))
    digest = idx["manifests"][0]["digest"][7:]
    man = json.load(open(os.path.join(layout, "blobs", "sha256", digest)))
    desc = man["layers"][0]
    return os.path.join(layout, "blobs", "sha256", desc["digest"][7:]), desc["size"]


def _stats(samples):
    return {"wall": summary([w for w, _ in samples]), "cpu": summary([c for _, c in samples])}


def unpack_rows(layout, reps, progress, label):
    """{variant: {"wall", "cpu"}} for one layer, interleaved."""
    from launcher.images import unpack
    from launcher.images.store import syncfs
    tar, size = _layer_of(layout)
    umoci = shutil.which("umoci")
    samples = {"ours": [], "ours + syncfs": [], "tar -x": [], "umoci raw unpack": []}
    with tempfile.TemporaryDirectory(prefix="bench-unpack-", dir="/var/tmp") as base:
        pfd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
        try:
            def ours(sync):
                fd = os.open(tar, os.O_RDONLY)
                try:
                    unpack.unpack(fd, pfd, "ours")
                finally:
                    os.close(fd)
                if sync:
                    syncfs(pfd)

            def gnu():
                os.mkdir(os.path.join(base, "gnu"))
                _run(["tar", "-xf", tar, "-C", os.path.join(base, "gnu")])

            def umo():
                _run([umoci, "raw", "unpack", "--image", f"{layout}:latest",
                      os.path.join(base, "umoci")])
            variants = {"ours": lambda: ours(False), "ours + syncfs": lambda: ours(True),
                        "tar -x": gnu}
            if umoci:
                variants["umoci raw unpack"] = umo
            for i in range(reps + 1):                    # the first round warms the cache
                for name, fn in variants.items():
                    for d in ("ours", "gnu", "umoci"):
                        shutil.rmtree(os.path.join(base, d), ignore_errors=True)
                    subprocess.run(["sync"], timeout=120)   # nothing dirty left from before
                    w = _timed(fn)
                    if i:
                        samples[name].append(w)
                progress.step(f"{label} unpack {i}/{reps}")
        finally:
            os.close(pfd)
    out = {k: _stats(v) for k, v in samples.items() if v}
    if not umoci:
        out["umoci raw unpack"] = {"skipped": "umoci is not installed"}
    out["bytes"] = size
    tar_w = out["tar -x"]["wall"]["median"]
    for k in ("ours", "ours + syncfs", "umoci raw unpack"):
        if "wall" in out.get(k, {}):
            out[k]["vs tar -x"] = out[k]["wall"]["median"] / tar_w
            out[k]["cpu vs tar -x"] = out[k]["cpu"]["median"] / out["tar -x"]["cpu"]["median"]
    return out


def _pull_argv(root, archive):
    """The pull command: `launcher pull` when the CLI has the verb, else the
    verb module in a fresh interpreter (what `launcher pull` will run)."""
    lau = os.path.join(REPO, ".venv", "bin", "launcher")
    if os.access(lau, os.X_OK) and subprocess.run([lau, "pull", "--help"], capture_output=True,
                                                  timeout=60).returncode == 0:
        return [lau, "pull", "--image-root", root, f"docker-archive:{archive}"], "launcher pull"
    code = ("import sys; from launcher.commands import pull; "
            "sys.exit(pull.main(pull.parse(sys.argv[1:])))")
    return [venv_python(), "-c", code, "--image-root", root, f"docker-archive:{archive}"], \
        "launcher pull (verb module)"


def _copy_and_untar(archive, work):
    """What a shell script doing our pull's work would run: skopeo to dir:,
    tar -x of the layer, sync (no verification, no records)."""
    _run(["skopeo", "copy", "-q", "--dest-decompress", f"docker-archive:{archive}",
          f"dir:{work}/dir"])
    blobs = [os.path.join(work, "dir", n) for n in os.listdir(os.path.join(work, "dir"))]
    os.mkdir(os.path.join(work, "rootfs"))
    _run(["tar", "-xf", max(blobs, key=os.path.getsize), "-C", os.path.join(work, "rootfs")])
    _run(["sync", "-f", work])


def pull_rows(busybox, reps, progress):
    """`launcher pull docker-archive:` vs skopeo copy into an OCI dir."""
    from launcher.images import testimages
    samples = {"pull": [], "skopeo copy oci:": [], "skopeo copy --dest-decompress dir:": [],
               "skopeo copy dir: + tar -x + sync": [], "python -c pass": []}
    with tempfile.TemporaryDirectory(prefix="bench-pull-", dir="/var/tmp") as base:
        archive = testimages.docker_archive(busybox, os.path.join(base, "busybox.tar"),
                                            "localhost/busybox:latest")
        work = os.path.join(base, "w")
        argv, label = _pull_argv(os.path.join(work, "root"), archive)
        variants = {
            "pull": lambda: _run(argv),
            "skopeo copy oci:": lambda: _run(["skopeo", "copy", "-q", f"docker-archive:{archive}",
                                              f"oci:{work}/oci:x"]),
            "skopeo copy --dest-decompress dir:": lambda: _run(
                ["skopeo", "copy", "-q", "--dest-decompress", f"docker-archive:{archive}",
                 f"dir:{work}/dir"]),
            "skopeo copy dir: + tar -x + sync": lambda: _copy_and_untar(archive, work),
            "python -c pass": lambda: _run([venv_python(), "-c", "pass"])}
        for i in range(reps + 1):
            for name, fn in variants.items():
                shutil.rmtree(work, ignore_errors=True)
                os.makedirs(work, mode=0o700)
                subprocess.run(["sync"], timeout=120)
                w = _timed(fn)
                if i:
                    samples[name].append(w)
            progress.step(f"pull {i}/{reps}")
    out = {k: _stats(v) for k, v in samples.items()}
    out["pull"]["command"] = label
    ref = out["skopeo copy oci:"]
    out["pull"]["vs skopeo copy oci:"] = out["pull"]["wall"]["median"] / ref["wall"]["median"]
    out["pull"]["cpu vs skopeo copy oci:"] = out["pull"]["cpu"]["median"] / ref["cpu"]["median"]
    script = out["skopeo copy dir: + tar -x + sync"]
    out["pull"]["vs the script"] = out["pull"]["wall"]["median"] / script["wall"]["median"]
    out["pull"]["cpu vs the script"] = out["pull"]["cpu"]["median"] / script["cpu"]["median"]
    return out


def _layer_state(root):
    layers = os.path.join(root, "layers")
    return sorted((n, os.lstat(os.path.join(layers, n)).st_ino,
                   os.lstat(os.path.join(layers, n)).st_mtime_ns) for n in os.listdir(layers))


def ensure_rows(busybox, reps, progress):
    """First ensure (pull + unpack) vs second ensure of a present image."""
    from launcher.images import ensure
    ref = f"oci:{busybox}:latest"
    with tempfile.TemporaryDirectory(prefix="bench-ensure-", dir="/var/tmp") as base:
        first = []
        for i in range(reps):
            root = os.path.join(base, f"first{i}")
            first.append(_timed(lambda: ensure.ensure(ref, "IfNotPresent", root)))
        root = os.path.join(base, "first0")
        before = _layer_state(root)
        second = [_timed(lambda: ensure.ensure(ref, "IfNotPresent", root))
                  for _ in range(reps * 10)]
        code = (f"from launcher.images.ensure import ensure; "
                f"ensure({ref!r}, 'IfNotPresent', {root!r})")
        fresh = [_timed(lambda: _run([venv_python(), "-c", code])) for _ in range(reps)]
        bare = [_timed(lambda: _run([venv_python(), "-c", "pass"])) for _ in range(reps)]
        unchanged = _layer_state(root) == before
        progress.step("ensure")
    out = {"first ensure (pull + unpack)": _stats(first),
           "second ensure (present)": _stats(second),
           "second ensure, fresh process": _stats(fresh), "python -c pass": _stats(bare)}
    out["no unpack work on the second"] = unchanged
    return out


def run(reps, progress, big=True):
    """{"unpack": {"busybox": rows, "nginx": rows}, "pull": rows, "ensure":
    rows, "targets": {...}}; rows are {variant: {"wall", "cpu"} summaries}.
    progress.step() is called about 2 * (reps + 1) + reps + 2 times."""
    if os.geteuid() != 0:
        return {"skipped": "needs root (unpacking keeps owners and device nodes)"}
    if not shutil.which("skopeo"):
        return {"skipped": "skopeo is not installed"}
    from launcher.errors import LauncherError
    from launcher.images import testimages
    # Byte-compile first: with PYTHONDONTWRITEBYTECODE set and no
    # __pycache__, every pull process would recompile its modules.
    subprocess.run([venv_python(), "-m", "compileall", "-q", os.path.join(REPO, "launcher")],
                   capture_output=True, timeout=300)
    try:
        busybox = testimages.busybox_image()
    except LauncherError as e:
        return {"skipped": str(e)}
    out = {"unpack": {}}
    try:
        out["unpack"]["busybox"] = unpack_rows(busybox, reps, progress, "busybox")
        if big:
            try:
                nginx = testimages.nginx_image()
                out["unpack"]["nginx"] = unpack_rows(nginx, max(2, reps // 2), progress, "nginx")
            except (LauncherError, subprocess.TimeoutExpired) as e:
                out["unpack"]["nginx"] = {"skipped": f"no nginx image: {e}"}
        out["pull"] = pull_rows(busybox, reps, progress)
        out["ensure"] = ensure_rows(busybox, reps, progress)
    except Skip as e:
        out["skipped"] = str(e)
        return out
    targets = {f"unpack {k} within {TARGET_RATIO}x of tar -x":
               v["ours"]["vs tar -x"] <= TARGET_RATIO
               for k, v in out["unpack"].items() if "ours" in v}
    targets[f"pull within {TARGET_RATIO}x of skopeo copy"] = \
        out["pull"]["pull"]["vs skopeo copy oci:"] <= TARGET_RATIO
    targets["second ensure does no unpack"] = out["ensure"]["no unpack work on the second"]
    out["targets"] = targets
    return out


def markdown(res):
    """The result as markdown, as the whole report renders it (report.py)."""
    import report
    return "\n".join(report._images(res)).lstrip("\n") + "\n"


if __name__ == "__main__":
    from common import Progress, count_arg
    reps = count_arg(sys.argv[1:], 5, "bench/images.py")
    big = "--no-big" not in sys.argv
    print(markdown(run(reps, Progress(3 * (reps + 1) + 2, "images"), big=big)))
