"""Rootless pods: the user namespace every launcher command of a non-root
user works in.

A user namespace of the user's own (uid 0 inside is the user; with
subordinate ids in /etc/subuid and /etc/subgid, 1..N inside are those ids,
mapped by Debian's setuid newuidmap/newgidmap) and a mount namespace owned
by it are held by an idle pause, the holder (podman's rootless pause
process does the same). Every command a non-root user runs joins both with
one setns() on the holder's pidfd before it does anything else; from then
on it is root over everything it makes: new network, IPC, UTS, PID and
mount namespaces, bind mounts pinning them, procfs, overlay and tmpfs
mounts, chown to mapped ids. None of it is visible in, or can leak into,
the host's mount table: the holder's mount namespace ends with its last
process, and the holder is PID 1 of a PID namespace every launcher process
of the user runs in (enter()), so if it is killed, every pod of the user
ends with it. It exits when the user's last pod is removed (release()).

The holder is recorded in the state root as HOLDER ({"pid", "start"}) and
HOLDER_LOCK is flocked exclusively while it is looked up or made, then kept
shared for the command's life, so release() never ends a holder that a
running command is about to use.

Paths are checked (launcher/store/root.py's trusted_dir) before joining,
with the host's real owners: inside, the host's root shows as the overflow
uid. The checked state and image roots are then passed on in the
environment (STATE_ENV, IMAGE_ENV), with ROOTLESS_ENV naming the user;
what is below the state root or the image root's parent (the user's
launcher data directory, which also holds the test-image cache) is then
trusted inside without looking above them again.
"""
import os

from launcher.errors import LauncherError

HOLDER = ".userns"
HOLDER_LOCK = ".userns.lock"
ROOTLESS_ENV = "LAUNCHER_ROOTLESS"      # "UID:GID" of the user, set once joined
STATE_ENV, IMAGE_ENV = "LAUNCHER_STATE_DIR", "LAUNCHER_IMAGE_ROOT"
SUBUID, SUBGID = "/etc/subuid", "/etc/subgid"
MAP_TIMEOUT = 10.0

_LOCK = []      # the shared lock's fd, held for the command's life
_HOLDER_FD = []  # a pidfd on the holder we joined


def active():
    """True in a launcher process that works in a rootless user namespace."""
    return bool(os.environ.get(ROOTLESS_ENV))


def user():
    """(uid, gid) outside of the rootless user, or None when not rootless."""
    value = os.environ.get(ROOTLESS_ENV, "")
    uid, _, gid = value.partition(":")
    return (int(uid), int(gid)) if uid.isdigit() and gid.isdigit() else None


def default_state_dir(uid):
    """$XDG_RUNTIME_DIR/launcher, else /tmp/launcher-run-UID (podman's
    /tmp/podman-run-UID fallback, for a shell without a login session)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "launcher")
    return f"/tmp/launcher-run-{uid}"


# -- the id maps -------------------------------------------------------------

def subordinate(path, name, uid):
    """The (start, count) ranges of `path` (/etc/subuid format: NAME:START:COUNT
    or UID:START:COUNT) that belong to the user; malformed lines are skipped."""
    out = []
    try:
        with open(path) as f:
            lines = f.read(1 << 20).splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in (name, str(uid)):
            continue
        if parts[1].isdigit() and parts[2].isdigit() and int(parts[2]) > 0:
            out.append((int(parts[1]), int(parts[2])))
    return out


def plan_maps(uid, gid, name):
    """How the holder's ids are mapped: ("helpers", uid_args, gid_args) for
    newuidmap/newgidmap (0 -> the user, 1.. -> each subordinate range), or
    ("single", why) when only the user can be mapped (to root)."""
    subu, subg = subordinate(SUBUID, name, uid), subordinate(SUBGID, name, uid)
    if not subu or not subg:
        missing = SUBUID if not subu else SUBGID
        return ("single", f"no subordinate ids for {name!r} in {missing}")
    import shutil
    for tool in ("newuidmap", "newgidmap"):
        if shutil.which(tool) is None:
            return ("single", f"{tool} not found (Debian package uidmap)")
    return ("helpers", _map_args(uid, subu), _map_args(gid, subg))


def _map_args(own, ranges):
    args, inside = ["0", str(own), "1"], 1
    for start, count in ranges:
        args += [str(inside), str(start), str(count)]
        inside += count
    return args


def _helper_problem(tool, err):
    """Why newuidmap/newgidmap failed, with the usual cause named."""
    import shutil
    import stat
    path = shutil.which(tool) or tool
    try:
        st = os.stat(path)
        if not (st.st_mode & stat.S_ISUID and st.st_uid == 0):
            return (f"{tool} failed: {err} ({path} is not setuid root: "
                    f"reinstall Debian's uidmap, or `chmod u+s {path}` as root)")
    except OSError:
        pass
    return f"{tool} failed: {err}"


def write_maps(pid, plan, uid, gid):
    """Maps the ids of the fresh user namespace of pid (our child, waiting)."""
    if plan[0] == "helpers":
        import subprocess
        for tool, args in (("newuidmap", plan[1]), ("newgidmap", plan[2])):
            r = subprocess.run([tool, str(pid), *args], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=MAP_TIMEOUT)
            if r.returncode != 0:
                err = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
                raise LauncherError(_helper_problem(tool, err))
        return
    # One id: the kernel lets a process map its own uid, and its own gid once
    # setgroups(2) is denied in the namespace.
    for name, text in (("uid_map", f"0 {uid} 1\n"), ("setgroups", "deny\n"),
                       ("gid_map", f"0 {gid} 1\n")):
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as e:
            raise LauncherError(f"cannot write the user namespace's {name}: "
                                f"{e.strerror or e}") from None


# -- the reasons a user namespace cannot be made -----------------------------

def _read_sysctl(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def unshare_problem(err):
    """One line on why unshare(CLONE_NEWUSER) failed with errno err."""
    import errno
    if _read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        return ("user namespaces are disabled for non-root users "
                "(sysctl kernel.unprivileged_userns_clone=0; set it to 1 as root)")
    if _read_sysctl("/proc/sys/user/max_user_namespaces") == "0":
        return "user namespaces are disabled (sysctl user.max_user_namespaces=0)"
    if _read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        return ("AppArmor forbids unprivileged user namespaces "
                "(sysctl kernel.apparmor_restrict_unprivileged_userns=1)")
    if err == errno.ENOSPC:
        return "too many user namespaces (sysctl user.max_user_namespaces)"
    if err == errno.EPERM:
        return ("cannot create a user namespace: Operation not permitted (inside a "
                "container or a chroot, or forbidden by a seccomp or LSM policy)")
    return f"cannot create a user namespace: {os.strerror(err)}"


# -- the holder --------------------------------------------------------------

def _holder_argv():
    from launcher import binaries
    argv, _ = binaries.pause_command("c")
    return argv


def _exec_holder(argv):
    """In a forked child: the idle holder's life (never returns)."""
    try:
        os.chdir("/")
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 2 ** 31 - 1)
        os.execv(argv[0], argv)
    finally:
        os._exit(127)


