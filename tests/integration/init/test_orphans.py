"""Reaping in init mode: as PID 1 of a namespace, pause reaps the orphans the
command leaves behind and reports each on --events-fd, then exits with the
command's status."""
import os
import sys

from initkit import run_init


def test_orphans_of_the_command_are_reaped_and_reported(impl):
    """Should reap orphans of the command as PID 1 (events-fd shows them)."""
    r_fd, w_fd = os.pipe()
    orphans = ("import os, time\n"
               "a = os.fork()\n"
               "if a == 0: time.sleep(0.3); os._exit(9)\n"
               "b = os.fork()\n"
               "if b == 0: time.sleep(0.3); os.kill(os.getpid(), 9)\n"
               "print(\"%d,%d\" % (a, b))\n")
    # the command exits only once both orphans are gone for good (reaped by
    # pause), however long that takes, so pause cannot exit before reporting them
    script = ("o=$(%s -c '%s'); i=0; while ps -p \"$o\" >/dev/null && [ $i -lt 500 ]; "
              "do i=$((i+1)); sleep 0.02; done; exit 4" % (sys.executable, orphans))
    r = run_init(impl, "sh", "-c", script, pause_opts=("--events-fd", str(w_fd)), pid1=True,
                 pass_fds=(w_fd,))
    os.close(w_fd)
    with os.fdopen(r_fd, "rb") as f:
        events = f.read().decode()
    assert r.returncode == 4
    assert '"exit":9}' in events and '"signal":9}' in events and '"exit":4}' in events
