"""The pause command line, as csrc/pause_main.c parses it: same flags, same
messages, same exit codes (0 for -v/-h, 2 for bad usage)."""
import os
import signal
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set

from pause._version import __version__

USAGE = """\
usage: pause [options] [-- COMMAND [ARG...]]
Holds a pod's namespaces as PID 1: reaps every zombie, exits 0 on TERM or INT.
With a COMMAND, runs it as an init (tini-like): forwards signals, reaps,
and exits with the command's status (128+N if it died of signal N).

  --ready-fd N          write "ready" to fd N once signals are set up, then close it
  --events-fd N         write one JSON line per reaped child to fd N (never blocks)
  --grace SECONDS       on TERM/INT, TERM every other process first and wait for them
  -g                    forward signals to the command's process group, TERM it at exit
  -r, --rewrite S:R     forward signal S as R (numbers or names; R 0 drops S); repeatable
  -e, --remap-exit N    exit 0 when the command exits N (143: died of TERM); repeatable
  -p, --pdeathsig SIG   get signal SIG when pause's parent dies
  -s, --subreaper       become a child subreaper when not PID 1, without the warning
  -w, --warn-reaped     log each reaped process that is not the command
  -v, --version         print the version
  -h, --help            print this help
Environment: PAUSE_DEBUG=1 logs every reaped child and forwarded signal.
"""


# The signals pause knows by name (csrc/pause_main.c's signal_names).
SIGNAL_NAMES = ("HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV",
                "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN",
                "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS")


@dataclass
class Config:
    """struct pause_config: -1 means 'none' for the fds and the grace period;
    rewrite maps a signal to the one forwarded instead (0: dropped)."""
    ready_fd: int = -1
    events_fd: int = -1
    grace_ms: int = -1
    group: bool = False
    argv: Optional[List[str]] = None
    rewrite: Dict[int, int] = field(default_factory=dict)
    remap_exit: Set[int] = field(default_factory=set)
    pdeathsig: int = 0
    subreaper: bool = False
    warn_reaped: bool = False


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


def parse_number(s, top):
    """1 to 3 decimal digits, at most top, or -1."""
    if not 1 <= len(s) <= 3 or not all("0" <= c <= "9" for c in s) or int(s) > top:
        return -1
    return int(s)


def parse_signal(s):
    """A signal: a number from 0 to 64, or a name with or without SIG (TERM,
    SIGTERM); -1 if neither, or one of 32-34, which the C libraries keep."""
    if s[:1] and "0" <= s[0] <= "9":
        sig = parse_number(s, 64)
    else:
        name = s[3:] if s.startswith("SIG") else s
        sig = int(getattr(signal, "SIG" + name)) if name in SIGNAL_NAMES else -1
    return -1 if 32 <= sig <= 34 else sig


def parse_rewrite(s, cfg):
    """-r S:R into cfg; returns 0, or 1 when not S:R, 2 when S cannot be rewritten."""
    if ":" not in s or s.index(":") >= 16:
        return 1
    frm, _, to = s.partition(":")
    sig, to = parse_signal(frm), parse_signal(to)
    if sig <= 0 or to < 0:
        return 1
    if sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD):
        return 2
    cfg.rewrite[sig] = to
    return 0


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
        elif a in ("-s", "--subreaper"):
            cfg.subreaper = True
        elif a in ("-w", "--warn-reaped"):
            cfg.warn_reaped = True
        elif a in ("-r", "--rewrite"):
            if val is None:
                raise usage_error("missing a value for", a)
            bad = parse_rewrite(val, cfg)
            if bad:
                raise usage_error("not a signal rewrite S:R:" if bad == 1
                                  else "KILL, STOP and CHLD cannot be rewritten:", val)
            i += 1
        elif a in ("-e", "--remap-exit"):
            if val is None:
                raise usage_error("missing a value for", a)
            code = parse_number(val, 255)
            if code < 0:
                raise usage_error("not an exit code (0-255):", val)
            cfg.remap_exit.add(code)
            i += 1
        elif a in ("-p", "--pdeathsig"):
            if val is None:
                raise usage_error("missing a value for", a)
            cfg.pdeathsig = parse_signal(val)
            if cfg.pdeathsig <= 0:
                raise usage_error("not a signal:", val)
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
    if cfg.rewrite and not cfg.argv:
        raise usage_error("-r/--rewrite needs a command")
    if cfg.remap_exit and not cfg.argv:
        raise usage_error("-e/--remap-exit needs a command")
    if cfg.grace_ms >= 0 and cfg.argv:
        raise usage_error("--grace is for pause mode; in init mode the command decides")
    return cfg
