"""Rootless pods (docs/rootless.md): every verb as an ordinary user, in a
user namespace held by pause, with pasta's network and nothing left."""
import json
import os
import socket
import stat
import urllib.request

import pytest

from helpers import sleep_until, subids

BUSYBOX = "localhost/busybox:latest"


def texts(stdout):
    """A foreground pod's output lines without their `NAME | ` prefix."""
    return [ln.split(" | ", 1)[1] if " | " in ln else ln for ln in stdout.splitlines()]


def _holder(u):
    try:
        with open(os.path.join(u.state, ".userns")) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def test_the_demo_runs_as_an_ordinary_user_and_leaves_nothing(user):
    r = user.run("run", "--share-pid", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "client | GET http://127.0.0.1:8080/hostname -> demo" in r.stdout
    assert "/pause" in r.stdout.split("==> shell")[1].splitlines()[2]   # PID 1 is pause
    assert "demo done" in r.stdout
    assert _holder(user) is None       # the last pod gone: the holder too
    # (the fixture checks that no process of the user is left)


def test_ids_come_from_the_subordinate_ranges_through_newuidmap(user):
    out = user.ok("run", "--", "cat", "/proc/self/uid_map", "/proc/self/gid_map")
    rows = [ln.split() for ln in texts(out)]
    start, count = subids("/etc/subuid", user.pw.pw_name)
    gstart, gcount = subids("/etc/subgid", user.pw.pw_name)
    assert rows == [["0", str(user.pw.pw_uid), "1"], ["1", str(start), str(count)],
                    ["0", str(user.pw.pw_gid), "1"], ["1", str(gstart), str(gcount)]]


def test_without_subordinate_ids_one_id_is_mapped_with_a_notice(plain_user):
    r = plain_user.run("run", "--", "cat", "/proc/self/uid_map")
    assert r.returncode == 0, r.stderr
    assert " ".join(texts(r.stdout)).split() == ["0", str(plain_user.pw.pw_uid), "1"]
    assert "no subordinate ids" in r.stderr and "images with several users will not work" \
        in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_detached_pods_share_one_holder_and_every_verb_works(user):
    a = user.ok("run", "-d", "--name", "a", "--share-pid", "--", "sleep", "300").strip()
    b = user.ok("run", "-d", "--name", "b", "--", "sleep", "300").strip()
    holder = _holder(user)
    assert holder is not None
    ns = os.readlink(f"/proc/{holder['pid']}/ns/user")
    assert ns != os.readlink("/proc/self/ns/user")
    pods = {p["name"]: p for p in json.loads(user.ok("ps", "--format", "json"))}
    assert set(pods) == {"a", "b"} and all(p["state"] == "running" for p in pods.values())
    out = user.ok("exec", "a", "--", "sh", "-c", "id -u; hostname; readlink /proc/self/ns/user")
    uid, host, userns = out.split()
    assert (uid, host, userns) == ("0", "a", ns)       # root inside, the pod's UTS, one userns
    user.ok("exec", "b", "--", "sh", "-c", "echo to-the-log > /proc/1/fd/1")
    assert sleep_until(lambda: "to-the-log" in user.run("logs", "b").stdout, timeout=5)
    assert user.run("stop", "a").returncode == 0
    pods = {p["name"]: p for p in json.loads(user.ok("ps", "--format", "json"))}
    assert pods["a"]["state"] != "running"
    assert _holder(user) is not None                    # pods remain: so does the holder
    user.ok("rm", "-f", a, b)
    assert json.loads(user.ok("ps", "--format", "json")) == []
    assert _holder(user) is None
    user.ok("gc")


def test_an_image_pod_with_two_users_inside(user):
    user.ok("run", "--share-pid", timeout=300)          # builds the busybox test image offline
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: two}}
spec:
  restartPolicy: Never
  volumes: [{{name: shared, emptyDir: {{}}}}]
  containers:
  - name: writer
    image: {BUSYBOX}
    imagePullPolicy: Never
    securityContext: {{runAsUser: 1234, runAsGroup: 2345}}
    command: ["sh", "-c", "id -u; id -g; touch /shared/made-by-1234; sleep 1"]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
  - name: root
    image: {BUSYBOX}
    imagePullPolicy: Never
    command: ["sh", "-c", "id -u; sleep 0.5; while [ ! -e /shared/made-by-1234 ]; do sleep 0.1; done; stat -c '%u:%g' /shared/made-by-1234"]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
