"""Turns a results dict into a markdown report (machine line and load, one
table per bench, ratios, targets), PNG plots when matplotlib is installed,
and rewrites the README region between the bench markers. Every bench's
rendering lives here; bench/images.py, cgroups.py and rootfs.py print
theirs through it when run on their own."""
import os

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def ms(s, digits=1):
    """Seconds as milliseconds with `digits` decimals."""
    return f"{s * 1000:.{digits}f}"


def spread(summ, digits=1):
    """'median (min-max)' in ms."""
    return (f"{ms(summ['median'], digits)} ({ms(summ['min'], digits)}-"
            f"{ms(summ['max'], digits)})")


def _targets(targets):
    return "Targets: " + "; ".join(f"{k}: {'met' if v else 'NOT met'}"
                                   for k, v in targets.items())


def _load(when, load):
    """One clause on the machine's load (common.load())."""
    if not load:
        return f"{when}: not recorded"
    v, avg = load.get("vmstat"), load.get("loadavg")
    parts = []
    if v:
        parts.append(f"{v.get('r', '?')} runnable, {v.get('b', '?')} blocked, CPU "
                     f"us/sy/id/wa {v.get('us', '?')}/{v.get('sy', '?')}/{v.get('id', '?')}/"
                     f"{v.get('wa', '?')} (`vmstat 1 3`, last sample)")
    if avg:
        parts.append("loadavg " + " ".join(f"{x:.2f}" for x in avg))
    return f"{when}: " + (", ".join(parts) or "not recorded")


def _reap(res):
    lines = []
    for n, rows in res.items():
        lines += [f"\n**Reap burst, N = {int(n):,} zombies** (ms from the orphans' parent "
                  "exiting to pids.current back to base; median (min-max))\n",
                  "| init | time ms | vs waitpid baseline | init CPU ms |", "|---|---|---|---|"]
        for name, r in rows.items():
            if "skipped" in r:
                lines.append(f"| {name} | skipped: {r['skipped']} | | |")
                continue
            cpu = ms(r["cpu"]["median"]) if r.get("cpu") else "-"
            lines.append(f"| {name} | {spread(r['time'])} | {r['vs_baseline']:.2f}x | {cpu} |")
        c, py = rows.get("pause (C)", {}), rows.get("pause (Python)", {})
        if "time" in c and "time" in py:
            lines.append(f"\nPython reference / C: "
                         f"{py['time']['median'] / c['time']['median']:.2f}x")
    return lines


def _footprint(res, image):
    lines = ["\n**Footprint** (RSS and wake-ups of the init itself; start-to-ready includes "
             "unshare's fork+exec)\n",
             "| init | binary | idle RSS KB | wake-ups/min idle | start-to-ready ms |",
             "|---|---|---|---|---|"]
    for name, r in res.items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped']} | | | |")
            continue
        b = f"{r['binary_bytes'] / 1024:.1f} KB" if r["binary_bytes"] else "-"
        lines.append(f"| {name} | {b} | {r['rss_kb']} | {r['wakeups_per_min']:.0f} | "
                     f"{spread(r['ready'])} |")
    img = f"{image:,} bytes ({image / 1024:.1f} KB)" if isinstance(image, int) else image
    lines.append(f"\nPause image (`localhost/pause:VERSION`, as `podman image inspect` reports "
                 f"it): {img}")
    return lines


def _lifecycle(res):
    lines = ["\n**Pod lifecycle** (one full cycle, ms, median (min-max))\n",
             "| command | time ms | ratios |", "|---|---|---|"]
    for name, r in res.items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped']} | |")
            continue
        ratios = ", ".join(f"{v:.2f}x {k}" for k, v in r.items() if k.startswith("vs "))
        if r.get("left cgroups"):
            ratios += f"; cgroups left behind: {', '.join(r['left cgroups'])}"
        lines.append(f"| {name} | {spread(r)} | {ratios} |")
    return lines


