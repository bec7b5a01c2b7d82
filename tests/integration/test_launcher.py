"""The launcher on real namespaces: run (foreground and detached), the pod's
shared namespaces, exit codes, ps/inspect/exec/stop/rm/logs, the demo.

Every test works in its own LAUNCHER_STATE_DIR (the `lx` fixture), and its
teardown proves the pods left nothing: no process carrying that state dir in
its environment (pause, containers and monitor all inherit it), no pod state.
The helpers here are imported by the other test_launcher_* files.
"""
import json
import os
import signal
import subprocess
import time

import pytest

from helpers import in_poll, sleep_until
from launcher_env import PY, REPO, cmd, first_line, ns_holders, wait_for  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="launcher needs root (namespaces)")


# -- run: the basics -------------------------------------------------------

def test_rm_of_several_pods_checks_all_first(lx):
    """rm with one running pod among several, without -f, refuses before
    removing any; stop and rm -f handle several pods at once."""
    lx.ok("run", "-d", "--name", "p1", "--", "true")
    lx.ok("run", "-d", "--name", "p2", "--share-pid", "--", "sleep", "60")
    assert wait_for(lambda: lx.inspect("p1")["state"] == "exited")
    r = lx.run("rm", "p1", "p2")
    assert r.returncode == 125 and "'p2' is running" in r.stderr
    assert sorted(p["name"] for p in lx.ps()) == ["p1", "p2"]
    r = lx.run("stop", "p2", "nosuchpod")
    assert r.returncode == 125 and lx.inspect("p2")["state"] == "running"
    assert lx.ok("rm", "-f", "p1", "p2") == "p1\np2\n"
    assert lx.ps() == []


def test_run_true_exits_zero_and_leaves_nothing(lx):
    """`run --share-pid -- true` exits 0, prints nothing and removes its pod."""
    r = lx.run("run", "--share-pid", "--", "true")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert lx.pod_files() == []


@pytest.mark.parametrize("share", [True, False], ids=["share-pid", "own-pid"])
@pytest.mark.parametrize("script,code", [("exit 3", 3), ("exit 0", 0), ("kill -KILL $$", 137),
                                         ("kill -TERM $$", 143)])
def test_exit_code_is_the_workloads(lx, share, script, code):
    """The exit code is the container's, 128+N when it died of signal N. In its
    own PID namespace the command is PID 1, which the kernel shields from
    signals sent from inside without a handler: `kill $$` does nothing there."""
    args = ["run"] + (["--share-pid"] if share else []) + ["--", "sh", "-c", script]
    want = code if share or "kill" not in script else 0
    assert lx.run(*args).returncode == want


def test_command_not_found_is_127(lx):
    """A command that does not exist: exit 127 and one `launcher:` line."""
    r = lx.run("run", "--", "no-such-command-here")
    assert r.returncode == 127
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("launcher: ")
    assert "no-such-command-here" in r.stderr and "Traceback" not in r.stderr


def test_command_not_executable_is_126(lx, tmp_path):
    """A file without the execute bit: exit 126."""
    f = tmp_path / "script"
    f.write_text("#!/bin/sh\necho hi\n")
    r = lx.run("run", "--", str(f))
    assert r.returncode == 126, r.stderr
    assert r.stderr.startswith("launcher: ") and "Traceback" not in r.stderr


