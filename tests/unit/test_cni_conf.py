"""Unit tests of the CNI runtime layer that run no plugin: finding and
validating network configurations, parsing -p port mappings, the durable
record store and its notion of a dead owner, argument checks of add."""
import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from launcher import proc
from launcher.net import cni
from launcher.net import conf as cni_conf
from launcher.net import store as cni_store

PLUGINS = "/usr/lib/cni"
HAVE_PLUGINS = all(os.access(os.path.join(PLUGINS, p), os.X_OK) for p in ("bridge", "host-local", "portmap"))
needs_plugins = pytest.mark.skipif(not HAVE_PLUGINS, reason="needs containernetworking-plugins in /usr/lib/cni")


@pytest.fixture
def plugin_dir(tmp_path):
    """A plugin dir with executable stand-ins named bridge, host-local and
    portmap (never run here: only their presence is checked)."""
    d = tmp_path / "bin"
    d.mkdir()
    for name in ("bridge", "host-local", "portmap"):
        (d / name).write_text("#!/bin/sh\nexit 1\n")
        (d / name).chmod(0o755)
    return str(d)


def conflist(name="net1", plugins=None):
    return {"cniVersion": "1.0.0", "name": name, "plugins": plugins or [
        {"type": "bridge", "bridge": "x0", "ipam": {"type": "host-local"}},
        {"type": "portmap", "capabilities": {"portMappings": True}}]}


def write(directory, filename, content):
    path = os.path.join(directory, filename)
    with open(path, "w") as f:
        f.write(content if isinstance(content, str) else json.dumps(content))
    return path


# ---------------------------------------------------------------- loading

def test_default_network_is_bridge_then_portmap():
    """The project's default network `bridge` is bridge lnch0 with host-local
    IPAM on 10.244.0.0/24, ipMasq off, followed by portmap with the
    portMappings capability."""
    net = cni_conf.load("bridge", dirs=[cni_conf.BUILTIN_CONF_DIR], plugin_path=[PLUGINS]) if HAVE_PLUGINS \
        else cni_conf.parse(open(os.path.join(cni_conf.BUILTIN_CONF_DIR, "bridge.conflist")).read(), "bridge")
    bridge, portmap = net.plugins
    assert (bridge["type"], bridge["bridge"], bridge["ipMasq"]) == ("bridge", "lnch0", False)
    assert bridge["ipam"]["type"] == "host-local"
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24", "gateway": "10.244.0.1"}]]
    assert portmap["type"] == "portmap" and net.supports("portMappings")


def test_load_finds_network_by_name_in_override_dir(tmp_path, plugin_dir, monkeypatch):
    """LAUNCHER_CNI_CONF_DIR is searched first; the network is found by its
    "name" field, not its file name."""
    conf = tmp_path / "conf"
    conf.mkdir()
    path = write(str(conf), "10-whatever.conflist", conflist("mynet"))
    monkeypatch.setenv("LAUNCHER_CNI_CONF_DIR", str(conf))
    assert cni_conf.conf_dirs()[0] == str(conf)
    net = cni_conf.load("mynet", plugin_path=[plugin_dir])
    assert (net.name, net.path, net.cni_version) == ("mynet", path, "1.0.0")


def test_first_file_in_name_order_wins(tmp_path, plugin_dir):
    """Two files naming the same network: the first in file-name order wins."""
    write(str(tmp_path), "20-b.conflist", conflist("dup"))
    first = write(str(tmp_path), "10-a.conflist", conflist("dup"))
    assert cni_conf.load("dup", dirs=[str(tmp_path)], plugin_path=[plugin_dir]).path == first


def test_single_plugin_conf_is_a_list_of_one(tmp_path, plugin_dir):
    """A .conf file with one plugin (no "plugins" list) loads as a chain of one."""
    write(str(tmp_path), "one.conf", {"cniVersion": "0.4.0", "name": "one", "type": "bridge",
                                      "ipam": {"type": "host-local"}})
    net = cni_conf.load("one", dirs=[str(tmp_path)], plugin_path=[plugin_dir])
    assert [p["type"] for p in net.plugins] == ["bridge"] and "name" not in net.plugins[0]


def test_broken_conflist_error_names_the_file(tmp_path, plugin_dir):
    """A conflist that is not JSON, when it is the file for the wanted name,
    raises one line naming the file."""
    path = write(str(tmp_path), "broken.conflist", '{"cniVersion": "1.0.0", "name": "broken", ')
    with pytest.raises(cni.CNIError, match=f"^{path}: not valid JSON: "):
        cni_conf.load("broken", dirs=[str(tmp_path)], plugin_path=[plugin_dir])


