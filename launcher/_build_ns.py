"""cffi build script (out-of-line API mode) for launcher._nsc: the few
namespace, mount, prctl, hostname and loopback calls that Python 3.11's os module lacks.

Only the compiled module is imported at run time; this file (and with it
cffi's builder and pycparser) runs once, at build time. launcher/ns.py is the
thin wrapper that turns -1/errno into an exception.
"""
from cffi import FFI

CDEF = """
int setns(int fd, int nstype);
int unshare(int flags);
int mount(const char *source, const char *target, const char *fstype,
          unsigned long flags, const void *data);
int umount2(const char *target, int flags);
int nsc_prctl(int option, unsigned long arg);
int sethostname(const char *name, size_t len);
int nsc_loopback_up(void);

#define CLONE_NEWNS ...
#define CLONE_NEWUTS ...
#define CLONE_NEWIPC ...
#define CLONE_NEWPID ...
#define CLONE_NEWNET ...
#define MS_REC ...
#define MS_BIND ...
#define MS_PRIVATE ...
#define MS_NOSUID ...
#define MS_NODEV ...
#define MS_NOEXEC ...
#define MNT_DETACH ...
#define PR_SET_PDEATHSIG ...
#define PR_SET_CHILD_SUBREAPER ...
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
#include <net/if.h>
#include <string.h>
#include <unistd.h>

/* prctl() is variadic; cffi wants a fixed prototype for the calls we make. */
static int nsc_prctl(int option, unsigned long arg)
{
    return prctl(option, arg, 0UL, 0UL, 0UL);
}

/* Sets IFF_UP on "lo" of the caller's network namespace: two ioctls on a
 * socket made inside it (no `ip` command, no netlink). -1/errno on failure. */
static int nsc_loopback_up(void)
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
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("launcher._nsc", SOURCE)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
