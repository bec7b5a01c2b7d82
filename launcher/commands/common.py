"""What the verb modules share: the argv walker and small parsers."""
import os

from launcher.errors import LauncherError
from launcher.spec import quote


class Args:
    """Walks a verb's argv: options with values as `--opt V` or `--opt=V`."""

    def __init__(self, argv, verb):
        self.argv = list(argv)
        self.verb = verb
        self.i = 0

    def more(self):
        return self.i < len(self.argv)

    def next(self):
        a = self.argv[self.i]
        self.i += 1
        return a

    def option(self):
        """(raw word, option name, inline value or None) of the next word."""
        raw = self.next()
        if raw.startswith("--") and "=" in raw:
            k, _, v = raw.partition("=")
            return raw, k, v
        return raw, raw, None

    def value(self, opt, inline):
        """The option's value: inline (`--opt=V`) or the next word."""
        if inline is not None:
            return inline
        if not self.more():
            raise LauncherError(f"{self.verb}: option {opt} needs a value")
        return self.next()

    def rest(self):
        out = self.argv[self.i:]
        self.i = len(self.argv)
        return out

    def unknown(self, raw):
        raise LauncherError(f"{self.verb}: unknown option {quote(raw)}")


def is_option(raw):
    return raw.startswith("-") and raw != "-"


def env_item(text, where="-e"):
    """(KEY, VALUE) from `KEY=VALUE` (the value may be empty or hold '='),
    or from `KEY` alone the launcher's own value of KEY: None if it has
    none, and the variable is left out (podman's and docker's rule)."""
    k, eq, v = text.partition("=")
    if not k or any(c.isspace() for c in k):
        raise LauncherError(f"{where}: bad environment variable {quote(text)}: use KEY=VALUE "
                            "or KEY (a name without white space)")
    if not eq:
        return k, os.environ.get(k)
    return k, v


def environment(files, items):
    """The environment of `run`'s containers or of an `exec`: the variables
    of the --env-file files in order, then the -e items (env_item pairs),
    which win, as in podman. A pair whose value is None is left out."""
    pairs = []
    if files:
        from launcher.commands import envfile
        for path in files:
            pairs += envfile.read(path)
    return {k: v for k, v in pairs + list(items) if v is not None}


def open_store():
    """The state root, checked (launcher/store/root.py)."""
    from launcher.store.pods import Store
    return Store()


def simple(argv, verb, flags=(), values=(), pods="one"):
    """Parses a verb that takes flags, options with values and pod
    arguments. flags/values: tuples of (names..., key) entries; pods: one,
    many or none. Returns {key: value, "pods": [...], "help": bool}."""
    args = Args(argv, verb)
    out = {"pods": [], "help": False}
    flag_of = {n: e[-1] for e in flags for n in e[:-1]}
    value_of = {n: e[-1] for e in values for n in e[:-1]}
    for key in list(flag_of.values()):
        out[key] = False
    for key in list(value_of.values()):
        out.setdefault(key, None)
    while args.more():
        raw, a, inline = args.option()
        if a in flag_of and inline is None:
            out[flag_of[a]] = True
        elif a in value_of:
            out[value_of[a]] = args.value(a, inline)
        elif a in ("-h", "--help") and inline is None:
            out["help"] = True
        elif is_option(raw):
            args.unknown(raw)
        else:
            out["pods"].append(raw)
    n = len(out["pods"])
    if not out["help"]:
        if pods == "none" and n:
            raise LauncherError(f"{verb}: unexpected argument {quote(out['pods'][0])}")
        if pods == "one" and n != 1:
            raise LauncherError(f"{verb}: expected one pod")
        if pods == "many" and not n:
            raise LauncherError(f"{verb}: expected a pod")
    return out
