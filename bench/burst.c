/* burst: make N zombies at once and time how long until they are reaped.
 *
 * usage: burst orphan|self N CGROUP_DIR [INIT_PID]
 *
 * The process joins CGROUP_DIR (a pids cgroup), and for `orphan` joins the
 * PID namespace of INIT_PID.  It forks a parent P, which vforks N children
 * that _exit(0) at once (vfork returns only after the child has exited, so
 * when the loop ends all N are zombies).  Then the clock starts:
 *   orphan: P exits; its N zombies are reparented to the namespace init,
 *           whose reaping is what we time;
 *   self:   P reaps its own N children with a waitpid loop, then exits
 *           (the baseline).
 * The clock stops when the cgroup's pids.current is back to 1 (this process
 * alone): pids.current drops only when a zombie is reaped.  Prints one line:
 * "<nanoseconds>".  Exit 1 on any set-up failure, with a line on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "burst: %s: %s\n", what, strerror(errno));
    exit(1);
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Reads pids.current through an fd kept open (pread, no reopen). */
static long pids_current(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        die("read pids.current");
    buf[n] = 0;
    return strtol(buf, NULL, 10);
}

/* Puts this process in the cgroup, and for orphan mode in the init's PID
 * namespace (it takes effect for children forked afterwards). */
static void join(const char *cg, const char *init_pid)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cgroup.procs", cg);
    FILE *f = fopen(path, "w");
    if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f) != 0)
        die("join cgroup");
    if (init_pid) {
        snprintf(path, sizeof path, "/proc/%s/ns/pid", init_pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWPID) < 0)
            die("join PID namespace");
        close(fd);
    }
}

/* The parent P: makes n zombies, waits for "go" on gofd, then exits
 * (orphan) or reaps them first (self). */
static void parent(long n, int self, int gofd, int readyfd)
{
    for (long i = 0; i < n; i++) {
        pid_t pid = vfork();
        if (pid == 0)
            _exit(0);
        if (pid < 0)
            die("vfork");
    }
    char c = 'r';
    if (write(readyfd, &c, 1) != 1 || read(gofd, &c, 1) != 1)
        die("sync");
    if (self)
        while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
            ;
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "orphan") && strcmp(argv[1], "self"))
        || (!strcmp(argv[1], "orphan") && argc != 5)) {
        fprintf(stderr, "usage: burst orphan|self N CGROUP_DIR [INIT_PID]\n");
        return 2;
    }
    int self = !strcmp(argv[1], "self");
    long n = atol(argv[2]);
    join(argv[3], self ? NULL : argv[4]);

    char path[4096];
    snprintf(path, sizeof path, "%s/pids.current", argv[3]);
    int cur = open(path, O_RDONLY | O_CLOEXEC);
    if (cur < 0)
        die("open pids.current");

    int go[2], ready[2];
    if (pipe(go) < 0 || pipe(ready) < 0)
        die("pipe");
    pid_t p = fork();
    if (p < 0)
        die("fork");
    if (p == 0) {
        close(go[1]);
        close(ready[0]);
        parent(n, self, go[0], ready[1]);
    }
    close(go[0]);
    close(ready[1]);
    char c;
    if (read(ready[0], &c, 1) != 1) {
        fprintf(stderr, "burst: parent failed before making %ld zombies\n", n);
        return 1;
    }
    long long t0 = now_ns();
    if (write(go[1], "g", 1) != 1)
        die("write go");
    if (waitpid(p, NULL, 0) < 0)
        die("waitpid parent");
    struct timespec nap = {0, 20000}; /* 20 us between polls */
    long long deadline = t0 + 60LL * 1000000000LL;
    while (pids_current(cur) > 1) {
        if (now_ns() > deadline) {
            fprintf(stderr, "burst: zombies not reaped within 60 s\n");
            return 1;
        }
        nanosleep(&nap, NULL);
    }
    printf("%lld\n", now_ns() - t0);
    return 0;
}
