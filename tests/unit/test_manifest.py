"""launcher.manifest: what a Pod manifest turns into, how each kind of bad
manifest is refused (one ManifestError, one line, exit code 125), and
hypothesis fuzzing: random YAML and mutated valid pods give a PodManifest or
a ManifestError, never any other exception."""
import glob
import io
import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from launcher.errors import LauncherError
from launcher.manifest import ManifestError, expand, load, load_text, parse

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BASE = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a", "command": ["sleep", "1"]}]}}


def pod(**spec):
    """BASE with spec fields replaced."""
    d = {**BASE, "spec": {**BASE["spec"], **spec}}
    return d


def refused(doc):
    """The ManifestError message parse() gives for doc."""
    with pytest.raises(ManifestError) as e:
        parse(doc)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_full_pod_is_parsed_with_kubernetes_defaults_and_semantics():
    """Every supported field lands in the dataclasses; command + args make
    argv; env values expand earlier variables; defaults are Kubernetes'."""
    text = """
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web, example.com/tier: front, empty: ""}}
spec:
  shareProcessNamespace: true
  hostname: host-1
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 5
  initContainers:
  - {name: init, command: [echo, init]}
  containers:
  - name: app
    command: [sh, -c]
    args: ["echo $(GREETING) $$(HOME) $(UNSET) $(A)"]
    env: [{name: GREETING, value: hi}, {name: A, value: "$(GREETING)-a"}, {name: E}]
    workingDir: /tmp
"""
    p, warnings = load_text(text)
    assert (p.name, p.share_pid, p.hostname, p.restart_policy, p.grace_seconds) == \
        ("web", True, "host-1", "OnFailure", 5)
    assert p.labels == {"app": "web", "example.com/tier": "front", "empty": ""}
    assert [c.name for c in p.init_containers] == ["init"]
    [c] = p.containers
    assert c.argv == ("sh", "-c", "echo hi $(HOME) $(UNSET) hi-a")
    assert c.env == (("GREETING", "hi"), ("A", "hi-a"), ("E", ""))
    assert c.working_dir == "/tmp" and warnings == []
    q, _ = parse(BASE)
    assert (q.restart_policy, q.grace_seconds, q.share_pid, q.hostname) == \
        ("Always", 30, False, None)


@pytest.mark.parametrize("text,env,out", [
    ("$(A)", {"A": "x"}, "x"), ("$$(A)", {"A": "x"}, "$(A)"), ("$$$(A)", {"A": "x"}, "$x"),
    ("$(B)", {}, "$(B)"), ("$(A", {"A": "x"}, "$(A"), ("a$", {}, "a$"), ("$x$", {}, "$x$"),
    ("$()", {"": "e"}, "e"), ("$(A)$(A)", {"A": "1"}, "11"), ("$(a b)", {}, "$(a b)"),
])
def test_expand_follows_kubernetes_expansion(text, env, out):
    """$(VAR) expansion as Kubernetes' forked golang expansion does it:
    $$ escapes, unknown or unclosed references stay as written."""
    assert expand(text, env) == out


def test_an_image_keeps_command_and_args_apart():
    """With an image, command and args stay apart (they are read against the
    image's Entrypoint and Cmd when it starts; None: not given), expanded;
    without one, argv is command + args."""
    doc = pod(containers=[{"name": "a", "image": "busybox", "command": ["echo", "$(X)"],
                           "env": [{"name": "X", "value": "x"}]},
                          {"name": "b", "image": "nginx:1.25", "args": ["-g", "daemon off;"],
                           "imagePullPolicy": "Never"},
                          {"name": "c", "image": "busybox"},
                          {"name": "d", "command": ["true"], "args": ["1"]}])
    m, warnings = parse(doc)
    a, b, c, d = m.containers
    assert warnings == []
    assert (a.image, a.command, a.args, a.argv) == ("busybox", ("echo", "x"), None, ())
    assert (b.command, b.args, b.pull_policy) == (None, ("-g", "daemon off;"), "Never")
    assert (c.command, c.args) == (None, None)
    assert (d.image, d.argv) == (None, ("true", "1"))