def test_output_is_prefixed_with_container_name(lx):
    """Foreground output: every line prefixed `NAME | `, stdout and stderr kept apart."""
    r = lx.run("run", "-c", "a=echo one", "-c", cmd("b", "sh", "-c", "echo two >&2; printf x >&2"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "a | one\n"
    assert r.stderr == "b | two\nb | x\n"


def test_first_failing_container_sets_the_code(lx):
    """Several containers: the first failing one (in -c order) gives the code."""
    r = lx.run("run", "-c", cmd("a", "sh", "-c", "sleep 0.3; exit 4"), "-c", "b=sh -c 'exit 5'",
               "-c", "c=true")
    assert r.returncode == 4
    assert lx.run("run", "-c", "a=true", "-c", "b=sh -c 'exit 5'").returncode == 5


def test_env_and_hostname(lx):
    """-e reaches every container; HOSTNAME and the UTS hostname are the pod name."""
    r = lx.run("run", "--name", "envpod", "-e", "FOO=bar baz", "--",
               "sh", "-c", 'echo "$FOO|$HOSTNAME|$(hostname)"')
    assert r.stdout == "sh | bar baz|envpod|envpod\n", r.stderr


def test_hostname_option_names_the_uts_and_hostname_env(lx):
    """--hostname: the UTS hostname, HOSTNAME and /etc/hostname of an image
    container are it, not the pod name (which stays the pod's name)."""
    r = lx.run("run", "--name", "hpod", "--hostname", "box-1", "--", "sh", "-c",
               'echo "$HOSTNAME|$(hostname)"')
    assert r.stdout == "sh | box-1|box-1\n", r.stderr
    r = lx.run("run", "--name", "hpod2", "--hostname", "box-2", "--image", "localhost/busybox",
               "--", "cat", "/etc/hostname")
    assert r.stdout == "cat | box-2\n", r.stderr


def test_env_file_and_e_key_reach_the_containers_and_exec(lx, tmp_path):
    """--env-file's variables and -e KEY (the launcher's own value) are in
    the environment of every container and of an exec; -e wins over the
    file; a KEY the launcher does not have is left out."""
    f = tmp_path / "env"
    f.write_text("# settings\nA=from file\nB=file\nPASS\nMISSING\n")
    env = dict(lx.env, PASS="passed on")
    env.pop("MISSING", None)
    show = 'echo "$A|$B|$PASS|${MISSING-unset}"'
    r = lx.run("run", "--env-file", str(f), "-e", "B=cli", "-c", f"x=sh -c '{show}'",
               "-c", f"y=sh -c '{show}'", env=env)
    assert sorted(r.stdout.splitlines()) == ["x | from file|cli|passed on|unset",
                                             "y | from file|cli|passed on|unset"], r.stderr
    lx.ok("run", "-d", "--name", "envx", "--", "sleep", "60")
    out = lx.ok("exec", "--env-file", str(f), "-e", "PASS", "envx", "--", "sh", "-c", show, env=env)
    assert out == "from file|file|passed on|unset\n"
    lx.ok("rm", "-f", "envx")


def test_interactive_gives_the_container_our_stdin(lx):
    """-i: the one container reads the launcher's stdin (a script for sh,
    whose exit code comes back), a restarted container reads on where the
    last one stopped; without -i its stdin is /dev/null."""
    r = lx.run("run", "-i", "--", "sh", input="echo from-script\nexit 7\n")
    assert r.returncode == 7 and r.stdout == "sh | from-script\n", r
    r = lx.run("run", "-i", "--restart", "OnFailure", "--backoff", "0.1", "--", "sh", "-c",
               'read x; echo "got $x"; [ "$x" = second ]', input="first\nsecond\n")
    assert r.returncode == 0 and r.stdout == "sh | got first\nsh | got second\n", r
    r = lx.run("run", "--", "sh", "-c", "readlink /proc/self/fd/0; cat", input="unread\n")
    assert r.returncode == 0 and r.stdout == "sh | /dev/null\n", r


def _closed(lx, redirs, *args):
    """The launcher started with some of fds 0-2 closed (`<&- >&- 2>&-`)."""
    return subprocess.run(["sh", "-c", f'exec "$0" "$@" {redirs}', *lx.argv(*args)],
                          env=lx.env, cwd=REPO, capture_output=True, text=True, timeout=60)


def test_closed_standard_fds_get_dev_null(lx):
    """Started without stdin, stdout or stderr, the launcher puts /dev/null
    there first: its own files never take those numbers. A detached pod
    starts and runs (its supervisor's /dev/null went over the state root
    once), a foreground pod's output is neither lost into nor written to a
    state file, and an exec's stdin and stderr are /dev/null."""
    r = _closed(lx, "<&- >&- 2>&-", "run", "-d", "--name", "nofds", "--", "sleep", "60")
    assert r.returncode == 0, r
    st = lx.inspect("nofds")
    assert st["state"] == "running" and st["containers"][0]["state"] == "running", st
    r = _closed(lx, "<&- >&-", "run", "--", "sh", "-c",
                "echo to-stdout; echo to-stderr >&2; readlink /proc/self/fd/0 >&2")
    assert r.returncode == 0 and r.stderr == "sh | to-stderr\nsh | /dev/null\n", r
    r = _closed(lx, "<&- 2>&-", "exec", "nofds", "--", "sh", "-c",
                "readlink /proc/self/fd/0 /proc/self/fd/2")
    assert r.returncode == 0 and r.stdout == "/dev/null\n/dev/null\n", r
    for root, dirs, files in os.walk(lx.statedir):
        dirs[:] = [d for d in dirs if d != ".mounts"]     # the pins: nsfs, not files
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):                  # the name claims are links
                with open(path, "rb") as f:
                    assert b"to-stdout" not in f.read(), path
    lx.ok("rm", "-f", "nofds")


# -- the pod's namespaces --------------------------------------------------

def test_shared_pid_ps_shows_pause_as_pid1_and_all_containers(lx):
    """--share-pid: `ps` in one container shows /pause as PID 1 and the other
    container's process."""
    r = lx.run("run", "--share-pid", "-c", "sl=sleep 1.5",
               "-c", cmd("show", "sh", "-c", "sleep 0.3; ps -eo pid,args"))
    assert r.returncode == 0, r.stderr
    lines = [ln.split(None, 3)[2:] for ln in r.stdout.splitlines() if ln.startswith("show |")]
    pid1 = [ln for ln in lines if ln and ln[0] == "1"]
    assert pid1 and pid1[0][1].split()[0].endswith("/pause"), r.stdout
    assert any(ln[1] == "sleep 1.5" for ln in lines if len(ln) == 2), r.stdout


def test_own_pid_namespace_command_is_pid1(lx):
    """Without --share-pid each container's command is PID 1 of its own PID
    namespace and sees neither pause nor the other containers."""
    r = lx.run("run", "-c", "sl=sleep 1", "-c", cmd("show", "sh", "-c", 'echo "pid=$$"; ps -eo args'))
    assert r.returncode == 0, r.stderr
    out = [ln[len("show | "):] for ln in r.stdout.splitlines() if ln.startswith("show | ")]
    assert out[0] == "pid=1"
    assert not any("pause" in ln or "sleep" in ln for ln in out), out


SERVER = """
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 7777)); s.listen()
c, _ = s.accept(); c.sendall(b"hello from server"); c.close()
"""
CLIENT = """
import socket, time
for _ in range(500):
    try:
        c = socket.create_connection(("127.0.0.1", 7777), timeout=5); break
    except OSError:
        time.sleep(0.02)
print(c.recv(100).decode())
"""


@pytest.mark.parametrize("share", [True, False], ids=["share-pid", "own-pid"])
def test_containers_share_the_network_namespace(lx, share):
    """Container A listens on 127.0.0.1:7777, container B connects to it
    (loopback is up in the pod's network namespace)."""
    r = lx.run("run", *(["--share-pid"] if share else []),
               "-c", cmd("srv", PY, "-c", SERVER), "-c", cmd("cli", PY, "-c", CLIENT))
    assert r.returncode == 0, r.stderr
    assert "cli | hello from server" in r.stdout


def test_containers_share_ipc_and_uts(lx):
    """A SysV shm segment made in one container is visible in the other, not
    on the host; both see the pod name as hostname."""
    show = ("for i in $(seq 100); do ipcs -m | grep -q ' 4097 ' && break; sleep 0.05; done; "
            "ipcs -m | grep -c ' 4097 '; hostname")
    r = lx.run("run", "--name", "ipcpod", "-c", "mk=ipcmk -M 4097",
               "-c", cmd("show", "sh", "-c", show))
    assert r.returncode == 0, r.stderr
    assert "show | 1\nshow | ipcpod\n" in r.stdout, r.stdout
    host = subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout
    assert r.stdout.split("Shared memory id: ")[1].split()[0] not in \
        [ln.split()[1] for ln in host.splitlines() if ln[:2] == "0x" and " 4097 " in ln]


def test_orphans_in_shared_pid_pod_are_reaped_by_pause(lx):
    """--share-pid: an orphan is reparented to PID 1 (pause), and reaped by it
    when it exits (no zombie)."""
    # Polls with a bound rather than fixed sleeps, so a stalled host cannot
    # make ps miss the orphan or look before pause has reaped it.
    script = ("(sleep 2 &); "
              "i=0; until ps -eo ppid=,args= | grep -qx ' *1 sleep 2' || [ $i -gt 200 ]; do i=$((i+1)); sleep 0.05; done; "
              "ps -eo ppid=,args= | awk '$2 == \"sleep\" && $3 == \"2\"'; "
              "i=0; while ps -eo stat=,args= | grep -q -e '^Z' -e ' sleep 2$' && [ $i -lt 200 ]; do i=$((i+1)); sleep 0.05; done; "
              "ps -eo stat= | grep -c Z || true")
    r = lx.run("run", "--share-pid", "--", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["sh |       1 sleep 2", "sh | 0"], r.stdout


def test_exec_failure_of_one_container_leaves_the_others(lx):
    """One container cannot run (127): the other still runs; the pod's code is 127."""
    r = lx.run("run", "-c", "bad=no-such-command-x", "-c", "good=echo fine")
    assert r.returncode == 127
    assert "good | fine" in r.stdout and "no-such-command-x" in r.stderr


# -- options ---------------------------------------------------------------

@pytest.mark.parametrize("pause", ["c", "python", "cffi", "catatonit -P"])
def test_pause_choices_are_pid1(lx, pause):
    """--pause c|python|cffi|CMD: that process is PID 1 of the shared PID namespace."""
    if pause.startswith("catatonit") and not os.path.exists("/usr/bin/catatonit"):
        pytest.skip("catatonit is not installed")
    r = lx.run("run", "--share-pid", "--pause", pause, "--", "sh", "-c",
               "tr '\\0' ' ' < /proc/1/cmdline")
    assert r.returncode == 0, r.stderr
    want = {"c": "/pause ", "python": "--impl python", "cffi": "--impl cffi",
            "catatonit -P": "catatonit -P"}[pause]
    assert want in r.stdout, r.stdout


def test_no_new_privileges_and_cap_drop(lx):
    """--no-new-privileges sets NoNewPrivs; --cap-drop ALL empties the bounding set,
    --cap-drop NET_RAW clears just that bit (13)."""
    grep = "grep -E '^(NoNewPrivs|CapBnd|CapEff)' /proc/self/status"
    r = lx.run("run", "--no-new-privileges", "--cap-drop", "ALL", "--", "sh", "-c", grep)
    fields = dict(ln[len("sh | "):].split(":\t") for ln in r.stdout.splitlines())
    assert fields == {"NoNewPrivs": "1", "CapBnd": "0" * 16, "CapEff": "0" * 16}, r.stdout
    r = lx.run("run", "--cap-drop", "net_raw", "--", "sh", "-c", grep)
    fields = dict(ln[len("sh | "):].split(":\t") for ln in r.stdout.splitlines())
    assert fields["NoNewPrivs"] == "0"
    assert not int(fields["CapBnd"], 16) & (1 << 13) and int(fields["CapBnd"], 16) & 1


def test_sigint_stops_the_pod_gracefully(lx):
    """Ctrl-C (SIGINT to the launcher): the container gets TERM, its trap runs,
    the launcher exits with the container's code and removes the pod."""
    script = 'trap "echo got TERM; exit 0" TERM; echo started; while :; do sleep 0.05; done'
    p = lx.popen("run", "--", "sh", "-c", script, stdout=subprocess.PIPE, text=True)
    try:
        assert first_line(p.stdout) == "sh | started\n"
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert (p.returncode, out) == (0, "sh | got TERM\n")


def test_stop_of_a_foreground_pod(lx):
    """`launcher stop NAME` from another shell stops a foreground pod the way
    Ctrl-C does; the foreground launcher then removes it."""
    script = 'trap "exit 0" TERM; echo started; while :; do sleep 0.05; done'
    p = lx.popen("run", "--name", "fg", "--", "sh", "-c", script, stdout=subprocess.PIPE, text=True)
    try:
        assert first_line(p.stdout) == "sh | started\n"
        assert [x["state"] for x in lx.ps()] == ["running"]
        assert lx.ok("stop", "fg") == "fg\n"
        p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0 and lx.ps() == []


def test_grace_period_then_kill(lx):
    """A container that ignores TERM is KILLed after --grace seconds (137)."""
    p = lx.popen("run", "--grace", "0.5", "--", "sh", "-c",
                 "trap '' TERM; echo started; sleep 30", stdout=subprocess.PIPE, text=True)
    try:
        assert first_line(p.stdout) == "sh | started\n"
        t = time.monotonic()
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=20)
        assert time.monotonic() - t < 8
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 137


# -- detached pods: ps, inspect, exec, logs, stop, rm ----------------------

def _running(lx, pod):
    st = lx.inspect(pod)
    return st if st["state"] == "running" else None


@pytest.mark.parametrize("monitor", ["c", "python"])
def test_detached_lifecycle(lx, monitor):
    """-d prints the pod id; ps/inspect show it running with pause pid, namespace
    inodes and container pids; exits are recorded; logs work; stop ends it
    (TERM, then KILL after the grace period); rm removes it."""
    env = dict(lx.env, LAUNCHER_MONITOR="python") if monitor == "python" else None
    out = lx.ok("run", "-d", "--name", "dpod", "--grace", "2", "-c", "a=sleep 60",
                "-c", cmd("b", "sh", "-c", "echo hello; echo oops >&2; exit 3"), env=env)
    pod_id = out.strip()
    assert len(pod_id) == 16 and int(pod_id, 16) >= 0
    st = wait_for(lambda: (lambda s: s if s["containers"][1]["state"] == "exited" else None)(
        lx.inspect("dpod")))
    assert st, lx.inspect("dpod")
    assert st["id"] == pod_id and st["name"] == "dpod" and st["state"] == "running"
    assert st["supervisor"]["kind"] == ("monitor" if monitor == "c" else "python")
    assert set(st["namespaces"]) >= {"net", "ipc", "uts", "pid"}
    assert st["namespaces"]["net"] == os.stat(f"/proc/{st['pause']['pid']}/ns/net").st_ino
    a, b = st["containers"]
    assert a["state"] == "running" and os.path.exists(f"/proc/{a['pid']}")
    assert (b["state"], b["exit_code"], b["restarts"]) == ("exited", 3, 0)
    assert lx.ps()[0]["id"] == pod_id
    assert "dpod" in lx.ok("ps")
    assert lx.ok("logs", "dpod", "-c", "b") == "hello\noops\n"
    assert lx.ok("logs", pod_id[:6]) == "b | hello\nb | oops\n"
    r = lx.run("rm", "dpod")
    assert r.returncode == 125 and "running" in r.stderr
    assert lx.ok("stop", "dpod") == "dpod\n"
    st = lx.inspect("dpod")
    # sleep is PID 1 of its own PID namespace and has no TERM handler, so TERM
    # from outside is dropped by the kernel: it is KILLed after the grace period.
    assert st["state"] == "exited" and st["exit_code"] == 137
    assert [c["exit_code"] for c in st["containers"]] == [137, 3]
    assert st["pause"]["exit"] == "exit 0"
    assert wait_for(lambda: not lx.procs(), 5)
    assert lx.ok("rm", "dpod") == "dpod\n"
    assert lx.ps() == [] and lx.pod_files() == []
    sandbox_ns = {k: v for k, v in st["namespaces"].items() if k in ("net", "ipc", "uts", "pid")}
    assert wait_for(lambda: not ns_holders(sandbox_ns), 10), "the pod's namespaces live on"


def test_ps_quiet_prints_every_pod_id_for_rm(lx):
    """ps -q prints each pod's full id, one per line, sorted, and nothing
    else: a pod with a corrupt record is listed (rm -f can remove it), a
    planted file or symlink named like a pod id is not; `rm -f $(ps -q)`
    removes them all and then ps -q prints nothing."""
    assert lx.ok("ps", "-q") == ""
    a = lx.ok("run", "-d", "--name", "qa", "--", "sleep", "60").strip()
    b = lx.ok("run", "-d", "--", "sleep", "60").strip()
    lx.ok("stop", "qa")
    with open(os.path.join(lx.inspect(a)["dir"], "pod.json"), "wb") as f:
        f.write(b"{")
    planted_file, planted_link = "0" * 16, "f" * 16
    with open(os.path.join(lx.statedir, planted_file), "w") as f:
        f.write("not a pod")
    os.symlink(lx.inspect(b)["dir"], os.path.join(lx.statedir, planted_link))
    assert lx.ok("ps", "-q") == "".join(i + "\n" for i in sorted([a, b]))
    assert lx.ok("ps", "--quiet").split() == sorted([a, b])
    lx.ok("rm", "-f", *lx.ok("ps", "-q").split())
    assert lx.ok("ps", "-q") == "" and lx.ps() == []
    os.unlink(os.path.join(lx.statedir, planted_file))
    os.unlink(os.path.join(lx.statedir, planted_link))


def test_ps_filters_pick_pods_by_status_name_id_and_label(lx, tmp_path):
    """ps -f on real pods: status (exited, running, a corrupt record), a
    part of the name, an id prefix and a label from a manifest; -q with a
    filter prints just those ids, for `rm $(ps -q -f status=exited)`."""
    web1 = lx.ok("run", "-d", "--name", "web-1", "--", "sleep", "60").strip()
    web2 = lx.ok("run", "-d", "--name", "web-2", "--", "true").strip()
    m = tmp_path / "db.yaml"
    m.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: db, labels: {tier: back}}\n"
                 "spec:\n  containers:\n  - {name: db, image: busybox, command: [sleep, '60']}\n")
    lx.ok("play", "-d", str(m))
    db = lx.inspect("db")["id"]
    assert wait_for(lambda: lx.inspect("web-2")["state"] == "exited", 10)

    def listed(*filters):
        return sorted(p["name"] for p in json.loads(lx.ok("ps", "--format", "json", *filters)))
    assert listed("-f", "status=exited") == ["web-2"]
    assert listed("-f", "status=running") == ["db", "web-1"]
    assert listed("-f", "name=web", "-f", "status=running") == ["web-1"]
    assert listed("-f", "label=tier=back") == ["db"]
    assert listed("-f", "label=tier=front") == []
    assert listed("-f", f"id={web1[:6]}", "-f", f"id={db[:6]}") == ["db", "web-1"]
    assert "web-2" in lx.ok("ps", "-f", "status=exited") and \
        "web-1" not in lx.ok("ps", "-f", "status=exited")
    assert lx.ok("ps", "-q", "-f", "status=exited") == web2 + "\n"
    with open(os.path.join(lx.inspect(web2)["dir"], "pod.json"), "wb") as f:
        f.write(b"{")
    assert lx.ok("ps", "-q", "--filter", "status=corrupt") == web2 + "\n"
    lx.ok("rm", "-f", *lx.ok("ps", "-q", "-f", "status=corrupt").split())
    assert sorted(lx.ok("ps", "-q").split()) == sorted([web1, db])
    lx.ok("rm", "-f", web1, db)


