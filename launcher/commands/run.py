"""`launcher run`: a pod from the command line (no container: the demo).

Every option is checked, and the whole PodSpec validated, before anything
is created; then the pod runs in the foreground (output streamed, removed
at the end, like `podman run --rm`) or, with -d, under a detached
supervisor that prints the pod id.
"""
import os

from launcher.commands.common import Args, env_item, environment, is_option
from launcher.errors import LauncherError
from launcher.spec import ContainerSpec, PodSpec, quote, seconds, size

USAGE = """\
usage: launcher run [OPTIONS] [-- CMD ARGS]   (no command: the built-in demo)
  --name N                  pod name (also its hostname)
  --hostname H              the pod's hostname, if not its name (an RFC 1123 label)
  --share-pid               containers share pause's PID namespace
  --pause c|cffi|python|CMD pause implementation, or any init (e.g. "catatonit -P")
  -d, --detach              print the pod id and leave the pod running
  -i, --interactive         the container reads our stdin (one container, foreground;
                            no terminal is allocated: there is no -t)
  --rm                      with -d: the pod removes itself when it is finished (a
                            foreground pod always does); not with --restart OnFailure|Always
  -e, --env K=V|K           environment for every container (repeatable; K alone: our
                            own value of K, if we have one)
  --env-file FILE           environment from FILE (KEY=VALUE or KEY lines, # comments;
                            repeatable; -e wins)
  -c, --container NAME[:IMAGE]=CMD  a container running CMD, shlex-split (repeatable);
                            with IMAGE it runs on that image (an empty CMD: the image's own)
  --image IMAGE             the image of the `-- CMD` container and of every -c without one
                            (CMD then replaces the image's Cmd, as podman does)
  --pull missing|always|never   when to pull the images (default missing)
  -v, --volume SRC:DST[:ro] a host path mounted in every container on an image
  --read-only               the image containers' root filesystems are read-only
  -w, --workdir DIR         the containers' working directory (default: the image's, else /)
  -u, --user USER[:GROUP]   who the image containers run as, in place of the image's User
                            (names from the container's /etc/passwd and /etc/group, or ids)
  --grace SECONDS           stop grace period (default 10)
  --restart POLICY          Never (default), OnFailure or Always
  --backoff SECONDS         restart back-off base (default 10; doubles up to 30x)
  --network none|pasta|NAME  a CNI network (e.g. bridge, root only), or pasta (any user:
                            outbound access and -p through pasta); default none: loopback only
  -p, --publish H:P[/PROTO] publish pod port P on host port H (needs --network)
  --no-new-privileges       containers cannot gain privileges on exec
  --cap-drop CAP|ALL        drop a capability (repeatable)
  --log-max-size SIZE       rotate a container's log at SIZE (default 10M)
  --log-max-files N         keep N log files per container (default 5)
  --memory SIZE             memory limit of each container (e.g. 64m; podman's units)
  --cpus N                  CPU limit of each container (e.g. 0.5)
  --pids-limit N            processes and threads of the whole pod (default 4096; -1: none)
"""

# Options `run` and `play` share: they shape the sandbox, not the containers.
SANDBOX_OPTS = ("--backoff", "--network", "-p", "--publish", "--pause", "--log-max-size",
                "--log-max-files", "--pids-limit")


def sandbox_option(args, opt, inline, spec):
    """Applies one of SANDBOX_OPTS to spec."""
    v = args.value(opt, inline)
    if opt == "--backoff":
        spec.backoff = seconds("--backoff", v, 300)
    elif opt == "--network":
        spec.network = None if v == "none" else v
    elif opt == "--pause":
        spec.pause = v
    elif opt == "--log-max-size":
        spec.log_max_size = size("--log-max-size", v, 1024)
    elif opt == "--log-max-files":
        from launcher.spec import MAX_LOG_FILES, number
        spec.log_max_files = number("--log-max-files", v, 1, MAX_LOG_FILES, integer=True)
    elif opt == "--pids-limit":
        from launcher.cgroups import quantity
        spec.pids_limit = quantity.parse_cli_pids(v)
    else:
        spec.ports.append(v)


def check_sandbox(spec):
    """The checks that need more than the spec: capability names, the CNI
    network and its ports (launcher.net is imported only when a network is
    used: the --network none path stays light)."""
    from launcher.runtime import security
    security.capability_numbers(spec.cap_drop)
    if spec.network == "pasta":
        from launcher.net import pasta
        pasta.check(spec.ports)
    elif spec.network:
        from launcher.runtime import userns
        if os.geteuid() != 0 or userns.active():   # parsed before or after joining
            raise LauncherError(f"--network {spec.network}: CNI networks need root; a rootless "
                                "pod has --network none (loopback only) or --network pasta")
        from launcher.net import cni
        cni.load(spec.network)
        if spec.ports:
            cni.parse_ports(spec.ports)


def _container_name(argv0):
    """A default container name from a command: its basename as a DNS label."""
    base = os.path.basename(argv0).lower()
    name = "".join(ch if ch.isascii() and (ch.isalnum() or ch == "-") else "-" for ch in base)
    name = name.strip("-")[:63].strip("-")
    return name or "main"


