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
 * Pause mode with nobody asking for exit statuses (no --events-fd, -w or
 * PAUSE_DEBUG) does not even wait: it ignores SIGCHLD, so the kernel frees
 * each orphan's zombie as it reaches pause, and pause is never woken for it.
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
    int kernel_reaps;   /* pause mode, no statuses wanted: SIGCHLD ignored */
    int reporting;      /* something wants to hear of each reaped child */
    pid_t child;        /* init mode: the command; 0 otherwise */
    int child_status;
    int child_done;
    int child_stopped;  /* the signal that last stopped the command, until handled */
    sigset_t waited;    /* the signals the loop takes */
};

static int debug;       /* PAUSE_DEBUG is set: read once, not per reaped child */

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
    struct line l;
    va_list ap;
    if (!debug && strcmp(level, "debug") == 0)
        return;
    l.n = 0;
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

/* sigtimedwait(2), a NULL timeout waiting forever, info optional; -1 with
 * errno on failure. */
static int wait_signal(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
    return (int)syscall(SYS_rt_sigtimedwait, set, info, timeout, _NSIG / 8);
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

/* Raised by the kernel for a fault of our own. Pause mode leaves them alone;
 * init mode takes them too, to forward those a user sends (kill, sigqueue:
 * si_code <= 0). Blocking them costs nothing: the kernel unblocks a genuine
 * fault and kills us with it all the same. */
static int is_fault(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
           sig == SIGTRAP || sig == SIGSYS;
}

/* The terminal's stop signals: a shell's Ctrl-Z, a background read or write. */
static int is_tty_stop(int sig)
{
    return sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* Signals a program may not touch: KILL and STOP, and 32-34, which the C
 * libraries keep for their own threads (musl refuses all three). */
static int is_untouchable(int sig)
{
    return sig == SIGKILL || sig == SIGSTOP || (sig >= 32 && sig <= 34);
}

/* Decides each signal's fate, then blocks the ones the loop takes.
 * Pause mode takes CHLD, TERM and INT and ignores every other signal, so it
 * behaves the same whether or not it is PID 1; with no exit status wanted it
 * ignores CHLD too, and the kernel reaps for it. Init mode takes every signal
 * a user can send, the faults included, to forward it. A taken signal gets
 * its default disposition first: one ignored by whoever started pause would
 * otherwise be lost (an ignored CHLD even makes the kernel reap children
 * itself, and their exit statuses with them). */
static int setup_signals(struct state *st)
{
    int sig;
    sigemptyset(&st->waited);
    for (sig = 1; sig < _NSIG; sig++) {
        if (is_untouchable(sig) || (is_fault(sig) && !st->cfg->argv))
            continue;
        if (sig == SIGCHLD && st->kernel_reaps)
            set_disposition(sig, SIG_IGN);
        else if (st->cfg->argv || sig == SIGCHLD || sig == SIGTERM || sig == SIGINT) {
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

/* Not PID 1: orphans go to the nearest subreaper, so become one (with -s
 * the user asked for it, so without the warning). */
static void become_subreaper(struct state *st)
{
    st->is_init = getpid() == 1;
    if (st->is_init)
        return;
    if (!st->cfg->subreaper)
        say("warning", "not PID 1, so only orphans of my own descendants come to me; becoming a child subreaper");
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        say("warning", "cannot become a child subreaper: %s", error_text(errno));
}

/* -p: the kernel sends us this signal when our parent dies. */
static void set_parent_death_signal(int sig)
{
    if (sig > 0 && prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) < 0)
        say("warning", "cannot set the parent-death signal: %s", error_text(errno));
}

/* Moves to /, so pause never keeps its start directory's mount busy. */
static void leave_start_directory(void)
{
    if (chdir("/") < 0)
        say("warning", "cannot chdir to /: %s", error_text(errno));
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
    struct line l;
    const struct timespec now = { 0, 0 };
    if (st->events_fd < 0)
        return;
    l.n = 0;
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
        wait_signal(&pipe_only, NULL, &now);
    }
    say("warning", "events fd closed: %s", error_text(errno));
    close(st->events_fd);
    st->events_fd = -1;
}

/* Says what was reaped: the debug line, -w's warning, the event. */
static void report_reaped(struct state *st, pid_t pid, int status)
{
    say("debug", "reaped %d", pid);
    if (st->cfg->warn_reaped && pid != st->child)
        say("warning", "reaped zombie process %d", pid);
    emit_reaped(st, pid, status);
}

/* Reaps every child that has exited. One SIGCHLD may stand for many exits,
 * so loop until waitpid has nothing more: one system call per child, and
 * nothing else unless someone wants to hear of it. A stopped command is
 * noted for the loop. Returns 1 while children remain. */
static int reap_all(struct state *st)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG | WUNTRACED);
        if (pid == 0)
            return 1;
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        if (WIFSTOPPED(status)) {
            if (pid == st->child)
                st->child_stopped = WSTOPSIG(status);
            continue;
        }
        if (st->reporting)
            report_reaped(st, pid, status);
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

/* The kernel has been reaping for us; from now on, wake on each SIGCHLD. */
static void reap_ourselves(struct state *st)
{
    sigset_t chld;
    if (!st->kernel_reaps)
        return;
    st->kernel_reaps = 0;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigaddset(&st->waited, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    set_disposition(SIGCHLD, SIG_DFL);
}

/* --grace: TERM the others, then reap until none is left or time is up.
 * A second TERM or INT cuts the wait short. */
static void drain(struct state *st)
{
    long deadline = now_ms() + st->cfg->grace_ms;
    reap_ourselves(st);
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
        sig = wait_signal(&st->waited, NULL, &ts);
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
 * system call is not refused as the C library's wrapper is). It starts in
 * the directory pause was started in. With -g it gets its own process group,
 * and the terminal's foreground if pause's job holds it.
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
        int foreground = tcgetpgrp(0) == getpgrp(); /* a background job keeps out */
        setpgid(0, 0);
        if (foreground)
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

/* The signal to forward for sig (-r S:R), or 0 to drop it. */
static int rewritten(struct state *st, int sig)
{
    int to = sig < 65 ? st->cfg->rewrite[sig] : 0;
    return to < 0 ? 0 : to ? to : sig;
}

/* Stops pause (SIGSTOP cannot be blocked), so that a shell sees its job
 * stopped; a SIGCONT resumes it, and the loop then forwards that too. */
static void suspend_self(const char *why, int sig)
{
    say("debug", why, sig);
    kill(getpid(), SIGSTOP);
}

/* -g from a terminal: the command's group holds the terminal's foreground;
 * when the shell gives the foreground back to our job (fg), pass it on. */
static void hand_terminal(struct state *st)
{
    if (tcgetpgrp(0) == getpgrp())
        tcsetpgrp(0, st->child); /* TTOU is blocked: no stop for us */
}

/* Passes a signal on to the command, or to its process group with -g,
 * rewritten or dropped as -r says. Not PID 1, a terminal stop signal
 * (TSTP, TTIN, TTOU) then stops pause too, as dumb-init does, so a shell's
 * job control sees the whole job stopped; PID 1 never stops. */
static void forward(struct state *st, int sig)
{
    int to = rewritten(st, sig);
    if (!to) {
        say("debug", "dropping signal %d", sig);
        return;
    }
    if (to == sig)
        say("debug", "forwarding signal %d to %d", sig, st->child);
    else
        say("debug", "forwarding signal %d as %d to %d", sig, to, st->child);
    if (to == SIGCONT && st->cfg->group)
        hand_terminal(st);
    if (kill(st->cfg->group ? -st->child : st->child, to) < 0 && errno != ESRCH)
        say("warning", "cannot forward signal %d: %s", to, error_text(errno));
    if (is_tty_stop(sig) && !st->is_init)
        suspend_self("suspending myself after signal %d", sig);
}

/* The command stopped. With -g from a terminal, Ctrl-Z reaches only its
 * group (which holds the terminal), not pause: stop too, so the shell sees
 * the job stopped. Not when a SIGCONT is already waiting: that stop is one
 * we forwarded ourselves, and it is over. */
static void follow_stop(struct state *st)
{
    int sig = st->child_stopped;
    sigset_t pending;
    st->child_stopped = 0;
    if (st->is_init || !st->cfg->group || !is_tty_stop(sig) || tcgetpgrp(0) < 0)
        return;
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGCONT))
        return;
    suspend_self("the command stopped on signal %d, so do I", sig);
}

/* -g: the command is gone; TERM what is left of its process group, so the
 * helpers it started in the background do not outlive it (as dumb-init). */
static void end_group(struct state *st)
{
    if (!st->cfg->group)
        return;
    say("debug", "terminating the rest of process group %d", st->child);
    kill(-st->child, SIGTERM);
}

/* The command's status as an exit code: N, or 128+N for signal N; 0 for
 * a code -e remaps. */
static int exit_code(struct state *st, int status)
{
    int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    if (st->cfg->remap_exit[code & 255]) {
        say("debug", "exit code %d remapped to 0", code);
        return 0;
    }
    return code;
}

/* ---------------------------------------------------------------- the loops */

static int run_pause(struct state *st)
{
    for (;;) {
        int sig = wait_signal(&st->waited, NULL, NULL);
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
    leave_start_directory();
    for (;;) {
        siginfo_t info;
        int sig = wait_signal(&st->waited, &info, NULL);
        if (sig < 0)
            continue;
        if (sig == SIGCHLD) {
            reap_all(st);
            if (st->child_done) {
                end_group(st);
                return exit_code(st, st->child_status);
            }
            if (st->child_stopped)
                follow_stop(st);
        } else if (is_fault(sig) && info.si_code > 0) {
            say("warning", "not forwarding signal %d: a fault of my own", sig);
        } else
            forward(st, sig);
    }
}

/* The whole program, as a checklist. */
int pause_run(const struct pause_config *cfg)
{
    struct state st = { .cfg = cfg, .events_fd = -1 };

    /* 1. let go of every inherited fd, and in pause mode of the start
     *    directory (init mode leaves it after the fork: the command keeps it) */
    debug = debug_enabled();
    st.reporting = debug || cfg->warn_reaped || cfg->events_fd >= 0;
    st.kernel_reaps = !cfg->argv && !st.reporting;
    if (!cfg->argv)
        leave_start_directory();
    close_inherited_fds(cfg->ready_fd, cfg->events_fd);
    prctl(PR_SET_NAME, "pause", 0, 0, 0);
    /* 2. decide every signal's fate, then block the ones we wait for */
    if (setup_signals(&st) < 0)
        return 1;
    /* 3. not the namespace's init: make orphans come to us anyway; and
     *    hear of our parent's death if asked to */
    become_subreaper(&st);
    set_parent_death_signal(cfg->pdeathsig);
    /* 4. events fd ready, handlers in place: tell the launcher */
    st.events_fd = open_events(cfg->events_fd);
    signal_ready(cfg->ready_fd);
    /* 5. children that exited before SIGCHLD was blocked */
    reap_all(&st);
    /* 6. the loop: pause forever, or run the command */
    return cfg->argv ? run_init(&st) : run_pause(&st);
}
