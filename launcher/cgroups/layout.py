"""Making a pod's cgroups, and finding them again.

create() makes, in every hierarchy the host uses (Host.used()), the parent
(on demand), the pod cgroup with the pod's limits, the sandbox's cgroup and
one per container with its limits; in the unified hierarchy it first enables
the v2-driven controllers for the children (root, parent, pod:
cgroup.subtree_control), since v2 puts processes only in leaves. A failure
half-way removes what was made and raises one LauncherError.

leftovers() and pod_ids() look at every hierarchy, used or not, so a cgroup
left by another configuration is seen too.
"""
import os

from launcher.cgroups import files, limits, names, resources
from launcher.errors import LauncherError


def learn(host, parent=names.DEFAULT_PARENT):
    """Makes the parent in every used hierarchy (once per Host object),
    gives it the machine's CPUs as its cpu weight (the kubelet's kubepods
    shares: all pods together weigh as much as the CPUs, not as one task),
    and learns whether cgroup.kill exists (a cgroup below the unified root
    shows it on kernels >= 5.14). Returns the hierarchies a pod uses."""
    done = host.ready
    if parent in done:
        return host.used()
    names.check("cgroup parent", parent)
    u = host.unified
    if u is not None:
        _enable_v2(host, u.mount, "the unified root")
        path = os.path.join(u.mount, parent)
        files.make_dir(path)
        _enable_v2(host, path, "the parent")
        host.has_kill = os.path.exists(os.path.join(path, "cgroup.kill"))
    for h in host.used():
        if h.version == 1:
            files.make_dir(os.path.join(h.mount, parent))
    _apply(host, host.used(), parent, limits.parent_plan(host.v2, len(os.sched_getaffinity(0))))
    done.add(parent)
    return host.used()


def create(host, pod_id, pod_res, containers, parent=names.DEFAULT_PARENT):
    """Makes pod<ID>, its sandbox and its containers' cgroups with their
    limits. pod_res is a pod dict, containers maps names to container dicts
    (resources.py). A cgroup that exists already is reused (a resumed
    supervisor, a recreated sandbox) and its limits written again. On
    failure, the cgroups this call made are removed again."""
    rel = names.pod(parent, pod_id)
    for name in containers:
        names.member(name)
    if not host.hierarchies:   # a rootless pod: limits only where the user has cgroups
        for res in (pod_res, *containers.values()):
            _refuse_limits(limits.plan(res, host.v2, res.get("pids_limit"),
                                       pids_optional=res is not pod_res or
                                       res.get("pids_limit") == resources.DEFAULT_PIDS_LIMIT))
        return
    for attempt in range(3):
        used = learn(host, parent)
        made = []
        try:
            _make(host, used, rel, pod_res, containers, made)
            return
        except FileNotFoundError:
            # The parent vanished (remove_parent() in another process): make it again.
            _undo(made)
            host.ready.discard(parent)
        except BaseException:
            _undo(made)
            raise
    raise LauncherError(f"cgroups: the parent cgroup {parent!r} keeps disappearing")


def add_container(host, pod_id, name, res, parent=names.DEFAULT_PARENT):
    """Makes (or reuses, for a restart) one container's cgroup in a pod that
    exists, with its limits."""
    rel = os.path.join(names.pod(parent, pod_id), names.member(name))
    if not host.hierarchies:
        _refuse_limits(limits.plan(res, host.v2))
        return
    used = learn(host, parent)
    made = []
    try:
        for h in used:
            if not os.path.isdir(os.path.join(h.mount, os.path.dirname(rel))):
                raise LauncherError(f"cgroups: pod {pod_id} has no cgroup in {h.mount}")
            _mkdir(os.path.join(h.mount, rel), made)
        _apply(host, used, rel, limits.plan(res, host.v2))
    except BaseException:
        _undo(made)
        raise


def _refuse_limits(settings):
    """A Host without hierarchies (a rootless user's: mounts.detected())
    can hold no limit: one line naming the first that was asked for."""
    for s in settings:
        if not s.optional:
            raise LauncherError(
                f"cgroups: cannot set {s.file}: a rootless pod gets limits only in a cgroup v2 "
                "subtree delegated to the user, and this machine gives none (its controllers "
                "are on cgroup v1); run the pod without limits, or as root")


