"""`launcher logs POD [-c NAME] [-f] [--tail N]`: a pod's container output
from its rotating logs, streamed chunk by chunk (never read whole), oldest
first; several containers' lines are prefixed with their names. -f follows
the logs until the pod ends; --tail N starts with the last N lines."""
import sys

from launcher.commands.common import open_store, simple
from launcher.errors import LauncherError
from launcher.spec import check_name, number

USAGE = "usage: launcher logs POD [-c NAME] [-f] [--tail N]   print container output\n"


def parse(argv):
    o = simple(argv, "logs", flags=(("-f", "--follow", "follow"),),
               values=(("-c", "--container", "container"), ("--tail", "tail")))
    if o["container"] is not None:
        check_name("container", o["container"])
    if o["tail"] is not None:
        o["tail"] = number("--tail", o["tail"], 0, 10 ** 9, integer=True)
    return o


class _Prefixer:
    """Writes bytes, each line prefixed `NAME | ` (for several containers)."""

    def __init__(self, out, name):
        self.out, self.prefix, self.at_start = out, name.encode() + b" | ", True

    def __call__(self, data):
        lines = data.split(b"\n")
        parts = []
        for i, ln in enumerate(lines):
            last = i == len(lines) - 1
            if last and not ln:
                break
            parts.append((self.prefix if self.at_start else b"") + ln + (b"" if last else b"\n"))
            self.at_start = not last
        self.out.write(b"".join(parts))


def main(o):
    from launcher.store.status import LIVE_STATES, pod_state
    from launcher.supervisor import logs
    pod = open_store().resolve(o["pods"][0])
    rec = pod.record
    if rec is None:
        raise LauncherError(f"pod {pod.id}: {pod.error}")
    names = [c["name"] for c in rec.get("containers") or rec["spec"]["containers"]]
    if o["container"] is not None:
        if o["container"] not in names:
            raise LauncherError(f"pod {rec['name']!r} has no container {o['container']!r}")
        names = [o["container"]]
    out = sys.stdout.buffer
    max_files = rec["spec"].get("log_max_files", 5)
    if o["follow"] and len(names) > 1:
        raise LauncherError("logs -f: name one container with -c")
    for name in names:
        write = _Prefixer(out, name) if len(names) > 1 else out.write
        if o["tail"] is not None:
            last = logs.tail(pod, name, o["tail"], write, max_files)
        else:
            last = logs.stream(pod, name, write, max_files)
        out.flush()
        if o["follow"]:
            def running():
                out.flush()
                pod.load()
                return pod_state(pod) in LIVE_STATES

            logs.follow(pod, name, last, write, running)
    out.flush()
    return 0
