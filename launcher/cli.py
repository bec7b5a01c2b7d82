"""Command line of the launcher: parsing, dispatch, errors, exit codes.

The parser is hand-written (argparse costs start-up time and prints its own
multi-line errors): parse(argv) returns (command, options) or raises
LauncherError. main() is the only place that prints `launcher: message` and
picks the exit code: 125 for the launcher's own errors, otherwise the
workload's code (podman's convention, see docs/launcher.md).
"""
import os
import sys

from launcher.errors import EXIT_LAUNCHER, LauncherError

USAGE = """\
usage: launcher COMMAND [OPTIONS]

  run [OPTIONS] [-- CMD ARGS]   run a pod (no command: the built-in demo)
      --name N                  pod name (also its hostname)
      --share-pid               containers share pause's PID namespace
      --pause c|cffi|python|CMD pause implementation, or any init (e.g. "catatonit -P")
      -d, --detach              print the pod id and leave the pod running
      -e, --env K=V             environment for every container (repeatable)
      -c, --container NAME=CMD  a container running CMD, shlex-split (repeatable)
      --grace SECONDS           stop grace period (default 10)
      --restart POLICY          Never (default), OnFailure or Always
      --backoff SECONDS         restart back-off base (default 10; doubles up to 30x)
      --network none|NAME       a CNI network (e.g. bridge); default none: loopback only
      -p, --publish H:P[/PROTO] publish pod port P on host port H (needs --network)
      --no-new-privileges       containers cannot gain privileges on exec
      --cap-drop CAP|ALL        drop a capability (repeatable)
  play [OPTIONS] FILE|-         run a Kubernetes v1 Pod manifest (- reads stdin);
                                options: -d, --pause, --backoff, --network, -p
  ps [--format table|json]      list pods
  inspect [--check] POD         a pod as JSON (--check: CNI CHECK of its network)
  exec POD [-c NAME] [-e K=V] -- CMD ARGS   run CMD in a pod's container
  logs POD [-c NAME]            print container output of a detached pod
  stop POD...                   stop pods (TERM, grace, KILL)
  rm [-f] POD...                remove stopped pods (-f: stop them first)
  gc                            release what dead pods hold (IPs, mounts), remove them

exit codes: 125 launcher error, 126 command cannot run, 127 command not
found, else the (first failing) container's code, 128+N for signal N.
"""

COMMANDS = ("run", "play", "ps", "inspect", "exec", "stop", "rm", "logs", "gc")


class _Args:
    """Walks argv: options with values as `--opt V` or `--opt=V`."""

    def __init__(self, argv):
        self.argv = list(argv)
        self.i = 0

    def more(self):
        return self.i < len(self.argv)

    def next(self):
        a = self.argv[self.i]
        self.i += 1
        return a

    def value(self, opt, inline):
        """The option's value: inline (`--opt=V`) or the next word."""
        if inline is not None:
            return inline
        if not self.more():
            raise LauncherError(f"option {opt} needs a value")
        return self.next()

    def rest(self):
        out = self.argv[self.i:]
        self.i = len(self.argv)
        return out


def _split_opt(a):
    """('--opt', 'V') for '--opt=V'; (a, None) otherwise."""
    if a.startswith("--") and "=" in a:
        k, _, v = a.partition("=")
        return k, v
    return a, None


def _env_pair(text):
    """(KEY, VALUE) from `KEY=VALUE`; the value may be empty or contain '='."""
    k, eq, v = text.partition("=")
    if not eq or not k:
        raise LauncherError(f"bad environment variable {text!r}: use KEY=VALUE")
    return k, v


def _container_name(argv0):
    """A default container name from a command: its basename as a DNS label."""
    base = os.path.basename(argv0).lower()
    name = "".join(ch if ch.isascii() and (ch.isalnum() or ch == "-") else "-" for ch in base)
    name = name.strip("-")[:63].strip("-")
    return name or "main"


