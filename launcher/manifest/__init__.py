"""Kubernetes Pod manifests for `launcher play`: YAML text in, a PodManifest out.

Only a `v1` `Pod` is accepted, and only the fields the launcher honours;
any other field is refused with its full path (`spec.containers[1].lifecycle`),
so a manifest never silently means less than it says. Every problem raises
ManifestError (a LauncherError: the CLI prints `launcher: <message>` and
exits 125); no other exception escapes, whatever the input (hypothesis
checks this). PyYAML is imported only when a manifest is read, so `launcher
run` never pays for it.

    yamlload.py   one YAML document or a stream, safe loader, duplicate keys refused
    pod.py        the document, metadata, pod fields, volumes
    container.py  a container: image, command/args, env, resources, mounts, user
    expansion.py  Kubernetes' $(VAR) expansion, bounded
    checks.py     the field checks and ManifestError
"""
from launcher.manifest.checks import ManifestError  # noqa: F401
from launcher.manifest.container import ContainerManifest  # noqa: F401
from launcher.manifest.expansion import MAX_CONTAINER_EXPANDED, MAX_EXPANDED, expand  # noqa: F401
from launcher.manifest.pod import PodManifest, parse  # noqa: F401
from launcher.manifest.yamlload import yaml_load, yaml_load_all

MAX_BYTES = 64 << 20      # a manifest file or stream (5,000 small pods take ~2 MiB)


def load(source, stdin=None):
    """Reads a manifest from a file path, or from `stdin` (default
    sys.stdin) when source is '-'; returns (PodManifest, warnings)."""
    return load_text(read(source, stdin), _name(source))


def load_all(source, stdin=None):
    """Every Pod of a multi-document manifest (`---` between documents):
    [(PodManifest, warnings)], each checked whole; a document's error
    names it (`document 3: ...`) when there are several."""
    return load_all_text(read(source, stdin), _name(source))


def _name(source):
    return repr(source) if source != "-" else "-"


def read(source, stdin=None):
    """The text of a manifest file, or of `stdin` (default sys.stdin) when
    source is '-'; at most MAX_BYTES."""
    try:
        if source == "-":
            if stdin is None:
                import sys
                stdin = sys.stdin
            text = stdin.read(MAX_BYTES + 1)
        else:
            with open(source, encoding="utf-8") as f:
                text = f.read(MAX_BYTES + 1)
    except UnicodeDecodeError:
        raise ManifestError(f"{_name(source)}: not YAML (not UTF-8 text)") from None
    except OSError as e:
        raise ManifestError(f"cannot read {source!r}: {e.strerror or e}") from None
    if len(text) > MAX_BYTES:
        raise ManifestError(f"{_name(source)}: larger than {MAX_BYTES:,} bytes")
    return text


def load_text(text, source="manifest"):
    """Parses YAML text into (PodManifest, warnings)."""
    return parse(yaml_load(text, source))


def load_all_text(text, source="manifest"):
    """Parses a YAML stream into [(PodManifest, warnings)]."""
    docs = yaml_load_all(text, source)
    if not docs:
        raise ManifestError(f"{source}: no Pod in it (got nothing)")
    if len(docs) == 1:
        return [parse(docs[0])]
    out = []
    for i, doc in enumerate(docs, 1):
        try:
            out.append(parse(doc))
        except ManifestError as e:
            raise ManifestError(f"{source}: document {i}: {e}") from None
    return out
