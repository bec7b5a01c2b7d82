/*
 * pause_core.c - the pause state machine: hold a pod's namespaces, reap every
 * zombie, handle signals; or, in init mode, run one command and pass its exit
 * status through. pause/reference.py is the same program in Python, step for
 * step: same function names, same order, same log lines, same exit codes.
 *
 * Why sigwaitinfo and not signalfd or handlers: every signal we care about is
 * blocked and taken synchronously in one loop, so there is no async-signal
 * safety to think about, no file descriptor to keep out of the child, and the
 * loop sleeps in the kernel with no timeout at all: zero wake-ups when idle.
 * Only the --grace shutdown uses sigtimedwait, because it has a deadline.
 *
 * No stdio: log lines are assembled by hand and written with one write(2),
 * which keeps the static binary a few kilobytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pause.h"

#ifndef PAUSE_VERSION
#define PAUSE_VERSION "dev"
#endif
#ifndef SYS_close_range
#define SYS_close_range 436 /* the same number on every architecture */
#endif

/* The grace shutdown re-checks who is left this often: processes that joined
 * the namespace with setns are not our children and send us no SIGCHLD. */
#define GRACE_POLL_MS 50

struct state {
    const struct pause_config *cfg;
    int events_fd;      /* -1 once closed */
    int is_init;        /* we are PID 1 of our PID namespace */
    pid_t child;        /* init mode: the command; 0 otherwise */
    int child_status;
    int child_done;
    sigset_t waited;    /* the signals the loop takes */
};

const char *pause_version(void) { return PAUSE_VERSION; }

/* ---------------------------------------------------------------- logging */

struct line { char s[512]; size_t n; };

static void put_str(struct line *l, const char *s)
{
    while (*s && l->n < sizeof(l->s) - 1)
        l->s[l->n++] = *s++;
}

static void put_int(struct line *l, long v)
{
    char d[24];
    int i = 0;
    unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
    do d[i++] = '0' + u % 10; while ((u /= 10));
    if (v < 0) d[i++] = '-';
    while (i && l->n < sizeof(l->s) - 1)
        l->s[l->n++] = d[--i];
}

/* Appends fmt to l, with %s (string) and %d (int) as the only conversions. */
static void put_fmt(struct line *l, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (fmt[0] == '%' && fmt[1] == 's') { put_str(l, va_arg(ap, const char *)); fmt++; }
        else if (fmt[0] == '%' && fmt[1] == 'd') { put_int(l, va_arg(ap, int)); fmt++; }
        else if (l->n < sizeof(l->s) - 1) l->s[l->n++] = *fmt;
    }
}

static int debug_enabled(void)
{
    const char *v = getenv("PAUSE_DEBUG");
    return v && *v && strcmp(v, "0") != 0;
}

/* One line on stderr, "pause[PID]: LEVEL: message"; keeps errno intact.
 * "debug" lines appear only when PAUSE_DEBUG is set. */
static void say(const char *level, const char *fmt, ...)
{
    int saved = errno;
    struct line l = { .n = 0 };
    va_list ap;
    if (strcmp(level, "debug") == 0 && !debug_enabled())
        return;
    put_str(&l, "pause[");
    put_int(&l, getpid());
    put_str(&l, "]: ");
    put_str(&l, level);
    put_str(&l, ": ");
    va_start(ap, fmt);
    put_fmt(&l, fmt, ap);
    va_end(ap);
    l.s[l.n++] = '\n';
    (void)!write(2, l.s, l.n);
    errno = saved;
}

/* ---------------------------------------------------------------- syscalls */

/* Raw system calls where musl's wrappers carry code pause never needs
 * (thread cancellation, F_GETOWN_EX, signal handlers with restorers).
 * pause only ever sets SIG_IGN or SIG_DFL, which need no restorer. */
struct ksigaction { void (*handler)(int); unsigned long flags; void (*restorer)(void); unsigned long mask; };

static void set_disposition(int sig, void (*handler)(int))
{
    struct ksigaction ksa = { .handler = handler };
    syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof(ksa.mask));
}

/* sigtimedwait(2), a NULL timeout waiting forever; -1 with errno on failure. */
static int wait_signal(const sigset_t *set, const struct timespec *timeout)
{
    return (int)syscall(SYS_rt_sigtimedwait, set, NULL, timeout, _NSIG / 8);
}

