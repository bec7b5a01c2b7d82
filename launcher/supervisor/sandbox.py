"""A pod's sandbox: pause as PID 1 of new PID, network, IPC and UTS
namespaces (hostname set, loopback up), its net, IPC and UTS namespaces
pinned by bind mounts in the pod directory, and its CNI attachment (or,
rootless, its pasta: --network pasta); and its removal. The steps of the Pod (launcher/supervisor/pod.py) that the
lifecycle's CreateSandbox and RemoveSandbox ask for."""
import os
import select

try:   # signal without its enum wrappers: importing enum costs ~4 ms of start-up
    import _signal as signal
except ImportError:   # not CPython
    import signal

from launcher.errors import LauncherError
from launcher.runtime import namespaces, plans
from launcher.store import layout
from launcher.supervisor import onimage

READY_TIMEOUT = 10.0
NET_PASTA = "pasta"     # launcher/net/pasta.py's NAME (not imported: a CNI pod never loads it)


def create(pod):
    """Starts pause and waits until it is ready and, for a pod with a
    network, pins its netns and attaches the network there (CNI ADD, or
    pasta). Returns the sandbox
    id. On failure whatever was made is undone and LauncherError raised."""
    from launcher.supervisor.pod import Proc
    pod.sandboxes += 1
    sid = f"{pod.record['id']}-{pod.sandboxes}"
    pid = start_pause(pod)
    pod.pause = Proc("pause", pid)
    attachment = network = None
    try:
        pod.pause_pidfd = os.pidfd_open(pid)
        pins = namespaces.pin(pid, pod.mounts(), pod.dir.id) if pod.spec.network else {}
        if pod.spec.network == NET_PASTA:
            from launcher.net import pasta
            network = pasta.start(pins["net"], pasta.check(pod.spec.ports), pod.dir.path)
        elif pod.spec.network:
            from launcher.net import cni
            attachment = cni.add(cni.load(pod.spec.network), sid, pins["net"], "eth0",
                                 pod.spec.ports, state_dir=pod.cni_dir(),
                                 pod_id=pod.record["id"], owner_pid=os.getpid())
        if attachment is not None:
            network = attachment.summary()
        onimage.prepare_pod(pod, network["ip"] if network else None)
    except BaseException:
        if network and network.get("network") == NET_PASTA:
            from launcher.net import pasta
            pasta.stop(network)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pod.pause.code, pod.pause.reported = 128 + signal.SIGKILL, True
        if attachment is not None:
            from launcher.net import cni
            try:
                cni.delete(pod.cni_dir(), sid)
            except LauncherError as e:
                pod.warn(f"{e} (left for `launcher gc`)")
        namespaces.unpin(pod.mounts(), pod.dir.id)
        pod.close_pause_pidfd()
        raise
    pod.sandbox_id = sid
    pod.record.update(sandbox={"id": sid, "pins": pins}, namespaces=namespaces.inodes(pid),
                      network=network)
    pod.record["pause"].update(pid=pid, start=pod.pause.start, exit=None)
    return sid


def start_pause(pod):
    """pause through the one spawn path (plans.pause_plan); returns its pid
    once it is ready: its --ready-fd line, or (a foreign init) a
    successful exec."""
    argv, rd, wr = list(pod.pause_argv), None, None
    if pod.pause_ready:
        rd, wr = os.pipe()
        argv += ["--ready-fd", str(wr)]
    log = pod.dir.open_append(layout.SANDBOX_LOG)
    plan = plans.pause_plan(argv, pod.hostname(), log, (wr,) if wr is not None else (),
                            pod.cgroups().placement(None))
    try:
        pid, failed = pod.spawner.spawn(plan)
    finally:
        os.close(log)
        if wr is not None:
            os.close(wr)
    if failed:
        if rd is not None:
            os.close(rd)
        os.waitpid(pid, 0)
        raise LauncherError(f"cannot start pause {argv[0]!r}: {failed[1]}")
    if rd is not None:
        try:
            ok = select.select([rd], [], [], READY_TIMEOUT)[0] and os.read(rd, 64)
        finally:
            os.close(rd)
        if ok != b"ready\n":
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise LauncherError(f"pause {argv[0]!r} did not report ready "
                                f"within {READY_TIMEOUT:.0f}s")
    return pid


def remove(pod):
    """Stops pause (TERM, the grace period, KILL), detaches the network
    (CNI DEL while the pinned netns still exists) and unpins. A DEL that
    fails is reported and left pending for `launcher gc`; returns its
    error or None."""
    if pod.pause and pod.pause.code is None:
        pod.signal(pod.pause, signal.SIGTERM)
        if not pod.wait(lambda: pod.pause.code is not None, max(pod.spec.grace, 0.1)):
            pod.signal(pod.pause, signal.SIGKILL)
            pod.wait(lambda: pod.pause.code is not None, 10)
    problem = None
    if pod.spec.network == NET_PASTA:
        from launcher.net import pasta
        pasta.stop(pod.record.get("network"))
    elif pod.sandbox_id and pod.spec.network:
        from launcher.net import cni
        try:
            cni.delete(pod.cni_dir(), pod.sandbox_id)
        except LauncherError as e:
            problem = str(e)
            pod.warn(f"{e} (left for `launcher gc`)")
    namespaces.unpin(pod.mounts(), pod.dir.id)
    pod.close_pause_pidfd()
    pod.sandbox_id = None
    pod.record.update(sandbox=None, network=None)
    return problem
