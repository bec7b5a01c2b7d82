"""Resource quantities: Kubernetes' resource.Quantity for manifests, and
podman's forms for `launcher run --memory/--cpus/--pids-limit`.

Manifest quantities follow apimachinery's grammar exactly:

    <quantity>  ::= <sign>? <number> <suffix>
    <number>    ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <suffix>    ::= Ki | Mi | Gi | Ti | Pi | Ei          (powers of 1024)
                  | n | u | m | "" | k | M | G | T | P | E  (powers of 1000)
                  | e<signed integer> | E<signed integer>  (1e3, 129e6, 5E-1)

and are rounded as Quantity.Value() / MilliValue() round: up, so a
non-zero request never becomes zero (`0.5` bytes is 1 byte, `0.0001` cpu is
1m). Two differences, both stricter: a number needs at least one digit (Go
reads `.` and `+` as 0), and a value too large for an int64 (or, for cpu,
for the kernel's largest CFS quota) is an error where Go silently caps it.
Every failure is one LauncherError naming the field path the caller gives;
nothing else escapes, whatever the input (hypothesis checks this): the
number is never converted to a float, and its size is checked from its
digit count before any big integer is built.

Imports: os and our errors only (the run path).
"""
import os

from launcher.errors import LauncherError

BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9,
                    "T": 12, "P": 15, "E": 18}

MAX_BYTES = 2**63 - 1                    # int64, as the kernel's page counters
MAX_CPU_MILLIS = (2**44 - 1) // 100      # the kernel's largest quota (2^44-1 us) over 100 ms
MAX_PIDS = 4194304                       # PID_MAX_LIMIT: pids.max accepts no more
MIN_CLI_MEMORY = 6 << 20                 # podman's minimum for --memory ("6MB")
_MAX_TEXT = 1024                         # longer input is refused before any arithmetic
_DIGITS = "0123456789"


class _Bad(Exception):
    """Internal: why a text is not a quantity (turned into a LauncherError)."""


def _show(text):
    """The text as echoed in an error: repr'd, cut to 40 characters."""
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _number(text):
    """Splits '[+-]digits[.digits]rest' into (negative, int digits, fraction
    digits, rest); _Bad if there is no digit."""
    i, end = 0, len(text)
    negative = False
    if i < end and text[i] in "+-":
        negative = text[i] == "-"
        i += 1
    start = i
    while i < end and text[i] in _DIGITS:
        i += 1
    whole = text[start:i]
    frac = ""
    if i < end and text[i] == ".":
        i += 1
        fstart = i
        while i < end and text[i] in _DIGITS:
            i += 1
        frac = text[fstart:i]
    if not whole and not frac:
        raise _Bad("no digits")
    return negative, whole, frac, text[i:]


def _suffix(suffix):
    """(power of ten, power of two) a Kubernetes suffix stands for."""
    if suffix in BINARY_SUFFIXES:
        return 0, BINARY_SUFFIXES[suffix]
    if suffix in DECIMAL_SUFFIXES:
        return DECIMAL_SUFFIXES[suffix], 0
    if len(suffix) > 1 and suffix[0] in "eE":
        body = suffix[1:]
        sign = -1 if body[0] == "-" else 1
        if body[0] in "+-":
            body = body[1:]
        if not body or body.strip(_DIGITS):
            raise _Bad("bad exponent")
        body = body.lstrip("0") or "0"
        if len(body) > 6:             # |exponent| >= 10^6: far outside any range we accept
            return sign * 10**6, 0
        return sign * int(body), 0
    raise _Bad("unknown suffix")


