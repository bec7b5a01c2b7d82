"""Bad or odd input from the audit: one clear line and exit 125, never a
traceback, and the user's values where they belong.

HOSTNAME given by the user wins; huge numbers and names or paths with a
newline stay one line; a pod name cannot pass for another pod's id; a
missing working directory is reported as such; containers start in /
unless told otherwise."""
import os
import re

import pytest

from launcher_env import wait_for


def one_line(r, code=125):
    """One clear line: not a traceback, not the catch-all for a bug."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert re.fullmatch(r"launcher: [^\n]+\n", r.stderr), r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr


def pod_yaml(tmp_path, body, name="m"):
    path = tmp_path / f"{name}.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n%s" % (name, body))
    return str(path)


def test_the_users_hostname_variable_wins(lx, tmp_path):
    """-e HOSTNAME=x, and HOSTNAME in a manifest's env: the container sees
    the user's value (the hostname itself stays the pod's)."""
    r = lx.run("run", "--name", "hn", "-e", "HOSTNAME=chosen", "--", "sh", "-c",
               "echo $HOSTNAME $(hostname)")
    assert r.returncode == 0 and r.stdout == "sh | chosen hn\n", (r.stdout, r.stderr)
    m = pod_yaml(tmp_path, "  restartPolicy: Never\n  containers:\n  - name: c\n"
                 "    command: [sh, -c, 'echo $HOSTNAME']\n    env: [{name: HOSTNAME, value: fromyaml}]\n")
    r = lx.run("play", m)
    assert r.returncode == 0 and r.stdout == "c | fromyaml\n", (r.stdout, r.stderr)


@pytest.mark.parametrize("args", [
    ["run", "-p", "8" * 5000 + ":80", "--network", "bridge", "--", "true"],
    ["run", "-p", "80:" + "8" * 5000, "--network", "bridge", "--", "true"],
    ["run", "--grace", "9" * 400, "--", "true"],
    ["run", "--backoff", "1" * 5000, "--", "true"],
    ["run", "--grace", "1e400", "--", "true"],
    ["run", "-c", "bad\nname=true"],
    ["run", "--name", "two\nlines", "--", "true"],
    ["play", "/no/such\nfile.yaml"],
    ["inspect", "pod\nwith\nnewlines"],
    ["rm", "-f", "x" * 5000],
    ["exec", "nope", "-c", "a\nb", "--", "true"],
    ["run", "--pause", "no\nsuch", "--", "true"],
    ["run", "--network", "no\nnet", "--", "true"],
], ids=["host-port", "pod-port", "grace", "backoff", "grace-float", "container-name",
        "pod-name", "play-path", "inspect", "rm", "exec-container", "pause", "network"])
def test_hostile_arguments_are_one_line(lx, args):
    """Thousands of digits, newlines in names and paths: one line, 125."""
    one_line(lx.run(*args))


@pytest.mark.parametrize("grace", ["9" * 400, "-1", "3601.5", "'30'"])
def test_a_manifests_huge_grace_period_is_one_line(lx, tmp_path, grace):
    """terminationGracePeriodSeconds with 400 digits (or otherwise out of
    range) is refused with its field path."""
    m = pod_yaml(tmp_path, f"  terminationGracePeriodSeconds: {grace}\n"
                 "  containers: [{name: c, command: [true]}]\n")
    r = lx.run("play", m)
    one_line(r)
    assert "terminationGracePeriodSeconds" in r.stderr


def test_a_pod_name_cannot_pass_for_another_pods_id(lx):
    """12 or more hex digits cannot be a pod name (`ps` shows ids as 12 hex
    digits); a shorter all-hex name that is also a prefix of another pod's id
    names its own pod (podman's order: full id, name, id prefix), so `rm -f`
    of that name never removes the other pod."""
    victim = lx.ok("run", "-d", "--name", "victim", "--", "sleep", "60").strip()
    short = victim[:12]
    r = lx.run("run", "-d", "--name", short, "--", "sleep", "60")
    one_line(r)
    assert "pod id" in r.stderr
    prefix = victim[:2]
    named = lx.ok("run", "-d", "--name", prefix, "--", "sleep", "60").strip()
    assert lx.inspect(prefix)["id"] == named
    lx.ok("rm", "-f", prefix)
    assert [p["name"] for p in lx.ps()] == ["victim"]
    assert lx.inspect(prefix)["id"] == victim     # now only an id prefix
    lx.ok("rm", "-f", prefix)
    assert lx.ps() == []


def test_a_missing_working_directory_is_reported_as_such(lx, tmp_path):
    """A workingDir that does not exist: the error names the directory, and
    the container's code is 125 (a set-up failure), not 127 (not found)."""
    r = lx.run("run", "-w", "/no/such/dir", "--", "true")
    assert r.returncode == 125, (r.returncode, r.stderr)
    assert "working directory '/no/such/dir'" in r.stderr and "No such file" in r.stderr
    m = pod_yaml(tmp_path, "  restartPolicy: Never\n  containers:\n  - name: c\n"
                 "    command: [pwd]\n    workingDir: /no/such/dir\n")
    r = lx.run("play", m)
    assert r.returncode == 125 and "working directory '/no/such/dir'" in r.stderr, r.stderr


def test_containers_start_in_root_not_the_launchers_directory(lx, tmp_path):
    """A pod started from some directory: its containers work in / (as in
    Kubernetes without an image WORKDIR), unless -w says otherwise."""
    here = tmp_path / "somewhere"
    here.mkdir()
    r = lx.run("run", "--", "pwd", cwd=str(here))
    assert r.returncode == 0 and r.stdout == "pwd | /\n", r.stdout
    r = lx.run("run", "-w", "/tmp", "--", "pwd", cwd=str(here))
    assert r.returncode == 0 and r.stdout == "pwd | /tmp\n", r.stdout
    pod = lx.ok("run", "-d", "--", "sleep", "60", cwd=str(here)).strip()
    pid = lx.inspect(pod)["containers"][0]["pid"]
    assert wait_for(lambda: os.readlink(f"/proc/{pid}/cwd") == "/")
    lx.ok("rm", "-f", pod)
