"""cffi build script (out-of-line API mode) for launcher._nsc: the few
namespace, mount and prctl calls that Python 3.11's os module lacks.

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

#define CLONE_NEWNS ...
#define CLONE_NEWUTS ...
#define CLONE_NEWIPC ...
#define CLONE_NEWPID ...
#define CLONE_NEWNET ...
#define MS_REC ...
#define MS_PRIVATE ...
#define MS_NOSUID ...
#define MS_NODEV ...
#define MS_NOEXEC ...
#define MNT_DETACH ...
#define PR_SET_PDEATHSIG ...
#define PR_SET_CHILD_SUBREAPER ...
#define PR_SET_NO_NEW_PRIVS ...
"""

SOURCE = """
#define _GNU_SOURCE
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>

/* prctl() is variadic; cffi wants a fixed prototype for the calls we make. */
static int nsc_prctl(int option, unsigned long arg)
{
    return prctl(option, arg, 0UL, 0UL, 0UL);
}
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("launcher._nsc", SOURCE)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
