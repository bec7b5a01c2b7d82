"""The built-in demo (`launcher run [--share-pid]` with no command): the
pod experiment of the domain brief, one explained step at a time.

A server container listens on 127.0.0.1, a client container fetches from it
(shared network namespace), a shell container prints `ps` and the listening
ports, and an orphan is created and shown reaped: by pause (PID 1 of the
shared PID namespace) with --share-pid, by the container's own PID 1
otherwise.
"""
import sys

from launcher.spec import ContainerSpec
from launcher.supervisor.pod import Pod

PORT = 8080
STEP_TIMEOUT = 20.0

CLIENT = f"""
import socket, time, urllib.request
deadline = time.monotonic() + 10
while True:
    try:
        with urllib.request.urlopen("http://127.0.0.1:{PORT}/", timeout=2) as r:
            body = r.read()
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
print(f"GET http://127.0.0.1:{PORT}/ -> HTTP {{r.status}}, {{len(body)}} bytes "
      f"(client's hostname: {{socket.gethostname()}})")
"""

def ports():
    """Prints the listening TCP sockets from /proc/net/tcp{,6} (no netstat
    needed); run inside the shell container as `python -m launcher.demo`."""
    import socket
    import struct
    for path, fam in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            f = ln.split()
            if f[3] != "0A":   # TCP_LISTEN
                continue
            addr, port = f[1].split(":")
            raw = bytes.fromhex(addr)   # 32-bit words in host (little-endian) order
            words = struct.unpack("<" + "I" * (len(raw) // 4), raw)
            raw = struct.pack(">" + "I" * len(words), *words)
            print(f"LISTEN tcp {socket.inet_ntop(fam, raw)}:{int(port, 16)}")

# The orphan's parent (a subshell) exits at once. The script waits (at most
# 10 s) until ps shows the orphan reparented to PID 1, then until it is gone
# and reaped, so a slow host changes nothing but the time it takes.
ORPHAN = ("(sleep 1 &); "
          "i=0; until ps -eo ppid=,args= | grep -qx ' *1 sleep 1' || [ $i -gt 200 ]; do i=$((i+1)); sleep 0.05; done; "
          "echo 'the orphan, parent gone:'; ps -eo pid,ppid,stat,args | grep -e '^ *PID' -e 'sleep 1$'; "
          "i=0; while ps -eo stat=,args= | grep -q -e '^Z' -e ' sleep 1$' && [ $i -lt 200 ]; do i=$((i+1)); sleep 0.05; done; "
          "echo 'after it exited (no zombie left):'; ps -eo pid,ppid,stat,args | cut -c1-72")


def _say(text):
    """One line explaining the next step of the demo."""
    sys.stdout.write(f"\n==> {text}\n")
    sys.stdout.flush()


def demo(spec, store):
    """Runs the demo pod in the foreground; 0 if every step worked."""
    py = sys.executable
    share = spec.share_pid
    pidns = "and PID namespaces (pause is PID 1 there)" if share else \
        "namespaces (each container will get its own PID namespace)"
    _say(f"sandbox: pause starts in new network, IPC, UTS {pidns}; "
         f"hostname {spec.name!r}, loopback up")
    pod = Pod(spec, store).open()
    ok = True
    try:
        pod.create_sandbox()

        def step(text, c, wait=True):
            """Explains, starts container c, and (wait) lets it run to its end."""
            nonlocal ok
            _say(text)
            proc = pod.start_container(c)
            if wait:
                done = pod.wait(lambda: proc.code is not None or pod.stop_requested,
                                STEP_TIMEOUT)
                ok = ok and done and proc.code == 0
            return proc

        step(f"server: a container runs an HTTP server on 127.0.0.1:{PORT} "
             "in the pod's network namespace",
             ContainerSpec("server", [py, "-m", "http.server", "--bind", "127.0.0.1",
                                      str(PORT)]), wait=False)
        step("client: a second container fetches from 127.0.0.1 - same network "
             "namespace, so localhost is the server's", ContainerSpec("client", [py, "-c", CLIENT]))
        step("shell: a third container shows `ps` - " +
             ("/pause is PID 1 and every container's processes are visible"
              if share else "its own command is PID 1, the other containers are invisible") +
             " - and the pod's listening ports (from /proc/net/tcp)",
             ContainerSpec("shell", ["sh", "-c", f"ps -eo pid,ppid,stat,args; {py} -m launcher.demo"]))
        step("orphan: a container leaves a child behind; it is reparented to " +
             ("PID 1, /pause, which reaps it when it exits"
              if share else "its container's PID 1 (sh), which reaps it"),
             ContainerSpec("orphan", ["sh", "-c", ORPHAN]))
        _say("stop: TERM to the containers still running, then to pause; the "
             "namespaces vanish with their last process" + (
                 "" if share else f" (the server is PID 1 of its namespace with no TERM "
                 f"handler: the kernel drops TERM, so it is KILLed after {spec.grace:g}s)"))
        pod.stop()
    finally:
        pod.remove()
    _say("demo " + ("done" if ok else "FAILED: see the output above"))
    return 0 if ok else 1


if __name__ == "__main__":
    ports()
