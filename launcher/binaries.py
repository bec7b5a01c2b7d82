"""Where the launcher's own programs are, and how it starts Python again.

pause (the static binary, or the cffi/Python implementations), the pod
monitor (csrc/monitor.c) and the supervisor's re-entry are found next to
this package. Every Python the launcher starts runs isolated (`-I`: no
PYTHON* variables, no user site-packages, and neither the current directory
nor a script's directory on sys.path) with the one directory this package
was itself imported from put first, so a package planted in a
world-writable working directory (`cd /tmp && launcher run -d ...`) is
never imported by root.
"""
import os
import sys

from launcher.errors import LauncherError

_HERE = os.path.dirname(os.path.abspath(__file__))
CODE_ROOT = os.path.dirname(_HERE)      # the directory holding launcher/ (and pause/)


def pause_dir():
    """The `pause` package's directory, found without importing it: next to
    this package (checkout, editable or regular install), else by lookup."""
    here = os.path.join(CODE_ROOT, "pause")
    if os.path.isfile(os.path.join(here, "__init__.py")):
        return here
    from importlib.util import find_spec
    spec = find_spec("pause")
    if spec is None or not spec.submodule_search_locations:
        raise LauncherError("the pause package is not installed")
    return spec.submodule_search_locations[0]


def python(module_main, *args):
    """argv running `module_main` ("package.module:function", whose return
    value is the exit code) in an isolated Python, with our code root first
    on sys.path."""
    mod, _, func = module_main.partition(":")
    root = os.path.dirname(pause_dir()) if mod.startswith("pause") else CODE_ROOT
    code = (f"import sys; sys.path.insert(0, {root!r}); "
            f"from {mod} import {func}; sys.exit({func}())")
    return [sys.executable, "-I", "-c", code, *args]


def pause_command(choice):
    """(argv, speaks_ready_fd) for --pause c|cffi|python|CMD [ARGS]."""
    if choice == "c":
        path = os.path.join(pause_dir(), "bin", "pause")
        if not os.access(path, os.X_OK):
            raise LauncherError(f"pause binary {path!r} not built (run `make build`, "
                                "or use --pause python)")
        return [path], True
    if choice in ("cffi", "python"):
        return python("pause.__main__:main", "--impl", choice), True
    import shlex
    import shutil
    try:
        argv = shlex.split(choice)
    except ValueError as e:
        raise LauncherError(f"--pause {choice!r}: {e}") from None
    if not argv:
        raise LauncherError("--pause: empty command")
    path = argv[0] if "/" in argv[0] else shutil.which(argv[0])
    if not path or not os.access(path, os.X_OK):
        raise LauncherError(f"--pause: {argv[0]!r} is not an executable")
    return [os.path.abspath(path)] + argv[1:], False


def monitor_path():
    """The C monitor binary, or None to supervise detached pods in Python.
    LAUNCHER_MONITOR=python forces the Python supervisor, a path overrides."""
    forced = os.environ.get("LAUNCHER_MONITOR")
    if forced == "python":
        return None
    path = forced or os.path.join(pause_dir(), "bin", "pod-monitor")
    return path if os.access(path, os.X_OK) else None
