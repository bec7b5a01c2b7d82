"""Working directory (dumb-init's cwd test): the command starts in the
directory pause was started in, so `WORKDIR /app` with
`ENTRYPOINT ["/pause", "--", "./server"]` works; pause itself moves to / once
the command runs, so it never keeps a mount busy."""
import os
import subprocess

from helpers import child_pids, first_line, pause_argv, sleep_until
from initkit import run_init


def test_command_starts_in_the_callers_directory(impl, pid1, tmp_path):
    """Should run the command in the working directory pause was started
    in, as tini, dumb-init and catatonit do."""
    r = run_init(impl, "pwd", cwd=str(tmp_path), pid1=pid1)
    assert r.returncode == 0
    assert r.stdout.decode() == str(tmp_path) + "\n"


def test_relative_command_path_is_found_from_there(impl, tmp_path):
    """Should find a command given as ./name relative to the start directory."""
    server = tmp_path / "server"
    server.write_text("#!/bin/sh\necho served from \"$PWD\"\nexit 7\n")
    server.chmod(0o755)
    r = run_init(impl, "./server", cwd=str(tmp_path))
    assert r.returncode == 7
    assert r.stdout.decode() == "served from %s\n" % tmp_path


def test_pause_itself_leaves_the_directory(impl, tmp_path):
    """Should move pause itself to / once the command has started, while the
    command stays where it was started."""
    p = subprocess.Popen(pause_argv(impl, "--", "sh", "-c", "echo up; read line"), cwd=str(tmp_path),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert first_line(p.stdout) == b"up\n"
        child = sleep_until(lambda: child_pids(p.pid), 5)[0]
        assert sleep_until(lambda: os.readlink("/proc/%d/cwd" % p.pid) == "/", 5)
        assert os.readlink("/proc/%d/cwd" % child) == str(tmp_path)
    finally:
        p.communicate(b"done\n", timeout=10)
    assert p.returncode == 0
