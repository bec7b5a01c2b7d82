#!/bin/sh
# Builds the static pause binary into pause/bin/pause (and, when
# csrc/monitor.c exists, the launcher's pod monitor into pause/bin/pod-monitor).
# musl-gcc when present (a few KB); gcc -static otherwise (glibc, ~700 KB).
# Usage: csrc/build-static.sh VERSION     Environment: CC overrides the compiler.
set -eu
version=${1:?usage: csrc/build-static.sh VERSION}
cd "$(dirname "$0")/.."
if [ -z "${CC:-}" ]; then
    if command -v musl-gcc >/dev/null 2>&1; then CC=musl-gcc
    else CC=gcc; echo "build-static: musl-gcc not found (apt-get install musl-tools); using gcc -static" >&2
    fi
fi
flags="-Os -static -s -Wall -Wextra -Werror -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-stack-protector
       -ffunction-sections -fdata-sections -Wl,--gc-sections -Wl,--build-id=none -Wl,-z,norelro -Wl,-z,noseparate-code"
mkdir -p pause/bin
# shellcheck disable=SC2086
$CC $flags -DPAUSE_VERSION="\"$version\"" -Icsrc -o pause/bin/pause.tmp csrc/pause_main.c csrc/pause_core.c
mv pause/bin/pause.tmp pause/bin/pause
if [ -f csrc/monitor.c ]; then
    # shellcheck disable=SC2086
    $CC $flags -Icsrc -o pause/bin/pod-monitor.tmp csrc/monitor.c
    mv pause/bin/pod-monitor.tmp pause/bin/pod-monitor
fi
