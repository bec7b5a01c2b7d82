/*
 * monitor.c - what stays running of a detached pod's supervision.
 *
 * The launcher's per-pod supervisor forks pause and the containers, chdirs
 * into the pod's state directory and execs this program, which inherits
 * them all as its children. It then sleeps in sigwaitinfo() (no timer, no
 * wake-up while nothing happens), and for every child that ends writes
 * "exit N" or "signal N" atomically (temp file + rename) into ctr-NAME.exit
 * or sandbox.exit. SIGTERM/SIGINT/SIGHUP stop the pod: TERM to the
 * containers, the grace period, KILL, then TERM to pause (KILL after another
 * grace period). When every container has exited, or pause has died (the
 * sandbox is gone; restart policies and sandbox recreation will hand over to
 * the Python supervisor here), the pod is stopped the same way, the file
 * `done` is written and the monitor exits 0.
 *
 * Usage: pod-monitor GRACE_MS PAUSE_PID PID:NAME...   (cwd = pod directory)
 * Every PID must be a child of the monitor (it signals nothing else).
 * Exit: 0 done, 2 usage. Static, no stdio: a few KB of RSS per pod.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h> /* rename() only: no stdio streams are used */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CTRS 256
#define NAME_MAX_LEN 64

struct ctr {
    pid_t pid;
    const char *name;
    int done;
};

static struct ctr ctrs[MAX_CTRS];
static int nctrs;
static pid_t pause_pid;
static int pause_done;
static long grace_ms;

/* One line on stderr: "pod-monitor: a b". Keeps errno. */
static void warn(const char *a, const char *b)
{
    int saved = errno;
    const char *parts[] = { "pod-monitor: ", a, b ? " " : "", b ? b : "", "\n" };
    for (unsigned i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (write(2, parts[i], strlen(parts[i])) < 0)
            break;
    errno = saved;
}

/* Appends the decimal digits of v to buf at *len. */
static void put_uint(char *buf, size_t *len, unsigned long v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        buf[(*len)++] = tmp[--n];
}

/* Appends string s to buf at *len. */
static void put_str(char *buf, size_t *len, const char *s)
{
    size_t n = strlen(s);
    memcpy(buf + *len, s, n);
    *len += n;
}

/* Writes "exit N\n" or "signal N\n" for wait status st to file, atomically. */
static void record(const char *file, int st)
{
    char text[32], tmp[NAME_MAX_LEN + 32];
    size_t n = 0, t = 0;
    if (WIFSIGNALED(st)) {
        put_str(text, &n, "signal ");
        put_uint(text, &n, (unsigned long)WTERMSIG(st));
    } else {
        put_str(text, &n, "exit ");
        put_uint(text, &n, (unsigned long)WEXITSTATUS(st));
    }
    text[n++] = '\n';
    put_str(tmp, &t, file);
    put_str(tmp, &t, ".tmp");
    tmp[t] = '\0';
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, n) != (ssize_t)n || close(fd) < 0 || rename(tmp, file) < 0)
        warn("cannot record", file);
}

/* Reaps every exited child without blocking and records its end. */
static void reap(void)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (pid == pause_pid && !pause_done) {
            record("sandbox.exit", st);
            pause_done = 1;
            continue;
        }
        for (int i = 0; i < nctrs; i++) {
            if (ctrs[i].pid == pid && !ctrs[i].done) {
                char file[NAME_MAX_LEN + 16];
                size_t n = 0;
                put_str(file, &n, "ctr-");
                put_str(file, &n, ctrs[i].name);
                put_str(file, &n, ".exit");
                file[n] = '\0';
                record(file, st);
                ctrs[i].done = 1;
            }
        }
    }
}

/* Number of containers not reaped yet. */
static int running(void)
{
    int n = 0;
    for (int i = 0; i < nctrs; i++)
        n += !ctrs[i].done;
    return n;
}

static int pause_running(void)
{
    return !pause_done;
}

