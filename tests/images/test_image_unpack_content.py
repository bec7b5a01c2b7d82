"""What a layer holds survives the unpack: owners, modes with setuid,
setgid and sticky bits, mtimes, device nodes, fifos, hard links, symlinks,
xattrs (file capabilities included); OCI whiteouts and opaque markers
become overlayfs' own forms; and for benign tars the result is what
`tar -x` makes."""
import os
import stat
import struct
import subprocess

from hypothesis import HealthCheck, given, settings, strategies as st

from launcher.images import unpack
from launcher.images.testimages import MTIME, Tar

# security.capability, v2: cap_net_bind_service (10) permitted + effective
CAP_NET_BIND = struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)


def unpack_to(tmp_path, data, name="dest"):
    tar = tmp_path / f"{name}.tar"
    tar.write_bytes(data)
    fd = os.open(tar, os.O_RDONLY)
    pfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        unpack.unpack(fd, pfd, name)
    finally:
        os.close(fd)
        os.close(pfd)
    return tmp_path / name


def test_modes_owners_and_special_bits(tmp_path):
    """setuid/setgid survive a chown to a non-root owner (chmod comes after
    chown), the sticky bit and odd modes are kept, owners are numeric."""
    d = unpack_to(tmp_path, Tar()
                  .dir("tmp", mode=0o1777)
                  .file("su", b"x", mode=0o4755)
                  .file("user-suid", b"x", mode=0o4750, uid=1000, gid=1000)
                  .file("sgid", b"x", mode=0o2711, gid=42)
                  .file("odd", b"x", mode=0o000, uid=65534, gid=65534).bytes())
    for name, mode, uid, gid in (("tmp", 0o1777, 0, 0), ("su", 0o4755, 0, 0),
                                 ("user-suid", 0o4750, 1000, 1000), ("sgid", 0o2711, 0, 42),
                                 ("odd", 0o000, 65534, 65534)):
        st_ = os.lstat(d / name)
        assert (stat.S_IMODE(st_.st_mode), st_.st_uid, st_.st_gid) == (mode, uid, gid), name


def test_mtimes_survive_children(tmp_path):
    """Files, symlinks and directories keep the tar's mtime, directories
    even after their children were made."""
    d = unpack_to(tmp_path, Tar().dir("a", mtime=1000).file("a/f", b"x", mtime=2000)
                  .symlink("a/l", "f", mtime=3000).bytes())
    assert os.lstat(d / "a").st_mtime == 1000
    assert os.lstat(d / "a" / "f").st_mtime == 2000
    assert os.lstat(d / "a" / "l").st_mtime == 3000


def test_device_nodes_and_fifos(tmp_path):
    """Character and block devices keep their numbers and modes; a fifo is a fifo."""
    d = unpack_to(tmp_path, Tar().dir("dev").device("dev/null", "c", 1, 3, mode=0o666)
                  .device("dev/loop9", "b", 7, 9, mode=0o660, gid=6).fifo("dev/pipe").bytes())
    null, loop, pipe = (os.lstat(d / "dev" / n) for n in ("null", "loop9", "pipe"))
    assert stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1 and \
        os.minor(null.st_rdev) == 3 and stat.S_IMODE(null.st_mode) == 0o666
    assert stat.S_ISBLK(loop.st_mode) and (os.major(loop.st_rdev), os.minor(loop.st_rdev)) == \
        (7, 9) and loop.st_gid == 6
    assert stat.S_ISFIFO(pipe.st_mode)


def test_hard_links_and_symlinks(tmp_path):
    """A hard link shares the inode of its target; symlinks keep their
    target text, dangling or absolute."""
    d = unpack_to(tmp_path, Tar().dir("bin").file("bin/busybox", b"ELF", mode=0o755)
                  .hardlink("bin/sh", "bin/busybox").hardlink("ls", "./bin/busybox")
                  .symlink("bin/abs", "/bin/busybox").symlink("dangling", "no/where").bytes())
    ino = os.lstat(d / "bin" / "busybox").st_ino
    assert os.lstat(d / "bin" / "sh").st_ino == ino == os.lstat(d / "ls").st_ino
    assert os.lstat(d / "bin" / "busybox").st_nlink == 3
    assert os.readlink(d / "bin" / "abs") == "/bin/busybox"
    assert os.readlink(d / "dangling") == "no/where"


