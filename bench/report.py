"""Turns a results dict into a markdown report (machine line, one table per
bench, ratios), PNG plots when matplotlib is installed, and rewrites the
README region between the bench markers."""
import os

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def ms(s):
    """Seconds as milliseconds with 1 decimal."""
    return f"{s * 1000:.1f}"


def spread(summ):
    """'median (min-max)' in ms."""
    return f"{ms(summ['median'])} ({ms(summ['min'])}-{ms(summ['max'])})"


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
        lines.append(f"| {name} | {spread(r)} | {ratios} |")
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
        if name not in ("add_del", "leaked"):
            extra = ms(res["add_del"][name]) if name in res["add_del"] else "-"
            lines.append(f"| {name} | {spread(r)} | {extra} |")
    lines.append(f"\nLeft behind (IP allocations, veths, CNI iptables chains): {leak}")
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
             f"{m['date']}: {m['cores']} cores ({m['cpu']}), Linux {m['kernel']}, "
             f"Python {m['python']}, {res['reps']} repetitions. Peers run in the same run; "
             "compare ratios, not absolute times."]
    if "reap" in res:
        lines += ([f"\nReap burst skipped: {res['reap']['skipped']}"]
                  if "skipped" in res["reap"] else _reap(res["reap"]))
    if "footprint" in res:
        lines += _footprint(res["footprint"], res.get("image"))
    if "lifecycle" in res:
        lines += _lifecycle(res["lifecycle"])
    if "network" in res:
        lines += _network(res["network"])
    if "pods" in res:
        lines += _pods("Detached pods", res["pods"])
    if "scale" in res:
        lines += _pods("Scale", res["scale"])
    return "\n".join(lines) + "\n"


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
    if life:
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.barh(list(life), [r["median"] * 1000 for r in life.values()])
        ax.set(xscale="log", xlabel="ms (log)", title="Pod start-to-exit latency (median)")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # no clashing labels
        fig.tight_layout()
        written.append(_save(fig, out, "lifecycle.png"))
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