def _install(res):
    """The install section: each command in the editable venv and as a
    wheel in a fresh venv, with its ratio to the same venv's python."""
    if "skipped" in res:
        return [f"\n**Editable venv against a wheel**: skipped: {res['skipped']}"]
    lines = ["\n**Editable venv against a wheel** (the same commit; each command's median of "
             f"{res['rounds']} interleaved rounds, ms, and its ratio to `python -c pass` of the "
             "same venv; the editable venv's Python spends ~13 ms of its start-up in the "
             "editable install's import finder, so the wheel's ratios are the honest ones)\n",
             "| install | `python -c pass` | `run --share-pid -- true` (x python) | "
             "`run -d` (x python) |", "|---|---|---|---|"]
    for venv, row in res["rows"].items():
        x = row["x python"]
        lines.append(f"| {venv} | {spread(row['python -c pass'])} | "
                     f"{spread(row['launcher run --share-pid -- true'])} "
                     f"({x['launcher run --share-pid -- true']:.2f}x) | "
                     f"{spread(row['launcher run -d'])} ({x['launcher run -d']:.2f}x) |")
    leaks = {k[7:]: res[k] for k in ("leaked_state", "leaked_mounts") if res.get(k)}
    lines.append("\nLeft behind: " + (", ".join(f"{k} {v}" for k, v in leaks.items())
                                      if leaks else "nothing") + ".")
    return lines


def _network(res):
    if "skipped" in res:
        return [f"\n**CNI overhead**: skipped: {res['skipped']}"]
    leaked = res["leaked"]
    leak = ("none" if not (leaked["ips"] or leaked["veths"] or leaked["chains"])
            else f"IPs {leaked['ips']}, {leaked['veths']} veths, chains {leaked['chains']}")
    lines = ["\n**CNI overhead** (`launcher run --share-pid [NETWORK] -- true`, variants "
             "interleaved; ADD+DEL = the difference of medians from `--network none`)\n",
             "| network | time ms | ADD+DEL per pod ms |", "|---|---|---|"]
    for name, r in res.items():
        if name not in ("add_del", "leaked", "floor", "over_floor"):
            extra = ms(res["add_del"][name]) if name in res["add_del"] else "-"
            if name in res.get("over_floor", {}):
                extra += f" ({res['over_floor'][name]:.2f}x the plugins run directly)"
            lines.append(f"| {name} | {spread(r)} | {extra} |")
    for name, r in res.get("floor", {}).items():
        lines.append(f"| {name} (bridge, host-local, portmap: ADD then DEL) | - | {spread(r)} |")
    lines.append(f"\nLeft behind (IP allocations, veths, CNI iptables chains): {leak}")
    if res.get("over_floor"):
        worst = max(res["over_floor"].values())
        lines.append(f"Target: ADD+DEL within 1.2x of the plugins run directly: "
                     f"{'met' if worst <= 1.2 else 'NOT met'} (worst {worst:.2f}x)")
    return lines


def _image_cycles(res):
    if "skipped" in res:
        return [f"\n**A container on the busybox image**: skipped: {res['skipped']}"]
    rows = res["rows"]
    la = next(iter(rows.values()), {})
    lines = [f"\n**A container on the busybox image, start to exit** ({res['rounds']} rounds, "
             "variants interleaved; ms, median (min-max); CPU = the command's and its waited-for "
             "descendants' user + system time)\n",
             "| command | wall ms | CPU ms | launcher --image over it (wall, CPU) |",
             "|---|---|---|---|"]
    for name, r in rows.items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped']} | | |")
            continue
        ratio = (f"{la['vs ' + name]:.2f}x, {la['cpu vs ' + name]:.2f}x"
                 if f"vs {name}" in la else "")
        lines.append(f"| {name} | {spread(r['wall'])} | {spread(r['cpu'])} | {ratio} |")
    leaked = {k: v for k, v in res["leaked"].items() if v}
    lines.append("\nLeft behind (pods, writable layers, mounts, cgroups, podman containers): "
                 + (", ".join(f"{k} {v}" for k, v in leaked.items()) or "none"))
    if res.get("targets"):
        lines.append("\n" + _targets(res["targets"]))
    return lines