def test_detached_pod_exits_when_its_containers_do(lx):
    """A detached pod whose containers all exit is torn down by its monitor:
    state exited, pause gone, code recorded."""
    lx.ok("run", "-d", "--name", "short", "--", "sh", "-c", "exit 6")
    assert wait_for(lambda: lx.inspect("short")["state"] == "exited", 10)
    st = lx.inspect("short")
    assert st["exit_code"] == 6 and not st["pause"]["running"]
    assert wait_for(lambda: not lx.procs(), 5)


def test_stop_gives_up_on_a_hung_supervisor(lx):
    """A supervisor that cannot act (SIGSTOPped) makes `stop` give up after
    the grace period twice plus its margin, with exit 125 and one line naming
    the pod; once resumed, the pending TERM stops the pod as usual."""
    lx.ok("run", "-d", "--name", "hung", "--grace", "0", "--", "sleep", "60")
    sup = lx.inspect("hung")["supervisor"]["pid"]
    os.kill(sup, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = lx.run("stop", "hung")
        took = time.monotonic() - t0
    finally:
        os.kill(sup, signal.SIGCONT)
    assert (r.returncode, r.stderr) == (125, "launcher: pod 'hung' did not stop in time\n")
    assert 9.5 < took < 30
    assert wait_for(lambda: lx.inspect("hung")["state"] == "exited", 15)
    assert wait_for(lambda: not lx.procs(), 5)


@pytest.mark.parametrize("share", [True, False], ids=["share-pid", "own-pid"])
def test_exec_joins_the_containers_namespaces(lx, share):
    """exec runs in the container's net, IPC, UTS, PID and mount namespaces
    (same inodes as the container) and returns the command's code."""
    lx.ok("run", "-d", "--name", "ex", "--grace", "1", *(["--share-pid"] if share else []),
          "-c", "a=sleep 60", "-c", "b=sleep 60")
    st = lx.inspect("ex")
    out = lx.ok("exec", "ex", "-c", "b", "--", "sh", "-c",
                "for n in net ipc uts pid mnt; do stat -L -c %i /proc/self/ns/$n; done")
    want = [st["containers"][1]["namespaces"][n] for n in ("net", "ipc", "uts", "pid", "mnt")]
    assert [int(x) for x in out.split()] == want
    assert want[0] == st["namespaces"]["net"]
    ps = lx.ok("exec", "ex", "--", "ps", "-eo", "pid=,args=")
    first = ps.splitlines()[0].split(None, 1)
    if share:
        assert first[0] == "1" and first[1].split()[0].endswith("/pause")
    else:
        assert first == ["1", "sleep 60"] and "pause" not in ps
    assert lx.run("exec", "ex", "--", "sh", "-c", "exit 9").returncode == 9
    r = lx.run("exec", "ex", "--", "no-such-cmd")
    assert r.returncode == 127 and r.stderr.startswith("launcher: ")
    lx.ok("rm", "-f", "ex")


MONITOR = os.path.join(REPO, "pause", "bin", "pod-monitor")
needs_monitor = pytest.mark.skipif(not os.access(MONITOR, os.X_OK),
                                   reason="pause/bin/pod-monitor is not built (csrc/build-static.sh)")

# What the monitor execs in these tests: prints its pid and its pending signals.
REPORT = "import os, signal; print(os.getpid(), sorted(int(s) for s in signal.sigpending()))"


@needs_monitor
def test_monitor_rejects_bad_arguments():
    """pod-monitor with bad arguments: one line on stderr, exit 2."""
    for args in ([], ["100"], ["x", "true"], ["-2", "true"], ["99999999999999999999", "true"],
                 ["86400001", "true"], ["", "true"]):
        r = subprocess.run([MONITOR, *args], capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and r.stderr.startswith("pod-monitor: usage:")
        assert r.stderr.count("\n") == 1


def _monitor(wait_ms, *then, block=True):
    """Starts the monitor with the wake-up signals blocked (as the
    supervisor leaves them), execing `then` when it wakes."""
    wake = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    pre = (lambda: signal.pthread_sigmask(signal.SIG_BLOCK, wake)) if block else None
    return subprocess.Popen([MONITOR, str(wait_ms), *then], stdout=subprocess.PIPE, text=True,
                            preexec_fn=pre)


@needs_monitor
def test_monitor_execs_the_supervisor_back_at_the_deadline():
    start = time.monotonic()
    p = _monitor(300, PY, "-c", REPORT)
    out, _ = p.communicate(timeout=10)
    pid, pending = out.split(" ", 1)
    assert int(pid) == p.pid and pending.strip() == "[]"   # same process, nothing pending
    assert 0.25 < time.monotonic() - start < 5


@needs_monitor
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_monitor_passes_a_stop_signal_on_pending(sig):
    """A stop signal wakes it, and is pending again in what it execs."""
    p = _monitor(-1, PY, "-c", REPORT)
    time.sleep(0.3)
    assert p.poll() is None          # no deadline: it waits
    p.send_signal(sig)
    out, _ = p.communicate(timeout=10)
    assert out.split(" ", 1)[1].strip() == str([int(sig)])


@needs_monitor
def test_monitor_wakes_on_sigchld_and_reaps_nothing():
    """A child's exit wakes it; the child is left for the supervisor to reap."""
    code = ("import os, subprocess, sys\n"
            "child = subprocess.Popen(['sleep', '0.3'])\n"
            "os.execv(sys.argv[1], [sys.argv[1], '-1', sys.executable, '-c', "
            "'import os; print(os.waitpid(%d, 0)[1] == 0)' % child.pid])\n")
    r = subprocess.run([PY, "-c", code, MONITOR], capture_output=True, text=True, timeout=10,
                       preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD}))
    assert r.stdout == "True\n", r.stderr


