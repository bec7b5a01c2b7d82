"""Differential property test (issue 2): the static binary, the cffi core and
the Python reference, each as PID 1 of a fresh namespace, play the same
random scenario (a tree of orphaned processes ending with random exit codes
and signals, then signals pause must ignore, sent from inside, then TERM or
INT from the host). The observable outcome must be identical across the
three, and equal to what the tree predicts."""
import signal

from hypothesis import given, settings, strategies as st

from pause.testing import PidNamespace, expected_statuses, run_scenario, scenarios

IMPLS = ("c", "cffi", "python")


@settings(max_examples=25, deadline=None)
@given(scenario=scenarios(max_leaves=8),
       terminator=st.sampled_from([signal.SIGTERM, signal.SIGINT]))
def test_three_implementations_agree(scenario, terminator):
    """Same reaped statuses (from --events-fd), no zombie left, PID 1 survives
    the ignored signals and exits 0 on TERM/INT: identical for c, cffi, python."""
    outcomes = {}
    for impl in IMPLS:
        with PidNamespace(impl=impl) as ns:
            outcomes[impl] = run_scenario(ns, scenario, terminator)
    expected = {"player": 0, "zombies": 0, "exit": 0,
                "reaped": [list(s) for s in expected_statuses(scenario["nodes"])]}
    for impl in IMPLS:
        got = dict(outcomes[impl], reaped=[list(s) for s in outcomes[impl]["reaped"]])
        assert got == expected, "%s differs from the expected outcome" % impl
    assert outcomes["c"] == outcomes["cffi"] == outcomes["python"]
