"""Output to a slow reader never blocks the supervisor: a foreground pod
whose stdout nobody reads (`launcher run ... | sleep 25`) still stops at
once, its containers are never stalled by it, and the log keeps what the
reader missed."""
import subprocess
import time

from launcher_env import wait_for


def test_a_stalled_stdout_reader_does_not_block_stop(lx):
    """The container writes 8 MiB to a pipe nobody reads: the container runs
    on (its output is buffered, then dropped), `launcher stop` stops the pod
    within its grace period, and the foreground launcher exits."""
    p = lx.popen("run", "--name", "stalled", "--grace", "1", "--", "sh", "-c",
                 "head -c 8388608 /dev/zero | tr '\\0' y; echo; echo WROTE; sleep 60",
                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: "WROTE" in lx.run("logs", "stalled", "--tail", "1").stdout, 30), \
            "the container was blocked by our unread stdout"
        start = time.monotonic()
        r = lx.run("stop", "stalled", timeout=30)
        assert r.returncode == 0, r.stderr
        assert time.monotonic() - start < 10
        assert p.wait(15) == 143 or p.returncode in (0, 137, 143)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        p.stdout.close()


def test_what_a_slow_reader_reads_is_whole_lines_and_a_drop_notice(lx):
    """A reader that only starts reading once the pod is done gets the
    first megabyte in whole prefixed lines and one line saying how much was
    dropped; the pod itself was never blocked and the log has everything."""
    p = lx.popen("run", "--name", "late", "--", "sh", "-c",
                 "i=0; while [ $i -lt 40000 ]; do echo line-$i-of-padding-padding-padding-padding; "
                 "i=$((i+1)); done; echo LAST",
                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: p.poll() is not None or
                        "LAST" in lx.run("logs", "late", "--tail", "1").stdout, 30)
        out = p.stdout.read().decode()
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        p.stdout.close()
    lines = out.splitlines()
    assert lines[0] == "sh | line-0-of-padding-padding-padding-padding"
    assert all(ln.startswith(("sh | line-", "sh | LAST", "launcher: ")) for ln in lines)
    assert all(ln.endswith("-padding") for ln in lines if ln.startswith("sh | line-"))
    dropped = [ln for ln in lines if "bytes of output dropped" in ln]
    assert len(dropped) == 1 and lines[-1] == dropped[0], lines[-3:]
    assert 1 << 20 < len(out) + int(dropped[0].split()[1]) + 100000
