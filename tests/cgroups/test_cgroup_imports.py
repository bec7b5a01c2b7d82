"""The cgroup package stays cheap to import: it is on `launcher run`'s
start-up path, whose cost is measured in milliseconds."""
import subprocess
import sys

MODULES = ["files", "layout", "limits", "mounts", "names", "oom", "placement", "pod",
           "quantity", "resources", "stats", "teardown"]


def test_importing_every_module_loads_nothing_but_ours():
    """Every module of launcher.cgroups imports os and our own modules only
    (time is imported inside the functions that wait)."""
    code = ("import sys; before = set(sys.modules)\n"
            + "".join(f"import launcher.cgroups.{m}\n" for m in MODULES)
            + "print(' '.join(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    new = out.stdout.split()
    assert new and all(m == "launcher" or m.startswith("launcher.") for m in new), new


def test_importing_the_package_loads_one_module():
    """`import launcher.cgroups` loads its __init__ only; names load on use."""
    code = ("import sys; before = set(sys.modules); import launcher.cgroups\n"
            "print(' '.join(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["launcher", "launcher.cgroups"], out.stdout + out.stderr
