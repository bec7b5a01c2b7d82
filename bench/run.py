"""Side-by-side benchmarks of our pause and launcher against tini, dumb-init,
catatonit, unshare, bubblewrap, podman, runc/crun, tar, umoci and skopeo,
measured in one run on this machine. Writes bench/results/results.json,
results.md and (with matplotlib) PNG plots; --update-readme puts the table
between the README markers.

usage: python bench/run.py [--quick]
                           [--only reap,footprint,lifecycle,install,network,images,cgroups,rootfs,scale]
                           [--reps N] [--update-readme] [--out DIR]
Must run as root (PID namespaces, cgroups, mounts, sysctl). Exit 2 on bad usage."""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cgroups  # noqa: E402
import footprint  # noqa: E402
import images  # noqa: E402
import install  # noqa: E402
import lifecycle  # noqa: E402
import network  # noqa: E402
import reap  # noqa: E402
import report  # noqa: E402
import rootfs  # noqa: E402
import scale  # noqa: E402
from common import REPO, RESULTS, Progress, Skip, compile_helper, inits, load, machine  # noqa: E402

BENCHES = ("reap", "footprint", "lifecycle", "install", "network", "images", "cgroups", "rootfs",
           "scale")


def parse(argv):
    """Command-line options; one line on stderr and exit 2 when wrong."""
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run, about a minute")
    p.add_argument("--only", default=",".join(BENCHES), help="comma-separated benches")
    p.add_argument("--reps", type=int, help="repetitions (default 7, quick 2)")
    p.add_argument("--update-readme", action="store_true",
                   help="rewrite README.md between <!-- bench:begin --> and <!-- bench:end -->")
    p.add_argument("--out", default=RESULTS, help="results directory")
    o = p.parse_args(argv)
    o.only = [b for b in o.only.split(",") if b]
    bad = [b for b in o.only if b not in BENCHES]
    if bad or not o.only:
        p.error(f"unknown bench {bad[0]!r} (choose from {', '.join(BENCHES)})" if bad
                else f"--only names no bench (choose from {', '.join(BENCHES)})")
    if o.reps is not None and o.reps < 1:
        p.error("--reps must be at least 1")
    return o


def main(argv=None):
    o = parse(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        print("bench: must run as root (PID namespaces, cgroups, sysctl)", file=sys.stderr)
        return 1
    q = o.quick
    reps = o.reps or (2 if q else 7)
    sizes = [1000] if q else [1000, 10000, 30000]
    n_pods = 5 if q else 100
    scale_levels = [10, 50] if q else [10, 100, 1000, 5000]
    life_reps, image_rounds = reps * (3 if q else 5), reps * (3 if q else 2)
    install_rounds = reps * 3
    rootfs_reps, big_layer = reps * 5, not q          # the nginx layer: ~1.5 min, full runs only
    table = inits()
    res = {"machine": machine(), "quick": q, "reps": reps}
    try:
        os.makedirs(o.out, exist_ok=True)
    except OSError as e:
        print(f"bench: cannot use --out {o.out}: {e.strerror}", file=sys.stderr)
        return 2
    res["machine"]["load_before"] = load()
    images_steps = 2 * (reps + 1) + 1 + big_layer * (max(2, reps // 2) + 1)
    steps = (("reap" in o.only) * len(sizes) * reps * (len(table) + 1)
             + ("footprint" in o.only) * len(table)
             + ("lifecycle" in o.only) * (5 + image_rounds + 1 + n_pods + 1)
             + ("install" in o.only) * (install_rounds + 1)
             + ("network" in o.only) * reps * 3
             + ("images" in o.only) * images_steps
             + ("cgroups" in o.only) * reps
             + ("rootfs" in o.only) * (2 * rootfs_reps + 1)
             + ("scale" in o.only) * (len(scale_levels) + 1))
    progress = Progress(steps, "bench")
    if "reap" in o.only:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            try:
                helper = compile_helper("burst", tmp)
                res["reap"] = reap.run(helper, table, sizes, reps, progress)
            except Skip as e:
                res["reap"] = {"skipped": str(e)}
    if "footprint" in o.only:
        res["footprint"] = footprint.run(table, reps, 1.0 if q else 10.0, progress)
        res["image"] = footprint.image_size()
    if "lifecycle" in o.only:
        with lifecycle.podman_engine() as engine:    # one podman storage for both tables
            res["lifecycle"] = lifecycle.cycles(life_reps, progress, engine)
            res["image_cycle"] = lifecycle.image_cycles(image_rounds, progress, engine)
        res["pods"] = lifecycle.pods(n_pods, progress, "pods")
    if "install" in o.only:
        res["install"] = install.run(install_rounds, progress)
    if "network" in o.only:
        res["network"] = network.run(reps * 3, progress)
    if "images" in o.only:
        res["images"] = images.run(reps, progress, big=big_layer)
    if "cgroups" in o.only:
        res["cgroups"] = cgroups.run(reps, progress)
    if "rootfs" in o.only:
        res["rootfs"] = rootfs.run(rootfs_reps, progress)
    if "scale" in o.only:
        res["scale"] = scale.run(scale_levels, progress)
    res["machine"]["load_after"] = load()
    path = os.path.join(o.out, "results.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1, default=str)
    md = report.markdown(res)
    with open(os.path.join(o.out, "results.md"), "w") as f:
        f.write(md)
    pngs = report.plots(res, o.out)
    print(md)
    print(f"bench: wrote {path}" + "".join(f", {p}" for p in pngs), file=sys.stderr)
    if o.update_readme:
        try:
            report.update_readme(os.path.join(REPO, "README.md"), md)
        except ValueError as e:
            print(f"bench: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
