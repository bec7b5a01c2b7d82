"""The runtime: how a pod's processes are made. spawn.py is the one fork/exec
path (pause, containers and `exec` alike) with its ordered child steps in
steps.py; syscalls.py wraps every namespace, mount and prctl call;
namespaces.py, mounts.py and security.py are what those steps use."""
