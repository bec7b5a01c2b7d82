"""The seed's pods end to end (issue 14), through the real `launcher`
command on the CNI bridge network:

- `pause-test` (examples/pods/seed-pause-test.yaml): busybox sleeping, a web
  backend on 2368 (busybox httpd in place of the seed's ghost blog) and
  nginx proxying port 80 to it over the pod's loopback, its config a
  hostPath file mounted with subPath. From the host, GET http://POD_IP/
  returns the backend's page through nginx. Without shareProcessNamespace
  `ps` in busybox shows `sleep` as PID 1; with it, pause is PID 1 and every
  container's processes are listed, and the shared network namespace lists
  both ports.
- the seed's CronJob pod (examples/pods/cronjob.yaml, restartPolicy
  OnFailure on busybox:1.28), run 100 times: every run prints its line and
  exits 0, each pod gets exactly one sandbox with one CNI ADD and one DEL,
  and afterwards no IP allocation, veth, iptables rule, nsfs, overlay or
  tmpfs mount, writable layer or pod state is left (the Pod IP leak of the
  shared README §2).

CNI runs go through the logging wrappers of test_launcher_net.py (its `net`
fixture), so the accounting is per sandbox and exact even while other test
runs share the bridge network."""
import concurrent.futures
import http.client
import os
import re
import shutil
import subprocess
import time

import pytest
import yaml

from launcher_env import REPO, wait_for
from test_launcher_net import MISSING, Net, allocations, cni_records

pytestmark = pytest.mark.skipif(bool(MISSING), reason="needs " + ", ".join(MISSING))

EXAMPLES = os.path.join(REPO, "examples", "pods")
PAUSE_TEST = os.path.join(EXAMPLES, "seed-pause-test.yaml")
CRONJOB = os.path.join(EXAMPLES, "cronjob.yaml")
NGINX_NAME = "localhost/nginx:latest"       # what the example names
MARKER = "ghost on busybox, behind nginx"   # the backend's page (the example writes it)
CRON_RUNS, CRON_PARALLEL = 100, 3


@pytest.fixture(scope="session")
def nginx_image(image_root):
    """Debian's nginx-light image (testimages.nginx_image: built offline with
    mmdebstrap, about a minute the first time, cached after) loaded into the
    session's image root as localhost/nginx:latest; skipped where it cannot
    be built."""
    from launcher.errors import LauncherError
    from launcher.images import pull, testimages
    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed")
    try:
        layout = testimages.nginx_image()
    except (LauncherError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"cannot build the nginx image here: {e}")
    pulled = pull.pull(f"oci:{layout}:latest", root=str(image_root))
    assert NGINX_NAME in pulled.names, pulled.names
    return pulled.image_id


def leftovers(net):
    """What the logged sandboxes and the state dir still hold (Net.leftovers:
    IPs, veths, iptables rules, CNI records, mounts under the state dir),
    except the state root's own `.mounts` bind, which the launcher keeps as
    `ip netns` keeps /run/netns (the lx fixture unmounts it); anything
    mounted below it counts."""
    left = net.leftovers()
    keep = os.path.join(net.lx.statedir, ".mounts")
    mounts = [m for m in left.pop("mounts", []) if m != keep]
    if mounts:
        left["mounts"] = mounts
    return left


@pytest.fixture
def net(lx, tmp_path):
    """test_launcher_net's CNI bookkeeping around `lx` (logging wrappers
    first in LAUNCHER_CNI_PATH); teardown removes every pod, runs gc until
    no CNI record is left (bounded) and fails the test if a logged sandbox
    left an IP, veth, rule, record or mount behind."""
    n = Net(lx, tmp_path)
    yield n
    for pod in lx.ps():
        lx.run("rm", "-f", pod["id"])
    wait_for(lambda: (lx.run("gc").returncode == 0 and not cni_records(lx.statedir)
                      and not lx.ps()), 30, 0.3)
    left = wait_for(lambda: leftovers(n) == {}, 5, 0.2) or leftovers(n)
    assert left is True or left == {}, f"leaked: {left}"


def nginx_conf():
    """The nginx.conf the example's comment tells a user to write (between
    `<<'EOF'` and `EOF`), so the test runs exactly what the example documents."""
    with open(PAUSE_TEST) as f:
        lines = [ln[2:] if ln.startswith("# ") else ln[1:] for ln in f if ln.startswith("#")]
    start = next(i for i, ln in enumerate(lines) if "<<'EOF'" in ln) + 1
    end = next(i for i in range(start, len(lines)) if lines[i].strip() == "EOF")
    text = "".join(lines[start:end])
    assert "daemon off;" in text and "listen 80;" in text and "127.0.0.1:2368" in text, text
    return text


