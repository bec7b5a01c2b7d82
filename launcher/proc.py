"""Processes named for good: a pid plus its start time.

The start time is field 22 of /proc/PID/stat (clock ticks since boot). A
reused pid has a later start time, so (pid, start) recorded in a state file
never names another process. Every reader of /proc/PID/stat in the launcher
goes through stat() here.
"""
import os


def stat(pid):
    """(state letter, start time) of pid, or None if there is no such process.
    Read with os.open/os.read, not open(): half the cost, and `ps` reads
    two of these per running pod (the supervisor's and the container's)."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = chunk = os.read(fd, 4096)
        while len(chunk) == 4096:   # one read unless the line outgrows it
            chunk = os.read(fd, 4096)
            data += chunk
    except OSError:   # ESRCH: it went away between open and read
        return None
    finally:
        os.close(fd)
    if b")" not in data:
        return None
    # comm may contain spaces and parentheses: fields restart after the last ')'.
    fields = data[data.rindex(b")") + 2:].split()
    return fields[0].decode(), int(fields[19])


def stopped(pid):
    """True if pid is in a job-control stop (state T); None if it is gone."""
    st = stat(pid)
    return st and st[0] == "T"


def same_executable(pid, st):
    """True if pid runs the program whose os.stat() result is st."""
    try:
        exe = os.stat(f"/proc/{pid}/exe")
    except OSError:
        return False
    return (exe.st_dev, exe.st_ino) == (st.st_dev, st.st_ino)


def starttime(pid):
    """The start time of pid, zombie or not; None if there is no such process."""
    st = stat(pid)
    return st and st[1]


def live_start(pid):
    """The start time of pid if it runs (not a zombie); None otherwise."""
    st = stat(pid)
    return st[1] if st and st[0] not in "ZX" else None


def alive(pid, start):
    """True if the process recorded as (pid, start) still runs (not a zombie)."""
    return bool(pid) and start is not None and live_start(pid) == start


def exit_code(status):
    """podman's exit code for a wait status: N, or 128+N for signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def exit_text(status):
    """'exit N' or 'signal N' for a wait status (the exit files' format)."""
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.WEXITSTATUS(status)}"
