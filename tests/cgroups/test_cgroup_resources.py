"""Resources from manifests and flags, the pod's totals, the QoS class, and
the kubelet's mapping to cgroup files (pure functions: no cgroup needed)."""
import json

import pytest

from launcher.cgroups import limits, resources as r
from launcher.errors import LauncherError

F = "spec.containers[0].resources"
Mi = 1 << 20


def ctr(cpu_limit=None, cpu_request=None, mem_limit=None, mem_request=None):
    return {"cpu_limit_millis": cpu_limit, "cpu_request_millis": cpu_request,
            "memory_limit_bytes": mem_limit, "memory_request_bytes": mem_request}


def test_manifest_resources_with_kubernetes_defaulting():
    """A limit without a request sets the request to the limit; YAML numbers
    are quantities too; other resources are ignored."""
    got = r.from_manifest({"limits": {"cpu": "500m", "memory": "64Mi", "ephemeral-storage": "1Gi"},
                           "requests": {"cpu": 0.25}}, F)
    assert got == ctr(500, 250, 64 * Mi, 64 * Mi)
    assert r.from_manifest({"requests": {"memory": 1000, "cpu": 2}}, F) == ctr(None, 2000, None, 1000)
    assert r.from_manifest(None, F) == r.empty() == ctr()
    assert r.from_manifest({}, F) == ctr()


def test_a_zero_request_stays_zero_and_means_unset():
    """requests.cpu: 0 with a limit is not defaulted to the limit (Kubernetes
    defaults only absent keys), and zero means unset."""
    assert r.from_manifest({"limits": {"cpu": "1"}, "requests": {"cpu": "0"}}, F) == ctr(1000, None)


@pytest.mark.parametrize("resources, message", [
    ({"limits": {"memory": "12Qi"}}, F + ".limits.memory: '12Qi' is not a quantity"),
    ({"requests": {"cpu": "-1"}}, F + ".requests.cpu: '-1' must not be negative"),
    ({"limits": {"cpu": "1"}, "requests": {"cpu": "2"}},
     F + ".requests.cpu: '2' must be less than or equal to the cpu limit '1'"),
    ({"limits": {"cpu": True}}, F + ".limits.cpu: True is not a quantity"),
    ({"limits": {"memory": float("nan")}}, F + ".limits.memory: nan is not a quantity"),
    ({"limits": ["cpu"]}, F + ".limits: must be a mapping"),
    ({"limit": {}}, F + ".limit: unknown field"),
    ("1Gi", F + ": must be a mapping"),
])
def test_manifest_errors_name_the_field_path(resources, message):
    """Every bad `resources` is one LauncherError starting with its field path."""
    with pytest.raises(LauncherError) as e:
        r.from_manifest(resources, F)
    assert str(e.value).startswith(message)


def test_cli_flags_give_guaranteed_limits():
    """--memory and --cpus set limits and equal requests."""
    assert r.from_cli(memory="64m", cpus="0.5") == ctr(500, 500, 64 * Mi, 64 * Mi)
    assert r.from_cli() == ctr()


def test_pod_totals_as_the_kubelet_sizes_the_pod_cgroup():
    """Requests add up; a limit is the sum only if every container (init
    containers too) has one; an init container counts as its maximum."""
    a, b = ctr(500, 250, 64 * Mi, 32 * Mi), ctr(1000, 1000, 32 * Mi, 32 * Mi)
    assert r.pod([a, b]) == {"pids_limit": r.DEFAULT_PIDS_LIMIT, "cpu_limit_millis": 1500,
                             "cpu_request_millis": 1250, "memory_limit_bytes": 96 * Mi,
                             "memory_request_bytes": 64 * Mi}
    assert r.pod([a, ctr(cpu_request=100)], pids_limit=None)["memory_limit_bytes"] is None
    assert r.pod([a, ctr(cpu_request=100)], pids_limit=None)["pids_limit"] is None
    big_init = ctr(4000, 4000, 512 * Mi, 512 * Mi)
    assert r.pod([a, b], [big_init])["cpu_limit_millis"] == 4000
    assert r.pod([a, b], [big_init])["memory_request_bytes"] == 512 * Mi
    assert r.pod([a, b], [ctr()])["cpu_limit_millis"] is None
    assert r.pod([ctr()]) == {"pids_limit": 4096, "cpu_limit_millis": None, "cpu_request_millis": None,
                              "memory_limit_bytes": None, "memory_request_bytes": None}


