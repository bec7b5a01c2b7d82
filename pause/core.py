"""The C core through cffi: fills a struct pause_config and enters the same
loop the static binary runs. Imports only the compiled pause._core."""
import os

from pause._core import ffi, lib


def pause_run(cfg):
    """Runs the C core with a pause.args.Config; returns the exit code."""
    c = ffi.new("struct pause_config *")
    c.ready_fd, c.events_fd, c.grace_ms, c.group = cfg.ready_fd, cfg.events_fd, cfg.grace_ms, int(cfg.group)
    c.pdeathsig, c.subreaper, c.warn_reaped = cfg.pdeathsig, int(cfg.subreaper), int(cfg.warn_reaped)
    for sig, to in cfg.rewrite.items():
        c.rewrite[sig] = to or -1
    for code in cfg.remap_exit:
        c.remap_exit[code] = 1
    alive = []  # cffi frees what nothing references: keep argv until the call returns
    if cfg.argv:
        alive = [ffi.new("char[]", os.fsencode(a)) for a in cfg.argv]
        alive.append(ffi.new("char *[]", alive + [ffi.NULL]))
        c.argv = alive[-1]
    return lib.pause_run(c)


def version():
    """The version the C core was built with."""
    return ffi.string(lib.pause_version()).decode()
