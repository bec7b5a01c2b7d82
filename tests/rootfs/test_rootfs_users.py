"""Who the container's process is: the image's User (a name or ids,
USER[:GROUP]) resolved in the container's own /etc/passwd and /etc/group,
overridden by runAsUser, runAsGroup and supplementalGroups; a non-root
user ends with no capabilities; a name the image does not have is one
clear line; the files are read bounded, and only if regular."""
import os

import pytest

from launcher.errors import LauncherError
from launcher.images.testimages import Tar
from launcher.runtime import users
from rootfs_helpers import run

PASSWD = (b"root:x:0:0:root:/root:/bin/sh\n"
          b"www-data:x:33:33:www-data:/var/www:/bin/false\n"
          b"app:x:1000:1000:app:/home/app:/bin/sh\n")
GROUP = (b"root:x:0:\nwww-data:x:33:\napp:x:1000:\naudio:x:29:app\n"
         b"staff:x:50:app,www-data\n")
STATUS = "grep -E '^(Uid|Gid|Groups|CapEff|CapPrm|CapBnd):' /proc/self/status; echo HOME=$HOME"


@pytest.fixture
def users_image(crafted):
    """busybox plus an /etc/passwd and /etc/group with www-data, app and
    two groups app (and www-data) belong to."""
    return crafted(Tar().dir("etc").file("etc/passwd", PASSWD).file("etc/group", GROUP)
                   .dir("var").dir("var/www").bytes(), "users")


def status(out):
    got = {}
    for line in out.splitlines():
        k, _, v = line.partition(":") if not line.startswith("HOME=") else line.partition("=")
        got[k] = v.split()
    return got


@pytest.mark.parametrize("image_user, run_as, want", [
    ("www-data", {}, (33, 33, [33, 50], "/var/www")),
    ("app:audio", {}, (1000, 29, [29, 50], "/home/app")),
    ("1000:50", {}, (1000, 50, [50, 29], "/home/app")),
    ("4242", {}, (4242, 0, [0], "/")),
    ("www-data", {"run_as_user": 1000}, (1000, 1000, [1000, 29, 50], "/home/app")),
    ("app:audio", {"run_as_user": 33, "run_as_group": 7, "supplemental_groups": [8, 7]},
     (33, 7, [7, 50, 8], "/var/www")),
    ("", {"run_as_user": 4242, "run_as_group": 4343, "supplemental_groups": [5]},
     (4242, 4343, [4343, 5], "/")),
    ("app", {"run_as_group": 33}, (1000, 33, [33, 29, 50], "/home/app")),
])
def test_user_resolution(users_image, pods, image_user, run_as, want):
    """uid, gid, groups and HOME the container's process has, for an image
    user (name, name:group, uid:gid, a uid without an entry) with and
    without runAsUser, runAsGroup and supplementalGroups."""
    spec = users.user_spec(image_user, **run_as)
    r = run(pods.plan(pods(), users_image), STATUS, user=spec)
    assert r.code == 0, r
    got = status(r.out)
    uid, gid, groups, home = want
    assert got["Uid"] == [str(uid)] * 4 and got["Gid"] == [str(gid)] * 4
    assert sorted(map(int, got["Groups"])) == sorted(groups)
    assert got["HOME"] == [home]


def test_resolved_groups_in_order(users_image):
    """The groups list: the primary group first, then memberships, then
    supplementalGroups, each once (read from the image's files directly)."""
    # The layer dir of the crafted image is a plain directory: resolve from it.
    root = users_image.layers[-1]
    u = users.resolve(users.user_spec("app:audio", supplemental_groups=[8, 29]), root)
    assert (u.uid, u.gid, u.groups, u.name, u.home) == (1000, 29, [29, 50, 8], "app", "/home/app")


