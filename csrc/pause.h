/*
 * pause.h - the public interface of the pause core.
 *
 * The lines between the cdef markers are read by pause/_build_core.py and
 * handed to cffi's cdef(), so the declarations exist exactly once. Keep them
 * plain C that pycparser understands: no macros, no includes.
 */
#ifndef PAUSE_H
#define PAUSE_H

/* cdef-begin */
struct pause_config {
    int ready_fd;   /* write one line here once handlers are set, then close; -1: none */
    int events_fd;  /* one JSON line per reaped child, never blocking; -1: none */
    int grace_ms;   /* pause mode: on TERM/INT, TERM everyone and wait this long; -1: exit at once */
    int group;      /* init mode: forward signals to the child's process group, TERM it at the end */
    char **argv;    /* init mode: the command, NULL-terminated; NULL: pause mode */
    int rewrite[65];               /* init mode: forward signal S as rewrite[S]; 0: as it is, -1: drop it */
    unsigned char remap_exit[256]; /* init mode: exit 0 when the command's exit code N has remap_exit[N] set */
    int pdeathsig;  /* the signal pause gets when its parent dies; 0: none */
    int subreaper;  /* become a child subreaper when not PID 1, without the warning */
    int warn_reaped; /* log each reaped process that is not the command */
};

/* Runs pause (argv == NULL) or init mode to the end and returns the exit code:
 * 0 after TERM/INT in pause mode, the child's status in init mode (128+N for
 * signal N, 127/126 when it cannot be run, 0 for a remapped code), 1 when
 * set-up fails. */
int pause_run(const struct pause_config *cfg);

/* The version string the build was given. */
const char *pause_version(void);
/* cdef-end */

#endif