def _images(res):
    if "skipped" in res and "unpack" not in res:
        return [f"\n**Images**: skipped: {res['skipped']}"]

    def rows(table, ratio_key):
        out = []
        for name, r in table.items():
            if isinstance(r, dict) and "skipped" in r:
                out.append(f"| {name} | skipped: {r['skipped']} | | |")
            elif isinstance(r, dict) and "wall" in r:
                ratio = (f"{r[ratio_key]:.2f}x (CPU {r['cpu ' + ratio_key]:.2f}x)"
                         if ratio_key in r else "")
                out.append(f"| {name} | {spread(r['wall'])} | {spread(r['cpu'])} | {ratio} |")
        return out
    lines = []
    for layer, table in res.get("unpack", {}).items():
        if "skipped" in table:
            lines.append(f"\n**Unpacking the {layer} layer**: skipped: {table['skipped']}")
            continue
        lines += [f"\n**Unpacking the {layer} layer** ({table['bytes'] / 1e6:.1f} MB "
                  "uncompressed; ours in-process, the others as commands; variants "
                  "interleaved; ms, median (min-max))\n",
                  "| variant | wall ms | CPU ms | vs tar -x |", "|---|---|---|---|"]
        lines += rows(table, "vs tar -x")
    if "pull" in res:
        p = res["pull"]["pull"]
        lines += [f"\n**Pull of busybox from a docker-archive** into an empty store "
                  f"(`{p['command']}`; ms, median (min-max))\n",
                  "| command | wall ms | CPU ms | vs skopeo copy oci: |", "|---|---|---|---|"]
        lines += rows(res["pull"], "vs skopeo copy oci:")
        lines.append(f"\nThe pull against a script doing the same work without verifying or "
                     f"recording anything (skopeo copy to dir:, tar -x, sync): "
                     f"{p['vs the script']:.2f}x (CPU {p['cpu vs the script']:.2f}x).")
    if "ensure" in res:
        e = res["ensure"]
        lines += ["\n**ensure() of busybox** (what a pod's image costs; IfNotPresent)\n",
                  "| call | wall ms | CPU ms |", "|---|---|---|"]
        lines += [f"| {k} | {spread(v['wall'], 2)} | {spread(v['cpu'], 2)} |"
                  for k, v in e.items() if isinstance(v, dict)]
        lines.append(f"\nSecond ensure did no unpack work (layer dirs unchanged): "
                     f"{'yes' if e['no unpack work on the second'] else 'NO'}")
    if "skipped" in res:
        lines.append(f"\nImages bench stopped: {res['skipped']}")
    if res.get("targets"):
        lines.append("\n" + _targets(res["targets"]))
    return lines


def _cgroups(res):
    if "skipped" in res:
        return [f"\n**cgroups per pod cycle**: skipped: {res['skipped']}"]
    lines = ["\n**cgroups per pod cycle** (hierarchies: " + ", ".join(res["hierarchies"])
             + f"; {res['cycles']} cycles interleaved with the bare fork + exec; ms, "
             "median (min-max))\n",
             "| cycle | wall ms | CPU ms |", "|---|---|---|",
             f"| fork + exec true | {spread(res['baseline']['wall'], 2)} | "
             f"{spread(res['baseline']['cpu'], 2)} |",
             f"| + pod cgroups (detect, create, place, kill_all, remove) | "
             f"{spread(res['cgroups']['wall'], 2)} | {spread(res['cgroups']['cpu'], 2)} |",
             f"| added (difference of medians; target <= {res['target_ms']:g} ms) | "
             f"{res['added_ms']['wall']:.2f} | {res['added_ms']['cpu']:.2f} |",
             "\n| step | wall ms | CPU ms |", "|---|---|---|"]
    lines += [f"| {k} | {spread(v['wall'], 2)} | {spread(v['cpu'], 2)} |"
              for k, v in res["phases"].items()]
    lines.append(f"\nImporting the run path's cgroup modules, once per launcher process: "
                 f"{spread(res['import'], 2)} ms. Left behind: "
                 f"{', '.join(res['leaked']) or 'none'}. "
                 + _targets({f"at most {res['target_ms']:g} ms added (wall)":
                             res["within_target"]}))
    return lines


