"""The launcher's command line and pod-record helpers, without namespaces:
what parse() accepts and how it refuses (LauncherError, one line, 125),
property tests feeding it arbitrary argv, and the record encoder and name
rules checked against the standard library."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from launcher import cli
from launcher.store import jsonfmt
from launcher.errors import LauncherError
from launcher.spec import check_name

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_run_with_command_after_double_dash():
    """`run -- CMD ARGS`: one container named after the command's basename."""
    cmd, opts = cli.parse(["run", "--share-pid", "--name", "web", "-e", "A=1",
                           "--", "/usr/bin/Sleep_X", "-x", "--", "5"])
    spec = opts["spec"]
    assert cmd == "run" and not opts["detach"] and not opts["demo"]
    assert spec.name == "web" and spec.share_pid
    [c] = spec.containers
    assert (c.name, c.argv, c.env) == ("sleep-x", ["/usr/bin/Sleep_X", "-x", "--", "5"], {"A": "1"})


def test_run_with_several_containers_and_inline_values():
    """-c NAME='cmd line' is shlex-split, repeatable; --opt=value works too."""
    _, opts = cli.parse(["run", "-d", "--grace=2.5", "--pause=python",
                         "-c", "a=echo 'x y'", "--container=b=sleep 1"])
    spec = opts["spec"]
    assert opts["detach"] and spec.grace == 2.5 and spec.pause == "python"
    assert [(c.name, c.argv) for c in spec.containers] == [("a", ["echo", "x y"]),
                                                           ("b", ["sleep", "1"])]


def test_run_without_command_is_the_demo():
    """`run` and `run --share-pid` with no container select the demo."""
    _, opts = cli.parse(["run", "--share-pid"])
    spec = opts["spec"]
    assert opts["demo"] and spec.share_pid and spec.name == "demo"


@pytest.mark.parametrize("argv,fragment", [
    ([], "no command"),
    (["frobnicate"], "unknown command"),
    (["run", "--"], "empty command"),
    (["run", "-c", "a="], "empty command"),
    (["run", "-c", "novalue"], "bad -c"),
    (["run", "-c", "a=echo 'unterminated"], "No closing quotation"),
    (["run", "-c", "a=true", "-c", "a=false"], "duplicate container name"),
    (["run", "-c", "Bad_Name=true"], "invalid container name"),
    (["run", "--name", "-bad", "--", "true"], "invalid pod name"),
    (["run", "--name", "x" * 64, "--", "true"], "invalid pod name"),
    (["run", "--name"], "needs a value"),
    (["run", "--grace", "soon", "--", "true"], "bad --grace"),
    (["run", "--grace", "nan", "--", "true"], "bad --grace"),
    (["run", "--restart", "Sometimes", "--", "true"], "invalid restart policy"),
    (["run", "--backoff", "0", "--", "true"], "invalid back-off"),
    (["run", "--backoff", "soon", "--", "true"], "bad --backoff 'soon'"),
    (["run", "--backoff", "nan", "--", "true"], "bad --backoff"),
    (["run", "-p", "8080:80", "--", "true"], "-p needs a network"),
    (["run", "--network", "no-such-net", "--", "true"], "no-such-net"),
    (["run", "--network", "bridge", "-p", "80", "--", "true"], "80"),
    (["run", "--network", "bridge", "-p", "70000:80", "--", "true"], "70000"),
    (["run", "--network", "bridge", "--restart", "Always"], "the demo takes only"),
    (["play"], "play: no manifest"),
    (["play", "a.yaml", "b.yaml"], "one manifest at a time"),
    (["play", "--bogus", "a.yaml"], "play: unknown option '--bogus'"),
    (["play", "/no/such/manifest.yaml"], "/no/such/manifest.yaml"),
    (["gc", "extra"], "gc: unexpected argument 'extra'"),
    (["inspect", "--check"], "expected one pod"),
    (["run", "-e", "A B=1", "--", "true"], "bad environment variable"),
    (["run", "-e", "=x", "--", "true"], "bad environment variable"),
    (["run", "--env-file"], "needs a value"),
    (["run", "--cap-drop", "CAP_FLY", "--", "true"], "unknown capability"),
    (["run", "--bogus"], "unknown option"),
    (["run", "-d"], "demo runs in the foreground"),
    (["run", "-d", "--rm", "--restart", "Always", "--", "true"], "--rm conflicts with --restart"),
    (["run", "--rm=yes", "--", "true"], "unknown option"),
    (["run", "-i", "-d", "--", "cat"], "-i needs the foreground"),
    (["run", "-i", "-c", "a=cat", "-c", "b=cat"], "this pod has 2"),
    (["run", "-i"], "the demo takes only"),
    (["run", "--hostname", "h"], "the demo takes only"),
    (["run", "--hostname", "Bad_Host", "--", "true"], "invalid host name 'Bad_Host'"),
    (["run", "--hostname", "", "--", "true"], "invalid host name ''"),
    (["run", "--user", "nobody", "--", "true"], "--user need containers on an image"),
    (["run", "--image", "busybox", "-u", "a:b:c", "--", "true"], "'b:c' is not a valid group"),
    (["run", "-it", "--", "sh"], "allocates no terminal"),
    (["run", "-t", "--", "sh"], "allocates no terminal"),
    (["ps", "--format", "xml"], "unknown format"),
    (["ps", "extra"], "unexpected argument"),
    (["ps", "-q", "--format", "json"], "-q prints ids only"),
    (["ps", "--quiet=yes"], "unknown option"),
    (["inspect"], "expected one pod"),
    (["exec", "pod"], "no command"),
    (["exec", "pod", "--"], "empty command"),
    (["exec", "pod", "-c", "NOPE", "--", "true"], "invalid container name"),
    (["stop"], "expected a pod"),
    (["wait"], "expected a pod"),
    (["wait", "--all"], "unknown option"),
    (["kill"], "expected a pod"),
    (["kill", "-s", "FOO", "pod"], "'FOO' is not a signal"),
    (["kill", "-s", "0", "pod"], "'0' is not a signal"),
    (["kill", "-s", "65", "pod"], "'65' is not a signal"),
    (["kill", "-s", "SIG_IGN", "pod"], "is not a signal"),
    (["kill", "-s", "-9", "pod"], "is not a signal"),
    (["kill", "-s"], "needs a value"),
    (["kill", "-c", "b", "p1", "p2"], "-c names a container of one pod"),
    (["kill", "-c", "a/b", "p1"], "invalid container name"),
    (["rm", "--force=yes", "x"], "unknown option"),
    (["logs", "a", "b"], "expected one pod"),
])
def test_bad_input_is_one_launcher_error(argv, fragment):
    """Each bad command line raises LauncherError (exit 125) with a one-line
    message naming the problem."""
    with pytest.raises(LauncherError) as e:
        cli.parse(argv)
    assert e.value.code == 125
    assert fragment in str(e.value) and "\n" not in str(e.value)


