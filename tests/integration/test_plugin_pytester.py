"""The plugin seen from a user's pytest run (pytester): the fixtures are
registered by the entry point, and a failing reaping test reads well."""
import os

pytest_plugins = ["pytester"]

BROKEN_INIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "broken_init.py")


def test_fixtures_are_listed_with_docstrings(pytester):
    """`pytest --fixtures` lists pid_namespace and its factory with their docs."""
    result = pytester.runpytest_subprocess("--fixtures", timeout=60)
    result.stdout.fnmatch_lines(["pid_namespace_factory*", "*Factory*",
                                 "pid_namespace*", "*fresh PID namespace*"])


def test_user_test_with_a_broken_init_fails_readably(pytester):
    """A user test whose init never reaps fails with one readable message that
    lists the zombies and their parent, PID 1 of the namespace."""
    pytester.makepyfile(test_user="""
        import pytest, sys

        @pytest.mark.pid_namespace(init=[sys.executable, %r])
        def test_my_init_reaps(pid_namespace):
            pid_namespace.spawn_orphans(2, exit_codes=(0, 5))
            pid_namespace.wait_reaped(timeout=0.5)
    """ % BROKEN_INIT)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*NamespaceError: 2 zombie(s) still in the PID namespace of init*broken_init.py*",
        "*pid * (ns pid *, python*, state Z) parent * (ns pid 1, python*)",
    ])


def test_user_test_with_pause_passes(pytester):
    """The same user test with our pause as PID 1 passes, and teardown finds
    nothing left."""
    pytester.makepyfile(test_user="""
        def test_my_init_reaps(pid_namespace):
            pid_namespace.spawn_orphans(2, exit_codes=(0, 5))
            pid_namespace.wait_reaped(timeout=5)
            assert sorted(e["exit"] for e in pid_namespace.wait_events(2)) == [0, 5]
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(passed=1)


def test_the_example_file_users_copy_passes(pytester):
    """examples/test_reaping_example.py, copied into a fresh project, passes."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(repo, "examples", "test_reaping_example.py")) as f:
        pytester.makepyfile(test_reaping_example=f.read())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=4)