_SANDBOX_OPTS = ("--backoff", "--network", "-p", "--publish")


def _seconds(opt, text):
    """A number of seconds given to opt."""
    try:
        return float(text)
    except ValueError:
        raise LauncherError(f"bad {opt} {text!r}: a number of seconds") from None


def _sandbox_opt(args, a, inline, spec):
    """The options `run` and `play` share: --backoff, --network, -p."""
    v = args.value(a, inline)
    if a == "--backoff":
        spec.backoff = _seconds(a, v)
    elif a == "--network":
        spec.network = None if v == "none" else v
    else:
        spec.ports.append(v)


def _check_network(spec):
    """Loads the network and parses the ports now, so bad ones fail before
    anything exists. (launcher.cni is imported only when a network is used:
    the --network none path stays light.)"""
    if spec.network:
        from launcher import cni
        cni.load(spec.network)
        if spec.ports:
            cni.parse_ports(spec.ports)


def _parse_play(args):
    """`play [-d] [--pause P] [--backoff S] [--network N] [-p ...] FILE|-`:
    the manifest is read and checked here, before anything is created."""
    opts = {"detach": False, "demo": False}
    source = pause = None
    from launcher.spec import PodSpec
    spec = PodSpec()
    while args.more():
        raw = args.next()
        a, inline = _split_opt(raw)
        if a in ("-d", "--detach") and inline is None:
            opts["detach"] = True
        elif a == "--pause":
            pause = args.value(a, inline)
        elif a in _SANDBOX_OPTS:
            _sandbox_opt(args, a, inline, spec)
        elif a in ("-h", "--help") and inline is None:
            opts["help"] = True
        elif raw.startswith("-") and raw != "-":
            raise LauncherError(f"play: unknown option {raw!r}")
        elif source is not None:
            raise LauncherError(f"play: one manifest at a time (got {source!r} and {raw!r})")
        else:
            source = raw
    if opts.get("help"):
        return opts, None
    if source is None:
        raise LauncherError("play: no manifest (use: launcher play FILE, or - for stdin)")
    from launcher import manifest
    from launcher.spec import ContainerSpec, validate
    m, warnings = manifest.load(source)
    for w in warnings:
        sys.stderr.write(f"launcher: warning: {w}\n")
    ctr = lambda c: ContainerSpec(c.name, c.argv, dict(c.env), c.working_dir)   # noqa: E731
    spec.name, spec.labels, spec.hostname = m.name, m.labels, m.hostname
    spec.share_pid, spec.restart, spec.grace = m.share_pid, m.restart_policy, float(m.grace_seconds)
    spec.init_containers = [ctr(c) for c in m.init_containers]
    spec.containers = [ctr(c) for c in m.containers]
    if pause is not None:
        spec.pause = pause
    validate(spec)
    _check_network(spec)
    return opts, spec


