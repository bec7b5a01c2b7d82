"""The launcher as a CNI runtime: ADD, CHECK and DEL of a sandbox's network
through the plugin chain of a network configuration list, and `gc` of the
attachments whose owner died. See docs/cni.md.

Never leak an IP (../shared/README.md section 2): `add` durably records
(pod, sandbox id = CNI_CONTAINERID, network, ifname, netns path) *before*
the first plugin runs, and a failed ADD is followed at once by DEL of the
whole chain. `delete` runs DEL in reverse plugin order once per record and
then removes the record; when the netns is gone it passes an empty
CNI_NETNS, as the spec allows, and host-local releases by container id.
`gc` claims the records whose owner (or DEL claimant) died and runs their
DEL, but never while plugins a killed launcher left behind still run (they
inherit a per-sandbox flock). Plugins run with a bounded time; every
failure is one CNIError line naming the network and the plugin.
"""
import fcntl
import json
import os
import subprocess

from launcher.net import store
from launcher.net.conf import (BUILTIN_CONF_DIR, NAME_RE, CNIError, Network, find_plugin, load,  # noqa: F401
                               parse_port, parse_ports, plugin_dirs, validate)

PLUGIN_TIMEOUT = 60.0        # seconds one plugin run may take
NS_GET_NSTYPE = 0xb703       # ioctl: the CLONE_NEW* type of a namespace fd
CLONE_NEWNET = 0x40000000


class Attachment:
    """What the launcher shows of one sandbox's network: `sandbox`, `pod`,
    `network`, `ifname`, `netns`, `ports`, `phase`, `result` (the ADD result
    JSON), `ip` (pod IP without prefix) and `cidr` (with it), or None."""

    def __init__(self, record):
        self.record = record
        for key in ("sandbox", "pod", "network", "ifname", "netns", "ports", "phase", "result"):
            setattr(self, key, record.get(key))
        self.cidr = pod_cidr(self.result, self.ifname)
        self.ip = self.cidr.split("/")[0] if self.cidr else None

    def summary(self):
        """What `inspect` shows: a JSON-ready dict."""
        return {"network": self.network, "ifname": self.ifname, "ip": self.ip, "cidr": self.cidr,
                "ports": self.ports, "phase": self.phase, "netns": self.netns}

    def __repr__(self):
        return f"Attachment({self.sandbox!r}, {self.network!r}, ip={self.ip!r}, phase={self.phase!r})"


def pod_cidr(result, ifname="eth0"):
    """The first address of the result that belongs to the sandbox interface
    `ifname` (or the first address at all), as "IP/PREFIX", or None."""
    if not result:
        return None
    ifaces = result.get("interfaces") or []
    ips = result.get("ips") or []
    for ip in ips:
        idx = ip.get("interface")
        if isinstance(idx, int) and 0 <= idx < len(ifaces) \
                and ifaces[idx].get("sandbox") and ifaces[idx].get("name") == ifname:
            return ip.get("address")
    return ips[0].get("address") if ips else None


def is_netns(path):
    """True if `path` is (a bind mount of) a network namespace file."""
    if not path:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET
    except OSError:
        return False
    finally:
        os.close(fd)


def _version(text):
    """A cniVersion as a comparable tuple ("0.4.0" -> (0, 4, 0))."""
    try:
        return tuple(int(x) for x in text.split("."))
    except (AttributeError, ValueError):
        return (0,)


def _network(record):
    """The Network a record was added with (its stored conflist)."""
    return Network(record["conflist"], record["conf_path"])


def _error_text(proc):
    """One line out of a failed plugin run: the spec's error JSON
    ({"code", "msg", "details"}) if it printed one, else its last line."""
    try:
        err = json.loads(proc.stdout)
        text = str(err["msg"])
        if err.get("details"):
            text += f": {err['details']}"
        return f"{text} (CNI error {err.get('code')})"
    except (ValueError, KeyError, TypeError):
        pass
    lines = (proc.stderr or proc.stdout or b"").decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {proc.returncode}"


