"""Smoke tests of the bench code itself (bench/): the burst helper on real
PID namespaces and a real pids cgroup, the report (every section, rendered
from small fake results) and the README region."""
import os
import shutil
import subprocess
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "bench")
sys.path.insert(0, BENCH)

import common  # noqa: E402
import reap  # noqa: E402
import report  # noqa: E402

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, cgroups)")
needs_pids = pytest.mark.skipif(not os.path.isdir(common.PIDS_ROOT),
                                reason=f"no pids cgroup controller at {common.PIDS_ROOT}")
needs_gcc = pytest.mark.skipif(not shutil.which("gcc"), reason="gcc not installed")
needs_catatonit = pytest.mark.skipif(not shutil.which("catatonit"),
                                     reason="catatonit not installed")


class Silent:
    """A progress bar that draws nothing."""

    def step(self, what=""):
        pass


@needs_root
@needs_pids
@needs_gcc
@needs_catatonit
def test_reap_burst_measures_baseline_and_peer_and_cleans_up(tmp_path):
    """A small burst is timed for the waitpid baseline and for catatonit; no
    bench cgroup and no init process is left afterwards."""
    before = set(os.listdir(common.PIDS_ROOT))
    helper = common.compile_helper("burst", str(tmp_path))
    cat = shutil.which("catatonit")
    inits = {"catatonit -P": ([cat, "-P"], False, cat), "absent": (None, "not here", None)}
    res = reap.run(helper, inits, [200], 2, Silent())[200]
    assert res["catatonit -P"]["time"]["n"] == 2
    assert 0 < res[reap.BASELINE]["time"]["median"] < 5
    assert res["catatonit -P"]["vs_baseline"] > 0
    assert res["absent"] == {"skipped": "not here"}
    assert set(os.listdir(common.PIDS_ROOT)) - before == set()
    assert common.children(os.getpid()) == []


