"""Pods with Kubernetes semantics, through the real launcher (issue 4):
restart policies x exit codes, crash-loop back-off timing, init containers,
sandbox recreation when pause dies, a completed pod that never gets a second
sandbox (the Pod IP leak of shared README section 2), `play` of manifests,
and a CronJob-speed soak. Every pod runs in the `lx` fixture's own state
directory, whose teardown proves nothing was left behind."""
import json
import os
import signal
import sys
import textwrap
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from launcher_env import REPO, Launcher, wait_for  # noqa: F401

PAUSE = os.path.join(REPO, "pause", "bin", "pause")


def events(st, kind=None):
    """The pod's events (or those of one type) from inspect, a repeated
    event (aggregated, with a count) once per occurrence."""
    evs = st["lifecycle"]["events"]
    return [e for e in evs if kind is None or e["type"] == kind for _ in range(e.get("count", 1))]


def runs_of(path):
    """How many times a container appended a line to `path`."""
    try:
        with open(path) as f:
            return len(f.read().splitlines())
    except FileNotFoundError:
        return 0


def counting_pause(tmp_path, log):
    """A --pause command that logs each sandbox start to `log`, then execs
    our pause (so pause stays PID 1 of the sandbox; no ready fd though)."""
    script = tmp_path / "counting-pause"
    script.write_text(f"#!/bin/sh\necho start >> {log}\nexec {PAUSE}\n")
    script.chmod(0o755)
    return str(script)


def finished(lx, pod, timeout=30):
    """Waits until the detached pod is torn down; returns its inspect."""
    assert wait_for(lambda: lx.inspect(pod)["state"] == "exited", timeout), json.dumps(lx.inspect(pod))
    return lx.inspect(pod)


# -- restart policies x exit codes -------------------------------------------

@pytest.mark.parametrize("policy, code, restarts, phase", [
    ("Never", 0, False, "Succeeded"),
    ("Never", 3, False, "Failed"),
    ("OnFailure", 0, False, "Succeeded"),
    ("OnFailure", 3, True, "Running"),
    ("Always", 0, True, "Running"),
    ("Always", 3, True, "Running"),
])
def test_policy_and_exit_code(lx, tmp_path, policy, code, restarts, phase):
    """Kubernetes' table: who is restarted, and the pod's phase."""
    runs = tmp_path / "runs"
    pod = lx.ok("run", "-d", "--restart", policy, "--backoff", "0.05", "--",
                "sh", "-c", f"echo run >> {runs}; exit {code}").strip()
    try:
        if restarts:
            assert wait_for(lambda: runs_of(runs) >= 3, 15), runs_of(runs)
            st = lx.inspect(pod)
            assert st["state"] == "running" and st["phase"] == phase
            assert st["containers"][0]["restarts"] >= 2
            assert len(events(st, "ContainerRestarted")) >= 2
        else:
            st = finished(lx, pod)
            time.sleep(0.3)   # a restart, were there one, would have shown by now
            assert runs_of(runs) == 1 and st["phase"] == phase
            assert st["containers"][0]["restarts"] == 0 and st["exit_code"] == code
            assert len(events(st, "SandboxCreated")) == len(events(st, "SandboxRemoved")) == 1
    finally:
        lx.run("rm", "-f", pod)


