"""cffi build script (out-of-line API mode) for pause._core, the C core as a
Python extension. setup.py names it in cffi_modules; at run time only the
compiled pause._core is imported, never cffi's builder. The declarations are
read from csrc/pause.h, between its cdef markers, so they exist once."""
import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(os.path.dirname(HERE), "csrc")
VERSION = {}
with open(os.path.join(HERE, "_version.py")) as f:
    exec(f.read(), VERSION)

with open(os.path.join(CSRC, "pause.h")) as f:
    CDEF = re.search(r"/\* cdef-begin \*/(.*)/\* cdef-end \*/", f.read(), re.S).group(1)

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "pause._core",
    '#include "pause.h"',
    sources=[os.path.relpath(os.path.join(CSRC, "pause_core.c"))],
    include_dirs=[os.path.relpath(CSRC)],
    define_macros=[("PAUSE_VERSION", '"%s"' % VERSION["__version__"])],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