@needs_root
@needs_gcc
def test_burst_helper_bad_usage_exits_2(tmp_path):
    """The helper rejects a wrong command line with one line and exit 2."""
    helper = common.compile_helper("burst", str(tmp_path))
    r = subprocess.run([helper, "bogus"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_run_rejects_unknown_bench():
    """run.py --only with an unknown bench: one usage error, exit 2, naming
    every bench there is (the new ones included)."""
    r = subprocess.run([sys.executable, os.path.join(BENCH, "run.py"), "--only", "nope"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "unknown bench" in r.stderr and "Traceback" not in r.stderr
    for bench in ("reap", "footprint", "lifecycle", "install", "network", "images", "cgroups",
                  "rootfs", "scale"):
        assert bench in r.stderr.splitlines()[-1], r.stderr


def test_markdown_and_readme_region(tmp_path):
    """The report names the machine and every row, skipped rows with their
    reason; update_readme replaces only the marked region."""
    s = common.summary([0.001, 0.002, 0.003])
    res = {"machine": common.machine(), "quick": True, "reps": 3,
           "reap": {1000: {reap.BASELINE: {"time": s, "cpu": None, "vs_baseline": 1.0},
                           "tini": {"skipped": "tini not installed"}}},
           "lifecycle": {"python -c pass": s, "podman": {"skipped": "no podman"}}}
    md = report.markdown(res)
    assert f"{os.cpu_count()} cores" in md and "2.0 (1.0-3.0)" in md
    assert "skipped: tini not installed" in md and "skipped: no podman" in md
    readme = tmp_path / "README.md"
    readme.write_text(f"top\n{report.BEGIN}\nold\n{report.END}\nbottom\n")
    report.update_readme(str(readme), md)
    text = readme.read_text()
    assert text.startswith("top\n") and text.endswith(f"{report.END}\nbottom\n")
    assert "old" not in text and md in text
    readme.write_text("no markers\n")
    with pytest.raises(ValueError):
        report.update_readme(str(readme), md)


def ws(ms_median, ms_min=None, ms_max=None):
    """A {"wall", "cpu"} pair of summaries: wall median ms_median ms, CPU half of it."""
    lo, hi = ms_min or ms_median, ms_max or ms_median
    return {"wall": common.summary([lo / 1e3, ms_median / 1e3, hi / 1e3]),
            "cpu": common.summary([lo / 2e3, ms_median / 2e3, hi / 2e3])}


def fake_results():
    """A small results dict holding every section the new benches add."""
    launcher, podman, runc = ws(200, 150, 250), ws(500), ws(50)
    launcher.update({"vs podman run --rm": 0.4, "cpu vs podman run --rm": 0.5,
                     "vs runc run": 4.0, "cpu vs runc run": 4.5})
    load = {"loadavg": [0.5, 0.25, 0.125], "vmstat_line": "1 0 ...",
            "vmstat": {"r": 3, "b": 1, "us": 10, "sy": 5, "id": 80, "wa": 5}}
    unpack = {"ours": dict(ws(25), **{"vs tar -x": 0.83, "cpu vs tar -x": 0.8}),
              "tar -x": ws(30), "umoci raw unpack": {"skipped": "umoci is not installed"},
              "bytes": 2_100_000}
    return {
        "machine": dict(common.machine(), load_before=load, load_after=None),
        "quick": True, "reps": 1,
        "image_cycle": {"rounds": 3, "rows": {
            "launcher run --image localhost/busybox -- true": launcher,
            "podman run --rm": podman,
            "crun run": {"skipped": "crun failed: cgroups in hybrid mode not supported"},
            "runc run": runc},
            "leaked": {"pods": [], "mounts": [], "cgroups": ["/sys/fs/cgroup/pids/x/y"]},
            "targets": {"at most 0.1x of podman run --rm": False, "within 2x of runc run": True}},
        "images": {
            "unpack": {"busybox": unpack, "nginx": {"skipped": "no nginx image: no mirror"}},
            "pull": {"pull": dict(ws(240), **{"command": "launcher pull",
                                              "vs skopeo copy oci:": 2.0,
                                              "cpu vs skopeo copy oci:": 1.7,
                                              "vs the script": 1.37, "cpu vs the script": 1.43}),
                     "skopeo copy oci:": ws(120)},
            "ensure": {"second ensure (present)": ws(0.62), "no unpack work on the second": True},
            "targets": {"pull within 1.5x of skopeo copy": False}},
        "install": {"rounds": 2, "leaked_state": [], "leaked_mounts": [], "rows": {
            "editable venv": {"python -c pass": common.summary([0.024]),
                              "launcher run --share-pid -- true": common.summary([0.044]),
                              "launcher run -d": common.summary([0.046]),
                              "x python": {"launcher run --share-pid -- true": 1.83,
                                           "launcher run -d": 1.92}}}},
        "cgroups": {"hierarchies": ["cpu", "pids"], "cycles": 20, "baseline": ws(4.96),
                    "cgroups": ws(9.19), "added_ms": {"wall": 4.23, "cpu": 3.76},
                    "target_ms": 2.0, "within_target": False, "leaked": [],
                    "phases": {"create": ws(1.39)}, "import": common.summary([0.005])},
        "rootfs": {"host mode": ws(6.84), "rootfs mode": ws(11.95), "reps": 10,
                   "parent per start": {"prepare": common.summary([0.0011]),
                                        "cleanup": common.summary([0.0029])},
                   "over host mode ms": {"wall": 5.11, "cpu": 3.71}, "pod create ms": 1.55,
                   "steps ms": {"rootfs": 0.89, "etc": 1.01}, "setup ms": 1.9,
                   "own setup ms": 1.9, "exit and exec ms": 3.21,
                   "target": {"rootfs set-up within 5 ms of host mode (CPU)": True}}}


def test_new_sections_render_from_fake_results():
    """The machine load line and the sections of the image-cycle, images,
    cgroups and rootfs benches render: every row with wall and CPU as
    median (min-max), the launcher's ratios on each peer's row, skipped rows
    with their reason, what was left behind, and each target met or not."""
    md = report.markdown(fake_results())
    assert ("Machine load before: 3 runnable, 1 blocked, CPU us/sy/id/wa 10/5/80/5 "
            "(`vmstat 1 3`, last sample), loadavg 0.50 0.25 0.12; after: not recorded.") in md
    assert "**A container on the busybox image, start to exit** (3 rounds" in md
    assert "| launcher run --image localhost/busybox -- true | 200.0 (150.0-250.0) | " \
           "100.0 (75.0-125.0) |  |" in md
    assert "| podman run --rm | 500.0 (500.0-500.0) | 250.0 (250.0-250.0) | 0.40x, 0.50x |" in md
    assert "| runc run | 50.0 (50.0-50.0) | 25.0 (25.0-25.0) | 4.00x, 4.50x |" in md
    assert "| crun run | skipped: crun failed: cgroups in hybrid mode not supported | | |" in md
    assert "Left behind (pods, writable layers, mounts, cgroups, podman containers): " \
           "cgroups ['/sys/fs/cgroup/pids/x/y']" in md
    assert "Targets: at most 0.1x of podman run --rm: NOT met; within 2x of runc run: met" in md
    assert "**Unpacking the busybox layer** (2.1 MB uncompressed" in md
    assert "| ours | 25.0 (25.0-25.0) | 12.5 (12.5-12.5) | 0.83x (CPU 0.80x) |" in md
    assert "| umoci raw unpack | skipped: umoci is not installed | | |" in md
    assert "**Unpacking the nginx layer**: skipped: no nginx image: no mirror" in md
    assert "| pull | 240.0 (240.0-240.0) | 120.0 (120.0-120.0) | 2.00x (CPU 1.70x) |" in md
    assert "(skopeo copy to dir:, tar -x, sync): 1.37x (CPU 1.43x)" in md
    assert "| second ensure (present) | 0.62 (0.62-0.62) | 0.31 (0.31-0.31) |" in md
    assert "Second ensure did no unpack work (layer dirs unchanged): yes" in md
    assert "Targets: pull within 1.5x of skopeo copy: NOT met" in md
    assert "**cgroups per pod cycle** (hierarchies: cpu, pids; 20 cycles" in md
    assert "| added (difference of medians; target <= 2 ms) | 4.23 | 3.76 |" in md
    assert "| create | 1.39 (1.39-1.39) | 0.69 (0.69-0.69) |" in md
    assert "Left behind: none. Targets: at most 2 ms added (wall): NOT met" in md
    assert "**A container's root filesystem, fork to reaped exit of `true`** (10 reps" in md
    assert "| rootfs mode | 11.95 (11.95-11.95) | 5.97 (5.97-5.97) |" in md
    assert "rootfs mode over host mode: **5.11 ms wall, 3.71 ms CPU**" in md
    assert "(median per step): rootfs 0.89, etc 1.01." in md
    assert "Targets: rootfs set-up within 5 ms of host mode (CPU): met" in md


def test_scale_section_renders_each_level_the_removal_and_the_leaks():
    """A level row: medians in ms, run's ratio to python, the batch rate;
    the rm -f of all with its rate; what was left; the targets."""
    s = common.summary
    row = {"pods": 1000, "python": s([0.030]), "run": s([0.090]), "ps": s([0.170]),
           "inspect": s([0.040]), "rm": s([0.060]), "run_x_python": 3.0,
           "batch_added": 900, "batch_pods_per_s": 42.4,
           "python_cpu": s([0.029]), "ps_cpu": s([0.150]), "inspect_cpu": s([0.038])}
    res = {"machine": common.machine(), "quick": False, "reps": 1,
           "scale": {"levels": [row], "rm_all_pods": 1000, "rm_all_s": 2.5, "rm_pods_per_s": 400.0,
                     "leaked_processes": [], "leaked_state": [], "leaked_mounts": [],
                     "leaked_cgroups": ["/sys/fs/cgroup/pids/x/pody"]}}
    md = report.markdown(res)
    # wall (CPU); rm -f here has no CPU figure, run -d never has one
    assert ("| 1000 | 30 ms (29) | 90 ms (3.00x) | 170 ms (150) | 40 ms (38) | 60 ms | "
            "900 pods at 42 pods/s |") in md
    assert "`rm -f` of all 1000 pods: 2.5 s (400 pods/s). Left behind: cgroups " \
           "['/sys/fs/cgroup/pids/x/pody']." in md
    res["scale"] = {"skipped": "launcher not installed yet"}
    assert "**Scale**: skipped: launcher not installed yet" in report.markdown(res)


def test_install_section_renders_both_venvs_with_their_ratios_and_the_leaks():
    """One row per install: python's median (min-max), each launcher
    command's with its ratio to that venv's python; what was left."""
    s = common.summary
    row = {"python -c pass": s([0.010, 0.012]), "launcher run --share-pid -- true": s([0.030]),
           "launcher run -d": s([0.040]),
           "x python": {"launcher run --share-pid -- true": 2.727, "launcher run -d": 3.636}}
    res = {"machine": common.machine(), "quick": False, "reps": 1,
           "install": {"rounds": 2, "rows": {"wheel in a fresh venv": row},
                       "leaked_state": ["abc"], "leaked_mounts": []}}
    md = report.markdown(res)
    assert "median of 2 interleaved rounds" in md
    assert ("| wheel in a fresh venv | 11.0 (10.0-12.0) | 30.0 (30.0-30.0) (2.73x) | "
            "40.0 (40.0-40.0) (3.64x) |") in md
    assert "Left behind: state ['abc']." in md
    res["install"] = {"skipped": "building the wheel (pip wheel) failed: no setuptools"}
    assert ("**Editable venv against a wheel**: skipped: building the wheel (pip wheel) failed: "
            "no setuptools") in report.markdown(res)


@pytest.mark.parametrize("section", ["image_cycle", "images", "cgroups", "rootfs"])
def test_a_skipped_new_bench_is_one_line_with_its_reason(section):
    """A new bench that could not run here renders as one line giving why,
    not a traceback or an empty table."""
    res = fake_results()
    res[section] = {"skipped": "needs root (real cgroups)"}
    md = report.markdown(res)
    lines = [ln for ln in md.splitlines() if "needs root (real cgroups)" in ln]
    assert len(lines) == 1 and lines[0].startswith("**") and ": skipped: " in lines[0], lines


@pytest.mark.parametrize("module", ["images", "cgroups", "rootfs", "install"])
def test_bench_modules_print_through_the_report(module):
    """`python bench/MODULE.py` prints the same section the whole report has."""
    mod = __import__(module)
    res = fake_results()[module]
    assert mod.markdown(res).strip() == "\n".join(getattr(report, "_" + module)(res)).strip()


_V1 = "cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,relatime,pids 0 0\n"
_V2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,relatime,nsdelegate 0 0\n"
_FAVOR = "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime,favordynmods 0 0\n"


@pytest.mark.parametrize("mounts, mode", [
    (_V2, "v2"), (_V1, "v1"), (_V1 + _V2, "hybrid"), (_V1 + _FAVOR, "hybrid, favordynmods"),
    ("proc /proc proc rw 0 0\n", "none"), ("", "none"),
    ("tmpfs /x tmpfs rw,favordynmods 0 0\n" + _V2, "v2"),   # only cgroup mounts count
])
def test_the_header_names_the_hosts_cgroup_mode(mounts, mode):
    """bench/common.py cgroup_mode(), which the report's first line shows:
    the kinds of cgroup mounts and favordynmods on any of them; and on this
    machine the same answer as its own /proc/self/mounts read by hand."""
    assert common.cgroup_mode(mounts) == mode
    with open("/proc/self/mounts") as f:
        assert common.cgroup_mode() == common.cgroup_mode(f.read())
    assert common.machine()["cgroups"] == common.cgroup_mode()


@pytest.mark.parametrize("script", ["images", "rootfs", "cgroups", "install"])
@pytest.mark.parametrize("bad", ["x", "0", "-3", "1.5"])
def test_a_bench_run_on_its_own_refuses_a_bad_count_in_one_line(script, bad):
    """`python bench/SCRIPT.py COUNT` with a count that is not a whole number
    >= 1: exit 2 and one line naming the script, before any work."""
    r = subprocess.run([sys.executable, os.path.join(BENCH, script + ".py"), bad],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    assert r.stderr == (f"bench/{script}.py: the count must be a whole number of at least 1, "
                        f"not {bad!r}\n")


def test_count_arg_skips_options_and_takes_the_first_count():
    assert common.count_arg([], 5, "p") == 5
    assert common.count_arg(["--no-big"], 5, "p") == 5
    assert common.count_arg(["--json", "12", "3"], 5, "p") == 12
