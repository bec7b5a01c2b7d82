"""Container logs and events are bounded, and `logs` streams.

Logs rotate as the kubelet rotates them (--log-max-size, --log-max-files;
defaults 10M and 5), for detached pods (the C monitor writes them) and
foreground ones (the Python supervisor does); `launcher logs` never holds a
log in memory, follows with -f and starts from the end with --tail N; a
crash-looping pod's event list stays small (repeats are counted)."""
import os
import subprocess
import sys

import pytest

from launcher_env import wait_for

MB = 1 << 20
# Writes N MiB of numbered 64-byte lines, then waits.
WRITER = ("i=0; while [ $i -lt $((16384 * {mb})) ]; do printf '%063d\\n' $i; i=$((i+1)); done; "
          "echo END; sleep 60")


def log_files(d, name):
    return sorted(n for n in os.listdir(d) if n.startswith(f"ctr-{name}.log"))


def sizes(d, name):
    return {n: os.path.getsize(os.path.join(d, n)) for n in log_files(d, name)}


@pytest.mark.parametrize("monitor", ["c", "python"])
def test_a_detached_pods_log_rotates_within_its_limits(lx, monitor):
    """A container writing 3 MiB with --log-max-size 512k --log-max-files 3:
    at most 3 files of at most 512 KiB each; `logs` prints exactly what they
    hold, oldest first, ending with the last line written."""
    env = dict(lx.env, LAUNCHER_MONITOR="python") if monitor == "python" else None
    lx.ok("run", "-d", "--name", "chatty", "--log-max-size", "512k", "--log-max-files", "3",
          "--", "sh", "-c", WRITER.format(mb=3), env=env)
    d = lx.inspect("chatty")["dir"]
    assert wait_for(lambda: lx.ok("logs", "chatty", "--tail", "1") == "END\n", 60)
    got = sizes(d, "sh")
    assert sorted(got) == ["ctr-sh.log", "ctr-sh.log.1", "ctr-sh.log.2"], got
    assert all(v <= 512 * 1024 for v in got.values()), got
    out = lx.ok("logs", "chatty")
    assert len(out) == sum(got.values())
    lines = out.splitlines()
    assert lines[-1] == "END"
    nums = [int(x) for x in lines[:-1] if x.strip()]
    assert nums == list(range(nums[0], nums[0] + len(nums)))   # contiguous, oldest first
    lx.ok("rm", "-f", "chatty")


def test_a_foreground_pods_log_rotates_too(lx):
    """The foreground supervisor writes the same rotating logs while it
    streams the output (seen from `logs` while the pod runs)."""
    p = lx.popen("run", "--name", "fg", "--log-max-size", "256k", "--log-max-files", "2",
                 "--grace", "0", "--", "sh", "-c", WRITER.format(mb=1),
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: lx.run("logs", "fg", "--tail", "1").stdout == "END\n", 60)
        d = lx.inspect("fg")["dir"]
        got = sizes(d, "sh")
        assert sorted(got) == ["ctr-sh.log", "ctr-sh.log.1"] and max(got.values()) <= 256 * 1024
    finally:
        lx.ok("stop", "fg")
        p.wait(30)


def test_logs_streams_a_big_log_in_little_memory(lx):
    """`logs` of a 24 MiB log: the whole log comes out, and the logs process
    never holds it: its max RSS is within 4 MiB of the same command's on a
    one-line log (the interpreter and its imports alone take ~11 MiB)."""
    lx.ok("run", "-d", "--name", "big", "--log-max-size", "64M", "--", "sh", "-c",
          "head -c 25165824 /dev/zero | tr '\\0' x; echo; echo END; sleep 60")
    lx.ok("run", "-d", "--name", "small", "--", "sh", "-c", "echo END; sleep 60")
    assert wait_for(lambda: lx.ok("logs", "big", "--tail", "1") == "END\n", 60)
    assert wait_for(lambda: lx.ok("logs", "small") == "END\n", 60)
    measure = ("import resource, subprocess, sys\n"
               "n = 0\n"
               "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)\n"
               "while True:\n"
               "    b = p.stdout.read(1 << 16)\n"
               "    if not b: break\n"
               "    n += len(b)\n"
               "p.wait()\n"
               "print(n, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    def logs(pod):
        r = subprocess.run([sys.executable, "-c", measure, *lx.argv("logs", pod)], env=lx.env,
                           capture_output=True, text=True, timeout=60)
        return tuple(map(int, r.stdout.split()))
    n, rss_kb = logs("big")
    n_small, rss_small_kb = logs("small")
    assert (n, n_small) == (25165824 + 5, 4)
    assert rss_kb - rss_small_kb < 4 * 1024, f"logs used {rss_kb} KB for a 24 MB log, " \
                                             f"{rss_small_kb} KB for one line"
    lx.ok("rm", "-f", "big", "small")


def test_logs_tail_and_follow(lx):
    """--tail N prints the last N lines; -f prints what comes after and
    returns once the pod has ended."""
    lx.ok("run", "-d", "--name", "slow", "--", "sh", "-c",
          "for i in 1 2 3 4 5; do echo line $i; done; sleep 1; echo late; sleep 1")
    assert wait_for(lambda: "line 5" in lx.ok("logs", "slow"))
    assert lx.ok("logs", "slow", "--tail", "2") == "line 4\nline 5\n"
    assert lx.ok("logs", "slow", "--tail", "0") == ""
    r = lx.run("logs", "-f", "--tail", "1", "slow", timeout=30)
    assert r.returncode == 0 and r.stdout == "line 5\nlate\n", r.stdout
    lx.ok("rm", "-f", "slow")


def test_bad_logs_options_are_one_line_errors(lx):
    """--tail with garbage or a negative or huge number: 125, one line."""
    lx.ok("run", "-d", "--name", "lg", "--", "true")
    for bad in ("x", "-1", "9" * 400):
        r = lx.run("logs", "lg", "--tail", bad)
        assert r.returncode == 125 and r.stderr.count("\n") == 1, r.stderr
    for opt, bad in (("--log-max-size", "10Q"), ("--log-max-size", "9" * 500),
                     ("--log-max-files", "0"), ("--log-max-files", "1e400")):
        r = lx.run("run", opt, bad, "--", "true")
        assert r.returncode == 125 and r.stderr.count("\n") == 1, (opt, bad, r.stderr)
    lx.ok("rm", "-f", "lg")


def test_a_crash_looping_pods_events_stay_bounded(lx):
    """A container restarting over and over: each repeated event is one
    entry with a count, so the event list does not grow with the restarts."""
    lx.ok("run", "-d", "--name", "loop", "--restart", "Always", "--backoff", "0.01",
          "--", "sh", "-c", "exit 3")
    assert wait_for(lambda: lx.inspect("loop")["containers"][0]["restarts"] >= 25, 60)
    evs = lx.inspect("loop")["lifecycle"]["events"]
    exited = [e for e in evs if e["type"] == "ContainerExited"]
    assert len(exited) == 1 and exited[0]["count"] >= 25, exited
    assert len(evs) < 20, [e["type"] for e in evs]
    lx.ok("rm", "-f", "loop")
