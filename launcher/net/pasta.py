"""`--network pasta`: a rootless pod's network through pasta (Debian's passt
package), as podman 5 does by default.

Why pasta and not slirp4netns: pasta publishes ports itself (`-t`, `-u`:
host sockets spliced to the pod's), where slirp4netns needs a second
process speaking its API socket for every port (podman's rootlessport);
pasta copies the host's addresses and routes into the pod, so the pod
needs no NAT subnet of its own, and it is faster (no user-mode TCP/IP
stack on the loopback splice path).

pasta runs as a child of the supervisor, in the user's user namespace
(launcher/runtime/userns.py), so it may enter the pod's network namespace
through its pin, opens /dev/net/tun there for the pod's tap interface,
configures it (--config-net), binds the published ports on the host and
then goes to the background (its pid in PIDFILE). It quits by itself when
the pin disappears; stop() ends it first. Every failure is one line.
"""
import os
import subprocess

from launcher.errors import LauncherError

NAME = "pasta"
START_TIMEOUT = 20.0
TUN = "/dev/net/tun"


def check(ports):
    """The checks before a pasta pod is made: pasta is installed, the ports
    parse. Returns the parsed mappings."""
    from launcher.net.conf import parse_ports
    if not _binary():
        raise LauncherError("--network pasta: pasta not found (Debian package passt)")
    return parse_ports(ports)


def _binary():
    import shutil
    return shutil.which("pasta")


def argv(netns_path, ports, pidfile):
    """pasta's command line: configure the pod's interface, publish `ports`
    (parsed mappings) on every host address and nothing else."""
    tcp = [f"{p['hostPort']}:{p['containerPort']}" for p in ports if p["protocol"] == "tcp"]
    udp = [f"{p['hostPort']}:{p['containerPort']}" for p in ports if p["protocol"] == "udp"]
    out = [_binary() or "pasta", "--config-net", "--quiet", "--pid", pidfile,
           "--netns", netns_path, "-T", "none", "-U", "none"]
    out += ["-t", ",".join(tcp) if tcp else "none", "-u", ",".join(udp) if udp else "none"]
    return out


def problem(output):
    """pasta's last line, with the usual cause named."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    last = lines[-1] if lines else "failed"
    if TUN in output and "ermission denied" in output:
        return (f"pasta cannot open {TUN}: Permission denied. It is mode 0600 on this machine "
                f"(distributions ship 0666): as root, `chmod 0666 {TUN}` "
                "(scripts/setup-system.sh does)")
    if "ddress already in use" in output:
        return f"pasta: a published port is in use on the host ({last})"
    return f"pasta: {last}"


def start(netns_path, ports, run_dir):
    """Starts pasta for the network namespace pinned at netns_path; returns
    the network summary the pod record keeps ({"network", "ip", "ports",
    "pid", "start"}). run_dir: a directory of the pod's for the pidfile."""
    from launcher import proc
    pidfile = os.path.join(run_dir, "pasta.pid")
    try:
        r = subprocess.run(argv(netns_path, ports, pidfile), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=START_TIMEOUT,
                           close_fds=True, cwd="/")
    except subprocess.TimeoutExpired:
        raise LauncherError(f"pasta did not start within {START_TIMEOUT:.0f}s") from None
    except OSError as e:
        raise LauncherError(f"cannot run pasta: {e.strerror or e}") from None
    if r.returncode != 0:
        raise LauncherError(problem(r.stderr + r.stdout))
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        raise LauncherError("pasta started but wrote no pid file") from None
    finally:
        try:
            os.unlink(pidfile)
        except OSError:
            pass
    return {"network": NAME, "ip": _pod_ip(netns_path), "ports": ports, "pid": pid,
            "start": proc.starttime(pid)}


def _pod_ip(netns_path):
    """The pod's IPv4 address (pasta copies the host's) or None."""
    try:
        r = subprocess.run(["nsenter", f"--net={netns_path}", "ip", "-4", "-o", "addr", "show",
                            "scope", "global"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in r.stdout.splitlines():
        fields = line.split()
        if "inet" in fields:
            return fields[fields.index("inet") + 1].split("/")[0]
    return None


def stop(summary, timeout=5.0):
    """Ends the pasta recorded in summary, if it still runs; idempotent."""
    from launcher import proc
    from launcher.runtime import namespaces
    pid, start = (summary or {}).get("pid"), (summary or {}).get("start")
    fd = namespaces.open_pidfd(pid, start) if pid else None
    if fd is None or not proc.alive(pid, start):
        if fd is not None:
            os.close(fd)
        return
    try:
        import signal
        signal.pidfd_send_signal(fd, signal.SIGTERM)
        if not namespaces.wait_pidfd(fd, timeout):
            signal.pidfd_send_signal(fd, signal.SIGKILL)
            namespaces.wait_pidfd(fd, timeout)
    except ProcessLookupError:
        pass
    finally:
        os.close(fd)