_WORDS = st.sampled_from(["run", "ps", "inspect", "exec", "stop", "rm", "logs", "--", "-c",
                          "-e", "-d", "--name", "--share-pid", "--pause", "--grace", "--restart",
                          "--format", "json", "-f", "a=true", "x", "K=V", "--cap-drop", "ALL",
                          "--name=", "-c=", "=", "", "play", "gc", "--network", "bridge", "none",
                          "-p", "8080:80", "--backoff", "0.5", "--check", "examples/pods/cronjob.yaml",
                          "wait", "kill", "-s", "HUP", "9", "-q", "--rm", "-i", "-it", "--env-file", "/dev/null", "HOME",
                          "/nonexistent"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_WORDS, st.text(max_size=12)), max_size=10))
def test_parser_never_fails_otherwise(argv):
    """Arbitrary argv: parse() returns a command or raises LauncherError, never
    anything else."""
    try:
        cmd, _ = cli.parse(argv)
    except LauncherError as e:
        assert e.code == 125 and str(e)
    else:
        assert cmd in list(cli.COMMANDS) + ["help", "version"]


def _launcher(args, tmp_path):
    env = dict(os.environ, LAUNCHER_STATE_DIR=str(tmp_path / "state"),
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "launcher", *args], capture_output=True,
                          text=True, env=env, timeout=60, cwd=REPO)


@pytest.mark.parametrize("args", [
    ["frobnicate"], ["run", "-c", "a=true", "-c", "a=true"], ["run", "--name", "Upper", "--", "true"],
    ["exec", "nopod", "--", "true"], ["stop", "nopod"], ["rm", "nopod"], ["logs", "nopod"],
    ["inspect", "nopod"], ["run", "--", ""],
])
def test_cli_bad_input_exit_125_one_line_no_traceback(args, tmp_path):
    """The real command: exit 125, exactly one `launcher: ...` line on stderr,
    no traceback, nothing on stdout, no pod state created."""
    r = _launcher(args, tmp_path)
    assert r.returncode == 125
    assert r.stdout == ""
    assert re.fullmatch(r"launcher: [^\n]+\n", r.stderr), r.stderr
    state_dir = tmp_path / "state"
    assert not state_dir.exists() or set(os.listdir(state_dir)) <= {".lock", ".names"}


