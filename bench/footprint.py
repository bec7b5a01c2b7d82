"""Footprint of each init: binary size, idle RSS, wake-ups per minute while
idle (context switches from /proc over a window), start-to-ready time; and
the size of the pause image, built for the measurement."""
import os
import subprocess
import sys
import tempfile
import time

from common import REPO, Skip, ctxt_switches, rss_kb, summary
from spawn import Init


def image_size():
    """Size in bytes of our image as podman reports it, or a string saying why
    there is none. scripts/build-image.sh builds it from pause/bin/pause into a
    throw-away podman storage (scripts/podman_env.py), so the figure is always
    the current binary's and a user's images are never touched."""
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    import podman_env
    reason = podman_env.unusable_reason()
    if reason:
        return reason
    engine = podman_env.Podman(tempfile.mkdtemp(prefix="bench-image-"))
    try:
        built = engine.build_pause()
        if built.returncode != 0:
            return "build-image.sh failed: " + (built.stderr.strip().splitlines() or ["?"])[-1]
        return int(engine.out("image", "inspect", "--format", "{{.Size}}", built.stdout.strip()))
    except (podman_env.PodmanError, subprocess.TimeoutExpired) as e:
        return "podman failed: %s" % e
    finally:
        engine.destroy()


def settle(pid, quiet=0.2, limit=3.0):
    """Waits until start-up is over: the counters stay still for `quiet` s
    (at most `limit` s; an init that wakes on a timer may never be still)."""
    deadline = time.monotonic() + limit
    last = ctxt_switches(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = ctxt_switches(pid)
        if now == last:
            return
        last = now


def run(inits, reps, window, progress):
    """Returns {init: {...}}; window is the idle observation time in s."""
    out = {}
    for name, (argv, ready, binary) in inits.items():
        if not argv:
            out[name] = {"skipped": ready}
            progress.step()
            continue
        row = {"binary_bytes": os.path.getsize(binary) if binary else None}
        starts = []
        try:
            for i in range(reps):
                init = Init(argv, ready)
                starts.append(init.ready_s)
                if i == 0:  # the idle figures, once
                    try:
                        settle(init.pid)
                        c0 = ctxt_switches(init.pid)
                        time.sleep(window)
                        row["wakeups_per_min"] = (ctxt_switches(init.pid) - c0) * 60 / window
                        row["rss_kb"] = rss_kb(init.pid)
                    finally:
                        init.stop()
                else:
                    init.stop()
            row["ready"] = summary(starts)
        except Skip as e:
            row = {"skipped": str(e)}
        out[name] = row
        progress.step(name)
    return out
