"""Pods on images, through the launcher: `run --image`, `-c NAME:IMAGE=CMD`,
manifests' `image:` with imagePullPolicy, the image config's Kubernetes
semantics, a container that sees only its image, exec in its root, the
pod's shared files, volumes, holds on the image, and nothing left after
rm. The session's image root has busybox (tests/integration/conftest.py)."""
import os

import pytest

from launcher_env import wait_for

BUSYBOX = "localhost/busybox"


def manifest(tmp_path, body, name="img"):
    path = tmp_path / f"{name}.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n%s" % (name, body))
    return str(path)


def test_a_container_on_an_image_sees_only_the_image(lx):
    """run --image: the container's / is the image (busybox's tree, not the
    host's /root, /home or /work), its hostname file the pod's, its /proc
    its own PID namespace's."""
    r = lx.run("run", "--name", "only", "--image", BUSYBOX, "--", "sh", "-c",
               "ls /; cat /etc/hostname; ls /proc | grep -c '^[0-9]'; ls /root /home /work 2>&1; true")
    assert r.returncode == 0, r.stderr
    out = [ln[len("sh | "):] for ln in r.stdout.splitlines()]
    assert "bin" in out and "linuxrc" in out and "usr" in out
    assert "only" in out
    assert not any(ln.startswith("work") for ln in out)
    assert "ls: /home: No such file or directory" in out or "ls: /work: No such file or directory" in out


