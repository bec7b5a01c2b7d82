"""The pause command line, for each implementation: -v, -h, bad usage (one
line, exit 2, no traceback), `python -m pause --impl`, the init-mode flags
(-r, -e, -p, -s, -w), and a differential property: the C parser
(csrc/pause_main.c) and the Python one (pause/args.py) answer every argv
alike."""
import os
import re
import signal
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

import pause
from helpers import IMPLS, child_pids, in_sigwait, pause_argv, sleep_until


def settled_in_pause_mode(pid):
    """True once pause sleeps in sigwaitinfo with no child: pause mode, set up.
    (In init mode it waits there too, but with its command as a child, and
    exits by itself once the command has.)"""
    return in_sigwait(pid) and not child_pids(pid)


def run(argv, timeout=10):
    """Runs argv; if it turns out to be a valid pause-mode command line (pause
    settles in sigwaitinfo, however long start-up takes on a busy host),
    TERMs it. Returns (code, stdout, stderr with pids normalised)."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert sleep_until(lambda: p.poll() is not None or settled_in_pause_mode(p.pid), timeout), argv
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out.decode(), re.sub(r"pause\[\d+\]", "pause[PID]", err.decode())


@pytest.fixture(params=IMPLS)
def impl(request):
    return request.param


@pytest.mark.parametrize("flag", ["-v", "--version"])
def test_version(impl, flag):
    assert run(pause_argv(impl, flag)) == (0, "pause %s\n" % pause.__version__, "")


def test_cffi_core_reports_the_same_version():
    from pause.core import version
    assert version() == pause.__version__


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(impl, flag):
    code, out, err = run(pause_argv(impl, flag))
    assert code == 0 and err == ""
    assert out.startswith("usage: pause [options] [-- COMMAND [ARG...]]\n")
    for opt in ("--ready-fd", "--events-fd", "--grace", "-g", "-r, --rewrite", "-e, --remap-exit",
                "-p, --pdeathsig", "-s, --subreaper", "-w, --warn-reaped", "--version", "--help"):
        assert opt in out


@pytest.mark.parametrize("argv, message", [
    (["--bogus"], "unknown option '--bogus'"),
    (["-x"], "unknown option '-x'"),
    (["stray"], "unexpected argument (put the command after --): 'stray'"),
    (["--"], "-- needs a command after it"),
    (["--ready-fd"], "missing a value for '--ready-fd'"),
    (["--events-fd", "abc"], "not an open file descriptor: 'abc'"),
    (["--ready-fd", "987"], "not an open file descriptor: '987'"),
    (["--ready-fd", "-1"], "not an open file descriptor: '-1'"),
    (["--ready-fd", "1", "--events-fd", "1"], "--ready-fd and --events-fd must differ"),
    (["--grace"], "missing a value for '--grace'"),
    (["--grace", "soon"], "not a number of seconds: 'soon'"),
    (["--grace", "1.2345"], "not a number of seconds: '1.2345'"),
    (["--grace", "86401"], "not a number of seconds: '86401'"),
    (["--grace", "-1"], "not a number of seconds: '-1'"),
    (["-g"], "-g needs a command"),
    (["--grace", "1", "--", "true"], "--grace is for pause mode; in init mode the command decides"),
    (["-r"], "missing a value for '-r'"),
    (["--rewrite", "15", "--", "true"], "not a signal rewrite S:R: '15'"),
    (["-r", "TERM:", "--", "true"], "not a signal rewrite S:R: 'TERM:'"),
    (["-r", ":1", "--", "true"], "not a signal rewrite S:R: ':1'"),
    (["-r", "0:1", "--", "true"], "not a signal rewrite S:R: '0:1'"),
    (["-r", "65:1", "--", "true"], "not a signal rewrite S:R: '65:1'"),
    (["-r", "15:33", "--", "true"], "not a signal rewrite S:R: '15:33'"),
    (["-r", "term:int", "--", "true"], "not a signal rewrite S:R: 'term:int'"),
    (["-r", "TERM:SIGBOGUS", "--", "true"], "not a signal rewrite S:R: 'TERM:SIGBOGUS'"),
    (["-r", "15:2:3", "--", "true"], "not a signal rewrite S:R: '15:2:3'"),
    (["-r", "KILL:TERM", "--", "true"], "KILL, STOP and CHLD cannot be rewritten: 'KILL:TERM'"),
    (["-r", "19:0", "--", "true"], "KILL, STOP and CHLD cannot be rewritten: '19:0'"),
    (["-r", "SIGCHLD:1", "--", "true"], "KILL, STOP and CHLD cannot be rewritten: 'SIGCHLD:1'"),
    (["-r", "15:0"], "-r/--rewrite needs a command"),
    (["-e"], "missing a value for '-e'"),
    (["-e", "256", "--", "true"], "not an exit code (0-255): '256'"),
    (["--remap-exit", "-1", "--", "true"], "not an exit code (0-255): '-1'"),
    (["-e", "0143", "--", "true"], "not an exit code (0-255): '0143'"),
    (["-e", "", "--", "true"], "not an exit code (0-255): ''"),
    (["-e", "143"], "-e/--remap-exit needs a command"),
    (["-p"], "missing a value for '-p'"),
    (["--pdeathsig", "0"], "not a signal: '0'"),
    (["-p", "65"], "not a signal: '65'"),
    (["-p", "32"], "not a signal: '32'"),
    (["-p", "SIG"], "not a signal: 'SIG'"),
    (["-p", "kill"], "not a signal: 'kill'"),
])
def test_bad_usage_is_one_line_and_exit_2(impl, argv, message):
    code, out, err = run(pause_argv(impl, *argv))
    assert (code, out) == (2, "")
    assert err == "pause: %s (see pause --help)\n" % message


def test_unknown_impl_is_one_line_and_exit_2():
    r = subprocess.run([sys.executable, "-m", "pause", "--impl", "rust", "-v"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == "pause: unknown implementation 'rust' (choose from c, cffi, python) (see pause --help)\n"


def test_impl_default_is_the_static_binary():
    """`python -m pause` with no --impl execs the static binary (same pid)."""
    r = subprocess.run([sys.executable, "-m", "pause", "--", "sh", "-c", "readlink /proc/$PPID/exe"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout == os.path.realpath(pause.binary_path()) + "\n"


def test_the_installed_pause_command_is_the_static_binary():
    """pip install puts the static binary on PATH as `pause` (as dumb-init does)."""
    import shutil
    installed = shutil.which("pause", path=os.path.dirname(sys.executable))
    assert installed, "no pause command next to the interpreter"
    with open(installed, "rb") as f:
        assert f.read(4) == b"\x7fELF"
    assert subprocess.run([installed, "-v"], capture_output=True, text=True).stdout == \
        "pause %s\n" % pause.__version__


def program_header_types(path):
    """The p_type of every program header of a 64-bit little-endian ELF file."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "not a 64-bit LE ELF file"
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]


