"""Kubernetes' $(VAR) expansion, bounded.

$(VAR) expansion can double a value at every variable (a 720-byte manifest
grew to 1.1 GB): one expanded string may not exceed what execve takes for
one argument (MAX_ARG_STRLEN), nor a container's all together its ARG_MAX."""
from launcher.manifest.checks import ManifestError

MAX_EXPANDED = 128 << 10
MAX_CONTAINER_EXPANDED = 1 << 20


def expand(text, env, limit=MAX_EXPANDED, where="value"):
    """Kubernetes' `$(VAR)` expansion (third_party/forked/golang/expansion):
    `$(NAME)` becomes env[NAME] when NAME is defined, else stays as written;
    `$$` becomes `$`; a `$` before anything else, or an unclosed `$(`, is
    kept literally. A result longer than `limit` characters is a
    ManifestError naming `where`, raised as soon as it is known (the output
    is never built past the limit)."""
    out = []
    size = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 == n:
            piece, i = ch, i + 1
        else:
            nxt = text[i + 1]
            if nxt == "$":
                piece, i = "$", i + 2
            elif nxt == "(":
                close = text.find(")", i + 2)
                if close < 0:
                    piece, i = "$(", i + 2
                else:
                    var = text[i + 2:close]
                    piece = env[var] if var in env else "$(" + var + ")"
                    i = close + 1
            else:
                piece, i = "$" + nxt, i + 2
        size += len(piece)
        if size > limit:
            raise ManifestError(f"{where}: expands to more than {limit // 1024} KiB "
                                "(nested $(VAR) references)")
        out.append(piece)
    return "".join(out)
