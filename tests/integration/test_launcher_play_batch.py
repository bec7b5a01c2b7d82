"""`launcher play -d` of a multi-document manifest (issue 18's batch path):
every pod started by the one process, ids printed in the manifest's order;
what a batch refuses before it makes anything; a pod that fails part-way."""
from launcher_env import wait_for


def pods_yaml(names, shared=()):
    out = []
    for n in names:
        out.append("apiVersion: v1\nkind: Pod\n"
                   f"metadata: {{name: {n}}}\nspec:\n  terminationGracePeriodSeconds: 0\n"
                   + ("  shareProcessNamespace: true\n" if n in shared else "")
                   + f"  containers:\n  - {{name: s, command: [sh, -c, 'echo {n}; exec sleep 60']}}\n")
    return "---\n".join(out)


def test_play_d_of_a_stream_starts_every_pod_in_order(lx):
    names = [f"b{i}" for i in range(7)]
    r = lx.ok("play", "-d", "-", input=pods_yaml(names, shared={"b3"}))
    ids = r.split()
    assert len(ids) == 7 and len(set(ids)) == 7
    ps = {p["id"]: p for p in lx.ps()}
    assert [ps[i]["name"] for i in ids] == names
    assert all(ps[i]["state"] == "running" for i in ids)
    assert lx.inspect("b3")["spec"]["share_pid"] is True
    assert wait_for(lambda: lx.run("logs", "b5").stdout == "b5\n", 10)
    assert len(lx.ok("rm", "-f", *ids).split()) == 7
    assert lx.ps() == [] and wait_for(lambda: not lx.procs(), 5), lx.procs()


def test_a_stream_is_refused_whole_before_anything_is_made(lx):
    for args, text, needle in [
        ([], pods_yaml(["a", "b"]), "holds 2 pods: play them with -d"),
        (["-d"], pods_yaml(["a", "a"]), "two pods are named 'a'"),
        (["-d", "-p", "8080:80", "--network", "bridge"], pods_yaml(["a", "b"]),
         "-p publishes a host port for one pod"),
        (["-d"], pods_yaml(["a"]) + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n",
         "document 2: spec"),
    ]:
        r = lx.run("play", *args, "-", input=text)
        assert r.returncode == 125, r
        assert r.stdout == "" and len(r.stderr.splitlines()) == 1 and needle in r.stderr, r.stderr
        assert lx.ps() == []


def test_a_pod_that_fails_stops_the_batch_and_the_started_ones_keep_running(lx):
    """b1's name is taken: b0 (and b2, already started beside it) keep
    running, the error names b1 and counts the started pods."""
    lx.ok("run", "-d", "--name", "b1", "--grace", "0", "--", "sleep", "60")
    r = lx.run("play", "-d", "-", input=pods_yaml(["b0", "b1", "b2"]))
    assert r.returncode == 125
    assert "pod 'b1'" in r.stderr and "already in use" in r.stderr
    assert "2 of 3 pods started and keep running" in r.stderr, r.stderr
    assert len(r.stdout.split()) == 2
    states = {p["name"]: p["state"] for p in lx.ps()}
    assert states == {"b0": "running", "b1": "running", "b2": "running"}
    lx.ok("rm", "-f", "b0", "b1", "b2")
    assert wait_for(lambda: not lx.procs(), 5), lx.procs()