def test_static_binary_needs_no_loader():
    """No PT_INTERP (3) and no PT_DYNAMIC (2): it runs in a FROM scratch image."""
    types = program_header_types(pause.binary_path())
    assert 1 in types and 2 not in types and 3 not in types


WORDS = ["-v", "--version", "-h", "--help", "-g", "--ready-fd", "--events-fd", "--grace", "--",
         "true", "0", "1", "2", "3", "99", "1.5", "0.001", "1.", ".5", "-1", "abc", "", "--bogus",
         "-", "--grace=1", "86400", "86400.001", "1e3", "٣",
         "-r", "--rewrite", "-e", "--remap-exit", "-p", "--pdeathsig", "-s", "--subreaper", "-w",
         "--warn-reaped", "15:10", "TERM:0", "SIGHUP:USR1", "KILL:1", "CHLD:2", "1:33", "9:٣", "15:",
         "TERM", "SIGKILL", "SIG", "143", "255", "256", "64", "65", "33", "STOP"]


@settings(max_examples=100, deadline=None)
@given(argv=st.lists(st.sampled_from(WORDS), max_size=6))
def test_c_and_python_parsers_agree(argv):
    """Property: for any argv the static binary and the Python reference give
    the same exit code, stdout and stderr. (An argv that parses to pause mode
    is TERMed after 0.5 s: both then exit 0 with the same line.)"""
    c = run(pause_argv("c", *argv))
    py = run(pause_argv("python", *argv))
    assert c == py
    assert "Traceback" not in py[2]


@pytest.mark.parametrize("argv", [
    ["--", ""], ["-r", "15:0", "--", ""], ["-e", "127", "--", ""], ["-s", "--", ""],
])
def test_empty_command_agrees(argv):
    """The divergence hypothesis found: `pause -- ''` is 127 and one line,
    from the static binary and the Python reference alike."""
    c = run(pause_argv("c", *argv))
    assert c == run(pause_argv("python", *argv))
    assert c[0] == (0 if "-e" in argv else 127)


@pytest.mark.parametrize("spec, parsed", [
    ("15:10", {15: 10}), ("TERM:USR1", {15: 10}), ("SIGTERM:SIGUSR1", {15: 10}), ("HUP:0", {1: 0}),
    ("SEGV:TERM", {11: 15}), ("TSTP:STOP", {20: 19}), ("64:1", {64: 1}), ("TERM:KILL", {15: 9}),
    ("001:002", {1: 2}),
])
def test_rewrite_specs_parse_to_numbers(spec, parsed):
    """-r S:R takes numbers (1-3 digits) or names, with or without SIG."""
    from pause.args import parse
    assert parse(["-r", spec, "--", "true"]).rewrite == parsed


@given(flags=st.lists(st.one_of(
    st.tuples(st.just("-r"), st.tuples(st.sampled_from(["HUP", "INT", "USR1", "15", "SIGALRM", "40"]),
                                       st.sampled_from(["0", "TERM", "2", "SIGKILL", "STOP", "64"]))
              .map(":".join)),
    st.tuples(st.just("-e"), st.integers(0, 255).map(str)),
    st.tuples(st.sampled_from(["-p", "--pdeathsig"]), st.sampled_from(["TERM", "SIGINT", "9", "64"])),
    st.tuples(st.sampled_from(["-s", "-w", "-g"]))), max_size=5))
@settings(max_examples=100, deadline=None)
def test_python_parser_collects_every_flag(flags):
    """Property: every -r lands in the rewrite map (the last for a signal
    wins), every -e in the remap set, the last -p is the parent-death signal."""
    from pause.args import parse
    argv = [w for f in flags for w in f] + ["--", "true"]
    cfg = parse(argv)

    def number(s):
        s = s[3:] if s.startswith("SIG") else s
        return int(s) if s.isdigit() else int(getattr(signal, "SIG" + s))
    rewrites, remaps, pdeathsig = {}, set(), 0
    for f in flags:
        if f[0] == "-r":
            a, b = f[1].split(":")
            rewrites[number(a)] = number(b)
        elif f[0] == "-e":
            remaps.add(int(f[1]))
        elif f[0] in ("-p", "--pdeathsig"):
            pdeathsig = number(f[1])
    assert (cfg.rewrite, cfg.remap_exit, cfg.pdeathsig) == (rewrites, remaps, pdeathsig)
    assert cfg.subreaper == any(f == ("-s",) for f in flags)
    assert cfg.warn_reaped == any(f == ("-w",) for f in flags)
