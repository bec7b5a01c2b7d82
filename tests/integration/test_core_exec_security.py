"""`launcher exec` gets exactly what its container got: the pod's dropped
capabilities and no_new_privs, a session of its own, the parent-death
guard and the container's working directory (one spawn path for
containers and exec)."""
import os
import signal
import subprocess

from launcher_env import wait_for

STATUS = "grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs):' /proc/self/status"


def fields(text):
    return dict(ln.split(":\t") for ln in text.strip().splitlines())


def test_exec_keeps_the_pods_dropped_capabilities_and_no_new_privs(lx):
    """--cap-drop ALL --no-new-privileges: the container and a command exec'd
    into it both have no capability at all and NoNewPrivs 1."""
    lx.ok("run", "-d", "--name", "locked", "--cap-drop", "ALL", "--no-new-privileges",
          "--", "sh", "-c", f"{STATUS}; sleep 60")
    assert wait_for(lambda: "NoNewPrivs" in lx.ok("logs", "locked"))
    ctr = fields(lx.ok("logs", "locked"))
    ex = fields(lx.ok("exec", "locked", "--", "sh", "-c", STATUS))
    for f in (ctr, ex):
        assert f["CapEff"] == f["CapBnd"] == f["CapPrm"] == "0000000000000000", f
        assert f["NoNewPrivs"] == "1", f
    lx.ok("rm", "-f", "locked")


def test_exec_drops_only_what_the_pod_dropped(lx):
    """--cap-drop NET_RAW: exec lacks CAP_NET_RAW (bit 13) and nothing else;
    without --no-new-privileges NoNewPrivs stays 0."""
    lx.ok("run", "-d", "--name", "raw", "--cap-drop", "net_raw", "--", "sleep", "60")
    ex = fields(lx.ok("exec", "raw", "--", "sh", "-c", STATUS))
    assert not int(ex["CapEff"], 16) & (1 << 13) and int(ex["CapEff"], 16) & (1 << 21)  # SYS_ADMIN kept
    assert ex["NoNewPrivs"] == "0"
    lx.ok("rm", "-f", "raw")


def test_exec_runs_in_the_containers_working_directory_and_its_own_session(lx):
    """exec starts in the container's working directory (-w of run; exec -w
    overrides it) as the leader of a new session."""
    lx.ok("run", "-d", "--name", "wd", "-w", "/tmp", "--", "sleep", "60")
    out = lx.ok("exec", "wd", "--", "sh", "-c", "pwd; cut -d' ' -f1,6 /proc/$$/stat")
    cwd, stat = out.splitlines()
    pid, sid = stat.split()
    assert cwd == "/tmp" and pid == sid
    assert lx.ok("exec", "wd", "-w", "/etc", "--", "pwd").strip() == "/etc"
    lx.ok("rm", "-f", "wd")


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[:-1]
    except OSError:
        return None


def test_an_exec_dies_with_its_launcher(lx):
    """SIGKILL of `launcher exec`: the command it started dies too (the
    parent-death guard), leaving nothing in the pod."""
    lx.ok("run", "-d", "--name", "orphaned", "--", "sleep", "60")
    p = lx.popen("exec", "orphaned", "--", "sleep", "301.5",
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def the_exec():
        return [q for q in lx.procs() if _cmdline(q) == [b"sleep", b"301.5"]]
    found = wait_for(the_exec, 10)
    assert found, "the exec'd command is not running"
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)
    assert wait_for(lambda: not the_exec(), 10), "the exec'd command outlived its launcher"
    lx.ok("rm", "-f", "orphaned")
