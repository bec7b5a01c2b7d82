"""--env-file and -e KEY: environment variables read as podman and docker
read them, from real files; every bad file is one line naming it."""
import os
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from launcher.cli import main, parse
from launcher.commands import envfile
from launcher.commands.common import env_item, environment
from launcher.errors import LauncherError


def write(tmp_path, data, name="env"):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def test_the_format(tmp_path, monkeypatch):
    """Comments, blank lines and leading white space are skipped; values are
    taken as they are (quotes, '=', trailing blanks, leading blanks after
    '='); a CRLF line ends like an LF one; KEY alone is our own value of
    KEY, or left out."""
    monkeypatch.setenv("FROMHOST", "host value")
    monkeypatch.delenv("NOTSET", raising=False)
    path = write(tmp_path, b"# a comment\n\n   \n  A=1\nB=\"quoted\" \nC=x=y\n"
                           b"D=\nE= lead\r\n\t# indented comment\nFROMHOST\nNOTSET\nA=last")
    assert envfile.read(path) == [("A", "1"), ("B", '"quoted" '), ("C", "x=y"), ("D", ""),
                                  ("E", " lead"), ("FROMHOST", "host value"), ("NOTSET", None),
                                  ("A", "last")]
    assert environment([path], []) == {"A": "last", "B": '"quoted" ', "C": "x=y", "D": "",
                                       "E": " lead", "FROMHOST": "host value"}


def test_later_files_then_e_win_and_an_unset_key_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("K", raising=False)
    one = write(tmp_path, b"K=file1\nONLY1=x\n", "one")
    two = write(tmp_path, b"K=file2\n", "two")
    assert environment([one, two], []) == {"K": "file2", "ONLY1": "x"}
    assert environment([one, two], [env_item("K=cli")]) == {"K": "cli", "ONLY1": "x"}
    # -e K with no K here: the file's K stays (podman leaves an unset KEY out)
    assert environment([one], [env_item("K")]) == {"K": "file1", "ONLY1": "x"}
    monkeypatch.setenv("K", "ours")
    assert environment([one], [env_item("K")]) == {"K": "ours", "ONLY1": "x"}


@pytest.mark.parametrize("data, why", [
    (b"A=1\nB\0=2\n", "line 2 holds a NUL byte"),
    (b"A=\xff\n", "line 1 is not UTF-8"),
    (b"A B=1\n", "line 1: bad environment variable 'A B=1'"),
    (b"ok=1\n=x\n", "line 2: bad environment variable '=x'"),
    (b"\tTAB\tKEY\n", "line 1: bad environment variable 'TAB\\tKEY'"),
    (b"A=" + b"x" * envfile.MAX_BYTES, "larger than 1 MiB"),
])
def test_bad_files_are_one_line(tmp_path, data, why):
    path = write(tmp_path, data)
    with pytest.raises(LauncherError) as e:
        envfile.read(path)
    msg = str(e.value)
    assert msg.startswith(f"--env-file '{path}'") and why in msg and "\n" not in msg, msg


@pytest.mark.parametrize("path, why", [
    ("/nonexistent/env", "No such file or directory"),
    ("/", "Is a directory"),
    ("/dev/zero", "larger than 1 MiB"),     # endless: read no further than the bound
])
def test_files_that_cannot_be_read(path, why):
    with pytest.raises(LauncherError, match=why):
        envfile.read(path)


def test_a_file_of_exactly_the_bound_is_read(tmp_path):
    line = b"A=" + b"x" * (envfile.MAX_BYTES - 3) + b"\n"
    assert len(line) == envfile.MAX_BYTES
    assert envfile.read(write(tmp_path, line)) == [("A", "x" * (envfile.MAX_BYTES - 3))]


def test_the_cli_takes_them_and_fails_in_one_line(tmp_path, monkeypatch, capsys):
    """run and exec: --env-file and -e KEY reach the spec and the exec's
    environment; a bad file is exit 125 and one line on stderr."""
    monkeypatch.setenv("HOSTVAR", "h")
    path = write(tmp_path, b"A=1\nB=2\n")
    verb, o = parse(["run", "--env-file", path, "-e", "B=3", "-e", "HOSTVAR", "--", "true"])
    assert o["spec"].containers[0].env == {"A": "1", "B": "3", "HOSTVAR": "h"}
    verb, o = parse(["exec", "pod", "--env-file=" + path, "-e", "HOSTVAR", "--", "true"])
    assert o["env"] == {"A": "1", "B": "2", "HOSTVAR": "h"}
    bad = write(tmp_path, b"A B=1\n", "bad")
    assert main(["run", "--env-file", bad, "--", "true"]) == 125
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("launcher: --env-file "), err


_KEY = st.text(string.ascii_letters + string.digits + "_.-", min_size=1, max_size=20).filter(
    lambda k: not k.startswith("#"))
_VALUE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0\n\r"),
                 max_size=30)


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(_KEY, _VALUE), max_size=12),
       lead=st.sampled_from(["", " ", "\t  "]), eol=st.sampled_from(["\n", "\r\n"]))
def test_written_variables_read_back(tmp_path_factory, pairs, lead, eol):
    """Any KEY=VALUE lines, indented or not, LF or CRLF, read back as
    written, and the last of a KEY wins."""
    path = str(tmp_path_factory.mktemp("env") / "f")
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("".join(f"{lead}{k}={v}{eol}" for k, v in pairs))
    assert envfile.read(path) == pairs
    assert environment([path], []) == dict(pairs)
    os.unlink(path)
