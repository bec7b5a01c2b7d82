"""Every file name of the state root and of a pod directory, in one place.

    ROOT/
      .lock              flock held around name claims and record updates
      .names/NAME        symlink NAME -> POD_ID: the name claims
      .gc-stamp          mtime: the last housekeeping of `run`
      .cni/              CNI attachment records (launcher/net/store.py)
      .mounts/           a mount point (bound on itself, private) holding every
                         mount the launcher makes on the host, so a container
                         detaches them all in one call:
        POD_ID.net       a networked sandbox's pinned netns (.ipc and .uts
                         only from launchers before 2026-12: unpinned too)
        POD_ID.rootfs/   a pod's shm tmpfs and its hosts, hostname, resolv.conf
      .tmp-POD_ID/       a pod being made or removed (never trusted)
      POD_ID/            one pod:
        pod.json             the record (versioned JSON, launcher/store/record.py)
        supervisor.json      a detached supervisor's state while the monitor waits
        supervisor.log       a detached supervisor's unexpected errors
        sandbox.log          pause's output
        sandbox.exit         pause's end: "exit N" / "signal N"
        ctr-NAME.log[.K]     container output, rotated (.1 is the newest old file)
        ctr-NAME.exit        the container's last end
        done                 the pod is torn down
"""
ROOT_LOCK = ".lock"
NAMES = ".names"
GC_STAMP = ".gc-stamp"
CNI = ".cni"
TMP_PREFIX = ".tmp-"
MOUNTS = ".mounts"

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


def pin(pod_id, kind):
    """The pin of namespace `kind` of a pod's sandbox, in MOUNTS."""
    return f"{pod_id}.{kind}"


def pod_run_dir(pod_id):
    """A pod's shm and etc files (launcher/supervisor/podfs.py), in MOUNTS."""
    return f"{pod_id}.rootfs"


def mounts_owner(entry):
    """The pod id an entry of MOUNTS belongs to, or None."""
    pod_id = entry.split(".", 1)[0]
    return pod_id if is_pod_id(pod_id) else None


def is_pod_id(name):
    """True for a pod directory's name (16 lower-case hex digits)."""
    return len(name) == 16 and all(c in "0123456789abcdef" for c in name)
