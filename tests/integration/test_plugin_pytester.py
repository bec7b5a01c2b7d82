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


def test_unavailable_init_is_a_skip_with_the_reason(pytester):
    """When the namespace cannot be made (here: the init is not installed),
    the fixture skips the user's test and the skip says why."""
    pytester.makepyfile(test_user="""
        import pytest

        @pytest.mark.pid_namespace(init=["no-such-init-binary"])
        def test_needs_an_init(pid_namespace):
            pass
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs", timeout=60)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*init 'no-such-init-binary' not found on PATH*"])


# A process outside the namespace that setns()es into it and forks: its child
# is a process of the namespace that PID 1's death cannot remove while the
# parent (outside) neither waits for it nor exits, so the namespace leaks.
SETNS_FORK = """
import ctypes, os, sys, time
fd = os.open("/proc/%s/ns/pid" % sys.argv[1], os.O_RDONLY)
if ctypes.CDLL(None, use_errno=True).setns(fd, 0x20000000) != 0:  # CLONE_NEWPID
    sys.exit("setns: " + os.strerror(ctypes.get_errno()))
if os.fork() == 0:
    os._exit(0)
print("forked", flush=True)
time.sleep(120)
"""


def test_teardown_fails_the_test_when_the_namespace_leaks(pytester):
    """Teardown checks that nothing of the namespace is left: a zombie whose
    parent lives outside (setns + fork) survives the kill of PID 1, and the
    user's test errors at teardown naming it. (The user's `helpers` fixture,
    set up first, is torn down after pid_namespace and ends the leak.)"""
    pytester.makepyfile(test_user="""
        import subprocess, sys
        import pytest

        @pytest.fixture
        def helpers():
            started = []
            yield started
            for p in started:
                p.kill()
                p.wait()
                p.stdout.close()

        @pytest.mark.pid_namespace(init="catatonit")
        def test_leaky(helpers, pid_namespace):
            p = subprocess.Popen([sys.executable, "-c", %r, str(pid_namespace.init_pid)],
                                 stdout=subprocess.PIPE, text=True)
            helpers.append(p)
            assert p.stdout.readline() == "forked\\n"
    """ % SETNS_FORK)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*pid_namespace teardown: processes of the namespace left after teardown*",
        "*pid * (ns pid 2, python*, state Z) parent *",
    ])
