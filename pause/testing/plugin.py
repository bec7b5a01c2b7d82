"""pytest plugin: `pid_namespace` and `pid_namespace_factory` fixtures.

Loaded by every pytest run once the package is installed, so it imports only
pytest here; the namespace code, pause and its binaries are resolved when a
fixture is used, and anything missing becomes a skip with the reason.

Choose the init with the marker
`@pytest.mark.pid_namespace(impl="c"|"cffi"|"python")` (our pause, default c)
or `@pytest.mark.pid_namespace(init="tini"|"dumb-init"|"catatonit"|[argv...])`,
or build several with the factory.
"""
import pytest


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "pid_namespace(impl=None, init=None, args=()): the init of the "
        "`pid_namespace` fixture: our pause (impl c|cffi|python) or another init "
        "(tini, dumb-init, catatonit, or an argv list)")


def _open(impl=None, init=None, args=()):
    from pause.testing.namespace import NamespaceUnavailable, PidNamespace
    try:
        return PidNamespace(impl=impl, init=init, args=args).start()
    except NamespaceUnavailable as e:
        pytest.skip(str(e))


def _close_all(namespaces):
    from pause.testing.namespace import NamespaceError
    errors = []
    for ns in namespaces:
        try:
            ns.close()
        except NamespaceError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("pid_namespace teardown: " + "; ".join(errors), pytrace=False)


@pytest.fixture
def pid_namespace_factory():
    """Factory: `pid_namespace_factory(impl="c"|"cffi"|"python", init=None, args=())`
    starts a fresh PID namespace whose PID 1 is our pause (impl) or `init` (tini,
    dumb-init, catatonit, or an argv list) and returns its PidNamespace. Every
    namespace is killed at teardown and the test fails if one leaked a process.
    Skips (with the reason) when namespaces or the init are unavailable."""
    made = []

    def make(impl=None, init=None, args=()):
        ns = _open(impl, init, args)
        made.append(ns)
        return ns
    yield make
    _close_all(made)


@pytest.fixture
def pid_namespace(request):
    """A fresh PID namespace whose PID 1 is our pause (C binary by default), or
    the init named by `@pytest.mark.pid_namespace(impl=..., init=..., args=...)`.
    The object: run(argv) -> handle (pid, ns_pid, wait()), spawn_orphans(n,
    exit_codes=...), zombies(), wait_reaped(timeout) (fails listing zombies and
    their parents), reaped (pause's --events-fd events), signal(sig),
    init_exit_code, wait_exit(). Teardown kills the namespace and fails the
    test if any of its processes is left. Skips with the reason when it cannot
    be made (no unshare, no user namespaces, pause not built, init missing)."""
    marker = request.node.get_closest_marker("pid_namespace")
    kwargs = dict(marker.kwargs) if marker else {}
    ns = _open(**kwargs)
    yield ns
    _close_all([ns])
