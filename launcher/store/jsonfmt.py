"""JSON for the launcher's records without importing the json package on
`run`'s path (it pulls in re and enum: a few milliseconds of start-up).
Reading uses json itself: only commands that read records pay for it."""


def _esc(s):
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return f'"{s}"'     # nothing to escape: most of a record's strings
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o < 0x20 or 0xd800 <= o < 0xe000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def dumps(obj):
    """JSON text for plain data (dict, list, tuple, str, int, float, bool,
    None); anything else is a TypeError: a record holds only data."""
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, str):
        return _esc(obj)
    if isinstance(obj, int):
        return str(int(obj))
    if isinstance(obj, float):
        if obj != obj or obj in (float("inf"), float("-inf")):
            raise ValueError("non-finite float in a record")
        return repr(obj)
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{_esc(str(k))}: {dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ", ".join(dumps(v) for v in obj) + "]"
    raise TypeError(f"cannot store {type(obj).__name__} in a record")


def loads(data):
    """Parses JSON bytes or text; ValueError if it is not JSON."""
    import json
    return json.loads(data)
