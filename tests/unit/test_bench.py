"""Smoke tests of the bench code itself (bench/): the burst helper on real
PID namespaces and a real pids cgroup, the report and README region."""
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
    """run.py --only with an unknown bench: one usage error, exit 2."""
    r = subprocess.run([sys.executable, os.path.join(BENCH, "run.py"), "--only", "nope"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "unknown bench" in r.stderr and "Traceback" not in r.stderr


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
