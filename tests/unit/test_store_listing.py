"""Listing pods the way `ps` does, in a real state root with real
processes: every pod directory once, in id order, nothing planted beside
them followed or listed, no stat per pod; and `ps`'s status leaves out the
one /proc read it does not show (whether pause runs)."""
import os
import subprocess

from launcher import proc
from launcher.store import pods as store_pods
from launcher.store.status import status

IDS = ["0000000000000001", "00000000000000a2", "ffffffffffffff03"]


def make_store(path, monkeypatch, records):
    """A Store at path with one pod per (id, record) entry."""
    path.mkdir(mode=0o700, exist_ok=True)
    store = store_pods.Store(str(path))
    for pod_id, rec in records:
        monkeypatch.setattr(store_pods, "new_id", lambda pod_id=pod_id: pod_id)
        make = lambda i, n, rec=rec: dict({"id": i, "name": n}, **rec)   # noqa: E731
        store.create("n" + pod_id[-2:], make).close()
    return store


def test_pods_lists_each_directory_once_and_skips_what_was_planted(tmp_path, monkeypatch):
    """A file and two symlinks (one to a real pod directory elsewhere, one
    dangling) named like pod ids are neither listed nor followed, and the
    listing takes no stat of any entry (open() with O_DIRECTORY|O_NOFOLLOW
    refuses them itself)."""
    store = make_store(tmp_path / "s", monkeypatch, [(i, {}) for i in reversed(IDS)])
    elsewhere = make_store(tmp_path / "other", monkeypatch, [("abcdefabcdefabcd", {})])
    root = str(tmp_path / "s")
    with open(os.path.join(root, "1111111111111111"), "w") as f:
        f.write("{}")
    os.symlink(os.path.join(str(tmp_path / "other"), "abcdefabcdefabcd"),
               os.path.join(root, "2222222222222222"))
    os.symlink("/nonexistent", os.path.join(root, "3333333333333333"))
    stats = []
    real_stat = os.stat
    monkeypatch.setattr(store_pods.os, "stat",
                        lambda *a, **k: stats.append(a) or real_stat(*a, **k))
    listed = store.pods()
    assert [p.id for p in listed] == IDS
    assert all(p.error is None and p.record["id"] == p.id for p in listed)
    assert stats == []
    for p in listed:
        p.close()
    store.close()
    elsewhere.close()


def test_ps_status_reads_less_and_reports_the_same_for_what_ps_shows(tmp_path, monkeypatch):
    """status() tells whether pause runs (a live process and a dead one, by
    pid and start time), how it ended and a running container's previous
    exit; detail=False (ps) reads none of those (neither pause's /proc entry
    nor the exit files) and reports the rest alike: the states, exit codes,
    and an exited container's exit."""
    sleeper = subprocess.Popen(["sleep", "60"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        live = {"pid": sleeper.pid, "start": proc.starttime(sleeper.pid)}
        gone = {"pid": dead.pid, "start": 1}
        me = {"pid": os.getpid(), "start": proc.starttime(os.getpid())}
        ctrs = [dict(live, name="up"), dict(gone, name="down")]
        store = make_store(tmp_path / "s", monkeypatch,
                           [(IDS[0], {"pause": live, "supervisor": me, "containers": ctrs}),
                            (IDS[1], {"pause": gone})])
        first, second = store.pods()
        first.write("ctr-up.exit", b"exit 3\n")      # the previous run of "up"
        first.write("ctr-down.exit", b"signal 9\n")
        first.write("sandbox.exit", b"exit 0\n")
        assert status(first)["pause"]["running"] is True
        assert status(second)["pause"]["running"] is False
        read, opened = [], []
        real_stat, real_read = proc.stat, first.read
        monkeypatch.setattr(proc, "stat", lambda pid: read.append(pid) or real_stat(pid))
        monkeypatch.setattr(first, "read",
                            lambda name, **k: opened.append(name) or real_read(name, **k))
        brief = status(first, detail=False)
        # pause and "up" are the same live process here: one read is "up"'s, none is pause's
        assert read.count(sleeper.pid) == 1
        assert opened == ["ctr-down.exit"]
        full = status(first)
        assert full["pause"]["running"] is True and full["pause"]["exit"] == "exit 0"
        assert full["containers"][0]["exit"] == "exit 3"
        assert "running" not in brief["pause"] and "exit" not in brief["pause"]
        assert "exit" not in brief["containers"][0]
        for b, f in zip(brief["containers"], full["containers"]):
            assert (b["state"], b["exit_code"]) == (f["state"], f["exit_code"])
        assert [c["state"] for c in brief["containers"]] == ["running", "exited"]
        assert brief["containers"][1]["exit_code"] == 137 and brief["state"] == full["state"]
        first.close()
        second.close()
        store.close()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_drop_stale_reads_claims_only_when_one_has_no_pod(tmp_path, monkeypatch):
    """With a claim per pod, housekeeping reads no claim's link; a claim
    left by a remover killed between deleting the directory and releasing
    the name (no `.tmp-` entry is left to tell) is found and dropped, and
    the other pods keep theirs."""
    store = make_store(tmp_path / "s", monkeypatch, [(i, {}) for i in IDS])
    links = []
    real = os.readlink
    monkeypatch.setattr(store_pods.os, "readlink", lambda *a, **k: links.append(a) or real(*a, **k))
    with store.lock():
        store.drop_stale()
    assert links == []
    os.rename(IDS[1], ".gone", src_dir_fd=store.fd, dst_dir_fd=store.fd)
    store_pods.fs.remove_tree(store.fd, ".gone")
    with store.lock():
        store.drop_stale()
    assert links and sorted(n for n, _ in store._claims()) == ["n01", "n03"]
    assert [p.id for p in store.pods()] == [IDS[0], IDS[2]]
    store.close()
