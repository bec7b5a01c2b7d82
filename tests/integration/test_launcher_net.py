"""Pod networking through the real `launcher` command (issue 5): the default
loopback-only pod, `--network bridge` (pod IP in ps/inspect, reachable from
the host and from another pod), `-p` through portmap, the pinned namespaces,
exactly one CNI ADD and one DEL per sandbox whatever dies first (container,
pause, the launcher or the detached supervisor, then `launcher gc`),
`inspect --check`, and bad input (one line, exit 125, nothing half-created).

ADD and DEL are counted by a wrapper directory put first in
LAUNCHER_CNI_PATH: each wrapper logs the run (command, CNI_CONTAINERID,
plugin, CNI_NETNS, and the result) and then runs the real plugin of
/usr/lib/cni. The launcher records the plugin path with each attachment,
so the DEL that `launcher gc` runs later goes through the wrappers too.
Every sandbox our runtime touches therefore appears in the log, and the
leak check is exact even when other tests share the default network: no
host-local allocation, veth, iptables rule or CNI-DN chain of a logged
sandbox may be left, no record, no nsfs mount under the state dir, no
process (the `lx` fixture of test_launcher.py checks processes and state
files after this module's own fixture has checked the network).

The wrappers also inject faults, driven by the environment the launcher
passes on to its plugins: NET_TEST_FAIL="ADD:portmap" makes that plugin fail
with a CNI error JSON, NET_TEST_SLOW="ADD:portmap:after" (or
CMD:PLUGIN:before) sleeps NET_TEST_SLOW_S seconds before running the real
plugin or after it finished (a window to kill the launcher in: after
portmap's ADD finished and before the launcher recorded the result).
"""
import hashlib
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from launcher.proc import live_start as proc_start
from launcher_env import PY, REPO, cmd, first_line, wait_for  # noqa: F401

REAL_PLUGINS = "/usr/lib/cni"
HOST_LOCAL_DIR = "/var/lib/cni/networks"
DEFAULT_NET = "bridge"
BRIDGE = "lnch0"
SUBNET = ipaddress.ip_network("10.244.0.0/24")
GATEWAY = "10.244.0.1"
# Host ports this module and the soak publish: above the ranges test_cni.py
# draws from, so a concurrent run of it never meets our DNAT rules.
PORTS = (61000, 65000)

NS_GET_NSTYPE = 0xb703
NS_TYPES = {"net": 0x40000000, "ipc": 0x08000000, "uts": 0x04000000}

MISSING = [what for what, ok in (
    ("root", os.geteuid() == 0),
    ("containernetworking-plugins in /usr/lib/cni",
     all(os.access(os.path.join(REAL_PLUGINS, p), os.X_OK) for p in ("bridge", "host-local", "portmap"))),
    ("iproute2", os.access("/usr/sbin/ip", os.X_OK) or os.access("/sbin/ip", os.X_OK)),
    ("iptables-save", any(os.access(os.path.join(d, "iptables-save"), os.X_OK)
                          for d in ("/usr/sbin", "/sbin"))),
) if not ok]
pytestmark = pytest.mark.skipif(bool(MISSING), reason="needs " + ", ".join(MISSING))

WRAPPER = r"""#!/bin/sh
# Test wrapper of the CNI plugin {kind} (see tests/integration/test_launcher_net.py).
say() {{
    printf '%s\n' "$*" >> {log}
    if [ -n "$NET_TEST_PODLOG" ]; then printf '%s\n' "$*" >> "$NET_TEST_PODLOG"; fi
}}
tag="$CNI_COMMAND $CNI_CONTAINERID {kind}"
pod="${{NET_TEST_POD:--}}"
say "$tag start $pod ${{CNI_NETNS:--}}"
case " $NET_TEST_FAIL " in *" $CNI_COMMAND:{kind} "*)
    say "$tag failed $pod"
    printf '{{"cniVersion": "1.0.0", "code": 11, "msg": "injected failure", "details": "{kind} %s by the test wrapper"}}\n' "$CNI_COMMAND"
    exit 1;;
esac
case " $NET_TEST_SLOW " in *" $CNI_COMMAND:{kind}:before "*)
    say "$tag sleeping $pod"; sleep "${{NET_TEST_SLOW_S:-1}}";;
esac
out=$({real})
rc=$?
say "$tag done $pod $rc $(printf '%s' "$out" | tr -d '\n')"
case " $NET_TEST_SLOW " in *" $CNI_COMMAND:{kind}:after "*)
    say "$tag sleeping $pod"; sleep "${{NET_TEST_SLOW_S:-1}}";;
esac
printf '%s\n' "$out"
exit $rc
"""


def write_wrappers(wrap_dir, log, kinds=("bridge", "host-local", "portmap"), real_dir=REAL_PLUGINS):
    """Writes a logging wrapper for each plugin kind into wrap_dir."""
    os.makedirs(wrap_dir, exist_ok=True)
    for kind in kinds:
        path = os.path.join(wrap_dir, kind)
        with open(path, "w") as f:
            f.write(WRAPPER.format(kind=kind, log=log, real=os.path.join(real_dir, kind)))
        os.chmod(path, 0o755)


class Call:
    """One logged line of a wrapper: command, sandbox, plugin, event
    (start, failed, sleeping, done), the pod tag, and the rest (CNI_NETNS on
    start; the exit status and the result JSON on done)."""

    def __init__(self, line):
        parts = line.rstrip("\n").split(" ", 5)
        parts += [""] * (6 - len(parts))
        self.command, self.sandbox, self.kind, self.event, self.pod, self.rest = parts

    @property
    def netns(self):
        return "" if self.rest == "-" else self.rest

    def result(self):
        """The plugin's output (done lines), parsed, or None."""
        _, _, text = self.rest.partition(" ")
        try:
            return json.loads(text)
        except ValueError:
            return None

    def __repr__(self):
        return f"{self.command} {self.sandbox} {self.kind} {self.event}"


