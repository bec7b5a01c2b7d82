"""A pod's processes: Proc (one the supervisor forked, pause or a
container, and its end) and the start of a container through the one
spawn path (plans.container_plan), with its output piped to the pump and
its entry in the record. A step of the Pod (launcher/supervisor/pod.py).
"""
import os

from launcher import proc
from launcher.runtime import namespaces, plans
from launcher.supervisor import onimage


class Proc:
    """A pod process we forked: name, pid, start time, and its end."""

    STATE = ("name", "pid", "start", "code", "detail", "failed", "reported", "oom_before",
             "reason")

    def __init__(self, name, pid, start=None):
        self.name = name
        self.pid = pid
        self.start = start if start is not None else proc.starttime(pid)
        self.code = None       # podman-style exit code once reaped
        self.detail = None     # "exit N" / "signal N"
        self.failed = None     # (code, message) if a set-up step failed
        self.reported = False  # the supervisor has seen its end
        self.oom_before = None  # its cgroup's OOM kill count when it started
        self.reason = None     # why it ended, when it is not its own doing (OOMKilled)

    def to_state(self):
        return {k: getattr(self, k) for k in self.STATE}

    @classmethod
    def from_state(cls, d):
        p = cls(d["name"], d["pid"], d["start"])
        for k in cls.STATE:
            setattr(p, k, d[k])
        if p.failed is not None:
            p.failed = tuple(p.failed)
        return p


def start_container(pod, c, init=False):
    """Starts container c and returns its Proc; proc.failed is set when
    a set-up step failed (the child has then exited with 125-127)."""
    if pod.detached:
        r, w = os.pipe()
        ends = [(r, 0)]
        out = err = w
    else:
        r, out = os.pipe()
        r2, err = os.pipe()
        ends = [(r, 0), (r2, 1)]
    try:
        if c.name not in {x.name for x in pod.spec.all_containers()}:   # the demo's
            pod.cgroups().add_container(c.name, c.resources)
        process, root, user, info = onimage.start(pod, c)
        oom_before = pod.cgroups().oom_kills(c.name)
        plan = plans.container_plan(pod.spec, c, process, pod.pause_pidfd,
                                    [pod.mounts()[0]], out, err, pod.caps,
                                    pod.cgroups().placement(c.name), root, user,
                                    stdin=0 if c.stdin and not pod.detached else None)
        pid, failed = pod.spawner.spawn(plan)
    except BaseException:
        for fd, _ in ends:
            os.close(fd)
        raise
    finally:
        os.close(out)
        if err != out:
            os.close(err)
    for fd, which in ends:
        pod.pipes[fd] = [c.name, which]
        pod.pump.add(fd, c.name, which, pod._log(c.name))
    p = Proc(c.name, pid)
    p.failed, p.oom_before = failed, oom_before
    pod.procs[c.name] = p
    entry = {"name": c.name, "argv": process[0], "init": init, "pid": pid, "start": p.start,
             "namespaces": namespaces.inodes(pid) if not failed else {},
             "process": {"argv": process[0], "env": process[1], "cwd": process[2]}, **info}
    old = [i for i, e in enumerate(pod.record["containers"]) if e["name"] == c.name]
    if old:
        pod.record["containers"][old[0]] = entry
    else:
        pod.record["containers"].append(entry)
    if failed:
        pod.warn(f"container {c.name}: {failed[1]}")
    return p
