"""The ChildPlans of the three kinds of pod process, built in one place so
that `exec` gets exactly what its container got (environment, working
directory, capabilities, no_new_privs) and a security setting can never be
forgotten on one path (crun's exec_process_entrypoint reuses
container_init_setup's helpers for the same reason)."""
import os

from launcher.runtime import namespaces
from launcher.runtime.spawn import NEW, ChildPlan
from launcher.runtime.syscalls import CLONE_NEWNS


def container_env(hostname, c, extra=None):
    """The launcher's environment, HOSTNAME, the container's own variables
    (which win, HOSTNAME included), then `extra` (exec's -e)."""
    env = dict(os.environ)
    env["HOSTNAME"] = hostname
    env.update(c.env)
    env.update(extra or {})
    return env


def pause_plan(argv, hostname, log_fd, keep_fds, cgroup=None):
    """pause: PID 1 of new PID, net, IPC and UTS namespaces, hostname set,
    loopback up, output to the sandbox log, in the sandbox's cgroups."""
    return ChildPlan("pause", argv, pidns=NEW, unshare=namespaces.SANDBOX_FLAGS,
                     hostname=hostname, loopback=True, stdout=log_fd, stderr=log_fd,
                     keep_fds=keep_fds, cgroup=cgroup)


def container_plan(spec, c, hostname, pause_pidfd, hidden, stdout, stderr, caps, cgroup=None):
    """Container c (a ContainerSpec) of pod spec in the sandbox behind
    pause_pidfd: its net, IPC and UTS joined, pause's PID namespace with
    share_pid (else a new one where the command is PID 1), a fresh private
    mount namespace without the `hidden` mounts (every pod's pins) and with
    its own /proc."""
    return ChildPlan(f"container {c.name!r}", c.argv, env=container_env(hostname, c),
                     search_path=True, pidns=pause_pidfd if spec.share_pid else NEW,
                     join=[(pause_pidfd, namespaces.SANDBOX_FLAGS)], unshare=CLONE_NEWNS,
                     mounts={"hide": list(hidden), "proc": True}, cwd=c.cwd or "/",
                     stdout=stdout, stderr=stderr, caps=caps, no_new_privs=spec.no_new_privs,
                     cgroup=cgroup)


def exec_plan(spec, c, hostname, target_pidfd, argv, extra_env, cwd, caps, cgroup=None):
    """`launcher exec` in container c: every namespace of its running
    process (net, IPC, UTS, mount, and its PID namespace for the child),
    the container's environment, working directory and privileges; our
    stdin, stdout and stderr."""
    return ChildPlan("exec", argv, env=container_env(hostname, c, extra_env), search_path=True,
                     pidns=target_pidfd,
                     join=[(target_pidfd, namespaces.SANDBOX_FLAGS | CLONE_NEWNS)],
                     cwd=cwd or c.cwd or "/", stdin=0, stdout=1, stderr=2, caps=caps,
                     no_new_privs=spec.no_new_privs, cgroup=cgroup)
