"""The bench's measurements on real processes: footprint (wake-ups, RSS,
start-to-ready), the pause image size, launcher pods (rate, memory, leak
check), the lifecycle ratios, one container on the busybox image next to
podman and runc/crun, the images, cgroups and rootfs benches (one small
round each: rows, ratios, nothing left), the machine's load, the
kernel.pid_max guard, a --quick run's files and progress lines, and the PNG
plots."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(REPO, "bench")
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(REPO, "scripts"))

import cgroups  # noqa: E402
import common  # noqa: E402
import footprint  # noqa: E402
import images  # noqa: E402
import lifecycle  # noqa: E402
import network  # noqa: E402
import report  # noqa: E402
import rootfs  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the bench runs as root")
PAUSE = os.path.join(REPO, "pause", "bin", "pause")


class Silent:
    """A progress bar that draws nothing."""

    def step(self, what=""):
        pass


def test_footprint_tells_an_idle_init_from_one_that_wakes():
    """Over a 2.5 s idle window tini (wakes every second) shows wake-ups and
    our pause none; RSS, binary size and start-to-ready are filled in."""
    if not (os.access(PAUSE, os.X_OK) and shutil.which("tini")):
        pytest.skip("needs pause/bin/pause (make build) and tini")
    tini = shutil.which("tini")
    inits = {"pause (C)": ([PAUSE], True, PAUSE),
             "tini": ([tini, "--", "sleep", "infinity"], False, tini)}
    res = footprint.run(inits, 2, 2.5, Silent())
    assert res["pause (C)"]["wakeups_per_min"] == 0
    assert 20 <= res["tini"]["wakeups_per_min"] <= 150, res["tini"]
    assert 0 < res["pause (C)"]["rss_kb"] < res["tini"]["rss_kb"]
    assert res["pause (C)"]["binary_bytes"] == os.path.getsize(PAUSE)
    for row in res.values():
        assert row["ready"]["n"] == 2 and 0 < row["ready"]["median"] < 5
    assert common.children(os.getpid()) == []


def test_image_size_is_measured_on_a_fresh_build():
    """The footprint's image size is our image's, built for the measurement
    in a throw-away podman storage: at most 20 kB, and the storage is gone."""
    import podman_env
    reason = podman_env.unusable_reason()
    if reason:
        pytest.skip(reason)
    pattern = os.path.join(tempfile.gettempdir(), "bench-image-*")
    before = set(glob.glob(pattern))
    size = footprint.image_size()
    assert isinstance(size, int), size
    assert 1000 < size <= podman_env.IMAGE_SIZE_TARGET
    assert set(glob.glob(pattern)) == before


def test_detached_pods_are_measured_and_nothing_is_left():
    """Three detached launcher pods: create/remove rates, one supervisor per
    pod, memory per pod, and no process, state, mount or zombie left after rm."""
    if not lifecycle.launcher():
        pytest.skip("launcher not installed")
    res = lifecycle.pods(3, Silent(), "test")
    assert "skipped" not in res, res
    assert res["pods"] == 3 and res["supervisors"] == 3
    assert res["pods_per_s_create"] > 0 and res["pods_per_s_rm"] > 0
    assert 0 < res["pause_rss_kb_total"] and 0 < res["per_pod_pss_kb"] <= res["per_pod_rss_kb"]
    assert res["leaked_processes"] == [] and res["leaked_state"] == []
    assert res["leaked_mounts"] == [] and res["zombies_left"] == []


def test_scale_measures_each_level_side_by_side_and_leaves_nothing():
    """Two small levels (3, then 5 pods brought up by play -d): every
    command timed at each with python -c pass beside it, the batch rate,
    one rm -f of all five, and nothing left (processes, state, mounts,
    cgroups)."""
    import scale
    if not lifecycle.launcher():
        pytest.skip("launcher not installed")
    res = scale.run([3, 5], Silent())
    assert "skipped" not in res, res
    assert [row["pods"] for row in res["levels"]] == [3, 5]
    assert [row["batch_added"] for row in res["levels"]] == [3, 2]
    for row in res["levels"]:
        for cmd in ("python", "run", "ps", "inspect", "rm"):
            assert row[cmd]["n"] == scale.ROUNDS and row[cmd]["median"] > 0
        assert row["run_x_python"] == row["run"]["median"] / row["python"]["median"]
        assert row["batch_pods_per_s"] > 0 and row["ps_cpu"]["median"] > 0
    assert res["rm_all_pods"] == 5 and res["rm_pods_per_s"] > 0
    for leak in ("leaked_processes", "leaked_state", "leaked_mounts", "leaked_cgroups"):
        assert res[leak] == [], (leak, res[leak])


def test_install_measures_the_editable_venv_and_a_wheel_side_by_side_and_leaves_nothing():
    """One round: a wheel of the checkout is built and installed into a
    fresh venv; each command is timed in both venvs with its ratio to that
    venv's python; the wheel's launcher is the installed copy, not the
    checkout; no pod, mount, process or temporary directory is left."""
    import install
    if not lifecycle.launcher():
        pytest.skip("launcher not installed")
    tmp = tempfile.gettempdir()
    before = {e for e in os.listdir(tmp) if e.startswith("bench-install")}
    res = install.run(1, Silent())
    assert "skipped" not in res, res
    assert set(res["rows"]) == {install.EDITABLE, install.WHEEL}
    for row in res["rows"].values():
        for command in install.COMMANDS:
            assert row[command]["n"] == 1 and row[command]["median"] > 0
        base = row["python -c pass"]["median"]
        for command in install.COMMANDS[1:]:
            assert row["x python"][command] == row[command]["median"] / base
    assert res["leaked_state"] == [] and res["leaked_mounts"] == []
    assert {e for e in os.listdir(tmp) if e.startswith("bench-install")} == before
    assert common.children(os.getpid()) == []


def test_the_wheel_venv_runs_the_installed_launcher(tmp_path):
    """The fresh venv imports the launcher from its own site-packages (the
    wheel), finds the dependencies through the project venv, and does not
    load the editable install's finder."""
    import install
    if not lifecycle.launcher():
        pytest.skip("launcher not installed")
    wbin = install.wheel_venv(str(tmp_path))
    r = subprocess.run([os.path.join(wbin, "python"), "-c",
                        "import sys, launcher, yaml, cffi; print(launcher.__file__); "
                        "print(any('editable' in m for m in sys.modules))"],
                       capture_output=True, text=True, cwd="/", timeout=60)
    assert r.returncode == 0, r.stderr
    where, editable = r.stdout.split()
    assert where.startswith(str(tmp_path)) and "site-packages" in where, where
    assert editable == "False"


