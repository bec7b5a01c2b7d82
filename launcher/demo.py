"""The built-in demo (`launcher run [--share-pid]` with no command): the
pod experiment of the domain brief, one explained step at a time, on a
busybox image.

The image is built here if it is missing (busybox from Debian's
busybox-static, FROM scratch, no network: launcher/images/testimages.py).
A server container serves its /etc on 127.0.0.1:8080, a client container
fetches the pod's hostname from it (shared network namespace), a shell
container prints `ps` and the listening ports, and an orphan is created and
shown reaped: by pause (PID 1 of the shared PID namespace) with
--share-pid, by the container's own PID 1 otherwise.
"""
import sys

from launcher.errors import LauncherError
from launcher.spec import ContainerSpec

IMAGE = "localhost/busybox:latest"
PORT = 8080
STEP_TIMEOUT = 20.0

# The client retries until the server listens (at most 10 s).
CLIENT = (f"i=0; until out=$(wget -qO- http://127.0.0.1:{PORT}/hostname 2>/dev/null); do "
          "i=$((i+1)); [ $i -gt 200 ] && exit 1; sleep 0.05; done; "
          f"echo \"GET http://127.0.0.1:{PORT}/hostname -> $out (the server's /etc/hostname; "
          "the client's hostname: $(hostname))\"")
SHELL = "ps -o pid,ppid,stat,args; echo; netstat -ltn | grep LISTEN"
# The orphan's parent (a subshell) exits at once. The script waits (at most
# 10 s) until ps shows the orphan reparented to PID 1, then until it is gone
# and reaped, so a slow host changes nothing but the time it takes.
ORPHAN = ("(sleep 1 &); "
          "i=0; until ps -o ppid,args | grep -qx ' *1 sleep 1' || [ $i -gt 200 ]; do i=$((i+1)); sleep 0.05; done; "
          "echo 'the orphan, parent gone:'; ps -o pid,ppid,stat,args | grep -e '^ *PID' -e 'sleep 1$'; "
          "i=0; while ps -o stat,args | grep -q -e '^Z' -e ' sleep 1$' && [ $i -lt 200 ]; do i=$((i+1)); sleep 0.05; done; "
          "echo 'after it exited (no zombie left):'; ps -o pid,ppid,stat,args | cut -c1-72")


def _say(text):
    """One line explaining the next step of the demo."""
    sys.stdout.write(f"\n==> {text}\n")
    sys.stdout.flush()


def ensure_image():
    """The demo's busybox image, built and stored if it is missing."""
    from launcher.images.ensure import ImagePullError, ensure
    try:
        return ensure(IMAGE, "Never")
    except ImagePullError:
        pass
    from launcher.images import pull, testimages
    _say(f"image: {IMAGE} is not in the store; building it from Debian's busybox-static "
         "(FROM scratch, offline)")
    try:
        layout = testimages.busybox_image()
    except (OSError, LauncherError) as e:
        raise LauncherError(f"cannot build the demo's image: {e} (is busybox-static "
                            "installed? scripts/setup-system.sh installs it)") from None
    pull.pull(f"oci:{layout}:latest")
    return ensure(IMAGE, "Never")


def _container(name, script):
    return ContainerSpec(name, [], image=IMAGE, pull_policy="Never", command=["sh", "-c", script])


def demo(spec, store):
    """Runs the demo pod in the foreground; 0 if every step worked."""
    from launcher.supervisor.pod import Pod
    share = spec.share_pid
    ensure_image()
    server = ContainerSpec("server", [], image=IMAGE, pull_policy="Never",
                           command=["httpd", "-f", "-p", f"127.0.0.1:{PORT}", "-h", "/etc"])
    steps = [
        (f"server: a container (busybox httpd) serves its /etc on 127.0.0.1:{PORT} in the "
         "pod's network namespace", server, False),
        ("client: a second container fetches from 127.0.0.1 - same network namespace, so "
         "localhost is the server's; it gets the pod's hostname (the same /etc/hostname "
         "file is bound into every container)", _container("client", CLIENT), True),
        ("shell: a third container shows `ps` - " +
         ("/pause is PID 1 and every container's processes are visible"
          if share else "its own command is PID 1, the other containers are invisible") +
         " - and the pod's listening ports", _container("shell", SHELL), True),
        ("orphan: a container leaves a child behind; it is reparented to " +
         ("PID 1, /pause, which reaps it when it exits"
          if share else "its container's PID 1 (sh), which reaps it"),
         _container("orphan", ORPHAN), True),
    ]
    spec.containers = [c for _, c, _ in steps]
    pidns = "and PID namespaces (pause is PID 1 there)" if share else \
        "namespaces (each container will get its own PID namespace)"
    _say(f"sandbox: pause starts in new network, IPC, UTS {pidns}; "
         f"hostname {spec.name!r}, loopback up; each container runs on {IMAGE} "
         "in a root filesystem of its own")
    pod = Pod(spec, store).open()
    ok = True
    try:
        pod.create_sandbox()
        for text, c, wait in steps:
            _say(text)
            proc = pod.start_container(c)
            if wait:
                done = pod.wait(lambda: proc.code is not None or pod.stop_requested,
                                STEP_TIMEOUT)
                ok = ok and done and proc.code == 0
        _say("stop: TERM to the containers still running, then to pause; the "
             "namespaces vanish with their last process" + (
                 "" if share else f" (the server is PID 1 of its namespace with no TERM "
                 f"handler: the kernel drops TERM, so it is KILLed after {spec.grace:g}s)"))
        pod.stop()
    finally:
        pod.remove()
    _say("demo " + ("done" if ok else "FAILED: see the output above"))
    return 0 if ok else 1
