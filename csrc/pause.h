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
    int group;      /* init mode: forward signals to the child's process group */
    char **argv;    /* init mode: the command, NULL-terminated; NULL: pause mode */
};

/* Runs pause (argv == NULL) or init mode to the end and returns the exit code:
 * 0 after TERM/INT in pause mode, the child's status in init mode (128+N for
 * signal N, 127/126 when it cannot be run), 1 when set-up fails. */
int pause_run(const struct pause_config *cfg);

/* The version string the build was given. */
const char *pause_version(void);
/* cdef-end */

#endif
