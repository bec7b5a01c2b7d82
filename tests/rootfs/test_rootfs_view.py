"""What a container sees once rootfs.setup() has run: its image and nothing
of the host, its own /proc, a /dev of exactly the standard nodes, a fresh
devpts, a read-only /sys, runc's masked and read-only paths, the pod's etc
files, a mount table of its own mounts only, and `exec` (setns into its
mount namespace) lands in the same root."""
import os
import select
import subprocess
import sys

import pytest

from launcher.runtime import rootfs, syscalls
from rootfs_helpers import host_mounts, mountinfo_points, run, start

BUSYBOX_TOP = {"bin", "dev", "etc", "linuxrc", "proc", "root", "sbin", "sys", "tmp", "usr", "var"}


def test_sees_only_its_image(busybox, pods):
    """/ lists the image's entries only; no host /home, /work, /root
    content; /etc/passwd is the image's, /etc/hostname the pod's name."""
    r = run(pods.plan(pods(), busybox), "ls -A /; echo --; ls -A /root; echo --; "
            "ls /home /work 2>&1; echo --; cat /etc/hostname /etc/passwd")
    assert r.code == 0, r
    top, root, missing, files = r.out.split("--\n")
    assert set(top.split()) == BUSYBOX_TOP
    assert root == ""
    assert "/home" in missing and "/work" in missing and "No such file" in missing
    assert files == ("pod-a\nroot:x:0:0:root:/root:/bin/sh\n"
                     "nobody:x:65534:65534:nobody:/:/bin/false\n")
    with open("/etc/hostname") as f:
        assert f.read() != "pod-a\n"


def test_proc_is_its_pid_namespace(busybox, pods):
    """The container's command is PID 1 of its PID namespace and /proc
    lists only its own processes (a shell glob: no helper process)."""
    r = run(pods.plan(pods(), busybox), "echo $$; for p in /proc/[0-9]*; do echo ${p#/proc/}; done")
    assert (r.code, r.out) == (0, "1\n1\n"), r


def test_dev_has_exactly_the_standard_nodes(busybox, pods):
    """/dev holds null, zero, full, tty, random, urandom (character devices
    with their majors and minors, 0666), the fd, stdin, stdout, stderr,
    core and ptmx symlinks, and the pts, shm and mqueue mount points;
    nothing of the host's /dev."""
    r = run(pods.plan(pods(), busybox),
            'for f in /dev/*; do stat -c "%n|%F|%t|%T|%a|%N" $f; done; '
            "grep ' /dev ' /proc/self/mountinfo")
    assert r.code == 0, r
    lines = r.out.splitlines()
    got = {ln.split("|")[0]: ln.split("|")[1:] for ln in lines[:-1]}
    want = {f"/dev/{n}": ["character special file", f"{ma:x}", f"{mi:x}", "666", f"/dev/{n}"]
            for n, ma, mi in rootfs.DEV_NODES}
    want.update({f"/dev/{n}": ["symbolic link", "0", "0", "777", f"'/dev/{n}' -> '{t}'"]
                 for n, t in rootfs.DEV_LINKS})
    for d in ("pts", "shm", "mqueue"):
        assert got.pop(f"/dev/{d}")[0] == "directory"
    assert got == want
    assert " - tmpfs tmpfs rw,size=64k,mode=755" in lines[-1] and "nosuid" in lines[-1]


def test_devpts_is_a_new_instance(busybox, pods):
    """/dev/pts is a fresh devpts: only ptmx at first (none of the host's
    terminals), and opening /dev/ptmx makes pty 0 in it."""
    r = run(pods.plan(pods(), busybox),
            "ls /dev/pts; exec 3<>/dev/ptmx; ls /dev/pts; grep ' /dev/pts ' /proc/self/mountinfo")
    assert r.code == 0, r
    out = r.out.splitlines()
    assert out[:3] == ["ptmx", "0", "ptmx"]
    assert "devpts devpts rw,gid=5,mode=620,ptmxmode=666" in out[3]


def test_sys_is_read_only(busybox, pods):
    """/sys is sysfs mounted read-only: writing there fails with EROFS."""
    r = run(pods.plan(pods(), busybox), "touch /sys/kernel/x 2>&1; "
            "grep ' /sys ' /proc/self/mountinfo")
    assert r.code == 0, r
    assert "Read-only file system" in r.out.splitlines()[0]
    assert " /sys ro,nosuid,nodev,noexec" in r.out and " - sysfs sysfs ro" in r.out


def _present(paths):
    return [p for p in paths if os.path.exists(p)]


def test_masked_paths_are_masked(busybox, pods):
    """Each masked path this kernel has reads empty: /proc/keys and
    /proc/timer_list (non-empty on the host) give 0 bytes, /sys/firmware and
    /proc/acpi are empty directories; /proc/kcore too, where it exists."""
    with open("/proc/keys", "rb") as f:
        assert f.read(1)
    assert os.listdir("/sys/firmware")
    masked = _present(rootfs.MASKED_PATHS)
    script = "; ".join(f"if [ -d {p} ]; then echo {p} $(ls -A {p} | wc -l); "
                       f"else echo {p} $(cat {p} | wc -c); fi" for p in masked)
    r = run(pods.plan(pods(), busybox), script)
    assert r.code == 0, r
    assert r.out.splitlines() == [f"{p} 0" for p in masked]
    assert "/proc/keys" in masked and "/sys/firmware" in masked


