"""`launcher exec POD [-c NAME] [-e K=V] [-w DIR] -- CMD ARGS`: a command in
a running container, started through the one spawn path with the
container's own plan (launcher/runtime/plans.py): its namespaces entered
through a pidfd checked against the recorded start time (never a
/proc/PID/ns path that PID reuse could make stale), its environment,
working directory, capabilities and no_new_privs, a new session and the
parent-death guard. Returns the command's exit code (125-127 if it cannot
run)."""
import os

try:   # signal without its enum wrappers: importing enum costs ~4 ms of start-up
    import _signal as signal
except ImportError:   # not CPython
    import signal

from launcher import proc
from launcher.commands.common import Args, env_item, environment, is_option, open_store
from launcher.errors import LauncherError
from launcher.spec import check_name, quote

USAGE = ("usage: launcher exec POD [-c NAME] [-e K=V|K] [--env-file FILE] [-w DIR] -- CMD ARGS"
         "   run CMD in a pod's container\n")
FORWARDED = (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP)


def parse(argv):
    args = Args(argv, "exec")
    o = {"pods": [], "container": None, "env": {}, "argv": None, "workdir": None, "help": False}
    items, files = [], []
    while args.more():
        raw, a, inline = args.option()
        if a == "--" and inline is None:
            o["argv"] = args.rest()
            if not o["argv"]:
                raise LauncherError("exec: empty command after '--'")
        elif a in ("-c", "--container"):
            o["container"] = args.value(a, inline)
        elif a in ("-e", "--env"):
            items.append(env_item(args.value(a, inline)))
        elif a == "--env-file":
            files.append(args.value(a, inline))
        elif a in ("-w", "--workdir"):
            o["workdir"] = args.value(a, inline)
        elif a in ("-h", "--help") and inline is None:
            o["help"] = True
        elif is_option(raw):
            args.unknown(raw)
        elif o["pods"]:
            o["argv"] = [raw] + args.rest()
        else:
            o["pods"].append(raw)
    if o["help"]:
        return o
    o["env"] = environment(files, items)
    if len(o["pods"]) != 1:
        raise LauncherError("exec: expected one pod")
    if not o["argv"] or not o["argv"][0]:
        raise LauncherError("exec: no command (use: launcher exec POD -- CMD ARGS)")
    if o["container"] is not None:
        check_name("container", o["container"])
    if o["workdir"] is not None and not o["workdir"].startswith("/"):
        raise LauncherError(f"exec: working directory {quote(o['workdir'])} is not absolute")
    for s in o["argv"] + list(o["env"].values()):
        if "\0" in s:
            raise LauncherError("exec: NUL byte in command or env")
    return o


def target(st, name):
    """The container record exec/logs act on: by name, else the first running."""
    if not st["containers"]:
        raise LauncherError(f"pod {st['name']!r} has no container")
    if name is None:
        running = [c for c in st["containers"] if c["state"] == "running"]
        return running[0] if running else st["containers"][0]
    for c in st["containers"]:
        if c["name"] == name:
            return c
    raise LauncherError(f"pod {st['name']!r} has no container {name!r}")


def main(o):
    from launcher.runtime import namespaces, plans, security
    from launcher.runtime.spawn import Spawner
    from launcher.spec import PodSpec
    from launcher.store.status import RUNNING, status
    pod = open_store().resolve(o["pods"][0])
    st = status(pod)
    if st["state"] != RUNNING:
        raise LauncherError(f"pod {st['name'] or pod.id!r} is not running ({st['state']})")
    c = target(st, o["container"])
    pidfd = namespaces.open_pidfd(c.get("pid"), c.get("start")) if c["state"] == "running" else None
    if pidfd is None:
        raise LauncherError(f"container {c['name']!r} of pod {st['name']!r} is not running")
    spec = PodSpec.from_dict(pod.record["spec"])
    process = c["process"]
    user = None
    if c.get("user"):
        from launcher.runtime import users
        user = users.UserSpec.from_dict(c["user"])
    from launcher import cgroups
    from launcher.teardown import cgroup_parent
    cg = cgroups.Pod(cgroups.detect(), pod.id, cgroup_parent(pod.record))
    plan = plans.exec_plan(spec, (process["argv"], process["env"], process["cwd"]), pidfd,
                           o["argv"], o["env"], o["workdir"],
                           security.capability_numbers(spec.cap_drop), cg.placement(c["name"]),
                           user)
    spawner = Spawner()
    child = []

    def forward(sig, _frame):
        if child:
            os.kill(child[0], sig)
    try:
        for s in FORWARDED:   # the command has its own session: the terminal's signals come to us
            signal.signal(s, forward)
        pid, failed = spawner.spawn(plan)
        child.append(pid)
    finally:
        os.close(pidfd)
        spawner.close()
    _, wstatus = os.waitpid(pid, 0)
    if failed:
        raise LauncherError(f"exec: {failed[1]}", failed[0])
    return proc.exit_code(wstatus)
