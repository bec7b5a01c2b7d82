"""ps --filter: parsing (every bad filter is one line) and matching, with
docker's rule: every key must match, any value of one key."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from launcher.commands import ps
from launcher.errors import LauncherError

PODS = [
    {"id": "aa11" * 4, "name": "web-1", "state": "running", "spec": {"labels": {"app": "web"}}},
    {"id": "aa22" * 4, "name": "web-2", "state": "exited", "spec": {"labels": {"app": "web",
                                                                              "tier": "front"}}},
    {"id": "bb33" * 4, "name": "db", "state": "running", "spec": {"labels": {}}},
    {"id": "cc44" * 4, "name": None, "state": "corrupt", "error": "corrupt (not JSON)"},
]


def names(argv):
    o = ps.parse(argv)
    return [p["name"] for p in PODS if ps.matches(p, o["filters"])]


@pytest.mark.parametrize("argv, want", [
    ([], ["web-1", "web-2", "db", None]),
    (["-f", "status=running"], ["web-1", "db"]),
    (["--filter", "status=running", "--filter", "status=corrupt"], ["web-1", "db", None]),
    (["-f", "name=web"], ["web-1", "web-2"]),
    (["-f", "name=web", "-f", "status=running"], ["web-1"]),
    (["--filter=id=aa"], ["web-1", "web-2"]),
    (["-f", "id=aa22"], ["web-2"]),
    (["-f", "label=app=web"], ["web-1", "web-2"]),
    (["-f", "label=tier"], ["web-2"]),
    (["-f", "label=app=db"], []),
    (["-f", "label=app=web", "-f", "name=db"], []),
    (["-q", "-f", "status=dead"], []),
])
def test_filters_match_as_docker_does(argv, want):
    assert names(argv) == want


@pytest.mark.parametrize("argv, message", [
    (["-f", "colour=red"], "ps: bad filter 'colour=red': use id=, name=, status= or label="),
    (["-f", "status"], "ps: bad filter 'status'"),
    (["-f", "status=paused"], "ps: status filter 'paused': one of creating, running, exited"),
    (["-f", "name="], "ps: name filter: empty value"),
    (["-f"], "ps: option -f needs a value"),
    (["-q", "--format", "json"], "ps: -q prints ids only"),
    (["pod1"], "ps: unexpected argument 'pod1'"),
    (["--all"], "ps: unknown option '--all'"),
])
def test_bad_filters_are_one_line(argv, message):
    with pytest.raises(LauncherError) as e:
        ps.parse(argv)
    assert str(e.value).startswith(message) and "\n" not in str(e.value), str(e.value)


@given(st.lists(st.sampled_from(["id=aa", "id=bb33", "name=web", "name=d", "status=running",
                                 "status=exited", "status=corrupt", "label=app",
                                 "label=app=web", "label=tier=front"]), max_size=5))
def test_more_filters_of_new_keys_never_let_more_through(filters):
    """Adding a filter with a key not used yet can only narrow the list;
    adding a value to a key already used can only widen it."""
    argv = [x for f in filters for x in ("-f", f)]
    base = names(argv)
    for extra in ("status=running", "name=web", "label=app"):
        key = extra.split("=")[0]
        more = names(argv + ["-f", extra])
        used = any(f.startswith(key + "=") for f in filters)
        if used:
            assert set(base) <= set(more)
        else:
            assert set(more) <= set(base)
