"""The container process of the rootfs tests, run by rootfs_helpers.run()
inside `unshare --pid --fork --net --ipc --uts` (so it is in its final
PID, IPC and network namespaces, as a launcher container is): it does what
the launcher's child steps do with a rootfs and a user, unshare(NEWNS),
rootfs.setup(plan), users.apply(spec), the security step's capability
drop, and chdir, then execs argv. A failed
set-up is one line `setup: MESSAGE` on stderr and exit 125.

argv[1] is a JSON object: {"plan": RootfsPlan.to_dict(), "argv": [...],
"env": {...} or null, "user": UserSpec.to_dict() or null, "caps": [names
to drop], "cwd": "/"}.
"""
import json
import os
import sys


def main():
    spec = json.loads(sys.argv[1])
    from launcher.errors import LauncherError
    from launcher.runtime import rootfs, security, syscalls, users
    env = spec.get("env") or {"PATH": "/bin:/sbin:/usr/bin:/usr/sbin"}
    try:
        plan = rootfs.RootfsPlan.from_dict(spec["plan"])
        # Before the rootfs: capability_numbers imports python-prctl, which
        # is not there once / is the image's (the launcher's parent does it).
        caps = security.capability_numbers(spec.get("caps") or [])
        syscalls.unshare(syscalls.CLONE_NEWNS)
        rootfs.setup(plan)
        if spec.get("user") is not None:
            users.apply(users.UserSpec.from_dict(spec["user"]), env)
        if caps:
            security.restrict(caps, False)
        os.chdir(spec.get("cwd") or "/")
    except LauncherError as e:
        sys.stderr.write(f"setup: {e}\n")
        sys.stderr.flush()
        os._exit(125)
    argv = spec["argv"]
    try:
        os.execve(argv[0], argv, env)
    except OSError as e:
        sys.stderr.write(f"exec {argv[0]}: {e.strerror}\n")
        os._exit(127)


if __name__ == "__main__":
    main()
