#!/bin/sh
# Builds the pause image (Dockerfile at the repository root) from the static
# binary `make build` produced, with podman (or docker).
#
# Usage: sh scripts/build-image.sh        (`make image` calls it after `make build`)
# Environment:
#   ARCH=amd64|arm64  image architecture; default: the host's. For the host's
#                     architecture the image takes pause/bin/pause as it is; for
#                     the other one the binary is cross-compiled with csrc/build-static.sh
#                     into build/image/ARCH/, which needs a cross compiler (CROSS_CC,
#                     or ARCH's musl-gcc / gnu-gcc on PATH).
#   IMAGE             repository name; default localhost/pause. Tag: VERSION from
#                     pause/_version.py, or VERSION-ARCH for a cross build.
#   ENGINE            the build command, e.g. "podman --root /tmp/x" or "docker";
#                     default: podman when installed, else docker.
#   SOURCE_URL        org.opencontainers.image.source; default: git's origin URL.
# Exit codes: 0 built (prints the image reference on stdout), 1 build failed,
# 2 bad ARCH or a missing prerequisite (one line on stderr says which).
set -eu
cd "$(dirname "$0")/.."

die() { echo "build-image: $2" >&2; exit "$1"; }

# Both names Debian and Go use for the two supported architectures.
normalise_arch() {
    case "$1" in
        amd64|x86_64) echo amd64 ;;
        arm64|aarch64) echo arm64 ;;
        *) return 1 ;;
    esac
}

host_arch=$(normalise_arch "$(uname -m)") || die 2 "unsupported host architecture $(uname -m)"
arch=$(normalise_arch "${ARCH:-$host_arch}") || die 2 "ARCH=${ARCH} is not supported (amd64 or arm64)"
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' pause/_version.py)
[ -n "$version" ] || die 2 "no __version__ in pause/_version.py"
image=${IMAGE:-localhost/pause}

if [ -z "${ENGINE:-}" ]; then
    if command -v podman >/dev/null 2>&1; then ENGINE=podman
    elif command -v docker >/dev/null 2>&1; then ENGINE=docker
    else die 2 "neither podman nor docker is installed (apt-get install podman)"
    fi
fi
source_url=${SOURCE_URL:-$(git config --get remote.origin.url 2>/dev/null || echo unknown)}

# A small build context of its own per architecture, build/image/ARCH, holding
# the binary at the path the Dockerfile expects (pause/bin/pause), so the engine
# is never handed the whole repository (.venv, .git). The host's architecture
# takes the binary `make build` made; another one is cross-compiled there, so
# pause/bin/pause (which the tests run) is never overwritten.
context=build/image/$arch
rm -rf "$context"
mkdir -p "$context/pause/bin"
if [ "$arch" = "$host_arch" ]; then
    [ -x pause/bin/pause ] || die 2 "pause/bin/pause is missing: run 'make build' first"
    cp pause/bin/pause "$context/pause/bin/pause"
    tag=$version
else
    case "$arch" in
        amd64) gnu=x86_64-linux-gnu ;;
        arm64) gnu=aarch64-linux-gnu ;;
    esac
    musl=$(echo "$gnu" | sed 's/-gnu$/-musl/')
    cc=${CROSS_CC:-}
    if [ -z "$cc" ]; then
        for candidate in "$musl-gcc" "$gnu-gcc"; do
            if command -v "$candidate" >/dev/null 2>&1; then cc=$candidate; break; fi
        done
    fi
    [ -n "$cc" ] || die 2 "ARCH=$arch needs a cross compiler: none of $musl-gcc, $gnu-gcc found (apt-get install gcc-$gnu libc6-dev-$arch-cross, or set CROSS_CC)"
    mkdir -p "$context/csrc"
    cp csrc/build-static.sh csrc/pause.h csrc/pause_core.c csrc/pause_main.c "$context/csrc/"
    CC=$cc sh "$context/csrc/build-static.sh" "$version" || die 1 "cross build with $cc failed"
    tag=$version-$arch
fi

# podman would look a FROM up in a registry unless told not to, and would keep
# an intermediate image per instruction without --layers=false; docker's --pull
# is a yes/no flag and never pulls `scratch`.
case "$ENGINE" in
    *podman*) engine_opts="--pull=never --layers=false" ;;
    *) engine_opts= ;;
esac

# shellcheck disable=SC2086  # ENGINE may carry global options
$ENGINE build $engine_opts --platform "linux/$arch" -f Dockerfile -t "$image:$tag" \
    --build-arg VERSION="$version" --build-arg SOURCE="$source_url" \
    "$context" >&2 || die 1 "$ENGINE build failed"
echo "$image:$tag"