def _cni_args(record):
    """CNI_ARGS: key=value pairs plugins may ignore (IgnoreUnknown=1)."""
    args = ["IgnoreUnknown=1", f"K8S_POD_INFRA_CONTAINER_ID={record['sandbox']}"]
    if record.get("pod") and NAME_RE.match(record["pod"]):
        args.append(f"K8S_POD_NAME={record['pod']}")
    return ";".join(args)


def _exec(net, plugin, command, record, prev_result, lock=None):
    """Runs one plugin of the chain with `command` (ADD, CHECK, DEL) as the
    spec says: CNI_* env, the plugin's config on stdin with the list's name
    and cniVersion, runtimeConfig for its declared capabilities, and
    prevResult. The plugin inherits the sandbox lock's fd (see
    store.SandboxLock). Returns the ADD result (prev_result if it
    printed none)."""
    config = dict(plugin, name=net.name, cniVersion=net.cni_version)
    if (plugin.get("capabilities") or {}).get("portMappings"):
        config["runtimeConfig"] = {"portMappings": record["ports"]}
    if prev_result is not None:
        config["prevResult"] = prev_result
    netns = record["netns"] if command == "ADD" or is_netns(record["netns"]) else ""
    env = dict(os.environ, CNI_COMMAND=command, CNI_CONTAINERID=record["sandbox"],
               CNI_NETNS=netns, CNI_IFNAME=record["ifname"], CNI_ARGS=_cni_args(record),
               CNI_PATH=":".join(record["plugin_path"]))
    where = f"network {net.name}: plugin {plugin['type']} {command}"
    binary = find_plugin(plugin["type"], record["plugin_path"])
    if not binary:
        raise CNIError(f"{where}: plugin not found in {':'.join(record['plugin_path'])}")
    try:
        proc = subprocess.run([binary], input=json.dumps(config).encode(), capture_output=True,
                              env=env, cwd="/", timeout=PLUGIN_TIMEOUT,
                              pass_fds=(lock.fd,) if lock else ())
    except subprocess.TimeoutExpired:
        raise CNIError(f"{where} timed out after {PLUGIN_TIMEOUT:g} s") from None
    except OSError as e:
        raise CNIError(f"{where}: cannot run {binary}: {e.strerror}") from None
    if proc.returncode != 0:
        raise CNIError(f"{where} failed: {_error_text(proc)}")
    if command != "ADD" or not proc.stdout.strip():
        return prev_result
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise CNIError(f"{where} printed a result that is not JSON") from None


def _del_chain(record, lock):
    """DEL through every plugin, last to first, with the cached result as
    prevResult (spec >= 0.4.0); stops at the first failure, as the spec
    requires, raising its CNIError."""
    net = _network(record)
    prev = record.get("result") if _version(net.cni_version) >= (0, 4, 0) else None
    for plugin in reversed(net.plugins):
        _exec(net, plugin, "DEL", record, prev, lock)


def _finish_delete(state_dir, record, lock):
    """Runs DEL for a record this process has claimed (holding its sandbox
    lock), then removes the record and the lock. On failure the claim is
    dropped (phase "deleting", no deleter): the DEL is pending, and the
    next delete or gc retries it."""
    try:
        _del_chain(record, lock)
    except CNIError:
        record["deleter"] = None
        store.save(state_dir, record)
        lock.release()
        raise
    store.remove(state_dir, record["sandbox"])
    lock.release(unlink=True)


def _ports_in_use(state_dir, ports):
    """Raises CNIError if a host port of `ports` is published by a record."""
    wanted = {(p["hostPort"], p["protocol"]) for p in ports}
    for other in store.all_records(state_dir):
        for p in other.get("ports") or ():
            if (p["hostPort"], p["protocol"]) in wanted:
                raise CNIError(f"host port {p['hostPort']}/{p['protocol']} is already published by "
                               f"sandbox {other['sandbox']} (pod {other.get('pod')})")


