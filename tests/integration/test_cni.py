"""The CNI runtime layer (launcher.cni) against the real plugins of Debian's
containernetworking-plugins, in real network namespaces (`ip netns add`).

Each test gets a `lab`: its own network name, bridge and /24 (so concurrent
test runs never share host-local state), its own state dir, netns names
and sandbox ids, and a counting shim in front of the plugins that logs
every plugin run. The lab's finalizer deletes what the test created and
fails the test if one of its IPs, veths, netns or iptables rules was left.
"""
import ipaddress
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest

from launcher.net import cni
from launcher.net import store as cni_store  # noqa: E402
from launcher.proc import live_start

REAL_PLUGINS = "/usr/lib/cni"
HOST_LOCAL_DIR = "/var/lib/cni/networks"
MISSING = [what for what, ok in (
    ("root", os.geteuid() == 0),
    ("containernetworking-plugins in /usr/lib/cni",
     all(os.access(os.path.join(REAL_PLUGINS, p), os.X_OK) for p in ("bridge", "host-local", "portmap"))),
    ("iproute2 (ip)", shutil.which("ip")),
    ("iptables", shutil.which("iptables-save")),
) if not ok]
pytestmark = pytest.mark.skipif(bool(MISSING), reason="needs " + ", ".join(MISSING))

SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(16)
s.settimeout(20)
print("ready", flush=True)
for _ in range(int(sys.argv[2])):
    c, addr = s.accept()
    c.sendall(("pong from %s to %s\n" % (sys.argv[3], addr[0])).encode())
    c.close()
"""

CLIENT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print(s.makefile().readline().strip())
"""


