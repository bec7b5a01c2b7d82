"""Measures our pause image against podman's default infra (catatonit) and
prints, or writes into docs/image.md, the comparison table.

Both pods are played side by side from the same Pod manifest
(shareProcessNamespace: true) in an isolated podman (scripts/podman_env.py),
one with our image as containers.conf's infra_image, one with podman's
default; the table gives each infra's image, its size as podman reports it,
the infra process's RSS, and PID 1 as seen in the pod.

Usage: python3 scripts/image_compare.py [--write docs/image.md]
Exit codes: 0 measured, 1 podman failed, 2 podman cannot run here.
"""
import argparse
import datetime
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import podman_env  # noqa: E402

BEGIN = "<!-- image-compare:begin (written by scripts/image_compare.py) -->"
END = "<!-- image-compare:end -->"


def measure():
    """Plays both pods, measures their infras, tears everything down; returns
    (ours, default, podman version) with infra_footprint dicts."""
    podman = podman_env.Podman(tempfile.mkdtemp(prefix="image-compare-"))
    try:
        podman.build_busybox()
        built = podman.build_pause()
        if built.returncode != 0:
            raise podman_env.PodmanError("build-image.sh: " + built.stderr.strip().splitlines()[-1])
        ours_podman = podman.with_infra_image(built.stdout.strip())
        ours_id = podman_env.kube_play(ours_podman, "infra-ours")
        default_id = podman_env.kube_play(podman, "infra-default")
        ours = podman_env.infra_footprint(podman, ours_id)
        default = podman_env.infra_footprint(podman, default_id)
        version = podman.out("version", "--format", "{{.Client.Version}}")
        podman_env.kube_down(ours_podman, "infra-ours", ours_id)
        podman_env.kube_down(podman, "infra-default", default_id)
        return ours, default, version
    finally:
        podman.destroy()


def table(ours, default, version):
    """The markdown table, with a line saying where and how it was measured."""
    rows = ["| infra | image | image size | infra RSS | PID 1 in the pod |",
            "|---|---|---:|---:|---|"]
    for label, m in (("this project's pause", ours), ("podman default (catatonit)", default)):
        rows.append("| %s | `%s` | %.1f kB | %d kB | `%s` |"
                    % (label, m["image"], m["image_bytes"] / 1000.0, m["rss_kb"], m["pid1"]))
    rows.append("")
    rows.append("Measured %s with podman %s (runc, cgroupfs) by `python3 scripts/image_compare.py"
                " --write docs/image.md`: image size as `podman image inspect` reports it, RSS"
                " from the infra's /proc/PID/status while both pods run side by side."
                % (datetime.date.today().isoformat(), version))
    return "\n".join(rows)


def write(path, text):
    """Replaces what lies between the markers in `path` with `text`."""
    with open(path) as f:
        doc = f.read()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(doc):
        raise SystemExit("image_compare: %s has no %s ... %s markers" % (path, BEGIN, END))
    with open(path, "w") as f:
        f.write(pattern.sub(lambda _: BEGIN + "\n" + text + "\n" + END, doc))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="MARKDOWN", help="replace the table in this file")
    args = parser.parse_args()
    reason = podman_env.unusable_reason()
    if reason:
        print("image_compare: " + reason, file=sys.stderr)
        return 2
    try:
        text = table(*measure())
    except podman_env.PodmanError as e:
        print("image_compare: %s" % e, file=sys.stderr)
        return 1
    if args.write:
        write(args.write, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