def parse_log(path):
    try:
        with open(path) as f:
            return [Call(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def counts(calls, sandbox, kind="bridge"):
    """(ADD runs, DEL runs) of plugin `kind` for the sandbox."""
    runs = [c.command for c in calls if c.sandbox == sandbox and c.kind == kind and c.event == "start"]
    return runs.count("ADD"), runs.count("DEL")


def veths_of(calls):
    """The host-side veths bridge ADD made, from the results in the log."""
    out = set()
    for c in calls:
        if c.command == "ADD" and c.kind == "bridge" and c.event == "done":
            for iface in (c.result() or {}).get("interfaces") or []:
                if not iface.get("sandbox") and iface.get("name", "").startswith("veth"):
                    out.add(iface["name"])
    return out


def sh(*argv, check=True):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv}: {proc.stderr.strip()}")
    return proc.stdout


def link_exists(name):
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True,
                          timeout=10).returncode == 0


def allocations(network=DEFAULT_NET):
    """{ip: sandbox id} of host-local's allocation files for the network."""
    d = os.path.join(HOST_LOCAL_DIR, network)
    out = {}
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return out
    for name in names:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            continue
        try:
            with open(os.path.join(d, name)) as f:
                words = f.read().split()
        except OSError:
            continue
        out[name] = words[0] if words else ""
    return out


def dn_chain(sandbox, network=DEFAULT_NET):
    """portmap's per-sandbox DNAT chain: CNI-DN- + sha512(name + id), 28 chars."""
    return ("CNI-DN-" + hashlib.sha512((network + sandbox).encode()).hexdigest())[:28]


def nat_lines(sandboxes, network=DEFAULT_NET):
    """iptables nat lines that name one of these sandboxes (portmap's
    comment) or use one of their CNI-DN chains."""
    sandboxes = set(sandboxes)
    if not sandboxes:
        return []
    chains = {dn_chain(s, network) for s in sandboxes}
    out = []
    for line in sh("iptables-save", "-t", "nat", check=False).splitlines():
        ids = re.findall(r'id: \\"([^\\"]+)\\"', line)
        if any(i in sandboxes for i in ids) or any(ch in line for ch in chains):
            out.append(line)
    return out


def nsfs_mounts_under(path):
    """Mounts at or below path, but for the state root's mount directory
    itself (the launcher keeps it mounted: launcher/store/layout.py)."""
    path = str(path).rstrip("/")
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if (p == path or p.startswith(path + "/"))
            and p != path + "/.mounts"]


def cni_records(statedir):
    d = os.path.join(statedir, ".cni")
    try:
        return sorted(n for n in os.listdir(d) if n.endswith(".cni.json"))
    except FileNotFoundError:
        return []


def host_ipv4s():
    """The host's global IPv4 addresses on interfaces that are not bridges."""
    out = []
    for line in sh("ip", "-o", "-4", "addr", "show", "scope", "global", check=False).splitlines():
        fields = line.split()
        ifname, addr = fields[1], fields[3].split("/")[0]
        if not os.path.isdir(f"/sys/class/net/{ifname}/bridge"):
            out.append(addr)
    return out


def one_line_error(r, *needles):
    """Asserts exit 125 and exactly one `launcher: ...` line on stderr
    containing every needle; returns the line."""
    assert r.returncode == 125, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("launcher: ") and r.stderr.count("\n") == 1 \
        and r.stderr.endswith("\n"), repr(r.stderr)
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in r.stderr, (n, r.stderr)
    return r.stderr.strip()


TCP_SERVER = r"""
import signal, socket, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(64)
while True:
    c, addr = s.accept()
    c.sendall(("pong from %s to %s\n" % (sys.argv[2], addr[0])).encode())
    c.close()
"""

UDP_SERVER = r"""
import signal, socket, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, addr = s.recvfrom(512)
    s.sendto(b"udp pong from " + sys.argv[2].encode() + b" to " + addr[0].encode(), addr)
"""

TCP_CLIENT = r"""
import socket, sys, time
deadline = time.monotonic() + 10
while True:
    try:
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
print(s.makefile().readline().strip())
"""


def tcp_ask(host, port, timeout=10.0):
    """Connects (retrying until the server listens, bounded) and returns the
    line the server sent."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=3) as s:
                return s.makefile().readline().strip()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def udp_ask(host, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        while True:
            s.sendto(b"ping", (host, port))
            try:
                return s.recvfrom(512)[0].decode()
            except OSError:
                if time.monotonic() > deadline:
                    raise


class Net:
    """CNI bookkeeping around a Launcher: the logging wrappers first in its
    LAUNCHER_CNI_PATH, the parsed log, and the leak check of everything the
    logged sandboxes could have made."""

    def __init__(self, lx, tmp_path):
        self.lx = lx
        self.tmp = tmp_path
        self.log = str(tmp_path / "cni-calls.log")
        self.wrap_dir = str(tmp_path / "cni-wrappers")
        write_wrappers(self.wrap_dir, self.log)
        open(self.log, "w").close()
        self.plugin_path = f"{self.wrap_dir}:{REAL_PLUGINS}"
        lx.env["LAUNCHER_CNI_PATH"] = self.plugin_path
        for k in ("NET_TEST_FAIL", "NET_TEST_SLOW", "NET_TEST_SLOW_S", "NET_TEST_POD",
                  "NET_TEST_PODLOG", "LAUNCHER_CNI_CONF_DIR"):
            lx.env.pop(k, None)

    def env(self, **extra):
        """The launcher's environment plus extra variables (None drops one)."""
        env = dict(self.lx.env)
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def calls(self):
        return parse_log(self.log)

    def sandboxes(self):
        return sorted({c.sandbox for c in self.calls()})

    def counts(self, sandbox, kind="bridge"):
        return counts(self.calls(), sandbox, kind)

    def assert_once(self, *sandboxes):
        """Exactly one ADD and one DEL (started and succeeded) of every plugin
        of the chain for each sandbox, ADD before DEL, DEL in reverse order."""
        calls = self.calls()
        for sid in sandboxes:
            top = [(c.command, c.kind) for c in calls
                   if c.sandbox == sid and c.event == "start" and c.kind != "host-local"
                   and c.command in ("ADD", "DEL")]
            assert top == [("ADD", "bridge"), ("ADD", "portmap"), ("DEL", "portmap"), ("DEL", "bridge")], \
                (sid, top)
            ends = [c.rest.split(" ", 1)[0] for c in calls
                    if c.sandbox == sid and c.event == "done" and c.command in ("ADD", "DEL")]
            assert set(ends) == {"0"}, (sid, ends)

    def pin_paths(self, pod_id):
        return {k: os.path.join(self.lx.statedir, ".mounts", f"{pod_id}.{k}") for k in ("net",)}

    def leftovers(self):
        """What the logged sandboxes (and the state dir) still hold."""
        calls = self.calls()
        ours = {c.sandbox for c in calls}
        found = {}
        held = {ip: sid for ip, sid in allocations().items() if sid in ours}
        if held:
            found["ips"] = held
        veths = [v for v in veths_of(calls) if link_exists(v)]
        if veths:
            found["veths"] = veths
        rules = nat_lines(ours)
        if rules:
            found["iptables"] = rules
        if cni_records(self.lx.statedir):
            found["records"] = cni_records(self.lx.statedir)
        mounts = nsfs_mounts_under(self.lx.statedir)
        if mounts:
            found["mounts"] = mounts
        return found

    def assert_nothing_created(self, calls_before=0):
        """After a refused command: no pod, no record, no mount, no plugin run
        beyond `calls_before` lines, nothing held."""
        assert self.lx.ps() == []
        assert [n for n in os.listdir(self.lx.statedir) if not n.startswith(".")] == []
        assert len(self.calls()) == calls_before, self.calls()[calls_before:]
        assert self.leftovers() == {}

    def cleanup(self):
        """rm -f every pod, then gc until no record is left (bounded: an
        orphaned plugin may still hold a sandbox); returns the leftovers."""
        for pod in self.lx.ps():
            self.lx.run("rm", "-f", pod["id"])
        wait_for(lambda: (self.lx.run("gc").returncode == 0 and not cni_records(self.lx.statedir)
                          and not self.lx.ps()), 30, 0.3)
        return wait_for(lambda: self.leftovers() == {}, 5, 0.2) or self.leftovers()