def pause_test_manifest(tmp_path, shared):
    """The example with its hostPath pointed at a fresh dir under tmp_path
    holding the nginx.conf, and shareProcessNamespace set; returns its path."""
    conf_dir = tmp_path / "nginx"
    conf_dir.mkdir()
    (conf_dir / "nginx.conf").write_text(nginx_conf())
    with open(PAUSE_TEST) as f:
        pod = yaml.safe_load(f)
    pod["spec"]["shareProcessNamespace"] = shared
    (vol,) = [v for v in pod["spec"]["volumes"] if "hostPath" in v]
    vol["hostPath"]["path"] = str(conf_dir)
    path = tmp_path / "pause-test.yaml"
    path.write_text(yaml.safe_dump(pod))
    return str(path)


def http_get(ip, timeout=20.0):
    """GET http://IP/ from the host, retried until nginx answers 200 with the
    backend's page (nginx may be up before the backend: 502); returns
    (status, Server header, body) of the last answer."""
    last = [None]

    def once():
        conn = http.client.HTTPConnection(ip, 80, timeout=3)
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            body = resp.read().decode(errors="replace")
            last[0] = (resp.status, resp.getheader("Server", ""), body)
        except OSError as e:
            last[0] = (None, "", repr(e))
        finally:
            conn.close()
        return last[0][0] == 200 and MARKER in last[0][2]
    wait_for(once, timeout, 0.1)
    return last[0]


def ps_rows(lx, pod):
    """`ps` in the pod's busybox container: [(pid, command line)]."""
    out = lx.ok("exec", pod, "-c", "busybox", "--", "ps", "-o", "pid,args")
    rows = [ln.strip().split(None, 1) for ln in out.splitlines()[1:] if ln.strip()]
    return [(int(r[0]), r[1] if len(r) > 1 else "") for r in rows]


def listening_ports(lx, pod):
    """TCP ports in LISTEN state per `netstat -ltn` in the busybox container."""
    out = lx.ok("exec", pod, "-c", "busybox", "--", "netstat", "-ltn")
    return {int(ln.split()[3].rsplit(":", 1)[1]) for ln in out.splitlines()
            if ln.startswith("tcp") and ln.split()[-1] == "LISTEN"}


class PauseTest:
    """The pause-test pod played detached on the bridge network; the
    context removes it (rm -f) whatever happens inside."""

    def __init__(self, lx, tmp_path, shared):
        self.lx, self.manifest = lx, pause_test_manifest(tmp_path, shared)

    def __enter__(self):
        try:
            self.id = self.lx.ok("play", "-d", "--network", "bridge", self.manifest).strip()

            def up():
                st = self.lx.inspect("pause-test")
                states = {c["name"]: c["state"] for c in st["containers"]}
                return st if states == dict.fromkeys(("busybox", "ghost", "nginx"), "running") \
                    else None
            st = wait_for(up, 30, 0.1)
            assert st, self.lx.inspect("pause-test")
            self.ip = st["network"]["ip"]
            return self
        except BaseException:
            self.lx.run("rm", "-f", "pause-test")
            raise

    def __exit__(self, *exc):
        r = self.lx.run("rm", "-f", "pause-test")
        assert exc[0] is not None or r.returncode == 0, r.stderr


def test_pause_test_pod_serves_through_nginx_with_own_pid_namespaces(lx, net, tmp_path,
                                                                     nginx_image):
    """The seed's pause-test pod on the bridge network: GET http://POD_IP/
    from the host is answered by nginx (Server: nginx/...) with the backend's
    page, proxied over the pod's loopback to 127.0.0.1:2368; `ps` in the
    busybox container shows `sleep 3600` as PID 1 and none of the other
    containers' processes (each has its own PID namespace); rm leaves no
    network, mount or writable layer."""
    with PauseTest(lx, tmp_path, shared=False) as pod:
        status, server, body = http_get(pod.ip)
        assert status == 200 and MARKER in body, (status, server, body)
        assert server.startswith("nginx/"), server
        rows = ps_rows(lx, "pause-test")
        assert rows[0] == (1, "sleep 3600"), rows
        assert not [c for _, c in rows if "httpd" in c or "nginx" in c or "pause" in c], rows
    assert leftovers(net) == {} and lx.writable_layers() == []


