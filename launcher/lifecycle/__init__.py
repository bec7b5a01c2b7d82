"""The pod lifecycle as the kubelet runs it, as pure logic: no processes, no
clock, no sleeping. Time is a number of seconds passed in by the caller.

The supervisor drives one PodLifecycle per pod in a loop:

    actions = pod.step(now)            # what to do now (CreateSandbox, ...)
    ... perform them, report back ...  # pod.sandbox_created(id, now), ...
    wake = pod.next_wakeup()           # when to call step() again at the latest

and reports what it observes: sandbox_created / sandbox_died /
sandbox_removed, container_started / container_exited, stop(). Each call
updates container states, restart counts, back-offs (containers' and the
sandbox's), kill deadlines, the pod phase (the kubelet's table, getPhase)
and the bounded event list.

The rule this package exists for (shared README §2, the Pod IP leak): a pod
that has completed (Succeeded, or Failed) never gets a new sandbox, and
every sandbox is removed exactly once; rules.needs_new_sandbox() is the one
place that decides. docs/play.md draws the state machine.
"""
from launcher.lifecycle.events import MAX_EVENTS, Event, EventLog  # noqa: F401
from launcher.lifecycle.pod import PodLifecycle  # noqa: F401
from launcher.lifecycle.rules import (COMPLETED_PHASES, FAILED, PENDING, RUNNING,  # noqa: F401
                                      STARTED, SUCCEEDED, TERMINATED, WAITING, BackOff,
                                      needs_new_sandbox, pod_phase, should_restart)
from launcher.lifecycle.values import (CREATE_SANDBOX, EVENT_TYPES, KILL_CONTAINER,  # noqa: F401
                                       OOM_KILLED, REMOVE_SANDBOX, START_CONTAINER, Action,
                                       ContainerStatus, Sandbox)
from launcher.spec import ALWAYS, NEVER, ON_FAILURE  # noqa: F401
from launcher.spec import RESTART_POLICIES as POLICIES  # noqa: F401
