"""The pod supervisor: pod.py (one pod's resources), driver.py (runs a pod
by its lifecycle), output.py and logs.py (container output, bounded logs),
detach.py (the forked supervisor of `run -d`), handoff.py (the C monitor
and back)."""