def sh(*argv, check=True):
    """Runs a command, bounded in time; returns its stdout as text."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv}: {proc.stderr.strip()}")
    return proc.stdout


def connect(host, port):
    """Connects from the host; returns the line the server sent."""
    import socket
    with socket.create_connection((host, port), timeout=5) as s:
        return s.makefile().readline().strip()


def links_of(master):
    """Names of the host links enslaved to bridge `master`."""
    out = sh("ip", "-o", "link", "show", "master", master, check=False)
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def link_exists(name):
    return subprocess.run(["ip", "link", "show", name], capture_output=True, timeout=10).returncode == 0


def nat_rules_of(sandbox_ids):
    """iptables nat lines that name one of these container ids (portmap)."""
    out = sh("iptables-save", "-t", "nat", check=False)
    return [line for line in out.splitlines() for sid in sandbox_ids if f'id: \\"{sid}\\"' in line]


def allocations(network, data_dir=HOST_LOCAL_DIR):
    """The IPs host-local holds for `network` (files named like an IP)."""
    try:
        names = os.listdir(os.path.join(data_dir, network))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        try:
            ipaddress.ip_address(name)
            out.append(name)
        except ValueError:
            pass
    return out


def free_subnet():
    """A 10.245.X.0/24 that no host route uses yet."""
    routes = sh("ip", "-4", "route", "show", "table", "all", check=False)
    for _ in range(200):
        x = random.randrange(256)
        if f"10.245.{x}." not in routes:
            return f"10.245.{x}.0/24"
    raise AssertionError("no free 10.245.X.0/24")


class Server:
    """A TCP server inside a netns (`ip netns exec`), answering `count`
    connections with a line naming itself; started once it listens."""

    def __init__(self, netns, port, count=1, label="pod"):
        self.proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", SERVER,
                                      str(port), str(count), label],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline() if ready else ""
        assert line.strip() == "ready", f"server not ready: {line!r} {self.proc.poll()}"

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)


class Lab:
    """One test's private CNI world: a conflist (bridge on its own bridge
    and /24, then portmap) in its own conf dir, a state dir, a plugin shim
    that logs each run to `calls.log`, netns and sandbox ids of its own."""

    def __init__(self, tmp_path):
        self.tag = "%04x%02x" % (os.getpid() & 0xffff, random.randrange(256))
        self.name = f"lt-{self.tag}"
        self.bridge = f"lt{self.tag}"
        self.subnet = ipaddress.ip_network(free_subnet())
        self.gateway = str(self.subnet.network_address + 1)
        self.conf_dir = tmp_path / "net.d"
        self.state_dir = str(tmp_path / "state")
        self.shim_dir = tmp_path / "shim"
        self.log = tmp_path / "calls.log"
        self.conf_dir.mkdir()
        self.shim_dir.mkdir()
        self.log.write_text("")
        for kind in ("bridge", "host-local", "portmap"):
            shim = self.shim_dir / kind
            shim.write_text(f'#!/bin/sh\necho "$CNI_COMMAND $CNI_CONTAINERID {kind}" >> {self.log}\n'
                            f"exec {REAL_PLUGINS}/{kind}\n")
            shim.chmod(0o755)
        self.plugin_path = [str(self.shim_dir), REAL_PLUGINS]
        self.netns_names, self.sandboxes = [], []
        self.extra_networks, self.extra_bridges = [], []
        self.counter = 0

    def conflist(self, **bridge_changes):
        """The lab's conflist as a dict; bridge_changes update the bridge
        plugin (e.g. a broken ipam)."""
        bridge = {"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
                  "hairpinMode": True,
                  "ipam": {"type": "host-local", "ranges": [[{"subnet": str(self.subnet)}]],
                           "routes": [{"dst": "0.0.0.0/0"}]}}
        bridge.update(bridge_changes)
        return {"cniVersion": "1.0.0", "name": self.name,
                "plugins": [bridge, {"type": "portmap", "capabilities": {"portMappings": True}}]}

    def network(self, conflist=None, filename=None):
        """Writes the conflist (default: the lab's) and loads it by name."""
        conflist = conflist or self.conflist()
        path = self.conf_dir / (filename or f"{conflist['name']}.conflist")
        path.write_text(json.dumps(conflist))
        if conflist["name"] != self.name:
            self.extra_networks.append(conflist["name"])
        return cni.load(conflist["name"], dirs=[str(self.conf_dir)], plugin_path=self.plugin_path)

    def netns(self):
        """A fresh named netns (/run/netns/NAME); returns its path."""
        self.counter += 1
        name = f"lt{self.tag}n{self.counter}"
        sh("ip", "netns", "add", name)
        self.netns_names.append(name)
        return f"/run/netns/{name}"

    def sandbox(self):
        """A fresh sandbox id (CNI_CONTAINERID) owned by this lab."""
        self.counter += 1
        sid = f"lt{self.tag}-s{self.counter}"
        self.sandboxes.append(sid)
        return sid

    def add(self, net=None, ports=(), netns=None, sandbox=None, **kw):
        """cni.add with the lab's state dir and shim; returns (attachment, netns)."""
        netns = netns or self.netns()
        att = cni.add(net or self.network(), sandbox or self.sandbox(), netns, port_mappings=ports,
                      state_dir=self.state_dir, plugin_path=self.plugin_path, **kw)
        return att, netns

    def calls(self, sandbox=None):
        """The plugin runs logged so far: [(COMMAND, sandbox, plugin)]."""
        runs = [tuple(line.split()) for line in self.log.read_text().splitlines() if line.strip()]
        return [r for r in runs if sandbox is None or r[1] == sandbox]

    def delete_netns(self, path):
        sh("ip", "netns", "del", os.path.basename(path))

    def leftovers(self):
        """What the lab's sandboxes still hold: records, IPs, veths, rules."""
        found = {}
        if cni_store.all_records(self.state_dir):
            found["records"] = [r["sandbox"] for r in cni_store.all_records(self.state_dir)]
        if allocations(self.name):
            found["ips"] = allocations(self.name)
        if link_exists(self.bridge) and links_of(self.bridge):
            found["veths"] = links_of(self.bridge)
        if nat_rules_of(self.sandboxes):
            found["iptables"] = nat_rules_of(self.sandboxes)
        return found

    def close(self):
        """Deletes everything the lab made; returns what had leaked."""
        leaked = self.leftovers()
        for record in cni_store.all_records(self.state_dir):
            try:
                cni.delete(self.state_dir, record["sandbox"])
            except cni.CNIError:
                pass
        live = sh("ip", "netns", "list", check=False)
        for name in self.netns_names:
            if name in live.split():
                sh("ip", "netns", "del", name, check=False)
        for bridge in [self.bridge] + self.extra_bridges:
            if link_exists(bridge):
                sh("ip", "link", "del", bridge, check=False)
        for network in [self.name] + self.extra_networks:
            shutil.rmtree(os.path.join(HOST_LOCAL_DIR, network), ignore_errors=True)
        return leaked


@pytest.fixture
def lab(tmp_path):
    """A private CNI lab; fails the test if its sandboxes leaked anything."""
    the_lab = Lab(tmp_path)
    yield the_lab
    leaked = the_lab.close()
    assert not leaked, f"leaked: {leaked}"


# ---------------------------------------------------------------- ADD

def test_add_gives_pod_ip_and_veth(lab):
    """ADD puts eth0 with an IP of the network's subnet in the netns, a veth
    on the bridge, and records the result; DEL removes all of it."""
    att, netns = lab.add()
    assert ipaddress.ip_address(att.ip) in lab.subnet
    assert att.cidr.endswith("/24") and att.phase == "added"
    assert att.summary() == {"network": lab.name, "ifname": "eth0", "ip": att.ip, "cidr": att.cidr,
                             "ports": [], "phase": "added", "netns": netns}
    inside = sh("ip", "netns", "exec", os.path.basename(netns), "ip", "-4", "-o", "addr", "show", "eth0")
    assert att.cidr in inside
    assert len(links_of(lab.bridge)) == 1
    assert allocations(lab.name) == [att.ip]
    record = cni_store.load(lab.state_dir, att.sandbox)
    assert record["phase"] == "added" and record["netns"] == netns and record["ifname"] == "eth0"
    assert cni.delete(lab.state_dir, att.sandbox) is True
    assert allocations(lab.name) == [] and links_of(lab.bridge) == []
    assert cni.attachment(lab.state_dir, att.sandbox) is None


def test_default_network_allocates_from_pod_subnet(tmp_path):
    """The project's default network `bridge` (launcher/netconf) gives an IP
    in 10.244.0.0/24 on bridge lnch0, and DEL releases it. The bridge and
    host-local dir are removed afterwards only if this test created them
    and nothing else uses them (other pods may share the default network)."""
    net = cni.load("bridge", dirs=[cni.BUILTIN_CONF_DIR], plugin_path=[REAL_PLUGINS])
    had_bridge, had_dir = link_exists("lnch0"), os.path.isdir(os.path.join(HOST_LOCAL_DIR, "bridge"))
    sid = "lt%04x-default" % (os.getpid() & 0xffff)
    name = "lt%04xdef" % (os.getpid() & 0xffff)
    sh("ip", "netns", "add", name)
    state = str(tmp_path / "state")
    try:
        att = cni.add(net, sid, f"/run/netns/{name}", state_dir=state, plugin_path=[REAL_PLUGINS])
        assert ipaddress.ip_address(att.ip) in ipaddress.ip_network("10.244.0.0/24")
        assert att.ip in allocations("bridge")
        assert cni.delete(state, sid)
        assert att.ip not in allocations("bridge")
    finally:
        cni.delete(state, sid)
        sh("ip", "netns", "del", name, check=False)
        if not had_bridge and link_exists("lnch0") and not links_of("lnch0"):
            sh("ip", "link", "del", "lnch0", check=False)
        if not had_dir and not allocations("bridge"):
            shutil.rmtree(os.path.join(HOST_LOCAL_DIR, "bridge"), ignore_errors=True)


def test_host_reaches_server_at_pod_ip(lab):
    """From the host, a TCP server listening inside the pod's netns is
    reachable at the pod IP."""
    att, netns = lab.add()
    server = Server(os.path.basename(netns), 8080, label="pod-a")
    try:
        assert connect(att.ip, 8080).startswith("pong from pod-a")
    finally:
        server.close()
    cni.delete(lab.state_dir, att.sandbox)


def test_two_pods_reach_each_other(lab):
    """Two pods on the same bridge network reach each other by pod IP."""
    a, ns_a = lab.add()
    b, ns_b = lab.add()
    assert a.ip != b.ip
    server = Server(os.path.basename(ns_a), 9000, label="pod-a")
    try:
        out = sh("ip", "netns", "exec", os.path.basename(ns_b), sys.executable, "-c", CLIENT, a.ip, "9000")
        assert out.strip() == f"pong from pod-a to {b.ip}"
    finally:
        server.close()
    cni.delete(lab.state_dir, a.sandbox)
    cni.delete(lab.state_dir, b.sandbox)


def test_published_port_reaches_pod(lab):
    """-p HOSTPORT:PODPORT publishes through portmap's DNAT: the host port
    answers on 127.0.0.1 (portmap sets route_localnet on the bridge and
    masquerades) and on the bridge's gateway IP, also from another pod and
    from the pod itself (hairpin); DEL removes the rules."""
    host_port = random.randrange(20000, 30000)
    att, netns = lab.add(ports=[f"{host_port}:8080/tcp"])
    other, other_ns = lab.add()
    assert att.ports == [{"hostPort": host_port, "containerPort": 8080, "protocol": "tcp"}]
    assert nat_rules_of([att.sandbox]), "portmap added no DNAT rule"
    server = Server(os.path.basename(netns), 8080, count=4, label="pod-p")
    try:
        assert connect("127.0.0.1", host_port).startswith("pong from pod-p")
        assert connect(lab.gateway, host_port).startswith("pong from pod-p")
        for ns in (other_ns, netns):
            out = sh("ip", "netns", "exec", os.path.basename(ns), sys.executable, "-c", CLIENT,
                     lab.gateway, str(host_port))
            assert out.startswith("pong from pod-p"), out
    finally:
        server.close()
    cni.delete(lab.state_dir, att.sandbox)
    cni.delete(lab.state_dir, other.sandbox)
    assert nat_rules_of([att.sandbox]) == []


def test_port_already_published_is_refused(lab):
    """A host port already published by another recorded sandbox is refused
    before any plugin runs: one clear error, no record, no IP."""
    host_port = random.randrange(30000, 40000)
    first, _ = lab.add(ports=[f"{host_port}:80"])
    second = lab.sandbox()
    with pytest.raises(cni.CNIError, match=f"host port {host_port}/tcp is already published by sandbox {first.sandbox}"):
        lab.add(ports=[f"{host_port}:81/tcp"], sandbox=second)
    assert lab.calls(second) == []
    assert cni.attachment(lab.state_dir, second) is None
    assert allocations(lab.name) == [first.ip]
    cni.delete(lab.state_dir, first.sandbox)


# ---------------------------------------------------------------- failures

def test_failed_add_leaves_nothing(lab):
    """A plugin error on ADD (a bridge name the kernel refuses) is raised as
    one line naming the network and the plugin, DEL then runs through the
    whole chain, and nothing is left: no record, no IP, no interface."""
    net = lab.network(lab.conflist(bridge=f"{lab.bridge}-name-too-long"))
    netns = lab.netns()
    sid = lab.sandbox()
    with pytest.raises(cni.CNIError) as err:
        lab.add(net, netns=netns, sandbox=sid)
    msg = str(err.value)
    assert "\n" not in msg and "too-long" in msg
    assert msg.startswith(f"network {lab.name}: plugin bridge ADD failed: failed to create bridge")
    assert [(c[0], c[2]) for c in lab.calls(sid) if c[2] != "host-local"] == \
        [("ADD", "bridge"), ("DEL", "portmap"), ("DEL", "bridge")]
    assert cni.attachment(lab.state_dir, sid) is None
    assert "eth0" not in sh("ip", "netns", "exec", os.path.basename(netns), "ip", "-o", "link")


def test_failure_late_in_chain_is_undone(lab):
    """When the last plugin (portmap, given an iptables match that does not
    exist) fails after bridge and host-local succeeded, the runtime DELs the
    whole chain in reverse order: the IP and veth bridge made are released,
    no rule is left, and the error (multi-line in iptables' output) is one
    line naming portmap."""
    conf = lab.conflist()
    conf["plugins"][1]["conditionsV4"] = ["-m", "nosuchmatch"]
    net = lab.network(conf)
    sid = lab.sandbox()
    with pytest.raises(cni.CNIError) as err:
        lab.add(net, sandbox=sid, ports=[f"{random.randrange(31000, 32000)}:80"])
    assert str(err.value).startswith(f"network {lab.name}: plugin portmap ADD failed: unable to setup DNAT")
    assert "\n" not in str(err.value)
    top = [(c[0], c[2]) for c in lab.calls(sid) if c[2] != "host-local"]
    assert top == [("ADD", "bridge"), ("ADD", "portmap"), ("DEL", "portmap"), ("DEL", "bridge")]
    assert allocations(lab.name) == [] and links_of(lab.bridge) == []
    assert nat_rules_of([sid]) == []
    assert cni.attachment(lab.state_dir, sid) is None


def test_config_a_plugin_cannot_parse_stays_pending(lab):
    """If a plugin cannot parse its own config (bridge with a /33 subnet), its
    DEL fails as well; the error says both, and the record stays as a
    pending DEL (phase "deleting", unclaimed) that gc reports each time,
    rather than being silently forgotten."""
    net = lab.network(lab.conflist(ipam={"type": "host-local", "ranges": [[{"subnet": "10.245.0.0/33"}]]}))
    sid = lab.sandbox()
    with pytest.raises(cni.CNIError) as err:
        lab.add(net, sandbox=sid)
    msg = str(err.value)
    assert msg.startswith(f"network {lab.name}: plugin bridge ADD failed: invalid CIDR address: 10.245.0.0/33")
    assert f"undoing it failed too (network {lab.name}: plugin bridge DEL failed" in msg
    assert cni_store.load(lab.state_dir, sid)["phase"] == "deleting"
    released, failed = cni.gc(lab.state_dir)
    assert released == [] and [f[0] for f in failed] == [sid]
    assert allocations(lab.name) == []
    cni_store.remove(lab.state_dir, sid)   # what an operator does after reading the error


def test_delete_after_netns_is_gone_releases_ip(lab):
    """If the netns vanished before teardown (pause killed, pin lost), DEL
    still runs, with an empty CNI_NETNS, and host-local releases the IP by
    container id; the portmap rules go too."""
    att, netns = lab.add(ports=[f"{random.randrange(40000, 50000)}:80"])
    lab.delete_netns(netns)
    assert cni.delete(lab.state_dir, att.sandbox) is True
    assert allocations(lab.name) == []
    assert nat_rules_of([att.sandbox]) == []
    assert links_of(lab.bridge) == []


def test_delete_runs_del_exactly_once(lab):
    """DEL runs once per recorded ADD, in reverse plugin order; a second
    teardown of the same sandbox finds no record and runs nothing."""
    att, _ = lab.add()
    assert cni.delete(lab.state_dir, att.sandbox) is True
    assert cni.delete(lab.state_dir, att.sandbox) is False
    top = [(c[0], c[2]) for c in lab.calls(att.sandbox) if c[2] != "host-local"]
    assert top == [("ADD", "bridge"), ("ADD", "portmap"), ("DEL", "portmap"), ("DEL", "bridge")]


def test_same_sandbox_cannot_be_added_twice(lab):
    """A second ADD for a sandbox id that already has a record is refused
    without running a plugin (it would take a second IP)."""
    att, netns = lab.add()
    before = len(lab.calls())
    with pytest.raises(cni.CNIError, match=f"sandbox {att.sandbox} already has a network attachment"):
        lab.add(netns=netns, sandbox=att.sandbox)
    assert len(lab.calls()) == before
    assert allocations(lab.name) == [att.ip]
    cni.delete(lab.state_dir, att.sandbox)


def test_add_refuses_a_path_that_is_not_a_netns(lab, tmp_path):
    """ADD with a CNI_NETNS that is not a network namespace fails before
    anything is recorded or run."""
    plain = tmp_path / "not-a-netns"
    plain.write_text("")
    with pytest.raises(cni.CNIError, match="not a network namespace"):
        lab.add(netns=str(plain))
    assert lab.calls() == [] and cni.attachments(lab.state_dir) == []


# ---------------------------------------------------------------- CHECK

def test_check_passes_then_reports_a_missing_interface(lab):
    """CHECK passes on a healthy attachment and fails, naming the plugin,
    once the pod's interface has been removed behind the runtime's back."""
    att, netns = lab.add()
    assert cni.check(lab.state_dir, att.sandbox) is True
    sh("ip", "netns", "exec", os.path.basename(netns), "ip", "link", "del", "eth0")
    with pytest.raises(cni.CNIError, match=f"network {lab.name}: plugin bridge CHECK failed"):
        cni.check(lab.state_dir, att.sandbox)
    cni.delete(lab.state_dir, att.sandbox)


# ---------------------------------------------------------------- gc

ADD_THEN_DIE = r"""
import os, signal, sys
from launcher.net import cni
state, sid, netns, conf_dir, name, plugin_path, ports = sys.argv[1:8]
net = cni.load(name, dirs=[conf_dir], plugin_path=plugin_path.split(":"))
cni.add(net, sid, netns, port_mappings=ports.split(",") if ports else (), state_dir=state,
        plugin_path=plugin_path.split(":"))
os.kill(os.getpid(), signal.SIGKILL)
"""

RECORD_THEN_DIE = r"""
import os, signal, sys
from launcher.net import cni
from launcher.net import store as cni_store  # noqa: E402
state, sid, netns, conf_dir, name, plugin_path = sys.argv[1:7]
net = cni.load(name, dirs=[conf_dir], plugin_path=plugin_path.split(":"))
os.makedirs(state, exist_ok=True)
cni_store.save(state, {"version": 1, "pod": None, "sandbox": sid, "network": name, "ifname": "eth0",
                       "netns": netns, "ports": [], "conf_path": net.path, "conflist": net.raw,
                       "plugin_path": plugin_path.split(":"), "phase": "adding",
                       "owner": cni_store.me(), "result": None})
os.kill(os.getpid(), signal.SIGKILL)
"""


def run_and_die(lab, script, *args):
    """Runs a Python child (the launcher, in effect) that gets SIGKILLed."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", script, lab.state_dir, *args], cwd=repo,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_gc_releases_what_a_killed_launcher_added(lab):
    """After the process that ran ADD is SIGKILLed, its record stays with a
    dead owner; gc runs the pending DEL (IP, veth, portmap rules released)
    and removes the record, and leaves a live owner's attachment alone."""
    net = lab.network()
    alive, _ = lab.add(net)
    sid, netns = lab.sandbox(), lab.netns()
    run_and_die(lab, ADD_THEN_DIE, sid, netns, str(lab.conf_dir), lab.name,
                ":".join(lab.plugin_path), f"{random.randrange(50000, 60000)}:80")
    orphan = cni.attachment(lab.state_dir, sid)
    assert orphan.phase == "added" and orphan.ip in allocations(lab.name)
    assert nat_rules_of([sid])
    released, failed = cni.gc(lab.state_dir)
    assert (released, failed) == ([sid], [])
    assert allocations(lab.name) == [alive.ip]
    assert nat_rules_of([sid]) == [] and len(links_of(lab.bridge)) == 1
    assert cni.attachment(lab.state_dir, alive.sandbox).phase == "added"
    assert cni.gc(lab.state_dir) == ([], [])
    cni.delete(lab.state_dir, alive.sandbox)


def test_gc_handles_a_launcher_killed_before_add_ran(lab):
    """A record written just before the launcher died (phase "adding", no
    plugin run yet) is still DELed by gc, which the plugins tolerate, and
    removed."""
    net = lab.network()
    sid, netns = lab.sandbox(), lab.netns()
    run_and_die(lab, RECORD_THEN_DIE, sid, netns, str(lab.conf_dir), net.name, ":".join(lab.plugin_path))
    assert cni.attachment(lab.state_dir, sid).phase == "adding"
    assert cni.gc(lab.state_dir) == ([sid], [])
    assert [c[0] for c in lab.calls(sid) if c[2] != "host-local"] == ["DEL", "DEL"]
    assert cni.attachments(lab.state_dir) == []


def test_gc_keeps_a_record_whose_del_fails_and_retries_later(lab):
    """If DEL fails during gc (a plugin binary vanished), gc reports the
    error and keeps the record; once the plugin is back, the next gc
    releases it."""
    net = lab.network()
    sid, netns = lab.sandbox(), lab.netns()
    run_and_die(lab, ADD_THEN_DIE, sid, netns, str(lab.conf_dir), net.name, ":".join(lab.plugin_path), "")
    shim = lab.shim_dir / "portmap"
    shim.rename(lab.shim_dir / "portmap.off")
    try:
        # the real plugin dir is also on the path: take it off for this gc
        record = cni_store.load(lab.state_dir, sid)
        record["plugin_path"] = [str(lab.shim_dir)]
        cni_store.save(lab.state_dir, record)
        released, failed = cni.gc(lab.state_dir)
        assert released == [] and len(failed) == 1
        assert failed[0][0] == sid and "plugin portmap DEL: plugin not found" in failed[0][1]
        assert cni.attachment(lab.state_dir, sid).phase == "deleting"
        assert cni_store.load(lab.state_dir, sid)["deleter"] is None
    finally:
        (lab.shim_dir / "portmap.off").rename(shim)
    assert cni.gc(lab.state_dir) == ([sid], [])
    assert allocations(lab.name) == []


def test_delete_refuses_while_another_live_process_is_adding(lab):
    """A teardown does not race an ADD still running in another live
    process: delete refuses with one line naming that process."""
    att, _ = lab.add()
    record = cni_store.load(lab.state_dir, att.sandbox)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        deadline = time.monotonic() + 5
        while live_start(sleeper.pid) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        record.update(phase="adding", owner=cni_store.process(sleeper.pid))
        cni_store.save(lab.state_dir, record)
        with pytest.raises(cni.CNIError, match=f"ADD of network {lab.name} is in progress in pid {sleeper.pid}"):
            cni.delete(lab.state_dir, att.sandbox)
        assert cni.gc(lab.state_dir) == ([], [])
    finally:
        sleeper.kill()
        sleeper.wait(10)
    assert cni.gc(lab.state_dir) == ([att.sandbox], [])


DRIVER = r"""
import ctypes, json, os, signal, sys, time
from launcher.net import cni
job = json.loads(sys.argv[1])
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)   # PR_SET_CHILD_SUBREAPER
worker = os.fork()
if worker == 0:
    try:
        if job["op"] == "add":
            net = cni.load(job["name"], dirs=[job["conf_dir"]], plugin_path=job["plugin_path"])
            cni.add(net, job["sandbox"], job["netns"], port_mappings=job["ports"],
                    state_dir=job["state"], plugin_path=job["plugin_path"])
        else:
            cni.delete(job["state"], job["sandbox"])
    except cni.CNIError as e:
        print(e, file=sys.stderr)
        os._exit(3)
    os._exit(0)
if job["kill_when"] is not None:           # a file some plugin creates once it runs
    deadline = time.monotonic() + 30
    while not os.path.exists(job["kill_when"]) and time.monotonic() < deadline:
        time.sleep(0.005)
if job["kill_after"] is not None:
    time.sleep(job["kill_after"])
if job["kill_when"] is not None or job["kill_after"] is not None:
    os.kill(worker, signal.SIGKILL)
while True:                      # the worker and any plugin it orphaned
    try:
        os.wait()
    except ChildProcessError:
        break
"""


def driver_argv(lab, op, sandbox, netns=None, ports=(), kill_after=None, plugin_path=None, kill_when=None):
    """The command line of a driver: a child subreaper that forks a worker
    (the launcher, in effect) running cni.add or cni.delete, SIGKILLs it
    after kill_after seconds or once the file kill_when exists (both None:
    lets it finish; it then exits without teardown) and waits for the
    worker and every plugin it orphaned."""
    job = {"op": op, "sandbox": sandbox, "netns": netns, "ports": list(ports), "kill_after": kill_after,
           "kill_when": kill_when,
           "name": lab.name, "conf_dir": str(lab.conf_dir), "plugin_path": plugin_path or lab.plugin_path,
           "state": lab.state_dir}
    return [sys.executable, "-c", DRIVER, json.dumps(job)]


@pytest.mark.parametrize("slow_plugin", ["bridge", "portmap"])
def test_gc_waits_for_plugins_a_killed_launcher_left_running(lab, tmp_path, slow_plugin):
    """The launcher is SIGKILLed while a (slow) plugin's ADD runs: bridge
    (about to allocate an IP) or portmap (the last one: ADD then completes
    but its result is never recorded). The orphaned plugin goes on. gc must
    not DEL under it (the IP or rules made afterwards would leak): the
    plugin holds the sandbox lock it inherited, so gc skips the sandbox
    until the plugin is done, and the next gc releases everything."""
    slow = tmp_path / "slow"
    slow.mkdir()
    started, go = tmp_path / "started", tmp_path / "go"
    # The slow plugin says it runs, then waits (at most 30 s) for the test's go:
    # the kill and the first gc happen while it waits, however slow the host.
    (slow / slow_plugin).write_text(f'#!/bin/sh\necho "$CNI_COMMAND $CNI_CONTAINERID slow" >> {lab.log}\n'
                                    f"touch {started}\n"
                                    f"i=0; while [ ! -e {go} ] && [ $i -lt 600 ]; do i=$((i+1)); sleep 0.05; done\n"
                                    f"exec {REAL_PLUGINS}/{slow_plugin}\n")
    (slow / slow_plugin).chmod(0o755)
    plugin_path = [str(slow)] + lab.plugin_path
    lab.network()                                  # writes the conflist the worker loads
    sid, netns = lab.sandbox(), lab.netns()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    argv = driver_argv(lab, "add", sid, netns, ports=[f"{random.randrange(32000, 33000)}:80"],
                       kill_when=str(started), plugin_path=plugin_path)
    driver = subprocess.Popen(argv, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            record = cni_store.load(lab.state_dir, sid)
            if record and not cni_store.alive(record["owner"]):
                break
            time.sleep(0.02)
        assert record and not cni_store.alive(record["owner"]), "the worker was not killed"
        assert ("ADD", sid, "slow") in lab.calls(sid), "the slow plugin is not running"
        assert record["phase"] == "adding" and record["result"] is None
        assert cni.gc(lab.state_dir) == ([], [])            # the orphaned plugin still runs
        go.touch()
        assert driver.wait(30) == 0
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait(10)
    assert allocations(lab.name) != [], "the orphaned ADD did not finish"
    if slow_plugin == "portmap":
        assert nat_rules_of([sid]), "the orphaned portmap ADD did not finish"
    assert cni.gc(lab.state_dir) == ([sid], [])
    assert allocations(lab.name) == [] and links_of(lab.bridge) == [] and nat_rules_of([sid]) == []
    assert os.listdir(lab.state_dir) == [".cni-state.lock"]      # no record, no sandbox lock
