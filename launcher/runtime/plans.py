"""The ChildPlans of the three kinds of pod process, built in one place so
that `exec` gets exactly what its container got (environment, working
directory, capabilities, no_new_privs) and a security setting can never be
forgotten on one path (crun's exec_process_entrypoint reuses
container_init_setup's helpers for the same reason)."""
import os

from launcher.runtime import namespaces
from launcher.runtime.spawn import NEW, ChildPlan
from launcher.runtime.syscalls import CLONE_NEWNS


DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"   # podman's


def container_env(hostname, c, image_env=None):
    """A container's environment. Host mode: the launcher's environment,
    HOSTNAME, the container's own variables (which win, HOSTNAME included).
    On an image (image_env: its config's "K=V" list): PATH (a default when
    the image sets none), HOSTNAME, the image's variables, the container's."""
    if image_env is None:
        env = dict(os.environ)
    else:
        env = {"PATH": DEFAULT_PATH}
    env["HOSTNAME"] = hostname
    for kv in image_env or ():
        k, eq, v = kv.partition("=")
        if eq and k:
            env[k] = v
    env.update(c.env)
    return env


def container_process(c, hostname, image=None):
    """(argv, env, cwd) of container c: on the host's files, its argv; on an
    image, Kubernetes' rule (command replaces the Entrypoint and drops the
    Cmd, args replaces the Cmd), the image's WorkingDir when c has none,
    then /."""
    if image is None:
        return list(c.argv), container_env(hostname, c), c.cwd or "/"
    argv = image.config.argv(c.command, c.args)
    if not argv or not argv[0]:
        from launcher.errors import LauncherError
        raise LauncherError(f"container {c.name!r}: image {c.image!r} has no Entrypoint or Cmd "
                            "and the container gives no command")
    return argv, container_env(hostname, c, image.config.env), \
        c.cwd or image.config.workdir or "/"


def pause_plan(argv, hostname, log_fd, keep_fds, cgroup=None):
    """pause: PID 1 of new PID, net, IPC and UTS namespaces, hostname set,
    loopback up, output to the sandbox log, in the sandbox's cgroups."""
    return ChildPlan("pause", argv, pidns=NEW, unshare=namespaces.SANDBOX_FLAGS,
                     hostname=hostname, loopback=True, stdout=log_fd, stderr=log_fd,
                     keep_fds=keep_fds, cgroup=cgroup)


def container_plan(spec, c, process, pause_pidfd, hidden, stdout, stderr, caps, cgroup=None,
                   rootfs=None, user=None, stdin=None):
    """Container c (a ContainerSpec) of pod spec running `process` (argv,
    env, cwd: container_process()) in the sandbox behind pause_pidfd: its
    net, IPC and UTS joined, pause's PID namespace with share_pid (else a
    new one where the command is PID 1), a fresh private mount namespace
    without the `hidden` mounts (every pod's pins): on an image its root
    filesystem (rootfs, a RootfsPlan) and user (a UserSpec), on the host's
    files just its own /proc. stdin: an fd (None: /dev/null)."""
    argv, env, cwd = process
    return ChildPlan(f"container {c.name!r}", argv, env=env, search_path=True,
                     pidns=pause_pidfd if spec.share_pid else NEW,
                     join=[(pause_pidfd, namespaces.SANDBOX_FLAGS)], unshare=CLONE_NEWNS,
                     mounts=None if rootfs else {"hide": list(hidden), "proc": True}, cwd=cwd,
                     stdin=stdin, stdout=stdout, stderr=stderr, caps=caps,
                     no_new_privs=spec.no_new_privs,
                     cgroup=cgroup, rootfs=rootfs, user=user)


def exec_plan(spec, process, target_pidfd, argv, extra_env, cwd, caps, cgroup=None, user=None):
    """`launcher exec` in a container started as `process` (its argv, env
    and cwd as recorded): every namespace of its running process (net, IPC,
    UTS, mount: so its root too, and its PID namespace for the child), its
    environment, working directory, user and privileges; our stdin, stdout
    and stderr."""
    _, env, ctr_cwd = process
    return ChildPlan("exec", argv, env=dict(env, **extra_env), search_path=True,
                     pidns=target_pidfd,
                     join=[(target_pidfd, namespaces.SANDBOX_FLAGS | CLONE_NEWNS)],
                     cwd=cwd or ctr_cwd, stdin=0, stdout=1, stderr=2, caps=caps,
                     no_new_privs=spec.no_new_privs, cgroup=cgroup, user=user)