def test_file_capabilities_and_xattrs(tmp_path):
    """security.capability from a PAX SCHILY.xattr header survives the
    chown to a non-root owner (xattrs are set after it); user xattrs are
    kept; overlayfs' own xattrs from the tar are dropped."""
    d = unpack_to(tmp_path, Tar()
                  .file("ping", b"ELF", mode=0o755, uid=1000,
                        xattrs={"security.capability": CAP_NET_BIND, "user.note": b"hi"})
                  .dir("sneaky", xattrs={"trusted.overlay.opaque": b"y",
                                         "trusted.overlay.redirect": b"/etc"}).bytes())
    assert os.getxattr(d / "ping", "security.capability") == CAP_NET_BIND
    assert os.getxattr(d / "ping", "user.note") == b"hi"
    assert os.lstat(d / "ping").st_uid == 1000
    assert not [x for x in os.listxattr(d / "sneaky") if x.startswith("trusted.overlay.")]
    getcap = subprocess.run(["getcap", str(d / "ping")], capture_output=True, text=True)
    if getcap.returncode == 0 and getcap.stdout:
        assert "cap_net_bind_service" in getcap.stdout


def is_whiteout(path):
    st_ = os.lstat(path)
    return stat.S_ISCHR(st_.st_mode) and st_.st_rdev == os.makedev(0, 0)


def opaque(path):
    try:
        return os.getxattr(path, "trusted.overlay.opaque") == b"y"
    except OSError:
        return False


def test_whiteouts_and_opaque_dirs(tmp_path):
    """.wh.NAME becomes a 0:0 character device named NAME; .wh..wh..opq
    makes its directory opaque, also when it comes after the directory's
    other entries, which stay; the markers themselves are not files."""
    d = unpack_to(tmp_path, Tar().dir("etc").whiteout("etc/gone").dir("app")
                  .file("app/new", b"1").opaque("app").whiteout("top").bytes())
    assert is_whiteout(d / "etc" / "gone") and is_whiteout(d / "top")
    assert opaque(d / "app") and os.listdir(d / "app") == ["new"]
    assert not opaque(d / "etc")
    assert not [n for n in os.listdir(d / "etc") if n.startswith(".wh.")]


def test_whiteouts_only_hide_lower_layers(tmp_path):
    """A whiteout never hides what its own layer has: a file before its
    whiteout stays; a file, or a directory, after a whiteout replaces it
    (the directory is then opaque, since the lower one was deleted); a path
    below a whited-out name makes an opaque directory of it."""
    d = unpack_to(tmp_path, Tar().file("kept", b"k").whiteout("kept")
                  .whiteout("refile").file("refile", b"r")
                  .whiteout("redir").dir("redir").file("redir/x", b"x")
                  .whiteout("implied").file("implied/y", b"y").bytes())
    assert (d / "kept").read_bytes() == b"k"
    assert (d / "refile").read_bytes() == b"r"
    assert (d / "redir").is_dir() and opaque(d / "redir") and (d / "redir" / "x").exists()
    assert (d / "implied").is_dir() and opaque(d / "implied")


def test_later_entries_replace_earlier_ones(tmp_path):
    """As the OCI spec says: a directory over a directory keeps it and takes
    the new attributes; anything else is removed and made again."""
    d = unpack_to(tmp_path, Tar().dir("d", mode=0o700).file("d/keep", b"1").dir("d", mode=0o751)
                  .file("f", b"old").file("f", b"new").dir("g").file("g/x", b"x")
                  .file("g", b"file now").symlink("s", "a").file("s", b"plain").bytes())
    assert stat.S_IMODE(os.lstat(d / "d").st_mode) == 0o751 and (d / "d" / "keep").exists()
    assert (d / "f").read_bytes() == b"new"
    assert (d / "g").read_bytes() == b"file now"
    assert (d / "s").read_bytes() == b"plain" and not (d / "s").is_symlink()


# -- benign random trees: our unpack == tar -x ------------------------------

