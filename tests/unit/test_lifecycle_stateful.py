"""launcher.lifecycle under random histories (hypothesis.stateful): random
container exits, pause deaths, stops, slow or failed starts and the passing
of time, against a fake launcher that performs step()'s actions in any
order. After every step the invariants of docs/play.md must hold."""
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from launcher.lifecycle import (CREATE_SANDBOX, KILL_CONTAINER, REMOVE_SANDBOX,
                                START_CONTAINER, BackOff, PodLifecycle, pod_phase)

BASE, CAP, RESET, GRACE = 1.0, 8.0, 20.0, 2.0


class PodMachine(RuleBasedStateMachine):
    """One pod, driven like the launcher drives it; `queue` holds actions
    handed out by step() and not performed yet."""

    @initialize(policy=st.sampled_from(["Always", "OnFailure", "Never"]),
                n_init=st.integers(0, 2), n_ctr=st.integers(1, 3))
    def make(self, policy, n_init, n_ctr):
        self.pod = PodLifecycle([f"c{i}" for i in range(n_ctr)],
                                [f"i{i}" for i in range(n_init)], policy,
                                BackOff(BASE, CAP, RESET), grace=GRACE)
        self.now = 0.0
        self.queue = []
        self.runs = {}          # id(queued KillContainer) -> the container's starts then
        self.created_when_completed = None
        self.removed_ids = []
        self.restarts = {}
        self.delays = {}
        self.completed_phase = None

    def every(self):
        return self.pod.init_containers + self.pod.containers

    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 3.0, 10.0, 25.0]))
    def advance(self, dt):
        self.now += dt

    @rule()
    def step(self):
        """step(): never a sandbox for a completed pod or while one exists;
        containers start only in a ready sandbox."""
        for a in self.pod.step(self.now):
            if a.kind == CREATE_SANDBOX:
                assert not self.pod.completed and not self.pod.stopping
                assert self.pod.sandboxes_created == len(self.removed_ids)
            if a.kind == START_CONTAINER:
                assert self.pod.sandbox.state == "ready" and not self.pod.completed
            if a.kind == KILL_CONTAINER:
                self.runs[id(a)] = self.pod.container(a.container).starts   # the run it is for
            self.queue.append(a)

    @precondition(lambda self: self.queue)
    @rule(data=st.data())
    def perform(self, data):
        """The fake launcher does one queued action; a start may fail (127)."""
        a = self.queue.pop(data.draw(st.integers(0, len(self.queue) - 1)))
        if a.kind == CREATE_SANDBOX:
            self.pod.sandbox_created(f"sb{self.pod.sandboxes_created + 1}", self.now)
        elif a.kind == START_CONTAINER:
            if data.draw(st.booleans()):
                self.pod.container_started(a.container, self.now)
            else:   # a start that fails counts as a run of 0 s: it backs off too
                self.pod.container_exited(a.container, 127, self.now)
                c = self.pod.container(a.container)
                if c.reason == "CrashLoopBackOff":
                    self.check_delay(c, c.next_start_at - self.now)
        elif a.kind == KILL_CONTAINER:
            # TERM, then KILL once the grace period is over: either may find
            # the container gone already (the launcher signals only its
            # unreaped child)
            if self.pod.container(a.container).state == "running":
                self.pod.container_exited(a.container, 137 if a.force else 143, self.now)
        elif a.kind == REMOVE_SANDBOX:
            assert a.sandbox not in self.removed_ids, "a sandbox removed twice"
            self.removed_ids.append(a.sandbox)
            self.pod.sandbox_removed(self.now)

    @rule(data=st.data(), code=st.sampled_from([0, 0, 1, 2, 137, 143]))
    def container_exits(self, data, code):
        """A running container ends on its own."""
        running = [c for c in self.every() if c.state == "running" and not c.killing]
        if running:
            c = data.draw(st.sampled_from(running))
            self.pod.container_exited(c.name, code, self.now)
            if c.reason == "CrashLoopBackOff":
                self.check_delay(c, c.next_start_at - self.now)

    @invariant()
    def a_kill_follows_the_term_only_after_the_grace_period(self):
        if not hasattr(self, "pod"):
            return
        for a in self.queue:
            if a.kind == KILL_CONTAINER and a.force:
                c = self.pod.container(a.container)
                if c.state != "running" or c.starts != self.runs[id(a)]:
                    continue   # that run already ended (its TERM did it): a no-op
                assert c.forced and c.kill_at is not None and self.now >= c.kill_at

    @invariant()
    def the_state_survives_a_hand_over(self):
        """to_state/from_state (a detached supervisor's JSON hand-over) keeps
        everything: the copy decides exactly as the original."""
        if not hasattr(self, "pod"):
            return
        import json
        copy = PodLifecycle.from_state(json.loads(json.dumps(self.pod.to_state())))
        assert copy.to_state() == self.pod.to_state()
        assert copy.next_wakeup() == self.pod.next_wakeup()

    @rule()
    def pause_dies(self):
        self.pod.sandbox_died(self.now)

    @rule()
    def stop(self):
        self.pod.stop(self.now)

    def check_delay(self, c, delay):
        """Back-off never exceeds the cap and grows until a long run resets it."""
        assert BASE <= delay <= CAP
        last = self.delays.get(c.name)
        ran_for = c.finished_at - c.started_at
        if last is not None and ran_for < RESET:
            assert delay == min(last * 2, CAP)
        elif last is not None:
            assert delay == BASE
        self.delays[c.name] = delay

    @invariant()
    def completed_pod_never_gets_a_sandbox_again(self):
        if not hasattr(self, "pod"):
            return
        pod = self.pod
        if pod.completed:   # a creation already under way may still finish, nothing more
            if self.created_when_completed is None:
                in_flight = pod.sandbox is not None and pod.sandbox.state == "creating"
                self.created_when_completed = pod.sandboxes_created + in_flight
            assert pod.sandboxes_created <= self.created_when_completed

    @invariant()
    def completed_phase_is_final_and_phase_follows_the_table(self):
        if not hasattr(self, "pod"):
            return
        pod = self.pod
        if self.completed_phase:
            assert pod.phase == self.completed_phase
        elif pod.completed:
            self.completed_phase = pod.phase
        else:
            terminal = pod.stopping and not any(c.state == "running" or c.starting
                                                for c in self.every())
            assert pod.phase == pod_phase(pod.policy, pod.init_containers,
                                          pod.containers, terminal)
        if pod.phase == "Succeeded":
            assert all(c.state == "terminated" and c.exit_code == 0 for c in pod.containers)

    @invariant()
    def restart_counts_only_go_up(self):
        if not hasattr(self, "pod"):
            return
        for c in self.every():
            assert c.restart_count >= self.restarts.get(c.name, 0)
            assert c.restart_count == max(c.starts - 1, 0)
            self.restarts[c.name] = c.restart_count

    @invariant()
    def sandboxes_are_removed_at_most_once_and_init_runs_alone(self):
        if not hasattr(self, "pod"):
            return
        pod = self.pod
        assert pod.sandboxes_removed == len(self.removed_ids) <= pod.sandboxes_created
        running_inits = [c for c in pod.init_containers if c.state == "running" or c.starting]
        assert len(running_inits) <= 1

    def teardown(self):
        """Whatever happened, stop() then performing every action ends the
        pod with every sandbox removed: created == removed."""
        if not hasattr(self, "pod"):
            return
        self.pod.stop(self.now)
        for _ in range(50):
            while self.queue:
                a = self.queue.pop(0)
                if a.kind == START_CONTAINER:
                    self.pod.container_started(a.container, self.now)
                elif a.kind == KILL_CONTAINER:
                    if self.pod.container(a.container).state == "running":
                        self.pod.container_exited(a.container, 137, self.now)
                elif a.kind == CREATE_SANDBOX:
                    self.pod.sandbox_created("late", self.now)
                elif a.kind == REMOVE_SANDBOX:
                    self.pod.sandbox_removed(self.now)
            self.queue = self.pod.step(self.now)
            if not self.queue:
                break
        assert self.pod.finished
        assert self.pod.sandboxes_created == self.pod.sandboxes_removed


PodMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40,
                                        deadline=None)
TestPodLifecycle = PodMachine.TestCase
TestPodLifecycle.__doc__ = ("Random histories keep every lifecycle invariant: no sandbox "
                            "for a completed pod, capped monotonic back-off, kubelet "
                            "phases, restart counts that only go up.")
