"""Quantities: Kubernetes' resource.Quantity forms in manifests, podman's
forms on the command line; every bad input is one LauncherError naming the
field, whatever the input."""
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from launcher.cgroups import quantity as q
from launcher.errors import LauncherError

FIELD = "spec.containers[0].resources.limits.memory"


@pytest.mark.parametrize("text, millis", [
    ("500m", 500), ("0.5", 500), ("2", 2000), ("1.5", 1500), ("100m", 100),
    ("1", 1000), ("0", 0), (".5", 500), ("5.", 5000), ("+2", 2000), ("-0", 0),
    ("0.0001", 1), ("1e3", 1000000), ("5E-1", 500), ("250000u", 250), ("1n", 1),
])
def test_cpu_quantities(text, millis):
    """cpu parses to millicores like MilliValue(): rounded up, never to zero."""
    assert q.parse_cpu(text, "x") == millis


@pytest.mark.parametrize("text, nbytes", [
    ("67108864", 67108864), ("64Mi", 64 << 20), ("1Ki", 1024), ("1Gi", 1 << 30),
    ("2Ti", 2 << 40), ("1Pi", 1 << 50), ("1Ei", 1 << 60), ("128k", 128000),
    ("128M", 128000000), ("1G", 10**9), ("1T", 10**12), ("1P", 10**15), ("1E", 10**18),
    ("1e3", 1000), ("129e6", 129000000), ("1.5Gi", 3 << 29), ("0.5", 1), ("100m", 1),
    ("1e0000001", 10), ("1e-999999999", 1), ("0", 0),
])
def test_memory_quantities(text, nbytes):
    """memory parses to bytes like Value(): binary and decimal suffixes,
    exponents, fractions rounded up."""
    assert q.parse_memory(text, "x") == nbytes


@pytest.mark.parametrize("text, why", [
    ("12Qi", "is not a quantity"), ("", "is not a quantity"), ("1K", "is not a quantity"),
    ("1 Mi", "is not a quantity"), ("1e", "is not a quantity"), ("1ki", "is not a quantity"),
    (".", "is not a quantity"), ("+", "is not a quantity"), ("Mi", "is not a quantity"),
    ("1.2.3", "is not a quantity"), ("0x10", "is not a quantity"), ("1e1.5", "is not a quantity"),
    ("-1", "must not be negative"), ("-64Mi", "must not be negative"),
    ("9" * 400, "is too large"), ("1e999999999", "is too large"), ("8Ei", "is too large"),
    ("9223372036854775808", "is too large"),
])
def test_bad_memory_quantities_are_one_error_naming_the_field(text, why):
    """A bad memory quantity is one LauncherError: '<field>: '<text>' <why>'."""
    with pytest.raises(LauncherError) as e:
        q.parse_memory(text, FIELD)
    assert str(e.value).startswith(FIELD + ": ")
    assert why in str(e.value)
    assert "\n" not in str(e.value) and len(str(e.value)) < 200


def test_the_brief_example_message():
    """The message the issue shows, word for word."""
    with pytest.raises(LauncherError, match=r"^spec\.containers\[0\]\.resources\.limits\.memory: "
                                            r"'12Qi' is not a quantity$"):
        q.parse_memory("12Qi", FIELD)


def test_cpu_beyond_the_kernels_largest_quota_is_too_large():
    """A cpu limit whose 100 ms quota the kernel cannot take is refused at parse time."""
    with pytest.raises(LauncherError, match="too large"):
        q.parse_cpu("1Gi", "x")
    assert q.parse_cpu(str(q.MAX_CPU_MILLIS) + "m", "x") == q.MAX_CPU_MILLIS


@given(st.text(max_size=60))
def test_random_text_raises_nothing_but_launcher_error(text):
    """No input makes the parsers raise anything but LauncherError."""
    for parse in (q.parse_memory, q.parse_cpu):
        try:
            v = parse(text, "f")
            assert isinstance(v, int) and v >= 0
        except LauncherError as e:
            assert str(e).startswith("f: ")
    for parse in (q.parse_cli_memory, q.parse_cli_cpus, q.parse_cli_pids):
        try:
            parse(text)
        except LauncherError:
            pass


@given(st.one_of(st.integers(), st.floats(), st.none(), st.booleans(), st.binary()))
def test_non_text_is_one_error(value):
    """A non-string is refused with one LauncherError too."""
    with pytest.raises(LauncherError):
        q.parse_memory(value, "f")


