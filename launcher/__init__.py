"""launcher: pods built from Linux namespaces around a pause process.

`launcher run` creates a sandbox (pause as PID 1 of new net, IPC, UTS and PID
namespaces) and starts containers that join it; see docs/launcher.md.
Nothing heavy is imported here: the CLI's start-up path must stay light.
"""
