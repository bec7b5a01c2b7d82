"""cffi build script (out-of-line API mode) for launcher.runtime._sys: the
namespace, mount, prctl, hostname, loopback and pivot_root calls that
Python 3.11's os module lacks.

Only the compiled module is imported at run time; this file (and with it
cffi's builder and pycparser) runs once, at build time.
launcher/runtime/syscalls.py is the thin wrapper that turns -1/errno into an
exception.
"""
from cffi import FFI

CDEF = """
int setns(int fd, int nstype);
int unshare(int flags);
int mount(const char *source, const char *target, const char *fstype,
          unsigned long flags, const void *data);
int umount2(const char *target, int flags);
int sys_prctl(int option, unsigned long arg);
int sethostname(const char *name, size_t len);
int sys_loopback_up(void);
int sys_pivot_root(const char *new_root, const char *put_old);
int sys_is_mount_root(const char *path);

#define CLONE_NEWNS ...
#define CLONE_NEWUTS ...
#define CLONE_NEWIPC ...
#define CLONE_NEWPID ...
#define CLONE_NEWNET ...
#define CLONE_NEWUSER ...
#define CLONE_NEWCGROUP ...
#define MS_RDONLY ...
#define MS_NOSUID ...
#define MS_NODEV ...
#define MS_NOEXEC ...
#define MS_REMOUNT ...
#define MS_BIND ...
#define MS_REC ...
#define MS_PRIVATE ...
#define MS_SLAVE ...
#define MNT_DETACH ...
#define PR_SET_PDEATHSIG ...
#define PR_SET_CHILD_SUBREAPER ...
#define PR_SET_NO_NEW_PRIVS ...

/* rootfs and users (launcher/runtime/rootfs.py, users.py) */
int sys_openat2(int dirfd, const char *path, unsigned long long flags,
                unsigned long long mode, unsigned long long resolve);
long sys_fstatfs_type(int fd);
int sys_cap_effective_from_permitted(void);

#define RESOLVE_NO_XDEV ...
#define RESOLVE_NO_MAGICLINKS ...
#define RESOLVE_NO_SYMLINKS ...
#define RESOLVE_BENEATH ...
#define RESOLVE_IN_ROOT ...
#define PR_SET_KEEPCAPS ...

/* spawn (launcher/runtime/spawn.py) */
long sys_fork_into_cgroup(int cgroup_fd);
"""

SOURCE = """
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

/* prctl() is variadic; cffi wants a fixed prototype for the calls we make. */
static int sys_prctl(int option, unsigned long arg)
{
    return prctl(option, arg, 0UL, 0UL, 0UL);
}

/* Sets IFF_UP on "lo" of the caller's network namespace: two ioctls on a
 * socket made inside it (no `ip` command, no netlink). -1/errno on failure. */
static int sys_loopback_up(void)
{
    struct ifreq ifr;
    int ret = -1, fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        ret = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    close(fd);
    return ret;
}

/* 1 if path (not followed if a symlink) is the root of a mount, 0 if not,
 * -1/errno on failure or where statx cannot tell (before Linux 5.8). */
static int sys_is_mount_root(const char *path)
{
    struct statx stx;
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, 0, &stx) != 0)
        return -1;
    if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) {
        errno = ENOSYS;
        return -1;
    }
    return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
}

/* glibc has no wrapper for pivot_root(2). */
static int sys_pivot_root(const char *new_root, const char *put_old)
{
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

/* rootfs and users (launcher/runtime/rootfs.py, users.py) */
#include <linux/openat2.h>
#include <linux/capability.h>
#include <sys/vfs.h>

/* glibc 2.36 has no wrapper for openat2(2) (Linux >= 5.6): the open_how
 * struct is filled here so cffi needs no struct declaration. */
static int sys_openat2(int dirfd, const char *path, unsigned long long flags,
                       unsigned long long mode, unsigned long long resolve)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* The filesystem magic (statfs f_type) of fd's filesystem, -1/errno on
 * failure: os.fstatvfs does not report it. */
static long sys_fstatfs_type(int fd)
{
    struct statfs st;
    if (fstatfs(fd, &st) == -1)
        return -1;
    return (long)st.f_type;
}

/* Copies the permitted capability set into the effective one (capget +
 * capset, no libcap): after setresuid() to a non-root user with
 * PR_SET_KEEPCAPS the effective set is empty, and the steps that follow
 * (dropping from the bounding set) need CAP_SETPCAP back. */
static int sys_cap_effective_from_permitted(void)
{
    struct __user_cap_header_struct hdr;
    struct __user_cap_data_struct data[2];
    memset(&hdr, 0, sizeof hdr);
    memset(data, 0, sizeof data);
    hdr.version = _LINUX_CAPABILITY_VERSION_3;
    if (syscall(SYS_capget, &hdr, data) == -1)
        return -1;
    data[0].effective = data[0].permitted;
    data[1].effective = data[1].permitted;
    return (int)syscall(SYS_capset, &hdr, data);
}

/* spawn (launcher/runtime/spawn.py) */
#include <signal.h>
#include <stdint.h>
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
/* In the stable ABI since 3.7, but cffi's Py_LIMITED_API hides them. */
PyAPI_FUNC(void) PyOS_BeforeFork(void);
PyAPI_FUNC(void) PyOS_AfterFork_Parent(void);
PyAPI_FUNC(void) PyOS_AfterFork_Child(void);

/* fork() whose child is born in the cgroup v2 directory cgroup_fd
 * (clone3 with CLONE_INTO_CGROUP, Linux >= 5.7): no later migration, and
 * so no wait for the RCU grace period a write to cgroup.procs takes (the
 * kernel's global cgroup_threadgroup_rwsem), 6-24 ms measured here. Done
 * as os.fork() does it: with the GIL held, PyOS_BeforeFork() before and
 * PyOS_AfterFork_Child()/_Parent() after (cffi releases the GIL around the
 * call, so it is taken back here). The caller must have no other thread:
 * the raw system call skips glibc's fork handlers. Returns the child's pid
 * (0 in the child), or -1/errno (ENOSYS before 5.3, E2BIG before 5.7). */
static long sys_fork_into_cgroup(int cgroup_fd)
{
    struct {   /* struct clone_args, CLONE_ARGS_SIZE_VER2 */
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size,
                 tls, set_tid, set_tid_size, cgroup;
    } args;
    long pid;
    int saved;
    PyGILState_STATE gil = PyGILState_Ensure();

    memset(&args, 0, sizeof args);
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
    PyOS_BeforeFork();
    pid = syscall(SYS_clone3, &args, sizeof args);
    saved = errno;
    if (pid == 0)
        PyOS_AfterFork_Child();
    else
        PyOS_AfterFork_Parent();
    PyGILState_Release(gil);
    errno = saved;
    return pid;
}
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("launcher.runtime._sys", SOURCE)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