def test_remove_pod_cgroups_removes_what_podman_left_and_names_what_is_busy():
    """podman 4.3 leaves libpod_parent/POD_ID in the unified and name=systemd
    hierarchies after `pod rm` on this hybrid host: the bench removes them,
    with what is below them, in every hierarchy; a cgroup with a process in
    it stays and is named; an id that is not a podman id is refused; the
    parent is kept."""
    mounts = lifecycle.cgroup_mounts()
    if not mounts:
        pytest.skip("no cgroup hierarchy mounted")
    # the process goes to v1's pids hierarchy where there is one, else to the first (v2)
    pids_mount = next((m for m in mounts if os.path.basename(m) == "pids"), mounts[0])
    pod_id = f"{os.getpid():x}".rjust(64, "b")
    made_parent = [m for m in mounts if not os.path.isdir(os.path.join(m, "libpod_parent"))]
    for m in mounts:
        os.makedirs(os.path.join(m, "libpod_parent", pod_id, "sub"))
    busy = os.path.join(pids_mount, "libpod_parent", pod_id)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        with open(os.path.join(busy, "sub", "cgroup.procs"), "w") as f:
            f.write(str(sleeper.pid))
        for bad in ("../" + pod_id[3:], pod_id[:12], "sub"):
            assert lifecycle.remove_pod_cgroups(bad) == []
        assert lifecycle.remove_pod_cgroups(pod_id) == [busy]
        for m in mounts:
            if m != pids_mount:
                assert not os.path.exists(os.path.join(m, "libpod_parent", pod_id))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert lifecycle.remove_pod_cgroups(pod_id) == []
    assert not os.path.exists(busy)
    for m in mounts:
        assert os.path.isdir(os.path.join(m, "libpod_parent"))
        if m in made_parent:
            os.rmdir(os.path.join(m, "libpod_parent"))