def add(net, sandbox_id, netns_path, ifname="eth0", port_mappings=(), *, state_dir,
        pod_id=None, owner_pid=None, plugin_path=None):
    """Attaches the netns at `netns_path` to network `net` (a Network from
    `load`) as CNI container `sandbox_id`; returns the Attachment.

    Order: check every argument; record (phase "adding", owned by this
    process) durably; ADD through the chain, holding the sandbox lock;
    record the result, owned from then on by `owner_pid` (default: this
    process). If ADD fails, DEL runs through the whole chain and the
    record goes; the ADD error is raised."""
    if not isinstance(sandbox_id, str) or not NAME_RE.match(sandbox_id):
        raise CNIError(f"invalid sandbox id {sandbox_id!r}")
    if not ifname or len(ifname) > 15 or "/" in ifname or ifname in (".", ".."):
        raise CNIError(f"invalid interface name {ifname!r}")
    ports = parse_ports(port_mappings)
    if ports and not net.supports("portMappings"):
        raise CNIError(f"network {net.name} cannot publish ports: no plugin has the portMappings capability")
    plugin_path = list(plugin_path or plugin_dirs())
    validate(net, plugin_path)
    if not is_netns(netns_path):
        raise CNIError(f"{netns_path}: not a network namespace")
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    record = {"version": 1, "pod": pod_id, "sandbox": sandbox_id, "network": net.name,
              "ifname": ifname, "netns": os.path.abspath(netns_path), "ports": ports,
              "conf_path": net.path, "conflist": net.raw, "plugin_path": plugin_path,
              "phase": "adding", "owner": store.me(), "result": None}
    lock = store.SandboxLock(state_dir, sandbox_id)
    with store.Lock(state_dir):
        if store.load(state_dir, sandbox_id) is not None:
            raise CNIError(f"sandbox {sandbox_id} already has a network attachment")
        _ports_in_use(state_dir, ports)
        if not lock.try_acquire():
            raise CNIError(f"sandbox {sandbox_id}: plugins of an earlier attempt are still running")
        store.save(state_dir, record)
    try:
        result = None
        for plugin in net.plugins:
            result = _exec(net, plugin, "ADD", record, result, lock)
    except BaseException as e:
        _undo_add(state_dir, record, lock, e)
        raise
    record.update(phase="added", result=result,
                  owner=store.process(owner_pid) if owner_pid else record["owner"])
    store.save(state_dir, record)
    lock.release()
    return Attachment(record)


def _undo_add(state_dir, record, lock, error):
    """After a failed ADD: DEL through the whole chain (also the plugins
    ADD never reached, as the spec says) and drop the record. If that DEL
    fails too, the record stays for gc and the error says so."""
    record.update(phase="deleting", deleter=store.me())
    store.save(state_dir, record)
    try:
        _finish_delete(state_dir, record, lock)
    except CNIError as e:
        if isinstance(error, CNIError):
            raise CNIError(f"{error}; undoing it failed too ({e}); `launcher gc` retries") from None


def delete(state_dir, sandbox_id):
    """Detaches sandbox_id: DEL in reverse plugin order, then the record is
    removed. Returns False (and runs nothing) if there is no record, so DEL
    runs once per ADD however often teardown is attempted. Refuses while
    another process (or plugins it left running) is adding or deleting the
    same sandbox."""
    if not os.path.isdir(state_dir):
        return False
    lock = store.SandboxLock(state_dir, sandbox_id)
    with store.Lock(state_dir):
        record = store.load(state_dir, sandbox_id)
        if record is None:
            return False
        verb = "ADD" if record["phase"] == "adding" else "DEL"
        holder = record.get("owner" if verb == "ADD" else "deleter")
        if record["phase"] != "added" and holder and holder["pid"] != os.getpid() and store.alive(holder):
            raise CNIError(f"sandbox {sandbox_id}: {verb} of network {record['network']} is "
                           f"in progress in pid {holder['pid']}")
        if not lock.try_acquire():
            raise CNIError(f"sandbox {sandbox_id}: plugins of network {record['network']} are still running")
        if store.load(state_dir, sandbox_id) is None:   # a DEL finished meanwhile (see gc)
            lock.release()
            return False
        record.update(phase="deleting", deleter=store.me())
        store.save(state_dir, record)
    _finish_delete(state_dir, record, lock)
    return True


