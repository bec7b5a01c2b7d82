"""launcher image: inspect and prune (ls, rm, pull, load as aliases)."""
import json

from launcher.commands._image_args import parse_args, print_usage
from launcher.errors import LauncherError

USAGE = """\
usage: launcher image inspect [--image-root DIR] IMAGE...
       launcher image prune [--image-root DIR] [-a]
       launcher image ls|rm|pull|load ...   (= images, rmi, pull, load)

inspect prints a JSON list as podman image inspect does. prune removes the
images without a name (-a: every image) that no pod uses, then every layer
and blob no image needs, and what killed pulls left; it prints the ids of
the removed images and the removed layers.
"""
_ALIASES = {"ls": "images", "list": "images", "rm": "rmi", "pull": "pull", "load": "load"}


def _alias(name):
    import importlib
    return importlib.import_module(f"launcher.commands.{_ALIASES[name]}")


def parse(argv):
    if not argv or argv[0] in ("-h", "--help"):
        if not argv:
            raise LauncherError("image: name a subcommand: inspect, prune, ls, rm, pull, load")
        return {"help": True}
    sub, rest = argv[0], argv[1:]
    if sub in _ALIASES:
        return {"alias": sub, "opts": _alias(sub).parse(rest)}
    if sub == "inspect":
        opts, names = parse_args("image inspect", rest, usage=USAGE)
        if not names and not opts["help"]:
            raise LauncherError("image inspect: name at least one IMAGE")
        opts["images"] = names
    elif sub == "prune":
        opts, extra = parse_args("image prune", rest, flags={"-a": "all", "--all": "all",
                                                             "-f": "force", "--force": "force"},
                                 usage=USAGE)
        if extra:
            raise LauncherError(f"image prune: unexpected argument {extra[0]!r}")
    else:
        raise LauncherError(f"image: unknown subcommand {sub!r} (see launcher image --help)")
    opts["sub"] = sub
    return opts


def inspect_one(store, image_id):
    """podman image inspect's object for one image."""
    from launcher.images.ensure import image_of
    rec = store.record(image_id)
    cfg = json.loads(store.blob(image_id))
    image = image_of(store, image_id)
    try:
        manifest = json.loads(store.blob(rec["digest"][7:]))
    except (OSError, ValueError, KeyError):
        manifest = {}
    return {"Id": image_id, "Digest": rec.get("digest", ""), "RepoTags": list(image.names),
            "RepoDigests": rec.get("repo_digests", []), "Parent": "", "Comment": "",
            "Created": cfg.get("created", ""), "Config": cfg.get("config") or {},
            "Version": cfg.get("docker_version", ""), "Author": cfg.get("author", ""),
            "Architecture": cfg.get("architecture", ""), "Os": cfg.get("os", ""),
            "Variant": cfg.get("variant", ""), "Size": rec.get("size", 0),
            "VirtualSize": rec.get("size", 0),
            "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": image.lowerdir()}},
            "RootFS": {"Type": "layers", "Layers": [lay["diff_id"] for lay in rec["layers"]]},
            "Labels": image.config.labels or None,
            "Annotations": manifest.get("annotations") or {},
            "ManifestType": rec.get("media_type", ""), "User": image.config.user,
            "History": cfg.get("history") or [], "NamesHistory": []}


def main(opts):
    if opts.get("help"):
        return print_usage(USAGE)
    if "alias" in opts:
        sub = dict(opts["opts"])
        for key in ("is_live", "stdin"):
            if key in opts:
                sub[key] = opts[key]
        return _alias(opts["alias"]).main(sub)
    from launcher.images import gc
    from launcher.images.ensure import NotFound, find
    from launcher.images.store import Store
    with Store(opts.get("image_root")) as store:
        if opts["sub"] == "prune":
            report = gc.prune(store, opts.get("all"), opts.get("is_live"))
            for image_id in report["images"]:
                print(image_id)
            for hexd in report["layers"]:
                print(f"Deleted layer: sha256:{hexd}")
            return 0
        out, missing = [], []
        for text in opts["images"]:
            found = find(store, text)
            if found is None:
                missing.append(NotFound(text))
            else:
                out.append(inspect_one(store, found[0]))
    print(json.dumps(out, indent=4))
    if missing:
        raise LauncherError(str(missing[0]), code=125)
    return 0