@pytest.fixture
def net(lx, tmp_path):
    """A Net around the `lx` launcher; teardown removes every pod, runs gc and
    fails the test if a logged sandbox left an IP, veth, rule, record or
    mount behind."""
    n = Net(lx, tmp_path)
    yield n
    left = n.cleanup()
    assert left is True or left == {}, f"leaked: {left}"


def free_port(rnd=None):
    import random
    return (rnd or random).randrange(*PORTS)


def running(lx, pod, pred=lambda st: True, timeout=15):
    """Waits until inspect shows the pod running and pred(status); returns it."""
    def ok():
        st = lx.inspect(pod)
        return st if st["state"] == "running" and pred(st) else None
    st = wait_for(ok, timeout, 0.05)
    assert st, lx.inspect(pod)
    return st


def ns_type(path):
    import fcntl
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return fcntl.ioctl(fd, NS_GET_NSTYPE)
    finally:
        os.close(fd)


# ------------------------------------------------------------ no network

@pytest.mark.parametrize("opt", [[], ["--network", "none"]], ids=["default", "none"])
def test_default_is_loopback_only(net, opt):
    """Without --network (or with none) the pod's netns has only `lo`, up,
    no eth0; ps/inspect show no IP and no network; no plugin runs."""
    r = net.lx.run("run", *opt, "--", "ip", "-o", "link")
    assert r.returncode == 0, r.stderr
    links = [ln.split(": ")[1:3] for ln in r.stdout.splitlines()]
    assert len(links) == 1 and links[0][0] == "lo" and ",UP," in links[0][1], r.stdout
    pod = net.lx.ok("run", "-d", *opt, "--grace", "0.2", "--", "sleep", "30").strip()
    st = net.lx.inspect(pod)
    assert st["network"] is None and st["spec"]["network"] is None
    assert [p["ip"] for p in net.lx.ps()] == [None]
    r = net.lx.run("exec", pod, "--", "awk", "-F:", "NR > 2 {print $1}", "/proc/net/dev")
    assert r.stdout.split() == ["lo"], r.stdout
    r = net.lx.run("inspect", "--check", pod)
    one_line_error(r, "has no network")
    net.lx.ok("rm", "-f", pod)
    assert net.calls() == []


# ------------------------------------------------------------ the bridge network

def test_bridge_pod_ip_in_ps_and_inspect_and_reachable_from_host(net):
    """--network bridge: the pod gets eth0 with an IP of 10.244.0.0/24; ps and
    inspect show that IP (inspect: cidr, the pinned netns, the sandbox id as
    CNI_CONTAINERID); host-local's allocation names the sandbox; a server in
    the pod answers the host at POD_IP:PORT; rm releases it all, with one ADD
    and one DEL."""
    lx = net.lx
    pod = lx.ok("run", "-d", "--network", "bridge", "--name", "web", "--grace", "2",
                "-c", cmd("srv", PY, "-c", TCP_SERVER, "8080", "web")).strip()
    st = running(lx, "web")
    nw, sid = st["network"], st["sandbox"]["id"]
    assert sid == f"{pod}-1"
    ip = nw["ip"]
    assert ipaddress.ip_address(ip) in SUBNET and ip != GATEWAY
    assert nw["cidr"] == f"{ip}/24" and nw["ifname"] == "eth0" and nw["network"] == "bridge"
    assert nw["netns"] == st["sandbox"]["pins"]["net"] == net.pin_paths(pod)["net"]
    assert nw["ports"] == [] and nw["phase"] == "added"
    assert [(p["name"], p["ip"]) for p in lx.ps()] == [("web", ip)]
    assert allocations().get(ip) == sid
    inside = lx.ok("exec", "web", "--", "ip", "-o", "-4", "addr", "show", "dev", "eth0")
    assert f"inet {ip}/24" in inside
    assert tcp_ask(ip, 8080) == f"pong from web to {GATEWAY}"
    adds = [c for c in net.calls() if c.command == "ADD" and c.event == "start"]
    assert {(c.sandbox, c.netns) for c in adds} == {(sid, nw["netns"])}
    lx.ok("rm", "-f", "web")
    net.assert_once(sid)
    assert ip not in allocations() and net.leftovers() == {}


