"""An exclusive flock(2) on a lock file, as a context manager: held around
every read-modify-write of the launcher's state files (pod records, CNI
records). The file is opened without following a symlink, relative to
dir_fd when given. Closing the fd releases it, so a killed holder never
wedges it."""
import fcntl
import os


class FileLock:
    def __init__(self, path, dir_fd=None):
        self.path = path
        self.dir_fd = dir_fd
        self.fd = -1

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                          dir_fd=self.dir_fd)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
        self.fd = -1
