"""launcher rmi: remove images (podman's rules and exit codes)."""
from launcher.commands._image_args import parse_args, print_usage
from launcher.errors import LauncherError

USAGE = """\
usage: launcher rmi [--image-root DIR] [-f] [-a] IMAGE...

IMAGE is a name or an id (prefix). A name drops that tag; the image goes
with its last one. An image a pod uses is refused (exit 2); -f then only
drops its tags, it never stops a pod. Exit 1 when an image is not known.
Prints Untagged: NAME and Deleted: ID lines.
"""


def parse(argv):
    opts, rest = parse_args("rmi", argv, flags={"-f": "force", "--force": "force",
                                                "-a": "all", "--all": "all"}, usage=USAGE)
    if opts["help"]:
        return opts
    if not rest and not opts["all"]:
        raise LauncherError("rmi: name at least one IMAGE, or -a (see launcher rmi --help)")
    if rest and opts["all"]:
        raise LauncherError("rmi: -a takes no IMAGE")
    opts["images"] = rest
    return opts


def main(opts):
    if opts.get("help"):
        return print_usage(USAGE)
    from launcher.images import gc
    from launcher.images.store import Store
    with Store(opts.get("image_root")) as store:
        texts = opts["images"] or sorted(store.records())
        lines, errors = gc.rmi(store, texts, opts.get("force"), opts.get("is_live"))
    for line in lines:
        print(line)
    if errors:
        code = max(e.code for e in errors) if all(e.code in (1, 2) for e in errors) else 125
        more = f" (and {len(errors) - 1} more: " + "; ".join(str(e) for e in errors[1:]) + ")" \
            if len(errors) > 1 else ""
        raise LauncherError(f"{errors[0]}{more}", code=code)
    return 0
