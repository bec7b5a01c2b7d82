"""$(VAR) expansion in manifests is bounded: a small manifest whose
variables double at every step (720 bytes grew to 1.1 GB on the old
launcher) is refused quickly, in little memory, naming the field; normal
expansion is unchanged."""
import resource
import time

import pytest
from hypothesis import given, strategies as st

from launcher.manifest import MAX_EXPANDED, ManifestError, expand, load_text


def doubling(levels, arg="$(V%d)"):
    env = "\n".join(f"    - {{name: V{i}, value: '$(V{i - 1})$(V{i - 1})'}}" for i in range(1, levels))
    return ("apiVersion: v1\nkind: Pod\nmetadata: {name: boom}\nspec:\n  containers:\n"
            "  - name: c\n    command: [echo, '%s']\n    env:\n    - {name: V0, value: xxxxxxxxxx}\n%s\n"
            % (arg % (levels - 1), env))


@pytest.mark.parametrize("levels", [20, 40, 200])
def test_an_exponential_manifest_is_refused_fast_and_small(levels):
    """Each level doubles the value: refused at the first value past the
    limit, in well under a second and without growing the process."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    with pytest.raises(ManifestError) as e:
        load_text(doubling(levels))
    assert time.monotonic() - start < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000   # KB
    msg = str(e.value)
    assert "expands to more than 128 KiB" in msg and "spec.containers[0].env[" in msg, msg
    assert "\n" not in msg


def test_a_long_but_bounded_expansion_is_fine():
    """Values that stay under the limit expand as Kubernetes does."""
    m, _ = load_text(doubling(12))          # 10 * 2**11 = 20 KiB
    assert len(m.containers[0].argv[1]) == 10 * 2 ** 11


def test_the_whole_container_is_bounded_too():
    """Many values just under the per-string limit still add up: refused."""
    env = "\n".join(f"    - {{name: V{i}, value: '{'y' * 100000}'}}" for i in range(12))
    text = ("apiVersion: v1\nkind: Pod\nmetadata: {name: wide}\nspec:\n  containers:\n"
            "  - name: c\n    command: [echo]\n    env:\n%s\n" % env)
    with pytest.raises(ManifestError) as e:
        load_text(text)
    assert "expand to more than 1 MiB" in str(e.value)


@given(st.text(alphabet="$()AB x", max_size=40),
       st.dictionaries(st.sampled_from(["A", "B"]), st.text(max_size=30), max_size=2))
def test_expand_never_exceeds_its_limit(text, env):
    """Whatever the input, expand returns at most `limit` characters or
    raises ManifestError; with no limit in reach it equals the plain
    expansion."""
    try:
        out = expand(text, env, limit=50)
    except ManifestError:
        assert len(expand(text, env, limit=10 ** 9)) > 50
    else:
        assert len(out) <= 50 and out == expand(text, env, limit=MAX_EXPANDED)