def _make_holder(uid, gid, name):
    """Makes the holder: a child unshares a user namespace, we map its ids,
    it unshares mount and PID namespaces and forks the holder, PID 1 there,
    which mounts the /proc of that PID namespace and execs the idle pause.
    Returns (the holder's pid, a notice for a single mapping or None)."""
    import errno
    from launcher.runtime import mounts, syscalls
    argv = _holder_argv()
    plan = plan_maps(uid, gid, name)
    up_r, up_w = os.pipe2(os.O_CLOEXEC)     # child -> us: "E<errno>", "0", then the holder's pid
    go_r, go_w = os.pipe2(os.O_CLOEXEC)     # us -> child: "m" once mapped
    pid = os.fork()
    if pid == 0:
        try:
            os.close(up_r)
            os.close(go_w)
            os.setsid()
            try:
                syscalls.unshare(syscalls.CLONE_NEWUSER)
            except LauncherError as e:
                os.write(up_w, f"E{getattr(e, 'errno', errno.EPERM)}".encode())
                os._exit(125)
            os.write(up_w, b"0")
            if os.read(go_r, 1) != b"m":
                os._exit(125)
            os.environ[ROOTLESS_ENV] = f"{uid}:{gid}"   # the errors' hints: rootless ones
            syscalls.unshare(syscalls.CLONE_NEWNS | syscalls.CLONE_NEWPID)
            holder = os.fork()
            if holder == 0:
                syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_SLAVE)
                mounts.mount_proc()
                _exec_holder(argv)
            os.write(up_w, f" {holder}".encode())
            os._exit(0)
        except BaseException as e:
            try:
                os.write(up_w, f" !{e}".encode()[:500])
            finally:
                os._exit(125)
    os.close(up_w)
    os.close(go_r)
    try:
        got = os.read(up_r, 16).decode()
        if got != "0":
            if got.startswith("E") and got[1:].isdigit():
                raise LauncherError(unshare_problem(int(got[1:])))
            raise LauncherError("cannot create a user namespace: the child died")
        write_maps(pid, plan, uid, gid)
        os.write(go_w, b"m")
        os.close(go_w)
        go_w = None
        from launcher.runtime.spawn import read_to_eof
        rest = read_to_eof(up_r).strip()
        up_r = None
    except BaseException:
        _kill(pid)
        raise
    finally:
        for fd in (up_r, go_w):
            if fd is not None:
                os.close(fd)
    os.waitpid(pid, 0)
    # "PID" once the holder has exec'd (the pipe closed on exec), "PID !why"
    # if the holder failed before, "!why" if the middle process did.
    holder, _, why = rest.partition("!")
    if why or not holder.strip().isdigit():
        raise LauncherError(f"cannot start the user namespace holder: {why.strip() or 'it died'}")
    rest = holder.strip()
    notice = None
    if plan[0] == "single":
        notice = (f"notice: {plan[1]}: only your own uid and gid are mapped (to root), "
                  "so images with several users will not work")
    return int(rest), notice


