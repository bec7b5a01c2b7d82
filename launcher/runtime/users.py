"""Who a container's process runs as: the image config's User overridden by
the securityContext, resolved against the CONTAINER's /etc/passwd and
/etc/group, and the switch to it.

The parent builds a UserSpec (plain data, validated: user_spec()); the
child, after pivot_root (so "/" is the container's), calls resolve() then
switch(), or apply() for both. The rule is containerd's with the kubelet's
inputs:

    user   runAsUser if set, else the image's USER part ("" is root)
    group  runAsGroup if set; else, with runAsUser, the primary group of
           that uid in the image's /etc/passwd (0 if it has no entry);
           else the image's GROUP part if it has one; else the user's
           primary group (0 without an entry)
    groups the primary group, every /etc/group entry listing the user's
           name (supplementalGroupsPolicy Merge, Kubernetes' default), then
           supplementalGroups

A name is looked up in the image's files; a number is used as it is
(runc's rule: digits are an id even when a user of that name exists).
The files are read through openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
from the given root: a symlink in the image never reaches a host file, and
only a regular file outside /proc and /sys, at most DB_LIMIT bytes, is read.

switch() drops root the way runc does: setgroups, setresgid, setresuid, in
that order (each needs the privilege the next one removes). Leaving root
the kernel clears the effective capabilities; with PR_SET_KEEPCAPS the
permitted ones survive until exec, and are raised again into the effective
set, so the steps after it (the bounding-set drop of --cap-drop,
no_new_privs) still work. At execve a non-root user with no file
capabilities and no ambient set then gets none at all: a non-root
container has no effective capabilities unless asked, as with Kubernetes
and runc. no_new_privs is not ours to set (allowPrivilegeEscalation is the
security step's).
"""
import errno
import os
import stat

from launcher.errors import LauncherError
from launcher.runtime import syscalls

MAX_ID = 2 ** 32 - 2          # (uid_t)-1 means "unchanged" to the kernel
DB_LIMIT = 4 << 20            # bytes of /etc/passwd or /etc/group we read
MAX_GROUPS = 65536            # NGROUPS_MAX
PASSWD, GROUP = "etc/passwd", "etc/group"
_DIGITS = frozenset("0123456789")


def _digits(text):
    return bool(text) and _DIGITS.issuperset(text)


def _id(value, field):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise LauncherError(f"{field}: {value!r} is not a user or group id (0-{MAX_ID})")
    return value


def _part(text, what, source):
    if "\0" in text or "\n" in text or "/" in text or ":" in text:
        raise LauncherError(f"{source}: {text!r} is not a valid {what}")
    if _digits(text):
        _id(int(text), f"{source}: {what}")
    return text


class UserSpec:
    """What the parent knows: the image's user and group parts (names or
    digits, "" when absent) and the securityContext's overrides."""
    __slots__ = ("user", "group", "run_as_user", "run_as_group", "supplemental_groups")

    def __init__(self, user="", group="", run_as_user=None, run_as_group=None,
                 supplemental_groups=()):
        self.user, self.group = user, group
        self.run_as_user, self.run_as_group = run_as_user, run_as_group
        self.supplemental_groups = list(supplemental_groups)

    def to_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict):
            raise LauncherError("user plan: not an object")
        user, group = d.get("user") or "", d.get("group") or ""
        return user_spec(f"{user}:{group}" if group else user, d.get("run_as_user"),
                         d.get("run_as_group"), d.get("supplemental_groups") or ())


def user_spec(image_user="", run_as_user=None, run_as_group=None, supplemental_groups=(),
              field="securityContext", source="image config: User"):
    """A validated UserSpec from the image config's User ("", "uid",
    "uid:gid", "name", "name:group"), or what replaces it (`run --user`,
    named by source in errors), and the securityContext fields."""
    if not isinstance(image_user, str):
        raise LauncherError(f"{source} must be a string")
    user, sep, group = image_user.partition(":")
    if sep and not group:
        raise LauncherError(f"{source} {image_user!r}: the group after ':' is empty")
    if sep and not user:
        raise LauncherError(f"{source} {image_user!r}: the user before ':' is empty")
    _part(user, "user", source)
    _part(group, "group", source)
    if run_as_user is not None:
        _id(run_as_user, f"{field}.runAsUser")
    if run_as_group is not None:
        _id(run_as_group, f"{field}.runAsGroup")
    if not isinstance(supplemental_groups, (list, tuple)):
        raise LauncherError(f"{field}.supplementalGroups: must be a list of group ids")
    for i, g in enumerate(supplemental_groups):
        _id(g, f"{field}.supplementalGroups[{i}]")
    if len(supplemental_groups) > MAX_GROUPS - 1:
        raise LauncherError(f"{field}.supplementalGroups: more than {MAX_GROUPS - 1} groups")
    return UserSpec(user, group, run_as_user, run_as_group, supplemental_groups)


class User:
    """A resolved user: uid, gid, groups (setgroups' list), name (or None),
    home (from /etc/passwd, "/" without an entry)."""
    __slots__ = ("uid", "gid", "groups", "name", "home")

    def __init__(self, uid, gid, groups, name=None, home="/"):
        self.uid, self.gid, self.groups, self.name, self.home = uid, gid, list(groups), name, home

    def __repr__(self):
        return f"User(uid={self.uid}, gid={self.gid}, groups={self.groups}, name={self.name!r})"