def _rootfs(res):
    if "skipped" in res:
        return [f"\n**A container's root filesystem**: skipped: {res['skipped']}"]
    o, p = res["over host mode ms"], res["parent per start"]
    lines = [f"\n**A container's root filesystem, fork to reaped exit of `true`** "
             f"({res['reps']} reps, interleaved; ms, median (min-max))\n",
             "| variant | wall ms | CPU ms |", "|---|---|---|"]
    lines += [f"| {k} | {spread(res[k]['wall'], 2)} | {spread(res[k]['cpu'], 2)} |"
              for k in ("host mode", "rootfs mode")]
    lines += [f"| parent: fresh upper/work/merged (prepare_container) | "
              f"{spread(p['prepare'], 2)} | |",
              f"| parent: cleanup_container after the exit | {spread(p['cleanup'], 2)} | |",
              f"\nrootfs mode over host mode: **{o['wall']:.2f} ms wall, {o['cpu']:.2f} ms CPU**; "
              f"pod, once: {res['pod create ms']:.2f} ms (shm tmpfs, etc files).",
              f"\nWhere setup() spends its {res['setup ms']:.2f} ms (median per step): "
              + ", ".join(f"{k} {v:.2f}" for k, v in res["steps ms"].items()) + ". "
              f"Host mode does prepare-root's and proc's work too, so the rootfs's own "
              f"set-up is {res['own setup ms']:.2f} ms; the rest of the difference, "
              f"{res['exit and exec ms']:.2f} ms, is the exit tearing down the bigger mount "
              "namespace and the exec through the overlay.",
              "\n" + _targets(res["target"])]
    return lines


def _pods(title, r):
    if "skipped" in r:
        return [f"\n**{title}**: skipped: {r['skipped']}"]
    mounts = r.get("leaked_mounts", [])
    leak = ("none" if not (r["leaked_processes"] or r["leaked_state"] or mounts
                           or r["zombies_left"])
            else f"processes {r['leaked_processes']}, state {r['leaked_state']}, "
                 f"mounts {mounts}, zombies {r['zombies_left']}")
    return [f"\n**{title}** ({r['pods']} detached idle pods, `launcher run -d --grace 0 -- "
            "sleep infinity`, then one `launcher rm -f`)\n",
            "| create | remove | pause memory total (PSS / RSS) | per pod, pause + supervisor "
            "(PSS / RSS) | leaked |", "|---|---|---|---|---|",
            f"| {r['create_s']:.1f} s ({r['pods_per_s_create']:.1f} pods/s) | "
            f"{r['rm_s']:.1f} s ({r['pods_per_s_rm']:.1f} pods/s) | "
            f"{r['pause_pss_kb_total'] / 1024:.1f} / {r['pause_rss_kb_total'] / 1024:.1f} MB | "
            f"{r['per_pod_pss_kb']:.0f} / {r['per_pod_rss_kb']:.0f} KB "
            f"({r['supervisors']} supervisor processes) | {leak} |"]


def markdown(res):
    """The whole report as markdown."""
    m = res["machine"]
    lines = [f"Measured by `python bench/run.py{' --quick' if res['quick'] else ''}` on "
             f"{m['date']}: {m['cores']} cores ({m['cpu']}), Linux {m['kernel']}"
             f"{' (cgroups: ' + m['cgroups'] + ')' if m.get('cgroups') else ''}, "
             f"Python {m['python']}, {res['reps']} repetitions. Peers run in the same run; "
             "compare ratios, not absolute times."]
    if "load_before" in m or "load_after" in m:
        lines.append(f"\nMachine load {_load('before', m.get('load_before'))}; "
                     f"{_load('after', m.get('load_after'))}.")
    if "reap" in res:
        lines += ([f"\nReap burst skipped: {res['reap']['skipped']}"]
                  if "skipped" in res["reap"] else _reap(res["reap"]))
    if "footprint" in res:
        lines += _footprint(res["footprint"], res.get("image"))
    if "lifecycle" in res:
        lines += _lifecycle(res["lifecycle"])
    if "install" in res:
        lines += _install(res["install"])
    if "image_cycle" in res:
        lines += _image_cycles(res["image_cycle"])
    if "network" in res:
        lines += _network(res["network"])
    if "images" in res:
        lines += _images(res["images"])
    if "cgroups" in res:
        lines += _cgroups(res["cgroups"])
    if "rootfs" in res:
        lines += _rootfs(res["rootfs"])
    if "pods" in res:
        lines += _pods("Detached pods", res["pods"])
    if "scale" in res:
        lines += _scale(res["scale"])
    return "\n".join(lines) + "\n"


