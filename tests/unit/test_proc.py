"""launcher.proc: a process is named by pid + start time, and a zombie is not alive."""
import os
import subprocess
import sys

from launcher import proc


def test_a_running_process():
    start = proc.starttime(os.getpid())
    assert proc.stat(os.getpid()) == ("R", start)   # reading our own stat: we run
    assert proc.live_start(os.getpid()) == start
    assert proc.alive(os.getpid(), start)
    assert not proc.alive(os.getpid(), start - 1)   # a reused pid has another start
    assert not proc.alive(os.getpid(), None) and not proc.alive(0, start)


def test_a_zombie_has_a_start_but_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)   # exited, not reaped
    state, start = proc.stat(child.pid)
    assert state == "Z" and proc.starttime(child.pid) == start
    assert proc.live_start(child.pid) is None and not proc.alive(child.pid, start)
    child.wait()
    assert proc.stat(child.pid) is None and proc.starttime(child.pid) is None


def test_comm_with_spaces_and_parentheses():
    """Fields are counted after the last ')' of comm, which the process chooses."""
    rename = "import sys; open('/proc/self/comm', 'w').write(') x) (y'); print(flush=True); sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", rename], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        child.stdout.readline()   # renamed
        with open(f"/proc/{child.pid}/stat") as f:
            assert ") x) (y)" in f.read()
        assert proc.stat(child.pid) is not None and proc.stat(child.pid)[0] in "RS"
        assert proc.starttime(child.pid) == proc.live_start(child.pid) is not None
    finally:
        child.communicate(b"")