def test_published_ports_reach_the_pod_and_rules_go_with_rm(net):
    """-p HOST:POD/tcp and -p HOST:POD/udp: the published ports answer from
    the host on 127.0.0.1, on the host's own addresses and on the bridge's
    gateway; inspect lists the mappings; portmap's rules (comment naming the
    sandbox, its CNI-DN chain) exist while the pod runs and are gone after rm."""
    lx = net.lx
    tport = free_port()
    uport = tport + 1
    lx.ok("run", "-d", "--network", "bridge", "--name", "pub", "--grace", "2",
          "-p", f"{tport}:8080", "-p", f"{uport}:9090/udp",
          "-c", cmd("tcp", PY, "-c", TCP_SERVER, "8080", "pub"),
          "-c", cmd("udp", PY, "-c", UDP_SERVER, "9090", "pub"))
    st = running(lx, "pub")
    sid, ip = st["sandbox"]["id"], st["network"]["ip"]
    assert st["network"]["ports"] == [
        {"hostPort": tport, "containerPort": 8080, "protocol": "tcp"},
        {"hostPort": uport, "containerPort": 9090, "protocol": "udp"}]
    rules = nat_lines([sid])
    assert any(f"--to-destination {ip}:8080" in r for r in rules), rules
    assert any(f"--to-destination {ip}:9090" in r for r in rules), rules
    assert any(dn_chain(sid) in r for r in rules), rules
    targets = ["127.0.0.1", GATEWAY] + host_ipv4s()
    assert len(targets) >= 3, f"no host address besides the bridge: {targets}"
    for host in targets:
        assert tcp_ask(host, tport).startswith("pong from pub to "), host
        assert udp_ask(host, uport).startswith("udp pong from pub to "), host
    lx.ok("rm", "-f", "pub")
    assert nat_lines([sid]) == []
    with pytest.raises(OSError):
        tcp_ask("127.0.0.1", tport, timeout=0.5)
    net.assert_once(sid)


def test_an_rm_pod_releases_its_network_by_itself(net):
    """run -d --rm: when its container exits, the pod's own supervisor
    gives the sandbox its DEL (each plugin once, in reverse) and removes the
    pod: no IP, veth, rule, record or pin is left, before any rm or gc."""
    lx = net.lx
    port = free_port()
    pod = lx.ok("run", "-d", "--rm", "--network", "bridge", "-p", f"{port}:80", "--name", "self",
                "--", "sleep", "2").strip()
    sid = lx.inspect(pod)["sandbox"]["id"]
    assert nat_lines([sid]), "no portmap rule while the pod runs"
    assert wait_for(lambda: lx.ok("ps", "-q") == "", 20), lx.ps()
    assert net.leftovers() == {}
    net.assert_once(sid)


def test_two_pods_reach_each_other_by_ip(net):
    """Two pods on the bridge: a client pod connects to the server pod's IP;
    the server sees the client pod's own IP as the peer."""
    lx = net.lx
    lx.ok("run", "-d", "--network", "bridge", "--name", "a", "--grace", "2",
          "-c", cmd("srv", PY, "-c", TCP_SERVER, "9000", "a"))
    a = running(lx, "a")
    r = lx.run("run", "--network", "bridge", "--name", "b",
               "-c", cmd("cli", PY, "-c", TCP_CLIENT, a["network"]["ip"], "9000"))
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"cli \| pong from a to (\S+)\n", r.stdout)
    assert m, r.stdout
    b_ip = m.group(1)
    assert ipaddress.ip_address(b_ip) in SUBNET and b_ip not in (a["network"]["ip"], GATEWAY)
    b_sid = [s for s in net.sandboxes() if s != a["sandbox"]["id"]]
    assert len(b_sid) == 1
    net.assert_once(*b_sid)          # the foreground client pod is gone already
    lx.ok("rm", "-f", "a")
    net.assert_once(a["sandbox"]["id"])


def test_pinned_namespaces_while_running_and_gone_after(net):
    """While the pod runs, <state>/.mounts/<pod>.net is an nsfs bind mount of
    pause's netns (same inode, a network namespace; IPC and UTS are not
    pinned: nothing enters them by path), and the
    pinned netns is the pod's (eth0 with the pod IP in it); after rm, the
    files are gone and nothing is mounted under the state dir."""
    lx = net.lx
    pod = lx.ok("run", "-d", "--network", "bridge", "--grace", "0.2", "--", "sleep", "30").strip()
    st = running(lx, pod)
    pins = net.pin_paths(pod)
    assert st["sandbox"]["pins"] == pins
    pause = st["pause"]["pid"]
    mounts = nsfs_mounts_under(lx.statedir)
    assert sorted(mounts) == sorted(pins.values())
    for kind, path in pins.items():
        assert ns_type(path) == NS_TYPES[kind], kind
        assert os.stat(path).st_ino == os.stat(f"/proc/{pause}/ns/{kind}").st_ino == st["namespaces"][kind]
    out = sh("nsenter", f"--net={pins['net']}", "ip", "-o", "-4", "addr", "show", "dev", "eth0")
    assert f"inet {st['network']['ip']}/24" in out
    lx.ok("rm", "-f", pod)
    assert nsfs_mounts_under(lx.statedir) == []
    assert not any(os.path.exists(p) for p in pins.values())
    net.assert_once(st["sandbox"]["id"])


# ------------------------------------------------------------ one ADD, one DEL


def test_a_pod_without_a_network_pins_nothing_and_old_ipc_uts_pins_are_released(net):
    """A --network none pod adds no mount to the host's table (every
    container start copies that table). A pod whose IPC and UTS were
    pinned too, as launchers before 2026-12 did (made here by hand beside
    the net pin), is unpinned completely by rm."""
    lx = net.lx
    bare = lx.ok("run", "-d", "--grace", "0", "--", "sleep", "30").strip()
    st = running(lx, bare)
    assert st["sandbox"]["pins"] == {} and nsfs_mounts_under(lx.statedir) == []
    lx.ok("rm", "-f", bare)
    pod = lx.ok("run", "-d", "--network", "bridge", "--grace", "0", "--", "sleep", "30").strip()
    st = running(lx, pod)
    pause = st["pause"]["pid"]
    old = [os.path.join(lx.statedir, ".mounts", f"{pod}.{k}") for k in ("ipc", "uts")]
    for kind, path in zip(("ipc", "uts"), old):
        open(path, "x").close()
        sh("mount", "--bind", f"/proc/{pause}/ns/{kind}", path)
    assert sorted(nsfs_mounts_under(lx.statedir)) == sorted(old + [net.pin_paths(pod)["net"]])
    lx.ok("rm", "-f", pod)
    assert nsfs_mounts_under(lx.statedir) == []
    assert not any(os.path.exists(p) for p in old)
    net.assert_once(st["sandbox"]["id"])


