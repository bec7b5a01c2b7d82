"""The pause command line, as csrc/pause_main.c parses it: same flags, same
messages, same exit codes (0 for -v/-h, 2 for bad usage)."""
import os
from dataclasses import dataclass
from typing import List, Optional

from pause._version import __version__

USAGE = """\
usage: pause [options] [-- COMMAND [ARG...]]
Holds a pod's namespaces as PID 1: reaps every zombie, exits 0 on TERM or INT.
With a COMMAND, runs it as an init (tini-like): forwards signals, reaps,
and exits with the command's status (128+N if it died of signal N).

  --ready-fd N     write "ready" to fd N once signals are set up, then close it
  --events-fd N    write one JSON line per reaped child to fd N (never blocks)
  --grace SECONDS  on TERM/INT, TERM every other process first and wait for them
  -g               forward signals to the command's process group
  -v, --version    print the version
  -h, --help       print this help
Environment: PAUSE_DEBUG=1 logs every reaped child and forwarded signal.
"""


@dataclass
class Config:
    """struct pause_config: -1 means 'none' for the fds and the grace period."""
    ready_fd: int = -1
    events_fd: int = -1
    grace_ms: int = -1
    group: bool = False
    argv: Optional[List[str]] = None


class Exit(Exception):
    """Parsing ends the program: `code` to exit with, `out`/`err` to print."""

    def __init__(self, code, out="", err=""):
        super().__init__(code)
        self.code, self.out, self.err = code, out, err


def usage_error(what, arg=None):
    quoted = " '%s'" % arg if arg is not None else ""
    return Exit(2, err="pause: %s%s (see pause --help)\n" % (what, quoted))


def parse_fd(s):
    """A file descriptor number that is open in this process, or -1."""
    if not s or not all("0" <= c <= "9" for c in s) or int(s) > 1 << 24:
        return -1
    try:
        os.stat(int(s))  # fstat, as fcntl(F_GETFD) in C: fails on a closed fd
    except OSError:
        return -1
    return int(s)


def parse_seconds(s):
    """SECONDS as a decimal from 0 to 86400 with at most three places, in ms, or -1."""
    whole, dot, frac = s.partition(".")
    digits = whole + frac
    if not digits or not all("0" <= c <= "9" for c in digits) or len(frac) > 3:
        return -1
    ms = int(whole or "0") * 1000 + int((frac + "000")[:3])
    return ms if ms <= 86400000 else -1


def parse(argv):
    """argv (without the program name) -> Config, or raises Exit."""
    cfg = Config()
    i = 0
    while i < len(argv):
        a = argv[i]
        val = argv[i + 1] if i + 1 < len(argv) else None
        if a == "--":
            if i + 1 == len(argv):
                raise usage_error("-- needs a command after it")
            cfg.argv = argv[i + 1:]
            break
        elif a in ("-v", "--version"):
            raise Exit(0, out="pause %s\n" % __version__)
        elif a in ("-h", "--help"):
            raise Exit(0, out=USAGE)
        elif a == "-g":
            cfg.group = True
        elif a in ("--ready-fd", "--events-fd"):
            if val is None:
                raise usage_error("missing a value for", a)
            fd = parse_fd(val)
            if fd < 0:
                raise usage_error("not an open file descriptor:", val)
            setattr(cfg, "ready_fd" if a[2] == "r" else "events_fd", fd)
            i += 1
        elif a == "--grace":
            if val is None:
                raise usage_error("missing a value for", a)
            cfg.grace_ms = parse_seconds(val)
            if cfg.grace_ms < 0:
                raise usage_error("not a number of seconds:", val)
            i += 1
        elif a.startswith("-"):
            raise usage_error("unknown option", a)
        else:
            raise usage_error("unexpected argument (put the command after --):", a)
        i += 1
    if cfg.ready_fd >= 0 and cfg.ready_fd == cfg.events_fd:
        raise usage_error("--ready-fd and --events-fd must differ")
    if cfg.group and not cfg.argv:
        raise usage_error("-g needs a command")
    if cfg.grace_ms >= 0 and cfg.argv:
        raise usage_error("--grace is for pause mode; in init mode the command decides")
    return cfg
