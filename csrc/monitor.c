/*
 * monitor.c - what stays of a detached pod's supervisor while it waits.
 *
 * The Python supervisor (launcher/supervise.py) execs this program whenever
 * the pod has nothing to do. The pid stays the same, so every pod process
 * stays its child, and a few KB of RSS replace a Python interpreter. The
 * monitor sleeps in sigtimedwait() on the signals the supervisor blocked
 * (with no deadline there is no timer at all: zero wake-ups while idle) and
 * on the first SIGCHLD, stop signal (TERM, INT, HUP) or the deadline execs
 * the supervisor back. A stop signal is raised again first: blocked, it
 * stays pending across execve, and the supervisor's handler sees it; a
 * child's exit is found by the supervisor's own waitpid loop. The monitor
 * reaps nothing, writes nothing and signals nobody but itself: deciding is
 * the supervisor's job, which keeps the two from ever disagreeing.
 *
 * Usage: pod-monitor WAIT_MS COMMAND [ARG...]      (WAIT_MS -1: no deadline)
 * Exit: 2 bad usage; 1 the command could not be executed (the pod's
 * processes then die with their parent, by PR_SET_PDEATHSIG, and
 * `launcher ps` shows the pod dead).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void warn(const char *a, const char *b)
{
    const char *parts[] = { "pod-monitor: ", a, b ? " " : "", b ? b : "", "\n" };
    for (unsigned i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (write(2, parts[i], strlen(parts[i])) < 0)
            break;
}

/* WAIT_MS: -1, or 0 to a day in milliseconds; -2 if s is neither. */
static long parse_wait(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < -1 || v > 86400000L)
        return -2;
    return v;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int main(int argc, char **argv)
{
    sigset_t set;
    long wait_ms = argc >= 3 ? parse_wait(argv[1]) : -2;
    if (wait_ms == -2) {
        warn("usage: pod-monitor WAIT_MS COMMAND [ARG...]", NULL);
        return 2;
    }

    /* Every asynchronous signal is blocked, so a stray one (USR1, PIPE,
     * ALRM...) can never kill the pod's supervisor; the wake-up signals are
     * waited for. Blocked signals stay blocked in the supervisor, which
     * unblocks only the wake-up ones; pod processes start with an empty
     * mask. */
    sigset_t all;
    sigfillset(&all);
    int faults[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS };
    for (unsigned i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(&all, faults[i]);
    sigprocmask(SIG_BLOCK, &all, NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);

    long deadline = now_ms() + wait_ms;
    for (;;) {
        int sig;
        if (wait_ms < 0) {
            sig = sigwaitinfo(&set, NULL);
        } else {
            long left = deadline - now_ms();
            struct timespec ts = { left > 0 ? left / 1000 : 0, left > 0 ? (left % 1000) * 1000000L : 0 };
            sig = sigtimedwait(&set, NULL, &ts);
            if (sig < 0 && errno == EAGAIN)
                break; /* the deadline */
        }
        if (sig == SIGCHLD)
            break;
        if (sig > 0) {
            kill(getpid(), sig); /* pending again, for the supervisor */
            break;
        }
    }
    execv(argv[2], argv + 2);
    warn("cannot execute", argv[2]);
    return 1;
}
