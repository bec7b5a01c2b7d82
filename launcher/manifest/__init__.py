"""Kubernetes Pod manifests for `launcher play`: YAML text in, a PodManifest out.

Only a `v1` `Pod` is accepted, and only the fields the launcher honours;
any other field is refused with its full path (`spec.containers[1].lifecycle`),
so a manifest never silently means less than it says. Every problem raises
ManifestError (a LauncherError: the CLI prints `launcher: <message>` and
exits 125); no other exception escapes, whatever the input (hypothesis
checks this). PyYAML is imported only when a manifest is read, so `launcher
run` never pays for it.

    yamlload.py   one YAML document, safe loader, duplicate keys refused
    pod.py        the document, metadata, pod fields, volumes
    container.py  a container: image, command/args, env, resources, mounts, user
    expansion.py  Kubernetes' $(VAR) expansion, bounded
    checks.py     the field checks and ManifestError
"""
from launcher.manifest.checks import ManifestError  # noqa: F401
from launcher.manifest.container import ContainerManifest  # noqa: F401
from launcher.manifest.expansion import MAX_CONTAINER_EXPANDED, MAX_EXPANDED, expand  # noqa: F401
from launcher.manifest.pod import PodManifest, parse  # noqa: F401
from launcher.manifest.yamlload import yaml_load


def load(source, stdin=None):
    """Reads a manifest from a file path, or from `stdin` (default
    sys.stdin) when source is '-'; returns (PodManifest, warnings)."""
    try:
        if source == "-":
            if stdin is None:
                import sys
                stdin = sys.stdin
            text = stdin.read()
        else:
            with open(source, encoding="utf-8") as f:
                text = f.read()
    except UnicodeDecodeError:
        raise ManifestError(f"{source!r}: not YAML (not UTF-8 text)") from None
    except OSError as e:
        raise ManifestError(f"cannot read {source!r}: {e.strerror or e}") from None
    return load_text(text, repr(source) if source != "-" else "-")


def load_text(text, source="manifest"):
    """Parses YAML text into (PodManifest, warnings)."""
    return parse(yaml_load(text, source))
