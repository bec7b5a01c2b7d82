"""Reap burst: N zombies reparented at once to a namespace init; the time
until a pids cgroup's pids.current is back to its base, and the init's CPU
time for it. The baseline, measured in the same run with the same clock, is
a parent reaping its own N children with a waitpid loop (bench/burst.c)."""
import subprocess

from common import Skip, cpu_ns, pid_max_at_least, pids_cgroup, summary
from spawn import Init

BASELINE = "baseline (waitpid loop)"


def burst(helper, cg, n, init_pid=None):
    """One burst; returns seconds from the go signal to all reaped."""
    argv = [helper, "orphan" if init_pid else "self", str(n), cg]
    if init_pid:
        argv.append(str(init_pid))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise Skip(f"burst helper failed: {r.stderr.strip()}")
    return int(r.stdout) / 1e9


def run(helper, inits, sizes, reps, progress):
    """Returns {N: {init: {"time": summary, "cpu": summary} or {"skipped": why}}}.
    Repetitions are interleaved across inits so drift hits all alike."""
    out = {}
    for n in sizes:
        rows = {BASELINE: {"time": [], "cpu": []}}
        for name, (argv, ready, _) in inits.items():
            rows[name] = {"time": [], "cpu": []} if argv else {"skipped": ready}
        with pid_max_at_least(2 * n + 32768 if n > 10000 else 0), pids_cgroup() as cg:
            for _ in range(reps):
                rows[BASELINE]["time"].append(burst(helper, cg, n))
                progress.step(f"N={n} baseline")
                for name, (argv, ready, _) in inits.items():
                    if "skipped" in rows[name]:
                        progress.step()
                        continue
                    try:
                        init = Init(argv, ready)
                    except Skip as e:
                        rows[name] = {"skipped": str(e)}
                        progress.step()
                        continue
                    try:
                        c0 = cpu_ns(init.pid)
                        t = burst(helper, cg, n, init.pid)
                        rows[name]["cpu"].append((cpu_ns(init.pid) - c0) / 1e9)
                        rows[name]["time"].append(t)
                    except Skip as e:
                        rows[name] = {"skipped": str(e)}
                    finally:
                        init.stop()
                    progress.step(f"N={n} {name}")
        for name, r in rows.items():
            if "skipped" not in r:
                rows[name] = {"time": summary(r["time"]),
                              "cpu": summary(r["cpu"]) if r["cpu"] else None}
        base = rows[BASELINE]["time"]["median"]
        for r in rows.values():
            if "time" in r:
                r["vs_baseline"] = r["time"]["median"] / base
        out[n] = rows
    return out