def test_pause_test_pod_with_shared_pid_namespace_shows_every_process(lx, net, tmp_path,
                                                                      nginx_image):
    """The same pod with shareProcessNamespace: true: `ps` in the busybox
    container shows pause as PID 1 and the processes of every container
    (sleep, httpd, nginx's master and its two workers); `netstat -ltn` there
    lists both 80 (nginx) and 2368 (the backend), since all containers share
    pause's network namespace; the page still comes through nginx."""
    with PauseTest(lx, tmp_path, shared=True) as pod:
        status, server, body = http_get(pod.ip)
        assert status == 200 and MARKER in body and server.startswith("nginx/"), \
            (status, server, body)

        def complete():
            rows = ps_rows(lx, "pause-test")
            cmds = [c for _, c in rows]
            return rows if (any(c.startswith("sleep 3600") for c in cmds)
                            and any(c.startswith("httpd -f -p 2368") for c in cmds)
                            and any(c.startswith("nginx: master process") for c in cmds)
                            and sum(c.startswith("nginx: worker process") for c in cmds) == 2) \
                else None
        rows = wait_for(complete, 10, 0.2)
        assert rows, ps_rows(lx, "pause-test")
        assert rows[0][0] == 1 and rows[0][1].split()[0].endswith("/pause"), rows
        assert {80, 2368} <= listening_ports(lx, "pause-test")


def cron_manifest(tmp_path, i):
    """The seed's CronJob pod (examples/pods/cronjob.yaml) named as the
    CronJob controller names each run's pod (hello-cron-NNN)."""
    with open(CRONJOB) as f:
        pod = yaml.safe_load(f)
    assert pod["spec"]["restartPolicy"] == "OnFailure", pod
    pod["metadata"]["name"] = f"hello-cron-{i:03d}"
    path = tmp_path / f"cron-{i:03d}.yaml"
    path.write_text(yaml.safe_dump(pod))
    return str(path)


def our_mounts(*prefixes):
    """nsfs, overlay and tmpfs mounts below any of the prefixes."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point, fstype = line.split()[4], line.split(" - ")[1].split()[0]
            if fstype in ("nsfs", "overlay", "tmpfs") and any(
                    point == p or point.startswith(p + "/") for p in prefixes):
                out.append((fstype, point))
    return out


def test_cronjob_pod_100_runs_allocations_equal_releases(lx, net, tmp_path):
    """The seed's CronJob pod played 100 times on the bridge network (three
    at a time): every run exits 0 and prints the date and `Hello from the
    Kubernetes cluster`; every pod had exactly one sandbox (never a second
    one for a completed pod) with exactly one CNI ADD and one DEL of bridge
    and portmap; afterwards none of those sandboxes holds a host-local
    allocation, veth, iptables rule or CNI record, no nsfs, overlay or tmpfs
    mount is left under the state dir or the image root, no writable layer,
    no pod."""
    manifests = [cron_manifest(tmp_path, i) for i in range(CRON_RUNS)]
    t0 = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(CRON_PARALLEL) as pool:
            runs = list(pool.map(lambda m: lx.run("play", "--network", "bridge", m, timeout=60),
                                 manifests))
    finally:
        for pod in lx.ps():
            lx.run("rm", "-f", pod["id"])
    took = time.monotonic() - t0
    failed = [(i, r.returncode, r.stderr) for i, r in enumerate(runs) if r.returncode != 0]
    assert not failed, failed[:3]
    date = re.compile(r"^hello \| .*\d\d:\d\d:\d\d", re.M)
    for r in runs:
        assert "hello | Hello from the Kubernetes cluster\n" in r.stdout, r.stdout
        assert date.search(r.stdout), r.stdout
    sandboxes = net.sandboxes()
    assert len(sandboxes) == CRON_RUNS and all(s.endswith("-1") for s in sandboxes), sandboxes
    net.assert_once(*sandboxes)
    assert {ip: s for ip, s in allocations().items() if s in sandboxes} == {}
    assert leftovers(net) == {}
    assert our_mounts(lx.statedir, lx.image_root) == []
    assert lx.writable_layers() == [] and lx.ps() == []
    print(f"{CRON_RUNS} CronJob pods in {took:.1f} s ({CRON_RUNS / took:.1f} pods/s, "
          f"{CRON_PARALLEL} at a time)")