static int fd_flags(int fd, int get, int set, long add)
{
    long v = syscall(SYS_fcntl, fd, get);
    return v < 0 ? -1 : (int)syscall(SYS_fcntl, fd, set, v | add);
}

/* fork(2) without musl's atfork and lock bookkeeping, which a single-threaded
 * pause never needs (2.5 KB of the binary). glibc, under Python, keeps its
 * own fork, which also resets the interpreter's state correctly. */
static pid_t fork_child(void)
{
#ifdef __GLIBC__
    return fork();
#else
    return (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
#endif
}

/* The message for the errno values pause can meet; error_text() would bring
 * musl's whole table (2 KB, an eighth of the binary). */
static const char *error_text(int err)
{
    switch (err) {
    case ENOENT: return "No such file or directory";
    case EACCES: return "Permission denied";
    case ENOEXEC: return "Exec format error";
    case EPERM: return "Operation not permitted";
    case EBADF: return "Bad file descriptor";
    case EPIPE: return "Broken pipe";
    case ENOTDIR: return "Not a directory";
    case ELOOP: return "Too many levels of symbolic links";
    case ENOMEM: return "Out of memory";
    case EAGAIN: return "Resource temporarily unavailable";
    case EINVAL: return "Invalid argument";
    case E2BIG: return "Argument list too long";
    default: return "unexpected error";
    }
}

/* ---------------------------------------------------------------- signals */

/* Raised by the kernel for a fault of our own: never blocked, never forwarded. */
static int is_fault(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
           sig == SIGTRAP || sig == SIGSYS;
}

/* Signals a program may not touch: KILL and STOP, and 32-34, which the C
 * libraries keep for their own threads (musl refuses all three). */
static int is_untouchable(int sig)
{
    return sig == SIGKILL || sig == SIGSTOP || (sig >= 32 && sig <= 34);
}

/* Decides each signal's fate, then blocks the ones the loop takes.
 * Pause mode takes CHLD, TERM and INT and ignores every other signal, so it
 * behaves the same whether or not it is PID 1. Init mode takes every signal
 * a user can send, to forward it; the tty stop signals TSTP, TTIN and TTOU
 * are forwarded too, and pause itself never stops. A taken signal gets its
 * default disposition first: one ignored by whoever started pause would
 * otherwise be lost (an ignored CHLD even makes the kernel reap children
 * itself, and their exit statuses with them). */
static int setup_signals(struct state *st)
{
    int sig;
    sigemptyset(&st->waited);
    for (sig = 1; sig < _NSIG; sig++) {
        if (is_untouchable(sig) || is_fault(sig))
            continue;
        if (st->cfg->argv || sig == SIGCHLD || sig == SIGTERM || sig == SIGINT) {
            sigaddset(&st->waited, sig);
            set_disposition(sig, SIG_DFL);
        } else
            set_disposition(sig, SIG_IGN);
    }
    if (sigprocmask(SIG_BLOCK, &st->waited, NULL) < 0) {
        say("error", "cannot block signals: %s", error_text(errno));
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- set-up */

static void close_range_compat(unsigned lo, unsigned hi)
{
    struct rlimit rl;
    if (lo > hi || syscall(SYS_close_range, lo, hi, 0) == 0)
        return;
    /* kernels before 5.9: close one by one, up to the fd limit */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur - 1 < hi)
        hi = rl.rlim_cur - 1;
    for (; lo <= hi && lo < 1u << 20; lo++)
        close(lo);
}

/* Closes every inherited fd from 3 up, except the ready and events fds. */
static void close_inherited_fds(int keep_a, int keep_b)
{
    unsigned lo = 3;
    int first = keep_a < keep_b ? keep_a : keep_b;
    int second = keep_a < keep_b ? keep_b : keep_a;
    if (first >= 3) { close_range_compat(lo, first - 1); lo = first + 1; }
    if (second >= 3 && (unsigned)second >= lo) { close_range_compat(lo, second - 1); lo = second + 1; }
    close_range_compat(lo, ~0u);
}

/* Not PID 1: orphans go to the nearest subreaper, so become one. */
static void become_subreaper(struct state *st)
{
    st->is_init = getpid() == 1;
    if (st->is_init)
        return;
    say("warning", "not PID 1, so only orphans of my own descendants come to me; becoming a child subreaper");
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        say("warning", "cannot become a child subreaper: %s", error_text(errno));
}

/* Tells whoever waits on --ready-fd that every handler is in place. */
static void signal_ready(int fd)
{
    if (fd < 0)
        return;
    if (write(fd, "ready\n", 6) != 6)
        say("warning", "cannot write to ready fd %d: %s", fd, error_text(errno));
    close(fd);
}

/* The events fd must never block pause, nor leak into the command. */
static int open_events(int fd)
{
    if (fd < 0)
        return -1;
    if (fd_flags(fd, F_GETFL, F_SETFL, O_NONBLOCK) < 0 || fd_flags(fd, F_GETFD, F_SETFD, FD_CLOEXEC) < 0) {
        say("warning", "cannot use events fd %d: %s", fd, error_text(errno));
        return -1;
    }
    return fd;
}

/* ---------------------------------------------------------------- reaping */

/* Writes one JSON line about a reaped child. A full pipe drops the line; a
 * closed one closes our end (and takes back the SIGPIPE the write raised). */
static void emit_reaped(struct state *st, pid_t pid, int status)
{
    struct line l = { .n = 0 };
    const struct timespec now = { 0, 0 };
    if (st->events_fd < 0)
        return;
    put_str(&l, "{\"event\":\"reaped\",\"pid\":");
    put_int(&l, pid);
    put_str(&l, WIFSIGNALED(status) ? ",\"signal\":" : ",\"exit\":");
    put_int(&l, WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    put_str(&l, "}\n");
    if (write(st->events_fd, l.s, l.n) >= 0 || errno == EAGAIN)
        return;
    if (errno == EPIPE) {
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        wait_signal(&pipe_only, &now);
    }
    say("warning", "events fd closed: %s", error_text(errno));
    close(st->events_fd);
    st->events_fd = -1;
}

/* Reaps every child that has exited. One SIGCHLD may stand for many exits,
 * so loop until waitpid has nothing more. Returns 1 while children remain. */
static int reap_all(struct state *st)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid == 0)
            return 1;
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        say("debug", "reaped %d", pid);
        emit_reaped(st, pid, status);
        if (pid == st->child) {
            st->child_status = status;
            st->child_done = 1;
        }
    }
}

