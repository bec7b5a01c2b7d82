"""The tar header reader sees every archive Python's tarfile writes
(ustar, GNU and pax formats: long names, big ids, xattrs, links, devices)
exactly as tarfile reads it back: names, types, numbers, data offsets."""
import io
import os
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from launcher.images import tarscan

FORMATS = {"ustar": tarfile.USTAR_FORMAT, "gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT}
COMPONENT = st.text(alphabet=st.characters(blacklist_characters="/\0",
                                           blacklist_categories=("Cs",)), min_size=1, max_size=60)


@st.composite
def members(draw, fmt):
    kind = draw(st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE,
                                 tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE]))
    name = "/".join(draw(st.lists(COMPONENT, min_size=1, max_size=4)))
    if fmt == "ustar":   # ustar: ASCII, and the name must fit name + prefix
        name = name.encode("ascii", "replace").decode()[:99]
    ti = tarfile.TarInfo(name)
    ti.type = kind
    big = fmt != "ustar"
    ti.uid = draw(st.integers(0, 2 ** 31 if big else 0o7777777))
    ti.gid = draw(st.integers(0, 2 ** 31 if big else 0o7777777))
    ti.mode = draw(st.integers(0, 0o7777))
    ti.mtime = draw(st.integers(0, 2 ** 33 if big else 0o77777777777))
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        ti.linkname = draw(COMPONENT) if fmt != "ustar" else "target"
    if kind == tarfile.CHRTYPE:
        ti.devmajor, ti.devminor = draw(st.integers(0, 4095)), draw(st.integers(0, 4095))
    data = draw(st.binary(max_size=1500)) if kind == tarfile.REGTYPE else b""
    ti.size = len(data)
    if fmt == "pax" and draw(st.booleans()):
        ti.pax_headers = {"SCHILY.xattr.user.k": "v" * draw(st.integers(1, 40))}
    return ti, data


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_reads_what_tarfile_reads(tmp_path, fmt, data):
    """For random archives in each format, every member's name, type, mode,
    owner, size, mtime, link name, device numbers and data offset are what
    tarfile reports (tarfile is the reference), and so are pax xattrs."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=FORMATS[fmt]) as t:
        for ti, payload in data.draw(st.lists(members(fmt), min_size=1, max_size=8)):
            try:
                t.addfile(ti, io.BytesIO(payload))
            except ValueError:      # a name or number this format cannot hold
                pass
    path = tmp_path / f"{fmt}.tar"
    path.write_bytes(buf.getvalue())
    with tarfile.open(path) as t:
        want = [(m.name, m.type, m.mode, m.uid, m.gid, m.size, int(m.mtime), m.linkname,
                 m.devmajor, m.devminor, m.offset_data,
                 sorted((k[13:], v.encode("utf-8", "surrogateescape"))
                        for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")))
                for m in t.getmembers()]
    fd = os.open(path, os.O_RDONLY)
    try:
        got = [(e.name, e.type, e.mode, e.uid, e.gid, e.size, int(e.mtime), e.linkname,
                e.devmajor, e.devminor, e.offset_data, sorted(e.xattrs))
               for e in tarscan.Reader(fd, os.fstat(fd).st_size)]
    finally:
        os.close(fd)
    assert got == want
