"""Warn on reaped zombies, -w/--warn-reaped (tini -w): pause logs one line
for each process it reaps that is not the command, in init mode and in
pause mode; without -w it says nothing of them."""
import signal
import sys

import pytest

from helpers import PausedNamespace, sleep_until
from initkit import run_init

# Makes two orphans, prints their pids, and exits 4 only once both are gone
# for good (reaped by pause), so pause cannot exit before reaping them.
ORPHANS = ("import os, time\n"
           "kids = []\n"
           "for code in (9, 10):\n"
           "    pid = os.fork()\n"
           "    if pid == 0: time.sleep(0.2); os._exit(code)\n"
           "    kids.append(pid)\n"
           "print(' '.join(map(str, kids)))\n")
COMMAND = ("echo $$; o=$(%s -c \"%s\"); echo $o; i=0; for p in $o; do "
           "while [ -e /proc/$p ] && [ $i -lt 500 ]; do i=$((i+1)); sleep 0.02; done; done; exit 4"
           % (sys.executable, ORPHANS))


@pytest.mark.parametrize("flag", ["-w", "--warn-reaped"])
def test_each_reaped_orphan_is_logged_but_not_the_command(impl, pid1, flag):
    """Should log "reaped zombie process PID" for each orphan it reaps, and
    no such line for the command itself."""
    r = run_init(impl, "sh", "-c", COMMAND, pause_opts=(flag,), pid1=pid1)
    assert r.returncode == 4, r.stderr
    command, *orphans = (int(p) for p in r.stdout.split())
    err = r.stderr.decode()
    for pid in orphans:
        assert "warning: reaped zombie process %d\n" % pid in err
    assert "reaped zombie process %d\n" % command not in err
    assert err.count("reaped zombie process") == 2


def test_without_w_nothing_is_logged(impl):
    """Should say nothing about reaped orphans without -w."""
    r = run_init(impl, "sh", "-c", COMMAND, pid1=True)
    assert r.returncode == 4
    assert b"reaped zombie" not in r.stderr


def test_pause_mode_logs_every_reaped_process(impl):
    """Should log each process reaped in pause mode too (there is no command)."""
    ns = PausedNamespace(impl, "-w")
    try:
        ns.make_orphans([0, 1, 2])
        assert sleep_until(lambda: len(ns.events()) >= 3, 10), ns.events()
        events = ns.events()
        ns.kill(signal.SIGTERM)
        code, err = ns.wait()
    finally:
        ns.close()
    assert code == 0
    for e in events:
        assert "warning: reaped zombie process %d\n" % e["pid"] in err