def test_the_image_config_follows_kubernetes(lx, tmp_path):
    """Neither command nor args: the image's Cmd; args replace the Cmd;
    command replaces the Entrypoint; the image's env first, the container's
    over it; workingDir else the image's, else /."""
    m = manifest(tmp_path, "  restartPolicy: Never\n  containers:\n"
                 "  - name: dflt\n    image: busybox:1.28\n"
                 "  - name: args\n    image: busybox:1.28\n    args: [echo, from-args]\n"
                 "  - name: cmd\n    image: busybox:1.28\n    command: [sh, -c]\n"
                 "    args: ['echo $PATH $MINE; pwd']\n    workingDir: /tmp\n"
                 "    env: [{name: MINE, value: mine}]\n")
    r = lx.run("play", m, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "args | from-args" in lines
    cmd = [ln for ln in lines if ln.startswith("cmd | ")][0]
    path, mine = cmd[len("cmd | "):].split()[:2]
    assert mine == "mine" and "/bin" in path
    assert "cmd | /tmp" in lines


def test_pods_hold_their_image_and_rm_releases_it(lx):
    """rmi of an image a pod uses is refused (exit 2) and -f only untags it;
    once the pod is removed its hold is gone and rmi removes the image (a
    pull of the multi-layer test image of its own, so the session's stay)."""
    from launcher.images import testimages
    layout = testimages.multilayer_image()
    image_id = lx.ok("pull", f"oci:{layout}:latest").strip()
    lx.ok("run", "-d", "--name", "holder", "--image", image_id[:12], "--", "sleep", "60")
    r = lx.run("rmi", image_id[:12])
    assert r.returncode == 2 and "in use" in r.stderr, r.stderr
    st = lx.inspect("holder")
    [c] = st["containers"]
    assert c["image_id"] == image_id and c["image_digest"].startswith("sha256:")
    assert os.listdir(os.path.join(lx.image_root, "holds")) == [st["id"]]
    lx.ok("rm", "-f", "holder")
    assert os.listdir(os.path.join(lx.image_root, "holds")) == []
    lx.ok("rmi", image_id[:12])
    assert image_id not in lx.ok("images", "--no-trunc")


def test_a_missing_image_is_err_image_pull_then_image_pull_back_off(lx, tmp_path):
    """play -d of a pod whose image is not there and may not be pulled
    (Never): the pod stays Pending, its container waits with reason
    ErrImageNeverPull then ImagePullBackOff, retried; the events say so."""
    m = manifest(tmp_path, "  containers:\n  - name: c\n    image: localhost/nothere:1\n"
                 "    imagePullPolicy: Never\n", name="missing")
    lx.ok("play", "-d", "--backoff", "0.1", m)

    def backing_off():
        st = lx.inspect("missing")
        return st if st["lifecycle"]["containers"][0]["reason"] == "ImagePullBackOff" else None
    st = wait_for(backing_off, 20)
    assert st, lx.inspect("missing")
    assert st["phase"] == "Pending"
    msgs = [e["message"] for e in st["lifecycle"]["events"] if e["type"] in ("Failed", "BackOff")]
    assert any(m.startswith("ErrImageNeverPull: Container image \"localhost/nothere:1\" is not "
                            "present with pull policy of Never") for m in msgs), msgs
    assert any("ImagePullBackOff" in m for m in msgs)
    lx.ok("rm", "-f", "missing")


def test_a_registry_that_cannot_be_reached_is_err_image_pull(lx, tmp_path):
    """An image only a registry could give (none is reachable): ErrImagePull
    with skopeo's one line; `run` refuses it before making anything."""
    r = lx.run("run", "--image", "docker://127.0.0.1:9/nope:1", "--", "true", timeout=120)
    assert r.returncode == 125 and r.stderr.count("\n") == 1 and "nope" in r.stderr, r.stderr
    assert lx.ps() == []


def test_exec_enters_the_containers_root(lx):
    """exec in a container on an image runs in its root and working
    directory: it finds the image's files, not the host's."""
    lx.ok("run", "-d", "--name", "ex", "--image", BUSYBOX, "-w", "/etc", "--", "sleep", "60")
    out = lx.ok("exec", "ex", "--", "sh", "-c", "pwd; ls /; test -e /work || echo no-host")
    assert out.splitlines()[0] == "/etc" and "linuxrc" in out and "no-host" in out
    lx.ok("rm", "-f", "ex")


def test_containers_of_a_pod_share_dev_shm_and_its_etc_files(lx):
    """Two containers of a pod: a file one writes in /dev/shm the other
    reads; both see the pod's /etc/hosts with the pod's name."""
    lx.ok("run", "-d", "--name", "sharing", "--image", BUSYBOX,
          "-c", "a=sh -c 'echo hello > /dev/shm/note; sleep 60'", "-c", "b=sleep 60")
    assert wait_for(lambda: lx.run("exec", "sharing", "-c", "b", "--", "cat",
                                   "/dev/shm/note").stdout == "hello\n", 10)
    hosts = lx.ok("exec", "sharing", "-c", "b", "--", "cat", "/etc/hosts")
    assert "sharing" in hosts and "localhost" in hosts
    lx.ok("rm", "-f", "sharing")


def test_volumes_emptydir_hostpath_and_a_read_only_root(lx, tmp_path):
    """An emptyDir shared by two containers, a hostPath read-only, and
    readOnlyRootFilesystem: writes to / fail, the volumes behave."""
    host = tmp_path / "site"
    host.mkdir()
    (host / "index.html").write_text("from the host\n")
    m = manifest(tmp_path, "  restartPolicy: Never\n"
                 "  volumes:\n  - name: scratch\n    emptyDir: {}\n"
                 f"  - name: site\n    hostPath: {{path: {host}, type: Directory}}\n"
                 "  containers:\n"
                 "  - name: writer\n    image: busybox:1.28\n"
                 "    command: [sh, -c, 'echo shared > /scratch/f; touch /root-file 2>&1 | grep -c Read-only; "
                 "echo x > /site/index.html 2>/dev/null || echo site-ro']\n"
                 "    securityContext: {readOnlyRootFilesystem: true}\n"
                 "    volumeMounts:\n    - {name: scratch, mountPath: /scratch}\n"
                 "    - {name: site, mountPath: /site, readOnly: true}\n"
                 "  - name: reader\n    image: busybox:1.28\n"
                 "    command: [sh, -c, 'sleep 0.5; cat /scratch/f /site/index.html']\n"
                 "    volumeMounts:\n    - {name: scratch, mountPath: /scratch}\n"
                 "    - {name: site, mountPath: /site}\n", name="vols")
    r = lx.run("play", m, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "writer | 1" in r.stdout and "writer | site-ro" in r.stdout, r.stdout
    assert "reader | shared" in r.stdout and "reader | from the host" in r.stdout
    assert (host / "index.html").read_text() == "from the host\n"


@pytest.mark.parametrize("user, expect", [
    ("{runAsUser: 1000, runAsGroup: 1000}", "uid=1000 gid=1000"),
    ("{runAsUser: 65534}", "uid=65534"),
])
def test_run_as_user(lx, tmp_path, user, expect):
    """securityContext.runAsUser/runAsGroup: the container's process runs as
    that user, with no capability."""
    m = manifest(tmp_path, "  restartPolicy: Never\n  containers:\n"
                 "  - name: who\n    image: busybox:1.28\n"
                 "    command: [sh, -c, 'id; grep CapEff /proc/self/status']\n"
                 f"    securityContext: {user}\n", name="who")
    r = lx.run("play", m, timeout=60)
    assert r.returncode == 0, r.stderr
    assert expect in r.stdout and "CapEff:\t0000000000000000" in r.stdout, r.stdout


@pytest.mark.parametrize("user, expect", [
    ("nobody", "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"),
    ("nobody:root", "uid=65534(nobody) gid=0(root) groups=0(root)"),
    ("1234:5678", "uid=1234 gid=5678 groups=5678"),
    ("0", "uid=0(root) gid=0(root) groups=0(root)"),
])
def test_run_user_replaces_the_images_user(lx, user, expect):
    """run --user USER[:GROUP]: names from the container's own /etc/passwd
    and /etc/group, or ids; a non-root user has no capability; the record
    shows who it ran as."""
    r = lx.run("run", "--image", BUSYBOX, "--user", user, "--", "sh", "-c",
               "id; grep CapEff /proc/self/status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"sh | {expect}", r.stdout
    assert (lines[1] == "sh | CapEff:\t0000000000000000") == (user != "0"), r.stdout


def test_run_user_refusals_are_one_line(lx):
    """A malformed --user before anything is made, --user without an image,
    and a name the image lacks (the container's set-up step): 125, one line."""
    for args, msg in ((["--image", BUSYBOX, "--user", "a:"],
                       "--user 'a:': the group after ':' is empty"),
                      (["--image", BUSYBOX, "-u", "99999999999"],
                       "--user: user: 99999999999 is not a user or group id (0-4294967294)"),
                      (["--image", BUSYBOX, "--user", ""], "--user: empty"),
                      (["--user", "nobody"], "--user need containers on an image")):
        r = lx.run("run", *args, "--", "true")
        assert r.returncode == 125 and r.stderr.count("\n") == 1 and msg in r.stderr, (args, r)
    r = lx.run("run", "--image", BUSYBOX, "--user", "ghost", "--", "true")
    assert r.returncode == 125 and r.stderr.count("\n") == 1, r
    assert "user 'ghost' not found in the image's /etc/passwd" in r.stderr, r.stderr
    assert lx.ps() == []


def test_a_restart_gets_a_fresh_writable_layer(lx):
    """A file a container wrote to / is gone when it restarts (Kubernetes:
    the container's writable layer goes with it)."""
    lx.ok("run", "-d", "--name", "fresh", "--image", BUSYBOX, "--restart", "Always",
          "--backoff", "0.1", "--", "sh", "-c",
          "if [ -e /mark ]; then echo SEEN; else echo NEW; fi; touch /mark; sleep 0.2")
    assert wait_for(lambda: lx.inspect("fresh")["containers"][0]["restarts"] >= 2, 20)
    logs = lx.ok("logs", "fresh")
    assert "NEW" in logs and "SEEN" not in logs, logs
    lx.ok("rm", "-f", "fresh")


def test_bad_image_flags_are_one_line(lx):
    """-v without an image, a bad -v, a bad --pull: 125, one line."""
    for args in (["-v", "/tmp:/x", "--", "true"], ["--image", BUSYBOX, "-v", "relative:/x", "--", "true"],
                 ["--image", BUSYBOX, "-v", "/tmp:/x:rx", "--", "true"],
                 ["--image", BUSYBOX, "--pull", "sometimes", "--", "true"]):
        r = lx.run("run", *args)
        assert r.returncode == 125 and r.stderr.count("\n") == 1, (args, r.stderr)