def test_on_failure_foreground_returns_the_final_success(lx, tmp_path):
    """OnFailure retries a failing container in the foreground until it
    succeeds; the command then exits 0 (the last exit code counts)."""
    count = tmp_path / "n"
    script = f"n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}; echo try $n; [ $n -ge 3 ]"
    r = lx.run("run", "--restart", "OnFailure", "--backoff", "0.05", "--", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    assert [ln for ln in r.stdout.splitlines() if "try" in ln] == ["sh | try 1", "sh | try 2", "sh | try 3"]


def test_backoff_doubles_from_its_base(lx, tmp_path):
    """Restarts of a crashing container wait base, 2*base, 4*base, ... and
    each wait is recorded as a BackOff event."""
    stamps = tmp_path / "stamps"
    base = 0.25
    pod = lx.ok("run", "-d", "--restart", "Always", "--backoff", str(base), "--",
                sys.executable, "-c", f"import time; open({str(stamps)!r}, 'a').write('%f\\n' % time.time())"
                ).strip()
    try:
        assert wait_for(lambda: runs_of(stamps) >= 5, 20), runs_of(stamps)
        st = lx.inspect(pod)
    finally:
        lx.run("rm", "-f", pod)
    t = [float(x) for x in stamps.read_text().split()]
    gaps = [b - a for a, b in zip(t, t[1:])][:4]
    # Each gap is the back-off plus a container's start (a Python interpreter,
    # seconds on a stalled host): never shorter than the back-off, and not
    # grossly longer; the events below check the doubling exactly.
    for i, gap in enumerate(gaps):
        want = base * 2 ** i
        assert want * 0.9 <= gap <= want + 2.5, (i, gaps)
    delays = [e["message"] for e in events(st, "BackOff")][:4]
    assert delays == [f"restart in {base * 2 ** i:g} s" for i in range(4)]


def test_stop_ends_restarts_and_completes_the_pod(lx):
    """`stop` of an Always pod: no restart after it, phase final, pod exited."""
    pod = lx.ok("run", "-d", "--restart", "Always", "--grace", "1", "--", "sleep", "60").strip()
    try:
        lx.ok("stop", pod)
        st = lx.inspect(pod)
        assert st["state"] == "exited" and st["phase"] in ("Succeeded", "Failed")
        assert st["containers"][0]["restarts"] == 0
        assert events(st, "Stopping") and len(events(st, "SandboxRemoved")) == 1
    finally:
        lx.run("rm", "-f", pod)


# -- init containers -----------------------------------------------------------

def manifest(tmp_path, text):
    path = tmp_path / "pod.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_init_containers_run_in_order_before_the_containers(lx, tmp_path):
    log = tmp_path / "order"
    path = manifest(tmp_path, f"""\
        apiVersion: v1
        kind: Pod
        metadata: {{name: inits}}
        spec:
          restartPolicy: Never
          initContainers:
          - {{name: one, command: [sh, -c, "sleep 0.2; echo one >> {log}"]}}
          - {{name: two, command: [sh, -c, "echo two >> {log}"]}}
          containers:
          - {{name: app, command: [sh, -c, "echo app >> {log}"]}}
          - {{name: side, command: [sh, -c, "echo side >> {log}"]}}
        """)
    r = lx.run("play", path)
    assert r.returncode == 0, r.stderr
    lines = log.read_text().split()
    assert lines[:2] == ["one", "two"] and sorted(lines[2:]) == ["app", "side"]


@pytest.mark.parametrize("policy", ["Never", "OnFailure", "Always"])
def test_failing_init_container_per_policy(lx, tmp_path, policy):
    """Never: the pod fails at once, the containers never run, exit code =
    the init container's. OnFailure and Always: the init container is retried
    until it succeeds (Always acts as OnFailure for init containers), then
    the container runs."""
    count, ran = tmp_path / "n", tmp_path / "app-ran"
    init = f"n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}; [ $n -ge 3 ] || exit 7"
    path = manifest(tmp_path, f"""\
        apiVersion: v1
        kind: Pod
        metadata: {{name: init-{policy.lower()}}}
        spec:
          restartPolicy: {policy}
          initContainers:
          - {{name: setup, command: [sh, -c, "{init}"]}}
          containers:
          - {{name: app, command: [sh, -c, "touch {ran}"]}}
        """)
    pod = lx.ok("play", "-d", "--backoff", "0.05", path).strip()
    try:
        if policy == "Never":
            st = finished(lx, pod)
            assert st["phase"] == "Failed" and st["exit_code"] == 7
            assert count.read_text().strip() == "1" and not ran.exists()
        else:
            assert wait_for(lambda: ran.exists(), 15)
            assert count.read_text().strip() == "3"
            st = lx.inspect(pod)
            setup = [c for c in st["lifecycle"]["init_containers"] if c["name"] == "setup"][0]
            assert setup["restarts"] == 2 and setup["exit_code"] == 0
    finally:
        lx.run("rm", "-f", pod)


# -- the sandbox: recreation, and never for a completed pod ----------------------

@pytest.mark.parametrize("share", [True, False], ids=["share-pid", "own-pid"])
def test_pause_killed_mid_run_recreates_the_sandbox(lx, share):
    """pause SIGKILLed while the pod runs: the sandbox is torn down, a new
    one (new pause, new namespaces) is made, the container is restarted in
    it; the pod keeps its id, name and creation time; SandboxChanged is
    recorded."""
    args = ["run", "-d", "--name", "phoenix", "--restart", "Always", "--backoff", "0.05",
            "--grace", "0.5"] + (["--share-pid"] if share else []) + ["--", "sleep", "60"]
    pod = lx.ok(*args).strip()
    held = []
    try:
        before = lx.inspect(pod)
        # the old namespaces stay alive while we hold them, so a new one
        # cannot be handed the same inode number (the kernel reuses freed ones)
        held = [os.open(f"/proc/{before['pause']['pid']}/ns/{k}", os.O_RDONLY)
                for k in ("net", "ipc", "uts")]
        assert [os.fstat(fd).st_ino for fd in held] == \
            [before["namespaces"][k] for k in ("net", "ipc", "uts")]
        os.kill(before["pause"]["pid"], signal.SIGKILL)
        assert wait_for(lambda: lx.inspect(pod)["sandbox"] and
                        lx.inspect(pod)["sandbox"]["id"].endswith("-2") and
                        lx.inspect(pod)["containers"][0]["state"] == "running", 15), lx.inspect(pod)
        after = lx.inspect(pod)
        assert (after["id"], after["name"], after["created"]) == (before["id"], before["name"], before["created"])
        assert after["pause"]["pid"] != before["pause"]["pid"]
        for k in ("net", "ipc", "uts"):
            assert after["namespaces"][k] != before["namespaces"][k], k
        assert after["containers"][0]["namespaces"]["net"] == after["namespaces"]["net"]
        assert after["containers"][0]["restarts"] == 1
        assert after["lifecycle"]["sandboxes_created"] == 2
        assert [e["type"] for e in events(after) if e["type"].startswith("Sandbox")] == \
            ["SandboxCreated", "SandboxChanged", "SandboxRemoved", "SandboxCreated"]
    finally:
        for fd in held:
            os.close(fd)
        lx.run("rm", "-f", pod)


def test_completed_pod_never_gets_a_second_sandbox(lx, tmp_path):
    """Shared README section 2: a run-to-completion pod (OnFailure) whose
    container exits 0; the launcher then removes the sandbox. Exactly one
    sandbox is ever created: one pause start, one SandboxCreated, one
    SandboxRemoved, also after waiting."""
    starts = tmp_path / "starts"
    pod = lx.ok("run", "-d", "--restart", "OnFailure", "--pause", counting_pause(tmp_path, starts),
                "--", "true").strip()
    try:
        st = finished(lx, pod)
        time.sleep(1.0)
        st = lx.inspect(pod)
        assert st["phase"] == "Succeeded"
        assert runs_of(starts) == 1
        assert st["lifecycle"]["sandboxes_created"] == 1
        assert len(events(st, "SandboxCreated")) == len(events(st, "SandboxRemoved")) == 1
    finally:
        lx.run("rm", "-f", pod)


def test_sandbox_dying_as_the_pod_completes_is_not_recreated(lx, tmp_path):
    """The race of section 2: the sandbox dies at the moment its container
    completes. A pod that completed gets no new sandbox; one that had not
    yet (pause seen dead first) does, as OnFailure asks. Either way the pod
    ends Succeeded and every sandbox made is removed exactly once."""
    flag, starts = tmp_path / "flag", tmp_path / "starts"
    init = tmp_path / "fragile-pause"   # an init that dies when the flag appears
    init.write_text(f"#!/bin/sh\necho start >> {starts}\n"
                    f"trap 'exit 0' TERM\nwhile [ ! -e {flag} ]; do sleep 0.01; done\nexit 1\n")
    init.chmod(0o755)
    pod = lx.ok("run", "-d", "--restart", "OnFailure", "--pause", str(init), "--grace", "1",
                "--", "sh", "-c", f"touch {flag}").strip()
    try:
        st = finished(lx, pod)
        time.sleep(0.5)
        st = lx.inspect(pod)
        assert st["phase"] == "Succeeded"
        made = st["lifecycle"]["sandboxes_created"]
        assert made == runs_of(starts) == len(events(st, "SandboxRemoved"))
        assert made == 1 or (made == 2 and st["containers"][0]["restarts"] == 1)
    finally:
        lx.run("rm", "-f", pod)


# -- play ------------------------------------------------------------------------

def test_play_examples_shared_and_own_pid(lx):
    pod = lx.ok("play", "-d", os.path.join(REPO, "examples", "pods", "shared-pid.yaml")).strip()
    try:
        assert wait_for(lambda: lx.inspect(pod)["containers"][-1]["state"] == "exited", 15)
        ps = lx.ok("logs", pod, "-c", "shell").splitlines()
        rows = {ln.split(None, 1)[0]: ln.split(None, 1)[1] for ln in ps[1:]}
        assert rows["1"].endswith("/pause") or "/pause " in rows["1"]
        assert "sleep 3600" in rows.values()
    finally:
        lx.run("rm", "-f", pod)
    r = lx.run("play", os.path.join(REPO, "examples", "pods", "own-pid.yaml"))
    assert r.returncode == 0, r.stderr
    shell = [ln.split(None, 3)[2:] for ln in r.stdout.splitlines() if ln.startswith("shell |")]
    assert shell == [["PID", "COMMAND"], ["1", "busybox ps -o pid,args"]]   # sh exec'd ps: PID 1, alone


def test_play_examples_cronjob_and_init_containers(lx):
    r = lx.run("play", os.path.join(REPO, "examples", "pods", "cronjob.yaml"))
    assert r.returncode == 0 and "hello | Hello from the Kubernetes cluster" in r.stdout
    r = lx.run("play", os.path.join(REPO, "examples", "pods", "init-containers.yaml"))
    assert r.returncode == 0, r.stderr
    assert "say-ready | init done on init-demo" in r.stdout
    assert "app | app runs as app in /" in r.stdout and r.stderr == ""


def test_play_reads_stdin_hostname_labels_env_and_workdir(lx, tmp_path):
    text = textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: from-stdin, labels: {app: web}}
        spec:
          hostname: custom-host
          restartPolicy: Never
          containers:
          - name: c
            image: busybox:1.28
            command: [sh, -c]
            args: ["echo $(hostname) $GREETING $(pwd)"]
            env: [{name: GREETING, value: hi}]
            workingDir: /tmp
        """)
    r = lx.run("play", "-", input=text)
    assert r.returncode == 0, r.stderr
    assert "c | custom-host hi /tmp" in r.stdout
    assert r.stderr == ""


@pytest.mark.parametrize("text, fragment", [
    ("a: [", "not YAML"),
    ("apiVersion: v1\nkind: Deployment\nmetadata: {name: x}\n", "not a Pod"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n"
     "  - {name: a, command: ['true']}\n  - {name: b, command: ['true'], lifecycle: {}}\n",
     "spec.containers[1].lifecycle"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - {name: a, image: localhost/nothere}\n",
     "container 'a': ErrImagePull"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  restartPolicy: Sometimes\n"
     "  containers:\n  - {name: a, command: ['true']}\n", "restartPolicy"),
])
def test_play_bad_manifest_is_one_line_exit_125_nothing_made(lx, text, fragment):
    r = lx.run("play", "-", input=text)
    assert r.returncode == 125 and r.stdout == ""
    assert r.stderr.startswith("launcher: ") and r.stderr.count("\n") == 1 and fragment in r.stderr
    assert "Traceback" not in r.stderr and lx.pod_files() == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                        lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
                        max_leaves=10))
def test_play_any_yaml_is_a_clean_refusal(lx, doc):
    """Property: any YAML document that is not a Pod (random data never is)
    is refused in one line, exit 125; never a traceback."""
    r = lx.run("play", "-", input=json.dumps(doc))
    assert r.returncode == 125 and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr


# -- CronJob at high speed ---------------------------------------------------------

@pytest.mark.slow
def test_soak_run_to_completion_pods_each_get_exactly_one_sandbox(tmp_path):
    """300 run-to-completion pods (OnFailure, exit 0), four at a time:
    sandboxes created == pods == sandboxes removed (pause starts counted
    outside the launcher), and nothing is left behind."""
    n = int(os.environ.get("SOAK_PODS", "300"))
    lx_ = Launcher(tmp_path / "state")
    starts = tmp_path / "starts"
    pause = counting_pause(tmp_path, starts)
    created, removed, failures = [], [], []
    lock = threading.Lock()

    def worker(count):
        for _ in range(count):
            pod = lx_.ok("run", "-d", "--restart", "OnFailure", "--pause", pause, "--", "true").strip()
            if not wait_for(lambda: lx_.inspect(pod)["state"] == "exited", 30):
                failures.append(pod)
            st = lx_.inspect(pod)
            with lock:
                created.append(st["lifecycle"]["sandboxes_created"])
                removed.append(len(events(st, "SandboxRemoved")))
                if st["phase"] != "Succeeded":
                    failures.append((pod, st["phase"]))
            lx_.ok("rm", pod)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n // 4 + (i < n % 4),)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    print(f"{n} pods in {took:.1f} s: {n / took:.1f} pods/s")
    assert not failures
    assert len(created) == n and sum(created) == n == sum(removed) == runs_of(starts)
    problems = lx_.cleanup()
    assert not problems, problems
