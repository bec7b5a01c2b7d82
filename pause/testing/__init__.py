"""pause.testing: a real PID namespace with an init as PID 1, for testing reaping.

The pytest plugin (pause.testing.plugin, registered through the `pytest11`
entry point) gives the `pid_namespace` and `pid_namespace_factory` fixtures.
The same objects are usable without pytest: `PidNamespace` (a context
manager), `process_trees()` / `scenarios()` (hypothesis strategies) and
`run_scenario()`. Names are imported lazily so that loading the plugin costs
nothing and never fails when pause is not built.
"""

_EXPORTS = {
    "PidNamespace": "namespace", "NamespaceError": "namespace",
    "NamespaceUnavailable": "namespace", "PEER_INITS": "namespace",
    "process_trees": "trees", "scenarios": "trees", "run_scenario": "trees",
    "expected_statuses": "trees",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(name)
    import importlib
    return getattr(importlib.import_module("pause.testing." + _EXPORTS[name]), name)