def test_help_and_version(tmp_path):
    """--help prints the usage on stdout (exit 0); --version the version."""
    r = _launcher(["--help"], tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("usage: launcher")
    r = _launcher(["--version"], tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("launcher ")


_JSONABLE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@given(_JSONABLE)
def test_record_encoder_round_trips_through_json(obj):
    """jsonfmt.dumps (used instead of json on the run path) is valid JSON that
    json.loads reads back to the same value."""
    assert json.loads(jsonfmt.dumps(obj)) == obj


_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")


@given(st.one_of(st.text(max_size=70), st.from_regex(_LABEL, fullmatch=True)))
def test_name_check_is_rfc1123_label(name):
    """check_name accepts exactly the RFC 1123 labels (the regex it replaces)."""
    try:
        check_name("pod", name)
        ok = True
    except LauncherError:
        ok = False
    assert ok == bool(_LABEL.match(name))


def _as_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to the nobody user")
@pytest.mark.parametrize("args", [["run", "--", "true"], ["ps"]])
def test_not_root_is_one_line_125(args, tmp_path):
    """Without root (and so without the namespaces it needs): one line, 125.
    nobody may not reach this checkout or its interpreter (a venv made from a
    python under /root), so it runs a world-readable copy of the package with
    the first interpreter nobody can execute."""
    copy = tempfile.mkdtemp(prefix="launcher-nobody-")
    try:
        os.chmod(copy, 0o755)
        shutil.copytree(os.path.join(REPO, "launcher"), os.path.join(copy, "launcher"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        env = dict(os.environ, LAUNCHER_STATE_DIR=str(tmp_path / "state"), PYTHONPATH=copy,
                   PYTHONDONTWRITEBYTECODE="1")
        r = None
        for python in (sys.executable, "/usr/bin/python3"):
            try:
                r = subprocess.run([python, "-m", "launcher", *args], capture_output=True,
                                   text=True, env=env, timeout=60, cwd="/", preexec_fn=_as_nobody)
                break
            except (PermissionError, FileNotFoundError):
                continue
        if r is None:
            pytest.skip(f"user nobody can execute neither {sys.executable} nor /usr/bin/python3")
    finally:
        shutil.rmtree(copy)
    assert r.returncode == 125, r.stderr
    assert re.fullmatch(r"launcher: [^\n]*root[^\n]*\n", r.stderr), r.stderr


def _command(prelude, args, tmp_path, **kw):
    """The launcher's entry point, command(), in a fresh interpreter after
    `prelude` (Python source)."""
    code = (f"{prelude}\nimport sys\nsys.argv = ['launcher', *{args!r}]\n"
            "from launcher.cli import command\nsys.exit(command())\n")
    env = dict(os.environ, LAUNCHER_STATE_DIR=str(tmp_path / "state"),
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", code], text=True, env=env, timeout=60,
                          cwd=REPO, **kw)


def test_command_exit_runs_atexit_and_flushes(tmp_path):
    """command() leaves by os._exit, after what a normal exit does: the
    atexit functions run (after the command's output) and stdout is
    flushed whole; the exit code is the command's."""
    r = _command("import atexit; atexit.register(print, 'atexit ran')", ["--help"], tmp_path,
                 capture_output=True)
    assert r.returncode == 0 and r.stdout == cli.USAGE + "atexit ran\n" and r.stderr == ""
    r = _command("", ["frobnicate"], tmp_path, capture_output=True)
    assert r.returncode == 125 and r.stdout == "" and r.stderr.startswith("launcher: unknown")


def test_command_exit_waits_for_a_running_thread(tmp_path):
    """A thread still running when the command ends is waited for, as a
    normal interpreter exit waits for it: its output arrives, exit 0."""
    prelude = ("import threading, time\n"
               "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()")
    r = _command(prelude, ["--version"], tmp_path, capture_output=True)
    assert r.returncode == 0 and r.stdout.startswith("launcher ") and \
        r.stdout.endswith("thread done\n"), r.stdout


def test_command_output_to_a_closed_pipe_is_exit_125_without_traceback(tmp_path):
    """stdout is a pipe nobody reads any more: the final flush fails, the
    exit code is 125 and nothing is printed (no `Exception ignored` lines)."""
    r_fd, w_fd = os.pipe()
    os.close(r_fd)
    try:
        r = _command("", ["--help"], tmp_path, stdout=w_fd, stderr=subprocess.PIPE)
    finally:
        os.close(w_fd)
    assert r.returncode == 125 and r.stderr == "", r.stderr


@pytest.mark.parametrize("closed", ["1", "2", "1 2"])
def test_command_with_stdout_or_stderr_closed_has_no_traceback(tmp_path, closed):
    """Started with stdout and/or stderr closed (`launcher ... >&-`: Python
    then has no sys.stdout/sys.stderr), the launcher exits as Python would:
    the command's code, 0 for --version, 125 for an unknown verb, and no
    traceback on whichever stream is still open."""
    code = ("import sys\nsys.argv = ['launcher', *sys.argv[1:]]\n"
            "from launcher.cli import command\nsys.exit(command())\n")
    env = dict(os.environ, LAUNCHER_STATE_DIR=str(tmp_path / "state"),
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    redirs = " ".join(f"{fd}>&-" for fd in closed.split())
    for args, want in ((["--version"], 0), (["frobnicate"], 125)):
        r = subprocess.run(["sh", "-c", f'exec "$0" "$@" {redirs}', sys.executable, "-c", code,
                            *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
        assert r.returncode == want, (args, r)
        assert "Traceback" not in r.stdout + r.stderr, r
        if closed == "1" and want == 125:
            assert r.stderr.startswith("launcher: unknown command"), r.stderr