def snapshot(root):
    """{path: attributes} of a tree, hard links as groups of paths."""
    out, inodes = {}, {}
    for where, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(where, name)
            st_ = os.lstat(p)
            rel = os.path.relpath(p, root)
            a = {"mode": st_.st_mode, "uid": st_.st_uid, "gid": st_.st_gid,
                 "mtime": int(st_.st_mtime)}
            if stat.S_ISREG(st_.st_mode):
                with open(p, "rb") as f:
                    a["data"] = f.read()
                inodes.setdefault(st_.st_ino, []).append(rel)
            elif stat.S_ISLNK(st_.st_mode):
                a["target"] = os.readlink(p)
            out[rel] = a
    links = sorted(sorted(g) for g in inodes.values() if len(g) > 1)
    return out, links


NAMES = st.text(alphabet="abcxyz0._-", min_size=1, max_size=6).filter(
    lambda n: n not in (".", "..") and not n.startswith(".wh."))


class Tree:
    """A random benign tree: entries in depth-first order (as tar -c
    writes them), printed compactly when hypothesis reports a failure."""

    def __init__(self, entries):
        self.entries = entries

    def tar(self):
        t = Tar()
        for kind, name, arg, kw in self.entries:
            getattr(t, kind)(name, arg, **kw) if arg is not None else getattr(t, kind)(name, **kw)
        return t.bytes()

    def __repr__(self):
        return "Tree(%s)" % ", ".join(f"{k} {n}" for k, n, _, _ in self.entries)


@st.composite
def trees(draw):
    """Explicit directories (each before its children), files, symlinks
    and hard links to earlier files, random modes, owners and mtimes."""
    dirs, planned = [""], {}
    for _ in range(draw(st.integers(1, 25))):
        parent = draw(st.sampled_from(dirs))
        name = (parent + "/" if parent else "") + draw(NAMES)
        if name in planned:
            continue
        kind = draw(st.sampled_from(["dir", "file", "file", "symlink", "hardlink"]))
        planned[name] = kind
        if kind == "dir":
            dirs.append(name)
    entries, files = [], []
    for name in sorted(planned, key=lambda n: n.split("/")):
        kind = planned[name]
        kw = dict(uid=draw(st.sampled_from([0, 1, 1000])), gid=draw(st.sampled_from([0, 5])),
                  mtime=draw(st.integers(0, 2 ** 31 - 1)))
        if kind == "dir":
            entries.append(("dir", name, None, dict(kw, mode=draw(st.sampled_from(
                [0o755, 0o700, 0o1777, 0o2755])))))
        elif kind == "file" or (kind == "hardlink" and not files):
            entries.append(("file", name, draw(st.binary(max_size=3000)), dict(kw, mode=draw(
                st.sampled_from([0o644, 0o600, 0o4755, 0o2750, 0o444])))))
            files.append(name)
        elif kind == "symlink":
            entries.append(("symlink", name, draw(st.sampled_from(
                ["target", "../up", "/abs/path", "a/b"])), kw))
        else:
            entries.append(("hardlink", name, draw(st.sampled_from(files)), {}))
    return Tree(entries)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                  HealthCheck.too_slow])
@given(trees())
def test_benign_tars_unpack_like_tar_x(tmp_path, tree):
    """For a benign tar our unpack makes exactly what GNU tar -x makes (as
    root: owners, modes, mtimes, contents, symlinks, hard link groups)."""
    import shutil
    for name in ("ours", "gnu", "ours.tar", "gnu.tar"):
        p = tmp_path / name
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    data = tree.tar()
    ours = unpack_to(tmp_path, data, "ours")
    (tmp_path / "gnu").mkdir()
    (tmp_path / "gnu.tar").write_bytes(data)
    subprocess.run(["tar", "-xf", str(tmp_path / "gnu.tar"), "-C", str(tmp_path / "gnu")],
                   check=True, timeout=30)
    assert snapshot(ours) == snapshot(tmp_path / "gnu")


def test_busybox_layer_like_tar_x(tmp_path):
    """The busybox layer (a static binary, hundreds of symlinks) unpacks
    as tar -x makes it, and mtime is the build's fixed one."""
    from launcher.images.testimages import busybox_layer
    data = busybox_layer()
    ours = unpack_to(tmp_path, data, "ours")
    (tmp_path / "gnu").mkdir()
    subprocess.run(["tar", "-xf", str(tmp_path / "ours.tar"), "-C", str(tmp_path / "gnu")],
                   check=True, timeout=30)
    mine, theirs = snapshot(ours), snapshot(tmp_path / "gnu")
    assert mine == theirs and mine[0]["bin/busybox"]["mtime"] == MTIME
