"""YAML in: one document or a stream of them (`---`), PyYAML's safe
loader, duplicate keys refused. PyYAML is imported only here, only when a
manifest is read."""
from launcher.manifest.checks import ManifestError, oneline

MAX_DOCUMENTS = 10000    # pods in one stream (the scale bench plays 5,000)


def yaml_load(text, source):
    """One YAML document with the safe loader; every loader failure becomes
    a ManifestError (PyYAML also raises ValueError on impossible dates,
    RecursionError on very deep nesting, and so on)."""
    return _guarded(lambda yaml, text: yaml.load(text, Loader=_strict_loader(yaml)), text, source)


def yaml_load_all(text, source):
    """Every document of a YAML stream, empty ones (a stray `---`) left out
    as kubectl leaves them out; at most MAX_DOCUMENTS."""
    def load_all(yaml, text):
        docs = []
        for doc in yaml.load_all(text, Loader=_strict_loader(yaml)):
            if doc is not None:
                if len(docs) == MAX_DOCUMENTS:
                    raise ManifestError(f"{source}: more than {MAX_DOCUMENTS} documents")
                docs.append(doc)
        return docs
    return _guarded(load_all, text, source)


def _guarded(load, text, source):
    import yaml
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ManifestError(f"{source}: not YAML (not UTF-8 text)") from None
    try:
        return load(yaml, text)
    except ManifestError:
        raise
    except yaml.MarkedYAMLError as e:
        where = f" (line {e.problem_mark.line + 1})" if e.problem_mark else ""
        what = e.problem or e.context or "syntax error"
        raise ManifestError(f"{source}: not YAML: {oneline(what)}{where}") from None
    except RecursionError:
        raise ManifestError(f"{source}: not YAML we accept: nested too deeply") from None
    except Exception as e:   # the loader's other failures (dates, numbers, ...)
        raise ManifestError(f"{source}: not YAML: {oneline(str(e)) or type(e).__name__}") \
            from None


_LOADER = []


def _strict_loader(yaml):
    """A SafeLoader that refuses a key given twice in one mapping (plain
    PyYAML silently keeps the last one; kubectl refuses it too)."""
    if _LOADER:
        return _LOADER[0]

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    key = (key_node.tag, key_node.value)
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {key_node.value!r}",
                            key_node.start_mark)
                    seen.add(key)
            return super().construct_mapping(node, deep)

    _LOADER.append(StrictLoader)
    return StrictLoader
