"""Argument parsing shared by the image verbs (pull, load, images, rmi,
image): podman's spellings, `--opt VALUE` and `--opt=VALUE`, short flags
that can be bundled (-fa), `--` ending options. Bad usage is one
LauncherError line."""
from launcher.errors import LauncherError


def parse_args(verb, argv, flags=(), options=(), usage=""):
    """(opts, positional) from argv. flags: {spelling: key} for booleans,
    options: {spelling: key} for those taking a value. --image-root and
    -h/--help are always known."""
    flags = dict(flags, **{"-h": "help", "--help": "help"})
    options = dict(options, **{"--image-root": "image_root"})
    opts, rest = {key: False for key in flags.values()}, []
    opts.update({key: None for key in options.values()})
    words = list(argv)
    while words:
        w = words.pop(0)
        if w == "--":
            rest += words
            break
        if w.startswith("--") and "=" in w:
            name, value = w.split("=", 1)
            if name not in options:
                raise LauncherError(f"{verb}: unknown option {name!r}{_see(verb)}")
            opts[options[name]] = value
        elif w in options:
            if not words:
                raise LauncherError(f"{verb}: {w} needs a value{_see(verb)}")
            opts[options[w]] = words.pop(0)
        elif w in flags:
            opts[flags[w]] = True
        elif w.startswith("-") and len(w) > 2 and not w.startswith("--") and \
                all(f"-{c}" in flags for c in w[1:]):
            for c in w[1:]:
                opts[flags[f"-{c}"]] = True
        elif w.startswith("-") and w != "-":
            raise LauncherError(f"{verb}: unknown option {w!r}{_see(verb)}")
        else:
            rest.append(w)
    if opts.get("image_root") == "":
        raise LauncherError(f"{verb}: --image-root needs a directory")
    return opts, rest


def _see(verb):
    return f" (see launcher {verb} --help)"


def print_usage(usage):
    print(usage.rstrip("\n"))
    return 0