def _user(text):
    """--user USER[:GROUP], checked now: {"user": text} for ContainerSpec.user."""
    from launcher.runtime import users
    if not text:
        raise LauncherError("--user: empty (use USER[:GROUP], names or ids)")
    users.user_spec(text, source="--user")
    return {"user": text}


def _give_stdin(spec, detach):
    """-i: the pod's one container reads our stdin."""
    if detach:
        raise LauncherError("run: -i needs the foreground: a detached pod has no stdin")
    if len(spec.all_containers()) != 1:
        raise LauncherError(f"run: -i gives our stdin to one container; this pod has "
                            f"{len(spec.all_containers())}")
    spec.containers[0].stdin = True


def parse(argv):
    """{"spec", "detach", "stdin", "demo", "help"} from run's argv."""
    from launcher.spec import check_pod_name, validate
    args = Args(argv, "run")
    spec = PodSpec()
    opts = {"detach": False, "stdin": False, "demo": False, "help": False}
    env, env_files, named, cmd, cwd, grace_set, limits = [], [], [], None, None, False, {}
    image, pull, volumes, read_only, user = None, None, [], False, None
    while args.more():
        raw, a, inline = args.option()
        if a == "--" and inline is None:
            cmd = args.rest()
            if not cmd:
                raise LauncherError("run: empty command after '--'")
        elif a == "--name":
            spec.name = args.value(a, inline)
        elif a == "--hostname":
            spec.hostname = args.value(a, inline)
        elif a == "--share-pid" and inline is None:
            spec.share_pid = True
        elif a in ("-d", "--detach") and inline is None:
            opts["detach"] = True
        elif a == "--rm" and inline is None:
            spec.auto_remove = True
        elif a in ("-i", "--interactive") and inline is None:
            opts["stdin"] = True
        elif a in ("-t", "--tty", "-it", "-ti"):
            raise LauncherError(f"run: {a}: the launcher allocates no terminal (each output "
                                "line is prefixed with its container's name); -i alone gives "
                                "a container our stdin")
        elif a in ("-e", "--env"):
            env.append(env_item(args.value(a, inline)))
        elif a == "--env-file":
            env_files.append(args.value(a, inline))
        elif a in ("-c", "--container"):
            text = args.value(a, inline)
            name, eq, line = text.partition("=")
            if not eq:
                raise LauncherError(f"bad -c {quote(text)}: use NAME='command line'")
            named.append((name, line))
        elif a in ("-w", "--workdir"):
            cwd = args.value(a, inline)
        elif a in ("-u", "--user"):
            user = _user(args.value(a, inline))
        elif a == "--image":
            image = args.value(a, inline)
        elif a == "--pull":
            pull = args.value(a, inline)
            if pull not in PULL_POLICIES:
                raise LauncherError(f"run: --pull {quote(pull)}: use missing, always or never")
        elif a in ("-v", "--volume"):
            volumes.append(args.value(a, inline))
        elif a == "--read-only" and inline is None:
            read_only = True
        elif a in ("--memory", "-m", "--cpus"):
            limits["memory" if a != "--cpus" else "cpus"] = args.value(a, inline)
        elif a == "--grace":
            grace_set = True
            spec.grace = seconds("--grace", args.value(a, inline))
        elif a == "--restart":
            spec.restart = args.value(a, inline)
        elif a in SANDBOX_OPTS:
            sandbox_option(args, a, inline, spec)
        elif a == "--no-new-privileges" and inline is None:
            spec.no_new_privs = True
        elif a == "--cap-drop":
            spec.cap_drop.append(args.value(a, inline))
        elif a in ("-h", "--help") and inline is None:
            opts["help"] = True
        elif is_option(raw):
            args.unknown(raw)
        else:
            cmd = [raw] + args.rest()
    if opts["help"]:
        return opts
    env = environment(env_files, env)
    res = None
    if limits:
        from launcher.cgroups import resources
        res = resources.from_cli(**limits)
    policy = PULL_POLICIES.get(pull or "missing")
    mounts = _volumes(volumes, spec) if volumes else []

    def container(name, argv_, img):
        if not img:
            return ContainerSpec(name, argv_, env, cwd, res)
        return ContainerSpec(name, [], env, cwd, res, image=img, pull_policy=policy,
                             args=argv_ or None, volume_mounts=mounts, read_only=read_only,
                             user=user)
    if cmd or (image and not named):
        spec.containers.append(container(_container_name(cmd[0] if cmd else _image_base(image)),
                                         cmd or [], image))
    for name, line in named:
        name, _, img = name.partition(":")
        import shlex   # only here: it imports re, which costs start-up time
        try:
            argv_ = shlex.split(line)
        except ValueError as e:
            raise LauncherError(f"bad -c {quote(name)}=...: {e}") from None
        if not argv_ and not (img or image):
            raise LauncherError(f"container {quote(name)}: empty command")
        spec.containers.append(container(name, argv_, img or image))
    if (volumes or read_only or user) and not spec.uses_images():
        raise LauncherError("-v, --read-only and --user need containers on an image (--image)")
    if not spec.containers:
        opts["demo"] = True
        if opts["detach"]:
            raise LauncherError("the demo runs in the foreground: drop -d or give a command")
        spec.name = spec.name or "demo"
        if not grace_set:
            spec.grace = 2.0   # the demo's server is a PID 1 without a TERM handler
        check_pod_name(spec.name)
        if spec.network or spec.restart != "Never" or cwd is not None or limits or volumes \
                or opts["stdin"] or spec.hostname is not None:
            raise LauncherError("the demo takes only --name, --share-pid, --pause and --grace "
                                "(give a command to use the other options)")
    else:
        validate(spec)
        if opts["stdin"]:
            _give_stdin(spec, opts["detach"])
        if spec.auto_remove and spec.restart != "Never":
            raise LauncherError(f"run: --rm conflicts with --restart {spec.restart} (as in "
                                "podman): a pod that restarts its containers is never removed "
                                "by itself")
    check_sandbox(spec)
    check_images(spec)
    opts["spec"] = spec
    return opts