def test_non_root_has_no_capabilities(users_image, pods):
    """A non-root user ends with no effective or permitted capabilities
    (the bounding set stays, for the security step to trim); root keeps
    them."""
    pod = pods()
    r = run(pods.plan(pod, users_image, "app"), STATUS, user=users.user_spec("app"))
    assert r.code == 0, r
    got = status(r.out)
    assert got["CapEff"] == got["CapPrm"] == ["0000000000000000"]
    assert int(got["CapBnd"][0], 16)
    r = run(pods.plan(pod, users_image, "root"), STATUS, user=users.user_spec(""))
    assert int(status(r.out)["CapEff"][0], 16), r


def test_the_security_step_still_works_after_the_switch(users_image, pods):
    """After switch() to a non-root user, dropping a capability from the
    bounding set (the launcher's security step, which comes next) works."""
    r = run(pods.plan(pods(), users_image), STATUS, user=users.user_spec("app"),
            caps=["NET_RAW"])
    assert r.code == 0, r
    assert not int(status(r.out)["CapBnd"][0], 16) & (1 << 13)


@pytest.mark.parametrize("image_user, message", [
    ("nobody2", "user 'nobody2' not found in the image's /etc/passwd"),
    ("app:wheel", "group 'wheel' not found in the image's /etc/group"),
])
def test_unknown_names_are_one_line(users_image, pods, image_user, message):
    """A user or group the image does not have: exit 125, one line."""
    r = run(pods.plan(pods(), users_image), "id", user=users.user_spec(image_user))
    assert (r.code, r.err) == (125, f"setup: {message}\n"), r


def test_a_name_in_an_image_without_passwd(busybox, pods):
    """No /etc/passwd in the image: a name cannot be found, a uid can."""
    r = run(pods.plan(pods(), busybox), "id -u", user=users.user_spec("1234"))
    assert (r.code, r.out) == (0, "1234\n"), r


@pytest.mark.parametrize("args, message", [
    (("a:b:c",), "image config: User: 'b:c' is not a valid group"),
    (("a:",), "image config: User 'a:': the group after ':' is empty"),
    ((":g",), "image config: User ':g': the user before ':' is empty"),
    (("99999999999",), "image config: User: user: 99999999999 is not a user or group id "
                       "(0-4294967294)"),
    (("", -1), "securityContext.runAsUser: -1 is not a user or group id (0-4294967294)"),
    (("", 0, True), "securityContext.runAsGroup: True is not a user or group id (0-4294967294)"),
    (("", None, None, [1, "2"]),
     "securityContext.supplementalGroups[1]: '2' is not a user or group id (0-4294967294)"),
])
def test_bad_user_specs_are_one_line(args, message):
    """The parent refuses a malformed User or securityContext before fork."""
    with pytest.raises(LauncherError) as e:
        users.user_spec(*args)
    assert str(e.value) == message


def test_user_spec_round_trips_as_json():
    """A UserSpec is plain data (the ChildPlan carries it as JSON)."""
    s = users.user_spec("app:audio", 5, 6, [7])
    assert users.UserSpec.from_dict(s.to_dict()).to_dict() == s.to_dict()


def test_only_regular_bounded_files_are_read(tmp_path):
    """A FIFO as /etc/passwd is refused (never blocks), so is one larger
    than the bound; a missing one only matters for a name."""
    etc = tmp_path / "etc"
    etc.mkdir()
    os.mkfifo(etc / "passwd")
    with pytest.raises(LauncherError, match=r"^the image's /etc/passwd is not a regular file$"):
        users.resolve(users.user_spec("app"), str(tmp_path))
    os.unlink(etc / "passwd")
    with open(etc / "passwd", "wb") as f:
        f.truncate(users.DB_LIMIT + 1)
    with pytest.raises(LauncherError, match="larger than"):
        users.resolve(users.user_spec("app"), str(tmp_path))
    os.unlink(etc / "passwd")
    assert users.resolve(users.user_spec("77"), str(tmp_path)).uid == 77