def _kill(pid):
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except OSError:
        pass


def _read_holder(root_fd):
    import json
    from launcher.store import fs
    try:
        data = json.loads(fs.read(root_fd, HOLDER, 4096))
        return int(data["pid"]), int(data["start"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _join(pid, start):
    """Joins the user and mount namespaces of (pid, start), and its PID
    namespace for our children; False if it is gone."""
    from launcher.runtime import namespaces, syscalls
    fd = namespaces.open_pidfd(pid, start)
    if fd is None:
        return False
    try:
        syscalls.setns(fd, syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNS | syscalls.CLONE_NEWPID)
    except BaseException:
        os.close(fd)
        raise
    _HOLDER_FD.append(fd)   # release() signals through it: our /proc is now the holder's
    return True


def _record(root_fd, pid):
    import json
    from launcher import proc
    from launcher.store import fs
    start = proc.starttime(pid)
    fs.write_atomic(root_fd, HOLDER, json.dumps({"pid": pid, "start": start}).encode())
    return start


def enter(say):
    """Called first by every command of a non-root user: checks the state
    and image roots as the real user, joins (or makes) the holder's
    namespaces, and forks the process that runs the command in the holder's
    PID namespace, so every pid the launcher records and reads (in the
    holder's /proc) is of one PID namespace, and a pod's PID namespace can
    be made below it and left again. Returns in that child; this process
    waits for it (passing on TERM and HUP), calls release() and exits with
    its code. `say` prints a notice line."""
    if active():
        return
    import fcntl
    from launcher import images
    from launcher.store import root
    uid, gid = os.getuid(), os.getgid()
    if os.geteuid() != uid:
        raise LauncherError("the launcher does not run setuid: run it as yourself or as root")
    state, state_fd = root.trusted_dir(os.environ.get(STATE_ENV) or default_state_dir(uid))
    image_root, image_fd = root.trusted_dir(images.default_root(), "image root")
    os.close(image_fd)
    cwd = _cwd()
    try:
        lock = os.open(HOLDER_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                       0o600, dir_fd=state_fd)
        fcntl.flock(lock, fcntl.LOCK_EX)
        _LOCK.append(lock)
        _ensure_joined(state_fd, uid, gid, say)
        fcntl.flock(lock, fcntl.LOCK_SH)
    finally:
        os.close(state_fd)
    os.environ.update({STATE_ENV: state, IMAGE_ENV: image_root, ROOTLESS_ENV: f"{uid}:{gid}",
                       root.CHECKED_ENV: os.pathsep.join((state, os.path.dirname(image_root)))})
    if cwd:
        try:
            os.chdir(cwd)
        except OSError:
            os.chdir("/")
    import sys
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        return
    code = _wait(child)
    release()
    os._exit(code)


def _wait(child):
    """The command's exit code (128+N for signal N), passing on the signals
    a user sends one process; the terminal's go to both of us, so we ignore
    them."""
    import signal
    from launcher import proc
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, lambda n, _f: os.kill(child, n))
    while True:
        _, status = os.waitpid(child, 0)
        if not os.WIFSTOPPED(status):
            return proc.exit_code(status)


def _cwd():
    try:
        return os.getcwd()
    except OSError:
        return None


def _ensure_joined(state_fd, uid, gid, say):
    from launcher import proc
    held = _read_holder(state_fd)
    if held and proc.alive(*held) and _join(*held):
        return
    import pwd
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    pid, notice = _make_holder(uid, gid, name)
    start = _record(state_fd, pid)
    if notice:
        say(notice)
    if not _join(pid, start):
        raise LauncherError(f"the user namespace holder (pid {pid}) exited at once")


def release():
    """At the end of a rootless command (in enter()'s waiting process,
    outside the holder's PID namespace): if no other command is using the
    holder and the state root holds no pod (nor one being made), the holder
    is stopped, so a user with no pods has no process left."""
    if not _LOCK or not _HOLDER_FD:
        return
    import fcntl
    try:
        fcntl.flock(_LOCK[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return
    import signal
    from launcher.runtime import namespaces
    from launcher.store import fs, layout
    try:
        root_fd = fs.open_dir(os.environ[STATE_ENV])
    except OSError:
        return
    try:
        if any(layout.is_pod_id(n) or n.startswith(layout.TMP_PREFIX)
               for n in os.listdir(root_fd)):
            return
        try:
            signal.pidfd_send_signal(_HOLDER_FD[0], signal.SIGTERM)
            namespaces.wait_pidfd(_HOLDER_FD[0], 2.0)
        except ProcessLookupError:
            pass
        try:
            os.unlink(HOLDER, dir_fd=root_fd)
        except FileNotFoundError:
            pass
    finally:
        os.close(root_fd)