def _parse_run(args):
    """`run` options into (opts, PodSpec): validated as a whole (names,
    duplicates, empty commands, capabilities) before anything is created.
    No container at all selects the demo."""
    from launcher.spec import ContainerSpec, PodSpec
    spec = PodSpec()
    opts = {"detach": False, "demo": False}
    env = {}
    named = []   # (name, command text)
    cmd = None
    while args.more():
        raw = args.next()
        a, inline = _split_opt(raw)
        if a == "--":
            cmd = args.rest()
            if not cmd:
                raise LauncherError("empty command after '--'")
        elif a == "--name":
            spec.name = args.value(a, inline)
        elif a == "--share-pid" and inline is None:
            spec.share_pid = True
        elif a == "--pause":
            spec.pause = args.value(a, inline)
        elif a in ("-d", "--detach") and inline is None:
            opts["detach"] = True
        elif a in ("-e", "--env"):
            k, v = _env_pair(args.value(a, inline))
            env[k] = v
        elif a in ("-c", "--container"):
            text = args.value(a, inline)
            name, eq, line = text.partition("=")
            if not eq:
                raise LauncherError(f"bad -c {text!r}: use NAME='command line'")
            named.append((name, line))
        elif a == "--grace":
            opts["grace_set"] = True
            v = args.value(a, inline)
            try:
                spec.grace = float(v)
            except ValueError:
                raise LauncherError(f"bad --grace {v!r}: a number of seconds") from None
        elif a == "--restart":
            spec.restart = args.value(a, inline)
        elif a in _SANDBOX_OPTS:
            _sandbox_opt(args, a, inline, spec)
        elif a == "--no-new-privileges" and inline is None:
            spec.no_new_privs = True
        elif a == "--cap-drop":
            spec.cap_drop.append(args.value(a, inline))
        elif a in ("-h", "--help"):
            opts["help"] = True
        elif raw.startswith("-"):
            raise LauncherError(f"run: unknown option {raw!r}")
        else:
            cmd = [raw] + args.rest()
    if opts.get("help"):
        return opts, spec
    if cmd:
        spec.containers.append(ContainerSpec(_container_name(cmd[0]), cmd, env))
    for name, line in named:
        import shlex   # only here: it imports re, which costs start-up time
        try:
            argv = shlex.split(line)
        except ValueError as e:
            raise LauncherError(f"bad -c {name}=...: {e}") from None
        if not argv:
            raise LauncherError(f"container {name!r}: empty command")
        spec.containers.append(ContainerSpec(name, argv, env))
    if not spec.containers:
        opts["demo"] = True
        if opts["detach"]:
            raise LauncherError("the demo runs in the foreground: drop -d or give a command")
        spec.name = spec.name or "demo"
        if not opts.get("grace_set"):
            spec.grace = 2.0   # the demo's server is a PID 1 without a TERM handler
    from launcher.spec import check_name, validate
    if opts["demo"]:
        check_name("pod", spec.name)
        if spec.network or spec.restart != "Never" or not (0 <= spec.grace <= 3600):
            raise LauncherError("the demo takes only --name, --share-pid, --pause and --grace "
                                "(give a command to use the other options)")
    else:
        validate(spec)
        _check_network(spec)
    if spec.cap_drop:
        from launcher.sandbox import drop_caps_check
        drop_caps_check(spec.cap_drop)
    return opts, spec


def _parse_simple(cmd, args):
    """Options of ps/inspect/exec/stop/rm/logs; returns a dict."""
    o = {"pods": [], "container": None, "format": "table", "force": False,
         "check": False, "env": {}, "argv": None}
    while args.more():
        raw = args.next()
        a, inline = _split_opt(raw)
        if a == "--" and cmd == "exec":
            o["argv"] = args.rest()
            if not o["argv"]:
                raise LauncherError("exec: empty command after '--'")
        elif a in ("-c", "--container") and cmd in ("exec", "logs"):
            o["container"] = args.value(a, inline)
        elif a in ("-e", "--env") and cmd == "exec":
            k, v = _env_pair(args.value(a, inline))
            o["env"][k] = v
        elif a == "--format" and cmd == "ps":
            o["format"] = args.value(a, inline)
            if o["format"] not in ("table", "json"):
                raise LauncherError(f"ps: unknown format {o['format']!r} (table or json)")
        elif a in ("-f", "--force") and cmd == "rm" and inline is None:
            o["force"] = True
        elif a == "--check" and cmd == "inspect" and inline is None:
            o["check"] = True
        elif a in ("-h", "--help") and inline is None:
            o["help"] = True
        elif raw.startswith("-") and raw != "-":
            raise LauncherError(f"{cmd}: unknown option {raw!r}")
        elif cmd == "exec" and o["pods"]:
            o["argv"] = [raw] + args.rest()
        else:
            o["pods"].append(raw)
    if o.get("help"):
        return o
    n = len(o["pods"])
    if cmd in ("ps", "gc") and n:
        raise LauncherError(f"{cmd}: unexpected argument {o['pods'][0]!r}")
    if cmd in ("inspect", "exec", "logs") and n != 1:
        raise LauncherError(f"{cmd}: expected one pod")
    if cmd in ("stop", "rm") and not n:
        raise LauncherError(f"{cmd}: expected a pod")
    if cmd == "exec" and not o["argv"]:
        raise LauncherError("exec: no command (use: launcher exec POD -- CMD ARGS)")
    if cmd in ("exec", "logs") and o["container"] is not None:
        from launcher.spec import check_name
        check_name("container", o["container"])
    return o


