"""The pod supervisor: pod.py (one pod's resources), procs.py (its
processes and their start), events.py (reaping, ended containers, waits),
sandbox.py (pause, pins, the network), podfs.py with volumes.py and
etcfiles.py (a pod's files), onimage.py, driver.py (runs a pod by its
lifecycle), output.py and logs.py (container output, bounded logs),
detach.py (the forked supervisor of `run -d`), handoff.py (the C monitor
and back)."""
