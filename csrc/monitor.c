/*
 * monitor.c - what stays of a detached pod's supervisor while it waits.
 *
 * The Python supervisor (launcher/supervisor/handoff.py) execs this program
 * whenever the pod has nothing to decide. The pid stays the same, so every
 * pod process stays its child, and a few KB of RSS replace a Python
 * interpreter. The monitor
 *   - copies what the containers write on their output pipes (--pipe) into
 *     their logs in the pod directory (--logs), rotating each log as
 *     launcher/supervisor/logs.py does: ctr-NAME.log grows to MAXSIZE, then
 *     becomes ctr-NAME.log.1 (older ones move up, the oldest beyond
 *     MAXFILES-1 goes) and a new one starts; MAXFILES 1 truncates;
 *   - sleeps in poll() on the pipes and a signalfd of the signals the
 *     supervisor blocked (no deadline: no timer at all, zero wake-ups while
 *     idle);
 *   - on the first SIGCHLD, stop signal (TERM, INT, HUP), end of a pipe or
 *     the deadline, copies what the pipes still hold and execs COMMAND (the
 *     supervisor) back. A stop signal is raised again first: blocked, it
 *     stays pending across execve and the supervisor's handler sees it. A
 *     child's exit is found by the supervisor's own waitpid loop; a pipe's
 *     end by its own read.
 * The monitor reaps nothing and signals nobody but itself: deciding is the
 * supervisor's job, which keeps the two from ever disagreeing.
 *
 * Usage: pod-monitor [--logs DIRFD,MAXSIZE,MAXFILES] [--pipe FD,NAME]...
 *                    WAIT_MS COMMAND [ARG...]          (WAIT_MS -1: no deadline)
 * Exit: 2 bad usage; 1 the command could not be executed (the pod's
 * processes then die with their parent, by PR_SET_PDEATHSIG, and
 * `launcher ps` shows the pod dead).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h> /* renameat */
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_PIPES 64
#define NAME_MAX_LEN 63

struct pipe_log {
    int fd;                       /* read end of a container's output pipe */
    char name[NAME_MAX_LEN + 1];  /* the container: its log is ctr-NAME.log */
    int log;                      /* the log's fd, -1 until first written */
    int open;                     /* not at its end yet */
};

static struct pipe_log pipes[MAX_PIPES];
static int npipes, dirfd = -1, maxfiles = 5;
static long long maxsize = 10LL << 20;

