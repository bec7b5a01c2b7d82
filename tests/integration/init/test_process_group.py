"""Process groups (tini -g, dumb-init's setsid mode): without -g signals go to
the command alone; with -g the command leads a process group of its own,
signals go to the whole group, and when the command exits pause TERMs what
is left of the group, so background helpers do not outlive it."""
import os
import signal
import subprocess

from helpers import first_line, pause_argv, sleep_until
from initkit import gone, run_init

FAMILY = ("trap 'echo parent-got-usr1' USR1; (trap 'echo grandchild-got-usr1; exit 0' USR1; "
          "echo ready; sleep %s & wait) & wait; wait")


def test_without_g_only_the_child_gets_the_signal(impl):
    """Should signal only the command, not a grandchild in its process
    group, when -g is not given."""
    script = "trap 'echo parent-got-usr1' USR1; (trap 'echo grandchild-got-usr1; exit 0' USR1; " \
             "echo ready; sleep 2; echo grandchild-timeout) & wait; wait"
    p = subprocess.Popen(pause_argv(impl, "--", "sh", "-c", script), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert first_line(p.stdout) == b"ready\n"
    p.send_signal(signal.SIGUSR1)
    out, _ = p.communicate(timeout=20)
    assert b"parent-got-usr1" in out and b"grandchild-timeout" in out
    assert b"grandchild-got-usr1" not in out


def test_with_g_the_whole_process_group_gets_it(impl):
    """Should signal the command's whole process group, grandchildren
    included, with -g."""
    p = subprocess.Popen(pause_argv(impl, "-g", "--", "sh", "-c", FAMILY % 5), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert first_line(p.stdout) == b"ready\n"
    p.send_signal(signal.SIGUSR1)
    out, _ = p.communicate(timeout=20)
    assert b"grandchild-got-usr1" in out and b"parent-got-usr1" in out
    assert p.returncode == 0


def test_g_puts_the_command_in_its_own_process_group(impl):
    """Should make the command the leader of a new process group with -g."""
    r = run_init(impl, "sh", "-c", "ps -o pid=,pgid= -p $$", pause_opts=("-g",))
    pid, pgid = r.stdout.split()
    assert pid == pgid


def background_helper(impl, *opts):
    """Runs pause OPTS -- a command that starts a background helper in its
    own process group and exits 3; returns (pause's exit code, helper pid)."""
    r = run_init(impl, "sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!; exit 3", pause_opts=opts)
    return r.returncode, int(r.stdout)


def test_with_g_the_rest_of_the_group_is_terminated_when_the_command_exits(impl):
    """Should TERM the rest of the command's process group when the command
    exits, with -g (dumb-init's setsid behaviour), and still exit with the
    command's status."""
    code, helper = background_helper(impl, "-g")
    assert code == 3
    assert sleep_until(lambda: gone(helper), 10), "the background helper outlived the command"


def test_without_g_background_helpers_are_left_alone(impl):
    """Should leave the command's background helpers running when it exits
    without -g (they are not in a group of the command's own)."""
    code, helper = background_helper(impl)
    try:
        assert code == 3
        assert not gone(helper)
    finally:
        os.kill(helper, signal.SIGKILL)
        assert sleep_until(lambda: gone(helper), 10)
