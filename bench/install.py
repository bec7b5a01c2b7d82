"""What the install costs each call: the same commit as the project's
editable venv (.venv, `pip install -e`, as the README's set-up makes it)
and as a wheel in a fresh venv (as a user's `pip install` makes it), each
command measured in interleaved rounds next to the same venv's `python -c
pass`.

The editable venv's Python spends ~13 ms of its start-up in the editable
install's import finder (`python -S -c pass` against `python -c pass`),
which its `python -c pass` pays in full and the launcher only in part (it
leaves by os._exit(), so the finder's modules are never torn down): its
ratios flatter the launcher. The wheel venv's ratios are the honest ones.

The wheel is built from the working tree without network or build
isolation (the project venv's setuptools and cffi); the fresh venv has no
pip and finds the dependencies (cffi, PyYAML, python-prctl) through a .pth
line naming the project venv's site-packages, which adds that directory to
sys.path without running the editable finder's own .pth there."""
import os
import subprocess
import sys
import tempfile
import time

from common import REPO, Skip, byte_compile_checkout, summary, venv_python
from lifecycle import launcher, leaked_mounts, scratch_dir, timed_cpu

EDITABLE, WHEEL = "editable venv", "wheel in a fresh venv"
COMMANDS = ("python -c pass", "launcher run --share-pid -- true", "launcher run -d")


def _check(argv, what, timeout=300, **kw):
    """Runs argv; Skip naming `what` and the last line of its output if it fails."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Skip(f"{what}: {e}") from None
    if r.returncode != 0:
        last = ((r.stderr or r.stdout).strip().splitlines() or [f"exit {r.returncode}"])[-1]
        raise Skip(f"{what} failed: {last}")
    return r.stdout


def wheel_venv(tmp, py=None):
    """Builds a wheel of the checkout and installs it into a fresh venv under
    tmp; returns that venv's bin directory. Skip if any step fails."""
    py = py or venv_python()
    dist, venv = os.path.join(tmp, "dist"), os.path.join(tmp, "venv")
    _check([py, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
            "-w", dist, REPO], "building the wheel (pip wheel)", cwd=REPO)
    wheels = [f for f in os.listdir(dist) if f.endswith(".whl")]
    if len(wheels) != 1:
        raise Skip(f"pip wheel made {len(wheels)} wheels in {dist}")
    base = _check([py, "-c", "import sys; print(sys._base_executable)"], "finding the base Python")
    _check([base.strip(), "-m", "venv", "--without-pip", venv], "making the fresh venv")
    vpy = os.path.join(venv, "bin", "python")
    site = _purelib(vpy, "the fresh venv")
    with open(os.path.join(site, "zz-deps.pth"), "w") as f:
        f.write(_purelib(py, "the project venv") + "\n")
    _check([py, "-m", "pip", "--python", vpy, "install", "-q", "--no-deps", "--no-index",
            os.path.join(dist, wheels[0])], "installing the wheel")
    # Byte-compile: with PYTHONDONTWRITEBYTECODE set, each call would recompile.
    _check([vpy, "-m", "compileall", "-q", site], "byte-compiling the fresh venv")
    _check([os.path.join(venv, "bin", "launcher"), "--version"], "the installed launcher",
           cwd=tmp)
    return os.path.join(venv, "bin")


def _purelib(py, which):
    """The site-packages directory of the venv whose Python is py."""
    return _check([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                  f"finding the site-packages of {which}").strip()


def _argvs(py, lau):
    """COMMANDS as the command lines of one venv (its python, its launcher)."""
    return dict(zip(COMMANDS, ([py, "-c", "pass"], [lau, "run", "--share-pid", "--", "true"],
                               [lau, "run", "-d", "--grace", "0", "--", "sleep", "infinity"])))


def _round(venvs, env, pods):
    """One interleaved round: each command in each venv, in turn; the pod
    that run -d made is removed after its timing. {(venv, command): wall s}."""
    out = {}
    for command in COMMANDS:
        for venv, argvs in venvs.items():
            argv = argvs[command]
            if command == "launcher run -d":
                wall, pod = _timed_out(argv, env)
                pods.append(pod)
                _check([argv[0], "rm", "-f", pod], "launcher rm -f", env=env, timeout=60)
                pods.remove(pod)
            else:
                wall = timed_cpu(argv, env, cwd="/")[0]
            out[(venv, command)] = wall
    return out


def _timed_out(argv, env):
    """(wall s, stdout) of one command run from /; Skip if it fails."""
    t0 = time.perf_counter()
    out = _check(argv, " ".join(argv[1:3]), env=env, cwd="/", timeout=120)
    return time.perf_counter() - t0, out.strip()


def run(rounds, progress):
    """{"rows": {venv: {command: summary, "x python": {command: ratio}}},
    "rounds": N, "leaked_state": [...], "leaked_mounts": [...]}, or
    {"skipped": why}."""
    lau = launcher()
    if not lau:
        return {"skipped": "launcher not installed yet"}
    py = venv_python()
    pods = []
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp, \
            scratch_dir("bench-install-state-") as state:
        env = dict(os.environ, LAUNCHER_STATE_DIR=state)
        env.pop("LAUNCHER_MONITOR", None)
        try:
            byte_compile_checkout(py)
            wbin = wheel_venv(tmp, py)
            progress.step("install: wheel built")
            venvs = {EDITABLE: _argvs(py, lau),
                     WHEEL: _argvs(os.path.join(wbin, "python"), os.path.join(wbin, "launcher"))}
            _round(venvs, env, pods)   # warm-up
            samples = []
            for _ in range(rounds):
                samples.append(_round(venvs, env, pods))
                progress.step("install round")
        except Skip as e:
            return {"skipped": str(e)}
        finally:
            if pods:   # failure path: leave no pod behind
                subprocess.run([lau, "rm", "-f", *pods], capture_output=True, env=env, timeout=60)
        res = {"rounds": rounds, "rows": {}}
        for venv in venvs:
            row = {c: summary([s[(venv, c)] for s in samples]) for c in COMMANDS}
            base = row["python -c pass"]["median"]
            row["x python"] = {c: row[c]["median"] / base for c in COMMANDS[1:]}
            res["rows"][venv] = row
        res["leaked_state"] = [e for e in os.listdir(state) if not e.startswith(".")]
        res["leaked_mounts"] = leaked_mounts(state)
    return res


def markdown(res):
    """The result as markdown, as the whole report renders it (report.py)."""
    import report
    return "\n".join(report._install(res)).lstrip("\n") + "\n"


if __name__ == "__main__":
    from common import Progress, count_arg
    rounds = count_arg(sys.argv[1:], 5, "bench/install.py")
    print(markdown(run(rounds, Progress(rounds + 1, "install"))))
