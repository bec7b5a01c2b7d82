"""How a pod reference resolves in a real state root: a full id, then a
name, then a unique id prefix (podman's order). The ids are pinned so that
names and id prefixes collide on purpose; before, a name that was also a
prefix of another pod's id was refused, and a test using `b0` as a name
failed when a random id drew `b0...`."""
import os

import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

from launcher.errors import LauncherError
from launcher.store import pods as store_pods


def make_store(path, entries, monkeypatch):
    """A Store at path holding one pod per (name, id) entry."""
    path.mkdir(mode=0o700, exist_ok=True)
    store = store_pods.Store(str(path))
    for name, pod_id in entries:
        monkeypatch.setattr(store_pods, "new_id", lambda pod_id=pod_id: pod_id)
        store.create(name, lambda i, n: {"id": i, "name": n}).close()
    store._ids = None
    return store


def test_a_name_wins_over_another_pods_id_prefix(tmp_path, monkeypatch):
    victim = "b0ea4f5384f1aaaa"
    store = make_store(tmp_path / "s", [("victim", victim), ("b0", "d749dc079257bbbb")],
                       monkeypatch)
    assert store.resolve("b0").id == "d749dc079257bbbb"
    assert store.resolve("b0e").id == victim          # not a name: the id prefix
    assert store.resolve(victim).id == victim
    assert store.resolve("victim").id == victim


def test_a_full_id_wins_over_a_name_equal_to_it(tmp_path, monkeypatch):
    """check_pod_name refuses such names; the store's order still holds
    for a record made before that check."""
    first = "0123456789abcdef"
    store = make_store(tmp_path / "s", [("a", first), ("x", "fedcba9876543210")], monkeypatch)
    os.rename("x", first, src_dir_fd=store._names_fd(), dst_dir_fd=store._names_fd())
    assert store.resolve(first).id == first


def test_an_ambiguous_prefix_and_an_unknown_ref_are_clear_errors(tmp_path, monkeypatch):
    store = make_store(tmp_path / "s", [("p", "abc0000000000000"), ("q", "abd0000000000000")],
                       monkeypatch)
    with pytest.raises(LauncherError, match="pod id prefix 'ab' is ambiguous: 2 pods"):
        store.resolve("ab")
    assert store.resolve("abd").id == "abd0000000000000"
    for ref in ["zz", "", "../p", ".lock", "abe"]:
        with pytest.raises(LauncherError, match="no such pod"):
            store.resolve(ref)


hex_ids = st.text("0123456789abcdef", min_size=16, max_size=16)
names = st.text("0123456789abcdef", min_size=1, max_size=4)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(names, hex_ids), min_size=1, max_size=6,
                unique_by=(lambda e: e[0], lambda e: e[1])),
       st.text("0123456789abcdef", min_size=1, max_size=3))
def test_resolution_order_holds_for_any_names_and_ids(tmp_path_factory, monkeypatch,
                                                      entries, ref):
    """Every name and every full id resolves to its own pod; any other
    ref resolves to the one pod whose id it begins, or is an error."""
    store = make_store(tmp_path_factory.mktemp("s"), entries, monkeypatch)
    by_name = dict(entries)
    for name, pod_id in entries:
        assert store.resolve(name).id == pod_id
        assert store.resolve(pod_id).id == pod_id
    if ref in by_name:
        return
    hits = [i for i in by_name.values() if i.startswith(ref)]
    if len(hits) == 1:
        assert store.resolve(ref).id == hits[0]
    else:
        with pytest.raises(LauncherError):
            store.resolve(ref)