def parse(argv):
    """(command, options) for argv (without the program name). Raises
    LauncherError for anything it cannot make sense of."""
    args = _Args(argv)
    if not args.more():
        raise LauncherError("no command (try: launcher --help)")
    cmd = args.next()
    if cmd in ("-h", "--help", "help"):
        return "help", None
    if cmd in ("-v", "--version", "version"):
        return "version", None
    if cmd not in COMMANDS:
        raise LauncherError(f"unknown command {cmd!r} (commands: {', '.join(COMMANDS)})")
    if cmd in ("run", "play"):
        opts, spec = (_parse_run if cmd == "run" else _parse_play)(args)
        return ("help", None) if opts.get("help") else ("run", (opts, spec))
    opts = _parse_simple(cmd, args)
    return ("help", None) if opts.get("help") else (cmd, opts)


def dispatch(cmd, opts):
    """Runs a parsed command; returns the exit code."""
    if cmd == "help":
        sys.stdout.write(USAGE)
        return 0
    if cmd == "version":
        from pause._version import __version__
        print(f"launcher {__version__}")
        return 0
    if os.geteuid() != 0:
        raise LauncherError("needs root: namespaces are created without user namespaces")
    if cmd == "run":
        run_opts, spec = opts
        if run_opts["demo"]:
            from launcher.demo import demo
            return demo(spec)
        from launcher import supervise
        housekeeping()
        if run_opts["detach"]:
            print(supervise.run_detached(spec), flush=True)
            return 0
        return supervise.run_foreground(spec)
    from launcher import ops
    return getattr(ops, "cmd_" + cmd)(opts)


GC_EVERY = 10.0   # seconds between the housekeeping runs that `run` does


def housekeeping():
    """The cheap gc of `run`: at most every GC_EVERY seconds (a stamp file's
    mtime tells), release what dead pods hold, as `launcher gc` does, but
    keep their records so that `ps` still shows them dead."""
    import time
    from launcher import state
    stamp = os.path.join(state.root(), ".gc-stamp")
    try:
        if time.time() - os.stat(stamp).st_mtime < GC_EVERY:
            return
    except FileNotFoundError:
        pass
    with open(stamp, "a"):
        os.utime(stamp)
    root = state.root()
    cni = os.path.join(root, ".cni")
    live = [d for d in state.pod_dirs(root) if not os.path.exists(os.path.join(d, "done"))]
    if live or (os.path.isdir(cni) and any(n.endswith(".json") for n in os.listdir(cni))):
        from launcher import ops   # json and the rest: only when there is something to look at
        ops.release_dead(root)


def main(argv=None):
    """Entry point of the `launcher` command."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        return dispatch(*parse(argv))
    except LauncherError as e:
        _say(str(e))
        return e.code
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_LAUNCHER
    except Exception as e:   # a bug: still one line, the traceback on request
        if os.environ.get("LAUNCHER_DEBUG"):
            raise
        _say(f"internal error: {type(e).__name__}: {e} (LAUNCHER_DEBUG=1 for details)")
        return EXIT_LAUNCHER


def _say(msg):
    """The one line a failure gets: `launcher: msg` on stderr."""
    try:
        sys.stderr.write(f"launcher: {msg}\n")
        sys.stderr.flush()
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