@pytest.mark.parametrize("containers, qos", [
    ([ctr()], r.QOS_BEST_EFFORT),
    ([ctr(), ctr()], r.QOS_BEST_EFFORT),
    ([ctr(500, 500, Mi, Mi)], r.QOS_GUARANTEED),
    ([ctr(500, 500, Mi, Mi), ctr(100, 100, Mi, Mi)], r.QOS_GUARANTEED),
    ([ctr(500, 250, Mi, Mi)], r.QOS_BURSTABLE),              # request below limit
    ([ctr(500, 500)], r.QOS_BURSTABLE),                      # no memory limit
    ([ctr(mem_limit=Mi, mem_request=Mi)], r.QOS_BURSTABLE),  # no cpu limit
    ([ctr(cpu_request=100)], r.QOS_BURSTABLE),               # a request only
    ([ctr(500, 500, Mi, Mi), ctr()], r.QOS_BURSTABLE),       # one BestEffort container
    ([ctr(500, None, Mi, Mi)], r.QOS_BURSTABLE),             # requests.cpu: 0 explicitly
])
def test_qos_class(containers, qos):
    """Guaranteed: every container limits cpu and memory with requests equal;
    BestEffort: nothing anywhere; else Burstable."""
    assert r.qos_class(containers) == qos


def test_qos_from_manifests_applies_defaulting_first():
    """Limits only (requests defaulted) is Guaranteed, as in Kubernetes."""
    c = r.from_manifest({"limits": {"cpu": "1", "memory": "1Gi"}}, F)
    assert r.qos_class([c]) == r.QOS_GUARANTEED


def test_records_are_plain_json_and_are_checked_when_read_back():
    """Container and pod dicts survive json round trips; a damaged record is
    one LauncherError."""
    c = ctr(500, 250, 64 * Mi, None)
    p = r.pod([c])
    assert r.load_container(json.loads(json.dumps(c))) == c
    assert r.load_pod(json.loads(json.dumps(p))) == p
    for bad in ({}, [], dict(c, extra=1), dict(c, cpu_limit_millis="500m"),
                dict(c, cpu_limit_millis=-1), dict(c, cpu_limit_millis=True)):
        with pytest.raises(LauncherError):
            r.load_container(bad)


@pytest.mark.parametrize("millis, shares", [
    (None, 2), (0, 2), (1, 2), (2, 2), (100, 102), (250, 256), (1000, 1024),
    (2000, 2048), (256000, 262144), (300000, 262144)])
def test_cpu_shares_as_the_kubelet(millis, shares):
    """MilliCPUToShares: millicores * 1024 / 1000, from 2 to 262144."""
    assert limits.shares(millis) == shares


@pytest.mark.parametrize("shares, weight", [(2, 1), (102, 4), (1024, 39), (2048, 79), (262144, 10000)])
def test_cpu_weight_from_shares_as_the_kubelet(shares, weight):
    """CpuSharesToCpuWeight: 1 + (shares - 2) * 9999 / 262142."""
    assert limits.weight(shares) == weight


@pytest.mark.parametrize("millis, quota", [(500, 50000), (1000, 100000), (2500, 250000), (5, 1000), (10, 1000)])
def test_cpu_quota_over_100ms(millis, quota):
    """MilliCPUToQuota: millicores * 100 us, at least 1000 us."""
    assert limits.quota(millis) == quota


def _plan(res, v2, **kw):
    return [(s.file, s.value) for s in limits.plan(res, lambda c: v2, **kw)]


def test_v1_files():
    """A v1 container: shares, period + quota, memory and memsw limits."""
    assert _plan(ctr(500, 250, 64 * Mi, 64 * Mi), False) == [
        ("cpu.shares", "256"), ("cpu.cfs_quota_us", "50000"),
        ("memory.limit_in_bytes", str(64 * Mi)), ("memory.memsw.limit_in_bytes", str(64 * Mi))]
    assert _plan(ctr(), False, pids_limit=200, container=False) == [
        ("cpu.shares", "2"), ("pids.max", "200")]


def test_v2_files():
    """A v2 container: weight, cpu.max, memory.max, no swap, OOM kills the group."""
    assert _plan(ctr(500, 250, 64 * Mi, 64 * Mi), True) == [
        ("cpu.weight", "10"), ("cpu.max", "50000 100000"), ("memory.max", str(64 * Mi)),
        ("memory.swap.max", "0"), ("memory.oom.group", "1")]
    assert _plan(ctr(mem_limit=Mi), True, pids_limit=4096, container=False) == [
        ("cpu.weight", "1"), ("memory.max", str(Mi)), ("memory.swap.max", "0"), ("pids.max", "4096")]
