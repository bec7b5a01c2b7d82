"""launcher.manifest.load_all: a stream of Pod documents (`---` between
them) for `launcher play -d`: every pod in order, empty documents left out,
a bad document named by its number, and the bounds (documents, bytes)."""
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from launcher import manifest
from launcher.manifest import ManifestError, load_all, load_all_text
from launcher.manifest import yamlload


def doc(name, command=("sleep", "1")):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "a", "command": list(command)}]}}


def stream(docs, empty=()):
    """YAML text of docs, with an empty document before each index in empty."""
    parts = []
    for i, d in enumerate(docs):
        if i in empty:
            parts.append("")
        parts.append(yaml.safe_dump(d))
    return "---\n" + "---\n".join(parts)


NAMES = st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(NAMES, min_size=1, max_size=12), st.sets(st.integers(0, 11)))
def test_every_pod_of_a_stream_comes_back_in_order(names, empty):
    """Any number of pods, with empty documents anywhere: the same pods,
    in the same order, with their own commands."""
    docs = [doc(n, ("echo", str(i))) for i, n in enumerate(names)]
    pods = load_all_text(stream(docs, empty))
    assert [m.name for m, _ in pods] == names
    assert [list(m.containers[0].argv) for m, _ in pods] == [["echo", str(i)] for i in range(len(names))]


def test_a_bad_document_is_named_by_its_number():
    bad = doc("b")
    bad["spec"]["restartPolicy"] = "Sometimes"
    with pytest.raises(ManifestError, match=r"^manifest: document 2: spec.restartPolicy"):
        load_all_text(stream([doc("a"), bad, doc("c")]))


@pytest.mark.parametrize("text, needle", [
    ("", "no Pod in it"), ("---\n---\n", "no Pod in it"), ("a: [\n---\n", "not YAML"),
    ("---\nkind: Pod\nkind: Pod\n", "duplicate key 'kind'"),
])
def test_streams_that_hold_no_pod_or_no_yaml_are_one_line(text, needle):
    with pytest.raises(ManifestError, match=needle) as e:
        load_all_text(text)
    assert "\n" not in str(e.value)


def test_more_documents_than_the_bound_are_refused(monkeypatch):
    monkeypatch.setattr(yamlload, "MAX_DOCUMENTS", 3)
    assert len(load_all_text(stream([doc(f"p{i}") for i in range(3)]))) == 3
    with pytest.raises(ManifestError, match="more than 3 documents"):
        load_all_text(stream([doc(f"p{i}") for i in range(4)]))


def test_a_file_larger_than_the_bound_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    monkeypatch.setattr(manifest, "MAX_BYTES", 1000)
    f = tmp_path / "big.yaml"
    f.write_text(stream([doc(f"p{i}") for i in range(3)]) + "#" * 1000 + "\n")
    with pytest.raises(ManifestError, match="larger than"):
        load_all(str(f))
