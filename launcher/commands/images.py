"""launcher images: list the store's images as podman does."""
import json
import time

from launcher.commands._image_args import parse_args, print_usage
from launcher.errors import LauncherError

USAGE = """\
usage: launcher images [--image-root DIR] [--format table|json] [-q] [--no-trunc]

Columns: REPOSITORY TAG IMAGE ID CREATED SIZE, newest first; an image with
no name shows <none> <none>. --format json prints a JSON list, one object
per image.
"""


def parse(argv):
    opts, rest = parse_args("images", argv, flags={"-q": "quiet", "--quiet": "quiet",
                                                   "--no-trunc": "no_trunc"},
                            options={"--format": "format"}, usage=USAGE)
    if rest:
        raise LauncherError(f"images: unexpected argument {rest[0]!r} (see launcher images --help)")
    if opts["format"] not in (None, "table", "json"):
        raise LauncherError(f"images: --format {opts['format']!r}: use table or json")
    return opts


def listing(store, is_live=None):
    """One dict per image (podman's JSON fields), newest first."""
    from launcher.images.config import created_unix
    tags = store.tags()
    holds = store.holds()
    out = []
    for image_id, rec in store.records().items():
        names = sorted(n for n, i in tags.items() if i == image_id)
        users = [p for p, ids in holds.items() if image_id in ids and (is_live is None or
                                                                       is_live(p))]
        created = created_unix(rec.get("created"))
        out.append({"Id": image_id, "ParentId": "", "RepoTags": names,
                    "RepoDigests": rec.get("repo_digests", []), "Size": rec.get("size", 0),
                    "SharedSize": 0, "VirtualSize": rec.get("size", 0), "Labels": None,
                    "Containers": len(users), "Names": names, "Digest": rec.get("digest", ""),
                    "Dangling": not names, "Created": int(created),
                    "CreatedAt": rec.get("created", ""), "Platform": rec.get("platform", "")})
    out.sort(key=lambda d: (-d["Created"], d["Names"][:1], d["Id"]))
    return out


def _rows(images, no_trunc):
    from launcher.images import humanize
    now = time.time()
    rows = [("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE")]
    for img in images:
        short = img["Id"] if no_trunc else img["Id"][:12]
        created = humanize.ago(img["Created"], now) if img["Created"] else "<unknown>"
        size = humanize.size(img["Size"])
        for name in img["Names"] or ["<none>:<none>"]:
            repo, _, tag = name.rpartition(":")
            rows.append((repo, tag, short, created, size))
    return rows


def main(opts):
    if opts.get("help"):
        return print_usage(USAGE)
    from launcher.images.store import Store
    with Store(opts.get("image_root")) as store:
        images = listing(store, opts.get("is_live"))
    if opts.get("format") == "json":
        print(json.dumps(images, indent=4))
    elif opts.get("quiet"):
        for img in images:
            print(img["Id"] if opts.get("no_trunc") else img["Id"][:12])
    else:
        from launcher.images import humanize
        print(humanize.table(_rows(images, opts.get("no_trunc"))))
    return 0