def check(state_dir, sandbox_id):
    """CHECK through the chain with the recorded result as prevResult.
    Returns True if checked, False if the network opts out (cniVersion
    before 0.4.0 or disableCheck); raises CNIError on any problem."""
    record = store.load(state_dir, sandbox_id)
    if record is None:
        raise CNIError(f"sandbox {sandbox_id} has no network attachment")
    if record["phase"] != "added":
        raise CNIError(f"sandbox {sandbox_id}: network {record['network']} is {record['phase']}")
    net = _network(record)
    if _version(net.cni_version) < (0, 4, 0) or net.disable_check:
        return False
    if not is_netns(record["netns"]):
        raise CNIError(f"sandbox {sandbox_id}: network namespace {record['netns']} is gone")
    for plugin in net.plugins:
        try:
            _exec(net, plugin, "CHECK", record, record["result"])
        except CNIError as e:
            if not _portmap_ipv6_check_bug(plugin, record, e):
                raise
    return True


def _portmap_ipv6_check_bug(plugin, record, error):
    """True for the known portmap bug (containernetworking/plugins#819,
    fixed after 1.2; Debian 12 ships 1.1.1): its CHECK looks for IPv6 DNAT
    chains even when the sandbox has no IPv6 address, so ADD made none.
    The IPv4 part was checked before it reached the IPv6 one."""
    ips = (record.get("result") or {}).get("ips") or []
    return (plugin.get("type") == "portmap" and "could not check ipv6 dnat" in str(error)
            and not any(":" in str(ip.get("address", "")) for ip in ips))


def gc(state_dir):
    """Runs the pending DEL of every orphaned record (owner or DEL claimant
    dead) whose sandbox lock is free, i.e. no plugin of a killed launcher
    is still running for it; each is claimed under the state lock, so two
    gc runs never DEL the same sandbox. Also removes stale lock files.
    Returns (released sandbox ids, [(sandbox id, error)])."""
    if not os.path.isdir(state_dir):
        return [], []
    claimed = []
    with store.Lock(state_dir):
        for record in store.all_records(state_dir):
            lock = store.SandboxLock(state_dir, record["sandbox"])
            if not (store.orphaned(record) and lock.try_acquire()):
                continue
            # A DEL may have finished since the scan: it removes the record
            # before it releases the sandbox lock, so read it again now.
            record = store.load(state_dir, record["sandbox"])
            if record is None or not store.orphaned(record):
                lock.release()
                continue
            record.update(phase="deleting", deleter=store.me())
            store.save(state_dir, record)
            claimed.append((record, lock))
        for sandbox_id in store.stale_locks(state_dir):
            lock = store.SandboxLock(state_dir, sandbox_id)
            if lock.try_acquire():
                lock.release(unlink=True)
    released, failed = [], []
    for record, lock in claimed:
        try:
            _finish_delete(state_dir, record, lock)
            released.append(record["sandbox"])
        except CNIError as e:
            failed.append((record["sandbox"], str(e)))
    return released, failed


def attachments(state_dir):
    """Every recorded attachment in state_dir (for ps and inspect)."""
    return [Attachment(r) for r in store.all_records(state_dir)]


def attachment(state_dir, sandbox_id):
    """The Attachment of sandbox_id, or None."""
    record = store.load(state_dir, sandbox_id)
    return Attachment(record) if record else None
