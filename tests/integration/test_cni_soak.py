"""Soak: many short-lived sandboxes on one network with faults injected at
random points (the launcher SIGKILLed during ADD or during DEL, the netns
gone before teardown, a plugin failing ADD, the owner exiting without
teardown), with `gc` run now and then as `launcher run` does on start.
Afterwards every sandbox that got an ADD got a DEL after it, DEL ran once
per ADD wherever no DEL was interrupted, host-local's allocation dir is
empty, and no veth, record or iptables rule of ours is left.

The launcher stand-in is a worker forked by a driver that is a child
subreaper, so plugins orphaned by the SIGKILL finish and are reaped before
gc runs (as they would be under a supervisor); see docs/cni.md.
"""
import os
import random
import subprocess
import time

import pytest

from test_cni import MISSING, driver_argv, allocations, lab, links_of, nat_rules_of, sh  # noqa: F401 (lab is a fixture)

pytestmark = [pytest.mark.skipif(bool(MISSING), reason="needs " + ", ".join(MISSING)), pytest.mark.slow]

from launcher.net import cni
from launcher.net import store as cni_store  # noqa: E402

SANDBOXES = int(os.environ.get("CNI_SOAK_SANDBOXES", "60"))
BUDGET = float(os.environ.get("CNI_SOAK_BUDGET", "300"))   # catches a hang, not a slow host
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

def drive(lab, op, sandbox, netns=None, ports=(), kill_after=None):
    """Runs cni.add/cni.delete in a worker process, SIGKILLed after
    kill_after seconds (None: left to finish, then it exits without any
    teardown); returns once the worker and its plugins are gone."""
    subprocess.run(driver_argv(lab, op, sandbox, netns, ports, kill_after), cwd=REPO, timeout=60,
                   capture_output=True, check=True)


def test_soak_every_add_gets_exactly_one_del(lab):
    """SANDBOXES sandboxes with random faults: ADD count == DEL count (one
    DEL per ADD unless a DEL itself was interrupted, then it is retried
    by gc), and the allocation dir, bridge, state dir and iptables end
    empty of ours, within about a minute."""
    seed = int(os.environ.get("CNI_SOAK_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    net = lab.network()
    started = time.monotonic()
    scenarios = {}
    for i in range(SANDBOXES):
        sid, netns = lab.sandbox(), lab.netns()
        ports = [f"{20000 + i}:80"] if rnd.random() < 0.5 else []
        kind = rnd.choice(["clean", "netns-gone", "kill-add", "kill-del", "fail-add", "owner-exits"])
        scenarios[sid] = kind
        if kind == "clean":
            cni.add(net, sid, netns, port_mappings=ports, state_dir=lab.state_dir, plugin_path=lab.plugin_path)
            assert cni.delete(lab.state_dir, sid)
        elif kind == "netns-gone":
            cni.add(net, sid, netns, port_mappings=ports, state_dir=lab.state_dir, plugin_path=lab.plugin_path)
            lab.delete_netns(netns)
            assert cni.delete(lab.state_dir, sid)
        elif kind == "kill-add":
            drive(lab, "add", sid, netns, ports, kill_after=rnd.uniform(0, 0.08))
        elif kind == "kill-del":
            cni.add(net, sid, netns, port_mappings=ports, state_dir=lab.state_dir, plugin_path=lab.plugin_path)
            drive(lab, "delete", sid, kill_after=rnd.uniform(0, 0.06))
        elif kind == "fail-add":
            # an eth0 already in the netns: bridge's ADD fails (no dummy
            # module here, so a veth pair)
            sh("ip", "netns", "exec", os.path.basename(netns),
               "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
            with pytest.raises(cni.CNIError, match="plugin bridge ADD failed"):
                cni.add(net, sid, netns, port_mappings=ports, state_dir=lab.state_dir,
                        plugin_path=lab.plugin_path)
        else:
            drive(lab, "add", sid, netns, ports, kill_after=None)
        if kind != "netns-gone" and rnd.random() < 0.3:
            lab.delete_netns(netns)          # the pod's netns dies before gc
        if rnd.random() < 0.15:
            assert cni.gc(lab.state_dir)[1] == []
    assert cni.gc(lab.state_dir)[1] == [], f"seed {seed}"
    for record in cni_store.all_records(lab.state_dir):
        # a DEL killed before it claimed the record leaves it to its live
        # owner (this process): the launcher's retried teardown
        assert record["phase"] == "added" and scenarios[record["sandbox"]] == "kill-del", f"seed {seed}"
        assert cni.delete(lab.state_dir, record["sandbox"])
    elapsed = time.monotonic() - started

    calls = lab.calls()
    outcomes = {}
    for sid, kind in scenarios.items():
        runs = [c[0] for c in calls if c[1] == sid and c[2] == "bridge"]
        adds, dels = runs.count("ADD"), runs.count("DEL")
        where = f"sandbox {sid} ({kind}), bridge runs {runs}, seed {seed}"
        outcome = f"{kind}:{adds}ADD/{dels}DEL"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        assert adds <= 1, where
        if adds:
            assert runs[-1] == "DEL", where
        if kind == "kill-del":
            assert adds == 1 and dels in (1, 2), where
        else:
            assert dels == adds or (adds == 0 and dels == 1), where
    assert cni_store.all_records(lab.state_dir) == []
    assert allocations(lab.name) == [], f"leaked IPs, seed {seed}"
    assert links_of(lab.bridge) == [], f"leaked veths, seed {seed}"
    assert nat_rules_of(list(scenarios)) == [], f"leaked rules, seed {seed}"
    assert elapsed < BUDGET, f"soak took {elapsed:.1f} s (budget {BUDGET:g} s, CNI_SOAK_BUDGET)"
    print(f"soak: {SANDBOXES} sandboxes in {elapsed:.1f} s ({SANDBOXES / elapsed:.1f}/s), seed {seed}, "
          f"outcomes {dict(sorted(outcomes.items()))}")