@pytest.mark.parametrize("raw, message", [
    ([1, 2], "a network configuration must be a JSON object"),
    ({"name": "n", "plugins": [{"type": "bridge"}]}, "missing or empty string field 'cniVersion'"),
    ({"cniVersion": "1.0.0", "name": "n", "plugins": []}, "'plugins' must be a non-empty list"),
    ({"cniVersion": "1.0.0", "name": "n", "plugins": [{"bridge": "x"}]}, "plugin #1 has no valid 'type'"),
    ({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "../bin/sh"}]}, "plugin #1 has no valid 'type'"),
    ({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "bridge", "ipam": {}}]},
     "plugin bridge: 'ipam' needs a 'type'"),
    ({"cniVersion": "1.0.0", "name": "bad name", "plugins": [{"type": "bridge"}]}, "invalid network name"),
])
def test_invalid_structure_is_one_clear_error(raw, message):
    """Each structural problem of a conflist is one error naming the file."""
    with pytest.raises(cni.CNIError, match=f"^/x/n.conflist: {message}"):
        cni_conf.parse(json.dumps(raw), "/x/n.conflist")


def test_missing_plugin_error_names_plugin_and_file(tmp_path, plugin_dir):
    """A chain naming a plugin that is not installed fails at load time with
    one line naming the plugin, the network, its file and the plugin path."""
    path = write(str(tmp_path), "n.conflist", conflist("n", [{"type": "bridge", "ipam": {"type": "host-local"}},
                                                             {"type": "nosuchplugin"}]))
    with pytest.raises(cni.CNIError,
                       match=f"^network n \\({path}\\): plugin 'nosuchplugin' not found in {plugin_dir}$"):
        cni_conf.load("n", dirs=[str(tmp_path)], plugin_path=[plugin_dir])


def test_missing_ipam_plugin_is_reported(tmp_path, plugin_dir):
    """The IPAM plugin a main plugin delegates to is checked as well."""
    write(str(tmp_path), "n.conflist", conflist("n", [{"type": "bridge", "ipam": {"type": "dhcp"}}]))
    with pytest.raises(cni.CNIError, match="plugin 'dhcp' not found"):
        cni_conf.load("n", dirs=[str(tmp_path)], plugin_path=[plugin_dir])


def test_unknown_network_names_dirs_and_broken_files(tmp_path, plugin_dir):
    """An unknown name lists where it was looked for and which broken files
    were skipped on the way (they might have been the one)."""
    broken = write(str(tmp_path), "junk.conflist", "not json")
    write(str(tmp_path), "ok.conflist", conflist("other"))
    with pytest.raises(cni.CNIError) as err:
        cni_conf.load("wanted", dirs=[str(tmp_path), "/nonexistent"], plugin_path=[plugin_dir])
    assert str(err.value) == (f"unknown network 'wanted': not found in {tmp_path}, /nonexistent "
                              f"(skipped broken files: {broken})")


def test_invalid_network_name_is_refused():
    """A network name outside the spec's alphabet is refused before any lookup."""
    with pytest.raises(cni.CNIError, match="invalid network name '../etc'"):
        cni_conf.load("../etc", dirs=["/nonexistent"])


# ---------------------------------------------------------------- ports

@pytest.mark.parametrize("spec, expected", [
    ("8080:80", {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}),
    ("53:5353/udp", {"hostPort": 53, "containerPort": 5353, "protocol": "udp"}),
    ("1:65535/TCP", {"hostPort": 1, "containerPort": 65535, "protocol": "tcp"}),
])
def test_port_mapping_parses(spec, expected):
    """HOSTPORT:PODPORT[/tcp|udp] parses into portmap's runtimeConfig entry."""
    assert cni.parse_port(spec) == expected


@pytest.mark.parametrize("spec, message", [
    ("8080", "expected HOSTPORT:PODPORT\\[/tcp\\|udp\\]"),
    ("a:80", "expected HOSTPORT"),
    ("80:80/", "expected HOSTPORT"),
    ("1.2.3.4:80:80", "expected HOSTPORT"),
    ("0:80", "port 0 is not in 1-65535"),
    ("80:70000", "port 70000 is not in 1-65535"),
    ("80:80/sctp", "protocol must be tcp or udp"),
])
def test_bad_port_mapping_is_one_clear_error(spec, message):
    """Bad -p syntax is one error quoting what the user typed."""
    with pytest.raises(cni.CNIError, match=f"^bad port mapping '{spec}': {message}"):
        cni.parse_port(spec)


