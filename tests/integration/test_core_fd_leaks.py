"""The caller's file descriptors never reach a pod: containers, exec'd
commands, pause and a detached pod's supervisor and monitor hold only what
they were given on purpose (a caller's `7</etc/hostname` must not live as
long as the pod)."""
import os

from launcher_env import wait_for

LIST_FDS = "ls /proc/$$/fd"


def fd_targets(pid):
    """{fd: target} of a process."""
    out = {}
    for n in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[int(n)] = os.readlink(f"/proc/{pid}/fd/{n}")
        except OSError:
            pass
    return out


def test_a_callers_fd_reaches_no_container_exec_pause_or_supervisor(lx, tmp_path):
    """A launcher started with fd 7 open on a file: the container, an exec'd
    command, pause and the detached supervisor (monitor) never hold it."""
    secret = tmp_path / "callers-file"
    secret.write_text("x")
    fd = os.open(secret, os.O_RDONLY)   # passed on like a shell's 7</etc/hostname
    try:
        pod = lx.run("run", "-d", "--name", "fds", "--", "sh", "-c", f"{LIST_FDS}; sleep 60",
                     pass_fds=(fd,))
        assert pod.returncode == 0, pod.stderr
        exec_ = lx.run("exec", "fds", "--", "sh", "-c", "ls /proc/$$/fd", pass_fds=(fd,))
    finally:
        os.close(fd)
    assert exec_.returncode == 0
    assert wait_for(lambda: lx.ok("logs", "fds").strip())
    for listing in (lx.ok("logs", "fds"), exec_.stdout):   # 0 1 2 and the one ls opened
        fds = sorted(int(x) for x in listing.split())
        assert fds[:3] == [0, 1, 2] and len(fds) <= 4, listing
    st = lx.inspect("fds")
    for pid in (st["supervisor"]["pid"], st["pause"]["pid"], st["containers"][0]["pid"]):
        held = fd_targets(pid)
        assert str(secret) not in held.values(), (pid, held)
    lx.ok("rm", "-f", "fds")


def test_a_foreground_pods_containers_get_no_inherited_fd(lx, tmp_path):
    """A foreground run keeps the caller's fds for itself but passes none to
    its containers."""
    secret = tmp_path / "callers-file"
    secret.write_text("x")
    fd = os.open(secret, os.O_RDONLY)
    try:
        r = lx.run("run", "--", "sh", "-c", "ls -l /proc/$$/fd", pass_fds=(fd,))
    finally:
        os.close(fd)
    assert r.returncode == 0 and str(secret) not in r.stdout, r.stdout


def test_the_monitor_holds_only_its_pod_directory_and_pipes(lx):
    """The C monitor's fds: stdio (/dev/null), the pod directory, the
    containers' output pipes and its signalfd; nothing else."""
    lx.ok("run", "-d", "--name", "mon", "-c", "a=sleep 60", "-c", "b=sleep 60")
    st = lx.inspect("mon")
    if st["supervisor"]["kind"] != "monitor":
        return
    sup = st["supervisor"]["pid"]
    assert wait_for(lambda: b"pod-monitor" in open(f"/proc/{sup}/cmdline", "rb").read(), 10)
    held = fd_targets(sup)
    kinds = sorted("pipe" if t.startswith("pipe:") else "dir" if t == st["dir"]
                   else "null" if t == "/dev/null" else "signalfd" if "signalfd" in t else t
                   for t in held.values())
    assert kinds == ["dir", "null", "null", "null", "pipe", "pipe", "signalfd"], held
    lx.ok("rm", "-f", "mon")