@pytest.mark.parametrize("doc,needle", [
    (pod(containers=[{"name": "a", "command": ["x"]}, {"name": "b", "command": ["x"],
                                                       "lifecycle": {}}]),
     "spec.containers[1].lifecycle: unknown"),
    ({**BASE, "status": {}}, "status: unknown"),
    ({**BASE, "metadata": {"name": "p", "namespace": "x"}}, "metadata.namespace: unknown"),
    (pod(nodeName="n"), "spec.nodeName: unknown"),
    (pod(containers=[{"name": "a", "command": ["x"], "env": [{"name": "A", "x": 1}]}]),
     "spec.containers[0].env[0].x: unknown"),
    (pod(containers=[{"name": "a", "command": ["x"],
                      "env": [{"name": "A", "valueFrom": {"fieldRef": {}}}]}]),
     "spec.containers[0].env[0].valueFrom: not supported"),
    (pod(containers=[{"name": "web", "imagePullPolicy": "Always", "command": ["x"]}]),
     "has no image"),
    (pod(containers=[{"name": "web", "args": ["x"]}]), "neither an image nor a command"),
    (pod(containers=[{"name": "web", "command": []}]), "neither an image nor a command"),
    (pod(containers=[{"name": "web", "image": "x", "imagePullPolicy": "Sometimes"}]),
     "imagePullPolicy: 'Sometimes' is not one of"),
    (pod(containers=[{"name": "web", "command": ["x"], "securityContext": {"runAsUser": 5}}]),
     "need an image"),
    (pod(containers=[{"name": "web", "image": "x", "securityContext": {"runAsUser": -5}}]),
     "runAsUser: expected an integer"),
    (pod(containers=[{"name": "web", "image": "x", "ports": [{"containerPort": 0}]}]),
     "ports[0].containerPort"),
    (pod(containers=[{"name": "web", "image": "x", "volumeMounts": [{"name": "v",
                                                                       "mountPath": "/v"}]}]),
     "no volume named 'v'"),
    (pod(volumes=[{"name": "v", "nfs": {}}], containers=[{"name": "web", "image": "x"}]),
     "spec.volumes[0].nfs"),
    (pod(containers=[{"name": "web", "command": "sleep 1"}]),
     "spec.containers[0].command: expected a list"),
    (pod(containers=[{"name": "a", "command": ["sleep", 1]}]), "command[1]: expected a string"),
    (pod(containers=[{"name": "a", "command": ["x"]}, {"name": "a", "command": ["y"]}]),
     "duplicate container name 'a'"),
    (pod(initContainers=[{"name": "a", "command": ["x"]}]), "duplicate container name 'a'"),
    (pod(containers=[{"name": "A_b", "command": ["x"]}]), "invalid container name"),
    ({**BASE, "metadata": {"name": "a.b"}}, "metadata.name: invalid pod name"),
    ({**BASE, "metadata": {}}, "metadata.name: required"),
    (pod(hostname="-x"), "spec.hostname"),
    (pod(terminationGracePeriodSeconds=-1), "terminationGracePeriodSeconds"),
    (pod(terminationGracePeriodSeconds=1.5), "terminationGracePeriodSeconds"),
    (pod(terminationGracePeriodSeconds=True), "terminationGracePeriodSeconds"),
    (pod(restartPolicy="Sometimes"), "spec.restartPolicy"),
    (pod(shareProcessNamespace="yes"), "spec.shareProcessNamespace"),
    (pod(containers=[]), "at least one container"),
    (pod(containers=[{"name": "a", "command": ["x"], "workingDir": "rel"}]), "absolute"),
    (pod(containers=[{"name": "a", "command": ["x"], "env": [{"name": "1A"}]}]),
     "invalid variable name"),
    (pod(containers=[{"name": "a", "command": ["x"], "env": [{"name": "A", "value": 1}]}]),
     "env[0].value: expected a string"),
    ({**BASE, "metadata": {"name": "p", "labels": {"a": 1}}}, "invalid label value"),
    ({**BASE, "metadata": {"name": "p", "labels": {"-a": "x"}}}, "invalid label key"),
    ({**BASE, "kind": "List"}, "only `kind: Pod`"),
    ({**BASE, "kind": "Deployment"}, "not a Pod"),
    ({**BASE, "apiVersion": "apps/v1"}, "apiVersion 'apps/v1' is not supported"),
    ([BASE], "expected a mapping, got a list"),
    ("just text", "expected a mapping, got a string"),
    (None, "got nothing"),
])
def test_bad_manifests_are_refused_with_one_line_naming_the_problem(doc, needle):
    """Each kind of bad manifest: ManifestError whose one-line message
    names the field path or the reason."""
    assert needle in refused(doc)


@pytest.mark.parametrize("text,needle", [
    ("a: [1, 2", "not YAML"), ("kind: Pod\nkind: Pod\n", "duplicate key 'kind'"),
    ("---\na: 1\n---\nb: 2\n", "not YAML"), ("a: 2001-02-30\n", "not YAML"),
    ("[" * 5000, "not YAML"), (b"\xff\xfe", "not UTF-8"), ("", "got nothing"),
])
def test_text_that_is_not_one_yaml_document_is_refused(text, needle):
    """Syntax errors, duplicate keys, several documents, impossible dates,
    absurd nesting and non-UTF-8 bytes all give a ManifestError."""
    with pytest.raises(ManifestError, match=needle):
        load_text(text)