def test_same_host_port_twice_is_refused():
    """Publishing one host port twice (same protocol) in one request fails;
    the same number over tcp and udp is fine."""
    assert len(cni.parse_ports(["80:80/tcp", "80:80/udp"])) == 2
    with pytest.raises(cni.CNIError, match="host port 80/tcp is published twice"):
        cni.parse_ports(["80:80", "80:81/tcp"])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_any_port_text_parses_or_fails_cleanly(text):
    """Whatever the text, parse_port returns a valid mapping or raises
    CNIError with one line; nothing else escapes."""
    try:
        m = cni.parse_port(text)
    except cni.CNIError as e:
        assert "\n" not in str(e) and str(e).startswith("bad port mapping")
        return
    assert 1 <= m["hostPort"] <= 65535 and 1 <= m["containerPort"] <= 65535
    assert m["protocol"] in ("tcp", "udp")
    assert cni.parse_port("%(hostPort)d:%(containerPort)d/%(protocol)s" % m) == m


# ---------------------------------------------------------------- store

def dead_process():
    """(pid, start) of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    start = proc.live_start(child.pid)
    child.kill()
    child.wait(10)
    return {"pid": child.pid, "start": start}


def test_owner_liveness_uses_pid_and_start_time():
    """A live process is alive; a reaped one is not; a live pid with another
    start time (pid reuse) is not taken for the recorded owner."""
    assert cni_store.alive(cni_store.me())
    assert not cni_store.alive(dead_process())
    assert not cni_store.alive({"pid": os.getpid(), "start": cni_store.me()["start"] - 1})
    assert not cni_store.alive(None) and not cni_store.alive({"pid": 1, "start": None})


def test_orphaned_follows_owner_then_deleter():
    """A record is orphaned when its owner died, or, once a DEL was claimed,
    when the claimant died or dropped the claim."""
    dead = dead_process()
    assert cni_store.orphaned({"phase": "added", "owner": dead})
    assert not cni_store.orphaned({"phase": "added", "owner": cni_store.me()})
    assert not cni_store.orphaned({"phase": "deleting", "owner": dead, "deleter": cni_store.me()})
    assert cni_store.orphaned({"phase": "deleting", "owner": cni_store.me(), "deleter": None})
    assert cni_store.orphaned({"phase": "deleting", "owner": cni_store.me(), "deleter": dead})


def test_records_round_trip_and_dead_writers_temp_files_go(tmp_path):
    """Records are saved and read back; a temp file left by a writer that
    died mid-write is removed, one of a live writer is kept."""
    state = str(tmp_path)
    cni_store.save(state, {"sandbox": "s1", "phase": "added"})
    assert cni_store.load(state, "s1") == {"sandbox": "s1", "phase": "added"}
    dead_tmp = tmp_path / f"s2.cni.json.tmp{dead_process()['pid']}"
    live_tmp = tmp_path / f"s3.cni.json.tmp{os.getpid()}"
    dead_tmp.write_text("{")
    live_tmp.write_text("{")
    assert [r["sandbox"] for r in cni_store.all_records(state)] == ["s1"]
    assert not dead_tmp.exists() and live_tmp.exists()
    cni_store.remove(state, "s1")
    cni_store.remove(state, "s1")
    assert cni_store.load(state, "s1") is None


# ---------------------------------------------------------------- runtime, no plugin run

def test_pod_cidr_picks_the_sandbox_interface():
    """The pod IP is the address on the sandbox interface named ifname."""
    result = {"interfaces": [{"name": "br"}, {"name": "veth1"}, {"name": "eth0", "sandbox": "/x"}],
              "ips": [{"address": "10.0.0.1/24", "interface": 0}, {"address": "10.0.0.7/24", "interface": 2}]}
    assert cni.pod_cidr(result) == "10.0.0.7/24"
    assert cni.pod_cidr({"ips": [{"address": "10.0.0.9/16"}]}) == "10.0.0.9/16"
    assert cni.pod_cidr(None) is None and cni.pod_cidr({"ips": []}) is None


def test_is_netns_tells_a_netns_from_a_file(tmp_path):
    """Only a network namespace file counts as a netns (a stale pin file or
    a missing path does not, so DEL gets an empty CNI_NETNS)."""
    (tmp_path / "f").write_text("")
    assert cni.is_netns("/proc/self/ns/net")
    assert not cni.is_netns("/proc/self/ns/uts")
    assert not cni.is_netns(str(tmp_path / "f")) and not cni.is_netns(str(tmp_path / "none"))
    assert not cni.is_netns("")


@pytest.mark.parametrize("kwargs, message", [
    ({"sandbox_id": "bad id"}, "invalid sandbox id 'bad id'"),
    ({"ifname": "a-very-long-ifname"}, "invalid interface name"),
    ({"port_mappings": ["80"]}, "bad port mapping '80'"),
    ({"netns_path": "/nonexistent"}, "/nonexistent: not a network namespace"),
])
def test_add_checks_arguments_before_recording(tmp_path, plugin_dir, kwargs, message):
    """add refuses bad arguments before it records or runs anything."""
    net = cni_conf.parse(json.dumps(conflist()), "/x/net1.conflist")
    args = {"sandbox_id": "s1", "netns_path": "/proc/self/ns/net", **kwargs}
    with pytest.raises(cni.CNIError, match=message):
        cni.add(net, state_dir=str(tmp_path / "state"), plugin_path=[plugin_dir], **args)
    assert not (tmp_path / "state").exists()


def test_ports_need_a_portmappings_plugin(tmp_path, plugin_dir):
    """Publishing ports on a network without a portMappings plugin fails."""
    net = cni_conf.parse(json.dumps(conflist("plain", [{"type": "bridge"}])), "/x/plain.conflist")
    with pytest.raises(cni.CNIError, match="network plain cannot publish ports"):
        cni.add(net, "s1", "/proc/self/ns/net", port_mappings=["80:80"], state_dir=str(tmp_path),
                plugin_path=[plugin_dir])


def test_teardown_of_unknown_sandbox_runs_nothing(tmp_path):
    """delete of a sandbox without record is a no-op returning False; gc of
    a missing state dir finds nothing; check says there is no attachment."""
    assert cni.delete(str(tmp_path), "nope") is False
    assert cni.delete(str(tmp_path / "missing"), "nope") is False
    assert cni.gc(str(tmp_path / "missing")) == ([], [])
    with pytest.raises(cni.CNIError, match="sandbox nope has no network attachment"):
        cni.check(str(tmp_path), "nope")


def test_cni_error_is_a_launcher_error_of_one_line():
    """CNIError is the launcher's error type (the CLI prints it, exit 125)
    and never spans lines."""
    from launcher.errors import LauncherError
    err = cni.CNIError("a\n  b\tc")
    assert isinstance(err, LauncherError) and err.code == 125 and str(err) == "a b c"


def test_sandbox_lock_is_exclusive_and_inherited_by_children(tmp_path):
    """A sandbox lock excludes a second taker, also while only a child that
    inherited its fd still runs (as a plugin orphaned by a killed
    launcher); released and unlinked, it can be taken again."""
    state = str(tmp_path)
    first = cni_store.SandboxLock(state, "s1")
    assert first.try_acquire()
    child = subprocess.Popen(["sleep", "30"], pass_fds=(first.fd,))
    try:
        os.close(first.fd)             # only the child holds it now
        first.fd = -1
        assert not cni_store.SandboxLock(state, "s1").try_acquire()
    finally:
        child.kill()
        child.wait(10)
    second = cni_store.SandboxLock(state, "s1")
    assert second.try_acquire()
    second.release(unlink=True)
    assert os.listdir(state) == []


def test_gc_removes_lock_files_without_a_record(tmp_path):
    """A sandbox lock file left without its record (crash between removing
    the two) is removed by gc, unless someone holds it."""
    state = str(tmp_path)
    (tmp_path / "gone.cni.lock").write_text("")
    held = cni_store.SandboxLock(state, "busy")
    assert held.try_acquire()
    assert cni.gc(state) == ([], [])
    assert sorted(os.listdir(state)) == [".cni-state.lock", "busy.cni.lock"]
    held.release(unlink=True)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
PLUGIN = st.fixed_dictionaries({"type": st.sampled_from(["bridge", "portmap", "", "a/b", 3])},
                               optional={"ipam": JSON, "capabilities": JSON})
CONFLIST = st.fixed_dictionaries({}, optional={"cniVersion": st.sampled_from(["1.0.0", "", 1]),
                                               "name": st.sampled_from(["n", "", "bad name", None]),
                                               "plugins": st.lists(PLUGIN, max_size=3) | JSON,
                                               "type": JSON})


@settings(max_examples=300, deadline=None)
@given(st.one_of(CONFLIST, JSON))
def test_any_json_parses_or_fails_cleanly(raw):
    """Whatever JSON a conflist file holds, parse returns a Network whose
    plugins all have a type, or raises one CNIError line naming the file."""
    try:
        net = cni_conf.parse(json.dumps(raw), "/x/f.conflist")
    except cni.CNIError as e:
        assert str(e).startswith("/x/f.conflist: ") and "\n" not in str(e)
        return
    assert net.plugins and all(isinstance(p["type"], str) and p["type"] for p in net.plugins)
    net.supports("portMappings")
