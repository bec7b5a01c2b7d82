"""pause: a tiny PID 1 that holds a pod's namespaces and reaps its zombies.

Three implementations of one behaviour: the static C binary (`binary_path()`),
the same C core as a cffi extension (`pause.core`), and the Python reference
(`pause.reference`). `python -m pause --impl c|cffi|python` runs any of them.
"""
import os

from pause._version import __version__

IMPLEMENTATIONS = ("c", "cffi", "python")


def binary_path():
    """The static pause binary built into the package (pause/bin/pause)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "pause")


__all__ = ["__version__", "IMPLEMENTATIONS", "binary_path"]
