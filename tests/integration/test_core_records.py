"""Pod records are versioned JSON written whole or not at all.

A full disk must never leave a truncated pod.json in place (the pod would
vanish from ps, rm and gc with its name claimed forever); a record that
cannot be read anyway (corrupt, or from a launcher version this one does
not know) shows in `ps` as corrupt, is removed by `rm -f`, and never makes
`ps`, `gc` or `rm` of the other pods fail."""
import json
import os
import subprocess

import pytest

from launcher_env import Launcher, wait_for


def record_path(lx, pod):
    return os.path.join(lx.inspect(pod)["dir"], "pod.json")


def test_records_are_versioned_json(lx):
    """pod.json and a detached supervisor's supervisor.json are JSON records
    with a version and a kind (never a pickle)."""
    pod = lx.ok("run", "-d", "--name", "rec", "--", "sleep", "60").strip()
    d = lx.inspect(pod)["dir"]
    with open(os.path.join(d, "pod.json")) as f:
        rec = json.load(f)
    assert rec["version"] == 1 and rec["kind"] == "pod" and rec["id"] == pod
    if lx.inspect(pod)["supervisor"]["kind"] == "monitor":
        assert wait_for(lambda: os.path.exists(os.path.join(d, "supervisor.json")), 5)
        with open(os.path.join(d, "supervisor.json")) as f:
            sup = json.load(f)
        assert sup["version"] == 1 and sup["kind"] == "supervisor-state"
    assert not os.path.exists(os.path.join(d, "supervisor.state"))
    lx.ok("rm", "-f", pod)


@pytest.mark.parametrize("content, why", [
    (b'{"id": "trunc', "corrupt (not JSON)"),
    (b"", "corrupt (not JSON)"),
    (b'{"version": 7, "kind": "pod", "id": "x"}', "record version 7 is not supported"),
    (b'["a", "list"]', "corrupt (not a pod record)"),
], ids=["truncated", "empty", "future-version", "not-a-record"])
def test_a_corrupt_record_is_shown_and_removable_and_harms_no_other_pod(lx, content, why):
    """A pod whose record cannot be used: ps (table and JSON) shows it
    corrupt with the reason; inspect says why; rm refuses without -f and
    rm -f removes it and frees its name; ps, gc and rm of the other pods
    work throughout."""
    bad = lx.ok("run", "-d", "--name", "bad", "--", "sleep", "60").strip()
    good = lx.ok("run", "-d", "--name", "good", "--", "sleep", "60").strip()
    path = record_path(lx, bad)
    lx.ok("stop", "bad")
    with open(path, "wb") as f:
        f.write(content)
    rows = {p["id"]: p for p in lx.ps()}
    assert rows[bad]["state"] == "corrupt" and why in rows[bad]["error"], rows[bad]
    assert rows[good]["state"] == "running"
    assert "corrupt" in lx.ok("ps")
    r = lx.run("inspect", bad)
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "corrupt"
    lx.ok("gc")
    assert lx.run("rm", "bad").returncode == 125       # by its name claim, without -f: refused
    assert {p["id"] for p in lx.ps()} == {bad, good}
    lx.ok("rm", "-f", "bad")
    assert [p["id"] for p in lx.ps()] == [good]
    lx.ok("run", "-d", "--name", "bad", "--", "true")  # the name is free again
    lx.ok("rm", "-f", "good", "bad")


@pytest.fixture
def tiny_state(tmp_path):
    """A state dir on a 256 KB tmpfs, for filling up."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mnt)],
                   check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def _fill(path):
    """Fills the filesystem of path; returns the filler's path."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_leaves_no_truncated_record(tiny_state):
    """With the state dir's filesystem full: run fails with one line naming
    the full disk (exit 125), no pod directory and no name claim are left,
    and once space is back the name can be used."""
    lx = Launcher(tiny_state / "state")
    lx.ok("ps")
    filler = _fill(tiny_state)
    r = lx.run("run", "-d", "--name", "full", "--", "sleep", "60")
    assert r.returncode == 125 and "no space left" in r.stderr and r.stderr.count("\n") == 1, \
        r.stderr
    assert lx.ps() == []
    assert lx.pod_files() == []
    os.unlink(filler)
    lx.ok("run", "-d", "--name", "full", "--", "true")
    assert [p["name"] for p in lx.ps()] == ["full"]
    lx.ok("rm", "-f", "full")
    assert not lx.procs()


def test_a_record_update_on_a_full_disk_keeps_the_old_record(tiny_state):
    """The disk fills while a pod runs: the record updates that fail leave
    the previous complete record in place (never a truncated one), so the
    pod stays visible to ps and removable by rm."""
    lx = Launcher(tiny_state / "state")
    pod = lx.ok("run", "-d", "--name", "busy", "--restart", "Always", "--backoff", "0.05",
                "--", "true").strip()
    filler = _fill(tiny_state)
    try:
        for _ in range(20):
            [row] = lx.ps()
            assert row["id"] == pod and row["state"] != "corrupt", row
    finally:
        os.unlink(filler)
    lx.ok("rm", "-f", pod)
    assert lx.ps() == [] and not lx.procs()


def test_pod_state_is_atomic_and_not_fsynced(tmp_path, monkeypatch):
    """Runtime state (launcher/store/pods.py says why): making a pod, saving
    its record and writing a supervisor file call fsync not once, and each
    leaves the complete new content under its name with no temp file
    beside it; the shared writer still fsyncs the file and its directory
    when asked to (the image and network stores do)."""
    from launcher.store import fs, pods
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    store = pods.Store(str(tmp_path / "state"))
    try:
        pod = store.create("p", lambda pod_id, name: {"id": pod_id, "name": name, "n": 0})
        for n in range(1, 4):
            pod.save({**pod.record, "n": n})
            assert store.open(pod.id).record["n"] == n
        pod.write("supervisor.json", b"{}\n")
        assert pod.read("supervisor.json") == b"{}\n"
        assert synced == []
        assert sorted(os.listdir(pod.fd)) == ["pod.json", "supervisor.json"]
        fs.write_atomic(pod.fd, "durable", b"x")
        assert len(synced) == 2 and pod.read("durable") == b"x"
        pod.close()
    finally:
        store.close()