def test_normal_end_one_add_one_del(net):
    """A run-to-completion pod (--restart OnFailure, exit 0) in the
    foreground: it sees its IP, exits 0, and its sandbox got exactly one ADD
    and one DEL; so does the same pod through `play` (restartPolicy
    OnFailure); no second sandbox for a completed pod."""
    lx = net.lx
    r = lx.run("run", "--network", "bridge", "--restart", "OnFailure", "--backoff", "0.1",
               "--", "sh", "-c", "ip -o -4 addr show dev eth0 | awk '{print $4}'")
    assert r.returncode == 0, r.stderr
    cidr = r.stdout.removeprefix("sh | ").strip()
    assert ipaddress.ip_interface(cidr).network == SUBNET
    manifest = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: cron\nspec:\n"
                "  restartPolicy: OnFailure\n  terminationGracePeriodSeconds: 1\n"
                "  containers:\n  - name: job\n    command: [sh, -c, 'echo done']\n")
    r = lx.run("play", "--network", "bridge", "--backoff", "0.1", "-", input=manifest)
    assert (r.returncode, r.stdout) == (0, "job | done\n"), r.stderr
    sids = net.sandboxes()
    assert len(sids) == 2 and all(s.endswith("-1") for s in sids), sids
    net.assert_once(*sids)
    assert lx.ps() == [] and net.leftovers() == {}


def test_completed_detached_pod_never_gets_a_second_sandbox(net):
    """A detached OnFailure pod whose container exits 0 is Succeeded; its
    sandbox is removed once (one DEL) and no new sandbox follows (the first
    cause of the IP leak in the brief)."""
    lx = net.lx
    pod = lx.ok("run", "-d", "--network", "bridge", "--restart", "OnFailure", "--backoff", "0.1",
                "--", "true").strip()
    assert wait_for(lambda: lx.inspect(pod)["state"] == "exited", 15), lx.inspect(pod)
    time.sleep(0.5)                          # several back-off periods
    st = lx.inspect(pod)
    assert st["phase"] == "Succeeded" and st["exit_code"] == 0
    kinds = [e["type"] for e in st["lifecycle"]["events"]]
    assert kinds.count("SandboxCreated") == 1 and kinds.count("SandboxRemoved") == 1, kinds
    assert net.sandboxes() == [f"{pod}-1"]
    net.assert_once(f"{pod}-1")
    assert st["network"] is None and nsfs_mounts_under(lx.statedir) == []
    lx.ok("rm", pod)


def test_stop_then_rm_one_add_one_del(net):
    """stop releases the network (DEL, unpin) as the pod ends; rm afterwards
    runs no second DEL."""
    lx = net.lx
    pod = lx.ok("run", "-d", "--network", "bridge", "--grace", "0.3", "--", "sleep", "30").strip()
    st = running(lx, pod)
    sid, ip = st["sandbox"]["id"], st["network"]["ip"]
    assert lx.ok("stop", pod).strip() == st["name"]
    assert lx.inspect(pod)["state"] == "exited"
    assert net.counts(sid) == (1, 1) and ip not in allocations()
    assert nsfs_mounts_under(lx.statedir) == [] and cni_records(lx.statedir) == []
    lx.ok("rm", pod)
    net.assert_once(sid)


def test_container_sigkilled_one_add_one_del(net):
    """The only container is SIGKILLed (--restart Never): the pod exits 137,
    its sandbox is torn down with one DEL; rm adds none."""
    lx = net.lx
    pod = lx.ok("run", "-d", "--network", "bridge", "--grace", "0.3", "--", "sleep", "30").strip()
    st = running(lx, pod)
    os.kill(st["containers"][0]["pid"], signal.SIGKILL)
    assert wait_for(lambda: lx.inspect(pod)["state"] == "exited", 15)
    assert lx.inspect(pod)["exit_code"] == 137
    assert net.counts(st["sandbox"]["id"]) == (1, 1)
    assert nsfs_mounts_under(lx.statedir) == [] and st["network"]["ip"] not in allocations()
    lx.ok("rm", pod)
    net.assert_once(st["sandbox"]["id"])


def test_pause_sigkilled_sandbox_recreated_with_new_ip(net):
    """pause SIGKILLed under --restart Always: the old sandbox gets its DEL
    (on the pinned netns, which outlived pause: CNI_NETNS is not empty), a
    new sandbox (id -2) gets a new IP and the container restarts in it;
    after rm: 2 ADDs, 2 DELs, one of each per sandbox."""
    lx = net.lx
    port = free_port()
    pod = lx.ok("run", "-d", "--network", "bridge", "--restart", "Always", "--backoff", "0.2",
                "--grace", "2", "-p", f"{port}:8080",
                "-c", cmd("srv", PY, "-c", TCP_SERVER, "8080", "p")).strip()
    first = running(lx, pod)
    ip1, sid1 = first["network"]["ip"], first["sandbox"]["id"]
    assert tcp_ask(ip1, 8080).startswith("pong from p")
    assert any(f"--to-destination {ip1}:8080" in r for r in nat_lines([sid1]))
    os.kill(first["pause"]["pid"], signal.SIGKILL)
    second = running(lx, pod, lambda s: (s["sandbox"] or {}).get("id") == f"{pod}-2"
                     and s["containers"][0]["state"] == "running")
    ip2, sid2 = second["network"]["ip"], second["sandbox"]["id"]
    assert sid2 != sid1 and ipaddress.ip_address(ip2) in SUBNET
    assert ip2 != ip1, "the new sandbox got the old IP back"
    assert second["pause"]["pid"] != first["pause"]["pid"]
    assert second["containers"][0]["restarts"] == 1
    assert "SandboxChanged" in [e["type"] for e in second["lifecycle"]["events"]]
    assert net.counts(sid1) == (1, 1) and net.counts(sid2) == (1, 0)
    dels = [c for c in net.calls() if c.sandbox == sid1 and c.command == "DEL" and c.event == "start"]
    assert {c.netns for c in dels} == {net.pin_paths(pod)["net"]}, dels
    assert allocations().get(ip2) == sid2 and ip1 not in allocations()
    assert tcp_ask(ip2, 8080).startswith("pong from p")
    # the published port moved to the new sandbox: the old one's rules are gone
    assert nat_lines([sid1]) == []
    assert any(f"--to-destination {ip2}:8080" in r for r in nat_lines([sid2]))
    assert tcp_ask("127.0.0.1", port).startswith("pong from p")
    lx.ok("rm", "-f", pod)
    net.assert_once(sid1, sid2)


