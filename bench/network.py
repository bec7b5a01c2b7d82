"""What CNI costs a pod: the same one-container pod (`launcher run --share-pid
-- true`) with no network, on the project's default bridge network (bridge +
host-local + portmap ADD when the sandbox is made, DEL at teardown), and on
it with a published port (portmap's iptables rules too). The variants run
interleaved, so drift hits all of them alike; the difference of the medians
is the ADD+DEL overhead per pod. Afterwards no IP allocation, veth or CNI
iptables chain may be left beyond what was there before.

The floor: the same conflist's plugins executed directly, as a CNI runtime
must (each plugin's config with the list's name and cniVersion, prevResult
chained, runtimeConfig portMappings for portmap; DEL last to first), on a
netns made with `ip netns add` beforehand (not timed), interleaved with
the launcher's variants; the launcher's ADD+DEL over that floor is the
ratio the issue targets (1.2x)."""
import json
import os
import re
import subprocess
import time

from common import REPO, Skip, summary
from lifecycle import launcher, scratch_dir, timed

PLUGINS = "/usr/lib/cni"
NETWORK = "bridge"  # launcher/netconf/bridge.conflist
ALLOCATIONS = os.path.join("/var/lib/cni/networks", NETWORK)
HOST_PORT = 60123   # below the ports the test suites publish (61000-65000)


def footprint():
    """What a leaked pod network would leave: allocated IPs, veths, our chains."""
    ips = sorted(n for n in os.listdir(ALLOCATIONS) if re.fullmatch(r"[0-9.]+", n)) \
        if os.path.isdir(ALLOCATIONS) else []
    veths = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True,
                           text=True, timeout=30).stdout.count("\n")
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, timeout=30).stdout
    chains = sorted(set(re.findall(r"CNI-(?:DN|HOSTPORT|SN)-[0-9a-f]+", rules)))
    return {"ips": ips, "veths": veths, "chains": chains}


CONFLIST = os.path.join(REPO, "launcher", "net", "netconf", "bridge.conflist")


def _plugin(net, plugin, command, env, prev, ports):
    config = dict(plugin, name=net["name"], cniVersion=net["cniVersion"])
    if (plugin.get("capabilities") or {}).get("portMappings"):
        config["runtimeConfig"] = {"portMappings": ports}
    if prev is not None:
        config["prevResult"] = prev
    r = subprocess.run([os.path.join(PLUGINS, plugin["type"])], input=json.dumps(config).encode(),
                       capture_output=True, env=dict(env, CNI_COMMAND=command), timeout=60)
    if r.returncode != 0:
        raise Skip(f"CNI plugin {plugin['type']} {command} failed: "
                   f"{r.stdout.decode(errors='replace').strip() or r.returncode}")
    return json.loads(r.stdout) if command == "ADD" and r.stdout.strip() else prev


def plugins_direct(i, ports):
    """Seconds of one ADD of the whole chain then its DEL, run directly."""
    with open(CONFLIST) as f:
        net = json.load(f)
    ns = f"bench-cni-floor-{os.getpid()}-{i}"
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True, timeout=30)
    try:
        env = dict(os.environ, CNI_CONTAINERID=f"benchfloor{os.getpid()}x{i}",
                   CNI_NETNS=f"/run/netns/{ns}", CNI_IFNAME="eth0", CNI_PATH=PLUGINS,
                   CNI_ARGS="IgnoreUnknown=1")
        t0 = time.perf_counter()
        prev = None
        for plugin in net["plugins"]:
            prev = _plugin(net, plugin, "ADD", env, prev, ports)
        for plugin in reversed(net["plugins"]):
            _plugin(net, plugin, "DEL", env, prev, ports)
        return time.perf_counter() - t0
    finally:
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=30)


def run(reps, progress):
    """{variant: summary, "add_del": {...}, "leaked": {...}} or {"skipped": why}."""
    lau = launcher()
    if not lau:
        return {"skipped": "launcher not installed yet"}
    missing = [p for p in ("bridge", "host-local", "portmap")
               if not os.access(os.path.join(PLUGINS, p), os.X_OK)]
    if missing:
        return {"skipped": f"CNI plugin {missing[0]} not in {PLUGINS} (containernetworking-plugins)"}
    base = [lau, "run", "--share-pid"]
    variants = {"--network none": base + ["--", "true"],
                f"--network {NETWORK}": base + ["--network", NETWORK, "--", "true"],
                f"--network {NETWORK} -p {HOST_PORT}:80":
                    base + ["--network", NETWORK, "-p", f"{HOST_PORT}:80", "--", "true"]}
    before = footprint()
    samples = {name: [] for name in variants}
    with scratch_dir("bench-net-") as state:
        env = dict(os.environ, LAUNCHER_STATE_DIR=state,
                   LAUNCHER_CNI_CONF_DIR=os.path.join(REPO, "launcher", "netconf"))
        try:
            for argv in variants.values():
                timed(argv, env)  # warm-up: the bridge and the host-local directory appear
            floors = {"plugins directly": [], f"plugins directly, port {HOST_PORT}:80": []}
            mapping = [{"hostPort": HOST_PORT, "containerPort": 80, "protocol": "tcp"}]
            for i in range(reps):
                for name, argv in variants.items():
                    samples[name].append(timed(argv, env))
                floors["plugins directly"].append(plugins_direct(2 * i, []))
                floors[f"plugins directly, port {HOST_PORT}:80"].append(
                    plugins_direct(2 * i + 1, mapping))
                progress.step(f"network {i + 1}/{reps}")
        except Skip as e:
            return {"skipped": str(e)}
    after = footprint()
    out = {name: summary(s) for name, s in samples.items()}
    none = out["--network none"]["median"]
    out["add_del"] = {name: r["median"] - none for name, r in out.items() if name != "--network none"}
    out["floor"] = {name: summary(s) for name, s in floors.items()}
    launched = [n for n in out["add_del"]]
    out["over_floor"] = {n: out["add_del"][n] / f["median"]
                         for n, f in zip(launched, out["floor"].values())}
    out["leaked"] = {"ips": sorted(set(after["ips"]) - set(before["ips"])),
                     "veths": max(0, after["veths"] - before["veths"]),
                     "chains": sorted(set(after["chains"]) - set(before["chains"]))}
    return out
