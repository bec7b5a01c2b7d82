"""A fork bomb stops at the pod's pids limit (fork fails with EAGAIN inside
the pod), the host can still fork, and teardown kills every process."""
import errno
import select
import subprocess

from launcher.cgroups import files, resources as r, teardown

BOMB = """
import os, time
n = 0
try:
    while n < 1000:                     # bounded: stops at the limit long before
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError as e:
    print(n, e.errno, flush=True)
time.sleep(60)
"""


def test_a_fork_bomb_stops_at_the_pids_limit_and_the_host_can_still_fork(host, new_pod, spawn):
    """With pids_limit 30 the bomb forks 29 children (30 processes with
    itself), then fork fails with EAGAIN; pids.current is at the limit, the
    host forks as usual, and kill_all leaves no process."""
    pod = new_pod({"bomb": r.empty()}, pids_limit=30)
    proc = spawn.python(pod, "bomb", BOMB, stdout=subprocess.PIPE)
    assert select.select([proc.stdout], [], [], 30)[0], "the bomb did not report"
    forked, err = map(int, proc.stdout.readline().split())
    assert err == errno.EAGAIN
    assert forked == 29
    pids_dir = pod.host.controller("pids").mount + "/" + pod.rel
    assert files.read_int(pids_dir + "/pids.current") == 30
    assert subprocess.run(["true"], timeout=10).returncode == 0
    assert len(teardown.members(host, pod.rel)) == 30
    pod.kill_all()
    assert teardown.members(host, pod.rel) == set()
    assert proc.wait(5) == -9