static void warn(const char *a, const char *b)
{
    const char *parts[] = { "pod-monitor: ", a, b ? " " : "", b ? b : "", "\n" };
    for (unsigned i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (write(2, parts[i], strlen(parts[i])) < 0)
            break;
}

/* A decimal number within [lo, hi] ending at *end (a ',' or NUL); -2 if not. */
static long long number(const char *s, char **end, long long lo, long long hi)
{
    errno = 0;
    long long v = strtoll(s, end, 10);
    if (errno || *end == s || v < lo || v > hi)
        return -2;
    return v;
}

/* "ctr-" NAME ".log" [ "." K ] into buf (NAME is checked: [a-z0-9-]). */
static void log_name(char *buf, const char *name, int k)
{
    char *p = buf;
    memcpy(p, "ctr-", 4), p += 4;
    size_t n = strlen(name);
    memcpy(p, name, n), p += n;
    memcpy(p, ".log", 4), p += 4;
    if (k > 0) {
        char digits[12];
        int d = 0;
        do digits[d++] = (char)('0' + k % 10); while ((k /= 10) > 0);
        *p++ = '.';
        while (d > 0)
            *p++ = digits[--d];
    }
    *p = 0;
}

static int open_log(const char *name)
{
    char path[NAME_MAX_LEN + 32];
    log_name(path, name, 0);
    return openat(dirfd, path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* The log of `name` is full: it becomes .log.1, the older ones move up. */
static void rotate(struct pipe_log *p)
{
    char from[NAME_MAX_LEN + 32], to[NAME_MAX_LEN + 32];
    if (maxfiles <= 1) {
        if (ftruncate(p->log, 0) < 0)
            warn("cannot truncate the log of", p->name);
        return;
    }
    log_name(to, p->name, maxfiles - 1);
    unlinkat(dirfd, to, 0);
    for (int k = maxfiles - 2; k >= 0; k--) {
        log_name(from, p->name, k);
        log_name(to, p->name, k + 1);
        renameat(dirfd, from, dirfd, to);
    }
    close(p->log);
    p->log = open_log(p->name);
    for (int i = 0; i < npipes; i++)   /* another pipe of the same container */
        if (&pipes[i] != p && strcmp(pipes[i].name, p->name) == 0 && pipes[i].log >= 0) {
            close(pipes[i].log);
            pipes[i].log = -1;
        }
}

/* Appends buf to the log of p, rotating whenever it is full. */
static void log_write(struct pipe_log *p, const char *buf, ssize_t n)
{
    if (dirfd < 0)
        return;
    while (n > 0) {
        if (p->log < 0 && (p->log = open_log(p->name)) < 0) {
            warn("cannot open the log of", p->name);
            return;
        }
        struct stat st;
        if (fstat(p->log, &st) < 0)
            return;
        long long room = maxsize - st.st_size;
        if (room <= 0) {
            rotate(p);
            continue;
        }
        ssize_t w = write(p->log, buf, n < room ? n : (ssize_t)room);
        if (w <= 0)
            return; /* a full disk: the output is lost, the pod goes on */
        buf += w, n -= w;
    }
}

/* Copies what pipe p holds now; 1 once it has reached its end. */
static int pump(struct pipe_log *p)
{
    static char buf[65536];
    for (int rounds = 0; p->open && rounds < 16; rounds++) {
        ssize_t n = read(p->fd, buf, sizeof buf);
        if (n > 0) {
            log_write(p, buf, n);
            continue;
        }
        if (n == 0) {
            p->open = 0;
            return 1;
        }
        if (errno != EINTR)
            break; /* EAGAIN: nothing more for now */
    }
    return 0;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int parse_options(int *argc, char ***argv)
{
    char *end;
    while (*argc >= 3 && strncmp((*argv)[1], "--", 2) == 0) {
        const char *opt = (*argv)[1], *val = (*argv)[2];
        if (strcmp(opt, "--logs") == 0) {
            if ((dirfd = (int)number(val, &end, 0, 65535)) < 0 || *end != ','
                || (maxsize = number(end + 1, &end, 1, 1LL << 40)) < 0 || *end != ','
                || (maxfiles = (int)number(end + 1, &end, 1, 100)) < 0 || *end)
                return -1;
        } else if (strcmp(opt, "--pipe") == 0) {
            struct pipe_log *p = &pipes[npipes];
            if (npipes == MAX_PIPES || (p->fd = (int)number(val, &end, 0, 65535)) < 0 || *end != ',')
                return -1;
            const char *name = end + 1;
            size_t n = strlen(name);
            if (n == 0 || n > NAME_MAX_LEN || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
                return -1;
            memcpy(p->name, name, n + 1);
            p->log = -1, p->open = 1;
            fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
            npipes++;
        } else {
            return -1;
        }
        *argc -= 2, *argv += 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    char *end;
    long wait_ms = -2;
    if (parse_options(&argc, &argv) == 0 && argc >= 3)
        wait_ms = (long)number(argv[1], &end, -1, 86400000L);
    if (wait_ms == -2 || (argc >= 3 && *end)) {
        warn("usage: pod-monitor [--logs DIRFD,MAXSIZE,MAXFILES] [--pipe FD,NAME]... "
             "WAIT_MS COMMAND [ARG...]", NULL);
        return 2;
    }

    /* Every asynchronous signal is blocked, so a stray one (USR1, PIPE,
     * ALRM...) can never kill the pod's supervisor; the wake-up signals are
     * read from a signalfd. Blocked signals stay blocked in the supervisor,
     * which unblocks only the wake-up ones; pod processes start with an
     * empty mask. The faults stay unblocked (launcher/spec.py FAULT_SIGNALS). */
    sigset_t all, wake;
    sigfillset(&all);
    int faults[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS };
    for (unsigned i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(&all, faults[i]);
    sigprocmask(SIG_BLOCK, &all, NULL);
    sigemptyset(&wake);
    sigaddset(&wake, SIGCHLD);
    sigaddset(&wake, SIGTERM);
    sigaddset(&wake, SIGINT);
    sigaddset(&wake, SIGHUP);
    int sfd = signalfd(-1, &wake, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        warn("cannot make a signalfd", NULL);
        return 1;
    }

    struct pollfd fds[MAX_PIPES + 1];
    sigset_t stops;
    sigemptyset(&stops);
    long deadline = now_ms() + wait_ms;
    for (int done = 0; !done;) {
        int n = 0;
        fds[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
        for (int i = 0; i < npipes; i++)
            fds[n++] = (struct pollfd){ .fd = pipes[i].open ? pipes[i].fd : -1, .events = POLLIN };
        long left = wait_ms < 0 ? -1 : deadline - now_ms();
        int r = poll(fds, n, wait_ms < 0 ? -1 : (left > 0 ? (int)left : 0));
        if (r == 0)
            break; /* the deadline */
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < npipes; i++)
            if (fds[i + 1].revents && pump(&pipes[i]))
                done = 1; /* a pipe's end: the supervisor closes it */
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
            if (si.ssi_signo != SIGCHLD)
                sigaddset(&stops, (int)si.ssi_signo);
            done = 1;
        }
    }
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(&stops, sig) == 1)
            kill(getpid(), sig); /* pending again, for the supervisor */
    for (int i = 0; i < npipes; i++) {
        pump(&pipes[i]);
        if (pipes[i].log >= 0)
            close(pipes[i].log);
    }
    if (dirfd >= 0)
        close(dirfd);
    close(sfd);
    execv(argv[2], argv + 2);
    warn("cannot execute", argv[2]);
    return 1;
}