def test_manifest_error_is_a_launcher_error_with_exit_code_125():
    """The CLI prints any LauncherError as one line and exits with its code."""
    with pytest.raises(LauncherError) as e:
        parse({})
    assert e.value.code == 125


def test_load_reads_a_file_or_stdin_and_names_a_missing_file(tmp_path):
    """`-` reads stdin; a file that cannot be read gives ManifestError."""
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(BASE))
    assert load(str(f))[0].name == "p"
    assert load("-", stdin=io.StringIO(yaml.safe_dump(BASE)))[0].name == "p"
    with pytest.raises(ManifestError, match="cannot read"):
        load(str(tmp_path / "missing.yaml"))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "examples", "pods",
                                                               "*.yaml"))))
def test_example_manifests_parse(path):
    """Every manifest in examples/pods is accepted."""
    p, warnings = load(path)
    assert p.containers and len(warnings) <= 1


def test_shared_pid_example_is_the_busybox_sleep_pod():
    """The domain brief's pod: shareProcessNamespace, a `sleep 3600` container."""
    p, warnings = load(os.path.join(REPO, "examples", "pods", "shared-pid.yaml"))
    assert p.share_pid and ("sleep", "3600") in [c.command for c in p.containers]
    assert [c.image for c in p.containers] == ["busybox:1.28", "busybox:1.28"]


def test_cronjob_example_runs_to_completion_with_on_failure():
    """The §2 pod: restartPolicy OnFailure, one container."""
    p, _ = load(os.path.join(REPO, "examples", "pods", "cronjob.yaml"))
    assert p.restart_policy == "OnFailure" and len(p.containers) == 1


# --- fuzzing ----------------------------------------------------------------

def outcome(call):
    """Runs call(); only a result or a ManifestError is acceptable."""
    try:
        call()
    except ManifestError as e:
        assert str(e) and "\n" not in str(e)


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text(max_size=20))
yaml_values = st.recursive(yaml_scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=10), kids, max_size=4)),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_random_text_never_raises_anything_else(text):
    """Arbitrary text: a PodManifest or a ManifestError."""
    outcome(lambda: load_text(text))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100))
def test_fuzz_random_bytes_never_raise_anything_else(data):
    """Arbitrary bytes: a PodManifest or a ManifestError."""
    outcome(lambda: load_text(data))


@settings(max_examples=200, deadline=None)
@given(yaml_values)
def test_fuzz_random_yaml_documents_never_raise_anything_else(doc):
    """Random YAML documents, dumped and loaded back."""
    outcome(lambda: load_text(yaml.safe_dump(doc)))


FIELD_VALUES = st.one_of(yaml_values, st.sampled_from(
    ["v1", "Pod", "Never", "OnFailure", "Always", "a", "$(A)", "$$", "/", -1, 0, True]))


@st.composite
def mutated_pods(draw):
    """A valid pod with a few random edits: a field replaced, added or removed,
    anywhere in the tree (paths chosen among the existing ones)."""
    doc = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "labels": {"a": "b"}},
           "spec": {"shareProcessNamespace": True, "restartPolicy": "OnFailure",
                    "terminationGracePeriodSeconds": 3,
                    "initContainers": [{"name": "i", "command": ["true"]}],
                    "containers": [{"name": "a", "image": "x", "command": ["sh", "-c"],
                                    "args": ["echo $(A)"], "workingDir": "/",
                                    "env": [{"name": "A", "value": "1"}]}]}}
    for _ in range(draw(st.integers(1, 3))):
        node = doc
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys or draw(st.booleans()):
                break
            k = draw(st.sampled_from(keys))
            if not isinstance(node[k], (dict, list)):
                break
            node = node[k]
        op = draw(st.sampled_from(["set", "del", "add"]))
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if op == "add" or not keys:
            if isinstance(node, dict):
                node[draw(st.text(max_size=8))] = draw(FIELD_VALUES)
            else:
                node.append(draw(FIELD_VALUES))
        elif op == "del":
            del node[draw(st.sampled_from(keys))]
        else:
            node[draw(st.sampled_from(keys))] = draw(FIELD_VALUES)
    return doc


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_pods())
def test_fuzz_mutated_valid_pods_never_raise_anything_else(doc):
    """Random mutations of a valid pod: parse() and the YAML round trip both
    give a PodManifest or a ManifestError."""
    outcome(lambda: parse(doc))
    outcome(lambda: load_text(yaml.safe_dump(doc)))
