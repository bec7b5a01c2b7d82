"""A deliberately broken init for the plugin's own tests: it never calls wait.

Run as PID 1 of a namespace it leaves every orphan reparented to it as a
zombie (SIGCHLD keeps its default disposition, so the kernel does not reap
for it either). It just sleeps; the test kills it with SIGKILL from outside.
"""
import signal

while True:
    signal.pause()