"""
    r = user.run("play", "-", input=manifest, timeout=120)
    assert r.returncode == 0, r.stderr
    got = {}
    for ln in r.stdout.splitlines():
        if " | " in ln:
            name, text = ln.split(" | ", 1)
            got.setdefault(name.strip(), []).append(text.strip())
    assert got["writer"][:2] == ["1234", "2345"], got
    assert got["root"] == ["0", "1234:2345"], got


def test_a_published_port_is_reached_from_the_host(user):
    mode = stat.S_IMODE(os.stat("/dev/net/tun").st_mode)
    if mode & 0o006 != 0o006:
        pytest.skip(f"/dev/net/tun is mode {mode:04o}: pasta needs it 0666 "
                    "(scripts/setup-system.sh sets it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pod = user.ok("run", "-d", "--network", "pasta", "-p", f"{port}:8080", "--",
                  "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc").strip()
    try:
        body = None
        for _ in range(50):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/hostname", timeout=2) as r:
                    body = r.read().decode().strip()
                break
            except OSError:
                sleep_until(lambda: False, timeout=0.1)
        assert body == socket.gethostname()         # a host-mode pod serves the host's /etc
        st = json.loads(user.ok("ps", "--format", "json"))[0]
        assert st["ip"]                             # pasta copied a host address into the pod
        out = user.ok("exec", pod, "--", "cat", "/proc/net/route")
        assert len(out.splitlines()) > 1            # a default route: outbound access
    finally:
        user.ok("rm", "-f", pod)
    with socket.socket() as s:                      # pasta gave the port back (a listener
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # would still refuse this)
        s.bind(("127.0.0.1", port))
        s.listen(1)


def test_outbound_connections_leave_through_pasta(user):
    """The pod connects to its default gateway, which pasta maps to the
    host's loopback: the connection leaves the pod through pasta's tap and
    arrives at a host socket, as one to any outside address would (this
    machine has no other network to reach)."""
    mode = stat.S_IMODE(os.stat("/dev/net/tun").st_mode)
    if mode & 0o006 != 0o006:
        pytest.skip(f"/dev/net/tun is mode {mode:04o}: pasta needs it 0666")
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    srv.settimeout(30)
    import threading
    got = []

    def serve():
        try:
            c, peer = srv.accept()
            got.append(c.recv(100))
            c.close()
        except OSError:
            pass
    t = threading.Thread(target=serve)
    t.start()
    try:
        r = user.run("run", "--network", "pasta", "--", "sh", "-c",
                     "gw=$(ip -4 route show default | awk '{print $3; exit}'); "
                     f"echo hello-from-the-pod | busybox nc -w 5 $gw {port}", timeout=60)
    finally:
        t.join(35)
        srv.close()
    assert r.returncode == 0, r.stderr
    assert got == [b"hello-from-the-pod\n"]


def test_cni_networks_and_cgroup_limits_are_refused_in_one_line(user):
    r = user.run("run", "--network", "bridge", "--", "true")
    assert r.returncode == 125
    assert r.stderr.strip().splitlines() == [
        "launcher: --network bridge: CNI networks need root; a rootless pod has "
        "--network none (loopback only) or --network pasta"]
    r = user.run("run", "--memory", "64m", "--", "true")
    assert r.returncode == 125
    assert len(r.stderr.strip().splitlines()) == 1
    assert "rootless pod gets limits only in a cgroup v2 subtree delegated to the user" in r.stderr
    # a pod without limits runs (the default pids limit is not asked for)
    assert user.run("run", "--", "true").returncode == 0


def test_a_newuidmap_that_is_not_setuid_is_named(user, tmp_path):
    bindir = os.path.join(os.path.dirname(user.state), f"bin-{os.getpid()}")
    os.makedirs(bindir, exist_ok=True)
    os.chmod(bindir, 0o755)
    for tool in ("newuidmap", "newgidmap"):
        dst = os.path.join(bindir, tool)
        with open("/usr/bin/" + tool, "rb") as src, open(dst, "wb") as out:
            out.write(src.read())
        os.chmod(dst, 0o755)                        # no setuid bit
    r = user.run("run", "--", "true", env={"PATH": f"{bindir}:/usr/bin:/bin"})
    assert r.returncode == 125
    assert len(r.stderr.strip().splitlines()) == 1
    assert "newuidmap failed" in r.stderr and "is not setuid root" in r.stderr
    assert _holder(user) is None


def test_exit_codes_and_signals_follow_podman(user):
    assert user.run("run", "--", "sh", "-c", "exit 7").returncode == 7
    assert user.run("run", "--", "no-such-command").returncode == 127
    assert user.run("run", "--", "/etc").returncode == 126
    # (not PID 1 of its PID namespace, which ignores a signal it sent itself)
    assert user.run("run", "--share-pid", "--", "sh", "-c", "kill -9 $$").returncode == 137


def test_a_masked_proc_is_diagnosed(user):
    """As inside a container that masks /proc paths: a read-only tmpfs over
    /proc/sys in the caller's mount namespace makes the kernel refuse a new
    procfs in any user namespace made from it."""
    import subprocess
    script = ('mount -t tmpfs -o ro,size=4k none /proc/sys && exec "$@"')
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                        *user.argv("run", "--", "true")], capture_output=True, text=True,
                       timeout=60, cwd="/")
    assert r.returncode == 125
    assert r.stderr.strip().splitlines() == [
        "launcher: cannot start the user namespace holder: mount '/proc': Operation not "
        "permitted (rootless: this system does not let a user namespace mount procfs, e.g. a "
        "container whose /proc has masked paths)"]
    assert _holder(user) is None


def test_pull_images_and_rmi_as_the_user(user):
    """The image verbs in the user's own image root: pull from an OCI
    layout (the demo's test-image cache), list, remove."""
    user.ok("run", "--share-pid", timeout=300)          # builds the test image layout
    cache = os.path.join(os.path.dirname(user.images), "test-images")
    layout = next(os.path.join(cache, d, "busybox") for d in sorted(os.listdir(cache)))
    user.ok("rmi", "-a")                                 # the demo's copy goes first
    assert json.loads(user.ok("images", "--format", "json")) == []
    user.ok("pull", f"oci:{layout}:latest", timeout=120)
    names = [i.get("names") or i.get("Names") or i for i in
             json.loads(user.ok("images", "--format", "json"))]
    assert any("localhost/busybox" in json.dumps(n) for n in names), names
    st = os.stat(user.images)
    assert (st.st_uid, stat.S_IMODE(st.st_mode) & 0o022) == (user.pw.pw_uid, 0)
    user.ok("rmi", "-a")
    assert json.loads(user.ok("images", "--format", "json")) == []
