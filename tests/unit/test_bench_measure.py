"""The bench's measurements on real processes: footprint (wake-ups, RSS,
start-to-ready), the pause image size, launcher pods (rate, memory, leak
check), the lifecycle ratios, the kernel.pid_max guard, a --quick run's
files and progress lines, and the PNG plots."""
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

import common  # noqa: E402
import footprint  # noqa: E402
import lifecycle  # noqa: E402
import network  # noqa: E402
import report  # noqa: E402

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


def test_lifecycle_reports_the_launcher_as_ratios_to_each_peer():
    """The launcher's row holds its median over each measured peer's
    (unshare, bwrap, python -c pass); podman is skipped in --quick."""
    if not (lifecycle.launcher() and shutil.which("bwrap")):
        pytest.skip("needs the launcher and bubblewrap")
    res = lifecycle.cycles(2, True, Silent())
    la = res["launcher run --share-pid -- true"]
    peers = [k for k, r in res.items() if "median" in r and r is not la]
    assert len(peers) == 3, res.keys()
    for peer in peers:
        assert la["vs " + peer] == pytest.approx(la["median"] / res[peer]["median"])
    assert res["podman pod create + run + pod rm"]["skipped"].startswith("not in --quick")
    md = "\n".join(report._lifecycle(res))
    assert "x vs unshare -f --pid" in md and "x vs bwrap" in md


def test_network_overhead_is_measured_and_nothing_is_left():
    """Two interleaved rounds of each variant (none, bridge, bridge with -p):
    each timed twice, ADD+DEL is the difference from `none`, the table shows
    it, and no IP, veth or CNI chain is left."""
    res = network.run(2, Silent())
    if "skipped" in res:
        pytest.skip(res["skipped"])
    variants = [k for k in res if k.startswith("--network")]
    assert len(variants) == 3 and all(res[v]["n"] == 2 for v in variants)
    for v in variants[1:]:
        assert res["add_del"][v] == pytest.approx(res[v]["median"] - res["--network none"]["median"])
    assert res["leaked"] == {"ips": [], "veths": 0, "chains": []}
    md = "\n".join(report._network(res))
    assert "| --network bridge -p 60123:80 |" in md and "Left behind" in md and ": none" in md


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
    rows = res["reap"]["1000"]
    assert set(rows) == {"baseline (waitpid loop)"} | set(common.inits())
    assert rows["baseline (waitpid loop)"]["time"]["n"] == 1
    md = (tmp_path / "results.md").read_text()
    assert md.startswith("Measured by `python bench/run.py --quick` on ")
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
    res = {"reap": {1000: {"pause (C)": {"time": s}}, 10000: {"pause (C)": {"time": s}}},
           "lifecycle": {"unshare": s, "podman": {"skipped": "no"}}}
    with tempfile.TemporaryDirectory() as out:
        written = report.plots(res, out)
        assert sorted(os.path.basename(p) for p in written) == ["lifecycle.png", "reap.png"]
        for path in written:
            with open(path, "rb") as f:
                assert f.read(8) == b"\x89PNG\r\n\x1a\n"