@needs_monitor
def test_monitor_ignores_other_signals_and_reports_exec_failure():
    p = _monitor(-1, "/no/such/supervisor")
    assert sleep_until(lambda: in_poll(p.pid), 10)   # its mask is set: all blocked, some waited
    p.send_signal(signal.SIGUSR1)
    p.send_signal(signal.SIGWINCH)
    time.sleep(0.2)
    assert p.poll() is None
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 1


def test_demo_shared_pid(lx):
    """`run --share-pid` with no command runs the demo on the busybox image:
    server, client over 127.0.0.1 (it gets the pod's hostname), ps with
    /pause as PID 1 and the listening port, an orphan reaped."""
    r = lx.run("run", "--share-pid", timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "client | GET http://127.0.0.1:8080/hostname -> demo " in out, out
    ps1 = [ln for ln in out.splitlines() if ln.startswith("shell |") and ln.split()[2:3] == ["1"]]
    assert ps1 and "/pause" in ps1[0], out
    assert any(ln.startswith("shell | tcp") and "127.0.0.1:8080" in ln and "LISTEN" in ln
               for ln in out.splitlines()), out
    # ps samples each state once: the orphan is asleep (S) or, on a busy host, just
    # woken (R); never a zombie (Z) or stopped (T).
    assert any(ln.startswith("orphan |") and ln.split()[3] == "1" and ln.split()[4][0] in "SR"
               for ln in out.splitlines()), out
    assert "==> demo done" in out


def test_demo_own_pid_namespaces(lx):
    """`run` with no command: the demo shows each container as PID 1 of its own
    PID namespace."""
    r = lx.run("run", timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    shell = [ln.split()[2:] for ln in r.stdout.splitlines() if ln.startswith("shell |")]
    pid, ppid, stat, cmd = shell[1][:4]
    # sh is PID 1 with no parent in its namespace; whether ps caught it
    # waiting (S) or running (R) is up to the scheduler.
    assert (pid, ppid, cmd) == ("1", "0", "sh") and stat[0] in "SR", shell
    assert not any("pause" in " ".join(ln) for ln in shell)


def _imports(env, *args):
    r = subprocess.run([PY, "-X", "importtime", *args], capture_output=True, text=True,
                       env=env, cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    return {ln.split("|")[-1].strip() for ln in r.stderr.splitlines()
            if ln.startswith("import time:")}


def test_run_path_imports_stay_light(lx):
    """`run` imports no cffi builder, pycparser, json, re, enum, argparse or yaml
    beyond what the interpreter itself loads (`python -c pass`, whose site
    hooks may already import some)."""
    base = _imports(lx.env, "-c", "pass")
    mods = _imports(lx.env, "-m", "launcher", "run", "--share-pid", "--", "true")
    heavy = {"cffi", "pycparser", "json", "re", "enum", "argparse", "yaml", "selectors",
             "socket", "shutil", "shlex"}
    assert not (mods - base) & heavy, (mods - base) & heavy
    # a pod without an image loads none of the image steps' modules
    image_steps = {m for m in mods if m.startswith(("launcher.runtime.rootfs", "launcher.images"))}
    assert "launcher.runtime.spawn" in mods and not image_steps, image_steps
    assert "launcher.runtime.users" not in mods


def test_idle_detached_pod_memory_is_small(lx):
    """A detached idle pod costs <= 2 MB of RSS besides its workload
    (monitor + pause), and neither wakes up while idle."""
    lx.ok("run", "-d", "--name", "idle", "--grace", "1", "--", "sleep", "60")
    st = lx.inspect("idle")
    if st["supervisor"]["kind"] != "monitor":
        pytest.skip("pause/bin/pod-monitor is not built (csrc/build-static.sh)")

    def rss_kb(pid):
        with open(f"/proc/{pid}/status") as f:
            return int(next(ln for ln in f if ln.startswith("VmRSS:")).split()[1])

    def switches(pid):
        with open(f"/proc/{pid}/status") as f:
            return [ln for ln in f if "ctxt_switches" in ln]

    pids = [st["supervisor"]["pid"], st["pause"]["pid"]]
    assert sum(rss_kb(p) for p in pids) <= 2048
    before = [switches(p) for p in pids]
    time.sleep(1.0)
    assert [switches(p) for p in pids] == before
    lx.ok("rm", "-f", "idle")


def test_concurrent_launchers_do_not_corrupt_state(lx):
    """Eight launchers start pods at once, three of them with the same name:
    exactly one of those wins, every record stays valid JSON, the dir is 0700."""
    procs = [lx.popen("run", "-d", "--name", f"c{i}", "--grace", "1", "--", "sleep", "60",
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(5)]
    procs += [lx.popen("run", "-d", "--name", "same", "--grace", "1", "--", "sleep", "60",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    codes = [p.wait(60) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert codes[:5] == [0] * 5 and sorted(codes[5:]) == [0, 125, 125]
    pods = lx.ps()
    assert sorted(p["name"] for p in pods) == ["c0", "c1", "c2", "c3", "c4", "same"]
    assert os.stat(lx.statedir).st_mode & 0o777 == 0o700
    lx.ok("rm", "-f", *[p["id"] for p in pods])
