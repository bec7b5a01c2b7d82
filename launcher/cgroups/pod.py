"""One pod's cgroups as an object: the calls the launcher makes, in the
order it makes them. A Pod holds names only (no fd, no state), so any
process (the supervisor, `launcher exec`, `stats`, `gc`) can make one from
the pod id and act on the same cgroups. Each method imports its module on
first use, so a process loads only what it calls."""
from launcher.cgroups import names


class Pod:
    """The cgroups of pod `pod_id` under `parent` on `host` (detect())."""

    def __init__(self, host, pod_id, parent=names.DEFAULT_PARENT):
        self.host, self.id, self.parent = host, names.check("pod id", pod_id), parent
        self.rel = names.pod(parent, pod_id)

    def create(self, pod_res, containers):
        """Parent, before the sandbox starts: makes the pod, sandbox and
        container cgroups with their limits (pod_res: resources.pod();
        containers: {name: container dict})."""
        from launcher.cgroups import layout
        layout.create(self.host, self.id, pod_res, containers, self.parent)

    def add_container(self, name, res):
        """A container's cgroup for a pod that exists (reused on restart)."""
        from launcher.cgroups import layout
        layout.add_container(self.host, self.id, name, res, self.parent)

    def placement(self, container=None):
        """Parent, before fork: the Placement of the sandbox (None) or a
        container; the child calls enter(), the parent close()."""
        from launcher.cgroups import placement
        return placement.open_member(self.host, self.id, container, self.parent)

    def oom_kills(self, container):
        """The container's OOM kill count (read before start, after exit)."""
        from launcher.cgroups import oom
        return oom.oom_kills(self.host, self.id, container, self.parent)

    def kill_container(self, container, timeout=5.0):
        """SIGKILLs what is left in one container's cgroup (after its main
        process exited, before a restart reuses the cgroup)."""
        from launcher.cgroups import teardown
        teardown.kill_container(self.host, self.id, container, self.parent, timeout)

    def kill_all(self, timeout=5.0, how=None):
        """SIGKILLs every process in the pod's cgroups; waits until none is left."""
        from launcher.cgroups import teardown
        teardown.kill_all(self.host, self.id, self.parent, timeout, how)

    def remove(self, timeout=1.0):
        """Removes every cgroup of the pod, deepest first, in every hierarchy."""
        from launcher.cgroups import teardown
        teardown.remove(self.host, self.id, self.parent, timeout)

    def sample(self):
        """One stats sample (stats.rows() turns two into display rows)."""
        from launcher.cgroups import stats
        return stats.sample(self.host, self.id, self.parent)

    def paths(self):
        """Every cgroup directory of the pod that exists, deepest first."""
        import os
        from launcher.cgroups import files
        out = []
        for h in self.host.all():
            out.extend(files.walk_up(os.path.join(h.mount, self.rel)))
        return out

    def __repr__(self):
        return f"Pod({self.rel})"