/* Sends sig to every container not reaped yet (so its pid cannot be stale). */
static void signal_ctrs(int sig)
{
    for (int i = 0; i < nctrs; i++)
        if (!ctrs[i].done)
            kill(ctrs[i].pid, sig);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Reaps until pending() is 0 or timeout_ms passes (-1: no timeout). */
static void wait_for(int (*pending)(void), long timeout_ms, const sigset_t *set)
{
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        reap();
        if (!pending())
            return;
        if (timeout_ms < 0) {
            sigwaitinfo(set, NULL);
            continue;
        }
        long left = deadline - now_ms();
        if (left <= 0)
            return;
        struct timespec ts = { left / 1000, (left % 1000) * 1000000L };
        sigtimedwait(set, NULL, &ts);
    }
}

/* Stops whatever still runs: containers first, then pause. */
static void stop_pod(const sigset_t *set)
{
    if (running()) {
        signal_ctrs(SIGTERM);
        wait_for(running, grace_ms, set);
        if (running()) {
            signal_ctrs(SIGKILL);
            wait_for(running, -1, set);
        }
    }
    if (!pause_done) {
        kill(pause_pid, SIGTERM);
        wait_for(pause_running, grace_ms > 100 ? grace_ms : 100, set);
        if (!pause_done) {
            kill(pause_pid, SIGKILL);
            wait_for(pause_running, -1, set);
        }
    }
}

/* Parses a positive decimal pid; 0 if s is not one. */
static pid_t parse_pid(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > 0x3fffffff)
        return 0;
    return (pid_t)v;
}

/* 1 if pid is a child of ours (exited or not), without reaping it. */
static int is_child(pid_t pid)
{
    siginfo_t info;
    return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

/* Parses "PID:NAME" into ctrs[]; 0 on success. */
static int add_ctr(char *arg)
{
    char *colon = strchr(arg, ':');
    if (!colon || nctrs >= MAX_CTRS || strlen(colon + 1) >= NAME_MAX_LEN)
        return 1;
    *colon = '\0';
    pid_t pid = parse_pid(arg);
    *colon = ':';
    if (!pid || !is_child(pid) || colon[1] == '\0' || strchr(colon + 1, '/'))
        return 1;
    ctrs[nctrs].pid = pid;
    ctrs[nctrs].name = colon + 1;
    nctrs++;
    return 0;
}

int main(int argc, char **argv)
{
    sigset_t all, set;

    /* 1. Block every asynchronous signal; a SIGCHLD that arrived before the
     *    exec stays pending, so no exit is missed. */
    sigfillset(&all);
    int sync_sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS };
    for (unsigned i = 0; i < sizeof sync_sigs / sizeof sync_sigs[0]; i++)
        sigdelset(&all, sync_sigs[i]);
    sigprocmask(SIG_BLOCK, &all, NULL);
    set = all;

    /* 2. Arguments: grace period, pause pid, containers. */
    if (argc < 3) {
        warn("usage: pod-monitor GRACE_MS PAUSE_PID PID:NAME...", NULL);
        return 2;
    }
    char *end;
    errno = 0;
    grace_ms = strtol(argv[1], &end, 10);
    int bad_grace = errno || end == argv[1] || *end || grace_ms < 0 || grace_ms > 86400000L;
    pause_pid = parse_pid(argv[2]);
    if (bad_grace || !pause_pid) {
        warn("bad arguments: want GRACE_MS PAUSE_PID PID:NAME...", NULL);
        return 2;
    }
    if (!is_child(pause_pid)) {
        warn("pause is not a child of the monitor:", argv[2]);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (add_ctr(argv[i])) {
            warn("bad container (PID:NAME of a child):", argv[i]);
            return 2;
        }
    }

    /* 3. Wait: reap on SIGCHLD until all containers are done, pause dies,
     *    or a stop signal arrives. */
    reap();
    while (running() && !pause_done) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig == SIGCHLD)
            reap();
        else if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
            break;
    }

    /* 4. Stop what is left, mark the pod done. */
    stop_pod(&set);
    int fd = open("done.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || close(fd) < 0 || rename("done.tmp", "done") < 0)
        warn("cannot record", "done");
    return 0;
}