def _make(host, used, rel, pod_res, containers, made):
    for h in used:
        _mkdir(f"{h.mount}/{rel}", made)
    if host.unified is not None and host.v2_controllers():
        _enable_v2(host, f"{host.unified.mount}/{rel}", "the pod")
    pids_default = pod_res.get("pids_limit") == resources.DEFAULT_PIDS_LIMIT
    _apply(host, used, rel, limits.plan(pod_res, host.v2, pod_res.get("pids_limit"),
                                        container=False, pids_optional=pids_default))
    for h in used:
        _mkdir(f"{h.mount}/{rel}/{names.SANDBOX}", made)
    for name, res in containers.items():
        member = f"{rel}/{names.member(name)}"
        for h in used:
            _mkdir(f"{h.mount}/{member}", made)
        _apply(host, used, member, limits.plan(res, host.v2))


def _mkdir(path, made):
    """mkdir, recording it in `made`; an existing cgroup is reused; ENOENT
    (the parent went away) goes up as it is."""
    try:
        os.mkdir(path, 0o755)
        made.append(path)
    except FileExistsError:
        files.make_dir(path)      # checks it is a directory
    except FileNotFoundError:
        raise
    except OSError as e:
        raise files.failure("create", path, e) from None


def _undo(made):
    """Removes the cgroups a failed call made, deepest first (nothing can
    be in them: no process was placed yet)."""
    for path in reversed(made):
        try:
            os.rmdir(path)
        except OSError:
            pass


def _apply(host, used, rel, settings):
    def dir_of(controller):
        h = host.controller(controller)
        return f"{h.mount}/{rel}" if h is not None and h in used else None
    limits.apply(settings, dir_of)


def _enable_v2(host, path, what):
    """Enables the v2-driven controllers in path's cgroup.subtree_control
    where they are not on yet (at the unified root this happens only when
    the mount is the real root; a delegated mount has them on already, or
    mounts.py did not count them as usable)."""
    wanted = host.v2_controllers()
    if not wanted:
        return
    control = os.path.join(path, "cgroup.subtree_control")
    current = (files.read_or_none(control) or "").split()
    missing = [c for c in wanted if c not in current]
    if missing:
        try:
            files.write(control, " ".join("+" + c for c in missing))
        except OSError as e:
            raise files.failure(f"enable {', '.join(missing)} for the children of {what} in",
                                control, e) from None


def pod_ids(host, parent=names.DEFAULT_PARENT):
    """The ids of every pod that has a cgroup under parent, in any hierarchy."""
    out = set()
    for h in host.all():
        for name in files.subdirs(os.path.join(h.mount, parent)):
            pod_id = names.pod_id_of(name)
            if pod_id is not None:
                out.add(pod_id)
    return sorted(out)


def containers(host, pod_id, parent=names.DEFAULT_PARENT):
    """The container names that have a cgroup in the pod, in any hierarchy."""
    rel = names.pod(parent, pod_id)
    out = set()
    for h in host.all():
        for name in files.subdirs(os.path.join(h.mount, rel)):
            c = names.container_of(name)
            if c is not None:
                out.add(c)
    return sorted(out)


def leftovers(host, parent=names.DEFAULT_PARENT):
    """Every cgroup directory below parent in every hierarchy (absolute
    paths, sorted); the parent itself is not listed. The leak check."""
    out = []
    for h in host.all():
        top = os.path.join(h.mount, parent)
        out.extend(d for d in files.walk_up(top) if d != top)
    return sorted(out)


def remove_parent(host, parent=names.DEFAULT_PARENT):
    """Removes the parent cgroup in every hierarchy where it is empty (a
    parent still holding a pod stays; that is not an error)."""
    names.check("cgroup parent", parent)
    for h in host.all():
        path = os.path.join(h.mount, parent)
        try:
            os.rmdir(path)
        except OSError as e:
            if e.errno not in (2, 16):          # ENOENT, EBUSY (a pod is still there)
                raise files.failure("remove", path, e) from None
    host.ready.discard(parent)
