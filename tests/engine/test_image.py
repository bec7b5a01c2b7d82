"""The pause image itself: what it contains, how it is labelled, how it runs
on its own under podman, and how scripts/build-image.sh treats ARCH."""
import json
import os
import platform
import shutil
import subprocess
import tarfile
import time

import podman_env
from podman_env import wait_until

VERSION = {}
with open(os.path.join(podman_env.ROOT, "pause", "_version.py")) as f:
    exec(f.read(), VERSION)
VERSION = VERSION["__version__"]


def test_image_is_one_static_binary(podman, pause_image, tmp_path):
    """The image is FROM scratch plus one layer holding only /pause: a static
    executable, mode 0755, owned by root; at most 20 kB in all."""
    archive = tmp_path / "image.tar"
    podman.run("save", "-o", archive, pause_image)
    with tarfile.open(archive) as image:
        manifest = json.load(image.extractfile("manifest.json"))
        layers = manifest[0]["Layers"]
        assert len(layers) == 1
        with tarfile.open(fileobj=image.extractfile(layers[0])) as layer:
            members = layer.getmembers()
            assert [(m.name, m.mode & 0o7777, m.uid) for m in members] == [("pause", 0o755, 0)]
            layer.extract(members[0], tmp_path)
    assert podman_env.is_static_elf(tmp_path / "pause")
    size = int(podman.out("image", "inspect", "--format", "{{.Size}}", pause_image))
    assert size <= podman_env.IMAGE_SIZE_TARGET, "image is %d bytes" % size


def test_image_config_and_labels(podman, pause_image):
    """The image runs /pause as 65535:65535, for the host's architecture, and
    carries the OCI labels with the version of pause/_version.py."""
    config = json.loads(podman.out("image", "inspect", pause_image))[0]
    assert config["Config"]["User"] == "65535:65535"
    assert config["Config"]["Entrypoint"] == ["/pause"]
    assert config["Os"] == "linux"
    assert config["Architecture"] == {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]
    labels = config["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.description"]
    assert labels["org.opencontainers.image.source"]
    assert pause_image == "localhost/pause:" + VERSION


def test_version_flag_in_the_image(podman, pause_image):
    """`podman run IMAGE -v` prints the version the image is labelled with."""
    out = podman.out("run", "--rm", "--pull=never", "--network", "none", pause_image, "-v")
    assert out == "pause " + VERSION


def test_runs_alone_as_65535_and_stops_on_term(podman, pause_image):
    """Run alone, the image's /pause is PID 1 of its container as uid 65535
    (podman top); `podman stop` (SIGTERM, 10 s before SIGKILL) ends it at once
    with exit code 0."""
    name = "pausetest-alone"
    podman.run("run", "-d", "--pull=never", "--network", "none", "--name", name, pause_image)
    try:
        top = podman.out("top", name, "user,pid,args").splitlines()
        assert top[1].split() == ["65535", "1", "/pause"]
        assert podman.out("top", name, "huser").splitlines()[1].strip() == "65535"
        started = time.monotonic()
        podman.run("stop", "-t", "10", name)
        took = time.monotonic() - started
        assert podman.out("inspect", "--format", "{{.State.ExitCode}}", name) == "0"
        assert took < 5, "podman stop took %.1f s (SIGKILL comes after 10 s)" % took
    finally:
        podman.run("rm", "-f", "-t", "0", name, check=False)


def cross_compiler(arch):
    """The cross compiler build-image.sh would pick for `arch`, or None."""
    gnu = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[arch]
    for candidate in (gnu.replace("-gnu", "-musl") + "-gcc", gnu + "-gcc"):
        if shutil.which(candidate):
            return candidate
    return None


def test_build_script_refuses_unknown_arch():
    """ARCH other than amd64/arm64: one line on stderr naming it, exit 2."""
    result = subprocess.run(["sh", "scripts/build-image.sh"], cwd=podman_env.ROOT,
                            env=dict(os.environ, ARCH="mips"), capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "build-image: ARCH=mips is not supported (amd64 or arm64)"]


def test_build_script_other_arch(podman):
    """The architecture the host is not: built for it when a cross compiler
    is installed; otherwise exit 2 with one line naming the compilers it
    looked for."""
    other = "arm64" if platform.machine() == "x86_64" else "amd64"
    result = podman.build_pause(arch=other)
    if cross_compiler(other):
        assert result.returncode == 0, result.stderr
        image = result.stdout.strip()
        assert image == "localhost/pause:%s-%s" % (VERSION, other)
        arch = podman.out("image", "inspect", "--format", "{{.Architecture}}", image)
        podman.run("rmi", image)
        assert arch == other
    else:
        assert result.returncode == 2
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and "needs a cross compiler" in lines[0], lines
    assert wait_until(lambda: not podman.mounts(), timeout=5)


def test_build_script_cross_branch_with_cross_cc(podman):
    """The cross-build branch, run here with CROSS_CC set to the host's own
    compiler standing in for a cross compiler (the plumbing, not the target
    code): the sources are staged and built in build/image/ARCH, the image is
    tagged VERSION-ARCH and labelled with that architecture, and
    pause/bin/pause, which the tests run, is left untouched."""
    cc = shutil.which("musl-gcc") or shutil.which("gcc")
    other = "arm64" if platform.machine() == "x86_64" else "amd64"
    ours = os.path.join(podman_env.ROOT, "pause", "bin", "pause")
    with open(ours, "rb") as f:
        before = f.read()
    env = dict(podman.env, ENGINE=" ".join(podman.argv()), ARCH=other, CROSS_CC=cc)
    result = subprocess.run(["sh", "scripts/build-image.sh"], cwd=podman_env.ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    image = result.stdout.strip()
    assert image == "localhost/pause:%s-%s" % (VERSION, other)
    try:
        arch = podman.out("image", "inspect", "--format", "{{.Architecture}}", image)
        assert arch == other
    finally:
        podman.run("rmi", image)
    staged = os.path.join(podman_env.ROOT, "build", "image", other, "pause", "bin", "pause")
    assert podman_env.is_static_elf(staged)
    with open(ours, "rb") as f:
        assert f.read() == before