def test_readonly_paths_are_read_only(busybox, pods):
    """/proc/sys and the other read-only paths refuse writes with EROFS
    (/proc/sys/kernel/hostname, and /proc/sysrq-trigger where the kernel
    has it), while the rest of /proc stays as it was."""
    r = run(pods.plan(pods(), busybox),
            "{ echo x > /proc/sys/kernel/hostname; } 2>&1; "
            "[ -e /proc/sysrq-trigger ] && { echo h > /proc/sysrq-trigger; } 2>&1; "
            "grep -E ' /proc/(sys|bus|fs|irq|sysrq-trigger) ' /proc/self/mountinfo | cut -d' ' -f5,6")
    lines = r.out.splitlines()
    assert "Read-only file system" in lines[0], r
    if os.path.exists("/proc/sysrq-trigger"):
        assert "Read-only file system" in lines[1], r
    ro = [ln for ln in lines if ln.startswith("/proc/")]
    assert sorted(ro) == sorted(f"{p} ro,nosuid,nodev,noexec,relatime"
                                for p in _present(rootfs.READONLY_PATHS))


def test_etc_files_are_the_pods_and_read_only(busybox, pods):
    """/etc/hosts, /etc/hostname and /etc/resolv.conf are the pod's files
    (the pod's IP and name in hosts), bound read-only."""
    pod = pods(ip="10.88.0.7")
    r = run(pods.plan(pod, busybox), "cat /etc/hosts; echo --; cat /etc/hostname; echo --; "
            "cat /etc/resolv.conf; echo --; { echo x >> /etc/hosts; } 2>&1; true")
    assert r.code == 0, r
    hosts, hostname, resolv, write = r.out.split("--\n")
    files = pod.etc_files()
    assert hosts == open(files["/etc/hosts"]).read() and "10.88.0.7\tpod-a\n" in hosts
    assert hostname == "pod-a\n"
    assert resolv == open(files["/etc/resolv.conf"]).read()
    assert "Read-only file system" in write


def test_mount_table_shows_only_its_own_mounts(busybox, pods, tmp_path):
    """With another pod's shm tmpfs and a pinned namespace (an nsfs bind
    mount) under the state root, and even the state root itself bound into
    the container as a hostPath volume, the container's mountinfo lists
    exactly its own mounts: no pin, nothing of the other pod, nothing of
    the host."""
    other = pods("pod-b")
    pin = os.path.join(os.path.dirname(other.run_dir), "net.ns")
    open(pin, "w").close()
    syscalls.mount("/proc/self/ns/net", pin, None, syscalls.MS_BIND)
    try:
        pod = pods(volumes=[{"name": "state", "hostPath": {"path": pods.state}}])
        plan = pods.plan(pod, busybox, volume_mounts=[{"name": "state", "mountPath": "/state"}])
        r = run(plan, "cat /proc/self/mountinfo")
    finally:
        syscalls.detach(pin)
    assert r.code == 0, r
    assert "nsfs" not in r.out and "pod-b" not in r.out
    own_shm = "/state/" + os.path.relpath(pod.shm, pods.state)
    want = ({"/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/state",
             own_shm} | set(rootfs.ETC_FILES) | set(_present(rootfs.MASKED_PATHS))
            | set(_present(rootfs.READONLY_PATHS)))
    points = mountinfo_points(r.out)
    assert sorted(points) == sorted(want)


def test_exec_enters_the_containers_mount_namespace_and_root(busybox, pods):
    """setns(pidfd, CLONE_NEWNS | CLONE_NEWPID) on the container's process
    and a fork (what `launcher exec` does) puts the child in the
    container's root: the image's /, the pod's hostname file, the
    container's mount table."""
    p = start(pods.plan(pods(), busybox), "echo ready; exec sleep 30")
    try:
        assert select.select([p.stdout], [], [], 15)[0], "the container did not start"
        assert p.stdout.readline() == "ready\n"
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            pid = int(f.read().split()[0])
        code = ("import os, sys; from launcher.runtime import syscalls; "
                f"fd = os.pidfd_open({pid}); "
                "syscalls.setns(fd, syscalls.CLONE_NEWNS | syscalls.CLONE_NEWPID)\n"
                "if os.fork() == 0:\n"
                "    print(sorted(os.listdir('/'))); print(open('/etc/hostname').read(), end='')\n"
                "    print(len(open('/proc/self/mountinfo').read().splitlines()), flush=True)\n"
                "    os._exit(0)\n"
                "os.wait()")
        r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        listing, hostname, n = r.stdout.splitlines()
        assert eval(listing) == sorted(BUSYBOX_TOP) and hostname == "pod-a"
        with open(f"/proc/{pid}/mountinfo") as f:
            assert int(n) == len(f.read().splitlines())
    finally:
        p.kill()
        p.wait(timeout=10)
        p.stdout.close()
        p.stderr.close()


@pytest.mark.parametrize("propagation", [rootfs.RPRIVATE, rootfs.RSLAVE])
def test_nothing_propagates_to_the_host(busybox, pods, tmp_path, propagation):
    """Whether / is made rprivate or rslave, a mount the container's set-up
    or the container itself makes never appears in the host's table (the
    merged dir included)."""
    plan = pods.plan(pods(), busybox, propagation=propagation)
    before = host_mounts(tmp_path / "storage")
    r = run(plan, "mkdir -p /mnt && mount -t tmpfs x /mnt && echo ok")
    assert (r.code, r.out) == (0, "ok\n"), r
    assert host_mounts(tmp_path / "storage") == before