def test_lifecycle_reports_the_launcher_as_ratios_to_each_peer():
    """The launcher's row holds its median over each measured peer's
    (unshare, bwrap, python -c pass); without a podman engine from the
    caller the podman row says so."""
    if not (lifecycle.launcher() and shutil.which("bwrap")):
        pytest.skip("needs the launcher and bubblewrap")
    res = lifecycle.cycles(2, Silent())
    la = res["launcher run --share-pid -- true"]
    peers = [k for k, r in res.items() if "median" in r and r is not la]
    assert len(peers) == 3, res.keys()
    for peer in peers:
        assert la["vs " + peer] == pytest.approx(la["median"] / res[peer]["median"])
    assert res["podman pod create + run + pod rm"] == {"skipped": "podman not set up by the caller"}
    md = "\n".join(report._lifecycle(res))
    assert "x vs unshare -f --pid" in md and "x vs bwrap" in md


def test_image_cycle_runs_every_variant_side_by_side_and_leaves_nothing():
    """One round of a container on the busybox image: `launcher run --image`
    and the launcher without an image, `podman run --rm` (when podman works
    here), and the OCI runtimes on a bundle of the same image: each measured
    row has wall and CPU time, a runtime that refuses this machine (crun
    with hybrid cgroups) is a skipped row with its reason, and at least one
    runtime ran; the launcher's row holds its ratio to each peer and the
    targets are judged on them; no pod, writable layer, mount, cgroup or
    podman container is left, and the bench's cgroup parent is gone."""
    if not (lifecycle.launcher() and shutil.which("umoci")):
        pytest.skip("needs the launcher and umoci")
    with lifecycle.podman_engine() as engine:
        res = lifecycle.image_cycles(1, Silent(), engine)
    assert "skipped" not in res, res
    rows = res["rows"]
    la = rows[lifecycle.LAUNCHER_IMAGE]
    measured = [k for k, r in rows.items() if "wall" in r]
    for k in measured:
        assert rows[k]["wall"]["n"] == 1 and rows[k]["cpu"]["median"] > 0, rows[k]
        if k != lifecycle.LAUNCHER_IMAGE:
            for kind, prefix in (("wall", "vs "), ("cpu", "cpu vs ")):
                assert la[prefix + k] == pytest.approx(
                    la[kind]["median"] / rows[k][kind]["median"])
    assert lifecycle.LAUNCHER_HOST in measured
    runtimes = [lifecycle.runtime_row(rt) for rt in lifecycle.RUNTIMES]
    assert any(k in measured for k in runtimes), rows
    assert all("wall" in rows[k] or rows[k]["skipped"] for k in runtimes), rows
    if engine[0] is not None:
        assert lifecycle.PODMAN_RUN in measured and len(res["targets"]) == 2, res
    assert res["leaked"] == {"pods": [], "writable layers": [], "mounts": [], "cgroups": [],
                             "podman containers": []}
    assert lifecycle.cgroups_below(f"launcher-bench-{os.getpid()}-image") == []
    assert not [m for m in lifecycle.cgroup_mounts()
                if os.path.isdir(os.path.join(m, f"launcher-bench-{os.getpid()}-image"))]
    md = "\n".join(report._image_cycles(res))
    assert f"| {lifecycle.LAUNCHER_IMAGE} | " in md and "Left behind" in md and ": none" in md


