#!/bin/sh
# Installs the Debian packages the project builds, tests and benchmarks with,
# when any is missing. Needs root (CI and the dev machines are root).
# python3-cffi-backend, python3-yaml and python3-prctl: the launcher's imports
# for Debian's /usr/bin/python3, which a non-root user can run when the
# project's .venv Python cannot be reached (the rootless tests use it).
set -eu
packages="libcap-dev musl-tools gcc make python3-venv iproute2 iptables procps util-linux
          tini dumb-init catatonit bubblewrap podman runc busybox-static
          containernetworking-plugins hyperfine strace
          skopeo umoci mmdebstrap uidmap passt slirp4netns crun
          python3-cffi-backend python3-yaml python3-prctl"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Rootless pods' network (pasta, docs/rootless.md) opens /dev/net/tun as the
# user: distributions ship it mode 0666, some machines (this project's CI
# among them) 0600, where pasta fails with "Permission denied".
tun_mode() {
    if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ] && [ "$(id -u)" = 0 ]; then
        echo "setup-system: chmod 0666 /dev/net/tun (for rootless pods' pasta)" >&2
        chmod 0666 /dev/net/tun
    fi
}
tun_mode
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "setup-system: missing Debian packages:$missing (run as root, or install them)" >&2
    exit 1
fi
echo "setup-system: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
