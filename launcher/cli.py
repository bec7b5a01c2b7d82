"""The `launcher` command: turns argv into a verb's options and dispatches.

One module per verb in launcher/commands/ parses its own options (by hand:
argparse costs start-up time and prints multi-line errors) and runs; only
the verb used is imported. main() is the only place that prints
`launcher: message` and picks the exit code: 125 for the launcher's own
errors, otherwise the workload's code (podman's convention, see
docs/launcher.md). Any message is printed as exactly one line.
"""
import os
import sys

from launcher.errors import EXIT_LAUNCHER, LauncherError

USAGE = """\
usage: launcher COMMAND [OPTIONS]     (launcher COMMAND --help: its options)

  run [OPTIONS] [-- CMD ARGS]   run a pod (no command: the built-in demo)
  play [OPTIONS] FILE|-         run a Kubernetes v1 Pod manifest (- reads stdin)
  ps [-q|--format table|json] [-f KEY=VALUE]...   list pods (-q: their full ids only;
                                -f: id=, name=, status=, label= filters)
  inspect [--check] POD         a pod as JSON (--check: CNI CHECK of its network)
  exec POD [-c NAME] [-e K=V|K] [--env-file F] [-w DIR] -- CMD ARGS   run CMD in a container
  logs POD [-c NAME] [-f] [--tail N]   print container output
  stats [POD...] [--no-stream]  CPU, memory and pids of running pods (from their cgroups)
  stop POD...                   stop pods (TERM, grace, KILL)
  wait POD...                   wait for pods to finish; print each one's exit code
  kill [-s SIG] [-c NAME] POD...   signal the pods' running containers (default KILL)
  rm [-f] POD...                remove stopped pods (-f: stop them first)
  gc                            release what dead pods hold (IPs, mounts, cgroups), remove them

  pull REF                      an image into the local store (docker://, oci:, oci-archive:,
                                docker-archive:, containers-storage:)
  load FILE|-                   an image from a docker-archive or oci-archive file
  images [--format json]        list the local images
  rmi [-f] IMAGE...             remove images (-f: only untag one in use)
  image inspect IMAGE | image prune   an image as JSON | remove unused layers and images

POD is a pod id, name or unique id prefix (in that order). exit codes: 125 launcher error,
126 command cannot run, 127 command not found, else the (first failing)
container's code, 128+N for signal N.
"""

# verb -> module in launcher/commands/
COMMANDS = {"run": "run", "play": "play", "ps": "ps", "inspect": "inspect", "exec": "exec",
            "logs": "logs", "stats": "stats", "stop": "stop", "wait": "wait", "kill": "kill",
            "rm": "rm", "gc": "gc",
            "pull": "pull", "load": "load", "images": "images", "rmi": "rmi", "image": "image"}
IMAGE_VERBS = ("pull", "load", "images", "rmi", "image")


def _module(verb):
    name = "launcher.commands." + COMMANDS[verb]
    __import__(name)
    return sys.modules[name]


def parse(argv):
    """(verb, options) for argv (without the program name); verb "help"
    carries the text to print. Raises LauncherError for anything it cannot
    make sense of."""
    if not argv:
        raise LauncherError("no command (try: launcher --help)")
    verb, rest = argv[0], argv[1:]
    if verb in ("-h", "--help", "help"):
        return "help", USAGE
    if verb in ("-v", "--version", "version"):
        return "version", None
    if verb not in COMMANDS:
        raise LauncherError(f"unknown command {verb!r} (commands: {', '.join(COMMANDS)})")
    mod = _module(verb)
    opts = mod.parse(rest)
    if opts.get("help"):
        return "help", mod.USAGE
    return verb, opts


def dispatch(verb, opts):
    """Runs a parsed command; returns the exit code."""
    if verb == "help":
        sys.stdout.write(opts)
        return 0
    if verb == "version":
        from pause._version import __version__
        print(f"launcher {__version__}")
        return 0
    if os.geteuid() != 0:   # rootless: into the user's own namespaces first
        from launcher.runtime import userns
        userns.enter(say)
    return _run(verb, opts)


def _run(verb, opts):
    if verb in IMAGE_VERBS:
        opts["is_live"] = _pod_exists
    return _module(verb).main(opts)


def _pod_exists(pod_id):
    """Whether a pod that holds an image still exists (rmi and prune keep
    what it holds until `launcher rm`)."""
    from launcher.commands.common import open_store
    store = open_store()
    try:
        return store.exists(pod_id)
    finally:
        store.close()


def main(argv=None):
    """Entry point of the `launcher` command."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        return dispatch(*parse(argv))
    except LauncherError as e:
        say(str(e))
        return e.code
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_LAUNCHER
    except Exception as e:   # a bug: still one line, the traceback on request
        if os.environ.get("LAUNCHER_DEBUG"):
            raise
        say(f"internal error: {type(e).__name__}: {e} (LAUNCHER_DEBUG=1 for details)")
        return EXIT_LAUNCHER


def one_line(msg):
    """msg with every control character escaped: one line, whatever a user
    put in a name or a path."""
    if msg.isprintable():
        return msg
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in msg)


def say(msg):
    """The one line a failure gets: `launcher: msg` on stderr (if we have one)."""
    if sys.stderr is None:
        return
    try:
        sys.stderr.write(f"launcher: {one_line(msg)}\n")
        sys.stderr.flush()
    except OSError:
        pass


def _open_std_fds():
    """Puts /dev/null on whichever of fds 0, 1 and 2 we were started
    without (`launcher ... >&-`), as glibc does for set-user-ID programs:
    otherwise the first files the launcher opens take those numbers (the
    state root became fd 1), a container's output is written into them and
    a detached supervisor's /dev/null is put over them. Three fstat calls."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        null = os.open(os.devnull, os.O_RDWR)   # the lowest free number: fd itself
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        os.set_inheritable(fd, True)   # as a standard fd is (os.open's are not)
        stream = {1: "stdout", 2: "stderr"}.get(fd)
        if stream and getattr(sys, stream) is None:   # Python found it closed: none made
            setattr(sys, stream, open(fd, "w", closefd=False))


def command():
    """The `launcher` program: main(), then out with os._exit() instead of
    the interpreter's teardown, which spends 3-6 ms per call freeing the
    modules one by one (a third of what `run -d` adds to Python's own
    start). What a normal exit would still do is done first: the atexit
    functions (weakref.finalize's among them) and the flush of stdout and
    stderr. A command that left a thread running exits the normal way, so
    the thread is joined as Python would join it."""
    _open_std_fds()
    code = main()
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return code
    import atexit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is None:   # the fd was closed when Python started: print() wrote nothing
            continue
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe or file: a normal exit would fail too
            code = code or EXIT_LAUNCHER
    os._exit(code)


if __name__ == "__main__":
    sys.exit(command())
