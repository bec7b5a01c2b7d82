"""Scale (issue 18): what one `run -d`, `ps`, `inspect` and `rm -f` cost as
the number of idle pods grows (10, 100, 1,000, 5,000), next to `python -c
pass` measured in the same rounds (the floor of a one-call-per-pod loop);
the batch path (`play -d` of a multi-document manifest) that brings the
population up to each level, in pods per second; one `rm -f` of them all at
the end; and a check that nothing is left (process, mount, cgroup, state
directory). The pods are `sleep infinity` with no network, each in a pod of
its own with the default pause."""
import json
import os
import subprocess
import time

from common import Skip, pid_max_at_least, summary, venv_python
from lifecycle import (cgroups_below, launcher, leaked_mounts, lingering, remove_cgroup_parent,
                       scratch_dir, timed_cpu)

ROUNDS = 5   # interleaved measurements of each command at each level


def pods_yaml(first, count):
    docs = [f"apiVersion: v1\nkind: Pod\nmetadata: {{name: s{i}}}\nspec:\n"
            "  terminationGracePeriodSeconds: 0\n"
            "  containers:\n  - {name: s, command: [sleep, infinity]}\n"
            for i in range(first, first + count)]
    return "---\n".join(docs)


def _play(lau, env, first, count):
    t0 = time.perf_counter()
    r = subprocess.run([lau, "play", "-d", "-"], input=pods_yaml(first, count), text=True,
                       capture_output=True, env=env, timeout=3600)
    if r.returncode != 0:
        raise Skip(f"launcher play -d failed: {r.stderr.strip()}")
    return time.perf_counter() - t0, r.stdout.split()


def _round(lau, py, env):
    """One interleaved round: python -c pass, run -d, ps, inspect, rm -f of
    the new pod; {command: (wall, cpu)}."""
    out = {"python": timed_cpu([py, "-c", "pass"])}
    c0 = time.perf_counter()
    r = subprocess.run([lau, "run", "-d", "--grace", "0", "--", "sleep", "infinity"],
                       capture_output=True, text=True, env=env, timeout=120)
    if r.returncode != 0:
        raise Skip(f"launcher run -d failed: {r.stderr.strip()}")
    out["run"] = (time.perf_counter() - c0, None)
    pod = r.stdout.strip()
    out["ps"] = timed_cpu([lau, "ps"], env)
    out["inspect"] = timed_cpu([lau, "inspect", pod], env)
    out["rm"] = timed_cpu([lau, "rm", "-f", pod], env)
    return out


def run(levels, progress):
    lau = launcher()
    if not lau:
        return {"skipped": "launcher not installed yet"}
    py = venv_python()
    parent = f"launcher-bench-scale-{os.getpid()}"
    res = {"levels": []}
    with scratch_dir("bench-scale-") as state, pid_max_at_least(4 * max(levels) + 32768):
        env = dict(os.environ, LAUNCHER_STATE_DIR=state, LAUNCHER_CGROUP_PARENT=parent)
        env.pop("LAUNCHER_MONITOR", None)
        ids = []
        try:
            for level in levels:
                add = level - len(ids)
                took, new = _play(lau, env, len(ids), add)
                ids += new
                rounds = []
                for _ in range(ROUNDS):
                    rounds.append(_round(lau, py, env))
                row = {"pods": level, "batch_added": add, "batch_s": took,
                       "batch_pods_per_s": add / took}
                for cmd in ("python", "run", "ps", "inspect", "rm"):
                    row[cmd] = summary([r[cmd][0] for r in rounds])
                    cpus = [r[cmd][1] for r in rounds if r[cmd][1] is not None]
                    if cpus:
                        row[cmd + "_cpu"] = summary(cpus)
                row["run_x_python"] = row["run"]["median"] / row["python"]["median"]
                res["levels"].append(row)
                progress.step(f"scale {level} pods")
            listing = json.loads(subprocess.run([lau, "ps", "--format", "json"], capture_output=True,
                                                text=True, env=env, timeout=600).stdout or "[]")
            pauses = [p["pause_pid"] for p in listing if p.get("pause_pid")]
            t0 = time.perf_counter()
            r = subprocess.run([lau, "rm", "-f", *ids], capture_output=True, text=True, env=env,
                               timeout=3600)
            res["rm_all_s"] = time.perf_counter() - t0
            if r.returncode != 0:
                return {"skipped": f"launcher rm -f failed: {r.stderr.strip()}"}
            res["rm_all_pods"] = len(ids)
            res["rm_pods_per_s"] = len(ids) / res["rm_all_s"]
            ids = []
            progress.step("scale removed")
            res["leaked_processes"] = lingering(pauses, 5)
            res["leaked_state"] = [e for e in os.listdir(state) if not e.startswith(".")]
            res["leaked_mounts"] = leaked_mounts(state)
            res["leaked_cgroups"] = cgroups_below(parent)
        except Skip as e:
            return {"skipped": str(e)}
        finally:
            if ids:   # failure path: leave no pod behind
                subprocess.run([lau, "rm", "-f", *ids], capture_output=True, env=env, timeout=3600)
            remove_cgroup_parent(parent)
    return res
