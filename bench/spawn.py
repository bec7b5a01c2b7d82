"""Starts an init as PID 1 of a fresh PID namespace (through util-linux
`unshare --pid --fork --kill-child`) and tells when it is ready: our pause
writes a line on --ready-fd; for peers, ready means the init has exec'd and
its signal mask, handlers or ignored set is no longer empty (/proc/PID/status
SigBlk, SigCgt, SigIgn; tini waits in sigtimedwait, where SigBlk reads 0).
The start-to-ready time includes unshare's own fork+exec, equally for all."""
import os
import signal
import subprocess
import time

from common import Skip, children, proc_status, wait_for


class Init:
    """A running init: .pid (in the host namespace), .ready_s, .stop()."""

    def __init__(self, argv, ready_fd):
        self.argv = argv
        r = w = None
        cmd = ["unshare", "--pid", "--fork", "--kill-child", "--"] + argv
        if ready_fd:
            r, w = os.pipe()
            cmd += ["--ready-fd", str(w)]
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, pass_fds=(w,) if w else (),
                                     stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if ready_fd:
                os.close(w)
                line = os.read(r, 64)  # the init writes "ready\n", then closes
                if not line.startswith(b"ready"):
                    raise Skip(f"{argv[0]} exited before writing ready")
                self.ready_s = time.perf_counter() - t0
                self.pid = wait_for(lambda: (children(self.proc.pid) or [None])[0], 5,
                                    "the init's pid")
            else:
                self.pid = wait_for(self._peer_ready, 5, f"{argv[0]} to set up signals")
                self.ready_s = time.perf_counter() - t0
        except BaseException:
            self.stop()
            raise
        finally:
            if r is not None:
                os.close(r)

    def _peer_ready(self):
        """The init's pid once it runs our binary with signals set up."""
        for pid in children(self.proc.pid):
            try:
                if os.readlink(f"/proc/{pid}/exe") != os.path.realpath(self.argv[0]):
                    return None
                st = proc_status(pid)
            except OSError:
                return None
            if any(int(st[k], 16) for k in ("SigBlk", "SigCgt", "SigIgn")):
                return pid
        return None

    def stop(self):
        """SIGKILLs the init (from outside its namespace this always works;
        the kernel then kills the rest of the namespace) and waits."""
        with_pid = getattr(self, "pid", None)
        try:
            if with_pid:
                os.kill(with_pid, signal.SIGKILL)
            else:
                self.proc.kill()
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