_EXACT = {**{k: Fraction(2) ** v for k, v in q.BINARY_SUFFIXES.items()},
          **{k: Fraction(10) ** v for k, v in q.DECIMAL_SUFFIXES.items()}}


@given(st.integers(0, 10**12), st.text("0123456789", max_size=6),
       st.sampled_from(sorted(_EXACT)), st.one_of(st.none(), st.integers(-12, 12)))
def test_generated_quantities_parse_to_their_exact_value(whole, frac, suffix, exponent):
    """Any number with any suffix (or exponent) parses to ceil(its exact value)."""
    text = str(whole) + ("." + frac if frac else "")
    value = Fraction(text)
    if exponent is None:
        text += suffix
        value *= _EXACT[suffix]
    else:
        text += f"e{exponent}"
        value *= Fraction(10) ** exponent
    expected = -(-value.numerator // value.denominator)
    if expected > q.MAX_BYTES:
        with pytest.raises(LauncherError, match="too large"):
            q.parse_memory(text, "f")
    else:
        assert q.parse_memory(text, "f") == expected


@given(st.integers(0, q.MAX_BYTES))
def test_memory_format_round_trips(nbytes):
    """format_memory() spells any byte count so that it parses back."""
    assert q.parse_memory(q.format_memory(nbytes), "f") == nbytes


@given(st.integers(0, q.MAX_CPU_MILLIS))
def test_cpu_format_round_trips(millis):
    """format_cpu() spells any millicore count so that it parses back."""
    assert q.parse_cpu(q.format_cpu(millis), "f") == millis


def test_format_spellings():
    """The spellings are the shortest exact ones: binary first, then decimal."""
    assert [q.format_memory(n) for n in (64 << 20, 10**9, 3 << 29, 1000, 1536, 7, 0)] == \
        ["64Mi", "1G", "1536Mi", "1k", "1536", "7", "0"]
    assert [q.format_cpu(m) for m in (500, 2000, 1500, 0)] == ["500m", "2", "1500m", "0"]


@pytest.mark.parametrize("text, nbytes", [
    ("64M", 64 << 20), ("64m", 64 << 20), ("64MB", 64 << 20), ("64mb", 64 << 20),
    ("64Mi", 64 << 20), ("64MiB", 64 << 20), ("64 MiB", 64 << 20), ("1g", 1 << 30),
    ("1.5g", 3 << 29), ("8192k", 8 << 20), ("7340032", 7 << 20), ("7340032b", 7 << 20),
])
def test_cli_memory_uses_podmans_binary_units(text, nbytes):
    """--memory: b, k, m, g (any case, optional B/iB) are powers of 1024, as podman."""
    assert q.parse_cli_memory(text) == nbytes


@pytest.mark.parametrize("text, why", [
    ("5m", "below the minimum"), ("100", "below the minimum"), ("64x", "is not a size"),
    ("", "is not a size"), ("m", "is not a size"), ("1.2.3m", "is not a size"),
    ("-64m", "is not a size"), ("64i", "is not a size"), ("9" * 30 + "p", "too large"),
])
def test_bad_cli_memory(text, why):
    """Bad --memory values are one error naming the flag."""
    with pytest.raises(LauncherError, match=why) as e:
        q.parse_cli_memory(text)
    assert str(e.value).startswith("--memory: ")


def test_cli_cpus_and_pids():
    """--cpus is a decimal number of CPUs up to this machine's; --pids-limit
    is a positive count or -1/max for none."""
    import os
    ncpu = len(os.sched_getaffinity(0))
    assert q.parse_cli_cpus("0.5") == 500 and q.parse_cli_cpus(".25") == 250
    assert q.parse_cli_cpus(str(ncpu)) == ncpu * 1000
    for bad in ("0", "0.001", str(ncpu + 1), "x", "-1", "1e3", ""):
        with pytest.raises(LauncherError, match="^--cpus: "):
            q.parse_cli_cpus(bad)
    assert q.parse_cli_pids("200") == 200 and q.parse_cli_pids("-1") is None
    assert q.parse_cli_pids("max") is None
    for bad in ("0", "-2", "x", "4194305", "1.5", ""):
        with pytest.raises(LauncherError, match="^--pids-limit: "):
            q.parse_cli_pids(bad)