def _scale(r):
    """The scale section: one command's cost at each population, the batch
    rate that built it, one rm -f of all, the leak check, the targets."""
    if "skipped" in r:
        return [f"\n**Scale**: skipped: {r['skipped']}"]
    ms = lambda s: f"{s['median'] * 1000:.0f}"   # noqa: E731

    def both(row, cmd):   # wall, and CPU where the command's CPU time could be counted
        cpu = row.get(cmd + "_cpu")
        return f"{ms(row[cmd])} ms" + (f" ({ms(cpu)})" if cpu else "")
    lines = ["\n**Scale** (idle pods `sleep infinity`, no network; each command's median of "
             f"{r['levels'][0]['run']['n'] if r['levels'] else 0} interleaved rounds at each "
             "population, wall (CPU), `python -c pass` in the same rounds; `run -d` has no CPU "
             "figure, its detached supervisor escapes the count; the population is brought up by "
             "`launcher play -d` of a multi-document manifest)\n",
             "| pods | `python -c pass` | `run -d` (x python) | `ps` | `inspect` | `rm -f` one | "
             "batch `play -d` |", "|---|---|---|---|---|---|---|"]
    for row in r["levels"]:
        lines.append(f"| {row['pods']} | {both(row, 'python')} | {ms(row['run'])} ms "
                     f"({row['run_x_python']:.2f}x) | {both(row, 'ps')} | {both(row, 'inspect')} | "
                     f"{both(row, 'rm')} | {row['batch_added']} pods at "
                     f"{row['batch_pods_per_s']:.0f} pods/s |")
    leaks = {k: r[k] for k in ("leaked_processes", "leaked_state", "leaked_mounts", "leaked_cgroups")
             if r.get(k)}
    lines.append(f"\n`rm -f` of all {r['rm_all_pods']} pods: {r['rm_all_s']:.1f} s "
                 f"({r['rm_pods_per_s']:.0f} pods/s). Left behind: "
                 + (", ".join(f"{k[7:]} {v}" for k, v in leaks.items()) if leaks else "nothing")
                 + ". Targets (issue 18): `run -d` <= 2x python at every level, batch >= 50 pods/s, "
                 "removal >= 100 pods/s, `ps` <= 200 ms at 1,000 pods.")
    return lines


def plots(res, out):
    """Reap time vs N per init, and launch latency per command, as PNGs
    (only when matplotlib is installed: the optional `plot` extra)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return []
    written = []
    reap = res.get("reap", {})
    if reap and "skipped" not in reap:
        fig, ax = plt.subplots(figsize=(7, 4))
        names = {k for rows in reap.values() for k, r in rows.items() if "time" in r}
        for name in sorted(names):
            pts = [(int(n), rows[name]["time"]["median"] * 1000)
                   for n, rows in reap.items() if "time" in rows.get(name, {})]
            ax.plot(*zip(*pts), marker="o", label=name)
        ax.set(xscale="log", yscale="log", xlabel="zombies reparented at once (log)",
               ylabel="ms until all reaped (log)", title="Reap burst (median)")
        ax.legend(fontsize=8)
        written.append(_save(fig, out, "reap.png"))
    life = {k: r for k, r in res.get("lifecycle", {}).items() if "median" in r}
    life.update((k, r["wall"]) for k, r in res.get("image_cycle", {}).get("rows", {}).items()
                if "wall" in r)
    if life:
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.barh(list(life), [r["median"] * 1000 for r in life.values()])
        ax.set(xscale="log", xlabel="ms (log)", title="Pod start-to-exit latency (median)")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # no clashing labels
        fig.tight_layout()
        written.append(_save(fig, out, "lifecycle.png"))
    levels = res.get("scale", {}).get("levels")
    if levels:
        fig, ax = plt.subplots(figsize=(7, 4))
        xs = [row["pods"] for row in levels]
        for cmd in ("python", "run", "ps", "inspect", "rm"):
            ax.plot(xs, [row[cmd]["median"] * 1000 for row in levels], marker="o",
                    label="python -c pass" if cmd == "python" else cmd)
        ax.set(xscale="log", xlabel="idle pods (log)", ylabel="ms (median)",
               title="One command's cost as pods grow")
        ax.legend(fontsize=8)
        written.append(_save(fig, out, "scale.png"))
    return written


def _save(fig, out, name):
    path = os.path.join(out, name)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    fig.clf()
    return path


def update_readme(path, md):
    """Replaces the text between the markers; ValueError if they are absent."""
    with open(path) as f:
        text = f.read()
    a, b = text.find(BEGIN), text.find(END)
    if a < 0 or b < a:
        raise ValueError(f"{path} has no {BEGIN} ... {END} region")
    new = text[:a + len(BEGIN)] + "\n" + md + text[b:]
    tmp = path + ".bench-tmp"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, path)