def _dead_then_gc(net, pod, st):
    """A pod whose supervisor was SIGKILLed: no process is left, ps shows it
    dead, and until gc it still holds its IP, record and pinned namespaces
    (no DEL yet); `launcher gc` runs the one DEL (on the still-pinned netns),
    unpins and removes the pod."""
    lx = net.lx
    sid, ip = st["sandbox"]["id"], st["network"]["ip"]
    assert wait_for(lambda: not lx.procs(), 10), lx.procs()
    assert [(p["id"], p["state"]) for p in lx.ps()] == [(pod, "dead")]
    assert net.counts(sid) == (1, 0)
    assert allocations().get(ip) == sid
    assert cni_records(lx.statedir) == [f"{sid}.cni.json"]
    assert sorted(nsfs_mounts_under(lx.statedir)) == sorted(net.pin_paths(pod).values())
    one_line_error(lx.run("inspect", "--check", pod), "no running sandbox")
    assert lx.ok("gc") == st["name"] + "\n"
    assert lx.ps() == []
    net.assert_once(sid)
    dels = [c for c in net.calls() if c.sandbox == sid and c.command == "DEL" and c.event == "start"]
    assert {c.netns for c in dels} == {net.pin_paths(pod)["net"]}
    assert ip not in allocations() and net.leftovers() == {}


def test_foreground_launcher_sigkilled_then_gc(net):
    """SIGKILL to a foreground `launcher run --network bridge`: the pod is
    dead, its network held until `launcher gc`, which DELs it once."""
    lx = net.lx
    p = lx.popen("run", "--network", "bridge", "--name", "fg", "-p", f"{free_port()}:80",
                 "--", "sh", "-c", "echo started; sleep 60", stdout=subprocess.PIPE, text=True)
    try:
        assert first_line(p.stdout) == "sh | started\n"
        st = lx.inspect("fg")
        p.kill()
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        p.stdout.close()
    assert nat_lines([st["sandbox"]["id"]]), "the published port's rules went before gc"
    _dead_then_gc(net, st["id"], st)
    # the host port is free again
    port = st["network"]["ports"][0]["hostPort"]
    assert lx.run("run", "--network", "bridge", "-p", f"{port}:80", "--", "true").returncode == 0


def test_detached_supervisor_sigkilled_then_gc(net):
    """SIGKILL to a detached pod's supervisor (the C monitor): pause and the
    container die with it, the pod is dead, `launcher gc` DELs it once."""
    lx = net.lx
    pod = lx.ok("run", "-d", "--network", "bridge", "--name", "det", "--", "sleep", "60").strip()
    st = running(lx, pod)
    os.kill(st["supervisor"]["pid"], signal.SIGKILL)
    _dead_then_gc(net, pod, st)


def _dead_bridge_pod_and_an_aged_stamp(lx):
    """A bridge pod 'hk' whose supervisor was SIGKILLed (so it is dead but
    still holds its network), and a housekeeping stamp 60 s old, so the next
    run is due to release it. Returns (pod id, its record, the stamp's
    path, the stamp's time)."""
    pod = lx.ok("run", "-d", "--network", "bridge", "--name", "hk", "--", "sleep", "60").strip()
    st = running(lx, pod)
    os.kill(st["supervisor"]["pid"], signal.SIGKILL)
    assert wait_for(lambda: not lx.procs(), 10)
    stamp = os.path.join(lx.statedir, ".gc-stamp")
    old = time.time() - 60
    os.utime(stamp, (old, old))
    return pod, st, stamp, old


def test_run_housekeeping_releases_a_dead_pods_network(net):
    """`launcher run` releases what dead pods hold (at most every 10 s: the
    stamp is aged here) but keeps their records, so ps still shows the pod
    dead; the later gc removes it and runs no second DEL."""
    lx = net.lx
    pod, st, stamp, old = _dead_bridge_pod_and_an_aged_stamp(lx)
    lx.ok("run", "--", "true")
    assert [(p["id"], p["state"]) for p in lx.ps()] == [(pod, "dead")]
    assert net.counts(st["sandbox"]["id"]) == (1, 1)
    assert st["network"]["ip"] not in allocations()
    assert nsfs_mounts_under(lx.statedir) == [] and cni_records(lx.statedir) == []
    assert lx.ok("gc") == "hk\n"
    net.assert_once(st["sandbox"]["id"])


def test_detached_run_without_a_network_does_the_housekeeping_from_its_supervisor(net):
    """`run -d` of a pod without a network leaves the housekeeping to the
    new pod's supervisor, after its verdict (at thousands of pods it reads
    every record): the dead pod's network is released all the same, the
    new pod runs, and its supervisor.log stays empty."""
    lx = net.lx
    pod, st, stamp, old = _dead_bridge_pod_and_an_aged_stamp(lx)
    new = lx.ok("run", "-d", "--name", "later", "--grace", "0", "--", "sleep", "60").strip()
    assert wait_for(lambda: net.counts(st["sandbox"]["id"]) == (1, 1), 15)
    assert wait_for(lambda: cni_records(lx.statedir) == [], 5)
    assert st["network"]["ip"] not in allocations() and nsfs_mounts_under(lx.statedir) == []
    assert os.stat(stamp).st_mtime > old + 30
    states = {p["name"]: p["state"] for p in lx.ps()}
    assert states == {"hk": "dead", "later": "running"}, states
    log = os.path.join(lx.inspect(new)["dir"], "supervisor.log")
    assert not os.path.exists(log) or open(log).read() == ""
    lx.ok("rm", "-f", "later")
    assert lx.ok("gc") == "hk\n"
    net.assert_once(st["sandbox"]["id"])


# ------------------------------------------------------------ inspect --check

