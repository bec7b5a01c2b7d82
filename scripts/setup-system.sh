#!/bin/sh
# Installs the Debian packages the project builds, tests and benchmarks with,
# when any is missing. Needs root (CI and the dev machines are root).
set -eu
packages="libcap-dev musl-tools gcc make python3-venv iproute2 iptables procps util-linux
          tini dumb-init catatonit bubblewrap podman runc busybox-static
          containernetworking-plugins hyperfine strace
          skopeo umoci mmdebstrap uidmap passt slirp4netns crun"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
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
