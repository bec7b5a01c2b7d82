"""What cgroups add to a pod cycle: detecting the hierarchies, creating a
pod's cgroups (pod + sandbox + one container, with limits, in every
hierarchy the launcher uses), placing one process (the launcher's fork: the
unified cgroup's fd opened before fork and the child born in it with clone3,
v1 cgroup.procs fds entered by the child before exec), kill_all and remove;
side by side with the same fork + exec of `true` without cgroups,
interleaved in one run so drift hits both alike. The target: at most 2 ms added per pod cycle
(the difference of the medians). CPU time is the bench process's own
(time.process_time) plus the child's (wait4's rusage), beside wall time,
because this machine is shared and wall time moves with its load. The
import of the cgroup modules, paid once per `launcher run` process, is
measured separately (python -X importtime, bytecode compiled)."""
import os
import re
import subprocess
import sys
import time

from common import REPO, Skip, summary, venv_python

sys.path.insert(0, REPO)
TARGET_MS = 2.0
TRUE = "/bin/true"
RUN_PATH_MODULES = ("mounts", "layout", "placement", "teardown", "oom", "resources")


def _spawn(placement=None):
    """fork (the launcher's, into the placement's unified cgroup), [enter],
    exec true, wait4; returns the child's CPU seconds."""
    from launcher.runtime.spawn import fork
    pid = fork(placement)
    if pid == 0:
        try:
            if placement is not None:
                placement.enter()
            os.execv(TRUE, [TRUE])
        finally:
            os._exit(127)
    if placement is not None:
        placement.close()
    _, status, usage = os.wait4(pid, 0)
    if status != 0:
        raise Skip(f"{TRUE} in the bench pod exited with status {status}")
    return usage.ru_utime + usage.ru_stime


def _baseline():
    """One fork + exec of true: (wall s, cpu s)."""
    c0, t0 = time.process_time(), time.perf_counter()
    child = _spawn()
    return time.perf_counter() - t0, time.process_time() - c0 + child


def _cycle(cgroups, resources, parent, n, phases):
    """One pod cycle with cgroups: (wall s, cpu s). phases[step] gets each
    step's (wall s, cpu s); the spawn step's CPU includes the child's."""
    # Limits on every controller; cpu 1 (shares 1024, as a task outside any
    # pod cgroup has), so that on a loaded machine the child is not slowed
    # down by a smaller CPU share than the baseline's child has.
    ctr = resources.from_cli(memory="64m", cpus="1")
    pod_res = resources.pod([ctr], pids_limit=1024)
    marks = [(time.perf_counter(), time.process_time(), 0.0)]

    def mark(child=0.0):
        marks.append((time.perf_counter(), time.process_time(), child))
    host = cgroups.detect()                          # each launcher process detects anew
    pod = cgroups.Pod(host, f"b{os.getpid()}x{n}", parent)
    mark()
    pod.create(pod_res, {"app": ctr})
    mark()
    placement = pod.placement("app")
    mark()
    mark(_spawn(placement))
    pod.kill_all()
    mark()
    pod.remove()
    mark()
    for name, a, b in zip(STEPS, marks, marks[1:]):
        phases.setdefault(name, []).append((b[0] - a[0], b[1] - a[1] + b[2]))
    return marks[-1][0] - marks[0][0], sum(b[1] - a[1] + b[2] for a, b in zip(marks, marks[1:]))


STEPS = ("detect", "create", "open fds", "fork+enter+exec+wait", "kill_all", "remove")


def import_ms(reps=5):
    """Median ms python -X importtime reports for the run path's cgroup modules."""
    py = venv_python()
    subprocess.run([py, "-m", "compileall", "-q", os.path.join(REPO, "launcher", "cgroups")],
                   check=False, capture_output=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    code = "; ".join(f"import launcher.cgroups.{m}" for m in RUN_PATH_MODULES)
    samples = []
    for _ in range(reps):
        err = subprocess.run([py, "-X", "importtime", "-c", code], capture_output=True, text=True,
                             env=env, cwd=REPO, timeout=60).stderr
        total = sum(int(m.group(1)) for m in re.finditer(r"import time:\s+(\d+) \|\s+\d+ \| +launcher", err))
        samples.append(total / 1e6)
    return summary(samples)


def run(reps, progress):
    """{"baseline", "cgroups": {"wall", "cpu"}, "phases", "added_ms", "target_ms",
    "within_target", "hierarchies", "import", "leaked"} or {"skipped": why}.
    progress.step() is called once per repetition."""
    if os.geteuid() != 0:
        return {"skipped": "needs root (real cgroups)"}
    from launcher import cgroups
    from launcher.cgroups import resources
    host = cgroups.detect()
    if not host.all():
        return {"skipped": "no cgroup hierarchy is mounted"}
    parent = f"launcher-bench-{os.getpid()}"
    base_w, base_c, cg_w, cg_c, phases = [], [], [], [], {}
    inner = 20                                       # cycles per repetition, interleaved
    try:
        for n in range(3):                           # warm-up: parent, page cache, code paths
            _cycle(cgroups, resources, parent, -1 - n, {})
            _baseline()
        for r in range(reps):
            for i in range(inner):
                w, c = _baseline()
                base_w.append(w)
                base_c.append(c)
                w, c = _cycle(cgroups, resources, parent, r * inner + i, phases)
                cg_w.append(w)
                cg_c.append(c)
            progress.step(f"cgroups {r + 1}/{reps}")
    except Skip as e:
        return {"skipped": str(e)}
    finally:
        leaked = cgroups.leftovers(cgroups.detect(), parent)
        cgroups.remove_parent(cgroups.detect(), parent)
    out = {"hierarchies": [h.key for h in host.used()],
           "baseline": {"wall": summary(base_w), "cpu": summary(base_c)},
           "cgroups": {"wall": summary(cg_w), "cpu": summary(cg_c)},
           "phases": {k: {"wall": summary([w for w, _ in v]), "cpu": summary([c for _, c in v])}
                      for k, v in phases.items()}}
    added = {k: (out["cgroups"][k]["median"] - out["baseline"][k]["median"]) * 1000 for k in ("wall", "cpu")}
    out.update(added_ms=added, target_ms=TARGET_MS, within_target=added["wall"] <= TARGET_MS,
               leaked=leaked, cycles=len(cg_w))
    out["import"] = import_ms()
    return out


def markdown(res):
    """The result as markdown, as the whole report renders it (report.py)."""
    import report
    return "\n".join(report._cgroups(res)).lstrip("\n") + "\n"


if __name__ == "__main__":
    from common import Progress, count_arg
    reps = count_arg(sys.argv[1:], 5, "bench/cgroups.py")
    print(markdown(run(reps, Progress(reps, "cgroups"))))
