/*
 * pause_main.c - the command line of the static pause binary. Parses the
 * flags into a struct pause_config and hands over to the core. pause/args.py
 * is the same parser in Python: same flags, same messages, same exit codes.
 *
 * Exit codes: 0 clean (TERM/INT, -v, -h), 2 bad usage, 1 set-up failure;
 * init mode: the command's status, 128+N for signal N, 127/126 cannot run.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pause.h"

static const char usage[] =
    "usage: pause [options] [-- COMMAND [ARG...]]\n"
    "Holds a pod's namespaces as PID 1: reaps every zombie, exits 0 on TERM or INT.\n"
    "With a COMMAND, runs it as an init (tini-like): forwards signals, reaps,\n"
    "and exits with the command's status (128+N if it died of signal N).\n"
    "\n"
    "  --ready-fd N          write \"ready\" to fd N once signals are set up, then close it\n"
    "  --events-fd N         write one JSON line per reaped child to fd N (never blocks)\n"
    "  --grace SECONDS       on TERM/INT, TERM every other process first and wait for them\n"
    "  -g                    forward signals to the command's process group, TERM it at exit\n"
    "  -r, --rewrite S:R     forward signal S as R (numbers or names; R 0 drops S); repeatable\n"
    "  -e, --remap-exit N    exit 0 when the command exits N (143: died of TERM); repeatable\n"
    "  -p, --pdeathsig SIG   get signal SIG when pause's parent dies\n"
    "  -s, --subreaper       become a child subreaper when not PID 1, without the warning\n"
    "  -w, --warn-reaped     log each reaped process that is not the command\n"
    "  -v, --version         print the version\n"
    "  -h, --help            print this help\n"
    "Environment: PAUSE_DEBUG=1 logs every reaped child and forwarded signal.\n";

static void out(int fd, const char *a, const char *b, const char *c)
{
    (void)!write(fd, a, strlen(a));
    (void)!write(fd, b, strlen(b));
    (void)!write(fd, c, strlen(c));
}

static int usage_error(const char *what, const char *arg)
{
    out(2, "pause: ", what, "");
    out(2, arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
    out(2, " (see pause --help)\n", "", "");
    return 2;
}

/* A file descriptor number that is open in this process, or -1. */
static int parse_fd(const char *s)
{
    long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if ((v = v * 10 + (*s - '0')) > 1 << 24)
            return -1;
    }
    return syscall(SYS_fcntl, (int)v, F_GETFD) < 0 ? -1 : (int)v;
}

/* 1 to 3 decimal digits, at most max, or -1. */
static int parse_number(const char *s, int max)
{
    int v = 0, n = 0;
    for (; *s; s++, n++) {
        if (*s < '0' || *s > '9' || n == 3)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return n && v <= max ? v : -1;
}

/* The signals pause knows by name, in the order of their names below. */
static const unsigned char signal_numbers[] = {
    SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGUSR1, SIGSEGV,
    SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN,
    SIGTTOU, SIGURG, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR, SIGSYS,
};
static const char signal_names[] =
    "HUP\0INT\0QUIT\0ILL\0TRAP\0ABRT\0BUS\0FPE\0KILL\0USR1\0SEGV\0USR2\0PIPE\0ALRM\0TERM\0STKFLT\0"
    "CHLD\0CONT\0STOP\0TSTP\0TTIN\0TTOU\0URG\0XCPU\0XFSZ\0VTALRM\0PROF\0WINCH\0IO\0PWR\0SYS\0";

/* A signal: a number from 0 to 64, or a name with or without SIG (TERM,
 * SIGTERM); -1 if neither, or one of 32-34, which the C libraries keep. */
static int parse_signal(const char *s)
{
    const char *name = signal_names;
    unsigned i;
    int sig = -1;
    if (*s >= '0' && *s <= '9')
        sig = parse_number(s, 64);
    else {
        if (!strncmp(s, "SIG", 3))
            s += 3;
        for (i = 0; i < sizeof(signal_numbers); i++, name += strlen(name) + 1)
            if (!strcmp(s, name))
                sig = signal_numbers[i];
    }
    return sig >= 32 && sig <= 34 ? -1 : sig;
}

/* -r S:R into cfg; returns 0, or 1 when not S:R, 2 when S cannot be rewritten. */
static int parse_rewrite(const char *s, struct pause_config *cfg)
{
    char from[16];
    const char *colon = strchr(s, ':');
    int sig, to;
    if (!colon || (size_t)(colon - s) >= sizeof(from))
        return 1;
    memcpy(from, s, colon - s);
    from[colon - s] = 0;
    if ((sig = parse_signal(from)) <= 0 || (to = parse_signal(colon + 1)) < 0)
        return 1;
    if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD)
        return 2;
    cfg->rewrite[sig] = to ? to : -1;
    return 0;
}