def read_db(root_fd, rel):
    """The text of the image's /etc/passwd or /etc/group (rel below
    root_fd, resolved inside it), or None if it has none. LauncherError if
    it is not a regular file of at most DB_LIMIT bytes outside /proc and /sys."""
    what = f"the image's /{rel}"
    try:
        fd = syscalls.openat2(root_fd, rel, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY |
                              os.O_NONBLOCK, syscalls.RESOLVE_IN_ROOT |
                              syscalls.RESOLVE_NO_MAGICLINKS)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise LauncherError(f"{what}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or syscalls.fstatfs_type(fd) in (
                syscalls.PROC_SUPER_MAGIC, syscalls.SYSFS_MAGIC):
            raise LauncherError(f"{what} is not a regular file")
        chunks, left = [], DB_LIMIT + 1
        while left > 0:
            try:
                b = os.read(fd, min(left, 1 << 20))
            except OSError as e:
                if e.errno == errno.EAGAIN:
                    raise LauncherError(f"{what} is not a regular file") from None
                raise LauncherError(f"{what}: {e.strerror}") from None
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        if left <= 0:
            raise LauncherError(f"{what} is larger than {DB_LIMIT} bytes")
        return b"".join(chunks).decode(errors="replace")
    finally:
        os.close(fd)


def _entries(text, fields):
    """The lines of a passwd or group file split on ':', with at least
    `fields` fields and numeric ids; NIS (+/-) and comment lines skipped."""
    for line in (text or "").splitlines():
        if not line or line[0] in "#+-":
            continue
        parts = line.split(":")
        if len(parts) >= fields and _digits(parts[2]) and int(parts[2]) <= MAX_ID:
            yield parts


class _Db:
    """The image's two files, each read at most once, on demand."""

    def __init__(self, root_fd):
        self.root_fd, self.cache = root_fd, {}

    def get(self, rel):
        if rel not in self.cache:
            self.cache[rel] = read_db(self.root_fd, rel)
        return self.cache[rel]

    def passwd(self, match):
        for p in _entries(self.get(PASSWD), 4):
            if match(p) and _digits(p[3]) and int(p[3]) <= MAX_ID:
                return p
        return None

    def group(self, name):
        for g in _entries(self.get(GROUP), 3):
            if g[0] == name:
                return int(g[2])
        return None

    def member_of(self, name):
        out = []
        for g in _entries(self.get(GROUP), 4):
            if name in g[3].split(","):
                out.append(int(g[2]))
        return out


def resolve(spec, root="/"):
    """The User of a UserSpec, names looked up in the files under `root`
    (after pivot_root "/" is the container's). One-line LauncherError when
    a name is not there."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return _resolve(spec, _Db(root_fd))
    finally:
        os.close(root_fd)


def _resolve(spec, db):
    user = str(spec.run_as_user) if spec.run_as_user is not None else (spec.user or "0")
    if _digits(user):
        uid = int(user)
        entry = db.passwd(lambda p: int(p[2]) == uid) if db.get(PASSWD) is not None else None
    else:
        if db.get(PASSWD) is None:
            raise LauncherError(f"user {user!r} not found: the image has no /etc/passwd")
        entry = db.passwd(lambda p: p[0] == user)
        if entry is None:
            raise LauncherError(f"user {user!r} not found in the image's /etc/passwd")
        uid = int(entry[2])
    primary = int(entry[3]) if entry else 0
    if spec.run_as_group is not None:
        gid = spec.run_as_group
    elif spec.run_as_user is None and spec.group:
        if _digits(spec.group):
            gid = int(spec.group)
        else:
            if db.get(GROUP) is None:
                raise LauncherError(f"group {spec.group!r} not found: the image has no /etc/group")
            gid = db.group(spec.group)
            if gid is None:
                raise LauncherError(f"group {spec.group!r} not found in the image's /etc/group")
    else:
        gid = primary
    name = entry[0] if entry else None
    groups = [gid]
    if name is not None:
        groups += db.member_of(name)
    groups += spec.supplemental_groups
    seen, ordered = set(), []
    for g in groups:
        if g not in seen:
            seen.add(g)
            ordered.append(g)
    home = entry[5] if entry and len(entry) > 5 and entry[5].startswith("/") else "/"
    return User(uid, gid, ordered[:MAX_GROUPS], name, home)


def switch(uid, gid, groups=()):
    """In the child, as root: becomes uid/gid with exactly `groups` (see the
    module doc for capabilities)."""
    leaving_root = uid != 0
    try:
        if leaving_root:
            syscalls.set_keepcaps(True)
        os.setgroups(list(groups))
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        if leaving_root:
            syscalls.set_keepcaps(False)
            syscalls.cap_effective_from_permitted()
    except OSError as e:
        raise LauncherError(f"switching to user {uid}:{gid}: {e.strerror}") from None


def apply(spec, env=None, root="/"):
    """The child's user step: resolve, switch, and HOME from /etc/passwd
    when env (a dict) has none (runc does the same). Returns the User."""
    u = resolve(spec, root)
    switch(u.uid, u.gid, u.groups)
    if env is not None and "HOME" not in env:
        env["HOME"] = u.home
    return u
