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
    "  --ready-fd N     write \"ready\" to fd N once signals are set up, then close it\n"
    "  --events-fd N    write one JSON line per reaped child to fd N (never blocks)\n"
    "  --grace SECONDS  on TERM/INT, TERM every other process first and wait for them\n"
    "  -g               forward signals to the command's process group\n"
    "  -v, --version    print the version\n"
    "  -h, --help       print this help\n"
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
    int i;
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
    if (cfg.grace_ms >= 0 && cfg.argv)
        return usage_error("--grace is for pause mode; in init mode the command decides", NULL);
    return pause_run(&cfg);
}
