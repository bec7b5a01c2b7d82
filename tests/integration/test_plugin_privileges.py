"""The plugin where a PID namespace cannot be made: a non-root user on a
system without user namespaces gets NamespaceUnavailable with the reason
(which the fixtures turn into a skip, see test_plugin_pytester.py)."""
import os
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3"  # readable by any user, unlike a venv under /root
PROBE = ("from pause.testing import NamespaceUnavailable, PidNamespace\n"
         "try:\n"
         "    PidNamespace(init='catatonit')\n"
         "except NamespaceUnavailable as e:\n"
         "    print('unavailable:', e)\n")


def test_non_root_without_user_namespaces_gets_the_reason():
    """Inside a user namespace whose `user.max_user_namespaces` is 0 (a limit
    that binds only that namespace and its children, not this machine), user
    1000 cannot create a user namespace: PidNamespace says so, with unshare's
    error, instead of failing later."""
    if os.geteuid() != 0:
        pytest.skip("needs root to build a user namespace with several uids mapped")
    if not os.access(PYTHON, os.X_OK):
        pytest.skip("%s not found" % PYTHON)
    inner = ("read go && sysctl -qw user.max_user_namespaces=0 && exec setpriv --reuid=1000 "
             "--regid=1000 --clear-groups %s -c \"$0\"" % PYTHON)
    jail = subprocess.Popen(["unshare", "--user", "sh", "-c", inner, PROBE], cwd="/",
                            env=dict(os.environ, PYTHONPATH=REPO), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Map uids/gids 0-65535 once unshare has made the namespace; sh then
        # runs sysctl and setpriv as new programs, root of that namespace.
        mine = os.stat("/proc/self/ns/user").st_ino
        deadline = time.monotonic() + 10
        while (os.stat("/proc/%d/ns/user" % jail.pid).st_ino == mine
               and time.monotonic() < deadline):
            time.sleep(0.005)
        for name in ("uid_map", "gid_map"):
            with open("/proc/%d/%s" % (jail.pid, name), "w") as f:
                f.write("0 0 65536\n")
        out, err = jail.communicate("go\n", timeout=60)
    finally:
        if jail.poll() is None:
            jail.kill()
            jail.communicate()
    if "No module named" in err:
        pytest.skip("%s cannot import this checkout: %s" % (PYTHON, err.strip().splitlines()[-1]))
    assert jail.returncode == 0, err
    assert out.startswith("unavailable: not root and unprivileged user namespaces are "
                          "unavailable: unshare: "), out
