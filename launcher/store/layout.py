"""Every file name of the state root and of a pod directory, in one place.

    ROOT/
      .lock              flock held around name claims and record updates
      .names/NAME        symlink NAME -> POD_ID: the name claims
      .gc-stamp          mtime: the last housekeeping of `run`
      .cni/              CNI attachment records (launcher/net/store.py)
      .tmp-POD_ID/       a pod being made or removed (never trusted)
      POD_ID/            one pod:
        pod.json             the record (versioned JSON, launcher/store/record.py)
        supervisor.json      a detached supervisor's state while the monitor waits
        supervisor.log       a detached supervisor's unexpected errors
        sandbox.log          pause's output
        sandbox.exit         pause's end: "exit N" / "signal N"
        ctr-NAME.log[.K]     container output, rotated (.1 is the newest old file)
        ctr-NAME.exit        the container's last end
        net.ns ipc.ns uts.ns the sandbox's pinned namespaces (bind mounts)
        done                 the pod is torn down
"""
ROOT_LOCK = ".lock"
NAMES = ".names"
GC_STAMP = ".gc-stamp"
CNI = ".cni"
TMP_PREFIX = ".tmp-"

RECORD = "pod.json"
SUPERVISOR_STATE = "supervisor.json"
SUPERVISOR_LOG = "supervisor.log"
SANDBOX_LOG = "sandbox.log"
SANDBOX_EXIT = "sandbox.exit"
DONE = "done"
LOG_SUFFIX = ".log"


def container_log(name):
    """A container's current output log."""
    return f"ctr-{name}{LOG_SUFFIX}"


def rotated_log(name, k):
    """The k-th older log of a container (k >= 1; higher is older)."""
    return f"{container_log(name)}.{k}"


def container_exit(name):
    """Where a container's last end is recorded."""
    return f"ctr-{name}.exit"


def is_pod_id(name):
    """True for a pod directory's name (16 lower-case hex digits)."""
    return len(name) == 16 and all(c in "0123456789abcdef" for c in name)