def test_inspect_check_passes_on_a_live_pod_then_reports_a_broken_one(net):
    """inspect --check runs CNI CHECK: it passes on live pods (with and
    without published ports), and fails with one line naming the plugin once
    eth0 was deleted inside the pod; rm still DELs once."""
    lx = net.lx
    plain = lx.ok("run", "-d", "--network", "bridge", "--grace", "0.2", "--", "sleep", "30").strip()
    ported = lx.ok("run", "-d", "--network", "bridge", "--grace", "0.2", "-p", f"{free_port()}:80",
                   "--", "sleep", "30").strip()
    for pod in (plain, ported):
        sid = running(lx, pod)["sandbox"]["id"]
        st = json.loads(lx.ok("inspect", "--check", pod))
        assert st["network"]["checked"] is True
        checks = [c.kind for c in net.calls() if c.command == "CHECK" and c.event == "start"
                  and c.sandbox == sid and c.kind != "host-local"]
        assert checks == ["bridge", "portmap"]
    lx.ok("exec", plain, "--", "ip", "link", "del", "eth0")
    one_line_error(lx.run("inspect", "--check", plain), "plugin bridge CHECK failed")
    sids = [lx.inspect(p)["sandbox"]["id"] for p in (plain, ported)]
    lx.ok("rm", "-f", plain, ported)
    net.assert_once(*sids)


# ------------------------------------------------------------ bad input

@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detached"])
def test_unknown_network(net, detach):
    r = net.lx.run("run", *(["-d"] if detach else []), "--network", "nosuchnet", "--", "true")
    one_line_error(r, "unknown network 'nosuchnet'")
    net.assert_nothing_created()


