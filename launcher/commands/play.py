"""`launcher play FILE|-`: a Kubernetes v1 Pod manifest, read and checked
whole (launcher/manifest/) before anything is created, then run as `run`
runs a pod. A stream of Pods (`---` between them) is checked whole too,
then started detached, one after the other, by this one process (the
batch path: no Python start-up per pod)."""
import copy
import sys

from launcher.commands.common import Args, is_option
from launcher.commands.run import SANDBOX_OPTS, check_sandbox, launch, launch_many, sandbox_option
from launcher.errors import LauncherError
from launcher.spec import ContainerSpec, PodSpec, quote

USAGE = """\
usage: launcher play [OPTIONS] FILE|-        run a Kubernetes v1 Pod manifest (- reads stdin)
  -d, --detach              print the pod id and leave the pod running (several
                            pods, `---` between them: needs -d, one id a line)
  --pause, --backoff, --network, -p, --log-max-size, --log-max-files, --pids-limit
                            as for `run`
"""


def parse(argv):
    args = Args(argv, "play")
    opts = {"detach": False, "help": False}
    source = None
    spec = PodSpec()
    while args.more():
        raw, a, inline = args.option()
        if a in ("-d", "--detach") and inline is None:
            opts["detach"] = True
        elif a in SANDBOX_OPTS:
            sandbox_option(args, a, inline, spec)
        elif a in ("-h", "--help") and inline is None:
            opts["help"] = True
        elif is_option(raw):
            args.unknown(raw)
        elif source is not None:
            raise LauncherError(f"play: one manifest at a time (got {quote(source)} and "
                                f"{quote(raw)})")
        else:
            source = raw
    if opts["help"]:
        return opts
    if source is None:
        raise LauncherError("play: no manifest (use: launcher play FILE, or - for stdin)")
    from launcher import manifest
    pods = manifest.load_all(source)
    if len(pods) > 1:
        if not opts["detach"]:
            raise LauncherError(f"play: {quote(source)} holds {len(pods)} pods: play them with -d "
                                "(in the foreground play runs one pod)")
        if spec.ports:
            raise LauncherError(f"play: -p publishes a host port for one pod, and {quote(source)} "
                                f"holds {len(pods)}")
    specs, names = [], set()
    for m, warnings in pods:
        for w in warnings:
            sys.stderr.write(f"launcher: warning: {w}\n")
        if m.name in names:
            raise LauncherError(f"play: two pods are named {m.name!r} in {quote(source)}")
        names.add(m.name)
        specs.append(pod_spec(m, copy.copy(spec)))
    opts["specs"] = specs
    return opts


def pod_spec(m, spec):
    """The PodSpec of manifest m on the sandbox options given (spec), checked."""
    from launcher.spec import validate

    def ctr(c):
        return ContainerSpec(c.name, c.argv, dict(c.env), c.working_dir, c.resources,
                             image=c.image, pull_policy=c.pull_policy, command=c.command,
                             args=c.args, volume_mounts=c.volume_mounts, read_only=c.read_only,
                             user=c.user)
    spec.name, spec.labels, spec.hostname = m.name, m.labels, m.hostname
    spec.share_pid, spec.restart, spec.grace = m.share_pid, m.restart_policy, float(m.grace_seconds)
    spec.init_containers = [ctr(c) for c in m.init_containers]
    spec.containers = [ctr(c) for c in m.containers]
    spec.volumes = list(m.volumes)
    validate(spec)
    check_sandbox(spec)
    return spec


def main(opts):
    specs = opts["specs"]
    if len(specs) == 1:
        return launch(specs[0], opts["detach"])
    return launch_many(specs)
