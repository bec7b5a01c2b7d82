"""Teardown by cgroup: kill everything in a pod (or one container), remove
its cgroups, and garbage-collect the pods that are not live.

kill_all order, whatever the processes do (setsid, double fork, fork loops):

1. the pod has a unified cgroup: if its cgroup.events says `populated 0`,
   nothing is left anywhere (placement joins the unified cgroup first, so a
   process in any of the pod's v1 cgroups is in it too) and we are done;
   else write 1 to cgroup.kill (kernel >= 5.14: the kernel SIGKILLs the
   whole subtree, forks in flight included) and poll cgroup.events until
   `populated 0`;
2. no unified cgroup (a v1-only machine), no cgroup.kill (before 5.14),
   how='freeze', or processes left when step 1 timed out: rounds of freeze
   (v1 freezer.state FROZEN, else v2 cgroup.freeze 1), a bounded poll until
   frozen (a task in uninterruptible sleep may hold it in FREEZING; we go
   on), SIGKILL to every pid in cgroup.procs of every cgroup of the subtree
   in every hierarchy, thaw, until no hierarchy lists a process. Frozen
   tasks cannot fork or exit, so no pid read while frozen can be reused
   before the SIGKILL lands; without any freezer, the rounds still converge
   (each kills what the last one missed) but a pid may in theory be reused
   between reading and killing it.

Every wait is bounded (timeout); processes left then are one LauncherError.
Zombies do not count: a dead, unreaped process has left its cgroups (its
parent, the supervisor, reaps it as usual), and rmdir succeeds.

remove() rmdirs deepest first in every hierarchy, tolerating cgroups already
gone and retrying EBUSY (a process still exiting) until its timeout, then
raises one LauncherError naming every cgroup it could not remove and why.
"""
import os

from launcher.cgroups import files, layout, names
from launcher.errors import LauncherError

SIGKILL = 9     # Linux; the signal module is not imported on the run path


def _now():
    import time      # here, not at import time: the run path imports os and our modules only
    return time.monotonic()


def _sleep(seconds):
    import time
    time.sleep(seconds)


def kill_all(host, pod_id, parent=names.DEFAULT_PARENT, timeout=5.0, how=None):
    """SIGKILLs every process in the pod's cgroups and waits until none is
    left: every one has passed the kernel's cgroup_exit, after dropping its
    memory, files and namespaces; it turns into a zombie a moment later.
    how=None uses the best the kernel offers; how='freeze' skips
    cgroup.kill (as on a kernel before 5.14)."""
    _kill(host, names.pod(parent, pod_id), timeout, how)


def kill_container(host, pod_id, name, parent=names.DEFAULT_PARENT, timeout=5.0):
    """The same for one container's cgroup: what its main process left
    behind (in a shared PID namespace its orphans outlive it), before it
    restarts in the same cgroup or its exit is recorded."""
    _kill(host, os.path.join(names.pod(parent, pod_id), names.member(name)), timeout, None)


def members(host, rel):
    """Every pid listed in cgroup.procs at or below rel, in any hierarchy."""
    out = set()
    for h in host.all():
        for d in files.walk_up(os.path.join(h.mount, rel)):
            out.update(files.pids(os.path.join(d, "cgroup.procs")))
    return out


def _kill(host, rel, timeout, how):
    deadline = _now() + timeout
    u = host.unified
    top = os.path.join(u.mount, rel) if u is not None else None
    if how is None and top is not None and os.path.isdir(top):
        # Placement joins the unified cgroup first, so every process of the
        # pod is in it: `populated 0` there means none is left anywhere.
        if not _populated(top):
            return
        kill = os.path.join(top, "cgroup.kill")
        try:
            files.write(kill, "1")
        except FileNotFoundError:
            pass                                     # no cgroup.kill (kernel < 5.14): freeze below
        except OSError as e:
            raise files.failure("write 1 to", kill, e) from None
        else:
            if _until(lambda: not _populated(top), deadline):
                return
    if not members(host, rel):
        return
    _freeze_and_kill(host, rel, deadline)
    left = members(host, rel)
    if left:
        raise LauncherError(f"cgroups: processes {sorted(left)} in {rel} survived SIGKILL "
                            f"for {timeout:g} s")


def _freeze_and_kill(host, rel, deadline):
    """Rounds of: freeze, SIGKILL every member, thaw, wait a little; until
    no member is left or the deadline passes."""
    freeze = _freezer(host, rel)
    try:
        while True:
            if freeze:
                files.write(freeze.state, freeze.frozen)
                _until(freeze.done, min(deadline, _now() + 1.0))
            pids = members(host, rel)
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, SIGKILL)
                except ProcessLookupError:
                    pass
            if freeze:
                files.write(freeze.state, freeze.thawed)    # the killed tasks die now
            if _until(lambda: not members(host, rel), min(deadline, _now() + 0.5)):
                return
            if _now() >= deadline:
                return
    except FileNotFoundError:
        return                                       # the cgroup went away under us
    except OSError as e:
        raise LauncherError(f"cgroups: cannot kill the processes of {rel}: {e.strerror}") from None
    finally:
        if freeze:
            try:
                files.write(freeze.state, freeze.thawed)
            except OSError:
                pass


