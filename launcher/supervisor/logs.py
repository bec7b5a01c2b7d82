"""Container logs, bounded as the kubelet bounds them (containerLogMaxSize,
containerLogMaxFiles): `ctr-NAME.log` grows to max_size bytes, then it
becomes `.log.1` (older ones move up to `.log.K`, the oldest beyond
max_files - 1 is deleted) and a new `.log` starts. max_files = 1 truncates
instead. csrc/monitor.c rotates the same files the same way for detached
pods; this is the writer of foreground pods and of the Python supervisor.

Reading (`launcher logs`) streams the files oldest first in chunks, so a
300 MB log never sits in memory; tail() reads backwards from the end.
"""
import os
import time

from launcher.store import fs, layout

CHUNK = 1 << 16


class RotatingLog:
    """The writer of one container's log in a pod directory."""

    def __init__(self, pod, name, max_size, max_files):
        self.pod, self.name = pod, name
        self.max_size, self.max_files = max_size, max_files
        self.fd = pod.open_append(layout.container_log(name))
        self.size = os.fstat(self.fd).st_size

    def write(self, data):
        """Appends data, rotating whenever the current file is full. On a
        full disk the output is lost and the pod goes on (as the monitor
        does)."""
        view = memoryview(data)
        try:
            while view:
                room = self.max_size - self.size
                if room <= 0:
                    self.rotate()
                    room = self.max_size
                chunk = view[:room]
                fs.write_all(self.fd, chunk)
                self.size += len(chunk)
                view = view[len(chunk):]
        except OSError:
            self.size = os.fstat(self.fd).st_size

    def rotate(self):
        if self.max_files <= 1:
            os.ftruncate(self.fd, 0)
            self.size = 0
            return
        d = self.pod.fd
        oldest = layout.rotated_log(self.name, self.max_files - 1)
        try:
            os.unlink(oldest, dir_fd=d)
        except FileNotFoundError:
            pass
        for k in range(self.max_files - 2, 0, -1):
            try:
                os.rename(layout.rotated_log(self.name, k), layout.rotated_log(self.name, k + 1),
                          src_dir_fd=d, dst_dir_fd=d)
            except FileNotFoundError:
                pass
        os.rename(layout.container_log(self.name), layout.rotated_log(self.name, 1),
                  src_dir_fd=d, dst_dir_fd=d)
        os.close(self.fd)
        self.fd = self.pod.open_append(layout.container_log(self.name))
        self.size = 0

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def files(pod, name, max_files):
    """The names of a container's log files that exist, oldest first."""
    out = [layout.rotated_log(name, k) for k in range(max_files - 1, 0, -1)]
    out.append(layout.container_log(name))
    return [n for n in out if pod.exists(n)]


def _open(pod, n):
    try:
        return os.open(n, fs.O_READ, dir_fd=pod.fd)
    except FileNotFoundError:
        return None


def stream(pod, name, write, max_files):
    """Writes every logged byte of a container, oldest first, chunk by
    chunk; returns (current file's inode, offset reached) for follow()."""
    last = (None, 0)
    for n in files(pod, name, max_files):
        fd = _open(pod, n)
        if fd is None:
            continue
        try:
            pos = 0
            while True:
                b = os.read(fd, CHUNK)
                if not b:
                    break
                write(b)
                pos += len(b)
            last = (os.fstat(fd).st_ino, pos)
        finally:
            os.close(fd)
    return last


def tail(pod, name, lines, write, max_files):
    """Writes the last `lines` lines of a container's log (across rotated
    files), reading backwards from the end; returns what stream() returns."""
    chunks, newlines, last = [], 0, None
    for n in reversed(files(pod, name, max_files)):
        fd = _open(pod, n)
        if fd is None:
            continue
        try:
            st = os.fstat(fd)
            if last is None:
                last = (st.st_ino, st.st_size)
            pos = st.st_size
            while pos > 0 and newlines <= lines:
                step = min(CHUNK, pos)
                pos -= step
                b = os.pread(fd, step, pos)
                chunks.append(b)
                newlines += b.count(b"\n")
        finally:
            os.close(fd)
        if newlines > lines:
            break
    if lines > 0:
        data = b"".join(reversed(chunks))
        write(b"".join(data.splitlines(keepends=True)[-lines:]))
    return last or (None, 0)


def follow(pod, name, start, write, still_running, interval=0.2):
    """After stream()/tail(): writes what is appended to the current log
    (following a rotation) until still_running() is false and nothing is
    left, like `tail -F`."""
    ino, pos = start
    fd = None
    try:
        while True:
            if fd is None:
                fd = _open(pod, layout.container_log(name))
                if fd is not None and os.fstat(fd).st_ino != ino:
                    pos = 0            # a new file since: read it whole
                    ino = os.fstat(fd).st_ino
            got = False
            if fd is not None:
                while True:
                    b = os.pread(fd, CHUNK, pos)
                    if not b:
                        break
                    write(b)
                    pos += len(b)
                    got = True
                try:
                    rotated = os.stat(layout.container_log(name), dir_fd=pod.fd).st_ino != ino
                except FileNotFoundError:
                    rotated = False
                if rotated:
                    os.close(fd)
                    fd = None
                    continue
            if not got:
                if not still_running():
                    return
                time.sleep(interval)
    finally:
        if fd is not None:
            os.close(fd)
