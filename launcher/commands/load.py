"""launcher load: images from a docker-archive or oci-archive file."""
import sys

from launcher.commands._image_args import parse_args, print_usage
from launcher.errors import LauncherError

USAGE = """\
usage: launcher load [--image-root DIR] [-i] FILE|-

FILE is what `podman save` / `docker save` (docker-archive) or
`skopeo copy ... oci-archive:FILE` write; - (or no FILE, from a pipe) reads
standard input. Prints `Loaded image: NAME` for each image.
"""


def parse(argv):
    opts, rest = parse_args("load", argv, options={"-i": "input", "--input": "input"},
                            usage=USAGE)
    if opts["help"]:
        return opts
    if opts["input"] is not None:
        rest = [opts["input"]] + rest
    if len(rest) > 1:
        raise LauncherError("load: one FILE or - (see launcher load --help)")
    if not rest:
        if sys.stdin is None or sys.stdin.isatty():
            raise LauncherError("load: give a FILE, or - to read an archive from a pipe")
        rest = ["-"]
    opts["file"] = rest[0]
    return opts


def main(opts):
    if opts.get("help"):
        return print_usage(USAGE)
    from launcher.images import pull
    stdin = opts.get("stdin") or (sys.stdin.buffer if opts["file"] == "-" else None)
    for names, image_id in pull.load(opts["file"], opts.get("image_root"), stdin=stdin):
        for name in names or [f"sha256:{image_id}"]:
            print(f"Loaded image: {name}")
    return 0
