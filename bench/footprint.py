"""Footprint of each init: binary size, idle RSS, wake-ups per minute while
idle (context switches from /proc over a window), start-to-ready time; and
the pause image size when a localhost/pause image exists in podman's
default storage."""
import json
import os
import shutil
import subprocess
import time

from common import Skip, ctxt_switches, rss_kb, summary
from spawn import Init


def image_size():
    """Size in bytes of localhost/pause, or a string saying why there is none."""
    if not shutil.which("podman"):
        return "podman not installed"
    try:
        r = subprocess.run(["podman", "image", "inspect", "localhost/pause"],
                           capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "podman timed out"
    if r.returncode != 0:
        return "not built"
    return json.loads(r.stdout)[0]["Size"]


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
                        time.sleep(0.2)  # let start-up settle
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