def test_images_bench_rows_and_no_unpack_on_second_ensure():
    """One small round of the images bench (busybox layer only): our unpack,
    tar -x and umoci side by side with their ratios to tar -x, the pull next
    to skopeo copy, and the second ensure doing no unpack work."""
    if not shutil.which("skopeo"):
        pytest.skip("needs skopeo")
    res = images.run(1, Silent(), big=False)
    assert "skipped" not in res, res
    unpack = res["unpack"]["busybox"]
    assert {"ours", "ours + syncfs", "tar -x"} <= set(unpack) and unpack["bytes"] > 0
    assert unpack["ours"]["vs tar -x"] == pytest.approx(
        unpack["ours"]["wall"]["median"] / unpack["tar -x"]["wall"]["median"])
    assert "nginx" not in res["unpack"]
    assert res["pull"]["pull"]["wall"]["n"] == 1
    assert res["pull"]["skopeo copy oci:"]["cpu"]["n"] == 1
    assert res["ensure"]["no unpack work on the second"] is True
    assert set(res["targets"]) == {"unpack busybox within 1.5x of tar -x",
                                   "pull within 1.5x of skopeo copy",
                                   "second ensure does no unpack"}


def test_cgroups_bench_rows_and_nothing_left():
    """One repetition of the cgroups bench (20 cycles of each, interleaved):
    the bare fork + exec and the cycle with a pod's cgroups, the difference
    of medians, every step timed, the import figure, and no cgroup left."""
    res = cgroups.run(1, Silent())
    if res.get("skipped"):
        pytest.skip(res["skipped"])
    assert res["cycles"] == 20 and res["baseline"]["wall"]["n"] == 20
    assert res["added_ms"]["wall"] == pytest.approx(
        (res["cgroups"]["wall"]["median"] - res["baseline"]["wall"]["median"]) * 1000)
    assert list(res["phases"]) == list(cgroups.STEPS)
    assert res["leaked"] == [] and res["import"]["median"] > 0
    assert lifecycle.cgroups_below(f"launcher-bench-{os.getpid()}") == []


def test_rootfs_bench_rows_and_steps():
    """Two repetitions of the rootfs bench: host mode and rootfs mode each
    timed twice, the difference, the parent's per-start work, and setup()'s
    steps named; nothing stays mounted."""
    before = lifecycle.mounts_under("/tmp")
    res = rootfs.run(2, Silent())
    if res.get("skipped"):
        pytest.skip(res["skipped"])
    assert res["host mode"]["wall"]["n"] == 2 and res["rootfs mode"]["cpu"]["n"] == 2
    assert res["over host mode ms"]["wall"] == pytest.approx(
        (res["rootfs mode"]["wall"]["median"] - res["host mode"]["wall"]["median"]) * 1e3)
    assert {"rootfs", "pivot-root", "masked"} <= set(res["steps ms"])
    assert lifecycle.mounts_under("/tmp") == before


def test_machine_load_is_a_vmstat_sample_and_loadavg():
    """common.load(): the last `vmstat 1 3` sample by column name (runnable,
    CPU split) and the three load averages."""
    if not shutil.which("vmstat"):
        pytest.skip("procps not installed")
    m = common.load()
    assert len(m["loadavg"]) == 3 and all(x >= 0 for x in m["loadavg"])
    assert {"r", "b", "us", "sy", "id", "wa"} <= set(m["vmstat"])
    assert 90 <= sum(m["vmstat"][k] for k in ("us", "sy", "id", "wa", "st")) <= 110


def test_network_overhead_is_measured_and_nothing_is_left():
    """Two interleaved rounds of each variant (none, bridge, bridge with -p):
    each timed twice, ADD+DEL is the difference from `none`, the table shows
    it, and no IP, veth or CNI chain is left."""
    res = network.run(2, Silent())
    if "skipped" in res and ("not installed" in res["skipped"] or "not in /usr/lib/cni" in res["skipped"]):
        pytest.skip(res["skipped"])
    assert "skipped" not in res, res
    variants = [k for k in res if k.startswith("--network")]
    assert len(variants) == 3 and all(res[v]["n"] == 2 for v in variants)
    for v in variants[1:]:
        assert res["add_del"][v] == pytest.approx(res[v]["median"] - res["--network none"]["median"])
        assert res["over_floor"][v] > 0
    assert [r["n"] for r in res["floor"].values()] == [2, 2]
    assert all(r["median"] > 0 for r in res["floor"].values())
    assert res["leaked"] == {"ips": [], "veths": 0, "chains": []}
    md = "\n".join(report._network(res))
    assert "| --network bridge -p 60123:80 |" in md and "Left behind" in md and ": none" in md
    assert "the plugins run directly)" in md and "| plugins directly, port 60123:80 (bridge" in md
    assert "Target: ADD+DEL within 1.2x of the plugins run directly: " in md


