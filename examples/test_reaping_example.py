"""Example: testing that an init reaps orphans, with the pause.testing plugin.

Copy this file into your project's tests. With this package installed, the
`pid_namespace` fixture is available without any import or conftest entry.
Run it as root, or as a user allowed to create user namespaces; elsewhere the
tests skip and say why.
"""
import signal

import pytest
from hypothesis import given, settings

from pause.testing import PidNamespace, expected_statuses, process_trees, run_scenario


def test_pause_reaps_orphans(pid_namespace):
    """Orphans reparented to pause (PID 1) are reaped; events carry exit codes."""
    pid_namespace.spawn_orphans(10, exit_codes=(0, 3))
    pid_namespace.wait_reaped(timeout=5)
    assert sorted(e["exit"] for e in pid_namespace.wait_events(10)) == [0] * 5 + [3] * 5


@pytest.mark.pid_namespace(init="tini")  # or ["/path/to/your-init", "--flag", ...]
def test_my_init_reaps_orphans(pid_namespace):
    """Any init can be PID 1; wait_reaped fails listing zombies if it never reaps."""
    pid_namespace.spawn_orphans(10)
    pid_namespace.wait_reaped(timeout=5)


def test_workload_inside_the_namespace(pid_namespace):
    """run() starts a process inside; it sees itself with a small pid."""
    shell = pid_namespace.run(["sh", "-c", "test $$ -lt 100"], wait=True)
    assert shell.returncode == 0
    pid_namespace.signal(signal.SIGTERM)
    assert pid_namespace.wait_exit(timeout=5) == 0


@settings(max_examples=5, deadline=None)
@given(nodes=process_trees(max_leaves=5))
def test_random_trees_are_reaped(nodes):
    """Whatever tree of forks and exits, pause reaps exactly its nodes."""
    with PidNamespace(impl="c") as ns:
        outcome = run_scenario(ns, {"nodes": nodes, "signals": []})
    assert outcome["reaped"] == expected_statuses(nodes) and outcome["zombies"] == 0
