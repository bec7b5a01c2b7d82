"""Privileges of a pod's processes: --cap-drop and --no-new-privileges.

Capability names are checked in the parent, before anything is created
(`capability_numbers`); the `security` child step drops them from the
bounding set (so exec cannot regain them) and from the inheritable,
effective and permitted sets, then sets no_new_privs. python-prctl is
imported only when capabilities are dropped.
"""
from launcher.errors import LauncherError
from launcher.runtime import syscalls


def capability_numbers(names):
    """The capability numbers of --cap-drop names (CAP_X, X, any case, or ALL)."""
    if not names:
        return []
    import prctl
    out = []
    for n in names:
        key = n.upper()
        if key == "ALL":
            out.extend(prctl.ALL_CAPS)
            continue
        if not key.startswith("CAP_"):
            key = "CAP_" + key
        if not hasattr(prctl, key) or key[4:].lower() not in prctl.ALL_CAP_NAMES:
            raise LauncherError(f"unknown capability {n!r}")
        out.append(getattr(prctl, key))
    return sorted(set(out))


def restrict(caps, no_new_privs):
    """In a child, last before stdio and exec: drops caps everywhere, then
    no_new_privs."""
    if caps:
        import prctl
        prctl.capbset.drop(*caps)
        for s in (prctl.cap_inheritable, prctl.cap_effective, prctl.cap_permitted):
            s.drop(*caps)
    if no_new_privs:
        syscalls.set_no_new_privs()