def _ceil_scaled(whole, frac, exp10, exp2, scale10, limit):
    """ceil(whole.frac * 10^exp10 * 2^exp2 * 10^scale10) as an int, or _Bad
    ("too large") if above limit; computed exactly, sized first."""
    digits = (whole + frac).lstrip("0")
    if not digits:
        return 0
    e10 = exp10 + scale10 - len(frac)
    # value < 10^(len(digits) + e10) * 2^exp2; exp2 <= 60 adds < 19 digits.
    magnitude = len(digits) + e10 + (exp2 * 3 + 9) // 10
    if magnitude > 40:
        raise _Bad("too large")
    if len(digits) + e10 < -40:       # below 10^-40 (a 60-bit shift cannot lift it to 1)
        return 1
    num = int(digits) << exp2
    if e10 >= 0:
        value = num * 10**e10
    else:
        value = -(-num // 10**-e10)
    if value > limit:
        raise _Bad("too large")
    return value


def _parse_k8s(text, field, scale10, limit, unit):
    if not isinstance(text, str):
        raise LauncherError(f"{field}: {text!r} is not a quantity (a string such as '64Mi' or '500m')")
    if len(text) > _MAX_TEXT:
        raise LauncherError(f"{field}: {_show(text)} is not a quantity (longer than {_MAX_TEXT} characters)")
    try:
        negative, whole, frac, rest = _number(text)
        exp10, exp2 = _suffix(rest)
        value = _ceil_scaled(whole, frac, exp10, exp2, scale10, limit)
    except _Bad as e:
        if str(e) == "too large":
            raise LauncherError(f"{field}: {_show(text)} is too large (at most {limit} {unit})") from None
        raise LauncherError(f"{field}: {_show(text)} is not a quantity") from None
    if negative and value:
        raise LauncherError(f"{field}: {_show(text)} must not be negative")
    return value


def parse_memory(text, field):
    """Bytes in a Kubernetes memory quantity ('64Mi', '128M', '1e9', '1.5Gi'),
    rounded up; LauncherError naming `field` otherwise."""
    return _parse_k8s(text, field, 0, MAX_BYTES, "bytes")


def parse_cpu(text, field):
    """Millicores in a Kubernetes cpu quantity ('500m', '0.5', '2', '1.5'),
    rounded up; LauncherError naming `field` otherwise."""
    return _parse_k8s(text, field, 3, MAX_CPU_MILLIS, "millicores")


def format_memory(nbytes):
    """The shortest exact Kubernetes spelling of a byte count ('64Mi', '1G')."""
    for suffix, power in sorted(BINARY_SUFFIXES.items(), key=lambda kv: -kv[1]):
        if nbytes and nbytes % (1 << power) == 0:
            return f"{nbytes >> power}{suffix}"
    for suffix, power in (("E", 18), ("P", 15), ("T", 12), ("G", 9), ("M", 6), ("k", 3)):
        if nbytes and nbytes % 10**power == 0:
            return f"{nbytes // 10**power}{suffix}"
    return str(nbytes)


def format_cpu(millis):
    """Kubernetes' spelling of millicores: '2' for whole cores, else '500m'."""
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


# --- podman's command-line forms -------------------------------------------

_CLI_UNITS = {"": 0, "b": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50}


def parse_cli_memory(text, flag="--memory"):
    """Bytes in podman's --memory form: a number, an optional space and an
    optional unit b, k, m, g, t or p (any case, binary multiples: 64m = 64M
    = 64MB = 64Mi = 64MiB = 64 MiB), at least podman's minimum of 6 MiB."""
    t = text.strip().lower() if isinstance(text, str) else ""
    i = 0
    while i < len(t) and t[i] in "0123456789.":
        i += 1
    number, unit = t[:i], t[i:]
    if unit.startswith(" "):
        unit = unit[1:]
    letter = unit[:1] if unit[:1] in "kmgtp" else ""
    value = None
    if len(t) <= 64 and unit[len(letter):] in (("", "b", "i", "ib") if letter else ("", "b")):
        value = _cli_decimal(number, _CLI_UNITS[letter])
    if value is None:
        raise LauncherError(f"{flag}: {_show(str(text))} is not a size (a number and a unit b, k, m or g, e.g. 64m)")
    if value > MAX_BYTES:
        raise LauncherError(f"{flag}: {_show(text)} is too large (at most {MAX_BYTES} bytes)")
    if value < MIN_CLI_MEMORY:
        raise LauncherError(f"{flag}: {_show(text)} is below the minimum memory limit of 6m (as podman)")
    return value


def _cli_decimal(number, shift):
    """floor(number * 2^shift) for a plain decimal 'digits[.digits]', else None."""
    whole, dot, frac = number.partition(".")
    if not whole or whole.strip(_DIGITS) or frac.strip(_DIGITS) or (dot and not frac):
        return None
    return (int(whole + frac) << shift) // 10**len(frac)


def parse_cli_cpus(text, flag="--cpus"):
    """Millicores in podman's --cpus form: a decimal number of CPUs from 0.01
    to the number of CPUs this process may run on ('0.5' is 500m), rounded up."""
    ncpu = len(os.sched_getaffinity(0)) or 1
    t = text.strip() if isinstance(text, str) else ""
    whole, dot, frac = t.partition(".")
    if (not whole and not frac) or whole.strip(_DIGITS) or frac.strip(_DIGITS) or len(t) > 64:
        raise LauncherError(f"{flag}: {_show(str(text))} is not a number of CPUs (e.g. 0.5 or 2)")
    millis = -(-int((whole or "0") + frac) * 1000 // 10**len(frac))
    if not 10 <= millis <= ncpu * 1000:
        raise LauncherError(f"{flag}: {_show(text)} is out of range: 0.01 to {ncpu} (the CPUs available here)")
    return millis


def parse_cli_pids(text, flag="--pids-limit"):
    """A pod's pids limit: a positive integer up to the kernel's PID_MAX_LIMIT,
    or -1 / 'max' for none (None)."""
    t = text.strip() if isinstance(text, str) else ""
    if t in ("-1", "max"):
        return None
    if not t or t.strip(_DIGITS) or len(t) > 20:
        raise LauncherError(f"{flag}: {_show(str(text))} is not a number of processes (or -1 for no limit)")
    n = int(t)
    if not 1 <= n <= MAX_PIDS:
        raise LauncherError(f"{flag}: {t} is out of range: 1 to {MAX_PIDS}, or -1 for no limit")
    return n
