"""A pod's events: reaping its children (each end recorded in its exit
file and queued for the supervisor), and the wait for the next event
while the containers' output is pumped. Steps of the Pod
(launcher/supervisor/pod.py).
"""
import os
import select
import time

from launcher import proc
from launcher.errors import LauncherError
from launcher.store import layout
from launcher.supervisor import onimage


def reap(pod):
    """Reaps every exited child, records its end in its exit file and
    queues it in pod.ended (never blocks)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        for p in list(pod.procs.values()) + ([pod.pause] if pod.pause else []):
            if p.pid == pid and p.code is None:
                p.code, p.detail = proc.exit_code(status), proc.exit_text(status)
                if p is pod.pause:
                    pod.record["pause"]["exit"] = p.detail
                    name = layout.SANDBOX_EXIT
                else:
                    name = layout.container_exit(p.name)
                    _ended_container(pod, p)
                try:
                    pod.dir.write(name, p.detail + "\n")
                except LauncherError as e:   # a full disk: the record still has it
                    pod.warn(str(e))
                pod.ended.append(p)


def _ended_container(pod, p):
    """A container's main process is gone: what it left in its cgroup
    goes too (in a shared PID namespace its orphans would outlive it),
    and an OOM kill is told apart from a plain SIGKILL by its cgroup's
    OOM kill count."""
    from launcher import cgroups
    cg = pod.cgroups()
    try:
        cg.kill_container(p.name)
        if cgroups.oom_killed(p.oom_before, cg.oom_kills(p.name), p.code):
            p.reason = "OOMKilled"
        onimage.ended(pod, p.name)
    except LauncherError as e:
        pod.warn(str(e))


def take_ended(pod):
    """The reaped Procs not handed out yet."""
    ended, pod.ended = pod.ended, []
    return ended


def wait(pod, predicate, timeout=None):
    """Pumps output and reaps until predicate() holds (True) or timeout
    seconds pass (False)."""
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        pod.reap()
        pod._forget_closed_pipes()
        if predicate():
            return True
        now_ = time.monotonic()
        if end is not None and now_ >= end:
            return False
        ms = None if end is None else max(0, int((end - now_) * 1000) + 1)
        p = select.poll()
        p.register(pod.wake_r, select.POLLIN)
        for fd, mask in pod.pump.fds().items():
            p.register(fd, mask)
        for fd, mask in p.poll(ms):
            if fd == pod.wake_r:
                try:
                    while os.read(pod.wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            else:
                pod.pump.handle(fd, mask)


def forget_closed_pipes(pod):
    for fd in [fd for fd in pod.pipes if fd not in pod.pump.streams]:
        del pod.pipes[fd]


def drain_output(pod):
    """Copies what the containers still have in their pipes (bounded),
    then gives our readers a moment to take it."""
    pod.wait(lambda: not pod.pump.streams, 2.0)
    pod.pump.flush_sinks(2.0)
