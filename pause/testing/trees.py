"""Random process trees: a hypothesis strategy, the player, and the runner.

A scenario is JSON-able: {"nodes": [node, ...], "signals": [sig, ...]} where a
node is {"exit": code} or {"signal": sig}, plus "delay" (ms before it ends)
and "children" (nodes it forks first); an optional "timeout" (s, default 5)
bounds the wait for reaping. `play` runs inside the namespace: it forks the
tree through an intermediate that exits at once, so every node is an orphan
of PID 1; waits (bounded) until PID 1 has reaped them all, then sends the
scenario's signals to PID 1 from inside and checks PID 1 survived them.
`run_scenario` drives it from the test side and returns the observable outcome.
"""
import json
import os
import signal
import sys
import time

# Signals a node may die of (default action: terminate, no core dump).
DEATH_SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGHUP, signal.SIGINT,
                 signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM)
# Signals pause ignores in pause mode; sent to it from inside the namespace.
IGNORED_BY_PAUSE = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT,
                    signal.SIGALRM, signal.SIGPIPE, signal.SIGWINCH)


def process_trees(max_leaves=8, max_delay_ms=20):
    """Hypothesis strategy of process trees: a list of nodes, each ending with an
    exit code (0-255) or a death signal after a delay, with nested children."""
    from hypothesis import strategies as st
    end = st.one_of(st.builds(lambda c: {"exit": c}, st.integers(0, 255)),
                    st.builds(lambda s: {"signal": int(s)}, st.sampled_from(DEATH_SIGNALS)))

    def node(children):
        return st.builds(lambda e, d, c: dict(e, delay=d, children=c),
                         end, st.integers(0, max_delay_ms), children)
    leaf = node(st.just([]))
    tree = st.recursive(leaf, lambda kids: node(st.lists(kids, max_size=3)),
                        max_leaves=max_leaves)
    return st.lists(tree, min_size=1, max_size=4)


def scenarios(max_leaves=8):
    """Hypothesis strategy: a process tree plus signals pause must ignore."""
    from hypothesis import strategies as st
    return st.builds(lambda nodes, sigs: {"nodes": nodes, "signals": sigs},
                     process_trees(max_leaves), st.lists(
                         st.sampled_from(IGNORED_BY_PAUSE).map(int), max_size=4))


def expected_statuses(nodes):
    """Sorted statuses the init must reap: ("exit", code) or ("signal", sig) per node."""
    out = []
    for n in nodes:
        out.append(("exit", n["exit"]) if "exit" in n else ("signal", n["signal"]))
        out.extend(expected_statuses(n["children"]))
    return sorted(out)


def _become(node):
    """In a forked child: fork the node's children, wait its delay, then end.
    Never returns (a forked child must not run its parent's code)."""
    try:
        for child in node["children"]:
            if os.fork() == 0:
                _become(child)
        time.sleep(node["delay"] / 1000.0)
        if "signal" in node:
            if node["signal"] != signal.SIGKILL:
                signal.signal(node["signal"], signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [node["signal"]])
            os.kill(os.getpid(), node["signal"])
            time.sleep(5)
    finally:
        os._exit(node.get("exit", 99))


def _others():
    """Pids in this /proc other than PID 1 and ourselves (the namespace's /proc)."""
    me = os.getpid()
    return [int(n) for n in os.listdir("/proc") if n.isdigit() and int(n) not in (1, me)]


def play(scenario, timeout=5.0):
    """Plays the scenario inside the namespace (see the module doc). Exit 0 when
    all was reaped and PID 1 survived the signals; 3 if something was never
    reaped; 4 if PID 1 died of an ignored signal."""
    middle = os.fork()
    if middle == 0:
        for node in scenario["nodes"]:
            if os.fork() == 0:
                _become(node)
        os._exit(0)
    os.waitpid(middle, 0)
    deadline = time.monotonic() + timeout
    while _others() and time.monotonic() < deadline:
        time.sleep(0.005)
    if _others():
        sys.stderr.write("trees: never reaped: %s\n" % _others())
        return 3
    for sig in scenario["signals"]:
        os.kill(1, sig)
        time.sleep(0.01)
    try:
        os.kill(1, 0)
    except ProcessLookupError:
        return 4
    return 0


def _status(event):
    return ("exit", event["exit"]) if "exit" in event else ("signal", event["signal"])


def run_scenario(ns, scenario, terminator=signal.SIGTERM, timeout=10):
    """Plays scenario in PidNamespace ns (PID 1 must be our pause), then sends
    terminator from the host. Returns the observable outcome: player status,
    sorted reaped statuses, zombies left, and PID 1's exit code."""
    player = ns.run([sys.executable, "-m", "pause.testing.orphans", "--tree",
                     json.dumps(scenario)], wait=True, timeout=timeout)
    statuses = sorted(_status(e) for e in ns.wait_events(
        len(expected_statuses(scenario["nodes"])), timeout=timeout))
    zombies = len(ns.zombies())
    ns.signal(terminator)
    return {"player": player.returncode, "reaped": statuses, "zombies": zombies,
            "exit": ns.wait_exit(timeout)}