class _Freezer:
    """A pod's freezer: the state file, the values that freeze and thaw,
    and done() telling that the freeze took hold."""
    def __init__(self, state, frozen, thawed, done):
        self.state, self.frozen, self.thawed, self.done = state, frozen, thawed, done


def _freezer(host, rel):
    """The pod's freezer: v1 freezer.state if the pod has a v1 freezer
    cgroup, else v2 cgroup.freeze; None if neither."""
    f = host.controller("freezer")
    if f is not None and f.version == 1:
        path = os.path.join(f.mount, rel, "freezer.state")
        if os.path.exists(path):
            return _Freezer(path, "FROZEN", "THAWED",
                            lambda: (files.read_or_none(path) or "FROZEN").strip() == "FROZEN")
    u = host.unified
    if u is not None:
        path = os.path.join(u.mount, rel, "cgroup.freeze")
        if os.path.exists(path):
            events = os.path.join(u.mount, rel, "cgroup.events")
            return _Freezer(path, "1", "0", lambda: files.read_keyed(events).get("frozen", 1) == 1)
    return None


def _populated(top):
    return files.read_keyed(os.path.join(top, "cgroup.events")).get("populated", 0) == 1


def _until(pred, deadline):
    """Polls pred() (every 0.5 ms, doubling up to 20 ms) until true or the deadline;
    returns whether it became true."""
    pause = 0.0005
    while True:
        if pred():
            return True
        now = _now()
        if now >= deadline:
            return False
        _sleep(min(pause, deadline - now))
        pause = min(pause * 2, 0.02)


def remove(host, pod_id, parent=names.DEFAULT_PARENT, timeout=1.0):
    """Removes the pod's cgroups in every hierarchy, deepest first. Kill
    first (kill_all): a cgroup with a live process cannot go."""
    _remove(host, names.pod(parent, pod_id), timeout)


def remove_container(host, pod_id, name, parent=names.DEFAULT_PARENT, timeout=1.0):
    """Removes one container's cgroups (a container deleted from a live pod)."""
    _remove(host, os.path.join(names.pod(parent, pod_id), names.member(name)), timeout)


def _remove(host, rel, timeout):
    deadline = _now() + timeout
    failed = []
    children = None         # the pod's child cgroups, as the first hierarchy listed them
    for h in host.all():
        top = f"{h.mount}/{rel}"
        if children is not None and _remove_known(top, children, deadline, failed):
            continue
        found = files.subdirs(top, missing=None)
        if found is None:
            continue                                 # the pod has no cgroup in this hierarchy
        children = children or found
        _remove_tree(top, found, deadline, failed)
    if failed:
        raise LauncherError("cgroups: cannot remove " + "; ".join(dict.fromkeys(failed)))


def _remove_known(top, children, deadline, failed):
    """The fast path, with the children another hierarchy listed: rmdir
    each (a child with cgroups of its own, EBUSY, is removed tree-wise),
    then top. False if top still has children we did not know of (the
    caller then lists them), True when done or top does not exist."""
    for name in children:
        path = f"{top}/{name}"
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError:
            _remove_tree(path, files.subdirs(path), deadline, failed)
    try:
        os.rmdir(top)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _remove_tree(path, children, deadline, failed):
    """rmdir of path's child cgroups (listed), deepest first, then of path."""
    for name in children:
        sub = f"{path}/{name}"
        _remove_tree(sub, files.subdirs(sub), deadline, failed)
    why = _rmdir(path, deadline)
    if why:
        failed.append(f"{path} ({why})")


def _rmdir(path, deadline):
    """rmdir, retrying EBUSY until the deadline; None when the cgroup is
    gone, else why not."""
    pause = 0.0005
    while True:
        try:
            os.rmdir(path)
            return None
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno != 16 or _now() >= deadline:    # EBUSY
                return e.strerror
        _sleep(pause)
        pause = min(pause * 2, 0.02)


def gc(host, live_pod_ids, parent=names.DEFAULT_PARENT, timeout=5.0):
    """Kills and removes the cgroups of every pod under parent whose id is
    not in live_pod_ids (kubelet housekeeping). live_pod_ids may be a
    function: it is called after the cgroups are listed, so that a pod
    that claimed its id and then made its cgroup while housekeeping ran
    is never taken for a leftover. Returns the ids it removed; raises one
    LauncherError at the end for those it could not."""
    listed = list(layout.pod_ids(host, parent))
    live = set(live_pod_ids() if callable(live_pod_ids) else live_pod_ids)
    removed, errors = [], []
    for pod_id in listed:
        if pod_id in live:
            continue
        try:
            names.check("pod id", pod_id)
            kill_all(host, pod_id, parent, timeout)
            remove(host, pod_id, parent)
            removed.append(pod_id)
        except LauncherError as e:
            errors.append(str(e))
    if errors:
        raise LauncherError("; ".join(errors))
    return removed
