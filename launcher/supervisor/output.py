"""Container output: every container's stdout and stderr is a pipe the
supervisor reads; what it reads goes into the container's rotating log
and, for a foreground pod, to our own stdout/stderr with each line
prefixed `NAME | `.

The supervisor must never block on output (a `launcher run ... | sleep 25`
must still stop at once). Our stdout is reopened as a private, non-blocking
open file description (through /proc/self/fd, for a pipe or a terminal; a
regular file never blocks), so the shell's own description keeps its flags;
what the reader does not take is buffered up to SINK_CAP bytes per output,
and beyond that dropped, with one line saying how much. The logs keep
everything (within their rotation limits).
"""
import errno
import os
import select
import stat

SINK_CAP = 1 << 20        # bytes buffered for a slow reader of our stdout/stderr
LINE_CAP = 1 << 16        # a "line" longer than this is passed on in pieces
READ_SIZE = 1 << 16


def _private_nonblocking(fd):
    """(fd to write to, whether it is non-blocking)."""
    try:
        st = os.fstat(fd)
    except OSError:
        return fd, False
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
        try:
            new = os.open(f"/proc/self/fd/{fd}",
                          os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
            return new, True
        except OSError:
            pass
    return fd, stat.S_ISREG(st.st_mode)


class Sink:
    """One of our outputs, written only as far as it takes without blocking."""

    def __init__(self, fd):
        self.orig = fd
        self.fd, self.nonblocking = _private_nonblocking(fd)
        self.buf = bytearray()
        self.dropped = 0
        self.dead = False

    def push(self, data):
        if self.dead:
            return
        if len(self.buf) + len(data) > SINK_CAP or (self.dropped and len(self.buf) > SINK_CAP // 2):
            self.dropped += len(data)   # until the reader has taken half: one notice a stall
            return
        self.note_dropped()
        self.buf += data

    def note_dropped(self):
        """One line saying how much was dropped since the last one."""
        if self.dropped:
            self.buf += (f"launcher: {self.dropped} bytes of output dropped "
                         "(not read fast enough; `launcher logs` has them)\n").encode()
            self.dropped = 0

    def pending(self):
        return bool(self.buf) and not self.dead

    def flush(self):
        """Writes what the reader takes now; never blocks."""
        while self.buf and not self.dead:
            chunk = self.buf if self.nonblocking else self.buf[:512]
            try:
                n = os.write(self.fd, chunk)
            except BlockingIOError:
                return
            except OSError as e:   # the reader went away (`| head`): only the logs go on
                if e.errno != errno.EINTR:
                    self.dead = True
                    self.buf.clear()
                return
            del self.buf[:n]
            if not self.nonblocking:
                return         # one small write per poll round

    def close(self):
        if self.fd != self.orig:
            os.close(self.fd)
        self.fd = self.orig


class Stream:
    """One container pipe: whose it is, where its bytes go."""
    __slots__ = ("fd", "name", "sink", "log", "partial")

    def __init__(self, fd, name, sink, log):
        self.fd, self.name, self.sink, self.log = fd, name, sink, log
        self.partial = b""


class OutputPump:
    """The container pipes of one pod and the sinks they feed."""

    def __init__(self, out_fd=None, err_fd=None):
        self.sinks = [Sink(fd) for fd in (out_fd, err_fd)] if out_fd is not None else []
        self.streams = {}

    def sink(self, which):
        """Our stdout (0) or stderr (1) sink; None for a detached pod."""
        return self.sinks[which] if self.sinks else None

    def add(self, fd, name, which, log):
        os.set_blocking(fd, False)
        self.streams[fd] = Stream(fd, name, self.sink(which), log)

    def fds(self):
        """{fd: poll mask} to wait on."""
        out = {fd: select.POLLIN for fd in self.streams}
        for s in self.sinks:
            if s.pending():
                out[s.fd] = out.get(s.fd, 0) | select.POLLOUT
        return out

    def handle(self, fd, mask):
        """Acts on one poll event; True if fd was ours."""
        if fd in self.streams:
            self._read(self.streams[fd])
            return True
        for s in self.sinks:
            if s.fd == fd:
                s.flush()
                return True
        return False

    def _read(self, st):
        try:
            data = os.read(st.fd, READ_SIZE)
        except BlockingIOError:
            return False
        if st.log is not None and data:
            st.log.write(data)
        if st.sink is not None:
            self._prefix(st, data)
        if not data:
            self._close(st)
        return bool(data)

    def _prefix(self, st, data):
        lines = (st.partial + data).split(b"\n")
        st.partial = lines.pop() if data else b""
        if not data and lines and lines[-1] == b"":
            lines.pop()
        if not data and st.partial:
            lines.append(st.partial)
        if len(st.partial) > LINE_CAP:
            lines.append(st.partial)
            st.partial = b""
        if lines:
            prefix = st.name.encode() + b" | "
            st.sink.push(b"".join(prefix + ln + b"\n" for ln in lines))
            st.sink.flush()

    def _close(self, st):
        del self.streams[st.fd]
        os.close(st.fd)

    def drain_now(self, rounds=16):
        """Reads what the pipes hold right now (non-blocking, at most
        `rounds` reads a pipe, so a writer that never stops cannot keep us)."""
        for st in list(self.streams.values()):
            for _ in range(rounds):
                if st.fd not in self.streams or not self._read(st):
                    break

    def flush_sinks(self, timeout):
        """Gives the readers of our outputs up to `timeout` s to take what is
        buffered (the end of a foreground pod), then drops the rest."""
        import time
        end = time.monotonic() + timeout
        for s in self.sinks:
            s.note_dropped()
            s.flush()
        while any(s.pending() for s in self.sinks):
            left = end - time.monotonic()
            if left <= 0:
                break
            p = select.poll()
            for s in self.sinks:
                if s.pending():
                    p.register(s.fd, select.POLLOUT)
            for fd, _ in p.poll(int(left * 1000) + 1):
                for s in self.sinks:
                    if s.fd == fd:
                        s.flush()

    def close(self):
        for st in list(self.streams.values()):
            self._close(st)
        for s in self.sinks:
            s.close()