BROKEN = {
    "not-json": ('{"cniVersion": "1.0.0", "name": "brk", "plugins": [', "not valid JSON"),
    "no-plugins": ('{"cniVersion": "1.0.0", "name": "brk", "plugins": []}', "'plugins' must be a non-empty list"),
    "plugin-without-type": ('{"cniVersion": "1.0.0", "name": "brk", "plugins": [{"bridge": "x"}]}',
                            "has no valid 'type'"),
    "no-version": ('{"name": "brk", "plugins": [{"type": "bridge"}]}', "'cniVersion'"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_conflist(net, tmp_path, case):
    """A broken conflist in LAUNCHER_CNI_CONF_DIR: one line naming the file."""
    text, needle = BROKEN[case]
    conf = tmp_path / "net.d"
    conf.mkdir()
    (conf / "brk.conflist").write_text(text)
    r = net.lx.run("run", "--network", "brk", "--", "true", env=net.env(LAUNCHER_CNI_CONF_DIR=str(conf)))
    one_line_error(r, str(conf / "brk.conflist"), needle)
    net.assert_nothing_created()


@pytest.mark.parametrize("missing", ["portmap", "host-local"])
def test_missing_plugin(net, tmp_path, missing):
    """LAUNCHER_CNI_PATH without one plugin of the chain (or its IPAM
    plugin): one line naming it."""
    only = tmp_path / "only"
    write_wrappers(str(only), net.log, kinds=[k for k in ("bridge", "host-local", "portmap") if k != missing])
    r = net.lx.run("run", "--network", "bridge", "--", "true", env=net.env(LAUNCHER_CNI_PATH=str(only)))
    one_line_error(r, f"plugin '{missing}' not found in {only}")
    net.assert_nothing_created()


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detached"])
@pytest.mark.parametrize("failing", ["bridge", "portmap"])
def test_plugin_failing_add(net, failing, detach):
    """A plugin that fails ADD with a CNI error JSON: one line naming the
    network, the plugin and its message; the whole chain is DELed (also
    after bridge had taken an IP), and nothing is left: no pod, record,
    allocation, veth, rule or mount."""
    r = net.lx.run("run", *(["-d"] if detach else []), "--network", "bridge", "-p", f"{free_port()}:80",
                   "--", "sleep", "30", env=net.env(NET_TEST_FAIL=f"ADD:{failing}"))
    line = one_line_error(r, f"network bridge: plugin {failing} ADD failed: injected failure: "
                             f"{failing} ADD by the test wrapper (CNI error 11)")
    assert "Traceback" not in line
    calls = net.calls()
    sids = {c.sandbox for c in calls}
    assert len(sids) == 1
    top = [(c.command, c.kind) for c in calls if c.event == "start" and c.kind != "host-local"]
    want = [("ADD", "bridge")] + ([("ADD", "portmap")] if failing == "portmap" else [])
    assert top == want + [("DEL", "portmap"), ("DEL", "bridge")]
    if failing == "portmap":
        assert veths_of(calls), "bridge made no veth before portmap failed"
    assert net.lx.ps() == [] and net.leftovers() == {}
    assert [n for n in os.listdir(net.lx.statedir) if not n.startswith(".")] == []


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detached"])
def test_host_port_already_published(net, detach):
    """A host port another pod publishes: refused with one line naming the
    other sandbox, before any plugin runs for the new pod; the first pod
    keeps its rules and still answers."""
    lx = net.lx
    port = free_port()
    lx.ok("run", "-d", "--network", "bridge", "--name", "first", "--grace", "2", "-p", f"{port}:8080",
          "-c", cmd("srv", PY, "-c", TCP_SERVER, "8080", "first"))
    first = running(lx, "first")
    before = len(net.calls())
    r = lx.run("run", *(["-d"] if detach else []), "--network", "bridge", "--name", "second",
               "-p", f"{port}:9999", "--", "true")
    one_line_error(r, f"host port {port}/tcp is already published by sandbox {first['sandbox']['id']}")
    assert len(net.calls()) == before
    assert [p["name"] for p in lx.ps()] == ["first"]
    assert sorted(nsfs_mounts_under(lx.statedir)) == sorted(net.pin_paths(first["id"]).values())
    assert cni_records(lx.statedir) == [f"{first['sandbox']['id']}.cni.json"]
    assert tcp_ask("127.0.0.1", port).startswith("pong from first to ")
    lx.ok("rm", "-f", "first")
    net.assert_once(first["sandbox"]["id"])


@pytest.mark.parametrize("args,needle", [
    (["-p", "8080:80"], "-p needs a network"),
    (["--network", "none", "-p", "8080:80"], "-p needs a network"),
    (["--network", "bridge", "-p", "8080"], "bad port mapping '8080'"),
    (["--network", "bridge", "-p", "0:80"], "port 0 is not in 1-65535"),
    (["--network", "bridge", "-p", "80:65536"], "port 65536 is not in 1-65535"),
    (["--network", "bridge", "-p", "80:80/sctp"], "protocol must be tcp or udp"),
    (["--network", "bridge", "-p", "61001:80", "-p", "61001:81/tcp"], "host port 61001/tcp is published twice"),
    (["--network", "bridge", "-p", "a:b"], "bad port mapping 'a:b'"),
    (["--network", "bridge", "-p", "1:2\n/tcp"], "bad port mapping"),
], ids=["no-network", "network-none", "no-colon", "port-0", "port-65536", "sctp", "twice", "letters",
        "newline"])
def test_bad_publish(net, args, needle):
    for detach in ([], ["-d"]):
        r = net.lx.run("run", *detach, *args, "--", "true")
        one_line_error(r, needle)
    net.assert_nothing_created()


def expected_mapping(text):
    """The mapping a -p value stands for, or None if it must be refused:
    HOSTPORT:PODPORT[/tcp|udp], ASCII digits, ports 1-65535, the protocol in
    any case, surrounding whitespace ignored."""
    t = text.strip()
    body, slash, proto = t.partition("/")
    if slash:
        if not (proto.isascii() and proto.isalpha()) or proto.lower() not in ("tcp", "udp"):
            return None
        proto = proto.lower()
    else:
        proto = "tcp"
    host, colon, pod = body.partition(":")
    if not colon:
        return None
    if not all(x.isascii() and x.isdigit() for x in (host, pod)):
        return None
    host, pod = int(host), int(pod)
    if not (1 <= host <= 65535 and 1 <= pod <= 65535):
        return None
    return {"hostPort": host, "containerPort": pod, "protocol": proto}


_proto = st.sampled_from(["", "/tcp", "/udp", "/TCP", "/Udp", "/sctp", "/", "/tcp/udp", "/t cp", "//udp"])
_pad = st.sampled_from(["", " ", "\t", "\n", " \n"])
_structured = st.builds(
    lambda pre, h, p, proto, post: f"{pre}{h}:{p}{proto}{post}", _pad,
    st.one_of(st.integers(PORTS[0], PORTS[1]), st.integers(-3, 70000), st.just("0061001"), st.text("0123456789x", max_size=6)),
    st.one_of(st.integers(1, 65535), st.integers(-3, 70000), st.text("0123456789:", max_size=6)),
    _proto, _pad)
PUBLISH_TEXT = st.one_of(_structured, st.text(max_size=20)).filter(lambda t: "\0" not in t)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(text=PUBLISH_TEXT)
def test_publish_value_is_published_or_refused_in_one_line(net, text):
    """Any -p value either publishes exactly the mapping it stands for
    (inspect shows it, portmap's DNAT rule exists, rm removes it) or is
    refused in one line with exit 125 before anything is created."""
    lx = net.lx
    want = expected_mapping(text)
    event("valid" if want else "refused")
    before = len(net.calls())
    if want is None:
        r = lx.run("run", "--network", "bridge", "-p", text, "--", "true")
        one_line_error(r)
        assert "port" in r.stderr
        net.assert_nothing_created(before)
        return
    # publishing a low or foreign port, even for a moment, could take the
    # traffic of a service of this host: only our range is really published
    assume(PORTS[0] <= want["hostPort"] < PORTS[1])
    pod = lx.ok("run", "-d", "--network", "bridge", "--grace", "0.2", "-p", text, "--", "sleep", "30").strip()
    try:
        st_ = running(lx, pod)
        assert st_["network"]["ports"] == [want]
        sid = st_["sandbox"]["id"]
        rules = nat_lines([sid])
        assert any(f"-p {want['protocol']}" in r and f"--dport {want['hostPort']} " in r + " "
                   and f"--to-destination {st_['network']['ip']}:{want['containerPort']}" in r
                   for r in rules), rules
    finally:
        lx.run("rm", "-f", pod)
    assert nat_lines([sid]) == []
    net.assert_once(sid)


# ------------------------------------------------------------ gc racing a teardown

# `launcher gc`, unchanged, except that it pauses right after cni.gc read the
# records (under its state lock) until the file argv[2] exists: the
# interleaving the soak hits now and then, made certain.
HOOKED_GC = r"""
import os, sys, time
from launcher.net import store as cni_store
scan = cni_store.all_records
def paused(state_dir):
    records = scan(state_dir)
    open(sys.argv[1], "w").close()
    deadline = time.monotonic() + 20
    while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
        time.sleep(0.01)
    return records
cni_store.all_records = paused
from launcher.cli import main
sys.exit(main(["gc"]))
"""


def test_gc_does_not_rerun_a_del_that_finished_during_its_scan(net, tmp_path):
    """A pod's supervisor is running its DEL (record phase "deleting", the
    deleter alive) when `launcher gc` reads the records; the DEL then ends,
    the record is removed and the supervisor exits; only then does gc look
    at what it read. It must not DEL that sandbox again (the record is gone):
    one DEL per ADD. (Found by the soak; see the report.)"""
    lx = net.lx
    pod = lx.ok("run", "-d", "--network", "bridge", "--grace", "0.1", "--", "sleep", "30",
                env=net.env(NET_TEST_SLOW="DEL:portmap:before", NET_TEST_SLOW_S="1")).strip()
    st = running(lx, pod)
    sid, sup = st["sandbox"]["id"], st["supervisor"]
    scanned, go = tmp_path / "scanned", tmp_path / "go"
    # stop, not rm -f: rm -f ends an idle pod without its supervisor (teardown.end_idle)
    rm = lx.popen("stop", pod, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gc = None
    try:
        assert wait_for(lambda: any(c.sandbox == sid and c.command == "DEL" and c.event == "sleeping"
                                    for c in net.calls()), 15), "the supervisor's DEL did not start"
        gc = subprocess.Popen([PY, "-c", HOOKED_GC, str(scanned), str(go)], env=lx.env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert wait_for(scanned.exists, 15), "gc did not reach its scan"
        assert wait_for(lambda: not cni_records(lx.statedir) and proc_start(sup["pid"]) != sup["start"], 15), \
            "the supervisor did not finish its DEL and exit"
        go.touch()
        out, err = gc.communicate(timeout=30)
        assert gc.returncode == 0, err
        assert rm.wait(30) == 0
    finally:
        go.touch()
        for p in (gc, rm):
            if p is not None and p.poll() is None:
                p.kill()
            if p is not None:
                p.communicate(timeout=30)
    net.assert_once(sid)
    lx.ok("rm", pod)
