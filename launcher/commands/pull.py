"""launcher pull: copy an image into the local store and unpack it."""
from launcher.commands._image_args import parse_args, print_usage
from launcher.errors import LauncherError

USAGE = """\
usage: launcher pull [--image-root DIR] [--platform OS/ARCH] IMAGE

IMAGE is a registry reference (busybox, docker://quay.io/x/y:1) or
oci:DIR[:NAME], oci-archive:FILE[:NAME], docker-archive:FILE[:REF|:@N],
containers-storage:[DRIVER@GRAPHROOT+RUNROOT]REF. Prints the image id.
"""


def parse(argv):
    opts, rest = parse_args("pull", argv, options={"--platform": "platform"}, usage=USAGE)
    if opts["help"]:
        return opts
    if len(rest) != 1:
        raise LauncherError("pull: exactly one IMAGE (see launcher pull --help)")
    opts["image"] = rest[0]
    return opts


def main(opts):
    if opts.get("help"):
        return print_usage(USAGE)
    from launcher.images import pull
    result = pull.pull(opts["image"], opts.get("image_root"), opts.get("platform"))
    print(result.image_id)
    return 0
