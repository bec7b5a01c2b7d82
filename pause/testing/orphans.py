"""Makes orphans for the init under test (like Kubernetes' orphan.c).

`python -m pause.testing.orphans N [--exit-codes 0,3,...]` forks N children
that exit at once with the given codes (cycled), waits until all have exited
and then exits without reaping them: each is a zombie whose parent is gone,
so it is reparented to PID 1 of the namespace (or the nearest subreaper),
which must reap it.
`--tree JSON` plays a process tree instead (see pause.testing.trees.play).
Bad arguments: one line on stderr, exit 2.
"""
import json
import os
import sys

USAGE = "usage: python -m pause.testing.orphans N [--exit-codes C1,C2,...] | --tree JSON"


def spawn(n, exit_codes=(0,)):
    """Forks n children exiting with exit_codes (cycled) and waits until every
    one has exited, without reaping any: when the caller exits they are all
    zombies already, reparented at once to the init that must reap them (so
    a check right after sees them, however slowly the children were run)."""
    pids = []
    for i in range(n):
        pid = os.fork()
        if pid == 0:
            os._exit(exit_codes[i % len(exit_codes)])
        pids.append(pid)
    for pid in pids:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


def parse(argv):
    """(n, exit_codes) or ("tree", tree) from the command line; raises ValueError."""
    if len(argv) == 2 and argv[0] == "--tree":
        return "tree", json.loads(argv[1])
    if len(argv) not in (1, 3) or (len(argv) == 3 and argv[1] != "--exit-codes"):
        raise ValueError("expected N and optionally --exit-codes")
    n = int(argv[0])
    codes = tuple(int(c) for c in argv[2].split(",")) if len(argv) == 3 else (0,)
    if n < 0 or not codes or any(not 0 <= c <= 255 for c in codes):
        raise ValueError("N must be >= 0 and exit codes within 0-255")
    return n, codes


def main(argv=None):
    try:
        first, rest = parse(sys.argv[1:] if argv is None else argv)
    except ValueError as e:
        sys.stderr.write("orphans: %s\n%s\n" % (e, USAGE))
        return 2
    if first == "tree":
        from pause.testing.trees import play
        return play(rest, timeout=rest.get("timeout", 5.0))
    spawn(first, rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