def test_network_leak_check_sees_a_veth():
    """The footprint the network bench compares counts veths (a pair is two)."""
    if not shutil.which("ip"):
        pytest.skip("iproute2 not installed")
    before = network.footprint()["veths"]
    subprocess.run(["ip", "link", "add", "benchtv0", "type", "veth", "peer", "name", "benchtv1"],
                   check=True, timeout=10)
    try:
        assert network.footprint()["veths"] == before + 2
    finally:
        subprocess.run(["ip", "link", "del", "benchtv0"], check=True, timeout=10)
    assert network.footprint()["veths"] == before


def test_pid_max_is_raised_for_the_block_and_restored():
    """pid_max_at_least raises kernel.pid_max only inside the block."""
    with open("/proc/sys/kernel/pid_max") as f:
        old = int(f.read())
    with common.pid_max_at_least(old + 1):
        with open("/proc/sys/kernel/pid_max") as f:
            assert int(f.read()) == old + 1
    with open("/proc/sys/kernel/pid_max") as f:
        assert int(f.read()) == old


def test_quick_run_writes_results_and_progress(tmp_path):
    """`run.py --quick --only reap --reps 1`: results.json (machine, every
    init at N=1000), results.md with the machine line, and one progress
    line per step on stderr (not a terminal), ending at total/total."""
    if not shutil.which("gcc") or not os.path.isdir(common.PIDS_ROOT):
        pytest.skip("needs gcc and the pids cgroup controller")
    r = subprocess.run([sys.executable, os.path.join(BENCH, "run.py"), "--quick", "--only",
                        "reap", "--reps", "1", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["quick"] is True and res["machine"]["cores"] == os.cpu_count()
    for when in ("load_before", "load_after"):
        assert len(res["machine"][when]["loadavg"]) == 3, res["machine"]
    rows = res["reap"]["1000"]
    assert set(rows) == {"baseline (waitpid loop)"} | set(common.inits())
    assert rows["baseline (waitpid loop)"]["time"]["n"] == 1
    md = (tmp_path / "results.md").read_text()
    assert md.startswith("Measured by `python bench/run.py --quick` on ")
    assert "\nMachine load before: " in md and "; after: " in md
    steps = [line for line in r.stderr.splitlines() if line.startswith("bench [")]
    total = 1 + len(common.inits())
    assert len(steps) == total and f" {total}/{total} " in steps[-1]


@pytest.mark.parametrize("args, message", [
    (["--out", "/dev/null/results"], "bench: cannot use --out /dev/null/results: Not a directory"),
    (["--only", ","], "bench/run.py: error: --only names no bench"),
])
def test_run_bad_options_give_one_line(args, message):
    """An unusable --out or an empty --only: exit 2, a one-line reason (after
    argparse's usage line), no traceback, no results written."""
    r = subprocess.run([sys.executable, os.path.join(BENCH, "run.py"), "--only", "reap"] + args,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1].startswith(message), r.stderr


def test_plots_are_pngs():
    """With matplotlib (the `plot` extra) the reap and lifecycle plots are
    written as PNG files next to the JSON."""
    pytest.importorskip("matplotlib")
    s = common.summary([0.001, 0.002])
    row = {c: s for c in ("python", "run", "ps", "inspect", "rm")}
    res = {"reap": {1000: {"pause (C)": {"time": s}}, 10000: {"pause (C)": {"time": s}}},
           "lifecycle": {"unshare": s, "podman": {"skipped": "no"}},
           "scale": {"levels": [dict(row, pods=10), dict(row, pods=100)]}}
    with tempfile.TemporaryDirectory() as out:
        written = report.plots(res, out)
        assert sorted(os.path.basename(p) for p in written) == ["lifecycle.png", "reap.png",
                                                                 "scale.png"]
        for path in written:
            with open(path, "rb") as f:
                assert f.read(8) == b"\x89PNG\r\n\x1a\n"
