"""podman's human forms: sizes as go-units' HumanSizeWithPrecision(n, 3)
("4.86 MB", decimal units) and ages as HumanDuration + " ago"."""
import math

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def size(n):
    """Bytes as podman prints them: 18.3 kB, 4.86 MB."""
    n, i = float(n), 0
    while n >= 1000 and i < len(_UNITS) - 1:
        n /= 1000
        i += 1
    return f"{n:.3g} {_UNITS[i]}"


def duration(seconds):
    """go-units HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(math.floor(seconds / 3600 + 0.5))
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def ago(created, now):
    """ "2 days ago" for a unix time; podman's form for the CREATED column."""
    return duration(max(now - created, 0)) + " ago"


def table(rows):
    """Rows (first = header) laid out as podman's tabwriter does: each
    column max(12, width + 2) wide, the last one unpadded."""
    if not rows:
        return ""
    widths = [max(12, max(len(r[i]) for r in rows) + 2) for i in range(len(rows[0]) - 1)]
    return "\n".join("".join(c.ljust(w) for c, w in zip(r, widths)) + r[-1] for r in rows)