# podman's --pull values -> Kubernetes' imagePullPolicy
PULL_POLICIES = {"missing": "IfNotPresent", "always": "Always", "never": "Never"}


def _image_base(ref):
    """A container name from an image reference: its last path part, no tag."""
    base = ref.rsplit("/", 1)[-1].split("@")[0].split(":")[0]
    return base or "main"


def _volumes(texts, spec):
    """-v SRC:DST[:ro|rw] -> hostPath volumes of the pod and their mounts
    (VolumeMount dicts for every container on an image)."""
    from launcher.supervisor import podfs
    items, mounts = [], []
    for i, text in enumerate(texts):
        parts = text.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise LauncherError(f"bad -v {quote(text)}: use SRC:DST[:ro] (absolute paths)")
        items.append({"name": f"v{i}", "hostPath": {"path": parts[0]}})
        mounts.append({"name": f"v{i}", "mountPath": parts[1],
                       "readOnly": len(parts) == 3 and parts[2] == "ro"})
    vols = podfs.parse_volumes(items, "-v")
    spec.volumes = [v.to_dict() for v in vols]
    return [m.to_dict() for m in podfs.parse_volume_mounts(mounts, vols, "-v")]


def check_images(spec):
    """run: every image is there before anything is made (pulled if the
    policy says so), as podman run does; a missing one is one line."""
    if not spec.uses_images():
        return
    from launcher.images.ensure import ImagePullError, ensure
    for c in spec.all_containers():
        if c.image:
            try:
                ensure(c.image, c.pull_policy)
            except ImagePullError as e:
                raise LauncherError(f"container {c.name!r}: {e}") from None


def launch(spec, detach):
    """Runs a validated PodSpec: the `run` and `play` back end."""
    from launcher.commands.common import open_store
    from launcher.teardown import housekeeping
    store = open_store()
    if detach and not spec.network:
        # its supervisor does the housekeeping once the pod runs: at
        # thousands of pods it reads every record, and a pod without a
        # network cannot need what a dead pod holds (an IP, a host port)
        from launcher.supervisor.detach import run_detached
        print(run_detached(spec, store, housekeep=True), flush=True)
        return 0
    housekeeping(store)
    if detach:
        from launcher.supervisor.detach import run_detached
        print(run_detached(spec, store), flush=True)
        return 0
    from launcher.supervisor.driver import run_foreground
    return run_foreground(spec, store)


BATCH_WINDOW = 4   # pods a batch starts at once (each start waits on its children)


def launch_many(specs):
    """Starts validated PodSpecs detached (play of a multi-document
    manifest), up to BATCH_WINDOW at a time, printing each id in the
    manifest's order as its pod runs. A pod that fails stops the batch:
    those already started keep running, and the error says how many."""
    import collections
    from launcher import cgroups
    from launcher.commands.common import open_store
    from launcher.supervisor.detach import await_detached, start_detached
    from launcher.teardown import housekeeping
    store = open_store()
    housekeeping(store)
    cgroups.detected()   # once, for every supervisor forked below
    todo, window = list(specs), collections.deque()
    started, failure = 0, None
    while todo or window:
        while todo and failure is None and len(window) < BATCH_WINDOW:
            spec = todo.pop(0)
            window.append((spec, start_detached(spec, store)))
        spec, pending = window.popleft()
        try:
            pod_id = await_detached(pending)
        except LauncherError as e:
            failure = failure or (spec, e)
            continue
        started += 1
        print(pod_id, flush=True)
    if failure is not None:
        spec, e = failure
        raise LauncherError(f"pod {spec.name!r}: {e} ({started} of {len(specs)} pods started "
                            "and keep running)")
    return 0


def main(opts):
    if opts["demo"]:
        from launcher.commands.common import open_store
        from launcher.demo import demo
        return demo(opts["spec"], open_store())
    return launch(opts["spec"], opts["detach"])