/* ---------------------------------------------------------------- shutdown */

/* The leading decimal number of s, or -1. */
static long number(const char *s)
{
    long v = 0;
    if (*s < '0' || *s > '9')
        return -1;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (*s++ - '0');
    return v;
}

/* The parent pid in /proc/PID/stat, or -1. */
static long parent_of(const char *pid)
{
    char path[64] = "/proc/", buf[512], *p;
    ssize_t n;
    int fd;
    strcat(strcat(path, pid), "/stat");
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    if (!(p = strrchr(buf, ')')) || strlen(p) < 5)
        return -1;
    return number(p + 4); /* ") S PPID" */
}

/* Sends TERM to every other process of the PID namespace when we are its
 * init; otherwise to our own children (adopted orphans included), found in
 * /proc with getdents64 (opendir would pull malloc into the binary). */
static void terminate_others(struct state *st)
{
    char buf[4096];
    long n, off;
    int fd;
    if (st->is_init) {
        kill(-1, SIGTERM);
        return;
    }
    if ((fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
        for (off = 0; off < n; off += ((struct dirent64 *)(buf + off))->d_reclen) {
            const char *name = ((struct dirent64 *)(buf + off))->d_name;
            if (number(name) > 0 && parent_of(name) == getpid())
                kill((pid_t)number(name), SIGTERM);
        }
    close(fd);
}

/* Whether anybody we wait for is still there. */
static int others_left(struct state *st)
{
    int children = reap_all(st);
    return st->is_init ? kill(-1, 0) == 0 : children;
}

static long now_ms(void)
{
    struct timespec t;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t); /* no vDSO look-up code */
    return t.tv_sec * 1000L + t.tv_nsec / 1000000;
}

/* --grace: TERM the others, then reap until none is left or time is up.
 * A second TERM or INT cuts the wait short. */
static void drain(struct state *st)
{
    long deadline = now_ms() + st->cfg->grace_ms;
    terminate_others(st);
    while (others_left(st)) {
        long left = deadline - now_ms();
        struct timespec ts;
        int sig;
        if (left <= 0) {
            say("warning", "grace period over, leaving the rest to the kernel");
            return;
        }
        if (left > GRACE_POLL_MS)
            left = GRACE_POLL_MS;
        ts.tv_sec = 0;
        ts.tv_nsec = left * 1000000L;
        sig = wait_signal(&st->waited, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            say("info", "second signal %d, not waiting any longer", sig);
            return;
        }
    }
}

/* ---------------------------------------------------------------- init mode */

/* Starts the command with default dispositions and an empty signal mask.
 * Every signal is reset, 32-34 too: pause never touches those, but one that
 * whoever started pause left ignored would otherwise survive exec (the raw
 * system call is not refused as the C library's wrapper is).
 * Cannot run it: 127 when not found, 126 otherwise, as shells do. */
static pid_t spawn(struct state *st)
{
    char **argv = st->cfg->argv;
    sigset_t none;
    pid_t pid = fork_child();
    int sig, err;
    if (pid != 0) {
        if (pid > 0 && st->cfg->group)
            setpgid(pid, pid); /* also done in the child: no race either way */
        return pid;
    }
    if (st->cfg->group) {
        setpgid(0, 0);
        if (isatty(0))
            tcsetpgrp(0, getpgrp()); /* TTOU is still blocked here */
    }
    for (sig = 1; sig < _NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            set_disposition(sig, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(argv[0], argv);
    err = errno;
    say("error", "cannot execute '%s': %s", argv[0], error_text(err));
    _exit(err == ENOENT ? 127 : 126);
}

/* Passes a signal on to the command, or to its process group with -g. */
static void forward(struct state *st, int sig)
{
    say("debug", "forwarding signal %d to %d", sig, st->child);
    if (kill(st->cfg->group ? -st->child : st->child, sig) < 0 && errno != ESRCH)
        say("warning", "cannot forward signal %d: %s", sig, error_text(errno));
}

static int exit_code(int status)
{
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* ---------------------------------------------------------------- the loops */

static int run_pause(struct state *st)
{
    for (;;) {
        int sig = wait_signal(&st->waited, NULL);
        if (sig == SIGCHLD) {
            reap_all(st);
        } else if (sig == SIGTERM || sig == SIGINT) {
            say("info", "shutting down on signal %d", sig);
            if (st->cfg->grace_ms >= 0)
                drain(st);
            return 0;
        }
    }
}

static int run_init(struct state *st)
{
    st->child = spawn(st);
    if (st->child < 0) {
        say("error", "cannot fork: %s", error_text(errno));
        return 1;
    }
    for (;;) {
        int sig = wait_signal(&st->waited, NULL);
        if (sig < 0)
            continue;
        if (sig != SIGCHLD) {
            forward(st, sig);
            continue;
        }
        reap_all(st);
        if (st->child_done)
            return exit_code(st->child_status);
    }
}

/* The whole program, as a checklist. */
int pause_run(const struct pause_config *cfg)
{
    struct state st = { .cfg = cfg, .events_fd = -1 };

    /* 1. let go of the start directory and of every inherited fd */
    if (chdir("/") < 0)
        say("warning", "cannot chdir to /: %s", error_text(errno));
    close_inherited_fds(cfg->ready_fd, cfg->events_fd);
    prctl(PR_SET_NAME, "pause", 0, 0, 0);
    /* 2. decide every signal's fate, then block the ones we wait for */
    if (setup_signals(&st) < 0)
        return 1;
    /* 3. not the namespace's init: make orphans come to us anyway */
    become_subreaper(&st);
    /* 4. events fd ready, handlers in place: tell the launcher */
    st.events_fd = open_events(cfg->events_fd);
    signal_ready(cfg->ready_fd);
    /* 5. children that exited before SIGCHLD was blocked */
    reap_all(&st);
    /* 6. the loop: pause forever, or run the command */
    return cfg->argv ? run_init(&st) : run_pause(&st);
}