/* SECONDS as a decimal from 0 to 86400 with at most three places, in ms, or -1. */
static int parse_seconds(const char *s)
{
    long ms = 0;
    int places = -1, digits = 0;
    for (; *s; s++) {
        if (*s == '.' && places < 0) { places = 0; continue; }
        if (*s < '0' || *s > '9' || places >= 3)
            return -1;
        if ((ms = ms * 10 + (*s - '0')) > 86400000L)
            return -1;
        digits++;
        if (places >= 0) places++;
    }
    for (places = places < 0 ? 0 : places; places < 3; places++)
        ms *= 10;
    return !digits || ms > 86400000L ? -1 : (int)ms;
}

int main(int argc, char **argv)
{
    struct pause_config cfg = { .ready_fd = -1, .events_fd = -1, .grace_ms = -1 };
    int i, rewrites = 0, remaps = 0;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--")) {
            if (i + 1 == argc)
                return usage_error("-- needs a command after it", NULL);
            cfg.argv = argv + i + 1;
            break;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--version")) {
            out(1, "pause ", pause_version(), "\n");
            return 0;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            out(1, usage, "", "");
            return 0;
        } else if (!strcmp(a, "-g")) {
            cfg.group = 1;
        } else if (!strcmp(a, "--ready-fd") || !strcmp(a, "--events-fd")) {
            int fd;
            if (!val)
                return usage_error("missing a value for", a);
            if ((fd = parse_fd(val)) < 0)
                return usage_error("not an open file descriptor:", val);
            *(a[2] == 'r' ? &cfg.ready_fd : &cfg.events_fd) = fd;
            i++;
        } else if (!strcmp(a, "-s") || !strcmp(a, "--subreaper")) {
            cfg.subreaper = 1;
        } else if (!strcmp(a, "-w") || !strcmp(a, "--warn-reaped")) {
            cfg.warn_reaped = 1;
        } else if (!strcmp(a, "-r") || !strcmp(a, "--rewrite")) {
            int bad;
            if (!val)
                return usage_error("missing a value for", a);
            if ((bad = parse_rewrite(val, &cfg)))
                return usage_error(bad == 1 ? "not a signal rewrite S:R:"
                                            : "KILL, STOP and CHLD cannot be rewritten:", val);
            rewrites++;
            i++;
        } else if (!strcmp(a, "-e") || !strcmp(a, "--remap-exit")) {
            int code;
            if (!val)
                return usage_error("missing a value for", a);
            if ((code = parse_number(val, 255)) < 0)
                return usage_error("not an exit code (0-255):", val);
            cfg.remap_exit[code] = 1;
            remaps++;
            i++;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--pdeathsig")) {
            if (!val)
                return usage_error("missing a value for", a);
            if ((cfg.pdeathsig = parse_signal(val)) <= 0)
                return usage_error("not a signal:", val);
            i++;
        } else if (!strcmp(a, "--grace")) {
            if (!val)
                return usage_error("missing a value for", a);
            if ((cfg.grace_ms = parse_seconds(val)) < 0)
                return usage_error("not a number of seconds:", val);
            i++;
        } else if (a[0] == '-') {
            return usage_error("unknown option", a);
        } else {
            return usage_error("unexpected argument (put the command after --):", a);
        }
    }
    if (cfg.ready_fd >= 0 && cfg.ready_fd == cfg.events_fd)
        return usage_error("--ready-fd and --events-fd must differ", NULL);
    if (cfg.group && !cfg.argv)
        return usage_error("-g needs a command", NULL);
    if (rewrites && !cfg.argv)
        return usage_error("-r/--rewrite needs a command", NULL);
    if (remaps && !cfg.argv)
        return usage_error("-e/--remap-exit needs a command", NULL);
    if (cfg.grace_ms >= 0 && cfg.argv)
        return usage_error("--grace is for pause mode; in init mode the command decides", NULL);
    return pause_run(&cfg);
}
